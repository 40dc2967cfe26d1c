"""ARC (RFC 8617) on message bytes: sealing a message with its next ARC set, and
validating the chain of ARC sets it carries.  Built on hsl.mail.dkim (canonicalisation,
keys, lookups); dkimpy's ARC verifier is the oracle of tests/test_mail_arc.py.

    seal(message: bytes, selector: bytes, domain: bytes, key, results: bytes, *,
         cv=None, options=None, lookup=None, timestamp=None) -> bytes
        The three fields of the next ARC set, to add at the top in this order (each ends
        in CRLF): ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results.  The
        instance is one more than the highest i= on the message.  `results` is the
        ARC-Authentication-Results payload after "i=N; " (the authserv-id and the
        results, e.g. b"mx.example.org; spf=pass smtp.mailfrom=example.com").  `cv` is
        the chain validation status sealed in (b"none", b"pass" or b"fail"); without it,
        b"none" for instance 1 and otherwise what validate(message, lookup) finds.
        `options` (dkim.SignOptions) shape the ARC-Message-Signature (algorithm, headers,
        canonicalization...; `arc` and `identity` are set here); the seal uses the same
        algorithm and relaxed canonicalisation.  Raises dkim.DKIMError when it cannot
        seal (a broken chain sealed as "pass", more than 50 instances, key problems).
    validate(message: bytes, lookup=None, *, now=None) -> dict
        {"cv": "none" | "pass" | "fail", "instance": highest i= (0 without ARC),
        "error": text when "fail"}.  RFC 8617 section 5.2: complete sets 1..N, the newest
        ARC-Message-Signature verifies, every ARC-Seal verifies, cv=none on instance 1
        and cv=pass on the others; a newest seal that says cv=fail ends the chain as fail.

A seal (RFC 8617 section 5.1.1) signs, in relaxed canonicalisation, the ARC sets 1..i
in instance order (ARC-Authentication-Results, ARC-Message-Signature, ARC-Seal each), the
seal itself last with b= empty; a seal with cv=fail signs its own set only (as dkimpy).
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import replace
from typing import Optional

from ..builtins.mail import dkim_tag_list
from ..runtime import sources as _sources
from . import dkim

ARC_FIELDS = (b"arc-authentication-results", b"arc-message-signature", b"arc-seal")
CV = (b"none", b"pass", b"fail")
_AAR_INSTANCE = re.compile(rb"[ \t\r\n]*i[ \t\r\n]*=[ \t\r\n]*([0-9]+)[ \t\r\n]*;")


class _Broken(Exception):
    """The ARC sets on a message do not form a chain."""


def arc_sets(fields: list) -> dict:
    """{instance: {name: raw field}} of the message's ARC fields (dkim.Field list);
    _Broken when a field has no instance or an instance has a field twice."""
    sets: dict = {}
    for f in fields:
        if f.lname not in ARC_FIELDS:
            continue
        value = f.raw.partition(b":")[2]
        if f.lname == b"arc-authentication-results":
            m = _AAR_INSTANCE.match(value)
            instance = m and m.group(1)
        else:
            instance = (dkim_tag_list(value) or {}).get(b"i")
        if not instance or not instance.isdigit():
            raise _Broken(f"an {f.lname.decode()} field without an instance (i=)")
        fields_of = sets.setdefault(int(instance), {})
        if f.lname in fields_of:
            raise _Broken(f"two {f.lname.decode()} fields for instance {int(instance)}")
        fields_of[f.lname] = f.raw
    return sets


def _complete(sets: dict) -> int:
    """The highest instance, after checking that sets 1..N are all there and whole."""
    top = max(sets)
    if top > dkim.MAX_ARC_INSTANCE:
        raise _Broken(f"more than {dkim.MAX_ARC_INSTANCE} ARC instances")
    for i in range(1, top + 1):
        if len(sets.get(i, ())) != 3:
            raise _Broken(f"the ARC set of instance {i} is incomplete")
    return top


def seal_data(sets: dict, instance: int, seal_field: bytes, cv: bytes) -> bytes:
    """What the ARC-Seal `seal_field` of `instance` signs (relaxed canonicalisation)."""
    first = instance if cv == b"fail" else 1
    parts = []
    for i in range(first, instance + 1):
        for name in ARC_FIELDS:
            if i == instance and name == b"arc-seal":
                parts.append(dkim.canon_signature_field(seal_field, True))
            else:
                parts.append(dkim.canon_header(sets[i][name], True))
    return b"".join(parts)


# ----------------------------------------------------------------------- seal

def seal(message: bytes, selector: bytes, domain: bytes, key, results: bytes, *,
         cv: Optional[bytes] = None, options: Optional[dkim.SignOptions] = None,
         lookup=None, timestamp: Optional[int] = None) -> bytes:
    """The next ARC set of `message` (see the module docstring)."""
    fields, _ = dkim.split_message(message)
    try:
        sets = arc_sets(fields)
        instance = (_complete(sets) if sets else 0) + 1
    except _Broken as e:
        if cv not in (None, b"fail"):
            raise dkim.DKIMError(f"cannot seal a broken ARC chain as cv={cv.decode()}: {e}") \
                from None
        sets = {}
        instance = max([i for i in _instances(fields)] or [0]) + 1
    if instance > dkim.MAX_ARC_INSTANCE:
        raise dkim.DKIMError(f"the message has {dkim.MAX_ARC_INSTANCE} ARC sets already")
    if cv is None:
        cv = b"none" if instance == 1 else validate(message, lookup)["cv"].encode()
    if cv not in CV:
        raise dkim.DKIMError(f"cv must be none, pass or fail, not {cv!r}")
    if (instance == 1) != (cv == b"none"):
        raise dkim.DKIMError("cv=none is for the first ARC set and only for it")
    if b"\r" in results or b"\n" in results:
        raise dkim.DKIMError("the authentication results must be one line")

    o = replace(options or dkim.SignOptions(), arc=instance, identity=None)
    aar = b"ARC-Authentication-Results: i=%d; %s\r\n" % (instance, results)
    ams = dkim.sign(aar + message, selector, domain, key, o)
    pkey = dkim.private_key(key, o.algorithm)
    t = int(_sources.now()) if timestamp is None else timestamp
    head = (b"ARC-Seal: i=%d; a=%s; t=%d; cv=%s;\r\n\td=%s; s=%s;\r\n\tb="
            % (instance, o.algorithm, t, cv, domain, selector))
    sets[instance] = {b"arc-authentication-results": aar, b"arc-message-signature": ams}
    signature = dkim.sign_data(pkey, o.algorithm, seal_data(sets, instance, head, cv))
    as_field = head + dkim.fold_base64(base64.b64encode(signature), len(b"\tb=")) + b"\r\n"
    return as_field + ams + aar


def _instances(fields: list):
    """The instance numbers that can be read from ARC fields (for a broken chain)."""
    for f in fields:
        if f.lname in ARC_FIELDS:
            m = re.search(rb"(?:^|;)[ \t\r\n]*i[ \t\r\n]*=[ \t\r\n]*([0-9]{1,4})",
                          f.raw.partition(b":")[2])
            if m:
                yield int(m.group(1))


# ------------------------------------------------------------------- validate

def validate(message: bytes, lookup=None, *, now: Optional[float] = None) -> dict:
    """The chain validation status of `message` (see the module docstring)."""
    lookup = lookup or dkim.resolver_lookup()
    fields, _ = dkim.split_message(message)
    try:
        sets = arc_sets(fields)
        if not sets:
            return {"cv": "none", "instance": 0}
        top = _complete(sets)
    except _Broken as e:
        return {"cv": "fail", "instance": max(_instances(fields), default=0), "error": str(e)}

    def fail(error: str) -> dict:
        return {"cv": "fail", "instance": top, "error": error}
    seals = {}
    for i in range(1, top + 1):
        tags = dkim_tag_list(sets[i][b"arc-seal"].partition(b":")[2])
        if tags is None:
            return fail(f"the ARC-Seal of instance {i} is not a valid tag list")
        seals[i] = tags
    if seals[top].get(b"cv") == b"fail":
        return fail(f"the ARC-Seal of instance {top} says cv=fail")
    ams = sets[top][b"arc-message-signature"]
    r = dkim.verify(message, ams, lookup, now=now)
    if r["result"] != "pass":
        return fail(f"the ARC-Message-Signature of instance {top}: {r['error']}")
    for i in range(top, 0, -1):
        cv = seals[i].get(b"cv")
        if cv != (b"none" if i == 1 else b"pass"):
            return fail(f"the ARC-Seal of instance {i} has cv={(cv or b'').decode()}")
        try:
            _check_seal(sets, i, seals[i], lookup)
        except dkim.Failure as e:
            return fail(f"the ARC-Seal of instance {i}: {e}")
    return {"cv": "pass", "instance": top}


def _check_seal(sets: dict, instance: int, tags: dict, lookup) -> None:
    for t in (b"a", b"b", b"d", b"s", b"cv"):
        if t not in tags:
            raise dkim.permerror(f"no {t.decode()}= tag")
    if b"h" in tags:
        raise dkim.permerror("an ARC-Seal has no h= tag")
    algorithm = tags[b"a"].lower()
    if algorithm not in dkim.ALGORITHMS:
        raise dkim.permerror(f"unsupported algorithm {tags[b'a'].decode('ascii', 'replace')}")
    try:
        signature = base64.b64decode(tags[b"b"], validate=True)
    except (binascii.Error, ValueError):
        raise dkim.permerror("b= is not base64") from None
    key = dkim.fetch_key(tags[b"s"], tags[b"d"], algorithm, lookup)
    data = seal_data(sets, instance, sets[instance][b"arc-seal"], tags[b"cv"])
    if not dkim.verify_data(key, algorithm, data, signature):
        raise dkim.permerror("signature did not verify")
