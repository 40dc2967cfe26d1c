"""Unit tests for hsl.runtime.regex: PCRE syntax and flags on byte strings."""
import threading
import time

import pytest

from hsl.errors import ScriptError
from hsl.runtime.regex import (Pattern, PatternError, compile_pattern, finditer,
                               parse_pattern_value, regex_search, search, split_delimited)
from hsl.runtime.values import HRegex


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
        (rb"a{,3}", b"aaaa", "", b"aaa"),       # PCRE2 10.43 (as Perl 5.34): {0,3}; PCRE1: text
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
        (rb"(a)(b)(c)(d)(e)(f)(g)(h)\8", b"abcdefghh", "", b"abcdefghh"),
        (rb"[\8]", b"8", "", b"8"),
        (rb"(*UTF8).", "é".encode(), "", "é".encode()),
        (rb"a(*SKIP)(*FAIL)|b", b"ab", "", b"b"),
    ])
    def test_match(self, pattern, subject, flags, want):
        assert m0(pattern, subject, flags) == want

    @pytest.mark.parametrize("pattern, flags", [
        (rb"(", ""), (rb"a**", ""), (rb"[a", ""), (rb"\x{100}", ""), (rb"\q", "X"),
        (rb"\u0041", ""), (rb"a{2,1}", ""), (rb"\c", ""), (rb"x", "q"), (rb"x", "g"),
        (rb"\k<missing>", ""),
        (rb"\8", ""),                          # PCRE2: a back-reference; PCRE1: the text 8
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

    def test_utf8_invalid_subject_is_pcres_error(self):
        # PCRE checks a UTF subject before it matches (the old engine matched lone bytes)
        for pattern in (b"b", b".b"):
            with pytest.raises(ScriptError, match=r"/u: UTF-8 error: illegal byte"):
                compile_pattern(pattern, "u").search(b"\xffb")
        with pytest.raises(ScriptError, match="UTF-8 error"):
            list(compile_pattern(b"a", "u").finditer(b"aa\xc3"))

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


class TestPcre2:
    """PCRE syntax the old translation onto `regex` rejected or read differently: PCRE2
    compiles and matches every pattern now."""

    @pytest.mark.parametrize("pattern, subject, flags, want", [
        (rb"a+(*COMMIT)b", b"aaac aab", "", None),       # no retry past the commit
        (rb"a+(*PRUNE)b|c", b"aac", "", b"c"),
        (rb"a(*THEN)x|a", b"ab", "", b"a"),
        (rb"a(*ACCEPT)b", b"ac", "", b"a"),
        (rb"(*CR)a$", b"a\rb", "m", b"a"),
        (rb"a$", b"a\rb", "m", None),
        (rb"(*LF)a$", b"a\nb", "m", b"a"),
        (rb"(*CRLF)a$", b"a\r\nb", "m", b"a"),
        (rb"(*CRLF)a$", b"a\nb", "m", None),
        (rb"(*ANYCRLF)a$", b"a\rb", "m", b"a"),
        (rb"(*ANY)a$", b"a\x85b", "m", b"a"),
        (rb"(*NUL)a$", b"a\x00b", "m", b"a"),
        (rb"(*LIMIT_MATCH=1000)a+b", b"aab", "", b"aab"),
        (rb"(*LIMIT_DEPTH=1000)(*LIMIT_HEAP=1000)a", b"a", "", b"a"),
        (rb"(*NO_JIT)a+", b"baa", "", b"aa"),
        (rb"(*NOTEMPTY)a*", b"baa", "", b"aa"),
        (rb"(*NOTEMPTY_ATSTART)x*", b"ba", "", b""),       # empty, but not at offset 0
        (rb"(*NO_AUTO_POSSESS)(*NO_START_OPT)(*NO_DOTSTAR_ANCHOR)a", b"a", "", b"a"),
        (rb"a(?C1)b(?C'text')c", b"abc", "", b"abc"),   # no callout function: callouts pass
        (rb"(*UTF)\x{e9}", "é".encode(), "", "é".encode()),
        (rb"\N{U+e9}", "é".encode(), "u", "é".encode()),
        (rb"(?U)a+", b"aaa", "", b"a"),
        (rb"(a(?U)a+)a+", b"aaaa", "", b"aaaa"),          # (?U) ends with its group
        (rb"(?x: a b )c", b"abc", "", b"abc"),
        (rb"(?xx)[a b]+", b"a b", "", b"a"),
        (rb"(?^i:a)", b"A", "", b"A"),
        (rb"(?n)(a)(?<b>b)", b"ab", "", b"ab"),
        (rb"\x4", b"\x04", "", b"\x04"),
        (rb"\x{41}", b"A", "", b"A"),
        (rb"(?<=\d{2})x", b"12x", "", b"x"),
        (rb"(?<=ab|c)x", b"cx", "", b"x"),
        (rb"(*atomic:a+)a", b"aaa", "", None),
        (rb"(*pla:a)a", b"a", "", b"a"),
        (rb"x(?*a)", b"xa", "", b"x"),                  # non-atomic lookahead
        (rb"\w", "é".encode(), "u", None),             # UTF without UCP, as PCRE's UTF-8
        (rb"(*UCP)\w", "é".encode(), "u", "é".encode()),
        ("É".encode(), "é".encode(), "ui", "é".encode()),
    ])
    def test_match(self, pattern, subject, flags, want):
        assert m0(pattern, subject, flags) == want

    @pytest.mark.parametrize("pattern, flags, reason, offset", [
        (rb"(?<=a+)b", "", "length of lookbehind assertion is not limited", 0),
        (rb"x(?<!a*)", "", "length of lookbehind assertion is not limited", 1),
        (rb"a(?=b\K)", "", r"\K is not allowed in lookarounds", 8),
        (rb"a\C", "", r"using \C is disabled", 3),
        (rb"ab(", "", "missing closing parenthesis", 3),
        (rb"a{2,1}", "", "numbers out of order in {} quantifier", 5),
        (rb"(*FOO)a", "", "(*VERB) not recognized or malformed", 5),
        (b"\xc3(", "u", "UTF-8 error: byte 2 top bits not 0x80", 0),
        (rb"\L", "", r"PCRE2 does not support \F, \L", 2),
        (rb"\u0041", "", r"PCRE2 does not support", 2),
    ])
    def test_invalid_with_pcre2s_message_and_offset(self, pattern, flags, reason, offset):
        with pytest.raises(PatternError) as e:
            compile_pattern(pattern, flags)
        assert e.value.reason.startswith(reason) and e.value.offset == offset
        assert e.value.message == (f"invalid regular expression /{pattern.decode('utf-8', 'replace')}"
                                   f"/{flags}: {e.value.reason} at offset {offset}")

    def test_unknown_modifier_has_no_offset(self):
        with pytest.raises(PatternError) as e:
            compile_pattern(b"a", "iq")
        assert e.value.offset is None and e.value.message.endswith("unknown modifier 'q'")

    def test_the_jit_is_used(self):
        # a million bytes in under a millisecond (the old engine took about 4 ms)
        p = compile_pattern(rb"(\w+)@(\w+)\.com", "")
        subject = b"x" * 1000000 + b"someone@example.com"
        best = 1.0
        for _ in range(5):
            start = time.perf_counter()
            assert p.search(subject).span(2) == (1000008, 1000015)
            best = min(best, time.perf_counter() - start)
        assert best < 0.002


class TestPcre1Rules:
    """language.md 5.9.6: X is PCRE1's PCRE_EXTRA. Without it an unknown escape is the
    character itself (PCRE2 always rejects one); with it, PCRE2's error."""

    @pytest.mark.parametrize("pattern, subject, want", [
        (rb"a\qb", b"aqb", b"aqb"),
        (rb"\j\i\m\y\I\J\M\O\T\Y", b"jimyIJMOTY", b"jimyIJMOTY"),
        (rb"\F", b"F", b"F"),                           # \F is unknown to PCRE1 too
        (rb"[\q]", b"q", b"q"),
        (rb"[\B\R\X]+", b"xBRX", b"BRX"),               # not allowed in a class: literal
        (rb"[\A\z\Z\G\K]+", b"AzZGK", b"AzZGK"),
        (rb"\\q", b"\\q", b"\\q"),                      # an escaped backslash, then q
        (rb"\Q\q\E", b"\\q", b"\\q"),                   # quoted: stays a backslash
        (rb"a(?#\q)b", b"ab", b"ab"),
        ("é\\qé".encode(), "éqé".encode(), "éqé".encode()),
    ])
    def test_unknown_escape_is_the_character_without_X(self, pattern, subject, want):
        assert m0(pattern, subject, "") == want
        assert m0(pattern, subject, "u") == want

    @pytest.mark.parametrize("pattern, reason", [
        (rb"a\qb", "unrecognized character follows \\"),
        (rb"[\q]", "unrecognized character follows \\"),
        (rb"[\B]", "escape sequence is invalid in character class"),
        (rb"\F", r"PCRE2 does not support \F"),
    ])
    def test_unknown_escape_is_an_error_with_X(self, pattern, reason):
        with pytest.raises(PatternError) as e:
            compile_pattern(pattern, "X")
        assert e.value.reason.startswith(reason)
        assert m0(rb"\d", b"5", "X") == b"5"

    def test_escapes_pcre1_rejects_stay_errors_without_X(self):
        for pattern in (rb"\L", rb"\l", rb"\U", rb"\u", rb"\o", rb"\g", rb"\k", rb"[\N]"):
            with pytest.raises(PatternError):
                compile_pattern(pattern, "")

    def test_offsets_count_the_dropped_backslashes(self):
        with pytest.raises(PatternError) as e:
            compile_pattern(rb"\q\j(", "")
        assert e.value.offset == 5 and e.value.reason == "missing closing parenthesis"
        with pytest.raises(PatternError) as e:
            compile_pattern(rb"\q[\B]\j)", "")
        assert e.value.offset == 9 and e.value.reason.startswith("unmatched closing")


class TestLimits:
    def test_catastrophic_backtracking_stops_at_the_match_limit(self):
        p = compile_pattern(rb"^(a|a)*$", "")
        start = time.perf_counter()
        with pytest.raises(ScriptError, match=r"^regular expression /\^\(a\|a\)\*\$/: "
                                              r"match limit exceeded$"):
            p.search(b"a" * 40 + b"!")
        assert time.perf_counter() - start < 0.5

    def test_the_full_limit_is_pcres(self):
        # 2^18 steps: more than the first try's 100,000, less than PCRE2's 10,000,000
        p = compile_pattern(rb"^(a|a)*$", "")
        assert p.search(b"a" * 18 + b"!") is None and p._full is not None
        with pytest.raises(ScriptError, match="match limit exceeded"):
            p.search(b"a" * 24 + b"!")

    def test_a_pattern_can_lower_the_limit(self):
        p = compile_pattern(rb"(*LIMIT_MATCH=50)^(a|a)*$", "")
        with pytest.raises(ScriptError, match="match limit exceeded"):
            p.search(b"a" * 8 + b"!")

    def test_deep_backtracking_past_the_jit_stack_runs_in_the_interpreter(self):
        # the JIT's 32 KiB stack holds about a thousand repeats of a group
        p = compile_pattern(rb"^(?:a|b)*$", "")
        assert p.search(b"ab" * 50000).span() == (0, 100000)
        assert p.search(b"ab" * 50000 + b"!") is None

    def test_the_interpreters_memory_stops_at_the_heap_limit(self):
        p = compile_pattern(rb"^(?:a|b)*$", "")
        start = time.perf_counter()
        with pytest.raises(ScriptError, match="heap limit exceeded"):
            p.search(b"ab" * 1000000)
        assert time.perf_counter() - start < 1.0

    def test_a_catastrophic_match_errors_in_a_run_and_can_be_caught(self):
        import hsl
        out = []
        hsl.compile('try { pcre_match("^(a|a)*$", str_repeat("a", 40) . "!"); } '
                    'catch ($e) { echo $e->toString(); }').run(output=out.append, max_time=5)
        assert len(out) == 1 and "match limit exceeded" in out[0]

    def test_many_slow_matches_stop_at_the_deadline(self):
        # each match backtracks some 2^15 times (under the first try's limit, about 0.2
        # ms) and there are 100,000: the clock is looked at between matches
        import hsl
        program = hsl.compile('pcre_match_all("(a|a)*c|b", str_repeat(str_repeat("a", 14) . '
                              '"b", 100000));')
        start = time.monotonic()
        with pytest.raises(hsl.HSLRuntimeError, match="execution time limit exceeded"):
            program.run(output=lambda s: None, max_time=0.3)
        assert time.monotonic() - start < 1.0


class TestLiterals:
    """An invalid regex literal is a compile-time error at PCRE2's offset in it."""

    def test_compile_error_at_the_offset_with_pcre2s_message(self):
        import hsl
        from hsl.errors import HSLSyntaxError
        with pytest.raises(HSLSyntaxError) as e:
            hsl.compile('echo 1;\n$x = "é" =~ #/é\\q[a-/;')
        [d] = e.value.diagnostics
        assert (d.line, d.column) == (2, 21)              # after "é\q[a-", at the last /
        assert d.message == "invalid regular expression: missing terminating ] for " \
                            "character class"

    def test_hsl_check_reports_it(self):
        from hsl.check.checker import Options, check_source
        [d] = check_source('if ("x" =~ #/(?<=a+)b/) echo 1;\n', "t.hsl", Options())
        assert (d.code, d.line, d.column, d.end_column) == ("HSL900", 1, 14, 15)
        assert d.message == "invalid regular expression: length of lookbehind assertion " \
                            "is not limited"
