"""The predelivery and postdelivery contexts (hsl/hooks/delivery.py)."""
import os

import pytest

from hsl.errors import HSLSyntaxError
from hsl.hooks.delivery import EntryView, run_postdelivery, run_predelivery
from hsl.hooks.engine import compile_hook
from hsl.runtime.values import from_python, to_python

MESSAGE = b"Subject: t\r\n\r\nhello\r\n"


def entry(**kw):
    base = dict(transaction="tx1", queue=0, sender="alice@example.com",
                recipient="Bob@example.org", transportid="mx", message=MESSAGE,
                ts=1767225600.0, serverid="inbound", metadata={"tenant": "t1"}, retry=2)
    return EntryView(**{**base, **kw})


def pre(source, e=None):
    return run_predelivery(compile_hook("predelivery", source, "pre.hsl"), e or entry())


def post(source, e=None, attempt=None, **kw):
    kw.setdefault("action", "QUEUE")
    return run_postdelivery(compile_hook("postdelivery", source, "post.hsl"), e or entry(),
                            from_python(attempt) if attempt is not None else None, **kw)


def test_message_and_arguments():
    d = pre('echo $message["id"]["transaction"] . $message["id"]["queue"] . '
            '$message["recipientaddress"]["domain"] . $message["senderaddress"]["localpart"] . '
            '$message["size"] . $message["serverid"] . $message["transportid"] . '
            '$arguments["retry"]; echo File($message["file"]["original"])->read();')
    assert d.output == ["tx10example.orgalice" + str(len(MESSAGE)) + "inboundmx2",
                        MESSAGE.decode()]
    assert d.action == "try" and d.error is None        # the implicit end


def test_try_options_are_read_and_checked():
    d = pre('Try(["host" => "10.0.0.1", "port" => 2525, "tls" => "require_verify", '
            '"tls_verify_name" => ["mx.example.org"], "timeout" => ["data" => 60], '
            '"sender" => ["localpart" => "b", "domain" => "example.com"], "x" => 1]);')
    assert d.action == "try" and d.where == ("pre.hsl", 1, 1)
    assert d.options == {"host": "10.0.0.1", "port": 2525, "tls": "require_verify",
                         "tls_verify_name": ["mx.example.org"], "timeout": {"DATA": 60},
                         "sender": "b@example.com"}


def test_bounce_dsn_headers_as_name_value_lines_or_a_map():
    # the list form is a real predelivery hook's (HalonPOCLab); it was a false type error
    d = pre('Bounce(["dsn" => ["subject" => "CUSTOM", "from_name" => "Postmaster", '
            '"headers" => ["X-Halon-Custom-DSN: enabled", "X-B:two "]]]);')
    assert d.error is None and d.action == "bounce"
    assert d.options == {"dsn": {"subject": "CUSTOM", "from_name": "Postmaster", "headers": {
        "X-Halon-Custom-DSN": "enabled", "X-B": "two"}}}
    d = pre('Bounce(["dsn" => ["headers" => ["no colon here"]]]);')
    assert "dsn headers: 'no colon here' is not a \"Name: value\" line" in d.error


def test_try_takes_every_tls_mode_of_the_client_and_a_boolean_sni():
    # what the MTA-STS extra's predelivery gives (they were false script errors)
    d = pre('Try(["tls" => "dane_fallback_require_verify", "tls_sni" => true, '
            '"tls_verify_host" => true, "tls_default_ca" => true]);')
    assert d.error is None and d.options == {
        "tls": "dane_fallback_require_verify", "tls_sni": True, "tls_verify_host": True,
        "tls_default_ca": True}
    assert pre('Try(["tls_sni" => "mx.example.org"]);').options == {
        "tls_sni": "mx.example.org"}
    from hsl.hooks.delivery import TLS_MODES
    from hsl.net import smtp
    assert TLS_MODES == {m.encode() for m in smtp.TLS_MODES}       # one set of modes


