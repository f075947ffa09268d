//! Server settings: what `strata serve` takes from flags and from a TOML file, their defaults,
//! the size and duration syntax they use, and how they resolve into engine options
//! ([`DbOptions`]) and service options ([`ServiceOptions`]).
//!
//! This module only parses and checks settings. It must never open the data directory, bind a
//! socket or start anything; the one file it reads is the config file it is given.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use strata_engine::{DbOptions, Limits, SyncMode};

use crate::auth::SecurityConfig;
use crate::auth::config::SecurityFlags;

mod service_options;
mod values;

pub use service_options::{ServiceOptions, ThriftOptions};
pub use values::{ByteSize, HttpBinding, HttpListen, Span};

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// Default address of the HTTP server (dashboard, table pages, JSON API, /metrics).
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:8080";
/// Default largest gRPC message the server accepts or sends (64 MiB, above the 8 MiB value
/// limit so a maximal value fits in a request).
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 64 * 1024 * 1024;
/// Default most rows one MultiGet may name.
pub const DEFAULT_MAX_ROWS_PER_MULTIGET: usize = 10_000;
/// Default most concurrent calls (HTTP/2 streams) on one gRPC connection.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 128;
/// Default time a scan may wait for its client to take a reply before it is dropped.
pub const DEFAULT_SCAN_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default rows per scan reply when the request's `batch_size` is 0.
pub const DEFAULT_SCAN_BATCH_ROWS: u32 = 1000;
/// Default bytes per scan reply (always applied; a larger row comes in parts).
pub const DEFAULT_SCAN_BATCH_BYTES: u64 = 1024 * 1024;
/// Room kept in a message for the reply's framing beyond its rows.
const REPLY_FRAMING: usize = 64 * 1024;
/// Default most scans open at once, server-wide (gRPC scans and Thrift scanners together).
pub const DEFAULT_MAX_SCANS: usize = 256;
/// Default most scans open at once on one client connection.
pub const DEFAULT_MAX_SCANS_PER_CONNECTION: usize = 32;
/// Default bytes of scan replies waiting for their clients, across all scans.
pub const DEFAULT_SCAN_BUFFER_BYTES: u64 = 256 * 1024 * 1024;
/// Default time shutdown waits for in-flight calls before closing connections.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Default most Thrift gateway connections at once.
pub const DEFAULT_THRIFT_MAX_CONNECTIONS: usize = 1024;
/// Default time a Thrift scanner may go without a call before it is dropped (HBase's: twice
/// `hbase.client.scanner.timeout.period`).
pub const DEFAULT_THRIFT_SCANNER_LEASE: Duration = Duration::from_secs(120);
/// Most container elements (list and map entries, all together) in one Thrift request.
pub const THRIFT_MAX_ITEMS: usize = 1 << 20;

/// What can be wrong with settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has an unknown or mistyped setting.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the setting and the line).
        message: String,
    },
    /// No data directory in the flags or the file.
    #[error("no data directory: pass --data-dir DIR or set data_dir in the config file")]
    NoDataDir,
    /// A setting's value is out of range.
    #[error("setting {setting}: {message}")]
    Invalid {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn de_sync<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SyncMode>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    s.map(|s| s.parse().map_err(serde::de::Error::custom))
        .transpose()
}

