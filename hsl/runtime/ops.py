"""What generated code needs at run time: one `Execution` per run (output, step budget,
call depth, module instances), the helpers for places (variables, elements, properties),
calls, user classes, and the mapping of Python exceptions back to HSL positions.

The value semantics themselves (arithmetic, comparison, conversion, arrays) live in
hsl.runtime.values; nothing here re-implements them.  Generated code reaches the helpers
only through the table in hsl.runtime.helpers.  What builtins and values reach of the
running execution (its deadline, budgets, speculative state) is hsl.runtime.execution,
below everything here: this module imports the layers under it (execution, values, the
stores in hsl.runtime.store) and nothing above them but the builtin Exception class.
"""
from __future__ import annotations

import re
import sys
import time
from typing import Callable, Optional

from . import execution as _ex
from . import store
from . import values as V
# The Exception class a runtime error becomes (a builtin class: its module imports only
# hsl.runtime.values and the registry).
from ..builtins.exception import ExceptionObject
from ..errors import ScriptError, ThrownValue
from .execution import LimitExceeded, OutputClosed, Preempted, will_mutate
from .values import HArray, HFunction, HObject, BuiltinObject, arity_message, share as _share

_UNSET = V.UNSET
_D = object()        # "argument not passed" marker for parameters with defaults


class TraceEntry(tuple):
    """One traced condition: (kind, file, line, column, value), plus the end position."""

    def __new__(cls, kind, file, line, col, value, end=None):
        entry = super().__new__(cls, (kind, file, line, col, value))
        entry.end = end
        return entry


class Execution:
    """Per-run state. Generated code reaches it as `R`."""

    CHUNK = 10_000
    MEMORY_CHUNK = 2_000          # with a memory budget: look at the process's growth often
    speculative = False

    def __init__(self, program, output: Callable[[bytes], None], max_steps: Optional[int],
                 max_time: Optional[float], max_depth: int, keep_globals: bool = False,
                 cancel=None, memory=None):
        self.cancel = cancel          # a threading.Event: set it to stop the run
        self.program = program
        self.out = output
        self.max_steps = max_steps
        self.started = time.monotonic()
        self.deadline = (self.started + max_time) if max_time else None
        self.max_depth = max_depth
        self.depth = 0
        self.used = 0
        self.chunk = self.steps = self._next_chunk()
        self.modules: dict[int, dict] = {}
        self.keep_globals = keep_globals
        self.final_globals: Optional[dict] = None
        self.context = None
        self.trace_log: list = []
        self.base_frame = None        # the frame that called the program (Program.run)
        self.memory = memory          # a memory.Budget (see Program.run), or None
        if memory is not None:
            memory.roots = self.memory_roots
            self.CHUNK = min(self.CHUNK, self.MEMORY_CHUNK)
            self.chunk = self.steps = self._next_chunk()

    def memory_roots(self) -> list:
        """What the run can reach: its frames' variables (generated code, and builtins in
        the middle of building something) and its module instances."""
        roots = [self.modules]
        f = sys._getframe(1)
        base = self.base_frame
        while f is not None and f is not base:
            roots.append(f.f_locals)
            f = f.f_back
        return roots

    def tc(self, value, file_index: int, line: int, col: int, kind: str = "if", end=None):
        """Record a traced condition (hsl run --trace) and pass its value through."""
        self.trace_log.append(TraceEntry(kind, self.program.files[file_index], line, col,
                                         value, end))
        return value

    def _next_chunk(self) -> int:
        if self.max_steps is None:
            return self.CHUNK
        return max(1, min(self.CHUNK, self.max_steps - self.used))

    def tick(self) -> None:
        """Called when the current chunk of steps is used up."""
        self.used += self.chunk - self.steps
        if self.max_steps is not None and self.used >= self.max_steps:
            raise LimitExceeded(f"execution budget of {self.max_steps} steps exceeded")
        self.check_time()
        if self.memory is not None:
            self.memory.poll()          # (raises memory.MemoryLimit, a LimitExceeded)
        self.chunk = self.steps = self._next_chunk()

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.out_of_time()
        if self.cancel is not None and self.cancel.is_set():
            raise LimitExceeded("interrupted")

    def heavy(self, what: str) -> None:
        """Large work or a large value is about to be made (see work() and reserve()): not
        past the deadline, and the clock is checked again at the next step, once the
        builtin that does it has returned."""
        self.check_time()
        self.used += self.chunk - self.steps
        self.chunk = self.steps = 1
        self.heavy_at = _hsl_frame(sys._getframe(1), self.program)

    heavy_at = None         # (frame, line) of the HSL code that made the last large work

    def finished_late(self) -> bool:
        """The run ended (or decided) after its time was up: its result must not count."""
        return self.deadline is not None and time.monotonic() > self.deadline

    def out_of_time(self) -> None:
        raise LimitExceeded("execution time limit exceeded")

    def too_deep(self) -> None:
        self.depth -= 1
        raise LimitExceeded(f"maximum call depth of {self.max_depth} exceeded")

    def rollback(self) -> None:
        pass

    def echo(self, value) -> None:
        try:
            self.out(value if type(value) is bytes else V.to_str(value))
        except OSError as e:
            raise OutputClosed(e) from None

    def module(self, index: int, fn):
        exports = self.modules.get(index)
        if exports is None:
            exports = fn(self, {})
            self.modules[index] = exports
        return exports

    def caught(self, exc: BaseException):
        """The HSL value a `catch ($e)` receives for a Python exception."""
        if isinstance(exc, ThrownValue):
            return exc.value
        if isinstance(exc, MemoryError):        # out of memory is a limit, not catchable
            raise LimitExceeded(OUT_OF_MEMORY) from None
        message = error_message(exc)
        where = self.program.locate(exc.__traceback__)
        return make_exception(message, where)

    # cache and barriers (process-wide, see hsl.runtime.store)
    def cache_call(self, options, key, fn, args):
        return store.cache_call(options, key, fn, args)

    def barrier_enter(self, name):
        if self.speculative:
            raise Preempted("barrier")
        return store.barrier_enter(V.to_str(name))

    def barrier_isset(self, handle) -> bool:
        return handle.isset()

    def barrier_get(self, handle):
        return handle.get()

    def barrier_leave(self, handle, value) -> None:
        handle.leave(value)


