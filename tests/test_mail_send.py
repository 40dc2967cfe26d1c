"""send() of MailMessage and MIME against local SMTP servers only (aiosmtpd on
127.0.0.1, ephemeral ports): what arrives, the result array, partial and total refusal,
connection and TLS failures, AUTH, and the run's deadline."""
import socket
import ssl
import time

import pytest

import hsl
from hsl.errors import ScriptError
from hsl.runtime.values import from_python, to_python

import certs
import mail_corpus as C
import mail_helpers
from mail_helpers import MIME, msg
from test_builtins_smtpclient import PASSWORD, USER, Recorder, Server


class Inbox(Recorder):
    """The smtp_lookup tests' Recorder (RCPT refuses bad* with 550 and later* with 450;
    AUTH takes USER/PASSWORD), keeping the messages it receives; DATA refuses a message
    that contains REJECT-ME."""

    def __init__(self):
        super().__init__()
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        if b"REJECT-ME" in envelope.original_content:
            return "554 5.7.1 content refused\r\n"
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content))
        return "250 2.0.0 queued as 1234"


@pytest.fixture(scope="module")
def plain():
    inbox = Inbox()
    server = Server(inbox, auth_require_tls=False, enable_SMTPUTF8=True)
    server.start()
    yield server, inbox
    server.stop()


