"""The HSL parser: source text -> hsl.syntax.ast.Program.

The grammar is grammar/hsl.lark (LALR(1), contextual lexer).  Lark derives the parse tables
from it; hsl/syntax/_lalr.py caches them (in the user's cache directory) and parses with them
without importing Lark at run time.  Grammar reductions call an embedded transformer
(`_Builder`), so no parse tree is ever built: every reduction directly creates the AST node,
with its span computed from the tokens and child nodes (1-based line/column, end exclusive).

Entry point: `parse(source, filename="<string>") -> ast.Program`, raising
`hsl.errors.HSLSyntaxError` (every message contains "syntax error").  `parse` may be called
from several threads at once: a parse shares no mutable state with another.

Limits.  The parser itself never recurses (the LALR driver and the builder are iterative;
binary operator chains are grouped by an explicit stack and `.` chains are flattened into
one Concat), so input size and depth are bounded only by memory.  To protect the recursive
passes downstream (compiler, printers), bracket nesting (`(`, `[`, `{` combined, outside
strings and comments) deeper than MAX_BRACKET_NESTING (1000) is rejected with a clean
HSLSyntaxError ("nested too deeply").  Note that long chains of other operators
(`1 + 1 + ...`, `- - - x`, `a ? b : c ? ...`, `$a = $b = ...`) parse fine but give trees as
deep as the chain is long; only `.` chains are flattened (into one ast.Concat).

Errors.  Messages name tokens in words ("unexpected keyword 'echo', expected ';' after
expression"; "unexpected end of file, missing '}' to close the block opened at 3:10").
Several independent errors are reported in one pass (at most MAX_ERRORS):
* an error found by the builder (an invalid number, assignment target, name, ...) does not
  disturb the parse: the construct is replaced by a placeholder and parsing goes on;
* after a syntax error the parser abandons the statement, skips to the next reliable
  statement boundary (a `;` or `}` at the statement's bracket depth, or a top-level
  declaration at the start of a line) and goes on there (hsl/syntax/_lalr_recover.py);
  an error within the first few tokens after that point is taken for a consequence of the
  first one and not reported;
* lexical errors that leave the rest of the file unreliable (an unterminated string or
  comment) and end-of-file errors end the list.
"""
from __future__ import annotations

import os
import re
import threading
from itertools import accumulate
from typing import Optional

from . import ast as A
from ._lalr import (Parser, Token, UnexpectedCharacters, UnexpectedInput, UnexpectedToken,
                    load_tables)
from ..errors import Diagnostic, HSLSyntaxError, Related

__all__ = ["parse", "decode_string_literal", "MAX_BRACKET_NESTING", "KEYWORDS", "RESERVED_WORDS"]

#: Maximum bracket nesting depth accepted by `parse` (spec requires at least 500).
MAX_BRACKET_NESTING = 1000

#: Maximum number of syntax errors reported for one file.
MAX_ERRORS = 10

KEYWORDS = frozenset("""
and array as barrier break builtin cache case catch class closure constructor
continue default echo else false for foreach forever from function global if
import include include_once isset match none not object or private readonly
return static switch throw true try unset while with yield
""".split())

RESERVED_WORDS = frozenset("""
this self public protected struct clone final const goto namespace new
interface in extends print trait assert finally lambda pass destroy export use
""".split())

Span = A.Span


class _Fail(Exception):
    """An error found while building the AST (raised from grammar callbacks); `code` is its
    diagnostic code (hsl/check/codes.py)."""

    def __init__(self, message: str, line: int, col: int, end_line: int = 0, end_col: int = 0,
                 recoverable: bool = True, code: str = "HSL001"):
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col
        self.end_line = end_line
        self.end_col = end_col
        self.recoverable = recoverable
        self.code = code


def _fail_at(message: str, x, recoverable: bool = True, code: str = "HSL001") -> _Fail:
    if type(x) is Token:
        return _Fail(message, x.line, x.column, x.end_line, x.end_column, recoverable, code)
    s = x.span
    return _Fail(message, s.line, s.col, s.end_line, s.end_col, recoverable, code)


# ------------------------------------------------------------------ span helpers

def _tspan(t: Token) -> Span:
    return Span(t.line, t.column, t.end_line, t.end_column)


def _tt(a: Token, b: Token) -> Span:
    return Span(a.line, a.column, b.end_line, b.end_column)


def _tn(a: Token, n) -> Span:
    s = n.span
    return Span(a.line, a.column, s.end_line, s.end_col)


def _nt(n, b: Token) -> Span:
    s = n.span
    return Span(s.line, s.col, b.end_line, b.end_column)


def _nn(a, b) -> Span:
    s = a.span
    e = b.span
    return Span(s.line, s.col, e.end_line, e.end_col)


def _any(a, b) -> Span:
    if type(a) is Token:
        l, c = a.line, a.column
    else:
        s = a.span
        l, c = s.line, s.col
    if type(b) is Token:
        return Span(l, c, b.end_line, b.end_column)
    e = b.span
    return Span(l, c, e.end_line, e.end_col)


def _advance(line: int, col: int, text: str) -> tuple[int, int]:
    """The position after `text` when it starts at (line, col)."""
    n = text.count("\n")
    if n:
        return line + n, len(text) - text.rfind("\n")
    return line, col + len(text)


# ------------------------------------------------------------------ literals

_ESCAPES = {"\\": b"\\", '"': b'"', "$": b"$", "n": b"\n", "r": b"\r", "t": b"\t"}
_STR_PIECE = re.compile(
    r"\\(?:x([0-9a-fA-F]{2})|([\\\"$nrt]))"          # valid escapes
    r"|(\\)"                                          # invalid escape
    r"|\$(?:\{([a-zA-Z_][a-zA-Z0-9_]*)\}|([a-zA-Z_][a-zA-Z0-9_]*))"  # interpolation
)


