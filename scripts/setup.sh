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
  # docker.io and debootstrap: the Docker sandbox tests, and its runner image built locally.
  packages+=(docker.io debootstrap)
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

if [ "$with_browser" = 1 ] && [ "$(id -u)" = 0 ]; then
  # A Docker engine for the sandbox tests: no iptables or bridge (runs have no network at all).
  if ! docker info >/dev/null 2>&1; then
    mkdir -p /var/log
    setsid dockerd --iptables=false --bridge=none >/var/log/wingman-dockerd.log 2>&1 </dev/null &
    for _ in $(seq 1 60); do
      docker info >/dev/null 2>&1 && break
      sleep 1
    done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start:" >&2; tail -20 /var/log/wingman-dockerd.log >&2; exit 1; }
  fi
  .venv/bin/wingman sandbox build-image
fi
