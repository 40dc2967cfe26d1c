"""smtp_lookup_rcpt and smtp_lookup_auth against local SMTP servers only (127.0.0.1,
ephemeral ports; never the internet): aiosmtpd servers (plain, STARTTLS with the test PKI,
self-signed, HELO-only, LMTP, AUTH), a scripted server that records every line it gets
and answers from a table, a port with nothing listening and a server that never answers."""
import os
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, AuthResult

import hsl
from hsl.net import dns as resolver
from hsl.builtins import FUNCTIONS, load_all
from hsl.builtins.smtpclient import _split_hostport
from hsl.errors import ScriptError
from hsl.runtime.execution import Preempted
from hsl.runtime.values import from_python, to_python

import certs

load_all()

USER, PASSWORD = b"user@example.com", b"s3cret"


# ------------------------------------------------------------------ servers

class Recorder:
    """aiosmtpd handler: RCPT accepts, rejects (bad*) or defers (later*) by address;
    MAIL rejects blocked* (550) and busy* (451); records what it is told."""

    def __init__(self):
        self.hellos, self.mails, self.rcpts, self.mechanisms = [], [], [], []
        self.data = 0
        self.quits = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.hellos.append(("EHLO", hostname))
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        self.hellos.append(("HELO", hostname))
        session.host_name = hostname
        return "250 " + server.hostname

    async def handle_MAIL(self, server, session, envelope, address, options):
        self.mails.append((address, options))
        if address.startswith("blocked"):
            return "550 5.7.1 sender blocked"
        if address.startswith("busy"):
            return "451 4.3.0 sender check failed"
        envelope.mail_from = address
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        self.rcpts.append(address)
        if address.startswith("bad"):
            return "550 5.1.1 no such user"
        if address.startswith("later"):
            return "450 4.2.0 mailbox busy"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data += 1
        return "554 no messages here"

    async def handle_QUIT(self, server, session, envelope):
        self.quits += 1
        return "221 Bye"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.mechanisms.append(mechanism)
        if auth_data.login == b"tempfail":
            return AuthResult(success=False, handled=False,
                              message="454 4.7.0 temporary authentication failure")
        ok = (auth_data.login, auth_data.password) == (USER, PASSWORD)
        return AuthResult(success=ok, handled=False)    # handled: "I already replied"


class _EhloRefused(SMTP):
    async def smtp_EHLO(self, arg):
        await self.push("502 5.5.2 Error: command not recognized")


