"""`hsl lsp` end to end (issue 18): a real LSP client (pytest-lsp) launches
`python -m hsl lsp` over stdio and drives it on a Halon project the tests write
(src/hooks/<phase>/, src/files/): initialize, open/change/close, diagnostics (of
dependents too, with the include chain), completion, hover, signature help,
cancellation, robustness and shutdown."""
from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
import sys

import pytest
import pytest_lsp
from lsprotocol import types as T
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))

LIB = '''\
// Reject a sender that is on the list.
// Returns true when it did.
function block_listed($sender, $list = []) {
    return false;
}
'''
EOD = '''\
include "lib.hsl";
if (block_listed($transaction["sender"])) Reject("listed");
$mail = $arguments["mail"];
Accept();
'''


def write_project(root) -> dict:
    paths = {
        "lib": root / "src" / "files" / "lib.hsl",
        "eod": root / "src" / "hooks" / "eod" / "inbound.hsl",
        "rcpt": root / "src" / "hooks" / "rcptto" / "inbound.hsl",
    }
    for p in paths.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    paths["lib"].write_text(LIB)
    paths["eod"].write_text(EOD)
    paths["rcpt"].write_text('Accept();\n')
    return paths


def make_client() -> LanguageClient:
    """pytest-lsp's client, which also keeps every publishDiagnostics with its version."""
    from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features
    from pygls.protocol import default_converter
    c = LanguageClient(converter_factory=default_converter)
    c.published = {}        # uri -> [(version, diagnostics)] in the order received

    def publish(ls, params: T.PublishDiagnosticsParams):     # (pygls passes `ls`)
        ls.published.setdefault(params.uri, []).append((params.version, params.diagnostics))
        ls.diagnostics[params.uri] = params.diagnostics

    c.registrations = []

    def register(ls, params: T.RegistrationParams):        # (as editors do: accept it)
        ls.registrations.extend(params.registrations)

    register_lsp_features(c, dict(DEFAULT_CLIENT_FEATURES,
                                  **{T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: publish,
                                     T.CLIENT_REGISTER_CAPABILITY: register}))
    return c


CONFIG = ClientServerConfig(server_command=[sys.executable, "-m", "hsl", "lsp"],
                            server_env=ENV, client_factory=make_client)


@pytest_lsp.fixture(config=CONFIG)
async def client(lsp_client: LanguageClient, tmp_path):
    write_project(tmp_path)
    lsp_client.init_result = await lsp_client.initialize_session(T.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        root_uri=from_fs_path(str(tmp_path)),
        workspace_folders=[T.WorkspaceFolder(from_fs_path(str(tmp_path)), "project")]))
    yield
    await lsp_client.shutdown_session()


def uri(path) -> str:
    return from_fs_path(str(path))


def open_doc(client, path, text=None, version=1) -> str:
    u = uri(path)
    client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(
        u, "hsl", version, text if text is not None else path.read_text())))
    return u


def change(client, u, text, version):
    client.text_document_did_change(T.DidChangeTextDocumentParams(
        T.VersionedTextDocumentIdentifier(version=version, uri=u),
        [T.TextDocumentContentChangeWholeDocument(text=text)]))


