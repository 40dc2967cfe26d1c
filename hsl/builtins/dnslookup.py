"""DNS lookups (builtins.md "DNS and network"): dns_query, on hsl.resolver."""
from __future__ import annotations

from .registry import unavailable

AREA = "network"
_IO = "performs network I/O, which hsl does not implement yet"
unavailable("dns_query", "host, [options]", area=AREA, reason=_IO)
