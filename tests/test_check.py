"""`hsl check`: one test per diagnostic code (a positive and a negative case), the output
formats, exit codes, summary line, directory recursion, hook phases, configuration files and
scripts that must check clean."""
import argparse
import json
import os
import subprocess
import sys
import textwrap

import pytest

import hsl

import hsl.check as check
from hsl.check.checker import Options, check_source

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def diags(src, filename="t.hsl", **opts):
    return check_source(textwrap.dedent(src), filename, Options(**opts))


def codes(src, **opts):
    return [d.code for d in diags(src, **opts)]


def run(*argv, cwd=None):
    """`hsl check ARGV` in-process: (exit status, stdout, stderr)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout
    p = argparse.ArgumentParser(prog="hsl check")
    check.add_arguments(p)
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    try:
        if cwd:
            os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            status = check.main(p.parse_args([str(a) for a in argv]))
    finally:
        os.chdir(old)
    return status, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------ syntax

def test_hsl001_syntax_error():
    assert codes("echo (1;\n") == ["HSL001"]
    assert codes("echo (1);\n") == []


def test_hsl002_missing_semicolon_with_hint_pointing_at_previous_statement():
    [d] = diags('$a = 1\necho $a;\n')
    assert d.code == "HSL002" and (d.line, d.column) == (2, 1)
    assert "missing `;` after the previous statement" in d.hint and "1:7" in d.hint
    assert codes('$a = 1;\necho $a;\n') == []


def test_hsl003_unclosed_brace_names_where_it_was_opened():
    [d] = diags('function f() {\n  if (true) {\n    echo 1;\n}\n')
    assert d.code == "HSL003"
    assert d.hint == "unclosed `{` opened at 1:14"
    assert codes('function f() {\n  if (true) {\n    echo 1;\n}\n}\n') == []


def test_hsl004_bad_escape_and_unterminated_string():
    assert codes(r'echo "a\qb";') == ["HSL004"]
    assert codes('echo "abc;\n') == ["HSL004"]
    assert codes(r'echo "a\nb";') == []


def test_hsl005_nesting_too_deep():
    assert codes("echo " + "(" * 1200 + "1" + ")" * 1200 + ";") == ["HSL005"]
    assert codes("echo " + "(" * 20 + "1" + ")" * 20 + ";") == []


def test_several_syntax_errors_without_cascade():
    src = """\
    function a() { echo 1 + ; }
    function b() { echo 2; }
    function c() { echo (3; }
    """
    ds = diags(src)
    assert [(d.code, d.line) for d in ds] == [("HSL001", 1), ("HSL001", 3)]


# ------------------------------------------------------------------ names and calls

def test_hsl101_unknown_function_with_did_you_mean():
    [d] = diags('echo str_lowr("A");')
    assert d.code == "HSL101" and d.message == "undefined function str_lowr()"
    assert d.hint == "did you mean `str_lower`?"
    assert (d.line, d.column, d.end_column) == (1, 6, 14)
    assert codes('echo str_lower("A");') == []


def test_hsl101_unknown_function_without_suggestion_mentions_plugins():
    [d] = diags('dlp_scan($x = 1);')
    assert d.code == "HSL101" and "--allow-unknown-functions" in d.hint
    assert codes('dlp_scan(1);', allow_unknown_functions=True) == []


def test_several_static_errors_in_one_file_and_statement():
    ds = diags('$x = fooo(1) . barr(2);\nechoo(3);\n$y = length(1, 2);\n')
    assert [(d.code, d.line) for d in ds] == [("HSL101", 1), ("HSL101", 1), ("HSL101", 2),
                                              ("HSL201", 3)]


def test_hsl102_unknown_class():
    assert codes('$x = Nope::make();') == ["HSL102"]
    assert codes('class Yes { static function make() { return 1; } }\n$x = Yes::make();') == []
    # Core Halon classes hsl does not implement are known to the checker.
    assert codes('$s = Socket("AF_INET", "SOCK_STREAM");\n$m = MailMessage::String("x");') == []


def test_hsl103_undefined_variable_in_function():
    assert codes('function f() { return $nope; }\necho f();') == ["HSL103"]
    assert codes('function f() { $ok = 1; return $ok; }\necho f();') == []


def test_hsl104_plugin_module_and_allow_unknown_functions():
    [d] = diags('import { avro_decode } from "extras://avro";\necho avro_decode("x");')
    assert d.code == "HSL104" and "extras://avro" in d.message
    assert codes('import { avro_decode } from "extras://avro";\necho avro_decode("x");',
                 allow_unknown_functions=True) == []


def test_hsl201_wrong_arity_builtin_with_signature_hint():
    [d] = diags('echo str_replace("a", "b");')
    assert d.code == "HSL201" and "str_replace" in d.message
    assert d.hint.startswith("the signature is str_replace(")
    assert codes('echo str_replace("a", "b", "c");') == []


def test_hsl201_wrong_arity_user_function_and_class():
    src = 'function f($a, $b = 1) { return $a; }\nclass C { constructor($x) {} }\n'
    assert codes(src + 'f();\nf(1, 2, 3);\nC();') == ["HSL201", "HSL201", "HSL201"]
    assert codes(src + 'f(1);\nf(1, 2);\nC(1);') == []


def test_hsl301_read_only_context_variables():
    assert codes('$connection = [];') == ["HSL301"]
    assert codes('$arguments["x"] = 1;', hook="eod") == ["HSL301"]
    assert codes('$message = 1;', hook="predelivery") == ["HSL301"]
    assert codes('$context = 1;\n$message = "hello";\necho $message;') == []


def test_hsl302_hook_functions_outside_their_hook():
    [d] = diags('Accept();')
    assert d.code == "HSL302" and "--hook" in d.hint
    assert codes('Try();', hook="eod") == ["HSL302"]
    assert codes('Accept();', hook="eod") == []
    assert codes('Try(["host" => "x"]);', hook="predelivery") == []
    assert codes('Reply("x");', hook="auth") == []
    # A script may define a function of that name itself.
    assert codes('function Accept() { return 1; }\nAccept();') == []


@pytest.mark.parametrize("phase", ["predelivery", "postdelivery"])
def test_queue_hooks_are_checked_by_their_phase(phase):
    pre = phase == "predelivery"
    # $message and $arguments are read-only in both; $context only in postdelivery.
    for stmt in ('$message = 1;', '$message["recipient"] = "x";', '$arguments = [];',
                 'unset($arguments["retry"]);'):
        assert codes(stmt, hook=phase) == ["HSL301"], stmt
    assert codes('$context["route"] = "a";', hook=phase) == ([] if pre else ["HSL301"])
    [d] = diags('$message["x"] = 1;', hook=phase)
    assert (d.line, d.column, d.message) == (1, 1, "$message is read-only")
    # the variables of the queue, and no SMTP ones
    assert codes('echo $message["id"]["queue"] . $arguments["retry"] . $context;',
                 hook=phase) == []
    assert codes('echo $transaction["id"];', hook=phase) == ["HSL103"]
    assert codes('echo $connection["remoteip"];', hook=phase) == ["HSL103"]
    # hook functions by phase: Try only before, Default only after an attempt
    both = 'SetMetaData(GetMetaData());\nif (1) Queue(["delay" => 60]);\n' \
           'if (1) Bounce(["dsn" => ["subject" => "x"]]);\nDelete(["reason" => "x"]);\n'
    assert codes(both, hook=phase) == []
    [d] = diags('Default();' if pre else 'Try();', hook=phase)
    assert d.code == "HSL302" and d.message == (
        f"hook function {'Default' if pre else 'Try'}() is not available in the {phase} "
        "hook")
    assert d.hint == ("Default() exists only in the postdelivery hook" if pre else
                      "Try() exists only in the predelivery hook")
    assert codes('Try();' if pre else 'Default();', hook=phase) == []
    [d] = diags('Accept();', hook=phase)
    assert d.code == "HSL302" and "connect, helo, auth, mailfrom, rcptto, eod" in d.hint
    # wrong arity, each with its signature
    for call, signature in (('SetMetaData();', "SetMetaData($metadata)"),
                            ('GetMetaData(1);', "GetMetaData()"),
                            ('Queue([], 1);', "Queue([$options])"),
                            ('Bounce([], 1);', "Bounce([$options])"),
                            ('Delete([], 1);', "Delete([$options])"),
                            ('Try([], 1);' if pre else 'Default(1);',
                             "Try([$options])" if pre else "Default()")):
        [d] = diags(call, hook=phase)
        assert d.code == "HSL201" and d.hint == f"the signature is {signature}", call
    # the deciding functions end the script; Set/GetMetaData do not
    assert [(d.line, d.code) for d in diags(
        'SetMetaData([]);\nGetMetaData();\nQueue();\necho 1;\n', hook=phase)] == \
        [(4, "HSL602")]


def test_queue_hook_files_get_their_phase_from_the_path_and_the_project(tmp_path):
    # outside a project: hooks/queue/<phase>.hsl
    for phase in ("predelivery", "postdelivery"):
        f = tmp_path / "loose" / "hooks" / "queue" / f"{phase}.hsl"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text('$context = 1;\nTry();\n')
    status, out, _ = run(tmp_path / "loose")
    assert status == 1
    lines = [line for line in out.splitlines() if ": error: " in line]
    assert lines == [
        f"{tmp_path}/loose/hooks/queue/postdelivery.hsl:1:1: error: $context is read-only "
        "[HSL301]",
        f"{tmp_path}/loose/hooks/queue/postdelivery.hsl:2:1: error: hook function Try() is "
        "not available in the postdelivery hook [HSL302]"]
    # a project: its queue hooks (tree files, or the packed scripting.hooks) by phase
    root = tmp_path / "proj"
    (root / "src" / "config").mkdir(parents=True)
    (root / "src" / "config" / "smtpd-app.yaml").write_text(
        "servers: [{id: default}]\nscripting:\n  hooks:\n    postdelivery: |\n"
        "      Try();\n")
    (root / "src" / "hooks" / "queue").mkdir(parents=True)
    (root / "src" / "hooks" / "queue" / "predelivery.hsl").write_text(
        '$message["x"] = 1;\nDefault();\n')
    status, out, _ = run("--project", str(root))
    errors = [line.split(": error: ")[1] for line in out.splitlines() if ": error: " in line]
    assert status == 1 and errors == [      # (src/config/... sorts first)
        "hook function Try() is not available in the postdelivery hook [HSL302]",
        "$message is read-only [HSL301]",
        "hook function Default() is not available in the predelivery hook [HSL302]"]
    assert "smtpd-app.yaml#hooks/queue/postdelivery.hsl:1:1: error: hook function Try()" in out


def test_hook_function_arity_is_checked_in_its_phase():
    assert codes('Reject("a", [], 3);', hook="rcptto") == ["HSL201"]


def test_builtin_of_a_plugin_function_is_in_the_plugin_category():
    src = 'function scan($m) { return builtin dlp_scan($m); }\necho scan("x");'
    assert codes(src) == ["HSL101"]
    assert codes(src, allow_unknown_functions=True) == []


def test_a_file_with_a_syntax_error_gets_the_other_checks_on_what_parsed():
    src = ('echo str_lowr("x");\n'           # unknown function
           '$x = ;\n'                         # the syntax error
           '$arguments = 1;\n'               # read-only (eod hook)
           'echo str_lower("a", "b");\n'     # arity
           'echo $never_set;\n')             # needs the whole file: not reported
    found = diags(src, hook="eod")
    assert [(d.line, d.code) for d in found] == [(1, "HSL101"), (2, "HSL001"), (3, "HSL301"),
                                                 (4, "HSL201")]


def test_hsl_check_reports_an_unknown_function_beside_a_missing_semicolon(tmp_path):
    f = tmp_path / "policy.hsl"
    f.write_text('$limit = 10\n'                       # the missing `;`
                 'if ($limit > 5) echo str_lowr("X");\n'
                 'echo strlen("a", "b");\n')
    status, out, _ = run(f)
    assert status == 1
    headers = [line for line in out.splitlines() if line.startswith(str(f))]
    assert headers == [
        f"{f}:2:1: error: syntax error: unexpected keyword 'if', expected ';' after "
        "expression [HSL002]",
        f"{f}:2:22: error: undefined function str_lowr() [HSL101]",
        f"{f}:3:6: error: wrong number of arguments for strlen(): expected 1, got 2 [HSL201]",
    ]


def test_names_declared_by_statements_lost_to_a_syntax_error_are_not_unknown():
    # While the parameters are typed, the calls of the function are not errors...
    assert codes('function f($a,) { return 1; }\necho f(1);\necho g();\n') == \
        ["HSL001", "HSL101"]
    assert codes('class K { function m( }\n$k = K();\n') == ["HSL001"]
    assert codes('import { lib } from "x.hsl" +;\necho lib();\n') == ["HSL002"]
    # ... and a lost include may have declared anything.
    assert codes('include "lib.hsl" +;\necho libf();\necho other();\n') == ["HSL002"]


def test_text_that_ends_mid_statement_keeps_the_statements_before_it():
    # as while it is typed: what is open at the end is closed, the statements before the
    # unfinished one are checked
    from hsl.syntax.parser import parse_partial
    for tail in ('$x = ', 'if (', 'str_lo', 'foo(1, [2', 'function g( '):
        src = 'echo str_lowr("x");\nfunction f() {\n  echo 1;\n' + tail
        program, errors = parse_partial(src, "t.hsl")
        assert program is not None and len(errors) == 1, tail
        assert ("HSL101", 1) in [(d.code, d.line) for d in diags(src)], tail


def test_hook_phase_from_path(tmp_path):
    f = tmp_path / "src" / "hooks" / "eod" / "default.hsl"
    f.parent.mkdir(parents=True)
    f.write_text('if ($transaction["sender"] == "") Reject("no");\nAccept();\n')
    q = tmp_path / "src" / "hooks" / "queue" / "predelivery.hsl"
    q.parent.mkdir(parents=True)
    q.write_text('if ($message["retry"] > 3) Queue(["delay" => 60]);\nTry();\n')
    # A file of the file area runs in the hooks that include it: its phase is not known,
    # so hook functions are not errors there (issue 12 item 6)...
    lib = tmp_path / "src" / "files" / "lib.hsl"
    lib.parent.mkdir(parents=True)
    lib.write_text('function deny() { Reject("no"); }\nDefer();\n')
    # ... but they are in a script of no hook.
    tool = tmp_path / "tools" / "report.hsl"
    tool.parent.mkdir(parents=True)
    tool.write_text('Accept();\n')
    status, out, _ = run(tmp_path)
    assert status == 1
    assert "report.hsl:1:1: error: hook function Accept()" in out
    assert "lib.hsl" not in out and "default.hsl" not in out and "predelivery.hsl" not in out
    assert out.rstrip().endswith("1 error in 1 file (4 files checked)")


def test_hsl401_hsl402_break_continue_outside_loops():
    assert codes('break;') == ["HSL401"]
    assert codes('continue;') == ["HSL402"]
    assert codes('function f() { while (true) { break; } }\nforeach ([1] as $x) continue;') == []
    assert codes('switch (1) { case 1: break; }') == []
    assert codes('switch (1) { case 1: continue; }') == ["HSL402"]


def test_hsl403_top_level_return_is_a_warning():
    [d] = diags('echo 1;\nreturn;\n')
    assert (d.code, d.severity) == ("HSL403", "warning")
    assert codes('function f() { return 1; }\necho f();') == []


def test_hsl501_duplicates():
    assert codes('function f() {}\nfunction f() {}') == ["HSL501"]
    assert codes('class A {}\nclass A {}') == ["HSL501"]
    assert codes('function f($a, $a) {}') == ["HSL501"]
    assert codes('function f() {}\nfunction g() {}') == []


def test_hsl502_missing_include_and_no_cascade(tmp_path):
    f = tmp_path / "main.hsl"
    f.write_text('include "nope.hsl";\necho helper();\n')
    [d] = check_source(f.read_text(), str(f))
    assert d.code == "HSL502" and 'not found: "nope.hsl"' in d.message
    (tmp_path / "lib.hsl").write_text('function helper() { return 1; }\n')
    f.write_text('include "lib.hsl";\necho helper();\n')
    assert check_source(f.read_text(), str(f)) == []


def test_include_paths_from_dash_i(tmp_path):
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "lib.hsl").write_text('function helper() { return 1; }\n')
    (tmp_path / "app").mkdir()
    f = tmp_path / "app" / "main.hsl"
    f.write_text('import { helper } from "lib.hsl";\necho helper();\n')
    assert run(f, cwd=tmp_path / "app")[0] == 1
    status, out, _ = run("-I", tmp_path / "inc", f, cwd=tmp_path / "app")
    assert status == 0, out


def test_a_module_checked_directly_and_through_an_import_is_reported_once(tmp_path):
    """A package such as halon-extras dmarc: main.hsl imports ./dmarc.hsl, and
    `hsl check main.hsl dmarc.hsl` named the module's problems twice, under two names."""
    (tmp_path / "main.hsl").write_text('import { f } from "./lib.hsl";\necho f();\n')
    (tmp_path / "lib.hsl").write_text('function f() { return in_array(1, [1]); }\n')
    status, out, _ = run("main.hsl", "lib.hsl", cwd=tmp_path)
    assert out.count("HSL702") == 1, out
    assert out.rstrip().endswith("1 warning in 1 file (2 files checked)")


def test_hsl503_name_not_exported(tmp_path):
    (tmp_path / "lib.hsl").write_text('function helper() { return 1; }\n$v = 1;\n')
    f = tmp_path / "main.hsl"
    f.write_text('import { helpr } from "lib.hsl";\n')
    [d] = check_source(f.read_text(), str(f))
    assert d.code == "HSL503"
    f.write_text('import { helper, $v } from "lib.hsl";\necho helper() + $v;\n')
    assert check_source(f.read_text(), str(f)) == []


def test_hsl504_import_placement():
    assert codes('if (true) { import { f } from "x.hsl"; }') == ["HSL504"]


def test_hsl505_missing_data_file_is_a_warning():
    [d] = diags('import $cert from "test.crt";\necho $cert;')
    assert (d.code, d.severity) == ("HSL505", "warning")


# ------------------------------------------------------------------ flow warnings

def test_hsl601_variable_read_where_no_path_set_it():
    [d] = diags('echo $x;\n$x = 1;\n')
    assert (d.code, d.severity, d.line) == ("HSL601", "warning", 1)
    assert "line 2" in d.hint
    # Set on some path, in a loop, or tested with isset/??: fine.
    assert codes('if (time() > 0) $x = 1;\necho $x;') == []
    assert codes('foreach ([1, 2] as $i) { if ($i == 2) echo $last; $last = $i; }') == []
    assert codes('echo isset($y) ? 1 : 2;\necho $y ?? 3;\n$y = 1;') == []
    assert codes('function f() { global $g; $g = 1; }\necho $g;\nf();\n$g = 2;') == []


def test_hsl602_unreachable_code():
    [d] = diags('function f() { return 1; echo "dead"; }')
    assert (d.code, d.severity) == ("HSL602", "warning")
    assert "after return" in d.message
    assert codes('Reject("x");\necho 1;', hook="eod") == ["HSL602"]
    assert codes('if (time()) { throw "a"; } else { return; }\necho 1;') == \
        ["HSL403", "HSL602"]
    assert codes('while (true) { echo 1; }\necho 2;') == ["HSL602"]
    assert codes('while (true) { break; }\necho 2;') == []
    # `return ...; break;` in a switch case is defensive style, not reported.
    assert codes('function f($x) { switch ($x) { case 1: return 2; break; } }') == []


def test_hsl701_old_generation_functions_are_errors_as_at_run_time_with_the_replacement():
    [d] = diags('echo implode(",", [1]);')
    assert (d.code, d.severity) == ("HSL701", "error")
    with pytest.raises(hsl.HSLSyntaxError) as e:         # hsl run refuses it the same way
        hsl.compile('echo implode(",", [1]);', predefined=set())
    assert e.value.message.startswith(d.message) and d.message == "undefined function implode()"
    assert d.hint == "use array_join($array, $separator) (note the argument order) instead " \
                     "(implode() is a function of an older HSL generation)"


def test_hsl702_old_generation_functions_that_still_run_are_warnings():
    [d] = diags('echo strlen("abc");')
    assert (d.code, d.severity) == ("HSL702", "warning")
    assert d.hint == "use length($string) instead"
    assert hsl.compile('echo strlen("abc");', predefined=set()) is not None
    assert codes('echo in_array(1, [1]) . count([1]);') == ["HSL702", "HSL702"]
    assert codes('echo preg_match("/a/", "a");') == ["HSL701"]
    assert codes('function strlen($s) { return 1; }\necho strlen("x");') == []


def test_warning_options():
    src = 'function f() { return 1; echo "b"; }'
    assert codes(src, no_warnings=True) == []
    [d] = diags(src, error_on_warning=True)
    assert d.severity == "error"


# ------------------------------------------------------------------ output and exit codes

# An error, then a warning (unreachable code).
BAD = 'echo str_lowr("A");\nfunction f() { return 1; echo "b"; }\n'


def test_text_format(tmp_path):
    f = tmp_path / "a.hsl"
    f.write_text(BAD)
    status, out, err = run(f)
    assert status == 1 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"{f}:1:6: error: undefined function str_lowr() [HSL101]"
    assert lines[1] == '  echo str_lowr("A");'
    assert lines[2] == "       ^~~~~~~~"
    assert lines[3] == "  hint: did you mean `str_lower`?"
    assert lines[-1] == "1 error and 1 warning in 1 file (1 file checked)"


def test_json_format(tmp_path):
    f = tmp_path / "a.hsl"
    f.write_text(BAD)
    status, out, err = run("--format", "json", f)
    data = json.loads(out)
    assert status == 1
    assert [set(d) for d in data] == [{"file", "line", "column", "end_line", "end_column",
                                       "severity", "code", "message", "hint"}] * 2
    assert data[0] == {"file": str(f), "line": 1, "column": 6, "end_line": 1,
                       "end_column": 14, "severity": "error", "code": "HSL101",
                       "message": "undefined function str_lowr()",
                       "hint": "did you mean `str_lower`?"}
    assert "1 error and 1 warning" in err


def test_github_format(tmp_path):
    f = tmp_path / "a.hsl"
    f.write_text(BAD)
    status, out, _ = run("--format", "github", f)
    lines = out.splitlines()
    assert lines[0] == (f"::error file={f},line=1,col=6,title=HSL101::undefined function "
                        "str_lowr()%0Ahint: did you mean `str_lower`?")
    assert lines[1].startswith(f"::warning file={f},line=2,col=26,title=HSL602::")
    assert lines[2] == "1 error and 1 warning in 1 file (1 file checked)"


def test_exit_codes_and_summary(tmp_path):
    good = tmp_path / "good.hsl"
    good.write_text('echo "ok";\n')
    warn = tmp_path / "warn.hsl"
    warn.write_text('function f() { return 1; echo "b"; }\n')
    assert run(good) == (0, "no problems (1 file checked)\n", "")
    assert run(warn)[0] == 0
    assert run("--error-on-warning", warn)[0] == 1
    status, _, err = run(good, tmp_path / "missing.hsl")
    assert status == 2 and "cannot read" in err
    with pytest.raises(SystemExit) as e:
        run("--format", "xml", good)
    assert e.value.code == 2


def test_directory_recursion(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one.hsl").write_text('echo 1;\n')
    (tmp_path / "a" / "b" / "two.hsl").write_text('echo nope();\n')
    (tmp_path / "a" / "b" / "notes.txt").write_text('echo nope();\n')
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.hsl").write_text('echo nope();\n')
    status, out, _ = run(tmp_path)
    assert status == 1
    assert "two.hsl:1:6" in out and "notes.txt" not in out and ".git" not in out
    assert out.splitlines()[-1] == "1 error in 1 file (2 files checked)"


def test_config_file_hslcheck_toml(tmp_path):
    (tmp_path / "x.hsl").write_text('echo dlp("x");\nreturn;\necho "y";\n')
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "v.hsl").write_text('echo nope();\n')
    assert run(".", cwd=tmp_path)[0] == 1
    (tmp_path / ".hslcheck.toml").write_text(
        'plugin-functions = ["dlp"]\nno-warnings = true\nexclude = ["vendor/*"]\n')
    assert run(".", cwd=tmp_path) == (0, "no problems (1 file checked)\n", "")
    (tmp_path / ".hslcheck.toml").write_text('allow-unknown-functions = true\n'
                                             'error-on-warning = true\n')
    status, out, _ = run("x.hsl", cwd=tmp_path)
    assert status == 1 and "HSL602" in out and "HSL101" not in out
    (tmp_path / ".hslcheck.toml").write_text('colour = "blue"\n')
    status, _, err = run("x.hsl", cwd=tmp_path)
    assert status == 2 and "unknown key 'colour'" in err


def test_config_in_pyproject(tmp_path):
    (tmp_path / "x.hsl").write_text('Accept();\n')
    (tmp_path / "pyproject.toml").write_text('[tool.hsl-check]\nhook = "connect"\n')
    assert run("x.hsl", cwd=tmp_path)[0] == 0
    assert run("--no-config", "x.hsl", cwd=tmp_path)[0] == 1


def test_a_path_with_no_hsl_file_says_so_and_exits_2(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("no scripts here\n")
    (tmp_path / "ok.hsl").write_text("echo 1;\n")
    status, out, err = run(tmp_path / "empty")
    assert status == 2 and f"no .hsl files in {tmp_path / 'empty'}" in err
    status, out, err = run(tmp_path / "empty", tmp_path / "ok.hsl")   # the rest is checked
    assert status == 2 and "(1 file checked)" in out
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "x.hsl").write_text("echo 1;\n")
    (tmp_path / ".hslcheck.toml").write_text('exclude = ["vendor/*"]\n')
    status, out, err = run("vendor", cwd=tmp_path)
    assert status == 2 and "all excluded by the configuration" in err


def test_real_command_line(tmp_path):
    f = tmp_path / "a.hsl"
    f.write_text(BAD)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "hsl", "check", "--format", "github", str(f)],
                       capture_output=True, env=env, timeout=60)
    assert r.returncode == 1
    assert r.stdout.decode().startswith(f"::error file={f},line=1,col=6,title=HSL101::")