async def diagnostics_for(client, u, version=None, timeout=10.0) -> list:
    """The diagnostics published for `u` of `version` (the last such publish, awaited if
    none came yet); without a version, the next publish for `u`."""
    seen = len(client.published.get(u, []))

    def found():
        got = client.published.get(u, [])
        if version is None:
            return list(got[seen][1]) if len(got) > seen else None
        for v, items in reversed(got):
            if v == version:
                return list(items)
        return None

    async def wait():
        while (result := found()) is None:
            await client.wait_for_notification(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        return result
    return await asyncio.wait_for(wait(), timeout)


async def diagnostics_until(client, u, pred, timeout=10.0) -> list:
    """The first diagnostics published for `u` from now on that satisfy `pred`."""
    async def wait():
        while True:
            got = await diagnostics_for(client, u, timeout=timeout)
            if pred(got):
                return got
    return await asyncio.wait_for(wait(), timeout)


def project(tmp_path) -> dict:
    return {
        "lib": tmp_path / "src" / "files" / "lib.hsl",
        "eod": tmp_path / "src" / "hooks" / "eod" / "inbound.hsl",
        "rcpt": tmp_path / "src" / "hooks" / "rcptto" / "inbound.hsl",
    }


def pos(text: str, marker: str, after: bool = True) -> T.Position:
    """The position just after (or at) the first `marker` in `text`."""
    i = text.index(marker) + (len(marker) if after else 0)
    line = text.count("\n", 0, i)
    return T.Position(line, i - (text.rfind("\n", 0, i) + 1))


# ------------------------------------------------------------------ lifecycle

@pytest.mark.asyncio
async def test_initialize_advertises_the_features(client: LanguageClient, tmp_path):
    caps = client.init_result.capabilities
    assert client.init_result.server_info.name == "hsl"
    assert "$" in caps.completion_provider.trigger_characters
    assert "(" in caps.signature_help_provider.trigger_characters
    assert caps.hover_provider
    assert caps.document_formatting_provider is None      # (there is no hsl fmt)
    u = open_doc(client, project(tmp_path)["eod"])
    assert await diagnostics_for(client, u) == []
    # and it asked to hear of .hsl files and settings changed on disk
    [r] = client.registrations
    assert r.method == T.WORKSPACE_DID_CHANGE_WATCHED_FILES
    assert {w["globPattern"] for w in r.register_options["watchers"]} == {
        "**/*.hsl", "**/.hslcheck.toml", "**/pyproject.toml"}


@pytest.mark.asyncio
async def test_open_change_close(client: LanguageClient, tmp_path):
    p = project(tmp_path)["eod"]
    u = open_doc(client, p)
    assert await diagnostics_for(client, u, 1) == []
    text = EOD.replace("Accept();", 'echo str_lowr("x");\nAccept();')
    change(client, u, text, 2)
    [d] = await diagnostics_for(client, u, 2)
    assert (d.code, d.range.start.line, d.range.start.character) == ("HSL101", 3, 5)
    assert d.message.startswith("undefined function str_lowr()")
    assert "hint: did you mean `str_lower`?" in d.message
    assert d.source == "hsl" and d.severity == T.DiagnosticSeverity.Error
    client.text_document_did_close(T.DidCloseTextDocumentParams(T.TextDocumentIdentifier(u)))
    assert await diagnostics_for(client, u) == []


@pytest.mark.asyncio
async def test_diagnostics_match_hsl_check_and_run_beside_a_syntax_error(client, tmp_path):
    p = project(tmp_path)["eod"]
    text = ('$limit = 10\n'                              # the missing `;`
            'if ($limit > 5) echo str_lowr("X");\n'
            '$arguments = 1;\n')                         # read-only in eod
    u = open_doc(client, p, text)
    found = await diagnostics_for(client, u, 1)
    assert [(d.code, d.range.start.line + 1, d.range.start.character + 1) for d in found] == \
        [("HSL002", 2, 1), ("HSL101", 2, 22), ("HSL301", 3, 1)]
    p.write_text(text)
    import subprocess
    out = subprocess.run([sys.executable, "-m", "hsl", "check", str(p)], env=ENV,
                         capture_output=True, text=True, cwd=tmp_path).stdout
    for d in found:
        assert d.message.split("\nhint:")[0] in out


@pytest.mark.asyncio
async def test_the_hook_phase_comes_from_the_path(client, tmp_path):
    # Accept() with a reason is fine in eod; Try() is not a function of rcptto
    u = open_doc(client, project(tmp_path)["rcpt"], 'Try();\n')
    [d] = await diagnostics_for(client, u, 1)
    assert d.code == "HSL302" and "rcptto" in d.message


@pytest.mark.asyncio
async def test_dependents_are_republished_with_the_include_chain(client, tmp_path):
    paths = project(tmp_path)
    hook = open_doc(client, paths["eod"])
    assert await diagnostics_for(client, hook, 1) == []
    lib = open_doc(client, paths["lib"])
    await diagnostics_for(client, lib, 1)
    # An unsaved edit of the included file: the hook that includes it is checked again.
    broken = LIB + 'function count_it() { return str_lower(); }\n'
    change(client, lib, broken, 2)
    found = await diagnostics_until(client, hook, lambda ds: any(d.code == "HSL201" for d in ds))
    [d] = [d for d in found if d.code == "HSL201"]
    # shown on the hook's include statement, the place in lib.hsl as related information
    assert d.range.start.line == 0
    assert d.message.startswith("wrong number of arguments for str_lower()")
    [rel] = d.related_information
    assert rel.location.uri == lib and rel.location.range.start.line == 5
    # and the lib itself has it too
    assert [x.code for x in client.diagnostics[lib]] == ["HSL201"]


@pytest.mark.asyncio
async def test_include_chain_through_two_files(client, tmp_path):
    paths = project(tmp_path)
    mid = tmp_path / "src" / "files" / "mid.hsl"
    mid.write_text('include "lib.hsl";\n')
    paths["lib"].write_text(LIB + 'echo str_lower();\n')
    u = open_doc(client, paths["eod"], 'include "mid.hsl";\nAccept();\n')
    [d] = await diagnostics_for(client, u, 1)
    assert d.code == "HSL201" and d.range.start.line == 0
    assert [r.location.uri for r in d.related_information] == [uri(paths["lib"]), uri(mid)]
    assert "included from mid.hsl" in d.related_information[1].message


@pytest.mark.asyncio
async def test_a_file_that_imports_a_changed_module_is_rechecked(client, tmp_path):
    paths = project(tmp_path)
    mod = tmp_path / "src" / "files" / "score.hsl"
    mod.write_text('function score($x) { return 1; }\n')
    hook = open_doc(client, paths["eod"], 'import { score } from "score.hsl";\n'
                                          'echo score(1);\nAccept();\n')
    assert await diagnostics_for(client, hook, 1) == []
    m = open_doc(client, mod)
    await diagnostics_for(client, m, 1)
    change(client, m, 'function score($x) { return str_lowr($x); }\n', 2)
    found = await diagnostics_until(client, hook, lambda ds: any(d.code == "HSL101" for d in ds))
    [d] = found
    assert d.range.start.line == 0 and d.message.startswith("undefined function str_lowr()")
    [rel] = d.related_information
    assert rel.location.uri == m and rel.location.range.start.character == 28


@pytest.mark.asyncio
async def test_a_change_on_disk_rechecks_the_files_that_read_it(client, tmp_path):
    paths = project(tmp_path)
    hook = open_doc(client, paths["eod"])
    assert await diagnostics_for(client, hook, 1) == []
    paths["lib"].write_text(LIB + 'echo str_lower();\n')
    client.workspace_did_change_watched_files(T.DidChangeWatchedFilesParams(
        [T.FileEvent(uri(paths["lib"]), T.FileChangeType.Changed)]))
    [d] = await diagnostics_for(client, hook)
    assert d.code == "HSL201" and d.range.start.line == 0


@pytest.mark.asyncio
async def test_hslcheck_toml_settings_apply(client, tmp_path):
    (tmp_path / ".hslcheck.toml").write_text('allow-unknown-functions = true\n')
    u = open_doc(client, tmp_path / "tool.hsl", 'echo http_bulk("x");\necho str_lowr(1);\n')
    assert await diagnostics_for(client, u, 1) == []


# ------------------------------------------------------------------ completion

async def complete(client, u, p) -> dict:
    got = await client.text_document_completion_async(T.CompletionParams(
        T.TextDocumentIdentifier(u), p))
    items = got.items if isinstance(got, T.CompletionList) else got
    return {i.label: i for i in items}


@pytest.mark.asyncio
async def test_completion_of_names(client, tmp_path):
    text = EOD + 'str_lo'
    u = open_doc(client, project(tmp_path)["eod"], text)
    await diagnostics_for(client, u, 1)
    items = await complete(client, u, pos(text, "str_lo"))
    assert items["str_lower"].detail == "str_lower($string)"
    assert "str_lower" in items and "Accept" not in items
    items = await complete(client, u, pos(EOD, "block_", after=True))
    assert items["block_listed"].detail == "block_listed($sender, [$list])"
    assert "Reject a sender" in items["block_listed"].documentation.value
    # hook functions of the phase (eod), not of others
    text2 = EOD + 'Re'
    change(client, u, text2, 2)
    items = await complete(client, u, pos(text2, "\nRe"))
    assert "Reject" in items and "Reply" not in items
    # snippets and keywords
    text3 = EOD + 'fore'
    change(client, u, text3, 3)
    items = await complete(client, u, pos(text3, "\nfore"))
    assert items["foreach"].kind in (T.CompletionItemKind.Keyword, T.CompletionItemKind.Snippet)
    # a text that parses to nothing (an unterminated string) still completes the names of
    # the last one that parsed
    text4 = EOD + 'block_;\necho "'
    change(client, u, text4, 4)
    [d] = await diagnostics_for(client, u, 4)
    assert d.code == "HSL004"
    items = await complete(client, u, pos(text4, "\nblock_"))
    assert "block_listed" in items


@pytest.mark.asyncio
async def test_completion_of_hook_variable_keys_and_variables(client, tmp_path):
    text = '$x = $transaction["'
    u = open_doc(client, project(tmp_path)["eod"], text)
    items = await complete(client, u, pos(text, '["'))
    assert {"id", "ts", "sender", "recipients"} <= set(items)
    assert items["ts"].detail == "number"
    rcpt = open_doc(client, project(tmp_path)["rcpt"], '$arguments["')
    items = await complete(client, rcpt, T.Position(0, 12))
    assert set(items) == {"recipient", "address", "params", "transportid"}
    text = ('function f($param) {\n  $local = 1;\n  echo $\n}\n$top = 2;\necho $;\n')
    change(client, u, text, 2)
    await diagnostics_for(client, u, 2)
    items = await complete(client, u, pos(text, "echo $"))
    assert {"$param", "$local"} <= set(items) and "$top" not in items
    # at the top level: its variables and the phase's pre-defined ones
    items = await complete(client, u, pos(text, "\necho $"))
    assert {"$top", "$arguments", "$transaction", "$connection", "$context"} <= set(items)
    assert "$param" not in items and "$message" not in items


@pytest.mark.asyncio
async def test_completion_of_methods_when_the_class_is_certain(client, tmp_path):
    text = ('class Box { function get() { return 1; } function put($x) { } }\n'
            '$b = Box();\n$b->\n')
    u = open_doc(client, tmp_path / "m.hsl", text)
    await diagnostics_for(client, u, 1)
    items = await complete(client, u, pos(text, "$b->"))
    assert set(items) == {"get", "put"}
    assert items["put"].detail == "put($x)"


# ------------------------------------------------------------------ hover, signatures

async def hover(client, u, p):
    return await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(u), p))


