"""Flow analysis for `hsl check`: unreachable code (HSL602) and variables read where no path
has set them (HSL601). Both are warnings.

One forward walk per scope (the file's global scope, each function, method, constructor and
anonymous function) computes the set of variables that *may* be set at each point. A read of
a variable that is not in the set, although the scope assigns it somewhere, is reported: no
path from the start of the scope to the read sets it (e.g. it is only set later, or only in
a loop that comes after). Loops are handled by adding everything the loop assigns on entry,
so the analysis never warns about a value carried from a previous iteration. Whatever is
unsure counts as set (an `include` sets everything; so does `global` in some function for the
global scope), so the warnings have no false positives on valid flows.

Unreachable code is the first statement after `return`, `throw`, `break`, `continue`, a hook
decision (`Accept()`, `Reject()`, `Defer()`, ... which never return), an `if`/`else` whose
branches all end so, or a `forever` loop without `break`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .. import ast as A
from ..compiler import lvalue_root


class _All(frozenset):
    """The state after an `include`: every variable may be set."""

    def __contains__(self, name):
        return True

    def __or__(self, other):
        return self

    __ror__ = __or__


ALL = _All()


@dataclass
class Finding:
    code: str
    span: A.Span
    message: str
    hint: str = ""


def _union(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a is ALL or b is ALL:
        return ALL
    return a | b


class _Target:
    __slots__ = ("kind", "states")

    def __init__(self, kind: str):
        self.kind = kind            # "loop" or "switch"
        self.states: list = []      # states at `break`s that leave this target


def scope_nodes(nodes):
    """The nodes of one scope: nested functions, anonymous functions and classes are
    yielded (a closure's captures belong to this scope) but not entered."""
    stack = list(nodes) if isinstance(nodes, list) else [nodes]
    while stack:
        n = stack.pop()
        if n is None or isinstance(n, (bytes, str)):
            continue
        if isinstance(n, list):
            stack.extend(n)
            continue
        yield n
        if type(n) not in (A.FunctionDecl, A.ClassDecl, A.FuncExpr) and isinstance(n, A.Node):
            stack.extend(A.iter_child_nodes(n))


def assigned_in(nodes) -> set:
    """Variables a piece of code may assign (not looking into nested functions);
    ALL if it contains an include."""
    out: set = set()
    for n in scope_nodes(nodes):
        if type(n) is A.Include or hasattr(n, "file_index"):
            return ALL
        out.update(written_by(n))
    return out


def written_by(n) -> list:
    """The variables one node writes (not looking into its children): assignment roots,
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


def scopes(program: A.Program):
    """(names some function declares `global`, [(body, names bound on entry, class)])
    for the file's scopes: its global scope first, then each function, anonymous
    function, method and constructor (class: the class a method belongs to, else None;
    anonymous functions inside methods belong to the class too)."""
    declared_global: set = set()
    out = [(program.body, set(), None)]
    stack = [(n, None) for n in program.body]
    while stack:
        n, cls = stack.pop()
        if n is None or isinstance(n, (bytes, str)):
            continue
        if isinstance(n, list):
            stack.extend((x, cls) for x in n)
            continue
        t = type(n)
        if t is A.Global:
            declared_global.update(n.names)
        elif t is A.ClassDecl:
            cls = n.name
        elif t is A.FunctionDecl:
            out.append((n.body, {p.name for p in n.params}, None))
        elif t is A.FuncExpr:
            out.append((n.body, {p.name for p in n.params} | set(n.captures), cls))
        elif t in (A.ClassMethod, A.Constructor):
            out.append((n.body, {p.name for p in n.params} | {"this"}, cls))
        if isinstance(n, A.Node):
            stack.extend((c, cls) for c in A.iter_child_nodes(n))
    return declared_global, out


def _first_assignment(body, name: str) -> Optional[A.Span]:
    best = None
    for n in scope_nodes(body):
        if type(n) in (A.Assign, A.IncDec) and lvalue_root(n.target) == name:
            if best is None or (n.span.line, n.span.col) < (best.line, best.col):
                best = n.span
    return best


class ScopeFlow:
    """The walk over one scope's statements."""

    def __init__(self, body: list, entry, terminating: set, findings: list):
        self.body = body
        self.terminating = terminating
        self.findings = findings
        self.assigned = assigned_in(body)
        self.entry = entry
        self.targets: list[_Target] = []
        self.why = ""
        self.reported: set = set()

    def run(self) -> None:
        if self.assigned is ALL:
            # An include may set anything: variable warnings would be guesses.
            self.assigned = frozenset()
        self.block(self.body, set(self.entry) if self.entry is not ALL else ALL)

    # -------------------------------------------------------------- statements
    def block(self, body, state):
        for i, s in enumerate(body):
            if state is None:
                for rest in body[i:]:
                    if type(rest) is A.Break and self.targets \
                            and self.targets[-1].kind == "switch":
                        continue        # `return ...; break;` in a case: defensive style
                    if type(rest) not in (A.Empty, A.FunctionDecl, A.ClassDecl):
                        self.findings.append(Finding(
                            "HSL602", rest.span, f"unreachable code after {self.why}",
                            "this statement and the ones after it in this block never run"))
                        break
                return None
            state = self.stmt(s, state)
        return state

    def end(self, why: str):
        self.why = why
        return None

    def stmt(self, s, state):
        t = type(s)
        if t is A.ExprStmt:
            state = self.expr(s.expr, state)
            e = s.expr
            while type(e) is A.Paren:
                e = e.expr
            if type(e) is A.Call and type(e.callee) is A.NameRef \
                    and e.callee.name in self.terminating:
                return self.end(f"{e.callee.name}() (it never returns)")
            return state
        if t is A.Echo:
            return self.expr(s.expr, state)
        if t is A.Block:
            return self.block(s.body, state)
        if t is A.If:
            state = self.expr(s.test, state)
            then = self.stmt(s.then, state)
            other = self.stmt(s.other, state) if s.other is not None else state
            if then is None and other is None:
                self.why = "an if/else whose branches all end"
            return _union(then, other)
        if t is A.While or t is A.Forever:
            loop_state = _union(state, assigned_in([s]))
            infinite = t is A.Forever
            if t is A.While:
                loop_state = self.expr(s.test, loop_state)
                infinite = type(s.test) is A.Bool and s.test.value is True
            target = _Target("loop")
            self.targets.append(target)
            self.stmt(s.body, loop_state)
            self.targets.pop()
            if infinite and not target.states:
                return self.end("a loop that never ends (no break)")
            return loop_state
        if t is A.For:
            if s.init is not None:
                state = self.expr(s.init, state)
            loop_state = _union(state, assigned_in([s]))
            if s.test is not None:
                loop_state = self.expr(s.test, loop_state)
            target = _Target("loop")
            self.targets.append(target)
            self.stmt(s.body, loop_state)
            self.targets.pop()
            if s.step is not None:
                self.expr(s.step, loop_state)
            if s.test is None and not target.states:
                return self.end("a loop that never ends (no break)")
            return loop_state
        if t is A.Foreach:
            state = self.expr(s.iterable, state)
            loop_state = _union(state, assigned_in([s]))
            target = _Target("loop")
            self.targets.append(target)
            self.stmt(s.body, loop_state)
            self.targets.pop()
            return loop_state
        if t is A.Switch:
            state = self.expr(s.subject, state)
            for case in s.cases:
                if case.test is not None:
                    state = self.expr(case.test, state)
            target = _Target("switch")
            self.targets.append(target)
            cur = None
            for case in s.cases:
                entry = _union(state, cur)
                cur = self.block(case.body, entry)
            self.targets.pop()
            out = cur
            for st in target.states:
                out = _union(out, st)
            if not any(c.test is None for c in s.cases):
                out = _union(out, state)
            if out is None:
                self.why = "a switch whose cases all end"
            return out
        if t is A.Break:
            for target in reversed(self.targets):
                target.states.append(state)
                break
            return self.end("break")
        if t is A.Continue:
            return self.end("continue")
        if t is A.Return:
            if s.value is not None:
                self.expr(s.value, state)
            return self.end("return")
        if t is A.Throw:
            self.expr(s.value, state)
            return self.end("throw")
        if t is A.Try:
            body = self.block(s.body, state)
            handler_entry = _union(state, assigned_in(s.body))
            if s.var:
                handler_entry = _union(handler_entry, {s.var})
            handler = self.block(s.handler, handler_entry)
            if body is None and handler is None:
                self.why = "a try/catch whose branches all end"
            return _union(body, handler)
        if t is A.Barrier:
            state = self.expr(s.name, state)
            if s.var:
                state = _union(state, {s.var})
            return self.block(s.body, state)
        if t is A.Global:
            return _union(state, set(s.names))
        if t is A.Include or hasattr(s, "file_index"):
            return ALL
        if t is A.ImportData:
            return _union(state, {s.var})
        if t is A.ImportSymbols:
            return _union(state, {(it.alias or it.name) for it in s.items if it.is_var})
        return state

    # ------------------------------------------------------------- expressions
    def expr(self, e, state):
        """Walk an expression in evaluation order; returns the state after it."""
        if e is None or state is None:
            return state
        t = type(e)
        if t is A.Var:
            self.read(e, state)
            return state
        if t is A.Assign:
            target = e.target
            if type(target) is A.Var:
                if e.op not in ("=", "??="):
                    self.read(target, state)
                state = self.expr(e.value, state)
                return _union(state, {target.name})
            root = lvalue_root(target)
            state = self.target_parts(target, state)
            state = self.expr(e.value, state)
            return _union(state, {root}) if root is not None else state
        if t is A.IncDec:
            if type(e.target) is A.Var:
                self.read(e.target, state)
                return _union(state, {e.target.name})
            root = lvalue_root(e.target)
            state = self.target_parts(e.target, state)
            return _union(state, {root}) if root is not None else state
        if t is A.Destructure:
            state = self.expr(e.value, state)
            for tg in e.targets:
                state = self.expr(tg.key, state)
                state = self.expr(tg.default, state)
            names = {tg.name for tg in e.targets}
            if e.rest:
                names.add(e.rest)
            return _union(state, names)
        if t is A.Isset or t is A.Unset:
            return self.soft(e.target, state)
        if t is A.Coalesce:
            state = self.soft(e.left, state)
            return self.expr(e.right, state)
        if t is A.FuncExpr:
            return state        # its own scope; captures bind by reference
        if t is A.Interp:
            for p in e.parts:
                if type(p) is A.Var:
                    self.read(p, state)
            return state
        for child in A.iter_child_nodes(e):
            if isinstance(child, A.Node):
                state = self.expr(child, state)
        return state

    def target_parts(self, target, state):
        """The expressions inside an assignment target (indexes, property objects)."""
        t = type(target)
        if t is A.Var:
            return state
        if t is A.Index:
            state = self.target_parts(target.target, state)
            return self.expr(target.index, state)
        if t is A.Slice:
            state = self.target_parts(target.target, state)
            for x in (target.start, target.stop, target.step):
                state = self.expr(x, state)
            return state
        return self.expr(target, state)

    def soft(self, e, state):
        """`isset`, `unset` and the left side of `??` do not need the variable set."""
        t = type(e)
        while t is A.Paren:
            e = e.expr
            t = type(e)
        if t is A.Var:
            return state
        if t is A.Index:
            state = self.soft(e.target, state)
            return self.expr(e.index, state)
        if t is A.Prop:
            return self.soft(e.target, state)
        return self.expr(e, state)

    def read(self, v: A.Var, state) -> None:
        name = v.name
        if state is None or name in state or name not in self.assigned:
            return
        if name in self.reported:
            return
        self.reported.add(name)
        first = _first_assignment(self.body, name)
        hint = "check the spelling, or set it before this point"
        if first is not None:
            hint = f"it is first set at line {first.line}; " + hint
        self.findings.append(Finding(
            "HSL601", v.span, f"variable ${name} is read where no path has set it", hint))


def analyze(program: A.Program, *, predefined: set, terminating: set) -> list[Finding]:
    """Flow findings for one parsed file (its own statements; includes count as setting
    everything)."""
    findings: list[Finding] = []
    declared_global, (module, *functions) = scopes(program)
    # Functions may set globals they declare `global`: count those as set from the start.
    ScopeFlow(module[0], set(predefined) | declared_global, terminating, findings).run()
    for fbody, entry, _ in functions:
        ScopeFlow(fbody, entry, terminating, findings).run()
    return findings