/// Every `serve` setting, each optional so that flags can override the file and the file can
/// override the defaults. The same names work as `--flag-name` and as `flag_name = ...` in the
/// TOML file.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Data directory (created if missing) [required, here or in the file]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:50051]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Address of the HTTP server (dashboard, table pages, JSON API, Prometheus /metrics), or
    /// off. A taken default port only disables HTTP, with a warning; a taken address given
    /// here is an error [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR|off")]
    pub http_listen: Option<HttpListen>,
    /// WAL durability: always (fsync per write), group (fsync shared by concurrent writers),
    /// none (OS only; survives a process crash, not a power loss) [default: group]
    #[arg(long, value_name = "MODE")]
    #[serde(default, deserialize_with = "de_sync")]
    pub sync: Option<SyncMode>,
    /// A table's memtable is flushed once it holds this many bytes [default: 64MiB]
    #[arg(long, value_name = "SIZE")]
    pub memtable_bytes: Option<ByteSize>,
    /// Writes stall while a table has this many memtables waiting for flush [default: 4]
    #[arg(long, value_name = "N")]
    pub max_immutable_memtables: Option<usize>,
    /// Block cache budget (decoded blocks) [default: 256MiB]
    #[arg(long, value_name = "SIZE")]
    pub block_cache_bytes: Option<ByteSize>,
    /// Size at which a WAL segment is closed and a new one started [default: 64MiB]
    #[arg(long, value_name = "SIZE")]
    pub wal_segment_bytes: Option<ByteSize>,
    /// Longest row key [default: 4KiB]
    #[arg(long, value_name = "SIZE")]
    pub max_row_key_bytes: Option<ByteSize>,
    /// Longest qualifier [default: 16KiB]
    #[arg(long, value_name = "SIZE")]
    pub max_qualifier_bytes: Option<ByteSize>,
    /// Largest value [default: 8MiB]
    #[arg(long, value_name = "SIZE")]
    pub max_value_bytes: Option<ByteSize>,
    /// Most mutations in one row mutation [default: 100000]
    #[arg(long, value_name = "N")]
    pub max_mutations_per_row: Option<usize>,
    /// Largest gRPC message received or sent; larger requests get RESOURCE_EXHAUSTED. Must be
    /// above max-value-bytes [default: 64MiB]
    #[arg(long, value_name = "SIZE")]
    pub max_message_bytes: Option<ByteSize>,
    /// Most rows one MultiGet may name; more is INVALID_ARGUMENT [default: 10000]
    #[arg(long, value_name = "N")]
    pub max_rows_per_multiget: Option<usize>,
    /// A scan whose client reads nothing for this long is dropped [default: 60s]
    #[arg(long, value_name = "DURATION")]
    pub scan_idle_timeout: Option<Span>,
    /// Rows per scan reply when the request's batch_size is 0 [default: 1000]
    #[arg(long, value_name = "N")]
    pub scan_batch_rows: Option<u32>,
    /// Bytes per scan reply; a row larger than a reply comes in parts (Row.partial), and a
    /// reply passes it only by holding one cell larger [default: 1MiB]
    #[arg(long, value_name = "SIZE")]
    pub scan_batch_bytes: Option<ByteSize>,
    /// Most scans open at once, gRPC scans and Thrift scanners together; one more is
    /// RESOURCE_EXHAUSTED (Thrift: IOError) [default: 256]
    #[arg(long, value_name = "N")]
    pub max_scans: Option<usize>,
    /// Most scans open at once on one client connection [default: 32]
    #[arg(long, value_name = "N")]
    pub max_scans_per_connection: Option<usize>,
    /// Bytes of scan replies waiting for their clients, across all scans; a scan waits for
    /// room rather than pass it [default: 256MiB]
    #[arg(long, value_name = "SIZE")]
    pub scan_buffer_bytes: Option<ByteSize>,
    /// Most concurrent calls (HTTP/2 streams) on one gRPC connection [default: 128]
    #[arg(long, value_name = "N")]
    pub max_concurrent_streams: Option<u32>,
    /// On SIGINT/SIGTERM, time to let in-flight calls finish before closing connections
    /// [default: 30s]
    #[arg(long, value_name = "DURATION")]
    pub shutdown_grace: Option<Span>,
    // Write limits and write-path bounds (issue 10 items 1, 4, 6).
    /// Most cells (delete markers included; a row delete is one per family) one write call
    /// may expand to; more is INVALID_ARGUMENT [default: 1000000]
    #[arg(long, value_name = "N")]
    pub max_cells_per_call: Option<usize>,
    /// Largest encoded size (its WAL record) of one write call; more is INVALID_ARGUMENT. At
    /// most 4GiB - 1 [default: 256MiB]
    #[arg(long, value_name = "SIZE")]
    pub max_bytes_per_call: Option<ByteSize>,
    /// Most cells one row of a write call may expand to; more is INVALID_ARGUMENT
    /// [default: 100000]
    #[arg(long, value_name = "N")]
    pub max_cells_per_row: Option<usize>,
    /// A write that waits this long for flushes or compactions to make room gives up,
    /// unapplied, with UNAVAILABLE [default: 10s]
    #[arg(long, value_name = "DURATION")]
    pub write_stall_timeout: Option<Span>,
    /// Once the WAL holds this much, the tables holding its oldest segment are flushed so it
    /// can be deleted [default: 256MiB]
    #[arg(long, value_name = "SIZE")]
    pub max_total_wal_bytes: Option<ByteSize>,
    /// Open even if the WAL is damaged in the middle, keeping the records before the damage
    /// [default: false]
    #[arg(long)]
    #[serde(default)]
    pub salvage_wal: bool,
    /// Address of the HBase Thrift1 gateway (happybase, HBase's port is 9090); the gateway is
    /// off unless this is given [default: off]
    #[arg(long, value_name = "ADDR")]
    pub thrift_listen: Option<SocketAddr>,
    /// Thrift gateway: framed transport instead of buffered (HBase's -framed) [default: false]
    #[arg(long)]
    #[serde(default)]
    pub thrift_framed: bool,
    /// Thrift gateway: compact protocol instead of binary (HBase's -compact) [default: false]
    #[arg(long)]
    #[serde(default)]
    pub thrift_compact: bool,
    /// Thrift gateway: most connections at once; a connection past it is accepted, logged and
    /// closed [default: 1024]
    #[arg(long, value_name = "N")]
    pub thrift_max_connections: Option<usize>,
    /// Thrift gateway: a scanner without a call for this long is dropped; later calls on it
    /// fail naming its id [default: 120s]
    #[arg(long, value_name = "DURATION")]
    pub thrift_scanner_lease: Option<Span>,
    /// A directory BulkIngest adopts table files from (repeat for several; created at start;
    /// the first is where `strata load --server` stages). TOML: ingest_dirs = ["DIR", ...]
    /// [default: DATA_DIR/ingest]
    #[arg(long = "ingest-dir", value_name = "DIR")]
    #[serde(default, rename = "ingest_dirs")]
    pub ingest_dir: Vec<PathBuf>,
    /// Open even if table files are damaged or missing: move them to DATA_DIR/quarantine/,
    /// open their tables without them (what they held is lost; the log lists it) and stop
    /// listing them. Without it such a table answers DATA_LOSS and the others serve
    /// [default: false]
    #[arg(long)]
    #[serde(default)]
    pub quarantine_damaged_files: bool,
    /// Thrift gateway: TLS with --tls-cert/--tls-key (client certificates too with
    /// --tls-client-ca); happybase has no TLS transport, so it is opt-in [default: false]
    #[arg(long)]
    #[serde(default)]
    pub thrift_tls: bool,
    /// PEM certificate chain: serve gRPC and HTTP over TLS (needs --tls-key) [default: none,
    /// plain TCP]
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert [default: none]
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// PEM certificate authorities: require client certificates they signed (mTLS); the
    /// principal is the certificate's Subject CN, else its first DNS name [default: none]
    #[arg(long, value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
    /// TOML file of principals, their token hashes and permissions: every request must
    /// authenticate (see docs/security.md) [default: none, no authentication]
    #[arg(long, value_name = "FILE")]
    pub auth_tokens: Option<PathBuf>,
    /// Append the audit log (create and admin actions, refused requests; JSON lines) to FILE
    /// [default: the server log, target audit]
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Allow listening on a non-loopback address without TLS and authentication (logged as a
    /// warning) [default: false]
    #[arg(long)]
    #[serde(default)]
    pub insecure: bool,
    /// Let the health service and the HTTP /metrics answer without credentials [default: false]
    #[arg(long)]
    #[serde(default)]
    pub open_health_metrics: bool,
}

