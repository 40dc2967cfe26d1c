"""SPF (RFC 7208) evaluation: spf_query, on hsl.net.dns.

`spf_query(ip, helo, sender)` runs check_host() (RFC 7208 section 4) for the client address
`ip` and returns `["result" => R, "reason" => TEXT]`, where R is one of pass, fail,
softfail, neutral, none, temperror, permerror and TEXT says in a sentence why (which term
matched in which domain's record, which lookup failed, which rule was broken).  When the
result is fail and the record whose mechanism failed has an `exp=` modifier that yields an
explanation, the array also has `"explanation" => TEXT` (the macro-expanded text).  OUR
DECISION: these three are the only keys; there is no default explanation (a fail without
a usable exp= has no "explanation" key).

The identity checked is the MAIL FROM `sender`: its domain is the part after the last "@"
(a sender without "@" is taken to be a domain, as Halon scripts pass it), and a sender
without a local part stands for "postmaster@<domain>".  An empty sender checks the HELO
identity instead: domain `helo`, sender "postmaster@<helo>".  No identity at all (both
empty) is "none".

What is implemented, all of RFC 7208:

* record selection: the TXT records of the domain that begin with "v=spf1" (any case)
  followed by a space or the end; none is "none" (so is NXDOMAIN); several are permerror;
  a DNS error (SERVFAIL, timeout, ...) is temperror.  A domain that is malformed (an empty
  or over-long label, more than 253 characters, a single label, or a top label that is
  not a valid toplabel such as an IP address or a domain literal) is "none".
* the whole record is parsed before anything is evaluated: any syntax error anywhere
  (unknown mechanism, a bad cidr-length, a domain-spec that does not end in a macro or a
  valid toplabel, a bad macro, a character outside visible ASCII, redirect= or exp= twice,
  a modifier name that does not start with a letter, ...) is permerror.
* the mechanisms all, include, a, mx, ptr, ip4, ip6 and exists with their qualifiers
  (+ - ~ ?, default +) and cidr-lengths (dual for a and mx: "a/24//64"), evaluated left to
  right, the first match deciding; then redirect= (which also means that a record with
  "all" never redirects); then "neutral".  Unknown modifiers are checked for syntax and
  ignored.  include maps pass to a match, fail/softfail/neutral to no match, none to
  permerror, and passes temperror and permerror on.  redirect to a domain without a
  record (or not a domain) is permerror.  Names and letters are case-insensitive.
* exp=: evaluated once at the end, only for a fail, and only from the record whose
  mechanism failed (never from an included record; after a redirect, from the target's
  record); a DNS error, no or several TXT records, a syntax error in the text or a result
  that is not US-ASCII give no explanation.  Its lookup counts against no limit.
* macros (section 7): s l o d i p h v in domain-specs, also c r t in explanation texts
  (elsewhere they are a syntax error), uppercase letters URL-escaped, the digit and "r"
  transformers, the delimiters . - + , / _ =, and %% %_ %-.  A digit transformer of 0 is
  a syntax error.  %{i} of an IPv6 address is its 32 nibbles (lowercase), %{c} its RFC 5952
  form; %{p} is the validated name the RFC prefers (the domain itself, else a subdomain of
  it, else any) among the first 10 PTR names, or "unknown".  OUR DECISION: %{r} is this
  host's name (socket.gethostname()), "unknown" when it has none.  An expanded name
  loses a final dot and, when longer than 253 characters, labels from the left.
* limits (section 4.6.4): more than 10 terms that cause DNS lookups (include, a, mx, ptr,
  exists, redirect; counted as they are evaluated, across includes and redirects) is
  permerror; more than 10 MX records for one mx is permerror; only the first 10 PTR
  records are used (by ptr and %{p}); more than 2 void lookups (NXDOMAIN or no records) is
  permerror.  OUR DECISION on what is a void lookup: the lookup a term itself makes (the
  A/AAAA of a, the MX of mx, the A of exists).  The address lookups of the MX hosts are not
  (an IPv4 client asking for an IPv6-only MX host's A records is ordinary), nor are the
  lookups of ptr and %{p} (whose data belongs to the client's address owner and whose
  failures the RFC says only make ptr not match).
* DNS errors other than NXDOMAIN (SERVFAIL, REFUSED, a timeout...) make a mechanism's
  evaluation, and so the result, temperror; for ptr and %{p} they mean "no match" and
  "unknown" (section 5.5).  OUR DECISION: an a, mx, ptr or exists whose target, once
  expanded, is not a usable domain name (an empty or over-long label, non-ASCII) does not
  match and asks nothing, and is no void lookup (the RFC leaves it open; the OpenSPF test
  suite accepts this); for include and redirect such a target is "none", so permerror.
* IPv4-mapped IPv6 client addresses (::ffff:a.b.c.d) are IPv4 addresses throughout.
* time: each lookup gets at most 5 seconds, never more than is left of the whole
  evaluation's 20 seconds (RFC 7208 4.6.4 suggests at least 20), after which the result
  is temperror; and never more than is left before the execution's time limit, at
  which the run stops with "execution time limit exceeded".  Answers are remembered for
  the rest of one evaluation (the same name and type is asked once).

Also OUR DECISIONS where builtins.md is silent: the three arguments must be strings (else a
type error); an `ip` that is not an IPv4 or IPv6 address in text form (a zone index such
as "%eth0" included) is an error naming spf_query, not a result, since the SMTP client's
address is always known; a non-ASCII (UTF-8) domain is checked in its IDNA (A-label) form
and one without an IDNA form is malformed ("none").

Every lookup goes to the process-wide backend (hsl.net.dns).  Before the first one the
run is marked as blocking (runtime.blocking("spf")), so that `hsl serve` moves a
speculative run to a worker thread first.
"""
from __future__ import annotations

