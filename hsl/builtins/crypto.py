"""Cryptography, hashing and randomness (builtins.md "Cryptography, hashing and randomness").

Digests and HMACs use hashlib/hmac; AES, RSA, EC, Ed25519 and PKCS#7/CMS use the
`cryptography` package.  `crypt()` implements MD5-crypt (`$1$`) and SHA-crypt (`$5$`,
`$6$`, Drepper's published algorithm) in pure Python and hands every other scheme (DES,
bcrypt, yescrypt ...) to the operating system's libcrypt when one can be loaded.

Choices where builtins.md leaves things open (documented here, tested in
tests/test_builtins_crypto.py):

* digest options: `binary` (boolean) returns raw bytes instead of lowercase hex.
* `hash()` is CRC-32 (zlib.crc32, the IEEE polynomial) of the bytes: a non-negative
  integer below 2^32.
* AES modes: `ecb` and `cbc` (case-insensitive); other modes give none.
* `crypt()` with SHA-crypt clamps `rounds=` to 1000..999999999 as Drepper's specification
  (and glibc) do; an unsupported scheme without a system libcrypt gives the crypt(3)
  failure token `*0` (`*1` when the salt itself starts with `*0`).
* `cms_verify()` reads the SignedData with asn1crypto and checks it with `cryptography`
  (hsl/builtins/_cms.py): `cryptography` has no public API to verify a CMS/PKCS#7
  signature.  `pkcs7_sign`/`cms_sign`/`cms_encrypt`/`cms_decrypt` support what
  `cryptography` supports (RSA and EC signers, RSA recipients, AES-CBC content encryption).
"""
from __future__ import annotations

import hashlib
import hmac as _hmac
import math
import threading
import uuid as _uuid
import zlib

from ..errors import ScriptError
from ..runtime import sources as _sources
from ..runtime.values import HArray, HResource, type_name
from ._args import digits_value, opt_array, opt_bool, type_error
from ._limits import ACCOUNT, WORK, check_deadline, pieces, ranges, reserve_string, work
from .registry import builtin

AREA = "crypto"


# ------------------------------------------------------------------- digests

_SLICE = 1 << 24        # bytes hashed between two looks at the clock


def _digest(new, message: bytes):
    """new(message) (a hashlib constructor, or an hmac one taking no message): a long
    message is announced as work first, and hashed a slice at a time."""
    if len(message) <= WORK:
        return new(message)
    work(len(message))
    h = new(b"")
    for part in pieces(memoryview(message), _SLICE):
        h.update(part)
    return h


def _large(message: bytes) -> None:
    """Announce C-level work on a long message (a signature hashes it, a cipher reads
    it)."""
    if len(message) > WORK:
        work(len(message))


def _binary(fname, pos, options) -> bool:
    """The `binary` option of a digest function (False when there are no options)."""
    if options is None:
        return False
    if type(options) is not HArray:
        raise type_error(fname, pos, "an array", options)
    v = options.d.get(b"binary")
    if v is None:
        return False
    if type(v) is not bool:
        raise ScriptError(f"{fname}() option 'binary' must be a boolean, got {type_name(v)} "
                          "(type error)")
    return v


@builtin(area=AREA)
def md5(message, options=None):
    """MD5 digest: 32 lowercase hex digits, or the raw 16 bytes with option `binary`."""
    if type(message) is not bytes:
        raise type_error("md5", 1, "a string", message)
    h = _digest(hashlib.md5, message)
    if options is None or not _binary("md5", 2, options):
        return h.hexdigest().encode("ascii")
    return h.digest()


@builtin(area=AREA)
def sha1(message, options=None):
    """SHA-1 digest: 40 lowercase hex digits, or raw bytes with option `binary`."""
    if type(message) is not bytes:
        raise type_error("sha1", 1, "a string", message)
    h = _digest(hashlib.sha1, message)
    if options is None or not _binary("sha1", 2, options):
        return h.hexdigest().encode("ascii")
    return h.digest()


_SHA2 = {224: hashlib.sha224, 256: hashlib.sha256, 384: hashlib.sha384, 512: hashlib.sha512}
_SHA2_NAMES = {224: "sha224", 256: "sha256", 384: "sha384", 512: "sha512"}


def _hashsize(fname, pos, hashsize):
    if type(hashsize) is not float:
        raise type_error(fname, pos, "a number", hashsize)
    size = int(hashsize) if math.isfinite(hashsize) else 0
    if size not in _SHA2:
        raise ScriptError(f"{fname}() hash size must be 224, 256, 384 or 512, "
                          f"got {hashsize!r}")
    return size


