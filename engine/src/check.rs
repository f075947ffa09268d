//! Offline verification of a store (`strata check`): every checksum of every table file the
//! manifest lists (every block, going on past damage), the manifest itself, every WAL segment
//! and record, and their consistency: files listed but missing or of another size, files
//! present but unlisted, sequence numbers that go backwards in the WAL (damage) or jump
//! over numbers no table file holds (a gap: reported, since only a lost record or an ingest
//! into a table dropped since explains one).
//!
//! [`check_store`] takes the store's lock (a running server holds it, so the check is
//! refused rather than racing it) and only reads: it must never repair, truncate or remove
//! anything. What it finds is [`Finding`]s: damage (the store loses or refuses data) or
//! warnings (worth knowing, harmless to the data).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::filename::{manifest_path, parse_sst_name, quarantine_dir, sst_dir, sst_path, wal_dir};
use crate::fs::Fs;
use crate::lock::DirLock;
use crate::manifest::{self, ManifestState};
use crate::sstable::TableReader;
use crate::wal;
use crate::write_batch::WriteBatch;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Data is lost or refused: a damaged or missing file, a damaged record.
    Damage,
    /// Harmless to the data, but worth knowing (a leftover file, a torn WAL tail).
    Warning,
}

/// One thing [`check_store`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Damage or warning.
    pub severity: Severity,
    /// A short class: `manifest`, `table-file`, `missing-file`, `unlisted-file`, `wal`,
    /// `wal-sequence`, `quarantined-file`.
    pub kind: &'static str,
    /// The file concerned.
    pub path: PathBuf,
    /// Byte offset in it, where known.
    pub offset: Option<u64>,
    /// The table the file belongs to, where known.
    pub table: Option<String>,
    /// What is wrong.
    pub what: String,
}

/// What [`check_store`] checked and found.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    /// The store's directory.
    pub dir: PathBuf,
    /// Tables the manifest lists.
    pub tables: usize,
    /// Table files checked.
    pub table_files: usize,
    /// Blocks checked in them.
    pub blocks: usize,
    /// Their bytes.
    pub table_bytes: u64,
    /// WAL segments read.
    pub wal_segments: usize,
    /// WAL records decoded.
    pub wal_records: usize,
    /// Everything found, in the order checked.
    pub findings: Vec<Finding>,
}

impl CheckReport {
    /// Findings that are damage.
    pub fn damage(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Damage)
    }

    /// Whether nothing is damaged (warnings allowed).
    pub fn is_sound(&self) -> bool {
        self.damage().next().is_none()
    }

    fn add(
        &mut self,
        severity: Severity,
        kind: &'static str,
        path: &Path,
        offset: Option<u64>,
        table: Option<&str>,
        what: impl Into<String>,
    ) {
        self.findings.push(Finding {
            severity,
            kind,
            path: path.to_path_buf(),
            offset,
            table: table.map(str::to_string),
            what: what.into(),
        });
    }

    /// An engine error as damage of `path` (its offset and message when it is corruption).
    fn damage_from(&mut self, kind: &'static str, path: &Path, table: Option<&str>, e: &Error) {
        match e {
            Error::Corruption {
                path: p,
                offset,
                what,
            } => self.add(
                Severity::Damage,
                kind,
                p,
                Some(*offset),
                table,
                what.clone(),
            ),
            other => self.add(Severity::Damage, kind, path, None, table, other.to_string()),
        }
    }
}

/// Check the store in `dir` (see the module docs). The store must not be open elsewhere.
///
/// # Errors
///
/// [`Error::Locked`] if a process holds the store; [`Error::InvalidArgument`] if `dir` is
/// not a store; an I/O error of listing a directory. Damage is never an error: it is in the
/// report.
pub fn check_store(dir: &Path) -> Result<CheckReport> {
    let fs = crate::fs::real();
    let has = |p: PathBuf| p.exists();
    if !dir.is_dir() {
        return Err(Error::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
        ));
    }
    if !has(manifest_path(dir)) && !has(sst_dir(dir)) && !has(wal_dir(dir)) {
        return Err(Error::InvalidArgument(format!(
            "{} is not a Strata store (no MANIFEST, sst/ or wal/)",
            dir.display()
        )));
    }
    let _lock = DirLock::acquire(dir)?;
    let mut r = CheckReport {
        dir: dir.to_path_buf(),
        ..CheckReport::default()
    };
    let state = match manifest::read_manifest(&fs, dir) {
        Ok(Some(s)) => Some(s),
        Ok(None) => {
            // A store that never created a table has none; with table files it is lost.
            let table_files = std::fs::read_dir(sst_dir(dir))
                .map(|d| {
                    d.flatten()
                        .filter(|e| e.file_name().to_str().and_then(parse_sst_name).is_some())
                        .count()
                })
                .unwrap_or(0);
            if table_files > 0 {
                r.add(
                    Severity::Damage,
                    "manifest",
                    &manifest_path(dir),
                    None,
                    None,
                    format!(
                        "missing, yet sst/ holds {table_files} table file(s): the catalog that \
                         names their tables is gone"
                    ),
                );
            }
            None
        }
        Err(e) => {
            r.damage_from("manifest", &manifest_path(dir), None, &e);
            None
        }
    };
    let mut seq_ranges = Vec::new();
    if let Some(state) = &state {
        r.tables = state.tables.len();
        check_table_files(&mut r, dir, state, &mut seq_ranges);
    }
    check_sst_dir(&mut r, &fs, dir, state.as_ref())?;
    check_wal(&mut r, &fs, dir, &mut seq_ranges)?;
    Ok(r)
}

