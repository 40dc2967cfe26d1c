"""`hsl serve`: every way a connection ends frees what it held (its slot under
--max-connections, its file descriptors, its connection object with its `$context`), with
real clients on loopback: closes and resets in every phase, TLS garbage, alerts and client
certificates that do not verify, idle timeouts, DATA cut short, refused connections and
faults injected into the server's handlers.

Each case runs a few times against a server with `--max-connections 2`; then
`hsl_connections_active` (--metrics) must be back to 0, two clients at once must be
served, the server must hold no more file descriptors than after the first round, no
connection object may be left (a probe in the server counts them on SIGUSR1), and no
Python traceback may be in the log."""
from __future__ import annotations

import re
import signal
import socket
import ssl
import struct
import time

import pytest

from serve_helpers import Raw, Server

certs = pytest.importorskip("certs", reason="tests/certs.py (test PKI) is not there")

SCRIPT = '$context["host"] = $arguments["host"]; Accept(["reason" => "Hello"]);\n'
ROUNDS = 6

# Counts the live connection objects of the server (after a full collection) on SIGUSR1.
PROBE = r"""
import gc, signal, sys, weakref
import hsl.serve.smtp
_live = weakref.WeakSet()
_init = hsl.serve.smtp.HSLSMTP.__init__
def _tracked_init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    _live.add(self)
hsl.serve.smtp.HSLSMTP.__init__ = _tracked_init
def _report(*_):
    gc.collect()
    print(f"probe live-connections={len(_live)}", file=sys.stderr, flush=True)
signal.signal(signal.SIGUSR1, _report)
"""

# Faults in the server's handlers, on demand: EHLO boom.example (the script's run), RCPT
# TO:<boom@...>, a message containing "boom", VRFY (no reply can be written), and the
# client certificate given to the script after STARTTLS.
FAULTS = PROBE + r"""
import hsl.serve.app, hsl.serve.policy
from hsl.serve.smtp import HSLSMTP
def _fail_when(owner, name, where, condition):
    original = getattr(owner, name)
    async def fails(self, *args):
        if condition(self, *args):
            raise RuntimeError(f"injected fault in {where}")
        return await original(self, *args)
    setattr(owner, name, fails)
_fail_when(hsl.serve.policy.Policy, "run", "the script's run",
           lambda _policy, session, hook: hook.phase == "helo"
           and session.host == "boom.example")
_fail_when(HSLSMTP, "smtp_RCPT", "RCPT",
           lambda _connection, arg: arg.startswith("TO:<boom@"))
_fail_when(HSLSMTP, "_commit", "DATA", lambda _connection, copies:
           any(b"boom" in copy.message for copy in copies))
_fail_when(HSLSMTP, "_write", "writing a reply",
           lambda connection, _lines: connection.command == "VRFY")
def _peer_fails(self, *args):
    raise RuntimeError("injected fault in the client certificate")
hsl.serve.app.App.peer_certificate = _peer_fails
"""

# A fault before the greeting (the reverse DNS lookup of --rdns).
GREETING_FAULT = PROBE + r"""
async def _ptr_fails(self):
    raise RuntimeError("injected fault in the reverse lookup")
hsl.serve.smtp.HSLSMTP._lookup_ptr = _ptr_fails
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    paths = certs.write_pki(d)
    paths["client-chain.pem"] = certs.write_pem(d / "client-chain.pem", certs.pki().client,
                                                certs.pki().intermediate)
    return paths


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("endings") / "helo.hsl"
    path.write_text(SCRIPT)
    return str(path)


def _capped_server(script, pki, *args, prelude=PROBE, maildir=None) -> Server:
    """`hsl serve --max-connections 2` with --metrics, STARTTLS (client certificates
    asked for) and `args`; its messages stored in `maildir` (`srv.maildir`)."""
    srv = Server(script, "--max-connections", "2", "--metrics", "127.0.0.1:0",
                 "--tls-cert", pki["leaf-chain.pem"], "--tls-key", pki["leaf.key"],
                 "--tls-ca", pki["ca.pem"],
                 *(["--maildir", str(maildir)] if maildir else []), *args, prelude=prelude)
    srv.maildir = maildir
    return srv


@pytest.fixture(scope="module")
def server(script, pki, tmp_path_factory):
    with _capped_server(script, pki, maildir=tmp_path_factory.mktemp("maildir")) as srv:
        yield srv


# ---------------------------------------------------------------- clients

def _reset(sock) -> None:
    """Close with a TCP reset (RST) instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _greeted(port) -> Raw:
    c = Raw(port)
    assert c.reply()[0].startswith(b"220 ")
    return c


