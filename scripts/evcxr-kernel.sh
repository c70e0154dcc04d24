#!/usr/bin/env bash
# Starts evcxr_jupyter with a persistent compile directory, so that a
# notebook's dependencies (burn, libtorch bindings, ...) are built once, not
# at every kernel start. Two kernels must not share one directory at a time:
# each takes the first free slot, held by a lock for the kernel's lifetime.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/.evcxr"
for slot in 0 1 2 3 4 5 6 7; do
  exec 9>"$root/.evcxr/slot-$slot.lock"
  if flock -n 9; then
    export EVCXR_TMPDIR="$root/.evcxr/slot-$slot"
    mkdir -p "$EVCXR_TMPDIR"
    exec "$root/.tools/bin/evcxr_jupyter" "$@"
  fi
  exec 9>&-
done
echo "evcxr-kernel: all 8 compile slots are busy" >&2
exit 1
