"""The language server: make_server() builds a pygls LanguageServer and lets each feature
module register its handlers.  Shared state hangs on the server: `hsl_documents` (the
analyses, documents.py) and `hsl_answer` (how every request is answered).

Requests are answered for the document's current text (a request made on an older
version gets the answer for the newest: the editor re-asks when it needs to); a request
the client cancels ($/cancelRequest) before its answer is ready gets the protocol's
RequestCancelled error; a failure of our own code answers an empty result (logged),
never an error response or a dead server.
"""
from __future__ import annotations

import asyncio
import logging

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer

from ..version import __version__
from . import actions, completion, diagnostics, hover, signature, symbols, tokens
from .documents import Documents

# Each module's register(server) adds its handlers.
FEATURE_MODULES = (diagnostics, completion, signature, hover, symbols, tokens, actions)

_log = logging.getLogger(__name__)


def make_server(include_paths=()) -> LanguageServer:
    """`include_paths`: the -I folders, looked in before `.hslcheck.toml`'s `include`
    (as hsl check -I)."""
    # Full sync: the editor sends the whole text, so no edit can be applied at positions
    # the client and the server count differently (lines split at U+2028, say).
    server = LanguageServer("hsl", __version__,
                            text_document_sync_kind=T.TextDocumentSyncKind.Full)
    server.hsl_documents = Documents(server, include_paths)
    # What features do once the client is initialized (the workspace exists then).
    server.hsl_on_initialized = [lambda: _configure_index(server, include_paths)]

    @server.feature(T.INITIALIZED)
    async def initialized(ls, params: T.InitializedParams):
        for step in server.hsl_on_initialized:
            try:
                result = step()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:   # (one feature's setup failing loses only that feature)
                _log.exception("hsl lsp: a setup step after initialize failed")

    docs = server.hsl_documents

    async def answer(uri: str, compute, empty):
        """`compute(analysis)` for a request on document `uri`: the last analysis made
        of it (any version: the answer is for the current text, which compute reads),
        or the first one, awaited (a $/cancelRequest meanwhile cancels the request)."""
        await asyncio.sleep(0)
        try:
            a = docs.latest(uri)
            if a is None:
                a = await docs.analysis_async(uri)
            return compute(a)
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("hsl lsp: a request on %s failed", uri)
            return empty

    server.hsl_answer = answer
    for module in FEATURE_MODULES:
        module.register(server)
    logging.getLogger("hsl.lsp").addHandler(_ClientLog(server))
    return server


class _ClientLog(logging.Handler):
    """Our own failures (logged, then answered with nothing) also go to the editor's log
    of the server (window/logMessage), from whichever thread logs them."""

    def __init__(self, server):
        super().__init__(logging.WARNING)
        self.server = server

    def emit(self, record) -> None:
        try:
            text = self.format(record)
            kind = T.MessageType.Error if record.levelno >= logging.ERROR else \
                T.MessageType.Warning
            params = T.LogMessageParams(kind, text)
            try:
                asyncio.get_running_loop()
            except RuntimeError:        # (the checker's thread: send from the loop's)
                loop = getattr(self.server, "hsl_loop", None)
                if loop is not None:
                    loop.call_soon_threadsafe(self.server.window_log_message, params)
                return
            self.server.window_log_message(params)
        except Exception:       # (logging must never fail the server)
            pass


def _configure_index(server, include_paths) -> None:
    symbols.configure(server.workspace, include_paths)
