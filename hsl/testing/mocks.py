"""The mocks of `hsl test` (docs/testing.md, "Mocks"): what a test file's and a case's
`mocks:` declare, checked with file:line:col of the YAML node at fault, and installed
for one case run.

    mocks = mocks_for(file_node, case_node, base_dir)     # MockError when invalid
    program = compile(..., plugins=mocks.plugins)
    with mocks.installed():
        ...run the case...
    mocks.http_requests                                   # what the case asked for

A node is a `Located` (the `mocks:` value, the file's hsl.inputs.Positions and the
value's path in the file), a plain mapping (no positions) or None.  The case's mocks
replace the file's kind by kind (a case's `http:` replaces the file's `http:`, its
`dns:` stays).  Kinds (KINDS):

* `dns:` a DNS table (hsl/builtins/dnslookup.py check_table), answered by
  hsl.net.dns.MockBackend;
* `http:` requests to answers (HTTP_KEYS): a URL, a glob (`*` any run of characters)
  or `{regex: ...}`, to a status, headers and a body (or body_file), a delay, or an
  error (HTTP_ERRORS); answered through hsl.net.offline.http for every http() request;
* `smtp:` a list of canned SMTP replies (SMTP_KEYS) by host, recipient or user name,
  at a state (SMTP_STATES), or a connection error: an in-memory SMTP server
  (`SmtpStandIn`) for smtp_lookup_rcpt, smtp_lookup_auth and send();
* `time:` `{frozen: T}` or `{start: T, step: S}`: hsl.runtime.sources.now();
* `random:` `{seed: N}`: hsl.runtime.sources' random generator;
* `memory:` keys written to the memory store before the run (not taken back after: the
  store is the case's state, which the runner resets between independent cases);
* `plugins:` the plugin file format of hsl/plugins.py inline, or a plugins file's path;
* `network: allow|deny` (default deny): with deny, a request no mock answers fails as a
  network error (noted in `network_errors`), and any other connection or DNS query is
  a script error (hsl.net.offline.NetworkDisabled).

`installed()` puts everything in place and takes it back on exit (the previous clock,
random source, DNS backend and network).  Mocks are process-wide, as the clock is, so
script threads (hook runs) see them; one installation at a time (a lock): cases that
run on several threads take turns.
"""
from __future__ import annotations

import base64
import binascii
import calendar
import datetime
import errno
import os
import re
import socket
import ssl
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Optional

from ..mail import source as mail_source
from ..net import dns, offline
from ..net.hosts import ResolveError
from ..runtime import sources, store
from ..runtime.values import from_python, share

HTTP_KEYS = ("url", "method", "status", "headers", "body", "body_file", "delay", "error")
HTTP_ERRORS = ("timeout", "refused", "tls", "dns")
SMTP_KEYS = ("host", "recipient", "username", "at", "code", "enhanced", "reason", "error")
SMTP_ERRORS = ("timeout", "refused", "tls", "dns")
# The states a canned SMTP reply can answer, with the stand-in's own reply.
SMTP_STATES = {
    "connect": (220, None, "mock.hsl.invalid ESMTP hsl test"),
    "ehlo": (250, None, "mock.hsl.invalid"),
    "auth": (235, "2.7.0", "authentication successful"),
    "mail": (250, "2.1.0", "sender ok"),
    "rcpt": (250, "2.1.5", "recipient ok"),
    "data": (354, None, "end data with <CR><LF>.<CR><LF>"),
    "eod": (250, "2.0.0", "queued"),
}
EHLO_EXTENSIONS = ("8BITMIME", "SMTPUTF8", "SIZE 104857600", "AUTH PLAIN LOGIN")

_LOCK = threading.RLock()               # one installation at a time


class MockError(ValueError):
    """A `mocks:` entry that cannot be used; the message starts with FILE:LINE:COL."""


@dataclass
class Located:
    """A `mocks:` value and where it is: `pos` (hsl.inputs.Positions of the test file,
    or None) and `path` (the value's keys and indexes from the top of the file)."""
    value: object
    pos: object = None
    path: tuple = ("mocks",)


# ---------------------------------------------------------------- what a run asked

@dataclass
class HttpRequest:
    """A request http() made (as it would have gone on the wire)."""
    method: str
    url: str
    headers: list               # [(name, value)] as text
    body: Optional[bytes]


