#!/usr/bin/env python3
"""Cases per second of `hsl test` on the bundled examples' HELO cases (the one-command
HELO fixtures of examples/sessions/ and any HELO run case of a test file), and on their
whole-session cases: the test files are loaded and the scripts compiled once, then every
case runs N times against a fresh state (memory, cache, metrics, DNS table), as
`hsl test` runs it.  The bar: at least 500 HELO cases per second on one core.
`--coverage` also runs them with the scripts compiled for coverage (`hsl test
--coverage`) and prints both rates side by side with the overhead (bar: <= 2x).

    python bench/test.py [-n N] [--repeat R] [--coverage]

Each kind runs N rounds per repeat over its cases; the best repeat counts.  Loading and
compiling are not measured (a run compiles each script once, however many cases).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from hsl.testing import load_suites  # noqa: E402
from hsl.testing.runner import PASS, Runner  # noqa: E402


def cases_of(suites, kind: str) -> list:
    """(suite, case) of every isolated case of `kind`: "helo" (one HELO run) or
    "session"."""
    out = []
    for suite in suites:
        for case in suite.cases:
            if case.group is not None:
                continue
            if kind == "helo" and case.kind == "run" and case.phase == "helo":
                out.append((suite, case))
            elif kind == "session" and case.kind == "session":
                out.append((suite, case))
    return out


def rate(runner: Runner, cases: list, rounds: int, repeat: int) -> float:
    by_suite: dict = {}
    for suite, case in cases:
        by_suite.setdefault(id(suite), (suite, set()))[1].add(id(case))
    chosen = [(suite, (lambda ids: lambda c: id(c) in ids)(ids))
              for suite, ids in by_suite.values()]
    for suite, selected in chosen:          # warm up: compile, first runs
        assert all(r.status == PASS for r in runner.run(suite, selected))
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(rounds):
            for suite, selected in chosen:
                runner.run(suite, selected)
        best = max(best, rounds * len(cases) / (time.perf_counter() - start))
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20, help="rounds over the cases per repeat")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--coverage", action="store_true",
                    help="also with coverage, side by side (the overhead)")
    args = ap.parse_args()
    os.chdir(ROOT)
    suites, status = load_suites(["examples"])
    if status is not None:
        return status
    runner = Runner()
    covered = None
    if args.coverage:
        from hsl.coverage import Coverage
        covered = Runner(compile_options={"coverage": Coverage()})
    for kind in ("helo", "session"):
        cases = cases_of(suites, kind)
        if cases:
            per_second = rate(runner, cases, args.n, args.repeat)
            line = f"{kind}: {len(cases)} cases, {per_second:,.0f} cases/s"
            if covered is not None:
                with_coverage = rate(covered, cases, args.n, args.repeat)
                line += (f"; with --coverage {with_coverage:,.0f} cases/s "
                         f"({per_second / with_coverage:.2f}x)")
            print(line)
    for suite in suites:
        suite.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
