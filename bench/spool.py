#!/usr/bin/env python3
"""The spool's write speed: transactions of one and of two 10 KB copies committed with
`hsl.queue.spool.write_copies` (every file and directory fsync'ed), copies per second.

    python bench/spool.py [--dir DIR] [--seconds S]

The spool goes in a fresh directory under DIR (default: the current directory, which is
on a real disk more often than /tmp; fsync on tmpfs costs nothing) and is removed after.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hsl.queue.spool import Copy, write_copies  # noqa: E402

MESSAGE = (b"From: a@example.com\r\nTo: b@example.org\r\nSubject: bench\r\n\r\n"
           + (b"x" * 78 + b"\r\n") * 128)     # 10 KB of body


def rate(spool: str, copies_per_transaction: int, seconds: float) -> tuple:
    """(copies/s, ms per transaction) writing transactions for about `seconds`."""
    copies = [Copy(MESSAGE, "0b9d4c52-7d4a-4f5e-9a53-0c1f2e3d4a5b", "a@example.com",
                   f"b{i}@example.org", "mx", metadata={"k": "v"})
              for i in range(copies_per_transaction)]
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        write_copies(spool, copies)
        done += 1
    elapsed = time.perf_counter() - start
    return done * copies_per_transaction / elapsed, elapsed / done * 1000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=".", help="where to make the spool (default: .)")
    ap.add_argument("--seconds", type=float, default=3.0, help="time per figure")
    args = ap.parse_args(argv)
    base = tempfile.mkdtemp(prefix="hsl-bench-spool-", dir=args.dir)
    try:
        print(f"spool in {base} ({len(MESSAGE)} bytes per copy)")
        for n in (1, 2):
            per_s, ms = rate(os.path.join(base, f"spool{n}"), n, args.seconds)
            print(f"{n} cop{'y' if n == 1 else 'ies'} per transaction: {per_s:8.0f} copies/s"
                  f"  ({ms:.2f} ms per transaction)")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
