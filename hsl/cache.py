"""The one cache directory of hsl, and safe access to it.  It holds the parse tables of the
grammar (`hsl-parser-<key>.marshal`, hsl/syntax/_lalr.py) and the index of the builtins
(`builtins-<key>.json`, hsl/builtins/index.py); each writer names its files
prefix + key + suffix and, after writing one, removes the other versions (`stale=
other_versions(prefix, suffix)`), so the directory keeps one file of each.

Contract:

* `directory()` is a directory that only the current user can write, or None.  It is
  `$XDG_CACHE_HOME/hsl` (an absolute XDG_CACHE_HOME) or `~/.cache/hsl`, else
  `<temp dir>/hsl-<uid>`; each is created 0700 if missing and used only if it is a real
  directory (not a symlink) owned by the current user and not writable by group or others.
  None means no cache at all: callers build what they need in memory (slower, same
  results).
* `read(name)` returns the bytes of a cache file (a regular file of ours), or None.
* `write(name, data)` replaces a cache file atomically, readable by the user only.
* Whatever `read` returns was written by this user, but may be stale, truncated or from
  another hsl version: every caller validates what it reads and treats anything invalid
  as a cache miss.
"""
from __future__ import annotations

import os
import stat
from typing import Optional


def _candidates():
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        yield os.path.join(xdg, "hsl")
    home = os.path.expanduser("~")
    if home != "~" and os.path.isdir(home):       # (never create a missing home)
        yield os.path.join(home, ".cache", "hsl")
    uid = _uid()
    if uid is not None:
        # A shared temp dir: the name is per user, and _ours() rejects a directory that
        # someone else made there first.
        import tempfile
        yield os.path.join(tempfile.gettempdir(), f"hsl-{uid}")


def _uid() -> Optional[int]:
    getuid = getattr(os, "getuid", None)
    return getuid() if getuid is not None else None


def _ours(st: os.stat_result, kind) -> bool:
    uid = _uid()
    return kind(st.st_mode) and (uid is None or st.st_uid == uid) \
        and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def directory() -> Optional[str]:
    """The cache directory to use, or None (see the module's contract)."""
    for d in _candidates():
        try:
            os.makedirs(d, mode=0o700, exist_ok=True)
            if _ours(os.lstat(d), stat.S_ISDIR):
                return d
        except OSError:
            pass
    return None


def read(name: str) -> Optional[bytes]:
    d = directory()
    if d is None:
        return None
    try:
        fd = os.open(os.path.join(d, name), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        try:
            if not _ours(os.fstat(fd), stat.S_ISREG):
                return None
            return f.read()
        except OSError:
            return None


def other_versions(prefix: str, suffix: str):
    """The `stale` test of write() for files named prefix + key + suffix: every other key
    is an older (or another checkout's) version."""
    return lambda name: name.startswith(prefix) and name.endswith(suffix)


def write(name: str, data: bytes, stale=None) -> bool:
    """Store `data` as `name` (written to a new file, then renamed over it); then remove
    the files for which `stale(other_name)` is true (older versions).  False when there
    is no cache directory or the write failed."""
    d = directory()
    if d is None:
        return False
    path = os.path.join(d, name)
    tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        try:
            os.remove(tmp)
        except OSError:
            pass
        return False
    if stale is not None:
        try:
            others = [n for n in os.listdir(d) if n != name and stale(n)]
        except OSError:
            others = []
        for n in others:
            try:
                os.remove(os.path.join(d, n))
            except OSError:
                pass
    return True
