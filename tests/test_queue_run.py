"""The queue runner (hsl/queue/runner.py, `hsl queue run`): predelivery, a real attempt
against local SMTP servers, postdelivery, and the outcome applied to the spool; retries
on a virtual clock; bounces that arrive as RFC 3464 reports."""
import email
import email.policy
import os
import subprocess
import sys

import pytest

from hsl.hooks.engine import compile_hook
from hsl.queue import spool
from hsl.queue.clock import VirtualClock
from hsl.queue.runner import QueueHooks, QueueRunner
from hsl.queue.schedule import Routing
from hsl.queue.store import Queue
from test_builtins_smtpclient import Server
from test_mail_send import Inbox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESSAGE = b"From: a@example.com\r\nSubject: q\r\nMessage-ID: <q1@example.com>\r\n\r\nhi\r\n"


@pytest.fixture
def sink():
    inbox = Inbox()         # RCPT: bad* 550, later* 450; DATA: REJECT-ME 554
    server = Server(inbox, auth_require_tls=False)
    server.start()
    yield server, inbox
    server.stop()


def commit(d, *recipients, sender="a@example.com", **kw):
    return spool.write_copies(d, [spool.Copy(MESSAGE, "tx", sender, r, "mx", **kw)
                                  for r in recipients])


def runner(d, server, pre=None, post=None, groups=None, clock=None, **kw):
    clock = clock or VirtualClock(2_000_000_000)
    hooks = QueueHooks(pre and compile_hook("predelivery", pre, "pre.hsl"),
                       post and compile_hook("postdelivery", post, "post.hsl"))
    queue = Queue.open(d, clock=clock.now)
    routing = Routing(groups, {"mx": {"host": "127.0.0.1", "port": server.port,
                                      "connect_timeout": 5}})
    return QueueRunner(queue, routing, hooks, clock=clock, hostname="mx.test", **kw), queue


def reports(inbox):
    return [email.message_from_bytes(m[2], policy=email.policy.default)
            for m in inbox.messages if m[0] in ("", "<>")]   # aiosmtpd keeps "<>"


def test_one_pass_delivers_retries_and_bounces(sink, tmp_path):
    server, inbox = sink
    d = str(tmp_path / "sp")
    ok, later, bad = commit(d, "ok@example.org", "later@example.org", "bad@example.org")
    r, q = runner(d, server)
    outcomes = {o.id: o for o in r.run(once=True)}
    assert outcomes[ok].action == "delivered"
    assert outcomes[later].action == "queue" and outcomes[later].retry == 1
    assert outcomes[later].next == 2_000_000_000 + 60           # the first interval
    assert outcomes[bad].action == "bounce" and outcomes[bad].dsn == "failed"
    # the message arrived exactly; the bounce went to the sender as a report
    assert ("a@example.com", ["ok@example.org"], MESSAGE) in inbox.messages
    (report,) = reports(inbox)
    assert report.get_content_type() == "multipart/report"
    status = report.get_payload()[1].get_payload()[1]
    assert status["Final-Recipient"] == "rfc822; bad@example.org"
    assert (status["Action"], status["Status"]) == ("failed", "5.1.1")
    assert "Diagnostic-Code" in status
    # only the retried copy is left, with its state
    (left,) = q.entries()
    assert (left.id, left.retry, left.last["outcome"]) == (later, 1, "450 mailbox busy")
    q.close()


