"""The MIME builder (builtins.md "MIME"): every method, the output byte for byte with a
fixed clock and boundary source, and that MailMessage reads back what it built."""
import pytest

from hsl.errors import ScriptError
from hsl.mail import source
from hsl.runtime.values import from_python, to_python

import mail_corpus as C
from mail_helpers import MIME, call, fixed_source, msg  # noqa: F401

DATE = b"Tue, 03 Mar 2026 10:00:00 +0000"
pytestmark = pytest.mark.usefixtures("fixed_source")


def test_the_simplest_message():
    m = MIME()
    assert call(m, "toString") == (b"Date: " + DATE + b"\r\nMIME-Version: 1.0\r\n"
                                   b"Content-Type: text/plain; charset=utf-8\r\n\r\n")
    assert call(m, "addHeader", b"Subject", b"hi") is m           # setters chain
    assert call(m, "setBody", b"hello\nworld") is m
    assert call(m, "toString") == (
        b"Subject: hi\r\nDate: " + DATE + b"\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nhello\r\nworld")
    assert call(m, "toFile").read() == call(m, "toString")


def test_the_fixed_source_fixes_boundaries_and_dates():
    source.fix(time=0.0, seed="same")
    a = MIME()
    call(a, "appendPart", MIME())
    source.fix(time=0.0, seed="same")
    b = MIME()
    call(b, "appendPart", MIME())
    assert call(a, "toString") == call(b, "toString")
    assert b"Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n" in call(a, "toString")
    source.fix(seed="other")
    c = MIME()
    call(c, "appendPart", MIME())
    assert call(c, "toString") != call(a, "toString")


def test_the_environment_fixes_the_source(monkeypatch):
    monkeypatch.setenv("HSL_MAIL_TIME", "86400")
    monkeypatch.setenv("HSL_MAIL_SEED", "env")
    source.fix()
    one = source.boundary()
    assert source.now() == 86400.0
    source.fix()
    assert source.boundary() == one
    monkeypatch.delenv("HSL_MAIL_SEED")
    monkeypatch.delenv("HSL_MAIL_TIME")
    source.fix()
    assert source.boundary() != source.boundary()


def test_body_encodings():
    m = MIME()
    call(m, "setBody", "Grüße aus Köln, mostly ascii text".encode())
    text = call(m, "toString")
    assert b"Content-Transfer-Encoding: quoted-printable\r\n" in text
    assert text.endswith(b"Gr=C3=BC=C3=9Fe aus K=C3=B6ln, mostly ascii text")
    assert call(msg(text), "getBody") == "Grüße aus Köln, mostly ascii text".encode()
    call(m, "setType", b"application/octet-stream")
    call(m, "setBody", bytes(range(256)))
    text = call(m, "toString")
    assert b"Content-Transfer-Encoding: base64\r\n" in text
    assert b"Content-Type: application/octet-stream\r\n" in text
    assert call(msg(text), "getBody") == bytes(range(256))
    own = MIME()
    call(own, "addHeader", b"Content-Transfer-Encoding", b"8bit")
    call(own, "setBody", "raw ü".encode())
    assert call(own, "toString").endswith("\r\n\r\nraw ü".encode())
    assert call(own, "toString").count(b"Content-Transfer-Encoding") == 1
    # an own base64 or quoted-printable field: the body is encoded so (halon-extras
    # smime adds "Content-Transfer-Encoding: base64" and sets the DER signature)
    for cte in (b"base64", b"quoted-printable"):
        own = MIME()
        call(own, "addHeader", b"Content-Transfer-Encoding", cte)
        call(own, "setBody", b"\x30\x82\x01\xff signature=")
        text = call(own, "toString")
        assert call(msg(text), "getBody") == b"\x30\x82\x01\xff signature="
        assert b"\xff" not in text and text.count(b"Content-Transfer-Encoding") == 1


