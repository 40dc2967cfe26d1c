"""hsl/lsp/symbols.py: definitions, references, rename, symbols, links and folding over a
Halon project layout (hooks, src/files, includes, imports), with shadowing and a file
with syntax errors.  The feature functions run on a real pygls Workspace."""
from __future__ import annotations

import os
import textwrap

import pytest
from lsprotocol import types as T
from pygls.uris import from_fs_path
from pygls.workspace import Workspace

from hsl.lsp import symbols as S

LIB = """\
// shared helpers
// for every hook
function helper($x) {
    global $counter;
    $counter += 1;
    return $x . $suffix;
}
$shared = "s";
"""

MOD = """\
$limit = 10;
function score($n) { return $n * 2; }
"""

EOD = """\
include "file:lib.hsl";
import { score as rate, $limit } from "file:mod.hsl";
import * as m from "file:mod.hsl";
$counter = 0;
$out = helper("a");
function local($a) {
    $b = $a;
    $f = function () closure ($b) { return $b; };
    return $f();
}
class Box {
    private $items = [];
    function add($x) { $this->items[] = $x; return $this; }
    static function make() { return Box(); }
}
$box = Box(); $made = Box::make();
$box->add(1);
$shared = $shared . "x";
echo rate(1) . m::score(2) . $limit . "$out";
echo local(1) strlen("x");
$after = length($out) . $arguments["x"];
function other($a) { return $a; }
"""

RCPT = """\
include "file:lib.hsl";
$out = helper("b");
"""


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


@pytest.fixture
def project(tmp_path):
    root = str(tmp_path / "proj")
    files = {
        "lib": write(root, "src/files/lib.hsl", LIB),
        "mod": write(root, "src/files/mod.hsl", MOD),
        "eod": write(root, "src/hooks/eod/default.hsl", EOD),
        "rcpt": write(root, "src/hooks/rcptto/x.hsl", RCPT),
    }
    write(root, "smtpd-app.yaml", "version: '6.0'\n")
    ws = Workspace(from_fs_path(root))
    return root, ws, files


def open_doc(ws, path, text=None):
    if text is None:
        with open(path) as f:
            text = f.read()
    uri = from_fs_path(path)
    ws.put_text_document(T.TextDocumentItem(uri=uri, language_id="hsl", version=1, text=text))
    return ws.get_text_document(uri)


def pos_of(text, needle, nth=0, offset=1):
    """The LSP position `offset` characters into the nth occurrence of `needle`."""
    i = -1
    for _ in range(nth + 1):
        i = text.index(needle, i + 1)
    i += offset
    line = text.count("\n", 0, i)
    return T.Position(line=line, character=i - (text.rfind("\n", 0, i) + 1))


def tdi(doc):
    return T.TextDocumentIdentifier(uri=doc.uri)


def defs(ws, doc, pos):
    got = S.definition(ws, doc, T.DefinitionParams(tdi(doc), pos)) or []
    return [(loc.uri, loc.range.start.line, loc.range.start.character) for loc in got]


def refs(ws, doc, pos, decl=True):
    got = S.references(ws, doc, T.ReferenceParams(text_document=tdi(doc), position=pos,
                                                      context=T.ReferenceContext(decl)))
    return sorted((loc.uri, loc.range.start.line, loc.range.start.character)
                  for loc in got or [])


def rename_edits(ws, doc, pos, new):
    edit = S.rename(ws, doc, T.RenameParams(tdi(doc), pos, new))
    return {uri: sorted((e.range.start.line, e.range.start.character, e.range.end.character,
                         e.new_text) for e in edits) for uri, edits in edit.changes.items()}


U = from_fs_path


# ------------------------------------------------------------------ definition

def test_definition_of_an_included_function_and_of_a_path(project):
    root, ws, f = project
    doc = open_doc(ws, f["eod"])
    assert defs(ws, doc, pos_of(EOD, "helper(")) == [(U(f["lib"]), 2, 9)]
    assert defs(ws, doc, pos_of(EOD, '"file:lib.hsl"')) == [(U(f["lib"]), 0, 0)]


def test_definition_through_imports_alias_and_namespace(project):
    root, ws, f = project
    doc = open_doc(ws, f["eod"])
    # rate is `score as rate`: the module's score
    assert defs(ws, doc, pos_of(EOD, "rate(1)")) == [(U(f["mod"]), 1, 9)]
    assert defs(ws, doc, pos_of(EOD, "score(2)")) == [(U(f["mod"]), 1, 9)]
    assert defs(ws, doc, pos_of(EOD, "$limit .")) == [(U(f["mod"]), 0, 0)]
    assert defs(ws, doc, pos_of(EOD, "m::")) == [(U(f["mod"]), 0, 0)]


