"""Build a whole program (main file, includes, imported modules, data imports) into Python
code, and run it: `Program` is what `hsl.compile()` returns.

Files are read with hsl.syntax.sourcefile (regular files of at most 16 MiB).  Includes are
resolved in place into shared inclusions (ProgramBuilder.expand_includes): a file is
parsed at most twice and compiled once per including scope, and the program may reach at
most MAX_INCLUDES include statements.  Import and include cycles are compile errors that
name the chain; imports nest at most MAX_IMPORT_DEPTH modules deep."""
from __future__ import annotations

import gc
import itertools
import weakref
import os
import sys
from array import array
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Optional

from .syntax import ast as A
from .runtime import execution as EX
from .runtime import memory
from .runtime import values as V
from .builtins import index as builtin_index
from .builtins.exception import ExceptionObject
from .compiler.codegen import MAX_COMPILED_NESTING, Compiler, CompileError, Writer
from .compiler.probes import ProbeMap
from .compiler.resolve import (ClassInfo, FuncInfo, ModuleInfo, Resolution, bound_by,
                               top_level_statements)
from .errors import Diagnostic, Frame, HSLRuntimeError, HSLSyntaxError, ScriptError, ThrownValue
from .runtime.helpers import HELPERS
from .runtime import ops as RT
from .syntax.parser import parse as _parse
from .runtime.regex import PatternError
from .syntax.sourcefile import read_source_text

STDLIB_DIR = os.path.join(os.path.dirname(__file__), "stdlib")
DEFAULT_MAX_DEPTH = 1000
#: Include sites a whole program may reach, nested ones counted each time they are reached
#: (a file included 10 times that includes another 10 times reaches 110).  Included
#: statements are compiled once per including scope however often they are included;
#: the cap bounds what they can cost when they run.
MAX_INCLUDES = 1_000_000
MAX_IMPORT_DEPTH = 100      # modules importing modules (each level is a Python call)
_program_ids = itertools.count(1)


