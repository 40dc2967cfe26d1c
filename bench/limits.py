#!/usr/bin/env python3
"""Resource bombs against the run's limits: for each bomb of tests/bombs.py, the time to
its error and the peak memory of the `hsl run` process, measured from outside
(os.wait4), under `--max-time 3 --max-memory 256M` (the bar: a clean error within twice
both budgets).

    python bench/limits.py [--max-time S] [--max-memory SIZE] [-k SUBSTRING] [--markdown]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from bombs import BOMBS, script  # noqa: E402


def run_isolated(code: str, max_time: float, max_memory: str, timeout: float):
    """(exit code or None when killed at `timeout`, stderr, seconds, peak RSS in bytes)
    of `hsl run` on one bomb.  It runs under a helper process of its own, so that the
    peak RSS (RUSAGE_CHILDREN, the largest child ever waited for) is this bomb's alone."""
    helper = (
        "import os, resource, subprocess, sys, time\n"
        "cmd = sys.argv[2:]\n"
        "t = time.monotonic()\n"
        "p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "try:\n"
        "    err = p.communicate(timeout=float(sys.argv[1]))[1]; rc = p.returncode\n"
        "except subprocess.TimeoutExpired:\n"
        "    p.kill(); err = p.communicate()[1]; rc = 'killed'\n"
        "el = time.monotonic() - t\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "peak *= 1 if sys.platform == 'darwin' else 1024\n"
        "sys.stdout.write(f'{rc} {el} {peak}\\n'); sys.stdout.flush()\n"
        "sys.stdout.buffer.write(err)\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".hsl", delete=False) as f:
        f.write(script(code))
        path = f.name
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        out = subprocess.run([sys.executable, "-c", helper, str(timeout), sys.executable, "-m",
                              "hsl", "run", "--max-time", str(max_time), "--max-memory",
                              max_memory, path], capture_output=True, env=env).stdout
    finally:
        os.unlink(path)
    head, _, err = out.partition(b"\n")
    rc, elapsed, peak = head.split()
    return (None if rc == b"killed" else int(rc)), err.decode("utf-8", "replace"), \
        float(elapsed), int(peak)


def clean(rc, err: str, expect) -> bool:
    """Whether a bomb ended as it should: with the error `expect` names (exit code 1), or,
    for ANY, with a result or any clean error; never an internal error."""
    if rc is None or "internal error" in err or "Traceback" in err:
        return False
    if expect is None:
        return rc in (0, 1)
    return rc == 1 and expect in err


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-time", type=float, default=3.0)
    ap.add_argument("--max-memory", default="256M")
    ap.add_argument("-k", dest="only", default="", help="only bombs whose name has this")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args(argv)
    from hsl.memory import parse_size
    budget = parse_size(args.max_memory)
    rows = []
    for name, code, expect in BOMBS:
        if args.only not in name:
            continue
        rc, err, elapsed, peak = run_isolated(code, args.max_time, args.max_memory,
                                              timeout=args.max_time * 4 + 10)
        last = [line for line in err.splitlines() if ": error: " in line or "hsl:" in line]
        message = last[0].split(": error: ", 1)[-1] if last else err.strip()[:80]
        ok = clean(rc, err, expect) and elapsed <= 2 * args.max_time and peak <= 2 * budget
        rows.append((name, elapsed, peak, message, ok))
        if not args.markdown:
            print(f"{'ok ' if ok else 'BAD'} {elapsed:6.2f}s {peak / 2**20:7.0f} MB  {name}: "
                  f"{message[:90]}", flush=True)
    if args.markdown:
        print("| bomb | time to the error | peak RSS | error |")
        print("|---|---|---|---|")
        for name, elapsed, peak, message, ok in rows:
            flag = "" if ok else " **(over the bar)**"
            print(f"| {name} | {elapsed:.2f} s | {peak / 2**20:.0f} MB | {message[:70]}{flag} |")
    bad = sum(1 for r in rows if not r[4])
    print(f"{len(rows) - bad} of {len(rows)} bombs ended cleanly within twice the budgets "
          f"(--max-time {args.max_time:g} --max-memory {args.max_memory})", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
