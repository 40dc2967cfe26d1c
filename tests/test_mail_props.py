"""Properties of the mail classes over generated input (hypothesis): any bytes parse and
write back unchanged, reading never fails, and edits compose (restore undoes exactly the
edits after the snapshot; header edits leave bodies alone; the output parses again)."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hsl.mail import source
from hsl.runtime.values import from_python

from mail_helpers import MIME, call, msg

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# Messages made of the pieces a parser has to tell apart, in any order.
BREAK = st.sampled_from([b"\r\n", b"\n", b"\r", b""])
NAME = st.sampled_from([b"Subject", b"content-type", b"X-A", b"From ", b"Bad Name",
                        b"Content-Transfer-Encoding", b"", b"\x80"])
VALUE = st.one_of(st.sampled_from([b" multipart/mixed; boundary=b", b" multipart/x;"
                                   b' boundary="c d"', b" base64", b" quoted-printable",
                                   b" =?utf-8?B?w6k=?=", b" text/plain", b""]),
                  st.binary(max_size=12))
LINE = st.one_of(
    st.builds(lambda n, v, e: n + b":" + v + e, NAME, VALUE, BREAK),
    st.builds(lambda d, e: d + e, st.sampled_from([b"--b", b"--b--", b"--c d", b"--c d--",
                                                   b" folded", b"\t", b"", b"--b  "]), BREAK),
    st.builds(lambda t, e: t + e, st.binary(max_size=20), BREAK))
MESSAGE = st.one_of(st.binary(max_size=400), st.lists(LINE, max_size=40).map(b"".join))


def read_everything(m):
    stack = [m]
    while stack:
        p = stack.pop()
        for name in call(p, "getHeaderNames").values():
            call(p, "getHeader", name)
            call(p, "getHeaders", name, from_python({"field": True}))
        call(p, "getBody")
        call(p, "getFileName")
        call(p, "getType")
        call(p, "getPreamble")
        call(p, "getEpilogue")
        call(p, "getErrors")
        call(p, "findByType", b"text")
        stack += list(call(p, "getParts").values())


@SETTINGS
@given(MESSAGE)
def test_any_bytes_write_back_unchanged(data):
    m = msg(data)
    assert call(m, "toString") == data
    read_everything(m)
    assert call(m, "toString") == data


EDITS = st.lists(st.tuples(
    st.sampled_from(["add", "set", "del", "rename", "body", "append", "prepend", "remove",
                     "replace", "preamble", "epilogue", "date"]),
    st.integers(0, 5), st.sampled_from([b"Subject", b"X-A", b"Content-Type"]),
    st.binary(max_size=10)), max_size=8)


def apply(m, edits):
    source.fix(time=0.0, seed="props")
    all_parts = [m]
    stack = [m]
    while stack:
        p = stack.pop()
        kids = list(call(p, "getParts").values())
        all_parts += kids
        stack += kids
    for kind, n, name, value in edits:
        p = all_parts[n % len(all_parts)]
        if kind == "add":
            call(p, "addHeader", name, value)
        elif kind == "set":
            call(p, "setHeader", name, value)
        elif kind == "del":
            call(p, "delHeader", name)
        elif kind == "rename":
            call(p, "renameHeader", name, b"X-Renamed")
        elif kind == "body":
            call(p, "setBody", value)
        elif kind in ("append", "prepend", "replace"):
            part = MIME()
            call(part, "setBody", value)
            call(p, {"append": "appendPart", "prepend": "prependPart",
                     "replace": "replacePart"}[kind], part)
        elif kind == "remove":
            call(p, "remove")
        elif kind == "preamble":
            call(p, "setPreamble", value)
        elif kind == "epilogue":
            call(p, "setEpilogue", value)
        else:
            call(p, "setDateLater")


@SETTINGS
@given(MESSAGE, EDITS, EDITS)
def test_restore_takes_back_exactly_the_later_edits(data, first, second):
    m = msg(data)
    apply(m, first)
    expected = call(m, "toString")
    snap = call(m, "snapshot")
    apply(m, second)
    read_everything(msg(call(m, "toString")))          # the result parses, whatever it is
    assert call(m, "restore", snap) is True
    assert call(m, "toString") == expected
    fresh = msg(data)
    apply(fresh, first)
    assert call(fresh, "toString") == expected          # the same edits, the same bytes
    call(m, "reset")
    assert call(m, "toString") == data


@SETTINGS
@given(MESSAGE, st.lists(st.tuples(st.sampled_from([b"X-A", b"Subject", b"X-New"]),
                                   st.binary(max_size=30)), max_size=5))
def test_header_edits_leave_the_body_alone(data, fields):
    m = msg(data)
    for name, value in fields:
        call(m, "addHeader", name, value)
        call(m, "setHeader", b"X-A", value)
    new = msg(call(m, "toString"))
    assert call(new, "getBody", from_python({"decode": False})) == \
        call(m, "getBody", from_python({"decode": False}))
    if fields:
        assert call(new, "getHeader", b"x-a") is not None
