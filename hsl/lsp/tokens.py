"""Semantic tokens for `hsl lsp` (highlighting in editors without a TextMate grammar).

`semantic_tokens(text, ...)` classifies the tokens of hsl/lsp/lexer.py (the grammar's own
lexer, comments kept) with the parser's AST (which identifier is a function, a class, a
method...): the lexer says what a token is, the tree says what a name means.
"""
from __future__ import annotations

from typing import Optional

from lsprotocol import types as T

from ..syntax import ast as A
from ..syntax.parser import parse_partial
from . import symbols
from .lexer import Columns, Tok, Tokens, lex
from .symbols import HOOK_VARIABLES, builtin_names as _builtin_names

__all__ = ["lex", "LEGEND", "semantic_tokens", "register", "TOKEN_TYPES", "TOKEN_MODIFIERS"]


# ------------------------------------------------------------------ the legend

TOKEN_TYPES = ["keyword", "variable", "parameter", "property", "function", "method",
               "class", "namespace", "string", "number", "regexp", "comment", "operator"]
TOKEN_MODIFIERS = ["declaration", "readonly", "defaultLibrary", "static"]
LEGEND = T.SemanticTokensLegend(token_types=TOKEN_TYPES, token_modifiers=TOKEN_MODIFIERS)
_TYPE = {name: i for i, name in enumerate(TOKEN_TYPES)}
_MOD = {name: 1 << i for i, name in enumerate(TOKEN_MODIFIERS)}

_BY_TERMINAL = {"STRING": "string", "RAWSTRING": "string", "NUMBER": "number",
                "REGEX": "regexp", "LINE_COMMENT": "comment", "BLOCK_COMMENT": "comment"}
# Punctuation that is not an operator (no token: the editor's default colour).
_NOT_OPERATORS = {"COMMA", "SEMICOLON", "LPAR", "RPAR", "LBRACE", "RBRACE", "LSQB", "RSQB",
                  "COLON"}
_WORD_OPERATORS = {"AND", "OR", "NOT"}

def _user_names(program: Optional[A.Program]) -> tuple:
    """(function names, class names) the file declares (at any depth)."""
    funcs, classes = set(), set()
    if program is not None:
        for n in A.walk(program):
            if type(n) is A.FunctionDecl:
                funcs.add(n.name)
            elif type(n) is A.ClassDecl:
                classes.add(n.name)
            elif type(n) is A.ImportSymbols:
                for it in n.items:
                    if not it.is_var:
                        funcs.add(it.alias or it.name)
    return funcs, classes


class _Classifier(A.Visitor):
    """(line, col) of a name token -> (type, modifiers), from the AST."""

    def __init__(self, toks: Tokens, user_funcs: set, user_classes: set, builtin_funcs: set,
                 builtin_classes: set):
        self.toks = toks
        self.out: dict = {}
        self.user_funcs, self.user_classes = user_funcs, user_classes
        self.bfuncs, self.bclasses = builtin_funcs, builtin_classes
        self.namespaces: set = set()

    def put(self, t: Optional[Tok], typ: str, *mods: str) -> None:
        if t is not None:
            self.out[(t.line, t.col)] = (typ, mods)

    def name_kind(self, name: str, builtin: bool) -> tuple:
        if not builtin:
            if name in self.user_funcs:
                return ("function",)
            if name in self.user_classes:
                return ("class",)
        if name in self.bclasses:
            return ("class", "defaultLibrary")
        if name in self.bfuncs:
            return ("function", "defaultLibrary")
        return ("function",)

    def visit_FunctionDecl(self, n):
        t = self.toks.find(n.name_span, "IDENT", n.name) if n.name_span.line else None
        self.put(t, "function", "declaration")
        self.params(n.params)

    def visit_FuncExpr(self, n):
        self.params(n.params)

    def params(self, params) -> None:
        for p in params:
            self.put(self.toks.find(p.span, "VARIABLE", "$" + p.name), "parameter", "declaration")

    def visit_ClassDecl(self, n):
        t = self.toks.find(n.name_span, "IDENT", n.name) if n.name_span.line else None
        self.put(t, "class", "declaration")

    def visit_ClassMethod(self, n):
        fn = self.toks.find(n.span, "FUNCTION")
        if fn is not None:
            i = self.toks.index_at(fn.line, fn.col) + 1
            if i < len(self.toks.toks) and self.toks.toks[i].type == "IDENT":
                mods = ("declaration", "static") if n.static else ("declaration",)
                self.put(self.toks.toks[i], "method", *mods)
        self.params(n.params)

    def visit_Constructor(self, n):
        self.params(n.params)

    def visit_ClassVar(self, n):
        mods = ["declaration"] + (["static"] if n.static else []) + \
            (["readonly"] if n.readonly else [])
        self.put(self.toks.find(n.span, "VARIABLE", "$" + n.name), "property", *mods)

    def visit_ImportAll(self, n):
        self.namespaces.add(n.alias)
        self.put(self.toks.find(n.span, "IDENT", n.alias), "namespace", "declaration")

    def visit_ImportItem(self, n):
        if not n.is_var:
            for t in self.toks.within(n.span):
                if t.type == "IDENT":
                    self.put(t, "function")

    def visit_NameRef(self, n):
        self.put(self.toks.find(n.span, "IDENT", n.name, last=True), *self.name_kind(n.name, n.builtin))

    def visit_CacheCall(self, n):
        if n.scope is None:
            # the function's name is the last IDENT before the argument list's `(`
            self.put(self._name_before_args(n, n.name), *self.name_kind(n.name, n.builtin))

    def _name_before_args(self, n, name):
        found = None
        for t in self.toks.within(n.span):
            if t.type == "IDENT" and t.text == name:
                found = t
            elif t.type == "LPAR" and found is not None:
                return found
        return found

    def visit_Call(self, n):
        c = n.callee
        if type(c) is A.Prop:
            t = self.toks.find(A.Span(c.span.line, c.span.col, c.span.end_line, c.span.end_col),
                               "IDENT", c.name, last=True)
            self.put(t, "method")

    def visit_Prop(self, n):
        t = self.toks.find(n.span, "IDENT", n.name, last=True)
        if t is not None and (t.line, t.col) not in self.out:   # (a call made it a method)
            self.put(t, "property")

    def visit_Static(self, n):
        first = self.toks.find(n.span, "IDENT" if n.scope != "static" else "STATIC")
        if n.scope != "static":
            if n.scope in self.namespaces:
                self.put(first, "namespace")
            elif n.scope in self.bclasses and n.scope not in self.user_classes:
                self.put(first, "class", "defaultLibrary")
            else:
                self.put(first, "class")
        if n.is_var:
            self.put(self.toks.find(n.span, "VARIABLE", "$" + n.member, last=True),
                     "property", "static")
        else:
            self.put(self.toks.find(n.span, "IDENT", n.member, last=True), "method", "static")


