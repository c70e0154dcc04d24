#!/usr/bin/env python3
# A copy of the team's shared tools/module_cycles.py, kept in the repository
# so that `make test` in a clean clone can run it.
"""Import cycles between the modules of a Rust crate's src/.

A module is a file under src/ (a folder's mod.rs is the folder). An edge
A -> B is any `crate::B...` path written in A (use lines and inline paths).
Prints each strongly connected component of more than one module, with the
edges that close it, and exits 1 if there is any; otherwise prints the
number of modules and edges and exits 0.

Usage: module_cycles.py [SRC_DIR] [--depth N]
  --depth N  group modules by their first N path components (default 1:
             top-level modules and folders, e.g. `data`, `stats`).
"""
import os, re, sys
from collections import defaultdict

args = [a for a in sys.argv[1:] if not a.startswith("--")]
src = args[0] if args else "src"
depth = 1
if "--depth" in sys.argv:
    depth = int(sys.argv[sys.argv.index("--depth") + 1])

def module_of(path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return "::".join(rel[:depth]) or "crate"

files = [os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs if f.endswith(".rs")]
mods = {module_of(f) for f in files}
edges = defaultdict(set)
path_re = re.compile(r"\bcrate::((?:[a-z_][a-z0-9_]*)(?:::[a-z_][a-z0-9_]*)*)")
group_re = re.compile(r"\buse\s+crate::\{([^;]*)\}", re.S)
for f in files:
    text = open(f, encoding="utf-8", errors="replace").read()
    text = re.sub(r"//[^\n]*", "", text)
    me = module_of(f)
    targets = [m.group(1) for m in path_re.finditer(text)]
    for g in group_re.finditer(text):
        targets += [p.strip().split("::")[0] for p in g.group(1).split(",") if p.strip()]
    for t in targets:
        parts = t.split("::")
        for n in range(min(depth, len(parts)), 0, -1):
            cand = "::".join(parts[:n])
            if cand in mods:
                if cand != me and me != "crate":
                    edges[me].add(cand)
                break

# Tarjan's strongly connected components.
index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        comps.append(comp)
sys.setrecursionlimit(10000)
for v in sorted(mods):
    if v not in index:
        visit(v)
cycles = [sorted(c) for c in comps if len(c) > 1]
n_edges = sum(len(v) for v in edges.values())
if not cycles:
    print(f"no import cycles: {len(mods)} modules, {n_edges} edges (depth {depth})")
    sys.exit(0)
for c in cycles:
    inside = set(c)
    print(f"cycle of {len(c)}: " + ", ".join(c))
    for a in c:
        for b in sorted(edges[a] & inside):
            print(f"  {a} -> {b}")
print(f"{len(cycles)} cycle(s): {len(mods)} modules, {n_edges} edges (depth {depth})")
sys.exit(1)