def _enc(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def decode_string_literal(tok: Token):
    """Decode a double-quoted string token into ast.String or ast.Interp.

    Raises _Fail for an invalid escape (at the escape's exact position)."""
    text = str(tok)
    span = _tspan(tok)
    inner = text[1:-1]
    if "\\" not in inner and "$" not in inner:
        return A.String(span, _enc(inner))
    parts: list = []
    buf = bytearray()
    pos = 0
    for m in _STR_PIECE.finditer(inner):
        start = m.start()
        if start > pos:
            buf += _enc(inner[pos:start])
        pos = m.end()
        hexd, esc, bad, bname, name = m.groups()
        if hexd is not None:
            buf.append(int(hexd, 16))
        elif esc is not None:
            buf += _ESCAPES[esc]
        elif bad is not None:
            line, col = _advance(tok.line, tok.column + 1, inner[:start])
            nxt = inner[start + 1:start + 2]
            if nxt == "x":
                what = "'\\x' must be followed by two hexadecimal digits"
            elif nxt in ("", "\n", "\r"):
                what = "'\\' at end of line"
            else:
                what = "'\\%s'" % nxt
            raise _Fail("syntax error: invalid escape sequence %s in string "
                        "(valid escapes: \\\\ \\\" \\$ \\n \\r \\t \\xhh)" % what,
                        line, col, line, col + 2, code="HSL004")
        else:
            vname = bname if bname is not None else name
            if buf:
                parts.append(bytes(buf))
                buf = bytearray()
            line, col = _advance(tok.line, tok.column + 1, inner[:start])
            parts.append(A.Var(Span(line, col, line, col + (pos - start)), vname))
    if pos < len(inner):
        buf += _enc(inner[pos:])
    if not any(type(p) is A.Var for p in parts):
        return A.String(span, bytes(buf))
    if buf:
        parts.append(bytes(buf))
    return A.Interp(span, parts)


def _raw_value(tok: Token) -> bytes:
    text = str(tok)
    j = text.index("'", 1)
    delim_len = j - 1
    return _enc(text[j + 1:len(text) - delim_len - 2])


_DEC_RE = re.compile(r"[0-9]+(?:_[0-9]+)*(?:\.[0-9]+(?:_[0-9]+)*)?\Z")
_PREFIXED = {
    "x": (re.compile(r"[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*\Z"), 16),
    "o": (re.compile(r"[0-7]+(?:_[0-7]+)*\Z"), 8),
    "b": (re.compile(r"[01]+(?:_[01]+)*\Z"), 2),
}


def _number_value(tok: Token) -> float:
    value = _literal_value(tok)
    if value == _INF:       # not a double: HSL has no infinite literal
        s = str(tok)
        shown = s if len(s) <= 24 else s[:20] + "..."
        raise _fail_at("syntax error: number literal '%s' is too large (the largest "
                       "number is about 1.8e308)" % shown, tok)
    return value


_INF = float("inf")


def _literal_value(tok: Token) -> float:
    s = str(tok)
    if s.isdigit():
        return float(s)
    if len(s) > 2 and s[0] == "0" and s[1] in _PREFIXED:
        rx, base = _PREFIXED[s[1]]
        if rx.match(s, 2):
            try:
                return float(int(s[2:].replace("_", ""), base))
            except OverflowError:
                return _INF
    elif _DEC_RE.match(s):
        return float(s.replace("_", ""))
    hint = ""
    if re.match(r"[0-9_.]+[eE][-+]?[0-9]", s):
        hint = " (there is no exponent syntax)"
    elif s[:2] in ("0X", "0O", "0B"):
        hint = " (number prefixes are lowercase: 0x, 0o, 0b)"
    elif "__" in s or s.endswith("_") or "_." in s or "._" in s or s[:3] in ("0x_", "0o_", "0b_"):
        hint = " (a single '_' may only appear between two digits)"
    elif s.count(".") > 1:
        hint = " (more than one decimal point)"
    raise _fail_at("syntax error: invalid number literal '%s'%s" % (s, hint), tok)


_REGEX_FLAGS = frozenset("imusxUX")


# ------------------------------------------------------------------ operators

_PREC = {
    "*": 10, "/": 10, "%": 10,
    "+": 9, "-": 9,
    "<<": 8, ">>": 8, ">>>": 8,
    ".": 7,
    "<": 6, "<=": 6, ">": 6, ">=": 6,
    "==": 5, "!=": 5, "===": 5, "!==": 5, "=~": 5, "!~": 5,
    "&": 4, "^": 3, "|": 2,
    "and": 1, "or": 0,
    "??": -1,                      # right-associative
}
_OPSTR = {k: k for k in _PREC}


def _make_binary(op: str, left, right):
    ls = left.span
    rs = right.span
    span = Span(ls.line, ls.col, rs.end_line, rs.end_col)
    if op == ".":
        if type(left) is A.Concat:          # only chains built here are bare Concats
            left.parts.append(right)
            left.span = span
            return left
        return A.Concat(span, [left, right])
    if op == "and" or op == "or":
        return A.Logical(span, op, left, right)
    if op == "??":
        return A.Coalesce(span, left, right)
    return A.Binary(span, op, left, right)


def _climb(items: list):
    """Group a flat [operand, op, operand, op, ...] chain by precedence."""
    if len(items) == 3:
        return _make_binary(_OPSTR[items[1]], items[0], items[2])
    prec = _PREC
    operands = [items[0]]
    ops: list = []
    n = len(items)
    i = 1
    while i < n:
        op = _OPSTR[items[i]]
        p = prec[op]
        while ops:
            tp = prec[ops[-1]]
            if tp > p or (tp == p and p != -1):
                r = operands.pop()
                operands[-1] = _make_binary(ops.pop(), operands[-1], r)
            else:
                break
        ops.append(op)
        operands.append(items[i + 1])
        i += 2
    while ops:
        r = operands.pop()
        operands[-1] = _make_binary(ops.pop(), operands[-1], r)
    return operands[0]


# ------------------------------------------------------------------ lvalues

def _lvalue_problem(node, kind: str) -> Optional[str]:
    """None if `node` is a valid target for `kind` ("assign", "incdec", "isset", "unset")."""
    t = type(node)
    if t is A.Var or t is A.Prop:
        return None
    if t is A.Index:
        if node.index is None and kind != "assign":
            return "'[]' (append) can only be used as an assignment target"
        return None
    if t is A.Slice:
        if kind in ("assign", "unset"):
            return None
        return "a slice cannot be used here"
    if t is A.Static:
        if node.is_var:
            return None
        return "'%s::%s' is not a variable" % (node.scope, node.member)
    if t is A.Paren:
        return "a parenthesised expression is not assignable"
    if t is A.Call:
        return "a function call is not assignable"
    return "this expression is not assignable"


class _Label:
    __slots__ = ("span", "test")

    def __init__(self, span, test):
        self.span = span
        self.test = test


# ------------------------------------------------------------------ the builder

class _Builder:
    """Grammar callbacks (the embedded Lark transformer).

    Each method receives the list of children of one reduction (tokens and
    already-built nodes) and returns the node for it."""

    def __init__(self):
        self.reset("", "<string>")

    def reset(self, source: str, filename: str):
        self.source = source
        self.filename = filename
        self.appends: list = []          # Index(index=None) nodes created
        self.appends_ok: set = set()     # ids of those used as assignment targets

    # -- lexer callbacks (methods named after terminals) --

    @staticmethod
    def block_comment(tok):
        if len(tok) < 4 or not tok.endswith("*/"):
            raise _Fail("syntax error: unterminated comment ('/*' without '*/')",
                        tok.line, tok.column, tok.line, tok.column + 2, recoverable=False,
                        code="HSL004")
        return tok

    # -- lists --

    def list1(self, c):
        return [c[0]]

    def list_add(self, c):
        lst = c[0]
        lst.append(c[1])
        return lst

    def list_add_sep(self, c):
        lst = c[0]
        lst.append(c[2])
        return lst

    # -- program and statements --

    def _end_pos(self):
        src = self.source
        n = src.count("\n")
        return n + 1, len(src) - src.rfind("\n")

    def program(self, c):
        el, ec = self._end_pos()
        return A.Program(Span(1, 1, el, ec), c[0], self.filename)

    def program_empty(self, c):
        el, ec = self._end_pos()
        return A.Program(Span(1, 1, el, ec), [], self.filename)

    def stmt_semi(self, c):
        node = c[0]
        s = node.span
        semi = c[1]
        node.span = Span(s.line, s.col, semi.end_line, semi.end_column)
        return node

    def empty_stmt(self, c):
        return A.Empty(_tspan(c[0]))

    def block(self, c):
        return A.Block(_tt(c[0], c[-1]), c[1] if len(c) == 3 else [])

    def block_last(self, c):
        if len(c) == 4:
            body = c[1]
            body.append(c[2])
        else:
            body = [c[1]]
        return A.Block(_tt(c[0], c[-1]), body)

    def if_stmt(self, c):
        if len(c) == 7:
            return A.If(_tn(c[0], c[6]), c[2], c[4], c[6])
        return A.If(_tn(c[0], c[4]), c[2], c[4], None)

    def for_stmt(self, c):
        slots = [None, None, None]
        k = 0
        for x in c[2:-2]:
            if type(x) is Token:
                k += 1
            else:
                slots[k] = x
        body = c[-1]
        return A.For(_tn(c[0], body), slots[0], slots[1], slots[2], body)

    def foreach_stmt(self, c):
        body = c[-1]
        if len(c) == 9:
            return A.Foreach(_tn(c[0], body), c[2], c[4][1:], c[6][1:], body)
        return A.Foreach(_tn(c[0], body), c[2], None, c[4][1:], body)

    def while_stmt(self, c):
        return A.While(_tn(c[0], c[4]), c[2], c[4])

    def forever_stmt(self, c):
        return A.Forever(_tn(c[0], c[1]), c[1])

    def case_label(self, c):
        return _Label(_tt(c[0], c[2]), c[1])

    def default_label(self, c):
        return _Label(_tt(c[0], c[1]), None)

    def switch_stmt(self, c):
        items = []
        for x in c[5:-1]:
            if type(x) is list:
                items.extend(x)
            else:
                items.append(x)
        cases: list = []
        unreachable: list = []
        seen_default = None
        for it in items:
            if type(it) is _Label:
                if it.test is None:
                    if seen_default is not None:
                        s = it.span
                        raise _Fail("syntax error: more than one 'default' label in switch "
                                    "(the first is at %s)" % seen_default, s.line, s.col,
                                    s.end_line, s.end_col, code="HSL501")
                    seen_default = it.span
                cases.append(A.SwitchCase(it.span, it.test, []))
            else:
                if not cases:
                    unreachable.append(it)       # spec 6.9: allowed, never runs
                    continue
                case = cases[-1]
                case.body.append(it)
                case.span = _nn(case, it)
        return A.Switch(_tt(c[0], c[-1]), c[2], cases, unreachable)

    def try_stmt(self, c):
        return A.Try(_tn(c[0], c[6]), c[1].body, c[4][1:], c[6].body)

    def barrier_stmt(self, c):
        body = c[-1]
        var = c[3][1:] if len(c) == 5 else None
        return A.Barrier(_tn(c[0], body), c[1], var, body.body)

    def _check_name(self, tok, what: str):
        name = str(tok)
        if name in KEYWORDS:
            raise _fail_at("syntax error: unexpected keyword '%s' (a keyword cannot be "
                           "used as %s name)" % (name, what), tok)
        if name in RESERVED_WORDS:
            raise _fail_at("syntax error: '%s' is a reserved word and cannot be used as "
                           "%s name" % (name, what), tok)
        return name

    def _check_params(self, params):
        seen_default = None
        n = len(params)
        for i, p in enumerate(params):
            if p.variadic:
                if i != n - 1:
                    raise _fail_at("syntax error: the variadic parameter '...$%s' must be "
                                   "the last parameter" % p.name, p)
            elif p.default is not None:
                seen_default = p
            elif seen_default is not None:
                raise _fail_at("syntax error: parameter '$%s' without a default value "
                               "follows a parameter with a default value" % p.name, p)
        return params

    def func_decl(self, c):
        name_tok = c[1]
        name = self._check_name(name_tok, "a function")
        params = self._check_params(c[3]) if len(c) == 6 else []
        body = c[-1]
        return A.FunctionDecl(_tn(c[0], body), name, params, body.body, _tspan(name_tok))

    def param(self, c):
        if len(c) == 1:
            t = c[0]
            return A.Param(_tspan(t), t[1:])
        if len(c) == 2:
            t = c[1]
            return A.Param(_tt(c[0], t), t[1:], None, True)
        return A.Param(_tn(c[0], c[2]), c[0][1:], c[2])

    def class_decl(self, c):
        name_tok = c[1]
        name = self._check_name(name_tok, "a class")
        members = c[3] if len(c) == 5 else []
        ctor = None
        for m in members:
            if type(m) is A.Constructor:
                if ctor is not None:
                    raise _fail_at("syntax error: class '%s' has more than one constructor"
                                   % name, m, code="HSL501")
                ctor = m
        return A.ClassDecl(_tt(c[0], c[-1]), name, members, _tspan(name_tok))

    def _modifiers(self, toks, allow_readonly: bool):
        flags = {"private": False, "static": False, "readonly": False}
        for t in toks:
            v = str(t)
            if flags[v]:
                raise _fail_at("syntax error: duplicate modifier '%s'" % v, t)
            if v == "readonly" and not allow_readonly:
                raise _fail_at("syntax error: 'readonly' cannot be applied to a function", t)
            flags[v] = True
        return flags

    def m_ctor(self, c):
        params = self._check_params(c[2]) if len(c) == 5 else []
        body = c[-1]
        return A.Constructor(_tn(c[0], body), params, body.body)

    def m_func(self, c):
        i = 0
        while c[i].type != "FUNCTION":
            i += 1
        flags = self._modifiers(c[:i], False)
        name_tok = c[i + 1]
        name = self._check_name(name_tok, "a method")
        rest = c[i + 3:-1]
        params = self._check_params(rest[0]) if rest and type(rest[0]) is list else []
        body = c[-1]
        return A.ClassMethod(_tn(c[0], body), name, params, body.body,
                             flags["private"], flags["static"])

    def m_var(self, c):
        i = 0
        while c[i].type != "VARIABLE":
            i += 1
        flags = self._modifiers(c[:i], True)
        default = c[i + 2] if len(c) - i == 4 else None
        return A.ClassVar(_tt(c[0], c[-1]), c[i][1:], default,
                          flags["private"], flags["static"], flags["readonly"])

    def _const_path(self, tok) -> bytes:
        if tok.type == "RAWSTRING":
            return _raw_value(tok)
        node = decode_string_literal(tok)
        if type(node) is not A.String:
            raise _fail_at("syntax error: the path must be a constant string "
                           "(no interpolation)", tok)
        return node.value

    def import_item(self, c):
        first = c[0]
        is_var = first.type == "VARIABLE"
        if is_var:
            name = first[1:]
            alias = c[2][1:] if len(c) == 3 else None
        else:
            name = self._check_name(first, "an imported")
            alias = self._check_name(c[2], "an imported") if len(c) == 3 else None
        return A.ImportItem(_tt(first, c[-1]), name, alias, is_var)

    def import_symbols(self, c):
        return A.ImportSymbols(_tt(c[0], c[-1]), c[2], self._const_path(c[-2]))

    def import_all(self, c):
        alias = self._check_name(c[3], "a namespace")
        return A.ImportAll(_tt(c[0], c[-1]), alias, self._const_path(c[5]))

    def import_data(self, c):
        options = c[5] if len(c) == 7 else None
        return A.ImportData(_tt(c[0], c[-1]), c[1][1:], self._const_path(c[3]), options)

    # simple statements (span extended to the ';' by stmt_semi)

    def s_expr(self, c):
        e = c[0]
        return A.ExprStmt(e.span, e)

    def s_echo(self, c):
        return A.Echo(_tn(c[0], c[1]), c[1])

    def s_break(self, c):
        return A.Break(_tspan(c[0]))

    def s_continue(self, c):
        return A.Continue(_tspan(c[0]))

    def s_return(self, c):
        if len(c) == 2:
            return A.Return(_tn(c[0], c[1]), c[1])
        return A.Return(_tspan(c[0]), None)

    def s_global(self, c):
        names = c[1]
        return A.Global(_tt(c[0], names[-1]), [t[1:] for t in names])

    def s_throw(self, c):
        return A.Throw(_tn(c[0], c[1]), c[1])

    def s_include(self, c):
        return A.Include(_tt(c[0], c[1]), self._const_path(c[1]), c[0] == "include_once")

    # -- expressions --

    def ternary(self, c):
        test = c[0]
        if type(test) is list:
            test = _climb(test)
        if len(c) == 5:
            return A.Cond(_nn(test, c[4]), test, c[2], c[4])
        return A.Cond(_nn(test, c[3]), test, None, c[3])

    def chain_start(self, c):
        return c

    def chain_add(self, c):
        lst = c[0]
        lst.append(c[1])
        lst.append(c[2])
        return lst

    def binfinal(self, c):
        return _climb(c[0])

    def unop(self, c):
        op = c[0]
        o = str(op)
        if o == "not":
            o = "!"
        return A.Unary(_tn(op, c[1]), o, c[1])

    def preinc(self, c):
        target = c[1]
        problem = _lvalue_problem(target, "incdec")
        if problem:
            raise _fail_at("syntax error: invalid operand of '%s': %s" % (c[0], problem), target)
        return A.IncDec(_tn(c[0], target), str(c[0]), target, True)

    def postinc(self, c):
        target = c[0]
        problem = _lvalue_problem(target, "incdec")
        if problem:
            raise _fail_at("syntax error: invalid operand of '%s': %s" % (c[1], problem), target)
        return A.IncDec(_nt(target, c[1]), str(c[1]), target, False)

    def assign(self, c):
        target, op, value = c
        op = str(op)
        span = _nn(target, value)
        if type(target) is A.ArrayLit:
            if op != "=":
                raise _fail_at("syntax error: a destructuring pattern can only be used "
                               "with '='", target)
            return self._destructure(target, value, span)
        problem = _lvalue_problem(target, "assign")
        if problem:
            raise _fail_at("syntax error: invalid assignment target: %s" % problem, target)
        if self.appends and op == "=":
            t = target
            while True:
                tt = type(t)
                if tt is A.Index:
                    if t.index is None:
                        self.appends_ok.add(id(t))
                elif tt is not A.Slice and tt is not A.Prop:
                    break
                t = t.target
        return A.Assign(span, op, target, value)

    def _destructure(self, pat: A.ArrayLit, value, span):
        items = pat.items
        if not items:
            raise _fail_at("syntax error: empty destructuring pattern", pat)
        keyed = items[0].key is not None
        targets = []
        rest = None
        n = len(items)
        for i, it in enumerate(items):
            v = it.value
            if (it.key is not None) != keyed:
                raise _fail_at("syntax error: keyed and positional targets cannot be mixed "
                               "in a destructuring pattern", it)
            if type(v) is A.Spread:
                if keyed:
                    raise _fail_at("syntax error: '...' cannot be used in a keyed "
                                   "destructuring pattern", it)
                if i != n - 1:
                    raise _fail_at("syntax error: '...$rest' must be the last element of "
                                   "a destructuring pattern", it)
                if type(v.value) is not A.Var:
                    raise _fail_at("syntax error: '...' in a destructuring pattern must be "
                                   "followed by a variable", v.value)
                rest = v.value.name
                continue
            default = None
            if type(v) is A.Assign and v.op == "=" and type(v.target) is A.Var:
                default = v.value
                v = v.target
            if type(v) is not A.Var:
                if type(v) is A.ArrayLit:
                    msg = "nested destructuring patterns are not supported"
                else:
                    msg = "a destructuring target must be a variable"
                raise _fail_at("syntax error: " + msg, v)
            targets.append(A.PatternTarget(it.span, it.key, v.name, default))
        return A.Destructure(span, targets, keyed, rest, value)

    def power(self, c):
        return A.Binary(_nn(c[0], c[2]), "**", c[0], c[2])

    def power_postinc(self, c):
        left = self.postinc(c[:2])
        return A.Binary(_nn(left, c[3]), "**", left, c[3])

    def call(self, c):
        args = c[2] if type(c[2]) is list else []
        return A.Call(_nt(c[0], c[-1]), c[0], args)

    def index(self, c):
        return A.Index(_nt(c[0], c[3]), c[0], c[2])

    def append_index(self, c):
        node = A.Index(_nt(c[0], c[2]), c[0], None)
        self.appends.append(node)
        return node

    def slice(self, c):
        slots = [None, None, None]
        k = 0
        for x in c[2:-1]:
            if type(x) is Token:
                k += 1
            else:
                slots[k] = x
        return A.Slice(_nt(c[0], c[-1]), c[0], slots[0], slots[1], slots[2])

    def prop(self, c):
        return A.Prop(_nt(c[0], c[2]), c[0], str(c[2]))

    def spread(self, c):
        return A.Spread(_tn(c[0], c[1]), c[1])

    def var(self, c):
        t = c[0]
        return A.Var(Span(t.line, t.column, t.end_line, t.end_column), t[1:])

    def number(self, c):
        t = c[0]
        return A.Number(Span(t.line, t.column, t.end_line, t.end_column), _number_value(t))

    def string(self, c):
        return decode_string_literal(c[0])

    def rawstring(self, c):
        t = c[0]
        return A.String(_tspan(t), _raw_value(t))

    def regex(self, c):
        t = c[0]
        text = str(t)
        k = text.rfind("/")
        flags = text[k + 1:]
        for i, f in enumerate(flags):
            if f not in _REGEX_FLAGS:
                col = t.column + k + 1 + i
                raise _Fail("syntax error: unknown regex flag '%s' (valid flags: imusxUX)" % f,
                            t.line, col, t.line, col + 1)
        return A.Regex(_tspan(t), _enc(text[2:k]), flags)

    def true(self, c):
        return A.Bool(_tspan(c[0]), True)

    def false(self, c):
        return A.Bool(_tspan(c[0]), False)

    def none(self, c):
        return A.NoneLit(_tspan(c[0]))

    def paren(self, c):
        return A.Paren(_tt(c[0], c[2]), c[1])

    def func_expr(self, c):
        params = []
        captures = []
        i = 2
        if type(c[2]) is list:
            params = self._check_params(c[2])
            i = 3
        # c[i] is ')'
        if len(c) > i + 2:
            captures = [t[1:] for t in c[i + 3]]
        body = c[-1]
        return A.FuncExpr(_tn(c[0], body), params, captures, body.body)

    def arm(self, c):
        return A.MatchArm(_nn(c[0][0], c[2]), c[0], c[2])

    def arm_default(self, c):
        return A.MatchArm(_tn(c[0], c[2]), None, c[2])

    def match_expr(self, c):
        arms = c[5]
        seen = None
        for a in arms:
            if a.conditions is None:
                if seen is not None:
                    raise _fail_at("syntax error: more than one 'default' arm in match "
                                   "(the first is at %s)" % seen.span, a, code="HSL501")
                seen = a
        return A.Match(_tt(c[0], c[-1]), c[2], arms)

    def isset(self, c):
        problem = _lvalue_problem(c[2], "isset")
        if problem:
            raise _fail_at("syntax error: isset() needs a variable, subscript or property: "
                           + problem, c[2])
        return A.Isset(_tt(c[0], c[3]), c[2])

    def unset(self, c):
        problem = _lvalue_problem(c[2], "unset")
        if problem:
            raise _fail_at("syntax error: unset() needs a variable, subscript, slice or "
                           "property: " + problem, c[2])
        return A.Unset(_tt(c[0], c[3]), c[2])

    def cache_target(self, c):
        if len(c) == 1:
            return (None, self._check_name(c[0], "a function"), False)
        if len(c) == 2:
            return (None, self._check_name(c[1], "a function"), True)
        scope_tok = c[0]
        if scope_tok.type == "STATIC":
            scope = "static"
        else:
            scope = self._check_name(scope_tok, "a class")
        return (scope, str(c[2]), False)

    def cache_call(self, c):
        opts = c[1]
        scope, name, builtin = c[2]
        args = c[4] if type(c[4]) is list else []
        return A.CacheCall(_tt(c[0], c[-1]), opts, name, builtin, args, scope)

    def builtin_ref(self, c):
        name = self._check_name(c[1], "a function")
        return A.NameRef(_tt(c[0], c[1]), name, True)

    def nameref(self, c):
        t = c[0]
        name = str(t)
        if name in KEYWORDS:
            raise _fail_at("syntax error: unexpected keyword '%s'" % name, t)
        return A.NameRef(Span(t.line, t.column, t.end_line, t.end_column), name)

    def static(self, c):
        scope_tok, member = c[0], c[2]
        if scope_tok.type == "STATIC":
            scope = "static"
        else:
            scope = str(scope_tok)
            if scope in KEYWORDS:
                raise _fail_at("syntax error: unexpected keyword '%s'" % scope, scope_tok)
        is_var = member.type == "VARIABLE"
        return A.Static(_tt(scope_tok, member), scope, member[1:] if is_var else str(member),
                        is_var)

    def array_lit(self, c):
        items = []
        lst = None
        for x in c:
            if type(x) is list:
                lst = x
                break
        if lst is not None:
            for e in lst:
                te = type(e)
                if te is A.ArrayItem:
                    items.append(e)
                else:
                    items.append(A.ArrayItem(e.span, None, e))
        return A.ArrayLit(_tt(c[0], c[-1]), items)

    def keyed(self, c):
        return A.ArrayItem(_nn(c[0], c[2]), c[0], c[2])


# ------------------------------------------------------------------ parser setup

def _grammar_path() -> str:
    """grammar/hsl.lark: shipped as the hsl.grammar package (hsl/grammar/ when installed,
    the top-level grammar/ in the repository)."""
    try:
        from .. import grammar as _g          # the hsl.grammar package
        for d in _g.__path__:
            path = os.path.join(d, "hsl.lark")
            if os.path.exists(path):
                return path
    except ImportError:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.path.join(here, "grammar", "hsl.lark"),
                 os.path.join(os.path.dirname(os.path.dirname(here)), "grammar", "hsl.lark")):
        if os.path.exists(path):
            return path
    raise FileNotFoundError("grammar/hsl.lark not found")


