"""Builtin classes X509 and X509CRL (hsl/builtins/x509.py), with real certificates made by
tests/certs.py: through the class registry and through HSL programs."""
import datetime
import ipaddress
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID, ObjectIdentifier

import certs
import hsl
from hsl.builtins import CLASSES, load_all
from hsl.builtins.x509 import (X509CRLResource, X509Resource, verify_chain,
                               x509_crl_resource_from_pem, x509_resource_from_der,
                               x509_resource_from_pem)
from hsl.errors import HSLRuntimeError, ScriptError
from hsl.runtime.values import HArray, to_python

load_all()
X509 = CLASSES["X509"].cls
X509CRL = CLASSES["X509CRL"].cls


def call(obj, name, *args):
    fn, lo, hi = type(obj).hsl_methods[name]
    assert lo <= len(args) and (hi is None or len(args) <= hi)
    return fn(obj, *args)


def static(cls, name, *args):
    fn, lo, hi = cls.hsl_statics[name]
    assert lo <= len(args) and (hi is None or len(args) <= hi)
    return fn(*args)


def cert(c) -> "X509":
    return static(X509, "String", certs.to_pem(c))


def crl(c) -> "X509CRL":
    return static(X509CRL, "String", certs.to_pem(c))


def lst(*items):
    return HArray.from_list(list(items))


def opts(**kw):
    return HArray.from_pairs([(k.encode(), v) for k, v in kw.items()])


def verify(leaf, calist=(), intermediates=None, crls=None):
    args = [lst(*[cert(c) for c in calist])]
    if intermediates is not None or crls is not None:
        args.append(lst(*[cert(c) for c in intermediates or ()]))
    if crls is not None:
        args.append(lst(*[crl(c) for c in crls]))
    return to_python(call(cert(leaf), "verify", *args))


P = certs.pki()


# ------------------------------------------------------------------ registry

def test_registered():
    assert CLASSES["X509"].min_args == 1 and CLASSES["X509"].max_args == 1
    assert set(X509.hsl_methods) == {
        "subject", "issuer", "subject_alt_name", "version", "serial_number",
        "not_valid_before", "not_valid_after", "public_key", "verify", "export",
        "extensions", "toResource", "toFFIValue"}
    assert set(X509.hsl_statics) == {"String"}
    assert X509.hsl_statics["String"][1:] == (1, 2)
    assert set(X509CRL.hsl_methods) == {
        "issuer", "revoked", "version", "last_update", "next_update", "export",
        "extensions", "toResource"}
    assert set(X509CRL.hsl_statics) == {"String"}


# ------------------------------------------------------------------ resources

def test_resources():
    r = x509_resource_from_pem(certs.leaf_pem())
    assert isinstance(r, X509Resource) and r.cert == P.leaf
    assert x509_resource_from_pem(certs.leaf_pem().decode()).cert == P.leaf
    assert X509Resource.from_pem(certs.leaf_pem()).cert == P.leaf
    assert x509_resource_from_der(certs.to_der(P.leaf)).cert == P.leaf
    assert X509Resource.from_der(certs.to_der(P.leaf)).cert == P.leaf
    assert r.to_cryptography() is r.cert
    with pytest.raises(ValueError):
        x509_resource_from_pem(b"not a certificate")
    with pytest.raises(ValueError):
        x509_resource_from_der(b"\x30\x03\x02\x01\x01")
    from hsl.runtime.values import type_name
    assert type_name(r) == "resource"
    c = x509_crl_resource_from_pem(certs.crl_pem())
    assert isinstance(c, X509CRLResource) and type_name(c) == "resource"


def test_constructor():
    r = x509_resource_from_pem(certs.leaf_pem())
    x = X509(r)
    assert call(x, "toResource") is r
    assert x.cert == P.leaf and x.to_cryptography() == P.leaf
    for bad in (b"pem", 1.0, None, HArray(), x):
        with pytest.raises(ScriptError, match="type"):
            X509(bad)
    cr = x509_crl_resource_from_pem(certs.crl_pem())
    c = X509CRL(cr)
    assert call(c, "toResource") is cr
    for bad in (b"pem", None, r):
        with pytest.raises(ScriptError, match="type"):
            X509CRL(bad)


