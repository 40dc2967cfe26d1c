"""The SMTP client of hsl: one session to one server, shared by smtp_lookup_rcpt /
smtp_lookup_auth (hsl/builtins/smtpclient.py, which also reads their HSL arguments into
a `Server`), send() of the mail classes (hsl/mail/send.py) and the queue's delivery
attempts (hsl/queue/deliver.py).  No HSL values here: settings are a `Server`, the
outcome an `Outcome`, and every caller turns that into its own result.

* `probe(fname, server, steps, domain)` finds where to connect (the server's `host`, or
  the MX hosts of `domain`, see `mx_targets`), opens a `Session` on the first address
  that accepts a connection, says banner, EHLO (LHLO), STARTTLS per `tls`, and hands the
  session to `steps(session)`, which says the rest (AUTH, MAIL, RCPT, DATA: see
  `transaction`) and ends with `session.done(...)` or by returning an Outcome.  QUIT
  follows.  Every wait is an hsl.net one (a Clock): bounded by the state's timeout, the
  clock's own deadline and, inside a script, the run's time limit and cancellation; it
  works the same on a thread that runs no script (the queue's workers).
* An `Outcome` says how it ended: `result` 1 (accepted), 0 (refused with a 5xx), -1
  (anything else), the deciding reply (`code`, `message`: its lines joined by "\\n",
  `state`), what kind of failure it was (`kind`: smtp, network, tls, dane, dns,
  protocol, config; `dns`: other, nxdomain, nullmx, ipfamily, nodata, excluded) and the
  facts of the connection (`conn`: a `Facts`, None when no address was tried).
* `probe(..., pool=Pool())` keeps a session whose transaction ended with a reply (after
  RSET when it did not reach the end of the message) open in the pool, instead of QUIT,
  and the next probe to the same address with the same settings uses it (`Facts.
  transactions` counts on); a pooled connection found closed is replaced by a new one
  without the caller seeing it.

Where to connect (`mx_targets`): the MX hosts of the domain (hsl.net.dns, so --dns-table
and --dns-server answer), lowest preference first, filtered by `mx_include` /
`mx_exclude`; no MX record (NODATA) means the domain itself (RFC 5321 5.1); a null MX
("0 .", RFC 7505) accepts no mail.  Each host's AAAA and A addresses are asked; with a
`sourceip` only addresses of its family are used.  Only a failed connection moves on to
the next address.  How a lookup failure is classified (kind "dns"):

* the domain is NXDOMAIN: `nxdomain`, permanent; a null MX: `nullmx`, permanent;
* no MX and the domain has no address: `nodata`, permanent;
* no MX host left after mx_include / mx_exclude: `excluded`, temporary (a policy such
  as MTA-STS may change);
* addresses only of the other family than `sourceip`'s: `ipfamily`, temporary;
* MX hosts without any address, a lookup that failed (SERVFAIL, no answer): `other`,
  temporary.

TLS (`tls`): `disabled` (no STARTTLS); `optional` (STARTTLS when offered, no checks; a
refused STARTTLS goes on in plain text, a failed handshake is retried once on a new
plain-text connection); `optional_verify` (plain text without STARTTLS, else it must
succeed and verify); `require` / `require_verify` (STARTTLS must be offered and succeed,
and verify).  Verification checks the chain against the system's trusted CAs (hsl.net.tls;
`tls_default_ca` is accepted and changes nothing: hsl has no other store) and, when
names are wanted (`tls_verify_host`: the host connected to, `tls_verify_name`), the
certificate's names.

DANE (RFC 7672), for `dane`, `dane_require`, `dane_fallback_require` and
`dane_fallback_require_verify`: the TLSA records of `_PORT._tcp.HOST` are asked for at
STARTTLS time and used only when they are DNSSEC-validated (the resolver set AD) and,
for an MX host, the MX answer was validated too.  hsl does not validate DNSSEC itself:
with --dns-table, or a resolver that does not validate, there are no usable TLSA records.
Usable records (DANE-TA(2) and DANE-EE(3); PKIX usages 0 and 1 are unusable for SMTP)
make STARTTLS mandatory, and the certificate must match one of them (DANE-EE: the leaf,
its names unchecked; DANE-TA: a certificate of the presented chain, which must lead from
the leaf to it by signatures, and the leaf valid for the host's name) - else the kind is
`dane`.  Without usable records (the documented fallback): `dane` acts as `optional`,
`dane_fallback_require` as `require`, `dane_fallback_require_verify` as
`require_verify`, and `dane_require` fails (kind `dane`, temporary).  A TLSA lookup that
fails (SERVFAIL, no answer) where the MX answer was validated is a `dane` failure too
(RFC 7672 2.1.1: the records may exist).
"""
from __future__ import annotations

import base64
import hashlib
import re
import select
import smtplib
import socket
import ssl
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field, replace
from typing import Optional

from ..errors import ScriptError
from ..runtime import execution as _execution
from . import dns, hosts, offline, sockets, tls
from .clock import Clock

