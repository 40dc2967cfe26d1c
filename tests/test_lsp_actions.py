"""hsl/lsp/actions.py: quick fixes for the checker's diagnostics.  Each test applies the
action's edit to the files and checks the file again with the checker: the diagnostic
is gone (and no new one came)."""
from __future__ import annotations

import os

import pytest
from lsprotocol import types as T
from pygls.uris import from_fs_path, to_fs_path
from pygls.workspace import Workspace

from hsl.check.checker import check_source
from hsl.lsp import actions as X


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def apply_text_edits(text: str, edits: list) -> str:
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)

    def off(p):
        return min(offsets[p.line] + p.character, len(text)) if p.line < len(lines) else len(text)

    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character),
                    reverse=True):
        text = text[:off(e.range.start)] + e.new_text + text[off(e.range.end):]
    return text


def apply(edit: T.WorkspaceEdit) -> None:
    """Apply a WorkspaceEdit to the files on disk, as an editor would."""
    for uri, edits in (edit.changes or {}).items():
        path = to_fs_path(uri)
        with open(path) as f:
            text = f.read()
        write(path, apply_text_edits(text, edits))
    for change in edit.document_changes or []:
        if isinstance(change, T.CreateFile):
            path = to_fs_path(change.uri)
            if not os.path.exists(path):
                write(path, "")
        else:
            path = to_fs_path(change.text_document.uri)
            with open(path) as f:
                text = f.read()
            write(path, apply_text_edits(text, change.edits))


class Project:
    def __init__(self, root):
        self.root = str(root)
        write(os.path.join(self.root, "smtpd-app.yaml"), "version: '6.0'\n")
        self.ws = Workspace(from_fs_path(self.root))

    def hook(self, text, rel="src/hooks/eod/default.hsl"):
        path = write(os.path.join(self.root, rel), text)
        return path

    def actions(self, path, line=None, edits=(True, True)):
        with open(path) as f:
            text = f.read()
        uri = from_fs_path(path)
        self.ws.put_text_document(T.TextDocumentItem(uri=uri, language_id="hsl", version=1,
                                                     text=text))
        doc = self.ws.get_text_document(uri)
        last = text.count("\n")
        rng = T.Range(T.Position(line if line is not None else 0, 0),
                      T.Position(line if line is not None else last, 0))
        return X.code_actions(self.ws, doc, T.CodeActionParams(
            text_document=T.TextDocumentIdentifier(uri), range=rng,
            context=T.CodeActionContext(diagnostics=[])), edits)

    def codes(self, path):
        with open(path) as f:
            text = f.read()
        return [d.code for d in X.check_document(path, text, [self.root])]


@pytest.fixture
def project(tmp_path):
    return Project(tmp_path / "proj")


def only(actions, start):
    got = [a for a in actions if a.title.startswith(start)]
    assert len(got) == 1, [a.title for a in actions]
    return got[0]


def test_did_you_mean_a_function(project):
    path = project.hook('echo str_uper("x");\n')
    assert project.codes(path) == ["HSL101"]
    got = project.actions(path)
    a = only(got, "Replace str_uper with str_upper")
    assert a.kind == T.CodeActionKind.QuickFix and a.diagnostics[0].code == "HSL101"
    assert a.is_preferred
    # a plugin may have that name too: offered second, not preferred
    assert [x.title for x in got] == ["Replace str_uper with str_upper",
                                      "Declare str_uper as a plugin function in plugins.yaml"]
    apply(a.edit)
    assert open(path).read() == 'echo str_upper("x");\n'
    assert project.codes(path) == []


def test_did_you_mean_a_method(project):
    path = project.hook('$m = Map();\n$m->sett("a", 1);\n')
    assert "HSL105" in project.codes(path)
    a = only(project.actions(path, 1), "Replace sett with set")
    apply(a.edit)
    assert open(path).read() == '$m = Map();\n$m->set("a", 1);\n'
    assert "HSL105" not in project.codes(path)


def test_did_you_mean_a_user_function(project):
    path = project.hook('function lookup_score($x) { return $x; }\necho lookup_scor(1);\n')
    assert project.codes(path) == ["HSL101"]
    apply(only(project.actions(path), "Replace lookup_scor with lookup_score").edit)
    assert project.codes(path) == []


@pytest.mark.parametrize("call, fixed", [
    ('strlen("abc")', 'length("abc")'),
    ('explode(",", "a,b")', 'str_split("a,b", ",")'),          # the argument order
    ('implode(",", ["a", "b"])', 'array_join(["a", "b"], ",")'),
    ('dnsa("example.com")', 'dns_query("example.com", ["type" => "a"])'),
    ('str_tolower($s)', 'str_lower($s)'),
])
def test_legacy_functions_are_rewritten(project, call, fixed):
    path = project.hook(f'$s = "X";\necho {call};\n')
    before = project.codes(path)
    assert before and before[0] in ("HSL701", "HSL702")
    name = call.split("(")[0]
    a = only(project.actions(path, 1), f"Replace {name}()")
    apply(a.edit)
    assert open(path).read() == f'$s = "X";\necho {fixed};\n'
    assert project.codes(path) == []


def test_legacy_without_a_mechanical_rewrite_gets_no_action(project):
    # array_push($a, $v) becomes `$a[] = $v`: not a call of the same arguments
    path = project.hook('$a = [];\narray_push($a, 1);\n')
    assert project.codes(path)
    assert not [a for a in project.actions(path) if a.title.startswith("Replace")]
    assert X.legacy_rewrite("array_key_exists", ["$k", "$a"]) is None
    assert X.legacy_rewrite("substr", ['"abc"', "1"]) == 'str_slice("abc", 1)'
    assert X.legacy_rewrite("explode", ['","']) is None