def test_types_file_names_and_dispositions():
    m = MIME()
    call(m, "setType", b"text/html")
    assert b"Content-Type: text/html; charset=utf-8\r\n" in call(m, "toString")
    call(m, "setType", b"text/plain; charset=iso-8859-1")
    assert b"Content-Type: text/plain; charset=iso-8859-1\r\n" in call(m, "toString")
    a = MIME()
    call(a, "setType", b"application/pdf")
    call(a, "setFileName", b"report 2026.pdf")
    text = call(a, "toString")
    assert b'Content-Type: application/pdf; name="report 2026.pdf"\r\n' in text
    assert b'Content-Disposition: attachment; filename="report 2026.pdf"\r\n' in text
    call(a, "setDisposition", b"inline")
    assert b'Content-Disposition: inline; filename="report 2026.pdf"\r\n' in \
        call(a, "toString")
    call(a, "setFileName", "été.pdf".encode())
    back = msg(call(a, "toString"))
    assert call(back, "getFileName") == "été.pdf".encode()
    d = MIME()
    call(d, "setDisposition", b"inline")
    assert b"Content-Disposition: inline\r\n" in call(d, "toString")


def test_dates():
    m = MIME()
    call(m, "setDate", 0.0)
    assert b"Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n" in call(m, "toString")
    source.fix(time=86400.0 * 365)
    call(m, "setDate")
    assert b"Date: Fri, 01 Jan 1971 00:00:00 +0000\r\n" in call(m, "toString")
    own = MIME()
    call(own, "addHeader", b"Date", b"Mon, 1 Jan 2001 00:00:00 +0100")
    assert call(own, "toString").count(b"Date:") == 1
    with pytest.raises(ScriptError, match="type"):
        call(m, "setDate", b"today")


def test_multiparts():
    m = MIME()
    call(m, "addHeader", b"Subject", b"parts")
    text = MIME()
    call(text, "setBody", b"text part")
    html = MIME()
    call(html, "setType", b"text/html")
    call(html, "setBody", b"<p>html part</p>")
    alt = MIME()
    call(alt, "setType", b"multipart/alternative")
    call(alt, "setBoundary", b"alt-boundary")
    call(alt, "appendPart", text)
    call(alt, "appendPart", html)
    call(m, "appendPart", alt)
    att = MIME()
    call(att, "setType", b"image/png")
    call(att, "setFileName", b"logo.png")
    call(att, "setBody", C.PNG_DATA)
    call(m, "appendPart", att)
    out = call(m, "toString")
    assert out.count(b"MIME-Version") == 1 and out.count(b"Date:") == 1   # top only
    back = msg(out)
    assert call(back, "getType") == b"multipart/mixed"
    assert to_python(call(back, "getErrors")) == []
    a, png = call(back, "getParts").values()
    assert call(a, "getTypeParameter", b"boundary") == b"alt-boundary"
    assert [call(p, "getBody") for p in call(a, "getParts").values()] == [
        b"text part", b"<p>html part</p>"]
    assert call(png, "getBody") == C.PNG_DATA
    assert call(png, "getFileName") == b"logo.png"


def test_append_part_takes_messages_and_parts():
    m = MIME()
    call(m, "setType", b"multipart/report; report-type=delivery-status")
    call(m, "setBody", b"preamble text")
    original = msg(C.SIMPLE)
    call(original, "addHeader", b"X-Edited", b"1")
    call(m, "appendPart", original)
    part = call(msg(C.NEWSLETTER), "getParts").values()[1]
    call(m, "appendPart", part)
    back = msg(call(m, "toString"))
    assert call(back, "getType") == b"multipart/report"
    assert call(back, "getTypeParameter", b"report-type") == b"delivery-status"
    assert call(back, "getPreamble") == b"preamble text"
    first, second = call(back, "getParts").values()
    assert call(first, "getHeader", b"x-edited") == b"1"
    assert call(first, "getBody") == call(original, "getBody")
    assert call(second, "getType") == b"text/html"
    typed = MIME()
    call(typed, "appendPart", MIME(), from_python({"type": "multipart/related"}))
    assert call(msg(call(typed, "toString")), "getType") == b"multipart/related"
    with pytest.raises(ScriptError, match="itself"):
        call(m, "appendPart", m)
    with pytest.raises(ScriptError, match="MIME, MIMEPart or MailMessage"):
        call(m, "appendPart", b"text")