@dataclass
class SmtpSession:
    """One connection to the SMTP stand-in: the lines the client sent and the messages
    (DATA) it submitted."""
    host: str
    port: int
    commands: list = field(default_factory=list)
    messages: list = field(default_factory=list)


# ---------------------------------------------------------------- patterns

class Pattern:
    """A text matched exactly, as a glob (`*`: any run of characters) or as a regular
    expression (`{regex: ...}`, the whole text must match)."""

    def __init__(self, shown: str, regex: "re.Pattern"):
        self.shown = shown
        self.regex = regex

    def matches(self, text: str) -> bool:
        return self.regex.fullmatch(text) is not None


class _Reader:
    """Reads one `mocks:` node; errors name its parts' positions."""

    def __init__(self, node, base_dir: str):
        if isinstance(node, Located):
            self.value, self.pos, self.path = node.value, node.pos, tuple(node.path)
        else:
            self.value, self.pos, self.path = node, None, ("mocks",)
        self.base_dir = base_dir

    def at(self, path: tuple, key: bool = False) -> str:
        """FILE:LINE:COL of the part at `path` ("" without positions)."""
        if self.pos is None:
            return ""
        return self.pos.at(self.path + tuple(path), key)

    def fail(self, path: tuple, message: str, key: bool = False):
        where = self.at(path, key)
        label = ": ".join(str(p) for p in path if type(p) is not int)
        raise MockError(f"{where + ': ' if where else ''}mocks: "
                        f"{label + ': ' if label else ''}{message}")

    def mapping(self, value, path: tuple, keys=None) -> dict:
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping")
        for k in value:
            if keys is not None and k not in keys:
                self.fail(path + (k,), f"{k!r} is not a key here (known: "
                          f"{', '.join(keys)})", key=True)
        return value

    def kinds(self) -> dict:
        """{kind: (value, reader)} of this node."""
        if self.value is None:
            return {}
        if not isinstance(self.value, dict):
            self.fail((), "must be a mapping of mock kinds (" + ", ".join(KINDS) + ")")
        for k in self.value:
            if k not in KINDS:
                self.fail((k,), f"{k!r} is not a mock kind (known: {', '.join(KINDS)})",
                          key=True)
        return {k: (v, self) for k, v in self.value.items()}

    def pattern(self, value, path: tuple, ignore_case: bool) -> Pattern:
        flags = re.IGNORECASE if ignore_case else 0
        if isinstance(value, dict):
            self.mapping(value, path, ("regex",))
            text = value.get("regex")
            if not isinstance(text, str):
                self.fail(path + ("regex",), "must be a regular expression (text)")
            try:
                return Pattern(f"/{text}/", re.compile(text, flags))
            except re.error as e:
                self.fail(path + ("regex",), f"not a valid regular expression: {e}")
        if not isinstance(value, str) or not value:
            self.fail(path, "must be a text (exact, or a glob with *) or {regex: ...}")
        glob = ".*".join(re.escape(part) for part in value.split("*"))
        return Pattern(value, re.compile(glob, flags | re.DOTALL))

    def number(self, value, path: tuple, what: str) -> float:
        if type(value) not in (int, float) or value != value:
            self.fail(path, f"must be {what}")
        return float(value)

    def choice(self, value, path: tuple, choices) -> str:
        if value not in choices:
            self.fail(path, f"must be one of {', '.join(choices)}")
        return value


# ---------------------------------------------------------------- the kinds

def _read_dns(value, r: _Reader, path: tuple) -> dict:
    # deferred: the dns builtins only for a dns: table
    from ..builtins.dnslookup import TableError, check_table
    try:
        return check_table(value)
    except TableError as e:         # (its message names the entry)
        where = r.at(path + tuple(e.path))
        raise MockError(f"{where + ': ' if where else ''}mocks: dns: {e}") from None


