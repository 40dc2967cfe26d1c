"""Plugin delivery: `Try(["plugin" => ["id" => ..., "arguments" => ...]])` delivers
through a delivery plugin declared in a --plugins file, with its canned outcome, which
reaches postdelivery like a real attempt's; an undeclared id is a config error of that
entry's attempt, never a traceback."""
import json
import logging
import os
import subprocess
import sys

import pytest

from hsl.plugins import load_plugins
from test_builtins_smtpclient import Server
from test_mail_send import Inbox
from test_queue_run import ROOT, commit, reports, runner

PLUGINS = """\
functions:
  tenant_of:
    params: [address]
    result: t1
delivery:
  http-deliver:
    result: {code: 250, enhanced: [2, 0, 0], reason: "stored in the archive"}
  refuse:
    result: {code: 550, enhanced: [5, 7, 1], reason: [policy, says no], state: RCPT}
  flaky:
    attempts:
      - error: {message: backend down}
      - result: {code: 250}
"""

PRE = '''
    $r = $message["recipientaddress"]["localpart"];
    Try(["plugin" => ["id" => $r, "arguments" => ["tenant" => tenant_of($r)]]]);
'''
POST = '''
    $a = $arguments["attempt"];
    echo ($arguments["action"] ?? "delivered") . " " . ($a["plugin"]["id"] ?? "-") . " " .
         ($a["result"]["code"] ?? "-") . " " . json_encode($a["result"]["enhanced"] ?? none) . " " .
         json_encode($a["result"]["reason"] ?? none) . " " . ($a["error"]["type"] ?? "-") . " " .
         ($a["error"]["message"] ?? "-") . " " . (isset($a["connection"]) ? "conn" : "noconn");
'''


@pytest.fixture
def sink():
    inbox = Inbox()         # RCPT: bad* 550, later* 450
    server = Server(inbox, auth_require_tls=False)
    server.start()
    yield server, inbox
    server.stop()


@pytest.fixture
def plugins(tmp_path):
    path = tmp_path / "plugins.yaml"
    path.write_text(PLUGINS)
    return path, load_plugins([str(path)])


def test_canned_outcomes_reach_postdelivery_like_real_attempts(sink, plugins, tmp_path,
                                                               caplog):
    server, inbox = sink
    path, loaded = plugins
    d = str(tmp_path / "sp")
    archive, refuse, flaky, nobody, real = commit(
        d, "http-deliver@example.org", "refuse@example.org", "flaky@example.org",
        "nobody@example.org", "ok@example.org")
    pre = PRE.replace('$r = ', 'if ($message["recipient"] == "ok@example.org" or '
                               '$message["sender"] == "") Try();\n    $r = ')
    from hsl.hooks.engine import compile_hook
    r, q = runner(d, server, post=POST, delivery_plugins=loaded.delivery)
    # the hook calls the plugin function tenant_of() of the same file
    r.hooks.predelivery = compile_hook("predelivery", pre, "pre.hsl",
                                       plugins=loaded)
    with caplog.at_level(logging.WARNING, logger="hsl.queue"):
        first = {o.id: o for o in r.run(once=True)}
    said = {i: o.output[0].strip() for i, o in first.items()}
    assert said[archive] == ('delivered http-deliver 250 [2,0,0] '
                             '["stored in the archive"] - - noconn')
    assert first[archive].action == "delivered"
    assert said[refuse] == ('BOUNCE refuse 550 [5,7,1] ["policy","says no"] smtp '
                            '5.7.1 policy\nsays no noconn')
    assert first[refuse].action == "bounce" and first[refuse].dsn == "failed"
    assert first[refuse].attempt["result"]["state"] == "RCPT"
    assert said[flaky] == "QUEUE flaky - null null plugin backend down noconn"
    assert first[flaky].action == "queue"
    # an undeclared id: that entry is requeued with the reason, the run went on
    assert first[nobody].action == "queue"
    assert first[nobody].attempt["error"]["type"] == "config"
    assert "no delivery plugin 'nobody' is declared" in \
        first[nobody].attempt["error"]["message"]
    assert "no delivery plugin 'nobody'" in q.get(nobody).last["outcome"]
    assert any("no delivery plugin 'nobody'" in rec.getMessage() for rec in caplog.records)
    assert first[real].action == "delivered"            # a real attempt beside them
    r.run(once=True)        # the DSN (if this pass did not pick it up already)
    # only ok@ got the message; the refused one's bounce went to the sender's sink
    assert sorted(m[1] for m in inbox.messages) == [["a@example.com"], ["ok@example.org"]]
    (report,) = reports(inbox)
    status = report.get_payload()[1].get_payload()[1]
    assert (status["Status"], status["Diagnostic-Code"]) == (
        "5.7.1", "smtp; 550 policy says no")
    # the flaky plugin's second attempt delivers (its `attempts` follow the retries)
    r.clock.advance(60)
    again = {o.id: o for o in r.run(once=True)}
    assert again[flaky].action == "delivered"
    assert again[flaky].output[0].strip().startswith("delivered flaky 250")
    assert {e.id for e in q.entries()} == {nobody}
    q.close()


def test_cli_run_with_plugins(sink, plugins, tmp_path):
    server, inbox = sink
    path, _ = plugins
    d = str(tmp_path / "sp")
    archive, nobody = commit(d, "http-deliver@example.org", "nobody@example.org")
    pre = tmp_path / "pre.hsl"
    pre.write_text(PRE)
    env = {**os.environ, "PYTHONPATH": ROOT}
    cmd = [sys.executable, "-m", "hsl", "queue", "run", "--once", "--json", "--spool", d,
           "--predelivery", str(pre), "--plugins", str(path),
           "--transport", f"mx=127.0.0.1:{server.port}"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    rows = {row["id"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert rows[archive]["action"] == "delivered"
    assert rows[archive]["attempt"]["plugin"] == {"id": "http-deliver"}
    assert rows[nobody]["action"] == "queue"
    assert "no delivery plugin 'nobody'" in rows[nobody]["attempt"]["error"]["message"]
    # without --plugins the hook does not compile (tenant_of is unknown): a clear error
    r = subprocess.run(cmd[:cmd.index("--plugins")] + cmd[cmd.index("--plugins") + 2:],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "tenant_of" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("text,where,message", [
    ("delivery:\n  p:\n    result: {code: 700}\n", ":3:20:",
     "delivery.p.result.code: must be a reply code (200-599)"),
    ("delivery:\n  p:\n    error: {temporary: true}\n", ":3:12:",
     "delivery.p.error.message: required"),
    ("delivery:\n  p: {result: {code: 250}, error: {message: x}}\n", ":2:6:",
     "an outcome is result:"),
    ("delivery:\n  p:\n    attempts: []\n", ":3:15:", "must be a list"),
    ("delivery:\n  p:\n    resutl: {code: 250}\n", ":3:5:", "unknown key"),
    ("delivery:\n  p:\n    result: {code: 250, enhanced: [2, 0]}\n", ":3:", "three"),
])
def test_a_bad_delivery_plugin_is_an_error_naming_its_place(tmp_path, text, where,
                                                            message):
    path = tmp_path / "plugins.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        load_plugins([str(path)])
    assert str(e.value).startswith(str(path) + where), str(e.value)
    assert message in str(e.value)
    # and from the command line: exit 2 with that message
    r = subprocess.run([sys.executable, "-m", "hsl", "queue", "run", "--once", "--spool",
                        str(tmp_path / "sp"), "--plugins", str(path)],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": ROOT})
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
