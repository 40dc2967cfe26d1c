"""Store a received message in a Maildir (tmp/ -> fsync -> rename into new/), so that a
`250` after DATA is only sent once the message is safely on disk."""
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


def _header_text(value: str) -> bytes:
    return "".join(c if c.isprintable() else "?" for c in value).encode("utf-8", "replace")


def deliver(path: str, envelope, server, now: float) -> str:
    """Write the message; returns its file name in new/. Raises OSError on failure."""
    ensure(path)
    with _lock:
        n = next(_counter)
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
    name = f"{int(now)}.M{int((now % 1) * 1e6)}P{os.getpid()}Q{n}.{host}"
    tmp = os.path.join(path, "tmp", name)
    new = os.path.join(path, "new", name)
    sender = envelope.mail_from or ""
    rcpts = ", ".join(envelope.rcpt_tos)
    head = (b"Return-Path: <" + _header_text(sender) + b">\r\n"
            + b"X-HSL-Recipients: " + _header_text(rcpts) + b"\r\n"
            + b"Received: from " + _header_text(server.session.host_name or "unknown")
            + b" (" + _header_text(server.remote[0]) + b") by "
            + _header_text(server.hostname) + b" (hsl serve) id "
            + server.conn_id.encode() + b"\r\n")
    content = envelope.original_content or b""
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
