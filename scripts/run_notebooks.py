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
what a reader should not see (`display_problems`): output on stderr (shown
in red), a value shown as a quoted Rust string, a DataFrame as polars' text
instead of a table, a bare `()`, an absolute path of this machine (the
checkout's, or one under /work, /home, /tmp, /root, /Users), a Rust debug
dump (`Some(`, `PerClass(`, `_0:`, `Name { field:`), an HTML table cell
with a number of more than 4 decimals, an HTML table wider than 10 columns
or longer than 30 rows whose caption names no .csv, and a figure without a
Markdown caption next to it naming its .png. `--self-test` plants each of
those in a notebook of its own and fails when one passes (no kernel, no
dataset: tests/notebooks.rs runs it).

With --html DIR, also renders each executed copy as DIR/<name>.html, which
reads without running anything (`make notebooks-html`).
"""

import argparse
import os
import pathlib
import re
import sys
import time
from html.parser import HTMLParser

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def figures_in(cell) -> int:
    return sum(
        1
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    )


# What a reader should not see, in any output of an executed cell.
# A path of the machine the notebook ran on: the checkout, or a folder such
# a path starts with (a notebook names paths relative to its study folder,
# its dataset or the checkout: `shown_path`).
MACHINE_FOLDERS = ("/work", "/home", "/tmp", "/root", "/Users")
# Rust's debug format (`{:?}`) of an Option, a Result, an enum with a value,
# a tuple struct's field, a struct (`Name { field: ...`).
DEBUG_DUMPS = [
    (re.compile(r"\b(?:Some|Ok|Err)\("), "an Option or Result"),
    (re.compile(r"\b(?:PerClass|Explicit|PathBuf|Cpu|Cuda|LibTorch\w*)\("), "an enum's value"),
    (re.compile(r"(?<![\w.])_\d+:"), "a tuple struct's field"),
    (re.compile(r"\b[A-Z][A-Za-z0-9]*\s*\{\s*[a-z_][a-z0-9_]*:"), "a struct"),
]
# A number with more decimals than a table shows (`readable_number`: at
# most 4); scientific notation (`3.16e-6`) is how a tiny value shows.
LONG_DECIMAL = re.compile(r"(?<![\w.])[-+]?\d+\.\d{5,}(?![\d.eE])")
TABLE_COLUMNS, TABLE_ROWS = 10, 30


def machine_path(text: str, root: str) -> str | None:
    """The first absolute path of this machine in `text`, if any."""
    folders = sorted({root, *MACHINE_FOLDERS}, key=len, reverse=True)
    pattern = r"(?<![\w.~/-])(?:" + "|".join(re.escape(f) for f in folders) + r")(?=/|\b)\S*"
    found = re.search(pattern, text)
    return found.group(0) if found else None


class _Tables(HTMLParser):
    """Each <table> of an HTML output: its widest row, its body rows (those
    with a <td>), its cells' text, and the text after it (a Table's
    caption)."""

    def __init__(self):
        super().__init__()
        self.tables = []  # dicts: columns, rows, cells, after
        self.depth = 0
        self.row = None  # [cells, has a td]
        self.cell = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.depth += 1
            self.tables.append({"columns": 0, "rows": 0, "cells": [], "after": ""})
        elif self.depth and tag == "tr":
            self.row = [0, False]
        elif self.depth and tag in ("td", "th") and self.row is not None:
            span = dict(attrs).get("colspan") or "1"
            self.row[0] += int(span) if span.isdigit() else 1
            self.row[1] |= tag == "td"
            self.cell = [] if tag == "td" else None

    def handle_endtag(self, tag):
        if tag == "table":
            self.depth -= 1
        elif self.depth and tag == "tr" and self.row is not None:
            table = self.tables[-1]
            table["columns"] = max(table["columns"], self.row[0])
            table["rows"] += self.row[1]
            self.row = None
        elif self.depth and tag == "td" and self.cell is not None:
            self.tables[-1]["cells"].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.depth and self.cell is not None:
            self.cell.append(data)
        elif not self.depth and self.tables:
            self.tables[-1]["after"] += data


def table_problems(html: str) -> list[str]:
    """Tables a reader cannot take in: a number with more than 4 decimals,
    more than 10 columns or 30 rows unless the caption names the CSV that
    holds them all."""
    parser = _Tables()
    parser.feed(html)
    problems = []
    for table in parser.tables:
        names_csv = ".csv" in table["after"]
        if table["columns"] > TABLE_COLUMNS and not names_csv:
            problems.append(f"a table of {table['columns']} columns whose caption names no .csv")
        if table["rows"] > TABLE_ROWS and not names_csv:
            problems.append(f"a table of {table['rows']} rows whose caption names no .csv")
        long = next((m.group(0) for c in table["cells"] for m in [LONG_DECIMAL.search(c)] if m), None)
        if long:
            problems.append(f"a table cell shows {long} (more than 4 decimals)")
    return problems


def output_texts(output) -> list[tuple[str, str]]:
    """(kind, text) of each thing an output shows."""
    if output.get("output_type") == "stream":
        return [(output.get("name", "stream"), output.get("text", ""))]
    if output.get("output_type") == "error":
        return [("error", "\n".join(output.get("traceback", [])))]
    texts = []
    for kind, value in output.get("data", {}).items():
        if kind.startswith("text/"):
            texts.append((kind, "".join(value) if isinstance(value, list) else value))
    return texts


def display_problems(nb, root: str = str(ROOT)) -> list[str]:
    """What a reader should not see in the executed notebook `nb` (a dict as
    nbformat reads it): output on stderr (shown in red), a value shown as a
    quoted Rust string, a DataFrame as polars' text instead of a table, a
    bare `()`, an absolute path of this machine, a Rust debug dump, and an
    HTML table with a number of more than 4 decimals, or wider than 10
    columns or longer than 30 rows without naming its CSV, and a figure
    without a Markdown caption next to it that names its saved .png."""
    problems = []
    cells = nb["cells"]
    for index, cell in enumerate(cells):
        if figures_in(cell):
            beside = [cells[i] for i in (index - 1, index + 1) if 0 <= i < len(cells)]
            captions = ["".join(c.get("source", "")) for c in beside if c.get("cell_type") == "markdown"]
            if not any(".png" in caption for caption in captions):
                problems.append(f"cell {index} shows a figure without a caption next to it naming its .png")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                problems.append(f"cell {index} writes to stderr: {output.get('text', '')[:120]!r}")
            plain = output.get("data", {}).get("text/plain", "")
            plain = "".join(plain) if isinstance(plain, list) else plain
            if plain.startswith('"'):
                problems.append(f"cell {index} shows a quoted string: {plain[:120]}")
            if plain.startswith("shape: ("):
                problems.append(f"cell {index} shows a DataFrame as text, not as a Table")
            if plain.strip() == "()":
                problems.append(f"cell {index} shows a bare `()`")
            for kind, text in output_texts(output):
                if kind != "error":
                    path = machine_path(text, root)
                    if path:
                        problems.append(f"cell {index} shows an absolute path ({kind}): {path[:120]}")
                    for pattern, what in DEBUG_DUMPS:
                        dump = pattern.search(text)
                        if dump:
                            around = text[max(dump.start() - 30, 0):dump.end() + 30]
                            problems.append(f"cell {index} shows a Rust debug dump of {what} ({kind}): {around!r}")
                if kind == "text/html":
                    problems += [f"cell {index}: {p}" for p in table_problems(text)]
    return problems


def self_test() -> None:
    """display_problems on planted bad outputs, each of which it must
    refuse, and on good ones, which it must pass (no kernel, no dataset)."""

    def notebook(*outputs):
        return {"cells": [{"cell_type": "code", "source": "", "outputs": list(outputs)}]}

    def shown(kind, text):
        return {"output_type": "display_data", "data": {kind: text}, "metadata": {}}

    def stdout(text):
        return {"output_type": "stream", "name": "stdout", "text": text}

    def table(rows, columns, cell="0.696", caption="3 rows × 2 columns"):
        head = "".join(f"<th>c{i}</th>" for i in range(columns))
        body = "".join("<tr>" + f"<td>{cell}</td>" * columns + "</tr>\n" for _ in range(rows))
        return (f"<div><table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table></div>\n"
                f"<p>{caption}</p>")

    root = "/srv/checkout"
    # Each planted output, and the words of the problem it must raise.
    bad = {
        "the checkout's path": (stdout(f"saved in {root}/runs/study-smoke/figures/roc.png\n"), "absolute path"),
        "a /work path": (shown("text/markdown", "Run `/work/main/runs/x`."), "absolute path"),
        "a /home path": (shown("text/html", "<p>/home/student/caltech101</p>"), "absolute path"),
        "a /tmp path": (stdout("extracted to /tmp/bank\n"), "absolute path"),
        "Some(": (shown("text/markdown", "code width Some(256)"), "Option or Result"),
        "PerClass(": (shown("text/markdown", "pool PerClass(30)"), "enum's value"),
        "_0:": (shown("text/plain", "Scores { _0: [..] }"), "tuple struct's field"),
        "struct syntax": (stdout("Calibration { percentile: 80.0, threshold: 0.01 }\n"), "a struct"),
        "a bare ()": (shown("text/plain", "()"), "bare `()`"),
        "a quoted string": (shown("text/plain", '"a string"'), "quoted string"),
        "5 decimals in a table": (shown("text/html", table(3, 2, cell="0.012301")), "more than 4 decimals"),
        "11 columns": (shown("text/html", table(3, 11)), "11 columns"),
        "31 rows": (shown("text/html", table(31, 2)), "31 rows"),
        "stderr": ({"output_type": "stream", "name": "stderr", "text": "warning\n"}, "stderr"),
    }
    good = [
        stdout("run baseline-seed42-0123abcd: loaded from disk\nfigure saved as figures/roc.png\n"),
        shown("text/markdown", "Device **cpu** · study folder `runs/study-smoke` · see ../docs/kernel.md"),
        shown("text/html", table(30, 10, cell="0.0434 [0.0413, 0.0470]")),
        shown("text/html", table(483, 12, cell="3.16e-6", caption="the first 30 of 483 rows × 12 columns; every row and column in tables/scores.csv")),
        shown("text/plain", "train 2122 · validation 455 · test 483"),
        shown("text/markdown", "| model | code |\n|---|---|\n| baseline | 256 |"),
    ]
    png = shown("image/png", "iVBORw0KGgo=")
    captioned = {"cells": [
        {"cell_type": "markdown", "source": "*Figure:* the ROC curve (saved as `figures/roc.png`)."},
        {"cell_type": "code", "source": "", "outputs": [png]},
    ]}
    failed = []
    for what, (output, expected) in bad.items():
        problems = display_problems(notebook(output), root)
        if not any(expected in p for p in problems):
            failed.append(f"a planted {what} was not refused as {expected!r}: {problems}")
    if not any("caption" in p for p in display_problems(notebook(png), root)):
        failed.append("a figure without a caption passed")
    for nb in [notebook(output) for output in good] + [captioned]:
        problems = display_problems(nb, root)
        if problems:
            failed.append(f"a good output was refused: {problems}")
    links = ('<a href="../docs/results.md#claims">r</a> <a href="#top">t</a> '
             '<a href="https://burn.dev">b</a> <a href="../docs/notebooks/full/01_preprocessing.html">f</a>')
    for pages, wanted in [
        ("docs/notebooks", ['"../results.md#claims"', '"#top"', '"https://burn.dev"', '"full/01_preprocessing.html"']),
        ("docs/notebooks/full", ['"../../results.md#claims"', '"01_preprocessing.html"']),
    ]:
        moved = relinked(links, ROOT / pages)
        failed.extend(f"a link on a page in {pages} is not {w}: {moved}" for w in wanted if w not in moved)
    if failed:
        sys.exit("run_notebooks.py --self-test: " + "; ".join(failed))
    print(f"run_notebooks.py --self-test: {len(bad) + 1} planted bad outputs refused, "
          f"{len(good) + 1} good ones passed")


# A link of a notebook's Markdown to a file of the checkout, as it is written
# relative to notebooks/ (no scheme, not an anchor of the page itself).
RELATIVE_LINK = re.compile(r'href="(?![a-z][a-z0-9+.-]*:|#)([^"#]+)((?:#[^"]*)?)"')


def relinked(body: str, html_dir: pathlib.Path) -> str:
    """`body` with each link a notebook writes relative to notebooks/ made
    relative to `html_dir`, where the page lives."""
    def moved(match: re.Match) -> str:
        target = (NOTEBOOKS / match.group(1)).resolve()
        return f'href="{os.path.relpath(target, html_dir.resolve())}{match.group(2)}"'
    return RELATIVE_LINK.sub(moved, body)


def render_html(executed: pathlib.Path, html_dir: pathlib.Path) -> pathlib.Path:
    """`executed` as a web page in `html_dir`, its figures embedded and its
    links to the checkout's files still pointing at them."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(executed))
    html_dir.mkdir(parents=True, exist_ok=True)
    target = html_dir / executed.with_suffix(".html").name
    target.write_text(relinked(body, html_dir), encoding="utf-8")
    return target


def run(path: pathlib.Path, out_dir: pathlib.Path, timeout: int) -> None:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

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
        failed = next((f"{o.get('ename', '')}: {o.get('evalue', '')}" for c in nb.cells
                       for o in c.get("outputs", []) if o.get("output_type") == "error"), "")
        sys.exit(f"{path.name}: a cell failed after {elapsed:.0f} s "
                 f"(executed copy: {target})\n{error}\n{failed}")
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
    parser.add_argument("--self-test", action="store_true",
                        help="check that the display checks refuse planted bad outputs, running nothing")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return
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
