"""Shared memory, server state, queue and metrics (builtins.md, same section).

* `memory_*`: one process-wide store shared by every execution and thread
  (hsl.runtime.store.MEMORY, guarded by hsl.runtime.store.MEMORY_LOCK, a re-entrant
  lock, so callbacks run under the lock and may call memory_* themselves).  Keys are strings; values are
  stored and returned with copy-on-write sharing, so later changes to a script's array do
  not reach the store.  Barrier variables live in the same dict under their own
  ("barrier", name) keys and do not collide with memory_* keys.
* `metrics_*`: an in-process registry.  As in the server, a metric must be defined before
  use (from Python: `define_metric(name, "counter" | "gauge" | "histogram")`); using an
  undefined metric returns none.  `metrics_snapshot()` reads every value from Python,
  `metrics_reset()` forgets everything.
  Labels are an array of label name => value (values converted to strings); the order of
  the labels does not matter.  Counters only increase: decrementing a counter, or
  incrementing it by a negative value, returns none.  `metrics_set` on a histogram observes
  the value.  `metrics_get` returns `["value" => number]` for counters and gauges and
  `["count" => n, "sum" => total, "buckets" => [upper bound => cumulative count]]` for
  histograms.
* `server_concurrency`: connection counts reported by the embedding application through
  `connection_open(serverid, ip)` / `connection_close(serverid, ip)`; a server id never
  reported (or declared with `define_server`) is unknown and gives none.
* `queue_*`: suspensions, delivery policies and quotas over the queue-policy table
  (hsl/queue/policy.py): the table of the `hsl queue run` whose pre- or postdelivery
  hook is running, else the process's (which `hsl serve --queue`'s runner uses; in
  `hsl run` it lives in memory for the run and every quota is 0).  A speculative run
  that would change the table is preempted (it runs again for real).

A speculative run (hsl serve tries a script on its event loop first, see
runtime.SpeculativeExecution) registers how to take back each write it makes here; when
it is preempted its writes are taken back (unless another thread has replaced the value
since, or, for numbers, by subtracting what it added) before it is run again on a worker.
Another thread may see such a write in the meantime: the run later happens, for real,
a moment after.  A speculative run never waits for the store's lock (a callback on
another thread may hold it for long): it moves to a worker instead.
"""
from __future__ import annotations

import threading

from ..runtime import execution as _execution
from ..runtime.store import MEMORY, MEMORY_LOCK
from ..queue import policy as _policy
from ..runtime.values import (HArray, HFunction, format_number, from_python, numeric, share,
                              to_str)
from . import _args
from ._args import type_error
from ._limits import MANY, reserve_elements
from .registry import builtin

AREA = "server"
_MISSING = object()


def _key(fname, key):
    if type(key) is not bytes:
        raise type_error(fname, 1, "a string", key)
    return key


def _callback(fname, pos, cb):
    if cb is not None and type(cb) is not HFunction:
        raise type_error(fname, pos, "a function", cb)
    return cb


# ------------------------------------------------------------------- memory

class _Store:
    """`with _STORE:` holds the memory store's lock, without waiting in a speculative run."""

    def __enter__(self):
        if not MEMORY_LOCK.acquire(blocking=False):
            if _execution.speculative():
                raise _execution.Preempted("memory store busy")
            MEMORY_LOCK.acquire()

    def __exit__(self, *exc):
        MEMORY_LOCK.release()


_STORE = _Store()


def _wrote(key, before, after, delta=None) -> None:
    """Register the undo of a memory store write (see _undoable)."""
    _undoable(MEMORY, MEMORY_LOCK, key, before, after, delta)


def _undoable(store: dict, lock, key, before, after, delta=None) -> None:
    """In a speculative run, register the undo of a write to `store` that replaced
    `before` with `after` (either may be _MISSING): restore `before` if the value is
    still the object we wrote; if another thread has changed a number since, subtract our
    `delta` instead."""
    if not _execution.speculative():
        return

    def undo():
        with lock:
            now = store.get(key, _MISSING)
            if now is after:
                if before is _MISSING:
                    store.pop(key, None)
                else:
                    store[key] = before
            elif delta is not None and type(now) is float:
                store[key] = now - delta
    _execution.on_rollback(undo)

