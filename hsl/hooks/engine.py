"""The phase engine: one SMTP hook run, for any phase of hsl/hooks/phases.py.

`compile_hook(phase, source)` compiles a hook script (its phase's functions exist, its
variables are pre-defined, the context arrays read-only); `run_hook(program, session)`
runs it once for the phase it was compiled for, as Halon would, and returns a
HookResult: the decision, its reply (one formatter for every phase, hsl/hooks/reply.py),
what the decision changes for later phases (`facts`: the HELO host, a rewritten sender,
...), and for eod the copies of the message that queue() recorded and Accept() committed.
The same code serves `hsl run --hook PHASE`, the REPL and `hsl serve`.

A HookSession holds the facts of the connection and of the command being checked; its
`variables(phase)` are what that phase's script sees (hooks.md §2):

    connect     $arguments: remoteip, remoteport, remoteptr?, remoteuid?, localip,
                localport, serverid; $connection: id, priority
    helo        $arguments: verb, host, extensions (EHLO); $connection: the common keys
    auth        $arguments: mechanism, username + password (PLAIN, LOGIN) or state +
                response (others); $connection: with helo, tls, never auth
    mailfrom    $arguments: sender, address, params
    rcptto      $arguments: recipient, address, params, transportid; $transaction:
                sender, senderaddress, senderparams, recipients (the earlier ones)
    eod         $arguments: mail (an EODMailMessage); $transaction: ts, sender, ...,
                recipients (all of them)
    disconnect  $arguments: close; $transaction: empty
    proxy       $arguments: command; $transaction: the envelope once MAIL was given

After HELO, `$connection` has `helo` (verb, host), and `auth` once a user is known.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..errors import HSLRuntimeError, HSLSyntaxError, ScriptError
from ..program import compile_program
from ..queue.spool import Copy
from ..runtime import sources as _sources
from ..runtime import values as V
from ..runtime.execution import Terminate
from . import reply as R
from .functions import Decision
from .phases import PHASES

DEFAULT_EXTENSIONS = ["PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES"]
DEFAULT_SENDER = "alice@client.example"          # MAIL FROM when a session gives none
DEFAULT_RECIPIENT = "bob@example.net"             # RCPT TO when a session gives none


# -------------------------------------------------------------------- session

@dataclass
class HookSession:
    """One simulated connection and the command (or event) a hook runs for."""
    verb: str = "EHLO"
    host: str = "client.example"
    remoteip: str = "192.0.2.10"
    remoteport: int = 41666
    remoteptr: Optional[str] = None
    remoteuid: Optional[int] = None
    localip: str = "192.0.2.1"
    localport: int = 25
    serverid: str = "inbound"
    server_hostname: str = "mx.hsl.invalid"
    connection_id: str = field(default_factory=lambda: str(_sources.uuid4()))
    transaction_id: str = field(default_factory=lambda: str(_sources.uuid4()))
    priority: int = 0
    extensions: Optional[list] = None      # None: the default EHLO extensions
    tls: Optional[dict] = None             # protocol, cipher, keysize, sni, peercert
    # The client's authentication: mechanism, username (and password, state, response:
    # the AUTH command's, for the auth hook).  Later hooks see mechanism and username.
    auth: Optional[dict] = None
    context: object = None                 # HSL value (or Python value) of $context
    mail_from: Optional[str] = None        # "ADDR [PARAM=VALUE...]"; None: no MAIL yet
    rcpt_to: list = field(default_factory=list)     # the same, one per RCPT; the last is
    #                                                 the one rcptto checks
    transportid: str = "mx"                # the server's default transport
    message: Optional[bytes] = None        # eod: the message; None: a small test message
    ts: Optional[float] = None             # eod: when DATA ended; None: now
    command: str = "NOOP"                  # proxy: the command line
    close: str = "remote"                  # disconnect: who closed ("local", "remote")
    # A whole session's envelope (hsl/hooks/conversation.py), when set, instead of
    # mail_from/rcpt_to: the accepted sender (address, params) and the accepted recipients
    # (address, params, transportid); rcptto checks rcpt_to[-1] on top of them.
    envelope: Optional[tuple] = None
    accepted: Optional[list] = None
    last_reply: Optional[dict] = None      # disconnect: the last reply sent (code, ...)
    error: Optional[dict] = None           # disconnect: why the connection failed
    greeted: bool = True                   # HELO/EHLO was accepted ($connection["helo"])

    def variables(self, phase: str = "helo") -> dict:
        """The pre-defined variables of `phase`'s script."""
        context = self.context
        if not _is_hsl_value(context):
            context = V.from_python(context)
        # A copy-on-write handle: the session's own $context changes only through a run's
        # result, never in place (a run that fails or is preempted leaves it as it was).
        context = V.share(context)
        return {"arguments": _ARGUMENTS[phase](self), "connection": _connection(self, phase),
                "transaction": _transaction(self, phase), "context": context}

    # The envelope, as the server would have recorded it.
    def sender(self) -> tuple:
        if self.envelope is not None:
            return self.envelope
        return parse_path(self.mail_from if self.mail_from is not None else DEFAULT_SENDER)

    def recipients(self) -> list:
        return [parse_path(r) for r in (self.rcpt_to or [DEFAULT_RECIPIENT])]

    def recipient_rows(self, phase: str) -> list:
        """(address, params, transportid) of the recipients $transaction lists: for
        rcptto the ones accepted before the one it checks, for eod all of them."""
        if self.accepted is not None:
            return list(self.accepted)
        rows = [(a, p, self.transportid) for a, p in self.recipients()]
        return rows[:-1] if phase == "rcptto" else rows

    def message_bytes(self) -> bytes:
        if self.message is not None:
            return self.message
        to = ", ".join(f"<{r[0]}>" for r in self.recipients())
        return (f"From: <{self.sender()[0]}>\r\nTo: {to}\r\nSubject: hsl test message\r\n"
                "\r\nThis is a test message.\r\n").encode()