def start_tls_server(tmp_path_factory, **kw):
    """An Inbox server offering STARTTLS with the test PKI's leaf: (server, inbox, pki)."""
    pki = certs.write_pki(tmp_path_factory.mktemp("pki"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["leaf-chain.pem"], pki["leaf.key"])
    inbox = Inbox()
    server = Server(inbox, tls_context=ctx, **kw)
    server.start()
    return server, inbox, pki


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    server, inbox, _ = start_tls_server(tmp_path_factory)
    yield server, inbox
    server.stop()


def call(obj, name, *args):
    """mail_helpers.call with Python values converted."""
    return mail_helpers.call(obj, name, *[from_python(a) if type(a) in (dict, list, str,
                                                                         bytes, int)
                                          else a for a in args])


def at(server, **settings):
    return {"host": "127.0.0.1", "port": server[0].port, **settings}


def test_a_message_arrives_with_its_modifications(plain):
    m = msg(C.SIMPLE)
    call(m, "addHeader", b"X-Sent", b"yes")
    r = to_python(call(m, "send", "alice@example.org", ["bob@example.net"], at(plain)))
    assert r["result"] == {"code": 250, "enhanced": [2, 0, 0], "reason": ["queued as 1234"],
                           "state": "EOD"}
    assert "error" not in r and r["tls"] is False
    assert r["recipients"] == [{"recipient": "bob@example.net", "code": 250,
                                "enhanced": [2, 1, 5], "reason": ["OK"]}]
    sender, rcpts, content = plain[1].messages[-1]
    assert (sender, rcpts) == ("alice@example.org", ["bob@example.net"])
    assert content == b"X-Sent: yes\r\n" + C.SIMPLE       # dots unstuffed by the server


def test_lf_messages_go_out_with_crlf(plain):
    m = msg(b"Subject: lf\n\n.starts with a dot\nend")
    call(m, "send", "a@example.org", "b@example.net", at(plain))
    assert plain[1].messages[-1][2] == b"Subject: lf\r\n\r\n.starts with a dot\r\nend\r\n"


def test_mime_send_and_8bit(plain):
    m = MIME()
    call(m, "addHeader", b"Subject", b"built")
    call(m, "addHeader", b"Content-Transfer-Encoding", b"8bit")
    call(m, "setBody", "Grüße".encode())
    r = to_python(call(m, "send", {"localpart": "x y", "domain": "example.org"},
                       ["b@example.net"], at(plain)))
    assert r["result"]["code"] == 250
    sender, _, content = plain[1].messages[-1]
    assert sender == '"x y"@example.org'
    assert content.endswith("\r\n\r\nGrüße\r\n".encode())
    assert "BODY=8BITMIME" in plain[1].mails[-1][1]


def test_some_recipients_refused(plain):
    m = msg(C.SIMPLE)
    r = to_python(call(m, "send", "a@example.org",
                       ["bad@example.net", "ok@example.net", "later@example.net"], at(plain)))
    assert r["result"]["code"] == 250 and "error" not in r
    assert [(x["recipient"], x["code"]) for x in r["recipients"]] == [
        ("bad@example.net", 550), ("ok@example.net", 250), ("later@example.net", 450)]
    assert plain[1].messages[-1][1] == ["ok@example.net"]


def test_every_recipient_refused_or_the_message_refused(plain):
    m = msg(C.SIMPLE)
    r = to_python(call(m, "send", "a@example.org", ["bad@example.net"], at(plain)))
    assert r["error"] == {"temporary": False, "message": "5.1.1 no such user", "type": "smtp"}
    assert r["result"]["state"] == "RCPT" and r["result"]["code"] == 550
    r = to_python(call(m, "send", "a@example.org", ["later@example.net"], at(plain)))
    assert r["error"]["temporary"] is True
    refused = msg(b"Subject: x\r\n\r\nREJECT-ME\r\n")
    r = to_python(call(refused, "send", "a@example.org", ["b@example.net"], at(plain)))
    assert r["result"] == {"code": 554, "enhanced": [5, 7, 1], "reason": ["content refused"],
                           "state": "EOD"}
    assert r["error"]["temporary"] is False


def test_connection_failures():
    s = socket.create_server(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = to_python(call(msg(C.SIMPLE), "send", "a@example.org", ["b@example.net"],
                       {"host": "127.0.0.1", "port": port}))
    assert "result" not in r
    assert r["error"]["temporary"] is True and r["error"]["type"] == "network"
    assert "connection failed" in r["error"]["message"]


def test_auth_and_tls(plain, tls, monkeypatch, tmp_path):
    m = msg(C.SIMPLE)
    r = to_python(call(m, "send", "a@example.org", ["b@example.net"],
                       at(plain, saslusername=USER, saslpassword=PASSWORD)))
    assert r["result"]["code"] == 250 and plain[1].mechanisms[-1] == "LOGIN"
    r = to_python(call(m, "send", "a@example.org", ["b@example.net"],
                       at(plain, saslusername=USER, saslpassword=b"wrong")))
    assert r["error"]["type"] == "smtp" and r["result"]["state"] == "AUTH"
    r = to_python(call(m, "send", "a@example.org", ["b@example.net"],
                       at(plain, tls="require")))
    assert r["error"]["type"] == "tls" and "STARTTLS is not offered" in r["error"]["message"]
    r = to_python(call(m, "send", "a@example.org", ["b@example.net"], at(tls, tls="require")))
    assert r["tls"] is True and r["result"]["code"] == 250
    assert tls[1].messages[-1][2] == C.SIMPLE


def test_bad_arguments_are_errors(plain):
    m = msg(C.SIMPLE)
    with pytest.raises(ScriptError, match="recipients"):
        call(m, "send", "a@example.org", 1, at(plain))
    with pytest.raises(ScriptError, match="at least one recipient"):
        call(m, "send", "a@example.org", [], at(plain))
    with pytest.raises(ScriptError, match="one domain"):
        call(m, "send", "a@example.org", ["x@a.example", "y@b.example"], {"port": 25})
    with pytest.raises(ScriptError, match="tls"):
        call(m, "send", "a@example.org", ["b@example.net"], at(plain, tls="sometimes"))


def test_send_from_a_script(plain):
    out = []
    hsl.compile(f'''
        $m = MailMessage::String("Subject: from hsl\\r\\n\\r\\nhello\\r\\n");
        $m->setHeader("Subject", "changed");
        $r = $m->send("a@example.org", ["b@example.net"],
                      ["host" => "127.0.0.1", "port" => {plain[0].port}]);
        echo $r["result"]["code"];
        $r = MIME()->addHeader("Subject", "mime")->setBody("x")
            ->send("a@example.org", ["b@example.net"], "127.0.0.1:{plain[0].port}");
        echo $r["result"]["code"];
    ''').run(output=out.append, max_time=20)
    assert out == ["250", "250"]
    assert plain[1].messages[-2][2] == b"Subject: changed\r\n\r\nhello\r\n"


def test_send_stops_at_the_run_deadline():
    s = socket.create_server(("127.0.0.1", 0), backlog=4)       # accepts, never answers
    try:
        t = time.monotonic()
        with pytest.raises(hsl.HSLRuntimeError, match="execution time limit exceeded"):
            hsl.compile(f'''
                MIME()->send("a@example.org", ["b@example.net"],
                             ["host" => "127.0.0.1", "port" => {s.getsockname()[1]}]);
            ''').run(output=lambda line: None, max_time=1.0)
        assert time.monotonic() - t < 5
    finally:
        s.close()
