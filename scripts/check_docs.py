#!/usr/bin/env python3
"""Repository paths cited in code, docs and build files that do not exist.

Scans src/**/*.rs, tests/**/*.rs, build.rs, Cargo.toml, kernel/ (its
Cargo.toml and .rs files), scripts/*.sh, scripts/*.py, Makefile,
docs/*.md and README.md for

- tokens that name a path in the repository: src/..., tests/...,
  scripts/..., docs/..., notebooks/..., bench/..., kernel/...;
- relative markdown links, `[text](path)` and `[text]: path`, in the .md
  files (resolved from the file's folder, as a reader's click is).

A token is found when it exists from the repository root, from the citing
file's folder, or (for a file under kernel/) from kernel/. Paths under
what runs and builds make (runs/, data/cache, target/, .venv/, .tools/,
notebooks/executed, bench/results) and paths with a placeholder (`<...>`,
`*`, `{...}`, `$`, `NAME`, `...`) are not checked.

Prints `FILE:LINE: PATH` for each missing path and exits 1 if there is any;
otherwise prints how many citations it checked and exits 0.

Usage: check_docs.py [ROOT]   (default: the repository holding this script)
"""
import os
import re
import sys

ROOT = os.path.abspath(
    sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
)

PREFIXES = ("src", "tests", "scripts", "docs", "notebooks", "bench", "kernel")
# A path token: one of PREFIXES, then path characters. Not preceded by a
# path character, so that `kernel/src/lib.rs` or a URL's `.../src/x.rs`
# does not count as `src/...`.
TOKEN = re.compile(
    r"(?<![\w./\-~$])((?:%s)/[\w./\-<>*{}$]*)" % "|".join(PREFIXES)
)
# [text](target) and [text]: target, in markdown.
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")

# Outputs that a run or a build makes (the .gitignore's folders), not
# files of the checkout.
IGNORED_UNDER = (
    "runs/",
    "data/cache",
    "target/",
    ".venv/",
    ".tools/",
    "notebooks/executed",
    "bench/results",
)
PLACEHOLDER = re.compile(r"[<>*{}$]|NAME|\.\.\.")


def files_to_scan():
    def walk(folder, suffixes):
        base = os.path.join(ROOT, folder)
        for d, dirs, fs in os.walk(base):
            dirs[:] = sorted(x for x in dirs if x not in ("target", ".venv"))
            for f in sorted(fs):
                if f.endswith(suffixes):
                    yield os.path.join(d, f)

    def listed(folder, suffixes):
        base = os.path.join(ROOT, folder)
        if not os.path.isdir(base):
            return []
        return [
            os.path.join(base, f)
            for f in sorted(os.listdir(base))
            if f.endswith(suffixes) and os.path.isfile(os.path.join(base, f))
        ]

    found = []
    found += walk("src", (".rs",))
    found += walk("tests", (".rs",))
    found += walk("kernel", (".rs", ".toml"))
    found += listed("scripts", (".sh", ".py"))
    found += listed("docs", (".md",))
    for name in ("build.rs", "Cargo.toml", "Makefile", "README.md"):
        path = os.path.join(ROOT, name)
        if os.path.isfile(path):
            found.append(path)
    return found


def ignored(path):
    bare = path.lstrip("./")
    while bare.startswith("../"):
        bare = bare[3:]
    return bare.startswith(IGNORED_UNDER) or PLACEHOLDER.search(path) is not None


def exists(path, bases):
    path = path.split("#")[0].split("?")[0]
    if not path:
        return True
    return any(os.path.exists(os.path.normpath(os.path.join(b, path))) for b in bases)


def citations(path):
    """(line number, cited path, folders to resolve it from) of `path`."""
    rel = os.path.relpath(path, ROOT)
    here = os.path.dirname(path)
    bases = [ROOT, here]
    if rel.startswith("kernel" + os.sep):
        bases.append(os.path.join(ROOT, "kernel"))
    markdown = path.endswith(".md")
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            for match in TOKEN.finditer(line):
                token = match.group(1).rstrip(".")
                if ignored(token):
                    continue
                yield number, token, bases
            if not markdown:
                continue
            targets = [m.group(1) for m in INLINE_LINK.finditer(line)]
            targets += [m.group(1) for m in REFERENCE_LINK.finditer(line)]
            for target in targets:
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
                    continue  # a URL (https:, mailto:) or an anchor
                if ignored(target):
                    continue
                yield number, target, [here]


def main():
    missing = []
    checked = 0
    scanned = files_to_scan()
    for path in scanned:
        for number, cited, bases in citations(path):
            checked += 1
            if not exists(cited, bases):
                missing.append(f"{os.path.relpath(path, ROOT)}:{number}: {cited}")
    for line in missing:
        print(line)
    sys.stdout.flush()
    if missing:
        print(f"{len(missing)} cited path(s) do not exist", file=sys.stderr)
        return 1
    print(f"ok: {checked} cited paths in {len(scanned)} files exist")
    return 0


if __name__ == "__main__":
    sys.exit(main())