@builtin(area=AREA)
def sha2(message, hashsize, options=None):
    """SHA-2 digest of size 224, 256, 384 or 512 bits, lowercase hex (raw with `binary`)."""
    if type(message) is not bytes:
        raise type_error("sha2", 1, "a string", message)
    algo = _SHA2.get(hashsize) if type(hashsize) is float else None   # 256.0 == 256
    if algo is None:
        algo = _SHA2[_hashsize("sha2", 2, hashsize)]
    h = _digest(algo, message)
    if options is None or not _binary("sha2", 3, options):
        return h.hexdigest().encode("ascii")
    return h.digest()


@builtin("hash", area=AREA)
def hash_(message):
    """CRC-32 of the bytes of `message` (a number in 0 .. 2^32-1)."""
    if type(message) is not bytes:
        raise type_error("hash", 1, "a string", message)
    if len(message) <= WORK:
        return float(zlib.crc32(message))
    work(len(message))
    crc = 0
    for part in pieces(memoryview(message), _SLICE):
        crc = zlib.crc32(part, crc)
    return float(crc)


def _hmac_common(fname, key, message, digest, options, opt_pos):
    if type(key) is not bytes:
        raise type_error(fname, 1, "a string", key)
    if type(message) is not bytes:
        raise type_error(fname, 2, "a string", message)
    if len(message) <= WORK:
        raw = _hmac.digest(key, message, digest)
    else:
        raw = _digest(lambda m: _hmac.new(key, m, digest), message).digest()
    if options is None or not _binary(fname, opt_pos, options):
        return raw.hex().encode("ascii")
    return raw


@builtin(area=AREA)
def hmac_md5(key, message, options=None):
    """HMAC-MD5 of `message` keyed by `key` (lowercase hex, raw with `binary`)."""
    return _hmac_common("hmac_md5", key, message, "md5", options, 3)


@builtin(area=AREA)
def hmac_sha1(key, message, options=None):
    """HMAC-SHA1 of `message` keyed by `key` (lowercase hex, raw with `binary`)."""
    return _hmac_common("hmac_sha1", key, message, "sha1", options, 3)


@builtin(area=AREA)
def hmac_sha2(key, message, hashsize, options=None):
    """HMAC-SHA2 (224, 256, 384 or 512) of `message` keyed by `key`."""
    size = _hashsize("hmac_sha2", 3, hashsize)
    return _hmac_common("hmac_sha2", key, message, _SHA2_NAMES[size], options, 4)


# ----------------------------------------------------------------------- AES

def _aes(fname, message, key, mode, options, encrypt):
    if type(message) is not bytes:
        raise type_error(fname, 1, "a string", message)
    if type(key) is not bytes:
        raise type_error(fname, 2, "a string", key)
    if type(mode) is not bytes:
        raise type_error(fname, 3, "a string", mode)
    opts = opt_array(fname, 4, options)
    padding_on = opt_bool(fname, opts, b"padding", True)
    iv = opts.d.get(b"iv")
    if iv is not None and type(iv) is not bytes:
        raise ScriptError(f"{fname}() option 'iv' must be a string, got {type_name(iv)} "
                          "(type error)")
    if len(key) not in (16, 24, 32):
        return None
    if len(message) >= ACCOUNT:
        reserve_string(2 * len(message) + 32)       # the padded copy, and the result
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    m = mode.lower()
    if m == b"cbc":
        if iv is None or len(iv) != 16:
            return None
        cmode = modes.CBC(iv)
    elif m == b"ecb":
        cmode = modes.ECB()
    else:
        return None
    cipher = Cipher(algorithms.AES(key), cmode)
    try:
        if encrypt:
            if padding_on:
                p = padding.PKCS7(128).padder()
                message = p.update(message) + p.finalize()
            elif len(message) % 16:
                return None
            c = cipher.encryptor()
            return c.update(message) + c.finalize()
        if len(message) % 16:
            return None
        c = cipher.decryptor()
        plain = c.update(message) + c.finalize()
        if padding_on:
            u = padding.PKCS7(128).unpadder()
            plain = u.update(plain) + u.finalize()
        return plain
    except ValueError:
        return None


@builtin(area=AREA)
def aes_encrypt(message, key, mode, options=None):
    """AES-128/192/256 encryption in `ecb` or `cbc` mode (options `iv`, `padding`)."""
    return _aes("aes_encrypt", message, key, mode, options, True)


@builtin(area=AREA)
def aes_decrypt(message, key, mode, options=None):
    """AES decryption, the inverse of aes_encrypt(); none on any error."""
    return _aes("aes_decrypt", message, key, mode, options, False)


# ---------------------------------------------------------------------- keys

class _PrivateKey(HResource):
    """A parsed private key (resource)."""
    __slots__ = ()

    def __init__(self, key):
        self.key = key


class RSAPrivateKey(_PrivateKey):
    __slots__ = ()
    class_name = "RSAPrivateKey"


