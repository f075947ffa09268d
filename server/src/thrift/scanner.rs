//! Open scanners: the server-wide registry behind `scannerOpen*`, `scannerGet*` and
//! `scannerClose`, and the state of one scan between calls.
//!
//! Ids are per server (as in HBase: any connection may use any id), start at 0 and wrap. A
//! scanner not called for the lease (`thrift_scanner_lease`) is dropped, which releases the
//! engine snapshot it pins; a later call on it is an `IllegalArgument` naming the id. At most
//! `max_open` scanners are open at once (an open past it is an `IOError`). The registry's lock
//! is held only to find, add or remove an entry, never while a scan reads; a scan's own lock
//! serializes calls on one id. This module must never read the engine under the registry lock.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use strata_engine::Row;

use super::error::ThriftError;
use super::shape;
use super::types::TRowResult;

/// The rows a scan returns: the engine's scanner, through the scan's filter when it has one.
pub type ScanRows = Box<dyn Iterator<Item = strata_engine::Result<Row>> + Send>;

/// One scan between calls.
pub struct Scan {
    rows: ScanRows,
    sorted: bool,
    batch: usize,
    /// Parts of a row split by `batch` not yet returned.
    pending: VecDeque<Row>,
    done: bool,
}

impl Scan {
    /// A scan over `rows`: results as `sortedColumns` when `sorted`, rows cut into parts of at
    /// most `batch` cells when `batch > 0`.
    pub fn new(rows: ScanRows, sorted: bool, batch: usize) -> Scan {
        Scan {
            rows,
            sorted,
            batch,
            pending: VecDeque::new(),
            done: false,
        }
    }

    fn next_row(&mut self) -> Result<Option<Row>, ThriftError> {
        if let Some(part) = self.pending.pop_front() {
            return Ok(Some(part));
        }
        if self.done {
            return Ok(None);
        }
        match self.rows.next() {
            None => {
                self.done = true;
                Ok(None)
            }
            Some(Err(e)) => {
                self.done = true;
                Err(e.into())
            }
            Some(Ok(row)) => {
                let mut parts: VecDeque<Row> = shape::split(row, self.batch).into();
                let first = parts.pop_front();
                self.pending = parts;
                Ok(first)
            }
        }
    }

    /// The next `n` results; fewer only at the end, or when one more would take the reply past
    /// `max_bytes` (a reply holds at least one). Empty only at the end: with a filter that
    /// drops whole stretches of rows, the call reads on until it has a result or the table
    /// ends.
    pub fn next(&mut self, n: usize, max_bytes: usize) -> Result<Vec<TRowResult>, ThriftError> {
        let mut out = Vec::with_capacity(n.min(1024));
        let mut bytes = 0usize;
        while out.len() < n {
            let Some(row) = self.next_row()? else { break };
            let size = shape::encoded_size(&row);
            if !out.is_empty() && bytes.saturating_add(size) > max_bytes {
                self.pending.push_front(row);
                break;
            }
            bytes = bytes.saturating_add(size);
            out.push(shape::row_result(row, self.sorted));
        }
        Ok(out)
    }
}

struct Slot {
    scan: Arc<Mutex<Scan>>,
    last_used: Instant,
}

#[derive(Default)]
struct Open {
    next_id: i32,
    slots: HashMap<i32, Slot>,
}

/// The registry of open scanners.
pub struct Scanners {
    lease: Duration,
    max_open: usize,
    open: Mutex<Open>,
}

impl Scanners {
    /// A registry dropping scanners idle for `lease`, holding at most `max_open`.
    pub fn new(lease: Duration, max_open: usize) -> Scanners {
        Scanners {
            lease,
            max_open,
            open: Mutex::new(Open::default()),
        }
    }

    fn invalid(&self, id: i32) -> ThriftError {
        ThriftError::illegal(format!(
            "scanner ID {id} is invalid: it was never opened, was closed, or expired after {}s \
             without a call (thrift_scanner_lease)",
            self.lease.as_secs_f64()
        ))
    }

