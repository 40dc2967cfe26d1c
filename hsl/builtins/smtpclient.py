"""SMTP probes (builtins.md "DNS and network"): smtp_lookup_rcpt, smtp_lookup_auth.

Both open one SMTP session with the SMTP client of hsl.net.smtp (shared with send() and
the queue's deliveries; it also documents MX lookup and DANE), ask their question and QUIT; neither ever
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
  MX ("0 .") or an unknown domain is -1.  The MX hosts' A then AAAA addresses (with a
  `sourceip`: those of its family) are tried in
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

TLS (`tls`; Python's ssl):

* `disabled` (default): no STARTTLS.
* `optional`: STARTTLS when offered, certificate not checked; a refused STARTTLS goes on
  in plain text, a failed handshake is retried once on a new plain-text connection.
* `optional_verify`: plain text when STARTTLS is not offered; when it is, STARTTLS must
  succeed and the certificate verify, else -1.
* `require` / `require_verify`: STARTTLS must be offered and succeed (and, for
  `require_verify`, the certificate verify), else -1.
* `dane`, `dane_require`, `dane_fallback_require`, `dane_fallback_require_verify`: DANE
  with DNSSEC-validated TLSA records (hsl.net.smtp); without them `dane` behaves as
  `optional`, the fallback modes as `require` / `require_verify`, and `dane_require` is
  -1 ("DANE is required ..."): none pretends to have verified anything.
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

import ipaddress
import math
import re
import socket
from typing import Optional

from ..errors import ScriptError
from ..net.smtp import (DEFAULT_PORT, TLS_MODES, Address, Outcome, Server, Session,
                        domain_of, probe, tls_context)
from ..runtime.values import HArray, to_str, type_name
from ._args import digits_value, type_error
from .registry import builtin

AREA = "network"
RCPT = "smtp_lookup_rcpt"
AUTH = "smtp_lookup_auth"

_UNSUPPORTED = {b"sourceipid": "a source IP id names a Halon configuration entry",
                b"tls_client_cert": "hsl has no certificate store",
                b"xclient": "XCLIENT is not implemented"}
_PARAM_NAME = re.compile(rb"[A-Za-z0-9][A-Za-z0-9-]*\Z")
_BAD_LINE = re.compile(rb"[\r\n\x00]")
_DOT_STRING = re.compile(rb"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\x80-\xff-]+"
                         rb"(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\x80-\xff-]+)*\Z")


# ------------------------------------------------------------------ settings

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
            tls_context(fname, s, False)                    # checked now, used later
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


# ------------------------------------------------------------------ addresses

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


# ------------------------------------------------------------------ outcome

def _value(outcome: Outcome, extended: bool):
    """smtp_lookup_rcpt's result: the number, or the extended_result array."""
    if not extended:
        return outcome.result
    pairs = [(b"result", outcome.result),
             (b"error_code", None if outcome.code is None else float(outcome.code)),
             (b"error_message", outcome.message.encode("utf-8", "surrogateescape")),
             (b"on_rcptto", outcome.on_rcptto),
             (b"tls", outcome.tls),
             (b"state", outcome.state.encode("ascii"))]
    if outcome.peercert is not None:
        # deferred: cryptography, only when a server shows a certificate
        from .x509 import x509_resource_from_der
        try:
            pairs.append((b"peercert", HArray.from_pairs(
                [(b"x509", x509_resource_from_der(outcome.peercert))])))
        except ValueError:
            pass
    return HArray.from_pairs(pairs)


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
    outcome = probe(RCPT, settings, _rcpt_steps(mail_from, rcpt_to),
                    domain_of(rcpt_to.text))
    return _value(outcome, extended)


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