@contextmanager
def gc_paused():
    """Compiling makes millions of objects and no garbage cycles worth collecting: the
    cycle collector would only walk the growing heap again and again (a third of the
    time of a big file)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def search_dirs(filename: str, include_paths=(), roots=()) -> list:
    """Where include and import paths are also looked for, after the including file's
    directory, the main script's and the working directory, and before hsl's stdlib:
    the -I directories, the file area of the Halon project the script is in
    (`src/files/`), and the parent directories of the script up to the first of `roots`
    that contains it (hsl check: the paths named on its command line; hsl run, serve and
    the REPL: the working directory).  hsl check, run, serve and the REPL all resolve
    paths this way."""
    if filename.startswith("<"):
        return [os.path.abspath(d) for d in include_paths]
    return [os.path.abspath(d) for d in include_paths] + _file_area(filename) + \
        _ancestors(filename, roots)


def find_file(spec: bytes, from_file: str, main_file: str, include_paths,
              extras=()) -> Optional[str]:
    """The file an include or import path names, or None: relative to the including file
    first; then, as Halon's file area would, the main script's directory and the working
    directory; then `include_paths` (search_dirs); then hsl's own stdlib.  `extras://NAME`
    names a module of hsl's stdlib, or a package the user supplies (a halon-extras
    checkout, a stand-in for a plugin's module) in one of `include_paths` or of `extras`
    (--extras: for extras:// only).  A directory names its main.hsl (hooks.md §4)."""
    text = _path_part(spec)
    if text.startswith("extras://"):
        text = text[len("extras://"):]
        names = [text] if os.path.splitext(text)[1] else [text, text + ".hsl"]
        candidates = [os.path.join(root, name)
                      for root in [_stdlib_dir(), *include_paths, *extras] for name in names]
    else:
        names = [text] if os.path.splitext(text)[1] else [text, text + ".hsl"]
        candidates = []
        for root in _roots(from_file, main_file, include_paths) + [_stdlib_dir()]:
            candidates += [os.path.join(root, name) for name in names]
    for c in candidates:
        if os.path.isdir(c):            # a package: its main.hsl (hooks.md §4)
            c = os.path.join(c, "main.hsl")
        if os.path.isfile(c):
            return os.path.normpath(c)
    for c in candidates:        # (reading it will say why it cannot be used)
        if os.path.exists(c) and not os.path.isdir(c):
            return os.path.normpath(c)
    return None


def _path_part(spec: bytes) -> str:
    """An include or import path without its `loader!` and `file:`/`file://` prefixes."""
    text = spec.decode("utf-8", "surrogateescape")
    if "!" in text.split("/")[0] and not text.startswith("/"):
        text = text.split("!", 1)[1]
    for prefix in ("file://", "file:"):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def _roots(from_file: str, main_file: str, include_paths) -> list:
    """The directories a file:// path is looked for in, in order (see find_file)."""
    roots = [os.path.dirname(os.path.abspath(from_file)) if not from_file.startswith("<")
             else os.getcwd()]
    if not main_file.startswith("<"):
        roots.append(os.path.dirname(os.path.abspath(main_file)))
    return list(dict.fromkeys(roots + [os.getcwd(), *include_paths]))


#: Files one glob data import may load.
MAX_GLOB_FILES = 10_000


def is_glob(spec: bytes) -> bool:
    """Whether a data import's path is a glob (`"txt!dkim/*.key"`, hooks.md §4)."""
    text = _path_part(spec)
    return not text.startswith("extras://") and any(c in text for c in "*?[")


def find_glob(spec: bytes, from_file: str, main_file: str, include_paths):
    """(root, ids) of a glob data import: the first directory that find_file would look
    in where the pattern matches regular files, and those files' paths relative to it
    (`/`-separated, sorted: the ids of a project's file area); None when nothing matches.
    `*` and `?` stay within one folder, `**` crosses folders; hidden files match only a
    pattern that names the dot.  CompileError-free: the caller words the errors."""
    import glob
    text = _path_part(spec)
    for root in _roots(from_file, main_file, include_paths):
        if not os.path.isdir(root):
            continue
        found = sorted(m for m in glob.glob(text, root_dir=root, recursive=True)
                       if os.path.isfile(os.path.join(root, m)))
        if found:
            return root, [m.replace(os.sep, "/") for m in found]
    return None


def _ancestors(path: str, roots) -> list:
    """Parent directories of `path` up to the first of `roots` containing it."""
    out = []
    d = os.path.dirname(os.path.abspath(path))
    stop = None
    for r in (os.path.abspath(r) for r in roots):
        if d == r or d.startswith(r.rstrip(os.sep) + os.sep):
            stop = r
            break
    if stop is None:
        return out
    while True:
        parent = os.path.dirname(d)
        if parent == d or not (parent == stop or parent.startswith(stop.rstrip(os.sep) + os.sep)):
            break
        out.append(parent)
        d = parent
    return out


def _file_area(path: str) -> list:
    """Halon's layout: the files of the file area live in src/files/."""
    p = os.path.abspath(path).replace(os.sep, "/")
    i = p.rfind("/src/")
    if i >= 0:
        area = p[:i] + "/src/files"
        if os.path.isdir(area):
            return [area]
    return []


def _stdlib_dir() -> str:
    try:
        from importlib.resources import files
        return str(files("hsl.stdlib"))
    except Exception:
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        return os.path.join(here, "stdlib")


class ProgramBuilder:
    def __init__(self, source: str, filename: str, *, context: Optional[str] = None,
                 readonly=(), predefined: Optional[set] = None, parse=None,
                 trace: bool = False, include_paths=(), roots=(),
                 resolution: Optional[Resolution] = None, plugins=None, coverage=False):
        self.parse = parse if parse is not None else _parse
        self.source = source
        self.filename = filename
        self.context = context
        self.readonly = set(readonly)
        # With a known set of pre-defined variables, reading a global that is assigned
        # nowhere is a compile-time error; otherwise it is looked up when the script runs.
        self.strict_globals = predefined is not None
        self.predefined = set(predefined or ())
        self.trace = trace              # instrument conditions for `--trace`
        # `coverage`: count lines, functions and branches (hsl.compiler.probes); a
        # collector (hsl.coverage.Coverage) given instead of True gets the program.
        self.probes = ProbeMap() if coverage else None
        self.coverage = coverage
        # The cached index: only the builtin areas the script uses get imported.
        self.builtins = builtin_index.functions_for(context)
        self.builtin_classes = builtin_index.classes_for(context)
        # Plugins the user declared (hsl.plugins.Plugins, --plugins): builtins too.  Those
        # implemented in HSL are loaded as modules when the program mentions them
        # (load_plugins); `plugin_refs` holds the Python expression that reaches each.
        self.plugins = plugins
        self.plugin_refs: dict[str, str] = {}
        if plugins is not None:
            self.builtins.update(plugins.functions)
            self.builtin_classes.update(plugins.classes)
        # Undefined functions and classes met while compiling to run: reported together
        # at the end (missing_error), as a program usually lacks several plugins at once.
        self.missing: list[CompileError] = []
        # What each scope binds (hsl check passes the table it has made for the main file).
        self.resolution = resolution if resolution is not None else Resolution()
        self.writer = Writer()
        self.outside = Writer()     # functions defined outside the module functions
        self.files: list[str] = []
        self._file_ids: dict[str, int] = {}
        self.sources: dict[str, str] = {}
        self.modules: list[ModuleInfo] = []
        self.module_by_path: dict[str, ModuleInfo] = {}
        self.module_scopes: dict[int, dict] = {}
        self.imported: dict = {}
        self.consts: list = []
        self.names_used: set[str] = set()
        self.display_names: dict[str, str] = {}
        self.ns_extra: dict = {}
        self._unique = itertools.count(1)
        # Includes (see expand_includes): files included so far, each file's first
        # inclusion and the one every later include shares, include sites reached.
        self._included_once: set[str] = set()
        self._first: dict[str, A.Inclusion] = {}
        self._later: dict[str, A.Inclusion] = {}
        self._sites = 0
        self.has_includes = False
        self._mentions: dict = {}
        self._regex_cache: dict = {}
        # `hsl check` collects every error instead of stopping at the first; then build()
        # returns None and `errors` holds the CompileErrors.
        self.collecting = False
        self.errors: list[CompileError] = []
        # Extra directories to resolve include/import paths (and extras:// packages)
        # from: see search_dirs.
        self.include_paths: list[str] = search_dirs(filename, include_paths, roots)
        self._imported_names: set = set()       # (module, local, path, name) imported

    # ------------------------------------------------------------ helpers
    def file_id(self, path: str) -> int:
        fid = self._file_ids.get(path)
        if fid is None:
            fid = self._file_ids[path] = len(self.files)
            self.files.append(path)
        return fid

    def key(self, path: str) -> str:
        """The identity of a file: its resolved path (the main file's name may be relative)."""
        return path if path.startswith("<") else os.path.normpath(os.path.abspath(path))

    def mentions(self, word: str) -> bool:
        """Whether any file of the program has `word` in its text: a keyword absent from
        every file spares the walks that look for it."""
        found = self._mentions.get(word)
        if found is None:
            found = self._mentions[word] = any(word in t for t in self.sources.values())
        return found

    def unique(self, base: str) -> str:
        return f"{base}_{next(self._unique)}"

    def builtin_ref(self, name: str) -> str:
        if name in self.plugin_refs:
            return self.plugin_refs[name]
        py = "B_" + name
        self.ns_extra[py] = self.builtins[name].fn
        return py

    def builtin_class_ref(self, name: str) -> str:
        if name in self.plugin_refs:
            return self.plugin_refs[name]
        py = "C_" + name
        self.ns_extra[py] = self.builtin_classes[name].cls
        return py

    def regex_const(self, node: A.Regex, comp: Compiler) -> int:
        key = (node.pattern, node.flags)
        if key in self._regex_cache:
            return self._regex_cache[key]
        try:
            value = V.HRegex(node.pattern, node.flags)
        except PatternError as e:
            span = node.span
            if e.offset is not None:    # PCRE2's byte offset: a column of the one-line literal
                col = node.col + 2 + len(node.pattern[:e.offset].decode("utf-8", "replace"))
                span = A.Span(node.line, col, node.line, col + 1)
            comp.error(span, f"invalid regular expression: {e.reason}", code="HSL900")
        self.consts.append(value)
        self._regex_cache[key] = len(self.consts) - 1
        return len(self.consts) - 1

    def suggest(self, scope, name: str) -> Optional[str]:
        """The known function or class name closest to `name`, if one is close."""
        import difflib
        names = set(self.builtins) | set(scope.module.functions) | set(scope.module.classes)
        s = scope
        while s is not None:
            names |= set(s.functions)
            s = s.parent
        close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.75)
        return close[0] if close else None

    def exports_of(self, mod: ModuleInfo) -> set:
        return {"f:" + n for n in mod.functions} | {"c:" + n for n in mod.classes} | \
               {"v:" + n for n in mod.globals}

    def fail(self, path: str, node_or_span, message: str, **data):
        """Raise a CompileError; `data`: its code, hint, name (see CompileError)."""
        span = node_or_span.span if isinstance(node_or_span, A.Node) else node_or_span
        raise CompileError(span, message, path, **data)

    # ------------------------------------------------------------ loading
    def resolve_path(self, spec: bytes, from_file: str, node) -> str:
        found = find_file(spec, from_file, self.filename, self.include_paths,
                          self.plugins.extras if self.plugins is not None else ())
        if found is None:
            written = spec.decode('utf-8', 'replace')
            self.fail(from_file, node, f"file not found: \"{written}\"", code="HSL502",
                      name=written, hint="paths resolve from the including file's directory, "
                      "the main script's, the working directory and -I directories")
        return found

    def read(self, path: str, from_file: str, node) -> str:
        try:
            text = read_source_text(path)
        except OSError as e:
            self.fail(from_file, node, f"cannot read \"{path}\": {e.strerror}", code="HSL502")
        self.sources[path] = text
        return text

    def parse_file(self, text: str, path: str) -> A.Program:
        self.sources.setdefault(path, text)
        return self.parse(text, path)

    def expand_includes(self, body: list, path: str) -> None:
        """Resolve the includes of a module's file, at any depth, in place: each becomes
        an A.Included, or an A.Empty for an include_once of a file already included.

        Depth first and in source order, as include_once depends on that.  A file's first
        include brings in a parse of its own, expanded the same way.  Every later include
        of the file brings in the same statements, except that each include_once inside
        is now skipped (its file was included by the first time): the same for all later
        includes, which therefore share one Inclusion (the first one itself when nothing
        inside is include_once).  So a file is parsed and expanded at most twice, however
        often it is included; MAX_INCLUDES bounds the sites reached."""
        frames = [_Expansion(self.key(path), path, None, None, body, self.sources.get(path))]
        while frames:
            frame = frames[-1]
            slot = next(frame.slots, None)
            if slot is None:
                frames.pop()
                if frame.inclusion is not None:
                    frame.finish()
                    self._place(frames[-1], frame.slot, frame.inclusion)
                continue
            container, where, stmt = slot
            frame.has_once |= stmt.once
            try:
                target = self.resolve_path(stmt.path, frame.path, stmt)
                if target in [f.key for f in frames]:
                    self._include_cycle(frames, target, stmt)
            except CompileError as e:
                if not self.collecting:
                    raise
                self.errors.append(e)
                _put(container, where, A.Empty(stmt.span))
                continue
            if stmt.once and target in self._included_once:
                _put(container, where, A.Empty(stmt.span))
                continue
            self._included_once.add(target)
            first = self._first.get(target)
            shared = first if first is None or not first.has_once else self._later.get(target)
            if shared is not None:
                self._place(frame, slot, shared)
                continue
            text = self.sources.get(target)
            if text is None:
                text = self.read(target, frame.path, stmt)
            parsed = self.parse_file(text, target)
            inc = A.Inclusion(parsed.span, target, self.file_id(target), parsed.body)
            (self._later if first is not None else self._first)[target] = inc
            frames.append(_Expansion(target, target, inc, slot, inc.body, text))

    def _place(self, frame: "_Expansion", slot, inc: A.Inclusion) -> None:
        container, where, stmt = slot
        _put(container, where, A.Included(stmt.span, inc))
        self.has_includes = True
        frame.has_once |= inc.has_once
        frame.declares |= inc.declares
        if frame.inclusion is None:         # a module's own file: count for the program
            self._sites += 1 + inc.sites
            sites = self._sites
        else:
            frame.sites += 1 + inc.sites
            sites = frame.sites
        if sites > MAX_INCLUDES:
            self.fail(frame.path, stmt, f"too many includes: the program would include "
                                        f"files more than {MAX_INCLUDES} times in all",
                      code="HSL504")

    def _include_cycle(self, frames: list, target: str, stmt) -> None:
        """Report a file that includes itself, with the chain, at the first include of it."""
        i = [f.key for f in frames].index(target)
        steps = [f.slot[2] for f in frames[i + 1:]] + [stmt]
        chain = " -> ".join([_short(frames[i].path)] + [_written(s.path) for s in steps])
        self.fail(frames[i].path, steps[0], f"include cycle: {chain}", code="HSL504")

    def load_module(self, path: str, program: A.Program, is_main: bool,
                    chain: tuple) -> ModuleInfo:
        """`chain`: ((module key, import statement), ...) of the imports that led here."""
        index = len(self.modules)
        mod = ModuleInfo(index, path, program, f"M{index}", is_main=is_main)
        self.modules.append(mod)
        key = self.key(path)
        self.module_by_path[key] = mod
        self.expand_includes(program.body, path)
        if self.probes is not None:
            self.register_probes(path, program.body)
        comp = Compiler(self)
        comp.file_index = self.file_id(path)
        comp.declare_functions(_ModuleScopeShim(mod), program)
        # Module-level variables, so importers can check `import {$x}`.
        mod.globals = set(self.resolution.facts(program, self.has_includes).assigned)
        statements = list(top_level_statements(program.body))
        imports = [i for i, stmt in enumerate(statements) if isinstance(stmt, _IMPORTS)]
        written: set = set()        # what the statements before an import bind
        for stmt in statements[:imports[-1] + 1] if imports else ():
            if isinstance(stmt, (A.ImportSymbols, A.ImportAll)):
                self.guarded(self.import_module, mod, stmt, chain + ((key, stmt),), written)
            elif isinstance(stmt, A.ImportData):
                self.guarded(self.import_data, mod, stmt)
            written |= bound_by([stmt])
        return mod

    def register_probes(self, path: str, body) -> None:
        """The coverage probes of a module's file and of every file it includes, before
        anything is compiled (declarations of included files are compiled first)."""
        self.probes.add_file(self.file_id(path), body)
        for node in A.walk(body, includes=True):
            if type(node) is A.Included:
                self.probes.add_file(node.inclusion.file_index, node.inclusion.body)

    def guarded(self, fn, *args) -> None:
        if not self.collecting:
            fn(*args)
            return
        try:
            fn(*args)
        except CompileError as e:
            self.errors.append(e)

    def import_module(self, mod: ModuleInfo, stmt, chain: tuple, written: set) -> None:
        """`chain` ends with this import (see load_module)."""
        if self._from_plugin(mod, stmt):
            return
        try:
            target_path = self.resolve_path(stmt.path, mod.path, stmt)
            self._check_chain(mod, stmt, chain, target_path)
        except CompileError as e:
            if not self.collecting:
                raise
            # Go on with a module that has every name, so no error cascades from it.
            self.errors.append(e)
            target_path = "\0missing:" + stmt.path.decode("utf-8", "replace")
            if target_path not in self.module_by_path:
                self.module_by_path[target_path] = _missing_module(target_path)
        target = self.module_by_path.get(target_path)
        if target is None:
            text = self.read(target_path, mod.path, stmt)
            prog = self.parse_file(text, target_path)
            target = self.load_module(target_path, prog, False, chain)
        self.imported[(mod.index, id(stmt))] = target
        if target not in mod.imports:
            mod.imports.append(target)
        if isinstance(stmt, A.ImportAll):
            mod.namespaces[stmt.alias] = target
            return
        readonly = self.readonly if mod.is_main else ()
        for item in stmt.items:
            local = item.alias or item.name
            if item.is_var:
                if local in readonly:
                    self.fail(mod.path, item, f"${local} is read-only: an import cannot "
                                              "bind it", code="HSL301")
                if item.name not in target.globals:
                    self.fail(mod.path, item, f"module \"{stmt.path.decode()}\" has no variable "
                                              f"${item.name}", code="HSL503")
                if local in mod.imported_vars:
                    self.fail(mod.path, item, f"${local} is already imported", code="HSL504")
                if local in written:
                    self.fail(mod.path, item, f"import of ${local} clashes with an existing "
                                              f"variable ${local} (rename it with 'as')",
                              code="HSL504")
                mod.imported_vars[local] = (target, item.name)
            elif item.name in target.functions:
                origin = (mod.index, local, target.path, item.name)
                if origin in self._imported_names:
                    continue        # the same function imported again: harmless
                if local in mod.functions or local in mod.classes:
                    self.fail(mod.path, item, f"function {local}() is already declared",
                              code="HSL501")
                self._imported_names.add(origin)
                src = target.functions[item.name]
                py = self.unique("f_" + local)
                self.display_names[py] = local
                mod.functions[local] = FuncInfo(local, py, src.min_args, src.max_args, src.node, "imported")
            elif item.name in target.classes:
                if local in mod.functions or local in mod.classes:
                    self.fail(mod.path, item, f"class {local} is already declared", code="HSL501")
                src = target.classes[item.name]
                ci = ClassInfo(local, self.unique("c_" + local), None, src.min_args, src.max_args,
                               dict(src.statics), {})
                for n, fi in src.static_methods.items():
                    ci.static_methods[n] = fi
                mod.classes[local] = ci
            else:
                self.fail(mod.path, item, f"module \"{stmt.path.decode()}\" has no function or "
                                          f"class {item.name}", code="HSL503")

    def _from_plugin(self, mod: ModuleInfo, stmt) -> bool:
        """Whether `stmt` imports declared plugins (--plugins) from the extras:// module
        their plugin comes with (`import { bounce_list } from "extras://bounce-list";`)
        when no package of that name is on disk: the plugin is the host's, so the names
        stay the declared plugins' (builtins) and the import binds nothing."""
        if self.plugins is None or not isinstance(stmt, A.ImportSymbols) or \
                not stmt.path.startswith(b"extras://"):
            return False
        declared = self.plugins.names()
        if not stmt.items or any(item.is_var or item.name not in declared or
                                 item.alias not in (None, item.name) for item in stmt.items):
            return False
        return find_file(stmt.path, mod.path, self.filename, self.include_paths,
                         self.plugins.extras) is None

    def _check_chain(self, mod: ModuleInfo, stmt, chain: tuple, target: str) -> None:
        """An import of a module that is being loaded is a cycle: reported, with the chain,
        at the import that starts it."""
        keys = [k for k, _ in chain]
        if target in keys:
            links = chain[keys.index(target):]
            first = self.module_by_path[links[0][0]].path
            names = " -> ".join([_short(first)] + [_written(s.path) for _, s in links])
            self.fail(first, links[0][1], f"import cycle: {names}", code="HSL504")
        if len(chain) > MAX_IMPORT_DEPTH:
            self.fail(mod.path, stmt, f"imports nested too deeply (more than "
                                      f"{MAX_IMPORT_DEPTH} levels)", code="HSL005")

    def import_data(self, mod: ModuleInfo, stmt: A.ImportData) -> None:
        # deferred: the data loaders only for data imports
        from .compiler.dataimport import load_data, load_glob
        if mod.is_main and stmt.var in self.readonly:
            self.fail(mod.path, stmt, f"${stmt.var} is read-only: an import cannot bind it",
                      code="HSL301")
        written = stmt.path.decode("utf-8", "replace")
        if is_glob(stmt.path):
            found = find_glob(stmt.path, mod.path, self.filename, self.include_paths)
            if found is None:
                # An empty array (no DKIM key yet is a state a project may be in); hsl
                # check says so (HSL505), in case the pattern is wrong.
                found = (None, [])
                if self.collecting:
                    self.errors.append(CompileError(
                        stmt.span, f"no file matches \"{written}\"", mod.path, code="HSL502",
                        name=written, hint="a glob resolves from the including file's "
                        "directory, the main script's, the working directory, the file "
                        "area and -I directories"))
            if len(found[1]) > MAX_GLOB_FILES:
                self.fail(mod.path, stmt, f"\"{written}\" matches more than "
                          f"{MAX_GLOB_FILES} files", code="HSL504")
            path = None
        else:
            path = self.resolve_path(stmt.path, mod.path, stmt)
        options = None
        if stmt.options is not None:
            try:
                options = _constant_value(stmt.options)
            except CompileError as e:
                self.fail(mod.path, e.span, e.message, code=e.code)
            if options is _NOT_CONSTANT:
                self.fail(mod.path, stmt.options, "import options must be a constant array")
        spec = stmt.path.decode("utf-8", "surrogateescape")
        try:
            value = load_data(path, spec, options) if path is not None else \
                load_glob(*found, spec, options)
        except ScriptError as e:
            self.fail(mod.path, stmt, f"cannot import \"{written}\": {e.message}",
                      code="HSL504")
        self.consts.append(value)
        mod.data_vars[stmt.var] = len(self.consts) - 1
        mod.globals.add(stmt.var)

    # ------------------------------------------------------------ building
    def build(self) -> "Program":
        with gc_paused():
            return self._build()

    def _build(self) -> "Program":
        if self.collecting:
            return self.collect_all()
        try:
            main_prog = self.parse_file(self.source, self.filename)
            self.file_id(self.filename)
            self.load_module(self.filename, main_prog, True, ())
            self.load_plugins()
            # Compile imported modules first (their exports are referenced by name only at
            # run time, so order does not matter for Python, but errors read better).
            for mod in reversed(self.modules):
                comp = Compiler(self)
                comp.compile_module(mod)
        except CompileError as e:
            # (undefined names met before it are reported first, as they came first)
            raise self.syntax_error(self.missing_error() if self.missing else e) from None
        if self.missing:
            raise self.syntax_error(self.missing_error()) from None
        program = Program(self)
        if self.coverage is not True and self.coverage:
            self.coverage.add(program)
        return program

    def syntax_error(self, e: CompileError) -> HSLSyntaxError:
        filename = e.filename or self.filename
        return HSLSyntaxError([Diagnostic(filename, e.span.line, e.span.col, e.message,
                                          end_line=e.span.end_line, end_column=e.span.end_col,
                                          code=e.code, hint=e.hint)],
                              self.sources.get(filename))

    def missing_error(self) -> CompileError:
        """The one error for the undefined functions and classes of a program compiled to
        run (self.missing): the compiler's own error when it is one name and no plugins
        were declared, else every name with its first position, as plugins to declare."""
        first: dict = {}
        for e in self.missing:
            first.setdefault((e.code, e.name), e)
        if len(first) == 1 and self.plugins is None:
            return self.missing[0]
        parts = []
        for code, what in (("HSL101", "function"), ("HSL102", "class")):
            names = [f"{name} ({_short(e.filename)}:{e.span.line}:{e.span.col}"
                     + (f", did you mean {e.suggestion}?)" if e.suggestion else ")")
                     for (c, name), e in first.items() if c == code]
            if names:
                plural = "es" if what == "class" else "s"
                parts.append(f"undefined plugin {what}{plural if len(names) > 1 else ''}: "
                             + ", ".join(names))
        it = "it" if len(first) == 1 else "them"
        where = "in a --plugins file" if self.plugins is not None else "with --plugins FILE"
        e = self.missing[0]
        return CompileError(e.span, "; ".join(parts) + f"; declare {it} {where}", e.filename,
                            code=e.code, name=e.name,
                            hint="see the plugins file format in docs/plugins.md")

    def load_plugins(self) -> None:
        """Load the modules that implement the plugins the program mentions (its files'
        text has the name): each becomes a module of the program, and the plugin's
        arity is its function's or class's.  A module may mention other plugins."""
        plugins = self.plugins
        if plugins is None or not plugins.implemented:
            return
        pending = dict(plugins.implemented)
        found = True
        while found:
            found = False
            for name, impl in list(pending.items()):
                if any(name in text for text in self.sources.values()):
                    del pending[name]
                    found = True
                    self.guarded(self.load_plugin, name, impl)

    def load_plugin(self, name: str, impl) -> None:
        from .builtins.registry import Builtin, BuiltinClass   # deferred: only for plugins
        mod = self.module_by_path.get(self.key(impl.path))
        if mod is None:
            try:
                text = read_source_text(impl.path)
            except OSError as e:
                raise _plugin_error(impl, f"plugin {name}: cannot read {impl.path}: "
                                    f"{e.strerror}", "HSL502") from None
            self.sources[impl.path] = text
            mod = self.load_module(impl.path, self.parse_file(text, impl.path), False, ())
        table = mod.functions if impl.kind == "function" else mod.classes
        info = table.get(impl.member)
        if info is None:
            raise _plugin_error(impl, f"plugin {name}: {_short(impl.path)} has no "
                                f"{impl.kind} {impl.member}", "HSL503")
        key = ("f:" if impl.kind == "function" else "c:") + impl.member
        ref = f"R.module({mod.index}, {mod.pyname})[{key!r}]"
        if impl.kind == "function":
            params = [p.name for p in info.node.params] if info.node is not None else []
            self.builtins[name] = Builtin(name, None, params, info.min_args, info.max_args,
                                          "plugin", doc=f"plugin, implemented by {impl.path}")
        else:
            ref += ".new"
            self.builtin_classes[name] = BuiltinClass(name, self.builtin_classes[name].cls,
                                                      info.min_args, info.max_args, "plugin")
        self.plugin_refs[name] = ref

    def collect_all(self) -> None:
        """Compile everything, recording every CompileError in `self.errors` (syntax errors
        still raise HSLSyntaxError). Nothing is built to run."""
        main_prog = self.parse_file(self.source, self.filename)
        self.file_id(self.filename)
        try:
            self.load_module(self.filename, main_prog, True, ())
        except CompileError as e:
            self.errors.append(e)
            return None
        self.load_plugins()
        for mod in reversed(self.modules):
            try:
                Compiler(self).compile_module(mod)
            except CompileError as e:
                self.errors.append(e)
        return None