DEFAULT_PORT = 25
DEFAULT_TIMEOUT = 300.0          # RFC 5321 4.5.3.2: initial greeting, MAIL, RCPT
DEFAULT_CONNECT_TIMEOUT = 30.0
QUIT_TIMEOUT = 5.0
DNS_TIMEOUT = 5.0
# Connection pooling (the queue's Try "pooling"; UNSPECIFIED: Halon does not document its
# limits): an idle session is kept this many seconds, and used for at most this many
# transactions.
POOL_IDLE = 5.0
POOL_TRANSACTIONS = 100

DANE_MODES = ("dane", "dane_require", "dane_fallback_require",
              "dane_fallback_require_verify")
TLS_MODES = ("disabled", "optional", "optional_verify", "require", "require_verify") \
    + DANE_MODES
# The mode a DANE mode falls back to without usable TLSA records (None: it fails).
DANE_FALLBACK = {"dane": "optional", "dane_require": None,
                 "dane_fallback_require": "require",
                 "dane_fallback_require_verify": "require_verify"}
PERMANENT_DNS = ("nxdomain", "nullmx", "nodata")
TLS_VERSIONS = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
                "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


# ------------------------------------------------------------------ settings

@dataclass
class Server:
    host: Optional[str] = None          # None: the recipient domain's MX hosts
    port: int = DEFAULT_PORT
    helo: bytes = b""
    sourceip: Optional[str] = None
    tls: str = "disabled"
    tls_sni: object = False             # False, True or a str
    tls_verify_host: bool = False
    tls_verify_names: list = field(default_factory=list)
    tls_protocols: Optional[str] = None
    tls_ciphers: Optional[str] = None
    capture_peer_cert: bool = False
    saslusername: Optional[bytes] = None
    saslpassword: bytes = b""
    lmtp: bool = False
    mx_include: list = field(default_factory=list)
    mx_exclude: list = field(default_factory=list)
    timeouts: dict = field(default_factory=dict)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT

    def timeout(self, state: str) -> float:
        return self.timeouts.get(state, DEFAULT_TIMEOUT)


@dataclass
class Address:
    text: bytes                         # what goes between < and >
    params: list = field(default_factory=list)      # ["NAME" or "NAME=value", ...] bytes


def domain_of(address: bytes) -> Optional[str]:
    """The domain of an address (lowercase, no final dot; "[...]" for a literal), None
    when it has none."""
    at = address.rfind(b"@")
    if at < 0 or at == len(address) - 1:
        return None
    d = address[at + 1:]
    if d.startswith(b"[") and d.endswith(b"]"):          # an address literal
        return d.decode("ascii", "replace")
    return d.decode("utf-8", "surrogateescape").rstrip(".").lower()


def tls_versions(fname: str, spec: str):
    """(minimum, maximum) TLSVersion from "TLSv1.2,TLSv1.3" or "!TLSv1.3" (SSLv2 and
    SSLv3 are accepted in the list and never used; TLSv1 and TLSv1.1 only when named)."""
    allowed = set()
    denied = set()
    for item in (p.strip() for p in spec.split(",")):
        if not item:
            continue
        neg = item.startswith("!")
        name = item[1:] if neg else item
        if name not in TLS_VERSIONS and name not in ("SSLv2", "SSLv3"):
            raise ScriptError(f"{fname}() unknown TLS protocol {name!r} in tls_protocols")
        (denied if neg else allowed).add(name)
    names = [n for n in TLS_VERSIONS if n not in denied
             and (n in allowed or not allowed and n not in ("TLSv1", "TLSv1.1"))]
    if not names:
        raise ScriptError(f"{fname}() tls_protocols allows no TLS version")
    return TLS_VERSIONS[names[0]], TLS_VERSIONS[names[-1]]


def tls_context(fname: str, server: Server, verify: bool) -> ssl.SSLContext:
    """The client context for `server` (ScriptError for bad tls_protocols/ciphers)."""
    if server.tls_protocols is None and server.tls_ciphers is None:
        return tls.context(verify)
    ctx = tls.new_context(verify)
    if server.tls_protocols is not None:
        low, high = tls_versions(fname, server.tls_protocols)
        try:
            with warnings.catch_warnings():         # TLSv1 and 1.1 are deprecated
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = low
                ctx.maximum_version = high
        except (ValueError, ssl.SSLError):
            raise ScriptError(f"{fname}() tls_protocols {server.tls_protocols!r} is not "
                              f"available") from None
    if server.tls_ciphers is not None:
        try:
            ctx.set_ciphers(server.tls_ciphers)
        except ssl.SSLError:
            raise ScriptError(f"{fname}() invalid tls_ciphers "
                              f"{server.tls_ciphers!r}") from None
    return ctx


# ------------------------------------------------------------------ outcome

