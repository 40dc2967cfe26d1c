"""One SMTP connection through every hook phase: the protocol's rules and the state that
one phase leaves for the next (hooks.md §1), shared by `hsl serve` and
`hsl run --session`, so that a simulated session goes exactly as a served one.

A Conversation knows nothing of sockets or threads.  Each command is a generator method
(`connect()`, `hello(verb, host)`, `auth(arg)`, `mail(arg)`, `rcpt(arg)`, `data()`,
`rset()`, `quit()`, ...) that yields what it needs from its driver and returns the Reply
to send:

    RunHook(phase, program, session)   run the hook: send back its engine.HookResult
    Prompt(lines)                      send these lines, send back the client's next line
                                       (str), or None when the client is gone
    ReadMessage(lines)                 send the 354 lines, send back the message (bytes),
                                       TOO_BIG past maxsize, or None when the client is gone
    Commit(copies)                     store the queued copies (spool.Copy) durably: send
                                       back their ids, or (a str) why they could not be

`drive(step, handle)` runs a step with a synchronous `handle(event)`; hsl serve drives
the same generators with an async one.

The state, per hooks.md §1: one connection id and one `$context` for every phase;
`$connection` gains `helo` once HELO/EHLO is accepted, `tls` after STARTTLS, `auth` after
a successful AUTH; `$transaction` has a fresh id at the start, after RSET, HELO/EHLO and
each DATA, and gets the sender and the recipients as MAIL and RCPT are accepted, with the
rewrites that Accept's options make (sender; recipient and transportid; connect's
remoteip/remoteptr; auth's username).  A phase without a hook takes its implicit action;
eod without a hook queues the message to every recipient and accepts (hooks.md §5).
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..queue.spool import Copy
from ..runtime import sources as _sources
from .engine import (HookResult, HookSession, build_result, parse_path,
                     script_error_result)
from .functions import Decision


# -------------------------------------------------------------------- events

@dataclass
class RunHook:
    phase: str
    program: object
    session: HookSession


@dataclass
class Prompt:
    lines: list                 # wire lines (bytes) to send before reading


@dataclass
class ReadMessage:
    lines: list                 # the 354 reply


@dataclass
class Commit:
    copies: list                # spool.Copy, one transaction's


TOO_BIG = object()              # ReadMessage's answer when the message passed maxsize


@dataclass
class Reply:
    """What a command gets: the reply (wire lines, without CRLF; none for the disconnect
    hook), whether the connection closes after it, and the hook's result when a hook (or
    a phase's implicit action) decided."""
    command: str                # EHLO, MAIL, RCPT, DATA, ... (the disconnect hook: CLOSE)
    lines: list
    disconnect: bool = False
    result: Optional[HookResult] = None
    stored: list = field(default_factory=list)      # DATA: the spool ids of the copies

    @property
    def code(self) -> Optional[int]:
        return int(self.lines[-1][:3]) if self.lines else None


def drive(step, handle: Callable) -> Reply:
    """Run one command's generator to its Reply, answering each event with `handle`."""
    try:
        event = next(step)
        while True:
            event = step.send(handle(event))
    except StopIteration as done:
        return done.value


# ------------------------------------------------------------------- hooks

class HookTable:
    """The hooks of one server: phase -> program (anything the driver can run), and for
    rcptto one program per recipient domain (hooks.md §5) before the server's own."""

    def __init__(self, programs: Optional[dict] = None,
                 rcptto_domains: Optional[dict] = None):
        self.programs = dict(programs or {})
        self.rcptto_domains = {d.lower(): p for d, p in (rcptto_domains or {}).items()}

    def program(self, phase: str, domain: Optional[str] = None):
        if phase == "rcptto" and domain is not None and domain in self.rcptto_domains:
            return self.rcptto_domains[domain]
        return self.programs.get(phase)

    def has(self, phase: str) -> bool:
        return phase in self.programs or (phase == "rcptto" and bool(self.rcptto_domains))


# ------------------------------------------------------------- the protocol

_MAIL = re.compile(r"FROM:\s*(<[^<>]*>|[^\s<>]*)(?:\s+(.*))?$", re.I | re.S)
_RCPT = re.compile(r"TO:\s*(<[^<>]*>|[^\s<>]+)(?:\s+(.*))?$", re.I | re.S)
_PARAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*(=[^\s=]+)?$")
_MECHANISM = re.compile(r"[A-Z0-9_-]{1,20}$")
_ENHANCED = re.compile(r"([245]\.\d{1,3}\.\d{1,3})(?: |$)")
MAX_RECIPIENTS = 1000           # per transaction; beyond: 452 4.5.3 (RFC 5321 4.5.3.1.8)
MAX_AUTH_ROUNDS = 20            # 334 challenges of one AUTH before it fails


