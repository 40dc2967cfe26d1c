"""The queue's Prometheus metrics: on `hsl serve --queue --metrics HOST:PORT` beside the
server's, and on `hsl queue run --metrics HOST:PORT` alone (hsl/serve/metrics.py renders
and serves them).

    hsl_queue_entries{state}            entries in the spool now, by state (STATES)
    hsl_queue_attempts_total{outcome}   pickups by what became of the entry: delivered,
                                        deferred, held, bounced, deleted (runner.RESULTS)
    hsl_queue_delivery_seconds          histogram: from receipt (the envelope's ts) to
                                        the recipient's 2xx, for every delivered entry

The runner reports each pickup from its worker threads (`attempt`); a scrape counts the
entries at that moment, so the gauges never drift from the spool.
"""
from __future__ import annotations

import asyncio
import threading

from .runner import RESULTS

# hsl_queue_entries' states: picked up now, held, waiting after a failed attempt, waiting
# for the first one (UNSPECIFIED: Halon's own names differ by version; these are ours)
STATES = ("active", "held", "deferred", "queued")
DELIVERY_BUCKETS = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400, 259200)


class QueueMetrics:
    def __init__(self, queue, runner=None):
        self.queue = queue
        self.runner = runner            # set once made: its in_flight entries are active
        self._lock = threading.Lock()
        self.attempts = dict.fromkeys(RESULTS.values(), 0)
        self.delivery_counts = [0] * len(DELIVERY_BUCKETS)
        self.delivery_count = 0
        self.delivery_sum = 0.0

    def attempt(self, outcome) -> None:
        """Count one pickup (the runner calls this from its worker threads)."""
        with self._lock:
            self.attempts[outcome.result] = self.attempts.get(outcome.result, 0) + 1
            if outcome.action == "delivered" and outcome.queued is not None \
                    and outcome.time is not None:
                seconds = max(0.0, outcome.time - outcome.queued)
                self.delivery_count += 1
                self.delivery_sum += seconds
                for i, bound in enumerate(DELIVERY_BUCKETS):
                    if seconds <= bound:
                        self.delivery_counts[i] += 1
                        break

    def entry_counts(self) -> dict:
        """state -> entries in the spool now (finished ones not counted)."""
        active = set(self.runner.in_flight) if self.runner is not None else set()
        counts = dict.fromkeys(STATES, 0)
        for e in self.queue.entries():
            if e.done:
                continue
            state = "active" if e.id in active else "held" if e.hold else \
                "deferred" if e.retry > 0 else "queued"
            counts[state] += 1
        return counts

    def families(self):
        # deferred: hsl.serve.metrics imports the builtins' metric registry
        from ..serve.metrics import histogram_samples
        counts = self.entry_counts()
        with self._lock:
            attempts = dict(self.attempts)
            histogram = histogram_samples(DELIVERY_BUCKETS, list(self.delivery_counts),
                                          self.delivery_count, self.delivery_sum)
        yield ("hsl_queue_entries", "gauge",
               "Entries in the queue now, by state: active (being picked up), held, "
               "deferred (waiting after a failed attempt), queued (waiting for the first).",
               [("", (("state", s),), n) for s, n in counts.items()])
        yield ("hsl_queue_attempts_total", "counter",
               "Pickups of queue entries, by what became of the entry.",
               [("", (("outcome", k),), v) for k, v in attempts.items()])
        yield ("hsl_queue_delivery_seconds", "histogram",
               "Time from receipt to delivery of each delivered entry.", histogram)


class Endpoint:
    """A metrics endpoint served by its own thread and event loop (hsl queue run)."""

    def __init__(self, loop, server, thread):
        self._loop, self._server, self._thread = loop, server, thread
        host, port = server.sockets[0].getsockname()[:2]
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def close(self) -> None:
        async def stop():
            self._server.close()
            await self._server.wait_closed()
        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def serve_in_thread(host: str, port: int, metrics: QueueMetrics) -> Endpoint:
    """Serve `metrics` (and the scripts' metrics_*) at http://HOST:PORT/metrics until
    the Endpoint is closed; OSError when the address cannot be listened on."""
    from ..serve.metrics import serve_metrics  # deferred: as in families()
    loop = asyncio.new_event_loop()
    try:
        server = loop.run_until_complete(serve_metrics(host, port, None, [metrics]))
    except BaseException:
        loop.close()
        raise
    thread = threading.Thread(target=loop.run_forever, name="hsl-queue-metrics",
                              daemon=True)
    thread.start()
    return Endpoint(loop, server, thread)