@builtin(area=AREA)
def memory_add(key, value):
    """Store `value` under `key` only if the key is absent; returns whether it was added."""
    _key("memory_add", key)
    with _STORE:
        if key in MEMORY:
            return False
        MEMORY[key] = stored = share(value)
        _wrote(key, _MISSING, stored)
        return True


def _add_number(fname, key, offset, remove_if_zero):
    _key(fname, key)
    if type(offset) is not float:
        raise type_error(fname, 2, "a number", offset)
    with _STORE:
        before = MEMORY.get(key, _MISSING)
        current = 0.0 if before is _MISSING else before
        if type(current) is not float:
            return None
        new = current + offset
        if remove_if_zero and new == 0.0:
            MEMORY.pop(key, None)
            _wrote(key, before, _MISSING, offset)
        else:
            MEMORY[key] = new
            _wrote(key, before, new, offset)
        return new


@builtin(area=AREA)
def memory_inc(key, offset=1.0):
    """Atomically add `offset` (default 1) to the number at `key` (created as 0);
    returns the new value, or none if the stored value is not a number."""
    return _add_number("memory_inc", key, offset, False)


@builtin(area=AREA)
def memory_dec(key, offset=1.0, remove_if_zero=False):
    """Atomically subtract `offset` (default 1); with `remove_if_zero` the key is deleted
    when it reaches 0.  Returns the new value or none."""
    if type(offset) is not float:
        raise type_error("memory_dec", 2, "a number", offset)
    if type(remove_if_zero) is not bool:
        raise type_error("memory_dec", 3, "a boolean", remove_if_zero)
    return _add_number("memory_dec", key, -offset, remove_if_zero)


@builtin(area=AREA)
def memory_delete(key, callback=None):
    """Delete `key`; returns whether it existed (then calls callback(key, value))."""
    _key("memory_delete", key)
    _callback("memory_delete", 2, callback)
    with _STORE:
        if key not in MEMORY:
            return False
        value = MEMORY.pop(key)
        _wrote(key, value, _MISSING)
        if callback is not None:
            callback(key, value)
        return True


@builtin(area=AREA)
def memory_exists(key, callback=None):
    """Whether `key` exists; if so calls callback(key, value) under the store's lock."""
    _key("memory_exists", key)
    _callback("memory_exists", 2, callback)
    with _STORE:
        if key not in MEMORY:
            return False
        if callback is not None:
            callback(key, share(MEMORY[key]))
        return True


@builtin(area=AREA)
def memory_fetch(key, callback=None):
    """The value at `key`; if absent none, or callback(key)'s result."""
    _key("memory_fetch", key)
    _callback("memory_fetch", 2, callback)
    with _STORE:
        if key in MEMORY:
            return share(MEMORY[key])
        if callback is None:
            return None
        return callback(key)


@builtin(area=AREA)
def memory_store(key, value, callback=None):
    """Create or overwrite `key`; returns whether it existed (then calls
    callback(key, oldvalue))."""
    _key("memory_store", key)
    _callback("memory_store", 3, callback)
    with _STORE:
        existed = key in MEMORY
        old = MEMORY.get(key)
        MEMORY[key] = stored = share(value)
        _wrote(key, old if existed else _MISSING, stored)
        if existed and callback is not None:
            callback(key, old)
        return existed


@builtin(area=AREA)
def memory_update(key, value, callback, initial=_MISSING):
    """Atomically replace the value at `key` with callback(key, current, value); an absent
    key uses `initial` as current, or nothing happens without it.  Returns whether an
    update happened."""
    _key("memory_update", key)
    if type(callback) is not HFunction:
        raise type_error("memory_update", 3, "a function", callback)
    with _STORE:
        before = MEMORY.get(key, _MISSING)
        if before is not _MISSING:
            current = share(before)
        elif initial is not _MISSING:
            current = initial
        else:
            return False
        MEMORY[key] = stored = share(callback(key, current, value))
        _wrote(key, before, stored)
        return True


# ------------------------------------------------------------------ metrics

