"""The token scanner of `hsl lsp`: the grammar's own lexer (the compiled root lexer of the
parse tables, hsl/syntax/_lalr.py: every terminal, longest spellings first) over a text,
keeping the comments the parser ignores.  Semantic tokens colour these tokens; the
symbol index finds in them the names the AST keeps without a span (a foreach's
variables, a method's name, `global $x`...)."""
from __future__ import annotations

from bisect import bisect_left
from typing import NamedTuple, Optional

from ..syntax import ast as A
from ..syntax.parser import _get_runtime

__all__ = ["Tok", "lex", "Tokens", "tok_span"]


class Tok(NamedTuple):
    type: str          # terminal name ("VARIABLE", "IDENT", "IF", "LINE_COMMENT", ...)
    start: int         # character offsets into the text
    end: int
    line: int          # 1-based, as AST spans
    col: int
    text: str


def _tables():
    return _get_runtime()[0]          # (the parser's loaded tables, shared)


def lex(text: str) -> list:
    """Every token of `text` but whitespace, comments included, in order.  A character
    where no token starts is skipped; an unterminated string or raw string ends the
    list (the rest of the file is not reliable)."""
    if text.startswith("\ufeff"):     # (the parser drops it: columns count without it)
        text = text[1:]
    t = _tables()
    out = []
    for typ, start, end, line, col, _ls in t.scan(text, 0, 1, 0, keep=t.ignore - {"WS"}):
        if typ == "!":
            break                   # an unterminated string: the rest is not reliable
        if typ:                     # ("": a character where no token starts)
            out.append(Tok(typ, start, end, line, col, text[start:end]))
    return out


class Tokens:
    """The tokens of one text with lookups by (line, col)."""

    def __init__(self, text: str):
        self.toks = lex(text)
        self._keys = [(t.line, t.col) for t in self.toks]

    def index_at(self, line: int, col: int) -> int:
        """Index of the first token starting at or after (line, col)."""
        return bisect_left(self._keys, (line, col))

    def within(self, span: A.Span):
        """The tokens inside `span`, in order."""
        toks = self.toks
        i = self.index_at(span.line, span.col)
        end = (span.end_line, span.end_col)
        while i < len(toks) and (toks[i].line, toks[i].col) < end:
            yield toks[i]
            i += 1

    def find(self, span: A.Span, typ: str, text: Optional[str] = None, last: bool = False):
        """The first (or last) token of type `typ` (and spelling `text`) inside `span`."""
        found = None
        for t in self.within(span):
            if t.type == typ and (text is None or t.text == text):
                if not last:
                    return t
                found = t
        return found


def tok_span(t: Tok) -> A.Span:
    """The span of a token that lies on one line (names, `$variables`)."""
    return A.Span(t.line, t.col, t.line, t.col + len(t.text))


class Columns:
    """Character columns of `lines` in the client's units (LSP position encodings:
    "utf-16", the default, "utf-8" or "utf-32"), fast for the usual line where they are
    the same (no character beyond the BMP for UTF-16, ASCII for UTF-8)."""

    def __init__(self, lines: list, encoding=None):
        self.lines = lines
        enc = str(getattr(encoding, "value", encoding) or "utf-16").lower()
        self.encoding = enc if enc in ("utf-8", "utf-16", "utf-32") else "utf-16"
        self._plain: dict = {}

    def client(self, line0: int, col0: int) -> int:
        """The client's column of character column `col0` (0-based) of line `line0`."""
        if self.encoding == "utf-32" or line0 >= len(self.lines):
            return col0
        plain = self._plain.get(line0)
        text = self.lines[line0]
        if plain is None:
            plain = self._plain[line0] = text.isascii() or (
                self.encoding == "utf-16" and all(ord(c) <= 0xFFFF for c in text))
        if plain:
            return col0
        prefix = text[:col0]
        if self.encoding == "utf-8":
            return len(prefix.encode("utf-8", "surrogatepass"))
        return col0 + sum(1 for c in prefix if ord(c) > 0xFFFF)

    def server(self, line0: int, units: int) -> int:
        """The character column (0-based) of the client's column `units` of `line0`."""
        if self.encoding == "utf-32" or line0 >= len(self.lines):
            return units
        text = self.lines[line0]
        if self.client(line0, len(text)) == len(text):
            return min(units, len(text))
        n = 0
        for i, c in enumerate(text):
            if n >= units:
                return i
            n += (len(c.encode("utf-8", "surrogatepass")) if self.encoding == "utf-8"
                  else 2 if ord(c) > 0xFFFF else 1)
        return len(text)
