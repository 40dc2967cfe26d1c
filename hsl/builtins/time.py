"""Date and time (builtins.md "Date and time"): executiontime sleep strftime strptime
strpduration time timelocal uptime.

strftime uses the C library's strftime (through Python's time.strftime, which passes the
format to it) one directive at a time, so literal bytes of any value (NUL, UTF-8) are copied
unchanged.  strptime uses Python's strptime parser (the C directive set, whole string must
match); its format is limited to 4096 bytes (Python makes a regular expression of it, in one
call that no time limit can stop), and a directive given twice makes it none."""
from __future__ import annotations

import calendar as _calendar
import re as _re
import time as _t

import _strptime

from ..runtime import execution as _execution
from ..runtime import sources as _sources
from ..errors import ScriptError
from ..runtime.values import HArray
from ._args import opt_bool, type_error
from .registry import builtin

AREA = "time"

_LOADED = _t.monotonic()       # fallback start for executiontime() outside an execution
_MAX_RESULT = 100              # strftime result limit in bytes (builtins.md)
_MAX_FORMAT = 4096             # strptime format limit in bytes (see strptime)
_NUMERIC = _re.compile(rb"\s*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*")
_DIRECTIVE = _re.compile(rb"%[-_0^#]*([0-9]*)[EO]?[A-Za-z%+]")
# strptime directives that set (part of) the date; a format without any is "time only"
_DATE_DIRECTIVES = set(b"YyCGgmbBhdejUWVaAuwDFcxs")


@builtin(area=AREA)
def executiontime():
    """Seconds (with fraction) since the current execution started."""
    ex = _execution.current()
    started = getattr(ex, "started", None) if ex is not None else None
    return _t.monotonic() - (started if started is not None else _LOADED)


@builtin(area=AREA)
def sleep(seconds):
    """Pauses for `seconds` (fractions allowed; 0 or less does not sleep) and returns the
    time actually slept.  A sleep that would pass the execution's time limit sleeps until
    the limit and then ends the execution as the limit does."""
    if type(seconds) is not float:
        raise type_error("sleep", 1, "a number", seconds)
    start = _t.monotonic()
    if not seconds > 0.0:              # also NaN
        return 0.0
    _execution.blocking("sleep")
    ex = _execution.current()
    deadline = getattr(ex, "deadline", None) if ex is not None else None
    if deadline is not None and start + seconds > deadline:
        remaining = deadline - start
        if remaining > 0:
            _t.sleep(remaining)
        raise _execution.LimitExceeded("execution time limit exceeded")
    if seconds > 1e9:
        raise ScriptError("sleep() duration too large")
    _t.sleep(seconds)
    return _t.monotonic() - start


def _broken_down(fname: str, when: float, local: bool):
    try:
        sec = int(when)
        return _t.localtime(sec) if local else _t.gmtime(sec)
    except (OverflowError, OSError, ValueError):
        raise ScriptError(f"{fname}() time out of range") from None


@builtin(area=AREA)
def strftime(format, time=None, options=None):
    """Formats the Unix time `time` (default: now) with C strftime directives; option
    `local` (default true) formats in local time, false in UTC.  Results longer than 100
    bytes give "" (as C strftime with a 100-byte buffer)."""
    if type(format) is not bytes:
        raise type_error("strftime", 1, "a string", format)
    if time is None:
        when = _sources.now()
    elif type(time) is float:
        when = time
    elif type(time) is bytes and _NUMERIC.fullmatch(time):
        # UNSPECIFIED: a numeric string is taken as its number.  Metadata holds only
        # strings, and real queue hooks format a receipt time kept there (SUNET
        # web-logui's postdelivery: strftime($rotate, GetMetaData()["receivedtime"])).
        when = float(time)
    else:
        raise type_error("strftime", 2, "a number", time)
    local = True
    if options is not None:
        if type(options) is not HArray:
            raise type_error("strftime", 3, "an array", options)
        local = opt_bool("strftime", options, b"local", True)
    if when != when or when in (float("inf"), float("-inf")):
        raise ScriptError("strftime() expects a finite time as argument 2")
    tm = _broken_down("strftime", when, local)
    out = []
    size = 0
    pos = 0
    for m in _DIRECTIVE.finditer(format):
        # A directive is at least as long as its width: past the limit the result is ""
        # whatever follows (and C strftime would not make a huge one either).
        width = m.group(1)
        if len(width) > 3 or (width and int(width) > _MAX_RESULT):
            return b""
        out.append(format[pos:m.start()])
        out.append(_t.strftime(m.group().decode("ascii"), tm).encode("utf-8", "surrogateescape"))
        size += len(out[-2]) + len(out[-1])
        if size > _MAX_RESULT:
            return b""
        pos = m.end()
    out.append(format[pos:])
    result = b"".join(out)
    if len(result) > _MAX_RESULT:
        return b""
    return result


