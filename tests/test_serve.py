"""`hsl serve`: the HELO script's decisions as SMTP replies to real clients (smtplib,
swaks), the session after EHLO, --stdio, reload, logging and metrics."""
from __future__ import annotations

import json
import os
import shutil
import smtplib
import subprocess
import sys
import time
import urllib.request

import pytest

from hsl.queue.spool import read_spool
from serve_helpers import ROOT, Raw, Server

POLICY = r"""
$host = $arguments["host"];
if ($host == "reject.example") Reject();
if ($host == "reject-custom.example")
    Reject("Go away", ["reply_codes" => ["code" => 550, "enhanced" => [5, 7, 1]]]);
if ($host == "defer.example") Defer();
if ($host == "defer-custom.example")
    Defer("Later", ["reply_codes" => ["code" => 421, "enhanced" => [4, 7, 0]]]);
if ($host == "bye.example") Reject("Bye now", ["disconnect" => true]);
if ($host == "multi.example") Reject(["first line", "second line", "third line"]);
if ($host == "multi-lf.example") Defer("one\ntwo");
if ($host == "enh.example") Accept(["reply_codes" => ["code" => 250, "enhanced" => [2, 0, 0]]]);
if ($host == "exts.example") Accept(["extensions" => ["PIPELINING", "X-HSL-TEST"]]);
if ($host == "error.example") { $x = str_lower([]); }
if ($host == "throw.example") throw Exception("boom in the script");
if ($host == "inject.example") Reject("bad\r\n250 OK injected\r\nmore\x00text");
if ($host == "echo.example") echo "hello from the script";
if ($host == "count.example") {
    $context["count"] = ($context["count"] ?? 0) + 1;
    Accept(["reason" => "count " . $context["count"]]);
}
if ($host == "args.example")
    Accept(["reason" => $arguments["verb"] . " " . $connection["remoteip"] . " "
            . $connection["localip"] . " " . $connection["serverid"] . " "
            . (is_string($connection["id"]) ? "id" : "noid") . " "
            . (is_string($transaction["id"]) ? "tid" : "notid") . " "
            . array_join($arguments["extensions"] ?? ["none"], ",")]);
Accept(["reason" => "Hello " . $host]);
"""


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve") / "policy.hsl"
    path.write_text(POLICY)
    return str(path)


@pytest.fixture(scope="module")
def server(policy_file):
    with Server(policy_file, "--serverid", "test-in") as srv:
        yield srv


def ehlo(port, host):
    s = smtplib.SMTP("127.0.0.1", port, timeout=10)
    try:
        return s.ehlo(host)
    finally:
        s.close()


# ------------------------------------------------------------------ decisions

def test_accept_ehlo_reason_and_extensions(server):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        code, text = s.ehlo("client.example")
        assert code == 250
        lines = text.decode().split("\n")
        assert lines[0] == "Hello client.example"
        assert "PIPELINING" in lines and "8BITMIME" in lines
        assert any(x.startswith("SIZE ") for x in lines)
        assert "STARTTLS" not in lines          # no TLS configured
        assert s.does_esmtp


def test_accept_helo(server):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        assert s.helo("old.example") == (250, b"Hello old.example")


def test_arguments_connection_transaction(server):
    code, text = ehlo(server.port, "args.example")
    assert code == 250
    first = text.decode().split("\n")[0]
    assert first.startswith("EHLO 127.0.0.1 127.0.0.1 test-in id tid PIPELINING,SIZE ")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        assert s.helo("args.example") == (250, b"HELO 127.0.0.1 127.0.0.1 test-in id tid none")


def test_reject_default_and_custom(server):
    assert ehlo(server.port, "reject.example") == (554, b"Rejected")
    assert ehlo(server.port, "reject-custom.example") == (550, b"5.7.1 Go away")


def test_defer_default_and_custom(server):
    assert ehlo(server.port, "defer.example") == (450, b"Deferred")
    assert ehlo(server.port, "defer-custom.example") == (421, b"4.7.0 Later")


