"""Executes notebooks/0*.ipynb headless with the Rust kernel, in order.

Fails on the first cell error. The executed copies, and the study directory
they share, are kept under notebooks/executed/ as test output. Defaults for a
test run (each can be overridden from the environment):
CALTECH_ANOMALY_PROFILE=smoke, CALTECH_ANOMALY_DEVICE=cpu,
CALTECH_ANOMALY_OUT=notebooks/executed/study. At `smoke` the notebooks read
a small copy of the dataset (--per-class images of each class, linked, not
copied, under notebooks/executed/): a smoke run tests every step, and the
pretrained features and unseen scores it computes are then those of about
1,200 images instead of 9,144.

Prints, per notebook, the wall time, the time until its first figure and
its slowest cell: the README's cold/warm numbers come from here. Fails on
what a reader should not see: output on stderr (shown in red), a value shown
as a quoted Rust string, a DataFrame as polars' text instead of a table.

With --html DIR, also renders each executed copy as DIR/<name>.html, which
reads without running anything (`make notebooks-html`).
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


def display_problems(nb) -> list[str]:
    """What a reader should not see in the executed notebook `nb`."""
    problems = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                problems.append(f"cell {index} writes to stderr: {output.get('text', '')[:120]!r}")
            plain = output.get("data", {}).get("text/plain", "")
            if plain.startswith('"'):
                problems.append(f"cell {index} shows a quoted string: {plain[:120]}")
            if plain.startswith("shape: ("):
                problems.append(f"cell {index} shows a DataFrame as text, not as a Table")
    return problems


def render_html(executed: pathlib.Path, html_dir: pathlib.Path) -> pathlib.Path:
    """`executed` as a web page in `html_dir`, its figures embedded."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(executed))
    html_dir.mkdir(parents=True, exist_ok=True)
    target = html_dir / executed.with_suffix(".html").name
    target.write_text(body, encoding="utf-8")
    return target


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
        # Progress lines rewrite themselves with \r: keep only what shows.
        coalesce_streams=True,
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
    problems = display_problems(nb)
    if problems:
        sys.exit(f"{path.name}: " + "; ".join(problems))
    shown = f"{first_figure:.0f} s" if first_figure is not None else "none"
    seconds, index = slowest
    source = nb.cells[index].source.splitlines()[0] if index >= 0 else ""
    print(f"{path.name}: {elapsed:.0f} s, {figures} figures, first figure after {shown}, "
          f"slowest cell {index} ({seconds:.0f} s): {source}", flush=True)


def small_dataset(source: pathlib.Path, target: pathlib.Path, per_class: int) -> pathlib.Path:
    """A dataset root at `target` whose class folders link the first
    `per_class` images (in name order) of each class under `source`."""
    categories = source / "101_ObjectCategories"
    if not categories.is_dir():
        sys.exit(f"{source} holds no 101_ObjectCategories/: set CALTECH101_DIR to a Caltech-101 copy")
    for folder in sorted(p for p in categories.iterdir() if p.is_dir()):
        out = target / "101_ObjectCategories" / folder.name
        out.mkdir(parents=True, exist_ok=True)
        for image in sorted(folder.iterdir())[:per_class]:
            link = out / image.name
            if not link.is_symlink():
                link.symlink_to(image.resolve())
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path,
                        help="notebooks to run (default: notebooks/0*.ipynb)")
    parser.add_argument("--out", type=pathlib.Path, default=NOTEBOOKS / "executed")
    parser.add_argument("--timeout", type=int, default=3600,
                        help="seconds per cell (the first compiles the crate)")
    parser.add_argument("--html", type=pathlib.Path, metavar="DIR",
                        help="also render each executed notebook as DIR/<name>.html")
    parser.add_argument("--per-class", type=int, default=12,
                        help="images per class of the dataset copy a smoke run reads (0: the whole dataset)")
    parser.add_argument("--render-only", action="store_true",
                        help="render the executed copies in --out as they are, running nothing")
    args = parser.parse_args()
    os.environ.setdefault("CALTECH_ANOMALY_PROFILE", "smoke")
    os.environ.setdefault("CALTECH_ANOMALY_DEVICE", "cpu")
    os.environ.setdefault("CALTECH_ANOMALY_OUT", str(args.out / "study"))
    if os.environ["CALTECH_ANOMALY_PROFILE"] == "smoke" and args.per_class > 0:
        source = pathlib.Path(os.environ.get("CALTECH101_DIR") or ROOT / "data" / "caltech101")
        small = args.out / f"caltech101-{args.per_class}-per-class"
        os.environ["CALTECH101_DIR"] = str(small_dataset(source, small, args.per_class))
    paths = args.notebooks or sorted(NOTEBOOKS.glob("0*.ipynb"))
    if not paths:
        sys.exit("no notebook found")
    if args.render_only and args.html is None:
        sys.exit("--render-only needs --html DIR")
    for path in paths:
        if not args.render_only:
            run(path.resolve(), args.out, args.timeout)
        if args.html is not None:
            page = render_html(args.out / path.name, args.html)
            print(f"{path.name}: rendered as {page} ({page.stat().st_size // 1024} KiB)", flush=True)


if __name__ == "__main__":
    main()
