"""`hsl serve` STARTTLS: $connection["tls"] after the handshake, and the client
certificate read by the script through X509 (certificates from tests/certs.py)."""
from __future__ import annotations

import smtplib
import ssl

import pytest

from serve_helpers import Raw, Server

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


@pytest.fixture(scope="module")
def tls_server(pki, tmp_path_factory):
    script = tmp_path_factory.mktemp("tls") / "tls.hsl"
    script.write_text(SCRIPT)
    with Server(str(script), "--tls-cert", pki["leaf-chain.pem"], "--tls-key",
                pki["leaf.key"], "--tls-ca", pki["ca.pem"]) as srv:
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
