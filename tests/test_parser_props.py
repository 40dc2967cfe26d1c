"""Property tests: the parser never fails with anything but HSLSyntaxError."""
from __future__ import annotations

import functools
import importlib.util
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import hsl.syntax.parser as P
from hsl.syntax import _lalr
from hsl.syntax import ast as A
from hsl.errors import HSLSyntaxError
from hsl.syntax.parser import parse

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


# ---------------------------------------------------------------- the runtime against Lark
#
# hsl/syntax/_lalr.py replaces Lark's LALR parser and contextual lexer at run time.  These tests
# run Lark's own parser (same grammar, same builder, `!~` always lexed) side by side and
# check that both give the same tree, or the same first error.

ROOT = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=None)
def _lark_reference():
    from lark import Lark
    from lark.lark import PostLex

    tables, _ = P._get_runtime()
    not_match = tables.by_value["!~"]

    class AlwaysNotMatch(PostLex):
        always_accept = (not_match,)

        def process(self, stream):
            return stream

    builder = P._Builder()
    lk = Lark(P._grammar_text(), parser="lalr", lexer="contextual", transformer=builder,
              lexer_callbacks={"BLOCK_COMMENT": P._Builder.block_comment},
              keep_all_tokens=True, maybe_placeholders=False, propagate_positions=False,
              postlex=AlwaysNotMatch(), start="start")
    return lk, builder


def _token(t):
    from lark import Token
    if not isinstance(t, Token):
        return t
    return _lalr.Token(t.type, str(t), t.start_pos, t.line, t.column, t.end_line,
                       t.end_column, t.end_pos)


