"""hsl.mail.dkim at the bytes level: RFC 6376 and RFC 8463 examples, cross-verification
both ways with dkimpy and with OpenDKIM (opendkim-testmsg, asking a local DNS server),
every canonicalisation and algorithm, hooks.md §3's options and field layout, tampered
messages, line endings, key forms, lookups (the run's resolver, a dns_function) and
chunked body hashing.

Keys are made here with `cryptography` (and opendkim-genkey for OpenDKIM) and published
through a lookup function, hsl.net.dns's MockBackend or tests/dns_server.py.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from hsl.runtime import execution, ops as runtime
from hsl.net import dns as resolver
from hsl.errors import ScriptError
from hsl.mail import dkim as D
from hsl.runtime.values import HArray, HFunction

dkimpy = pytest.importorskip("dkim")        # the test extra: dkimpy[ed25519,arc]
sys.path.insert(0, os.path.dirname(__file__))
from dns_server import DnsServer  # noqa: E402

DOMAIN = b"example.com"
MESSAGE = (b"Received: from a.example.net by b.example.org; Mon, 1 Jan 2024 00:00:01 +0000\r\n"
           b"From: Joe SixPack <joe@example.com>\r\n"
           b"To: Suzie Q <suzie@example.org>\r\n"
           b"Subject:  Is dinner \t ready?\r\n\t(folded)  \r\n"
           b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
           b"Message-ID: <1@example.com>\r\n"
           b"\r\n"
           b"Hi.  \r\n\r\nWe lost the game.\t Are you hungry yet?\r\n\r\nJoe.\r\n\r\n\r\n")


def pem_of(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED = ed25519.Ed25519PrivateKey.generate()
RSA_PEM, ED_PEM = pem_of(RSA), pem_of(ED)
ED_SEED = ED.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                           serialization.NoEncryption())
KEYS = {b"rsa-sha256": (b"rsa", RSA_PEM), b"rsa-sha1": (b"rsa", RSA_PEM),
        b"ed25519-sha256": (b"ed", ED_PEM)}
RECORDS = {"rsa._domainkey.example.com": D.public_key_record(RSA),
           "ed._domainkey.example.com": D.public_key_record(ED)}


def lookup(name: str) -> list:
    return [RECORDS[name]] if name in RECORDS else []


def dnsfunc(name, timeout=5):           # dkimpy's
    return RECORDS.get(name.decode().rstrip("."), b"")


def opts(**kw) -> D.SignOptions:
    return D.SignOptions(**kw)


def signed(message: bytes, algorithm=b"rsa-sha256", **kw) -> tuple:
    selector, key = KEYS[algorithm]
    field = D.sign(message, selector, DOMAIN, key, opts(algorithm=algorithm, **kw))
    return field, field + message


def result(message: bytes, field: bytes, look=lookup, **kw) -> str:
    r = D.verify(message, field, look, **kw)
    return r["result"] if r["result"] == "pass" else f"{r['result']}: {r['error']}"


# ------------------------------------------------ RFC 6376 and RFC 8463 examples

def test_rfc6376_canonicalization_examples():
    """RFC 6376 section 3.4.6."""
    fields, body = D.split_message(b"A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n")
    assert [D.canon_header(f.raw, True) for f in fields] == [b"a:X\r\n", b"b:Y Z\r\n"]
    assert [D.canon_header(f.raw, False) for f in fields] == [b"A: X\r\n",
                                                             b"B : Y\t\r\n\tZ  \r\n"]
    for relaxed, canonical in ((True, b" C\r\nD E\r\n"), (False, b" C \r\nD \t E\r\n")):
        digest, length = D.body_hash(body, relaxed, "sha256")
        assert (digest, length) == (hashlib.sha256(canonical).digest(), len(canonical))


def test_rfc6376_empty_body_hashes():
    """RFC 6376 section 3.4.3/3.4.4: an empty body is CRLF (simple) or nothing (relaxed)."""
    assert base64.b64encode(D.body_hash(b"", False, "sha256")[0]) == \
        b"frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY="
    assert base64.b64encode(D.body_hash(b"", True, "sha256")[0]) == \
        b"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert D.body_hash(b"\r\n\r\n", False, "sha1")[0] == hashlib.sha1(b"\r\n").digest()


# RFC 8463 appendix A: the keys, the DNS records and the signed message.
RFC8463_SEED = base64.b64decode("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
RFC8463_RECORDS = {
    "brisbane._domainkey.football.example.com":
        b"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    "test._domainkey.football.example.com":
        b"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR"
        b"iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC"
        b"DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3"
        b"Ip3G+2kryOTIKT+l/K4w3QIDAQAB"}
RFC8463_ED_FIELD = (
    b"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    b" d=football.example.com; i=@football.example.com;\r\n"
    b" q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    b" subject : date : message-id : from : subject : date;\r\n"
    b" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    b" b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    b" Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n")
RFC8463_RSA_FIELD = (
    b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    b" d=football.example.com; i=@football.example.com;\r\n"
    b" q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    b" date : message-id : from : subject : date;\r\n"
    b" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    b" b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    b" DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    b" dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n")
RFC8463_MESSAGE = (
    b"From: Joe SixPack <joe@football.example.com>\r\n"
    b"To: Suzie Q <suzie@shopping.example.net>\r\n"
    b"Subject: Is dinner ready?\r\n"
    b"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    b"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    b"\r\n"
    b"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n")


def rfc8463_lookup(name):
    return [RFC8463_RECORDS[name]] if name in RFC8463_RECORDS else []


@pytest.mark.parametrize("line_end", [b"\r\n", b"\n"])
def test_rfc8463_signatures_verify(line_end):
    message = (RFC8463_ED_FIELD + RFC8463_RSA_FIELD + RFC8463_MESSAGE).replace(b"\r\n",
                                                                             line_end)
    for field in (RFC8463_ED_FIELD, RFC8463_RSA_FIELD):
        r = D.verify(message, field.replace(b"\r\n", line_end), rfc8463_lookup)
        assert r["result"] == "pass", r
        assert r["tags"][b"h"] == b"from:to:subject:date:message-id:from:subject:date"
    tampered = message.replace(b"game", b"match")
    assert result(tampered, RFC8463_ED_FIELD, rfc8463_lookup) == \
        "permerror: body hash did not verify"


def test_signing_with_the_rfc8463_key():
    key = ed25519.Ed25519PrivateKey.from_private_bytes(RFC8463_SEED)
    assert D.public_key_record(key) == RFC8463_RECORDS["brisbane._domainkey.football.example.com"]
    field = D.sign(RFC8463_MESSAGE, b"brisbane", b"football.example.com", key,
                   opts(algorithm=b"ed25519-sha256",
                        headers=(b"from", b"to", b"subject", b"date", b"message-id"),
                        oversign_headers=(b"from", b"subject", b"date")))
    assert b"\tbh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n" in field
    assert b"\th=message-id:date:subject:to:from:from:subject:date;\r\n" in field
    assert dkimpy.verify(field + RFC8463_MESSAGE,
                         dnsfunc=lambda n, timeout=5: rfc8463_lookup(n.decode()[:-1])[0])


# ------------------------------------------------------------ dkimpy, both ways

BODIES = {
    "crlf": MESSAGE,
    "lf": MESSAGE.replace(b"\r\n", b"\n"),
    "mixed": MESSAGE.replace(b"Hi.  \r\n", b"Hi.  \n").replace(b"To: Suzie", b"To:\n Suzie"),
    "empty body": b"From: joe@example.com\r\nSubject: x\r\n\r\n",
    "no body": b"From: joe@example.com\r\nSubject: x\r\n",
    "no final line ending": b"From: joe@example.com\r\n\r\nabc\r\n  def",
    "only empty lines": b"From: joe@example.com\r\n\r\n\r\n \t\r\n\r\n",
}


@pytest.mark.parametrize("algorithm", list(KEYS))
@pytest.mark.parametrize("header", [b"relaxed", b"simple"])
@pytest.mark.parametrize("body", [b"relaxed", b"simple"])
@pytest.mark.parametrize("which", list(BODIES))
def test_dkimpy_verifies_ours_and_we_verify_dkimpys(algorithm, header, body, which):
    message = BODIES[which]
    for length in (False, True):
        field, whole = signed(message, algorithm, canonicalization_header=header,
                              canonicalization_body=body, body_length=length, timestamp=True,
                              expiration_relative=600)
        assert dkimpy.verify(whole, dnsfunc=dnsfunc), field
        assert result(whole, field) == "pass"
        selector, _ = KEYS[algorithm]
        key = base64.b64encode(ED_SEED) if selector == b"ed" else RSA_PEM
        theirs = dkimpy.sign(message, selector, DOMAIN, key, canonicalize=(header, body),
                             signature_algorithm=algorithm, length=length)
        assert result(theirs + message, theirs) == "pass"


def test_dkimpy_reads_our_oversigning_and_header_order():
    message = b"From: a@example.com\r\nSubject: one\r\nSubject: two\r\nTo: b@x\r\n\r\nbody\r\n"
    field, whole = signed(message, oversign_headers=(b"from", b"subject"))
    assert b"\th=to:subject:subject:from:from:subject;\r\n" in field
    assert dkimpy.verify(whole, dnsfunc=dnsfunc)
    for added in (b"Subject: three\r\n", b"From: mallory@example.net\r\n"):
        assert not dkimpy.verify(field + added + message, dnsfunc=dnsfunc)
        assert result(field + added + message, field) == \
            "permerror: signature did not verify"


# ------------------------------------------------------------------ the layout

def test_field_layout():
    field, whole = signed(MESSAGE, timestamp=1700000000, expiration=1700086400,
                          identity=b"joe@mail.example.com", body_length=True)
    lines = field.split(b"\r\n")
    assert lines[0] == (b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; "
                        b"t=1700000000; x=1700086400;")
    assert re.fullmatch(rb"\td=example\.com; s=rsa; i=joe@mail\.example\.com; l=\d+;", lines[1])
    assert lines[2] == b"\th=message-id:date:subject:to:from:from;"
    assert re.fullmatch(rb"\tbh=[A-Za-z0-9+/]{43}=;", lines[3])
    assert lines[4].startswith(b"\tb=") and lines[-1] == b""
    b_lines = lines[4:-1]
    assert all(len(line) <= 80 and line.startswith(b"\t") for line in b_lines)
    assert all(len(line) == 80 for line in b_lines[:-1])
    assert len(base64.b64decode(b"".join(line.strip() for line in b_lines)[2:])) == 256
    assert int(D.verify(whole, field, lookup, now=1700000001)["tags"][b"l"]) == \
        D.body_hash(MESSAGE.split(b"\r\n\r\n", 1)[1], True, "sha256")[1]


def test_layout_without_optional_tags_and_a_long_h_list():
    names = tuple(b"x-header-number-%d" % i for i in range(12))
    message = b"".join(n + b": v\r\n" for n in names) + b"From: a@example.com\r\n\r\nb\r\n"
    field, whole = signed(message, algorithm=b"ed25519-sha256", additional_headers=names,
                          canonicalization_header=b"simple", canonicalization_body=b"simple")
    lines = field.split(b"\r\n")
    assert lines[0] == b"DKIM-Signature: v=1; a=ed25519-sha256; c=simple/simple;"
    assert lines[1] == b"\td=example.com; s=ed;"
    h_lines = [line for line in lines if not line.startswith((b"\tb", b"DKIM", b"\td"))]
    assert len(h_lines) > 1 and all(len(line) <= 80 for line in h_lines)
    assert dkimpy.verify(whole, dnsfunc=dnsfunc)
    assert result(whole, field) == "pass"


def test_arc_message_signature():
    field, whole = signed(MESSAGE, arc=2)
    assert field.startswith(b"ARC-Message-Signature: i=2; a=rsa-sha256; c=relaxed/relaxed;\r\n")
    assert result(whole, field) == "pass"
    r = D.verify(whole, field, lookup)
    assert r["tags"][b"i"] == b"2" and b"v" not in r["tags"]
    with pytest.raises(D.DKIMError, match="identity"):
        signed(MESSAGE, arc=1, identity=b"@example.com")
    with pytest.raises(D.DKIMError, match="ARC-Seal"):
        signed(MESSAGE, arc=1, additional_headers=(b"ARC-Seal",))
    with pytest.raises(D.DKIMError, match="instance"):
        signed(MESSAGE, arc=51)


# ------------------------------------------------------------------- options

def test_headers_additional_and_oversigned():
    field, _ = signed(MESSAGE, headers=(b"Subject", b"TO"), oversign_headers=())
    assert b"\th=subject:to:from;\r\n" in field     # From is always signed
    field, _ = signed(MESSAGE, headers=(b"from",), additional_headers=(b"received",),
                      oversign_headers=(b"from", b"to"))
    assert b"\th=from:received:from:to;\r\n" in field
    field, whole = signed(MESSAGE, headers=(b"x-absent", b"from"))
    assert b"\th=from:from;\r\n" in field
    assert result(whole, field) == "pass"


def test_timestamps():
    before = int(time.time())
    field, whole = signed(MESSAGE, timestamp=True, expiration_relative=60)
    tags = D.verify(whole, field, lookup)["tags"]
    assert before <= int(tags[b"t"]) <= time.time() and int(tags[b"x"]) == int(tags[b"t"]) + 60
    field, _ = signed(MESSAGE, timestamp=1000, expiration_relative=5)
    assert b" t=1000; x=1005;\r\n" in field
    field, _ = signed(MESSAGE, expiration_relative=5)
    assert b" t=" not in field and b" x=" in field
    field, _ = signed(MESSAGE, timestamp=False)
    assert b" t=" not in field and b" x=" not in field
    with pytest.raises(D.DKIMError, match="later"):
        signed(MESSAGE, timestamp=2000, expiration=1000)
    field, whole = signed(MESSAGE, timestamp=1000, expiration=2000)
    assert result(whole, field, now=1500) == "pass"
    assert result(whole, field, now=2001) == "permerror: signature expired"
    assert not dkimpy.verify(whole, dnsfunc=dnsfunc)      # long expired for dkimpy too


def test_identity():
    for identity in (b"@example.com", b"joe@example.com", b"@sub.example.com"):
        field, whole = signed(MESSAGE, identity=identity)
        assert result(whole, field) == "pass" and dkimpy.verify(whole, dnsfunc=dnsfunc)
    for identity in (b"joe@example.org", b"joe@badexample.com", b"example.com"):
        with pytest.raises(D.DKIMError, match="identity"):
            signed(MESSAGE, identity=identity)


def test_options_from_hsl():
    o = D.SignOptions.from_hsl("signDKIM", HArray.from_pairs([
        (b"canonicalization_header", b"simple"), (b"canonicalization_body", b"Relaxed"),
        (b"algorithm", b"ed25519-sha256"), (b"headers", HArray.from_list([b"from", b"to"])),
        (b"additional_headers", HArray.from_list([b"x-a"])),
        (b"oversign_headers", HArray.from_list([])), (b"timestamp", 12.0),
        (b"expiration_relative", 30.0), (b"identity", b"@example.com"),
        (b"body_length", True), (b"return_header", True), (b"arc", None)]))
    assert o == D.SignOptions(canonicalization_header=b"simple",
                              canonicalization_body=b"relaxed", algorithm=b"ed25519-sha256",
                              headers=(b"from", b"to"), additional_headers=(b"x-a",),
                              oversign_headers=(), timestamp=12, expiration_relative=30,
                              identity=b"@example.com", body_length=True, return_header=True)
    assert D.SignOptions.from_hsl("signDKIM", None) == D.SignOptions()
    assert D.SignOptions.from_hsl("f", HArray.from_pairs([(b"timestamp", True),
                                                          (b"arc", 3.0)])).arc == 3
    for bad, message in (((b"algorithm", b"rsa-md5"), "must be rsa-sha256"),
                         ((b"canonicalization_body", b"nofws"), "must be relaxed or simple"),
                         ((b"headers", b"from"), "must be an array"),
                         ((b"headers", HArray.from_list([1.0])), "must hold strings"),
                         ((b"timestamp", b"now"), "boolean or a number"),
                         ((b"expiration", -1.0), ">= 0"),
                         ((b"body_length", 1.0), "must be a boolean"),
                         ((b"id", True), "Halon PKI")):
        with pytest.raises(ScriptError, match=message):
            D.SignOptions.from_hsl("signDKIM", HArray.from_pairs([bad]))
    with pytest.raises(ScriptError, match="signDKIM.*array"):
        D.SignOptions.from_hsl("signDKIM", b"x")


# ------------------------------------------------------------------- keys

def test_key_forms():
    from hsl.builtins.crypto import ed25519_privatekey, rsa_privatekey
    for key, algorithm in ((RSA_PEM, b"rsa-sha256"), (rsa_privatekey(RSA_PEM), b"rsa-sha1"),
                           (RSA, b"rsa-sha256"), (ED_PEM, b"ed25519-sha256"),
                           (ed25519_privatekey(ED_PEM), b"ed25519-sha256")):
        selector = b"ed" if algorithm.startswith(b"ed") else b"rsa"
        field = D.sign(MESSAGE, selector, DOMAIN, key, opts(algorithm=algorithm))
        assert result(field + MESSAGE, field) == "pass"
    traditional = RSA.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
    assert result(MESSAGE, D.sign(MESSAGE, b"rsa", DOMAIN, traditional)) == "pass"


def test_unusable_keys():
    ec_pem = pem_of(ec.generate_private_key(ec.SECP256R1()))
    for key, algorithm, message in ((ED_PEM, b"rsa-sha256", "needs an RSA"),
                                    (RSA_PEM, b"ed25519-sha256", "needs an Ed25519"),
                                    (ec_pem, b"rsa-sha256", "needs an RSA"),
                                    (b"not a key", b"rsa-sha256", "not a PEM"),
                                    (None, b"rsa-sha256", "needs an RSA")):
        with pytest.raises(D.DKIMError, match=message):
            D.sign(MESSAGE, b"s", DOMAIN, key, opts(algorithm=algorithm))
    with pytest.raises(ScriptError, match="Halon PKI"):
        D.sign(MESSAGE, b"s", DOMAIN, b"pki:dkim-key")
    for selector, domain in ((b"", DOMAIN), (b"a;b", DOMAIN), (b"s", b"example .com")):
        with pytest.raises(D.DKIMError, match="cannot go in a signature"):
            D.sign(MESSAGE, selector, domain, RSA_PEM)


# ------------------------------------------------------------------ tampering

def test_tampered_messages_fail():
    field, whole = signed(MESSAGE)
    assert result(whole, field) == "pass"
    cases = {
        "body": whole.replace(b"lost", b"won"),
        "body, an added line": whole + b"P.S.\r\n",
        "signed header": whole.replace(b"Subject:  Is dinner", b"Subject:  Is lunch"),
        "signed header's folding (simple)": None,
        "From added above": field + b"From: mallory@example.net\r\n" + MESSAGE,
        "field itself": whole.replace(b"c=relaxed/relaxed", b"c=relaxed/simple"),
    }
    del cases["signed header's folding (simple)"]
    for what, message in cases.items():
        f = field.replace(b"c=relaxed/relaxed", b"c=relaxed/simple") \
            if what == "field itself" else field
        assert result(message, f).startswith("permerror: "), what
        assert not dkimpy.verify(message, dnsfunc=dnsfunc), what
    # Not signed, or a change relaxed canonicalisation does not see: still a pass.
    for message in (whole.replace(b"Received: from a", b"Received: from z"),
                    field + b"Subject: added on top\r\n" + MESSAGE,
                    whole.replace(b"Subject:  Is dinner \t ready?", b"Subject: Is dinner ready?"),
                    whole.replace(b"Hi.  \r\n", b"Hi.\r\n"),
                    whole + b"\r\n\r\n"):
        assert result(message, field) == "pass"
        assert dkimpy.verify(message, dnsfunc=dnsfunc)


def test_simple_canonicalisation_sees_whitespace():
    field, whole = signed(MESSAGE, canonicalization_header=b"simple",
                          canonicalization_body=b"simple")
    assert result(whole.replace(b"Hi.  \r\n", b"Hi.\r\n"), field) == \
        "permerror: body hash did not verify"
    assert result(whole.replace(b"Subject:  Is", b"Subject: Is"), field) == \
        "permerror: signature did not verify"
    assert result(whole + b"\r\n", field) == "pass"        # empty lines at the end


def test_body_length():
    field, whole = signed(MESSAGE, body_length=True)
    # l= lets a mailing list append to the body: the signature still covers the rest.
    appended = whole + b"--\r\nTo unsubscribe, write to list@example.org\r\n"
    assert result(appended, field) == "pass" and dkimpy.verify(appended, dnsfunc=dnsfunc)
    assert result(whole.replace(b"Joe.", b"Moe."), field) == \
        "permerror: body hash did not verify"
    length = int(D.verify(whole, field, lookup)["tags"][b"l"])
    longer = field.replace(b"l=%d;" % length, b"l=%d;" % (length + 10))
    assert result(longer + MESSAGE + b"0123456789\r\n", longer) == \
        "permerror: body hash did not verify"
    truncated = whole[:whole.index(b"Joe.")]
    assert result(truncated, field) == \
        "permerror: the body is shorter than the body length (l=)"


# ---------------------------------------------------------------- line endings

def test_line_endings_are_read_as_crlf():
    lf = MESSAGE.replace(b"\r\n", b"\n")
    for header in (b"relaxed", b"simple"):
        for body in (b"relaxed", b"simple"):
            o = dict(canonicalization_header=header, canonicalization_body=body)
            field, _ = signed(lf, **o)
            assert field.endswith(b"\r\n") and b"\n\t" in field
            assert result(MESSAGE, field) == "pass"
            assert dkimpy.verify(field + MESSAGE, dnsfunc=dnsfunc)
            field, _ = signed(MESSAGE, **o)
            assert result(field.replace(b"\r\n", b"\n") + lf, field.replace(b"\r\n", b"\n")) \
                == "pass"
    # A bare CR is data, as dkimpy reads it.
    message = b"From: a@example.com\r\n\r\nab\rc\r\n"
    field, whole = signed(message, canonicalization_body=b"simple")
    assert dkimpy.verify(whole, dnsfunc=dnsfunc)
    assert result(whole.replace(b"\rc", b"\r\nc"), field).startswith("permerror")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200).map(lambda b: bytes(b" \t\r\na"[x % 5] for x in b)),
       st.booleans(), st.integers(1, 12))
def test_chunked_body_hash_matches_one_piece_and_dkimpy(body, relaxed, chunk):
    saved = D.BODY_CHUNK
    try:
        D.BODY_CHUNK = chunk
        chunked = D.body_hash(body, relaxed, "sha256")
        D.BODY_CHUNK = 1 << 30
        whole = D.body_hash(body, relaxed, "sha256")
    finally:
        D.BODY_CHUNK = saved
    assert chunked == whole
    wire = D.crlf(body)
    if wire.endswith(b"\n") and wire.count(b"\r") == wire.count(b"\n"):
        policy = dkimpy.CanonicalizationPolicy.from_c_value(
            b"simple/relaxed" if relaxed else b"simple/simple")
        assert whole[0] == hashlib.sha256(policy.canonicalize_body(wire)).digest()


def test_a_large_body():
    body = (b"line with  spaces \t\r\n" * 60000 + b"\r\n" * 1000 + b"last\n\n") * 3
    message = b"From: a@example.com\r\nSubject: big\r\n\r\n" + body
    for c in (b"relaxed", b"simple"):
        field, whole = signed(message, canonicalization_body=c, body_length=True)
        assert dkimpy.verify(whole, dnsfunc=dnsfunc)
        assert result(whole, field) == "pass"


# ---------------------------------------------------------------- verification

def record_lookup(record):
    return lambda name: [record]


def test_key_record_checks():
    field, whole = signed(MESSAGE)
    p = RECORDS["rsa._domainkey.example.com"].split(b"p=")[1]
    cases = {
        b"v=DKIM1; k=rsa; p=" + p: "pass",
        b"k=rsa; h=sha1:sha256; s=email; t=y; p=" + p: "pass",
        b"p=" + p + b"; v=DKIM1": "permerror: the key record is not a valid tag list",
        b"v=DKIM2; p=" + p: "permerror: unsupported key record version (v=)",
        b"v=DKIM1; k=ed25519; p=" + p: "permerror: the key type (k=) does not match the "
                                       "algorithm (a=)",
        b"v=DKIM1; h=sha1; p=" + p: "permerror: the key does not allow the hash algorithm (h=)",
        b"v=DKIM1; s=other; p=" + p: "permerror: the key is not for email (s=)",
        b"v=DKIM1; p=": "permerror: the key is revoked (empty p=)",
        b"v=DKIM1; k=rsa": "permerror: the key record has no p= tag",
        b"v=DKIM1; p=AAAA": "permerror: the key (p=) cannot be read",
        b"v=DKIM1; p=" + D.public_key_record(ED).split(b"p=")[1]:
            "permerror: the key (p=) cannot be read",
        b"v=DKIM1; p=" + p.replace(b"A", b"B", 5): "permerror: the key (p=) cannot be read",
    }
    for record, expected in cases.items():
        assert result(whole, field, record_lookup(record)) == expected, record
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert result(whole, field, record_lookup(D.public_key_record(other))) == \
        "permerror: signature did not verify"
    # Several records: the first that is a key record counts.
    assert result(whole, field, lambda n: [b"not a record", RECORDS[n]]) == "pass"


def test_strict_identity_flag():
    record = RECORDS["rsa._domainkey.example.com"].replace(b"k=rsa;", b"k=rsa; t=s;")
    field, whole = signed(MESSAGE, identity=b"joe@sub.example.com")
    assert result(whole, field, record_lookup(record)) == \
        "permerror: the key requires i= in d= itself (t=s)"
    field, whole = signed(MESSAGE, identity=b"joe@example.com")
    assert result(whole, field, record_lookup(record)) == "pass"


def test_small_rsa_keys_are_refused():
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    field = D.sign(MESSAGE, b"rsa", DOMAIN, small)
    assert result(MESSAGE, field, record_lookup(D.public_key_record(small))) == "pass"
    # A 768-bit key cannot be made with `cryptography`: a record claiming one is tested
    # through its DER (an RSA modulus of 768 bits).
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers
    weak = RSAPublicNumbers(65537, (1 << 767) + 12345).public_key()
    der = weak.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    assert result(MESSAGE, field, record_lookup(b"p=" + base64.b64encode(der))) == \
        "permerror: the RSA key has 768 bits, fewer than 1024"


def test_signature_field_checks():
    field, whole = signed(MESSAGE, identity=b"@example.com", timestamp=1000, expiration=2000)

    def edited(old, new):
        f = field.replace(old, new)
        return result(f + MESSAGE, f, now=1500)
    assert edited(b"v=1", b"v=2") == "permerror: unsupported signature version (v=)"
    assert edited(b"v=1; ", b"") == "permerror: the signature has no v= tag"
    assert edited(b"a=rsa-sha256", b"a=rsa-md5") == "permerror: unsupported algorithm rsa-md5"
    assert edited(b"c=relaxed/relaxed", b"c=nofws") == \
        "permerror: unsupported canonicalization (c=)"
    assert edited(b"i=@example.com", b"i=@example.org") == \
        "permerror: the identity (i=) is not in the signing domain (d=)"
    assert edited(b":from:from;", b";") == "permerror: the From field is not signed (h=)"
    assert edited(b"x=2000", b"x=999") == \
        "permerror: the expiration (x=) is earlier than the timestamp (t=)"
    assert edited(b"t=1000", b"t=soon") == "permerror: bad t= value"
    assert edited(b"\tbh=", b"\tbh=*") == "permerror: b= or bh= is not base64"
    assert edited(b"s=rsa;", b"s=rsa; q=dns/txt;") == "permerror: signature did not verify"
    assert edited(b"s=rsa;", b"s=rsa; q=http;") == "permerror: unsupported query method (q=)"
    assert edited(b"s=rsa;", b"s=nokey;") == \
        "permerror: no key for the signature (nokey._domainkey.example.com)"
    r = D.verify(MESSAGE, b"DKIM-Signature: v=1; a\r\n", lookup)
    assert r == {"result": "permerror", "error": "the signature is not a valid tag list"}
    r = D.verify(MESSAGE, b"Subject: v=1\r\n", lookup)
    assert r["result"] == "permerror" and "tags" not in r
    # The field as given (no final CRLF, LF line endings) is the same field.
    assert result(whole, field.rstrip(b"\r\n"), now=1500) == "pass"
    assert result(whole, field.replace(b"\r\n", b"\n"), now=1500) == "pass"


def test_dkim_signature_fields_can_be_signed():
    first, whole = signed(MESSAGE)
    second = D.sign(whole, b"ed", DOMAIN, ED_PEM,
                    opts(algorithm=b"ed25519-sha256", additional_headers=(b"dkim-signature",)))
    assert b"dkim-signature" in second
    both = second + whole
    assert result(both, first) == "pass" and result(both, second) == "pass"
    assert dkimpy.verify(both, dnsfunc=dnsfunc)
    assert result(second + first.replace(b"a=rsa", b"a=RSA") + MESSAGE, second) == \
        "permerror: signature did not verify"


def test_result_to_hsl():
    field, whole = signed(MESSAGE)
    out = D.result_to_hsl(D.verify(whole, field, lookup))
    assert out.d[b"result"] == b"pass" and b"error" not in out.d
    assert out.d[b"tags"].d[b"s"] == b"rsa"
    out = D.result_to_hsl(D.verify(whole, b"X: y\r\n", lookup))
    assert set(out.d) == {b"result", b"error"}


# -------------------------------------------------------------------- lookups

@pytest.fixture
def table():
    saved = resolver.backend()
    yield lambda t: resolver.configure(resolver.MockBackend(t))
    resolver.configure(saved)


def test_the_runs_resolver(table):
    """--dns-table: the run's resolver is a MockBackend."""
    field, whole = signed(MESSAGE)
    table({"rsa._domainkey.example.com": {"txt": [RECORDS["rsa._domainkey.example.com"]
                                                  .decode()]}})
    assert result(whole, field, None) == "pass"
    assert resolver.backend().queries == [("rsa._domainkey.example.com", "txt")]
    table({})
    assert result(whole, field, None) == \
        "permerror: no key for the signature (rsa._domainkey.example.com)"
    table({"rsa._domainkey.example.com": {"a": ["192.0.2.1"]}})     # NODATA
    assert result(whole, field, None).startswith("permerror: no key")
    for error in ("SERVFAIL", "TRY_AGAIN", "REFUSED"):
        table({"rsa._domainkey.example.com": error})
        assert result(whole, field, None) == f"temperror: key lookup failed: {error}"