_metrics_lock = threading.Lock()
_metrics: dict = {}          # name (str) -> _Metric
_DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Metric:
    __slots__ = ("kind", "values", "buckets")

    def __init__(self, kind, buckets):
        self.kind = kind
        self.values = {}         # label tuple -> float, or [count, sum, [bucket counts]]
        self.buckets = buckets


def define_metric(name: str, kind: str = "counter", buckets=None) -> None:
    """Declare a metric (what the server's configuration does): kind is "counter", "gauge"
    or "histogram" (`buckets`: upper bounds, default Prometheus' defaults)."""
    if kind not in ("counter", "gauge", "histogram"):
        raise ValueError(f"unknown metric kind {kind!r}")
    with _metrics_lock:
        _metrics[name] = _Metric(kind, tuple(sorted(buckets or _DEFAULT_BUCKETS)))


def metrics_reset() -> None:
    """Forget every metric definition and value."""
    with _metrics_lock:
        _metrics.clear()


def metrics_zero() -> None:
    """Forget every metric's values; the definitions stay (a fresh server process has
    the same metrics, all unset)."""
    with _metrics_lock:
        for m in _metrics.values():
            m.values = {}


def metrics_snapshot() -> dict:
    """Every metric as {name: {"type": kind, "values": {labels: value}}}; labels are
    tuples of (name, value) str pairs, sorted; histogram values are dicts with count, sum
    and cumulative buckets."""
    out = {}
    with _metrics_lock:
        for name, m in _metrics.items():
            vals = {}
            for labels, v in m.values.items():
                if m.kind == "histogram":
                    vals[labels] = {"count": v[0], "sum": v[1],
                                    "buckets": dict(zip(m.buckets, _cumulative(v[2])))}
                else:
                    vals[labels] = v
            out[name] = {"type": m.kind, "values": vals}
    return out


def _cumulative(counts):
    total, out = 0, []
    for c in counts:
        total += c
        out.append(total)
    return out


def _metric(fname, name, labels):
    if type(name) is not bytes:
        raise type_error(fname, 1, "a string", name)
    if type(labels) is not HArray:
        raise type_error(fname, 2, "an array", labels)
    if len(labels.d) >= MANY:
        reserve_elements(2 * len(labels.d))     # the labels as text (kept by a write)
    key = tuple(sorted((to_str(k).decode("utf-8", "replace"),
                        to_str(v).decode("utf-8", "replace")) for k, v in labels.items()))
    return _metrics.get(name.decode("utf-8", "replace")), key


def _value(fname, value):
    if type(value) is not float:
        raise type_error(fname, 3, "a number", value)
    return value


# Undo of a speculative run's metric writes (see the module's docstring).

def _metric_wrote(m, key, before, after, delta=None) -> None:
    _undoable(m.values, _metrics_lock, key, before, after, delta)


def _unobserve(h, value, bucket) -> None:
    with _metrics_lock:
        h[0] -= 1
        h[1] -= value
        if bucket is not None:
            h[2][bucket] -= 1


@builtin(area=AREA)
def metrics_increment(name, labels, value=1.0):
    """Increment a counter or gauge by `value` (default 1); true, or none if undefined."""
    value = _value("metrics_increment", value)
    with _metrics_lock:
        m, key = _metric("metrics_increment", name, labels)
        if m is None or m.kind == "histogram" or (m.kind == "counter" and value < 0):
            return None
        before = m.values.get(key, _MISSING)
        m.values[key] = after = (0.0 if before is _MISSING else before) + value
        _metric_wrote(m, key, before, after, value)
        return True


@builtin(area=AREA)
def metrics_decrement(name, labels, value=1.0):
    """Decrement a gauge by `value` (default 1); true, or none if undefined/not a gauge."""
    value = _value("metrics_decrement", value)
    with _metrics_lock:
        m, key = _metric("metrics_decrement", name, labels)
        if m is None or m.kind != "gauge":
            return None
        before = m.values.get(key, _MISSING)
        m.values[key] = after = (0.0 if before is _MISSING else before) - value
        _metric_wrote(m, key, before, after, -value)
        return True


