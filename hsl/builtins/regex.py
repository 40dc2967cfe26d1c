"""Regular-expression builtins (builtins.md "Regular expressions"): pcre_match,
pcre_match_all, pcre_quote, pcre_compile, pcre_replace.

Patterns are compiled and matched by hsl.runtime.regex (PCRE2 on bytes, with PCRE's match limit);
this module only shapes the results into HSL arrays.

Result shape of a match (pcre_match, and the argument of a pcre_replace callback): key 0
is the whole match, keys 1..n the capture groups (a group that did not participate is
""), then every named group once more under its name.
"""
from __future__ import annotations

from ..errors import ScriptError
from ..runtime.regex import Pattern, parse_pattern_value, split_delimited
from ..runtime.values import HArray, HFunction, HRegex, format_number, type_name
from ._args import digits_value, type_error
from ._limits import (CHUNK, MAX_ARRAY, WORK, Pieces, check_deadline, expand, list_array,
                      reserve_elements, work)
from .registry import builtin

_AREA = "regex"


_CACHE: dict = {}          # pattern string -> Pattern (the common case: a literal string)
_CACHE_MAX = 1024


def _pattern(fname: str, p) -> Pattern:
    if type(p) is bytes:
        pat = _CACHE.get(p)
        if pat is None:
            pat = parse_pattern_value(p)
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.clear()
            _CACHE[p] = pat
        return pat
    compiled = getattr(p, "compiled", None)
    if type(compiled) is Pattern:
        return compiled
    raise type_error(fname, 1, "a string or a Regex", p)


def _match_array(m, pat: Pattern) -> HArray:
    """[0=>match, 1=>group1, ..., name=>group] for one match."""
    d = {0: m.group(0)}
    d.update(enumerate(m.groups(b""), 1))
    if pat.groupindex:
        for name, num in pat.groupindex.items():
            v = m.group(num)
            d[name.encode("utf-8", "surrogateescape") if type(name) is str else name] = \
                b"" if v is None else v
    return HArray.from_dict_normalized(d)


@builtin(area=_AREA)
def pcre_match(pattern, subject):
    """The first match of `pattern` in `subject` as [0=>match, 1=>group1, ..., name=>group],
    or [] when there is no match."""
    pat = _pattern("pcre_match", pattern)
    if type(subject) is not bytes:
        raise type_error("pcre_match", 2, "a string", subject)
    if len(subject) > WORK:
        work(len(subject))
    m = pat.search(subject)
    if m is None:
        return HArray()
    return _match_array(m, pat)


@builtin(area=_AREA)
def pcre_match_all(pattern, subject):
    """All non-overlapping matches grouped by capture group: [0=>[matches], 1=>[group 1
    values], ..., name=>[...]]; every group has a (possibly empty) list."""
    pat = _pattern("pcre_match_all", pattern)
    if type(subject) is not bytes:
        raise type_error("pcre_match_all", 2, "a string", subject)
    if len(subject) > WORK:
        work(len(subject))
    ngroups = pat.groups
    cols = [[] for _ in range(ngroups + 1)]
    matches = cols[0]
    for m in pat.finditer(subject):
        matches.append(m.group(0))
        if ngroups:
            for i, v in enumerate(m.groups(b""), 1):
                cols[i].append(v)
        if not len(matches) % CHUNK:
            _more_matches(len(matches), ngroups)
    d = {i: list_array(c) for i, c in enumerate(cols)}
    for name, num in pat.groupindex.items():
        key = name.encode("utf-8", "surrogateescape") if type(name) is str else name
        d[key] = list_array(list(cols[num]))
    return HArray.from_dict_normalized(d)


def _more_matches(n: int, ngroups: int) -> None:
    """pcre_match_all has found `n` matches: announce the lists of the next CHUNK."""
    if n > MAX_ARRAY:
        reserve_elements(n)                     # "array too large"
    reserve_elements(CHUNK * (ngroups + 1))
    check_deadline()


_QUOTE = {c: b"\\" + bytes([c]) for c in b"\\.+*?[^]$(){}=!<>|:-#/"}
_QUOTE[0] = b"\\000"
_QUOTE_TABLE = [_QUOTE.get(c, bytes([c])) for c in range(256)]


