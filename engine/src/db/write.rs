//! The write path: sizing and validation (mutations expanded into cells, see `mutation.rs`),
//! back-pressure, sequencing, WAL append, memtable insert, group commit and visibility.
//!
//! A call is sized against the limits before anything is locked or allocated for it. Then,
//! holding only its table's writer lock, it waits for room (bounded by
//! `write_stall_timeout`); under the store-wide write lock it only takes its sequence numbers
//! and appends one WAL record, so it never holds up writers of other tables for longer than
//! that append; it inserts its rows under the table's writer lock alone, freezing the
//! memtable between rows once it is full; reads of the table see none of it until every row
//! is in and the record is durable. This file must never write the manifest or a table file.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::Guard;
use parking_lot::MutexGuard;

use super::DbInner;
use crate::cell::SeqNo;
use crate::error::{Error, Result};
use crate::filename::wal_dir;
use crate::fs::FileSyncer;
use crate::mutation::{Mutation, RowMutation, WriteStats};
use crate::options::{Limits, MAX_WRITE_BYTES, SyncMode};
use crate::table::{FamilySchema, Table};
use crate::version::TableVersion;
use crate::wal::RECORD_HEADER_LEN;
use crate::write_batch::{RowCells, WriteBatch};

/// Writes are slowed by a millisecond each once a table's files form this many sorted runs
/// (overlap depth, what a read merges: `TableVersion::sorted_runs`; disjoint files are one
/// run however many they are, so time-ordered keys never stall, review M1)...
const SLOWDOWN_RUNS: usize = 40;
/// ...and stall until compaction catches up at this many.
const STALL_RUNS: usize = 64;

/// Whether `v`'s files form at least `runs` sorted runs (counted only when there are that
/// many files: the count is at most the number of files).
fn runs_at_least(v: &crate::version::TableVersion, runs: usize) -> bool {
    v.files.len() >= runs && v.sorted_runs() >= runs
}
/// A durable call of at least this many cells runs its fsync beside its memtable insert
/// (a thread per call: worth it once the insert takes longer than starting one, ~30 us).
const OVERLAP_SYNC_CELLS: u64 = 256;
/// A stalled writer rechecks the store's state at least this often.
const STALL_POLL: Duration = Duration::from_millis(100);
/// The least a cell adds to its call's WAL payload (v3, write_batch.rs) besides its value:
/// kind, column index, timestamp delta and value length, one byte each at least. Its family
/// and qualifier are named once per call in the column list, so they are not counted per
/// cell: the estimate below is a lower bound of the encoding, which only refuses a call
/// early when its encoding is certain to be over the limit (the exact check follows the
/// encoding). A call it lets through costs at most its own size again to expand (cells
/// share the request's buffers) and encode before that check...
const CELL_MIN_BYTES: usize = 4;
/// ...that a row adds besides its key (key length, cell count)...
const ROW_MIN_BYTES: usize = 2;
/// ...and a call (version, table id, first sequence number, row and column counts).
const CALL_MIN_BYTES: usize = 15;

/// How a caller may give up on one write call.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// Set by the caller when it stops waiting (its RPC was cancelled or its deadline
    /// passed). A write that has not taken its sequence numbers yet then ends with
    /// [`Error::Cancelled`] and is never applied; one that has is applied as usual.
    pub abandoned: Option<Arc<AtomicBool>>,
}

impl WriteOptions {
    fn is_abandoned(&self) -> bool {
        self.abandoned
            .as_ref()
            .is_some_and(|a| a.load(Ordering::Acquire))
    }
}

/// What a call adds up to after expansion, counted before expanding it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct CallSize {
    pub cells: usize,
    pub bytes: usize,
}

