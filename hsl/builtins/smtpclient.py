"""SMTP probes: smtp_lookup_rcpt, smtp_lookup_auth."""
from __future__ import annotations

from .registry import unavailable

AREA = "network"
_IO = "performs network I/O, which hsl does not implement yet"
unavailable("smtp_lookup_rcpt", "server, sender, recipient, [options]", area=AREA, reason=_IO)
unavailable("smtp_lookup_auth", "server, username, password", area=AREA, reason=_IO)
