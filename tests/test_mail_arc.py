"""hsl.mail.arc: ARC sets (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results)
with instance numbers and cv= chains, checked with dkimpy's ARC signer and verifier both
ways, chains mixing both, and broken or tampered chains.
"""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from hsl.mail import arc as A
from hsl.mail import dkim as D

dkimpy = pytest.importorskip("dkim")

RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = RSA.private_bytes(serialization.Encoding.PEM,
                        serialization.PrivateFormat.TraditionalOpenSSL,
                        serialization.NoEncryption())
ED = ed25519.Ed25519PrivateKey.generate()
RECORDS = {"arc._domainkey.example.org": D.public_key_record(RSA),
           "ed._domainkey.example.org": D.public_key_record(ED)}
MESSAGE = (b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA\r\n"
           b"From: Joe <joe@example.com>\r\nTo: list@example.org\r\nSubject: hello\r\n"
           b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\n"
           b"Hello  world\r\n\r\n")


def lookup(name):
    return [RECORDS[name]] if name in RECORDS else []


def dnsfunc(name, timeout=5):
    return RECORDS.get(name.decode().rstrip("."))


def ours(message, results=b"mx.example.org; spf=pass smtp.mailfrom=example.com", **kw):
    return A.seal(message, b"arc", b"example.org", PEM, results, lookup=lookup, **kw) + message


def theirs(message, srv_id=b"mx.example.org", result=b"spf=pass smtp.mailfrom=example.com"):
    message = b"Authentication-Results: %s; %s\r\n" % (srv_id, result) + message
    return b"".join(dkimpy.arc_sign(message, b"arc", b"example.org", PEM, srv_id)) + message


def dkimpy_cv(message):
    return dkimpy.arc_verify(message, dnsfunc=dnsfunc)[0]


def cv(message):
    return A.validate(message, lookup)


def test_first_set():
    sealed = ours(MESSAGE, timestamp=1700000000)
    lines = sealed.split(b"\r\n")
    assert lines[0] == b"ARC-Seal: i=1; a=rsa-sha256; t=1700000000; cv=none;"
    assert lines[1] == b"\td=example.org; s=arc;"
    assert lines[2].startswith(b"\tb=")
    assert b"\r\nARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed;\r\n" in sealed
    assert (b"\r\nARC-Authentication-Results: i=1; mx.example.org; spf=pass "
            b"smtp.mailfrom=example.com\r\nDKIM-Signature:") in sealed
    assert dkimpy_cv(sealed) == b"pass"
    assert cv(sealed) == {"cv": "pass", "instance": 1}
    assert cv(MESSAGE) == {"cv": "none", "instance": 0}


def test_chains_of_ours_and_dkimpys():
    chain = MESSAGE
    for i, sealer in enumerate((ours, theirs, ours, ours, theirs), start=1):
        hop, results = b"hop%d.example" % i, b"arc=pass" if i > 1 else b"spf=pass"
        chain = theirs(chain, hop, results) if sealer is theirs else \
            ours(chain, hop + b"; " + results)
        assert dkimpy_cv(chain) == b"pass", i
        assert cv(chain) == {"cv": "pass", "instance": i}
    # cv= was worked out by validating the chain before sealing it.
    assert chain.count(b"cv=pass") == 4 and chain.count(b"cv=none") == 1


def test_dkimpy_only_chain():
    chain = theirs(theirs(MESSAGE), srv_id=b"mx2.example.org", result=b"arc=pass")
    assert dkimpy_cv(chain) == b"pass" and cv(chain) == {"cv": "pass", "instance": 2}


def test_other_message_signature_options():
    options = D.SignOptions(canonicalization_body=b"simple", headers=(b"from", b"subject"),
                            oversign_headers=(b"from", b"subject"), identity=b"@ignored")
    sealed = ours(MESSAGE, options=options)
    assert b"c=relaxed/simple;" in sealed and b"h=subject:from:from:subject;" in sealed
    assert dkimpy_cv(sealed) == b"pass" and cv(sealed)["cv"] == "pass"
    # ed25519: dkimpy seals and verifies rsa-sha256 only; our own validation reads it.
    sealed = A.seal(MESSAGE, b"ed", b"example.org", ED, b"mx.example.org; arc=none",
                    options=D.SignOptions(algorithm=b"ed25519-sha256")) + MESSAGE
    assert cv(sealed) == {"cv": "pass", "instance": 1}


