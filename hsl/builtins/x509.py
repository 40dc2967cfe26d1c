"""X.509 certificates and CRLs: the builtin classes X509 and X509CRL (builtins.md "Builtin
classes"), implemented with the `cryptography` package.

Resources.  `X509Resource` wraps a `cryptography.x509.Certificate` (attribute `cert`) and
`X509CRLResource` a `cryptography.x509.CertificateRevocationList` (attribute `crl`).
Hook runners make them with `x509_resource_from_pem(data)` / `x509_resource_from_der(data)`
(and `x509_crl_resource_from_pem/der`), which raise ValueError on invalid input.  X509
objects and X509Resources carry the certificate as `cert` and have `to_cryptography()`, so
the crypto area (pkcs7_sign, cms_encrypt ...) accepts both.

Choices where builtins.md leaves things open (tested in tests/test_x509.py):

* `X509::String(data [, options])` / `X509CRL::String(...)`: PEM by default (the first
  certificate/CRL of the text), DER with `pem => false`; invalid input returns none.
  `X509::String` with `multiple => true` gives every certificate of the PEM text as a
  list (none when there is none).
* `subject()`/`issuer()`: list of `[shortname, value]` in certificate order (multi-valued
  RDNs flattened in their order); OpenSSL short names (`CN`, `O`, `OU`, `C`, `L`, `ST`,
  `emailAddress`, `serialNumber`, `DC`, `UID`, `SN`, `GN` ...), unknown OIDs as dotted text.
* `version()`: 1 for v1, 3 for v3 (X509CRL: 1 or 2).
* `serial_number()`: uppercase hex of the integer with an even number of digits (OpenSSL's
  BN_bn2hex: "01", "1000", "0" for zero, "-" before a negative one).
* Times are Unix times (numbers); `X509CRL->next_update()` is none when the CRL has none.
* `public_key()`: the certificate's SubjectPublicKeyInfo DER exactly as encoded in it.
* `extensions([options])`: list of `["oid", "name", "critical", "value"]`; `name` is the
  OpenSSL short name (`basicConstraints`, `keyUsage`, `subjectAltName` ...) or the dotted
  OID; `value` is OpenSSL-like text for basicConstraints, keyUsage, extendedKeyUsage,
  subject/issuerAltName, subject/authorityKeyIdentifier (colon-separated uppercase hex, as
  OpenSSL 3 prints it), crlDistributionPoints, authorityInfoAccess, certificatePolicies,
  cRLNumber/deltaCRL; any other extension's value is the lowercase hex of its DER
  (the extnValue contents).  Options are accepted and ignored.
* `X509CRL->revoked()`: list of `["serial_number" => hex, "reason" => text or none,
  "date" => Unix time]`; reason texts are OpenSSL's ("Key Compromise", "Superseded" ...).
* `toFFIValue()` raises an error: there is no FFI in hsl.

`verify(calist [, intermediates [, revokelist]])` works like OpenSSL's X509_verify_cert
with default flags (trusted-first, no partial chains: the chain must end in a self-signed
certificate of `calist`; an intermediate in `calist` is not a trust anchor by itself), at
the current time.  `calist` and `intermediates` hold X509 objects or X509Resources,
`revokelist` X509CRL objects or X509CRLResources.  Steps and errors, in OpenSSL's order:

1. chain building (issuer by name, authority/subject key id, preferring one whose
   signature verifies): 18 self-signed certificate, 19 self-signed certificate in
   certificate chain, 20 unable to get local issuer certificate, 2 unable to get issuer
   certificate (the chain's top came from `calist` but is not self-signed), 22 certificate
   chain too long (over 100);
2. CA checks on every issuer: 24 invalid CA certificate (basicConstraints CA:FALSE, a
   keyUsage without keyCertSign, or no basicConstraints on other than a v1 root or a
   certificate with keyUsage), 25 path length constraint exceeded;
3. revocation, when `revokelist` is not empty (OpenSSL's X509_V_FLAG_CRL_CHECK): the leaf
   needs a CRL from its issuer (same issuer name, signed by the issuer's key): 3 unable to
   get certificate CRL, 8 CRL signature failure, 11 CRL is not yet valid, 12 CRL has
   expired, 23 certificate revoked; the other certificates of the chain are checked against
   the CRLs given for their issuers too (23), with no error when there is none;
4. signatures and validity, from the top of the chain down (the anchor's self-signature is
   not checked): 7 certificate signature failure, 9 certificate is not yet valid, 10
   certificate has expired.

It returns `["result" => bool, "error" => code, "message" => text]`, 0 and "ok" on success.
"""
from __future__ import annotations

