//! The atomic read-modify-write operations: [`Db::check_and_mutate`], [`Db::increment`] and
//! [`Db::append`]. Each validates its request, takes its row's stripe of the table's row
//! locks (`crate::row_lock`), reads the row's latest visible values, computes, and writes the
//! result through the ordinary write path (`write.rs`: limits, back-pressure, WAL, group
//! commit) before it lets the lock go. A write returns only once it is durable and visible,
//! so the next operation on the row, which reads after taking the lock, always sees it:
//! operations on one row are serialized, and none is lost. What this guarantees against
//! plain writes is in `docs/design/read-modify-write.md`.
//!
//! This file must never reach into the write path's internals (it calls `write_rows` and
//! `get` as any caller would), nor hold a row lock while waiting for anything but the
//! write it is making.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::MutexGuard;

use super::write::{WriteOptions, check_call_size};
use super::{Db, DbInner};
use crate::atomic::{self, CheckAndMutate, ColumnAppend, ColumnDelta};
use crate::error::{Error, Result};
use crate::mutation::{Mutation, RowMutation};
use crate::row::{Cell, ColumnSelector, ReadOptions, Row};
use crate::table::Table;

/// A writer waiting for a row lock rechecks whether its caller gave up at least this often.
const LOCK_POLL: Duration = Duration::from_millis(50);

/// A row key for a message: at most 64 bytes of it, lossily as text.
fn shown_row(row: &[u8]) -> String {
    String::from_utf8_lossy(row.get(..row.len().min(64)).unwrap_or_default()).into_owned()
}

fn column_name(family: &str, qualifier: &[u8]) -> String {
    format!("{family}:{}", String::from_utf8_lossy(qualifier))
}

impl DbInner {
    /// Check `rm` as the write path will (limits, row key, families, qualifiers, values)
    /// before any lock is taken or anything read: a request that cannot be written fails
    /// the same way whatever the row holds.
    fn validate(&self, t: &Table, table: &str, rm: &RowMutation) -> Result<()> {
        let schema = t.schema.load();
        let limits = &self.options.limits;
        check_call_size(std::slice::from_ref(rm), &schema, limits)?;
        rm.clone()
            .expand(table, &schema, limits, crate::cell::now_micros())?;
        Ok(())
    }

    /// Take `row`'s lock in `t`, waiting at most `write_stall_timeout` (as a write waits for
    /// room) and giving up when the caller does.
    ///
    /// # Errors
    ///
    /// [`Error::Stalled`] when the lock stayed taken; [`Error::Cancelled`] when abandoned;
    /// [`Error::TableNotFound`] when the table was dropped meanwhile.
    fn lock_row<'t>(
        &self,
        t: &'t Table,
        row: &[u8],
        opts: &WriteOptions,
    ) -> Result<MutexGuard<'t, ()>> {
        let started = Instant::now();
        let deadline = started + self.options.write_stall_timeout;
        loop {
            let abandoned = opts
                .abandoned
                .as_ref()
                .is_some_and(|a| a.load(Ordering::Acquire));
            if abandoned {
                return Err(Error::Cancelled(t.name.clone()));
            }
            let now = Instant::now();
            let wait = deadline.saturating_duration_since(now).min(LOCK_POLL);
            if let Some(guard) = t.row_locks.lock(row, wait) {
                if t.dropped.load(Ordering::Acquire) {
                    return Err(Error::TableNotFound(t.name.clone()));
                }
                return Ok(guard);
            }
            if Instant::now() >= deadline {
                return Err(Error::Stalled {
                    table: t.name.clone(),
                    waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    waiting_for: format!(
                        "the lock of row {} (held by another read-modify-write)",
                        shown_row(row)
                    ),
                });
            }
        }
    }
}

/// The latest visible cell of `family:qualifier` in `row`, if any.
fn latest<'r>(row: Option<&'r Row>, family: &str, qualifier: &[u8]) -> Option<&'r Cell> {
    row?.cells
        .iter()
        .find(|c| &*c.family == family && c.qualifier == qualifier)
}

/// The distinct columns of `items` (family, qualifier), in first-seen order.
fn distinct_columns<'a>(items: impl Iterator<Item = (&'a str, &'a Bytes)>) -> Vec<(String, Bytes)> {
    let mut out: Vec<(String, Bytes)> = Vec::new();
    for (f, q) in items {
        if !out.iter().any(|(of, oq)| of == f && oq == q) {
            out.push((f.to_string(), q.clone()));
        }
    }
    out
}

fn selection(columns: &[(String, Bytes)]) -> ReadOptions {
    ReadOptions {
        columns: columns
            .iter()
            .map(|(f, q)| ColumnSelector {
                family: f.clone(),
                qualifier: Some(q.to_vec()),
            })
            .collect(),
        ..ReadOptions::default()
    }
}

