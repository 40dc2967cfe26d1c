#!/usr/bin/env python3
"""`hsl check` benchmark: files per second over a large directory, and the cold wall time of
`hsl check` on one 500-line file (the target is <= 200 ms).

    python bench/check.py [DIR] [--copies N] [--runs N] [--module]

DIR defaults to a generated directory: the repository's examples, stdlib and conformance
chunks copied N times (default 20), so the number is comparable between machines. Pass a
directory of real scripts (e.g. a checkout of Halon's extras) to measure on those.

Throughput is measured in this process after one warm-up file (parser and builtin index
loaded), as a CI job checking a whole tree sees it. The cold time runs the `hsl` console
script (or `python -m hsl` with --module) as a subprocess, best of N runs: Python start-up,
imports, the cached parser tables and builtin index, parsing and checking.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _sources() -> list[str]:
    out = []
    for sub in ("examples", "stdlib", os.path.join("tests", "conformance")):
        for root, _, names in os.walk(os.path.join(ROOT, sub)):
            out += [os.path.join(root, n) for n in sorted(names) if n.endswith(".hsl")]
    return out


def make_tree(folder: str, copies: int) -> None:
    for i in range(copies):
        d = os.path.join(folder, f"copy{i:03d}")
        os.makedirs(d)
        for src in _sources():
            rel = os.path.relpath(src, ROOT).replace(os.sep, "_")
            shutil.copy(src, os.path.join(d, rel))


def make_500_lines(path: str) -> None:
    lines: list[str] = []
    i = 0
    while len(lines) < 500:
        lines += f'''function handler_{i}($request, $options = []) {{
    $result = ["ok" => true, "items" => []];
    foreach ($request["items"] ?? [] as $k => $item) {{
        if (is_string($item) and str_find($item, "x") >= 0) {{
            $result["items"][] = str_upper($item);
        }} else if (is_number($item)) {{
            $result["items"][] = $item * 2 + {i};
        }}
    }}
    $text = array_join($result["items"], ",");
    if (length($text) > 100)
        return ["ok" => false, "reason" => "too long: " . $text];
    return $result;
}}
echo json_encode(handler_{i}(["items" => ["a", 1, "xb"]]));'''.splitlines()
        i += 1
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def throughput(folder: str) -> tuple[int, float, int]:
    from hsl.check import _files
    from hsl.check.checker import Options, check_path
    files = _files(folder, [], folder)
    options = Options(roots=[folder])
    if files:
        check_path(files[0], options)          # warm-up: parser tables, builtin index
    t0 = time.perf_counter()
    problems = 0
    for f in files:
        problems += len(check_path(f, options)[0])
    return len(files), time.perf_counter() - t0, problems


def cold(path: str, runs: int, module: bool) -> float:
    if module:
        cmd = [sys.executable, "-m", "hsl"]
    else:
        exe = shutil.which("hsl")
        if exe is None:
            raise SystemExit("bench/check.py: no `hsl` on PATH (pip install -e .), or use --module")
        cmd = [exe]
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd + ["check", "--no-config", path], capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?", help="directory of .hsl files (default: generated)")
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--module", action="store_true", help="time `python -m hsl`")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir
        if folder is None:
            folder = os.path.join(tmp, "tree")
            make_tree(folder, args.copies)
        n, secs, problems = throughput(folder)
        from hsl.check import _files
        lines = 0
        for f in _files(folder, [], folder):
            with open(f, "rb") as fh:
                lines += fh.read().count(b"\n")
        print(f"throughput: {n} files ({lines} lines) in {secs:.2f} s = {n / secs:.0f} files/s, "
              f"{lines / secs:.0f} lines/s ({problems} diagnostics)")
        big = os.path.join(tmp, "big.hsl")
        make_500_lines(big)
        best = cold(big, args.runs, args.module)
        verdict = "ok" if best <= 0.200 else "over the 200 ms target"
        print(f"cold `hsl check` of a 500-line file: {best * 1000:.0f} ms (best of {args.runs}; "
              f"{verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