def test_string():
    x = static(X509, "String", certs.leaf_pem())
    assert x.cert == P.leaf
    # the first certificate of a bundle
    assert static(X509, "String", certs.leaf_chain_pem()).cert == P.leaf
    der = certs.to_der(P.leaf)
    assert static(X509, "String", der, opts(pem=False)).cert == P.leaf
    assert static(X509, "String", certs.leaf_pem(), opts(pem=True)).cert == P.leaf
    assert static(X509, "String", der) is None
    assert static(X509, "String", certs.leaf_pem(), opts(pem=False)) is None
    assert static(X509, "String", b"") is None
    assert static(X509, "String", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n") is None
    with pytest.raises(ScriptError, match="type"):
        static(X509, "String", 1.0)
    with pytest.raises(ScriptError, match="type"):
        static(X509, "String", certs.leaf_pem(), b"pem")
    with pytest.raises(ScriptError, match="type"):
        static(X509, "String", certs.leaf_pem(), opts(pem=b"yes"))
    # multiple: the whole bundle, as a list (halon-extras bimi reads a VMC chain so)
    chain = static(X509, "String", certs.leaf_chain_pem(), opts(multiple=True))
    assert [x.cert for x in chain.values()] == [P.leaf, P.intermediate]
    assert static(X509, "String", b"junk", opts(multiple=True)) is None
    c = static(X509CRL, "String", certs.crl_pem())
    assert c.crl == P.crl
    assert static(X509CRL, "String", certs.to_der(P.crl), opts(pem=False)).crl == P.crl
    assert static(X509CRL, "String", certs.leaf_pem()) is None
    with pytest.raises(ScriptError, match="type"):
        static(X509CRL, "String", None)


# ------------------------------------------------------------------ methods

def test_subject_issuer():
    x = cert(P.leaf)
    assert to_python(call(x, "subject")) == [
        ["C", "SE"], ["ST", "Stockholm"], ["L", "Stockholm"], ["O", "Example AB"],
        ["OU", "Mail"], ["CN", "mail.example.com"], ["emailAddress", "postmaster@example.com"]]
    assert to_python(call(x, "issuer")) == [
        ["C", "SE"], ["O", "HSL Test"], ["CN", "HSL Test Intermediate CA"]]
    assert to_python(call(cert(P.root), "subject")) == to_python(call(cert(P.root), "issuer"))
    assert type(call(x, "subject").get(0.0).get(0.0)) is bytes


def test_subject_other_names():
    key = certs.new_key()
    subject = x509.Name([
        x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "com"),
        x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "example"),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, "12345"),
        x509.NameAttribute(NameOID.SURNAME, "Doe"),
        x509.NameAttribute(NameOID.GIVEN_NAME, "Jane"),
        x509.NameAttribute(NameOID.USER_ID, "jdoe"),
        x509.NameAttribute(ObjectIdentifier("1.3.6.1.4.1.99999.1"), "custom"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Jäne Doe"),
    ])
    c = certs.build_cert(subject, key)
    assert to_python(call(cert(c), "subject")) == [
        ["DC", "com"], ["DC", "example"], ["serialNumber", "12345"], ["SN", "Doe"],
        ["GN", "Jane"], ["UID", "jdoe"], ["1.3.6.1.4.1.99999.1", "custom"],
        ["CN", "Jäne Doe"]]
    # values are UTF-8 bytes
    assert call(cert(c), "subject").get(7.0).get(1.0) == "Jäne Doe".encode()


def test_subject_alt_name():
    # Keyed by type, as Halon's own modules read it (subject_alt_name()["DNS"]).
    assert to_python(call(cert(P.leaf), "subject_alt_name")) == {
        "DNS": ["mail.example.com", "mx.example.com"]}
    assert to_python(call(cert(P.root), "subject_alt_name")) == {"DNS": []}
    c = certs.build_cert("x", certs.new_key(), san_ip=["10.0.0.1"], san_email=["a@b.example"])
    assert to_python(call(cert(c), "subject_alt_name")) == {"DNS": []}