import base64
import datetime
import ipaddress

from cryptography import x509 as _x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from ..errors import ScriptError
from ..runtime import sources as _sources
from ..runtime.values import BuiltinObject, HArray, HResource
from ._args import opt_array, opt_bool, type_error
from ._limits import (MANY, WORK, check_deadline, list_array, paced, reserve_elements,
                      work)
from .registry import builtin_class, method

AREA = "classes"

# ----------------------------------------------------------------- resources


class X509Resource(HResource):
    """A certificate handle (`$connection["tls"]["peercert"]["x509"]`, `X509->toResource()`)."""
    __slots__ = ()
    class_name = "X509Resource"

    def __init__(self, cert: _x509.Certificate):
        self.cert = cert

    def to_cryptography(self) -> _x509.Certificate:
        return self.cert

    @classmethod
    def from_pem(cls, data: bytes) -> "X509Resource":
        return x509_resource_from_pem(data)

    @classmethod
    def from_der(cls, data: bytes) -> "X509Resource":
        return x509_resource_from_der(data)


class X509CRLResource(HResource):
    """A certificate revocation list handle (`X509CRL->toResource()`)."""
    __slots__ = ()
    class_name = "X509CRLResource"

    def __init__(self, crl: _x509.CertificateRevocationList):
        self.crl = crl

    def to_cryptography(self) -> _x509.CertificateRevocationList:
        return self.crl


def _as_bytes(data) -> bytes:
    if isinstance(data, str):
        return data.encode("ascii")
    return bytes(data)


def x509_resource_from_pem(data) -> X509Resource:
    """An X509Resource for the first certificate in PEM `data` (bytes or str); ValueError
    when there is none."""
    return X509Resource(_x509.load_pem_x509_certificate(_as_bytes(data)))


def x509_resource_from_der(data) -> X509Resource:
    """An X509Resource for the DER certificate `data`; ValueError when it is not one."""
    return X509Resource(_x509.load_der_x509_certificate(bytes(data)))


def x509_crl_resource_from_pem(data) -> X509CRLResource:
    return X509CRLResource(_x509.load_pem_x509_crl(_as_bytes(data)))


def x509_crl_resource_from_der(data) -> X509CRLResource:
    return X509CRLResource(_x509.load_der_x509_crl(bytes(data)))


# ------------------------------------------------------------------- helpers

_NAME_SHORT = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
    "2.5.4.11": "OU", "1.2.840.113549.1.9.1": "emailAddress", "2.5.4.5": "serialNumber",
    "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
    "2.5.4.4": "SN", "2.5.4.42": "GN", "2.5.4.12": "title", "2.5.4.43": "initials",
    "2.5.4.46": "dnQualifier", "2.5.4.65": "pseudonym", "2.5.4.44": "generationQualifier",
    "2.5.4.9": "street", "2.5.4.17": "postalCode", "2.5.4.15": "businessCategory",
    "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC", "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
    "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL", "2.5.4.97": "organizationIdentifier",
    "2.5.4.41": "name", "2.5.4.13": "description", "2.5.4.16": "postalAddress",
    "2.5.4.18": "postOfficeBox", "2.5.4.20": "telephoneNumber",
    "2.5.4.45": "x500UniqueIdentifier", "1.2.840.113549.1.9.2": "unstructuredName",
    "1.2.840.113549.1.9.8": "unstructuredAddress", "2.5.4.72": "role",
    "2.5.4.1": "aliasedObjectName", "2.5.4.54": "dmdName",
}