impl Settings {
    /// Read settings from a TOML file.
    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Settings::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parse settings from TOML text.
    pub fn from_toml(text: &str) -> Result<Settings, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Settings from `self` (the flags) where given, else from `file`.
    pub fn or(self, file: Settings) -> Settings {
        Settings {
            data_dir: self.data_dir.or(file.data_dir),
            listen: self.listen.or(file.listen),
            http_listen: self.http_listen.or(file.http_listen),
            sync: self.sync.or(file.sync),
            memtable_bytes: self.memtable_bytes.or(file.memtable_bytes),
            max_immutable_memtables: self
                .max_immutable_memtables
                .or(file.max_immutable_memtables),
            block_cache_bytes: self.block_cache_bytes.or(file.block_cache_bytes),
            wal_segment_bytes: self.wal_segment_bytes.or(file.wal_segment_bytes),
            max_row_key_bytes: self.max_row_key_bytes.or(file.max_row_key_bytes),
            max_qualifier_bytes: self.max_qualifier_bytes.or(file.max_qualifier_bytes),
            max_value_bytes: self.max_value_bytes.or(file.max_value_bytes),
            max_mutations_per_row: self.max_mutations_per_row.or(file.max_mutations_per_row),
            max_message_bytes: self.max_message_bytes.or(file.max_message_bytes),
            max_rows_per_multiget: self.max_rows_per_multiget.or(file.max_rows_per_multiget),
            scan_idle_timeout: self.scan_idle_timeout.or(file.scan_idle_timeout),
            scan_batch_rows: self.scan_batch_rows.or(file.scan_batch_rows),
            scan_batch_bytes: self.scan_batch_bytes.or(file.scan_batch_bytes),
            max_scans: self.max_scans.or(file.max_scans),
            max_scans_per_connection: self
                .max_scans_per_connection
                .or(file.max_scans_per_connection),
            scan_buffer_bytes: self.scan_buffer_bytes.or(file.scan_buffer_bytes),
            max_concurrent_streams: self.max_concurrent_streams.or(file.max_concurrent_streams),
            shutdown_grace: self.shutdown_grace.or(file.shutdown_grace),
            max_cells_per_call: self.max_cells_per_call.or(file.max_cells_per_call),
            max_bytes_per_call: self.max_bytes_per_call.or(file.max_bytes_per_call),
            max_cells_per_row: self.max_cells_per_row.or(file.max_cells_per_row),
            write_stall_timeout: self.write_stall_timeout.or(file.write_stall_timeout),
            max_total_wal_bytes: self.max_total_wal_bytes.or(file.max_total_wal_bytes),
            salvage_wal: self.salvage_wal || file.salvage_wal,
            thrift_listen: self.thrift_listen.or(file.thrift_listen),
            thrift_framed: self.thrift_framed || file.thrift_framed,
            thrift_compact: self.thrift_compact || file.thrift_compact,
            thrift_max_connections: self.thrift_max_connections.or(file.thrift_max_connections),
            thrift_scanner_lease: self.thrift_scanner_lease.or(file.thrift_scanner_lease),
            ingest_dir: if self.ingest_dir.is_empty() {
                file.ingest_dir
            } else {
                self.ingest_dir
            },
            quarantine_damaged_files: self.quarantine_damaged_files
                || file.quarantine_damaged_files,
            thrift_tls: self.thrift_tls || file.thrift_tls,
            tls_cert: self.tls_cert.or(file.tls_cert),
            tls_key: self.tls_key.or(file.tls_key),
            tls_client_ca: self.tls_client_ca.or(file.tls_client_ca),
            auth_tokens: self.auth_tokens.or(file.auth_tokens),
            audit_log: self.audit_log.or(file.audit_log),
            insecure: self.insecure || file.insecure,
            open_health_metrics: self.open_health_metrics || file.open_health_metrics,
        }
    }

