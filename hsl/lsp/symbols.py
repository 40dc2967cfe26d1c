"""Navigation for `hsl lsp`: a symbol index built from the parser's AST, and the features
that read it -- go to definition, find references, rename, document and workspace
symbols, document links and folding ranges.

One FileIndex per file: every name in it (an occurrence: a variable, a function or class
name, a member after `->` or `::`, an include/import path) with the span of the name and
a key saying what it refers to.  Keys follow HSL's scoping (language.md §7, §9, §10):

* a variable of a function (method, constructor, anonymous function) is local to it:
  ("var", path, scope id, name); `global $x` and closure captures (`closure ($x)`) make
  it the global's or the creating scope's variable;
* a global variable, function or class is ("g", name) in the file, made a workspace key
  by the Index: the files that mention the name and reach one another through includes
  share it (an included file's top level is the including file's), so `$x` in two hooks
  that both include a library is one variable only if the library mentions `$x`;
* an imported name is the module's symbol (`import { f }`), or, with `as`, a local
  alias; `import * as ns` makes `ns::f()` the module's f;
* nested functions and classes declared in a function are local to it;
* a member is ("member", class key, name) when the class is certain enough (`$this`,
  `Class::`, a variable assigned `Class(...)` in the scope), else ("member", None, name):
  its definitions are then every member of that name.

Not modelled: an include inside a function body (its file's top level is taken for the
global scope, where nearly every include is).

Include and import paths resolve as `hsl check` resolves them (hsl.program.find_file:
the including file's folder, the -I folders of `.hslcheck.toml`'s `include`, the Halon
project's src/files, parent folders up to the workspace folder, hsl's stdlib).

A file with syntax errors is indexed from what the parser kept (error recovery resumes at
the next statement); a file that ends inside an unclosed `{` (where the parser keeps
nothing) is parsed again with the missing `}` added at its end, so half-typed code keeps
its symbols.

The feature functions take a pygls Workspace and TextDocument plus the lsprotocol params,
and return lsprotocol types; register(server) adds the handlers.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Optional

from lsprotocol import types as T
from pygls.uris import from_fs_path, to_fs_path

from ..builtins import index as builtin_index
from ..check import config as check_config
from ..compiler.resolve import lvalue_root
from ..hooks.phases import ANY_PHASE_VARIABLES, PHASES
from ..program import find_file, is_glob, search_dirs
from ..syntax import ast as A
from ..syntax.parser import KEYWORDS, RESERVED_WORDS, parse_partial
from ..syntax.sourcefile import read_source_text
from .lexer import Columns, Tokens, tok_span

#: The variables the hooks predefine (in a file's global scope).
HOOK_VARIABLES = frozenset(ANY_PHASE_VARIABLES)

__all__ = ["FileIndex", "Index", "index_for", "configure", "definition", "references",
           "prepare_rename", "rename", "document_symbols", "flat_symbols",
           "workspace_symbols", "document_links", "folding_ranges", "visible_user_names",
           "builtin_names", "columns", "RenameError", "register"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NESTED = (A.FunctionDecl, A.ClassDecl, A.FuncExpr)
#: Files scanned for references and workspace symbols in one workspace folder.
MAX_WORKSPACE_FILES = 5000
#: Seconds between two walks of the workspace folders for new files.
WALK_EVERY = 2.0
_SKIP_DIRS = {"node_modules", "__pycache__", "venv", ".venv"}


_BUILTINS = None


def builtin_names() -> tuple:
    """(builtin function names, builtin class names), of every hook context."""
    global _BUILTINS
    if _BUILTINS is None:
        classes = set(builtin_index.classes_for(None))
        for phase in PHASES:
            classes |= set(builtin_index.classes_for(phase))
        _BUILTINS = (frozenset(builtin_index.names() - classes), frozenset(classes))
    return _BUILTINS


class RenameError(ValueError):
    """A rename that cannot be done (the message says why)."""


@dataclass(eq=False)
class Occ:
    """One name in a file."""
    kind: str            # "var", "name" (function or class), "member", "ns", "path"
    name: str            # without `$`
    span: A.Span         # of the name (a variable's with its `$`)
    key: tuple           # what it refers to (see the module docstring); () for none
    decl: bool = False   # a declaration or binding site
    cls: Optional[tuple] = None     # member: the key of its class when known ("g", C)
    target: Optional[str] = None    # path: the resolved file


@dataclass(eq=False)
class _Scope:
    kind: str                    # "file", "function", "method", "closure"
    node: object
    parent: Optional["_Scope"]
    cls: Optional[str] = None    # method/constructor: the class's name
    globals: set = field(default_factory=set)
    captures: set = field(default_factory=set)
    decls: dict = field(default_factory=dict)      # nested function/class name -> key
    classes_of: dict = field(default_factory=dict)  # $var -> class name (`$v = C(...)`)


class FileIndex:
    """The names of one file (see the module docstring)."""

    def __init__(self, path: str, text: str, include_paths=(), roots=()):
        self.path = path
        self.text = text[1:] if text.startswith("\ufeff") else text
        self.lines = self.text.split("\n")
        self.program, self.diagnostics = _parse(self.text, path)
        self.toks = Tokens(self.text)
        self.occs: list = []
        self.includes: list = []        # Occ of kind "path" of includes
        self.imports: list = []         # (stmt, Occ of its path)
        self.functions: dict = {}       # top-level function/class name -> decl Occ
        self.classes: dict = {}         # class name -> ClassDecl (top level)
        self.members: dict = {}         # class name -> {member name: decl Occ}
        self.import_names: dict = {}    # local name -> (path or None, name, alias Occ or None)
        self.import_vars: dict = {}     # local var -> (path or None, name, alias Occ or None)
        self.namespaces: dict = {}      # ns alias -> path or None
        self.global_vars: set = set()   # variables mentioned in the global scope
        self.global_names: set = set()  # functions/classes mentioned at global level
        self.local_classes: set = set()  # ids of classes declared inside functions
        self.include_paths = list(include_paths)
        self.roots = list(roots)
        self.columns: dict = {}         # position encoding -> Columns (see columns())
        self.results: dict = {}         # what a feature made of this text (tokens), by key
        if self.program is not None:
            self._build()

    # ------------------------------------------------------------- building

    def _resolve_path(self, spec: bytes) -> Optional[str]:
        try:
            if is_glob(spec):
                return None
            dirs = search_dirs(self.path, self.include_paths, self.roots)
            return find_file(spec, self.path, self.path, dirs)
        except (OSError, ValueError):
            return None

    def _add(self, occ: Occ) -> Occ:
        self.occs.append(occ)
        return occ

    def _build(self) -> None:
        top = _Scope("file", self.program, None)
        todo = [(self.program.body, top)]
        while todo:
            body, scope = todo.pop()
            todo.extend(self._scope(body, scope))
        self.occs.sort(key=lambda o: (o.span.line, o.span.col))

    def _var_key(self, scope: _Scope, name: str) -> tuple:
        while True:
            if scope.kind == "file":
                if name in HOOK_VARIABLES:
                    return ("hook", name)
                return ("g", name)
            if name == "this" and scope.cls is not None:
                return ("this", scope.cls)
            if name in scope.globals:
                return ("g", name)
            if name in scope.captures and scope.parent is not None:
                scope = scope.parent
                continue
            return ("var", self.path, id(scope.node), name)

    def _name_key(self, scope: _Scope, name: str) -> tuple:
        s = scope
        while s is not None:
            if name in s.decls:
                return s.decls[name]
            s = s.parent
        return ("g", name)

    def _var(self, scope: _Scope, name: str, span: A.Span, decl: bool = False) -> None:
        key = self._var_key(scope, name)
        if key[0] == "g":
            self.global_vars.add(name)
        self._add(Occ("var", name, span, key, decl))

    def _var_tok(self, scope, name, t, decl=False) -> None:
        if t is not None:
            self._var(scope, name, tok_span(t), decl)

    def _name(self, scope: _Scope, name: str, t, decl: bool = False) -> Optional[Occ]:
        if t is None:
            return None
        key = self._name_key(scope, name)
        if key[0] == "g":
            self.global_names.add(name)
        return self._add(Occ("name", name, tok_span(t), key, decl))

    def _path(self, stmt, spec: bytes) -> Occ:
        t = self.toks.find(stmt.span, "STRING", last=True) or \
            self.toks.find(stmt.span, "RAWSTRING", last=True)
        if type(stmt) is A.ImportData and stmt.options is not None:
            # (the path is the string before `with`)
            before = A.Span(stmt.span.line, stmt.span.col, stmt.options.span.line,
                            stmt.options.span.col)
            t = self.toks.find(before, "STRING", last=True) or \
                self.toks.find(before, "RAWSTRING", last=True)
        span = tok_span(t) if t is not None and "\n" not in t.text else stmt.span
        target = self._resolve_path(spec)
        return self._add(Occ("path", spec.decode("utf-8", "replace"), span, (), False,
                             target=target))

    def _after(self, span_from: A.Span, within: A.Span, typ: str):
        """The first token of type `typ` after `span_from` ends, inside `within`."""
        rest = A.Span(span_from.end_line, span_from.end_col, within.end_line, within.end_col)
        return self.toks.find(rest, typ)

    def _tokens_between(self, a, b_type: str, within: A.Span) -> list:
        """Tokens after token `a` up to the first of type `b_type` (inside `within`)."""
        out = []
        i = self.toks.index_at(a.line, a.col) + 1
        end = (within.end_line, within.end_col)
        toks = self.toks.toks
        while i < len(toks) and (toks[i].line, toks[i].col) < end and toks[i].type != b_type:
            out.append(toks[i])
            i += 1
        return out

    def _scope(self, body, scope: _Scope) -> list:
        """Index one scope's own statements; returns the nested scopes to index."""
        nodes = []

        def enter(n):
            nodes.append(n)
            return type(n) not in _NESTED

        if isinstance(body, list):
            for _ in A.walk(body, enter):
                pass
        # hoisting: the scope's nested declarations and `global`s first
        for n in nodes:
            t = type(n)
            if t is A.FunctionDecl or t is A.ClassDecl:
                if scope.kind != "file":
                    scope.decls[n.name] = ("local", self.path, id(n), n.name)
                    if t is A.ClassDecl:
                        self.local_classes.add(id(n))
            elif t is A.Global:
                scope.globals.update(n.names)
            elif t is A.Assign and type(n.target) is A.Var and type(n.value) is A.Call \
                    and type(n.value.callee) is A.NameRef:
                scope.classes_of.setdefault(n.target.name, n.value.callee.name)
        nested = []
        toks = self.toks
        binding = _binding_ids(nodes)
        for n in nodes:
            t = type(n)
            if t is A.Var:
                if n.name:
                    self._var(scope, n.name, n.span, id(n) in binding)
            elif t is A.FunctionDecl:
                occ = self._name(scope, n.name, toks.find(n.name_span, "IDENT", n.name)
                                 if n.name_span.line else None, decl=True)
                if occ is not None and scope.kind == "file":
                    self.functions.setdefault(n.name, occ)
                inner = _Scope("function", n, scope)
                self._params(inner, n.params)
                nested.append((n.body, inner))
            elif t is A.FuncExpr:
                inner = _Scope("closure", n, scope)
                inner.captures.update(n.captures)
                self._params(inner, n.params)
                # (its own `closure` comes before its body: the first in its span)
                kw = toks.find(n.span, "CLOSURE") if n.captures else None
                if kw is not None:
                    for ct in self._tokens_between(kw, "LBRACE", n.span):
                        if ct.type == "VARIABLE":
                            self._var_tok(scope, ct.text[1:], ct)
                nested.append((n.body, inner))
            elif t is A.ClassDecl:
                nested.extend(self._class(n, scope))
            elif t is A.Global:
                kw = toks.find(n.span, "GLOBAL")
                for gt in toks.within(n.span):
                    if gt.type == "VARIABLE" and kw is not None:
                        self.global_vars.add(gt.text[1:])
                        self._add(Occ("var", gt.text[1:], tok_span(gt), ("g", gt.text[1:])))
            elif t is A.Foreach:
                kw = self._after(n.iterable.span, n.span, "AS")
                if kw is not None:
                    for vt in self._tokens_between(kw, "RPAR", n.span):
                        if vt.type == "VARIABLE":
                            self._var_tok(scope, vt.text[1:], vt, decl=True)
            elif t is A.Try:
                start = n.body[-1].span if n.body else A.Span(n.span.line, n.span.col,
                                                              n.span.line, n.span.col)
                kw = self._after(start, n.span, "CATCH")
                if kw is not None and n.var:
                    vt = self._after(tok_span(kw), n.span, "VARIABLE")
                    self._var_tok(scope, n.var, vt, decl=True)
            elif t is A.Barrier:
                if n.var:
                    vt = self._after(n.name.span, n.span, "VARIABLE")
                    self._var_tok(scope, n.var, vt, decl=True)
            elif t is A.PatternTarget:
                self._var_tok(scope, n.name, toks.find(n.span, "VARIABLE", "$" + n.name), True)
            elif t is A.Destructure:
                if n.rest:
                    vt = self._after(n.targets[-1].span, n.span, "VARIABLE") if n.targets \
                        else toks.find(n.span, "VARIABLE", "$" + n.rest)
                    self._var_tok(scope, n.rest, vt, True)
            elif t is A.NameRef:
                if not n.builtin and n.name:
                    self._name(scope, n.name, toks.find(n.span, "IDENT", n.name, last=True))
            elif t is A.CacheCall:
                self._cache_call(n, scope)
            elif t is A.Prop:
                self._prop(n, scope)
            elif t is A.Static:
                self._static(n, scope)
            elif t is A.Include:
                self.includes.append(self._path(n, n.path))
            elif t in (A.ImportSymbols, A.ImportAll, A.ImportData):
                self._import(n, scope)
        return nested

    def _params(self, scope: _Scope, params) -> None:
        for p in params:
            if p.name:
                self._var_tok(scope, p.name, self.toks.find(p.span, "VARIABLE", "$" + p.name),
                              decl=True)

    def _class(self, n: A.ClassDecl, scope: _Scope) -> list:
        occ = self._name(scope, n.name, self.toks.find(n.name_span, "IDENT", n.name)
                         if n.name_span.line else None, decl=True)
        if occ is None:
            return []
        if scope.kind == "file":
            self.functions.setdefault(n.name, occ)
            self.classes.setdefault(n.name, n)
        ckey = occ.key
        members = self.members.setdefault(n.name, {})
        nested = []
        for m in n.members:
            tm = type(m)
            if tm is A.ClassVar and m.name:
                t = self.toks.find(m.span, "VARIABLE", "$" + m.name)
                if t is not None:
                    members.setdefault(m.name, self._add(
                        Occ("member", m.name, tok_span(t), ("member", ckey, m.name), True,
                            cls=ckey)))
            elif tm is A.ClassMethod or tm is A.Constructor:
                if tm is A.ClassMethod:
                    fn = self.toks.find(m.span, "FUNCTION")
                    if fn is not None:
                        i = self.toks.index_at(fn.line, fn.col) + 1
                        t = self.toks.toks[i] if i < len(self.toks.toks) else None
                        if t is not None and t.type == "IDENT" and t.text == m.name:
                            members.setdefault(m.name, self._add(
                                Occ("member", m.name, tok_span(t), ("member", ckey, m.name),
                                    True, cls=ckey)))
                inner = _Scope("method", m, scope, cls=n.name)
                self._params(inner, m.params)
                nested.append((m.body, inner))
        return nested

    def _class_of(self, target, scope: _Scope) -> Optional[tuple]:
        """The key of the class of `target` when it is certain enough: `$this` in a
        method, a variable assigned `C(...)` in this scope, a call `C(...)`."""
        if type(target) is A.Var:
            if target.name == "this" and scope.cls is not None:
                return self._name_key(scope.parent or scope, scope.cls)
            c = scope.classes_of.get(target.name)
            if c is not None:
                return self._name_key(scope, c)
        elif type(target) is A.Call and type(target.callee) is A.NameRef:
            return self._name_key(scope, target.callee.name)
        return None

    def _prop(self, n: A.Prop, scope: _Scope) -> None:
        t = self.toks.find(n.span, "IDENT", n.name, last=True)
        if t is not None and n.name:
            cls = self._class_of(n.target, scope)
            self._add(Occ("member", n.name, tok_span(t), ("member", cls, n.name), cls=cls))

    def _static(self, n: A.Static, scope: _Scope) -> None:
        if n.scope == "static":
            cls = self._name_key(scope.parent or scope, scope.cls) if scope.cls else None
        else:
            first = self.toks.find(n.span, "IDENT", n.scope)
            if n.scope in self.namespaces:
                if first is not None:
                    self._add(Occ("ns", n.scope, tok_span(first), ("ns", self.path, n.scope)))
                t = self.toks.find(n.span, "VARIABLE" if n.is_var else "IDENT",
                                   ("$" if n.is_var else "") + n.member, last=True)
                if t is not None:
                    self._add(Occ("var" if n.is_var else "name", n.member, tok_span(t),
                                  ("in", n.scope, n.member)))
                return
            occ = self._name(scope, n.scope, first)
            cls = occ.key if occ is not None else None
        t = self.toks.find(n.span, "VARIABLE" if n.is_var else "IDENT",
                           ("$" if n.is_var else "") + n.member, last=True)
        if t is not None:
            self._add(Occ("member", n.member, tok_span(t), ("member", cls, n.member), cls=cls))

    def _cache_call(self, n: A.CacheCall, scope: _Scope) -> None:
        if n.builtin or not n.name:
            return
        if n.scope is not None:
            self._static(A.Static(n.span, n.scope, n.name, False), scope)
            return
        found = None
        start = n.options.span
        for t in self.toks.within(A.Span(start.end_line, start.end_col, n.span.end_line,
                                         n.span.end_col)):
            if t.type == "IDENT" and t.text == n.name:
                found = t
                break
        self._name(scope, n.name, found)

    def _import(self, n, scope: _Scope) -> None:
        occ = self._path(n, n.path)
        self.imports.append((n, occ))
        target = occ.target
        if type(n) is A.ImportAll:
            self.namespaces[n.alias] = target
            t = self.toks.find(n.span, "IDENT", n.alias)
            if t is not None:
                self._add(Occ("ns", n.alias, tok_span(t), ("ns", self.path, n.alias), True))
        elif type(n) is A.ImportData:
            self._var_tok(scope, n.var, self.toks.find(n.span, "VARIABLE", "$" + n.var), True)
        else:
            for it in n.items:
                if not it.name:
                    continue
                typ = "VARIABLE" if it.is_var else "IDENT"
                pre = "$" if it.is_var else ""
                names = [t for t in self.toks.within(it.span) if t.type == typ]
                kind = "var" if it.is_var else "name"
                # the module's name: its key is the module's symbol ("of", path, name)
                if names:
                    self._add(Occ(kind, it.name, tok_span(names[0]),
                                  ("of", target, it.name, kind)))
                alias_occ = None
                if it.alias and len(names) > 1 and names[-1].text == pre + it.alias:
                    alias_occ = self._add(Occ(kind, it.alias, tok_span(names[-1]),
                                              ("g", it.alias), True))
                table = self.import_vars if it.is_var else self.import_names
                table[it.alias or it.name] = (target, it.name, alias_occ)
                (self.global_vars if it.is_var else self.global_names).add(it.alias or it.name)

    # ------------------------------------------------------------- queries

    def occ_at(self, line: int, col: int) -> Optional[Occ]:
        """The occurrence at (1-based) line and column, if any (the end of a name counts,
        as editors put the cursor after a word)."""
        best = None
        for o in self.occs:
            s = o.span
            if s.line == line and s.col <= col <= s.end_col and s.end_line == line:
                if best is None or col < s.end_col:
                    best = o
            elif s.line > line:
                break
        return best


