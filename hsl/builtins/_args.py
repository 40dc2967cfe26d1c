"""Argument checking shared by the builtin areas.

Builtins check their arguments inline with `type(x) is bytes` (cheap) and, on a mismatch,
raise the error built here, so every area words type errors the same way:

    if type(s) is not bytes:
        raise type_error("str_lower", 1, "a string", s)

The helpers below (`string`, `number`, `integer`, `array`, ...) do the check and return the
value; they are for the less hot paths.  Messages always name the function and contain
"type" (builtins.md, Conventions).
"""
from __future__ import annotations

import math

from ..errors import ScriptError
from ..runtime.values import HArray, HFunction, type_name

__all__ = ["type_error", "string", "number", "integer", "array", "function", "opt_array",
           "option", "opt_bool", "opt_str", "opt_number", "opt_str_list", "digits_value"]


def type_error(fname: str, pos: int, expected: str, got) -> ScriptError:
    """The error for argument `pos` (1-based) of `fname()` not being `expected`
    ("a string", "a number", "an array", "a function", ...)."""
    return ScriptError(f"{fname}() expects {expected} as argument {pos}, "
                       f"got {type_name(got)} (type error)")


def string(fname: str, pos: int, v) -> bytes:
    if type(v) is not bytes:
        raise type_error(fname, pos, "a string", v)
    return v


def number(fname: str, pos: int, v) -> float:
    if type(v) is not float:
        raise type_error(fname, pos, "a number", v)
    return v


def integer(fname: str, pos: int, v) -> int:
    """A number argument used as an integer: truncated toward zero.  NaN and infinities
    are errors."""
    if type(v) is not float:
        raise type_error(fname, pos, "a number", v)
    if not math.isfinite(v):
        raise ScriptError(f"{fname}() expects a finite number as argument {pos}")
    return int(v)


def array(fname: str, pos: int, v) -> HArray:
    if type(v) is not HArray:
        raise type_error(fname, pos, "an array", v)
    return v


def function(fname: str, pos: int, v) -> HFunction:
    if type(v) is not HFunction:
        raise type_error(fname, pos, "a function", v)
    return v


_EMPTY = HArray()


def opt_array(fname: str, pos: int, v) -> HArray:
    """An optional options array: none/omitted gives an empty array."""
    if v is None:
        return _EMPTY
    if type(v) is not HArray:
        raise type_error(fname, pos, "an array", v)
    return v


def option(opts: HArray, name: bytes, default=None):
    """The value of option `name` (bytes) or `default` when absent or none."""
    v = opts.d.get(name)
    return default if v is None else v


def _option_error(fname: str, name: bytes, expected: str, got) -> ScriptError:
    return ScriptError(f"{fname}() option {name.decode('ascii', 'replace')!r} must be "
                       f"{expected}, got {type_name(got)} (type error)")


def _typed_option(fname: str, opts: HArray, name: bytes, default, kind: type, what: str):
    v = opts.d.get(name)
    if v is None:
        return default
    if type(v) is not kind:
        raise _option_error(fname, name, what, v)
    return v


def opt_bool(fname: str, opts: HArray, name: bytes, default: bool) -> bool:
    return _typed_option(fname, opts, name, default, bool, "a boolean")


def opt_str(fname: str, opts: HArray, name: bytes, default=None):
    return _typed_option(fname, opts, name, default, bytes, "a string")


def opt_number(fname: str, opts: HArray, name: bytes, default=None):
    return _typed_option(fname, opts, name, default, float, "a number")


def opt_str_list(fname: str, opts: HArray, name: bytes, default=None):
    """An option that is an array of strings, as a list of its values (in order)."""
    v = opts.d.get(name)
    if v is None:
        return default
    if type(v) is not HArray:
        raise _option_error(fname, name, "an array", v)
    items = list(v.values())
    for item in items:
        if type(item) is not bytes:
            raise ScriptError(f"{fname}() option {name.decode('ascii', 'replace')!r} must "
                              f"hold strings, got {type_name(item)} (type error)")
    return items


def digits_value(digits, cap: int) -> int:
    """The value of a run of ASCII digits (bytes or str) from a script or the network,
    or cap + 1 when it is larger than `cap`: Python refuses int() of more than 4300
    digits, and is slow long before that."""
    d = digits.lstrip(b"0" if type(digits) is bytes else "0")
    if len(d) > 18:
        return cap + 1
    return min(int(d or 0), cap + 1)