def _plugin_error(impl, message: str, code: str) -> CompileError:
    """An error about a plugin's implementation, at its declaration in the plugins file."""
    file, line, col = impl.where
    return CompileError(A.Span(line, col, line, col + 1), message, file, code=code)


class _Everything(dict):
    """A name table that has every name (for a module that could not be loaded)."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __contains__(self, name):
        return True

    def get(self, name, default=None):
        return self[name]

    def __missing__(self, name):
        value = self[name] = self.make(name)
        return value


class _AllNames(set):
    def __contains__(self, name):
        return True


def _missing_module(path: str) -> ModuleInfo:
    mod = ModuleInfo(-1, path, A.Program(A.NOSPAN, []), "M_missing")
    mod.functions = _Everything(lambda n: FuncInfo(n, "None", 0, None, None, "imported"))
    mod.classes = {}
    mod.globals = _AllNames()
    return mod


_IMPORTS = (A.ImportSymbols, A.ImportAll, A.ImportData)


class _Expansion:
    """One file being expanded (ProgramBuilder.expand_includes): its include statements
    still to resolve, and what it has reached so far."""

    def __init__(self, key: str, path: str, inclusion: Optional[A.Inclusion], slot, body,
                 text: Optional[str]):
        self.key, self.path = key, path
        self.inclusion = inclusion      # what it builds; None for a module's own file
        self.slot = slot                # where the including file puts it
        self.sites = 0
        self.has_once = False
        if text is not None and "include" not in text:
            self.slots = iter(())       # (nothing to find: skip the walk)
            self.declares = "function" in text or "class" in text
        else:
            self.declares = False
            self.slots = self._include_slots(body)

    def finish(self) -> None:
        inc = self.inclusion
        inc.sites, inc.has_once, inc.declares = self.sites, self.has_once, self.declares

    def _include_slots(self, body):
        """(container, key, node) for each include statement of the file, in source
        order: container[key] (a list index or a field name) holds it."""
        stack = [(body, i) for i in range(len(body) - 1, -1, -1)]
        while stack:
            container, where = stack.pop()
            node = container[where] if type(container) is list else getattr(container, where)
            t = type(node)
            if t is A.Include:
                yield container, where, node
                continue
            if t is A.FunctionDecl or t is A.ClassDecl:
                self.declares = True
            slots = []
            for name in A.child_fields(t):
                value = getattr(node, name)
                if isinstance(value, A.Node):
                    slots.append((node, name))
                elif type(value) is list:
                    slots.extend((value, i) for i, v in enumerate(value)
                                 if isinstance(v, A.Node))
            stack.extend(reversed(slots))


def _put(container, where, node) -> None:
    if type(container) is list:
        container[where] = node
    else:
        setattr(container, where, node)


def _short(path: str) -> str:
    """A file as a cycle's chain names it: relative to the working directory when inside."""
    if path.startswith("<"):
        return path
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _written(spec: bytes) -> str:
    return spec.decode("utf-8", "replace")


