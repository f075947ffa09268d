//! Open scanners: the server-wide registry behind `scannerOpen*`, `scannerGet*` and
//! `scannerClose`, and the state of one scan between calls.
//!
//! Ids are per server (as in HBase: any connection may use any id), start at 0 and wrap. A
//! scanner not called for the lease (`thrift_scanner_lease`) is dropped, which releases the
//! engine snapshot it reads at; a later call on it is an `IllegalArgument` naming the id.
//! Between calls a scanner holds no table version (it re-opens on the current one, at its
//! snapshot, when called again). Open scanners count against the server's scan caps, shared
//! with gRPC scans (`max_scans`, and `max_scans_per_connection` for the connection that opened
//! it: `scan_budget.rs`); an open past them is an `IOError` "too many open scanners". The
//! registry's lock is held only to find, add or remove an entry, never while a scan reads; a
//! scan's own lock serializes calls on one id. This module must never read the engine under
//! the registry lock.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use strata_engine::filter::{FilterDecision, FilterState};
use strata_engine::{Row, RowScanner};

use super::error::ThriftError;
use super::shape;
use super::types::TRowResult;
use crate::scan_budget::{ConnectionId, ScanBudget, ScanSlot, TooManyScans};

/// One scan between calls: the engine's scanner, through the scan's filter when it has one.
pub struct Scan {
    rows: RowScanner,
    filter: Option<FilterState>,
    sorted: bool,
    batch: usize,
    /// Parts of a row split by `batch` not yet returned.
    pending: VecDeque<Row>,
    done: bool,
}

