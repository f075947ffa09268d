//! What clients ask the engine to write: row mutations, applied atomically per row, and their
//! expansion into the cells of one row (validated against the table's families and the
//! limits). Keys, qualifiers and values are `Bytes`, so a caller holding a received buffer
//! hands its slices over without a copy.
//!
//! This module must never assign sequence numbers or touch the WAL: it only says what a
//! mutation means.

use std::sync::Arc;

use bytes::Bytes;

use crate::cell::{CellKind, MARKER_TS, Timestamp};
use crate::error::{Error, Result};
use crate::options::Limits;
use crate::table::FamilySchema;
use crate::write_batch::RowCells;

/// One change to a row.
///
/// Families are `Arc<str>`: a caller writing many cells of a few families (a loader, a
/// stream consumer) clones one shared name per cell instead of allocating a `String` for
/// each: under the system allocator, allocation was a third of a writer's CPU before this
/// (docs/design/write-path.md, "Shared family names and long-lived sync helpers").
/// `"name".into()` and `String::into()` build one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Write a value. `timestamp` 0 means "the server's clock".
    SetCell {
        /// Family.
        family: Arc<str>,
        /// Qualifier.
        qualifier: Bytes,
        /// Value.
        value: Bytes,
        /// Version timestamp in microseconds, 0 for now.
        timestamp: Timestamp,
    },
    /// Delete one version (`timestamp` != 0) or every version (`timestamp` 0) of a column.
    DeleteCells {
        /// Family.
        family: Arc<str>,
        /// Qualifier.
        qualifier: Bytes,
        /// The version to delete, or 0 for all.
        timestamp: Timestamp,
    },
    /// Delete every column of one family of the row.
    DeleteFamily {
        /// Family.
        family: Arc<str>,
    },
    /// Delete the whole row (every family).
    DeleteRow,
    /// Delete every version of a column whose timestamp is at or before `timestamp` (HBase
    /// `Delete.addColumns(family, qualifier, ts)`, Thrift `deleteAllTs` of a column).
    DeleteColumnUpTo {
        /// Family.
        family: Arc<str>,
        /// Qualifier.
        qualifier: Bytes,
        /// The newest timestamp covered (microseconds, inclusive).
        timestamp: Timestamp,
    },
    /// Delete every version of every column of a family whose timestamp is at or before
    /// `timestamp` (HBase `Delete.addFamily(family, ts)`).
    DeleteFamilyUpTo {
        /// Family.
        family: Arc<str>,
        /// The newest timestamp covered (microseconds, inclusive).
        timestamp: Timestamp,
    },
    /// Delete every version of every column of the row whose timestamp is at or before
    /// `timestamp` (HBase `new Delete(row, ts)`, Thrift `deleteAllRowTs`).
    DeleteRowUpTo {
        /// The newest timestamp covered (microseconds, inclusive).
        timestamp: Timestamp,
    },
}

/// All changes to one row; applied atomically.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RowMutation {
    /// Row key.
    pub row: Bytes,
    /// Changes, applied in order.
    pub mutations: Vec<Mutation>,
}

/// Counts returned by a write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Rows written.
    pub rows: u64,
    /// Cells (including delete markers) written.
    pub cells: u64,
}