def _hello(port) -> Raw:
    c = _greeted(port)
    assert c.cmd(b"EHLO client.example\r\n")[0].startswith(b"250")
    return c


def _in_data(port) -> Raw:
    c = _hello(port)
    assert c.cmd(b"MAIL FROM:<a@example.org>\r\n")[0].startswith(b"250")
    assert c.cmd(b"RCPT TO:<b@example.net>\r\n")[0].startswith(b"250")
    assert c.cmd(b"DATA\r\n")[0].startswith(b"354")
    c.send(b"Subject: cut short\r\n\r\nthe first line and half of the")
    return c


def _starttls(port) -> Raw:
    c = _hello(port)
    assert c.cmd(b"STARTTLS\r\n")[0].startswith(b"220")
    return c


def _client_context(pki, cert=None, key=None, *, cafile=None, tls12=False):
    ctx = ssl.create_default_context(cafile=cafile or pki["ca.pem"])
    if cert:
        ctx.load_cert_chain(cert, key)
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _tls(port, ctx) -> ssl.SSLSocket:
    return ctx.wrap_socket(_starttls(port).sock, server_hostname="mx.example.com")


def _tls_reply(ts) -> bytes:
    data = b""
    while not re.search(rb"(^|\r\n)\d{3} [^\r\n]*\r\n$", data):
        chunk = ts.recv(65536)
        if not chunk:
            raise EOFError(data)
        data += chunk
    return data


def _client_hello() -> bytes:
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="mx.example.com")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def close_before_the_greeting(port, pki):
    socket.create_connection(("127.0.0.1", port), timeout=10).close()


def reset_before_the_greeting(port, pki):
    _reset(socket.create_connection(("127.0.0.1", port), timeout=10))


def close_in_the_middle_of_a_command(port, pki):
    c = _greeted(port)
    c.send(b"EHLO half-a-comm")
    c.close()


def reset_after_ehlo(port, pki):
    _reset(_hello(port).sock)


def close_with_replies_unread(port, pki):
    c = _greeted(port)
    c.send(b"EHLO a.example\r\n" + b"NOOP\r\n" * 50)
    c.close()


