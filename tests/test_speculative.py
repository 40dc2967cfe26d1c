"""Speculative runs (runtime.SpeculativeExecution): what `hsl serve` tries on its event
loop before handing a run to a worker.  A speculative run either finishes exactly as a
normal run would, or raises Preempted, whose rollback() takes back every in-process
effect, so that running it again elsewhere is like running it once."""
import threading
import time

import pytest

import hsl
from hsl.builtins import load_all
from hsl.builtins import server
from hsl.runtime.execution import Preempted
from hsl.runtime.store import MEMORY, MEMORY_LOCK
from hsl.runtime.values import HArray, HFunction

load_all()

SLICE = 0.005


@pytest.fixture(autouse=True)
def clean(fresh_store):
    yield


def speculate(source, **kw):
    """Run `source` speculatively: its echo lines, or the Preempted it raised (rolled
    back, as hsl serve does before running the script again)."""
    out = []
    program = hsl.compile(source)
    try:
        program.run(output=out.append, max_time=kw.pop("max_time", SLICE),
                    speculative=True, **kw)
    except Preempted as p:
        p.rollback()
        return p
    return out


def memory():
    with MEMORY_LOCK:
        return {k: v for k, v in MEMORY.items() if type(k) is bytes}


def test_a_quick_run_finishes_as_a_normal_run_would():
    source = 'memory_inc("n"); $a = [1, 2, 3]; echo length($a) . " " . memory_fetch("n");'
    assert speculate(source) == ["3 1"]
    assert memory() == {b"n": 1.0}


def test_a_run_past_its_slice_is_preempted_and_its_writes_are_taken_back():
    MEMORY[b"kept"] = b"before"
    source = '''
        memory_inc("count");
        memory_inc("count", 5);
        memory_store("kept", "changed");
        memory_store("new", [1, 2]);
        memory_add("added", 1);
        while (true) { }
    '''
    started = time.monotonic()
    got = speculate(source)
    assert isinstance(got, Preempted) and got.why == "time slice used up"
    assert time.monotonic() - started < 1.0
    assert memory() == {b"kept": b"before"}


def test_deletes_and_updates_are_taken_back():
    MEMORY[b"gone"] = b"x"
    MEMORY[b"upd"] = 1.0
    MEMORY[b"zero"] = 1.0
    source = '''
        memory_delete("gone");
        memory_update("upd", 10, function ($k, $cur, $v) { return $cur + $v; });
        memory_dec("zero", 1, true);
        while (true) { }
    '''
    assert isinstance(speculate(source), Preempted)
    assert memory() == {b"gone": b"x", b"upd": 1.0, b"zero": 1.0}


def test_a_number_changed_by_another_thread_meanwhile_loses_only_our_increment():
    def bump_from_elsewhere():
        with MEMORY_LOCK:
            MEMORY[b"n"] = MEMORY[b"n"] + 100.0

    program = hsl.compile('memory_inc("n", 2); $bump(); while (true) { }')
    with pytest.raises(Preempted) as e:
        program.run(variables={"bump": HFunction("bump", bump_from_elsewhere, 0, 0)},
                    max_time=SLICE, speculative=True, output=lambda s: None)
    e.value.rollback()
    assert memory() == {b"n": 100.0}


def test_metric_writes_are_taken_back():
    server.define_metric("hits", "counter")
    server.define_metric("level", "gauge")
    server.define_metric("size", "histogram", buckets=[1, 10])
    source = '''
        metrics_increment("hits", ["a" => "x"]);
        metrics_increment("hits", ["a" => "x"], 4);
        metrics_set("level", [], 7);
        metrics_decrement("level", [], 2);
        metrics_set("size", [], 5);
        while (true) { }
    '''
    assert isinstance(speculate(source), Preempted)
    snap = server.metrics_snapshot()
    assert snap["hits"]["values"] == {}
    assert snap["level"]["values"] == {}
    hist = snap["size"]["values"][()]
    assert (hist["count"], hist["sum"], hist["buckets"]) == (0, 0.0, {1.0: 0, 10.0: 0})


