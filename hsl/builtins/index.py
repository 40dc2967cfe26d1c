"""A cached index of the registry, so compiling a script imports only the builtin areas it
uses (importing every area pulls in cryptography, yaml, regex... and costs more than the
rest of a cold `hsl run`).

The index is derived from the registry (the one source of truth): when it is missing or
stale it is rebuilt by importing every area, and stored as JSON in the user cache
directory, keyed by hsl's version and the size and modification time of every module that
registers builtins. An entry has the same attributes as a registry entry; `fn`/`cls` import
the area on first use.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Optional

from . import registry

_HERE = os.path.dirname(os.path.abspath(__file__))
_HOOKS = os.path.join(os.path.dirname(_HERE), "hooks")


class FunctionEntry:
    __slots__ = ("name", "params", "min_args", "max_args", "area", "context", "doc", "module")

    def __init__(self, name, params, min_args, max_args, area, context, doc, module):
        self.name, self.params, self.min_args, self.max_args = name, params, min_args, max_args
        self.area, self.context, self.doc, self.module = area, context, doc, module

    @property
    def fn(self):
        return _loaded(self.module, registry.FUNCTIONS, self.name).fn

    def signature(self) -> str:
        return registry.Builtin.signature(self)


class ClassEntry:
    __slots__ = ("name", "min_args", "max_args", "area", "context", "doc", "module")

    def __init__(self, name, min_args, max_args, area, context, doc, module):
        self.name, self.min_args, self.max_args = name, min_args, max_args
        self.area, self.context, self.doc, self.module = area, context, doc, module

    @property
    def cls(self):
        return _loaded(self.module, registry.CLASSES, self.name).cls


def _loaded(module: str, table: dict, name: str):
    if name not in table:
        import importlib
        importlib.import_module(module)
    return table[name]


def _sources_key() -> str:
    from .. import __version__
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


def _cache_dir() -> Optional[str]:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for d in (os.path.join(base, "hsl"), os.path.join(tempfile.gettempdir(), "hsl-cache")):
        try:
            os.makedirs(d, exist_ok=True)
            return d
        except OSError:
            continue
    return None


def _build() -> dict:
    from . import load_all
    load_all()
    functions = {}
    for name, b in registry.FUNCTIONS.items():
        functions[name] = [b.params, b.min_args, b.max_args, b.area, b.context, b.doc,
                           b.fn.__module__]
    classes = {}
    for name, c in registry.CLASSES.items():
        classes[name] = [c.min_args, c.max_args, c.area, c.context, c.doc, c.cls.__module__]
    return {"functions": functions, "classes": classes}


_index: Optional[dict] = None


def _load() -> dict:
    global _index
    if _index is not None:
        return _index
    key = _sources_key()
    folder = _cache_dir()
    path = os.path.join(folder, f"builtins-{key}.json") if folder else None
    data = None
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = None
    if data is None:
        data = _build()
        if path is not None:
            try:
                tmp = f"{path}.{os.getpid()}.tmp"
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump(data, f)
                os.replace(tmp, path)
            except OSError:
                pass
    _index = {
        "functions": {n: FunctionEntry(n, *v) for n, v in data["functions"].items()},
        "classes": {n: ClassEntry(n, *v) for n, v in data["classes"].items()},
    }
    return _index


def functions_for(context: Optional[str]) -> dict:
    """Builtin functions visible in `context` (None: a standalone run), without importing
    their modules."""
    return {n: e for n, e in _load()["functions"].items()
            if e.context is None or e.context == context}


def classes_for(context: Optional[str]) -> dict:
    return {n: e for n, e in _load()["classes"].items()
            if e.context is None or e.context == context}
