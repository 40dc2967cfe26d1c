"""`hsl serve` STARTTLS: $connection["tls"] after the handshake, and the client
certificate read by the script through X509 (certificates from tests/certs.py)."""
from __future__ import annotations

import shutil
import smtplib
import ssl
import subprocess
import sys

import pytest

from serve_helpers import ROOT, Raw, Server

certs = pytest.importorskip("certs", reason="tests/certs.py (test PKI) is not there")
pytest.importorskip("hsl.builtins.x509", reason="the X509 class is not there")

SCRIPT = r"""
function cn($pairs) {
    foreach ($pairs as $p) if ($p[0] == "CN") return $p[1];
    return "?";
}
$tls = $connection["tls"];
if (!$tls) Accept(["reason" => "plain"]);
$reason = ["tls " . $tls["protocol"] . " " . $tls["cipher"] . " " . $tls["keysize"],
           "sni " . ($tls["sni"] ?? "none")];
$peer = $tls["peercert"];
if ($peer) {
    $cert = X509($peer["x509"]);
    $reason[] = "peer " . cn($cert->subject()) . " issued by " . cn($cert->issuer())
                . " error " . $peer["error"];
    foreach ($peer["chain"] as $c)
        $reason[] = "chain " . cn(X509($c)->subject());
    if (cn($cert->subject()) != "client.example.net")
        Reject("unknown client certificate");
}
Accept(["reason" => $reason]);
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    paths = certs.write_pki(d)
    # what a client sends: its certificate followed by the intermediate
    bundle = d / "client-chain.pem"
    bundle.write_bytes(certs.client_pem() + certs.intermediate_pem())
    paths["client-chain.pem"] = str(bundle)
    return paths


def _server(directory, script: str, pki, ca=True) -> Server:
    """`hsl serve` of `script` with STARTTLS (and --tls-ca, unless `ca` is false)."""
    path = directory / "helo.hsl"
    path.write_text(script)
    return Server(str(path), "--tls-cert", pki["leaf-chain.pem"], "--tls-key",
                  pki["leaf.key"], *(["--tls-ca", pki["ca.pem"]] if ca else []))


@pytest.fixture(scope="module")
def tls_server(pki, tmp_path_factory):
    with _server(tmp_path_factory.mktemp("tls"), SCRIPT, pki) as srv:
        yield srv


def _client_context(pki, with_cert=True):
    ctx = ssl.create_default_context(cafile=pki["ca.pem"])
    if with_cert:
        ctx.load_cert_chain(pki["client-chain.pem"], pki["client.key"])
    return ctx


def _smtp(port):
    s = smtplib.SMTP("127.0.0.1", port, timeout=10)
    s._host = "mx.example.com"           # SNI and the server certificate's name
    return s


def test_starttls_announced_then_tls_in_connection(tls_server, pki):
    with _smtp(tls_server.port) as s:
        code, text = s.ehlo("client.example")
        assert code == 250 and b"STARTTLS" in text.split(b"\n")
        assert text.split(b"\n")[0] == b"plain"
        s.starttls(context=_client_context(pki, with_cert=False))
        code, text = s.ehlo("client.example")
        lines = text.decode().split("\n")
        assert code == 250 and "STARTTLS" not in lines
        assert lines[0].startswith("tls TLSv1.") and lines[0].split()[-1].isdigit()
        assert lines[1] == "sni mx.example.com"
        assert not any(x.startswith("peer ") for x in lines)
        assert s.sendmail("a@example.org", ["b@example.net"], b"Subject: t\r\n\r\nx\r\n") == {}


def test_starttls_with_client_certificate_read_through_x509(tls_server, pki):
    with _smtp(tls_server.port) as s:
        s.ehlo("client.example")
        s.starttls(context=_client_context(pki))
        code, text = s.ehlo("client.example")
        lines = text.decode().split("\n")
        assert code == 250, lines
        assert "peer client.example.net issued by HSL Test Intermediate CA error 0" in lines
        assert "chain HSL Test Intermediate CA" in lines


def test_context_survives_starttls(tmp_path, pki):
    script = tmp_path / "ctx.hsl"
    script.write_text('$context["n"] = ($context["n"] ?? 0) + 1;\n'
                      'Accept(["reason" => "n " . $context["n"] . " "'
                      ' . ($connection["tls"] ? "tls" : "plain")]);\n')
    with Server(str(script), "--tls-cert", pki["leaf-chain.pem"], "--tls-key",
                pki["leaf.key"]) as srv:
        with _smtp(srv.port) as s:
            assert s.ehlo("a.example")[1].split(b"\n")[0] == b"n 1 plain"
            s.starttls(context=_client_context(pki, with_cert=False))
            assert s.ehlo("a.example")[1].split(b"\n")[0] == b"n 2 tls"


def test_starttls_junk_handshake_does_not_kill_the_server(tls_server):
    with Raw(tls_server.port) as c:
        c.reply()
        c.cmd(b"EHLO x.example\r\n")
        assert c.cmd(b"STARTTLS\r\n")[0].startswith(b"220")
        c.send(b"this is not a TLS client hello\r\n" * 4)
        assert c.closed()
    with Raw(tls_server.port) as c:
        assert c.reply()[0].startswith(b"220 ")
        assert c.cmd(b"EHLO y.example\r\n")[0] == b"250-plain"


def test_sni_of_one_connection_is_never_seen_by_another(tls_server, pki):
    # Connections with and without SNI, one after the other: CPython reuses the memory
    # (and so the id()) of a finished connection's TLS object for the next one.
    ctx = _client_context(pki, with_cert=False)
    ctx.check_hostname = False
    seen = []
    for i in range(150):
        for name in (f"c{i}.example.com", None):
            with smtplib.SMTP("127.0.0.1", tls_server.port, timeout=10) as s:
                s._host = name or "127.0.0.1"        # an IP address is not sent as SNI
                s.ehlo("client.example")
                s.starttls(context=ctx)
                lines = s.ehlo("client.example")[1].decode().split("\n")
            seen.append((name, lines[1]))
    assert [x for x in seen if x[1] != f"sni {x[0] or 'none'}"] == []


# ------------------------------------------ client certificates that do not verify

VERIFY_SCRIPT = r"""
function cn($pairs) {
    foreach ($pairs as $p) if ($p[0] == "CN") return $p[1];
    return "?";
}
$peer = $connection["tls"]["peercert"];
if (!$peer) Accept(["reason" => "no client certificate"]);
$name = cn(X509($peer["x509"])->subject());
if ($peer["error"] != 0)
    Reject("client certificate " . $name . ": error " . $peer["error"],
           ["reply_codes" => ["code" => 550, "enhanced" => [5, 7, 1]]]);