def _hsl_frame(f, program):
    """The innermost frame of `program`'s generated code at or above `f`, and its line."""
    pieces = getattr(program, "line_positions", {})
    while f is not None:
        if f.f_code.co_filename in pieces:
            return f.f_code, f.f_lineno
        f = f.f_back
    return None


class SpeculativeExecution(Execution):
    """A run tried on a thread that must stay responsive (hsl serve's event loop): its
    time limit is a short slice, its call depth is kept low (the thread's stack is
    small), and it must not block.  When any of these is reached it raises Preempted,
    and the caller runs the script again from the start on a worker thread, after
    calling the Preempted's rollback(), which takes back the run's in-process effects
    (memory_*, metrics_*, cache entries; newest first).  Nothing it did is visible outside
    the process, so running it twice is like running it once.  The rollback is left to
    the caller because it may wait for the memory store's lock: hsl serve calls it on
    the worker thread, never on its event loop."""

    CHUNK = 500                 # check the slice often: about every few hundred microseconds
    speculative = True
    DEPTH = 64

    def __init__(self, *args, time_limit: Optional[float] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_depth = min(self.max_depth, self.DEPTH)
        self.undo: list = []
        # The script's own time limit (the slice is `deadline`): a try that overran it in
        # one long call is a script error, not a reason to run it again.
        self.time_limit = (self.started + time_limit) if time_limit else None
        self.saved: dict = {}          # id -> object whose state the undo log restores

    def out_of_time(self) -> None:
        if self.time_limit is not None and time.monotonic() > self.time_limit:
            raise LimitExceeded("execution time limit exceeded")
        raise Preempted("time slice used up")

    def heavy(self, what: str) -> None:
        raise Preempted(what)

    def finished_late(self) -> bool:
        return self.time_limit is not None and time.monotonic() > self.time_limit

    def too_deep(self) -> None:
        self.depth -= 1
        raise Preempted("call depth")

    def rollback(self) -> None:
        """Take back the run's effects, newest first.  Safe to call more than once and
        from any thread (each effect is taken back once)."""
        while True:
            try:
                undo = self.undo.pop()
            except IndexError:
                return
            try:
                undo()
            except Exception:           # taking back one effect must not stop the others
                pass


OUT_OF_MEMORY = "memory limit exceeded (the machine is out of memory)"


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ScriptError):
        return exc.message
    if isinstance(exc, NameError):
        name = getattr(exc, "name", None)
        if not name:
            m = re.search(r"'(\w+)'", str(exc))
            name = m.group(1) if m else ""
        for prefix in ("v_", "g_"):
            if name.startswith(prefix):
                return f"undefined variable ${name[len(prefix):]}"
        return f"undefined variable ({exc})"
    if isinstance(exc, RecursionError):
        return "maximum call depth exceeded (Python recursion limit)"
    if isinstance(exc, MemoryError):
        return OUT_OF_MEMORY
    if isinstance(exc, LimitExceeded):
        return exc.message
    if isinstance(exc, ThrownValue):
        return "uncaught " + V.to_str(thrown_message(exc.value)).decode("utf-8", "replace")
    return f"internal error: {type(exc).__name__}: {exc}"


