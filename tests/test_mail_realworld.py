"""What the public halon-extras modules need of the mail classes (issue 14's acid test):
DMARC (From read undecoded, header_dkim_decode, verifyDKIM with a dns_function), ARC
(an AMS from signDKIM(arc) added with encode false, a seal made with rsa_sign), ARF and
DSN (multipart/report parts read as header blocks), S/MIME and PGP/MIME (wrapping a
message into multipart/signed, restoring it), Authentication-Results (verifyDKIM's tags,
a folded field added as given) and tracking (a pixel and rewritten links through
setBody on the html part, per recipient with snapshot/restore).

Every script and message here is written for these tests; the modules' own code is not
copied (they run from a checkout with `hsl run -I DIR`: README "hsl run").  dkimpy and
the openssl command check what comes out where they can.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

import hsl
from hsl.mail import dkim as D

dkimpy = pytest.importorskip("dkim")

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
RECORD = D.public_key_record(KEY).decode()


def run(source: str, **variables) -> list:
    out = []
    hsl.compile(source, predefined=set(variables)).run(variables=variables,
                                                       output=out.append, raw_output=True)
    return out


def keys(name, timeout=5):
    """dkimpy's DNS: every selector of the tests publishes RECORD."""
    return RECORD.encode() if b"._domainkey." in name else b""


# ------------------------------------------------------------------------- DMARC

def test_dmarc_reads_from_undecoded_and_verifies_aligned_signatures():
    out = run(r'''
        $m = MailMessage::String("From: =?utf-8?Q?Bj=C3=B6rn?=\r\n <bjorn@Example.COM>\r\n"
                                 . "Subject: hi\r\n\r\nbody\r\n");
        $m->signDKIM("s1", "example.com", $pem);
        $m->signDKIM("s2", "example.com", $pem);
        $m = MailMessage::String($m->toString());
        $from = $m->getHeaders("from", ["decode" => false]);
        echo length($from) . " " . header_addresslist_extract($from[0])[0];
        echo $m->getHeader("from");
        // the DMARC module's tests answer with one TXT string, and with errors of their
        // own ("permfail"): a permerror, never a temperror
        function dns($host) {
            global $record;
            return $host == "s1._domainkey.example.com" ? ["result" => $record]
                                                         : ["error" => "permfail"];
        }
        foreach ($m->getHeaders("DKIM-Signature") as $i => $value) {
            $tags = header_dkim_decode($value);
            $r = $m->verifyDKIM($m->getHeader("DKIM-Signature", ["index" => $i, "field" => true]),
                                ["dns_function" => dns]);
            echo $tags["s"] . " " . $r["result"] . " " . $r["tags"]["d"];
        }
        // a DMARC record read with header_dkim_decode: keyed in sorted order
        echo header_dkim_decode("v=DMARC1; p=reject; psd=n") == ["p" => "reject", "psd" => "n", "v" => "DMARC1"];
    ''', pem=PEM, record=RECORD)
    assert out == [b"1 bjorn@Example.COM", "Björn <bjorn@Example.COM>".encode(),
                   b"s2 permerror example.com", b"s1 pass example.com", b"true"]


# --------------------------------------------------------------------------- ARC

SEAL = r'''
    function relaxed($name, $value) {
        $value = pcre_replace(''/\r\n([ \t])/'', "$1", $value);
        return str_lower($name) . ":" . str_strip(pcre_replace(''/[ \t]+/'', " ", $value));
    }
    // one ARC set of instance 1 (cv=none) on $m, sealed by relay.example.net
    function arc_set($m, $pem, $t) {
        $aar = "i=1; relay.example.net; dkim=pass header.d=example.com";
        $ams = $m->signDKIM("arc", "relay.example.net", $pem,
                            ["arc" => 1, "return_header" => true,
                             "additional_headers" => ["DKIM-Signature"]]);
        $seal = "i=1; a=rsa-sha256; t=$t; cv=none;\r\n\td=relay.example.net; s=arc;\r\n\tb=";
        $data = relaxed("ARC-Authentication-Results", $aar) . "\r\n"
              . relaxed("ARC-Message-Signature", $ams) . "\r\n"
              . relaxed("ARC-Seal", $seal);
        $b = base64_encode(rsa_sign($data, rsa_privatekey($pem), ["id" => false, "hash" => "sha256"]));
        $m->addHeader("ARC-Authentication-Results", $aar, ["encode" => false]);
        $m->addHeader("ARC-Message-Signature", $ams, ["encode" => false]);
        $m->addHeader("ARC-Seal", $seal . array_join(pcre_match_all(''/.{1,72}/'', $b)[0], "\r\n\t "),
                      ["encode" => false]);
    }
'''


