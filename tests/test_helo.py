"""The HELO/EHLO hook: variables, decisions, replies, and `hsl run --hook helo`."""
import json
import os
import subprocess
import sys

import pytest

import hsl
from hsl import HSLSyntaxError
from hsl.hooks.helo import HeloSession, compile_helo, run_helo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def helo(source, **session):
    return run_helo(compile_helo(source, "policy.hsl"), HeloSession(**session))


# ----------------------------------------------------------------- variables

def test_arguments_connection_and_transaction_are_predefined():
    r = helo('echo $arguments["verb"] . " " . $arguments["host"];'
             'echo $connection["remoteip"] . ":" . $connection["remoteport"];'
             'echo $connection["localip"] . ":" . $connection["localport"] . " " . $connection["serverid"];'
             'echo length($transaction["id"]) > 0;'
             'echo isset($arguments["extensions"]);',
             verb="EHLO", host="mail.example.org", remoteip="203.0.113.5", remoteport=4000,
             localip="192.0.2.1", localport=587, serverid="submission")
    assert r.output == ["EHLO mail.example.org", "203.0.113.5:4000", "192.0.2.1:587 submission",
                        "true", "true"]


def test_optional_keys_are_absent_not_none():
    r = helo('echo isset($connection["remoteptr"]) . isset($connection["tls"]) . '
             'isset($connection["auth"]) . isset($arguments["extensions"]);', verb="HELO")
    assert r.output == ["falsefalsefalsefalse"]


def test_tls_and_auth_keys_when_present():
    r = helo('echo $connection["tls"]["protocol"] . " " . $connection["tls"]["sni"];'
             'echo $connection["auth"]["mechanism"] . " " . $connection["auth"]["username"];',
             tls={"protocol": "TLSv1.2", "sni": "mx.example.net"},
             auth={"mechanism": "login", "username": "alice"})
    assert r.output == ["TLSv1.2 mx.example.net", "LOGIN alice"]


@pytest.mark.parametrize("stmt", [
    '$connection["remoteip"] = "1.2.3.4";',
    '$arguments["x"][] = 1;',
    'unset($transaction["id"]);',
    '$arguments = [];',
    '$connection["remoteport"]++;',
    'foreach ([1] as $connection) {}',
    'function f() { global $arguments; $arguments["host"] = "x"; }',
])
def test_context_variables_are_read_only_at_compile_time(stmt):
    with pytest.raises(HSLSyntaxError) as ei:
        compile_helo(stmt)
    assert "read-only" in ei.value.message


def test_reading_context_variables_through_global_in_functions():
    r = helo('function h() { global $arguments; return $arguments["host"]; } echo h();',
             host="relay.example")
    assert r.output == ["relay.example"]


def test_context_persists_across_commands_on_one_connection():
    prog = compile_helo('$context = ["count" => ($context["count"] ?? 0) + 1];')
    session = HeloSession()
    for expected in (1, 2, 3):
        r = run_helo(prog, session)
        session.context = r.context
        assert hsl.runtime.values.to_python(r.context) == {"count": expected}


def test_context_is_kept_when_a_decision_ends_the_script():
    r = helo('$context = "seen"; Reject("no");')
    assert r.decision == "reject" and r.context == b"seen"


def test_a_failed_run_leaves_the_connections_context_as_it_was():
    prog = compile_helo('$context["n"] = 2; $context["list"][] = "x"; throw "boom";')
    session = HeloSession(context=hsl.runtime.values.from_python({"n": 1, "list": []}))
    r = run_helo(prog, session)
    assert r.error is not None and "boom" in r.error
    assert hsl.runtime.values.to_python(r.context) == {"n": 1, "list": []}
    assert hsl.runtime.values.to_python(session.context) == {"n": 1, "list": []}


def test_hook_functions_exist_only_in_the_hook():
    with pytest.raises(HSLSyntaxError) as ei:
        hsl.compile('Accept();')
    assert "undefined function" in ei.value.message


# ----------------------------------------------------------------- decisions

def test_implicit_termination_accepts_with_the_ehlo_extensions():
    r = helo('$x = 1;', verb="EHLO", extensions=["PIPELINING", "STARTTLS"],
             server_hostname="mx.example.net")
    assert (r.decision, r.code) == ("accept", 250)
    assert r.reply == ["mx.example.net", "PIPELINING", "STARTTLS"]
    assert r.wire_lines() == [b"250-mx.example.net", b"250-PIPELINING", b"250 STARTTLS"]


def test_helo_accept_is_a_single_line():
    r = helo('Accept(["reason" => "hello there"]);', verb="HELO")
    assert r.wire_lines() == [b"250 hello there"]


def test_accept_options_extensions_and_host():
    r = helo('Accept(["extensions" => ["8BITMIME"], "host" => "renamed.example"]);',
             verb="EHLO", host="orig.example")
    assert r.extensions == ["8BITMIME"] and r.host == "renamed.example"
    assert r.reply[1:] == ["8BITMIME"]


