"""Compile an HSL program (AST) into Python source (hsl.program compiles that to code).

Why generate Python: a tree-walker pays a dispatch per node per evaluation; generated
code runs as ordinary CPython bytecode, with HSL semantics supplied by the helpers in
hsl.values and hsl.runtime.  The layout of the generated source:

* every HSL file compiled as a module becomes a Python function `M<n>(R, V)`; its
  global-scope variables are Python locals named `g_<name>` (cells when functions bind
  them with `global`);
* HSL functions, closures and methods become nested Python functions whose variables are
  `v_<name>`; `global $x` is `nonlocal g_x`, `closure ($x)` is `nonlocal` on the creating
  scope's variable, which is exactly HSL's capture-by-reference.  A top-level function or
  method that declares no `global` is made instead by a factory outside the module
  function, `D_<name>(R)`, and reaches the module's other names through R (CPython
  compiles nested functions in time proportional to the enclosing function's names);
* the statements an include brings in become one nested function per including scope
  (`inc_<n>`), called at each include site (see Compiler.emit_inclusions);
* every emitted line is mapped back to an HSL file:line:col (`Program.line_positions`), so a
  Python traceback through generated code gives the HSL position and HSL call stack for
  free, at no cost while nothing fails.

The static checks of the spec (section 13.1) happen here too: undefined functions and
variables, arity of direct calls, break/continue placement, read-only variables, import
placement, duplicate declarations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from . import ast as A
from .values import LARGE, arity_message

# The deepest nesting of statements and expressions the compiler turns into Python (the
# generated code must stay within what CPython compiles); the parser accepts deeper
# brackets (parser.MAX_BRACKET_NESTING), reported here as "nesting too deep".
MAX_COMPILED_NESTING = 60

# Operators whose result is always a boolean (no truthiness conversion needed in `if`).
BOOL_OPS = {"==", "!=", "===", "!==", "<", "<=", ">", ">=", "=~", "!~"}

BINARY_HELPERS = {
    "+": "_add", "-": "_sub", "*": "_mul", "/": "_div", "%": "_mod", "**": "_pow",
    "<<": "_shl", ">>": "_shr", ">>>": "_ushr", "&": "_band", "|": "_bor", "^": "_bxor",
    "==": "_leq", "!=": "_lne", "===": "_seq", "!==": "_sne",
    "<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge", "=~": "_rmatch", "!~": "_rnomatch",
}
# Operators with a Python float fast path that gives the HSL result directly.
FLOAT_FAST = {"+": "+", "-": "-", "*": "*", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
              "==": "==", "!=": "!="}
COMPOUND = {"+=": "+", "-=": "-", "*=": "*", "/=": "/", "%=": "%", "**=": "**", ".=": ".",
            "&=": "&", "|=": "|", "^=": "^", "<<=": "<<", ">>=": ">>", ">>>=": ">>>"}


class CompileError(Exception):
    def __init__(self, node_or_span, message: str, filename: Optional[str] = None):
        span = node_or_span.span if isinstance(node_or_span, A.Node) else node_or_span
        self.span = span
        self.message = message
        self.filename = filename
        super().__init__(message)


# ------------------------------------------------------------------ program info

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


@dataclass(eq=False)
class Inclusion:
    """The statements one include brings in: a parsed file whose own includes are resolved
    (A.Included).  Every site that brings in the same statements shares one Inclusion, and
    the compiler compiles it once per including scope, as a nested function that each site
    calls (see Compiler.emit_inclusions)."""
    path: str
    file_index: int
    body: list
    sites: int = 0             # include sites reached inside it, its own and nested ones
    has_once: bool = False     # an include_once inside: a later expansion may differ
    declares: bool = False     # function or class declarations inside (nested ones too)


class Binding:
    """How an HSL variable of a scope is reached from Python."""
    __slots__ = ("pyname", "cell", "readonly")

    def __init__(self, pyname: str, cell: bool = False, readonly: bool = False):
        self.pyname = pyname       # Python name (of the value, or of the cell holder)
        self.cell = cell           # True: access through `pyname.cell_contents`
        self.readonly = readonly


class ScopeFacts:
    """What one walk over a scope's nodes finds (Compiler.collect)."""

    def __init__(self):
        self.assigned: set = set()       # variables written
        self.mentioned: set = set()      # variables read or written
        self.child_globals: set = set()  # names nested functions declare `global`
        self.globals: list = []          # the scope's own `global` statements
        self.captured: set = set()       # captured by closures made here, or unset()
        self.first_writes: dict = {}     # variable -> its first assignment or foreach
        self.reaching: set = set()       # nested declarations with `global` inside

    def wrote(self, name: str, node) -> None:
        first = self.first_writes.get(name)
        if first is None or (node.span.line, node.span.col) < (first.span.line, first.span.col):
            self.first_writes[name] = node


class Scope:
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


# ----------------------------------------------------------------- emission

class Writer:
    """Accumulates Python lines and the HSL position of each."""

    def __init__(self):
        self.lines: list[str] = []
        self.positions: list[tuple] = []   # (file index, line, col) per Python line
        self.indent = 0
        self.pos = (0, 0, 0)

    def take(self, mark: int) -> list:
        """Remove and return the lines emitted since `mark` (with their positions)."""
        taken = list(zip(self.lines[mark:], self.positions[mark:]))
        del self.lines[mark:], self.positions[mark:]
        return taken

    def put(self, taken: list) -> None:
        """Re-insert taken lines one indentation level deeper."""
        for line, pos in taken:
            self.lines.append("    " + line)
            self.positions.append(pos)

    def emit(self, code: str) -> None:
        pad = "    " * self.indent
        first = True
        for raw in code.split("\n"):
            pos = self.pos
            if raw.startswith("\x00"):
                end = raw.index("\x00", 1)
                fi, line, col = raw[1:end].split(",")
                pos = (int(fi), int(line), int(col))
                raw = raw[end + 1:]
                self.pos = pos
            if first:
                self.lines.append(pad + raw)
                first = False
            else:
                self.lines.append(pad + "    " + raw)
            self.positions.append(pos)


def qb(b: bytes) -> str:
    return repr(bytes(b))


# ----------------------------------------------------------------- compiler

