#!/usr/bin/env bash
# `make test`: every check, each step timed. Prints one line per step
# ("[test] STEP: N s") and a summary of all of them at the end, so a CI log
# says where its minutes went.
#
# The steps, in order:
#   setup       scripts/setup.sh --no-kernel (.venv, libtorch, mold)
#   static      cargo fmt --check, the import-cycle checks, the cited-path check
#   build+test  cargo test (the real-data tests too when CALTECH101_DIR is
#               set), while the notebook kernel (evcxr_jupyter) builds beside it
#   shared      the notebooks' first cell in the real kernel: fails if it
#               compiles any dependency `cargo test` compiled (scripts/check_shared_build.py)
#   lint        cargo clippy --all-targets -D warnings; cargo doc with warnings denied
#   notebooks   notebooks 01-06 executed headless at `smoke`, then tests/notebooks.rs's
#               settings test (02's settings cell edited, 02 and 03 run) (needs CALTECH101_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
# tests/notebooks.rs's real-data test: notebook 02's settings executed, then 03.
NOTEBOOK_TEST=notebook_settings_carry_from_02_to_03
# Links through mold when setup could install it.
link() { if command -v mold >/dev/null 2>&1; then mold -run "$@"; else "$@"; fi; }

summary=()
step() {
  local name=$1
  shift
  local start=$SECONDS
  echo "[test] $name ..."
  "$@"
  local took=$((SECONDS - start))
  echo "[test] $name: ${took} s"
  summary+=("$name ${took} s")
}

static_checks() {
  $CARGO fmt --all -- --check
  python3 scripts/module_cycles.py src
  python3 scripts/module_cycles.py src --depth 2
  python3 scripts/check_docs.py
}

# The kernel (evcxr_jupyter itself, a separate build) compiles while cargo
# test does: both fit on 2 cores in little more than cargo test's time.
build_and_test() {
  mkdir -p .tools
  bash scripts/setup-kernel.sh > .tools/setup-kernel.log 2>&1 &
  local kernel=$!
  local args=()
  # The notebook settings test runs the kernel: it waits for the notebooks step.
  if [ -n "${CALTECH101_DIR:-}" ]; then args=(-- --include-ignored --skip "$NOTEBOOK_TEST"); fi
  link $CARGO test --no-fail-fast "${args[@]}"
  if ! wait "$kernel"; then
    cat .tools/setup-kernel.log
    echo "!!! the kernel build failed"
    return 1
  fi
  tail -n 1 .tools/setup-kernel.log
}

lint() {
  $CARGO clippy --all-targets --quiet -- -D warnings
  RUSTDOCFLAGS="-D warnings" $CARGO doc --no-deps --lib --quiet
}

notebooks() {
  .venv/bin/python scripts/run_notebooks.py
  link $CARGO test --quiet --test notebooks -- --ignored "$NOTEBOOK_TEST"
}

if [ -z "${CALTECH101_DIR:-}" ]; then
  echo "!!! CALTECH101_DIR is unset: the real-data tests are IGNORED (cargo lists them)"
  echo "!!! and the notebooks are NOT executed. Set it to a Caltech-101 copy (holding"
  echo "!!! 101_ObjectCategories/) to run them."
fi
step setup bash scripts/setup.sh --no-kernel
step static static_checks
step build+test build_and_test
step shared .venv/bin/python scripts/check_shared_build.py
step lint lint
if [ -n "${CALTECH101_DIR:-}" ]; then
  step notebooks notebooks
fi
echo "[test] all steps passed in ${SECONDS} s: $(IFS=';'; echo "${summary[*]}" | sed 's/;/, /g')"
