"""The memory budget of a run (`--max-memory`, `Program.run(max_memory=)`) and the cap on
all runs at once (`hsl serve --max-memory-total`).

Python cannot tell how much memory one thread's values take, so each run with a budget
keeps an estimate (Budget):

* `held`: the size of everything the run could reach at its last measurement: the local
  variables of its frames (generated code, and builtins in the middle of building a
  result), its module instances, and the memory store and cache (every run reaches
  them), walked by `reachable_size()` (strings by length, arrays by element, objects by
  property; copy-on-write data shared by several handles, and a string held by several
  variables, counted once);
* what it built since: the values announced by code that builds large ones
  (execution.reserve(): string operations, arrays, builtin results whose size follows
  from their input) before building them, or the growth of the process (its resident
  memory, and its count of Python objects times a typical object's size), whichever is
  more: small values are not announced, and the process need not grow while a run
  builds in memory that earlier runs freed;
* the value about to be built.

When the sum passes the budget, the run is measured again: if what it holds plus what it
is about to build is over the budget, it stops with "memory limit exceeded" at its
current line, before building it.  The process is looked at every LOOK_EVERY seconds at
most (and when a large value is announced), so a run never holds much more than its
budget: what it can build in that time with values too small to be announced.  The cap
on all runs bounds the sum of every active run's last measurement (the stores once) the
same way.  The compiled program and its constants are not counted.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import types
from typing import Optional

from .execution import LimitExceeded
from .ops import UserClass, UserObject
from .store import held_values
from .values import HArray, HFunction, HObject

_STATM = "/proc/self/statm"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_statm_fd: Optional[int] = None


def _open_statm() -> Optional[int]:
    try:
        return os.open(_STATM, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None


# Opened once, at import: opened by the first run that measures memory instead, a
# server's descriptor count would grow by one at some request (a leak to whoever counts).
_statm_fd = _open_statm()


def process_memory() -> int:
    """The process's resident memory in bytes (Linux), or its peak resident memory where
    the current figure cannot be read cheaply (macOS): either only grows as the process
    allocates, which is all a trigger needs."""
    global _statm_fd
    try:
        if _statm_fd is None:
            _statm_fd = os.open(_STATM, os.O_RDONLY)
        return int(os.pread(_statm_fd, 64, 0).split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        _statm_fd = -1 if _statm_fd is None else _statm_fd
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def parse_size(text: str) -> int:
    """'268435456', '256M', '1.5G', '512k' -> bytes (K, M, G, T are powers of 1024).
    ValueError with a readable message otherwise."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = 1
    if t and t[-1] in "KMGT":
        scale = 1024 ** ("KMGT".index(t[-1]) + 1)
        t = t[:-1]
    try:
        n = float(t)
    except ValueError:
        raise ValueError(f"invalid size {text!r} (bytes, or a number with K, M or G)") from None
    if not n == n or n < 0 or n * scale > 1 << 62:
        raise ValueError(f"invalid size {text!r}")
    return int(n * scale)


def format_size(n: int) -> str:
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f}M"
    return f"{n} bytes"


# ------------------------------------------------------------------- sizes

# Approximate CPython sizes (64-bit): a bytes object's header, a float.
STRING_HEADER = 33
FLOAT = 24
_CELL = types.CellType
_FUNC = types.FunctionType


def reachable_size(roots, seen: set) -> int:
    """The approximate bytes taken by the HSL values reachable from `roots` (any mix of
    values, Python containers, cells, functions' closures and objects), skipping objects
    whose id is in `seen` (and adding every one it counts).  It runs when a budget is
    nearly used up, over everything a run holds: the common cases come first."""
    total = 0
    stack = []
    push = stack.append

    def scalars_or_push(values) -> int:
        """The size of the numbers and short strings among `values`; others are pushed."""
        n = 0
        for x in values:
            tx = type(x)
            if tx is float:
                n += FLOAT
            elif tx is bytes and len(x) <= 256:
                n += len(x) + STRING_HEADER
            elif x is not None and tx is not bool:
                push(x)
        return n

    total += scalars_or_push(roots)
    pop = stack.pop
    while stack:
        v = pop()
        t = type(v)
        if t is HArray:
            i = id(v)
            if i in seen:
                continue
            seen.add(i)
            d = getattr(v, "d", None)   # None: a handle being made (HArray.__new__)
            if d is None:
                continue
            if id(d) in seen:           # another handle on the same copy-on-write data
                total += 56
                continue
            seen.add(id(d))
            n = len(d)
            # The table, the handle, and int keys past CPython's cached small ints.
            total += 56 + sys.getsizeof(d) + (28 * (n - 257) if n > 257 else 0)
            total += scalars_or_push(d.values())
            if n and (type(next(reversed(d))) is bytes or type(next(iter(d))) is bytes):
                for k in d:
                    if type(k) is bytes:
                        total += len(k) + STRING_HEADER
        elif t is UserObject:
            i = id(v)
            if i in seen:
                continue
            seen.add(i)
            props = v.props
            total += 64 + sys.getsizeof(props) + scalars_or_push(props.values())
        elif t is bytes:                # long strings are often held by several variables
            i = id(v)
            if i not in seen:
                seen.add(i)
                total += len(v) + STRING_HEADER
        elif t is int:
            continue
        else:
            i = id(v)
            if i in seen:
                continue
            seen.add(i)
            if t is dict:
                total += sys.getsizeof(v) + scalars_or_push(v.values())
                for k in v:
                    if type(k) is bytes:
                        total += len(k) + STRING_HEADER
            elif t is list or t is tuple:
                total += sys.getsizeof(v) + scalars_or_push(v)
            elif t is str:
                total += sys.getsizeof(v)
            elif t is bytearray:
                total += len(v) + 57
            elif t is _CELL:
                try:
                    push(v.cell_contents)
                except ValueError:
                    pass
            elif t is HFunction:
                total += 64
                push(v.fn)
                if v.bound is not None:
                    push(v.bound)
            elif t is _FUNC:
                if v.__closure__:
                    stack.extend(v.__closure__)
            elif t is UserClass:
                total += scalars_or_push(v.statics.values())
            elif isinstance(v, HObject):
                total += sys.getsizeof(v)
                d = getattr(v, "__dict__", None)
                if d is not None:
                    total += scalars_or_push(d.values())
                for cls in t.__mro__:
                    for name in cls.__dict__.get("__slots__", ()):
                        if name[:2] != "__":
                            x = getattr(v, name, None)
                            if x is not None:
                                push(x)
    return total


