#!/usr/bin/env bash
# The one test command (README.md's). Sets up everything a fresh machine needs, then runs
# every test: formatting, clippy, the workspace's unit, property and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The end-to-end tests run the real `strata` binary: build it first.
cargo build --bin strata
cargo test --workspace