def test_version_serial():
    assert call(cert(P.leaf), "version") == 3.0
    assert call(cert(P.leaf), "serial_number") == b"0ABCDEF1"
    assert call(cert(P.root), "serial_number") == b"01"
    assert call(cert(P.revoked), "serial_number") == b"1001"
    c = certs.build_cert("x", certs.new_key(), serial=0xDEADBEEF00112233)
    assert call(cert(c), "serial_number") == b"DEADBEEF00112233"
    c = certs.build_cert("x", certs.new_key(), serial=255)
    assert call(cert(c), "serial_number") == b"FF"


def test_version_1():
    # cryptography only builds v3 certificates: patch the version field of one's DER
    # (an explicit [0] INTEGER 2) away and re-sign the TBS.
    key = certs.new_key()
    c = certs.build_cert("v1.example", key, basic_constraints=False, key_usage=False,
                         key_ids=False)
    from hsl.builtins.x509 import _der_children
    tbs = c.tbs_certificate_bytes
    (_, _, s, e), = _der_children(tbs)
    fields = _der_children(tbs, s, e)
    assert fields[0][0] == 0xA0
    body = tbs[fields[1][1]:fields[6][3]]        # serial .. SPKI, without extensions
    tbs1 = _seq(body)
    from cryptography.hazmat.primitives.asymmetric import ec
    sig = key.sign(tbs1, ec.ECDSA(hashes.SHA256()))
    alg = _seq(bytes.fromhex("06082a8648ce3d040302"))     # ecdsa-with-SHA256
    bitstr = b"\x03" + _len(len(sig) + 1) + b"\x00" + sig
    der = _seq(tbs1 + alg + bitstr)
    v1 = x509.load_der_x509_certificate(der)
    assert v1.version == x509.Version.v1
    x = static(X509, "String", der, opts(pem=False))
    assert call(x, "version") == 1.0
    assert to_python(call(x, "extensions")) == []
    # a v1 self-signed root in the CA list is a valid trust anchor
    assert to_python(call(x, "verify", lst(x)))["error"] == 0


def _len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _seq(body):
    return b"\x30" + _len(len(body)) + body


def test_validity_times():
    x = cert(P.leaf)
    nb, na = call(x, "not_valid_before"), call(x, "not_valid_after")
    assert type(nb) is float and type(na) is float
    assert nb == P.leaf.not_valid_before_utc.timestamp()
    assert na == P.leaf.not_valid_after_utc.timestamp()
    assert na - nb == 92 * 86400


def test_public_key():
    x = cert(P.leaf)
    spki = P.leaf.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    assert call(x, "public_key") == spki
    assert call(x, "public_key", opts(pem=False)) == spki
    pem = call(x, "public_key", opts(pem=True))
    assert pem == P.leaf.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    rsa = call(cert(P.root), "public_key")
    assert serialization.load_der_public_key(rsa).public_numbers() == \
        P.root_key.public_key().public_numbers()
    with pytest.raises(ScriptError, match="type"):
        call(x, "public_key", b"pem")


def test_export():
    x = cert(P.leaf)
    assert call(x, "export") == certs.to_der(P.leaf)
    assert call(x, "export", opts(pem=True)) == certs.leaf_pem()
    assert call(x, "export", opts(pem=False)) == certs.to_der(P.leaf)
    c = crl(P.crl)
    assert call(c, "export") == certs.to_der(P.crl)
    assert call(c, "export", opts(pem=True)) == certs.crl_pem()


def _ext_map(x):
    return {e["name"]: e for e in to_python(call(x, "extensions"))}


