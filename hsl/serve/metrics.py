"""Prometheus text exposition for `hsl serve --metrics HOST:PORT`: the server's own counters
(connections, the decisions of every phase's hook, HELO/EHLO's by verb too, queued
copies, spool errors, script errors and run time), the queue's with --queue (and for
`hsl queue run --metrics`: hsl/queue/metrics.py), and every value the scripts set with
metrics_* (hsl.builtins.server's registry)."""
from __future__ import annotations

import asyncio
import math
import re
from typing import Optional

from ..builtins.server import metrics_snapshot

_NAME_BAD = re.compile(r"[^a-zA-Z0-9_:]")
_LABEL_BAD = re.compile(r"[^a-zA-Z0-9_]")
SCRIPT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


class ServerMetrics:
    """Counters updated from the event loop thread only (no lock needed)."""

    def __init__(self):
        self.connections_total = 0
        self.connections_active = 0
        self.connections_refused = 0
        self.decisions: dict = {}          # helo: (verb, decision, code) -> count
        self.hook_decisions: dict = {}     # (phase, decision, code) -> count
        self.script_errors = 0
        self.script_timeouts = 0
        self.script_runs = {"loop": 0, "worker": 0}     # where runs finished
        self.script_preempted = 0
        self.reloads = {"ok": 0, "failed": 0}
        # after DATA: committed to the spool, refused by the eod hook, or not stored
        self.messages = {"queued": 0, "refused": 0, "failed": 0}
        self.queued_copies = 0
        self.spool_errors = 0
        self.run_count = 0
        self.run_sum = 0.0
        self.run_buckets = [0] * len(SCRIPT_BUCKETS)

    def decision(self, phase: str, verb: str, decision: str, code: Optional[int],
                 seconds: float) -> None:
        code = "" if code is None else str(code)
        key = (phase, decision, code)
        self.hook_decisions[key] = self.hook_decisions.get(key, 0) + 1
        if phase == "helo":
            key = (verb, decision, code)
            self.decisions[key] = self.decisions.get(key, 0) + 1
        self.run_count += 1
        self.run_sum += seconds
        for i, bound in enumerate(SCRIPT_BUCKETS):
            if seconds <= bound:
                self.run_buckets[i] += 1
                break


def metric_name(name: str) -> str:
    name = _NAME_BAD.sub("_", name) or "_"
    return "_" + name if name[0].isdigit() else name


def _label_name(name: str) -> str:
    name = _LABEL_BAD.sub("_", name) or "_"
    return "_" + name if name[0].isdigit() or name.startswith("__") else name


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{_label_name(k)}="{_escape(str(v))}"' for k, v in pairs) + "}"


def _num(v) -> str:
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def histogram_samples(buckets, counts, total: int, total_sum: float) -> list:
    """The _bucket, _sum and _count samples of a histogram: `counts[i]` observations fell
    in (buckets[i-1], buckets[i]] (not cumulative)."""
    cumulative, samples = 0, []
    for bound, count in zip(buckets, counts):
        cumulative += count
        samples.append(("_bucket", (("le", _num(bound)),), cumulative))
    samples.append(("_bucket", (("le", "+Inf"),), total))
    samples.append(("_sum", (), total_sum))
    samples.append(("_count", (), total))
    return samples


def render(server: Optional[ServerMetrics], others=()) -> str:
    """The exposition of `server` (None: none), then of each of `others` (objects whose
    families() yields (name, kind, help, samples)), then of the scripts' metrics."""
    out: list[str] = []

    def family(name, kind, help_text, samples):
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        for suffix, labels, value in samples:
            out.append(f"{name}{suffix}{_labels(labels)} {_num(value)}")

    if server is not None:
        _server_families(server, family)
    for other in others:
        for args in other.families():
            family(*args)
    _script_families(family)
    return "\n".join(out) + "\n"