def test_retries_follow_the_schedule_on_the_virtual_clock_until_expiry(sink, tmp_path):
    server, inbox = sink
    d = str(tmp_path / "sp")
    (later,) = commit(d, "later@example.org")
    groups = [{"id": "default", "retry": {"count": 5, "intervals": [
        {"interval": 10}, {"interval": 100, "notify": True}, {"interval": 1000}]},
        "transports": [{"id": "mx"}]}]
    clock = VirtualClock(2_000_000_000)
    r, q = runner(d, server, groups=groups, clock=clock,
                  post='echo $arguments["retry"] . " " . $arguments["action"] . " " . '
                       '($arguments["expired"] ? "expired" : "");')
    outcomes = [o for o in r.run() if o.id == later]
    assert [o.action for o in outcomes] == ["queue"] * 4 + ["bounce"]
    assert [o.output[0].strip() for o in outcomes] == [
        "0 QUEUE", "1 QUEUE", "2 QUEUE", "3 QUEUE", "4 BOUNCE expired"]
    steps = [o.next - 2_000_000_000 for o in outcomes[:4]]
    assert steps == [10, 110, 1110, 2110]       # 10, 100, 1000, then the last repeats
    kinds = [rep.get_payload()[1].get_payload()[1]["Action"] for rep in reports(inbox)]
    assert kinds == ["delayed", "failed"]        # notify on the second interval, then
    assert q.entries() == []                     # the bounce; nothing left
    q.close()


def test_predelivery_decides_and_postdelivery_overrides(sink, tmp_path):
    server, inbox = sink
    d = str(tmp_path / "sp")
    held, bounced, kept = commit(d, "hold@example.org", "skip@example.org",
                                 "bad@example.org", metadata={"k": "v"})
    pre = '''
        $r = $message["recipient"];
        if ($r == "hold@example.org" and $arguments["retry"] == 0) Queue(["hold" => true, "reason" => "review"]);
        if ($r == "skip@example.org") Bounce(["dsn" => ["subject" => "Skipped " . GetMetaData()["k"]]]);
        $context["seen"] = "yes";
        SetMetaData(["k" => "w"]);
        Try();
    '''
    post = '''
        if (($arguments["attempt"]["result"]["code"] ?? 0) == 550 and $context["seen"] == "yes")
            Queue(["delay" => 5]);
    '''
    r, q = runner(d, server, pre=pre, post=post)
    outcomes = {o.id: o for o in r.run(once=True)}
    assert outcomes[held].action == "hold" and q.get(held).hold
    assert q.get(held).last["outcome"] == "queued by a hook: review"
    assert outcomes[bounced].action == "bounce" and outcomes[bounced].attempt is None
    assert outcomes[kept].action == "queue" and q.get(kept).metadata == {"k": "w"}
    (report,) = reports(inbox)
    assert report["Subject"] == "Skipped v"
    # the held entry waits until released
    r.clock.advance(5)
    assert [o.id for o in r.run(once=True)] == [kept]
    q.release(held)                 # due again at its next retry time
    r.clock.advance(60)
    assert {o.id: o.action for o in r.run(once=True)}[held] == "delivered"
    q.close()


def test_no_dsn_for_the_null_sender_and_an_operator_bounce(sink, tmp_path):
    server, inbox = sink
    d = str(tmp_path / "sp")
    (null,) = commit(d, "bad@example.org", sender="")
    (asked,) = commit(d, "later@example.org")
    r, q = runner(d, server)
    q.request_bounce(asked)
    outcomes = {o.id: o for o in r.run(once=True)}
    assert outcomes[null].action == "delete" and outcomes[null].dsn is None
    assert outcomes[asked].action == "bounce" and outcomes[asked].attempt is None
    assert [m[1] for m in inbox.messages] == [["a@example.com"]]    # only asked's DSN
    assert q.entries() == []
    q.close()


def test_a_hook_error_takes_the_error_action(sink, tmp_path):
    server, inbox = sink
    d = str(tmp_path / "sp")
    (one,) = commit(d, "ok@example.org")
    r, q = runner(d, server, pre="$x = 1 / [];")
    (o,) = r.run(once=True)
    assert o.action == "queue" and o.error.startswith("pre.hsl:1:")
    assert o.next == 2_000_000_000 + 300 and q.get(one).retry == 0    # not counted
    assert inbox.messages == []
    q.close()


