#!/usr/bin/env bash
# Install Debian's chromium for the upload page's browser test, once (Playwright drives this
# system browser; it never downloads one of its own). Needs root, as on CI.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
echo "browser: installing Debian's chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
