#!/usr/bin/env bash
# Install Debian packages the project needs: deploy/local/apt.sh <package>...
# Runs `apt-get update` once per machine boot (marker in /tmp), as root or through sudo.
set -euo pipefail

as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "[apt] ERROR: installing $* needs root (or sudo); install it by hand and retry" >&2
    exit 1
  fi
}

marker=/tmp/.atende-apt-updated
if [[ ! -f $marker ]]; then
  echo "[apt] apt-get update"
  as_root apt-get update -qq
  touch "$marker"
fi
echo "[apt] installing $*"
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
