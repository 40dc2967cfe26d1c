"""MailMessage->signDKIM / verifyDKIM and MIME->signDKIM as scripts call them: the
signature lands at the top of the written message (a modification, so restore() takes it
back), return_header gives the value to add with addHeader(..., ["encode" => false]),
`arc` makes an ARC-Message-Signature, verification asks a dns_function or the run's DNS
(--dns-table), and every signature verifies with dkimpy."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import hsl
from hsl.net import dns as resolver
from hsl.mail import dkim as D

dkimpy = pytest.importorskip("dkim")

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
RECORD = D.public_key_record(KEY).decode()
MESSAGE = ("From: Alice <alice@example.com>\r\nTo: bob@example.org\r\n"
           "Subject: Lunch\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n"
           "See you at noon.\r\n")


def run(source: str, **variables) -> list:
    out = []
    hsl.compile(source, predefined=set(variables)).run(variables=variables,
                                                       output=out.append, raw_output=True)
    return out


def dkimpy_verifies(message: bytes) -> bool:
    def dnsfunc(name, timeout=5):
        return RECORD.encode() if name.decode().rstrip(".") == "s1._domainkey.example.com" \
            else b""
    return dkimpy.verify(message, dnsfunc=dnsfunc)


DNS = 'function dns($host) { global $record; return $host == "s1._domainkey.example.com" ' \
      '? ["result" => [$record]] : ["error" => "permerror"]; }\n'


def test_sign_adds_a_signature_that_dkimpy_and_verifydkim_accept():
    out = run(DNS + '''
        $m = MailMessage::String($msg);
        echo $m->signDKIM("s1", "example.com", $key) == $m;
        $signed = $m->toString();
        echo $signed;
        echo $m->getHeader("DKIM-Signature") ?? "none (get* reads the message as received)";
        $again = MailMessage::String($signed);
        $field = $again->getHeader("DKIM-Signature", ["field" => true]);
        echo $again->verifyDKIM($field, ["dns_function" => dns])["result"];
    ''', msg=MESSAGE, key=PEM, record=RECORD)
    assert out[0] == b"true"
    assert out[1].startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n")
    assert out[1].endswith(MESSAGE.encode())
    assert dkimpy_verifies(out[1])
    assert out[2] == b"none (get* reads the message as received)"
    assert out[3] == b"pass"


def test_return_header_gives_the_value_addheader_writes_back_verbatim():
    out = run('''
        $a = MailMessage::String($msg);
        $a->signDKIM("s1", "example.com", $key);
        $b = MailMessage::String($msg);
        $value = $b->signDKIM("s1", "example.com", $key, ["return_header" => true]);
        echo $b->toString() == $msg;        // nothing added
        $b->addHeader("DKIM-Signature", $value, ["encode" => false]);
        echo $b->toString() == $a->toString();
    ''', msg=MESSAGE, key=PEM)
    assert out == [b"true", b"true"]


def test_the_signature_covers_earlier_edits_and_restore_takes_it_back():
    out = run('''
        $m = MailMessage::String($msg);
        $m->setHeader("Subject", "Lunch moved");
        $id = $m->snapshot();
        $m->signDKIM("s1", "example.com", $key, ["headers" => ["from", "subject"]]);
        echo $m->toString();
        $m->restore($id);
        echo $m->toString();
    ''', msg=MESSAGE, key=PEM)
    assert b"Subject: Lunch moved" in out[0] and dkimpy_verifies(out[0])
    assert not out[1].startswith(b"DKIM-Signature")


def test_verify_asks_the_runs_dns_and_fails_a_tampered_message():
    backend = resolver.backend()
    resolver.configure(resolver.MockBackend({"s1._domainkey.example.com": {"txt": [RECORD]}}))
    try:
        out = run('''
            $signed = MailMessage::String($msg)->signDKIM("s1", "example.com", $key)
                ->toString();
            foreach ([$signed, str_replace("noon", "one", $signed)] as $text) {
                $m = MailMessage::String($text);
                $r = $m->verifyDKIM($m->getHeader("DKIM-Signature", ["field" => true]));
                echo $r["result"] . " " . ($r["error"] ?? "") . " " . $r["tags"]["d"];
            }
        ''', msg=MESSAGE, key=PEM)
    finally:
        resolver.configure(backend)
    assert out[0] == b"pass  example.com"
    assert out[1].startswith(b"permerror ") and out[1].endswith(b" example.com")


def test_arc_instance_and_a_key_that_cannot_sign():
    out = run('''
        $m = MailMessage::String($msg);
        $ams = $m->signDKIM("s1", "example.com", $key, ["arc" => 2, "return_header" => true]);
        echo $ams;
        echo $m->signDKIM("s1", "example.com", "not a key") ?? "none";
    ''', msg=MESSAGE, key=PEM)
    assert out[0].startswith(b"i=2; a=rsa-sha256;")
    assert out[1] == b"none"


def test_mime_signdkim():
    out = run('''
        $m = MIME()->addHeader("From", "alice@example.com")->addHeader("Subject", "Hi")
            ->setBody("Hello");
        echo $m->signDKIM("s1", "example.com", $key) == $m;
        echo $m->toString();
    ''', key=PEM)
    assert out[0] == b"true"
    assert out[1].startswith(b"DKIM-Signature: ") and dkimpy_verifies(out[1])