impl Scan {
    /// A scan over `rows`: results as `sortedColumns` when `sorted`, rows cut into parts of at
    /// most `batch` cells when `batch > 0`; only the rows `filter` keeps.
    pub fn new(rows: RowScanner, filter: Option<FilterState>, sorted: bool, batch: usize) -> Scan {
        Scan {
            rows,
            filter,
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
        loop {
            if self.filter.as_ref().is_some_and(FilterState::is_finished) {
                self.done = true;
                return Ok(None);
            }
            let row = match self.rows.next() {
                None => {
                    self.done = true;
                    return Ok(None);
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Err(e.into());
                }
                Some(Ok(row)) => row,
            };
            let row = match &mut self.filter {
                None => row,
                Some(f) => match f.apply(row) {
                    FilterDecision::Include(row) => row,
                    FilterDecision::Skip => continue,
                    FilterDecision::StopScan => {
                        self.done = true;
                        return Ok(None);
                    }
                },
            };
            let mut parts: VecDeque<Row> = shape::split(row, self.batch).into();
            let first = parts.pop_front();
            self.pending = parts;
            return Ok(first);
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

    /// Let go of the table version until the next call (the snapshot stays).
    pub fn release(&mut self) {
        self.rows.release();
    }
}

struct Slot {
    scan: Arc<Mutex<Scan>>,
    last_used: Instant,
    /// Its place under the server's scan caps.
    _slot: ScanSlot,
}

#[derive(Default)]
struct Open {
    next_id: i32,
    slots: HashMap<i32, Slot>,
}

/// The registry of open scanners.
pub struct Scanners {
    lease: Duration,
    budget: Arc<ScanBudget>,
    open: Mutex<Open>,
}

impl Scanners {
    /// The most scanners the server's caps let be open at once (gRPC scans included).
    pub fn max_open(&self) -> usize {
        self.budget.limits().max_scans
    }

    /// A registry dropping scanners idle for `lease`, its scanners counting in `budget`.
    pub fn new(lease: Duration, budget: Arc<ScanBudget>) -> Scanners {
        Scanners {
            lease,
            budget,
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

    /// Count a scan about to be opened by `conn` under the caps (before it takes a
    /// snapshot); [`Scanners::open`] registers it.
    pub fn reserve(&self, conn: ConnectionId, now: Instant) -> Result<ScanSlot, ThriftError> {
        // Expired scanners give their places back first.
        drop(self.expire_taken(now));
        self.budget.open(conn).map_err(|e| {
            let (max, setting) = match e {
                TooManyScans::Server { max } => (max, "max_scans, shared with gRPC scans"),
                TooManyScans::Connection { max, .. } => (max, "max_scans_per_connection"),
            };
            ThriftError::io(format!(
                "too many open scanners ({max}, {setting}): close scanners when done \
                 (happybase does at the end of a scan) or let idle ones expire"
            ))
        })
    }

    /// Register a scan counted by `slot`; its id.
    pub fn open(&self, scan: Scan, slot: ScanSlot, now: Instant) -> Result<i32, ThriftError> {
        let mut expired = Vec::new();
        let id = {
            let mut open = self.open.lock();
            self.take_expired(&mut open, now, &mut expired);
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
                    _slot: slot,
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

    fn expire_taken(&self, now: Instant) -> Vec<Slot> {
        let mut expired = Vec::new();
        self.take_expired(&mut self.open.lock(), now, &mut expired);
        expired
    }

    /// Drop every scanner idle for the lease at `now`; how many.
    pub fn expire(&self, now: Instant) -> usize {
        self.expire_taken(now).len()
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

    fn conn(port: u16) -> ConnectionId {
        ConnectionId {
            protocol: crate::scan_budget::Protocol::Thrift,
            client: Some(std::net::SocketAddr::from(([127, 0, 0, 1], port))),
        }
    }

    fn registry(lease: Duration, max: usize, per_connection: usize) -> Scanners {
        Scanners::new(
            lease,
            ScanBudget::new(crate::scan_budget::ScanLimits {
                max_scans: max,
                max_scans_per_connection: per_connection,
                scan_buffer_bytes: 1 << 20,
            }),
        )
    }

    /// Open a scanner of `db` on connection `port`.
    fn open(reg: &Scanners, db: &Db, port: u16, now: Instant) -> Result<i32, ThriftError> {
        let slot = reg.reserve(conn(port), now)?;
        reg.open(scan(db, 0), slot, now)
    }

    fn scan(db: &Db, batch: usize) -> Scan {
        Scan::new(
            db.scan("t", ScanOptions::default()).expect("scan"),
            None,
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
        let reg = registry(Duration::from_secs(60), 8, 8);
        let now = Instant::now();
        assert_eq!(open(&reg, &db, 1, now), Ok(0));
        assert_eq!(open(&reg, &db, 1, now), Ok(1));
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
        let reg = registry(lease, 8, 8);
        let t0 = Instant::now();
        let a = open(&reg, &db, 1, t0).expect("open");
        let b = open(&reg, &db, 1, t0).expect("open");
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
    fn the_shared_caps_are_io_errors_and_free_with_expiry_and_close() {
        let (_d, db) = db_with_rows(1);
        let lease = Duration::from_secs(10);
        let reg = registry(lease, 3, 2);
        let t0 = Instant::now();
        let a = open(&reg, &db, 1, t0).expect("open");
        open(&reg, &db, 1, t0).expect("open");
        match open(&reg, &db, 1, t0) {
            Err(ThriftError::Io(m)) => {
                assert!(m.contains("too many open scanners"), "{m}");
                assert!(m.contains("max_scans_per_connection"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        open(&reg, &db, 2, t0).expect("another connection");
        match open(&reg, &db, 3, t0) {
            Err(ThriftError::Io(m)) => {
                assert!(m.contains("too many open scanners (3, max_scans"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        reg.close(a, t0).expect("close");
        assert_eq!(reg.budget.open_scans(), 2);
        open(&reg, &db, 3, t0).expect("a close gives its place back");
        // Expiry too, at the next open.
        assert!(open(&reg, &db, 4, t0 + lease).is_ok());
        assert_eq!(reg.budget.open_scans(), 1);
        reg.clear();
        assert!(reg.is_empty());
        assert_eq!(reg.budget.open_scans(), 0);
    }
}
