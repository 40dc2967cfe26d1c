"""One delivery attempt of one queued copy, over SMTP or LMTP.

    attempt(message, sender, recipient, options) -> Attempt

`options` are the transport's settings with predelivery's `Try()` options over them, as
Python values: `host`, `port`, `helo`, `tls` (disabled, optional, optional_verify,
require, require_verify), `tls_sni`, `tls_verify_name`, `tls_default_ca`,
`saslusername`/`saslpassword`, `protocol` (smtp, lmtp), `mx_include`/`mx_exclude`,
`timeout` (per SMTP state), `connect_timeout`, and `sender`/`recipient`, which replace
the envelope's for this attempt.

The session is MailMessage's `send()` (hsl/mail/send.py), which is the SMTP client of
smtp_lookup_rcpt (hsl/builtins/smtpclient.py): the same MX lookup through hsl.net (so
`--dns-table` works; no MX means the domain itself, a null MX is an error), the same TLS
modes, AUTH, timeouts, 8BITMIME/SMTPUTF8/SIZE and dot-stuffing.  One implementation of
an SMTP submission, not two.

The result is postdelivery's `$arguments["attempt"]`: `result` (the deciding reply:
`code`, `enhanced`, `reason` lines, `state`), `error` when the copy was not accepted
(`temporary`, `message`, `type`: smtp, tls, dns, network, config), `connection`
(`tls` `started`: whether the session was TLS-protected) and `duration` (seconds).  A setting hsl cannot honour here is a `config` error
of the attempt, never a silent plain delivery: `sourceip` is an address of this
machine (Try's list of configuration ids is refused); `dane` falls back and
`dane_require` fails as smtp_lookup_rcpt documents; `plugin` (delivery through a
plugin) is not supported yet.
"""
from __future__ import annotations

import errno
import socket
import time
from dataclasses import dataclass
from typing import Optional

from ..errors import ScriptError
from ..runtime import values as V



@dataclass
class Attempt:
    delivered: bool
    temporary: bool
    value: V.HArray                 # $arguments["attempt"]
    duration: float

    def to_hsl(self) -> V.HArray:
        return self.value

    def to_json(self) -> dict:
        return V.to_python(self.value)


def _config_error(message: str, started: float) -> Attempt:
    duration = time.monotonic() - started
    value = V.from_python({"error": {"temporary": False, "message": message,
                                     "type": "config"},
                           "connection": {"tls": {"started": False}},
                           "duration": duration})
    return Attempt(False, False, value, duration)


def _is_local(address: str) -> bool:
    """Whether this machine can send from `address` (a malformed one is left to the
    SMTP client's own error)."""
    try:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((address, 0))
    except OSError as e:
        return e.errno != errno.EADDRNOTAVAIL
    return True


def attempt(message: bytes, sender: str, recipient: str, options: dict) -> Attempt:
    """Deliver `message` to `recipient` once; never raises for a failed delivery."""
    from ..mail.send import send  # deferred: smtplib and ssl only when delivering
    started = time.monotonic()
    options = dict(options)
    sender = options.pop("sender", sender)
    recipient = options.pop("recipient", recipient)
    if options.get("plugin") is not None:
        return _config_error("plugin: delivery through a plugin is not supported yet",
                             started)
    source = options.get("sourceip")
    if source is not None and not isinstance(source, str):
        # Try()'s list form names source addresses of a Halon host's configuration
        return _config_error("sourceip: give an IP address of this machine; ids of a "
                             "Halon configuration do not exist here", started)
    if source is not None and not _is_local(source):
        return _config_error(f"sourceip {source} is not an address of this machine",
                             started)
    server = V.from_python({k: v for k, v in options.items() if v is not None})
    try:
        result = send("Try", message, V.from_python(sender), V.from_python([recipient]),
                      server)
    except ScriptError as e:
        return _config_error(str(e), started)
    duration = time.monotonic() - started
    value = V.HArray()
    for key in (b"result", b"error"):
        if result.get(key) is not None:
            value.set(key, result.get(key))
    value.set(b"connection", V.from_python({"tls": {"started": bool(result.get(b"tls"))}}))
    value.set(b"duration", duration)
    error: Optional[V.HArray] = result.get(b"error")
    temporary = bool(error.get(b"temporary")) if error is not None else False
    return Attempt(error is None, temporary, value, duration)