class ECPrivateKey(_PrivateKey):
    __slots__ = ()
    class_name = "ECPrivateKey"


class ED25519PrivateKey(_PrivateKey):
    __slots__ = ()
    class_name = "ED25519PrivateKey"


def _load_pem_private(fname, text):
    if type(text) is not bytes:
        raise type_error(fname, 1, "a string", text)
    from cryptography.hazmat.primitives import serialization
    try:
        return serialization.load_pem_private_key(text, password=None)
    except (ValueError, TypeError):
        return None
    except Exception:          # UnsupportedAlgorithm and friends
        return None


@builtin(area=AREA)
def rsa_privatekey(privatekey):
    """Parse a PEM RSA private key into an RSAPrivateKey resource (none if it is not one)."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = _load_pem_private("rsa_privatekey", privatekey)
    return RSAPrivateKey(key) if isinstance(key, rsa.RSAPrivateKey) else None


@builtin(area=AREA)
def is_rsa_privatekey(privatekey):
    return type(privatekey) is RSAPrivateKey


@builtin(area=AREA)
def ec_privatekey(privatekey):
    """Parse a PEM EC private key into an ECPrivateKey resource (none on error)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    key = _load_pem_private("ec_privatekey", privatekey)
    return ECPrivateKey(key) if isinstance(key, ec.EllipticCurvePrivateKey) else None


@builtin(area=AREA)
def is_ec_privatekey(privatekey):
    return type(privatekey) is ECPrivateKey


@builtin(area=AREA)
def ed25519_privatekey(privatekey):
    """Parse a PEM Ed25519 private key into an ED25519PrivateKey resource (none on error)."""
    from cryptography.hazmat.primitives.asymmetric import ed25519
    key = _load_pem_private("ed25519_privatekey", privatekey)
    return ED25519PrivateKey(key) if isinstance(key, ed25519.Ed25519PrivateKey) else None


@builtin(area=AREA)
def is_ed25519_privatekey(privatekey):
    return type(privatekey) is ED25519PrivateKey


# ----------------------------------------------------------------------- RSA

def _rsa_hash(fname, opts):
    from cryptography.hazmat.primitives import hashes
    name = opts.d.get(b"hash", b"sha256")
    if type(name) is not bytes:
        raise ScriptError(f"{fname}() option 'hash' must be a string, got {type_name(name)} "
                          "(type error)")
    algo = {b"md5": hashes.MD5, b"sha1": hashes.SHA1, b"sha224": hashes.SHA224,
            b"sha256": hashes.SHA256, b"sha384": hashes.SHA384,
            b"sha512": hashes.SHA512}.get(name.lower())
    if algo is None:
        raise ScriptError(f"{fname}() option 'hash' must be md5, sha1, sha256 or sha512")
    return algo()


def _check_id_option(fname, opts):
    # ["id" => false] is the default said out loud (the ARC module passes
    # ["id" => $opts["id"] ?? false]): only true names a key of the Halon PKI.
    if opts.d.get(b"id", False) is not False:
        raise ScriptError(f"{fname}() option 'id' is not available in hsl: it names a "
                          "certificate configured in the Halon server")


@builtin(area=AREA)
def rsa_sign(message, privatekey, options=None):
    """RSA PKCS#1 v1.5 signature of `message` (raw bytes); none on error."""
    if type(message) is not bytes:
        raise type_error("rsa_sign", 1, "a string", message)
    opts = opt_array("rsa_sign", 3, options)
    _check_id_option("rsa_sign", opts)
    algo = _rsa_hash("rsa_sign", opts)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    if type(privatekey) is RSAPrivateKey:
        key = privatekey.key
    elif type(privatekey) is bytes:
        pem = opt_bool("rsa_sign", opts, b"pem", False)
        fmt = opts.d.get(b"format", b"RSAPrivateKey")
        if fmt not in (b"RSAPrivateKey", b"PrivateKeyInfo"):
            raise ScriptError("rsa_sign() option 'format' must be RSAPrivateKey or "
                              "PrivateKeyInfo")
        try:
            if pem:
                key = serialization.load_pem_private_key(privatekey, password=None)
            else:
                key = serialization.load_der_private_key(privatekey, password=None)
        except Exception:
            return None
        if not isinstance(key, rsa.RSAPrivateKey):
            return None
    else:
        raise type_error("rsa_sign", 2, "an RSAPrivateKey or a string", privatekey)
    _large(message)
    try:
        return key.sign(message, padding.PKCS1v15(), algo)
    except Exception:
        return None


