"""The queue-policy table: what `queue_suspend`, `queue_policy`, `queue_policy_delete`
and `queue_quota` act on (builtins.md "Shared memory, server state, queue"), and what the
queue runner asks before it picks an entry up.

    table = PolicyTable(clock)                  # clock() -> Unix time (the run's)
    table.suspend({"recipientdomain": "example.org"}, 600)      -> description
    table.policy(["remotemx"], {"transportid": "mx"}, {"rate": (10, 60)}, 3600)
    table.delete_policy(id)                     -> bool
    table.quota("outbound")                     -> {"count": n, "bytes": b}
    table.blocked(facts)        -> None, or until when a suspension stops pickup
    table.acquire(facts)        -> (token, None) | (None, retry_at or None); release(token)

An entry's `facts` (entry_facts) are the fields suspensions and policies match on:
`transportid`, `recipientdomain` (lowercase), `jobid`, `tenantid` and `grouping` (its
envelope's, when it has them), `remotemx`, `remoteip`, `localip` (of its last attempt's
connection; before one, the transport's fixed next hop as remotemx, and as remoteip when
it is an address).

* A **suspension** matches an entry when each of its fields equals the entry's fact
  (hosts and domains compare without case; a fact the entry does not have never
  matches); until its ttl passes (on the run's clock) the runner does not pick matching
  entries up, and they become due when it ends (an operator's `hsl queue bounce` is not
  held back).  Suspending the same fields again
  refreshes the ttl (and the tag), unless `update` is false: then it is left as it was.
* A **policy** counts attempts per counter: the values of its `fields` for the entries
  its `condition` (fields => values, matched as a suspension) matches.  `concurrency` N:
  at most N attempts of one counter at once; `rate` [messages, seconds]: at most that
  many started in any `seconds`, the next one waits until the oldest is that old.  The
  same fields and condition again replace its limits and ttl (unless `update` is
  false).
* A **quota** is the count and bytes of the queued entries (not done) whose `quotas`
  (EOD's queue() option) name it, from the queue the table is bound to (`bind_queue`).

UNSPECIFIED (our decisions, the Halon docs leave them open): field values are strings
compared exactly (hosts and domains without case); the ids are "s-N" (suspensions)
and "p-N" (policies), the same fields (and condition) keeping their id; a ttl must be a
number > 0 (else the builtin returns none); an unknown field name makes the call return
none; without a queue bound (hsl run, hsl serve without --queue) every quota is
{"count": 0, "bytes": 0} and suspensions and policies are kept in memory for the
process, matching nothing; with `once` a rate-limited entry waits for the next run.

`TABLE` is the process's table: the builtins act on it unless the running queue hook
says otherwise (the runner hands its own table to the hooks it runs), and a runner
without a table of its own binds it to its clock and queue.
"""
from __future__ import annotations

import ipaddress
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Optional

FIELDS = ("transportid", "localip", "remoteip", "remotemx", "recipientdomain", "jobid",
          "grouping", "tenantid")
_NO_CASE = {"remotemx", "recipientdomain"}


def _norm(name: str, value: str) -> str:
    return value.lower() if name in _NO_CASE else value


@dataclass
class Suspension:
    id: str
    fields: dict
    until: float
    ttl: float
    tag: Optional[str] = None

    def describe(self, now: float) -> dict:
        out = {"id": self.id, "fields": dict(self.fields), "ttl": self.ttl,
               "expires": self.until}
        if self.tag is not None:
            out["tag"] = self.tag
        return out


@dataclass
class Policy:
    id: str
    fields: tuple
    condition: dict
    until: float
    ttl: float
    concurrency: Optional[int] = None
    rate: Optional[tuple] = None            # (messages, seconds)
    tag: Optional[str] = None
    running: dict = field(default_factory=dict)     # counter -> attempts at once
    started: dict = field(default_factory=dict)     # counter -> deque of start times

    def describe(self, now: float) -> dict:
        out = {"id": self.id, "fields": list(self.fields),
               "condition": dict(self.condition), "ttl": self.ttl, "expires": self.until}
        if self.concurrency is not None:
            out["concurrency"] = self.concurrency
        if self.rate is not None:
            out["rate"] = list(self.rate)
        if self.tag is not None:
            out["tag"] = self.tag
        return out


def _matches(wanted: dict, facts: dict) -> bool:
    for name, value in wanted.items():
        fact = facts.get(name)
        if fact is None or _norm(name, str(fact)) != value:
            return False
    return True