import ipaddress
import re
import socket
import time as _time
import urllib.parse
from typing import NamedTuple, Optional

from ..runtime import execution as _execution
from ..runtime import sources as _sources
from ..net import dns as _resolver
from ..net.clock import Clock
from ..errors import ScriptError
from ..runtime.values import HArray
from ._args import digits_value, type_error
from .network import idna_to_ascii
from .registry import builtin

AREA = "network"
_F = "spf_query"

MAX_DNS_TERMS = 10        # mechanisms and modifiers that cause DNS lookups
MAX_VOID_LOOKUPS = 2
MAX_MX = 10               # MX records one mx mechanism may look at
MAX_PTR = 10              # PTR records used by ptr and %{p}
TIME_LIMIT = 20.0         # seconds for one whole evaluation
QUERY_TIMEOUT = _resolver.DEFAULT_TIMEOUT

_RESULTS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}


# ------------------------------------------------------------------ results

class _Stop(Exception):
    """Ends the whole evaluation (permerror, temperror: what include passes on)."""

    def __init__(self, result: str, reason: str):
        super().__init__(reason)
        self.result = result
        self.reason = reason


class _Syntax(Exception):
    """A syntax error in a record (permerror) or in an explanation text (ignored)."""


# ------------------------------------------------------------------ macros

class _Macro(NamedTuple):
    letter: str               # lowercase macro letter
    upper: bool               # URL-escape the result
    digits: Optional[int]     # keep this many right-hand parts
    reverse: bool
    delimiters: str           # "" means "."


class _Escape(str):
    """The text of %%, %_ or %- (a macro-expand for the domain-end rule)."""


_MACRO = re.compile(r"%\{([A-Za-z])([0-9]*)([rR]?)([-.+,/_=]*)\}")
_DOMAIN_LETTERS = "slodiphv"
_ALL_LETTERS = "slodiphvcrt"
_TOPLABEL = re.compile(r"(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*"
                       r"|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9])\Z")