def test_extensions():
    exts = to_python(call(cert(P.leaf), "extensions"))
    assert [e["name"] for e in exts] == ["basicConstraints", "keyUsage", "subjectAltName",
                                         "extendedKeyUsage", "subjectKeyIdentifier",
                                         "authorityKeyIdentifier"]
    m = {e["name"]: e for e in exts}
    assert m["basicConstraints"] == {"oid": "2.5.29.19", "name": "basicConstraints",
                                     "critical": True, "value": "CA:FALSE"}
    assert m["keyUsage"]["value"] == "Digital Signature, Key Encipherment"
    assert m["keyUsage"]["critical"] is True
    assert m["subjectAltName"] == {
        "oid": "2.5.29.17", "name": "subjectAltName", "critical": False,
        "value": "DNS:mail.example.com, DNS:mx.example.com, IP Address:192.0.2.25"}
    assert m["extendedKeyUsage"]["value"] == \
        "TLS Web Server Authentication, TLS Web Client Authentication"
    ski = x509.SubjectKeyIdentifier.from_public_key(P.leaf_key.public_key()).digest
    assert m["subjectKeyIdentifier"]["value"] == ":".join("%02X" % b for b in ski)
    aki = x509.SubjectKeyIdentifier.from_public_key(P.intermediate_key.public_key()).digest
    assert m["authorityKeyIdentifier"]["value"] == ":".join("%02X" % b for b in aki)
    ie = _ext_map(cert(P.intermediate))
    assert ie["basicConstraints"]["value"] == "CA:TRUE, pathlen:0"
    assert ie["keyUsage"]["value"] == "Digital Signature, Certificate Sign, CRL Sign"
    assert _ext_map(cert(P.root))["basicConstraints"]["value"] == "CA:TRUE"
    # options are accepted
    assert to_python(call(cert(P.leaf), "extensions", HArray())) == exts
    with pytest.raises(ScriptError, match="type"):
        call(cert(P.leaf), "extensions", b"x")


def test_extensions_more():
    key = certs.new_key()
    b = (x509.CertificateBuilder().subject_name(certs.name("more.example"))
         .issuer_name(certs.name("more.example")).public_key(key.public_key())
         .serial_number(7).not_valid_before(certs.now() - certs.DAY)
         .not_valid_after(certs.now() + certs.DAY)
         .add_extension(x509.SubjectAlternativeName([
             x509.DNSName("a.example"), x509.RFC822Name("u@a.example"),
             x509.UniformResourceIdentifier("https://a.example/"),
             x509.IPAddress(ipaddress.ip_address("2001:db8::1"))]), critical=False)
         .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
             [x509.UniformResourceIdentifier("http://crl.example/ca.crl")], None, None, None)]),
             critical=False)
         .add_extension(x509.AuthorityInformationAccess([
             x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP,
                                    x509.UniformResourceIdentifier("http://ocsp.example")),
             x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                                    x509.UniformResourceIdentifier("http://ca.example/ca.crt"))]),
             critical=False)
         .add_extension(x509.CertificatePolicies([x509.PolicyInformation(
             ObjectIdentifier("2.23.140.1.2.1"), None)]), critical=False)
         .add_extension(x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.7"),
                                                   b"\x04\x02hi"), critical=False)
         .add_extension(x509.KeyUsage(False, True, False, False, True, False, False, True,
                                      False), critical=False)
         .add_extension(x509.ExtendedKeyUsage([ObjectIdentifier("1.2.3.4.5")]), critical=False))
    c = b.sign(key, hashes.SHA256())
    m = _ext_map(cert(c))
    assert m["subjectAltName"]["value"] == ("DNS:a.example, email:u@a.example, "
                                            "URI:https://a.example/, "
                                            "IP Address:2001:DB8:0:0:0:0:0:1")
    assert m["crlDistributionPoints"]["value"] == "Full Name:\n  URI:http://crl.example/ca.crl"
    assert m["authorityInfoAccess"]["value"] == ("OCSP - URI:http://ocsp.example\n"
                                                 "CA Issuers - URI:http://ca.example/ca.crt")
    assert m["certificatePolicies"]["value"] == "Policy: 2.23.140.1.2.1"
    assert m["1.3.6.1.4.1.99999.7"] == {"oid": "1.3.6.1.4.1.99999.7",
                                        "name": "1.3.6.1.4.1.99999.7", "critical": False,
                                        "value": "04026869"}
    assert m["keyUsage"]["value"] == "Non Repudiation, Key Agreement, Encipher Only"
    assert m["extendedKeyUsage"]["value"] == "1.2.3.4.5"
    assert to_python(call(cert(c), "subject_alt_name")) == {"DNS": ["a.example"]}


def test_to_ffi_value():
    with pytest.raises(ScriptError, match="not available in hsl"):
        call(cert(P.leaf), "toFFIValue")


def test_crypto_area_finds_the_certificate():
    from hsl.builtins.crypto import _x509_of
    x = cert(P.leaf)
    assert _x509_of(x) == P.leaf
    assert _x509_of(call(x, "toResource")) == P.leaf


