//! The MultiGet RPC's work: the rows a request names, read one by one from one table with the
//! same columns, versions, time range and filter, answered in request order (`found = false`
//! for a row that is missing or that the filter drops). The filter runs on each row afresh,
//! as HBase runs each Get of a multi-get alone (a `PageFilter(1)` keeps every row). Each row is
//! read as of its own moment, like a Get: rows are not one snapshot (neither are HBase's).
//!
//! Bounds: at most `max_rows_per_multiget` rows per request, and a reply no larger than the
//! message limit, measured row by row as it is built with Get's [`ReplyBudget`] (so the
//! server holds at most one row past the limit) and refused with the row where it passed.
//!
//! This module reads through `Db`'s public API only, never more rows than the request names,
//! and never maps its errors to statuses (that is `status.rs`).

use bytes::Bytes;
use strata_engine::{Db, ReadOptions};
use strata_proto::v1 as pb;

use crate::convert::{self, ReadFilter};
use crate::escape;
use crate::reply::ReplyBudget;

/// Why a MultiGet fails.
#[derive(Debug, thiserror::Error)]
pub enum MultiGetError {
    /// The request names more rows than the server allows in one call.
    #[error(
        "MultiGet names {asked} rows, above the limit of {limit} (max_rows_per_multiget): \
         split it into calls of at most {limit} rows"
    )]
    TooManyRows {
        /// Rows named.
        asked: usize,
        /// The setting.
        limit: usize,
    },
    /// The reply would pass the message limit: [`ReplyBudget`]'s RESOURCE_EXHAUSTED, naming
    /// the row (alone too large, or where the reply passed the limit).
    #[error("{}", .0.message())]
    Reply(tonic::Status),
    /// The engine failed reading a row (unknown table or family, a bad key, ...).
    #[error("{}", engine_message(.source, *.index, .row))]
    Engine {
        /// The row's position in the request.
        index: usize,
        /// The row's key, for people.
        row: String,
        /// The engine's error.
        source: strata_engine::Error,
    },
}

/// The engine's message, with the row named when the error is about the row (a bad key)
/// rather than the table.
fn engine_message(e: &strata_engine::Error, index: usize, row: &str) -> String {
    match e {
        strata_engine::Error::InvalidArgument(_) => format!("rows[{index}] ({row}): {e}"),
        _ => e.to_string(),
    }
}

/// The server's bounds on one MultiGet.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Most rows one request may name.
    pub max_rows: usize,
    /// Largest reply, in bytes (the message limit).
    pub reply_bytes: usize,
}

/// A checked MultiGet request.
#[derive(Debug)]
pub struct MultiGet {
    /// The table.
    pub table: String,
    /// The rows, in request order.
    pub rows: Vec<Bytes>,
    /// Columns, versions and time range of every row.
    pub read: ReadOptions,
    /// The filter run on each row (its timestamps in microseconds).
    pub filter: Option<ReadFilter>,
}

impl MultiGet {
    /// Convert a request (the same checks as a Get's).
    pub fn from_pb(r: pb::MultiGetRequest) -> Result<MultiGet, convert::ConvertError> {
        let table = convert::table(&r.table)?.to_owned();
        let mut read = convert::read_options_from_pb(r.columns, r.max_versions, r.time_range)?;
        let filter = convert::read_filter(&r.filter, &mut read)?;
        Ok(MultiGet {
            table,
            rows: r.rows,
            read,
            filter,
        })
    }

    /// Read the rows within `bounds` (blocking: call it off the async executor).
    pub fn run(self, db: &Db, bounds: Bounds) -> Result<pb::MultiGetResponse, MultiGetError> {
        if self.rows.len() > bounds.max_rows {
            return Err(MultiGetError::TooManyRows {
                asked: self.rows.len(),
                limit: bounds.max_rows,
            });
        }
        let mut budget = ReplyBudget::new(&self.table, bounds.reply_bytes);
        let mut results = Vec::with_capacity(self.rows.len());
        for (index, key) in self.rows.iter().enumerate() {
            let found =
                db.get(&self.table, key, &self.read)
                    .map_err(|source| MultiGetError::Engine {
                        index,
                        row: escape::display(key).into_owned(),
                        source,
                    })?;
            let result = convert::get_reply(found, self.filter.as_ref());
            budget.add(&result).map_err(MultiGetError::Reply)?;
            results.push(result);
        }
        Ok(pb::MultiGetResponse { results })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;
    use strata_engine::{DbOptions, FamilyOptions, Mutation, RowMutation};

    fn store() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(dir.path(), DbOptions::default()).expect("open");
        db.create_table("t", vec![FamilyOptions::new("a"), FamilyOptions::new("b")])
            .expect("create");
        for (row, family, value) in [
            ("r1", "a", "one"),
            ("r2", "a", "two"),
            ("r2", "b", "x"),
            ("r3", "b", "y"),
        ] {
            db.mutate_row(
                "t",
                RowMutation {
                    row: Bytes::copy_from_slice(row.as_bytes()),
                    mutations: vec![Mutation::SetCell {
                        family: family.into(),
                        qualifier: Bytes::from_static(b"q"),
                        value: Bytes::copy_from_slice(value.as_bytes()),
                        timestamp: 0,
                    }],
                },
            )
            .expect("put");
        }
        (dir, db)
    }