# ------------------------------------------------------------------ no false errors

REALISTIC = {
    "hooks/eod/default.hsl": r'''
        import { spam_score } from "file://lib/scoring.hsl";
        $mail = $arguments["mail"];
        $subject = $mail->getHeader("subject") ?? "";
        $score = spam_score($subject, $transaction["senderaddress"]["domain"]);
        if ($score > 10) {
            Reject("Message rejected", ["reply_codes" => ["code" => 550]]);
        }
        foreach ($transaction["recipients"] as $r) {
            $mail->queue($transaction["sender"], $r["address"], $r["transportid"]);
        }
        Accept();
    ''',
    "files/lib/scoring.hsl": r'''
        function spam_score($subject, $domain) {
            $score = 0;
            $words = ["viagra" => 5, "lottery" => 4];
            foreach ($words as $word => $points) {
                if (str_find(str_lower($subject), $word) >= 0) $score += $points;
            }
            $cached = memory_fetch("rep:" . $domain);
            if ($cached === none) {
                $cached = 0;
                memory_store("rep:" . $domain, $cached);
            }
            return $score + $cached;
        }
    ''',
    "hooks/connect/default.hsl": r'''
        $ip = $arguments["remoteip"];
        if (inet_includes($ip, "10.0.0.0/8")) {
            Accept();
        }
        $hits = memory_inc("conn:" . $ip);
        if ($hits > 100)
            Defer("Too many connections");
        $context = ["first" => $hits == 1];
    ''',
    "hooks/queue/predelivery.hsl": r'''
        $meta = GetMetaData();
        if (($meta["attempts"] ?? 0) > 3)
            Queue(["delay" => 3600]);
        SetMetaData(["attempts" => string(number($meta["attempts"] ?? 0) + 1)]);
        Try(["tls" => "optional"]);
    ''',
    "files/classes.hsl": r'''
        class Counter {
            private $n = 0;
            static $made = 0;
            constructor($start = 0) { $this->n = $start; Counter::$made += 1; }
            function inc($by = 1) { $this->n += $by; return $this; }
            function get() { return $this->n; }
            static function make() { return Counter(); }
        }
        $c = Counter::make()->inc()->inc(2);
        $f = function ($x) closure ($c) { return $x + $c->get(); };
        echo $f(1);
        $list = array_map(function ($v) { return $v * 2; }, [1, 2, 3]);
        [$a, $b] = $list;
        echo $a + $b;
        $m = match ($a) { 2 => "two", default => "other" };
        try { throw Exception("x"); } catch ($e) { echo $e->message(); }
        switch ($m) { case "two": echo 2; break; default: echo 0; }
        $i = 0;
        while ($i < 3) { $i++; if ($i == 2) continue; echo $i; }
        for ($j = 0; $j < 2; $j++) echo $j;
        echo cache ["ttl" => 60] sha1("x");
    ''',
}