def test_pkcs7_sign_with_x509_object():
    from hsl.builtins import FUNCTIONS
    sign = FUNCTIONS["pkcs7_sign"].fn
    key = FUNCTIONS["ec_privatekey"].fn(certs.leaf_key_pem())
    x = cert(P.leaf)
    signer = HArray.from_pairs([(b"x509", x), (b"privatekey", key),
                                (b"chain", lst(cert(P.intermediate)))])
    sig = sign(b"hello\r\n", signer)
    assert type(sig) is bytes and len(sig) > 100
    signer = HArray.from_pairs([(b"x509", call(x, "toResource")), (b"privatekey", key)])
    assert type(sign(b"hello\r\n", signer)) is bytes


# ------------------------------------------------------------------ X509CRL

def test_crl_methods():
    c = crl(P.crl)
    assert to_python(call(c, "issuer")) == [["C", "SE"], ["O", "HSL Test"],
                                           ["CN", "HSL Test Intermediate CA"]]
    assert call(c, "version") == 2.0
    lu = P.crl.last_update_utc.timestamp()
    assert call(c, "last_update") == lu
    assert call(c, "next_update") == P.crl.next_update_utc.timestamp()
    assert to_python(call(c, "revoked")) == [
        {"serial_number": "1001", "reason": "Key Compromise", "date": lu},
        {"serial_number": "2002", "reason": None, "date": lu}]
    assert to_python(call(c, "extensions")) == [
        {"oid": "2.5.29.20", "name": "crlNumber", "critical": False, "value": "1"}]
    assert to_python(call(crl(P.root_crl), "revoked")) == []


def test_crl_without_next_update_and_v1():
    # a v1 CRL (no version field, no extensions, no nextUpdate) assembled by hand
    key = P.intermediate_key
    from cryptography.hazmat.primitives.asymmetric import ec
    alg = _seq(bytes.fromhex("06082a8648ce3d040302"))
    issuer = P.intermediate.subject.public_bytes()
    this_update = b"\x17\x0d" + b"240101000000Z"
    tbs = _seq(alg + issuer + this_update)
    sig = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    der = _seq(tbs + alg + b"\x03" + _len(len(sig) + 1) + b"\x00" + sig)
    c = static(X509CRL, "String", der, opts(pem=False))
    assert c is not None
    assert call(c, "version") == 1.0
    assert call(c, "next_update") is None
    assert call(c, "last_update") == datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc).timestamp()
    assert to_python(call(c, "revoked")) == []
    assert to_python(call(c, "extensions")) == []


# ------------------------------------------------------------------ verify

def test_verify_ok():
    r = verify(P.leaf, [P.root], [P.intermediate])
    assert r == {"result": True, "error": 0, "message": "ok"}
    # both CAs in the CA list
    assert verify(P.leaf, [P.root, P.intermediate])["error"] == 0
    # order does not matter, unrelated CAs do not hurt
    assert verify(P.leaf, [P.selfsigned, P.root], [P.expired, P.intermediate])["error"] == 0
    assert verify(P.intermediate, [P.root])["error"] == 0
    assert verify(P.root, [P.root])["error"] == 0
    assert verify(P.client, [P.root], [P.intermediate])["error"] == 0


def test_verify_issuer_missing():
    assert verify(P.leaf, []) == {"result": False, "error": 20,
                                  "message": "unable to get local issuer certificate"}
    assert verify(P.leaf, [P.root])["error"] == 20
    assert verify(P.leaf, [P.selfsigned], [P.intermediate])["error"] == 20
    # the intermediate is not a trust anchor by itself
    assert verify(P.leaf, [P.intermediate]) == {"result": False, "error": 2,
                                                "message": "unable to get issuer certificate"}


def test_verify_self_signed():
    assert verify(P.selfsigned, []) == {"result": False, "error": 18,
                                        "message": "self-signed certificate"}
    assert verify(P.selfsigned, [P.root])["error"] == 18
    assert verify(P.selfsigned, [P.selfsigned])["error"] == 0
    assert verify(P.root, [])["error"] == 18
    assert verify(P.leaf, [], [P.intermediate, P.root]) == {
        "result": False, "error": 19,
        "message": "self-signed certificate in certificate chain"}
    assert verify(P.leaf, [P.selfsigned], [P.intermediate, P.root])["error"] == 19


