"""Coverage probes: what a program compiled with `coverage=True` counts, from the AST alone.

One walk of one file's statements (`file_probes`; not the statements of the files it
includes, which are theirs) lists its probes.  The compiler counts exactly these
(ProgramBuilder registers a file's probes in its ProbeMap the first time it compiles
code of that file, and the instrumentation looks each one up), and hsl.coverage lists
them for a file that no program compiled, so what was never run is known either way.

What is counted (docs/coverage.md):

* a **line** for the first line of each statement that runs code (not blocks, empty
  statements, declarations, `global` or imports, which run nothing where they stand, nor
  the statements of a switch before its first label, which never run);
* a **function** (FN records of lcov) for each named function, method, constructor and
  anonymous function, counted on each call;
* a **branch** for each way a decision can go, in groups (one group per construct):
  `if` then/else (an `if` without `else` has its "else", not taken); `switch` one arm per
  label (case N, default) and "no case" when it has no default, plus "fallthrough N" into
  each label's statements that the statements above can fall into; `match` one arm per
  arm (a match without default that matches nothing is an error, not a branch);
  `?:` then/else (Elvis too); `??` left/right; `and`/`or` short-circuit/both;
  `while`, `for` (with a test that is not the constant true) and `foreach` entered/
  skipped: whether one execution of the loop ran its body at least once.

A probe is identified by what it is and where (kind, span, arm), not by the node: an
included file parsed twice (include_once, see ProgramBuilder.expand_includes) has the same
probes both times, and every program compiled from the same file counts into the same ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..syntax import ast as A

LINE = "line"
FUNCTION = "function"

# Statements whose first line is a line probe (see the module docstring).
LINE_STATEMENTS = (A.ExprStmt, A.Echo, A.If, A.For, A.Foreach, A.While, A.Forever, A.Switch,
                   A.Break, A.Continue, A.Return, A.Throw, A.Try, A.Barrier, A.Included,
                   A.Include)
# The last statements of a switch label's statements after which nothing falls through.
_JUMPS = (A.Break, A.Continue, A.Return, A.Throw)


@dataclass(frozen=True, slots=True)
class Probe:
    kind: str           # LINE, FUNCTION, or the construct of a branch ("if", "switch"...)
    span: tuple         # (line, col, end_line, end_col) of the node; (line, 0, 0, 0) for a line
    arm: str = ""       # the way a branch went ("then", "else", "case 2"...)
    at: tuple = ()      # (line, col) of that arm when it is written elsewhere (a case label)
    name: str = field(default="", compare=False)     # a function's name (not its identity)

    @property
    def line(self) -> int:
        return self.span[0]

    @property
    def position(self) -> tuple:
        """(line, col) where the probe is reported."""
        return self.at or self.span[:2]

    @property
    def is_branch(self) -> bool:
        return self.kind != LINE and self.kind != FUNCTION


def span_of(node) -> tuple:
    s = node.span
    return (s.line, s.col, s.end_line, s.end_col)


def line_probe(line: int) -> Probe:
    return Probe(LINE, (line, 0, 0, 0))


def branch(kind: str, node, arm: str, at=None) -> Probe:
    return Probe(kind, span_of(node), arm, (at.span.line, at.span.col) if at else ())


def function_probe(node, name: str) -> Probe:
    return Probe(FUNCTION, span_of(node), name=name)


def loop_counts(node) -> bool:
    """Whether a loop has entered/skipped branches: not when its test is absent or the
    constant true (its body is always entered)."""
    if type(node) is A.Foreach:
        return True
    test = node.test
    while type(test) is A.Paren:
        test = test.expr
    if test is None:
        return False
    return not ((type(test) is A.Bool and test.value)
                or (type(test) is A.Number and test.value != 0))


def switch_arms(node: A.Switch) -> list:
    """The arms of a switch, in the order of their counters: one per label (the one the
    switch starts at), "no case" without a default, then the fallthroughs."""
    arms = [branch("switch", node, "default" if c.test is None else f"case {i + 1}", c)
            for i, c in enumerate(node.cases)]
    if all(c.test is not None for c in node.cases):
        arms.append(branch("switch", node, "no case"))
    return arms + [branch("switch", node, f"fallthrough {i + 1}", node.cases[i])
                   for i, _ in fallthroughs(node)]


def fallthroughs(node: A.Switch) -> list:
    """(label index, index of the label whose statements fall into it) for each label
    with statements that the nearest statements above it can fall into."""
    out, above = [], None
    for i, case in enumerate(node.cases):
        if not case.body:
            continue
        if above is not None and type(node.cases[above].body[-1]) not in _JUMPS:
            out.append((i, above))
        above = i
    return out


_LOOP_KINDS = {A.While: "while", A.For: "for", A.Foreach: "foreach"}


def file_probes(body) -> list:
    """The probes of one file's statements (see the module docstring), in source order
    within each kind."""
    lines: dict = {}
    out = []
    skip: set = set()
    method_names: dict = {}

    def enter(node) -> bool:
        return id(node) not in skip

    for node in A.walk(body, enter):
        if id(node) in skip:
            continue
        t = type(node)
        if isinstance(node, LINE_STATEMENTS):
            lines.setdefault(node.span.line, None)
        if t is A.If:
            out += [branch("if", node, "then"), branch("if", node, "else")]
        elif t in _LOOP_KINDS:
            if loop_counts(node):
                kind = _LOOP_KINDS[t]
                out += [branch(kind, node, "entered"), branch(kind, node, "skipped")]
        elif t is A.Switch:
            skip.update(id(s) for s in node.unreachable)
            out += switch_arms(node)
        elif t is A.Match:
            out += [branch("match", node, "default" if arm.conditions is None
                           else f"arm {i + 1}", arm) for i, arm in enumerate(node.arms)]
        elif t is A.Cond:
            out += [branch("cond", node, "then"), branch("cond", node, "else")]
        elif t is A.Coalesce:
            out += [branch("coalesce", node, "left"), branch("coalesce", node, "right")]
        elif t is A.Logical:
            out += [branch(node.op, node, "short-circuit"), branch(node.op, node, "both")]
        elif t is A.FunctionDecl:
            out.append(function_probe(node, node.name))
        elif t is A.ClassDecl:
            for m in node.members:
                if type(m) is A.ClassMethod:
                    method_names[id(m)] = f"{node.name}{'::' if m.static else '->'}{m.name}"
                elif type(m) is A.Constructor:
                    method_names[id(m)] = f"{node.name}->constructor"
        elif t is A.ClassMethod or t is A.Constructor:
            out.append(function_probe(node, method_names[id(node)]))
        elif t is A.FuncExpr:
            out.append(function_probe(node, f"function@{node.span.line}:{node.span.col}"))
    return [line_probe(n) for n in sorted(lines)] + out


class ProbeMap:
    """The probes of a program, each with its counter (its index in `probes`): the
    compiler's table while it instruments, the Program's afterwards."""

    def __init__(self):
        self.probes: list = []          # (file index, Probe), in counter order
        self._counters: dict = {}       # (file index, Probe) -> counter
        self._files: set = set()

    def add_file(self, file_index: int, body) -> None:
        """Register every probe of a file (once; the first parse of a file included
        twice stands for both, see the module docstring)."""
        if file_index in self._files:
            return
        self._files.add(file_index)
        for probe in file_probes(body):
            key = (file_index, probe)
            if key not in self._counters:
                self._counters[key] = len(self.probes)
                self.probes.append(key)

    def counter(self, file_index: int, probe: Probe) -> int:
        """The counter of a registered probe (a probe the walk did not list is a bug of
        this module or of the compiler: they must agree)."""
        found = self._counters.get((file_index, probe))
        if found is None:
            raise AssertionError(f"coverage probe not registered: {probe}")
        return found
