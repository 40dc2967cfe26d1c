"""Queue groupings (smtpd-app.yaml `queues.grouping`): the value of a queued copy's
`grouping` field, which postdelivery gets as `$arguments["grouping"]` and which
suspensions and policies can match on.

    queues:
      grouping:
        default: recipientdomain        # or remotemx; absent: no grouping
        groupings:
          - id: google
            remotemx: ["*.google.com", "*.googlemail.com"]
          - id: local
            remoteip: ["127.0.0.0/8"]

A copy whose attempt went to an MX host matching a grouping's `remotemx` (a name, or
`*.domain` for any host below it) or to an address in its `remoteip` (addresses or
networks) is in that grouping, written `&ID` (the `&` marks a grouping id throughout the
queue); the first grouping that matches wins.  Otherwise the `default` field's value is
the grouping: the recipient's domain or the MX host.  Before an attempt has told which
host it went to, only the fixed next hop of the copy's transport (if any) is known.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Optional

DEFAULTS = ("recipientdomain", "remotemx")


@dataclass(frozen=True)
class Group:
    id: str
    remotemx: tuple = ()
    remoteip: tuple = ()            # ip_network objects


@dataclass(frozen=True)
class Grouping:
    default: Optional[str] = None
    groups: tuple = field(default_factory=tuple)

    @classmethod
    def from_config(cls, config: Optional[dict]) -> "Grouping":
        """From a checked `queues.grouping` mapping (hsl.project reads and checks it)."""
        config = config or {}
        groups = tuple(Group(str(g["id"]),
                             tuple(str(p).lower().rstrip(".") for p in g.get("remotemx") or ()),
                             tuple(ipaddress.ip_network(str(n), strict=False)
                                   for n in g.get("remoteip") or ()))
                       for g in config.get("groupings") or ())
        return cls(config.get("default"), groups)

    def of(self, recipientdomain: str, remotemx: Optional[str] = None,
           remoteip: Optional[str] = None) -> Optional[str]:
        """The grouping of a copy: `&ID`, the default field's value, or None."""
        mx = (remotemx or "").lower().rstrip(".")
        ip = _address(remoteip)
        for g in self.groups:
            if mx and any(host_matches(p, mx) for p in g.remotemx):
                return "&" + g.id
            if ip is not None and any(ip.version == n.version and ip in n
                                      for n in g.remoteip):
                return "&" + g.id
        if self.default == "recipientdomain":
            return recipientdomain or None
        if self.default == "remotemx":
            return mx or None
        return None


def host_matches(pattern: str, host: str) -> bool:
    """A host or domain against a pattern of the queue configuration (both lowercase):
    the name itself, or `*.domain` for any name below it (groupings and policies)."""
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def _address(text: Optional[str]):
    try:
        return ipaddress.ip_address((text or "").strip("[]"))
    except ValueError:
        return None
