"""Executes notebooks/0*.ipynb headless with the Rust kernel, in order.

Fails on the first cell error. The executed copies, and the study directory
they share, are kept under notebooks/executed/ as test output. Defaults for a
test run (each can be overridden from the environment):
CALTECH_ANOMALY_PROFILE=smoke, CALTECH_ANOMALY_DEVICE=cpu,
CALTECH_ANOMALY_OUT=notebooks/executed/study.

Prints, per notebook, the wall time, the time until its first figure and
its slowest cell: the README's cold/warm numbers come from here.
"""

import argparse
import os
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def figures_in(cell) -> int:
    return sum(
        1
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    )


def run(path: pathlib.Path, out_dir: pathlib.Path, timeout: int) -> None:
    nb = nbformat.read(path, as_version=4)
    started = time.monotonic()
    first_figure = None
    cell_started = started
    slowest = (0.0, -1)

    def on_cell_start(cell, **_):
        nonlocal cell_started
        cell_started = time.monotonic()

    def on_cell_executed(cell, cell_index, **_):
        nonlocal first_figure, slowest
        now = time.monotonic()
        slowest = max(slowest, (now - cell_started, cell_index))
        if first_figure is None and figures_in(cell):
            first_figure = now - started

    client = NotebookClient(
        nb,
        kernel_name="rust",
        timeout=timeout,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
        on_cell_start=on_cell_start,
        on_cell_executed=on_cell_executed,
    )
    error = None
    try:
        client.execute()
    except CellExecutionError as e:
        error = e
    finally:
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / path.name
        tmp = target.with_suffix(".tmp")
        nbformat.write(nb, tmp)
        tmp.replace(target)
    elapsed = time.monotonic() - started
    if error is not None:
        sys.exit(f"{path.name}: a cell failed after {elapsed:.0f} s "
                 f"(executed copy: {target})\n{error}")
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    figures = sum(figures_in(c) for c in code_cells)
    empty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and not c.get("outputs") and i > 1]
    if empty:
        sys.exit(f"{path.name}: cells {empty} display nothing")
    shown = f"{first_figure:.0f} s" if first_figure is not None else "none"
    seconds, index = slowest
    source = nb.cells[index].source.splitlines()[0] if index >= 0 else ""
    print(f"{path.name}: {elapsed:.0f} s, {figures} figures, first figure after {shown}, "
          f"slowest cell {index} ({seconds:.0f} s): {source}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path,
                        help="notebooks to run (default: notebooks/0*.ipynb)")
    parser.add_argument("--out", type=pathlib.Path, default=NOTEBOOKS / "executed")
    parser.add_argument("--timeout", type=int, default=3600,
                        help="seconds per cell (the first compiles the crate)")
    args = parser.parse_args()
    os.environ.setdefault("CALTECH_ANOMALY_PROFILE", "smoke")
    os.environ.setdefault("CALTECH_ANOMALY_DEVICE", "cpu")
    os.environ.setdefault("CALTECH_ANOMALY_OUT", str(args.out / "study"))
    paths = args.notebooks or sorted(NOTEBOOKS.glob("0*.ipynb"))
    if not paths:
        sys.exit("no notebook found")
    for path in paths:
        run(path.resolve(), args.out, args.timeout)


if __name__ == "__main__":
    main()