def thrown_message(value):
    if isinstance(value, ExceptionObject):
        return value.msg
    return value


def make_exception(message: str, where):
    obj = ExceptionObject(message.encode("utf-8", "surrogateescape"))
    if where is not None:
        obj.file, obj.line, obj.column = where
    return obj


def _globals_of(scope: dict) -> dict:
    return {k[2:]: v for k, v in scope.items() if k[:2] == "g_"}


def _undefined(name: str):
    raise ScriptError(f"undefined variable ${name}")


def _soft_global(variables: dict, name: str):
    """`isset($name)` or `$name ?? ...` at a module's top level, for a variable the
    compiler made no binding for: only the run's pre-defined variables can hold it."""
    return variables.get(name, _UNSET)


def _unhandled_match(value):
    raise ScriptError(f"unhandled match value {V.to_str(value).decode('utf-8', 'replace')}")


# --------------------------------------------------------------- cells

def _cell_get(cell):
    try:
        return cell.cell_contents
    except ValueError:
        raise ScriptError("undefined variable (imported variable not set)") from None


def _cell_set(cell, value):
    cell.cell_contents = value
    return value


def _cell_soft(cell):
    try:
        return cell.cell_contents
    except ValueError:
        return _UNSET


def _cell_del(cell) -> bool:
    try:
        del cell.cell_contents
        return True
    except ValueError:
        return False


def _cell_container(cell):
    value = _container(_cell_soft(cell))
    cell.cell_contents = value
    return value


def _module_exports(cells_fn, extra: dict) -> dict:
    exports = dict(extra)
    for name, cell in zip(cells_fn.__code__.co_freevars, cells_fn.__closure__ or ()):
        if name.startswith("g_"):
            exports["v:" + name[2:]] = cell
        elif name.startswith("ic_"):
            exports.setdefault("v:" + name[3:], cell)
    return exports


# ----------------------------------------------------------- containers

def _container(value):
    """An array ready for writing (owned, created from undefined/none/number/boolean), or an
    object for property-style writes."""
    t = type(value)
    if t is HArray:
        if value.shared:
            value._own()
        return value
    if value is None or value is _UNSET or t is float or t is bool:
        return HArray()
    if isinstance(value, HObject):
        return value
    raise ScriptError(f"cannot write an element into {V.a_type_name(value)} (type error)")


def _child_container(parent, key):
    if type(parent) is HArray:
        return parent.child_for_write(key)
    if isinstance(parent, HObject):
        return _prop_container(parent, V.to_str(key).decode("utf-8", "surrogateescape"), None)
    raise ScriptError(f"cannot write into {V.a_type_name(parent)} (type error)")


def _append_container(parent):
    if type(parent) is not HArray:
        raise ScriptError(f"cannot append to {V.a_type_name(parent)} (type error)")
    child = HArray()
    parent.append(child)
    return child


def _object_container(value):
    if isinstance(value, HObject) or type(value) is HArray:
        return value
    raise ScriptError(f"cannot write into {V.a_type_name(value)} (type error)")


def _append(container, value):
    if type(container) is HArray:
        container.append(value)
        return value
    raise ScriptError(f"cannot append to {V.a_type_name(container)} (type error)")


def _setindex(container, key, value):
    if type(container) is HArray:
        container.set(key, value)
        return value
    if isinstance(container, HObject):
        return _setprop(container, _prop_name(key), value, None)
    raise ScriptError(f"cannot write an element into {V.a_type_name(container)} (type error)")


