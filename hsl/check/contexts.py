"""What `hsl check` knows about Halon beyond what hsl implements: the hook phases (their
termination functions with arities, and their pre-defined variables) and the core classes of
builtins.md that hsl does not provide yet.

These entries exist for checking only (names and arities); nothing here runs. A phase is
given with `--hook PHASE` or read from the path, as Halon's tooling lays a configuration
out: `hooks/<phase>/NAME.hsl` (`hooks/eod/rcpt/NAME.hsl` is EOD too) and
`hooks/queue/predelivery.hsl`, `hooks/queue/postdelivery.hsl`.
"""
from __future__ import annotations

import os
import re
from typing import Optional

from ..hooks import SMTP_READONLY

# (min_args, max_args, terminates) of each hook function, per phase (builtins.md, "Hook
# contexts").
_SMTP = {"Accept": (0, 1, True), "Reject": (0, 2, True), "Defer": (0, 2, True)}
_QUEUE_META = {"SetMetaData": (1, 1, False), "GetMetaData": (0, 0, False)}

PHASE_FUNCTIONS: dict[str, dict[str, tuple]] = {
    "connect": dict(_SMTP),
    "helo": dict(_SMTP),
    "auth": {**_SMTP, "Reply": (0, 2, True)},
    "mailfrom": dict(_SMTP),
    "rcptto": dict(_SMTP),
    "eod": dict(_SMTP),
    "disconnect": {"Pass": (0, 1, True)},
    "proxy": {"Pass": (0, 1, True), "Reply": (0, 2, True)},
    "predelivery": {"Try": (0, 1, True), "Queue": (0, 1, True), "Bounce": (0, 1, True),
                    "Delete": (0, 1, True), **_QUEUE_META},
    "postdelivery": {"Queue": (0, 1, True), "Bounce": (0, 1, True), "Delete": (0, 1, True),
                     "Default": (0, 0, True), **_QUEUE_META},
}
PHASES = tuple(PHASE_FUNCTIONS)

# Pre-defined variables of each phase, and which of them are read-only.
_SMTP_VARS = ("arguments", "connection", "transaction", "context")
_QUEUE_VARS = ("arguments", "message", "context")
PHASE_VARIABLES = {p: _SMTP_VARS for p in PHASES}
PHASE_VARIABLES["predelivery"] = PHASE_VARIABLES["postdelivery"] = _QUEUE_VARS
PHASE_READONLY = {p: SMTP_READONLY for p in PHASES}
PHASE_READONLY["predelivery"] = ("arguments", "message")
PHASE_READONLY["postdelivery"] = ("arguments", "message", "context")

# Without a phase: the variables any hook may have are known (reading them is fine), and the
# three SMTP context arrays are read-only in every context that has them.
ANY_PHASE_VARIABLES = ("arguments", "connection", "transaction", "context", "message")
ANY_PHASE_READONLY = SMTP_READONLY

# Every hook function name -> the phases that have it.
HOOK_FUNCTIONS: dict[str, list[str]] = {}
for _phase, _table in PHASE_FUNCTIONS.items():
    for _name in _table:
        HOOK_FUNCTIONS.setdefault(_name, []).append(_phase)

TERMINATING = {n for t in PHASE_FUNCTIONS.values() for n, v in t.items() if v[2]}

# Every hook function with the widest arity any phase gives it: for a file of a Halon
# project's file area (src/files/), which hooks include, so its phase is not known.
ANY_PHASE_FUNCTIONS: dict[str, tuple] = {}
for _table in PHASE_FUNCTIONS.values():
    for _name, (_lo, _hi, _term) in _table.items():
        _was = ANY_PHASE_FUNCTIONS.get(_name, (_lo, _hi, _term))
        ANY_PHASE_FUNCTIONS[_name] = (min(_was[0], _lo), None if None in (_was[1], _hi)
                                      else max(_was[1], _hi), _term)


def in_file_area(path: str) -> bool:
    """Whether `path` is in the file area of a Halon project (`.../src/files/...`)."""
    return "/src/files/" in os.path.abspath(path).replace(os.sep, "/")

# Core classes of builtins.md that hsl does not implement: (min, max) constructor arguments
# and static methods (name -> (min, max)). Instance methods are not checked statically.
HALON_CLASSES: dict[str, tuple] = {
    "MIME": (0, 0, {}),
    "MailMessage": (0, None, {"String": (1, 1), "File": (1, 1)}),
    "MIMEPart": (0, None, {}),
    "EODMailMessage": (0, None, {}),
    "Socket": (2, 2, {"AF": (1, 1), "Resource": (1, 1)}),
    "TLSSocket": (2, 2, {}),
    "X509": (1, 1, {"String": (1, 2)}),
    "X509CRL": (1, 1, {"String": (1, 2)}),
    "FFI": (1, 1, {n: (0, None) for n in (
        "type", "cnumber", "cstring", "callback", "nullptr", "allocate", "memcpy", "byref",
        "deref", "offset", "string", "number", "number64", "attach", "detach")}),
}

# Builtins that real Halon scripts call with more arguments than builtins.md (and so hsl's
# registry) allows; the checker accepts the wider range.  (cms_decrypt($body,
# $certificate, $options) of halon-extras smime was one: the registry has it now.)
ARITY_OVERRIDES: dict[str, tuple] = {}

_HOOK_PATH = re.compile(r"(?:^|/)hooks/([A-Za-z]+)/(?:(?:[^/]+/)*)?([^/]*)$")


def phase_from_path(path: str) -> Optional[str]:
    """The hook phase a file's path gives (`.../hooks/eod/x.hsl` -> "eod"), or None."""
    p = os.path.abspath(path).replace(os.sep, "/")
    m = _HOOK_PATH.search(p)
    if m is None:
        return None
    folder, name = m.group(1).lower(), os.path.splitext(m.group(2))[0].lower()
    if folder == "queue":
        return name if name in ("predelivery", "postdelivery") else None
    return folder if folder in PHASE_FUNCTIONS else None


def hook_function_hint(name: str, phase: Optional[str]) -> str:
    phases = HOOK_FUNCTIONS.get(name, [])
    where = ", ".join(phases)
    if phase is None:
        return (f"{name}() exists only in hook scripts ({where}); give the phase with "
                f"--hook PHASE or keep the file under hooks/<phase>/")
    return f"{name}() exists only in the {where} hook{'s' if len(phases) > 1 else ''}"
