"""Real X.509 test certificates, made with `cryptography` (shared by the test modules).

Quick use:

    from tests import certs            # or `import certs` (tests/ is on sys.path)
    certs.ca_pem()                     # PEM bytes of the root CA
    certs.intermediate_pem()           # the intermediate CA (issued by the root)
    certs.leaf_pem()                   # a server/client leaf issued by the intermediate
    certs.leaf_chain_pem()             # leaf + intermediate, PEM concatenated
    certs.leaf_key_pem()               # the leaf's private key (PKCS#8 PEM, unencrypted)
    certs.expired_pem(), certs.selfsigned_pem(), certs.notyet_pem()
    paths = certs.write_pki(tmp_path)  # every certificate/key/CRL written as PEM files

`pki()` returns the whole (cached) set as a `PKI` with cryptography objects; `build_cert`,
`build_crl`, `new_key`, `to_pem` and `write_pem` make others.  Keys are EC P-256 (fast),
except the root CA, which is RSA 2048 so both key types are covered.
"""
from __future__ import annotations

import datetime
import functools
import ipaddress
import os
from dataclasses import dataclass
from typing import Iterable, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = datetime.timezone.utc
DAY = datetime.timedelta(days=1)


def now() -> datetime.datetime:
    return datetime.datetime.now(UTC).replace(microsecond=0)


def new_key(kind: str = "ec"):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def name(cn: str, *extra: tuple) -> x509.Name:
    """A Name of `extra` (oid, value) pairs followed by the common name."""
    attrs = [x509.NameAttribute(oid, value) for oid, value in extra]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def build_cert(subject, key, issuer_cert: Optional[x509.Certificate] = None, issuer_key=None,
               *, ca: bool = False, pathlen: Optional[int] = None,
               san_dns: Iterable[str] = (), san_ip: Iterable[str] = (),
               san_email: Iterable[str] = (), eku: Optional[list] = None,
               not_before: Optional[datetime.datetime] = None,
               not_after: Optional[datetime.datetime] = None,
               serial: Optional[int] = None, key_ids: bool = True,
               basic_constraints: bool = True, key_usage: bool = True) -> x509.Certificate:
    """A v3 certificate for `subject` (a Name or a common name) with public key of `key`,
    signed by `issuer_key` (default: `key`, self-signed) and named after `issuer_cert`."""
    if isinstance(subject, str):
        subject = name(subject)
    signer = issuer_key if issuer_key is not None else key
    issuer_name = issuer_cert.subject if issuer_cert is not None else subject
    nb = not_before or (now() - DAY)
    na = not_after or (now() + 365 * DAY)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
         .public_key(key.public_key())
         .serial_number(serial if serial is not None else x509.random_serial_number())
         .not_valid_before(nb).not_valid_after(na))
    if basic_constraints:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen), critical=True)
    if key_usage:
        if ca:
            ku = x509.KeyUsage(digital_signature=True, content_commitment=False,
                               key_encipherment=False, data_encipherment=False,
                               key_agreement=False, key_cert_sign=True, crl_sign=True,
                               encipher_only=False, decipher_only=False)
        else:
            ku = x509.KeyUsage(digital_signature=True, content_commitment=False,
                               key_encipherment=True, data_encipherment=False,
                               key_agreement=False, key_cert_sign=False, crl_sign=False,
                               encipher_only=False, decipher_only=False)
        b = b.add_extension(ku, critical=True)
    sans = ([x509.DNSName(d) for d in san_dns]
            + [x509.IPAddress(ipaddress.ip_address(i)) for i in san_ip]
            + [x509.RFC822Name(e) for e in san_email])
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if key_ids:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                            critical=False)
        aki_key = (issuer_cert.public_key() if issuer_cert is not None
                   else key.public_key())
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(aki_key),
                            critical=False)
    return b.sign(signer, hashes.SHA256())