@pytest.mark.asyncio
async def test_hover(client, tmp_path):
    u = open_doc(client, project(tmp_path)["eod"])
    await diagnostics_for(client, u, 1)
    h = await hover(client, u, pos(EOD, "block_l"))
    assert "block_listed($sender, [$list])" in h.contents.value
    assert "Reject a sender that is on the list." in h.contents.value
    h = await hover(client, u, pos(EOD, '$transaction["se'))
    assert 'sender' in h.contents.value and "string" in h.contents.value
    h = await hover(client, u, pos(EOD, "Acc"))
    assert "Accept(" in h.contents.value and "eod" in h.contents.value
    text = EOD + 'echo str_lower("A");\n'
    change(client, u, text, 2)
    h = await hover(client, u, pos(text, "str_lo"))
    assert "str_lower($string)" in h.contents.value
    assert await hover(client, u, T.Position(0, 2)) is None      # (`include`)


@pytest.mark.asyncio
async def test_signature_help(client, tmp_path):
    text = EOD + 'block_listed("a", '
    u = open_doc(client, project(tmp_path)["eod"], text)
    await diagnostics_for(client, u, 1)
    got = await client.text_document_signature_help_async(T.SignatureHelpParams(
        T.TextDocumentIdentifier(u), pos(text, '"a", ')))
    assert got.signatures[0].label == "block_listed($sender, [$list])"
    assert got.active_parameter == 1
    text2 = 'echo str_replace("a", str_lower(), '
    change(client, u, text2, 2)
    got = await client.text_document_signature_help_async(T.SignatureHelpParams(
        T.TextDocumentIdentifier(u), pos(text2, "(), ")))
    assert got.signatures[0].label.startswith("str_replace(") and got.active_parameter == 2