def test_reject_and_defer_defaults():
    r = helo('Reject();')
    assert (r.decision, r.code, r.reply, r.enhanced, r.disconnect) == \
        ("reject", 554, ["Rejected"], None, False)
    r = helo('Defer();')
    assert (r.decision, r.code, r.reply) == ("defer", 450, ["Deferred"])


def test_reply_codes_and_disconnect():
    r = helo('Reject("go away", ["disconnect" => true, '
             '"reply_codes" => ["code" => 550, "enhanced" => [5, 7, 1]]]);')
    assert (r.code, r.enhanced, r.disconnect) == (550, [5, 7, 1], True)
    assert r.wire_lines() == [b"550 5.7.1 go away"]
    r = helo('Defer("later", ["reply_codes" => ["code" => 421]]);')
    assert r.code == 421


def test_reply_code_of_the_wrong_class_is_a_script_error_that_defers():
    r = helo('Reject("x", ["reply_codes" => ["code" => 250]]);')
    assert r.decision == "defer" and "reply code 250" in r.error
    assert r.error.startswith("policy.hsl:1:1:")


def test_multi_line_reason_from_array_or_newlines():
    r = helo('Reject(["first", "second"]);')
    assert r.wire_lines() == [b"554-first", b"554 second"]
    r = helo('Defer("one\\ntwo");')
    assert r.wire_lines() == [b"450-one", b"450 two"]


def test_control_characters_never_start_new_reply_lines():
    r = helo('Reject("bad\\r\\n250 OK\\x00\\x1b");')
    lines = r.wire_lines()
    # LF splits into a second line of text, CR and other controls become spaces:
    assert lines == [b"554-bad ", b"554 250 OK  "]
    assert all(b"\r" not in line and b"\n" not in line for line in lines)


def test_reply_lines_are_capped_at_512_octets():
    r = helo('Reject(["x" * 2000, "é" * 600], ["reply_codes" => ["enhanced" => [5, 5, 0]]]);')
    for line in r.wire_lines():
        assert len(line) + 2 <= 512
        line.decode("utf-8")          # never cut inside a UTF-8 sequence


def test_termination_cannot_be_caught():
    r = helo('try { Reject("stop"); } catch ($e) { echo "caught"; } echo "after";')
    assert r.decision == "reject" and r.output == []


def test_code_after_a_decision_does_not_run():
    r = helo('echo "before"; Defer("wait"); echo "after";')
    assert r.output == ["before"] and r.decision == "defer"


def test_runtime_error_defers_with_location():
    r = helo('echo "x";\n$a = [] < 1;\nAccept();')
    assert (r.decision, r.code) == ("defer", 450)
    assert r.error.startswith("policy.hsl:2:") and "type" in r.error
    assert r.output == ["x"]


def test_wrong_option_types_are_errors():
    r = helo('Accept(["extensions" => "PIPELINING"]);')
    assert r.decision == "defer" and "type" in r.error
    r = helo('Reject(42);')
    assert r.decision == "defer" and "type" in r.error


def test_the_deciding_call_is_located():
    r = helo('function decide() {\n  Reject("no");\n}\ndecide();')
    assert r.where == ("policy.hsl", 2, 3)


def test_trace_records_conditions():
    prog = compile_helo('if ($arguments["host"] == "x") { Reject(); }\n'
                        'switch ($arguments["verb"]) { case "HELO": Defer(); case "EHLO": Accept(); }',
                        "t.hsl", trace=True)
    r = run_helo(prog, HeloSession(verb="EHLO", host="y"), trace=True)
    kinds = [(k, line, bool(v)) for k, _f, line, _c, v in r.trace]
    assert kinds == [("if", 1, False), ("case", 2, False), ("case", 2, True)]
    assert r.trace[0].end == (1, 30)
    assert r.decision == "accept" and r.where[1] == 2


# ----------------------------------------------------------------------- CLI

def cli(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "hsl", "run", "--hook", "helo", *args],
                          capture_output=True, env=env, timeout=60)


POLICY = """
echo "checking " . $arguments["host"];
if ($arguments["host"] == "" or $arguments["host"] =~ #/^\\[?127\\./)
    Reject("Bad HELO", ["disconnect" => true]);
$context = ["helo" => $arguments["host"]];
"""


def test_cli_prints_echo_output_then_the_decision(tmp_path):
    f = tmp_path / "p.hsl"
    f.write_text(POLICY)
    r = cli(str(f), "--ehlo", "[127.0.0.1]")
    assert r.returncode == 0
    assert r.stdout.decode().splitlines() == ["checking [127.0.0.1]",
                                              'reject 554 "Bad HELO" and disconnect']