def test_arc_set_from_sign_dkim_and_add_header_verifies():
    out = run(SEAL + r'''
        $m = MailMessage::String("From: alice@example.com\r\nTo: bob@example.org\r\n"
                                 . "Subject: ARC\r\n\r\nHello ARC\r\n");
        $m->signDKIM("s1", "example.com", $pem);
        $m = MailMessage::String($m->toString());
        arc_set($m, $pem, 1700000000);
        $sealed = MailMessage::String($m->toString());
        $ams = $sealed->getHeader("ARC-Message-Signature", ["field" => true]);
        echo $sealed->verifyDKIM($ams, ["dns_function" => function ($h) closure ($record) {
            return ["result" => [$record]]; }])["result"];
        echo $sealed->toString();
    ''', pem=PEM, record=RECORD)
    assert out[0] == b"pass"
    result, _, why = dkimpy.arc_verify(out[1], dnsfunc=keys)
    assert result == b"pass", why
    assert dkimpy.verify(out[1], dnsfunc=keys)           # the DKIM signature still holds


# ------------------------------------------------------------------ ARF and DSN

ARF = (b"From: <fbl@isp.example>\r\nTo: <abuse@example.net>\r\nSubject: FW: offer\r\n"
       b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
       b"Content-Type: multipart/report; report-type=feedback-report;\r\n"
       b"\tboundary=\"rep\"\r\n\r\n"
       b"--rep\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n\r\n"
       b"--rep\r\nContent-Type: message/feedback-report\r\n\r\n"
       b"Feedback-Type: abuse\r\nUser-Agent: Gen/2.0\r\nVersion: 1\r\n"
       b"Authentication-Results: mx.isp.example\r\n    spf=fail\r\n"
       b"Reported-Uri: http://example.net/a\r\nReported-Uri: mailto:x@example.net\r\n\r\n"
       b"--rep\r\nContent-Type: message/rfc822\r\n\r\n"
       b"From: <spam@example.net>\r\nSubject: offer\r\n\r\nBuy now\r\n"
       b"--rep--\r\n")


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_arf_report_parts_read_as_header_blocks(eol):
    out = run(r'''
        $m = MailMessage::String($data);
        echo $m->getType() . " " . length($m->findByType(''^message/feedback-report$''));
        $report = MailMessage::String($m->findByType(''^message/feedback-report$'')[0]->getBody());
        $fields = [];
        foreach ($report->getHeaderNames() as $name)
            $fields[$name] = $report->getHeaders($name);
        echo json_encode($fields);
        echo $m->findByType(''^message/rfc822$'')[0]->getBody();
        echo header_addresslist_extract($m->getHeader("from"))[0];
    ''', data=ARF.replace(b"\r\n", eol))
    assert out[0] == b"multipart/report 1"
    assert json.loads(out[1]) == {
        "feedback-type": ["abuse"], "user-agent": ["Gen/2.0"], "version": ["1"],
        "authentication-results": ["mx.isp.example    spf=fail"],
        "reported-uri": ["http://example.net/a", "mailto:x@example.net"]}
    assert out[2] == b"From: <spam@example.net>\r\nSubject: offer\r\n\r\nBuy now".replace(
        b"\r\n", eol)
    assert out[3] == b"fbl@isp.example"