def _classify(text: str, toks: Tokens, program: Optional[A.Program], extra_funcs=(),
              extra_classes=()) -> dict:
    funcs, classes = _user_names(program)
    funcs |= set(extra_funcs)
    classes |= set(extra_classes)
    bf, bc = _builtin_names()
    c = _Classifier(toks, funcs, classes, bf, bc)
    if program is not None:
        c.visit(program)        # (a Call is visited before its callee Prop: see visit_Prop)
    return c.out


def _interp_vars(program: Optional[A.Program]) -> list:
    """Spans of the `$variables` inside interpolated strings (they split a string token)."""
    out = []
    if program is not None:
        for n in A.walk(program):
            if type(n) is A.Interp:
                out.extend(p.span for p in n.parts if type(p) is A.Var)
    return out


def semantic_tokens(text: str, program: Optional[A.Program] = None, *, toks=None,
                    extra_funcs=(), extra_classes=(), line_range=None,
                    encode=None, hook_at=None) -> list:
    """The LSP semantic-token data (five integers per token, relative positions) of
    `text`, whose AST is `program` (parsed here, with recovery, when None) and whose
    Tokens are `toks` (lexed here when None).
    `line_range`: (first, last) 0-based lines to cover (a range request); `encode(line,
    col0, text)` converts a column to the client's units (default: UTF-16).  `hook_at`:
    the (line, col) of the variables that are the hook's (the symbol index knows: a
    function's own `$arguments` is not); by default every variable of such a name."""
    if program is None:
        program, _ = parse_partial(text)
    if text.startswith("\ufeff"):
        text = text[1:]
    if toks is None:
        toks = Tokens(text)
    names = _classify(text, toks, program, extra_funcs, extra_classes)
    inside_strings = _interp_vars(program)
    lines = text.split("\n")
    if encode is None:
        encode = Columns(lines).client
    pieces = []          # (line0, col0, length in chars, type, mods)

    def add(line0, col0, length, typ, mods=()):
        if length > 0:
            pieces.append((line0, col0, length, _TYPE[typ], sum(_MOD[m] for m in mods)))

    def add_multiline(t: Tok, typ: str):
        parts = t.text.split("\n")
        for k, part in enumerate(parts):
            add(t.line - 1 + k, t.col - 1 if k == 0 else 0, len(part.rstrip("\r")), typ)

    for t in toks.toks:
        kind = _BY_TERMINAL.get(t.type)
        if kind == "string" and t.type == "STRING" and inside_strings and "$" in t.text:
            _string_with_vars(t, inside_strings, add, add_multiline)
            continue
        if kind is not None:
            add_multiline(t, kind)
            continue
        if t.type == "VARIABLE":
            got = names.get((t.line, t.col))
            if got is not None:
                add(t.line - 1, t.col - 1, len(t.text), got[0], got[1])
            else:
                hook = (t.line, t.col) in hook_at if hook_at is not None \
                    else t.text[1:] in HOOK_VARIABLES
                add(t.line - 1, t.col - 1, len(t.text), "variable",
                    ("readonly", "defaultLibrary") if hook else ())
        elif t.type == "IDENT":
            got = names.get((t.line, t.col))
            if got is not None:
                add(t.line - 1, t.col - 1, len(t.text), got[0], got[1])
        elif t.type in _WORD_OPERATORS:
            add(t.line - 1, t.col - 1, len(t.text), "operator")
        elif t.text.isidentifier():
            add(t.line - 1, t.col - 1, len(t.text), "keyword")
        elif t.type not in _NOT_OPERATORS:
            add(t.line - 1, t.col - 1, len(t.text), "operator")
    pieces.sort()
    data: list = []
    pl, pc = 0, 0
    for line0, col0, length, typ, mods in pieces:
        if line_range is not None and not (line_range[0] <= line0 <= line_range[1]):
            continue
        c = encode(line0, col0)
        length = encode(line0, col0 + length) - c
        data += [line0 - pl, c - pc if line0 == pl else c, length, typ, mods]
        pl, pc = line0, c
    return data


