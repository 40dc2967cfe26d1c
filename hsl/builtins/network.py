"""DNS and network builtins (builtins.md "DNS and network").

Pure functions are implemented here: domain matching, the Public Suffix List, IDNA and IP
address conversions.  The functions that need network I/O live in their own modules:
dnslookup (`dns_query`), spf (`spf_query`), httpclient (`http`) and smtpclient
(`smtp_lookup_rcpt`, `smtp_lookup_auth`).

* `domain_publicsuffix` uses the Public Suffix List shipped in hsl/data (ICANN and PRIVATE
  sections, standard algorithm with wildcard and exception rules) but returns none when
  no rule matches, instead of applying the list's implicit `*` rule (builtins.md: "none if
  the TLD is unknown").  Labels are matched in both Unicode and punycode form; the result
  keeps the form (lowercased) of the input.
* `idna_encode`/`idna_decode` are IDNA2008 by the `idna` package (punycode by the
  standard codec; Python's own encodings.idna is IDNA2003): a non-ASCII label is mapped
  by UTS #46, non-transitional (so `ß`, `ς`, ZWJ/ZWNJ are kept, not mapped to
  `ss`/`σ`/nothing as IDNA2003 does), and must then be a valid U-label: the code points
  RFC 5892 allows (symbols such as U+2603 are rejected, IDNA2003 allowed them), with its
  contextual rules (CONTEXTJ/CONTEXTO), the hyphen rules and the Bidi rule of RFC 5893.
  An A-label must decode to such a U-label.  ASCII labels pass through unchanged (as in
  libidn2: "_dmarc" stays, see idna_to_ascii).  `.`, U+3002, U+FF0E and U+FF61 separate
  labels; an encoded label must fit 63 bytes.
* `inet_pton`/`inet_ntop` use the C library's inet_pton/inet_ntop (as the Halon server
  does), so the text forms are exactly the system's.
* `inet_reverse` with an empty zone returns the reversed labels without a zone.
"""
from __future__ import annotations

import os
import socket
import threading
import functools

from ..runtime import execution as _execution
from ..runtime.values import HArray
from ._args import type_error
from ._limits import ACCOUNT, paced, reserve_string
from .registry import builtin

AREA = "network"


# ----------------------------------------------------------- domain matching

@builtin(area=AREA)
def domain_includes(subdomain, domain, options=None):
    """True if `subdomain` is `domain` or below it (label-wise, ASCII case-insensitive);
    a `domain` starting with "." matches proper subdomains only."""
    if type(subdomain) is not bytes:
        raise type_error("domain_includes", 1, "a string", subdomain)
    if type(domain) is not bytes:
        raise type_error("domain_includes", 2, "a string", domain)
    if options is not None and type(options) is not HArray:
        raise type_error("domain_includes", 3, "an array", options)
    if len(subdomain) + len(domain) >= ACCOUNT:
        reserve_string(len(subdomain) + len(domain))     # lowercased copies
    s = subdomain.lower()
    d = domain.lower()
    if s.endswith(b".") and len(s) > 1:
        s = s[:-1]
    if d.endswith(b".") and len(d) > 1:
        d = d[:-1]
    if d.startswith(b"."):
        return len(s) > len(d) and s.endswith(d) and d != b"."
    if s == d:
        return True
    return len(s) > len(d) + 1 and s.endswith(d) and s[-len(d) - 1] == 0x2E


# ---------------------------------------------------------------------- IDNA

_DOTS = ("\u3002", "\uff0e", "\uff61")
_UTS46 = {"std3_rules": False, "transitional": False}   # IDNA2008: ß, ς, ZWJ are kept
_LONGEST_NAME = 253         # a longer label is no part of any domain name


def _split_labels(text: str) -> list:
    for d in _DOTS:
        text = text.replace(d, ".")
    return text.split(".")


def punycode_encode(text: str) -> str:
    """RFC 3492: the punycode of `text` (the standard codec; basic code points keep their
    case)."""
    return text.encode("punycode").decode("ascii")


def punycode_decode(text: str) -> str:
    """RFC 3492; ValueError (UnicodeError) on invalid input."""
    return text.encode("ascii").decode("punycode")


@functools.lru_cache(maxsize=4096)
def _alabels(label: str):
    """The ASCII form of one non-ASCII label (the labels it maps to, joined), or None."""
    import idna     # here, not at the top: its tables take milliseconds to import
    if len(label) > _LONGEST_NAME:
        return None
    try:
        mapped = idna.uts46_remap(label, **_UTS46)
    except (idna.IDNAError, UnicodeError, ValueError):
        return None
    out = []
    for part in mapped.split("."):
        if part.isascii():              # e.g. full-width ASCII letters
            out.append(part)
            continue
        # Its punycode has a digit for every non-basic character (and encoding takes
        # time quadratic in the length): too long for 63 bytes with "xn--".
        if len(part) > 59:
            return None
        try:
            out.append(idna.alabel(part).decode("ascii"))
        except (idna.IDNAError, UnicodeError, ValueError):
            return None
    return ".".join(out)


