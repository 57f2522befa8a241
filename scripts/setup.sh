#!/usr/bin/env bash
# Installs what SocraticWingman needs on a Debian machine: system packages (as root) and the
# project in its own virtualenv at .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

with_browser=0
for arg in "$@"; do
  case "$arg" in
    --test) with_browser=1 ;;
  esac
done

# python3: the sandbox runs Debian's interpreter from /usr, the only tree it can see.
packages=(bubblewrap util-linux python3)
if [ "$with_browser" = 1 ]; then
  # redis-server: the tests start their own (shared rate limits, two nodes on one Redis).
  packages+=(chromium redis-server)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "please install: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
if [ "$with_browser" = 1 ]; then
  .venv/bin/pip install -q -e '.[test]'
else
  .venv/bin/pip install -q -e .
fi
