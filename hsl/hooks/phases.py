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
