"""What `hsl check` knows about Halon beyond what hsl implements: the core classes of
builtins.md that hsl does not provide yet, and where a file's hook phase comes from (the
phases themselves are hsl/hooks/phases.py, which the engine runs).

These entries exist for checking only (names and arities); nothing here runs. A phase is
given with `--hook PHASE` or read from the path, as Halon's tooling lays a configuration
out: `hooks/<phase>/NAME.hsl` (`hooks/eod/rcpt/NAME.hsl` is EOD too) and
`hooks/queue/predelivery.hsl`, `hooks/queue/postdelivery.hsl`.
"""
from __future__ import annotations

import os
import re
from typing import Optional

from ..hooks.phases import HOOK_FUNCTIONS, PHASES, QUEUE_PHASES, widest_arity

# Every hook function with the widest arity any phase gives it: for a file of a Halon
# project's file area (src/files/), which hooks include, so its phase is not known.
ANY_PHASE_FUNCTIONS: dict[str, tuple] = {name: widest_arity(name) for name in HOOK_FUNCTIONS}


def phase_functions(phase: str) -> dict:
    """name -> (min_args, max_args, terminates) of each hook function of `phase`."""
    return {n: (f.min_args, f.max_args, f.terminates)
            for n, f in PHASES[phase].functions.items()}


def in_file_area(path: str) -> bool:
    """Whether `path` is in the file area of a Halon project (`.../src/files/...`)."""
    return "/src/files/" in os.path.abspath(path).replace(os.sep, "/")

# Core classes of builtins.md that hsl does not implement: (min, max) constructor arguments
# and static methods (name -> (min, max)). Instance methods are not checked statically.
HALON_CLASSES: dict[str, tuple] = {
    "MIME": (0, 0, {}),
    "MailMessage": (0, None, {"String": (1, 1), "File": (1, 1)}),
    "MIMEPart": (0, None, {}),
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
        return name if name in QUEUE_PHASES else None
    return folder if folder in PHASES else None


def hook_function_hint(name: str, phase: Optional[str]) -> str:
    phases = HOOK_FUNCTIONS.get(name, [])
    where = ", ".join(phases)
    if phase is None:
        return (f"{name}() exists only in hook scripts ({where}); give the phase with "
                f"--hook PHASE or keep the file under hooks/<phase>/")
    return f"{name}() exists only in the {where} hook{'s' if len(phases) > 1 else ''}"
