#!/usr/bin/env python3
"""check_functions: no function outside tests/ is longer than a screen (100 lines).

Finds every function body in the C++ sources by matching braces (comments, string, raw-string
and character literals blanked first, digit separators kept) and measures the outermost
function bodies, from the line of their opening brace to the line of their closing one.
Lambdas and local classes count as part of the function that holds them.

Usage:
  tools/check_functions.py              exit 0 if every function fits, else 1, one line each
  tools/check_functions.py --limit 60   another limit (to find the next ones to split)
  tools/check_functions.py --root DIR   checks another checkout
"""

import argparse
import os
import re
import sys

SKIP_DIRS = {".git", "build", "tests"}
FUNCTION_HEAD = re.compile(r"\)\s*(const|noexcept|override|final|->[^{;]*|\s)*$")
CONTROL_HEAD = re.compile(r"\b(if|for|while|switch|catch)\s*\([^;{}]*\)\s*$")
RAW_STRING = re.compile(r'R"([^(\s]*)\(')


def blank(text):
    return "".join(ch if ch == "\n" else " " for ch in text)


def strip_literals(src):
    """The source with comments and literals replaced by spaces (newlines kept)."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif c == "R" and RAW_STRING.match(src, i):
            m = RAW_STRING.match(src, i)
            end = ")" + m.group(1) + '"'
            j = src.find(end, i)
            j = n if j < 0 else j + len(end)
        elif c == "'" and i > 0 and src[i - 1].isalnum():  # a digit separator: 1'000
            out.append(c)
            i += 1
            continue
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            j += 1
        else:
            out.append(c)
            i += 1
            continue
        out.append(blank(src[i:j]))
        i = j
    return "".join(out)


def long_functions(path, limit):
    s = strip_literals(open(path, encoding="utf-8", errors="replace").read())
    stack = []  # (offset of '{', opens a function body)
    for m in re.finditer(r"[{}]", s):
        if m.group() == "{":
            head = s[max(0, m.start() - 300):m.start()]
            stack.append((m.start(), bool(FUNCTION_HEAD.search(head)) and not CONTROL_HEAD.search(head)))
            continue
        if not stack:
            continue
        start, is_function = stack.pop()
        if not is_function or any(f for _, f in stack):
            continue
        first, last = s.count("\n", 0, start) + 1, s.count("\n", 0, m.start()) + 1
        if last - first + 1 > limit:
            yield first, last - first + 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    ap.add_argument("--limit", type=int, default=100)
    args = ap.parse_args()
    found = []
    for dirpath, dirnames, filenames in os.walk(args.root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            if name.endswith((".cc", ".h")):
                path = os.path.join(dirpath, name)
                for line, length in long_functions(path, args.limit):
                    found.append(f"{os.path.relpath(path, args.root)}:{line}: a function of {length} lines "
                                 f"(limit {args.limit}): split it")
    for f in found:
        print(f)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
