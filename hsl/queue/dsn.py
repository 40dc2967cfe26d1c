"""Delivery status notifications: the RFC 3464 report a bounce (or a delayed delivery)
sends to the envelope sender of a queued copy.

    build_dsn(envelope, message, action="failed", attempt=..., ...) -> bytes

builds a `multipart/report; report-type=delivery-status` (RFC 6522) message:

1. a text/plain part for people: what happened, to whom, the remote server's reply;
2. a message/delivery-status part (RFC 3464): per message `Reporting-MTA`,
   `Original-Envelope-Id` (the copy's DSN ENVID), `Arrival-Date`; per recipient
   `Original-Recipient` (ORCPT), `Final-Recipient`, `Action` (failed/delayed), `Status`,
   `Remote-MTA`, `Diagnostic-Code`, `Last-Attempt-Date`;
3. the original: its header block as text/rfc822-headers, or the whole message as
   message/rfc822 when the sender asked for it (RET=FULL).

UNSPECIFIED: without RET, only the headers are returned (what RFC 3461 leaves to the
MTA, and what keeps a bounce small).  An original with 8-bit bytes in its body is
returned as headers only even with RET=FULL (a message/rfc822 part must stay 7-bit in a
report sent without 8BITMIME); its header block is kept as it came.

The attempt is postdelivery's `$arguments["attempt"]` as Python values: `result`
(`code`, `enhanced` [a, b, c], `reason` [lines], `state`), `error` (`message`,
`temporary`), `connection` (`remotemx`, `remoteip`).  The status is the reply's enhanced
code, else its class (`5.0.0`, `4.0.0`); without a reply `4.4.1` (no answer from the
host) while retrying, `5.4.7` (delivery time expired) for a copy that expired, and
`5.4.4` (unable to route) for other failures without a reply (a null MX, an unknown
domain).

`Bounce()`'s `dsn` option may give `subject`, `from_name` and `headers` (a map of name to
value, added to the report's header).  CR or LF in any of them, or a header name that is
not a field name, is refused (ValueError naming the option): no header injection.

`dsn_due(envelope, action)`: whether a DSN is sent at all: never to the null sender,
never with NOTIFY=NEVER, and with NOTIFY given only for the kinds it lists (FAILURE,
DELAY).  `dsn_copy(...)` returns the report as a spool Copy from the null sender to the
original sender, with `dsn_of` naming the original for a bounce (hsl/queue/store.py).
"""
from __future__ import annotations

import email.utils
import os
import re
from typing import Optional

from ..mail.body import crlf
from . import spool

ACTIONS = {"failed": "FAILURE", "delayed": "DELAY"}
SUBJECTS = {"failed": "Undelivered Mail Returned to Sender",
            "delayed": "Delayed Mail (still being retried)"}
_FIELD_NAME = re.compile(r"[!-9;-~]+\Z")         # RFC 5322 ftext


def _notify(envelope: dict) -> Optional[set]:
    notify = (envelope.get("dsn") or {}).get("notify")
    if notify is None:
        return None
    parts = notify.split(",") if isinstance(notify, str) else list(notify)
    return {str(p).strip().upper() for p in parts}


def dsn_due(envelope: dict, action: str) -> bool:
    if envelope.get("sender", "") == "":
        return False
    notify = _notify(envelope)
    if notify is None:
        return True
    return "NEVER" not in notify and ACTIONS[action] in notify