def _grammar_text() -> str:
    with open(_grammar_path(), encoding="utf-8") as f:
        return f.read()


# Terminal spellings the error recovery relies on (hsl/syntax/_lalr_recover.py).
_MARKERS = {"stmt": "echo", "member": "constructor", "semi": ";", "lbrace": "{",
            "rbrace": "}", "lpar": "(", "rpar": ")", "lsqb": "[", "rsqb": "]", "for": "for",
            "decls": ("function", "class", "import"), "labels": ("case", "default")}

_LEX_CALLBACKS = {"BLOCK_COMMENT": _Builder.block_comment}

_runtime = None                 # (Tables, Parser), loaded once
_lock = threading.Lock()


def _get_runtime():
    global _runtime
    rt = _runtime
    if rt is None:
        with _lock:
            rt = _runtime
            if rt is None:
                tables = load_tables(_grammar_text())
                rt = _runtime = (tables, Parser(tables, _MARKERS))
    return rt


# ------------------------------------------------------------------ error messages

_PUNCT_WORDS = {
    "$END": "end of file",
    "IDENT": "identifier",
    "VARIABLE": "variable",
    "STRING": "string",
    "RAWSTRING": "raw string",
    "NUMBER": "number",
    "REGEX": "regex literal",
}

_term_display: dict = {}


