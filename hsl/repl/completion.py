"""Tab completion for the REPL: builtins (with their signatures), user functions and
classes, variables in scope, array keys after `["`, methods after `->` and `::`,
dot-commands and their arguments."""
from __future__ import annotations

import re

from prompt_toolkit.completion import Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from ..hooks.phases import RUNNABLE
from ..runtime import values as V
from .commands import COMMANDS, show
from .lexer import CONSTANTS, KEYWORDS, WORD_OPERATORS

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?$")
_KEYS = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)((?:\[\s*(?:\"[^\"]*\"|[0-9]+)\s*\])*)"
                   r"\[\s*\"([^\"]*)$")
_ARROW = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)->([A-Za-z_][A-Za-z0-9_]*)?$")
_STATIC = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)::([A-Za-z_][A-Za-z0-9_]*)?$")
_INDEX = re.compile(r"\[\s*(?:\"([^\"]*)\"|([0-9]+))\s*\]")
_BUFFER_VARS = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_BUFFER_FUNCS = re.compile(r"\bfunction\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(([^)]*)\)")
_BUFFER_CLASSES = re.compile(r"\bclass\s+([A-Za-z_][A-Za-z0-9_]*)")


def _first_line(doc: str) -> str:
    return doc.strip().splitlines()[0] if doc and doc.strip() else ""


class HSLCompleter(Completer):
    def __init__(self, engine):
        self.engine = engine
        self.paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event):
        before = document.text_before_cursor
        if document.text.lstrip().startswith(".") and "\n" not in before:
            yield from self._command(before.lstrip(), complete_event)
            return
        m = _KEYS.search(before)
        if m:
            yield from self._keys(m)
            return
        m = _ARROW.search(before)
        if m:
            yield from self._methods(m.group(1), m.group(2) or "", before)
            return
        m = _STATIC.search(before)
        if m:
            yield from self._statics(m.group(1), m.group(2) or "")
            return
        m = _VAR.search(before)
        if m:
            yield from self._variables(m.group(1) or "", document.text)
            return
        m = _WORD.search(before)
        if m and (m.start() == 0 or before[m.start() - 1] not in "$>:"):
            yield from self._names(m.group(), document.text)

    # ------------------------------------------------------------ kinds
    def _command(self, text: str, event):
        parts = text.split(None, 1)
        if len(parts) == 1 and not text.endswith(" "):
            for name, (_args, help_) in COMMANDS.items():
                if name.startswith(parts[0]):
                    yield Completion(name, -len(parts[0]), display_meta=help_)
            return
        name = parts[0]
        arg = parts[1] if len(parts) > 1 else ""
        if name in (".load", ".session", ".run"):
            yield from self.paths.get_completions(Document(arg, len(arg)), event)
        elif name == ".hook":
            for h in RUNNABLE + ("none",):
                if h.startswith(arg):
                    yield Completion(h, -len(arg))
        elif name == ".help":
            for c in self._names(arg, "", keywords=False):
                yield c
            for cmd in COMMANDS:
                if cmd.startswith(arg) and arg.startswith("."):
                    yield Completion(cmd, -len(arg))

    def _names(self, prefix: str, buffer: str, keywords: bool = True):
        seen = set()
        engine = self.engine
        for name, decl in sorted(engine.functions().items()):
            if name.startswith(prefix) and name not in seen:
                seen.add(name)
                yield Completion(name, -len(prefix), display_meta=decl.signature or "function")
        for name, params in _BUFFER_FUNCS.findall(buffer):
            if name.startswith(prefix) and name not in seen:
                seen.add(name)
                yield Completion(name, -len(prefix), display_meta=f"{name}({params.strip()})")
        for name, decl in sorted(engine.classes().items()):
            if name.startswith(prefix) and name not in seen:
                seen.add(name)
                yield Completion(name, -len(prefix), display_meta="class " + decl.signature)
        for name in _BUFFER_CLASSES.findall(buffer):
            if name.startswith(prefix) and name not in seen:
                seen.add(name)
                yield Completion(name, -len(prefix), display_meta="class")
        builtins = engine.builtins()
        for name in sorted(builtins):
            if name.startswith(prefix) and name not in seen:
                seen.add(name)
                yield Completion(name, -len(prefix), display_meta=builtins[name].signature())
        classes = engine.builtin_classes()
        for name in sorted(classes):
            if name.startswith(prefix) and name not in seen:
                seen.add(name)
                yield Completion(name, -len(prefix),
                                 display_meta="class " + _first_line(classes[name].doc))
        if keywords:
            for word in sorted(KEYWORDS + CONSTANTS + WORD_OPERATORS + ("function", "class")):
                if word.startswith(prefix) and word not in seen and prefix:
                    seen.add(word)
                    yield Completion(word, -len(prefix), display_meta="keyword")

    def _scope(self) -> dict:
        values = dict(self.engine.context_variables())
        values.update(self.engine.globals)
        return values

    def _variables(self, prefix: str, buffer: str):
        scope = self._scope()
        seen = set()
        for name in sorted(scope):
            if name.startswith(prefix) and not name.startswith("__"):
                seen.add(name)
                text = show(scope[name])
                yield Completion("$" + name, -len(prefix) - 1,
                                 display_meta=text if len(text) <= 40 else text[:37] + "...")
        for name in sorted(set(_BUFFER_VARS.findall(buffer))):
            if name.startswith(prefix) and name not in seen and name != prefix:
                seen.add(name)
                yield Completion("$" + name, -len(prefix) - 1)

    def _keys(self, m):
        value = self._scope().get(m.group(1))
        for key, number in _INDEX.findall(m.group(2)):
            if type(value) is not V.HArray:
                return
            value = value.get(key.encode() if not number else float(number))
        if type(value) is not V.HArray:
            return
        prefix = m.group(3)
        for key, item in value.d.items():
            if type(key) is bytes:
                text = key.decode("utf-8", "replace")
                if text.startswith(prefix):
                    shown = show(item)
                    yield Completion(text + '"]', -len(prefix), display=text,
                                     display_meta=shown if len(shown) <= 40 else shown[:37] + "...")

    def _methods(self, var: str, prefix: str, before: str = ""):
        value = self._scope().get(var)
        if value is None:           # not set yet: the class of its assignment typed so far
            methods = self._class_members(_assigned_class(var, before), static=False)
            yield from _members(methods, prefix)
            return
        cls = getattr(value, "cls", None)
        methods = {}
        if cls is not None and hasattr(cls, "methods"):
            decl = self.engine.classes().get(getattr(cls, "name", ""))
            sigs = {s.split("(")[0]: s for s in (decl.methods if decl else [])}
            private = getattr(cls, "private", set())
            for name in cls.methods:
                if name not in private:
                    methods[name] = sigs.get(name, name + "()")
            for name in getattr(value, "props", {}):
                if name not in private and name not in methods:
                    methods[name] = "property"
        else:
            for name, entry in getattr(type(value), "hsl_methods", {}).items():
                methods[name] = _method_sig(name, entry)
        yield from _members(methods, prefix)

    def _statics(self, cls_name: str, prefix: str):
        yield from _members(self._class_members(cls_name, static=True), prefix)

    def _class_members(self, cls_name, static: bool) -> dict:
        """name -> signature of the (static) methods of a user or builtin class."""
        if cls_name is None:
            return {}
        decl = self.engine.classes().get(cls_name)
        if decl is not None:
            return {s.split("(")[0]: s for s in (decl.static_methods if static else decl.methods)}
        entry = self.engine.builtin_classes().get(cls_name)
        if entry is None:
            return {}
        try:
            cls = entry.cls
        except Exception:
            return {}
        table = getattr(cls, "hsl_statics" if static else "hsl_methods", {})
        return {n: _method_sig(n, e) for n, e in table.items()}


def _members(items: dict, prefix: str):
    for name in sorted(items):
        if name.startswith(prefix):
            yield Completion(name, -len(prefix), display_meta=items[name])


def _assigned_class(var: str, text: str):
    """The class of the last `$var = Name(...)` (or `Name::String(...)`) in `text`."""
    found = None
    for m in re.finditer(r"\$" + re.escape(var) + r"\s*=\s*([A-Za-z_][A-Za-z0-9_]*)"
                         r"(?:::String)?\s*\(", text):
        found = m.group(1)
    return found


def _method_sig(name: str, entry) -> str:
    """A builtin class method's signature from its Python parameters."""
    import inspect
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
