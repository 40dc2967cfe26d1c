#!/usr/bin/env python3
"""The queue's delivery rate: copies delivered per second from a spool to a local SMTP
sink, `hsl queue run --once` with 30-line pre- and postdelivery hooks at concurrency 1
and 50, against a plain Python loop that reads the same spool and sends each copy with
smtplib, in the same run.

    python bench/queue.py [--messages N] [--latency MS] [--dir DIR] [--rounds R]

The sink (aiosmtpd, in its own process) waits `--latency` milliseconds (default 5)
before each reply, as a remote MX across a network would; with a sink that answers at
once on loopback there is no waiting for concurrency to overlap.  Every figure is for
the same spool contents (N copies of a 10 KB message, written fresh for each run with
hsl.queue.spool.write_copies) and the sink counts what it received: a run that
delivers fewer than N copies is reported as a failure.  Bars (issue 17): hsl at
concurrency 1 >= 1.0x the plain loop, at 50 >= 5x.  Also reports hsl's p50/p99 per
attempt (from its --json log).  The predelivery hook asks for connection pooling
(`Try(["pooling" => true])`), as a policy for a busy next hop would; the plain loop
connects for every copy, as a script with smtplib.sendmail does.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from hsl.queue import spool as spool_mod  # noqa: E402

MESSAGE = (b"From: a@example.com\r\nTo: b@example.org\r\nSubject: bench\r\n"
           b"Message-ID: <bench@example.com>\r\n\r\n" + (b"x" * 78 + b"\r\n") * 128)

SINK = r"""
import asyncio, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
delay = float(sys.argv[1]) / 1000.0
count = [0]
class Handler:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        await asyncio.sleep(delay)
        session.host_name = hostname
        return responses
    async def handle_MAIL(self, server, session, envelope, address, options):
        await asyncio.sleep(delay)
        envelope.mail_from = address
        return "250 OK"
    async def handle_RCPT(self, server, session, envelope, address, options):
        await asyncio.sleep(delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"
    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(delay)
        count[0] += 1
        return "250 2.0.0 queued"
class Ephemeral(Controller):
    def _trigger_server(self):      # port 0: learn the port before aiosmtpd connects
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()
c = Ephemeral(Handler(), hostname="127.0.0.1", port=0, server_hostname="sink")
c.start()
print(c.port, flush=True)
for line in sys.stdin:
    if line.strip() == "count":
        print(count[0], flush=True)
    elif line.strip() == "reset":
        count[0] = 0
        print(0, flush=True)
c.stop()
"""

PREDELIVERY = """\
// 30 lines of a typical predelivery hook: route by recipient domain and metadata.
$recipient = $message["recipient"];
$domain = $message["recipientaddress"]["domain"];
$meta = GetMetaData();
$tenant = $meta["tenant"] ?? "default";
$retry = $arguments["retry"];
$context["picked"] = time();
$context["tenant"] = $tenant;
if ($retry > 10) {
    Queue(["delay" => 3600, "reason" => "backing off"]);
}
$suspended = ["blocked.example" => true, "paused.example" => true];
if (isset($suspended[$domain])) {
    Queue(["delay" => 600]);
}
$routes = [
    "example.org" => "mx",
    "example.net" => "mx",
];
$transport = $routes[$domain] ?? "mx";
if ($transport != $message["transportid"]) {
    Queue(["transportid" => $transport, "delay" => 0]);
}
if ($message["size"] > 50 * 1024 * 1024) {
    Bounce();
}
if (str_lower($recipient) == "drop@example.org") {
    Delete();
}
$context["route"] = $transport;
Try(["timeout" => ["DATA" => 60, "EOD" => 120], "pooling" => true]);
"""

POSTDELIVERY = """\
// 30 lines of a typical postdelivery hook: classify the outcome, back off, log.
$attempt = $arguments["attempt"] ?? [];
$result = $attempt["result"] ?? [];
$code = $result["code"] ?? 0;
$tenant = $context["tenant"] ?? "default";
$elapsed = time() - ($context["picked"] ?? time());
if (!isset($arguments["action"])) {
    $stats = ["tenant" => $tenant, "code" => $code, "seconds" => $elapsed];
    SetMetaData(["delivered" => "yes", "tenant" => $tenant]);
    Default();
}
$reason = array_join($result["reason"] ?? [], " ");
$greylisted = $code == 451 and str_find(str_lower($reason), "grey") != -1;
if ($greylisted) {
    Queue(["delay" => 300, "increment_retry" => false]);
}
$retry = $arguments["retry"];
$backoff = [60, 300, 900, 1800, 3600];
$delay = $backoff[$retry] ?? 3600;
if ($arguments["action"] == "QUEUE") {
    Queue(["delay" => $delay]);
}
if ($code >= 500 and $code < 600) {
    $bounce = ["dsn" => ["subject" => "Undeliverable: " . $tenant]];
    Bounce($bounce);
}
if ($arguments["expired"] ?? false) {
    Bounce();
}
$note = "outcome " . $code . " after " . $elapsed . "s";
SetMetaData(["note" => $note]);
Default();
"""


class Sink:
    def __init__(self, latency_ms: float):
        self.proc = subprocess.Popen([sys.executable, "-c", SINK, str(latency_ms)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.port = int(self.proc.stdout.readline())

    def ask(self, what: str) -> int:
        self.proc.stdin.write(what + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


def fill(spool: str, n: int) -> None:
    shutil.rmtree(spool, ignore_errors=True)
    for i in range(n):
        spool_mod.write_copies(spool, [spool_mod.Copy(
            MESSAGE, f"bench-{i}", "a@example.com", f"user{i}@example.org", "mx",
            metadata={"tenant": "t1"})])


def plain_loop(spool: str, port: int) -> None:
    """The baseline: read each copy, send it with smtplib (one connection each), remove
    it (the envelope first, as spool.remove does)."""
    for entry in spool_mod.read_spool(spool).entries:
        data = entry.read_message()
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail(entry.envelope["sender"], [entry.envelope["recipient"]], data)
        spool_mod.remove(entry)


def hsl_run(spool: str, port: int, concurrency: int, hooks: str) -> list:
    log = os.path.join(hooks, f"log-{concurrency}.jsonl")
    cmd = [sys.executable, "-m", "hsl", "queue", "run", "--once", "--spool", spool,
           "--transport", f"mx=127.0.0.1:{port}",
           "--predelivery", os.path.join(hooks, "pre.hsl"),
           "--postdelivery", os.path.join(hooks, "post.hsl"),
           "--concurrency", str(concurrency), "--log-json", log]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    durations = []
    with open(log) as f:
        for line in f:
            event = json.loads(line)
            if event.get("event") == "attempt" and "duration" in event:
                durations.append(event["duration"])
    return durations


def measure(name: str, run, spool: str, sink: Sink, n: int) -> float:
    fill(spool, n)
    sink.ask("reset")
    start = time.perf_counter()
    extra = run()
    elapsed = time.perf_counter() - start
    got = sink.ask("count")
    rate = n / elapsed
    line = f"  {name:<24} {rate:8.1f} copies/s  ({got}/{n} delivered)"
    if extra:
        q = statistics.quantiles(extra, n=100)
        line += f"  attempt p50 {q[49] * 1000:.1f} ms p99 {q[98] * 1000:.1f} ms"
    print(line, flush=True)
    if got != n:
        raise SystemExit(f"{name}: the sink received {got} of {n} copies")
    return rate


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--latency", type=float, default=5.0,
                    help="ms the sink waits before each reply (default 5)")
    ap.add_argument("--dir", default=".", help="where to make the spool (default: .)")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    base = tempfile.mkdtemp(prefix="hsl-bench-queue-", dir=args.dir)
    sink = Sink(args.latency)
    try:
        with open(os.path.join(base, "pre.hsl"), "w") as f:
            f.write(PREDELIVERY)
        with open(os.path.join(base, "post.hsl"), "w") as f:
            f.write(POSTDELIVERY)
        spool = os.path.join(base, "spool")
        n = args.messages
        print(f"{n} copies of {len(MESSAGE)} bytes, sink latency {args.latency} ms "
              f"per reply, {socket.gethostname()}")
        for r in range(args.rounds):
            print(f"round {r + 1}")
            plain = measure("plain smtplib loop", lambda: plain_loop(spool, sink.port),
                            spool, sink, n)
            one = measure("hsl queue, concurrency 1",
                          lambda: hsl_run(spool, sink.port, 1, base), spool, sink, n)
            fifty = measure("hsl queue, concurrency 50",
                            lambda: hsl_run(spool, sink.port, 50, base), spool, sink, n)
            print(f"  ratio: {one / plain:.2f}x at 1 (bar 1.0x), "
                  f"{fifty / plain:.2f}x at 50 (bar 5x)")
    finally:
        sink.close()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
