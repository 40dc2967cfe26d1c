"""A throwaway language server for tests/test_lsp_nav_e2e.py: a pygls LanguageServer with
the navigation, semantic-token and code-action features of hsl/lsp registered, spoken to
over stdio by a real LSP client (pytest-lsp).  (At the merge with the server of
hsl/lsp/server.py this becomes make_server().)"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pygls.lsp.server import LanguageServer  # noqa: E402

from hsl.lsp import actions, symbols, tokens  # noqa: E402


def make_server() -> LanguageServer:
    server = LanguageServer("hsl-nav-test", "0")
    for module in (symbols, tokens, actions):
        module.register(server)
    return server


if __name__ == "__main__":
    make_server().start_io()