    /// Fill in defaults and check ranges.
    pub fn resolve(self) -> Result<ServerConfig, ConfigError> {
        let data_dir = self.data_dir.ok_or(ConfigError::NoDataDir)?;
        let listen = match self.listen {
            Some(a) => a,
            None => DEFAULT_LISTEN.parse().map_err(|_| ConfigError::Invalid {
                setting: "listen",
                message: format!("bad built-in default {DEFAULT_LISTEN}"),
            })?,
        };
        let http = match self.http_listen {
            Some(HttpListen::Off) => HttpBinding::Off,
            Some(HttpListen::At(a)) => HttpBinding::Explicit(a),
            None => HttpBinding::Default(DEFAULT_HTTP_LISTEN.parse().map_err(|_| {
                ConfigError::Invalid {
                    setting: "http_listen",
                    message: format!("bad built-in default {DEFAULT_HTTP_LISTEN}"),
                }
            })?),
        };
        let base = DbOptions::default();
        let limits_default = Limits::default();
        let limits = Limits {
            max_row_key: size(
                "max_row_key_bytes",
                self.max_row_key_bytes,
                limits_default.max_row_key,
            )?,
            max_qualifier: size(
                "max_qualifier_bytes",
                self.max_qualifier_bytes,
                limits_default.max_qualifier,
            )?,
            max_value: size(
                "max_value_bytes",
                self.max_value_bytes,
                limits_default.max_value,
            )?,
            max_mutations_per_row: self
                .max_mutations_per_row
                .unwrap_or(limits_default.max_mutations_per_row),
            max_cells_per_call: self
                .max_cells_per_call
                .unwrap_or(limits_default.max_cells_per_call),
            max_bytes_per_call: size(
                "max_bytes_per_call",
                self.max_bytes_per_call,
                limits_default.max_bytes_per_call,
            )?,
            max_cells_per_row: self
                .max_cells_per_row
                .unwrap_or(limits_default.max_cells_per_row),
        };
        let db = DbOptions {
            sync_mode: self.sync.unwrap_or(base.sync_mode),
            memtable_bytes: size("memtable_bytes", self.memtable_bytes, base.memtable_bytes)?,
            max_immutable_memtables: self
                .max_immutable_memtables
                .unwrap_or(base.max_immutable_memtables),
            wal_segment_bytes: self
                .wal_segment_bytes
                .map_or(base.wal_segment_bytes, |b| b.0),
            max_total_wal_bytes: self
                .max_total_wal_bytes
                .map_or(base.max_total_wal_bytes, |b| b.0),
            write_stall_timeout: self
                .write_stall_timeout
                .map_or(base.write_stall_timeout, |s| s.0),
            block_cache_bytes: size(
                "block_cache_bytes",
                self.block_cache_bytes,
                base.block_cache_bytes,
            )?,
            limits,
            salvage_wal: self.salvage_wal,
            background_threads: true,
            ingest_dirs: self.ingest_dir,
            quarantine_damaged_files: self.quarantine_damaged_files,
        };
        let service = ServiceOptions {
            max_message_bytes: size(
                "max_message_bytes",
                self.max_message_bytes,
                DEFAULT_MAX_MESSAGE_BYTES as usize,
            )?,
            max_rows_per_multiget: self
                .max_rows_per_multiget
                .unwrap_or(DEFAULT_MAX_ROWS_PER_MULTIGET),
            scan_idle_timeout: self
                .scan_idle_timeout
                .map_or(DEFAULT_SCAN_IDLE_TIMEOUT, |s| s.0),
            scan_batch_rows: self.scan_batch_rows.unwrap_or(DEFAULT_SCAN_BATCH_ROWS),
            scan_batch_bytes: size(
                "scan_batch_bytes",
                self.scan_batch_bytes,
                DEFAULT_SCAN_BATCH_BYTES as usize,
            )?,
            max_scans: self.max_scans.unwrap_or(DEFAULT_MAX_SCANS),
            max_scans_per_connection: self
                .max_scans_per_connection
                .unwrap_or(DEFAULT_MAX_SCANS_PER_CONNECTION),
            scan_buffer_bytes: size(
                "scan_buffer_bytes",
                self.scan_buffer_bytes,
                DEFAULT_SCAN_BUFFER_BYTES as usize,
            )?,
            max_concurrent_streams: self
                .max_concurrent_streams
                .unwrap_or(DEFAULT_MAX_CONCURRENT_STREAMS),
        };
        let thrift = ThriftOptions {
            framed: self.thrift_framed,
            compact: self.thrift_compact,
            max_connections: self
                .thrift_max_connections
                .unwrap_or(DEFAULT_THRIFT_MAX_CONNECTIONS),
            scanner_lease: self
                .thrift_scanner_lease
                .map_or(DEFAULT_THRIFT_SCANNER_LEASE, |s| s.0),
            max_message_bytes: service.max_message_bytes,
            ..ThriftOptions::default()
        };
        let security = SecurityConfig::resolve(SecurityFlags {
            tls_cert: self.tls_cert,
            tls_key: self.tls_key,
            tls_client_ca: self.tls_client_ca,
            auth_tokens: self.auth_tokens,
            audit_log: self.audit_log,
            insecure: self.insecure,
            open_health_metrics: self.open_health_metrics,
            thrift_tls: self.thrift_tls,
        })?;
        let config = ServerConfig {
            data_dir,
            listen,
            http,
            db,
            service,
            thrift_listen: self.thrift_listen,
            thrift,
            shutdown_grace: self.shutdown_grace.map_or(DEFAULT_SHUTDOWN_GRACE, |s| s.0),
            security,
            fault_enospc_after_bytes: None,
        };
        config.check()?;
        Ok(config)
    }
}

