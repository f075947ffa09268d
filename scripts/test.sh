#!/usr/bin/env bash
# The one test command (README.md's). Sets up everything a fresh machine needs, then runs
# every test: formatting, clippy, the workspace's unit, property and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Set-up first: the end-to-end tests (Rust and tests/python/test_*.py) run the real binary as
# other languages and tools use it. The Python virtual environment is made once and reused;
# each test group lists its PyPI packages in tests/python/requirements-*.txt and may have a
# set-up script in tests/setup/ (system packages, a broker binary), each idempotent.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
for req in tests/python/requirements-*.txt; do
  stamp=".venv/.installed-$(basename "$req")-$(sha256sum "$req" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    .venv/bin/pip install -q --disable-pip-version-check -r "$req"
    touch "$stamp"
  fi
done
for setup in tests/setup/*.sh; do
  [ -e "$setup" ] || continue
  bash "$setup"
done

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The benchmarks must keep building (they are run by hand, never here: see docs/benchmarks.md).
cargo bench --workspace --no-run
# The end-to-end tests run the real `strata` binary: build it first.
cargo build --bin strata
cargo test --workspace

# The Python end-to-end tests.
for t in tests/python/test_*.py; do
  echo "== $t"
  .venv/bin/python "$t"
done
