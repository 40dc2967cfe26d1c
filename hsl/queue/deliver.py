"""One delivery attempt of one queued copy: a real SMTP or LMTP session with the SMTP
client of hsl.net.smtp (the one smtp_lookup_rcpt and send() use), and its outcome as
postdelivery's `$arguments["attempt"]`.

    attempt(message, sender, recipient, options) -> Attempt

`options` are the transport's settings merged with predelivery's `Try()` options, as
plain Python values with the keys of `Try` (builtins.md "predelivery"): `host`, `port`,
`helo`, `sourceip`, `tls` (disabled, optional, optional_verify, require, require_verify,
dane, dane_require, dane_fallback_require, dane_fallback_require_verify), `tls_sni`,
`tls_protocols`, `tls_ciphers`, `tls_verify_host`, `tls_verify_name`, `tls_default_ca`,
`tls_capture_peer_cert`, `saslusername` / `saslpassword`, `protocol` (smtp, lmtp),
`mx_include` / `mx_exclude`, `timeout` (SMTP state -> seconds: BANNER, EHLO, LHLO,
STARTTLS, AUTH, MAIL, RCPT, DATA, EOD, QUIT), `connect_timeout`, `sender` and
`recipient` (overrides: a string, or {"localpart", "domain"} / {"address"}, with
"params").  They are read exactly as smtp_lookup_rcpt reads its server array (the same
checks and messages, hsl.builtins.smtpclient.parse_server); keys that only matter to
other parts of the queue (jobid, chunking, ...) are ignored; `pooling` (true, or
{"enabled", "timeout", "transactions"}: `pool_limits`) keeps the connection in the
caller's `pool` (hsl.net.smtp.Pool).  `sourceip` is an
address, or a list of addresses or {"address", "helo"} (the first is used, its `helo`
replacing `helo`); it must be an address of this machine.  `plugin` is not an SMTP
attempt: see the queue runner.

Without `host` the recipient domain's MX hosts are used (hsl.net.smtp.mx_targets, with
the process's DNS backend: --dns-table and --dns-server answer, hsl.net.dns.configure
sets it).  The session: banner, EHLO (LHLO for lmtp), STARTTLS per `tls`, AUTH, MAIL
FROM (BODY=8BITMIME, SMTPUTF8 and SIZE as send() gives them), RCPT TO, DATA, the message
(CRLF, dot-stuffed), QUIT.  Every wait is bounded by its state's timeout (300 s each
unless given; connect 30 s) and by the attempt's own `deadline` when one is given; no
running script is needed (the queue calls this from worker threads).

The outcome (`Attempt`): `delivered` (the reply to the message was 2xx), `temporary`
(a retry may succeed: see hsl.net.smtp.Outcome.temporary), and `to_hsl()`, exactly
postdelivery's `$arguments["attempt"]`:

* `result` (when a reply decided it): `code`, `enhanced` (when the reply has one),
  `reason` (its lines, without codes), `state` (BANNER, EHLO, HELO, LHLO, STARTTLS, AUTH,
  MAIL, RCPT, DATA, EOD);
* `error` (when not delivered): `temporary`, `message` (the reply's text, lines joined by
  "\\n", or what went wrong; a timeout says in which state), `type` (smtp: a refusing
  reply; network: refused, dropped, timed out; tls; dane; dns; protocol: a reply that is
  not SMTP, AUTH not offered; config: bad options, a `sourceip` this machine does not
  have), and for type dns `dns` (other, nxdomain, nullmx, ipfamily, nodata, excluded);
* `connection` (when an address was tried): `id`, `transactions` (MAIL FROMs sent),
  `localip`, `helo`, `remoteip`, `remotemx` (the MX host's name, or the host given),
  `remotegreet` (the banner's text; UNSPECIFIED: lines joined by "\\n"), `tls`: `started`,
  and after a handshake `protocol`, `cipher`, `keysize`, `peercert` (["x509" =>
  X509Resource]; with `error`, why verification failed), `tlsrpt` (the RFC 8460 result
  type of a TLS failure, as tls-rpt reports it), `tlsa` (["records" => [[usage,
  selector, type, "hex"], ...]] when DANE applied);
* `duration`: seconds the attempt took.

`plugin_attempt(plugin_id, canned)` is `Try(["plugin" => ...])`'s attempt: a canned
outcome (hsl has no delivery plugins), with `plugin` => ["id" => ...] and no connection.

`to_json()` gives the same as plain JSON values (the peer certificate as its SHA-256
fingerprint: `peercert.x509` is {"sha256": hex}), plus `delivered`.
"""
from __future__ import annotations

