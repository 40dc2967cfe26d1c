"""The execution context every layer above reaches: which run is on this thread, and the
calls builtins and value helpers make to keep it within its limits.

* the run's control signals (not HSL exceptions: `try`/`catch` cannot intercept them):
  Terminate (a hook decision), LimitExceeded (a budget ran out), Preempted (a speculative
  run must move to a worker), OutputClosed;
* the thread a script runs on (start_script_thread) and the call depth it holds;
* `current()`, and the calls made before work that may be long or large: check_deadline(),
  time_left(), blocking(), reserve(), work(), will_mutate(), on_rollback().

The run itself (runtime.Execution, made by Program.run) is reached only through the
thread's `_current.execution`, by its methods (check_time, heavy, out_of_time) and its
attributes (deadline, cancel, speculative, memory, undo, saved): this module imports
nothing of hsl, so values, the regex engine, the stores and every builtin can use it.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Optional


class Terminate(BaseException):
    """A hook termination function (Accept, Reject, ...) ending the script: not an HSL
    exception, so `try`/`catch` cannot intercept it."""

    def __init__(self, decision):
        self.decision = decision
        self.globals = None     # final global variables, filled in by Program.run
        self.trace = []
        super().__init__("terminate")


class OutputClosed(BaseException):
    """Writing echo output failed (e.g. a closed pipe): the run stops; not an HSL error."""


class LimitExceeded(BaseException):
    """The execution budget or the call-depth limit ran out (uncatchable in HSL)."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class Preempted(BaseException):
    """A speculative run (see runtime.SpeculativeExecution) must move to a worker
    thread: its time slice ran out, it went too deep, or it was about to block or reach
    outside the process.  Uncatchable in HSL.  `rollback()` (set by Program.run) takes back the run's
    in-process effects: call it before running the script again."""

    def __init__(self, why: str):
        self.why = why
        self.rollback = _nothing
        super().__init__(why)


def _nothing() -> None:
    pass


# ------------------------------------------------------------------ execution

_current = threading.local()

# The C stack.  A call in HSL is a Python call, and one made through a builtin that calls
# back (array_sort's comparator, array_map, pcre_replace...) also goes through C frames:
# the deepest path measured takes about 3.3 KB of C stack per HSL call level (array_sort
# in CPython 3.11).  Overflowing the C stack kills the process, so the call depth of a
# run is capped at what its thread's stack holds at BYTES_PER_CALL, with a wide margin.
BYTES_PER_CALL = 8 * 1024
STACK_SIZE = 512 * 1024 * 1024      # virtual memory: pages are used only when reached
MAX_DEPTH = 50_000                  # the most a script thread (STACK_SIZE) allows


def start_script_thread(target, *, name: Optional[str] = None, daemon: bool = True,
                        stack_size: int = STACK_SIZE) -> threading.Thread:
    """Start `target` on a new thread with a large stack (by default one that holds
    MAX_DEPTH HSL calls): hsl runs every script on such a thread (hsl run, hsl serve's
    workers, the REPL), and Program.run caps the call depth at what it holds."""
    def with_known_stack():
        _current.stack_size = stack_size
        target()

    run = with_known_stack
    old = threading.stack_size()
    try:
        threading.stack_size(stack_size)
    except (ValueError, RuntimeError):      # a platform that cannot: the default stack
        run = target
    try:
        t = threading.Thread(target=run, name=name, daemon=daemon)
        t.start()
    finally:
        threading.stack_size(old)
    return t


def depth_capacity() -> int:
    """The deepest HSL call depth the current thread's C stack holds (computed once per
    thread: it is asked on every run)."""
    capacity = getattr(_current, "depth_capacity", None)
    if capacity is None:
        capacity = _current.depth_capacity = _depth_capacity()
    return capacity


