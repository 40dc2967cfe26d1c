"""Reading the files users give hsl: scripts (`hsl run FILE`, `hsl check PATH`,
`hsl serve --helo FILE`, the REPL's `.load`), included and imported files, data imports,
session files, DNS tables and certificates.  Every one goes through `read_source`.

Only regular files are read.  A FIFO, a device such as /dev/zero, a socket or a
directory -- also behind a symbolic link -- is refused: stat() says so before the file is
opened, so opening a FIFO cannot block; the file is opened O_NONBLOCK and checked again
with fstat(), in case the path changed in between.  At most MAX_SOURCE_BYTES (16 MiB)
are read: a larger file is refused too, before anything is read.

`display_source` is for showing source lines in diagnostics: the text of a file only
when it is "HSL source" -- a regular file under the cap, valid UTF-8.
"""
from __future__ import annotations

import errno
import os
import stat
from typing import Optional

#: The largest file hsl reads (a script, an included or imported file, a data file).
MAX_SOURCE_BYTES = 16 * 1024 * 1024


class SourceError(OSError):
    """A file hsl will not read; `strerror` says why ("not a regular file", ...), as
    for any OSError."""


def read_source(path: str, limit: int = MAX_SOURCE_BYTES) -> bytes:
    """The bytes of the regular file `path`.  OSError (SourceError for a file that is not
    regular or is larger than `limit`) when it cannot be read."""
    _check(os.stat(path), path, limit)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        _check(os.fstat(fd), path, limit)
        chunks, size = [], 0
        while size <= limit:            # (the file may grow while it is read)
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise _too_large(path, limit)
    return b"".join(chunks)


def read_source_text(path: str) -> str:
    """read_source(path) as text: UTF-8, undecodable bytes kept (surrogateescape)."""
    return read_source(path).decode("utf-8", "surrogateescape")


def display_source(path: str) -> Optional[str]:
    """The text of `path` when it is HSL source hsl would read (a regular file of at most
    MAX_SOURCE_BYTES, valid UTF-8), else None."""
    try:
        return read_source(path).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _check(st: os.stat_result, path: str, limit: int) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise SourceError(errno.EISDIR, "is a directory", path)
    if not stat.S_ISREG(st.st_mode):
        raise SourceError(errno.EINVAL, "not a regular file", path)
    if st.st_size > limit:
        raise _too_large(path, limit)


def _too_large(path: str, limit: int) -> SourceError:
    shown = f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"
    return SourceError(errno.EFBIG, f"file too large (the limit is {shown})", path)