/// Every file the manifest lists: present, of the recorded size and properties, every block
/// sound. Collects the sequence ranges the files hold into `seq_ranges`.
fn check_table_files(
    r: &mut CheckReport,
    dir: &Path,
    state: &ManifestState,
    seq_ranges: &mut Vec<(u64, u64)>,
) {
    let mut owner: HashMap<u64, &str> = HashMap::new();
    for (table, ts) in &state.tables {
        for f in &ts.files {
            let path = sst_path(dir, f.number);
            let t = Some(table.as_str());
            if let Some(other) = owner.insert(f.number, table) {
                r.add(
                    Severity::Damage,
                    "manifest",
                    &manifest_path(dir),
                    None,
                    t,
                    format!("file {} is listed twice (also for table {other})", f.number),
                );
            }
            if f.number >= state.next_file_number {
                r.add(
                    Severity::Damage,
                    "manifest",
                    &manifest_path(dir),
                    None,
                    t,
                    format!(
                        "file {} is numbered at or above the next file number {}",
                        f.number, state.next_file_number
                    ),
                );
            }
            seq_ranges.push((f.min_seq, f.max_seq));
            if f.max_seq > state.last_seq {
                r.add(
                    Severity::Warning,
                    "manifest",
                    &path,
                    None,
                    t,
                    format!(
                        "holds sequence number {} above the manifest's last {}",
                        f.max_seq, state.last_seq
                    ),
                );
            }
            if !path.exists() {
                r.add(
                    Severity::Damage,
                    "missing-file",
                    &path,
                    None,
                    t,
                    format!(
                        "listed in the manifest ({} rows, {} cells) but missing",
                        f.rows, f.cells
                    ),
                );
                continue;
            }
            let reader = match TableReader::open(&path, f.global_seq) {
                Ok(reader) => reader,
                Err(e) => {
                    r.damage_from("table-file", &path, t, &e);
                    continue;
                }
            };
            r.table_files += 1;
            r.blocks += reader.block_count();
            let p = reader.properties();
            r.table_bytes += p.file_size;
            if p.file_size != f.size {
                r.add(
                    Severity::Damage,
                    "table-file",
                    &path,
                    None,
                    t,
                    format!("{} bytes, the manifest says {}", p.file_size, f.size),
                );
            }
            if (p.rows, p.cells, &p.smallest_row, &p.largest_row)
                != (f.rows, f.cells, &f.smallest_row, &f.largest_row)
            {
                r.add(
                    Severity::Damage,
                    "table-file",
                    &path,
                    None,
                    t,
                    "its rows, cells or key range differ from the manifest's record (replaced?)",
                );
            }
            for e in reader.damaged_blocks() {
                r.damage_from("table-file", &path, t, &e);
            }
        }
    }
}

/// Files in `sst/` the manifest does not list, and what sits in `quarantine/`.
fn check_sst_dir(
    r: &mut CheckReport,
    fs: &Arc<dyn Fs>,
    dir: &Path,
    state: Option<&ManifestState>,
) -> Result<()> {
    let listed: std::collections::HashSet<u64> = state
        .map(|s| {
            s.tables
                .values()
                .flat_map(|t| t.files.iter().map(|f| f.number))
                .collect()
        })
        .unwrap_or_default();
    let sdir = sst_dir(dir);
    let mut present = if sdir.is_dir() {
        fs.list(&sdir).map_err(|e| Error::io(&sdir, e))?
    } else {
        Vec::new()
    };
    present.sort();
    for p in present {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        match parse_sst_name(name) {
            Some(n) if listed.contains(&n) => {}
            Some(_) if state.is_some() => r.add(
                Severity::Warning,
                "unlisted-file",
                &p,
                None,
                None,
                "present but not listed in the manifest: left by an interrupted flush, \
                 compaction or ingest; the next open removes it",
            ),
            Some(_) => {}
            None => r.add(
                Severity::Warning,
                "unlisted-file",
                &p,
                None,
                None,
                "not a table file name; the next open removes it",
            ),
        }
    }
    let qdir = quarantine_dir(dir);
    if qdir.is_dir() {
        let mut q = fs.list(&qdir).map_err(|e| Error::io(&qdir, e))?;
        q.sort();
        for p in q {
            r.add(
                Severity::Warning,
                "quarantined-file",
                &p,
                None,
                None,
                "set aside by quarantine_damaged_files; no table reads it",
            );
        }
    }
    Ok(())
}