class Compiler:
    def __init__(self, program: "ProgramBuilder"):
        self.pb = program
        self.w = program.writer
        self.file_index = 0
        self.depth = 0
        # Compiling an inclusion's function: break, continue and return leave it with a
        # code its call site acts on; `exits` records which ones it can return.
        self.in_include = False
        self.exits: dict = {}
        # Compiling a function defined outside the module function (see define): names
        # bound in the module function are reached through R; `r_refs` collects them.
        self.hoisted = False
        self.own = ""                   # (the function being defined outside)
        self.module_names: set = set()
        self.r_refs: set = set()
        self.reaching: set = set()      # declarations that declare `global` (ScopeFacts)

    # positions ----------------------------------------------------------
    def mark(self, node: A.Node) -> str:
        return f"\n\x00{self.file_index},{node.span.line},{node.span.col}\x00"

    def at(self, node: A.Node) -> None:
        self.w.pos = (self.file_index, node.span.line, node.span.col)

    def error(self, node, message: str):
        raise CompileError(node, message, self.pb.files[self.file_index])

    def soft_error(self, node, message: str, file_index: Optional[int] = None) -> None:
        """An error after which compilation can go on: raised normally, only recorded
        when the builder collects every error (`hsl check`)."""
        fi = self.file_index if file_index is None else file_index
        err = CompileError(node, message, self.pb.files[fi])
        if not self.pb.collecting:
            raise err
        self.pb.errors.append(err)

    def guarded(self, fn, *args) -> None:
        """Run one statement/declaration step; when collecting errors, record a
        CompileError and go on with the next step (the generated code is then discarded)."""
        if not self.pb.collecting:
            fn(*args)
            return
        indent, depth = self.w.indent, self.depth
        try:
            fn(*args)
        except CompileError as e:
            self.pb.errors.append(e)
            self.w.indent, self.depth = indent, depth

    # -------------------------------------------------------------- modules
    def compile_module(self, mod: ModuleInfo) -> None:
        self.file_index = self.pb.file_id(mod.path)
        scope = Scope("module", mod, name="<main>" if mod.is_main else f"<module {mod.path}>")
        body = mod.program.body
        if self.pb.mentions("import"):
            self.check_imports_placement(body, top=True)
        # Module-level functions and classes were declared when the module was loaded.
        facts = self.analyse_module_scope(mod, body)
        assigned, mentioned, globals_from_children = \
            facts.assigned, facts.mentioned, facts.child_globals
        readonly = self.pb.readonly if mod.is_main else set()
        for name in sorted(mentioned | assigned | globals_from_children):
            if name in mod.imported_vars:
                scope.vars[name] = Binding("ic_" + name, cell=True)
            elif name in mod.data_vars:
                scope.vars[name] = Binding("g_" + name, readonly=True)
            else:
                scope.vars[name] = Binding("g_" + name, readonly=name in readonly)
        mod.globals = {n for n, b in scope.vars.items() if not b.cell}
        # Functions that declare `global $x` may create $x in this scope.
        scope.assigned = assigned | globals_from_children
        if mod.is_main:
            scope.assigned |= self.pb.predefined
        self.pb.module_scopes[mod.index] = scope.vars
        w = self.w
        w.pos = (self.file_index, 1, 1)
        w.emit(f"def {mod.pyname}(R, V):")
        w.indent += 1
        # Pre-defined variables (context variables, Program.run(variables=...)).
        for name, b in scope.vars.items():
            if b.cell or name in mod.data_vars:
                continue
            w.emit(f"if {name!r} in V: {b.pyname} = V[{name!r}]")
        for name, idx in mod.data_vars.items():
            w.emit(f"g_{name} = _share(K[{idx}])")
        # Imports run before the module's own statements, in source order.
        for stmt in top_level_statements(body):
            if isinstance(stmt, (A.ImportSymbols, A.ImportAll)):
                self.emit_import(scope, stmt)
        self.module_names = _module_names(mod)
        self.reaching = facts.reaching
        self.emit_declarations(scope, body)
        self.emit_inclusions(scope, body)
        for name in sorted(self.r_refs):      # (for the functions defined outside)
            w.emit(f"R.{name} = {name}")
        w.emit("try:")
        w.indent += 1
        w.emit("pass")
        self.body(scope, body, facts.captured | globals_from_children)
        w.indent -= 1
        w.emit("finally:")
        w.indent += 1
        if mod.is_main:
            w.emit("if R.keep_globals: R.final_globals = _globals_of(locals())")
        else:
            w.emit("pass")
        w.indent -= 1
        if not mod.is_main:
            # Export the module's variables as cells, its functions and classes by name.
            names = sorted(mod.globals)
            w.emit("def _cells():")
            w.emit("    return (" + "".join(f"g_{n}, " for n in names) + ")")
            exports = []
            for fname, fi in mod.functions.items():
                exports.append(f"{('f:' + fname)!r}: {fi.pyname}")
            for cname, ci in mod.classes.items():
                exports.append(f"{('c:' + cname)!r}: {ci.pyname}")
            w.emit("return _module_exports(_cells, {" + ", ".join(exports) + "})")
        w.indent -= 1

    def check_imports_placement(self, body, top: bool) -> None:
        """Imports stand at the top level of a file, or of a file included there."""
        stack = [(stmt, top, self.file_index) for stmt in reversed(body)]
        seen = set()
        while stack:
            stmt, top, fi = stack.pop()
            t = type(stmt)
            if t is A.Included:
                inc = stmt.inclusion
                if (inc, top) not in seen:
                    seen.add((inc, top))
                    stack.extend((s, top, inc.file_index) for s in reversed(inc.body))
                continue
            if t is A.ImportSymbols or t is A.ImportAll or t is A.ImportData:
                if not top:
                    raise CompileError(stmt, "import must be an unconditional top-level "
                                             "statement", self.pb.files[fi])
                continue
            inner = []
            for child in A.iter_child_nodes(stmt):
                if isinstance(child, A.Stmt):
                    inner.append(child)
                elif isinstance(child, (A.SwitchCase, A.ClassMethod, A.Constructor)):
                    inner.extend(child.body)
            stack.extend((c, False, fi) for c in reversed(inner))

    # ------------------------------------------------------ scope analysis
    def analyse_module_scope(self, mod, body) -> "ScopeFacts":
        facts = self.collect(body, nested_globals=self.pb.mentions("global"))
        facts.assigned.update(mod.imported_vars)
        facts.assigned.update(mod.data_vars)
        return facts

    def collect(self, nodes, *, nested_globals: bool = False, includes: bool = True,
                seen: Optional[set] = None, facts: Optional["ScopeFacts"] = None) -> "ScopeFacts":
        """One walk over one scope's nodes (see ScopeFacts; added to `facts` if given),
        included statements too (each inclusion once, or not at all with includes=False;
        `seen`: the inclusions already collected).  With nested_globals, the names that
        nested functions declare `global` too.  Iterative: deep input cannot exhaust the
        Python stack."""
        facts = ScopeFacts() if facts is None else facts
        assigned, mentioned = facts.assigned, facts.mentioned
        stack = list(nodes)
        seen = set() if seen is None else seen
        while stack:
            n = stack.pop()
            t = type(n)
            if t is A.Var:
                mentioned.add(n.name)
                continue
            if t is A.Included:
                if includes and n.inclusion not in seen:
                    seen.add(n.inclusion)
                    stack.extend(n.inclusion.body)
                continue
            if t is A.FunctionDecl or t is A.ClassDecl:
                if nested_globals:
                    found = set()
                    self.collect_globals_of_nested(n, found)
                    if found:
                        facts.child_globals |= found
                        facts.reaching.add(n)
                continue
            if t is A.FuncExpr:
                assigned.update(n.captures)
                facts.captured.update(n.captures)
                if nested_globals:
                    self.collect_globals_of_nested(n, facts.child_globals)
                stack.extend(p.default for p in n.params if p.default is not None)
                continue
            if t is A.Assign or t is A.IncDec:
                root = lvalue_root(n.target)
                if root is not None:
                    assigned.add(root)
                    facts.wrote(root, n)
            elif t is A.Destructure:
                for tg in n.targets:
                    assigned.add(tg.name)
                if n.rest:
                    assigned.add(n.rest)
            elif t is A.Foreach:
                assigned.add(n.value)
                facts.wrote(n.value, n)
                if n.key:
                    assigned.add(n.key)
            elif t is A.Try:
                assigned.add(n.var)
            elif t is A.Barrier:
                if n.var:
                    assigned.add(n.var)
            elif t is A.Global:
                assigned.update(n.names)
                facts.globals.append(n)
            elif t is A.ImportData:
                assigned.add(n.var)
            elif t is A.Unset and type(n.target) is A.Var:
                facts.captured.add(n.target.name)
            stack.extend(A.iter_child_nodes(n))
        return facts

    def collect_globals_of_nested(self, node, out: set) -> None:
        stack = [node]
        seen = set()
        while stack:
            n = stack.pop()
            if isinstance(n, A.Global):
                out.update(n.names)
            elif type(n) is A.Included:
                if n.inclusion not in seen:
                    seen.add(n.inclusion)
                    stack.extend(n.inclusion.body)
            elif isinstance(n, A.Node):
                stack.extend(A.iter_child_nodes(n))

    # ------------------------------------------------------ declarations
    def declare_functions(self, scope: Scope, body) -> None:
        """Register (hoist) the named functions and classes declared in `body`."""
        table_f = scope.module.functions if scope.kind == "module" else scope.functions
        table_c = scope.module.classes if scope.kind == "module" else scope.classes
        for stmt, _, via in iter_declarations(body):
            self.guarded(self.declare_one, stmt, table_f, table_c, via)

    def declare_one(self, stmt, table_f: dict, table_c: dict, via=None) -> None:
        if isinstance(stmt, A.FunctionDecl):
            if stmt.name in table_f or stmt.name in table_c:
                self.duplicate(stmt, f"function {stmt.name}() is already declared", via)
            lo, hi = self.param_arity(stmt.params)
            pyname = self.pb.unique("f_" + stmt.name)
            table_f[stmt.name] = FuncInfo(stmt.name, pyname, lo, hi, stmt)
            self.pb.display_names[pyname] = stmt.name
        elif isinstance(stmt, A.ClassDecl):
            if stmt.name in table_f or stmt.name in table_c:
                self.duplicate(stmt, f"class {stmt.name} is already declared", via)
            ci = ClassInfo(stmt.name, self.pb.unique("c_" + stmt.name), stmt)
            self.check_class(ci, stmt)
            table_c[stmt.name] = ci

    def duplicate(self, decl, message: str, via=None):
        """`via`: (span, path) of the include, in this scope's file, that brought `decl` in;
        the error points at it."""
        if via is not None:
            span, path = via
            self.error(span, f"{message} (declared again by the included file \"{path}\" "
                             f"at line {decl.span.line})")
        self.error(decl, message)

    def check_class(self, ci: ClassInfo, node: A.ClassDecl) -> None:
        seen = set()
        ctor = None
        for m in node.members:
            if isinstance(m, A.Constructor):
                if ctor is not None:
                    self.error(m, f"class {node.name} has two constructors")
                ctor = m
                continue
            key = m.name
            if key in seen:
                self.error(m, f"duplicate member {key} in class {node.name}")
            seen.add(key)
            if isinstance(m, A.ClassVar):
                if m.readonly and m.static:
                    self.error(m, "a static variable cannot be readonly")
                if m.static:
                    ci.statics[m.name] = m
                if m.default is not None:
                    self.check_constant(m.default)
            elif isinstance(m, A.ClassMethod) and m.static:
                lo, hi = self.param_arity(m.params)
                py = self.pb.unique(f"s_{node.name}_{m.name}")
                ci.static_methods[m.name] = FuncInfo(m.name, py, lo, hi, m)
                self.pb.display_names[py] = f"{node.name}::{m.name}"
        if ctor is not None:
            ci.min_args, ci.max_args = self.param_arity(ctor.params)

    def param_arity(self, params) -> tuple[int, Optional[int]]:
        lo, hi, seen_default, names = 0, 0, False, set()
        for i, p in enumerate(params):
            if p.name in names:
                self.error(p, f"duplicate parameter ${p.name}")
            names.add(p.name)
            if p.variadic:
                if i != len(params) - 1:
                    self.error(p, "a variadic parameter must be the last")
                if p.default is not None:
                    self.error(p, "a variadic parameter cannot have a default")
                return lo, None
            hi += 1
            if p.default is not None:
                self.check_constant(p.default)
                seen_default = True
            elif seen_default:
                self.error(p, f"parameter ${p.name} without default follows one with a default")
            else:
                lo += 1
        return lo, hi

    def check_constant(self, expr) -> None:
        stack = [expr]
        while stack:
            n = stack.pop()
            if isinstance(n, (A.Number, A.String, A.Bool, A.NoneLit, A.Regex)):
                continue
            if isinstance(n, (A.ArrayLit, A.ArrayItem, A.Unary, A.Binary, A.Concat,
                              A.Logical, A.Coalesce, A.Cond, A.Paren, A.Spread)):
                stack.extend(A.iter_child_nodes(n))
                continue
            self.error(n, "default values must be constant expressions")

    def emit_declarations(self, scope: Scope, body) -> None:
        """Emit the hoisted function and class definitions of a scope."""
        for stmt, file_index, _ in iter_declarations(body):
            saved = self.file_index
            if file_index is not None:
                self.file_index = file_index
            try:
                self.guarded(self.emit_declaration, scope, stmt)
            finally:
                self.file_index = saved

    def emit_declaration(self, scope: Scope, stmt) -> None:
        if isinstance(stmt, A.FunctionDecl):
            table = scope.module.functions if scope.kind == "module" else scope.functions
            fi = table.get(stmt.name)
            if fi is None or fi.node is not stmt:
                return      # a duplicate (reported when declared)
            self.define(scope, stmt, fi.pyname, stmt.params, [], stmt.body, stmt,
                        display=stmt.name)
        elif isinstance(stmt, A.ClassDecl):
            table = scope.module.classes if scope.kind == "module" else scope.classes
            ci = table.get(stmt.name)
            if ci is None or ci.node is not stmt:
                return
            self.class_decl(scope, ci, stmt)

    # ------------------------------------------------------------ functions
    def define(self, scope: Scope, owner, pyname: str, *args, **kw) -> None:
        """self.function(scope, pyname, ...) for a function or method declared in `owner`.
        At a module's top level, unless `owner` declares `global` somewhere, the function
        is defined outside the module function, made by a factory `D_<pyname>(R)` that
        the module function calls each run: CPython compiles each function nested in
        another in time proportional to the outer one's variables, quadratic for a long
        script.  Such a function reaches the module function's names through R."""
        if scope.kind != "module" or owner in self.reaching:
            self.function(scope, pyname, *args, **kw)
            return
        main, outside = self.w, self.pb.outside
        saved = self.hoisted, outside.indent, self.own
        # (the factory's own function is a local of the factory: recursion needs no R)
        self.w, self.hoisted, self.own = outside, True, pyname
        try:
            outside.indent = 0
            outside.pos = main.pos
            outside.emit(f"def D_{pyname}(R):")
            outside.indent = 1
            self.function(scope, pyname, *args, **kw)
            outside.emit(f"return {pyname}")
        finally:
            self.w = main
            self.hoisted, outside.indent, self.own = saved
        main.emit(f"{pyname} = D_{pyname}(R)")

    def name(self, pyname: str) -> str:
        """Code for a name bound in the module function, from here (see define)."""
        if self.hoisted and pyname in self.module_names and pyname != self.own:
            self.r_refs.add(pyname)
            return "R." + pyname
        return pyname

    def function(self, outer: Scope, pyname: str, params, captures, body, node,
                 display: str, cls: Optional[ClassInfo] = None, method: bool = False,
                 static: bool = False) -> None:
        """Emit `def pyname(...)` for an HSL function body."""
        if self.depth > MAX_COMPILED_NESTING:
            self.error(node, f"nesting too deep (limit {MAX_COMPILED_NESTING} levels)")
        saved_include = self.in_include, self.exits
        self.in_include, self.exits = False, {}
        try:
            self._function(outer, pyname, params, captures, body, node, display, cls,
                           method, static)
        finally:
            self.in_include, self.exits = saved_include

    def _function(self, outer: Scope, pyname: str, params, captures, body, node,
                  display: str, cls: Optional[ClassInfo], method: bool, static: bool) -> None:
        self.depth += 1
        scope = Scope("function", outer.module, outer, cls=cls, static=static, name=display)
        self.pb.display_names[pyname] = display
        facts = self.collect(body)
        assigned, mentioned = facts.assigned, facts.mentioned
        mentioned |= self.collect([p.default for p in params if p.default is not None]).mentioned
        param_names = [p.name for p in params]
        for p in params:
            if p.name == "this":
                self.error(p, "$this cannot be a parameter name (instance methods bind it)")
        # Global declarations and closure captures bind outer variables by reference.
        globals_declared = {}
        for g in facts.globals:
            for name in g.names:
                if name in param_names:
                    self.error(g, f"${name} is a parameter and cannot be declared global")
                if name in captures:
                    self.error(g, f"${name} is captured and cannot be declared global")
                globals_declared.setdefault(name, g)
        module_scope_vars = self.pb.module_scopes[outer.module.index]
        for name in captures:
            if name in param_names:
                self.error(node, f"closure captures ${name}, which is also a parameter")
            ob = outer.vars.get(name)
            if ob is None:
                self.error(node, f"undefined variable ${name}")
            scope.vars[name] = Binding(ob.pyname, ob.cell, ob.readonly)
            if not ob.cell:
                scope.nonlocals.add(ob.pyname)
        for name, g in globals_declared.items():
            site = facts.first_writes.get(name)
            if site is not None and (site.span.line, site.span.col) < (g.span.line, g.span.col):
                self.error(site, f"${name} is already a local variable; global ${name} must "
                                 "come before any use of it")
        for name, g in globals_declared.items():
            gb = module_scope_vars.get(name)
            if gb is None:
                gb = Binding("g_" + name)
            scope.vars[name] = Binding(gb.pyname, gb.cell, gb.readonly)
            if not gb.cell:
                scope.nonlocals.add(gb.pyname)
        if method and not static:
            scope.vars["this"] = Binding("v_this")
        for name in param_names:
            scope.vars[name] = Binding("v_" + name)
        for name in assigned:
            if name not in scope.vars:
                scope.vars[name] = Binding("v_" + name)
        if "this" in mentioned and "this" not in scope.vars:
            self.error(node, "$this is only available in instance methods")
        scope.assigned = assigned | set(param_names)
        if method and not static:
            scope.assigned.add("this")          # set on entry, like a parameter
        scope.captured = facts.captured
        self.declare_functions(scope, body)

        args = []
        if method and not static:
            args.append("v_this")
        for p in params:
            if p.variadic:
                args.append(f"*v_{p.name}")
            elif p.default is not None:
                args.append(f"v_{p.name}=_D")
            else:
                args.append(f"v_{p.name}")
        w = self.w
        self.at(node)
        w.emit(f"def {pyname}({', '.join(args)}):")
        w.indent += 1
        if scope.nonlocals:
            w.emit("nonlocal " + ", ".join(sorted(scope.nonlocals)))
        local_names = sorted({b.pyname for b in scope.vars.values()
                              if not b.cell and b.pyname not in scope.nonlocals
                              and b.pyname[2:] not in param_names and b.pyname != "v_this"})
        if local_names:
            # Never runs; it makes each variable a local here, so closures can bind to it.
            w.emit("if False: " + " = ".join(local_names) + " = None")
        w.emit("R.depth += 1")
        w.emit("if R.depth > R.max_depth: R.too_deep()")
        w.emit("R.steps -= 1")
        w.emit("if R.steps <= 0: R.tick()")
        w.emit("try:")
        w.indent += 1
        for p in params:
            if p.variadic:
                w.emit(f"v_{p.name} = _HArray.from_list(v_{p.name})")
            elif p.default is not None:
                self.at(p)
                w.emit(f"if v_{p.name} is _D: v_{p.name} = ({self.expr(scope, p.default)})")
        self.emit_declarations(scope, body)
        w.emit("pass")
        unsafe = scope.captured | {name for name in globals_declared}
        scope.definite = {p.name for p in params} - unsafe
        if method and not static:
            scope.definite.add("this")
        self.emit_inclusions(scope, body)
        self.body(scope, body, unsafe)
        w.indent -= 1
        w.emit("finally:")
        w.emit("    R.depth -= 1")
        w.indent -= 1
        self.depth -= 1

    def class_decl(self, scope: Scope, ci: ClassInfo, node: A.ClassDecl) -> None:
        w = self.w
        methods, statics_init, ivars = [], [], []
        ctor = None
        for m in node.members:
            if isinstance(m, A.Constructor):
                ctor = m
            elif isinstance(m, A.ClassMethod):
                if m.static:
                    fi = ci.static_methods[m.name]
                    self.define(scope, node, fi.pyname, m.params, [], m.body, m,
                                display=fi.name, cls=ci, method=True, static=True)
                    self.pb.display_names[fi.pyname] = f"{node.name}::{m.name}"
                    methods.append((m.name, fi.pyname, fi.min_args, fi.max_args, m.private, True))
                else:
                    py = self.pb.unique(f"m_{node.name}_{m.name}")
                    self.define(scope, node, py, m.params, [], m.body, m,
                                display=f"{node.name}->{m.name}", cls=ci, method=True)
                    lo, hi = self.param_arity(m.params)
                    methods.append((m.name, py, lo, hi, m.private, False))
            elif isinstance(m, A.ClassVar):
                default = self.expr(scope, m.default) if m.default is not None else "None"
                if m.static:
                    statics_init.append(f"({m.name!r}, {default}, {m.private})")
                else:
                    ivars.append(f"({m.name!r}, lambda: ({default}), {m.private}, {m.readonly})")
        ctor_py = "None"
        if ctor is not None:
            ctor_py = self.pb.unique(f"k_{node.name}")
            self.define(scope, node, ctor_py, ctor.params, [], ctor.body, ctor,
                        display=f"{node.name}->constructor", cls=ci, method=True)
        self.at(node)
        meth = ", ".join(f"({n!r}, {py}, {lo}, {hi!r}, {priv}, {st})"
                         for n, py, lo, hi, priv, st in methods)
        w.emit(f"{ci.pyname} = _UserClass({node.name!r}, [{', '.join(ivars)}], [{meth}], "
               f"[{', '.join(statics_init)}], {ctor_py}, {ci.min_args}, {ci.max_args!r})")

    # ------------------------------------------------------------ statements
    def block(self, scope: Scope, body) -> None:
        if self.pb.collecting:
            for stmt in body:
                self.guarded(self.stmt, scope, stmt)
            return
        for stmt in body:
            self.stmt(scope, stmt)

    def body(self, scope: Scope, body, never_definite: set) -> None:
        """A scope's top-level statements: a plain assignment here binds its variable for
        the rest of the scope (unless something may unset it)."""
        collecting = self.pb.collecting
        for stmt in body:
            if collecting:
                self.guarded(self.stmt, scope, stmt)
            else:
                self.stmt(scope, stmt)
            if type(stmt) is A.ExprStmt and type(stmt.expr) is A.Assign \
                    and type(stmt.expr.target) is A.Var:
                name = stmt.expr.target.name
                b = scope.vars.get(name)
                if b is not None and not b.cell and name not in never_definite:
                    scope.definite.add(name)

    def stmt(self, scope: Scope, s) -> None:
        w = self.w
        self.at(s)
        t = type(s)
        if t is A.ExprStmt:
            self.expr_stmt(scope, s.expr)
        elif t is A.Echo:
            w.emit(f"R.echo({self.expr(scope, s.expr)})")
        elif t is A.If:
            w.emit(f"if {self.cond(scope, s.test)}:")
            self.sub(scope, s.then)
            other = s.other
            extra = 0
            while other is not None:
                if type(other) is A.If:
                    self.at(other)
                    mark = len(w.lines)
                    test = self.cond(scope, other.test)
                    if len(w.lines) > mark:
                        # The test defined a function: its def cannot sit before an
                        # `elif`, so continue the chain inside an `else:` block.
                        moved = w.take(mark)
                        w.emit("else:")
                        w.indent += 1
                        extra += 1
                        w.put(moved)
                        w.emit(f"if {test}:")
                    else:
                        w.emit(f"elif {test}:")
                    self.sub(scope, other.then)
                    other = other.other
                else:
                    w.emit("else:")
                    self.sub(scope, other)
                    other = None
            w.indent -= extra
        elif t is A.Block:
            self.nested(s, self.block, scope, s.body)
        elif t is A.Empty:
            pass
        elif t is A.While:
            w.emit("while True:")
            w.indent += 1
            self.tick()
            w.emit(f"if not {self.cond(scope, s.test, 'while')}: break")
            self.loop_body(scope, s.body)
            w.indent -= 1
        elif t is A.Forever:
            w.emit("while True:")
            w.indent += 1
            self.tick()
            self.loop_body(scope, s.body)
            w.indent -= 1
        elif t is A.For:
            if s.init is not None:
                self.expr_stmt(scope, s.init)
            self.at(s)
            if s.step is not None:
                first = scope.temp()
                w.emit(f"{first} = True")
                w.emit("while True:")
                w.indent += 1
                w.emit(f"if {first}: {first} = False")
                w.emit("else:")
                w.indent += 1
                self.expr_stmt(scope, s.step)
                w.indent -= 1
            else:
                w.emit("while True:")
                w.indent += 1
            self.tick()
            if s.test is not None:
                self.at(s.test)
                w.emit(f"if not {self.cond(scope, s.test, 'for')}: break")
            self.loop_body(scope, s.body)
            w.indent -= 1
        elif t is A.Foreach:
            self.foreach(scope, s)
        elif t is A.Switch:
            self.switch(scope, s)
        elif t is A.Break:
            self.emit_break(scope, s)
        elif t is A.Continue:
            self.emit_continue(scope, s)
        elif t is A.Return:
            if s.value is None:
                code = "None"
            elif type(s.value) is A.Var and scope.kind == "function" \
                    and s.value.name not in scope.captured \
                    and (b := scope.vars.get(s.value.name)) is not None \
                    and not b.cell and b.pyname not in scope.nonlocals:
                # The local dies with the call, so its array needs no copy-on-write mark.
                code = f"({self.expr(scope, s.value)})"
            else:
                code = f"({self.transfer(scope, s.value)})"
            if self.in_include:
                self.exits.setdefault("return", (self.file_index, s))
                w.emit(f"return ({code},)")
            else:
                w.emit(f"return {code}")
        elif t is A.Global:
            if scope.kind != "function":
                self.error(s, "global outside of a function")
        elif t is A.Throw:
            w.emit(f"raise _ThrownValue({self.transfer(scope, s.value)})")
        elif t is A.Try:
            self.try_stmt(scope, s)
        elif t is A.Barrier:
            self.barrier(scope, s)
        elif t in (A.FunctionDecl, A.ClassDecl):
            pass    # hoisted
        elif t in (A.ImportSymbols, A.ImportAll, A.ImportData):
            pass    # handled at module start
        elif t is A.Included:
            self.include_site(scope, s)
        elif t is A.Include:
            self.error(s, "internal: include was not expanded")
        else:
            self.error(s, f"unsupported statement {t.__name__}")

    def emit_break(self, scope: Scope, node, file_index: Optional[int] = None) -> None:
        """`break` here; `file_index`: of `node`, when it is not the current file (a
        break that left an inclusion)."""
        fi = self.file_index if file_index is None else file_index
        if not scope.breakables:
            self.soft_error(node, "break outside of a loop or switch", fi)
        elif scope.breakables[-1][0] == "include":
            self.exits.setdefault("break", (fi, node))
            self.w.emit("return 1")
        else:
            self.w.emit("break")

    def emit_continue(self, scope: Scope, node, file_index: Optional[int] = None) -> None:
        fi = self.file_index if file_index is None else file_index
        target = next((b[0] for b in reversed(scope.breakables) if b[0] != "switch"), None)
        if target is None:
            self.soft_error(node, "continue outside of a loop", fi)
            return
        if target == "include":
            self.exits.setdefault("continue", (fi, node))
        if scope.breakables[-1][0] == "switch":
            # Leave every switch between here and the loop, then continue it.
            self.w.emit(f"{scope.breakables[-1][1]} = True")
            self.w.emit("break")
        elif target == "include":
            self.w.emit("return 2")
        else:
            self.w.emit("continue")

    def include_site(self, scope: Scope, node: A.Included) -> None:
        """Call the inclusion's function; act on the break, continue or return that may
        have left it."""
        entry = scope.inclusions.get(node.inclusion)
        if entry is None:
            return      # (collecting errors: its function did not compile, reported)
        name, exits = entry
        w = self.w
        if not exits:
            w.emit(f"{name}()")
            return
        t = scope.temp()
        w.emit(f"{t} = {name}()")
        w.emit(f"if {t} is not None:")
        w.indent += 1
        keyword = "if"
        for kind, code, emit in (("break", 1, self.emit_break),
                                 ("continue", 2, self.emit_continue)):
            if kind in exits:
                w.emit(f"{keyword} {t} == {code}:")
                w.emit("    pass")
                w.indent += 1
                fi, where = exits[kind]
                emit(scope, where, fi)
                w.indent -= 1
                keyword = "elif"
        if "return" in exits:
            if keyword == "elif":
                w.emit("else:")
                w.indent += 1
            if self.in_include:
                self.exits.setdefault("return", exits["return"])
                w.emit(f"return {t}")
            elif scope.kind == "function":
                w.emit(f"return {t}[0]")
            else:
                w.emit("return None")
            if keyword == "elif":
                w.indent -= 1
        w.indent -= 1

    def emit_inclusions(self, scope: Scope, body) -> None:
        """Each inclusion the scope reaches becomes one nested function, defined here and
        called at each of its sites: included statements are compiled once per including
        scope, however often they are included.  `nonlocal` gives them the scope's
        variables; break, continue and return leave the function with 1, 2 or (value,)
        for the site to act on (see include_site)."""
        if not self.pb.has_includes:
            return
        saved = self.file_index, scope.breakables, self.in_include, self.exits, self.w.pos
        try:
            for inc in scope_inclusions(body):      # (an inclusion after those it reaches)
                self.file_index = inc.file_index
                scope.breakables = [("include", None)]
                self.in_include, self.exits = True, {}
                name = self.pb.unique("inc")
                self.guarded(self.inclusion_function, scope, inc, name)
                scope.inclusions[inc] = (name, self.exits)
        finally:
            self.file_index, scope.breakables, self.in_include, self.exits, self.w.pos = saved

    def inclusion_function(self, scope: Scope, inc, name: str) -> None:
        w = self.w
        w.pos = (inc.file_index, 1, 1)
        w.emit(f"def {name}():")
        w.indent += 1
        names = self.collect(inc.body, includes=False).mentioned
        bound = sorted({b.pyname for n in names
                        if (b := scope.vars.get(n)) is not None and not b.cell})
        if bound:
            w.emit("nonlocal " + ", ".join(bound))
        self.tick()             # (an include bomb runs within the step and time budgets)
        self.block(scope, inc.body)
        w.indent -= 1

    def tick(self) -> None:
        self.w.emit("R.steps -= 1")
        self.w.emit("if R.steps <= 0: R.tick()")

    def nested(self, node, fn, *args):
        """fn(*args) one level deeper: every nesting the compiler recurses into counts, so
        deep input is a clean error here rather than a RecursionError anywhere."""
        if self.depth > MAX_COMPILED_NESTING:
            self.error(node, f"nesting too deep (limit {MAX_COMPILED_NESTING} levels)")
        self.depth += 1
        try:
            return fn(*args)
        finally:
            self.depth -= 1

    def sub(self, scope: Scope, s) -> None:
        self.w.indent += 1
        self.w.emit("pass")
        if type(s) is A.Block:          # (a block counts its own level)
            self.stmt(scope, s)
        else:
            self.nested(s, self.stmt, scope, s)
        self.w.indent -= 1

    def loop_body(self, scope: Scope, body) -> None:
        scope.breakables.append(("loop", None))
        try:
            self.w.emit("pass")
            if type(body) is A.Block:
                self.stmt(scope, body)
            else:
                self.nested(body, self.stmt, scope, body)
        finally:
            scope.breakables.pop()

    def foreach(self, scope: Scope, s: A.Foreach) -> None:
        w = self.w
        vb = self.binding(scope, s.value, s, write=True)
        it = self.expr(scope, s.iterable)
        if s.key is not None:
            kb = self.binding(scope, s.key, s, write=True)
            k, v = scope.temp(), scope.temp()
            w.emit(f"for {k}, {v} in _iter_items({it}):")
            w.indent += 1
            w.emit(self.store(kb, k))
        else:
            v = scope.temp()
            w.emit(f"for {v} in _iter_values({it}):")
            w.indent += 1
        w.emit(self.store(vb, f"({v}.share() if type({v}) is _HArray else {v})"))
        self.tick()
        self.loop_body(scope, s.body)
        w.indent -= 1

    def switch(self, scope: Scope, s: A.Switch) -> None:
        w = self.w
        subj, start, cont = scope.temp(), scope.temp(), scope.temp()
        defaults = [i for i, c in enumerate(s.cases) if c.test is None]
        if len(defaults) > 1:
            self.error(s.cases[defaults[1]], "switch has more than one default")
        w.emit(f"{subj} = ({self.expr(scope, s.subject)})")
        fallback = defaults[0] if defaults else len(s.cases)
        w.emit(f"{start} = {fallback}")
        extra = 0
        first = True
        for i, case in enumerate(s.cases):
            if case.test is None:
                continue
            self.at(case)
            mark = len(w.lines)
            test = f"_leq({subj}, {self.expr(scope, case.test)})"
            if self.pb.trace:
                end = (case.test.span.end_line, case.test.span.end_col)
                test = (f"R.tc({test}, {self.file_index}, {case.test.span.line}, "
                        f"{case.test.span.col}, 'case', {end!r})")
            if len(w.lines) > mark and not first:
                moved = w.take(mark)
                w.emit("else:")
                w.indent += 1
                extra += 1
                w.put(moved)
                first = True
            w.emit(f"{'if' if first else 'elif'} {test}: {start} = {i}")
            first = False
        w.indent -= extra
        w.emit(f"{cont} = False")
        w.emit("while True:")
        w.indent += 1
        scope.breakables.append(("switch", cont))
        try:
            for i, case in enumerate(s.cases):
                if not case.body:
                    continue
                self.at(case)
                w.emit(f"if {start} <= {i}:")
                w.indent += 1
                w.emit("pass")
                self.nested(case, self.block, scope, case.body)
                w.indent -= 1
            w.emit("break")
        finally:
            scope.breakables.pop()
        w.indent -= 1
        kinds = [b[0] for b in scope.breakables]
        if "loop" in kinds or "include" in kinds:      # a continue may have left it
            if kinds[-1] == "switch":
                w.emit(f"if {cont}: {scope.breakables[-1][1]} = True; break")
            elif kinds[-1] == "loop":
                w.emit(f"if {cont}: continue")
            else:
                w.emit(f"if {cont}: return 2")

    def try_stmt(self, scope: Scope, s: A.Try) -> None:
        w = self.w
        vb = self.binding(scope, s.var, s, write=True)
        exc = scope.temp()
        w.emit("try:")
        w.indent += 1
        w.emit("pass")
        self.nested(s, self.block, scope, s.body)
        w.indent -= 1
        w.emit(f"except _Catchable as {exc}:")
        w.indent += 1
        w.emit(self.store(vb, f"R.caught({exc})"))
        self.nested(s, self.block, scope, s.handler)
        w.emit("pass")
        w.indent -= 1

    def barrier(self, scope: Scope, s: A.Barrier) -> None:
        w = self.w
        name = scope.temp()
        w.emit(f"{name} = R.barrier_enter({self.expr(scope, s.name)})")
        w.emit("try:")
        w.indent += 1
        if s.var is not None:
            vb = self.binding(scope, s.var, s, write=True)
            w.emit(f"if R.barrier_isset({name}): " + self.store(vb, f"R.barrier_get({name})"))
            w.emit("else:")
            w.emit("    try: " + self.unset_binding(vb))
            w.emit("    except NameError: pass")
        w.emit("pass")
        self.nested(s, self.block, scope, s.body)
        w.indent -= 1
        w.emit("finally:")
        w.indent += 1
        if s.var is not None:
            vb = scope.vars[s.var]
            w.emit(f"R.barrier_leave({name}, {self.soft_read(vb)})")
        else:
            w.emit(f"R.barrier_leave({name}, _UNSET)")
        w.indent -= 1

    # ------------------------------------------------------------- imports
    def emit_import(self, scope: Scope, s) -> None:
        mod = scope.module
        target = self.pb.imported.get((mod.index, id(s)))
        if target is None:
            return      # (collecting errors: this import failed, reported)
        m = f"_m{target.index}"
        self.at(s)
        self.w.emit(f"{m} = R.module({target.index}, {target.pyname})")
        if isinstance(s, A.ImportAll):
            self.w.emit(f"ns_{s.alias} = {m}")
            return
        for item in s.items:
            local = item.alias or item.name
            if item.is_var:
                self.w.emit(f"ic_{local} = {m}[{('v:' + item.name)!r}]")
            elif ("c:" + item.name) in self.pb.exports_of(target):
                ci = mod.classes[local]
                self.w.emit(f"{ci.pyname} = {m}[{('c:' + item.name)!r}]")
            else:
                fi = mod.functions.get(local)
                if fi is None:      # (collecting errors: this import failed, reported)
                    continue
                self.w.emit(f"{fi.pyname} = {m}[{('f:' + item.name)!r}]")

    # ---------------------------------------------------------- variables
    def binding(self, scope: Scope, name: str, node, write: bool = False) -> Binding:
        b = scope.vars.get(name)
        if b is None:
            if scope.kind == "module":
                b = scope.vars[name] = Binding("g_" + name)
            else:
                self.error(node, f"undefined variable ${name}")
        if write and b.readonly:
            self.soft_error(node, f"${name} is read-only")
        return b

    def store(self, b: Binding, value: str) -> str:
        if b.cell:
            return f"{b.pyname}.cell_contents = {value}"
        return f"{b.pyname} = {value}"

    def store_expr(self, b: Binding, value: str) -> str:
        if b.cell:
            return f"_cell_set({b.pyname}, {value})"
        return f"({b.pyname} := {value})"

    def read(self, b: Binding) -> str:
        if b.cell:
            return f"_cell_get({b.pyname})"
        return b.pyname

    def soft_read(self, b: Binding, scope: Optional[Scope] = None, name: str = "") -> str:
        """The variable's value, or _UNSET if it is not defined (never raises)."""
        if b.cell:
            return f"_cell_soft({b.pyname})"
        if scope is not None and name in scope.definite:
            return b.pyname
        return f"({b.pyname} if {b.pyname!r} in locals() else _UNSET)"

    def unset_binding(self, b: Binding) -> str:
        if b.cell:
            return f"_cell_del({b.pyname})"
        return f"del {b.pyname}"

    def var_read(self, scope: Scope, node: A.Var) -> str:
        b = scope.vars.get(node.name)
        if b is None or (scope.kind == "function" and node.name not in scope.assigned
                         and not b.cell and b.pyname.startswith("v_")):
            if scope.kind == "module" and b is None:
                return f"_undefined({node.name!r})"
            if b is None:
                self.error(node, f"undefined variable ${node.name}")
        if scope.kind == "module" and self.pb.strict_globals and node.name not in scope.assigned \
                and not b.cell and node.name not in scope.module.data_vars:
            self.error(node, f"undefined variable ${node.name}")
        return self.read(b)

    # --------------------------------------------------------- expressions
    def expr_stmt(self, scope: Scope, e) -> None:
        """An expression whose value is discarded: assignments become statements."""
        w = self.w
        while type(e) is A.Paren:
            e = e.expr
        t = type(e)
        if t is A.Assign:
            self.assign_stmt(scope, e)
        elif t is A.IncDec:
            self.at(e)
            self.incdec_stmt(scope, e)
        elif t is A.Unset and type(e.target) is A.Var:
            b = self.binding(scope, e.target.name, e.target, write=True)
            w.emit("try:")
            w.emit("    " + self.unset_binding(b))
            w.emit("except NameError: pass")
        else:
            w.emit(f"_ = ({self.expr(scope, e)})")

    def cond(self, scope: Scope, e, kind: str = "if") -> str:
        """A Python expression for HSL truthiness of `e` (Python truthiness matches HSL's
        for every HSL value representation)."""
        if self.pb.trace:
            end = (e.span.end_line, e.span.end_col)
            return (f"R.tc({self.expr(scope, e)}, {self.file_index}, {e.span.line}, "
                    f"{e.span.col}, {kind!r}, {end!r})")
        return f"({self.expr(scope, e)})"

    def transfer(self, scope: Scope, e) -> str:
        """The value of `e` as it is handed to a new holder: arrays read from a variable,
        element or property are shared (copy-on-write) so the holders stay independent."""
        code = self.expr(scope, e)
        if is_place(e):
            return self.share_code(scope, code)
        return code

    def share_code(self, scope: Scope, code: str) -> str:
        tmp = scope.temp()
        return f"({tmp}.share() if type({tmp} := {code}) is _HArray else {tmp})"

    def expr(self, scope: Scope, e) -> str:
        while type(e) is A.Paren:       # grouping costs no nesting in the generated code
            e = e.expr
        self.depth += 1
        if self.depth > MAX_COMPILED_NESTING:
            self.depth = 0
            self.error(e, f"expression nested too deeply (limit {MAX_COMPILED_NESTING} levels)")
        try:
            return self._expr(scope, e)
        finally:
            self.depth -= 1

    def _expr(self, scope: Scope, e) -> str:
        t = type(e)
        m = self.mark(e)
        if t is A.Number:
            return repr(float(e.value))
        if t is A.String:
            return qb(e.value)
        if t is A.Bool:
            return "True" if e.value else "False"
        if t is A.NoneLit:
            return "None"
        if t is A.Var:
            return m + self.var_read(scope, e)
        if t is A.Paren:
            return self.expr(scope, e.expr)
        if t is A.Interp:
            parts = []
            for p in e.parts:
                if isinstance(p, bytes):
                    parts.append(qb(p))
                else:
                    parts.append(f"_str({self.expr(scope, p)})")
            return m + "_interpolate((" + ", ".join(parts) + ",))"
        if t is A.Regex:
            idx = self.pb.regex_const(e, self)
            return f"K[{idx}]"
        if t is A.Concat:
            parts = [self.expr(scope, p) for p in e.parts]
            return m + "_concat_many((" + ", ".join(parts) + ",))"
        if t is A.Binary:
            return m + self.binary(scope, e)
        if t is A.Unary:
            if e.op == "-" and type(e.operand) is A.Number:
                return repr(-float(e.operand.value))
            inner = self.expr(scope, e.operand)
            if e.op == "!":
                return f"(not {inner})"
            helper = {"-": "_neg", "+": "_pos", "~": "_bnot"}[e.op]
            return f"{m}{helper}({inner})"
        if t is A.Logical:
            left, right = self.expr(scope, e.left), self.expr(scope, e.right)
            return f"(True if ({left}) {e.op} ({right}) else False)"
        if t is A.Coalesce:
            tmp = scope.temp()
            left = self.soft_expr(scope, e.left)
            return (f"({tmp} if ({tmp} := {left}) is not None and {tmp} is not _UNSET "
                    f"else {self.expr(scope, e.right)})")
        if t is A.Cond:
            test = self.expr(scope, e.test)
            if e.then is None:
                tmp = scope.temp()
                return f"({tmp} if ({tmp} := {test}) else {self.expr(scope, e.other)})"
            return (f"(({self.expr(scope, e.then)}) if ({test}) "
                    f"else ({self.expr(scope, e.other)}))")
        if t is A.ArrayLit:
            return m + self.array_lit(scope, e)
        if t is A.Call:
            return m + self.call(scope, e)
        if t is A.Index:
            if e.index is None:
                self.error(e, "[] can only be used as an assignment target")
            tmp = scope.temp()
            target, index = self.expr(scope, e.target), self.expr(scope, e.index)
            return (f"{m}({tmp}.get({index}) if type({tmp} := {target}) is _HArray "
                    f"else _index({tmp}, {index}))")
        if t is A.Slice:
            parts = [self.expr(scope, x) if x is not None else "None"
                     for x in (e.start, e.stop, e.step)]
            return f"{m}_slice({self.expr(scope, e.target)}, {', '.join(parts)})"
        if t is A.Prop:
            return f"{m}_getprop({self.expr(scope, e.target)}, {e.name!r}, {self.class_ctx(scope)})"
        if t is A.Static:
            return m + self.static_read(scope, e)
        if t is A.NameRef:
            return m + self.name_ref(scope, e)
        if t is A.Assign:
            return m + self.assign_expr(scope, e)
        if t is A.IncDec:
            return m + self.incdec_expr(scope, e)
        if t is A.Isset:
            return m + self.isset(scope, e.target)
        if t is A.Unset:
            return m + self.unset_expr(scope, e)
        if t is A.FuncExpr:
            return m + self.func_expr(scope, e)
        if t is A.Match:
            return m + self.match(scope, e)
        if t is A.Destructure:
            return m + self.destructure(scope, e)
        if t is A.CacheCall:
            return m + self.cache_call(scope, e)
        if t is A.Spread:
            self.error(e, "'...' is only allowed in calls and array literals")
        self.error(e, f"unsupported expression {t.__name__}")

    def binary(self, scope: Scope, e: A.Binary) -> str:
        op = e.op
        left, right = self.expr(scope, e.left), self.expr(scope, e.right)
        helper = BINARY_HELPERS[op]
        if op in FLOAT_FAST:
            return self.float_fast(scope, op, helper, (left, e.left), (right, e.right))
        return f"{helper}({left}, {right})"

    def float_fast(self, scope: Scope, op: str, helper: str, *operands) -> str:
        """`a OP b` with Python's float operator when both operands are numbers (the
        common case), else the HSL helper. Complex operands go through temporaries so each
        is evaluated exactly once, left to right."""
        codes, checks, simple = [], [], True
        for code, node in operands:
            if type(node) is A.Number or (type(node) is A.Unary and node.op == "-"
                                          and type(node.operand) is A.Number):
                codes.append(code)
            elif type(node) is A.Var:
                codes.append(code)
                checks.append(f"(type({code}) is float)")
            else:
                tmp = scope.temp()
                codes.append(tmp)
                checks.append(f"(type({tmp} := {code}) is float)")
                simple = False
        if not checks:
            return f"{helper}({codes[0]}, {codes[1]})"
        # `and` may skip evaluating a later operand; `&` evaluates every check.
        test = (" and " if simple else " & ").join(checks)
        return (f"({codes[0]} {FLOAT_FAST[op]} {codes[1]} if {test} "
                f"else {helper}({codes[0]}, {codes[1]}))")

    def array_lit(self, scope: Scope, e: A.ArrayLit) -> str:
        if not e.items:
            return "_HArray()"
        if all(it.key is None and type(it.value) is not A.Spread for it in e.items):
            vals = ", ".join(self.transfer(scope, it.value) for it in e.items)
            return f"_HArray.from_list([{vals}])"
        parts = []
        for it in e.items:
            if type(it.value) is A.Spread:
                parts.append(f"(2, {self.expr(scope, it.value.value)})")
            elif it.key is None:
                parts.append(f"(0, {self.transfer(scope, it.value)})")
            else:
                parts.append(f"(1, {self.expr(scope, it.key)}, {self.transfer(scope, it.value)})")
        return "_build_array((" + ", ".join(parts) + ",))"

    def class_ctx(self, scope: Scope) -> str:
        s = scope
        while s is not None:
            if s.cls is not None:
                return self.name(s.cls.pyname)
            s = s.parent
        return "None"

    # calls ---------------------------------------------------------------
    def args(self, scope: Scope, args, user: bool) -> tuple[str, bool]:
        parts, spread = [], False
        for a in args:
            if type(a) is A.Spread:
                spread = True
                parts.append(f"*_spread({self.expr(scope, a.value)})")
            else:
                parts.append(self.transfer(scope, a) if user else self.expr(scope, a))
        return ", ".join(parts), spread

    def check_arity(self, node, name: str, lo: int, hi: Optional[int], n: int) -> None:
        if n < lo or (hi is not None and n > hi):
            self.soft_error(node, arity_message(name, lo, hi, n))

    def call(self, scope: Scope, e: A.Call) -> str:
        callee = e.callee
        n = len(e.args)
        if type(callee) is A.NameRef:
            name = callee.name
            if not callee.builtin:
                fi = scope.lookup_function(name)
                if fi is not None:
                    args, spread = self.args(scope, e.args, user=True)
                    if spread:
                        return f"_call_checked({self.name(fi.pyname)}, {name!r}, {fi.min_args}, {fi.max_args!r}, {args})"
                    self.check_arity(e, name, fi.min_args, fi.max_args, n)
                    return f"{self.name(fi.pyname)}({args})"
                ci = scope.lookup_class(name)
                if ci is not None:
                    args, spread = self.args(scope, e.args, user=True)
                    if not spread:
                        self.check_arity(e, name, ci.min_args, ci.max_args, n)
                    return f"{self.name(ci.pyname)}.new({args})"
            b = self.pb.builtins.get(name)
            if b is not None:
                args, spread = self.args(scope, e.args, user=False)
                pyname = self.pb.builtin_ref(name)
                if spread:
                    return f"_call_checked({pyname}, {name!r}, {b.min_args!r}, {b.max_args!r}, {args})"
                self.check_arity(e, name, b.min_args, b.max_args, n)
                return f"{pyname}({args})"
            bc = self.pb.builtin_classes.get(name)
            if bc is not None and not callee.builtin:
                args, spread = self.args(scope, e.args, user=False)
                pyname = self.pb.builtin_class_ref(name)
                if not spread:
                    self.check_arity(e, name, bc.min_args, bc.max_args, n)
                return f"_new_builtin({pyname}, {args})"
            if callee.builtin:
                self.error(callee, f"builtin {name} is not a builtin function")
            self.soft_error(callee, f"undefined function {name}()" + self.pb.suggest(scope, name))
            self.args(scope, e.args, user=False)     # (collecting: check the arguments too)
            return "None"
        if type(callee) is A.Static:
            return self.static_call(scope, e, callee)
        if type(callee) is A.Prop:
            obj = self.expr(scope, callee.target)
            args, _ = self.args(scope, e.args, user=True)
            sep = ", " if args else ""
            return f"_call_method({obj}, {callee.name!r}, {self.class_ctx(scope)}{sep}{args})"
        f = self.expr(scope, callee)
        args, _ = self.args(scope, e.args, user=True)
        sep = ", " if args else ""
        return f"_call_value({f}{sep}{args})"

    def static_call(self, scope: Scope, e: A.Call, callee: A.Static) -> str:
        if callee.is_var:
            target = self.static_read(scope, callee)
            args, _ = self.args(scope, e.args, user=True)
            sep = ", " if args else ""
            return f"_call_value({target}{sep}{args})"
        n = len(e.args)
        ci = self.static_scope_class(scope, callee)
        if ci is not None:
            fi = ci.static_methods.get(callee.member)
            if fi is None:
                self.error(callee, f"undefined function {ci.name}::{callee.member}()")
            if fi.node is not None and fi.node.private and self.enclosing_class(scope) is not ci:
                self.error(callee, f"{ci.name}::{callee.member}() is private")
            args, spread = self.args(scope, e.args, user=True)
            fn = self.static_method_ref(ci, fi)
            if spread:
                return f"_call_checked({fn}, {callee.member!r}, {fi.min_args}, {fi.max_args!r}, {args})"
            self.check_arity(e, f"{ci.name}::{callee.member}", fi.min_args, fi.max_args, n)
            return f"{fn}({args})"

        ns = scope.module.namespaces.get(callee.scope)
        if ns is not None:
            fi = ns.functions.get(callee.member)
            if fi is None:
                self.error(callee, f"undefined function {callee.scope}::{callee.member}()")
            args, spread = self.args(scope, e.args, user=True)
            if not spread:
                self.check_arity(e, f"{callee.scope}::{callee.member}", fi.min_args, fi.max_args, n)
            return f"{self.name('ns_' + callee.scope)}[{('f:' + callee.member)!r}]({args})"
        bc = self.pb.builtin_classes.get(callee.scope)
        if bc is not None:
            st = bc.cls.hsl_statics.get(callee.member)
            if st is None:
                self.error(callee, f"undefined function {callee.scope}::{callee.member}()")
            _, lo, hi = st
            args, spread = self.args(scope, e.args, user=False)
            if not spread:
                self.check_arity(e, f"{callee.scope}::{callee.member}", lo, hi, n)
            return f"{self.pb.builtin_class_ref(callee.scope)}.hsl_statics[{callee.member!r}][0]({args})"
        self.error(callee, f"undefined class {callee.scope}")

    def static_method_ref(self, ci: ClassInfo, fi: FuncInfo) -> str:
        """Python code for a static method: its def when the class is declared in this
        module, else a lookup on the (imported) class object."""
        if ci.node is not None:
            return self.name(fi.pyname)
        return f"{self.name(ci.pyname)}.smethods[{fi.name!r}][0]"

    def static_scope_class(self, scope: Scope, node: A.Static) -> Optional[ClassInfo]:
        if node.scope == "static":
            s = scope
            while s is not None and s.cls is None:
                s = s.parent
            if s is None:
                self.error(node, "static:: is only valid inside a class")
            return s.cls
        return scope.lookup_class(node.scope)

    def static_read(self, scope: Scope, node: A.Static) -> str:
        ci = self.static_scope_class(scope, node)
        if ci is not None:
            if node.is_var:
                if node.member not in ci.statics:
                    self.error(node, f"undefined variable {ci.name}::${node.member}")
                return f"{self.name(ci.pyname)}.get_static({node.member!r}, {self.class_ctx(scope)})"
            fi = ci.static_methods.get(node.member)
            if fi is None:
                self.error(node, f"undefined function {ci.name}::{node.member}")
            return (f"_HFunction({fi.name!r}, {self.static_method_ref(ci, fi)}, {fi.min_args}, "
                    f"{fi.max_args!r})")
        ns = scope.module.namespaces.get(node.scope)
        if ns is not None:
            if node.is_var:
                if node.member not in ns.globals:
                    self.error(node, f"undefined variable {node.scope}::${node.member}")
                return f"_cell_get({self.name('ns_' + node.scope)}[{('v:' + node.member)!r}])"
            fi = ns.functions.get(node.member)
            if fi is None:
                self.error(node, f"undefined function {node.scope}::{node.member}")
            return (f"_HFunction({fi.name!r}, {self.name('ns_' + node.scope)}[{('f:' + fi.name)!r}], "
                    f"{fi.min_args}, {fi.max_args!r})")
        bc = self.pb.builtin_classes.get(node.scope)
        if bc is not None and not node.is_var and node.member in bc.cls.hsl_statics:
            _, lo, hi = bc.cls.hsl_statics[node.member]
            ref = self.pb.builtin_class_ref(node.scope)
            return f"_HFunction({node.member!r}, {ref}.hsl_statics[{node.member!r}][0], {lo}, {hi!r})"
        self.error(node, f"undefined class {node.scope}")

    def name_ref(self, scope: Scope, e: A.NameRef) -> str:
        name = e.name
        if not e.builtin:
            fi = scope.lookup_function(name)
            if fi is not None:
                return f"_HFunction({name!r}, {self.name(fi.pyname)}, {fi.min_args}, {fi.max_args!r})"
            ci = scope.lookup_class(name)
            if ci is not None:
                return f"_HFunction({name!r}, {self.name(ci.pyname)}.new, {ci.min_args}, {ci.max_args!r})"
        b = self.pb.builtins.get(name)
        if b is not None:
            return f"_HFunction({name!r}, {self.pb.builtin_ref(name)}, {b.min_args!r}, {b.max_args!r})"
        bc = self.pb.builtin_classes.get(name)
        if bc is not None and not e.builtin:
            ref = self.pb.builtin_class_ref(name)
            return f"_HFunction({name!r}, _builtin_ctor({ref}), {bc.min_args!r}, {bc.max_args!r})"
        if e.builtin:
            self.error(e, f"builtin {name} is not a builtin function")
        self.soft_error(e, f"undefined function {name}" + self.pb.suggest(scope, name))
        return "None"

    def func_expr(self, scope: Scope, e: A.FuncExpr) -> str:
        pyname = self.pb.unique("anon")
        # The def is emitted as a statement just before the current one: Python needs a
        # statement for it, and creating the function has no side effects.
        saved_pos = self.w.pos
        self.function(scope, pyname, e.params, e.captures, e.body, e,
                      display="anonymous function", cls=self.enclosing_class(scope))
        self.w.pos = saved_pos
        lo, hi = param_arity_quick(e.params)
        return f"_HFunction('anonymous function', {pyname}, {lo}, {hi!r})"

    def enclosing_class(self, scope: Scope):
        s = scope
        while s is not None:
            if s.cls is not None:
                return s.cls
            s = s.parent
        return None

    def match(self, scope: Scope, e: A.Match) -> str:
        subj = scope.temp()
        default = None
        chain = []
        for arm in e.arms:
            if arm.conditions is None:
                if default is not None:
                    self.error(arm, "match has more than one default arm")
                default = arm
                continue
            tests = " or ".join(f"_leq({subj}, {self.expr(scope, c)})" for c in arm.conditions)
            chain.append(f"({self.transfer(scope, arm.result)}) if ({tests}) else ")
        tail = (f"({self.transfer(scope, default.result)})" if default is not None
                else f"_unhandled_match({subj})")
        return f"(({subj} := {self.expr(scope, e.subject)}), " + "".join(chain) + tail + ")[1]"

    def destructure(self, scope: Scope, e: A.Destructure) -> str:
        val = scope.temp()
        parts = [f"({val} := {self.transfer(scope, e.value)})"]
        for i, tg in enumerate(e.targets):
            b = self.binding(scope, tg.name, tg, write=True)
            default = self.expr(scope, tg.default) if tg.default is not None else "None"
            if e.keyed:
                key = self.expr(scope, tg.key)
                parts.append(self.store_expr(b, f"_destructure_key({val}, {key}, lambda: {default})"))
            else:
                parts.append(self.store_expr(b, f"_destructure_pos({val}, {i}, lambda: {default})"))
        if e.rest is not None:
            b = self.binding(scope, e.rest, e, write=True)
            parts.append(self.store_expr(b, f"_destructure_rest({val}, {len(e.targets)})"))
        return "(" + ", ".join(parts) + ")[0]"

    def cache_call(self, scope: Scope, e: A.CacheCall) -> str:
        """`cache [options] f(args)`: the callee must be a named function (user, builtin,
        or a static/namespace function), resolved and arity-checked like a direct call."""
        opts = self.expr(scope, e.options)
        n = len(e.args)
        fn_code = None
        if e.scope is not None:
            static = A.Static(e.span, e.scope, e.name, False)
            ci = self.static_scope_class(scope, static)
            if ci is not None:
                fi = ci.static_methods.get(e.name)
                if fi is None:
                    self.error(e, f"undefined function {ci.name}::{e.name}()")
                self.check_arity(e, f"{ci.name}::{e.name}", fi.min_args, fi.max_args, n)
                fn_code = self.static_method_ref(ci, fi)
            else:
                ns = scope.module.namespaces.get(e.scope)
                fi = ns.functions.get(e.name) if ns is not None else None
                if fi is None:
                    self.error(e, f"undefined function {e.scope}::{e.name}()")
                self.check_arity(e, f"{e.scope}::{e.name}", fi.min_args, fi.max_args, n)
                fn_code = f"{self.name('ns_' + e.scope)}[{('f:' + e.name)!r}]"
            label = f"{e.scope}::{e.name}"
        else:
            label = e.name
            if not e.builtin:
                fi = scope.lookup_function(e.name)
                if fi is not None:
                    fn_code = self.name(fi.pyname)
                    self.check_arity(e, e.name, fi.min_args, fi.max_args, n)
            if fn_code is None:
                b = self.pb.builtins.get(e.name)
                if b is None:
                    self.error(e, f"undefined function {e.name}()")
                self.check_arity(e, e.name, b.min_args, b.max_args, n)
                fn_code = self.pb.builtin_ref(e.name)
        args, _ = self.args(scope, e.args, user=True)
        key = f"{self.pb.files[self.file_index]}:{label}"
        return f"R.cache_call({opts}, {key!r}, {fn_code}, ({args}{',' if args else ''}))"

    # isset / ?? ----------------------------------------------------------
    def soft_expr(self, scope: Scope, e) -> str:
        """Evaluate `e` without errors for undefined variables or missing keys: the value,
        or None/_UNSET (used by `??`, `??=` and isset)."""
        while type(e) is A.Paren:
            e = e.expr
        t = type(e)
        if t is A.Var:
            b = scope.vars.get(e.name)
            if b is None:
                return "_soft_global(V, %r)" % e.name if scope.kind == "module" else "_UNSET"
            if scope.kind == "function" and e.name not in scope.assigned and not b.cell \
                    and b.pyname.startswith("v_"):
                return "_UNSET"
            return self.soft_read(b, scope, e.name)
        if t is A.Index and e.index is not None:
            target = self.nested(e, self.soft_expr, scope, e.target)
            return f"_soft_index({target}, {self.expr(scope, e.index)})"
        if t is A.Prop:
            target = self.nested(e, self.soft_expr, scope, e.target)
            return f"_soft_prop({target}, {e.name!r}, {self.class_ctx(scope)})"
        if t is A.Static and e.is_var:
            return self.static_read(scope, e)
        return self.expr(scope, e)

    def isset(self, scope: Scope, target) -> str:
        t = type(target)
        if t is A.Var:
            return f"({self.soft_expr(scope, target)} is not _UNSET)"
        if t is A.Index and target.index is not None:
            return (f"_isset_index({self.soft_expr(scope, target.target)}, "
                    f"{self.expr(scope, target.index)})")
        if t is A.Prop:
            return (f"_isset_prop({self.soft_expr(scope, target.target)}, {target.name!r}, "
                    f"{self.class_ctx(scope)})")
        if t is A.Static and target.is_var:
            return "True"
        self.error(target, "isset() needs a variable, element or property")

    def unset_expr(self, scope: Scope, e: A.Unset) -> str:
        target = e.target
        t = type(target)
        if t is A.Var:
            b = self.binding(scope, target.name, target, write=True)
            helper = self.pb.unique("unset")
            w = self.w
            saved = w.pos
            w.emit(f"def {helper}():")
            if not b.cell:
                w.emit(f"    nonlocal {b.pyname}")
                w.emit("    try:")
                w.emit(f"        del {b.pyname}")
                w.emit("        return True")
                w.emit("    except NameError:")
                w.emit("        return False")
            else:
                w.emit(f"    return _cell_del({b.pyname})")
            w.pos = saved
            return f"{helper}()"
        if t is A.Index and target.index is not None:
            # Only an existing entry is removed: a missing path must not be created.
            key = scope.temp()
            soft = self.soft_expr(scope, target.target)
            cont = self.place_for_write(scope, target.target)
            return (f"(_isset_index({soft}, ({key} := {self.expr(scope, target.index)})) "
                    f"and _unset_index({cont}, {key}))")
        if t is A.Slice:
            cont = self.place_for_write(scope, target.target)
            parts = [self.expr(scope, x) if x is not None else "None"
                     for x in (target.start, target.stop, target.step)]
            return f"_unset_slice({cont}, {', '.join(parts)})"
        if t is A.Prop:
            return (f"_unset_prop({self.expr(scope, target.target)}, {target.name!r}, "
                    f"{self.class_ctx(scope)})")
        self.error(target, "unset() needs a variable, element, slice or property")

    # assignment ----------------------------------------------------------
    def assign_stmt(self, scope: Scope, e: A.Assign) -> None:
        w = self.w
        self.at(e)
        target = e.target
        while type(target) is A.Paren:
            self.error(target, "cannot assign to a parenthesised expression")
        if type(target) is A.Var:
            b = self.binding(scope, target.name, target, write=True)
            if e.op == "=":
                w.emit(self.store(b, f"({self.transfer(scope, e.value)})"))
                return
            if e.op == ".=" and not b.cell:
                tmp = scope.temp()
                w.emit(f"{tmp} = ({self.expr(scope, e.value)})")
                self.at(e)
                w.emit(f"if type({b.pyname}) is bytes and type({tmp}) is bytes "
                       f"and len({b.pyname}) + len({tmp}) <= {LARGE}: {b.pyname} += {tmp}")
                w.emit(f"else: {b.pyname} = _concat({self.read(b)}, {tmp})")
                return
            if e.op == "??=":
                tmp = scope.temp()
                w.emit(f"{tmp} = {self.soft_read(b, scope, target.name)}")
                w.emit(f"if {tmp} is None or {tmp} is _UNSET: "
                       + self.store(b, f"({self.transfer(scope, e.value)})"))
                return
            helper = BINARY_HELPERS[COMPOUND[e.op]] if e.op != ".=" else "_concat"
            if COMPOUND.get(e.op) in FLOAT_FAST and not b.cell:
                code = self.float_fast(scope, COMPOUND[e.op], helper,
                                       (b.pyname, A.Var(target.span, target.name)),
                                       (self.expr(scope, e.value), e.value))
                w.emit(self.store(b, code))
                return
            w.emit(self.store(b, f"{helper}({self.read(b)}, ({self.expr(scope, e.value)}))"))
            return
        root = lvalue_root(target) if type(target) in (A.Index, A.Slice) else None
        if root is not None:
            b = self.binding(scope, root, target, write=True)
            if not b.cell:
                # Statement form: acquire the root array once, without locals() lookups.
                tc = scope.temp()
                w.emit("try: " + f"{tc} = {b.pyname}")
                w.emit(f"except NameError: {tc} = _UNSET")
                w.emit(f"if type({tc}) is not _HArray or {tc}.shared: {b.pyname} = {tc} = _container({tc})")
                self.at(e)
                if type(target) is A.Index and target.index is None and type(target.target) is A.Var \
                        and e.op == "=":
                    tv = scope.temp()
                    w.emit(f"{tv} = ({self.transfer(scope, e.value)})")
                    w.emit(f"if type({tc}) is _HArray: {tc}.append({tv})")
                    w.emit(f"else: _append({tc}, {tv})")
                    return
                w.emit(f"_ = ({self.assign_expr(scope, e, root_code=tc)})")
                return
        w.emit(f"_ = ({self.assign_expr(scope, e)})")

    def assign_expr(self, scope: Scope, e: A.Assign, root_code: Optional[str] = None) -> str:
        target = e.target
        t = type(target)
        if t is A.Paren:
            self.error(target, "cannot assign to a parenthesised expression")
        if t is A.Var:
            b = self.binding(scope, target.name, target, write=True)
            if e.op == "=":
                return self.store_expr(b, self.transfer(scope, e.value))
            if e.op == "??=":
                tmp = scope.temp()
                return (f"({tmp} if ({tmp} := {self.soft_read(b, scope, target.name)}) is not None and {tmp} is not _UNSET "
                        f"else {self.store_expr(b, self.transfer(scope, e.value))})")
            helper = BINARY_HELPERS[COMPOUND[e.op]] if e.op != ".=" else "_concat"
            return self.store_expr(b, f"{helper}({self.read(b)}, {self.expr(scope, e.value)})")
        if t is A.Index:
            cont = self.place_for_write(scope, target.target, root_code)
            if target.index is None:
                if e.op != "=":
                    self.error(target, "[] cannot be used with a compound assignment")
                return f"_append({cont}, {self.transfer(scope, e.value)})"
            key = self.expr(scope, target.index)
            if e.op == "=":
                return f"_setindex({cont}, {key}, {self.transfer(scope, e.value)})"
            if e.op == "??=":
                return (f"_setindex_coalesce({cont}, {key}, "
                        f"lambda: {self.transfer(scope, e.value)})")
            return (f"_setindex_op({cont}, {key}, {BINARY_HELPERS.get(COMPOUND[e.op], '_concat') if e.op != '.=' else '_concat'}, "
                    f"{self.expr(scope, e.value)})")
        if t is A.Prop:
            obj = self.expr(scope, target.target)
            ctx = self.class_ctx(scope)
            if e.op == "=":
                return f"_setprop({obj}, {target.name!r}, {self.transfer(scope, e.value)}, {ctx})"
            if e.op == "??=":
                return (f"_setprop_coalesce({obj}, {target.name!r}, "
                        f"lambda: {self.transfer(scope, e.value)}, {ctx})")
            helper = BINARY_HELPERS[COMPOUND[e.op]] if e.op != ".=" else "_concat"
            return f"_setprop_op({obj}, {target.name!r}, {helper}, {self.expr(scope, e.value)}, {ctx})"
        if t is A.Static and target.is_var:
            ci = self.static_scope_class(scope, target)
            if ci is None:
                ns = scope.module.namespaces.get(target.scope)
                if ns is None:
                    self.error(target, f"undefined class {target.scope}")
                cell = f"{self.name('ns_' + target.scope)}[{('v:' + target.member)!r}]"
                if e.op == "=":
                    return f"_cell_set({cell}, {self.transfer(scope, e.value)})"
                helper = BINARY_HELPERS.get(COMPOUND.get(e.op, ""), "_concat")
                return f"_cell_set({cell}, {helper}(_cell_get({cell}), {self.expr(scope, e.value)}))"
            if target.member not in ci.statics:
                self.error(target, f"undefined variable {ci.name}::${target.member}")
            ctx = self.class_ctx(scope)
            cls = self.name(ci.pyname)
            if e.op == "=":
                return f"{cls}.set_static({target.member!r}, {self.transfer(scope, e.value)}, {ctx})"
            if e.op == "??=":
                return (f"{cls}.set_static_coalesce({target.member!r}, "
                        f"lambda: {self.transfer(scope, e.value)}, {ctx})")
            helper = BINARY_HELPERS[COMPOUND[e.op]] if e.op != ".=" else "_concat"
            return (f"{cls}.set_static({target.member!r}, {helper}({cls}.get_static("
                    f"{target.member!r}, {ctx}), {self.expr(scope, e.value)}), {ctx})")
        if t is A.Slice:
            if e.op != "=":
                self.error(target, "slices can only be assigned with =")
            cont = self.place_for_write(scope, target.target, root_code)
            parts = [self.expr(scope, x) if x is not None else "None"
                     for x in (target.start, target.stop, target.step)]
            return f"_setslice({cont}, {', '.join(parts)}, {self.expr(scope, e.value)})"
        self.error(target, "invalid assignment target")

    def place_for_write(self, scope: Scope, node, root_code: Optional[str] = None) -> str:
        """A Python expression giving the container at `node`, ready to be written into
        (an owned HArray, created when missing, or an object)."""
        while type(node) is A.Paren:
            self.error(node, "cannot assign to a parenthesised expression")
        t = type(node)
        if t is A.Var:
            if root_code is not None:
                return root_code
            b = self.binding(scope, node.name, node, write=True)
            if b.cell:
                return f"_cell_container({b.pyname})"
            # Undefined or none variables become arrays on their first element write.
            return f"({b.pyname} := _container({self.soft_read(b, scope, node.name)}))"
        if t is A.Index:
            parent = self.nested(node, self.place_for_write, scope, node.target, root_code)
            if node.index is None:
                return f"_append_container({parent})"
            return f"_child_container({parent}, {self.expr(scope, node.index)})"
        if t is A.Prop:
            return (f"_prop_container({self.expr(scope, node.target)}, {node.name!r}, "
                    f"{self.class_ctx(scope)})")
        if t is A.Static and node.is_var:
            ci = self.static_scope_class(scope, node)
            if ci is None:
                self.error(node, f"undefined class {node.scope}")
            return f"{self.name(ci.pyname)}.static_container({node.member!r}, {self.class_ctx(scope)})"
        if t is A.Call:
            return f"_object_container({self.expr(scope, node)})"
        self.error(node, "invalid assignment target")

    def incdec_stmt(self, scope: Scope, e: A.IncDec) -> None:
        target = e.target
        if type(target) is A.Var:
            b = self.binding(scope, target.name, target, write=True)
            if not b.cell:
                py = b.pyname
                d = "1.0"
                op = "+" if e.op == "++" else "-"
                helper = "_inc" if e.op == "++" else "_dec"
                self.w.emit(f"{py} = {py} {op} {d} if type({py}) is float else {helper}({py})")
                return
        self.w.emit(f"_ = ({self.incdec_expr(scope, e)})")

    def incdec_expr(self, scope: Scope, e: A.IncDec) -> str:
        helper = "_inc" if e.op == "++" else "_dec"
        target = e.target
        t = type(target)
        if t is A.Var:
            b = self.binding(scope, target.name, target, write=True)
            if e.prefix:
                return self.store_expr(b, f"{helper}({self.read(b)})")
            tmp = scope.temp()
            return f"(({tmp} := _to_number({self.read(b)})), {self.store_expr(b, f'{helper}({tmp})')})[0]"
        if t is A.Index and target.index is not None:
            cont = self.place_for_write(scope, target.target)
            return f"_incdec_index({cont}, {self.expr(scope, target.index)}, {helper}, {e.prefix})"
        if t is A.Prop:
            return (f"_incdec_prop({self.expr(scope, target.target)}, {target.name!r}, {helper}, "
                    f"{e.prefix}, {self.class_ctx(scope)})")
        if t is A.Static and target.is_var:
            ci = self.static_scope_class(scope, target)
            if ci is None:
                self.error(target, f"undefined class {target.scope}")
            return f"{self.name(ci.pyname)}.incdec_static({target.member!r}, {helper}, {e.prefix}, {self.class_ctx(scope)})"
        self.error(target, f"{e.op} needs a variable, element or property")


