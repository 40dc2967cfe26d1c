"""Name resolution: what each scope of an HSL program binds, found by one walk per scope.

A scope is a file's top level (A.Program), a function, a method, a constructor or an
anonymous function; the statements an include brings in (an A.Inclusion) are a fragment of
each scope that includes them.  `Resolution.scope(node)` walks the scope's own statements
once -- not nested scopes, not included statements -- and records its ScopeFacts: which
statement binds which variable (binds()), the variables it mentions, its `global`
statements and closure captures, the scopes nested in it.  A scope's own facts do not
depend on how its includes are expanded, so one Resolution serves the whole pipeline:
`hsl check` resolves a file before its includes are expanded (check/flow.py and
check/methods.py read the facts) and hands the same table to the compiler, which adds the
facts of the inclusions each scope reaches (Resolution.facts) and makes each variable's
Binding from them.

Also here: the compiler's records of declarations (FuncInfo, ClassInfo, ModuleInfo) and
scopes (Scope, Binding), and the walks that list a scope's declarations
(iter_declarations), inclusions (scope_inclusions) and nodes (scope_nodes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..syntax import ast as A

# Nodes that make a scope of their own: the walk of a scope does not go into them.
NESTED_SCOPES = (A.FunctionDecl, A.ClassDecl, A.FuncExpr)


# ------------------------------------------------------------ declaration records

@dataclass
class FuncInfo:
    name: str                  # HSL name
    pyname: str
    min_args: int
    max_args: Optional[int]
    node: object = None
    kind: str = "function"     # "function" or "imported"


@dataclass
class ClassInfo:
    name: str
    pyname: str
    node: Optional[A.ClassDecl]
    min_args: int = 0
    max_args: Optional[int] = 0
    statics: dict = field(default_factory=dict)        # static var name -> True
    static_methods: dict = field(default_factory=dict)  # name -> FuncInfo


@dataclass
class ModuleInfo:
    index: int
    path: str                  # resolved file path or "<string>"
    program: A.Program
    pyname: str
    functions: dict = field(default_factory=dict)   # top-level functions (incl. imported)
    classes: dict = field(default_factory=dict)
    globals: set = field(default_factory=set)       # names of global-scope variables
    namespaces: dict = field(default_factory=dict)  # `import * as ns`: ns -> ModuleInfo
    imported_vars: dict = field(default_factory=dict)  # local name -> (ModuleInfo, name)
    data_vars: dict = field(default_factory=dict)   # local name -> constant index
    imports: list = field(default_factory=list)     # ModuleInfo of imported modules, in order
    is_main: bool = False


# ------------------------------------------------------------------ scopes

class Binding:
    """How an HSL variable of a scope is reached from Python."""
    __slots__ = ("pyname", "cell", "readonly")

    def __init__(self, pyname: str, cell: bool = False, readonly: bool = False):
        self.pyname = pyname       # Python name (of the value, or of the cell holder)
        self.cell = cell           # True: access through `pyname.cell_contents`
        self.readonly = readonly


class Scope:
    """A scope as the compiler compiles it: its variables' Bindings, the functions and
    classes it declares, and the state of its compilation."""

    def __init__(self, kind: str, module: ModuleInfo, parent: Optional["Scope"] = None,
                 cls: Optional[ClassInfo] = None, static: bool = False, name: str = ""):
        self.kind = kind                   # "module" or "function"
        self.module = module
        self.parent = parent
        self.cls = cls
        self.static = static
        self.name = name
        self.vars: dict[str, Binding] = {}
        self.functions: dict[str, FuncInfo] = {}
        self.classes: dict[str, ClassInfo] = {}
        self.nonlocals: set[str] = set()
        self.temp_count = 0
        self.breakables: list = []         # stack of ("loop"|"switch", switch_flag_name)
        self.assigned: set[str] = set()
        self.captured: set[str] = set()    # names nested closures capture by reference
        # Variables certainly bound from here on: read without existence checks.
        self.definite: set[str] = set()
        # Inclusion -> (name of its nested function, {exit kind: (file index, node)}).
        self.inclusions: dict = {}

    def temp(self) -> str:
        self.temp_count += 1
        return f"_t{self.temp_count}"

    def lookup_function(self, name: str) -> Optional[FuncInfo]:
        s = self
        while s is not None:
            if name in s.functions:
                return s.functions[name]
            s = s.parent
        return self.module.functions.get(name)

    def lookup_class(self, name: str) -> Optional[ClassInfo]:
        s = self
        while s is not None:
            if name in s.classes:
                return s.classes[name]
            s = s.parent
        return self.module.classes.get(name)


# ------------------------------------------------------------------ bindings

def lvalue_root(node) -> Optional[str]:
    """The variable name at the root of an assignment target, if it is a variable."""
    while True:
        t = type(node)
        if t is A.Var:
            return node.name
        if t in (A.Index, A.Slice):
            node = node.target
        else:
            return None


def binds(n) -> list:
    """The variables one node binds (not looking into its children): assignment roots,
    destructuring, foreach, catch and barrier variables, `global`, imports."""
    t = type(n)
    if t is A.Assign or t is A.IncDec:
        root = lvalue_root(n.target)
        return [root] if root is not None else []
    if t is A.Destructure:
        return [tg.name for tg in n.targets] + ([n.rest] if n.rest else [])
    if t is A.Foreach:
        return [n.value] + ([n.key] if n.key else [])
    if t is A.Try or t is A.Barrier:
        return [n.var] if n.var else []
    if t is A.Global:
        return list(n.names)
    if t is A.ImportData:
        return [n.var]
    if t is A.ImportSymbols:
        return [(it.alias or it.name) for it in n.items if it.is_var]
    return []


class ScopeFacts:
    """What the walk over one scope's statements found (Resolution.scope)."""
    __slots__ = ("assigned", "mentioned", "writes", "globals", "captured", "nested",
                 "includes", "calls", "param_mentions")

    def __init__(self):
        self.assigned: set = set()      # variables its code binds (but imports: see _Walk)
        self.mentioned: set = set()     # variables read or written
        self.writes: list = []          # (variable, the node that binds it), source order
        self.globals: list = []         # its own `global` statements, source order
        self.captured: set = set()      # captured by closures made here, or unset()
        self.nested: list = []          # FunctionDecl, ClassDecl, FuncExpr nodes in it
        self.includes = False           # an include among its statements (as parsed)
        self.calls: list = []           # `$var->name(...)` calls (check/methods.py)
        self.param_mentions: set = set()  # variables its parameters' defaults mention

    def first_writes(self, foreach: bool = True) -> dict:
        """variable -> its first (by position) assignment, increment, or (with `foreach`)
        foreach loop over it."""
        first: dict = {}
        for name, n in self.writes:
            t = type(n)
            if t is A.Assign or t is A.IncDec or (foreach and t is A.Foreach and name == n.value):
                best = first.get(name)
                if best is None or (n.span.line, n.span.col) < (best.span.line, best.span.col):
                    first[name] = n
        return first

    def merged(self, others: list) -> "ScopeFacts":
        """These facts with those of `others` (the inclusions a scope reaches)."""
        out = ScopeFacts()
        for f in [self, *others]:
            out.assigned |= f.assigned
            out.mentioned |= f.mentioned
            out.writes += f.writes
            out.globals += f.globals
            out.captured |= f.captured
            out.nested += f.nested
            out.calls += f.calls
        out.includes = True             # (it reaches inclusions)
        out.param_mentions = self.param_mentions
        return out


