"""Modifying messages (hooks.md §3): every modifying MIMEPart/MailMessage method with its
options, how edits combine, snapshot/restore/reset/modifyContent, and that `get*` keeps
reading the message as received while toString() applies the edits."""
import pytest

from hsl.errors import ScriptError
from hsl.runtime.values import to_python

import mail_corpus as C
from mail_helpers import MIME, call, fixed_source, msg, opts, parts  # noqa: F401


def out(m) -> bytes:
    return call(m, "toString")


pytestmark = pytest.mark.usefixtures("fixed_source")

BASIC = b"From: a@example.org\r\nSubject: hello\r\nX-A: 1\r\nX-A: 2\r\n\r\nbody\r\n"


# ---------------------------------------------------------------------- headers

def test_add_header_goes_on_top_and_get_reads_the_original():
    m = msg(BASIC)
    assert call(m, "addHeader", b"X-New", b"one") is None
    call(m, "addHeader", b"X-New", b"two")
    assert out(m) == b"X-New: two\r\nX-New: one\r\n" + BASIC
    assert call(m, "getHeader", b"x-new") is None
    assert to_python(call(m, "getHeaderNames")) == ["from", "subject", "x-a", "x-a"]


def test_add_header_encodes_and_folds_unless_told_not_to():
    m = msg(BASIC)
    call(m, "addHeader", b"Subject", "Grüße".encode())
    call(m, "addHeader", b"X-B", "Grüße".encode(), opts(encoding="base64"))
    call(m, "addHeader", b"ARC-Seal", b"i=1; a=rsa-sha256;\r\n\tb=abc", opts(encode=False))
    text = out(m)
    assert text.startswith(b"ARC-Seal: i=1; a=rsa-sha256;\r\n\tb=abc\r\n"
                           b"X-B: =?utf-8?B?R3LDvMOfZQ==?=\r\n"
                           b"Subject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?=\r\n")
    long_value = b" ".join(b"word%d" % i for i in range(40))
    call(m, "addHeader", b"X-Long", long_value)
    top = out(m).split(b"\r\nARC-Seal")[0]
    assert all(len(line) <= 78 for line in top.split(b"\r\n"))
    assert call(msg(out(m)), "getHeader", b"x-long") == long_value
    assert call(msg(out(m)), "getHeader", b"x-b") == "Grüße".encode()


def test_header_values_cannot_inject_fields():
    m = msg(BASIC)
    call(m, "addHeader", b"X-Inject", b"a\r\nBcc: evil@example.com")
    again = msg(out(m))
    assert call(again, "getHeader", b"bcc") is None
    assert call(again, "getHeader", b"x-inject") == b"a Bcc: evil@example.com"
    with pytest.raises(ScriptError, match="invalid header field name"):
        call(m, "addHeader", b"Bad Name", b"x")
    with pytest.raises(ScriptError, match="invalid header field name"):
        call(m, "setHeader", b"", b"x")
    with pytest.raises(ScriptError, match="encoding"):
        call(m, "addHeader", b"X", b"y", opts(encoding="uuencode"))


def test_set_header_replaces_in_place_or_adds_on_top():
    m = msg(BASIC)
    assert call(m, "setHeader", b"x-a", b"new") == 2.0
    assert out(m) == (b"From: a@example.org\r\nSubject: hello\r\nx-a: new\r\nx-a: new\r\n"
                      b"\r\nbody\r\n")
    m = msg(BASIC)
    assert call(m, "setHeader", b"X-A", b"second", opts(index=1)) == 1.0
    assert call(m, "setHeader", b"X-A", b"none", opts(index=5)) == 0.0
    assert out(m) == BASIC.replace(b"X-A: 2", b"X-A: second")
    m = msg(BASIC)
    assert call(m, "setHeader", b"X-Absent", b"v") == 1.0
    assert call(m, "setHeader", b"X-Absent", b"w") == 1.0     # replaces what it added
    assert out(m) == b"X-Absent: w\r\n" + BASIC
    assert call(m, "getHeader", b"x-absent") is None
    m = msg(BASIC)
    call(m, "setHeader", b"Subject", "é".encode(), opts(encode=False))
    assert b"Subject: \xc3\xa9\r\n" in out(m)