import ipaddress
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Optional

from ..errors import ScriptError
from ..mail.send import split_reply, wire
from ..net import smtp
from ..net.clock import Clock
from ..runtime.values import HArray, from_python

WHERE = "Try"                   # how option errors name their place


@dataclass
class Attempt:
    delivered: bool
    temporary: bool             # (False when delivered)
    code: Optional[int] = None  # the deciding reply: code, text, state
    reply: str = ""
    state: Optional[str] = None
    error_type: Optional[str] = None
    error_message: Optional[str] = None
    dns: Optional[str] = None
    facts: Optional[smtp.Facts] = None
    connection_id: str = ""
    duration: float = 0.0
    plugin: Optional[str] = None    # the plugin that made it (plugin_attempt)

    @property
    def destination(self) -> Optional[str]:
        """"host[ip]:port" of the last address tried (for logs), None when none was."""
        f = self.facts
        if f is None:
            return None
        ip = f"[{f.remoteip}]" if ":" in f.remoteip else f.remoteip
        return f"{f.remotemx}[{ip}]:{f.port}" if f.remotemx != f.remoteip \
            else f"{ip}:{f.port}"

    def summary(self) -> str:
        """One line: the reply or the error (for logs and the queue state's `last`)."""
        if self.code is not None:
            text = " ".join(self.reply.split("\n"))
            return f"{self.code} {text}".rstrip()
        return f"{self.error_type}: {self.error_message}"

    def _fields(self, peercert) -> dict:
        out: dict = {}
        if self.code is not None:
            enhanced, reason = split_reply(self.reply)
            result: dict = {"code": self.code}
            if enhanced:
                result["enhanced"] = enhanced
            result["reason"] = reason
            result["state"] = self.state
            out["result"] = result
        if not self.delivered:
            error = {"temporary": self.temporary, "message": self.error_message,
                     "type": self.error_type}
            if self.error_type == "dns":
                error["dns"] = self.dns or "other"
            out["error"] = error
        f = self.facts
        if f is not None:
            conn: dict = {"id": self.connection_id, "transactions": f.transactions}
            for key, value in (("localip", f.localip), ("helo", f.helo),
                               ("remoteip", f.remoteip), ("remotemx", f.remotemx),
                               ("remotegreet", f.greet)):
                if value is not None:
                    conn[key] = value
            tls: dict = {"started": f.tls}
            for key, value in (("protocol", f.tls_protocol), ("cipher", f.tls_cipher),
                               ("keysize", f.tls_keysize)):
                if value is not None:
                    tls[key] = value
            cert: dict = {}
            if f.peercert:
                x509 = peercert(f.peercert)
                if x509 is not None:
                    cert["x509"] = x509
            if f.peercert_error:
                cert["error"] = f.peercert_error
            if cert:
                tls["peercert"] = cert
            if f.tlsrpt:
                tls["tlsrpt"] = f.tlsrpt
            if f.tlsa:
                tls["tlsa"] = {"records": [list(r) for r in f.tlsa]}
            conn["tls"] = tls
            out["connection"] = conn
        out["duration"] = self.duration
        if self.plugin is not None:
            out["plugin"] = {"id": self.plugin}
        return out

    def to_hsl(self) -> HArray:
        """postdelivery's `$arguments["attempt"]` (see the module docstring)."""
        return from_python(self._fields(_x509_resource))

    def to_json(self) -> dict:
        """The same as JSON values, with `delivered`; peercert.x509 as {"sha256": hex}."""
        import hashlib
        return {"delivered": self.delivered,
                **self._fields(lambda der: {"sha256": hashlib.sha256(der).hexdigest()})}


def _x509_resource(der: bytes):
    # deferred: cryptography, only for an attempt that saw a certificate
    from ..builtins.x509 import x509_resource_from_der
    try:
        return x509_resource_from_der(der)
    except ValueError:
        return None


# ------------------------------------------------------------------ options

class _ConfigError(Exception):
    pass


