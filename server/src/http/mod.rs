//! The HTTP server in the same process as gRPC: the dashboard (`/`), table pages
//! (`/tables`, `/tables/{name}`), their JSON (`/api/...`, see docs/http.md) and Prometheus
//! `/metrics`. Everything is computed through the same aggregation and DescribeTable calls
//! the gRPC API offers; nothing here reads the store another way.
//!
//! Layout: [`server`] binds, routes and shuts down; [`dashboard`] and [`tables`] hold what
//! the pages show; [`pages`] and [`charts`] render HTML and SVG; [`api`] is the JSON;
//! [`metrics`] and [`observe`] the Prometheus side; [`error`] the one error mapping;
//! [`markup`] escaping and formats; [`auth`] the authentication guard and the callers'
//! authorization, [`listener`] plain or TLS connections.

pub mod api;
pub mod auth;
pub mod charts;
pub mod dashboard;
pub mod error;
pub mod listener;
pub mod markup;
pub mod metrics;
pub mod observe;
pub mod pages;
pub mod routes;
pub mod server;
pub mod tables;

pub use server::{HttpHandle, HttpState, bind, router, start};