def test_del_header_and_index():
    m = msg(BASIC)
    assert call(m, "delHeader", b"x-a", opts(index=0)) == 1.0
    assert out(m) == BASIC.replace(b"X-A: 1\r\n", b"")
    assert call(m, "delHeader", b"X-A") == 1.0            # the one that is left
    assert call(m, "delHeader", b"X-A") == 0.0
    assert out(m) == b"From: a@example.org\r\nSubject: hello\r\n\r\nbody\r\n"
    assert call(m, "getHeader", b"x-a") == b"1"            # still the original
    m = msg(b"Received: a\r\n b\r\nReceived: c\r\n\r\n")
    assert call(m, "delHeader", b"received", opts(index=-1)) == 1.0
    assert out(m) == b"Received: a\r\n b\r\n\r\n"          # with its continuation lines
    m = msg(BASIC)
    call(m, "addHeader", b"X-Tmp", b"1")
    assert call(m, "delHeader", b"x-tmp") == 1.0
    assert out(m) == BASIC


def test_del_header_keeps_what_set_header_wrote():
    """S/MIME and PGP/MIME modules of Halon strip a signature or decrypt by copying the
    inner part's fields with setHeader and then deleting Content-Type,
    Content-Transfer-Encoding and Content-Disposition: the copies stay, the fields they
    did not replace go."""
    m = msg(b"Content-Type: application/pkcs7-mime\r\nContent-Disposition: attachment\r\n"
            b"Subject: s\r\n\r\nMIIB\r\n")
    call(m, "setHeader", b"content-type", b"multipart/alternative; boundary=b")
    call(m, "setHeader", b"mime-version", b"1.0")
    for name in (b"Content-Type", b"Content-Transfer-Encoding", b"Content-Disposition"):
        call(m, "delHeader", name)
    assert out(m) == (b"mime-version: 1.0\r\ncontent-type: multipart/alternative; "
                      b"boundary=b\r\nSubject: s\r\n\r\nMIIB\r\n")
    # an index names the field as received: that one goes, whatever wrote it
    assert call(m, "delHeader", b"content-type", opts(index=0)) == 1.0
    assert b"content-type" not in out(m)


def test_indexes_count_the_fields_as_received():
    """getHeaders() numbers the fields as received; so do the indexes of the edits, so a
    script can delete the ones it found, in any order."""
    m = msg(b"A-R: mx; pass\r\nA-R: evil; pass\r\nA-R: mx; fail\r\nA-R: evil; x\r\n\r\n")
    for i, value in enumerate(call(m, "getHeaders", b"a-r").values()):
        if value.startswith(b"evil"):
            assert call(m, "delHeader", b"A-R", opts(index=i)) == 1.0
    assert out(m) == b"A-R: mx; pass\r\nA-R: mx; fail\r\n\r\n"
    assert call(m, "delHeader", b"A-R", opts(index=1)) == 0.0      # deleted already
    assert call(m, "setHeader", b"A-R", b"back", opts(index=1)) == 1.0
    assert call(m, "renameHeader", b"a-r", b"X", opts(index=-1)) == 0.0   # deleted
    assert call(m, "renameHeader", b"a-r", b"X", opts(index=-2)) == 1.0
    assert out(m) == b"A-R: mx; pass\r\nA-R: back\r\nX: mx; fail\r\n\r\n"
    assert call(m, "snapshot") == 4.0             # the calls that changed nothing are none


def test_rename_header():
    m = msg(b"Subject: x\r\nX-Spam: yes\r\n  folded\r\nX-Spam: no\r\n\r\n")
    assert call(m, "renameHeader", b"x-spam", b"X-Old-Spam", opts(index=0)) == 1.0
    assert out(m) == b"Subject: x\r\nX-Old-Spam: yes\r\n  folded\r\nX-Spam: no\r\n\r\n"
    assert call(m, "renameHeader", b"x-old-spam", b"X-Gone") == 1.0
    assert call(m, "renameHeader", b"nothing", b"X") == 0.0
    assert call(m, "delHeader", b"x-gone") == 1.0
    assert out(m) == b"Subject: x\r\nX-Spam: no\r\n\r\n"
    with pytest.raises(ScriptError, match="invalid header field name"):
        call(m, "renameHeader", b"subject", b"a:b")


