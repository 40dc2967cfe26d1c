"""The hook phases, one table (hooks.md §1, §2; builtins.md "Hook contexts"): per phase its
pre-defined variables and which are read-only, its hook functions with their arities,
options and default replies, and what a script error and an implicit end do.

Everything that knows about phases reads this table: the hook functions
(hsl/hooks/functions.py), the engine that runs a phase (hsl/hooks/engine.py), the
compiler's read-only variables, `hsl check --hook PHASE`, the REPL and completion.  It is
plain data and imports nothing, so reading it costs nothing at startup.

Default enhanced codes (UNSPECIFIED in Halon's documentation) are RFC 3463's: 2.1.0 for
an accepted sender, 2.1.5 for a recipient, 2.0.0 for a message, 5.7.1/4.7.1 for refusals;
AUTH uses RFC 4954's (235 2.7.0, 535 5.7.8, 454 4.7.0).  RFC 2034 forbids enhanced codes
on the greeting and on replies to HELO/EHLO: there none is sent unless a refusal's
`reply_codes` asks for one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class HookFunction:
    """A hook function of one phase.  Its decision is its name in lowercase."""
    name: str
    min_args: int
    max_args: int
    reason: bool = False            # its first argument is a reason (Reject, Defer, Reply)
    options: tuple = ()             # the options it reads, in the order they are checked
    code: Optional[int] = None      # default reply code; None: no reply (Pass)
    codes: Optional[tuple] = None   # the range `reply_codes` may choose a code from
    enhanced: Optional[tuple] = None    # default enhanced code
    enhanced_ok: bool = True        # False: never an enhanced code (RFC 2034)
    text: str = ""                  # default reply text; "{hostname}": the server's name
    disconnect: bool = False        # the connection always closes after the reply
    terminates: bool = True

    @property
    def decision(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Phase:
    name: str
    variables: tuple                # pre-defined variables
    readonly: tuple                 # the ones a script cannot assign
    functions: dict                 # name -> HookFunction
    on_error: str                   # the function a script error amounts to
    on_end: str                     # the function an implicit end amounts to
    error_reply: Optional[tuple] = None     # (code, text) of a script error, when not
    #                                         on_error's defaults
    runnable: bool = True           # hsl run --hook, hsl test, the REPL run it


def _refusals(reject: int, defer: int, enhanced: bool = True) -> dict:
    """Reject and Defer of an SMTP phase: permanent and temporary, same options."""
    opts = ("disconnect", "reply_codes")
    return {
        "Reject": HookFunction("Reject", 0, 2, True, opts, reject, (500, 599),
                               (5, 7, 1) if enhanced else None, text="Rejected"),
        "Defer": HookFunction("Defer", 0, 2, True, opts, defer, (400, 499),
                              (4, 7, 1) if enhanced else None, text="Deferred"),
    }


def _accept(options: tuple, text: str, enhanced: Optional[tuple], code: int = 250,
            enhanced_ok: bool = True) -> HookFunction:
    return HookFunction("Accept", 0, 1, False, options + ("reply_codes",), code, (200, 299),
                        enhanced, enhanced_ok, text)


_SMTP_VARS = ("arguments", "connection", "transaction", "context")
SMTP_READONLY = ("arguments", "connection", "transaction")
_QUEUE_VARS = ("arguments", "message", "context")


def _queue_function(name: str, lo: int = 0, hi: int = 1, terminates: bool = True):
    return HookFunction(name, lo, hi, terminates=terminates)


_QUEUE_META = {"SetMetaData": _queue_function("SetMetaData", 1, 1, False),
               "GetMetaData": _queue_function("GetMetaData", 0, 0, False)}

PHASES: dict[str, Phase] = {p.name: p for p in (
    Phase("connect", _SMTP_VARS, SMTP_READONLY, {
        "Accept": _accept(("reason", "remoteip", "remoteptr"), "{hostname} ESMTP", None,
                          code=220, enhanced_ok=False),
        **{name: HookFunction(f.name, f.min_args, f.max_args, True, ("reply_codes",), f.code,
                              f.codes, None, text=f.text, disconnect=True)
           for name, f in _refusals(521, 421, enhanced=False).items()},
    }, on_error="Defer", on_end="Accept"),
    Phase("helo", _SMTP_VARS, SMTP_READONLY, {
        "Accept": _accept(("reason", "host", "extensions"), "{hostname}", None,
                          enhanced_ok=False),
        **_refusals(554, 450, enhanced=False),
    }, on_error="Defer", on_end="Accept"),
    Phase("auth", _SMTP_VARS, SMTP_READONLY, {
        "Accept": _accept(("username", "reason"), "Authentication successful", (2, 7, 0),
                          code=235),
        "Reject": HookFunction("Reject", 0, 2, True, ("disconnect", "reply_codes"), 535,
                               (500, 599), (5, 7, 8), text="Authentication failed"),
        "Defer": HookFunction("Defer", 0, 2, True, ("disconnect", "reply_codes"), 454,
                              (400, 499), (4, 7, 0),
                              text="Temporary authentication failure"),
        # A 334 challenge: its text goes out base64-encoded.
        "Reply": HookFunction("Reply", 0, 2, True, ("disconnect", "reply_codes"), 334,
                              (300, 399), None, enhanced_ok=False),
    }, on_error="Defer", on_end="Reject"),
    Phase("mailfrom", _SMTP_VARS, SMTP_READONLY, {
        "Accept": _accept(("sender", "reason"), "Sender OK", (2, 1, 0)),
        **_refusals(554, 450),
    }, on_error="Defer", on_end="Accept"),
    Phase("rcptto", _SMTP_VARS, SMTP_READONLY, {
        "Accept": _accept(("recipient", "transportid", "reason"), "Recipient OK", (2, 1, 5)),
        **_refusals(554, 450),
    }, on_error="Defer", on_end="Accept"),
    # An implicit end defers: only Accept() queues the copies queue() recorded.
    Phase("eod", _SMTP_VARS, SMTP_READONLY, {
        "Accept": _accept(("reason",), "Message accepted", (2, 0, 0)),
        **_refusals(550, 421),
    }, on_error="Defer", on_end="Defer"),
    Phase("disconnect", _SMTP_VARS, SMTP_READONLY, {
        "Pass": HookFunction("Pass", 0, 1),
    }, on_error="Pass", on_end="Pass"),
    Phase("proxy", _SMTP_VARS, SMTP_READONLY, {
        "Pass": HookFunction("Pass", 0, 1, False, ("command", "next")),
        "Reply": HookFunction("Reply", 0, 2, True, ("disconnect", "reply_codes", "next"), 250,
                              (200, 599), None, text="OK"),
    }, on_error="Reply", on_end="Pass", error_reply=(421, "Service not available")),
    Phase("predelivery", _QUEUE_VARS, ("arguments", "message"), {
        **{n: _queue_function(n) for n in ("Try", "Queue", "Bounce", "Delete")},
        **_QUEUE_META,
    }, on_error="Queue", on_end="Try"),
    Phase("postdelivery", _QUEUE_VARS, ("arguments", "message", "context"), {
        **{n: _queue_function(n) for n in ("Queue", "Bounce", "Delete")},
        "Default": _queue_function("Default", 0, 0),
        **_QUEUE_META,
    }, on_error="Default", on_end="Default"),
)}

# The phases of an SMTP connection (hsl serve's hooks; the queue's two are not).
SMTP_PHASES = tuple(name for name, p in PHASES.items() if "transaction" in p.variables)
# The queue's phases: around a delivery attempt of one queued copy ($message, no
# $connection); hsl/hooks/delivery.py runs them.
QUEUE_PHASES = tuple(name for name, p in PHASES.items() if "message" in p.variables)

# The phases `hsl run --hook`, `hsl test` and the REPL run.
RUNNABLE = tuple(name for name, p in PHASES.items() if p.runnable)

# Every hook function name -> the phases that have it.
HOOK_FUNCTIONS: dict[str, tuple] = {}
for _phase in PHASES.values():
    for _name in _phase.functions:
        HOOK_FUNCTIONS[_name] = HOOK_FUNCTIONS.get(_name, ()) + (_phase.name,)

TERMINATING = frozenset(n for p in PHASES.values() for n, f in p.functions.items()
                        if f.terminates)

# Without a phase: the variables any hook may have (reading them is fine), and the three
# SMTP context arrays are read-only in every context that has them.
ANY_PHASE_VARIABLES = ("arguments", "connection", "transaction", "context", "message")
ANY_PHASE_READONLY = SMTP_READONLY


def runnable_phases(name: str) -> tuple:
    """The phases that run hook function `name` (it is registered as a builtin of these)."""
    return tuple(p for p in HOOK_FUNCTIONS.get(name, ()) if PHASES[p].runnable)


def widest_arity(name: str) -> tuple:
    """(min, max, terminates) of hook function `name` over every phase that has it: for a
    file of a Halon project's file area, which hooks include, so its phase is not known."""
    found = [PHASES[p].functions[name] for p in HOOK_FUNCTIONS[name]]
    return (min(f.min_args for f in found), max(f.max_args for f in found),
            found[0].terminates)


