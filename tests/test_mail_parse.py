"""Reading messages with MailMessage and MIMEPart (hooks.md §3, builtins.md): the corpus
of tests/mail_corpus.py parses into the expected trees, round-trips byte for byte, and
every read method with every option reads what the message says."""
import base64
import time

import pytest

from hsl.builtins.classes import FileObject, FileResource
from hsl.errors import ScriptError
from hsl.runtime.values import HRegex, to_python

import mail_corpus as C
from mail_helpers import MailMessage, call, msg, opts


def tree(part):
    return (call(part, "getType").decode(), [tree(p) for p in call(part, "getParts").values()])


# ---------------------------------------------------------------------- the corpus

@pytest.mark.parametrize("name", list(C.CORPUS))
def test_corpus_message_parses_into_its_tree_and_round_trips(name):
    data, expected, *errors = C.CORPUS[name]
    m = msg(data)
    assert tree(m) == expected
    assert to_python(call(m, "getErrors")) == (errors[0] if errors else [])
    out = call(m, "toString")
    assert out == data and type(out) is bytes


@pytest.mark.parametrize("name", list(C.CORPUS))
def test_corpus_message_round_trips_after_reading_everything(name):
    data = C.CORPUS[name][0]
    m = msg(data)
    stack = [m]
    while stack:
        p = stack.pop()
        for h in to_python(call(p, "getHeaderNames")):
            call(p, "getHeaders", h.encode())
            call(p, "getHeaders", h.encode(), opts(field=True))
        call(p, "getBody")
        call(p, "getFileName")
        call(p, "getPreamble")
        call(p, "getEpilogue")
        stack += list(call(p, "getParts").values())
    assert call(m, "toString") == data
    assert call(m, "toFile").read() == data


def test_the_parts_are_the_bytes_between_the_delimiters():
    m = msg(C.LF_MULTIPART)
    one, two = call(m, "getParts").values()
    assert call(one, "getBody") == b"one"          # the LF before --lf is the delimiter's
    assert call(two, "getBody") == b"two"
    assert call(m, "getPreamble") == b"preamble line"
    assert call(m, "getEpilogue") == b"epilogue line\n"
    assert call(one, "getSize") == float(len(b"Content-Type: text/plain\n\none"))
    assert call(m, "getSize") == float(len(C.LF_MULTIPART))


def test_mixed_line_endings():
    m = msg(C.MIXED_ENDINGS)
    assert call(m, "getHeader", b"subject") == b"mixed"
    a, b = call(m, "getParts").values()
    assert call(a, "getBody") == b"lf part"
    assert call(b, "getHeaderNames").values() == []
    assert call(b, "getBody") == b"crlf part"


def test_delimiters_must_be_whole_lines():
    m = msg(C.LOOKALIKE_DELIMITERS)
    a, b = call(m, "getParts").values()
    assert b"--bb is not a delimiter" in call(a, "getBody")
    assert call(a, "getBody").endswith(b" --b is indented text")
    assert call(b, "getBody") == b"after a padded delimiter"
    assert call(m, "getEpilogue") == b"epilogue\r\n--b\r\nafter the end: still epilogue\r\n"


def test_unclosed_and_broken_multiparts():
    m = msg(C.UNCLOSED)
    (p,) = call(m, "getParts").values()
    assert call(p, "getBody") == b"the close delimiter never comes\r\n"
    assert call(m, "getEpilogue") == b""
    m = msg(C.NO_DELIMITER)
    assert call(m, "getParts").values() == []
    assert call(m, "getPreamble") == b"just text\r\n"
    m = msg(C.CLOSE_AT_EOF)
    assert to_python(call(m, "getErrors")) == []
    assert call(call(m, "getParts").values()[0], "getBody") == b"x"
    m = msg(C.NO_BOUNDARY_PARAM)                    # a multipart type without boundary
    assert call(m, "getParts").values() == [] and call(m, "getPreamble") is None