_EXT_SHORT = {
    "2.5.29.19": "basicConstraints", "2.5.29.15": "keyUsage", "2.5.29.37": "extendedKeyUsage",
    "2.5.29.17": "subjectAltName", "2.5.29.18": "issuerAltName",
    "2.5.29.14": "subjectKeyIdentifier", "2.5.29.35": "authorityKeyIdentifier",
    "2.5.29.31": "crlDistributionPoints", "1.3.6.1.5.5.7.1.1": "authorityInfoAccess",
    "1.3.6.1.5.5.7.1.11": "subjectInfoAccess", "2.5.29.32": "certificatePolicies",
    "2.5.29.30": "nameConstraints", "2.5.29.36": "policyConstraints",
    "2.5.29.54": "inhibitAnyPolicy", "2.5.29.33": "policyMappings",
    "2.5.29.9": "subjectDirectoryAttributes", "2.5.29.46": "freshestCRL",
    "1.3.6.1.4.1.11129.2.4.2": "ct_precert_scts", "1.3.6.1.4.1.11129.2.4.3": "ct_precert_poison",
    "1.3.6.1.4.1.11129.2.4.5": "ct_cert_scts", "1.3.6.1.5.5.7.1.24": "tlsfeature",
    "2.16.840.1.113730.1.1": "nsCertType", "2.16.840.1.113730.1.13": "nsComment",
    "1.3.6.1.5.5.7.48.1.5": "noCheck", "2.5.29.20": "crlNumber", "2.5.29.27": "deltaCRL",
    "2.5.29.28": "issuingDistributionPoint", "2.5.29.21": "CRLReason",
    "2.5.29.24": "invalidityDate", "2.5.29.29": "certificateIssuer",
}

_EKU_LONG = {
    "1.3.6.1.5.5.7.3.1": "TLS Web Server Authentication",
    "1.3.6.1.5.5.7.3.2": "TLS Web Client Authentication",
    "1.3.6.1.5.5.7.3.3": "Code Signing", "1.3.6.1.5.5.7.3.4": "E-mail Protection",
    "1.3.6.1.5.5.7.3.5": "IPSec End System", "1.3.6.1.5.5.7.3.6": "IPSec Tunnel",
    "1.3.6.1.5.5.7.3.7": "IPSec User", "1.3.6.1.5.5.7.3.8": "Time Stamping",
    "1.3.6.1.5.5.7.3.9": "OCSP Signing", "2.5.29.37.0": "Any Extended Key Usage",
    "1.3.6.1.5.5.7.3.17": "ipsec Internet Key Exchange",
    "1.3.6.1.4.1.311.10.3.3": "Microsoft Server Gated Crypto",
    "2.16.840.1.113730.4.1": "Netscape Server Gated Crypto",
    "1.3.6.1.4.1.311.20.2.2": "Microsoft Smartcard Login",
}

_KEY_USAGE = [("digital_signature", "Digital Signature"),
              ("content_commitment", "Non Repudiation"),
              ("key_encipherment", "Key Encipherment"),
              ("data_encipherment", "Data Encipherment"),
              ("key_agreement", "Key Agreement"),
              ("key_cert_sign", "Certificate Sign"),
              ("crl_sign", "CRL Sign")]

_REASONS = {
    "unspecified": "Unspecified", "key_compromise": "Key Compromise",
    "ca_compromise": "CA Compromise", "affiliation_changed": "Affiliation Changed",
    "superseded": "Superseded", "cessation_of_operation": "Cessation Of Operation",
    "certificate_hold": "Certificate Hold", "remove_from_crl": "Remove From CRL",
    "privilege_withdrawn": "Privilege Withdrawn", "aa_compromise": "AA Compromise",
}

_AIA_METHOD = {"1.3.6.1.5.5.7.48.1": "OCSP", "1.3.6.1.5.5.7.48.2": "CA Issuers",
               "1.3.6.1.5.5.7.48.3": "Time Stamping", "1.3.6.1.5.5.7.48.5": "CA Repository"}


def _pem(label: str, der: bytes) -> bytes:
    b64 = base64.b64encode(der)
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    head = f"-----BEGIN {label}-----\n".encode()
    tail = f"-----END {label}-----\n".encode()
    return head + b"".join(line + b"\n" for line in lines) + tail


