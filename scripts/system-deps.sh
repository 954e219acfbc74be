#!/usr/bin/env bash
# Install the Debian packages Hyperspace needs, only those that are missing.
set -euo pipefail

need=()
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v git >/dev/null || need+=(git)
command -v make >/dev/null || need+=(make)
command -v npm >/dev/null || need+=(nodejs npm)
# Debian's Chromium runs the browser tests and benchmarks (Playwright drives it; never `playwright install`)
[ -x /usr/bin/chromium ] || need+=(chromium)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "installing system packages: ${need[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
