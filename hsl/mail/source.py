"""The one source of dates and MIME boundaries for the mail classes.

Everything that writes a `Date:` field (MIME's output, setDate(), setDateLater()) asks
`now()`, and everything that needs a new boundary (MIME(), wrapping a part into a new
multipart) asks `boundary()`.  By default they are the system clock and random UUIDs
(version 4).  Two environment variables fix them, so that a test run (or any run) writes
the same bytes every time:

* `HSL_MAIL_TIME=<Unix time>`: `now()` always returns that time;
* `HSL_MAIL_SEED=<text>`: boundaries are UUIDs drawn from a random generator seeded with
  the text, one after the other, in the order they are asked for.

Python callers (tests) use `fix(time=..., seed=...)` instead, and `fix()` with no
arguments goes back to the environment's settings.  Unfixed, they read
hsl.runtime.sources (the clock and random source hsl test's mocks fix; `release()` lets
the mocks win over a fixed time or seed for one case).  The environment is read when this
module is imported.
"""
from __future__ import annotations

import os
import random
import threading
import time as _time
import uuid as _uuid
from typing import Optional

from ..runtime import sources as _sources

_lock = threading.Lock()
_fixed_time: Optional[float] = None
_rng: Optional[random.Random] = None


def fix(time: Optional[float] = None, seed: Optional[str] = None) -> None:
    """Fix the clock at `time` and seed the boundary generator with `seed` (None: the
    system clock / random UUIDs, unless the environment fixes them)."""
    global _fixed_time, _rng
    if time is None:
        env = os.environ.get("HSL_MAIL_TIME")
        try:
            time = float(env) if env else None
        except ValueError:
            time = None
    if seed is None:
        seed = os.environ.get("HSL_MAIL_SEED") or None
    with _lock:
        _fixed_time = time
        _rng = random.Random(seed) if seed is not None else None


def release(time: bool, seed: bool) -> tuple:
    """Stop fixing the time and/or the boundaries (hsl test's mocks decide them for a
    case, through hsl.runtime.sources); returns the state before, for restore()."""
    global _fixed_time, _rng
    with _lock:
        before = (_fixed_time, _rng)
        if time:
            _fixed_time = None
        if seed:
            _rng = None
    return before


def restore(state: tuple) -> None:
    global _fixed_time, _rng
    with _lock:
        _fixed_time, _rng = state


def now() -> float:
    """The current Unix time, or the fixed one."""
    return _sources.now() if _fixed_time is None else _fixed_time


def boundary() -> bytes:
    """A new UUID as text, for a boundary: random, or the next of the seeded sequence."""
    with _lock:
        if _rng is None:
            value = _sources.uuid4()
        else:
            value = _uuid.UUID(int=_rng.getrandbits(128), version=4)
    return str(value).encode("ascii")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")


def format_date(timestamp: float) -> bytes:
    """RFC 5322 date-time in UTC: `Thu, 01 Jan 2026 00:00:00 +0000` (English names,
    whatever the locale)."""
    t = _time.gmtime(timestamp)
    return ("%s, %02d %s %04d %02d:%02d:%02d +0000" % (
        _DAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year, t.tm_hour, t.tm_min,
        t.tm_sec)).encode("ascii")


fix()