def test_a_gauge_set_by_someone_else_meanwhile_keeps_their_value():
    server.define_metric("level", "gauge")

    def set_elsewhere():          # another thread: not part of the speculative run
        t = threading.Thread(target=server.metrics_set, args=(b"level", HArray(), 42.0))
        t.start()
        t.join()

    program = hsl.compile('metrics_set("level", [], 7); $other(); while (true) { }')
    with pytest.raises(Preempted) as e:
        program.run(variables={"other": HFunction("other", set_elsewhere, 0, 0)},
                    max_time=SLICE, speculative=True, output=lambda s: None)
    e.value.rollback()
    assert server.metrics_snapshot()["level"]["values"] == {(): 42.0}


@pytest.mark.parametrize("source, why", [
    ('memory_inc("n"); sleep(0.5);', "sleep"),
    ('memory_inc("n"); syslog("info", "hello");', "syslog"),
    ('memory_inc("n"); File::read("/etc/hostname");', "reading a file"),
    ('memory_inc("n"); barrier "b" { $x = 1; }', "barrier"),
    ('memory_inc("n"); echo domain_publicsuffix("example.co.uk");',
     "loading the public suffix list"),
])
def test_blocking_or_outside_work_preempts_before_it_happens(source, why, capsys,
                                                            monkeypatch):
    from hsl.builtins import network
    monkeypatch.setattr(network, "_psl", None)     # as if not loaded yet
    started = time.monotonic()
    got = speculate(source)
    assert isinstance(got, Preempted) and got.why == why
    assert time.monotonic() - started < 0.3          # the sleep did not happen
    assert memory() == {}
    assert capsys.readouterr().err == ""            # nothing was logged


def test_deep_recursion_is_preempted_not_reported():
    source = 'function f($n) { return $n ? f($n - 1) + 1 : 0; } echo f(500);'
    got = speculate(source)
    assert isinstance(got, Preempted) and got.why == "call depth"
    out = []
    hsl.compile(source).run(output=out.append, max_time=5)
    assert out == ["500"]


@pytest.mark.parametrize("source", [
    'memory_inc("n"); $s = str_repeat("ab", 2000000);',
    'memory_inc("n"); $s = "x" * 3000000;',
    'memory_inc("n"); $s = "0123456789abcdef"; for ($i = 0; $i < 18; $i++) $s .= $s;',
    'memory_inc("n"); $s = "0123456789abcdef"; for ($i = 0; $i < 18; $i++) $s = $s . $s;',
    'memory_inc("n"); $a = [1, 2] * 1000000;',
])
def test_building_a_large_value_is_left_to_a_worker(source):
    got = speculate(source, max_time=5)      # the slice is not what stops these
    assert isinstance(got, Preempted) and "building a value" in got.why
    assert memory() == {}


def test_large_values_are_fine_in_normal_runs():
    out = []
    hsl.compile('$s = "0123456789abcdef"; for ($i = 0; $i < 18; $i++) $s .= $s; '
                'echo length($s); echo length(str_repeat("ab", 2000000));').run(
        output=out.append)
    assert out == [str(16 << 18), "4000000"]


def test_catastrophic_regex_is_preempted_at_the_slice():
    source = 'memory_inc("n"); echo pcre_match(#/(a|aa)+$/, str_repeat("a", 40) . "b");'
    started = time.monotonic()
    got = speculate(source)
    assert isinstance(got, Preempted) and got.why == "time slice used up"
    assert time.monotonic() - started < 0.5
    assert memory() == {}


def test_catastrophic_regex_stops_at_pcres_match_limit_in_a_normal_run():
    # as PCRE does, before the run's time limit
    program = hsl.compile('echo (str_repeat("a", 40) . "b") =~ #/(a|aa)+$/;')
    started = time.monotonic()
    with pytest.raises(hsl.HSLRuntimeError, match="match limit exceeded"):
        program.run(output=lambda s: None, max_time=5)
    assert time.monotonic() - started < 0.5


def test_catastrophic_regex_stops_at_a_normal_runs_time_limit():
    program = hsl.compile('forever { echo (str_repeat("a", 20) . "b") =~ #/(a|aa)+$/; }')
    started = time.monotonic()
    with pytest.raises(hsl.HSLRuntimeError, match="execution time limit exceeded"):
        program.run(output=lambda s: None, max_time=0.2)
    assert time.monotonic() - started < 1.5