# ----------------------------------------------------------------- helpers

def _module_names(mod: ModuleInfo) -> set:
    """The Python names a module function binds for its functions, classes, their static
    methods and its namespaces (see Compiler.define)."""
    names = {fi.pyname for fi in mod.functions.values()}
    for ci in mod.classes.values():
        names.add(ci.pyname)
        names.update(fi.pyname for fi in ci.static_methods.values())
    names.update("ns_" + alias for alias in mod.namespaces)
    return names


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


def is_place(e) -> bool:
    """True for expressions that read a value someone else still holds."""
    while type(e) is A.Paren:
        e = e.expr
    return type(e) in (A.Var, A.Index, A.Prop, A.Static, A.Assign, A.Coalesce, A.Cond,
                       A.Match, A.Destructure, A.IncDec)


def is_simple(e) -> bool:
    return type(e) in (A.Var, A.Number)


def param_arity_quick(params) -> tuple[int, Optional[int]]:
    lo = hi = 0
    for p in params:
        if p.variadic:
            return lo, None
        hi += 1
        if p.default is None:
            lo += 1
    return lo, hi


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
    found = []
    stack = list(nodes)
    while stack:
        n = stack.pop()
        t = type(n)
        if t is A.Included:
            found.append(n.inclusion)
        elif t is not A.FunctionDecl and t is not A.ClassDecl and t is not A.FuncExpr:
            stack.extend(A.iter_child_nodes(n))
    return found


def scope_nodes(body):
    """Every node of one scope, in no particular order, included statements too (each
    inclusion once): nested functions, closures and classes are yielded, not entered."""
    stack = list(body)
    seen = set()
    while stack:
        n = stack.pop()
        t = type(n)
        if t is A.Included:
            if n.inclusion not in seen:
                seen.add(n.inclusion)
                stack.extend(n.inclusion.body)
            continue
        yield n
        if t is not A.FunctionDecl and t is not A.ClassDecl and t is not A.FuncExpr:
            stack.extend(A.iter_child_nodes(n))


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


