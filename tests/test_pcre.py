"""Unit tests for hsl.pcre: PCRE syntax and flags on byte strings."""
import threading

import pytest

from hsl.errors import ScriptError
from hsl.pcre import (Pattern, compile_pattern, finditer, parse_pattern_value, regex_search,
                      search, split_delimited)
from hsl.values import HRegex


def m0(pattern, subject, flags=""):
    m = compile_pattern(pattern, flags).search(subject)
    return None if m is None else m.group(0)


class TestSyntax:
    @pytest.mark.parametrize("pattern, subject, flags, want", [
        (rb"\d+", b"ab123c", "", b"123"),
        (rb"^a", b"ba", "", None),
        (rb"(?<n>a)\k<n>", b"aa", "", b"aa"),
        (rb"(?'n'a)\k'n'", b"aa", "", b"aa"),
        (rb"(?P<n>a)(?P=n)", b"aa", "", b"aa"),
        (rb"(?<n>a)\k{n}", b"aa", "", b"aa"),
        (rb"(?<n>a)\g{n}", b"aa", "", b"aa"),
        (rb"(a)\g1", b"aa", "", b"aa"),
        (rb"(a)\g{1}0", b"aa0", "", b"aa0"),
        (rb"(a)(b)\g{-1}", b"abb", "", b"abb"),
        (rb"(a)\1", b"aa", "", b"aa"),
        (rb"\x41\x{42}", b"AB", "", b"AB"),
        (rb"\e\cA\t", b"\x1b\x01\t", "", b"\x1b\x01\t"),
        (rb"\101\012", b"A\n", "", b"A\n"),
        (rb"\0", b"\x00", "", b"\x00"),
        (rb"\o{101}", b"A", "", b"A"),
        (rb"a\z", b"a\n", "", None),
        (rb"a\Z", b"a\n", "", b"a"),
        (rb"a$", b"a\n", "", b"a"),
        (rb"\Aa", b"ba", "", None),
        (rb"\Qa.b*\E+", b"a.b*b*", "", b"a.b*"),
        (rb"[\Q]\E]", b"]", "", b"]"),
        (rb"a{,3}", b"a{,3}", "", b"a{,3}"),
        (rb"a{2}", b"aaa", "", b"aa"),
        (rb"a{2,}", b"aaa", "", b"aaa"),
        (rb"x{", b"x{", "", b"x{"),
        (rb"\h+", b"a \t b", "", b" \t "),
        (rb"\H", b" x", "", b"x"),
        (rb"\v", b"a\r", "", b"\r"),
        (rb"\R", b"\r\n", "", b"\r\n"),
        (rb"\N+", b"ab\nc", "", b"ab"),
        (rb"[[:alpha:]]+", b"12ab3", "", b"ab"),
        (rb"[^[:digit:]]", b"1a", "", b"a"),
        (rb"[]a]+", b"x]a]", "", b"]a]"),
        (rb"[^]a]", b"]ab", "", b"b"),
        (rb"[a-c--]+", b"a-b", "", b"a-b"),
        (rb"[[]", b"[", "", b"["),
        (rb"(\((?:[^()]|(?R))*\))", b"x((a)(b))", "", b"((a)(b))"),
        (rb"(a|b)(?1)", b"ab", "", b"ab"),
        (rb"(?<p>a|b)(?&p)", b"ba", "", b"ba"),
        (rb"(?|(a)|(b))\1", b"bb", "", b"bb"),
        (rb"a\Kb", b"ab", "", b"b"),
        (rb"(?>a+)b", b"aab", "", b"aab"),
        (rb"a++a", b"aaa", "", None),
        (rb"(?<=a)b", b"ab", "", b"b"),
        (rb"(?<!a)b", b"ab", "", None),
        (rb"(a)?(?(1)b|c)", b"c", "", b"c"),
        (rb"(?<n>a)?(?(<n>)b|c)", b"ab", "", b"ab"),
        (rb"a(?#comment)b", b"ab", "", b"ab"),
        (rb"a(?i)b", b"aB", "", b"aB"),
        (rb"a(?i)b", b"AB", "", None),
        (rb"(a(?i)b)c", b"aBC", "", None),
        (rb"a(?i)b|c", b"C", "", b"C"),
        (rb"(?i:a)b", b"Ab", "", b"Ab"),
        (rb"\/", b"/", "", b"/"),
        (rb"\p{Lu}", b"aB", "", b"B"),
        (rb"\q", b"q", "", b"q"),
        (rb"\8", b"8", "", b"8"),
        (rb"(*UTF8).", "é".encode(), "", "é".encode()),
        (rb"a(*SKIP)(*FAIL)|b", b"ab", "", b"b"),
    ])
    def test_match(self, pattern, subject, flags, want):
        assert m0(pattern, subject, flags) == want

    @pytest.mark.parametrize("pattern, flags", [
        (rb"(", ""), (rb"a**", ""), (rb"[a", ""), (rb"\x{100}", ""), (rb"\q", "X"),
        (rb"\u0041", ""), (rb"a{2,1}", ""), (rb"\c", ""), (rb"x", "q"), (rb"x", "g"),
        (rb"\k<missing>", ""),
    ])
    def test_invalid(self, pattern, flags):
        with pytest.raises(ScriptError) as e:
            compile_pattern(pattern, flags)
        assert pattern.decode() in e.value.message