@dataclass
class Facts:
    """What is known of one connection (postdelivery's `attempt.connection`)."""
    remotemx: str                       # the host connected to (MX host name, or host)
    remoteip: str
    port: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex)   # the connection's
    localip: Optional[str] = None
    helo: Optional[str] = None
    greet: Optional[str] = None         # the banner's text, lines joined by "\n"
    transactions: int = 0               # MAIL FROM commands sent
    tls: bool = False                   # TLS started
    tls_protocol: Optional[str] = None
    tls_cipher: Optional[str] = None
    tls_keysize: Optional[int] = None
    peercert: Optional[bytes] = None    # DER
    peercert_error: Optional[str] = None    # why verification failed
    tlsrpt: Optional[str] = None        # RFC 8460 result type of a TLS failure
    tlsa: Optional[list] = None         # usable TLSA records: [(u, s, m, hex)]


@dataclass
class Outcome:
    result: float
    code: Optional[int]
    message: str
    state: str
    on_rcptto: bool = False
    tls: bool = False
    peercert: Optional[bytes] = None    # DER, when captured
    kind: Optional[str] = None          # None: "smtp" with a reply, else "network"
    dns: Optional[str] = None           # the kind of a DNS failure
    conn: Optional[Facts] = None

    def __post_init__(self):
        if self.kind is None:
            self.kind = "smtp" if self.code is not None else "network"

    @property
    def temporary(self) -> bool:
        """Whether trying again later may succeed: not for a 5xx reply nor for a domain
        that does not exist or takes no mail; yes for everything else (a configuration
        error too, so that it can be fixed before the message expires)."""
        if self.code is not None:
            return not 500 <= self.code <= 599
        return self.dns not in PERMANENT_DNS


class _Done(Exception):
    """Ends a session with its outcome."""

    def __init__(self, outcome: Outcome):
        self.outcome = outcome


class _PlainRetry(Exception):
    """tls optional: the handshake failed; try again on a new plain-text connection."""


class _ConnectFailed(Exception):
    pass


def _reply_text(msg) -> str:
    if isinstance(msg, bytes):
        return msg.decode("utf-8", "replace")
    return str(msg)