class _ModuleScopeShim:
    """Just enough of a Scope for declare_functions() at module level."""

    def __init__(self, mod: ModuleInfo):
        self.kind = "module"
        self.module = mod
        self.functions = mod.functions
        self.classes = mod.classes


_NOT_CONSTANT = object()


def _constant_value(expr, depth: int = 0):
    """Evaluate a constant expression (literals and arrays of literals) at compile time."""
    if depth > MAX_COMPILED_NESTING:
        raise CompileError(expr, f"nesting too deep (limit {MAX_COMPILED_NESTING} levels)",
                           code="HSL005")
    depth += 1
    t = type(expr)
    if t is A.Number:
        return float(expr.value)
    if t is A.String:
        return expr.value
    if t is A.Bool:
        return expr.value
    if t is A.NoneLit:
        return None
    if t is A.Paren:
        return _constant_value(expr.expr, depth)
    if t is A.Unary and expr.op == "-":
        v = _constant_value(expr.operand, depth)
        return -v if type(v) is float else _NOT_CONSTANT
    if t is A.ArrayLit:
        arr = V.HArray()
        for it in expr.items:
            if type(it.value) is A.Spread:
                return _NOT_CONSTANT
            v = _constant_value(it.value, depth)
            if v is _NOT_CONSTANT:
                return _NOT_CONSTANT
            if it.key is None:
                arr.append(v)
            else:
                k = _constant_value(it.key, depth)
                if k is _NOT_CONSTANT:
                    return _NOT_CONSTANT
                arr.set(k, v)
        return arr
    return _NOT_CONSTANT