def test_realistic_scripts_check_clean(tmp_path):
    base = tmp_path / "src"
    for name, text in REALISTIC.items():
        p = base / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    status, out, _ = run(base)
    assert (status, out.splitlines()[-1]) == (0, "no problems (5 files checked)"), out


def test_hook_comment_gives_the_phase(tmp_path):
    from hsl.check.checker import Options, phase_for
    f = tmp_path / "policy.hsl"
    f.write_text("// A HELO policy\n// hook: helo\nAccept();\n")
    assert phase_for(str(f), Options(), f.read_text()) == "helo"
    assert phase_for(str(f), Options(), "Accept();\n") is None


# ------------------------------------------------------- methods of known classes

def test_unknown_method_of_a_builtin_class_with_a_suggestion():
    [d] = diags('$m = Map("string", "any");\n$m->sett("a", 1);\n')
    assert (d.code, d.line, d.column, d.message) == ("HSL105", 2, 1, "Map has no method sett()")
    assert d.hint == "did you mean set()?"


def test_method_arity_of_builtin_and_user_classes():
    src = '''
        $s = Set("number");
        $s->add(1, 2);
        $c = X509::String("pem");
        $c->verify(1, 2, 3, 4);
        class Foo {
            function bar($a, $b = 1) { return $a; }
            function many(...$rest) { return $rest; }
        }
        $f = Foo();
        $f->bar();
        $f->bar(1, 2, 3);
        $f->bar(1);
        $f->many();
        $f->many(1, 2, 3, 4);
        $f->bar(...[1, 2, 3]);
    '''
    found = [(d.code, d.line, d.message) for d in diags(src)]
    assert found == [
        ("HSL201", 3, "wrong number of arguments for Set->add(): expected 1, got 2"),
        ("HSL201", 5, "wrong number of arguments for X509->verify(): expected 1 to 3, got 4"),
        ("HSL201", 11, "wrong number of arguments for Foo->bar(): expected 1 to 2, got 0"),
        ("HSL201", 12, "wrong number of arguments for Foo->bar(): expected 1 to 2, got 3"),
    ]