def _hex_serial(n: int) -> bytes:
    """OpenSSL's BN_bn2hex: uppercase, whole bytes, "0" for zero."""
    if n == 0:
        return b"0"
    sign = "-" if n < 0 else ""
    h = "%X" % abs(n)
    if len(h) % 2:
        h = "0" + h
    return (sign + h).encode("ascii")


def _colon_hex(data: bytes) -> str:
    return ":".join("%02X" % b for b in data)


def _name_value(v) -> bytes:
    if isinstance(v, bytes):
        return v
    return str(v).encode("utf-8")


def _name_pairs(name: _x509.Name) -> HArray:
    out = []
    for rdn in name.rdns:
        for attr in rdn:
            dotted = attr.oid.dotted_string
            short = _NAME_SHORT.get(dotted, dotted)
            out.append(HArray.from_list([short.encode("ascii"), _name_value(attr.value)]))
    return HArray.from_list(out)


def _name_oneline(name: _x509.Name) -> str:
    parts = []
    for rdn in name.rdns:
        for attr in rdn:
            dotted = attr.oid.dotted_string
            v = attr.value if isinstance(attr.value, str) else attr.value.hex()
            parts.append(f"/{_NAME_SHORT.get(dotted, dotted)}={v}")
    return "".join(parts)


def _timestamp(dt: datetime.datetime) -> float:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return float(dt.timestamp())