def test_a_dns_server():
    """--dns-server: a real DNS exchange, the TXT record split in strings of 255."""
    field, whole = signed(MESSAGE)
    record = RECORDS["rsa._domainkey.example.com"].decode()
    zone = {"rsa._domainkey.example.com": {"txt": [txt_zone(record)]},
            "broken._domainkey.example.com": "SERVFAIL"}
    saved = resolver.backend()
    with DnsServer(zone) as srv:
        try:
            resolver.configure(resolver.DnsPythonBackend([srv.address]))
            assert result(whole, field, D.resolver_lookup(2)) == "pass"
            f = field.replace(b"s=rsa;", b"s=broken;")
            assert result(f + MESSAGE, f, D.resolver_lookup(2)) == \
                "temperror: key lookup failed: SERVFAIL"
        finally:
            resolver.configure(saved)


def test_the_runs_time_limit_bounds_the_lookup():
    field, whole = signed(MESSAGE)
    saved = resolver.backend()
    outcome = {}

    def run():
        ex = runtime.Execution(None, lambda b: None, None, 0.5, 100)
        execution._current.execution = ex
        try:
            outcome["result"] = D.verify(whole, field, D.resolver_lookup(5))
        except runtime.LimitExceeded as e:
            outcome["limit"] = e.message
        finally:
            execution._current.execution = None
    with DnsServer({"rsa._domainkey.example.com": "DROP"}) as srv:
        try:
            resolver.configure(resolver.DnsPythonBackend([srv.address]))
            started = time.monotonic()
            t = threading.Thread(target=run)
            t.start()
            t.join(10)
        finally:
            resolver.configure(saved)
    assert outcome == {"limit": "execution time limit exceeded"}
    assert time.monotonic() - started < 3