def _setindex_coalesce(container, key, make):
    current = V.index_get(container, key)
    if current is not None:
        return current
    return _setindex(container, key, make())


def _setindex_op(container, key, op, operand):
    return _setindex(container, key, op(V.index_get(container, key), operand))


def _setslice(container, start, stop, step, value):
    if type(container) is not HArray:
        raise ScriptError(f"cannot assign a slice of {V.a_type_name(container)} (type error)")
    if step is not None and V.to_number(step) != 1:
        raise ScriptError("slice assignment needs a step of 1")
    V.slice_set(container, start, stop, value)
    return value


def _unset_index(container, key) -> bool:
    if type(container) is HArray:
        return container.delete(key)
    if isinstance(container, HObject):
        return _unset_prop(container, _prop_name(key), None)
    return False


def _unset_slice(container, start, stop, step) -> bool:
    if type(container) is not HArray:
        return False
    return V.slice_delete(container, start, stop, step)


def _incdec_index(container, key, op, prefix):
    old = V.to_number(V.index_get(container, key))
    new = op(old)
    _setindex(container, key, new)
    return new if prefix else old


def _inc(value):
    return V.to_number(value) + 1.0


def _dec(value):
    return V.to_number(value) - 1.0


def _prop_name(key) -> str:
    return V.to_str(key).decode("utf-8", "surrogateescape")


# --------------------------------------------------------------- reads

def _index(container, key):
    if type(container) is HArray:
        return container.get(key)
    if isinstance(container, HObject) and not isinstance(container, V.HResource):
        # $obj["name"] is $obj->name (from outside the class).
        return _getprop(container, _prop_name(key), None)
    return V.index_get(container, key)


def _soft_index(container, key):
    if container is _UNSET or container is None:
        return _UNSET
    if type(container) is HArray:
        if key in container:
            return container.get(key)
        return _UNSET
    if isinstance(container, HObject):
        return _soft_prop(container, _prop_name(key), None)
    return _UNSET


def _isset_index(container, key) -> bool:
    if type(container) is HArray:
        return key in container
    if isinstance(container, HObject):
        return _isset_prop(container, _prop_name(key), None)
    return False


def _iter_items(value):
    if type(value) is HArray:
        if len(value.d) > V.BIG_ARRAY:
            V._big_array_work(len(value.d))        # the snapshot foreach goes through
        return value.items()
    if hasattr(value, "hsl_iter_items"):
        return value.hsl_iter_items()
    raise ScriptError(f"cannot iterate over {V.a_type_name(value)} (type error)")


def _iter_values(value):
    if type(value) is HArray:
        if len(value.d) > V.BIG_ARRAY:
            V._big_array_work(len(value.d))
        return value.values()
    if hasattr(value, "hsl_iter_values"):
        return value.hsl_iter_values()
    raise ScriptError(f"cannot iterate over {V.a_type_name(value)} (type error)")


def _build_array(items):
    """An array literal with keys or spreads: items are (0, value), (1, key, value) or
    (2, spread array)."""
    a = HArray()
    for item in items:
        kind = item[0]
        if kind == 0:
            a.append(item[1])
        elif kind == 1:
            a.set(item[1], item[2])
        else:
            src = item[1]
            if type(src) is not HArray:
                raise ScriptError(f"cannot spread {V.a_type_name(src)} (type error)")
            a.merge_from(src)
    return a


def _spread(value):
    return V.spread_values(value)


def _destructure_pos(value, i, default):
    if type(value) is HArray and i < len(value):
        for j, v in enumerate(value.values()):
            if j == i:
                return _share(v)
    return default()


def _destructure_key(value, key, default):
    if type(value) is HArray and key in value:
        return _share(value.get(key))
    return default()


def _destructure_rest(value, start):
    if type(value) is not HArray:
        return HArray()
    return HArray.from_list([_share(v) for v in list(value.values())[start:]])


# ---------------------------------------------------------------- calls

def _call_value(f, *args):
    if type(f) is HFunction:
        return f(*args)
    raise ScriptError(f"{V.type_name(f)} value is not callable")


def _call_checked(fn, name, lo, hi, *args):
    n = len(args)
    if n < lo or (hi is not None and n > hi):
        raise ScriptError(arity_message(name, lo, hi, n))
    return fn(*args)


