//! The rejects table (`--rejects-table`, default `_rejects`): one row per record that could
//! not become a row. Row `TOPIC#PARTITION#OFFSET` with the offset as 20 zero-padded digits (so
//! a partition's rejects scan in offset order), family `reject`, qualifiers `topic`,
//! `partition` and `offset` (decimal text), `reason` (the same texts as `strata load`'s
//! rejects file where the cause is the same) and `raw` (the record's value, as received). The
//! cell timestamp is the record's Kafka timestamp, so a replayed reject rewrites the same
//! version.
//!
//! Owns this encoding. It must never decide whether a record is rejected.

use bytes::Bytes;

use super::sink::{PutCell, PutRow};

/// The default rejects table.
pub const DEFAULT_REJECTS_TABLE: &str = "_rejects";
/// Its family.
pub const REJECT_FAMILY: &str = "reject";

/// The row key of a reject.
pub fn row_key(topic: &str, partition: i32, offset: i64) -> String {
    format!("{topic}#{partition}#{offset:020}")
}

/// One reject's row. `raw` is cut to `max_value` bytes (a value over the store's limit would
/// fail the whole batch); `timestamp` must be > 0.
pub fn row(
    topic: &str,
    partition: i32,
    offset: i64,
    reason: &str,
    raw: &[u8],
    timestamp: i64,
    max_value: usize,
) -> PutRow {
    let family: std::sync::Arc<str> = REJECT_FAMILY.into();
    let cell = |q: &'static str, v: Bytes| PutCell {
        family: family.clone(),
        qualifier: Bytes::from_static(q.as_bytes()),
        value: v,
    };
    let reason: String = reason.chars().take(4096).collect();
    PutRow {
        key: Bytes::from(row_key(topic, partition, offset)),
        timestamp,
        // In qualifier order (the engine sorts anyway).
        cells: vec![
            cell("offset", Bytes::from(offset.to_string())),
            cell("partition", Bytes::from(partition.to_string())),
            cell(
                "raw",
                Bytes::copy_from_slice(&raw[..raw.len().min(max_value)]),
            ),
            cell("reason", Bytes::from(reason)),
            cell("topic", Bytes::copy_from_slice(topic.as_bytes())),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_rows_are_keyed_by_topic_partition_and_padded_offset() {
        assert_eq!(row_key("clicks", 2, 17), "clicks#2#00000000000000000017");
        assert_eq!(row_key("t", 0, i64::MAX), "t#0#09223372036854775807");
        assert!(row_key("t", 0, 9) < row_key("t", 0, 10));
        let r = row("clicks", 2, 17, "empty row key", b"\x00\xffraw", 1_000, 4);
        assert_eq!(&r.key[..], b"clicks#2#00000000000000000017");
        assert_eq!(r.timestamp, 1_000);
        let cells: Vec<(&str, &str, &[u8])> = r
            .cells
            .iter()
            .map(|c| {
                (
                    &*c.family,
                    std::str::from_utf8(&c.qualifier).unwrap(),
                    &c.value[..],
                )
            })
            .collect();
        assert_eq!(
            cells,
            vec![
                ("reject", "offset", &b"17"[..]),
                ("reject", "partition", b"2"),
                ("reject", "raw", b"\x00\xffra"),
                ("reject", "reason", b"empty row key"),
                ("reject", "topic", b"clicks"),
            ]
        );
    }
}