def _binding_ids(nodes) -> set:
    """ids of the Var nodes that `=` (or `??=`, `++`, `--`) binds among `nodes`: the
    root variable of an assignment target (`$a`, `$a[1]`, `$a[]`)."""
    ids = set()
    for n in nodes:
        if type(n) is A.Assign and n.op not in ("=", "??="):
            continue
        if type(n) is A.Assign or type(n) is A.IncDec:
            node = n.target
            while type(node) in (A.Index, A.Slice):
                node = node.target
            if type(node) is A.Var and lvalue_root(n.target) == node.name:
                ids.add(id(node))
    return ids


def _parse(text: str, path: str):
    program, diags = parse_partial(text, path)
    if program is None and diags and diags[0].code not in ("HSL005",):
        # an unclosed `{` at the end (half-typed code; the parser keeps nothing when the
        # file ends inside a block after an error): parse again with the blocks closed
        depth = 0
        for t in Tokens(text).toks:
            if t.type == "LBRACE":
                depth += 1
            elif t.type == "RBRACE":
                depth = max(0, depth - 1)
        if 0 < depth <= 200:
            program, _ = parse_partial(text + "\n" + "}" * depth, path)
    return program, diags


# ------------------------------------------------------------------ the workspace

def _settings_for(path: str) -> list:
    """The include folders of the `.hslcheck.toml` (or pyproject) that applies to `path`."""
    try:
        found = check_config.find(os.path.dirname(path))
        return check_config.load(found).get("include", []) if found else []
    except (check_config.ConfigError, OSError):
        return []


