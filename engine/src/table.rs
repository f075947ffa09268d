//! `Table`: one open table in memory: its schema (families as reads see them), its current
//! [`TableVersion`] (memtables and files), the locks that serialize changes to it, and its
//! counters. [`Table::install`] is the only way to publish a new version.
//!
//! This module must never change the manifest (the catalog does) or do I/O.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use parking_lot::{Condvar, Mutex};

use crate::cell::SeqNo;
use crate::error::Error;
use crate::events::EventLog;
use crate::manifest::TableState;
use crate::options::{Compression, FLUSH_ZSTD_LEVEL, FamilyOptions};
use crate::sstable::TableBuildOptions;
use crate::version::TableVersion;

/// A family as reads, writes and compaction see it.
#[derive(Clone, Debug)]
pub struct FamilySchema {
    /// The family name, shared by every cell written to it.
    pub name: Arc<str>,
    /// Options.
    pub options: FamilyOptions,
    /// Entries with a smaller sequence number belong to an earlier family of the same name.
    pub created_seq: SeqNo,
}

/// Counters of one table since open.
#[derive(Debug, Default)]
pub(crate) struct TableCounters {
    pub flushes: AtomicU64,
    pub compactions: AtomicU64,
    pub compaction_bytes_in: AtomicU64,
    pub compaction_bytes_out: AtomicU64,
    pub write_stalls: AtomicU64,
    pub write_slowdowns: AtomicU64,
    /// Bytes of WAL records written for this table (the user's bytes).
    pub user_bytes: AtomicU64,
    /// Bytes of table files written by flushes.
    pub flush_bytes: AtomicU64,
    /// Cells (values and delete markers) applied by writes (not by ingested files).
    pub cells_written: AtomicU64,
}

/// Why a table is unavailable: the files listed for it that could not be opened, each with
/// the reason.
#[derive(Debug)]
pub(crate) struct Damage {
    pub files: Vec<(PathBuf, String)>,
}

impl Damage {
    /// The error every call on table `table` answers.
    pub fn error(&self, table: &str) -> Error {
        let (path, what) = self.files.first().cloned().unwrap_or_default();
        let what = match self.files.len() {
            0 | 1 => what,
            n => format!("{what}; and {} more of its files", n - 1),
        };
        Error::TableUnavailable {
            table: table.to_string(),
            path,
            what,
        }
    }
}

/// The next table generation: one counter for the process, so a table dropped and re-created
/// under its name never repeats a generation its predecessor had.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed)
}

/// One open table.
#[derive(Debug)]
pub(crate) struct Table {
    pub id: u32,
    pub name: String,
    pub schema: ArcSwap<Vec<FamilySchema>>,
    pub version: ArcSwap<TableVersion>,
    /// Serializes changes to `version` (taken only inside [`Table::install`]).
    version_lock: Mutex<()>,
    /// Serializes flushes of this table.
    pub flush_lock: Mutex<()>,
    /// Serializes compactions of this table (they run alongside flushes and ingests).
    pub compaction_lock: Mutex<()>,
    /// Serializes this table's writers and memtable rotations: a writer holds it from its
    /// wait for room through its memtable inserts (not across the group-commit fsync), so
    /// one table's writes are inserted in sequence order and never into a frozen memtable.
    /// Writers of other tables never wait for it.
    pub writer: Mutex<()>,
    /// Writers of this table stalled for room wait here, with `writer`; notified after each
    /// flush and compaction round.
    pub room: Condvar,
    /// The first sequence number of the write being inserted into this table's memtables,
    /// `SeqNo::MAX` when none is: reads of the table see only what is below it (a row is
    /// atomic), and the WAL keeps every segment from it on.
    pub inserting_from: AtomicU64,
    pub counters: TableCounters,
    /// Recent flushes, compactions and ingests.
    pub events: EventLog,
    pub dropped: AtomicBool,
    /// Disabled (the manifest's `TableState::disabled`): reads and writes refuse it
    /// ([`crate::catalog::Catalog::enabled_table`]).
    pub disabled: AtomicBool,
    /// Serializes read-modify-write operations per row (`db/read_modify_write.rs`).
    pub row_locks: crate::row_lock::RowLocks,
    /// Set at open when some of its files could not be opened: the table then answers
    /// nothing but [`Damage::error`] (it is still flushed, so what the WAL holds for it is
    /// kept, and never compacted).
    pub damage: Option<Damage>,
    /// Taken anew after every version install and schema change (see `data_version.rs`).
    generation: AtomicU64,
}