def _timestamp(value, r: _Reader, path: tuple) -> float:
    """A Unix time from a number, an ISO 8601 text or a YAML timestamp (UTC unless it
    says otherwise)."""
    if type(value) in (int, float):
        return float(value)
    when = value
    if isinstance(value, str):
        try:
            when = datetime.datetime.fromisoformat(value)
        except ValueError:
            r.fail(path, f"{value!r} is not a Unix time or an ISO 8601 date and time")
    if isinstance(when, datetime.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        return when.timestamp()
    if isinstance(when, datetime.date):
        return float(calendar.timegm(when.timetuple()))
    r.fail(path, "must be a Unix time or an ISO 8601 date and time")


def _read_time(value, r: _Reader, path: tuple) -> tuple:
    """(start, step)."""
    spec = r.mapping(value, path, ("frozen", "start", "step"))
    if "frozen" in spec:
        if "start" in spec or "step" in spec:
            r.fail(path, "frozen: or start: (with step:), not both")
        return _timestamp(spec["frozen"], r, path + ("frozen",)), 0.0
    if "start" not in spec:
        r.fail(path, "give frozen: TIME, or start: TIME and step: SECONDS")
    step = r.number(spec.get("step", 1), path + ("step",), "a number of seconds")
    return _timestamp(spec["start"], r, path + ("start",)), step


def _read_random(value, r: _Reader, path: tuple):
    spec = r.mapping(value, path, ("seed",))
    seed = spec.get("seed")
    if type(seed) not in (int, str):
        r.fail(path + ("seed",), "must be a number or a text")
    return seed


def _read_memory(value, r: _Reader, path: tuple) -> dict:
    out = {}
    for key, v in r.mapping(value, path).items():
        if not isinstance(key, str):
            r.fail(path + (key,), "a memory key is a text", key=True)
        if isinstance(v, dict) and "value" in v and set(v) <= {"value", "ttl"}:
            if "ttl" in v:
                r.fail(path + (key, "ttl"), "the memory store keeps a key until it is "
                       "deleted (memory_* have no TTL): give the value only", key=True)
            v = v["value"]          # {value: V}: V, whatever it is
        try:
            out[key.encode("utf-8")] = from_python(v)
        except TypeError:
            r.fail(path + (key,), f"cannot be an HSL value ({type(v).__name__})")
    return out


def _read_plugins(value, r: _Reader, path: tuple):
    # deferred: the plugin machinery only for a plugins: mock
    from ..plugins import Plugins
    plugins = Plugins()
    if isinstance(value, str):
        try:
            plugins.load(os.path.join(r.base_dir, value))
        except ValueError as e:
            r.fail(path, str(e))
        return plugins
    where = r.pos.where if r.pos is not None else "mocks"       # (the test file)
    try:
        plugins.read(value, os.path.join(r.base_dir, os.path.basename(where)),
                     _Within(r, path))
    except ValueError as e:
        raise MockError(str(e)) from None
    return plugins


class _Within:
    """Positions inside the `plugins:` value, for hsl.plugins' reader."""

    def __init__(self, r: _Reader, path: tuple):
        self.r, self.prefix = r, path

    def at(self, path, key: bool = False) -> str:
        return self.r.at(self.prefix + tuple(path), key)

    def find(self, path, key: bool = False):
        if self.r.pos is None:
            return None
        return self.r.pos.find(self.r.path + self.prefix + tuple(path), key)


@dataclass
class HttpRule:
    url: Pattern
    methods: Optional[tuple]        # None: any
    status: int = 200
    headers: list = field(default_factory=list)     # [(name, value)] as bytes
    body: bytes = b""
    delay: float = 0.0
    error: Optional[str] = None


def _read_http(value, r: _Reader, path: tuple) -> list:
    """The rules, in order: a mapping URL -> answer, or a list of answers with url:."""
    if isinstance(value, dict):
        items = [(path + (url,), url, answer) for url, answer in value.items()]
    elif isinstance(value, list):
        items = []
        for i, answer in enumerate(value):
            r.mapping(answer, path + (i,), HTTP_KEYS)
            if "url" not in answer:
                r.fail(path + (i,), "give the url: of the requests it answers")
            items.append((path + (i,), answer["url"], answer))
    else:
        r.fail(path, "must map URLs to answers, or be a list of answers with url:")
    return [_http_rule(here, url, answer, r, isinstance(value, list))
            for here, url, answer in items]


def _http_rule(here: tuple, url, answer, r: _Reader, listed: bool) -> HttpRule:
    if isinstance(answer, str):
        answer = {"body": answer}
    keys = HTTP_KEYS if listed else HTTP_KEYS[1:]
    answer = r.mapping(answer, here, keys)
    pattern = r.pattern(url, here + ("url",) if listed else here, ignore_case=False)
    rule = HttpRule(pattern, None)
    if "method" in answer:
        m = answer["method"]
        names = m if isinstance(m, list) else [m]
        if not names or not all(isinstance(n, str) and n for n in names):
            r.fail(here + ("method",), "must be a method (GET) or a list of them")
        rule.methods = tuple(n.upper() for n in names)
    if "error" in answer:
        rule.error = r.choice(answer["error"], here + ("error",), HTTP_ERRORS)
        for k in ("status", "headers", "body", "body_file"):
            if k in answer:
                r.fail(here + (k,), "an error has no response", key=True)
    if "status" in answer:
        status = answer["status"]
        if type(status) is not int or not 100 <= status <= 599:
            r.fail(here + ("status",), "must be an HTTP status (100-599)")
        rule.status = status
    headers = answer.get("headers")
    if headers is not None:
        if isinstance(headers, dict):
            pairs = list(headers.items())
        elif isinstance(headers, list) and all(isinstance(h, str) and ":" in h
                                               for h in headers):
            pairs = [tuple(part.strip() for part in h.split(":", 1)) for h in headers]
        else:
            r.fail(here + ("headers",), "must map names to values, or list \"Name: value\"")
        for name, v in pairs:
            if not isinstance(name, str) or type(v) not in (str, int, float):
                r.fail(here + ("headers", name), "a header is a name and a text")
            rule.headers.append((name.encode("latin-1", "replace"),
                                 str(v).encode("utf-8")))
    if "body" in answer and "body_file" in answer:
        r.fail(here + ("body_file",), "body: or body_file:, not both", key=True)
    if "body" in answer:
        if not isinstance(answer["body"], str):
            r.fail(here + ("body",), "must be a text (for JSON, quote it or use body_file:)")
        rule.body = answer["body"].encode("utf-8")
    if "body_file" in answer:
        name = answer["body_file"]
        if not isinstance(name, str):
            r.fail(here + ("body_file",), "must be a file name (relative to the test file)")
        try:
            with open(os.path.join(r.base_dir, name), "rb") as f:
                rule.body = f.read()
        except OSError as e:
            r.fail(here + ("body_file",), f"cannot read {name}: {e.strerror}")
    if "delay" in answer:
        rule.delay = r.number(answer["delay"], here + ("delay",), "a number of seconds")
        if rule.delay < 0:
            r.fail(here + ("delay",), "must not be negative")
    return rule


@dataclass
class SmtpRule:
    host: Optional[Pattern]
    recipient: Optional[Pattern]
    username: Optional[Pattern]
    at: str
    code: int = 0
    enhanced: Optional[str] = None
    reason: list = field(default_factory=list)
    error: Optional[str] = None

    def serves(self, host: str) -> bool:
        return self.host is None or self.host.matches(host)


def _read_smtp(value, r: _Reader, path: tuple) -> list:
    if not isinstance(value, list):
        r.fail(path, "must be a list of canned replies (code:, or error:)")
    rules = []
    for i, spec in enumerate(value):
        here = path + (i,)
        spec = r.mapping(spec, here, SMTP_KEYS)
        pattern = {k: r.pattern(spec[k], here + (k,), ignore_case=True)
                   for k in ("host", "recipient", "username") if k in spec}
        default = "auth" if "username" in spec else "rcpt"
        at = r.choice(spec.get("at", default), here + ("at",), tuple(SMTP_STATES))
        rule = SmtpRule(pattern.get("host"), pattern.get("recipient"),
                        pattern.get("username"), at)
        if "recipient" in spec and at != "rcpt":
            r.fail(here + ("recipient",), "a recipient is matched at rcpt", key=True)
        if "username" in spec and at != "auth":
            r.fail(here + ("username",), "a user name is matched at auth", key=True)
        if "error" in spec:
            rule.error = r.choice(spec["error"], here + ("error",), SMTP_ERRORS)
            for k in ("recipient", "username", "at", "code", "enhanced", "reason"):
                if k in spec:
                    r.fail(here + (k,), "an error is the connection's (by host:), with "
                           "no reply", key=True)
        elif "code" not in spec:
            r.fail(here, "give the reply's code: (or an error:)")
        else:
            code = spec["code"]
            if type(code) is not int or not 200 <= code <= 599:
                r.fail(here + ("code",), "must be an SMTP reply code (200-599)")
            rule.code = code
            enhanced = spec.get("enhanced")
            if isinstance(enhanced, list):
                enhanced = ".".join(str(x) for x in enhanced)
            if enhanced is not None and not re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}",
                                                         str(enhanced)):
                r.fail(here + ("enhanced",), "must be an enhanced code such as 5.1.1")
            rule.enhanced = None if enhanced is None else str(enhanced)
            reason = spec.get("reason", "mocked reply")
            lines = reason if isinstance(reason, list) else [reason]
            if not lines or not all(isinstance(x, str) and "\n" not in x for x in lines):
                r.fail(here + ("reason",), "must be a text (one line) or a list of lines")
            rule.reason = lines
        rules.append(rule)
    return rules


