"""RFC 3464 delivery status notifications (hsl/queue/dsn.py)."""
import email
import email.policy

import pytest

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


def parse_std(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def status_fields(msg):
    """The delivery-status part's two field groups, as dicts."""
    report = msg.get_payload()[1]
    assert report.get_content_type() == "message/delivery-status"
    groups = report.get_payload()
    return [dict(g.items()) for g in groups]


def test_a_bounce_is_a_valid_delivery_status_report():
    data = dsn.build_dsn(ENVELOPE, ORIGINAL, action="failed", attempt=REFUSED,
                         reporting_mta="mx.example.net", now=NOW)
    assert b"\n" not in data.replace(b"\r\n", b"")      # CRLF line ends only
    msg = parse_std(data)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert b"\r\nTo: <alice@example.com>\r\n" in data
    assert msg["From"] == "Mail Delivery System <MAILER-DAEMON@mx.example.net>"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert b"\r\nDate: Thu, 01 Jan 2026 01:00:00 GMT\r\n" in data
    assert msg["Message-ID"].endswith("@mx.example.net>")
    human, _, returned = msg.get_payload()
    text = human.get_content().replace("\r\n", "\n")
    assert "could not be delivered to <bob@example.org>" in text
    assert "mx1.example.org said:\n    550 No such user here" in text
    per_message, per_recipient = status_fields(msg)
    assert per_message == {"Reporting-MTA": "dns; mx.example.net",
                           "Arrival-Date": "Thu, 01 Jan 2026 00:00:00 GMT"}
    assert per_recipient == {"Final-Recipient": "rfc822; bob@example.org",
                             "Action": "failed", "Status": "5.1.1",
                             "Remote-MTA": "dns; mx1.example.org",
                             "Diagnostic-Code": "smtp; 550 No such user here",
                             "Last-Attempt-Date": "Thu, 01 Jan 2026 01:00:00 GMT"}
    # RET absent: the original's headers only
    assert returned.get_content_type() == "text/rfc822-headers"
    assert b"Subject: hello" in data and b"the body" not in data


def test_ret_full_returns_the_whole_message_and_dsn_fields_are_reported():
    env = {**ENVELOPE, "dsn": {"ret": "FULL", "envid": "E-42",
                               "orcpt": "rfc822;Bob@Example.org", "notify": "FAILURE"}}
    msg = parse_std(dsn.build_dsn(env, ORIGINAL, attempt=REFUSED, now=NOW))
    returned = msg.get_payload()[2]
    assert returned.get_content_type() == "message/rfc822"
    inner = returned.get_payload()[0]
    assert inner["Subject"] == "hello" and inner.get_content().rstrip() == "the body"
    per_message, per_recipient = status_fields(msg)
    assert per_message["Original-Envelope-Id"] == "E-42"
    assert per_recipient["Original-Recipient"] == "rfc822;Bob@Example.org"


def test_an_eight_bit_original_comes_back_as_headers_even_with_ret_full():
    original = ORIGINAL.replace(b"the body", "på väg".encode())
    env = {**ENVELOPE, "dsn": {"ret": "FULL"}}
    data = dsn.build_dsn(env, original, attempt=REFUSED, now=NOW)
    assert parse_std(data).get_payload()[2].get_content_type() == "text/rfc822-headers"
    assert "på väg".encode() not in data


def test_a_delayed_dsn_and_statuses_without_a_reply():
    timeout = {"error": {"message": "connection timed out", "temporary": True}}
    msg = parse_std(dsn.build_dsn(ENVELOPE, ORIGINAL, action="delayed", attempt=timeout,
                              now=NOW))
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    per_recipient = status_fields(msg)[1]
    assert (per_recipient["Action"], per_recipient["Status"]) == ("delayed", "4.4.1")
    assert "Diagnostic-Code" not in per_recipient
    assert "still being retried" in msg.get_payload()[0].get_content()
    expired = parse_std(dsn.build_dsn(ENVELOPE, ORIGINAL, attempt=timeout, expired=True,
                                  now=NOW))
    assert status_fields(expired)[1]["Status"] == "5.4.7"
    nullmx = parse_std(dsn.build_dsn(ENVELOPE, ORIGINAL, attempt={"error": {
        "message": "null MX", "temporary": False}}, now=NOW))
    assert status_fields(nullmx)[1]["Status"] == "5.4.4"
    tempfail = {"result": {"code": 451, "reason": ["try later"], "state": "RCPT"}}
    assert status_fields(parse_std(dsn.build_dsn(ENVELOPE, ORIGINAL, action="delayed",
                                             attempt=tempfail, now=NOW)))[1][
        "Status"] == "4.0.0"


def test_bounce_options_subject_from_name_and_headers():
    options = {"subject": "Undeliverable: hello", "from_name": "Postmaster",
               "headers": {"X-Tenant": "t1"}}
    msg = parse_std(dsn.build_dsn(ENVELOPE, ORIGINAL, attempt=REFUSED, options=options,
                              reporting_mta="mx.example.net", now=NOW))
    assert msg["Subject"] == "Undeliverable: hello"
    assert msg["From"] == "Postmaster <MAILER-DAEMON@mx.example.net>"
    assert msg["X-Tenant"] == "t1"


@pytest.mark.parametrize("options,what", [
    ({"subject": "x\r\nBcc: evil@example.com"}, "subject"),
    ({"from_name": "a\nb"}, "from_name"),
    ({"headers": {"X-A": "1\r\nX-B: 2"}}, "header X-A"),
    ({"headers": {"Bad Name": "1"}}, "header name 'Bad Name'"),
])
def test_header_injection_is_refused(options, what):
    with pytest.raises(ValueError, match=what):
        dsn.build_dsn(ENVELOPE, ORIGINAL, attempt=REFUSED, options=options, now=NOW)


@pytest.mark.parametrize("envelope,action,due", [
    (ENVELOPE, "failed", True),
    (ENVELOPE, "delayed", True),
    ({**ENVELOPE, "sender": ""}, "failed", False),
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
