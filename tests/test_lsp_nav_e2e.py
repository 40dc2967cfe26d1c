"""The navigation, semantic-token and code-action features through a real LSP client over
stdio (pytest-lsp) against `hsl lsp` itself: a Halon project with hooks and src/files,
open/change/close, unsaved edits seen by the next request."""
from __future__ import annotations

import os
import sys

import pytest
import pytest_lsp
from lsprotocol import types as T
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient

# a reply that breaks the protocol for the client's capabilities fails the test
pytestmark = pytest.mark.filterwarnings("error::pytest_lsp.checks.LspSpecificationWarning")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

LIB = "function helper($x) {\n    return $x;\n}\n$shared = 1;\n"
EOD = ('include "file:lib.hsl";\n'
       "$out = helper($shared);\n"
       "echo str_uper($out);\n")
RCPT = 'include "file:lib.hsl";\necho helper(2);\n'


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e") / "proj"
    files = {"lib": root / "src/files/lib.hsl", "eod": root / "src/hooks/eod/default.hsl",
             "rcpt": root / "src/hooks/rcptto/x.hsl"}
    for key, text in (("lib", LIB), ("eod", EOD), ("rcpt", RCPT)):
        files[key].parent.mkdir(parents=True, exist_ok=True)
        files[key].write_text(text)
    (root / "smtpd-app.yaml").write_text("version: '6.0'\n")
    return root, {k: str(v) for k, v in files.items()}


@pytest_lsp.fixture(config=ClientServerConfig(
    server_command=[sys.executable, "-m", "hsl", "lsp"],
    server_env={**os.environ, "PYTHONPATH": ROOT}))
async def client(lsp_client: LanguageClient, project):
    root, files = project
    lsp_client.init_result = await lsp_client.initialize_session(T.InitializeParams(
        capabilities=T.ClientCapabilities(
            text_document=T.TextDocumentClientCapabilities(
                rename=T.RenameClientCapabilities(prepare_support=True),
                document_symbol=T.DocumentSymbolClientCapabilities(
                    hierarchical_document_symbol_support=True)),
            workspace=T.WorkspaceClientCapabilities(workspace_edit=T.WorkspaceEditClientCapabilities(
                document_changes=True, resource_operations=[T.ResourceOperationKind.Create]))),
        root_uri=from_fs_path(str(root)),
        workspace_folders=[T.WorkspaceFolder(uri=from_fs_path(str(root)), name="proj")]))
    yield
    await lsp_client.shutdown_session()


def open_file(client, path, text=None, version=1):
    if text is None:
        with open(path) as f:
            text = f.read()
    client.text_document_did_open(T.DidOpenTextDocumentParams(
        T.TextDocumentItem(uri=from_fs_path(path), language_id="hsl", version=version,
                           text=text)))
    return from_fs_path(path)


def doc(uri):
    return T.TextDocumentIdentifier(uri=uri)


@pytest.mark.asyncio
async def test_capabilities(client: LanguageClient):
    caps = client.init_result.capabilities
    assert caps.definition_provider and caps.references_provider
    assert caps.rename_provider.prepare_provider is True
    assert caps.document_symbol_provider and caps.workspace_symbol_provider
    assert caps.document_link_provider and caps.folding_range_provider
    assert list(caps.code_action_provider.code_action_kinds) == [T.CodeActionKind.QuickFix]
    legend = caps.semantic_tokens_provider.legend
    assert "regexp" in legend.token_types and "defaultLibrary" in legend.token_modifiers
    assert caps.semantic_tokens_provider.full and caps.semantic_tokens_provider.range


@pytest.mark.asyncio
async def test_definition_references_rename(client: LanguageClient, project):
    root, files = project
    uri = open_file(client, files["eod"])
    got = await client.text_document_definition_async(T.DefinitionParams(
        doc(uri), T.Position(1, 8)))
    assert [(loc.uri, loc.range.start.line, loc.range.start.character) for loc in got] == \
        [(from_fs_path(files["lib"]), 0, 9)]
    got = await client.text_document_references_async(T.ReferenceParams(
        text_document=doc(uri), position=T.Position(1, 8),
        context=T.ReferenceContext(include_declaration=True)))
    assert sorted((loc.uri, loc.range.start.line) for loc in got) == sorted([
        (from_fs_path(files["lib"]), 0), (uri, 1), (from_fs_path(files["rcpt"]), 1)])
    prep = await client.text_document_prepare_rename_async(T.PrepareRenameParams(
        doc(uri), T.Position(2, 6)))          # str_uper: not a user function
    assert prep is None
    edit = await client.text_document_rename_async(T.RenameParams(
        doc(uri), T.Position(1, 8), "assist"))
    assert sorted(edit.changes) == sorted([from_fs_path(files["lib"]), uri,
                                           from_fs_path(files["rcpt"])])
    with pytest.raises(Exception, match="keyword"):
        await client.text_document_rename_async(T.RenameParams(
            doc(uri), T.Position(1, 8), "while"))


