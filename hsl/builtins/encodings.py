"""Encoding and serialisation builtins (builtins.md "Encodings and serialisation").

base32/base64/base64url (RFC 4648), zlib (RFC 1950/1951/1952), CSV (RFC 4180), JSON
(RFC 8259), URL percent-encoding (RFC 3986), MIME encoded words (RFC 2047), YAML (PyYAML
safe loader), pack/unpack, xtext (RFC 3461).

Decoders that the spec says return none on invalid input never raise for bad data; bad
argument *types* are errors (builtins.md, Conventions).
"""
from __future__ import annotations

import base64
import binascii
import codecs
import datetime
import json
import math
import re
import struct
import zlib
from urllib.parse import quote_from_bytes, unquote_to_bytes

from ..errors import ScriptError
from ..runtime.values import HArray, format_number, normalize_key, type_name
from ._args import digits_value, opt_array, opt_bool, opt_str, type_error
from ._limits import (ACCOUNT, CHUNK, MANY, MAX_STRING, WORK, Pieces, check_deadline,
                      expand, list_array, paced, paced_map, pieces, ranges,
                      reserve_elements, reserve_string, work)
from .registry import builtin

_AREA = "encodings"
_WS = b" \t\r\n\v\f"


# ---------------------------------------------------------------------------------------
# base32 / base64 (RFC 4648)