def _depth_capacity() -> int:
    stack = getattr(_current, "stack_size", None)
    if stack is None:
        # The main thread, or a thread hsl did not start: the system's stack limit
        # (also the default for new threads on Linux), 8 MiB when it is unlimited.
        stack = 8 * 1024 * 1024
        try:
            import resource
            soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
            if soft != resource.RLIM_INFINITY and soft > 0:
                stack = soft
        except (ImportError, OSError, ValueError):
            pass
        if threading.current_thread() is not threading.main_thread():
            stack = min(stack, 8 * 1024 * 1024)
    return max(64, min(MAX_DEPTH, stack // BYTES_PER_CALL))


def current():
    """The execution running on this thread (for builtins that need it)."""
    return getattr(_current, "execution", None)


def check_deadline() -> None:
    """For builtins whose work can grow without bound (e.g. encoding a deeply shared
    array): stop at the running execution's time limit or cancellation, as loops do."""
    ex = getattr(_current, "execution", None)
    if ex is not None and (ex.deadline is not None or ex.cancel is not None):
        ex.check_time()


def time_left() -> Optional[float]:
    """Seconds left before the running execution's time limit (None: no limit), for
    builtins that can bound their own work (regular expression matching)."""
    ex = getattr(_current, "execution", None)
    if ex is None or ex.deadline is None:
        return None
    return ex.deadline - time.monotonic()


def blocking(what: str) -> None:
    """Called by builtins before they block or reach outside the process (sleep, files,
    syslog, barriers): a speculative run must not do that on the event loop."""
    ex = getattr(_current, "execution", None)
    if ex is not None and ex.speculative:
        raise Preempted(what)


def speculative() -> bool:
    ex = getattr(_current, "execution", None)
    return ex is not None and ex.speculative


def on_rollback(undo: Callable[[], None]) -> None:
    """Called by builtins after an in-process effect (memory_*, metrics_*) with a way to
    take it back, in case the run is preempted and run again on a worker."""
    ex = getattr(_current, "execution", None)
    if ex is not None and ex.speculative:
        ex.undo.append(undo)


# Speculative runs in progress in the process: while there are none (most of the time,
# and always outside hsl serve) object writes skip the check below at the cost of one
# global read.
_speculating = 0
_speculating_lock = threading.Lock()


def will_mutate(obj) -> None:
    """Called before a write to an object (a user class instance, a Map, a Set...): a
    speculative run saves the object's state once, so that a rollback restores it and
    the write happens once in all, like every other effect of the run.  The object gives
    its saved state as a restore function: `obj.hsl_snapshot()`."""
    if _speculating:
        ex = getattr(_current, "execution", None)
        if ex is not None and ex.speculative and id(obj) not in ex.saved:
            ex.saved[id(obj)] = obj                 # keeps the id from being reused
            ex.undo.append(obj.hsl_snapshot())


# Work or values at least this big (bytes, or units of work) are announced: a speculative
# run leaves them to a worker, and the clock is checked before and after.
WORK = 1 << 20


def reserve(nbytes: int) -> None:
    """Called before building a value that takes about `nbytes` bytes (see hsl.runtime.memory for
    how to estimate; values.reserve_string() and values.reserve_elements() do it for
    strings and arrays): the run's memory budget may end the run here, with "memory limit
    exceeded" at its current line, before anything is built; a speculative run leaves a
    large value to a worker thread."""
    ex = getattr(_current, "execution", None)
    if ex is None:
        return
    if nbytes > WORK:
        ex.heavy(f"building a value of {nbytes} bytes")
    budget = ex.memory
    if budget is not None:
        budget.reserve(nbytes)          # (raises memory.MemoryLimit, a LimitExceeded)


def work(units: int) -> None:
    """Called by a builtin before work that grows with its input (`units`: about one per
    byte a C-level operation goes through, or per element times the cost of a
    Python-level step on it).  Large work is not started past the deadline, is left to a
    worker by a speculative run, and has the clock checked again once it returns."""
    if units > WORK:
        ex = getattr(_current, "execution", None)
        if ex is not None:
            ex.heavy(f"work on {units} bytes or elements")
