"""System and logging builtins (builtins.md "System and logging").

`syslog()` in standalone use goes to the Python logging module, logger "hsl.syslog", with
the syslog priority mapped to a logging level (emerg/alert/crit -> CRITICAL, err -> ERROR,
warning -> WARNING, notice/info -> INFO, debug -> DEBUG); the record carries the numeric
priority and facility as `syslog_priority` / `syslog_facility`.  When that logger has no
handler anywhere up its hierarchy (the application configured no logging), the line is
written to standard error instead, as `syslog[NAME]: message`, so scripts run from the
command line show their logs.  `FFIFunction` is unavailable (FFI is not implemented).
"""
from __future__ import annotations

import logging
import math
import socket
import sys

from ..runtime import execution as _execution
from ..errors import ScriptError
from ._args import type_error
from ._limits import ACCOUNT, reserve_string
from .registry import builtin, unavailable

AREA = "misc"

_logger = logging.getLogger("hsl.syslog")

PRIORITY_NAMES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]
_BY_NAME = {n.encode(): i for i, n in enumerate(PRIORITY_NAMES)}
_BY_NAME.update({b"emergency": 0, b"panic": 0, b"critical": 2, b"error": 3, b"warn": 4})
_LEVELS = [logging.CRITICAL, logging.CRITICAL, logging.CRITICAL, logging.ERROR,
           logging.WARNING, logging.INFO, logging.INFO, logging.DEBUG]


@builtin(area=AREA)
def gethostname():
    """The host name of this machine."""
    return socket.gethostname().encode("utf-8", "surrogateescape")


@builtin("syslog", area=AREA)
def syslog_(priority, message):
    """Log `message` with a syslog priority (a name or a number 0-7, facility bits
    allowed); returns none."""
    if type(message) is not bytes:
        raise type_error("syslog", 2, "a string", message)
    if type(priority) is bytes:
        prio = _BY_NAME.get(priority.lower())
        if prio is None:
            raise ScriptError("syslog() priority must be one of emerg, alert, crit, err, "
                              f"warning, notice, info, debug, got {priority!r}")
        facility = 0
    elif type(priority) is float:
        if not math.isfinite(priority) or priority < 0:
            raise ScriptError("syslog() priority must be a non-negative number")
        n = int(priority)
        prio, facility = n & 7, n >> 3
    else:
        raise type_error("syslog", 1, "a string or a number", priority)
    _execution.blocking("syslog")
    if len(message) >= ACCOUNT:
        reserve_string(4 * len(message))        # as text, and as written
    text = message.decode("utf-8", "replace")
    if _logger.hasHandlers():
        _logger.log(_LEVELS[prio], "%s", text,
                    extra={"syslog_priority": prio, "syslog_facility": facility})
    else:
        sys.stderr.write(f"syslog[{PRIORITY_NAMES[prio]}]: {text}\n")
    return None


unavailable("FFIFunction", "...args", area=AREA,
            reason="calls native code through FFI, which hsl does not implement")