@builtin(area=AREA)
def metrics_set(name, labels, value):
    """Set a gauge or counter, or observe a value for a histogram; true or none."""
    value = _value("metrics_set", value)
    with _metrics_lock:
        m, key = _metric("metrics_set", name, labels)
        if m is None:
            return None
        if m.kind == "histogram":
            h = m.values.get(key)
            if h is None:
                h = m.values[key] = [0, 0.0, [0] * len(m.buckets)]
            h[0] += 1
            h[1] += value
            bucket = None
            for i, bound in enumerate(m.buckets):
                if value <= bound:
                    h[2][i] += 1
                    bucket = i
                    break
            if _execution.speculative():
                _execution.on_rollback(lambda: _unobserve(h, value, bucket))
        else:
            before = m.values.get(key, _MISSING)
            m.values[key] = after = -(-value)  # noqa: B002 -- a new float object: ours (_undoable)
            _metric_wrote(m, key, before, after)
        return True


@builtin(area=AREA)
def metrics_get(name, labels):
    """The metric's value(s) for `labels`, none if the metric is undefined."""
    with _metrics_lock:
        m, key = _metric("metrics_get", name, labels)
        if m is None:
            return None
        if m.kind != "histogram":
            return HArray.from_pairs([(b"value", m.values.get(key, 0.0))])
        count, total, counts = m.values.get(key, (0, 0.0, [0] * len(m.buckets)))
        buckets = HArray.from_pairs([(_bound_key(b), float(c))
                                     for b, c in zip(m.buckets, _cumulative(counts))])
        return HArray.from_pairs([(b"count", float(count)), (b"sum", total),
                                  (b"buckets", buckets)])


def _bound_key(bound: float):
    return format_number(float(bound))


# --------------------------------------------------------------- concurrency

_servers_lock = threading.Lock()
_servers: dict = {}          # server id (bytes) -> {ip bytes: count}


def define_server(serverid) -> None:
    """Declare a server id (so server_concurrency() reports 0 instead of none)."""
    sid = serverid.encode() if isinstance(serverid, str) else serverid
    with _servers_lock:
        _servers.setdefault(sid, {})


def connection_open(serverid, ip) -> None:
    sid = serverid.encode() if isinstance(serverid, str) else serverid
    addr = ip.encode() if isinstance(ip, str) else ip
    with _servers_lock:
        conns = _servers.setdefault(sid, {})
        conns[addr] = conns.get(addr, 0) + 1


def connection_close(serverid, ip) -> None:
    sid = serverid.encode() if isinstance(serverid, str) else serverid
    addr = ip.encode() if isinstance(ip, str) else ip
    with _servers_lock:
        conns = _servers.get(sid)
        if conns and addr in conns:
            conns[addr] -= 1
            if conns[addr] <= 0:
                del conns[addr]


@builtin(area=AREA)
def server_concurrency(serverid, address=None):
    """Current connections to server `serverid` (optionally only from `address`, an IP or
    network); none if the server id is unknown."""
    if type(serverid) is not bytes:
        raise type_error("server_concurrency", 1, "a string", serverid)
    if address is not None and type(address) is not bytes:
        raise type_error("server_concurrency", 2, "a string", address)
    with _servers_lock:
        conns = _servers.get(serverid)
        if conns is None:
            return None
        items = list(conns.items())
    if address is None:
        return float(sum(c for _, c in items))
    # deferred: the network area only for a count by address
    from .network import inet_includes
    return float(sum(c for ip, c in items if inet_includes(ip, address)))


# -------------------------------------------------------------------- queue
# Over the queue-policy table (hsl/queue/policy.py): the one of the queue run whose hook
# is running, else the process's (hsl run: in memory, every quota 0).

def _table():
    ex = _execution.current()
    state = getattr(ex, "queue_entry", None) if ex is not None else None
    table = getattr(state, "policies", None)
    return table if table is not None else _policy.TABLE


def _changes(fname: str) -> None:
    # a speculative run must not change the queue's pickup: it runs again for real
    if _execution.speculative():
        raise _execution.Preempted(f"{fname}() changes the queue")