def _terminal_words(name: str) -> str:
    """A human name for a terminal (for "expected ..." lists)."""
    if name in _PUNCT_WORDS:
        return _PUNCT_WORDS[name]
    d = _term_display.get(name)
    if d is None:
        tables, _ = _get_runtime()
        for tname, (kind, value) in tables.terminals.items():
            if kind == "str":
                _term_display[tname] = "'%s'" % value
        d = _term_display.get(name, name.lower())
    return d


def _token_words(tok: Token) -> str:
    """A human description of an unexpected token."""
    typ = tok.type
    if typ == "$END":
        return "end of file"
    v = str(tok)
    if typ == "IDENT":
        if v in KEYWORDS:
            return "keyword '%s'" % v
        return "identifier '%s'" % v
    if typ == "VARIABLE":
        return "variable '%s'" % v
    if typ in ("STRING", "RAWSTRING"):
        if len(v) > 30:
            v = v[:27] + "..."
        return "string %s" % v
    if typ == "NUMBER":
        return "number '%s'" % v
    if typ == "REGEX":
        return "regex literal"
    if v[:1].isalpha():
        return "keyword '%s'" % v
    return "'%s'" % v


_EXPR_START = frozenset("""VARIABLE NUMBER STRING RAWSTRING REGEX IDENT TRUE FALSE NONE
LPAR LSQB ARRAY FUNCTION MATCH ISSET UNSET CACHE BUILTIN STATIC BANG NOT MINUS PLUS TILDE
__ANON_INC __ANON_DEC""".split())
_STMT_START = frozenset("""ECHO IF FOR FOREACH WHILE FOREVER SWITCH TRY BARRIER CLASS IMPORT
BREAK CONTINUE RETURN GLOBAL THROW INCLUDE INCLUDE_ONCE LBRACE SEMICOLON""".split())
_ORDER = ["SEMICOLON", "RPAR", "RSQB", "RBRACE", "COMMA", "COLON", "LPAR", "LBRACE",
          "LSQB", "EQUAL", "IDENT", "VARIABLE", "STRING"]


