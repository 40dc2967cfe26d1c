"""The queue runner: for each due entry, predelivery, one delivery attempt, postdelivery,
and the outcome applied to the spool.

    due entry --> predelivery --Try--> attempt --> postdelivery --> apply
                      |                               ^
                      +--Queue/Bounce/Delete----------+

One entry's pickup (`_pickup`, on a worker thread):

1. predelivery runs (without a hook: `Try()`); `SetMetaData()` is kept.
2. `Try()` makes one attempt with the transport's settings and `Try`'s options over
   them (hsl/queue/deliver.py); `Try(["plugin" => ["id" => ...]])` takes the canned
   outcome of that delivery plugin (`delivery_plugins`, from --plugins) instead, an
   undeclared id a config error of the attempt.  A delivered copy is recorded done at
   once, before anything else runs, so a crash after the recipient's 250 never delivers
   it again.
   `Queue()`, `Bounce()` and `Delete()` skip the attempt.
3. The default action: none after a delivery; QUEUE for a temporary failure until the
   transport group's retry count is used up, then BOUNCE with `expired`; BOUNCE for a
   permanent failure (DELETE instead when no DSN is due: hooks.md §2); predelivery's
   own decision when it skipped the attempt.  UNSPECIFIED: postdelivery runs after every
   pickup, also after predelivery's Queue() (action "QUEUE", no `attempt`).
4. postdelivery runs (without a hook: `Default()`) and may override the action.
5. Applied: QUEUE writes the entry's new state (retry counter, next attempt from the
   schedule or `delay`, hold, transportid) and, where the schedule's interval says
   `notify`, queues a delayed DSN; BOUNCE queues a failure DSN to the sender (none for
   the null sender or where NOTIFY says so), then removes the entry; DELETE removes it.

The loop (`QueueRunner.run`) makes at most `concurrency` attempts at once, at most
`per_destination` of them to one destination (a transport's fixed next hop, else the
recipient's domain), none that a suspension of the queue-policy table
(hsl/queue/policy.py, the queue_* builtins) matches and none beyond a policy's
concurrency or rate (they become due when that ends).  A few more pickups than that are
under way (`overlap`): their hooks and spool writes run while other pickups' attempts
wait on the network, and each waits for a free attempt slot before it connects.  It
picks up new spool batches
as `hsl serve` writes them (at once when it calls `notify()`, else within POLL), and
sleeps until the next entry is due; `shutdown()` stops it after the pickups in flight.  With a virtual clock
(tests, `--clock virtual`) waiting jumps the clock instead, and the run ends when nothing
is left but held entries; with `once` every entry due at the start is picked up once.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional

from . import deliver, dsn as dsn_mod, policy as policy_mod
from ..net import smtp
from ..hooks import delivery as hooks_mod
from .clock import WallClock
from .schedule import Routing

log = logging.getLogger("hsl.queue")

POLL = 1.0      # seconds between looks for new batches when waiting on the wall clock
ERROR_DELAY = 300   # seconds an entry waits after a pickup failed inside hsl (a bug)
SKIPPED = object()  # a pickup that a suspension stopped before any hook ran


def overlap(limit: int) -> int:
    """Pickups under way beyond `limit` attempts: one, or a quarter more."""
    return max(1, limit // 4)


@dataclass
class Outcome:
    """What one pickup did, for the log line, metrics and `hsl test`."""
    id: str
    recipient: str
    transportid: str
    destination: str
    action: str                         # delivered, queue, bounce, delete, hold
    retry: int
    next: Optional[float] = None        # the next attempt (queue)
    attempt: Optional[dict] = None      # Attempt.to_json()
    duration: Optional[float] = None    # seconds the attempt took
    error: Optional[str] = None         # a hook's script error
    dsn: Optional[str] = None           # "failed"/"delayed" when a DSN was queued
    output: list = field(default_factory=list)
    queued: Optional[float] = None      # when the copy was received (its envelope's ts)
    time: Optional[float] = None        # when the pickup finished (the runner's clock)

    @property
    def result(self) -> str:
        """What became of the entry, for logs and metrics (RESULTS)."""
        return RESULTS.get(self.action, self.action)

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, [])}


# Outcome.action -> what became of the entry: the log line's outcome= and the
# hsl_queue_attempts_total label
RESULTS = {"delivered": "delivered", "queue": "deferred", "hold": "held",
           "bounce": "bounced", "delete": "deleted"}


@dataclass
class QueueHooks:
    """The compiled pre- and postdelivery programs (None: no hook)."""
    predelivery: object = None
    postdelivery: object = None


class QueueRunner:
    def __init__(self, queue, routing: Optional[Routing] = None,
                 hooks: Optional[QueueHooks] = None, *, clock=None, concurrency: int = 10,
                 per_destination: Optional[int] = None, hostname: str = "localhost",
                 serverid: str = "",
                 on_outcome: Optional[Callable[[Outcome], None]] = None, metrics=None,
                 delivery_plugins: Optional[dict] = None, policies=None):
        self.queue = queue
        self.routing = routing or Routing()
        self.hooks = hooks or QueueHooks()
        self.clock = clock or WallClock()
        self.concurrency = max(1, concurrency)
        self.per_destination = per_destination or self.concurrency
        self.hostname = hostname
        self.serverid = serverid
        self.on_outcome = on_outcome
        self.metrics = metrics
        # Try(["plugin" => ...]): plugin id -> canned outcomes (hsl.plugins, --plugins)
        self.delivery_plugins = delivery_plugins or {}
        # queue_suspend/queue_policy/queue_quota (hsl/queue/policy.py): without a table
        # of its own the runner binds the process's, so other hooks reach it too
        self.policies = policies if policies is not None else policy_mod.TABLE
        self._blocked: dict = {}            # entry id -> when a suspension/rate ends
        self._connections: dict = {}        # entry id -> its last attempt's connection
        self.stop = threading.Event()
        self.wake = threading.Event()       # a pickup finished, new copies, or stop
        self._fresh = threading.Event()     # new copies were committed: scan at once
        self._busy: dict = {}               # destination -> pickups running
        self._lock = threading.Lock()
        # Attempt slots: all of them, and per destination (made when first needed).
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._destination_slots: dict = {}
        self.pool = smtp.Pool()             # connections kept for Try's "pooling"
        self._attempting: set = set()       # ids of the entries picked up now

    @property
    def in_flight(self) -> set:
        """The ids of the entries being picked up now (a copy)."""
        with self._lock:
            return set(self._attempting)

    def notify(self) -> None:
        """New copies were committed to the spool (hsl serve --queue): scan it now
        instead of at the next poll.  Safe from any thread."""
        self._fresh.set()
        self.wake.set()

    def shutdown(self) -> None:
        """Stop starting pickups; run() returns once those in flight are finished."""
        self.stop.set()
        self.wake.set()

    # -- the loop -----------------------------------------------------------------

    def run(self, once: bool = False) -> list:
        """Run until stopped (wall clock), until nothing but held entries is left
        (virtual clock), or (`once`) until every entry due at the start was picked up
        once.  Returns the outcomes."""
        self.policies.bind(self.clock.now, self.queue)      # the run's clock and quotas
        if self.routing.policies:
            self.policies.load_static(self.routing.policies)
        try:
            return self._loop(once)
        finally:
            self.pool.close()               # QUIT the connections kept
            if self.policies is policy_mod.TABLE:
                self.policies.bind(time.time)      # (the queue may be closed after)

    def _loop(self, once: bool) -> list:
        outcomes: list = []
        seen: set = set()
        running: dict = {}          # future -> entry id
        pickups = self.concurrency + overlap(self.concurrency)
        per_destination = self.per_destination + overlap(self.per_destination)
        with ThreadPoolExecutor(pickups, thread_name_prefix="hsl-queue") as pool:
            pending: list = []          # due entries of the last scan, not yet started
            scanned = float("-inf")
            while not self.stop.is_set():
                now = self.clock.now()
                self.pool.close_idle()
                # Scanning the spool costs a read per entry: scan again only when the
                # last scan's due entries are all started, or every POLL seconds.
                if not pending or self._fresh.is_set() or \
                        time.monotonic() - scanned >= POLL:
                    self._fresh.clear()
                    self.queue.refresh()        # batches hsl serve committed meanwhile
                    pending = self.queue.due(now)
                    scanned = time.monotonic()
                entries, pending = pending, []
                started = False
                for i, entry in enumerate(entries):
                    if len(running) >= pickups:
                        pending += entries[i:]
                        break
                    if entry.id in running.values() or (once and entry.id in seen):
                        continue
                    facts = self._facts(entry)
                    until = None if entry.bounce else self.policies.blocked(facts)
                    if until is not None:           # suspended: due when that ends
                        self._blocked[entry.id] = until
                        continue
                    destination = self._destination(entry)
                    with self._lock:
                        if self._busy.get(destination, 0) >= per_destination:
                            pending.append(entry)
                            continue
                        token, until = self.policies.acquire(facts)
                        if token is None:   # a policy: its rate's time, or a pickup's end
                            if until is not None:
                                self._blocked[entry.id] = until
                            continue
                        self._busy[destination] = self._busy.get(destination, 0) + 1
                    self._blocked.pop(entry.id, None)
                    seen.add(entry.id)
                    with self._lock:
                        self._attempting.add(entry.id)
                    future = pool.submit(self._pickup, entry, destination, token)
                    future.add_done_callback(lambda _: self.wake.set())
                    running[future] = entry.id
                    started = True
                if running:
                    # a pickup finishing or new copies (notify) end the wait
                    self.wake.wait(POLL)
                    self.wake.clear()
                    for future in [f for f in running if f.done()]:
                        entry_id = running.pop(future)
                        outcome = future.result()
                        if outcome is SKIPPED:
                            seen.discard(entry_id)      # (due again when it ends)
                        elif outcome is not None:
                            outcomes.append(outcome)
                    continue
                if started:
                    continue
                if once:
                    break
                upcoming = self._next_due()
                if upcoming is None:
                    if self.clock.virtual:
                        break
                    self._sleep(POLL)
                    continue
                if self.clock.virtual:
                    self.clock.advance(max(0.0, upcoming - now))
                else:
                    self._sleep(min(POLL, max(0.0, upcoming - now)))
        return outcomes

    def _sleep(self, seconds: float) -> None:
        """Wait on the wall clock until `seconds` pass, or notify() or shutdown()."""
        if not self._fresh.is_set():
            self.clock.wait(seconds, self.wake)
        self.wake.clear()

    # -- one pickup ---------------------------------------------------------------

    def _next_due(self) -> Optional[float]:
        """When the next entry that is not held becomes due (None: there is none)."""
        self.queue.refresh()
        times = [max(e.next, self._blocked.get(e.id, e.next))
                 for e in self.queue.entries() if not e.done and not e.hold]
        return min(times) if times else None

    def _destination(self, entry) -> str:
        """What the per-destination limit counts: the fixed next hop, else the
        recipient's domain (its MX hosts)."""
        destination = self.routing.transport(entry.transportid).destination
        if destination == "mx":
            destination = "mx:" + entry.recipient.rpartition("@")[2].lower()
        return destination

    def _facts(self, entry) -> dict:
        """What suspensions and policies match the entry on (hsl/queue/policy.py)."""
        transport = self.routing.transport(entry.transportid)
        facts = policy_mod.entry_facts(entry, transport, self._connections.get(entry.id))
        if facts.get("grouping") is None:       # (before an attempt: the fixed next hop)
            facts["grouping"] = self._grouping(entry, facts.get("remotemx"),
                                               facts.get("remoteip"))
        return facts

    def _grouping(self, entry, remotemx, remoteip):
        """The copy's queue grouping (hsl/queue/grouping.py; the envelope's wins)."""
        given = entry.envelope.get("grouping")
        if isinstance(given, str) and given:
            return given
        return self.routing.grouping.of(entry.recipient.rpartition("@")[2].lower(),
                                        remotemx, remoteip)

    def _pickup(self, entry, destination: str, token=None) -> Optional[Outcome]:
        # The attempt slot is held from here until postdelivery has decided (so that what
        # a hook does, a queue_suspend() say, is seen by the next pickup); the spool
        # writes that apply the decision happen after it is given back.
        release = self._take_slot(destination)
        try:
            until = None if entry.bounce else self.policies.blocked(self._facts(entry))
            if until is not None:       # suspended while it waited for its slot
                self._blocked[entry.id] = until
                return SKIPPED
            return self._attempt(entry, destination, release, token)
        except Exception as e:     # a bug must not stop the queue: the entry waits
            log.exception("queue: pickup of %s failed: %s: %s", entry.id,
                          type(e).__name__, e)
            try:
                now = self.clock.now()
                self.queue.update(entry, next=now + ERROR_DELAY,
                                  last={"time": now, "outcome": f"internal error: {e}"})
            except Exception:
                pass                # (gone, or the disk refuses: it stays due)
            return None
        finally:
            release()
            self.policies.release(token)
            with self._lock:
                self._busy[destination] -= 1
                self._attempting.discard(entry.id)
            self.wake.set()

    def _take_slot(self, destination: str) -> Callable[[], None]:
        """Wait for a free attempt slot for `destination` (its own first, so that a
        pickup waiting for a busy destination holds none of the others); the function
        that gives it back (once)."""
        with self._lock:
            mine = self._destination_slots.get(destination)
            if mine is None:
                mine = self._destination_slots[destination] = \
                    threading.BoundedSemaphore(self.per_destination)
        mine.acquire()
        self._slots.acquire()
        held = [True]

        def release() -> None:
            if held:
                held.clear()
                self._slots.release()
                mine.release()
        return release

    def busy(self, entry_id: str) -> bool:
        """Whether `entry_id` is being picked up now (the control channel asks)."""
        with self._lock:
            return entry_id in self._attempting

    def _attempt(self, entry, destination: str, release: Callable[[], None],
                 token=None) -> Outcome:
        transport = self.routing.transport(entry.transportid)
        schedule = transport.schedule
        message = entry.message_bytes()
        view = hooks_mod.EntryView.from_entry(entry, message, serverid=self.serverid)
        outcome = Outcome(entry.id, entry.recipient, entry.transportid, destination,
                          "", entry.retry, queued=entry.ts)
        pre = None
        if entry.bounce:
            pre = hooks_mod.QueueDecision("bounce")     # hsl queue bounce ID
        elif self.hooks.predelivery is not None:
            pre = hooks_mod.run_predelivery(self.hooks.predelivery, view,
                                            policies=self.policies)
            outcome.output += pre.output
            if pre.error:
                outcome.error = pre.error
            if pre.metadata is not None:
                view.metadata = dict(pre.metadata)
        decided = pre.action if pre is not None else "try"
        options = dict(pre.options) if pre is not None else {}
        attempt = None
        expired = False
        if decided == "try":
            settings = {**transport.settings, **options}
            started = time.monotonic()
            if settings.get("plugin") is not None:
                attempt = self._plugin_attempt(entry, settings["plugin"])
            else:
                attempt = deliver.attempt(message, entry.sender, entry.recipient,
                                          settings, pool=self.pool)
            outcome.duration = time.monotonic() - started
            outcome.attempt = attempt.to_json()
            if attempt.facts is not None:       # remotemx/remoteip/localip for policies
                f = attempt.facts
                self._connections[entry.id] = {
                    "remotemx": f.remotemx, "remoteip": f.remoteip, "localip": f.localip,
                    "grouping": self._grouping(entry, f.remotemx, f.remoteip)}
            # The default action (hooks.md §2): one rule for the runner and hsl test.
            action, expired = hooks_mod.default_action(view, outcome.attempt, schedule)
            if action is None:
                # Done before anything else runs; its files go after postdelivery.
                self.queue.mark_done(entry, "delivered", remove=False)
        else:
            action = decided.upper()
        post = None
        if self.hooks.postdelivery is not None:
            facts = self._facts(entry)
            post = hooks_mod.run_postdelivery(
                self.hooks.postdelivery, view,
                attempt.to_hsl() if attempt is not None else None,
                action=action, expired=expired,
                context=pre.context if pre is not None and pre.context is not None
                else None, policies=self.policies,
                dsn=hooks_mod.dsn_arguments(outcome.attempt, action, expired),
                grouping=facts.get("grouping"),
                policy=self.policies.applied(token, facts) if attempt is not None
                else None)
            outcome.output += post.output
            if post.error:
                outcome.error = post.error
            if post.metadata is not None:
                view.metadata = dict(post.metadata)
            if post.action != "default":     # (never after a delivery: delivery.py)
                action, options = post.action.upper(), dict(post.options)
        release()
        if action is None:
            outcome.action = "delivered"
            self.queue.remove_finished(entry)
        else:
            self._apply(entry, action, options, outcome, view, attempt, expired, transport)
        if entry.done:
            self._connections.pop(entry.id, None)
            self._blocked.pop(entry.id, None)
        self._report(outcome)
        return outcome

    def _plugin_attempt(self, entry, plugin: dict):
        """The canned attempt of a delivery plugin: its outcome for this attempt (the
        retry counter picks one of `attempts`, the last repeats).  An undeclared id is a
        config error of the attempt (temporary: the entry is requeued), logged."""
        pid = str(plugin.get("id"))
        outcomes = self.delivery_plugins.get(pid)
        if not outcomes:
            a = deliver.plugin_attempt(pid, {"error": {"message": ""}})
            a.error_type = "config"
            a.error_message = (f"Try() option plugin: no delivery plugin {pid!r} is "
                               "declared (a --plugins file declares them under delivery:)")
            log.warning("queue: %s: %s", entry.id, a.error_message)
            return a
        return deliver.plugin_attempt(pid, outcomes[min(entry.retry, len(outcomes) - 1)])

    def _apply(self, entry, action: str, options: dict, outcome: Outcome, view, attempt,
               expired: bool, transport) -> None:
        now = self.clock.now()
        outcome.action = action.lower()
        if action == "QUEUE":
            retry, delay, notify = transport.schedule.requeue(entry.retry, options)
            fields = {"retry": retry, "next": now + float(delay),
                      "metadata": view.metadata,
                      "last": {"time": now, "outcome": _last(attempt, options)}}
            if options.get("hold"):
                fields["hold"] = True
                outcome.action = "hold"
            if options.get("transportid"):
                fields["transportid"] = options["transportid"]
            self.queue.update(entry, **fields)
            outcome.retry, outcome.next = retry, fields["next"]
            if notify and dsn_mod.dsn_due(entry.envelope, "delayed"):
                self.queue.notify_delayed(entry, self._dsn(entry, "delayed", attempt,
                                                           options, transport, now))
                outcome.dsn = "delayed"
        elif action == "BOUNCE":
            report = None
            if dsn_mod.dsn_due(entry.envelope, "failed"):
                report = self._dsn(entry, "failed", attempt, options, transport, now,
                                   expired=expired)
                outcome.dsn = "failed"
            self.queue.mark_done(entry, "bounced", dsn=report)  # the DSN, then the marker
        elif action == "DELETE":
            self.queue.mark_done(entry, "deleted")

    def _dsn(self, entry, kind: str, attempt, options: dict, transport, now: float,
             expired: bool = False):
        """The DSN's spool copy (the store commits it and names the original)."""
        build = dict(action=kind, expired=expired,
                     attempt=attempt.to_json() if attempt is not None else None,
                     reporting_mta=self.hostname, now=now,
                     transportid=transport.dsn_transport,
                     retry_until=transport.schedule.until(entry.retry, now)
                     if kind == "delayed" else None)
        try:
            return dsn_mod.dsn_copy(entry.envelope, entry.message_bytes(),
                                    options=options.get("dsn") or {}, **build)
        except ValueError as e:     # Bounce()'s dsn options: the report without them
            log.warning("queue: %s: DSN options not used: %s", entry.id, e)
            return dsn_mod.dsn_copy(entry.envelope, entry.message_bytes(), **build)

    def _report(self, outcome: Outcome) -> None:
        """One log line per pickup, the metrics, the caller's callback."""
        outcome.time = self.clock.now()
        if self.metrics is not None:
            self.metrics.attempt(outcome)
        log.info("queue: %s", json.dumps(outcome.to_json(), default=str))
        if self.on_outcome is not None:
            self.on_outcome(outcome)


def _last(attempt, options: dict) -> str:
    """A short text of why an entry waits, for hsl queue list/show."""
    if attempt is None:
        return "queued by a hook" + (f": {options['reason']}" if options.get("reason")
                                     else "")
    got = attempt.to_json()
    result, error = got.get("result") or {}, got.get("error") or {}
    if result.get("code"):
        return f"{result['code']} " + " ".join(result.get("reason") or [])
    return error.get("message", "")