def test_definition_of_locals_closures_classes_and_methods(project):
    root, ws, f = project
    doc = open_doc(ws, f["eod"])
    # $b inside the closure is the creating function's $b (captured)
    assert defs(ws, doc, pos_of(EOD, "$b; }")) == [(U(f["eod"]), 6, 4)]
    # a parameter
    assert defs(ws, doc, pos_of(EOD, "$a;")) == [(U(f["eod"]), 5, 15)]
    # the class, its method through `$box = Box()`, and `$this->items`
    assert defs(ws, doc, pos_of(EOD, "Box::")) == [(U(f["eod"]), 10, 6)]
    assert defs(ws, doc, pos_of(EOD, "add(1)")) == [(U(f["eod"]), 12, 13)]
    assert defs(ws, doc, pos_of(EOD, "items[]")) == [(U(f["eod"]), 11, 12)]
    assert defs(ws, doc, pos_of(EOD, "make()", 1)) == [(U(f["eod"]), 13, 20)]


def test_global_statement_reaches_the_including_files_variable(project):
    root, ws, f = project
    doc = open_doc(ws, f["lib"])
    # lib's `global $counter` is the $counter the including hook assigns
    got = refs(ws, doc, pos_of(LIB, "$counter;"))
    assert (U(f["eod"]), 3, 0) in got and (U(f["lib"]), 4, 4) in got


def test_builtins_and_hook_variables_have_no_definition(project):
    root, ws, f = project
    doc = open_doc(ws, f["eod"])
    assert defs(ws, doc, pos_of(EOD, "length(")) == []
    assert defs(ws, doc, pos_of(EOD, "$arguments")) == []


# ------------------------------------------------------------------ references, rename

def test_shadowing_a_parameter_is_not_the_global(project):
    root, ws, f = project
    doc = open_doc(ws, f["eod"])
    # $a of local() and $a of other() are different variables
    got = refs(ws, doc, pos_of(EOD, "$a) {"))
    assert got == [(U(f["eod"]), 5, 15), (U(f["eod"]), 6, 9)]
    # $x of helper() in lib is not Box::add's $x
    got = refs(ws, doc, pos_of(EOD, "$x) {"))
    assert got == [(U(f["eod"]), 12, 17), (U(f["eod"]), 12, 40)]


def test_a_global_is_shared_only_through_a_file_that_mentions_it(project):
    root, ws, f = project
    doc = open_doc(ws, f["eod"])
    # $out in the eod hook and in the rcptto hook: both include lib.hsl, which does not
    # mention $out, so they are two variables
    got = refs(ws, doc, pos_of(EOD, "$out ="))
    assert {u for u, _, _ in got} == {U(f["eod"])}
    assert len(got) == 3            # the assignment, "$out" in the string, length($out)
    # $shared is lib's: the hook's two uses and lib's assignment
    got = refs(ws, doc, pos_of(EOD, "$shared ="))
    assert got == sorted([(U(f["lib"]), 7, 0), (U(f["eod"]), 17, 0), (U(f["eod"]), 17, 10)])


def test_references_without_declarations(project):
    root, ws, f = project
    doc = open_doc(ws, f["eod"])
    got = refs(ws, doc, pos_of(EOD, "helper("), decl=False)
    assert got == sorted([(U(f["eod"]), 4, 7), (U(f["rcpt"]), 1, 7)])


def test_rename_a_user_function_across_including_files(project):
    root, ws, f = project
    doc = open_doc(ws, f["eod"])
    edits = rename_edits(ws, doc, pos_of(EOD, "helper("), "assist")
    assert edits == {U(f["lib"]): [(2, 9, 15, "assist")],
                     U(f["eod"]): [(4, 7, 13, "assist")],
                     U(f["rcpt"]): [(1, 7, 13, "assist")]}


def test_rename_an_imported_function_changes_the_module_not_the_alias(project):
    root, ws, f = project
    doc = open_doc(ws, f["mod"])
    edits = rename_edits(ws, doc, pos_of(MOD, "score("), "grade")
    # the declaration, `import { score as rate }` and `m::score`; not the uses of rate
    assert edits == {U(f["mod"]): [(1, 9, 14, "grade")],
                     U(f["eod"]): [(1, 9, 14, "grade"), (18, 18, 23, "grade")]}