class Index:
    """The FileIndex of every file of a workspace (open documents as the editor has them,
    the others from disk), made again when a file changes."""

    def __init__(self, workspace):
        self.ws = workspace
        self._cache: dict = {}          # path -> (stamp, FileIndex)
        self._reach: Optional[dict] = None
        self._memo: dict = {}           # (path, key, kind) -> workspace key
        self._files: Optional[list] = None    # the paths of the last walk (see refresh)
        self._request_files: Optional[list] = None    # workspace_files(), this request
        self._walked = 0.0
        self.include_paths: list = []   # the server's -I folders (see configure)

    def refresh(self) -> "Index":
        """Start a request: every file indexed is looked at again (its buffer's version,
        or its size and time on disk), and the workspace folders are walked again when
        the last walk is older than WALK_EVERY seconds."""
        for path in list(self._cache):
            if self.file(path) is None:          # (deleted)
                del self._cache[path]
                self._reach = None
                self._memo.clear()
        now = time.monotonic()
        if now - self._walked > WALK_EVERY:
            self._files = None
            self._walked = now
        self._request_files = None
        return self

    # -- files

    def roots(self) -> list:
        out = []
        for folder in getattr(self.ws, "folders", {}).values():
            p = to_fs_path(folder.uri)
            if p:
                out.append(p)
        root = getattr(self.ws, "root_path", None)
        if root and root not in out:
            out.append(root)
        return out

    def _open_doc(self, path: str):
        uri = from_fs_path(path)
        return self.ws.text_documents.get(uri) if uri else None

    def file(self, path: str) -> Optional[FileIndex]:
        path = os.path.normpath(path)
        doc = self._open_doc(path)
        if doc is not None:
            stamp = ("doc", doc.version, len(doc.source), hash(doc.source))
        else:
            try:
                st = os.stat(path)
            except OSError:
                return None
            stamp = ("disk", st.st_mtime_ns, st.st_size)
        got = self._cache.get(path)
        if got is not None and got[0] == stamp:
            return got[1]
        if doc is not None:
            text = doc.source
        else:
            try:
                text = read_source_text(path)
            except OSError:
                return None
        fi = FileIndex(path, text, self.include_paths + _settings_for(path), self.roots())
        self._cache[path] = (stamp, fi)
        self._reach = None
        self._memo.clear()
        self._request_files = None
        return fi

    def for_document(self, doc) -> FileIndex:
        path = os.path.normpath(doc.path)
        fi = self.file(path)
        if fi is None:              # (a document without a file: index its text)
            fi = FileIndex(path, doc.source, self.include_paths, self.roots())
        return fi

    def _walk(self) -> list:
        """The .hsl files of the workspace folders (at most MAX_WORKSPACE_FILES each)."""
        paths = []
        for root in self.roots():
            count = 0
            for folder, dirs, files in os.walk(root):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
                for f in sorted(files):
                    if f.endswith(".hsl") and count < MAX_WORKSPACE_FILES:
                        paths.append(os.path.normpath(os.path.join(folder, f)))
                        count += 1
        return paths

    def workspace_files(self) -> list:
        """The .hsl files of the workspace folders, open documents, and the files they
        include or import (all indexed)."""
        if self._request_files is not None:
            return self._request_files
        if self._files is None:
            self._files = self._walk()
        paths = list(self._files)
        for doc in list(self.ws.text_documents.values()):
            if doc.uri.startswith("file:"):
                paths.append(os.path.normpath(doc.path))
        out, seen = [], set()
        while paths:
            p = paths.pop()
            if p in seen:
                continue
            seen.add(p)
            fi = self.file(p)
            if fi is None:
                continue
            out.append(fi)
            for occ in fi.includes + [o for _, o in fi.imports]:
                if occ.target and occ.target.endswith(".hsl") and occ.target not in seen:
                    paths.append(os.path.normpath(occ.target))
        out.sort(key=lambda f: f.path)
        self._request_files = out
        return out

    def files_around(self, fi: FileIndex) -> list:
        """`fi`, the files it includes and imports, and every workspace file."""
        files = {f.path: f for f in self.workspace_files()}
        files.setdefault(fi.path, fi)
        return list(files.values())

    # -- include reachability

    def reach(self) -> dict:
        """path -> the paths it includes, directly or not (itself too)."""
        if self._reach is None:
            edges = {}
            for f in self.workspace_files():
                edges[f.path] = [os.path.normpath(o.target) for o in f.includes if o.target]
            reach = {}
            for p in edges:
                seen = {p}
                stack = [p]
                while stack:
                    for q in edges.get(stack.pop(), ()):
                        if q not in seen:
                            seen.add(q)
                            stack.append(q)
                reach[p] = seen
            self._reach = reach
        return self._reach

    def component(self, path: str, name: str, kind: str) -> list:
        """The files whose global `name` (a variable for kind "var", else a function or
        class) is the one of `path`: those that mention it and reach `path`, or are
        reached from it, through includes, transitively (sorted paths)."""
        reach = self.reach()
        mention = []
        for p in reach:
            f = self._cache.get(p, (None, None))[1]
            if f is not None and name in (f.global_vars if kind == "var" else f.global_names):
                mention.append(p)
        if path not in mention:
            mention.append(path)
        parent = {p: p for p in mention}

        def find(p):
            while parent[p] != p:
                parent[p] = parent[parent[p]]
                p = parent[p]
            return p

        for i, a in enumerate(mention):
            ra = reach.get(a, {a})
            for b in mention[i + 1:]:
                if b in ra or a in reach.get(b, {b}):
                    parent[find(a)] = find(b)
        me = find(path)
        return sorted(p for p in mention if find(p) == me)

    # -- keys

    def resolve(self, fi: FileIndex, occ: Occ, _depth: int = 0) -> tuple:
        """The workspace key of an occurrence: equal keys name the same symbol."""
        key = occ.key
        if occ.kind == "member":
            cls = self._key(fi, occ.cls, "name", _depth) if occ.cls else None
            if cls is not None and cls[:2] == ("name", "alias"):
                cls = self._alias_target(cls)
            if cls is not None and not self._is_class(fi, cls):
                cls = None          # (`$v = f()`: f is a function, $v of unknown class)
            return ("member", cls, occ.name)
        return self._key(fi, key, occ.kind, _depth)

    def _key(self, fi: FileIndex, key: tuple, kind: str, depth: int = 0) -> tuple:
        if not key or depth > 20 or key[0] not in ("g", "of", "in"):
            return key
        memo = (fi.path, key, kind)
        got = self._memo.get(memo)
        if got is None:
            got = self._memo[memo] = self._key1(fi, key, kind, depth)
        return got

    def _key1(self, fi: FileIndex, key: tuple, kind: str, depth: int) -> tuple:
        tag = key[0]
        if tag == "of":                        # a name of an imported module
            _, target, name, k = key
            mod = self.file(target) if target else None
            if mod is None:
                return ("missing", target, name)
            return self._key(mod, ("g", name), k, depth + 1)
        if tag == "in":                        # ns::name
            target = fi.namespaces.get(key[1])
            mod = self.file(target) if target else None
            if mod is None:
                return ("missing", key[1], key[2])
            return self._key(mod, ("g", key[2]), kind, depth + 1)
        if tag != "g":
            return key
        name = key[1]
        kind = "var" if kind == "var" else "name"
        files = self.component(fi.path, name, kind)
        # declared (or imported) where?
        for p in files:
            f = self.file(p)
            if f is None:
                continue
            table = f.import_vars if kind == "var" else f.import_names
            if name in table:
                target, orig, alias_occ = table[name]
                if alias_occ is not None:
                    return (kind, "alias", p, name)
                mod = self.file(target) if target else None
                if mod is None:
                    return ("missing", target, orig)
                return self._key(mod, ("g", orig), kind, depth + 1)
        if kind == "name" and not any(name in (self.file(p) or fi).functions for p in files):
            return ("builtin", name)
        return (kind, files[0], name)

    def _alias_target(self, key: tuple) -> Optional[tuple]:
        """The module's symbol that the alias `key` (of `import { x as y }`) names."""
        f = self.file(key[2])
        table = (f.import_vars if key[0] == "var" else f.import_names) if f else {}
        target, orig, _ = table.get(key[3], (None, None, None))
        mod = self.file(target) if target else None
        return self._key(mod, ("g", orig), key[0]) if mod is not None else None

    def _is_class(self, fi: FileIndex, key: tuple) -> bool:
        """Whether the workspace key of a name is a class (a builtin one too)."""
        if key[0] == "builtin":
            return key[1] in builtin_names()[1]
        if key[0] == "local":
            f = self.file(key[1])
            return f is not None and key[2] in f.local_classes
        if key[0] == "name" and len(key) == 3:
            # (key[1]: a file of the name's component, where it is declared)
            return any(key[2] in f.classes for f in
                       filter(None, map(self.file, self.component(key[1], key[2], "name"))))
        return False

    def definitions(self, fi: FileIndex, occ: Occ) -> list:
        """(FileIndex, Occ) of where the symbol of `occ` is declared or first bound."""
        if occ.kind == "path":
            return []
        key = self.resolve(fi, occ)
        if not key or key[0] in ("builtin", "missing", "hook", "this"):
            return []
        if key[0] == "member" and key[1] is None:
            # the class is not known: every member of that name in the workspace
            out = []
            for f in self.files_around(fi):
                for members in f.members.values():
                    m = members.get(occ.name)
                    if m is not None:
                        out.append((f, m))
            return out
        if key[0] == "local":           # a nested function or class: in this file
            return [(fi, o) for o in fi.occs if o.decl and o.key == key][:1]
        files = self._files_of(fi, key)
        decls = [(f, o) for f in files for o in f.occs
                 if o.decl and self.resolve(f, o) == key]
        if key[0] == "var":             # the first binding, in this file if it has one
            mine = [d for d in decls if d[0] is fi]
            return (mine or decls)[:1]
        return decls

    def _files_of(self, fi: FileIndex, key: tuple) -> list:
        """The files that can hold occurrences of `key`."""
        if key[0] == "var" and len(key) == 4 and key[1] != "alias":  # a function's local
            f = self.file(key[1])
            return [f] if f is not None else [fi]
        return self.files_around(fi)

    def occurrences(self, fi: FileIndex, occ: Occ) -> list:
        """(FileIndex, Occ) of every occurrence of the symbol of `occ`."""
        key = self.resolve(fi, occ)
        if not key or key[0] in ("missing",):
            return [(fi, occ)]
        if key[0] == "local":
            return [(fi, o) for o in fi.occs if o.key == key]
        family = _FAMILY.get(occ.kind)
        out = []
        for f in self._files_of(fi, key):
            for o in f.occs:
                # (a symbol has one name everywhere: `as` makes a symbol of its own)
                if o.name == occ.name and _FAMILY.get(o.kind) == family \
                        and self.resolve(f, o) == key:
                    out.append((f, o))
        if key[0] == "member" and key[1] is not None:
            # members whose class is not known but have this name (a superset is
            # what "find references" is for)
            for f in self._files_of(fi, key):
                out += [(f, o) for o in f.occs if o.kind == "member" and o.name == occ.name
                        and self.resolve(f, o)[1] is None]
        return out