def test_reject_then_mail_needs_helo(server):
    with Raw(server.port) as c:
        c.reply()
        assert c.cmd(b"EHLO reject.example\r\n") == [b"554 Rejected"]
        assert c.cmd(b"MAIL FROM:<a@b.example>\r\n")[0].startswith(b"503")
        assert c.cmd(b"EHLO fine.example\r\n")[0] == b"250-Hello fine.example"
        assert c.cmd(b"MAIL FROM:<a@b.example>\r\n")[0].startswith(b"250")


def test_disconnect(server):
    with Raw(server.port) as c:
        c.reply()
        assert c.cmd(b"EHLO bye.example\r\n") == [b"554 Bye now"]
        assert c.closed()


def test_multiline_reasons(server):
    with Raw(server.port) as c:
        c.reply()
        assert c.cmd(b"EHLO multi.example\r\n") == [
            b"554-first line", b"554-second line", b"554 third line"]
        assert c.cmd(b"EHLO multi-lf.example\r\n") == [b"450-one", b"450 two"]


def test_extensions_override(server):
    with Raw(server.port) as c:
        c.reply()
        assert c.cmd(b"EHLO exts.example\r\n") == [
            b"250-mx.test.example", b"250-PIPELINING", b"250 X-HSL-TEST"]


def test_accept_with_enhanced_code_keeps_extension_lines_clean(server):
    with Raw(server.port) as c:
        c.reply()
        reply = c.cmd(b"EHLO enh.example\r\n")
        assert reply[0] == b"250-mx.test.example"
        assert b"250-PIPELINING" in reply and reply[-1] == b"250 ENHANCEDSTATUSCODES"


def test_context_across_ehlos(server):
    with Raw(server.port) as c:
        c.reply()
        assert c.cmd(b"EHLO count.example\r\n")[0] == b"250-count 1"
        assert c.cmd(b"HELO count.example\r\n") == [b"250 count 2"]
        assert c.cmd(b"EHLO count.example\r\n")[0] == b"250-count 3"
    with Raw(server.port) as c:                 # a new connection starts afresh
        c.reply()
        assert c.cmd(b"EHLO count.example\r\n")[0] == b"250-count 1"


def test_script_error_is_a_temporary_failure_logged_server_side(server, policy_file):
    for host in ("error.example", "throw.example"):
        with Raw(server.port) as c:
            c.reply()
            reply = c.cmd(f"EHLO {host}\r\n".encode())
            assert reply == [b"451 4.3.0 Temporary local problem, try again later"]
            # the session goes on
            assert c.cmd(b"EHLO ok.example\r\n")[0] == b"250-Hello ok.example"
    lines = POLICY.split("\n")
    err_line = next(i for i, x in enumerate(lines, 1) if "error.example" in x)
    throw_line = next(i for i, x in enumerate(lines, 1) if "throw.example" in x)
    line = server.wait_for(r"host=error\.example decision=error")
    assert f"{policy_file}:{err_line}:" in line and "str_lower()" in line
    line = server.wait_for(r"host=throw\.example decision=error")
    assert "boom in the script" in line and f"{policy_file}:{throw_line}:" in line


def test_reply_injection_is_impossible(server):
    with Raw(server.port) as c:
        c.reply()
        reply = c.cmd(b"EHLO inject.example\r\n")
        # A CR becomes a space, LF starts a continuation line of the same reply, NUL is
        # replaced: every line carries the script's code, nothing can end the reply early.
        assert reply == [b"554-bad ", b"554-250 OK injected ", b"554 more text"]
        assert c.cmd(b"NOOP\r\n") == [b"250 2.0.0 OK"]    # no stray reply left in the stream


def test_echo_is_logged_not_sent(server):
    assert ehlo(server.port, "echo.example")[0] == 250
    server.wait_for(r"echo .*hello from the script")


def test_decision_log_line(server):
    ehlo(server.port, "logged.example")
    line = server.wait_for(r"helo .*host=logged\.example")
    for field in ("conn=", "remoteip=127.0.0.1", "verb=EHLO", "decision=accept",
                  "code=250", "ms="):
        assert field in line, line


def test_client_data_cannot_forge_log_lines(server):
    with Raw(server.port) as c:
        c.reply()
        c.cmd(b'EHLO a" decision=reject x="\r\n')
    line = server.wait_for(r"helo .*host=\"a")
    assert 'host="a\\" decision=reject x=\\""' in line
    assert "decision=accept" in line


