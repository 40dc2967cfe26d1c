"""`hsl run --session FILE` with a whole session (steps:, hooks:): every step through every
configured hook in order, as hsl serve runs a client's commands (hsl/hooks/steps.py on
hsl/hooks/conversation.py).  The hooks of tests/data/sessions/ record the phases they
ran in $context."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hsl.hooks import steps
from hsl.hooks.session import SessionError
from hsl.queue import spool

DATA = Path(__file__).parent / "data" / "sessions"
ROOT = Path(__file__).parent.parent
HOOKS = {p: str(DATA / f"{p}.hsl") for p in ("connect", "helo", "auth", "mailfrom", "rcptto",
                                             "eod", "disconnect")}


def hsl(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "hsl", "run", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def session_file(tmp_path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def with_hooks(tmp_path, body: str, hooks=None, **files) -> Path:
    """A session file with the given hooks (default: all of tests/data/sessions) and
    extra files (name=content) beside it."""
    for name, content in files.items():
        (tmp_path / name.replace("_", ".")).write_text(textwrap.dedent(content))
    table = "\n".join(f"  {p}: {f}" for p, f in (HOOKS if hooks is None else hooks).items())
    return session_file(tmp_path, f"hooks:\n{table}\n" + textwrap.dedent(body))


def run(path, **options) -> list:
    s = steps.load(str(path))
    return steps.run(s, steps.compile_hooks(s), **options)


def by_command(results, command):
    return [r for r in results if r.command == command]


# ------------------------------------------------------------------ sessions

def test_a_full_session_through_every_phase():
    p = hsl("--session", DATA / "full.yaml", cwd=ROOT)
    assert (p.returncode, p.stderr) == (0, "")
    lines = p.stdout.splitlines()
    assert lines[:4] == ['connect: 220 "mx.example.net ESMTP" [connect: accept]',
                         "    connect from 203.0.113.5",
                         'EHLO client.example: 250 "mx.example.net" (+5 more lines) '
                         '[helo: accept]',
                         "    hello client.example tls=no"]
    assert 'STARTTLS: 220 2.0.0 "Ready to start TLS"' in lines
    assert "    hello client.example tls=TLSv1.2" in lines
    assert 'AUTH PLAIN AEFsaWNlAHNlY3JldA==: 235 2.7.0 "Authentication successful" ' \
           '[auth: accept]' in lines
    assert "    mail from alice@client.example auth=alice" in lines     # Accept's username
    assert 'RCPT TO:<nobody@example.net>: 550 5.1.1 "no such user" [rcptto: reject]' in lines
    assert 'DATA: 250 2.0.0 "Message accepted" [eod: accept]' in lines
    # the rejected recipient is not in the transaction; the rewritten one is
    assert "      to bob@example.net via mx" in lines
    assert "      to real@example.net via lmtp" in lines
    assert not any("nobody" in ln for ln in lines if ln.startswith("      to"))
    i = lines.index('QUIT: 221 2.0.0 "Bye" and disconnect')
    assert lines[i + 1:i + 3] == [
        "close local: [disconnect: pass]",
        "    bye after connect,helo,helo,auth,mailfrom,rcptto,rcptto,rcptto,eod close=local"]
    queued = lines[i + 3:]
    assert len(queued) == 2 and queued[0].startswith("queued ")
    assert queued[1].endswith(": alice@client.example -> real@example.net via lmtp (71 bytes)")


def test_context_and_connection_id_span_the_session(tmp_path):
    hook = 'echo $connection["id"] . " " . ($context["n"] = ($context["n"] ?? 0) + 1);'
    for phase in ("connect", "helo", "mailfrom", "rcptto"):
        (tmp_path / f"{phase}.hsl").write_text(hook)
    s = with_hooks(tmp_path, """\
        connection_id: c-42
        context: {n: 10}
        steps: [ehlo: x.example, mail: a@b.example, rcpt: c@d.example]
        """, {p: f"{p}.hsl" for p in ("connect", "helo", "mailfrom", "rcptto")})
    results = run(s)
    assert [r.output for r in results if r.output] == [["c-42 11"], ["c-42 12"],
                                                       ["c-42 13"], ["c-42 14"]]
    assert results[0].step.implicit and results[0].command == "CONNECT"
    assert results[-1].context == {"n": 14.0}


def test_context_without_hooks_stays_as_the_file_gives_it(tmp_path):
    s = session_file(tmp_path, "context: {a: 1, b: [x]}\nsteps: [ehlo: x.example]\n")
    assert [r.context for r in run(s)] == [{"a": 1, "b": ["x"]}] * 3
    assert [r.context for r in run(s, context={"c": True})][-1] == {"c": True}


def test_a_rejected_mail_stops_the_transaction(tmp_path):
    s = with_hooks(tmp_path, """\
        steps:
          - ehlo: client.example
          - mail: bad@spam.example
          - rcpt: bob@example.net
          - data
          - mail: good@client.example
          - rcpt: bob@example.net
        """)
    results = run(s)
    mail = by_command(results, "MAIL")
    assert (mail[0].code, mail[0].phase, mail[0].decision) == (554, "mailfrom", "reject")
    rcpt = by_command(results, "RCPT")
    assert rcpt[0].code == 503 and rcpt[0].decided is None and rcpt[0].runs == []
    assert by_command(results, "DATA")[0].code == 503
    assert mail[1].code == 250 and rcpt[1].code == 250


def test_rset_and_a_second_transaction_get_new_ids(tmp_path):
    (tmp_path / "id.hsl").write_text('echo $transaction["id"];')
    (tmp_path / "eod.hsl").write_text('echo $transaction["id"]; Accept();')
    s = with_hooks(tmp_path, """\
        steps:
          - ehlo: x.example
          - mail: a@b.example
          - rset
          - mail: a@b.example
          - rcpt: c@d.example
          - data: {text: "Subject: one\\n\\nfirst\\n"}
          - mail: a@b.example
          - rcpt: c@d.example
          - data
          - noop
          - help
        """, {"mailfrom": "id.hsl", "eod": "eod.hsl"})
    results = run(s)
    ids = [r.output[0] for r in results if r.output]
    first, second, at_eod, third, at_eod2 = ids
    assert len({first, second, third}) == 3 and second == at_eod and third == at_eod2
    assert by_command(results, "RSET")[0].reply_parts() == ([2, 0, 0], ["OK"])
    assert by_command(results, "NOOP")[0].code == 250
    assert by_command(results, "HELP")[0].reply_parts()[1][0].startswith("Supported commands")
    # eod without queue() queues nothing; the copies are the hook's own
    assert all(r.queued == [] for r in results)


def test_eod_without_a_hook_queues_every_recipient_and_inline_text_is_crlf(tmp_path):
    s = session_file(tmp_path, """\
        steps:
          - ehlo: x.example
          - mail: a@b.example
          - rcpt: [c@d.example, e@f.example]
          - data: {text: "Subject: hi\\n\\nbody\\n"}
        """)
    data = by_command(run(s), "DATA")[0]
    assert data.code == 250 and data.decided is None
    assert [(c.recipient, c.message) for c in data.queued] == [
        ("c@d.example", b"Subject: hi\r\n\r\nbody\r\n"),
        ("e@f.example", b"Subject: hi\r\n\r\nbody\r\n")]


AUTH_SESSION = """\
    auth_plaintext: true
    steps:
      - ehlo: client.example
      - auth: {auth}
      - mail: a@b.example
    """


@pytest.mark.parametrize("auth, code, user, output", [
    ("{mechanism: PLAIN, username: Alice, password: secret}", 235, "alice",
     ["auth PLAIN Alice"]),
    ("{mechanism: login, username: Bob, password: secret}", 235, "bob", ["auth LOGIN Bob"]),
    ("{mechanism: PLAIN, username: eve, password: wrong}", 535, "none", ["auth PLAIN eve"]),
    ('"PLAIN AGNhcm9sAHNlY3JldA=="', 235, "carol", ["auth PLAIN carol"]),
    ("{mechanism: X-TOKEN, responses: [one, t0k3n]}", 235, "token-user",
     ["auth X-TOKEN state 0 response none", "auth X-TOKEN state 1 response one",
      "auth X-TOKEN state 2 response t0k3n"]),
    ("{mechanism: X-TOKEN, initial: hi, responses: [one]}", 501, "none",
     ["auth X-TOKEN state 0 response hi", "auth X-TOKEN state 1 response one"]),
])
def test_auth_plain_login_and_a_custom_mechanism(tmp_path, auth, code, user, output):
    results = run(with_hooks(tmp_path, AUTH_SESSION.format(auth=auth)))
    step = by_command(results, "AUTH")[0]
    assert step.code == code and step.output == output
    assert by_command(results, "MAIL")[0].output == [f"mail from a@b.example auth={user}"]


def test_a_custom_mechanism_answers_each_challenge_in_order(tmp_path):
    results = run(with_hooks(tmp_path, AUTH_SESSION.format(
        auth="{mechanism: X-TOKEN, responses: [one, t0k3n]}")))
    step = by_command(results, "AUTH")[0]
    assert step.prompts == [("334 dG9rZW4gcGxlYXNl", "b25l"), ("334 YWdhaW4=", "dDBrM24=")]
    assert [r.phase for r in step.runs] == ["auth"] * 3 and step.decision == "accept"


def test_auth_needs_tls_unless_plaintext_is_allowed(tmp_path):
    results = run(with_hooks(tmp_path, """\
        steps:
          - ehlo: client.example
          - auth: {mechanism: PLAIN, username: a, password: secret}
          - starttls: {protocol: TLSv1.3, sni: mx.example.net}
          - ehlo: client.example
          - auth: {mechanism: PLAIN, username: a, password: secret}
        """))
    auth = by_command(results, "AUTH")
    assert auth[0].code == 538 and auth[0].runs == []
    assert auth[1].code == 235


def test_starttls_facts_are_in_connection_tls(tmp_path):
    (tmp_path / "helo.hsl").write_text(
        'echo json_encode($connection["tls"] ?? none);')
    s = with_hooks(tmp_path, """\
        steps:
          - ehlo: a.example
          - starttls: {protocol: TLSv1.2, cipher: ECDHE-RSA-AES128-GCM-SHA256, keysize: 128,
                       sni: mx.example.net}
          - mail: a@b.example
          - ehlo: b.example
          - starttls
        """, {"helo": "helo.hsl"})
    results = run(s)
    ehlo = by_command(results, "EHLO")
    assert ehlo[0].output == ["null"] and "STARTTLS" in ehlo[0].reply_parts()[1]
    assert json.loads(ehlo[1].output[0]) == {
        "protocol": "TLSv1.2", "cipher": "ECDHE-RSA-AES128-GCM-SHA256", "keysize": 128,
        "sni": "mx.example.net"}
    assert "STARTTLS" not in ehlo[1].reply_parts()[1]
    assert by_command(results, "MAIL")[0].code == 503       # HELO forgotten (RFC 3207)
    assert by_command(results, "STARTTLS")[1].reply_parts() == (
        [5, 5, 1], ["Error: TLS already active"])


def test_tls_from_the_start_and_starttls_not_offered(tmp_path):
    (tmp_path / "helo.hsl").write_text('echo $connection["tls"]["protocol"];')
    s = with_hooks(tmp_path, """\
        tls: {protocol: TLSv1.3}
        starttls: false
        steps: [ehlo: a.example, starttls]
        """, {"helo": "helo.hsl"})
    results = run(s)
    assert by_command(results, "EHLO")[0].output == ["TLSv1.3"]
    assert by_command(results, "STARTTLS")[0].code == 500


def test_maxsize_limits_data_and_size(tmp_path):
    big = "Subject: big\n\n" + "x" * 200 + "\n"
    s = session_file(tmp_path, f"""\
        maxsize: 100
        steps:
          - ehlo: x.example
          - mail: "a@b.example SIZE=500"
          - mail: "a@b.example SIZE=50"
          - rcpt: c@d.example
          - data: {{text: "{big.encode('unicode_escape').decode()}"}}
          - rcpt: c@d.example
        """)
    results = run(s)
    ehlo = by_command(results, "EHLO")[0]
    assert "SIZE 100" in ehlo.reply_parts()[1]
    assert [r.code for r in by_command(results, "MAIL")] == [552, 250]
    data = by_command(results, "DATA")[0]
    assert data.reply_parts() == ([5, 3, 4], ["Error: message too big"])
    assert data.queued == []
    assert by_command(results, "RCPT")[1].code == 503       # the transaction is over


def test_a_refusal_with_disconnect_ends_the_session(tmp_path):
    s = with_hooks(tmp_path, """\
        remoteip: 198.51.100.66
        steps: [ehlo: x.example, quit]
        """)
    results = run(s)
    assert [(r.command, r.ran) for r in results] == [
        ("CONNECT", True), ("CLOSE", True), ("EHLO", False), ("QUIT", False)]
    assert results[0].code == 521 and results[0].disconnect
    assert results[1].output == ["bye after connect close=local"]
    p = hsl("--session", s)
    assert p.returncode == 0
    assert p.stdout.splitlines()[:4] == [
        'connect: 521 "no service for you" [connect: reject] and disconnect',
        "close local: [disconnect: pass]",
        "    bye after connect close=local",
        "not run: EHLO x.example (the connection is closed)"]


def test_the_client_closing_runs_disconnect_once(tmp_path):
    s = with_hooks(tmp_path, """\
        steps:
          - ehlo: x.example
          - close: remote
          - mail: a@b.example
        """)
    results = run(s)
    assert [(r.command, r.ran) for r in results] == [
        ("CONNECT", True), ("EHLO", True), ("CLOSE", True), ("MAIL", False)]
    assert results[2].output == ["bye after connect,helo close=remote"]
    assert results[2].decision == "pass" and not results[2].step.implicit


def test_the_steps_running_out_is_the_client_leaving(tmp_path):
    results = run(with_hooks(tmp_path, "steps: [ehlo: x.example]\n"))
    assert results[-1].step.implicit and results[-1].argument == "remote"
    assert results[-1].output == ["bye after connect,helo close=remote"]


def test_proxy_hook_sees_every_command_and_may_rewrite_or_reply(tmp_path):
    (tmp_path / "proxy.hsl").write_text(textwrap.dedent("""\
        echo "proxy " . $arguments["command"];
        if ($arguments["command"] == "VRFY bob") Reply("no VRFY here", ["reply_codes" => ["code" => 252]]);
        if ($arguments["command"] == "NOOP please") Pass(["command" => "RSET"]);
        Pass();
        """))
    s = with_hooks(tmp_path, """\
        steps:
          - ehlo: x.example
          - command: VRFY bob
          - noop: please
          - command: XFOO
        """, {"proxy": "proxy.hsl"})
    results = run(s)
    assert [r.output for r in results[1:4]] == [
        ["proxy EHLO x.example"], ["proxy VRFY bob"], ["proxy NOOP please"]]
    vrfy = results[2]
    assert (vrfy.code, vrfy.phase, vrfy.decision) == (252, "proxy", "reply")
    rset = results[3]
    assert rset.rewritten == "RSET" and rset.command == "RSET" and rset.code == 250
    assert results[4].reply_parts() == ([5, 5, 2], ["Error: command not recognized"])
    p = hsl("--session", s)
    assert "NOOP please: 250 2.0.0 \"OK\"" in p.stdout
    assert "    proxy: passed on as RSET" in p.stdout


def test_per_domain_rcptto_hooks(tmp_path):
    (tmp_path / "default.hsl").write_text('Reject("default hook");')
    (tmp_path / "local.hsl").write_text('Accept(["reason" => "domain hook"]);')
    s = session_file(tmp_path, """\
        hooks: {rcptto: default.hsl}
        rcptto_domains: {Example.COM: local.hsl}
        steps: [ehlo: x.example, mail: a@b.example, rcpt: [u@example.com, u@example.org]]
        """)
    rcpt = by_command(run(s), "RCPT")
    assert [r.reply_parts()[1] for r in rcpt] == [["domain hook"], ["default hook"]]


def test_hook_option_replaces_the_files_hook_for_that_phase(tmp_path):
    s = with_hooks(tmp_path, "steps: [ehlo: x.example, mail: a@b.example]\n")
    p = hsl("--hook", "mailfrom", "-e", 'Reject("from the command line");', "--session", s)
    assert p.returncode == 0, p.stderr
    assert 'MAIL FROM:<a@b.example>: 554 5.7.1 "from the command line" [mailfrom: reject]' \
        in p.stdout.splitlines()


def test_script_errors_are_reported_under_their_step(tmp_path):
    (tmp_path / "mailfrom.hsl").write_text('echo "before";\n$x = "a";\n$x->nope();\n')
    s = with_hooks(tmp_path, "steps: [ehlo: x.example, mail: a@b.example]\n",
                   {"mailfrom": "mailfrom.hsl"})
    p = hsl("--session", "s.yaml", cwd=tmp_path)
    assert p.returncode == 0                # the session ran: the error is a decision
    lines = p.stdout.splitlines()
    # the server's reply to a failed hook, as hsl serve gives it
    i = lines.index('MAIL FROM:<a@b.example>: 451 4.3.0 "Temporary local problem, try again '
                    'later" [mailfrom: defer]')
    assert lines[i + 1] == "    before"
    assert lines[i + 2].startswith("    error: mailfrom.hsl:3:")
    assert "mailfrom.hsl:3:" in p.stderr and "Traceback" not in p.stderr
    data = json.loads(hsl("--session", s, "--json", cwd=tmp_path).stdout)
    assert data["steps"][2]["error"].startswith("mailfrom.hsl:3:")
    assert (data["steps"][2]["decision"], data["steps"][2]["output"]) == ("defer", ["before"])


def test_a_hook_that_does_not_compile_exits_1_before_any_step(tmp_path):
    (tmp_path / "helo.hsl").write_text("echo 1 +;\n")
    s = with_hooks(tmp_path, "steps: [ehlo: x.example]\n", {"helo": "helo.hsl"})
    p = hsl("--session", s)
    assert p.returncode == 1 and p.stdout == ""
    assert "helo.hsl:1:" in p.stderr and "Traceback" not in p.stderr


# ---------------------------------------------------------------- output modes

def test_json_has_one_object_per_step_and_the_copies(tmp_path):
    p = hsl("--session", DATA / "full.yaml", "--json", cwd=ROOT)
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert set(data) == {"steps", "queued", "stored"}
    first = data["steps"][0]
    assert list(first) == ["step", "implicit", "command", "argument", "ran", "phase",
                           "decision", "code", "enhanced", "reply", "disconnect", "output",
                           "error", "context"]
    assert [s["command"] for s in data["steps"]] == [
        "CONNECT", "EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "RCPT",
        "DATA", "QUIT", "CLOSE"]
    rcpt = data["steps"][7]
    assert {k: rcpt[k] for k in ("argument", "phase", "decision", "code", "enhanced",
                                 "reply")} == {
        "argument": "TO:<nobody@example.net>", "phase": "rcptto", "decision": "reject",
        "code": 550, "enhanced": [5, 1, 1], "reply": ["no such user"]}
    eod = data["steps"][9]
    assert [q["recipient"] for q in eod["queued"]] == ["bob@example.net", "real@example.net"]
    assert eod["stored"] == [] and data["queued"] == eod["queued"] and data["stored"] == []
    assert data["steps"][-1]["context"]["phases"][-1] == "eod"
    assert data["steps"][-1]["disconnect"] is True and data["steps"][-1]["implicit"] is True


def test_trace_is_under_each_step(tmp_path):
    p = hsl("--session", DATA / "full.yaml", "--trace", cwd=ROOT)
    lines = p.stdout.splitlines()
    i = lines.index('RCPT TO:<nobody@example.net>: 550 5.1.1 "no such user" [rcptto: reject]')
    assert lines[i + 1] == ('    trace: tests/data/sessions/rcptto.hsl:2:5: if '
                            '($arguments["address"]["localpart"] == "nobody") -> true')
    assert lines[i + 2] == "    trace: tests/data/sessions/rcptto.hsl:3:5: decided: reject"
    data = json.loads(hsl("--session", DATA / "full.yaml", "--trace", "--json", cwd=ROOT).stdout)
    assert data["steps"][7]["trace"][-1] == "tests/data/sessions/rcptto.hsl:3:5: decided: reject"
    assert data["steps"][2]["trace"] == []          # STARTTLS runs no hook


def test_spool_commits_every_accepted_data(tmp_path):
    spool_dir = tmp_path / "spool"
    s = with_hooks(tmp_path, f"""\
        steps:
          - ehlo: x.example
          - mail: a@b.example
          - rcpt: [bob@example.net, nobody@example.net]
          - data: {DATA / 'message.eml'}
          - mail: c@b.example
          - rcpt: carol@example.net
          - data: {{text: "Subject: spam\\n\\nbuy\\n"}}
          - mail: d@b.example
          - rcpt: dave@example.net
          - data: {{text: "Subject: two\\n\\nhi\\n"}}
        """)
    p = hsl("--session", s, "--spool", spool_dir, "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    entries = spool.read_spool(str(spool_dir)).entries
    assert [e.id for e in entries] == data["stored"] and len(entries) == 2
    assert [e.envelope["recipient"] for e in entries] == ["bob@example.net", "dave@example.net"]
    assert entries[0].read_message() == (DATA / "message.eml").read_bytes()
    assert entries[1].read_message() == b"Subject: two\r\n\r\nhi\r\n"
    codes = [s["code"] for s in data["steps"] if s["command"] == "DATA"]
    assert codes == [250, 550, 250]
    p = hsl("--session", s, "--spool", spool_dir)
    assert p.stdout.count(f"in {spool_dir}") == 2


def test_a_spool_that_cannot_take_the_copies_is_451_and_exit_1(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    s = session_file(tmp_path, "steps: [ehlo: x, mail: a@b.example, rcpt: c@d.example, "
                               "data, mail: a@b.example]\n")
    p = hsl("--session", s, "--spool", blocker)
    assert p.returncode == 1
    assert f"spool directory {blocker}" in p.stderr and "Traceback" not in p.stderr
    assert 'DATA: 451 4.3.0 "Error: could not store the message, try again later"' in p.stdout
    assert "MAIL FROM:<a@b.example>: 250 2.1.0" in p.stdout.splitlines()[-2]


# ------------------------------------------------------------------ bad files

@pytest.mark.parametrize("text, where, message", [
    ("steps: [ehlo: x, bogus]\n", "1:18", "unknown step 'bogus'; the steps are: connect, "
     "ehlo, helo, starttls, auth, mail, rcpt, data, rset, noop, help, quit, close, command"),
    ("steps:\n  - ehlo: x\n  - mial: a@b\n", "3:5", "unknown step 'mial' (did you mean mail?)"),
    ("steps: [ehlo: x]\nmail_from: a@b\n", "2:1",
     "'mail_from' is not a setting of a whole session (a step here: - mail: ADDR)"),
    ("steps: ehlo\n", "1:8", "steps must be a list of steps"),
    ("steps:\n  - ehlo: x\n  - connect\n", "3:5", "connect is the first step"),
    ("steps:\n  - {ehlo: x, mail: y}\n", "2:5", "a step is one of"),
    ("steps: [ehlo: x]\nremoteip: nowhere\n", "2:11", "remoteip must be an IP address"),
    ("steps: [ehlo: x]\nremoteport: many\n", "2:13", "remoteport must be a number"),
    ("steps: [ehlo: x]\nmaxsize: -1\n", "2:10", "maxsize must be a number of bytes"),
    ("steps: [ehlo: x]\nhooks: {hello: h.hsl}\n", "2:9",
     "'hello' is not a hook phase of a session; the phases are: connect, helo, auth"),
    ("steps: [ehlo: x]\nhooks:\n  helo: missing.hsl\n", "3:9", "cannot read hook script"),
    ("steps:\n  - data: missing.eml\n", "2:11", "data: cannot read message missing.eml"),
    ("steps:\n  - data: {file: a, text: b}\n", "2:11", "data: give the message file"),
    ("steps:\n  - auth: {mechanism: PLAIN, user: x}\n", "2:11",
     "auth: unknown setting 'user'; the settings are: mechanism, username"),
    ("steps:\n  - close: nobody\n", "2:12", "close: say who closes the connection"),
    ("steps:\n  - rcpt: []\n", "2:11", "rcpt: give a recipient"),
    ("steps:\n  - starttls: {peercert: none.pem}\n", "2:15", "cannot read certificate"),
    ("steps:\n  - command: \"\"\n", "2:14", "command: give the command line"),
    ("steps: [ehlo: x]\ndns:\n  a.example: {zzz: [x]}\n", "3:", "dns:"),
    ("steps: [ehlo: x\n", "2:1", "not valid YAML"),
    ("steps: [ehlo: x]\ncontext: {a: 2024-01-01}\n", "2:10",
     "context: cannot convert date to an HSL value"),
])
def test_bad_session_files_name_the_line(tmp_path, text, where, message):
    s = session_file(tmp_path, text)
    with pytest.raises(SessionError) as e:
        s_ = steps.load(str(s))
        steps.compile_hooks(s_)
    assert str(e.value).startswith(f"{s}:{where}"), str(e.value)
    assert message in str(e.value)
    p = hsl("--session", s)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.startswith(f"hsl: error: {s}:{where}") and message in p.stderr


def test_one_command_options_are_refused_with_a_whole_session(tmp_path):
    s = session_file(tmp_path, "steps: [ehlo: x]\n")
    p = hsl("--session", s, "--mail-from", "a@b")
    assert p.returncode == 2 and "--mail-from is for a one-command session" in p.stderr
    p = hsl("-e", "Accept();", "--session", s)
    assert p.returncode == 2 and "say which hook the script is with --hook PHASE" in p.stderr


def test_connection_options_change_a_whole_session(tmp_path):
    s = with_hooks(tmp_path, "steps: [ehlo: x]\n")
    p = hsl("--session", s, "--remoteip", "198.51.100.66", "--context", '{"a": 1}',
            "--json")
    data = json.loads(p.stdout)
    assert data["steps"][0]["code"] == 521
    p = hsl("--session", s, "--remoteip", "not-an-ip")
    assert p.returncode == 2 and "remoteip must be an IP address" in p.stderr


# -------------------------------------------------------- one-command files

def test_one_command_session_files_work_as_before(tmp_path):
    s = session_file(tmp_path, "verb: HELO\nhost: old.example\nexpect: {decision: accept}\n")
    p = hsl("--hook", "helo", "-e", 'echo $arguments["host"];', "--session", s)
    assert (p.returncode, p.stdout.splitlines()) == (0, ["old.example",
                                                         'accept 250 "mx.hsl.invalid"'])
    p = hsl("--session", s)
    assert p.returncode == 2 and "is a one-command session: give the script" in p.stderr
    p = hsl("--session", tmp_path / "missing.yaml")
    assert p.returncode == 2 and "cannot read session file" in p.stderr
    p = hsl()
    assert p.returncode == 2 and "one of the arguments file -e is required" in p.stderr


def test_expect_is_kept_for_hsl_test(tmp_path):
    s = session_file(tmp_path, """\
        expect: {steps: 4}
        steps:
          - {ehlo: x.example, expect: {code: 250}}
          - rcpt: [a@b.example, c@d.example]
            expect: {code: 503}
          - quit
        """)
    loaded = steps.load(str(s))
    assert loaded.expect == {"steps": 4}
    assert [(st.name, st.index, st.expect) for st in loaded.steps] == [
        ("ehlo", 0, {"code": 250}), ("rcpt", 1, {"code": 503}), ("rcpt", 1, {"code": 503}),
        ("quit", 2, None)]
    assert loaded.steps[1].where == f"{s}:4:5"


def test_the_example_session_runs():
    p = hsl("--session", ROOT / "examples" / "inbound_mx" / "session.yaml", cwd=ROOT)
    assert (p.returncode, p.stderr) == (0, "")
    lines = [ln for ln in p.stdout.splitlines() if not ln.startswith("queued ")]
    assert lines == [
        'connect: 220 "mx.example.com ESMTP"',
        'EHLO mail.partner.example: 250 "mx.example.com" (+4 more lines)',
        'MAIL FROM:<dave@partner.example> SIZE=300: 250 2.1.0 "Sender OK" [mailfrom: accept]',
        'RCPT TO:<alice@example.com>: 250 2.1.5 "Recipient OK" [rcptto: accept]',
        'RCPT TO:<sales@example.com>: 250 2.1.5 "Recipient OK" [rcptto: accept]',
        'RCPT TO:<nobody@example.com>: 550 5.1.1 "No such user here" [rcptto: reject]',
        'RCPT TO:<someone@elsewhere.example>: 554 5.7.1 "Relaying denied" [rcptto: reject]',
        'RCPT TO:<carol@example.net>: 250 2.1.5 "Recipient OK" [rcptto: accept]',
        'DATA: 250 2.0.0 "Message accepted" [eod: accept]',
        'MAIL FROM:<dave@partner.example>: 250 2.1.0 "Sender OK" [mailfrom: accept]',
        'RCPT TO:<bob@example.com>: 250 2.1.5 "Recipient OK" [rcptto: accept]',
        'DATA: 550 5.6.0 "A message needs a Subject" [eod: reject]',
        'MAIL FROM:<bob@example.com>: 550 5.7.57 "Authentication required to send as '
        'example.com" [mailfrom: reject]',
        'QUIT: 221 2.0.0 "Bye" and disconnect',
        "close local"]
    queued = [ln.split(": ", 1)[1] for ln in p.stdout.splitlines() if ln.startswith("queued ")]
    assert queued == ["dave@partner.example -> alice@example.com via mx (239 bytes)",
                      "dave@partner.example -> bob@example.com via mx (239 bytes)",
                      "dave@partner.example -> carol@example.net via lmtp (239 bytes)"]


def test_the_whole_session_example_of_the_docs_loads(tmp_path):
    text = (ROOT / "docs" / "sessions.md").read_text(encoding="utf-8")
    bodies = [b for b in text.split("```yaml\n")[1:] if "\nsteps:" in b.split("```")[0]]
    assert len(bodies) == 1
    path = session_file(tmp_path, bodies[0].split("```")[0])
    loaded = steps.load(str(path))
    assert [s.name for s in loaded.steps] == ["connect", "ehlo", "starttls", "ehlo", "auth",
                                              "mail", "rcpt", "rcpt", "data", "quit"]
    assert set(loaded.hooks) == {"helo", "auth", "mailfrom", "rcptto", "eod", "disconnect"}
    assert loaded.steps[-2].message == b"Subject: hello\r\n\r\nHi.\r\n"