def parse_path(text: str) -> tuple:
    """("address", params) of a MAIL FROM/RCPT TO argument: `<ADDR> [PARAM=VALUE...]`
    (the brackets are optional), the address in lowercase, parameter names in uppercase."""
    words = str(text).split()
    address = words[0] if words else ""
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1]
    params = {}
    for word in words[1:]:
        name, _, value = word.partition("=")
        params[name.upper()] = value
    return address.lower(), params


# The context arrays are built from dicts whose keys are already normal (constant names,
# never numeric): HArray.from_dict_normalized skips the per-key normalisation of set().
_array = V.HArray.from_dict_normalized


def _address(address: str) -> V.HArray:
    local, at, domain = address.rpartition("@")
    if not at:
        local, domain = address, ""
    return _array({b"localpart": local.encode("utf-8", "surrogateescape"),
                   b"domain": domain.encode("utf-8", "surrogateescape")})


def _params(params: dict) -> V.HArray:
    """MAIL/RCPT parameters (names may be numeric: normalised)."""
    return _array({V.normalize_key(k.encode("utf-8", "surrogateescape")):
                   v.encode("utf-8", "surrogateescape") for k, v in params.items()})


def _envelope(session: HookSession, trans: V.HArray, recipients: list) -> None:
    sender, params = session.sender()
    trans.set(b"sender", sender.encode())
    trans.set(b"senderaddress", _address(sender))
    trans.set(b"senderparams", _params(params))
    trans.set(b"recipients", V.HArray.from_list(
        [_recipient(address, rparams, transportid)
         for address, rparams, transportid in recipients]))


def _recipient(address: str, params: dict, transportid: str) -> V.HArray:
    return _array({b"recipient": address.encode(), b"address": _address(address),
                   b"params": _params(params), b"transportid": transportid.encode()})


def _endpoints(d: dict, s: HookSession) -> dict:
    """The connection's addresses, as connect's $arguments and later $connection have
    them (remoteip, remoteport, remoteptr, remoteuid, localip, localport, serverid)."""
    d[b"remoteip"] = s.remoteip.encode()
    d[b"remoteport"] = float(s.remoteport)
    if s.remoteptr is not None:
        d[b"remoteptr"] = s.remoteptr.encode()
    if s.remoteuid is not None:
        d[b"remoteuid"] = float(s.remoteuid)
    d[b"localip"] = s.localip.encode()
    d[b"localport"] = float(s.localport)
    d[b"serverid"] = s.serverid.encode()
    return d


