"""SMTP probes (builtins.md "DNS and network"): smtp_lookup_rcpt, smtp_lookup_auth.

Both open one SMTP session with smtplib and ssl, ask their question and QUIT; neither ever
sends a message (no DATA).  `smtp_lookup_rcpt(server, sender, recipient [, options])`
does banner, EHLO (HELO when EHLO gets a 5xx), STARTTLS per the `tls` setting, AUTH when
the server array has `saslusername`, MAIL FROM, RCPT TO, QUIT and returns 1 (accepted), 0
(rejected) or -1 (error).  `smtp_lookup_auth(server, username, password)` does the same
up to AUTH and returns 1 (235), 0 (rejected) or -1 (error).  Before any I/O both call
runtime.blocking("smtp"), so a speculative run (hsl serve) moves to a worker thread first.

Results (decided here where the Halon documentation is silent):

* 1: RCPT TO got a 2xx reply (AUTH: 235).  0: the server refused with a 5xx reply to the
  greeting, EHLO and HELO, AUTH (saslusername), MAIL FROM or RCPT TO.  -1: everything
  else: no connection, a 4xx or unexpected reply, a timeout, a dropped connection, a
  TLS failure where TLS is required or verified, AUTH not offered when it is needed.
* `extended_result => true` returns an array instead of the number, always with these
  keys: `result` (the number above), `error_code` (the SMTP code of the reply that
  decided it, also 250 for an accepted recipient; none when no reply did: connection
  failure, timeout, TLS failure), `error_message` (that reply's text, lines joined by
  "\\n", or a description of the failure), `on_rcptto` (true when the result is RCPT TO's
  reply), `tls` (true when the session was TLS-protected at that point) and `state`
  (where it was decided: CONNECT, BANNER, EHLO, HELO, LHLO, STARTTLS, AUTH, MAIL, RCPT).
  With `tls_capture_peer_cert => true` and TLS started it also has
  `peercert => ["x509" => X509Resource]` (the shape of `$connection["tls"]["peercert"]`).
* Arguments of the wrong type, unknown `tls`/`protocol` values, bad numbers and CR, LF or
  NUL inside anything sent on a command line are ScriptErrors naming the function.
  Unknown options and server settings are ignored (builtins.md, Conventions).

The server argument:

* A string is a transport profile id in Halon, which does not exist here: it is taken as
  an address instead, "host", "host:port", "[v6]" or "[v6]:port" (a bare IPv6 address
  with more than one colon is a host without port).  Port 25 unless given.
* An array has the documented settings: `host` (an IP address or host name; "[v6]" is
  accepted), `port` (25), `helo` (default: this machine's host name), `sourceip`, `tls`,
  `tls_sni`, `tls_protocols`, `tls_ciphers`, `tls_verify_host`, `tls_verify_name`,
  `tls_default_ca`, `tls_capture_peer_cert`, `saslusername`/`saslpassword`, `protocol`
  (`smtp` or `lmtp`), `mx_include`/`mx_exclude`, `timeout` (an array of SMTP state =>
  seconds) and `connect_timeout` (30 s).
* Without `host`, smtp_lookup_rcpt connects to the MX hosts of the recipient's domain
  (hsl.net.dns, so `dns_query`'s backend), lowest preference first, filtered by
  `mx_include`/`mx_exclude`; no MX record means the domain itself (RFC 5321 5.1), a null
  MX ("0 .") or an unknown domain is -1.  The MX hosts' A then AAAA addresses are tried in
  order; only a failed connection moves on to the next address.  smtp_lookup_auth needs a
  `host` (a ScriptError otherwise: there is no recipient domain).  A `host` that is a name
  is resolved with the system resolver (getaddrinfo), or with --dns-table/--dns-server
  when they are given (hsl.net.hosts, as for http()), bounded by the connect timeout.
* Settings that name things of a Halon installation are errors rather than silently
  ignored, since the probe would not be the session asked for: `sourceipid`,
  `tls_client_cert` (no certificate store), `xclient`, `nonlocal_source => true`.
* Timeouts: `timeout` keys are the states above (case-insensitive; also AUTH-LOGIN,
  AUTH-LOGIN-USER and QUIT); each state not given waits at most 300 s (RFC 5321
  4.5.3.2).  Every wait, the name
  lookups and the connect are also bounded by the execution's time left (they are waits of
  hsl.net, as http()'s are): when that runs out during a probe the run stops with
  "execution time limit exceeded", as a loop would, and a cancelled run (hsl serve's
  `cancel`) stops with "interrupted" within a quarter of a second.
  QUIT waits at most 5 s and its outcome does not change the result.  No RSET is sent:
  QUIT ends the unfinished transaction.

TLS (`tls`; Python's ssl, no DANE):

* `disabled` (default): no STARTTLS.
* `optional`: STARTTLS when offered, certificate not checked; a refused STARTTLS goes on
  in plain text, a failed handshake is retried once on a new plain-text connection.
* `optional_verify`: plain text when STARTTLS is not offered; when it is, STARTTLS must
  succeed and the certificate verify, else -1.
* `require` / `require_verify`: STARTTLS must be offered and succeed (and, for
  `require_verify`, the certificate verify), else -1.
* `dane` behaves as `optional` (there is no TLSA/DNSSEC check) and `dane_require` is
  always -1 ("DANE is not supported"): neither pretends to have verified anything.
* Verification checks the chain against the system's trusted CAs (OpenSSL's default
  paths, so SSL_CERT_FILE / SSL_CERT_DIR choose others; hsl.net.tls, as for http()): hsl
  has no certificate store of its own, so `tls_default_ca` is accepted and has no
  effect.  Names are checked only in
  the verify modes: with `tls_verify_host` the host connected to (the MX host's name when
  looked up), with `tls_verify_name` any of the names given (a leading "." accepts direct
  subdomains); certificate wildcards match one whole left-most label.
* `tls_sni`: true sends the host name connected to (not an IP address), a string sends
  that name; the default sends none.  `tls_protocols` ("TLSv1.2,TLSv1.3", "!TLSv1")
  sets the lowest and highest version allowed (TLSv1 and TLSv1.1 only when named, as
  Python's default floor is TLSv1.2); `tls_ciphers` is an OpenSSL cipher list.
* After STARTTLS, EHLO (LHLO) is sent again.

AUTH: the mechanisms offered decide: LOGIN when offered (what Halon documents for
saslusername), else PLAIN; neither offered (or no AUTH at all, e.g. only after STARTTLS)
is -1.  In the exchange a 5xx reply is 0 (535 and the like), any other reply than the
expected 334 or 235 is -1.  smtp_lookup_auth ignores `saslusername`/`saslpassword`.

Addresses: `sender`/`recipient` are strings (the address without angle brackets; one
pair of surrounding brackets is removed; "" is the null sender) or arrays with
`localpart` and `domain` (the local part is quoted as needed, see
envelope_localpart_escape) or `address` (a string), and optionally `params`, ESMTP
parameters as ["NAME" => "value"] (true or none for a parameter without value).  When an
address is not ASCII and the server offers SMTPUTF8, MAIL FROM gets SMTPUTF8.
"""
from __future__ import annotations

