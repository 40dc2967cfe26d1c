"""Delivery status notifications: the RFC 3464 report a bounce (or a delayed delivery)
sends to the envelope sender of a queued copy.

    build_dsn(envelope, message, action="failed", attempt=..., ...) -> bytes

builds, with the mail package's MIME builder (hsl/mail/builder.py), a
`multipart/report; report-type=delivery-status` (RFC 6522) message of three parts:

1. text/plain (UTF-8) for people: what happened, to whom, the remote server's reply;
2. the machine-readable report (RFC 3464 §2): per message `Reporting-MTA` (required),
   `Original-Envelope-Id` (the ENVID), `Arrival-Date`; per recipient
   `Original-Recipient` (ORCPT), `Final-Recipient` (required), `Action` (required:
   failed or delayed), `Status` (required), `Remote-MTA`, `Diagnostic-Code`,
   `Last-Attempt-Date`, and for a delayed DSN `Will-Retry-Until`.  It is
   message/delivery-status, or message/global-delivery-status (RFC 6533 §3) when an
   address or the reply is not ASCII: then the addresses are of type `utf-8`;
3. the original (RET, RFC 3461 §4.3): its header block as text/rfc822-headers, or with
   RET=FULL the whole message as message/rfc822.  An original with 8-bit bytes (an
   SMTPUTF8 or 8BITMIME message) comes back as message/global (RFC 6533 §3; with
   RET=HDRS and 8-bit headers, message/global-headers): as 8bit when its lines are
   fit for it, else base64 (NUL, a lone CR, a line over 998 bytes: an ASCII original
   like that is message/global too, the one message type that may be encoded).

The envelope's `dsn` is as the client gave it in MAIL FROM / RCPT TO (RFC 3461):
`envid` and `orcpt` xtext-encoded; they are decoded for the report (`+HH`, and for an
ORCPT of type utf-8 also `\\x{HHHH}`, RFC 6533 §3).  A decoded ENVID that is not
printable ASCII is reported as given.

Nothing from outside becomes a header line of its own: the remote server's reply (and
the remote host's name) have control characters (CR, LF, NUL...) made spaces, non-ASCII
made `?` in a report that is not global, and long lines folded (a word longer than a
line is broken).  `Bounce()`'s `dsn` options (`subject`, `from_name`, `headers`, a map
of name to value added to the report's header, RFC 2047-encoded where needed) with CR,
LF or NUL, or a header name that is not a field name, are refused (ValueError naming the
option).  The boundary is the builder's, drawn again until no part contains it.

The attempt is postdelivery's `$arguments["attempt"]` as Python values: `result`
(`code`, `enhanced` [a, b, c], `reason` [lines], `state`), `error` (`message`,
`temporary`), `connection` (`remotemx`, `remoteip`).  The status is the reply's enhanced
code, else its class (`5.0.0`, `4.0.0`); without a reply `4.4.1` (no answer from the
host) while retrying, `5.4.7` (delivery time expired) for a copy that expired, and
`5.4.4` (unable to route) for other failures without a reply (a null MX, an unknown
domain).

UNSPECIFIED: without RET, only the headers are returned (what RFC 3461 leaves to the
MTA, and what keeps a bounce small).

`dsn_due(envelope, action)`: whether a DSN is sent at all: never to the null sender,
never with NOTIFY=NEVER, and with NOTIFY given only for the kinds it lists (FAILURE,
DELAY).  `dsn_copy(...)` returns the report as a spool Copy from the null sender to the
original sender, with `dsn_of` naming the original for a bounce (hsl/queue/store.py).
"""
from __future__ import annotations

import email.utils
import re
from typing import Optional

from ..mail import source
from ..mail.body import crlf
from ..mail.builder import Builder
from ..mail.headers import fold
from . import spool

ACTIONS = {"failed": "FAILURE", "delayed": "DELAY"}
SUBJECTS = {"failed": "Undelivered Mail Returned to Sender",
            "delayed": "Delayed Mail (still being retried)"}
_FIELD_NAME = re.compile(r"[!-9;-~]+\Z")         # RFC 5322 ftext
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")
_XTEXT = re.compile(r"\+([0-9A-Fa-f]{2})")
_UNITEXT = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")
_GENERATED = {"content-type", "content-transfer-encoding", "mime-version"}
_LONG_WORD = 900            # characters: a word longer than this is broken (998 max)
_UNSAFE_8BIT = re.compile(rb"\x00|\r(?!\n)|(?<!\r)\n|[^\r\n]{999}")


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


