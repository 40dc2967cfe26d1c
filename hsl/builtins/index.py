"""A cached index of the registry, so compiling a script imports only the builtin areas it
uses (importing every area pulls in cryptography, yaml, regex... and costs more than the
rest of a cold `hsl run`).

The index is derived from the registry (the one source of truth): when it is missing or
stale it is rebuilt by importing every area, and stored as JSON in hsl's cache directory
(hsl/cache.py), keyed by hsl's version and the size and modification time of every module
that registers builtins. An entry has the same attributes as a registry entry; `fn`/`cls`
import the area on first use.

A cached index is used only if every value has its type and range (names are identifiers,
arities non-negative integers, modules are hsl's own builtin modules): its arities are
emitted into generated code and its modules imported.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Optional

from .. import cache
from ..version import __version__
from . import AREAS, HOOK_MODULES, load_all, registry
from .registry import visible_in

_HERE = os.path.dirname(os.path.abspath(__file__))
_HOOKS = os.path.join(os.path.dirname(_HERE), "hooks")


class FunctionEntry:
    __slots__ = ("name", "params", "min_args", "max_args", "area", "context", "doc", "module")

    def __init__(self, name, params, min_args, max_args, area, context, doc, module):
        self.name, self.params, self.min_args, self.max_args = name, params, min_args, max_args
        self.area, self.doc, self.module = area, doc, module
        self.context = None if context is None else tuple(context)

    @property
    def fn(self):
        return _loaded(self.module, registry.FUNCTIONS, self.name).fn

    def signature(self) -> str:
        return registry.Builtin.signature(self)


class ClassEntry:
    __slots__ = ("name", "min_args", "max_args", "area", "context", "doc", "module")

    def __init__(self, name, min_args, max_args, area, context, doc, module):
        self.name, self.min_args, self.max_args = name, min_args, max_args
        self.area, self.doc, self.module = area, doc, module
        self.context = None if context is None else tuple(context)

    @property
    def cls(self):
        return _loaded(self.module, registry.CLASSES, self.name).cls


def _loaded(module: str, table: dict, name: str):
    if name not in table:
        import importlib
        importlib.import_module(module)
    return table[name]


def _sources_key() -> str:
    h = hashlib.sha256(__version__.encode())
    for folder in (_HERE, _HOOKS):
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            if e.name.endswith(".py"):
                st = e.stat()
                h.update(f"{folder}/{e.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def _build() -> dict:
    load_all()
    functions = {}
    for name, b in registry.FUNCTIONS.items():
        functions[name] = [b.params, b.min_args, b.max_args, b.area, _listed(b.context),
                           b.doc, b.fn.__module__]
    classes = {}
    for name, c in registry.CLASSES.items():
        classes[name] = [c.min_args, c.max_args, c.area, _listed(c.context), c.doc,
                         c.cls.__module__]
    return {"functions": functions, "classes": classes}


def _listed(context: Optional[tuple]) -> Optional[list]:
    return None if context is None else list(context)


_index: Optional[dict] = None


def _load() -> dict:
    global _index
    if _index is not None:
        return _index
    name = f"builtins-{_sources_key()}.json"
    data = _read_cached(name)
    if data is None:
        data = _build()
        cache.write(name, json.dumps(data).encode(),
                    stale=cache.other_versions("builtins-", ".json"))
    _index = {
        "functions": {n: FunctionEntry(n, *v) for n, v in data["functions"].items()},
        "classes": {n: ClassEntry(n, *v) for n, v in data["classes"].items()},
    }
    return _index


def _read_cached(name: str) -> Optional[dict]:
    """The cached index if it is well formed, else None (rebuilt)."""
    raw = cache.read(name)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return data if _valid(data) else None


def _valid(data) -> bool:
    # Arities are emitted into generated code and modules imported: check every value.
    if type(data) is not dict or type(data.get("functions")) is not dict \
            or type(data.get("classes")) is not dict:
        return False
    modules = _modules()
    return all(_valid_name(n) and type(v) is list and len(v) == 7 and type(v[0]) is list
               and all(map(_valid_name, v[0])) and _valid_entry(v[1:], modules)
               for n, v in data["functions"].items()) \
        and all(_valid_name(n) and type(v) is list and len(v) == 6
                and _valid_entry(v, modules) for n, v in data["classes"].items())


def _valid_name(name) -> bool:
    return type(name) is str and name.isascii() and name.isidentifier()


def _valid_entry(v: list, modules: set) -> bool:
    """[min_args, max_args, area, context, doc, module]"""
    lo, hi, area, context, doc, module = v
    return type(lo) is int and lo >= 0 and (hi is None or (type(hi) is int and hi >= lo)) \
        and type(area) is str \
        and (context is None or (type(context) is list and all(map(_valid_name, context)))) \
        and type(doc) is str and module in modules


def _modules() -> set:
    """The modules that register builtins: the only ones the index may import."""
    return {f"{__package__}.{a}" for a in AREAS} | set(HOOK_MODULES)


def names() -> set:
    """The name of every builtin function and class, of every context."""
    index = _load()
    return set(index["functions"]) | set(index["classes"])


def functions_for(context: Optional[str]) -> dict:
    """Builtin functions visible in `context` (None: a standalone run), without importing
    their modules."""
    return {n: e for n, e in _load()["functions"].items() if visible_in(e.context, context)}


def classes_for(context: Optional[str]) -> dict:
    return {n: e for n, e in _load()["classes"].items() if visible_in(e.context, context)}
