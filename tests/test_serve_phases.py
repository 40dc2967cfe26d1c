"""`hsl serve` with a hook on every SMTP phase (issue 15): each phase's decisions as real
clients (smtplib, swaks, raw bytes) see them, $context and $transaction across phases,
RSET and several transactions per connection, AUTH (PLAIN, LOGIN, a mechanism of 334
challenges; only after STARTTLS unless --auth-plaintext), HELP, EOD's commit to the spool
(only on Accept, on disk before the 250, 451 when the spool cannot take it), maxsize,
reload of every hook at once, per-phase logs and metrics."""
from __future__ import annotations

import base64
import os
import shutil
import smtplib
import socket
import ssl
import struct
import subprocess
import time
import urllib.request

import pytest

from hsl.queue.spool import read_spool
from serve_helpers import Raw, Server

HOOKS = {
    "connect": r"""
        $context["log"] = ["connect"];
        Accept();
    """,
    "helo": r"""
        $context["log"][] = "helo";
        if ($arguments["host"] == "reject.example") Reject();
        Accept(["reason" => "Hello " . $arguments["host"]]);
    """,
    "auth": r"""
        $m = $arguments["mechanism"];
        if ($m == "PLAIN" or $m == "LOGIN") {
            if ($arguments["username"] == "alice" and $arguments["password"] == "secret")
                Accept();
            Reject();
        }
        if ($arguments["response"] === none) Reply("send your token");
        if ($arguments["response"] == "t0ken") Accept(["username" => "token-user"]);
        Reject("bad token");
    """,
    "mailfrom": r"""
        $context["log"][] = "mailfrom";
        $context["mails"] = ($context["mails"] ?? 0) + 1;
        $local = $arguments["address"]["localpart"];
        if ($local == "reject") Reject();
        if ($local == "defer") Defer();
        if ($local == "rewrite") Accept(["sender" => "rewritten@example.org"]);
        Accept();
    """,
    "rcptto": r"""
        $local = $arguments["address"]["localpart"];
        if ($local == "reject") Reject();
        if ($local == "defer") Defer();
        if ($local == "error") $x = 1 / [];
        if ($local == "route") Accept(["transportid" => "special"]);
        if ($local == "count")
            Accept(["reason" => "seen " . length($transaction["recipients"])]);
        Accept();
    """,
    "eod": r"""
        $sender = $transaction["senderaddress"]["localpart"];
        if ($sender == "eodreject") Reject();
        if ($sender == "eoddefer") Defer();
        if ($sender == "eoderror") $x = 1 / [];
        if ($sender != "noqueue") {
            foreach ($transaction["recipients"] as $r)
                $arguments["mail"]->queue($transaction["sender"], $r["recipient"],
                                          $r["transportid"], ["metadata" => [
                    "log" => array_join($context["log"], ","),
                    "mails" => "" . $context["mails"],
                    "helo" => $connection["helo"]["host"],
                    "user" => $connection["auth"]["username"] ?? "-",
                    "transaction" => $transaction["id"]]]);
        }
        Accept(["reason" => "Queued"]);
    """,
    "disconnect": r"""
        echo "disconnect " . $connection["helo"]["host"] . " close=" . $arguments["close"]
             . " last=" . ($arguments["reply"]["code"] ?? "none")
             . " error=" . ($arguments["error"]["type"] ?? "none");
    """,
}

DOMAIN_HOOK = 'Reject("not here: " . $arguments["recipient"]);\n'


def write_hooks(directory, hooks) -> list:
    args = []
    for phase, source in hooks.items():
        path = directory / f"{phase}.hsl"
        path.write_text(source)
        args += ["--hook", f"{phase}={path}"]
    return args


@pytest.fixture(scope="module")
def hooks_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("phases")


@pytest.fixture(scope="module")
def server(hooks_dir):
    domain = hooks_dir / "domain.hsl"
    domain.write_text(DOMAIN_HOOK)
    args = write_hooks(hooks_dir, HOOKS)
    with Server(None, *args, "--rcptto-domain", f"Closed.Example={domain}",
                "--auth-plaintext", "--auth-mechanisms", "PLAIN,LOGIN,X-TOKEN",
                "--metrics", "127.0.0.1:0") as srv:
        yield srv


