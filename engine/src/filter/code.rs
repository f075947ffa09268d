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

    // Short names, so the tables below read like HBase's.
    const I: Code = Include;
    const INC: Code = IncludeAndNextCol;
    const INR: Code = IncludeAndSeekNextRow;
    const S: Code = Skip;
    const NC: Code = NextCol;
    const NR: Code = NextRow;
    const H: Code = SeekNextUsingHint;
    /// HBase's order of the tables' rows and columns.
    const ORDER: [Code; 7] = [I, INC, INR, S, NC, NR, H];

    /// `table[local][rc]`, rows and columns in ORDER; transcribed from the tables in HBase's
    /// FilterListWithAND and FilterListWithOR.
    fn check(table: [[Code; 7]; 7], merge: fn(Code, Code) -> Code, what: &str) {
        for (l, row) in table.iter().enumerate() {
            for (r, want) in row.iter().enumerate() {
                let (rc, local) = (ORDER[r], ORDER[l]);
                assert_eq!(merge(rc, local), *want, "{what}: rc {rc:?} local {local:?}");
            }
        }
    }

    #[test]
    fn and_merge_is_hbase_maximal_step_table() {
        let table = [
            [I, INC, INR, S, NC, NR, H],
            [INC, INC, INR, NC, NC, NR, H],
            [INR, INR, INR, NR, NR, NR, H],
            [S, NC, NR, S, NC, NR, H],
            [NC, NC, NR, NC, NC, NR, H],
            [NR, NR, NR, NR, NR, NR, H],
            [H, H, H, H, H, H, H],
        ];
        check(table, Code::and, "AND");
    }

    #[test]
    fn or_merge_is_hbase_minimal_step_table() {
        let table = [
            [I, I, I, I, I, I, I],
            [I, INC, INC, I, INC, INC, I],
            [I, INC, INR, I, INC, INR, I],
            [I, I, I, S, S, S, S],
            [I, INC, INC, S, NC, NC, S],
            [I, INC, INR, S, NC, NR, S],
            [I, I, I, S, S, S, H],
        ];
        check(table, Code::or, "OR");
    }
}
