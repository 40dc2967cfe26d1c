"""SPF (RFC 7208) evaluation: spf_query, on hsl.resolver."""
from __future__ import annotations

from .registry import unavailable

AREA = "network"
_IO = "performs network I/O, which hsl does not implement yet"
unavailable("spf_query", "ip, helo, sender", area=AREA, reason=_IO)