# ---------------------------------------------------------------- the SMTP stand-in

def _reply(code: int, enhanced: Optional[str], lines: list) -> bytes:
    lines = lines or [""]
    out = []
    for i, line in enumerate(lines):
        text = f"{enhanced} {line}" if enhanced else line
        out.append(f"{code}{' ' if i == len(lines) - 1 else '-'}{text}".rstrip())
    return ("\r\n".join(out) + "\r\n").encode("utf-8", "surrogateescape")


class SmtpStandIn:
    """An SMTP server in memory, as the client's connection (see hsl.net.offline.smtp):
    it answers each command with a canned reply of its rules, or its own default
    (SMTP_STATES), and notes the session.  It offers no STARTTLS, except when a rule
    says `error: tls`, and then refuses it (454)."""

    def __init__(self, host: str, rules: list, session: SmtpSession):
        self.host = host
        self.rules = rules
        self.session = session
        self.sock = self                    # (what TLS would wrap: never, see above)
        self.tls_fails = any(r.error == "tls" for r in rules)
        self.out = bytearray(self._answer("connect"))
        self.pending = bytearray()
        self.in_data = False                      # between DATA's 354 and the final dot
        self.login: list = []                     # AUTH LOGIN's steps so far

    # -- the socket the client sees ---------------------------------------------------
    def settimeout(self, seconds) -> None:
        pass

    def makefile(self, *args, **kwargs):
        return self

    def readline(self, limit: int = -1) -> bytes:
        end = self.out.find(b"\n")
        end = len(self.out) if end < 0 else end + 1
        line = bytes(self.out[:end])
        del self.out[:end]
        return line                             # b"": the server closed

    def close(self) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.pending += data
        while True:
            if self.in_data:
                end = self.pending.find(b"\r\n.\r\n")     # (the client ends with CRLF)
                if end < 0:
                    return
                message = bytes(self.pending[:end + 2])
                del self.pending[:end + 5]
                self.in_data = False
                self.session.messages.append(re.sub(rb"(?m)^\.\.", b".", message))
                self.out += self._answer("eod")
                continue
            end = self.pending.find(b"\r\n")
            if end < 0:
                return
            line = bytes(self.pending[:end])
            del self.pending[:end + 2]
            self.out += self._command(line)

    # -- the server -------------------------------------------------------------------
    def _answer(self, state: str, recipient: Optional[str] = None,
                username: Optional[str] = None) -> bytes:
        for rule in self.rules:
            if rule.error is not None or rule.at != state:
                continue
            if rule.recipient is not None and not rule.recipient.matches(recipient or ""):
                continue
            if rule.username is not None and not rule.username.matches(username or ""):
                continue
            return _reply(rule.code, rule.enhanced, rule.reason)
        code, enhanced, text = SMTP_STATES[state]
        if state == "ehlo":
            extensions = EHLO_EXTENSIONS + (("STARTTLS",) if self.tls_fails else ())
            return _reply(code, None, [text, *extensions])
        return _reply(code, enhanced, [text])

    def _command(self, line: bytes) -> bytes:
        text = line.decode("utf-8", "surrogateescape")
        self.session.commands.append(text)
        if self.login:
            self.login.append(text)
            if len(self.login) == 2:
                return b"334 UGFzc3dvcmQ6\r\n"
            username = _b64(self.login[1])
            self.login = []
            return self._answer("auth", username=username)
        verb = text.split(" ", 1)[0].upper()
        if verb in ("EHLO", "LHLO", "HELO"):
            return self._answer("ehlo")
        if verb == "STARTTLS":
            return b"454 4.7.0 TLS not available (hsl test)\r\n"
        if verb == "AUTH":
            words = text.split()
            if len(words) >= 2 and words[1].upper() == "LOGIN":
                self.login = [text]
                return b"334 VXNlcm5hbWU6\r\n"
            token = _b64(words[2]) if len(words) >= 3 else ""
            return self._answer("auth", username=token.split("\0")[1] if
                                token.count("\0") >= 2 else token)
        if verb == "MAIL":
            return self._answer("mail")
        if verb == "RCPT":
            m = re.search(r"<([^>]*)>", text)
            return self._answer("rcpt", recipient=m.group(1) if m else "")
        if verb == "DATA":
            reply = self._answer("data")
            self.in_data = reply.startswith(b"354")
            return reply
        if verb in ("RSET", "NOOP"):
            return b"250 2.0.0 ok\r\n"
        if verb == "QUIT":
            return b"221 2.0.0 bye\r\n"
        return b"502 5.5.2 command not recognized\r\n"


