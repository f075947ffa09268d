//! `strata load` without the adoption step: CSV -> presorted SSTables in a directory.
//!
//! Pipeline: read the file in large chunks ending on record boundaries; parse chunks in
//! parallel into arenas (`batch`); index rows by (row key, line) and sort in parallel
//! (`run`); past the memory budget, spill sorted runs to a temp dir; finally split the key
//! space into ranges and, for each range in parallel, merge the sources, drop older
//! duplicates (`merge`) and write files of a target size (`writer`).
//!
//! Owns the load options and summary. It must never adopt files into a store (callers pass
//! the returned paths to `Db::ingest` or `BulkIngest`) and never leave partial output files
//! behind on failure.

pub mod batch;
pub mod merge;
pub mod progress;
pub mod run;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use strata_engine::{FamilyOptions, Limits, Timestamp};

use crate::csv_input::{Chunk, ChunkReader};
use crate::error::{LoaderError, Result};
use crate::mapping::{ResolvedMapping, TableMapping};
use crate::rejects::RejectWriter;
use batch::{Batch, ParseConfig, parse_chunk};
use merge::{MergeStats, Source, merge_into};
pub use progress::{Phase, Progress, ProgressFn, stderr_progress};
use run::{MemRun, RunReader, SpilledRun};
use writer::PartitionOutput;
pub use writer::{EngineTableFiles, OutputFile, TableFileFactory, TableFileWriter};

/// Default memory budget: 1 GiB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 1 << 30;
/// Default target size of one output file: 256 MiB.
pub const DEFAULT_TARGET_FILE_SIZE: u64 = 256 << 20;
/// Default size of one input chunk: 8 MiB.
pub const DEFAULT_CHUNK_SIZE: usize = 8 << 20;
/// Largest chunk size accepted (arena offsets are 32-bit).
pub const MAX_CHUNK_SIZE: usize = 1 << 30;

/// Everything a bulk build needs.
#[derive(Clone)]
pub struct LoadOptions {
    /// The CSV file.
    pub csv_path: PathBuf,
    /// Where table files go (created if missing).
    pub out_dir: PathBuf,
    /// Column mapping (see `builtin_mapping` and `TableMapping::from_columns_spec`).
    pub mapping: TableMapping,
    /// Options of the table's families (compression, block size, bloom). Empty: defaults for
    /// each family the mapping writes. Must include every family the mapping writes.
    pub families: Vec<FamilyOptions>,
    /// Field delimiter (`,`).
    pub delimiter: u8,
    /// Timestamp of every cell, microseconds since the epoch. `None`: the clock at start.
    pub timestamp: Option<Timestamp>,
    /// A column whose ISO-8601 value is each row's cell timestamp (overrides `timestamp`).
    pub timestamp_column: Option<String>,
    /// Memory for parsed rows before sorted runs are spilled to disk.
    pub memory_budget: u64,
    /// Where rejected rows are written (`line<TAB>reason<TAB>raw`); `None`: only counted.
    pub rejects_path: Option<PathBuf>,
    /// Abort once more rows than this are rejected.
    pub max_rejects: Option<u64>,
    /// Output files are closed at the first row boundary past this size.
    pub target_file_size: u64,
    /// Bytes read per input chunk.
    pub chunk_size: usize,
    /// Directory for spilled runs; `None`: inside `out_dir`. Removed at the end.
    pub temp_dir: Option<PathBuf>,
    /// Output file name prefix.
    pub file_prefix: String,
    /// Row key and value limits (rows over them are rejected).
    pub limits: Limits,
    /// Progress callback.
    pub progress: Option<ProgressFn>,
    /// Table file writer; `None`: the engine's SSTable builder on the real filesystem.
    pub files: Option<Arc<dyn TableFileFactory>>,
}

impl std::fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("csv_path", &self.csv_path)
            .field("out_dir", &self.out_dir)
            .field("table", &self.mapping.table)
            .field("memory_budget", &self.memory_budget)
            .finish_non_exhaustive()
    }
}

impl LoadOptions {
    /// Options with defaults for everything but the input, output and mapping.
    pub fn new(
        csv_path: impl Into<PathBuf>,
        out_dir: impl Into<PathBuf>,
        mapping: TableMapping,
    ) -> Self {
        let file_prefix = mapping.table.clone();
        LoadOptions {
            csv_path: csv_path.into(),
            out_dir: out_dir.into(),
            mapping,
            families: Vec::new(),
            delimiter: b',',
            timestamp: None,
            timestamp_column: None,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            rejects_path: None,
            max_rejects: None,
            target_file_size: DEFAULT_TARGET_FILE_SIZE,
            chunk_size: DEFAULT_CHUNK_SIZE,
            temp_dir: None,
            file_prefix,
            limits: Limits::default(),
            progress: None,
            files: None,
        }
    }
}