def test_edits_on_lf_messages_write_crlf_and_keep_the_rest():
    m = msg(b"Subject: x\nX: y\n\nbody\n")
    call(m, "setHeader", b"X", b"z")
    assert out(m) == b"Subject: x\nX: z\r\n\nbody\n"


def test_header_edits_on_a_message_without_body_or_line_break():
    m = msg(b"Subject: only")
    call(m, "addHeader", b"X", b"1")
    assert out(m) == b"X: 1\r\nSubject: only"
    call(m, "setBody", b"text")
    assert out(m) == b"X: 1\r\nSubject: only\r\n\r\ntext"
    m = msg(b"")
    call(m, "addHeader", b"Subject", b"new")
    assert out(m) == b"Subject: new\r\n"


def test_header_edits_on_a_sub_part():
    m = msg(C.NEWSLETTER)
    text, html = parts(m)
    call(html, "setHeader", b"Content-Type", b"text/html; charset=us-ascii")
    call(text, "addHeader", b"X-Part", b"1")
    new = msg(out(m))
    t2, h2 = parts(new)
    assert call(h2, "getTypeParameter", b"charset") == b"us-ascii"
    assert call(t2, "getHeader", b"x-part") == b"1"
    assert call(t2, "getBody") == call(text, "getBody")
    assert len(out(m)) == len(C.NEWSLETTER) + len(b"X-Part: 1\r\n") - len(
        b"utf-8") + len(b"us-ascii")


# ---------------------------------------------------------------------- bodies

def test_set_body_with_an_identity_encoding_takes_the_data_as_it_is():
    """Halon's S/MIME module puts a verified LF message back with ["encoding" =>
    "7bit"] and expects its body byte for byte; chosen 7bit writes CRLF."""
    m = msg(b"Subject: s\n\nold\n")
    call(m, "setBody", b"line one\nline two\n", opts(encoding=b"7bit"))
    assert call(msg(out(m)), "getBody") == b"line one\nline two\n"
    call(m, "setBody", b"line one\nline two\n")
    assert call(msg(out(m)), "getBody") == b"line one\r\nline two\r\n"


