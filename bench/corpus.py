#!/usr/bin/env python3
"""Parse every .hsl file under a directory and report the ones that fail.

Usage: python bench/corpus.py DIR [-v]

Exit status 0 when every file parses, 1 otherwise. The corpus itself is not part of
the repository (it is real-world code fetched separately).
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hsl.errors import HSLSyntaxError  # noqa: E402
from hsl.syntax.parser import parse  # noqa: E402


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 2
    root = argv[0]
    verbose = "-v" in argv[1:]
    files = []
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            if n.endswith(".hsl"):
                files.append(os.path.join(dirpath, n))
    files.sort()
    failures = []
    lines = 0
    t0 = time.perf_counter()
    for path in files:
        with open(path, "rb") as f:
            src = f.read().decode("utf-8", "surrogateescape")
        lines += src.count("\n") + 1
        try:
            parse(src, path)
        except HSLSyntaxError as e:
            failures.append((path, e))
        except Exception as e:  # a parser bug: report it too
            failures.append((path, e))
    dt = time.perf_counter() - t0
    for path, e in failures:
        if isinstance(e, HSLSyntaxError):
            for d in e.diagnostics:
                print(d.header())
            if verbose:
                print(e.render())
        else:
            print(f"{path}: INTERNAL ERROR {type(e).__name__}: {e}")
    print(f"{len(files)} files, {lines} lines, {len(files) - len(failures)} parsed, "
          f"{len(failures)} failed ({dt:.2f}s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