/// What a bulk build did.
#[derive(Clone, Debug, Default)]
pub struct LoadSummary {
    /// The table files, in key order (disjoint key ranges).
    pub files: Vec<OutputFile>,
    /// Rows written (after dropping duplicates).
    pub rows: u64,
    /// Cells written.
    pub cells: u64,
    /// Rows rejected.
    pub rejects: u64,
    /// Rows dropped because a later line had the same row key.
    pub duplicates: u64,
    /// Size of the CSV file.
    pub input_bytes: u64,
    /// Bytes of the table files.
    pub output_bytes: u64,
    /// Sorted runs spilled to disk (0: everything fit in memory).
    pub spilled_runs: u64,
    /// Bytes of the spilled runs.
    pub spilled_bytes: u64,
    /// The cell timestamp used when there is no timestamp column.
    pub timestamp: Timestamp,
    /// Wall time.
    pub elapsed: Duration,
    /// Wall time per phase.
    pub phases: PhaseTimes,
}

/// Where the wall time went.
#[derive(Clone, Copy, Debug, Default)]
pub struct PhaseTimes {
    /// Reading the file and finding record boundaries (one thread).
    pub read: Duration,
    /// Parsing chunks (parallel).
    pub parse: Duration,
    /// Sorting and spilling runs.
    pub sort: Duration,
    /// Merging and writing table files (parallel).
    pub write: Duration,
}

impl LoadSummary {
    /// Paths of the files, for `Db::ingest` / `BulkIngest`.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|f| f.path.clone()).collect()
    }

    /// Input megabytes (10^6 bytes) per second.
    pub fn mb_per_sec(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.input_bytes as f64 / 1e6 / s
        } else {
            0.0
        }
    }
}

fn now_micros() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as Timestamp)
}

fn check_options(opts: &LoadOptions) -> Result<()> {
    let bad = |s: String| Err(LoaderError::InvalidOption(s));
    if opts.chunk_size == 0 || opts.chunk_size > MAX_CHUNK_SIZE {
        return bad(format!(
            "chunk size {} is not in 1..={MAX_CHUNK_SIZE}",
            opts.chunk_size
        ));
    }
    if opts.memory_budget == 0 {
        return bad("memory budget is 0".into());
    }
    if opts.target_file_size == 0 {
        return bad("target file size is 0".into());
    }
    if matches!(opts.delimiter, b'"' | b'\n' | b'\r') {
        return bad(format!(
            "delimiter {:?} cannot be a quote or a line break",
            opts.delimiter as char
        ));
    }
    Ok(())
}

/// The families to give the table builder: the caller's, checked to cover the mapping.
fn family_options(opts: &LoadOptions, m: &ResolvedMapping) -> Result<Vec<FamilyOptions>> {
    if opts.families.is_empty() {
        return Ok(m.families.iter().map(FamilyOptions::new).collect());
    }
    for f in &m.families {
        if !opts.families.iter().any(|o| &o.name == f) {
            return Err(LoaderError::Mapping(format!(
                "the mapping writes family {f:?}, which table {:?} does not have",
                opts.mapping.table
            )));
        }
    }
    Ok(opts.families.clone())
}