def test_bad_header_lines_are_kept_and_skipped():
    m = msg(C.BAD_HEADERS)
    assert to_python(call(m, "getHeaderNames")) == ["from", "subject"]
    assert call(m, "getHeader", b"subject") == b"still read"
    assert call(m, "getBody") == b"body\r\n"
    m = msg(C.BODY_ONLY)                    # not a header block at all: everything is body
    assert call(m, "getHeaderNames").values() == []
    assert call(m, "getBody") == C.BODY_ONLY
    m = msg(C.MBOX_FROM)
    assert call(m, "getHeader", b"from") == b"alice@example.org"
    assert call(m, "getBody") == b"hi\n"


def test_messages_without_a_blank_line_or_headers():
    m = msg(C.NO_BLANK_LINE)
    assert call(m, "getHeader", b"subject") == b"only headers" and call(m, "getBody") == b""
    m = msg(C.NO_HEADERS)
    assert call(m, "getHeaderNames").values() == []
    assert call(m, "getBody") == b"body after an empty line\r\n"
    m = msg(C.EMPTY)
    assert call(m, "getBody") == b"" and call(m, "getType") == b"text/plain"


def test_message_rfc822_is_a_leaf_and_digest_parts_default_to_it():
    m = msg(C.FORWARD)
    fwd = call(m, "getParts").values()[1]
    assert call(fwd, "getParts").values() == []
    inner = msg(call(fwd, "getBody"))
    assert call(inner, "getHeader", b"subject") == b"Lunch on Thursday?"
    assert len(call(inner, "getParts").values()) == 1
    d = msg(C.DIGEST)
    first, second = call(d, "getParts").values()
    assert call(first, "getType") == b"message/rfc822"
    assert call(second, "getType") == b"text/plain"


# ---------------------------------------------------------------------- headers

def test_get_header_options():
    m = msg(C.SIMPLE)
    assert call(m, "getHeader", b"SUBJECT") == b"Lunch on Thursday?"
    assert call(m, "getHeader", b"subject", opts(field=True)) == \
        b"Subject: Lunch on\r\n Thursday?\r\n"
    assert call(m, "getHeader", b"received").startswith(b"from mail.example.org")
    assert call(m, "getHeader", b"received", opts(field=True)).endswith(
        b"10:00:01 +0000\r\n")
    assert call(m, "getHeader", b"nosuch") is None
    assert call(m, "getHeader", b"to", opts(index=1)) is None
    assert call(m, "getHeader", b"to", opts(index=0)).startswith(b"Bob <bob@")
    assert call(m, "getHeader", b"to", opts(index=-1)).startswith(b"Bob <bob@")
    assert to_python(call(m, "getHeaderNames"))[:4] == ["return-path", "received", "from",
                                                        "to"]
    with pytest.raises(ScriptError, match="type"):
        call(m, "getHeader", 1.0)
    with pytest.raises(ScriptError, match="index"):
        call(m, "getHeader", b"to", opts(index="x"))


def test_get_headers_lists_every_field_top_first():
    m = msg(b"Received: one\r\nX: 1\r\nReceived: two\r\n\tfolded\r\n\r\n")
    assert to_python(call(m, "getHeaders", b"received")) == ["one", "two\tfolded"]
    assert to_python(call(m, "getHeaders", b"received", opts(field=True))) == [
        "Received: one\r\n", "Received: two\r\n\tfolded\r\n"]
    assert to_python(call(m, "getHeaders", b"nope")) == []
    # a last field without a line break still comes with one
    m = msg(b"A: 1\r\nB: 2")
    assert call(m, "getHeader", b"b", opts(field=True)) == b"B: 2\r\n"


def test_obsolete_syntax_and_empty_values():
    m = msg(C.OBSOLETE)
    assert call(m, "getHeader", b"from") == b"John Doe <jdoe@machine(comment).  example>"
    assert call(m, "getHeader", b"to").startswith(b'"Mary Smith')
    assert call(m, "getHeader", b"x-empty") == b""
    assert call(m, "getHeader", b"x-spaces") == b"spaced value"