def _classify(expected: set) -> tuple[list, bool, bool]:
    """Return (specific terminal names, wants_statement, wants_expression)."""
    names = _term_names()
    exp = set(expected)
    want_stmt = "ECHO" in exp and "IF" in exp
    want_expr = "VARIABLE" in exp and "NUMBER" in exp
    if want_stmt:
        exp -= _STMT_START
        exp -= names["expr_start"]
    elif want_expr:
        exp -= names["expr_start"]
    if exp & names["binop"]:
        exp -= names["binop"]
        exp -= names["postfix_ops"]
    if want_stmt and len(exp) > 1:
        exp.discard("$END")
    order = {n: i for i, n in enumerate(_ORDER)}
    specific = sorted(exp, key=lambda n: (order.get(n, 100), n))
    return specific, want_stmt, want_expr


_names_cache: dict = {}


def _term_names() -> dict:
    if _names_cache:
        return _names_cache
    tables, _ = _get_runtime()
    by_value = tables.by_value
    binops = "* / % + - << >> >>> . < <= > >= == != === !== =~ !~ & ^ | and or ?? ? ** = += -= " \
             "*= /= %= **= .= ??= &= |= ^= <<= >>= >>>=".split()
    postfix = "( [ -> ++ -- ::".split()
    starts = "$ ( [ array function match isset unset cache builtin static ! not - + ~ ++ -- " \
             "true false none".split()
    _names_cache["binop"] = frozenset(by_value[v] for v in binops if v in by_value)
    _names_cache["postfix_ops"] = frozenset(by_value[v] for v in postfix if v in by_value)
    _names_cache["expr_start"] = frozenset(
        [by_value[v] for v in starts if v in by_value]
        + ["VARIABLE", "NUMBER", "STRING", "RAWSTRING", "REGEX", "IDENT"])
    return _names_cache