    /// Register a scan; its id.
    pub fn open(&self, scan: Scan, now: Instant) -> Result<i32, ThriftError> {
        let mut expired = Vec::new();
        let id = {
            let mut open = self.open.lock();
            self.take_expired(&mut open, now, &mut expired);
            if open.slots.len() >= self.max_open {
                return Err(ThriftError::io(format!(
                    "too many open scanners ({}): close scanners when done (happybase does at \
                     the end of a scan) or let idle ones expire",
                    self.max_open
                )));
            }
            let id = loop {
                let id = open.next_id;
                open.next_id = id.checked_add(1).unwrap_or(0);
                if !open.slots.contains_key(&id) {
                    break id;
                }
            };
            open.slots.insert(
                id,
                Slot {
                    scan: Arc::new(Mutex::new(scan)),
                    last_used: now,
                },
            );
            id
        };
        drop(expired); // released outside the lock
        Ok(id)
    }

    /// The scan behind `id`, its lease renewed.
    pub fn get(&self, id: i32, now: Instant) -> Result<Arc<Mutex<Scan>>, ThriftError> {
        let mut open = self.open.lock();
        let fresh = match open.slots.get_mut(&id) {
            Some(slot) if now.saturating_duration_since(slot.last_used) < self.lease => {
                slot.last_used = now;
                return Ok(slot.scan.clone());
            }
            Some(_) => false,
            None => true,
        };
        let stale = if fresh { None } else { open.slots.remove(&id) };
        drop(open);
        drop(stale);
        Err(self.invalid(id))
    }

    /// Renew `id`'s lease (after a long call), if it is still open.
    pub fn touch(&self, id: i32, now: Instant) {
        if let Some(slot) = self.open.lock().slots.get_mut(&id) {
            slot.last_used = now;
        }
    }

    /// Close `id`.
    pub fn close(&self, id: i32, now: Instant) -> Result<(), ThriftError> {
        self.get(id, now)?;
        let slot = self.open.lock().slots.remove(&id);
        match slot {
            Some(_) => Ok(()),
            None => Err(self.invalid(id)),
        }
    }

    fn take_expired(&self, open: &mut Open, now: Instant, into: &mut Vec<Slot>) {
        let lease = self.lease;
        let ids: Vec<i32> = open
            .slots
            .iter()
            .filter(|(_, s)| now.saturating_duration_since(s.last_used) >= lease)
            .map(|(id, _)| *id)
            .collect();
        into.extend(ids.into_iter().filter_map(|id| open.slots.remove(&id)));
    }

    /// Drop every scanner idle for the lease at `now`; how many.
    pub fn expire(&self, now: Instant) -> usize {
        let mut expired = Vec::new();
        self.take_expired(&mut self.open.lock(), now, &mut expired);
        expired.len()
    }

    /// Drop every scanner (at shutdown, before the store closes).
    pub fn clear(&self) {
        let all = std::mem::take(&mut self.open.lock().slots);
        drop(all);
    }

    /// Scanners open.
    pub fn len(&self) -> usize {
        self.open.lock().slots.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lease.
    pub fn lease(&self) -> Duration {
        self.lease
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use strata_engine::{Db, DbOptions, FamilyOptions, Mutation, RowMutation, ScanOptions};

    fn db_with_rows(n: usize) -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path(), DbOptions::default()).expect("open");
        db.create_table("t", vec![FamilyOptions::new("f")])
            .expect("create");
        let rows = (0..n)
            .map(|i| RowMutation {
                row: Bytes::from(format!("r{i:03}")),
                mutations: (0..3)
                    .map(|q| Mutation::SetCell {
                        family: "f".into(),
                        qualifier: Bytes::from(format!("q{q}")),
                        value: Bytes::from_static(b"v"),
                        timestamp: 0,
                    })
                    .collect(),
            })
            .collect();
        db.mutate_rows("t", rows).expect("write");
        (dir, db)
    }

    fn scan(db: &Db, batch: usize) -> Scan {
        Scan::new(
            Box::new(db.scan("t", ScanOptions::default()).expect("scan")),
            false,
            batch,
        )
    }

