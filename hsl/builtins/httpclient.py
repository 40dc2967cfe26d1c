"""HTTP(S) requests: http()."""
from __future__ import annotations

from .registry import unavailable

AREA = "network"
_IO = "performs network I/O, which hsl does not implement yet"
unavailable("http", "url, [options], [get], [post]", area=AREA, reason=_IO)
