"""RFC 3464 delivery status notifications (hsl/queue/dsn.py): every report is parsed
with Python's email package and checked field by field against RFC 3464 / 6522 / 6533;
one goes through a real queue run to an aiosmtpd sink."""
import base64
import email
import email.policy
import email.utils
import re

import pytest

from hsl.mail import source
from hsl.mail.parse import parse
from hsl.queue import dsn, spool

ORIGINAL = (b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\n"
            b"Subject: hello\r\nMessage-ID: <m1@example.com>\r\n\r\nthe body\r\n")
ENVELOPE = {"transaction": "tx1", "sender": "alice@example.com",
            "recipient": "bob@example.org", "ts": 1767225600.0, "transportid": "mx"}
REFUSED = {"result": {"code": 550, "enhanced": [5, 1, 1],
                      "reason": ["No such user", "here"], "state": "RCPT"},
           "connection": {"remotemx": "mx1.example.org", "remoteip": "192.0.2.1"}}
NOW = 1767229200.0

_TYPED = re.compile(r"[A-Za-z0-9-]+;\s*\S.*\Z", re.S)       # "type; value"
_STATUS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}\Z")
ACTION_CLASS = {"failed": "5", "delayed": "4", "delivered": "2", "relayed": "2",
                "expanded": "2"}


