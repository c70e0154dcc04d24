#!/usr/bin/env bash
# Starts evcxr_jupyter in a compile folder of its own under .evcxr/, whose
# target/ is this checkout's target/: with .cargo/config.toml (which cargo
# reads there too, .evcxr/ being inside the checkout) and this checkout's
# Cargo.lock (EVCXR_CARGO_LOCK, copied in whenever a `:dep` changes the
# crate's dependencies: scripts/evcxr/workspace-lock.patch), the kernel
# reuses what `cargo test` or `cargo run` compiled and builds only its own
# cell crate (scripts/check_shared_build.py checks it). Two kernels must not
# share one compile folder: each takes the first free slot, held by a lock
# for the kernel's lifetime. Cargo's own lock serialises their builds in target/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/.evcxr" "$root/target"
for slot in 0 1 2 3 4 5 6 7; do
  exec 9>"$root/.evcxr/slot-$slot.lock"
  if flock -n 9; then
    dir="$root/.evcxr/slot-$slot"
    mkdir -p "$dir"
    if [ ! -L "$dir/target" ]; then
      rm -rf "$dir/target"
      ln -s ../../target "$dir/target"
    fi
    export EVCXR_TMPDIR="$dir"
    export EVCXR_CARGO_LOCK="$root/Cargo.lock"
    exec "$root/.tools/bin/evcxr_jupyter" "$@"
  fi
  exec 9>&-
done
echo "evcxr-kernel: all 8 compile slots are busy" >&2
exit 1
