#!/usr/bin/env python3
"""Checks that the notebook kernel reuses what `cargo test` compiled.

Run after `cargo test` (make test does). It builds the crate a notebook's
first cell builds, the way evcxr 0.22 builds it (scripts/evcxr-kernel.sh,
evcxr's eval_context.rs): a cdylib crate in a folder under .evcxr/ whose
target/ links to this checkout's, depending on the kernel package through
the notebooks' own `:dep` line, with evcxr's environment (RUSTC from
rustup, RUSTFLAGS=-Cprefer-dynamic, CARGO_TARGET_DIR=target, --target
<host>) and the kernelspec's. Cargo's JSON messages say of each compiled
unit whether it was fresh; any dependency compiled again (anything but the
kernel package and the cell crate) means the two builds disagree (features,
profile, flags or environment), and a notebook's first cell would rebuild
it. Exits 1 listing those units; prints the build's seconds either way.

Usage: check_shared_build.py [--keep]   (--keep leaves the crate folder)
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The same depth under .evcxr/ as the kernel's slots, so relative paths to
# the kernel package (part of cargo's fingerprints) match theirs.
CHECK_DIR = ROOT / ".evcxr" / "slot-check"
# evcxr 0.22's generated manifest (module.rs, get_cargo_toml_contents);
# .cargo/config.toml's [profile.dev] overrides the profile in both builds.
MANIFEST = """
[package]
name = "ctx"
version = "1.0.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]
path = "src/lib.rs"

[profile.dev]
opt-level = 2
debug = false
strip = "debuginfo"
rpath = true
lto = false
debug-assertions = true
codegen-units = 16
panic = 'unwind'
incremental = true
overflow-checks = true

[dependencies]
{deps}
"""
OWN_PACKAGES = {"ctx", "caltech_anomaly_kernel"}


def notebook_dep() -> str:
    """The `:dep` line of notebook 01, with its path made absolute as evcxr does."""
    cells = json.loads((ROOT / "notebooks" / "01_preprocessing.ipynb").read_text())["cells"]
    for cell in cells:
        for line in "".join(cell["source"]).splitlines():
            if line.startswith(":dep "):
                dep = line[len(":dep "):]
                return re.sub(
                    r'path = "([^"]+)"',
                    lambda m: f'path = "{(ROOT / "notebooks" / m.group(1)).resolve()}"',
                    dep,
                )
    sys.exit("check_shared_build: notebook 01 has no :dep line")


def rustc_path() -> str:
    """The rustc evcxr passes as RUSTC: `rustup which rustc`, else PATH's."""
    try:
        out = subprocess.run(["rustup", "which", "rustc"], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.strip()
    except FileNotFoundError:
        pass
    found = shutil.which("rustc")
    if not found:
        sys.exit("check_shared_build: no rustc on PATH")
    return found


def host_target(rustc: str) -> str:
    out = subprocess.run([rustc, "-vV"], capture_output=True, text=True, check=True).stdout
    return re.search(r"^host: (\S+)", out, re.M).group(1)


def kernel_env() -> dict:
    """The environment the kernelspec gives evcxr (scripts/setup-kernel.sh)."""
    spec = ROOT / ".venv" / "share" / "jupyter" / "kernels" / "rust" / "kernel.json"
    if spec.exists():
        return json.loads(spec.read_text()).get("env", {})
    return {
        "LIBTORCH": str(ROOT / ".venv" / "libtorch"),
        "LD_LIBRARY_PATH": str(ROOT / ".venv" / "libtorch" / "lib"),
        "CALTECH_ANOMALY_ROOT": str(ROOT),
    }


def make_crate() -> None:
    (CHECK_DIR / "src").mkdir(parents=True, exist_ok=True)
    (CHECK_DIR / "Cargo.toml").write_text(MANIFEST.format(deps=notebook_dep()))
    (CHECK_DIR / "src" / "lib.rs").write_text("")
    shutil.copyfile(ROOT / "Cargo.lock", CHECK_DIR / "Cargo.lock")
    target = CHECK_DIR / "target"
    if not target.is_symlink():
        shutil.rmtree(target, ignore_errors=True)
        target.symlink_to(pathlib.Path("..") / ".." / "target")


def build() -> tuple[list[str], float]:
    """Builds the cell crate; returns the dependencies compiled anew."""
    rustc = rustc_path()
    env = dict(os.environ)
    env.update(kernel_env())
    env.update(
        {
            "CARGO_TARGET_DIR": "target",
            "CARGO_BUILD_BUILD_DIR": "target",
            "RUSTC": rustc,
            "RUSTFLAGS": "-Cprefer-dynamic",
        }
    )
    cargo = ["cargo"]
    if shutil.which("mold"):
        cargo = ["mold", "-run", "cargo"]
    command = cargo + ["build", "--target", host_target(rustc), "--message-format=json"]
    start = time.monotonic()
    run = subprocess.run(command, cwd=CHECK_DIR, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - start
    rebuilt = []
    for line in run.stdout.splitlines():
        message = json.loads(line) if line.startswith("{") else {}
        if message.get("reason") != "compiler-artifact" or message.get("fresh", True):
            continue
        package = message["target"]["name"]
        if package.replace("-", "_") not in OWN_PACKAGES:
            rebuilt.append(f'{package} ({", ".join(message["target"]["kind"])})')
    if run.returncode != 0:
        sys.stderr.write(run.stderr[-4000:])
        sys.exit(f"check_shared_build: the kernel's build failed ({' '.join(command)})")
    return rebuilt, seconds


def main() -> None:
    make_crate()
    rebuilt, seconds = build()
    try:
        if rebuilt:
            print(
                f"!!! the notebook kernel's build compiled {len(rebuilt)} units that "
                "`cargo test` had compiled (the two builds disagree):"
            )
            for unit in rebuilt:
                print(f"    {unit}")
            sys.exit(1)
        print(f"shared build: the kernel reused every dependency ({seconds:.0f} s to link it)")
    finally:
        if "--keep" not in sys.argv:
            shutil.rmtree(CHECK_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