def test_verify_times():
    assert verify(P.expired, [P.root], [P.intermediate]) == {
        "result": False, "error": 10, "message": "certificate has expired"}
    assert verify(P.notyet, [P.root], [P.intermediate]) == {
        "result": False, "error": 9, "message": "certificate is not yet valid"}
    # an expired CA fails its children too
    t = certs.now()
    old_key = certs.new_key()
    old_ca = certs.build_cert("Old CA", old_key, ca=True, not_before=t - 30 * certs.DAY,
                              not_after=t - certs.DAY)
    child = certs.build_cert("child.example", certs.new_key(), old_ca, old_key)
    assert verify(child, [old_ca])["error"] == 10


def test_verify_signature_failure():
    assert verify(P.badsig, [P.root], [P.intermediate]) == {
        "result": False, "error": 7, "message": "certificate signature failure"}


def test_verify_invalid_ca():
    assert verify(P.noca_child, [P.root], [P.intermediate, P.leaf]) == {
        "result": False, "error": 24, "message": "invalid CA certificate"}
    # a CA without basicConstraints and without keyUsage is not a CA
    k = certs.new_key()
    ca = certs.build_cert("Bare CA", k, ca=True, basic_constraints=False, key_usage=False)
    child = certs.build_cert("c.example", certs.new_key(), ca, k)
    assert verify(child, [ca])["error"] == 24


def test_verify_path_length():
    # the intermediate has pathlen:0, so it may not issue another CA
    k = certs.new_key()
    sub = certs.build_cert("Sub CA", k, P.intermediate, P.intermediate_key, ca=True)
    child = certs.build_cert("c.example", certs.new_key(), sub, k)
    assert verify(child, [P.root], [P.intermediate, sub]) == {
        "result": False, "error": 25, "message": "path length constraint exceeded"}


def test_verify_revocation():
    assert verify(P.revoked, [P.root], [P.intermediate]) ["error"] == 0
    assert verify(P.revoked, [P.root], [P.intermediate], [P.crl]) == {
        "result": False, "error": 23, "message": "certificate revoked"}
    # the other CRLs do not hide the revocation
    assert verify(P.revoked, [P.root], [P.intermediate], [P.root_crl, P.crl])["error"] == 23
    assert verify(P.leaf, [P.root], [P.intermediate], [P.crl])["error"] == 0
    assert verify(P.leaf, [P.root], [P.intermediate], [P.crl, P.root_crl])["error"] == 0
    # an empty revocation list means no CRL checking
    assert verify(P.revoked, [P.root], [P.intermediate], [])["error"] == 0
    # a CRL must be signed by the certificate's issuer
    assert verify(P.revoked, [P.root], [P.intermediate], [P.forged_crl]) == {
        "result": False, "error": 8, "message": "CRL signature failure"}
    # no CRL for the leaf's issuer
    assert verify(P.leaf, [P.root], [P.intermediate], [P.root_crl]) == {
        "result": False, "error": 3, "message": "unable to get certificate CRL"}
    # CRL times
    t = certs.now()
    stale = certs.build_crl(P.intermediate, P.intermediate_key, [],
                            last_update=t - 30 * certs.DAY, next_update=t - certs.DAY)
    assert verify(P.leaf, [P.root], [P.intermediate], [stale]) == {
        "result": False, "error": 12, "message": "CRL has expired"}
    future = certs.build_crl(P.intermediate, P.intermediate_key, [],
                             last_update=t + certs.DAY, next_update=t + 30 * certs.DAY)
    assert verify(P.leaf, [P.root], [P.intermediate], [future]) == {
        "result": False, "error": 11, "message": "CRL is not yet valid"}
    assert verify(P.leaf, [P.root], [P.intermediate], [stale, P.crl])["error"] == 0
    # a revoked intermediate (the root's CRL lists it)
    root_revokes = certs.build_crl(P.root, P.root_key, [P.intermediate.serial_number])
    assert verify(P.leaf, [P.root], [P.intermediate], [P.crl, root_revokes])["error"] == 23
    assert verify(P.leaf, [P.root], [P.intermediate], [P.crl, P.root_crl])["error"] == 0