def _args_connect(s: HookSession) -> V.HArray:
    return _array(_endpoints({}, s))


def _args_helo(s: HookSession) -> V.HArray:
    verb = s.verb.upper()
    args = {b"verb": verb.encode(), b"host": s.host.encode("utf-8", "surrogateescape")}
    if verb == "EHLO":
        exts = s.extensions if s.extensions is not None else DEFAULT_EXTENSIONS
        args[b"extensions"] = V.HArray.from_list(
            [e.encode("utf-8", "surrogateescape") if isinstance(e, str) else e for e in exts])
    return _array(args)


def _args_auth(s: HookSession) -> V.HArray:
    auth = s.auth or {}
    mechanism = str(auth.get("mechanism", "PLAIN")).upper()
    args = {b"mechanism": mechanism.encode()}
    if mechanism in ("PLAIN", "LOGIN"):     # the server decodes these two
        args[b"username"] = str(auth.get("username") or "").encode()
        args[b"password"] = str(auth.get("password") or "").encode()
    else:
        args[b"state"] = float(auth.get("state") or 0)
        response = auth.get("response")
        args[b"response"] = None if response is None else str(response).encode()
    return _array(args)


def _args_mailfrom(s: HookSession) -> V.HArray:
    sender, params = s.sender()
    return _array({b"sender": sender.encode(), b"address": _address(sender),
                   b"params": _params(params)})


def _args_rcptto(s: HookSession) -> V.HArray:
    address, params = s.recipients()[-1]
    return _recipient(address, params, s.transportid)


def _args_eod(s: HookSession) -> V.HArray:
    # deferred: the mail classes only for the eod hook
    from ..builtins.mime import EODMailMessageObject
    return _array({b"mail": EODMailMessageObject._new(s.message_bytes())})


def _args_disconnect(s: HookSession) -> V.HArray:
    args = {"close": s.close}
    if s.last_reply is not None:        # code, enhanced, reason (lines), state
        args["reply"] = s.last_reply
    if s.error is not None:             # reason, type (socket, tls), code
        args["error"] = s.error
    return V.from_python(args)


def _args_proxy(s: HookSession) -> V.HArray:
    return _array({b"command": s.command.encode("utf-8", "surrogateescape")})


_ARGUMENTS = {"connect": _args_connect, "helo": _args_helo, "auth": _args_auth,
              "mailfrom": _args_mailfrom, "rcptto": _args_rcptto, "eod": _args_eod,
              "disconnect": _args_disconnect, "proxy": _args_proxy}


def _connection(s: HookSession, phase: str) -> V.HArray:
    conn = {b"id": s.connection_id.encode(), b"priority": float(s.priority)}
    if phase == "connect":
        return _array(conn)
    _endpoints(conn, s)
    if phase != "helo" and s.greeted:   # (HELO is the command that sets it)
        conn[b"helo"] = _array({b"verb": s.verb.upper().encode(),
                                b"host": s.host.encode("utf-8", "surrogateescape")})
    if s.tls is not None:
        conn[b"tls"] = _tls_array(s.tls)
    if s.auth is not None and phase != "auth":
        auth = {b"mechanism": str(s.auth.get("mechanism", "PLAIN")).upper().encode()}
        if s.auth.get("username") is not None:
            auth[b"username"] = str(s.auth["username"]).encode()
        conn[b"auth"] = _array(auth)
    return _array(conn)


def _transaction(s: HookSession, phase: str) -> V.HArray:
    trans = V.HArray()
    if phase == "disconnect":
        return trans
    trans.set(b"id", s.transaction_id.encode())
    if phase == "eod":
        trans.set(b"ts", float(s.ts if s.ts is not None else _sources.now()))
    if phase in ("eod", "rcptto"):
        _envelope(s, trans, s.recipient_rows(phase))
    elif phase == "proxy" and (s.mail_from is not None or s.envelope is not None):
        _envelope(s, trans, s.accepted if s.accepted is not None else
                  [(*parse_path(r), s.transportid) for r in s.rcpt_to])
    return trans