class _Walk(A.Visitor):
    """The walk of one scope's statements (see ScopeFacts)."""

    def __init__(self, facts: ScopeFacts):
        self.facts = facts

    def visit_Var(self, n):
        self.facts.mentioned.add(n.name)

    def visit_FunctionDecl(self, n):
        self.facts.nested.append(n)
        return False

    visit_ClassDecl = visit_FunctionDecl

    def visit_FuncExpr(self, n):
        facts = self.facts
        facts.nested.append(n)
        facts.assigned.update(n.captures)
        facts.captured.update(n.captures)
        facts.writes.extend((name, n) for name in n.captures)
        # Defaults are evaluated where the closure is made: they belong to this scope.
        self.visit([p.default for p in n.params if p.default is not None])
        return False

    def visit_Assign(self, n):
        facts = self.facts
        for name in binds(n):
            facts.assigned.add(name)
            facts.writes.append((name, n))

    visit_IncDec = visit_Destructure = visit_Foreach = visit_Try = visit_Barrier = \
        visit_ImportData = visit_Assign

    def visit_Global(self, n):
        self.visit_Assign(n)
        self.facts.globals.append(n)

    def visit_ImportSymbols(self, n):
        # (not `assigned`: an imported variable is bound by the import, as a cell; see
        # ModuleInfo.imported_vars)
        self.facts.writes.extend((name, n) for name in binds(n))

    def visit_Unset(self, n):
        if type(n.target) is A.Var:
            self.facts.captured.add(n.target.name)

    def visit_Include(self, n):
        self.facts.includes = True

    visit_Included = visit_Include

    def visit_Call(self, n):
        callee = n.callee
        if type(callee) is A.Prop and type(callee.target) is A.Var:
            self.facts.calls.append(n)