@functools.lru_cache(maxsize=4096)
def _ulabel(label: str):
    """The Unicode form of one A-label ("xn--..."), or None when it is not valid."""
    import idna     # here, not at the top: its tables take milliseconds to import
    if len(label) > 63:                 # not an A-label (RFC 5890 2.3.2.1; and punycode
        return None                     # decoding takes time quadratic in the length)
    try:
        u = idna.ulabel(label)
    except (idna.IDNAError, UnicodeError, ValueError):
        return None
    return None if u.isascii() else u


def idna_to_ascii(domain: str):
    """The ASCII form of a Unicode domain, or None when a label is not valid."""
    out = []
    for label in paced(_split_labels(domain)):
        # An ASCII label is kept as it is, as libidn2 (the Halon server's) keeps it: the
        # `idna` package would lowercase it and refuse "_" (IDNA2008 has no underscore),
        # which DNS names such as "_dmarc.bücher.example" need.
        if label.isascii():
            out.append(label)
            continue
        a = _alabels(label)
        if a is None:
            return None
        out.append(a)
    return ".".join(out)


def idna_to_unicode(domain: str):
    """The Unicode form of a domain with A-labels, or None when one is not valid."""
    out = []
    for label in paced(_split_labels(domain)):
        if label[:4].lower() == "xn--":
            u = _ulabel(label)
            if u is None:
                return None
            out.append(u)
        else:
            out.append(label)
    return ".".join(out)


@builtin(area=AREA)
def idna_encode(domain):
    """Unicode (UTF-8) domain to its ASCII form with punycode labels; none on error."""
    if type(domain) is not bytes:
        raise type_error("idna_encode", 1, "a string", domain)
    if domain.isascii():
        return domain
    if len(domain) >= ACCOUNT:
        reserve_string(8 * len(domain))     # the text as str, its labels, the result
    try:
        text = domain.decode("utf-8")
    except UnicodeDecodeError:
        return None
    r = idna_to_ascii(text)
    return None if r is None else r.encode("ascii")


@builtin(area=AREA)
def idna_decode(domain):
    """Punycode labels (xn--) back to Unicode, as UTF-8; none on error."""
    if type(domain) is not bytes:
        raise type_error("idna_decode", 1, "a string", domain)
    if b"xn--" not in domain.lower():
        try:
            domain.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return domain
    if len(domain) >= ACCOUNT:
        reserve_string(8 * len(domain))     # the text as str, its labels, the result
    try:
        text = domain.decode("utf-8")
    except UnicodeDecodeError:
        return None
    r = idna_to_unicode(text)
    return None if r is None else r.encode("utf-8")


# ---------------------------------------------------------- public suffixes

_PSL_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data",
                         "public_suffix_list.dat")
_psl = None
_psl_lock = threading.Lock()


