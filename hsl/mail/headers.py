"""Header fields: names, unfolding, decoding (RFC 2047 words, undeclared 8-bit text),
encoding and folding of new values, and MIME parameters (RFC 2045 with RFC 2231).

All text is bytes.  Decoded text is UTF-8.  Nothing here knows where a field sits in a
message: parse.py finds the fields, model.py edits them.
"""
from __future__ import annotations

import codecs
import re
from typing import Optional

from ..builtins.encodings import (_ENCODED_WORD, _Q_HEX, _b64decode, _utf8_chunks,
                                  mimeword_encode)

WSP = b" \t"
_FWS = b" \t\r\n"
# A field starts with its name (RFC 5322 ftext, then obsolete whitespace) and a colon.
FIELD_START = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+\Z")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_BREAK = re.compile(rb"\r\n|\r|\n")
_NEEDS_ENCODING = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f-\xff]|=\?")
_TOKENS = re.compile(rb"([ \t]+)")
LINE = 78                 # fold new fields at this width (RFC 5322 2.1.1: SHOULD)


def valid_name(name: bytes) -> bool:
    return _NAME.match(name) is not None


def unfold(raw: bytes) -> bytes:
    """A field value as text: folds removed (RFC 5322 2.2.3), outer whitespace stripped."""
    if b"\n" in raw:
        raw = _FOLD.sub(b"", raw)
        if b"\n" in raw or b"\r" in raw:      # a break without a fold: broken input
            raw = _BREAK.sub(b"", raw)
    return raw.strip(_FWS)


# ---------------------------------------------------------------------------------------
# Character sets

_ALIASES = {"iso-8859-8-i": "iso8859_8", "iso-8859-6-i": "iso8859_6",
            "ks_c_5601-1987": "cp949", "x-sjis": "shift_jis", "x-gbk": "gbk",
            "gb2312": "gb18030", "x-mac-roman": "mac_roman", "unicode-1-1-utf-7": "utf_7"}
# Candidates for undeclared 8-bit text: the character sets mail is written in.
_DETECT = ["cp1252", "cp1250", "cp1251", "koi8_r", "iso8859_2", "iso8859_7", "cp1253",
           "cp1254", "cp1255", "cp1256", "cp1257", "shift_jis", "euc_jp", "iso2022_jp",
           "gb18030", "big5", "euc_kr"]


def text_codec(charset: bytes) -> Optional[str]:
    """Python's codec for a MIME charset name, or None (unknown, or not a text codec)."""
    name = charset.split(b"*", 1)[0].strip().decode("ascii", "replace").lower()
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def detect(sample: bytes) -> Optional[str]:
    """The likely character set of 8-bit text that is not UTF-8 (charset-normalizer)."""
    try:
        import charset_normalizer
    except ImportError:               # an optional nicety: without it, text stays as is
        return None
    best = charset_normalizer.from_bytes(sample[:65536], cp_isolation=_DETECT).best()
    return None if best is None else best.encoding


def to_utf8(text: bytes, charset: Optional[bytes], guess=None) -> bytes:
    """8-bit `text` as UTF-8: as is when it is UTF-8 already, else read in `charset`, else
    in the character set `guess()` detects, else unchanged."""
    if text.isascii():
        return text
    try:
        text.decode("utf-8")
        return text
    except UnicodeDecodeError:
        pass
    for codec in (text_codec(charset) if charset else None, guess() if guess else None):
        if codec:
            try:
                return text.decode(codec).encode("utf-8")
            except (UnicodeDecodeError, LookupError):
                continue
    return text


# ---------------------------------------------------------------------------------------
# RFC 2047

def _word_bytes(enc: bytes, text: bytes) -> Optional[bytes]:
    if enc in b"Bb":
        return _b64decode(text)
    return _Q_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), text.replace(b"_", b" "))


def decode_words(s: bytes) -> bytes:
    """Decode the RFC 2047 encoded words of `s` to UTF-8.  Whitespace between adjacent
    words goes (6.2); adjacent words of one charset are decoded together, so a character
    split across two words survives; undecodable words stay as they are."""
    if b"=?" not in s:
        return s
    out: list = []
    pos = 0
    run: list = []                   # raw bytes of adjacent words of one charset
    run_codec = None
    after_word = False               # the text before `pos` ends with a decoded word

    def flush():
        if run:
            out.append(b"".join(run).decode(run_codec, "replace").encode("utf-8"))
            run.clear()

    for m in _ENCODED_WORD.finditer(s):
        between = s[pos:m.start()]
        charset, enc, text = m.groups()
        codec = text_codec(charset)
        raw = _word_bytes(enc, text) if codec else None
        if raw is None:
            flush()
            out += [between, m.group(0)]
            after_word = False
        else:
            joined = after_word and not between.strip(_FWS)
            if not (joined and codec == run_codec):
                flush()
                if not joined:
                    out.append(between)
                run_codec = codec
            run.append(raw)
            after_word = True
        pos = m.end()
    flush()
    out.append(s[pos:])
    return b"".join(out)


def decode_value(raw: bytes, charset: Optional[bytes] = None, guess=None) -> bytes:
    """What getHeader() returns with decode: unfolded, 8-bit text made UTF-8 (to_utf8),
    encoded words decoded."""
    return decode_words(to_utf8(unfold(raw), charset, guess))


_B_PREFIX = b"=?utf-8?B?"
_B_MAX = (75 - len(_B_PREFIX) - 2) // 4 * 3        # bytes of text per B word