/// Size `rows` as they will expand (a row delete is one marker per family) and at least
/// encode, and check them against `limits`, before anything is expanded or allocated.
///
/// # Errors
///
/// [`Error::InvalidArgument`] naming the limit passed (and the row, for a per-row limit).
pub(super) fn check_call_size(
    rows: &[RowMutation],
    schema: &[FamilySchema],
    limits: &Limits,
) -> Result<CallSize> {
    let all_families: usize = schema.len() * CELL_MIN_BYTES;
    let max_bytes = limits.max_bytes_per_call.min(MAX_WRITE_BYTES);
    let mut total = CallSize {
        cells: 0,
        bytes: CALL_MIN_BYTES,
    };
    for rm in rows {
        let mut cells = 0usize;
        let mut bytes = ROW_MIN_BYTES + rm.row.len();
        for m in &rm.mutations {
            // `{ .. }` on every variant: sizing stays right when a delete kind gains fields.
            #[allow(clippy::unneeded_struct_pattern)]
            let (c, b) = match m {
                Mutation::SetCell { value, .. } => (1, CELL_MIN_BYTES + value.len()),
                Mutation::DeleteCells { .. }
                | Mutation::DeleteColumnUpTo { .. }
                | Mutation::DeleteFamily { .. }
                | Mutation::DeleteFamilyUpTo { .. } => (1, CELL_MIN_BYTES),
                Mutation::DeleteRow { .. } | Mutation::DeleteRowUpTo { .. } => {
                    (schema.len(), all_families)
                }
            };
            cells = cells.saturating_add(c);
            bytes = bytes.saturating_add(b);
        }
        if cells > limits.max_cells_per_row {
            return Err(Error::InvalidArgument(format!(
                "row {} expands to {cells} cells, over max_cells_per_row ({})",
                shown_key(&rm.row),
                limits.max_cells_per_row
            )));
        }
        total.cells = total.cells.saturating_add(cells);
        total.bytes = total.bytes.saturating_add(bytes);
        check_call_totals(&total, limits, max_bytes)?;
    }
    Ok(total)
}

fn check_call_totals(total: &CallSize, limits: &Limits, max_bytes: usize) -> Result<()> {
    if total.cells > limits.max_cells_per_call {
        return Err(Error::InvalidArgument(format!(
            "the call expands to more than max_cells_per_call ({}) cells",
            limits.max_cells_per_call
        )));
    }
    if total.bytes > max_bytes {
        return Err(Error::InvalidArgument(format!(
            "the call encodes to more than max_bytes_per_call ({max_bytes}) bytes"
        )));
    }
    Ok(())
}

/// The store's WAL sync helpers: long-lived threads that run a large call's fsync while its
/// own thread inserts. They live as long as the store, so a call costs a queued job, not a
/// thread started and joined: a thread per call cost its creation every call and, under the
/// system allocator, made the writer wait on glibc's arena locks (58% of the writer's
/// context switches in compare's durable writes, docs/design/write-path.md, "Shared family
/// names and long-lived sync helpers"). Two threads, so two writers of `always` fsync side by
/// side as they did on threads of their own. `None` when no thread could be started: then
/// the fsync and the insert run one after the other on the caller's thread.
pub(super) struct SyncHelpers(Option<rayon::ThreadPool>);

impl std::fmt::Debug for SyncHelpers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SyncHelpers")
            .field(&self.0.as_ref().map(rayon::ThreadPool::current_num_threads))
            .finish()
    }
}

impl SyncHelpers {
    /// Start the helper threads (`strata-wal-sync`).
    pub(super) fn start() -> SyncHelpers {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .thread_name(|_| "strata-wal-sync".into())
            .build();
        match pool {
            Ok(p) => SyncHelpers(Some(p)),
            Err(e) => {
                tracing::warn!(error = %e, "no WAL sync helper threads; large calls sync before inserting");
                SyncHelpers(None)
            }
        }
    }

