"""SMTP replies, for every phase: `CODE-text` continuation lines and a last `CODE text`
line, an enhanced status code on each line when there is one, and nothing from a script
that could start a reply line of its own (RFC 5321 4.2, 4.5.3.1.5)."""
from __future__ import annotations

import re
from typing import Optional

MAX_REPLY_LINE = 512          # octets per reply line, CRLF included (RFC 5321 4.5.3.1.5)

_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


def sanitize_line(text: bytes, prefix_len: int) -> bytes:
    """One reply line's text: control characters (CR, LF, NUL, ...) become spaces so they
    can never start a new reply line, and the line is cut so that the whole line with its
    code prefix and CRLF fits in 512 octets (without splitting a UTF-8 sequence)."""
    text = _CONTROL.sub(b" ", text)
    room = MAX_REPLY_LINE - prefix_len - 2
    if len(text) > room:
        text = text[:room]
        # Do not leave half of a UTF-8 sequence at the end.
        while text and (text[-1] & 0xC0) == 0x80:
            text = text[:-1]
        if text and text[-1] >= 0xC0:
            text = text[:-1]
    return text


def enhanced_text(enhanced: Optional[list]) -> str:
    return ".".join(str(x) for x in enhanced) if enhanced else ""


def reply_texts(lines: list, enhanced: Optional[list]) -> list:
    """The text of each reply line (str), made safe and cut to fit its line."""
    prefix = 4 + (len(enhanced_text(enhanced)) + 1 if enhanced else 0)
    return [sanitize_line(line, prefix).decode("utf-8", "surrogateescape") for line in lines]


def wire_lines(code: Optional[int], enhanced: Optional[list], texts: list) -> list:
    """The reply as it goes on the wire (bytes, without CRLF); none without a code."""
    if code is None:
        return []
    prefix = str(code).encode()
    enh = enhanced_text(enhanced).encode() + b" " if enhanced else b""
    texts = [line.encode("utf-8", "surrogateescape") for line in texts] or [b""]
    out = []
    for i, text in enumerate(texts):
        sep = b" " if i == len(texts) - 1 else b"-"
        out.append(prefix + sep + enh + text)
    return out
