//! Table definitions: create, drop and alter tables and their families. Each is one manifest
//! commit; create and alter hold the write lock so a new family's `created_seq` is the next
//! sequence number (cells written before it belong to an earlier family of the same name).
//!
//! The internal name `drop_table` is the RPC `DeleteTable` and the CLI's `strata drop`.
//! This file must never touch table files directly: dropped files are released through the
//! table's version, deleted once no reader holds them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::DbInner;
use crate::error::{Error, Result};
use crate::manifest::{FamilyRecord, FamilyState, ManifestState, TableState};
use crate::options::{FamilyOptions, validate_family, validate_name};
use crate::table::{Table, schema_of};
use crate::version::TableVersion;

/// Changes to a table's families.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlterTable {
    /// Families to add.
    pub add: Vec<FamilyOptions>,
    /// Families to drop (their data goes with them).
    pub drop: Vec<String>,
    /// Families whose options change (matched by name).
    pub modify: Vec<FamilyOptions>,
}

/// `f` checked, with zero values replaced by defaults.
fn checked(f: &FamilyOptions) -> Result<FamilyOptions> {
    validate_family(f).map_err(Error::InvalidArgument)
}

impl DbInner {
    /// See `Db::create_table`.
    pub(super) fn create_table(&self, table: &str, families: Vec<FamilyOptions>) -> Result<()> {
        validate_name("table", table).map_err(Error::InvalidArgument)?;
        if families.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "table {table}: at least one column family is required"
            )));
        }
        let mut fams = Vec::new();
        for f in &families {
            let f = checked(f)?;
            if fams.iter().any(|g: &FamilyOptions| g.name == f.name) {
                return Err(Error::InvalidArgument(format!(
                    "table {table}: family {} is listed twice",
                    f.name
                )));
            }
            fams.push(f);
        }
        let w = self.write.lock();
        let created_seq = w.next_seq;
        self.catalog.commit_then(
            &[],
            |next| {
                if next.tables.contains_key(table) {
                    return Err(Error::AlreadyExists(format!("table {table}")));
                }
                let id = next.next_table_id;
                next.next_table_id += 1;
                let ts = TableState {
                    id,
                    families: fams
                        .iter()
                        .map(|f| FamilyState {
                            options: FamilyRecord::from(f),
                            created_seq,
                        })
                        .collect(),
                    files: Vec::new(),
                    flushed_seq: created_seq.saturating_sub(1),
                    ingests: Vec::new(),
                    disabled: false,
                };
                let t = Arc::new(Table::new(table, &ts, TableVersion::empty()));
                next.tables.insert(table.to_string(), ts);
                Ok(t)
            },
            |t| self.catalog.add_table(t),
        )?;
        drop(w);
        tracing::info!(table, "table created");
        Ok(())
    }

    /// See `Db::drop_table`.
    pub(super) fn drop_table(&self, table: &str) -> Result<()> {
        // An unavailable table (damaged files) may be dropped: that is one way out.
        let t = self.catalog.table_even_if_damaged(table)?;
        let _compaction = t.compaction_lock.lock();
        let _flush = t.flush_lock.lock();
        self.catalog.commit(&[], |next| {
            next.tables.remove(table);
            Ok(())
        })?;
        self.catalog.remove_table(table);
        t.dropped.store(true, Ordering::Release);
        t.install(|v| {
            for f in &v.files {
                f.mark_obsolete();
            }
            *v = TableVersion::empty();
        });
        tracing::info!(table, "table dropped");
        Ok(())
    }

    /// See `Db::disable_table` and `Db::enable_table`: one manifest commit (none when the
    /// table already is in that state), then the in-memory flag, under the manifest lock.
    pub(super) fn set_enabled(&self, table: &str, enabled: bool) -> Result<()> {
        let t = self.catalog.table_even_if_damaged(table)?;
        if t.disabled.load(Ordering::Acquire) != enabled {
            return Ok(());
        }
        self.catalog.commit_then(
            &[],
            |next| {
                same_table(next, table, t.id)?.disabled = !enabled;
                Ok(())
            },
            |()| t.disabled.store(!enabled, Ordering::Release),
        )?;
        tracing::info!(table, enabled, "table enabled state changed");
        Ok(())
    }

    /// See `Db::alter_table`.
    pub(super) fn alter_table(&self, table: &str, alter: AlterTable) -> Result<()> {
        let t = self.catalog.table(table)?;
        self.race_point();
        let w = self.write.lock();
        let created_seq = w.next_seq;
        let narrowed = self.catalog.commit_then(
            &[],
            |next| {
                let ts = same_table(next, table, t.id)?;
                let narrowed = alter_families(table, ts, &alter, created_seq)?;
                Ok((schema_of(ts), narrowed))
            },
            |(schema, narrowed)| {
                t.set_schema(schema);
                narrowed
            },
        )?;
        drop(w);
        tracing::info!(table, ?alter, "table altered");
        // Fewer versions or a shorter TTL: drop what is now hidden from disk before returning,
        // so raising the limit again later cannot bring it back (reads must not depend on
        // whether a compaction happened to run in between).
        if narrowed {
            self.compact_table(&t, true)?;
        }
        Ok(())
    }
}

/// `table`'s state in `next` if it is still the table a call started with (id `id`), not one
/// re-created under its name meanwhile.
fn same_table<'a>(next: &'a mut ManifestState, table: &str, id: u32) -> Result<&'a mut TableState> {
    next.tables
        .get_mut(table)
        .filter(|ts| ts.id == id)
        .ok_or_else(|| Error::TableNotFound(table.to_string()))
}

/// Apply `alter` to `ts`'s families (drops, then changes, then additions, each new family
/// created at `created_seq`). Returns whether a change narrowed what is kept (fewer
/// versions or a shorter TTL).
fn alter_families(
    table: &str,
    ts: &mut TableState,
    alter: &AlterTable,
    created_seq: u64,
) -> Result<bool> {
    let mut narrowed = false;
    for name in &alter.drop {
        let before = ts.families.len();
        ts.families.retain(|f| f.options.name != *name);
        if ts.families.len() == before {
            return Err(Error::FamilyNotFound {
                table: table.to_string(),
                family: name.clone(),
            });
        }
    }
    for f in &alter.modify {
        let f = checked(f)?;
        let slot = ts
            .families
            .iter_mut()
            .find(|g| g.options.name == f.name)
            .ok_or_else(|| Error::FamilyNotFound {
                table: table.to_string(),
                family: f.name.clone(),
            })?;
        let old = &slot.options;
        let shorter_ttl =
            f.ttl_seconds > 0 && (old.ttl_seconds == 0 || f.ttl_seconds < old.ttl_seconds);
        if f.max_versions < old.max_versions || shorter_ttl {
            narrowed = true;
        }
        slot.options = FamilyRecord::from(&f);
    }
    for f in &alter.add {
        let f = checked(f)?;
        if ts.families.iter().any(|g| g.options.name == f.name) {
            return Err(Error::AlreadyExists(format!(
                "family {} in table {table}",
                f.name
            )));
        }
        ts.families.push(FamilyState {
            options: FamilyRecord::from(&f),
            created_seq,
        });
    }
    if ts.families.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "table {table}: cannot drop every column family"
        )));
    }
    Ok(narrowed)
}
