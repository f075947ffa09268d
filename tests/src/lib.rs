//! Helpers for end-to-end tests: locate the built `strata` binary, start `strata serve` on a
//! free loopback port with a data directory, wait until its health service says SERVING,
//! connect gRPC clients, stop it with SIGKILL or SIGTERM, start it again on the same data
//! directory, and run client subcommands capturing their output and exit code.
//!
//! Every wait here is bounded and every failure panics with the server's stderr, so a server
//! that does not come up fails a test with a readable message instead of hanging it.
//!
//! The parts: `process` (the binary, [`Server`], [`run_strata`]), `requests` (request
//! builders, reads and status assertions), `layouts` (the brief's four tables), `grpc`
//! (what the gRPC scenario files share), `secure` (certificates, token files and
//! authenticated clients for the security tests), `wire` (raw HTTPS and Thrift clients) and
//! `every_rpc` (each RPC called once). Everything but `grpc` is re-exported here, so a test
//! file's `use strata_tests::*;` brings it in.

pub use strata_proto::v1;

pub mod every_rpc;
pub mod grpc;
mod layouts;
mod process;
mod requests;
pub mod secure;
pub mod wire;

pub use layouts::*;
pub use process::*;
pub use requests::*;