@builtin(area=AREA)
def strptime(datestring, format, options=None):
    """Parses `datestring` with a strptime `format` and returns the Unix time, or none when
    it does not match (the whole string must match).  Option `local` (default true)
    interprets the fields in local time, false in UTC; a `%z` offset in the input wins.
    A format without date directives uses today's date."""
    if type(datestring) is not bytes:
        raise type_error("strptime", 1, "a string", datestring)
    if type(format) is not bytes:
        raise type_error("strptime", 2, "a string", format)
    local = True
    if options is not None:
        if type(options) is not HArray:
            raise type_error("strptime", 3, "an array", options)
        local = opt_bool("strptime", options, b"local", True)
    if len(format) > _MAX_FORMAT:
        # Python's strptime makes a regular expression of the format, a few µs a byte,
        # in one call that no time limit can stop.
        raise ScriptError(f"strptime() format too long ({len(format)} bytes; the limit is "
                          f"{_MAX_FORMAT})")
    try:
        fields, fraction, _gmtoff_fraction = _strptime._strptime(
            datestring.decode("latin-1"), format.decode("latin-1"))
    except (ValueError, TypeError, IndexError, OverflowError, _re.error):
        return None     # re.error: a directive given twice
    year, month, day, hour, minute, second = fields[:6]
    gmtoff = fields[10]
    directives = {format[m.end() - 1] for m in _DIRECTIVE.finditer(format)}
    if not directives & _DATE_DIRECTIVES:
        today = _t.localtime(_sources.now()) if local else _t.gmtime(_sources.now())
        year, month, day = today.tm_year, today.tm_mon, today.tm_mday
    try:
        if gmtoff is not None:
            ts = _calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - gmtoff
        elif local:
            ts = _t.mktime((year, month, day, hour, minute, second, 0, 0, -1))
        else:
            ts = _calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (OverflowError, ValueError, OSError):
        return None
    return float(ts) + fraction / 1e6


_DURATION = _re.compile(rb"(?:[0-9]+[dhms])+")
_UNIT = {ord("d"): 86400.0, ord("h"): 3600.0, ord("m"): 60.0, ord("s"): 1.0}
_PART = _re.compile(rb"([0-9]+)([dhms])")


@builtin(area=AREA)
def strpduration(duration):
    """Seconds in a duration like "90s", "15m", "2h", "1d" or "1h30m" (units d h m s); a
    bare number of seconds is accepted; none when the text is not a duration."""
    if type(duration) is not bytes:
        raise type_error("strpduration", 1, "a string", duration)
    if duration.isdigit():
        return float(duration)        # (int() refuses more than 4300 digits)
    if _DURATION.fullmatch(duration) is None:
        return None
    total = 0.0
    for num, unit in _PART.findall(duration):
        total += float(num) * _UNIT[unit[0]]
    return total


@builtin(name="time", area=AREA)
def time_():
    """Current Unix time in seconds with fraction."""
    return _sources.now()


@builtin(area=AREA)
def timelocal():
    """Current Unix time shifted by the local timezone offset."""
    now = _sources.now()
    return now + _t.localtime(now).tm_gmtoff


@builtin(area=AREA)
def uptime():
    """Monotonic seconds since system boot (CLOCK_MONOTONIC where available)."""
    return _t.monotonic()