def test_rfc2047_decoding():
    m = msg(C.ENCODED_WORDS)
    assert call(m, "getHeader", b"from") == "Keld Jørn Simonsen <keld@example.dk>".encode()
    assert call(m, "getHeader", b"cc") == "André Pirard <PIRARD@example.be>".encode()
    # adjacent words join without the space between them; a folded line too
    assert call(m, "getHeader", b"subject") == "Àpénétif à l'日本 plain".encode()
    # a character split across two words survives
    assert call(m, "getHeader", b"x-split") == "日本".encode()
    assert call(m, "getHeader", b"x-broken") == b"=?nosuchcharset?Q?x?= and =?utf-8?B?@@@?="
    assert call(m, "getHeader", b"subject", opts(decode=False)) == \
        b"=?utf-8?B?w4Bww6luw6l0aWY=?= =?utf-8?Q?_=C3=A0_l'?= =?utf-8?B?5pel5pys?= plain"


def test_undeclared_8bit_header_text():
    m = msg(C.EIGHT_BIT_HEADERS)                     # UTF-8 stays UTF-8
    assert call(m, "getHeader", b"subject") == "Grüße aus Köln".encode()
    m = msg(C.LATIN1_HEADERS)                        # read in the part's charset
    assert call(m, "getHeader", b"subject") == "Grüße aus Köln".encode()
    assert call(m, "getHeader", b"subject", opts(decode=False)) == \
        "Grüße aus Köln".encode("latin-1")
    # no charset: detected (here windows-1251 Cyrillic, long enough to tell)
    text = "Привет, это письмо написано по-русски в кодировке windows-1251"
    m = msg(b"Subject: " + text.encode("cp1251") + b"\r\n\r\n")
    assert call(m, "getHeader", b"subject") == text.encode()


def test_content_type_parameters_and_file_names():
    m = msg(C.ATTACHMENTS)
    alt, pdf, xls, txt = call(m, "getParts").values()
    assert call(m, "getTypeParameter", b"boundary") == b"outer"
    assert call(m, "getTypeParameter", b"nosuch") is None
    assert call(pdf, "getFileName") == b"report.pdf"
    assert call(xls, "getFileName") == "€ rates 2026.xlsx".encode()     # RFC 2231
    assert call(txt, "getFileName") == "été.txt".encode()               # RFC 2047
    assert call(alt, "getFileName") is None
    rel = call(alt, "getParts").values()[1]
    assert call(rel, "getTypeParameter", b"TYPE") == b"text/html"
    assert call(call(rel, "getParts").values()[1], "getFileName") == b"logo.png"


def test_rfc2231_parameters():
    m = msg(b"Content-Type: application/x; name*=iso-8859-1'fr'caf%E9.txt;\r\n"
            b" title*0*=us-ascii'en'This%20is; title*1=\" even more\"; title*2*=%2A\r\n"
            b"Content-Disposition: attachment; filename=\"quoted \\\"name\\\".txt\"\r\n\r\n")
    assert call(m, "getTypeParameter", b"name") == "café.txt".encode()
    assert call(m, "getTypeParameter", b"title") == b"This is even more*"
    assert call(m, "getFileName") == b'quoted "name".txt'


def test_get_type_defaults_and_lowercases():
    assert call(msg(b"Content-Type: TEXT/HTML; charset=x\r\n\r\n"), "getType") == b"text/html"
    assert call(msg(b"Content-Type: garbage\r\n\r\n"), "getType") == b"text/plain"
    assert call(msg(b"Subject: x\r\n\r\n"), "getType") == b"text/plain"


# ---------------------------------------------------------------------- bodies

def test_get_body_decodes_the_transfer_encoding():
    m = msg(C.ATTACHMENTS)
    alt, pdf, xls, txt = call(m, "getParts").values()
    assert call(pdf, "getBody") == C.PDF_DATA
    assert call(pdf, "getBody", opts(decode=False)).startswith(b"JVBERi0xLjQK")
    assert call(xls, "getBody") == b"\x00\x01\x02"
    assert call(txt, "getBody") == "café".encode()
    plain = call(alt, "getParts").values()[0]
    assert call(plain, "getBody") == "Hello Alice, here are the documents. Grüße!".encode()
    n = msg(C.NEWSLETTER)
    text = call(call(n, "getParts").values()[0], "getBody")
    assert b"https://shop.example/sale?utm_source=newsletter&utm_medium=email" in text
    assert "Spring sale — everything".encode() in text
    assert call(n, "getBody", opts(decode=False)).startswith(b"This is a multi-part")