def test_rename_a_variable_keeps_dollar_and_interpolation(project):
    root, ws, f = project
    doc = open_doc(ws, f["eod"])
    edits = rename_edits(ws, doc, pos_of(EOD, "$out ="), "$result")
    assert edits == {U(f["eod"]): [(4, 1, 4, "result"), (18, 40, 43, "result"),
                                   (20, 17, 20, "result")]}


def test_rename_a_captured_variable_renames_both_scopes(project):
    root, ws, f = project
    doc = open_doc(ws, f["eod"])
    edits = rename_edits(ws, doc, pos_of(EOD, "$b; }"), "kept")
    assert edits == {U(f["eod"]): [(6, 5, 6, "kept"), (7, 31, 32, "kept"),
                                   (7, 44, 45, "kept")]}


def test_closures_and_destructuring(project):
    root, ws, f = project
    text = ("function outer($v) {\n"
            "    $g = function () { return function () closure ($v) { return $v; }; };\n"
            "    [...$rest] = [1];\n"
            "    return $rest;\n"
            "}\n")
    path = write(root, "src/files/cl.hsl", text)
    doc = open_doc(ws, path, text)
    # the inner closure captures the outer function's $v?  No: the middle function has
    # no `closure`, so the inner one captures the middle function's $v (a new variable)
    got = refs(ws, doc, pos_of(text, "$v) {"))
    assert got == [(U(path), 0, 15)]
    assert defs(ws, doc, pos_of(text, "$rest;")) == [(U(path), 2, 8)]


def test_members_through_functions_and_aliases(project):
    root, ws, f = project
    write(root, "src/files/k.hsl", "class Kit { function go() {} }\n")
    text = ('import { Kit as K } from "file:k.hsl";\n'
            "function make() { return 1; }\n"
            "$k = K();\n$k->go();\n"
            "$m = make();\n$m->go();\n")
    path = write(root, "src/hooks/eod/m.hsl", text)
    doc = open_doc(ws, path, text)
    kit = (U(os.path.join(root, "src/files/k.hsl")), 0, 21)
    # K is `Kit as K`: its method is Kit's
    assert defs(ws, doc, pos_of(text, "go();")) == [kit]
    # make() is a function, not a class: $m's class is not known, so every go()
    assert defs(ws, doc, pos_of(text, "go();", 1)) == [kit]
    got = refs(ws, doc, pos_of(text, "go();"))
    assert (U(path), 3, 4) in got and kit in got


def test_prepare_rename_refuses_builtins_keywords_and_hook_variables(project):
    root, ws, f = project
    doc = open_doc(ws, f["eod"])

    def prep(pos):
        return S.prepare_rename(ws, doc, T.PrepareRenameParams(tdi(doc), pos))

    assert prep(pos_of(EOD, "length(")) is None
    assert prep(pos_of(EOD, "include")) is None
    assert prep(pos_of(EOD, "$arguments")) is None
    assert prep(pos_of(EOD, "$this->")) is None
    got = prep(pos_of(EOD, "helper("))
    assert got.placeholder == "helper" and got.range.start == T.Position(4, 7)
    got = prep(pos_of(EOD, "$box ="))
    assert got.placeholder == "box" and got.range.start == T.Position(15, 1)


def test_rename_refuses_bad_names(project):
    root, ws, f = project
    doc = open_doc(ws, f["eod"])
    with pytest.raises(S.RenameError, match="keyword"):
        S.rename(ws, doc, T.RenameParams(tdi(doc), pos_of(EOD, "helper("), "while"))
    with pytest.raises(S.RenameError, match="not a valid name"):
        S.rename(ws, doc, T.RenameParams(tdi(doc), pos_of(EOD, "$box ="), "$1x"))
    with pytest.raises(S.RenameError, match="already declared"):
        S.rename(ws, doc, T.RenameParams(tdi(doc), pos_of(EOD, "local("), "other"))
    with pytest.raises(S.RenameError):
        S.rename(ws, doc, T.RenameParams(tdi(doc), pos_of(EOD, "length("), "size"))
    # two variables of one scope would become one
    with pytest.raises(S.RenameError, match="already a variable"):
        S.rename(ws, doc, T.RenameParams(tdi(doc), pos_of(EOD, "$b = $a"), "$f"))
    with pytest.raises(S.RenameError, match="already a variable"):
        S.rename(ws, doc, T.RenameParams(tdi(doc), pos_of(EOD, "$box ="), "$out"))
    # ... but a name of another scope is free
    assert S.rename(ws, doc, T.RenameParams(tdi(doc), pos_of(EOD, "$b = $a"), "$out"))