def test_set_body_picks_the_encoding_and_sets_the_header():
    m = msg(C.SIMPLE)
    call(m, "setBody", b"plain ascii\nsecond line")
    new = msg(out(m))
    assert call(new, "getBody") == b"plain ascii\r\nsecond line"
    assert call(new, "getHeader", b"content-transfer-encoding") is None   # the default
    b64 = msg(b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n")
    call(b64, "setBody", b"hello")
    assert out(b64) == b"Content-Transfer-Encoding: 7bit\r\n\r\nhello"
    call(m, "setBody", "mostly ascii text with a few ümlauts".encode())
    new = msg(out(m))
    assert call(new, "getHeader", b"content-transfer-encoding") == b"quoted-printable"
    assert call(new, "getBody") == "mostly ascii text with a few ümlauts".encode()
    data = bytes(range(256)) * 10
    call(m, "setBody", data)
    new = msg(out(m))
    assert call(new, "getHeader", b"content-transfer-encoding") == b"base64"
    assert call(new, "getBody") == data
    assert len(call(new, "getHeaders", b"content-transfer-encoding").values()) == 1
    assert call(m, "getBody") == call(msg(C.SIMPLE), "getBody")     # reads the original


def test_set_body_encoding_option():
    m = msg(BASIC)
    call(m, "setBody", b"abc", opts(encoding="base64"))
    assert out(m).endswith(b"\r\n\r\nYWJj\r\n")
    assert call(msg(out(m)), "getHeader", b"content-transfer-encoding") == b"base64"
    call(m, "setBody", b"a=b", opts(encoding="quoted-printable"))
    assert call(msg(out(m)), "getBody", opts(decode=False)) == b"a=3Db"
    call(m, "setBody", b"\xff raw", opts(encoding="8bit"))
    assert out(m).endswith(b"\r\n\r\n\xff raw")
    with pytest.raises(ScriptError, match="encoding"):
        call(m, "setBody", b"x", opts(encoding="rot13"))


def test_set_body_of_a_part_keeps_the_others():
    m = msg(C.ATTACHMENTS)
    pdf = parts(m)[1]
    call(pdf, "setBody", b"%PDF new")
    new = msg(out(m))
    assert call(parts(new)[1], "getBody") == b"%PDF new"
    assert call(parts(new)[1], "getFileName") == b"report.pdf"
    for a, b in zip(parts(new)[2:], parts(m)[2:]):
        assert call(a, "getBody") == call(b, "getBody")


# ---------------------------------------------------------------------- structure

def test_append_and_prepend_to_a_multipart():
    m = msg(C.LF_MULTIPART)
    extra = MIME()
    call(extra, "setBody", b"three")
    call(m, "appendPart", extra)
    first = MIME()
    call(first, "setType", b"text/html")
    call(first, "setBody", b"<p>zero</p>")
    call(m, "prependPart", first)
    new = msg(out(m))
    assert [call(p, "getBody") for p in parts(new)] == [b"<p>zero</p>", b"one", b"two",
                                                         b"three"]
    assert call(new, "getPreamble") == b"preamble line"
    assert call(new, "getEpilogue") == b"epilogue line\n"
    assert to_python(call(new, "getErrors")) == []


SIGNED = 'multipart/signed; protocol="application/pkcs7-signature"'


def signature_part(body: bytes):
    sig = MIME()
    call(sig, "setType", b"application/pkcs7-signature")
    call(sig, "setBody", body)
    return sig


def test_append_to_a_single_part_message_wraps_it():
    m = msg(C.SIMPLE)
    call(m, "appendPart", signature_part(b"\x30\x82signature"),
         opts(type=SIGNED + "; micalg=sha-256"))
    new = msg(out(m))
    assert call(new, "getType") == b"multipart/signed"
    assert call(new, "getTypeParameter", b"protocol") == b"application/pkcs7-signature"
    assert call(new, "getHeader", b"subject") == b"Lunch on Thursday?"     # stays on top
    assert call(new, "getHeader", b"mime-version") == b"1.0 (produced by hand)"
    content, signature = parts(new)
    assert call(content, "getType") == b"text/plain"
    assert call(content, "getTypeParameter", b"format") == b"flowed"
    assert call(content, "getBody") == call(m, "getBody")
    assert call(content, "getHeader", b"subject") is None
    assert call(signature, "getBody") == b"\x30\x82signature"
    # a second append goes into the same new multipart
    call(m, "appendPart", MIME())
    assert len(parts(msg(out(m)))) == 3
    call(m, "prependPart", MIME())
    assert len(parts(msg(out(m)))) == 4


def test_append_with_another_multipart_type_wraps_a_multipart():
    """Signing a multipart/alternative message (halon-extras smime: appendPart of the
    signature with ["type" => "multipart/signed; ..."]) wraps it: the alternative goes
    whole into the first part, the signature after it; the same type appends."""
    m = msg(C.LF_MULTIPART)
    sig = signature_part(b"SIG")
    call(m, "appendPart", sig, opts(type=SIGNED))
    new = msg(out(m))
    assert call(new, "getType") == b"multipart/signed"
    inner, signature = parts(new)
    assert call(inner, "getType") == call(m, "getType")
    assert [call(p, "getBody") for p in parts(inner)] == [b"one", b"two"]
    assert call(signature, "getBody") == b"SIG"
    assert to_python(call(new, "getErrors")) == []
    same = msg(C.LF_MULTIPART)
    call(same, "appendPart", sig, opts(type=call(same, "getType")))
    assert len(parts(msg(out(same)))) == 3


def test_wrapping_a_part_inside_a_multipart():
    m = msg(C.NEWSLETTER)
    text = parts(m)[0]
    extra = MIME()
    call(extra, "setBody", b"extra")
    call(text, "prependPart", extra, opts(type="multipart/alternative"))
    new = msg(out(m))
    inner = parts(new)[0]
    assert call(inner, "getType") == b"multipart/alternative"
    assert [call(p, "getType") for p in parts(inner)] == [b"text/plain", b"text/plain"]
    assert call(parts(inner)[1], "getBody") == call(text, "getBody")
    assert call(parts(inner)[0], "getBody") == b"extra"
    with pytest.raises(ScriptError, match="multipart"):
        call(text, "appendPart", MIME(), opts(type="text/plain"))


def test_remove_and_replace_parts():
    m = msg(C.ATTACHMENTS)
    alt, pdf, xls, txt = parts(m)
    call(pdf, "remove")
    call(txt, "remove")
    new = MIME()
    call(new, "setType", b"text/plain")
    call(new, "setBody", b"replaced")
    call(xls, "replacePart", new)
    again = msg(out(m))
    assert [call(p, "getType") for p in parts(again)] == [b"multipart/alternative",
                                                          b"text/plain"]
    assert call(parts(again)[1], "getBody") == b"replaced"
    assert to_python(call(again, "getErrors")) == []
    call(m, "remove")                           # the message itself: nothing happens
    assert msg(out(m)) is not None and len(parts(msg(out(m)))) == 2
    # edits below a removed part go with it
    call(call(alt, "getParts").values()[0], "addHeader", b"X-Gone", b"1")
    call(alt, "remove")
    assert b"X-Gone" not in out(m)


def test_replace_the_message_itself_keeps_its_own_fields():
    m = msg(C.SIMPLE)
    enc = MIME()
    call(enc, "setType", b"application/pkcs7-mime; smime-type=enveloped-data")
    call(enc, "setBody", b"\x00\x01 encrypted")
    call(m, "replacePart", enc)
    new = msg(out(m))
    assert call(new, "getHeader", b"subject") == b"Lunch on Thursday?"
    assert call(new, "getType") == b"application/pkcs7-mime"
    assert call(new, "getBody") == b"\x00\x01 encrypted"
    assert len(call(new, "getHeaders", b"content-type").values()) == 1


def test_parts_of_other_messages_and_messages_as_parts():
    other = msg(C.NEWSLETTER)
    html = parts(other)[1]
    call(html, "addHeader", b"X-Moved", b"1")
    m = msg(C.LF_MULTIPART)
    call(m, "appendPart", html)
    call(m, "appendPart", msg(C.SIMPLE))
    new = msg(out(m))
    moved, whole = parts(new)[2:]
    assert call(moved, "getHeader", b"x-moved") == b"1"
    assert call(moved, "getBody") == call(html, "getBody")
    assert call(whole, "getHeader", b"subject") == b"Lunch on Thursday?"
    with pytest.raises(ScriptError, match="MIME, MIMEPart or MailMessage"):
        call(m, "appendPart", b"text")


def test_preamble_and_epilogue_edits():
    m = msg(C.NEWSLETTER)
    call(m, "setPreamble", b"new preamble")
    call(m, "setEpilogue", b"new epilogue\r\n")
    new = msg(out(m))
    assert call(new, "getPreamble") == b"new preamble"
    assert call(new, "getEpilogue") == b"new epilogue\r\n"
    assert len(parts(new)) == 2
    assert call(parts(m)[0], "setPreamble", b"x") is None            # not a multipart
    m = msg(C.CLOSE_AT_EOF)                 # no preamble, close delimiter at the end
    call(m, "setPreamble", b"pre")
    call(m, "setEpilogue", b"epi")
    new = msg(out(m))
    assert (call(new, "getPreamble"), call(new, "getEpilogue")) == (b"pre", b"epi")
    m = msg(C.UNCLOSED)
    call(m, "setEpilogue", b"closed now")
    new = msg(out(m))
    assert to_python(call(new, "getErrors")) == []
    assert call(new, "getEpilogue") == b"closed now"


def test_set_date_later():
    m = msg(b"Subject: x\r\n\r\nbody")
    call(m, "setDateLater")
    assert out(m) == b"Date: Tue, 03 Mar 2026 10:00:00 +0000\r\nSubject: x\r\n\r\nbody"
    m = msg(C.SIMPLE)
    call(m, "setDateLater")
    assert out(m) == C.SIMPLE


# ---------------------------------------------------------------------- the modification list

def test_snapshot_restore_reset():
    m = msg(BASIC)
    assert call(m, "snapshot") == 0.0
    call(m, "addHeader", b"X-1", b"1")
    s1 = call(m, "snapshot")
    call(m, "setHeader", b"Subject", b"changed")
    call(m, "delHeader", b"x-a")
    assert call(m, "snapshot") == 3.0
    assert call(m, "restore", s1) is True
    assert out(m) == b"X-1: 1\r\n" + BASIC
    assert call(m, "restore", 7.0) is False and call(m, "restore", -1.0) is False
    assert call(m, "restore", 0.5) is False
    call(m, "setHeader", b"Subject", b"again")
    assert call(m, "reset") == 2.0
    assert out(m) is BASIC
    assert call(m, "reset") == 0.0
    assert call(m, "delHeader", b"nothing") == 0.0 and call(m, "snapshot") == 0.0


def test_to_string_again_after_any_edit_or_restore_has_the_edits_of_now():
    """toString() of an unchanged message gives the bytes it gave (not rebuilt for each
    queue()); any edit, restore or rollback since gives the message as it is now."""
    m = msg(BASIC)
    call(m, "addHeader", b"X-1", b"1")
    first = out(m)
    assert out(m) is first
    s1 = call(m, "snapshot")
    call(m, "addHeader", b"X-2", b"2")
    assert out(m) == b"X-2: 2\r\n" + first
    call(m, "restore", s1)
    assert out(m) == first
    call(m, "setHeader", b"X-1", b"one")       # as many edits as before, other ones
    assert out(m) == b"X-1: one\r\n" + BASIC
    undo = m.hsl_snapshot()
    call(m, "delHeader", b"subject")
    assert b"Subject" not in out(m)
    undo()                                      # a preempted run's rollback
    assert out(m) == b"X-1: one\r\n" + BASIC


def test_modify_content_splices_the_original():
    m = msg(BASIC)
    start = BASIC.index(b"hello")
    call(m, "modifyContent", float(start), 5.0, b"goodbye")
    assert out(m) == BASIC.replace(b"hello", b"goodbye")
    call(m, "addHeader", b"X-Top", b"1")
    call(m, "modifyContent", float(len(BASIC)), 0.0, b"appended")
    assert out(m) == b"X-Top: 1\r\n" + BASIC.replace(b"hello", b"goodbye") + b"appended"
    call(m, "modifyContent", float(start), 5.0, b"later wins")
    assert b"Subject: later wins\r\n" in out(m)
    call(m, "setHeader", b"Subject", b"set")             # a header edit replaces the field
    assert b"Subject: set\r\n" in out(m) and b"later wins" not in out(m)
    with pytest.raises(ScriptError, match="range"):
        call(m, "modifyContent", 0.0, float(len(BASIC) + 1), b"")
    with pytest.raises(ScriptError, match="type"):
        call(m, "modifyContent", b"0", 1.0, b"")


def test_edits_are_linear_in_the_message_size():
    import time
    body = b"line of text\r\n" * 400_000
    data = b"Subject: x\r\n\r\n" + body
    m = msg(data)
    t = time.perf_counter()
    for i in range(200):
        call(m, "addHeader", b"X-%d" % i, b"v")
    text = out(m)
    assert time.perf_counter() - t < 1.0
    assert text.endswith(body) and text.count(b"\r\nX-") == 199


def test_corpus_edits_round_trip_through_a_parse():
    """Every corpus message: an edit of each kind keeps it readable, and parsing the
    result shows exactly the edit."""
    for name, (data, *_) in C.CORPUS.items():
        m = msg(data)
        call(m, "addHeader", b"X-Checked", b"yes")
        if call(m, "getHeader", b"subject") is not None:
            call(m, "setHeader", b"Subject", b"edited")
        new = msg(out(m))
        assert call(new, "getHeader", b"x-checked") == b"yes", name
        if call(m, "getHeader", b"subject") is not None:
            assert call(new, "getHeader", b"subject") == b"edited", name
        assert call(new, "getType") == call(m, "getType"), name
        assert len(parts(new)) == len(parts(m)), name
        assert call(new, "getBody") == call(m, "getBody"), name


def test_a_speculative_run_takes_its_edits_back():
    """hsl serve may run a script again from the start: what an object looked like before
    the run comes back (BuiltinObject.hsl_snapshot)."""
    m = msg(BASIC)
    call(m, "addHeader", b"X-Before", b"1")
    undo = m.hsl_snapshot()
    call(m, "addHeader", b"X-During", b"2")
    call(m, "reset")
    call(m, "setHeader", b"Subject", b"x")
    undo()
    assert out(m) == b"X-Before: 1\r\n" + BASIC
    builder = MIME()
    call(builder, "setBody", b"before")
    undo = builder.hsl_snapshot()
    call(builder, "setBody", b"during")
    call(builder, "appendPart", MIME())
    undo()
    assert call(builder, "toString").endswith(b"\r\n\r\nbefore")