# ------------------------------------------------------------------ context variable keys
#
# The keys of the pre-defined arrays per phase (builtins.md "Hook contexts", hooks.md §2),
# for completion and hover (hsl lsp).  Nested arrays list their keys in the meaning.

@dataclass(frozen=True)
class Key:
    name: str
    type: str
    meaning: str
    optional: bool = False          # absent (not none) when the information is missing


def _keys(*rows) -> tuple:
    return tuple(Key(*r) for r in rows)


_ENDPOINTS = _keys(
    ("remoteip", "string", "the client's IP address"),
    ("remoteport", "number", "the client's TCP port"),
    ("remoteptr", "string", "verified reverse DNS (FCrDNS) name of the client", True),
    ("remoteuid", "number", "the peer's user id on a UNIX socket", True),
    ("localip", "string", "the server's IP address"),
    ("localport", "number", "the server's port"),
    ("serverid", "string", "the id of the listening server"),
)
_CONNECTION = _keys(
    ("id", "string", "the connection id"),
    ("priority", "number", "the connection priority"),
) + _ENDPOINTS + _keys(
    ("helo", "array", "`verb` (\"HELO\"/\"EHLO\") and `host` of the client's HELO/EHLO", True),
    ("tls", "array", "once STARTTLS (or implicit TLS) succeeded: `protocol`, `cipher`, "
     "`keysize`, `sni`, `peercert` (`x509`, `chain`, `error`)", True),
    ("auth", "array", "after AUTH: `mechanism` (uppercase) and `username`", True),
)
_ADDRESS = "`localpart` and `domain`"
_ENVELOPE = _keys(
    ("id", "string", "the transaction id"),
    ("sender", "string", "the envelope sender (lowercase, \"\" for <>)"),
    ("senderaddress", "array", "the sender's " + _ADDRESS),
    ("senderparams", "array", "the MAIL FROM parameters (uppercase keys)"),
    ("recipients", "array", "the recipients accepted so far, each `recipient`, `address`, "
     "`params`, `transportid`"),
)
_MESSAGE = _keys(
    ("id", "array", "`transaction` (string) and `queue` (number)"),
    ("ts", "number", "when the message was received (Unix time)"),
    ("serverid", "string", "the id of the server that received it"),
    ("sender", "string", "the envelope sender"),
    ("senderaddress", "array", "the sender's " + _ADDRESS),
    ("recipient", "string", "the envelope recipient"),
    ("recipientaddress", "array", "the recipient's " + _ADDRESS),
    ("transportid", "string", "the transport"),
    ("tenantid", "string", "the tenant id"),
    ("jobid", "string", "the job id"),
    ("priority", "number", "the queue priority"),
    ("size", "number", "the message size in bytes"),
    ("file", "array", "`original` and `modified` (File resources)"),
    ("dsn", "array", "`envid`, `ret`, `notify`, `orcpt`"),
)

