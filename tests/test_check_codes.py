"""The diagnostic codes of `hsl check` (issue 13 item 1): the README's table is the code
table (hsl/check/codes.py); every code in it is produced by at least one case below, each
kind of error gets the code of its own row, every code a raise site names is in the
table, and a code comes from where the error is raised, never from its message text."""
import ast
import re
from pathlib import Path

import pytest

import hsl.compiler.codegen
import hsl.syntax.parser
from hsl.check.checker import Options, check_source
from hsl.check.codes import CODES
from hsl.errors import Diagnostic

ROOT = Path(__file__).resolve().parent.parent

# Codes of the table that no check produces: the checker's own failure.
NOT_A_CHECK = {"HSL999"}


def readme_rows() -> list:
    """[(codes, severity)] of the README's table "Diagnostic codes", in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("Diagnostic codes (stable"):]
    table = table[:table.index("\n\n", table.index("| code |"))]
    rows = []
    for line in table.splitlines():
        m = re.match(r"\| (HSL\d{3}(?: / HSL\d{3})*) \| (error|warning)\*? \|", line)
        if m:
            rows.append((m.group(1).split(" / "), m.group(2)))
    return rows


def test_the_readme_table_is_the_code_table():
    rows = readme_rows()
    listed = [code for codes, _ in rows for code in codes]
    assert len(listed) == len(set(listed)), "a code in two rows of the README"
    assert {code: sev for codes, sev in rows for code in codes} == \
        {code: sev for code, (sev, _) in CODES.items() if code not in NOT_A_CHECK}
    titles = [title for _, title in CODES.values()]
    assert len(titles) == len(set(titles)), "two codes described alike"


# (expected code, main.hsl, other files, options): each case gives diagnostics of that
# code only. Where a row covers several kinds of error, each kind has a case.
_DEEP = "".join(f"if (true) {{ $v{i} = 1;\n" for i in range(70))
CASES = {
    "syntax": ("HSL001", "echo (1;\n", {}, {}),
    "syntax at end of file": ("HSL001", "echo 1 +", {}, {}),
    "unexpected character": ("HSL001", "echo 1 # 2;\n", {}, {}),
    "missing semicolon": ("HSL002", "$a = 1\necho $a;\n", {}, {}),
    "missing semicolon at end of file": ("HSL002", "echo 1", {}, {}),
    "unclosed brace": ("HSL003", "if (true) {\n  echo 1;\n", {}, {}),
    "unclosed bracket": ("HSL003", "$a = [1, 2\n", {}, {}),
    "bad escape": ("HSL004", 'echo "a\\qb";\n', {}, {}),
    "unterminated string": ("HSL004", 'echo "abc;\n', {}, {}),
    "unterminated comment": ("HSL004", "echo 1; /* never closed\n", {}, {}),
    "typographic quote": ("HSL004", "echo \u201cx\u201d;\n", {}, {}),
    "brackets nested too deeply": ("HSL005", "echo " + "(" * 1200 + "1" + ")" * 1200 + ";",
                                   {}, {}),
    "statements nested too deeply": ("HSL005", _DEEP + "}\n" * 70, {}, {}),
    "unknown function": ("HSL101", 'echo str_lowr("A");\n', {}, {}),
    "unknown function of a plugin": ("HSL101", "dlp_scan(1);\n", {}, {}),
    "builtin call of a plugin function": (
        "HSL101", "function f() { return builtin dlp_scan(1); }\necho f();\n", {}, {}),
    "unknown class": ("HSL102", "$x = Nope::make();\n", {}, {}),
    "undefined variable": ("HSL103", "function f() { return $nope; }\necho f();\n", {}, {}),
    "undefined static variable": (
        "HSL103", "class A { static $x = 1; }\necho A::$y;\n", {}, {}),
    "extras module": ("HSL104", 'import { f } from "extras://avro";\necho f("x");\n', {}, {}),
    "unknown method": ("HSL105", '$m = Map("string", "any");\n$m->sett("a", 1);\n', {}, {}),
    "arity of a builtin": ("HSL201", 'echo str_replace("a", "b");\n', {}, {}),
    "arity of a user function": ("HSL201", "function f($a) { return $a; }\necho f();\n", {}, {}),
    "arity of a method": ("HSL201", '$s = Set("number");\n$s->add(1, 2);\n', {}, {}),
    "read-only variable": ("HSL301", "$connection = [];\n", {}, {}),
    "import of a read-only variable": (
        "HSL301", 'import { $connection } from "lib.hsl";\n', {"lib.hsl": "$connection = 1;\n"},
        {}),
    "hook function outside its hook": ("HSL302", "Accept();\n", {}, {}),
    "break outside a loop": ("HSL401", "break;\n", {}, {}),
    "continue outside a loop": ("HSL402", "continue;\n", {}, {}),
    "top-level return": ("HSL403", "echo 1;\nreturn;\n", {}, {}),
    "duplicate function": ("HSL501", "function f() {}\nfunction f() {}\n", {}, {}),
    "duplicate class": ("HSL501", "class A {}\nclass A {}\n", {}, {}),
    "duplicate member": ("HSL501", "class A { function f() {} function f() {} }\n", {}, {}),
    "duplicate parameter": ("HSL501", "function f($a, $a) {}\n", {}, {}),
    "second constructor": (
        "HSL501", "class A { constructor() {} constructor() {} }\n", {}, {}),
    "second default in switch": (
        "HSL501", "switch (1) { default: echo 1; default: echo 2; }\n", {}, {}),
    "second default in match": (
        "HSL501", "echo match (1) { default => 1, default => 2 };\n", {}, {}),
    "include not found": ("HSL502", 'include "nope.hsl";\n', {}, {}),
    "name not exported": (
        "HSL503", 'import { helpr } from "lib.hsl";\n', {"lib.hsl": "function helper() {}\n"}, {}),
    "import not at top level": ("HSL504", 'if (true) { import { f } from "x.hsl"; }\n', {}, {}),
    "include cycle": ("HSL504", 'include "a.hsl";\n', {"a.hsl": 'include "a.hsl";\n'}, {}),
    "import clash": (
        "HSL504", '$v = 2;\nimport { $v } from "lib.hsl";\necho $v;\n', {"lib.hsl": "$v = 1;\n"},
        {}),
    "data file not found": ("HSL505", 'import $cert from "test.crt";\necho $cert;\n', {}, {}),
    "read where no path set it": ("HSL601", "echo $x;\n$x = 1;\n", {}, {}),
    "unreachable code": ("HSL602", 'function f() { return 1; echo "dead"; }\n', {}, {}),
    "function HSL no longer has": ("HSL701", 'echo implode(",", [1]);\n', {}, {}),
    "function HSL still runs": ("HSL702", 'echo strlen("abc");\n', {}, {}),
    "other compile-time error": ("HSL900", "global $x;\n", {}, {}),
    "invalid regular expression": ("HSL900", 'echo "a" =~ #/(/;\n', {}, {}),
}


def run_case(tmp_path, case) -> list:
    _, main, files, options = case
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    path = tmp_path / "main.hsl"
    path.write_text(main, encoding="utf-8")
    return check_source(main, str(path), Options(**options))


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_kind_of_error_has_the_code_of_its_row(tmp_path, name):
    found = run_case(tmp_path, CASES[name])
    assert found and {d.code for d in found} == {CASES[name][0]}, \
        [(d.code, d.message) for d in found]


def test_every_code_of_the_readme_is_produced(tmp_path):
    produced = set()
    for i, case in enumerate(CASES.values()):
        folder = tmp_path / str(i)
        folder.mkdir()
        produced |= {d.code for d in run_case(folder, case)}
    assert produced == {code for codes, _ in readme_rows() for code in codes}


# ------------------------------------------------------------------ raise sites

def _code_constants(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                re.fullmatch(r"HSL\d{3}", node.value):
            yield node.value, node.lineno


def test_every_code_a_raise_site_names_is_in_the_table():
    """... and every code of the table is named by a raise site."""
    named = set()
    table = ROOT / "hsl" / "check" / "codes.py"
    for path in sorted(p for p in (ROOT / "hsl").rglob("*.py") if p != table):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for code, line in _code_constants(tree):
            assert code in CODES, f"{path.relative_to(ROOT)}:{line}: {code}"
            named.add(code)
    assert named == set(CODES)


# ------------------------------------------------------------------ rewording

@pytest.fixture
def reworded(monkeypatch):
    """Every message of the parser and the compiler replaced by the same text."""
    real_init = hsl.compiler.codegen.CompileError.__init__

    def compile_error(self, node, message, *args, **kw):
        real_init(self, node, "reworded", *args, **kw)

    def diagnostic(filename, line, column, message, *args, **kw):
        return Diagnostic(filename, line, column, "syntax error: reworded", *args, **kw)

    monkeypatch.setattr(hsl.compiler.codegen.CompileError, "__init__", compile_error)
    monkeypatch.setattr(hsl.syntax.parser, "Diagnostic", diagnostic)


@pytest.mark.parametrize("name", sorted(CASES))
def test_rewording_a_message_never_changes_its_code(tmp_path, reworded, name):
    found = run_case(tmp_path, CASES[name])
    assert found and {d.code for d in found} == {CASES[name][0]}


def test_the_rewording_reaches_both_stages(tmp_path, reworded):
    assert [d.message for d in run_case(tmp_path, CASES["syntax"])] == ["syntax error: reworded"]
    assert [d.message for d in run_case(tmp_path, CASES["unknown class"])] == ["reworded"]


def test_words_of_other_checks_in_a_message_do_not_change_its_code(tmp_path):
    # A path, a string or a name may read like another check's message.
    assert [d.code for d in run_case(tmp_path, (None, 'include "undefined variable.hsl";\n',
                                                {}, {}))] == ["HSL502"]
    assert [d.code for d in run_case(tmp_path, (None, 'echo 1 "an unterminated escape";\n',
                                                {}, {}))] == ["HSL002"]
    assert [d.code for d in run_case(tmp_path, (None, "echo 1\n$unterminated = 2;\n",
                                                {}, {}))] == ["HSL002"]


def test_the_parser_gives_the_related_places(tmp_path):
    [d] = run_case(tmp_path, (None, "if (true) {\n  echo [1,\n 2];\n", {}, {}))
    assert (d.code, d.hint) == ("HSL003", "unclosed `{` opened at 1:11")
    assert [(r.line, r.column) for r in d.related] == [(1, 11)]
    # The previous statement ends before its trailing comment.
    [d] = run_case(tmp_path, (None, "$a = 1 // one\necho $a;\n", {}, {}))
    assert d.hint == "missing `;` after the previous statement (it ends at 1:7)"
    assert [(r.line, r.column) for r in d.related] == [(1, 7)]