def _expected_text(expected: set, after_expr: bool) -> tuple[str, bool]:
    """("expected ..." in words, whether a missing ';' is the likely error: it is the
    first thing expected)."""
    specific, want_stmt, want_expr = _classify(expected)
    words = []
    if want_stmt:
        words.append("statement")
    elif want_expr:
        words.append("expression")
    words.extend(_terminal_words(n) for n in specific)
    if not words:
        return "", False
    if len(words) > 5:
        words = words[:5] + ["..."]
        return "expected one of " + ", ".join(words), False
    semicolon = words[0] == "';'"
    if after_expr and words in (["';'"], ["';'", "'}'"]):
        return "expected ';' after expression", True
    if len(words) == 1:
        return "expected " + words[0], semicolon
    return "expected " + ", ".join(words[:-1]) + " or " + words[-1], semicolon


_VALUE_END = frozenset(["VARIABLE", "NUMBER", "STRING", "RAWSTRING", "REGEX", "IDENT", "RPAR",
                        "RSQB", "RBRACE", "TRUE", "FALSE", "NONE"])

_OPENERS = {"LBRACE": ("'}'", "block"), "LPAR": ("')'", "'('"), "LSQB": ("']'", "'['")}


_CLOSER_OF = {"RBRACE": "LBRACE", "RPAR": "LPAR", "RSQB": "LSQB"}


def _innermost_open(state) -> Optional[Token]:
    """The innermost bracket on the parser's stack that is not closed there."""
    stack = getattr(state, "value_stack", None)
    if not stack:
        return None
    opened: list = []
    for v in stack:
        if type(v) is Token:
            if v.type in _OPENERS:
                opened.append(v)
            elif v.type in _CLOSER_OF:
                want = _CLOSER_OF[v.type]
                for j in range(len(opened) - 1, -1, -1):
                    if opened[j].type == want:
                        del opened[j:]
                        break
    return opened[-1] if opened else None


