#!/usr/bin/env bash
# The browser the report and dashboard tests drive: Debian's chromium and
# chromedriver (headless; Selenium from PyPI talks to the driver). Nothing is
# downloaded at test time. Idempotent: installs only what is missing.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  echo "browser: $(chromium --version 2>/dev/null | head -1)"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "browser: run as root, or: apt-get install -y chromium chromium-driver" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q chromium chromium-driver fonts-dejavu-core >/dev/null \
  || { apt-get update -q >/dev/null && \
       apt-get install -y -q chromium chromium-driver fonts-dejavu-core >/dev/null; }
echo "browser: $(chromium --version 2>/dev/null | head -1)"