fn size(setting: &'static str, v: Option<ByteSize>, default: usize) -> Result<usize, ConfigError> {
    match v {
        None => Ok(default),
        Some(b) => usize::try_from(b.0).map_err(|_| ConfigError::Invalid {
            setting,
            message: format!("{b} does not fit in this machine's address space"),
        }),
    }
}

/// `Ok` when `ok`, else the error naming `setting`.
fn require(ok: bool, setting: &'static str, message: &str) -> Result<(), ConfigError> {
    if ok {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        setting,
        message: message.into(),
    })
}

/// Everything `serve` needs.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Listen address.
    pub listen: SocketAddr,
    /// The HTTP server's address.
    pub http: HttpBinding,
    /// Store options.
    pub db: DbOptions,
    /// Service options.
    pub service: ServiceOptions,
    /// Where the Thrift gateway listens, if it is on.
    pub thrift_listen: Option<SocketAddr>,
    /// Thrift gateway options.
    pub thrift: ThriftOptions,
    /// Time in-flight calls get to finish at shutdown.
    pub shutdown_grace: Duration,
    /// TLS, authentication, audit.
    pub security: SecurityConfig,
    /// Test only (the hidden `--fault-enospc-after-bytes`, never in TOML): store writes fail
    /// with ENOSPC once this many bytes went through the file layer.
    pub fault_enospc_after_bytes: Option<u64>,
}