    /// Run `sync` on a helper while this thread runs `insert`, and return once both are done,
    /// so the reply still waits for the fsync (and visibility still follows it: reads of the
    /// table stop below a call until its insert clears `inserting_from`).
    fn sync_while(
        &self,
        sync: impl Fn() -> Result<()> + Sync,
        insert: impl FnOnce(),
    ) -> Result<()> {
        let Some(pool) = &self.0 else {
            insert();
            return sync();
        };
        let mut synced = None;
        pool.in_place_scope(|s| {
            let out = &mut synced;
            let sync = &sync;
            s.spawn(move |_| *out = Some(sync()));
            insert();
        });
        // The scope returns after its job ran (a panic in it is resumed by the scope).
        synced.unwrap_or_else(&sync)
    }
}

/// Encode buffers kept between calls: a call's WAL record is built in one, and a buffer of
/// a few hundred KB allocated fresh every call costs its page faults (the kernel zeroing new
/// pages) every call. A leaf lock, held only to take or give back one buffer.
#[derive(Debug, Default)]
pub(super) struct EncodeBuffers(parking_lot::Mutex<Vec<Vec<u8>>>);

/// Buffers kept at most (one per writer running at once is enough)...
const KEPT_BUFFERS: usize = 4;
/// ...each at most this large (a larger one goes back to the allocator).
const KEPT_BUFFER_BYTES: usize = 8 << 20;

impl EncodeBuffers {
    /// An empty buffer with room for at least `bytes`.
    fn take(&self, bytes: usize) -> Vec<u8> {
        let mut buf = self.0.lock().pop().unwrap_or_default();
        buf.clear();
        buf.reserve(bytes);
        buf
    }

    /// Keep `buf` for a later call, unless enough are kept or it is too large.
    fn give_back(&self, buf: Vec<u8>) {
        if buf.capacity() <= KEPT_BUFFER_BYTES {
            let mut kept = self.0.lock();
            if kept.len() < KEPT_BUFFERS {
                kept.push(buf);
            }
        }
    }
}

/// What `row`'s cells add to a memtable's size.
fn row_charge(row: &RowCells) -> usize {
    row.cells
        .iter()
        .map(|(_, f, q, _, v)| {
            crate::memtable::entry_charge(row.row.len(), f.len(), q.len(), v.len())
        })
        .sum()
}

/// A row key for a message: at most 64 bytes of it, lossily as text.
fn shown_key(row: &[u8]) -> String {
    String::from_utf8_lossy(row.get(..row.len().min(64)).unwrap_or_default()).into_owned()
}

impl DbInner {
    /// Validate, sequence, log and apply `rows` (see `Db::mutate_rows_with`).
    pub(super) fn write_rows(
        &self,
        table: &str,
        rows: Vec<RowMutation>,
        opts: &WriteOptions,
    ) -> Result<WriteStats> {
        let started = Instant::now();
        let t = self.catalog.enabled_table(table)?;
        let schema = t.schema.load_full();
        let limits = &self.options.limits;
        let size = check_call_size(&rows, &schema, limits)?;
        let now = crate::cell::now_micros();
        let nrows = rows.len() as u64;
        let mut expanded = Vec::with_capacity(rows.len());
        for rm in rows {
            expanded.push(rm.expand(table, &schema, limits, now)?);
        }
        let mut batch = WriteBatch {
            table_id: t.id,
            first_seq: 0,
            rows: expanded,
        };
        let ncells = batch.cell_count();
        if ncells == 0 {
            return Ok(WriteStats {
                rows: nrows,
                cells: 0,
            });
        }
        // Encode outside every lock, after room for the WAL record header, into a buffer
        // kept from an earlier call (a fresh one costs its page faults every call); only
        // the sequence number is patched in under the write lock. The estimate above is
        // a lower bound of this encoding; this is the exact check.
        let mut frame = self.encode_buffers.take(RECORD_HEADER_LEN + size.bytes);
        frame.resize(RECORD_HEADER_LEN, 0);
        batch.encode_into(&mut frame);
        let payload_len = frame.len() - RECORD_HEADER_LEN;
        let max_bytes = limits.max_bytes_per_call.min(MAX_WRITE_BYTES);
        if payload_len > max_bytes {
            self.encode_buffers.give_back(frame);
            return Err(Error::InvalidArgument(format!(
                "the call encodes to {payload_len} bytes, over max_bytes_per_call ({max_bytes})"
            )));
        }
        self.slow_down_near_the_limits(&t);

        let mut writer = t.writer.lock();
        if let Err(e) = self.wait_for_room(&t, &mut writer, started, opts) {
            self.encode_buffers.give_back(frame);
            return Err(e);
        }
        let appended = self.append_call(&t, &mut batch, &mut frame, ncells, opts);
        self.encode_buffers.give_back(frame);
        let (wal_over_budget, own_syncer) = appended?;
        t.counters
            .user_bytes
            .fetch_add(payload_len as u64, Ordering::Relaxed);
        t.counters
            .cells_written
            .fetch_add(ncells, Ordering::Relaxed);
        let last = batch.first_seq + ncells - 1;
        let insert = || {
            self.insert(&t, batch);
            t.inserting_from.store(SeqNo::MAX, Ordering::SeqCst);
            drop(writer);
        };
        let sync = || match self.options.sync_mode {
            SyncMode::None => Ok(()),
            SyncMode::Group => self.group_sync(last),
            SyncMode::Always => self.sync_own(&own_syncer, last),
        };
        if self.options.sync_mode == SyncMode::None || ncells < OVERLAP_SYNC_CELLS {
            insert();
            sync()?;
        } else {
            self.sync_helpers.sync_while(sync, insert)?;
        }
        if wal_over_budget {
            self.relieve_wal_pressure();
        }
        Ok(WriteStats {
            rows: nrows,
            cells: ncells,
        })
    }

