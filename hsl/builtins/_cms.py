"""CMS SignedData verification (RFC 5652 section 5) for cms_verify().

`cryptography` signs and decrypts CMS but cannot verify it, so the structure is read with
asn1crypto and every check is made with `cryptography`: each SignerInfo's certificate
(by issuer and serial number or subject key identifier, from the embedded certificates
and the caller's `certs`), its signed attributes (content-type, and message-digest
against the content), its signature (RSA PKCS#1 v1.5 or PSS, ECDSA, Ed25519) and, when a
trust store is given, the certificate's chain to it (hsl.builtins.x509.verify_chain,
OpenSSL's rules; embedded and `certs` certificates serve as intermediates).
"""
from __future__ import annotations

import hashlib
from typing import Optional


class CMSError(Exception):
    """The signature does not verify; `signers` are the certificates found so far."""

    def __init__(self, message: str, signers=()):
        super().__init__(message)
        self.signers = list(signers)


_HASHES = ("sha1", "sha224", "sha256", "sha384", "sha512")


def _hash(name: str):
    from cryptography.hazmat.primitives import hashes
    if name not in _HASHES:
        raise CMSError(f"unsupported digest algorithm {name}")
    return getattr(hashes, name.upper())()


def _load(signature: bytes):
    from asn1crypto import cms, pem
    if pem.detect(signature):
        _, _, signature = pem.unarmor(signature)
    try:
        info = cms.ContentInfo.load(signature)
        if info["content_type"].native != "signed_data":
            raise CMSError("not a CMS SignedData structure")
        signed = info["content"]
        signed.native  # noqa: B018 -- parses all of it now: errors come here, not later
    except CMSError:
        raise
    except Exception:           # asn1crypto raises ValueError, TypeError...
        raise CMSError("not a CMS SignedData structure") from None
    return signed


def verify_signed_data(signature: bytes, message: Optional[bytes], certs: list,
                       store: Optional[list]) -> tuple:
    """(content, signer certificates) when every SignerInfo verifies (and, with
    `store`, every signer's chain); CMSError otherwise.  `certs` and `store` are
    `cryptography` Certificates; `message` is the detached content (None: embedded)."""
    from cryptography import x509
    signed = _load(signature)
    encap = signed["encap_content_info"]
    content_type = encap["content_type"].dotted
    if message is None:
        if encap["content"].native is None:
            raise CMSError("detached signature and no message")
        content = encap["content"].native
        content = content if isinstance(content, bytes) else encap["content"].contents
    else:
        content = message
    pool = list(certs)
    for c in signed["certificates"] or []:
        if c.name == "certificate":
            pool.append(x509.load_der_x509_certificate(c.chosen.dump()))
    signers = []
    if not len(signed["signer_infos"]):
        raise CMSError("no signers")
    for info in signed["signer_infos"]:
        cert = _signer_cert(info["sid"], pool)
        if cert is None:
            raise CMSError("signer certificate not found", signers)
        signers.append(cert)
        _check_signer(info, cert, content, content_type, signers)
        if store is not None:
            # deferred: x509 (cryptography.x509) only to verify a chain
            from .x509 import _MESSAGES, verify_chain
            code = verify_chain(cert, store, pool)
            if code:
                raise CMSError(f"certificate verify error: {_MESSAGES.get(code, code)}",
                               signers)
    return content, signers


def _signer_cert(sid, pool: list):
    from cryptography import x509
    for cert in pool:
        if sid.name == "issuer_and_serial_number":
            want = sid.chosen
            if (cert.serial_number == want["serial_number"].native
                    and cert.issuer.public_bytes() == want["issuer"].dump()):
                return cert
        else:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except x509.ExtensionNotFound:
                continue
            if ski.value.digest == sid.chosen.native:
                return cert
    return None


def _check_signer(info, cert, content: bytes, content_type: str, signers) -> None:
    digest_name = info["digest_algorithm"]["algorithm"].native
    _hash(digest_name)                  # a supported one
    attrs = info["signed_attrs"]
    if attrs.native is not None and len(attrs):
        found = {a["type"].native: a["values"] for a in attrs}
        types = found.get("content_type")
        if types is None or types[0].dotted != content_type:
            raise CMSError("content-type attribute missing or wrong", signers)
        digests = found.get("message_digest")
        if digests is None or digests[0].native != hashlib.new(digest_name, content).digest():
            raise CMSError("message digest mismatch", signers)
        # Signed over the DER of the attributes as a SET OF (RFC 5652 5.4), not as [0].
        data = b"\x31" + attrs.dump()[1:]
    else:
        data = content
    if not _signature_ok(info, cert.public_key(), digest_name, data):
        raise CMSError("signature failure", signers)


def _signature_ok(info, key, digest_name: str, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    algo = info["signature_algorithm"]
    kind = algo.signature_algo
    signature = info["signature"].native
    try:
        if kind == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), _hash(digest_name))
        elif kind == "rsassa_pss" and isinstance(key, rsa.RSAPublicKey):
            params = algo["parameters"]
            h = _hash(params["hash_algorithm"]["algorithm"].native)
            mgf = _hash(params["mask_gen_algorithm"]["parameters"]["algorithm"].native)
            key.verify(signature, data, padding.PSS(padding.MGF1(mgf),
                                                    params["salt_length"].native), h)
        elif kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(_hash(digest_name)))
        elif kind == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            raise CMSError(f"unsupported signature algorithm {kind}")
    except InvalidSignature:
        return False
    return True