def test_private_method_called_from_outside_its_class():
    src = '''
        class Foo {
            private function hidden() { return 1; }
            function visible() { $o = Foo(); return $o->hidden() + $this->hidden(); }
        }
        $f = Foo();
        echo $f->visible() + $f->hidden();
    '''
    found = [(d.code, d.line, d.message) for d in diags(src)]
    assert found == [("HSL105", 7, "Foo->hidden() is private")]


@pytest.mark.parametrize("src", [
    # assigned something else too
    '$m = Map("string", "any"); $m = 5; $m->nothing();',
    '$m = Map("string", "any"); if (rand(0, 1)) $m = Set("number"); $m->nothing();',
    # written in other ways
    '$m = Map("string", "any"); $m["x"] = 1; $m->nothing();',
    '$m = Map("string", "any"); foreach ([1] as $m) {} $m->nothing();',
    '$m = Map("string", "any"); [$m] = [1]; $m->nothing();',
    '$m = Map("string", "any"); try { } catch ($m) { } $m->nothing();',
    # a function may assign the global, a closure the captured variable
    '$m = Map("string", "any"); function f() { global $m; $m = 1; } $m->nothing();',
    '$m = Map("string", "any"); $f = function () closure ($m) { $m = 1; }; $m->nothing();',
    # a parameter, or a user function shadowing the class name
    'function f($m) { $m = Map("string", "any"); $m->nothing(); }',
    'function Map($a, $b) { return 1; } $m = Map("string", "any"); $m->nothing();',
    # not a constructor (File::read returns a string)
    '$m = File::read("x"); $m->nothing();',
])
def test_method_checks_never_guess(src):
    assert "HSL105" not in codes(src, allow_unknown_functions=True)


def test_method_checks_look_into_functions_closures_and_methods():
    src = '''
        function f() { $s = Set("string"); return $s->nope(); }
        $g = function () { $s = Set("string"); return $s->nope(); };
        class C { function m() { $s = Set("string"); return $s->nope(); } }
    '''
    assert [(d.code, d.line) for d in diags(src)] == [("HSL105", 2), ("HSL105", 3),
                                                      ("HSL105", 4)]
