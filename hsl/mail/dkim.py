"""DKIM signing and verification on message bytes (RFC 6376; RFC 8463 Ed25519; RFC 8301).

The canonicalisation is our own, on `cryptography` for the signatures: dkimpy cannot make
the field layout of hooks.md §3 nor take the field to verify, so it serves as the
independent oracle of the tests (with OpenDKIM's verifier), not as the implementation.

Interface (the lead wires it into MailMessage/MIME signDKIM and verifyDKIM):

    sign(message: bytes, selector: bytes, domain: bytes, key, options: SignOptions) -> bytes
        The complete header field to add at the top, ending in CRLF:
        b"DKIM-Signature: v=1; ...\\r\\n", or b"ARC-Message-Signature: i=N; ...\\r\\n" with
        options.arc = N.  `key`: PEM bytes, a key resource of hsl's crypto builtins
        (rsa_privatekey(), ed25519_privatekey()) or a `cryptography` private key.
        Raises DKIMError when signing cannot be done (unusable key, a key that does not
        fit the algorithm, a bad identity...): signDKIM then returns none.  A `pki:ID`
        key raises ScriptError: keys of the Halon server's PKI do not exist outside it.
    SignOptions.from_hsl(fname, opts) -> SignOptions
        Reads signDKIM's HSL option array (hooks.md §3): type errors and unknown values
        are ScriptErrors naming `fname`.
    verify(message: bytes, field: bytes, lookup=None, *, now=None) -> dict
        Verifies the one signature `field` (the raw field as getHeader(..., ["field" =>
        true]) gives it: name, colon, value with its folding, final CRLF): a DKIM-Signature,
        or an ARC-Message-Signature (i= is then the instance).  Returns {"result": "pass" |
        "permerror" | "temperror", "error": text (not on pass), "tags": {tag: value} (when
        the field parsed)}; result_to_hsl() makes the HSL array of it.
    lookup(name: str) -> list of TXT strings (bytes), or raises KeyLookupError("temperror"
        or "permerror", text).  resolver_lookup(timeout) asks the run's DNS (hsl.net.dns:
        --dns-table, --dns-server, or the system's) within the run's time limit;
        function_lookup(fn, fname) calls an HSL `dns_function` (host -> ["result" => [txt]]
        or ["error" => "temperror"|"permerror"]; any other error is a permerror).  The default is resolver_lookup(5).

Line endings: the message may use CRLF, bare LF or both (hsl keeps messages byte-exact).
Both signing and verification read every bare LF as CRLF, as the message will be on the
wire; a bare CR stays data.  dkimpy does the same; OpenDKIM (with its FIXCRLF flag, as
opendkim-testmsg sets it) also reads bare LF as CRLF but turns a bare CR into CRLF too.
A body whose last line has no line ending is read with one (so in relaxed mode that
line's trailing whitespace goes: dkimpy keeps one space there, OpenDKIM drops the CRLF).

Header fields: a field starts on a line that does not begin with SP or HTAB and runs
over its continuation lines; a line without a colon (or a name that is not printable
ASCII) is not a field and is never signed.  The header block ends at the first empty
line.  h= picks fields from the bottom up, so a name listed twice signs the two
lowest instances, and a name listed more often than it occurs signs "nothing" (RFC 6376
5.4.2): that is how oversigning guards against added fields.  When verifying, the field
being verified is left out of that choice, as the signer did not see it.

Choices where hooks.md §3 leaves things open (UNSPECIFIED there):
* `headers` defaults to RFC 6376 section 5.4.1's list (DEFAULT_HEADERS); `from` is always
  signed: it is added to h= when neither the list nor `oversign_headers` has it.
* `timestamp` true is t=now, a number is t=that; `expiration` is x= as a Unix time,
  `expiration_relative` is x= seconds after t= (after now without t=); x= must be later
  than t=.  `identity` is i= (the AUID: its domain must be d= or a subdomain of it);
  `id` true means the key names a key of the Halon PKI, like `pki:ID` (ScriptError).
* `body_length` puts l= (the length of the canonical body) on the d= line.
* With `arc`, `identity` is an error (i= is the instance) and `arc-seal` cannot be signed.
* Verification: x= in the past is "signature expired"; an RSA key under 1024 bits is
  refused (RFC 8301); l= larger than the body is a permerror; NXDOMAIN or no TXT record is
  a permerror ("no key"), any other DNS failure a temperror; of several TXT records the
  first that is a key record is used.
"""
from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional, Union