def _server_families(server: ServerMetrics, family) -> None:
    family("hsl_connections_total", "counter", "SMTP connections accepted.",
           [("", (), server.connections_total)])
    family("hsl_connections_active", "gauge", "SMTP connections open now.",
           [("", (), server.connections_active)])
    family("hsl_connections_refused_total", "counter",
           "Connections refused with 421 4.7.0 (--max-connections).",
           [("", (), server.connections_refused)])
    family("hsl_helo_decisions_total", "counter", "HELO/EHLO decisions of the script.",
           [("", (("verb", v), ("decision", d), ("code", c)), n)
            for (v, d, c), n in sorted(server.decisions.items())])
    family("hsl_hook_decisions_total", "counter", "Decisions of the hooks, by phase.",
           [("", (("phase", p), ("decision", d), ("code", c)), n)
            for (p, d, c), n in sorted(server.hook_decisions.items())])
    family("hsl_queued_copies_total", "counter",
           "Copies of messages committed to the spool (each with a 250 after DATA).",
           [("", (), server.queued_copies)])
    family("hsl_spool_errors_total", "counter",
           "Transactions the spool could not take (answered 451 4.3.0).",
           [("", (), server.spool_errors)])
    family("hsl_script_errors_total", "counter",
           "Script runs that ended in an error (answered 451 4.3.0).",
           [("", (), server.script_errors)])
    family("hsl_script_timeouts_total", "counter",
           "Script runs stopped at the per-run deadline.",
           [("", (), server.script_timeouts)])
    family("hsl_script_runs_total", "counter",
           "Script runs by the thread they finished on: the event loop (quick runs) or a "
           "worker thread.",
           [("", (("thread", k),), v) for k, v in server.script_runs.items()])
    family("hsl_script_preempted_total", "counter",
           "Runs tried on the event loop that moved to a worker thread (slow, blocking or "
           "large work); their in-process effects were taken back first.",
           [("", (), server.script_preempted)])
    family("hsl_script_reloads_total", "counter",
           "Reloads of the hooks, all at once (SIGHUP, --watch).",
           [("", (("result", k),), v) for k, v in server.reloads.items()])
    family("hsl_messages_total", "counter", "Messages received after DATA.",
           [("", (("result", k),), v) for k, v in server.messages.items()])
    family("hsl_script_duration_seconds", "histogram", "Time of one hook run (any phase).",
           histogram_samples(SCRIPT_BUCKETS, server.run_buckets, server.run_count,
                             server.run_sum))


def _script_families(family) -> None:
    for name, metric in sorted(metrics_snapshot().items()):
        pname = metric_name(name)
        kind = metric["type"]
        samples = []
        for labels, value in sorted(metric["values"].items()):
            if kind == "histogram":
                for bound, count in value["buckets"].items():
                    samples.append(("_bucket", labels + (("le", _num(bound)),), count))
                samples.append(("_bucket", labels + (("le", "+Inf"),), value["count"]))
                samples.append(("_sum", labels, value["sum"]))
                samples.append(("_count", labels, value["count"]))
            else:
                samples.append(("", labels, value))
        family(pname, kind, f"HSL script metric {_escape(name)}.", samples)


async def serve_metrics(host: str, port: int, server: Optional[ServerMetrics],
                        others=()):
    """A minimal HTTP/1.0 endpoint: GET /metrics (or /) -> the exposition text."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            first = request.split(b"\r\n", 1)[0].split()
            if len(first) < 2 or first[0] not in (b"GET", b"HEAD"):
                status, body, ctype = "405 Method Not Allowed", b"method not allowed\n", "text/plain"
            elif first[1].split(b"?")[0] not in (b"/metrics", b"/"):
                status, body, ctype = "404 Not Found", b"not found\n", "text/plain"
            else:
                status = "200 OK"
                body = render(server, others).encode()
                ctype = "text/plain; version=0.0.4; charset=utf-8"
            head = (f"HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
            writer.write(head + (b"" if first[:1] == [b"HEAD"] else body))
            await writer.drain()
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
