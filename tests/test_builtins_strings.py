"""String builtins (builtins.md "Strings"): strings are bytes, offsets count bytes,
case conversion is ASCII-only."""
import math

import pytest

from hsl.builtins import FUNCTIONS, load_all
from hsl.errors import ScriptError
from hsl.runtime.values import HArray, from_python as P

load_all()

E_ACUTE = "é".encode()          # b"\xc3\xa9"


def call(name, *args):
    return FUNCTIONS[name].fn(*args)


def lst(a):
    assert type(a) is HArray and a.is_list()
    return a.values()


@pytest.mark.parametrize("name, args, pos", [
    ("chr", (b"A",), 1), ("ord", (65.0,), 1), ("str_repeat", (1.0, 2.0), 1),
    ("str_repeat", (b"a", b"2"), 2), ("str_replace", (1.0, b"", b""), 1),
    ("str_replace", (b"a", None, b""), 2), ("str_replace", (b"a", b"b", P(["a"])), 3),
    ("str_split", (None, b","), 1), ("str_split", (b"a", 1.0), 2),
    ("str_split", (b"a", b",", b"2"), 3), ("str_find", (1.0, b"a"), 1),
    ("str_find", (b"a", None), 2), ("str_find", (b"a", b"a", b"1"), 3),
    ("str_rfind", (P([]), b"a"), 1), ("str_rfind", (b"a", 1.0), 2),
    ("str_lower", (P([]),), 1), ("str_upper", (None,), 1), ("str_upper", (True,), 1),
    ("str_slice", (1.0, 0.0), 1), ("str_slice", (b"a", b"0"), 2),
    ("str_slice", (b"a", 0.0, True), 3), ("str_strip", (None,), 1),
    ("str_strip", (b"a", 1.0), 2), ("str_lstrip", (1.0,), 1), ("str_rstrip", (b"", None), 2),
    ("str_chunk", (1.0, 1.0), 1), ("str_chunk", (b"abc", b"1"), 2),
])
def test_type_errors(name, args, pos):
    with pytest.raises(ScriptError) as e:
        call(name, *args)
    msg = e.value.message
    assert name + "()" in msg and "type" in msg and f"argument {pos}" in msg


def test_arity():
    def ar(n):
        b = FUNCTIONS[n]
        return b.min_args, b.max_args
    assert ar("str_split") == (2, 3) and ar("str_slice") == (2, 3)
    assert ar("str_chunk") == (2, 3) and ar("str_strip") == (1, 2)
    assert ar("chr") == (1, 1) and ar("str_replace") == (3, 3)


# ------------------------------------------------------------------ chr / ord

@pytest.mark.parametrize("n, expected", [
    (65.0, b"A"), (0.0, b"\x00"), (255.0, b"\xff"), (256.0, b"\x00"), (321.0, b"A"),
    (-1.0, b"\xff"), (65.9, b"A"), (-255.0, b"\x01"),
])
def test_chr(n, expected):
    assert call("chr", n) == expected


def test_ord():
    assert call("ord", b"A") == 65.0 and type(call("ord", b"A")) is float
    assert call("ord", b"abc") == 97.0
    assert call("ord", E_ACUTE) == 0xC3
    assert call("ord", b"\x00") == 0.0 and call("ord", b"\xff") == 255.0
    assert call("ord", b"") is None


def test_chr_ord_inverse():
    for i in range(256):
        assert call("ord", call("chr", float(i))) == float(i)


# ------------------------------------------------------------------ repeat / replace

@pytest.mark.parametrize("s, n, expected", [
    (b"ab", 3.0, b"ababab"), (b"ab", 0.0, b""), (b"ab", -1.0, b""), (b"ab", 2.9, b"abab"),
    (b"", 5.0, b""), (b"x", math.nan, b""), (E_ACUTE, 2.0, E_ACUTE * 2),
])
def test_str_repeat(s, n, expected):
    assert call("str_repeat", s, n) == expected


def test_str_repeat_too_large():
    with pytest.raises(ScriptError):
        call("str_repeat", b"ab", 1e12)