def _char_error(src: str, e: UnexpectedCharacters) -> tuple[str, bool, str]:
    """(message, safe to recover, code) of a character no token starts with."""
    pos = e.pos_in_stream
    ch = src[pos] if 0 <= pos < len(src) else ""
    if ch == '"':
        return "syntax error: unterminated string (no closing '\"')", False, "HSL004"
    if ch == "'":
        return ("syntax error: unterminated raw string (no closing quote with the same "
                "delimiter, or an invalid delimiter)"), False, "HSL004"
    if ch in "\u201c\u201d\u201e\u201f":
        return ("syntax error: typographic quote '%s' (use a plain '\"' for strings)" % ch), \
            True, "HSL004"
    if ch in "\u2018\u2019":
        return ("syntax error: typographic quote '%s' (use a plain \"'\")" % ch), True, "HSL004"
    if ch == "\u00a0":
        return "syntax error: no-break space (U+00A0) outside a string", True, "HSL001"
    if ch == "#":
        if src.startswith("#/", pos):
            return "syntax error: invalid regex literal", True, "HSL001"
        return ("syntax error: unexpected character '#' ('#' does not start a comment; "
                "use '//')"), True, "HSL001"
    if ch == "$":
        return "syntax error: '$' must be followed by a variable name", True, "HSL001"
    if ch and (ord(ch) < 32 or ord(ch) > 126):
        return "syntax error: unexpected character U+%04X" % ord(ch), True, "HSL001"
    return "syntax error: unexpected character '%s'" % ch, True, "HSL001"


def _accepted(e: UnexpectedToken) -> set:
    """The terminals really acceptable at the error (LALR state merging makes
    `e.expected` too wide; the interactive parser tries each one)."""
    try:
        acc = e.accepts
        if acc:
            return set(acc)
    except Exception:
        pass
    return set(e.expected)


def _diagnose(src: str, filename: str, e: Exception) -> tuple[Diagnostic, bool]:
    """Turn a parse exception into (diagnostic, safe_to_recover)."""
    if isinstance(e, _Fail):
        return Diagnostic(filename, e.line, e.col, e.message, end_line=e.end_line,
                          end_column=e.end_col, code=e.code), e.recoverable
    if isinstance(e, UnexpectedCharacters):
        msg, ok, code = _char_error(src, e)
        return Diagnostic(filename, e.line, e.column, msg, code=code), ok
    if isinstance(e, UnexpectedToken):
        tok = e.token
        state = getattr(e, "state", None)
        stack = getattr(state, "value_stack", None) or []
        after_expr = bool(stack) and (isinstance(stack[-1], A.Expr) or (
            type(stack[-1]) is Token and stack[-1].type in _VALUE_END))
        if tok.type == "$END":
            # (recoverable: the driver closes what is open at the end, to keep the
            # statements before it)
            n = src.count("\n")
            line, col = n + 1, len(src) - src.rfind("\n")
            opener = _innermost_open(state)
            if opener is not None:
                closer, what = _OPENERS[opener.type]
                msg = ("syntax error: unexpected end of file, missing %s to close the %s "
                       "opened at %d:%d" % (closer, what, opener.line, opener.column))
                return Diagnostic(filename, line, col, msg, code="HSL003",
                                  hint="unclosed `%s` opened at %d:%d"
                                       % (opener, opener.line, opener.column),
                                  related=[Related(opener.line, opener.column,
                                                   "unclosed `%s`" % opener)]), True
            exp, semicolon = _expected_text(_accepted(e), after_expr)
            msg = "syntax error: unexpected end of file" + (", " + exp if exp else "")
            if semicolon:
                return _missing_semicolon(filename, line, col, msg, stack), True
            return Diagnostic(filename, line, col, msg, code="HSL001"), True
        exp, semicolon = _expected_text(_accepted(e), after_expr)
        msg = "syntax error: unexpected " + _token_words(tok) + (", " + exp if exp else "")
        end_line = getattr(tok, "end_line", None) or tok.line
        end_col = getattr(tok, "end_column", None) or tok.column
        if semicolon:
            d = _missing_semicolon(filename, tok.line, tok.column, msg, stack)
            d.end_line, d.end_column = end_line, end_col
            return d, True
        return Diagnostic(filename, tok.line, tok.column, msg, end_line=end_line,
                          end_column=end_col, code="HSL001"), True
    if isinstance(e, UnexpectedInput):
        line = getattr(e, "line", 1) or 1
        col = getattr(e, "column", 1) or 1
        return Diagnostic(filename, line if isinstance(line, int) else 1,
                          col if isinstance(col, int) else 1, "syntax error",
                          code="HSL001"), False
    raise e


def _missing_semicolon(filename: str, line: int, col: int, msg: str, stack) -> Diagnostic:
    """HSL002 at line:col, with where the statement before ends (the parser's last value)
    when that is on an earlier line."""
    hint = "missing `;` after the previous statement"
    related = []
    end = _end_of(stack[-1]) if stack else None
    if end is not None and end[0] < line:
        hint += " (it ends at %d:%d)" % end
        related.append(Related(end[0], end[1], "the previous statement ends here"))
    return Diagnostic(filename, line, col, msg, code="HSL002", hint=hint, related=related)


def _end_of(value) -> Optional[tuple[int, int]]:
    """(line, column just after) the end of a value of the parser's stack: a token, a
    node, or a list or tuple of them; None when it has no position."""
    while type(value) in (list, tuple):
        value = next((v for v in reversed(value) if v is not None), None)
    if type(value) is Token:
        return value.end_line, value.end_column
    span = getattr(value, "span", None)
    if type(span) is A.Span and span.end_line:
        return span.end_line, span.end_col
    return None


def _check_nesting(src: str) -> Optional[tuple[int, int]]:
    """Position of the first bracket nested deeper than MAX_BRACKET_NESTING, if any."""
    # Quick bound: brackets cannot nest deeper than the number of openers.
    if src.count("(") + src.count("[") + src.count("{") <= MAX_BRACKET_NESTING:
        return None
    # C-speed pass: drop strings/comments/regexes, keep brackets, max prefix sum.
    brackets = _BRACKETS.findall(_NEST_SKIP.sub("", src))
    if len(brackets) <= MAX_BRACKET_NESTING:
        return None
    if max(accumulate(map(_BRACKET_DELTA.__getitem__, brackets))) <= MAX_BRACKET_NESTING:
        return None
    return _nesting_scan(src)


_NEST_SKIP = re.compile(
    r"""//[^\n]*|/\*[\s\S]*?(?:\*/|\Z)|"(?:[^"\\]|\\[\s\S])*"?"""
    r"""|'(?P<d>[\x21-\x26\x28-\x7e]*)'[\s\S]*?(?:'(?P=d)'|\Z)|#/(?:[^\\/\n]|\\[^\n])+/""")