def _text(v) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _safe(text: str, ascii_only: bool) -> str:
    """Outside text (a reply, a host name) fit for one field or line: control characters
    as spaces, and (`ascii_only`) non-ASCII as "?"."""
    text = _CONTROLS.sub(" ", text.encode("utf-8", "replace").decode("utf-8")).strip()
    if ascii_only and not text.isascii():
        text = "".join(c if c.isascii() else "?" for c in text)
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
    """The remote server's reply (or the error), one line, unsanitised."""
    result = (attempt or {}).get("result") or {}
    if result.get("code"):
        lines = [_text(x) for x in result.get("reason") or []]
        return f"{int(result['code'])} " + " ".join(lines)
    error = (attempt or {}).get("error") or {}
    return _text(error["message"]) if error.get("message") else None


def xtext_decode(value: str, unitext: bool = False) -> str:
    """RFC 3461 §4 xtext (`+HH`) decoded; with `unitext` also RFC 6533's `\\x{HHHH}`."""
    raw = _XTEXT.sub(lambda m: chr(int(m.group(1), 16)), value)
    if unitext:
        raw = _UNITEXT.sub(lambda m: chr(int(m.group(1), 16))
                           if int(m.group(1), 16) <= 0x10FFFF else m.group(0), raw)
    # +HH gives bytes: read them as UTF-8 where they form it
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def _header_block(message: bytes) -> bytes:
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = message.find(sep)
        if at >= 0:
            return message[:at + len(sep) // 2]
    return message


def _date(t: float) -> str:
    return source.format_date(t).decode("ascii")


def _field(name: str, value: str) -> bytes:
    """One report field, folded; words longer than a line are broken (the value is
    already free of control characters)."""
    words = []
    for word in value.split(" "):
        while len(word) > _LONG_WORD:
            words.append(word[:_LONG_WORD])
            word = word[_LONG_WORD:]
        words.append(word)
    return fold(name.encode(), " ".join(words).encode("utf-8"))


def _address_field(name: str, address: str, glob: bool) -> str:
    kind = "utf-8" if glob and not address.isascii() else "rfc822"
    return f"{name}: {kind}; {address}"


def _original_recipient(orcpt: str, glob: bool) -> tuple:
    """(address type, decoded address) of an ORCPT value `type;xtext`."""
    kind, semi, addr = orcpt.partition(";")
    if not semi:
        kind, addr = "rfc822", orcpt
    kind = kind.strip().lower() or "rfc822"
    addr = xtext_decode(addr.strip(), unitext=kind == "utf-8")
    if not addr.isascii():
        kind = "utf-8" if glob else kind
    return kind, addr


def _returned(original: bytes, ret: str) -> Builder:
    """The third part: the original's headers, or all of it (RET=FULL)."""
    part = Builder()
    data = original if ret == "FULL" else _header_block(original)
    unfit = _UNSAFE_8BIT.search(data) is not None   # not even for 8bit
    if ret == "FULL":
        # message/rfc822 cannot be encoded (RFC 2046 5.2.1); message/global can
        part.type = b"message/global" if unfit or not data.isascii() \
            else b"message/rfc822"
    else:
        part.type = b"text/rfc822-headers" if data.isascii() \
            else b"message/global-headers"
    if unfit:
        part.add_header(b"Content-Transfer-Encoding", b"base64")
    elif ret != "FULL":     # (headers are not text to re-encode for reading)
        part.add_header(b"Content-Transfer-Encoding",
                        b"7bit" if data.isascii() else b"8bit")
    part.body = data
    return part


def build_dsn(envelope: dict, message: bytes, *, action: str = "failed",
              attempt: Optional[dict] = None, expired: bool = False,
              options: Optional[dict] = None, reporting_mta: str = "localhost",
              now: float, boundary: Optional[str] = None,
              retry_until: Optional[float] = None) -> bytes:
    """The report (see the module docstring).  `retry_until`: for a delayed DSN, when
    the queue gives up (Will-Retry-Until)."""
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
        if name.lower() in _GENERATED:
            raise ValueError(f"Bounce() dsn header {name!r} is the report's own")
        extra.append((name, _clean(value, "header " + name)))
    recipient = envelope["recipient"]
    dsn = envelope.get("dsn") or {}
    ret = str(dsn.get("ret") or "HDRS").upper()
    status = _status(attempt, action, expired)
    reply = _reply(attempt)
    connection = (attempt or {}).get("connection") or {}
    remote = connection.get("remotemx") or connection.get("remoteip")
    orcpt = _text(dsn["orcpt"]) if dsn.get("orcpt") else None
    # UTF-8 in the report only where it must be: message/global-delivery-status
    glob = not (recipient + (orcpt and xtext_decode(orcpt, True) or "")
                + (reply or "")).isascii()

    per_message = [_field("Reporting-MTA", f"dns; {_safe(reporting, True)}")]
    if dsn.get("envid"):
        given = _safe(_text(dsn["envid"]), True)
        envid = xtext_decode(given)
        if not (envid.isascii() and envid.isprintable()):
            envid = given
        per_message.append(_field("Original-Envelope-Id", envid))
    per_message.append(_field("Arrival-Date", _date(envelope["ts"])))
    per_recipient = []
    if orcpt:
        kind, addr = _original_recipient(orcpt, glob)
        per_recipient.append(_field("Original-Recipient",
                                    f"{kind}; {_safe(addr, not glob)}"))
    final = _address_field("Final-Recipient", _safe(recipient, not glob), glob)
    per_recipient += [_field(*final.split(": ", 1)), _field("Action", action),
                      _field("Status", status)]
    if remote:
        per_recipient.append(_field("Remote-MTA", f"dns; {_safe(_text(remote), True)}"))
    if reply and (attempt or {}).get("result"):
        per_recipient.append(_field("Diagnostic-Code", f"smtp; {_safe(reply, not glob)}"))
    per_recipient.append(_field("Last-Attempt-Date", _date(now)))
    if action == "delayed" and retry_until is not None:
        per_recipient.append(_field("Will-Retry-Until", _date(retry_until)))

    if action == "failed":
        human = [f"Your message could not be delivered to <{_safe(recipient, False)}>."]
    else:
        human = [f"Your message to <{_safe(recipient, False)}> has not been delivered yet.",
                 "It is still being retried; you do not need to resend it."]
        if retry_until is not None:
            human.append(f"Delivery will be tried until {_date(retry_until)}.")
    if reply:
        where = f" {_safe(_text(remote), False)}" if remote else ""
        human += ["", f"The remote server{where} said:", "    " + _safe(reply, False)]

    text = Builder()
    text.body = ("\r\n".join(human) + "\r\n").encode("utf-8")
    report = Builder()
    report.type = b"message/global-delivery-status" if glob \
        else b"message/delivery-status"
    report.body = b"".join(per_message) + b"\r\n" + b"".join(per_recipient)
    original = crlf(message)
    entities = [text.entity(top=False), report.entity(top=False),
                _returned(original, ret).entity(top=False)]

    top = Builder()
    top.date = now
    top.type = b"multipart/report; report-type=delivery-status"
    top.body = b"This is a delivery status notification (RFC 3464).\r\n"
    mailer = "MAILER-DAEMON@" + _safe(reporting, True)
    sender = _safe(_text(envelope["sender"]), False)
    top.fields.append((b"from", fold(b"From", email.utils.formataddr(
        (from_name, mailer), charset="utf-8").encode())))
    top.fields.append((b"to", b"To: <" + sender.encode("utf-8") + b">\r\n"))
    top.add_header(b"Subject", subject.encode("utf-8"))
    top.add_header(b"Message-ID", email.utils.make_msgid(
        "dsn", domain=_safe(reporting, True)).encode())
    top.add_header(b"Auto-Submitted", b"auto-replied")
    for name, value in extra:
        top.add_header(name.encode(), value.encode("utf-8"))
    if boundary is not None:
        top.boundary = boundary.encode()
    # The boundary must not occur in any part (RFC 2046 §5.1.1): draw until it does not
    while any(b"--" + top.boundary in e for e in entities) or \
            b"--" + top.boundary in top.body:
        top.boundary = b"hsl-dsn-" + source.boundary()
    top.parts = entities
    return top.entity(top=True)


def dsn_copy(envelope: dict, message: bytes, *, action: str, transportid: str,
             original_id: Optional[str] = None, **build) -> spool.Copy:
    """The DSN as a spool copy: from the null sender to the original's sender, through
    `transportid` (the transport group's dsn.transport).  A new message, so a
    transaction id of its own ($message["id"] in its queue hooks: logs keyed on it, as
    web-logui's, must not take it for the original)."""
    from ..runtime import sources  # deferred: only when a DSN is made
    data = build_dsn(envelope, message, action=action, **build)
    extra = {"dsn_of": original_id} if original_id else {}
    return spool.Copy(data, str(sources.uuid4()), "", envelope["sender"], transportid,
                      extra=extra)
