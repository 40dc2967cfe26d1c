"""Builtin classes Map, Set, Iconv and File, called through the class registry."""
import errno

import pytest

from hsl.builtins import CLASSES, load_all
from hsl.builtins.classes import FileResource
from hsl.errors import ScriptError
from hsl.runtime.values import HArray

load_all()


def new(cls, *args):
    return CLASSES[cls].cls(*args)


def call(obj, name, *args):
    fn, lo, hi = type(obj).hsl_methods[name]
    assert lo <= len(args) and (hi is None or len(args) <= hi)
    return fn(obj, *args)


def static(cls, name, *args):
    return CLASSES[cls].cls.hsl_statics[name][0](*args)


# ---------------------------------------------------------------------- Map

def test_map_basics():
    m = new("Map", b"string", b"any")
    assert call(m, "size") == 0.0
    assert call(m, "set", b"a", 1.0) is True
    assert call(m, "set", b"b", b"x") is True
    assert call(m, "has", b"a") is True and call(m, "has", b"zz") is False
    assert call(m, "get", b"a") == 1.0
    assert call(m, "get", b"zz") is None
    assert call(m, "size") == 2.0
    assert call(m, "delete", b"a") is True
    assert call(m, "delete", b"a") is False
    assert call(m, "clear") is None
    assert call(m, "size") == 0.0
    # keys are exact: "1" and 1 are different keys in a string map? only strings allowed
    with pytest.raises(ScriptError, match="type"):
        call(m, "set", 1.0, 2.0)


def test_map_types():
    m = new("Map", b"number", b"string")
    call(m, "set", 1.0, b"one")
    with pytest.raises(ScriptError, match="type"):
        call(m, "set", 2.0, 2.0)
    with pytest.raises(ScriptError, match="type"):
        call(m, "get", b"1")
    with pytest.raises(ScriptError, match="type must be one of"):
        new("Map", b"regex", b"any")
    with pytest.raises(ScriptError, match="type must be one of"):
        new("Map", b"string", b"float")
    with pytest.raises(ScriptError, match="type"):
        new("Map", 1.0, b"any")
    a = new("Map", b"string", b"array")
    with pytest.raises(ScriptError, match="type"):
        call(a, "set", b"k", b"not an array")


def test_map_merge():
    m = new("Map", b"string", b"any")
    assert call(m, "merge", b"n", 1.0) is True          # absent: plain set
    call(m, "merge", b"n", 2.5)
    assert call(m, "get", b"n") == 3.5
    call(m, "set", b"l", HArray.from_list([1.0]))
    call(m, "merge", b"l", HArray.from_list([2.0, 3.0]))
    assert list(call(m, "get", b"l").values()) == [1.0, 2.0, 3.0]
    call(m, "merge", b"l", 4.0)
    assert list(call(m, "get", b"l").values()) == [1.0, 2.0, 3.0, 4.0]
    s = new("Map", b"string", b"string")
    call(s, "set", b"k", b"text")
    with pytest.raises(ScriptError, match="type"):
        call(s, "merge", b"k", b"more")      # string + string is a number in HSL


def test_map_values_are_copies():
    m = new("Map", b"string", b"array")
    a = HArray.from_list([1.0])
    call(m, "set", b"a", a)
    a.append(2.0)
    got = call(m, "get", b"a")
    assert list(got.values()) == [1.0]
    got.append(3.0)
    assert list(call(m, "get", b"a").values()) == [1.0]


def test_map_entries_iterator():
    m = new("Map", b"string", b"number")
    call(m, "set", b"x", 1.0)
    call(m, "set", b"y", 2.0)
    it = call(m, "entries")
    assert list(it.hsl_iter_items()) == [(b"x", 1.0), (b"y", 2.0)]
    assert [list(p.values()) for p in it.hsl_iter_values()] == [[b"x", 1.0], [b"y", 2.0]]


# ---------------------------------------------------------------------- Set

def test_set():
    s = new("Set", b"string")
    assert call(s, "add", b"a") is True
    assert call(s, "add", b"a") is False
    assert call(s, "add", b"b") is True
    assert call(s, "has", b"a") is True
    assert call(s, "size") == 2.0
    assert list(call(s, "values").hsl_iter_values()) == [b"a", b"b"]
    assert list(call(s, "values").hsl_iter_items()) == [(b"a", b"a"), (b"b", b"b")]
    assert call(s, "delete", b"a") is True and call(s, "delete", b"a") is False
    call(s, "clear")
    assert call(s, "size") == 0.0
    with pytest.raises(ScriptError, match="type"):
        call(s, "add", 1.0)
    n = new("Set", b"number")
    call(n, "add", 1.0)
    assert call(n, "has", 1.0) is True


# -------------------------------------------------------------------- Iconv

