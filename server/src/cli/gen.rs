//! `strata gen`: write the four CSV files of the data set (customer.csv, product.csv,
//! transactions.csv, click_stream.csv) with `strata_loader::generate`, then print what was
//! written.
//!
//! This module only wires flags to the generator and formats its summary; it must never
//! generate values itself (the loader owns the data set) nor touch a store.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use serde_json::json;
use strata_loader::GenSummary;

/// `strata gen` arguments.
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// Directory to write the CSV files into (created if missing; files are overwritten)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Size of the data set: 1.0 is about the real data set (100,000 customers, 44,000
    /// products, 850,000 transactions, 12.8M click events, ~1.9 GB)
    #[arg(long, value_name = "S", default_value_t = 0.1)]
    pub scale: f64,
    /// Random seed: the same seed and scale give the same bytes
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
}

/// Run `strata gen`.
pub async fn run(args: GenArgs) -> Result<()> {
    if !(args.scale.is_finite() && args.scale > 0.0) {
        bail!("--scale must be a positive number, got {}", args.scale);
    }
    let out = args.out.clone();
    let (scale, seed) = (args.scale, args.seed);
    let summary = tokio::task::spawn_blocking(move || strata_loader::generate(&out, scale, seed))
        .await
        .context("the generator thread failed")?
        .with_context(|| format!("cannot generate the data set in {}", args.out.display()))?;
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    if args.json {
        writeln!(w, "{}", summary_json(&summary, scale, seed))?;
    } else {
        print_summary(&mut w, &summary, scale, seed)?;
    }
    Ok(())
}

/// The summary as JSON: `{"scale","seed","files":[{"path","rows","bytes"}],"rows","bytes","seconds"}`.
pub fn summary_json(s: &GenSummary, scale: f64, seed: u64) -> serde_json::Value {
    json!({
        "scale": scale,
        "seed": seed,
        "files": s.files.iter().map(|f| json!({
            "path": f.path.display().to_string(),
            "rows": f.rows,
            "bytes": f.bytes,
        })).collect::<Vec<_>>(),
        "rows": s.total_rows(),
        "bytes": s.total_bytes(),
        "seconds": s.elapsed.as_secs_f64(),
    })
}

/// The summary as an aligned text table.
pub fn print_summary(
    w: &mut impl std::io::Write,
    s: &GenSummary,
    scale: f64,
    seed: u64,
) -> std::io::Result<()> {
    writeln!(w, "{:<44} {:>12} {:>14}", "FILE", "ROWS", "BYTES")?;
    for f in &s.files {
        writeln!(
            w,
            "{:<44} {:>12} {:>14}",
            f.path.display().to_string(),
            f.rows,
            f.bytes
        )?;
    }
    let secs = s.elapsed.as_secs_f64();
    writeln!(
        w,
        "{} files, {} rows, {} bytes ({:.1} MB) in {:.2} s ({:.1} MB/s) at scale {scale}, seed {seed}",
        s.files.len(),
        s.total_rows(),
        s.total_bytes(),
        s.total_bytes() as f64 / 1e6,
        secs,
        if secs > 0.0 {
            s.total_bytes() as f64 / 1e6 / secs
        } else {
            0.0
        }
    )
}
