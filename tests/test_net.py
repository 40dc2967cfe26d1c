"""hsl.net (issue 13 item 5): every network builtin stops the same way at the run's time
limit ("execution time limit exceeded") and when the run is cancelled ("interrupted"),
whatever it is waiting for: a TCP server that accepts and never answers, a TLS handshake
that never completes, a DNS server that never answers (a UDP socket nobody reads), or
the system's resolver taking its time.  Every peer is on this machine's loopback.

Each case gives the builtin its own timeouts of a few seconds, so that a wait that does
not stop shows as a slow test rather than a hung one."""
from __future__ import annotations

import socket
import threading
import time

import pytest

import hsl
from hsl.errors import HSLRuntimeError
from hsl.net import dns as resolver
from hsl.net import hosts, tls
from hsl.net.clock import SLICE, Clock

LIMIT = 0.6             # the run's time limit in the deadline cases
CANCEL_AFTER = 0.3      # when the cancellation cases cancel the run
SLACK = 0.35            # how much later than that the run may stop


@pytest.fixture(scope="module")
def silent_tcp():
    """The port of a TCP server that accepts (the kernel does) and never says a word."""
    s = socket.create_server(("127.0.0.1", 0), backlog=64)
    yield s.getsockname()[1]
    s.close()


@pytest.fixture(scope="module")
def silent_dns():
    """"127.0.0.1:PORT" of a DNS server that never answers: a UDP socket nobody reads."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    yield f"127.0.0.1:{s.getsockname()[1]}"
    s.close()


@pytest.fixture(scope="module")
def stalled_starttls():
    """The port of an SMTP server that offers STARTTLS, says 220 to it and then never
    answers the TLS handshake."""
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    held = []

    def serve(conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 stalled ESMTP\r\n")
        f.readline()                                    # EHLO
        conn.sendall(b"250-stalled\r\n250 STARTTLS\r\n")
        f.readline()                                    # STARTTLS
        conn.sendall(b"220 go ahead\r\n")
        held.append(conn)                               # and silence

    def accept():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()


@pytest.fixture
def backend():
    """Set the process-wide DNS backend for one test."""
    saved = resolver.backend()
    yield resolver.configure
    resolver.configure(saved)


SLOW_NAME = "slow.example"


@pytest.fixture
def slow_system_resolver(monkeypatch, backend):
    """The system's resolver (no --dns-table, no --dns-server), taking 3 s for SLOW_NAME."""
    real = socket.getaddrinfo

    def slow(host, *args, **kwargs):
        if host == SLOW_NAME:
            time.sleep(3)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", slow)
    backend(resolver.DnsPythonBackend())


# name -> (script, the DNS backend: None the tests' empty table, "servers" the silent DNS
# server as --dns-server gives it, "dnspython" no --dns-server (the servers option asks),
# "system" the system's resolver, slow)
CASES = {
    "http, a server that never answers": (
        'http("http://127.0.0.1:{tcp}/", ["timeout" => 3]);', None),
    "http, a TLS handshake that never completes": (
        'http("https://127.0.0.1:{tcp}/", ["timeout" => 3, "connect_timeout" => 3]);',
        None),
    "http, a DNS server that never answers": (
        'http("http://web.test:{tcp}/", ["timeout" => 3]);', "servers"),
    "http, a slow system resolver": (
        f'http("http://{SLOW_NAME}/", ["timeout" => 3]);', "system"),
    "smtp_lookup_rcpt, a server that never answers": (
        'smtp_lookup_rcpt(["host" => "127.0.0.1", "port" => {tcp}, "connect_timeout" => 3,'
        ' "timeout" => ["BANNER" => 3]], "a@example.org", "b@example.com");', None),
    "smtp_lookup_rcpt, a TLS handshake that never completes": (
        'smtp_lookup_rcpt(["host" => "127.0.0.1", "port" => {starttls}, "tls" => "require",'
        ' "timeout" => ["STARTTLS" => 3]], "a@example.org", "b@example.com");', None),
    "smtp_lookup_rcpt, a host name and a DNS server that never answers": (
        'smtp_lookup_rcpt(["host" => "mx.test", "port" => {tcp}, "connect_timeout" => 3],'
        ' "a@example.org", "b@example.com");', "servers"),
    "smtp_lookup_rcpt, the MX lookup and a DNS server that never answers": (
        'smtp_lookup_rcpt(["port" => {tcp}], "a@example.org", "b@example.test");',
        "servers"),
    "smtp_lookup_rcpt, a slow system resolver": (
        f'smtp_lookup_rcpt(["host" => "{SLOW_NAME}", "connect_timeout" => 3],'
        ' "a@example.org", "b@example.com");', "system"),
    "smtp_lookup_auth, a server that never answers": (
        'smtp_lookup_auth(["host" => "127.0.0.1", "port" => {tcp},'
        ' "timeout" => ["BANNER" => 3]], "user", "secret");', None),
    "dns_query, a server that never answers": (
        'dns_query("example.test", ["servers" => ["{dns}"], "timeout" => 3]);', "dnspython"),
    "dns_query, the configured server never answers": (
        'dns_query("example.test", ["timeout" => 3]);', "servers"),
    "spf_query, a DNS server that never answers": (
        'spf_query("192.0.2.1", "helo.test", "user@example.test");', "servers"),
}


