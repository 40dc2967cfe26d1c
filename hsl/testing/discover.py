"""Finding the tests under the PATHs `hsl test` is given (docs/testing.md "Where tests
live"):

* a file named `*.test.yaml` (or `*.test.yml`, `*.test.json`) is a test file; given by
  name, any file is read as one;
* a folder `sessions/<policy>/` next to a script `<policy>.hsl` is that script's fixtures
  in the older layout (testfile.legacy_suite), unless a test file `<policy>.test.yaml`
  sits next to the script: then the test file says what to run.

Folders are searched recursively, in name order, skipping hidden ones and virtual
environments.  Each found item is ("file", path) or ("legacy", script, folder).
"""
from __future__ import annotations

import os

TEST_SUFFIXES = (".test.yaml", ".test.yml", ".test.json")
_SKIPPED = {"node_modules", "__pycache__", "site", "venv"}


class DiscoveryError(ValueError):
    """A PATH that does not exist."""


def discover(paths: list) -> list:
    """The test files and legacy fixture folders under `paths`, each once, in order."""
    found: list = []
    for path in paths:
        if os.path.isfile(path):
            found.append(("file", path))
        elif os.path.isdir(path):
            found += _walk(path)
        else:
            raise DiscoveryError(f"{path}: no such file or directory")
    seen, out = set(), []
    for item in found:
        key = tuple(os.path.abspath(p) for p in item[1:])
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _walk(top: str) -> list:
    out = []
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED
                         and not os.path.isfile(os.path.join(folder, d, "pyvenv.cfg")))
        out += [("file", os.path.normpath(os.path.join(folder, f))) for f in sorted(files)
                if f.endswith(TEST_SUFFIXES)]
        if os.path.basename(folder) == "sessions":
            out += _legacy(folder)
    return out


def _legacy(sessions: str) -> list:
    """The policies of a `sessions/` folder whose script is beside it."""
    parent = os.path.dirname(sessions)
    out = []
    for policy in sorted(os.listdir(sessions)):
        folder = os.path.normpath(os.path.join(sessions, policy))
        script = os.path.normpath(os.path.join(parent, policy + ".hsl"))
        if not os.path.isdir(folder) or not os.path.isfile(script):
            continue
        if any(os.path.isfile(os.path.join(parent, policy + s)) for s in TEST_SUFFIXES):
            continue                        # its test file says what to run
        out.append(("legacy", script, folder))
    return out
