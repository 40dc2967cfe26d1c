"""Shared memory, metrics, server concurrency and the unavailable queue functions."""
import threading

import pytest

from hsl.builtins import FUNCTIONS, load_all
from hsl.builtins import server
from hsl.errors import ScriptError
from hsl.runtime.values import HArray, HFunction

load_all()


def F(name, *args):
    return FUNCTIONS[name].fn(*args)


def fn(py, n):
    return HFunction("cb", py, n, n)


@pytest.fixture(autouse=True)
def clean(fresh_store):
    yield


def test_memory_add_store_fetch():
    assert F("memory_fetch", b"k") is None
    assert F("memory_add", b"k", 1.0) is True
    assert F("memory_add", b"k", 2.0) is False
    assert F("memory_fetch", b"k") == 1.0
    assert F("memory_store", b"k", b"x") is True
    assert F("memory_store", b"new", b"y") is False
    assert F("memory_fetch", b"k") == b"x"
    assert F("memory_exists", b"k") is True
    assert F("memory_exists", b"nope") is False
    assert F("memory_delete", b"k") is True
    assert F("memory_delete", b"k") is False
    assert F("memory_exists", b"k") is False


def test_memory_callbacks():
    seen = []
    F("memory_store", b"k", 1.0)
    assert F("memory_store", b"k", 2.0, fn(lambda k, v: seen.append((k, v)), 2)) is True
    assert seen == [(b"k", 1.0)]
    assert F("memory_exists", b"k", fn(lambda k, v: seen.append(("e", v)), 2)) is True
    assert seen[-1] == ("e", 2.0)
    assert F("memory_delete", b"k", fn(lambda k, v: seen.append(("d", v)), 2)) is True
    assert seen[-1] == ("d", 2.0)
    # fetch with a callback for a missing key; the callback may store (re-entrant lock)
    def make(k):
        F("memory_store", k, b"made")
        return b"made"
    assert F("memory_fetch", b"lazy", fn(make, 1)) == b"made"
    assert F("memory_fetch", b"lazy") == b"made"
    with pytest.raises(ScriptError, match="type"):
        F("memory_fetch", b"k", b"notafunction")


def test_memory_inc_dec():
    assert F("memory_inc", b"n") == 1.0
    assert F("memory_inc", b"n", 5.0) == 6.0
    assert F("memory_dec", b"n") == 5.0
    assert F("memory_dec", b"n", 5.0, True) == 0.0
    assert F("memory_exists", b"n") is False            # removed at zero
    assert F("memory_dec", b"m") == -1.0                  # created as 0 first
    assert F("memory_dec", b"m", -1.0) == 0.0
    assert F("memory_exists", b"m") is True               # not removed without the flag
    F("memory_store", b"s", b"text")
    assert F("memory_inc", b"s") is None
    assert F("memory_dec", b"s") is None
    with pytest.raises(ScriptError, match="type"):
        F("memory_inc", b"n", b"1")
    with pytest.raises(ScriptError, match="type"):
        F("memory_inc", 1.0)


def test_memory_update():
    add = fn(lambda k, cur, v: cur + v, 3)
    assert F("memory_update", b"u", 1.0, add) is False    # absent, no initial
    assert F("memory_exists", b"u") is False
    assert F("memory_update", b"u", 1.0, add, 10.0) is True
    assert F("memory_fetch", b"u") == 11.0
    assert F("memory_update", b"u", 1.0, add, 10.0) is True
    assert F("memory_fetch", b"u") == 12.0
    # initial may be none explicitly
    assert F("memory_update", b"v", 1.0, fn(lambda k, c, v: c is None, 3), None) is True
    assert F("memory_fetch", b"v") is True
    with pytest.raises(ScriptError, match="type"):
        F("memory_update", b"u", 1.0, None)


def test_memory_arrays_are_copied():
    a = HArray.from_list([1.0, 2.0])
    F("memory_store", b"a", a)
    a.append(3.0)
    got = F("memory_fetch", b"a")
    assert list(got.values()) == [1.0, 2.0]
    got.append(9.0)
    assert list(F("memory_fetch", b"a").values()) == [1.0, 2.0]


