//! `strata gen`: writes customer.csv, product.csv, transactions.csv and click_stream.csv with
//! the brief's headers and realistic, deterministic values (same seed and scale, same bytes).
//! Owns the files and the parallel chunked writing. It must never let thread count or hash
//! order change the output: every chunk has its own random stream seeded from
//! (seed, table, chunk index), and chunks are written in index order.

mod fmt;
mod tables;
pub mod vocab;
pub mod world;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::error::{LoaderError, Result};
pub use tables::{CLICK_HEADER, CUSTOMER_HEADER, PRODUCT_HEADER, TRANSACTIONS_HEADER};
use world::World;

/// One generated file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenFile {
    /// Its path.
    pub path: PathBuf,
    /// Data rows (header not counted).
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// What `generate` wrote.
#[derive(Clone, Debug)]
pub struct GenSummary {
    /// customer.csv, product.csv, transactions.csv, click_stream.csv, in that order.
    pub files: Vec<GenFile>,
    /// Wall time.
    pub elapsed: Duration,
}

impl GenSummary {
    /// Bytes over all files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
    /// Rows over all files.
    pub fn total_rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
}

/// Write the four CSV files into `out_dir` (created if missing). `scale` 1.0 gives
/// 100,000 / 44,000 / 850,000 / 12,800,000 rows; other scales are proportional, with at least
/// a few rows per file.
pub fn generate(out_dir: &Path, scale: f64, seed: u64) -> Result<GenSummary> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(LoaderError::InvalidOption(format!(
            "scale must be a positive number, got {scale}"
        )));
    }
    let started = Instant::now();
    std::fs::create_dir_all(out_dir).map_err(|e| LoaderError::io(out_dir, e))?;
    let w = World::new(scale, seed);
    let chunks = |rows: u64, per: u64| rows.div_ceil(per);
    let files = vec![
        write_chunked(
            &out_dir.join("customer.csv"),
            CUSTOMER_HEADER,
            chunks(w.customers, tables::ROWS_PER_CHUNK),
            |c, out, _| tables::customers(&w, c, out),
        )?,
        write_chunked(
            &out_dir.join("product.csv"),
            PRODUCT_HEADER,
            chunks(w.products, tables::ROWS_PER_CHUNK),
            |c, out, scratch| tables::products(&w, c, out, scratch),
        )?,
        write_chunked(
            &out_dir.join("transactions.csv"),
            TRANSACTIONS_HEADER,
            chunks(w.transactions, tables::ROWS_PER_CHUNK),
            |c, out, scratch| tables::transactions(&w, c, out, scratch),
        )?,
        write_chunked(
            &out_dir.join("click_stream.csv"),
            CLICK_HEADER,
            chunks(w.sessions(), tables::SESSIONS_PER_CHUNK),
            |c, out, scratch| tables::clicks(&w, c, out, scratch),
        )?,
    ];
    Ok(GenSummary {
        files,
        elapsed: started.elapsed(),
    })
}

/// Generate `n_chunks` chunks in parallel, a window at a time, and write them in order.
fn write_chunked<F>(path: &Path, header: &str, n_chunks: u64, f: F) -> Result<GenFile>
where
    F: Fn(u64, &mut Vec<u8>, &mut Vec<u8>) + Sync,
{
    let io = |e| LoaderError::io(path, e);
    let file = File::create(path).map_err(io)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(header.as_bytes()).map_err(io)?;
    out.write_all(b"\n").map_err(io)?;
    let mut bytes = header.len() as u64 + 1;
    let mut rows = 0u64;
    let window = (rayon::current_num_threads() * 4).max(1) as u64;
    let mut next = 0u64;
    while next < n_chunks {
        let end = (next + window).min(n_chunks);
        let bufs: Vec<Vec<u8>> = (next..end)
            .into_par_iter()
            .map(|c| {
                let mut buf = Vec::with_capacity(1 << 20);
                let mut scratch = Vec::with_capacity(256);
                f(c, &mut buf, &mut scratch);
                buf
            })
            .collect();
        for b in &bufs {
            rows += memchr::memchr_iter(b'\n', b).count() as u64;
            bytes += b.len() as u64;
            out.write_all(b).map_err(io)?;
        }
        next = end;
    }
    out.flush().map_err(io)?;
    Ok(GenFile {
        path: path.to_path_buf(),
        rows,
        bytes,
    })
}

#[cfg(test)]
mod tests;
