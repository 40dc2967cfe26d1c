"""Reading a DATA message in blocks: the bytes up to the lone dot, dot-unstuffed (RFC 5321
4.5.2), the same bytes the line-by-line reader gave, without a Python step per line.

A line starts at the beginning of the message and after each CRLF (a bare CR or LF does
not end a line); the message ends at the first line that is exactly ".", and a line that
starts with "." loses that dot.  `DotParser.feed` takes the input as it arrives, in blocks
of any size (a line, or the CRLF "." CRLF, may be split across blocks anywhere), and finds
those places with bytes.find; the runs of bytes between them are kept as slices.

    parser = DotParser(maxsize)
    end = parser.feed(block)          # None: more to read; else where the message ended
    parser.result()                   # the message, or TOO_BIG past maxsize
"""
from __future__ import annotations

import asyncio
from typing import Optional

from ..hooks.conversation import TOO_BIG

BLOCK = 65536
_END = b".\r\n"


class DotParser:
    """The message part of an SMTP DATA stream, fed in blocks."""

    __slots__ = ("limit", "parts", "size", "too_big", "tail", "bol")

    def __init__(self, limit: Optional[int] = None):
        self.limit = limit or None
        self.parts: list = []
        self.size = 0                   # bytes of the message so far (unstuffed)
        self.too_big = False            # past the limit: counted, no longer kept
        self.tail = b""                 # held back: may be the start of a terminator
        self.bol = True                 # the next byte starts a line

    def _keep(self, piece) -> None:
        if not piece:
            return
        self.size += len(piece)
        if self.too_big:
            return
        if self.limit and self.size > self.limit:
            self.too_big = True
            self.parts = []
            return
        self.parts.append(piece)

    def feed(self, data: bytes) -> Optional[int]:
        """Take the next block; None while the message goes on, else the number of bytes
        of `data` up to and including the terminating ".\\r\\n" (the rest of `data`
        belongs to the commands after the message)."""
        held = len(self.tail)
        buf = self.tail + data if held else data
        self.tail = b""
        n = len(buf)
        start = pos = 0
        if self.bol:
            if buf[:3] == _END:
                return 3 - held
            if n < 3 and _END.startswith(buf):
                self.tail = buf                 # ".", ".\r" or nothing yet: wait
                return None
            if buf[:1] == b".":
                start = pos = 1                 # a stuffed dot
        find = buf.find
        while True:
            j = find(b"\r\n.", pos)
            if j < 0:
                break
            line = j + 2                        # a line that starts with a dot
            if buf[line:line + 3] == _END:
                self._keep(buf[start:line])
                self.bol = True
                return line + 3 - held
            if n - line < 3 and _END.startswith(buf[line:]):
                self._keep(buf[start:line])     # "." or ".\r" at the end: wait
                self.tail = buf[line:]
                self.bol = True
                return None
            self._keep(buf[start:line])
            start = pos = line + 1              # drop the stuffed dot
        # No more line-start dots in this block: keep it, but hold back a final CR (the
        # CRLF it may start would start a line).
        if buf.endswith(b"\r\n"):
            self._keep(buf[start:])
            self.bol = True
        elif buf.endswith(b"\r"):
            self._keep(buf[start:n - 1])
            self.tail = b"\r"
            self.bol = False
        else:
            self._keep(buf[start:])
            self.bol = False
        return None

    def result(self):
        return TOO_BIG if self.too_big else b"".join(self.parts)


def unread(reader: asyncio.StreamReader, data: bytes) -> None:
    """Give bytes read past the message back to the reader, in front of what it holds
    (the commands a pipelining client sent after the dot).  asyncio's StreamReader has no
    public way to do this; its buffer is a bytearray (CPython 3.8 to 3.13)."""
    if data:
        reader._buffer[0:0] = data


async def read_message(reader: asyncio.StreamReader, limit: Optional[int],
                       on_block=None):
    """The message that follows a 354: its bytes (dot-unstuffed), TOO_BIG past `limit`
    (read to the end, not kept), None when the input ends before the lone dot.
    `on_block()` is called after each block (the idle timer)."""
    parser = DotParser(limit)
    while True:
        data = await reader.read(BLOCK)
        if not data:
            return None
        end = parser.feed(data)
        if on_block is not None:
            on_block()
        if end is not None:
            unread(reader, data[end:])
            return parser.result()