@pytest.mark.asyncio
async def test_unsaved_changes_are_seen(client: LanguageClient, project):
    root, files = project
    uri = open_file(client, files["lib"], version=1)
    # rename helper in the buffer only (the file on disk keeps helper)
    client.text_document_did_change(T.DidChangeTextDocumentParams(
        text_document=T.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[T.TextDocumentContentChangePartial(
            range=T.Range(T.Position(0, 9), T.Position(0, 15)), text="helper2")]))
    eod = open_file(client, files["eod"])
    got = await client.text_document_definition_async(T.DefinitionParams(
        doc(eod), T.Position(1, 8)))
    assert not got
    client.text_document_did_close(T.DidCloseTextDocumentParams(doc(uri)))
    got = await client.text_document_definition_async(T.DefinitionParams(
        doc(eod), T.Position(1, 8)))
    assert [loc.uri for loc in got] == [uri]          # closed: the file on disk again


@pytest.mark.asyncio
async def test_symbols_links_folding_tokens(client: LanguageClient, project):
    root, files = project
    uri = open_file(client, files["lib"])
    got = await client.text_document_document_symbol_async(T.DocumentSymbolParams(doc(uri)))
    assert [(s.name, s.kind) for s in got] == [("helper", T.SymbolKind.Function),
                                               ("$shared", T.SymbolKind.Variable)]
    got = await client.workspace_symbol_async(T.WorkspaceSymbolParams(query="helper"))
    assert [s.name for s in got] == ["helper"]
    eod = open_file(client, files["eod"])
    links = await client.text_document_document_link_async(T.DocumentLinkParams(doc(eod)))
    assert [link.target for link in links] == [from_fs_path(files["lib"])]
    folds = await client.text_document_folding_range_async(T.FoldingRangeParams(doc(uri)))
    assert [(f.start_line, f.end_line) for f in folds] == [(0, 1)]
    toks = await client.text_document_semantic_tokens_full_async(
        T.SemanticTokensParams(doc(eod)))
    assert list(toks.data[:5]) == [0, 0, 7, 0, 0]          # `include`: a keyword
    rtoks = await client.text_document_semantic_tokens_range_async(T.SemanticTokensRangeParams(
        doc(eod), T.Range(T.Position(2, 0), T.Position(2, 10))))
    assert rtoks.data[0] == 2                        # starts on line 2


@pytest.mark.asyncio
async def test_code_action(client: LanguageClient, project):
    root, files = project
    eod = open_file(client, files["eod"])
    got = await client.text_document_code_action_async(T.CodeActionParams(
        text_document=doc(eod), range=T.Range(T.Position(2, 6), T.Position(2, 6)),
        context=T.CodeActionContext(diagnostics=[])))
    assert [a.title for a in got] == ["Replace str_uper with str_upper",
                                      "Declare str_uper as a plugin function in plugins.yaml"]
    assert got[0].edit.changes[eod][0].new_text == "str_upper"


@pytest.mark.asyncio
async def test_garbage_never_fails_a_request(client: LanguageClient, project):
    root, files = project
    path = os.path.join(os.path.dirname(files["eod"]), "junk.hsl")
    uri = open_file(client, path, "\x00function (}{ $x = 'raw\n class {", version=1)
    for line in range(2):
        for ch in (0, 3, 12):
            p = T.Position(line, ch)
            await client.text_document_definition_async(T.DefinitionParams(doc(uri), p))
            await client.text_document_references_async(T.ReferenceParams(
                text_document=doc(uri), position=p, context=T.ReferenceContext(True)))
            await client.text_document_prepare_rename_async(T.PrepareRenameParams(doc(uri), p))
    await client.text_document_document_symbol_async(T.DocumentSymbolParams(doc(uri)))
    await client.text_document_folding_range_async(T.FoldingRangeParams(doc(uri)))
    await client.text_document_semantic_tokens_full_async(T.SemanticTokensParams(doc(uri)))
    await client.text_document_code_action_async(T.CodeActionParams(
        text_document=doc(uri), range=T.Range(T.Position(0, 0), T.Position(1, 0)),
        context=T.CodeActionContext(diagnostics=[])))