@pytest.fixture
def script(request, silent_tcp, silent_dns, stalled_starttls, backend):
    source, dns_kind = CASES[request.param]
    if dns_kind == "servers":
        backend(resolver.DnsPythonBackend([silent_dns]))
    elif dns_kind == "dnspython":
        backend(resolver.DnsPythonBackend())
    elif dns_kind == "system":
        request.getfixturevalue("slow_system_resolver")
    return (source.replace("{tcp}", str(silent_tcp)).replace("{dns}", silent_dns)
            .replace("{starttls}", str(stalled_starttls)))


@pytest.mark.parametrize("script", list(CASES), indirect=True)
def test_the_run_stops_at_its_time_limit(script):
    program = hsl.compile(script + ' echo "not reached";')
    out = []
    started = time.monotonic()
    with pytest.raises(HSLRuntimeError, match="execution time limit exceeded"):
        program.run(output=out.append, max_time=LIMIT)
    took = time.monotonic() - started
    assert LIMIT - 0.05 < took < LIMIT + SLACK
    assert out == []


@pytest.mark.parametrize("script", list(CASES), indirect=True)
def test_a_cancelled_run_stops_while_it_waits(script):
    program = hsl.compile(script + ' echo "not reached";')
    cancel = threading.Event()
    timer = threading.Timer(CANCEL_AFTER, cancel.set)
    timer.start()
    out = []
    started = time.monotonic()
    try:
        with pytest.raises(HSLRuntimeError, match="interrupted"):
            program.run(output=out.append, max_time=30, cancel=cancel)
    finally:
        timer.cancel()
    took = time.monotonic() - started
    assert CANCEL_AFTER - 0.05 < took < CANCEL_AFTER + SLACK
    assert out == []


# ------------------------------------------------------------------ the pieces

def test_the_time_left_is_shared_by_both_address_lookups(silent_dns, backend):
    """AAAA then A within one timeout, not one timeout each."""
    backend(resolver.DnsPythonBackend([silent_dns]))
    started = time.monotonic()
    with pytest.raises(hosts.ResolveError, match="cannot resolve web.test: TRY_AGAIN"):
        hosts.addresses("web.test", 80, Clock(), timeout=0.4)
    assert time.monotonic() - started < 0.4 + SLACK


def test_a_slow_system_resolver_is_bounded_by_the_timeout(slow_system_resolver):
    started = time.monotonic()
    with pytest.raises(hosts.ResolveError, match=f"looking up {SLOW_NAME} timed out"):
        hosts.addresses(SLOW_NAME, 80, Clock(), timeout=0.3)
    assert time.monotonic() - started < 0.3 + SLACK


def test_an_own_deadline_is_a_socket_timeout_not_the_end_of_the_run():
    clock = Clock(0.05)
    time.sleep(0.06)
    with pytest.raises(socket.timeout):
        clock.slice(clock.deadline())
    assert 0 < Clock().slice(None) <= SLICE


@pytest.mark.parametrize("cert_name, wanted, ok", [
    ("mail.example.com", "mail.example.com", True),
    ("MAIL.Example.COM.", "mail.example.com", True),
    ("*.example.com", "a.example.com", True),
    ("*.example.com", "example.com", False),
    ("*.com", "example.com", False),
    ("mx1.example.com", ".example.com", True),      # smtp's tls_verify_name ".domain"
    ("*.example.com", ".example.com", True),
    ("a.b.example.com", ".example.com", False),
    ("example.com", ".example.com", False),
])
def test_certificate_names(cert_name, wanted, ok):
    assert tls.name_matches(cert_name, wanted) is ok


def test_an_unreadable_certificate_names_nothing():
    assert tls.matches(None, ["example.com"]) is False
    assert tls.matches(b"not DER", ["example.com"]) is False
