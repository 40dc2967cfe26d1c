"""Sending a message: `send()` of MIME and MailMessage (one SMTP submission), and
`queue()`, which exists only in the EOD hook.

send(sender, recipients, server) uses the SMTP client of smtp_lookup_rcpt
(hsl.builtins.smtpclient): the same server settings (host, port, helo, tls..., AUTH with
saslusername/saslpassword, timeouts), the same name resolution, MX lookup and time
limits (hsl.net: a cancelled run or one out of time stops in any wait).  The session: EHLO, STARTTLS per `tls`, AUTH, MAIL FROM (with BODY=8BITMIME for
8-bit messages, SMTPUTF8 for non-ASCII addresses, SIZE when offered), one RCPT TO per
recipient, DATA when at least one recipient is accepted, the message (line breaks made
CRLF, dot-stuffed), QUIT.

The result (the shape of postdelivery's `$arguments["attempt"]`, builtins.md):

* `result`: the reply that decided it, when there was one: `code` (number),
  `enhanced` (list of three numbers, when the reply has an enhanced code), `reason`
  (list of the reply's lines, without codes), `state` (the command it answered:
  "MAIL", "RCPT", "DATA", "EOD" for the reply to the message itself...);
* `error`, when the message was not accepted: `temporary` (true for a 4xx reply and for
  failures without a reply), `message`, `type` ("smtp" for a refusing reply, "network",
  "tls", "dns");
* `tls`: whether the session was TLS-protected;
* `recipients`: the reply to each RCPT TO, in order: `recipient`, `code`, `enhanced`,
  `reason` (hsl's addition: the documentation leaves partial acceptance open).

A message is accepted when the reply to it is 2xx (some recipients may have been
refused: see `recipients`).  Without `host` the MX hosts of the recipients' domain are
used (all recipients must then be of one domain).
"""
from __future__ import annotations

import re
from typing import Optional

from ..runtime import execution as _execution
from ..errors import ScriptError
from ..runtime.values import HArray, type_name
from .body import crlf

_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})(?: |$)")
_DOT = re.compile(rb"(?m)^\.")


def wire(data: bytes) -> bytes:
    """The message as DATA sends it: CRLF line breaks, ending in one, dots stuffed."""
    data = crlf(data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return _DOT.sub(b"..", data)


def _reply(code: int, text: str, state: str) -> dict:
    lines = text.split("\n") if text else []
    enhanced = None
    reason = []
    for line in lines:
        m = _ENHANCED.match(line)
        if m:
            enhanced = enhanced or [float(x) for x in m.groups()]
            line = line[m.end():]
        reason.append(line.encode("utf-8", "surrogateescape"))
    d = {b"code": float(code)}
    if enhanced:
        d[b"enhanced"] = HArray.from_list(enhanced)
    d[b"reason"] = HArray.from_list(reason)
    if state:
        d[b"state"] = state.encode("ascii")
    return d


def _error_type(outcome) -> bytes:
    if outcome.code is not None:
        return b"smtp"
    if outcome.state == "STARTTLS":
        return b"tls"
    if "lookup" in outcome.message or "resolve" in outcome.message:
        return b"dns"
    return b"network"


def send(fname: str, data: bytes, sender, recipients, server) -> HArray:
    """Submit `data` over SMTP; the result array of the module docstring."""
    from ..builtins import smtpclient as smtp  # deferred: smtplib, ssl: only to send
    settings = smtp.parse_server(fname, server)
    mail_from = smtp.parse_address(fname, 1, sender)
    if type(recipients) is bytes or (type(recipients) is HArray and (
            b"localpart" in recipients.d or b"address" in recipients.d)):
        recipients = HArray.from_list([recipients])
    if type(recipients) is not HArray:
        raise ScriptError(f"{fname}() expects a list of recipients as argument 2, got "
                          f"{type_name(recipients)} (type error)")
    rcpts = [smtp.parse_address(fname, 2, r) for r in recipients.d.values()]
    if not rcpts:
        raise ScriptError(f"{fname}() needs at least one recipient")
    domain = None
    if settings.host is None:
        domains = {smtp._domain(r.text) for r in rcpts}
        if len(domains) != 1:
            raise ScriptError(f"{fname}() without a host sends to the MX of the "
                              f"recipients' domain: the recipients must have one domain")
        domain = domains.pop()
    payload = wire(data)
    answers: list = []

    def steps(s):
        if s.server.saslusername is not None:
            s.auth(s.server.saslusername, s.server.saslpassword)
        params = list(mail_from.params)
        if s.esmtp:
            if not payload.isascii() and "8bitmime" in s.features:
                params.append(b"BODY=8BITMIME")
            addresses = mail_from.text + b"".join(r.text for r in rcpts)
            if not addresses.isascii() and "smtputf8" in s.features:
                params.append(b"SMTPUTF8")
            if "size" in s.features:
                params.append(b"SIZE=%d" % len(payload))
        line = b"MAIL FROM:<" + mail_from.text + b">"
        s.expect("MAIL", b" ".join([line] + params) if s.esmtp else line)
        accepted = 0
        code = text = None
        for r in rcpts:
            line = b"RCPT TO:<" + r.text + b">"
            code, text = s.command("RCPT", b" ".join([line] + r.params) if s.esmtp else line)
            answers.append((r.text, code, text))
            accepted += 200 <= code <= 299
        if not accepted:
            s.done(0 if 500 <= code <= 599 else -1, code, text, "RCPT", True)
        s.expect("DATA", b"DATA", ok=(354, 354))
        code, text = s.command("EOD", payload + b".")
        s.done(1 if 200 <= code <= 299 else 0 if 500 <= code <= 599 else -1, code, text,
               "EOD")

    outcome = smtp.probe(fname, settings, steps, domain)
    out = {}
    if outcome.code is not None:
        out[b"result"] = HArray.from_dict_normalized(_reply(outcome.code, outcome.message,
                                                            outcome.state))
    if outcome.result != 1:
        temporary = outcome.code is None or 400 <= outcome.code <= 499
        out[b"error"] = HArray.from_dict_normalized({
            b"temporary": temporary,
            b"message": outcome.message.encode("utf-8", "surrogateescape"),
            b"type": _error_type(outcome)})
    out[b"tls"] = outcome.tls
    rows = []
    for address, code, text in answers:
        row = {b"recipient": address}
        row.update(_reply(code, text, ""))
        rows.append(HArray.from_dict_normalized(row))
    out[b"recipients"] = HArray.from_list(rows)
    return HArray.from_dict_normalized(out)


def queue(fname: str, data: bytes, sender, recipient, transportid, options) -> HArray:
    """queue() exists in the EOD hook only: there the hook gives the running execution a
    `queue_message(data, sender, recipient, transportid, options)` that queues a copy of
    the message and returns ["transaction" => id, "queue" => n]."""
    ex = _execution.current()
    handler: Optional[object] = getattr(ex, "queue_message", None) if ex is not None else None
    if handler is None:
        raise ScriptError(f"{fname}() is only available in the eod hook (it queues the "
                          f"message being received)")
    return handler(data, sender, recipient, transportid, options)
