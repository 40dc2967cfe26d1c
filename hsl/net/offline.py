"""What a test puts in the network's place: hsl test's mocks (hsl/testing/mocks.py) set
these for one case and put them back after.  All three are None in every other run.

* `http`: called by http() (builtins/httpclient.py) for each request it would send,
  redirects and background requests included, instead of connecting:
  `http(method, url, headers, body, clock)` with the request as it would go on the wire
  (method and header names and values as bytes, the URL as text, the body as bytes or
  None) returns `(status, [(name, value)], body)`, None when the real server is to be
  asked, or raises what a real exchange raises when it fails (OSError, socket.timeout,
  ssl.SSLError): the call fails as it would.
* `smtp`: called by the SMTP client (smtp_lookup_rcpt, smtp_lookup_auth, send() of the
  mail classes; builtins/smtpclient.py) instead of resolving and connecting:
  `smtp(host, port)` (the server's host, or the recipient domain when the MX would be
  looked up) returns a connection (sendall, makefile, settimeout, close: a socket as
  hsl.net.sockets.Conn is one) that speaks SMTP, None when the real server is to be
  asked, or raises OSError as a failed connection does.
* `denied`: the reason the network is off, or None.  Every TCP connection
  (sockets.connect) and every DNS query (the `Denied` backend, which hsl test installs
  with dns.configure) then fails with NetworkDisabled, a script error: a test must not
  reach the network unless it says so.
"""
from __future__ import annotations

from typing import Callable, Optional

from ..errors import ScriptError
from .dns import Answer

http: Optional[Callable] = None
smtp: Optional[Callable] = None
denied: Optional[str] = None

DISABLED = "network disabled in tests (mocks: network: allow)"


class NetworkDisabled(ScriptError):
    """A script reached for the network in a test that does not allow it."""


def check(what: str) -> None:
    """Raise NetworkDisabled when the network is off; `what` names the attempt."""
    reason = denied
    if reason is not None:
        raise NetworkDisabled(f"{reason}: {what}")


class Denied:
    """The DNS backend of a test without a DNS table that keeps the network off."""

    BLOCKS = False                      # answers (fails) at once

    def query(self, name: str, rdtype: str, timeout: float,
              servers: Optional[list] = None) -> Answer:
        raise NetworkDisabled(f"{denied or DISABLED}: DNS query {name} {rdtype.upper()}")
