"""The HSL abstract syntax tree: plain dataclasses with source positions.

Every node carries a `span` (start and end line/column, 1-based, columns in
characters, end exclusive).  Variable names are stored without their `$`.
String values are `bytes` (HSL strings are byte strings); identifiers are `str`.
Nothing downstream of the parser looks at source text again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union


@dataclass(frozen=True, slots=True)
class Span:
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.line}:{self.col}"


NOSPAN = Span(0, 0, 0, 0)


@dataclass(slots=True, eq=False)
class Node:
    span: Span

    @property
    def line(self) -> int:
        return self.span.line

    @property
    def col(self) -> int:
        return self.span.col

    @property
    def end_line(self) -> int:
        return self.span.end_line

    @property
    def end_col(self) -> int:
        return self.span.end_col


# ---------------------------------------------------------------- expressions

class Expr(Node):
    __slots__ = ()


@dataclass(slots=True, eq=False)
class Number(Expr):
    value: float


@dataclass(slots=True, eq=False)
class String(Expr):
    """A string constant: a raw string or a double-quoted string without interpolation."""
    value: bytes


@dataclass(slots=True, eq=False)
class Interp(Expr):
    """A double-quoted string with interpolation; parts are constant bytes or Var nodes."""
    parts: list[Union[bytes, "Var"]]


@dataclass(slots=True, eq=False)
class Regex(Expr):
    pattern: bytes
    flags: str


@dataclass(slots=True, eq=False)
class Bool(Expr):
    value: bool


@dataclass(slots=True, eq=False)
class NoneLit(Expr):
    pass


@dataclass(slots=True, eq=False)
class Var(Expr):
    name: str


@dataclass(slots=True, eq=False)
class Spread(Expr):
    """`...expr` inside call arguments or array literals."""
    value: Expr


@dataclass(slots=True, eq=False)
class ArrayItem(Node):
    key: Optional[Expr]        # None: auto-keyed (or spread)
    value: Expr                # a Spread node for `...expr`


@dataclass(slots=True, eq=False)
class ArrayLit(Expr):
    items: list[ArrayItem]


@dataclass(slots=True, eq=False)
class Param(Node):
    name: str
    default: Optional[Expr] = None
    variadic: bool = False


@dataclass(slots=True, eq=False)
class FuncExpr(Expr):
    """An anonymous function or closure: `function ($a) closure ($b) { ... }`."""
    params: list[Param]
    captures: list[str]
    body: list["Stmt"]


@dataclass(slots=True, eq=False)
class NameRef(Expr):
    """A bare identifier (function/class pointer, or the callee of a direct call).

    `builtin` is true for `builtin name`.
    """
    name: str
    builtin: bool = False


@dataclass(slots=True, eq=False)
class Static(Expr):
    """`Scope::member` or `Scope::$member`; scope is an identifier or "static"."""
    scope: str
    member: str
    is_var: bool


@dataclass(slots=True, eq=False)
class Call(Expr):
    callee: Expr               # NameRef for direct calls, Static for static calls
    args: list[Expr]           # Spread nodes for `...expr`


@dataclass(slots=True, eq=False)
class Index(Expr):
    target: Expr
    index: Optional[Expr]      # None only for the append target `$a[]`


@dataclass(slots=True, eq=False)
class Slice(Expr):
    target: Expr
    start: Optional[Expr]
    stop: Optional[Expr]
    step: Optional[Expr]


@dataclass(slots=True, eq=False)
class Prop(Expr):
    target: Expr
    name: str


@dataclass(slots=True, eq=False)
class IncDec(Expr):
    """`++x`, `--x` (prefix=True) and `x++`, `x--`."""
    op: str                    # "++" or "--"
    target: Expr
    prefix: bool


@dataclass(slots=True, eq=False)
class Unary(Expr):
    op: str                    # "!", "-", "+", "~"  (`not` is stored as "!")
    operand: Expr


@dataclass(slots=True, eq=False)
class Binary(Expr):
    """Arithmetic, bitwise, comparison and regex-match operators."""
    op: str                    # + - * / % ** << >> >>> & | ^ == != === !== < <= > >= =~ !~
    left: Expr
    right: Expr


@dataclass(slots=True, eq=False)
class Concat(Expr):
    """A flattened chain `a . b . c` (kept flat so long chains need no deep recursion)."""
    parts: list[Expr]


@dataclass(slots=True, eq=False)
class Logical(Expr):
    op: str                    # "and" or "or"
    left: Expr
    right: Expr


@dataclass(slots=True, eq=False)
class Coalesce(Expr):
    left: Expr
    right: Expr


@dataclass(slots=True, eq=False)
class Cond(Expr):
    """`test ? then : other`; `then` is None for the Elvis form `test ?: other`."""
    test: Expr
    then: Optional[Expr]
    other: Expr


@dataclass(slots=True, eq=False)
class Paren(Expr):
    """A parenthesised expression (kept so that `($a) = 1` can be rejected)."""
    expr: Expr


@dataclass(slots=True, eq=False)
class Assign(Expr):
    op: str                    # "=", "+=", "-=", ..., ".=", "??=", "&=", "|=", "^=", "<<=", ">>=", ">>>="
    target: Expr               # Var, Index, Slice, Prop or Static (is_var)
    value: Expr


@dataclass(slots=True, eq=False)
class PatternTarget(Node):
    key: Optional[Expr]        # keyed form only
    name: str
    default: Optional[Expr] = None


@dataclass(slots=True, eq=False)
class Destructure(Expr):
    """`[$a, $b = 1, ...$rest] = value` or `["k" => $x] = value`."""
    targets: list[PatternTarget]
    keyed: bool
    rest: Optional[str]
    value: Expr


@dataclass(slots=True, eq=False)
class Isset(Expr):
    target: Expr


@dataclass(slots=True, eq=False)
class Unset(Expr):
    target: Expr


@dataclass(slots=True, eq=False)
class MatchArm(Node):
    conditions: Optional[list[Expr]]   # None for `default`
    result: Expr


@dataclass(slots=True, eq=False)
class Match(Expr):
    subject: Expr
    arms: list[MatchArm]


@dataclass(slots=True, eq=False)
class CacheCall(Expr):
    options: ArrayLit
    name: str
    builtin: bool
    args: list[Expr]
    scope: Optional[str] = None    # `cache [...] Scope::name(...)`: the class/namespace or "static"


# ----------------------------------------------------------------- statements

class Stmt(Node):
    __slots__ = ()


@dataclass(slots=True, eq=False)
class ExprStmt(Stmt):
    expr: Expr


@dataclass(slots=True, eq=False)
class Echo(Stmt):
    expr: Expr


@dataclass(slots=True, eq=False)
class Empty(Stmt):
    pass


@dataclass(slots=True, eq=False)
class Block(Stmt):
    body: list[Stmt]


@dataclass(slots=True, eq=False)
class If(Stmt):
    test: Expr
    then: Stmt
    other: Optional[Stmt]


@dataclass(slots=True, eq=False)
class For(Stmt):
    init: Optional[Expr]
    test: Optional[Expr]
    step: Optional[Expr]
    body: Stmt


@dataclass(slots=True, eq=False)
class Foreach(Stmt):
    iterable: Expr
    key: Optional[str]
    value: str
    body: Stmt


@dataclass(slots=True, eq=False)
class While(Stmt):
    test: Expr
    body: Stmt


@dataclass(slots=True, eq=False)
class Forever(Stmt):
    body: Stmt


@dataclass(slots=True, eq=False)
class SwitchCase(Node):
    test: Optional[Expr]       # None for `default:`
    body: list[Stmt]


@dataclass(slots=True, eq=False)
class Switch(Stmt):
    subject: Expr
    cases: list[SwitchCase]


@dataclass(slots=True, eq=False)
class Break(Stmt):
    pass


@dataclass(slots=True, eq=False)
class Continue(Stmt):
    pass


@dataclass(slots=True, eq=False)
class Return(Stmt):
    value: Optional[Expr]


@dataclass(slots=True, eq=False)
class Global(Stmt):
    names: list[str]


@dataclass(slots=True, eq=False)
class Throw(Stmt):
    value: Expr


@dataclass(slots=True, eq=False)
class Try(Stmt):
    body: list[Stmt]
    var: str
    handler: list[Stmt]


@dataclass(slots=True, eq=False)
class Barrier(Stmt):
    name: Expr
    var: Optional[str]
    body: list[Stmt]


@dataclass(slots=True, eq=False)
class Include(Stmt):
    path: bytes
    once: bool


@dataclass(slots=True, eq=False)
class ImportItem(Node):
    name: str                  # identifier, or variable name without `$`
    alias: Optional[str]
    is_var: bool


@dataclass(slots=True, eq=False)
class ImportSymbols(Stmt):
    items: list[ImportItem]
    path: bytes


@dataclass(slots=True, eq=False)
class ImportAll(Stmt):
    alias: str
    path: bytes


@dataclass(slots=True, eq=False)
class ImportData(Stmt):
    var: str
    path: bytes
    options: Optional[Expr]


@dataclass(slots=True, eq=False)
class FunctionDecl(Stmt):
    name: str
    params: list[Param]
    body: list[Stmt]
    name_span: Span = NOSPAN


@dataclass(slots=True, eq=False)
class ClassVar(Node):
    name: str
    default: Optional[Expr]
    private: bool = False
    static: bool = False
    readonly: bool = False


@dataclass(slots=True, eq=False)
class ClassMethod(Node):
    name: str
    params: list[Param]
    body: list[Stmt]
    private: bool = False
    static: bool = False


@dataclass(slots=True, eq=False)
class Constructor(Node):
    params: list[Param]
    body: list[Stmt]


@dataclass(slots=True, eq=False)
class ClassDecl(Stmt):
    name: str
    members: list[Union[ClassVar, ClassMethod, Constructor]]
    name_span: Span = NOSPAN


@dataclass(slots=True, eq=False)
class Program(Node):
    body: list[Stmt]
    filename: str = "<string>"


def iter_child_nodes(node: Node):
    """Yield the direct child nodes of `node` (for generic walkers and tests)."""
    for name in node.__dataclass_fields__:
        if name == "span":
            continue
        value = getattr(node, name)
        if isinstance(value, Node):
            yield value
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Node):
                    yield item
