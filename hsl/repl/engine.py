"""The REPL's state and evaluation, independent of the terminal (prompt_toolkit lives in
hsl/repl/app.py).

How state persists on top of `hsl.compile` / `Program.run` (a compiled program is one
unit): each input is compiled as a program of its own made of

    <the input, unchanged: its lines and columns are the real ones>
    <the declarations kept from earlier inputs and loaded files, each at its own column>

Declarations (functions, classes, `import {..}` / `import * as`) are hoisted and have no
side effects, so re-declaring them in every program is harmless; an import runs the
module's top-level code once per input (accepted).  Global variables go from one run to
the next through `program.run(variables=..., keep_globals=True)`; the program is compiled
with `predefined=` those names, so an undefined variable is a compile error shown in
place.  Errors located in the re-declared part are mapped back to the input (`<repl:N>`)
or file they came from.

An input whose last top-level statement is an expression statement (not an assignment)
shows that expression's value: the parsed AST is rewritten so that the expression is
assigned to a hidden global (positions unchanged), whose value is printed in HSL notation.

An input that fails (compile error, runtime error, Ctrl-C) leaves the state as it was.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..syntax import ast as A
from ..runtime import values as V
from ..builtins import index
from ..errors import HSLError, HSLRuntimeError, HSLSyntaxError
from ..runtime.execution import Terminate
from ..hooks.engine import QueueCollector, build_result
from ..hooks import delivery
from ..hooks.phases import PHASES, QUEUE_PHASES
from ..hooks.session import build_session
from ..syntax.parser import parse
from ..program import compile_program, find_file, search_dirs
from ..syntax.sourcefile import display_source, read_source_text
from .commands import run_command, show

# The queued copy `.hook predelivery|postdelivery` runs on until `.entry FILE` gives one
# (the fixture format of `hsl run --entry`); postdelivery sees a 451 on RCPT.
DEFAULT_ENTRY = {
    "transaction": "repl", "sender": "alice@client.example",
    "recipient": "bob@example.org", "transportid": "mx", "serverid": "repl",
    "message_text": "From: <alice@client.example>\r\nTo: <bob@example.org>\r\n"
                    "Subject: hello\r\n\r\nHi Bob.\r\n",
    "action": "QUEUE",
    "attempt": {"result": {"code": 451, "enhanced": [4, 2, 0],
                           "reason": ["Mailbox busy, try again later"], "state": "RCPT"}},
}

VALUE_VAR = "__repl_value"
MARKER = "\x00hsl-repl: input starts\x00"


@dataclass
class Decl:
    """A top-level declaration kept for later inputs."""
    kind: str                  # "function", "class", "import"
    names: set                 # "f:name" / "c:name" / "v:name" / "n:alias"
    text: str                  # source text, indented to its original column
    origin: str                # "<repl:N>" or a file path
    line: int                  # line of `text` in origin
    signature: str = ""        # functions: name($a, [$b])
    doc: str = ""
    methods: list = field(default_factory=list)         # classes: instance methods
    static_methods: list = field(default_factory=list)  # classes: static methods


@dataclass
class Prepared:
    """An input ready to run: its program and where its parts came from."""
    text: str
    program: object
    layout: list               # [(first line in program, line count, origin, origin line)]
    input_lines: int
    shows_value: bool
    new_decls: list
    context: Optional[str]
    quiet_imports: bool = False     # output before MARKER comes from re-run imports


# ------------------------------------------------------------------ source helpers

def _line_starts(text: str) -> list:
    starts = [0]
    for m in re.finditer(r"\n", text):
        starts.append(m.end())
    return starts


def offset_of(text: str, line: int, col: int) -> int:
    """The character offset of a 1-based line/column in text (clamped)."""
    starts = _line_starts(text)
    if line < 1:
        return 0
    if line > len(starts):
        return len(text)
    start = starts[line - 1]
    end = starts[line] - 1 if line < len(starts) else len(text)
    return min(start + max(col - 1, 0), end)


def _slice(text: str, span) -> str:
    return text[offset_of(text, span.line, span.col):offset_of(text, span.end_line, span.end_col)]


def _params(params) -> str:
    out = []
    for p in params:
        name = "$" + p.name
        if getattr(p, "rest", False) or getattr(p, "variadic", False) or \
                getattr(p, "spread", False):
            out.append("..." + name)
        elif getattr(p, "default", None) is not None:
            out.append(f"[{name}]")
        else:
            out.append(name)
    return ", ".join(out)


_SCAN = re.compile(r"""
    (?P<line>//[^\n]*)
  | (?P<block>/\*[\s\S]*?(?:\*/|\Z))
  | (?P<dq>"(?:[^"\\]|\\[\s\S])*(?:"|\Z))
  | (?P<raw>'(?P<delim>[\x21-\x26\x28-\x7e]*)'[\s\S]*?(?:'(?P=delim)'|\Z))
  | (?P<regex>\#/(?:[^\\/\n]|\\[^\n])+/[a-zA-Z]*)
  | (?P<open>[(\[{])
  | (?P<close>[)\]}])
  | [^/"'\#(\[{)\]}]+ | [\s\S]
""", re.X)


def is_complete(text: str) -> bool:
    """False while the input has open brackets or an unterminated string, raw string or
    block comment (Enter then inserts a newline); True otherwise, errors included."""
    depth = 0
    for m in _SCAN.finditer(text):
        kind = m.lastgroup
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
        elif kind == "block" and not m.group().endswith("*/"):
            return False
        elif kind == "dq" and (len(m.group()) < 2 or not m.group().endswith('"')
                               or m.end() == len(text) and _odd_escape(m.group())):
            return False
        elif kind == "raw":
            delim = m.group("delim")
            body = m.group()[len(delim) + 2:]
            if not body.endswith("'" + delim + "'") or len(body) < len(delim) + 2:
                return False
    return depth <= 0


def _odd_escape(s: str) -> bool:
    """Whether a string token ends with an escaped quote (so it is unterminated)."""
    n = 0
    i = len(s) - 2
    while i >= 0 and s[i] == "\\":
        n += 1
        i -= 1
    return n % 2 == 1


# ------------------------------------------------------------------ engine

class Engine:
    def __init__(self, write: Callable[[str], None] = print,
                 write_err: Optional[Callable[[str], None]] = None):
        self.write = write
        self.write_err = write_err or write
        self.reset()
        self.hook: Optional[str] = None
        self.settings: dict = {}
        self.loaded: Optional[str] = None
        # (input, cursor offset of its first error) of the last input that did not compile
        self.failed_input: Optional[tuple] = None
        self.include_paths: list = []           # -I directories (program.search_dirs)
        self.plugins = None                     # hsl.plugins.Plugins (--plugins, --extras)
        self.entry: Optional[tuple] = None      # (EntryView, facts) of `.entry FILE`
        self.queue_context = None               # $context predelivery ended with

    # ------------------------------------------------------------ state
    def reset(self) -> None:
        self.globals: dict = {}
        self.decls: list[Decl] = []
        self.sources: dict[str, str] = {}      # origin -> text, for error rendering
        self.count = 0
        self._prepared: Optional[Prepared] = None
        if getattr(self, "hook", None):
            self.globals["context"] = self.context_variables()["context"]

    def session(self):
        return build_session(dict(self.settings))

    def context_variables(self) -> dict:
        """The hook's pre-defined variables (none without a hook)."""
        if not self.hook:
            return {}
        if self.hook in QUEUE_PHASES:
            view, facts = self.queue_entry()
            if self.hook == "predelivery":
                return delivery.queue_variables("predelivery", view, {"retry": view.retry},
                                                None)
            return delivery.queue_variables("postdelivery", view, self.post_arguments(),
                                            self.post_context())
        return self.session().variables(self.hook)

    def queue_entry(self) -> tuple:
        """(EntryView, facts) of the queued copy the queue hooks run on."""
        if self.entry is None:
            self.entry = delivery.entry_from_fixture(dict(DEFAULT_ENTRY),
                                                     lambda *a, **k: "<default entry>", ".")
        return self.entry

    def post_arguments(self) -> dict:
        view, facts = self.queue_entry()
        attempt = facts.get("attempt")
        return delivery.post_arguments(view, V.from_python(attempt) if attempt else None,
                                       facts.get("action"), facts.get("expired", False))

    def post_context(self):
        """postdelivery's $context: what predelivery ended with in this REPL, else the
        entry's `context:`, else none (predelivery did not run)."""
        if self.queue_context is not None:
            return V.share(self.queue_context)
        context = self.queue_entry()[1].get("context")
        return V.from_python(context) if context is not None else None

    def functions(self) -> dict:
        """User functions: name -> Decl."""
        out = {}
        for d in self.decls:
            for n in d.names:
                if n.startswith("f:"):
                    out[n[2:]] = d
        return out

    def classes(self) -> dict:
        out = {}
        for d in self.decls:
            for n in d.names:
                if n.startswith("c:"):
                    out[n[2:]] = d
        return out

    def builtins(self) -> dict:
        """The builtin functions, with the declared plugins (for completion and help)."""
        found = index.functions_for(self.hook)
        if self.plugins is not None:
            found.update(self.plugins.functions)
        return found

    def builtin_classes(self) -> dict:
        found = index.classes_for(self.hook)
        if self.plugins is not None:
            found.update(self.plugins.classes)
        return found

    # ------------------------------------------------------------ declarations
    def extract_decls(self, program, text: str, origin: str, base_dir: Optional[str] = None,
                      main: Optional[str] = None, seen: Optional[set] = None):
        """The top-level declarations of a parsed input or file, as Decls; for a file
        (`base_dir` given), those of the files it includes too, found as hsl run finds
        them (an included file that is missing or does not parse brings nothing: the
        file's compilation has reported it)."""
        out = []
        seen = set() if seen is None else seen
        for stmt in program.body:
            names: set = set()
            extra: dict = {}
            if isinstance(stmt, A.Include) and base_dir:
                out += self._included_decls(stmt, origin, main or origin, seen)
                continue
            if isinstance(stmt, A.FunctionDecl):
                kind = "function"
                names.add("f:" + stmt.name)
                extra["signature"] = f"{stmt.name}({_params(stmt.params)})"
            elif isinstance(stmt, A.ClassDecl):
                kind = "class"
                names.add("c:" + stmt.name)
                methods, statics = [], []
                ctor = ""
                for m in stmt.members:
                    if isinstance(m, A.ClassMethod) and not m.private:
                        sig = f"{m.name}({_params(m.params)})"
                        (statics if m.static else methods).append(sig)
                    elif isinstance(m, A.Constructor):
                        ctor = _params(m.params)
                extra.update(methods=methods, static_methods=statics,
                             signature=f"{stmt.name}({ctor})")
            elif isinstance(stmt, A.ImportSymbols):
                kind = "import"
                for item in stmt.items:
                    local = item.alias or item.name
                    names.add(("v:" if item.is_var else "f:") + local)
                    if not item.is_var:
                        names.add("c:" + local)
            elif isinstance(stmt, A.ImportAll):
                kind = "import"
                names.add("n:" + stmt.alias)
            else:
                continue
            piece = _slice(text, stmt.span)
            if kind == "import" and base_dir:
                piece = _absolute_import(piece, base_dir)
            decl = Decl(kind, names, " " * (stmt.span.col - 1) + piece, origin,
                        stmt.span.line, **extra)
            out.append(decl)
        return out

    def _included_decls(self, stmt, origin: str, main: str, seen: set) -> list:
        path = find_file(stmt.path, origin, main,
                         search_dirs(main, self.include_paths, [os.getcwd()]),
                         self.plugins.extras if self.plugins is not None else ())
        if path is None or path in seen:
            return []
        seen.add(path)
        try:
            text = read_source_text(path)
            tree = parse(text, path)
        except (OSError, HSLError):
            return []
        self.sources[path] = text
        return self.extract_decls(tree, text, path, os.path.dirname(path), main, seen)

    def _kept_decls(self, new: list) -> list:
        """Earlier declarations not redeclared by `new` (a redefinition replaces)."""
        replaced = set()
        for d in new:
            replaced |= d.names
        kept = []
        for d in self.decls:
            if d.names & replaced:
                continue
            kept.append(d)
        return kept

    # ------------------------------------------------------------ compiling
    def prepare(self, text: str):
        """Compile an input; raises HSLSyntaxError (positions in the input, or remapped)."""
        if self._prepared is not None and self._prepared.text == text and \
                self._prepared.context == self.hook:
            return self._prepared
        try:
            tree = parse(text, "<repl>")
            text_run = text
        except HSLSyntaxError as e:
            # `1 + 1` without the final `;` is accepted at the prompt.
            if "unexpected end of file" not in e.diagnostics[0].message:
                raise
            try:
                text_run = text + "\n;"
                tree = parse(text_run, "<repl>")
            except HSLSyntaxError:
                raise e from None
        origin = f"<repl:{self.count + 1}>"
        new = self.extract_decls(tree, text_run, origin)
        kept = self._kept_decls(new)
        input_lines = text_run.count("\n") + 1
        parts = [text_run]
        layout = [(1, input_lines, "<repl>", 1)]
        line = input_lines + 1
        for d in kept:
            n = d.text.count("\n") + 1
            parts.append(d.text)
            layout.append((line, n, d.origin, d.line))
            line += n
        source = "\n".join(parts) + "\n"
        last = tree.body[-1] if tree.body else None
        shows = isinstance(last, A.ExprStmt) and not isinstance(last.expr, (A.Assign,))
        if shows and type(last.expr).__name__ == "Destructure":
            shows = False
        target = (last.span.line, last.span.col) if shows else None
        # Re-declared imports run their module's top-level code again: its output (already
        # seen when the import was entered) is dropped, up to a marker echoed first thing
        # by the input's own statements.
        quiet_imports = any(d.kind == "import" for d in kept) and \
            not any(d.kind == "import" for d in new)

        def parse_hook(src, path, _parse=parse):
            prog = _parse(src, path)
            if path == "<repl>" and quiet_imports:
                span = A.Span(1, 1, 1, 1)
                prog.body.insert(0, A.Echo(span, A.String(span, MARKER.encode())))
            if path == "<repl>" and target is not None:
                for i, stmt in enumerate(prog.body):
                    if isinstance(stmt, A.ExprStmt) and \
                            (stmt.span.line, stmt.span.col) == target:
                        expr = stmt.expr
                        prog.body[i] = A.ExprStmt(stmt.span, A.Assign(
                            expr.span, "=", A.Var(expr.span, VALUE_VAR), expr))
                        break
            return prog

        predefined = set(self.globals) | {VALUE_VAR}
        options = {}
        if self.hook:
            phase = PHASES[self.hook]
            options = dict(context=self.hook, readonly=phase.readonly)
            predefined |= set(phase.variables)
        try:
            program = compile_program(source, "<repl>", predefined=predefined,
                                      parse=parse_hook, include_paths=self.include_paths,
                                      plugins=self.plugins,
                                      **options)
        except HSLSyntaxError as e:
            self._remap_syntax(e, layout, text_run)
            raise
        prepared = Prepared(text, program, layout, input_lines, shows, new, self.hook,
                            quiet_imports)
        self._prepared = prepared
        return prepared

    # ------------------------------------------------------------ running
    def execute(self, text: str, cancel=None) -> bool:
        """Run one input (an HSL snippet or a dot-command). Returns False on error."""
        stripped = text.strip()
        if not stripped:
            return True
        if stripped.startswith("."):
            return run_command(self, stripped, cancel)
        self.failed_input = None
        try:
            prepared = self.prepare(text)
        except HSLSyntaxError as e:
            self.write_err(e.render(self._sources(text)))
            d = e.diagnostics[0]
            where = offset_of(text, d.line, d.column) if d.filename == "<repl>" else len(text)
            self.failed_input = (text, where)
            return False
        self._prepared = None
        variables = self._run_variables()
        output = self.write
        if prepared.quiet_imports:
            started = []

            def output(line: str) -> None:
                if started:
                    self.write(line)
                elif line == MARKER:
                    started.append(True)
        # The eod hook's queue() records copies; Accept() shows them.
        collector = state = None
        if self.hook == "eod":
            trans = variables["transaction"]
            collector = QueueCollector(trans.get(b"id").decode(), trans.get(b"ts"))
        elif self.hook in QUEUE_PHASES:     # (Try(), SetMetaData()... read it)
            view, facts = self.queue_entry()
            state = delivery.hook_state(self.hook, view, self.hook == "postdelivery"
                                        and facts.get("action") is None)
        try:
            result = prepared.program.run(variables=variables, output=output,
                                          keep_globals=True, cancel=cancel,
                                          queue_message=collector, queue_entry=state)
            final = result.globals or {}
        except Terminate as t:
            if state is not None:
                self._show_queue_decision(t.decision, state)
                if state.changed:
                    self.queue_entry()[0].metadata = dict(state.metadata)
            else:
                self._show_decision(t.decision, t.globals or {},
                                    collector.copies if collector is not None else [])
            final = t.globals or {}
        except HSLRuntimeError as e:
            if e.message == "interrupted":
                self.write_err("interrupted (the state is as it was before this input)")
                return False
            self._remap_runtime(e, prepared)
            self.write_err(e.render(self._sources(text)))
            return False
        if state is not None and state.changed:     # (kept, as across retries)
            self.queue_entry()[0].metadata = dict(state.metadata)
        self._commit(prepared, final)
        if prepared.shows_value and VALUE_VAR in final:
            value = final[VALUE_VAR]
            if value is not None:
                self.write(show(value))
        return True

    def _run_variables(self) -> dict:
        variables = {}
        if self.hook:
            variables.update(self.context_variables())
        # share(): the run gets copy-on-write handles, so a failed input cannot have
        # changed the arrays the REPL keeps.
        for name, value in self.globals.items():
            variables[name] = V.share(value)
        return variables

    def _commit(self, prepared: Prepared, final: dict) -> None:
        self.count += 1
        origin = f"<repl:{self.count}>"
        self.sources[origin] = prepared.text if not prepared.text.endswith("\n") \
            else prepared.text
        self.decls = self._kept_decls(prepared.new_decls) + prepared.new_decls
        # The final globals hold only the variables this program used at its top level:
        # the others are kept; a used one that is missing was unset.
        g = dict(self.globals)
        for name in _main_globals(prepared.program):
            if name not in final:
                g.pop(name, None)
        g.update((k, v) for k, v in final.items() if k != VALUE_VAR)
        if self.hook:
            for name in PHASES[self.hook].readonly:     # the run's hook variables, not kept
                g.pop(name, None)
        self.globals = g

    def _show_queue_decision(self, decision, state) -> None:
        d = delivery.QueueDecision(decision.action, decision.options,
                                   state.metadata if state.changed else None)
        self.write("\n".join(delivery.decision_lines(self.hook, d)))

    def _show_decision(self, decision, final: dict, queued: list) -> None:
        session = self.session()
        context = final.get("context", self.globals.get("context"))
        result = build_result(decision, session, context, [], phase=self.hook,
                              queued=queued if decision.action == "accept" else [])
        self.write(result.human())

    # ------------------------------------------------------------ errors
    def _sources(self, current: str) -> dict:
        sources = dict(self.sources)
        sources["<repl>"] = current
        for d in self.decls:
            if d.origin not in sources:
                text = display_source(d.origin)
                if text is not None:
                    sources[d.origin] = text
        return sources

    @staticmethod
    def _map(layout, filename: str, line: int):
        if filename != "<repl>":
            return filename, line
        for first, count, origin, oline in layout:
            if first <= line < first + count:
                return origin, oline + (line - first)
        return filename, line

    def _remap_syntax(self, err, layout, text) -> None:
        for d in err.diagnostics:
            if d.filename != "<repl>":
                continue
            if d.end_line:
                _, d.end_line = self._map(layout, "<repl>", d.end_line)
            d.filename, d.line = self._map(layout, d.filename, d.line)
        first = err.diagnostics[0]
        err.filename, err.line = first.filename, first.line
        err.source = text if first.filename == "<repl>" else self.sources.get(first.filename)

    def _remap_runtime(self, err, prepared: Prepared) -> None:
        err.filename, err.line = self._map(prepared.layout, err.filename, err.line)
        for f in err.stack:
            f.filename, f.line = self._map(prepared.layout, f.filename, f.line)
        err.source = None

    # ------------------------------------------------------------ completeness
    @staticmethod
    def is_complete(text: str) -> bool:
        return True if text.strip().startswith(".") else is_complete(text)


def _main_globals(program) -> set:
    """Names of the HSL globals the main module's generated code uses (`g_<name>`)."""
    source = getattr(program, "python_source", "")
    m = re.search(r"^def M0\(.*?(?=^def |\Z)", source, re.S | re.M)
    return set(re.findall(r"\bg_([A-Za-z_][A-Za-z0-9_]*)", m.group(0))) if m else set()


def _absolute_import(piece: str, base_dir: str) -> str:
    """An import of a loaded file, with a path relative to that file made absolute."""
    m = re.search(r'from\s+"([^"\\]*)"', piece)
    if not m:
        return piece
    path = m.group(1)
    if os.path.isabs(path) or "://" in path or path.startswith("file:"):
        return piece
    for cand in (path, path + ".hsl"):
        full = os.path.join(base_dir, cand)
        if os.path.isfile(full):
            return piece[:m.start(1)] + full.replace("\\", "\\\\") + piece[m.end(1):]
    return piece
