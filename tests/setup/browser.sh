#!/usr/bin/env bash
# Set-up of the browser test (tests/python/test_dashboard.py): Debian's Chromium and its
# WebDriver. Idempotent: does nothing when /usr/bin/chromium and /usr/bin/chromedriver exist.
# Selenium itself comes from PyPI (tests/python/requirements-dashboard.txt) and runs with
# SE_OFFLINE=true, so it never downloads a browser or a driver of its own.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "installing Debian's chromium and chromium-driver for the browser test"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver
