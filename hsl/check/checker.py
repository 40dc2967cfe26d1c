"""Check one HSL file: syntax, the compiler's static checks (all of them, not just the
first), hook phase rules, old-generation functions and the flow warnings.

The compiler (hsl.compiler: the resolver, then code generation) is the one place that
resolves names, arities, scopes and imports: `hsl check` runs it in collect mode
(`ProgramBuilder.collecting`), never runs anything, and reports its errors with the code,
hint and subject each one carries from where it was raised (as the parser's syntax errors
do); no code is read back from a message's text.  The flow and method checks read the
same resolution of the file.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Optional

from ..syntax import ast as A
from ..builtins.index import classes_for, functions_for
from ..errors import Diagnostic, HSLSyntaxError
from ..syntax.parser import declarations, parse, parse_partial
from ..program import ProgramBuilder, gc_paused, is_glob
from ..compiler.resolve import Resolution
from ..syntax.sourcefile import read_source_text
from . import contexts as C
from ..hooks import phases as P
from .codes import PLUGIN_CATEGORY, severity
from .flow import analyze, scopes
from .legacy import LEGACY
from .methods import analyze as analyze_methods


@dataclass
class Options:
    hook: Optional[str] = None                  # phase for every file (else from the path)
    include_paths: list = field(default_factory=list)
    allow_unknown_functions: bool = False
    no_warnings: bool = False
    error_on_warning: bool = False
    # Directories the user named: a file's include paths may also resolve from its parent
    # directories up to these (tests/x.hsl importing "file://lib.hsl" kept one level up).
    roots: list = field(default_factory=list)
    # Plugin names (`plugin-functions`) whose unknown functions, classes and modules are
    # accepted.
    plugin_functions: frozenset = frozenset()
    # Declared plugins (hsl.plugins.Plugins: --plugins, --extras), known like builtins.
    plugins: object = None
    # Texts that stand for files on disk (path -> text): an editor's unsaved buffers,
    # read by includes and imports instead of the files (hsl lsp).
    overlay: dict = field(default_factory=dict)


# ------------------------------------------------------------------ builtin tables

class _FakeFunction:
    """A function hsl does not implement, known for checking (name and arity)."""
    __slots__ = ("name", "params", "min_args", "max_args", "context")

    def __init__(self, name, lo, hi, context=None):
        self.name, self.min_args, self.max_args, self.context = name, lo, hi, context
        self.params = [f"arg{i + 1}" for i in range(hi if hi is not None else lo + 1)]

    def signature(self) -> str:
        shown = []
        for i, p in enumerate(self.params):
            if self.max_args is None and i == len(self.params) - 1:
                shown.append(f"...${p}")
            elif i >= self.min_args:
                shown.append(f"[${p}]")
            else:
                shown.append(f"${p}")
        return f"{self.name}({', '.join(shown)})"


class _FakeClassType:
    def __init__(self, statics):
        self.hsl_statics = {n: (None, lo, hi) for n, (lo, hi) in statics.items()}


class _FakeClass:
    __slots__ = ("name", "min_args", "max_args", "cls", "context")

    def __init__(self, name, lo, hi, statics):
        self.name, self.min_args, self.max_args = name, lo, hi
        self.cls = _FakeClassType(statics)
        self.context = None


def _builder_class():

    class CheckBuilder(ProgramBuilder):
        """A ProgramBuilder that collects every error and never loads builtin code."""

        def builtin_ref(self, name: str) -> str:
            return "B_" + name

        def builtin_class_ref(self, name: str) -> str:
            return "C_" + name

        def read(self, path: str, from_file: str, node) -> str:
            text = self.overlay.get(path)
            if text is None:
                return super().read(path, from_file, node)
            self.sources[path] = text
            return text

        def parse_file(self, text: str, path: str):
            self.sources.setdefault(path, text)
            try:
                return self.parse(text, path)
            except HSLSyntaxError as e:
                if path == self.filename:
                    raise
                # An included/imported file with syntax errors: report them, go on
                # without its names (and without the errors that would cascade from that).
                self.syntax.extend(e.diagnostics)
                self.incomplete = True
                return A.Program(A.Span(1, 1, 1, 1), [])

    return CheckBuilder


_BUILDER = None


def _new_builder(source, filename, overlay=None, **kw):
    global _BUILDER
    if _BUILDER is None:
        _BUILDER = _builder_class()
    b = _BUILDER(source, filename, **kw)
    b.collecting = True
    b.overlay = overlay or {}
    b.syntax = []
    b.incomplete = False
    return b


# ------------------------------------------------------------------ classification
#
# The parser and the compiler give every error its code, hint and subject where they raise
# it (hsl/syntax/parser.py, CompileError); here only the checker's own rules are added, by code
# and subject, never by reading the message.

_PLUGIN_HINT = "if a Halon plugin or the server provides it, pass --allow-unknown-functions"

# The advice under an error whose raise site gave no hint of its own.
_ADVICE = {
    "HSL101": _PLUGIN_HINT,
    "HSL102": _PLUGIN_HINT,
    "HSL301": "context variables are read-only; copy it into a variable of your own",
    "HSL401": "break leaves the innermost for, foreach, while, forever or switch",
    "HSL402": "continue starts the next iteration of the innermost loop",
}


def _coded(d: Diagnostic, code: str, hint: str = "", message: Optional[str] = None,
           sev: Optional[str] = None) -> Diagnostic:
    return Diagnostic(d.filename, d.line, d.column, message or d.message,
                      sev or severity(code), d.end_line, d.end_column, code, hint, d.related)


def _compile_diag(err, builder, phase: Optional[str]) -> Diagnostic:
    span = err.span
    filename = err.filename or builder.filename
    d = Diagnostic(filename, span.line or 1, span.col or 1, err.brief, "error",
                   span.end_line, span.end_col)
    code, name = err.code, err.name
    if code == "HSL101" and name in LEGACY:
        # hsl run refuses it: an error, with run's message and the replacement.
        return _coded(d, "HSL701", f"use {LEGACY[name]} instead ({name}() is a function "
                      "of an older HSL generation)")
    if code == "HSL101" and name in C.HOOK_FUNCTIONS:
        return _coded(d, "HSL302", C.hook_function_hint(name, phase),
                      f"hook function {name}() is not available "
                      + (f"in the {phase} hook" if phase else "outside a hook script"))
    if code == "HSL502" and _is_module_path(name):
        return _coded(d, "HSL104", "a module of the Halon extras (installed with its plugin); "
                      "pass --allow-unknown-functions to accept it",
                      f"module \"{name}\" is not available here")
    if code == "HSL502" and _is_data_path(name):
        return _coded(d, "HSL505", "data files (messages, keys, certificates) are often kept "
                      "out of the repository; -I DIR adds a directory to look in",
                      (f"no data file matches \"{name}\"" if is_glob(name.encode())
                       else f"data file not found: \"{name}\""))
    return _coded(d, code, err.hint or _ADVICE.get(code, ""))


def _is_module_path(path: str) -> bool:
    """An `extras://` module, or a bare-named one (`import {x} from "dlp"`)."""
    return path.startswith("extras://") or re.fullmatch(r"[A-Za-z0-9_-]+", path) is not None


def _plugin_name(code: str, name: str) -> str:
    """The name that `plugin-functions` lists for a diagnostic of the plugin category."""
    if code == "HSL104":
        m = re.match(r"(?:extras://)?([A-Za-z0-9_.-]+)", name)
        return m.group(1) if m else ""
    return name


def _is_data_path(path: str) -> bool:
    """A data import (`import $x from "file.json"`), not HSL code."""
    first = path.split("/")[0]
    if "!" in first and not path.startswith("/"):
        return True
    ext = os.path.splitext(path)[1].lower()
    return bool(ext) and ext != ".hsl"


# ------------------------------------------------------------------ checking

_HOOK_COMMENT = re.compile(r"^\s*//\s*hook:\s*([A-Za-z]+)", re.MULTILINE)


def phase_for(path: str, options: Options, source: str = "") -> Optional[str]:
    """The hook phase: --hook, else a `// hook: NAME` comment in the file's first lines
    (the marker the examples and the conformance runner use), else the hooks/<phase>/
    folder of the path."""
    if options.hook:
        return options.hook
    m = _HOOK_COMMENT.search("\n".join(source.splitlines()[:20]))
    if m is not None and m.group(1).lower() in P.PHASES:
        return m.group(1).lower()
    return C.phase_from_path(path)


def check_source(source: str, filename: str, options: Optional[Options] = None,
                 sources: Optional[dict] = None, parsed: Optional[list] = None) -> list:
    """Every diagnostic for one file's text (sorted, filtered by the options).  `sources`,
    when given, receives path -> text of every file the check read (the file itself, its
    includes and imports at any depth); `parsed` receives the file's A.Program (after
    syntax errors, what parsed), its includes resolved in place (A.Included)."""
    options = options or Options()
    try:
        with gc_paused():
            diags = _check(source, filename, options, sources, parsed)
    except RecursionError:
        diags = [Diagnostic(filename, 1, 1, "input nested too deeply for the checker",
                            "error", code="HSL005")]
    except Exception as e:         # never a traceback: report it like any diagnostic
        diags = [_internal(filename, e)]
    return finish(diags, options)


def _internal(filename: str, e: Exception) -> Diagnostic:
    if os.environ.get("HSL_DEBUG"):
        raise e
    return Diagnostic(filename, 1, 1, f"internal error of the checker: {type(e).__name__}: {e}",
                      "error", code="HSL999",
                      hint="please report this with the file that caused it")


def finish(diags: list, options: Options) -> list:
    out, seen = [], set()
    for d in diags:
        if options.allow_unknown_functions and d.code in PLUGIN_CATEGORY:
            continue
        if d.severity == "warning":
            if options.no_warnings:
                continue
            if options.error_on_warning:
                d.severity = "error"
        # (a module checked on its own and through a file that imports it is one file
        # under two names: "dmarc.hsl" and "/path/to/dmarc.hsl")
        name = d.filename if d.filename.startswith("<") else os.path.abspath(d.filename)
        key = (name, d.line, d.column, d.code, d.message)
        if key in seen:
            continue
        seen.add(key)
        out.append(d)
    out.sort(key=lambda d: (d.filename, d.line, d.column, d.code))
    return out


def _check(source: str, filename: str, options: Options, sources: Optional[dict],
           parsed: Optional[list] = None) -> list:
    phase = phase_for(filename, options, source)
    if source.startswith("\ufeff"):
        source = source[1:]
    program, syntax_diags = parse_partial(source, filename)
    if program is None:
        return syntax_diags
    if parsed is not None:
        parsed.append(program)
    if syntax_diags:
        # The statements that parsed get the checks that do not depend on the rest of
        # the file (unknown names, arity, read-only variables...); the flow checks would
        # only report what the lost statements did.
        return syntax_diags + [d for d in _static_checks(source, filename, options, phase,
                                                         program, parse,
                                                         lost=lambda: _lost_names(source,
                                                                                  program),
                                                         sources=sources)
                               if d.code not in _NEEDS_THE_WHOLE_FILE]
    diags: list = []
    user_functions = {n.name for n in program.body if isinstance(n, A.FunctionDecl)}

    # Flow warnings and top-level return, on this file's own statements.
    if phase is not None:
        terminating = {n for n, f in P.PHASES[phase].functions.items() if f.terminates}
    else:
        terminating = set(P.TERMINATING)
    variables = P.PHASES[phase].variables if phase else P.ANY_PHASE_VARIABLES
    resolution = Resolution()       # (made once: the flow checks and the compiler read it)
    found_scopes = scopes(program, resolution)
    classes, functions = classes_for(phase), set(functions_for(phase))
    if options.plugins is not None:     # (the method tables of canned plugin classes)
        classes.update((n, c) for n, c in options.plugins.classes.items()
                       if n not in options.plugins.implemented)
        functions |= set(options.plugins.functions)
    method_findings = analyze_methods(program, classes, user_functions | functions,
                                      found_scopes, phase)
    for f in analyze(program, predefined=set(variables), terminating=terminating - user_functions,
                     found_scopes=found_scopes) + method_findings:
        diags.append(Diagnostic(filename, f.span.line, f.span.col, f.message,
                                severity(f.code), f.span.end_line, f.span.end_col,
                                f.code, f.hint))
    diags += _kept_legacy_calls(program, filename, user_functions)
    for r in _top_level_returns(program.body):
        diags.append(Diagnostic(
            filename, r.span.line, r.span.col, "return outside a function ends the script",
            severity("HSL403"), r.span.end_line, r.span.end_col, "HSL403",
            "allowed (language 6.11: the script ends normally, any value is ignored)"
            + ("; in a hook, a decision such as Accept() states the outcome" if phase else "")))

    diags.extend(_static_checks(source, filename, options, phase, program, parse,
                                variables, resolution, sources=sources))
    return diags


def _lost_names(source: str, program) -> Optional[set]:
    """The names that statements lost to syntax errors may have declared (functions,
    classes, imports), or None (anything) when an include was lost."""
    names, includes = declarations(source)
    kept = sum(1 for n in A.walk(program) if type(n) is A.Include)
    return None if includes > kept else names


# Codes whose checks need every statement of the file: not reported on the statements that
# parsed when others did not (what the lost statements set or left would be missing).
_NEEDS_THE_WHOLE_FILE = {"HSL103", "HSL105", "HSL601", "HSL602"}


def _static_checks(source: str, filename: str, options: Options, phase, program, parse,
                   variables=None, resolution=None, lost=None,
                   sources: Optional[dict] = None) -> list:
    """The compiler's static checks of a parsed file, with its includes and imports:
    every error, as diagnostics.  `resolution`: the file's resolve.Resolution, if made.
    `lost`: after syntax errors, a function that gives the names the statements lost to
    them may declare (None: any name), which are not reported unknown."""
    if variables is None:
        variables = P.PHASES[phase].variables if phase else P.ANY_PHASE_VARIABLES
    diags: list = []
    cached = {filename: program}

    def parse_cached(text, path):
        if path in cached:
            return cached.pop(path)
        return parse(text, path)

    readonly = P.PHASES[phase].readonly if phase else P.ANY_PHASE_READONLY
    builder = _new_builder(source, filename, context=phase, readonly=readonly,
                           predefined=set(variables), parse=parse_cached,
                           include_paths=options.include_paths, roots=options.roots,
                           resolution=resolution, plugins=options.plugins,
                           overlay=options.overlay)
    # A file of a project's file area runs in the hooks that include it: their functions.
    hook_functions = C.phase_functions(phase) if phase is not None else \
        C.ANY_PHASE_FUNCTIONS if C.in_file_area(filename) else {}
    for name, (lo, hi, _) in hook_functions.items():
        if name not in builder.builtins:
            builder.builtins[name] = _FakeFunction(name, lo, hi, phase)
    for name, (lo, hi) in C.ARITY_OVERRIDES.items():
        entry = builder.builtins.get(name)
        if entry is not None:
            builder.builtins[name] = _FakeFunction(name, lo, hi)
    for name, (lo, hi, statics) in C.HALON_CLASSES.items():
        if name not in builder.builtin_classes:
            builder.builtin_classes[name] = _FakeClass(name, lo, hi, statics)
    try:
        builder.build()
    except HSLSyntaxError as e:       # (the main file parsed above; an internal re-raise)
        return list(e.diagnostics)
    except RecursionError:
        diags.append(Diagnostic(filename, 1, 1, "input nested too deeply for the checker",
                                "error", code="HSL005"))
    except Exception as e:      # keep what was found; report the checker's own failure
        diags.append(_internal(filename, e))
    if sources is not None:
        sources.update(builder.sources)
    diags.extend(builder.syntax)
    compiled = [(_compile_diag(e, builder, phase), e) for e in builder.errors]
    if builder.incomplete or any(d.code == "HSL502" for d, _ in compiled):
        # Names may come from the file that could not be read: no cascades.
        compiled = [(d, e) for d, e in compiled
                    if d.code not in ("HSL101", "HSL102", "HSL103", "HSL503")]
    if lost is not None and any(d.code in ("HSL101", "HSL102") for d, _ in compiled):
        names = lost()          # (a scan of the whole text: only when it matters)
        compiled = [(d, e) for d, e in compiled
                    if not (d.code in ("HSL101", "HSL102") and d.filename == filename
                            and (names is None or e.name in names))]
    plugins = options.plugin_functions
    diags.extend(d for d, e in compiled
                 if not (plugins and d.code in PLUGIN_CATEGORY
                         and _plugin_name(d.code, e.name) in plugins))
    return diags


def _kept_legacy_calls(program, filename: str, user_functions: set) -> list:
    """HSL702 for each call of a function of an older HSL generation that HSL still runs
    (hsl/builtins/legacy.py): it works, and the hint names what to use now."""
    kept = {n for n, e in functions_for(None).items() if e.area == "legacy"} - user_functions
    out = []
    for n in A.walk(program):
        if type(n) is A.Call and type(n.callee) is A.NameRef and n.callee.name in kept:
            name = n.callee.name
            s = n.callee.span
            out.append(Diagnostic(filename, s.line, s.col,
                                  f"{name}() is a function of an older HSL generation",
                                  severity("HSL702"), s.end_line, s.end_col, "HSL702",
                                  f"use {LEGACY[name]} instead"))
    return out


def _top_level_returns(body):
    return [n for n in A.walk(body, _outside_functions) if type(n) is A.Return]


def _outside_functions(n) -> bool:
    """Statements a top-level `return` may be in (not functions, not expressions)."""
    return isinstance(n, (A.Stmt, A.SwitchCase)) and type(n) is not A.FunctionDecl \
        and type(n) is not A.ClassDecl


def check_path(path: str, options: Optional[Options] = None) -> tuple[list, Optional[str]]:
    """Diagnostics of one file on disk, and its text (None when it cannot be read)."""
    try:
        text = read_source_text(path)
    except OSError:
        return [], None
    return check_source(text, path, options or Options()), text