def _body(node) -> list:
    """The statements of a scope node (or an Inclusion)."""
    return node.body


class Resolution:
    """The resolved scopes of a program: each scope's facts, found once and kept."""

    def __init__(self):
        self._own: dict = {}            # scope node or Inclusion -> ScopeFacts
        self._facts: dict = {}          # scope node -> ScopeFacts with its inclusions'
        self._inclusions: dict = {}     # scope node -> [Inclusion]
        self._declarations: dict = {}   # scope node -> [(declaration, file index, via)]

    def scope(self, node) -> ScopeFacts:
        """The facts of the statements of scope `node` itself (an A.Program, FunctionDecl,
        ClassMethod, Constructor, FuncExpr, or an Inclusion as a fragment of a scope)."""
        facts = self._own.get(node)
        if facts is None:
            facts = self._own[node] = ScopeFacts()
            _Walk(facts).visit(_body(node))
            params = getattr(node, "params", None)
            if params:
                mentions = ScopeFacts()
                _Walk(mentions).visit([p.default for p in params if p.default is not None])
                facts.param_mentions = mentions.mentioned
        return facts

    def inclusions(self, node) -> list:
        """The inclusions scope `node` reaches (once its includes are expanded), each once
        and after those it reaches itself."""
        found = self._inclusions.get(node)
        if found is None:
            found = self._inclusions[node] = scope_inclusions(_body(node))
        return found

    def declarations(self, node) -> list:
        """(declaration, file index, via) for the functions and classes scope `node`
        declares, included ones too (see iter_declarations; once includes are expanded)."""
        found = self._declarations.get(node)
        if found is None:
            found = self._declarations[node] = list(iter_declarations(_body(node)))
        return found

    def facts(self, node, includes: bool) -> ScopeFacts:
        """The facts of scope `node` with those of the statements it includes
        (`includes`: the program has includes, and they are expanded)."""
        facts = self._facts.get(node)
        if facts is None:
            facts = self.scope(node)
            reached = self.inclusions(node) if includes else ()
            if reached:
                facts = facts.merged([self.scope(inc) for inc in reached])
            self._facts[node] = facts
        return facts

    def declared_globals(self, node, includes: bool) -> set:
        """The variables declared `global` anywhere inside `node` (a FunctionDecl,
        ClassDecl or FuncExpr): in nested scopes and included statements too."""
        out: set = set()
        stack = [node]
        while stack:
            n = stack.pop()
            if type(n) is A.ClassDecl:
                stack.extend(m for m in n.members if type(m) is not A.ClassVar)
                continue
            facts = self.facts(n, includes)
            for g in facts.globals:
                out.update(g.names)
            stack.extend(facts.nested)
        return out

    def file_scopes(self, program: A.Program) -> list:
        """(scope node, its own facts, the names bound on entry, its class) for every
        scope of one file: its top level first, then each function, method, constructor
        and anonymous function, in source order.  The class of a method is its class's
        name; an anonymous function has the class of the method it is written in (even
        inside a named function there)."""
        out = []
        stack = [(program, set(), None, None)]     # (..., the class code inside belongs to)
        while stack:
            node, entry, cls, inside = stack.pop()
            facts = self.scope(node)
            out.append((node, facts, entry, cls))
            inner = []
            for n in facts.nested:
                t = type(n)
                if t is A.ClassDecl:
                    inner.extend((m, {p.name for p in m.params} | {"this"}, n.name, n.name)
                                 for m in n.members if type(m) is not A.ClassVar)
                elif t is A.FunctionDecl:
                    inner.append((n, {p.name for p in n.params}, None, inside))
                else:
                    inner.append((n, {p.name for p in n.params} | set(n.captures), inside,
                                  inside))
            stack.extend(reversed(inner))
        return out