def _b64(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


# ---------------------------------------------------------------- the mocks

_ERRORS: dict = {
    "timeout": lambda host: socket.timeout("timed out"),
    "refused": lambda host: ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
    "tls": lambda host: ssl.SSLError(1, "certificate verify failed (hsl test)"),
    "dns": lambda host: ResolveError(f"cannot resolve {host}: NXDOMAIN", "nxdomain"),
}


class Mocks:
    """The mocks of one case (see the module docstring).  Attributes: `dns` (a DNS table
    or None), `http` and `smtp` (rules, in order), `clock` ((start, step) or None),
    `seed` (or None), `memory` ({key: HSL value}), `plugins` (an hsl.plugins.Plugins
    for compiling, or None), `network` (True: allowed).  What the last installation's
    run did: `http_requests` (HttpRequest), `smtp_sessions` (SmtpSession) and
    `network_errors` (the text of each request that failed for want of a mock)."""

    def __init__(self):
        self.dns: Optional[dict] = None
        self.http: list = []
        self.smtp: list = []
        self.clock: Optional[tuple] = None
        self.seed = None
        self.memory: dict = {}
        self.plugins = None
        self.network = False
        self.http_requests: list = []
        self.smtp_sessions: list = []
        self.network_errors: list = []
        self._lock = threading.Lock()

    @contextmanager
    def installed(self):
        """Everything in place for one run; the previous state back on exit."""
        with _LOCK:
            self.http_requests, self.smtp_sessions, self.network_errors = [], [], []
            clock = None
            if self.clock is not None:
                clock = sources.SteppingClock(*self.clock)
            saved_sources = sources.use(clock, self.seed)
            saved_mail = mail_source.release(clock is not None, self.seed is not None)
            backend = None
            if self.dns is not None:
                backend = dns.MockBackend(self.dns)
            elif not self.network:
                backend = offline.Denied()
            saved_dns = dns.configure(backend) if backend is not None else _KEEP
            saved_net = (offline.http, offline.smtp, offline.denied)
            offline.http, offline.smtp = self._http, self._smtp
            offline.denied = None if self.network else offline.DISABLED
            if self.memory:
                with store.MEMORY_LOCK:
                    store.MEMORY.update((k, share(v)) for k, v in self.memory.items())
            try:
                yield self
            finally:
                _drain_background_http()
                offline.http, offline.smtp, offline.denied = saved_net
                if saved_dns is not _KEEP:
                    dns.configure(saved_dns)
                sources.restore(saved_sources)
                mail_source.restore(saved_mail)

    def _unanswered(self, what: str) -> None:
        """A request no mock answers: None to let it go out, else it fails as a
        network error (ConnectionRefusedError with the reason)."""
        if self.network:
            return None
        message = f"{what}: no mock answers it ({offline.DISABLED})"
        with self._lock:
            self.network_errors.append(message)
        raise ConnectionRefusedError(errno.ECONNREFUSED, message)

    def _http(self, method: bytes, url: str, headers: list, body, clock):
        verb = method.decode("latin-1")
        with self._lock:
            self.http_requests.append(HttpRequest(
                verb, url, [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers],
                body))
        # (a URL written without its path, "https://host", is the root "/")
        bare = url[:-1] if url.endswith("/") and url.count("/") == 3 else url
        for rule in self.http:
            if (rule.url.matches(url) or rule.url.matches(bare)) and \
                    (rule.methods is None or verb in rule.methods):
                break
        else:
            return self._unanswered(f"http {verb} {url}")
        if rule.delay:
            _wait(rule.delay, clock)
        if rule.error is not None:
            raise _ERRORS[rule.error](url)
        return rule.status, list(rule.headers), rule.body

    def _smtp(self, host: str, port: int):
        rules = [r for r in self.smtp if r.serves(host)]
        if not rules:
            return self._unanswered(f"smtp {host} port {port}")
        for rule in rules:
            if rule.error is not None and rule.error != "tls":
                raise _ERRORS[rule.error](host)
        session = SmtpSession(host, port)
        with self._lock:
            self.smtp_sessions.append(session)
        return SmtpStandIn(host, rules, session)


_KEEP = object()                        # (the DNS backend was not replaced)
BACKGROUND_WAIT = 10.0                  # seconds the run's background requests may take


def _drain_background_http() -> None:
    """Let the run's background http() requests finish while the mocks still answer
    them (else they would go out after the case, to the real network)."""
    httpclient = sys.modules.get("hsl.builtins.httpclient")     # (loaded: it was used)
    if httpclient is not None:
        httpclient._bg_drain(BACKGROUND_WAIT)


def _wait(seconds: float, clock) -> None:
    """A delay on the request's clock: its timeout fails the request (socket.timeout),
    the run's time limit and cancellation stop the run, as in a real wait."""
    end = time.monotonic() + seconds
    deadline = clock.deadline()
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, clock.slice(deadline)))


