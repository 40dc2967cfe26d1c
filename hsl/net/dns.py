"""DNS for the builtins that need it (dns_query, spf_query, DKIM, and the host names that
http() and the SMTP client connect to): one process-wide backend.

* `DnsPythonBackend` (the default) asks real resolvers through dnspython: the system's
  (/etc/resolv.conf) or the given servers ("192.0.2.53", "192.0.2.53:5353",
  "[2001:db8::53]:53"), with an answer cache per set of servers.
* `MockBackend` answers from a table, for offline runs and tests: a name that is not in
  the table is NXDOMAIN, a type that is not listed for a name is an empty answer (NODATA).

Answers are records as text, the way dns_query returns them (see `format_rdata`), or an
error name: NXDOMAIN, SERVFAIL, TRY_AGAIN (timeout, no resolver answered), REFUSED,
FORMERR (also: a name that is not a valid DNS name), NOTIMP, YXDOMAIN.

`query()` asks the backend as it is (hsl serve's own lookups); builtins use `lookup()`
(or `query_in_run()`), which waits on an hsl.net.clock.Clock: never past the run's time
limit, and a cancelled run stops while a name resolves.
"""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

from ..runtime import execution as _execution
from .clock import Clock

# Record types a query may ask for (dns_query's "type" option, lowercase).
TYPES = ("a", "aaaa", "mx", "txt", "cname", "ns", "ptr", "soa", "srv", "tlsa", "caa")
DEFAULT_TIMEOUT = 5.0


@dataclass
class Answer:
    records: list = field(default_factory=list)   # str records; empty for NODATA
    error: Optional[str] = None                     # set: records is empty
    dnssec: bool = False                            # the answer was DNSSEC-validated (AD)


def normalize(name: str) -> str:
    return name.rstrip(".").lower()


class MockBackend:
    """`table`: {name: {type: [records]} or an error name}; names are case-insensitive
    and may end with a dot; types are lowercase (see TYPES)."""

    def __init__(self, table: dict):
        self.table = {}
        for name, entry in table.items():
            if isinstance(entry, str):
                self.table[normalize(name)] = entry.upper()
            else:
                self.table[normalize(name)] = {str(t).lower(): [str(r) for r in records]
                                               for t, records in entry.items()}
        self.queries: list = []         # (name, type) asked, in order (for tests)

    BLOCKS = False                      # answers at once: no helper thread to wait on

    def query(self, name: str, rdtype: str, timeout: float,
              servers: Optional[list] = None) -> Answer:
        self.queries.append((normalize(name), rdtype))
        entry = self.table.get(normalize(name))
        if entry is None:
            return Answer(error="NXDOMAIN")
        if isinstance(entry, str):
            return Answer(error=entry)
        return Answer(records=list(entry.get(rdtype, [])))


def format_rdata(rdtype: str, rdata) -> str:
    """One record as text: addresses as text, names without the final dot, MX as
    "preference host", TXT as its strings joined (bytes kept as they are, through
    surrogateescape), SRV as "priority weight port target", SOA as "mname rname serial
    refresh retry expire minimum", anything else in its zone-file form."""
    if rdtype in ("a", "aaaa"):
        return rdata.address
    if rdtype in ("cname", "ns", "ptr"):
        return rdata.target.to_text(omit_final_dot=True)
    if rdtype == "mx":
        return f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True)}"
    if rdtype == "txt":
        return b"".join(rdata.strings).decode("utf-8", "surrogateescape")
    if rdtype == "srv":
        return (f"{rdata.priority} {rdata.weight} {rdata.port} "
                f"{rdata.target.to_text(omit_final_dot=True)}")
    if rdtype == "soa":
        return (f"{rdata.mname.to_text(omit_final_dot=True)} "
                f"{rdata.rname.to_text(omit_final_dot=True)} {rdata.serial} "
                f"{rdata.refresh} {rdata.retry} {rdata.expire} {rdata.minimum}")
    return rdata.to_text()


def _server(spec: str):
    """("ip", port) from "ip", "ip:port", "[v6]" or "[v6]:port"."""
    spec = spec.strip()
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 53
    if spec.count(":") == 1:
        host, port = spec.split(":")
        return host, int(port)
    return spec, 53


