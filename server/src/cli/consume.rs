//! `strata consume`: stream a Kafka topic into a table, exactly once (the loader's
//! `consume` module does the work). This module turns flags into `ConsumeOptions`, picks the
//! sink (`--server` MutateStream or `--data-dir` store), turns SIGINT/SIGTERM into a clean
//! stop (a second signal exits at once, storing nothing more), and prints the summary.
//!
//! It must never hold consumer logic, and never exit 0 when the consumer stopped on too many
//! rejects (exit 3) or an error.

use std::io::Write as _;
use std::path::PathBuf;

use std::sync::Arc;

use anyhow::{Result, bail};
use strata_loader::consume::{
    ChannelFuture, ConsumeError, ConsumeOptions, DbSink, DecodeOptions, Format, GrpcSink,
    MappingFlags, Remote, SaslMechanism, SaslOptions, SchemaFile, Summary, TlsOptions, consume,
};
use strata_server::ClientSecurityArgs;
use strata_server::client::{self, ClientSecurity, ConnectError};
use tonic::service::Interceptor as _;

/// `strata consume` arguments.
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("target").required(true).args(["data_dir", "server"])),
    after_help = "Mapping: --mapping NAME, else the table's built-in mapping (customers/customer, \
product, transactions, clickstream/click_stream), else --columns (one entry per record field). \
Cell timestamps come from --timestamp-column, else the Kafka record timestamp: never the clock, so \
a replay after a crash rewrites the same versions. Offsets are stored in _consumer_offsets only \
after the rows are durable. Exit codes: 0 done (caught up or stopped by a signal), 3 too many \
rejects (offsets stored), 2 configuration or offset error, 1 other errors. See docs/streaming.md."
)]
pub struct ConsumeArgs {
    /// Kafka bootstrap brokers, HOST:PORT[,HOST:PORT...]
    #[arg(
        long,
        value_name = "HOST:PORT[,...]",
        value_delimiter = ',',
        required = true
    )]
    pub brokers: Vec<String>,
    /// Topic to read (every partition; partitions added later are picked up)
    #[arg(long, value_name = "T")]
    pub topic: String,
    /// Table to write
    #[arg(long, value_name = "TABLE")]
    pub table: String,
    /// Write through the running server at URL (MutateStream)
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Write straight into the store in DIR (no server may hold it)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Built-in mapping: customers, product, transactions, clickstream (or the pipeline's
    /// names customer, click_stream) [default: the table's, if it is one]
    #[arg(long, value_name = "NAME", conflicts_with = "columns")]
    pub mapping: Option<String>,
    /// ImportTsv-style mapping, one entry per record field: HBASE_ROW_KEY, family:qualifier
    /// or -
    #[arg(long, value_name = "HBASE_ROW_KEY,cf:q,...")]
    pub columns: Option<String>,
    /// Row key template, e.g. {session_id}#{event_time}#{event_id}
    #[arg(long, value_name = "TEMPLATE")]
    pub row_key: Option<String>,
    /// Field whose ISO-8601 value is each row's cell timestamp [default: the Kafka record
    /// timestamp]
    #[arg(long, value_name = "COL")]
    pub timestamp_column: Option<String>,
    /// Record format: avro (a bare datum), avro-confluent (magic byte, schema id, datum),
    /// json (an object), csv (one line)
    #[arg(long, value_name = "FORMAT", default_value = "avro")]
    pub format: Format,
    /// Avro schema file (.avsc); ID=FILE for avro-confluent, repeatable [default: the
    /// built-in mapping's schema]
    #[arg(long, value_name = "[ID=]FILE")]
    pub avro_schema: Vec<SchemaFile>,
    /// Field names of json and csv records, in order [default: the schema's, or the
    /// built-in mapping's CSV header]
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub fields: Option<Vec<String>>,
    /// How long a fetch at the end of a partition waits for new records, in ms (brokers that
    /// do not answer early when records arrive add up to this much latency; lower means more
    /// idle fetches)
    #[arg(long, value_name = "MS", default_value_t = 50)]
    pub fetch_wait_ms: u64,
    /// Records per write, at most
    #[arg(long, value_name = "N", default_value_t = strata_loader::consume::DEFAULT_BATCH_ROWS)]
    pub batch_rows: usize,
    /// Consumer name: the first part of its _consumer_offsets rows [default: the table name]
    #[arg(long, value_name = "CONSUMER")]
    pub name: Option<String>,
    /// Exit 0 once every partition is at its end
    #[arg(long)]
    pub until_caught_up: bool,
    /// Table for rejected records
    #[arg(long, value_name = "T", default_value = "_rejects")]
    pub rejects_table: String,
    /// Store offsets and exit 3 once more than N records are rejected
    #[arg(long, value_name = "N")]
    pub max_rejects: Option<u64>,
    /// Create the table with the mapping's families if it does not exist
    #[arg(long)]
    pub create_table: bool,
    /// With --server: TLS and token options of the connection to the server (https:// URLs)
    #[command(flatten)]
    pub security: ClientSecurityArgs,
    /// Connect to the brokers with TLS
    #[arg(long)]
    pub broker_tls: bool,
    /// PEM CA certificates for the brokers' TLS [default: the Mozilla roots]
    #[arg(long, value_name = "FILE", requires = "broker_tls")]
    pub broker_ca: Option<PathBuf>,
    /// PEM client certificate chain for TLS client authentication
    #[arg(long, value_name = "FILE", requires_all = ["broker_tls", "broker_key"])]
    pub broker_cert: Option<PathBuf>,
    /// PEM private key of --broker-cert
    #[arg(long, value_name = "FILE", requires = "broker_cert")]
    pub broker_key: Option<PathBuf>,
    /// SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
    #[arg(long, value_name = "MECHANISM", requires_all = ["sasl_username", "sasl_password"])]
    pub sasl_mechanism: Option<SaslMechanism>,
    /// SASL user name
    #[arg(long, value_name = "USER", requires = "sasl_mechanism")]
    pub sasl_username: Option<String>,
    /// SASL password
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "STRATA_SASL_PASSWORD",
        hide_env_values = true
    )]
    pub sasl_password: Option<String>,
    /// No progress line on stderr
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
}

