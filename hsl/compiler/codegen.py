"""Compile an HSL program (AST) into Python source (hsl.program compiles that to code).

Why generate Python: a tree-walker pays a dispatch per node per evaluation; generated
code runs as ordinary CPython bytecode, with HSL semantics supplied by the helpers in
hsl.runtime.values and hsl.runtime.ops.  It calls only those of the table
hsl.runtime.helpers.HELPERS, each named once below (UNSET, SETPROP...).  The layout of the generated source:

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

What each scope binds comes from the resolver (hsl.compiler.resolve: Resolution, Scope, Binding),
which walks each scope once; the compiler turns those facts into Bindings and code.
The static checks of the spec (section 13.1) happen here too: undefined functions and
variables, arity of direct calls, break/continue placement, read-only variables, import
placement, duplicate declarations.
"""
from __future__ import annotations

from typing import Optional

from ..syntax import ast as A
from ..runtime.helpers import helper
from .resolve import (Binding, ClassInfo, FuncInfo, ModuleInfo, Scope, lvalue_root,
                      top_level_statements)
from . import probes as P
from ..runtime.values import LARGE, arity_message

# The deepest nesting of statements and expressions the compiler turns into Python (the
# generated code must stay within what CPython compiles); the parser accepts deeper
# brackets (parser.MAX_BRACKET_NESTING), reported here as "nesting too deep".
MAX_COMPILED_NESTING = 60

# The runtime helpers the generated code uses (hsl.runtime.helpers.HELPERS), each named once
# here: helper() stops the import of this module if one is missing from the table.
UNSET = helper("_UNSET")                # "not set": soft reads of what does not exist
NOT_PASSED = helper("_D")               # default of a parameter with a default value
HARRAY = helper("_HArray")
HFUNCTION = helper("_HFunction")
USER_CLASS = helper("_UserClass")
THROWN_VALUE = helper("_ThrownValue")
CATCHABLE = helper("_Catchable")
SHARE = helper("_share")
STR = helper("_str")
TO_NUMBER = helper("_to_number")
CONCAT = helper("_concat")
CONCAT_MANY = helper("_concat_many")
INTERPOLATE = helper("_interpolate")
SLICE = helper("_slice")
GLOBALS_OF = helper("_globals_of")
MODULE_EXPORTS = helper("_module_exports")
UNDEFINED = helper("_undefined")
SOFT_GLOBAL = helper("_soft_global")
UNHANDLED_MATCH = helper("_unhandled_match")
CELL_GET = helper("_cell_get")
CELL_SET = helper("_cell_set")
CELL_SOFT = helper("_cell_soft")
CELL_DEL = helper("_cell_del")
CELL_CONTAINER = helper("_cell_container")
CONTAINER = helper("_container")
CHILD_CONTAINER = helper("_child_container")
APPEND_CONTAINER = helper("_append_container")
OBJECT_CONTAINER = helper("_object_container")
APPEND = helper("_append")
SETINDEX = helper("_setindex")
SETINDEX_COALESCE = helper("_setindex_coalesce")
SETINDEX_OP = helper("_setindex_op")
SETSLICE = helper("_setslice")
UNSET_INDEX = helper("_unset_index")
UNSET_SLICE = helper("_unset_slice")
INCDEC_INDEX = helper("_incdec_index")
INDEX = helper("_index")
SOFT_INDEX = helper("_soft_index")
ISSET_INDEX = helper("_isset_index")
ITER_ITEMS = helper("_iter_items")
ITER_VALUES = helper("_iter_values")
BUILD_ARRAY = helper("_build_array")
SPREAD = helper("_spread")
DESTRUCTURE_POS = helper("_destructure_pos")
DESTRUCTURE_KEY = helper("_destructure_key")
DESTRUCTURE_REST = helper("_destructure_rest")
CALL_VALUE = helper("_call_value")
CALL_CHECKED = helper("_call_checked")
CALL_METHOD = helper("_call_method")
NEW_BUILTIN = helper("_new_builtin")
BUILTIN_CTOR = helper("_builtin_ctor")
GETPROP = helper("_getprop")
SOFT_PROP = helper("_soft_prop")
ISSET_PROP = helper("_isset_prop")
SETPROP = helper("_setprop")
SETPROP_COALESCE = helper("_setprop_coalesce")
SETPROP_OP = helper("_setprop_op")
INCDEC_PROP = helper("_incdec_prop")
UNSET_PROP = helper("_unset_prop")
PROP_CONTAINER = helper("_prop_container")

# Operators whose result is always a boolean (no truthiness conversion needed in `if`).
BOOL_OPS = {"==", "!=", "===", "!==", "<", "<=", ">", ">=", "=~", "!~"}

BINARY_HELPERS = {op: helper(name) for op, name in {
    "+": "_add", "-": "_sub", "*": "_mul", "/": "_div", "%": "_mod", "**": "_pow",
    "<<": "_shl", ">>": "_shr", ">>>": "_ushr", "&": "_band", "|": "_bor", "^": "_bxor",
    "==": "_leq", "!=": "_lne", "===": "_seq", "!==": "_sne",
    "<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge", "=~": "_rmatch", "!~": "_rnomatch",
}.items()}
LOOSE_EQ = BINARY_HELPERS["=="]         # (switch cases and match arms compare with ==)
UNARY_HELPERS = {"-": helper("_neg"), "+": helper("_pos"), "~": helper("_bnot")}
INCDEC_HELPERS = {"++": helper("_inc"), "--": helper("_dec")}
# Operators with a Python float fast path that gives the HSL result directly.
FLOAT_FAST = {"+": "+", "-": "-", "*": "*", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
              "==": "==", "!=": "!="}
# Compound assignment: `x OP= y` stores `x OP y`, made by the helper of OP.
COMPOUND = {op + "=": BINARY_HELPERS[op]
            for op in ("+", "-", "*", "/", "%", "**", "&", "|", "^", "<<", ">>", ">>>")}
COMPOUND[".="] = CONCAT


# Codes of the undefined functions and classes that a program compiled to run reports
# all together (ProgramBuilder.missing_error): the plugins it lacks.
MISSING_NAMES = ("HSL101", "HSL102")