@pytest.mark.parametrize("search, replace, subject, expected", [
    (b"a", b"b", b"banana", b"bbnbnb"), (b"aa", b"b", b"aaa", b"ba"),
    (b"aa", b"b", b"aaaa", b"bb"), (b"", b"x", b"abc", b"abc"), (b"A", b"x", b"abc", b"abc"),
    (b"abc", b"", b"xabcyabc", b"xy"), (b"\xc3", b"?", E_ACUTE, b"?\xa9"),
    (b"a", b"aa", b"aa", b"aaaa"), (b"x", b"y", b"", b""),
])
def test_str_replace(search, replace, subject, expected):
    assert call("str_replace", search, replace, subject) == expected


# ------------------------------------------------------------------ split

@pytest.mark.parametrize("s, d, limit, expected", [
    (b"a b c", b" ", None, [b"a", b"b", b"c"]),
    (b"a b c", b" ", 2.0, [b"a", b"b c"]),
    (b"a b c", b" ", -2.0, [b"a b", b"c"]),
    (b"a b c", b" ", 0.0, [b"a", b"b", b"c"]),
    (b"a b c", b" ", 1.0, [b"a b c"]),
    (b"a b c", b" ", -1.0, [b"a b c"]),
    (b"a b c", b" ", 10.0, [b"a", b"b", b"c"]),
    (b"a b c", b" ", -10.0, [b"a", b"b", b"c"]),
    (b"a b c", b" ", 2.7, [b"a", b"b c"]),
    (b"a,,b,", b",", None, [b"a", b"", b"b", b""]),
    (b"", b",", None, [b""]),
    (b"abc", b"x", None, [b"abc"]),
    (b"a::b::c", b"::", None, [b"a", b"b", b"c"]),
    (b"abc", b"", None, [b"a", b"b", b"c"]),
    (b"abcd", b"", 2.0, [b"a", b"bcd"]),
    (b"abcd", b"", -2.0, [b"abc", b"d"]),
    (b"", b"", None, []),
    (E_ACUTE, b"", None, [b"\xc3", b"\xa9"]),
    (b"x" + E_ACUTE + b"y", E_ACUTE, None, [b"x", b"y"]),
])
def test_str_split(s, d, limit, expected):
    args = (s, d) if limit is None else (s, d, limit)
    assert lst(call("str_split", *args)) == expected


# ------------------------------------------------------------------ find / rfind

@pytest.mark.parametrize("args, expected", [
    ((b"hello", b"l"), 2), ((b"hello", b"l", 3.0), 3), ((b"hello", b"l", 4.0), -1),
    ((b"hello", b"z"), -1), ((b"hello", b""), 0), ((b"hello", b"", 2.0), 2),
    ((b"hello", b"l", -2.0), 3), ((b"hello", b"h", -100.0), 0), ((b"hello", b"o", 99.0), -1),
    ((b"hello", b"lo"), 3), ((b"a" + E_ACUTE + b"b", b"b"), 3), ((b"", b"a"), -1),
    ((b"", b""), 0), ((b"hello", b"l", 2.9), 2), ((b"hello", b"hello"), 0),
])
def test_str_find(args, expected):
    r = call("str_find", *args)
    assert r == float(expected) and type(r) is float


@pytest.mark.parametrize("args, expected", [
    ((b"hello", b"l"), 3), ((b"hello", b"l", 1.0), 3), ((b"hello", b"l", 2.0), 2),
    ((b"hello", b"l", 3.0), -1), ((b"hello", b"o", 1.0), -1), ((b"hello", b"z"), -1),
    ((b"hello", b"h", 4.0), 0), ((b"hello", b"h", 5.0), -1), ((b"hello", b"h", 50.0), -1),
    ((b"abab", b"ab"), 2), ((b"abab", b"ab", 1.0), 0), ((b"hello", b""), 5),
    ((E_ACUTE + E_ACUTE, E_ACUTE), 2), ((b"hello", b"l", -3.0), 3),
])
def test_str_rfind(args, expected):
    r = call("str_rfind", *args)
    assert r == float(expected) and type(r) is float


# ------------------------------------------------------------------ case

def test_case_ascii_only():
    s = "ÀÉ abc XYZ é ß 09_[]".encode()
    assert call("str_lower", s) == "ÀÉ abc xyz é ß 09_[]".encode()
    assert call("str_upper", s) == "ÀÉ ABC XYZ é ß 09_[]".encode()
    assert call("str_lower", b"") == b"" and call("str_upper", b"\x00a") == b"\x00A"
    assert call("str_upper", bytes(range(256))) == bytes(
        c - 32 if 97 <= c <= 122 else c for c in range(256))
    assert call("str_lower", bytes(range(256))) == bytes(
        c + 32 if 65 <= c <= 90 else c for c in range(256))