from ..runtime import execution as _execution
from ..runtime import sources as _sources
from ..builtins._args import opt_array, opt_bool, opt_str, opt_str_list
from ..builtins.mail import dkim_tag_list
from ..errors import ScriptError
from ..net import dns as resolver
from ..runtime.values import HArray, HFunction, HResource, type_name

# a= value -> (key type, hash)
ALGORITHMS = {b"rsa-sha256": ("rsa", "sha256"), b"rsa-sha1": ("rsa", "sha1"),
              b"ed25519-sha256": ("ed25519", "sha256")}
CANONICALIZATIONS = (b"relaxed", b"simple")

# RFC 6376 section 5.4.1: the fields a signer should sign.
DEFAULT_HEADERS = (
    b"from", b"sender", b"reply-to", b"subject", b"date", b"message-id", b"to", b"cc",
    b"mime-version", b"content-type", b"content-transfer-encoding", b"content-id",
    b"content-description", b"resent-date", b"resent-from", b"resent-sender",
    b"resent-to", b"resent-cc", b"resent-message-id", b"in-reply-to", b"references",
    b"list-id", b"list-help", b"list-unsubscribe", b"list-subscribe", b"list-post",
    b"list-owner", b"list-archive")

MIN_RSA_BITS = 1024             # RFC 8301 section 3.2
FOLD = 80                       # hooks.md §3: b= and h= folded at 80 columns
MAX_ARC_INSTANCE = 50           # RFC 8617 section 4.2.1
DEFAULT_TIMEOUT = 5.0


class DKIMError(Exception):
    """Signing could not be done (the signDKIM methods return none)."""


class KeyLookupError(Exception):
    """A key lookup failed: `result` is "temperror" or "permerror"."""

    def __init__(self, result: str, message: str):
        super().__init__(message)
        self.result = result


# ------------------------------------------------------------------- options

@dataclass(frozen=True)
class SignOptions:
    """signDKIM's options (hooks.md §3), as Python values.  Names are bytes."""
    canonicalization_header: bytes = b"relaxed"
    canonicalization_body: bytes = b"relaxed"
    algorithm: bytes = b"rsa-sha256"
    headers: Optional[tuple] = None             # None: DEFAULT_HEADERS
    additional_headers: tuple = ()
    oversign_headers: tuple = (b"from",)
    timestamp: Union[bool, int] = False         # True: now
    expiration: Optional[int] = None            # x= as a Unix time
    expiration_relative: Optional[int] = None   # x= this many seconds after t= (or now)
    identity: Optional[bytes] = None            # i=
    body_length: bool = False                   # l=
    return_header: bool = False                 # for the methods: return the field
    arc: Optional[int] = None                   # an ARC-Message-Signature of instance arc

    def __post_init__(self):
        if self.algorithm not in ALGORITHMS:
            raise DKIMError(f"unknown algorithm {self.algorithm!r}")
        for c in (self.canonicalization_header, self.canonicalization_body):
            if c not in CANONICALIZATIONS:
                raise DKIMError(f"unknown canonicalization {c!r}")

    @classmethod
    def from_hsl(cls, fname: str, options) -> "SignOptions":
        """The options of an HSL signDKIM call (an array or none).  ScriptError for a
        value of the wrong type or an unknown algorithm or canonicalization."""
        o = opt_array(fname, 4, options)
        if opt_bool(fname, o, b"id", False):
            raise _pki_error(fname)
        kw = {}
        for name, choices in ((b"canonicalization_header", CANONICALIZATIONS),
                              (b"canonicalization_body", CANONICALIZATIONS),
                              (b"algorithm", tuple(ALGORITHMS))):
            v = opt_str(fname, o, name)
            if v is not None:
                if v.lower() not in choices:
                    raise ScriptError(f"{fname}() option '{name.decode()}' must be "
                                      f"{' or '.join(c.decode() for c in choices)}")
                kw[name.decode()] = v.lower()
        for name in (b"headers", b"additional_headers", b"oversign_headers"):
            v = opt_str_list(fname, o, name)
            if v is not None:
                kw[name.decode()] = tuple(v)
        ts = o.d.get(b"timestamp")
        if ts is not None:
            if type(ts) is float:
                kw["timestamp"] = _whole(fname, b"timestamp", ts)
            elif type(ts) is bool:
                kw["timestamp"] = ts
            else:
                raise ScriptError(f"{fname}() option 'timestamp' must be a boolean or a "
                                  f"number, got {type_name(ts)} (type error)")
        for name in (b"expiration", b"expiration_relative", b"arc"):
            v = o.d.get(name)
            if v is not None:
                if type(v) is not float:
                    raise ScriptError(f"{fname}() option '{name.decode()}' must be a "
                                      f"number, got {type_name(v)} (type error)")
                kw[name.decode()] = _whole(fname, name, v)
        kw["identity"] = opt_str(fname, o, b"identity")
        kw["body_length"] = opt_bool(fname, o, b"body_length", False)
        kw["return_header"] = opt_bool(fname, o, b"return_header", False)
        return cls(**kw)