# ------------------------------------------------------------------ program

# Generated-code file name -> Program, to map tracebacks back to HSL positions. Weak, so
# programs compiled by a long-lived process (REPL inputs, server reloads) can be freed.
_LINEMAPS: "weakref.WeakValueDictionary[str, Program]" = weakref.WeakValueDictionary()


class Program:
    """A compiled HSL program. It holds no per-run state: `run()` may be called many
    times, from several threads at once."""

    def __init__(self, builder: ProgramBuilder):
        self.filename = builder.filename
        self.files = list(builder.files)
        self.sources = dict(builder.sources)
        self.display_names = dict(builder.display_names)
        self.context = builder.context
        # The module functions, then the functions defined outside them in pieces of
        # about CHUNK characters: CPython's compile() needs memory for all of a piece at
        # once.  Each piece has its own file name and positions (file index, line, col
        # per Python line, packed).
        self._texts: list[str] = []
        self.line_positions: dict[str, array] = {}
        codes = []
        for lines, positions in [(builder.writer.lines, builder.writer.positions)] \
                + _pieces(builder.outside.lines, builder.outside.positions):
            pyfile = f"<hsl-program-{next(_program_ids)}>"
            text = "\n".join(lines) + "\n"
            packed = array("l", [n for pos in positions for n in pos])
            codes.append(self._compile(text, pyfile, packed))
            self._texts.append(text)
            self.line_positions[pyfile] = packed
        self.pyfile = next(iter(self.line_positions))
        self.consts = builder.consts
        ns = dict(HELPERS)
        ns.update(builder.ns_extra)
        ns["K"] = self.consts
        # Coverage (compiled with coverage=...): the probes, and a counter for each that
        # the generated code advances as COV[i]; None when compiled without.
        self.probes = builder.probes
        if self.probes is not None:
            ns["COV"] = [itertools.count() for _ in self.probes.probes]
        ns["__name__"] = "hsl_generated"
        for code in codes:
            exec(code, ns)
        self.main = ns["M0"]
        self.namespace = ns
        for pyfile in self.line_positions:
            _LINEMAPS[pyfile] = self

    @property
    def python_source(self) -> str:
        return "".join(self._texts)

    def coverage_hits(self) -> list:
        """[((file path, Probe), hits)] of a program compiled with coverage, counted
        over all its runs so far (hsl.coverage reads them); [] without coverage."""
        if self.probes is None:
            return []
        # (an itertools.count's repr is its next value: count(N))
        return [((self.files[fi], probe), int(repr(counter)[6:-1]))
                for (fi, probe), counter in zip(self.probes.probes, self.namespace["COV"])]

    def reset_coverage(self) -> None:
        """Set the coverage counters back to zero."""
        if self.probes is not None:
            self.namespace["COV"][:] = [itertools.count() for _ in self.probes.probes]

    def _compile(self, text: str, pyfile: str, positions: array):
        try:
            return compile(text, pyfile, "exec")
        except (SyntaxError, RecursionError, MemoryError) as e:
            lineno = getattr(e, "lineno", None) or 1
            fi, line, col = _position(positions, min(lineno, len(positions) // 3)) \
                if positions else (0, 1, 1)
            filename = self.files[fi] if self.files else self.filename
            raise HSLSyntaxError([Diagnostic(filename, line or 1, col or 1,
                                             "program nested too deeply for hsl to compile "
                                             f"({type(e).__name__}: {getattr(e, 'msg', e)})")],
                                 self.sources.get(filename)) from None

    # ------------------------------------------------------------- running
    def run(self, variables: Optional[dict] = None, output: Optional[Callable] = None, *,
            max_steps: Optional[int] = None, max_time: Optional[float] = None,
            max_depth: int = DEFAULT_MAX_DEPTH, keep_globals: bool = False,
            raw_output: bool = False, trace: bool = False, cancel=None,
            speculative: bool = False, max_memory: Optional[int] = None,
            time_limit: Optional[float] = None, queue_message=None,
            queue_entry=None) -> "RunResult":
        """Run the program once.

        `variables` pre-defines `$name`s (Python values are converted, HSL values pass
        through); `output` receives each echo line (a str; bytes with raw_output=True;
        default: written to stdout). Raises HSLRuntimeError on an uncaught error;
        a hook termination (Accept/Reject/...) propagates as execution.Terminate.
        `max_steps`, `max_time` (seconds), `max_memory` (bytes, see hsl.runtime.memory) and
        `max_depth` bound the run: running out of any is an HSLRuntimeError, and so is
        finishing (or deciding) after `max_time` (a late result never counts).
        `cancel` (a threading.Event) stops the run with an "interrupted" error when set;
        like the budgets it is checked every few thousand steps.
        `speculative=True` makes `max_time` a slice for a run on a thread that must not
        block (see runtime.SpeculativeExecution), and `time_limit` the script's own
        limit: the run raises execution.Preempted when it cannot finish there; call its
        `rollback()` before running the script again.  `queue_message`: what queue() of a
        message calls in this run (the eod hook's; see hsl.mail.send.queue)."""
        if output is None:
            def output(data: bytes):
                sys.stdout.buffer.write(data + b"\n")
                sys.stdout.buffer.flush()
            emit = output
        elif raw_output:
            emit = output
        else:
            def emit(data: bytes, _out=output):
                _out(data.decode("utf-8", "surrogateescape"))
        pre = {}
        for name, value in (variables or {}).items():
            pre[name] = V.from_python(value)
        # Deeper than the thread's C stack holds would crash the process.
        max_depth = min(max_depth, EX.depth_capacity())
        if speculative:
            # No memory budget: a speculative run cannot build a value of over
            # values.LARGE bytes, nor run for more than its slice.
            ex = RT.SpeculativeExecution(self, emit, max_steps, max_time, max_depth,
                                         keep_globals, cancel, time_limit=time_limit)
        else:
            budget = None
            if max_memory or memory.total_cap() is not None:
                budget = memory.Budget(max_memory or None)
            ex = RT.Execution(self, emit, max_steps, max_time, max_depth, keep_globals,
                              cancel, budget)
        if queue_message is not None:
            ex.queue_message = queue_message
        if queue_entry is not None:
            ex.queue_entry = queue_entry        # the queue hooks' state (hsl/hooks/delivery.py)
        needed = max_depth * 4 + 200
        if sys.getrecursionlimit() < needed:
            sys.setrecursionlimit(needed)
        previous = EX.current()
        EX._current.execution = ex
        ex.base_frame = sys._getframe()
        if speculative:
            with EX._speculating_lock:
                EX._speculating += 1
        if ex.memory is not None:
            ex.memory.start()
        late = None
        try:
            self.main(ex, pre)
            if ex.finished_late():          # the result came after the time was up
                late = self.late_error(ex, None)
        except EX.Terminate as t:
            if ex.finished_late():          # a decision made after the time was up
                raise self.late_error(ex, t) from None
            t.globals = ex.final_globals
            t.trace = ex.trace_log
            t.decision.where = self.locate(t.__traceback__)
            raise
        except EX.OutputClosed:
            raise
        except EX.Preempted as p:
            p.rollback = ex.rollback
            raise
        except (ThrownValue, EX.LimitExceeded, Exception) as e:
            if ex.speculative and isinstance(e, RecursionError):
                p = EX.Preempted("call depth")
                p.rollback = ex.rollback
                raise p from None
            err = self.error_for(e)
            err.trace = ex.trace_log
            raise err from None
        finally:
            EX._current.execution = previous
            ex.base_frame = None
            if speculative:
                with EX._speculating_lock:
                    EX._speculating -= 1
            if ex.memory is not None:
                ex.memory.stop()
        if late is not None:
            raise late
        return RunResult(ex.final_globals, ex.trace_log)

    def late_error(self, ex, terminate) -> HSLRuntimeError:
        """The error of a run that finished or decided after its time limit: located at
        the deciding call, or else at the last large work the run did."""
        message = "execution time limit exceeded"
        if terminate is not None:
            err = self.runtime_error(terminate, message)
        elif ex.heavy_at is not None:
            code, lineno = ex.heavy_at
            fi, line, col = _position(self.line_positions[code.co_filename], lineno)
            name = self.display_names.get(code.co_name, code.co_name)
            if code.co_name.startswith("M"):
                name = "<main>" if code.co_name == "M0" else "<module>"
            frame = Frame(name, self.files[fi], line, col)
            err = HSLRuntimeError(message, frame.filename, line, col, [frame], None,
                                  self.sources.get(frame.filename))
        else:
            err = HSLRuntimeError(message, self.filename, 0, 0)
        err.trace = ex.trace_log
        return err

    # ------------------------------------------------------------ positions
    def frames(self, tb) -> list[Frame]:
        """The HSL frames of a traceback, outermost first."""
        out = []
        while tb is not None:
            code = tb.tb_frame.f_code
            prog = _LINEMAPS.get(code.co_filename)
            if prog is not None:
                lineno = tb.tb_lineno
                positions = prog.line_positions[code.co_filename]
                if 0 < lineno <= len(positions) // 3:
                    fi, line, col = _position(positions, lineno)
                    name = prog.display_names.get(code.co_name, code.co_name)
                    if code.co_name.startswith("M"):
                        name = "<main>" if code.co_name == "M0" else "<module>"
                    elif code.co_name.startswith("inc_") and out:
                        # Included statements run in their includer's frame.
                        name = out.pop().function
                    out.append(Frame(name, prog.files[fi], line, col))
            tb = tb.tb_next
        return out

    def locate(self, tb):
        frames = self.frames(tb)
        if not frames:
            return None
        f = frames[-1]
        return (f.filename, f.line, f.column)

    def error_for(self, exc: BaseException) -> HSLRuntimeError:
        """The HSLRuntimeError reporting an exception that ended a run."""
        if isinstance(exc, ThrownValue):
            text = V.to_str(RT.thrown_message(exc.value)).decode("utf-8", "replace")
            return self.runtime_error(exc, "uncaught exception: " + text)
        if isinstance(exc, RecursionError):
            return self.runtime_error(exc, "maximum call depth exceeded")
        return self.runtime_error(exc, RT.error_message(exc))

    def runtime_error(self, exc: BaseException, message: str) -> HSLRuntimeError:
        frames = self.frames(exc.__traceback__)
        if isinstance(exc, ThrownValue):
            value = exc.value
            if isinstance(value, ExceptionObject) and value.file is not None:
                # An Exception created by the runtime knows where it happened.
                return HSLRuntimeError(message, value.file, value.line, value.column,
                                       frames, value, self.sources.get(value.file))
        else:
            value = None
        if frames:
            f = frames[-1]
            return HSLRuntimeError(message, f.filename, f.line, f.column, frames, value,
                                   self.sources.get(f.filename))
        return HSLRuntimeError(message, self.filename, 0, 0, frames, value)


CHUNK = 1 << 20


def _pieces(lines: list, positions: list) -> list:
    """(lines, positions) of the outside functions, split between factories (a line that
    starts a `def` at the top level) into pieces of about CHUNK characters."""
    out, start, size = [], 0, 0
    for i, line in enumerate(lines):
        if size >= CHUNK and line.startswith("def "):
            out.append((lines[start:i], positions[start:i]))
            start, size = i, 0
        size += len(line) + 1
    if start < len(lines):
        out.append((lines[start:], positions[start:]))
    return out


def _position(packed: array, lineno: int) -> tuple:
    i = 3 * (lineno - 1)
    return packed[i], packed[i + 1], packed[i + 2]


@dataclass
class RunResult:
    globals: Optional[dict]
    trace: list


def compile_program(source: str, filename: str = "<string>", **options) -> Program:
    return ProgramBuilder(source, filename, **options).build()
