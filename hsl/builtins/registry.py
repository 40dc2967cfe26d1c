"""The one registry of builtin functions and classes.

Each builtin is registered once, by decorating the Python function that implements it.
Its HSL arity is read from the Python signature: parameters without a default are
required, parameters with a default are optional, `*args` makes it variadic.  The same
registry feeds the compiler (direct calls, arity checks at compile time), `hsl check`
and REPL completion.

    @builtin(area="strings")
    def str_lower(s):
        ...

Builtins receive and return HSL values (see hsl.runtime.values: float, bytes, bool, None,
HArray, HFunction, objects) and raise hsl.errors.ScriptError for HSL runtime errors.
They must never modify an HArray they were given (copy-on-write relies on that).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import ScriptError


@dataclass
class Builtin:
    name: str
    fn: Callable
    params: list[str]          # parameter names, for documentation and completion
    min_args: int
    max_args: Optional[int]    # None: variadic
    area: str
    context: Optional[tuple] = None    # the hook phases it exists in, None = everywhere
    doc: str = ""

    def signature(self) -> str:
        shown = []
        for i, p in enumerate(self.params):
            if self.max_args is None and i == len(self.params) - 1 and i >= self.min_args:
                shown.append(f"...${p}")
            elif i >= self.min_args:
                shown.append(f"[${p}]")
            else:
                shown.append(f"${p}")
        return f"{self.name}({', '.join(shown)})"


@dataclass
class BuiltinClass:
    name: str
    cls: type                  # Python class; calling it with HSL arguments constructs
    min_args: int
    max_args: Optional[int]
    area: str
    context: Optional[tuple] = None    # as Builtin.context
    doc: str = ""


FUNCTIONS: dict[str, Builtin] = {}
CLASSES: dict[str, BuiltinClass] = {}


def _arity(fn: Callable, skip: int = 0) -> tuple[list[str], int, Optional[int]]:
    params = list(inspect.signature(fn).parameters.values())[skip:]
    names, required, maximum = [], 0, 0
    for p in params:
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            names.append(p.name)
            return names, required, None
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD):
            continue
        names.append(p.name)
        maximum += 1
        if p.default is inspect.Parameter.empty:
            required += 1
    return names, required, maximum


def _contexts(context) -> Optional[tuple]:
    """A builtin's hook phases as a tuple: one phase name, several, or None (everywhere)."""
    if context is None:
        return None
    return (context,) if isinstance(context, str) else tuple(context)


def visible_in(contexts: Optional[tuple], context: Optional[str]) -> bool:
    """Whether a builtin of `contexts` (see Builtin.context) exists in hook `context`."""
    return contexts is None or context in contexts


def builtin(name: Optional[str] = None, *, area: str = "misc", context=None):
    """Register the decorated Python function as the HSL builtin `name` (default: its own name,
    with one trailing underscore removed, so `pow_` registers `pow`).  `context`: the hook
    phase (a name) or phases (names) it exists in; None: everywhere."""

    def register(fn: Callable) -> Callable:
        hsl_name = name or (fn.__name__[:-1] if fn.__name__.endswith("_") else fn.__name__)
        if hsl_name in FUNCTIONS:
            raise RuntimeError(f"builtin {hsl_name} registered twice")
        params, lo, hi = _arity(fn)
        FUNCTIONS[hsl_name] = Builtin(hsl_name, fn, params, lo, hi, area, _contexts(context),
                                      inspect.getdoc(fn) or "")
        fn.hsl_name = hsl_name
        return fn

    return register


def unavailable(name: str, params: str, *, area: str, reason: str = "needs the Halon server",
                context=None) -> None:
    """Register a builtin whose implementation does not exist here yet: scripts naming it
    compile, and calling it raises a clear HSL error. `params` is like "a, b, [c], [d]"
    or "a, ...rest"."""
    names, lo, hi = [], 0, 0
    for raw in [p.strip() for p in params.split(",") if p.strip()]:
        if raw.startswith("..."):
            names.append(raw[3:])
            hi = None
            break
        optional = raw.startswith("[")
        names.append(raw.strip("[]"))
        hi += 1
        if not optional:
            lo += 1

    def fn(*args):
        raise ScriptError(f"{name}() is not available in hsl: it {reason}")

    fn.__name__ = name
    fn.hsl_name = name
    # The index records where a builtin is defined: that is the caller's module.
    import sys
    fn.__module__ = sys._getframe(1).f_globals.get("__name__", __name__)
    FUNCTIONS[name] = Builtin(name, fn, names, lo, hi, area, _contexts(context),
                              f"not available: {reason}")


def builtin_class(name: Optional[str] = None, *, area: str = "classes", context=None):
    """Register a Python class (a subclass of hsl.runtime.values.BuiltinObject) as an HSL class.
    Its constructor arity is read from `__init__`."""

    def register(cls: type) -> type:
        hsl_name = name or cls.__name__
        _, lo, hi = _arity(cls.__init__, skip=1)
        cls.hsl_methods = {}
        cls.hsl_statics = {}
        for attr in dir(cls):
            member = inspect.getattr_static(cls, attr)
            target = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
            exposed = getattr(target, "hsl_method", None)
            if exposed is None:
                continue
            mname, is_static = exposed
            _, mlo, mhi = _arity(target, skip=0 if is_static else 1)
            table = cls.hsl_statics if is_static else cls.hsl_methods
            table[mname] = (getattr(cls, attr), mlo, mhi)
        CLASSES[hsl_name] = BuiltinClass(hsl_name, cls, lo, hi, area, _contexts(context),
                                         inspect.getdoc(cls) or "")
        cls.class_name = hsl_name
        return cls

    return register


def method(name: Optional[str] = None, *, static: bool = False):
    """Expose a method of a builtin class to HSL (`$obj->name()`, or `Class::name()` when
    static; decorate a Python @staticmethod's function for static ones)."""

    def mark(fn: Callable) -> Callable:
        fn.hsl_method = (name or fn.__name__.rstrip("_"), static)
        return fn

    return mark


def functions_for(context: Optional[str]) -> dict[str, Builtin]:
    """The builtin functions visible in `context` (None: a standalone run)."""
    return {n: b for n, b in FUNCTIONS.items() if visible_in(b.context, context)}


def classes_for(context: Optional[str]) -> dict[str, BuiltinClass]:
    return {n: c for n, c in CLASSES.items() if visible_in(c.context, context)}


def method_signature(name: str, entry) -> str:
    """A builtin class method's signature from its Python parameters (`entry`: a
    (function, min, max) of a class's hsl_methods or hsl_statics)."""
    try:
        fn, lo, hi = entry
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.name not in ("self", "cls")]
    except (TypeError, ValueError):
        return name + "()"
    shown = []
    for p in params:
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            shown.append(f"...${p.name}")
        elif p.default is not inspect.Parameter.empty:
            shown.append(f"[${p.name}]")
        elif p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            shown.append(f"${p.name}")
    return f"{name}({', '.join(shown)})"


def member_signatures(entry, static: bool) -> dict:
    """name -> signature of the methods (or static methods) of a builtin class entry
    (registry or index); {} when its class cannot be loaded."""
    try:
        cls = entry.cls
    except Exception:       # (a class whose module fails to import: nothing to offer)
        return {}
    table = getattr(cls, "hsl_statics" if static else "hsl_methods", {})
    return {n: method_signature(n, e) for n, e in table.items()}
