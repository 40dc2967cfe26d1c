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
* **Static policies** (a project's `smtpd-policy.yaml`, `load_static`): each one a counter
  over its `fields` (none: one counter for everything); the first of its `conditions`
  whose `if` matches the entry (each field: a value or a list of values; hosts and
  domains also `*.domain`) gives its limits (`then`), else its `default`; limits are
  `concurrency`, `rate` ("N/SECONDS"), `tag` and `properties`, and are enforced as a
  dynamic policy's.  postdelivery's `$arguments["policy"]` (`applied`) lists the static
  policies that applied to the attempt (`fields`, `properties` as text, `tags` and
  `dynamic`: the dynamic policies on the same fields that matched) and every tag.
  UNSPECIFIED from the docs, shown by halon-extras/backoff: property values reach the
  script as strings, and queue_policy()/queue_suspend() take numeric strings for a ttl,
  a rate's numbers and a concurrency.
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

from .grouping import host_matches

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


@dataclass
class StaticPolicy:
    fields: tuple
    conditions: tuple                       # ((if: {field: (values,)}, Limits), ...)
    default: Optional["Limits"] = None
    running: dict = field(default_factory=dict)
    started: dict = field(default_factory=dict)

    def limits(self, facts: dict) -> Optional["Limits"]:
        for wanted, limits in self.conditions:
            if all(any(_value_matches(name, v, facts.get(name)) for v in values)
                   for name, values in wanted.items()):
                return limits
        return self.default


@dataclass(frozen=True)
class Limits:
    concurrency: Optional[int] = None
    rate: Optional[tuple] = None            # (messages, seconds)
    tag: Optional[str] = None
    properties: dict = field(default_factory=dict)


def _value_matches(name: str, pattern: str, fact) -> bool:
    if fact is None:
        return False
    fact, pattern = _norm(name, str(fact)), _norm(name, pattern)
    return host_matches(pattern, fact) if name in _NO_CASE else fact == pattern


def _property(value) -> str:
    """A property as scripts get it: text (halon-extras/backoff compares
    str_lower($p["backoff-suspendable"]) with "true" and passes "3600" as a ttl)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def limits_of(spec: Optional[dict]) -> Optional[Limits]:
    """Limits of a checked `then`/`default` mapping (hsl.project checks them)."""
    if spec is None:
        return None
    rate = spec.get("rate")
    if isinstance(rate, str):
        messages, _, seconds = rate.partition("/")
        rate = (float(messages), float(seconds))
    return Limits(spec.get("concurrency"), rate, spec.get("tag"),
                  dict(spec.get("properties") or {}))


class PolicyTable:
    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._lock = threading.Lock()
        self._static: tuple = ()            # StaticPolicy, from smtpd-policy.yaml
        self._suspensions: dict = {}        # frozenset(fields) -> Suspension
        self._policies: dict = {}           # id -> Policy
        self._ids = itertools.count(1)
        self._quota: Optional[Callable[[str], tuple]] = None

    # -- binding to a run -----------------------------------------------------------

    def bind(self, clock: Callable[[], float], queue=None) -> None:
        """Use the run's clock, and its queue for quotas (None: every quota is 0)."""
        self.clock = clock
        self._quota = None if queue is None else (lambda name: _quota_of(queue, name))

    def load_static(self, policies) -> None:
        """The static policies (checked `smtpd-policy.yaml` items: fields, conditions,
        default), replacing those loaded before."""
        static = []
        for item in policies or ():
            conditions = tuple(
                ({k: tuple(v if isinstance(v, list) else [v]) for k, v in
                  (c.get("if") or {}).items()}, limits_of(c.get("then") or {}))
                for c in item.get("conditions") or ())
            static.append(StaticPolicy(tuple(item.get("fields") or ()), conditions,
                                       limits_of(item.get("default"))))
        with self._lock:
            self._static = tuple(static)

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
            limited = [(p, p) for p in self._policies.values() if _matches(p.condition, facts)]
            for sp in self._static:
                limits = sp.limits(facts)
                if limits is not None:
                    limited.append((sp, limits))
            for p, limits in limited:
                counter = tuple(_norm(f, str(facts.get(f))) for f in p.fields)
                if limits.concurrency is not None and \
                        p.running.get(counter, 0) >= limits.concurrency:
                    return None, None
                if limits.rate is not None:
                    messages, seconds = limits.rate
                    starts = p.started.setdefault(counter, deque())
                    while starts and starts[0] <= now - seconds:
                        starts.popleft()
                    if len(starts) >= messages:
                        return None, starts[0] + seconds
                counted.append((p, counter, limits))
            for p, counter, limits in counted:
                p.running[counter] = p.running.get(counter, 0) + 1
                if limits.rate is not None:
                    p.started[counter].append(now)
            return [(p, counter) for p, counter, _ in counted], None

    def applied(self, token, facts: dict) -> dict:
        """postdelivery's `$arguments["policy"]` for a pickup's `token`: the static
        policies that applied, each with the dynamic ones on its fields that matched."""
        token = token or []
        dynamic = [p for p, _ in token if isinstance(p, Policy)]
        policies, tags = [], []
        for sp, _ in token:
            if not isinstance(sp, StaticPolicy):
                continue
            limits = sp.limits(facts) or Limits()
            mine = [d for d in dynamic if d.fields == sp.fields]
            own = [t for t in [limits.tag] + [d.tag for d in mine] if t is not None]
            entry = {"fields": list(sp.fields),
                     "properties": {k: _property(v) for k, v in limits.properties.items()},
                     "dynamic": [{"id": d.id, **({"tag": d.tag} if d.tag else {})}
                                 for d in mine]}
            if own:
                entry["tags"] = own
            policies.append(entry)
            tags += [t for t in own if t not in tags]
        for d in dynamic:
            if d.tag is not None and d.tag not in tags:
                tags.append(d.tag)
        return {"tags": tags, "policies": policies}

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