def entries(srv) -> list:
    listing = read_spool(srv.spool) if os.path.isdir(srv.spool) else None
    return listing.entries if listing else []


def smtp(srv) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", srv.port, timeout=10)


def metrics_text(srv) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.metrics_port}/metrics",
                                timeout=10) as r:
        return r.read().decode()


# ------------------------------------------------------------- every phase

def test_helo_decisions(server):
    with smtp(server) as s:
        assert s.ehlo("reject.example") == (554, b"Rejected")
        assert s.mail("a@example.org") == (503, b"5.5.1 Error: send HELO first")
        code, text = s.ehlo("client.example")
        assert code == 250 and text.startswith(b"Hello client.example\n")


@pytest.mark.parametrize("sender, expected", [
    ("reject@example.org", (554, b"5.7.1 Rejected")),
    ("defer@example.org", (450, b"4.7.1 Deferred")),
    ("someone@example.org", (250, b"2.1.0 Sender OK")),
])
def test_mailfrom_decisions(server, sender, expected):
    with smtp(server) as s:
        s.ehlo("client.example")
        assert s.mail(sender) == expected


@pytest.mark.parametrize("recipient, expected", [
    ("reject@example.net", (554, b"5.7.1 Rejected")),
    ("defer@example.net", (450, b"4.7.1 Deferred")),
    ("error@example.net", (451, b"4.3.0 Temporary local problem, try again later")),
    ("bob@closed.example", (554, b"5.7.1 not here: bob@closed.example")),   # domain hook
    ("bob@example.net", (250, b"2.1.5 Recipient OK")),
])
def test_rcptto_decisions(server, recipient, expected):
    with smtp(server) as s:
        s.ehlo("client.example")
        assert s.mail("a@example.org")[0] == 250
        assert s.rcpt(recipient) == expected


def test_a_refused_recipient_is_not_in_the_transaction(server):
    with smtp(server) as s:
        s.ehlo("client.example")
        s.mail("a@example.org")
        assert s.rcpt("one@example.net")[1] == b"2.1.5 Recipient OK"
        assert s.rcpt("reject@example.net")[0] == 554
        assert s.rcpt("count@example.net") == (250, b"2.1.5 seen 1")


def test_eod_queues_to_the_spool_with_the_state_of_every_phase(server):
    before = len(entries(server))
    with smtp(server) as s:
        s.ehlo("client.example")
        s.mail("rewrite@example.org")
        s.rcpt("bob@example.net")
        s.rcpt("route@example.net")
        s.data(b"Subject: one\r\n\r\nfirst\r\n")
        # a second transaction on the same connection: a new $transaction, same $context
        s.mail("a@example.org")
        s.rcpt("carol@example.net")
        assert s.data(b"Subject: two\r\n\r\nsecond\r\n") == (250, b"2.0.0 Queued")
    new = entries(server)[before:]
    assert [(e.envelope["sender"], e.envelope["recipient"], e.envelope["transportid"])
            for e in new] == [("rewritten@example.org", "bob@example.net", "mx"),
                              ("rewritten@example.org", "route@example.net", "special"),
                              ("a@example.org", "carol@example.net", "mx")]
    meta = [e.envelope["metadata"] for e in new]
    assert meta[0]["log"] == "connect,helo,mailfrom"
    assert meta[2]["log"] == "connect,helo,mailfrom,mailfrom"
    assert [m["mails"] for m in meta] == ["1", "1", "2"]
    assert meta[0]["helo"] == "client.example" and meta[0]["user"] == "-"
    assert meta[0]["transaction"] == meta[1]["transaction"] == new[0].envelope["transaction"]
    assert meta[2]["transaction"] != meta[0]["transaction"]
    assert new[0].read_message() == b"Subject: one\r\n\r\nfirst\r\n"