def test_a_busy_memory_store_preempts_instead_of_waiting():
    held, release = threading.Event(), threading.Event()

    def hold():
        with MEMORY_LOCK:
            held.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    try:
        got = speculate('echo memory_fetch("x");')
        assert isinstance(got, Preempted) and got.why == "memory store busy"
    finally:
        release.set()
        t.join()


def test_errors_and_decisions_of_a_speculative_run_are_its_own():
    with pytest.raises(hsl.HSLRuntimeError, match="division by zero|undefined"):
        hsl.compile('echo 1 % 0; echo $nope;').run(output=lambda s: None, max_time=SLICE,
                                                   speculative=True)


def test_normal_runs_do_not_record_undo_and_still_sleep():
    out = []
    started = time.monotonic()
    hsl.compile('memory_inc("n"); sleep(0.05); echo memory_fetch("n");').run(
        output=out.append)
    assert out == ["1"] and time.monotonic() - started >= 0.05


def test_a_cached_result_of_a_preempted_run_is_forgotten_with_its_effects():
    program = hsl.compile(
        'function counted($x) { return memory_inc("calls"); }\n'
        '$n = cache ["ttl" => 60] counted(1);\n'
        'if ($slow) while (true) { }\n'
        'echo $n;\n')
    with pytest.raises(Preempted) as e:
        program.run(variables={"slow": True}, output=lambda s: None, max_time=SLICE,
                    speculative=True)
    e.value.rollback()
    assert memory() == {}
    out = []
    program.run(variables={"slow": False}, output=out.append)
    assert out == ["1"]              # computed (and counted) again, not found in the cache
    assert memory() == {b"calls": 1.0}


def test_rollback_is_the_callers_once_and_from_any_thread():
    program = hsl.compile('memory_inc("n"); memory_store("s", "x"); while (true) { }')
    with pytest.raises(Preempted) as e:
        program.run(output=lambda s: None, max_time=SLICE, speculative=True)
    assert memory() == {b"n": 1.0, b"s": b"x"}        # until the caller takes them back
    threads = [threading.Thread(target=e.value.rollback) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    e.value.rollback()
    assert memory() == {}


def test_a_normal_runs_preempted_has_nothing_to_roll_back():
    assert Preempted("x").rollback() is None


# Objects that outlive a run ($context in hsl serve, objects in the memory store) are
# written in place: a preempted try's writes to them are taken back like its other
# effects, so a write happens once whatever runs where (issue 11, item 7).
COUNTER = '''
    class Counter { constructor() { $this->n = 0; $this->seen = []; } }
    if (!$state) { $state = Counter(); $state->m = Map("string", "number"); $state->s = Set("string"); }
    $state->n += 1;
    $state->seen[] = $state->n;
    $state->m->set("k", $state->n);
    $state->s->add("v" . $state->n);
    $state->nested["deep"][] = 1;
    if ($preempt) sleep(0.001);   // blocking: a speculative try stops here
'''


def test_object_writes_of_a_preempted_try_happen_once():
    program = hsl.compile(COUNTER, predefined={"state", "preempt"})
    state = None
    for i in range(6):
        preempt = i % 2 == 1
        variables = {"state": state, "preempt": preempt}
        try:
            result = program.run(variables=variables, max_time=SLICE, speculative=True,
                                 keep_globals=True)
        except Preempted as p:
            p.rollback()
            result = program.run(variables=variables, keep_globals=True)
        state = result.globals["state"]
    props = state.props
    assert props["n"] == 6.0
    assert props["seen"].values() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert props["m"].d == {b"k": 6.0}
    assert sorted(props["s"].d) == [b"v%d" % i for i in range(1, 7)]
    assert len(props["nested"].get(b"deep")) == 6


def test_a_rollback_puts_an_objects_properties_back():
    program = hsl.compile('$o->a = 1; $o->a = 2; $o->b = 3; sleep(0.001);',
                          predefined={"o"})
    obj = hsl.compile('class K { constructor() { $this->a = 0; } } $o = K();').run(
        keep_globals=True).globals["o"]
    try:
        program.run(variables={"o": obj}, max_time=SLICE, speculative=True)
    except Preempted as p:
        p.rollback()
    else:
        raise AssertionError("the try should have been preempted")
    assert obj.props == {"a": 0.0}