def test_tampering_breaks_the_chain():
    chain = ours(ours(MESSAGE), b"mx2.example.org; arc=pass")
    for what, broken in (("body", chain.replace(b"Hello", b"Hallo")),
                         ("signed header", chain.replace(b"Subject: hello", b"Subject: hi")),
                         ("older results", chain.replace(b"i=1; mx.example.org; spf=pass",
                                                         b"i=1; mx.example.org; spf=fail")),
                         ("older seal's cv", chain.replace(b"cv=none", b"cv=pass"))):
        assert dkimpy_cv(broken) == b"fail", what
        assert cv(broken)["cv"] == "fail", what
    assert "body hash" in cv(chain.replace(b"Hello", b"Hallo"))["error"]


def test_a_changed_body_then_a_pass_seal():
    """Only the newest ARC-Message-Signature must verify: a forwarder that changes the
    body and vouches for the chain it received (cv=pass) keeps the chain valid."""
    first = ours(MESSAGE)
    changed = first.replace(b"Hello  world", b"Hello world [list footer]")
    assert cv(changed)["cv"] == "fail"
    passed = ours(changed, b"list.example.org; arc=pass", cv=b"pass")
    assert dkimpy_cv(passed) == b"pass" and cv(passed)["cv"] == "pass"
    # Without cv, the broken chain is found and sealed as failed: that ends the chain.
    failed = ours(changed, b"list.example.org; arc=fail")
    assert b"i=2; a=rsa-sha256; " in failed and b"cv=fail;" in failed
    assert dkimpy_cv(failed) != b"pass"
    assert cv(failed) == {"cv": "fail", "instance": 2,
                          "error": "the ARC-Seal of instance 2 says cv=fail"}


def test_broken_structures():
    chain = ours(ours(MESSAGE), b"mx2.example.org; arc=pass")
    fields, _ = D.split_message(chain)
    aar1 = next(f.raw for f in fields if f.raw.startswith(b"ARC-Authentication-Results: i=1"))
    cases = {
        "a set without its results": (chain.replace(aar1, b""), "incomplete"),
        "a field twice": (aar1 + chain, "two arc-authentication-results fields"),
        "no instance": (b"ARC-Seal: cv=none; a=rsa-sha256\r\n" + chain, "without an instance"),
        "a gap": (chain.replace(b"i=1;", b"i=3;"), "instance 1 is incomplete"),
    }
    for what, (message, error) in cases.items():
        r = cv(message)
        assert r["cv"] == "fail" and error in r["error"], what
        # dkimpy skips an ARC field without i=; RFC 8617 5.2 makes an invalid set a fail.
        if what != "no instance":
            assert dkimpy_cv(message) != b"pass", what


def test_seal_refusals():
    with pytest.raises(D.DKIMError, match="cv=none is for the first"):
        ours(MESSAGE, cv=b"pass")
    with pytest.raises(D.DKIMError, match="cv=none is for the first"):
        ours(ours(MESSAGE), cv=b"none")
    with pytest.raises(D.DKIMError, match="cv must be"):
        ours(MESSAGE, cv=b"maybe")
    with pytest.raises(D.DKIMError, match="one line"):
        ours(MESSAGE, b"mx.example.org;\r\n spf=pass")
    chain = MESSAGE
    for _ in range(50):
        chain = A.seal(chain, b"arc", b"example.org", PEM, b"mx; arc=pass",
                       cv=b"none" if chain is MESSAGE else b"pass") + chain
    assert cv(chain) == {"cv": "pass", "instance": 50}
    with pytest.raises(D.DKIMError, match="50 ARC sets"):
        ours(chain)
    broken = chain.replace(b"ARC-Seal: i=7;", b"ARC-Seal: i=x;")
    with pytest.raises(D.DKIMError, match="broken ARC chain"):
        ours(broken, cv=b"pass")
