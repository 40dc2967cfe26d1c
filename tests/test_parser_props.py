"""Property tests: the parser never fails with anything but HSLSyntaxError."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from hsl import ast as A
from hsl.errors import HSLSyntaxError
from hsl.parser import parse

TOKENS = [
    # keywords
    "and", "array", "as", "barrier", "break", "builtin", "cache", "case", "catch", "class",
    "closure", "constructor", "continue", "default", "echo", "else", "false", "for",
    "foreach", "forever", "from", "function", "global", "if", "import", "include",
    "include_once", "isset", "match", "none", "not", "object", "or", "private", "readonly",
    "return", "static", "switch", "throw", "true", "try", "unset", "while", "with", "yield",
    # names, variables, literals
    "foo", "Bar", "_x", "$a", "$b", "$this", "0", "42", "1_000", "3.25", "0xff", "0o7",
    "0b101", "1e3", "1__0", "0X1", "1.2.3", '"s"', '"a $a b"', '"${a}x"', '"\\n\\x41"',
    '"\\q"', '"', "''raw''", "'D'x'D'", "'", "#/a+/i", "#/", "#", "/*", "*/", "//",
    # operators and punctuation
    "...", "**=", "??=", "===", "!==", ">>>", ">>>=", "<<=", ">>=", "&=", "|=", "^=", "**",
    "??", "==", "!=", "<=", ">=", "<<", ">>", "=~", "!~", "=>", "->", "::", "++", "--", "+=",
    "-=", "*=", "/=", "%=", ".=", "+", "-", "*", "/", "%", ".", "=", "<", ">", "!", "~",
    "&", "|", "^", "?", ":", ";", ",", "(", ")", "[", "]", "{", "}",
    # troublemakers
    "\u201c", "\u201d", "\u00a0", "\n", "\t", " ", "@", "`", "\\", "$", "\x00", "\u00e9",
]

SNIPPETS = [
    "echo 1;", "$a = [1, 2];", "function f($x) { return $x; }", "if ($a) { } else { }",
    "foreach ($a as $k => $v) { }", "class C { constructor() { } }", "$a[] = 1;",
    "switch ($a) { case 1: break; default: }", "match ($a) { default => 1 };",
    "[$a, $b] = $c;", "try { } catch ($e) { }", 'import { f } from "m";',
    "cache [] f();", "$x = $a ? : $b;", "$s = \"$a\";", "for (;;) { }",
]

token_soup = st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join)
tight_soup = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)
snippet_mix = st.lists(st.one_of(st.sampled_from(SNIPPETS), st.sampled_from(TOKENS)),
                       max_size=12).map(" ".join)


def check(src: str) -> None:
    try:
        prog = parse(src, "p.hsl")
    except HSLSyntaxError as e:
        assert e.line >= 1 and e.column >= 1
        assert e.diagnostics
        for d in e.diagnostics:
            assert d.line >= 1 and d.column >= 1
            assert "syntax error" in d.message
            assert "__ANON" not in d.message and "$END" not in d.message
        return
    assert isinstance(prog, A.Program)


SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.text(max_size=200))
def test_any_text(src):
    check(src)


@SETTINGS
@given(token_soup)
def test_token_soup(src):
    check(src)


@SETTINGS
@given(tight_soup)
def test_tight_token_soup(src):
    check(src)


@SETTINGS
@given(snippet_mix)
def test_snippets_and_tokens(src):
    check(src)


@SETTINGS
@given(st.lists(st.sampled_from(SNIPPETS), max_size=10))
def test_valid_snippets_parse(snippets):
    prog = parse("\n".join(snippets))
    assert len(prog.body) == len(snippets)
