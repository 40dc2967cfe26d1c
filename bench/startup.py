#!/usr/bin/env python3
"""Start-up benchmark: wall time of `hsl run -e 'echo 1;'` as a subprocess, best of 10.

Uses the `hsl` console script on PATH (install with `python -m pip install -e .`); with
`--module` it runs `python -m hsl` instead.

    python bench/startup.py [--module] [--runs N]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--module", action="store_true", help="run `python -m hsl` instead of `hsl`")
    ap.add_argument("--runs", type=int, default=10, help="number of runs (best counts)")
    args = ap.parse_args(argv)

    if args.module:
        cmd = [sys.executable, "-m", "hsl"]
    else:
        exe = shutil.which("hsl")
        if exe is None:
            print("bench/startup.py: no `hsl` command on PATH. Install the package first:\n"
                  "    python -m pip install -e .\n"
                  "or measure `python -m hsl` with --module.", file=sys.stderr)
            return 2
        cmd = [exe]
    cmd += ["run", "-e", "echo 1;"]

    best = float("inf")
    for _ in range(args.runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0 or proc.stdout != "1\n":
            print(f"bench/startup.py: `{' '.join(cmd)}` failed (exit {proc.returncode}); "
                  f"stdout {proc.stdout!r}, stderr:\n{proc.stderr}", file=sys.stderr)
            return 1
        best = min(best, elapsed)
    print(f"hsl run -e 'echo 1;': best of {args.runs}: {best * 1000:.1f} ms  ({' '.join(cmd[:-3]) or cmd[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
