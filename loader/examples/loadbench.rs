//! Measures the generator and the bulk build on this machine (not a test: numbers come from
//! here, never from timed unit tests). It must never be run by CI.
//!
//! cargo run --release -p strata-loader --example loadbench -- DIR SCALE [MEMORY_MIB]
//! Generates the data set at SCALE into DIR (unless DIR/click_stream.csv exists), then builds
//! table files for the four tables into DIR/sst and prints MB/s per table and overall.
//! `TABLES=clickstream,product` limits the tables built.

use std::path::PathBuf;
use std::time::Instant;

use strata_loader::bulk::LoadOptions;
use strata_loader::{build_table_files, builtin_csv_file, builtin_mapping, generate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(
        args.get(1)
            .ok_or("usage: loadbench DIR SCALE [MEMORY_MIB]")?,
    );
    let scale: f64 = args.get(2).map_or(Ok(0.1), |s| s.parse())?;
    let memory: Option<u64> = args.get(3).map(|s| s.parse()).transpose()?;
    if !dir.join("click_stream.csv").exists() {
        let s = generate(&dir, scale, 42)?;
        println!(
            "gen: {} rows, {:.1} MB in {:.2?} ({:.0} MB/s)",
            s.total_rows(),
            s.total_bytes() as f64 / 1e6,
            s.elapsed,
            s.total_bytes() as f64 / 1e6 / s.elapsed.as_secs_f64()
        );
    }
    let started = Instant::now();
    let mut input = 0;
    let mut output = 0;
    let mut cells = 0;
    let only = std::env::var("TABLES").unwrap_or_default();
    for table in ["customers", "product", "transactions", "clickstream"] {
        if !only.is_empty() && !only.split(',').any(|t| t == table) {
            continue;
        }
        let csv = dir.join(builtin_csv_file(table).ok_or("no csv")?);
        let out = dir.join("sst").join(table);
        let _ = std::fs::remove_dir_all(&out);
        let mut o = LoadOptions::new(csv, out, builtin_mapping(table).ok_or("no mapping")?);
        if let Some(m) = memory {
            o.memory_budget = m << 20;
        }
        let s = build_table_files(&o)?;
        println!(
            "{table:13} {:>9} rows {:>10} cells {:>7.1} MB -> {:>7.1} MB ({:.2}x) {} files {} runs ({:.0} MB) {:>7.2?} {:>6.1} MB/s",
            s.rows,
            s.cells,
            s.input_bytes as f64 / 1e6,
            s.output_bytes as f64 / 1e6,
            s.output_bytes as f64 / s.input_bytes as f64,
            s.files.len(),
            s.spilled_runs,
            s.spilled_bytes as f64 / 1e6,
            s.elapsed,
            s.mb_per_sec()
        );
        println!("    {:?}", s.phases);
        input += s.input_bytes;
        output += s.output_bytes;
        cells += s.cells;
    }
    let t = started.elapsed();
    println!(
        "all: {:.1} MB -> {:.1} MB ({:.2}x), {} cells, {:.2?}: {:.1} MB/s, {:.2}M cells/s",
        input as f64 / 1e6,
        output as f64 / 1e6,
        output as f64 / input as f64,
        cells,
        t,
        input as f64 / 1e6 / t.as_secs_f64(),
        cells as f64 / 1e6 / t.as_secs_f64()
    );
    Ok(())
}