def test_a_dns_function():
    field, whole = signed(MESSAGE)
    asked = []

    def answer(host):
        asked.append(host)
        return HArray.from_pairs([(b"result", HArray.from_list(
            [RECORDS[host.decode()]]))])
    fn = HFunction("dns", answer, 1, 1)
    assert result(whole, field, D.function_lookup(fn)) == "pass"
    assert asked == [b"rsa._domainkey.example.com"]
    for error in (b"permerror", b"temperror"):
        fn = HFunction("dns", lambda h, e=error: HArray.from_pairs([(b"error", e)]), 1, 1)
        assert result(whole, field, D.function_lookup(fn)) == \
            f"{error.decode()}: key lookup failed: {error.decode()} (dns_function)"
    fn = HFunction("dns", lambda h: HArray.from_pairs([(b"result", HArray())]), 1, 1)
    assert result(whole, field, D.function_lookup(fn)).startswith("permerror: no key")
    # Halon's own DMARC tests answer with one TXT string, and with errors of their own
    # making: those are permerrors.
    fn = HFunction("dns", lambda h: HArray.from_pairs(
        [(b"result", RECORDS[h.decode()])]), 1, 1)
    assert result(whole, field, D.function_lookup(fn)) == "pass"
    for error in (b"permfail", b"NXDOMAIN"):
        fn = HFunction("dns", lambda h, e=error: HArray.from_pairs([(b"error", e)]), 1, 1)
        assert result(whole, field, D.function_lookup(fn)) == \
            f"permerror: key lookup failed: {error.decode()} (dns_function)"
    for bad in (None, b"v=DKIM1", HArray.from_pairs([(b"error", 1.0)]),
                HArray.from_pairs([(b"result", HArray.from_list([1.0]))])):
        fn = HFunction("dns", lambda h, b=bad: b, 1, 1)
        with pytest.raises(ScriptError, match="verifyDKIM.*dns_function"):
            D.verify(whole, field, D.function_lookup(fn))


