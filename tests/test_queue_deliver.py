"""hsl.queue.deliver: one delivery attempt of a queued copy against real SMTP/LMTP servers
on 127.0.0.1 (aiosmtpd sinks, and raw sockets for a server that drops the connection,
stalls or talks nonsense), with MX hosts from a DNS table and, for DANE, from a DNS
server that sets the AD flag.  Every outcome is checked as the exact
`$arguments["attempt"]` array postdelivery gets."""
import hashlib
import socket
import ssl
import threading
import time

import pytest
from aiosmtpd.lmtp import LMTP
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hsl.builtins.x509 import X509Resource
from hsl.net import dns as resolver
from hsl.net import smtp
from hsl.queue.deliver import Attempt, attempt, plugin_attempt
from hsl.runtime.values import to_python

import certs
from dns_server import DnsServer
from test_builtins_smtpclient import PASSWORD, USER, Server
from test_mail_send import Inbox

MESSAGE = b"Subject: hello\r\nFrom: a@example.org\r\n\r\nHi there.\r\n.leading dot\r\n"
HELO = "client.test"
BANNER = "mx.test test sink"


# ------------------------------------------------------------------ servers

class Sink(Inbox):
    """Inbox (MAIL refuses blocked* 550 / busy* 451, RCPT bad* 550 / later* 450, DATA
    refuses REJECT-ME with 554) that also refuses DATA of a message with TEMPFAIL-ME."""

    async def handle_DATA(self, server, session, envelope):
        if b"TEMPFAIL-ME" in envelope.original_content:
            return "452 4.3.1 out of space"
        return await super().handle_DATA(server, session, envelope)


def _start(handler=None, **kw):
    handler = handler or Sink()
    server = Server(handler, ident="test sink", **kw)
    server.start()
    return server, handler


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return certs.write_pki(tmp_path_factory.mktemp("pki"))


def _tls(pki, cert="leaf-chain.pem", key="leaf.key"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki[cert], pki[key])
    return ctx


@pytest.fixture(scope="module")
def sinks(pki):
    """plain (AUTH in plain text, SMTPUTF8), tls (STARTTLS required, the test PKI's leaf
    for mail.example.com), lmtp."""
    made = {"plain": _start(auth_require_tls=False, enable_SMTPUTF8=True),
            "tls": _start(tls_context=_tls(pki), require_starttls=True),
            "lmtp": _start(smtp_class=LMTP)}
    yield made
    for server, _ in made.values():
        server.stop()


class Raw:
    """A server on a raw socket: banner, then `script` answers each command verb
    (b"EHLO" -> reply bytes); a verb in `drop` closes the connection, one in `stall`
    is never answered (the connection stays open until close())."""

    def __init__(self, banner=b"220 raw.test ESMTP", script=None, drop=(), stall=()):
        self.banner, self.script = banner, script or {}
        self.drop, self.stall = drop, stall
        self.lines = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            if self.banner is None:
                self.held.append(conn)
                return
            conn.sendall(self.banner + b"\r\n")
            for raw in conn.makefile("rb"):
                line = raw.rstrip(b"\r\n")
                self.lines.append(line)
                verb = line.split(b" ")[0].split(b":")[0].upper()
                if verb in self.drop:
                    conn.close()
                    return
                if verb in self.stall:
                    self.held.append(conn)
                    return
                conn.sendall(self.script.get(verb, b"221 bye" if verb == b"QUIT"
                                             else b"250 OK") + b"\r\n")
                if verb == b"QUIT":
                    conn.close()
                    return
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


@pytest.fixture
def raw():
    made = []

    def make(**kw):
        made.append(Raw(**kw))
        return made[-1]
    yield make
    for r in made:
        r.close()


@pytest.fixture
def dns_table():
    old = resolver.backend()
    yield lambda table: resolver.configure(resolver.MockBackend(table))
    resolver.configure(old)