def test_dsn_recipient_blocks():
    dsn = (b"From: MAILER-DAEMON@mx.example.org\r\nTo: a@example.com\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=d\r\n\r\n"
           b"--d\r\nContent-Type: text/plain\r\n\r\nFailed.\r\n"
           b"--d\r\nContent-Type: message/delivery-status\r\n\r\n"
           b"Reporting-MTA: dns; mx.example.org\r\n\r\n"
           b"Final-Recipient: rfc822; u1@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
           b"Final-Recipient: rfc822; u2@example.org\r\nAction: delayed\r\n"
           b"Diagnostic-Code: smtp; 451 try\r\n  later\r\n\r\n"
           b"--d\r\nContent-Type: text/rfc822-headers\r\n\r\nSubject: original\r\n\r\n--d--\r\n")
    out = run(r'''
        $m = MailMessage::String($data);
        $status = $m->findByType(''^message/(delivery-status|global-delivery-status)$'')[0];
        $blocks = array_map(MailMessage::String,
                            str_split(str_replace("\r\n", "\n", $status->getBody()), "\n\n"));
        foreach ($blocks as $b) {
            $r = [];
            foreach ($b->getHeaderNames() as $n) $r[$n] = $b->getHeader($n);
            echo json_encode($r);
        }
        echo $m->findByType("rfc822-headers")[0]->getBody();
    ''', data=dsn)
    assert [json.loads(x) for x in out[:3]] == [
        {"reporting-mta": "dns; mx.example.org"},
        {"final-recipient": "rfc822; u1@example.org", "action": "failed", "status": "5.1.1"},
        {"final-recipient": "rfc822; u2@example.org", "action": "delayed",
         "diagnostic-code": "smtp; 451 try  later"}]
    assert out[3] == b"Subject: original\r\n"


# --------------------------------------------------------------- S/MIME, PGP/MIME

ALTERNATIVE = (b"From: a@example.com\nSubject: s\nMIME-Version: 1.0\n"
               b"Content-Type: multipart/alternative; boundary=\"alt\"\n\n"
               b"--alt\nContent-Type: text/plain\n\n*hi*\n"
               b"--alt\nContent-Type: text/html\n\n<b>hi</b>\n--alt--\n")
SINGLE = (b"From: a@example.com\r\nSubject: s\r\nContent-Type: text/plain; charset=utf-8\r\n"
          b"Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe\r\n")

# The content fields and the raw body of a part, as S/MIME and PGP/MIME sign them.
CONTENT = r'''
    function content($part, $all) {
        $data = "";
        $seen = [];
        foreach ($part->getHeaderNames() as $n)
            if ($all or $n[0:8] == "content-") {
                $seen[$n] = isset($seen[$n]) ? $seen[$n] + 1 : 0;
                $data .= $part->getHeader($n, ["field" => true, "index" => $seen[$n]]);
            }
        return $data . "\r\n" . $part->getBody(["decode" => false]);
    }
'''


