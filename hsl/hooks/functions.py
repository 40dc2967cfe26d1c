"""The hook functions of the SMTP phases (Accept, Reject, Defer, Reply, Pass): ordinary
builtins, one per name, registered for every phase of hsl/hooks/phases.py that has them, so
a script may define its own `Reject` and reach this one with `builtin Reject(...)`.

A call checks its arguments against its phase's entry in the table (the phase is the one
the running program was compiled for) and ends the script with a Decision (an
execution.Terminate, which `try`/`catch` cannot intercept).  Options a phase does not list
are ignored, as before.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Optional

from ..builtins import _args
from ..builtins.registry import builtin
from ..errors import ScriptError
from ..runtime import execution
from ..runtime import values as V
from ..runtime.execution import Terminate
from .phases import PHASES, runnable_phases


@dataclass
class Decision:
    """What a hook function asked for."""
    action: str                        # the function's name in lowercase: accept, pass, ...
    reason: Optional[list] = None      # script-given reply lines (bytes), None = default
    code: Optional[int] = None
    enhanced: Optional[list] = None
    disconnect: bool = False
    options: dict = field(default_factory=dict)    # the other options given (Python values)
    where: Optional[tuple] = None      # (file, line, column) of the deciding call


def reason_lines(fname: str, reason) -> list:
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


def _reply_codes(fname: str, codes, decision: Decision, spec) -> None:
    if type(codes) is not V.HArray:
        raise ScriptError(f"{fname}() option reply_codes must be an array (type error)")
    lo, hi = spec.codes
    code = codes.get(b"code")
    if code is not None:
        if type(code) is not float or not code.is_integer():
            raise ScriptError(f"{fname}() reply_codes code must be a number (type error)")
        if not lo <= code <= hi:
            raise ScriptError(f"{fname}() reply code {int(code)} is outside {lo}-{hi}")
        decision.code = int(code)
    enhanced = codes.get(b"enhanced")
    if enhanced is not None:
        values = [_code_part(x) for x in enhanced.values()] \
            if type(enhanced) is V.HArray and len(enhanced) == 3 else [None]
        if None in values:
            raise ScriptError(f"{fname}() reply_codes enhanced must be [class, subject, "
                              "detail] numbers (type error)")
        reply_class = (decision.code or spec.code) // 100
        if values[0] != reply_class:
            raise ScriptError(f"{fname}() enhanced code class {values[0]} does not match "
                              f"a {reply_class}xx reply")
        decision.enhanced = values


def _code_part(x) -> Optional[int]:
    """One number of an enhanced code: a whole number, or a string of digits, as real
    scripts pass them (halon-sink splits "4.2.2" with str_split)."""
    if type(x) is float and x.is_integer() and x >= 0:
        return int(x)
    if type(x) is bytes and x.isdigit() and len(x) <= 3:
        return int(x)
    return None


def _address(fname: str, name: str, v) -> bytes:
    """A string address, or ["localpart" => ..., "domain" => ...]."""
    if type(v) is bytes:
        return v
    if type(v) is V.HArray:
        local, domain = v.get(b"localpart"), v.get(b"domain")
        if type(local) is bytes and type(domain) is bytes:
            return local + b"@" + domain if domain else local
    raise ScriptError(f"{fname}() option {name} must be a string or an array with "
                      f"localpart and domain (type error)")


def _string(fname: str, name: str, v) -> bytes:
    return _args.string(fname, 1, v)


def _strings(fname: str, name: str, v) -> list:
    if type(v) is not V.HArray or not all(type(x) is bytes for x in v.values()):
        raise ScriptError(f"{fname}() option {name} must be an array of strings (type error)")
    return list(v.values())


def _ip(fname: str, name: str, v) -> bytes:
    v = _args.string(fname, 1, v)
    try:
        ipaddress.ip_address(v.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ScriptError(f"{fname}() option {name} must be an IP address") from None
    return v


def _boolean(fname: str, name: str, v) -> bool:
    if type(v) is not bool:
        raise ScriptError(f"{fname}() option {name!r} must be a boolean, got "
                          f"{V.type_name(v)} (type error)")
    return v


# How each option's value is read; `reason`, `disconnect` and `reply_codes` have their
# own places in a Decision, the others go to Decision.options.
_OPTIONS = {"host": _string, "extensions": _strings, "sender": _address,
            "recipient": _address, "transportid": _string, "remoteip": _ip,
            "remoteptr": _string, "username": _string, "command": _string, "next": _boolean}


_KEYS = {name: name.encode() for name in ("reason", "disconnect", "reply_codes", *_OPTIONS)}


def decide(fname: str, reason, options, options_pos: int) -> Decision:
    """The Decision of hook function `fname` in the running program's phase."""
    ex = execution.current()
    phase = PHASES.get(getattr(getattr(ex, "program", None), "context", None))
    spec = phase.functions.get(fname) if phase is not None else None
    if spec is None:
        raise ScriptError(f"{fname}() is only available in the "
                          f"{', '.join(runnable_phases(fname))} hooks")
    decision = Decision(spec.decision)
    if reason is not None:
        decision.reason = reason_lines(fname, reason)
    if options is None:
        return decision
    opts = _args.opt_array(fname, options_pos, options)
    for name in spec.options:
        key = _KEYS[name]
        if name == "disconnect":
            decision.disconnect = _args.opt_bool(fname, opts, key, False)
            continue
        value = _args.option(opts, key)
        if value is None:
            continue
        if name == "reason":
            decision.reason = reason_lines(fname, value)
        elif name == "reply_codes":
            _reply_codes(fname, value, decision, spec)
        else:
            decision.options[name] = _OPTIONS[name](fname, name, value)
    return decision


@builtin("Accept", area="hook", context=runnable_phases("Accept"))
def Accept(options=None):
    """Accept the command, the connection or the message (the phase's 2xx reply)."""
    raise Terminate(decide("Accept", None, options, 1))


@builtin("Reject", area="hook", context=runnable_phases("Reject"))
def Reject(reason=None, options=None):
    """Refuse with a permanent error (5xx)."""
    raise Terminate(decide("Reject", reason, options, 2))


@builtin("Defer", area="hook", context=runnable_phases("Defer"))
def Defer(reason=None, options=None):
    """Refuse with a temporary error (4xx)."""
    raise Terminate(decide("Defer", reason, options, 2))


@builtin("Reply", area="hook", context=runnable_phases("Reply"))
def Reply(reason=None, options=None):
    """Answer the client directly: an AUTH challenge (334), or a proxy hook's own reply."""
    raise Terminate(decide("Reply", reason, options, 2))


@builtin("Pass", area="hook", context=runnable_phases("Pass"))
def Pass(options=None):
    """End the script and let the command (or the closed connection) go on."""
    raise Terminate(decide("Pass", None, options, 1))