def test_unsaved_text_is_what_is_indexed(project):
    root, ws, f = project
    text = LIB.replace("function helper(", "function helper2(")
    open_doc(ws, f["lib"], text)
    doc = open_doc(ws, f["eod"])
    # the buffer of lib.hsl (helper2), not the file on disk (helper)
    assert defs(ws, doc, pos_of(EOD, "helper(")) == []


# ------------------------------------------------------------------ syntax errors

def test_a_file_with_syntax_errors_keeps_the_statements_that_parsed(project):
    root, ws, f = project
    doc = open_doc(ws, f["eod"])
    # line 20 (`echo local(1) strlen("x");`) is a syntax error: the rest still works
    assert S.FileIndex(f["eod"], EOD).diagnostics
    assert defs(ws, doc, pos_of(EOD, "$out)")) == [(U(f["eod"]), 4, 0)]
    assert defs(ws, doc, pos_of(EOD, "$a; }")) == [(U(f["eod"]), 21, 15)]


def test_half_typed_code_with_an_unclosed_brace(project):
    root, ws, f = project
    text = "function helper2($p) {\n    $q = $p;\n    return $q"
    path = write(root, "src/hooks/eod/typing.hsl", text)
    doc = open_doc(ws, path, text)
    assert defs(ws, doc, pos_of(text, "$q", 1)) == [(U(path), 1, 4)]
    names = [s.name for s in S.document_symbols(ws, doc)]
    assert names == ["helper2"]


def test_an_error_inside_an_unclosed_block(project):
    root, ws, f = project
    # a syntax error, then the end of the file inside the function's block
    text = "function helper3($p) {\n    $q = function x() {};\n    return $p;\n"
    path = write(root, "src/hooks/eod/typing2.hsl", text)
    doc = open_doc(ws, path, text)
    assert S.FileIndex(path, text).program is not None
    assert defs(ws, doc, pos_of(text, "$p;")) == [(U(path), 0, 17)]


def test_garbage_gives_nothing_not_an_error(project):
    root, ws, f = project
    for text in ["\x00\xff}}}{{", "function (", "'unterminated", "$", "class {", ""]:
        path = write(root, "src/hooks/eod/junk.hsl", text)
        doc = open_doc(ws, path, text)
        for line in range(2):
            for ch in range(4):
                p = T.Position(line, ch)
                S.definition(ws, doc, T.DefinitionParams(tdi(doc), p))
                S.references(ws, doc, T.ReferenceParams(text_document=tdi(doc), position=p,
                                                   context=T.ReferenceContext(True)))
                S.prepare_rename(ws, doc, T.PrepareRenameParams(tdi(doc), p))
        S.document_symbols(ws, doc)
        S.folding_ranges(ws, doc)
        S.document_links(ws, doc)


def test_an_include_cycle_is_indexed(project):
    root, ws, f = project
    a = write(root, "src/files/a.hsl", 'include "b.hsl";\nfunction fa() { return fb(); }\n')
    write(root, "src/files/b.hsl", 'include "a.hsl";\nfunction fb() { return fa(); }\n')
    doc = open_doc(ws, a)
    assert defs(ws, doc, pos_of(open(a).read(), "fb(")) == \
        [(U(os.path.join(root, "src/files/b.hsl")), 1, 9)]


# ------------------------------------------------------------------ symbols, links, folding

def test_document_symbols_are_hierarchical(project):
    root, ws, f = project
    doc = open_doc(ws, f["eod"])
    got = S.document_symbols(ws, doc)
    top = [(s.name, s.kind) for s in got]
    assert ("local", T.SymbolKind.Function) in top
    assert ("Box", T.SymbolKind.Class) in top
    assert ("m", T.SymbolKind.Namespace) in top
    assert ("$counter", T.SymbolKind.Variable) in top and ("$box", T.SymbolKind.Variable) in top
    box = next(s for s in got if s.name == "Box")
    assert [(c.name, c.kind) for c in box.children] == [
        ("$items", T.SymbolKind.Property), ("add", T.SymbolKind.Method),
        ("make", T.SymbolKind.Method)]
    assert box.children[1].detail == "($x)"
    assert box.selection_range.start == T.Position(10, 6)