def test_memory_threads():
    def work():
        for _ in range(500):
            F("memory_inc", b"t")
    ts = [threading.Thread(target=work) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert F("memory_fetch", b"t") == 4000.0


def labels(**kw):
    return HArray.from_pairs([(k.encode(), v) for k, v in kw.items()])


def test_metrics():
    assert F("metrics_increment", b"undefined", HArray()) is None
    assert F("metrics_get", b"undefined", HArray()) is None
    server.define_metric("mails", "counter")
    server.define_metric("queue", "gauge")
    assert F("metrics_increment", b"mails", labels(dir=b"in")) is True
    assert F("metrics_increment", b"mails", labels(dir=b"in"), 2.0) is True
    assert F("metrics_get", b"mails", labels(dir=b"in")).get(b"value") == 3.0
    assert F("metrics_get", b"mails", labels(dir=b"out")).get(b"value") == 0.0
    assert F("metrics_decrement", b"mails", labels(dir=b"in")) is None   # counters only rise
    assert F("metrics_increment", b"mails", labels(dir=b"in"), -1.0) is None
    assert F("metrics_set", b"queue", HArray(), 10.0) is True
    assert F("metrics_decrement", b"queue", HArray(), 3.0) is True
    assert F("metrics_get", b"queue", HArray()).get(b"value") == 7.0
    snap = server.metrics_snapshot()
    assert snap["mails"]["type"] == "counter"
    assert snap["mails"]["values"][(("dir", "in"),)] == 3.0
    assert snap["queue"]["values"][()] == 7.0
    # label order does not matter
    F("metrics_increment", b"mails", HArray.from_pairs([(b"a", b"1"), (b"b", b"2")]))
    F("metrics_increment", b"mails", HArray.from_pairs([(b"b", b"2"), (b"a", b"1")]))
    assert server.metrics_snapshot()["mails"]["values"][(("a", "1"), ("b", "2"))] == 2.0
    with pytest.raises(ScriptError, match="type"):
        F("metrics_increment", b"mails", b"labels")
    with pytest.raises(ScriptError, match="type"):
        F("metrics_set", b"queue", HArray(), b"1")


def test_metrics_histogram():
    server.define_metric("latency", "histogram", buckets=[0.1, 1.0])
    for v in (0.05, 0.5, 5.0):
        assert F("metrics_set", b"latency", HArray(), v) is True
    assert F("metrics_increment", b"latency", HArray()) is None
    got = F("metrics_get", b"latency", HArray())
    assert got.get(b"count") == 3.0
    assert got.get(b"sum") == pytest.approx(5.55)
    assert list(got.get(b"buckets").items()) == [(b"0.1", 1.0), (1.0, 2.0)]


def test_server_concurrency():
    assert F("server_concurrency", b"inbound") is None
    server.define_server("inbound")
    assert F("server_concurrency", b"inbound") == 0.0
    server.connection_open("inbound", "192.0.2.1")
    server.connection_open("inbound", "192.0.2.1")
    server.connection_open("inbound", "198.51.100.7")
    assert F("server_concurrency", b"inbound") == 3.0
    assert F("server_concurrency", b"inbound", b"192.0.2.1") == 2.0
    assert F("server_concurrency", b"inbound", b"198.51.100.0/24") == 1.0
    server.connection_close("inbound", "192.0.2.1")
    assert F("server_concurrency", b"inbound", b"192.0.2.0/24") == 1.0
    with pytest.raises(ScriptError, match="type"):
        F("server_concurrency", 1.0)


@pytest.mark.parametrize("name,lo,hi", [
    ("queue_suspend", 2, 3), ("queue_policy", 4, 5), ("queue_policy_delete", 1, 1),
    ("queue_quota", 1, 1)])
def test_queue_builtins_arity(name, lo, hi):
    # (their behaviour: tests/test_queue_policy.py)
    b = FUNCTIONS[name]
    assert (b.min_args, b.max_args) == (lo, hi)