_FAMILY = {"var": "var", "name": "name", "member": "member", "ns": "ns"}

_INDEXES: dict = {}


def configure(workspace, include_paths=()) -> None:
    """Give the index of `workspace` the server's -I folders (looked in before those of
    `.hslcheck.toml`'s `include`, as `hsl check -I` does)."""
    idx = index_for(workspace)
    paths = [os.path.abspath(p) for p in include_paths]
    if paths != idx.include_paths:
        idx.include_paths = paths
        idx._cache.clear()
        idx._reach = None
        idx._memo.clear()
        idx._request_files = None


def index_for(workspace) -> Index:
    """The Index of a pygls Workspace (one per workspace object), refreshed for a new
    request."""
    got = _INDEXES.get(id(workspace))
    if got is None or got.ws is not workspace:
        got = _INDEXES[id(workspace)] = Index(workspace)
    return got.refresh()


# ------------------------------------------------------------------ positions

def columns(f: FileIndex, ws) -> Columns:
    """The Columns of a file's lines in the workspace's position encoding (kept)."""
    enc = getattr(ws, "position_encoding", None)
    cols = f.columns.get(enc)
    if cols is None:
        cols = f.columns[enc] = Columns(f.lines, enc)
    return cols


def _to_range(f: FileIndex, ws, span: A.Span) -> T.Range:
    cols = columns(f, ws)
    el, ec = (span.end_line, span.end_col) if span.end_line else (span.line, span.col)
    return T.Range(T.Position(span.line - 1, cols.client(span.line - 1, span.col - 1)),
                   T.Position(el - 1, cols.client(el - 1, ec - 1)))


