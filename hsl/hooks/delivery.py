"""The queue's two hook contexts, predelivery and postdelivery (hooks.md §1, §2;
builtins.md "predelivery", "postdelivery"): their variables, their functions and a run
of either on one queue entry.

    run_predelivery(program, entry)                         -> QueueDecision
    run_postdelivery(program, entry, attempt, action=...)   -> QueueDecision

`entry` is an `EntryView`: the fields of a queued copy, built from the queue's entry
(hsl/queue/store.py) or from a test fixture, so this module does not depend on the queue.

Variables: `$message` (read-only: `id` transaction/queue, `ts`, `serverid`, `sender`,
`senderaddress`, `recipient`, `recipientaddress`, `transportid`, `jobid`, `priority`,
`size`, `file` original/modified as FileResources, `dsn` envid/ret/notify/orcpt when the
copy has them), `$arguments` (read-only; predelivery `retry`; postdelivery `retry`,
`expired`, `action` (absent after a delivery), `attempt`, `dsn`) and `$context`:
predelivery's is writable and handed to postdelivery of the same pickup, where it is
read-only and absent when predelivery did not run.

Functions (ordinary builtins, so a script may wrap them and reach them with `builtin`):
`Try`, `Queue`, `Bounce`, `Delete` (predelivery), `Queue`, `Bounce`, `Delete`, `Default`
(postdelivery) end the script with their decision; `SetMetaData(array)` replaces the
entry's metadata (string keys and values) and `GetMetaData()` returns it.  Options are
checked by type (a wrong one is a runtime error naming the function and option) and
unknown ones ignored, as everywhere.  `Queue`, `Bounce` and `Delete` after a successful
delivery are runtime errors.  A script error takes the phase's error action
(predelivery: `Queue(["delay" => 300, "increment_retry" => false])`, postdelivery:
`Default()`), with `error` set; an implicit end is `Try()` / `Default()`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..builtins import _args
from ..builtins.classes import FileResource
from ..builtins.registry import builtin
from ..errors import HSLRuntimeError, ScriptError
from ..runtime import execution
from ..runtime import values as V
from ..runtime.execution import Terminate
from .functions import Decision
from .phases import PHASES, QUEUE_PHASES

# Try's tls modes: those of the SMTP client (hsl.net.smtp.TLS_MODES, too heavy to import
# here; a test keeps the two equal)
TLS_MODES = {b"disabled", b"optional", b"optional_verify", b"dane", b"dane_require",
             b"dane_fallback_require", b"dane_fallback_require_verify", b"require",
             b"require_verify"}
ERROR_OPTIONS = {"predelivery": {"delay": 300, "increment_retry": False}, "postdelivery": {}}


# -- option readers: value -> Python value, or a ScriptError naming the option --------

def _fail(fname, name, expected, v):
    raise ScriptError(f"{fname}() option {name} must be {expected}, got "
                      f"{V.type_name(v)} (type error)")


def _str(fname, name, v):
    return v.decode("utf-8", "surrogateescape") if type(v) is bytes else \
        _fail(fname, name, "a string", v)


def _num(fname, name, v):
    if type(v) is not float or v < 0:
        _fail(fname, name, "a number >= 0", v)
    return int(v) if v.is_integer() else v


def _port(fname, name, v):
    if type(v) is not float:
        _fail(fname, name, "a port number (1-65535)", v)
    if not v.is_integer() or not 1 <= v <= 65535:
        raise ScriptError(f"{fname}() option {name} must be a port number (1-65535), got "
                          f"{V.to_str(v).decode()}")
    return int(v)


def _bool(fname, name, v):
    return v if type(v) is bool else _fail(fname, name, "a boolean", v)


def _strs(fname, name, v):
    if type(v) is not V.HArray or not all(type(x) is bytes for x in v.values()):
        _fail(fname, name, "an array of strings", v)
    return [x.decode("utf-8", "surrogateescape") for x in v.values()]


def _array(fname, name, v):
    return V.to_python(v) if type(v) is V.HArray else _fail(fname, name, "an array", v)


def _address(fname, name, v):
    if type(v) is V.HArray:
        local, domain = v.get(b"localpart"), v.get(b"domain")
        if type(local) is bytes and type(domain) is bytes:
            v = local + b"@" + domain if domain else local
    return _str(fname, name, v) if type(v) is bytes else \
        _fail(fname, name, "a string or [localpart, domain]", v)


def _sni(fname, name, v):
    """tls_sni: true (the host connected to) or a name."""
    return v if type(v) is bool else _str(fname, name, v) if type(v) is bytes else \
        _fail(fname, name, "a boolean or a string", v)


def _tls(fname, name, v):
    if type(v) is not bytes or v not in TLS_MODES:
        raise ScriptError(f"{fname}() option tls must be one of "
                          f"{', '.join(sorted(m.decode() for m in TLS_MODES))}")
    return v.decode()


def _protocol(fname, name, v):
    if v not in (b"smtp", b"lmtp"):
        raise ScriptError(f"{fname}() option protocol must be smtp or lmtp")
    return v.decode()


def _sourceip(fname, name, v):
    return _str(fname, name, v) if type(v) is bytes else V.to_python(v) \
        if type(v) is V.HArray else _fail(fname, name, "a string or an array", v)


def _timeouts(fname, name, v):
    if type(v) is not V.HArray or not all(type(k) is bytes and type(x) is float and x > 0
                                          for k, x in v.items()):
        _fail(fname, name, "an array of SMTP state => seconds", v)
    return {k.decode().upper(): int(x) if x.is_integer() else x for k, x in v.items()}


def _plugin(fname, name, v):
    if type(v) is not V.HArray or type(v.get(b"id")) is not bytes:
        raise ScriptError(f"{fname}() option plugin must be an array with an id")
    return V.to_python(v)


def _pooling(fname, name, v):
    """true/false, or Halon's delivery-settings form ["enabled" => bool, "timeout" =>
    idle seconds, "transactions" => per connection, "evictable" => bool (accepted)]."""
    if type(v) is bool:
        return v
    if type(v) is not V.HArray:
        _fail(fname, name, "a boolean or an array", v)
    out = {"enabled": False}
    for key, read in (("enabled", _bool), ("timeout", _num), ("evictable", _bool)):
        if v.get(key.encode()) is not None:
            out[key] = read(fname, f"{name} {key}", v.get(key.encode()))
    transactions = v.get(b"transactions")
    if transactions is not None:
        if type(transactions) is not float or transactions < 1 or \
                not transactions.is_integer():
            _fail(fname, f"{name} transactions", "a whole number >= 1", transactions)
        out["transactions"] = int(transactions)
    return out


def _dsn(fname, name, v):
    if type(v) is not V.HArray:
        _fail(fname, name, "an array", v)
    out = {}
    for key in ("subject", "from_name"):
        if v.get(key.encode()) is not None:
            out[key] = _str(fname, f"dsn {key}", v.get(key.encode()))
    headers = v.get(b"headers")
    if headers is not None:
        out["headers"] = _dsn_headers(fname, headers)
    # no header injection: the report's fields are one line each
    texts = [(f"dsn {k}", out[k]) for k in ("subject", "from_name") if k in out]
    texts += [(f"dsn headers {k!r}", f"{k}{x}") for k, x in out.get("headers", {}).items()]
    for what, text in texts:
        if any(c in text for c in "\r\n\0"):
            raise ScriptError(f"{fname}() option {what} must not contain CR, LF or NUL")
    return out


def _dsn_headers(fname, headers) -> dict:
    """dsn headers: an array of name => value, or a list of "Name: value" lines (Halon's
    form for header lists, as http()'s headers option; real predelivery hooks use it)."""
    if type(headers) is not V.HArray:
        _fail(fname, "dsn headers", "an array of name => string or \"Name: value\" strings",
              headers)
    out = {}
    for k, x in headers.items():
        if type(x) is not bytes:
            _fail(fname, "dsn headers", "an array of name => string or \"Name: value\" "
                  "strings", headers)
        if type(k) is bytes:
            out[k.decode("utf-8", "surrogateescape")] = x.decode("utf-8", "surrogateescape")
            continue
        name, colon, value = x.partition(b":")
        if not colon or not name.strip():
            raise ScriptError(f"{fname}() option dsn headers: {x.decode('utf-8', 'replace')!r}"
                              " is not a \"Name: value\" line")
        out[name.strip().decode("utf-8", "surrogateescape")] = \
            value.strip().decode("utf-8", "surrogateescape")
    return out


_TRY = {"host": _str, "port": _port, "sender": _address, "recipient": _address,
        "helo": _str, "sourceip": _sourceip, "sourceip_random": _bool,
        "nonlocal_source": _bool, "saslusername": _str, "saslpassword": _str, "tls": _tls,
        "tls_sni": _sni, "tls_protocols": _str, "tls_ciphers": _str,
        "tls_verify_host": _bool, "tls_verify_name": _strs, "tls_default_ca": _bool,
        "tls_client_cert": _array, "xclient": _array, "protocol": _protocol,
        "mx_include": _strs, "mx_exclude": _strs, "jobid": _str, "timeout": _timeouts,
        "connect_timeout": _num, "chunking": _bool, "pooling": _pooling, "plugin": _plugin}
_QUEUE = {"hold": _bool, "delay": _num, "reason": _str, "increment_retry": _bool,
          "reset_retry": _bool, "transportid": _str, "quotas": _strs}
OPTIONS = {"Try": _TRY, "Queue": _QUEUE, "Bounce": {"dsn": _dsn, "reason": _str},
           "Delete": {"reason": _str}, "Default": {}}


# -- the entry and the decision --------------------------------------------------------

@dataclass
class EntryView:
    """A queued copy as the queue hooks see it."""
    transaction: str
    queue: int
    sender: str
    recipient: str
    transportid: str
    message: bytes
    ts: float = 0.0
    serverid: str = ""
    jobid: Optional[str] = None
    priority: int = 0
    metadata: dict = field(default_factory=dict)
    retry: int = 0
    dsn: dict = field(default_factory=dict)         # envid, ret, notify, orcpt
    tenantid: Optional[str] = None

    @classmethod
    def from_entry(cls, entry, message: bytes, serverid: str = "") -> "EntryView":
        """From a QueueEntry (hsl/queue/store.py)."""
        e = entry.envelope
        return cls(e["transaction"], e["queue"], e["sender"], e["recipient"],
                   entry.transportid, message, e["ts"], serverid, e.get("jobid"),
                   e.get("priority", 0), dict(entry.metadata), entry.retry,
                   dict(e.get("dsn") or {}), e.get("tenantid"))

    def message_array(self) -> V.HArray:
        def address(a: str) -> dict:
            local, at, domain = a.rpartition("@")
            return {"localpart": local if at else a, "domain": domain if at else ""}
        file = FileResource(data=self.message)
        m = {"id": {"transaction": self.transaction, "queue": self.queue},
             "ts": self.ts, "serverid": self.serverid,
             "sender": self.sender, "senderaddress": address(self.sender),
             "recipient": self.recipient, "recipientaddress": address(self.recipient),
             "transportid": self.transportid, "priority": self.priority,
             "size": len(self.message)}
        if self.jobid is not None:
            m["jobid"] = self.jobid
        if self.tenantid is not None:
            m["tenantid"] = self.tenantid
        if self.dsn:
            m["dsn"] = self.dsn
        out = V.from_python(m)
        out.set(b"file", V.HArray.from_dict_normalized({b"original": file,
                                                         b"modified": file}))
        return out


@dataclass
class QueueDecision:
    action: str                         # try, queue, bounce, delete, default
    options: dict = field(default_factory=dict)
    metadata: Optional[dict] = None     # set by SetMetaData()
    context: object = None              # $context at the end (predelivery's goes on)
    output: list = field(default_factory=list)
    error: Optional[str] = None         # file:line:col: message of a script error
    where: Optional[tuple] = None       # the deciding call
    trace: list = field(default_factory=list)


class _HookState:
    """What the queue functions of one run share (the running execution's queue_entry)."""

    def __init__(self, phase: str, metadata: dict, delivered: bool, policies=None):
        self.phase = phase
        self.metadata = dict(metadata)
        self.changed = False
        self.delivered = delivered
        self.policies = policies    # the queue_* builtins' table (hsl/queue/policy.py)


def _state(fname: str) -> _HookState:
    ex = execution.current()
    state = getattr(ex, "queue_entry", None) if ex is not None else None
    if state is None:
        raise ScriptError(f"{fname}() is only available in the predelivery and "
                          "postdelivery hooks")
    return state


def _decide(fname: str, options) -> Decision:
    state = _state(fname)
    if fname not in PHASES[state.phase].functions:
        raise ScriptError(f"{fname}() is not available in the {state.phase} hook")
    if state.delivered and fname in ("Queue", "Bounce", "Delete"):
        raise ScriptError(f"{fname}() after a successful delivery: the message was "
                          "delivered")
    decision = Decision(fname.lower())
    if options is not None:
        opts = _args.opt_array(fname, 1, options)
        for name, read in OPTIONS[fname].items():
            value = _args.option(opts, name.encode())
            if value is not None:
                decision.options[name] = read(fname, name, value)
    return decision


@builtin("Try", area="hook", context="predelivery")
def Try(options=None):
    """Deliver now, with these options over the transport's settings."""
    raise Terminate(_decide("Try", options))


@builtin("Queue", area="hook", context=QUEUE_PHASES)
def Queue(options=None):
    """Retry later (delay, hold, transportid, increment_retry, reset_retry...)."""
    raise Terminate(_decide("Queue", options))


@builtin("Bounce", area="hook", context=QUEUE_PHASES)
def Bounce(options=None):
    """Give up: a DSN to the sender (dsn: subject, from_name, headers)."""
    raise Terminate(_decide("Bounce", options))


@builtin("Delete", area="hook", context=QUEUE_PHASES)
def Delete(options=None):
    """Give up without a DSN."""
    raise Terminate(_decide("Delete", options))


@builtin("Default", area="hook", context="postdelivery")
def Default():
    """Apply $arguments["action"], the queue's own decision."""
    raise Terminate(_decide("Default", None))


@builtin("SetMetaData", area="hook", context=QUEUE_PHASES)
def SetMetaData(metadata):
    """Replace the entry's metadata (string keys and values; kept across retries)."""
    state = _state("SetMetaData")
    if type(metadata) is not V.HArray or not all(
            type(k) is bytes and type(v) is bytes for k, v in metadata.items()):
        raise ScriptError("SetMetaData() expects an array of string keys and values "
                          "(type error)")
    state.metadata = {k.decode("utf-8", "surrogateescape"): v.decode("utf-8",
                                                                     "surrogateescape")
                      for k, v in metadata.items()}
    state.changed = True
    return None


@builtin("GetMetaData", area="hook", context=QUEUE_PHASES)
def GetMetaData():
    """The entry's metadata: from queue() in the EOD hook, then SetMetaData()."""
    return V.from_python(_state("GetMetaData").metadata)


# -- running ---------------------------------------------------------------------------

def hook_state(phase: str, entry: EntryView, delivered: bool = False,
               policies=None) -> _HookState:
    """What a run's queue functions share: pass it as Program.run(queue_entry=...).
    `policies`: the table the queue_* builtins act on (None: the process's)."""
    return _HookState(phase, entry.metadata, delivered, policies)


def queue_variables(phase: str, entry: EntryView, arguments: dict, context) -> dict:
    """The pre-defined variables of a queue hook run: $arguments (from `arguments`,
    Python values or HArrays), $message, and $context (predelivery: `context` or a new
    array; postdelivery: `context`, absent when None)."""
    args = V.from_python({k: v for k, v in arguments.items() if not isinstance(v, V.HArray)})
    for k, v in arguments.items():
        if isinstance(v, V.HArray):
            args.set(k.encode(), v)
    variables = {"arguments": args, "message": entry.message_array()}
    if context is not None:
        variables["context"] = context
    elif phase == "predelivery":
        variables["context"] = V.HArray()
    return variables


def post_arguments(entry: EntryView, attempt, action: Optional[str], expired: bool = False,
                   dsn: Optional[dict] = None, grouping: Optional[str] = None,
                   policy: Optional[dict] = None) -> dict:
    """postdelivery's $arguments; `action` None: the copy was delivered.  `dsn`:
    `$arguments["dsn"]` (dsn_arguments()); `grouping`: the copy's queue grouping
    (hsl/queue/grouping.py); `policy`: the pickup policies applied (["tags", "policies"],
    hsl/queue/policy.py)."""
    arguments: dict = {"retry": entry.retry, "expired": expired}
    if grouping is not None:
        arguments["grouping"] = grouping
    if policy is not None:
        arguments["policy"] = policy
    if action is not None:
        arguments["action"] = action
    if attempt is not None:
        arguments["attempt"] = attempt
    if dsn:
        arguments["dsn"] = dsn
    return arguments


def _run(program, phase: str, entry: EntryView, arguments: dict, context,
         delivered: bool, *, max_time: float, trace: bool, policies=None) -> QueueDecision:
    p = PHASES[phase]
    output: list = []
    state = hook_state(phase, entry, delivered, policies)
    variables = queue_variables(phase, entry, arguments, context)
    before = variables.get("context")
    try:
        result = program.run(variables=variables, output=output.append, max_time=max_time,
                             keep_globals=True, trace=trace, queue_entry=state)
        decision = Decision(p.on_end.lower())
        final = result.globals or {}
        trace_log = result.trace
    except Terminate as t:
        decision, final, trace_log = t.decision, t.globals or {}, t.trace
    except HSLRuntimeError as e:
        return QueueDecision(p.on_error.lower(), dict(ERROR_OPTIONS[phase]),
                             state.metadata if state.changed else None, before, output,
                             f"{e.filename}:{e.line}:{e.column}: {e.message}",
                             (e.filename, e.line, e.column), getattr(e, "trace", []) or [])
    context_out = final.get("context", before) if phase == "predelivery" else before
    return QueueDecision(decision.action, decision.options,
                         state.metadata if state.changed else None, context_out, output,
                         None, decision.where, trace_log or [])


def run_predelivery(program, entry: EntryView, *, max_time: float = 10.0,
                    trace: bool = False, policies=None) -> QueueDecision:
    """`policies`: the table the queue_* builtins act on (None: the process's)."""
    return _run(program, "predelivery", entry, {"retry": entry.retry}, None, False,
                max_time=max_time, trace=trace, policies=policies)


def run_postdelivery(program, entry: EntryView, attempt: Optional[V.HArray], *,
                     action: Optional[str], expired: bool = False, context=None,
                     dsn: Optional[dict] = None, grouping: Optional[str] = None,
                     policy: Optional[dict] = None, max_time: float = 10.0,
                     trace: bool = False, policies=None) -> QueueDecision:
    """`action` None: the copy was delivered (`Queue`, `Bounce`, `Delete` are then
    errors).  `context`: predelivery's $context (None: predelivery did not run)."""
    arguments = post_arguments(entry, attempt, action, expired, dsn, grouping, policy)
    return _run(program, "postdelivery", entry, arguments, context, action is None,
                max_time=max_time, trace=trace, policies=policies)


def attempt_outcome(attempt: Optional[dict]) -> tuple:
    """(delivered, temporary) of an attempt given as Python values (a fixture's
    `attempt:`, or Attempt.to_json()): delivered with a 2xx reply to the message and no
    error; temporary as its error says, else with a 4xx reply."""
    result = (attempt or {}).get("result") or {}
    error = (attempt or {}).get("error")
    code = result.get("code")
    if not error and isinstance(code, int) and 200 <= code <= 299:
        return True, False
    if isinstance(error, dict) and isinstance(error.get("temporary"), bool):
        return False, error["temporary"]
    return False, isinstance(code, int) and 400 <= code <= 499 or not code


def default_action(view: EntryView, attempt: Optional[dict], schedule=None) -> tuple:
    """(action, expired) the queue decides after `attempt` (hooks.md §2), as
    postdelivery's $arguments["action"] says it: None after a delivery; QUEUE for a
    temporary failure until the retry count (of `schedule`, a hsl.queue.schedule.Schedule;
    default the built-in one) is used up, then BOUNCE with expired; BOUNCE for a
    permanent failure; DELETE instead of BOUNCE when no DSN is due."""
    from ..queue import dsn as dsn_mod        # deferred: the queue only for a derived one
    from ..queue.schedule import Schedule     # deferred: as above
    delivered, temporary = attempt_outcome(attempt)
    if delivered:
        return None, False
    schedule = schedule or Schedule()
    if temporary and not schedule.expired(view.retry + 1):
        return "QUEUE", False
    envelope = {"sender": view.sender, "dsn": view.dsn}
    return ("BOUNCE" if dsn_mod.dsn_due(envelope, "failed") else "DELETE"), temporary


def dsn_arguments(attempt: Optional[dict], action: Optional[str],
                  expired: bool = False) -> Optional[dict]:
    """postdelivery's `$arguments["dsn"]` of an attempt (its to_json() form): `action`
    (`delivered`, `delayed` for QUEUE, `failed` for BOUNCE/DELETE), `status` (the
    enhanced code, else the reply's class or what RFC 3463 says of the failure) and, with
    a reply, `diagnostictype` `smtp` and `diagnosticcode` "550 5.1.1 text" (what bounce
    lists match); without one, `diagnosticcode` is the error's message.  None without an
    attempt.  UNSPECIFIED: Halon's exact values for non-SMTP failures."""
    if attempt is None:
        return None
    kind = "delivered" if action is None else "delayed" if action == "QUEUE" else "failed"
    result, error = attempt.get("result") or {}, attempt.get("error") or {}
    enhanced = result.get("enhanced")
    out: dict = {"action": kind}
    if enhanced and len(enhanced) == 3:
        out["status"] = ".".join(str(int(n)) for n in enhanced)
    elif result.get("code"):
        out["status"] = f"{int(result['code']) // 100}.0.0"
    else:
        out["status"] = "4.4.1" if kind == "delayed" else "5.4.7" if expired else "5.4.4"
    if result.get("code"):
        words = [str(result["code"])]
        if enhanced:
            words.append(".".join(str(int(n)) for n in enhanced))
        words += result.get("reason") or []
        out["diagnostictype"] = "smtp"
        out["diagnosticcode"] = " ".join(words)
    elif error.get("message"):
        out["diagnosticcode"] = error["message"]
    return out


# -- hsl run --hook predelivery|postdelivery --entry FILE ------------------------------

class EntryFileError(ValueError):
    """A queue entry file that cannot be used; the text names the file and the node."""


def _node(path: str, where: str, message: str) -> EntryFileError:
    return EntryFileError(f"{path}: {where}: {message}" if where else f"{path}: {message}")


ENTRY_KEYS = ("sender", "recipient", "transportid", "metadata", "retry", "message",
              "message_text", "transaction", "queue", "ts", "serverid", "jobid", "priority",
              "dsn", "attempt", "action", "expired", "context", "grouping", "tenantid")
ACTIONS = ("QUEUE", "BOUNCE", "DELETE")
_ATTEMPT_KEYS = ("result", "error", "connection", "duration", "plugin")
_RESULT_KEYS = ("code", "enhanced", "reason", "state")
_ERROR_KEYS = ("temporary", "message", "type", "dns")
ERROR_TYPES = ("config", "dns", "network", "dane", "protocol", "smtp", "tls", "plugin")
DNS_KINDS = ("other", "nxdomain", "nullmx", "ipfamily", "nodata", "excluded")


def load_entry_file(path: str) -> tuple:
    """(EntryView, postdelivery facts) of a queue entry file: a spool copy (its id in its
    spool, `SPOOL/BATCH-N`, or `SPOOL/BATCH` for a batch of one copy) or a YAML fixture
    (see entry_from_fixture).  EntryFileError, naming the file (and for a fixture
    FILE:LINE:COL of the node), for a bad one."""
    import os
    base = os.path.dirname(path)
    from ..queue.spool import copy_batch, open_copy  # deferred: only for a spool copy
    if copy_batch(path) is not None:
        try:
            copy = open_copy(path)
            message = copy.read_message()
        except OSError as e:
            raise EntryFileError(f"cannot read {path}: {e.strerror}") from None
        except ValueError as e:
            raise EntryFileError(str(e)) from None
        env = copy.envelope
        return EntryView(env["transaction"], env["queue"], env["sender"], env["recipient"],
                         env["transportid"], message, env["ts"], "", env.get("jobid"),
                         0, dict(env["metadata"]), 0, dict(env.get("dsn") or {}),
                         env.get("tenantid")), \
            {"action": None, "expired": False, "attempt": None, "context": None,
             "grouping": None, "given": set()}
    from ..inputs import read_located  # deferred: YAML only for a fixture
    try:
        doc, pos = read_located(path, "queue entry")
    except ValueError as e:
        raise EntryFileError(str(e)) from None
    return entry_from_fixture(doc, lambda *sub, key=False: pos.at(sub, key), base)


def entry_from_fixture(doc, at, base: str) -> tuple:
    """(EntryView, postdelivery facts) of a queue entry fixture, the mapping

        sender: alice@example.com        recipient: bob@example.org   (both required)
        transportid: mx                  metadata: {k: v}      retry: 0
        message: mail.eml                (a path, relative to `base`; or
        message_text: "Subject: ..."      the message itself)
        transaction, queue, ts, serverid, jobid, priority, dsn: {envid, ret, notify, orcpt}
        # postdelivery only:
        attempt: {result: {code: 451, enhanced: [4, 2, 0], reason: [...], state: RCPT}}
                 (or error: {temporary, message, type, dns}; connection, duration)
        action: QUEUE      (QUEUE, BOUNCE, DELETE; absent: the queue's own, from the
                           attempt (default_action); none after a delivery or without
                           an attempt)
        expired: false     context: {...}
        grouping: "&google"              ($arguments["grouping"])

    `at(*path, key=False)` gives "FILE:LINE:COL" of a part of it: every EntryFileError
    starts with the place of the node at fault.  Facts: action, expired, attempt,
    context (None when not given) and which of them the fixture gave (`given`)."""
    import os

    def fail(message, *sub, key=False):
        label = ".".join(str(s) for s in sub)
        raise EntryFileError(f"{at(*sub, key=key)}: " + (f"{label}: " if label else "")
                             + message)

    if not isinstance(doc, dict):
        fail("expected a mapping of the entry's fields (sender, recipient, ...)")
    for key in doc:
        if key not in ENTRY_KEYS:
            fail(f"unknown key (one of {', '.join(sorted(ENTRY_KEYS))})", key, key=True)

    def text(key, default=None, required=False):
        v = doc.get(key, default)
        if v is None and required:
            fail(f"{key} is required", *(() if key not in doc else (key,)))
        if v is not None and not isinstance(v, str):
            fail("must be a string", key)
        return v

    def number(key, default):
        v = doc.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            fail("must be a number >= 0", key)
        return v

    metadata = doc.get("metadata") or {}
    if not isinstance(metadata, dict):
        fail("must map strings to strings", "metadata")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            fail("must map strings to strings", "metadata", str(k))
    if "message" in doc and "message_text" in doc:
        fail("give message (a file) or message_text, not both", "message_text", key=True)
    if "message" in doc:
        name = os.path.join(base, text("message"))
        try:
            with open(name, "rb") as f:
                message = f.read()
        except OSError as e:
            fail(f"cannot read {name}: {e.strerror}", "message")
    else:
        message = (text("message_text") or "Subject: test\r\n\r\ntest\r\n").encode(
            "utf-8", "surrogateescape")
    for key in ("dsn", "attempt", "context"):
        if key in doc and not isinstance(doc[key], dict):
            fail("must be a mapping", key)
    dsn = doc.get("dsn") or {}
    for key, v in dsn.items():
        if key not in ("envid", "ret", "notify", "orcpt"):
            fail("unknown key (one of envid, notify, orcpt, ret)", "dsn", key, key=True)
        if not isinstance(v, (str, list)):
            fail("must be a string" + (" or a list" if key == "notify" else ""), "dsn", key)
    if "attempt" in doc:
        _check_attempt(doc["attempt"], fail)
    action = text("action")
    if action is not None and action not in ACTIONS:
        fail("must be QUEUE, BOUNCE or DELETE (absent: what the queue decides after the "
             "attempt)", "action")
    if action is not None and "attempt" in doc and attempt_outcome(doc["attempt"])[0]:
        fail("the attempt delivered the copy (a 2xx reply): there is no action after a "
             "delivery", "action")
    if not isinstance(doc.get("expired", False), bool):
        fail("must be true or false", "expired")
    view = EntryView(text("transaction", "fixture"), int(number("queue", 0)),
                     text("sender", required=True), text("recipient", required=True),
                     text("transportid", "mx"), message, float(number("ts", 0)),
                     text("serverid", ""), text("jobid"), int(number("priority", 0)),
                     dict(metadata), int(number("retry", 0)), dict(dsn), text("tenantid"))
    facts = {"action": action, "expired": doc.get("expired", False),
             "attempt": doc.get("attempt"), "context": doc.get("context"),
             "grouping": text("grouping"),
             "given": {k for k in ("action", "expired", "attempt", "context") if k in doc}}
    return view, facts


def _check_attempt(attempt: dict, fail) -> None:
    """The shape of a fixture's `attempt:` (postdelivery's $arguments["attempt"])."""
    for key in attempt:
        if key not in _ATTEMPT_KEYS:
            fail(f"unknown key (one of {', '.join(_ATTEMPT_KEYS)})", "attempt", key,
                 key=True)
    if "result" not in attempt and "error" not in attempt:
        fail("an attempt has a result: (the server's reply) or an error:", "attempt")
    for part, keys in (("result", _RESULT_KEYS), ("error", _ERROR_KEYS)):
        if part not in attempt:
            continue
        value = attempt[part]
        if not isinstance(value, dict):
            fail("must be a mapping of " + ", ".join(keys), "attempt", part)
        for key in value:
            if key not in keys:
                fail(f"unknown key (one of {', '.join(keys)})", "attempt", part, key,
                     key=True)
    result = attempt.get("result") or {}
    code = result.get("code")
    if "result" in attempt and (type(code) is not int or not 200 <= code <= 599):
        fail("must be a reply code (200-599)", "attempt", "result",
             *(("code",) if "code" in result else ()))
    enhanced = result.get("enhanced")
    if enhanced is not None and not (isinstance(enhanced, list) and len(enhanced) == 3 and
                                     all(type(x) is int for x in enhanced)):
        fail("must be [class, subject, detail]", "attempt", "result", "enhanced")
    reason = result.get("reason")
    if reason is not None and not (isinstance(reason, list) and
                                   all(isinstance(x, str) for x in reason)):
        fail("must be a list of lines", "attempt", "result", "reason")
    if result.get("state") is not None and not isinstance(result["state"], str):
        fail("must be a string (the SMTP state: RCPT, DATA, ...)", "attempt", "result",
             "state")
    error = attempt.get("error") or {}
    if "temporary" in error and not isinstance(error["temporary"], bool):
        fail("must be true or false", "attempt", "error", "temporary")
    if "message" in error and not isinstance(error["message"], str):
        fail("must be a string", "attempt", "error", "message")
    if "type" in error and error["type"] not in ERROR_TYPES:
        fail("must be one of " + ", ".join(ERROR_TYPES), "attempt", "error", "type")
    if "dns" in error and error["dns"] not in DNS_KINDS:
        fail("must be one of " + ", ".join(DNS_KINDS), "attempt", "error", "dns")


def decision_lines(phase: str, d: QueueDecision) -> list:
    """What `hsl run --hook PHASE` prints of a decision, after the output:
    `predelivery: Try() {"host": ...}`, then `metadata: {...}` when SetMetaData() ran."""
    import json
    options = f" {json.dumps(d.options, sort_keys=True)}" if d.options else ""
    lines = [f"{phase}: {d.action.capitalize()}(){options}"]
    if d.metadata is not None:
        lines.append(f"metadata: {json.dumps(d.metadata, sort_keys=True)}")
    return lines


def decision_json(d: QueueDecision) -> dict:
    out = {"decision": d.action, "options": d.options, "output": d.output}
    if d.metadata is not None:
        out["metadata"] = d.metadata
    if d.context is not None:
        out["context"] = V.to_python(d.context)
    if d.error:
        out["error"] = d.error
    return out
