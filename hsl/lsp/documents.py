"""The language server's view of the files: each open document's analysis (parse, check,
the files its includes and imports read), cached by document version, and the include
and import graph that says which open files a change reaches.

An analysis is made with the settings `hsl check` would use for that file: the
`.hslcheck.toml` (or `[tool.hsl-check]`) found from the file's directory, the file area
of the Halon project it is in (`src/files/`), and its hook phase from the path or a
`// hook:` comment.  Open buffers stand for their files on disk (the checker's overlay),
so an unsaved edit of an included file reaches the files that include it.

Positions: hsl counts 1-based lines and characters; LSP counts 0-based lines and (by
default) UTF-16 code units.  `Lines` converts both ways, lines split at "\\n" only (as the
parser counts them).
"""
from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional

from lsprotocol import types as T
from pygls.uris import to_fs_path

from ..check import config as cfg
from ..check.checker import Options, check_source, phase_for
from ..hooks.phases import PHASES
from ..syntax import ast as A
from ..syntax.parser import parse_partial

_log = logging.getLogger(__name__)

#: Texts longer than this are not analysed (no diagnostics, no completion from the file's
#: own declarations): an editor may open anything.
MAX_TEXT = 4_000_000


class Lines:
    """Offsets of the lines of a text, and conversions between hsl and LSP positions."""

    def __init__(self, text: str, units):
        self.text = text
        self.starts = [0]
        find = text.find
        i = find("\n")
        while i >= 0:
            self.starts.append(i + 1)
            i = find("\n", i + 1)
        self.units = units          # str -> number of client code units

    def line(self, n: int) -> str:
        """Line `n` (0-based) without its newline ("" past the end)."""
        if n < 0 or n >= len(self.starts):
            return ""
        end = self.starts[n + 1] - 1 if n + 1 < len(self.starts) else len(self.text)
        return self.text[self.starts[n]:end]

    def offset(self, pos: T.Position) -> int:
        """The string offset of an LSP position (clamped to the text)."""
        if pos.line >= len(self.starts):
            return len(self.text)
        line = self.line(pos.line)
        units = 0
        for i, ch in enumerate(line):
            if units >= pos.character:
                return self.starts[pos.line] + i
            units += self.units(ch)
        return self.starts[pos.line] + len(line)

    def position(self, line: int, col: int) -> T.Position:
        """The LSP position of hsl's 1-based (line, column)."""
        n = max(line - 1, 0)
        if n >= len(self.starts):
            n = len(self.starts) - 1
            return T.Position(n, self.units(self.line(n)))
        text = self.line(n)
        return T.Position(n, self.units(text[:max(col - 1, 0)]))

    def at(self, offset: int) -> T.Position:
        """The LSP position of a string offset."""
        import bisect
        n = bisect.bisect_right(self.starts, offset) - 1
        return T.Position(n, self.units(self.text[self.starts[n]:offset]))

    def range(self, line: int, col: int, end_line: int = 0, end_col: int = 0) -> T.Range:
        start = self.position(line, col)
        if end_line <= 0 or (end_line, end_col) <= (line, col):
            end = T.Position(start.line, start.character + 1) \
                if col - 1 < len(self.line(start.line)) else start
        else:
            end = self.position(end_line, end_col)
        return T.Range(start, end)


@dataclass
class Analysis:
    """One version of one document, checked."""
    uri: str
    path: str
    version: Optional[int]
    text: str
    phase: Optional[str]
    options: Options
    program: Optional[A.Program] = None         # what parsed (after errors: what recovery kept)
    diagnostics: list = field(default_factory=list)     # hsl check's, for every file read
    sources: dict = field(default_factory=dict)         # path -> text of every file read
    too_big: bool = False

    def read_paths(self) -> set:
        if self._read is None:
            self._read = {os.path.abspath(p) for p in self.sources}
        return self._read

    _read: Optional[set] = None