# --------------------------------------------------------------- the session

def test_mail_rcpt_data_discarded(server):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.ehlo("client.example")
        refused = s.sendmail("a@example.org", ["b@example.net", "c@example.net"],
                             b"Subject: hi\r\n\r\nbody\r\n")
        assert refused == {}
        assert s.rset() == (250, b"2.0.0 OK")
        assert s.noop() == (250, b"2.0.0 OK")


def test_every_reply_after_ehlo_has_an_enhanced_status_code(server):
    """RFC 2034: ENHANCEDSTATUSCODES is announced, so every reply but the greeting and the
    EHLO reply carries one, also those aiosmtpd makes; 354 is not a completion reply."""
    with Raw(server.port) as c:
        c.reply()
        assert c.cmd(b"EHLO client.example\r\n")[-1] == b"250 ENHANCEDSTATUSCODES"
        assert c.cmd(b"RCPT TO:<b@example.net>\r\n") == [b"503 5.5.1 Error: need MAIL command"]
        # (the replies of mailfrom's and rcptto's implicit Accept(), as an explicit one's)
        assert c.cmd(b"MAIL FROM:<a@example.org>\r\n") == [b"250 2.1.0 Sender OK"]
        assert c.cmd(b"MAIL FROM:<a@example.org>\r\n")[0].startswith(b"503 5.5.1 ")
        assert c.cmd(b"RCPT TO:<>\r\n") == [b"501 5.1.3 Bad recipient address syntax"]
        assert c.cmd(b"RCPT TO:<b@example.net>\r\n") == [b"250 2.1.5 Recipient OK"]
        assert c.cmd(b"RCPT b@example.net\r\n")[0].startswith(b"501 5.5.4 Syntax")
        assert c.cmd(b"DATA\r\n")[0].startswith(b"354 ")
        assert c.cmd(b"Subject: x\r\n\r\nhi\r\n.\r\n")[0].startswith(b"250 2.0.0 ")
        assert c.cmd(b"VRFY someone\r\n")[0].startswith(b"252 2.0.0 ")
        assert c.cmd(b"HELP\r\n")[0].startswith(b"214 2.0.0 ")      # RFC 5321 4.2.2
        assert c.cmd(b"RSET\r\n") == [b"250 2.0.0 OK"]
        assert c.cmd(b"QUIT\r\n") == [b"221 2.0.0 Bye"]


def test_enhanced_codes_are_added_only_where_missing():
    from hsl.serve.smtp import with_enhanced_code as add
    assert add(b"250 OK", "MAIL") == b"250 2.1.0 OK"
    assert add(b"250 OK", "RCPT") == b"250 2.1.5 OK"
    assert add(b"250 OK", "NOOP") == b"250 2.0.0 OK"
    assert add(b"250-first line", "HELP") == b"250-2.0.0 first line"
    assert add(b"552 Too much mail data", "DATA") == b"552 5.3.4 Too much mail data"
    assert add(b"450 4.7.1 Later", "RCPT") == b"450 4.7.1 Later"      # already has one
    assert add(b"354 End data with <CR><LF>.<CR><LF>", "DATA").startswith(b"354 End")
    assert add(b"220 Ready to start TLS", "STARTTLS") == b"220 2.0.0 Ready to start TLS"
    assert add(b"250", "NOOP") == b"250"                              # no text: left alone


def test_maildir_keeps_the_message(tmp_path, policy_file):
    maildir = tmp_path / "Maildir"
    with Server(policy_file, "--maildir", str(maildir)) as srv:
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as s:
            s.ehlo("client.example")
            s.sendmail("a@example.org", ["b@example.net"],
                       b"Subject: kept\r\n\r\nline one\r\n.dot line\r\n")
        files = list((maildir / "new").iterdir())
        assert len(files) == 1
        data = files[0].read_bytes()
        assert b"Return-Path: <a@example.org>" in data
        assert data.endswith(b"Subject: kept\r\n\r\nline one\r\n.dot line\r\n")
        assert list((maildir / "tmp").iterdir()) == []
        srv.wait_for(r"message .*stored=")