def self_signed():
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signer@example.com")])
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(KEY.public_key()).serial_number(7)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(KEY, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize("message", [ALTERNATIVE, SINGLE], ids=["alternative", "single"])
def test_detached_smime_signature_wraps_the_message(message, tmp_path):
    cert = self_signed()
    out = run(CONTENT + r'''
        $m = MailMessage::String($message);
        $pki = ["x509" => X509::String($cert), "privatekey" => rsa_privatekey($pem)];
        $s = cms_sign(content($m, false), $pki, ["detached" => true, "digest" => "sha256"]);
        $sig = MIME()->addHeader("Content-Type", "application/pkcs7-signature; name=\"smime.p7s\"")
                     ->addHeader("Content-Transfer-Encoding", "base64")
                     ->setBody($s["data"]);
        $m->appendPart($sig, ["type" => "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=\"sha-256\""]);
        $signed = MailMessage::String($m->toString());
        [$body, $signature] = $signed->getParts();
        echo $signed->getType() . " " . $body->getType() . " " . $signed->getHeader("subject");
        $v = cms_verify($signature->getBody(), content($body, true), ["store" => [X509::String($cert)]]);
        echo $v["result"] . " " . X509($v["signers"][0])->subject()[0][1];
        echo $body->getBody() === $m->getBody();
        echo $signed->toString();
    ''', message=message, cert=cert, pem=PEM)
    ctype = b"multipart/alternative" if message is ALTERNATIVE else b"text/plain"
    assert out[:3] == [b"multipart/signed " + ctype + b" s", b"true signer@example.com",
                       b"true"]
    # (openssl reads the signed part of an LF message with CRLF, as on the wire)
    if shutil.which("openssl") and b"\r\n" in message:
        (tmp_path / "signed.eml").write_bytes(out[3])
        (tmp_path / "ca.pem").write_text(cert)
        p = subprocess.run(["openssl", "cms", "-verify", "-in", tmp_path / "signed.eml",
                            "-CAfile", tmp_path / "ca.pem", "-purpose", "any",
                            "-out", "/dev/null"], capture_output=True)
        assert p.returncode == 0, p.stderr


def test_decrypted_message_replaces_the_envelope_fields_and_body():
    """Encrypt as S/MIME does (the content in an application/pkcs7-mime body), then put
    the decrypted part back: its fields copied with setHeader, the envelope's deleted,
    the body set with its own encoding."""
    cert = self_signed()
    out = run(CONTENT + r'''
        $m = MailMessage::String($message);
        $enc = cms_encrypt(content($m, false), ["certs" => [X509::String($cert)]]);
        foreach (["Content-Type", "Content-Transfer-Encoding", "Content-Disposition"] as $n)
            $m->delHeader($n);
        $m->addHeader("Content-Type", "application/pkcs7-mime; smime-type=enveloped-data");
        $m->addHeader("Content-Transfer-Encoding", "base64");
        $m->setBody($enc["data"], ["encoding" => "base64"]);
        $e = MailMessage::String($m->toString());
        echo $e->getType() . " " . cms_type($e->getBody());
        $d = cms_decrypt($e->getBody(), ["x509" => X509::String($cert), "privatekey" => rsa_privatekey($pem)]);
        $part = MailMessage::String($d["data"]);
        foreach ($part->getHeaderNames() as $n)
            if ($n[0:8] == "content-")
                $e->setHeader($n, $part->getHeader($n));
        foreach (["Content-Type", "Content-Transfer-Encoding", "Content-Disposition"] as $n)
            $e->delHeader($n);
        $e->setBody($part->getBody(), ["encoding" => $part->getHeader("Content-Transfer-Encoding") ?? "7bit"]);
        $back = MailMessage::String($e->toString());
        echo $back->getType() . " " . ($back->getTypeParameter("boundary") ?? "-");
        echo $back->getBody() === MailMessage::String($message)->getBody();
        echo length($back->getParts());
    ''', message=ALTERNATIVE, cert=cert, pem=PEM)
    assert out == [b"application/pkcs7-mime pkcs7-envelopedData", b"multipart/alternative alt",
                   b"true", b"2"]


def test_pgp_mime_encrypted_structure_from_mime_and_set_body():
    """PGP/MIME builds the new body with MIME() (parts with their own 7bit fields) and
    moves it into the message with setBody after replacing Content-Type."""
    out = run(r'''
        $m = MailMessage::String($message);
        $m->delHeader("Content-Type");
        $m->addHeader("Content-Type", "multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"enc\"");
        $mime = MIME()->setBoundary("enc")
            ->appendPart(MIME()->addHeader("Content-Transfer-Encoding", "7bit")
                               ->setType("application/pgp-encrypted")->setBody("Version: 1"))
            ->appendPart(MIME()->addHeader("Content-Transfer-Encoding", "7bit")
                               ->setType("application/octet-stream")
                               ->setBody("-----BEGIN PGP MESSAGE-----\r\n\r\nabc\r\n-----END PGP MESSAGE-----\r\n"));
        $m->setBody(MailMessage::String($mime->toString())->getBody());
        $e = MailMessage::String($m->toString());
        echo $e->getType() . " " . $e->getTypeParameter("protocol");
        foreach ($e->getParts() as $p) echo $p->getType() . " " . $p->getBody();
    ''', message=SINGLE)
    assert out == [b"multipart/encrypted application/pgp-encrypted",
                   b"application/pgp-encrypted Version: 1",
                   b"application/octet-stream -----BEGIN PGP MESSAGE-----\r\n\r\nabc\r\n"
                   b"-----END PGP MESSAGE-----\r\n"]


# ------------------------------------------------------ Authentication-Results

def test_authentication_results_from_verify_dkim_tags():
    out = run(r'''
        $m = MailMessage::String("From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n");
        $m->signDKIM("s1", "example.com", $pem);
        $m = MailMessage::String($m->toString());
        $r = $m->verifyDKIM($m->getHeader("DKIM-Signature", ["field" => true]),
                            ["dns_function" => function ($h) closure ($record) { return ["result" => [$record]]; }]);
        $t = $r["tags"];
        $ar = "mx.example.net;\r\n\tdkim=" . $r["result"] . " header.d=" . $t["d"] . " header.s=" . $t["s"]
            . " header.a=" . $t["a"] . " header.b=" . pcre_replace(''/\s/'', "", $t["b"])[:8] . ";\r\n\tspf=pass smtp.mailfrom=example.com;";
        $m->addHeader("Authentication-Results", $ar, ["encode" => false]);
        $out = MailMessage::String($m->toString());
        echo $out->getHeader("Authentication-Results", ["field" => true]);
        echo $out->getHeader("Authentication-Results");
        echo $t["b"][:8] === pcre_replace(''/\s/'', "", $t["b"])[:8];
    ''', pem=PEM, record=RECORD)
    assert out[0].startswith(b"Authentication-Results: mx.example.net;\r\n\tdkim=pass "
                             b"header.d=example.com header.s=s1 header.a=rsa-sha256 header.b=")
    assert out[0].endswith(b";\r\n\tspf=pass smtp.mailfrom=example.com;\r\n")
    assert out[1].startswith(b"mx.example.net;\tdkim=pass ") and b";\tspf=pass" in out[1]
    assert out[2] == b"true"                   # the tags' values have no folding left


# -------------------------------------------------------------------- tracking

def test_tracking_pixel_and_links_per_recipient():
    news = (b"From: news@example.com\r\nMessage-ID: <n1@example.com>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/alternative; boundary=\"a\"\r\n\r\n"
            b"--a\r\nContent-Type: text/plain\r\n\r\nSee https://example.com/x\r\n"
            b"--a\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            b"<html><body><a href=3D\"https://example.com/x\">x</a> Gr=C3=BC=C3=9Fe</body></html>\r\n"
            b"--a--\r\n")
    out = run(r'''
        $m = MailMessage::String($news);
        $id = $m->snapshot();
        foreach (["bob@example.org", "eve@example.org"] as $rcpt) {
            foreach ($m->findByType(#/^text\/(html|x-amp-html)$/) as $html) {
                $token = str_replace("=", "", base64_encode(hmac_sha2("k", $rcpt . $m->getHeader("Message-ID"), 256, ["binary" => true])));
                $new = pcre_replace(#/href="([^"]+)"/, function ($f) closure ($token) {
                    return "href=\"https://t.example/c/$token?u=" . url_encode($f[1]) . "\"";
                }, $html->getBody());
                $new = pcre_replace(#/(<\/body>)/i, function ($f) closure ($token) {
                    return "<img src=\"https://t.example/o/$token\" width=\"1\" height=\"1\"/>" . $f[0];
                }, $new);
                $html->setBody($new);
            }
            if (!$m->getHeader("List-Unsubscribe"))
                $m->setHeader("List-Unsubscribe", "<https://t.example/u/$rcpt>");
            $out = MailMessage::String($m->toString());
            $h = $out->findByType("text/html")[0];
            echo $h->getBody();
            echo $h->getHeader("Content-Transfer-Encoding") . " " . $out->getHeader("List-Unsubscribe");
            echo $out->findByType("text/plain")[0]->getBody();
            $m->restore($id);
        }
        echo $m->toString() === $news;
    ''', news=news)
    bob, eve = out[0], out[3]
    for body in (bob, eve):
        assert body.startswith(b'<html><body><a href="https://t.example/c/')
        assert b"?u=https%3A%2F%2Fexample.com%2Fx" in body
        assert body.endswith('" width="1" height="1"/></body></html>'.encode()) or \
            body.rstrip(b"\r\n").endswith(b'height="1"/></body></html>')
        assert "Grüße".encode() in body
    assert bob != eve
    assert out[1] == b"quoted-printable <https://t.example/u/bob@example.org>"
    assert out[4] == b"quoted-printable <https://t.example/u/eve@example.org>"
    assert out[2] == out[5] == b"See https://example.com/x"
    assert out[6] == b"true"