/// The reply of an increment or append: the new cells, sorted as a read returns them.
fn result_row(row: &Bytes, rm: &RowMutation) -> Row {
    let mut cells: Vec<Cell> = rm
        .mutations
        .iter()
        .filter_map(|m| match m {
            Mutation::SetCell {
                family,
                qualifier,
                value,
                timestamp,
            } => Some(Cell {
                family: family.clone(),
                qualifier: qualifier.clone(),
                timestamp: *timestamp,
                value: value.clone(),
            }),
            _ => None,
        })
        .collect();
    cells.sort_by(|a, b| (&a.family, &a.qualifier).cmp(&(&b.family, &b.qualifier)));
    Row {
        key: row.to_vec(),
        cells,
    }
}

impl Db {
    /// Check one cell of a row and, when the check passes, apply `cm.mutations` to the row,
    /// atomically with respect to every other read-modify-write of the row (see
    /// [`CheckAndMutate`] and [`atomic::CompareOp::passes`] for the check). Returns whether
    /// the check passed (and the mutations were applied); durable when it returns `true`.
    ///
    /// # Errors
    ///
    /// As [`Db::mutate_rows_with`] for the mutations (checked before the row is read, so a
    /// bad mutation is an error whether or not the check passes); [`Error::FamilyNotFound`]
    /// for the checked cell's family; [`Error::Stalled`] when another operation held the
    /// row's lock for `write_stall_timeout`.
    pub fn check_and_mutate(
        &self,
        table: &str,
        cm: CheckAndMutate,
        opts: &WriteOptions,
    ) -> Result<bool> {
        let inner = &self.inner;
        inner.check_writable()?;
        let t = inner.catalog.table(table)?;
        let rm = RowMutation {
            row: cm.row.clone(),
            mutations: cm.mutations,
        };
        inner.validate(&t, table, &rm)?;
        let checked = vec![(cm.family.clone(), cm.qualifier.clone())];
        let _row = inner.lock_row(&t, &cm.row, opts)?;
        let current = self.get(table, &cm.row, &selection(&checked))?;
        let stored = latest(current.as_ref(), &cm.family, &cm.qualifier);
        if !cm
            .op
            .passes(cm.value.as_deref(), stored.map(|c| &c.value[..]))
        {
            return Ok(false);
        }
        if !rm.mutations.is_empty() {
            inner.write_rows(table, vec![rm], opts)?;
        }
        Ok(true)
    }

    /// Add each delta to its counter cell in `row` (8-byte big-endian `i64`; a missing cell
    /// counts as 0; a column named twice gets both deltas), atomically with respect to every
    /// other read-modify-write of the row. Returns the new values; durable when it returns.
    /// Each new value is written at the server's clock, or just after the value it replaces
    /// when that one is newer.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for no delta, and as [`Db::mutate_rows_with`];
    /// [`Error::NotACounter`] naming a cell whose value is not 8 bytes;
    /// [`Error::CounterOverflow`] when a counter would pass the `i64` range (counters never
    /// wrap); [`Error::Stalled`] as [`Db::check_and_mutate`]. Nothing is applied on error.
    pub fn increment(
        &self,
        table: &str,
        row: Bytes,
        deltas: Vec<ColumnDelta>,
        opts: &WriteOptions,
    ) -> Result<Row> {
        if deltas.is_empty() {
            return Err(Error::InvalidArgument(
                "an increment needs at least one column".into(),
            ));
        }
        let columns = distinct_columns(deltas.iter().map(|d| (d.family.as_str(), &d.qualifier)));
        // Sized as what it writes: one 8-byte value per column.
        let zero = Bytes::from_static(&[0; 8]);
        let sizing = columns
            .iter()
            .map(|(f, q)| (f.clone(), q.clone(), zero.clone()))
            .collect();
        let rewrite = |family: &str, qualifier: &Bytes, cell: Option<&Cell>| {
            let column = || column_name(family, qualifier);
            let mut value = match cell {
                None => 0,
                Some(c) => atomic::counter(&c.value).map_err(|len| Error::NotACounter {
                    table: table.to_string(),
                    row: shown_row(&row),
                    column: column(),
                    len,
                })?,
            };
            for d in deltas
                .iter()
                .filter(|d| d.family == family && d.qualifier == qualifier)
            {
                value = value
                    .checked_add(d.delta)
                    .ok_or_else(|| Error::CounterOverflow {
                        table: table.to_string(),
                        row: shown_row(&row),
                        column: column(),
                        value,
                        delta: d.delta,
                    })?;
            }
            Ok(Bytes::copy_from_slice(&value.to_be_bytes()))
        };
        self.rewrite_columns(table, &row, columns, sizing, opts, rewrite)
    }

