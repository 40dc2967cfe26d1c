"""Method calls on variables whose class is certain: `$x->name(...)` where every
assignment to `$x` in its scope is `$x = ClassName(...)` (or `X509::String(...)`,
`X509CRL::String(...)`, `File::String(...)`).  Such a call must name a method of that
class (HSL105) with an accepted number of arguments (HSL201).

Certain means: nothing else in the scope writes the variable (no compound assignment,
element assignment, foreach, destructuring, catch, global, import, parameter or
closure capture; no nested closure captures it; no include in the scope), so the check
never guesses.  A variable read before its assignment is the flow check's business.
"""
from __future__ import annotations

import difflib
from typing import Optional

from ..syntax import ast as A
from ..runtime.values import arity_message
from .flow import ALL, Finding, scopes

# Static methods of builtin classes that return an instance of their class.
STATIC_CONSTRUCTORS = {("X509", "String"), ("X509CRL", "String"), ("File", "String"),
                       ("MailMessage", "String"), ("MailMessage", "File")}
_UNKNOWN = object()


class ClassMethods:
    """Method tables: the file's own classes, then the builtin classes (loaded on use)."""

    def __init__(self, program: A.Program, builtin_classes: dict, functions: set):
        self.user: dict = {}
        for node in program.body:
            if isinstance(node, A.ClassDecl):
                table = {}
                for m in node.members:
                    if isinstance(m, A.ClassMethod) and not m.static:
                        table[m.name] = (_min_args(m.params), _max_args(m.params), m.private)
                self.user[node.name] = table
        self.builtin_classes = builtin_classes
        self.functions = functions          # function names that shadow a class name

    def constructor_class(self, call) -> Optional[str]:
        """The class a call certainly constructs, or None."""
        callee = call.callee
        if type(callee) is A.NameRef and not callee.builtin:
            name = callee.name
            if name in self.functions:
                return None
            if name in self.user or name in self.builtin_classes:
                return name
        elif type(callee) is A.Static and not callee.is_var:
            if (callee.scope, callee.member) in STATIC_CONSTRUCTORS \
                    and callee.scope not in self.user and callee.scope in self.builtin_classes:
                return callee.scope
        return None

    def methods(self, cls: str) -> dict:
        """name -> (min, max, private)"""
        if cls in self.user:
            return self.user[cls]
        entry = self.builtin_classes[cls]
        return {n: (lo, hi, False) for n, (_, lo, hi) in entry.cls.hsl_methods.items()}

    def context(self, cls: str, name: str) -> Optional[str]:
        """The hook a builtin method exists in (its `hsl_context`), None: everywhere."""
        if cls in self.user:
            return None
        fn = self.builtin_classes[cls].cls.hsl_methods[name][0]
        return getattr(fn, "hsl_context", None)


def _min_args(params) -> int:
    return sum(1 for p in params if p.default is None and not p.variadic)


def _max_args(params) -> Optional[int]:
    return None if any(p.variadic for p in params) else len(params)


def known_types(scope, entry: set, tables: ClassMethods) -> dict:
    """variable -> class, for the variables of a scope whose class is certain (`entry`:
    names bound from elsewhere: parameters, captures, globals functions may assign)."""
    if scope.written is ALL:        # (an include may assign anything)
        return {}
    kinds: dict = {name: _UNKNOWN for name in entry}
    for name, n in scope.facts.writes:
        cls = None
        if type(n) is A.Assign and type(n.target) is A.Var and n.op == "=" \
                and type(n.value) is A.Call:
            cls = tables.constructor_class(n.value)
        # one class for every assignment, else unknown
        kinds[name] = cls if cls is not None and kinds.get(name, cls) == cls else _UNKNOWN
    return {name: cls for name, cls in kinds.items() if cls is not _UNKNOWN}


def analyze(program: A.Program, builtin_classes: dict, functions: set,
            found_scopes=None, phase: Optional[str] = None) -> list[Finding]:
    """Findings of the method calls of `program` checked in hook `phase` (None: a
    script outside any hook).  `found_scopes`: flow.scopes(program), when the caller has
    it."""
    tables = ClassMethods(program, builtin_classes, functions)
    findings: list[Finding] = []
    declared_global, all_scopes = found_scopes or scopes(program)
    for scope in all_scopes:
        # A function's `global $x` may assign the file's $x.
        entry = declared_global if scope is all_scopes[0] else scope.entry
        inside = scope.cls
        known = known_types(scope, entry, tables)
        if not known:
            continue
        for n in scope.facts.calls:
            target = n.callee.target
            if target.name not in known:
                continue
            cls, name = known[target.name], n.callee.name
            methods = tables.methods(cls)
            if name not in methods:
                close = difflib.get_close_matches(name, list(methods), 1)
                hint = f"did you mean {close[0]}()?" if close else \
                    f"{cls} has: {', '.join(sorted(methods)) or 'no methods'}"
                findings.append(Finding("HSL105", n.callee.span,
                                        f"{cls} has no method {name}()", hint))
                continue
            lo, hi, private = methods[name]
            if private and inside != cls:
                findings.append(Finding("HSL105", n.callee.span,
                                        f"{cls}->{name}() is private", "call it from "
                                        f"inside {cls}"))
                continue
            where = tables.context(cls, name)
            if where is not None and where != phase:
                findings.append(Finding("HSL302", n.callee.span,
                                        f"{cls}->{name}() is only available in the {where} "
                                        "hook", f"{name}() exists only in the {where} hook"))
                continue
            if any(type(a) is A.Spread for a in n.args):
                continue
            if not (lo <= len(n.args) and (hi is None or len(n.args) <= hi)):
                findings.append(Finding("HSL201", n.span, arity_message(
                    f"{cls}->{name}", lo, hi, len(n.args))))
    return findings