@pytest.mark.parametrize("call,message", [
    ('Try(["tls_sni" => 1])', "Try() option tls_sni must be a boolean or a string"),
    ('Try(["port" => "25"])', "Try() option port must be a port number (1-65535), got string"),
    ('Try(["tls" => "sometimes"])', "Try() option tls must be one of"),
    ('Try(["protocol" => "x"])', "Try() option protocol must be smtp or lmtp"),
    ('Queue(["delay" => -1])', "Queue() option delay must be a number >= 0"),
    ('Queue(["hold" => 1])', "Queue() option hold must be a boolean"),
    ('Bounce(["dsn" => ["headers" => ["X" => 1]]])', "Bounce() option dsn headers"),
    ('SetMetaData(["a" => 1])', "SetMetaData() expects an array of string keys"),
])
def test_bad_options_are_script_errors_with_the_error_action(call, message):
    d = pre(call + ";")
    assert message in d.error and d.error.startswith("pre.hsl:1:1: ")
    assert (d.action, d.options) == ("queue", {"delay": 300, "increment_retry": False})


def test_queue_bounce_delete_in_predelivery():
    assert pre('Queue(["delay" => 60, "hold" => true, "transportid" => "slow", '
               '"reset_retry" => true]);').options == {
        "delay": 60, "hold": True, "transportid": "slow", "reset_retry": True}
    d = pre('Bounce(["dsn" => ["subject" => "gone", "headers" => ["X-A" => "1"]]]);')
    assert (d.action, d.options) == ("bounce", {"dsn": {"subject": "gone",
                                                        "headers": {"X-A": "1"}}})
    assert pre("Delete();").action == "delete"


def test_default_is_postdelivery_only():
    with pytest.raises(HSLSyntaxError):
        compile_hook("predelivery", "Default();", "pre.hsl")
    with pytest.raises(HSLSyntaxError):
        compile_hook("postdelivery", "Try();", "post.hsl")


def test_metadata_get_set():
    d = pre('$m = GetMetaData(); echo $m["tenant"]; SetMetaData(["tenant" => "t2"]); '
            'echo GetMetaData()["tenant"];')
    assert d.output == ["t1", "t2"] and d.metadata == {"tenant": "t2"}
    assert pre("Try();").metadata is None      # unchanged


def test_context_goes_from_pre_to_post_and_is_read_only_there():
    d = pre('$context["route"] = "a"; Try();')
    assert to_python(d.context) == {"route": "a"}
    p = post('echo $context["route"]; Default();', context=d.context)
    assert p.output == ["a"] and p.action == "default"
    with pytest.raises(HSLSyntaxError):
        compile_hook("postdelivery", '$context["x"] = 1;', "post.hsl")
    assert post('echo isset($context) ? "set" : "unset";').output == ["unset"]


def test_postdelivery_arguments_and_override():
    attempt = {"result": {"code": 451, "enhanced": [4, 2, 0], "reason": ["later"],
                          "state": "RCPT"}, "error": {"temporary": True, "type": "smtp",
                                                      "message": "451 later"}}
    p = post('echo $arguments["action"] . $arguments["retry"] . '
             '$arguments["attempt"]["result"]["code"] . ($arguments["expired"] ? "y" : "n"); '
             'Queue(["delay" => 5]);', attempt=attempt)
    assert p.output == ["QUEUE2451n"] and (p.action, p.options) == ("queue", {"delay": 5})
    assert post("echo 1;").action == "default"                  # implicit end
    assert post("$x = 1 / []; Queue();").action == "default"    # script error
    assert post("$x = 1 / [];").error.startswith("post.hsl:1:")


def test_after_a_delivery_queue_bounce_delete_are_errors():
    for call in ("Queue()", "Bounce()", "Delete()"):
        p = post(call + ";", action=None, attempt={"result": {"code": 250}})
        assert p.action == "default"
        assert "after a successful delivery" in p.error
    p = post('echo isset($arguments["action"]) ? "a" : "none"; Default();', action=None)
    assert p.output == ["none"] and p.error is None


def test_hook_functions_can_be_wrapped_and_reached_with_builtin():
    d = pre('function Try($o = []) { echo "wrapped"; builtin Try(["port" => 2526]); } '
            'Try();')
    assert d.output == ["wrapped"] and d.options == {"port": 2526}


def test_outside_the_queue_hooks_they_do_not_exist():
    from hsl.hooks.delivery import _state
    from hsl.errors import ScriptError
    with pytest.raises(ScriptError, match="only available in the predelivery"):
        _state("GetMetaData")