def test_rset_starts_a_new_transaction(server):
    with Raw(server.port) as c:
        c.reply()
        c.cmd(b"EHLO client.example\r\n")
        assert c.cmd(b"MAIL FROM:<a@example.org>\r\n")[0].startswith(b"250")
        assert c.cmd(b"RCPT TO:<b@example.net>\r\n")[0].startswith(b"250")
        assert c.cmd(b"RSET\r\n") == [b"250 2.0.0 OK"]
        assert c.cmd(b"RCPT TO:<b@example.net>\r\n") == [b"503 5.5.1 Error: need MAIL command"]
        assert c.cmd(b"DATA\r\n") == [b"503 5.5.1 Error: need MAIL command"]


@pytest.mark.parametrize("sender, expected", [
    ("eodreject@example.org", (550, b"5.7.1 Rejected")),
    ("eoddefer@example.org", (421, b"4.7.1 Deferred")),
    ("eoderror@example.org", (451, b"4.3.0 Temporary local problem, try again later")),
    ("noqueue@example.org", (250, b"2.0.0 Queued")),        # Accept() with nothing queued
])
def test_eod_commits_only_what_an_accept_keeps(server, sender, expected):
    before = len(entries(server))
    with smtp(server) as s:
        s.ehlo("client.example")
        s.mail(sender)
        s.rcpt("b@example.net")
        assert s.data(b"Subject: not kept\r\n\r\nbody\r\n") == expected
    assert len(entries(server)) == before


def test_the_spool_files_are_there_before_the_250(server):
    with Raw(server.port) as c:
        c.reply()
        c.cmd(b"EHLO client.example\r\n")
        c.cmd(b"MAIL FROM:<a@example.org>\r\n")
        c.cmd(b"RCPT TO:<first@example.net>\r\n")
        assert c.cmd(b"DATA\r\n")[0].startswith(b"354")
        before = len(entries(server))
        assert c.cmd(b"Subject: durable\r\n\r\nbody\r\n.\r\n") == [b"250 2.0.0 Queued"]
        new = entries(server)[before:]          # read right after the reply
        assert [e.envelope["recipient"] for e in new] == ["first@example.net"]
        assert new[0].read_message() == b"Subject: durable\r\n\r\nbody\r\n"


def test_message_bytes_are_kept_exactly(server):
    body = (b"Subject: exact\r\n\r\n..dot-stuffed\r\nbare\nLF and \xe9 8-bit\r\n"
            b"x" * 3000 + b"\r\n.\r\n")
    with Raw(server.port) as c:
        c.reply()
        c.cmd(b"EHLO client.example\r\n")
        c.cmd(b"MAIL FROM:<a@example.org>\r\n")
        c.cmd(b"RCPT TO:<exact@example.net>\r\n")
        c.cmd(b"DATA\r\n")
        assert c.cmd(body) == [b"250 2.0.0 Queued"]
    [entry] = [e for e in entries(server) if e.envelope["recipient"] == "exact@example.net"]
    assert entry.read_message() == body[:-3].replace(b"\r\n..dot", b"\r\n.dot")


def test_vrfy_expn_noop_help(server):
    with Raw(server.port) as c:
        c.reply()
        c.cmd(b"EHLO client.example\r\n")
        assert c.cmd(b"VRFY bob\r\n")[0].startswith(b"252 2.0.0 ")
        assert c.cmd(b"EXPN staff\r\n") == [b"502 5.5.1 Error: command not implemented"]
        assert c.cmd(b"NOOP\r\n") == [b"250 2.0.0 OK"]
        [help_line] = c.cmd(b"HELP\r\n")
        assert help_line.startswith(b"214 2.0.0 ") and b" AUTH" in help_line
        assert b"STARTTLS" not in help_line         # no TLS context: not offered