class CompileError(Exception):
    """A compile-time error, as data set where it is raised: `code` (hsl/check/codes.py;
    rewording the message never changes it), `message` as `hsl run` prints it, `hint`
    (shown by `hsl check`) and `name`, the function, class or file path it is about (for
    the checker's own rules: HSL701, HSL104...).  A `suggestion` (a close name) is part
    of `message` and is the hint; `brief` is the message without it."""

    def __init__(self, node_or_span, message: str, filename: Optional[str] = None, *,
                 code: str = "HSL900", hint: str = "", name: str = "",
                 suggestion: Optional[str] = None):
        span = node_or_span.span if isinstance(node_or_span, A.Node) else node_or_span
        self.span = span
        self.brief = message
        if suggestion:
            message = f"{message} (did you mean {suggestion}?)"
            hint = hint or f"did you mean `{suggestion}`?"
        self.message = message
        self.filename = filename
        self.code, self.hint, self.name, self.suggestion = code, hint, name, suggestion
        super().__init__(message)


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
    def __init__(self, program):
        """`program`: the hsl.program.ProgramBuilder this compiler works for (its files,
        builtins, constants and module scopes)."""
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
        self.reaching: set = set()      # declarations that declare `global` (nested_globals)

    # positions ----------------------------------------------------------
    def mark(self, node: A.Node) -> str:
        return f"\n\x00{self.file_index},{node.span.line},{node.span.col}\x00"

    def at(self, node: A.Node) -> None:
        self.w.pos = (self.file_index, node.span.line, node.span.col)

    # coverage (ProgramBuilder.probes; hsl.compiler.probes says what is counted) -------
    def count(self, probe: P.Probe) -> str:
        """A statement that counts `probe`: its counter is an itertools.count, which
        counts exactly however many threads run the program."""
        return f"next(COV[{self.pb.probes.counter(self.file_index, probe)}])"

    def counted(self, probe: P.Probe, code: str) -> str:
        """An expression that counts `probe`, then is the value of `code` (0 or X is X)."""
        return f"({self.count(probe)} * 0 or {code})"

    def loop_flag(self, scope: Scope, s) -> Optional[str]:
        """With coverage, for a loop with entered/skipped branches: a variable that is
        True until the loop's body is entered (set before the loop)."""
        if self.pb.probes is None or not P.loop_counts(s):
            return None
        flag = scope.temp()
        self.w.emit(f"{flag} = True")
        return flag

    def loop_entered(self, flag: Optional[str], s, kind: str) -> None:
        if flag is not None:
            self.w.emit(f"if {flag}: {flag} = False; {self.count(P.branch(kind, s, 'entered'))}")

    def loop_skipped(self, flag: Optional[str], s, kind: str) -> None:
        if flag is not None:
            self.w.emit(f"if {flag}: {self.count(P.branch(kind, s, 'skipped'))}")

    def error(self, node, message: str, **data):
        """Raise a CompileError; `data`: its code, hint, name (see CompileError)."""
        raise CompileError(node, message, self.pb.files[self.file_index], **data)

    def soft_error(self, node, message: str, file_index: Optional[int] = None,
                   **data) -> None:
        """An error after which compilation can go on: raised normally, only recorded
        when the builder collects every error (`hsl check`)."""
        fi = self.file_index if file_index is None else file_index
        err = CompileError(node, message, self.pb.files[fi], **data)
        if not self.pb.collecting:
            if err.code in MISSING_NAMES and err.name:
                self.pb.missing.append(err)     # (reported together: ProgramBuilder.missing)
                return
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
        facts = self.pb.resolution.facts(mod.program, self.pb.has_includes)
        assigned = facts.assigned | set(mod.imported_vars) | set(mod.data_vars)
        mentioned = facts.mentioned
        globals_from_children, self.reaching = self.nested_globals(facts)
        readonly = self.pb.readonly if mod.is_main else set()
        for name in sorted(mentioned | assigned | globals_from_children):
            if name in mod.imported_vars:
                scope.vars[name] = Binding("ic_" + name, cell=True)
            elif name in mod.data_vars:
                scope.vars[name] = Binding("g_" + name)
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
            w.emit(f"g_{name} = {SHARE}(K[{idx}])")
        # Imports run before the module's own statements, in source order.
        for stmt in top_level_statements(body):
            if isinstance(stmt, (A.ImportSymbols, A.ImportAll)):
                self.emit_import(scope, stmt)
        self.module_names = _module_names(mod)
        self.emit_declarations(scope, mod.program)
        self.emit_inclusions(scope, mod.program)
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
            w.emit(f"if R.keep_globals: R.final_globals = {GLOBALS_OF}(locals())")
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
            w.emit(f"return {MODULE_EXPORTS}(_cells, {{" + ", ".join(exports) + "})")
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
                                             "statement", self.pb.files[fi], code="HSL504")
                continue
            inner = []
            for child in A.iter_child_nodes(stmt):
                if isinstance(child, A.Stmt):
                    inner.append(child)
                elif isinstance(child, (A.SwitchCase, A.ClassMethod, A.Constructor)):
                    inner.extend(child.body)
            stack.extend((c, False, fi) for c in reversed(inner))

    # ------------------------------------------------------ scope analysis
    def nested_globals(self, facts) -> tuple[set, set]:
        """(the variables functions nested in a module scope declare `global`, the
        declarations among them that do so): such a function may create them there."""
        names, reaching = set(), set()
        if not self.pb.mentions("global"):
            return names, reaching
        for n in facts.nested:
            found = self.pb.resolution.declared_globals(n, self.pb.has_includes)
            if found:
                names |= found
                if type(n) is not A.FuncExpr:
                    reaching.add(n)
        return names, reaching

    # ------------------------------------------------------ declarations
    def declare_functions(self, scope: Scope, scope_node) -> None:
        """Register (hoist) the named functions and classes the scope declares."""
        table_f = scope.module.functions if scope.kind == "module" else scope.functions
        table_c = scope.module.classes if scope.kind == "module" else scope.classes
        for stmt, _, via in self.pb.resolution.declarations(scope_node):
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
                             f"at line {decl.span.line})", code="HSL501")
        self.error(decl, message, code="HSL501")

    def check_class(self, ci: ClassInfo, node: A.ClassDecl) -> None:
        seen = set()
        ctor = None
        for m in node.members:
            if isinstance(m, A.Constructor):
                if ctor is not None:
                    self.error(m, f"class {node.name} has two constructors", code="HSL501")
                ctor = m
                continue
            key = m.name
            if key in seen:
                self.error(m, f"duplicate member {key} in class {node.name}", code="HSL501")
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
                self.error(p, f"duplicate parameter ${p.name}", code="HSL501")
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
        not_constant = [n for n in A.walk(expr, _is_constant_operation)
                        if not isinstance(n, _CONSTANT_PARTS)]
        if not_constant:        # (the last one, as this check has always reported)
            self.error(not_constant[-1], "default values must be constant expressions")

    def emit_declarations(self, scope: Scope, scope_node) -> None:
        """Emit the hoisted function and class definitions of a scope."""
        for stmt, file_index, _ in self.pb.resolution.declarations(scope_node):
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
            self.error(node, f"nesting too deep (limit {MAX_COMPILED_NESTING} levels)",
                       code="HSL005")
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
        facts = self.pb.resolution.facts(node, self.pb.has_includes)
        assigned = facts.assigned
        param_names = [p.name for p in params]
        for p in params:
            if p.name == "this":
                self.error(p, "$this cannot be a parameter name (instance methods bind it)")
        # Global declarations and closure captures bind outer variables by reference.
        globals_declared = {}
        for g in reversed(facts.globals):       # (the last first, as always reported)
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
                self.error(node, f"undefined variable ${name}", code="HSL103")
            scope.vars[name] = Binding(ob.pyname, ob.cell, ob.readonly)
            if not ob.cell:
                scope.nonlocals.add(ob.pyname)
        first_writes = facts.first_writes() if globals_declared else {}
        for name, g in globals_declared.items():
            site = first_writes.get(name)
            if site is not None and (site.span.line, site.span.col) < (g.span.line, g.span.col):
                self.error(site, f"${name} is already a local variable; global ${name} must "
                                 "come before any use of it")
        for name in globals_declared:
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
        if ("this" in facts.mentioned or "this" in facts.param_mentions) \
                and "this" not in scope.vars:
            self.error(node, "$this is only available in instance methods")
        scope.assigned = assigned | set(param_names)
        if method and not static:
            scope.assigned.add("this")          # set on entry, like a parameter
        scope.captured = facts.captured
        self.declare_functions(scope, node)

        args = []
        if method and not static:
            args.append("v_this")
        for p in params:
            if p.variadic:
                args.append(f"*v_{p.name}")
            elif p.default is not None:
                args.append(f"v_{p.name}={NOT_PASSED}")
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
        if self.pb.probes is not None:
            w.emit(self.count(P.function_probe(node, display)))
        w.emit("try:")
        w.indent += 1
        for p in params:
            if p.variadic:
                w.emit(f"v_{p.name} = {HARRAY}.from_list(v_{p.name})")
            elif p.default is not None:
                self.at(p)
                w.emit(f"if v_{p.name} is {NOT_PASSED}: v_{p.name} = ({self.expr(scope, p.default)})")
        self.emit_declarations(scope, node)
        w.emit("pass")
        unsafe = scope.captured | {name for name in globals_declared}
        scope.definite = {p.name for p in params} - unsafe
        if method and not static:
            scope.definite.add("this")
        self.emit_inclusions(scope, node)
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
        w.emit(f"{ci.pyname} = {USER_CLASS}({node.name!r}, [{', '.join(ivars)}], [{meth}], "
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
        cov = self.pb.probes is not None
        if cov and isinstance(s, P.LINE_STATEMENTS):
            w.emit(self.count(P.line_probe(s.span.line)))
        if t is A.ExprStmt:
            self.expr_stmt(scope, s.expr)
        elif t is A.Echo:
            w.emit(f"R.echo({self.expr(scope, s.expr)})")
        elif t is A.If:
            w.emit(f"if {self.cond(scope, s.test)}:")
            self.sub(scope, s.then, cov and P.branch("if", s, "then"))
            other = s.other
            extra = 0
            last = s            # (the `if` whose else the chain is in)
            while other is not None:
                if type(other) is A.If:
                    self.at(other)
                    mark = len(w.lines)
                    test = self.cond(scope, other.test)
                    if cov:     # (the else of the `if` before, and the line of this one)
                        test = self.counted(P.branch("if", last, "else"),
                                            self.counted(P.line_probe(other.span.line), test))
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
                    self.sub(scope, other.then, cov and P.branch("if", other, "then"))
                    last = other
                    other = other.other
                else:
                    w.emit("else:")
                    self.sub(scope, other, cov and P.branch("if", last, "else"))
                    last = other = None
            if cov and last is not None:        # (the else not written)
                w.emit("else:")
                w.emit("    " + self.count(P.branch("if", last, "else")))
            w.indent -= extra
        elif t is A.Block:
            self.nested(s, self.block, scope, s.body)
        elif t is A.Empty:
            pass
        elif t is A.While:
            flag = self.loop_flag(scope, s)
            w.emit("while True:")
            w.indent += 1
            self.tick()
            w.emit(f"if not {self.cond(scope, s.test, 'while')}: break")
            self.loop_entered(flag, s, "while")
            self.loop_body(scope, s.body)
            w.indent -= 1
            self.loop_skipped(flag, s, "while")
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
            flag = self.loop_flag(scope, s)
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
            self.loop_entered(flag, s, "for")
            self.loop_body(scope, s.body)
            w.indent -= 1
            self.loop_skipped(flag, s, "for")
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
            w.emit(f"raise {THROWN_VALUE}({self.transfer(scope, s.value)})")
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
            self.soft_error(node, "break outside of a loop or switch", fi, code="HSL401")
        elif scope.breakables[-1][0] == "include":
            self.exits.setdefault("break", (fi, node))
            self.w.emit("return 1")
        else:
            self.w.emit("break")

    def emit_continue(self, scope: Scope, node, file_index: Optional[int] = None) -> None:
        fi = self.file_index if file_index is None else file_index
        target = next((b[0] for b in reversed(scope.breakables) if b[0] != "switch"), None)
        if target is None:
            self.soft_error(node, "continue outside of a loop", fi, code="HSL402")
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

    def emit_inclusions(self, scope: Scope, scope_node) -> None:
        """Each inclusion the scope reaches becomes one nested function, defined here and
        called at each of its sites: included statements are compiled once per including
        scope, however often they are included.  `nonlocal` gives them the scope's
        variables; break, continue and return leave the function with 1, 2 or (value,)
        for the site to act on (see include_site)."""
        if not self.pb.has_includes:
            return
        saved = self.file_index, scope.breakables, self.in_include, self.exits, self.w.pos
        try:
            # (an inclusion after those it reaches)
            for inc in self.pb.resolution.inclusions(scope_node):
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
        names = self.pb.resolution.scope(inc).mentioned
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
            self.error(node, f"nesting too deep (limit {MAX_COMPILED_NESTING} levels)",
                       code="HSL005")
        self.depth += 1
        try:
            return fn(*args)
        finally:
            self.depth -= 1

    def sub(self, scope: Scope, s, probe=None) -> None:
        """`s` one level deeper (an if's then or else); `probe`: counted first."""
        self.w.indent += 1
        self.w.emit("pass")
        if probe:
            self.w.emit(self.count(probe))
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
        flag = self.loop_flag(scope, s)
        if s.key is not None:
            kb = self.binding(scope, s.key, s, write=True)
            k, v = scope.temp(), scope.temp()
            w.emit(f"for {k}, {v} in {ITER_ITEMS}({it}):")
            w.indent += 1
            w.emit(self.store(kb, k))
        else:
            v = scope.temp()
            w.emit(f"for {v} in {ITER_VALUES}({it}):")
            w.indent += 1
        w.emit(self.store(vb, f"({v}.share() if type({v}) is {HARRAY} else {v})"))
        self.tick()
        self.loop_entered(flag, s, "foreach")
        self.loop_body(scope, s.body)
        w.indent -= 1
        self.loop_skipped(flag, s, "foreach")

    def switch(self, scope: Scope, s: A.Switch) -> None:
        w = self.w
        subj, start, cont = scope.temp(), scope.temp(), scope.temp()
        defaults = [i for i, c in enumerate(s.cases) if c.test is None]
        if len(defaults) > 1:
            self.error(s.cases[defaults[1]], "switch has more than one default", code="HSL501")
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
            test = f"{LOOSE_EQ}({subj}, {self.expr(scope, case.test)})"
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
        falls = {}
        if self.pb.probes is not None:
            # The label the switch starts at: its arms' counters are consecutive.
            arms = P.switch_arms(s)
            base = self.pb.probes.counter(self.file_index, arms[0])
            w.emit(f"next(COV[{base} + {start}])")
            falls = {i: (above, arms[len(arms) - len(P.fallthroughs(s)) + n])
                     for n, (i, above) in enumerate(P.fallthroughs(s))}
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
                if i in falls:          # (started at or above the statements above)
                    above, probe = falls[i]
                    w.emit(f"if {start} <= {above}: {self.count(probe)}")
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
        w.emit(f"except {CATCHABLE} as {exc}:")
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
            w.emit(f"R.barrier_leave({name}, {UNSET})")
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
                self.error(node, f"undefined variable ${name}", code="HSL103")
        if write and b.readonly:
            self.soft_error(node, f"${name} is read-only", code="HSL301")
        return b

    def store(self, b: Binding, value: str) -> str:
        if b.cell:
            return f"{b.pyname}.cell_contents = {value}"
        return f"{b.pyname} = {value}"

    def store_expr(self, b: Binding, value: str) -> str:
        if b.cell:
            return f"{CELL_SET}({b.pyname}, {value})"
        return f"({b.pyname} := {value})"

    def read(self, b: Binding) -> str:
        if b.cell:
            return f"{CELL_GET}({b.pyname})"
        return b.pyname

    def soft_read(self, b: Binding, scope: Optional[Scope] = None, name: str = "") -> str:
        """The variable's value, or _UNSET if it is not defined (never raises)."""
        if b.cell:
            return f"{CELL_SOFT}({b.pyname})"
        if scope is not None and name in scope.definite:
            return b.pyname
        return f"({b.pyname} if {b.pyname!r} in locals() else {UNSET})"

    def unset_binding(self, b: Binding) -> str:
        if b.cell:
            return f"{CELL_DEL}({b.pyname})"
        return f"del {b.pyname}"

    def var_read(self, scope: Scope, node: A.Var) -> str:
        b = scope.vars.get(node.name)
        if b is None or (scope.kind == "function" and node.name not in scope.assigned
                         and not b.cell and b.pyname.startswith("v_")):
            if scope.kind == "module" and b is None:
                return f"{UNDEFINED}({node.name!r})"
            if b is None:
                self.error(node, f"undefined variable ${node.name}", code="HSL103")
        if scope.kind == "module" and self.pb.strict_globals and node.name not in scope.assigned \
                and not b.cell and node.name not in scope.module.data_vars:
            self.error(node, f"undefined variable ${node.name}", code="HSL103")
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
        return f"({tmp}.share() if type({tmp} := {code}) is {HARRAY} else {tmp})"

    def expr(self, scope: Scope, e) -> str:
        while type(e) is A.Paren:       # grouping costs no nesting in the generated code
            e = e.expr
        self.depth += 1
        if self.depth > MAX_COMPILED_NESTING:
            self.depth = 0
            self.error(e, f"expression nested too deeply (limit {MAX_COMPILED_NESTING} levels)",
                       code="HSL005")
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
                    parts.append(f"{STR}({self.expr(scope, p)})")
            return m + INTERPOLATE + "((" + ", ".join(parts) + ",))"
        if t is A.Regex:
            idx = self.pb.regex_const(e, self)
            return f"K[{idx}]"
        if t is A.Concat:
            parts = [self.expr(scope, p) for p in e.parts]
            return m + CONCAT_MANY + "((" + ", ".join(parts) + ",))"
        if t is A.Binary:
            return m + self.binary(scope, e)
        if t is A.Unary:
            if e.op == "-" and type(e.operand) is A.Number:
                return repr(-float(e.operand.value))
            inner = self.expr(scope, e.operand)
            if e.op == "!":
                return f"(not {inner})"
            helper = UNARY_HELPERS[e.op]
            return f"{m}{helper}({inner})"
        if t is A.Logical:
            left, right = self.expr(scope, e.left), self.expr(scope, e.right)
            if self.pb.probes is not None:
                return self.logical_counted(e, left, right)
            return f"(True if ({left}) {e.op} ({right}) else False)"
        if t is A.Coalesce:
            tmp = scope.temp()
            left = self.soft_expr(scope, e.left)
            right = self.expr(scope, e.right)
            if self.pb.probes is not None:
                return (f"({self.counted(P.branch('coalesce', e, 'left'), tmp)} "
                        f"if ({tmp} := {left}) is not None and {tmp} is not {UNSET} "
                        f"else {self.counted(P.branch('coalesce', e, 'right'), right)})")
            return (f"({tmp} if ({tmp} := {left}) is not None and {tmp} is not {UNSET} "
                    f"else {right})")
        if t is A.Cond:
            test = self.expr(scope, e.test)
            if e.then is None:
                tmp = scope.temp()
                other = self.expr(scope, e.other)
                if self.pb.probes is not None:
                    tmp_code = self.counted(P.branch("cond", e, "then"), tmp)
                    other = self.counted(P.branch("cond", e, "else"), other)
                    return f"({tmp_code} if ({tmp} := {test}) else {other})"
                return f"({tmp} if ({tmp} := {test}) else {other})"
            then, other = f"({self.expr(scope, e.then)})", f"({self.expr(scope, e.other)})"
            if self.pb.probes is not None:
                then = self.counted(P.branch("cond", e, "then"), then)
                other = self.counted(P.branch("cond", e, "else"), other)
            return f"({then} if ({test}) else {other})"

        if t is A.ArrayLit:
            return m + self.array_lit(scope, e)
        if t is A.Call:
            return m + self.call(scope, e)
        if t is A.Index:
            if e.index is None:
                self.error(e, "[] can only be used as an assignment target")
            tmp = scope.temp()
            target, index = self.expr(scope, e.target), self.expr(scope, e.index)
            return (f"{m}({tmp}.get({index}) if type({tmp} := {target}) is {HARRAY} "
                    f"else {INDEX}({tmp}, {index}))")
        if t is A.Slice:
            parts = [self.expr(scope, x) if x is not None else "None"
                     for x in (e.start, e.stop, e.step)]
            return f"{m}{SLICE}({self.expr(scope, e.target)}, {', '.join(parts)})"
        if t is A.Prop:
            return f"{m}{GETPROP}({self.expr(scope, e.target)}, {e.name!r}, {self.class_ctx(scope)})"
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

    def logical_counted(self, e: A.Logical, left: str, right: str) -> str:
        """`and`/`or` that counts whether the left operand decided (short-circuit) or
        the right one was evaluated too (both)."""
        short = self.count(P.branch(e.op, e, "short-circuit"))
        both = self.counted(P.branch(e.op, e, "both"), f"({right})")
        if e.op == "and":       # (a false left: 0, still false)
            return f"(True if (({left}) or {short} * 0) and {both} else False)"
        return f"(True if (({left}) and {short} + 1) or {both} else False)"

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
            return HARRAY + "()"
        if all(it.key is None and type(it.value) is not A.Spread for it in e.items):
            vals = ", ".join(self.transfer(scope, it.value) for it in e.items)
            return f"{HARRAY}.from_list([{vals}])"
        parts = []
        for it in e.items:
            if type(it.value) is A.Spread:
                parts.append(f"(2, {self.expr(scope, it.value.value)})")
            elif it.key is None:
                parts.append(f"(0, {self.transfer(scope, it.value)})")
            else:
                parts.append(f"(1, {self.expr(scope, it.key)}, {self.transfer(scope, it.value)})")
        return BUILD_ARRAY + "((" + ", ".join(parts) + ",))"

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
                parts.append(f"*{SPREAD}({self.expr(scope, a.value)})")
            else:
                parts.append(self.transfer(scope, a) if user else self.expr(scope, a))
        return ", ".join(parts), spread

    def check_arity(self, node, name: str, lo: int, hi: Optional[int], n: int,
                    builtin=None) -> None:
        """`builtin`: the registry entry of the function called, for its signature."""
        if n < lo or (hi is not None and n > hi):
            hint = f"the signature is {builtin.signature()}" \
                if hasattr(builtin, "signature") else ""
            self.soft_error(node, arity_message(name, lo, hi, n), code="HSL201", hint=hint)

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
                        return f"{CALL_CHECKED}({self.name(fi.pyname)}, {name!r}, {fi.min_args}, {fi.max_args!r}, {args})"
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
                    return f"{CALL_CHECKED}({pyname}, {name!r}, {b.min_args!r}, {b.max_args!r}, {args})"
                self.check_arity(e, name, b.min_args, b.max_args, n, b)
                return f"{pyname}({args})"
            bc = self.pb.builtin_classes.get(name)
            if bc is not None and not callee.builtin:
                args, spread = self.args(scope, e.args, user=False)
                pyname = self.pb.builtin_class_ref(name)
                if not spread:
                    self.check_arity(e, name, bc.min_args, bc.max_args, n)
                return f"{NEW_BUILTIN}({pyname}, {args})"
            if callee.builtin:
                self.soft_error(callee, f"builtin {name} is not a builtin function",
                                code="HSL101", name=name)
            else:
                self.soft_error(callee, f"undefined function {name}()", code="HSL101",
                                name=name, suggestion=self.pb.suggest(scope, name))
            self.args(scope, e.args, user=False)     # (collecting: check the arguments too)
            return "None"
        if type(callee) is A.Static:
            return self.static_call(scope, e, callee)
        if type(callee) is A.Prop:
            obj = self.expr(scope, callee.target)
            args, _ = self.args(scope, e.args, user=True)
            sep = ", " if args else ""
            return f"{CALL_METHOD}({obj}, {callee.name!r}, {self.class_ctx(scope)}{sep}{args})"
        f = self.expr(scope, callee)
        args, _ = self.args(scope, e.args, user=True)
        sep = ", " if args else ""
        return f"{CALL_VALUE}({f}{sep}{args})"

    def static_call(self, scope: Scope, e: A.Call, callee: A.Static) -> str:
        if callee.is_var:
            target = self.static_read(scope, callee)
            args, _ = self.args(scope, e.args, user=True)
            sep = ", " if args else ""
            return f"{CALL_VALUE}({target}{sep}{args})"
        n = len(e.args)
        ci = self.static_scope_class(scope, callee)
        if ci is not None:
            fi = ci.static_methods.get(callee.member)
            if fi is None:
                self.error(callee, f"undefined function {ci.name}::{callee.member}()",
                           code="HSL101", name=f"{ci.name}::{callee.member}")
            if fi.node is not None and fi.node.private and self.enclosing_class(scope) is not ci:
                self.error(callee, f"{ci.name}::{callee.member}() is private")
            args, spread = self.args(scope, e.args, user=True)
            fn = self.static_method_ref(ci, fi)
            if spread:
                return f"{CALL_CHECKED}({fn}, {callee.member!r}, {fi.min_args}, {fi.max_args!r}, {args})"
            self.check_arity(e, f"{ci.name}::{callee.member}", fi.min_args, fi.max_args, n)
            return f"{fn}({args})"

        ns = scope.module.namespaces.get(callee.scope)
        if ns is not None:
            fi = ns.functions.get(callee.member)
            if fi is None:
                self.error(callee, f"undefined function {callee.scope}::{callee.member}()",
                           code="HSL101", name=f"{callee.scope}::{callee.member}")
            args, spread = self.args(scope, e.args, user=True)
            if not spread:
                self.check_arity(e, f"{callee.scope}::{callee.member}", fi.min_args, fi.max_args, n)
            return f"{self.name('ns_' + callee.scope)}[{('f:' + callee.member)!r}]({args})"
        bc = self.pb.builtin_classes.get(callee.scope)
        if bc is not None:
            st = bc.cls.hsl_statics.get(callee.member)
            if st is None:
                self.error(callee, f"undefined function {callee.scope}::{callee.member}()",
                           code="HSL101", name=f"{callee.scope}::{callee.member}")
            _, lo, hi = st
            args, spread = self.args(scope, e.args, user=False)
            if not spread:
                self.check_arity(e, f"{callee.scope}::{callee.member}", lo, hi, n)
            return f"{self.pb.builtin_class_ref(callee.scope)}.hsl_statics[{callee.member!r}][0]({args})"
        self.soft_error(callee, f"undefined class {callee.scope}", code="HSL102",
                        name=callee.scope)
        self.args(scope, e.args, user=False)
        return "None"

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
                    self.error(node, f"undefined variable {ci.name}::${node.member}", code="HSL103")
                return f"{self.name(ci.pyname)}.get_static({node.member!r}, {self.class_ctx(scope)})"
            fi = ci.static_methods.get(node.member)
            if fi is None:
                self.error(node, f"undefined function {ci.name}::{node.member}", code="HSL101",
                           name=f"{ci.name}::{node.member}")
            return (f"{HFUNCTION}({fi.name!r}, {self.static_method_ref(ci, fi)}, {fi.min_args}, "
                    f"{fi.max_args!r})")
        ns = scope.module.namespaces.get(node.scope)
        if ns is not None:
            if node.is_var:
                if node.member not in ns.globals:
                    self.error(node, f"undefined variable {node.scope}::${node.member}",
                               code="HSL103")
                return f"{CELL_GET}({self.name('ns_' + node.scope)}[{('v:' + node.member)!r}])"
            fi = ns.functions.get(node.member)
            if fi is None:
                self.error(node, f"undefined function {node.scope}::{node.member}", code="HSL101",
                           name=f"{node.scope}::{node.member}")
            return (f"{HFUNCTION}({fi.name!r}, {self.name('ns_' + node.scope)}[{('f:' + fi.name)!r}], "
                    f"{fi.min_args}, {fi.max_args!r})")
        bc = self.pb.builtin_classes.get(node.scope)
        if bc is not None and not node.is_var and node.member in bc.cls.hsl_statics:
            _, lo, hi = bc.cls.hsl_statics[node.member]
            ref = self.pb.builtin_class_ref(node.scope)
            return f"{HFUNCTION}({node.member!r}, {ref}.hsl_statics[{node.member!r}][0], {lo}, {hi!r})"
        self.soft_error(node, f"undefined class {node.scope}", code="HSL102", name=node.scope)
        return "None"

    def name_ref(self, scope: Scope, e: A.NameRef) -> str:
        name = e.name
        if not e.builtin:
            fi = scope.lookup_function(name)
            if fi is not None:
                return f"{HFUNCTION}({name!r}, {self.name(fi.pyname)}, {fi.min_args}, {fi.max_args!r})"
            ci = scope.lookup_class(name)
            if ci is not None:
                return f"{HFUNCTION}({name!r}, {self.name(ci.pyname)}.new, {ci.min_args}, {ci.max_args!r})"
        b = self.pb.builtins.get(name)
        if b is not None:
            return f"{HFUNCTION}({name!r}, {self.pb.builtin_ref(name)}, {b.min_args!r}, {b.max_args!r})"
        bc = self.pb.builtin_classes.get(name)
        if bc is not None and not e.builtin:
            ref = self.pb.builtin_class_ref(name)
            return f"{HFUNCTION}({name!r}, {BUILTIN_CTOR}({ref}), {bc.min_args!r}, {bc.max_args!r})"
        if e.builtin:
            self.soft_error(e, f"builtin {name} is not a builtin function", code="HSL101",
                            name=name)
        else:
            self.soft_error(e, f"undefined function {name}", code="HSL101", name=name,
                            suggestion=self.pb.suggest(scope, name))
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
        return f"{HFUNCTION}('anonymous function', {pyname}, {lo}, {hi!r})"

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
        cov = self.pb.probes is not None
        for n, arm in enumerate(e.arms):
            if arm.conditions is None:
                if default is not None:
                    self.error(arm, "match has more than one default arm", code="HSL501")
                default = arm
                continue
            tests = " or ".join(f"{LOOSE_EQ}({subj}, {self.expr(scope, c)})" for c in arm.conditions)
            result = f"({self.transfer(scope, arm.result)})"
            if cov:
                result = self.counted(P.branch("match", e, f"arm {n + 1}", arm), result)
            chain.append(f"{result} if ({tests}) else ")
        tail = (f"({self.transfer(scope, default.result)})" if default is not None
                else f"{UNHANDLED_MATCH}({subj})")
        if cov and default is not None:
            tail = self.counted(P.branch("match", e, "default", default), tail)
        return f"(({subj} := {self.expr(scope, e.subject)}), " + "".join(chain) + tail + ")[1]"

    def destructure(self, scope: Scope, e: A.Destructure) -> str:
        val = scope.temp()
        parts = [f"({val} := {self.transfer(scope, e.value)})"]
        for i, tg in enumerate(e.targets):
            b = self.binding(scope, tg.name, tg, write=True)
            default = self.expr(scope, tg.default) if tg.default is not None else "None"
            if e.keyed:
                key = self.expr(scope, tg.key)
                parts.append(self.store_expr(b, f"{DESTRUCTURE_KEY}({val}, {key}, lambda: {default})"))
            else:
                parts.append(self.store_expr(b, f"{DESTRUCTURE_POS}({val}, {i}, lambda: {default})"))
        if e.rest is not None:
            b = self.binding(scope, e.rest, e, write=True)
            parts.append(self.store_expr(b, f"{DESTRUCTURE_REST}({val}, {len(e.targets)})"))
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
                    self.error(e, f"undefined function {ci.name}::{e.name}()", code="HSL101",
                               name=f"{ci.name}::{e.name}")
                self.check_arity(e, f"{ci.name}::{e.name}", fi.min_args, fi.max_args, n)
                fn_code = self.static_method_ref(ci, fi)
            else:
                ns = scope.module.namespaces.get(e.scope)
                fi = ns.functions.get(e.name) if ns is not None else None
                if fi is None:
                    self.error(e, f"undefined function {e.scope}::{e.name}()", code="HSL101",
                               name=f"{e.scope}::{e.name}")
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
                    self.soft_error(e, f"undefined function {e.name}()", code="HSL101",
                                    name=e.name)
                    self.args(scope, e.args, user=False)
                    return "None"
                self.check_arity(e, e.name, b.min_args, b.max_args, n, b)
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
                return f"{SOFT_GLOBAL}(V, {e.name!r})" if scope.kind == "module" else UNSET
            if scope.kind == "function" and e.name not in scope.assigned and not b.cell \
                    and b.pyname.startswith("v_"):
                return UNSET
            return self.soft_read(b, scope, e.name)
        if t is A.Index and e.index is not None:
            target = self.nested(e, self.soft_expr, scope, e.target)
            return f"{SOFT_INDEX}({target}, {self.expr(scope, e.index)})"
        if t is A.Prop:
            target = self.nested(e, self.soft_expr, scope, e.target)
            return f"{SOFT_PROP}({target}, {e.name!r}, {self.class_ctx(scope)})"
        if t is A.Static and e.is_var:
            return self.static_read(scope, e)
        return self.expr(scope, e)

    def isset(self, scope: Scope, target) -> str:
        t = type(target)
        if t is A.Var:
            return f"({self.soft_expr(scope, target)} is not {UNSET})"
        if t is A.Index and target.index is not None:
            return (f"{ISSET_INDEX}({self.soft_expr(scope, target.target)}, "
                    f"{self.expr(scope, target.index)})")
        if t is A.Prop:
            return (f"{ISSET_PROP}({self.soft_expr(scope, target.target)}, {target.name!r}, "
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
                w.emit(f"    return {CELL_DEL}({b.pyname})")
            w.pos = saved
            return f"{helper}()"
        if t is A.Index and target.index is not None:
            # Only an existing entry is removed: a missing path must not be created.
            key = scope.temp()
            soft = self.soft_expr(scope, target.target)
            cont = self.place_for_write(scope, target.target)
            return (f"({ISSET_INDEX}({soft}, ({key} := {self.expr(scope, target.index)})) "
                    f"and {UNSET_INDEX}({cont}, {key}))")
        if t is A.Slice:
            cont = self.place_for_write(scope, target.target)
            parts = [self.expr(scope, x) if x is not None else "None"
                     for x in (target.start, target.stop, target.step)]
            return f"{UNSET_SLICE}({cont}, {', '.join(parts)})"
        if t is A.Prop:
            return (f"{UNSET_PROP}({self.expr(scope, target.target)}, {target.name!r}, "
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
                w.emit(f"else: {b.pyname} = {CONCAT}({self.read(b)}, {tmp})")
                return
            if e.op == "??=":
                tmp = scope.temp()
                w.emit(f"{tmp} = {self.soft_read(b, scope, target.name)}")
                w.emit(f"if {tmp} is None or {tmp} is {UNSET}: "
                       + self.store(b, f"({self.transfer(scope, e.value)})"))
                return
            helper = self.compound_helper(e)
            op = e.op[:-1]                  # ("+=": "+")
            if op in FLOAT_FAST and not b.cell:
                code = self.float_fast(scope, op, helper,
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
                w.emit(f"except NameError: {tc} = {UNSET}")
                w.emit(f"if type({tc}) is not {HARRAY} or {tc}.shared: {b.pyname} = {tc} = {CONTAINER}({tc})")
                self.at(e)
                if type(target) is A.Index and target.index is None and type(target.target) is A.Var \
                        and e.op == "=":
                    tv = scope.temp()
                    w.emit(f"{tv} = ({self.transfer(scope, e.value)})")
                    w.emit(f"if type({tc}) is {HARRAY}: {tc}.append({tv})")
                    w.emit(f"else: {APPEND}({tc}, {tv})")
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
                return (f"({tmp} if ({tmp} := {self.soft_read(b, scope, target.name)}) is not None and {tmp} is not {UNSET} "
                        f"else {self.store_expr(b, self.transfer(scope, e.value))})")
            helper = self.compound_helper(e)
            return self.store_expr(b, f"{helper}({self.read(b)}, {self.expr(scope, e.value)})")
        if t is A.Index:
            cont = self.place_for_write(scope, target.target, root_code)
            if target.index is None:
                if e.op != "=":
                    self.error(target, "[] cannot be used with a compound assignment")
                return f"{APPEND}({cont}, {self.transfer(scope, e.value)})"
            key = self.expr(scope, target.index)
            if e.op == "=":
                return f"{SETINDEX}({cont}, {key}, {self.transfer(scope, e.value)})"
            if e.op == "??=":
                return (f"{SETINDEX_COALESCE}({cont}, {key}, "
                        f"lambda: {self.transfer(scope, e.value)})")
            return (f"{SETINDEX_OP}({cont}, {key}, {self.compound_helper(e)}, "
                    f"{self.expr(scope, e.value)})")
        if t is A.Prop:
            obj = self.expr(scope, target.target)
            ctx = self.class_ctx(scope)
            if e.op == "=":
                return f"{SETPROP}({obj}, {target.name!r}, {self.transfer(scope, e.value)}, {ctx})"
            if e.op == "??=":
                return (f"{SETPROP_COALESCE}({obj}, {target.name!r}, "
                        f"lambda: {self.transfer(scope, e.value)}, {ctx})")
            helper = self.compound_helper(e)
            return f"{SETPROP_OP}({obj}, {target.name!r}, {helper}, {self.expr(scope, e.value)}, {ctx})"
        if t is A.Static and target.is_var:
            ci = self.static_scope_class(scope, target)
            if ci is None:
                ns = scope.module.namespaces.get(target.scope)
                if ns is None:
                    self.error(target, f"undefined class {target.scope}", code="HSL102",
                               name=target.scope)
                cell = f"{self.name('ns_' + target.scope)}[{('v:' + target.member)!r}]"
                if e.op == "=":
                    return f"{CELL_SET}({cell}, {self.transfer(scope, e.value)})"
                if e.op == "??=":
                    tmp = scope.temp()
                    return (f"({tmp} if ({tmp} := {CELL_SOFT}({cell})) is not None and {tmp} is not {UNSET} "
                            f"else {CELL_SET}({cell}, {self.transfer(scope, e.value)}))")
                helper = self.compound_helper(e)
                return f"{CELL_SET}({cell}, {helper}({CELL_GET}({cell}), {self.expr(scope, e.value)}))"
            if target.member not in ci.statics:
                self.error(target, f"undefined variable {ci.name}::${target.member}", code="HSL103")
            ctx = self.class_ctx(scope)
            cls = self.name(ci.pyname)
            if e.op == "=":
                return f"{cls}.set_static({target.member!r}, {self.transfer(scope, e.value)}, {ctx})"
            if e.op == "??=":
                return (f"{cls}.set_static_coalesce({target.member!r}, "
                        f"lambda: {self.transfer(scope, e.value)}, {ctx})")
            helper = self.compound_helper(e)
            return (f"{cls}.set_static({target.member!r}, {helper}({cls}.get_static("
                    f"{target.member!r}, {ctx}), {self.expr(scope, e.value)}), {ctx})")
        if t is A.Slice:
            if e.op != "=":
                self.error(target, "slices can only be assigned with =")
            cont = self.place_for_write(scope, target.target, root_code)
            parts = [self.expr(scope, x) if x is not None else "None"
                     for x in (target.start, target.stop, target.step)]
            return f"{SETSLICE}({cont}, {', '.join(parts)}, {self.expr(scope, e.value)})"
        self.error(target, "invalid assignment target")

    def compound_helper(self, e: A.Assign) -> str:
        """The helper that makes the new value of the compound assignment `e` from the old
        one and the operand, whatever the target: `$x += 1` stores `_add($x, 1)`,
        `$a[k] .= "s"` is `_setindex_op($a, k, _concat, "s")`."""
        helper = COMPOUND.get(e.op)
        if helper is None:
            self.error(e, f"internal: {e.op} is not a compound assignment")
        return helper

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
                return f"{CELL_CONTAINER}({b.pyname})"
            # Undefined or none variables become arrays on their first element write.
            return f"({b.pyname} := {CONTAINER}({self.soft_read(b, scope, node.name)}))"
        if t is A.Index:
            parent = self.nested(node, self.place_for_write, scope, node.target, root_code)
            if node.index is None:
                return f"{APPEND_CONTAINER}({parent})"
            return f"{CHILD_CONTAINER}({parent}, {self.expr(scope, node.index)})"
        if t is A.Prop:
            return (f"{PROP_CONTAINER}({self.expr(scope, node.target)}, {node.name!r}, "
                    f"{self.class_ctx(scope)})")
        if t is A.Static and node.is_var:
            ci = self.static_scope_class(scope, node)
            if ci is None:
                self.error(node, f"undefined class {node.scope}", code="HSL102", name=node.scope)
            return f"{self.name(ci.pyname)}.static_container({node.member!r}, {self.class_ctx(scope)})"
        if t is A.Call:
            return f"{OBJECT_CONTAINER}({self.expr(scope, node)})"
        self.error(node, "invalid assignment target")

    def incdec_stmt(self, scope: Scope, e: A.IncDec) -> None:
        target = e.target
        if type(target) is A.Var:
            b = self.binding(scope, target.name, target, write=True)
            if not b.cell:
                py = b.pyname
                d = "1.0"
                op = "+" if e.op == "++" else "-"
                helper = INCDEC_HELPERS[e.op]
                self.w.emit(f"{py} = {py} {op} {d} if type({py}) is float else {helper}({py})")
                return
        self.w.emit(f"_ = ({self.incdec_expr(scope, e)})")

    def incdec_expr(self, scope: Scope, e: A.IncDec) -> str:
        helper = INCDEC_HELPERS[e.op]
        target = e.target
        t = type(target)
        if t is A.Var:
            b = self.binding(scope, target.name, target, write=True)
            if e.prefix:
                return self.store_expr(b, f"{helper}({self.read(b)})")
            tmp = scope.temp()
            return f"(({tmp} := {TO_NUMBER}({self.read(b)})), {self.store_expr(b, f'{helper}({tmp})')})[0]"
        if t is A.Index and target.index is not None:
            cont = self.place_for_write(scope, target.target)
            return f"{INCDEC_INDEX}({cont}, {self.expr(scope, target.index)}, {helper}, {e.prefix})"
        if t is A.Prop:
            return (f"{INCDEC_PROP}({self.expr(scope, target.target)}, {target.name!r}, {helper}, "
                    f"{e.prefix}, {self.class_ctx(scope)})")
        if t is A.Static and target.is_var:
            ci = self.static_scope_class(scope, target)
            if ci is None:
                self.error(target, f"undefined class {target.scope}", code="HSL102",
                           name=target.scope)
            return f"{self.name(ci.pyname)}.incdec_static({target.member!r}, {helper}, {e.prefix}, {self.class_ctx(scope)})"
        self.error(target, f"{e.op} needs a variable, element or property")


# ----------------------------------------------------------------- helpers

# What a constant expression (a parameter's or a member's default) is made of.
_CONSTANT_OPERATIONS = (A.ArrayLit, A.ArrayItem, A.Unary, A.Binary, A.Concat, A.Logical,
                        A.Coalesce, A.Cond, A.Paren, A.Spread)
_CONSTANT_PARTS = (A.Number, A.String, A.Bool, A.NoneLit, A.Regex) + _CONSTANT_OPERATIONS


def _is_constant_operation(node) -> bool:
    return isinstance(node, _CONSTANT_OPERATIONS)


def _module_names(mod: ModuleInfo) -> set:
    """The Python names a module function binds for its functions, classes, their static
    methods and its namespaces (see Compiler.define)."""
    names = {fi.pyname for fi in mod.functions.values()}
    for ci in mod.classes.values():
        names.add(ci.pyname)
        names.update(fi.pyname for fi in ci.static_methods.values())
    names.update("ns_" + alias for alias in mod.namespaces)
    return names


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