def build_crl(issuer_cert: x509.Certificate, issuer_key, revoked: Iterable = (),
              *, last_update: Optional[datetime.datetime] = None,
              next_update: Optional[datetime.datetime] = None,
              number: int = 1) -> x509.CertificateRevocationList:
    """A CRL of `issuer_cert` signed by `issuer_key`; `revoked` holds serial numbers or
    (serial, x509.ReasonFlags or None) pairs."""
    lu = last_update or (now() - DAY)
    b = (x509.CertificateRevocationListBuilder().issuer_name(issuer_cert.subject)
         .last_update(lu).next_update(next_update or (now() + 30 * DAY))
         .add_extension(x509.CRLNumber(number), critical=False))
    for item in revoked:
        serial, reason = item if isinstance(item, tuple) else (item, None)
        rb = (x509.RevokedCertificateBuilder().serial_number(serial)
              .revocation_date(lu))
        if reason is not None:
            rb = rb.add_extension(x509.CRLReason(reason), critical=False)
        b = b.add_revoked_certificate(rb.build())
    return b.sign(issuer_key, hashes.SHA256())


def to_pem(obj) -> bytes:
    """PEM bytes of a certificate, a CRL or a private key."""
    if isinstance(obj, (x509.Certificate, x509.CertificateRevocationList)):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def to_der(obj) -> bytes:
    return obj.public_bytes(serialization.Encoding.DER)


def write_pem(path, *objs) -> str:
    """Write the PEM of `objs` (concatenated) to `path`; returns the path as a str."""
    path = os.fspath(path)
    with open(path, "wb") as f:
        for o in objs:
            f.write(to_pem(o))
    return path


@dataclass
class PKI:
    root: x509.Certificate
    root_key: object
    intermediate: x509.Certificate
    intermediate_key: object
    leaf: x509.Certificate                  # issued by intermediate; SANs DNS + IP
    leaf_key: object
    selfsigned: x509.Certificate
    selfsigned_key: object
    expired: x509.Certificate               # issued by intermediate, expired
    notyet: x509.Certificate                # issued by intermediate, not yet valid
    revoked: x509.Certificate               # issued by intermediate, listed in crl
    crl: x509.CertificateRevocationList     # intermediate's CRL revoking `revoked`
    root_crl: x509.CertificateRevocationList  # root's CRL (revokes nothing)
    forged_crl: x509.CertificateRevocationList  # claims the intermediate, signed by another key
    badsig: x509.Certificate                # names the intermediate, signed by another key
    noca_child: x509.Certificate            # issued by `leaf` (not a CA)
    client: x509.Certificate                # client cert (clientAuth) issued by intermediate
    client_key: object


LEAF_SERIAL = 0x0ABCDEF1
REVOKED_SERIAL = 0x1001


