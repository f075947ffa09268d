//! A filter's answer about one cell (HBase's `Filter.ReturnCode`) and how the two kinds of
//! filter list merge their members' answers, exactly as HBase's `FilterListWithAND` ("maximal
//! step") and `FilterListWithOR` ("minimal step") tables say.
//!
//! This file must never look at a cell: codes in, a code out.

/// What a filter says about one cell (HBase's `Filter.ReturnCode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    /// Keep it.
    Include,
    /// Keep it; skip the column's older versions.
    IncludeAndNextCol,
    /// Keep it; skip the rest of this family in this row.
    IncludeAndSeekNextRow,
    /// Drop it.
    Skip,
    /// Drop it and the column's older versions.
    NextCol,
    /// Drop it and the rest of this family in this row (HBase's store scanners each hold one
    /// family, so "next row" ends only the current family's part of the row).
    NextRow,
    /// Drop it and seek to the filter's next-cell hint.
    SeekNextUsingHint,
}

impl Code {
    pub(crate) fn includes(self) -> bool {
        matches!(
            self,
            Code::Include | Code::IncludeAndNextCol | Code::IncludeAndSeekNextRow
        )
    }

    /// How far the code skips: 0 this cell, 1 this column, 2 this family of the row.
    fn step(self) -> u8 {
        match self {
            Code::Include | Code::Skip | Code::SeekNextUsingHint => 0,
            Code::IncludeAndNextCol | Code::NextCol => 1,
            Code::IncludeAndSeekNextRow | Code::NextRow => 2,
        }
    }

    fn from_parts(include: bool, step: u8) -> Code {
        match (include, step) {
            (true, 0) => Code::Include,
            (true, 1) => Code::IncludeAndNextCol,
            (true, _) => Code::IncludeAndSeekNextRow,
            (false, 0) => Code::Skip,
            (false, 1) => Code::NextCol,
            (false, _) => Code::NextRow,
        }
    }

    /// MUST_PASS_ALL's merge (HBase's "maximal step rule"): included only if both include,
    /// the longer skip wins, a seek hint wins over everything.
    pub(crate) fn and(self, other: Code) -> Code {
        if self == Code::SeekNextUsingHint || other == Code::SeekNextUsingHint {
            return Code::SeekNextUsingHint;
        }
        Code::from_parts(
            self.includes() && other.includes(),
            self.step().max(other.step()),
        )
    }

    /// MUST_PASS_ONE's merge ("minimal step rule"): included if either includes, the shorter
    /// skip wins, and a seek hint stands only when both seek.
    pub(crate) fn or(self, other: Code) -> Code {
        if self == Code::SeekNextUsingHint && other == Code::SeekNextUsingHint {
            return Code::SeekNextUsingHint;
        }
        Code::from_parts(
            self.includes() || other.includes(),
            self.step().min(other.step()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Code::{self, *};

    const ORDER: [Code; 7] = [
        Include,
        IncludeAndNextCol,
        IncludeAndSeekNextRow,
        Skip,
        NextCol,
        NextRow,
        SeekNextUsingHint,
    ];

    /// `table[local][rc]`, rows and columns in ORDER; transcribed from the tables in HBase's
    /// FilterListWithAND and FilterListWithOR.
    fn check(table: [[Code; 7]; 7], merge: fn(Code, Code) -> Code, what: &str) {
        for (l, row) in table.iter().enumerate() {
            for (r, want) in row.iter().enumerate() {
                assert_eq!(
                    merge(ORDER[r], ORDER[l]),
                    *want,
                    "{what}: rc {:?} local {:?}",
                    ORDER[r],
                    ORDER[l]
                );
            }
        }
    }

    #[test]
    fn and_merge_is_hbase_maximal_step_table() {
        let (i, inc, inr, s, nc, nr, h) = (
            Include,
            IncludeAndNextCol,
            IncludeAndSeekNextRow,
            Skip,
            NextCol,
            NextRow,
            SeekNextUsingHint,
        );
        check(
            [
                [i, inc, inr, s, nc, nr, h],
                [inc, inc, inr, nc, nc, nr, h],
                [inr, inr, inr, nr, nr, nr, h],
                [s, nc, nr, s, nc, nr, h],
                [nc, nc, nr, nc, nc, nr, h],
                [nr, nr, nr, nr, nr, nr, h],
                [h, h, h, h, h, h, h],
            ],
            Code::and,
            "AND",
        );
    }

    #[test]
    fn or_merge_is_hbase_minimal_step_table() {
        let (i, inc, inr, s, nc, nr, h) = (
            Include,
            IncludeAndNextCol,
            IncludeAndSeekNextRow,
            Skip,
            NextCol,
            NextRow,
            SeekNextUsingHint,
        );
        check(
            [
                [i, i, i, i, i, i, i],
                [i, inc, inc, i, inc, inc, i],
                [i, inc, inr, i, inc, inr, i],
                [i, i, i, s, s, s, s],
                [i, inc, inc, s, nc, nc, s],
                [i, inc, inr, s, nc, nr, s],
                [i, i, i, s, s, s, h],
            ],
            Code::or,
            "OR",
        );
    }
}
