#!/usr/bin/env bash
# Starts JupyterLab on notebooks/ with the Rust kernel (`make lab`, after
# scripts/setup.sh). JupyterLab refuses to start as root without
# --allow-root, and containers and cloud notebooks often run as root: the
# flag is passed then, and only then.
#   scripts/lab.sh [OPTION...]      runs it; options go to `jupyter lab`
#   scripts/lab.sh --print [UID]    prints the command that user UID
#                                   (default: this user) would run, one
#                                   word a line (tests/lab.rs)
set -euo pipefail
cd "$(dirname "$0")/.."

uid=$(id -u)
print=false
if [ "${1:-}" = --print ]; then
  print=true
  uid=${2:-$uid}
  set --
fi
command=(.venv/bin/jupyter lab notebooks/)
if [ "$uid" = 0 ]; then
  command+=(--allow-root)
fi
command+=("$@")
if $print; then
  printf '%s\n' "${command[@]}"
else
  exec "${command[@]}"
fi
