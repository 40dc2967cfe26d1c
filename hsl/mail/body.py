"""Content-Transfer-Encoding (RFC 2045 6): decoding bodies as received, and encoding new
ones.

Decoding is lenient, as mail readers are: base64 ignores what is not base64 and missing
padding; quoted-printable keeps an `=` that starts no valid escape, and drops the
whitespace at the end of encoded lines.  Unknown encodings (and 7bit, 8bit, binary)
leave the body as it is.
"""
from __future__ import annotations

import base64
import binascii
import re

from ..runtime import execution as _execution

_NOT_B64 = bytes(c for c in range(256)
                 if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c in b"+/="))
_QP_TRAILING = re.compile(rb"[ \t]+(?=\r?\n|\Z)")
_BARE_LF = re.compile(rb"(?<!\r)\n")
_BARE_CR = re.compile(rb"\r(?!\n)")
_LONG_LINE = re.compile(rb"[^\n]{999}")
_UNSAFE = bytes(c for c in range(256) if c < 32 and c not in b"\t\r\n" or c >= 127)


def decode(data: bytes, start: int, end: int, cte: bytes) -> bytes:
    """The body data[start:end] without its transfer encoding `cte` (lowercase)."""
    _execution.work(end - start)
    if cte == b"base64":
        pad = data.find(b"=", start, end)
        if pad < 0 or not data[pad:end].strip(b"= \t\r\n"):
            # Padding only at the end: binascii reads the body where it lies, skipping
            # line breaks and other characters (no copy of a large attachment).
            try:
                return binascii.a2b_base64(memoryview(data)[start:end])
            except binascii.Error:
                pass
        # Padding inside the text ends a run (concatenated base64): each run on its own.
        runs = data[start:end].translate(None, _NOT_B64).split(b"=")
        return b"".join(_b64(run) for run in runs)
    body = data[start:end]
    if cte == b"quoted-printable":
        if b" \n" in body or b"\t\n" in body or b" \r\n" in body or b"\t\r\n" in body \
                or body.endswith((b" ", b"\t")):       # (the search is slow: only if needed)
            body = _QP_TRAILING.sub(b"", body)
        return binascii.a2b_qp(body)
    return body


def _b64(s: bytes) -> bytes:
    r = len(s) % 4
    if r == 1:                           # a lone last character carries no byte
        s = s[:-1]
    elif r:
        s += b"=" * (4 - r)
    return binascii.a2b_base64(s) if s else b""


def crlf(text: bytes) -> bytes:
    """`text` with every line break as CRLF."""
    return _BARE_LF.sub(b"\r\n", text) if b"\n" in text else text


def choose(data: bytes, ctype: bytes = b"") -> bytes:
    """The encoding that reads best for `data`: 7bit for short-lined ASCII text,
    quoted-printable for text that is mostly ASCII, base64 for the rest (and for
    anything with NUL or a CR that ends no line).  A message/* or multipart/* body
    (`ctype`, lowercase) is never encoded (RFC 2046 5.2.1): 7bit, 8bit or binary."""
    binary = b"\0" in data or _BARE_CR.search(data) is not None
    long_lines = _LONG_LINE.search(data) is not None
    if ctype.startswith((b"message/", b"multipart/")):
        if binary or long_lines:
            return b"binary"
        return b"7bit" if data.isascii() else b"8bit"
    if binary:
        return b"base64"
    unsafe = len(data) - len(data.translate(None, _UNSAFE))
    if not unsafe and not long_lines:
        return b"7bit"
    # quoted-printable stays readable while at most a third of the bytes are escaped
    return b"quoted-printable" if unsafe * 3 <= len(data) else b"base64"


def encode(data: bytes, cte: bytes) -> bytes:
    """`data` in transfer encoding `cte` (lowercase), lines ending in CRLF."""
    _execution.work(len(data))
    if cte == b"base64":
        return base64.encodebytes(data).replace(b"\n", b"\r\n")
    if cte == b"quoted-printable":
        text = data.replace(b"\r\n", b"\n")
        return binascii.b2a_qp(text, istext=True).replace(b"\n", b"\r\n")
    if cte == b"7bit":
        return crlf(data)
    return data