def test_flat_symbols_for_clients_without_hierarchy(project):
    root, ws, f = project
    doc = open_doc(ws, f["eod"])
    flat = S.flat_symbols(S.document_symbols(ws, doc), doc.uri)
    add = next(s for s in flat if s.name == "add")
    assert add.container_name == "Box" and add.kind == T.SymbolKind.Method
    assert add.location.range.start == T.Position(12, 13)


def test_workspace_symbols(project):
    root, ws, f = project
    got = S.workspace_symbols(ws, T.WorkspaceSymbolParams(query="hlp"))
    assert [(s.name, s.location.uri) for s in got] == [("helper", U(f["lib"]))]
    got = S.workspace_symbols(ws, T.WorkspaceSymbolParams(query="make"))
    assert [(s.name, s.kind, s.container_name) for s in got] == [
        ("make", T.SymbolKind.Method, "Box")]


def test_document_links_on_include_and_import_paths(project):
    root, ws, f = project
    doc = open_doc(ws, f["eod"])
    got = [(l.target, l.range.start.line, l.range.start.character)
           for l in S.document_links(ws, doc)]
    assert got == [(U(f["lib"]), 0, 8), (U(f["mod"]), 1, 38), (U(f["mod"]), 2, 19)]


def test_an_include_path_not_found_has_no_link(project):
    root, ws, f = project
    text = 'include "nowhere.hsl";\n'
    path = write(root, "src/hooks/eod/missing.hsl", text)
    doc = open_doc(ws, path, text)
    assert S.document_links(ws, doc) == []
    assert defs(ws, doc, T.Position(0, 10)) == []


def test_include_folders_of_hslcheck_toml(project):
    root, ws, f = project
    write(root, "vendor/util.hsl", "function util() {}\n")
    write(root, ".hslcheck.toml", 'include = ["vendor"]\n')
    text = 'include "util.hsl";\nutil();\n'
    path = write(root, "src/hooks/eod/v.hsl", text)
    doc = open_doc(ws, path, text)
    assert defs(ws, doc, T.Position(1, 1)) == [(U(os.path.join(root, "vendor/util.hsl")), 0, 9)]


def test_include_folders_given_by_the_server(project):
    root, ws, f = project
    write(root, "other/dep.hsl", "function dep() {}\n")
    text = 'include "dep.hsl";\ndep();\n'
    path = write(root, "src/hooks/eod/d.hsl", text)
    doc = open_doc(ws, path, text)
    assert defs(ws, doc, T.Position(1, 1)) == []
    S.configure(ws, include_paths=[os.path.join(root, "other")])      # hsl lsp -I other
    assert defs(ws, doc, T.Position(1, 1)) == [(U(os.path.join(root, "other/dep.hsl")), 0, 9)]


@pytest.mark.parametrize("encoding, col", [(T.PositionEncodingKind.Utf16, 12),
                                           (T.PositionEncodingKind.Utf8, 15),
                                           (T.PositionEncodingKind.Utf32, 11)])
def test_positions_in_the_clients_encoding(tmp_path, encoding, col):
    text = '$e = "\U0001F600é"; $v = 1;\necho $v;\n'
    path = write(str(tmp_path), "p.hsl", text)
    ws = Workspace(from_fs_path(str(tmp_path)), position_encoding=encoding)
    doc = open_doc(ws, path, text)
    # $v on line 0 is at character 11; the emoji is 2 UTF-16 units, 4 UTF-8 bytes, é 2 bytes
    assert defs(ws, doc, T.Position(1, 6)) == [(U(path), 0, col)]
    got = refs(ws, doc, T.Position(0, col + 1))
    assert got == [(U(path), 0, col), (U(path), 1, 5)]


def test_folding_ranges(project):
    root, ws, f = project
    text = textwrap.dedent("""\
        include "file:lib.hsl";
        import { score } from "file:mod.hsl";
        // one
        // two
        // three
        function f($a) {
            if ($a) {
                echo 1;
            }
            return [
                1,
                2,
            ];
        }
        /* a
           b */
        """)
    path = write(root, "src/hooks/eod/fold.hsl", text)
    doc = open_doc(ws, path, text)
    got = sorted((r.start_line, r.end_line, r.kind) for r in S.folding_ranges(ws, doc))
    assert (0, 1, T.FoldingRangeKind.Imports) in got
    assert (2, 4, T.FoldingRangeKind.Comment) in got
    assert (14, 15, T.FoldingRangeKind.Comment) in got
    assert (5, 12, None) in got          # the function, its `}` left visible
    assert (6, 7, None) in got           # the if block
    assert (9, 11, None) in got          # the array literal
