"""`hsl serve --queue`: the SMTP server and the queue runner in one process, end to end
(smtplib -> hsl serve -> eod queue() -> predelivery Try() -> a local aiosmtpd sink), the
runner told of each commit, retries, the spool's lock, a graceful stop with an attempt in
flight, and the queue's metrics on the server's endpoint."""
import asyncio
import os
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from hsl.queue.store import Queue
from serve_helpers import ROOT, Server
from test_builtins_smtpclient import Server as Sink
from test_mail_send import Inbox

EOD = r"""
foreach ($transaction["recipients"] as $r)
    $arguments["mail"]->queue($transaction["sender"], $r["recipient"], $r["transportid"],
                              ["metadata" => ["via" => "eod"]]);
Accept(["reason" => "Queued"]);
"""
MESSAGE = (b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: through\r\n"
           b"Message-ID: <sq1@example.com>\r\n\r\nline one\r\n.dot line\r\nend\r\n")
# Without the server telling the runner, a commit would wait this long to be seen.
SLOW_POLL = "import hsl.queue.runner as r; r.POLL = 60"


class Flaky(Inbox):
    """451 for the first DATA of each recipient named in `tempfail`, then 250; `stall`
    seconds of delay before every DATA reply (an attempt in flight)."""

    def __init__(self, tempfail=(), stall=0.0):
        super().__init__()
        self.tempfail = set(tempfail)
        self.stall = stall
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        if self.stall:
            self.arrived.set()
            await asyncio.sleep(self.stall)
        failing = self.tempfail & set(envelope.rcpt_tos)
        if failing:
            self.tempfail -= failing
            return "451 4.3.0 try again later"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def hooks(tmp_path):
    def write(sink_port, post=""):
        eod = tmp_path / "eod.hsl"
        eod.write_text(EOD)
        pre = tmp_path / "pre.hsl"
        pre.write_text('if (GetMetaData()["via"] == "eod")\n'
                       f'    Try(["host" => "127.0.0.1", "port" => {sink_port}]);\n'
                       'Queue(["delay" => 3600]);\n')
        args = ["--queue", "--hook", f"eod={eod}", "--predelivery", str(pre),
                "--spool", str(tmp_path / "spool")]
        if post:
            (tmp_path / "post.hsl").write_text(post)
            args += ["--postdelivery", str(tmp_path / "post.hsl")]
        return args
    return write


def sink_of(handler):
    sink = Sink(handler, auth_require_tls=False)
    sink.start()
    return sink


def send(port, rcpts=("bob@example.org",), message=MESSAGE):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.ehlo("client.example")
        refused = c.sendmail("alice@example.com", list(rcpts), message)
    assert refused == {}


def wait_until(check, timeout=20):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def live_entries(spool):
    with Queue.open(spool, lock=False) as q:
        return [e for e in q.entries() if not e.done]


def scrape(port) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def sample(text, name) -> float:
    match = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    assert match, f"no {name} in\n{text}"
    return float(match.group(1))


def test_received_queued_and_delivered_byte_exact_at_once(hooks):
    inbox = Flaky()
    sink = sink_of(inbox)
    try:
        with Server(None, *hooks(sink.port), "--metrics", "127.0.0.1:0",
                    prelude=SLOW_POLL) as srv:
            srv.wait_for("queue running")
            started = time.monotonic()
            send(srv.port)
            wait_until(lambda: inbox.messages)
            # the server told the runner: far sooner than the runner's 60 s poll
            assert time.monotonic() - started < 30
            (mail_from, rcpts, data), = inbox.messages
            assert (mail_from, rcpts) == ("alice@example.com", ["bob@example.org"])
            assert data == MESSAGE          # what the client sent, byte for byte
            line = srv.wait_for(r"hsl serve: attempt id=\S+ rcpt=bob@example.org")
            assert f"dest=127.0.0.1:{sink.port}" not in line    # Try's host, not a route
            assert "outcome=delivered code=250 enhanced=2.0.0" in line
            assert line.endswith("retry=0 next=done")
            wait_until(lambda: live_entries(srv.spool) == [])
            text = scrape(srv.metrics_port)
            assert sample(text, 'hsl_queue_attempts_total{outcome="delivered"}') == 1
            assert sample(text, 'hsl_queue_attempts_total{outcome="deferred"}') == 0
            assert sample(text, "hsl_queue_delivery_seconds_count") == 1
            assert sample(text, 'hsl_queue_delivery_seconds_bucket{le="+Inf"}') == 1
            for state in ("active", "held", "deferred", "queued"):
                assert sample(text, f'hsl_queue_entries{{state="{state}"}}') == 0
            assert sample(text, "hsl_queued_copies_total") == 1      # the server's own
            srv.stop()
            assert srv.proc.returncode == 0
            assert "queue stopped" in srv.log()
            # the lock is released: another owner can take the spool
            Queue.open(srv.spool).close()
    finally:
        sink.stop()


