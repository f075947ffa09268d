//! The `strata` program: `serve` runs the gRPC server, the client subcommands call one,
//! `gen` and `load` drive the loader, `demo` runs the whole pipeline in-process.
//!
//! main only sets up logging and the async runtime and reports errors; it must never hold
//! command logic (that is `cli/`).

mod cli;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc malloc: the read and write paths allocate per row and per
/// block, and glibc's `malloc`/`free` were 10-20% of a scan's samples (measurement:
/// docs/design/read-path.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let default_level = match args.command {
        cli::Command::Serve(_) => "info",
        cli::Command::Client(_)
        | cli::Command::Gen(_)
        | cli::Command::Load(_)
        | cli::Command::Consume(_)
        | cli::Command::Demo(_)
        | cli::Command::Bench(_)
        | cli::Command::Check(_) => "warn",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match args.command {
            cli::Command::Serve(a) => cli::serve::run(a).await,
            cli::Command::Client(c) => cli::client::run(c).await,
            cli::Command::Gen(a) => cli::generate::run(a).await,
            cli::Command::Load(a) => cli::load::run(a).await,
            cli::Command::Consume(a) => cli::consume::run(a).await,
            cli::Command::Demo(a) => cli::demo::run(a).await,
            cli::Command::Bench(a) => cli::bench::run(a).await,
            cli::Command::Check(a) => cli::check::run(a).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(cli::consume::exit_code(&e))
        }
    }
}