impl ServerConfig {
    /// A configuration with every default, for `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Result<ServerConfig, ConfigError> {
        Settings {
            data_dir: Some(data_dir.into()),
            ..Settings::default()
        }
        .resolve()
    }

    /// Check values that must agree with each other.
    pub fn check(&self) -> Result<(), ConfigError> {
        let limits = &self.db.limits;
        // Room for the row key, qualifier and framing next to a maximal value.
        let need = limits
            .max_value
            .saturating_add(limits.max_row_key)
            .saturating_add(limits.max_qualifier)
            .saturating_add(64 * 1024);
        if self.service.max_message_bytes < need {
            return Err(ConfigError::Invalid {
                setting: "max_message_bytes",
                message: format!(
                    "{} is too small: a request carrying one maximal value needs at least {} \
                     (max_value_bytes {} + max_row_key_bytes {} + max_qualifier_bytes {} + 64KiB)",
                    ByteSize(self.service.max_message_bytes as u64),
                    ByteSize(need as u64),
                    ByteSize(limits.max_value as u64),
                    ByteSize(limits.max_row_key as u64),
                    ByteSize(limits.max_qualifier as u64),
                ),
            });
        }
        require(
            self.service.max_rows_per_multiget > 0,
            "max_rows_per_multiget",
            "must be at least 1",
        )?;
        require(
            self.service.scan_batch_rows > 0,
            "scan_batch_rows",
            "must be at least 1",
        )?;
        require(
            self.service.scan_batch_bytes > 0,
            "scan_batch_bytes",
            "must be at least 1 byte",
        )?;
        require(
            !self.service.scan_idle_timeout.is_zero(),
            "scan_idle_timeout",
            "must be above 0",
        )?;
        require(
            self.service.max_scans > 0,
            "max_scans",
            "must be at least 1",
        )?;
        require(
            self.service.max_scans_per_connection > 0,
            "max_scans_per_connection",
            "must be at least 1",
        )?;
        require(
            self.service.max_concurrent_streams > 0,
            "max_concurrent_streams",
            "must be at least 1",
        )?;
        // The largest scan reply: a whole reply, or one maximal cell alone.
        let reply = self.service.scan_reply_bytes().max(need);
        if self.service.scan_buffer_bytes < reply {
            return Err(ConfigError::Invalid {
                setting: "scan_buffer_bytes",
                message: format!(
                    "{} is too small: it must hold the largest scan reply, {} (scan_batch_bytes, \
                     or one maximal cell: max_value_bytes + max_row_key_bytes + \
                     max_qualifier_bytes + 64KiB)",
                    ByteSize(self.service.scan_buffer_bytes as u64),
                    ByteSize(reply as u64),
                ),
            });
        }
        require(
            self.thrift.max_connections > 0,
            "thrift_max_connections",
            "must be at least 1",
        )?;
        require(
            !self.thrift.scanner_lease.is_zero(),
            "thrift_scanner_lease",
            "must be above 0",
        )?;
        if self.thrift_listen.is_some() && self.thrift.max_message_bytes > i32::MAX as usize {
            return Err(ConfigError::Invalid {
                setting: "max_message_bytes",
                message: format!(
                    "{} is too large for the Thrift gateway, whose lengths are 32-bit: at most \
                     2GiB - 1",
                    ByteSize(self.thrift.max_message_bytes as u64)
                ),
            });
        }
        if self.db.limits.max_row_key == 0 {
            return Err(ConfigError::Invalid {
                setting: "max_row_key_bytes",
                message: "must be at least 1".into(),
            });
        }
        self.check_write_bounds()
    }

    /// The write limits and write-path bounds: each at least 1, and a call's byte limit
    /// within one WAL record.
    fn check_write_bounds(&self) -> Result<(), ConfigError> {
        let limits = &self.db.limits;
        require(
            limits.max_cells_per_call > 0,
            "max_cells_per_call",
            "must be at least 1",
        )?;
        require(
            limits.max_cells_per_row > 0,
            "max_cells_per_row",
            "must be at least 1",
        )?;
        if limits.max_bytes_per_call == 0
            || limits.max_bytes_per_call > strata_engine::options::MAX_WRITE_BYTES
        {
            return Err(ConfigError::Invalid {
                setting: "max_bytes_per_call",
                message: format!(
                    "{} is outside 1B..=4GiB-1 (one call is one WAL record)",
                    ByteSize(limits.max_bytes_per_call as u64)
                ),
            });
        }
        require(
            !self.db.write_stall_timeout.is_zero(),
            "write_stall_timeout",
            "must be above 0",
        )?;
        require(
            self.db.max_total_wal_bytes > 0,
            "max_total_wal_bytes",
            "must be at least 1 byte",
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan_budget::ScanLimits;

    #[test]
    fn sizes_parse() {
        assert_eq!("1048576".parse::<ByteSize>(), Ok(ByteSize(1 << 20)));
        assert_eq!("64MiB".parse::<ByteSize>(), Ok(ByteSize(64 << 20)));
        assert_eq!("64mib".parse::<ByteSize>(), Ok(ByteSize(64 << 20)));
        assert_eq!("4K".parse::<ByteSize>(), Ok(ByteSize(4096)));
        assert_eq!("1GB".parse::<ByteSize>(), Ok(ByteSize(1_000_000_000)));
        assert!("12parsecs".parse::<ByteSize>().is_err());
        assert!("MiB".parse::<ByteSize>().is_err());
        assert!("99999999999999999999GiB".parse::<ByteSize>().is_err());
        assert_eq!(ByteSize(64 << 20).to_string(), "64MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
    }

    #[test]
    fn spans_parse() {
        assert_eq!("60".parse::<Span>(), Ok(Span(Duration::from_secs(60))));
        assert_eq!("60s".parse::<Span>(), Ok(Span(Duration::from_secs(60))));
        assert_eq!(
            "250ms".parse::<Span>(),
            Ok(Span(Duration::from_millis(250)))
        );
        assert_eq!("2m".parse::<Span>(), Ok(Span(Duration::from_secs(120))));
        assert!("soon".parse::<Span>().is_err());
        assert!("5h".parse::<Span>().is_err());
    }

    #[test]
    fn defaults_resolve() {
        let c = ServerConfig::new("/tmp/x").expect("defaults are valid");
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(
            c.http,
            HttpBinding::Default(DEFAULT_HTTP_LISTEN.parse().expect("address"))
        );
        assert_eq!(c.db.sync_mode, SyncMode::Group);
        assert_eq!(c.service, ServiceOptions::default());
        assert_eq!(c.db.limits, Limits::default());
    }

    #[test]
    fn file_settings_parse_and_flags_win() {
        let file = Settings::from_toml(
            r#"
            data_dir = "/data/file"
            listen = "0.0.0.0:6000"
            sync = "none"
            memtable_bytes = "8MiB"
            block_cache_bytes = 33554432
            max_message_bytes = "128MiB"
            scan_idle_timeout = "5s"
            salvage_wal = true
            "#,
        )
        .expect("valid file");
        let flags = Settings {
            data_dir: Some("/data/flag".into()),
            sync: Some(SyncMode::Always),
            ..Settings::default()
        };
        let c = flags.or(file).resolve().expect("valid");
        assert_eq!(c.data_dir, PathBuf::from("/data/flag"));
        assert_eq!(c.listen.to_string(), "0.0.0.0:6000");
        assert_eq!(c.db.sync_mode, SyncMode::Always);
        assert_eq!(c.db.memtable_bytes, 8 << 20);
        assert_eq!(c.db.block_cache_bytes, 32 << 20);
        assert_eq!(c.service.max_message_bytes, 128 << 20);
        assert_eq!(c.service.scan_idle_timeout, Duration::from_secs(5));
        assert!(c.db.salvage_wal);
        assert_eq!(c.thrift_listen, None);
        assert_eq!(
            c.thrift,
            ThriftOptions {
                max_message_bytes: 128 << 20,
                ..ThriftOptions::default()
            }
        );
    }

    #[test]
    fn thrift_settings_parse_with_their_defaults() {
        let c = ServerConfig::new("/d").expect("defaults");
        assert_eq!(c.thrift_listen, None);
        assert_eq!(c.thrift.max_connections, 1024);
        assert_eq!(c.thrift.scanner_lease, Duration::from_secs(120));
        assert!(!c.thrift.framed && !c.thrift.compact);
        let file = Settings::from_toml(
            r#"
            data_dir = "/d"
            thrift_listen = "127.0.0.1:9090"
            thrift_framed = true
            thrift_max_connections = 8
            thrift_scanner_lease = "30s"
            "#,
        )
        .expect("valid file");
        let flags = Settings {
            thrift_compact: true,
            thrift_scanner_lease: Some(Span(Duration::from_secs(5))),
            ..Settings::default()
        };
        let c = flags.or(file).resolve().expect("valid");
        assert_eq!(c.thrift_listen.map(|a| a.port()), Some(9090));
        assert!(c.thrift.framed && c.thrift.compact);
        assert_eq!(c.thrift.max_connections, 8);
        assert_eq!(c.thrift.scanner_lease, Duration::from_secs(5));
        let zero = Settings {
            data_dir: Some("/d".into()),
            thrift_max_connections: Some(0),
            ..Settings::default()
        };
        let e = zero.resolve().expect_err("zero connections");
        assert!(e.to_string().contains("thrift_max_connections"), "{e}");
    }

    #[test]
    fn write_bounds_parse_from_flags_and_file_and_are_checked() {
        let c = ServerConfig::new("/d").expect("defaults");
        assert_eq!(c.db.limits.max_cells_per_call, 1_000_000);
        assert_eq!(c.db.limits.max_bytes_per_call, 256 << 20);
        assert_eq!(c.db.limits.max_cells_per_row, 100_000);
        assert_eq!(c.db.write_stall_timeout, Duration::from_secs(10));
        assert_eq!(c.db.max_total_wal_bytes, 256 << 20);
        let file = Settings::from_toml(
            r#"
            data_dir = "/d"
            max_cells_per_call = 5000
            max_bytes_per_call = "1MiB"
            max_cells_per_row = 70
            write_stall_timeout = "2s"
            max_total_wal_bytes = "1GiB"
            "#,
        )
        .expect("valid file");
        let flags = Settings {
            max_cells_per_row: Some(80),
            write_stall_timeout: Some(Span(Duration::from_millis(500))),
            ..Settings::default()
        };
        let c = flags.or(file).resolve().expect("valid");
        assert_eq!(c.db.limits.max_cells_per_call, 5000);
        assert_eq!(c.db.limits.max_bytes_per_call, 1 << 20);
        assert_eq!(c.db.limits.max_cells_per_row, 80);
        assert_eq!(c.db.write_stall_timeout, Duration::from_millis(500));
        assert_eq!(c.db.max_total_wal_bytes, 1 << 30);
        for (bad, name) in [
            ("max_bytes_per_call = \"4GiB\"", "max_bytes_per_call"),
            ("max_cells_per_call = 0", "max_cells_per_call"),
            ("write_stall_timeout = \"0s\"", "write_stall_timeout"),
            ("max_total_wal_bytes = 0", "max_total_wal_bytes"),
        ] {
            let file = Settings::from_toml(&format!("data_dir = \"/d\"\n{bad}")).expect("parses");
            let e = file.resolve().expect_err(bad);
            assert!(e.to_string().contains(name), "{bad}: {e}");
        }
    }

    #[test]
    fn ingest_dirs_and_quarantine_come_from_flags_or_the_file() {
        let c = ServerConfig::new("/d").expect("defaults");
        assert!(c.db.ingest_dirs.is_empty(), "empty means DATA_DIR/ingest");
        assert!(!c.db.quarantine_damaged_files);
        let file = Settings::from_toml(
            r#"
            data_dir = "/d"
            ingest_dirs = ["/staging/a", "/staging/b"]
            quarantine_damaged_files = true
            "#,
        )
        .expect("valid file");
        let c = Settings::default()
            .or(file.clone())
            .resolve()
            .expect("valid");
        assert_eq!(
            c.db.ingest_dirs,
            [PathBuf::from("/staging/a"), PathBuf::from("/staging/b")]
        );
        assert!(c.db.quarantine_damaged_files);
        let flags = Settings {
            ingest_dir: vec!["/flag".into()],
            ..Settings::default()
        };
        let c = flags.or(file).resolve().expect("valid");
        assert_eq!(c.db.ingest_dirs, [PathBuf::from("/flag")], "flags win");
    }

    #[test]
    fn http_listen_is_an_address_or_off_and_given_means_explicit() {
        let file = Settings::from_toml("http_listen = \"127.0.0.1:9000\"").expect("valid");
        let c = Settings {
            data_dir: Some("/d".into()),
            ..Settings::default()
        }
        .or(file)
        .resolve()
        .expect("valid");
        assert_eq!(
            c.http,
            HttpBinding::Explicit("127.0.0.1:9000".parse().expect("address"))
        );
        let off = Settings::from_toml("http_listen = \"off\"").expect("valid");
        assert_eq!(off.http_listen, Some(HttpListen::Off));
        let c = Settings {
            data_dir: Some("/d".into()),
            ..off
        }
        .resolve()
        .expect("valid");
        assert_eq!(c.http, HttpBinding::Off);
        let e = Settings::from_toml("http_listen = \"everywhere\"").expect_err("bad");
        assert!(e.contains("everywhere"), "{e}");
        assert_eq!(HttpListen::Off.to_string(), "off");
    }

    #[test]
    fn scan_caps_parse_and_a_buffer_below_one_reply_is_refused() {
        let c = ServerConfig::new("/d").expect("defaults");
        assert_eq!(
            c.service.scan_limits(),
            ScanLimits {
                max_scans: 256,
                max_scans_per_connection: 32,
                scan_buffer_bytes: 256 << 20,
            }
        );
        assert_eq!(c.service.max_concurrent_streams, 128);
        let file = Settings::from_toml(
            r#"
            data_dir = "/d"
            max_scans = 10
            max_scans_per_connection = 2
            scan_buffer_bytes = "64MiB"
            max_concurrent_streams = 16
            "#,
        )
        .expect("valid file");
        let c = file.resolve().expect("valid");
        assert_eq!(c.service.max_scans, 10);
        assert_eq!(c.service.max_scans_per_connection, 2);
        assert_eq!(c.service.scan_buffer_bytes, 64 << 20);
        assert_eq!(c.service.max_concurrent_streams, 16);
        for (setting, s) in [
            (
                "scan_buffer_bytes",
                Settings {
                    scan_buffer_bytes: Some(ByteSize(1 << 20)),
                    ..Settings::default()
                },
            ),
            (
                "max_scans",
                Settings {
                    max_scans: Some(0),
                    ..Settings::default()
                },
            ),
            (
                "max_scans_per_connection",
                Settings {
                    max_scans_per_connection: Some(0),
                    ..Settings::default()
                },
            ),
        ] {
            let e = Settings {
                data_dir: Some("/d".into()),
                ..s
            }
            .resolve()
            .expect_err(setting);
            assert!(e.to_string().contains(setting), "{e}");
        }
    }

    #[test]
    fn unknown_and_bad_settings_are_named() {
        let e = Settings::from_toml("memtable_size = 5").expect_err("unknown key");
        assert!(e.contains("memtable_size"), "{e}");
        let e = Settings::from_toml("sync = \"sometimes\"").expect_err("bad sync");
        assert!(e.contains("sometimes"), "{e}");
    }

    #[test]
    fn message_limit_must_exceed_value_limit() {
        let s = Settings {
            data_dir: Some("/d".into()),
            max_message_bytes: Some(ByteSize(4 << 20)),
            ..Settings::default()
        };
        let e = s.resolve().expect_err("too small");
        assert!(e.to_string().contains("max_message_bytes"), "{e}");
    }

    #[test]
    fn security_settings_come_from_the_file_and_flags_win() {
        let file = Settings::from_toml(
            r#"
            tls_cert = "/etc/s/file.pem"
            tls_key = "/etc/s/file.key"
            tls_client_ca = "/etc/s/ca.pem"
            auth_tokens = "/etc/s/tokens.toml"
            audit_log = "/var/log/audit"
            open_health_metrics = true
            "#,
        )
        .expect("valid file");
        let flags = Settings {
            data_dir: Some("/d".into()),
            tls_cert: Some("/flag.pem".into()),
            insecure: true,
            ..Settings::default()
        };
        let c = flags.or(file).resolve().expect("valid").security;
        let tls = c.tls.as_ref().expect("tls");
        assert_eq!(tls.cert, PathBuf::from("/flag.pem"));
        assert_eq!(tls.key, PathBuf::from("/etc/s/file.key"));
        assert!(c.client_certs());
        assert_eq!(c.auth_tokens, Some(PathBuf::from("/etc/s/tokens.toml")));
        assert_eq!(c.audit_log, Some(PathBuf::from("/var/log/audit")));
        assert!(c.insecure && c.open_health_metrics);
        assert_eq!(
            ServerConfig::new("/d").expect("defaults").security,
            SecurityConfig::default()
        );
    }

    #[test]
    fn missing_data_dir_is_reported() {
        assert!(matches!(
            Settings::default().resolve(),
            Err(ConfigError::NoDataDir)
        ));
    }

    #[test]
    fn max_rows_per_multiget_has_a_default_parses_and_must_be_positive() {
        let c = ServerConfig::new("/d").expect("defaults");
        assert_eq!(c.service.max_rows_per_multiget, 10_000);
        let file = Settings::from_toml("data_dir = \"/d\"\nmax_rows_per_multiget = 50\n")
            .expect("valid file");
        assert_eq!(
            file.resolve().expect("valid").service.max_rows_per_multiget,
            50
        );
        let e = Settings {
            data_dir: Some("/d".into()),
            max_rows_per_multiget: Some(0),
            ..Settings::default()
        }
        .resolve()
        .expect_err("zero rows");
        assert!(e.to_string().contains("max_rows_per_multiget"), "{e}");
    }
}