def test_disconnect_hook_runs_once_with_who_closed(server):
    with smtp(server) as s:
        s.ehlo("quitter.example")           # smtplib's context manager sends QUIT
    server.wait_for(r'echo .*disconnect quitter.example close=local last=221 error=none')
    c = Raw(server.port)
    c.reply()
    c.cmd(b"EHLO leaver.example\r\n")
    c.cmd(b"NOOP\r\n")
    c.close()
    server.wait_for(r'echo .*disconnect leaver.example close=remote last=250 error=none')
    c = Raw(server.port)
    c.reply()
    c.cmd(b"EHLO resetter.example\r\n")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()                               # a TCP reset
    server.wait_for(r'echo .*disconnect resetter.example close=remote .*error=socket')
    time.sleep(0.2)
    for host in ("quitter", "leaver", "resetter"):
        assert sum(f"disconnect {host}.example" in line for line in server.lines) == 1


def test_decisions_are_logged_with_their_phase(server):
    with smtp(server) as s:
        s.ehlo("client.example")
        s.mail("a@example.org")
        s.rcpt("reject@example.net")
    line = server.wait_for(r"rcptto .*recipient=reject@example\.net")
    for field in ("phase=rcptto", "decision=reject", "code=554", "conn=", "ms="):
        assert field in line, line


def test_metrics_per_phase(server):
    with smtp(server) as s:
        s.ehlo("client.example")
        s.mail("a@example.org")
        s.rcpt("reject@example.net")
        s.rcpt("metrics@example.net")
        s.data(b"Subject: m\r\n\r\nm\r\n")
    text = metrics_text(server)
    assert 'hsl_hook_decisions_total{phase="rcptto",decision="reject",code="554"}' in text
    assert 'hsl_hook_decisions_total{phase="eod",decision="accept",code="250"}' in text
    assert 'hsl_hook_decisions_total{phase="connect",decision="accept",code="220"}' in text
    queued = float(text.split("\nhsl_queued_copies_total ")[1].split()[0])
    assert queued == len(entries(server))
    assert "\nhsl_spool_errors_total 0\n" in text


# -------------------------------------------------------------------- AUTH

def _b64(text: str) -> bytes:
    return base64.b64encode(text.encode())


def test_auth_plain_and_login_with_auth_plaintext(server):
    with smtp(server) as s:
        s.ehlo("client.example")
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN", "X-TOKEN"]
        assert s.login("alice", "secret") == (235, b"2.7.0 Authentication successful")
    with smtp(server) as s:
        s.ehlo("client.example")
        s.user, s.password = "alice", "secret"
        assert s.auth("LOGIN", s.auth_login, initial_response_ok=False)[0] == 235
    with smtp(server) as s:
        s.ehlo("client.example")
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login("alice", "wrong")
        assert e.value.smtp_code == 535


def test_auth_plain_without_initial_response_gets_a_334(server):
    with Raw(server.port) as c:
        c.reply()
        c.cmd(b"EHLO client.example\r\n")
        assert c.cmd(b"AUTH PLAIN\r\n") == [b"334 "]
        assert c.cmd(_b64("\0alice\0secret") + b"\r\n") == [
            b"235 2.7.0 Authentication successful"]
        assert c.cmd(b"AUTH PLAIN " + _b64("\0alice\0secret") + b"\r\n") == [
            b"503 5.5.1 Error: already authenticated"]


def test_auth_custom_mechanism_with_challenges_and_the_user_in_later_phases(server):
    before = len(entries(server))
    with Raw(server.port) as c:
        c.reply()
        c.cmd(b"EHLO client.example\r\n")
        assert c.cmd(b"AUTH X-TOKEN\r\n") == [b"334 " + _b64("send your token")]
        assert c.cmd(_b64("t0ken") + b"\r\n") == [b"235 2.7.0 Authentication successful"]
        c.cmd(b"MAIL FROM:<a@example.org>\r\n")
        c.cmd(b"RCPT TO:<authed@example.net>\r\n")
        c.cmd(b"DATA\r\n")
        assert c.cmd(b"Subject: a\r\n\r\nb\r\n.\r\n") == [b"250 2.0.0 Queued"]
    [entry] = entries(server)[before:]
    assert entry.envelope["metadata"]["user"] == "token-user"
    with Raw(server.port) as c:
        c.reply()
        c.cmd(b"EHLO client.example\r\n")
        assert c.cmd(b"AUTH X-TOKEN " + _b64("nope") + b"\r\n") == [b"535 5.7.8 bad token"]
        assert c.cmd(b"AUTH X-TOKEN\r\n")[0].startswith(b"334 ")
        assert c.cmd(b"*\r\n") == [b"501 5.0.0 Error: authentication aborted"]


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
def test_swaks_session_with_auth(server):
    before = len(entries(server))
    out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(server.port),
                          "--from", "a@example.org", "--to", "swaks@example.net",
                          "--helo", "swaks.example", "--auth", "LOGIN",
                          "--auth-user", "alice", "--auth-password", "secret"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "<-  235 2.7.0 Authentication successful" in out.stdout
    assert "<-  250 2.0.0 Queued" in out.stdout
    [entry] = entries(server)[before:]
    assert entry.envelope["metadata"]["user"] == "alice"
    assert entry.envelope["metadata"]["helo"] == "swaks.example"