def test_declare_a_plugin_function_creates_the_file_and_the_setting(project):
    path = project.hook('$ip = "192.0.2.1";\nif (ip_list_lookup("bl", $ip)) { echo 1; }\n')
    assert project.codes(path) == ["HSL101"]
    a = only(project.actions(path), "Declare ip_list_lookup as a plugin function in plugins.yaml")
    apply(a.edit)
    with open(os.path.join(project.root, "plugins.yaml")) as f:
        assert "functions:\n  ip_list_lookup:\n    params: [arg1, ip]\n" in f.read()
    with open(os.path.join(project.root, ".hslcheck.toml")) as f:
        assert f.read() == 'plugins = ["plugins.yaml"]\n'
    assert project.codes(path) == []
    # the declaration has the call's arity: a call with three arguments is now HSL201
    path2 = project.hook('ip_list_lookup(1, 2, 3);\n', "src/hooks/rcptto/x.hsl")
    assert project.codes(path2) == ["HSL201"]


def test_declare_into_the_configured_plugins_file(project):
    write(os.path.join(project.root, ".hslcheck.toml"), 'plugins = ["conf/plugins.yaml"]\n')
    write(os.path.join(project.root, "conf/plugins.yaml"),
          "# ours\nfunctions:\n    known:\n        params: [x]\nclasses:\n    LDAP: {}\n")
    path = project.hook("known(1);\nscan_rpd(...[1, 2]);\n")
    assert project.codes(path) == ["HSL101"]
    apply(only(project.actions(path), "Declare scan_rpd as a plugin function").edit)
    with open(os.path.join(project.root, "conf/plugins.yaml")) as f:
        text = f.read()
    # under functions:, with the file's own indentation, any number of arguments (spread)
    assert text == ("# ours\nfunctions:\n    scan_rpd: {}\n    known:\n        params: [x]\n"
                    "classes:\n    LDAP: {}\n")
    with open(os.path.join(project.root, ".hslcheck.toml")) as f:
        assert f.read() == 'plugins = ["conf/plugins.yaml"]\n'
    assert project.codes(path) == []


def test_declare_within_what_the_client_can_edit(project):
    path = project.hook("dlp_scan();\n")
    # a client that cannot create files gets no action that needs to
    assert not [a for a in project.actions(path, edits=(True, False)) if "Declare" in a.title]
    assert not [a for a in project.actions(path, edits=(False, False)) if "Declare" in a.title]
    write(os.path.join(project.root, ".hslcheck.toml"), 'plugins = ["plugins.yaml"]\n')
    write(os.path.join(project.root, "plugins.yaml"), "functions:\n  known: {}\n")
    # files that exist: plain `changes` for a client without documentChanges
    a = only(project.actions(path, edits=(False, False)), "Declare dlp_scan")
    assert a.edit.document_changes is None and list(a.edit.changes) == [
        from_fs_path(os.path.join(project.root, "plugins.yaml"))]
    apply(a.edit)
    assert project.codes(path) == []


def test_declare_adds_the_setting_to_an_existing_configuration(project):
    write(os.path.join(project.root, ".hslcheck.toml"), 'no-warnings = true\n')
    write(os.path.join(project.root, "plugins.yaml"), "classes:\n  LDAP: {}\n")
    path = project.hook("dlp_scan();\n")
    apply(only(project.actions(path), "Declare dlp_scan").edit)
    with open(os.path.join(project.root, "plugins.yaml")) as f:
        assert f.read() == "classes:\n  LDAP: {}\nfunctions:\n  dlp_scan:\n    params: []\n"
    with open(os.path.join(project.root, ".hslcheck.toml")) as f:
        assert f.read() == 'plugins = ["plugins.yaml"]\nno-warnings = true\n'
    assert project.codes(path) == []


def test_no_actions_outside_the_range_or_for_other_kinds(project):
    path = project.hook('echo 1;\necho str_uper("x");\n')
    assert project.actions(path, 0) == []
    with open(path) as f:
        text = f.read()
    uri = from_fs_path(path)
    project.ws.put_text_document(T.TextDocumentItem(uri=uri, language_id="hsl", version=2,
                                                    text=text))
    doc = project.ws.get_text_document(uri)
    got = X.code_actions(project.ws, doc, T.CodeActionParams(
        text_document=T.TextDocumentIdentifier(uri),
        range=T.Range(T.Position(1, 0), T.Position(1, 5)),
        context=T.CodeActionContext(diagnostics=[], only=[T.CodeActionKind.Refactor])))
    assert got == []


def test_the_clients_diagnostic_is_linked(project):
    path = project.hook('echo str_uper("x");\n')
    uri = from_fs_path(path)
    with open(path) as f:
        project.ws.put_text_document(T.TextDocumentItem(uri=uri, language_id="hsl", version=1,
                                                        text=f.read()))
    sent = T.Diagnostic(range=T.Range(T.Position(0, 5), T.Position(0, 13)), message="m",
                        code="HSL101", source="hsl")
    got = X.code_actions(project.ws, project.ws.get_text_document(uri), T.CodeActionParams(
        text_document=T.TextDocumentIdentifier(uri),
        range=T.Range(T.Position(0, 6), T.Position(0, 6)),
        context=T.CodeActionContext(diagnostics=[sent])))
    assert got and got[0].diagnostics == [sent]


def test_checker_sees_the_unsaved_buffer():
    # check_document checks the text given, not the file
    diags = X.check_document("/nonexistent/x.hsl", 'echo str_uper("x");\n')
    assert [d.code for d in diags] == ["HSL101"]
    assert check_source('echo str_upper("x");\n', "/nonexistent/x.hsl") == []