def test_cli_run_and_the_lock(sink, tmp_path):
    server, inbox = sink
    d = str(tmp_path / "sp")
    ok, bad = commit(d, "ok@example.org", "bad@example.org")
    post = tmp_path / "post.hsl"
    post.write_text('echo "action " . ($arguments["action"] ?? "none");\n')
    env = {**os.environ, "PYTHONPATH": ROOT}
    cmd = [sys.executable, "-m", "hsl", "queue", "run", "--once", "--spool", d,
           "--transport", f"mx=127.0.0.1:{server.port}", "--postdelivery", str(post),
           "--hostname", "mx.test"]
    with Queue.open(d):
        locked = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert locked.returncode == 1 and "one process owns a spool" in locked.stderr
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    # one line per attempt in hsl serve's log style (after the timestamp), the hooks'
    # echo under it
    lines = [line.split(" ", 1)[1] for line in r.stdout.splitlines()]
    dest = f"dest=127.0.0.1:{server.port}"
    assert f"hsl queue: attempt id={ok} rcpt=ok@example.org {dest} outcome=delivered " \
           "code=250 enhanced=2.0.0 reason=\"queued as 1234\" retry=0 next=done" in lines
    assert f"hsl queue: attempt id={bad} rcpt=bad@example.org {dest} outcome=bounced " \
           "code=550 enhanced=5.1.1 reason=\"no such user\" retry=0 next=bounced " \
           "dsn=failed" in lines
    assert f"hsl queue: echo id={ok} text=\"action none\"" in lines
    assert f"hsl queue: echo id={bad} text=\"action BOUNCE\"" in lines
    bad_transport = subprocess.run(cmd[:-6] + ["--transport", "mx"], capture_output=True,
                                   text=True, env=env, timeout=60)
    assert bad_transport.returncode == 2 and "expected ID=HOST:PORT" in bad_transport.stderr


def test_per_destination_limit_and_an_internal_failure_waits(sink, tmp_path, monkeypatch):
    server, inbox = sink
    d = str(tmp_path / "sp")
    ids = commit(d, "a1@example.org", "a2@example.org", "b1@example.net")
    r, q = runner(d, server, concurrency=4, per_destination=1)
    assert [r._destination(e) for e in q.entries()] == [f"127.0.0.1:{server.port}"] * 3
    r.routing = Routing()           # MX delivery: counted per recipient domain
    assert [r._destination(e) for e in q.entries()] == [
        "mx:example.org", "mx:example.org", "mx:example.net"]
    from hsl.queue import deliver

    def broken(*a, **kw):
        raise RuntimeError("boom")
    monkeypatch.setattr(deliver, "attempt", broken)
    assert r.run(once=True) == []
    for e in q.entries():
        assert e.next == 2_000_000_000 + 300
        assert e.last["outcome"] == "internal error: boom"
    assert [e.id for e in q.entries()] == ids and inbox.messages == []
    q.close()


