"""The HELO/EHLO hook: its pre-defined variables, its termination functions
(Accept/Reject/Defer) and the SMTP reply a decision becomes.

`run_helo(program, session)` runs a program compiled with `compile_helo()` once, as the
Halon HELO hook would, and returns a `HeloResult`.  The same code serves `hsl run --hook
helo` and the SMTP server (`hsl serve`).
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..runtime import values as V
from ..builtins import _args
from ..builtins.registry import builtin
from ..errors import HSLRuntimeError, HSLSyntaxError, ScriptError
from ..runtime.execution import Terminate
from ..program import compile_program
from . import SMTP_READONLY

CONTEXT = "helo"
READONLY = SMTP_READONLY
MAX_REPLY_LINE = 512          # octets per reply line, CRLF included (RFC 5321 4.5.3.1.5)
DEFAULT_EXTENSIONS = ["PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES"]


# ------------------------------------------------------------------ decisions

@dataclass
class Decision:
    """What a termination function asked for."""
    action: str                        # "accept", "reject" or "defer"
    reason: Optional[list] = None      # script-given reply lines (bytes), None = default
    code: Optional[int] = None
    enhanced: Optional[list] = None
    disconnect: bool = False
    host: Optional[bytes] = None       # Accept(["host" => ...])
    extensions: Optional[list] = None  # Accept(["extensions" => [...]])
    where: Optional[tuple] = None      # (file, line, column) of the deciding call


def _reason_lines(fname: str, reason) -> list:
    """A reason argument as reply lines: a string (split at LF) or an array of strings."""
    if type(reason) is bytes:
        parts = reason.split(b"\n")
    elif type(reason) is V.HArray:
        parts = []
        for item in reason.values():
            if type(item) is not bytes:
                raise ScriptError(f"{fname}() reason lines must be strings, got "
                                  f"{V.type_name(item)} (type error)")
            parts.extend(item.split(b"\n"))
    else:
        raise _args.type_error(fname, 1, "string or array", reason)
    return parts


def _reply_codes(fname: str, opts, decision: Decision, allowed: tuple) -> None:
    codes = _args.option(opts, b"reply_codes")
    if codes is None:
        return
    if type(codes) is not V.HArray:
        raise ScriptError(f"{fname}() option reply_codes must be an array (type error)")
    code = codes.get(b"code")
    if code is not None:
        if type(code) is not float or not code.is_integer():
            raise ScriptError(f"{fname}() reply_codes code must be a number (type error)")
        if not allowed[0] <= code <= allowed[1]:
            raise ScriptError(f"{fname}() reply code {int(code)} is outside "
                              f"{allowed[0]}-{allowed[1]}")
        decision.code = int(code)
    enhanced = codes.get(b"enhanced")
    if enhanced is not None:
        if type(enhanced) is not V.HArray or len(enhanced) != 3 or \
                not all(type(x) is float and x.is_integer() and x >= 0 for x in enhanced.values()):
            raise ScriptError(f"{fname}() reply_codes enhanced must be [class, subject, "
                              "detail] numbers (type error)")
        values = [int(x) for x in enhanced.values()]
        if values[0] != allowed[0] // 100:
            raise ScriptError(f"{fname}() enhanced code class {values[0]} does not match "
                              f"a {allowed[0] // 100}xx reply")
        decision.enhanced = values


def _refusal(fname: str, action: str, allowed: tuple, reason, options) -> Decision:
    decision = Decision(action)
    if reason is not None:
        decision.reason = _reason_lines(fname, reason)
    opts = _args.opt_array(fname, 2, options)
    decision.disconnect = _args.opt_bool(fname, opts, b"disconnect", False)
    _reply_codes(fname, opts, decision, allowed)
    return decision


@builtin("Accept", area="hook", context=CONTEXT)
def Accept(options=None):
    """Accept the HELO/EHLO command (250)."""
    opts = _args.opt_array("Accept", 1, options)
    decision = Decision("accept")
    reason = _args.option(opts, b"reason")
    if reason is not None:
        decision.reason = _reason_lines("Accept", reason)
    host = _args.option(opts, b"host")
    if host is not None:
        decision.host = _args.string("Accept", 1, host)
    extensions = _args.option(opts, b"extensions")
    if extensions is not None:
        if type(extensions) is not V.HArray or \
                not all(type(x) is bytes for x in extensions.values()):
            raise ScriptError("Accept() option extensions must be an array of strings (type error)")
        decision.extensions = list(extensions.values())
    _reply_codes("Accept", opts, decision, (200, 299))
    raise Terminate(decision)


@builtin("Reject", area="hook", context=CONTEXT)
def Reject(reason=None, options=None):
    """Refuse the command with a permanent error (554)."""
    raise Terminate(_refusal("Reject", "reject", (500, 599), reason, options))


@builtin("Defer", area="hook", context=CONTEXT)
def Defer(reason=None, options=None):
    """Refuse the command with a temporary error (450)."""
    raise Terminate(_refusal("Defer", "defer", (400, 499), reason, options))


# -------------------------------------------------------------------- session

@dataclass
class HeloSession:
    """One simulated HELO/EHLO command and the connection it arrives on."""
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
    connection_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    transaction_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    priority: int = 0
    extensions: Optional[list] = None      # None: the default EHLO extensions
    tls: Optional[dict] = None             # protocol, cipher, keysize, sni, peercert
    auth: Optional[dict] = None            # mechanism, username
    context: object = None                 # HSL value (or Python value) of $context

    def variables(self) -> dict:
        args = V.HArray()
        args.set(b"verb", self.verb.upper().encode())
        args.set(b"host", self.host.encode("utf-8", "surrogateescape"))
        if self.verb.upper() == "EHLO":
            exts = self.extensions if self.extensions is not None else DEFAULT_EXTENSIONS
            args.set(b"extensions", V.from_python(list(exts)))
        conn = V.HArray()
        conn.set(b"id", self.connection_id.encode())
        conn.set(b"priority", float(self.priority))
        conn.set(b"remoteip", self.remoteip.encode())
        conn.set(b"remoteport", float(self.remoteport))
        if self.remoteptr is not None:
            conn.set(b"remoteptr", self.remoteptr.encode())
        if self.remoteuid is not None:
            conn.set(b"remoteuid", float(self.remoteuid))
        conn.set(b"localip", self.localip.encode())
        conn.set(b"localport", float(self.localport))
        conn.set(b"serverid", self.serverid.encode())
        if self.tls is not None:
            conn.set(b"tls", _tls_array(self.tls))
        if self.auth is not None:
            auth = V.HArray()
            auth.set(b"mechanism", str(self.auth.get("mechanism", "PLAIN")).upper().encode())
            if self.auth.get("username") is not None:
                auth.set(b"username", str(self.auth["username"]).encode())
            conn.set(b"auth", auth)
        trans = V.HArray()
        trans.set(b"id", self.transaction_id.encode())
        context = self.context
        if not _is_hsl_value(context):
            context = V.from_python(context)
        # A copy-on-write handle: the session's own $context changes only through a run's
        # result, never in place (a run that fails or is preempted leaves it as it was).
        context = V.share(context)
        return {"arguments": args, "connection": conn, "transaction": trans,
                "context": context}


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


# --------------------------------------------------------------------- result

@dataclass
class HeloResult:
    decision: str                   # accept, reject, defer
    code: int
    enhanced: Optional[list]
    reply: list                     # reply text lines (str), without codes
    disconnect: bool
    host: str                       # the HELO host recorded for the connection
    extensions: list                # EHLO extension lines announced (accept only)
    context: object                 # final $context (HSL value)
    output: list = field(default_factory=list)     # echo lines (str)
    error: Optional[str] = None     # "file:line:col: message" for a script error
    where: Optional[tuple] = None   # location of the deciding call
    trace: list = field(default_factory=list)
    exception: Optional[HSLRuntimeError] = None     # the script error, for its diagnostic

    def wire_lines(self) -> list[bytes]:
        """The reply as it goes on the wire: `CODE-text` continuation lines, `CODE text` last."""
        code = str(self.code).encode()
        enh = b""
        if self.enhanced:
            enh = ".".join(str(x) for x in self.enhanced).encode() + b" "
        texts = [line.encode("utf-8", "surrogateescape") for line in self.reply] or [b""]
        out = []
        for i, text in enumerate(texts):
            sep = b" " if i == len(texts) - 1 else b"-"
            out.append(code + sep + enh + text)
        return out

    def human(self) -> str:
        first = self.reply[0] if self.reply else ""
        text = f'{self.decision} {self.code} "{first}"'
        if self.enhanced:
            text = f'{self.decision} {self.code} {".".join(map(str, self.enhanced))} "{first}"'
        if len(self.reply) > 1:
            text += f" (+{len(self.reply) - 1} more line{'s' if len(self.reply) > 2 else ''})"
        if self.disconnect:
            text += " and disconnect"
        return text

    def to_json(self) -> dict:
        return {"decision": self.decision, "code": self.code, "enhanced": self.enhanced,
                "reply": self.reply, "disconnect": self.disconnect, "host": self.host,
                "extensions": self.extensions, "context": V.to_python(self.context),
                "output": self.output, "error": self.error}


_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


def sanitize_line(text: bytes, prefix_len: int) -> bytes:
    """One reply line's text: control characters (CR, LF, NUL, ...) become spaces so they
    can never start a new reply line, and the line is cut so that the whole line with its
    code prefix and CRLF fits in 512 octets (without splitting a UTF-8 sequence)."""
    text = _CONTROL.sub(b" ", text)
    room = MAX_REPLY_LINE - prefix_len - 2
    if len(text) > room:
        text = text[:room]
        # Do not leave half of a UTF-8 sequence at the end.
        while text and (text[-1] & 0xC0) == 0x80:
            text = text[:-1]
        if text and text[-1] >= 0xC0:
            text = text[:-1]
    return text


def build_result(decision: Decision, session: HeloSession, context, output: list,
                 error: Optional[str] = None) -> HeloResult:
    action = decision.action
    ehlo = session.verb.upper() == "EHLO"
    host = session.host
    extensions: list = []
    if action == "accept":
        code = decision.code or 250
        first = decision.reason or [session.server_hostname.encode()]
        if decision.host is not None:
            host = decision.host.decode("utf-8", "surrogateescape")
        if ehlo:
            exts = decision.extensions
            if exts is None:
                exts = [e.encode() if isinstance(e, str) else e
                        for e in (session.extensions if session.extensions is not None
                                  else DEFAULT_EXTENSIONS)]
            extensions = [e.decode("utf-8", "surrogateescape") for e in exts]
            lines = list(first) + list(exts)
        else:
            lines = list(first)
    elif action == "reject":
        code = decision.code or 554
        lines = decision.reason or [b"Rejected"]
    else:
        code = decision.code or 450
        lines = decision.reason or [b"Deferred"]
    # RFC 2034: an accepted HELO/EHLO carries no enhanced status code (on EHLO it would
    # also turn every extension line into "2.0.0 KEYWORD"); refusals carry one only when
    # the script asks for it.
    enhanced = None if action == "accept" else decision.enhanced
    prefix = 4 + (len(".".join(map(str, enhanced))) + 1 if enhanced else 0)
    reply = [sanitize_line(line, prefix).decode("utf-8", "surrogateescape") for line in lines]
    return HeloResult(action, code, enhanced, reply, decision.disconnect, host,
                      extensions, context, output, error, decision.where)


# ------------------------------------------------------------------------ run

def compile_helo(source: str, filename: str = "<string>", **options):
    """Compile a HELO hook script: Accept/Reject/Defer exist, the context variables are
    pre-defined and read-only."""
    return compile_program(source, filename, context=CONTEXT, readonly=READONLY,
                           predefined=set(READONLY) | {"context"}, **options)


def run_helo(program, session: HeloSession, *, max_steps: Optional[int] = 10_000_000,
             max_time: Optional[float] = 10.0, trace: bool = False,
             echo: Optional[Callable[[str], None]] = None,
             speculative: bool = False, time_limit: Optional[float] = None,
             max_memory: Optional[int] = None, max_depth: int = 1000) -> HeloResult:
    """Run a compiled HELO script for one command. Never raises for script errors: they
    become a Defer (450) with `error` set.  The limits are Program.run's.  With
    `speculative=True` the run may instead raise execution.Preempted (see Program.run):
    `max_time` is then its slice and `time_limit` the script's own limit."""
    output: list = []

    def out(line: str) -> None:
        output.append(line)
        if echo is not None:
            echo(line)

    variables = session.variables()
    context = V.share(variables["context"])     # as it was before the run
    try:
        result = program.run(variables=variables, output=out, max_steps=max_steps,
                             max_time=max_time, keep_globals=True, trace=trace,
                             speculative=speculative, time_limit=time_limit,
                             max_memory=max_memory, max_depth=max_depth)
        final = result.globals or {}
        decision = Decision("accept")       # implicit termination accepts
        trace_log = result.trace
    except Terminate as t:
        decision = t.decision
        final = t.globals or {}
        trace_log = t.trace
    except HSLRuntimeError as e:
        res = build_result(Decision("defer"), session, context, output,
                           error=f"{e.filename}:{e.line}:{e.column}: {e.message}")
        res.where = (e.filename, e.line, e.column)
        res.exception = e
        res.trace = getattr(e, "trace", []) or []
        return res
    res = build_result(decision, session, final.get("context", context), output)
    res.trace = trace_log or []
    return res


def syntax_error_result(err: HSLSyntaxError, session: HeloSession) -> HeloResult:
    """A script that does not compile defers every command (Halon would not load it)."""
    d = err.diagnostics[0]
    return build_result(Decision("defer"), session, session.context, [],
                        error=f"{d.filename}:{d.line}:{d.column}: {d.message}")
