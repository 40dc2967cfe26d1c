"""Where `hsl serve` runs a script: first speculatively on the event loop, then, if that
run is preempted, again on a worker thread; and connections that are freed as soon as
they end.  In-process (Policy, App) so that the counters and objects can be inspected."""
import argparse
import asyncio
import gc
import io
import weakref

import pytest

from hsl.builtins import load_all
from hsl.hooks.helo import HeloSession
from hsl.serve import add_arguments
from hsl.serve.app import App
from hsl.serve.log import Logger
from hsl.serve.metrics import ServerMetrics, render
from hsl.serve.policy import InlineGate, Policy
from hsl.runtime.store import MEMORY, MEMORY_LOCK

load_all()


@pytest.fixture(autouse=True)
def clean(fresh_store):
    yield


def make_policy(tmp_path, source, **kw):
    path = tmp_path / "helo.hsl"
    path.write_text(source)
    log = io.StringIO()
    policy = Policy(str(path), Logger("text", log), ServerMetrics(), **kw)
    return policy, log


def run(policy, n=1, **session):
    async def go():
        return [await policy.run(HeloSession(**session)) for _ in range(n)]
    try:
        return asyncio.run(go())
    finally:
        policy.close()


def test_a_quick_script_is_answered_on_the_event_loop(tmp_path):
    policy, log = make_policy(tmp_path, 'echo "hi"; Accept(["reason" => "fine"]);')
    results = run(policy, 3)
    assert [r.reply[0] for r in results] == ["fine"] * 3
    assert policy.metrics.script_runs == {"loop": 3, "worker": 0}
    assert policy.metrics.script_preempted == 0
    assert log.getvalue().count("text=hi") == 3


def test_a_slow_script_moves_to_a_worker_and_its_effects_happen_once(tmp_path):
    source = '''
        memory_inc("helos");
        echo "counted";
        $t = executiontime();
        while (executiontime() - $t < 0.02) { }
        Reject("slow but sure " . memory_fetch("helos"));
    '''
    policy, log = make_policy(tmp_path, source, inline_slice=0.002)
    results = run(policy, 2)
    assert [r.reply for r in results] == [["slow but sure 1"], ["slow but sure 2"]]
    assert [r.code for r in results] == [554, 554]
    assert policy.metrics.script_preempted == 2
    assert policy.metrics.script_runs == {"loop": 0, "worker": 2}
    assert MEMORY[b"helos"] == 2.0
    assert log.getvalue().count("text=counted") == 2      # not 4


def test_a_script_that_sleeps_is_not_run_on_the_loop_for_long(tmp_path):
    policy, _ = make_policy(tmp_path, 'sleep(0.01); Accept();', inline_slice=0.002)
    results = run(policy, 40)
    assert all(r.decision == "accept" and r.error is None for r in results)
    # every try is preempted at once; after a few, runs go straight to a worker, with a
    # try now and then
    assert policy.metrics.script_runs["worker"] == 40
    assert 3 <= policy.metrics.script_preempted <= 10


def test_inline_slice_zero_runs_everything_on_workers(tmp_path):
    policy, _ = make_policy(tmp_path, 'Accept();', inline_slice=0)
    run(policy, 3)
    assert policy.metrics.script_runs == {"loop": 0, "worker": 3}


def test_a_script_error_in_a_speculative_run_is_the_answer(tmp_path):
    policy, log = make_policy(tmp_path, 'memory_inc("n");\nthrow Exception("boom");\nAccept();')
    [result] = run(policy)
    assert (result.code, result.enhanced) == (451, [4, 3, 0])
    assert policy.metrics.script_runs == {"loop": 1, "worker": 0}
    assert MEMORY[b"n"] == 1.0
    assert "helo.hsl:2:" in log.getvalue() and "boom" in log.getvalue()


def test_context_changes_of_a_preempted_run_are_not_kept(tmp_path):
    source = '''
        $context["n"] = ($context["n"] ?? 0) + 1;
        $t = executiontime();
        while (executiontime() - $t < 0.01) { }
        Accept(["reason" => "n=" . $context["n"]]);
    '''
    policy, _ = make_policy(tmp_path, source, inline_slice=0.002)

    async def go():
        session = HeloSession()
        first = await policy.run(session)
        session.context = first.context
        second = await policy.run(session)
        return first, second
    try:
        first, second = asyncio.run(go())
    finally:
        policy.close()
    assert (first.reply[0], second.reply[0]) == ("n=1", "n=2")