    /// Append each value to its cell's latest value in `row` (a missing cell starts empty; a
    /// column named twice gets both, in order), atomically with respect to every other
    /// read-modify-write of the row. Returns the new values; durable when it returns.
    /// Timestamps as [`Db::increment`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for no cell, a result over `max_value`, and as
    /// [`Db::mutate_rows_with`]; [`Error::Stalled`] as [`Db::check_and_mutate`]. Nothing is
    /// applied on error.
    pub fn append(
        &self,
        table: &str,
        row: Bytes,
        cells: Vec<ColumnAppend>,
        opts: &WriteOptions,
    ) -> Result<Row> {
        if cells.is_empty() {
            return Err(Error::InvalidArgument(
                "an append needs at least one cell".into(),
            ));
        }
        let columns = distinct_columns(cells.iter().map(|c| (c.family.as_str(), &c.qualifier)));
        // Sized with what is appended; the results are checked again when written.
        let sizing = cells
            .iter()
            .map(|c| (c.family.clone(), c.qualifier.clone(), c.value.clone()))
            .collect();
        let rewrite = |family: &str, qualifier: &Bytes, cell: Option<&Cell>| {
            let mut value = cell.map(|c| c.value.to_vec()).unwrap_or_default();
            for c in cells
                .iter()
                .filter(|c| c.family == family && c.qualifier == qualifier)
            {
                value.extend_from_slice(&c.value);
            }
            Ok(Bytes::from(value))
        };
        self.rewrite_columns(table, &row, columns, sizing, opts, rewrite)
    }

    /// What increment and append share: check `sizing` (family, qualifier, value of the
    /// puts the call is sized as) before anything else, lock `row`, read the latest version
    /// of each of `columns`, compute each new value with `rewrite(family, qualifier, latest)`,
    /// write them all in one row mutation, and reply with them.
    fn rewrite_columns(
        &self,
        table: &str,
        row: &Bytes,
        columns: Vec<(String, Bytes)>,
        sizing: Vec<(String, Bytes, Bytes)>,
        opts: &WriteOptions,
        mut rewrite: impl FnMut(&str, &Bytes, Option<&Cell>) -> Result<Bytes>,
    ) -> Result<Row> {
        let inner = &self.inner;
        inner.check_writable()?;
        let t = inner.catalog.table(table)?;
        let sizing = RowMutation {
            row: row.clone(),
            mutations: sizing
                .into_iter()
                .map(|(family, qualifier, value)| Mutation::SetCell {
                    family: family.into(),
                    qualifier,
                    value,
                    timestamp: 0,
                })
                .collect(),
        };
        inner.validate(&t, table, &sizing)?;
        let _row = inner.lock_row(&t, row, opts)?;
        let current = self.get(table, row, &selection(&columns))?;
        let now = crate::cell::now_micros();
        let mut mutations = Vec::with_capacity(columns.len());
        for (family, qualifier) in columns {
            let cell = latest(current.as_ref(), &family, &qualifier);
            let value = rewrite(&family, &qualifier, cell)?;
            mutations.push(Mutation::SetCell {
                timestamp: atomic::next_timestamp(now, cell.map(|c| c.timestamp)),
                family: family.into(),
                qualifier,
                value,
            });
        }
        let rm = RowMutation {
            row: row.clone(),
            mutations,
        };
        let reply = result_row(row, &rm);
        inner.write_rows(table, vec![rm], opts)?;
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::options::{DbOptions, FamilyOptions};

    fn delta() -> Vec<ColumnDelta> {
        vec![ColumnDelta {
            family: "f".into(),
            qualifier: Bytes::from_static(b"n"),
            delta: 1,
        }]
    }

    #[test]
    fn a_row_lock_held_too_long_stalls_the_next_operation_and_an_abandoned_one_gives_up() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(
            dir.path(),
            DbOptions {
                write_stall_timeout: Duration::from_millis(120),
                background_threads: false,
                ..DbOptions::default()
            },
        )
        .expect("open");
        db.create_table("t", vec![FamilyOptions::new("f")])
            .expect("create");
        let t = db.inner.catalog.table("t").expect("table");
        let held = t.row_locks.lock(b"r", Duration::ZERO).expect("free");
        let row = Bytes::from_static(b"r");
        let err = db
            .increment("t", row.clone(), delta(), &WriteOptions::default())
            .expect_err("the lock is held");
        assert!(
            matches!(&err, Error::Stalled { waiting_for, .. } if waiting_for.contains("row r")),
            "{err:?}"
        );
        let gave_up = WriteOptions {
            abandoned: Some(Arc::new(AtomicBool::new(true))),
        };
        let err = db
            .increment("t", row.clone(), delta(), &gave_up)
            .expect_err("abandoned");
        assert!(matches!(err, Error::Cancelled(_)), "{err:?}");
        drop(held);
        let r = db
            .increment("t", row, delta(), &WriteOptions::default())
            .expect("free again");
        assert_eq!(
            r.cells[0].value,
            Bytes::copy_from_slice(&1i64.to_be_bytes())
        );
    }
}
