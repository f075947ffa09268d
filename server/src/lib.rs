//! The Strata gRPC server library: the strata.v1 service over an engine [`Db`], the standard
//! health and reflection services, the HBase Thrift1 gateway ([`thrift`]), settings, and a
//! client helper.
//!
//! Entry points: [`serve`] (what `strata serve` runs) and [`start`] (a server on a given
//! listener for an already open store: `strata demo`, tests). This crate must never reach into
//! the engine's internals; it uses `Db`'s public API only.
//!
//! [`Db`]: strata_engine::Db

pub mod aggregation;
pub mod auth;
pub mod client;
pub mod coalesce;
pub mod config;
pub mod convert;
pub mod escape;
pub mod guard;
pub mod http;
pub mod metrics;
pub mod multi_get;
pub mod oversize;
pub mod read_modify_write;
pub mod reply;
pub mod row_joiner;
pub mod scan;
pub mod scan_budget;
pub mod server;
pub mod service;
pub mod status;
pub mod stopping;
pub mod stream;
pub mod thrift;
pub mod tls;

pub use client::{Client, ClientSecurity, ClientSecurityArgs, Remote, connect};
pub use config::{HttpBinding, HttpListen, ServerConfig, ServiceOptions, Settings, ThriftOptions};
pub use row_joiner::RowJoiner;
pub use server::{
    Protections, ServerError, ServerHandle, serve, start, start_with, start_with_http,
};
pub use service::StrataService;
pub use strata_proto::v1 as pb;
