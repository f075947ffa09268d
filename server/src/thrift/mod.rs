//! The HBase Thrift1 gateway (`strata serve --thrift-listen`): HBase's `Hbase.thrift` service,
//! so that happybase clients and the pipeline's dashboard work unchanged against Strata.
//!
//! Layers, bottom up: `protocol` (binary and compact encodings, the framer of unframed
//! streams), `transport` (buffered and framed), `types` (the IDL's structs), `dispatch`
//! (method name to handler), `auth` (who may call what, before every handler), `handler` (the
//! methods, over the engine's public API), and `server` (accept loop, connections, shutdown;
//! `tls` the optional handshake). HBase's semantics that the handlers share
//! (column names, millisecond timestamps, result shaping) have a file each; `error` is the one
//! mapping of engine errors to the IDL's exceptions.

pub mod column;
pub mod descriptor;
pub mod error;
pub mod protocol;
pub mod shape;
pub mod time;
pub mod types;

pub mod args;
pub mod auth;
pub mod connection;
pub mod dispatch;
#[cfg(test)]
mod fuzz_tests;
pub mod handler;
pub mod scanner;
pub mod server;
pub mod tls;
pub mod transport;

pub use server::{ThriftHandle, start, start_with};