@builtin(area=_AREA)
def pcre_quote(string):
    """`string` with every regex metacharacter backslash-escaped (NUL as \\000)."""
    if type(string) is not bytes:
        raise type_error("pcre_quote", 1, "a string", string)
    return expand(string, _QUOTE_TABLE)


@builtin(area=_AREA)
def pcre_compile(string):
    """A Regex value for a bare pattern or a `/pattern/flags` string."""
    if type(string) is not bytes:
        raise type_error("pcre_compile", 1, "a string", string)
    parts = split_delimited(string)
    if parts is None:
        return HRegex(string, "")
    return HRegex(parts[0], parts[1])


def _parse_template(tpl: bytes):
    """Split a replacement string into literal bytes and group numbers ($n, ${n}; up to two
    digits after a bare $). Returns a list of bytes / int parts, or None when `tpl` has no
    references."""
    if b"$" not in tpl:
        return None
    parts = []
    lit = bytearray()
    i = 0
    n = len(tpl)
    while i < n:
        c = tpl[i]
        if c == 36:  # $
            j = i + 1
            if j < n and tpl[j] == 123:  # ${n}
                k = j + 1
                while k < n and 48 <= tpl[k] <= 57:
                    k += 1
                if k > j + 1 and k < n and tpl[k] == 125:
                    if lit:
                        parts.append(bytes(lit))
                        lit = bytearray()
                    parts.append(digits_value(tpl[j + 1:k], 1 << 20))
                    i = k + 1
                    continue
            else:
                k = j
                while k < n and k < j + 2 and 48 <= tpl[k] <= 57:
                    k += 1
                if k > j:
                    if lit:
                        parts.append(bytes(lit))
                        lit = bytearray()
                    parts.append(int(tpl[j:k]))
                    i = k
                    continue
        lit.append(c)
        i += 1
    if lit:
        parts.append(bytes(lit))
    return parts


def _callback_result(v) -> bytes:
    t = type(v)
    if t is bytes:
        return v
    if t is float:
        return format_number(v)
    raise ScriptError(f"pcre_replace() callback must return a string, got {type_name(v)} "
                      "(type error)")


@builtin(area=_AREA)
def pcre_replace(pattern, replace, subject, limit=0.0):
    """`subject` with matches of `pattern` replaced (at most `limit`, 0 = all) by the
    string `replace` ($0..$n, ${n} refer to groups) or by `replace(match_array)`."""
    pat = _pattern("pcre_replace", pattern)
    tr = type(replace)
    if tr is not bytes and tr is not HFunction:
        raise type_error("pcre_replace", 2, "a string or a function", replace)
    if type(subject) is not bytes:
        raise type_error("pcre_replace", 3, "a string", subject)
    if type(limit) is not float:
        raise type_error("pcre_replace", 4, "a number", limit)
    count = int(limit) if limit == limit and abs(limit) != float("inf") else 0
    if count < 0:
        count = 0
    if len(subject) > WORK:
        work(len(subject))
    out = Pieces()              # the result's size is known as matches are found
    view = memoryview(subject)
    pos = 0
    done = 0
    if tr is bytes:
        tpl = _parse_template(replace)
    for m in pat.finditer(subject):
        s, e = m.span()
        out.add(view[pos:s])
        if tr is bytes:
            if tpl is None:
                out.add(replace)
            else:
                out.extend(_expansion(tpl, m, pat.groups, view))
        else:
            out.add(_callback_result(replace(_match_array(m, pat))))
        pos = e
        done += 1
        if done == count:
            break
    if not done:
        return subject
    out.add(view[pos:])
    return out.join()


def _expansion(tpl: list, m, ngroups: int, view: memoryview) -> list:
    """The pieces of a replacement template for match `m`: its literal parts, and views
    of the groups it refers to in the subject (a group past `ngroups`, or one that did
    not take part, is empty)."""
    parts = []
    for p in tpl:
        if type(p) is bytes:
            parts.append(p)
        elif p <= ngroups:
            s, e = m.span(p)
            if e > s:
                parts.append(view[s:e])
    return parts