def transaction_then_half_close(port, pki):
    # Everything sent at once, then the end of the input: every command is answered.
    c = _greeted(port)
    c.send(b"EHLO a.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"
           b"DATA\r\nSubject: kept\r\n\r\nsent half-closed\r\n.\r\nQUIT\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    assert c.reply()[0] == b"250-Hello"
    assert c.reply() == [b"250 2.1.0 Sender OK"]
    assert c.reply() == [b"250 2.1.5 Recipient OK"]
    assert c.reply()[0].startswith(b"354 ")
    assert c.reply()[0].startswith(b"250 2.0.0 OK: stored as ")
    assert c.reply() == [b"221 2.0.0 Bye"]
    assert c.closed()
    c.close()


def _closed_after(c: Raw, data: bytes) -> None:
    """Send `data`: the server closes the connection."""
    c.send(data)
    assert c.closed()
    c.close()


def too_many_errors(port, pki):
    _closed_after(_greeted(port), b"\x00\r\n" * 20)


def data_cut_short(port, pki):
    _in_data(port).close()


def data_reset(port, pki):
    _reset(_in_data(port).sock)


def tls_garbage(port, pki):
    _closed_after(_starttls(port), b"this is not a TLS client hello\r\n" * 4)


def tls_close_before_the_hello(port, pki):
    _starttls(port).close()


def tls_reset_in_the_hello(port, pki):
    c = _starttls(port)
    c.send(_client_hello()[:40])
    _reset(c.sock)


def tls_client_alert(port, pki):
    # The client does not trust the server's certificate: it ends with an alert.
    ctx = _client_context(pki, cafile=pki["selfsigned.pem"])
    with pytest.raises(ssl.SSLCertVerificationError):
        _tls(port, ctx)


def _bad_client_certificate(port, ctx):
    try:
        ts = _tls(port, ctx)
        ts.sendall(b"EHLO tls.example\r\n")
        _tls_reply(ts)
        ts.close()
    except (ssl.SSLError, OSError, EOFError):
        pass


def tls_client_certificate_that_does_not_verify(port, pki):
    _bad_client_certificate(port, _client_context(pki, pki["selfsigned.pem"],
                                                  pki["selfsigned.key"]))


def tls12_client_certificate_that_does_not_verify(port, pki):
    _bad_client_certificate(port, _client_context(pki, pki["selfsigned.pem"],
                                                  pki["selfsigned.key"], tls12=True))


def tls_reset_after_ehlo(port, pki):
    ts = _tls(port, _client_context(pki, pki["client-chain.pem"], pki["client.key"]))
    ts.sendall(b"EHLO tls.example\r\n")
    assert _tls_reply(ts).startswith(b"250-")
    _reset(ts)


def tls_close_without_close_notify(port, pki):
    ts = _tls(port, _client_context(pki))
    ts.sendall(b"EHLO tls.example\r\n")
    assert _tls_reply(ts).startswith(b"250-")
    ts.close()


def tls_data_cut_short(port, pki):
    ts = _tls(port, _client_context(pki))
    ts.sendall(b"EHLO tls.example\r\nMAIL FROM:<a@example.org>\r\n"
               b"RCPT TO:<b@example.net>\r\nDATA\r\n")
    while b"354 " not in _tls_reply(ts):
        pass
    ts.sendall(b"Subject: cut\r\n\r\nhalf a li")
    ts.close()


def tls_quit(port, pki):
    ts = _tls(port, _client_context(pki))
    ts.sendall(b"EHLO tls.example\r\n")
    assert _tls_reply(ts).startswith(b"250-")
    ts.sendall(b"QUIT\r\n")
    assert _tls_reply(ts) == b"221 2.0.0 Bye\r\n"
    ts.close()


ENDINGS = [close_before_the_greeting, reset_before_the_greeting,
           close_in_the_middle_of_a_command, reset_after_ehlo, close_with_replies_unread,
           transaction_then_half_close, too_many_errors, data_cut_short, data_reset, tls_garbage,
           tls_close_before_the_hello, tls_reset_in_the_hello, tls_client_alert,
           tls_client_certificate_that_does_not_verify,
           tls12_client_certificate_that_does_not_verify, tls_reset_after_ehlo,
           tls_close_without_close_notify, tls_data_cut_short, tls_quit]


# ----------------------------------------------------------------- checks

def _settled(srv, timeout=5.0) -> float:
    """hsl_connections_active once it is 0, or after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        active = srv.metric("hsl_connections_active")
        if active == 0 or time.monotonic() > deadline:
            return active
        time.sleep(0.05)


def _fds_back_to(srv, baseline, timeout=5.0) -> int:
    deadline = time.monotonic() + timeout
    while srv.fds() > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    return srv.fds()


def _live_connections(srv) -> int:
    start = len(srv.lines)
    srv.proc.send_signal(signal.SIGUSR1)
    line = srv.wait_for(r"probe live-connections=\d+", start=start)
    return int(line.rsplit("=", 1)[1])


def _assert_served(srv) -> None:
    """Two clients at once (all of --max-connections 2) get the greeting and their EHLO."""
    first, second = Raw(srv.port), Raw(srv.port)
    with first, second:
        for c in (first, second):
            assert c.reply()[0].startswith(b"220 "), "refused: a slot is still taken"
        for c in (first, second):
            assert c.cmd(b"EHLO ok.example\r\n")[0] == b"250-Hello"
            assert c.cmd(b"QUIT\r\n") == [b"221 2.0.0 Bye"]


def _assert_all_freed(srv, fds_before, served=True) -> None:
    assert _settled(srv) == 0, srv.log()[-3000:]
    if served:
        _assert_served(srv)
        assert _settled(srv) == 0
    assert _fds_back_to(srv, fds_before) <= fds_before
    assert _live_connections(srv) == 0
    assert "Traceback" not in srv.log()


def _run(srv, pki, ending, rounds=ROUNDS, served=True) -> None:
    ending(srv.port, pki)
    assert _settled(srv) == 0, srv.log()[-3000:]
    fds_before = _fds_back_to(srv, 0, timeout=0.5)
    for _ in range(rounds):
        ending(srv.port, pki)
    _assert_all_freed(srv, fds_before, served)


# ------------------------------------------------------------------ tests

@pytest.mark.parametrize("ending", ENDINGS, ids=[e.__name__ for e in ENDINGS])
def test_every_ending_frees_the_slot_fds_and_connection(server, pki, ending):
    _run(server, pki, ending)


def _stored(srv) -> list:
    return [p.read_bytes() for p in (srv.maildir / "new").iterdir()]


def test_an_interrupted_message_is_not_stored(server, pki):
    for ending in (data_cut_short, data_reset, tls_data_cut_short):
        ending(server.port, pki)
    assert _settled(server) == 0
    assert [m for m in _stored(server) if b"Subject: cut" in m] == []


def test_refused_connections_free_everything(server, pki):
    held = [_hello(server.port), _hello(server.port)]
    fds_before = server.fds()
    for i in range(10):
        with Raw(server.port) as c:
            assert c.reply()[0].startswith(b"421 4.7.0 ")
            if i % 2:
                _reset(c.sock)
            else:
                assert c.closed()
    for c in held:
        c.close()
    _assert_all_freed(server, fds_before)


@pytest.fixture(scope="module")
def idle_server(script, pki):
    with _capped_server(script, pki, "--timeout", "0.5") as srv:
        yield srv


def idle_after_the_greeting(port, pki):
    c = _greeted(port)
    assert c.reply()[0].startswith(b"421 4.4.2 ")
    assert c.closed()
    c.close()


def idle_in_data(port, pki):
    c = _in_data(port)
    assert c.reply()[0].startswith(b"421 4.4.2 ")
    assert c.closed()
    c.close()


def idle_in_the_tls_handshake(port, pki):
    c = _starttls(port)
    c.send(_client_hello()[:40])
    assert c.closed()
    c.close()


def idle_after_tls(port, pki):
    ts = _tls(port, _client_context(pki))
    ts.sendall(b"EHLO tls.example\r\n")
    assert _tls_reply(ts).startswith(b"250-")
    assert _tls_reply(ts).startswith(b"421 4.4.2 ")
    ts.close()


def idle_without_reading(port, pki):
    # Commands sent and replies never read, until nothing more can be sent: the server's
    # replies cannot be written, yet the idle timeout ends the connection (it resets it).
    c = _greeted(port)
    c.sock.setblocking(False)
    deadline = time.monotonic() + 10
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        while time.monotonic() < deadline:
            try:
                c.sock.send(b"NOOP\r\n" * 10000)
            except BlockingIOError:
                time.sleep(0.05)
    c.close()


IDLE = [idle_after_the_greeting, idle_in_data, idle_in_the_tls_handshake, idle_after_tls,
        idle_without_reading]


@pytest.mark.parametrize("ending", IDLE, ids=[e.__name__ for e in IDLE])
def test_idle_timeout_frees_everything(idle_server, pki, ending):
    _run(idle_server, pki, ending, rounds=2)


@pytest.fixture(scope="module")
def faulty_server(script, pki, tmp_path_factory):
    with _capped_server(script, pki, prelude=FAULTS,
                        maildir=tmp_path_factory.mktemp("maildir")) as srv:
        yield srv


def fault_in_the_script_run(port, pki):
    c = _greeted(port)
    assert c.cmd(b"EHLO boom.example\r\n") == [b"451 4.3.0 Internal error, try again later"]
    assert c.cmd(b"NOOP\r\n") == [b"250 2.0.0 OK"]
    c.close()


def fault_in_rcpt(port, pki):
    c = _hello(port)
    assert c.cmd(b"MAIL FROM:<a@example.org>\r\n")[0].startswith(b"250")
    assert c.cmd(b"RCPT TO:<boom@example.net>\r\n") == [
        b"451 4.3.0 Internal error, try again later"]
    assert c.cmd(b"RCPT TO:<b@example.net>\r\n")[0].startswith(b"250")
    assert c.cmd(b"QUIT\r\n") == [b"221 2.0.0 Bye"]
    c.close()


def fault_in_data(port, pki):
    c = _hello(port)
    assert c.cmd(b"MAIL FROM:<a@example.org>\r\n")[0].startswith(b"250")
    assert c.cmd(b"RCPT TO:<b@example.net>\r\n")[0].startswith(b"250")
    assert c.cmd(b"DATA\r\n")[0].startswith(b"354")
    assert c.cmd(b"Subject: boom\r\n\r\nboom\r\n.\r\n") == [
        b"451 4.3.0 Internal error, try again later"]
    _reset(c.sock)


def fault_writing_a_reply(port, pki):
    _closed_after(_hello(port), b"VRFY postmaster\r\n")


def fault_with_the_client_certificate(port, pki):
    ts = _tls(port, _client_context(pki, pki["client-chain.pem"], pki["client.key"]))
    ts.sendall(b"EHLO tls.example\r\n")
    assert _tls_reply(ts) == b"451 4.3.0 Internal error, try again later\r\n"
    ts.close()


FAULTS_CASES = [fault_in_the_script_run, fault_in_rcpt, fault_in_data,
                fault_writing_a_reply, fault_with_the_client_certificate]


@pytest.mark.parametrize("ending", FAULTS_CASES, ids=[e.__name__ for e in FAULTS_CASES])
def test_a_fault_in_a_handler_frees_everything(faulty_server, pki, ending):
    _run(faulty_server, pki, ending, rounds=3)
    assert "injected fault in " in faulty_server.log()
    assert [m for m in _stored(faulty_server) if b"boom" in m] == []


def test_a_fault_before_the_greeting_closes_and_frees_everything(script, pki):
    with _capped_server(script, pki, "--rdns", prelude=GREETING_FAULT) as srv:
        def fails_before_the_greeting(port, pki):
            with Raw(port) as c:
                assert c.reply()[0].startswith(b"421 4.3.0 ")
                assert c.closed(timeout=5)
        _run(srv, pki, fails_before_the_greeting, rounds=4, served=False)
        srv.wait_for(r"session error .*injected fault in the reverse lookup")


def test_the_first_run_on_a_worker_opens_no_descriptor(tmp_path):
    """A run that moves to a worker thread measures the process's memory; the descriptor
    it reads that from is opened at start, not by the first such run (which made the
    server look as if a session had leaked one)."""
    helo = tmp_path / "helo.hsl"
    helo.write_text('sleep(0.01);\nAccept();\n')     # sleeping: preempted, on a worker
    with Server(str(helo)) as srv:
        before = _fds_back_to(srv, 0, timeout=0.5)
        for _ in range(3):
            c = _hello(srv.port)
            assert c.cmd(b"QUIT\r\n")[0].startswith(b"221")
            c.close()
        assert _fds_back_to(srv, before) <= before