def _new_builtin(cls, *args):
    return cls(*args)


def _builtin_ctor(cls):
    return lambda *args: cls(*args)


def _call_method(obj, name, ctx, *args):
    t = type(obj)
    if t is UserObject:
        return obj.cls.call_method(obj, name, ctx, args)
    if isinstance(obj, BuiltinObject):
        entry = t.hsl_methods.get(name)
        if entry is None:
            raise ScriptError(f"{t.class_name} has no method {name}()")
        fn, lo, hi = entry
        n = len(args)
        if n < lo or (hi is not None and n > hi):
            raise ScriptError(arity_message(f"{t.class_name}->{name}", lo, hi, n))
        return fn(obj, *args)
    if t is HArray:
        f = obj.get(name.encode())
        if type(f) is HFunction:
            return f(*args)
    raise ScriptError(f"cannot call method {name}() on {V.a_type_name(obj)} (type error)")


# ----------------------------------------------------------- properties

def _getprop(obj, name, ctx):
    if type(obj) is UserObject:
        return obj.cls.get_prop(obj, name, ctx)
    if isinstance(obj, BuiltinObject):
        entry = type(obj).hsl_methods.get(name)
        if entry is not None:
            fn, lo, hi = entry
            return HFunction(name, fn, lo, hi, obj)
        return obj.hsl_getprop(name)
    if isinstance(obj, HObject):
        return obj.hsl_getprop(name)
    raise ScriptError(f"cannot read property {name} of {V.a_type_name(obj)} (type error)")


def _soft_prop(obj, name, ctx):
    if type(obj) is UserObject:
        if name in obj.props:
            obj.cls.check_private(name, ctx)
            return obj.props[name]
        return _UNSET
    if obj is _UNSET or obj is None:
        return _UNSET
    if type(obj) is HArray:
        return _soft_index(obj, name.encode("utf-8", "surrogateescape"))
    if isinstance(obj, HObject):
        try:
            return _getprop(obj, name, ctx)
        except ScriptError:
            return _UNSET
    return _UNSET


def _isset_prop(obj, name, ctx) -> bool:
    v = _soft_prop(obj, name, ctx)
    return v is not _UNSET


def _setprop(obj, name, value, ctx):
    if type(obj) is UserObject:
        obj.cls.set_prop(obj, name, value, ctx)
        return value
    if isinstance(obj, HObject):
        obj.hsl_setprop(name, value)
        return value
    raise ScriptError(f"cannot set property {name} of {V.a_type_name(obj)} (type error)")


def _setprop_coalesce(obj, name, make, ctx):
    current = _soft_prop(obj, name, ctx)
    if current is not _UNSET and current is not None:
        return current
    return _setprop(obj, name, make(), ctx)


def _setprop_op(obj, name, op, operand, ctx):
    return _setprop(obj, name, op(_getprop(obj, name, ctx), operand), ctx)


def _incdec_prop(obj, name, op, prefix, ctx):
    old = V.to_number(_getprop(obj, name, ctx))
    new = op(old)
    _setprop(obj, name, new, ctx)
    return new if prefix else old


def _unset_prop(obj, name, ctx) -> bool:
    if type(obj) is UserObject:
        return obj.cls.del_prop(obj, name, ctx)
    if isinstance(obj, HObject):
        return obj.hsl_delprop(name)
    raise ScriptError(f"cannot unset property {name} of {V.a_type_name(obj)} (type error)")


def _prop_container(obj, name, ctx):
    if type(obj) is UserObject:
        if _ex._speculating:
            will_mutate(obj)
        current = obj.props.get(name, _UNSET)
        if current is _UNSET or type(current) is not HArray or current.shared:
            obj.cls.check_write(name, ctx)
            value = _container(current)
            obj.props[name] = value
            return value
        obj.cls.check_write(name, ctx)
        return current
    if type(obj) is HArray:
        return obj.child_for_write(name.encode("utf-8", "surrogateescape"))
    raise ScriptError(f"cannot write property {name} of {V.a_type_name(obj)} (type error)")


# ----------------------------------------------------------- user classes

class UserObject(HObject):
    __slots__ = ("cls", "props")
    class_name = "object"

    def __init__(self, cls):
        self.cls = cls
        self.props = {}

    def hsl_snapshot(self):
        """A function that puts the properties back as they are now (execution.will_mutate)."""
        saved = {k: _share(v) for k, v in self.props.items()}

        def restore():
            self.props = saved
        return restore