def test_iconv():
    i = new("Iconv", b"UTF-8", b"ISO-8859-1")
    assert call(i, "convert", "Grüße".encode()) == "Grüße".encode("latin-1")
    assert call(i, "errno") == 0.0
    assert call(i, "convert", "€".encode()) is None
    assert call(i, "errno") == float(errno.EILSEQ)
    back = new("Iconv", b"ISO-8859-1", b"UTF-8")
    assert call(back, "convert", b"\xe4") == "ä".encode()
    bad = new("Iconv", b"UTF-8", b"UTF-16LE")
    assert call(bad, "convert", b"\xc3") is None            # incomplete sequence
    assert call(bad, "errno") == float(errno.EINVAL)
    assert call(bad, "convert", b"\xff\xfe") is None         # invalid sequence
    assert call(bad, "errno") == float(errno.EILSEQ)
    assert call(bad, "convert", b"ab") == "ab".encode("utf-16-le")


def test_iconv_ignore_translit():
    ig = new("Iconv", b"UTF-8", b"ASCII//IGNORE")
    assert call(ig, "convert", "a€b".encode()) == b"ab"
    tr = new("Iconv", b"UTF-8", b"ASCII//TRANSLIT")
    assert call(tr, "convert", "Café €5 “x” ☃".encode()) == b'Cafe EUR5 "x" ?'
    both = new("Iconv", b"UTF-8//IGNORE", b"ASCII//TRANSLIT//IGNORE")
    assert call(both, "convert", b"a\xffb") == b"ab"


def test_iconv_empty_charset_is_the_locale_one():
    # iconv_open(3): "" is the locale's character set (UTF-8 here); HalonPOCLab builds
    # Iconv("utf-8", "$charset//TRANSLIT//IGNORE") for parts without a charset.
    i = new("Iconv", b"utf-8", b"//TRANSLIT//IGNORE")
    assert call(i, "convert", "Grüße".encode()) == "Grüße".encode()
    assert call(new("Iconv", b"", b"ISO-8859-1"), "convert", "é".encode()) == b"\xe9"


def test_iconv_errors_and_close():
    with pytest.raises(ScriptError, match="unknown character set"):
        new("Iconv", b"UTF-8", b"NO-SUCH-CHARSET")
    with pytest.raises(ScriptError, match="type"):
        new("Iconv", None, b"UTF-8")
    i = new("Iconv", b"UTF-8", b"ASCII")
    with pytest.raises(ScriptError, match="type"):
        call(i, "convert", 1.0)
    call(i, "close")
    assert call(i, "convert", b"a") is None
    assert call(i, "errno") == float(errno.EBADF)


# --------------------------------------------------------------------- File

def test_file_string():
    f = static("File", "String", b"one\r\ntwo\nthree")
    assert call(f, "tell") == 0.0
    assert call(f, "readline") == b"one"
    assert call(f, "readline") == b"two"
    assert call(f, "readline") == b"three"
    assert call(f, "readline") is False
    assert call(f, "read") == b""
    assert call(f, "seek", 0.0) == 0.0
    assert call(f, "read", 3.0) == b"one"
    assert call(f, "seek", 2.0, b"SEEK_CUR") == 5.0
    assert call(f, "read", 3.0) == b"two"
    assert call(f, "seek", -5.0, b"SEEK_END") == 9.0
    assert call(f, "read") == b"three"
    assert call(f, "seek", -100.0, b"SEEK_END") is None
    assert call(f, "read", -1.0) is None
    assert call(f, "getPath") is None
    with pytest.raises(ScriptError, match="whence"):
        call(f, "seek", 0.0, b"SEEK_WHERE")
    with pytest.raises(ScriptError, match="not available"):
        call(f, "toFFIValue")
    call(f, "close")
    assert call(f, "read") is None
    assert call(f, "tell") is None
    with pytest.raises(ScriptError, match="type"):
        static("File", "String", 1.0)


def test_file_empty_and_binary():
    f = static("File", "String", b"")
    assert call(f, "read") == b""
    assert call(f, "readline") is False
    g = static("File", "String", b"\x00\xff\n")
    assert call(g, "readline") == b"\x00\xff"
    assert call(g, "readline") is False


def test_file_read_and_resource(tmp_path):
    p = tmp_path / "data.txt"
    p.write_bytes(b"hello\nworld\n")
    assert static("File", "read", str(p).encode()) == b"hello\nworld\n"
    assert static("File", "read", str(tmp_path / "missing").encode()) is None
    f = new("File", FileResource(path=str(p)))
    assert call(f, "readline") == b"hello"
    assert call(f, "getPath") == str(p).encode()
    again = new("File", f)
    assert call(again, "read") == b"hello\nworld\n"
    with pytest.raises(ScriptError, match="type"):
        new("File", b"path")
