"""Random text and random edits of a real file: every navigation, token and code-action
feature answers (a value or nothing) without raising, at any position."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings, strategies as st
from lsprotocol import types as T
from pygls.uris import from_fs_path
from pygls.workspace import Workspace

from hsl.lsp import actions, symbols as S, tokens as K

PIECES = ["function ", "f", "g", "(", ")", "{", "}", "[", "]", "$a", "$b", "$this", ";",
          " = ", ", ", "class C ", "->", "::", "global $a;", "closure ($a)", "include ",
          "import { f as g } from ", "import * as ns from ", '"x.hsl"', "'r'", "#/x/",
          "// c\n", "/* c */", "\n", " ", "1", "foreach ($a as $k => $v)", "try {} catch ($e)",
          "echo ", "return ", "static ", "private ", "$arguments", "strlen", "ns::f", '"$a"',
          "\x00", "😀", "…", "${a}", "cache [] f()", "barrier \"x\" => $b {}", "[$a, ...$b] = "]

SOURCE = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)


def features(ws, doc, text):
    uri = doc.uri
    td = T.TextDocumentIdentifier(uri)
    lines = text.split("\n")
    positions = [T.Position(0, 0)] + [T.Position(i, c) for i, line in enumerate(lines[:6])
                                      for c in range(0, len(line) + 2, 3)]
    for p in positions:
        S.definition(ws, doc, T.DefinitionParams(td, p))
        S.references(ws, doc, T.ReferenceParams(text_document=td, position=p,
                                                context=T.ReferenceContext(True)))
        if S.prepare_rename(ws, doc, T.PrepareRenameParams(td, p)) is not None:
            S.rename(ws, doc, T.RenameParams(td, p, "renamed"))
    S.document_symbols(ws, doc)
    S.folding_ranges(ws, doc)
    S.document_links(ws, doc)
    S.workspace_symbols(ws, T.WorkspaceSymbolParams(query="f"))
    K.full(ws, doc, T.SemanticTokensParams(td))
    actions.code_actions(ws, doc, T.CodeActionParams(
        text_document=td, range=T.Range(T.Position(0, 0), T.Position(len(lines), 0)),
        context=T.CodeActionContext(diagnostics=[])))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=SOURCE)
def test_random_text(tmp_path_factory, text):
    root = tmp_path_factory.mktemp("fuzz")
    (root / "x.hsl").write_text("function f() {}\n$a = 1;\n")
    path = str(root / "main.hsl")
    ws = Workspace(from_fs_path(str(root)))
    ws.put_text_document(T.TextDocumentItem(from_fs_path(path), "hsl", 1, text))
    features(ws, ws.get_text_document(from_fs_path(path)), text)


HERE = os.path.dirname(os.path.abspath(__file__))
REAL = open(os.path.join(HERE, "..", "examples", "helo_classifier.hsl"), encoding="utf-8").read()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(edits=st.lists(st.tuples(st.integers(0, len(REAL)), st.integers(0, 12), SOURCE),
                      min_size=1, max_size=5))
def test_random_edits_of_a_real_file(tmp_path_factory, edits):
    root = tmp_path_factory.mktemp("edits")
    path = str(root / "helo.hsl")
    uri = from_fs_path(path)
    ws = Workspace(from_fs_path(str(root)))
    text = REAL
    ws.put_text_document(T.TextDocumentItem(uri, "hsl", 1, text))
    for version, (at, cut, insert) in enumerate(edits, 2):
        text = text[:at] + insert + text[at + cut:]
        ws.update_text_document(T.VersionedTextDocumentIdentifier(uri=uri, version=version),
                                T.TextDocumentContentChangeWholeDocument(text=text))
        features(ws, ws.get_text_document(uri), text)