@functools.lru_cache(maxsize=None)
def pki() -> PKI:
    """The shared test PKI (made once per process)."""
    t = now()
    root_key = new_key("rsa")
    root = build_cert(name("HSL Test Root CA", (NameOID.COUNTRY_NAME, "SE"),
                           (NameOID.ORGANIZATION_NAME, "HSL Test")),
                      root_key, ca=True, not_after=t + 3650 * DAY, serial=1)
    int_key = new_key()
    intermediate = build_cert(name("HSL Test Intermediate CA", (NameOID.COUNTRY_NAME, "SE"),
                                   (NameOID.ORGANIZATION_NAME, "HSL Test")),
                              int_key, root, root_key, ca=True, pathlen=0, serial=2)
    leaf_key = new_key()
    leaf_name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Stockholm"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "Stockholm"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example AB"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Mail"),
        x509.NameAttribute(NameOID.COMMON_NAME, "mail.example.com"),
        x509.NameAttribute(NameOID.EMAIL_ADDRESS, "postmaster@example.com"),
    ])
    leaf = build_cert(leaf_name, leaf_key, intermediate, int_key,
                      san_dns=["mail.example.com", "mx.example.com"], san_ip=["192.0.2.25"],
                      eku=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
                      serial=LEAF_SERIAL, not_before=t - 2 * DAY, not_after=t + 90 * DAY)
    ss_key = new_key()
    selfsigned = build_cert("selfsigned.example.com", ss_key, san_dns=["selfsigned.example.com"])
    expired = build_cert("expired.example.com", new_key(), intermediate, int_key,
                         not_before=t - 400 * DAY, not_after=t - 10 * DAY,
                         san_dns=["expired.example.com"])
    notyet = build_cert("notyet.example.com", new_key(), intermediate, int_key,
                        not_before=t + 10 * DAY, not_after=t + 400 * DAY)
    revoked = build_cert("revoked.example.com", new_key(), intermediate, int_key,
                         serial=REVOKED_SERIAL)
    crl = build_crl(intermediate, int_key,
                    [(REVOKED_SERIAL, x509.ReasonFlags.key_compromise), 0x2002])
    root_crl = build_crl(root, root_key, [])
    other_key = new_key()
    forged_crl = build_crl(intermediate, other_key, [])
    badsig = build_cert("badsig.example.com", new_key(), intermediate, other_key)
    noca_child = build_cert("child.example.com", new_key(), leaf, leaf_key)
    client_key = new_key()
    client = build_cert(name("client.example.net", (NameOID.ORGANIZATION_NAME, "Client Org")),
                        client_key, intermediate, int_key, san_dns=["client.example.net"],
                        eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    return PKI(root, root_key, intermediate, int_key, leaf, leaf_key, selfsigned, ss_key,
               expired, notyet, revoked, crl, root_crl, forged_crl, badsig, noca_child,
               client, client_key)


def ca_pem() -> bytes:
    return to_pem(pki().root)


def intermediate_pem() -> bytes:
    return to_pem(pki().intermediate)


def leaf_pem() -> bytes:
    return to_pem(pki().leaf)


def leaf_key_pem() -> bytes:
    return to_pem(pki().leaf_key)


def leaf_chain_pem() -> bytes:
    """The leaf followed by the intermediate (what a TLS peer sends)."""
    return to_pem(pki().leaf) + to_pem(pki().intermediate)


def client_pem() -> bytes:
    return to_pem(pki().client)


def client_key_pem() -> bytes:
    return to_pem(pki().client_key)


def expired_pem() -> bytes:
    return to_pem(pki().expired)


def notyet_pem() -> bytes:
    return to_pem(pki().notyet)


def selfsigned_pem() -> bytes:
    return to_pem(pki().selfsigned)


def revoked_pem() -> bytes:
    return to_pem(pki().revoked)


def crl_pem() -> bytes:
    return to_pem(pki().crl)


def badsig_pem() -> bytes:
    return to_pem(pki().badsig)


def write_pki(directory) -> dict:
    """Write every certificate, key and CRL of `pki()` as PEM files into `directory`;
    returns {name: path}.  Names: ca.pem, intermediate.pem, leaf.pem, leaf.key,
    leaf-chain.pem (leaf + intermediate), client.pem, client.key, expired.pem, notyet.pem,
    selfsigned.pem, selfsigned.key, revoked.pem, badsig.pem, crl.pem, ca-bundle.pem (root +
    intermediate)."""
    p = pki()
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    files = {
        "ca.pem": [p.root], "intermediate.pem": [p.intermediate], "leaf.pem": [p.leaf],
        "leaf.key": [p.leaf_key], "leaf-chain.pem": [p.leaf, p.intermediate],
        "client.pem": [p.client], "client.key": [p.client_key],
        "expired.pem": [p.expired], "notyet.pem": [p.notyet],
        "selfsigned.pem": [p.selfsigned], "selfsigned.key": [p.selfsigned_key],
        "revoked.pem": [p.revoked], "badsig.pem": [p.badsig], "crl.pem": [p.crl],
        "ca-bundle.pem": [p.root, p.intermediate],
    }
    return {n: write_pem(os.path.join(directory, n), *objs) for n, objs in files.items()}
