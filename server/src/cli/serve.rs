//! `strata serve`: settings from flags over a TOML file over defaults, logging, signals.
//!
//! This module only wires the command line to `strata_server::serve`; it must never
//! implement serving itself.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use strata_server::Settings;

/// `strata serve` arguments.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Every setting can also be given in the TOML file passed with --config, \
under the same name with underscores (e.g. memtable_bytes = \"64MiB\"); flags override the \
file. Sizes take B, KiB, MiB, GiB (or KB, MB, GB); durations take ms, s or m."
)]
pub struct ServeArgs {
    /// TOML file with settings (same names as the flags, with underscores)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: Settings,
    /// Test only: store writes fail with ENOSPC once N bytes went through the file layer (the
    /// disk-full test where no tmpfs can be mounted; docs/design/robustness.md). Hidden from
    /// --help and not a TOML setting.
    #[arg(long, value_name = "N", hide = true)]
    pub fault_enospc_after_bytes: Option<u64>,
}

/// Run the server until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<()> {
    let file = match &args.config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    let mut config = args.settings.or(file).resolve()?;
    config.fault_enospc_after_bytes = args.fault_enospc_after_bytes;
    strata_server::serve(config, shutdown_signal())
        .await
        .context("strata serve failed")
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
