//! Result shaping, HBase style: a row becomes a `TRowResult` whose `columns` map is keyed
//! `family:qualifier` and sorted by that name (HBase builds a `TreeMap`), or whose
//! `sortedColumns` list keeps the row's cell order when the scan asked for it; cells become
//! `TCell`s with millisecond timestamps; `TScan.batchSize` splits a row into parts of at most
//! that many cells. Rows without cells never get here (the engine omits them).
//!
//! Pure functions over engine rows.

use bytes::Bytes;
use strata_engine::{Cell, Row};

use super::column;
use super::time;
use super::types::{Map, TCell, TColumn, TRowResult};

fn tcell(c: &Cell) -> TCell {
    TCell {
        value: c.value.clone(),
        timestamp: time::to_millis(c.timestamp),
    }
}

/// The cells of a `get`/`getVer` reply, in the row's order.
pub fn cells(row: Option<Row>) -> Vec<TCell> {
    row.map(|r| r.cells.iter().map(tcell).collect())
        .unwrap_or_default()
}

/// A row as `getRow*` and scanners return it.
pub fn row_result(row: Row, sorted: bool) -> TRowResult {
    let key = Bytes::from(row.key);
    if sorted {
        return TRowResult {
            row: key,
            columns: None,
            sorted_columns: Some(
                row.cells
                    .iter()
                    .map(|c| TColumn {
                        column_name: column::name(&c.family, &c.qualifier),
                        cell: tcell(c),
                    })
                    .collect(),
            ),
        };
    }
    let mut columns: Vec<(Bytes, TCell)> = row
        .cells
        .iter()
        .map(|c| (column::name(&c.family, &c.qualifier), tcell(c)))
        .collect();
    // Stable: of several versions of a column, the newest (first) stays.
    columns.sort_by(|a, b| a.0.cmp(&b.0));
    columns.dedup_by(|later, first| later.0 == first.0);
    TRowResult {
        row: key,
        columns: Some(Map(columns)),
        sorted_columns: None,
    }
}

/// A row cut into parts of at most `batch` cells (each part keeps the row key).
pub fn split(row: Row, batch: usize) -> Vec<Row> {
    if batch == 0 || row.cells.len() <= batch {
        return vec![row];
    }
    row.cells
        .chunks(batch)
        .map(|part| Row {
            key: row.key.clone(),
            cells: part.to_vec(),
        })
        .collect()
}

/// An upper bound of the encoded size of `row`'s result, in either protocol and either form.
pub fn encoded_size(row: &Row) -> usize {
    const PER_CELL: usize = 32;
    16 + row.key.len()
        + row
            .cells
            .iter()
            .map(|c| c.family.len() + 1 + c.qualifier.len() + c.value.len() + PER_CELL)
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thrift::protocol::{Binary, Codec, Compact, OutputProtocol};
    use crate::thrift::types::Value;

    fn cell(family: &str, q: &str, ts: i64, v: &str) -> Cell {
        Cell {
            family: family.into(),
            qualifier: Bytes::copy_from_slice(q.as_bytes()),
            timestamp: ts,
            value: Bytes::copy_from_slice(v.as_bytes()),
        }
    }

    fn row() -> Row {
        Row {
            key: b"r1".to_vec(),
            cells: vec![
                cell("a", "x", 5_123_456, "1"),
                cell("a", "x", 4_000_000, "old"),
                cell("a.b", "y", 7_000, "2"),
                cell("b", "", 1_999, "3"),
            ],
        }
    }

    #[test]
    fn columns_are_keyed_family_colon_qualifier_sorted_newest_version() {
        let r = row_result(row(), false);
        let cols = r.columns.expect("map").0;
        let names: Vec<&[u8]> = cols.iter().map(|(n, _)| &n[..]).collect();
        // Sorted by the name's bytes ('.' < ':'), one entry per column.
        assert_eq!(names, vec![&b"a.b:y"[..], b"a:x", b"b:"]);
        assert_eq!(cols[1].1.value, &b"1"[..]);
        assert_eq!(cols[1].1.timestamp, 5_123);
        assert_eq!(cols[2].1.timestamp, 1);
        assert!(r.sorted_columns.is_none());
    }

    #[test]
    fn sorted_columns_keep_the_row_order() {
        let r = row_result(row(), true);
        let sorted = r.sorted_columns.expect("list");
        assert_eq!(sorted.len(), 4);
        assert_eq!(&sorted[0].column_name[..], b"a:x");
        assert_eq!(&sorted[2].column_name[..], b"a.b:y");
        assert!(r.columns.is_none());
    }

    #[test]
    fn rows_split_into_parts_of_batch_cells() {
        let parts = split(row(), 3);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].cells.len(), 3);
        assert_eq!(parts[1].cells.len(), 1);
        assert!(parts.iter().all(|p| p.key == b"r1"));
        assert_eq!(split(row(), 0).len(), 1);
        assert_eq!(split(row(), 10).len(), 1);
    }

    #[test]
    fn cells_of_a_missing_row_are_empty() {
        assert!(cells(None).is_empty());
        let c = cells(Some(row()));
        assert_eq!(c.len(), 4);
        assert_eq!(c[1].timestamp, 4_000);
    }

    #[test]
    fn the_size_bound_holds_in_both_protocols() {
        for sorted in [false, true] {
            let bound = encoded_size(&row());
            let r = row_result(row(), sorted);
            let mut b = Binary::writer(0);
            r.write(&mut b);
            let mut c = Compact::writer(0);
            r.write(&mut c);
            assert!(b.len() <= bound, "{} > {bound}", b.len());
            assert!(c.len() <= bound);
        }
    }
}