def test_cli_run_with_a_project_uses_its_queue_hooks_and_schedule(sink, tmp_path):
    server, inbox = sink
    d = str(tmp_path / "sp")
    ok, later = commit(d, "ok@example.org", "later@example.org")
    with Queue.open(d) as q:
        q.update(q.get(later), retry=1, next=0)     # its second failure comes next
    env = {**os.environ, "PYTHONPATH": ROOT}
    project = os.path.join(ROOT, "tests", "data", "projects", "tree")
    r = subprocess.run([sys.executable, "-m", "hsl", "queue", "run", "--once", "--json",
                        "--spool", d, "--project", project, "--clock", "virtual",
                        "--transport", f"mx=127.0.0.1:{server.port}"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    import json
    rows = {row["id"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert rows[ok]["action"] == "delivered" and rows[later]["action"] == "queue"
    left = Queue.open(d, lock=False).get(later)
    # the project's group: after the second failure its second interval, 600 s (the
    # built-in schedule's is 300)
    assert left.id == later and left.retry == 2
    assert 599 <= left.next - left.envelope["ts"] <= 620
    assert rows[later]["dsn"] == "delayed"          # that interval notifies


def test_postdelivery_gets_the_dsn_arguments_of_each_attempt(sink, tmp_path):
    server, inbox = sink
    d = str(tmp_path / "sp")
    ok, later, bad = commit(d, "ok@example.org", "later@example.org", "bad@example.org")
    r, q = runner(d, server, post='echo json_encode($arguments["dsn"]);')
    import json
    got = {o.id: json.loads(o.output[0]) for o in r.run(once=True)}
    assert got[ok] == {"action": "delivered", "status": "2.0.0", "diagnostictype": "smtp",
                       "diagnosticcode": "250 2.0.0 queued as 1234"}
    assert got[later] == {"action": "delayed", "status": "4.2.0", "diagnostictype": "smtp",
                          "diagnosticcode": "450 4.2.0 mailbox busy"}
    assert got[bad] == {"action": "failed", "status": "5.1.1", "diagnostictype": "smtp",
                        "diagnosticcode": "550 5.1.1 no such user"}
    q.close()


def test_pooling_delivers_a_run_over_one_connection_and_quits_at_the_end(sink, tmp_path):
    server, inbox = sink
    d = str(tmp_path / "sp")
    ids = commit(d, "p1@example.org", "p2@example.org", "p3@example.org")
    r, q = runner(d, server, pre='Try(["pooling" => true]);', concurrency=1)
    hellos, quits = len(inbox.hellos), inbox.quits
    outcomes = r.run(once=True)
    assert sorted(o.id for o in outcomes if o.action == "delivered") == sorted(ids)
    assert [o.attempt["connection"]["transactions"] for o in outcomes] == [1, 2, 3]
    assert len(inbox.hellos) == hellos + 1
    assert inbox.quits == quits + 1                 # the pooled connection, at the end
    assert q.entries() == []
    q.close()


def test_attempts_at_once_stay_within_both_limits_while_pickups_overlap(sink, tmp_path,
                                                                        monkeypatch):
    import threading
    import time
    from hsl.queue import deliver
    server, _ = sink
    d = str(tmp_path / "sp")
    commit(d, *[f"u{i}@example.org" for i in range(6)],
           *[f"v{i}@example.net" for i in range(6)])
    lock = threading.Lock()
    now = {"all": 0, "example.org": 0, "example.net": 0}
    most = dict(now)

    def slow(message, sender, recipient, options, **kw):
        domain = recipient.rpartition("@")[2]
        with lock:
            for key in ("all", domain):
                now[key] += 1
                most[key] = max(most[key], now[key])
        time.sleep(0.05)
        with lock:
            now["all"] -= 1
            now[domain] -= 1
        return deliver.Attempt(True, False, code=250, reply="2.0.0 ok", state="EOD")
    monkeypatch.setattr(deliver, "attempt", slow)
    r, q = runner(d, server, post="Default();", concurrency=3, per_destination=2)
    r.routing = Routing()               # MX delivery: limited per recipient domain
    outcomes = r.run(once=True)
    assert [o.action for o in outcomes] == ["delivered"] * 12
    assert most == {"all": 3, "example.org": 2, "example.net": 2}
    q.close()


POST_ECHO = '''
    $a = $arguments["attempt"] ?? [];
    echo json_encode(["action" => $arguments["action"] ?? "none",
                      "retry" => $arguments["retry"],
                      "result" => $a["result"] ?? "none",
                      "error" => $a["error"] ?? "none",
                      "tls" => $a["connection"]["tls"]["started"] ?? "none"]);
'''


def test_every_kind_of_outcome_reaches_postdelivery(sink, tmp_path, monkeypatch):
    # One copy per kind of next hop, each on its own transport: accept, tempfail,
    # permfail, drop the connection, stall past a timeout, require TLS (not used: 530),
    # present a certificate for the wrong name, speak LMTP.  postdelivery echoes what
    # it was given.
    import json
    import ssl as ssl_mod
    import certs
    from aiosmtpd.lmtp import LMTP
    from test_queue_deliver import Raw
    server, inbox = sink
    pki = certs.write_pki(str(tmp_path / "pki"))
    monkeypatch.setenv("SSL_CERT_FILE", pki["ca.pem"])     # trusted: only the name is wrong
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    ctx = ssl_mod.SSLContext(ssl_mod.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["leaf-chain.pem"], pki["leaf.key"])
    tls_server = Server(Inbox(), tls_context=ctx, require_starttls=True)
    lmtp_server = Server(Inbox(), smtp_class=LMTP)
    drop, stall = Raw(drop=(b"DATA",)), Raw(stall=(b"MAIL",))
    for s in (tls_server, lmtp_server):
        s.start()
    local = {"host": "127.0.0.1", "connect_timeout": 5}
    overrides = {
        "ok": {**local, "port": server.port},
        "drop": {**local, "port": drop.port},
        "stall": {**local, "port": stall.port, "timeout": {"MAIL": 0.5}},
        "plaintext": {**local, "port": tls_server.port},
        "wrongname": {**local, "port": tls_server.port, "tls": "require_verify",
                      "tls_verify_name": ["mx.other.test"]},
        "lmtp": {**local, "port": lmtp_server.port, "protocol": "lmtp"},
    }
    d = str(tmp_path / "sp")
    cases = [("ok", "ok@example.org"), ("ok", "later@example.org"),
             ("ok", "bad@example.org"), ("drop", "d@example.org"),
             ("stall", "s@example.org"), ("plaintext", "p@example.org"),
             ("wrongname", "w@example.org"), ("lmtp", "l@example.org")]
    ids = [spool.write_copies(d, [spool.Copy(MESSAGE, "tx", "a@example.com", r, tid)])[0]
           for tid, r in cases]
    clock = VirtualClock(2_000_000_000)
    queue = Queue.open(d, clock=clock.now)
    hooks = QueueHooks(None, compile_hook("postdelivery", POST_ECHO, "post.hsl"))
    r = QueueRunner(queue, Routing(None, overrides), hooks, clock=clock, concurrency=4,
                    hostname="mx.test")
    try:
        got = {o.id: json.loads(o.output[0]) for o in r.run(once=True)}
    finally:
        queue.close()
        for s in (tls_server, lmtp_server):
            s.stop()
        drop.close()
        stall.close()
    seen = [got[i] for i in ids]
    ok, later, bad, dropped, stalled, plaintext, wrongname, lmtp = seen
    assert ok == {"action": "none", "retry": 0, "error": "none", "tls": False,
                  "result": {"code": 250, "enhanced": [2, 0, 0],
                             "reason": ["queued as 1234"], "state": "EOD"}}
    assert (later["action"], later["result"]["code"], later["result"]["state"]) == \
        ("QUEUE", 450, "RCPT")
    assert later["error"] == {"temporary": True, "message": "4.2.0 mailbox busy",
                              "type": "smtp"}
    assert (bad["action"], bad["result"]["code"], bad["error"]["temporary"]) == \
        ("BOUNCE", 550, False)
    assert dropped["action"] == "QUEUE" and dropped["result"] == "none"
    assert dropped["error"]["type"] == "network"
    assert dropped["error"]["message"].startswith("connection lost in DATA")
    assert stalled["action"] == "QUEUE"
    assert stalled["error"] == {"temporary": True, "message": "timed out in MAIL",
                                "type": "network"}
    assert (plaintext["action"], plaintext["result"]["code"]) == ("BOUNCE", 530)
    assert wrongname["action"] == "QUEUE" and wrongname["error"]["type"] == "tls"
    assert wrongname["error"]["message"] == "certificate name mismatch: the certificate " \
                                            "is not valid for mx.other.test"
    assert lmtp["action"] == "none" and lmtp["result"]["code"] == 250
    assert ("a@example.com", ["ok@example.org"], MESSAGE) in inbox.messages