import base64
import ipaddress
import math
import re
import smtplib
import socket
import ssl
import warnings
from dataclasses import dataclass, field
from typing import Optional

from ..runtime import execution as _execution
from ..errors import ScriptError
from ..net import dns, hosts, offline, sockets, tls
from ..net.clock import Clock
from ..runtime.values import HArray, to_str, type_name
from ._args import digits_value, type_error
from .registry import builtin

AREA = "network"
RCPT = "smtp_lookup_rcpt"
AUTH = "smtp_lookup_auth"

DEFAULT_PORT = 25
DEFAULT_TIMEOUT = 300.0          # RFC 5321 4.5.3.2: initial greeting, MAIL, RCPT
DEFAULT_CONNECT_TIMEOUT = 30.0
QUIT_TIMEOUT = 5.0
DNS_TIMEOUT = 5.0

TLS_MODES = ("disabled", "optional", "optional_verify", "dane", "dane_require", "require",
             "require_verify")
_TLS_VERSIONS = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
                 "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_UNSUPPORTED = {b"sourceipid": "a source IP id names a Halon configuration entry",
                b"tls_client_cert": "hsl has no certificate store",
                b"xclient": "XCLIENT is not implemented"}
_PARAM_NAME = re.compile(rb"[A-Za-z0-9][A-Za-z0-9-]*\Z")
_BAD_LINE = re.compile(rb"[\r\n\x00]")
_DOT_STRING = re.compile(rb"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\x80-\xff-]+"
                         rb"(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\x80-\xff-]+)*\Z")


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


