"""TCP connections whose every wait is a clock's (hsl.net.clock): connecting, sending and
receiving block at most one slice at a time, never past the clock's deadlines, and a
cancelled run stops in the middle of any of them.
"""
from __future__ import annotations

import errno
import io
import os
import selectors
import socket
import ssl
from typing import Optional

from . import offline
from .hosts import family


def connect(address: tuple, clock, timeout: Optional[float] = None,
            source: Optional[str] = None) -> socket.socket:
    """A TCP connection to `address` ((ip, port, ...)) from `source` (an IP address to
    bind) within `timeout` seconds and the clock's deadlines: socket.timeout after
    them, OSError when the connection is refused or cannot be made."""
    offline.check(f"connect to {address[0]} port {address[1]}")
    end = clock.deadline(timeout)
    sock = socket.socket(family(address[0]), socket.SOCK_STREAM)
    try:
        if source:
            sock.bind((source, 0))
        sock.setblocking(False)
        err = sock.connect_ex(address)
        if err in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            with selectors.DefaultSelector() as sel:
                sel.register(sock, selectors.EVENT_WRITE)
                while not sel.select(clock.slice(end)):
                    pass
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))
        return sock
    except BaseException:
        sock.close()
        raise


class Conn:
    """A connected socket (plain or TLS) for http.client and smtplib, which read through
    makefile(): every wait is bounded by the clock and by `settimeout()`'s seconds for
    each operation, as a socket's timeout is (none: the clock's deadlines only)."""

    def __init__(self, sock: socket.socket, clock):
        self.sock = sock
        self.clock = clock
        self.timeout: Optional[float] = None

    def settimeout(self, seconds: Optional[float]) -> None:
        self.timeout = seconds

    def sendall(self, data: bytes) -> None:
        end = self.clock.deadline(self.timeout)
        view = memoryview(data)
        while view:
            self.sock.settimeout(self.clock.slice(end))
            try:
                sent = self.sock.send(view[:262144])
            except socket.timeout:
                continue
            view = view[sent:]

    def recv_into(self, buf) -> int:
        end = self.clock.deadline(self.timeout)
        while True:
            self.sock.settimeout(self.clock.slice(end))
            try:
                return self.sock.recv_into(buf)
            except (socket.timeout, ssl.SSLWantReadError):
                continue

    def recv(self, n: int) -> bytes:
        buf = bytearray(n)
        got = self.recv_into(buf)
        return bytes(buf[:got])

    def makefile(self, mode="rb", *args, **kwargs):
        return io.BufferedReader(_Reader(self), 65536)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class _Reader(io.RawIOBase):
    def __init__(self, conn: Conn):
        self.conn = conn

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        return self.conn.recv_into(b)