def _parse_macro_string(text: str, letters: str, spaces: bool = False) -> list:
    """The items of a macro-string: literal text (str), _Escape and _Macro.  `letters`
    are the macro letters allowed; `spaces` allows SP (explain-string).  _Syntax when
    the text is not one."""
    items: list = []
    literal: list = []

    def flush():
        if literal:
            items.append("".join(literal))
            literal.clear()

    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "%":
            nxt = text[i + 1:i + 2]
            if nxt in ("%", "_", "-"):
                flush()
                items.append(_Escape({"%": "%", "_": " ", "-": "%20"}[nxt]))
                i += 2
                continue
            if nxt != "{":
                raise _Syntax(f"'%' must be followed by '{{', '%', '_' or '-' in {text!r}")
            m = _MACRO.match(text, i)
            if m is None:
                raise _Syntax(f"malformed macro in {text!r}")
            letter, digits, rev, delims = m.groups()
            if letter.lower() not in letters:
                where = "here" if letter.lower() in _ALL_LETTERS else "in SPF"
                raise _Syntax(f"macro letter {letter!r} is not allowed {where} "
                              f"({text!r})")
            count = None
            if digits:
                count = digits_value(digits, 1 << 20)
                if count == 0:
                    raise _Syntax(f"a macro may not keep 0 parts ({text!r})")
            flush()
            items.append(_Macro(letter.lower(), letter.isupper(), count, bool(rev),
                                delims))
            i = m.end()
            continue
        if "!" <= ch <= "~" or (spaces and ch == " "):
            literal.append(ch)
            i += 1
            continue
        raise _Syntax(f"invalid character {ch!r} in {text!r}")
    flush()
    return items


def _parse_domain_spec(text: str) -> list:
    """A domain-spec: a macro-string that ends in a macro-expand or in "." toplabel
    with an optional final dot."""
    if not text:
        raise _Syntax("empty domain-spec")
    items = _parse_macro_string(text, _DOMAIN_LETTERS)
    last = items[-1]
    if isinstance(last, (_Macro, _Escape)):
        return items
    tail = last[:-1] if last.endswith(".") else last
    dot = tail.rfind(".")
    if dot < 0 or not _TOPLABEL.match(tail[dot + 1:]):
        raise _Syntax(f"{text!r} does not end in a macro or a valid top-level label")
    return items


def _transform(value: str, macro: _Macro) -> str:
    delimiters = macro.delimiters or "."
    parts = re.split("[" + re.escape(delimiters) + "]", value)
    if macro.reverse:
        parts.reverse()
    if macro.digits is not None and macro.digits < len(parts):
        parts = parts[-macro.digits:]
    value = ".".join(parts)
    if macro.upper:
        value = urllib.parse.quote(value, safe="", errors="surrogateescape")
    return value


# ------------------------------------------------------------------ names

def _domain_name(name: str) -> Optional[str]:
    """An expanded target name fit for a query: without a final dot, cut to 253
    characters from the left; None when it has an empty or over-long label or is not
    ASCII."""
    if name.endswith("."):
        name = name[:-1]
    while len(name) > 253 and "." in name:
        name = name.split(".", 1)[1]
    if not name or len(name) > 253 or not name.isascii():
        return None
    if any(not label or len(label) > 63 for label in name.split(".")):
        return None
    return name


def _check_host_domain(name: str) -> Optional[str]:
    """The <domain> of check_host() if it is well formed (section 4.3), else None."""
    if name.endswith("."):
        name = name[:-1]
    if not name or len(name) > 253 or not name.isascii():
        return None
    labels = name.split(".")
    if len(labels) < 2 or any(not label or len(label) > 63 for label in labels):
        return None
    if not _TOPLABEL.match(labels[-1]):
        return None
    return name


