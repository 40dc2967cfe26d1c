"""The queue's log line per attempt (hsl/queue/log.py), its Prometheus metrics
(hsl/queue/metrics.py) scraped from `hsl queue run --metrics`, and the runner woken by
notify() (what hsl serve --queue calls after each commit)."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from hsl.queue import runner as runner_mod
from hsl.queue.clock import WallClock
from hsl.queue.log import fields
from hsl.queue.runner import Outcome
from hsl.queue.store import Queue
import pytest

from test_builtins_smtpclient import Server
from test_mail_send import Inbox
from test_queue_run import ROOT, commit, runner


@pytest.fixture
def sink():
    inbox = Inbox()         # RCPT: later* 450
    server = Server(inbox, auth_require_tls=False)
    server.start()
    yield server, inbox
    server.stop()


def sample(text, name) -> float:
    match = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    assert match, f"no {name} in\n{text}"
    return float(match.group(1))


def test_notify_wakes_a_waiting_runner_at_once(sink, tmp_path, monkeypatch):
    server, inbox = sink
    monkeypatch.setattr(runner_mod, "POLL", 30.0)   # without notify: 30 s to see it
    d = str(tmp_path / "sp")
    commit(d, "first@example.org")
    r, q = runner(d, server, clock=WallClock())
    seen = []
    r.on_outcome = seen.append
    thread = threading.Thread(target=r.run)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [o.action for o in seen] == ["delivered"]
        time.sleep(0.2)                 # the runner is waiting now
        (later,) = commit(d, "second@example.org")
        started = time.monotonic()
        r.notify()
        while len(seen) < 2 and time.monotonic() - started < 10:
            time.sleep(0.01)
        assert [o.id for o in seen[1:]] == [later]
        assert time.monotonic() - started < 5       # not the 30 s poll
        started = time.monotonic()
        r.shutdown()
        thread.join(10)
        assert not thread.is_alive() and time.monotonic() - started < 5
    finally:
        r.shutdown()
        thread.join(10)
        q.close()


def test_the_log_fields_of_each_kind_of_outcome():
    result = {"result": {"code": 550, "enhanced": [5, 1, 1], "reason": ["no", "such"]},
              "connection": {"remotemx": "mx1.example.org"}}
    bounced = Outcome("b-0", "x@example.org", "mx", "mx:example.org", "bounce", 2,
                      attempt=result, dsn="failed")
    assert fields(bounced) == {
        "id": "b-0", "rcpt": "x@example.org", "dest": "mx:example.org",
        "mx": "mx1.example.org", "outcome": "bounced", "code": 550, "enhanced": "5.1.1",
        "reason": "no such", "retry": 2, "next": "bounced", "dsn": "failed"}
    refused = {"error": {"type": "connect", "message": "connection refused"}}
    deferred = Outcome("d-0", "y@example.org", "mx", "127.0.0.1:25", "queue", 1,
                       next=2_000_000_060, attempt=refused, error="pre.hsl:1:5: oops")
    assert fields(deferred) == {
        "id": "d-0", "rcpt": "y@example.org", "dest": "127.0.0.1:25",
        "outcome": "deferred", "error": "connect: connection refused", "retry": 1,
        "next": "2033-05-18T03:34:20Z", "hook_error": "pre.hsl:1:5: oops"}
    held = Outcome("h-0", "z@example.org", "mx", "127.0.0.1:25", "hold", 0,
                   next=2_000_000_060)
    assert fields(held)["attempt"] == "none" and fields(held)["next"] == "held"


def test_hsl_queue_run_serves_its_metrics(sink, tmp_path):
    server, inbox = sink
    d = str(tmp_path / "sp")
    ok, later, held = commit(d, "ok@example.org", "later@example.org", "held@example.org")
    with Queue.open(d) as q:
        q.hold(held)
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hsl", "queue", "run", "--spool", d, "--json",
         "--transport", f"mx=127.0.0.1:{server.port}", "--metrics", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stderr.readline()
        port = int(re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", line).group(1))
        rows = [json.loads(proc.stdout.readline()) for _ in range(2)]
        assert {r["outcome"] for r in rows} == {"delivered", "deferred"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
        assert sample(text, 'hsl_queue_entries{state="held"}') == 1
        assert sample(text, 'hsl_queue_entries{state="deferred"}') == 1
        assert sample(text, 'hsl_queue_entries{state="queued"}') == 0
        assert sample(text, 'hsl_queue_attempts_total{outcome="delivered"}') == 1
        assert sample(text, 'hsl_queue_attempts_total{outcome="deferred"}') == 1
        assert sample(text, 'hsl_queue_attempts_total{outcome="bounced"}') == 0
        assert sample(text, "hsl_queue_delivery_seconds_count") == 1
        assert "# TYPE hsl_queue_delivery_seconds histogram" in text
        assert "hsl_connections_total" not in text      # no SMTP server here
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    with Queue.open(d) as q:                    # the lock is released
        assert sorted(e.id for e in q.entries()) == [later, held]


def test_a_pickup_failing_inside_hsl_is_an_error_line_without_a_traceback(
        sink, tmp_path, monkeypatch):
    import io
    from hsl.queue import deliver
    from hsl.queue.log import AttemptLog
    from hsl.serve.log import Logger
    server, inbox = sink
    d = str(tmp_path / "sp")
    (one,) = commit(d, "a@example.org")
    r, q = runner(d, server)

    def broken(*a, **kw):
        raise RuntimeError("boom")
    monkeypatch.setattr(deliver, "attempt", broken)
    out = io.StringIO()
    log = AttemptLog(Logger("text", out, name="hsl queue"))
    try:
        assert r.run(once=True) == []
    finally:
        log.close()
        q.close()
    (line,) = out.getvalue().splitlines()
    assert line.split(" ", 1)[1] == \
        f"hsl queue: error queue: pickup of {one} failed: RuntimeError: boom"
    assert "Traceback" not in out.getvalue()


def test_a_log_json_file_that_cannot_be_opened_is_an_error(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT}
    r = subprocess.run([sys.executable, "-m", "hsl", "queue", "run", "--once", "--spool",
                        str(tmp_path / "sp"), "--log-json", str(tmp_path / "no" / "x.jsonl")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "--log-json" in r.stderr and "No such file" in r.stderr
    assert "Traceback" not in r.stderr


def test_sigterm_lets_hsl_queue_run_finish_the_attempt_in_flight(tmp_path):
    from test_serve_queue import Flaky
    inbox = Flaky(stall=2.0)
    server = Server(inbox, auth_require_tls=False)
    server.start()
    d = str(tmp_path / "sp")
    (one,) = commit(d, "ok@example.org")
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hsl", "queue", "run", "--spool", d,
         "--transport", f"mx=127.0.0.1:{server.port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert inbox.arrived.wait(30)            # DATA sent, the reply 2 s away
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert f"attempt id={one} rcpt=ok@example.org" in out and "outcome=delivered" in out
        assert len(inbox.messages) == 1
        with Queue.open(d) as q:                 # the lock is released, nothing left
            assert q.entries() == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        server.stop()