def _whole(fname: str, name: bytes, v: float) -> int:
    if v != v or v in (float("inf"), float("-inf")) or v < 0:
        raise ScriptError(f"{fname}() option '{name.decode()}' must be a number >= 0")
    return int(v)


def _pki_error(fname: str = "signDKIM") -> ScriptError:
    return ScriptError(f"{fname}(): keys of the Halon PKI (pki:ID, option id) are not "
                       "available outside Halon; pass a PEM key or a key resource")


# ------------------------------------------------------------------- message

class Field(NamedTuple):
    lname: bytes        # the name, lowercase
    raw: bytes          # the whole field with its folding and final CRLF (CRLF only)


_EOH = re.compile(rb"\n\r?\n")
_FIELD = re.compile(rb"^[^ \t\r\n][^\n]*\n(?:[ \t][^\n]*\n)*", re.M)
_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*\Z")


def crlf(data: bytes) -> bytes:
    """`data` with every bare LF made CRLF (bare CRs stay)."""
    n = data.count(b"\n")
    if n and n != data.count(b"\r\n"):
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return data


def split_message(message: bytes) -> tuple:
    """(header fields top to bottom, body bytes as they are)."""
    if message[:1] == b"\n":
        return [], message[1:]
    if message[:2] == b"\r\n":
        return [], message[2:]
    m = _EOH.search(message)
    if m is None:
        head, body = message, b""
    else:
        head, body = message[:m.start() + 1], message[m.end():]
    head = crlf(head)
    if not head.endswith(b"\r\n"):
        head += b"\r\n"
    return [f for f in map(_field, _FIELD.findall(head)) if f is not None], body


def _field(raw: bytes) -> Optional[Field]:
    name, colon, _ = raw.partition(b":")
    if not colon or _NAME.match(name) is None:
        return None
    return Field(name.rstrip(b" \t").lower(), raw)


# ---------------------------------------------------------- canonicalisation

_WSP = re.compile(rb"[ \t]+")
_WSP_RUN = re.compile(rb"[ \t]{2,}|\t")
BODY_CHUNK = 1 << 20


def canon_header(raw: bytes, relaxed: bool) -> bytes:
    """One field (CRLF line endings, final CRLF included) in canonical form."""
    if not relaxed:
        return raw
    name, _, value = raw.partition(b":")
    value = _WSP.sub(b" ", value.replace(b"\r\n", b"")).strip(b" \t")
    return name.rstrip(b" \t").lower() + b":" + value + b"\r\n"