# ------------------------------------------------------------------- OpenDKIM

def txt_zone(record: str) -> str:
    """A TXT record in zone-file text: quoted strings of at most 255 bytes."""
    return " ".join('"%s"' % record[i:i + 255] for i in range(0, len(record), 255))


OPENDKIM = shutil.which("opendkim-testmsg") or "/usr/sbin/opendkim-testmsg"
GENKEY = shutil.which("opendkim-genkey") or "/usr/sbin/opendkim-genkey"
DNS_ADDRESS = "127.53.75.73"        # a loopback address of its own, for port 53


@pytest.fixture(scope="module")
def opendkim(tmp_path_factory):
    """opendkim-testmsg verifying through a local DNS server: it reads /etc/resolv.conf
    (no port there), so it runs in a mount namespace where that file names the server on
    port 53 of DNS_ADDRESS.  Needs root (unshare, mount, port 53)."""
    if not (os.path.exists(OPENDKIM) and os.path.exists(GENKEY) and shutil.which("unshare")):
        pytest.skip("opendkim-tools (opendkim-testmsg, opendkim-genkey) or unshare missing")
    if os.geteuid() != 0:
        pytest.skip("the OpenDKIM tests need root (a mount namespace, port 53)")
    d = tmp_path_factory.mktemp("opendkim")
    subprocess.run([GENKEY, "--bits=2048", "--hash-algorithms=sha1:sha256",
                    "--domain=example.com", "--selector=od", f"--directory={d}"], check=True)
    pem = (d / "od.private").read_bytes()
    record = "".join(re.findall(r'"([^"]*)"', (d / "od.txt").read_text()))
    zone = {"od._domainkey.example.com": {"txt": [txt_zone(record)]},
            "ed._domainkey.example.com": {"txt": [txt_zone(
                RECORDS["ed._domainkey.example.com"].decode())]}}
    (d / "resolv.conf").write_text(f"nameserver {DNS_ADDRESS}\noptions timeout:2 attempts:2\n")
    script = f"mount --bind {d / 'resolv.conf'} /etc/resolv.conf && exec {OPENDKIM} \"$@\""
    try:
        srv = DnsServer(zone, host=DNS_ADDRESS, port=53)
    except OSError as e:
        pytest.skip(f"no DNS server on {DNS_ADDRESS}:53: {e}")

    def testmsg(message: bytes, *args) -> tuple:
        p = subprocess.run(["unshare", "-m", "sh", "-c", script, "testmsg", *args],
                           input=message, capture_output=True, timeout=60)
        return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")
    testmsg.pem, testmsg.record, testmsg.keyfile = pem, record.encode(), str(d / "od.private")
    if "No signature" not in testmsg(b"From: a@example.com\r\nDate: Mon, 1 Jan 2024 00:00:00 "
                                     b"+0000\r\n\r\nx\r\n")[1]:
        srv.close()
        pytest.skip("opendkim-testmsg does not run in a mount namespace here")
    yield testmsg
    srv.close()