def _is_hsl_value(v) -> bool:
    return v is None or type(v) in (bool, float, bytes, V.HArray) or isinstance(v, V.HObject)


def _tls_array(tls: dict) -> V.HArray:
    out = V.HArray()
    out.set(b"protocol", str(tls.get("protocol", "TLSv1.3")).encode())
    out.set(b"cipher", str(tls.get("cipher", "TLS_AES_256_GCM_SHA384")).encode())
    out.set(b"keysize", float(tls.get("keysize", 256)))
    if tls.get("sni") is not None:
        out.set(b"sni", str(tls["sni"]).encode())
    peer = tls.get("peercert")
    if peer is not None:
        # peercert: {"x509": resource, "chain": [resources], "error": number}
        arr = V.HArray()
        arr.set(b"x509", peer["x509"])
        arr.set(b"chain", V.HArray.from_list(list(peer.get("chain", []))))
        arr.set(b"error", float(peer.get("error", 0)))
        out.set(b"peercert", arr)
    return out


# ------------------------------------------------------------------ queue()

class QueueCollector:
    """The eod hook's queue(): records each copy (a spool.Copy: the bytes as toString()
    gave them then, and the envelope); the engine keeps them only on Accept(), and
    spool.write_copies() stores them."""

    def __init__(self, transaction_id: str, ts: Optional[float] = None):
        self.transaction_id = transaction_id
        self.ts = ts
        self.copies: list = []

    def __call__(self, data: bytes, sender, recipient, transportid, options) -> V.HArray:
        fname = "queue"
        number = len(self.copies)
        self.copies.append(Copy(data, self.transaction_id,
                                _queue_address(fname, 1, sender),
                                _queue_address(fname, 2, recipient),
                                _text(fname, 3, transportid), number,
                                received=self.ts, **_queue_options(fname, options)))
        return V.from_python({"transaction": self.transaction_id, "queue": number})


def _text(fname: str, pos: int, v) -> str:
    if type(v) is not bytes:
        raise ScriptError(f"{fname}() argument {pos} must be a string, got "
                          f"{V.type_name(v)} (type error)")
    return v.decode("utf-8", "surrogateescape")


def _queue_address(fname: str, pos: int, v) -> str:
    if type(v) is V.HArray:
        local, domain = v.get(b"localpart"), v.get(b"domain")
        if type(local) is bytes and type(domain) is bytes:
            v = local + b"@" + domain if domain else local
    if type(v) is not bytes:
        raise ScriptError(f"{fname}() argument {pos} must be a string or an array with "
                          "localpart and domain (type error)")
    return v.decode("utf-8", "surrogateescape")


def _queue_options(fname: str, options) -> dict:
    """The options of queue() (hooks.md §2): metadata, hold, jobid, quotas, delay; and
    tenantid (builtins.md's $message of the queue hooks has it: kept in the envelope)."""
    out: dict = {}
    if options is None:
        return out
    get = options.get
    if get(b"metadata") is not None:
        meta = get(b"metadata")
        if type(meta) is not V.HArray or not all(
                type(k) is bytes and type(v) is bytes for k, v in meta.items()):
            raise ScriptError(f"{fname}() option metadata must map strings to strings "
                              "(type error)")
        out["metadata"] = {k.decode("utf-8", "surrogateescape"):
                           v.decode("utf-8", "surrogateescape") for k, v in meta.items()}
    if get(b"hold") is not None:
        if type(get(b"hold")) is not bool:
            raise ScriptError(f"{fname}() option hold must be a boolean (type error)")
        out["hold"] = get(b"hold")
    if get(b"jobid") is not None:
        out["jobid"] = _text(fname, 4, get(b"jobid"))
    if get(b"tenantid") is not None:
        out["extra"] = {"tenantid": _text(fname, 4, get(b"tenantid"))}
    if get(b"delay") is not None:
        delay = get(b"delay")
        if type(delay) is not float or not delay >= 0:
            raise ScriptError(f"{fname}() option delay must be a number of seconds, "
                              "0 or more")
        out["delay"] = delay
    if get(b"quotas") is not None:
        quotas = get(b"quotas")
        if type(quotas) is not V.HArray or not all(type(q) is bytes for q in quotas.values()):
            raise ScriptError(f"{fname}() option quotas must be an array of strings "
                              "(type error)")
        out["quotas"] = tuple(q.decode("utf-8", "surrogateescape") for q in quotas.values())
    return out