class DnsPythonBackend:
    BLOCKS = True                       # waits for servers: lookup() waits in slices

    def __init__(self, servers: Optional[list] = None):
        self.servers = list(servers or [])
        self._resolvers: dict = {}
        self._lock = threading.Lock()

    def _resolver(self, servers: Optional[list]):
        import dns.resolver
        key = tuple(servers or self.servers)
        with self._lock:
            r = self._resolvers.get(key)
            if r is not None:
                return r
            if key:
                r = dns.resolver.Resolver(configure=False)
                r.nameservers = []
                for spec in key:
                    host, port = _server(spec)
                    r.nameservers.append(dns.nameserver.Do53Nameserver(host, port))
            else:
                try:
                    r = dns.resolver.Resolver(configure=True)
                except dns.resolver.NoResolverConfiguration:
                    r = dns.resolver.Resolver(configure=False)
                    r.nameservers = []
            r.cache = dns.resolver.LRUCache(10_000)    # per server set: answers differ
            # Ask for DNSSEC records so that a validating resolver sets AD.
            import dns.flags
            r.use_edns(0, dns.flags.DO, 1232)
            self._resolvers[key] = r
            return r

    def query(self, name: str, rdtype: str, timeout: float,
              servers: Optional[list] = None) -> Answer:
        import dns.exception
        import dns.flags
        import dns.name
        import dns.nameserver
        import dns.rdatatype
        import dns.resolver
        try:
            resolver = self._resolver(servers)
        except (ValueError, dns.exception.DNSException):
            return Answer(error="SERVFAIL")
        if not resolver.nameservers:
            return Answer(error="TRY_AGAIN")
        try:
            qname = dns.name.from_text(name)
        except dns.exception.DNSException:
            return Answer(error="FORMERR")
        try:
            answer = resolver.resolve(qname, dns.rdatatype.from_text(rdtype.upper()),
                                      lifetime=max(timeout, 0.001), search=False,
                                      raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN as e:
            # A validating resolver sets AD on an authenticated denial too.
            return Answer(error="NXDOMAIN", dnssec=_authenticated(e))
        except dns.resolver.YXDOMAIN:
            return Answer(error="YXDOMAIN")
        except dns.resolver.LifetimeTimeout:
            return Answer(error="TRY_AGAIN")
        except dns.resolver.NoNameservers as e:
            return Answer(error=_failure(e))
        except dns.exception.DNSException:
            return Answer(error="SERVFAIL")
        dnssec = bool(answer.response.flags & dns.flags.AD)
        if answer.rrset is None:
            return Answer(dnssec=dnssec)
        return Answer(records=[format_rdata(rdtype, rd) for rd in answer.rrset],
                      dnssec=dnssec)


def _authenticated(nxdomain) -> bool:
    """Whether every response behind an NXDOMAIN had the AD flag."""
    import dns.flags
    try:
        responses = list(nxdomain.responses().values())
    except (KeyError, TypeError, AttributeError):
        return False
    return bool(responses) and all(r.flags & dns.flags.AD for r in responses)


def _failure(error) -> str:
    """What "every resolver failed" means: the rcode they answered with when they agree
    (SERVFAIL, REFUSED, ...), TRY_AGAIN when none answered at all (unreachable)."""
    codes = set()
    for entry in (error.kwargs.get("errors") or []):
        # dnspython: (server, tcp, port, rcode text or exception, response)
        if isinstance(entry, tuple) and len(entry) >= 4 and isinstance(entry[3], str):
            codes.add(entry[3])
    if not codes:
        return "TRY_AGAIN"
    return codes.pop() if len(codes) == 1 else "SERVFAIL"


_backend = None
_backend_lock = threading.Lock()


def backend():
    """The process-wide backend (the system's resolvers unless configured)."""
    global _backend
    if _backend is None:
        with _backend_lock:
            if _backend is None:
                _backend = DnsPythonBackend()
    return _backend


def is_system() -> bool:
    """Whether lookups go to the system's resolvers (no --dns-server, no --dns-table)."""
    b = backend()
    return isinstance(b, DnsPythonBackend) and not b.servers


def configure(new_backend):
    """Use `new_backend` (a MockBackend, a DnsPythonBackend with servers, ...) for every
    later query in this process; returns the backend it replaces (None: the default one,
    not made yet), for putting it back."""
    global _backend
    with _backend_lock:
        old, _backend = _backend, new_backend
    return old


def query(name: str, rdtype: str = "a", timeout: float = DEFAULT_TIMEOUT,
          servers: Optional[list] = None) -> Answer:
    """Resolve `name` (a str; surrogateescape for raw bytes) for `rdtype` (see TYPES)."""
    return backend().query(name, rdtype, timeout, servers)


def lookup(name: str, rdtype: str, clock, timeout: float = DEFAULT_TIMEOUT,
           servers: Optional[list] = None) -> Answer:
    """query() bounded by `clock` (hsl.net.clock) and by `timeout` seconds: TRY_AGAIN at
    the clock's own deadline; at the run's time limit the run stops ("execution time limit
    exceeded") and a cancelled run stops while the name resolves ("interrupted")."""
    clock.poll()                        # the time may be up already
    timeout = clock.bound(timeout)
    end = clock.deadline(timeout)
    b = backend()
    if not getattr(b, "BLOCKS", True):  # a table answers at once
        answer = b.query(name, rdtype, timeout, servers)
    else:
        try:
            answer = clock.call(lambda: b.query(name, rdtype, timeout, servers), end,
                                "hsl-dns-query")
        except socket.timeout:
            answer = Answer(error="TRY_AGAIN")
    if answer.error == "TRY_AGAIN" and clock.is_run(end) and end - time.monotonic() < 0.05:
        # The lookup used up the time left (dnspython measures it with another clock):
        # the run ends as the limit says.
        clock.expire()
    clock.poll()                        # the time ran out during the lookup
    return answer


def addresses(name: str, clock, timeout: float = DEFAULT_TIMEOUT) -> Answer:
    """The IPv6 and IPv4 addresses of a host name (AAAA then A, both within `timeout`),
    for connecting to a host when lookups go to --dns-table or --dns-server rather than
    the system (see is_system()).  An error only when neither type has an answer."""
    part = clock.limited(timeout)
    v6 = lookup(name, "aaaa", part, timeout)
    v4 = lookup(name, "a", part, timeout)
    if v6.records or v4.records:
        return Answer(records=v6.records + v4.records)
    return Answer(error=v4.error or v6.error or "NXDOMAIN")


def query_in_run(name: str, rdtype: str = "a", timeout: float = DEFAULT_TIMEOUT,
                 servers: Optional[list] = None, what: str = "dns") -> Answer:
    """lookup() for a builtin of the running script on a clock of its own: the run is
    marked as blocking first (`what` names the reason: hsl serve moves a speculative run
    to a worker before it waits)."""
    _execution.blocking(what)
    return lookup(name, rdtype, Clock(), timeout, servers)
