"""The configuration file of `hsl check`.

`hsl check` reads the first of these it finds, looking in the working directory and then
each parent directory:

* `.hslcheck.toml` (top-level keys), or
* `pyproject.toml` with a `[tool.hsl-check]` table.

Keys (all optional; command-line options win over the file):

    hook = "eod"                         # phase of every checked file (else from the path)
    include = ["src/files", "lib"]       # like -I; relative to the configuration file
    allow-unknown-functions = false      # accept functions/classes/modules of plugins
    plugin-functions = ["dlp"]           # ... or accept just these names, any arity
    plugins = ["plugins.yaml"]           # like --plugins: declared plugins (arity checked)
    extras = ["vendor/extras"]           # like --extras: where extras:// packages are
    no-warnings = false
    error-on-warning = false
    exclude = ["vendor/*", "*.test.hsl"] # glob patterns (relative paths) not to check
    format = "text"                      # text, json or github
"""
from __future__ import annotations

import os
from typing import Optional

from ..syntax.sourcefile import read_source

KEYS = {"hook": str, "include": list, "allow-unknown-functions": bool,
        "plugin-functions": list, "plugins": list, "extras": list, "no-warnings": bool,
        "error-on-warning": bool, "exclude": list, "format": str}


class ConfigError(Exception):
    pass


def _toml(path: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:         # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ConfigError(f"{path}: reading TOML needs Python 3.11 or the tomli package") \
                from None
    try:
        return tomllib.loads(read_source(path).decode("utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except ValueError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None


def find(start: str = ".") -> Optional[str]:
    d = os.path.abspath(start)
    while True:
        for name in (".hslcheck.toml", "pyproject.toml"):
            p = os.path.join(d, name)
            if os.path.isfile(p):
                if name == "pyproject.toml":
                    try:
                        if "hsl-check" not in _toml(p).get("tool", {}):
                            continue
                    except ConfigError:
                        continue
                return p
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def load(path: str) -> dict:
    """The validated settings of a configuration file (keys as above)."""
    data = _toml(path)
    if os.path.basename(path) == "pyproject.toml":
        data = data.get("tool", {}).get("hsl-check", {})
    out = {}
    for key, value in data.items():
        want = KEYS.get(key)
        if want is None:
            raise ConfigError(f"{path}: unknown key {key!r} (known: {', '.join(KEYS)})")
        if not isinstance(value, want):
            raise ConfigError(f"{path}: {key} must be a {want.__name__}")
        if want is list and not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: {key} must be a list of strings")
        out[key] = value
    base = os.path.dirname(os.path.abspath(path))
    for key in ("include", "plugins", "extras"):
        if key in out:
            out[key] = [os.path.join(base, p) for p in out[key]]
    out["_base"] = base
    return out
