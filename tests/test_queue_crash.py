"""The crash test of the queue (issue 17, "nothing is lost"): `hsl queue run` over a
spool of 500 messages to an aiosmtpd sink, killed with SIGKILL at random moments many
times and restarted until the spool is empty.  Then every message was delivered or
bounced (its DSN arrived), none is lost, and none was delivered again after the run
that delivered it recorded the recipient's 250.

What a run recorded is its `--json` output (one line per pickup, flushed, written after
the entry's done marker is on disk): a message some run reported "delivered" must not
reach the sink from a later run.  A delivery in flight when the runner was killed (the
sink has the message, the runner died before its done marker) is attempted again: those
duplicates are of the allowed kind, counted and printed.  Each run says who it is in
its EHLO (a predelivery hook: `Try(["helo" => "run-K"])`), so the sink knows which run
delivered what."""
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from hsl.queue import spool
from hsl.queue.store import Queue
from test_builtins_smtpclient import Server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESSAGES = 500
KILLS = 15
DATA_DELAY = 0.1           # seconds the sink takes per message
BOUNCE_EVERY = 10           # every 10th recipient is refused (550): a bounce
_ORIGINAL = re.compile(rb"<crash-(\d+)@test>")
_MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>]*>)", re.M)


class Sink:
    """Accepts everything but bad* (550), each message after DATA_DELAY; records (run, sender, n) of every message,
    n being the crash-N of the message (or of the original a DSN reports on)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.got = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.startswith("bad"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        # a slow next hop: a delivery takes a while, so many are in flight at a kill
        await asyncio.sleep(DATA_DELAY)
        found = _ORIGINAL.search(envelope.original_content)
        own = _MESSAGE_ID.search(envelope.original_content)      # a DSN's own
        run = int(session.host_name.rpartition("-")[2])
        with self.lock:
            self.got.append((run, envelope.mail_from,
                             int(found.group(1)) if found else None, own.group(1)))
        return "250 2.0.0 OK"


def message(n: int) -> bytes:
    return (f"From: a@example.com\r\nTo: r{n}@example.org\r\nSubject: crash {n}\r\n"
            f"Message-ID: <crash-{n}@test>\r\n\r\nmessage {n}\r\n").encode()


def recipient(n: int) -> str:
    return f"bad{n}@example.org" if n % BOUNCE_EVERY == 0 else f"ok{n}@example.org"


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_nothing_and_delivers_nothing_twice(tmp_path):
    seed = int(os.environ.get("HSL_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    sink = Sink()
    server = Server(sink, authenticator=None)
    server.start()
    try:
        d = str(tmp_path / "spool")
        for start in range(0, MESSAGES, 50):            # ten transactions of 50
            spool.write_copies(d, [spool.Copy(message(n), f"tx{start}", "a@example.com",
                                              recipient(n), "mx")
                                   for n in range(start, start + 50)])
        numbers = {}                                    # entry id -> n
        for e in Queue.open(d, lock=False).entries():
            numbers[e.id] = int(_ORIGINAL.search(e.message_bytes()).group(1))
        assert len(numbers) == MESSAGES

        env = {**os.environ, "PYTHONPATH": ROOT}
        recorded = {}                                   # n -> the run that recorded it
        bounced_by = {}                                 # n -> the run that bounced it
        started = time.monotonic()
        kills = 0

        def run(k: int, once: bool):
            pre = tmp_path / f"pre-{k}.hsl"
            pre.write_text(f'Try(["helo" => "run-{k}"]);\n')
            out = tmp_path / f"out-{k}.jsonl"
            cmd = [sys.executable, "-m", "hsl", "queue", "run", "--json", "--spool", d,
                   "--predelivery", str(pre), "--concurrency", "10", "--hostname",
                   "mx.test", "--transport", f"mx=127.0.0.1:{server.port}"]
            with open(out, "w") as f, open(tmp_path / f"err-{k}.txt", "w") as err:
                p = subprocess.Popen(cmd + (["--once"] if once else []), stdout=f,
                                     stderr=err, env=env)
            return p, out

        def stderr_of(k: int) -> str:
            return (tmp_path / f"err-{k}.txt").read_text()

        def read(k: int, out) -> None:
            with open(out) as f:
                lines = f.read().split("\n")
            for line in lines[:-1]:             # (a last line cut by the kill: not one)
                row = json.loads(line)
                entry = row["id"]
                if entry in numbers and row["action"] == "delivered":
                    recorded.setdefault(numbers[entry], k)
                elif entry in numbers and row["action"] == "bounce":
                    bounced_by.setdefault(numbers[entry], k)
                assert row["action"] in ("delivered", "bounce"), row

        k = 0
        for k in range(1, KILLS + 1):           # kill -9 at a random moment
            p, out = run(k, once=False)
            time.sleep(rng.uniform(0.5, 2.0))
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=60)
            assert "Traceback" not in stderr_of(k), stderr_of(k)
            kills += 1
            read(k, out)
        left = Queue.open(d, lock=False).entries()
        while left:                             # then run to the end
            k += 1
            assert k <= KILLS + 20, f"the spool does not empty: {left[:3]}"
            p, out = run(k, once=True)
            p.wait(timeout=600)
            assert p.returncode == 0, stderr_of(k)
            read(k, out)
            left = Queue.open(d, lock=False).entries()
        elapsed = time.monotonic() - started
    finally:
        server.stop()

    deliveries, dsns = {}, {}                   # n -> [run, ...]
    reports = {}                                # n -> {the Message-ID of its DSN}
    for run_k, sender, n, own in sink.got:
        assert n is not None, "a message the test did not send"
        (dsns if sender in ("", "<>") else deliveries).setdefault(n, []).append(run_k)
        if sender in ("", "<>"):
            reports.setdefault(n, set()).add(own)
    # bounced once: a DSN delivered twice (in flight at a kill) is one report
    assert all(len(ids) == 1 for ids in reports.values()), reports
    refused = {n for n in range(MESSAGES) if n % BOUNCE_EVERY == 0}
    # none lost: every message delivered, or (refused) bounced with its DSN at the sink
    assert set(deliveries) == set(range(MESSAGES)) - refused
    assert set(dsns) == refused
    assert set(recorded) <= set(deliveries) and set(bounced_by) <= refused
    # never delivered again after a run recorded the 250: all deliveries are by that
    # run or earlier ones (an earlier one's was in flight when it was killed)
    for n, run_k in recorded.items():
        assert max(deliveries[n]) <= run_k, (n, deliveries[n], run_k)
        assert deliveries[n].count(run_k) == 1, (n, deliveries[n], run_k)
    # a duplicate is only of the in-flight kind: each extra copy came from a run that
    # was killed before it recorded the delivery
    in_flight = sum(len(runs) - 1 for runs in deliveries.values())
    for n, runs in deliveries.items():
        for run_k in runs[:-1]:
            assert recorded.get(n) != run_k, (n, runs)
    dsn_duplicates = sum(len(runs) - 1 for runs in dsns.values())
    print(f"\ncrash test (seed {seed}): {MESSAGES} messages, {kills} kills, {k} runs, "
          f"{elapsed:.1f} s; delivered {len(deliveries)}, bounced {len(dsns)}; "
          f"in-flight duplicates: {in_flight} deliveries, {dsn_duplicates} DSNs")
