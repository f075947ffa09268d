//! Building one write from fetched records: each record is decoded and mapped with the
//! loader's own per-record rules (`ResolvedMapping`: row key, timestamp column, value size),
//! exactly as `strata load` maps a CSV row with the same header names, into a row of the data
//! table; a record that cannot be mapped becomes a row of the rejects table. The write also
//! carries how far each partition got, which becomes the stored offset once it is durable.
//!
//! Owns the cell timestamp rule: the `--timestamp-column` value, else the Kafka record
//! timestamp in microseconds, never the wall clock, so a replayed record rewrites the same
//! version. It must never reorder a partition's records and never drop one silently (every
//! record is a row or a reject).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use strata_engine::{Limits, Timestamp};

use super::decode::layout::Layout;
use super::decode::{Decoder, Fields};
use super::rejects;
use super::sink::{PutCell, PutRow, TableBatch, Write};

/// A row of the write, its bytes still in the write's arena.
struct ArenaRow {
    key: Range<usize>,
    timestamp: Timestamp,
    layout: usize,
    /// Index of its first value in `Builder::values`.
    values: usize,
}

/// A write in the making. Keys and values of its rows are copied once, into one arena that
/// becomes the write's buffer; cells are slices of it (no allocation per value).
pub struct Builder<'p> {
    decoder: Decoder<'p>,
    layouts: &'p [Layout],
    /// Per layout, per cell slot: the family and the qualifier, shared by every row.
    families: Vec<Vec<Arc<str>>>,
    qualifiers: Vec<Vec<Bytes>>,
    fields: Fields,
    /// Key columns' places in the arena while a record is mapped: (column, range).
    key_columns: Vec<(usize, Range<usize>)>,
    topic: String,
    table: String,
    rejects_table: String,
    limits: Limits,
    arena: Vec<u8>,
    rows: Vec<ArenaRow>,
    values: Vec<Range<usize>>,
    rejected: Vec<PutRow>,
    next: BTreeMap<i32, i64>,
    bytes: usize,
    rejected_bytes: usize,
    cells: u64,
}

/// What became of one record.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A row of the data table.
    Row,
    /// A reject, with its reason.
    Rejected(String),
}

/// A finished write and what it holds.
#[derive(Debug)]
pub struct Unit {
    /// The batches to write (data, then rejects).
    pub write: Write,
    /// Per partition, the next offset once this write is durable.
    pub next: Vec<(i32, i64)>,
    /// Data rows.
    pub rows: u64,
    /// Data cells.
    pub cells: u64,
    /// Rejects.
    pub rejects: u64,
}

impl<'p> Builder<'p> {
    /// A builder writing `table` (and rejects to `rejects_table`).
    pub fn new(
        decoder: Decoder<'p>,
        layouts: &'p [Layout],
        topic: &str,
        table: &str,
        rejects_table: &str,
        limits: Limits,
    ) -> Self {
        let families = layouts
            .iter()
            .map(|l| l.mapping.cells.iter().map(|c| c.family.clone()).collect())
            .collect();
        let qualifiers = layouts
            .iter()
            .map(|l| {
                l.mapping
                    .cells
                    .iter()
                    .map(|c| Bytes::copy_from_slice(&c.qualifier))
                    .collect()
            })
            .collect();
        Builder {
            decoder,
            layouts,
            families,
            qualifiers,
            fields: Fields::default(),
            key_columns: Vec::new(),
            topic: topic.to_string(),
            table: table.to_string(),
            rejects_table: rejects_table.to_string(),
            limits,
            arena: Vec::new(),
            rows: Vec::new(),
            values: Vec::new(),
            rejected: Vec::new(),
            next: BTreeMap::new(),
            bytes: 0,
            rejected_bytes: 0,
            cells: 0,
        }
    }

    /// Records (rows and rejects) in the write so far.
    pub fn len(&self) -> usize {
        self.rows.len() + self.rejected.len()
    }

