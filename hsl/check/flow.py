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

Cost: linear in the scope's size times its nesting.  A state is a layer of names over the
state it branched from (_State), so an assignment or a branch costs what it adds, not the
size of the whole state; a scope nested deeper than MAX_DEPTH levels is given up (no
warnings for it: the compiler reports such nesting as an error anyway).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..syntax import ast as A
from ..compiler.resolve import Resolution, binds, lvalue_root, scope_nodes


class _All(frozenset):
    """What an `include` may assign: every variable."""

    def __contains__(self, name):
        return True

    def add(self, name):            # (it has every name already)
        pass

    def update(self, names):
        pass


ALL = _All()
MAX_DEPTH = 150         # statement and expression levels a scope's walk goes into


class _TooDeep(Exception):
    pass


@dataclass
class Finding:
    code: str
    span: A.Span
    message: str
    hint: str = ""


class _State:
    """The variables that may be set at a point: `names` over the state this one branched
    from, which stays unchanged while this one is in use (a branch is merged back into it
    when it ends).  `everything`: an include was passed, any variable may be set."""
    __slots__ = ("names", "parent", "everything")

    def __init__(self, parent: Optional["_State"] = None, names=()):
        self.parent = parent
        self.names = set(names)
        self.everything = names is ALL

    def __contains__(self, name) -> bool:
        s = self
        while s is not None:
            if s.everything or name in s.names:
                return True
            s = s.parent
        return False

    def add(self, names) -> "_State":
        if names is ALL:
            self.everything = True
        else:
            self.names.update(names)
        return self

    def branch(self, names=()) -> "_State":
        return _State(self, names)

    def merge(self, *branches) -> Optional["_State"]:
        """This state after the paths through `branches` (states branched from it, or
        itself; None for a path that ended), or None when every path ended."""
        live = [b for b in branches if b is not None]
        if not live:
            return None
        for b in live:
            self._absorb(b, self)
        return self

    def since(self, base: "_State") -> "_State":
        """A branch of `base` (which this state comes from) holding what this one has
        added to it so far."""
        out = base.branch()
        out._absorb(self, base)
        return out

    def _absorb(self, state: "_State", stop: "_State") -> None:
        while state is not stop:
            self.names |= state.names
            self.everything |= state.everything
            state = state.parent


class _Target:
    __slots__ = ("kind", "base", "states")

    def __init__(self, kind: str, base: Optional[_State] = None):
        self.kind = kind            # "loop" or "switch"
        self.base = base            # (switch) the state its cases branch from
        self.states: list = []      # (switch) states at `break`s that leave it


def assigned_in(nodes) -> set:
    """Variables a piece of code may assign (not looking into nested functions);
    ALL if it contains an include."""
    out: set = set()
    for n in scope_nodes(nodes):
        if type(n) is A.Include or type(n) is A.Included:
            return ALL
        out.update(binds(n))
    return out


class Scope:
    """One scope of a file (see scopes()), as the resolver found it."""
    __slots__ = ("body", "entry", "cls", "facts", "written")

    def __init__(self, body: list, entry: set, cls: Optional[str], facts):
        self.body = body
        self.entry = entry          # names bound on entry (parameters, captures, $this)
        self.cls = cls              # the class its code belongs to, if any
        self.facts = facts          # its resolve.ScopeFacts: writes, calls (methods.py)
        # What its code may assign (a closure's capture does not: it binds by reference);
        # ALL: an include.
        self.written = ALL if facts.includes else \
            {name for name, n in facts.writes if type(n) is not A.FuncExpr}


def scopes(program: A.Program, resolution: Optional[Resolution] = None):
    """(names some function declares `global`, [Scope]) for the file's scopes: its global
    scope first, then each function, anonymous function, method and constructor (see
    Resolution.file_scopes), resolved in `resolution` (a new table if None)."""
    resolution = Resolution() if resolution is None else resolution
    declared_global: set = set()
    out = []
    for node, facts, entry, cls in resolution.file_scopes(program):
        out.append(Scope(node.body, entry, cls, facts))
        for g in facts.globals:
            declared_global.update(g.names)
    return declared_global, out


