#!/usr/bin/env bash
# Starts evcxr_jupyter in a compile folder of its own under .evcxr/, whose
# target/ is this checkout's target/: with .cargo/config.toml (which cargo
# reads there too, .evcxr/ being inside the checkout) and a copy of
# Cargo.lock, the kernel reuses what `cargo test` or `cargo run` compiled and
# builds only its own cell crate. Two kernels must not share one compile
# folder: each takes the first free slot, held by a lock for the kernel's
# lifetime. Cargo's own lock serialises their builds in target/.
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
    cp "$root/Cargo.lock" "$dir/Cargo.lock"
    export EVCXR_TMPDIR="$dir"
    exec "$root/.tools/bin/evcxr_jupyter" "$@"
  fi
  exec 9>&-
done
echo "evcxr-kernel: all 8 compile slots are busy" >&2
exit 1