class UserClass:
    """A class declared in HSL, created once per execution."""

    def __init__(self, name, ivars, methods, statics, ctor, min_args, max_args):
        self.name = name
        self.ivars = ivars                  # [(name, factory, private, readonly)]
        self.private = {n for n, _, p, _r in ivars if p}
        self.readonly = {n for n, _, _p, r in ivars if r}
        self.methods = {}
        self.smethods = {}
        for mname, fn, lo, hi, private, static in methods:
            (self.smethods if static else self.methods)[mname] = (fn, lo, hi, private)
        self.statics = {}
        self.static_private = set()
        for sname, value, private in statics:
            self.statics[sname] = value
            if private:
                self.static_private.add(sname)
        self.ctor = ctor
        self.min_args = min_args
        self.max_args = max_args

    def __repr__(self):
        return f"<class {self.name}>"

    def new(self, *args):
        obj = UserObject(self)
        for name, factory, _p, _r in self.ivars:
            obj.props[name] = factory()
        n = len(args)
        if n < self.min_args or (self.max_args is not None and n > self.max_args):
            raise ScriptError(arity_message(self.name, self.min_args, self.max_args, n))
        if self.ctor is not None:
            self.ctor(obj, *args)
        return obj

    def check_private(self, name, ctx) -> None:
        if name in self.private and ctx is not self:
            raise ScriptError(f"cannot access private property {name} of {self.name}")

    def check_write(self, name, ctx) -> None:
        if ctx is not self:
            if name in self.private:
                raise ScriptError(f"cannot access private property {name} of {self.name}")
            if name in self.readonly:
                raise ScriptError(f"property {name} of {self.name} is read-only")
        if name in self.methods:
            raise ScriptError(f"cannot assign to method {name} of {self.name}")

    def get_prop(self, obj, name, ctx):
        props = obj.props
        if name in props:
            if name in self.private and ctx is not self:
                raise ScriptError(f"cannot access private property {name} of {self.name}")
            return props[name]
        m = self.methods.get(name)
        if m is not None:
            fn, lo, hi, private = m
            if private and ctx is not self:
                raise ScriptError(f"cannot access private function {name} of {self.name}")
            return HFunction(name, fn, lo, hi, obj)
        raise ScriptError(f"undefined property {name} of {self.name}")

    def set_prop(self, obj, name, value, ctx) -> None:
        self.check_write(name, ctx)
        if _ex._speculating:
            will_mutate(obj)
        obj.props[name] = value

    def del_prop(self, obj, name, ctx) -> bool:
        self.check_write(name, ctx)
        if _ex._speculating:
            will_mutate(obj)
        return obj.props.pop(name, _UNSET) is not _UNSET

    def call_method(self, obj, name, ctx, args):
        m = self.methods.get(name)
        if m is None:
            f = obj.props.get(name)
            if type(f) is HFunction:
                self.check_private(name, ctx)
                return f(*args)
            raise ScriptError(f"undefined function {self.name}->{name}()")
        fn, lo, hi, private = m
        if private and ctx is not self:
            raise ScriptError(f"cannot call private function {name} of {self.name}")
        n = len(args)
        if n < lo or (hi is not None and n > hi):
            raise ScriptError(arity_message(f"{self.name}->{name}", lo, hi, n))
        return fn(obj, *args)

    # statics
    def _check_static(self, name, ctx):
        if name in self.static_private and ctx is not self:
            raise ScriptError(f"cannot access private variable {self.name}::${name}")

    def get_static(self, name, ctx):
        self._check_static(name, ctx)
        return self.statics[name]

    def set_static(self, name, value, ctx):
        self._check_static(name, ctx)
        self.statics[name] = value
        return value

    def set_static_coalesce(self, name, make, ctx):
        current = self.get_static(name, ctx)
        if current is not None:
            return current
        return self.set_static(name, make(), ctx)

    def static_container(self, name, ctx):
        self._check_static(name, ctx)
        value = _container(self.statics[name])
        self.statics[name] = value
        return value

    def incdec_static(self, name, op, prefix, ctx):
        old = V.to_number(self.get_static(name, ctx))
        new = op(old)
        self.set_static(name, new, ctx)
        return new if prefix else old