_BRACKETS = re.compile(r"[()\[\]{}]")
_BRACKET_DELTA = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}
_NEST_TOKENS = re.compile(_NEST_SKIP.pattern + r"|[(\[{]|[)\]}]")


def _nesting_scan(src: str) -> Optional[tuple[int, int]]:
    depth = 0
    for m in _NEST_TOKENS.finditer(src):
        ch = m.group()
        if len(ch) != 1:
            continue
        if ch in "([{":
            depth += 1
            if depth > MAX_BRACKET_NESTING:
                p = m.start()
                line = src.count("\n", 0, p) + 1
                col = p - src.rfind("\n", 0, p)
                return line, col
        else:
            depth -= 1
    return None


def _placeholder(origin: str, children: list):
    """A stand-in for a construct the builder rejected (the error is reported; parsing goes
    on with this value, chosen so that no builder check fails on it)."""
    first = last = None
    for x in children:
        if type(x) is list:
            x = x[0] if x else None
        if x is not None and (type(x) is Token or hasattr(x, "span")):
            if first is None:
                first = x
            last = x
    if first is None:
        span = A.NOSPAN
    else:
        span = _any(first, last)
    if origin in ("stmt", "last", "simple", "switch_item"):
        return A.Empty(span)
    if origin == "member":
        return A.ClassVar(span, "", None)
    if origin == "cache_target":
        return (None, "", False)
    if origin == "import_item":
        return A.ImportItem(span, "", None, False)
    if origin == "param":
        return A.Param(span, "")
    return A.Var(span, "")


def _parse(src: str, filename: str, recover: bool = True):
    """Parse; returns (program or None, diagnostics).  After syntax errors the program is
    what recovery kept (the statements that parsed), when there is one."""
    tables, parser = _get_runtime()
    builder = _Builder()
    builder.reset(src, filename)
    reds = tables.bind(builder)
    diags: list = []

    def on_error(e, report: bool) -> bool:
        d, recoverable = _diagnose(src, filename, e)
        # "Unexpected end of file, missing '}'" after another error: most likely the
        # brackets that the first error (or its recovery) left unbalanced.
        if report and not (diags and type(e) is UnexpectedToken and e.token.type == "$END"
                           and _innermost_open(e.state) is not None):
            diags.append(d)
        return recover and recoverable and len(diags) < MAX_ERRORS

    prog = parser.parse(src, reds, _LEX_CALLBACKS, on_error, _placeholder, _Fail)
    if len(builder.appends) != len(builder.appends_ok) and prog is not None:
        bad = [n for n in builder.appends if id(n) not in builder.appends_ok]
        if diags:
            # after errors, only those in the tree (not in abandoned statements)
            kept = _reachable_ids(prog)
            bad = [n for n in bad if id(n) in kept]
        if bad and len(diags) < MAX_ERRORS:
            s = bad[0].span
            diags.append(Diagnostic(filename, s.line, s.col,
                                    "syntax error: '[]' (append) can only be used as "
                                    "the target of an assignment '='",
                                    end_line=s.end_line, end_column=s.end_col, code="HSL001"))
    if diags:
        diags.sort(key=lambda d: (d.line, d.column))
        return prog, diags
    if prog is None:                     # stopped after errors that were not reported
        return None, [Diagnostic(filename, 1, 1, "syntax error", code="HSL001")]
    return prog, []


def _reachable_ids(root) -> set:
    return {id(n) for n in A.walk(root)}


# Surrogates that no UTF-8 decoding produces.  U+DC80..U+DCFF are the bytes that were not
# UTF-8 in a file decoded with "surrogateescape" (as hsl reads files): they stand for
# those bytes in strings and comments.
_LONE_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def declarations(source: str) -> tuple[set, int]:
    """(every name the text declares as a function or class or imports (`import {a, b as
    c}`), the number of `include`/`include_once` keywords), by its tokens, whether or not
    the statements parse: after a syntax error, what the lost statements declared (hsl
    check must not call those names undefined)."""
    tables, _ = _get_runtime()
    found: set = set()
    includes = 0
    prev = None
    in_import = 0           # 1: after `import`, 2: inside its braces
    pos, n = 0, len(source)
    while pos < n:
        resume = n
        for typ, start, end, _l, _c, _ls in tables.scan(source, pos, 1, 0):
            if typ == "!":              # an unterminated string: go on after its quote
                resume = start + 1
                break
            if not typ:
                continue
            if typ == "IDENT" and prev in ("FUNCTION", "CLASS"):
                found.add(source[start:end])
            elif typ == "IMPORT":
                in_import = 1
            elif typ in ("INCLUDE", "INCLUDE_ONCE"):
                includes += 1
            elif in_import == 1:
                in_import = 2 if typ == "LBRACE" else 0
            elif in_import == 2:
                if typ == "IDENT":
                    found.add(source[start:end])
                elif typ not in ("COMMA", "AS"):
                    in_import = 0
            prev = typ
        pos = resume
    return found, includes


def parse(source: str, filename: str = "<string>") -> A.Program:
    """Parse HSL source text into an ast.Program, or raise HSLSyntaxError.  `source` may
    carry bytes that are not UTF-8 as "surrogateescape" decoding does (U+DC80..U+DCFF);
    any other surrogate is a syntax error."""
    prog, diags = parse_partial(source, filename)
    if diags:
        text = source if isinstance(source, str) else \
            bytes(source).decode("utf-8", "surrogateescape")
        raise HSLSyntaxError(diags, text[1:] if text.startswith("\ufeff") else text)
    return prog


def parse_partial(source: str, filename: str = "<string>"):
    """(program or None, syntax diagnostics): with errors, the program holds the
    statements that parsed (error recovery resumes at the next statement), for hsl check
    to run its other checks on them."""
    if not isinstance(source, str):
        if isinstance(source, (bytes, bytearray)):
            source = bytes(source).decode("utf-8", "surrogateescape")
        else:
            raise TypeError("parse() expects a str")
    if source.startswith("\ufeff"):          # a UTF-8 byte order mark is not source text
        source = source[1:]
    bad = _LONE_SURROGATE.search(source)
    if bad is not None:
        pos = bad.start()
        return None, [Diagnostic(
            filename, source.count("\n", 0, pos) + 1, pos - source.rfind("\n", 0, pos),
            "syntax error: invalid character U+%04X (a lone surrogate is not text)"
            % ord(bad.group()), code="HSL001")]
    deep = _check_nesting(source)
    if deep is not None:
        return None, [Diagnostic(
            filename, deep[0], deep[1],
            "syntax error: brackets nested too deeply (the limit is %d levels)" % MAX_BRACKET_NESTING,
            code="HSL005")]
    return _parse(source, filename)