def _load_psl():
    """(rules, wildcard bases, exceptions) as sets of lowercase names, each present in
    Unicode and in punycode form."""
    global _psl
    if _psl is not None:
        return _psl
    _execution.blocking("loading the public suffix list")     # file I/O, once
    with _psl_lock:
        if _psl is not None:
            return _psl
        rules, wild, exc = set(), set(), set()
        longest = 0
        with open(_PSL_PATH, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("//"):
                    continue
                rule = line.split()[0].lower()
                if rule.startswith("!"):
                    target, rule = exc, rule[1:]
                elif rule.startswith("*."):
                    target, rule = wild, rule[2:]
                else:
                    target = rules
                target.add(rule)
                longest = max(longest, rule.count(".") + 2)    # (a wildcard adds one)
                if not rule.isascii():
                    a = idna_to_ascii(rule)
                    if a is not None:
                        target.add(a)
        _psl = (rules, wild, exc, longest)
        return _psl


def public_suffix(domain: str):
    """The public suffix of a lowercase domain (str), or None when no rule matches."""
    rules, wild, exc, longest = _load_psl()
    labels = domain.split(".")
    if "" in labels:
        return None
    n = len(labels)
    for i in range(max(0, n - longest), n):    # no rule has more labels
        name = ".".join(labels[i:])
        if name in exc:
            return ".".join(labels[i + 1:])
        if name in rules or (i + 1 < n and ".".join(labels[i + 1:]) in wild):
            return name
    return None


@builtin(area=AREA)
def domain_publicsuffix(domain):
    """The public suffix of `domain` per the Public Suffix List ("mail.example.co.uk" ->
    "co.uk"); none if no rule matches."""
    if type(domain) is not bytes:
        raise type_error("domain_publicsuffix", 1, "a string", domain)
    if len(domain) >= ACCOUNT:
        reserve_string(12 * len(domain))    # the text as str, lowercased, its labels
    try:
        text = domain.decode("utf-8").lower()
    except UnicodeDecodeError:
        return None
    if text.endswith(".") and len(text) > 1:
        text = text[:-1]
    r = public_suffix(text)
    return None if r is None else r.encode("utf-8")


# ------------------------------------------------------------- IP addresses

_inet_pton = socket.inet_pton
_AF_INET, _AF_INET6 = int(socket.AF_INET), int(socket.AF_INET6)   # plain ints: faster than the enum


def _pton(ip: bytes):
    """4 or 16 raw bytes for IPv4/IPv6 text, or None."""
    if len(ip) > 64:                    # longer than any address text
        return None
    try:
        return _inet_pton(_AF_INET6 if 0x3A in ip else _AF_INET, ip.decode("ascii"))
    except (OSError, ValueError):       # UnicodeDecodeError is a ValueError
        return None


@builtin(area=AREA)
def inet_pton(ip):
    """IPv4/IPv6 text to 4 or 16 raw bytes; none if invalid."""
    if type(ip) is not bytes:
        raise type_error("inet_pton", 1, "a string", ip)
    return _pton(ip)


@builtin(area=AREA)
def inet_ntop(ip):
    """A 4- or 16-byte binary address to text (IPv6 compressed); none otherwise."""
    if type(ip) is not bytes:
        raise type_error("inet_ntop", 1, "a string", ip)
    n = len(ip)
    if n == 4:
        return socket.inet_ntop(socket.AF_INET, ip).encode("ascii")
    if n == 16:
        return socket.inet_ntop(socket.AF_INET6, ip).encode("ascii")
    return None


@builtin(area=AREA)
def inet_reverse(ip, zone=None):
    """Reverse-DNS name of an address, under `zone` (default in-addr.arpa / ip6.arpa)."""
    if type(ip) is not bytes:
        raise type_error("inet_reverse", 1, "a string", ip)
    if zone is not None and type(zone) is not bytes:
        raise type_error("inet_reverse", 2, "a string", zone)
    raw = _pton(ip)
    if raw is None:
        return None
    if len(raw) == 4:
        parts = [b"%d" % octet for octet in reversed(raw)]
        default = b"in-addr.arpa"
    else:
        hexd = raw.hex().encode("ascii")
        parts = [hexd[i:i + 1] for i in range(len(hexd) - 1, -1, -1)]
        default = b"ip6.arpa"
    if zone is None:
        zone = default
    elif len(zone) >= ACCOUNT:
        reserve_string(len(zone) + 100)
    if zone == b"":
        return b".".join(parts)
    return b".".join(parts) + b"." + zone


@functools.lru_cache(maxsize=1024)
def _network(text: bytes):
    """(first, last, family length) integer range for an address, CIDR or a-b range;
    None if unparsable. Cached: policies test the same few networks on every run."""
    if b"/" in text:
        addr, _, plen = text.partition(b"/")
        raw = _pton(addr)
        if raw is None or not plen.isdigit() or len(plen) > 3:
            return None
        bits = len(raw) * 8
        p = int(plen)
        if p > bits:
            return None
        base = int.from_bytes(raw, "big")
        mask = ((1 << bits) - 1) ^ ((1 << (bits - p)) - 1)
        first = base & mask
        return first, first | ((1 << (bits - p)) - 1), len(raw)
    if b"-" in text:
        a, _, b = text.partition(b"-")
        ra, rb = _pton(a.strip()), _pton(b.strip())
        if ra is None or rb is None or len(ra) != len(rb):
            return None
        return int.from_bytes(ra, "big"), int.from_bytes(rb, "big"), len(ra)
    raw = _pton(text)
    if raw is None:
        return None
    v = int.from_bytes(raw, "big")
    return v, v, len(raw)


@builtin(area=AREA)
def inet_includes(ip, network):
    """True if `ip` lies in `network` (address, CIDR subnet or a-b range); mixed families
    give false, unparsable input none."""
    if type(ip) is not bytes:
        raise type_error("inet_includes", 1, "a string", ip)
    if type(network) is not bytes:
        raise type_error("inet_includes", 2, "a string", network)
    raw = _pton(ip)
    net = _network(network) if len(network) <= 256 else None   # (not kept in the cache)
    if raw is None or net is None:
        return None
    first, last, size = net
    if size != len(raw):
        return False
    return first <= int.from_bytes(raw, "big") <= last