def test_cli_json_result(tmp_path):
    f = tmp_path / "p.hsl"
    f.write_text(POLICY)
    r = cli(str(f), "--helo", "mail.example.org", "--remoteip", "198.51.100.7",
            "--context", '{"n": 1}', "--json")
    assert r.returncode == 0
    data = json.loads(r.stdout)
    assert data == {"decision": "accept", "code": 250, "enhanced": None,
                    "reply": ["mx.hsl.invalid"], "disconnect": False,
                    "host": "mail.example.org", "extensions": [],
                    "context": {"helo": "mail.example.org"},
                    "output": ["checking mail.example.org"], "error": None}


def test_cli_session_file_and_command_line_override(tmp_path):
    f = tmp_path / "p.hsl"
    f.write_text('echo $connection["remoteptr"] . " " . $arguments["verb"] . " " . $arguments["host"];')
    s = tmp_path / "s.yaml"
    s.write_text("verb: HELO\nhost: from-file.example\nremoteptr: ptr.example\n"
                 "expect: {decision: accept}\n")
    r = cli(str(f), "--session", str(s), "--json")
    assert json.loads(r.stdout)["output"] == ["ptr.example HELO from-file.example"]
    r = cli(str(f), "--session", str(s), "--ehlo", "cli.example", "--json")
    assert json.loads(r.stdout)["output"] == ["ptr.example EHLO cli.example"]


def test_cli_a_script_that_does_not_compile_exits_1_with_its_diagnostic(tmp_path):
    f = tmp_path / "p.hsl"
    f.write_text("echo 1 +;\n")
    for extra in ([], ["--json"]):
        r = cli(str(f), *extra)
        assert r.returncode == 1 and r.stdout == b""       # nothing ran: no decision
        assert r.stderr.decode().startswith(f"{f}:1:9: error: syntax error")
        assert b"  echo 1 +;\n" in r.stderr and b"^" in r.stderr


def test_cli_a_runtime_error_defers_and_shows_the_diagnostic_of_hsl_run(tmp_path):
    f = tmp_path / "p.hsl"
    f.write_text('function check($h) {\n    return str_lower($h["x"]);\n}\ncheck([]);\n')
    r = cli(str(f), "--json")
    assert r.returncode == 0
    data = json.loads(r.stdout)
    assert data["decision"] == "defer" and data["error"].startswith(f"{f}:2:")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    plain = subprocess.run([sys.executable, "-m", "hsl", "run", str(f)], capture_output=True,
                           env=env)
    assert r.stderr == plain.stderr                   # error:, source line, caret, stack
    assert b"HSL call stack" in r.stderr and b"    return str_lower" in r.stderr
    r = cli(str(f))
    assert r.stdout.decode().startswith('defer 450 "Deferred"')


def test_cli_bad_session_is_a_usage_error(tmp_path):
    f = tmp_path / "p.hsl"
    f.write_text("Accept();")
    s = tmp_path / "s.yaml"
    s.write_text("remotip: 1.2.3.4\n")
    r = cli(str(f), "--session", str(s))
    assert r.returncode == 2 and b"unknown session setting" in r.stderr
    s.write_text("verb: EHLO\nhost: [x\n")
    r = cli(str(f), "--session", str(s))
    assert r.returncode == 2 and f"{s}:3:1: not valid YAML".encode() in r.stderr
    r = cli(str(f), "--context", "{not json")
    assert r.returncode == 2 and b"--context" in r.stderr


def test_cli_trace_explains_the_decision(tmp_path):
    f = tmp_path / "p.hsl"
    f.write_text(POLICY)
    r = cli(str(f), "--ehlo", "127.0.0.1", "--trace")
    err = r.stderr.decode()
    assert f'{f}:3:5: if ($arguments["host"] == "" or $arguments["host"] =~ #/^\\[?127\\./) -> true' in err
    assert f"{f}:4:5: decided: reject" in err


def test_cli_rejects_addresses_that_are_not_ips(tmp_path):
    f = tmp_path / "p.hsl"
    f.write_text("Accept();")
    r = cli(str(f), "--remoteip", "notanip")
    assert r.returncode == 2 and b"remoteip must be an IP address" in r.stderr


def test_trace_names_loop_conditions():
    prog = compile_helo("$i = 0; while ($i < 1) { $i++; } for ($j = 0; $j < 1; $j++) {}",
                        "t.hsl", trace=True)
    r = run_helo(prog, HeloSession(), trace=True)
    assert [(k, bool(v)) for k, _f, _l, _c, v in r.trace] == \
        [("while", True), ("while", False), ("for", True), ("for", False)]


def test_accept_never_puts_enhanced_codes_on_ehlo_lines():
    r = helo('Accept(["reply_codes" => ["code" => 250, "enhanced" => [2, 0, 0]]]);',
             verb="EHLO", extensions=["PIPELINING", "8BITMIME"], server_hostname="mx.t")
    assert r.enhanced is None
    assert r.wire_lines() == [b"250-mx.t", b"250-PIPELINING", b"250 8BITMIME"]
