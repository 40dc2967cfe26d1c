"""The addresses of a host to connect to (http() and the SMTP client).

A host is an IP address (used as it is) or a name.  A name is resolved with
--dns-table / --dns-server when they are given (hsl.net.dns, the backend dns_query uses:
AAAA then A), else by the system (getaddrinfo, as other programs on the machine do).
Either way the wait is the clock's (hsl.net.clock): bounded by its deadlines and by
`timeout`, and a cancelled run stops while the name resolves, which getaddrinfo itself
cannot do (it runs on a helper thread).
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Optional

from . import dns


class ResolveError(OSError):
    """The name has no address, or none came in time (the message says which).
    `kind`: "nxdomain" (no such name), "nodata" (no address) or "other" (the lookup
    failed or timed out), as a delivery attempt's `error.dns` classifies it."""

    def __init__(self, message: str, kind: str = "other"):
        super().__init__(message)
        self.kind = kind


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def family(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def addresses(host: str, port: int, clock, timeout: Optional[float] = None) -> list:
    """[(family, sockaddr)] for connecting to `host` at `port`, in the resolver's order
    and without repeats; ResolveError when there is none."""
    if is_ip(host):
        return [(family(host), (host, port))]
    if not dns.is_system():
        answer = dns.addresses(host, clock, dns.DEFAULT_TIMEOUT if timeout is None
                               else timeout)
        if answer.error is not None:
            raise ResolveError(f"cannot resolve {host}: {answer.error}",
                               "nxdomain" if answer.error == "NXDOMAIN" else "other")
        return [(family(a), (a, port)) for a in dict.fromkeys(answer.records)]
    try:
        infos = clock.call(lambda: socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM),
                           clock.deadline(timeout), "hsl-getaddrinfo")
    except socket.timeout:
        raise ResolveError(f"looking up {host} timed out") from None
    except OSError as e:
        code = e.errno if isinstance(e, socket.gaierror) else None
        kind = ("nxdomain" if code == socket.EAI_NONAME
                else "nodata" if code == getattr(socket, "EAI_NODATA", None) else "other")
        raise ResolveError(f"cannot resolve {host}: "
                           f"{e.strerror or str(e) or type(e).__name__}", kind) from None
    out = {}
    for fam, _, _, _, addr in infos:
        out.setdefault(addr[0], (fam, addr))
    return list(out.values())