def body_hash(body: bytes, relaxed: bool, hashname: str, limit: Optional[int] = None):
    """(digest, length) of the canonical body: `length` counts the whole canonical body,
    the digest covers its first `limit` bytes (all without a limit).  Works through the
    body a megabyte at a time, so a large body is never copied whole."""
    h = hashlib.new(hashname)
    _execution.work(len(body))
    total = 0

    def emit(data: bytes) -> None:
        nonlocal total
        if limit is None:
            h.update(data)
        elif total < limit:
            h.update(data[:limit - total])
        total += len(data)

    pending = 0         # CRLFs held back: the last line's own and the empty lines after it
    started = False
    pos, n = 0, len(body)
    while pos < n:
        end = pos + BODY_CHUNK
        if end < n:     # cut after a LF, so no line (and no CRLF) is split
            cut = body.rfind(b"\n", pos, end)
            end = cut + 1 if cut >= 0 else body.find(b"\n", end) + 1 or n
        chunk = body[pos:end]
        pos = end
        if not chunk.endswith(b"\n"):
            chunk += b"\r\n"            # the last line, read with its line ending
        chunk = crlf(chunk)
        if relaxed:
            chunk = _WSP_RUN.sub(b" ", chunk).replace(b" \r\n", b"\r\n")
        stop = len(chunk)
        while chunk.endswith(b"\r\n", 0, stop):
            stop -= 2
        if stop:
            if pending:
                emit(b"\r\n" * pending)
            emit(chunk[:stop] if stop < len(chunk) else chunk)
            pending = (len(chunk) - stop) // 2
            started = True
        else:
            pending += len(chunk) // 2
        _execution.check_deadline()
    if started or not relaxed:          # simple: an empty body is one CRLF
        emit(b"\r\n")
    return h.digest(), total


# b= and its value (RFC 6376 3.7: deleted, with the folding inside it, when hashing)
_B_TAG = re.compile(rb"((?:^|;)[ \t\r\n]*b[ \t\r\n]*=)(?:[ \t\r\n]*[A-Za-z0-9+/=])*")


def canon_signature_field(raw: bytes, relaxed: bool) -> bytes:
    """The signature field as it is hashed: b= empty, canonical, without the final
    CRLF."""
    name, _, value = raw.partition(b":")
    raw = name + b":" + _B_TAG.sub(rb"\1", value, count=1)
    if relaxed:
        raw = canon_header(raw, True)
    return raw[:-2] if raw.endswith(b"\r\n") else raw


def header_data(fields: list, names: list, relaxed: bool, exclude: int = -1) -> bytes:
    """The canonical fields named by h= (`names`, lowercase), each instance taken from
    the bottom up; the field at index `exclude` is left out."""
    pools: dict = {}
    for i, f in enumerate(fields):
        if i != exclude:
            pools.setdefault(f.lname, []).append(f.raw)
    out = []
    for name in names:
        pool = pools.get(name)
        if pool:
            out.append(canon_header(pool.pop(), relaxed))
    return b"".join(out)


# ---------------------------------------------------------------------- keys

def private_key(key, algorithm: bytes):
    """The `cryptography` private key for `algorithm` from PEM bytes, a key resource or
    a key object.  DKIMError when it is unusable or of another type."""
    if type(key) is bytes:
        if key[:4].lower() == b"pki:":
            raise _pki_error()
        k = _load_pem(key)
        if k is None:
            raise DKIMError("the key is not a PEM private key")
    elif isinstance(key, HResource) and hasattr(key, "key"):
        k = key.key
    else:
        k = key
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    ktype = ALGORITHMS[algorithm][0]
    if ktype == "rsa" and isinstance(k, rsa.RSAPrivateKey):
        return k
    if ktype == "ed25519" and isinstance(k, ed25519.Ed25519PrivateKey):
        return k
    raise DKIMError(f"{algorithm.decode()} needs an {'RSA' if ktype == 'rsa' else 'Ed25519'}"
                    " private key")


@functools.lru_cache(maxsize=64)
def _load_pem(pem: bytes):
    # Loading (and checking) an RSA key takes longer than signing with it: a run that
    # signs many messages with the same PEM text loads it once.
    from cryptography.hazmat.primitives import serialization
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except Exception:           # ValueError, TypeError, UnsupportedAlgorithm
        return None