class TestFlags:
    def test_caseless(self):
        assert m0(b"abc", b"xABC", "i") == b"ABC"
        assert m0(b"\xe9", b"\xc9", "i") is None            # bytes mode: ASCII only

    def test_multiline(self):
        assert m0(b"^b$", b"a\nb\nc", "m") == b"b"
        assert m0(b"^b$", b"a\nb\nc", "") is None
        starts = [m.start() for m in compile_pattern(b"^", "m").finditer(b"a\nb\n")]
        assert starts == [0, 2]                               # not after the final newline
        assert [m.start() for m in compile_pattern(b"^", "m").finditer(b"")] == [0]

    def test_dotall(self):
        assert m0(b"a.b", b"a\nb", "") is None
        assert m0(b"a.b", b"a\nb", "s") == b"a\nb"

    def test_extended(self):
        assert m0(b"a b  # comment\n c", b"abc", "x") == b"abc"
        assert m0(b"a[ ]b", b"a b", "x") == b"a b"
        assert m0(b"a\\ b", b"a b", "x") == b"a b"
        assert m0(b"a#{\nb", b"ab", "x") == b"ab"

    def test_ungreedy(self):
        assert m0(b"a+", b"aaa", "U") == b"a"
        assert m0(b"a+?", b"aaa", "U") == b"aaa"
        assert m0(b"a{1,3}", b"aaa", "U") == b"a"
        assert m0(b"a*?", b"aaa", "") == b""
        assert m0(b"(?U)a+", b"aaa", "") == b"a"
        assert m0(b"a++", b"aaa", "U") == b"aaa"

    def test_extra(self):
        assert m0(b"\\j", b"j", "") == b"j"
        with pytest.raises(ScriptError):
            compile_pattern(b"\\j", "X")
        assert m0(b"\\d", b"5", "X") == b"5"

    def test_utf8(self):
        s = "xéz".encode()
        assert m0(b".", "é".encode(), "u") == "é".encode()
        assert m0(b".", "é".encode(), "") == b"\xc3"
        m = compile_pattern(b"(\xc3\xa9)(b)?", "u").search(s)
        assert m.span() == (1, 3) and m.group(1) == "é".encode()
        assert m.groups() == ("é".encode(), None)
        assert m.start(2) == -1 and m.end(2) == -1
        assert m.group(0) == "é".encode()
        assert m.groupdict() == {}
        assert m0(b"\\x{e9}", s, "u") == "é".encode()
        assert m0(b"^.{3}$", s, "u") == s
        assert m0("É".encode(), s, "ui") == "é".encode()

    def test_utf8_positions(self):
        p = compile_pattern(b"\xc3\xa9|$", "u")
        spans = [m.span() for m in p.finditer("aéé".encode())]
        assert spans == [(1, 3), (3, 5), (5, 5)]
        m = p.search("éaé".encode(), 2)
        assert m.span() == (3, 5)

    def test_utf8_invalid_subject_does_not_crash(self):
        assert m0(b"b", b"\xffb", "u") == b"b"
        m = compile_pattern(b".b", "u").search(b"\xffb")
        assert m.group(0) == b"\xffb" and m.span() == (0, 2)

    def test_flag_combinations(self):
        assert m0(b"^A.B$", b"x\na\nb", "ims") == b"a\nb"


class TestApi:
    def test_split_delimited(self):
        assert split_delimited(b"/abc/i") == (b"abc", "i")
        assert split_delimited(b"/a/b/") == (b"a/b", "")
        assert split_delimited(b"/usr/bin") is None
        assert split_delimited(b"abc") is None
        assert split_delimited(b"/") is None
        assert split_delimited(b"//") == (b"", "")

    def test_parse_pattern_value(self):
        p = parse_pattern_value(b"/HELLO/i")
        assert isinstance(p, Pattern) and p.flags == "i" and p.source == b"HELLO"
        assert parse_pattern_value(b"a+").flags == ""
        r = HRegex(b"x", "m")
        assert parse_pattern_value(r) is r.compiled
        with pytest.raises(ScriptError, match="type"):
            parse_pattern_value(5.0)

    def test_regex_search(self):
        assert regex_search(b"hello", b"/HELLO/i")
        assert not regex_search(b"hello", b"HELLO")
        assert regex_search(b"a/usr/bin", b"/usr/bin")
        assert regex_search(5.0, b"^5$")
        assert regex_search(b"X", HRegex(b"x", "i"))
        assert regex_search(b"\xc3\xa9", b"/^.$/u")
        assert not regex_search(b"\xc3\xa9", b"/^.$/")
        with pytest.raises(ScriptError):
            regex_search(b"x", b"(")

    def test_cache(self):
        assert compile_pattern(b"abc", "i") is compile_pattern(b"abc", "i")
        assert compile_pattern(b"abc", "i") is not compile_pattern(b"abc", "")

    def test_thread_safe(self):
        errors = []

        def work(n):
            try:
                for i in range(200):
                    assert compile_pattern(b"t%d" % (i % 37), "").search(b"t%d" % (i % 37))
            except Exception as e:        # pragma: no cover
                errors.append(e)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors

    def test_groups_and_names(self):
        p = compile_pattern(b"(?<year>\\d{4})-(\\d\\d)", "")
        assert p.groups == 2 and p.groupindex == {"year": 1}
        m = p.search(b"on 2024-05")
        assert m.group(0) == b"2024-05" and m.group(1) == b"2024" and m.group(2) == b"05"
        assert m.groupdict() == {"year": b"2024"} and m.span(2) == (8, 10)

    def test_finditer_empty_matches(self):
        got = [(m.group(0), m.span()) for m in finditer(b"abxd", b"x*")]
        assert got == [(b"", (0, 0)), (b"", (1, 1)), (b"x", (2, 3)), (b"", (3, 3)),
                       (b"", (4, 4))]

    def test_search_helper(self):
        assert search(b"abc", b"/B/i").span() == (1, 2)
        assert search(b"abc", b"z") is None
