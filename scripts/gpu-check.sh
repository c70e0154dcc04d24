#!/usr/bin/env bash
# The CUDA path, checked in one run on a machine with an NVIDIA GPU:
#   1. build (setup installs the CUDA wheel of torch 2.9.0, as on any machine);
#   2. which precision `auto` picks on the GPU, and a smoke training on it;
#   3. the native convolutions on CUDA against burn's own (tests/conv.rs
#      with CALTECH_ANOMALY_TEST_DEVICE=cuda);
#   4. `bench train --device cuda` at 64 and 256 px, fp32 and bf16 (ours and
#      PyTorch eager in the same run);
#   5. `reproduce --profile full --device cuda` (resumable: run the script
#      again and it continues), if time is left (GPU_CHECK_SKIP_FULL=1 skips).
# Everything it prints goes to OUT/gpu-check.log; reproduce's study is
# OUT/reproduce-full. Needs CALTECH101_DIR for steps 2 and 5.
#
#   bash scripts/gpu-check.sh [OUT]     (default: runs/gpu-check)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/gpu-check}
mkdir -p "$out"
log="$out/gpu-check.log"
exec > >(tee -a "$log") 2>&1

step() { printf '\n== %s (%s)\n' "$*" "$(date -u +%FT%TZ)"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv || true
nproc

step "build"
bash scripts/setup.sh --no-kernel
cargo build --quiet --tests --bins
bin=target/x86_64-unknown-linux-gnu/debug/caltech-anomaly
[ -x "$bin" ] || bin=$(ls target/*/debug/caltech-anomaly target/debug/caltech-anomaly 2>/dev/null | head -1)

step "the native convolutions on CUDA, fp32 and bf16"
CALTECH_ANOMALY_TEST_DEVICE=cuda cargo test --quiet --test conv

if [ -n "${CALTECH101_DIR:-}" ]; then
  step "a smoke training on CUDA, precision auto"
  "$bin" --data-dir "$CALTECH101_DIR" train --profile smoke --device cuda \
    --out "$out/smoke-cuda" --precision auto
fi

for size in 64 256; do
  for precision in fp32 bf16; do
    step "bench train --device cuda --size $size --precision $precision"
    "$bin" bench train --device cuda --size "$size" --batch 64 --steps 20 \
      --precision "$precision" || echo "!!! bench train $size $precision failed"
  done
done

if [ -n "${CALTECH101_DIR:-}" ] && [ -z "${GPU_CHECK_SKIP_FULL:-}" ]; then
  step "reproduce --profile full --device cuda"
  "$bin" --data-dir "$CALTECH101_DIR" reproduce --profile full --device cuda \
    --out "$out/reproduce-full"
fi
step "done"
