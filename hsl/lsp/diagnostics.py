"""Diagnostics for open documents, as the user types: `hsl check`'s, with its codes,
messages and hints, published DEBOUNCE seconds after the last change (at once on open),
and again for every open document that includes or imports a changed one.

A diagnostic found in a file the document includes or imports (at any depth) is shown on
the document's include or import statement that leads to it, with the same code and
message; its relatedInformation gives the place in that file and then each include on
the way (the include chain).
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Optional

from lsprotocol import types as T
from pygls.uris import from_fs_path

from ..errors import Diagnostic
from ..program import find_file, search_dirs
from ..syntax import ast as A
from ..syntax.sourcefile import display_source
from .documents import Analysis, Lines, path_of

#: Seconds between the last change and the check.
DEBOUNCE = 0.15
SOURCE = "hsl"

_log = logging.getLogger(__name__)
_SEVERITY = {"error": T.DiagnosticSeverity.Error, "warning": T.DiagnosticSeverity.Warning}
_LINKS = (A.Include, A.ImportSymbols, A.ImportAll, A.ImportData)


class Publisher:
    """Schedules the checks and sends publishDiagnostics."""

    def __init__(self, server, documents):
        self.server = server
        self.documents = documents
        self._pending: dict = {}        # uri -> asyncio.Task waiting out the debounce
        self.debounce = DEBOUNCE

    def schedule(self, uri: str, delay: Optional[float] = None, dependents: bool = True):
        task = self._pending.pop(uri, None)
        if task is not None:
            task.cancel()
        self._pending[uri] = asyncio.ensure_future(
            self._later(uri, self.debounce if delay is None else delay, dependents))

    async def _later(self, uri: str, delay: float, dependents: bool) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            await self.publish(uri)
            if dependents:
                for dep in self.documents.invalidate(path_of(uri)):
                    await self.publish(dep)
        except asyncio.CancelledError:
            pass                # (a newer change: its own check follows)
        finally:
            if self._pending.get(uri) is asyncio.current_task():
                del self._pending[uri]

    def cancel(self, uri: str) -> None:
        task = self._pending.pop(uri, None)
        if task is not None:
            task.cancel()

    def file_changed(self, path: str) -> None:
        """A file changed (on disk, or its buffer closed): re-check the open documents
        that read it."""
        for uri in self.documents.invalidate(path):
            self.schedule(uri, 0, dependents=False)

    async def publish(self, uri: str) -> None:
        try:
            a = await self.documents.analysis_async(uri)
            if a is None:
                return
            items = self.convert(a)
        except asyncio.CancelledError:
            raise
        except Exception:       # never a crashed server: log it, publish nothing new
            _log.exception("hsl lsp: checking %s failed", uri)
            return
        if self.documents.document(uri) is None:
            return              # (closed meanwhile)
        self.server.text_document_publish_diagnostics(
            T.PublishDiagnosticsParams(uri=uri, diagnostics=items, version=a.version))

    def clear(self, uri: str) -> None:
        self.cancel(uri)
        self.server.text_document_publish_diagnostics(
            T.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    # ---------------------------------------------------------------- conversion
    def convert(self, a: Analysis) -> list:
        if a.too_big:
            return []
        lines = Lines(a.text, self.documents.units)
        own = os.path.abspath(a.path)
        out = []
        chains = _Chains(a, self.documents)
        for d in a.diagnostics:
            name = d.filename
            if name.startswith("<") or os.path.abspath(name) == own:
                out.append(lsp_diagnostic(d, lines))
                continue
            chain = chains.to(os.path.abspath(name))
            if not chain:
                # (no include leads there that we can show: the file's first line)
                out.append(lsp_diagnostic(d, lines, at=T.Range(T.Position(0, 0),
                                                               T.Position(0, 0)),
                                          related=[_place(d, self.documents)]))
                continue
            first = chain[0]
            out.append(lsp_diagnostic(
                d, lines, at=lines.range(first[1].line, first[1].col,
                                         first[1].end_line, first[1].end_col),
                related=[_place(d, self.documents)] + [
                    T.DiagnosticRelatedInformation(
                        T.Location(from_fs_path(frm), _range_in(frm, span, a, self.documents)),
                        f"included from {os.path.basename(frm)}")
                    for frm, span in chain[1:]]))
        return out


def lsp_diagnostic(d: Diagnostic, lines: Lines, at: Optional[T.Range] = None,
                   related: Optional[list] = None) -> T.Diagnostic:
    message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
    rng = at if at is not None else lines.range(d.line, d.column, d.end_line, d.end_column)
    return T.Diagnostic(range=rng, message=message,
                        severity=_SEVERITY.get(d.severity, T.DiagnosticSeverity.Error),
                        code=d.code or None, source=SOURCE, related_information=related,
                        tags=[T.DiagnosticTag.Unnecessary] if d.code == "HSL602" else None,
                        data={"hint": d.hint} if d.hint else None)


def _place(d: Diagnostic, documents) -> T.DiagnosticRelatedInformation:
    text = documents.overlay().get(os.path.abspath(d.filename))
    if text is None:
        text = display_source(d.filename) or ""
    lines = Lines(text, documents.units)
    return T.DiagnosticRelatedInformation(
        T.Location(from_fs_path(os.path.abspath(d.filename)),
                   lines.range(d.line, d.column, d.end_line, d.end_column)),
        d.message)


def _range_in(path: str, span, a: Analysis, documents) -> T.Range:
    text = a.sources.get(path, "")
    return Lines(text, documents.units).range(span.line, span.col, span.end_line, span.end_col)


class _Chains:
    """The include and import statements from the document to each file it reads."""

    def __init__(self, a: Analysis, documents):
        self.a = a
        self.documents = documents
        self._edges: dict = {}
        self._bodies: dict = {}         # path -> statements of an included file

    def edges(self, path: str) -> list:
        """(target path, the statement's span) of each include/import of a file read."""
        if path in self._edges:
            return self._edges[path]
        a = self.a
        out = []
        if path == os.path.abspath(a.path):
            body = a.program.body if a.program is not None else None
        elif path in self._bodies:
            body = self._bodies[path]
        else:
            text = a.sources.get(path)
            program = self.documents.program_of(path, text) if text is not None else None
            body = program.body if program is not None else None
        if body is not None:
            dirs = search_dirs(a.path, a.options.include_paths, a.options.roots)
            extras = a.options.plugins.extras if a.options.plugins is not None else ()
            for n in A.walk(body):
                if type(n) is A.Included:       # (an include the check resolved)
                    target = os.path.abspath(n.inclusion.path)
                    self._bodies.setdefault(target, n.inclusion.body)
                    out.append((target, n.span))
                elif isinstance(n, _LINKS):
                    try:
                        found = find_file(n.path, path, a.path, dirs, extras)
                    except (OSError, ValueError):
                        found = None
                    if found is not None:
                        out.append((os.path.abspath(found), n.span))
        self._edges[path] = out
        return out

    def to(self, target: str) -> list:
        """[(file, span of its include or import)] from the document to `target`, the
        document's own statement first; [] if none is found."""
        start = os.path.abspath(self.a.path)
        seen = {start}
        queue = [(start, [])]
        while queue:
            nxt = []
            for path, chain in queue:
                for dest, span in self.edges(path):
                    step = chain + [(path, span)]
                    if dest == target:
                        return step
                    if dest not in seen:
                        seen.add(dest)
                        nxt.append((dest, step))
            queue = nxt
        return []


def register(server) -> None:
    docs = server.hsl_documents
    publisher = Publisher(server, docs)
    server.hsl_publisher = publisher

    @server.feature(T.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls, params: T.DidOpenTextDocumentParams):
        publisher.schedule(params.text_document.uri, 0)

    @server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls, params: T.DidChangeTextDocumentParams):
        publisher.schedule(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls, params: T.DidSaveTextDocumentParams):
        publisher.file_changed(path_of(params.text_document.uri))

    @server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls, params: T.DidCloseTextDocumentParams):
        uri = params.text_document.uri
        docs.forget(uri)
        publisher.clear(uri)
        # the files that read it now read it from disk
        publisher.file_changed(path_of(uri))

    async def watch_files():
        # Ask to hear of changes on disk (a `git checkout`, another editor): .hsl files
        # and the settings, when the client lets a server register for them.
        try:
            caps = server.client_capabilities.workspace.did_change_watched_files
            if not caps or not caps.dynamic_registration:
                return
            await server.client_register_capability_async(T.RegistrationParams([
                T.Registration("hsl-watch", T.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                               T.DidChangeWatchedFilesRegistrationOptions([
                                   T.FileSystemWatcher(glob_pattern=g) for g in (
                                       "**/*.hsl", "**/.hslcheck.toml", "**/pyproject.toml")
                               ]))]))
        except Exception:       # (a client that refuses: no watching, nothing else lost)
            _log.info("hsl lsp: no file watching", exc_info=True)
    server.hsl_on_initialized.append(watch_files)

    @server.feature(T.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched(ls, params: T.DidChangeWatchedFilesParams):
        for change in params.changes:
            path = path_of(change.uri)
            if os.path.basename(path) in (".hslcheck.toml", "pyproject.toml"):
                docs.settings_changed()
                for uri in docs.open_uris():
                    publisher.schedule(uri, 0, dependents=False)
                return
            publisher.file_changed(path)
