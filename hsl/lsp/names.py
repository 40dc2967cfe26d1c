"""What the names of a document mean, for completion, signature help and hover: the
builtins and builtin classes of its hook phase (hsl/builtins/registry.py through the
index), the hook functions of that phase (hsl/hooks/phases.py), and the functions and
classes the document declares or brings in by include and import (with their doc
comments), read from the (partial) parse trees of its last analysis."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from ..builtins.index import classes_for, functions_for
from ..check import contexts as C
from ..hooks import phases as P
from ..program import find_file, search_dirs
from ..syntax import ast as A
from .documents import Analysis


@dataclass
class UserDecl:
    """A function or class the document can call."""
    name: str                   # the name it is called by (an import's alias)
    node: A.Node                # A.FunctionDecl or A.ClassDecl
    path: str                   # the file it is declared in
    text: str                   # that file's text (for its doc comment)

    @property
    def is_class(self) -> bool:
        return type(self.node) is A.ClassDecl

    def signature(self) -> str:
        node = self.node
        if type(node) is A.ClassDecl:
            ctor = next((m for m in node.members if type(m) is A.Constructor), None)
            return f"class {self.name}({params_text(ctor.params) if ctor else ''})"
        return f"{self.name}({params_text(node.params)})"

    def params(self) -> list:
        node = self.node
        if type(node) is A.ClassDecl:
            ctor = next((m for m in node.members if type(m) is A.Constructor), None)
            return [param_text(p) for p in ctor.params] if ctor else []
        return [param_text(p) for p in node.params]

    def doc(self) -> str:
        return doc_comment(self.text, self.node.span.line)


def param_text(p: A.Param) -> str:
    if p.variadic:
        return f"...${p.name}"
    return f"[${p.name}]" if p.default is not None else f"${p.name}"


def params_text(params) -> str:
    return ", ".join(param_text(p) for p in params)


def doc_comment(text: str, line: int) -> str:
    """The comment right above 1-based `line` of `text`: `//` lines or one `/* */` block,
    without the comment markers."""
    lines = text.split("\n")
    i = line - 2
    out: list = []
    if 0 <= i < len(lines) and lines[i].strip().endswith("*/"):
        while i >= 0:
            out.append(lines[i])
            if "/*" in lines[i]:
                break
            i -= 1
        else:
            return ""
        block = "\n".join(reversed(out)).strip()
        block = block[block.index("/*") + 2:]
        block = block[:block.rindex("*/")] if "*/" in block else block
        body = [ln.strip().lstrip("*").strip() for ln in block.strip("*").split("\n")]
        return "\n".join(body).strip()
    while 0 <= i < len(lines) and lines[i].strip().startswith("//"):
        out.append(lines[i].strip()[2:].lstrip("/").strip())
        i -= 1
    return "\n".join(reversed(out)).strip()


class Names:
    """The names visible in one analysed document."""

    def __init__(self, a: Optional[Analysis], documents):
        self.a = a
        self.phase = a.phase if a is not None else None
        self.documents = documents
        self._user: Optional[dict] = None

    # ---------------------------------------------------------------- builtins
    def builtins(self) -> dict:
        out = functions_for(self.phase)
        if self.a is not None and self.a.options.plugins is not None:
            out.update(self.a.options.plugins.functions)
        return out

    def builtin_classes(self) -> dict:
        out = classes_for(self.phase)
        if self.a is not None and self.a.options.plugins is not None:
            out.update(self.a.options.plugins.classes)
        return out

    def hook_functions(self) -> dict:
        """name -> P.HookFunction of the phase (every phase's, for a file of the file
        area, which the hooks include; none for a script of no hook)."""
        if self.phase is not None:
            return dict(P.PHASES[self.phase].functions)
        if self.a is not None and C.in_file_area(self.a.path):
            out = {}
            for phase in P.PHASES.values():
                for name, f in phase.functions.items():
                    out.setdefault(name, f)
            return out
        return {}

    def variables(self) -> tuple:
        """The pre-defined variables of the phase (any phase's without one)."""
        return P.PHASES[self.phase].variables if self.phase else P.ANY_PHASE_VARIABLES

    # ---------------------------------------------------------------- user code
    def user(self) -> dict:
        """name -> UserDecl of the functions and classes of the document, of the files it
        includes (at any depth) and of the names it imports."""
        if self._user is not None:
            return self._user
        out: dict = {}
        a = self.a
        if a is None or a.program is None:
            self._user = out
            return out
        dirs = search_dirs(a.path, a.options.include_paths, a.options.roots)
        extras = a.options.plugins.extras if a.options.plugins is not None else ()
        seen = set()
        # (path, statements, text): the checked program has its includes resolved in
        # place (A.Included); an imported module's parse has them as A.Include
        todo = [(os.path.abspath(a.path), a.program.body, a.text)]
        while todo:
            path, body, text = todo.pop()
            if path in seen or body is None:
                continue
            seen.add(path)
            for n in A.walk(body, _not_in_bodies):
                t = type(n)
                if t is A.FunctionDecl or t is A.ClassDecl:
                    out.setdefault(n.name, UserDecl(n.name, n, path, text))
                elif t is A.Included:
                    target = os.path.abspath(n.inclusion.path)
                    todo.append((target, n.inclusion.body, a.sources.get(target, "")))
                elif t is A.Include or t is A.ImportSymbols:
                    target = self._file(n.path, path, a.path, dirs, extras)
                    if target is None:
                        continue
                    tpath, tprogram, ttext = target
                    if t is A.Include:
                        todo.append((tpath, tprogram.body if tprogram else None, ttext))
                        continue
                    decls = {d.name: d for d in tprogram.body
                             if type(d) in (A.FunctionDecl, A.ClassDecl)} if tprogram else {}
                    for item in n.items:
                        d = decls.get(item.name)
                        if d is not None and not item.is_var:
                            out.setdefault(item.alias or item.name,
                                           UserDecl(item.alias or item.name, d, tpath, ttext))
        self._user = out
        return out

    def _file(self, spec: bytes, from_file: str, main: str, dirs, extras):
        try:
            found = find_file(spec, from_file, main, dirs, extras)
        except (OSError, ValueError):
            return None
        if found is None:
            return None
        found = os.path.abspath(found)
        text = self.a.sources.get(found)
        if text is None:
            text = self.documents.overlay().get(found)
        if text is None:
            return None
        return found, self.documents.program_of(found, text), text

    # ---------------------------------------------------------------- one name
    def callable_signature(self, name: str):
        """(signature, [parameter labels], documentation) of a function or class `name`
        as a call sees it, or None."""
        user = self.user().get(name)
        if user is not None:
            return user.signature(), user.params(), user.doc()
        hooks = self.hook_functions()
        if name in hooks:
            f = hooks[name]
            params = (["$reason"] if f.reason else []) + (["$options"] if f.options else [])
            params = params[:f.max_args] or [f"$arg{i + 1}" for i in range(f.max_args)]
            shown = [p if i < f.min_args else f"[{p}]" for i, p in enumerate(params)]
            return f"{name}({', '.join(shown)})", shown, hook_doc(f, self.phase)
        b = self.builtins().get(name)
        if b is not None:
            sig = b.signature()
            inner = sig[sig.index("(") + 1:-1]
            return sig, [p.strip() for p in inner.split(",")] if inner else [], b.doc
        c = self.builtin_classes().get(name)
        if c is not None:
            return f"class {name}", [], c.doc
        return None


def hook_doc(f, phase: Optional[str]) -> str:
    where = ", ".join(P.HOOK_FUNCTIONS.get(f.name, ()))
    text = f"hook function of {where}"
    if f.options:
        text += "; options: " + ", ".join(f"`{o}`" for o in f.options)
    if f.code is not None:
        text += f"; default reply {f.code}"
    if f.terminates:
        text += "; ends the script"
    return text


def _not_in_bodies(n) -> bool:
    """Walk statements, not into functions, classes or expressions."""
    return isinstance(n, (A.Stmt, A.SwitchCase, A.Program)) and type(n) not in (
        A.FunctionDecl, A.ClassDecl)