def test_parts_are_copied_when_appended():
    outer, inner = MIME(), MIME()
    call(inner, "setBody", b"before")
    call(outer, "appendPart", inner)
    call(inner, "setBody", b"after")
    part = call(msg(call(outer, "toString")), "getParts").values()[0]
    assert call(part, "getBody") == b"before"


def test_add_header_encoding_and_errors():
    m = MIME()
    call(m, "addHeader", b"Subject", "Grüße".encode())
    call(m, "addHeader", b"X-Raw", b"as is", from_python({"encode": False}))
    text = call(m, "toString")
    assert text.startswith(b"Subject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?=\r\nX-Raw: as is\r\n")
    with pytest.raises(ScriptError, match="invalid header field name"):
        call(m, "addHeader", b"Sub ject", b"x")
    with pytest.raises(ScriptError, match="boundary"):
        call(m, "setBoundary", b"")
    with pytest.raises(ScriptError, match="boundary"):
        call(m, "setBoundary", b"x" * 71)
    with pytest.raises(ScriptError, match="one line"):
        call(m, "setType", b"text/plain\r\nBcc: x")


def test_own_content_type_gives_the_boundary():
    m = MIME()
    call(m, "addHeader", b"Content-Type", b'multipart/mixed; boundary="mine"')
    call(m, "appendPart", MIME())
    text = call(m, "toString")
    assert text.count(b"Content-Type: multipart") == 1
    assert b"\r\n--mine\r\n" in text and text.endswith(b"--mine--\r\n")


def test_queue_is_a_clear_error_and_dkim_answers_bad_input_cleanly():
    m = MIME()
    with pytest.raises(ScriptError, match="only available in the eod hook"):
        call(m, "queue", b"a@example.org", b"b@example.org", b"mx")
    assert call(m, "signDKIM", b"s", b"example.org", b"not a key") is None
    mm = msg(C.SIMPLE)
    with pytest.raises(ScriptError, match="only available in the eod hook"):
        call(mm, "queue", b"a@example.org", b"b@example.org", b"mx")
    result = call(mm, "verifyDKIM", b"DKIM-Signature: v=1")
    assert result.get(b"result") == b"permerror" and result.get(b"error")


def test_queue_in_the_eod_hook_gets_the_modified_message():
    import hsl.runtime.execution as R
    queued = []

    class FakeExecution:
        def queue_message(self, data, sender, recipient, transportid, options):
            queued.append((data, sender, recipient, transportid))
            return from_python({"transaction": "id", "queue": 1})

    mm = msg(C.SIMPLE)
    call(mm, "addHeader", b"X-Queued", b"1")
    saved = getattr(R._current, "execution", None)
    R._current.execution = FakeExecution()
    try:
        result = call(mm, "queue", b"a@example.org", b"b@example.org", b"mx")
    finally:
        R._current.execution = saved
    assert to_python(result) == {"transaction": "id", "queue": 1}
    assert queued == [(b"X-Queued: 1\r\n" + C.SIMPLE, b"a@example.org", b"b@example.org",
                       b"mx")]


def test_message_parts_are_never_transfer_encoded():
    """RFC 2046 5.2.1: message/rfc822 bodies are 7bit, 8bit or binary."""
    original = "Subject: Grüße\r\n\r\nGrüße aus Köln\r\n".encode()
    part = MIME()
    call(part, "setType", b"message/rfc822")
    call(part, "setBody", original)
    text = call(part, "toString")
    assert b"Content-Transfer-Encoding: 8bit\r\n" in text and text.endswith(original)
    ascii_part = MIME()
    call(ascii_part, "setType", b"message/delivery-status")
    call(ascii_part, "setBody", b"Action: failed\n")
    assert b"Content-Transfer-Encoding" not in call(ascii_part, "toString")
    m = msg(C.FORWARD)
    fwd = call(m, "getParts").values()[1]
    call(fwd, "setBody", original)
    again = msg(call(m, "toString"))
    inner = call(again, "getParts").values()[1]
    assert call(inner, "getHeader", b"content-transfer-encoding") == b"8bit"
    assert call(inner, "getBody") == original