def _at(doc, position: T.Position) -> tuple:
    """(line, col), 1-based characters, of a client position in `doc`."""
    lines = doc.source.split("\n")
    enc = getattr(doc.position_codec, "encoding", None)
    return position.line + 1, Columns(lines, enc).server(position.line, position.character) + 1


def _location(ws, f: FileIndex, span: A.Span) -> T.Location:
    return T.Location(uri=from_fs_path(f.path), range=_to_range(f, ws, span))


def _occ_at(ws, doc, position) -> tuple:
    idx = index_for(ws)
    fi = idx.for_document(doc)
    line, col = _at(doc, position)
    return idx, fi, fi.occ_at(line, col)


# ------------------------------------------------------------------ features

def definition(ws, doc, params: T.DefinitionParams) -> Optional[list]:
    idx, fi, occ = _occ_at(ws, doc, params.position)
    if occ is None:
        return None
    if occ.kind == "path":
        if not occ.target:
            return None
        return [T.Location(uri=from_fs_path(occ.target),
                           range=T.Range(T.Position(0, 0), T.Position(0, 0)))]
    if occ.kind == "ns":
        target = fi.namespaces.get(occ.name)
        if target:
            return [T.Location(uri=from_fs_path(target),
                               range=T.Range(T.Position(0, 0), T.Position(0, 0)))]
        return None
    key = idx.resolve(fi, occ)
    if key[:2] in (("name", "alias"), ("var", "alias")):
        # `import { f as g }`: g's definition is the module's f
        f = idx.file(key[2])
        table = f.import_vars if key[0] == "var" else f.import_names
        target, orig, _ = table.get(key[3], (None, None, None))
        mod = idx.file(target) if target else None
        if mod is not None:
            defs = idx.definitions(mod, Occ(occ.kind, orig, occ.span, ("g", orig)))
            if defs:
                return [_location(ws, f2, o2.span) for f2, o2 in defs]
    defs = idx.definitions(fi, occ)
    return [_location(ws, f, o.span) for f, o in defs] or None