def _b_words(text: bytes) -> bytes:
    import base64
    words, cur = [], b""
    for ch in _utf8_chunks(text):
        if len(cur) + len(ch) > _B_MAX and cur:
            words.append(cur)
            cur = b""
        cur += ch
    words.append(cur)
    return b" ".join(_B_PREFIX + base64.b64encode(w) + b"?=" for w in words)


def encode_value(value: bytes, base64: bool = False) -> bytes:
    """A new field value with every run of words that needs it (8-bit or control
    characters, or text that reads as an encoded word) as RFC 2047 encoded words in
    UTF-8, Q (default) or B; line breaks in `value` become spaces."""
    if b"\r" in value or b"\n" in value:
        value = _BREAK.sub(b" ", _FOLD.sub(b"", value))
    if _NEEDS_ENCODING.search(value) is None:
        return value
    pieces = _TOKENS.split(value)        # token, space, token, ...
    out: list = []
    i = 0
    while i < len(pieces):
        token = pieces[i]
        if i % 2 or not _NEEDS_ENCODING.search(token):
            out.append(token)
            i += 1
            continue
        j = i                            # the run: needy tokens with only space between
        while j + 2 < len(pieces) and _NEEDS_ENCODING.search(pieces[j + 2]):
            j += 2
        run = b"".join(pieces[i:j + 1])
        out.append(_b_words(run) if base64 else mimeword_encode(run))
        i = j + 1
    return b"".join(out)


def fold(name: bytes, value: bytes) -> bytes:
    """`name: value` CRLF, folded before whitespace so lines stay within 78 characters
    where the words allow."""
    line = name + b": "
    if len(line) + len(value) <= LINE:
        return line + value + b"\r\n"
    pieces = _TOKENS.split(value)
    out = [line]
    width = len(line)
    for i, piece in enumerate(pieces):
        if i % 2 and i + 1 < len(pieces) and width + len(piece) + len(pieces[i + 1]) > LINE \
                and width > len(name) + 2:
            out.append(b"\r\n")
            width = 0
        out.append(piece)
        width += len(piece)
    return b"".join(out) + b"\r\n"


def new_field(name: bytes, value: bytes, encode: bool = True, base64: bool = False) -> bytes:
    """The bytes of a new field.  `encode`: RFC 2047 words where needed, then folding;
    else `name: value` CRLF with the value as given (one final line break of it is
    dropped, so that it cannot end the header)."""
    if not encode:
        return name + b": " + value.rstrip(b"\r\n") + b"\r\n"
    return fold(name, encode_value(value, base64))


# ---------------------------------------------------------------------------------------
# MIME parameters (RFC 2045 5.1, RFC 2231)

_PARAM = re.compile(rb'[ \t\r\n]*;[ \t\r\n]*([^\x00-\x20()<>@,;:\\"/\[\]?=]+)[ \t\r\n]*='
                    rb'[ \t\r\n]*(?:"((?:[^"\\]|\\.)*)"?|([^;]*))', re.S)
_QUOTED_PAIR = re.compile(rb"\\(.)", re.S)
_SECTION = re.compile(rb"(.*?)\*(\d+)?(\*)?\Z")
_PCT = re.compile(rb"%([0-9A-Fa-f]{2})")


def parse_params(value: bytes) -> tuple[bytes, dict]:
    """(the lowercase main value, {lowercase name: value}) of a Content-Type or
    Content-Disposition value.  RFC 2231 sections are joined and their charsets decoded
    to UTF-8; the first of repeated parameters wins."""
    value = unfold(value)
    semi = value.find(b";")
    main = (value if semi < 0 else value[:semi]).strip(_FWS).lower()
    params: dict = {}
    sections: dict = {}
    if semi < 0:
        return main, params
    for m in _PARAM.finditer(value, semi):
        name = m.group(1).lower()
        quoted, token = m.group(2), m.group(3)
        text = _QUOTED_PAIR.sub(rb"\1", quoted) if quoted is not None \
            else token.strip(_FWS)
        s = _SECTION.match(name) if b"*" in name else None
        if s is None:
            params.setdefault(name, text)
        else:
            base, number, extended = s.groups()
            # name*=... is one extended section; name*0=... a plain first section
            sections.setdefault(base, {}).setdefault(int(number or 0),
                                                    (text, number is None or bool(extended)))
    for base, parts in sections.items():
        if base in params:
            continue
        params[base] = _join_sections(parts)
    return main, params


def _join_sections(parts: dict) -> bytes:
    charset = None
    chunks = []
    for n in sorted(parts):
        text, extended = parts[n]
        if extended:
            if n == 0 and text.count(b"'") >= 2:
                charset, _, text = text.split(b"'", 2)
            text = _PCT.sub(lambda m: bytes([int(m.group(1), 16)]), text)
        chunks.append(text)
    raw = b"".join(chunks)
    codec = text_codec(charset) if charset else None
    if codec and codec != "utf-8":
        return raw.decode(codec, "replace").encode("utf-8")
    return raw


_TSPECIALS = re.compile(rb'[\x00-\x20()<>@,;:\\"/\[\]?=\x7f-\xff]')


def format_param(name: bytes, value: bytes) -> bytes:
    """`; name=value` for a new header: a token as is, else quoted, and 8-bit text as
    RFC 2231 `name*=utf-8''...`."""
    if not value.isascii():
        return b"; " + name + b"*=utf-8''" + b"".join(
            bytes([c]) if c < 128 and not _TSPECIALS.match(bytes([c])) and c != 37
            else b"%%%02X" % c for c in value)
    if value and not _TSPECIALS.search(value):
        return b"; " + name + b"=" + value
    return b"; " + name + b'="' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