# ------------------------------------------------------------------ robustness

@pytest.mark.asyncio
async def test_any_text_gets_diagnostics_or_nothing(client, tmp_path):
    f = tmp_path / "self.hsl"
    f.write_text('include "self.hsl";\n')
    u = open_doc(client, f)
    [d] = await diagnostics_for(client, u, 1)
    assert d.code == "HSL504" and "include cycle" in d.message
    for version, text in enumerate([
            "\x00\x01\x02\xff\ufffd binary", "function (", "{" * 5000, "$x = \"" * 50,
            "echo 1;\n" * 40000, "\u2028\u2029\x0c\r\r\n", "", "😀$x = 1;😀 foo(😀);"], 2):
        change(client, u, text, version)
        await diagnostics_for(client, u, version, timeout=30)
        items = await complete(client, u, T.Position(0, 3))
        assert isinstance(items, dict)
        await hover(client, u, T.Position(0, 1))
    # the server is alive and well, and nothing of ours failed on the way
    change(client, u, 'echo str_lowr(1);\n', 99)
    [d] = await diagnostics_for(client, u, 99)
    assert d.code == "HSL101"
    assert [m.message for m in client.log_messages if m.type == T.MessageType.Error] == []


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_text_too_big_to_analyse_gets_no_diagnostics(client, tmp_path):
    from hsl.lsp.documents import MAX_TEXT
    text = 'echo str_lowr("x");\n' * (MAX_TEXT // 20 + 10)
    u = open_doc(client, tmp_path / "huge.hsl", text)
    assert await diagnostics_for(client, u, 1, timeout=120) == []
    items = await complete(client, u, T.Position(0, 8))
    assert "str_lower" in items
    change(client, u, 'echo str_lowr("x");\n', 2)
    [d] = await diagnostics_for(client, u, 2, timeout=60)
    assert d.code == "HSL101"


@pytest.mark.asyncio
async def test_cancelled_request_gets_the_protocols_answer(client, tmp_path):
    from pygls.exceptions import JsonRpcRequestCancelled
    u = open_doc(client, project(tmp_path)["eod"])
    await diagnostics_for(client, u, 1)
    # A request on a big file just opened waits for its first check: cancelled meanwhile.
    big = open_doc(client, tmp_path / "big.hsl", 'echo str_lower("abc") + 1;\n' * 30000)
    fut = asyncio.ensure_future(client.protocol.send_request_async(
        T.TEXT_DOCUMENT_COMPLETION, T.CompletionParams(T.TextDocumentIdentifier(big),
                                                       T.Position(1, 4)), msg_id="to-cancel"))
    await asyncio.sleep(0.3)        # (the request is on its way first)
    client.protocol.notify(T.CANCEL_REQUEST, T.CancelParams(id="to-cancel"))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(fut, 60)
    await diagnostics_for(client, big, 1, timeout=60)
    # the server goes on
    h = await hover(client, u, pos(EOD, "Acc"))
    assert "Accept(" in h.contents.value


@pytest.mark.asyncio
async def test_a_request_on_a_stale_version_is_answered(client, tmp_path):
    u = open_doc(client, project(tmp_path)["eod"])
    change(client, u, EOD + "str_lo", 2)
    change(client, u, EOD + "str_lower(", 3)
    # asked at once, before any check of version 3: answered for the current text
    got = await client.text_document_signature_help_async(T.SignatureHelpParams(
        T.TextDocumentIdentifier(u), T.Position(4, 10)))
    assert got.signatures[0].label == "str_lower($string)"
    assert (await diagnostics_for(client, u, 3))  # (str_lower( is a syntax error)


# ------------------------------------------------------------------ random edits

_FRAGMENTS = ['$x', '$arguments["', '$transaction["sender"]', '(', ')', '{', '}', '[', ']',
              '"', "'", ';', ',', '\n', ' ', 'function f($a) {', 'class C {', 'include "lib.hsl";',
              'import { block_listed } from "lib.hsl";', '->', '::', 'echo ', 'str_lower(',
              'block_listed(', 'Accept();', 'if (', 'foreach ($x as $y)', '/*', '*/', '//',
              '\x00', '\ufffd', '😀', '\r\n', '\u2028', '#/a+/', 'X509::String(']


def _edit_sequences(count: int) -> list:
    """Random edit sequences drawn by hypothesis: each edit (offset fraction, how many
    characters to delete, what to insert) and a request position."""
    from hypothesis import HealthCheck, given, settings, strategies as st
    insert = st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=6))
    edit = st.tuples(st.floats(0, 1), st.integers(0, 8), insert,
                     st.integers(0, 40), st.integers(0, 60))
    found = []

    @settings(max_examples=count, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(edit, min_size=1, max_size=15))
    def draw(edits):
        found.append(edits)
    draw()
    return found