def _adapt(e):
    """A lark exception as the runtime's exception (same information)."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken
    st = getattr(e, "state", None)
    state = _lalr.ParserState(list(getattr(st, "state_stack", [])),
                              [_token(v) for v in getattr(st, "value_stack", [])])
    if isinstance(e, UnexpectedToken):
        out = _lalr.UnexpectedToken(_token(e.token), set(e.expected), state, None)
        out._accepts = set(e.accepts or ())
        return out
    if isinstance(e, UnexpectedCharacters):
        return _lalr.UnexpectedCharacters("", e.pos_in_stream, e.line, e.column, state)
    return e


def _reference(src: str):
    """('ok', repr of the tree) or ('error', line, column, message) with Lark."""
    from lark import Token
    from lark.exceptions import UnexpectedInput
    lk, builder = _lark_reference()
    builder.reset(src, "p.hsl")
    ours = P.Token
    P.Token = Token                 # the builder checks `type(x) is Token`
    try:
        try:
            prog = lk.parse(src)
        finally:
            P.Token = ours
    except (UnexpectedInput, P._Fail) as e:
        d, _ = P._diagnose(src, "p.hsl", _adapt(e))
        return ("error", d.line, d.column, d.message)
    if len(builder.appends) != len(builder.appends_ok):
        return ("error", "append")
    return ("ok", repr(prog))


def _ours(src: str):
    prog, diags = P._parse(src, "p.hsl", recover=False)
    if diags:
        d = diags[0]
        if "'[]' (append)" in d.message:
            return ("error", "append")
        return ("error", d.line, d.column, d.message)
    return ("ok", repr(prog))


def same_as_lark(src: str) -> None:
    if P._check_nesting(src) is not None:
        return
    assert _ours(src) == _reference(src), src


@SETTINGS
@given(token_soup)
def test_runtime_matches_lark_token_soup(src):
    same_as_lark(src)


@SETTINGS
@given(tight_soup)
def test_runtime_matches_lark_tight_soup(src):
    same_as_lark(src)


@SETTINGS
@given(snippet_mix)
def test_runtime_matches_lark_snippets(src):
    same_as_lark(src)


@SETTINGS
@given(st.text(max_size=120))
def test_runtime_matches_lark_any_text(src):
    same_as_lark(src)


def _real_sources():
    out = []
    for path in sorted((ROOT / "tests" / "conformance").rglob("*.hsl")):
        out.append(path)
    for path in sorted((ROOT / "examples").glob("*.hsl")):
        out.append(path)
    for path in sorted((ROOT / "stdlib").glob("*.hsl")):
        out.append(path)
    return out


@pytest.mark.parametrize("path", _real_sources(), ids=lambda p: p.name)
def test_runtime_matches_lark_on_real_files(path):
    text = path.read_text(encoding="utf-8")
    # whole files, and each conformance chunk on its own (many are meant to fail)
    same_as_lark(text)
    for chunk in text.split("\n---\n"):
        same_as_lark(chunk)


# ---------------------------------------------------------------- error recovery
#
# Real-looking files (the parse benchmark's generator, the examples, the standard library)
# with typos injected: one typo must give exactly one diagnostic, the one a parser without
# recovery reports; two typos far apart must give exactly those two.  Typos keep the line
# count, so positions stay comparable.


def _bench_generate():
    spec = importlib.util.spec_from_file_location("hsl_bench_parse", ROOT / "bench" / "parse.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.generate


generate = _bench_generate()          # bench/parse.py's generator of real-looking HSL

TYPOS = ["missing ';'", "missing ')'", "missing '('", "missing ']'", "missing '{'",
         "missing '}'", "missing operand", "keyword typo", "doubled operator", "stray ')'",
         "stray '*'", "stray '}'", "deleted token", "extra token"]
# A missing `}` is only found where the structure stops making sense (often at the end of
# the file); an extra `}` closes a block early and the rest of that block is reported where
# it no longer fits, which after an earlier error is taken for a cascade.  Both are checked
# alone only.
SINGLE_ONLY = ("missing '}'", "stray '}'")
EXTRA = [")", "]", ",", "=>", "else", "case", "$x", "1", "function", "::", "->", "(", "[",
         "=", "?", ":", "if", "echo", '"s"', "#/x/", "/", "!", "..."]


def _corpus():
    out = [("generated-%d" % i, generate(150, seed=i)) for i in range(3)]
    for path in sorted((ROOT / "examples").glob("*.hsl")) + sorted((ROOT / "stdlib").glob("*.hsl")):
        text = path.read_text(encoding="utf-8")
        if not P._parse(text, path.name)[1]:
            out.append((path.name, text))
    return out


def _tokens(text: str) -> list:
    tables, _ = P._get_runtime()
    return [(typ, pos, end, line) for typ, pos, end, line, _c, _l in tables.scan(text, 0, 1, 0)
            if typ and typ != "!"]


def _typo(text: str, toks: list, kind: str, rnd: random.Random):
    """(text with one typo, line of the typo), or None if the kind does not apply."""
    tables, _ = P._get_runtime()
    bv = tables.by_value

    def blank(t):
        return text[:t[1]] + text[t[2]:], t[3]

    def of(*values):
        names = {bv[v] for v in values}
        return [t for t in toks if t[0] in names]

    simple = {"missing ';'": ";", "missing ')'": ")", "missing '('": "(",
              "missing ']'": "]", "missing '{'": "{", "missing '}'": "}"}
    if kind in simple:
        c = of(simple[kind])
        return blank(rnd.choice(c)) if c else None
    if kind == "missing operand":
        c = [i for i, t in enumerate(toks[:-1]) if t[0] == bv["="] and toks[i + 1][3] == t[3]]
        return blank(toks[rnd.choice(c) + 1]) if c else None
    if kind == "keyword typo":
        c = [t for t in toks if text[t[1]:t[2]] in ("function", "foreach", "return", "echo",
                                                     "while", "if", "class", "switch")]
        if not c:
            return None
        t = rnd.choice(c)
        w = text[t[1]:t[2]]
        return text[:t[1]] + w[1] + w[0] + w[2:] + text[t[2]:], t[3]
    if kind == "doubled operator":
        c = of("*", "/", ".", "==", "<", ">", "and", "or", "??", "=>")
        if not c:
            return None
        t = rnd.choice(c)
        return text[:t[2]] + " " + text[t[1]:t[2]] + text[t[2]:], t[3]
    if kind in ("stray ')'", "stray '}'"):
        c = of(";")
        if not c:
            return None
        t = rnd.choice(c)
        return text[:t[2]] + kind[-2] + text[t[2]:], t[3]
    if kind == "stray '*'":
        c = of("=")
        if not c:
            return None
        t = rnd.choice(c)
        return text[:t[2]] + " *" + text[t[2]:], t[3]
    if not toks:
        return None
    if kind == "deleted token":         # (missing braces have their own kinds)
        braces = {bv["{"], bv["}"]}
        return blank(rnd.choice([t for t in toks if t[0] not in braces] or toks))
    if kind == "extra token":
        t = rnd.choice(toks)
        return text[:t[1]] + rnd.choice(EXTRA) + " " + text[t[1]:], t[3]
    raise AssertionError(kind)


def _errors(text: str, recover: bool = True) -> list:
    return [(d.line, d.column, d.message) for d in P._parse(text, "t.hsl", recover)[1]]


def _first_error(text: str):
    errs = _errors(text, recover=False)
    return errs[0] if errs else None


def check_one_typo(text: str, kind: str, rnd: random.Random, failures: list):
    """Returns (typo'd text, line, its error) or None."""
    got = _typo(text, _tokens(text), kind, rnd)
    if got is None:
        return None
    bad, line = got
    first = _first_error(bad)
    if first is None:
        return None                 # still valid HSL
    errs = _errors(bad)
    if errs != [first]:
        failures.append(("one", kind, line, first, errs, bad))
    return bad, line, first


def _unlocatable(err) -> bool:
    """An end-of-file error naming an unclosed bracket: not reported after another error."""
    return "end of file, missing" in err[2]


def recovery_failures(seed: int, rounds: int) -> list:
    rnd = random.Random(seed)
    corpus = _corpus()
    failures: list = []
    for _ in range(rounds):
        _name, text = rnd.choice(corpus)
        kind = rnd.choice(TYPOS)
        one = check_one_typo(text, kind, rnd, failures)
        if one is None or kind in SINGLE_ONLY:
            continue
        bad1, line1, err1 = one
        if _unlocatable(err1):
            continue
        lines = text.split("\n")
        if line1 + 30 >= len(lines):
            continue
        cut = sum(len(x) + 1 for x in lines[:line1 + 30])   # typo 2 starts 30 lines later
        kind2 = rnd.choice([k for k in TYPOS if k not in SINGLE_ONLY])
        tail_bad = _typo(text[cut:], _tokens(text[cut:]), kind2, rnd)
        if tail_bad is None:
            continue
        alone = text[:cut] + tail_bad[0]
        err2 = _first_error(alone)
        if err2 is None or err2[0] <= line1 + 30 or _unlocatable(err2):
            continue
        if _errors(alone) != [err2]:
            continue                # reported by the single-typo check
        both = bad1[:cut + len(bad1) - len(text)] + tail_bad[0]
        if _first_error(both) != err1:
            continue                # the typos interact (one undoes the other)
        errs = _errors(both)
        if errs != [err1, err2]:
            failures.append(("two", (kind, kind2), line1, [err1, err2], errs, both))
    return failures


@pytest.mark.parametrize("seed", [1, 2])
def test_recovery_reports_each_typo_once(seed):
    failures = recovery_failures(seed, 150)
    assert not failures, "\n".join("%s %s line %s: want %s, got %s" % f[:5] for f in failures)