    /// Under the store-wide write lock: take `batch`'s sequence numbers, append its record
    /// (`frame`: room for the record header, then the encoded batch) and mark `t` inserting
    /// from its first number. Returns whether the WAL is now over `max_total_wal_bytes`, and
    /// the segment's syncer (for `always`: a fsync through it, started after this append,
    /// covers it and everything before it).
    ///
    /// # Errors
    ///
    /// The store's or the table's state, a cancelled call (nothing applied), or the
    /// device's error of the rotation or the append (the store turns read-only).
    fn append_call(
        &self,
        t: &Table,
        batch: &mut WriteBatch,
        frame: &mut [u8],
        ncells: u64,
        opts: &WriteOptions,
    ) -> Result<(bool, Arc<dyn FileSyncer>)> {
        let mut w = self.write.lock();
        self.check_writable()?;
        if t.dropped.load(Ordering::Acquire) {
            return Err(Error::TableNotFound(t.name.clone()));
        }
        // The last moment to give up: from here on the write is applied.
        if opts.is_abandoned() {
            return Err(Error::Cancelled(t.name.clone()));
        }
        batch.first_seq = w.next_seq;
        if let Some(payload) = frame.get_mut(RECORD_HEADER_LEN..) {
            WriteBatch::set_first_seq(payload, batch.first_seq);
        }
        let last = batch.first_seq + ncells - 1;
        if w.wal.len() >= self.options.wal_segment_bytes
            && let Err(e) = self.rotate_wal(&mut w)
        {
            self.catalog.health.set_read_only(&e);
            return Err(e);
        }
        // The size was checked against the record limit above, so an error here is the
        // device's: the bytes on disk are unknown.
        if let Err(e) = w.wal.append_framed(frame) {
            self.catalog.health.set_read_only(&e);
            return Err(e);
        }
        w.next_seq = last + 1;
        w.last_written = last;
        w.current_max_seq = last;
        // Before anything says the record is durable: reads of this table stop below it
        // until every row is in the memtable.
        t.inserting_from.store(batch.first_seq, Ordering::SeqCst);
        if self.options.sync_mode == SyncMode::None {
            self.catalog.visible_seq.fetch_max(last, Ordering::SeqCst);
        }
        // `always`: this write's own fsync, started after its append (below, outside
        // the lock, beside the insert for a large call).
        Ok((
            w.total_bytes() > self.options.max_total_wal_bytes,
            w.syncer.clone(),
        ))
    }