/// Every WAL segment and record, and the sequence numbers across them.
fn check_wal(
    r: &mut CheckReport,
    fs: &Arc<dyn Fs>,
    dir: &Path,
    seq_ranges: &mut [(u64, u64)],
) -> Result<()> {
    let wdir = wal_dir(dir);
    if !wdir.is_dir() {
        return Ok(());
    }
    let segments = wal::list_segments(fs, &wdir)?;
    let newest = segments.last().map(|(n, _)| *n);
    let covered = merge_ranges(seq_ranges);
    let mut prev: Option<(u64, PathBuf, usize)> = None;
    for (number, path) in &segments {
        r.wal_segments += 1;
        let contents = match wal::read_segment(fs, path, false) {
            Ok(c) => c,
            Err(e) => {
                r.damage_from("wal", path, None, &e);
                continue;
            }
        };
        if let Some(t) = &contents.torn_tail {
            if Some(*number) == newest {
                r.add(
                    Severity::Warning,
                    "wal",
                    path,
                    Some(contents.valid_len),
                    None,
                    format!("{t} (a crash mid-write; the next open cuts it off)"),
                );
            } else {
                r.add(
                    Severity::Damage,
                    "wal",
                    path,
                    Some(contents.valid_len),
                    None,
                    format!("{t}, in a segment that is not the newest: records after it are lost"),
                );
            }
        }
        for (i, (rec, &at)) in contents.records.iter().zip(&contents.offsets).enumerate() {
            r.wal_records += 1;
            let batch = match WriteBatch::decode(rec, path, at) {
                Ok(b) => b,
                Err(e) => {
                    r.damage_from("wal", path, None, &e);
                    continue;
                }
            };
            let n = batch.cell_count();
            if n == 0 {
                continue;
            }
            let (first, last) = (batch.first_seq, batch.first_seq + n - 1);
            if let Some((prev_last, prev_path, prev_i)) = &prev {
                if first <= *prev_last {
                    r.add(
                        Severity::Damage,
                        "wal-sequence",
                        path,
                        None,
                        None,
                        format!(
                            "record {i} starts at sequence number {first}, not after {prev_last} \
                             (record {prev_i} of {}): numbers reused",
                            prev_path.display()
                        ),
                    );
                } else if first > prev_last + 1
                    && let Some((lo, hi)) = uncovered(&covered, prev_last + 1, first - 1)
                {
                    r.add(
                        Severity::Warning,
                        "wal-sequence",
                        path,
                        None,
                        None,
                        format!(
                            "sequence numbers {lo}..={hi}, between record {prev_i} of {} and \
                             record {i}, are in no WAL record and no table file: records are \
                             missing, or they were an ingest into a table dropped since",
                            prev_path.display()
                        ),
                    );
                }
            }
            prev = Some((last, path.clone(), i));
        }
    }
    Ok(())
}

/// `ranges` sorted and merged (touching ranges join).
fn merge_ranges(ranges: &mut [(u64, u64)]) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &(lo, hi) in ranges.iter() {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// The first sub-range of `lo..=hi` that no range of `covered` (merged) includes.
fn uncovered(covered: &[(u64, u64)], lo: u64, hi: u64) -> Option<(u64, u64)> {
    let mut at = lo;
    for &(a, b) in covered {
        if b < at {
            continue;
        }
        if a > at {
            return Some((at, hi.min(a - 1)));
        }
        at = b.saturating_add(1);
        if at > hi {
            return None;
        }
    }
    Some((at, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_what_no_range_covers() {
        let covered = merge_ranges(&mut [(10, 12), (1, 3), (4, 5), (20, 30)]);
        assert_eq!(covered, [(1, 5), (10, 12), (20, 30)]);
        assert_eq!(uncovered(&covered, 2, 5), None);
        assert_eq!(uncovered(&covered, 6, 9), Some((6, 9)));
        assert_eq!(uncovered(&covered, 10, 15), Some((13, 15)));
        assert_eq!(uncovered(&covered, 11, 25), Some((13, 19)));
        assert_eq!(uncovered(&covered, 21, 29), None);
        assert_eq!(uncovered(&[], 1, 1), Some((1, 1)));
    }
}