def bound_by(nodes) -> set:
    """The variables statements `nodes` bind, included statements too (not nested
    scopes), as the compiler counts them: not imported variables (see _Walk)."""
    facts = ScopeFacts()
    walk = _Walk(facts)
    walk.includes = True
    walk.visit(nodes)
    return facts.assigned


# ------------------------------------------------------------------ walks of a scope

def iter_declarations(body):
    """(declaration, file index, via) for the function and class declarations of a scope,
    wherever they sit in its blocks (declarations are hoisted and registered regardless of
    control flow), included files' too: file index None is the scope's own file, `via` the
    (span, path) of the outermost include that brought the declaration in.  An inclusion
    reached twice declares its names twice (an error): it is walked a second time, once."""
    stack = [(s, None, None) for s in reversed(body)]
    seen, again = set(), set()
    while stack:
        s, fi, via = stack.pop()
        if isinstance(s, (A.FunctionDecl, A.ClassDecl)):
            yield s, fi, via
            continue
        if isinstance(s, A.FuncExpr):
            continue
        if type(s) is A.Included:
            inc = s.inclusion
            if inc in seen:
                if not inc.declares or inc in again:
                    continue
                again.add(inc)
            seen.add(inc)
            inner_via = via or (s.span, inc.path)
            stack.extend((c, inc.file_index, inner_via) for c in reversed(inc.body))
            continue
        children = []
        for c in A.iter_child_nodes(s):
            if isinstance(c, (A.Stmt, A.SwitchCase)):
                children.append(c)
        stack.extend((c, fi, via) for c in reversed(children))


def _enter_scope(n) -> bool:
    return type(n) not in NESTED_SCOPES


def scope_inclusions(body) -> list:
    """The inclusions one scope reaches (not those of nested functions), each once, and
    each after the inclusions it reaches itself."""
    order, seen = [], set()
    stack, pending = [iter(_direct_inclusions(body))], [None]
    while stack:
        inc = next(stack[-1], None)
        if inc is None:
            stack.pop()
            done = pending.pop()
            if done is not None:
                order.append(done)
        elif inc not in seen:
            seen.add(inc)
            stack.append(iter(_direct_inclusions(inc.body)))
            pending.append(inc)
    return order


def _direct_inclusions(nodes) -> list:
    found = [n.inclusion for n in A.walk(nodes, _enter_scope) if type(n) is A.Included]
    found.reverse()         # (the last first: the order they have always been compiled in)
    return found


def scope_nodes(body):
    """Every node of one scope, included statements too (each inclusion once): nested
    functions, closures and classes are yielded, not entered."""
    return A.walk(body, _enter_scope, includes=True)


def top_level_statements(body):
    """The statements of a file's top level, with included statements in place (each
    inclusion once)."""
    stack = list(reversed(body))
    seen = set()
    while stack:
        stmt = stack.pop()
        if type(stmt) is A.Included:
            if stmt.inclusion not in seen:
                seen.add(stmt.inclusion)
                stack.extend(reversed(stmt.inclusion.body))
        else:
            yield stmt