def parse_path_argument(arg: Optional[str], verb: str):
    """(address, params) of a `MAIL FROM:<addr> PARAMS` or `RCPT TO:<addr> PARAMS`
    argument, or None when it is not one.  The address in lowercase, "" for `<>`;
    parameter names in uppercase."""
    m = (_MAIL if verb == "MAIL" else _RCPT).match((arg or "").strip())
    if m is None:
        return None
    words = (m.group(2) or "").split()
    if not all(_PARAM.match(w) for w in words):
        return None
    return parse_path(" ".join([m.group(1) or "<>", *words]))


def _line(code: int, enhanced: Optional[str], text: str) -> bytes:
    return f"{code} {enhanced + ' ' if enhanced else ''}{text}".encode()


@dataclass
class Transaction:
    id: str
    sender: Optional[tuple] = None          # (address, params) once MAIL is accepted
    recipients: list = field(default_factory=list)   # (address, params, transportid)


class Conversation:
    """One SMTP connection's protocol and hook state (see the module docstring)."""

    def __init__(self, hooks: HookTable, *, remoteip: str = "192.0.2.10",
                 remoteport: int = 41666, localip: str = "192.0.2.1", localport: int = 25,
                 serverid: str = "inbound", hostname: str = "mx.hsl.invalid",
                 remoteptr: Optional[str] = None, remoteuid: Optional[int] = None,
                 connection_id: Optional[str] = None, priority: int = 0,
                 transportid: str = "mx", maxsize: Optional[int] = 10_240_000,
                 starttls: bool = False, auth_plaintext: bool = False,
                 auth_mechanisms: tuple = ("PLAIN", "LOGIN"),
                 extensions: Optional[list] = None, context=None,
                 banner: Optional[bytes] = None,
                 new_id: Callable[[], str] = lambda: str(_sources.uuid4()),
                 clock: Callable[[], float] = lambda: _sources.now()):
        self.hooks = hooks
        self.new_id = new_id
        self.clock = clock
        self.base = HookSession(
            remoteip=remoteip, remoteport=remoteport, remoteptr=remoteptr,
            remoteuid=remoteuid, localip=localip, localport=localport, serverid=serverid,
            server_hostname=hostname, connection_id=connection_id or new_id(),
            transaction_id="", priority=priority, transportid=transportid,
            context=context)            # (each command's session has the transaction's id)
        self.banner = banner            # the greeting without a connect hook (wire line)
        self.maxsize = maxsize
        self.starttls_offered = starttls
        self.auth_plaintext = auth_plaintext
        self.auth_mechanisms = tuple(m.upper() for m in auth_mechanisms)
        self.fixed_extensions = extensions      # a session file's own list, or None
        self.helo: Optional[tuple] = None       # (verb, host) once HELO/EHLO is accepted
        self.tls: Optional[dict] = None
        self.auth: Optional[dict] = None        # mechanism, username once AUTH succeeded
        self.transaction = Transaction(new_id())
        self._last: Optional[tuple] = None      # (command, wire lines) of the last reply
        self.closed = False
        self.disconnected = False               # the disconnect hook has run

    # ---------------------------------------------------------------- state
    @property
    def context(self):
        return self.base.context

    def _session(self, **command) -> HookSession:
        """The HookSession a phase's script sees now, with the command's own facts."""
        t = self.transaction
        # A shallow copy of the base (dataclasses.replace would run __init__: several
        # times slower, on every command).
        s = object.__new__(HookSession)
        s.__dict__.update(self.base.__dict__)
        s.transaction_id, s.tls, s.auth = t.id, self.tls, self.auth
        s.envelope, s.accepted, s.rcpt_to = t.sender, list(t.recipients), []
        s.extensions = self.extensions()
        if self.helo is not None:
            s.verb, s.host = self.helo
        else:
            s.greeted = False           # no $connection["helo"] before an accepted HELO
        for key, value in command.items():
            setattr(s, key, value)
        return s

    @property
    def last_reply(self) -> Optional[dict]:
        """The last reply sent, as the disconnect hook's $arguments["reply"] has it: code,
        enhanced, reason (its lines' texts), state (the command)."""
        if self._last is None:
            return None
        command, lines = self._last
        texts = [ln[4:].decode("utf-8", "surrogateescape") for ln in lines]
        enhanced = _ENHANCED.match(texts[-1])
        if enhanced:
            texts = [t[len(enhanced.group(0)):] for t in texts]
        return {"code": int(lines[-1][:3]),
                "enhanced": [int(x) for x in enhanced.group(1).split(".")] if enhanced
                else None,
                "reason": texts, "state": command}

    def new_transaction(self) -> None:
        self.transaction = Transaction(self.new_id())

    def extensions(self) -> list:
        """The EHLO extensions this server announces now."""
        if self.fixed_extensions is not None:
            return list(self.fixed_extensions)
        exts = ["PIPELINING"]
        if self.maxsize:
            exts.append(f"SIZE {self.maxsize}")
        exts.append("8BITMIME")
        if self.starttls_offered and self.tls is None:
            exts.append("STARTTLS")
        if self.auth_available():
            exts.append("AUTH " + " ".join(self.auth_mechanisms))
        exts.append("ENHANCEDSTATUSCODES")
        return exts

    def auth_available(self) -> bool:
        return self.hooks.has("auth") and (self.tls is not None or self.auth_plaintext)

    def commands(self) -> list:
        """The commands this server answers now (for HELP)."""
        names = ["HELO", "EHLO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT", "HELP"]
        if self.starttls_offered and self.tls is None:
            names.append("STARTTLS")
        if self.auth_available():
            names.append("AUTH")
        return names

    def _reply(self, command: str, lines: list, disconnect: bool = False,
               result: Optional[HookResult] = None, stored=None) -> Reply:
        if lines:       # the last reply, for the disconnect hook (read in last_reply)
            self._last = (command, lines)
        if disconnect:
            self.closed = True
        return Reply(command, lines, disconnect, result, stored or [])

    def _decide(self, phase: str, session: HookSession, domain: Optional[str] = None):
        """Run `phase`'s hook (a generator step): its result, or the phase's implicit
        action when it has no hook.  The result's $context becomes the connection's."""
        program = self.hooks.program(phase, domain)
        if program is None:
            default = "pass" if phase in ("disconnect", "proxy") else "accept"
            return build_result(Decision(default), session, self.base.context, [],
                                phase=phase)
        result = yield RunHook(phase, program, session)
        if result.error is None:
            self.base.context = result.context
        else:       # a failed hook gets the server's own temporary failure
            result = script_error_result(phase, session, result.error, result)
        return result

    # ------------------------------------------------------------- commands
    def connect(self):
        """The connection is open: the connect hook, then the banner."""
        if self.banner is not None and not self.hooks.has("connect"):
            return self._reply("CONNECT", [self.banner])
        result = yield from self._decide("connect", self._session())
        if result.decision == "accept" and result.error is None:
            self.base.remoteip = result.facts["remoteip"]
            self.base.remoteptr = result.facts["remoteptr"]
        return self._reply("CONNECT", result.wire_lines(),
                           result.disconnect or result.decision != "accept", result)

    def hello(self, verb: str, host: Optional[str]):
        verb = verb.upper()
        if not host:
            return self._reply(verb, [f"501 5.5.4 Syntax: {verb} hostname".encode()])
        # A new HELO/EHLO ends the transaction and what the last one set (RFC 5321 4.1.4).
        self.new_transaction()
        self.helo = None
        session = self._session(verb=verb, host=host)
        result = yield from self._decide("helo", session)
        if result.decision == "accept" and result.error is None:
            self.helo = (verb, result.facts["host"])
        return self._reply(verb, result.wire_lines(), result.disconnect, result)

    def tls_started(self, info: dict) -> None:
        """STARTTLS succeeded: `info` is $connection["tls"]; the client starts over
        (RFC 3207 4.2: forget HELO and the transaction), $context stays."""
        self.tls = dict(info)
        self.helo = None
        self.auth = None
        self.new_transaction()

    def auth_command(self, arg: Optional[str]):
        """AUTH MECHANISM [initial-response]."""
        words = (arg or "").split()
        if not self.hooks.has("auth"):
            return self._reply("AUTH", [b"502 5.5.1 Error: command not recognized"])
        if self.helo is None or self.helo[0] != "EHLO":
            return self._reply("AUTH", [b"503 5.5.1 Error: send EHLO first"])
        if self.auth is not None:
            return self._reply("AUTH", [b"503 5.5.1 Error: already authenticated"])
        if self.transaction.sender is not None:
            return self._reply("AUTH", [b"503 5.5.1 Error: AUTH not allowed during a mail "
                                        b"transaction"])
        if not words or len(words) > 2 or not _MECHANISM.match(words[0].upper()):
            return self._reply("AUTH", [b"501 5.5.4 Syntax: AUTH mechanism [initial-response]"])
        if self.tls is None and not self.auth_plaintext:
            return self._reply("AUTH", [b"538 5.7.11 Encryption required for requested "
                                        b"authentication mechanism"])
        mechanism = words[0].upper()
        initial = words[1] if len(words) > 1 else None
        if mechanism in ("PLAIN", "LOGIN"):
            credentials = yield from self._credentials(mechanism, initial)
            if isinstance(credentials, Reply):
                return credentials
            attempt = {"mechanism": mechanism, "username": credentials[0],
                       "password": credentials[1]}
        else:
            response = None
            if initial is not None:
                response = _b64(initial)
                if response is None:
                    return self._reply("AUTH", [b"501 5.5.2 Error: cannot decode response"])
            attempt = {"mechanism": mechanism, "state": 0, "response": response}
        for _ in range(MAX_AUTH_ROUNDS):
            result = yield from self._decide("auth", self._session(auth=dict(attempt)))
            if result.decision != "reply" or result.error is not None or result.disconnect:
                break
            line = yield Prompt(result.wire_lines())
            if line is None:
                return self._reply("AUTH", [], True, result)
            if line.strip() == "*":
                return self._reply("AUTH", [b"501 5.0.0 Error: authentication aborted"])
            response = _b64(line.strip())
            if response is None:
                return self._reply("AUTH", [b"501 5.5.2 Error: cannot decode response"])
            attempt = {"mechanism": mechanism, "state": attempt.get("state", 0) + 1,
                       "response": response}
        else:
            return self._reply("AUTH", [b"535 5.7.8 Error: too many challenges"])
        if result.decision == "accept" and result.error is None:
            self.auth = {"mechanism": mechanism, "username": result.facts["username"]}
        return self._reply("AUTH", result.wire_lines(), result.disconnect, result)

    def _credentials(self, mechanism: str, initial: Optional[str]):
        """(username, password) of AUTH PLAIN or LOGIN, prompting for what the command
        line did not give; or the Reply that ends the AUTH."""
        def ask(prompt: bytes):
            line = yield Prompt([b"334 " + prompt])
            if line is None:
                return self._reply("AUTH", [], True)
            if line.strip() == "*":
                return self._reply("AUTH", [b"501 5.0.0 Error: authentication aborted"])
            return line.strip()

        def bad():
            return self._reply("AUTH", [b"501 5.5.2 Error: cannot decode response"])

        if mechanism == "PLAIN":
            text = initial
            if text is None or text == "=":
                text = yield from ask(b"")
                if isinstance(text, Reply):
                    return text
            decoded = _b64(text)
            parts = decoded.split("\0") if decoded is not None else []
            if len(parts) != 3:
                return bad()
            return parts[1], parts[2]           # (authzid is not used)
        user = _b64(initial) if initial is not None else None
        if initial is not None and user is None:
            return bad()
        if user is None:
            text = yield from ask(base64.b64encode(b"Username:"))
            if isinstance(text, Reply):
                return text
            user = _b64(text)
            if user is None:
                return bad()
        text = yield from ask(base64.b64encode(b"Password:"))
        if isinstance(text, Reply):
            return text
        password = _b64(text)
        if password is None:
            return bad()
        return user, password

    def mail(self, arg: Optional[str]):
        if self.helo is None:
            return self._reply("MAIL", [b"503 5.5.1 Error: send HELO first"])
        if self.transaction.sender is not None:
            return self._reply("MAIL", [b"503 5.5.1 Error: nested MAIL command"])
        path = parse_path_argument(arg, "MAIL")
        if path is None:
            return self._reply("MAIL", [b"501 5.5.4 Syntax: MAIL FROM:<address>"])
        address, params = path
        size = params.get("SIZE")
        if size is not None:
            if not size.isdigit():
                return self._reply("MAIL", [b"501 5.5.4 Syntax: SIZE=<number>"])
            if self.maxsize and int(size) > self.maxsize:
                return self._reply("MAIL", [b"552 5.3.4 Message size exceeds fixed maximum "
                                            b"message size"])
        session = self._session(envelope=(address, params))
        result = yield from self._decide("mailfrom", session)
        if result.decision == "accept" and result.error is None:
            self.transaction.sender = (result.facts["sender"].lower(), params)
        return self._reply("MAIL", result.wire_lines(), result.disconnect, result)

    def rcpt(self, arg: Optional[str]):
        t = self.transaction
        if t.sender is None:
            return self._reply("RCPT", [b"503 5.5.1 Error: need MAIL command"])
        path = parse_path_argument(arg, "RCPT")
        if path is None:
            return self._reply("RCPT", [b"501 5.5.4 Syntax: RCPT TO:<address>"])
        address, params = path
        if not address:             # RCPT TO:<> names no recipient (RFC 5321 4.1.1.3)
            return self._reply("RCPT", [b"501 5.1.3 Bad recipient address syntax"])
        if len(t.recipients) >= MAX_RECIPIENTS:
            return self._reply("RCPT", [b"452 4.5.3 Error: too many recipients"])
        words = [f"<{address}>"] + [f"{k}={v}" if v else k for k, v in params.items()]
        session = self._session(rcpt_to=[" ".join(words)])
        domain = address.rpartition("@")[2] or None
        result = yield from self._decide("rcptto", session, domain)
        if result.decision == "accept" and result.error is None:
            t.recipients.append((result.facts["recipient"].lower(), params,
                                 result.facts["transportid"]))
        return self._reply("RCPT", result.wire_lines(), result.disconnect, result)

    def data(self):
        t = self.transaction
        if t.sender is None:
            return self._reply("DATA", [b"503 5.5.1 Error: need MAIL command"])
        if not t.recipients:
            return self._reply("DATA", [b"503 5.5.1 Error: need RCPT command"])
        message = yield ReadMessage([b"354 End data with <CR><LF>.<CR><LF>"])
        if message is None:                         # the client went away
            self.new_transaction()
            return self._reply("DATA", [], True)
        if message is TOO_BIG:
            self.new_transaction()
            return self._reply("DATA", [b"552 5.3.4 Error: message too big"])
        session = self._session(message=message, ts=self.clock())
        result = yield from self._decide("eod", session)
        stored: list = []
        if self.hooks.program("eod") is None and result.decision == "accept":
            result.queued = [Copy(message, t.id, t.sender[0], rcpt, transportid,
                                  received=session.ts)
                             for rcpt, _params, transportid in t.recipients]
        lines = result.wire_lines()
        if result.queued:
            answer = yield Commit(result.queued)
            if isinstance(answer, str):             # not stored: the client must retry
                result.queued = []
                lines = [b"451 4.3.0 Error: could not store the message, try again later"]
            else:
                stored = list(answer or ())
        self.new_transaction()
        return self._reply("DATA", lines, result.disconnect, result, stored)

    def rset(self, arg: Optional[str] = None):
        if arg:
            return self._reply("RSET", [b"501 5.5.4 Syntax: RSET"])
        self.new_transaction()
        return self._reply("RSET", [b"250 2.0.0 OK"])
        yield  # (a generator, like every command)

    def noop(self, arg: Optional[str] = None):
        return self._reply("NOOP", [b"250 2.0.0 OK"])
        yield

    def help(self, arg: Optional[str] = None):
        text = "Supported commands: " + " ".join(self.commands())
        return self._reply("HELP", [_line(214, "2.0.0", text)])
        yield

    def quit(self, arg: Optional[str] = None):
        if arg:
            return self._reply("QUIT", [b"501 5.5.4 Syntax: QUIT"])
        return self._reply("QUIT", [b"221 2.0.0 Bye"], True)
        yield

    def disconnect(self, close: str = "remote", error: Optional[dict] = None):
        """The connection is closed: the disconnect hook, once; no reply."""
        self.closed = True
        if self.disconnected:
            return Reply("CLOSE", [], True)
        self.disconnected = True
        session = self._session(close=close, last_reply=self.last_reply, error=error)
        result = yield from self._decide("disconnect", session)
        return Reply("CLOSE", [], True, result)

    def proxy(self, line: str):
        """A command line through the proxy hook: ("pass", the line to run, perhaps
        rewritten by Pass's `command`), or the Reply the command gets instead."""
        result = yield from self._decide("proxy", self._session(command=line))
        if result.decision == "pass":
            return ("pass", result.facts["command"])
        return self._reply(line.split(" ", 1)[0].upper(), result.wire_lines(),
                           result.disconnect, result)


def _b64(text: str) -> Optional[str]:
    """A base64 SASL response as text, or None when it is not base64."""
    if text == "=":
        return ""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True).decode(
            "utf-8", "surrogateescape")
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None

