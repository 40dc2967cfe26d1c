"""`hsl serve --maildir DIR` (kept for compatibility; the spool is where messages go): a
committed transaction's message is also written to a Maildir (tmp/ -> fsync -> rename into
new/), once, with its sender and every recipient in its header."""
from __future__ import annotations

import itertools
import os
import socket
import threading

_counter = itertools.count(1)
_lock = threading.Lock()


def ensure(path: str) -> None:
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)


def _header_text(value) -> bytes:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "?" for c in value).encode("utf-8", "replace")


def deliver(path: str, copies: list, helo: str, remoteip: str, hostname: str,
            conn_id: str, now: float) -> str:
    """Write the message of a transaction's copies (spool.Copy: the first one's bytes, every
    recipient); returns its file name in new/. Raises OSError on failure."""
    ensure(path)
    with _lock:
        n = next(_counter)
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
    name = f"{int(now)}.M{int((now % 1) * 1e6)}P{os.getpid()}Q{n}.{host}"
    tmp = os.path.join(path, "tmp", name)
    new = os.path.join(path, "new", name)
    sender = copies[0].sender or ""
    rcpts = ", ".join(c.recipient for c in copies)
    head = (b"Return-Path: <" + _header_text(sender) + b">\r\n"
            + b"X-HSL-Recipients: " + _header_text(rcpts) + b"\r\n"
            + b"Received: from " + _header_text(helo or "unknown")
            + b" (" + _header_text(remoteip) + b") by "
            + _header_text(hostname) + b" (hsl serve) id "
            + conn_id.encode() + b"\r\n")
    content = copies[0].message
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(head)
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, new)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dirfd = os.open(os.path.join(path, "new"), os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)
    return name
