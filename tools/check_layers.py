#!/usr/bin/env python3
"""check_layers: the components of flashsaga only point down.

A component is a folder (the longest one listed in LAYERS that holds the file). A file may
include a header of its own component or of a component in a LOWER layer; a CMake target may
link a target of its own component or of a lower layer. Nothing else: there is no exception
list. Components of one layer do not see each other.

The arrows come from every `#include "..."` in the C++ sources (resolved from the repository
root, as the build does) and from the DEPS / target_link_libraries of our own CMake targets
(each target belongs to the component of the folder whose CMake file defines it).

Usage:
  tools/check_layers.py            exit 0 if every arrow points down, else 1 with one line per
                                   forbidden arrow (and each cycle) naming a file that shows it
  tools/check_layers.py --graph    also prints the component graph (arrow, include count)
  tools/check_layers.py --root DIR checks another checkout
"""

import argparse
import os
import re
import sys
from collections import defaultdict

# The layer order, bottom first. This is the only statement of what may use what.
LAYERS = [
    ["engine/base"],                     # assert, clock, limits, crc32c
    ["ipc", "journal"],                  # messages, rings, segment, deployment layout; LMDB journal
    ["domains"],                         # schema, logic interface, the six logics
    ["engine/runtime", "tools/check"],   # the agent over rings and journal; the invariant checker
    ["engine"],                          # config, ports, stock, supervisor, client, domain process
    ["engine/gateway", "engine/cells", "tools/inspector"],  # HTTP gateway; cell link; journal inspector
    ["bench"],                           # load generator and micro-benchmarks
    ["tools"],                           # the flashsaga CLI
    ["tests"],
]

SOURCE_SUFFIXES = (".h", ".cc", ".hpp", ".cpp")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# flashsaga_library(name ...), flashsaga_test(name ...), add_executable(name ...), ...
TARGET_RE = re.compile(r"\b(flashsaga_library|flashsaga_test|flashsaga_benchmark|"
                       r"flashsaga_e2e_test|add_library|add_executable)\s*\(\s*([A-Za-z0-9_]+)")
LINK_RE = re.compile(r"\btarget_link_libraries\s*\(\s*([A-Za-z0-9_]+)([^)]*)\)", re.S)
DEPS_RE = re.compile(r"\bflashsaga_(?:library|test|benchmark|e2e_test)\s*\(\s*([A-Za-z0-9_]+)"
                     r"([^)]*)\)", re.S)
SKIP_DIRS = {".git", "build"}


def rank_of():
    ranks = {}
    for i, layer in enumerate(LAYERS):
        for c in layer:
            ranks[c] = i
    return ranks


RANK = rank_of()
COMPONENTS = sorted(RANK, key=len, reverse=True)  # longest prefix first


def component(rel_path):
    for c in COMPONENTS:
        if rel_path == c or rel_path.startswith(c + "/"):
            return c
    return None


def walk(root, suffixes):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if d not in SKIP_DIRS and not d.startswith("build"))
        for f in sorted(filenames):
            if f.endswith(suffixes):
                yield os.path.relpath(os.path.join(dirpath, f), root)


def include_edges(root, problems):
    edges = defaultdict(list)  # (from, to) -> [file]
    for rel in walk(root, SOURCE_SUFFIXES):
        src = component(rel)
        if src is None:
            continue
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for inc in INCLUDE_RE.findall(text):
            if os.path.exists(os.path.join(root, inc)):
                target = inc
            elif os.path.exists(os.path.join(root, os.path.dirname(rel), inc)):
                target = os.path.normpath(os.path.join(os.path.dirname(rel), inc))
            else:
                problems.append(f"{rel}: includes \"{inc}\", which is not in the repository")
                continue
            dst = component(target)
            if dst is not None and dst != src:
                edges[(src, dst)].append(f"{rel} includes {target}")
    return edges


def strip_cmake_comments(text):
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def cmake_edges(root):
    """(from, to) -> ["target links target"], for links between our own targets."""
    owner = {}  # target -> component
    links = []  # (target, [words], file)
    for rel in walk(root, ("CMakeLists.txt", ".cmake")):
        comp = component(os.path.dirname(rel))
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            text = strip_cmake_comments(f.read())
        for _, name in TARGET_RE.findall(text):
            if comp is not None:
                owner.setdefault(name, comp)
        for name, args in LINK_RE.findall(text) + DEPS_RE.findall(text):
            links.append((name, args.split(), rel))
    edges = defaultdict(list)
    for name, words, rel in links:
        src = owner.get(name)
        for w in words:
            dst = owner.get(w)
            if src is None or dst is None or src == dst:
                continue
            edges[(src, dst)].append(f"{rel}: {name} links {w}")
    return edges


def cycles(edges):
    """Strongly connected components with more than one member (Tarjan)."""
    graph = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
        graph.setdefault(b, set())
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                out.append(sorted(scc))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def elementary_cycle_count(edges, limit=10000):
    """Number of simple cycles (Johnson-style DFS, small graphs only)."""
    graph = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    nodes = sorted(set(graph) | {b for _, b in edges})
    count = 0
    for i, start in enumerate(nodes):
        allowed = set(nodes[i:])
        path = [start]
        stack = [iter(sorted(graph[start] & allowed))]
        while stack and count < limit:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                path.pop()
            elif nxt == start:
                count += 1
            elif nxt not in path:
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt] & allowed)))
    return count


def main():
    parser = argparse.ArgumentParser(
        description="Checks that flashsaga's components only point down.")
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--root", default=os.path.join(here, ".."))
    parser.add_argument("--graph", action="store_true", help="print the component graph")
    args = parser.parse_args()
    root = os.path.abspath(args.root)

    problems = []
    inc = include_edges(root, problems)
    links = cmake_edges(root)
    all_edges = set(inc) | set(links)

    if args.graph:
        print("layers (bottom first; an arrow may only point to a lower layer):")
        for i, layer in enumerate(LAYERS):
            print(f"  {i}: {', '.join(layer)}")
        print("component graph (includes / CMake links):")
        for a, b in sorted(all_edges, key=lambda e: (RANK[e[0]], e[0], RANK[e[1]], e[1])):
            mark = "" if RANK[b] < RANK[a] else "   <-- FORBIDDEN"
            n_inc, n_link = len(inc.get((a, b), [])), len(links.get((a, b), []))
            print(f"  {a:17} -> {b:17} {n_inc:4} / {n_link:<3}{mark}")

    for (a, b) in sorted(all_edges):
        if RANK[b] >= RANK[a]:
            why = "the same layer" if RANK[b] == RANK[a] else "a higher layer"
            shown = (inc.get((a, b), []) + links.get((a, b), []))[0]
            n = len(inc.get((a, b), [])) + len(links.get((a, b), []))
            problems.append(f"forbidden arrow {a} -> {b} ({b} is in {why}): {shown}"
                            + (f" (and {n - 1} more)" if n > 1 else ""))
    for scc in cycles(all_edges):
        problems.append("cycle between components: " + ", ".join(scc))
    if args.graph:
        print(f"cycles: {elementary_cycle_count(all_edges)} (elementary, between components)")

    for p in problems:
        print("check_layers: " + p, file=sys.stderr)
    if problems:
        print(f"check_layers: FAILED ({len(problems)} problems); the layer order is LAYERS in "
              "tools/check_layers.py", file=sys.stderr)
        return 1
    print(f"check_layers: ok ({len(all_edges)} arrows between {len(COMPONENTS)} components, "
          "all pointing down)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
