"""`hsl test --watch`: run the tests, then rerun the affected test files whenever a file
they depend on changes (the test file, a session file or folder it reads, the scripts
it tests and every file those include or import), until Ctrl-C.

Changes are found by polling modification times (no platform file-event API to
depend on): every POLL seconds; a change starts a rerun once nothing more has changed
for DEBOUNCE seconds (an editor's save is often several writes).  Test files added under
the PATHs are found at the next rerun.
"""
from __future__ import annotations

import os
import sys
import time

POLL = 0.25
DEBOUNCE = 0.3


def watch(run, paths: list) -> int:
    """`run(paths, depends)` (one reported run, its exit status) now, then again for the
    affected test files on each change; the last exit status after Ctrl-C."""
    depends: dict = {}                  # test file -> the files it depends on
    status = run(paths, depends)
    try:
        while True:
            seen = _stamps(depends, paths)
            _say(f"watching {len(seen)} files (Ctrl-C to stop)")
            changed = _wait(seen, depends, paths)
            affected = sorted(t for t, files in depends.items() if files & changed)
            if not affected:            # (a new test file, or one that did not load)
                affected = list(paths)
            shown = ", ".join(sorted(_shown(p) for p in changed))
            _say(f"{shown} changed: rerunning {', '.join(_shown(p) for p in affected)}")
            for test in affected:
                depends.pop(test, None)
            status = run(affected, depends)
    except KeyboardInterrupt:
        return status


def _files(depends: dict, paths: list) -> set:
    files = set().union(*depends.values()) if depends else set()
    for path in paths:                  # (a test file that did not load is still watched)
        if os.path.isfile(path):
            files.add(os.path.abspath(path))
    return files


def _stamps(depends: dict, paths: list) -> dict:
    out = {}
    for path in _files(depends, paths):
        try:
            st = os.stat(path)
            out[path] = (st.st_mtime_ns, st.st_size)
        except OSError:
            out[path] = None            # (gone: its return is a change)
    return out


def _wait(seen: dict, depends: dict, paths: list) -> set:
    """The files changed since `seen`, once they have stopped changing."""
    while True:
        time.sleep(POLL)
        now = _stamps(depends, paths)
        if now != seen:
            break
    while True:                         # debounce: until a quiet DEBOUNCE
        time.sleep(DEBOUNCE)
        later = _stamps(depends, paths)
        if later == now:
            return {p for p in now if now[p] != seen.get(p)}
        now = later


def _say(line: str) -> None:
    sys.stdout.write(f"--- {line}\n")
    sys.stdout.flush()


def _shown(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel
