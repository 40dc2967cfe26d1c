"""Sending a message: `send()` of MIME and MailMessage (one SMTP submission), and
`queue()`, which exists only in the EOD hook.

send(sender, recipients, server) uses the SMTP client of smtp_lookup_rcpt and of the
queue's deliveries (hsl.net.smtp; settings read by hsl.builtins.smtpclient): the same
server settings (host, port, helo, tls..., AUTH with saslusername/saslpassword,
timeouts), the same name resolution, MX lookup and time limits (hsl.net: a cancelled run
or one out of time stops in any wait).  The session (hsl.net.smtp.transaction): EHLO,
STARTTLS per `tls`, AUTH, MAIL FROM (with BODY=8BITMIME for 8-bit messages, SMTPUTF8 for
non-ASCII addresses, SIZE when offered), one RCPT TO per recipient, DATA when at least
one recipient is accepted, the message (line breaks made CRLF, dot-stuffed), QUIT.

The result (the shape of postdelivery's `$arguments["attempt"]`, builtins.md):

* `result`: the reply that decided it, when there was one: `code` (number),
  `enhanced` (list of three numbers, when the reply has an enhanced code), `reason`
  (list of the reply's lines, without codes), `state` (the command it answered:
  "MAIL", "RCPT", "DATA", "EOD" for the reply to the message itself...);
* `error`, when the message was not accepted: `temporary` (false for a 5xx reply and
  for a domain that does not exist or takes no mail, see hsl.net.smtp), `message`,
  `type` ("smtp" for a refusing reply, "network", "tls", "dane", "dns", "protocol",
  "config");
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


def split_reply(text: str) -> tuple:
    """(enhanced code as three ints or None, the lines without their enhanced codes) of
    a reply's text (lines joined by "\n", without the reply code)."""
    enhanced = None
    reason = []
    for line in text.split("\n") if text else []:
        m = _ENHANCED.match(line)
        if m:
            enhanced = enhanced or [int(x) for x in m.groups()]
            line = line[m.end():]
        reason.append(line)
    return enhanced, reason


def reply_fields(code: int, text: str, state: str) -> dict:
    """A reply as postdelivery's `attempt.result` has it: code, enhanced (when the
    first line has one), reason (the lines without codes), state (when given)."""
    enhanced, reason = split_reply(text)
    d = {b"code": float(code)}
    if enhanced:
        d[b"enhanced"] = HArray.from_list([float(x) for x in enhanced])
    d[b"reason"] = HArray.from_list([r.encode("utf-8", "surrogateescape") for r in reason])
    if state:
        d[b"state"] = state.encode("ascii")
    return d


def send(fname: str, data: bytes, sender, recipients, server) -> HArray:
    """Submit `data` over SMTP; the result array of the module docstring."""
    from ..builtins import smtpclient as smtp  # deferred: smtplib, ssl: only to send
    from ..net import smtp as client  # deferred: as above
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
        domains = {client.domain_of(r.text) for r in rcpts}
        if len(domains) != 1:
            raise ScriptError(f"{fname}() without a host sends to the MX of the "
                              f"recipients' domain: the recipients must have one domain")
        domain = domains.pop()
    payload = wire(data)
    answers: list = []
    outcome = client.probe(fname, settings,
                           lambda s: client.transaction(s, mail_from, rcpts, payload, answers),
                           domain)
    out = {}
    if outcome.code is not None:
        out[b"result"] = HArray.from_dict_normalized(reply_fields(outcome.code,
                                                                  outcome.message,
                                                                  outcome.state))
    if outcome.result != 1:
        out[b"error"] = HArray.from_dict_normalized({
            b"temporary": outcome.temporary,
            b"message": outcome.message.encode("utf-8", "surrogateescape"),
            b"type": outcome.kind.encode("ascii")})
    out[b"tls"] = outcome.tls
    rows = []
    for address, code, text in answers:
        row = {b"recipient": address}
        row.update(reply_fields(code, text, ""))
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