def test_verify_accepts_resources():
    leaf = cert(P.leaf)
    res = call(leaf, "verify", lst(call(cert(P.root), "toResource")),
               lst(x509_resource_from_pem(certs.intermediate_pem())),
               lst(x509_crl_resource_from_pem(certs.crl_pem())))
    assert to_python(res)["error"] == 0
    res = call(cert(P.revoked), "verify", lst(call(cert(P.root), "toResource")),
               lst(x509_resource_from_pem(certs.intermediate_pem())),
               lst(call(crl(P.crl), "toResource")))
    assert to_python(res)["error"] == 23


def test_verify_argument_types():
    x = cert(P.leaf)
    with pytest.raises(ScriptError, match="type"):
        call(x, "verify", b"ca")
    with pytest.raises(ScriptError, match="type"):
        call(x, "verify", lst(certs.ca_pem()))
    with pytest.raises(ScriptError, match="type"):
        call(x, "verify", lst(), b"x")
    with pytest.raises(ScriptError, match="type"):
        call(x, "verify", lst(), lst(), lst(cert(P.root)))
    # none for the optional lists
    assert to_python(call(x, "verify", lst(cert(P.root)), None, None))["error"] == 20


def test_verify_chain_at_time():
    # verify_chain takes the time (for the hook runner and tests)
    later = P.leaf.not_valid_after_utc + certs.DAY
    assert verify_chain(P.leaf, [P.root], [P.intermediate], now=later) == 10
    assert verify_chain(P.leaf, [P.root], [P.intermediate],
                        now=certs.now() + 30 * certs.DAY) == 0
    # the CA's validity counts too: the intermediate did not exist yet
    assert verify_chain(P.expired, [P.root], [P.intermediate],
                        now=P.expired.not_valid_before_utc + certs.DAY) == 9


def test_write_pki(tmp_path):
    paths = certs.write_pki(tmp_path)
    with open(paths["leaf.pem"], "rb") as f:
        assert f.read() == certs.leaf_pem()
    with open(paths["leaf-chain.pem"], "rb") as f:
        data = f.read()
    assert data == certs.leaf_chain_pem() and data.count(b"BEGIN CERTIFICATE") == 2
    with open(paths["leaf.key"], "rb") as f:
        assert b"PRIVATE KEY" in f.read()


# ------------------------------------------------------------------ through HSL

def run(src, **variables):
    out = []
    prog = hsl.compile(src)
    prog.run(variables={k: (v.decode() if isinstance(v, bytes) else v)
                        for k, v in variables.items()}, output=out.append)
    return out


def test_hsl_methods():
    out = run("""
        $x = X509::String($pem);
        echo json_encode($x->subject());
        echo json_encode($x->issuer());
        echo json_encode($x->subject_alt_name());
        echo $x->version();
        echo $x->serial_number();
        echo $x->not_valid_after() - $x->not_valid_before();
        echo $x->not_valid_before() < time() and time() < $x->not_valid_after();
        echo str_find($x->public_key(["pem" => true]), "-----BEGIN PUBLIC KEY-----") === 0;
        echo sha2($x->export(), 256);
        echo length($x->export(["pem" => true])) > length($x->export());
        foreach ($x->extensions() as $e)
            echo $e["name"] . "=" . $e["value"] . ($e["critical"] ? " (critical)" : "");
        echo X509($x->toResource())->serial_number();
        echo is_object($x);
        echo X509::String("garbage");
        echo X509::String($x->export(), ["pem" => false])->serial_number();
        try { $x->toFFIValue(); } catch ($e) { echo $e->message(); }
        try { X509("text"); } catch ($e) { echo $e->message(); }
    """, pem=certs.leaf_pem())
    import hashlib
    assert out[0] == json.dumps([["C", "SE"], ["ST", "Stockholm"], ["L", "Stockholm"],
                                 ["O", "Example AB"], ["OU", "Mail"],
                                 ["CN", "mail.example.com"],
                                 ["emailAddress", "postmaster@example.com"]],
                                separators=(",", ":"))
    assert json.loads(out[1]) == [["C", "SE"], ["O", "HSL Test"],
                                  ["CN", "HSL Test Intermediate CA"]]
    assert json.loads(out[2]) == {"DNS": ["mail.example.com", "mx.example.com"]}
    assert out[3:7] == ["3", "0ABCDEF1", str(92 * 86400), "true"]
    assert out[7] == "true"
    assert out[8] == hashlib.sha256(certs.to_der(P.leaf)).hexdigest()
    assert out[9] == "true"
    assert out[10:16] == [
        "basicConstraints=CA:FALSE (critical)",
        "keyUsage=Digital Signature, Key Encipherment (critical)",
        "subjectAltName=DNS:mail.example.com, DNS:mx.example.com, IP Address:192.0.2.25",
        "extendedKeyUsage=TLS Web Server Authentication, TLS Web Client Authentication",
        out[14], out[15]]
    assert out[14].startswith("subjectKeyIdentifier=") and out[15].startswith("authorityKeyIdentifier=")
    assert out[16:20] == ["0ABCDEF1", "true", "none", "0ABCDEF1"]
    assert "not available in hsl" in out[20]
    assert "type" in out[21]