def copy_summary(copy: Copy) -> dict:
    """What `hsl run --hook eod` reports of a committed copy: its envelope, the options
    queue() was given, and its size."""
    options = {"metadata": copy.metadata, "hold": copy.hold, "jobid": copy.jobid,
               "tenantid": copy.extra.get("tenantid"), "delay": copy.delay,
               "quotas": list(copy.quotas)}
    options = {k: v for k, v in options.items() if v not in ({}, False, None, 0, [])}
    return {"transaction": copy.transaction, "queue": copy.queue, "sender": copy.sender,
            "recipient": copy.recipient, "transportid": copy.transportid,
            "options": options, "size": len(copy.message)}


def copy_line(copy: Copy) -> str:
    """A committed copy on one line, as `hsl run` shows it."""
    c = copy_summary(copy)
    line = (f"queued {c['transaction']}:{c['queue']}: {c['sender'] or '<>'} -> "
            f"{c['recipient']} via {c['transportid']} ({c['size']} bytes)")
    if c["options"]:
        line += " " + ", ".join(f"{k}={_shown(v)}" for k, v in c["options"].items())
    return line


# --------------------------------------------------------------------- result

# The facts of a phase that later phases see, shown by `hsl run` after an accepted (or
# passed) decision.
_SHOWN = {"connect": ("remoteip", "remoteptr"), "auth": ("username",),
          "mailfrom": ("sender",), "rcptto": ("recipient", "transportid"),
          "proxy": ("command",)}


@dataclass
class HookResult:
    decision: str                   # the deciding function's name in lowercase
    code: Optional[int]             # None: no reply (Pass)
    enhanced: Optional[list]
    reply: list                     # reply text lines (str), without codes
    disconnect: bool
    context: object                 # final $context (HSL value)
    output: list = field(default_factory=list)     # echo lines (str)
    error: Optional[str] = None     # "file:line:col: message" for a script error
    where: Optional[tuple] = None   # location of the deciding call
    trace: list = field(default_factory=list)
    exception: Optional[HSLRuntimeError] = None     # the script error, for its diagnostic
    phase: str = "helo"
    # What the decision means for later phases, by name (helo: host, extensions;
    # mailfrom: sender; ...); also readable as attributes (`result.host`).
    facts: dict = field(default_factory=dict)
    queued: list = field(default_factory=list)      # eod: the committed spool.Copy list

    def __getattr__(self, name):
        facts = self.__dict__.get("facts")
        if facts is not None and name in facts:
            return facts[name]
        raise AttributeError(name)

    def wire_lines(self) -> list[bytes]:
        """The reply as it goes on the wire: `CODE-text` continuation lines, `CODE text` last."""
        return R.wire_lines(self.code, self.enhanced, self.reply)

    def human(self) -> str:
        return "\n".join(self.human_lines())

    def human_lines(self) -> list:
        """The decision on one line, then what it leaves for later phases (an accepted
        sender, the queued copies, ...), one line each."""
        if self.code is None:
            text = self.decision
        else:
            first = self.reply[0] if self.reply else ""
            text = f'{self.decision} {self.code} "{first}"'
            if self.enhanced:
                text = f'{self.decision} {self.code} {R.enhanced_text(self.enhanced)} "{first}"'
            if len(self.reply) > 1:
                text += f" (+{len(self.reply) - 1} more line{'s' if len(self.reply) > 2 else ''})"
        if self.disconnect:
            text += " and disconnect"
        lines = [text]
        if self.decision in ("accept", "pass") and self.error is None:
            for name in _SHOWN.get(self.phase, ()):
                if self.facts.get(name) is not None:
                    lines.append(f"{name}: {self.facts[name]}")
        lines += [copy_line(copy) for copy in self.queued]
        return lines

    def to_json(self) -> dict:
        out = {"decision": self.decision, "code": self.code, "enhanced": self.enhanced,
               "reply": self.reply, "disconnect": self.disconnect}
        out.update(self.facts)
        if self.phase == "eod":
            out["queued"] = [copy_summary(c) for c in self.queued]
        out.update({"context": V.to_python(self.context), "output": self.output,
                    "error": self.error})
        return out


