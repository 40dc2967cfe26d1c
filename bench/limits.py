#!/usr/bin/env python3
"""Resource bombs against the run's limits: for each bomb of tests/bombs.py (the general
ones, then every builtin whose work or result grows with its input), the time to its end
and the peak memory of the `hsl run` process, measured from outside (by a helper process
that waits for it), under `--max-time 3 --max-memory 256M`.  The bar: a clean end (the
expected error, or for builtins any clean result or error) within twice both budgets.
Each `hsl run` is capped at 4 GB of address space, so a runaway bomb cannot take the
machine.

    python bench/limits.py [--max-time S] [--max-memory SIZE | --no-memory]
                           [--only general|builtins] [-k SUBSTRING] [--markdown]
"""
from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from bombs import BOMBS, BUILTIN_BOMBS, clean, run_isolated  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-time", type=float, default=3.0)
    ap.add_argument("--max-memory", default="256M")
    ap.add_argument("--no-memory", action="store_true",
                    help="no memory budget: the time limit alone bounds each run")
    ap.add_argument("--only", choices=["general", "builtins"], help="one of the two tables")
    ap.add_argument("-k", dest="name", default="", help="only bombs whose name has this")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args(argv)
    from hsl.runtime.memory import parse_size
    memory = "0" if args.no_memory else args.max_memory
    budget = parse_size(memory) or None
    table = {"general": BOMBS, "builtins": BUILTIN_BOMBS}
    bombs = table[args.only] if args.only else BOMBS + BUILTIN_BOMBS
    rows = []
    for name, code, expect in bombs:
        if args.name not in name:
            continue
        if budget is None and expect is not None:
            expect = None          # without a budget another limit may come first
        rc, err, elapsed, peak = run_isolated(code, args.max_time, memory,
                                              timeout=args.max_time * 4 + 10)
        last = [line for line in err.splitlines() if ": error: " in line or "hsl:" in line]
        message = last[0].split(": error: ", 1)[-1] if last else err.strip()[:80]
        if rc == 0:
            message = "finished (a result)"
        elif rc is None:
            message = "killed: " + message
        ok = clean(rc, err, expect) and elapsed <= 2 * args.max_time and \
            (budget is None or peak <= 2 * budget)
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
          f"(--max-time {args.max_time:g} --max-memory {memory})", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
