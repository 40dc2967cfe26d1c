"""The wall clock and the random source every builtin reads, in one place so that a test
can fix them (hsl test's `time:` and `random:` mocks, hsl/testing/mocks.py).

* `now()`: the Unix time, for time(), strftime()/strptime()'s "now" and "today",
  timelocal(), the mail classes' Date: (hsl.mail.source), DKIM and ARC timestamps (t=,
  and x= checks), SPF's %{t}, X509 validity checks and a hook's $transaction["ts"].
* `rng`: a random.Random (by default the system's, random.SystemRandom) for
  random_number(), array_random() and array_shuffle(); `random_bytes(n)` for
  random_bytes(); `uuid4()` for uuid(), MIME boundaries and the connection and
  transaction ids of hook runs.

These are attributes of this module holding the system's own functions (time.time,
os.urandom, uuid.uuid4), so a builtin pays nothing for reading them here.  `use()`
replaces them and returns what it replaced, for `restore()`.  Key generation and the
other cryptography (through the `cryptography` package) do not come from here: they
stay random whatever the seed, as keys must.  Deadlines and durations (executiontime(),
sleep(), uptime(), the cache statement's TTLs) use the monotonic clock, not this one.
"""
from __future__ import annotations

import os
import random
import threading
import time
import uuid
from typing import Callable, Optional

now: Callable[[], float] = time.time
rng: random.Random = random.SystemRandom()
random_bytes: Callable[[int], bytes] = os.urandom
uuid4: Callable[[], uuid.UUID] = uuid.uuid4

_NAMES = ("now", "rng", "random_bytes", "uuid4")


class SteppingClock:
    """A clock that starts at `start` and moves `step` seconds on after each reading
    (step 0: frozen).  Safe to read from several threads."""

    def __init__(self, start: float, step: float = 0.0):
        self.next = start
        self.step = step
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            value = self.next
            self.next = value + self.step
        return value


class SeededRandom(random.Random):
    """random.Random seeded with `seed`, and the byte strings and UUIDs drawn from it.
    (random.Random's own methods are safe to call from several threads; the sequence
    is the seed's when one thread draws.)"""

    def random_bytes(self, n: int) -> bytes:
        return self.randbytes(n)

    def uuid4(self) -> uuid.UUID:
        return uuid.UUID(int=self.getrandbits(128), version=4)


def use(clock: Optional[Callable[[], float]] = None, seed=None) -> dict:
    """Read the time from `clock` and draw randomness from a generator seeded with `seed`
    (None: leave that one as it is).  Returns the replaced state, for restore()."""
    g = globals()
    before = {name: g[name] for name in _NAMES}
    if clock is not None:
        g["now"] = clock
    if seed is not None:
        seeded = SeededRandom(seed)
        g.update(rng=seeded, random_bytes=seeded.random_bytes, uuid4=seeded.uuid4)
    return before


def restore(state: dict) -> None:
    """Put back what use() replaced."""
    globals().update(state)