def test_metrics_show_where_runs_finished(tmp_path):
    policy, _ = make_policy(tmp_path, 'Accept();')
    run(policy, 2)
    text = render(policy.metrics)
    assert 'hsl_script_runs_total{thread="loop"} 2' in text
    assert 'hsl_script_runs_total{thread="worker"} 0' in text
    assert "hsl_script_preempted_total 0" in text


def test_inline_gate_stops_trying_and_probes_now_and_then():
    gate = InlineGate()
    assert gate.should_try()
    for _ in range(5):
        gate.record(True)
    tries = sum(gate.should_try() for _ in range(InlineGate.PROBE_EVERY * 3))
    assert tries == 3
    for _ in range(10):
        gate.record(False)
    assert gate.should_try()
    gate.overran()
    assert not gate.should_try()


def test_reload_gives_a_new_script_a_fresh_gate(tmp_path):
    policy, _ = make_policy(tmp_path, 'sleep(0.001); Accept();')
    run(policy, 10)
    assert not policy.hooks.program("helo").gate.should_try()
    (tmp_path / "helo.hsl").write_text("Accept();")
    asyncio.run(policy.reload("test"))
    assert policy.hooks.program("helo").gate.should_try()


# ------------------------------------------------------- connections are freed

def _app(tmp_path):
    path = tmp_path / "helo.hsl"
    path.write_text('Accept(["reason" => "hello"]);')
    ap = argparse.ArgumentParser()
    add_arguments(ap)
    # its own server id: connections count in the process-wide server registry
    args = ap.parse_args(["--helo", str(path), "--hostname", "mx.test.example",
                          "--serverid", "inline-test"])
    logger = Logger("text", io.StringIO())
    app = App(args, logger)
    app.policy = Policy(str(path), logger, app.metrics)
    return app


@pytest.mark.parametrize("quit", [True, False])
def test_a_finished_connection_is_freed_without_the_cycle_collector(tmp_path, quit):
    app = _app(tmp_path)
    protocols = []

    def factory():
        proto = app.protocol()
        protocols.append(weakref.ref(proto))
        return proto

    async def main():
        app.loop = asyncio.get_running_loop()
        srv = await app.loop.create_server(factory, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()
        writer.write(b"EHLO client.example\r\n" + (b"QUIT\r\n" if quit else b""))
        lines = [await reader.readline()]
        while lines[-1][3:4] == b"-":
            lines.append(await reader.readline())
        if quit:
            lines.append(await reader.readline())
        writer.close()
        await writer.wait_closed()
        for _ in range(20):                     # let the server see the close
            await asyncio.sleep(0.01)
        srv.close()
        await srv.wait_closed()
        return lines

    gc.collect()
    gc.disable()
    try:
        lines = asyncio.run(main())
        assert lines[0] == b"250-hello\r\n"
        assert lines[-1] == (b"221 2.0.0 Bye\r\n" if quit else b"250 ENHANCEDSTATUSCODES\r\n")
        assert len(protocols) == 1
        assert protocols[0]() is None, gc.get_referrers(protocols[0]())
    finally:
        gc.enable()
        app.policy.close()


def test_taking_back_a_preempted_run_never_waits_on_the_event_loop(tmp_path):
    """The preempted try's memory write is taken back on the worker: while another thread
    holds the memory store's lock, the event loop goes on."""
    import threading
    import time
    source = '''
        memory_inc("held");
        $t = executiontime();
        while (executiontime() - $t < 0.1) { }
        Accept(["reason" => "n=" . memory_fetch("held")]);
    '''
    policy, _ = make_policy(tmp_path, source, inline_slice=0.02)
    release = threading.Event()
    import sys
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)      # let the holder take the lock during the try

    def hold_the_store():           # takes the lock once the try has written
        while b"held" not in MEMORY:
            time.sleep(0.0005)
        with MEMORY_LOCK:
            release.wait(0.5)

    async def go():
        holder = threading.Thread(target=hold_the_store)
        holder.start()
        gaps, last = [], time.monotonic()

        async def ticker():
            nonlocal last
            while not release.is_set():
                await asyncio.sleep(0.005)
                now = time.monotonic()
                gaps.append(now - last)
                last = now
        tick = asyncio.ensure_future(ticker())
        result = await policy.run(HeloSession())
        release.set()
        await tick
        holder.join()
        return result, max(gaps)
    try:
        result, worst_gap = asyncio.run(go())
    finally:
        policy.close()
        sys.setswitchinterval(switch)
    assert result.reply[0] == "n=1"          # taken back, then counted once by the rerun
    assert policy.metrics.script_preempted == 1
    assert worst_gap < 0.25                   # the loop was not held for the lock's 0.5 s