def _setting_error(fname: str, name: str, expected: str, got) -> ScriptError:
    return ScriptError(f"{fname}() server setting {name!r} must be {expected}, "
                       f"got {type_name(got)} (type error)")


def _text(fname: str, what: str, value: bytes) -> str:
    """`value` for a command line or a socket call: no CR, LF or NUL."""
    if _BAD_LINE.search(value):
        raise ScriptError(f"{fname}() {what} must not contain CR, LF or NUL")
    return value.decode("utf-8", "surrogateescape")


def _split_hostport(fname: str, spec: bytes) -> tuple[str, Optional[int]]:
    """("host", port or None) from "host", "host:port", "[v6]", "[v6]:port" or "v6"."""
    text = _text(fname, "server", spec).strip()
    port = None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ScriptError(f"{fname}() invalid server address {text!r}")
        if rest:
            port = _port_text(fname, rest[1:])
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        port = _port_text(fname, p)
    else:
        host = text
    if not host:
        raise ScriptError(f"{fname}() invalid server address {text!r}")
    return host, port


def _port_text(fname: str, text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < digits_value(text, 65535) < 65536:
        raise ScriptError(f"{fname}() invalid port {text!r}")
    return int(text)


def _number(fname: str, name: str, v, *, positive: bool = True) -> float:
    if type(v) is not float:
        raise _setting_error(fname, name, "a number", v)
    if not (v > 0 if positive else v >= 0) or v != v or v == float("inf"):
        raise ScriptError(f"{fname}() server setting {name!r} must be a positive number")
    return v


def _names(fname: str, name: str, v) -> list:
    """A list of host names from an array of strings (a single string is accepted)."""
    if type(v) is bytes:
        items = [v]
    elif type(v) is HArray:
        items = v.values()
    else:
        raise _setting_error(fname, name, "an array", v)
    out = []
    for item in items:
        if type(item) is not bytes:
            raise _setting_error(fname, name, "an array of strings", item)
        out.append(item.decode("utf-8", "surrogateescape").lower().rstrip("."))
    return out


def parse_server(fname: str, server) -> Server:
    """The Server settings of argument 1 (a string or an array)."""
    s = Server()
    if type(server) is bytes:
        s.host, port = _split_hostport(fname, server)
        s.port = port or DEFAULT_PORT
    elif type(server) is HArray:
        d = server.d
        for key, why in _UNSUPPORTED.items():
            if d.get(key) is not None:
                raise ScriptError(f"{fname}() server setting {key.decode()!r} is not "
                                  f"supported in hsl: {why}")
        ns = d.get(b"nonlocal_source")
        if ns is not None:
            if type(ns) is not bool:
                raise _setting_error(fname, "nonlocal_source", "a boolean", ns)
            if ns:
                raise ScriptError(f"{fname}() server setting 'nonlocal_source' is not "
                                  f"supported in hsl")
        host = d.get(b"host")
        if host is not None:
            if type(host) is not bytes:
                raise _setting_error(fname, "host", "a string", host)
            h = _text(fname, "host", host).strip()
            if h.startswith("[") and h.endswith("]"):
                h = h[1:-1]
            if not h:
                raise ScriptError(f"{fname}() server setting 'host' is empty")
            s.host = h
        port = d.get(b"port")
        if port is not None:
            if type(port) is not float:
                raise _setting_error(fname, "port", "a number", port)
            if not (port == port and 0 < port < 65536 and port == int(port)):
                raise ScriptError(f"{fname}() invalid port {port:g}")
            s.port = int(port)
        helo = d.get(b"helo")
        if helo is not None:
            if type(helo) is not bytes:
                raise _setting_error(fname, "helo", "a string", helo)
            _text(fname, "helo", helo)
            s.helo = helo
        src = d.get(b"sourceip")
        if src is not None:
            if type(src) is not bytes:
                raise _setting_error(fname, "sourceip", "a string", src)
            try:
                s.sourceip = str(ipaddress.ip_address(src.decode("ascii")))
            except (ValueError, UnicodeDecodeError):
                raise ScriptError(f"{fname}() server setting 'sourceip' is not an IP "
                                  f"address") from None
        tls = d.get(b"tls")
        if tls is not None:
            if type(tls) is not bytes:
                raise _setting_error(fname, "tls", "a string", tls)
            mode = tls.decode("utf-8", "replace")
            if mode not in TLS_MODES:
                raise ScriptError(f"{fname}() unknown tls mode {mode!r} (one of "
                                  f"{', '.join(TLS_MODES)})")
            s.tls = mode
        sni = d.get(b"tls_sni")
        if sni is not None:
            if type(sni) is bool:
                s.tls_sni = sni
            elif type(sni) is bytes:
                s.tls_sni = _text(fname, "tls_sni", sni) or False
            else:
                raise _setting_error(fname, "tls_sni", "a string or a boolean", sni)
        for name, attr in ((b"tls_verify_host", "tls_verify_host"),
                           (b"tls_capture_peer_cert", "capture_peer_cert"),
                           (b"tls_default_ca", None)):
            v = d.get(name)
            if v is not None:
                if type(v) is not bool:
                    raise _setting_error(fname, name.decode(), "a boolean", v)
                if attr:
                    setattr(s, attr, v)
        names = d.get(b"tls_verify_name")
        if names is not None:
            s.tls_verify_names = _names(fname, "tls_verify_name", names)
        for name in (b"tls_protocols", b"tls_ciphers"):
            v = d.get(name)
            if v is not None:
                if type(v) is not bytes:
                    raise _setting_error(fname, name.decode(), "a string", v)
                setattr(s, name.decode(), v.decode("utf-8", "replace"))
        if s.tls_protocols is not None or s.tls_ciphers is not None:
            _tls_context(fname, s, False)                   # checked now, used later
        user = d.get(b"saslusername")
        if user is not None:
            if type(user) is not bytes:
                raise _setting_error(fname, "saslusername", "a string", user)
            s.saslusername = user
        pw = d.get(b"saslpassword")
        if pw is not None:
            if type(pw) is not bytes:
                raise _setting_error(fname, "saslpassword", "a string", pw)
            s.saslpassword = pw
        proto = d.get(b"protocol")
        if proto is not None:
            if type(proto) is not bytes:
                raise _setting_error(fname, "protocol", "a string", proto)
            if proto.lower() not in (b"smtp", b"lmtp"):
                raise ScriptError(f"{fname}() unknown protocol "
                                  f"{proto.decode('utf-8', 'replace')!r} (smtp or lmtp)")
            s.lmtp = proto.lower() == b"lmtp"
        for name in (b"mx_include", b"mx_exclude"):
            v = d.get(name)
            if v is not None:
                setattr(s, name.decode(), _names(fname, name.decode(), v))
        timeouts = d.get(b"timeout")
        if timeouts is not None:
            if type(timeouts) is not HArray:
                raise _setting_error(fname, "timeout", "an array", timeouts)
            for k, v in timeouts.items():
                state = (k.decode("utf-8", "replace") if type(k) is bytes else str(k)).upper()
                s.timeouts[state] = _number(fname, f"timeout {state}", v)
        ct = d.get(b"connect_timeout")
        if ct is not None:
            s.connect_timeout = _number(fname, "connect_timeout", ct)
    else:
        raise type_error(fname, 1, "a string or an array", server)
    if not s.helo:
        s.helo = socket.gethostname().encode("utf-8", "surrogateescape") or b"localhost"
    return s


def _tls_versions(fname: str, spec: str):
    """(minimum, maximum) TLSVersion from "TLSv1.2,TLSv1.3" or "!TLSv1.3" (SSLv2 and
    SSLv3 are accepted in the list and never used; TLSv1 and TLSv1.1 only when named)."""
    allowed = set()
    denied = set()
    for item in (p.strip() for p in spec.split(",")):
        if not item:
            continue
        neg = item.startswith("!")
        name = item[1:] if neg else item
        if name not in _TLS_VERSIONS and name not in ("SSLv2", "SSLv3"):
            raise ScriptError(f"{fname}() unknown TLS protocol {name!r} in tls_protocols")
        (denied if neg else allowed).add(name)
    names = [n for n in _TLS_VERSIONS if n not in denied
             and (n in allowed or not allowed and n not in ("TLSv1", "TLSv1.1"))]
    if not names:
        raise ScriptError(f"{fname}() tls_protocols allows no TLS version")
    return _TLS_VERSIONS[names[0]], _TLS_VERSIONS[names[-1]]


# ------------------------------------------------------------------ addresses

@dataclass
class Address:
    text: bytes                         # what goes between < and >
    params: list = field(default_factory=list)      # ["NAME" or "NAME=value", ...] bytes


def parse_address(fname: str, pos: int, v) -> Address:
    if type(v) is bytes:
        text = v[1:-1] if v.startswith(b"<") and v.endswith(b">") else v
        return Address(_checked(fname, pos, text))
    if type(v) is not HArray:
        raise type_error(fname, pos, "a string or an array", v)
    address = v.d.get(b"address")
    localpart = v.d.get(b"localpart")
    if address is not None:
        if type(address) is not bytes:
            raise ScriptError(f"{fname}() argument {pos}: 'address' must be a string, got "
                              f"{type_name(address)} (type error)")
        text = address[1:-1] if address.startswith(b"<") and address.endswith(b">") \
            else address
    elif localpart is not None:
        if type(localpart) is not bytes:
            raise ScriptError(f"{fname}() argument {pos}: 'localpart' must be a string, "
                              f"got {type_name(localpart)} (type error)")
        domain = v.d.get(b"domain")
        if domain is not None and type(domain) is not bytes:
            raise ScriptError(f"{fname}() argument {pos}: 'domain' must be a string, got "
                              f"{type_name(domain)} (type error)")
        if localpart and not _DOT_STRING.match(localpart):
            localpart = b'"' + re.sub(rb'(["\\])', rb"\\\1", localpart) + b'"'
        text = localpart + (b"@" + domain if domain else b"")
    else:
        raise ScriptError(f"{fname}() argument {pos} needs 'localpart' and 'domain' or "
                          f"'address'")
    out = Address(_checked(fname, pos, text))
    params = v.d.get(b"params")
    if params is not None:
        if type(params) is not HArray:
            raise ScriptError(f"{fname}() argument {pos}: 'params' must be an array, got "
                              f"{type_name(params)} (type error)")
        for name, value in params.items():
            if type(name) is not bytes or not _PARAM_NAME.match(name):
                shown = to_str(name).decode("utf-8", "replace")
                raise ScriptError(f"{fname}() argument {pos}: invalid ESMTP parameter "
                                  f"name {shown!r}")
            if value is None or value is True:
                out.params.append(name.upper())
                continue
            if type(value) is float and math.isfinite(value) and value == int(value):
                value = b"%d" % int(value)
            if type(value) is not bytes:
                raise ScriptError(f"{fname}() argument {pos}: ESMTP parameter "
                                  f"{name.decode()} must be a string, got "
                                  f"{type_name(value)} (type error)")
            if not value or re.search(rb"[\x00-\x20=\x7f]", value):
                raise ScriptError(f"{fname}() argument {pos}: invalid value for ESMTP "
                                  f"parameter {name.decode()}")
            out.params.append(name.upper() + b"=" + value)
    return out


def _checked(fname: str, pos: int, text: bytes) -> bytes:
    if _BAD_LINE.search(text) or b">" in text or b"<" in text:
        raise ScriptError(f"{fname}() argument {pos} is not a valid address "
                          f"(CR, LF, NUL or angle brackets inside)")
    return text


def _domain(address: bytes) -> Optional[str]:
    at = address.rfind(b"@")
    if at < 0 or at == len(address) - 1:
        return None
    d = address[at + 1:]
    if d.startswith(b"[") and d.endswith(b"]"):          # an address literal
        return d.decode("ascii", "replace")
    return d.decode("utf-8", "surrogateescape").rstrip(".").lower()


# ------------------------------------------------------------------ outcome

@dataclass
class Outcome:
    result: float
    code: Optional[int]
    message: str
    state: str
    on_rcptto: bool = False
    tls: bool = False
    peercert: Optional[bytes] = None    # DER

    def value(self, extended: bool):
        if not extended:
            return self.result
        pairs = [(b"result", self.result),
                 (b"error_code", None if self.code is None else float(self.code)),
                 (b"error_message", self.message.encode("utf-8", "surrogateescape")),
                 (b"on_rcptto", self.on_rcptto),
                 (b"tls", self.tls),
                 (b"state", self.state.encode("ascii"))]
        if self.peercert is not None:
            # deferred: cryptography, only when a server shows a certificate
            from .x509 import x509_resource_from_der
            try:
                pairs.append((b"peercert", HArray.from_pairs(
                    [(b"x509", x509_resource_from_der(self.peercert))])))
            except ValueError:
                pass
        return HArray.from_pairs(pairs)


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


def _timed_out(exc: BaseException) -> bool:
    """Whether `exc` is (or smtplib turned) a socket timeout."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, (TimeoutError, socket.timeout)):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


# ------------------------------------------------------------------ TLS

def _tls_context(fname: str, server: Server, verify: bool) -> ssl.SSLContext:
    if server.tls_protocols is None and server.tls_ciphers is None:
        return tls.context(verify)
    ctx = tls.new_context(verify)
    if server.tls_protocols is not None:
        low, high = _tls_versions(fname, server.tls_protocols)
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


def _direct_child(name: str, base: str) -> bool:
    label, dot, rest = name.partition(".")
    return bool(label and dot) and rest == base


def _mx_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*.") or pattern.startswith("."):
        return _direct_child(host, pattern[pattern.index(".") + 1:])
    return pattern == host


# ------------------------------------------------------------------ the session

class _Client(smtplib.SMTP):
    """smtplib's connection, reply reader and sender; the dialogue is ours, so that every
    state has its own timeout and raw bytes go on the wire unchanged."""

    def __init__(self):
        super().__init__(local_hostname="localhost")     # never sent: we send our own


class Session:
    def __init__(self, fname: str, server: Server, host: str, address: tuple,
                 clock: Clock, allow_tls: bool = True, conn=None):
        self.fname = fname
        self.server = server
        self.host = host                # the name connected to (for SNI and names)
        self.address = address          # (ip, port)
        self.clock = clock
        self.allow_tls = allow_tls
        self.conn = conn                # a stand-in's connection (hsl.net.offline.smtp)
        self.client = _Client()
        self.tls = False
        self.peercert = None
        self.features: dict = {}
        self.esmtp = False

    # -- plumbing -------------------------------------------------------------------
    def done(self, result, code, message, state, on_rcptto=False):
        raise _Done(Outcome(float(result), code, message, state, on_rcptto, self.tls,
                            self.peercert))

    def error(self, state, message):
        self.done(-1, None, message, state)

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
            self.error(state, f"invalid reply in {state}: {_reply_text(e.smtp_error)}")
        except (smtplib.SMTPException, OSError) as e:
            if _timed_out(e):
                self._timeout(state, e)
            self.error(state, f"connection lost in {state}: {_reply_text(e)}")
        _execution.check_deadline()
        if code < 100 or code > 599:
            self.error(state, f"invalid reply in {state}: {_reply_text(msg)}")
        return code, _reply_text(msg)

    def command(self, state: str, line: bytes):
        self.settimeout(state)
        try:
            self.client.send(line + b"\r\n")
        except (smtplib.SMTPException, OSError) as e:
            if _timed_out(e):
                self._timeout(state, e)
            self.error(state, f"connection lost in {state}: {_reply_text(e)}")
        return self.reply(state)

    def expect(self, state: str, line: bytes, ok=(200, 299), on_rcptto=False):
        """Send `line`; a 2xx (or `ok`) reply returns it, 5xx ends with 0, others -1."""
        code, text = self.command(state, line)
        if ok[0] <= code <= ok[1]:
            return code, text
        self.done(0 if 500 <= code <= 599 else -1, code, text, state, on_rcptto)

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
        self.client.sock = sockets.Conn(sock, self.clock)

    def banner(self):
        code, text = self.reply("BANNER")
        if code != 220:
            self.done(0 if code >= 500 else -1, code, text, "BANNER")

    def hello(self):
        name = self.server.helo
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

    def starttls(self):
        mode = self.server.tls
        if mode == "dane_require":
            self.error("STARTTLS", "DANE is not supported by hsl")
        if mode == "disabled" or not self.allow_tls:
            return
        required = mode.startswith("require")
        verify = mode.endswith("_verify")
        if "starttls" not in self.features:
            if required:
                self.error("STARTTLS", "STARTTLS is not offered by the server")
            return
        code, text = self.command("STARTTLS", b"STARTTLS")
        if code != 220:
            if required or verify:
                self.done(-1, code, text, "STARTTLS")
            return                      # optional: go on in plain text
        ctx = _tls_context(self.fname, self.server, verify)
        sni = self.server.tls_sni
        if sni is True:
            sni = None if hosts.is_ip(self.host) else self.host
        try:
            sock = tls.handshake(self.client.sock.sock, ctx, sni or None, self.clock,
                                 self.server.timeout("STARTTLS"))
        except (ssl.SSLError, OSError, ValueError) as e:
            if _timed_out(e):
                self._timeout("STARTTLS", e)
            self.close()
            if not required and not verify:
                raise _PlainRetry() from None
            if isinstance(e, ssl.SSLCertVerificationError):
                self.error("STARTTLS", "certificate verification failed: "
                           f"{e.verify_message or e.reason or e}")
            self.error("STARTTLS", f"TLS handshake failed: {getattr(e, 'reason', None) or e}")
        self.client.sock = sockets.Conn(sock, self.clock)
        self.client.file = None
        self.tls = True
        der = sock.getpeercert(binary_form=True)
        if self.server.capture_peer_cert:
            self.peercert = der
        if verify:
            wanted = list(self.server.tls_verify_names)
            if self.server.tls_verify_host:
                wanted.append(self.host.lower().rstrip("."))
            if wanted and not tls.matches(der, wanted):
                self.error("STARTTLS", "certificate name mismatch: the certificate is "
                           f"not valid for {', '.join(wanted)}")
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
                       "PLAIN): " + (" ".join(mechs) or "none"))
        else:
            self.error("AUTH", "AUTH is not offered by the server")

    def quit(self):
        """QUIT without waiting long; its outcome changes nothing."""
        try:
            self.client.sock.settimeout(min(QUIT_TIMEOUT, self.server.timeout("QUIT")))
            self.client.send(b"QUIT\r\n")
            self.client.getreply()
        except Exception:
            pass

    # -- the two probes -------------------------------------------------------------
    def run(self, steps) -> Outcome:
        """The session's outcome; _ConnectFailed (no connection) and _PlainRetry pass."""
        try:
            self.connect()
            try:
                self.banner()
                self.hello()
                self.starttls()
                outcome = steps(self)
            except _Done as d:
                outcome = d.outcome
            if self.client.sock is not None:
                self.quit()
            return outcome
        finally:
            self.close()


def _os_error(e: OSError) -> str:
    if _timed_out(e):
        return "timed out"
    return e.strerror or str(e) or type(e).__name__


def _rcpt_steps(sender: Address, recipient: Address):
    def steps(s: Session) -> Outcome:
        if s.server.saslusername is not None:
            s.auth(s.server.saslusername, s.server.saslpassword)
        params = list(sender.params)
        if (not (sender.text + recipient.text).isascii() and "smtputf8" in s.features
                and b"SMTPUTF8" not in params):
            params.append(b"SMTPUTF8")
        line = b"MAIL FROM:<" + sender.text + b">"
        s.expect("MAIL", b" ".join([line] + params) if s.esmtp else line)
        line = b"RCPT TO:<" + recipient.text + b">"
        code, text = s.command("RCPT", b" ".join([line] + recipient.params)
                               if s.esmtp else line)
        if 200 <= code <= 299:
            return Outcome(1.0, code, text, "RCPT", True, s.tls, s.peercert)
        return Outcome(0.0 if 500 <= code <= 599 else -1.0, code, text, "RCPT", True,
                       s.tls, s.peercert)
    return steps


def _auth_steps(username: bytes, password: bytes):
    def steps(s: Session) -> Outcome:
        code, text = s.auth(username, password)
        return Outcome(1.0, code, text, "AUTH", False, s.tls, s.peercert)
    return steps


# ------------------------------------------------------------------ where to connect

def _resolve_host(server: Server, clock: Clock) -> list:
    """Addresses of an explicitly given host: the literal, or the resolver's answer
    (waited for at most the connect timeout and the clock's deadlines)."""
    try:
        found = hosts.addresses(server.host, server.port, clock, server.connect_timeout)
    except hosts.ResolveError as e:
        raise _ConnectFailed(str(e)) from None
    return [address[0] for _, address in found]


def _dns(name: str, rdtype: str, clock: Clock):
    return dns.lookup(name, rdtype, clock, DNS_TIMEOUT)


def _mx_targets(fname: str, server: Server, domain: Optional[str], clock: Clock):
    """[(host, [addresses])] for the recipient domain, or an Outcome (-1)."""
    if not domain:
        return Outcome(-1.0, None, "the recipient has no domain to look up MX for",
                       "CONNECT")
    if domain.startswith("["):
        literal = domain[1:-1]
        if literal.lower().startswith("ipv6:"):
            literal = literal[5:]
        return [(literal, [literal])]
    answer = _dns(domain, "mx", clock)
    if answer.error:
        return Outcome(-1.0, None, f"MX lookup for {domain} failed: {answer.error}",
                       "CONNECT")
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
            return Outcome(-1.0, None, f"{domain} accepts no mail (null MX)", "CONNECT")
        names = [h for h in names if h]
    else:
        names = [domain]
    if server.mx_include:
        names = [h for h in names if any(_mx_matches(p, h) for p in server.mx_include)]
    if server.mx_exclude:
        names = [h for h in names if not any(_mx_matches(p, h) for p in server.mx_exclude)]
    if not names:
        return Outcome(-1.0, None, f"no MX host of {domain} is left after mx_include/"
                       f"mx_exclude", "CONNECT")
    targets = []
    for host in names:
        if hosts.is_ip(host):
            targets.append((host, [host]))
            continue
        addresses = []
        for rdtype in ("a", "aaaa"):
            addresses += _dns(host, rdtype, clock).records
        targets.append((host, addresses))
    return targets


def probe(fname: str, server: Server, steps, domain: Optional[str] = None) -> Outcome:
    """Run one probe session: the first address that accepts a connection answers."""
    _execution.blocking("smtp")
    clock = Clock()
    clock.poll()                        # out of time already: stop before connecting
    if offline.smtp is not None:
        host = server.host or domain or ""
        try:
            conn = offline.smtp(host, server.port)
        except OSError as e:
            return Outcome(-1.0, None, f"connection failed: {host}: {_os_error(e)}",
                           "CONNECT")
        if conn is not None:            # (None: no stand-in for the host, ask it)
            return Session(fname, server, host, (host, server.port), clock,
                           conn=conn).run(steps)
    if server.host is not None:
        try:
            targets = [(server.host, _resolve_host(server, clock))]
        except _ConnectFailed as e:
            return Outcome(-1.0, None, str(e), "CONNECT")
    else:
        targets = _mx_targets(fname, server, domain, clock)
        if isinstance(targets, Outcome):
            return targets
    failures = []
    for host, addresses in targets:
        if not addresses:
            failures.append(f"{host}: no address")
        for ip in addresses:
            address = (ip, server.port)
            try:
                return Session(fname, server, host, address, clock).run(steps)
            except _PlainRetry:
                try:
                    return Session(fname, server, host, address, clock,
                                   allow_tls=False).run(steps)
                except _ConnectFailed as e:
                    failures.append(f"{_show(address)}: {e}")
            except _ConnectFailed as e:
                failures.append(f"{_show(address)}: {e}")
    return Outcome(-1.0, None, "connection failed: " + "; ".join(failures), "CONNECT")


def _show(address: tuple) -> str:
    ip, port = address
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


# ------------------------------------------------------------------ the builtins

@builtin(area=AREA)
def smtp_lookup_rcpt(server, sender, recipient, options=None):
    """Ask an SMTP server whether it accepts `recipient` from `sender` (MAIL FROM, RCPT TO,
    no message): 1 accepted, 0 rejected, -1 error; an array with `extended_result`."""
    settings = parse_server(RCPT, server)
    mail_from = parse_address(RCPT, 2, sender)
    rcpt_to = parse_address(RCPT, 3, recipient)
    extended = False
    if options is not None:
        if type(options) is not HArray:
            raise type_error(RCPT, 4, "an array", options)
        v = options.d.get(b"extended_result")
        if v is not None:
            if type(v) is not bool:
                raise ScriptError(f"{RCPT}() option 'extended_result' must be a boolean, "
                                  f"got {type_name(v)} (type error)")
            extended = v
    outcome = probe(RCPT, settings, _rcpt_steps(mail_from, rcpt_to), _domain(rcpt_to.text))
    return outcome.value(extended)


@builtin(area=AREA)
def smtp_lookup_auth(server, username, password):
    """Try SMTP AUTH (LOGIN or PLAIN) with `username` and `password`: 1 accepted, 0
    rejected, -1 error."""
    settings = parse_server(AUTH, server)
    if type(username) is not bytes:
        raise type_error(AUTH, 2, "a string", username)
    if type(password) is not bytes:
        raise type_error(AUTH, 3, "a string", password)
    if settings.host is None:
        raise ScriptError(f"{AUTH}() needs a server with a host")
    return probe(AUTH, settings, _auth_steps(username, password)).result
