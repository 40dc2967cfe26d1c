"""Routing and retry schedule: which transport a queued copy is delivered with, where that
transport connects, how often a temporary failure is retried and where bounces go.

It reads a project's `transportgroups` (hooks.md §5, checked for shape by hsl/project.py)
and the command line's `--transport ID=HOST:PORT`:

    transportgroups:
      - id: default
        retry: {count: 30, intervals: [{interval: 60}, {interval: 900, notify: true}]}
        dsn: {transport: mx}
        connection: {...}          # defaults for the group's transports
        session: {...}
        transports:
          - id: mx                                 # no server: MX lookup
          - id: inbound
            connection: {server: 10.0.0.5, port: 2525}
            session: {protocol: lmtp, helo: mx.example.org, tls: {mode: optional}}

`Routing.transport(id)` gives a Transport: its group's schedule plus the settings a
delivery attempt starts from (host, port, helo, protocol, tls, sourceip), which
predelivery's `Try()` options then override.

The schedule: after the n-th temporary failure (retry counter n, counting from 1) the
next attempt waits `intervals[n-1].interval` seconds; past the end of the list the last
interval repeats.  When the counter reaches `count` the copy has expired: postdelivery
sees `expired`, and the default action is BOUNCE.  An interval with `notify: true` sends
a delayed DSN when that retry is scheduled.

UNSPECIFIED (the Halon documentation gives no defaults we could verify): a group without
`retry` retries 30 times at 60 s, 5 min, 15 min, 30 min, 1 h (notify), then every 2 h; an
unknown transport id gets the group "default" (else the project's first group, else a
built-in one) with MX delivery; bounces go through the original's own transport's group's `dsn.transport`,
else the transport "mx".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

DEFAULT_COUNT = 30
DEFAULT_INTERVALS = ((60, False), (300, False), (900, False), (1800, False),
                     (3600, True), (7200, False))
DEFAULT_GROUP = "default"
DEFAULT_TRANSPORT = "mx"


class RoutingError(Exception):
    """A --transport option or a transport setting that cannot be used (names the place)."""


@dataclass(frozen=True)
class Schedule:
    count: int = DEFAULT_COUNT
    intervals: tuple = DEFAULT_INTERVALS        # ((seconds, notify), ...)

    def delay(self, retry: int) -> float:
        """Seconds to wait after the `retry`-th failed attempt (retry >= 1)."""
        i = min(max(retry, 1), len(self.intervals)) - 1
        return float(self.intervals[i][0])

    def notify(self, retry: int) -> bool:
        """Whether scheduling the retry after the `retry`-th failure sends a delayed DSN
        (only the listed intervals notify, not the repeats of the last one)."""
        return 1 <= retry <= len(self.intervals) and self.intervals[retry - 1][1]

    def until(self, retry: int, now: float) -> float:
        """When the last attempt is due, `retry` failures in (Will-Retry-Until)."""
        return now + sum(self.delay(k) for k in range(max(retry, 1), self.count))

    def expired(self, retry: int) -> bool:
        return retry >= self.count

    def requeue(self, retry: int, options: dict) -> tuple:
        """(retry counter, seconds to wait, whether a delayed DSN is due by the schedule)
        of `Queue(options)` on an entry `retry` failures in: `reset_retry`, else
        `increment_retry` (default true); `delay`, else the schedule's interval."""
        new = 0 if options.get("reset_retry") else \
            retry + 1 if options.get("increment_retry", True) else retry
        delay = options.get("delay")
        if delay is None:
            delay = self.delay(new)
        return new, delay, self.notify(new) and new > retry


@dataclass(frozen=True)
class Transport:
    id: str
    group: str
    schedule: Schedule
    dsn_transport: str
    settings: dict = field(default_factory=dict)    # deliver.attempt() options: host, port...

    @property
    def destination(self) -> str:
        """What the per-destination connection limit counts: the fixed next hop, or "mx"."""
        host = self.settings.get("host")
        return f"{host}:{self.settings.get('port', 25)}" if host else "mx"


