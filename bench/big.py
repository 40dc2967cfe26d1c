#!/usr/bin/env python3
"""Big and exponential inputs: wall time, CPU time and peak memory of `hsl check` and
`hsl run` on generated scripts of 1, 5 and 10 MB (many functions and top-level
statements), and on include bombs (every file includes the next one FANOUT times).

    python bench/big.py [--sizes 1,5,10] [--timeout 300] [--pythonpath DIR] [--keep DIR]

Each command runs as a subprocess, `python -m hsl ...` with this checkout first on
PYTHONPATH (--pythonpath DIR measures another checkout, e.g. an older commit extracted
with `git archive`); its figures are measured from outside with wait4(): wall seconds,
CPU seconds (user + system, less sensitive to a busy machine) and peak RSS.  A command
still running after --timeout seconds is killed and shown as such.

The bar (issue 11): a 10 MB script checked in under 30 s and under 1 GB.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def unit(i: int) -> str:
    """About 400 bytes of ordinary HSL: a function, a class now and then, top-level code."""
    text = f'''function handler_{i}($request, $limit = {i % 50 + 1}) {{
    $total = 0;
    $seen = [];
    foreach ($request["items"] ?? [] as $k => $item) {{
        if (is_number($item) and $item < $limit) {{ $total += $item * 2; }}
        else if (is_string($item)) {{ $seen[] = str_lower($item); }}
    }}
    return ["total" => $total, "seen" => $seen, "name" => "handler {i}: $total"];
}}
$r{i} = handler_{i}(["items" => [1, {i}, "X{i}"]]);
if ($r{i}["total"] > 1000000) echo $r{i}["name"];
'''
    if i % 10 == 0:
        text += f'''class Counter{i} {{
    constructor($start = 0) {{ $this->n = $start; }}
    function add($by = 1) {{ $this->n += $by; return $this; }}
}}
$c{i} = Counter{i}({i});
$c{i}->add(2);
switch ($i % 3) {{ case 0: $x = "zero"; break; default: $x = "other"; }}
'''
    return text


def script(megabytes: float) -> str:
    parts, size, i = ["$i = 0;\n"], 0, 0
    while size < megabytes * 1_000_000:
        parts.append(unit(i))
        size += len(parts[-1])
        i += 1
    return "".join(parts)


def include_bomb(folder: str, fanout: int, levels: int) -> str:
    """main.hsl includes l0.hsl, which includes l1.hsl FANOUT times, ... LEVELS deep:
    FANOUT**LEVELS copies of the last file if includes were expanded in place."""
    names = [f"l{i}.hsl" for i in range(levels + 1)]
    for here, below in zip(names, names[1:]):
        with open(os.path.join(folder, here), "w") as f:
            f.write(f'include "{below}";\n' * fanout)
    with open(os.path.join(folder, names[-1]), "w") as f:
        f.write("$n += 1;\n")
    main = os.path.join(folder, "main.hsl")
    with open(main, "w") as f:
        f.write(f'$n = 0;\ninclude "{names[0]}";\necho $n;\n')
    return main


def measure(args: list, pythonpath: str, timeout: float, cwd: str) -> dict:
    # (`python -m` puts the working directory first on sys.path: not a checkout)
    env = dict(os.environ, PYTHONPATH=pythonpath)
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "hsl", *args], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - start > timeout:
            os.kill(proc.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = -1
            return {"wall": None, "cpu": usage.ru_utime + usage.ru_stime,
                    "rss": usage.ru_maxrss / 1024, "exit": "timeout"}
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall": time.monotonic() - start, "cpu": usage.ru_utime + usage.ru_stime,
            "rss": usage.ru_maxrss / 1024, "exit": proc.returncode}


def show(name: str, command: str, m: dict) -> None:
    wall = f"{m['wall']:8.1f}" if m["wall"] is not None else f"{'timeout':>8}"
    print(f"{name:28} {command:6} {wall} {m['cpu']:8.1f} {m['rss']:9.0f}  {m['exit']}",
          flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,5,10", help="script sizes in MB (default 1,5,10)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per command")
    ap.add_argument("--pythonpath", default=ROOT,
                    help="checkout to measure (default: this one); its grammar/ and stdlib/ "
                         "come from the installed hsl")
    ap.add_argument("--keep", metavar="DIR", help="write the inputs to DIR and keep them")
    args = ap.parse_args(argv)
    folder = args.keep or tempfile.mkdtemp(prefix="hsl-big-")
    os.makedirs(folder, exist_ok=True)
    print(f"{'input':28} {'hsl':6} {'wall s':>8} {'cpu s':>8} {'peak MB':>9}  exit")
    try:
        for mb in [float(x) for x in args.sizes.split(",")]:
            path = os.path.join(folder, f"big_{mb:g}mb.hsl")
            with open(path, "w") as f:
                f.write(script(mb))
            name = f"script {os.path.getsize(path) / 1e6:.1f} MB"
            for command in ("check", "run"):
                show(name, command, measure([command, path], args.pythonpath, args.timeout,
                                            folder))
        for fanout, levels in ((10, 4), (10, 5), (10, 7)):
            sub = os.path.join(folder, f"bomb_{fanout}x{levels}")
            os.makedirs(sub, exist_ok=True)
            main_file = include_bomb(sub, fanout, levels)
            name = f"include bomb {fanout}^{levels}"
            for command in ("check", "run"):
                show(name, command, measure([command, main_file], args.pythonpath,
                                            args.timeout, folder))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