def _identity_domain(text: str) -> str:
    """A domain from the arguments in ASCII form (IDNA for Unicode); "" when a Unicode
    domain has no such form."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:                  # raw bytes that are not UTF-8
        return ""
    return idna_to_ascii(text) or ""


def _is_spf(record: str) -> bool:
    return record[:6].lower() == "v=spf1" and (len(record) == 6 or record[6] == " ")


# ------------------------------------------------------------------ records

class _Directive(NamedTuple):
    qualifier: str
    kind: str                  # all include a mx ptr ip4 ip6 exists
    spec: Optional[list]       # domain-spec items, None: the current domain
    cidr4: int
    cidr6: int
    network: object            # ip4 / ip6: an ipaddress network
    text: str                  # the term as written


class _Record(NamedTuple):
    directives: list
    redirect: Optional[list]
    exp: Optional[list]


_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9_.-]*)=(.*)\Z", re.S)
_MECHANISM = re.compile(r"([-+~?]?)([A-Za-z][A-Za-z0-9]*)(.*)\Z", re.S)
_DUAL_CIDR = re.compile(r"(.*?)(?:/([0-9]+))?(?://([0-9]+))?\Z", re.S)
_IP4 = re.compile(r"([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)(?:/([0-9]+))?\Z")
_IP6 = re.compile(r"([0-9A-Fa-f:.]+)(?:/([0-9]+))?\Z")
_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")


def _cidr(text: Optional[str], maximum: int, term: str) -> int:
    if text is None:
        return maximum
    if (len(text) > 1 and text[0] == "0") or digits_value(text, maximum) > maximum:
        raise _Syntax(f"invalid prefix length /{text} in {term!r}")
    return int(text)


def _parse_record(record: str) -> _Record:
    directives: list = []
    redirect = exp = None
    for term in record[6:].split(" "):
        if not term:
            continue
        m = _MODIFIER.match(term)
        if m is not None:
            name, value = m.group(1).lower(), m.group(2)
            if name in ("redirect", "exp"):
                if (redirect if name == "redirect" else exp) is not None:
                    raise _Syntax(f"{name}= appears more than once")
                spec = _parse_domain_spec(value)
                if name == "redirect":
                    redirect = spec
                else:
                    exp = spec
            else:
                _parse_macro_string(value, _ALL_LETTERS)     # checked, then ignored
            continue
        m = _MECHANISM.match(term)
        kind = m.group(2).lower() if m else None
        rest = m.group(3) if m else ""
        if kind not in _MECHANISMS or (rest and rest[0] not in ":/"):
            raise _Syntax(f"unknown mechanism {term!r}")
        qualifier = m.group(1) or "+"
        spec, cidr4, cidr6, network = None, 32, 128, None
        if kind == "all":
            if rest:
                raise _Syntax(f"'all' takes no argument: {term!r}")
        elif kind in ("include", "exists"):
            if not rest.startswith(":"):
                raise _Syntax(f"{kind} needs ':' and a domain: {term!r}")
            spec = _parse_domain_spec(rest[1:])
        elif kind == "ptr":
            if rest and not rest.startswith(":"):
                raise _Syntax(f"ptr takes no prefix length: {term!r}")
            if rest:
                spec = _parse_domain_spec(rest[1:])
        elif kind in ("a", "mx"):
            c = _DUAL_CIDR.match(rest)
            head = c.group(1)
            if head and not head.startswith(":"):
                raise _Syntax(f"malformed {kind} mechanism: {term!r}")
            if head:
                spec = _parse_domain_spec(head[1:])
            cidr4 = _cidr(c.group(2), 32, term)
            cidr6 = _cidr(c.group(3), 128, term)
        else:                                                # ip4, ip6
            c = (_IP4 if kind == "ip4" else _IP6).match(rest[1:]) \
                if rest.startswith(":") else None
            if c is None:
                raise _Syntax(f"malformed {kind} mechanism: {term!r}")
            try:
                address = ipaddress.ip_address(c.group(1))
            except ValueError:
                address = None
            if address is None or address.version != (4 if kind == "ip4" else 6):
                raise _Syntax(f"invalid address in {term!r}")
            prefix = _cidr(c.group(2), 32 if kind == "ip4" else 128, term)
            network = ipaddress.ip_network((address, prefix), strict=False)
        directives.append(_Directive(qualifier, kind, spec, cidr4, cidr6, network, term))
    return _Record(directives, redirect, exp)


# ------------------------------------------------------------------ evaluation

class _Evaluation:
    """One spf_query: the identity, the counters and the answers asked so far."""

    def __init__(self, ip, helo: str, local: str, sender_domain: str):
        self.ip = ip
        self.v4 = ip.version == 4
        self.helo = helo
        self.local = local
        self.sender_domain = sender_domain
        self.terms = 0
        self.voids = 0
        self.clock = Clock(TIME_LIMIT)  # and the run's time limit, and cancellation
        self.deadline = self.clock.own
        self.answers: dict = {}
        self.blocked = False
        self.ptr_names: Optional[list] = None
        self.validated: dict = {}

    # -------------------------------------------------------------- DNS

    def query(self, name: str, rdtype: str):
        key = (name.lower(), rdtype)
        answer = self.answers.get(key)
        if answer is not None:
            return answer
        if not self.blocked:
            _execution.blocking("spf")
            self.blocked = True
        _execution.check_deadline()               # the time may be up already
        if self.deadline - _time.monotonic() <= 0:
            raise self._too_slow()
        answer = _resolver.lookup(name, rdtype, self.clock, QUERY_TIMEOUT)
        if answer.error == "TRY_AGAIN" and _time.monotonic() >= self.deadline:
            raise self._too_slow()
        self.answers[key] = answer
        return answer

    @staticmethod
    def _too_slow() -> _Stop:
        return _Stop("temperror", f"the SPF evaluation took longer than {TIME_LIMIT:g} "
                                  f"seconds")

    @staticmethod
    def _dns_error(answer, name: str, rdtype: str) -> _Stop:
        return _Stop("temperror", f"DNS error {answer.error} looking up the "
                                  f"{rdtype.upper()} records of {name}")

    def count_term(self, term: str) -> None:
        self.terms += 1
        if self.terms > MAX_DNS_TERMS:
            raise _Stop("permerror", f"more than {MAX_DNS_TERMS} mechanisms and modifiers "
                                     f"that cause DNS lookups (at {term!r})")

    def void(self, name: str, rdtype: str) -> None:
        self.voids += 1
        if self.voids > MAX_VOID_LOOKUPS:
            raise _Stop("permerror", f"more than {MAX_VOID_LOOKUPS} void DNS lookups (the "
                                     f"last: {rdtype.upper()} of {name})")

    def addresses(self, name: str, void: bool) -> list:
        """The client's kind of addresses (A or AAAA) of `name`; temperror on a DNS
        error; an empty answer or NXDOMAIN is a void lookup when `void`."""
        rdtype = "a" if self.v4 else "aaaa"
        answer = self.query(name, rdtype)
        if answer.error is not None and answer.error != "NXDOMAIN":
            raise self._dns_error(answer, name, rdtype)
        if not answer.records:
            if void:
                self.void(name, rdtype)
            return []
        out = []
        for record in answer.records:
            try:
                address = ipaddress.ip_address(record.strip())
            except ValueError:
                continue
            if address.version == self.ip.version:
                out.append(address)
        return out

    def in_network(self, address, directive: _Directive) -> bool:
        prefix = directive.cidr4 if self.v4 else directive.cidr6
        return self.ip in ipaddress.ip_network((address, prefix), strict=False)

    # -------------------------------------------------------------- PTR

    def reverse_names(self) -> list:
        """The first MAX_PTR names of the client's PTR records ([] on any error)."""
        if self.ptr_names is None:
            answer = self.query(self.ip.reverse_pointer, "ptr")
            names = []
            if answer.error is None:
                for record in answer.records[:MAX_PTR]:
                    name = record.strip().rstrip(".")
                    if name:
                        names.append(name)
            self.ptr_names = names
        return self.ptr_names

    def validates(self, name: str) -> bool:
        """Whether one of `name`'s addresses is the client's (DNS errors: no)."""
        key = name.lower()
        if key not in self.validated:
            target = _domain_name(name)
            ok = False
            if target is not None:
                answer = self.query(target, "a" if self.v4 else "aaaa")
                if answer.error is None:
                    for record in answer.records:
                        try:
                            ok = ipaddress.ip_address(record.strip()) == self.ip
                        except ValueError:
                            continue
                        if ok:
                            break
            self.validated[key] = ok
        return self.validated[key]

    def validated_name(self, domain: str) -> str:
        """%{p}: a validated name of the client, preferring `domain`, then a subdomain
        of it, then any; "unknown" when there is none."""
        names = self.reverse_names()
        d = domain.lower()
        same = [n for n in names if n.lower() == d]
        below = [n for n in names if n.lower().endswith("." + d)]
        others = [n for n in names if n not in same and n not in below]
        for name in same + below + others:
            if self.validates(name):
                return name
        return "unknown"

    # -------------------------------------------------------------- macros

    def expand(self, items: list, domain: str) -> str:
        out = []
        for item in items:
            if not isinstance(item, _Macro):
                out.append(item)
                continue
            out.append(_transform(self.macro_value(item.letter, domain), item))
        return "".join(out)

    def macro_value(self, letter: str, domain: str) -> str:
        if letter == "s":
            return f"{self.local}@{self.sender_domain}"
        if letter == "l":
            return self.local
        if letter == "o":
            return self.sender_domain
        if letter == "d":
            return domain
        if letter == "i":
            if self.v4:
                return str(self.ip)
            return ".".join(self.ip.exploded.replace(":", ""))
        if letter == "p":
            return self.validated_name(domain)
        if letter == "v":
            return "in-addr" if self.v4 else "ip6"
        if letter == "h":
            return self.helo
        if letter == "c":
            return str(self.ip)
        if letter == "r":
            try:
                return socket.gethostname() or "unknown"
            except OSError:
                return "unknown"
        if letter == "t":
            return str(int(_sources.now()))
        raise AssertionError(letter)             # the parser allows no other letter

    def target(self, spec: Optional[list], domain: str) -> Optional[str]:
        if spec is None:
            return domain
        return _domain_name(self.expand(spec, domain))

    # -------------------------------------------------------------- check_host

    def check_host(self, domain: str):
        """(result, reason, exp) for `domain`; `exp` is (exp= items, domain) when the
        result is a fail from this record's mechanisms (or its redirect target's).
        Raises _Stop for temperror and permerror."""
        name = _check_host_domain(domain)
        if name is None:
            return "none", f"{domain!r} is not a valid domain name", None
        answer = self.query(name, "txt")
        if answer.error == "NXDOMAIN":
            return "none", f"{name} does not exist", None
        if answer.error is not None:
            raise self._dns_error(answer, name, "txt")
        records = [r for r in answer.records if _is_spf(r)]
        if not records:
            return "none", f"{name} has no SPF record", None
        if len(records) > 1:
            raise _Stop("permerror", f"{name} has {len(records)} SPF records")
        try:
            record = _parse_record(records[0])
        except _Syntax as e:
            raise _Stop("permerror", f"syntax error in the SPF record of {name}: "
                                     f"{e}") from None

        for directive in record.directives:
            if self.matches(directive, name):
                result = _RESULTS[directive.qualifier]
                exp = (record.exp, name) if result == "fail" and record.exp else None
                return (result, f"{directive.text!r} matched in the SPF record of {name}",
                        exp)
        if record.redirect is not None:
            self.count_term("redirect=")
            target = self.expand(record.redirect, name)
            result, reason, exp = self.check_host(_domain_name(target) or target)
            if result == "none":
                raise _Stop("permerror", f"redirect= of {name}: {reason}")
            return result, reason, exp
        return "neutral", f"no mechanism matched in the SPF record of {name}", None

    def matches(self, directive: _Directive, domain: str) -> bool:
        kind = directive.kind
        if kind == "all":
            return True
        if kind in ("ip4", "ip6"):
            return (kind == "ip4") == self.v4 and self.ip in directive.network

        self.count_term(directive.text)
        if kind == "include":
            target = self.expand(directive.spec, domain)
            result, reason, _ = self.check_host(_domain_name(target) or target)
            if result == "none":
                raise _Stop("permerror", f"{directive.text!r} in the SPF record of "
                                         f"{domain}: {reason}")
            return result == "pass"

        target = self.target(directive.spec, domain)
        if target is None:                      # not a name DNS could be asked about
            return False
        if kind == "a":
            return any(self.in_network(a, directive)
                       for a in self.addresses(target, void=True))
        if kind == "mx":
            answer = self.query(target, "mx")
            if answer.error is not None and answer.error != "NXDOMAIN":
                raise self._dns_error(answer, target, "mx")
            if not answer.records:
                self.void(target, "mx")
                return False
            if len(answer.records) > MAX_MX:
                raise _Stop("permerror", f"{target} has more than {MAX_MX} MX records "
                                         f"({directive.text!r} in the SPF record of "
                                         f"{domain})")
            for record in answer.records:
                host = _domain_name(record.split()[-1] if record.split() else "")
                if host is None:                # null MX ("0 .") or not a name
                    continue
                if any(self.in_network(a, directive)
                       for a in self.addresses(host, void=False)):
                    return True
            return False
        if kind == "ptr":
            t = target.lower()
            for name in self.reverse_names():
                n = name.lower()
                if (n == t or n.endswith("." + t)) and self.validates(name):
                    return True
            return False
        if kind == "exists":
            answer = self.query(target, "a")
            if answer.error is not None and answer.error != "NXDOMAIN":
                raise self._dns_error(answer, target, "a")
            if not answer.records:
                self.void(target, "a")
                return False
            return True
        raise AssertionError(kind)

    # -------------------------------------------------------------- exp=

    def explain(self, exp) -> Optional[str]:
        """The explanation of a fail, or None when there is none to give."""
        items, domain = exp
        try:
            name = self.target(items, domain)
            if name is None:
                return None
            answer = self.query(name, "txt")
            if answer.error is not None or len(answer.records) != 1:
                return None
            text = answer.records[0]
            text = self.expand(_parse_macro_string(text, _ALL_LETTERS, spaces=True),
                               domain)
        except (_Stop, _Syntax):
            return None
        return text if text.isascii() else None