def test_auth_is_not_announced_without_an_auth_hook(tmp_path):
    args = write_hooks(tmp_path, {"helo": "Accept();"})
    with Server(None, *args, "--auth-plaintext") as srv, smtp(srv) as s:
        s.ehlo("client.example")
        assert "auth" not in s.esmtp_features
        assert s.docmd("AUTH", "PLAIN " + _b64("\0a\0b").decode()) == (
            502, b"5.5.1 Error: command not recognized")
        code, text = s.docmd("HELP")
        assert code == 214 and b"AUTH" not in text


certs = pytest.importorskip("certs", reason="tests/certs.py (test PKI) is not there")


def test_auth_only_after_starttls(tmp_path):
    pki = certs.write_pki(tmp_path)
    args = write_hooks(tmp_path, {"auth": HOOKS["auth"]})
    with Server(None, *args, "--tls-cert", pki["leaf-chain.pem"], "--tls-key",
                pki["leaf.key"]) as srv, smtp(srv) as s:
        s._host = "mx.example.com"           # SNI and the server certificate's name
        s.ehlo("client.example")
        assert "auth" not in s.esmtp_features and "starttls" in s.esmtp_features
        assert s.docmd("AUTH", "PLAIN " + _b64("\0alice\0secret").decode())[0] == 538
        s.starttls(context=ssl.create_default_context(cafile=pki["ca.pem"]))
        s.ehlo("client.example")
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        assert s.login("alice", "secret")[0] == 235


# ----------------------------------------------------- other servers

def test_a_connect_hook_that_rejects_closes(tmp_path):
    args = write_hooks(tmp_path, {"connect": 'Reject("go away");'})
    with Server(None, *args) as srv, Raw(srv.port) as c:
        assert c.reply() == [b"521 go away"]
        assert c.closed()


def test_a_proxy_hook_sees_every_command_first(tmp_path):
    proxy = r"""
        $cmd = $arguments["command"];
        if ($cmd == "XHELLO") Pass(["command" => "NOOP"]);
        if (str_lower($cmd) == "noop") Reply("proxied noop");
        Pass();
    """
    args = write_hooks(tmp_path, {"proxy": proxy, "helo": "Accept();"})
    with Server(None, *args) as srv, Raw(srv.port) as c:
        c.reply()
        assert c.cmd(b"noop\r\n") == [b"250 proxied noop"]
        assert c.cmd(b"XHELLO\r\n") == [b"250 2.0.0 OK"]         # rewritten to NOOP
        assert c.cmd(b"EHLO client.example\r\n")[0].startswith(b"250-")