/// Build presorted table files from a CSV file. See the module docs.
pub fn build_table_files(opts: &LoadOptions) -> Result<LoadSummary> {
    let started = Instant::now();
    check_options(opts)?;
    let mut reader = ChunkReader::open(&opts.csv_path, opts.delimiter, opts.chunk_size)?;
    let header = reader.header().to_vec();
    let mapping = opts
        .mapping
        .resolve(&header, opts.timestamp_column.as_deref())?;
    let families = family_options(opts, &mapping)?;
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| LoaderError::io(&opts.out_dir, e))?;
    let factory: Arc<dyn TableFileFactory> = match &opts.files {
        Some(f) => f.clone(),
        None => Arc::new(EngineTableFiles::new(strata_engine::fs::real(), families)),
    };
    let timestamp = opts.timestamp.unwrap_or_else(now_micros);
    let mut rejects = RejectWriter::new(opts.rejects_path.as_deref())?;
    let cfg = ParseConfig {
        mapping: &mapping,
        header: &header,
        delimiter: opts.delimiter,
        default_ts: timestamp,
        max_row_key: opts.limits.max_row_key,
        max_value: opts.limits.max_value,
    };
    let total_bytes = reader.file_size();
    let report = |phase: Phase, bytes_read: u64, rows: u64, rejects: u64| {
        if let Some(p) = &opts.progress {
            p(&Progress {
                phase,
                bytes_read,
                total_bytes,
                rows,
                rejects,
            });
        }
    };

    // Phase 1: read (on its own thread), parse in parallel, spill sorted runs past the budget.
    let mut temp: Option<tempfile::TempDir> = None;
    let mut spilled: Vec<SpilledRun> = Vec::new();
    let mut run = MemRun::default();
    let mut duplicates = 0u64;
    // Memory the spilled runs took while in memory (to project the rest of the input's).
    let mut spilled_mem = 0u64;
    let mut rows_read = 0u64;
    let mut bytes_read = 0u64;
    let window = rayon::current_num_threads().max(1) * 2;
    let mut phases = PhaseTimes::default();
    let mut pool: Vec<Batch> = Vec::new();
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Chunk>>(window);
        let (free_tx, free_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let reader = &mut reader;
        scope.spawn(move || {
            loop {
                match reader.next_chunk_reusing(free_rx.try_recv().ok()) {
                    Ok(Some(c)) => {
                        if tx.send(Ok(c)).is_err() {
                            return; // the parser stopped
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        loop {
            let t = Instant::now();
            let mut chunks = Vec::with_capacity(window);
            while chunks.len() < window {
                match rx.recv() {
                    Ok(c) => chunks.push(c?),
                    Err(_) => break,
                }
            }
            if chunks.is_empty() {
                break;
            }
            bytes_read = chunks
                .last()
                .map_or(bytes_read, |c| c.offset + c.data.len() as u64);
            phases.read += t.elapsed();
            let t = Instant::now();
            let reuse: Vec<Batch> = (0..chunks.len())
                .map(|_| pool.pop().unwrap_or_default())
                .collect();
            let parsed: Vec<(Batch, Vec<u8>)> = chunks
                .into_par_iter()
                .zip(reuse.into_par_iter())
                .map(|(c, b)| parse_chunk(c, &cfg, b))
                .collect();
            let mut batches = Vec::with_capacity(parsed.len());
            for (b, spare) in parsed {
                // A recycled batch's old arena goes back to the reader to be filled again
                // (if the reader has finished, it is simply freed).
                if spare.capacity() > 0 {
                    let _ = free_tx.send(spare);
                }
                batches.push(b);
            }
            phases.parse += t.elapsed();
            for mut b in batches {
                for r in std::mem::take(&mut b.rejects) {
                    rejects.write(&r)?;
                }
                rows_read += b.rows.len() as u64;
                run.push(b);
            }
            if let Some(max) = opts.max_rejects
                && rejects.count() > max
            {
                rejects.flush()?;
                return Err(LoaderError::TooManyRejects {
                    rejects: rejects.count(),
                    max,
                });
            }
            report(Phase::Reading, bytes_read, rows_read, rejects.count());
            if run.mem_bytes() >= opts.memory_budget
                || spill_early(
                    run.mem_bytes(),
                    spilled_mem,
                    bytes_read,
                    total_bytes,
                    opts.memory_budget,
                )
            {
                spilled_mem += run.mem_bytes();
                report(Phase::Spilling, bytes_read, rows_read, rejects.count());
                let t = Instant::now();
                duplicates += spill(&mut run, &mut spilled, &mut temp, opts, &mut pool)?;
                phases.sort += t.elapsed();
            }
        }
        Ok(())
    })?;
    rejects.flush()?;
    let t = Instant::now();
    // The last run stays in memory and joins the merge as one more source.
    run.sort();
    drop(pool);
    phases.sort += t.elapsed();
    let t = Instant::now();

    // Phase 2: merge and write key ranges in parallel.
    report(Phase::Writing, bytes_read, rows_read, rejects.count());
    let threads = rayon::current_num_threads().max(1);
    let data_bytes = run.mem_bytes() + spilled.iter().map(|r| r.bytes).sum::<u64>();
    let parts = ((data_bytes / (8 << 20)) as usize).clamp(1, threads * 2);
    let ncells = mapping.cells.len();
    let build = |p: usize, sources: Vec<Source<'_>>| -> Result<(MergeStats, Vec<OutputFile>)> {
        let mut out = PartitionOutput::new(
            factory.as_ref(),
            &opts.out_dir,
            &opts.file_prefix,
            p,
            opts.target_file_size,
            &mapping.cells,
        );
        match merge_into(sources, &mut out) {
            Ok(stats) => match out.finish() {
                Ok(files) => Ok((stats, files)),
                Err(e) => Err(e),
            },
            Err(e) => {
                out.abandon();
                Err(e)
            }
        }
    };
    let results: Vec<Result<(MergeStats, Vec<OutputFile>)>> = if spilled.is_empty() {
        run.partitions(parts)
            .into_par_iter()
            .enumerate()
            .map(|(p, r)| {
                build(
                    p,
                    vec![Source::Mem {
                        run: &run,
                        pos: r.start,
                        end: r.end,
                    }],
                )
            })
            .collect()
    } else {
        let samples = spilled
            .iter()
            .flat_map(|r| r.index.iter().map(|(k, _)| k.as_slice()))
            .chain(run.sample_keys())
            .collect();
        let bounds = split_keys(samples, parts);
        (0..=bounds.len())
            .into_par_iter()
            .map(|p| {
                let start = p.checked_sub(1).map(|i| bounds[i].as_slice());
                let end = bounds.get(p).cloned();
                let mut sources = spilled
                    .iter()
                    .map(|r| RunReader::open(r, ncells, start, end.clone()).map(Source::Run))
                    .collect::<Result<Vec<_>>>()?;
                let mem = run.range_for(start, end.as_deref());
                if !mem.is_empty() {
                    sources.push(Source::Mem {
                        run: &run,
                        pos: mem.start,
                        end: mem.end,
                    });
                }
                build(p, sources)
            })
            .collect()
    };
    let mut summary = LoadSummary {
        rejects: rejects.count(),
        input_bytes: total_bytes,
        spilled_runs: spilled.len() as u64,
        spilled_bytes: spilled.iter().map(|r| r.bytes).sum(),
        timestamp,
        duplicates,
        ..LoadSummary::default()
    };
    let mut first_err = None;
    for r in results {
        match r {
            Ok((stats, files)) => {
                summary.rows += stats.rows;
                summary.duplicates += stats.duplicates;
                summary.files.extend(files);
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        for f in &summary.files {
            let _ = std::fs::remove_file(&f.path);
        }
        return Err(e);
    }
    phases.write = t.elapsed();
    summary.phases = phases;
    summary.cells = summary.files.iter().map(|f| f.cells).sum();
    summary.output_bytes = summary.files.iter().map(|f| f.bytes).sum();
    drop(temp);
    summary.elapsed = started.elapsed();
    report(Phase::Done, bytes_read, summary.rows, summary.rejects);
    Ok(summary)
}

/// Whether to spill the current run before it reaches the budget: everything but the last
/// run is spilled, so the least is spilled when the last run is as large as the budget
/// allows. When the rest of the input, projected from the memory per input byte so far,
/// would not fit beside the current run but fits alone (with a margin for the estimate and
/// the parse window), the current run goes now and the rest stays in memory.
fn spill_early(run_mem: u64, spilled_mem: u64, bytes_read: u64, total: u64, budget: u64) -> bool {
    if bytes_read == 0 || bytes_read >= total || spilled_mem == 0 && run_mem < budget / 4 {
        return false;
    }
    let per_byte = (spilled_mem + run_mem) as f64 / bytes_read as f64;
    let rest = (total - bytes_read) as f64 * per_byte;
    let budget = budget as f64;
    run_mem as f64 + rest > budget && rest <= budget * 0.9
}

/// Sort the run, write it to the temp dir, and start a new one. Returns duplicates dropped.
fn spill(
    run: &mut MemRun,
    spilled: &mut Vec<SpilledRun>,
    temp: &mut Option<tempfile::TempDir>,
    opts: &LoadOptions,
    pool: &mut Vec<Batch>,
) -> Result<u64> {
    if temp.is_none() {
        let dir = opts.temp_dir.as_deref().unwrap_or(&opts.out_dir);
        *temp = Some(
            tempfile::Builder::new()
                .prefix(".strata-load-")
                .tempdir_in(dir)
                .map_err(|e| LoaderError::io(dir, e))?,
        );
    }
    let dir: &Path = temp.as_ref().map_or(opts.out_dir.as_path(), |t| t.path());
    let path = dir.join(format!("run-{:05}.bin", spilled.len()));
    let mut full = std::mem::take(run);
    full.sort();
    let (r, dups) = full.spill(&path, pool)?;
    spilled.push(r);
    Ok(dups)
}

/// Up to `parts - 1` increasing keys that split sampled keys into ranges of similar size.
fn split_keys(mut samples: Vec<&[u8]>, parts: usize) -> Vec<Vec<u8>> {
    samples.sort_unstable();
    let mut out: Vec<Vec<u8>> = Vec::new();
    if samples.is_empty() {
        return out;
    }
    for p in 1..parts {
        let k = samples[samples.len() * p / parts];
        if out.last().is_none_or(|l| l.as_slice() < k) && k > samples[0] {
            out.push(k.to_vec());
        }
    }
    out
}

#[cfg(test)]
mod tests;
