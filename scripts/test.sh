#!/usr/bin/env bash
# The one test command (README.md's). Sets up everything a fresh machine needs, then runs
# every test: formatting, clippy, the workspace's unit, property and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The benchmarks must keep building (they are run by hand, never here: see docs/benchmarks.md).
cargo bench --workspace --no-run
# The end-to-end tests run the real `strata` binary: build it first.
cargo build --bin strata
cargo test --workspace

# The Python end-to-end test: a client generated from the proto at test time, as other
# languages use the API. Its virtual environment is made once and reused.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import grpc, grpc_tools' 2>/dev/null; then
  .venv/bin/pip install -q --disable-pip-version-check 'grpcio==1.*' 'grpcio-tools==1.*'
fi
.venv/bin/python tests/python/test_strata.py