def test_maxsize(tmp_path):
    args = write_hooks(tmp_path, {"helo": "Accept();"})
    with Server(None, *args, "--max-size", "1000") as srv, Raw(srv.port) as c:
        c.reply()
        assert b"250-SIZE 1000" in c.cmd(b"EHLO client.example\r\n")
        assert c.cmd(b"MAIL FROM:<a@example.org> SIZE=2000\r\n")[0].startswith(b"552 5.3.4")
        c.cmd(b"MAIL FROM:<a@example.org>\r\n")
        c.cmd(b"RCPT TO:<b@example.net>\r\n")
        c.cmd(b"DATA\r\n")
        assert c.cmd(b"Subject: big\r\n\r\n" + b"x" * 990 + b"\r\n" * 20 + b".\r\n") == [
            b"552 5.3.4 Error: message too big"]
        assert c.cmd(b"NOOP\r\n") == [b"250 2.0.0 OK"]
        c.cmd(b"MAIL FROM:<a@example.org>\r\n")
        c.cmd(b"RCPT TO:<b@example.net>\r\n")
        c.cmd(b"DATA\r\n")
        assert c.cmd(b"Subject: small\r\n\r\nok\r\n.\r\n")[0].startswith(b"250 ")
        assert [e.read_message() for e in entries(srv)] == [b"Subject: small\r\n\r\nok\r\n"]


def test_a_spool_that_cannot_be_written_is_a_451_and_nothing_is_lost(tmp_path):
    args = write_hooks(tmp_path, {"helo": "Accept();"})
    spool = tmp_path / "spool"
    message = b"Subject: retry me\r\n\r\nbody\r\n"
    with Server(None, *args, "--spool", str(spool), "--metrics", "127.0.0.1:0") as srv:
        spool.rmdir()
        spool.write_text("not a directory")
        with smtp(srv) as s:
            s.ehlo("client.example")
            s.mail("a@example.org")
            s.rcpt("b@example.net")
            assert s.data(message) == (
                451, b"4.3.0 Error: could not store the message, try again later")
        srv.wait_for(r"could not store a message .*spool directory")
        assert srv.metric("hsl_spool_errors_total") == 1
        spool.unlink()                      # the disk is back: the client retries
        with smtp(srv) as s:
            s.ehlo("client.example")
            s.mail("a@example.org")
            s.rcpt("b@example.net")
            assert s.data(message)[0] == 250
        [entry] = read_spool(str(spool)).entries
        assert entry.read_message() == message
        assert srv.metric("hsl_queued_copies_total") == 1


def test_reload_swaps_every_hook_or_none(tmp_path):
    helo = tmp_path / "helo.hsl"
    mailfrom = tmp_path / "mailfrom.hsl"
    helo.write_text('Accept(["reason" => "helo one"]);\n')
    mailfrom.write_text('Accept(["reason" => "mail one"]);\n')
    with Server(None, "--hook", f"helo={helo}", "--hook", f"mailfrom={mailfrom}") as srv:
        def replies():
            with smtp(srv) as s:
                return s.ehlo("a.example")[1].split(b"\n")[0], s.mail("a@example.org")[1]

        assert replies() == (b"helo one", b"2.1.0 mail one")
        helo.write_text('Accept(["reason" => "helo two"]);\n')
        mailfrom.write_text('Accept(["reason" => "mail two"]\n')        # syntax error
        n = len(srv.lines)
        srv.hup()
        srv.wait_for(r"reload failed", start=n)
        srv.wait_for(str(mailfrom) + r":\d+:\d+", start=n)
        assert replies() == (b"helo one", b"2.1.0 mail one")      # neither changed
        mailfrom.write_text('Accept(["reason" => "mail two"]);\n')
        n = len(srv.lines)
        srv.hup()
        srv.wait_for(r"script reloaded", start=n)
        assert replies() == (b"helo two", b"2.1.0 mail two")


def test_usage_errors(tmp_path):
    import sys
    from serve_helpers import ROOT
    helo = tmp_path / "helo.hsl"
    helo.write_text("Accept();")
    for args, message in ([[], "no hook to serve"],
                          [["--hook", f"queue={helo}"], "not an SMTP hook phase"],
                          [["--hook", f"helo={helo}", "--helo", str(helo)], "two hooks for helo"],
                          [["--rcptto-domain", "example.com"], "expected DOMAIN=FILE"]):
        out = subprocess.run([sys.executable, "-m", "hsl", "serve", *args,
                              "--spool", str(tmp_path / "spool")],
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert out.returncode == 2, (args, out.stderr)
        assert message in out.stderr and "Traceback" not in out.stderr