@builtin(area=_AREA)
def base32_encode(string):
    """RFC 4648 base32 with = padding."""
    if type(string) is not bytes:
        raise type_error("base32_encode", 1, "a string", string)
    if len(string) < ACCOUNT:
        return base64.b32encode(string)
    reserve_string((len(string) + 4) // 5 * 8)
    # b32encode is Python-level: whole 5-byte groups at a time, looking at the clock
    return b"".join([base64.b32encode(part) for part in pieces(string, 5 * CHUNK)])


@builtin(area=_AREA)
def base32_decode(string):
    """Inverse of base32_encode (case-insensitive, padding optional); none if invalid."""
    if type(string) is not bytes:
        raise type_error("base32_decode", 1, "a string", string)
    r = len(string) % 8
    if r:
        string += b"=" * (8 - r)
    try:
        if len(string) < ACCOUNT:
            return base64.b32decode(string, casefold=True)
        # b32decode is Python-level: whole 8-character groups at a time (padding is only
        # valid in the last one), looking at the clock
        if string.find(b"=", 0, len(string) - 8) >= 0:
            return None
        reserve_string(len(string) // 8 * 5)
        return b"".join([base64.b32decode(part, casefold=True)
                         for part in pieces(string, 8 * CHUNK)])
    except (binascii.Error, ValueError):
        return None


@builtin(area=_AREA)
def base64_encode(string):
    """Standard base64 with padding and no line breaks."""
    if type(string) is not bytes:
        raise type_error("base64_encode", 1, "a string", string)
    if len(string) >= ACCOUNT:
        reserve_string((len(string) + 2) // 3 * 4)
    return base64.b64encode(string)


_B64_RE = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_B64URL_TABLE = bytes.maketrans(b"-_+/", b"+/-_")     # swap, so + and / become invalid


try:
    binascii.a2b_base64(b"", strict_mode=True)
    _STRICT = True
except TypeError:                                      # Python < 3.11
    _STRICT = False


def _b64decode(s: bytes, url: bool = False):
    """Decode base64 (whitespace ignored, padding optional); None when invalid."""
    if len(s) >= ACCOUNT:
        reserve_string(len(s) if url else len(s) // 4 * 3)    # url: a translated copy
    if url:
        s = s.translate(_B64URL_TABLE)
    if _STRICT:                                        # fast path: canonical input
        try:
            return binascii.a2b_base64(s, strict_mode=True)
        except binascii.Error:
            pass
    if _B64_RE.fullmatch(s) is None:
        s = s.translate(None, _WS)
        if _B64_RE.fullmatch(s) is None:
            return None
    r = len(s) & 3
    if r:
        if r == 1 or s[-1] == 61:
            return None
        s += b"=" * (4 - r)
    try:
        return binascii.a2b_base64(s)
    except binascii.Error:
        return None


@builtin(area=_AREA)
def base64_decode(string):
    """Standard base64; whitespace ignored, padding optional; none if invalid."""
    if type(string) is not bytes:
        raise type_error("base64_decode", 1, "a string", string)
    return _b64decode(string)


@builtin(area=_AREA)
def base64url_encode(string):
    """Base64 with the URL-safe alphabet (- and _), without padding."""
    if type(string) is not bytes:
        raise type_error("base64url_encode", 1, "a string", string)
    if len(string) >= ACCOUNT:
        reserve_string((len(string) + 2) // 3 * 8)           # and the copy rstrip makes
    return base64.urlsafe_b64encode(string).rstrip(b"=")


@builtin(area=_AREA)
def base64url_decode(string):
    """URL-safe base64, padding optional; none if invalid."""
    if type(string) is not bytes:
        raise type_error("base64url_decode", 1, "a string", string)
    return _b64decode(string, True)


# ---------------------------------------------------------------------------------------
# zlib

def _wbits(fname: str, pos: int, v, compress: bool) -> int:
    if type(v) is not float:
        raise type_error(fname, pos, "a number", v)
    if v != v or v in (math.inf, -math.inf):
        raise ScriptError(f"{fname}() invalid windowbits")
    w = int(v)
    a = abs(w)
    ok = (9 <= a <= 15 or 25 <= w <= 31) if compress else \
         (8 <= a <= 15 or 24 <= w <= 31 or 40 <= w <= 47 or w == 0)
    if not ok:
        raise ScriptError(f"{fname}() invalid windowbits {w}")
    return w


@builtin(area=_AREA)
def zlib_compress(string, compression=6.0, windowbits=15.0):
    """Deflate `string`: level 0-9, windowbits 9..15 (zlib), -9..-15 (raw), 25..31 (gzip)."""
    if type(string) is not bytes:
        raise type_error("zlib_compress", 1, "a string", string)
    if type(compression) is not float:
        raise type_error("zlib_compress", 2, "a number", compression)
    level = int(compression) if math.isfinite(compression) else -2
    if not -1 <= level <= 9:
        raise ScriptError(f"zlib_compress() invalid compression level {format_number(compression).decode()}")
    w = _wbits("zlib_compress", 3, windowbits, True)
    if w == 15 and len(string) < ACCOUNT:
        return zlib.compress(string, level)
    c = zlib.compressobj(level, zlib.DEFLATED, w)
    if len(string) < ACCOUNT:
        return c.compress(string) + c.flush()
    out = Pieces()              # a slice at a time: compressing 1 GB takes seconds
    for part in pieces(string, WORK):
        out.add(c.compress(part))
    out.add(c.flush())
    return out.join()


@builtin(area=_AREA)
def zlib_uncompress(string, windowbits=15.0):
    """Inflate `string` (windowbits as for zlib_compress; 0 and 40..47 detect); none if the
    data is corrupt or truncated."""
    if type(string) is not bytes:
        raise type_error("zlib_uncompress", 1, "a string", string)
    w = _wbits("zlib_uncompress", 2, windowbits, False)
    try:
        d = zlib.decompressobj(w)
        # A slice of output at a time, each announced as it comes: a few KB can inflate
        # to gigabytes.
        out = Pieces()
        data = string
        while not d.eof:
            part = d.decompress(data, WORK)
            data = d.unconsumed_tail
            if not part and not data:
                break                           # truncated: it needs more input
            out.add(part)
        if not d.eof:
            return None
        return out.join()
    except zlib.error:
        return None


# ---------------------------------------------------------------------------------------
# CSV (RFC 4180)

def _csv_delim(fname: str, opts: HArray) -> bytes:
    d = opt_str(fname, opts, b"delimiter", b",")
    if len(d) != 1 or d in b'"\r\n':
        raise ScriptError(f"{fname}() option 'delimiter' must be one byte other than a quote "
                          "or a line break")
    return d


def _csv_field(fname: str, v) -> bytes:
    t = type(v)
    if t is bytes:
        return v
    if t is float:
        return format_number(v)
    if t is bool:
        return b"true" if v else b"false"
    if v is None:
        return b""
    raise ScriptError(f"{fname}() cannot encode a value of type {type_name(v)} (type error)")


@builtin(area=_AREA)
def csv_encode(values, options=None):
    """One CSV record (no line terminator) from the values of `values`."""
    if type(values) is not HArray:
        raise type_error("csv_encode", 1, "an array", values)
    opts = opt_array("csv_encode", 2, options)
    delim = _csv_delim("csv_encode", opts)
    special = (delim, b'"', b" ", b"\r", b"\n")
    out = []
    for part in pieces(list(values.d.values())):
        for v in part:
            f = _csv_field("csv_encode", v)
            for c in special:
                if c in f:
                    if len(f) >= ACCOUNT:
                        reserve_string(len(f) + f.count(b'"') + 2)
                    f = b'"' + f.replace(b'"', b'""') + b'"'
                    break
            out.append(f)
    size = sum(map(len, out)) + len(out)
    if size >= ACCOUNT:
        reserve_string(size)
    return delim.join(out)


class _CSVError(Exception):
    pass


_QUOTED_FIELD = re.compile(rb'"([^"]*(?:""[^"]*)*)"')
_FIELD_ENDS: dict = {}       # delimiter -> regex finding the end of an unquoted field


def _csv_rows(s: bytes, delim: int) -> list:
    """Parse CSV text into rows of bytes fields (RFC 4180; LF or CRLF line breaks; blank
    lines skipped; a quote inside an unquoted field is kept literally)."""
    field_end = _FIELD_ENDS.get(delim)
    if field_end is None:
        field_end = _FIELD_ENDS[delim] = re.compile(b"[%s\r\n]" % re.escape(bytes([delim])))
    rows = []
    row = []
    n = len(s)
    i = 0
    fields = 0
    while i < n:
        fields += 1
        if not fields % CHUNK:                 # announce the next CHUNK fields
            reserve_elements(CHUNK)
            check_deadline()
        # start of a field
        if s[i] == 34:  # quoted field
            m = _QUOTED_FIELD.match(s, i)
            if m is None:
                raise _CSVError("unterminated quoted field")
            row.append(m.group(1).replace(b'""', b'"'))
            i = m.end()
            if i < n:
                c = s[i]
                if c == delim:
                    i += 1
                    if i == n:
                        row.append(b"")
                    continue
                if c == 13 and i + 1 < n and s[i + 1] == 10:
                    i += 2
                elif c == 10 or c == 13:
                    i += 1
                else:
                    raise _CSVError("text after a closing quote")
            rows.append(row)
            row = []
            continue
        # unquoted field: up to delimiter or line break
        m = field_end.search(s, i)
        j = n if m is None else m.start()
        field = s[i:j]
        if j < n and s[j] == delim:
            row.append(field)
            i = j + 1
            if i == n:
                row.append(b"")
            continue
        # end of line or end of text
        if field or row:
            row.append(field)
            rows.append(row)
        row = []
        if j < n and s[j] == 13 and j + 1 < n and s[j + 1] == 10:
            i = j + 2
        else:
            i = j + 1
    if row:
        rows.append(row)
    return rows


_NUMBER = re.compile(rb"[ \t]*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?[ \t]*\Z")


def _schema_converter(fname: str, spec):
    """A function bytes -> HSL value for one schema column; raises _CSVError."""
    if type(spec) is not HArray:
        raise ScriptError(f"{fname}() schema entries must be arrays (type error)")
    kind = opt_str(fname, spec, b"type", b"string")
    nullable = spec.d.get(b"nullable", False)
    if nullable is True:
        nulls = {b""}
    elif nullable is False or nullable is None:
        nulls = set()
    elif type(nullable) is HArray:
        nulls = {_csv_field(fname, v) for v in nullable.d.values()}
    else:
        raise ScriptError(f"{fname}() schema option 'nullable' must be a boolean or an array "
                          "(type error)")

    def words(name, default):
        v = spec.d.get(name)
        if v is None:
            return default
        if type(v) is bytes:
            return {v}
        if type(v) is not HArray:
            raise ScriptError(f"{fname}() schema option {name.decode()!r} must be an array "
                              "(type error)")
        return {_csv_field(fname, x) for x in v.d.values()}

    if kind == b"string":
        def conv(f):
            return None if f in nulls else f
    elif kind == b"number":
        def conv(f):
            if f in nulls:
                return None
            if _NUMBER.match(f) is None:
                raise _CSVError("not a number")
            return float(f)
    elif kind == b"boolean":
        trues = words(b"true", {b"true"})
        falses = words(b"false", {b"false"})

        def conv(f):
            if f in nulls:
                return None
            if f in trues:
                return True
            if f in falses:
                return False
            raise _CSVError("not a boolean")
    else:
        raise ScriptError(f"{fname}() unknown schema type {kind.decode('utf-8', 'replace')!r}")
    return conv


@builtin(area=_AREA)
def csv_decode(string, options=None):
    """Parse CSV text into a list of rows (arrays keyed by the header row, or lists with
    header => false); none on malformed input."""
    if type(string) is not bytes:
        raise type_error("csv_decode", 1, "a string", string)
    opts = opt_array("csv_decode", 2, options)
    delim = _csv_delim("csv_decode", opts)[0]
    header = opt_bool("csv_decode", opts, b"header", True)
    schema = opts.d.get(b"schema")
    if schema is not None and type(schema) is not HArray:
        raise ScriptError("csv_decode() option 'schema' must be an array (type error)")
    try:
        rows = _csv_rows(string, delim)
    except _CSVError:
        return None
    out = []
    try:
        if header:
            if not rows:
                return HArray()
            keys = paced_map(normalize_key, rows[0])
            width = len(keys)
            convs = None
            if schema is not None:
                convs = []
                for k in keys:
                    spec = schema.d.get(k)
                    convs.append(None if spec is None else
                                 _schema_converter("csv_decode", spec))
            for r in paced(rows[1:]):
                if len(r) != width:
                    return None
                if convs is None:
                    out.append(HArray.from_dict_normalized(dict(zip(keys, r))))
                else:
                    d = {}
                    for k, c, f in zip(keys, convs, r):
                        d[k] = f if c is None else c(f)
                    out.append(HArray.from_dict_normalized(d))
        else:
            convs = {}
            if schema is not None:
                for k, spec in schema.d.items():
                    if type(k) is int:
                        convs[k] = _schema_converter("csv_decode", spec)
            for r in paced(rows):
                if convs:
                    r = [convs[i](f) if i in convs else f for i, f in enumerate(r)]
                out.append(list_array(r))
    except _CSVError:
        return None
    return list_array(out)


# ---------------------------------------------------------------------------------------
# JSON (RFC 8259)

_MAX_DEPTH = 512
_enc_ascii = json.encoder.encode_basestring_ascii
_enc_utf8 = json.encoder.encode_basestring


class _JSONError(Exception):
    pass


def _json_enc(v, esc, out: list, depth: int, indent, level: int, big: list) -> None:
    """Append the JSON text of `v` to `out`; `big[0]` counts the characters of long
    strings appended so far (they are announced: an array can hold one many times)."""
    t = type(v)
    if t is bytes:
        if len(v) >= ACCOUNT:
            _json_big(v, big)
        try:
            out.append(esc(v.decode("utf-8")))
        except UnicodeDecodeError:
            raise _JSONError("invalid UTF-8") from None
    elif t is float:
        if v != v or v == math.inf or v == -math.inf:
            raise _JSONError("not finite")
        out.append(format_number(v).decode("ascii"))
    elif t is bool:
        out.append("true" if v else "false")
    elif v is None:
        out.append("null")
    elif t is HArray:
        if depth >= _MAX_DEPTH:
            raise _JSONError("too deep")
        check_deadline()            # arrays shared many times over can make huge output
        d = v.d
        if not d:
            out.append("[]" if v.is_list() else "{}")
            return
        if indent is None:
            sep, nl, colon = ",", "", ":"
        else:
            nl = "\n" + indent * (level + 1)
            sep, colon = "," + nl, ": "
        if v.is_list():
            out.append("[" + nl)
            first = True
            for x in d.values() if len(d) <= CHUNK else paced(d.values()):
                if first:
                    first = False
                else:
                    out.append(sep)
                _json_enc(x, esc, out, depth + 1, indent, level + 1, big)
            out.append(("" if indent is None else "\n" + indent * level) + "]")
        else:
            out.append("{" + nl)
            first = True
            for k, x in d.items() if len(d) <= CHUNK else paced(d.items()):
                if first:
                    first = False
                else:
                    out.append(sep)
                if type(k) is int:
                    out.append('"%d"' % k)
                else:
                    try:
                        out.append(esc(k.decode("utf-8")))
                    except UnicodeDecodeError:
                        raise _JSONError("invalid UTF-8") from None
                out.append(colon)
                _json_enc(x, esc, out, depth + 1, indent, level + 1, big)
            out.append(("" if indent is None else "\n" + indent * level) + "}")
    else:
        raise _JSONError(f"cannot encode {type_name(v)}")


def _json_big(v: bytes, big: list) -> None:
    """A long string is about to be encoded (at least its length, ensure_ascii may make
    it up to six times longer)."""
    big[0] += len(v)
    reserve_string(big[0] if big[0] > MAX_STRING else len(v))


@builtin(area=_AREA)
def json_encode(value, options=None):
    """JSON text of `value` (lists -> arrays, other arrays -> objects); none for values JSON
    cannot represent (functions, objects, NaN/inf, invalid UTF-8) or nesting deeper than
    512. Options: ensure_ascii (default true), pretty_print (default false)."""
    if options is None:
        esc, indent = _enc_ascii, None
    else:
        opts = opt_array("json_encode", 2, options)
        esc = _enc_ascii if opt_bool("json_encode", opts, b"ensure_ascii", True) else _enc_utf8
        indent = "    " if opt_bool("json_encode", opts, b"pretty_print", False) else None
    t = type(value)
    if t is bytes and esc is _enc_ascii and len(value) < ACCOUNT:
        try:
            return _enc_ascii(value.decode("utf-8")).encode("ascii")
        except UnicodeDecodeError:
            return None
    out = []
    big = [0]
    try:
        _json_enc(value, esc, out, 0, indent, 0, big)
    except (_JSONError, RecursionError):
        return None
    if big[0] or len(out) >= MANY:
        size = sum(map(len, out))
        if size >= ACCOUNT:
            reserve_string(2 * size)        # the joined text and its UTF-8 copy
    return "".join(out).encode("utf-8")


def _json_list(v: list) -> HArray:
    """A decoded JSON array as a list HArray (objects inside are HArrays already)."""
    for i, x in enumerate(v) if len(v) <= CHUNK else paced(enumerate(v)):
        t = type(x)
        if t is str:
            v[i] = x.encode("utf-8")
        elif t is list:
            v[i] = _json_list(x)
    return list_array(v)


_objects = 0                # objects decoded, for a look at the clock now and then


def _json_pairs(pairs):
    global _objects
    _objects += 1           # (threads may race on it: it only paces the clock)
    if not _objects % 1024:
        check_deadline()
    d = {}
    for k, v in pairs:
        t = type(v)
        if t is str:
            v = v.encode("utf-8")
        elif t is list:
            v = _json_list(v)
        d[normalize_key(k.encode("utf-8"))] = v
    return HArray.from_dict_normalized(d)


def _json_constant(name):
    raise ValueError(f"invalid JSON constant {name}")


_decoder = json.JSONDecoder(object_pairs_hook=_json_pairs, parse_float=float,
                            parse_int=float, parse_constant=_json_constant)
_raw_decode = _decoder.raw_decode
_JSON_WS = " \t\r\n"


_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\]|\\.)*"|//[^\n]*|/\*.*?\*/', re.S)


def _strip_json_comments(s: str) -> str:
    """Remove // line comments and /* */ block comments outside strings (an unterminated
    comment is left in place: the text is then not JSON)."""
    if "/" not in s:
        return s
    found = 0

    def keep_strings(m):
        nonlocal found
        found += 1
        if not found % CHUNK:
            check_deadline()
        t = m.group()
        return t if t[0] == '"' else " " if t[1] == "*" else ""

    return _STRING_OR_COMMENT.sub(keep_strings, s)


@builtin(area=_AREA)
def json_decode(string, options=None):
    """Parse JSON text; none on invalid input (and for `null`). Option allow_comments."""
    if type(string) is not bytes:
        raise type_error("json_decode", 1, "a string", string)
    comments = False
    if options is not None:
        opts = opt_array("json_decode", 2, options)
        comments = opt_bool("json_decode", opts, b"allow_comments", False)
    if len(string) >= ACCOUNT:
        # Every value but the first follows a comma or opens an array or an object.
        values = string.count(b",") + string.count(b"[") + string.count(b"{") + 1
        reserve_elements(min(values, len(string) // 2 + 1), 2 * len(string))
    try:
        text = string.decode("utf-8")
        if comments:
            text = _strip_json_comments(text)
        start = 0
        if text[:1] in _JSON_WS:
            start = len(text) - len(text.lstrip(_JSON_WS))
        v, end = _raw_decode(text, start)
        if end != len(text) and text[end:].strip(_JSON_WS):
            return None
        t = type(v)
        if t is str:
            return v.encode("utf-8")
        if t is list:
            return _json_list(v)
        return v
    except (ValueError, RecursionError):        # UnicodeError is a ValueError
        return None


# ---------------------------------------------------------------------------------------
# URL percent-encoding (RFC 3986)

@builtin(area=_AREA)
def url_encode(string):
    """Percent-encode every byte except A-Z a-z 0-9 - . _ ~ (uppercase hex)."""
    if type(string) is not bytes:
        raise type_error("url_encode", 1, "a string", string)
    if len(string) < ACCOUNT:
        return quote_from_bytes(string, safe="").encode("ascii")
    if len(string) > WORK:
        work(len(string))
    if not string.translate(None, _URL_SAFE):
        return string                       # nothing to encode
    return expand(string, _URL_TABLE)     # quote_from_bytes is a Python loop over bytes


_URL_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_URL_TABLE = [(bytes([c]) if c in _URL_SAFE else b"%%%02X" % c) for c in range(256)]


@builtin(area=_AREA)
def url_decode(string):
    """Decode %XX sequences; + and invalid sequences are kept as they are."""
    if type(string) is not bytes:
        raise type_error("url_decode", 1, "a string", string)
    if b"%" not in string:
        return string
    return _unescape(string, b"%", unquote_to_bytes)


def _unescape(string: bytes, marker: bytes, decode) -> bytes:
    """decode(string) for a decoder of three-byte escapes that start with `marker` (%XX,
    +XX), which never makes its output longer; a long string is decoded in slices cut
    where they split no escape, announced as they come, with a look at the clock."""
    n = len(string)
    if n < ACCOUNT:
        return decode(string)
    out = Pieces()
    start = 0
    while start < n:
        end = start + WORK
        if end >= n:
            end = n
        else:
            k = string.rfind(marker, end - 2, end)
            if k > start:
                end = k
        out.add(decode(string[start:end]))
        start = end
        check_deadline()
    return out.join()


# ---------------------------------------------------------------------------------------
# MIME encoded words (RFC 2047)

# RFC 2047 5(3): in a phrase only letters, digits and ! * + - / may appear unencoded.
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_TABLE = [(bytes([c]) if c in _Q_SAFE else b"=%02X" % c) for c in range(256)]
_Q_TABLE[32] = b"_"
_MW_PREFIX = b"=?utf-8?Q?"
_MW_MAX = 75 - len(_MW_PREFIX) - 2          # encoded text per word (RFC 2047 section 2)


def _utf8_chunks(s: bytes):
    """Split `s` into UTF-8 characters (invalid bytes singly)."""
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c < 0xC0:
            k = 1
        elif c < 0xE0:
            k = 2
        elif c < 0xF0:
            k = 3
        else:
            k = 4
        j = i + 1
        while j < n and j < i + k and 0x80 <= s[j] < 0xC0:
            j += 1
        yield s[i:j]
        i = j


@builtin(area=_AREA)
def mimeword_encode(string):
    """`string` (UTF-8) as RFC 2047 Q-encoded words `=?utf-8?Q?...?=`; text longer than one
    75-character word is split (between characters) into words separated by a space."""
    if type(string) is not bytes:
        raise type_error("mimeword_encode", 1, "a string", string)
    t = _Q_TABLE
    enc = expand(string, t)
    if len(enc) <= _MW_MAX:
        return _MW_PREFIX + enc + b"?="
    if len(enc) >= ACCOUNT:     # a word holds at least _MW_MAX - 11 bytes (a 4-byte character)
        words = len(enc) // (_MW_MAX - 11) + 1
        reserve_string(len(enc) + words * (len(_MW_PREFIX) + 3))
    words = []
    cur = []
    size = 0
    for ch in paced(_utf8_chunks(string)):
        e = b"".join([t[c] for c in ch])
        if size + len(e) > _MW_MAX and cur:
            words.append(_MW_PREFIX + b"".join(cur) + b"?=")
            cur = []
            size = 0
        cur.append(e)
        size += len(e)
    words.append(_MW_PREFIX + b"".join(cur) + b"?=")
    return b" ".join(words)


_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")
_Q_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")


def _decode_word(charset: bytes, enc: bytes, text: bytes):
    """The UTF-8 text of one encoded word, or None when it cannot be decoded."""
    cs = charset.split(b"*", 1)[0].decode("ascii", "replace")    # RFC 2231 language
    try:
        info = codecs.lookup(cs)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None
    if enc in b"Bb":
        raw = _b64decode(text)
        if raw is None:
            return None
    else:
        raw = _Q_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), text.replace(b"_", b" "))
    if info.name == "utf-8":
        return raw.decode("utf-8", "replace").encode("utf-8")
    try:
        return raw.decode(info.name, "replace").encode("utf-8")
    except (UnicodeError, LookupError, TypeError):
        return None


@builtin(area=_AREA)
def mimeword_decode(string):
    """Decode every RFC 2047 encoded word in `string` to UTF-8; linear whitespace between
    two adjacent encoded words is removed; undecodable words are left as they are."""
    if type(string) is not bytes:
        raise type_error("mimeword_decode", 1, "a string", string)
    if b"=?" not in string:
        return string
    out = Pieces()
    pos = 0
    prev_end = -1              # end of the previous *decoded* word
    for m in paced(_ENCODED_WORD.finditer(string)):
        s, e = m.span()
        between = string[pos:s]
        decoded = _decode_word(*m.groups())
        if decoded is None:
            out.add(between)
            out.add(m.group(0))
            prev_end = -1
        else:
            if not (prev_end == pos and between.strip(_WS) == b""):
                out.add(between)
            out.add(decoded)
            prev_end = e
        pos = e
    out.add(string[pos:])
    return out.join()


# ---------------------------------------------------------------------------------------
# YAML

try:
    _YAMLLoader = __import__("yaml").CSafeLoader
except AttributeError:             # PyYAML without libyaml
    _YAMLLoader = __import__("yaml").SafeLoader

_YAML_BUDGET = 1_000_000           # values converted (guards against alias bombs)


class _YAMLError(Exception):
    pass


class _Loader(_YAMLLoader):
    """The safe loader, looking at the clock as it makes Python objects of the nodes."""
    made = 0

    def construct_object(self, node, deep=False):
        self.made += 1
        if not self.made % 1024:
            check_deadline()
        return super().construct_object(node, deep)


import yaml.composer as _yaml_composer  # noqa: E402


class _PacedLoader(_yaml_composer.Composer, _Loader):
    """For long documents: libyaml's composer builds the whole node graph in one C call,
    which no deadline can stop, so the nodes are composed here, from libyaml's events,
    looking at the clock every 1024 events."""

    def __init__(self, stream):
        _Loader.__init__(self, stream)
        _yaml_composer.Composer.__init__(self)
        self.events = 0

    def get_event(self):
        self.events += 1
        if not self.events % 1024:
            check_deadline()
        return super().get_event()


def _yaml_scalar(v):
    t = type(v)
    if t is str:
        return v.encode("utf-8")
    if t is bool or v is None:
        return v
    if t is int:
        return float(v)
    if t is float:
        return v
    if t is bytes:
        return v
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat().encode("ascii")
    raise _YAMLError("unsupported YAML value")


def _yaml_value(v, budget: list, depth: int):
    budget[0] -= 1
    if budget[0] < 0 or depth > 1000:
        raise _YAMLError("document too large or too deep")
    if not budget[0] % CHUNK:                  # announce the next CHUNK values
        reserve_elements(CHUNK)
        check_deadline()
    t = type(v)
    if t is list:
        return HArray.from_list([_yaml_value(x, budget, depth + 1) for x in v])
    if t is dict:
        d = {}
        for k, x in v.items():
            key = _yaml_scalar(k)
            if key is None:
                raise _YAMLError("none as a mapping key")
            d[normalize_key(key)] = _yaml_value(x, budget, depth + 1)
        return HArray.from_dict_normalized(d)
    if t is set:                        # !!set
        return HArray.from_list([_yaml_scalar(x) for x in v])
    return _yaml_scalar(v)


@builtin(area=_AREA)
def yaml_decode(string, options=None):
    """Parse one YAML document (safe loader): mappings -> arrays, sequences -> lists,
    integers/floats -> numbers, timestamps -> ISO strings; none on error."""
    if type(string) is not bytes:
        raise type_error("yaml_decode", 1, "a string", string)
    opt_array("yaml_decode", 2, options)
    import yaml
    if len(string) >= ACCOUNT:
        reserve_elements(len(string) // 2, 4 * len(string))   # nodes, and the parser's text
    try:
        loader = (_PacedLoader if len(string) >= WORK // 16 else _Loader)(string)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
        return _yaml_value(data, [_YAML_BUDGET], 0)
    except (yaml.YAMLError, _YAMLError, RecursionError, UnicodeError, ScriptError,
            ValueError, TypeError, OverflowError):
        return None


# ---------------------------------------------------------------------------------------
# pack / unpack

_PACK_CODES = frozenset(b"aZHCcnNvVeEx")
_INT_FMT = {ord("C"): ("B", 1, 0xFF), ord("c"): ("b", 1, 0xFF),
            ord("n"): (">H", 2, 0xFFFF), ord("N"): (">I", 4, 0xFFFFFFFF),
            ord("v"): ("<H", 2, 0xFFFF), ord("V"): ("<I", 4, 0xFFFFFFFF)}
_STRUCTS = {c: struct.Struct(f) for c, (f, _, _) in _INT_FMT.items()}
_STRUCTS[ord("e")] = struct.Struct("<d")
_STRUCTS[ord("E")] = struct.Struct(">d")
_PACKERS = {c: struct.Struct(f.replace("b", "B")).pack for c, (f, _, _) in _INT_FMT.items()}


class _PackError(Exception):
    pass


def _parse_format(fmt: bytes):
    """[(code, count)] where count is None (no count given), -1 (`*`) or a number."""
    items = []
    i = 0
    n = len(fmt)
    while i < n:
        c = fmt[i]
        if c not in _PACK_CODES:
            raise _PackError(f"unknown format code {chr(c)!r}")
        i += 1
        count = None
        if i < n and fmt[i] == 42:  # *
            count = -1
            i += 1
        else:
            j = i
            while j < n and 48 <= fmt[j] <= 57:
                j += 1
            if j > i:
                count = digits_value(fmt[i:j], MAX_STRING)
                i = j
        items.append((c, count))
    return items


@builtin(area=_AREA)
def pack(format, *args):
    """Pack `args` into a binary string by `format` (codes a Z H C c n N v V e E x, each with
    an optional count or *); none on a bad code or a missing argument."""
    if type(format) is not bytes:
        raise type_error("pack", 1, "a string", format)
    try:
        items = _parse_format(format)
    except _PackError:
        return None
    size = _pack_size(items, args)
    if size >= ACCOUNT:
        reserve_string(size)
    out = []
    ai = 0
    nargs = len(args)
    for c, count in items:
        if c == 120:  # x
            if count == -1:
                return None
            out.append(b"\0" * (1 if count is None else count))
            continue
        if c in (97, 90, 72):  # a Z H: one string argument
            if ai >= nargs:
                return None
            s = args[ai]
            if type(s) is not bytes:
                raise type_error("pack", ai + 2, "a string", s)
            ai += 1
            if c == 72:
                if count == -1:
                    count = len(s)
                elif count is None:
                    count = 1
                if count > len(s):
                    return None
                h = s[:count]
                if count % 2:
                    h += b"0"
                try:
                    out.append(bytes.fromhex(h.decode("ascii")))
                except ValueError:
                    return None
            elif c == 97:
                if count == -1:
                    out.append(s)
                else:
                    if count is None:
                        count = 1
                    out.append(s[:count].ljust(count, b"\0"))
            else:  # Z
                if count == -1:
                    out.append(s + b"\0")
                else:
                    if count is None:
                        count = 1
                    if count:
                        out.append(s[:count - 1].ljust(count, b"\0"))
            continue
        # numeric codes: count repeats, * takes all remaining arguments
        if count == -1:
            reps = nargs - ai
        else:
            reps = 1 if count is None else count
        if ai + reps > nargs:
            return None
        st = _STRUCTS[c]
        float_code = c == 101 or c == 69            # e E
        for r in ranges(0, reps):
            for _ in r:
                v = args[ai]
                tv = type(v)
                if tv is bool:
                    v = 1.0 if v else 0.0
                elif tv is not float:
                    raise type_error("pack", ai + 2, "a number", v)
                ai += 1
                if float_code:
                    out.append(st.pack(v))
                else:
                    if v != v or v in (math.inf, -math.inf):
                        return None
                    out.append(_PACKERS[c](int(v) & _INT_FMT[c][2]))
    return b"".join(out)


def _pack_size(items, args) -> int:
    """The length of pack()'s result, from the format and the arguments' lengths, before
    anything is made (0 when an argument is missing: pack() then returns none)."""
    size = ai = 0
    for c, count in items:
        if c == 120:  # x
            size += 1 if count is None else max(count, 0)
        elif c in (97, 90, 72):  # a Z H
            if ai >= len(args):
                return 0
            s = args[ai]
            ai += 1
            n = len(s) if type(s) is bytes else 0
            k = (n + (c == 90) if c != 72 else n) if count == -1 else \
                (1 if count is None else count)
            size += (k + 1) // 2 if c == 72 else k
        else:
            reps = len(args) - ai if count == -1 else (1 if count is None else count)
            ai += reps
            if ai > len(args):
                return 0
            size += reps * _STRUCTS[c].size
    return size


@builtin(area=_AREA)
def unpack(format, data, offset=0.0):
    """Decode `data` from byte `offset` by `format`; the list of values, or none when the
    data is too short or the format invalid."""
    if type(format) is not bytes:
        raise type_error("unpack", 1, "a string", format)
    if type(data) is not bytes:
        raise type_error("unpack", 2, "a string", data)
    if type(offset) is not float:
        raise type_error("unpack", 3, "a number", offset)
    if offset != offset or offset in (math.inf, -math.inf):
        return None
    pos = int(offset)
    n = len(data)
    if pos < 0 or pos > n:
        return None
    try:
        items = _parse_format(format)
    except _PackError:
        return None
    out = []
    for c, count in items:
        rest = n - pos
        if c == 120:  # x
            k = rest if count == -1 else (1 if count is None else count)
            if k > rest:
                return None
            pos += k
        elif c == 97:  # a
            k = rest if count == -1 else (1 if count is None else count)
            if k > rest:
                return None
            if k >= ACCOUNT:
                reserve_string(k)
            out.append(data[pos:pos + k])
            pos += k
        elif c == 90:  # Z
            if count == -1:
                j = data.find(b"\0", pos)
                if j < 0:
                    out.append(data[pos:])
                    pos = n
                else:
                    out.append(data[pos:j])
                    pos = j + 1
            else:
                k = 1 if count is None else count
                if k > rest:
                    return None
                if k >= ACCOUNT:
                    reserve_string(2 * k)       # the slice, and the value cut from it
                chunk = data[pos:pos + k]
                j = chunk.find(b"\0")
                out.append(chunk if j < 0 else chunk[:j])
                pos += k
        elif c == 72:  # H: count is in nibbles
            nib = rest * 2 if count == -1 else (1 if count is None else count)
            k = (nib + 1) // 2
            if k > rest:
                return None
            if k >= ACCOUNT:
                reserve_string(4 * k + nib)     # the text, as str and as bytes
            out.append(data[pos:pos + k].hex()[:nib].encode("ascii"))
            pos += k
        else:
            st = _STRUCTS[c]
            size = st.size
            reps = rest // size if count == -1 else (1 if count is None else count)
            if reps * size > rest:
                return None
            if reps >= MANY:
                reserve_elements(reps)
            unpack_from = st.unpack_from
            for r in ranges(0, reps):
                out.extend([float(unpack_from(data, pos + i * size)[0]) for i in r])
            pos += reps * size
    return list_array(out)


# ---------------------------------------------------------------------------------------
# xtext (RFC 3461 section 4)

_XTEXT_TABLE = [(b"+%02X" % c if c < 33 or c > 126 or c in (43, 61) else bytes([c]))
                for c in range(256)]
_XTEXT_HEX = re.compile(rb"\+([0-9A-Fa-f]{2})")


@builtin(area=_AREA)
def xtext_encode(text):
    """RFC 3461 xtext: bytes outside ! .. ~ and + and = become +XX (uppercase hex)."""
    if type(text) is not bytes:
        raise type_error("xtext_encode", 1, "a string", text)
    return expand(text, _XTEXT_TABLE)


@builtin(area=_AREA)
def xtext_decode(text):
    """Inverse of xtext_encode; a + not followed by two hex digits is kept as it is."""
    if type(text) is not bytes:
        raise type_error("xtext_decode", 1, "a string", text)
    if b"+" not in text:
        return text
    return _unescape(text, b"+", _xtext_unescape)


def _xtext_unescape(text: bytes) -> bytes:
    return _XTEXT_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), text)