def _shown(value) -> str:
    import json
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _text_of(b: Optional[bytes]) -> Optional[str]:
    return None if b is None else b.decode("utf-8", "surrogateescape")


def _facts(phase: str, decision: Decision, session: HookSession,
           extensions: Optional[list] = None) -> dict:
    """What the decision leaves for later phases (the Accept options that rewrite);
    `extensions`: the EHLO extension lines an accepted EHLO announces."""
    opts = decision.options
    if phase == "helo":
        host = opts.get("host")
        host = session.host if host is None else host.decode("utf-8", "surrogateescape")
        return {"host": host, "extensions": [e.decode("utf-8", "surrogateescape")
                                             for e in extensions or ()]}
    if phase == "connect":
        return {"remoteip": _text_of(opts.get("remoteip")) or session.remoteip,
                "remoteptr": _text_of(opts.get("remoteptr")) or session.remoteptr}
    if phase == "auth":
        auth = session.auth or {}
        return {"username": _text_of(opts.get("username")) or auth.get("username")}
    if phase == "mailfrom":
        sender = opts.get("sender")
        return {"sender": _text_of(sender) if sender is not None else session.sender()[0]}
    if phase == "rcptto":
        recipient = opts.get("recipient")
        return {"recipient": _text_of(recipient) if recipient is not None
                else session.recipients()[-1][0],
                "transportid": _text_of(opts.get("transportid")) or session.transportid}
    if phase == "proxy":
        return {"command": _text_of(opts.get("command")) or session.command,
                "next": bool(opts.get("next", False))}
    return {}


def _helo_extensions(decision: Decision, session: HookSession) -> list:
    exts = decision.options.get("extensions")
    if exts is None:
        exts = [e.encode() if isinstance(e, str) else e
                for e in (session.extensions if session.extensions is not None
                          else DEFAULT_EXTENSIONS)]
    return list(exts)


# phase -> decision -> the hook function that makes it
_FUNCTIONS = {name: {f.decision: f for f in p.functions.values()} for name, p in PHASES.items()}


def build_result(decision: Decision, session: HookSession, context, output: list,
                 error: Optional[str] = None, phase: str = "helo",
                 queued: Optional[list] = None) -> HookResult:
    """The result of `decision` in `phase`: its reply from the phase's defaults and the
    script's reason and reply_codes."""
    p = PHASES[phase]
    spec = _FUNCTIONS[phase][decision.action]
    code, text = spec.code, spec.text
    if error is not None and p.error_reply is not None:
        code, text = p.error_reply
    code = decision.code or code
    if code is None:
        lines = []
    elif decision.reason is not None:
        lines = list(decision.reason)
    else:
        lines = [text.replace("{hostname}", session.server_hostname).encode()]
    extensions = None
    if phase == "helo" and decision.action == "accept" and session.verb.upper() == "EHLO":
        extensions = _helo_extensions(decision, session)
        lines += extensions
    if phase == "auth" and decision.action == "reply":
        # A challenge goes out base64-encoded, on one line.
        lines = [base64.b64encode(b"\n".join(lines))]
    enhanced = None
    if spec.enhanced_ok:
        enhanced = decision.enhanced or (list(spec.enhanced) if spec.enhanced else None)
    return HookResult(decision.action, code, enhanced, R.reply_texts(lines, enhanced),
                      decision.disconnect or spec.disconnect, context, output, error,
                      decision.where, phase=phase,
                      facts=_facts(phase, decision, session, extensions),
                      queued=queued if queued is not None else [])


def failure_result(phase: str, session: HookSession, code: int, enhanced: list, text: str,
                   error: str) -> HookResult:
    """A reply that is not the script's (a server's own answer to a script failure)."""
    decision = Decision(PHASES[phase].on_error.lower())
    return HookResult(decision.action, code, list(enhanced),
                      R.reply_texts([text.encode()], enhanced), False, session.context, [],
                      error, phase=phase, facts=_facts(phase, decision, session))