def _ip_text(addr) -> str:
    if isinstance(addr, ipaddress.IPv6Address):
        return ":".join("%X" % int.from_bytes(addr.packed[i:i + 2], "big")
                        for i in range(0, 16, 2))
    if isinstance(addr, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return f"{_ip_text(addr.network_address)}/{_ip_text(addr.netmask)}"
    return str(addr)


def _general_name(gn) -> str:
    if isinstance(gn, _x509.DNSName):
        return f"DNS:{gn.value}"
    if isinstance(gn, _x509.IPAddress):
        return f"IP Address:{_ip_text(gn.value)}"
    if isinstance(gn, _x509.RFC822Name):
        return f"email:{gn.value}"
    if isinstance(gn, _x509.UniformResourceIdentifier):
        return f"URI:{gn.value}"
    if isinstance(gn, _x509.DirectoryName):
        return f"DirName:{_name_oneline(gn.value)}"
    if isinstance(gn, _x509.RegisteredID):
        return f"Registered ID:{gn.value.dotted_string}"
    if isinstance(gn, _x509.OtherName):
        return "othername:<unsupported>"
    return str(gn)


def _ext_der(ext) -> bytes:
    v = ext.value
    if isinstance(v, _x509.UnrecognizedExtension):
        return v.value
    try:
        return v.public_bytes()
    except Exception:
        return b""


def _ext_text(ext) -> str:
    v = ext.value
    if isinstance(v, _x509.BasicConstraints):
        text = "CA:TRUE" if v.ca else "CA:FALSE"
        if v.path_length is not None:
            text += f", pathlen:{v.path_length}"
        return text
    if isinstance(v, _x509.KeyUsage):
        names = [label for attr, label in _KEY_USAGE if getattr(v, attr)]
        if v.key_agreement:
            if v.encipher_only:
                names.append("Encipher Only")
            if v.decipher_only:
                names.append("Decipher Only")
        return ", ".join(names)
    if isinstance(v, _x509.ExtendedKeyUsage):
        return ", ".join(_EKU_LONG.get(o.dotted_string, o.dotted_string) for o in v)
    if isinstance(v, (_x509.SubjectAlternativeName, _x509.IssuerAlternativeName,
                      _x509.CertificateIssuer)):
        return ", ".join(_general_name(g) for g in v)
    if isinstance(v, _x509.SubjectKeyIdentifier):
        return _colon_hex(v.digest)
    if isinstance(v, _x509.AuthorityKeyIdentifier):
        lines = []
        if v.key_identifier is not None:
            lines.append(_colon_hex(v.key_identifier))
        if v.authority_cert_issuer:
            lines.extend(_general_name(g) for g in v.authority_cert_issuer)
        if v.authority_cert_serial_number is not None:
            n = v.authority_cert_serial_number
            lines.append("serial:" + _colon_hex(n.to_bytes(max(1, (n.bit_length() + 7) // 8),
                                                             "big")))
        return "\n".join(lines)
    if isinstance(v, (_x509.CRLDistributionPoints, _x509.FreshestCRL)):
        lines = []
        for dp in v:
            if dp.full_name:
                lines.append("Full Name:")
                lines.extend("  " + _general_name(g) for g in dp.full_name)
            elif dp.relative_name is not None:
                lines.append("Relative Name:")
                lines.append("  " + _name_oneline(_x509.Name([dp.relative_name])))
        return "\n".join(lines)
    if isinstance(v, (_x509.AuthorityInformationAccess, _x509.SubjectInformationAccess)):
        return "\n".join(
            f"{_AIA_METHOD.get(d.access_method.dotted_string, d.access_method.dotted_string)}"
            f" - {_general_name(d.access_location)}" for d in v)
    if isinstance(v, _x509.CertificatePolicies):
        return "\n".join(f"Policy: {p.policy_identifier.dotted_string}" for p in v)
    if isinstance(v, (_x509.CRLNumber, _x509.DeltaCRLIndicator)):
        n = v.crl_number
        return str(n) if 0 <= n < (1 << 32) else "0x" + "%X" % n
    return _ext_der(ext).hex()


def _extensions(exts) -> HArray:
    out = []
    for ext in exts:
        dotted = ext.oid.dotted_string
        try:
            value = _ext_text(ext)
        except Exception:
            value = _ext_der(ext).hex()
        out.append(HArray.from_pairs([
            (b"oid", dotted.encode("ascii")),
            (b"name", _EXT_SHORT.get(dotted, dotted).encode("ascii")),
            (b"critical", bool(ext.critical)),
            (b"value", value.encode("utf-8")),
        ]))
    return HArray.from_list(out)


def _der_children(data: bytes, start: int = 0, end: int = None) -> list:
    """The TLVs (tag, header start, value start, end) directly inside data[start:end]."""
    end = len(data) if end is None else end
    out = []
    i = start
    while i < end:
        tag = data[i]
        j = i + 1
        ln = data[j]
        j += 1
        if ln & 0x80:
            nb = ln & 0x7F
            ln = int.from_bytes(data[j:j + nb], "big")
            j += nb
        out.append((tag, i, j, j + ln))
        i = j + ln
    if i != end:
        raise ValueError("bad DER")
    return out


def _spki_der(cert: _x509.Certificate) -> bytes:
    """The SubjectPublicKeyInfo as encoded in the certificate."""
    try:
        tbs = cert.tbs_certificate_bytes
        (_, _, vstart, vend), = _der_children(tbs)
        fields = _der_children(tbs, vstart, vend)
        if fields[0][0] == 0xA0:
            fields = fields[1:]
        _, hstart, _, fend = fields[5]
        return tbs[hstart:fend]
    except Exception:
        return cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)


def _crl_version(crl) -> float:
    try:
        tbs = crl.tbs_certlist_bytes
        (_, _, vstart, vend), = _der_children(tbs)
        tag, _, s, e = _der_children(tbs, vstart, vend)[0]
        if tag == 0x02:
            return float(int.from_bytes(tbs[s:e], "big") + 1)
    except Exception:
        pass
    return 1.0


def _pem_option(fname: str, pos: int, options, default: bool) -> bool:
    opts = opt_array(fname, pos, options)
    return opt_bool(fname, opts, b"pem", default)


def _load(fname, data, options, pem_loader, der_loader):
    if type(data) is not bytes:
        raise type_error(fname, 1, "a string", data)
    pem = _pem_option(fname, 2, options, True)
    if len(data) > WORK:
        work(len(data))
    try:
        return pem_loader(data) if pem else der_loader(data)
    except Exception:
        return None


# ----------------------------------------------------------------- verification

_MESSAGES = {
    0: "ok",
    2: "unable to get issuer certificate",
    3: "unable to get certificate CRL",
    6: "unable to decode issuer public key",
    7: "certificate signature failure",
    8: "CRL signature failure",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    11: "CRL is not yet valid",
    12: "CRL has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate",
    22: "certificate chain too long",
    23: "certificate revoked",
    24: "invalid CA certificate",
    25: "path length constraint exceeded",
}

_MAX_DEPTH = 100


def _ext(cert, cls):
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except _x509.ExtensionNotFound:
        return None
    except Exception:
        return None


def _key_ids_match(child, parent) -> bool:
    """OpenSSL's X509_check_akid: the child's authority key id, when both it and the
    parent's subject key id are present, must equal that."""
    aki = _ext(child, _x509.AuthorityKeyIdentifier)
    if aki is None or aki.key_identifier is None:
        return True
    ski = _ext(parent, _x509.SubjectKeyIdentifier)
    if ski is None:
        return True
    return aki.key_identifier == ski.digest


def _self_issued(cert) -> bool:
    return cert.subject == cert.issuer and _key_ids_match(cert, cert)


def _signed_by(cert, issuer) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except InvalidSignature:
        return False
    except Exception:
        return False


def _find_issuer(cert, candidates):
    found = [c for c in candidates if c.subject == cert.issuer and _key_ids_match(cert, c)]
    for c in found:
        check_deadline()                # a signature check each: many can take long
        if _signed_by(cert, c):
            return c
    return found[0] if found else None


def _check_ca(cert) -> bool:
    """OpenSSL's check_ca (without the Netscape cert type)."""
    ku = _ext(cert, _x509.KeyUsage)
    if ku is not None and not ku.key_cert_sign:
        return False
    bc = _ext(cert, _x509.BasicConstraints)
    if bc is not None:
        return bool(bc.ca)
    if cert.version == _x509.Version.v1 and _self_issued(cert):
        return True
    return ku is not None


def _crl_check(cert, issuer, crls, now, required: bool) -> int:
    candidates = [c for c in crls if c.issuer == cert.issuer]
    if not candidates:
        return 3 if required else 0
    signed = []
    for crl in candidates:
        check_deadline()
        try:
            ok = issuer is not None and crl.is_signature_valid(issuer.public_key())
        except Exception:
            ok = False
        if ok:
            signed.append(crl)
    if not signed:
        return 8 if required else 0
    current, time_error = [], 0
    for crl in signed:
        if crl.last_update_utc > now:
            time_error = time_error or 11
        elif crl.next_update_utc is not None and crl.next_update_utc < now:
            time_error = time_error or 12
        else:
            current.append(crl)
    if not current:
        return time_error if required else 0
    for crl in current:
        if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
            return 23
    return 0


def verify_chain(leaf, calist, intermediates=(), crls=(), now=None) -> int:
    """The OpenSSL X509_V_ERR code of verifying `leaf` (cryptography Certificates and
    CRLs; see the module docstring), 0 when it verifies."""
    now = now or datetime.datetime.fromtimestamp(_sources.now(), datetime.timezone.utc)
    trusted_ders = {c.public_bytes(serialization.Encoding.DER) for c in calist}
    chain = [leaf]
    from_store = [leaf.public_bytes(serialization.Encoding.DER) in trusted_ders
                  and _self_issued(leaf)]
    # 1. build the chain
    while True:
        cur = chain[-1]
        if _self_issued(cur):
            break
        if len(chain) > _MAX_DEPTH + 1:
            return 22
        used = {id(c) for c in chain}
        issuer = _find_issuer(cur, [c for c in calist if id(c) not in used])
        if issuer is not None:
            chain.append(issuer)
            from_store.append(True)
            continue
        if any(from_store):
            break               # once in the trust store, issuers come from it only
        issuer = _find_issuer(cur, [c for c in intermediates if id(c) not in used])
        if issuer is None:
            break
        chain.append(issuer)
        from_store.append(False)
    top = chain[-1]
    if _self_issued(top):
        if not from_store[-1] and top.public_bytes(serialization.Encoding.DER) not in trusted_ders:
            return 18 if len(chain) == 1 else 19
    elif from_store[-1]:
        return 2
    else:
        return 20
    # 2. CA certificates and path lengths
    for i in range(1, len(chain)):
        ca = chain[i]
        if not _check_ca(ca):
            return 24
        bc = _ext(ca, _x509.BasicConstraints)
        if i > 1 and bc is not None and bc.path_length is not None:
            below = sum(1 for c in chain[1:i] if not _self_issued(c))
            if below > bc.path_length:
                return 25
    # 3. revocation
    if crls:
        for i, cert in enumerate(chain):
            if i == len(chain) - 1 and i > 0:
                break           # the trust anchor
            issuer = chain[i + 1] if i + 1 < len(chain) else cert
            err = _crl_check(cert, issuer, crls, now, required=(i == 0))
            if err:
                return err
    # 4. signatures and times, top down
    for i in range(len(chain) - 1, -1, -1):
        cert = chain[i]
        if i < len(chain) - 1:
            issuer = chain[i + 1]
            try:
                issuer.public_key()
            except Exception:
                return 6
            if not _signed_by(cert, issuer):
                return 7
        if cert.not_valid_before_utc > now:
            return 9
        if cert.not_valid_after_utc < now:
            return 10
    return 0


def _verify_result(code: int) -> HArray:
    return HArray.from_pairs([(b"result", code == 0), (b"error", float(code)),
                              (b"message", _MESSAGES.get(code, "unknown error").encode())])


def _cert_list(fname, pos, value) -> list:
    if value is None:
        return []
    if type(value) is not HArray:
        raise type_error(fname, pos, "an array", value)
    out = []
    for v in value.d.values():
        if isinstance(v, (X509Object, X509Resource)):
            out.append(v.cert)
        else:
            raise type_error(fname, pos, "an array of X509 objects", v)
    return out


def _crl_list(fname, pos, value) -> list:
    if value is None:
        return []
    if type(value) is not HArray:
        raise type_error(fname, pos, "an array", value)
    out = []
    for v in value.d.values():
        if isinstance(v, (X509CRLObject, X509CRLResource)):
            out.append(v.crl)
        else:
            raise type_error(fname, pos, "an array of X509CRL objects", v)
    return out


# ---------------------------------------------------------------------- X509

@builtin_class("X509", area=AREA)
class X509Object(BuiltinObject):
    """An X.509 certificate: X509(X509Resource), X509::String(data [, options])."""
    __slots__ = ()

    def __init__(self, x509resource):
        if not isinstance(x509resource, X509Resource):
            raise type_error("X509", 1, "an X509Resource", x509resource)
        self.resource = x509resource
        self.cert = x509resource.cert

    def to_cryptography(self) -> _x509.Certificate:
        return self.cert

    @staticmethod
    @method("String", static=True)
    def String(data, options=None):
        # Option multiple: every certificate of the PEM text, as a list (the BIMI module
        # of halon-extras reads a VMC chain so).
        if opt_bool("X509::String", opt_array("X509::String", 2, options), b"multiple",
                    False):
            chain = _load("X509::String", data, options, _x509.load_pem_x509_certificates,
                          None)
            return HArray.from_list([X509Object(X509Resource(c)) for c in chain]) \
                if chain else None
        res = _load("X509::String", data, options, x509_resource_from_pem,
                    x509_resource_from_der)
        return None if res is None else X509Object(res)

    @method()
    def subject(self):
        return _name_pairs(self.cert.subject)

    @method()
    def issuer(self):
        return _name_pairs(self.cert.issuer)

    @method()
    def subject_alt_name(self):
        """The DNS names of the subjectAltName extension, as ["DNS" => [names...]]:
        Halon's own modules read them so (halon-extras authentication-results and bimi:
        `subject_alt_name()["DNS"]`), where builtins.md says a plain list."""
        san = _ext(self.cert, _x509.SubjectAlternativeName)
        names = [] if san is None else [n.encode("utf-8")
                                        for n in san.get_values_for_type(_x509.DNSName)]
        return HArray.from_dict_normalized({b"DNS": HArray.from_list(names)})

    @method()
    def version(self):
        return float(self.cert.version.value + 1)

    @method()
    def serial_number(self):
        return _hex_serial(self.cert.serial_number)

    @method()
    def not_valid_before(self):
        return _timestamp(self.cert.not_valid_before_utc)

    @method()
    def not_valid_after(self):
        return _timestamp(self.cert.not_valid_after_utc)

    @method()
    def public_key(self, options=None):
        der = _spki_der(self.cert)
        if _pem_option("X509->public_key", 1, options, False):
            return _pem("PUBLIC KEY", der)
        return der

    @method()
    def verify(self, calist, intermediates=None, revokelist=None):
        if type(calist) is not HArray:
            raise type_error("X509->verify", 1, "an array", calist)
        cas = _cert_list("X509->verify", 1, calist)
        inter = _cert_list("X509->verify", 2, intermediates)
        crls = _crl_list("X509->verify", 3, revokelist)
        return _verify_result(verify_chain(self.cert, cas, inter, crls))

    @method()
    def export(self, options=None):
        der = self.cert.public_bytes(serialization.Encoding.DER)
        if _pem_option("X509->export", 1, options, False):
            return _pem("CERTIFICATE", der)
        return der

    @method()
    def extensions(self, options=None):
        opt_array("X509->extensions", 1, options)
        try:
            exts = list(self.cert.extensions)
        except Exception:
            return HArray()
        return _extensions(exts)

    @method("toResource")
    def toResource(self):
        return self.resource

    @method("toFFIValue")
    def toFFIValue(self):
        raise ScriptError("X509->toFFIValue() is not available in hsl: it has no FFI")


# ------------------------------------------------------------------- X509CRL

@builtin_class("X509CRL", area=AREA)
class X509CRLObject(BuiltinObject):
    """A certificate revocation list: X509CRL(X509CRLResource), X509CRL::String(data [, options])."""
    __slots__ = ()

    def __init__(self, x509crlresource):
        if not isinstance(x509crlresource, X509CRLResource):
            raise type_error("X509CRL", 1, "an X509CRLResource", x509crlresource)
        self.resource = x509crlresource
        self.crl = x509crlresource.crl

    def to_cryptography(self) -> _x509.CertificateRevocationList:
        return self.crl

    @staticmethod
    @method("String", static=True)
    def String(data, options=None):
        res = _load("X509CRL::String", data, options, x509_crl_resource_from_pem,
                    x509_crl_resource_from_der)
        return None if res is None else X509CRLObject(res)

    @method()
    def issuer(self):
        return _name_pairs(self.crl.issuer)

    @method()
    def revoked(self):
        if len(self.crl) >= MANY:
            reserve_elements(4 * len(self.crl))
        out = []
        for r in paced(self.crl):
            reason = None
            try:
                ext = r.extensions.get_extension_for_class(_x509.CRLReason)
                flag = ext.value.reason
                reason = _REASONS.get(flag.name, flag.value).encode("ascii")
            except _x509.ExtensionNotFound:
                pass
            except Exception:
                pass
            out.append(HArray.from_pairs([
                (b"serial_number", _hex_serial(r.serial_number)),
                (b"reason", reason),
                (b"date", _timestamp(r.revocation_date_utc)),
            ]))
        return list_array(out)

    @method()
    def version(self):
        return _crl_version(self.crl)

    @method()
    def last_update(self):
        return _timestamp(self.crl.last_update_utc)

    @method()
    def next_update(self):
        nu = self.crl.next_update_utc
        return None if nu is None else _timestamp(nu)

    @method()
    def export(self, options=None):
        der = self.crl.public_bytes(serialization.Encoding.DER)
        if _pem_option("X509CRL->export", 1, options, False):
            return _pem("X509 CRL", der)
        return der

    @method()
    def extensions(self, options=None):
        opt_array("X509CRL->extensions", 1, options)
        try:
            exts = list(self.crl.extensions)
        except Exception:
            return HArray()
        return _extensions(exts)

    @method("toResource")
    def toResource(self):
        return self.resource
