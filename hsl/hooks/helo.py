"""The HELO/EHLO hook: the `helo` entry of the phase engine (hsl/hooks/engine.py, with
the table in hsl/hooks/phases.py), under the names `hsl serve` and the HELO tests use.

`run_helo(program, session)` runs a program compiled with `compile_helo()` once, as the
Halon HELO hook would, and returns a HookResult (`host` and `extensions` among its facts).
"""
from __future__ import annotations

from .engine import HookResult, HookSession, compile_hook, run_hook
from .phases import PHASES

CONTEXT = "helo"
READONLY = PHASES[CONTEXT].readonly

# A HELO command is checked on the session every phase uses.
HeloSession = HookSession
HeloResult = HookResult


def compile_helo(source: str, filename: str = "<string>", **options):
    """Compile a HELO hook script (see engine.compile_hook)."""
    return compile_hook(CONTEXT, source, filename, **options)


# Run a program of compile_helo() for one command (its phase is the program's).
run_helo = run_hook