    fn request(rows: &[&str], filter: &str) -> MultiGet {
        MultiGet::from_pb(pb::MultiGetRequest {
            table: "t".into(),
            rows: rows
                .iter()
                .map(|r| Bytes::from(r.as_bytes().to_vec()))
                .collect(),
            filter: filter.into(),
            ..Default::default()
        })
        .expect("valid request")
    }

    const WIDE: Bounds = Bounds {
        max_rows: 100,
        reply_bytes: 1 << 20,
    };

    /// `key:family=value,...` per result, `-` for not found.
    fn shown(r: &pb::MultiGetResponse) -> Vec<String> {
        r.results
            .iter()
            .map(|g| match (&g.row, g.found) {
                (Some(row), true) => {
                    let cells: Vec<String> = row
                        .cells
                        .iter()
                        .map(|c| format!("{}={}", c.family, String::from_utf8_lossy(&c.value)))
                        .collect();
                    format!("{}:{}", String::from_utf8_lossy(&row.key), cells.join(","))
                }
                (None, false) => "-".into(),
                other => panic!("found and row disagree: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn rows_come_back_in_request_order_with_missing_ones_not_found() {
        let (_dir, db) = store();
        let r = request(&["r3", "nope", "r1", "r3"], "")
            .run(&db, WIDE)
            .unwrap();
        assert_eq!(shown(&r), ["r3:b=y", "-", "r1:a=one", "r3:b=y"]);
        let empty = request(&[], "").run(&db, WIDE).unwrap();
        assert!(empty.results.is_empty());
    }

    #[test]
    fn the_filter_runs_on_each_row_afresh() {
        let (_dir, db) = store();
        // PageFilter(1) would end a scan after one row; here each row is its own Get.
        let r = request(&["r1", "r2", "r3"], "PageFilter(1)")
            .run(&db, WIDE)
            .unwrap();
        assert_eq!(shown(&r), ["r1:a=one", "r2:a=two,b=x", "r3:b=y"]);
        let r = request(&["r1", "r2", "r3"], "FamilyFilter(=, 'binary:b')")
            .run(&db, WIDE)
            .unwrap();
        assert_eq!(shown(&r), ["-", "r2:b=x", "r3:b=y"]);
    }

    #[test]
    fn more_rows_than_the_setting_are_refused_before_any_read() {
        let (_dir, db) = store();
        let bounds = Bounds {
            max_rows: 2,
            ..WIDE
        };
        assert_eq!(
            request(&["r1", "r2"], "")
                .run(&db, bounds)
                .unwrap()
                .results
                .len(),
            2
        );
        let e = request(&["r1", "r2", "r3"], "")
            .run(&db, bounds)
            .unwrap_err();
        assert!(
            matches!(e, MultiGetError::TooManyRows { asked: 3, limit: 2 }),
            "{e}"
        );
        assert!(e.to_string().contains("max_rows_per_multiget"), "{e}");
    }

    #[test]
    fn a_reply_past_the_limit_names_the_row_where_it_passed() {
        let (_dir, db) = store();
        let one = request(&["r1"], "").run(&db, WIDE).unwrap().encoded_len();
        // Room for r1 twice, not a third row.
        let bounds = Bounds {
            reply_bytes: 2 * one + 1,
            ..WIDE
        };
        request(&["r1", "r1"], "").run(&db, bounds).unwrap();
        let e = request(&["r1", "r1", "r2"], "")
            .run(&db, bounds)
            .unwrap_err();
        assert!(
            matches!(&e, MultiGetError::Reply(s) if s.code() == tonic::Code::ResourceExhausted),
            "{e}"
        );
        assert!(e.to_string().contains("at row r2 of table t"), "{e}");
        // A row alone too large says so.
        let bounds = Bounds {
            reply_bytes: one - 1,
            ..WIDE
        };
        let e = request(&["nope", "r1"], "").run(&db, bounds).unwrap_err();
        assert!(e.to_string().contains("row r1 of table t is"), "{e}");
        assert!(e.to_string().contains("Scan"), "{e}");
    }

    #[test]
    fn a_bad_key_is_named_and_an_unknown_table_is_the_engines_error() {
        let (_dir, db) = store();
        let e = request(&["r1", ""], "").run(&db, WIDE).unwrap_err();
        assert!(
            matches!(
                &e,
                MultiGetError::Engine {
                    index: 1,
                    source: strata_engine::Error::InvalidArgument(_),
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().starts_with("rows[1] ():"), "{e}");
        let mut m = request(&["r1"], "");
        m.table = "nope".into();
        let e = m.run(&db, WIDE).unwrap_err();
        assert!(
            matches!(
                &e,
                MultiGetError::Engine {
                    source: strata_engine::Error::TableNotFound(_),
                    ..
                }
            ),
            "{e}"
        );
    }
}