def test_a_tempfail_is_retried_and_a_second_owner_is_refused(hooks, tmp_path):
    inbox = Flaky(tempfail={"bob@example.org"})
    sink = sink_of(inbox)
    post = 'if ($arguments["action"] == "QUEUE") Queue(["delay" => 5]);\n'
    try:
        with Server(None, *hooks(sink.port, post), "--metrics", "127.0.0.1:0",
                    "--log-json", str(tmp_path / "attempts.jsonl")) as srv:
            send(srv.port)
            deferred = srv.wait_for(r"attempt .*outcome=deferred")
            assert "code=451 enhanced=4.3.0 reason=\"try again later\" retry=1 next=" \
                in deferred
            assert re.search(r"next=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", deferred)
            # while it waits: deferred in the gauge (once its pickup has ended: active
            # until then), and the spool has one owner
            wait_until(lambda: sample(scrape(srv.metrics_port),
                                      'hsl_queue_entries{state="deferred"}') == 1, 4)
            second = subprocess.run(
                [sys.executable, "-m", "hsl", "queue", "run", "--once", "--spool", srv.spool],
                capture_output=True, text=True, timeout=60,
                env={**os.environ, "PYTHONPATH": ROOT})
            assert second.returncode == 1
            assert f"is in use by process {srv.proc.pid} (a running hsl queue run or " \
                   "hsl serve --queue)" in second.stderr
            # the changing hsl queue commands reach the server through its control socket
            entry = re.search(r"attempt id=(\S+)", deferred).group(1)
            for verb, done in (("hold", "held"), ("release", "released")):
                r = subprocess.run([sys.executable, "-m", "hsl", "queue", verb, entry,
                                    "--spool", srv.spool], capture_output=True, text=True,
                                   timeout=60, env={**os.environ, "PYTHONPATH": ROOT})
                assert (r.returncode, r.stdout) == (0, f"{done} {entry}\n"), r.stderr
            srv.wait_for(r"attempt .*outcome=delivered", timeout=30)
            assert len(inbox.messages) == 1 and inbox.messages[0][2] == MESSAGE
            wait_until(lambda: live_entries(srv.spool) == [])
            text = scrape(srv.metrics_port)
            assert sample(text, 'hsl_queue_attempts_total{outcome="deferred"}') == 1
            assert sample(text, 'hsl_queue_attempts_total{outcome="delivered"}') == 1
        import json
        rows = [json.loads(line) for line in
                (tmp_path / "attempts.jsonl").read_text().splitlines()]
        assert [(r["event"], r["outcome"], r["retry"]) for r in rows] == [
            ("attempt", "deferred", 1), ("attempt", "delivered", 1)]
        assert rows[0]["attempt"]["result"]["code"] == 451 and "next" in rows[0]
    finally:
        sink.stop()


def test_sigterm_lets_the_attempt_in_flight_finish(hooks):
    inbox = Flaky(stall=2.0)
    sink = sink_of(inbox)
    try:
        srv = Server(None, *hooks(sink.port))
        try:
            send(srv.port)
            assert inbox.arrived.wait(20)           # DATA sent, the reply 2 s away
            srv.proc.send_signal(signal.SIGTERM)
            srv.wait_for("waiting for the delivery attempts in flight attempts=1")
            assert srv.proc.wait(30) == 0
            srv.wait_for(r"attempt .*outcome=delivered")
            srv.wait_for("queue stopped")
            assert len(inbox.messages) == 1
            with Queue.open(srv.spool) as q:         # lock released, nothing left
                assert [e for e in q.entries() if not e.done] == []
            # it stopped accepting first: the port is closed
            with pytest.raises(OSError):
                smtplib.SMTP("127.0.0.1", srv.port, timeout=5)
        finally:
            srv.stop()
    finally:
        sink.stop()


def test_queue_options_without_queue_and_a_locked_spool(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT}
    eod = tmp_path / "eod.hsl"
    eod.write_text(EOD)
    base = [sys.executable, "-m", "hsl", "serve", "--hook", f"eod={eod}", "--listen",
            "127.0.0.1:0", "--spool", str(tmp_path / "sp")]
    r = subprocess.run(base + ["--predelivery", str(eod), "--transport", "mx=127.0.0.1:1"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2
    assert "--predelivery, --transport ID=HOST:PORT: options of the queue, which runs " \
           "with --queue" in r.stderr
    r = subprocess.run(base + ["--queue", "--transport", "mx=nowhere:x"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "--transport 'mx=nowhere:x'" in r.stderr
    with Queue.open(str(tmp_path / "sp"), create=True):
        r = subprocess.run(base + ["--queue"], capture_output=True, text=True, env=env,
                           timeout=60)
    assert r.returncode == 1
    assert f"is in use by process {os.getpid()}" in r.stderr
    assert "Traceback" not in r.stderr


def test_the_default_transport_and_a_route_in_one_option(tmp_path):
    from hsl.cli import build_parser
    args = build_parser().parse_args(
        ["serve", "--queue", "--hook", "eod=x.hsl", "--transport", "out",
         "--transport", "out=lmtp://127.0.0.1:2424"])
    assert args.transport == "out"
    assert args.routes == [("out", {"protocol": "lmtp", "host": "127.0.0.1",
                                    "port": 2424})]