# What a server answers when a hook fails (a runtime error, the step budget, the per-run
# deadline): a temporary failure, distinct from a deliberate Defer() (450) so that it
# stands out in client logs.  The greeting has no enhanced code and no 451 (RFC 5321
# 4.3.2): 421 there.  hsl serve and hsl run --session answer it alike (the conversation
# applies it); `hsl run --hook` shows the phase's own error action instead.
ERROR_CODE = 451
ERROR_ENHANCED = [4, 3, 0]
ERROR_TEXT = "Temporary local problem, try again later"


def script_error_result(phase: str, session: HookSession, error: str,
                        failed: Optional[HookResult] = None) -> HookResult:
    """The server's reply to a hook that failed with `error`.  `failed`: the run's own
    result, given that reply in place (its echo output, trace and error stay)."""
    if phase == "connect":
        result = failure_result(phase, session, 421, [], ERROR_TEXT, error)
    else:
        result = failure_result(phase, session, ERROR_CODE, ERROR_ENHANCED, ERROR_TEXT, error)
    if failed is None:
        return result
    failed.decision, failed.code, failed.enhanced = result.decision, result.code, result.enhanced
    failed.reply, failed.disconnect = result.reply, result.disconnect
    return failed


# ------------------------------------------------------------------------ run

def compile_hook(phase: str, source: str, filename: str = "<string>", **options):
    """Compile a hook script of `phase`: its hook functions exist, its variables are
    pre-defined and the context arrays read-only."""
    p = PHASES[phase]
    return compile_program(source, filename, context=phase, readonly=p.readonly,
                           predefined=set(p.variables), **options)


def run_hook(program, session: HookSession, *, max_steps: Optional[int] = 10_000_000,
             max_time: Optional[float] = 10.0, trace: bool = False,
             echo: Optional[Callable[[str], None]] = None,
             speculative: bool = False, time_limit: Optional[float] = None,
             max_memory: Optional[int] = None, max_depth: int = 1000,
             phase: Optional[str] = None) -> HookResult:
    """Run a program compiled with `compile_hook()` once, in its phase (or `phase`).  Never raises for
    script errors: they take the phase's error action with `error` set.  The limits are
    Program.run's.  With `speculative=True` the run may instead raise
    execution.Preempted (see Program.run): `max_time` is then its slice and `time_limit`
    the script's own limit."""
    phase = phase or program.context
    p = PHASES[phase]
    output: list = []

    def out(line: str) -> None:
        output.append(line)
        if echo is not None:
            echo(line)

    variables = session.variables(phase)
    context = V.share(variables["context"])     # as it was before the run
    collector = None
    if phase == "eod":
        collector = QueueCollector(session.transaction_id,
                                   variables["transaction"].get(b"ts"))
    try:
        result = program.run(variables=variables, output=out, max_steps=max_steps,
                             max_time=max_time, keep_globals=True, trace=trace,
                             speculative=speculative, time_limit=time_limit,
                             max_memory=max_memory, max_depth=max_depth,
                             queue_message=collector)
        final = result.globals or {}
        decision = Decision(p.on_end.lower())       # the implicit end
        trace_log = result.trace
    except Terminate as t:
        decision = t.decision
        final = t.globals or {}
        trace_log = t.trace
    except HSLRuntimeError as e:
        res = build_result(Decision(p.on_error.lower()), session, context, output,
                           error=f"{e.filename}:{e.line}:{e.column}: {e.message}",
                           phase=phase)
        res.where = (e.filename, e.line, e.column)
        res.exception = e
        res.trace = getattr(e, "trace", []) or []
        return res
    # Only Accept() queues what queue() recorded.
    queued = collector.copies if collector is not None and decision.action == "accept" \
        else []
    res = build_result(decision, session, final.get("context", context), output,
                       phase=phase, queued=queued)
    res.trace = trace_log or []
    return res


def syntax_error_result(err: HSLSyntaxError, session: HookSession,
                        phase: str = "helo") -> HookResult:
    """A script that does not compile takes its error action for every command (Halon
    would not load it)."""
    d = err.diagnostics[0]
    return build_result(Decision(PHASES[phase].on_error.lower()), session, session.context,
                        [], error=f"{d.filename}:{d.line}:{d.column}: {d.message}",
                        phase=phase)
