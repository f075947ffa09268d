//! The benchmark's report: the text table on stdout and the JSON document of `--json`
//! (parameters, machine, load, per-operation throughput and latency percentiles).
//!
//! It owns the output format (both are read by people and scripts: keep their fields); it
//! must never measure or change a result, only present it.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use serde_json::json;

use super::super::load::per_sec;
use super::workload::OPS;
use super::{BenchArgs, BenchResult, ZIPF_THETA, connection_count};

pub(super) fn report(args: &BenchArgs, target: &str, r: &BenchResult) -> Result<()> {
    let secs = r.measured.as_secs_f64();
    let stats = &r.stats;
    let total_ops: u64 = stats.ops.iter().map(|o| o.ops).sum();
    let errors = stats.total_errors();
    let rows: u64 = stats.ops.iter().map(|o| o.rows).sum();
    let cells: u64 = stats.ops.iter().map(|o| o.cells).sum();
    let table = args.workload.table(args.table);

    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    writeln!(
        w,
        "strata bench: {} on {table}, {} client(s) on {} connection(s), {} keys ({}), target {target}",
        args.workload.name(),
        args.clients,
        connection_count(args),
        r.keys,
        if args.zipf { "zipfian 0.99" } else { "uniform" },
    )?;
    writeln!(
        w,
        "measured {:.2} s after a {} warm-up: {total_ops} ops, {:.0} ops/s, {errors} errors",
        secs,
        args.warmup,
        per_sec(total_ops as f64, r.measured)
    )?;
    if let Some(cpu) = r.cpu {
        writeln!(
            w,
            "cpu: {:.2} s of this process ({}) over the measured period: {:.2} cores, {:.1} us per op",
            cpu.as_secs_f64(),
            if args.server.is_some() {
                "the clients only"
            } else {
                "clients and in-process server"
            },
            cpu.as_secs_f64() / secs.max(1e-9),
            cpu_us_per_op(cpu, total_ops),
        )?;
    }
    if args.workload.is_batch_write() {
        writeln!(
            w,
            "written: {rows} rows, {cells} cells: {:.0} rows/s, {:.0} cells/s",
            per_sec(rows as f64, r.measured),
            per_sec(cells as f64, r.measured)
        )?;
    }
    writeln!(
        w,
        "{:<18} {:>10} {:>10} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "OPERATION",
        "OPS",
        "OPS/S",
        "ERRORS",
        "P50 us",
        "P95 us",
        "P99 us",
        "P99.9 us",
        "MAX us",
        "MEAN us"
    )?;
    for op in OPS {
        let s = &stats.ops[op.index()];
        if s.ops == 0 && s.errors == 0 {
            continue;
        }
        let h = &s.latency;
        writeln!(
            w,
            "{:<18} {:>10} {:>10.0} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            op.name(),
            s.ops,
            per_sec(s.ops as f64, r.measured),
            s.errors,
            us(h.quantile(0.50)),
            us(h.quantile(0.95)),
            us(h.quantile(0.99)),
            us(h.quantile(0.999)),
            us(h.max()),
            h.mean() / 1e3
        )?;
    }
    let not_found: u64 = stats.ops.iter().map(|o| o.not_found).sum();
    if not_found > 0 {
        writeln!(w, "gets that found no row: {not_found}")?;
    }
    if let Some(e) = &r.first_error {
        writeln!(w, "first error: {e}")?;
    }
    drop(w);

    if let Some(path) = &args.json {
        let doc = result_json(args, target, r);
        let text = serde_json::to_string_pretty(&doc)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if total_ops == 0 {
        bail!(
            "no operation completed in the measured period{}",
            r.first_error
                .as_ref()
                .map(|e| format!(" (first error: {e})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

pub(super) fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

pub(super) fn result_json(args: &BenchArgs, target: &str, r: &BenchResult) -> serde_json::Value {
    let stats = &r.stats;
    let total_ops: u64 = stats.ops.iter().map(|o| o.ops).sum();
    let rows: u64 = stats.ops.iter().map(|o| o.rows).sum();
    let cells: u64 = stats.ops.iter().map(|o| o.cells).sum();
    let operations: serde_json::Map<String, serde_json::Value> = OPS
        .iter()
        .filter(|op| {
            let s = &stats.ops[op.index()];
            s.ops > 0 || s.errors > 0
        })
        .map(|op| {
            let s = &stats.ops[op.index()];
            let h = &s.latency;
            (
                op.name().to_string(),
                json!({
                    "ops": s.ops,
                    "ops_per_sec": per_sec(s.ops as f64, r.measured),
                    "errors": s.errors,
                    "not_found": s.not_found,
                    "rows": s.rows,
                    "cells": s.cells,
                    "latency_us": {
                        "p50": us(h.quantile(0.50)),
                        "p95": us(h.quantile(0.95)),
                        "p99": us(h.quantile(0.99)),
                        "p99_9": us(h.quantile(0.999)),
                        "max": us(h.max()),
                        "mean": h.mean() / 1e3,
                    },
                }),
            )
        })
        .collect();
    json!({
        "tool": "strata bench",
        "version": env!("CARGO_PKG_VERSION"),
        "date": now_iso8601(),
        "machine": {
            "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "load_average": load_average(),
        },
        "parameters": {
            "workload": args.workload.name(),
            "table": args.workload.table(args.table),
            "target": target,
            "server": args.server,
            "sync": if args.server.is_some() { None } else { Some(format!("{:?}", args.sync).to_lowercase()) },
            "scale": args.scale,
            "seed": args.seed,
            "skip_load": args.skip_load,
            "distribution": if args.zipf { "zipfian" } else { "uniform" },
            "zipf_theta": args.zipf.then_some(ZIPF_THETA),
            "clients": args.clients,
            "connections": connection_count(args),
            "duration_seconds": args.duration.0.as_secs_f64(),
            "warmup_seconds": args.warmup.0.as_secs_f64(),
            "batch_rows": args.batch_rows,
            "keys": r.keys,
        },
        "load": r.loaded,
        "result": {
            "seconds": r.measured.as_secs_f64(),
            "ops": total_ops,
            "ops_per_sec": per_sec(total_ops as f64, r.measured),
            "errors": stats.total_errors(),
            "not_found": stats.ops.iter().map(|o| o.not_found).sum::<u64>(),
            "rows": rows,
            "cells": cells,
            "rows_per_sec": per_sec(rows as f64, r.measured),
            "cells_per_sec": per_sec(cells as f64, r.measured),
            "first_error": r.first_error,
            "cpu_seconds": r.cpu.map(|c| c.as_secs_f64()),
            "cpu_us_per_op": r.cpu.map(|c| cpu_us_per_op(c, total_ops)),
            "operations": operations,
        },
    })
}

/// Microseconds of CPU per operation (0 without operations).
fn cpu_us_per_op(cpu: std::time::Duration, ops: u64) -> f64 {
    if ops == 0 {
        0.0
    } else {
        cpu.as_secs_f64() * 1e6 / ops as f64
    }
}

/// Now as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub(super) fn now_iso8601() -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let mut out = Vec::new();
    strata_loader::time::push_timestamp_micros(&mut out, micros);
    String::from_utf8_lossy(&out).into_owned()
}

/// The 1, 5 and 15 minute load averages (Linux), to judge how busy the machine was.
pub(super) fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|s| s.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}
