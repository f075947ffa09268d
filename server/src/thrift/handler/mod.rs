//! The service's methods over the engine's public API, one file per group (admin, reads,
//! scanners, writes, atomic), and what they share: the gateway state, the calling connection, the
//! reply values and the argument conversions every group uses.
//!
//! Handlers are plain functions run on a blocking thread (one per call, by the connection):
//! they may call the engine directly. They must never encode anything (that is `dispatch`) nor
//! map engine errors themselves (that is `error`, through `?`).

pub mod admin;
pub mod atomic;
pub mod reads;
pub mod scanners;
pub mod writes;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use strata_engine::{ColumnSelector, Db, ReadOptions};

use super::auth::ThriftSecurity;
use super::error::{ThriftError, show};
use super::protocol::OutputProtocol;
use super::scanner::Scanners;
use super::time;
use super::types::{ColumnDescriptor, Map, TCell, TRegionInfo, TRowResult, write_field};
use crate::config::ThriftOptions;
use crate::scan_budget::ScanBudget;

/// What every call shares: the store, the open scanners, the settings, the security.
pub struct Gateway {
    /// The store (the same one gRPC serves).
    pub db: Db,
    /// Open scanners.
    pub scanners: Scanners,
    /// Settings.
    pub options: ThriftOptions,
    /// TLS, authentication and authorization of the calls.
    pub security: ThriftSecurity,
}

impl Gateway {
    /// A gateway over `db`, without TLS or authentication, its scanners counting in `budget`.
    pub fn new(db: Db, options: ThriftOptions, budget: Arc<ScanBudget>) -> Gateway {
        Gateway::with_security(db, options, ThriftSecurity::off(), budget)
    }

    /// A gateway over `db` behind `security`, its scanners counting in `budget`.
    pub fn with_security(
        db: Db,
        options: ThriftOptions,
        security: ThriftSecurity,
        budget: Arc<ScanBudget>,
    ) -> Gateway {
        Gateway {
            db,
            scanners: Scanners::new(options.scanner_lease, budget),
            options,
            security,
        }
    }

    /// Whether table `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        self.db.list_tables().iter().any(|t| t == name)
    }

    /// The most bytes a reply may take (the message limit, less room for framing).
    pub fn reply_budget(&self) -> usize {
        self.options
            .max_message_bytes
            .saturating_sub(64 * 1024)
            .max(1)
    }
}

/// The connection a call came on.
#[derive(Clone, Debug)]
pub struct Peer {
    /// The address the client reached (named in region descriptions).
    pub local: SocketAddr,
    /// The client's address.
    pub client: Option<SocketAddr>,
    /// The principal name of the client certificate (over `--thrift-tls` with client CAs).
    pub certificate: Option<Arc<str>>,
}

impl Peer {
    /// A connection to `local` from an unknown client without a certificate.
    pub fn at(local: SocketAddr) -> Peer {
        Peer {
            local,
            client: None,
            certificate: None,
        }
    }
}

/// A method's success value (field 0 of its result struct).
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `void`
    Void,
    /// `bool`
    Bool(bool),
    /// `i32` (also `ScannerID` and enums)
    I32(i32),
    /// `i64`
    I64(i64),
    /// `string`
    Text(String),
    /// `list<Text>`
    Names(Vec<Bytes>),
    /// `map<Text, bool>`
    Flags(Map<Bytes, bool>),
    /// `list<TCell>`
    Cells(Vec<TCell>),
    /// `list<TRowResult>`
    Rows(Vec<TRowResult>),
    /// `map<Text, ColumnDescriptor>`
    Descriptors(Map<Bytes, ColumnDescriptor>),
    /// `list<TRegionInfo>`
    Regions(Vec<TRegionInfo>),
}

impl Reply {
    /// Write the success field (nothing for `void`).
    pub fn write<P: OutputProtocol>(&self, p: &mut P) {
        match self {
            Reply::Void => {}
            Reply::Bool(v) => write_field(p, 0, v),
            Reply::I32(v) => write_field(p, 0, v),
            Reply::I64(v) => write_field(p, 0, v),
            Reply::Text(v) => write_field(p, 0, v),
            Reply::Names(v) => write_field(p, 0, v),
            Reply::Flags(v) => write_field(p, 0, v),
            Reply::Cells(v) => write_field(p, 0, v),
            Reply::Rows(v) => write_field(p, 0, v),
            Reply::Descriptors(v) => write_field(p, 0, v),
            Reply::Regions(v) => write_field(p, 0, v),
        }
    }
}

/// What a handler returns.
pub type Outcome = Result<Reply, ThriftError>;

/// A table name argument (Strata names are ASCII; the engine checks their syntax).
pub fn table_name(raw: &Bytes) -> Result<String, ThriftError> {
    std::str::from_utf8(raw)
        .map(str::to_string)
        .map_err(|_| ThriftError::illegal(format!("table name {:?} is not UTF-8", show(raw))))
}

/// Read options of a get or scan: the selection, versions per column, and the timestamp as
/// HBase applies it (an exclusive upper bound in ms).
pub fn read_options(
    columns: Vec<ColumnSelector>,
    versions: u32,
    timestamp: Option<i64>,
) -> Result<ReadOptions, ThriftError> {
    Ok(ReadOptions {
        columns,
        max_versions: versions.max(1),
        time_range: timestamp.map(time::before).transpose()?.unwrap_or_default(),
    })
}
