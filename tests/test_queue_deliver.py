"""One delivery attempt of a queued copy (hsl/queue/deliver.py) against local SMTP and
LMTP servers on 127.0.0.1: accepted, refused at RCPT (temporary and permanent), refused
after DATA, no server, a dropped connection, TLS required and a certificate for the wrong
name, LMTP, and settings hsl cannot honour."""
import pytest
from aiosmtpd.lmtp import LMTP

from hsl.queue.deliver import attempt
from test_builtins_smtpclient import Scripted, Server
from test_mail_send import Inbox, start_tls_server

MESSAGE = b"From: a@example.com\r\nSubject: queued\r\n\r\nbody\r\n.leading dot\r\n"


@pytest.fixture(scope="module")
def sink():
    inbox = Inbox()
    server = Server(inbox, auth_require_tls=False)
    server.start()
    yield server, inbox
    server.stop()


@pytest.fixture(scope="module")
def tls_sink(tmp_path_factory):
    server, inbox, pki = start_tls_server(tmp_path_factory, require_starttls=True)
    yield server, inbox, pki
    server.stop()


def at(server, **options):
    return {"host": "127.0.0.1", "port": server.port, "connect_timeout": 5, **options}


def test_a_delivered_copy_arrives_exactly(sink):
    server, inbox = sink
    a = attempt(MESSAGE, "a@example.com", "bob@example.net", at(server))
    assert a.delivered and not a.temporary
    got = a.to_json()
    assert got["result"] == {"code": 250, "enhanced": [2, 0, 0],
                             "reason": ["queued as 1234"], "state": "EOD"}
    assert "error" not in got and got["connection"] == {"tls": {"started": False}}
    assert got["duration"] == a.duration > 0
    assert inbox.messages[-1] == ("a@example.com", ["bob@example.net"],
                                  MESSAGE)


def test_try_may_replace_sender_and_recipient(sink):
    server, inbox = sink
    a = attempt(MESSAGE, "a@example.com", "bob@example.net",
                at(server, sender="bounces@example.com", recipient="carol@example.net"))
    assert a.delivered
    assert inbox.messages[-1][:2] == ("bounces@example.com", ["carol@example.net"])


@pytest.mark.parametrize("recipient,code,temporary", [
    ("later@example.net", 450, True), ("bad@example.net", 550, False)])
def test_refused_at_rcpt(sink, recipient, code, temporary):
    server, _ = sink
    a = attempt(MESSAGE, "a@example.com", recipient, at(server))
    got = a.to_json()
    assert not a.delivered and a.temporary is temporary
    assert got["result"]["code"] == code and got["result"]["state"] == "RCPT"
    assert got["error"]["type"] == "smtp" and got["error"]["temporary"] is temporary


def test_refused_after_data(sink):
    server, _ = sink
    a = attempt(MESSAGE + b"REJECT-ME\r\n", "a@example.com", "bob@example.net", at(server))
    got = a.to_json()
    assert not a.delivered and not a.temporary
    assert got["result"] == {"code": 554, "enhanced": [5, 7, 1],
                             "reason": ["content refused"], "state": "EOD"}


def test_no_server_is_a_temporary_network_error():
    a = attempt(MESSAGE, "a@example.com", "b@example.net",
                {"host": "127.0.0.1", "port": 1, "connect_timeout": 2})
    got = a.to_json()
    assert not a.delivered and a.temporary
    assert got["error"]["type"] == "network" and "result" not in got


def test_a_dropped_connection_is_temporary():
    server = Scripted(drop_after=b"MAIL")
    a = attempt(MESSAGE, "a@example.com", "b@example.net",
                {"host": "127.0.0.1", "port": server.port, "connect_timeout": 2})
    assert not a.delivered and a.temporary and a.to_json()["error"]["temporary"] is True


def test_tls_verified_delivery_and_a_wrong_name(tls_sink, monkeypatch):
    server, inbox, pki = tls_sink
    monkeypatch.setenv("SSL_CERT_FILE", pki["ca.pem"])      # trust the test CA
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    ok = attempt(MESSAGE, "a@example.com", "bob@example.net",
                 at(server, tls="require_verify", tls_verify_name=["mail.example.com"]))
    assert ok.delivered and ok.to_json()["connection"] == {"tls": {"started": True}}
    plain = attempt(MESSAGE, "a@example.com", "bob@example.net", at(server, tls="disabled"))
    assert not plain.delivered and plain.to_json()["result"]["code"] == 530
    wrong = attempt(MESSAGE, "a@example.com", "bob@example.net",
                    at(server, tls="require_verify", tls_verify_name=["other.example"]))
    got = wrong.to_json()
    assert not wrong.delivered and got["error"]["type"] == "tls"
    assert "name mismatch" in got["error"]["message"]


def test_optional_tls_is_used_when_offered(tls_sink):
    server, inbox, _ = tls_sink
    a = attempt(MESSAGE, "a@example.com", "bob@example.net", at(server, tls="optional"))
    assert a.delivered and a.to_json()["connection"] == {"tls": {"started": True}}


def test_lmtp(sink):
    inbox = Inbox()
    server = Server(inbox, smtp_class=LMTP)
    server.start()
    try:
        a = attempt(MESSAGE, "a@example.com", "bob@example.net",
                    at(server, protocol="lmtp"))
    finally:
        server.stop()
    assert a.delivered and inbox.messages[-1][1] == ["bob@example.net"]


@pytest.mark.parametrize("options,word", [({"sourceip": ["ip1"]}, "sourceip"),
                                          ({"sourceip": "198.51.100.7"}, "198.51.100.7"),
                                          ({"tls": "bogus"}, "bogus"),
                                          ({"plugin": {"id": "p"}}, "plugin")])
def test_settings_hsl_cannot_honour_are_config_errors(sink, options, word):
    server, _ = sink
    before = len(sink[1].messages)
    a = attempt(MESSAGE, "a@example.com", "bob@example.net", at(server, **options))
    got = a.to_json()
    assert not a.delivered and not a.temporary
    assert got["error"]["type"] == "config" and word in got["error"]["message"]
    assert len(sink[1].messages) == before