# -------------------------------------------------------------------- stdio

@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
def test_stdio_with_swaks_pipe(policy_file, tmp_path):
    spool = tmp_path / "spool"
    cmd = (f"{sys.executable} -m hsl serve --stdio --hostname mx.test.example --helo "
           f"{policy_file} --spool {spool}")
    out = subprocess.run(["swaks", "--pipe", cmd, "--to", "b@example.net",
                          "--from", "a@example.org", "--helo", "swaks.example"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "<-  250-Hello swaks.example" in out.stdout
    # the message is queued to the spool (no eod hook: to every recipient)
    assert "<-  250 2.0.0 Message accepted" in out.stdout
    assert "<-  221" in out.stdout
    [entry] = read_spool(str(spool)).entries
    assert entry.envelope["recipient"] == "b@example.net"


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
def test_stdio_with_swaks_pipe_reject(policy_file):
    cmd = f"{sys.executable} -m hsl serve --stdio --helo {policy_file} --remoteip 198.51.100.7"
    out = subprocess.run(["swaks", "--pipe", cmd, "--to", "b@example.net",
                          "--helo", "reject-custom.example", "--quit-after", "EHLO"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert "<** 550 5.7.1 Go away" in out.stdout, out.stdout + out.stderr
    assert "remoteip=198.51.100.7" in out.stderr


def test_stdio_plain_pipe(policy_file):
    session = b"EHLO args.example\r\nQUIT\r\n"
    out = subprocess.run([sys.executable, "-m", "hsl", "serve", "--stdio", "--helo",
                          policy_file, "--hostname", "mx.test.example"], input=session,
                         capture_output=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0
    lines = out.stdout.split(b"\r\n")
    assert lines[0].startswith(b"220 mx.test.example ")
    assert lines[1].startswith(b"250-EHLO 127.0.0.1 ")
    assert lines[-2] == b"221 2.0.0 Bye"


TRANSACTION = (b"EHLO pipe.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"
               b"DATA\r\nSubject: piped\r\n\r\nthrough a pipe\r\n.\r\n")


def _stdio_replies(policy_file, maildir, session: bytes) -> list:
    """The replies (their first lines) of `hsl serve --stdio` to `session`, written to a
    real pipe that is closed right after it."""
    proc = subprocess.Popen([sys.executable, "-m", "hsl", "serve", "--stdio", "--helo",
                             policy_file, "--hostname", "mx.test.example", "--maildir",
                             str(maildir), "--spool", str(maildir) + "-spool"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdin.write(session)
    proc.stdin.close()
    out = proc.stdout.read()
    err = proc.stderr.read()
    assert proc.wait(60) == 0, err
    proc.stdout.close()
    proc.stderr.close()
    lines = out.split(b"\r\n")[:-1]
    # the first line of each reply
    return [line for i, line in enumerate(lines) if i == 0 or lines[i - 1][3:4] != b"-"]


@pytest.mark.parametrize("ending", [b"QUIT\r\n", b""], ids=["quit", "no-quit"])
def test_stdio_answers_every_command_when_stdin_ends(tmp_path, policy_file, ending):
    """Standard input ends right after the last command (QUIT, or the end of the
    message): every command read still gets its reply before the process exits."""
    for i in range(3):
        maildir = tmp_path / f"Maildir{i}"
        replies = _stdio_replies(policy_file, maildir, TRANSACTION + ending)
        assert replies[:5] == [b"220 mx.test.example ESMTP hsl", b"250-Hello pipe.example",
                               b"250 2.1.0 Sender OK", b"250 2.1.5 Recipient OK",
                               b"354 End data with <CR><LF>.<CR><LF>"]
        stored = list((maildir / "new").iterdir())
        assert len(stored) == 1
        assert replies[5] == b"250 2.0.0 OK: stored as " + stored[0].name.encode()
        assert replies[6:] == ([b"221 2.0.0 Bye"] if ending else [])


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
@pytest.mark.parametrize("pipeline", [False, True], ids=["lockstep", "pipelined"])
def test_stdio_with_swaks_pipe_stores_and_says_bye(tmp_path, policy_file, pipeline):
    maildir = tmp_path / "Maildir"
    cmd = (f"{sys.executable} -m hsl serve --stdio --hostname mx.test.example "
           f"--helo {policy_file} --maildir {maildir} --spool {tmp_path / 'spool'}")
    out = subprocess.run(["swaks", "--pipe", cmd, "--to", "b@example.net", "--from",
                          "a@example.org", "--helo", "swaks.example"]
                         + (["--pipeline"] if pipeline else []),
                         capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 0, out.stdout + out.stderr
    stored = list((maildir / "new").iterdir())
    assert len(stored) == 1
    assert f"<-  250 2.0.0 OK: stored as {stored[0].name}" in out.stdout
    assert "<-  221 2.0.0 Bye" in out.stdout


# ------------------------------------------------------------- swaks on TCP

@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
def test_swaks_over_tcp(server):
    out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(server.port),
                          "--to", "b@example.net", "--helo", "defer-custom.example"],
                         capture_output=True, text=True, timeout=60)
    assert "<** 421 4.7.0 Later" in out.stdout


# --------------------------------------------------------- reload, logging

def test_reload_on_sighup_keeps_old_version_on_errors(tmp_path):
    script = tmp_path / "p.hsl"
    script.write_text('Accept(["reason" => "version one"]);\n')
    with Server(str(script)) as srv:
        assert ehlo(srv.port, "a.example") == (250, b"version one\nPIPELINING\nSIZE 10240000"
                                                    b"\n8BITMIME\nENHANCEDSTATUSCODES")
        script.write_text('Accept(["reason" => "version two"]);\n')
        n = len(srv.lines)
        srv.hup()
        srv.wait_for(r"script reloaded", start=n)
        assert ehlo(srv.port, "a.example")[1].startswith(b"version two")
        script.write_text('Accept(["reason" => "version three"]\n')     # syntax error
        n = len(srv.lines)
        srv.hup()
        line = srv.wait_for(r"reload failed", start=n)
        srv.wait_for(str(script) + r":\d+:\d+", start=n)
        assert ehlo(srv.port, "a.example")[1].startswith(b"version two")
        assert "keeping the previous version" in line


def test_watch_reloads(tmp_path):
    script = tmp_path / "p.hsl"
    script.write_text('Reject("old");\n')
    with Server(str(script), "--watch") as srv:
        assert ehlo(srv.port, "a.example") == (554, b"old")
        time.sleep(0.05)
        script.write_text('Reject("new one");\n')
        srv.wait_for(r"script reloaded.*trigger=watch|trigger=watch.*reloaded", 10)
        assert ehlo(srv.port, "a.example") == (554, b"new one")


def test_script_with_errors_does_not_start(tmp_path):
    script = tmp_path / "bad.hsl"
    script.write_text("Accept(\n")
    out = subprocess.run([sys.executable, "-m", "hsl", "serve", "--helo", str(script),
                          "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert out.returncode == 1
    assert f"{script}:" in out.stderr


@pytest.mark.parametrize("value", ["abc", "-1", "5000"])
def test_bad_inline_slice_is_a_usage_error(policy_file, value):
    out = subprocess.run([sys.executable, "-m", "hsl", "serve", "--helo", policy_file,
                          "--inline-slice", value], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert out.returncode == 2
    assert "--inline-slice" in out.stderr and "Traceback" not in out.stderr


SLOW_FOR_ONE_HOST = """
$n = memory_inc("seen:" . $arguments["host"]);
if ($arguments["host"] == "slow.example") {
    $t = executiontime();
    while (executiontime() - $t < 0.3) { }
}
Accept(["reason" => "n=" . $n]);
"""


def test_a_slow_run_counts_once_and_holds_no_other_connection(tmp_path):
    script = tmp_path / "slow.hsl"
    script.write_text(SLOW_FOR_ONE_HOST)
    with Server(str(script)) as srv, Raw(srv.port) as slow, Raw(srv.port) as quick:
        slow.reply()
        quick.reply()
        slow.send(b"EHLO slow.example\r\n")
        time.sleep(0.05)                          # the slow run has started
        started = time.monotonic()
        assert quick.cmd(b"EHLO quick.example\r\n")[0] == b"250-n=1"
        assert time.monotonic() - started < 0.2   # not held by the slow run
        assert slow.reply()[0] == b"250-n=1"      # moved to a worker, counted once
        assert slow.cmd(b"EHLO slow.example\r\n")[0] == b"250-n=2"


def test_json_log_format(policy_file):
    with Server(policy_file, "--log-format", "json") as srv:
        ehlo(srv.port, "json.example")
        line = srv.wait_for(r'"event": "helo"')
        record = json.loads(line)
        assert record["host"] == "json.example" and record["decision"] == "accept"
        assert record["code"] == 250 and record["verb"] == "EHLO"
        assert record["remoteip"] == "127.0.0.1" and "conn" in record and "ms" in record


# ------------------------------------------------------------------ metrics

def test_prometheus_metrics(tmp_path):
    script = tmp_path / "m.hsl"
    script.write_text('metrics_increment("helo_seen", ["host" => $arguments["host"]]);\n'
                      'metrics_set("last_port", [], $connection["remoteport"]);\n'
                      'if ($arguments["host"] == "no.example") Reject();\n'
                      'Accept();\n')
    with Server(str(script), "--metrics", "127.0.0.1:0", "--define-metric",
                "helo_seen:counter", "--define-metric", "last_port:gauge") as srv:
        ehlo(srv.port, "yes.example")
        ehlo(srv.port, "yes.example")
        ehlo(srv.port, "no.example")
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.metrics_port}/metrics",
                                    timeout=10) as r:
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = r.read().decode()
    assert 'hsl_helo_decisions_total{verb="EHLO",decision="accept",code="250"} 2' in text
    assert 'hsl_helo_decisions_total{verb="EHLO",decision="reject",code="554"} 1' in text
    assert "# TYPE helo_seen counter" in text
    assert 'helo_seen{host="yes.example"} 2' in text
    assert 'helo_seen{host="no.example"} 1' in text
    assert "# TYPE last_port gauge" in text
    assert "hsl_connections_total 3" in text
    assert "hsl_script_duration_seconds_count 3" in text


def test_rdns_remoteptr(tmp_path):
    script = tmp_path / "ptr.hsl"
    script.write_text('Accept(["reason" => $connection["remoteptr"] ?? "no ptr"]);\n')
    with Server(str(script), "--rdns") as srv:
        code, text = ehlo(srv.port, "a.example")
    import socket
    try:
        expected = socket.getnameinfo(("127.0.0.1", 0), socket.NI_NAMEREQD)[0]
    except OSError:
        expected = "no ptr"
    assert code == 250 and text.split(b"\n")[0].decode() == expected


def test_rdns_asks_the_dns_table(tmp_path):
    script = tmp_path / "ptr.hsl"
    script.write_text('Accept(["reason" => $connection["remoteptr"] ?? "no ptr"]);\n')
    table = tmp_path / "dns.yaml"
    table.write_text("1.0.0.127.in-addr.arpa: {ptr: [client.ptr.example]}\n")
    with Server(str(script), "--rdns", "--dns-table", str(table)) as srv:
        code, text = ehlo(srv.port, "a.example")
    assert code == 250 and text.split(b"\n")[0] == b"client.ptr.example"
    table.write_text("other.example: {a: [192.0.2.1]}\n")
    with Server(str(script), "--rdns", "--dns-table", str(table)) as srv:
        code, text = ehlo(srv.port, "a.example")
    assert code == 250 and text.split(b"\n")[0] == b"no ptr"


def test_watch_rereads_the_dns_table_and_keeps_it_when_broken(tmp_path):
    script = tmp_path / "p.hsl"
    script.write_text('$r = dns_query("policy.example", ["type" => "txt"]);\n'
                      'Reject($r["result"][0] ?? $r["error"]);\n')
    table = tmp_path / "dns.yaml"
    table.write_text('policy.example: {txt: ["first"]}\n')
    with Server(str(script), "--watch", "--dns-table", str(table)) as srv:
        assert ehlo(srv.port, "a.example") == (554, b"first")
        time.sleep(0.05)
        table.write_text('policy.example: {txt: ["second, longer"]}\n')
        start = len(srv.lines)
        srv.wait_for(r"script reloaded", 10, start)
        assert ehlo(srv.port, "a.example") == (554, b"second, longer")
        table.write_text('policy.example: {txt: "unclosed\n')
        start = len(srv.lines)
        line = srv.wait_for(r"DNS table not reloaded", 10, start)
        assert str(table) in line and "Traceback" not in srv.log()
        assert ehlo(srv.port, "a.example") == (554, b"second, longer")


# ------------------------------------------------------------------ limits (issue 11)

HEAVY = r"""
$host = $arguments["host"];
if ($host == "range.example") { $a = array_range(0, 20000000); }
if ($host == "late.example") { $h = sha2("x" * 300000000, 256); }
if ($host == "bomb.example") { $s = "x"; while (true) $s = "$s$s"; }
Accept(["reason" => "accepted " . $host]);
"""


def test_a_run_past_its_deadline_in_one_call_is_a_script_error_not_an_accept(tmp_path):
    script = tmp_path / "heavy.hsl"
    script.write_text(HEAVY)
    for extra in ([], ["--inline-slice", "0"]):
        # (0.1 s: each heavy call takes several times that, even on a fast machine)
        with Server(str(script), "--script-timeout", "0.1", "--max-memory", "0", *extra) as srv, \
                Raw(srv.port) as c:
            c.reply()
            for host in (b"range.example", b"late.example"):
                started = time.monotonic()
                reply = c.cmd(b"EHLO " + host + b"\r\n")
                assert reply[0].startswith(b"451 4.3.0"), (extra, host, reply)
                assert time.monotonic() - started < 5
            assert c.cmd(b"EHLO quick.example\r\n")[0] == b"250-accepted quick.example"


def test_a_memory_bomb_is_a_script_error_logged_with_its_line(tmp_path):
    script = tmp_path / "heavy.hsl"
    script.write_text(HEAVY)
    with Server(str(script), "--max-memory", "64M") as srv, Raw(srv.port) as c:
        c.reply()
        assert c.cmd(b"EHLO bomb.example\r\n")[0].startswith(b"451 4.3.0")
        line = srv.wait_for(r"memory limit exceeded")
        assert "heavy.hsl:5:" in line
        assert c.cmd(b"EHLO quick.example\r\n")[0] == b"250-accepted quick.example"


def test_heavy_builtins_do_not_freeze_other_connections(tmp_path):
    script = tmp_path / "heavy.hsl"
    script.write_text(HEAVY)
    with Server(str(script), "--script-timeout", "3", "--max-memory", "0") as srv, \
            Raw(srv.port) as heavy, Raw(srv.port) as probe:
        heavy.reply()
        probe.reply()
        heavy.send(b"EHLO range.example\r\n")
        time.sleep(0.1)                           # the heavy run has started
        worst = 0.0
        for _ in range(5):
            started = time.monotonic()
            assert probe.cmd(b"EHLO quick.example\r\n")[0] == b"250-accepted quick.example"
            worst = max(worst, time.monotonic() - started)
            time.sleep(0.05)
        assert worst < 0.5, f"a probe EHLO waited {worst:.2f} s"
        heavy.reply()


CONTEXT_OBJECT = """
class Counter { constructor() { $this->n = 0; } }
if (!$context) $context = Counter();
$context->n += 1;
if ($arguments["host"] == "slow.example") {
    $t = executiontime();
    while (executiontime() - $t < 0.05) { }      // past the inline slice: run again
}
Accept(["reason" => "n=" . $context->n]);
"""


def test_a_context_object_is_written_once_by_runs_that_move_to_a_worker(tmp_path):
    script = tmp_path / "ctx.hsl"
    script.write_text(CONTEXT_OBJECT)
    with Server(str(script)) as srv, Raw(srv.port) as c:
        c.reply()
        seen = []
        for i in range(8):
            host = b"slow.example" if i % 2 else b"quick.example"
            seen.append(c.cmd(b"EHLO " + host + b"\r\n")[0])
        assert seen == [b"250-n=%d" % n for n in range(1, 9)]