def _sourceip(value) -> tuple:
    """(address, helo or None) of `sourceip`: an address, or a list whose first item is
    an address or {"address", "helo"}."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise _ConfigError(f"{WHERE}() option 'sourceip' is an empty list")
        value = value[0]
    helo = None
    if isinstance(value, dict):
        helo = value.get("helo")
        if helo is not None and not isinstance(helo, str):
            raise _ConfigError(f"{WHERE}() option 'sourceip' helo must be a string")
        if "address" not in value:
            raise _ConfigError(f"{WHERE}() option 'sourceip' needs an 'address' (hsl "
                               f"has no source IP ids)")
        value = value["address"]
    if not isinstance(value, str):
        raise _ConfigError(f"{WHERE}() option 'sourceip' must be an IP address")
    try:
        ip = str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        raise _ConfigError(f"{WHERE}() option 'sourceip' is not an IP address: "
                           f"{value!r}") from None
    return ip, helo


def _check_local(ip: str) -> None:
    """A config error unless this machine has the address `ip`."""
    s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((ip, 0))
    except OSError as e:
        raise _ConfigError(f"{WHERE}() option 'sourceip': {ip} is not an address of this "
                           f"machine ({e.strerror or e})") from None
    finally:
        s.close()


def settings(options: Optional[dict]) -> tuple:
    """(Server, sender override Address or None, recipient override or None) from the
    options; _ConfigError saying what is wrong."""
    # deferred: the builtin's readers of HSL settings (smtplib, ssl)
    from ..builtins.smtpclient import parse_address, parse_server
    options = dict(options or {})
    if options.get("plugin") is not None:
        raise _ConfigError(f"{WHERE}() option 'plugin' is not an SMTP delivery")
    source = options.pop("sourceip", None)
    sender = options.pop("sender", None)
    recipient = options.pop("recipient", None)
    try:
        server = parse_server(WHERE, from_python(options))
        sender = None if sender is None else parse_address(WHERE, 1, from_python(sender))
        recipient = None if recipient is None \
            else parse_address(WHERE, 2, from_python(recipient))
    except (ScriptError, TypeError) as e:
        raise _ConfigError(str(e)) from None
    if source is not None:
        server.sourceip, helo = _sourceip(source)
        _check_local(server.sourceip)
        if helo:
            server.helo = helo.encode("utf-8", "surrogateescape")
    return server, sender, recipient


# ------------------------------------------------------------------ the attempt

def attempt(message: bytes, sender: str, recipient: str, options: Optional[dict] = None,
            *, deadline: Optional[float] = None, connection_id: Optional[str] = None,
            pool: Optional[smtp.Pool] = None) -> Attempt:
    """Deliver `message` from `sender` to `recipient` (envelope addresses as the spool has
    them: text, surrogateescape for raw bytes) once, as `options` say; never raises for
    a failed delivery or bad options (see the module docstring).  `deadline`: seconds
    the whole attempt may take at most; `connection_id`: the connection's `id` (default:
    a random one); `pool`: where connections are kept between attempts when `options`
    has `pooling` (a pooled connection keeps its `id`)."""
    start = time.monotonic()
    cid = connection_id or uuid.uuid4().hex
    limits = pool_limits((options or {}).get("pooling"))
    pool = pool if limits is not None else None
    try:
        server, mail_from, rcpt_to = settings(options)
        if mail_from is None:
            mail_from = _address(sender, 1)
        if rcpt_to is None:
            rcpt_to = _address(recipient, 2)
    except _ConfigError as e:
        return Attempt(False, True, error_type="config", error_message=str(e),
                       connection_id=cid, duration=time.monotonic() - start)
    domain = None if server.host is not None else smtp.domain_of(rcpt_to.text)
    payload = wire(message)
    answers: list = []
    try:
        outcome = smtp.probe(WHERE, server, lambda s: smtp.transaction(
            s, mail_from, [rcpt_to], payload, answers), domain, Clock(deadline), pool,
            limits or (None, smtp.POOL_TRANSACTIONS))
    except ScriptError as e:            # the network is off (hsl test), a bad TLS setting
        return Attempt(False, True, error_type="config", error_message=str(e),
                       connection_id=cid, duration=time.monotonic() - start)
    delivered = outcome.result == 1
    return Attempt(delivered, False if delivered else outcome.temporary,
                   code=outcome.code, reply=outcome.message if outcome.code else "",
                   state=outcome.state if outcome.code else None,
                   error_type=None if delivered else outcome.kind,
                   error_message=None if delivered else outcome.message,
                   dns=outcome.dns, facts=outcome.conn,
                   connection_id=connection_id or (outcome.conn.id if outcome.conn else cid),
                   duration=time.monotonic() - start)


def pool_limits(pooling) -> Optional[tuple]:
    """(idle seconds or None, transactions) of Try's `pooling` (true, or ["enabled" =>
    true, "timeout" => ..., "transactions" => ...]); None: no pooling."""
    if pooling is True:
        return None, smtp.POOL_TRANSACTIONS
    if isinstance(pooling, dict) and pooling.get("enabled"):
        return pooling.get("timeout"), pooling.get("transactions", smtp.POOL_TRANSACTIONS)
    return None


def _address(text: str, pos: int) -> smtp.Address:
    # deferred: as in settings()
    from ..builtins.smtpclient import parse_address
    try:
        return parse_address(WHERE, pos, text.encode("utf-8", "surrogateescape"))
    except ScriptError as e:
        raise _ConfigError(f"the queued copy's {'sender' if pos == 1 else 'recipient'} "
                           f"is not valid: {e}") from None


# ------------------------------------------------------------------ plugins

def plugin_attempt(plugin_id: str, canned: Optional[dict], *,
                   connection_id: Optional[str] = None) -> Attempt:
    """`Try(["plugin" => ["id" => plugin_id]])`: hsl has no delivery plugins, so the
    outcome is `canned` (from the --plugins file, read by the caller):
    {"result": {"code", "enhanced"?, "reason"? (a string or a list), "state"?}} (a 2xx
    code delivers, a 4xx or 5xx fails with type smtp) or {"error": {"message",
    "temporary"? (default true)}} (type plugin).  None, or anything else, is a failure
    of type plugin (temporary) that says what is missing.  The attempt array has no
    `connection`, and `plugin` => ["id" => plugin_id]."""
    cid = connection_id or uuid.uuid4().hex
    a = Attempt(False, True, connection_id=cid, plugin=plugin_id)
    try:
        _canned(a, plugin_id, canned)
    except _ConfigError as e:
        a.code = a.state = None
        a.reply = ""
        a.delivered, a.temporary = False, True
        a.error_type, a.error_message = "plugin", str(e)
    return a


def _canned(a: Attempt, plugin_id: str, canned) -> None:
    where = f"the canned outcome of plugin {plugin_id!r}"
    if not isinstance(canned, dict) or not ({"result", "error"} & set(canned)):
        raise _ConfigError(f"{where} is missing (give result: or error:)")
    result, error = canned.get("result"), canned.get("error")
    if result is not None:
        if not isinstance(result, dict) or type(result.get("code")) is not int \
                or not 200 <= result["code"] <= 599:
            raise _ConfigError(f"{where}: result needs a code (200-599)")
        reason = result.get("reason", [])
        reason = [reason] if isinstance(reason, str) else reason
        enhanced = result.get("enhanced")
        if not (isinstance(reason, list) and all(isinstance(r, str) for r in reason)):
            raise _ConfigError(f"{where}: result reason must be a string or a list of "
                               f"strings")
        if enhanced is not None and not (isinstance(enhanced, list) and len(enhanced) == 3
                                         and all(type(n) is int for n in enhanced)):
            raise _ConfigError(f"{where}: result enhanced must be three numbers")
        lines = list(reason) or [""]
        if enhanced:
            lines[0] = ".".join(map(str, enhanced)) + (" " + lines[0] if lines[0] else "")
        a.code, a.reply = result["code"], "\n".join(lines)
        a.state = str(result.get("state", "EOD"))
        a.delivered = 200 <= a.code <= 299
        a.temporary = False if a.delivered else a.code < 500
        if not a.delivered:
            a.error_type, a.error_message = "smtp", a.reply
        return
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        raise _ConfigError(f"{where}: error needs a message")
    temporary = error.get("temporary", True)
    if type(temporary) is not bool:
        raise _ConfigError(f"{where}: error temporary must be true or false")
    a.temporary, a.error_type, a.error_message = temporary, "plugin", error["message"]