def test_lenient_decoding_of_broken_encodings():
    b64 = msg(b"Content-Transfer-Encoding: BASE64\r\n\r\naGVs\r\nbG8*gd29y!bGQ\r\n")
    assert call(b64, "getBody") == b"hello world"
    two = msg(b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\nd29ybGQ=\r\n")
    assert call(two, "getBody") == b"helloworld"
    qp = msg(b"Content-Transfer-Encoding: quoted-printable\r\n\r\na=3Db=\r\nc =ZZ  \r\nd")
    assert call(qp, "getBody") == b"a=bc =ZZ\r\nd"
    unknown = msg(b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n")
    assert call(unknown, "getBody") == b"begin 644 x\r\n"


def test_binary_bodies_are_bytes():
    m = msg(C.BINARY)
    assert call(m, "getBody") == bytes(range(256)) * 4 + b"\r\n\x00\r\r\n\n"


# ---------------------------------------------------------------------- the tree

def test_ids_are_stable_and_get_by_id_finds_parts():
    m = msg(C.ATTACHMENTS)
    ids = []
    stack = [m]
    while stack:
        p = stack.pop(0)
        ids.append(call(p, "getID"))
        stack += list(call(p, "getParts").values())
    assert len(set(ids)) == len(ids) == 9
    for i in ids:
        assert call(call(m, "getByID", i), "getID") == i
    again = msg(C.ATTACHMENTS)
    assert [call(p, "getID") for p in call(again, "getParts").values()] == ids[1:5]
    alt = call(m, "getParts").values()[0]
    assert call(alt, "getByID", ids[0]) is None          # not below it
    assert call(m, "getByID", b"nonsense") is None
    assert call(m, "getByID", ids[1]) is call(m, "getParts").values()[0]


def test_find_by_type_and_file_name():
    m = msg(C.ATTACHMENTS)
    found = call(m, "findByType", b"TEXT/")
    assert [call(p, "getType") for p in found.values()] == [b"text/plain", b"text/html",
                                                           b"text/plain"]
    assert len(call(m, "findByType", b"^multipart/").values()) == 2    # descendants only
    assert len(call(m, "findByType", HRegex(b"^image/p.g$", "")).values()) == 1
    assert len(call(m, "findByType", b"application/(pdf|zip)").values()) == 1
    assert len(call(m, "findByType", b"(unbalanced").values()) == 0    # taken literally
    assert [call(p, "getFileName") for p in call(m, "findByFileName", b"\\.PDF$").values()] \
        == [b"report.pdf"]
    assert len(call(m, "findByFileName", b"").values()) == 4           # all with a name
    assert call(call(m, "getParts").values()[1], "findByType", b"").values() == []
    with pytest.raises(ScriptError, match="type"):
        call(m, "findByType", 1.0)


def test_preamble_and_epilogue_only_on_multiparts():
    m = msg(C.NEWSLETTER)
    assert call(m, "getPreamble") == b"This is a multi-part message in MIME format.\r\n"
    assert call(m, "getEpilogue") == b"\r\n"
    assert call(call(m, "getParts").values()[0], "getPreamble") is None
    assert call(msg(C.SIMPLE), "getEpilogue") is None


# ---------------------------------------------------------------------- factories

def test_mail_message_file():
    f = FileObject(FileResource(data=C.SIMPLE))
    f.read(10.0)                                 # reads the whole file, wherever it is
    m = MailMessage.hsl_statics["File"][0](f)
    assert call(m, "toString") == C.SIMPLE
    assert call(m, "getHeader", b"subject") == b"Lunch on Thursday?"
    closed = FileObject(FileResource(data=b"x"))
    closed.close()
    assert MailMessage.hsl_statics["File"][0](closed) is None
    assert MailMessage.hsl_statics["File"][0](FileResource(path="/nonexistent/x")) is None
    with pytest.raises(ScriptError, match="type"):
        MailMessage.hsl_statics["File"][0](b"not a file")


def test_mail_message_file_from_disk(tmp_path):
    p = tmp_path / "m.eml"
    p.write_bytes(C.NEWSLETTER)
    m = MailMessage.hsl_statics["File"][0](FileResource(path=str(p)))
    assert call(m, "toString") == C.NEWSLETTER


def test_classes_are_not_constructed_directly():
    with pytest.raises(ScriptError, match="MailMessage::String"):
        MailMessage()
    with pytest.raises(ScriptError, match="type"):
        MailMessage.hsl_statics["String"][0](None)


# ---------------------------------------------------------------------- limits

def _timed(fn):
    t = time.perf_counter()
    r = fn()
    return r, time.perf_counter() - t


def test_a_50_mb_message_parses_quickly():
    att = base64.encodebytes(bytes(range(256)) * (36 * 4096)).replace(b"\n", b"\r\n")
    data = (b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n"
            b"--z\r\nContent-Type: text/plain\r\n\r\nhi\r\n--z\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + att) * 4 + b"\r\n--z--\r\n"
    assert len(data) > 50_000_000

    def everything():
        m = msg(data)
        call(m, "getErrors")
        return m
    m, seconds = _timed(everything)
    assert seconds < 2.0
    assert len(call(m, "getParts").values()) == 8
    assert call(m, "toString") is data


def test_a_header_line_of_1_mb_and_10000_headers():
    big = b"X-Big: " + b"y" * (1 << 20) + b"\r\n"
    many = b"".join(b"X-H%d: v%d\r\n" % (i, i) for i in range(10_000))
    m, seconds = _timed(lambda: msg(big + many + b"\r\nbody"))
    assert seconds < 2.0
    assert len(call(m, "getHeader", b"x-big")) == 1 << 20
    assert call(m, "getHeader", b"x-h9999") == b"v9999"
    assert len(call(m, "getHeaderNames").values()) == 10_001
    call(m, "addHeader", b"X-New", b"1")
    assert call(m, "toString").startswith(b"X-New: 1\r\nX-Big: yyy")


def test_1000_parts_and_100_nesting_levels():
    parts = b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i
                     for i in range(1000))
    m = msg(b"Content-Type: multipart/mixed; boundary=p\r\n\r\n" + parts + b"--p--\r\n")
    kids = call(m, "getParts").values()
    assert len(kids) == 1000 and call(kids[999], "getBody") == b"part 999"
    data = b"text at the bottom\r\n"
    for level in range(100):
        data = (b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n"
                % (level, level) + data + b"\r\n--b%d--\r\n" % level)
    m = msg(data)
    p, depth = m, 0
    while call(p, "getParts").values():
        p = call(p, "getParts").values()[0]
        depth += 1
    assert depth == 100 and call(p, "getBody") == b"text at the bottom\r\n"
    assert len(call(m, "findByType", b"multipart").values()) == 99
    call(p, "setHeader", b"X-Deep", b"1")
    out = call(m, "toString")
    assert b"X-Deep: 1\r\n\r\ntext at the bottom" in out     # it had no header block
    assert call(msg(out), "toString") == out


def test_hostile_nesting_and_part_counts_stay_bounded():
    deep = b"x"
    for _ in range(1000):
        deep = b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n" + deep
    m, seconds = _timed(lambda: msg(deep))
    assert call(m, "getErrors") is not None and seconds < 5
    many = b"Content-Type: multipart/mixed; boundary=a\r\n\r\n" + b"--a\r\n" * 200_000
    m, seconds = _timed(lambda: (msg(many), None)[0])
    kids, seconds = _timed(lambda: call(m, "getParts").values())
    assert len(kids) == 99_999 and seconds < 5
    assert "too_many_parts" in to_python(call(m, "getErrors"))
    fields = b"a: b\n" * 200_000 + b"\nbody"
    m = msg(fields)
    assert len(call(m, "getHeaderNames").values()) == 100_000
    assert "too_many_headers" in to_python(call(m, "getErrors"))
    assert call(m, "toString") == fields
