#!/usr/bin/env python3
"""Checks that the notebook kernel reuses what `cargo test` compiled.

Run after `cargo test` and scripts/setup-kernel.sh (make test does both
first). It starts the Rust kernel and runs the notebooks' first cell, the
`:dep` line of notebook 01, exactly as a student's first cell runs, and
reads cargo's own record of what it compiled: every unit cargo builds has a
folder under target/<host>/debug/.fingerprint/ named by the package and the
hash of its settings (features, profile, flags, dependencies), rewritten
when the unit is compiled. The kernel compiles its own crates (the cell
crate `ctx` and `caltech_anomaly_kernel`) and this crate once more
(`caltech_anomaly`, about a minute: cargo hashes a path dependency by its
path from the workspace's root, and the kernel's workspace is its folder
under .evcxr/; all slots lie at one depth, so they share that build). Any
other unit new or rewritten is a dependency that `cargo test` had compiled
and the kernel compiled again: the two builds disagree, and a notebook's
first cell pays for it. Exits 1 listing
those units; prints the cell's seconds either way.

Usage: check_shared_build.py
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import time

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The kernel's crates, and this crate, which it builds under another hash.
OWN_PACKAGES = {"ctx", "caltech_anomaly_kernel", "caltech_anomaly"}


def fingerprints() -> dict[str, float]:
    """Each fingerprint folder of the host's debug build, by name, with the
    newest modification time of the files in it."""
    host = re.search(
        r"^host: (\S+)",
        subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout,
        re.M,
    ).group(1)
    folder = ROOT / "target" / host / "debug" / ".fingerprint"
    if not folder.is_dir():
        sys.exit(f"check_shared_build: no {folder}: run `cargo test` first")
    return {
        unit.name: max((f.stat().st_mtime for f in unit.iterdir()), default=0.0)
        for unit in folder.iterdir()
    }


def first_cell() -> str:
    """Notebook 01's first code cell: the `:dep` line and the prelude."""
    cells = json.loads((ROOT / "notebooks" / "01_preprocessing.ipynb").read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    if ":dep " not in source:
        sys.exit("check_shared_build: notebook 01's first code cell has no :dep line")
    return source


def run_cell(source: str) -> float:
    """Runs `source` in a fresh Rust kernel; its wall time in seconds."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    client = NotebookClient(
        notebook,
        kernel_name="rust",
        timeout=3600,
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    )
    started = time.monotonic()
    client.execute()
    return time.monotonic() - started


def main() -> None:
    if not (ROOT / ".venv" / "share" / "jupyter" / "kernels" / "rust").is_dir():
        sys.exit("check_shared_build: no Rust kernel: run scripts/setup-kernel.sh first")
    before = fingerprints()
    seconds = run_cell(first_cell())
    after = fingerprints()
    package = lambda unit: unit.rsplit("-", 1)[0]  # noqa: E731
    compiled = sorted(
        unit
        for unit, mtime in after.items()
        if package(unit) not in OWN_PACKAGES and before.get(unit) != mtime
    )
    if compiled:
        print(
            f"!!! the notebook kernel's first cell ({seconds:.0f} s) compiled {len(compiled)} "
            "units that `cargo test` had built (new or rewritten fingerprints: the two builds "
            "disagree):"
        )
        for unit in compiled:
            state = "rewritten" if unit in before else "new"
            print(f"    {unit} ({state})")
        sys.exit(1)
    print(f"shared build: the kernel's first cell reused every dependency ({seconds:.0f} s)")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