# ------------------------------------------------------------------ the builtin

def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _client_ip(ip: bytes):
    try:
        text = ip.decode("ascii")
        if "%" in text:
            raise ValueError(text)
        address = ipaddress.ip_address(text)
    except (UnicodeDecodeError, ValueError):
        shown = ip.decode("utf-8", "replace")
        raise ScriptError(f"{_F}() expects an IP address as argument 1, got "
                          f"{shown!r}") from None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _result(result: str, reason: str, explanation: Optional[str] = None) -> HArray:
    out = HArray()
    out.set(b"result", result.encode("ascii"))
    out.set(b"reason", reason.encode("utf-8", "surrogateescape"))
    if explanation is not None:
        out.set(b"explanation", explanation.encode("ascii"))
    return out


@builtin(area=AREA)
def spf_query(ip, helo, sender):
    """Evaluates SPF (RFC 7208) for client address `ip`, HELO name `helo` and envelope
    sender `sender` (the HELO identity when `sender` is empty): ["result" => pass, fail,
    softfail, neutral, none, temperror or permerror, "reason" => text], plus
    "explanation" for a fail whose record's exp= gives one."""
    if type(ip) is not bytes:
        raise type_error(_F, 1, "a string", ip)
    if type(helo) is not bytes:
        raise type_error(_F, 2, "a string", helo)
    if type(sender) is not bytes:
        raise type_error(_F, 3, "a string", sender)
    address = _client_ip(ip)
    helo_text = _text(helo)
    sender_text = _text(sender)
    if sender_text:
        local, at, domain = sender_text.rpartition("@")
        if not at:
            local, domain = "", sender_text
    elif helo_text:
        local, domain = "", helo_text
    else:
        return _result("none", "no identity to check: the sender and the HELO name are "
                               "both empty")
    local = local or "postmaster"
    ascii_domain = _identity_domain(domain)
    if not ascii_domain:
        return _result("none", f"{domain!r} is not a valid domain name")

    _execution.check_deadline()
    evaluation = _Evaluation(address, helo_text, local, ascii_domain)
    try:
        result, reason, exp = evaluation.check_host(ascii_domain)
    except _Stop as stop:
        result, reason, exp = stop.result, stop.reason, None
    explanation = evaluation.explain(exp) if result == "fail" and exp else None
    return _result(result, reason, explanation)