def test_hsl_verify():
    src = """
        $x = X509::String($pem);
        $r = $x->verify([X509::String($ca)], [X509::String($int)]);
        echo $r["result"] . " " . $r["error"] . " " . $r["message"];
        $r = $x->verify([X509::String($ca)]);
        echo $r["result"] . " " . $r["error"] . " " . $r["message"];
        $r = $x->verify([X509::String($ca)], [X509::String($int)], [X509CRL::String($crl)]);
        echo $r["result"] . " " . $r["error"] . " " . $r["message"];
    """
    out = run(src, pem=certs.leaf_pem(), ca=certs.ca_pem(), int=certs.intermediate_pem(),
              crl=certs.crl_pem())
    assert out == ["true 0 ok", "false 20 unable to get local issuer certificate",
                   "true 0 ok"]
    out = run(src, pem=certs.revoked_pem(), ca=certs.ca_pem(), int=certs.intermediate_pem(),
              crl=certs.crl_pem())
    assert out[0] == "true 0 ok" and out[2] == "false 23 certificate revoked"
    out = run(src, pem=certs.expired_pem(), ca=certs.ca_pem(), int=certs.intermediate_pem(),
              crl=certs.crl_pem())
    assert out[0] == "false 10 certificate has expired"
    out = run(src, pem=certs.notyet_pem(), ca=certs.ca_pem(), int=certs.intermediate_pem(),
              crl=certs.crl_pem())
    assert out[0] == "false 9 certificate is not yet valid"
    out = run(src, pem=certs.badsig_pem(), ca=certs.ca_pem(), int=certs.intermediate_pem(),
              crl=certs.crl_pem())
    assert out[0] == "false 7 certificate signature failure"
    out = run(src, pem=certs.selfsigned_pem(), ca=certs.ca_pem(),
              int=certs.intermediate_pem(), crl=certs.crl_pem())
    assert out[0] == "false 18 self-signed certificate"
    out = run("""
        $x = X509::String($pem);
        echo $x->verify([X509::String($pem)])["error"];
        echo $x->verify([])["message"];
    """, pem=certs.selfsigned_pem())
    assert out == ["0", "self-signed certificate"]


def test_hsl_crl():
    out = run("""
        $c = X509CRL::String($crl);
        echo json_encode($c->issuer());
        echo $c->version();
        foreach ($c->revoked() as $r)
            echo $r["serial_number"] . " " . ($r["reason"] ?? "-") . " " . ($r["date"] == $c->last_update());
        echo $c->next_update() > $c->last_update();
        echo $c->extensions()[0]["name"];
        echo X509CRL($c->toResource())->version();
        echo X509CRL::String($c->export(), ["pem" => false])->version();
        echo X509CRL::String("junk");
    """, crl=certs.crl_pem())
    assert json.loads(out[0])[-1] == ["CN", "HSL Test Intermediate CA"]
    assert out[1:] == ["2", "1001 Key Compromise true", "2002 - true", "true", "crlNumber",
                       "2", "2", "none"]


def test_hsl_wrong_constructor_argument():
    with pytest.raises(HSLRuntimeError, match="type"):
        run('X509CRL("x");')