@pytest.fixture
def trust_test_ca(pki, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", pki["ca.pem"])
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


# ------------------------------------------------------------------ helpers

def deliver(port=None, sender="alice@example.org", recipient="bob@example.net",
            message=MESSAGE, **options):
    if port is not None:
        options.setdefault("host", "127.0.0.1")
        options["port"] = port
    options.setdefault("helo", HELO)
    return attempt(message, sender, recipient, options, connection_id="c1")


def shape(a: Attempt) -> dict:
    """to_hsl() as Python values (a resource is "resource"), duration checked and taken
    out, the peer certificate checked to be an X509 resource."""
    h = a.to_hsl()
    cert = h.d.get(b"connection") and h.d[b"connection"].d[b"tls"].d.get(b"peercert")
    if cert and b"x509" in cert.d:
        assert isinstance(cert.d[b"x509"], X509Resource)
    out = to_python(h)
    duration = out.pop("duration")
    assert isinstance(duration, (int, float)) and 0 <= duration < 30    # (0.0 reads as 0)
    return out


def conn(port, *, tls=None, greet=BANNER, transactions=1, remotemx="127.0.0.1"):
    c = {"id": "c1", "transactions": transactions, "localip": "127.0.0.1", "helo": HELO,
         "remoteip": "127.0.0.1", "remotemx": remotemx, "remotegreet": greet,
         "tls": tls or {"started": False}}
    if greet is None:
        del c["remotegreet"]
    return c


def port_of(entry):
    return entry[0].port


# ------------------------------------------------------------------ outcomes

def test_accepted(sinks):
    server, sink = sinks["plain"]
    a = deliver(server.port)
    assert (a.delivered, a.temporary) == (True, False)
    assert shape(a) == {
        "result": {"code": 250, "enhanced": [2, 0, 0], "reason": ["queued as 1234"],
                   "state": "EOD"},
        "connection": conn(server.port)}
    assert sink.messages[-1] == ("alice@example.org", ["bob@example.net"], MESSAGE)
    assert sink.hellos[-1] == ("EHLO", HELO)
    assert a.summary() == "250 2.0.0 queued as 1234"
    assert a.destination == f"127.0.0.1:{server.port}"


def test_tempfail_at_rcpt(sinks):
    server, _ = sinks["plain"]
    a = deliver(server.port, recipient="later@example.net")
    assert (a.delivered, a.temporary) == (False, True)
    assert shape(a) == {
        "result": {"code": 450, "enhanced": [4, 2, 0], "reason": ["mailbox busy"],
                   "state": "RCPT"},
        "error": {"temporary": True, "message": "4.2.0 mailbox busy", "type": "smtp"},
        "connection": conn(server.port)}


def test_permfail_at_mail(sinks):
    server, sink = sinks["plain"]
    before = len(sink.rcpts)
    a = deliver(server.port, sender="blocked@example.org")
    assert (a.delivered, a.temporary) == (False, False)
    assert shape(a) == {
        "result": {"code": 550, "enhanced": [5, 7, 1], "reason": ["sender blocked"],
                   "state": "MAIL"},
        "error": {"temporary": False, "message": "5.7.1 sender blocked", "type": "smtp"},
        "connection": conn(server.port)}
    assert len(sink.rcpts) == before                    # no RCPT after a refused MAIL


def test_refused_after_data_permanent_and_temporary(sinks):
    server, _ = sinks["plain"]
    a = deliver(server.port, message=MESSAGE + b"REJECT-ME\r\n")
    assert shape(a) == {
        "result": {"code": 554, "enhanced": [5, 7, 1], "reason": ["content refused"],
                   "state": "EOD"},
        "error": {"temporary": False, "message": "5.7.1 content refused", "type": "smtp"},
        "connection": conn(server.port)}
    a = deliver(server.port, message=MESSAGE + b"TEMPFAIL-ME\r\n")
    assert (a.delivered, a.temporary) == (False, True)
    assert shape(a)["result"] == {"code": 452, "enhanced": [4, 3, 1],
                                  "reason": ["out of space"], "state": "EOD"}


def test_refused_at_data(raw):
    r = raw(script={b"DATA": b"554 no data today"})
    a = deliver(r.port)
    assert shape(a) == {
        "result": {"code": 554, "reason": ["no data today"], "state": "DATA"},
        "error": {"temporary": False, "message": "no data today", "type": "smtp"},
        "connection": conn(r.port, greet="raw.test ESMTP")}


def test_the_connection_drops(raw):
    r = raw(drop=(b"RCPT",))
    a = deliver(r.port)
    out = shape(a)
    assert (a.delivered, a.temporary) == (False, True)
    assert out["error"]["type"] == "network" and out["error"]["temporary"] is True
    assert out["error"]["message"].startswith("connection lost in RCPT")
    assert out == {"error": out["error"], "connection": conn(r.port, greet="raw.test ESMTP")}


def test_a_stalled_server_times_out_in_its_state(raw):
    r = raw(stall=(b"MAIL",))
    a = deliver(r.port, timeout={"MAIL": 0.3})
    assert shape(a) == {
        "error": {"temporary": True, "message": "timed out in MAIL", "type": "network"},
        "connection": conn(r.port, greet="raw.test ESMTP")}
    assert a.duration < 5
    silent = raw(banner=None)                          # accepts and says nothing
    a = deliver(silent.port, timeout={"BANNER": 0.3})
    assert shape(a) == {
        "error": {"temporary": True, "message": "timed out in BANNER", "type": "network"},
        "connection": {"id": "c1", "transactions": 0, "localip": "127.0.0.1",
                       "remoteip": "127.0.0.1", "remotemx": "127.0.0.1",
                       "tls": {"started": False}}}


def test_the_whole_attempt_has_a_deadline(raw):
    r = raw(stall=(b"EHLO",))
    a = attempt(MESSAGE, "a@example.org", "b@example.net",
                {"host": "127.0.0.1", "port": r.port}, deadline=0.4)
    assert shape(a)["error"] == {"temporary": True, "message": "timed out in EHLO",
                                 "type": "network"}
    assert a.duration < 5


def test_nothing_listens():
    s = socket.create_server(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    a = deliver(port)
    assert shape(a) == {
        "error": {"temporary": True, "type": "network",
                  "message": f"connection failed: 127.0.0.1:{port}: Connection refused"},
        "connection": {"id": "c1", "transactions": 0, "remoteip": "127.0.0.1",
                       "remotemx": "127.0.0.1", "tls": {"started": False}}}


@pytest.mark.parametrize("banner, state, message", [
    (b"hello, this is not SMTP", "BANNER", "invalid reply in BANNER: "),
    (b"220 ok", "EHLO", "invalid reply in EHLO: "),
])
def test_garbage_replies_are_protocol_errors(raw, banner, state, message):
    r = raw(banner=banner, script={b"EHLO": b"999 what"})
    out = shape(deliver(r.port))
    assert out["error"]["type"] == "protocol" and out["error"]["temporary"] is True
    assert out["error"]["message"].startswith(message)
    assert "result" not in out


# ------------------------------------------------------------------ TLS

def tls_facts(out):
    """The TLS part of a connection: its exact keys, its values of the right kinds."""
    t = out["connection"]["tls"]
    assert t["started"] is True and t["protocol"] in ("TLSv1.2", "TLSv1.3")
    assert isinstance(t["cipher"], str) and t["cipher"]
    assert t["keysize"] in (128, 256)
    assert t["peercert"] == {"x509": "resource"}
    return t


def test_require_tls(sinks, pki):
    server, sink = sinks["tls"]
    a = deliver(server.port, tls="require")
    out = shape(a)
    t = tls_facts(out)
    assert set(t) == {"started", "protocol", "cipher", "keysize", "peercert"}
    assert out == {"result": {"code": 250, "enhanced": [2, 0, 0],
                              "reason": ["queued as 1234"], "state": "EOD"},
                   "connection": conn(server.port, tls=t)}
    der = x509.load_pem_x509_certificate(open(pki["leaf.pem"], "rb").read()).public_bytes(
        serialization.Encoding.DER)
    assert a.to_json()["connection"]["tls"]["peercert"] == {
        "x509": {"sha256": hashlib.sha256(der).hexdigest()}}
    assert [h[0] for h in sink.hellos[-2:]] == ["EHLO", "EHLO"]     # again after TLS


def test_without_tls_the_sink_refuses(sinks):
    server, _ = sinks["tls"]
    assert shape(deliver(server.port)) == {
        "result": {"code": 530, "reason": ["Must issue a STARTTLS command first"],
                   "state": "MAIL"},
        "error": {"temporary": False, "message": "Must issue a STARTTLS command first",
                  "type": "smtp"},
        "connection": conn(server.port)}


def test_require_tls_where_it_is_not_offered(sinks):
    server, _ = sinks["plain"]
    assert shape(deliver(server.port, tls="require")) == {
        "error": {"temporary": True, "message": "STARTTLS is not offered by the server",
                  "type": "tls"},
        "connection": conn(server.port, transactions=0,
                           tls={"started": False, "tlsrpt": "starttls-not-supported"})}
    assert deliver(server.port, tls="optional").delivered


def test_verified_names(sinks, trust_test_ca):
    server, _ = sinks["tls"]
    a = deliver(server.port, tls="require_verify", tls_verify_name=["mail.example.com"],
                tls_default_ca=True)
    assert a.delivered
    out = shape(deliver(server.port, tls="require_verify",
                        tls_verify_name=["mx.other.test"]))
    t = out["connection"]["tls"]
    assert out == {
        "error": {"temporary": True, "type": "tls",
                  "message": "certificate name mismatch: the certificate is not valid "
                             "for mx.other.test"},
        "connection": conn(server.port, transactions=0, tls=t)}
    assert t["tlsrpt"] == "certificate-host-mismatch"
    assert t["peercert"]["error"] == "certificate name mismatch"
    # optional modes do not check names
    assert deliver(server.port, tls="optional", tls_verify_name=["mx.other.test"]).delivered


def test_an_untrusted_certificate(sinks, pki, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", pki["client.pem"])      # not the servers' CA
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    server, _ = sinks["tls"]
    out = shape(deliver(server.port, tls="require_verify"))
    assert out["error"]["type"] == "tls" and out["error"]["temporary"] is True
    assert out["error"]["message"].startswith("certificate verification failed: ")
    t = out["connection"]["tls"]
    assert (t["started"], t["tlsrpt"]) == (False, "certificate-not-trusted")
    assert "error" in t["peercert"] and "x509" not in t["peercert"]


def test_wrong_name_certificate_server(pki, trust_test_ca):
    """A server presenting a certificate for another name than the MX host's."""
    server, _ = _start(tls_context=_tls(pki), require_starttls=True)
    try:
        old = resolver.configure(resolver.MockBackend({
            "wrong.test": {"mx": ["10 mx.wrong.test"]},
            "mx.wrong.test": {"a": ["127.0.0.1"]}}))
        try:
            out = shape(attempt(MESSAGE, "a@example.org", "b@wrong.test",
                                {"port": server.port, "tls": "require_verify",
                                 "tls_verify_host": True, "helo": HELO},
                                connection_id="c1"))
        finally:
            resolver.configure(old)
    finally:
        server.stop()
    assert out["error"] == {"temporary": True, "type": "tls",
                            "message": "certificate name mismatch: the certificate is "
                                       "not valid for mx.wrong.test"}
    assert out["connection"]["remotemx"] == "mx.wrong.test"


# ------------------------------------------------------------------ LMTP, AUTH, extensions

def test_lmtp(sinks, raw):
    server, sink = sinks["lmtp"]
    a = deliver(server.port, protocol="lmtp")
    assert shape(a) == {
        "result": {"code": 250, "enhanced": [2, 0, 0], "reason": ["queued as 1234"],
                   "state": "EOD"},
        "connection": conn(server.port)}
    assert sink.messages[-1][2] == MESSAGE
    r = raw()
    out = shape(deliver(r.port, protocol="lmtp"))
    assert r.lines[:4] == [b"LHLO client.test", b"MAIL FROM:<alice@example.org>",
                           b"RCPT TO:<bob@example.net>", b"DATA"]
    # (this server says 250 to DATA, which is no SMTP)
    assert out["result"] == {"code": 250, "reason": ["OK"], "state": "DATA"}
    assert out["error"] == {"temporary": True, "message": "OK", "type": "protocol"}
    # EHLO is no LMTP command: an SMTP attempt fails at EHLO and HELO
    out = shape(deliver(server.port))
    assert out["result"]["state"] == "HELO" and out["error"]["type"] == "smtp"


def test_auth(sinks):
    server, sink = sinks["plain"]
    a = deliver(server.port, saslusername=USER.decode(), saslpassword=PASSWORD.decode())
    assert a.delivered and sink.mechanisms[-1] == "LOGIN"
    out = shape(deliver(server.port, saslusername=USER.decode(), saslpassword="wrong"))
    assert out["result"]["state"] == "AUTH" and out["result"]["code"] == 535
    assert out["error"]["temporary"] is False


def test_mail_from_parameters(sinks):
    server, sink = sinks["plain"]
    deliver(server.port, message=MESSAGE.replace(b"Hi", "Grüße".encode()),
            sender="jörg@example.org")
    params = sink.mails[-1][1]
    assert "BODY=8BITMIME" in params and "SMTPUTF8" in params
    assert [p for p in params if p.startswith("SIZE=")] == [
        f"SIZE={len(MESSAGE) - 2 + len('Grüße'.encode()) + 1}"]      # + the stuffed dot
    deliver(server.port)
    assert "BODY=8BITMIME" not in sink.mails[-1][1] and "SMTPUTF8" not in sink.mails[-1][1]


def test_sender_and_recipient_overrides(sinks):
    server, sink = sinks["plain"]
    a = attempt(MESSAGE, "x@example.org", "y@example.net",
                {"host": "127.0.0.1", "port": server.port, "sender": "",
                 "recipient": {"localpart": "z z", "domain": "example.net"}})
    assert a.delivered
    assert sink.messages[-1][:2] == ("<>", ['"z z"@example.net'])
    assert sink.mails[-1][0] == "<>"


def test_sourceip(sinks):
    server, _ = sinks["plain"]
    a = deliver(server.port, sourceip="127.0.0.1")
    assert a.delivered and shape(a)["connection"]["localip"] == "127.0.0.1"
    a = deliver(server.port, sourceip=[{"address": "127.0.0.1", "helo": "other.test"}])
    assert a.delivered and shape(a)["connection"]["helo"] == "other.test"
    a = deliver(server.port, sourceip="192.0.2.1")      # TEST-NET: not this machine's
    out = shape(a)
    assert out["error"]["type"] == "config" and out["error"]["temporary"] is True
    assert out["error"]["message"].startswith(
        "Try() option 'sourceip': 192.0.2.1 is not an address of this machine")
    assert set(out) == {"error"}


@pytest.mark.parametrize("options, message", [
    ({"tls": "sometimes"}, "Try() unknown tls mode 'sometimes'"),
    ({"port": "25"}, "Try() server setting 'port' must be a number, got string"),
    ({"timeout": {"MAIL": -1}}, "Try() server setting 'timeout MAIL' must be a positive"),
    ({"sourceip": "not-an-ip"}, "Try() option 'sourceip' is not an IP address"),
    ({"tls_client_cert": "x"}, "Try() server setting 'tls_client_cert' is not supported"),
    ({"plugin": {"id": "p"}}, "Try() option 'plugin' is not an SMTP delivery"),
])
def test_bad_options_are_config_errors(options, message):
    a = attempt(MESSAGE, "a@example.org", "b@example.net", options, connection_id="c1")
    out = shape(a)
    assert out["error"]["type"] == "config" and out["error"]["message"].startswith(message)
    assert (a.delivered, a.temporary) == (False, True)


def test_works_on_a_worker_thread(sinks):
    server, _ = sinks["plain"]
    got = []
    t = threading.Thread(target=lambda: got.append(deliver(server.port)))
    t.start()
    t.join(30)
    assert got and got[0].delivered


# ------------------------------------------------------------------ MX lookup

def test_mx_hosts_from_a_dns_table(sinks, dns_table):
    server, sink = sinks["plain"]
    dns_table({"example.test": {"mx": ["20 mx2.example.test", "10 mx1.example.test"]},
               "mx1.example.test": {"a": ["127.0.0.2"]},
               "mx2.example.test": {"a": ["127.0.0.1"]},
               "implicit.test": {"a": ["127.0.0.1"]}})
    # mx1 (preference 10) has nothing listening on the port: mx2 takes it
    a = attempt(MESSAGE, "a@example.org", "bob@example.test",
                {"port": server.port, "helo": HELO}, connection_id="c1")
    assert shape(a) == {
        "result": {"code": 250, "enhanced": [2, 0, 0], "reason": ["queued as 1234"],
                   "state": "EOD"},
        "connection": conn(server.port, remotemx="mx2.example.test")}
    assert a.destination == f"mx2.example.test[127.0.0.1]:{server.port}"
    a = attempt(MESSAGE, "a@example.org", "bob@implicit.test",
                {"port": server.port, "helo": HELO}, connection_id="c1")
    assert shape(a)["connection"]["remotemx"] == "implicit.test"      # no MX: the domain
    a = attempt(MESSAGE, "a@example.org", "bob@example.test",
                {"port": server.port, "helo": HELO, "mx_include": ["mx1.example.test"]},
                connection_id="c1")
    assert shape(a) == {
        "error": {"temporary": True, "type": "network",
                  "message": f"connection failed: 127.0.0.2:{server.port}: "
                             f"Connection refused"},
        "connection": {"id": "c1", "transactions": 0, "remoteip": "127.0.0.2",
                       "remotemx": "mx1.example.test", "tls": {"started": False}}}


@pytest.mark.parametrize("recipient, options, kind, temporary, message", [
    ("b@unknown.test", {}, "nxdomain", False, "MX lookup for unknown.test failed: NXDOMAIN"),
    ("b@nullmx.test", {}, "nullmx", False, "nullmx.test accepts no mail (null MX)"),
    ("b@nomail.test", {}, "nodata", False, "nomail.test has no MX record and no address"),
    ("b@example.test", {"mx_exclude": ["*.example.test"]}, "excluded", True,
     "no MX host of example.test is left after mx_include/mx_exclude"),
    ("b@v6only.test", {"sourceip": "127.0.0.1"}, "ipfamily", True,
     "no IPv4 address to connect to from 127.0.0.1"),
    ("b@broken.test", {}, "other", True, "MX lookup for broken.test failed: SERVFAIL"),
    ("b@noaddr.test", {}, "other", True, "connection failed: gone.noaddr.test: no address"),
])
def test_dns_failures(dns_table, recipient, options, kind, temporary, message):
    dns_table({"example.test": {"mx": ["10 mx1.example.test"]},
               "mx1.example.test": {"a": ["127.0.0.1"]},
               "nullmx.test": {"mx": ["0 ."]},
               "nomail.test": {"txt": ["v=spf1 -all"]},
               "v6only.test": {"mx": ["10 mx.v6only.test"]},
               "mx.v6only.test": {"aaaa": ["::1"]},
               "broken.test": "SERVFAIL",
               "noaddr.test": {"mx": ["10 gone.noaddr.test"]}})
    a = attempt(MESSAGE, "a@example.org", recipient, options, connection_id="c1")
    assert shape(a) == {"error": {"temporary": temporary, "message": message,
                                  "type": "dns", "dns": kind}}
    assert a.temporary is temporary


def test_a_host_that_does_not_resolve(dns_table):
    dns_table({})
    a = attempt(MESSAGE, "a@example.org", "b@example.net", {"host": "gone.test"},
                connection_id="c1")
    assert shape(a) == {"error": {"temporary": False, "type": "dns", "dns": "nxdomain",
                                  "message": "cannot resolve gone.test: NXDOMAIN"}}


# ------------------------------------------------------------------ DANE

def _spki_sha256(pem_path):
    cert = x509.load_pem_x509_certificate(open(pem_path, "rb").read())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def _cert_sha256(pem_path):
    cert = x509.load_pem_x509_certificate(open(pem_path, "rb").read())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@pytest.fixture
def dane(sinks, pki):
    """A DNS server with DNSSEC-validated (AD) answers for dane.test and its TLSA
    records; unsigned.test has the same records without AD."""
    port = sinks["tls"][0].port
    leaf = _spki_sha256(pki["leaf.pem"])
    zone = {}
    for name, ad, tlsa in (("dane.test", True, f"3 1 1 {leaf}"),
                           ("unsigned.test", False, f"3 1 1 {leaf}"),
                           ("wrong.test", True, "3 1 1 " + "00" * 32),
                           ("ta.test", True, f"2 0 1 {_cert_sha256(pki['intermediate.pem'])}")):
        zone[name] = {"mx": [f"10 mx.{name}."], "ad": ad}
        zone[f"mx.{name}"] = {"a": ["127.0.0.1"], "ad": ad}
        zone[f"_{port}._tcp.mx.{name}"] = {"tlsa": [tlsa], "ad": ad}
    srv = DnsServer(zone)
    old = resolver.configure(resolver.DnsPythonBackend([srv.address]))
    yield port, leaf
    resolver.configure(old)
    srv.close()


def dane_attempt(port, domain, **options):
    return attempt(MESSAGE, "a@example.org", f"b@{domain}",
                   {"port": port, "helo": HELO, **options}, connection_id="c1")


def test_dane_with_validated_tlsa(dane):
    port, leaf = dane
    a = dane_attempt(port, "dane.test", tls="dane_require")
    out = shape(a)
    t = tls_facts(out)
    assert t["tlsa"] == {"records": [[3, 1, 1, leaf]]}
    assert out == {"result": {"code": 250, "enhanced": [2, 0, 0],
                              "reason": ["queued as 1234"], "state": "EOD"},
                   "connection": conn(port, tls=t, remotemx="mx.dane.test")}


def test_dane_records_that_do_not_match(dane):
    port, _ = dane
    out = shape(dane_attempt(port, "wrong.test", tls="dane"))
    assert out["error"] == {"temporary": True, "type": "dane",
                            "message": "DANE: the certificate matches no TLSA record"}
    assert out["connection"]["tls"]["tlsrpt"] == "tlsa-invalid"


def test_dane_ta_checks_the_chain_and_the_name(dane):
    port, _ = dane
    out = shape(dane_attempt(port, "ta.test", tls="dane_require"))
    assert out["error"]["type"] == "dane"
    assert "not valid for mx.ta.test" in out["error"]["message"]
    a = dane_attempt(port, "ta.test", tls="dane_require",
                     tls_verify_name=["mail.example.com"])
    assert a.delivered


def test_dane_without_dnssec_falls_back(dane):
    port, _ = dane
    a = dane_attempt(port, "unsigned.test", tls="dane")                # as optional
    out = shape(a)
    assert a.delivered and "tlsa" not in out["connection"]["tls"]
    out = shape(dane_attempt(port, "unsigned.test", tls="dane_require"))
    assert out == {
        "error": {"temporary": True, "type": "dane",
                  "message": "DANE is required and mx.unsigned.test has no usable "
                             "DNSSEC-validated TLSA records"},
        "connection": conn(port, transactions=0, remotemx="mx.unsigned.test",
                           tls={"started": False, "tlsrpt": "dane-required"},
                           greet=BANNER)}
    # dane_fallback_require_verify: require_verify (the test CA is not trusted here)
    out = shape(dane_attempt(port, "unsigned.test", tls="dane_fallback_require_verify"))
    assert out["error"]["type"] == "tls"


def test_dane_with_a_dns_table_has_no_dnssec(sinks, dns_table):
    port = sinks["tls"][0].port
    dns_table({"t.test": {"mx": ["10 mx.t.test"]}, "mx.t.test": {"a": ["127.0.0.1"]},
               f"_{port}._tcp.mx.t.test": {"tlsa": ["3 1 1 " + "00" * 32]}})
    assert dane_attempt(port, "t.test", tls="dane").delivered   # records unused: optional


# ------------------------------------------------------------------ JSON

def test_to_json(sinks):
    server, _ = sinks["plain"]
    j = deliver(server.port, recipient="later@example.net").to_json()
    assert j["delivered"] is False and isinstance(j["duration"], float)
    j.pop("duration")
    assert j == {"delivered": False,
                 "result": {"code": 450, "enhanced": [4, 2, 0], "reason": ["mailbox busy"],
                            "state": "RCPT"},
                 "error": {"temporary": True, "message": "4.2.0 mailbox busy",
                           "type": "smtp"},
                 "connection": conn(server.port)}
    import json
    json.dumps(j)


# ------------------------------------------------------------------ plugins

def test_plugin_attempts_have_canned_outcomes():
    a = plugin_attempt("http-deliver", {"result": {"code": 250, "enhanced": [2, 0, 0],
                                                   "reason": "stored"}},
                       connection_id="c1")
    assert (a.delivered, a.temporary) == (True, False)
    assert shape(a) == {"result": {"code": 250, "enhanced": [2, 0, 0], "reason": ["stored"],
                                   "state": "EOD"},
                        "plugin": {"id": "http-deliver"}}
    a = plugin_attempt("p", {"result": {"code": 550, "reason": ["no", "way"]}})
    assert (a.delivered, a.temporary) == (False, False)
    assert shape(a)["error"] == {"temporary": False, "message": "no\nway", "type": "smtp"}
    a = plugin_attempt("p", {"error": {"message": "backend down"}})
    assert shape(a) == {"error": {"temporary": True, "message": "backend down",
                                  "type": "plugin"}, "plugin": {"id": "p"}}


@pytest.mark.parametrize("canned, message", [
    (None, "the canned outcome of plugin 'p' is missing (give result: or error:)"),
    ({"result": {"code": "250"}}, "the canned outcome of plugin 'p': result needs a code"),
    ({"result": {"code": 250, "enhanced": [2, 0]}}, "result enhanced must be three"),
    ({"error": {"message": "x", "temporary": "yes"}}, "error temporary must be true or"),
])
def test_plugin_outcomes_that_are_not_given_right(canned, message):
    out = shape(plugin_attempt("p", canned))
    assert out["error"]["type"] == "plugin" and message in out["error"]["message"]
    assert "result" not in out


# ------------------------------------------------------------------ connection pooling

def pooled(pool, port, **kw):
    return attempt(MESSAGE, kw.pop("sender", "alice@example.org"),
                   kw.pop("recipient", "bob@example.net"),
                   {"host": "127.0.0.1", "port": port, "helo": HELO, "pooling": True, **kw},
                   pool=pool)


def test_pooling_carries_the_next_transaction_on_the_same_connection(sinks):
    server, sink = sinks["plain"]
    pool = smtp.Pool()
    hellos = len(sink.hellos)
    first = pooled(pool, server.port, recipient="one@example.net")
    second = pooled(pool, server.port, recipient="two@example.net")
    assert first.delivered and second.delivered
    assert len(sink.hellos) == hellos + 1                   # one connection, one EHLO
    c1, c2 = first.to_json()["connection"], second.to_json()["connection"]
    assert (c1["transactions"], c2["transactions"]) == (1, 2)
    assert c1["id"] == c2["id"]                             # the connection's own id
    assert sink.messages[-2:] == [("alice@example.org", ["one@example.net"], MESSAGE),
                                  ("alice@example.org", ["two@example.net"], MESSAGE)]
    quits = sink.quits
    pool.close()
    assert sink.quits == quits + 1                          # QUIT when the pool closes


def test_without_pooling_each_attempt_connects(sinks):
    server, sink = sinks["plain"]
    pool = smtp.Pool()
    hellos = len(sink.hellos)
    for _ in range(2):
        a = attempt(MESSAGE, "alice@example.org", "bob@example.net",
                    {"host": "127.0.0.1", "port": server.port, "helo": HELO}, pool=pool)
        assert a.delivered and a.to_json()["connection"]["transactions"] == 1
    assert len(sink.hellos) == hellos + 2


def test_a_refused_transaction_is_reset_before_the_next(sinks):
    server, sink = sinks["plain"]
    pool = smtp.Pool()
    hellos = len(sink.hellos)
    refused = pooled(pool, server.port, recipient="later@example.net")
    assert (refused.delivered, refused.to_json()["result"]["code"]) == (False, 450)
    ok = pooled(pool, server.port, recipient="ok@example.net")
    assert ok.delivered and ok.to_json()["connection"]["transactions"] == 2
    assert len(sink.hellos) == hellos + 1
    # RSET dropped the refused transaction: only the new recipient got the message
    assert sink.messages[-1] == ("alice@example.org", ["ok@example.net"], MESSAGE)
    pool.close()


def test_pooled_tls_connections_are_reused_verified(sinks, trust_test_ca):
    server, sink = sinks["tls"]
    pool = smtp.Pool()
    hellos = len(sink.hellos)
    options = {"tls": "require_verify", "tls_verify_name": ["mail.example.com"]}
    for n in (1, 2):
        a = pooled(pool, server.port, **options)
        assert a.delivered, a.to_json()
        c = a.to_json()["connection"]
        assert (c["transactions"], c["tls"]["started"]) == (n, True)
    assert len(sink.hellos) == hellos + 2                   # EHLO, then again after TLS
    pool.close()


@pytest.mark.parametrize("detected", [True, False])
def test_a_pooled_connection_the_server_closed_is_replaced(detected, monkeypatch):
    # The server drops idle connections after 0.3 s.  Found closed before use (alive()),
    # or only when MAIL FROM gets no answer: either way a new connection delivers.
    inbox = Sink()
    server = Server(inbox, ident="test sink", timeout=0.3)
    server.start()
    try:
        pool = smtp.Pool()
        assert pooled(pool, server.port).delivered
        time.sleep(0.8)
        if not detected:
            monkeypatch.setattr(smtp.Session, "alive", lambda self: True)
        a = pooled(pool, server.port, recipient="again@example.net")
        assert a.delivered, a.to_json()
        assert a.to_json()["connection"]["transactions"] == 1      # a new connection
        assert len(inbox.hellos) == 2
        assert inbox.messages[-1] == ("alice@example.org", ["again@example.net"], MESSAGE)
        pool.close()
    finally:
        server.stop()


def test_idle_pooled_connections_are_closed(sinks):
    server, sink = sinks["plain"]
    pool = smtp.Pool(idle=0.0)
    assert pooled(pool, server.port).delivered
    quits = sink.quits
    pool.close_idle()
    assert sink.quits == quits + 1
    hellos = len(sink.hellos)
    assert pooled(pool, server.port).delivered              # nothing left: connects
    assert len(sink.hellos) == hellos + 1
    pool.close()


def test_pooling_in_halons_delivery_settings_form(sinks):
    # ["enabled" => true, "transactions" => N, "timeout" => idle seconds], as Halon's
    # delivery settings give pooling: at most N transactions on one connection.
    server, sink = sinks["plain"]
    pool = smtp.Pool()
    hellos = len(sink.hellos)
    limit = {"enabled": True, "transactions": 2, "timeout": 30}
    counts = [pooled(pool, server.port, pooling=limit).to_json()["connection"]["transactions"]
              for _ in range(3)]
    assert counts == [1, 2, 1] and len(sink.hellos) == hellos + 2
    pool.close()
    hellos = len(sink.hellos)
    for options in ({"enabled": False}, {"timeout": 30}):       # not enabled: no pool
        for _ in range(2):
            assert pooled(pool, server.port, pooling=options).delivered
    assert len(sink.hellos) == hellos + 4
    idle_none = {"enabled": True, "timeout": 0}                  # kept 0 s: never reused
    hellos = len(sink.hellos)
    for _ in range(2):
        assert pooled(pool, server.port, pooling=idle_none).delivered
    assert len(sink.hellos) == hellos + 2
    pool.close()