def hsl_run(*args, cwd):
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run([sys.executable, "-m", "hsl", "run", *args], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "PYTHONPATH": root},
                          timeout=60)


def test_hsl_run_postdelivery_on_a_fixture(tmp_path):
    (tmp_path / "mail.eml").write_bytes(MESSAGE)
    (tmp_path / "entry.yaml").write_text(
        "sender: alice@example.com\nrecipient: bob@example.org\nmessage: mail.eml\n"
        "retry: 3\nmetadata: {tenant: t1}\naction: QUEUE\ncontext: {route: a}\n"
        "attempt: {result: {code: 451, enhanced: [4, 2, 0], reason: [busy], "
        "state: RCPT}}\n")
    (tmp_path / "post.hsl").write_text(
        'echo $arguments["attempt"]["result"]["code"] . " " . $context["route"] . " " . '
        '$arguments["retry"] . " " . $message["size"];\n'
        'SetMetaData(["tenant" => "t2"]);\nQueue(["delay" => 600]);\n')
    r = hsl_run("--hook", "postdelivery", "--entry", "entry.yaml", "post.hsl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"451 a 3 {len(MESSAGE)}",
                                     'postdelivery: Queue() {"delay": 600}',
                                     'metadata: {"tenant": "t2"}']
    r = hsl_run("--hook", "postdelivery", "--entry", "entry.yaml", "--json", "post.hsl",
                cwd=tmp_path)
    import json
    assert json.loads(r.stdout)["decision"] == "queue"


