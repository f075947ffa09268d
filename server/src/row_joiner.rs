//! The client side of partial rows: a Scan sends a row too large for one reply in parts (every
//! part but the last has `partial = true`, all carry the row's key, the cells continue in
//! order). [`RowJoiner`] turns the rows of successive replies back into whole rows.
//!
//! Resuming a broken scan: rows come out of the joiner only once whole, so the last key it
//! returned is a row whose every part was received: resume with `start_row` = that key and
//! `start_row_exclusive = true`. Parts still held ([`RowJoiner::pending_key`]) are dropped and
//! the scan resumed at that row, inclusive: the row is sent again from its first cell.
//!
//! Used by the CLI and any Rust client. It must never reorder or merge whole rows.

use strata_proto::v1 as pb;

/// Joins the parts of large rows across scan replies.
#[derive(Debug, Default)]
pub struct RowJoiner {
    pending: Option<pb::Row>,
}

impl RowJoiner {
    /// A joiner holding nothing.
    pub fn new() -> RowJoiner {
        RowJoiner::default()
    }

    /// Feed one reply's rows (in order); returns the rows now whole.
    pub fn push(&mut self, rows: Vec<pb::Row>) -> Vec<pb::Row> {
        let mut whole = Vec::with_capacity(rows.len());
        for row in rows {
            let row = match self.pending.take() {
                Some(mut first) if first.key == row.key => {
                    first.cells.extend(row.cells);
                    first.partial = row.partial;
                    first
                }
                // A part whose row did not go on: the server never does this; keep what came.
                Some(mut unfinished) => {
                    unfinished.partial = false;
                    whole.push(unfinished);
                    row
                }
                None => row,
            };
            if row.partial {
                self.pending = Some(row);
            } else {
                whole.push(row);
            }
        }
        whole
    }

    /// The key of a row of which some parts, but not the last, were received.
    pub fn pending_key(&self) -> Option<&[u8]> {
        self.pending.as_ref().map(|r| &r.key[..])
    }

    /// Whether every row fed so far came out whole (call at the end of a scan).
    pub fn is_complete(&self) -> bool {
        self.pending.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(key: &str, quals: &[&str], partial: bool) -> pb::Row {
        pb::Row {
            key: key.as_bytes().to_vec().into(),
            cells: quals
                .iter()
                .map(|q| pb::Cell {
                    family: "f".into(),
                    qualifier: q.as_bytes().to_vec().into(),
                    timestamp_micros: 1,
                    value: Default::default(),
                })
                .collect(),
            partial,
        }
    }

    fn shape(rows: &[pb::Row]) -> Vec<(String, usize)> {
        rows.iter()
            .map(|r| (String::from_utf8_lossy(&r.key).into_owned(), r.cells.len()))
            .collect()
    }

    #[test]
    fn parts_across_replies_come_out_as_one_row_in_order() {
        let mut j = RowJoiner::new();
        let a = j.push(vec![part("a", &["x"], false), part("w", &["1", "2"], true)]);
        assert_eq!(shape(&a), [("a".to_string(), 1)]);
        assert_eq!(j.pending_key(), Some(&b"w"[..]));
        assert!(j.push(vec![part("w", &["3"], true)]).is_empty());
        let b = j.push(vec![part("w", &["4"], false), part("z", &["y"], false)]);
        assert_eq!(shape(&b), [("w".to_string(), 4), ("z".to_string(), 1)]);
        let quals: Vec<&[u8]> = b[0].cells.iter().map(|c| &c.qualifier[..]).collect();
        assert_eq!(quals, [b"1", b"2", b"3", b"4"]);
        assert!(!b[0].partial);
        assert!(j.is_complete());
    }

    #[test]
    fn an_unfinished_row_is_reported_until_its_last_part() {
        let mut j = RowJoiner::new();
        assert!(j.push(vec![part("w", &["1"], true)]).is_empty());
        assert!(!j.is_complete());
        assert_eq!(j.pending_key(), Some(&b"w"[..]));
    }
}