def parse_std(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def _groups(data: bytes, boundary: bytes):
    """The field groups of the report's second part, as dicts: read from its bytes as
    UTF-8 (Python's parser reads a message/global-delivery-status as one message, and
    8-bit header bytes of a bytes parse as replacement characters)."""
    part = data.split(b"\r\n--" + boundary + b"\r\n")[2]
    body = part.split(b"\r\n\r\n", 1)[1]
    out = []
    for block in re.split(r"\r\n\r\n", body.decode("utf-8").strip("\r\n")):
        out.append(dict(email.message_from_string(
            block + "\r\n\r\n", policy=email.policy.default).items()))
    return out


def check_report(data: bytes, action: str):
    """Assert that `data` is a valid RFC 6522 multipart/report with an RFC 3464 report
    of one recipient; return (message, per-message fields, per-recipient fields)."""
    assert b"\n" not in data.replace(b"\r\n", b""), "bare LF"
    assert b"\r" not in data.replace(b"\r\n", b""), "bare CR"
    assert all(len(line) <= 998 for line in data.split(b"\r\n")), "line over 998"
    msg = parse_std(data)
    assert msg.defects == []
    for name in ("From", "Date", "To", "Subject", "Message-ID", "MIME-Version"):
        assert len(msg.get_all(name) or []) == 1, name
    assert email.utils.parsedate_to_datetime(msg["Date"]) is not None
    assert msg["Auto-Submitted"] == "auto-replied"          # RFC 3834: no loops
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert len(parts) == 3 and all(p.defects == [] for p in parts)
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content_type() in ("message/delivery-status",
                                           "message/global-delivery-status")
    groups = _groups(data, msg.get_boundary().encode())
    assert len(groups) == 2                  # per message, one recipient
    per_message, per_recipient = groups
    # RFC 3464 2.2: Reporting-MTA is required, the rest typed or dates
    assert _TYPED.match(per_message["Reporting-MTA"])
    assert set(per_message) <= {"Reporting-MTA", "Original-Envelope-Id", "Arrival-Date",
                                "DSN-Gateway", "Received-From-MTA"}
    # RFC 3464 2.3: Final-Recipient, Action and Status are required
    assert _TYPED.match(per_recipient["Final-Recipient"])
    assert per_recipient["Action"] == action
    m = _STATUS.match(per_recipient["Status"])
    assert m and m.group(1) == ACTION_CLASS[action]
    for name in ("Original-Recipient", "Remote-MTA", "Diagnostic-Code"):
        if name in per_recipient:
            assert _TYPED.match(per_recipient[name]), name
    for group in groups:
        for name in ("Arrival-Date", "Last-Attempt-Date", "Will-Retry-Until"):
            if name in group:
                assert email.utils.parsedate_to_datetime(group[name]) is not None
    if action != "delayed":
        assert "Will-Retry-Until" not in per_recipient      # 2.3.9: delayed only
    # the boundary occurs only as the report's own delimiters
    boundary = msg.get_boundary().encode()
    lines = data.split(b"\r\n")
    assert all(line in (b"--" + boundary, b"--" + boundary + b"--")
               for line in lines if boundary in line and not line.startswith(b" "))
    return msg, per_message, per_recipient


def test_a_bounce_is_a_valid_delivery_status_report():
    data = dsn.build_dsn(ENVELOPE, ORIGINAL, action="failed", attempt=REFUSED,
                         reporting_mta="mx.example.net", now=NOW)
    msg, per_message, per_recipient = check_report(data, "failed")
    assert b"\r\nTo: <alice@example.com>\r\n" in data
    assert msg["From"] == "Mail Delivery System <MAILER-DAEMON@mx.example.net>"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert b"\r\nDate: Thu, 01 Jan 2026 01:00:00 +0000\r\n" in data
    assert msg["Message-ID"].endswith("@mx.example.net>")
    human, _, returned = msg.get_payload()
    text = human.get_content().replace("\r\n", "\n")
    assert "could not be delivered to <bob@example.org>" in text
    assert "mx1.example.org said:\n    550 No such user here" in text
    assert per_message == {"Reporting-MTA": "dns; mx.example.net",
                           "Arrival-Date": "Thu, 01 Jan 2026 00:00:00 +0000"}
    assert per_recipient == {"Final-Recipient": "rfc822; bob@example.org",
                             "Action": "failed", "Status": "5.1.1",
                             "Remote-MTA": "dns; mx1.example.org",
                             "Diagnostic-Code": "smtp; 550 No such user here",
                             "Last-Attempt-Date": "Thu, 01 Jan 2026 01:00:00 +0000"}
    # RET absent: the original's headers only
    assert returned.get_content_type() == "text/rfc822-headers"
    assert b"Subject: hello" in data and b"the body" not in data


def test_ret_full_returns_the_whole_message_and_envid_orcpt_are_xtext_decoded():
    env = {**ENVELOPE, "dsn": {"ret": "FULL", "envid": "E+2B42+3Dx",
                               "orcpt": "rfc822;Bob+2Btag@Example.org",
                               "notify": "FAILURE"}}
    msg, per_message, per_recipient = check_report(
        dsn.build_dsn(env, ORIGINAL, attempt=REFUSED, now=NOW), "failed")
    returned = msg.get_payload()[2]
    assert returned.get_content_type() == "message/rfc822"
    inner = returned.get_payload()[0]
    assert inner["Subject"] == "hello" and inner.get_content().rstrip() == "the body"
    assert per_message["Original-Envelope-Id"] == "E+42=x"
    assert per_recipient["Original-Recipient"] == "rfc822; Bob+tag@Example.org"


def test_ret_hdrs_returns_only_the_headers():
    env = {**ENVELOPE, "dsn": {"ret": "HDRS"}}
    data = dsn.build_dsn(env, ORIGINAL, attempt=REFUSED, now=NOW)
    msg, _, _ = check_report(data, "failed")
    returned = msg.get_payload()[2]
    assert returned.get_content_type() == "text/rfc822-headers"
    assert "Message-ID: <m1@example.com>" in returned.get_content()
    assert b"the body" not in data


def test_an_smtputf8_original_comes_back_as_message_global_with_utf8_addresses():
    original = ("From: Åsa <åsa@exämple.se>\r\nTo: 用户@例子.广告\r\n"
                "Subject: på väg\r\n\r\nhej då\r\n").encode()
    env = {**ENVELOPE, "sender": "åsa@exämple.se", "recipient": "用户@例子.广告",
           "dsn": {"ret": "FULL", "orcpt": "utf-8;\\x{7528}\\x{6237}@example.org"}}
    reply = {"result": {"code": 550, "enhanced": [5, 1, 1],
                        "reason": ["användaren finns inte"], "state": "RCPT"}}
    data = dsn.build_dsn(env, original, attempt=reply, now=NOW)
    msg, _, per_recipient = check_report(data, "failed")
    assert msg.get_payload()[1].get_content_type() == "message/global-delivery-status"
    assert per_recipient["Final-Recipient"] == "utf-8; 用户@例子.广告"
    assert per_recipient["Original-Recipient"] == "utf-8; 用户@example.org"
    assert per_recipient["Diagnostic-Code"] == "smtp; 550 användaren finns inte"
    assert "To: <åsa@exämple.se>".encode() in data
    returned = msg.get_payload()[2]
    assert returned.get_content_type() == "message/global"
    assert returned["Content-Transfer-Encoding"] == "8bit"
    assert original.rstrip(b"\r\n") in data          # byte for byte
    inner = returned.get_payload()[0]
    assert inner["Subject"] == "på väg"


def test_an_eight_bit_original_unfit_for_8bit_is_returned_in_base64():
    original = b"Subject: bin\r\n\r\n" + "é".encode() + b"\x00\r" + b"x" * 1200 + b"\r\n"
    env = {**ENVELOPE, "dsn": {"ret": "FULL"}}
    data = dsn.build_dsn(env, original, attempt=REFUSED, now=NOW)
    msg, _, _ = check_report(data, "failed")
    assert b"\x00" not in data
    # hsl's parser reads the part's encoded body back to the original exactly
    root = parse(data)
    part = root.children[2]
    assert part.ctype == b"message/global"
    body = data[part.body:part.end]
    assert base64.b64decode(body) == original


def test_ret_hdrs_with_8bit_headers_is_message_global_headers():
    original = "Subject: på väg\r\n\r\nx\r\n".encode()
    data = dsn.build_dsn(ENVELOPE, original, attempt=REFUSED, now=NOW)
    msg, _, _ = check_report(data, "failed")
    assert msg.get_payload()[2].get_content_type() == "message/global-headers"
    assert "Subject: på väg".encode() in data and b"\r\nx\r\n" not in data


def test_the_remote_reply_cannot_inject_fields_and_long_lines_are_folded():
    evil = {"result": {"code": 550, "enhanced": [5, 7, 1],
                       "reason": ["no\r\nBcc: victim@example.com\x00",
                                  "Status: 2.0.0\rX", "y" * 2500], "state": "RCPT"},
            "connection": {"remotemx": "mx.evil\r\nX-Injected: 1", "remoteip": "192.0.2.9"}}
    data = dsn.build_dsn(ENVELOPE, ORIGINAL, attempt=evil, now=NOW)
    msg, _, per_recipient = check_report(data, "failed")
    assert per_recipient["Status"] == "5.7.1"
    assert "Bcc" not in msg and "X-Injected" not in msg
    for line in data.split(b"\r\n"):
        assert not line.startswith((b"Bcc:", b"X-Injected:", b"Status: 2"))
    code = per_recipient["Diagnostic-Code"].replace(" ", "")
    assert code.startswith("smtp;550no") and "y" * 2500 in code
    assert per_recipient["Remote-MTA"] == "dns; mx.evil X-Injected: 1"


def test_the_boundary_never_occurs_in_the_original():
    source.fix(seed="dsn-test")
    try:
        first = source.boundary().decode()
    finally:
        source.fix()
    original = (b"Subject: x\r\nContent-Type: multipart/mixed; boundary=\"" +
                first.encode() + b"\"\r\n\r\n--" + first.encode() + b"\r\n\r\nhi\r\n--" +
                first.encode() + b"--\r\n")
    source.fix(seed="dsn-test")             # the builder would draw `first` again
    try:
        data = dsn.build_dsn({**ENVELOPE, "dsn": {"ret": "FULL"}}, original,
                             attempt=REFUSED, now=NOW)
        given = dsn.build_dsn({**ENVELOPE, "dsn": {"ret": "FULL"}}, original,
                              attempt=REFUSED, now=NOW, boundary=first)
    finally:
        source.fix()
    for out in (data, given):
        msg, _, _ = check_report(out, "failed")
        assert msg.get_boundary() != first
        assert msg.get_payload()[2].get_payload()[0].get_boundary() == first


def test_a_delayed_dsn_says_until_when_and_statuses_without_a_reply():
    timeout = {"error": {"message": "connection timed out", "temporary": True}}
    data = dsn.build_dsn(ENVELOPE, ORIGINAL, action="delayed", attempt=timeout, now=NOW,
                         retry_until=NOW + 86400)
    msg, _, per_recipient = check_report(data, "delayed")
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    assert (per_recipient["Action"], per_recipient["Status"]) == ("delayed", "4.4.1")
    assert per_recipient["Will-Retry-Until"] == "Fri, 02 Jan 2026 01:00:00 +0000"
    assert "Diagnostic-Code" not in per_recipient
    assert "still being retried" in msg.get_payload()[0].get_content()
    expired = check_report(dsn.build_dsn(ENVELOPE, ORIGINAL, attempt=timeout, expired=True,
                                         now=NOW, retry_until=NOW), "failed")[2]
    assert expired["Status"] == "5.4.7" and "Will-Retry-Until" not in expired
    nullmx = check_report(dsn.build_dsn(ENVELOPE, ORIGINAL, attempt={"error": {
        "message": "null MX", "temporary": False}}, now=NOW), "failed")[2]
    assert nullmx["Status"] == "5.4.4"
    tempfail = {"result": {"code": 451, "reason": ["try later"], "state": "RCPT"}}
    assert check_report(dsn.build_dsn(ENVELOPE, ORIGINAL, action="delayed",
                                      attempt=tempfail, now=NOW), "delayed")[2][
        "Status"] == "4.0.0"


def test_bounce_options_subject_from_name_and_headers():
    options = {"subject": "Unzustellbar: hällo", "from_name": "Postmästare",
               "headers": {"X-Tenant": "t1"}}
    data = dsn.build_dsn(ENVELOPE, ORIGINAL, attempt=REFUSED, options=options,
                         reporting_mta="mx.example.net", now=NOW)
    msg, _, _ = check_report(data, "failed")
    assert msg["Subject"] == "Unzustellbar: hällo"
    assert msg["From"] == "Postmästare <MAILER-DAEMON@mx.example.net>"
    assert msg["X-Tenant"] == "t1"
    assert data.split(b"\r\n\r\n")[0].isascii()         # RFC 2047 words in the header


@pytest.mark.parametrize("options,what", [
    ({"subject": "x\r\nBcc: evil@example.com"}, "subject"),
    ({"from_name": "a\nb"}, "from_name"),
    ({"headers": {"X-A": "1\r\nX-B: 2"}}, "header X-A"),
    ({"headers": {"Bad Name": "1"}}, "header name 'Bad Name'"),
    ({"headers": {"Content-Type": "text/plain"}}, "the report's own"),
])
def test_header_injection_is_refused(options, what):
    with pytest.raises(ValueError, match=what):
        dsn.build_dsn(ENVELOPE, ORIGINAL, attempt=REFUSED, options=options, now=NOW)


@pytest.mark.parametrize("envelope,action,due", [
    (ENVELOPE, "failed", True),
    (ENVELOPE, "delayed", True),
    ({**ENVELOPE, "sender": ""}, "failed", False),
    ({**ENVELOPE, "sender": ""}, "delayed", False),
    ({**ENVELOPE, "dsn": {"notify": "NEVER"}}, "failed", False),
    ({**ENVELOPE, "dsn": {"notify": "FAILURE"}}, "delayed", False),
    ({**ENVELOPE, "dsn": {"notify": ["success", "delay"]}}, "delayed", True),
    ({**ENVELOPE, "dsn": {"notify": "SUCCESS,DELAY"}}, "failed", False),
])
def test_dsn_due(envelope, action, due):
    assert dsn.dsn_due(envelope, action) is due


def test_the_dsn_copy_goes_to_the_sender_and_names_its_original(tmp_path):
    copy = dsn.dsn_copy(ENVELOPE, ORIGINAL, action="failed", transportid="bounces",
                        original_id="B-0", attempt=REFUSED, now=NOW)
    assert (copy.sender, copy.recipient, copy.transportid) == ("", "alice@example.com",
                                                               "bounces")
    # a message of its own: not the original's transaction id (logs key on it)
    import uuid
    assert copy.transaction != ENVELOPE["transaction"] and uuid.UUID(copy.transaction)
    (cid,) = spool.write_copies(str(tmp_path), [copy])
    (entry,) = spool.read_spool(str(tmp_path)).entries
    assert entry.id == cid and entry.envelope["dsn_of"] == "B-0"
    # hsl's own message parser reads it without an error: the report and its parts
    root = parse(entry.read_message())
    assert root.ctype == b"multipart/report" and root.params[b"report-type"] == \
        b"delivery-status"
    assert [c.ctype for c in root.children] == [b"text/plain", b"message/delivery-status",
                                                b"text/rfc822-headers"]
    assert [p.errors for p in (root, *root.children)] == [[], [], [], []]


# -- through a real run: the report arrives at the sender's sink ----------------------

@pytest.fixture
def utf8_sink():
    from test_builtins_smtpclient import Server
    from test_mail_send import Inbox
    inbox = Inbox()         # RCPT: bad* 550, later* 450
    server = Server(inbox, auth_require_tls=False, enable_SMTPUTF8=True)
    server.start()
    yield server, inbox
    server.stop()


def test_a_bounce_and_a_delayed_dsn_arrive_at_the_sink_as_valid_reports(utf8_sink,
                                                                        tmp_path):
    from test_queue_run import runner
    server, inbox = utf8_sink
    d = str(tmp_path / "sp")
    original = ("From: Åsa <åsa@exämple.se>\r\nSubject: på väg\r\n"
                "Message-ID: <u1@exämple.se>\r\n\r\nhej då\r\n").encode()
    sender = "åsa@exämple.se"
    bad, later = spool.write_copies(d, [
        spool.Copy(original, "tx", sender, "bad@example.org", "mx",
                   extra={"dsn": {"ret": "FULL", "envid": "Q+2B1",
                                  "orcpt": "rfc822;bad+2Bx@example.org"}}),
        spool.Copy(ORIGINAL, "tx", sender, "later@example.org", "mx",
                   extra={"dsn": {"notify": "DELAY,FAILURE"}})])
    groups = [{"id": "default", "retry": {"count": 3, "intervals": [
        {"interval": 600, "notify": True}, {"interval": 3600}]},
        "transports": [{"id": "mx"}]}]
    r, q = runner(d, server, groups=groups)
    first = {o.id: o for o in r.run(once=True)}
    assert first[bad].dsn == "failed" and first[later].dsn == "delayed"
    r.run(once=True)                        # the DSNs themselves are delivered
    assert len(inbox.messages) == 2
    reports = sorted((m for m in inbox.messages), key=lambda m: b"Delayed" in m[2])
    (rcpt_failed,), (rcpt_delayed,) = [m[1] for m in reports]
    assert rcpt_failed == rcpt_delayed == sender and all(m[0] == "<>" for m in reports)
    failed, delayed = (m[2] for m in reports)
    msg, per_message, per_recipient = check_report(failed, "failed")
    assert per_message["Original-Envelope-Id"] == "Q+1"
    assert per_message["Reporting-MTA"] == "dns; mx.test"
    assert per_recipient["Original-Recipient"] == "rfc822; bad+x@example.org"
    assert per_recipient["Final-Recipient"] == "rfc822; bad@example.org"
    assert per_recipient["Status"] == "5.1.1"      # the sink's "550 5.1.1 no such user"
    assert per_recipient["Remote-MTA"] == "dns; 127.0.0.1"
    assert msg.get_payload()[2].get_content_type() == "message/global"
    assert original.rstrip(b"\r\n") in failed
    _, _, waiting = check_report(delayed, "delayed")
    assert waiting["Status"] == "4.2.0"           # the sink's "450 4.2.0 mailbox busy"
    # two failures still to come after this one: 600 s, then 3600 s (the last repeats)
    start = 2_000_000_000
    assert email.utils.parsedate_to_datetime(waiting["Will-Retry-Until"]).timestamp() \
        == start + 600 + 3600
    q.close()


def test_bounce_dsn_options_with_a_line_break_are_a_runtime_error(utf8_sink, tmp_path):
    from test_queue_run import commit, runner
    server, inbox = utf8_sink
    d = str(tmp_path / "sp")
    commit(d, "ok@example.org")
    r, q = runner(d, server, pre='Bounce(["dsn" => ["headers" => '
                                 '["X-A" => "1\\r\\nBcc: evil@example.com"]]]);')
    (o,) = r.run(once=True)
    assert o.action == "queue" and "must not contain CR, LF or NUL" in o.error
    assert inbox.messages == []
    q.close()


def test_an_ascii_original_with_an_overlong_line_is_returned_encoded():
    original = b"Subject: long\r\n\r\n" + b"z" * 1500 + b"\r\n"
    data = dsn.build_dsn({**ENVELOPE, "dsn": {"ret": "FULL"}}, original,
                         attempt=REFUSED, now=NOW)
    check_report(data, "failed")                # (no line over 998)
    part = parse(data).children[2]
    assert part.ctype == b"message/global"
    assert base64.b64decode(data[part.body:part.end]) == original
    headers = b"Subject: " + b"h" * 1200 + b"\r\n\r\nbody\r\n"
    data = dsn.build_dsn(ENVELOPE, headers, attempt=REFUSED, now=NOW)
    check_report(data, "failed")
    part = parse(data).children[2]
    assert part.ctype == b"text/rfc822-headers"
    assert base64.b64decode(data[part.body:part.end]) == headers[:-len(b"\r\nbody\r\n")]