@builtin(area=AREA)
def rsa_verify(message, signature, publickey, options=None):
    """Verify an RSA PKCS#1 v1.5 signature: true/false, none when the key is unusable."""
    if type(message) is not bytes:
        raise type_error("rsa_verify", 1, "a string", message)
    if type(signature) is not bytes:
        raise type_error("rsa_verify", 2, "a string", signature)
    if type(publickey) is not bytes:
        raise type_error("rsa_verify", 3, "a string", publickey)
    opts = opt_array("rsa_verify", 4, options)
    _check_id_option("rsa_verify", opts)
    algo = _rsa_hash("rsa_verify", opts)
    pem = opt_bool("rsa_verify", opts, b"pem", False)
    fmt = opts.d.get(b"format", b"RSAPublicKey")
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    if fmt not in (b"RSAPublicKey", b"SubjectPublicKeyInfo"):
        raise ScriptError("rsa_verify() option 'format' must be RSAPublicKey or "
                          "SubjectPublicKeyInfo")
    # cryptography's loaders read both PKCS#1 RSAPublicKey and SubjectPublicKeyInfo, so
    # `format` is accepted but not needed to tell them apart.
    try:
        if pem:
            key = serialization.load_pem_public_key(publickey)
        else:
            key = serialization.load_der_public_key(publickey)
    except Exception:
        return None
    if not isinstance(key, rsa.RSAPublicKey):
        return None
    _large(message)
    try:
        key.verify(signature, message, padding.PKCS1v15(), algo)
        return True
    except InvalidSignature:
        return False
    except Exception:
        return None


# ------------------------------------------------------------------- Ed25519

@builtin(area=AREA)
def ed25519_sign(message, privatekey):
    """Ed25519 signature (64 raw bytes) with a key resource or a raw 32-byte private key."""
    if type(message) is not bytes:
        raise type_error("ed25519_sign", 1, "a string", message)
    from cryptography.hazmat.primitives.asymmetric import ed25519
    if type(privatekey) is ED25519PrivateKey:
        key = privatekey.key
    elif type(privatekey) is bytes:
        if len(privatekey) != 32:
            return None
        key = ed25519.Ed25519PrivateKey.from_private_bytes(privatekey)
    else:
        raise type_error("ed25519_sign", 2, "an ED25519PrivateKey or a string", privatekey)
    _large(message)
    return key.sign(message)


@builtin(area=AREA)
def ed25519_verify(message, signature, publickey):
    """Verify an Ed25519 signature with a raw 32-byte public key; none on a bad key."""
    if type(message) is not bytes:
        raise type_error("ed25519_verify", 1, "a string", message)
    if type(signature) is not bytes:
        raise type_error("ed25519_verify", 2, "a string", signature)
    if type(publickey) is not bytes:
        raise type_error("ed25519_verify", 3, "a string", publickey)
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ed25519
    if len(publickey) != 32:
        return None
    try:
        key = ed25519.Ed25519PublicKey.from_public_bytes(publickey)
    except Exception:
        return None
    _large(message)
    try:
        key.verify(signature, message)
        return True
    except InvalidSignature:
        return False


# ----------------------------------------------------------- PKCS#7 and CMS

def _x509_of(value):
    """The cryptography Certificate behind an X509 object (another area's class): it is
    looked up as the attribute `cert` or `certificate`, or via a `to_cryptography()`
    method.  PEM text of a certificate is accepted too (an hsl extension)."""
    from cryptography import x509
    if isinstance(value, x509.Certificate):
        return value
    if type(value) is bytes:
        try:
            return x509.load_pem_x509_certificate(value)
        except Exception:
            return None
    for attr in ("cert", "certificate", "_cert", "x509"):
        c = getattr(value, attr, None)
        if isinstance(c, x509.Certificate):
            return c
    conv = getattr(value, "to_cryptography", None)
    if conv is not None:
        c = conv()
        if isinstance(c, x509.Certificate):
            return c
    return None