impl ConsumeArgs {
    /// The consumer's options.
    pub fn options(&self) -> Result<ConsumeOptions> {
        let mapping = MappingFlags::choose(
            &self.table,
            self.mapping.as_deref(),
            self.columns.as_deref(),
            self.row_key.as_deref(),
            self.timestamp_column.as_deref(),
        )
        .map_err(ConsumeError::Config)?;
        let decode = DecodeOptions {
            format: self.format,
            schemas: self.avro_schema.clone(),
            fields: self.fields.clone(),
            mapping,
        };
        let mut o = ConsumeOptions::new(self.brokers.clone(), &self.topic, &self.table, decode);
        o.batch_rows = self.batch_rows;
        o.kafka.fetch_wait = std::time::Duration::from_millis(self.fetch_wait_ms);
        if let Some(n) = &self.name {
            o.name = n.clone();
        }
        o.until_caught_up = self.until_caught_up;
        o.rejects_table = self.rejects_table.clone();
        o.max_rejects = self.max_rejects;
        o.create_table = self.create_table;
        o.quiet = self.quiet;
        if self.broker_tls {
            o.kafka.tls = Some(TlsOptions {
                ca: self.broker_ca.clone(),
                client_cert: self.broker_cert.clone().zip(self.broker_key.clone()),
            });
        }
        if let Some(mechanism) = self.sasl_mechanism {
            o.kafka.sasl = Some(SaslOptions {
                mechanism,
                username: self.sasl_username.clone().unwrap_or_default(),
                password: self.sasl_password.clone().unwrap_or_default(),
            });
        }
        Ok(o)
    }
}

/// Resolves on the first SIGINT or SIGTERM; a second one exits the process at once (what is
/// durable stays durable, and its offsets are stored or the records are read again).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot install the signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    eprintln!(
        "stopping: finishing the current write and storing its offsets (signal again to exit now)"
    );
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!("second signal: exiting without waiting");
        std::process::exit(130);
    });
}

