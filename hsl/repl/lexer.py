"""A Pygments lexer for HSL, used by `hsl repl` for highlighting and registered under the
`pygments.lexers` entry point (so `pygmentize -l hsl script.hsl` works too).

It follows the token rules of grammar/hsl.lark (strings with escapes and `$var`/`${var}`
interpolation, raw strings with delimiters, `#/regex/flags` literals, the broad NUMBER
token); tests/test_repl_lexer.py keeps it in step by lexing every conformance and example
file without Error tokens.  Names of builtin functions (from the builtin index) are shown
as builtins.
"""
from __future__ import annotations

import re

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (Comment, Keyword, Name, Number, Operator, Punctuation,
                            String, Whitespace)

__all__ = ["HSLLexer"]

from ..syntax.cursor import CONSTANTS, KEYWORDS, WORD_OPERATORS  # noqa: E402 (re-exported)

_builtin_names = None


def builtin_names() -> frozenset:
    """Names of every builtin function and class (all hook contexts), from the index."""
    global _builtin_names
    if _builtin_names is None:
        try:
            # deferred: Pygments loads this lexer without the rest of hsl
            from ..builtins import index
            names = index.names()
        except Exception:        # highlighting must never fail
            names = set()
        _builtin_names = frozenset(names)
    return _builtin_names


class HSLLexer(RegexLexer):
    """Lexer for the Halon Scripting Language."""

    name = "HSL"
    aliases = ["hsl", "halon"]
    filenames = ["*.hsl"]
    mimetypes = ["text/x-hsl"]
    url = "https://docs.halon.io/hsl/"
    flags = re.MULTILINE

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"//[^\n]*", Comment.Single),
            (r"/\*[\s\S]*?(?:\*/|\Z)", Comment.Multiline),
            (r"'([\x21-\x26\x28-\x7e]*)'[\s\S]*?'\1'", String.Single),
            (r"'[\s\S]*\Z", String.Single),          # unterminated raw string (while typing)
            (r'"', String.Double, "string"),
            (r"#/(?:[^\\/\n]|\\[^\n])+/[a-zA-Z]*", String.Regex),
            (r"\$[a-zA-Z_][a-zA-Z0-9_]*", Name.Variable),
            (r"0[xX][0-9a-fA-F_]+", Number.Hex),
            (r"0[bB][01_]+", Number.Bin),
            (r"0[oO][0-7_]+", Number.Oct),
            (r"[0-9][a-zA-Z0-9_]*(?:\.[0-9][a-zA-Z0-9_]*)*", Number),
            (r"(function)(\s+)([a-zA-Z_][a-zA-Z0-9_]*)",
             bygroups(Keyword.Declaration, Whitespace, Name.Function)),
            (r"(class)(\s+)([a-zA-Z_][a-zA-Z0-9_]*)",
             bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (r"(->)([a-zA-Z_][a-zA-Z0-9_]*)", bygroups(Operator, Name.Attribute)),
            (words(("function", "class"), suffix=r"\b"), Keyword.Declaration),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(WORD_OPERATORS, suffix=r"\b"), Operator.Word),
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (r"[a-zA-Z_][a-zA-Z0-9_]*", Name),
            (r"\.\.\.", Punctuation),
            (r"::|=>|->|\?\?=?|\*\*=?|>>>=?|<<=?|>>=?|===?|!==?|<=|>=|"
             r"[-+*/%.&|^]=|\+\+|--|=~|!~|[-+*/%.&|^~!<>=?:]", Operator),
            (r"[{}()\[\];,]", Punctuation),
        ],
        "string": [
            (r'"', String.Double, "#pop"),
            (r"\\(?:x[0-9a-fA-F]{2}|[\\\"$nrt])", String.Escape),
            (r"\\", String.Double),                    # invalid escapes are compile errors
            (r"\$\{[a-zA-Z_][a-zA-Z0-9_]*\}", String.Interpol),
            (r"\$[a-zA-Z_][a-zA-Z0-9_]*", String.Interpol),
            (r'[^"\\$]+', String.Double),
            (r"\$", String.Double),
        ],
    }

    def get_tokens_unprocessed(self, text, stack=("root",)):
        builtins = builtin_names()
        for index, token, value in super().get_tokens_unprocessed(text, stack):
            if token is Name and value in builtins:
                token = Name.Builtin
            yield index, token, value
