"""The HSL abstract syntax tree: plain dataclasses with source positions.

Every node carries a `span` (start and end line/column, 1-based, columns in
characters, end exclusive).  Variable names are stored without their `$`.
String values are `bytes` (HSL strings are byte strings); identifiers are `str`.
Nothing downstream of the parser looks at source text again.
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Optional, Union


def _node(cls):
    """`@dataclass(slots=True, eq=False)`, with the docstring that dataclass would generate
    for a class without one ("Name(field: 'type' = default, ...)") made here: dataclass makes
    it with inspect.signature, about 15% of the cost of importing this module."""
    if cls.__doc__ is not None:
        return dataclass(slots=True, eq=False)(cls)
    cls.__doc__ = "-"                  # dataclass leaves a docstring alone
    cls = dataclass(slots=True, eq=False)(cls)
    params = []
    for f in fields(cls):
        if not f.init:
            continue
        p = "%s: %r" % (f.name, f.type)
        if f.default is not MISSING:
            p += " = %r" % (f.default,)
        elif f.default_factory is not MISSING:
            p += " = <factory>"
        params.append(p)
    cls.__doc__ = "%s(%s)" % (cls.__name__, ", ".join(params))
    return cls


@dataclass(frozen=True, slots=True)
class Span:
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.line}:{self.col}"


NOSPAN = Span(0, 0, 0, 0)


@_node
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


@_node
class Number(Expr):
    value: float


@_node
class String(Expr):
    """A string constant: a raw string or a double-quoted string without interpolation."""
    value: bytes


@_node
class Interp(Expr):
    """A double-quoted string with interpolation; parts are constant bytes or Var nodes."""
    parts: list[Union[bytes, "Var"]]


@_node
class Regex(Expr):
    pattern: bytes
    flags: str


@_node
class Bool(Expr):
    value: bool


@_node
class NoneLit(Expr):
    pass


@_node
class Var(Expr):
    name: str


@_node
class Spread(Expr):
    """`...expr` inside call arguments or array literals."""
    value: Expr


@_node
class ArrayItem(Node):
    key: Optional[Expr]        # None: auto-keyed (or spread)
    value: Expr                # a Spread node for `...expr`


@_node
class ArrayLit(Expr):
    items: list[ArrayItem]


@_node
class Param(Node):
    name: str
    default: Optional[Expr] = None
    variadic: bool = False


@_node
class FuncExpr(Expr):
    """An anonymous function or closure: `function ($a) closure ($b) { ... }`."""
    params: list[Param]
    captures: list[str]
    body: list["Stmt"]


@_node
class NameRef(Expr):
    """A bare identifier (function/class pointer, or the callee of a direct call).

    `builtin` is true for `builtin name`.
    """
    name: str
    builtin: bool = False


@_node
class Static(Expr):
    """`Scope::member` or `Scope::$member`; scope is an identifier or "static"."""
    scope: str
    member: str
    is_var: bool


@_node
class Call(Expr):
    callee: Expr               # NameRef for direct calls, Static for static calls
    args: list[Expr]           # Spread nodes for `...expr`


@_node
class Index(Expr):
    target: Expr
    index: Optional[Expr]      # None only for the append target `$a[]`


@_node
class Slice(Expr):
    target: Expr
    start: Optional[Expr]
    stop: Optional[Expr]
    step: Optional[Expr]


@_node
class Prop(Expr):
    target: Expr
    name: str


@_node
class IncDec(Expr):
    """`++x`, `--x` (prefix=True) and `x++`, `x--`."""
    op: str                    # "++" or "--"
    target: Expr
    prefix: bool


@_node
class Unary(Expr):
    op: str                    # "!", "-", "+", "~"  (`not` is stored as "!")
    operand: Expr


@_node
class Binary(Expr):
    """Arithmetic, bitwise, comparison and regex-match operators."""
    op: str                    # + - * / % ** << >> >>> & | ^ == != === !== < <= > >= =~ !~
    left: Expr
    right: Expr


@_node
class Concat(Expr):
    """A flattened chain `a . b . c` (kept flat so long chains need no deep recursion)."""
    parts: list[Expr]


@_node
class Logical(Expr):
    op: str                    # "and" or "or"
    left: Expr
    right: Expr


@_node
class Coalesce(Expr):
    left: Expr
    right: Expr


@_node
class Cond(Expr):
    """`test ? then : other`; `then` is None for the Elvis form `test ?: other`."""
    test: Expr
    then: Optional[Expr]
    other: Expr


@_node
class Paren(Expr):
    """A parenthesised expression (kept so that `($a) = 1` can be rejected)."""
    expr: Expr


@_node
class Assign(Expr):
    op: str                    # "=", "+=", "-=", ..., ".=", "??=", "&=", "|=", "^=", "<<=", ">>=", ">>>="
    target: Expr               # Var, Index, Slice, Prop or Static (is_var)
    value: Expr


@_node
class PatternTarget(Node):
    key: Optional[Expr]        # keyed form only
    name: str
    default: Optional[Expr] = None


@_node
class Destructure(Expr):
    """`[$a, $b = 1, ...$rest] = value` or `["k" => $x] = value`."""
    targets: list[PatternTarget]
    keyed: bool
    rest: Optional[str]
    value: Expr


@_node
class Isset(Expr):
    target: Expr


@_node
class Unset(Expr):
    target: Expr


@_node
class MatchArm(Node):
    conditions: Optional[list[Expr]]   # None for `default`
    result: Expr


@_node
class Match(Expr):
    subject: Expr
    arms: list[MatchArm]


@_node
class CacheCall(Expr):
    options: ArrayLit
    name: str
    builtin: bool
    args: list[Expr]
    scope: Optional[str] = None    # `cache [...] Scope::name(...)`: the class/namespace or "static"


# ----------------------------------------------------------------- statements

class Stmt(Node):
    __slots__ = ()


@_node
class ExprStmt(Stmt):
    expr: Expr


@_node
class Echo(Stmt):
    expr: Expr


@_node
class Empty(Stmt):
    pass


@_node
class Block(Stmt):
    body: list[Stmt]


@_node
class If(Stmt):
    test: Expr
    then: Stmt
    other: Optional[Stmt]


@_node
class For(Stmt):
    init: Optional[Expr]
    test: Optional[Expr]
    step: Optional[Expr]
    body: Stmt


@_node
class Foreach(Stmt):
    iterable: Expr
    key: Optional[str]
    value: str
    body: Stmt


@_node
class While(Stmt):
    test: Expr
    body: Stmt


@_node
class Forever(Stmt):
    body: Stmt


@_node
class SwitchCase(Node):
    test: Optional[Expr]       # None for `default:`
    body: list[Stmt]


@_node
class Switch(Stmt):
    subject: Expr
    cases: list[SwitchCase]
    # Statements before the first label (spec 6.9 allows them): they never run, since
    # execution starts after the matching label; kept for checkers. Compile nothing for them.
    unreachable: list[Stmt] = field(default_factory=list)


@_node
class Break(Stmt):
    pass


@_node
class Continue(Stmt):
    pass


@_node
class Return(Stmt):
    value: Optional[Expr]


@_node
class Global(Stmt):
    names: list[str]


@_node
class Throw(Stmt):
    value: Expr


@_node
class Try(Stmt):
    body: list[Stmt]
    var: str
    handler: list[Stmt]


@_node
class Barrier(Stmt):
    name: Expr
    var: Optional[str]
    body: list[Stmt]


@_node
class Include(Stmt):
    path: bytes
    once: bool


@_node
class Inclusion(Node):
    """The statements one include brings in: a parsed file whose own includes are resolved
    (hsl.program makes it; the parser never does).  Every site that brings in the same
    statements shares one Inclusion, and the compiler compiles it once per including
    scope, as a nested function that each site calls (see Compiler.emit_inclusions).
    `span`: the whole included file."""
    path: str
    file_index: int
    body: list[Stmt]
    sites: int = 0             # include sites reached inside it, its own and nested ones
    has_once: bool = False     # an include_once inside: a later expansion may differ
    declares: bool = False     # function or class declarations inside (nested ones too)


@_node
class Included(Stmt):
    """An include that hsl.program has resolved (the parser never makes one).  The
    included statements, `inclusion.body`, belong to the including scope; they are not a
    child node, because one inclusion is shared by every site that brings in the same
    statements, so a walker that wants them goes in on purpose, once per inclusion
    (walk(..., includes=True))."""
    inclusion: Inclusion


@_node
class ImportItem(Node):
    name: str                  # identifier, or variable name without `$`
    alias: Optional[str]
    is_var: bool


@_node
class ImportSymbols(Stmt):
    items: list[ImportItem]
    path: bytes


@_node
class ImportAll(Stmt):
    alias: str
    path: bytes


@_node
class ImportData(Stmt):
    var: str
    path: bytes
    options: Optional[Expr]


@_node
class FunctionDecl(Stmt):
    name: str
    params: list[Param]
    body: list[Stmt]
    name_span: Span = NOSPAN


@_node
class ClassVar(Node):
    name: str
    default: Optional[Expr]
    private: bool = False
    static: bool = False
    readonly: bool = False


@_node
class ClassMethod(Node):
    name: str
    params: list[Param]
    body: list[Stmt]
    private: bool = False
    static: bool = False


@_node
class Constructor(Node):
    params: list[Param]
    body: list[Stmt]


@_node
class ClassDecl(Stmt):
    name: str
    members: list[Union[ClassVar, ClassMethod, Constructor]]
    name_span: Span = NOSPAN


@_node
class Program(Node):
    body: list[Stmt]
    filename: str = "<string>"


def iter_child_nodes(node: Node) -> list:
    """The direct child nodes of `node`, in field order (for generic walkers and tests)."""
    out = []
    names = _CHILD_FIELDS.get(type(node))
    for name in names if names is not None else child_fields(type(node)):
        value = getattr(node, name)
        if type(value) is list:
            for item in value:
                if isinstance(item, Node):
                    out.append(item)
        elif isinstance(value, Node):
            out.append(value)
    return out


# Fields that never hold a node (by their annotation): walkers need not look at them.
# (Included.inclusion is a reference to a shared Inclusion, not a child: see Included.)
_LEAF_TYPES = {"Span", "str", "bytes", "bool", "float", "int", "Optional[str]", "list[str]",
               "Inclusion"}
_CHILD_FIELDS: dict = {}


def child_fields(cls) -> tuple:
    """The names of the fields of node class `cls` that may hold nodes or lists of them."""
    names = _CHILD_FIELDS.get(cls)
    if names is None:
        names = _CHILD_FIELDS[cls] = tuple(f.name for f in fields(cls)
                                           if str(f.type) not in _LEAF_TYPES)
    return names


def walk(roots, enter=None, *, includes: bool = False):
    """Every node of the trees under `roots` (a node or a list of nodes), depth first in
    source order, each node before its children (as starlark-go's syntax.Walk).

    `enter(node)`, when given, is called as each node is reached: when it returns a false
    value the walk leaves out that node's children.  The statements an A.Included brings
    in are not its children (see Included); with includes=True the walk goes into each
    inclusion once, where it first reaches it.  Iterative: a deep tree cannot exhaust the
    Python stack."""
    stack = [roots] if isinstance(roots, Node) else list(reversed(roots))
    seen = set()
    fields_of = _CHILD_FIELDS
    while stack:
        node = stack.pop()
        yield node
        if enter is not None and not enter(node):
            continue
        t = type(node)
        if t is Included:
            if includes and node.inclusion not in seen:
                seen.add(node.inclusion)
                stack.extend(reversed(node.inclusion.body))
            continue
        if t is Interp:                 # (its parts are bytes and Var nodes)
            stack.extend(p for p in reversed(node.parts) if type(p) is not bytes)
            continue
        names = fields_of.get(t)
        for name in reversed(names if names is not None else child_fields(t)):
            value = getattr(node, name)
            if type(value) is list:
                stack.extend(reversed(value))
            elif value is not None:
                stack.append(value)


class Visitor:
    """A walk (see walk) that calls `visit_<NodeClass>(node)` on each node whose class it
    has such a method for, as ast.NodeVisitor does but without recursion: a method that
    returns False keeps the walk out of that node's children.  Subclasses set `includes`
    to walk into included statements."""
    includes = False

    def visit(self, roots) -> None:
        methods = _visit_methods(type(self))

        def enter(node):
            method = methods.get(type(node))
            return method is None or method(self, node) is not False

        for _ in walk(roots, enter, includes=self.includes):
            pass


_VISIT_METHODS: dict = {}


def _visit_methods(cls) -> dict:
    """{node class: visit_ function} of a Visitor subclass (made once per subclass)."""
    methods = _VISIT_METHODS.get(cls)
    if methods is None:
        methods = _VISIT_METHODS[cls] = {}
        for node_cls in _node_classes(Node):
            fn = getattr(cls, "visit_" + node_cls.__name__, None)
            if fn is not None:
                methods[node_cls] = fn
    return methods


def _node_classes(base) -> list:
    out = []
    for sub in base.__subclasses__():
        out.append(sub)
        out.extend(_node_classes(sub))
    return out
