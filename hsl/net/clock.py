"""The clock of one network operation: an http() request, an SMTP session, a DNS lookup.

A `Clock` knows the operation's own deadline (http's `timeout`, SPF's 20 seconds), the
running execution's time limit (read through hsl.runtime.ops's time_left()) and, for one
phase, a shorter deadline (http's connect timeout).  Every wait in hsl.net asks it how
long to block next (`slice(end)`): never past the earliest deadline and never more than
SLICE seconds, looking for cancellation (hsl.runtime.ops's check_deadline()) before each
slice.  So every network builtin stops the same way:

* at the run's time limit the run stops with "execution time limit exceeded" (not a
  failed request, a TRY_AGAIN or a -1), as a loop does;
* a cancelled run (hsl serve's `cancel`) stops with "interrupted" within SLICE seconds;
* at the operation's own deadline the wait raises socket.timeout, which the builtin
  reports its own way.

A clock made on a thread that runs no script (http's background requests) has the
operation's deadlines only.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Callable, Optional

from ..runtime import execution as _execution

SLICE = 0.25            # the longest a wait blocks before looking for cancellation


class Clock:
    __slots__ = ("own", "run", "phase")

    def __init__(self, timeout: Optional[float] = None):
        now = time.monotonic()
        self.own = now + timeout if timeout is not None else None
        left = _execution.time_left()
        self.run = now + left if left is not None else None
        self.phase: Optional[float] = None

    def limited(self, timeout: Optional[float]) -> "Clock":
        """A clock for part of this operation that also ends `timeout` seconds from now."""
        part = Clock.__new__(Clock)
        part.own = self.deadline(timeout)
        part.run = self.run
        part.phase = None
        return part

    def deadline(self, timeout: Optional[float] = None) -> Optional[float]:
        """The earliest deadline (of the clock's and `timeout` seconds from now); None:
        there is none."""
        end = None
        for d in (self.own, self.run, self.phase):
            if d is not None and (end is None or d < end):
                end = d
        if timeout is not None:
            d = time.monotonic() + timeout
            if end is None or d < end:
                end = d
        return end

    def left(self, timeout: Optional[float] = None) -> Optional[float]:
        end = self.deadline(timeout)
        return None if end is None else end - time.monotonic()

    def bound(self, timeout: float) -> float:
        """`timeout`, or less when a deadline of the clock comes first (at least 1 ms:
        for a timeout handed to a library)."""
        left = self.left()
        return timeout if left is None or left >= timeout else max(left, 0.001)

    def poll(self) -> None:
        """Stop a cancelled run ("interrupted") and one whose time is up."""
        _execution.check_deadline()

    def is_run(self, end: Optional[float]) -> bool:
        """Whether `end` (from deadline()) is the run's time limit."""
        return end is not None and self.run is not None and end >= self.run

    def expire(self) -> None:
        """The run's time ran out in a wait: stop it as the limit does, once its deadline
        has passed by the execution's own reading of the time."""
        for _ in range(3):
            left = _execution.time_left()
            if left is None:
                return
            if left >= 0:
                time.sleep(left + 0.001)
            _execution.check_deadline()

    def slice(self, end: Optional[float]) -> float:
        """Seconds to block before looking again (at most SLICE) on a wait that ends at
        `end`.  Past `end`: the run stops when that was its time limit, else
        socket.timeout."""
        self.poll()
        if end is None:
            return SLICE
        left = end - time.monotonic()
        if left <= 0:
            if self.is_run(end):
                self.expire()
            raise socket.timeout("timed out")
        return left if left < SLICE else SLICE

    def call(self, fn: Callable, end: Optional[float], name: str):
        """fn() on a helper thread, for a library call that cannot be interrupted (the
        system's getaddrinfo, a DNS query): its result or its exception, waited for in
        slices until `end` (see slice()).  A call given up on runs to its own end."""
        box: dict = {}

        def target():
            try:
                box["result"] = fn()
            except BaseException as e:      # handed to the waiting thread
                box["error"] = e
        worker = threading.Thread(target=target, name=name, daemon=True)
        worker.start()
        while True:
            worker.join(self.slice(end))
            if not worker.is_alive():
                break
        if "error" in box:
            raise box["error"]
        return box["result"]
