"""The libraries whose internals hsl uses, and the versions it is tested with.

* lark: hsl/syntax/_lalr_build.py reads Lark's LALR analysis (the parse table's states and
  Shift actions, the rules' options, the contextual lexer's root lexer and terminals) to
  build hsl's own parse tables.
* aiosmtpd: hsl serve (hsl/serve/smtp.py) subclasses aiosmtpd's SMTP, sets the
  attributes of its 1.4 constructor itself and replaces parts of its command loop.

Another version may rename what hsl reads, and fail in ways that say nothing about the
cause; so hsl refuses to use one (`require`, where the internals are used) with a message
that names the package, the installed version and the tested ones.  pyproject.toml pins
the same ranges (tests/test_versions.py checks that they agree).
"""
from __future__ import annotations

from typing import Optional

# distribution: (lowest tested version, first version not tested, what uses it)
TESTED = {
    "lark": ("1.3", "1.4", "hsl's parser-table builder (hsl/syntax/_lalr_build.py)"),
    "aiosmtpd": ("1.4", "1.5", "hsl serve (hsl/serve/smtp.py)"),
}


class UnsupportedVersion(BaseException):
    """An installed library is not a version hsl is tested with (or is missing).  Not an
    Exception: the handlers that turn errors into diagnostics (hsl check's "internal
    error", the REPL's) must let it through to the command line, which reports it."""


def spec(name: str) -> str:
    """The requirement, as pyproject.toml writes it: "lark>=1.3,<1.4"."""
    low, high, _ = TESTED[name]
    return f"{name}>={low},<{high}"


def installed(name: str) -> Optional[str]:
    """The installed version of `name` (the module's own __version__), None if missing."""
    import importlib
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    version = getattr(module, "__version__", None)
    if version is None:
        from importlib import metadata
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            return None
    return str(version)


def _numbers(version: str) -> tuple:
    import re
    m = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(n) for n in m.group().split(".")) if m else ()


def problem(name: str) -> Optional[str]:
    """Why the installed `name` cannot be used (None: it can)."""
    low, high, user = TESTED[name]
    version = installed(name)
    fix = f"install a tested version: pip install '{spec(name)}'"
    if version is None:
        return f"{name} is not installed; {user} needs {spec(name)}: {fix}"
    if _numbers(low) <= _numbers(version) < _numbers(high):
        return None
    return (f"{name} {version} is installed, but {user} uses its internals and is tested "
            f"with {name} >={low},<{high} only: {fix}")


def require(name: str) -> None:
    """UnsupportedVersion (with problem()'s message) unless `name` can be used."""
    why = problem(name)
    if why is not None:
        raise UnsupportedVersion(why)