def references(ws, doc, params: T.ReferenceParams) -> Optional[list]:
    idx, fi, occ = _occ_at(ws, doc, params.position)
    if occ is None or occ.kind == "path":
        return None
    key = idx.resolve(fi, occ)
    if key and key[0] in ("hook", "this", "builtin"):
        # one file's uses (a builtin or hook variable is everywhere)
        found = [(fi, o) for o in fi.occs if o.kind == occ.kind and o.name == occ.name]
    else:
        found = idx.occurrences(fi, occ)
    include_decl = params.context.include_declaration if params.context else True
    out, seen = [], set()
    for f, o in found:
        if o.decl and not include_decl:
            continue
        k = (f.path, o.span.line, o.span.col)
        if k not in seen:
            seen.add(k)
            out.append(_location(ws, f, o.span))
    return out


def _renamable(idx: Index, fi: FileIndex, occ: Optional[Occ]) -> Optional[tuple]:
    """The key of a symbol that rename may change, else None (builtins, keywords, hook
    variables, `$this`, members, paths, names of modules not found)."""
    if occ is None or occ.kind not in ("var", "name"):
        return None
    key = idx.resolve(fi, occ)
    if not key or key[0] not in ("var", "name", "local"):
        return None
    return key


def _name_span(f: FileIndex, o: Occ) -> A.Span:
    """The span of the bare name in an occurrence (a variable's without `$` or `${`)."""
    s = o.span
    if o.kind != "var" or s.end_line != s.line or s.line > len(f.lines):
        return s
    text = f.lines[s.line - 1][s.col - 1:s.end_col - 1]
    i = text.find(o.name)
    if i < 0:
        return s
    return A.Span(s.line, s.col + i, s.line, s.col + i + len(o.name))


