"""Tab completion for the REPL: builtins (with their signatures), user functions and
classes, variables in scope, array keys after `["`, methods after `->` and `::`,
dot-commands and their arguments."""
from __future__ import annotations

from prompt_toolkit.completion import Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from ..builtins.registry import member_signatures, method_signature
from ..hooks.phases import RUNNABLE
from ..runtime import values as V
from ..syntax.cursor import (ALL_KEYWORDS, BUFFER_CLASSES, BUFFER_FUNCS, BUFFER_VARS,
                             assigned_class, first_line, typing_at)
from .commands import COMMANDS, show


class HSLCompleter(Completer):
    def __init__(self, engine):
        self.engine = engine
        self.paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event):
        before = document.text_before_cursor
        if document.text.lstrip().startswith(".") and "\n" not in before:
            yield from self._command(before.lstrip(), complete_event)
            return
        t = typing_at(before)
        if t is None:
            return
        if t.kind == "keys":
            yield from self._keys(t)
        elif t.kind == "method":
            yield from self._methods(t.var, t.prefix, before)
        elif t.kind == "static":
            yield from self._statics(t.var, t.prefix)
        elif t.kind == "variable":
            yield from self._variables(t.prefix, document.text)
        else:
            yield from self._names(t.prefix, document.text)

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
        for name, params in BUFFER_FUNCS.findall(buffer):
            if name.startswith(prefix) and name not in seen:
                seen.add(name)
                yield Completion(name, -len(prefix), display_meta=f"{name}({params.strip()})")
        for name, decl in sorted(engine.classes().items()):
            if name.startswith(prefix) and name not in seen:
                seen.add(name)
                yield Completion(name, -len(prefix), display_meta="class " + decl.signature)
        for name in BUFFER_CLASSES.findall(buffer):
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
                                 display_meta="class " + first_line(classes[name].doc))
        if keywords:
            for word in ALL_KEYWORDS:
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
        for name in sorted(set(BUFFER_VARS.findall(buffer))):
            if name.startswith(prefix) and name not in seen and name != prefix:
                seen.add(name)
                yield Completion("$" + name, -len(prefix) - 1)

    def _keys(self, t):
        value = self._scope().get(t.var)
        for key in t.path:
            if type(value) is not V.HArray:
                return
            value = value.get(key.encode() if type(key) is str else key)
        if type(value) is not V.HArray:
            return
        prefix = t.prefix
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
            methods = self._class_members(assigned_class(var, before), static=False)
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
                methods[name] = method_signature(name, entry)
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
        return member_signatures(entry, static)


def _members(items: dict, prefix: str):
    for name in sorted(items):
        if name.startswith(prefix):
            yield Completion(name, -len(prefix), display_meta=items[name])