def _clean(value, what: str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if "\r" in text or "\n" in text or "\0" in text:
        raise ValueError(f"Bounce() dsn {what} must not contain CR, LF or NUL")
    return text


def _status(attempt: Optional[dict], action: str, expired: bool) -> str:
    result = (attempt or {}).get("result") or {}
    enhanced = result.get("enhanced")
    if enhanced and len(enhanced) == 3:
        return ".".join(str(int(x)) for x in enhanced)
    code = result.get("code")
    if code:
        return f"{int(code) // 100}.0.0"
    if action == "delayed":
        return "4.4.1"
    return "5.4.7" if expired else "5.4.4"


def _reply(attempt: Optional[dict]) -> Optional[str]:
    result = (attempt or {}).get("result") or {}
    if result.get("code"):
        lines = [_text(x) for x in result.get("reason") or []]
        return f"{int(result['code'])} " + " ".join(lines)
    error = (attempt or {}).get("error") or {}
    return _text(error["message"]) if error.get("message") else None


def _text(v) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _header_block(message: bytes) -> bytes:
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = message.find(sep)
        if at >= 0:
            return message[:at + len(sep) // 2]
    return message


def _date(t: float) -> str:
    return email.utils.formatdate(t, usegmt=True)


def build_dsn(envelope: dict, message: bytes, *, action: str = "failed",
              attempt: Optional[dict] = None, expired: bool = False,
              options: Optional[dict] = None, reporting_mta: str = "localhost",
              now: float, boundary: Optional[str] = None) -> bytes:
    if action not in ACTIONS:
        raise ValueError(f"a DSN is for a failed or delayed delivery, not {action!r}")
    options = options or {}
    reporting = _clean(reporting_mta, "reporting host")
    subject = _clean(options.get("subject", SUBJECTS[action]), "subject")
    from_name = _clean(options.get("from_name", "Mail Delivery System"), "from_name")
    extra = []
    for name, value in (options.get("headers") or {}).items():
        name = _clean(name, "header name")
        if not _FIELD_NAME.match(name):
            raise ValueError(f"Bounce() dsn header name {name!r} is not a field name")
        extra.append(f"{name}: {_clean(value, 'header ' + name)}")
    recipient = envelope["recipient"]
    status = _status(attempt, action, expired)
    reply = _reply(attempt)
    connection = (attempt or {}).get("connection") or {}
    remote = connection.get("remotemx") or connection.get("remoteip")
    dsn = envelope.get("dsn") or {}
    ret = str(dsn.get("ret") or "HDRS").upper()
    boundary = boundary or "hsl-dsn-" + os.urandom(12).hex()

    head = [f"From: {email.utils.formataddr((from_name, 'MAILER-DAEMON@' + reporting))}",
            f"To: <{envelope['sender']}>",
            f"Subject: {subject}",
            f"Date: {_date(now)}",
            f"Message-ID: {email.utils.make_msgid('dsn', domain=reporting)}",
            "Auto-Submitted: auto-replied",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/report; report-type=delivery-status; '
            f'boundary="{boundary}"',
            *extra]
    if action == "failed":
        human = [f"Your message could not be delivered to <{recipient}>."]
    else:
        human = [f"Your message to <{recipient}> has not been delivered yet.",
                 "It is still being retried; you do not need to resend it."]
    if reply:
        human += ["", "The remote server" + (f" {remote}" if remote else "") + " said:",
                  "    " + reply]
    per_message = [f"Reporting-MTA: dns; {reporting}"]
    if dsn.get("envid"):
        per_message.append(f"Original-Envelope-Id: {_clean(dsn['envid'], 'envid')}")
    per_message.append(f"Arrival-Date: {_date(envelope['ts'])}")
    per_recipient = []
    if dsn.get("orcpt"):
        orcpt = _clean(dsn["orcpt"], "orcpt")
        per_recipient.append("Original-Recipient: " +
                             (orcpt if ";" in orcpt else f"rfc822; {orcpt}"))
    per_recipient += [f"Final-Recipient: rfc822; {recipient}", f"Action: {action}",
                      f"Status: {status}"]
    if remote:
        per_recipient.append(f"Remote-MTA: dns; {remote}")
    if reply and (attempt or {}).get("result"):
        per_recipient.append(f"Diagnostic-Code: smtp; {reply}")
    per_recipient.append(f"Last-Attempt-Date: {_date(now)}")

    original = crlf(message)
    eight_bit = any(b > 127 for b in original)
    if ret == "FULL" and not eight_bit:
        returned = [b"Content-Type: message/rfc822", b"", original.rstrip(b"\r\n")]
    else:
        returned = [b"Content-Type: text/rfc822-headers", b"",
                    _header_block(original).rstrip(b"\r\n")]
    parts = [
        "\r\n".join(["Content-Type: text/plain; charset=utf-8", "", *human]).encode(),
        "\r\n".join(["Content-Type: message/delivery-status", "", *per_message, "",
                     *per_recipient]).encode(),
        b"\r\n".join(returned),
    ]
    b = boundary.encode()
    out = "\r\n".join(head).encode() + b"\r\n\r\nThis is a delivery status notification.\r\n"
    for part in parts:
        out += b"\r\n--" + b + b"\r\n" + part + b"\r\n"
    return out + b"\r\n--" + b + b"--\r\n"


def dsn_copy(envelope: dict, message: bytes, *, action: str, transportid: str,
             original_id: Optional[str] = None, **build) -> spool.Copy:
    """The DSN as a spool copy: from the null sender to the original's sender, through
    `transportid` (the transport group's dsn.transport)."""
    data = build_dsn(envelope, message, action=action, **build)
    extra = {"dsn_of": original_id} if original_id else {}
    return spool.Copy(data, envelope["transaction"], "", envelope["sender"], transportid,
                      extra=extra)
