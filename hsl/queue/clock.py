"""The queue's clocks: when an entry is due, and how the runner waits for the next one.

`WallClock` is real time.  `VirtualClock` (`hsl queue run --clock virtual`, and tests)
starts at a given time and moves only when the runner has nothing to do: waiting for the
next due entry jumps straight to it, so a test walks a message through 30 retries in
milliseconds while every hook and every attempt still sees consistent times.
"""
from __future__ import annotations

import threading
import time
from typing import Optional


class WallClock:
    virtual = False

    def now(self) -> float:
        return time.time()

    def wait(self, seconds: float, wake: threading.Event) -> None:
        """Block for `seconds` or until `wake` is set."""
        wake.wait(max(0.0, seconds))


class VirtualClock:
    virtual = True

    def __init__(self, start: Optional[float] = None):
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)

    def wait(self, seconds: float, wake: threading.Event) -> None:
        """Nothing runs while the runner waits: jump."""
        self.advance(seconds)