class Documents:
    """Analyses of the open documents, by URI, remade when the version or a file they
    read changes."""

    def __init__(self, server, include_paths=()):
        self.server = server
        self.include_paths = [os.path.abspath(p) for p in include_paths]     # -I
        self._cache: dict = {}          # uri -> Analysis
        self._parsed_ok: dict = {}      # uri -> its last Analysis with a program
        self._parsed: dict = {}         # path -> (text, program) of files read
        self._settings: dict = {}       # directory -> settings
        self._running: dict = {}        # (uri, version, text id, epoch) -> (future, analysis)
        self._epoch = 0                 # +1 at each change of a file analyses may read
        # One thread checks (the checker is not made to run twice at once); the event
        # loop answers requests from the analyses made so far meanwhile.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hsl-check")

    # ---------------------------------------------------------------- documents
    def open_uris(self) -> list:
        return list(self.server.workspace.text_documents)

    def document(self, uri: str):
        docs = self.server.workspace.text_documents
        return docs.get(uri)

    def text(self, uri: str) -> Optional[str]:
        doc = self.document(uri)
        return None if doc is None else doc.source

    def lines(self, uri: str, text: Optional[str] = None) -> Lines:
        return Lines(self.text(uri) if text is None else text, self.units)

    def units(self, s: str) -> int:
        codec = self.server.workspace.position_codec
        return codec.client_num_units(s)

    def forget(self, uri: str) -> None:
        self._cache.pop(uri, None)
        self._parsed_ok.pop(uri, None)

    # ---------------------------------------------------------------- analysis
    async def analysis_async(self, uri: str) -> Optional[Analysis]:
        """The analysis of the open document's current version; a stale one is remade in
        the checker's thread (the server answers other requests meanwhile).  One check
        per document version runs at a time."""
        doc = self.document(uri)
        if doc is None:
            return None
        cached = self._current(uri, doc)
        if cached is not None:
            return cached
        # (a check started before a file it read changed is not the current one)
        key = (uri, doc.version, id(doc.source), self._epoch)
        got = self._running.get(key)
        if got is None:
            a = self._prepare(uri, doc.source, doc.version)
            loop = self.server.hsl_loop = asyncio.get_running_loop()
            running = loop.run_in_executor(self._executor, _run_checks, a)
            got = self._running[key] = (running, a)
            running.add_done_callback(lambda _f: self._running.pop(key, None))
        running, a = got
        await asyncio.shield(running)
        doc = self.document(uri)
        if doc is not None and doc.version == a.version and doc.source is a.text \
                and key[3] == self._epoch:
            self._store(uri, a)
        return a

    def _current(self, uri: str, doc) -> Optional[Analysis]:
        cached = self._cache.get(uri)
        if cached is not None and cached.version == doc.version and cached.text is doc.source:
            return cached
        return None

    def latest(self, uri: str) -> Optional[Analysis]:
        """The last analysis made of the document, of whatever version (None if none);
        if nothing of that version parsed (an unterminated string...), the last one
        whose statements parsed, for the names it declares."""
        a = self._cache.get(uri)
        if a is not None and a.program is None:
            return self._parsed_ok.get(uri, a)
        return a

    def _store(self, uri: str, a: Analysis) -> None:
        self._cache[uri] = a
        if a.program is not None:
            self._parsed_ok[uri] = a

    def invalidate(self, path: str) -> list:
        """Drop the analyses that read `path` (it changed); the URIs of the open documents
        whose analysis read it, other than its own."""
        path = os.path.abspath(path)
        self._epoch += 1
        hit = []
        for uri, a in list(self._cache.items()):
            if os.path.abspath(a.path) != path and path in a.read_paths():
                hit.append(uri)
                a.version = None            # (kept for completion until remade)
        self._parsed.pop(path, None)
        return hit

    def _prepare(self, uri: str, text: str, version) -> Analysis:
        """An analysis to make (in any thread): what it needs of the server, taken now."""
        path = path_of(uri)
        options = self.options_for(path, uri)
        a = Analysis(uri, path, version, text, None, options)
        a.too_big = len(text) > MAX_TEXT
        return a

    def overlay(self, skip: str = "") -> dict:
        """path -> text of every open buffer (they stand for their files)."""
        out = {}
        for uri, doc in self.server.workspace.text_documents.items():
            if uri != skip and uri.startswith("file:"):
                p = path_of(uri)
                out[p] = doc.source
        return out

    def options_for(self, path: str, uri: str = "") -> Options:
        """The checker's options for a file, as `hsl check` on it would have them."""
        folder = os.path.dirname(path)
        settings = self._settings.get(folder)
        if settings is None:
            settings = {}
            found = cfg.find(folder) if os.path.isdir(folder) else None
            if found is not None:
                try:
                    settings = cfg.load(found)
                except cfg.ConfigError as e:
                    self.server.window_log_message(T.LogMessageParams(
                        T.MessageType.Warning, f"hsl: {e}"))
                    settings = {}
            self._settings[folder] = settings
        include = self.include_paths + list(settings.get("include", []))
        roots = [folder]
        project = project_root(path)
        if project is not None:
            files = os.path.join(project, "src", "files")
            if os.path.isdir(files):
                include.append(files)
            roots.append(project)
        for folder_uri in self.server.workspace.folders:
            p = path_of(folder_uri)
            if p:
                roots.append(p)
        plugins = None
        if settings.get("plugins") or settings.get("extras"):
            from ..plugins import load_plugins     # deferred: YAML, only for declared plugins
            try:
                plugins = load_plugins(settings.get("plugins", []), settings.get("extras", []))
            except ValueError as e:
                self.server.window_log_message(T.LogMessageParams(
                    T.MessageType.Warning, f"hsl: {e}"))
        hook = settings.get("hook")
        return Options(
            hook=hook if hook in PHASES else None,
            include_paths=include,
            allow_unknown_functions=bool(settings.get("allow-unknown-functions", False)),
            no_warnings=bool(settings.get("no-warnings", False)),
            error_on_warning=bool(settings.get("error-on-warning", False)),
            roots=roots,
            plugin_functions=frozenset(settings.get("plugin-functions", [])),
            plugins=plugins,
            overlay=self.overlay(skip=uri),
        )

    def settings_changed(self) -> None:
        self._settings.clear()
        self._cache.clear()

    # ---------------------------------------------------------------- other files
    def program_of(self, path: str, text: str) -> Optional[A.Program]:
        """The (partial) parse of a file another analysis read, cached by text."""
        hit = self._parsed.get(path)
        if hit is not None and hit[0] is text:
            return hit[1]
        try:
            program = parse_partial(text, path)[0] if len(text) <= MAX_TEXT else None
        except RecursionError:
            program = None
        self._parsed[path] = (text, program)
        return program


def _run_checks(a: Analysis) -> None:
    """Fill in an analysis: phase, hsl check's diagnostics, the files read, the parse.
    Touches nothing shared (it runs in the checker's thread)."""
    if a.too_big:
        return
    try:
        a.phase = phase_for(a.path, a.options, a.text)
        sources: dict = {}
        parsed: list = []
        a.diagnostics = check_source(a.text, a.path, a.options, sources, parsed)
        a.sources = sources
        a.program = parsed[0] if parsed else None
    except Exception:       # (check_source reports its own failures; this is the parse)
        _log.exception("hsl lsp: analysing %s failed", a.uri)
        a.program = None


def path_of(uri: str) -> str:
    try:
        p = to_fs_path(uri)
    except Exception:       # (a malformed URI: no file)
        p = None
    return os.path.abspath(p) if p else "<" + uri + ">"


def project_root(path: str) -> Optional[str]:
    """The Halon project a file is in (`ROOT/src/hooks/...` or `ROOT/src/files/...`)."""
    parts = os.path.abspath(path).split(os.sep)
    for i in range(len(parts) - 2, 0, -1):
        if parts[i] == "src" and parts[i + 1] in ("hooks", "files", "config"):
            return os.sep.join(parts[:i]) or os.sep
    return None