def prepare_rename(ws, doc, params: T.PrepareRenameParams):
    idx, fi, occ = _occ_at(ws, doc, params.position)
    if _renamable(idx, fi, occ) is None:
        return None
    span = _name_span(fi, occ)
    return T.PrepareRenamePlaceholder(range=_to_range(fi, ws, span),
                                      placeholder=occ.name)


def rename(ws, doc, params: T.RenameParams) -> Optional[T.WorkspaceEdit]:
    idx, fi, occ = _occ_at(ws, doc, params.position)
    key = _renamable(idx, fi, occ)
    if key is None:
        raise RenameError("only variables and user functions and classes can be renamed")
    new = params.new_name
    if occ.kind == "var" and new.startswith("$"):
        new = new[1:]
    if not _NAME.match(new):
        raise RenameError(f"{params.new_name!r} is not a valid name")
    if occ.kind == "name" and (new in KEYWORDS or new in RESERVED_WORDS):
        raise RenameError(f"{new!r} is a keyword")
    if occ.kind == "var" and new in HOOK_VARIABLES:
        raise RenameError(f"${new} is a hook variable")
    found = idx.occurrences(fi, occ)
    if occ.kind == "var":
        # the new name must not be a variable of the same scope already
        for f in {id(f): f for f, _ in found}.values():
            for o in f.occs:
                if o.kind == "var" and o.name == new:
                    k = idx.resolve(f, o)
                    if (len(key) == 4 and k == key[:3] + (new,)) or \
                            (len(key) == 3 and k[:1] == ("var",) and len(k) == 3):
                        raise RenameError(f"${new} is already a variable there")
    if occ.kind == "name":
        for f in {id(f): f for f, _ in found}.values():
            if new in f.functions:
                raise RenameError(f"{new!r} is already declared in {f.path}")
    changes: dict = {}
    seen = set()
    for f, o in found:
        span = _name_span(f, o)
        k = (f.path, span.line, span.col)
        if k in seen:
            continue
        seen.add(k)
        changes.setdefault(from_fs_path(f.path), []).append(
            T.TextEdit(range=_to_range(f, ws, span), new_text=new))
    return T.WorkspaceEdit(changes=changes)


def _params_text(params) -> str:
    return "(" + ", ".join(("..." if p.variadic else "") + "$" + p.name for p in params) + ")"


def document_symbols(ws, doc, params=None) -> list:
    idx = index_for(ws)
    fi = idx.for_document(doc)
    if fi.program is None:
        return []
    def rng(span):
        return _to_range(fi, ws, span)

    def name_span(node) -> A.Span:
        ns = getattr(node, "name_span", A.NOSPAN)
        if ns.line:
            return ns
        if type(node) is A.ClassMethod:
            fn = fi.toks.find(node.span, "FUNCTION")
            if fn is not None:
                i = fi.toks.index_at(fn.line, fn.col) + 1
                if i < len(fi.toks.toks):
                    return tok_span(fi.toks.toks[i])
        if type(node) is A.ClassVar:
            t = fi.toks.find(node.span, "VARIABLE", "$" + node.name)
            if t is not None:
                return tok_span(t)
        return node.span

    def decls(body) -> list:
        out = []
        for n in _declarations(body):
            if type(n) is A.FunctionDecl:
                out.append(T.DocumentSymbol(
                    name=n.name, kind=T.SymbolKind.Function, detail=_params_text(n.params),
                    range=rng(n.span), selection_range=rng(name_span(n)),
                    children=decls(n.body)))
            elif type(n) is A.ClassDecl:
                children = []
                for m in n.members:
                    if type(m) is A.Constructor:
                        children.append(T.DocumentSymbol(
                            name="constructor", kind=T.SymbolKind.Constructor,
                            detail=_params_text(m.params), range=rng(m.span),
                            selection_range=rng(m.span), children=decls(m.body)))
                    elif type(m) is A.ClassMethod and m.name:
                        children.append(T.DocumentSymbol(
                            name=m.name, kind=T.SymbolKind.Method,
                            detail=("static " if m.static else "") + _params_text(m.params),
                            range=rng(m.span), selection_range=rng(name_span(m)),
                            children=decls(m.body)))
                    elif type(m) is A.ClassVar and m.name:
                        children.append(T.DocumentSymbol(
                            name="$" + m.name, kind=T.SymbolKind.Property,
                            detail=" ".join(w for w, on in (("private", m.private),
                                                            ("static", m.static),
                                                            ("readonly", m.readonly)) if on),
                            range=rng(m.span), selection_range=rng(name_span(m))))
                out.append(T.DocumentSymbol(
                    name=n.name, kind=T.SymbolKind.Class, range=rng(n.span),
                    selection_range=rng(name_span(n)), children=children))
        return out

    symbols = decls(fi.program.body)
    for n in fi.program.body:
        if type(n) is A.ImportAll:
            symbols.append(T.DocumentSymbol(name=n.alias, kind=T.SymbolKind.Namespace,
                                            detail=n.path.decode("utf-8", "replace"),
                                            range=rng(n.span), selection_range=rng(n.span)))
    # the global variables, at their first binding
    seen = set()
    for o in fi.occs:
        if o.kind == "var" and o.decl and o.key == ("g", o.name) and o.name not in seen:
            seen.add(o.name)
            symbols.append(T.DocumentSymbol(name="$" + o.name, kind=T.SymbolKind.Variable,
                                            range=rng(o.span), selection_range=rng(o.span)))
    symbols.sort(key=lambda s: (s.range.start.line, s.range.start.character))
    return symbols


def flat_symbols(symbols: list, uri: str, container: Optional[str] = None) -> list:
    """DocumentSymbols as the flat SymbolInformation list of clients without
    hierarchical document symbols."""
    out = []
    for s in symbols:
        out.append(T.SymbolInformation(name=s.name, kind=s.kind, container_name=container,
                                       location=T.Location(uri=uri, range=s.selection_range)))
        out += flat_symbols(s.children or [], uri, s.name)
    return out


def _declarations(body) -> list:
    """The function and class declarations of one scope's statements (in blocks too),
    not those of nested scopes."""
    out = []

    def enter(n):
        if type(n) in (A.FunctionDecl, A.ClassDecl):
            out.append(n)
            return False
        return type(n) is not A.FuncExpr

    for _ in A.walk(body, enter):
        pass
    return out