def timed_out(exc: BaseException) -> bool:
    """Whether `exc` is (or smtplib turned) a socket timeout."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, (TimeoutError, socket.timeout)):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _direct_child(name: str, base: str) -> bool:
    label, dot, rest = name.partition(".")
    return bool(label and dot) and rest == base


def _mx_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*.") or pattern.startswith("."):
        return _direct_child(host, pattern[pattern.index(".") + 1:])
    return pattern == host


# ------------------------------------------------------------------ DANE

def _tlsa_records(answer) -> list:
    """[(usage, selector, mtype, data bytes)] of the usable records (RFC 7672 3.1:
    DANE-TA and DANE-EE with known selectors and matching types)."""
    out = []
    for text in answer.records:
        parts = text.split()
        try:
            usage, selector, mtype = (int(p) for p in parts[:3])
            data = bytes.fromhex("".join(parts[3:]))
        except ValueError:
            continue
        if usage in (2, 3) and selector in (0, 1) and mtype in (0, 1, 2):
            out.append((usage, selector, mtype, data))
    return out


def _tlsa_matches(der: bytes, selector: int, mtype: int, data: bytes) -> bool:
    from cryptography import x509       # deferred: only for a DANE session
    from cryptography.hazmat.primitives import serialization
    if selector == 1:
        cert = x509.load_der_x509_certificate(der)
        der = cert.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    if mtype == 1:
        der = hashlib.sha256(der).digest()
    elif mtype == 2:
        der = hashlib.sha512(der).digest()
    return der == data


def _chain_leads_to(chain: list, top: int) -> bool:
    """Whether each certificate of chain[:top] is signed by the next one."""
    from cryptography import x509       # deferred: only for a DANE session
    from cryptography.exceptions import InvalidSignature
    try:
        certs = [x509.load_der_x509_certificate(d) for d in chain[:top + 1]]
        for child, parent in zip(certs, certs[1:]):
            child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _unverified_chain(sock) -> list:
    """The DER certificates the server presented, leaf first (Python 3.10+ has this on
    the ssl object; 3.13 makes it public)."""
    get = getattr(sock, "get_unverified_chain", None)
    if get is None:
        get = getattr(getattr(sock, "_sslobj", None), "get_unverified_chain", None)
    if get is None:
        der = sock.getpeercert(binary_form=True)
        return [der] if der else []
    out = []
    for c in get() or []:
        out.append(c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER))
    return out


def dane_check(chain: list, records: list, names: list) -> Optional[str]:
    """None when the presented chain (DER, leaf first) matches a usable TLSA record
    (see the module docstring), else why not."""
    if not chain:
        return "the server presented no certificate"
    for usage, selector, mtype, data in records:
        if usage == 3:
            if _tlsa_matches(chain[0], selector, mtype, data):
                return None
            continue
        for i, der in enumerate(chain):
            if _tlsa_matches(der, selector, mtype, data) and _chain_leads_to(chain, i):
                if tls.matches(chain[0], names):
                    return None
                return ("certificate name mismatch: the certificate is not valid for "
                        + ", ".join(names))
    return "the certificate matches no TLSA record"


# ------------------------------------------------------------------ the session

class _Client(smtplib.SMTP):
    """smtplib's connection, reply reader and sender; the dialogue is ours, so that every
    state has its own timeout and raw bytes go on the wire unchanged."""

    def __init__(self):
        super().__init__(local_hostname="localhost")     # never sent: we send our own


@dataclass
class Target:
    host: str                           # the MX host's name (or the host, or an IP)
    addresses: list                     # IP addresses, in order
    secure: bool = False                # the answer that named it was DNSSEC-validated
    errors: list = field(default_factory=list)      # lookup errors for its addresses


class Session:
    def __init__(self, fname: str, server: Server, host: str, address: tuple,
                 clock: Clock, allow_tls: bool = True, conn=None, secure: bool = False):
        self.fname = fname
        self.server = server
        self.host = host                # the name connected to (for SNI and names)
        self.address = address          # (ip, port)
        self.clock = clock
        self.allow_tls = allow_tls
        self.conn = conn                # a stand-in's connection (hsl.net.offline.smtp)
        self.secure = secure            # the MX answer was validated (for DANE)
        self.client = _Client()
        self.tls = False
        self.peercert = None
        self.features: dict = {}
        self.esmtp = False
        self.authenticated = False      # AUTH done (a pooled session does not again)
        self.kept = False               # left open for a pool by the last run/reuse
        self.pool_idle: Optional[float] = None      # pooled: seconds kept idle (None:
        self.pool_transactions = POOL_TRANSACTIONS  # the pool's), transactions at most
        self.facts = Facts(host, address[0], address[1])

    # -- plumbing -------------------------------------------------------------------
    def done(self, result, code, message, state, on_rcptto=False, kind=None):
        raise _Done(Outcome(float(result), code, message, state, on_rcptto, self.tls,
                            self.peercert, kind, None, self.facts))

    def error(self, state, message, kind="network"):
        self.done(-1, None, message, state, kind=kind)

    def _timeout(self, state, exc):
        # (A wait that reaches the run's time limit stops the run itself: see hsl.net.)
        self.error(state, f"timed out in {state}")

    def settimeout(self, state: str):
        if self.client.sock is not None:
            self.client.sock.settimeout(self.server.timeout(state))

    def reply(self, state: str):
        """(code, text) of the next reply; a failure ends the session."""
        self.settimeout(state)
        try:
            code, msg = self.client.getreply()
        except smtplib.SMTPResponseException as e:
            self.error(state, f"invalid reply in {state}: {_reply_text(e.smtp_error)}",
                       "protocol")
        except (smtplib.SMTPException, OSError) as e:
            if timed_out(e):
                self._timeout(state, e)
            self.error(state, f"connection lost in {state}: {_reply_text(e)}")
        _execution.check_deadline()
        if code < 100 or code > 599:
            self.error(state, f"invalid reply in {state}: {_reply_text(msg)}", "protocol")
        return code, _reply_text(msg)

    def send(self, state: str, data: bytes):
        self.settimeout(state)
        try:
            self.client.send(data)
        except (smtplib.SMTPException, OSError) as e:
            if timed_out(e):
                self._timeout(state, e)
            self.error(state, f"connection lost in {state}: {_reply_text(e)}")

    def command(self, state: str, line: bytes):
        self.send(state, line + b"\r\n")
        return self.reply(state)

    def expect(self, state: str, line: bytes, ok=(200, 299), on_rcptto=False):
        """Send `line`; a 2xx (or `ok`) reply returns it, 5xx ends with 0, others -1 (a
        reply that neither accepts nor refuses, such as 250 to DATA, is kind protocol)."""
        code, text = self.command(state, line)
        if ok[0] <= code <= ok[1]:
            return code, text
        self.done(0 if 500 <= code <= 599 else -1, code, text, state, on_rcptto,
                  None if 400 <= code <= 599 else "protocol")

    def close(self):
        try:
            self.client.close()
        except Exception:
            pass

    # -- steps ----------------------------------------------------------------------
    def connect(self):
        """Open the connection; _ConnectFailed when none is made."""
        if self.conn is not None:
            self.client.sock = self.conn
            return
        try:
            sock = sockets.connect(self.address, self.clock, self.server.connect_timeout,
                                   self.server.sourceip)
        except OSError as e:
            raise _ConnectFailed(_os_error(e)) from None
        try:
            self.facts.localip = sock.getsockname()[0]
        except OSError:
            pass
        self.client.sock = sockets.Conn(sock, self.clock)

    def banner(self):
        code, text = self.reply("BANNER")
        self.facts.greet = text
        if code != 220:
            self.done(0 if code >= 500 else -1, code, text, "BANNER")

    def hello(self):
        name = self.server.helo
        self.facts.helo = name.decode("utf-8", "surrogateescape")
        if self.server.lmtp:
            self.features = self._features(self.expect("LHLO", b"LHLO " + name)[1])
            self.esmtp = True
            return
        code, text = self.command("EHLO", b"EHLO " + name)
        if 200 <= code <= 299:
            self.features = self._features(text)
            self.esmtp = True
            return
        if not 500 <= code <= 599:
            self.done(-1, code, text, "EHLO")
        self.expect("HELO", b"HELO " + name)
        self.features = {}
        self.esmtp = False

    @staticmethod
    def _features(text: str) -> dict:
        features = {}
        for line in text.split("\n")[1:]:
            m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9-]*)[ =]?(.*)", line)
            if m:
                features[m.group(1).lower()] = m.group(2).strip()
        return features

    def _tls_failed(self, message: str, tlsrpt: str, kind: str = "tls"):
        self.facts.tlsrpt = tlsrpt
        self.error("STARTTLS", message, kind)

    def _dane_records(self) -> Optional[list]:
        """Usable TLSA records for this host, [] for none; a failed lookup of records
        that may exist ends the session (kind dane)."""
        if hosts.is_ip(self.host) or self.conn is not None:
            return []
        if self.server.host is None and not self.secure:
            return []                   # an MX answer that was not validated
        name = f"_{self.address[1]}._tcp.{self.host}"
        answer = dns.lookup(name, "tlsa", self.clock, DNS_TIMEOUT)
        if answer.error not in (None, "NXDOMAIN"):
            if self.secure:
                self._tls_failed(f"DANE: TLSA lookup for {name} failed: {answer.error}",
                                 "dnssec-invalid", "dane")
            return []
        if not answer.dnssec:
            return []
        return _tlsa_records(answer)

    def starttls(self):
        mode = self.server.tls
        if mode == "disabled" or not self.allow_tls:
            return
        records = None
        if mode in DANE_MODES:
            records = self._dane_records()
            if records:
                self.facts.tlsa = [(u, s, m, d.hex()) for u, s, m, d in records]
                mode = "require"        # checked against the records below
            elif DANE_FALLBACK[mode] is None:
                self._tls_failed(f"DANE is required and {self.host} has no usable "
                                 f"DNSSEC-validated TLSA records", "dane-required",
                                 "dane")
            else:
                mode = DANE_FALLBACK[mode]
                records = None
        required = mode.startswith("require")
        verify = mode.endswith("_verify")
        if "starttls" not in self.features:
            if required:
                self._tls_failed("STARTTLS is not offered by the server",
                                 "starttls-not-supported", "dane" if records else "tls")
            return
        code, text = self.command("STARTTLS", b"STARTTLS")
        if code != 220:
            if required or verify:
                self.facts.tlsrpt = "starttls-not-supported"
                self.done(-1, code, text, "STARTTLS")
            return                      # optional: go on in plain text
        ctx = tls_context(self.fname, self.server, verify)
        sni = self.server.tls_sni
        if sni is True:
            sni = None if hosts.is_ip(self.host) else self.host
        if records and not sni and not hosts.is_ip(self.host):
            sni = self.host             # RFC 7672 8.1: DANE clients send SNI
        try:
            sock = tls.handshake(self.client.sock.sock, ctx, sni or None, self.clock,
                                 self.server.timeout("STARTTLS"))
        except (ssl.SSLError, OSError, ValueError) as e:
            if timed_out(e):
                self._timeout("STARTTLS", e)
            self.close()
            if not required and not verify:
                raise _PlainRetry() from None
            if isinstance(e, ssl.SSLCertVerificationError):
                why = e.verify_message or e.reason or str(e)
                self.facts.peercert_error = why
                self._tls_failed(f"certificate verification failed: {why}",
                                 "certificate-expired" if "expired" in why
                                 else "certificate-not-trusted")
            self._tls_failed(f"TLS handshake failed: {getattr(e, 'reason', None) or e}",
                             "validation-failure")
        self.client.sock = sockets.Conn(sock, self.clock)
        self.client.file = None
        self.tls = True
        self.facts.tls = True
        self.facts.tls_protocol = sock.version()
        cipher = sock.cipher()
        if cipher:
            self.facts.tls_cipher, self.facts.tls_keysize = cipher[0], cipher[2]
        der = sock.getpeercert(binary_form=True)
        self.facts.peercert = der
        if self.server.capture_peer_cert:
            self.peercert = der
        wanted = list(self.server.tls_verify_names)
        if self.server.tls_verify_host or (records and not wanted):
            wanted.append(self.host.lower().rstrip("."))
        if records:
            why = dane_check(_unverified_chain(sock), records, wanted)
            if why is not None:
                self.facts.peercert_error = why
                self._tls_failed(f"DANE: {why}", "tlsa-invalid", "dane")
        elif verify and wanted and not tls.matches(der, wanted):
            self.facts.peercert_error = "certificate name mismatch"
            self._tls_failed("certificate name mismatch: the certificate is not valid "
                             f"for {', '.join(wanted)}", "certificate-host-mismatch")
        self.hello()

    def auth(self, username: bytes, password: bytes):
        """AUTH LOGIN or PLAIN as offered: the 235 reply, else the session ends."""
        mechs = self.features.get("auth", "").upper().split()
        if "LOGIN" in mechs:
            self.expect("AUTH-LOGIN", b"AUTH LOGIN", ok=(334, 334))
            self.expect("AUTH-LOGIN-USER", base64.b64encode(username), ok=(334, 334))
            return self.expect("AUTH", base64.b64encode(password), ok=(235, 235))
        elif "PLAIN" in mechs:
            token = base64.b64encode(b"\0" + username + b"\0" + password)
            return self.expect("AUTH", b"AUTH PLAIN " + token, ok=(235, 235))
        elif "auth" in self.features:
            self.error("AUTH", "the server offers no AUTH mechanism hsl supports (LOGIN, "
                       "PLAIN): " + (" ".join(mechs) or "none"), "protocol")
        else:
            self.error("AUTH", "AUTH is not offered by the server", "protocol")

    def quit(self):
        """QUIT without waiting long; its outcome changes nothing."""
        try:
            self.client.sock.settimeout(min(QUIT_TIMEOUT, self.server.timeout("QUIT")))
            self.client.send(b"QUIT\r\n")
            self.client.getreply()
        except Exception:
            pass

    def run(self, steps, keep: bool = False) -> Outcome:
        """The session's outcome; _ConnectFailed (no connection) and _PlainRetry pass.
        With `keep`, a session that can take another transaction stays open (`kept`)."""
        def opening_then(session):
            session.banner()
            session.hello()
            session.starttls()
            return steps(session)
        self.connect()
        return self._converse(opening_then, keep)

    def reuse(self, steps, clock: Clock) -> Outcome:
        """Another transaction on this pooled session (see probe)."""
        self.clock = self.client.sock.clock = clock
        return self._converse(steps, True)

    def _converse(self, steps, keep: bool) -> Outcome:
        self.kept = False
        try:
            try:
                outcome = steps(self)
            except _Done as d:
                outcome = d.outcome
            return self._finish(outcome, keep)
        finally:
            if not self.kept:
                self.close()

    def _finish(self, outcome: Outcome, keep: bool) -> Outcome:
        if self.client.sock is not None:
            if keep and self._reusable(outcome):
                self.kept = True
            else:
                self.quit()
        # A snapshot: a pooled session's facts go on changing on another thread.
        outcome.conn = replace(self.facts) if outcome.conn in (None, self.facts) \
            else outcome.conn
        return outcome

    def _reusable(self, outcome: Outcome) -> bool:
        """Whether another transaction can follow on this connection: the last one
        ended with a reply to MAIL, RCPT, DATA or the message (not 421: the server is
        closing), and (unless it was the message's) a 250 to RSET."""
        if outcome.kind != "smtp" or outcome.code == 421 or \
                outcome.state not in ("MAIL", "RCPT", "DATA", "EOD") or \
                self.facts.transactions >= self.pool_transactions:
            return False
        if outcome.state == "EOD":
            return True
        try:
            code, _ = self.command("RSET", b"RSET")
        except _Done:
            return False
        return 200 <= code <= 299

    def alive(self) -> bool:
        """Whether an idle pooled connection is still open and silent (a server that
        closed it, or said 421 meanwhile, makes it unusable)."""
        if self.client.sock is None:
            return False
        raw = self.client.sock.sock
        try:
            readable, _, _ = select.select([raw], [], [], 0)
        except (OSError, ValueError):
            return False
        if not readable:
            return True
        if isinstance(raw, ssl.SSLSocket):
            raw.settimeout(0)           # (Conn sets the timeout again before each wait)
            try:
                raw.recv(1)
            except ssl.SSLWantReadError:
                return True             # a TLS record without data (a session ticket)
            except (OSError, ssl.SSLError):
                pass
        return False                    # end of file, or data nobody asked for


class Pool:
    """Idle SMTP sessions, for the next transaction to the same address with the same
    settings.  Safe to use from several threads: a session taken is the taker's."""

    def __init__(self, idle: float = POOL_IDLE):
        self.idle = idle
        self._sessions: dict = {}       # key -> [(session, idle since)]
        self._lock = threading.Lock()

    @staticmethod
    def key(server: Server, host: str, address: tuple) -> tuple:
        return (address, host, server.helo, server.sourceip, server.tls,
                server.tls_sni, server.tls_verify_host, tuple(server.tls_verify_names),
                server.tls_protocols, server.tls_ciphers, server.capture_peer_cert,
                server.saslusername, server.saslpassword, server.lmtp)

    def take(self, key: tuple) -> Optional[Session]:
        now = time.monotonic()
        while True:
            with self._lock:
                idle = self._sessions.get(key)
                if not idle:
                    return None
                session, since = idle.pop()
            if now - since < self._idle(session) and session.alive():
                return session
            session.quit()
            session.close()

    def give(self, key: tuple, session: Session) -> None:
        with self._lock:
            self._sessions.setdefault(key, []).append((session, time.monotonic()))

    def _idle(self, session: Session) -> float:
        return self.idle if session.pool_idle is None else session.pool_idle

    def close_idle(self) -> None:
        """QUIT the sessions idle longer than their idle time."""
        self._close(lambda s, since: time.monotonic() - since >= self._idle(s))

    def close(self) -> None:
        """QUIT every idle session."""
        self._close(lambda s, since: True)

    def _close(self, due) -> None:
        with self._lock:
            closing = []
            for key, idle in list(self._sessions.items()):
                closing += [s for s, since in idle if due(s, since)]
                idle[:] = [(s, since) for s, since in idle if not due(s, since)]
                if not idle:
                    del self._sessions[key]
        for session in closing:
            session.quit()
            session.close()


def _os_error(e: OSError) -> str:
    if timed_out(e):
        return "timed out"
    return e.strerror or str(e) or type(e).__name__


# ------------------------------------------------------------------ a transaction

def transaction(s: Session, sender: Address, recipients: list, payload: bytes,
                answers: list) -> None:
    """AUTH (saslusername), MAIL FROM (BODY=8BITMIME for an 8-bit message, SMTPUTF8 for
    non-ASCII addresses, SIZE, each when offered), one RCPT TO per recipient (each reply
    appended to `answers` as (address, code, text)), DATA when one was accepted, the
    message `payload` (as `wire()` makes it) and its final dot; ends the session with the
    reply to the message (state EOD; LMTP: the first reply that is not 2xx, else the
    last, one per accepted recipient)."""
    if s.server.saslusername is not None and not s.authenticated:
        s.auth(s.server.saslusername, s.server.saslpassword)
        s.authenticated = True
    params = list(sender.params)
    if s.esmtp:
        if not payload.isascii() and "8bitmime" in s.features:
            params.append(b"BODY=8BITMIME")
        addresses = sender.text + b"".join(r.text for r in recipients)
        if not addresses.isascii() and "smtputf8" in s.features \
                and b"SMTPUTF8" not in params:
            params.append(b"SMTPUTF8")
        if "size" in s.features:
            params.append(b"SIZE=%d" % len(payload))
    line = b"MAIL FROM:<" + sender.text + b">"
    s.facts.transactions += 1
    s.expect("MAIL", b" ".join([line] + params) if s.esmtp else line)
    accepted = 0
    code = text = None
    for r in recipients:
        line = b"RCPT TO:<" + r.text + b">"
        code, text = s.command("RCPT", b" ".join([line] + r.params) if s.esmtp else line)
        answers.append((r.text, code, text))
        accepted += 200 <= code <= 299
    if not accepted:
        s.done(0 if 500 <= code <= 599 else -1, code, text, "RCPT", True)
    s.expect("DATA", b"DATA", ok=(354, 354))
    s.send("EOD", payload + b".\r\n")
    code, text = s.reply("EOD")
    for _ in range(accepted - 1 if s.server.lmtp else 0):
        if not 200 <= code <= 299:
            break
        code, text = s.reply("EOD")
    s.done(1 if 200 <= code <= 299 else 0 if 500 <= code <= 599 else -1, code, text, "EOD")


# ------------------------------------------------------------------ where to connect

def _dns_error(message: str, kind: str, state: str = "CONNECT") -> Outcome:
    return Outcome(-1.0, None, message, state, kind="dns", dns=kind)


def _resolve_host(server: Server, clock: Clock) -> list:
    """Addresses of an explicitly given host: the literal, or the resolver's answer
    (waited for at most the connect timeout and the clock's deadlines)."""
    found = hosts.addresses(server.host, server.port, clock, server.connect_timeout)
    return [address[0] for _, address in found]


def _dns(name: str, rdtype: str, clock: Clock):
    return dns.lookup(name, rdtype, clock, DNS_TIMEOUT)


def mx_targets(server: Server, domain: Optional[str], clock: Clock):
    """[Target] for the recipient domain, in order, or an Outcome (-1) saying why there
    is none (see the module docstring)."""
    if not domain:
        return Outcome(-1.0, None, "the recipient has no domain to look up MX for",
                       "CONNECT", kind="config")
    if domain.startswith("["):
        literal = domain[1:-1]
        if literal.lower().startswith("ipv6:"):
            literal = literal[5:]
        return [Target(literal, [literal])]
    answer = _dns(domain, "mx", clock)
    if answer.error:
        return _dns_error(f"MX lookup for {domain} failed: {answer.error}",
                          "nxdomain" if answer.error == "NXDOMAIN" else "other")
    implicit = not answer.records
    if answer.records:
        mx = []
        for record in answer.records:
            pref, _, host = record.partition(" ")
            try:
                mx.append((int(pref), host.strip().rstrip(".").lower()))
            except ValueError:
                continue
        mx.sort(key=lambda p: p[0])
        names = [h for _, h in mx]
        if names == [""]:
            return _dns_error(f"{domain} accepts no mail (null MX)", "nullmx")
        names = [h for h in names if h]
    else:
        names = [domain]
    if server.mx_include:
        names = [h for h in names if any(_mx_matches(p, h) for p in server.mx_include)]
    if server.mx_exclude:
        names = [h for h in names if not any(_mx_matches(p, h) for p in server.mx_exclude)]
    if not names:
        return _dns_error(f"no MX host of {domain} is left after mx_include/mx_exclude",
                          "excluded")
    targets = []
    for host in names:
        if hosts.is_ip(host):
            targets.append(Target(host, [host], answer.dnssec))
            continue
        target = Target(host, [], answer.dnssec)
        for rdtype in ("a", "aaaa"):
            found = _dns(host, rdtype, clock)
            target.addresses += found.records
            if found.error:
                target.errors.append(found.error)
        targets.append(target)
    if implicit and not targets[0].addresses and \
            all(e in ("NXDOMAIN",) for e in targets[0].errors):
        return _dns_error(f"{domain} has no MX record and no address", "nodata")
    return targets


def _family_filter(server: Server, targets: list):
    """Only the addresses of the source address's family; an Outcome when none is
    left but some were there."""
    if not server.sourceip:
        return targets
    fam = hosts.family(server.sourceip)
    had = any(t.addresses for t in targets)
    for t in targets:
        t.addresses = [a for a in t.addresses if hosts.family(a) == fam]
    if had and not any(t.addresses for t in targets):
        v = "IPv6" if fam == socket.AF_INET6 else "IPv4"
        return _dns_error(f"no {v} address to connect to from {server.sourceip}",
                          "ipfamily")
    return targets


def probe(fname: str, server: Server, steps, domain: Optional[str] = None,
          clock: Optional[Clock] = None, pool: Optional[Pool] = None,
          pool_limits: tuple = (None, POOL_TRANSACTIONS)) -> Outcome:
    """Run one session: the first address that accepts a connection answers (with a
    `pool`: a pooled session to it, else a new one, kept in the pool after, for at most
    `pool_limits` (idle seconds, None: the pool's; transactions))."""
    _execution.blocking("smtp")
    clock = clock or Clock()
    clock.poll()                        # out of time already: stop before connecting
    if offline.smtp is not None:
        host = server.host or domain or ""
        try:
            conn = offline.smtp(host, server.port)
        except OSError as e:
            kind = ("dns" if isinstance(e, hosts.ResolveError)
                    else "tls" if isinstance(e, ssl.SSLError) else "network")
            return Outcome(-1.0, None, f"connection failed: {host}: {_os_error(e)}",
                           "CONNECT", kind=kind,
                           dns=getattr(e, "kind", None) if kind == "dns" else None)
        if conn is not None:            # (None: no stand-in for the host, ask it)
            return Session(fname, server, host, (host, server.port), clock,
                           conn=conn).run(steps)
    if server.host is not None:
        try:
            targets = [Target(server.host, _resolve_host(server, clock))]
        except hosts.ResolveError as e:
            return _dns_error(str(e), e.kind)
    else:
        targets = mx_targets(server, domain, clock)
        if isinstance(targets, Outcome):
            return targets
    targets = _family_filter(server, targets)
    if isinstance(targets, Outcome):
        return targets
    failures = []
    last = None
    for target in targets:
        if not target.addresses:
            failures.append(f"{target.host}: no address")
        for ip in target.addresses:
            address = (ip, server.port)
            if pool is not None:
                outcome = _pooled(pool, Pool.key(server, target.host, address), steps,
                                  clock, pool_limits)
                if outcome is not None:
                    return outcome
            session = Session(fname, server, target.host, address, clock,
                              secure=target.secure)
            session.pool_idle, session.pool_transactions = pool_limits
            try:
                outcome = session.run(steps, keep=pool is not None)
                if session.kept:
                    pool.give(Pool.key(server, target.host, address), session)
                return outcome
            except _PlainRetry:
                session = Session(fname, server, target.host, address, clock,
                                  allow_tls=False, secure=target.secure)
                try:
                    return session.run(steps)
                except _ConnectFailed as e:
                    failures.append(f"{_show(address)}: {e}")
            except _ConnectFailed as e:
                failures.append(f"{_show(address)}: {e}")
            last = session.facts
    message = "connection failed: " + "; ".join(failures)
    if last is None:                    # no address at all: the MX hosts' DNS
        return Outcome(-1.0, None, message, "CONNECT", kind="dns", dns="other")
    return Outcome(-1.0, None, message, "CONNECT", conn=last)


def _pooled(pool: Pool, key: tuple, steps, clock: Clock,
            pool_limits: tuple) -> Optional[Outcome]:
    """The outcome of `steps` on a pooled session for `key`; None when there is none.  A
    pooled connection that fails before MAIL FROM got an answer (the server closed it
    while it was idle) is dropped and the next one (or a new one) is used."""
    while True:
        session = pool.take(key)
        if session is None:
            return None
        sent = session.facts.transactions
        session.pool_idle, session.pool_transactions = pool_limits
        outcome = session.reuse(steps, clock)
        if outcome.state == "MAIL" and outcome.code in (None, 421) and \
                session.facts.transactions == sent + 1:
            continue                    # (it closed on us: not this copy's failure)
        if session.kept:
            pool.give(key, session)
        return outcome


def _show(address: tuple) -> str:
    ip, port = address
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
