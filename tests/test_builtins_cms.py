"""cms_verify(): CMS SignedData made by `cryptography` (cms_sign, detached or embedded,
with and without signed attributes, RSA and EC signers) and by the openssl command
(RSA-PSS, as an independent signer), checked signatures, digests and chains, tampering;
and cms_type().  The results are shaped as Halon's (`result`, `signers` as
X509Resources, `data`), as its S/MIME module reads them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from hsl.builtins import FUNCTIONS, load_all
from hsl.builtins.x509 import X509Object, X509Resource
from hsl.errors import ScriptError
from hsl.runtime.values import HArray

sys.path.insert(0, os.path.dirname(__file__))
import certs  # noqa: E402

load_all()
PKI = certs.pki()
TEXT = b"Content-Type: text/plain\r\n\r\nsigned text\r\n"


def F(name, *args):
    return FUNCTIONS[name].fn(*args)


def x509(cert):
    return X509Object(X509Resource(cert))


def certificates(certs_=(), store=()):
    return HArray.from_pairs([(b"certs", HArray.from_list([x509(c) for c in certs_])),
                              (b"store", HArray.from_list([x509(c) for c in store]))])


def sign(message=TEXT, cert=PKI.leaf, key=PKI.leaf_key, chain=(PKI.intermediate,),
         options=(pkcs7.PKCS7Options.DetachedSignature,), encoding=serialization.Encoding.DER):
    b = pkcs7.PKCS7SignatureBuilder().set_data(message).add_signer(cert, key, hashes.SHA256())
    for c in chain:
        b = b.add_certificate(c)
    return b.sign(encoding, list(options))


def verify(signature, message=TEXT, certs_=(), store=(PKI.root,), **options):
    return F("cms_verify", signature, message, certificates(certs_, store),
             HArray.from_pairs([(k.encode(), v) for k, v in options.items()]))


def test_detached_signature():
    r = verify(sign())
    assert r.d[b"result"] is True and b"error" not in r.d and b"data" not in r.d
    signers = list(r.d[b"signers"].values())
    assert all(type(s) is X509Resource for s in signers)
    assert [s.cert for s in signers] == [PKI.leaf]
    assert verify(sign(), data=True).d[b"data"] == TEXT
    # cms_sign's own output, certificates from `certs` instead of embedded ones
    bundle = HArray.from_pairs([(b"x509", x509(PKI.leaf)),
                                (b"privatekey", F("ec_privatekey", certs.leaf_key_pem()))])
    signed = F("cms_sign", TEXT, bundle, HArray.from_pairs([(b"digest", b"sha384")]))
    assert signed.d[b"result"] is True
    sig = signed.d[b"data"]
    assert verify(sig).d[b"result"] is False          # the intermediate is missing
    assert verify(sig, certs_=[PKI.intermediate]).d[b"result"] is True


def test_embedded_signature_and_pem():
    sig = sign(options=(), encoding=serialization.Encoding.PEM)
    assert sig.startswith(b"-----BEGIN PKCS7-----")
    r = verify(sig, None, data=True)
    assert r.d[b"result"] is True and r.d[b"data"] == TEXT
    assert verify(sig, TEXT).d[b"result"] is True and b"data" not in verify(sig, TEXT).d
    # detached false: the embedded content, whatever message is given (Halon's S/MIME
    # module passes "")
    assert verify(sig, b"", detached=False, data=True).d[b"data"] == TEXT


def test_rsa_signer_without_attributes():
    key = certs.new_key("rsa")
    cert = certs.build_cert("rsa.example.com", key, PKI.root, PKI.root_key)
    for options in ((pkcs7.PKCS7Options.DetachedSignature,),
                    (pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.NoAttributes)):
        sig = sign(cert=cert, key=key, chain=(), options=options)
        assert verify(sig).d[b"result"] is True
        assert verify(sig, TEXT + b"x").d[b"error"] in (b"message digest mismatch",
                                                         b"signature failure")


def error(r):
    assert r.d[b"result"] is False
    return r.d[b"error"].decode()


def test_failures():
    sig = sign()
    assert error(verify(sig, b"other text")) == "message digest mismatch"
    assert error(verify(sig, store=[PKI.selfsigned])) == \
        "certificate verify error: unable to get local issuer certificate"
    assert error(verify(sig, store=[])) == \
        "certificate verify error: unable to get local issuer certificate"
    assert verify(sig, store=[], noverify=True).d[b"result"] is True
    assert error(verify(sig, None)) == "detached signature and no message"
    assert error(verify(b"junk")) == "not a CMS SignedData structure"
    assert error(verify(sign(chain=()))) == \
        "certificate verify error: unable to get local issuer certificate"
    # another certificate with the same key id: the signer is not found
    other = sign(cert=PKI.client, key=PKI.client_key)
    assert error(verify(other[:-72] + sig[-72:])) in ("signature failure",
                                                      "not a CMS SignedData structure")
    expired_key = certs.new_key()
    expired = certs.build_cert("old.example.com", expired_key, PKI.intermediate,
                               PKI.intermediate_key, not_before=certs.now() - 9 * certs.DAY,
                               not_after=certs.now() - certs.DAY)
    assert error(verify(sign(cert=expired, key=expired_key))) == \
        "certificate verify error: certificate has expired"
    r = verify(sign(cert=expired, key=expired_key))
    assert [s.cert for s in r.d[b"signers"].values()] == [expired]


def test_a_changed_signature_fails():
    sig = bytearray(sign(options=(pkcs7.PKCS7Options.DetachedSignature,
                                  pkcs7.PKCS7Options.NoAttributes)))
    sig[-5] ^= 1                    # inside the ECDSA signature value
    assert error(verify(bytes(sig))) in ("signature failure", "not a CMS SignedData structure")


def test_arguments():
    with pytest.raises(ScriptError, match="cms_verify.*argument 1"):
        F("cms_verify", None, None, HArray())
    with pytest.raises(ScriptError, match="cms_verify.*argument 3"):
        F("cms_verify", b"x", None, b"certs")
    with pytest.raises(ScriptError, match="must hold X509"):
        F("cms_verify", b"x", None, HArray.from_pairs([(b"store", HArray.from_list([1.0]))]))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_openssl_signatures_rsa_pss(tmp_path):
    """The openssl command as an independent signer (RSA-PSS, SHA-384, embedded)."""
    key = certs.new_key("rsa")
    cert = certs.build_cert("pss.example.com", key, PKI.root, PKI.root_key)
    certs.write_pem(tmp_path / "cert.pem", cert)
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (tmp_path / "msg").write_bytes(TEXT)
    for args in (["-keyopt", "rsa_padding_mode:pss", "-md", "sha384", "-nodetach"],
                 ["-md", "sha256"]):
        p = subprocess.run(["openssl", "cms", "-sign", "-binary", "-in", tmp_path / "msg",
                            "-signer", tmp_path / "cert.pem", "-inkey", tmp_path / "key.pem",
                            "-outform", "DER", *args], capture_output=True, check=True)
        embedded = "-nodetach" in args
        r = verify(p.stdout, None if embedded else TEXT)
        assert r.d[b"result"] is True, r.d.get(b"error")
        if embedded:
            assert verify(p.stdout, None, data=True).d[b"data"] == TEXT
        assert error(verify(p.stdout, TEXT[:-1])) == "message digest mismatch"


def test_cms_type():
    assert F("cms_type", sign()) == b"pkcs7-signedData"
    assert F("cms_type", sign(options=(), encoding=serialization.Encoding.PEM)) == \
        b"pkcs7-signedData"
    enveloped = pkcs7.PKCS7EnvelopeBuilder().set_data(TEXT).add_recipient(
        certs.build_cert("rsa.example.com", certs.new_key("rsa"), PKI.root, PKI.root_key)
    ).encrypt(serialization.Encoding.DER, [])
    assert F("cms_type", enveloped) == b"pkcs7-envelopedData"
    assert F("cms_type", b"junk") is None and F("cms_type", b"") is None
    with pytest.raises(ScriptError, match="cms_type.*argument 1"):
        F("cms_type", None)


def test_messages_are_signed_and_encrypted_as_they_are():
    """No CRLF canonicalisation: an LF message comes back byte for byte (Halon's S/MIME
    module signs, encrypts and restores LF messages and compares the bodies)."""
    lf = b"Content-Type: text/plain\n\nline one\nline two\n"
    bundle = HArray.from_pairs([(b"x509", x509(PKI.leaf)),
                                (b"privatekey", F("ec_privatekey", certs.leaf_key_pem()))])
    opts = HArray.from_pairs([(b"detached", False)])
    signed = F("cms_sign", lf, bundle, opts).d[b"data"]
    assert verify(signed, None, certs_=[PKI.intermediate], data=True).d[b"data"] == lf
    detached = F("cms_sign", lf, bundle).d[b"data"]
    assert verify(detached, lf, certs_=[PKI.intermediate]).d[b"result"] is True
    key = certs.new_key("rsa")
    cert = certs.build_cert("rsa.example.com", key, PKI.root, PKI.root_key)
    enc = F("cms_encrypt", lf, HArray.from_pairs([(b"certs", HArray.from_list([x509(cert)]))]))
    rsa_pki = HArray.from_pairs([(b"x509", x509(cert)), (b"privatekey", F(
        "rsa_privatekey", key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())))])
    assert F("cms_decrypt", enc.d[b"data"], rsa_pki).d[b"data"] == lf