class PolicyTable:
    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._lock = threading.Lock()
        self._suspensions: dict = {}        # frozenset(fields) -> Suspension
        self._policies: dict = {}           # id -> Policy
        self._ids = itertools.count(1)
        self._quota: Optional[Callable[[str], tuple]] = None

    # -- binding to a run -----------------------------------------------------------

    def bind(self, clock: Callable[[], float], queue=None) -> None:
        """Use the run's clock, and its queue for quotas (None: every quota is 0)."""
        self.clock = clock
        self._quota = None if queue is None else (lambda name: _quota_of(queue, name))

    # -- what the builtins do ---------------------------------------------------------

    def suspend(self, fields: dict, ttl: float, *, tag: Optional[str] = None,
                update: bool = True) -> dict:
        fields = {k: _norm(k, v) for k, v in fields.items()}
        now = self.clock()
        with self._lock:
            self._expire(now)
            key = frozenset(fields.items())
            found = self._suspensions.get(key)
            if found is None:
                found = self._suspensions[key] = Suspension(
                    f"s-{next(self._ids)}", fields, now + ttl, ttl, tag)
            elif update:
                found.until, found.ttl = now + ttl, ttl
                if tag is not None:
                    found.tag = tag
            return found.describe(now)

    def policy(self, fields: list, condition: dict, limits: dict, ttl: float, *,
               update: bool = True) -> dict:
        condition = {k: _norm(k, v) for k, v in condition.items()}
        now = self.clock()
        with self._lock:
            self._expire(now)
            for p in self._policies.values():
                if p.fields == tuple(fields) and p.condition == condition:
                    if update:
                        p.until, p.ttl = now + ttl, ttl
                        p.concurrency, p.rate = limits.get("concurrency"), limits.get("rate")
                        p.tag = limits.get("tag", p.tag)
                    return p.describe(now)
            p = Policy(f"p-{next(self._ids)}", tuple(fields), condition, now + ttl, ttl,
                       limits.get("concurrency"), limits.get("rate"), limits.get("tag"))
            self._policies[p.id] = p
            return p.describe(now)

    def delete_policy(self, pid: str) -> bool:
        with self._lock:
            self._expire(self.clock())
            return self._policies.pop(pid, None) is not None

    def quota(self, name: str) -> dict:
        count, size = self._quota(name) if self._quota is not None else (0, 0)
        return {"count": count, "bytes": size}

    # -- what the runner asks -----------------------------------------------------------

    def blocked(self, facts: dict) -> Optional[float]:
        """Until when a suspension stops the pickup of an entry with these facts (the
        latest of those that match), or None."""
        now = self.clock()
        with self._lock:
            self._expire(now)
            ends = [s.until for s in self._suspensions.values()
                    if _matches(s.fields, facts)]
        return max(ends) if ends else None

    def acquire(self, facts: dict) -> tuple:
        """(token, None): the attempt may start (give the token to release() when it
        ends); (None, when): a policy holds it back, until `when` (a rate), or None
        (a concurrency limit: until an attempt of its counter ends)."""
        now = self.clock()
        with self._lock:
            self._expire(now)
            counted = []
            for p in self._policies.values():
                if not _matches(p.condition, facts):
                    continue
                counter = tuple(_norm(f, str(facts.get(f))) for f in p.fields)
                if p.concurrency is not None and \
                        p.running.get(counter, 0) >= p.concurrency:
                    return None, None
                if p.rate is not None:
                    messages, seconds = p.rate
                    starts = p.started.setdefault(counter, deque())
                    while starts and starts[0] <= now - seconds:
                        starts.popleft()
                    if len(starts) >= messages:
                        return None, starts[0] + seconds
                counted.append((p, counter))
            for p, counter in counted:
                p.running[counter] = p.running.get(counter, 0) + 1
                if p.rate is not None:
                    p.started[counter].append(now)
            return counted, None

    def release(self, token) -> None:
        with self._lock:
            for p, counter in token or ():
                n = p.running.get(counter, 0) - 1
                if n > 0:
                    p.running[counter] = n
                else:
                    p.running.pop(counter, None)

    def _expire(self, now: float) -> None:
        for key in [k for k, s in self._suspensions.items() if s.until <= now]:
            del self._suspensions[key]
        for pid in [i for i, p in self._policies.items() if p.until <= now]:
            del self._policies[pid]


def _quota_of(queue, name: str) -> tuple:
    count = size = 0
    for e in queue.entries():
        if not e.done and name in (e.envelope.get("quotas") or ()):
            count += 1
            size += e.size
    return count, size


def entry_facts(entry, transport, connection: Optional[dict] = None) -> dict:
    """The fields suspensions and policies match an entry on (see the module docstring);
    `connection` is its last attempt's (remotemx, remoteip, localip)."""
    env = entry.envelope
    facts = {"transportid": entry.transportid,
             "recipientdomain": entry.recipient.rpartition("@")[2].lower(),
             "jobid": env.get("jobid"), "tenantid": env.get("tenantid"),
             "grouping": env.get("grouping")}
    host = transport.settings.get("host")
    if host:
        facts["remotemx"] = host
        try:
            facts["remoteip"] = str(ipaddress.ip_address(host.strip("[]")))
        except ValueError:
            pass
    for key, value in (connection or {}).items():
        if value is not None:
            facts[key] = value
    return facts


TABLE = PolicyTable()