impl Table {
    /// A table as the manifest describes it, with its first version.
    pub fn new(name: &str, state: &TableState, version: TableVersion) -> Table {
        Table {
            id: state.id,
            name: name.to_string(),
            schema: ArcSwap::from_pointee(schema_of(state)),
            version: ArcSwap::from_pointee(version),
            version_lock: Mutex::new(()),
            flush_lock: Mutex::new(()),
            compaction_lock: Mutex::new(()),
            writer: Mutex::new(()),
            room: Condvar::new(),
            inserting_from: AtomicU64::new(SeqNo::MAX),
            counters: TableCounters::default(),
            events: EventLog::default(),
            dropped: AtomicBool::new(false),
            disabled: AtomicBool::new(state.disabled),
            row_locks: crate::row_lock::RowLocks::default(),
            damage: None,
            generation: AtomicU64::new(next_generation()),
        }
    }

    /// The table's generation: changes after every [`Table::install`] and
    /// [`Table::set_schema`], never repeats.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Publish a new schema (families as reads see them). With [`Table::install`], the only
    /// way to change what reads of the table see besides writes.
    pub fn set_schema(&self, schema: Vec<FamilySchema>) {
        self.schema.store(Arc::new(schema));
        self.generation.store(next_generation(), Ordering::Release);
    }

    /// Publish a new version: `edit` changes a copy of the current one, and the copy replaces
    /// it for every later reader (readers holding the old one keep it). Edits are serialized
    /// by the table's version lock, the last lock in the store's lock order: `edit` must not
    /// take another lock or do I/O.
    pub fn install<T>(&self, edit: impl FnOnce(&mut TableVersion) -> T) -> T {
        let _g = self.version_lock.lock();
        let mut next = TableVersion::clone(&self.version.load());
        let out = edit(&mut next);
        self.version.store(Arc::new(next));
        self.generation.store(next_generation(), Ordering::Release);
        out
    }

    /// Build options for a new file of this table from its current schema: each family's
    /// options as they are, except that a flush compresses at most at
    /// [`FLUSH_ZSTD_LEVEL`](crate::options::FLUSH_ZSTD_LEVEL).
    pub fn build_options(&self, role: FileRole) -> TableBuildOptions {
        TableBuildOptions {
            families: self
                .schema
                .load()
                .iter()
                .map(|f| {
                    let mut o = f.options.clone();
                    if role == FileRole::Flush
                        && let Compression::Zstd(level) = o.compression
                    {
                        o.compression = Compression::Zstd(level.min(FLUSH_ZSTD_LEVEL));
                    }
                    o
                })
                .collect(),
        }
    }
}

/// Who writes a new table file: what its blocks' compression follows
/// ([`Table::build_options`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileRole {
    /// A memtable flush: zstd at most at [`FLUSH_ZSTD_LEVEL`].
    Flush,
    /// A compaction's output: the families' own compression.
    Compaction,
}

/// The families of a table as reads see them, sorted by name.
pub(crate) fn schema_of(state: &TableState) -> Vec<FamilySchema> {
    let mut v: Vec<FamilySchema> = state
        .families
        .iter()
        .map(|f| FamilySchema {
            name: Arc::from(f.options.name.as_str()),
            options: (&f.options).into(),
            created_seq: f.created_seq,
        })
        .collect();
    v.sort_by(|a, b| a.options.name.cmp(&b.options.name));
    v
}
