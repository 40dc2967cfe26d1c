#!/usr/bin/env python3
"""What coverage costs a run: a 30-line HELO policy run N times compiled without and with
`coverage=True` (hsl/coverage.py, docs/coverage.md), and a loop-heavy script, the worst
case (a counter per statement and per loop iteration, little else per statement).

    python bench/coverage.py [-n N] [--repeat R]

Each side runs N times per repeat; the best repeat counts.  Prints runs per second and
the ratio with/without; the bar is at most 2x on the policy.  Compile time is not
measured (a test run compiles once and runs many cases).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hsl.coverage import Coverage  # noqa: E402
from hsl.hooks.helo import HeloSession, compile_helo, run_helo  # noqa: E402
from hsl.program import compile_program  # noqa: E402
import serve as serve_bench  # noqa: E402  (bench/serve.py: the same policy)

# The HELO policy of bench/serve.py (regexes, a function, foreach, ??, ?:, and/or, memory).
POLICY = serve_bench.POLICY

# Sessions that take different ways through the policy.
SESSIONS = [dict(host="mail.example.com"), dict(host="localhost"), dict(host="bad_name!"),
            dict(host="[192.0.2.1]", remoteip="10.1.2.3")]

LOOP = """
$sum = 0;
for ($i = 0; $i < 2000; $i++) {
    if ($i % 3 == 0) $sum += $i; else $sum -= 1;
    $x = $i > 10 ? $sum : 0;
}
echo $sum;
"""


def best(fn, n: int, repeat: int) -> float:
    """Seconds for n calls of fn, the best of `repeat` tries."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        times.append(time.perf_counter() - t)
    return min(times)


def policy_runner(program):
    sessions = [HeloSession(**s) for s in SESSIONS]
    state = {"i": 0}

    def one():
        state["i"] += 1
        run_helo(program, sessions[state["i"] % len(sessions)])
    return one


def loop_runner(program):
    return lambda: program.run(output=lambda line: None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=2000, help="runs per repeat (default 2000)")
    ap.add_argument("--repeat", type=int, default=5, help="repeats, best counts (default 5)")
    args = ap.parse_args()
    cases = [("30-line HELO policy", lambda **kw: compile_helo(POLICY, "policy.hsl", **kw),
              policy_runner, args.n),
             ("loop, 2000 iterations", lambda **kw: compile_program(LOOP, "loop.hsl",
                                                                    predefined=set(), **kw),
              loop_runner, max(1, args.n // 50))]
    print(f"{'script':24} {'runs/s plain':>13} {'runs/s coverage':>16} {'ratio':>6}")
    for name, make, runner, n in cases:
        plain = best(runner(make()), n, args.repeat)
        cov = Coverage()
        covered = best(runner(make(coverage=cov)), n, args.repeat)
        print(f"{name:24} {n / plain:13.0f} {n / covered:16.0f} {covered / plain:6.2f}x")
        data = cov.data()
        lines, branches = data.totals()["lines"], data.totals()["branches"]
        print(f"{'':24} covered: lines {lines[0]}/{lines[1]}, branches "
              f"{branches[0]}/{branches[1]}")


if __name__ == "__main__":
    main()