Accept(["reason" => "client certificate " . $name . " verified"]);
"""


def _client_cert(d, name, *, issuer="intermediate", send=("intermediate",), **kw):
    """A client certificate and key written to `d`; `send`: the certificates sent after
    it (intermediate, issuer: the issuer made here)."""
    p = certs.pki()
    key = certs.new_key()
    extra = []
    if issuer == "intermediate":
        issuer_cert, issuer_key = p.intermediate, p.intermediate_key
    elif issuer == "self":
        issuer_cert = issuer_key = None
    else:                                   # a CA --tls-ca does not know, or a wrong key
        other = certs.new_key()
        if issuer == "unknown CA":
            issuer_cert = certs.build_cert("Unknown CA", other, ca=True)
            extra.append(issuer_cert)
        else:                               # "wrong key": names the intermediate
            issuer_cert = p.intermediate
        issuer_key = other
    cert = certs.build_cert(name, key, issuer_cert, issuer_key, **kw)
    chain = [cert] + [p.intermediate for s in send if s == "intermediate"] + \
        [c for s in send if s == "issuer" for c in extra]
    return (certs.write_pem(d / f"{name}.pem", *chain),
            certs.write_pem(d / f"{name}.key", key))


# OpenSSL's verify result (the last error its verification reports, as `openssl
# s_client` shows it): a certificate without its intermediate gets 20 then 21.
UNVERIFIED = [
    ("expired.example", dict(not_before=certs.now() - 400 * certs.DAY,
                             not_after=certs.now() - 10 * certs.DAY), 10),
    ("notyet.example", dict(not_before=certs.now() + 10 * certs.DAY,
                            not_after=certs.now() + 400 * certs.DAY), 9),
    ("selfsigned.example", dict(issuer="self", send=()), 18),
    ("alone.example", dict(send=()), 21),
    ("unknown-ca.example", dict(issuer="unknown CA", send=("issuer",)), 19),
    ("badsig.example", dict(issuer="wrong key"), 7),
]


@pytest.fixture(scope="module")
def verify_server(pki, tmp_path_factory):
    with _server(tmp_path_factory.mktemp("verify"), VERIFY_SCRIPT, pki) as srv:
        yield srv


@pytest.mark.parametrize("tls12", [False, True], ids=["tls1.3", "tls1.2"])
@pytest.mark.parametrize("name,kw,error", UNVERIFIED, ids=[u[0] for u in UNVERIFIED])
def test_a_client_certificate_that_does_not_verify_reaches_the_script(
        verify_server, pki, tmp_path, name, kw, error, tls12):
    cert, key = _client_cert(tmp_path, name, **kw)
    ctx = ssl.create_default_context(cafile=pki["ca.pem"])
    ctx.load_cert_chain(cert, key)
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with _smtp(verify_server.port) as s:
        s.ehlo("client.example")
        s.starttls(context=ctx)
        code, text = s.ehlo("client.example")
        assert (code, text) == (550, f"5.7.1 client certificate {name}: error {error}"
                                .encode())
        assert s.noop()[0] == 250               # the session goes on, in TLS


def test_a_verified_client_certificate_has_error_0_and_its_chain(verify_server, pki):
    with _smtp(verify_server.port) as s:
        s.ehlo("client.example")
        s.starttls(context=_client_context(pki))
        assert s.ehlo("client.example") == (
            250, b"client certificate client.example.net verified\n" + EXTENSIONS)


EXTENSIONS = b"PIPELINING\nSIZE 10240000\n8BITMIME\nENHANCEDSTATUSCODES"


def test_chain_is_what_the_client_sent_after_its_certificate(tls_server, pki):
    with _smtp(tls_server.port) as s:
        s.ehlo("client.example")
        s.starttls(context=_client_context(pki))
        lines = s.ehlo("client.example")[1].decode().split("\n")
        assert [x for x in lines if x.startswith("chain ")] == [
            "chain HSL Test Intermediate CA"]


def test_no_client_certificate_is_asked_for_without_tls_ca(tmp_path, pki):
    with _server(tmp_path, VERIFY_SCRIPT, pki, ca=False) as srv:
        with _smtp(srv.port) as s:
            s.ehlo("client.example")
            s.starttls(context=_client_context(pki))
            assert s.ehlo("client.example")[1].split(b"\n")[0] == b"no client certificate"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_s_client_with_an_expired_certificate(verify_server, pki, tmp_path):
    cert, key = _client_cert(tmp_path, "expired.example",
                             not_before=certs.now() - 400 * certs.DAY,
                             not_after=certs.now() - 10 * certs.DAY)
    out = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                          f"127.0.0.1:{verify_server.port}", "-servername", "mx.example.com",
                          "-CAfile", pki["ca.pem"], "-cert", cert, "-key", key, "-quiet",
                          "-crlf"], input=b"EHLO sclient.example\nQUIT\n",
                         capture_output=True, timeout=30)
    assert out.stdout.split(b"\r\n")[:2] == [
        b"550 5.7.1 client certificate expired.example: error 10", b"221 2.0.0 Bye"], out


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
def test_swaks_with_a_self_signed_certificate(verify_server, pki, tmp_path):
    cert, key = _client_cert(tmp_path, "selfsigned.example", issuer="self", send=())
    out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port",
                          str(verify_server.port), "-tls", "--tls-cert", cert, "--tls-key",
                          key, "--to", "b@example.net", "--helo", "swaks.example",
                          "--quit-after", "EHLO"],
                         capture_output=True, text=True, timeout=60)
    assert "<~* 550 5.7.1 client certificate selfsigned.example: error 18" in out.stdout, \
        out.stdout + out.stderr


# ------------------------------------------------- handshakes that fail, logged

def _handshake_then(port, action) -> None:
    with Raw(port) as c:
        c.reply()
        c.cmd(b"EHLO x.example\r\n")
        assert c.cmd(b"STARTTLS\r\n") == [b"220 2.0.0 Ready to start TLS"]
        action(c)


def test_a_failed_handshake_is_logged_with_its_reason(tls_server, pki):
    start = len(tls_server.lines)
    _handshake_then(tls_server.port, lambda c: (
        c.send(b"this is not a TLS client hello\r\n" * 4), c.closed()))
    tls_server.wait_for(r"error TLS handshake failed: wrong version number conn=",
                        start=start)

    def distrusting_client(c):          # it does not trust the server's certificate
        ctx = ssl.create_default_context(cafile=pki["selfsigned.pem"])
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(c.sock, server_hostname="mx.example.com")
    _handshake_then(tls_server.port, distrusting_client)
    tls_server.wait_for(r"error TLS handshake failed: tlsv1 alert unknown ca conn=",
                        start=start)
    _handshake_then(tls_server.port, lambda c: None)       # closed before the hello
    tls_server.wait_for(r"error TLS handshake failed: connection closed during the "
                        r"handshake conn=", start=start)
    assert "TLSSetupException" not in tls_server.log()
    assert "Traceback" not in tls_server.log()


def test_starttls_twice_is_refused(tls_server, pki):
    with _smtp(tls_server.port) as s:
        s.ehlo("client.example")
        s.starttls(context=_client_context(pki, with_cert=False))
        s.ehlo("client.example")
        assert s.docmd("STARTTLS") == (503, b"5.5.1 Error: TLS already active")


@pytest.mark.parametrize("which,message", [
    ("missing", "missing.pem: No such file or directory"),
    ("mismatch", "client.key: key values mismatch"),
    ("not a certificate", "ca.pem: no certificate or crl found"),
])
def test_tls_files_that_do_not_load_are_a_usage_error(pki, tmp_path, which, message):
    script = tmp_path / "p.hsl"
    script.write_text("Accept();\n")
    files = {"missing": [str(tmp_path / "missing.pem"), pki["leaf.key"], pki["ca.pem"]],
             "mismatch": [pki["leaf-chain.pem"], pki["client.key"], pki["ca.pem"]],
             "not a certificate": [pki["leaf-chain.pem"], pki["leaf.key"],
                                   str(tmp_path / "ca.pem")]}[which]
    (tmp_path / "ca.pem").write_text("not PEM\n")
    out = subprocess.run([sys.executable, "-m", "hsl", "serve", "--helo", str(script),
                          "--tls-cert", files[0], "--tls-key", files[1], "--tls-ca", files[2]],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 2
    assert out.stderr.startswith("hsl: error: TLS: ") and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