# opendkim-testmsg signs only messages that have a Date field.
OD_MESSAGE = MESSAGE.replace(b"Received: from a.example.net by b.example.org; "
                             b"Mon, 1 Jan 2024 00:00:01 +0000\r\n", b"")


@pytest.mark.parametrize("algorithm", list(KEYS))
def test_opendkim_verifies_ours(opendkim, algorithm):
    for header in (b"relaxed", b"simple"):
        for body in (b"relaxed", b"simple"):
            for message in (OD_MESSAGE, OD_MESSAGE.replace(b"\r\n", b"\n")):
                key = opendkim.pem if algorithm.startswith(b"rsa") else ED_PEM
                selector = b"od" if algorithm.startswith(b"rsa") else b"ed"
                field = D.sign(message, selector, DOMAIN, key,
                               opts(algorithm=algorithm, canonicalization_header=header,
                                    canonicalization_body=body, body_length=True,
                                    timestamp=True, expiration_relative=3600,
                                    identity=b"joe@example.com"))
                if b"\r\n" not in message:      # OpenDKIM takes one kind of line end
                    field = field.replace(b"\r\n", b"\n")
                assert opendkim(field + message) == (0, ""), (header, body, message[-5:])
    # The same signature on a changed body: "Bad signature" or, with l=, "Unable to verify".
    code, output = opendkim(field + message.replace(b"lost", b"won"))
    assert code != 0 and re.search("Bad signature|Unable to verify", output)


def test_we_verify_opendkims(opendkim):
    for message in (OD_MESSAGE, OD_MESSAGE.replace(b"\r\n", b"\n")):
        p = subprocess.run([OPENDKIM, "-C", "-d", "example.com", "-s", "od",
                            "-k", opendkim.keyfile], input=message, capture_output=True,
                           check=True)
        out = p.stdout      # the signature field (CRLF, -C) then the message as given
        field = out[:out.index(b"\nFrom:") + 1]
        assert field.startswith(b"DKIM-Signature: v=1; a=rsa-sha1; c=relaxed/simple;")
        assert out[len(field):] == message
        assert result(out, field, record_lookup(opendkim.record)) == "pass"
        assert result(out.replace(b"lost", b"won"), field,
                      record_lookup(opendkim.record)) == "permerror: body hash did not verify"