    /// Back-pressure, first gently: near the limits each write waits a millisecond (holding
    /// no lock) so flushes and compactions can catch up.
    fn slow_down_near_the_limits(&self, t: &Table) {
        if !self.options.background_threads {
            return;
        }
        let v = t.version.load();
        let near = v.immutables.len() + 1 >= self.options.max_immutable_memtables
            || runs_at_least(&v, SLOWDOWN_RUNS);
        drop(v);
        if near {
            t.counters.write_slowdowns.fetch_add(1, Ordering::Relaxed);
            self.signal_flush();
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Then hard: with `t`'s writer lock held, freeze a full memtable if there is room for
    /// one more frozen one, else wait (at most `write_stall_timeout` from `started`) while the
    /// table has too many frozen memtables or its reads would look in too many files.
    ///
    /// # Errors
    ///
    /// [`Error::Stalled`] when the wait times out, [`Error::Cancelled`] when the caller gives
    /// up, [`Error::ReadOnly`] / [`Error::Closed`] / [`Error::TableNotFound`] when the store
    /// or the table goes away meanwhile; the error of a flush run here (no background thread).
    fn wait_for_room(
        &self,
        t: &Arc<Table>,
        writer: &mut MutexGuard<'_, ()>,
        started: Instant,
        opts: &WriteOptions,
    ) -> Result<()> {
        let deadline = started + self.options.write_stall_timeout;
        let mut stalled = false;
        loop {
            self.check_writable()?;
            if t.dropped.load(Ordering::Acquire) {
                return Err(Error::TableNotFound(t.name.clone()));
            }
            if opts.is_abandoned() {
                return Err(Error::Cancelled(t.name.clone()));
            }
            let v = t.version.load();
            let full = v.active.approximate_bytes() >= self.options.memtable_bytes;
            let frozen = v.immutables.len();
            if full && frozen < self.options.max_immutable_memtables {
                drop(v);
                self.rotate_memtable(t);
                continue;
            }
            let waiting_for = if full {
                "memtable flushes"
            } else if self.options.background_threads && runs_at_least(&v, STALL_RUNS) {
                "compactions"
            } else {
                return Ok(());
            };
            drop(v);
            if !stalled {
                stalled = true;
                t.counters.write_stalls.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(table = %t.name, waiting_for, "writes stalled");
            }
            if !self.options.background_threads {
                // Nobody else will flush: do it here (the flush takes the locks after ours).
                self.flush_immutables(t)?;
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Stalled {
                    table: t.name.clone(),
                    waited_ms: u64::try_from(now.duration_since(started).as_millis())
                        .unwrap_or(u64::MAX),
                    waiting_for: waiting_for.to_string(),
                });
            }
            self.signal_flush();
            self.signal_compaction();
            t.room.wait_for(writer, (deadline - now).min(STALL_POLL));
        }
    }

    /// Insert `batch` into `t`'s memtables (caller holds `t.writer`), freezing the active
    /// memtable between rows once it reaches its budget: one call overshoots a memtable's
    /// budget by at most one row. A frozen memtable may then wait beyond
    /// `max_immutable_memtables` (the next write waits for room instead).
    ///
    /// When the whole call fits in the active memtable its rows go in in key order (each
    /// with the sequence numbers of its place in the call): consecutive skiplist searches
    /// then share most of their path, which stays in the CPU cache, instead of each walking
    /// cold nodes from the top (rows arrive in any order, e.g. clickstream keys start with
    /// a random session id). Readers see none of the call until all of it is in, so the
    /// order inside it is invisible.
    fn insert(&self, t: &Table, batch: WriteBatch) {
        let budget = self.options.memtable_bytes;
        let mut active = t.version.load().active.clone();
        let mut seq = batch.first_seq;
        let mut rows: Vec<(SeqNo, RowCells)> = Vec::with_capacity(batch.rows.len());
        let mut bytes = 0usize;
        for row in batch.rows {
            bytes = bytes.saturating_add(row_charge(&row));
            let n = row.cells.len() as u64;
            rows.push((seq, row));
            seq += n;
        }
        let fits = active.approximate_bytes().saturating_add(bytes) < budget;
        if fits {
            rows.sort_by(|a, b| a.1.row.cmp(&b.1.row));
        }
        for (first, row) in rows {
            if !fits && active.approximate_bytes() >= budget && !active.is_empty() {
                self.rotate_memtable(t);
                active = t.version.load().active.clone();
            }
            active.insert_row(row, first);
            #[cfg(test)]
            self.hooks.run_mid_insert();
        }
    }

    /// `always`: fsync the WAL with `syncer` (taken under the write lock after this write's
    /// append, so the fsync covers it and everything before it), then make it visible.
    fn sync_own(&self, syncer: &Arc<dyn FileSyncer>, last: SeqNo) -> Result<()> {
        if let Err(e) = syncer.sync() {
            let e = Error::io(wal_dir(&self.catalog.dir), e);
            self.catalog.health.set_read_only(&e);
            return Err(e);
        }
        self.catalog.visible_seq.fetch_max(last, Ordering::SeqCst);
        Ok(())
    }

    /// Group commit: the first writer to arrive syncs for everyone appended before it.
    fn group_sync(&self, mine: SeqNo) -> Result<()> {
        let mut synced = self.synced.lock();
        if *synced >= mine {
            return Ok(());
        }
        let (target, syncer) = {
            let w = self.write.lock();
            (w.last_written, w.syncer.clone())
        };
        if let Err(e) = syncer.sync() {
            let e = Error::io(wal_dir(&self.catalog.dir), e);
            self.catalog.health.set_read_only(&e);
            return Err(e);
        }
        *synced = target;
        self.catalog.visible_seq.fetch_max(target, Ordering::SeqCst);
        Ok(())
    }

    /// The snapshot a read of `t` takes now: everything durable, except a write to `t`
    /// still being inserted (and what came after it).
    pub(super) fn snapshot(&self, t: &Table) -> SeqNo {
        // This order: a write marks itself inserting before its record can count as
        // durable, so a durable sequence number read first is never one half-inserted.
        let durable = self.catalog.visible_seq.load(Ordering::SeqCst);
        let inserting = t.inserting_from.load(Ordering::SeqCst);
        durable.min(inserting.saturating_sub(1))
    }

    /// The version a read of `t` uses and its snapshot, from one moment.
    ///
    /// The version is loaded before the snapshot: compaction GC never applies an entry above
    /// the visible sequence number at its start, so a version loaded first cannot lack what
    /// the snapshot shows (review L9). But a version loaded first may predate a memtable
    /// freeze in the middle of a call, and miss the memtable its later rows went to, while
    /// the snapshot read after it counts that call as done: so when the version changed
    /// meanwhile, both are taken again (a version changes at a freeze, flush or compaction,
    /// so this retries rarely).
    pub(super) fn read_view(&self, t: &Table) -> (Guard<Arc<TableVersion>>, SeqNo) {
        loop {
            let version = t.version.load();
            #[cfg(test)]
            self.hooks.run_mid_read_view();
            let snapshot = self.snapshot(t);
            if Arc::ptr_eq(&version, &t.version.load()) {
                return (version, snapshot);
            }
        }
    }

    /// Freeze `t`'s active memtable, taking its writer lock.
    pub(crate) fn freeze_memtable(&self, t: &Table) {
        let _writer = t.writer.lock();
        self.rotate_memtable(t);
    }

    /// Freeze `t`'s active memtable (caller holds `t.writer`, or is recovery).
    pub(super) fn rotate_memtable(&self, t: &Table) {
        let rotated = t.install(|v| {
            if v.active.is_empty() {
                return false;
            }
            let frozen =
                std::mem::replace(&mut v.active, Arc::new(crate::memtable::MemTable::new()));
            v.immutables.push(frozen);
            true
        });
        if rotated {
            self.signal_flush();
        }
    }
}
