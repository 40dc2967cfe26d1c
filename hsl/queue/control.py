"""The control channel of a running queue: `hsl queue hold|release|delete|bounce ID` while
another process (`hsl queue run`, `hsl serve --queue`) owns the spool.

The owner listens on a Unix socket in the spool directory (`SPOOL/.control`); an action
that finds the spool locked asks the owner instead, and the owner changes its own Queue
(the one that holds the lock), so there is still one writer of queue state.  One request
per connection, one JSON line each way:

    -> {"action": "hold", "id": "<entry id>"}
    <- {"ok": true, "message": ""}      or      {"ok": false, "error": "...", "usage": bool}

`usage` tells an unknown id or a bad request (exit 2) from a refused change (exit 1).
Deleting or bouncing an entry that is being attempted at that moment is refused (try
again when the attempt is over): its outcome would otherwise race the operator's.
The socket is made by the owner only (its mode 0600: the spool's owner), and removed
when it stops; a socket left by a killed owner is replaced by the next one.
"""
from __future__ import annotations

import json
import os
import socket
import threading
from typing import Callable, Optional

from .state import QueueError, StateError
from .store import UnknownEntry

SOCKET_NAME = ".control"
MAX_REQUEST = 4096
TIMEOUT = 10.0


class ControlUnavailable(Exception):
    """No owner answers on the spool's control socket."""


def socket_path(spool_dir: str) -> str:
    return os.path.join(spool_dir, SOCKET_NAME)


def _actions(queue) -> dict:
    return {"hold": queue.hold, "release": queue.release, "delete": queue.delete,
            "bounce": queue.request_bounce}


class ControlServer:
    """Answers control requests for `queue` (an owner's Queue) on a thread of its own.
    `busy(entry_id)` says whether an attempt of the entry is running now."""

    def __init__(self, queue, busy: Callable[[str], bool] = lambda entry_id: False,
                 on_change: Optional[Callable[[], None]] = None):
        self.queue = queue
        self.busy = busy
        self.on_change = on_change
        self.path = socket_path(queue.spool_dir)
        self._sock: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "ControlServer":
        """Listen; an OSError (a path too long for a Unix socket, a read-only spool)
        leaves the queue without a control channel, which start() reports by raising."""
        try:
            os.unlink(self.path)        # a stale socket of a killed owner (we own the lock)
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old = os.umask(0o177)
            try:
                sock.bind(self.path)
            finally:
                os.umask(old)
            sock.listen(8)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="hsl-queue-control",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        if self._thread is not None:
            self._thread.join(TIMEOUT)

    def __enter__(self) -> "ControlServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _serve(self) -> None:
        while self._sock is not None:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return                  # closed
            with conn:
                try:
                    conn.settimeout(TIMEOUT)
                    reply = self.answer(_read_line(conn))
                    conn.sendall(json.dumps(reply).encode("utf-8") + b"\n")
                except OSError:
                    continue            # the client went away: nothing to answer

    def answer(self, data: bytes) -> dict:
        """The reply to one request line (never raises for a bad request)."""
        try:
            request = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return _refused("the control request is not JSON", usage=True)
        if not isinstance(request, dict) or not isinstance(request.get("id"), str):
            return _refused("the control request needs an action and an id", usage=True)
        action, entry_id = request.get("action"), request["id"]
        change = _actions(self.queue).get(action)
        if change is None:
            return _refused(f"unknown control action {action!r}", usage=True)
        if action in ("delete", "bounce") and self.busy(entry_id):
            return _refused(f"queue entry {entry_id} is being attempted right now: try "
                            "again when the attempt is over")
        try:
            change(entry_id)
        except UnknownEntry as e:
            return _refused(str(e), usage=True)
        except StateError as e:
            return _refused(str(e), usage=not e.writing)
        except QueueError as e:
            return _refused(str(e), usage=True)
        except OSError as e:
            return _refused(f"{entry_id}: {e.strerror or e}")
        if self.on_change is not None:
            self.on_change()
        return {"ok": True}


def _refused(message: str, usage: bool = False) -> dict:
    return {"ok": False, "error": message, "usage": usage}


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data and len(data) < MAX_REQUEST:
        chunk = conn.recv(MAX_REQUEST)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0]


def request(spool_dir: str, action: str, entry_id: str) -> dict:
    """Ask the owner of `spool_dir` to do `action` on `entry_id`; its reply.
    ControlUnavailable when nobody answers."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    try:
        try:
            sock.connect(socket_path(spool_dir))
        except OSError as e:
            raise ControlUnavailable(str(e)) from None
        try:
            sock.sendall(json.dumps({"action": action, "id": entry_id}).encode() + b"\n")
            line = _read_line(sock)
        except OSError as e:
            raise ControlUnavailable(str(e)) from None
    finally:
        sock.close()
    try:
        reply = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ControlUnavailable("the owner's reply is not JSON") from None
    if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
        raise ControlUnavailable("the owner's reply is not a control reply")
    return reply