_READERS: dict = {
    "dns": ("dns", _read_dns),
    "http": ("http", _read_http),
    "smtp": ("smtp", _read_smtp),
    "time": ("clock", _read_time),
    "random": ("seed", _read_random),
    "memory": ("memory", _read_memory),
    "plugins": ("plugins", _read_plugins),
}
KINDS = (*_READERS, "network")


def mocks_for(file_node, case_node, base_dir: str) -> Mocks:
    """The Mocks of a case: the test file's mocks (`file_node`) with the case's
    (`case_node`) replacing them kind by kind.  `base_dir` is the test file's folder
    (body_file:, plugins files).  See mocks_of."""
    return mocks_of([file_node, case_node], base_dir)


def mocks_of(owners: list, base_dir: str) -> Mocks:
    """The Mocks of `owners` in order (test file, scenario group, case: each later one
    replaces the earlier ones kind by kind).  An owner is a hsl.testing.node.Node of a
    whole mapping (its `mocks:` and `network:` keys are read; errors are
    InvalidTestFile), a Located or a plain mapping of the `mocks:` value itself (errors
    are MockError), or None.  Both errors start with FILE:LINE:COL."""
    try:
        return _mocks_of(owners, base_dir)
    except MockError as e:
        if any(o is not None and hasattr(o, "child") for o in owners):
            from .node import InvalidTestFile   # deferred: (node imports nothing of this)
            raise InvalidTestFile(str(e)) from None
        raise


