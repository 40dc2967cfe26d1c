"""Plugins a Halon host would have: functions and classes that only the MTA (or one of its
plugins) provides, declared by the user in a plugins file (`--plugins FILE`), and
directories of `extras://` packages (`--extras DIR`).  docs/plugins.md describes the file:

    functions:
      ip_list_lookup:
        params: [list, ip]                  # or min_args / max_args; none: any number
        results:                            # canned answers for given arguments (===)
          - {args: [blocklist, 192.0.2.1], result: true}
        result: false                       # for any other arguments (default: none)
      dlp_scan:
        module: stubs/dlp.hsl               # implemented in HSL (relative to this file)
        function: scan                      # (default: the same name)
    classes:
      LDAP:
        params: [uri]                       # the constructor's
        methods:
          search: {params: [base, "[filter]"], result: []}
      Redis: {module: stubs/redis.hsl, class: Redis}

    delivery:                               # Try(["plugin" => ["id" => ...]]) in
      http-deliver:                         # predelivery: a canned outcome
        result: {code: 250, enhanced: [2, 0, 0], reason: queued}
      flaky:                                # one per attempt (the retry counter);
        attempts:                           # the last repeats
          - error: {message: backend down, temporary: true}
          - result: {code: 250}

A declared function is a registry.Builtin of area "plugin" and a class a
registry.BuiltinClass: the compiler, `hsl check`, the REPL and its completion treat them
as builtins (arity checked, reachable with `builtin NAME`).  One implemented in HSL is
compiled into the program that mentions it, as a module (ProgramBuilder.load_plugins).
A delivery plugin is only its outcomes (`Plugins.delivery`: id -> a list of
{"result": {code, enhanced?, reason?, state?}} or {"error": {message, temporary?}}),
which the queue runner makes the attempt of `Try(["plugin" => ...])` (hsl/queue/deliver.py
plugin_attempt).  Every error in the file is a ValueError whose message starts with
FILE:LINE:COL."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional

from .builtins import index as builtin_index
from .builtins.registry import Builtin, BuiltinClass
from .errors import ScriptError
from .inputs import read_located
from .runtime.values import BuiltinObject, HArray, arity_message, share, strict_eq

AREA = "plugin"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PARAM = re.compile(r"(\[)?(\.\.\.)?\$?([A-Za-z_][A-Za-z0-9_]*)(?(1)\])\Z")

# The keys of each kind of declaration (one table: the reader and the docs follow it).
ARITY_KEYS = ("params", "min_args", "max_args")
CANNED_KEYS = ("result", "results")
FUNCTION_KEYS = ARITY_KEYS + CANNED_KEYS + ("module", "function")
METHOD_KEYS = ARITY_KEYS + CANNED_KEYS
CLASS_KEYS = ARITY_KEYS + ("methods", "module", "class")
OUTCOME_KEYS = ("result", "error")
DELIVERY_KEYS = OUTCOME_KEYS + ("attempts",)
RESULT_KEYS = ("code", "enhanced", "reason", "state")
ERROR_KEYS = ("message", "temporary")


@dataclass
class Implementation:
    """The HSL module that implements a plugin: `member` is its function or class."""
    path: str
    member: str
    kind: str                   # "function" or "class"
    where: tuple                # (file, line, col) of the declaration, for errors


class Plugins:
    """What the host provides beyond hsl: declared plugin functions and classes, and the
    directories `extras://NAME` also resolves from."""

    def __init__(self):
        self.functions: dict[str, Builtin] = {}
        self.classes: dict[str, BuiltinClass] = {}
        self.implemented: dict[str, Implementation] = {}
        self.extras: list[str] = []
        self.delivery: dict[str, list] = {}     # delivery plugin id -> its outcomes
        self.files: list[str] = []          # the plugin files read
        self._declared: dict[str, str] = {}  # name -> where it is declared

    def names(self) -> set:
        return set(self.functions) | set(self.classes)

    def add_extras(self, folder: str) -> None:
        if not os.path.isdir(folder):
            raise ValueError(f"--extras {folder}: not a directory")
        self.extras.append(os.path.abspath(folder))

    def load(self, path: str) -> None:
        """Add the declarations of a plugins file (YAML, or JSON when it ends in .json)."""
        value, pos = read_located(path, "plugins file")
        self.files.append(path)
        _Reader(self, path, pos).read(value)

    def read(self, value, path: str, pos) -> None:
        """Add declarations written inside another file (hsl test's `plugins:` mock), in
        the plugins file's format: `path` is that file (module: paths are relative to its
        folder) and `pos` (an inputs.Positions, or anything with its at() and find())
        says where each part of `value` is."""
        _Reader(self, path, pos).read(value)


def load_plugins(files=(), extras=()) -> Optional[Plugins]:
    """The Plugins of --plugins files and --extras directories, or None without any.
    ValueError (FILE:LINE:COL: ...) for a file or directory that cannot be used."""
    if not files and not extras:
        return None
    plugins = Plugins()
    for folder in extras:
        plugins.add_extras(folder)
    for path in files:
        plugins.load(path)
    return plugins


class _Reader:
    def __init__(self, plugins: Plugins, path: str, pos):
        self.plugins, self.path, self.pos = plugins, path, pos
        self.base = os.path.dirname(os.path.abspath(path))
        self.builtin_names = builtin_index.names()

    def fail(self, where: tuple, message: str, key: bool = False):
        label = ".".join(str(p) for p in where)
        raise ValueError(f"{self.pos.at(where, key)}: {label + ': ' if label else ''}{message}")

    def mapping(self, value, where: tuple, keys) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(where, "must be a mapping")
        for k in value:
            if keys is not None and k not in keys:
                self.fail(where + (k,), f"unknown key (known: {', '.join(keys)})", key=True)
        return value

    def read(self, value) -> None:
        top = self.mapping(value, (), ("functions", "classes", "delivery"))
        if value is None or not top:
            self.fail((), "a plugins file declares functions:, classes: and/or delivery:")
        for name, spec in self.mapping(top.get("functions"), ("functions",), None).items():
            self.function(name, spec, ("functions", name))
        for name, spec in self.mapping(top.get("classes"), ("classes",), None).items():
            self.cls(name, spec, ("classes", name))
        for pid, spec in self.mapping(top.get("delivery"), ("delivery",), None).items():
            self.delivery(pid, spec, ("delivery", pid))

    def delivery(self, pid, spec, where: tuple) -> None:
        """A delivery plugin: `result:` or `error:`, or `attempts:`, a list of them."""
        if not isinstance(pid, str) or not pid:
            self.fail(where, "a delivery plugin id is a string", key=True)
        if pid in self.plugins.delivery:
            self.fail(where, f"delivery plugin {pid!r} is already declared", key=True)
        spec = self.mapping(spec, where, DELIVERY_KEYS)
        if "attempts" in spec:
            if set(spec) & set(OUTCOME_KEYS):
                self.fail(where + ("attempts",), "give attempts: or result:/error:, not "
                          "both", key=True)
            attempts = spec["attempts"]
            if not isinstance(attempts, list) or not attempts:
                self.fail(where + ("attempts",), "must be a list of {result: ...} or "
                          "{error: ...}")
            outcomes = [self.outcome(a, where + ("attempts", i))
                        for i, a in enumerate(attempts)]
        else:
            outcomes = [self.outcome(spec, where)]
        self.plugins.delivery[pid] = outcomes

    def outcome(self, spec, where: tuple) -> dict:
        spec = self.mapping(spec, where, OUTCOME_KEYS)
        if len(spec) != 1:
            self.fail(where, "an outcome is result: {code, enhanced, reason, state} or "
                      "error: {message, temporary}")
        if "result" in spec:
            r = self.mapping(spec["result"], where + ("result",), RESULT_KEYS)
            code = r.get("code")
            if type(code) is not int or not 200 <= code <= 599:
                self.fail(where + ("result", "code"), "must be a reply code (200-599)")
            enhanced = r.get("enhanced")
            if enhanced is not None and not (
                    isinstance(enhanced, list) and len(enhanced) == 3
                    and all(type(n) is int and n >= 0 for n in enhanced)):
                self.fail(where + ("result", "enhanced"), "must be three numbers, "
                          "[5, 1, 1]")
            reason = r.get("reason", [])
            if isinstance(reason, str):
                reason = [reason]
            if not isinstance(reason, list) or not all(isinstance(x, str) for x in reason):
                self.fail(where + ("result", "reason"), "must be a string or a list of "
                          "strings")
            if "state" in r and not isinstance(r["state"], str):
                self.fail(where + ("result", "state"), "must be an SMTP state (EOD, RCPT...)")
            return {"result": {**r, "reason": reason}}
        e = self.mapping(spec["error"], where + ("error",), ERROR_KEYS)
        if not isinstance(e.get("message"), str):
            self.fail(where + ("error", "message"), "required: the error's text")
        if type(e.get("temporary", True)) is not bool:
            self.fail(where + ("error", "temporary"), "must be true or false")
        return {"error": dict(e)}

    def declare(self, name, where: tuple) -> tuple:
        if not isinstance(name, str) or not _NAME.match(name):
            self.fail(where, "a plugin name is an identifier (letters, digits, _)", key=True)
        if name in self.builtin_names:
            self.fail(where, f"{name} is a builtin of hsl, not a plugin", key=True)
        previous = self.plugins._declared.get(name)
        if previous is not None:
            self.fail(where, f"{name} is already declared at {previous}", key=True)
        self.plugins._declared[name] = self.pos.at(where, key=True)
        line, col = self.pos.find(where, key=True) or (1, 1)
        return (self.path, line, col)

    def function(self, name, spec, where: tuple) -> None:
        here = self.declare(name, where)
        spec = self.mapping(spec, where, FUNCTION_KEYS)
        if "module" in spec:
            self.no_canned(spec, where, "function")
            impl = self.implementation(spec, where, "function", name, here)
            self.plugins.implemented[name] = impl
            entry = Builtin(name, None, ["args"], 0, None, AREA,
                            doc=f"plugin, implemented by {impl.path}")
        else:
            if "function" in spec:
                self.fail(where + ("function",), "only with module:", key=True)
            params, lo, hi = self.arity(spec, where)
            entry = Builtin(name, _canned_function(name, *self.canned(spec, where)), params,
                            lo, hi, AREA, doc="plugin (canned results)")
        self.plugins.functions[name] = entry

    def cls(self, name, spec, where: tuple) -> None:
        here = self.declare(name, where)
        spec = self.mapping(spec, where, CLASS_KEYS)
        if "module" in spec:
            for k in ARITY_KEYS + ("methods",):
                if k in spec:
                    self.fail(where + (k,), "a class implemented in HSL has its own "
                              "constructor and methods", key=True)
            impl = self.implementation(spec, where, "class", name, here)
            self.plugins.implemented[name] = impl
            self.plugins.classes[name] = BuiltinClass(name, _HSLClass, 0, None, AREA,
                                                      doc=f"plugin, implemented by {impl.path}")
            return
        if "class" in spec:
            self.fail(where + ("class",), "only with module:", key=True)
        _, lo, hi = self.arity(spec, where)
        methods = {}
        for mname, mspec in self.mapping(spec.get("methods"), where + ("methods",),
                                         None).items():
            mwhere = where + ("methods", mname)
            if not isinstance(mname, str) or not _NAME.match(mname):
                self.fail(mwhere, "a method name is an identifier", key=True)
            mspec = self.mapping(mspec, mwhere, METHOD_KEYS)
            _, mlo, mhi = self.arity(mspec, mwhere)
            methods[mname] = (_canned_method(f"{name}->{mname}", *self.canned(mspec, mwhere)),
                              mlo, mhi)
        self.plugins.classes[name] = BuiltinClass(name, _canned_class(name, lo, hi, methods),
                                                  lo, hi, AREA, doc="plugin (canned results)")

    def no_canned(self, spec: dict, where: tuple, kind: str) -> None:
        for k in ARITY_KEYS + CANNED_KEYS:
            if k in spec:
                self.fail(where + (k,), f"a {kind} implemented in HSL has its own parameters "
                          "and results", key=True)

    def implementation(self, spec: dict, where: tuple, kind: str, name: str,
                       here: tuple) -> Implementation:
        module = spec["module"]
        if not isinstance(module, str) or not module:
            self.fail(where + ("module",), "must be the path of an .hsl file")
        path = os.path.normpath(os.path.join(self.base, module))
        if not os.path.isfile(path):
            self.fail(where + ("module",), f"file not found: {module} (paths are relative "
                      "to the plugins file)")
        member = spec.get(kind, name)
        if not isinstance(member, str) or not _NAME.match(member):
            self.fail(where + (kind,), f"must be the name of a {kind} of the module")
        return Implementation(path, member, kind, here)

    def arity(self, spec: dict, where: tuple) -> tuple:
        """(params, min_args, max_args) from `params:` or `min_args:`/`max_args:`; any
        number of arguments without either."""
        if "params" in spec:
            for k in ("min_args", "max_args"):
                if k in spec:
                    self.fail(where + (k,), "give params or min_args/max_args, not both",
                              key=True)
            return self.params(spec["params"], where + ("params",))
        lo, hi = spec.get("min_args", 0), spec.get("max_args")
        for k, n in (("min_args", lo), ("max_args", hi)):
            if n is not None and (type(n) is not int or n < 0):
                self.fail(where + (k,), "must be a whole number >= 0")
        if hi is not None and hi < lo:
            self.fail(where + ("max_args",), f"is less than min_args ({lo})")
        if "min_args" not in spec and "max_args" not in spec:
            return ["args"], 0, None
        count = hi if hi is not None else lo + 1
        params = [f"arg{i + 1}" for i in range(count)]
        return params, lo, hi

    def params(self, value, where: tuple) -> tuple:
        if not isinstance(value, list):
            self.fail(where, 'must be a list of parameter names: [a, "[b]", "...rest"]')
        names, lo, hi = [], 0, 0
        for i, p in enumerate(value):
            m = _PARAM.match(p) if isinstance(p, str) else None
            if m is None or (m.group(1) and m.group(2)) or hi is None:
                self.fail(where + (i,), 'a parameter is NAME, "[NAME]" (optional) or '
                          '"...NAME" (the rest, last)')
            optional, rest, name = m.groups()
            names.append(name)
            if rest:
                hi = None
            elif optional:
                hi += 1
            elif lo < hi:
                self.fail(where + (i,), "a required parameter cannot follow an optional one")
            else:
                lo += 1
                hi += 1
        return names, lo, hi

    def canned(self, spec: dict, where: tuple) -> tuple:
        """(table, default): the `results:` pairs (arguments, result) and `result:`."""
        default = self.value(spec.get("result"), where + ("result",))
        table = []
        results = spec.get("results", [])
        if not isinstance(results, list):
            self.fail(where + ("results",), "must be a list of {args: [...], result: ...}")
        for i, r in enumerate(results):
            rwhere = where + ("results", i)
            r = self.mapping(r, rwhere, ("args", "result"))
            args = r.get("args", [])
            if not isinstance(args, list):
                self.fail(rwhere + ("args",), "must be a list of the call's arguments")
            table.append((tuple(self.value(a, rwhere + ("args", j))
                                for j, a in enumerate(args)),
                          self.value(r.get("result"), rwhere + ("result",))))
        return table, default

    def value(self, v, where: tuple):
        """The HSL value of a YAML value: strings, numbers, booleans, none, lists and
        mappings (arrays)."""
        t = type(v)
        if v is None or t is bool or t is float:
            return v
        if t is int:
            return float(v)
        if t is str:
            return v.encode("utf-8", "surrogateescape")
        if t is list:
            return HArray.from_list([self.value(x, where + (i,)) for i, x in enumerate(v)])
        if t is dict:
            a = HArray()
            for k, x in v.items():
                if type(k) not in (str, int):
                    self.fail(where + (k,), "an array key is a string or a whole number",
                              key=True)
                a.set(self.value(k, where), self.value(x, where + (k,)))
            return a
        self.fail(where, f"a {t.__name__} is not an HSL value (quote it to have a string)")


def _answer(table: tuple, default, args: tuple):
    for want, result in table:
        if len(want) == len(args) and all(map(strict_eq, want, args)):
            return share(result)
    return share(default)


def _canned_function(name: str, table: list, default):
    table = tuple(table)

    def plugin(*args):
        return _answer(table, default, args)

    plugin.__name__ = plugin.hsl_name = name
    return plugin


def _canned_method(label: str, table: list, default):
    table = tuple(table)

    def method(self, *args):
        return _answer(table, default, args)

    method.__name__ = label
    return method


class CannedObject(BuiltinObject):
    """An object of a plugin class with canned methods."""

    def __init__(self, *args):
        cls = type(self)
        n = len(args)
        if n < cls.min_args or (cls.max_args is not None and n > cls.max_args):
            raise ScriptError(arity_message(cls.class_name, cls.min_args, cls.max_args, n))


def _canned_class(name: str, lo: int, hi: Optional[int], methods: dict) -> type:
    return type(name, (CannedObject,), {"class_name": name, "min_args": lo, "max_args": hi,
                                        "hsl_methods": methods, "hsl_statics": {}})


class _HSLClass:
    """The Python side of a plugin class implemented in HSL: the compiler constructs it
    through its module (ProgramBuilder.builtin_class_ref); it has no static methods."""
    hsl_statics: dict = {}