def _hash_algorithm(hashname: str):
    from cryptography.hazmat.primitives import hashes
    return hashes.SHA256() if hashname == "sha256" else hashes.SHA1()


def sign_data(key, algorithm: bytes, data: bytes) -> bytes:
    """The raw signature of the canonical header data: PKCS#1 v1.5 for RSA; Ed25519 over
    the SHA-256 digest of the data (RFC 8463 section 3)."""
    ktype, hashname = ALGORITHMS[algorithm]
    if ktype == "ed25519":
        return key.sign(hashlib.sha256(data).digest())
    from cryptography.hazmat.primitives.asymmetric import padding
    return key.sign(data, padding.PKCS1v15(), _hash_algorithm(hashname))


def verify_data(key, algorithm: bytes, data: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    ktype, hashname = ALGORITHMS[algorithm]
    try:
        if ktype == "ed25519":
            key.verify(signature, hashlib.sha256(data).digest())
        else:
            from cryptography.hazmat.primitives.asymmetric import padding
            key.verify(signature, data, padding.PKCS1v15(), _hash_algorithm(hashname))
    except (InvalidSignature, ValueError):
        return False
    return True


def public_key_record(key) -> bytes:
    """The DNS TXT record that publishes the public half of `key` (for tests and
    tools): b"v=DKIM1; k=rsa; p=..." or k=ed25519 with the raw 32 bytes."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    pub = key.public_key()
    if isinstance(pub, ed25519.Ed25519PublicKey):
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw)
    der = pub.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


# ---------------------------------------------------------------------- sign

def sign(message: bytes, selector: bytes, domain: bytes, key,
         options: Optional[SignOptions] = None) -> bytes:
    """The DKIM-Signature (or, with options.arc, ARC-Message-Signature) field for
    `message`, folded as hooks.md §3 lays it out, ending in CRLF.  See the module
    docstring for `key` and the errors."""
    o = options or SignOptions()
    _check_token(b"selector", selector)
    _check_token(b"domain", domain)
    pkey = private_key(key, o.algorithm)
    hashname = ALGORITHMS[o.algorithm][1]
    relaxed_h = o.canonicalization_header == b"relaxed"
    relaxed_b = o.canonicalization_body == b"relaxed"
    fields, body = split_message(message)
    bh, length = body_hash(body, relaxed_b, hashname)
    names = signed_names(fields, o)

    now = int(_sources.now())
    t = (now if o.timestamp is True else None) if type(o.timestamp) is bool else o.timestamp
    x = o.expiration
    if x is None and o.expiration_relative is not None:
        x = (now if t is None else t) + o.expiration_relative
    if t is not None and x is not None and x <= t:
        raise DKIMError("the expiration (x=) must be later than the timestamp (t=)")

    if o.arc is not None:
        if not 1 <= o.arc <= MAX_ARC_INSTANCE:
            raise DKIMError(f"the ARC instance must be 1 to {MAX_ARC_INSTANCE}")
        if o.identity is not None:
            raise DKIMError("identity (i=) cannot be used with arc: i= is the instance")
        first = b"ARC-Message-Signature: i=%d; " % o.arc
    else:
        first = b"DKIM-Signature: v=1; "
    first += b"a=%s; c=%s/%s;" % (o.algorithm, o.canonicalization_header,
                                   o.canonicalization_body)
    if t is not None:
        first += b" t=%d;" % t
    if x is not None:
        first += b" x=%d;" % x
    second = b"\td=%s; s=%s;" % (domain, selector)
    if o.identity is not None:
        _check_identity(o.identity, domain)
        second += b" i=%s;" % o.identity
    if o.body_length:
        second += b" l=%d;" % length
    head = b"".join((first, b"\r\n", second, b"\r\n", _fold_names(names), b";\r\n",
                     b"\tbh=", base64.b64encode(bh), b";\r\n\tb="))

    data = header_data(fields, names, relaxed_h) + canon_signature_field(head, relaxed_h)
    try:
        signature = sign_data(pkey, o.algorithm, data)
    except ValueError as e:             # e.g. an RSA key too small for the digest
        raise DKIMError(f"signing failed: {e}") from None
    return head + fold_base64(base64.b64encode(signature), len(b"\tb=")) + b"\r\n"


def signed_names(fields: list, o: SignOptions) -> list:
    """h=: the present fields named by `headers` (+ `additional_headers`), from the
    bottom of the header block up, then the oversigned names; `from` at least."""
    wanted = {n.lower() for n in (DEFAULT_HEADERS if o.headers is None else o.headers)}
    wanted.update(n.lower() for n in o.additional_headers)
    oversigned = [n.lower() for n in o.oversign_headers]
    for n in wanted.union(oversigned):
        if not _NAME.match(n) or n.endswith((b" ", b"\t")):
            raise DKIMError(f"{n!r} is not a header field name")
    if o.arc is not None and b"arc-seal" in wanted.union(oversigned):
        raise DKIMError("an ARC-Message-Signature cannot sign ARC-Seal (RFC 8617)")
    names = [f.lname for f in reversed(fields) if f.lname in wanted] + oversigned
    if b"from" not in names:
        names.append(b"from")
    return names


def _fold_names(names: list) -> bytes:
    line, lines = b"\th=" + names[0], []
    for n in names[1:]:
        if len(line) + 1 + len(n) > FOLD:
            lines.append(line + b":")
            line = b"\t" + n
        else:
            line += b":" + n
    return b"\r\n".join(lines + [line])


def fold_base64(text: bytes, column: int) -> bytes:
    """`text` folded with CRLF + TAB so that no line passes FOLD columns, the first line
    starting at `column`."""
    first = FOLD - column
    rest = FOLD - 1
    parts = [text[:first]] + [text[i:i + rest] for i in range(first, len(text), rest)]
    return b"\r\n\t".join(parts)


_TOKEN_BAD = re.compile(rb"[\x00-\x20\x7f;=:]")


def _check_token(what: bytes, value: bytes) -> None:
    if type(value) is not bytes or not value or _TOKEN_BAD.search(value):
        raise DKIMError(f"the {what.decode()} {value!r} cannot go in a signature")


def _check_identity(identity: bytes, domain: bytes) -> None:
    local, at, host = identity.rpartition(b"@")
    if (not at or _TOKEN_BAD.search(identity)
            or not _in_domain(host, domain)):
        raise DKIMError("the identity (i=) must be an address in the signing domain "
                        "or a subdomain of it")


def _in_domain(host: bytes, domain: bytes) -> bool:
    host, domain = host.lower(), domain.lower()
    return host == domain or host.endswith(b"." + domain)


# -------------------------------------------------------------------- verify

class Failure(Exception):
    """A signature that does not verify: `result` is "permerror" or "temperror"."""

    def __init__(self, result: str, message: str):
        super().__init__(message)
        self.result = result


def permerror(message: str) -> Failure:
    return Failure("permerror", message)


def verify(message: bytes, field: bytes, lookup: Optional[Callable] = None, *,
           now: Optional[float] = None) -> dict:
    """Verify the signature `field` against `message` (see the module docstring)."""
    field = crlf(field)
    if not field.endswith(b"\r\n"):
        field += b"\r\n"
    name, colon, value = field.partition(b":")
    lname = name.rstrip(b" \t").lower()
    if not colon or lname not in (b"dkim-signature", b"arc-message-signature"):
        return {"result": "permerror",
                "error": "not a DKIM-Signature or ARC-Message-Signature field"}
    tags = dkim_tag_list(value)
    if tags is None:
        return {"result": "permerror", "error": "the signature is not a valid tag list"}
    try:
        check_signature(message, field, tags, lname == b"arc-message-signature",
                        lookup or resolver_lookup(), now)
    except Failure as e:
        return {"result": e.result, "error": str(e), "tags": tags}
    return {"result": "pass", "tags": tags}


def check_signature(message: bytes, field: bytes, tags: dict, arc: bool, lookup,
                    now: Optional[float]) -> None:
    """Raise Failure unless the signature field (CRLF line endings) with these tags
    verifies."""
    required = (b"i", b"a", b"b", b"bh", b"d", b"h", b"s") if arc else \
        (b"v", b"a", b"b", b"bh", b"d", b"h", b"s")
    for t in required:
        if t not in tags:
            raise permerror(f"the signature has no {t.decode()}= tag")
    if not arc and tags[b"v"] != b"1":
        raise permerror("unsupported signature version (v=)")
    algorithm = tags[b"a"].lower()
    if algorithm not in ALGORITHMS:
        raise permerror(f"unsupported algorithm {tags[b'a'].decode('ascii', 'replace')}")
    hashname = ALGORITHMS[algorithm][1]
    c = tags.get(b"c", b"simple/simple").lower()
    hc, _, bc = c.partition(b"/")
    bc = bc or b"simple"
    if hc not in CANONICALIZATIONS or bc not in CANONICALIZATIONS:
        raise permerror("unsupported canonicalization (c=)")
    domain, selector = tags[b"d"], tags[b"s"]
    if not domain or not selector:
        raise permerror("empty d= or s=")
    names = [n.lower() for n in tags[b"h"].split(b":")]
    if b"from" not in names:
        raise permerror("the From field is not signed (h=)")
    if arc:
        if not tags[b"i"].isdigit() or not 1 <= int(tags[b"i"]) <= MAX_ARC_INSTANCE:
            raise permerror("bad ARC instance (i=)")
        if b"arc-seal" in names:
            raise permerror("an ARC-Message-Signature must not sign ARC-Seal")
    elif b"i" in tags and not _in_domain(tags[b"i"].rpartition(b"@")[2], domain):
        raise permerror("the identity (i=) is not in the signing domain (d=)")
    if b"q" in tags and b"dns/txt" not in tags[b"q"].lower().split(b":"):
        raise permerror("unsupported query method (q=)")
    limit = tags.get(b"l")
    if limit is not None:
        if not limit.isdigit() or len(limit) > 76:
            raise permerror("bad body length (l=)")
        limit = int(limit)
    now = _sources.now() if now is None else now
    for t in (b"t", b"x"):
        if t in tags and not tags[t].isdigit():
            raise permerror(f"bad {t.decode()}= value")
    if b"x" in tags:
        if b"t" in tags and int(tags[b"x"]) < int(tags[b"t"]):
            raise permerror("the expiration (x=) is earlier than the timestamp (t=)")
        if int(tags[b"x"]) < now:
            raise permerror("signature expired")
    try:
        signature = base64.b64decode(tags[b"b"], validate=True)
        expected_bh = base64.b64decode(tags[b"bh"], validate=True)
    except (binascii.Error, ValueError):
        raise permerror("b= or bh= is not base64") from None

    key = fetch_key(selector, domain, algorithm, lookup,
                    None if arc else tags.get(b"i"))

    fields, body = split_message(message)
    bh, length = body_hash(body, bc == b"relaxed", hashname, limit)
    if limit is not None and limit > length:
        raise permerror("the body is shorter than the body length (l=)")
    if bh != expected_bh:
        raise permerror("body hash did not verify")
    exclude = next((i for i, f in enumerate(fields) if f.raw == field), -1)
    relaxed = hc == b"relaxed"
    data = header_data(fields, names, relaxed, exclude) + canon_signature_field(field, relaxed)
    if not verify_data(key, algorithm, data, signature):
        raise permerror("signature did not verify")


def fetch_key(selector: bytes, domain: bytes, algorithm: bytes, lookup,
              identity: Optional[bytes] = None):
    """The public key published at selector._domainkey.domain for `algorithm`; raises
    Failure.  `identity`: the signature's i=, checked against the record's t=s flag."""
    try:
        host = (selector + b"._domainkey." + domain).decode("ascii")
    except UnicodeDecodeError:
        raise permerror("d= and s= must be ASCII (A-labels)") from None
    try:
        records = lookup(host)
    except KeyLookupError as e:
        raise Failure(e.result, str(e)) from None
    if not records:
        raise permerror(f"no key for the signature ({host})")
    problem = None
    for record in records:
        tags = dkim_tag_list(record)
        if tags is None or (b"v" in tags and next(iter(tags)) != b"v"):
            problem = problem or "the key record is not a valid tag list"
            continue
        try:
            return _key_from_record(tags, algorithm, identity, domain)
        except Failure as e:
            problem = problem or str(e)
    raise permerror(problem)


def _key_from_record(tags: dict, algorithm: bytes, identity, domain: bytes):
    ktype, hashname = ALGORITHMS[algorithm]
    if tags.get(b"v", b"DKIM1") != b"DKIM1":
        raise permerror("unsupported key record version (v=)")
    if tags.get(b"k", b"rsa").lower() != ktype.encode():
        raise permerror("the key type (k=) does not match the algorithm (a=)")
    if b"h" in tags and hashname.encode() not in tags[b"h"].lower().split(b":"):
        raise permerror("the key does not allow the hash algorithm (h=)")
    services = tags.get(b"s", b"*").lower().split(b":")
    if b"*" not in services and b"email" not in services:
        raise permerror("the key is not for email (s=)")
    if identity is not None and b"s" in tags.get(b"t", b"").lower().split(b":"):
        if identity.rpartition(b"@")[2].lower() != domain.lower():
            raise permerror("the key requires i= in d= itself (t=s)")
    p = tags.get(b"p")
    if p is None:
        raise permerror("the key record has no p= tag")
    if not p:
        raise permerror("the key is revoked (empty p=)")
    try:
        raw = base64.b64decode(p, validate=True)
    except (binascii.Error, ValueError):
        raise permerror("the key (p=) is not base64") from None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    try:
        if ktype == "ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        key = serialization.load_der_public_key(raw)
    except Exception:
        raise permerror("the key (p=) cannot be read") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise permerror("the key (p=) is not an RSA key")
    if key.key_size < MIN_RSA_BITS:
        raise permerror(f"the RSA key has {key.key_size} bits, fewer than {MIN_RSA_BITS}")
    return key


# -------------------------------------------------------------------- lookups

def resolver_lookup(timeout: float = DEFAULT_TIMEOUT) -> Callable:
    """A lookup on the run's DNS (hsl.net.dns), each query bounded by `timeout` and by
    the run's time limit."""

    def lookup(name: str) -> list:
        answer = resolver.query_in_run(name, "txt", timeout, what="dkim")
        if answer.error in ("NXDOMAIN", None):
            return [r.encode("utf-8", "surrogateescape") for r in answer.records]
        raise KeyLookupError("temperror", f"key lookup failed: {answer.error}")
    return lookup


def function_lookup(fn: HFunction, fname: str = "verifyDKIM") -> Callable:
    """A lookup that calls the HSL function `fn(host)`: it returns ["result" => [txt...]]
    (or one TXT string, as the DMARC module's tests give it) or ["error" => text]:
    "temperror" is a temperror, any other error (Halon's modules also return made-up
    ones such as "permfail") a permerror.  Anything else is a ScriptError."""
    def lookup(name: str) -> list:
        answer = fn(name.encode("ascii"))
        if type(answer) is HArray:
            error = answer.d.get(b"error")
            if type(error) is bytes:
                result = "temperror" if error == b"temperror" else "permerror"
                raise KeyLookupError(result, "key lookup failed: "
                                     f"{error.decode('utf-8', 'replace')} (dns_function)")
            records = answer.d.get(b"result")
            if type(records) is bytes:
                return [records]
            if error is None and type(records) is HArray and \
                    all(type(r) is bytes for r in records.values()):
                return list(records.values())
        raise ScriptError(f"{fname}() option 'dns_function' must return [\"result\" => "
                          "[txt...]] or [\"error\" => text]")
    return lookup


def result_to_hsl(result: dict) -> HArray:
    """verify()'s result as the HSL array verifyDKIM returns."""
    out = HArray()
    out.set(b"result", result["result"].encode())
    if "error" in result:
        out.set(b"error", result["error"].encode("utf-8", "replace"))
    if "tags" in result:
        out.set(b"tags", HArray.from_dict_normalized(result["tags"]))
    return out
