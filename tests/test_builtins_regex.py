"""Regular-expression builtins (builtins.md "Regular expressions")."""
import pytest

from hsl.builtins import FUNCTIONS, load_all
from hsl.errors import ScriptError
from hsl.runtime.values import HArray, HFunction, HRegex, from_python as P, to_python

load_all()


def call(name, *args):
    return FUNCTIONS[name].fn(*args)


def py(v):
    return to_python(v)


def test_registered_with_arity():
    want = {"pcre_match": (2, 2), "pcre_match_all": (2, 2), "pcre_quote": (1, 1),
            "pcre_compile": (1, 1), "pcre_replace": (3, 4)}
    for name, (lo, hi) in want.items():
        b = FUNCTIONS[name]
        assert (b.min_args, b.max_args, b.area) == (lo, hi, "regex"), name


# -- pcre_match ------------------------------------------------------------------------

def test_match_groups():
    r = call("pcre_match", b"(\\d+)-(\\d+)", b"tel 555-1212 x")
    assert py(r) == ["555-1212", "555", "1212"]
    assert all(type(k) is int for k in r.d)


def test_match_no_match_is_empty_array():
    r = call("pcre_match", b"z", b"abc")
    assert type(r) is HArray and len(r) == 0


def test_match_unmatched_group_is_empty_string():
    assert py(call("pcre_match", b"(a)(x)?(b)", b"ab")) == ["ab", "a", "", "b"]


def test_match_named_groups_after_numbers():
    r = call("pcre_match", b"(?<year>\\d{4})-(?P<month>\\d\\d)", b"on 2024-05-01")
    assert list(r.d.items()) == [(0, b"2024-05"), (1, b"2024"), (2, b"05"),
                                 (b"year", b"2024"), (b"month", b"05")]


def test_match_delimited_flags_and_regex_value():
    assert py(call("pcre_match", b"/hello/i", b"Say HELLO")) == ["HELLO"]
    # without the slash form, the slashes are part of the pattern
    assert py(call("pcre_match", b"hello/i", b"Say HELLO")) == []
    rx = call("pcre_compile", b"/^a.c$/s")
    assert py(call("pcre_match", rx, b"a\nc")) == ["a\nc"]


def test_match_bytes_offsets_and_utf8_mode():
    # without u a dot is one byte, with u one UTF-8 character
    assert call("pcre_match", b"^.", "é".encode()).d[0] == b"\xc3"
    assert call("pcre_match", b"/^./u", "é".encode()).d[0] == "é".encode()


def test_match_invalid_pattern_is_error():
    with pytest.raises(ScriptError):
        call("pcre_match", b"(unclosed", b"x")


@pytest.mark.parametrize("args, pos", [
    ((1.0, b"x"), 1), ((None, b"x"), 1), ((P([]), b"x"), 1),
    ((b"x", 1.0), 2), ((b"x", None), 2), ((b"x", P(["x"])), 2)])
def test_match_type_errors(args, pos):
    with pytest.raises(ScriptError) as e:
        call("pcre_match", *args)
    assert "pcre_match" in e.value.message and "type" in e.value.message
    assert f"argument {pos}" in e.value.message


# -- pcre_match_all --------------------------------------------------------------------

def test_match_all_grouped_by_group():
    r = call("pcre_match_all", b"(\\w)(\\d)", b"a1 b2 c3")
    assert py(r) == [["a1", "b2", "c3"], ["a", "b", "c"], ["1", "2", "3"]]


def test_match_all_no_match_shape():
    assert py(call("pcre_match_all", b"(x)(y)", b"abc")) == [[], [], []]
    assert py(call("pcre_match_all", b"x", b"")) == [[]]


def test_match_all_empty_matches_like_perl():
    # Perl: () = "abc" =~ /x*/g gives 4 empty matches
    assert py(call("pcre_match_all", b"x*", b"abc")) == [["", "", "", ""]]
    assert py(call("pcre_match_all", b"a*", b"baaac")) == [["", "aaa", "", ""]]


def test_match_all_named():
    r = call("pcre_match_all", b"(?<d>\\d)", b"1a2")
    assert py(r) == {0: ["1", "2"], 1: ["1", "2"], "d": ["1", "2"]}


def test_match_all_result_lists_independent():
    r = call("pcre_match_all", b"(?<d>\\d)", b"1a2")
    assert r.d[1] is not r.d[b"d"]


# -- pcre_quote ------------------------------------------------------------------------

def test_quote_every_metacharacter():
    meta = b"\\.+*?[^]$(){}=!<>|:-#/"
    q = call("pcre_quote", meta)
    assert q == b"".join(b"\\" + bytes([c]) for c in meta)