#: phase -> variable name (without `$`) -> its keys.
KEYS: dict[str, dict[str, tuple]] = {
    "connect": {"arguments": _ENDPOINTS + _keys(
        ("remoteptrresult", "array", "the forward and reverse lookup results", True),
        ("proxyip", "string", "the proxy's IP (PROXY protocol)", True),
        ("proxytlv", "string", "PROXY protocol TLVs (hex)", True)),
        "connection": _CONNECTION[:2], "transaction": _ENVELOPE[:1]},
    "helo": {"arguments": _keys(
        ("verb", "string", "\"HELO\" or \"EHLO\" (uppercase)"),
        ("host", "string", "the argument the client gave (any text, may be empty)"),
        ("extensions", "array", "the EHLO extension lines the server will announce (EHLO "
         "only)", True)),
        "connection": tuple(k for k in _CONNECTION if k.name != "helo"),
        "transaction": _ENVELOPE[:1]},
    "auth": {"arguments": _keys(
        ("mechanism", "string", "the SASL mechanism (uppercase)"),
        ("username", "string", "the user name (PLAIN and LOGIN)", True),
        ("password", "string", "the password (PLAIN and LOGIN)", True),
        ("state", "number", "0, then +1 after each Reply() (other mechanisms)", True),
        ("response", "string", "the client's decoded response, or none (other mechanisms)",
         True)),
        "connection": tuple(k for k in _CONNECTION if k.name != "auth"),
        "transaction": _ENVELOPE[:1]},
    "mailfrom": {"arguments": _keys(
        ("sender", "string", "the envelope sender (lowercase, \"\" for <>)"),
        ("address", "array", "the sender's " + _ADDRESS),
        ("params", "array", "the ESMTP parameters (uppercase keys, e.g. SIZE)")),
        "connection": _CONNECTION, "transaction": _ENVELOPE[:1]},
    "rcptto": {"arguments": _keys(
        ("recipient", "string", "the envelope recipient (lowercase)"),
        ("address", "array", "the recipient's " + _ADDRESS),
        ("params", "array", "the ESMTP parameters (uppercase keys, e.g. NOTIFY)"),
        ("transportid", "string", "the transport that would be used")),
        "connection": _CONNECTION, "transaction": _ENVELOPE},
    "eod": {"arguments": _keys(
        ("mail", "EODMailMessage", "the message: a MailMessage with queue()"),
        ("metadata", "any", "submitted through the HTTP API only", True),
        ("http", "array", "HTTP API only", True)),
        "connection": _CONNECTION,
        "transaction": _ENVELOPE[:1] + _keys(("ts", "number", "when DATA ended (Unix time)"))
        + _ENVELOPE[1:]},
    "disconnect": {"arguments": _keys(
        ("close", "string", "\"local\" or \"remote\""),
        ("reply", "array", "the last reply: `code`, `enhanced`, `reason`, `state`", True),
        ("error", "array", "`reason`, `type` (socket, tls), `code`", True)),
        "connection": _CONNECTION, "transaction": ()},
    "proxy": {"arguments": _keys(("command", "string", "the whole command line")),
              "connection": _CONNECTION, "transaction": _ENVELOPE},
    "predelivery": {"arguments": _keys(
        ("retry", "number", "the retry count"),
        ("queue", "array", "`plugin` -> `return`", True)),
        "message": _MESSAGE},
    "postdelivery": {"arguments": _keys(
        ("retry", "number", "the retry count"),
        ("expired", "boolean", "the retries are used up"),
        ("action", "string", "\"DELETE\", \"BOUNCE\" or \"QUEUE\" (absent after a "
         "successful delivery)", True),
        ("grouping", "string", "the grouping"),
        ("policy", "array", "`tags`, `policies`"),
        ("attempt", "array", "`result` (`code`, `enhanced`, `reason`, `state`), `error` "
         "(`temporary`, `message`, `type`, `dns`), `connection`, `duration`, `plugin`", True),
        ("dsn", "array", "`action`, `id`, `status`, `diagnostictype`, `diagnosticcode`", True),
        ("queue", "array", "`plugin`", True)),
        "message": _MESSAGE},
}


def variable_keys(phase: Optional[str], variable: str) -> tuple:
    """The keys of `$variable` in `phase` (None: of any phase, each name once)."""
    if phase is not None:
        return KEYS.get(phase, {}).get(variable, ())
    seen: dict = {}
    for table in KEYS.values():
        for k in table.get(variable, ()):
            seen.setdefault(k.name, k)
    return tuple(seen.values())
