#!/usr/bin/env bash
# Make sure the system packages the test suite needs are present: Debian's Chromium
# (never a browser downloaded by Playwright) and CJK fonts so Chinese renders.
# Installs them with apt when missing and we are root; otherwise says what to run.
set -euo pipefail
need=()
[ -x /usr/lib/chromium/chromium ] || need+=(chromium)
# grep reads all of fc-list's output: with -q it would stop at the first match, fc-list would die of
# SIGPIPE, and pipefail would report the fonts missing when they are there.
fc-list 2>/dev/null | grep -i "noto sans cjk" >/dev/null || need+=(fonts-noto-cjk)
command -v socat >/dev/null 2>&1 || need+=(socat)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "system packages missing: ${need[*]}"
if [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
elif command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "run as root: apt-get install -y ${need[*]}" >&2
  exit 1
fi