def _mocks_of(owners: list, base_dir: str) -> Mocks:
    kinds: dict = {}
    network = None
    for owner in owners:
        if owner is not None and hasattr(owner, "child"):       # a test file's Node
            kinds.update(_owner_kinds(owner, base_dir))
            if isinstance(owner.value, dict) and owner.value.get("network") is not None:
                network = owner.child("network")
        else:
            kinds.update(_Reader(owner, base_dir).kinds())
    mocks = Mocks()
    for kind, (value, r) in kinds.items():
        path = (kind,)
        if kind == "network":
            mocks.network = r.choice(value, path, ("allow", "deny")) == "allow"
            continue
        attribute, read = _READERS[kind]
        setattr(mocks, attribute, read(value, r, path))
    if network is not None:                     # the top-level `network:` of a test file
        if network.value not in ("allow", "deny"):
            network.fail("network is allow or deny (the default: a test never touches "
                         f"the network), not {network.value!r}")
        mocks.network = network.value == "allow"
    return mocks


def _owner_kinds(owner, base_dir: str) -> dict:
    """The mock kinds under a test file's (or case's) `mocks:` key."""
    if not isinstance(owner.value, dict) or owner.value.get("mocks") is None:
        return {}
    node = owner.child("mocks")
    if not isinstance(node.value, dict):
        node.fail("mocks is a mapping of mock kinds (" + ", ".join(KINDS) + ")")
    return _Reader(Located(node.value, node.pos, node.path), base_dir).kinds()