    #[test]
    fn get_list_returns_n_rows_until_the_end_and_empty_only_at_the_end() {
        let (_d, db) = db_with_rows(5);
        let mut s = scan(&db, 0);
        assert_eq!(s.next(2, usize::MAX).expect("ok").len(), 2);
        assert_eq!(s.next(2, usize::MAX).expect("ok").len(), 2);
        let last = s.next(2, usize::MAX).expect("ok");
        assert_eq!(last.len(), 1);
        assert_eq!(&last[0].row[..], b"r004");
        assert!(s.next(2, usize::MAX).expect("ok").is_empty());
        assert!(s.next(2, usize::MAX).expect("ok").is_empty());
    }

    #[test]
    fn a_byte_budget_shortens_a_reply_but_never_empties_it() {
        let (_d, db) = db_with_rows(4);
        let mut s = scan(&db, 0);
        let mut seen = Vec::new();
        loop {
            let got = s.next(10, 1).expect("ok");
            if got.is_empty() {
                break;
            }
            assert_eq!(got.len(), 1);
            seen.extend(got.into_iter().map(|r| r.row));
        }
        assert_eq!(seen.len(), 4, "nothing lost or repeated");
    }

    #[test]
    fn batch_size_splits_rows_into_parts_counted_as_results() {
        let (_d, db) = db_with_rows(2);
        let mut s = scan(&db, 2);
        let got = s.next(3, usize::MAX).expect("ok");
        let shape: Vec<(Vec<u8>, usize)> = got
            .iter()
            .map(|r| (r.row.to_vec(), r.columns.as_ref().map_or(0, |m| m.0.len())))
            .collect();
        assert_eq!(
            shape,
            vec![
                (b"r000".to_vec(), 2),
                (b"r000".to_vec(), 1),
                (b"r001".to_vec(), 2)
            ]
        );
        assert_eq!(s.next(3, usize::MAX).expect("ok").len(), 1);
    }

    #[test]
    fn ids_start_at_zero_and_close_forgets_them() {
        let (_d, db) = db_with_rows(1);
        let reg = Scanners::new(Duration::from_secs(60), 8);
        let now = Instant::now();
        assert_eq!(reg.open(scan(&db, 0), now), Ok(0));
        assert_eq!(reg.open(scan(&db, 0), now), Ok(1));
        reg.close(0, now).expect("open");
        match reg.close(0, now) {
            Err(ThriftError::IllegalArgument(m)) => assert!(m.contains("scanner ID 0"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(reg.get(1, now).is_ok());
        assert_eq!(reg.len(), 1);
    }

    #[test]
    fn an_idle_scanner_expires_after_the_lease_and_a_call_renews_it() {
        let (_d, db) = db_with_rows(1);
        let lease = Duration::from_secs(120);
        let reg = Scanners::new(lease, 8);
        let t0 = Instant::now();
        let a = reg.open(scan(&db, 0), t0).expect("open");
        let b = reg.open(scan(&db, 0), t0).expect("open");
        // b is used half-way through the lease; a is not.
        reg.get(b, t0 + lease / 2).expect("alive");
        assert_eq!(reg.expire(t0 + lease), 1);
        match reg.get(a, t0 + lease) {
            Err(ThriftError::IllegalArgument(m)) => {
                assert!(m.contains(&format!("scanner ID {a}")), "{m}");
                assert!(m.contains("thrift_scanner_lease"), "{m}");
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("expired scanner still answers"),
        }
        assert!(reg.get(b, t0 + lease).is_ok());
        // Expiry also holds between sweeps.
        assert!(reg.get(b, t0 + lease * 3).is_err());
        assert!(reg.is_empty());
    }

    #[test]
    fn the_open_cap_is_an_io_error_and_frees_with_expiry() {
        let (_d, db) = db_with_rows(1);
        let lease = Duration::from_secs(10);
        let reg = Scanners::new(lease, 2);
        let t0 = Instant::now();
        reg.open(scan(&db, 0), t0).expect("open");
        reg.open(scan(&db, 0), t0).expect("open");
        match reg.open(scan(&db, 0), t0) {
            Err(ThriftError::Io(m)) => assert!(m.contains("too many open scanners"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(reg.open(scan(&db, 0), t0 + lease).is_ok());
        reg.clear();
        assert!(reg.is_empty());
    }
}