def _string_with_vars(t: Tok, var_spans: list, add, add_multiline) -> None:
    """A double-quoted string token split around the variables interpolated in it."""
    inside = [s for s in var_spans
              if (t.line, t.col) <= (s.line, s.col) and s.end_line == s.line
              and (s.line, s.col) < (t.line + t.text.count("\n"), 10 ** 9)]
    if not inside:
        add_multiline(t, "string")
        return
    # walk the token's characters, emitting string runs between the variables
    line0, col0 = t.line - 1, t.col - 1
    run_start = (line0, col0)
    run_len = 0
    marks = {(s.line - 1, s.col - 1): s.end_col - s.col for s in inside}
    i = 0
    text = t.text
    while i < len(text):
        width = marks.get((line0, col0))
        if width:
            add(run_start[0], run_start[1], run_len, "string")
            add(line0, col0, width, "variable")
            i += width
            col0 += width
            run_start, run_len = (line0, col0), 0
            continue
        if text[i] == "\n":
            add(run_start[0], run_start[1], run_len, "string")
            line0, col0 = line0 + 1, 0
            run_start, run_len = (line0, 0), 0
            i += 1
            continue
        run_len += 1
        col0 += 1
        i += 1
    add(run_start[0], run_start[1], run_len, "string")


# ------------------------------------------------------------------ the server side

def _for_document(ws, doc, line_range=None) -> T.SemanticTokens:
    """The tokens of an open document, from the symbol index's parse of it (one parse
    serves every feature) with the user names of the files it includes or imports."""
    fi = symbols.index_for(ws).for_document(doc)
    funcs, classes = symbols.visible_user_names(ws, doc)
    key = ("semantic tokens", frozenset(funcs), frozenset(classes),
           getattr(ws, "position_encoding", None))
    data = fi.results.get(key)
    if data is None:            # (kept: the same text gives the same tokens)
        hook_at = {(o.span.line, o.span.col) for o in fi.occs if o.kind == "var"
                   and o.key[:1] == ("hook",)}
        data = fi.results[key] = semantic_tokens(
            fi.text, fi.program, toks=fi.toks, extra_funcs=funcs, extra_classes=classes,
            encode=symbols.columns(fi, ws).client,
            hook_at=hook_at if fi.program is not None else None)
    if line_range is not None:
        data = _lines_only(data, line_range)
    return T.SemanticTokens(data=data)


def _lines_only(data: list, line_range: tuple) -> list:
    """The tokens of `data` on lines line_range[0]..line_range[1], re-encoded (the first
    token's position relative to the start of the document)."""
    out: list = []
    line = col = 0
    prev_line = prev_col = None
    first, last = line_range
    for i in range(0, len(data), 5):
        dl, dc = data[i], data[i + 1]
        line, col = (line + dl, dc) if dl else (line, col + dc)
        if line < first:
            continue
        if line > last:
            break
        if prev_line is None:
            out += [line, col]
        elif line == prev_line:
            out += [0, col - prev_col]
        else:
            out += [line - prev_line, col]
        out += data[i + 2:i + 5]
        prev_line, prev_col = line, col
    return out


def full(ws, doc, params: T.SemanticTokensParams) -> T.SemanticTokens:
    return _for_document(ws, doc)


def in_range(ws, doc, params: T.SemanticTokensRangeParams) -> T.SemanticTokens:
    return _for_document(ws, doc, (params.range.start.line, params.range.end.line))


def register(server) -> None:
    @server.feature(T.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, LEGEND)
    def _full(ls, params: T.SemanticTokensParams):
        return full(ls.workspace, ls.workspace.get_text_document(params.text_document.uri),
                    params)

    @server.feature(T.TEXT_DOCUMENT_SEMANTIC_TOKENS_RANGE, LEGEND)
    def _range(ls, params: T.SemanticTokensRangeParams):
        return in_range(ls.workspace, ls.workspace.get_text_document(params.text_document.uri),
                        params)