class ScopeFlow:
    """The walk over one scope's statements."""

    def __init__(self, scope: Scope, entry, terminating: set, findings: list):
        self.body = scope.body
        self.facts = scope.facts    # (for where a variable is first set)
        self.terminating = terminating
        self.findings = findings
        self.assigned = scope.written
        self.entry = entry
        self.targets: list[_Target] = []
        self.why = ""
        self.reported: set = set()
        self.first = None           # (first assignments, found when first needed)
        self.depth = 0
        self.loops = 0              # loops around the statement being walked

    def run(self) -> None:
        if self.assigned is ALL:
            # An include may set anything: variable warnings would be guesses.
            self.assigned = frozenset()
        found = len(self.findings)
        try:
            self.block(self.body, _State(None, self.entry))
        except _TooDeep:
            del self.findings[found:]

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

    def assigned_in_loop(self, loop) -> set:
        # Inside another loop, that loop's state already holds all this one assigns.
        return assigned_in([loop]) if not self.loops else ()

    def loop(self, body, loop_state: _State) -> _Target:
        target = _Target("loop")
        self.targets.append(target)
        self.loops += 1
        self.stmt(body, loop_state.branch())
        self.loops -= 1
        self.targets.pop()
        return target

    def deeper(self, fn, *args):
        """fn(*args), one level deeper (see MAX_DEPTH)."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _TooDeep
            return fn(*args)
        finally:
            self.depth -= 1

    def stmt(self, s, state):
        return self.deeper(self._stmt, s, state)

    def _stmt(self, s, state):
        """The state after statement `s` (the same object, or None when no path goes on)."""
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
            then = self.stmt(s.then, state.branch())
            other = self.stmt(s.other, state.branch()) if s.other is not None else state
            if then is None and other is None:
                self.why = "an if/else whose branches all end"
            return state.merge(then, other)
        if t is A.While or t is A.Forever:
            # On entry the loop may already have run: what it assigns may be set.
            loop_state = state.branch(self.assigned_in_loop(s))
            infinite = t is A.Forever
            if t is A.While:
                loop_state = self.expr(s.test, loop_state)
                infinite = type(s.test) is A.Bool and s.test.value is True
            target = self.loop(s.body, loop_state)
            if infinite and not target.states:
                return self.end("a loop that never ends (no break)")
            return state.merge(loop_state)
        if t is A.For:
            if s.init is not None:
                state = self.expr(s.init, state)
            loop_state = state.branch(self.assigned_in_loop(s))
            if s.test is not None:
                loop_state = self.expr(s.test, loop_state)
            target = self.loop(s.body, loop_state)
            if s.step is not None:
                self.expr(s.step, loop_state.branch())
            if s.test is None and not target.states:
                return self.end("a loop that never ends (no break)")
            return state.merge(loop_state)
        if t is A.Foreach:
            state = self.expr(s.iterable, state)
            loop_state = state.branch(self.assigned_in_loop(s))
            self.loop(s.body, loop_state)
            return state.merge(loop_state)
        if t is A.Switch:
            state = self.expr(s.subject, state)
            for case in s.cases:
                if case.test is not None:
                    state = self.expr(case.test, state)
            target = _Target("switch", state)
            self.targets.append(target)
            cur = None
            for case in s.cases:       # (a case falls through into the next one)
                cur = self.block(case.body, cur if cur is not None else state.branch())
            self.targets.pop()
            ends = [cur] + target.states
            if not any(c.test is None for c in s.cases):
                ends.append(state)
            out = state.merge(*ends)
            if out is None:
                self.why = "a switch whose cases all end"
            return out
        if t is A.Break:
            if self.targets:
                target = self.targets[-1]
                # (a switch merges what each break's path set, as it is at the break)
                target.states.append(state.since(target.base) if target.kind == "switch"
                                     else True)
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
            body = self.block(s.body, state.branch())
            # The handler may start anywhere in the body.
            handler_entry = state.branch(assigned_in(s.body) if not self.loops else ())
            if s.var:
                handler_entry.add((s.var,))
            handler = self.block(s.handler, handler_entry)
            if body is None and handler is None:
                self.why = "a try/catch whose branches all end"
            return state.merge(body, handler)
        if t is A.Barrier:
            state = self.expr(s.name, state)
            if s.var:
                state.add((s.var,))
            return self.block(s.body, state)
        if t is A.Include or t is A.Included:
            return state.add(ALL)
        return state.add(binds(s))          # global, imports

    # ------------------------------------------------------------- expressions
    def expr(self, e, state):
        """Walk an expression in evaluation order; returns the state after it."""
        if e is None or state is None:
            return state
        return self.deeper(self._expr, e, state)

    def _expr(self, e, state):
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
                return state.add((target.name,))
            root = lvalue_root(target)
            state = self.target_parts(target, state)
            state = self.expr(e.value, state)
            return state.add((root,)) if root is not None else state
        if t is A.IncDec:
            if type(e.target) is A.Var:
                self.read(e.target, state)
                return state.add((e.target.name,))
            root = lvalue_root(e.target)
            state = self.target_parts(e.target, state)
            return state.add((root,)) if root is not None else state
        if t is A.Destructure:
            state = self.expr(e.value, state)
            for tg in e.targets:
                state = self.expr(tg.key, state)
                state = self.expr(tg.default, state)
            names = {tg.name for tg in e.targets}
            if e.rest:
                names.add(e.rest)
            return state.add(names)
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
            state = self.deeper(self.target_parts, target.target, state)
            return self.expr(target.index, state)
        if t is A.Slice:
            state = self.deeper(self.target_parts, target.target, state)
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
            state = self.deeper(self.soft, e.target, state)
            return self.expr(e.index, state)
        if t is A.Prop:
            return self.deeper(self.soft, e.target, state)
        return self.expr(e, state)

    def read(self, v: A.Var, state) -> None:
        name = v.name
        if state is None or name in state or name not in self.assigned:
            return
        if name in self.reported:
            return
        self.reported.add(name)
        if self.first is None:
            self.first = self.facts.first_writes(foreach=False)
        first = self.first.get(name)
        hint = "check the spelling, or set it before this point"
        if first is not None:
            hint = f"it is first set at line {first.line}; " + hint
        self.findings.append(Finding(
            "HSL601", v.span, f"variable ${name} is read where no path has set it", hint))


def analyze(program: A.Program, *, predefined: set, terminating: set,
            found_scopes=None) -> list[Finding]:
    """Flow findings for one parsed file (its own statements; includes count as setting
    everything).  `found_scopes`: scopes(program), when the caller has it."""
    findings: list[Finding] = []
    declared_global, (module, *functions) = found_scopes or scopes(program)
    # Functions may set globals they declare `global`: count those as set from the start.
    ScopeFlow(module, set(predefined) | declared_global, terminating, findings).run()
    for scope in functions:
        ScopeFlow(scope, scope.entry, terminating, findings).run()
    return findings
