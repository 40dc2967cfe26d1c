"""String functions (builtins.md "Strings").  Strings are bytes: lengths, offsets and
positions count bytes, case conversion is ASCII-only.  Number arguments used as integers
are truncated toward zero; NaN and infinities are errors."""
from __future__ import annotations

from ..errors import ScriptError
from ..runtime.values import MAX_STRING
from ._args import integer, type_error
from ._limits import (ACCOUNT, CHUNK, WORK, list_array, pieces, ranges, reserve_elements,
                      reserve_string, work)
from .registry import builtin

AREA = "strings"

_WS = b" \t\r\n"


def _int(fname: str, pos: int, x) -> int:
    """A number argument as an integer (truncated toward zero)."""
    if type(x) is float and -1e18 < x < 1e18:
        return int(x)
    return integer(fname, pos, x)


@builtin(area=AREA)
def chr_(number):
    """The one-byte string of byte value `number` (modulo 256)."""
    if type(number) is float and 0.0 <= number < 256.0:
        return bytes((int(number),))
    return bytes((_int("chr", 1, number) % 256,))


@builtin(area=AREA)
def ord_(character):
    """The byte value of the first byte; none for the empty string."""
    if type(character) is not bytes:
        raise type_error("ord", 1, "a string", character)
    if not character:
        return None
    return float(character[0])


@builtin(area=AREA)
def str_repeat(string, multiplier):
    """`string` repeated `multiplier` times ("" for 0 or less)."""
    if type(multiplier) is float and 0.0 <= multiplier <= 64.0 and type(string) is bytes \
            and len(string) <= 64:
        return string * int(multiplier)         # fast path: below values.ACCOUNT
    if type(string) is not bytes:
        raise type_error("str_repeat", 1, "a string", string)
    if type(multiplier) is not float:
        raise type_error("str_repeat", 2, "a number", multiplier)
    if not multiplier >= 1.0:          # also NaN
        return b""
    if not string:
        return b""
    if multiplier * len(string) > MAX_STRING:
        raise ScriptError("str_repeat() result too large")
    reserve_string(int(multiplier) * len(string))
    return string * int(multiplier)


@builtin(area=AREA)
def str_replace(search, replace, subject):
    """`subject` with every non-overlapping occurrence of `search` replaced (left to
    right); an empty `search` leaves `subject` unchanged."""
    if type(search) is not bytes:
        raise type_error("str_replace", 1, "a string", search)
    if type(replace) is not bytes:
        raise type_error("str_replace", 2, "a string", replace)
    if type(subject) is not bytes:
        raise type_error("str_replace", 3, "a string", subject)
    if not search:
        return subject
    if len(subject) * (len(replace) | 1) >= ACCOUNT:    # a bound of the result's size
        n = len(subject)
        if n > WORK:
            work(n)
        count = subject.count(search)
        if not count:
            return subject
        reserve_string(n + count * (len(replace) - len(search)))
    return subject.replace(search, replace)


@builtin(area=AREA)
def str_split(string, delimiter, limit=0.0):
    """The pieces of `string` between occurrences of `delimiter` (empty pieces kept).
    limit > 0: at most `limit` pieces, the last holding the rest; limit < 0: at most
    -limit pieces, split from the right; 0: no limit.  An empty delimiter splits into
    single bytes."""
    if type(string) is not bytes:
        raise type_error("str_split", 1, "a string", string)
    if type(delimiter) is not bytes:
        raise type_error("str_split", 2, "a string", delimiter)
    n = _int("str_split", 3, limit)
    bound = len(string) + 2                 # a larger limit splits no more
    n = max(-bound, min(n, bound))
    m = len(string)
    if m >= ACCOUNT:
        count = string.count(delimiter) + 1 if delimiter else m
        reserve_elements(min(count, abs(n)) if n else count, m)
    if not delimiter:
        if 0 < n < m:
            parts = _single_bytes(string[:n - 1])
            parts.append(string[n - 1:])
        elif 0 < -n < m:
            cut = m + n + 1                   # the first piece keeps m - (pieces - 1) bytes
            parts = [string[:cut]]
            parts.extend(_single_bytes(string[cut:]))
        else:
            parts = _single_bytes(string)
    elif n == 0:
        parts = string.split(delimiter)
    elif n > 0:
        parts = string.split(delimiter, n - 1)
    else:
        parts = string.rsplit(delimiter, -n - 1)
    return list_array(parts)


_BYTES = [bytes((c,)) for c in range(256)]


def _single_bytes(string: bytes) -> list:
    """The bytes of `string` as one-byte strings."""
    out = []
    for part in pieces(string, 16 * CHUNK):
        out.extend(map(_BYTES.__getitem__, part))
    return out


