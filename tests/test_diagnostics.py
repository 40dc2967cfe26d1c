"""What hsl prints about scripts and inputs it did not write (hsl/errors.py): source lines
only of HSL source in the checked tree, control characters escaped everywhere, lines
counted as the lexer counts them; and inputs whose shape would break hsl (deep nesting,
YAML alias bombs, lone surrogates) refused as clean errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hsl

ROOT = Path(__file__).resolve().parent.parent
SECRET = "hsl-test-secret-4f1d"
CONTROLS = [chr(c) for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]]


def hsl_cli(*args, cwd=None):
    # (the secret first: hsl used to show the first 100 characters of /proc/self/environ)
    env = {"HSL_TEST_SECRET": SECRET, **os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "hsl", *map(str, args)], cwd=cwd or ROOT,
                          env=env, capture_output=True, timeout=120)


def no_raw_controls(data: bytes) -> bool:
    text = data.decode("utf-8", "replace").replace("\n", "")
    return not any(c in text for c in CONTROLS)


# ------------------------------------------------------------------ which lines are shown

def test_lines_of_special_files_are_never_shown(tmp_path):
    # A script under check (an untrusted pull request in CI) includes the environment.
    (tmp_path / "a.hsl").write_text('include "/proc/self/environ";\n')
    for cmd in (["check"], ["check", "--format", "github"], ["run"]):
        r = hsl_cli(*cmd, tmp_path / "a.hsl")
        assert r.returncode == 1
        assert b"/proc/self/environ" in r.stdout + r.stderr          # the diagnostic
        assert SECRET.encode() not in r.stdout + r.stderr, cmd


def test_check_shows_lines_only_of_files_in_the_named_trees(tmp_path):
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    tree.mkdir()
    outside.mkdir()
    (outside / "lib.hsl").write_text(f"$x = ; // {SECRET}\n")    # a syntax error
    (tree / "a.hsl").write_text('include "../outside/lib.hsl";\n')
    (tree / "link.hsl").symlink_to(outside / "lib.hsl")         # inside, pointing out
    r = hsl_cli("check", tree)
    assert r.returncode == 1 and b"/lib.hsl:1:6: error" in r.stdout
    assert b"/link.hsl:1:6: error" in r.stdout
    assert SECRET.encode() not in r.stdout
    # Named on the command line, by itself or with -I: shown.
    for extra in ([outside / "lib.hsl"], ["-I", outside]):
        r = hsl_cli("check", tree, *extra)
        assert f"  $x = ; // {SECRET}".encode() in r.stdout, extra


def test_lines_are_shown_only_of_utf8_text(tmp_path):
    for name, data in [("nul.hsl", b"echo 1 \x00 2;\n"), ("latin1.hsl", b'echo "\xe9" 2;\n')]:
        (tmp_path / name).write_bytes(data)
        r = hsl_cli("check", tmp_path / name)
        assert r.returncode == 1 and b"error" in r.stdout and b"echo" not in r.stdout
    (tmp_path / "ok.hsl").write_bytes('echo "é" 2;\n'.encode())
    r = hsl_cli("check", tmp_path / "ok.hsl")
    assert '  echo "é" 2;\n'.encode() in r.stdout


# ------------------------------------------------------------------ control characters

def test_escape_controls():
    from hsl.errors import escape_controls
    assert escape_controls("a\x1b[2Jb\tc\n\r\x7f\x9b\udcff\ud800é") == \
        "a\\x1b[2Jb\tc\\n\\r\\x7f\\x9b\\xff\\ud800é"
    assert all(escape_controls(c) != c for c in CONTROLS)


def test_control_characters_in_sources_and_messages_are_escaped(tmp_path):
    osc52 = "\x1b]52;c;aGk=\x07"
    (tmp_path / "c.hsl").write_text(f'echo "\x1b[2J{osc52}";\ninclude "\x9b{osc52}";\n')
    (tmp_path / "r.hsl").write_text(f'function f() {{ throw "\x1b[2J{osc52}"; }}\nf();\n')
    (tmp_path / "h.hsl").write_text(f'if ($arguments["host"] == "{osc52}") Reject("\x9b2J");\n'
                                    'Reject("\x9b2J");\n')
    runs = [("check", tmp_path / "c.hsl"), ("check", "--format", "github", tmp_path / "c.hsl"),
            ("run", tmp_path / "c.hsl"), ("run", tmp_path / "r.hsl"),
            ("run", "--hook", "helo", "--trace", tmp_path / "h.hsl"),
            ("run", "--hook", "helo", tmp_path / "h.hsl", "--session", f"{osc52}.yaml"),
            ("check", tmp_path / "c.hsl", tmp_path / f"{osc52}.hsl")]
    for args in runs:
        r = hsl_cli(*args)
        assert no_raw_controls(r.stdout) and no_raw_controls(r.stderr), args
        assert b"\\x1b]52;c;aGk=\\x07" in r.stdout + r.stderr, args
    r = hsl_cli("check", "--format", "json", tmp_path / "c.hsl")
    assert no_raw_controls(r.stdout)
    assert any(osc52 in d["message"] for d in json.loads(r.stdout))


def test_repl_shows_the_error_under_the_input_escaped():
    from hsl.repl.engine import Engine
    shown = []
    assert not Engine(write=shown.append).execute('include "\x1b[2J";')
    text = "\n".join(shown)
    assert "\x1b" not in text and "\\x1b[2J" in text


def test_caret_stays_under_the_column_when_characters_are_escaped():
    from hsl.errors import Diagnostic
    d = Diagnostic("t.hsl", 1, 7, "here", end_line=1, end_column=9)    # the two ESCs
    assert d.render('echo "\x1b\x1b" 1;\n').split("\n")[1:] == [
        '  echo "\\x1b\\x1b" 1;',
        " " * 8 + "^" + "~" * 7]
    d = Diagnostic("t.hsl", 1, 11, "here")
    assert d.render('echo "\x1b\x1b" 1;\n').split("\n")[2] == " " * 18 + "^"


def test_cr_only_line_endings_are_counted_as_the_lexer_counts_them():
    src = "echo 1;\r$x = ;\r"
    with pytest.raises(hsl.HSLSyntaxError) as e:
        hsl.compile(src)
    assert (e.value.line, e.value.column) == (1, 14)      # CR alone does not end a line
    shown = e.value.render().split("\n")[1:]
    assert shown == ["  echo 1;\\r$x = ;", "                ^"]
    # CRLF: the CR is not shown.
    with pytest.raises(hsl.HSLSyntaxError) as e:
        hsl.compile("echo 1;\r\n$x = ;\r\n")
    assert (e.value.line, e.value.column) == (2, 6)
    assert e.value.render().split("\n")[1:] == ["  $x = ;", "       ^"]


# ------------------------------------------------------------------ inputs that break hsl

def test_lone_surrogates_through_the_api_are_syntax_errors():
    for src in ['echo "\ud800";', "echo #/\udfff/;", "echo ''\udbff'';", 'include "\ud800";',
                "$x = 1;\n// \ud800"]:
        for fn in (hsl.parse, hsl.compile):
            with pytest.raises(hsl.HSLSyntaxError) as e:
                fn(src)
            assert "lone surrogate" in e.value.message and e.value.line >= 1
    # U+DC80..U+DCFF are bytes that were not UTF-8, as hsl reads files: still bytes.
    out = []
    hsl.compile('echo "\udcff";').run(output=out.append, raw_output=True)
    assert out == [b"\xff"]


BOMB = """\
a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
context: *i
"""


@pytest.mark.parametrize("name, text, message", [
    ("bomb.yaml", BOMB, "bomb.yaml:6:8: aliases expand to more than 100000 values"),
    ("self.yaml", "context: &x [1, *x]\n", "self.yaml:1:17: alias *x refers to a value"),
    ("deep.yaml", "context: " + "[" * 500 + "]" * 500 + "\n",
     "deep.yaml:1:109: lists and mappings nested deeper than 100 levels"),
    ("deep.json", '{"context": ' + "[" * 500 + "]" * 500 + "}",
     "deep.json:1:112: lists and mappings nested deeper than 100 levels"),
], ids=["alias-bomb", "recursive-alias", "deep-yaml", "deep-json"])
def test_session_files_beyond_the_bounds_are_usage_errors(tmp_path, name, text, message):
    (tmp_path / "h.hsl").write_text("Accept();\n")
    (tmp_path / name).write_text(text)
    r = hsl_cli("run", "--hook", "helo", tmp_path / "h.hsl", "--session", tmp_path / name)
    assert r.returncode == 2 and message.encode() in r.stderr, r.stderr
    assert b"Traceback" not in r.stderr and r.stdout == b""


def test_context_option_beyond_the_nesting_bound_is_a_usage_error(tmp_path):
    (tmp_path / "h.hsl").write_text("Accept();\n")
    r = hsl_cli("run", "--hook", "helo", tmp_path / "h.hsl", "--context", "[" * 500 + "]" * 500)
    assert r.returncode == 2
    assert b"--context:1:101: lists and mappings nested deeper than 100 levels" in r.stderr
    r = hsl_cli("run", "--hook", "helo", tmp_path / "h.hsl", "--json",
                "--context", "[" * 100 + "]" * 100)
    assert r.returncode == 0 and json.loads(r.stdout)["decision"] == "accept"