impl RowMutation {
    /// Validate this mutation against `table`'s families (`schema`) and `limits`, and expand
    /// it into the cells of one row, in mutation order: a put whose timestamp is 0 takes
    /// `now`; a delete of every version of a column or family is one marker at `MARKER_TS`;
    /// a delete "up to T" is one marker at T; a row delete is one family marker per family
    /// of the table.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming the bad row key (with the row), qualifier, value,
    /// timestamp or mutation count; [`Error::FamilyNotFound`] for an unknown family.
    pub(crate) fn expand(
        self,
        table: &str,
        schema: &[FamilySchema],
        limits: &Limits,
        now: Timestamp,
    ) -> Result<RowCells> {
        limits.check_row_key(&self.row).map_err(|e| match e {
            Error::InvalidArgument(m) => Error::InvalidArgument(format!(
                "{m} (row {})",
                String::from_utf8_lossy(&self.row[..self.row.len().min(64)])
            )),
            other => other,
        })?;
        if self.mutations.len() > limits.max_mutations_per_row {
            return Err(Error::InvalidArgument(format!(
                "{} mutations in one row, over the limit of {}",
                self.mutations.len(),
                limits.max_mutations_per_row
            )));
        }
        let family = |name: &Arc<str>| -> Result<Arc<str>> {
            schema
                .iter()
                .find(|f| Arc::ptr_eq(&f.name, name) || *f.name == **name)
                .map(|f| f.name.clone())
                .ok_or_else(|| Error::FamilyNotFound {
                    table: table.to_string(),
                    family: name.to_string(),
                })
        };
        let check_qual = |q: &[u8]| -> Result<()> {
            if q.len() > limits.max_qualifier {
                return Err(Error::InvalidArgument(format!(
                    "qualifier is {} bytes, over the limit of {}",
                    q.len(),
                    limits.max_qualifier
                )));
            }
            Ok(())
        };
        let check_ts = |ts: Timestamp| -> Result<()> {
            if ts < 0 || ts == MARKER_TS {
                return Err(Error::InvalidArgument(format!(
                    "timestamp {ts} is outside 0..{MARKER_TS}"
                )));
            }
            Ok(())
        };
        let mut cells = Vec::with_capacity(self.mutations.len());
        for m in self.mutations {
            match m {
                Mutation::SetCell {
                    family: f,
                    qualifier,
                    value,
                    timestamp,
                } => {
                    let fam = family(&f)?;
                    check_qual(&qualifier)?;
                    check_ts(timestamp)?;
                    if value.len() > limits.max_value {
                        return Err(Error::InvalidArgument(format!(
                            "value of {f}:{} is {} bytes, over the limit of {}",
                            String::from_utf8_lossy(&qualifier),
                            value.len(),
                            limits.max_value
                        )));
                    }
                    let ts = if timestamp == 0 { now } else { timestamp };
                    cells.push((CellKind::Put, fam, qualifier, ts, value));
                }
                Mutation::DeleteCells {
                    family: f,
                    qualifier,
                    timestamp,
                } => {
                    let fam = family(&f)?;
                    check_qual(&qualifier)?;
                    check_ts(timestamp)?;
                    let (kind, ts) = if timestamp == 0 {
                        (CellKind::DeleteColumn, MARKER_TS)
                    } else {
                        (CellKind::DeleteCell, timestamp)
                    };
                    cells.push((kind, fam, qualifier, ts, Bytes::new()));
                }
                Mutation::DeleteFamily { family: f } => {
                    let fam = family(&f)?;
                    cells.push((
                        CellKind::DeleteFamily,
                        fam,
                        Bytes::new(),
                        MARKER_TS,
                        Bytes::new(),
                    ));
                }
                Mutation::DeleteRow => {
                    for f in schema {
                        cells.push((
                            CellKind::DeleteFamily,
                            f.name.clone(),
                            Bytes::new(),
                            MARKER_TS,
                            Bytes::new(),
                        ));
                    }
                }
                Mutation::DeleteColumnUpTo {
                    family: f,
                    qualifier,
                    timestamp,
                } => {
                    let fam = family(&f)?;
                    check_qual(&qualifier)?;
                    check_ts(timestamp)?;
                    cells.push((
                        CellKind::DeleteColumnUpTo,
                        fam,
                        qualifier,
                        timestamp,
                        Bytes::new(),
                    ));
                }
                Mutation::DeleteFamilyUpTo {
                    family: f,
                    timestamp,
                } => {
                    let fam = family(&f)?;
                    check_ts(timestamp)?;
                    cells.push((
                        CellKind::DeleteFamilyUpTo,
                        fam,
                        Bytes::new(),
                        timestamp,
                        Bytes::new(),
                    ));
                }
                Mutation::DeleteRowUpTo { timestamp } => {
                    check_ts(timestamp)?;
                    for f in schema {
                        cells.push((
                            CellKind::DeleteFamilyUpTo,
                            f.name.clone(),
                            Bytes::new(),
                            timestamp,
                            Bytes::new(),
                        ));
                    }
                }
            }
        }
        Ok(RowCells {
            row: self.row,
            cells,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::FamilyOptions;

    fn schema() -> Vec<FamilySchema> {
        ["a", "b"]
            .iter()
            .map(|n| FamilySchema {
                name: Arc::from(*n),
                options: FamilyOptions::new(*n),
                created_seq: 0,
            })
            .collect()
    }

    fn limits() -> Limits {
        Limits {
            max_row_key: 8,
            max_qualifier: 4,
            max_value: 6,
            max_mutations_per_row: 3,
            ..Limits::default()
        }
    }

    fn expand(mutations: Vec<Mutation>) -> Result<RowCells> {
        RowMutation {
            row: Bytes::from_static(b"row"),
            mutations,
        }
        .expand("t", &schema(), &limits(), 1_000)
    }

    fn set(family: &str, q: &'static [u8], v: &'static [u8], ts: Timestamp) -> Mutation {
        Mutation::SetCell {
            family: family.into(),
            qualifier: Bytes::from_static(q),
            value: Bytes::from_static(v),
            timestamp: ts,
        }
    }

    /// (kind, family, qualifier, ts) of each cell.
    fn shape(r: &RowCells) -> Vec<(CellKind, String, Vec<u8>, Timestamp)> {
        r.cells
            .iter()
            .map(|(k, f, q, ts, _)| (*k, f.to_string(), q.to_vec(), *ts))
            .collect()
    }

    #[test]
    fn each_mutation_kind_becomes_its_cells_in_order() {
        let r = expand(vec![
            set("a", b"x", b"v", 0),
            Mutation::DeleteCells {
                family: "a".into(),
                qualifier: Bytes::from_static(b"x"),
                timestamp: 7,
            },
            Mutation::DeleteCells {
                family: "b".into(),
                qualifier: Bytes::from_static(b"y"),
                timestamp: 0,
            },
        ])
        .unwrap();
        assert_eq!(&r.row[..], b"row");
        assert_eq!(
            shape(&r),
            vec![
                (CellKind::Put, "a".into(), b"x".to_vec(), 1_000),
                (CellKind::DeleteCell, "a".into(), b"x".to_vec(), 7),
                (CellKind::DeleteColumn, "b".into(), b"y".to_vec(), MARKER_TS),
            ]
        );
        assert_eq!(&r.cells[0].4[..], b"v");
        let r = expand(vec![
            Mutation::DeleteFamily { family: "b".into() },
            Mutation::DeleteRow,
            set("b", b"z", b"", 5),
        ])
        .unwrap();
        assert_eq!(
            shape(&r),
            vec![
                (CellKind::DeleteFamily, "b".into(), vec![], MARKER_TS),
                (CellKind::DeleteFamily, "a".into(), vec![], MARKER_TS),
                (CellKind::DeleteFamily, "b".into(), vec![], MARKER_TS),
                (CellKind::Put, "b".into(), b"z".to_vec(), 5),
            ]
        );
        // Cells name the schema's own family strings (one allocation per family).
        assert!(Arc::ptr_eq(&r.cells[0].1, &r.cells[2].1));
    }

    #[test]
    fn up_to_deletes_become_markers_at_their_timestamp() {
        let r = expand(vec![
            Mutation::DeleteColumnUpTo {
                family: "a".into(),
                qualifier: Bytes::from_static(b"x"),
                timestamp: 7,
            },
            Mutation::DeleteFamilyUpTo {
                family: "b".into(),
                timestamp: 8,
            },
            Mutation::DeleteRowUpTo { timestamp: 0 },
        ])
        .unwrap();
        assert_eq!(
            shape(&r),
            vec![
                (CellKind::DeleteColumnUpTo, "a".into(), b"x".to_vec(), 7),
                (CellKind::DeleteFamilyUpTo, "b".into(), vec![], 8),
                (CellKind::DeleteFamilyUpTo, "a".into(), vec![], 0),
                (CellKind::DeleteFamilyUpTo, "b".into(), vec![], 0),
            ]
        );
        let invalid = |m: Mutation| match expand(vec![m]) {
            Err(Error::InvalidArgument(msg)) => assert!(msg.contains("timestamp"), "{msg}"),
            other => panic!("expected InvalidArgument, got {other:?}"),
        };
        invalid(Mutation::DeleteRowUpTo { timestamp: -1 });
        invalid(Mutation::DeleteFamilyUpTo {
            family: "a".into(),
            timestamp: MARKER_TS,
        });
        assert!(matches!(
            expand(vec![Mutation::DeleteFamilyUpTo {
                family: "c".into(),
                timestamp: 1
            }]),
            Err(Error::FamilyNotFound { .. })
        ));
    }

    #[test]
    fn bad_input_is_an_error_naming_the_problem() {
        let invalid = |m: Vec<Mutation>, want: &str| match expand(m) {
            Err(Error::InvalidArgument(msg)) => assert!(msg.contains(want), "{msg}"),
            other => panic!("expected InvalidArgument({want}), got {other:?}"),
        };
        invalid(vec![set("a", b"12345", b"", 1)], "qualifier is 5 bytes");
        invalid(
            vec![set("a", b"q", b"1234567", 1)],
            "value of a:q is 7 bytes",
        );
        invalid(vec![set("a", b"q", b"", -1)], "timestamp -1");
        invalid(vec![set("a", b"q", b"", MARKER_TS)], "timestamp");
        invalid(vec![Mutation::DeleteRow; 4], "4 mutations in one row");
        assert!(matches!(
            expand(vec![Mutation::DeleteFamily { family: "c".into() }]),
            Err(Error::FamilyNotFound { family, .. }) if family == "c"
        ));
        let long_key = RowMutation {
            row: Bytes::from_static(b"123456789"),
            mutations: vec![],
        }
        .expand("t", &schema(), &limits(), 0);
        assert!(
            matches!(&long_key, Err(Error::InvalidArgument(m)) if m.contains("(row 123456789)")),
            "{long_key:?}"
        );
    }
}