def _ttl(fname, pos, ttl):
    # A numeric string too: halon-extras/backoff passes a policy's property ("3600")
    ttl = numeric(ttl) if type(ttl) is bytes else _args.number(fname, pos, ttl)
    return ttl if ttl is not None and 0 < ttl != float("inf") else None


def _field_values(fname, pos, fields):
    """{field: value} of an array of field => string, or None (an unknown field, a
    value that is not a string)."""
    fields = _args.array(fname, pos, fields)
    out = {}
    for k, v in fields.items():
        name = k.decode("utf-8", "replace") if type(k) is bytes else None
        if name not in _policy.FIELDS or type(v) is not bytes:
            return None
        out[name] = v.decode("utf-8", "surrogateescape")
    return out


@builtin(area=AREA)
def queue_suspend(fields, ttl, options=None):
    """Stop the pickup of queued messages matching `fields` (transportid, localip,
    remoteip, remotemx, recipientdomain, jobid, grouping, tenantid => value) for `ttl`
    seconds; options tag, update (default true: refresh an existing one).  The
    suspension (with its id), or none on error."""
    opts = _args.opt_array("queue_suspend", 3, options)
    tag = _args.opt_str("queue_suspend", opts, b"tag")
    update = _args.opt_bool("queue_suspend", opts, b"update", True)
    wanted = _field_values("queue_suspend", 1, fields)
    ttl = _ttl("queue_suspend", 2, ttl)
    if not wanted or ttl is None:
        return None
    _changes("queue_suspend")
    return from_python(_table().suspend(
        wanted, ttl, tag=tag.decode("utf-8", "replace") if tag is not None else None,
        update=update))


@builtin(area=AREA)
def queue_policy(fields, condition, policy, ttl, options=None):
    """Limit the delivery of queued messages per counter `fields` (a list of field
    names), for those matching `condition` (field => value), with `policy`
    concurrency (attempts at once) and/or rate ([messages, seconds]), and tag, for `ttl`
    seconds; option update (default true).  The policy (with its id), or none on
    error."""
    fname = "queue_policy"
    opts = _args.opt_array(fname, 5, options)
    update = _args.opt_bool(fname, opts, b"update", True)
    names = [v.decode("utf-8", "replace") if type(v) is bytes else None
             for v in _args.array(fname, 1, fields).values()]
    wanted = _field_values(fname, 2, condition)
    policy = _args.array(fname, 3, policy)
    ttl = _ttl(fname, 4, ttl)
    if not names or any(n not in _policy.FIELDS for n in names) or wanted is None \
            or ttl is None:
        return None
    limits: dict = {}
    concurrency = policy.get(b"concurrency")
    if concurrency is not None:
        concurrency = numeric(concurrency)
        if concurrency is None or concurrency < 1 or not concurrency.is_integer():
            return None
        limits["concurrency"] = int(concurrency)
    rate = policy.get(b"rate")
    if rate is not None:
        pair = [numeric(x) for x in rate.values()] if type(rate) is HArray else []
        if len(pair) != 2 or not all(x is not None and 0 < x < float("inf")
                                     for x in pair):
            return None
        limits["rate"] = (int(pair[0]) if pair[0].is_integer() else pair[0], pair[1])
    if not limits:
        return None
    tag = policy.get(b"tag")
    if tag is not None:
        if type(tag) is not bytes:
            return None
        limits["tag"] = tag.decode("utf-8", "replace")
    _changes(fname)
    return from_python(_table().policy(names, wanted, limits, ttl, update=update))


@builtin(area=AREA)
def queue_policy_delete(id):
    """Remove the policy `id` (queue_policy()'s); whether it was there."""
    pid = _args.string("queue_policy_delete", 1, id)
    _changes("queue_policy_delete")
    return _table().delete_policy(pid.decode("utf-8", "replace"))


@builtin(area=AREA)
def queue_quota(name):
    """The usage of quota `name` (EOD's queue() option quotas): ["count" => queued
    messages, "bytes" => their total size]."""
    name = _args.string("queue_quota", 1, name)
    got = _table().quota(name.decode("utf-8", "surrogateescape"))
    return HArray.from_pairs([(b"count", float(got["count"])),
                              (b"bytes", float(got["bytes"]))])