class Server(Controller):
    """An aiosmtpd Controller on an ephemeral port of 127.0.0.1."""

    def __init__(self, handler, smtp_class=SMTP, **kw):
        self.smtp_class = smtp_class
        if "authenticator" not in kw:
            kw["authenticator"] = handler.authenticate
        super().__init__(handler, hostname="127.0.0.1", port=0,
                         server_hostname="mx.test", **kw)

    def factory(self):
        return self.smtp_class(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class Scripted:
    """A one-thread SMTP server answering each command verb from `replies` (default
    "250 OK"); `sessions` holds the lines received, one list per connection.  With
    `garbage_tls` it answers STARTTLS with 220 and then plain text (a failed handshake)."""

    def __init__(self, replies=None, banner=b"220 scripted ESMTP", garbage_tls=False,
                 drop_after=None):
        self.replies = replies or {}
        self.banner = banner
        self.garbage_tls = garbage_tls
        self.drop_after = drop_after
        self.sessions = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self._serve(conn)

    def _serve(self, conn):
        lines = []
        self.sessions.append(lines)
        conn.sendall(self.banner + b"\r\n")
        if not self.banner.startswith(b"220"):
            return
        for raw in conn.makefile("rb"):
            line = raw.rstrip(b"\r\n")
            lines.append(line)
            verb = line.split(b" ")[0].split(b":")[0].upper()
            if verb == self.drop_after:
                return
            conn.sendall(self.replies.get(verb, b"221 bye" if verb == b"QUIT"
                                          else b"250 OK") + b"\r\n")
            if verb == b"QUIT":
                return
            if verb == b"STARTTLS" and self.garbage_tls:
                conn.sendall(b"this is not TLS\r\n" * 20)
                return

    def close(self):
        self.sock.close()


def _start(*args, **kw):
    server = Server(*args, **kw)
    server.start()
    return server


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return certs.write_pki(tmp_path_factory.mktemp("pki"))


def _tls_context(cert, key, sni_seen=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if sni_seen is not None:
        ctx.sni_callback = lambda sslobj, name, c: sni_seen.append(name)
    return ctx


@pytest.fixture(scope="module")
def servers(pki):
    """name -> (Server, Recorder).  plain: AUTH LOGIN and PLAIN in plain text, no
    STARTTLS; plainonly: AUTH PLAIN only; noauth: no AUTH offered; tls: STARTTLS with the
    leaf (mail.example.com, from the test CA), AUTH only after STARTTLS; selfsigned:
    STARTTLS with a self-signed certificate; helo: EHLO refused; lmtp: LMTP."""
    made = {}
    sni = []

    def add(name, **kw):
        rec = Recorder()
        made[name] = (_start(rec, **kw), rec)

    add("plain", auth_require_tls=False)
    add("plainonly", auth_require_tls=False, auth_exclude_mechanism=["LOGIN"])
    add("noauth")
    add("tls", tls_context=_tls_context(pki["leaf-chain.pem"], pki["leaf.key"], sni))
    add("selfsigned", tls_context=_tls_context(pki["selfsigned.pem"], pki["selfsigned.key"]))
    add("helo", smtp_class=_EhloRefused, auth_require_tls=False)
    add("lmtp", smtp_class=LMTP)
    made["sni"] = sni
    yield made
    for name, entry in made.items():
        if name != "sni":
            entry[0].stop()


@pytest.fixture(scope="module")
def closed_port():
    s = socket.create_server(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def silent():
    """Accepts connections (the kernel does) and never says a word."""
    s = socket.create_server(("127.0.0.1", 0), backlog=16)
    yield s.getsockname()[1]
    s.close()


@pytest.fixture
def trust_test_ca(pki, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", pki["ca.pem"])
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture
def trust_nothing_useful(pki, monkeypatch):
    """Verification uses a CA file that has nothing to do with the servers' certificates."""
    monkeypatch.setenv("SSL_CERT_FILE", pki["client.pem"])
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


# ------------------------------------------------------------------ helpers

def F(name, *args):
    return FUNCTIONS[name].fn(*[from_python(a) for a in args])


def at(entry, **settings):
    server = entry[0] if isinstance(entry, tuple) else entry
    return {"host": "127.0.0.1", "port": server.port, **settings}


def rcpt(server, recipient="user@example.com", sender="probe@example.org", **options):
    return F("smtp_lookup_rcpt", server, sender, recipient, options)


def ext(server, recipient="user@example.com", sender="probe@example.org"):
    return to_python(rcpt(server, recipient, sender, extended_result=True))


def run_hsl(source, **kw):
    out = []
    hsl.compile(source).run(output=out.append, **kw)
    return out


# ------------------------------------------------------------------ RCPT: results

def test_accepted_rejected_deferred(servers):
    entry = servers["plain"]
    rec = entry[1]
    before = rec.quits
    assert rcpt(at(entry), "alice@example.com") == 1.0
    assert rcpt(at(entry), "bad@example.com") == 0.0
    assert rcpt(at(entry), "later@example.com") == -1.0
    assert rec.rcpts[-3:] == ["alice@example.com", "bad@example.com", "later@example.com"]
    assert rec.mails[-1][0] == "probe@example.org"
    assert rec.data == 0                    # never a message
    deadline = time.monotonic() + 2
    while rec.quits < before + 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rec.quits == before + 3          # every session ends with QUIT


def test_extended_result_fields(servers):
    s = at(servers["plain"])
    assert ext(s, "alice@example.com") == {
        "result": 1, "error_code": 250, "error_message": "2.1.5 OK", "on_rcptto": True,
        "tls": False, "state": "RCPT"}
    assert ext(s, "bad@example.com") == {
        "result": 0, "error_code": 550, "error_message": "5.1.1 no such user",
        "on_rcptto": True, "tls": False, "state": "RCPT"}
    r = ext(s, "later@example.com")
    assert (r["result"], r["error_code"], r["on_rcptto"]) == (-1, 450, True)


def test_extended_result_is_false_by_default_and_must_be_boolean(servers):
    s = at(servers["plain"])
    assert rcpt(s, extended_result=False) == 1.0
    with pytest.raises(ScriptError, match=r"smtp_lookup_rcpt\(\).*extended_result.*type"):
        rcpt(s, extended_result=1)


def test_sender_rejected_or_deferred_at_mail_from(servers):
    s = at(servers["plain"])
    r = ext(s, sender="blocked@example.org")
    assert (r["result"], r["error_code"], r["on_rcptto"], r["state"]) == (0, 550, False,
                                                                           "MAIL")
    r = ext(s, sender="busy@example.org")
    assert (r["result"], r["error_code"], r["on_rcptto"], r["state"]) == (-1, 451, False,
                                                                           "MAIL")


def test_lookup_from_a_script(servers):
    port = servers["plain"][0].port
    out = run_hsl(f'''
        $server = ["host" => "127.0.0.1", "port" => {port}];
        foreach (["ok", "bad", "later"] as $who)
            echo smtp_lookup_rcpt($server, "", "$who@example.com");
        $r = smtp_lookup_rcpt("127.0.0.1:{port}", "a@example.org", "bad@example.com",
                              ["extended_result" => true]);
        echo $r["error_code"] . " " . $r["error_message"];
    ''', max_time=10)
    assert out[:3] == ["1", "0", "-1"]
    assert out[3] == "550 5.1.1 no such user"


# ------------------------------------------------------------------ HELO, names, LMTP

def test_helo_name_sent(servers):
    entry = servers["plain"]
    assert rcpt(at(entry, helo="probe.example.net")) == 1.0
    assert entry[1].hellos[-1] == ("EHLO", "probe.example.net")
    assert rcpt(at(entry)) == 1.0           # default: this machine's host name
    assert entry[1].hellos[-1] == ("EHLO", socket.gethostname())


def test_helo_fallback_when_ehlo_is_refused(servers):
    entry = servers["helo"]
    assert ext(at(entry, helo="old.example.net")) == {
        "result": 1, "error_code": 250, "error_message": "2.1.5 OK", "on_rcptto": True,
        "tls": False, "state": "RCPT"}
    assert entry[1].hellos[-1] == ("HELO", "old.example.net")
    # HELO has no extensions: STARTTLS cannot be offered, so "require" fails
    r = ext(at(entry, tls="require"))
    assert (r["result"], r["state"]) == (-1, "STARTTLS")
    assert "not offered" in r["error_message"]


def test_lmtp_sends_lhlo(servers):
    entry = servers["lmtp"]
    assert rcpt(at(entry, protocol="lmtp")) == 1.0
    assert rcpt(at(entry, protocol="LMTP"), "bad@example.com") == 0.0
    # plain SMTP against the LMTP server: EHLO and HELO both refused (500)
    r = ext(at(entry))
    assert (r["result"], r["error_code"], r["state"]) == (0, 500, "HELO")


def test_banner_and_ehlo_failures():
    rejecting = Scripted(banner=b"554 5.3.2 no service for you")
    busy = Scripted(banner=b"421 4.3.2 try later")
    ehlo_busy = Scripted({b"EHLO": b"421 4.3.2 shutting down"})
    try:
        r = ext({"host": "127.0.0.1", "port": rejecting.port})
        assert (r["result"], r["error_code"], r["state"]) == (0, 554, "BANNER")
        r = ext({"host": "127.0.0.1", "port": busy.port})
        assert (r["result"], r["error_code"], r["state"]) == (-1, 421, "BANNER")
        r = ext({"host": "127.0.0.1", "port": ehlo_busy.port})
        assert (r["result"], r["error_code"], r["state"]) == (-1, 421, "EHLO")
        # a 4xx to EHLO is not a reason to try HELO
        assert [line.split(b" ")[0] for line in ehlo_busy.sessions[0]] == [b"EHLO", b"QUIT"]
    finally:
        for s in (rejecting, busy, ehlo_busy):
            s.close()


# ------------------------------------------------------------------ what goes on the wire

def test_command_lines():
    server = Scripted({b"EHLO": b"250-scripted\r\n250-SMTPUTF8\r\n250 8BITMIME"})
    try:
        s = {"host": "127.0.0.1", "port": server.port, "helo": "me.example"}
        assert rcpt(s, "user@example.com", "") == 1.0
        assert rcpt(s, {"localpart": "john doe", "domain": "example.com",
                        "params": {"NOTIFY": "NEVER"}},
                    {"address": "a@b.example", "params": {"size": 2048, "BODY": "8BITMIME",
                                                          "SMTPUTF8": True}}) == 1.0
        assert rcpt(s, "<user@example.com>", "r\u00e4ksm\u00f6rg\u00e5s@example.se") == 1.0
        first, second, third = server.sessions
        assert first == [b"EHLO me.example", b"MAIL FROM:<>",
                         b"RCPT TO:<user@example.com>", b"QUIT"]
        assert second[1:3] == [b"MAIL FROM:<a@b.example> SIZE=2048 BODY=8BITMIME SMTPUTF8",
                               b'RCPT TO:<"john doe"@example.com> NOTIFY=NEVER']
        # a non-ASCII address asks for SMTPUTF8 when the server offers it
        assert third[1] == ("MAIL FROM:<r\u00e4ksm\u00f6rg\u00e5s@example.se> "
                            "SMTPUTF8").encode()
        assert third[2] == b"RCPT TO:<user@example.com>"
        assert not any(line.startswith(b"DATA") for lines in server.sessions
                       for line in lines)
    finally:
        server.close()


def test_connection_lost_midway():
    server = Scripted(drop_after=b"MAIL")
    try:
        r = ext({"host": "127.0.0.1", "port": server.port})
        assert (r["result"], r["error_code"], r["state"]) == (-1, None, "MAIL")
        assert "connection lost" in r["error_message"]
    finally:
        server.close()


# ------------------------------------------------------------------ failures and time

def test_nothing_listening(closed_port):
    r = ext({"host": "127.0.0.1", "port": closed_port})
    assert (r["result"], r["error_code"], r["state"], r["on_rcptto"]) == (-1, None,
                                                                           "CONNECT", False)
    assert "connection failed" in r["error_message"]
    assert "refused" in r["error_message"].lower()
    assert rcpt(f"127.0.0.1:{closed_port}") == -1.0


def test_a_silent_server_times_out(silent):
    started = time.monotonic()
    r = ext({"host": "127.0.0.1", "port": silent, "timeout": {"banner": 0.2}})
    assert time.monotonic() - started < 1.5
    assert (r["result"], r["error_code"], r["state"]) == (-1, None, "BANNER")
    assert "timed out" in r["error_message"]


def test_the_execution_deadline_stops_a_run(silent):
    program = hsl.compile(f'''
        try {{
            echo smtp_lookup_rcpt(["host" => "127.0.0.1", "port" => {silent}],
                                  "a@example.org", "b@example.com");
        }} catch ($e) {{
            echo "caught";
        }}
        echo "after";
    ''')
    out = []
    started = time.monotonic()
    with pytest.raises(hsl.HSLRuntimeError, match="execution time limit exceeded"):
        program.run(output=out.append, max_time=0.3)
    assert 0.25 < time.monotonic() - started < 1.5
    assert out == []                        # neither caught nor continued


def test_a_short_state_timeout_is_not_the_deadline(silent):
    out = run_hsl(f'''
        echo smtp_lookup_rcpt(["host" => "127.0.0.1", "port" => {silent},
                               "timeout" => ["BANNER" => 0.1]], "a@x.org", "b@y.com");
        echo "went on";
    ''', max_time=5)
    assert out == ["-1", "went on"]


def test_a_speculative_run_is_preempted_before_connecting(servers):
    entry = servers["plain"]
    seen = len(entry[1].hellos)
    program = hsl.compile(f'memory_store("k", 1); echo smtp_lookup_rcpt(["host" => '
                          f'"127.0.0.1", "port" => {entry[0].port}], "a@x.org", "b@y.com");')
    with pytest.raises(Preempted) as info:
        program.run(output=lambda s: None, max_time=0.05, speculative=True)
    assert info.value.why == "smtp"
    with pytest.raises(Preempted) as info:
        hsl.compile('echo smtp_lookup_auth("127.0.0.1:1", "u", "p");').run(
            output=lambda s: None, max_time=0.05, speculative=True)
    assert info.value.why == "smtp"
    assert len(entry[1].hellos) == seen     # nobody was contacted


# ------------------------------------------------------------------ STARTTLS

def tls_ext(entry, recipient="user@example.com", **settings):
    return ext(at(entry, **settings), recipient)


def test_starttls_modes_against_a_tls_server(servers):
    tls = servers["tls"]
    for mode in ("optional", "require", "dane"):
        r = tls_ext(tls, tls=mode)
        assert (r["result"], r["tls"]) == (1, True), mode
    r = tls_ext(tls, tls="disabled")
    assert (r["result"], r["tls"]) == (1, False)
    r = tls_ext(tls, "bad@example.com", tls="require")
    assert (r["result"], r["error_code"], r["tls"], r["on_rcptto"]) == (0, 550, True, True)
    # after STARTTLS the client says EHLO again
    assert [h[0] for h in tls[1].hellos[-2:]] == ["EHLO", "EHLO"]


def test_starttls_unavailable(servers):
    plain = servers["plain"]
    for mode in ("require", "require_verify"):
        r = tls_ext(plain, tls=mode)
        assert (r["result"], r["error_code"], r["state"], r["tls"]) == (-1, None,
                                                                         "STARTTLS", False)
        assert "not offered" in r["error_message"]
    for mode in ("optional", "optional_verify", "dane"):
        r = tls_ext(plain, tls=mode)
        assert (r["result"], r["tls"]) == (1, False), mode


def test_dane_require_is_never_pretended(servers):
    r = tls_ext(servers["tls"], tls="dane_require")
    assert (r["result"], r["state"]) == (-1, "STARTTLS")
    assert "DANE" in r["error_message"]


def test_verified_tls(servers, trust_test_ca):
    tls = servers["tls"]
    for mode in ("require_verify", "optional_verify"):
        r = tls_ext(tls, tls=mode)
        assert (r["result"], r["tls"]) == (1, True), mode
    # names: the certificate is for mail.example.com and mx.example.com, not 127.0.0.1
    assert tls_ext(tls, tls="require_verify",
                   tls_verify_name=["mail.example.com"])["result"] == 1
    assert tls_ext(tls, tls="require_verify",
                   tls_verify_name=["other.example.com", ".example.com"])["result"] == 1
    r = tls_ext(tls, tls="require_verify", tls_verify_name=["other.example.com"])
    assert (r["result"], r["state"]) == (-1, "STARTTLS")
    assert "name mismatch" in r["error_message"]
    r = tls_ext(tls, tls="require_verify", tls_verify_host=True)
    assert (r["result"], r["state"]) == (-1, "STARTTLS")
    # names are only checked in the verify modes
    assert tls_ext(tls, tls="require", tls_verify_host=True)["result"] == 1


def test_unverifiable_certificates(servers, trust_nothing_useful):
    for name in ("tls", "selfsigned"):
        entry = servers[name]
        for mode in ("require_verify", "optional_verify"):
            r = tls_ext(entry, tls=mode)
            assert (r["result"], r["error_code"], r["state"]) == (-1, None, "STARTTLS")
            assert "certificate verification failed" in r["error_message"]
        # without verification the same server is fine
        assert tls_ext(entry, tls="require")["result"] == 1


def test_self_signed_is_not_trusted_even_with_the_test_ca(servers, trust_test_ca):
    r = tls_ext(servers["selfsigned"], tls="require_verify")
    assert r["result"] == -1 and "verification failed" in r["error_message"]


def test_sni(servers, monkeypatch):
    from hsl.net import dns as resolver             # "localhost" from the system, as in production
    monkeypatch.setattr(resolver, "_backend", resolver.DnsPythonBackend())
    tls, seen = servers["tls"], servers["sni"]
    assert tls_ext(tls, tls="require", tls_sni="mx.example.com")["result"] == 1
    assert seen[-1] == "mx.example.com"
    assert tls_ext(tls, tls="require")["result"] == 1
    assert seen[-1] is None                 # no SNI by default
    assert tls_ext(tls, tls="require", tls_sni=True)["result"] == 1
    assert seen[-1] is None                 # an IP address is never sent
    r = ext({"host": "localhost", "port": tls[0].port, "tls": "require", "tls_sni": True})
    assert r["result"] == 1 and seen[-1] == "localhost"


def test_captured_peer_certificate(servers):
    value = rcpt(at(servers["tls"], tls="require", tls_capture_peer_cert=True),
                 extended_result=True)
    resource = value.get(b"peercert").get(b"x509")
    assert "mail.example.com" in resource.cert.subject.rfc4514_string()
    assert rcpt(at(servers["tls"], tls="require"), extended_result=True).get(
        b"peercert") is None


def test_tls_protocols_and_ciphers(servers):
    tls = servers["tls"]
    assert tls_ext(tls, tls="require", tls_protocols="TLSv1.3")["result"] == 1
    assert tls_ext(tls, tls="require", tls_protocols="!TLSv1.3")["result"] == 1
    assert tls_ext(tls, tls="require", tls_ciphers="HIGH:!aNULL")["result"] == 1
    with pytest.raises(ScriptError, match=r"smtp_lookup_rcpt\(\).*TLSv9"):
        tls_ext(tls, tls="require", tls_protocols="TLSv1.2,TLSv9")
    with pytest.raises(ScriptError, match=r"smtp_lookup_rcpt\(\).*tls_ciphers"):
        tls_ext(tls, tls="require", tls_ciphers="NO-SUCH-CIPHER")


def test_starttls_refused_or_broken():
    refused = Scripted({b"EHLO": b"250-scripted\r\n250 STARTTLS",
                        b"STARTTLS": b"454 4.7.0 TLS not available now"})
    broken = Scripted({b"EHLO": b"250-scripted\r\n250 STARTTLS",
                       b"STARTTLS": b"220 go ahead"}, garbage_tls=True)
    try:
        s = {"host": "127.0.0.1", "port": refused.port}
        r = ext({**s, "tls": "optional"})
        assert (r["result"], r["tls"]) == (1, False)    # goes on in plain text
        r = ext({**s, "tls": "require"})
        assert (r["result"], r["error_code"], r["state"]) == (-1, 454, "STARTTLS")

        s = {"host": "127.0.0.1", "port": broken.port}
        r = ext({**s, "tls": "require"})
        assert (r["result"], r["state"]) == (-1, "STARTTLS")
        assert "handshake failed" in r["error_message"]
        # optional: one more try on a new connection, without STARTTLS
        before = len(broken.sessions)
        r = ext({**s, "tls": "optional"})
        assert (r["result"], r["tls"]) == (1, False)
        retry = broken.sessions[before + 1]
        assert [line.split(b" ")[0] for line in retry] == [b"EHLO", b"MAIL", b"RCPT",
                                                            b"QUIT"]
    finally:
        refused.close()
        broken.close()


# ------------------------------------------------------------------ AUTH

def auth(server, user=USER, password=PASSWORD):
    return F("smtp_lookup_auth", server, user, password)


def test_auth_success_and_failure(servers):
    entry = servers["plain"]
    assert auth(at(entry)) == 1.0
    assert entry[1].mechanisms[-1] == "LOGIN"           # preferred when offered
    assert auth(at(entry), password=b"wrong") == 0.0
    assert auth(at(entry), user=b"tempfail") == -1.0    # 454
    assert entry[1].data == 0


def test_auth_plain_when_login_is_not_offered(servers):
    entry = servers["plainonly"]
    assert auth(at(entry)) == 1.0
    assert entry[1].mechanisms[-1] == "PLAIN"
    assert auth(at(entry), password=b"wrong") == 0.0


def test_auth_unsupported(servers, closed_port):
    assert auth(at(servers["noauth"])) == -1.0          # AUTH not offered
    assert auth(at(servers["helo"])) == -1.0            # HELO only: no extensions
    assert auth({"host": "127.0.0.1", "port": closed_port}) == -1.0
    none_offered = Scripted({b"EHLO": b"250-scripted\r\n250 AUTH CRAM-MD5"})
    try:
        assert auth({"host": "127.0.0.1", "port": none_offered.port}) == -1.0
        assert [line.split(b" ")[0] for line in none_offered.sessions[0]] == [b"EHLO",
                                                                              b"QUIT"]
    finally:
        none_offered.close()


def test_auth_after_starttls(servers):
    tls = servers["tls"]
    assert auth(at(tls)) == -1.0                        # AUTH only offered over TLS
    assert auth(at(tls, tls="require")) == 1.0
    assert auth(at(tls, tls="optional"), password=b"nope") == 0.0


def test_rcpt_lookup_with_sasl_credentials(servers):
    entry = servers["plain"]
    r = ext(at(entry, saslusername=USER, saslpassword=PASSWORD))
    assert r["result"] == 1
    assert entry[1].mechanisms[-1] == "LOGIN"
    r = ext(at(entry, saslusername=USER, saslpassword="wrong"))
    assert (r["result"], r["error_code"], r["state"], r["on_rcptto"]) == (0, 535, "AUTH",
                                                                           False)
    r = ext(at(servers["noauth"], saslusername=USER, saslpassword=PASSWORD))
    assert (r["result"], r["state"]) == (-1, "AUTH")


# ------------------------------------------------------------------ MX lookup

@pytest.fixture
def dns_table():
    old = resolver.backend()

    def use(table):
        resolver.configure(resolver.MockBackend(table))
    yield use
    resolver.configure(old)


def test_mx_hosts_in_preference_order(servers, dns_table):
    port = servers["plain"][0].port
    dns_table({
        "example.test": {"mx": ["20 mx2.example.test", "10 mx1.example.test"]},
        "mx1.example.test": {"a": ["127.0.0.2"]},      # nothing listens there
        "mx2.example.test": {"a": ["127.0.0.1"]},
        "implicit.test": {"a": ["127.0.0.1"]},
        "nullmx.test": {"mx": ["0 "]},
    })
    assert rcpt({"port": port}, "alice@example.test") == 1.0
    assert rcpt({"port": port}, "bad@example.test") == 0.0
    r = ext({"port": port, "mx_include": ["mx1.example.test"]}, "alice@example.test")
    assert (r["result"], r["state"]) == (-1, "CONNECT")
    assert "127.0.0.2" in r["error_message"]
    assert rcpt({"port": port, "mx_exclude": ["*.example.test"]},
                "alice@example.test") == -1.0
    assert rcpt({"port": port}, "alice@implicit.test") == 1.0      # no MX: the domain
    r = ext({"port": port}, "alice@nullmx.test")
    assert r["result"] == -1 and "null MX" in r["error_message"]
    r = ext({"port": port}, "alice@unknown.test")
    assert r["result"] == -1 and "NXDOMAIN" in r["error_message"]
    assert ext({"port": port}, "postmaster")["result"] == -1      # no domain
    assert rcpt({"port": port}, "alice@[127.0.0.1]") == 1.0       # an address literal
    with pytest.raises(ScriptError, match=r"smtp_lookup_auth\(\) needs .*host"):
        auth({"port": port})


# ------------------------------------------------------------------ arguments

def test_server_strings():
    assert _split_hostport("smtp_lookup_rcpt", b"mx.example.com") == ("mx.example.com", None)
    assert _split_hostport("smtp_lookup_rcpt", b"mx.example.com:2525") == (
        "mx.example.com", 2525)
    assert _split_hostport("smtp_lookup_rcpt", b"[2001:db8::1]:587") == ("2001:db8::1", 587)
    assert _split_hostport("smtp_lookup_rcpt", b"[2001:db8::1]") == ("2001:db8::1", None)
    assert _split_hostport("smtp_lookup_rcpt", b"2001:db8::1") == ("2001:db8::1", None)
    for bad in (b"host:", b"host:x", b"host:70000", b"[::1", b"[::1]x", b":25", b""):
        with pytest.raises(ScriptError, match=r"smtp_lookup_rcpt\(\)"):
            _split_hostport("smtp_lookup_rcpt", bad)


def test_bracketed_server_string(servers):
    port = servers["plain"][0].port
    assert rcpt(f"[127.0.0.1]:{port}") == 1.0
    assert rcpt({"host": "[127.0.0.1]", "port": port}) == 1.0


@pytest.mark.parametrize("args,message", [
    ((1, "a@b", "c@d"), r"expects a string or an array as argument 1, got number"),
    ((None, "a@b", "c@d"), r"argument 1, got none"),
    (("h", 1, "c@d"), r"argument 2, got number"),
    (("h", "a@b", None), r"argument 3, got none"),
    (("h", "a@b", "c@d", "x"), r"expects an array as argument 4, got string"),
    (({"port": "25"}, "a@b", "c@d"), r"'port' must be a number"),
    (({"port": 0}, "a@b", "c@d"), r"invalid port 0"),
    (({"port": 25.5}, "a@b", "c@d"), r"invalid port 25.5"),
    (({"port": 65536}, "a@b", "c@d"), r"invalid port"),
    (({"host": 1}, "a@b", "c@d"), r"'host' must be a string"),
    (({"host": ""}, "a@b", "c@d"), r"'host' is empty"),
    (({"tls": "sometimes"}, "a@b", "c@d"), r"unknown tls mode 'sometimes'"),
    (({"tls": True}, "a@b", "c@d"), r"'tls' must be a string"),
    (({"tls_sni": 1}, "a@b", "c@d"), r"'tls_sni' must be a string or a boolean"),
    (({"tls_verify_host": "yes"}, "a@b", "c@d"), r"'tls_verify_host' must be a boolean"),
    (({"tls_verify_name": [1]}, "a@b", "c@d"), r"'tls_verify_name' must be an array of"),
    (({"timeout": 5}, "a@b", "c@d"), r"'timeout' must be an array"),
    (({"timeout": {"RCPT": "5"}}, "a@b", "c@d"), r"'timeout RCPT' must be a number"),
    (({"timeout": {"RCPT": -1}}, "a@b", "c@d"), r"must be a positive number"),
    (({"connect_timeout": 0}, "a@b", "c@d"), r"must be a positive number"),
    (({"helo": "a\r\nRSET"}, "a@b", "c@d"), r"helo must not contain CR, LF or NUL"),
    (({"sourceip": "nowhere"}, "a@b", "c@d"), r"'sourceip' is not an IP address"),
    (({"protocol": "smtps"}, "a@b", "c@d"), r"unknown protocol 'smtps'"),
    (({"sourceipid": "ip1"}, "a@b", "c@d"), r"'sourceipid' is not supported"),
    (({"tls_client_cert": "pki:1"}, "a@b", "c@d"), r"'tls_client_cert' is not supported"),
    (({"xclient": {"ADDR": "1.2.3.4"}}, "a@b", "c@d"), r"'xclient' is not supported"),
    (({"nonlocal_source": True}, "a@b", "c@d"), r"'nonlocal_source' is not supported"),
    (({"saslusername": 1}, "a@b", "c@d"), r"'saslusername' must be a string"),
    (("h", "a@b", "c@d\r\nDATA"), r"argument 3 is not a valid address"),
    (("h", "a@b>", "c@d"), r"argument 2 is not a valid address"),
    (("h", {"domain": "b"}, "c@d"), r"argument 2 needs 'localpart'"),
    (("h", {"localpart": 1, "domain": "b"}, "c@d"), r"'localpart' must be a string"),
    (("h", {"address": "a@b", "params": {"SIZE": [1]}}, "c@d"),
     r"parameter SIZE must be a string"),
    (("h", {"address": "a@b", "params": {"BAD NAME": "1"}}, "c@d"),
     r"invalid ESMTP parameter name"),
    (("h", {"address": "a@b", "params": {"X": "a b"}}, "c@d"), r"invalid value"),
    (("h", {"address": "a@b", "params": {"SIZE": float("inf")}}, "c@d"),
     r"parameter SIZE must be a string"),
    (("h", {"address": "a@b", "params": ["NOTIFY"]}, "c@d"),
     r"invalid ESMTP parameter name '0'"),
])
def test_argument_errors_name_the_function(args, message):
    with pytest.raises(ScriptError, match=r"smtp_lookup_rcpt\(\) .*" + message):
        F("smtp_lookup_rcpt", *args)


@pytest.mark.parametrize("args,message", [
    ((1, "u", "p"), r"argument 1, got number"),
    (("h", 1, "p"), r"expects a string as argument 2, got number"),
    (("h", "u", None), r"expects a string as argument 3, got none"),
    (({"host": "h", "port": "x"}, "u", "p"), r"'port' must be a number"),
])
def test_auth_argument_errors(args, message):
    with pytest.raises(ScriptError, match=r"smtp_lookup_auth\(\) .*" + message):
        F("smtp_lookup_auth", *args)


def test_registered_arity():
    assert (FUNCTIONS["smtp_lookup_rcpt"].min_args, FUNCTIONS["smtp_lookup_rcpt"].max_args) \
        == (3, 4)
    assert (FUNCTIONS["smtp_lookup_auth"].min_args, FUNCTIONS["smtp_lookup_auth"].max_args) \
        == (3, 3)
    assert FUNCTIONS["smtp_lookup_rcpt"].area == FUNCTIONS["smtp_lookup_auth"].area == "network"


def test_argument_errors_are_catchable_and_arity_is_checked():
    out = run_hsl('try { smtp_lookup_rcpt(["tls" => "x"], "a", "b"); } '
                  'catch ($e) { echo $e->message(); }')
    assert "smtp_lookup_rcpt() unknown tls mode" in out[0]
    with pytest.raises(hsl.HSLError):
        hsl.compile('smtp_lookup_rcpt("h", "a");')
    with pytest.raises(hsl.HSLError):
        hsl.compile('smtp_lookup_auth("h", "u", "p", []);')


def test_unknown_settings_and_options_are_ignored(servers):
    s = at(servers["plain"], tls_default_ca=True, some_future_setting=[1, 2])
    assert rcpt(s, no_such_option="x") == 1.0


# ------------------------------------------------------------------ the command line

def test_hsl_run_end_to_end(servers):
    port = servers["plain"][0].port
    code = (f'$s = ["host" => "127.0.0.1", "port" => {port}, "helo" => "cli.example"];'
            f'echo smtp_lookup_rcpt($s, "a@example.org", "ok@example.com");'
            f'echo smtp_lookup_rcpt($s, "a@example.org", "bad@example.com");'
            f'echo smtp_lookup_auth($s, "{USER.decode()}", "{PASSWORD.decode()}");')
    proc = subprocess.run([sys.executable, "-m", "hsl", "run", "--max-time", "20", "-e",
                           code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "0", "1"]
    assert "Traceback" not in proc.stderr
    assert ("EHLO", "cli.example") in servers["plain"][1].hellos


def test_a_host_name_comes_from_the_dns_table_when_one_is_configured(servers, monkeypatch):
    from hsl.net import dns as resolver
    monkeypatch.setattr(resolver, "_backend", resolver.MockBackend({
        "mx.table.test": {"a": ["127.0.0.1"]}, "down.table.test": "SERVFAIL"}))
    plain = servers["plain"][0]
    r = ext({"host": "mx.table.test", "port": plain.port})
    assert r["result"] == 1
    r = ext({"host": "down.table.test", "port": plain.port})
    assert r["result"] == -1 and "SERVFAIL" in r["error_message"]
