//! `strata check --data-dir DIR`: verify a store offline (no server may hold it) with
//! `strata_engine::check::check_store`, print every finding with its file and offset, and
//! exit non-zero when anything is damaged.
//!
//! This module only wires the flags to the engine's check and formats its report; it must
//! never read or repair store files itself.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::json;
use strata_engine::check::{CheckReport, Finding, Severity};

/// `strata check` arguments.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads every block of every table file the manifest lists, the manifest \
and every WAL segment, and checks that they agree: files listed but missing, files present but \
unlisted, WAL sequence numbers that go backwards or skip. Damage (exit code 1) is data the store \
loses or refuses; warnings (exit code 0) are harmless (a leftover file the next open removes, a \
torn WAL tail after a crash). The store must not be open in a server. A damaged table file can \
be set aside with `strata serve --quarantine-damaged-files`."
)]
pub struct CheckArgs {
    /// The store to check
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

/// Run `strata check`.
pub async fn run(args: CheckArgs) -> Result<()> {
    let dir = args.data_dir.clone();
    let report = tokio::task::spawn_blocking(move || strata_engine::check::check_store(&dir))
        .await
        .context("the check thread failed")?
        .map_err(|e| match e {
            strata_engine::Error::Locked { path } => anyhow!(
                "the store in {} is held by another process (a running `strata serve`?): stop \
                 it first; the check reads the files offline",
                path.display()
            ),
            other => anyhow!("cannot check {}: {other}", args.data_dir.display()),
        })?;
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    if args.json {
        writeln!(w, "{}", report_json(&report))?;
    } else {
        print_report(&mut w, &report)?;
    }
    w.flush()?;
    let damaged = report.damage().count();
    if damaged > 0 {
        bail!(
            "{} is damaged: {damaged} problem(s), listed above",
            args.data_dir.display()
        );
    }
    Ok(())
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Damage => "damage",
        Severity::Warning => "warning",
    }
}

fn finding_json(f: &Finding) -> serde_json::Value {
    json!({
        "severity": severity(f.severity),
        "kind": f.kind,
        "path": f.path.display().to_string(),
        "offset": f.offset,
        "table": f.table,
        "what": f.what,
    })
}

/// The report as one JSON document.
pub fn report_json(r: &CheckReport) -> serde_json::Value {
    json!({
        "dir": r.dir.display().to_string(),
        "sound": r.is_sound(),
        "damaged": r.damage().count(),
        "warnings": r.findings.iter().filter(|f| f.severity == Severity::Warning).count(),
        "tables": r.tables,
        "table_files": r.table_files,
        "blocks": r.blocks,
        "table_bytes": r.table_bytes,
        "wal_segments": r.wal_segments,
        "wal_records": r.wal_records,
        "findings": r.findings.iter().map(finding_json).collect::<Vec<_>>(),
    })
}

/// The report as text: one line per finding, then a summary line.
pub fn print_report(w: &mut impl std::io::Write, r: &CheckReport) -> std::io::Result<()> {
    for f in &r.findings {
        let at = f
            .offset
            .map(|o| format!(" at offset {o}"))
            .unwrap_or_default();
        let table = f
            .table
            .as_ref()
            .map(|t| format!(" (table {t})"))
            .unwrap_or_default();
        writeln!(
            w,
            "{:<7} {}{at}{table}: {}",
            severity(f.severity).to_uppercase(),
            f.path.display(),
            f.what
        )?;
    }
    let damaged = r.damage().count();
    writeln!(
        w,
        "{}: {} table(s), {} table file(s) ({} blocks, {:.1} MB), {} WAL segment(s) ({} records): {}",
        r.dir.display(),
        r.tables,
        r.table_files,
        r.blocks,
        r.table_bytes as f64 / 1e6,
        r.wal_segments,
        r.wal_records,
        if damaged == 0 {
            "no damage".to_string()
        } else {
            format!("{damaged} damaged")
        }
    )
}