# ------------------------------------------------------------------ budgets

class MemoryLimit(LimitExceeded):
    """Raised by Budget.measure(): the run's budget (or the cap on all runs) ran out."""


_ACTIVE: set = set()            # budgets of the runs in progress (for the overall cap)
_ACTIVE_LOCK = threading.Lock()
_total_cap: Optional[int] = None


def set_total_cap(cap: Optional[int]) -> None:
    """Bound the sum of all running runs' memory (hsl serve --max-memory-total)."""
    global _total_cap
    _total_cap = cap or None


def total_cap() -> Optional[int]:
    return _total_cap


LOOK_EVERY = 0.01         # seconds between two reads of the process's memory
BLOCK = 64                # bytes of a typical small Python object (float, short string)


class Budget:
    """The memory estimate of one run (see the module docstring), made by Program.run.
    `roots()` gives what to measure: the run (runtime.Execution) sets it to walk its own
    frames."""

    __slots__ = ("limit", "held", "own", "announced", "mark", "blocks", "unpolled",
                 "poll_every", "next_look", "roots", "__weakref__")

    def __init__(self, limit: Optional[int], roots=None):
        self.limit = limit                  # None: only the overall cap applies
        self.held = 0           # what the run could reach at the last measurement
        self.own = 0            # the part of it that is the run's alone (not the stores)
        self.announced = 0      # bytes announced since then (built or about to be)
        self.mark = process_memory()        # the process's memory at that time
        self.blocks = sys.getallocatedblocks()      # and its count of Python objects
        self.unpolled = 0                   # bytes announced since the last look at it
        cap = limit if limit is not None else (_total_cap or 1 << 30)
        self.poll_every = max(cap // 32, 1 << 16)
        self.next_look = 0.0
        self.roots = roots

    def start(self) -> None:
        with _ACTIVE_LOCK:
            _ACTIVE.add(self)

    def stop(self) -> None:
        with _ACTIVE_LOCK:
            _ACTIVE.discard(self)

    def reserve(self, n: int) -> None:
        """About to build about `n` bytes.  What was announced counts in full (values
        dropped since are found out by measuring), because the process need not grow
        while a run builds: memory freed by earlier runs is used again."""
        self.announced += n
        if self.limit is not None and self.held + self.announced > self.limit:
            self.measure(n)
            return
        self.unpolled += n
        if self.unpolled >= self.poll_every or n >= self.poll_every:
            self.poll(n)

    def poll(self, about_to_build: int = 0) -> None:
        """Measure again when what the run held, plus what it has built since (what it
        announced, or the process's growth when that is more: small values are not
        announced), plus what it is about to build, passes a limit.  The process's memory
        is read at most every LOOK_EVERY seconds, unless a large value is about to be
        built: reading it releases the interpreter lock, and a thread that releases it
        that often keeps the threads waiting for it from ever asking it to switch (the
        event loop of hsl serve, behind a busy worker, waited for the worker to end)."""
        now = time.monotonic()
        if now < self.next_look and about_to_build < self.poll_every:
            return
        self.next_look = now + LOOK_EVERY
        self.unpolled = 0
        # Growth since the last measurement: the process's, its objects' (freed memory
        # used again does not make the process grow) or what the run announced.
        grown = max(process_memory() - self.mark, self.announced,
                    (sys.getallocatedblocks() - self.blocks) * BLOCK)
        if self.limit is not None and self.held + grown + about_to_build > self.limit:
            self.measure(about_to_build)
        elif _total_cap is not None and grown + about_to_build > self.poll_every * 8:
            self.measure(about_to_build)

    def measure(self, about_to_build: int) -> None:
        seen: set = set()
        own = reachable_size(self.roots(), seen)
        # The memory store and the cache are the run's too (they are every run's): a
        # value both hold counts once.
        stored = reachable_size(held_values(), seen)
        self.own, self.held = own, own + stored
        self.announced = about_to_build
        self.mark = process_memory()
        self.blocks = sys.getallocatedblocks()
        if self.limit is not None and self.held + about_to_build > self.limit:
            raise MemoryLimit(f"memory limit exceeded (the run would hold about "
                              f"{_mb(self.held + about_to_build)}; its limit is "
                              f"{format_size(self.limit)})")
        cap = _total_cap
        if cap is not None:         # the stores count once, not once per run
            with _ACTIVE_LOCK:
                total = sum(b.own for b in _ACTIVE) + stored + about_to_build
            if total > cap:
                raise MemoryLimit(f"memory limit exceeded (all runs together would hold "
                                  f"about {_mb(total)}; the limit for all runs is "
                                  f"{format_size(cap)})")


def _mb(n: int) -> str:
    return f"{max(n, 0) / (1 << 20):.0f} MB" if n >= 1 << 20 else f"{n} bytes"
