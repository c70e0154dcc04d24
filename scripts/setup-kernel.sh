#!/usr/bin/env bash
# Builds the notebook kernel, after scripts/setup.sh made .venv, and skips it
# when it is in place:
#   .tools/bin/evcxr_jupyter  evcxr_jupyter 0.22.0 from its crates.io sources,
#                             with scripts/evcxr/*.patch applied to evcxr and
#                             scripts/evcxr_jupyter/*.patch to evcxr_jupyter,
#                             in name order (each header says why);
#                             .tools/evcxr.stamp records the version and the
#                             patches. The build (about 15 min on 2 cores) is
#                             kept per user, by version and patches, under
#                             $CALTECH_ANOMALY_TOOL_CACHE (default
#                             ~/.cache/caltech_anomaly), so another checkout
#                             on the machine copies it instead
#   .venv/share/jupyter/kernels/rust/  its kernelspec, which carries libtorch
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

EVCXR_VERSION=0.22.0
EVCXR_SHA256=ee69caeeefc311959b85962458e370d8eccb165123edbc5270134aaee6d7ed80
EVCXR_JUPYTER_SHA256=3ce0d7b3058f68a9673df4f1266b641942fea0ec131881d095306e509a382764

log() { printf '[setup-kernel] %s\n' "$*" >&2; }

evcxr=.tools/bin/evcxr_jupyter
patches=(scripts/evcxr/*.patch)
jupyter_patches=(scripts/evcxr_jupyter/*.patch)
evcxr_stamp="evcxr_jupyter $EVCXR_VERSION $(cat "${patches[@]}" "${jupyter_patches[@]}" | sha256sum | cut -d' ' -f1)"
tool_cache=${CALTECH_ANOMALY_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/caltech_anomaly}
cached="$tool_cache/evcxr_jupyter-$EVCXR_VERSION-$(echo "$evcxr_stamp" | cut -d' ' -f3 | cut -c1-16)"
if [ ! -x "$evcxr" ] || [ "$(cat .tools/evcxr.stamp 2>/dev/null)" != "$evcxr_stamp" ] && [ -x "$cached" ]; then
  log "evcxr_jupyter $EVCXR_VERSION with these patches, from $cached"
  mkdir -p .tools/bin
  install -m 755 "$cached" "$evcxr.tmp"
  mv "$evcxr.tmp" "$evcxr"
  echo "$evcxr_stamp" > .tools/evcxr.stamp.tmp
  mv .tools/evcxr.stamp.tmp .tools/evcxr.stamp
fi
if [ ! -x "$evcxr" ] || [ "$(cat .tools/evcxr.stamp 2>/dev/null)" != "$evcxr_stamp" ]; then
  log "building evcxr_jupyter $EVCXR_VERSION with ${patches[*]} ${jupyter_patches[*]} (minutes, once)"
  # .tools/target survives an interrupted build, so a rerun compiles only
  # what it had not finished.
  src=.tools/src
  rm -rf "$src"
  .venv/bin/python scripts/fetch_crate.py evcxr "$EVCXR_VERSION" "$EVCXR_SHA256" "$src"
  .venv/bin/python scripts/fetch_crate.py evcxr_jupyter "$EVCXR_VERSION" "$EVCXR_JUPYTER_SHA256" "$src"
  for patch in "${patches[@]}"; do
    git apply -p1 --directory="$src/evcxr-$EVCXR_VERSION" "$patch"
  done
  for patch in "${jupyter_patches[@]}"; do
    git apply -p1 --directory="$src/evcxr_jupyter-$EVCXR_VERSION" "$patch"
  done
  printf '\n[patch.crates-io]\nevcxr = { path = "../evcxr-%s" }\n' "$EVCXR_VERSION" \
    >> "$src/evcxr_jupyter-$EVCXR_VERSION/Cargo.toml"
  # From / so that this checkout's .cargo/config.toml (evcxr's RUSTFLAGS and
  # target) does not apply. The packaged Cargo.lock pins every dependency;
  # cargo changes only evcxr's entry, to the patched path.
  (cd / && cargo build --release --quiet \
    --manifest-path "$root/$src/evcxr_jupyter-$EVCXR_VERSION/Cargo.toml" \
    --target-dir "$root/.tools/target")
  mkdir -p .tools/bin
  install -m 755 .tools/target/release/evcxr_jupyter "$evcxr.tmp"
  mv "$evcxr.tmp" "$evcxr"
  if mkdir -p "$tool_cache" 2>/dev/null && install -m 755 "$evcxr" "$cached.tmp.$$" 2>/dev/null; then
    mv "$cached.tmp.$$" "$cached"
  fi
  rm -rf .tools/target "$src"
  echo "$evcxr_stamp" > .tools/evcxr.stamp.tmp
  mv .tools/evcxr.stamp.tmp .tools/evcxr.stamp
fi

# The kernelspec lives in the venv, so the venv's Jupyter finds it. Its env
# carries libtorch: the kernel links the crate into its own process.
kernel_dir=.venv/share/jupyter/kernels/rust
mkdir -p "$kernel_dir"
cat > "$kernel_dir/kernel.json.tmp" <<JSON
{
  "argv": ["$root/scripts/evcxr-kernel.sh", "--control_file", "{connection_file}"],
  "display_name": "Rust (caltech_anomaly)",
  "language": "rust",
  "interrupt_mode": "message",
  "env": {
    "LIBTORCH": "$root/.venv/libtorch",
    "LD_LIBRARY_PATH": "$root/.venv/libtorch/lib",
    "CALTECH_ANOMALY_ROOT": "$root"
  }
}
JSON
mv "$kernel_dir/kernel.json.tmp" "$kernel_dir/kernel.json"
log "ready: evcxr_jupyter $EVCXR_VERSION (patched)"