    /// Whether the write holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.next.is_empty()
    }

    /// Bytes of keys and values (and rejected records) in the write.
    pub fn bytes(&self) -> usize {
        self.bytes + self.rejected_bytes
    }

    /// Add the record at `offset` of `partition`.
    pub fn add(
        &mut self,
        partition: i32,
        offset: i64,
        timestamp_ms: i64,
        value: Option<&[u8]>,
    ) -> Outcome {
        self.next.insert(partition, offset + 1);
        let kafka_ts = timestamp_ms.saturating_mul(1000);
        let (arena, values) = (self.arena.len(), self.values.len());
        let outcome = match value {
            None => Err("the record has no value (a tombstone)".to_string()),
            Some(v) => self.map(v, kafka_ts),
        };
        match outcome {
            Ok(()) => {
                self.bytes = self.arena.len();
                self.cells += (self.values.len() - values) as u64;
                Outcome::Row
            }
            Err(reason) => {
                // Nothing of the record stays in the write's arena.
                self.arena.truncate(arena);
                self.values.truncate(values);
                let raw = value.unwrap_or_default();
                self.rejected_bytes += raw.len();
                self.rejected.push(rejects::row(
                    &self.topic,
                    partition,
                    offset,
                    &reason,
                    raw,
                    if kafka_ts > 0 { kafka_ts } else { 1 },
                    self.limits.max_value,
                ));
                Outcome::Rejected(reason)
            }
        }
    }

    /// Decode and map one value into a row of the arena; `Err` is the reject reason.
    fn map(&mut self, value: &[u8], kafka_ts: Timestamp) -> Result<(), String> {
        let li = self.decoder.decode(value, &mut self.fields)?;
        let layout = &self.layouts[li];
        let m = &layout.mapping;
        let fields = &self.fields;
        let field = |c: usize| fields.get(c);
        let key_start = self.arena.len();
        let key_columns = &mut self.key_columns;
        key_columns.clear();
        m.push_row_key(
            field,
            &layout.header,
            self.limits.max_row_key,
            &mut self.arena,
            |c, start, len| key_columns.push((c, start..start + len)),
        )?;
        let key = key_start..self.arena.len();
        let timestamp = match m.record_timestamp(field, &layout.header)? {
            Some(ts) if ts <= 0 => {
                return Err(format!(
                    "timestamp column value is at or before 1970-01-01 ({ts} us); cells need a \
                     positive timestamp"
                ));
            }
            Some(ts) => ts,
            None if kafka_ts <= 0 => {
                return Err(format!(
                    "the record has no usable Kafka timestamp ({kafka_ts} us): give \
                     --timestamp-column"
                ));
            }
            None => kafka_ts,
        };
        let first = self.values.len();
        for slot in &m.cells {
            let v = field(slot.column);
            m.check_value(slot, v, &layout.header, self.limits.max_value)?;
            // A key column that is also a cell (clickstream's) shares the key's bytes.
            let range = match key_columns.iter().find(|(c, _)| *c == slot.column) {
                Some((_, r)) => r.clone(),
                None => {
                    let start = self.arena.len();
                    self.arena.extend_from_slice(v);
                    start..self.arena.len()
                }
            };
            self.values.push(range);
        }
        self.rows.push(ArenaRow {
            key,
            timestamp,
            layout: li,
            values: first,
        });
        Ok(())
    }

    /// Take the write built so far (`None` if it holds nothing).
    pub fn take(&mut self) -> Option<Unit> {
        if self.is_empty() {
            return None;
        }
        let buf = Bytes::from(std::mem::take(&mut self.arena));
        let values = std::mem::take(&mut self.values);
        let rows: Vec<PutRow> = std::mem::take(&mut self.rows)
            .into_iter()
            .map(|r| {
                let (families, qualifiers) = (&self.families[r.layout], &self.qualifiers[r.layout]);
                PutRow {
                    key: buf.slice(r.key),
                    timestamp: r.timestamp,
                    cells: families
                        .iter()
                        .zip(qualifiers)
                        .zip(&values[r.values..])
                        .map(|((f, q), v)| PutCell {
                            family: Arc::clone(f),
                            qualifier: q.clone(),
                            value: buf.slice(v.clone()),
                        })
                        .collect(),
                }
            })
            .collect();
        let rejected = std::mem::take(&mut self.rejected);
        let mut write = Write::default();
        let (nrows, nrejects) = (rows.len() as u64, rejected.len() as u64);
        if !rows.is_empty() {
            write.batches.push(TableBatch {
                table: self.table.clone(),
                rows,
            });
        }
        if !rejected.is_empty() {
            write.batches.push(TableBatch {
                table: self.rejects_table.clone(),
                rows: rejected,
            });
        }
        let unit = Unit {
            write,
            next: std::mem::take(&mut self.next).into_iter().collect(),
            rows: nrows,
            cells: self.cells,
            rejects: nrejects,
        };
        self.bytes = 0;
        self.rejected_bytes = 0;
        self.cells = 0;
        Some(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consume::decode::layout::MappingFlags;
    use crate::consume::decode::{DecodeOptions, Format, Plan};

    fn builder<'p>(p: &'p Plan, rejects_table: &str, limits: Limits) -> Builder<'p> {
        Builder::new(
            p.decoder().unwrap(),
            p.layouts(),
            "clicks",
            "clickstream",
            rejects_table,
            limits,
        )
    }

    fn plan(format: Format, timestamp_column: Option<&str>) -> Plan {
        Plan::new(&DecodeOptions {
            format,
            schemas: vec![],
            fields: None,
            mapping: MappingFlags::choose("clickstream", None, None, None, timestamp_column)
                .unwrap(),
        })
        .unwrap()
    }

    const CLICK: &str = r#"{"session_id": "s1", "event_name": "SCROLL",
        "event_time": "2022-07-29T15:22:01.458193Z", "event_id": "e1",
        "traffic_source": "WEB", "event_metadata": null}"#;

    #[test]
    fn records_become_rows_keyed_and_stamped_like_the_loader() {
        let p = plan(Format::Json, None);
        let mut b = Builder::new(
            p.decoder().unwrap(),
            p.layouts(),
            "clicks",
            "clickstream",
            "_rejects",
            Limits::default(),
        );
        assert_eq!(
            b.add(0, 41, 1_700_000_000_123, Some(CLICK.as_bytes())),
            Outcome::Row
        );
        let u = b.take().unwrap();
        assert!(b.take().is_none());
        assert_eq!(u.next, vec![(0, 42)]);
        assert_eq!((u.rows, u.cells, u.rejects), (1, 6, 0));
        let row = &u.write.batches[0].rows[0];
        assert_eq!(u.write.batches[0].table, "clickstream");
        assert_eq!(&row.key[..], b"s1#2022-07-29T15:22:01.458193Z#e1");
        // The Kafka timestamp, in microseconds.
        assert_eq!(row.timestamp, 1_700_000_000_123_000);
        let cells: Vec<(String, String)> = row
            .cells
            .iter()
            .map(|c| {
                (
                    format!("{}:{}", c.family, String::from_utf8_lossy(&c.qualifier)),
                    String::from_utf8_lossy(&c.value).into_owned(),
                )
            })
            .collect();
        assert_eq!(
            cells,
            [
                ("event_details:event_id", "e1"),
                ("event_details:event_name", "SCROLL"),
                ("event_details:event_time", "2022-07-29T15:22:01.458193Z"),
                ("event_details:session_id", "s1"),
                ("metadata:event_metadata", ""),
                ("traffic_info:traffic_source", "WEB"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }

    #[test]
    fn the_timestamp_column_wins_over_the_kafka_timestamp() {
        let p = plan(Format::Json, Some("event_time"));
        let mut b = builder(&p, "_rejects", Limits::default());
        assert_eq!(b.add(0, 0, 5, Some(CLICK.as_bytes())), Outcome::Row);
        let u = b.take().unwrap();
        assert_eq!(u.write.batches[0].rows[0].timestamp, 1_659_108_121_458_193);
    }

    #[test]
    fn bad_records_become_rejects_with_their_offsets() {
        let p = plan(Format::Json, None);
        let limits = Limits {
            max_value: 8,
            ..Limits::default()
        };
        let mut b = builder(&p, "bad", limits);
        let cases: Vec<(Option<&[u8]>, i64, &str)> = vec![
            (Some(b"{not json"), 1, "not JSON: "),
            (None, 1, "the record has no value (a tombstone)"),
            (
                Some(CLICK.as_bytes()),
                1,
                "column event_time: value of 27 bytes exceeds the 8-byte limit",
            ),
            (
                Some(CLICK.as_bytes()),
                -1,
                "the record has no usable Kafka timestamp",
            ),
        ];
        for (i, (v, ts, _)) in cases.iter().enumerate() {
            let out = b.add(3, 10 + i as i64, *ts, *v);
            assert!(matches!(out, Outcome::Rejected(_)), "{i}: {out:?}");
        }
        let u = b.take().unwrap();
        assert_eq!((u.rows, u.rejects), (0, 4));
        assert_eq!(u.next, vec![(3, 14)]);
        let batch = &u.write.batches[0];
        assert_eq!(batch.table, "bad");
        for (i, (row, (_, _, want))) in batch.rows.iter().zip(&cases).enumerate() {
            assert_eq!(
                row.key,
                Bytes::from(format!("clicks#3#{:020}", 10 + i)),
                "{i}"
            );
            let reason = row
                .cells
                .iter()
                .find(|c| &c.qualifier[..] == b"reason")
                .unwrap();
            let reason = String::from_utf8_lossy(&reason.value);
            assert!(
                reason.starts_with(want) || reason.contains(want),
                "{i}: {reason}"
            );
        }
    }
}