# ------------------------------------------------------------------ slice (PHP substr rules)

@pytest.mark.parametrize("args, expected", [
    ((b"abcdef", 1.0, 3.0), b"bcd"), ((b"abcdef", 0.0), b"abcdef"), ((b"abcdef", 2.0), b"cdef"),
    ((b"abcdef", -1.0), b"f"), ((b"abcdef", -2.0), b"ef"), ((b"abcdef", -3.0, 1.0), b"d"),
    ((b"abcdef", 0.0, -1.0), b"abcde"), ((b"abcdef", 2.0, -1.0), b"cde"),
    ((b"abcdef", 4.0, -4.0), b""), ((b"abcdef", -3.0, -1.0), b"de"),
    ((b"abcdef", 10.0), b""), ((b"abcdef", 6.0), b""), ((b"abcdef", -10.0), b"abcdef"),
    ((b"abcdef", -10.0, 2.0), b"ab"), ((b"abcdef", 2.0, -10.0), b""),
    ((b"abcdef", 0.0, 0.0), b""), ((b"abcdef", 3.0, 100.0), b"def"),
    ((b"abcdef", 1.9, 2.9), b"bc"), ((b"abcdef", -1.5), b"f"), ((b"", 0.0), b""),
    ((E_ACUTE + b"x", 1.0), b"\xa9x"), ((E_ACUTE + b"x", 0.0, 2.0), E_ACUTE),
    ((b"abcdef", 0.0, None), b"abcdef"),
])
def test_str_slice(args, expected):
    assert call("str_slice", *args) == expected


# ------------------------------------------------------------------ strip

def test_strip_default_set():
    s = b" \t\r\n a b \n\r\t "
    assert call("str_strip", s) == b"a b"
    assert call("str_lstrip", s) == b"a b \n\r\t "
    assert call("str_rstrip", s) == b" \t\r\n a b"
    # only space, tab, CR, LF by default
    assert call("str_strip", b"\x0b\x0ca\x00") == b"\x0b\x0ca\x00"


def test_strip_characters():
    assert call("str_strip", b"xxhixyx", b"xy") == b"hi"
    assert call("str_lstrip", b"xxhixyx", b"xy") == b"hixyx"
    assert call("str_rstrip", b"xxhixyx", b"xy") == b"xxhi"
    assert call("str_strip", b" a ", b"") == b" a "
    assert call("str_strip", b"", b"x") == b""
    assert call("str_strip", b"xxx", b"x") == b""
    # bytes, not characters: stripping the bytes of "é" from both ends
    assert call("str_strip", E_ACUTE + b"a" + E_ACUTE, E_ACUTE) == b"a"
    assert call("str_rstrip", b"a" + E_ACUTE, b"\xa9") == b"a\xc3"


# ------------------------------------------------------------------ chunk

@pytest.mark.parametrize("args, expected", [
    ((b"abcdefg", 3.0), [b"abc", b"def", b"g"]), ((b"abcdef", 3.0), [b"abc", b"def"]),
    ((b"abcdefg", 3.0, 1.0), [b"a", b"bcd", b"efg"]), ((b"abc", 5.0), [b"abc"]),
    ((b"abc", 1.0, 5.0), [b"abc"]), ((b"", 3.0), []), ((b"", 3.0, 1.0), []),
    ((b"abcdef", 2.5), [b"ab", b"cd", b"ef"]), ((E_ACUTE * 2, 1.0), [b"\xc3", b"\xa9"] * 2),
    ((b"abcde", 2.0, 4.0), [b"abcd", b"e"]),
])
def test_str_chunk(args, expected):
    assert lst(call("str_chunk", *args)) == expected


@pytest.mark.parametrize("args", [(b"abc", 0.0), (b"abc", -1.0), (b"abc", 0.5),
                                  (b"abc", 1.0, 0.0), (b"abc", 2.0, -1.0),
                                  (b"abc", math.nan)])
def test_str_chunk_invalid_length(args):
    with pytest.raises(ScriptError):
        call("str_chunk", *args)


def test_nan_and_infinite_offsets_are_errors():
    for name, args in [("str_slice", (b"abc", math.nan)), ("str_find", (b"a", b"a", math.inf)),
                       ("chr", (math.nan,))]:
        with pytest.raises(ScriptError):
            call(name, *args)