@pytest.mark.slow
@pytest.mark.asyncio
async def test_random_edits_never_fail_a_request(client, tmp_path):
    u = open_doc(client, project(tmp_path)["eod"])
    await diagnostics_for(client, u, 1)
    version = 1
    for edits in _edit_sequences(60):
        text = EOD
        for where, delete, insert, line, char in edits:
            i = int(where * len(text))
            text = text[:i] + insert + text[i + delete:]
            version += 1
            change(client, u, text, version)
            p = T.Position(line, char)
            doc = T.TextDocumentIdentifier(u)
            # every request gets an answer, never an error response (one would raise here)
            got = await client.text_document_completion_async(T.CompletionParams(doc, p))
            assert got is not None, edits
            await client.text_document_hover_async(T.HoverParams(doc, p))
            await client.text_document_signature_help_async(T.SignatureHelpParams(doc, p))
        # and the text's diagnostics come, for the last version
        await diagnostics_for(client, u, version, timeout=30)
    change(client, u, 'echo str_lowr(1);\n', version + 1)
    [d] = await diagnostics_for(client, u, version + 1)
    assert d.code == "HSL101"
    # nothing of ours failed on the way (it would be logged to the client)
    assert [m.message for m in client.log_messages if m.type == T.MessageType.Error] == []