def _fuzzy(query: str, name: str) -> bool:
    q = query.lower()
    it = iter(name.lower())
    return all(ch in it for ch in q)


def workspace_symbols(ws, params: T.WorkspaceSymbolParams) -> list:
    idx = index_for(ws)
    out = []
    for f in idx.workspace_files():
        uri = from_fs_path(f.path)
        for o in f.occs:
            if not o.decl or not _fuzzy(params.query, o.name):
                continue
            if o.kind == "name" and o.key == ("g", o.name):
                kind = T.SymbolKind.Class if o.name in f.classes else T.SymbolKind.Function
                container = None
            elif o.kind == "member":
                kind = T.SymbolKind.Method if not f.lines[o.span.line - 1][
                    o.span.col - 1:].startswith("$") else T.SymbolKind.Property
                container = o.cls[1] if o.cls else None
            else:
                continue
            out.append(T.WorkspaceSymbol(
                name=o.name if not (o.kind == "member" and kind == T.SymbolKind.Property)
                else "$" + o.name, kind=kind, container_name=container,
                location=T.Location(uri=uri, range=_to_range(f, ws, o.span))))
    return out


def document_links(ws, doc, params=None) -> list:
    idx = index_for(ws)
    fi = idx.for_document(doc)
    out = []
    for o in fi.occs:
        if o.kind == "path" and o.target:
            # (no tooltip: a client must say it supports them)
            out.append(T.DocumentLink(range=_to_range(fi, ws, o.span),
                                      target=from_fs_path(o.target)))
    return out


def folding_ranges(ws, doc, params=None) -> list:
    idx = index_for(ws)
    fi = idx.for_document(doc)
    out = []
    seen = set()

    def add(start, end, kind=None):
        # lines 1-based; the closing line stays visible
        if end > start and (start, end) not in seen:
            seen.add((start, end))
            out.append(T.FoldingRange(start_line=start - 1, end_line=end - 1, kind=kind))

    if fi.program is not None:
        for n in A.walk(fi.program):
            t = type(n)
            if t in (A.Block, A.FunctionDecl, A.ClassDecl, A.FuncExpr, A.Switch, A.Try,
                     A.ClassMethod, A.Constructor, A.Barrier, A.Match, A.ArrayLit,
                     A.SwitchCase):
                s = n.span
                if s.end_line > s.line:
                    last = s.end_line - 1 if t is not A.SwitchCase else s.end_line
                    add(s.line, last)
        # runs of include/import statements
        run = []
        for n in fi.program.body + [None]:
            if type(n) in (A.Include, A.ImportSymbols, A.ImportAll, A.ImportData):
                run.append(n)
                continue
            if len(run) > 1 and run[-1].span.end_line > run[0].span.line:
                add(run[0].span.line, run[-1].span.end_line, T.FoldingRangeKind.Imports)
            run = []
    # comments: a block comment over lines, or a run of line comments
    run = []
    toks = fi.toks.toks
    for i, t in enumerate(toks + [None]):
        if t is not None and t.type == "BLOCK_COMMENT" and "\n" in t.text:
            add(t.line, t.line + t.text.count("\n"), T.FoldingRangeKind.Comment)
        alone = t is not None and t.type == "LINE_COMMENT" and (
            i == 0 or toks[i - 1].line != t.line)
        if alone and (not run or run[-1].line + 1 == t.line):
            run.append(t)
            continue
        if len(run) > 1:
            add(run[0].line, run[-1].line, T.FoldingRangeKind.Comment)
        run = [t] if alone else []
    return out


def visible_user_names(ws, doc) -> tuple:
    """(function names, class names) declared in the files `doc` includes or imports
    (and in those that include it): user names for highlighting."""
    idx = index_for(ws)
    fi = idx.for_document(doc)
    funcs, classes = set(), set()
    reach = idx.reach()
    related = {p for p, r in reach.items() if fi.path in r} | reach.get(fi.path, {fi.path})
    for p in related:
        f = idx.file(p)
        if f is not None:
            classes |= set(f.classes)
            funcs |= set(f.functions) - set(f.classes)
    funcs |= set(fi.import_names)
    return funcs, classes


# ------------------------------------------------------------------ the server side

def register(server) -> None:
    from pygls.exceptions import JsonRpcInvalidParams

    def doc_of(ls, params):
        return ls.workspace.get_text_document(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DEFINITION)
    def _definition(ls, params: T.DefinitionParams):
        return definition(ls.workspace, doc_of(ls, params), params)

    @server.feature(T.TEXT_DOCUMENT_REFERENCES)
    def _references(ls, params: T.ReferenceParams):
        return references(ls.workspace, doc_of(ls, params), params)

    @server.feature(T.TEXT_DOCUMENT_PREPARE_RENAME)
    def _prepare_rename(ls, params: T.PrepareRenameParams):
        return prepare_rename(ls.workspace, doc_of(ls, params), params)

    @server.feature(T.TEXT_DOCUMENT_RENAME, T.RenameOptions(prepare_provider=True))
    def _rename(ls, params: T.RenameParams):
        try:
            return rename(ls.workspace, doc_of(ls, params), params)
        except RenameError as e:
            raise JsonRpcInvalidParams(str(e)) from None

    @server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def _document_symbols(ls, params: T.DocumentSymbolParams):
        got = document_symbols(ls.workspace, doc_of(ls, params), params)
        caps = getattr(getattr(ls.client_capabilities, "text_document", None),
                       "document_symbol", None)
        if caps is not None and caps.hierarchical_document_symbol_support:
            return got
        return flat_symbols(got, params.text_document.uri)

    @server.feature(T.WORKSPACE_SYMBOL)
    def _workspace_symbols(ls, params: T.WorkspaceSymbolParams):
        return workspace_symbols(ls.workspace, params)

    @server.feature(T.TEXT_DOCUMENT_DOCUMENT_LINK)
    def _document_links(ls, params: T.DocumentLinkParams):
        return document_links(ls.workspace, doc_of(ls, params), params)

    @server.feature(T.TEXT_DOCUMENT_FOLDING_RANGE)
    def _folding_ranges(ls, params: T.FoldingRangeParams):
        return folding_ranges(ls.workspace, doc_of(ls, params), params)
