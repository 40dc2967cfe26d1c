"""Process-wide state shared by all executions: the `cache` statement's buckets, barriers
and the memory store behind `memory_*` and barrier variables.  Every structure here is
guarded by a lock, because executions may run in parallel threads."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict

from . import values as V
from ..errors import ScriptError
from .execution import on_rollback, speculative

# ------------------------------------------------------------------- memory

MEMORY_LOCK = threading.RLock()
MEMORY: dict = {}          # key (bytes) -> HSL value (stored shared/immutable)


# ------------------------------------------------------------------ barriers

_barrier_locks: dict[bytes, threading.Lock] = {}
_barrier_guard = threading.Lock()


class BarrierHandle:
    def __init__(self, name: bytes, lock: threading.Lock):
        self.name = name
        self.lock = lock

    def isset(self) -> bool:
        with MEMORY_LOCK:
            return ("barrier", self.name) in MEMORY

    def get(self):
        with MEMORY_LOCK:
            return V.share(MEMORY[("barrier", self.name)])

    def leave(self, value) -> None:
        """Store the barrier variable (or forget it when it is unset) and release."""
        try:
            with MEMORY_LOCK:
                if value is V.UNSET:
                    MEMORY.pop(("barrier", self.name), None)
                else:
                    MEMORY[("barrier", self.name)] = V.share(value)
        finally:
            self.lock.release()


def barrier_enter(name: bytes) -> BarrierHandle:
    with _barrier_guard:
        lock = _barrier_locks.get(name)
        if lock is None:
            lock = _barrier_locks[name] = threading.Lock()
    lock.acquire()
    return BarrierHandle(name, lock)


# --------------------------------------------------------------------- cache

class _Bucket:
    def __init__(self, size: int):
        self.size = size
        self.entries: OrderedDict = OrderedDict()   # key -> (expires, value)


_buckets: dict = {}
_FOREVER = float("inf")         # the TTL of an entry that never expires
_cache_lock = threading.Lock()


def _key_of(value):
    """A hashable, type-exact key for an HSL value."""
    t = type(value)
    if t is V.HArray:
        return ("a", tuple((k, _key_of(v)) for k, v in value.items()))
    if t in (float, bytes, bool) or value is None:
        return (t.__name__, value)
    return ("id", id(value))


def _opt(options, name: str, default):
    if type(options) is not V.HArray:
        raise ScriptError("cache options must be an array (type error)")
    value = options.get(name.encode())
    return default if value is None else value


def cache_call(options, fn_key: str, fn, args):
    namespace = _opt(options, "namespace", b"")
    ttl = V.to_number(_opt(options, "ttl", 60.0))
    size = int(V.to_number(_opt(options, "size", 32.0)))
    force = bool(_opt(options, "force", False))
    lru = bool(_opt(options, "lru", True))
    argv_filter = _opt(options, "argv_filter", None)
    selected = args
    if argv_filter is not None:
        positions = [int(V.to_number(p)) for p in argv_filter.values()]
        selected = tuple(args[p - 1] for p in positions if 1 <= p <= len(args))
    key = tuple(_key_of(a) for a in selected)
    bucket_key = (namespace, fn_key)
    now = time.monotonic()
    with _cache_lock:
        bucket = _buckets.get(bucket_key)
        if bucket is None:
            bucket = _buckets[bucket_key] = _Bucket(size)
        bucket.size = min(bucket.size, size)
        hit = bucket.entries.get(key)
        old = None
        if hit is not None:
            expires, old = hit
            if expires >= now and not force:
                bucket.entries.move_to_end(key)
                return V.share(old)
    value = fn(*args)
    update = _opt(options, "update_function", None)
    if update is not None and old is not None:
        value = update(old, value)
    ttl_override = _opt(options, "ttl_override", None)
    if ttl_override is not None and type(ttl_override) is V.HArray:
        try:
            over = ttl_override.get(value)
        except ScriptError:
            over = None
        if over is not None:
            ttl = V.to_number(over)
    ttl_function = _opt(options, "ttl_function", None)
    if ttl_function is not None:
        got = ttl_function(value)
        # UNSPECIFIED: none is "no expiry" (the bounce-classifier extra's default TTL for
        # good lookups is none, documented as "no TTL expiration"), not 0 ("do not store")
        ttl = _FOREVER if got is None else V.to_number(got)
    if ttl > 0:
        with _cache_lock:
            entries = bucket.entries
            if key not in entries and len(entries) >= bucket.size:
                if not lru:
                    return value
                while len(entries) >= bucket.size and entries:
                    entries.popitem(last=False)
            entries[key] = entry = (now + ttl, V.share(value))
            entries.move_to_end(key)
        _forget_if_taken_back(entries, key, entry)
    return value


def _forget_if_taken_back(entries, key, entry) -> None:
    """A speculative run that is preempted is run again: the function it cached may have
    had effects that were taken back, so its entry must go too (else the second run would
    find it and skip them)."""
    if speculative():
        def undo():
            with _cache_lock:
                if entries.get(key) is entry:
                    del entries[key]
        on_rollback(undo)


def held_values() -> list:
    """Everything the memory store and the cache hold (for hsl.runtime.memory: the values every
    run can reach), as a snapshot taken under their locks."""
    with MEMORY_LOCK:
        held = [list(MEMORY.items())]
    with _cache_lock:
        for bucket in _buckets.values():
            held.append(list(bucket.entries.items()))
    return held


def reset() -> None:
    """Forget everything the memory store, the barrier variables and the cache hold, as a
    new server process starts (`hsl test` gives every case a fresh state this way)."""
    with MEMORY_LOCK:
        MEMORY.clear()
    with _cache_lock:
        _buckets.clear()