/// The server at `url` reached as every client command reaches it (the one connect: TLS for
/// https://, the CA, a client certificate), each request carrying the token.
fn remote(url: &str, security: ClientSecurity) -> Result<Remote> {
    let bearer = security.bearer()?;
    let (shown, security) = (url.to_owned(), Arc::new(security));
    let connect = move || -> ChannelFuture {
        let (url, security) = (shown.clone(), security.clone());
        Box::pin(async move {
            client::channel(&url, &security).await.map_err(|e| match e {
                ConnectError::Connect { .. } => tonic::Status::unavailable(e.to_string()),
                other => tonic::Status::invalid_argument(other.to_string()),
            })
        })
    };
    let decorate = Arc::new(move |req| bearer.clone().call(req));
    Ok(Remote::new(url, connect, Some(decorate)))
}

/// Run `strata consume`.
pub async fn run(args: ConsumeArgs) -> Result<()> {
    let o = args.options()?;
    let summary = match (&args.server, &args.data_dir) {
        (Some(url), None) => {
            let remote = remote(url, args.security.resolve()?)?;
            consume(&o, GrpcSink::to(remote), stop_signal()).await?
        }
        (None, Some(dir)) => consume(&o, DbSink::open(dir).await?, stop_signal()).await?,
        _ => bail!("give exactly one of --server URL and --data-dir DIR"),
    };
    print_summary(&summary, args.json)?;
    match summary.error(&o) {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

fn print_summary(s: &Summary, json: bool) -> Result<()> {
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    if json {
        writeln!(w, "{}", s.to_json())?;
    } else {
        s.print(&mut w)?;
    }
    Ok(())
}

/// The exit code of a failed command: the consumer's own codes (3 too many rejects, 2
/// configuration or offsets), 1 for everything else.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    e.downcast_ref::<ConsumeError>()
        .map_or(1, ConsumeError::exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn parse(extra: &[&str]) -> Result<ConsumeArgs, clap::Error> {
        let mut v = vec![
            "strata",
            "consume",
            "--brokers",
            "h1:9092,h2:9092",
            "--topic",
            "clicks",
            "--table",
            "clickstream",
        ];
        v.extend_from_slice(extra);
        crate::cli::Cli::try_parse_from(v).map(|c| match c.command {
            crate::cli::Command::Consume(a) => a,
            other => panic!("unexpected {other:?}"),
        })
    }

    #[test]
    fn flags_become_options() {
        assert!(parse(&[]).is_err(), "a target is required");
        assert!(parse(&["--server", "http://h:1", "--data-dir", "d"]).is_err());
        let a = parse(&[
            "--server",
            "http://127.0.0.1:1",
            "--format",
            "avro-confluent",
            "--avro-schema",
            "1=a.avsc",
            "--avro-schema",
            "2=b.avsc",
            "--max-rejects",
            "5",
            "--until-caught-up",
            "--sasl-mechanism",
            "scram-sha-512",
            "--sasl-username",
            "u",
            "--sasl-password",
            "p",
        ])
        .unwrap();
        assert_eq!(a.brokers, ["h1:9092", "h2:9092"]);
        let o = a.options().unwrap();
        assert_eq!(o.decode.format, Format::AvroConfluent);
        assert_eq!(o.decode.schemas.len(), 2);
        assert_eq!(o.decode.schemas[1].id, Some(2));
        assert_eq!(o.decode.mapping.builtin(), Some("clickstream"));
        assert_eq!(o.name, "clickstream");
        assert_eq!(o.max_rejects, Some(5));
        assert!(o.until_caught_up);
        assert_eq!(o.rejects_table, "_rejects");
        let sasl = o.kafka.sasl.unwrap();
        assert_eq!(sasl.mechanism, SaslMechanism::ScramSha512);
        assert!(parse(&["--data-dir", "d", "--format", "xml"]).is_err());
        assert!(parse(&["--data-dir", "d", "--broker-ca", "ca.pem"]).is_err());
        assert!(parse(&["--data-dir", "d", "--mapping", "product", "--columns", "x"]).is_err());
        let mut a = parse(&["--data-dir", "d"]).unwrap();
        a.table = "events".into();
        let err = a.options().unwrap_err();
        assert_eq!(exit_code(&err), 2);
        assert!(err.to_string().contains("--columns"), "{err}");
    }
}
