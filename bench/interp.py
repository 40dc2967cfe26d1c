#!/usr/bin/env python3
"""Interpreter benchmark: each program runs as HSL and as equivalent idiomatic Python.

Both run in this process.  HSL programs are compiled once with ``hsl.compile`` (compile time
is not measured) and then run with ``prog.run(output=...)``; the Python equivalent is a plain
function.  Each side runs REPEAT times and the best time counts.  The outputs of the two
sides must agree, so both really do the same work.

Prints, per benchmark, the HSL seconds, the Python seconds and their ratio, then the
geometric mean of the ratios.

    python bench/interp.py            # the full suite
    python bench/interp.py fib loop   # selected benchmarks
"""
from __future__ import annotations

import math
import sys
import time

REPEAT = 3

# ------------------------------------------------------------------ the programs

FIB_HSL = """
function fib($n) { return $n < 2 ? $n : fib($n - 1) + fib($n - 2); }
echo fib(25);
"""


def fib_py(out):
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)
    out(str(fib(25)))


LOOP_HSL = """
function count() {
    $sum = 0;
    for ($i = 0; $i < 1000000; $i++) { $sum += $i; }
    return $sum;
}
echo count();
"""


def loop_py(out):
    def count():
        total = 0
        i = 0
        while i < 1000000:
            total += i
            i += 1
        return total
    out(str(count()))


STRING_HSL = """
function build() {
    $s = "";
    for ($i = 0; $i < 10000; $i++) { $s .= "x"; }
    return $s;
}
$s = build();
echo length($s);
"""


def string_py(out):
    def build():
        s = ""
        i = 0
        while i < 10000:
            s += "x"
            i += 1
        return s
    out(str(len(build())))


# Build 100,000 pseudo-random numbers (ZX81 LCG, exact in doubles), sort them with a
# counting sort (comparison-free: the core language has no sort), then iterate over the
# result checking order and computing a checksum.
ARRAY_HSL = """
function run() {
    $x = 1;
    $values = [];
    for ($i = 0; $i < 100000; $i++) {
        $x = ($x * 75 + 74) % 65537;
        $values[] = $x % 1000;
    }
    $counts = [];
    foreach ($values as $v) { $counts[$v] = ($counts[$v] ?? 0) + 1; }
    $sorted = [];
    for ($v = 0; $v < 1000; $v++) {
        $n = $counts[$v] ?? 0;
        for ($k = 0; $k < $n; $k++) { $sorted[] = $v; }
    }
    $prev = -1;
    $ok = true;
    $sum = 0;
    foreach ($sorted as $i => $v) {
        if ($v < $prev) $ok = false;
        $prev = $v;
        $sum += $v * ($i % 7);
    }
    return ($ok ? "sorted" : "unsorted") . " " . $sum;
}
echo run();
"""


def array_py(out):
    def run():
        x = 1
        values = []
        for _ in range(100000):
            x = (x * 75 + 74) % 65537
            values.append(x % 1000)
        counts = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        result = []
        for v in range(1000):
            result.extend([v] * counts.get(v, 0))
        prev, ok, total = -1, True, 0
        for i, v in enumerate(result):
            if v < prev:
                ok = False
            prev = v
            total += v * (i % 7)
        return ("sorted" if ok else "unsorted") + " " + str(total)
    out(run())


# Passing a 10,000-element array 10,000 times: value semantics must not copy it.
CALLS_HSL = """
function pick($a, $i) { return $a[$i]; }
function run() {
    $big = [];
    for ($i = 0; $i < 10000; $i++) { $big[] = $i; }
    $sum = 0;
    for ($i = 0; $i < 10000; $i++) { $sum += pick($big, $i); }
    return $sum;
}
echo run();
"""


def calls_py(out):
    def pick(a, i):
        return a[i]

    def run():
        big = list(range(10000))
        total = 0
        i = 0
        while i < 10000:
            total += pick(big, i)
            i += 1
        return total
    out(str(run()))


BENCHMARKS = [
    ("fib", "recursive fib(25)", FIB_HSL, fib_py),
    ("loop", "counting loop to 1,000,000", LOOP_HSL, loop_py),
    ("string", "10,000 string appends with .=", STRING_HSL, string_py),
    ("array", "build 100,000 numbers, counting sort, iterate", ARRAY_HSL, array_py),
    ("calls", "10,000 calls passing a 10,000-element array", CALLS_HSL, calls_py),
]


# ------------------------------------------------------------------ the harness

def _import_hsl():
    try:
        import hsl
        hsl.compile  # noqa: B018 -- the API this benchmark needs
    except (ImportError, AttributeError) as exc:
        sys.exit(f"bench/interp.py: cannot use hsl ({exc}).\n"
                 "Install it first: python -m pip install -e .")
    return hsl


def best_of(fn, repeat=REPEAT):
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    hsl = _import_hsl()
    selected = [b for b in BENCHMARKS if not argv or b[0] in argv]
    if not selected:
        sys.exit(f"unknown benchmark(s) {argv}; choose from {[b[0] for b in BENCHMARKS]}")
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))

    print(f"{'benchmark':<10} {'HSL s':>9} {'Python s':>9} {'ratio':>8}  description")
    ratios = []
    failed = False
    for name, desc, source, py in selected:
        prog = hsl.compile(source, filename=f"<bench {name}>")
        hsl_out: list[str] = []
        py_out: list[str] = []

        def run_hsl():
            hsl_out.clear()
            prog.run(output=hsl_out.append)

        def run_py():
            py_out.clear()
            py(py_out.append)

        t_hsl = best_of(run_hsl)
        t_py = best_of(run_py)
        ratio = t_hsl / t_py if t_py > 0 else math.inf
        ratios.append(ratio)
        note = ""
        if [str(x) for x in hsl_out] != py_out:
            note = f"  OUTPUT MISMATCH: HSL {hsl_out!r} vs Python {py_out!r}"
            failed = True
        print(f"{name:<10} {t_hsl:9.4f} {t_py:9.4f} {ratio:8.1f}  {desc}{note}")

    geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"{'geomean':<10} {'':>9} {'':>9} {geomean:8.1f}  (HSL time / Python time, best of {REPEAT})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