@builtin(area=AREA)
def str_find(string, substring, offset=0.0):
    """Byte position of the first occurrence of `substring` at or after `offset`
    (negative: counted from the end), or -1."""
    if type(string) is not bytes:
        raise type_error("str_find", 1, "a string", string)
    if type(substring) is not bytes:
        raise type_error("str_find", 2, "a string", substring)
    if len(string) > WORK:
        work(len(string))
    if offset == 0.0 and type(offset) is float:
        return float(string.find(substring))
    o = _int("str_find", 3, offset)
    if o < 0:
        o += len(string)
        if o < 0:
            o = 0
    return float(string.find(substring, o))


@builtin(area=AREA)
def str_rfind(string, substring, offset=0.0):
    """Byte position of the last occurrence of `substring` ending no later than
    `length - offset`, or -1.  A negative offset is taken as 0."""
    if type(string) is not bytes:
        raise type_error("str_rfind", 1, "a string", string)
    if type(substring) is not bytes:
        raise type_error("str_rfind", 2, "a string", substring)
    if len(string) > WORK:
        work(len(string))
    if offset == 0.0 and type(offset) is float:
        return float(string.rfind(substring))
    o = _int("str_rfind", 3, offset)
    end = len(string) - (o if o > 0 else 0)
    if end < 0:
        return -1.0
    return float(string.rfind(substring, 0, end))


@builtin(area=AREA)
def str_lower(string):
    """ASCII A-Z lowercased; every other byte unchanged."""
    if type(string) is not bytes:
        raise type_error("str_lower", 1, "a string", string)
    if len(string) >= ACCOUNT:
        reserve_string(len(string))
    return string.lower()


@builtin(area=AREA)
def str_upper(string):
    """ASCII a-z uppercased; every other byte unchanged."""
    if type(string) is not bytes:
        raise type_error("str_upper", 1, "a string", string)
    if len(string) >= ACCOUNT:
        reserve_string(len(string))
    return string.upper()


@builtin(area=AREA)
def str_slice(string, offset, length=None):
    """Substring by byte positions with PHP substr rules: a negative offset counts from
    the end, an omitted length takes the rest, a negative length stops that many bytes
    before the end; out-of-range requests are clamped (possibly to "")."""
    if type(string) is not bytes:
        raise type_error("str_slice", 1, "a string", string)
    n = len(string)
    o = _int("str_slice", 2, offset)
    if o < 0:
        o += n
        if o < 0:
            o = 0
    if length is None:
        e = n
    else:
        ln = _int("str_slice", 3, length)
        e = n + ln if ln < 0 else o + ln
        if e > n:
            e = n
    if e - o >= ACCOUNT and e - o < n:          # a copy, not the string itself
        reserve_string(e - o)
    return string[o:e] if e > o else b""


@builtin(area=AREA)
def str_strip(string, characters=_WS):
    """`string` without leading and trailing bytes from `characters` (default space, tab,
    CR, LF)."""
    if type(string) is not bytes:
        raise type_error("str_strip", 1, "a string", string)
    if type(characters) is not bytes:
        raise type_error("str_strip", 2, "a string", characters)
    if len(string) >= ACCOUNT:
        _reserve_stripped(string, characters)
    return string.strip(characters)


def _reserve_stripped(string: bytes, characters: bytes) -> None:
    """Announce the copy that stripping makes (at most the string), unless there is
    nothing to strip."""
    if string[0] in characters or string[-1] in characters:
        reserve_string(len(string))


@builtin(area=AREA)
def str_lstrip(string, characters=_WS):
    """Like str_strip, leading side only."""
    if type(string) is not bytes:
        raise type_error("str_lstrip", 1, "a string", string)
    if type(characters) is not bytes:
        raise type_error("str_lstrip", 2, "a string", characters)
    if len(string) >= ACCOUNT:
        _reserve_stripped(string, characters)
    return string.lstrip(characters)


@builtin(area=AREA)
def str_rstrip(string, characters=_WS):
    """Like str_strip, trailing side only."""
    if type(string) is not bytes:
        raise type_error("str_rstrip", 1, "a string", string)
    if type(characters) is not bytes:
        raise type_error("str_rstrip", 2, "a string", characters)
    if len(string) >= ACCOUNT:
        _reserve_stripped(string, characters)
    return string.rstrip(characters)


@builtin(area=AREA)
def str_chunk(string, length, firstlength=None):
    """Consecutive pieces of `length` bytes (the last may be shorter); the first piece has
    `firstlength` bytes when given.  Lengths must be positive."""
    if type(string) is not bytes:
        raise type_error("str_chunk", 1, "a string", string)
    size = _int("str_chunk", 2, length)
    if size <= 0:
        raise ScriptError("str_chunk() expects a positive length as argument 2")
    parts = []
    start = 0
    n = len(string)
    if firstlength is not None:
        first = _int("str_chunk", 3, firstlength)
        if first <= 0:
            raise ScriptError("str_chunk() expects a positive length as argument 3")
        if string:
            parts.append(string[:first])
            start = first
    if n >= ACCOUNT:
        reserve_elements(len(parts) + len(range(start, n, size)), n)
    for r in ranges(start, n, size):
        parts.extend([string[i:i + size] for i in r])
    return list_array(parts)