def _signer(fname, certificate):
    """(certificate, private key, chain) from an array or PEM text; None when unusable."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    if type(certificate) is bytes:
        if b"-----BEGIN" not in certificate:
            raise ScriptError(f"{fname}() certificate ids are not available in hsl: they name "
                              "certificates configured in the Halon server; pass PEM text")
        try:
            certs = x509.load_pem_x509_certificates(certificate)
        except Exception:
            return None
        try:
            key = serialization.load_pem_private_key(certificate, password=None)
        except Exception:
            return None
        if not certs:
            return None
        return certs[0], key, certs[1:]
    if type(certificate) is HArray:
        cert = _x509_of(certificate.d.get(b"x509"))
        pk = certificate.d.get(b"privatekey")
        key = pk.key if isinstance(pk, _PrivateKey) else None
        if key is None and type(pk) is bytes:
            try:
                key = serialization.load_pem_private_key(pk, password=None)
            except Exception:
                key = None
        chain = []
        ch = certificate.d.get(b"chain")
        if type(ch) is HArray:
            for c in ch.d.values():
                cc = _x509_of(c)
                if cc is None:
                    return None
                chain.append(cc)
        if cert is None or key is None:
            return None
        return cert, key, chain
    raise type_error(fname, 2, "an array or a string", certificate)


def _sign_pkcs7(fname, message, certificate, options, digest_option=b"hash"):
    if type(message) is not bytes:
        raise type_error(fname, 1, "a string", message)
    opts = opt_array(fname, 3, options)
    detached = opt_bool(fname, opts, b"detached", True)
    signer = _signer(fname, certificate)
    if signer is None:
        return None
    cert, key, chain = signer
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs7
    name = opts.d.get(digest_option, b"sha256")
    algo = {b"sha1": hashes.SHA1, b"sha224": hashes.SHA224, b"sha256": hashes.SHA256,
            b"sha384": hashes.SHA384, b"sha512": hashes.SHA512}.get(
        name.lower().replace(b"-", b"") if type(name) is bytes else None)
    if algo is None:
        raise ScriptError(f"{fname}() option '{digest_option.decode()}' must be sha1, "
                          "sha256, sha384 or sha512")
    # Binary: the message is signed as it is, never turned to CRLF (Halon's S/MIME module
    # signs LF messages and expects them back byte for byte).
    popts = [pkcs7.PKCS7Options.Binary]
    if detached:
        popts.append(pkcs7.PKCS7Options.DetachedSignature)
    _large(message)
    if not detached and len(message) >= ACCOUNT:
        reserve_string(len(message))            # the signed data holds the message
    try:
        b = pkcs7.PKCS7SignatureBuilder().set_data(message).add_signer(cert, key, algo())
        for c in chain:
            b = b.add_certificate(c)
        return b.sign(serialization.Encoding.DER, popts)
    except Exception:
        return None


@builtin(area=AREA)
def pkcs7_sign(message, certificate, options=None):
    """PKCS#7 (S/MIME) signature of `message` as DER bytes (option `detached`, default
    true); none on error."""
    return _sign_pkcs7("pkcs7_sign", message, certificate, options)


# The cms_* functions answer ["result" => bool, ...] as Halon's do: its S/MIME module
# (halon-extras/smime) reads result, data, signers and cms of them.

def _result(ok: bool, *pairs) -> HArray:
    return HArray.from_pairs([(b"result", ok), *pairs])


def _failure(text: str) -> HArray:
    return _result(False, (b"error", text.encode("utf-8", "replace")))


@builtin(area=AREA)
def cms_sign(message, certificate, options=None):
    """CMS SignedData of `message`: `["result" => true, "data" => DER bytes]`, or
    `["result" => false, "error" => text]`.  `certificate` as pkcs7_sign's; options
    `detached` (default true) and `digest` (default sha256)."""
    der = _sign_pkcs7("cms_sign", message, certificate, options, b"digest")
    if der is None:
        return _failure("unusable certificate or private key")
    return _result(True, (b"data", der))


@builtin(area=AREA)
def cms_verify(signature, message, certificates, options=None):
    """Verify a CMS/PKCS#7 SignedData (DER or PEM) over `message` against `["certs" =>
    [X509...], "store" => [X509...]]`: the content it embeds when `message` is none or
    option `detached` is false.  Returns `["result" => bool, "signers" =>
    [X509Resource...]]`, with `data` (the signed content) when option `data` is true and
    `error` (text) when it does not verify.  Option `noverify` (default false) skips
    checking the signers' chains against `store`."""
    if type(signature) is not bytes:
        raise type_error("cms_verify", 1, "a string", signature)
    if message is not None and type(message) is not bytes:
        raise type_error("cms_verify", 2, "a string or none", message)
    if type(certificates) is not HArray:
        raise type_error("cms_verify", 3, "an array", certificates)
    opts = opt_array("cms_verify", 4, options)
    noverify = opt_bool("cms_verify", opts, b"noverify", False)
    if not opt_bool("cms_verify", opts, b"detached", True):
        message = None
    want_data = opt_bool("cms_verify", opts, b"data", False)
    # deferred: x509 (cryptography.x509) only for cms_verify
    from .x509 import X509Resource
    extra = _x509_list("cms_verify", certificates, b"certs")
    store = _x509_list("cms_verify", certificates, b"store")
    from ._cms import CMSError, verify_signed_data  # deferred: as above

    def signers(found):
        return (b"signers", HArray.from_list([X509Resource(c) for c in found]))
    try:
        content, found = verify_signed_data(signature, message, extra,
                                            None if noverify else store)
    except CMSError as e:
        return _result(False, (b"error", str(e).encode("utf-8", "replace")),
                       signers(e.signers))
    return _result(True, signers(found), *([(b"data", content)] if want_data else []))


def _x509_list(fname, certificates, key):
    v = certificates.d.get(key)
    if v is None:
        return []
    if type(v) is not HArray:
        raise ScriptError(f"{fname}() '{key.decode()}' must be an array of X509 objects")
    out = []
    for c in v.d.values():
        cert = _x509_of(c)
        if cert is None:
            raise ScriptError(f"{fname}() '{key.decode()}' must hold X509 objects, got "
                              f"{type_name(c)}")
        out.append(cert)
    return out


@builtin(area=AREA)
def cms_encrypt(message, certificates, options=None):
    """CMS EnvelopedData of `message` for the RSA recipients `["certs" => [X509...]]`:
    `["result" => true, "data" => DER bytes]`, or `["result" => false, "error" =>
    text]`.  Option `cipher`: `aes-128-cbc` (default) or `aes-256-cbc`."""
    if type(message) is not bytes:
        raise type_error("cms_encrypt", 1, "a string", message)
    if type(certificates) is not HArray:
        raise type_error("cms_encrypt", 2, "an array", certificates)
    opts = opt_array("cms_encrypt", 3, options)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.ciphers import algorithms
    from cryptography.hazmat.primitives.serialization import pkcs7
    certs = certificates.d.get(b"certs")
    if type(certs) is not HArray or not certs.d:
        return _failure("no recipient certificates")
    cipher = opts.d.get(b"cipher", b"aes-128-cbc")
    if len(message) >= ACCOUNT:
        reserve_string(len(message))
    try:
        b = pkcs7.PKCS7EnvelopeBuilder().set_data(message)
        if cipher == b"aes-256-cbc":
            b = b.set_content_encryption_algorithm(algorithms.AES256)
        elif cipher != b"aes-128-cbc":
            return _failure("unsupported cipher")
        for c in certs.d.values():
            cc = _x509_of(c)
            if cc is None:
                return _failure("not an X509 certificate")
            b = b.add_recipient(cc)
        # Binary: the message as it is, not turned to CRLF (see _sign_pkcs7)
        data = b.encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    except Exception as e:           # unsupported key types and the like
        return _failure(str(e))
    return _result(True, (b"data", data))


@builtin(area=AREA)
def cms_decrypt(message, certificate, options=None):
    """Decrypt CMS EnvelopedData (DER) with `certificate` (as cms_sign's: `["x509" =>
    ..., "privatekey" => ...]` or PEM text): `["result" => true, "data" => plaintext,
    "cms" => "signed" | "data"]` ("signed": the plaintext is a CMS SignedData, for
    cms_verify), or `["result" => false, "error" => text]`."""
    if type(message) is not bytes:
        raise type_error("cms_decrypt", 1, "a string", message)
    opt_array("cms_decrypt", 3, options)
    signer = _signer("cms_decrypt", certificate)
    if signer is None:
        return _failure("unusable certificate or private key")
    from cryptography.hazmat.primitives.serialization import pkcs7
    if len(message) >= ACCOUNT:
        reserve_string(len(message))
    try:
        data = pkcs7.pkcs7_decrypt_der(message, signer[0], signer[1], [])
    except Exception as e:
        return _failure(str(e) or "decryption failed")
    kind = b"signed" if _cms_content_type(data) == "signed_data" else b"data"
    return _result(True, (b"data", data), (b"cms", kind))


# asn1crypto's content type names -> OpenSSL's short names, as cms_type answers them
_CMS_TYPES = {"data": b"pkcs7-data", "signed_data": b"pkcs7-signedData",
              "enveloped_data": b"pkcs7-envelopedData",
              "signed_and_enveloped_data": b"pkcs7-signedAndEnvelopedData",
              "digested_data": b"pkcs7-digestData", "encrypted_data": b"pkcs7-encryptedData",
              "authenticated_data": b"id-smime-ct-authData",
              "compressed_data": b"id-smime-ct-compressedData",
              "authenticated_enveloped_data": b"id-smime-ct-authEnvData"}


def _cms_content_type(data: bytes):
    """The content type of a CMS ContentInfo (DER or PEM) as asn1crypto names it
    (a dotted OID when it has no name); None when `data` is not one."""
    from asn1crypto import cms, pem
    try:
        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        return cms.ContentInfo.load(data)["content_type"].native
    except Exception:           # asn1crypto raises ValueError, TypeError...
        return None


@builtin(area=AREA)
def cms_type(data):
    """The content type of a CMS/PKCS#7 structure (DER or PEM) by OpenSSL's short name
    (`pkcs7-signedData`, `pkcs7-envelopedData`, `pkcs7-data`...); none when `data` is
    not one.  Halon's S/MIME module tells signed from encrypted messages with it."""
    if type(data) is not bytes:
        raise type_error("cms_type", 1, "a string", data)
    kind = _cms_content_type(data)
    if kind is None:
        return None
    return _CMS_TYPES.get(kind, kind.encode())


# ---------------------------------------------------------------- randomness
# (hsl.runtime.sources: the system's, or a test's seeded generator)


@builtin(area=AREA)
def random_bytes(bytes_):
    """`bytes` cryptographically random bytes (at most 1 MiB)."""
    if type(bytes_) is not float:
        raise type_error("random_bytes", 1, "a number", bytes_)
    n = int(bytes_) if math.isfinite(bytes_) else -1
    if n < 0 or n > 1048576:
        raise ScriptError("random_bytes() length must be between 0 and 1048576")
    return _sources.random_bytes(n)


@builtin(area=AREA)
def random_number(first=None, last=None):
    """A random integer in [first, last], or a random double in [0, 1] without arguments."""
    if first is None and last is None:
        return _sources.rng.random()
    if last is None:
        raise ScriptError("random_number() takes 0 or 2 arguments, 1 given")
    if type(first) is not float:
        raise type_error("random_number", 1, "a number", first)
    if type(last) is not float:
        raise type_error("random_number", 2, "a number", last)
    if not (math.isfinite(first) and math.isfinite(last)):
        raise ScriptError("random_number() expects finite numbers")
    lo, hi = int(first), int(last)
    if lo > hi:
        lo, hi = hi, lo
    return float(_sources.rng.randint(lo, hi))


@builtin(area=AREA)
def uuid():
    """A random (version 4) UUID, lowercase hyphenated."""
    return str(_sources.uuid4()).encode("ascii")


@builtin(area=AREA)
def uuidv5(uuidnamespace, value):
    """The name-based (SHA-1) version 5 UUID of `value` in namespace `uuidnamespace`."""
    if type(uuidnamespace) is not bytes:
        raise type_error("uuidv5", 1, "a string", uuidnamespace)
    if type(value) is not bytes:
        raise type_error("uuidv5", 2, "a string", value)
    try:
        ns = _uuid.UUID(uuidnamespace.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise ScriptError("uuidv5() namespace is not a valid UUID") from None
    _large(value)
    h = bytearray(hashlib.sha1(ns.bytes + value).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50
    h[8] = (h[8] & 0x3F) | 0x80
    return str(_uuid.UUID(bytes=bytes(h))).encode("ascii")


# --------------------------------------------------------------------- crypt

_ITOA64 = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _b64_24(b2, b1, b0, n):
    w = (b2 << 16) | (b1 << 8) | b0
    out = bytearray()
    for _ in range(n):
        out.append(_ITOA64[w & 0x3F])
        w >>= 6
    return bytes(out)


def _md5_crypt(key: bytes, setting: bytes) -> bytes:
    """MD5-crypt ($1$, Poul-Henning Kamp's algorithm as in glibc)."""
    salt = setting[3:]
    end = salt.find(b"$")
    if end >= 0:
        salt = salt[:end]
    salt = salt[:8]
    md5_ = hashlib.md5
    alt = md5_(key + salt + key).digest()
    _crypt_work(len(key), 1000)
    ctx = key + b"$1$" + salt + _repeat_to(alt, len(key))
    n = len(key)
    first = key[:1] or b"\0"
    while n:
        ctx += b"\0" if n & 1 else first
        n >>= 1
    final = md5_(ctx).digest()
    every = _rounds_per_look(len(key))
    for i in range(1000):
        if not i % every:
            check_deadline()
        c = key if i & 1 else final
        if i % 3:
            c += salt
        if i % 7:
            c += key
        c += final if i & 1 else key
        final = md5_(c).digest()
    f = final
    out = (_b64_24(f[0], f[6], f[12], 4) + _b64_24(f[1], f[7], f[13], 4)
           + _b64_24(f[2], f[8], f[14], 4) + _b64_24(f[3], f[9], f[15], 4)
           + _b64_24(f[4], f[10], f[5], 4) + _b64_24(0, 0, f[11], 2))
    return b"$1$" + salt + b"$" + out


_SHA256_ORDER = [(0, 10, 20), (21, 1, 11), (12, 22, 2), (3, 13, 23), (24, 4, 14),
                 (15, 25, 5), (6, 16, 26), (27, 7, 17), (18, 28, 8), (9, 19, 29)]
_SHA512_ORDER = [(0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4),
                 (47, 5, 26), (6, 27, 48), (28, 49, 7), (50, 8, 29), (9, 30, 51),
                 (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13), (56, 14, 35),
                 (15, 36, 57), (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19),
                 (62, 20, 41)]


def _repeat_to(block: bytes, n: int) -> bytes:
    return (block * (n // len(block) + 1))[:n]


def _crypt_work(klen: int, rounds: int) -> None:
    """Announce crypt()'s work: every round hashes the key about twice (a pure-Python
    loop), SHA-crypt's P sequence hashes it klen times; its copies are announced too."""
    work(rounds * (2 * klen + 64) + klen * klen)
    if klen >= ACCOUNT:
        reserve_string(6 * klen)


def _rounds_per_look(klen: int) -> int:
    """Rounds between two looks at the clock: a few MB of hashing."""
    return max(1, min(4096, (1 << 22) // (2 * klen + 64)))


def _repeated_digest(h, key: bytes, times: int) -> bytes:
    """h(key * times).digest() without making key * times (SHA-crypt's P sequence:
    klen * klen bytes), looking at the clock between slices of a long one."""
    if len(key) * times <= _SLICE:
        return h(key * times).digest()
    d = h()
    update = d.update
    for r in ranges(0, times, 1, max(1, _SLICE // len(key))):
        for _ in r:
            update(key)
    return d.digest()


def _sha_crypt(key: bytes, setting: bytes) -> bytes:
    """SHA-crypt ($5$ SHA-256, $6$ SHA-512), Ulrich Drepper's specification."""
    prefix = setting[:3]
    h = hashlib.sha256 if prefix == b"$5$" else hashlib.sha512
    rest = setting[3:]
    rounds, custom = 5000, False
    if rest.startswith(b"rounds="):
        end = rest.find(b"$")
        digits = rest[7:end] if end >= 0 else b""
        if end >= 0 and digits.isdigit():
            rounds = max(1000, min(999999999, digits_value(digits, 999999999)))
            custom = True
            rest = rest[end + 1:]
    end = rest.find(b"$")
    salt = (rest[:end] if end >= 0 else rest)[:16]
    klen, slen = len(key), len(salt)
    _crypt_work(klen, rounds)
    b = h(key + salt + key).digest()
    hl = len(b)
    ctx = key + salt + _repeat_to(b, klen)
    n = klen
    while n > 0:
        ctx += b if n & 1 else key
        n >>= 1
    a = h(ctx).digest()
    p = _repeat_to(_repeated_digest(h, key, klen), klen) if klen else b""
    s = _repeat_to(h(salt * (16 + a[0])).digest(), slen) if slen else b""
    c = a
    every = _rounds_per_look(klen)
    for i in range(rounds):
        if not i % every:
            check_deadline()
        m = p if i & 1 else c
        if i % 3:
            m += s
        if i % 7:
            m += p
        m += c if i & 1 else p
        c = h(m).digest()
    out = bytearray()
    if hl == 32:
        for i, j, k in _SHA256_ORDER:
            out += _b64_24(c[i], c[j], c[k], 4)
        out += _b64_24(0, c[31], c[30], 3)
    else:
        for i, j, k in _SHA512_ORDER:
            out += _b64_24(c[i], c[j], c[k], 4)
        out += _b64_24(0, 0, c[63], 2)
    head = prefix + (b"rounds=%d$" % rounds if custom else b"")
    return head + salt + b"$" + bytes(out)


_libcrypt = None
_libcrypt_lock = threading.Lock()


def _system_crypt(key: bytes, salt: bytes):
    """crypt(3) from the system's libcrypt, or None when there is none."""
    global _libcrypt
    if _libcrypt is None:
        import ctypes
        import ctypes.util
        lib = False
        for name in ("libcrypt.so.1", ctypes.util.find_library("crypt")):
            if not name:
                continue
            try:
                lib = ctypes.CDLL(name)
                lib.crypt.restype = ctypes.c_char_p
                lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
                break
            except (OSError, AttributeError):
                lib = False
        _libcrypt = lib
    if _libcrypt is False or b"\0" in key or b"\0" in salt:
        return None
    with _libcrypt_lock:            # crypt() uses a static buffer
        return _libcrypt.crypt(key, salt)


@builtin("crypt", area=AREA)
def crypt_(key, salt):
    """crypt(3): `$1$` MD5-crypt and `$5$`/`$6$` SHA-crypt natively, other schemes through
    the system libcrypt; the failure token `*0` when the salt is not usable."""
    if type(key) is not bytes:
        raise type_error("crypt", 1, "a string", key)
    if type(salt) is not bytes:
        raise type_error("crypt", 2, "a string", salt)
    nul = key.find(b"\0")
    if nul >= 0:                    # C strings end at the first NUL
        key = key[:nul]
    if salt.startswith(b"$1$"):
        return _md5_crypt(key, salt)
    if salt.startswith(b"$5$") or salt.startswith(b"$6$"):
        return _sha_crypt(key, salt)
    result = _system_crypt(key, salt)
    if result is None or result[:1] == b"*":
        return b"*1" if salt.startswith(b"*0") else b"*0"
    return result
