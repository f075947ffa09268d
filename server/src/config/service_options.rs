//! The options of the gRPC service and of the Thrift gateway as `ServerConfig` resolves them
//! from the settings (not the store's: those are `DbOptions`).
//!
//! This module must never parse a setting: `mod.rs` does.

use std::time::Duration;

use super::{
    DEFAULT_MAX_CONCURRENT_STREAMS, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_ROWS_PER_MULTIGET,
    DEFAULT_MAX_SCANS, DEFAULT_MAX_SCANS_PER_CONNECTION, DEFAULT_SCAN_BATCH_BYTES,
    DEFAULT_SCAN_BATCH_ROWS, DEFAULT_SCAN_BUFFER_BYTES, DEFAULT_SCAN_IDLE_TIMEOUT,
    DEFAULT_THRIFT_MAX_CONNECTIONS, DEFAULT_THRIFT_SCANNER_LEASE, REPLY_FRAMING, THRIFT_MAX_ITEMS,
};
use crate::scan_budget::ScanLimits;

/// Options of the gRPC service itself (not of the store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceOptions {
    /// Largest gRPC message received or sent, in bytes.
    pub max_message_bytes: usize,
    /// Most rows one MultiGet may name.
    pub max_rows_per_multiget: usize,
    /// A scan whose client reads nothing for this long is dropped.
    pub scan_idle_timeout: Duration,
    /// Rows per scan reply when the request's `batch_size` is 0.
    pub scan_batch_rows: u32,
    /// Bytes per scan reply (a larger row comes in parts).
    pub scan_batch_bytes: usize,
    /// Most scans open at once, server-wide (Thrift scanners count too).
    pub max_scans: usize,
    /// Most scans open at once on one connection.
    pub max_scans_per_connection: usize,
    /// Bytes of scan replies waiting for clients, across all scans.
    pub scan_buffer_bytes: usize,
    /// Most concurrent calls (HTTP/2 streams) on one gRPC connection.
    pub max_concurrent_streams: u32,
}

impl ServiceOptions {
    /// The scan caps and buffer budget these options set.
    pub fn scan_limits(&self) -> ScanLimits {
        ScanLimits {
            max_scans: self.max_scans,
            max_scans_per_connection: self.max_scans_per_connection,
            scan_buffer_bytes: self.scan_buffer_bytes,
        }
    }

    /// The most bytes of one scan reply: `scan_batch_bytes`, kept below the message limit.
    pub fn scan_reply_bytes(&self) -> usize {
        self.scan_batch_bytes
            .min(self.max_message_bytes.saturating_sub(REPLY_FRAMING))
            .max(1)
    }
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES as usize,
            max_rows_per_multiget: DEFAULT_MAX_ROWS_PER_MULTIGET,
            scan_idle_timeout: DEFAULT_SCAN_IDLE_TIMEOUT,
            scan_batch_rows: DEFAULT_SCAN_BATCH_ROWS,
            scan_batch_bytes: DEFAULT_SCAN_BATCH_BYTES as usize,
            max_scans: DEFAULT_MAX_SCANS,
            max_scans_per_connection: DEFAULT_MAX_SCANS_PER_CONNECTION,
            scan_buffer_bytes: DEFAULT_SCAN_BUFFER_BYTES as usize,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
        }
    }
}

/// Options of the HBase Thrift1 gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThriftOptions {
    /// Framed transport (else buffered).
    pub framed: bool,
    /// Compact protocol (else binary).
    pub compact: bool,
    /// Most connections at once.
    pub max_connections: usize,
    /// A scanner without a call for this long is dropped.
    pub scanner_lease: Duration,
    /// Largest request or reply message (or frame), in bytes (below 2 GiB).
    pub max_message_bytes: usize,
    /// Most container elements in one request.
    pub max_items: usize,
}

impl Default for ThriftOptions {
    fn default() -> Self {
        ThriftOptions {
            framed: false,
            compact: false,
            max_connections: DEFAULT_THRIFT_MAX_CONNECTIONS,
            scanner_lease: DEFAULT_THRIFT_SCANNER_LEASE,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES as usize,
            max_items: THRIFT_MAX_ITEMS,
        }
    }
}