def test_quote_nul_and_plain():
    assert call("pcre_quote", b"a\x00b") == b"a\\000b"
    assert call("pcre_quote", b"") == b""
    assert call("pcre_quote", "héllo wörld".encode()) == "héllo wörld".encode()


def test_quote_roundtrip_matches_literally():
    s = b"1+1=2? (yes) [x] {y} ^$ a|b c/d #e <f> g:h i-j \\k \x00"
    q = call("pcre_quote", s)
    assert call("pcre_match", q, b"xx" + s + b"yy").d[0] == s
    assert call("pcre_match", b"/" + q + b"/i", s.upper()).d[0] == s.upper()
    assert call("pcre_replace", q, b"!", s + s) == b"!!"


def test_quote_type_error():
    with pytest.raises(ScriptError, match="pcre_quote.*type"):
        call("pcre_quote", 1.0)


# -- pcre_compile ----------------------------------------------------------------------

def test_compile_returns_regex():
    rx = call("pcre_compile", b"/ab+c/i")
    assert type(rx) is HRegex and rx.pattern == b"ab+c" and rx.flags == "i"
    assert rx.text() == b"#/ab+c/i"
    bare = call("pcre_compile", b"a/b")
    assert bare.pattern == b"a/b" and bare.flags == ""


def test_compile_errors():
    with pytest.raises(ScriptError):
        call("pcre_compile", b"a(")
    with pytest.raises(ScriptError, match="type"):
        call("pcre_compile", 3.0)


def test_compiled_regex_usable_everywhere():
    rx = call("pcre_compile", b"(o)")
    assert py(call("pcre_match_all", rx, b"foo")) == [["o", "o"], ["o", "o"]]
    assert call("pcre_replace", rx, b"0", b"foo") == b"f00"


# -- pcre_replace ----------------------------------------------------------------------

def test_replace_string_refs():
    assert call("pcre_replace", b"(\\w+) (\\w+)", b"$2 $1", b"hello world") == b"world hello"
    assert call("pcre_replace", b"(\\w+)", b"${1}x", b"ab cd") == b"abx cdx"
    assert call("pcre_replace", b"b", b"[$0]", b"abc") == b"a[b]c"


def test_replace_missing_or_unmatched_group_is_empty():
    assert call("pcre_replace", b"(a)(x)?", b"<$2|$9>", b"a") == b"<|>"


def test_replace_dollar_without_digits_is_literal():
    assert call("pcre_replace", b"a", b"$ ${x} $", b"a") == b"$ ${x} $"


def test_replace_limit():
    assert call("pcre_replace", b"a", b"b", b"aaaa", 2.0) == b"bbaa"
    assert call("pcre_replace", b"a", b"b", b"aaaa", 0.0) == b"bbbb"
    assert call("pcre_replace", b"a", b"b", b"aaaa", 1.9) == b"baaa"   # truncated


def test_replace_no_match_returns_subject():
    assert call("pcre_replace", b"x", b"y", b"abc") == b"abc"
    assert call("pcre_replace", b"x", b"y", b"") == b""


def test_replace_empty_matches():
    assert call("pcre_replace", b"x*", b"-", b"abc") == b"-a-b-c-"
    assert call("pcre_replace", b"a*", b"-", b"baaac") == b"-b--c-"


def test_replace_callback():
    seen = []

    def cb(m):
        seen.append(py(m))
        return m.d[2] + m.d[1]

    f = HFunction("cb", cb, 1, 1)
    assert call("pcre_replace", b"(\\w)(\\d)", f, b"a1 b2") == b"1a 2b"
    assert seen == [["a1", "a", "1"], ["b2", "b", "2"]]


def test_replace_callback_named_groups_and_number_result():
    f = HFunction("cb", lambda m: float(len(m.d[b"w"])), 1, 1)
    assert call("pcre_replace", b"(?<w>\\w+)", f, b"abc de") == b"3 2"


def test_replace_callback_bad_result():
    f = HFunction("cb", lambda m: P([1]), 1, 1)
    with pytest.raises(ScriptError, match="type"):
        call("pcre_replace", b"a", f, b"a")


def test_replace_utf8():
    assert call("pcre_replace", b"/./u", b"[$0]", "é!".encode()) == "[é][!]".encode()


@pytest.mark.parametrize("args, pos", [
    ((1.0, b"x", b"y"), 1), ((b"x", 1.0, b"y"), 2), ((b"x", P([]), b"y"), 2),
    ((b"x", b"y", 1.0), 3), ((b"x", b"y", b"z", b"1"), 4)])
def test_replace_type_errors(args, pos):
    with pytest.raises(ScriptError) as e:
        call("pcre_replace", *args)
    assert "pcre_replace" in e.value.message and "type" in e.value.message
    assert f"argument {pos}" in e.value.message
