//! The `strata` command line: the top-level subcommands and their dispatch.
//!
//! This module only parses arguments and routes them; it must never hold engine or server
//! logic (that lives in the `strata_server` library).

pub mod bench;
pub mod check;
pub mod client;
pub mod consume;
pub mod demo;
pub mod family;
/// `strata gen` (`gen` is a reserved word in Rust 2024, so the module has another name).
#[path = "gen.rs"]
pub mod generate;
pub mod in_process;
pub mod load;
pub mod output;
pub mod serve;

/// Strata: a wide-column LSM storage engine with a gRPC API.
#[derive(Debug, clap::Parser)]
#[command(name = "strata", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the gRPC server on a data directory
    Serve(serve::ServeArgs),
    /// Generate the four CSV files of the e-commerce data set
    Gen(generate::GenArgs),
    /// Bulk-load a CSV file into a table (straight into a store or through a server)
    Load(load::LoadArgs),
    /// Stream a Kafka topic into a table, exactly once (offsets stored in Strata)
    Consume(consume::ConsumeArgs),
    /// Generate, load, stream and query the data set end to end on an in-process server
    Demo(demo::DemoArgs),
    /// Load-test a server over gRPC: YCSB-style workloads, gets, batched writes, streaming
    /// ingest; ops/s and latency percentiles
    Bench(bench::BenchArgs),
    /// Verify a store offline: every checksum of its table files, manifest and WAL, and
    /// their consistency; lists what is damaged, exits non-zero on damage
    Check(check::CheckArgs),
    #[command(flatten)]
    Client(client::ClientCommand),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_flags_parse() {
        let cli = Cli::try_parse_from([
            "strata",
            "serve",
            "--data-dir",
            "/tmp/d",
            "--listen",
            "127.0.0.1:6000",
            "--sync",
            "none",
            "--memtable-bytes",
            "8MiB",
            "--scan-idle-timeout",
            "5s",
        ])
        .expect("valid");
        let Command::Serve(args) = cli.command else {
            panic!("expected serve");
        };
        let c = args.settings.resolve().expect("valid");
        assert_eq!(c.listen.to_string(), "127.0.0.1:6000");
        assert_eq!(c.db.sync_mode, strata_engine::SyncMode::None);
        assert_eq!(c.db.memtable_bytes, 8 << 20);
        assert!(Cli::try_parse_from(["strata", "serve", "--sync", "sometimes"]).is_err());
        let cli = Cli::try_parse_from([
            "strata",
            "serve",
            "--data-dir",
            "/d",
            "--ingest-dir",
            "/a",
            "--ingest-dir",
            "/b",
            "--quarantine-damaged-files",
        ])
        .expect("valid");
        let Command::Serve(args) = cli.command else {
            panic!("expected serve");
        };
        let c = args.settings.resolve().expect("valid");
        assert_eq!(c.db.ingest_dirs.len(), 2);
        assert!(c.db.quarantine_damaged_files);
        let cli =
            Cli::try_parse_from(["strata", "check", "--data-dir", "/d", "--json"]).expect("valid");
        assert!(matches!(cli.command, Command::Check(a) if a.json));
        assert!(Cli::try_parse_from(["strata", "check"]).is_err());
    }

    #[test]
    fn client_commands_parse() {
        let cli = Cli::try_parse_from([
            "strata",
            "create",
            "customers",
            "personal_info:versions=3",
            "device_info",
            "--server",
            "http://127.0.0.1:6000",
            "--json",
        ])
        .expect("valid");
        match cli.command {
            Command::Client(client::ClientCommand::Create(client::CreateArgs {
                table,
                families,
                conn,
            })) => {
                assert_eq!(table, "customers");
                assert_eq!(families, ["personal_info:versions=3", "device_info"]);
                assert_eq!(conn.server, "http://127.0.0.1:6000");
                assert!(conn.json);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(Cli::try_parse_from(["strata", "create", "t"]).is_err());
        let cli = Cli::try_parse_from([
            "strata",
            "tables",
            "--server",
            "https://db:1",
            "--tls-ca",
            "ca.pem",
            "--tls-client-cert",
            "c.pem",
            "--tls-client-key",
            "c.key",
            "--token-file",
            "t",
        ])
        .expect("security flags");
        let Command::Client(client::ClientCommand::Tables(t)) = cli.command else {
            panic!("expected tables");
        };
        let security = &t.conn.security;
        assert_eq!(
            security.tls_ca.as_deref(),
            Some(std::path::Path::new("ca.pem"))
        );
        assert_eq!(
            security.token_file.as_deref(),
            Some(std::path::Path::new("t"))
        );
        // A client certificate needs its key and the other way round.
        assert!(Cli::try_parse_from(["strata", "tables", "--tls-client-cert", "c.pem"]).is_err());
        assert!(Cli::try_parse_from(["strata", "get", "t", "r", "--tls-client-key", "k"]).is_err());
        for args in [
            &[
                "strata",
                "load",
                "--table",
                "t",
                "--csv",
                "f",
                "--server",
                "https://h:1",
                "--token-file",
                "t",
            ][..],
            &[
                "strata",
                "bench",
                "--server",
                "https://h:1",
                "--tls-ca",
                "ca.pem",
            ],
        ] {
            Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
        assert!(Cli::try_parse_from(["strata", "scan", "t", "--start-exclusive"]).is_err());
        assert!(Cli::try_parse_from(["strata", "delete", "t", "r", "--timestamp", "5"]).is_err());
        for args in [
            &["strata", "tables"][..],
            &["strata", "describe", "t"],
            &[
                "strata",
                "alter",
                "t",
                "--add",
                "f:versions=2",
                "--drop",
                "g",
            ],
            &["strata", "drop", "t"],
            &["strata", "put", "t", "r", "f:q", "v"],
            &[
                "strata",
                "get",
                "t",
                "r",
                "--columns",
                "f:q,g",
                "--versions",
                "3",
            ],
            &[
                "strata", "scan", "t", "--prefix", "p", "--start", "a", "--stop", "z", "--limit",
                "5",
            ],
            &["strata", "count", "t", "--prefix", "p"],
            &["strata", "delete", "t", "r", "f:q"],
            &["strata", "flush", "t"],
            &["strata", "compact", "t", "--major"],
            &[
                "strata",
                "aggregate",
                "transactions",
                "payment_info:payment_method",
                "--bucket",
                "value",
                "--top",
                "3",
                "--sum",
                "transaction_summary:total_amount",
                "--prefix",
                "p",
                "--start",
                "a",
                "--stop",
                "z",
                "--filter",
                "KeyOnlyFilter()",
                "--json",
            ],
        ] {
            Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }
}