def _settings(connection: dict, session: dict) -> dict:
    """A transport's `connection`/`session` configuration as attempt options."""
    out: dict = {}
    if connection.get("server") is not None:
        out["host"] = str(connection["server"])
    if connection.get("port") is not None:
        out["port"] = int(connection["port"])
    # `sourceip: {ipv4: [ids], ipv6: false}` picks the environment's addresses by id and
    # family: hsl has no address ids, so the mapping form leaves the machine's default
    # source (UNSPECIFIED); a list of addresses is kept, and checked by the attempt.
    if connection.get("sourceip") is not None and not isinstance(connection["sourceip"],
                                                                 dict):
        out["sourceip"] = connection["sourceip"]
    for key in ("helo", "protocol"):
        if session.get(key) is not None:
            out[key] = str(session[key])
    tls = session.get("tls")
    if isinstance(tls, dict):
        if tls.get("mode") is not None:
            out["tls"] = str(tls["mode"])
        for key in ("sni", "verify_name", "verify_host", "default_ca"):
            if tls.get(key) is not None:
                out["tls_" + key] = tls[key]
    auth = session.get("authentication")
    if isinstance(auth, dict) and auth.get("username") is not None:
        out["saslusername"] = str(auth["username"])
        out["saslpassword"] = str(auth.get("password", ""))
    return out


def _schedule(retry: dict) -> Schedule:
    if not retry:
        return Schedule()
    intervals = tuple((float(step["interval"]), bool(step.get("notify", False)))
                      for step in retry.get("intervals") or ())
    return Schedule(int(retry.get("count", DEFAULT_COUNT)), intervals or DEFAULT_INTERVALS)


def parse_transport_option(text: str) -> tuple:
    """`ID=HOST:PORT` (also `ID=HOST`, `ID=[v6]:PORT`, `ID=lmtp://HOST:PORT`) as
    (id, settings)."""
    tid, eq, target = text.partition("=")
    if not eq or not tid or not target:
        raise RoutingError(f"--transport {text!r}: expected ID=HOST:PORT")
    settings: dict = {}
    for scheme in ("lmtp", "smtp"):
        if target.startswith(scheme + "://"):
            settings["protocol"] = scheme
            target = target[len(scheme) + 3:]
    host, port = target, None
    if target.startswith("["):
        end = target.find("]")
        if end < 0:
            raise RoutingError(f"--transport {text!r}: unclosed [")
        host, rest = target[1:end], target[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise RoutingError(f"--transport {text!r}: expected :PORT after ]")
            port = rest[1:]
    elif target.count(":") == 1:
        host, port = target.split(":")
    if port is not None:
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise RoutingError(f"--transport {text!r}: bad port {port!r}")
        settings["port"] = int(port)
    if not host:
        raise RoutingError(f"--transport {text!r}: no host")
    settings["host"] = host
    return tid, settings


class Routing:
    """Transport ids -> Transport, from a project's transportgroups and --transport; and
    the project's queue grouping (`grouping`: a hsl.queue.grouping.Grouping) and static
    policies (`policies`: smtpd-policy.yaml's items, for PolicyTable.load_static)."""

    def __init__(self, transportgroups: Optional[list] = None,
                 overrides: Optional[dict] = None, grouping=None, policies=None):
        from .grouping import Grouping   # (plain data: no cost)
        self.grouping = grouping if grouping is not None else Grouping()
        self.policies = list(policies or ())
        self._transports: dict = {}
        self._default_group = (DEFAULT_GROUP, Schedule(), DEFAULT_TRANSPORT)
        first = True
        for group in transportgroups or ():
            gid = str(group["id"])
            schedule = _schedule(group.get("retry") or {})
            dsn = (group.get("dsn") or {}).get("transport") or DEFAULT_TRANSPORT
            # Unknown transport ids use the group "default", else the first group.
            if gid == DEFAULT_GROUP or first:
                self._default_group = (gid, schedule, str(dsn))
            first = False
            base_conn = group.get("connection") or {}
            base_session = group.get("session") or {}
            for t in group.get("transports") or ():
                conn = {**base_conn, **(t.get("connection") or {})}
                session = {**base_session, **(t.get("session") or {})}
                self._transports[str(t["id"])] = Transport(
                    str(t["id"]), gid, schedule, str(dsn), _settings(conn, session))
        for tid, settings in (overrides or {}).items():
            known = self._transports.get(tid)
            if known is None:
                gid, schedule, dsn = self._default_group
                known = Transport(tid, gid, schedule, dsn, {})
            merged = {k: v for k, v in known.settings.items() if k not in ("host", "port")}
            merged.update(settings)
            self._transports[tid] = Transport(known.id, known.group, known.schedule,
                                              known.dsn_transport, merged)

    def transport(self, tid: str) -> Transport:
        found = self._transports.get(tid)
        if found is not None:
            return found
        gid, schedule, dsn = self._default_group
        return Transport(tid, gid, schedule, dsn, {})

    def ids(self) -> list:
        return sorted(self._transports)