@pytest.mark.asyncio
async def test_shutdown_then_exit_ends_the_server(client, tmp_path):
    u = open_doc(client, project(tmp_path)["eod"])
    await diagnostics_for(client, u, 1)
    assert await client.shutdown_async(None) is None
    client.exit(None)
    assert await asyncio.wait_for(client._server.wait(), 30) == 0
    client.capabilities = None      # (the fixture's own shutdown has nothing left to do)


# ------------------------------------------------------------------ the command

def test_tcp_address_must_be_host_and_port():
    import subprocess
    r = subprocess.run([sys.executable, "-m", "hsl", "lsp", "--tcp", "nonsense"], env=ENV,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--tcp wants HOST:PORT" in r.stderr


def test_tcp_serves_the_protocol():
    import json
    import socket
    import subprocess
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "hsl", "lsp", "--tcp", f"127.0.0.1:{port}"],
                            env=ENV, stderr=subprocess.DEVNULL)
    try:
        import time
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        with conn:
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                               "params": {"processId": None, "rootUri": None,
                                          "capabilities": {}}}).encode()
            conn.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            data = b""
            while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(
                    data.split(b"Content-Length: ")[1].split(b"\r\n")[0]):
                chunk = conn.recv(65536)
                assert chunk
                data += chunk
            reply = json.loads(data.split(b"\r\n\r\n", 1)[1])
            assert reply["id"] == 1 and reply["result"]["serverInfo"]["name"] == "hsl"
    finally:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------------ -I folders

INCLUDE_DIR = tempfile.mkdtemp(prefix="hsl-lsp-include-")
atexit.register(shutil.rmtree, INCLUDE_DIR, True)
with open(os.path.join(INCLUDE_DIR, "shared.hsl"), "w") as _f:
    _f.write("function shared_fn() {\n    return 1;\n}\n")


@pytest_lsp.fixture(config=ClientServerConfig(
    server_command=[sys.executable, "-m", "hsl", "lsp", "-I", INCLUDE_DIR],
    server_env=ENV, client_factory=make_client))
async def client_with_include(lsp_client: LanguageClient, tmp_path):
    lsp_client.init_result = await lsp_client.initialize_session(T.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        root_uri=from_fs_path(str(tmp_path)),
        workspace_folders=[T.WorkspaceFolder(from_fs_path(str(tmp_path)), "project")]))
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio
async def test_include_folders_reach_diagnostics_and_definitions(client_with_include, tmp_path):
    # shared.hsl exists only in the -I folder: its include is found (no diagnostic) and
    # go to definition leads there; without -I the same text is an error.
    client = client_with_include
    text = 'include "shared.hsl";\necho shared_fn();\n'
    path = tmp_path / "policy.hsl"
    path.write_text(text)
    u = open_doc(client, path)
    assert await diagnostics_for(client, u, 1) == []
    got = await client.text_document_definition_async(T.DefinitionParams(
        T.TextDocumentIdentifier(u), T.Position(1, 7)))
    assert [(loc.uri, loc.range.start.line) for loc in got] == \
        [(uri(os.path.join(INCLUDE_DIR, "shared.hsl")), 0)]


@pytest.mark.asyncio
async def test_without_the_include_folder_the_include_is_an_error(client, tmp_path):
    path = tmp_path / "policy.hsl"
    path.write_text('include "shared.hsl";\necho shared_fn();\n')
    u = open_doc(client, path)
    got = await diagnostics_for(client, u, 1)
    assert got and got[0].range.start.line == 0 and "shared.hsl" in got[0].message
