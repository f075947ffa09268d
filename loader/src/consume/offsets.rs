//! The `_consumer_offsets` system table: where each consumer keeps, per topic partition, the
//! next offset it will read. Row `CONSUMER#TOPIC#PARTITION` (partition in decimal), family
//! `offset`, qualifier `next`, value the offset as 8 bytes big-endian, cell timestamp the
//! offset itself, so the newest version is always the highest offset whatever order writes
//! land in (a batch re-sent after a reconnect can never move an offset back).
//!
//! Owns this encoding. It must never decide when an offset is stored (the consumer stores
//! one only after everything before it is durable).

use bytes::Bytes;

use super::sink::{PutCell, PutRow, TableBatch};

/// The system table.
pub const OFFSETS_TABLE: &str = "_consumer_offsets";
/// Its family.
pub const OFFSET_FAMILY: &str = "offset";
/// The qualifier of the next offset.
pub const NEXT_QUALIFIER: &[u8] = b"next";

/// The row key of one consumer's partition.
pub fn row_key(consumer: &str, topic: &str, partition: i32) -> String {
    format!("{consumer}#{topic}#{partition}")
}

/// The stored value of a next offset.
pub fn encode(next: i64) -> [u8; 8] {
    next.to_be_bytes()
}

/// A stored value back to the offset; `Err` says what is wrong with it.
pub fn decode(v: &[u8]) -> Result<i64, String> {
    let b: [u8; 8] = v
        .try_into()
        .map_err(|_| format!("{} bytes, not 8", v.len()))?;
    let n = i64::from_be_bytes(b);
    if n < 0 {
        return Err(format!("negative offset {n}"));
    }
    Ok(n)
}

/// The rows storing `next` offsets of `partitions`.
pub fn batch(consumer: &str, topic: &str, next: &[(i32, i64)]) -> TableBatch {
    TableBatch {
        table: OFFSETS_TABLE.to_string(),
        rows: next
            .iter()
            .map(|&(p, n)| PutRow {
                key: Bytes::from(row_key(consumer, topic, p)),
                // Timestamp 0 would mean "the server's clock"; offset 0 is never stored (it
                // is where an unread partition starts), but keep the rule total.
                timestamp: n.max(1),
                cells: vec![PutCell {
                    family: OFFSET_FAMILY.into(),
                    qualifier: Bytes::from_static(NEXT_QUALIFIER),
                    value: Bytes::copy_from_slice(&encode(n)),
                }],
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_eight_bytes_big_endian_in_consumer_topic_partition_rows() {
        assert_eq!(row_key("etl", "clicks", 3), "etl#clicks#3");
        assert_eq!(encode(258), [0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(decode(&[0, 0, 0, 0, 0, 0, 1, 2]), Ok(258));
        assert_eq!(decode(&encode(i64::MAX)), Ok(i64::MAX));
        assert_eq!(decode(&[1, 2, 3]).unwrap_err(), "3 bytes, not 8");
        assert!(decode(&encode(-1)).is_err());
        let b = batch("etl", "clicks", &[(0, 17), (2, 5)]);
        assert_eq!(b.table, "_consumer_offsets");
        assert_eq!(b.rows.len(), 2);
        let r = &b.rows[1];
        assert_eq!(&r.key[..], b"etl#clicks#2");
        assert_eq!(r.timestamp, 5);
        assert_eq!(&*r.cells[0].family, "offset");
        assert_eq!(&r.cells[0].qualifier[..], b"next");
        assert_eq!(&r.cells[0].value[..], &[0, 0, 0, 0, 0, 0, 0, 5]);
    }
}