def test_hsl_run_predelivery_on_a_spool_copy(tmp_path):
    from hsl.queue import spool
    ids = spool.write_copies(str(tmp_path / "sp"), [
        spool.Copy(b"Subject: first\r\n\r\n", "tx9", "alice@example.com",
                   "bob@example.org", "mx"),
        spool.Copy(MESSAGE, "tx9", "alice@example.com", "carol@example.org", "mx",
                   metadata={"k": "v"})])
    (tmp_path / "pre.hsl").write_text(
        'echo $message["id"]["transaction"] . " " . GetMetaData()["k"] . " " . '
        '$message["recipient"] . " " . $message["size"] . " " . '
        '(File($message["file"]["original"])->read() == "Subject: t\\r\\n\\r\\nhello\\r\\n"); '
        'Try(["port" => 2525]);\n')
    r = hsl_run("--hook", "predelivery", "--entry", os.path.join("sp", ids[1]), "pre.hsl",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"tx9 v carol@example.org {len(MESSAGE)} true",
                                     'predelivery: Try() {"port": 2525}']
    # the batch alone names no copy when it has two: the error names them
    batch = ids[0].rsplit("-", 1)[0]
    r = hsl_run("--hook", "predelivery", "--entry", os.path.join("sp", batch), "pre.hsl",
                cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"the batch has 2 copies: name one, {batch}-0 to {batch}-1" in r.stderr
    r = hsl_run("--hook", "predelivery", "--entry", os.path.join("sp", batch + "-2"),
                "pre.hsl", cwd=tmp_path)
    assert r.returncode == 2 and "the batch has 2 copies (0 to 1)" in r.stderr


@pytest.mark.parametrize("text,message", [
    ("recipient: b@example.org\n", "entry.yaml:1:1: sender is required"),
    ("sender: a\nrecipient: b\nactoin: QUEUE\n", "entry.yaml:3:1: actoin: unknown key"),
    ("sender: a\nrecipient: b\naction: RETRY\n", "entry.yaml:3:9: action: must be QUEUE"),
    ("sender: a\nrecipient: b\nretry: -1\n", "entry.yaml:3:8: retry: must be a number >= 0"),
    ("sender: a\nrecipient: b\nmessage: nope.eml\n", "entry.yaml:3:10: message: cannot read"),
    ("[1, 2]\n", "entry.yaml:1:1: expected a mapping"),
    ("sender: a\nrecipient: b\nmetadata:\n  k: 1\n",
     "entry.yaml:4:6: metadata.k: must map strings to strings"),
    ("sender: a\nrecipient: b\nattempt: {result: {code: 45}}\n",
     "entry.yaml:3:26: attempt.result.code: must be a reply code (200-599)"),
    ("sender: a\nrecipient: b\nattempt:\n  result: {code: 451, enhanced: [4, 2]}\n",
     "entry.yaml:4:33: attempt.result.enhanced: must be [class, subject, detail]"),
    ("sender: a\nrecipient: b\nattempt:\n  error: {type: bogus}\n",
     "entry.yaml:4:17: attempt.error.type: must be one of config, dns"),
    ("sender: a\nrecipient: b\nattempt: {}\n",
     "entry.yaml:3:10: attempt: an attempt has a result: (the server's reply) or an error:"),
    ("sender: a\nrecipient: b\nattempt: {reslt: {code: 250}}\n",
     "entry.yaml:3:11: attempt.reslt: unknown key (one of result, error"),
    ("sender: a\nrecipient: b\ndsn: {notfy: NEVER}\n", "entry.yaml:3:7: dsn.notfy: unknown key"),
    ("sender: a\nrecipient: [b\n", "entry.yaml:3:1: not valid YAML"),
])
def test_bad_entry_files_name_the_node(tmp_path, text, message):
    (tmp_path / "entry.yaml").write_text(text)
    (tmp_path / "h.hsl").write_text("Default();\n")
    r = hsl_run("--hook", "postdelivery", "--entry", "entry.yaml", "h.hsl", cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_hsl_run_queue_hook_needs_an_entry(tmp_path):
    (tmp_path / "h.hsl").write_text("Try();\n")
    r = hsl_run("--hook", "predelivery", "h.hsl", cwd=tmp_path)
    assert r.returncode == 2 and "needs --entry FILE" in r.stderr


def test_hsl_run_postdelivery_on_a_spool_copy_is_after_a_delivery(tmp_path):
    # (it was an internal error: a spool copy has no postdelivery facts)
    from hsl.queue import spool
    (cid,) = spool.write_copies(str(tmp_path / "sp"), [spool.Copy(
        MESSAGE, "tx9", "alice@example.com", "bob@example.org", "mx")])
    (tmp_path / "post.hsl").write_text(
        'echo ($arguments["action"] ?? "delivered") . " " . isset($arguments["dsn"]);\n')
    # a batch of one copy: its batch file names it
    r = hsl_run("--hook", "postdelivery", "--entry",
                os.path.join("sp", cid.rsplit("-", 1)[0]), "post.hsl", cwd=tmp_path)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.splitlines() == ["delivered false", "postdelivery: Default()"]


def test_hsl_run_postdelivery_gets_the_dsn_of_its_attempt_and_a_grouping(tmp_path):
    # what bounce lists match: $arguments["dsn"]["diagnosticcode"], grouping and state
    (tmp_path / "entry.yaml").write_text(
        "sender: alice@example.com\nrecipient: bob@example.org\naction: BOUNCE\n"
        "grouping: '&google'\n"
        "attempt: {result: {code: 550, enhanced: [5, 7, 1], "
        "reason: [Email quota exceeded.], state: EOD}}\n")
    (tmp_path / "post.hsl").write_text(
        '$d = $arguments["dsn"];\n'
        'echo $d["action"] . "|" . $d["status"] . "|" . $d["diagnostictype"] . "|" . '
        '$d["diagnosticcode"] . "|" . $arguments["grouping"] . "|" . '
        '$arguments["attempt"]["result"]["state"];\n'
        'if ($d["diagnosticcode"] =~ #/^550 5\\.7\\.1 Email quota exceeded\\./i) Delete();\n')
    r = hsl_run("--hook", "postdelivery", "--entry", "entry.yaml", "post.hsl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "failed|5.7.1|smtp|550 5.7.1 Email quota exceeded.|&google|EOD",
        "postdelivery: Delete()"]
    (tmp_path / "entry.yaml").write_text(
        "sender: a@example.com\nrecipient: b@example.org\naction: QUEUE\n"
        "attempt: {error: {temporary: true, type: network, message: connection refused}}\n")
    (tmp_path / "post.hsl").write_text(
        'echo json_encode($arguments["dsn"]) . " " . isset($arguments["grouping"]);\n')
    r = hsl_run("--hook", "postdelivery", "--entry", "entry.yaml", "post.hsl", cwd=tmp_path)
    assert r.stdout.splitlines()[0] == \
        '{"action":"delayed","status":"4.4.1","diagnosticcode":"connection refused"} false'
    (tmp_path / "entry.yaml").write_text("sender: a\nrecipient: b\ngrouping: 1\n")
    r = hsl_run("--hook", "postdelivery", "--entry", "entry.yaml", "post.hsl", cwd=tmp_path)
    assert r.returncode == 2 and "entry.yaml:3:11: grouping: must be a string" in r.stderr


def test_hsl_run_queue_hooks_answer_dns_from_the_table(tmp_path):
    (tmp_path / "entry.yaml").write_text("sender: a@example.com\nrecipient: b@sts.example\n")
    (tmp_path / "dns.yaml").write_text('_mta-sts.sts.example: {TXT: ["v=STSv1; id=1;"]}\n')
    (tmp_path / "pre.hsl").write_text(
        'echo dns_query("_mta-sts." . $message["recipientaddress"]["domain"], '
        '["type" => "txt"])["result"][0];\n')
    r = hsl_run("--hook", "predelivery", "--entry", "entry.yaml", "--dns-table", "dns.yaml",
                "pre.hsl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["v=STSv1; id=1;", "predelivery: Try()"]
    r = hsl_run("--hook", "postdelivery", "--entry", "entry.yaml", "--dns-table", "no.yaml",
                "pre.hsl", cwd=tmp_path)
    assert r.returncode == 2 and "cannot read DNS table no.yaml" in r.stderr


def test_hsl_run_project_runs_the_projects_queue_hooks(tmp_path):
    # (they are src/hooks/queue/*.hsl, one pair for every server: it asked for
    # servers[].phases.postdelivery.hook and failed)
    import os
    import shutil
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    project = tmp_path / "tree"
    shutil.copytree(os.path.join(root, "tests", "data", "projects", "tree"), project)
    (project / "src" / "hooks" / "queue" / "postdelivery.hsl").write_text(
        'echo "post " . $arguments["action"] . " " . $arguments["dsn"]["status"];\n')
    (tmp_path / "entry.yaml").write_text(
        "sender: a@example.com\nrecipient: b@example.org\naction: QUEUE\n"
        "attempt: {result: {code: 451, enhanced: [4, 3, 0], reason: [later], state: RCPT}}\n")
    r = hsl_run("--project", "tree", "--hook", "postdelivery", "--entry", "entry.yaml",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["post QUEUE 4.3.0", "postdelivery: Default()"]
    r = hsl_run("--project", "tree", "--hook", "predelivery", "--entry", "entry.yaml",
                cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "predelivery: Try()\n"), r.stderr
    os.unlink(project / "src" / "hooks" / "queue" / "predelivery.hsl")
    r = hsl_run("--project", "tree", "--hook", "predelivery", "--entry", "entry.yaml",
                cwd=tmp_path)
    assert r.returncode == 2 and "the project has no predelivery hook " \
        "(src/hooks/queue/predelivery.hsl)" in r.stderr


def test_hsl_run_project_queue_hooks(tmp_path):
    root = tmp_path / "proj"
    (root / "src" / "config").mkdir(parents=True)
    (root / "src" / "config" / "smtpd-app.yaml").write_text(
        "servers: [{id: default, transport: mx}]\n")
    (root / "src" / "files").mkdir(parents=True)
    (root / "src" / "files" / "route.hsl").write_text(
        'function route($domain) { return $domain == "example.org" ? "10.0.0.7" : none; }\n')
    (root / "src" / "hooks" / "queue").mkdir(parents=True)
    (root / "src" / "hooks" / "queue" / "predelivery.hsl").write_text(
        'include "route.hsl";\nTry(["host" => route($message["recipientaddress"]["domain"])]);\n')
    (root / "src" / "hooks" / "queue" / "notes.hsl").write_text("echo 1;\n")
    (tmp_path / "entry.yaml").write_text("sender: a@example.com\nrecipient: b@example.org\n")
    r = hsl_run("--project", "proj", "--hook", "predelivery", "--entry", "entry.yaml",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ['predelivery: Try() {"host": "10.0.0.7"}']
    assert "notes.hsl: not a queue hook (the queue runs predelivery.hsl and " \
           "postdelivery.hsl): not used" in r.stderr
    r = hsl_run("--project", "proj", "--hook", "postdelivery", "--entry", "entry.yaml",
                cwd=tmp_path)
    assert r.returncode == 2 and "the project has no postdelivery hook " \
        "(src/hooks/queue/postdelivery.hsl)" in r.stderr
    # a packed configuration's scripting.hooks.postdelivery
    (tmp_path / "smtpd-app.yaml").write_text(
        "servers: [{id: default}]\nscripting:\n  hooks:\n    postdelivery: |\n"
        "      echo $arguments[\"action\"];\n      Delete();\n")
    (tmp_path / "post.yaml").write_text("sender: a@example.com\nrecipient: b@example.org\n"
                                        "action: BOUNCE\nattempt: {result: {code: 550}}\n")
    r = hsl_run("--config", "smtpd-app.yaml", "--hook", "postdelivery", "--entry",
                "post.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["BOUNCE", "postdelivery: Delete()"]


def test_hsl_run_postdelivery_takes_the_queues_own_action_from_the_attempt(tmp_path):
    (tmp_path / "post.hsl").write_text(
        'echo ($arguments["action"] ?? "delivered") . " " . $arguments["expired"];\n')

    def run(text, *extra):
        (tmp_path / "entry.yaml").write_text("sender: alice@example.com\n"
                                             "recipient: bob@example.org\n" + text)
        return hsl_run("--hook", "postdelivery", "--entry", "entry.yaml", *extra,
                       "post.hsl", cwd=tmp_path)

    def first(r):
        assert r.returncode == 0, r.stderr
        return r.stdout.splitlines()[0]

    assert first(run("attempt: {result: {code: 451, state: RCPT}}\n")) == "QUEUE false"
    assert first(run("attempt: {error: {temporary: true, message: refused}}\n")) == \
        "QUEUE false"
    assert first(run("attempt: {result: {code: 550, state: RCPT}}\n")) == "BOUNCE false"
    assert first(run("dsn: {notify: NEVER}\nattempt: {result: {code: 550}}\n")) == \
        "DELETE false"
    assert first(run("attempt: {result: {code: 250, state: DATA}}\n")) == "delivered false"
    assert first(run("")) == "delivered false"
    # the built-in schedule: 30 attempts, then the copy expires
    assert first(run("retry: 29\nattempt: {result: {code: 451}}\n")) == "BOUNCE true"
    # an action given is the one postdelivery sees; none after a 2xx
    assert first(run("action: DELETE\nattempt: {result: {code: 451}}\n")) == "DELETE false"
    r = run("action: QUEUE\nattempt: {result: {code: 250}}\n")
    assert r.returncode == 2 and "entry.yaml:3:9: action: the attempt delivered the copy" \
        in r.stderr
    # a project's transport group gives the schedule
    root = tmp_path / "proj"
    (root / "src" / "config").mkdir(parents=True)
    (root / "src" / "config" / "smtpd-app.yaml").write_text(
        "servers: [{id: default}]\ntransportgroups:\n  - id: default\n"
        "    retry: {count: 2}\n    transports: [{id: mx}]\n")
    (root / "src" / "hooks" / "queue").mkdir(parents=True)
    (root / "src" / "hooks" / "queue" / "postdelivery.hsl").write_text(
        (tmp_path / "post.hsl").read_text())
    (tmp_path / "entry.yaml").write_text("sender: a@example.com\nrecipient: b@example.org\n"
                                         "retry: 1\nattempt: {result: {code: 451}}\n")
    r = hsl_run("--project", "proj", "--hook", "postdelivery", "--entry", "entry.yaml",
                cwd=tmp_path)
    assert first(r) == "BOUNCE true"


def test_hsl_run_queue_hook_trace(tmp_path):
    (tmp_path / "entry.yaml").write_text("sender: a@example.com\nrecipient: b@example.org\n")
    (tmp_path / "pre.hsl").write_text('if ($arguments["retry"] > 2) Delete();\n'
                                      'Try(["port" => 2525]);\n')
    r = hsl_run("--hook", "predelivery", "--entry", "entry.yaml", "--trace", "pre.hsl",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [
        'trace: pre.hsl:1:5: if ($arguments["retry"] > 2) -> false',
        "trace: pre.hsl:2:1: decided: try"]
