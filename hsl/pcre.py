"""PCRE-compatible regular expressions on byte strings (language spec 2.7.5, 5.9.4, 5.9.6).

HSL patterns are PCRE.  They are translated to the third-party `regex` package (not the
standard `re`), because `regex` natively supports far more PCRE syntax: recursion
(`(?R)`, `(?1)`, `(?&name)`), `\\K`, `\\G`, branch reset `(?|...)`, POSIX classes
(`[[:alpha:]]`), Unicode properties (`\\p{L}`), atomic groups and possessive quantifiers,
`(*SKIP)`/`(*FAIL)` verbs, `(?<name>...)` groups and PCRE-scoped inline options.
The translator below only rewrites what still differs.

Public API (used by `=~`, HRegex and the pcre_* builtins):

* ``compile_pattern(pattern: bytes, flags: str) -> Pattern`` (LRU cached, thread-safe);
  raises ScriptError naming the pattern when invalid or when a flag is unknown.
* ``parse_pattern_value(p) -> Pattern``: an HRegex, a ``/body/flags`` string or a bare
  pattern string (5.9.4).
* ``regex_search(subject, pattern) -> bool`` for ``=~``.
* ``Pattern.search(subject, pos=0)`` -> match or None; ``Pattern.finditer(subject)``;
  ``Pattern.groups`` (number of groups), ``Pattern.groupindex`` (name -> number).
  Match objects have ``group(g=0)`` (bytes, None when the group did not participate),
  ``groups()``, ``groupdict()``, ``start(g)``, ``end(g)``, ``span(g)`` (byte offsets,
  -1 when unmatched), ``lastindex``.  In bytes mode they are `regex` match objects; in
  `u` mode they are ``Utf8Match`` wrappers with the same methods.

Flags: ``i`` caseless, ``m`` multiline, ``s`` dotall, ``x`` extended, ``u`` UTF-8, ``U``
ungreedy (quantifier greediness is swapped by the translator), ``X`` extra (unknown
escapes of letters are errors; without ``X`` they mean the letter itself, as in PCRE1).

Differences from PCRE (known and accepted):

* ``u`` mode decodes subject and pattern as UTF-8 (invalid bytes are kept as lone
  surrogates via ``surrogateescape`` instead of failing as PCRE does) and matches
  characters; ``\\w \\d \\s \\b``, POSIX classes and caseless matching are then
  Unicode-aware (like PCRE with UCP).  Offsets and captures are returned as bytes.
* Without ``u``, matching is byte-wise and ASCII-only (like PCRE in the C locale).
* Inline ``(?U)`` changes greediness from that point to the end of the pattern (not
  scoped to the group); ``(?X)`` and ``(?J)`` inline are accepted and ignored.
* ``\\g{-n}`` relative back-references count capturing groups textually (not aware of
  branch reset groups).  ``\\10``+ are always back-references (PCRE: octal when fewer
  groups exist).
* Backtracking verbs other than those `regex` knows, callouts, ``\\C``, ``(?C)`` and
  PCRE's ``\\N{U+hhhh}`` are not supported (compile error).
* `regex` allows variable-length look-behind, which PCRE rejects.
"""
from __future__ import annotations

import functools
from itertools import accumulate

import regex as _regex

from . import runtime as _rt
from .errors import ScriptError

# Matching stops at the running execution's time limit (a pattern with catastrophic
# backtracking would otherwise hold the interpreter lock, and every other thread, for as
# long as it runs).
_MIN_TIMEOUT = 0.0001


def _limits() -> dict:
    """The regex module's timeout for a match: the running execution's time left."""
    left = _rt.time_left()
    return {} if left is None else {"timeout": max(left, _MIN_TIMEOUT)}


def _out_of_time():
    ex = _rt.current()
    if ex is not None:
        ex.out_of_time()
    raise _rt.LimitExceeded("execution time limit exceeded")

__all__ = ["Pattern", "Utf8Match", "compile_pattern", "parse_pattern_value", "regex_search",
           "search", "finditer", "FLAG_LETTERS"]

FLAG_LETTERS = "imsxuUX"

_UNKNOWN_LETTER_ESCAPES = set("ijmqyFIJMOTY")
_UNSUPPORTED_ESCAPES = set("uULlC")
_PASS_ESCAPES = set("dDwWsSbBAGKnrtfa" "pPX") | set("0123456789")


class _TranslateError(Exception):
    pass


def _hexval(h: str, utf8: bool) -> str:
    try:
        n = int(h, 16)
    except ValueError:
        raise _TranslateError("invalid hexadecimal escape")
    return _char_escape(n, utf8)


def _char_escape(n: int, utf8: bool) -> str:
    if n > 0xFF and not utf8:
        raise _TranslateError("character code point value in \\x{} or \\o{} is too large")
    if n > 0x10FFFF:
        raise _TranslateError("character code point value is too large")
    if n <= 0xFF:
        return "\\x%02x" % n
    if n <= 0xFFFF:
        return "\\u%04x" % n
    return "\\U%08x" % n


def _vspace(utf8: bool) -> str:
    return "\\n\\x0b\\f\\r\\x85" + ("\\u2028\\u2029" if utf8 else "")


def _hspace(utf8: bool) -> str:
    return "\\t \\xa0" + ("\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000" if utf8 else "")


def _literal(ch: str) -> str:
    return _regex.escape(ch) if ch not in "\n" else "\\n"


class _Translator:
    """Rewrites a PCRE pattern (as str; bytes patterns are latin-1 decoded) for `regex`."""

    def __init__(self, p: str, utf8: bool, ungreedy: bool, extended: bool, extra: bool,
                 multiline: bool):
        self.p = p
        self.utf8 = utf8
        self.ungreedy = ungreedy
        self.extended = extended
        self.extra = extra
        self.multiline = multiline
        self.i = 0
        self.out: list[str] = []
        self.ngroups = 0
        self._total = None

    # escapes shared by classes and the main body; returns the translated text
    def escape(self, in_class: bool) -> str:
        p = self.p
        i = self.i  # points at the char after the backslash
        if i >= len(p):
            raise _TranslateError("\\ at end of pattern")
        c = p[i]
        self.i = i + 1
        if c == "x":
            if i + 1 < len(p) and p[i + 1] == "{":
                j = p.find("}", i + 2)
                if j < 0:
                    raise _TranslateError("missing } in \\x{}")
                self.i = j + 1
                return _hexval(p[i + 2:j], self.utf8)
            h = ""
            j = i + 1
            while j < len(p) and len(h) < 2 and p[j] in "0123456789abcdefABCDEF":
                h += p[j]
                j += 1
            self.i = j
            return _char_escape(int(h, 16) if h else 0, self.utf8)
        if c == "o" and i + 1 < len(p) and p[i + 1] == "{":
            j = p.find("}", i + 2)
            if j < 0:
                raise _TranslateError("missing } in \\o{}")
            self.i = j + 1
            try:
                return _char_escape(int(p[i + 2:j], 8), self.utf8)
            except ValueError:
                raise _TranslateError("invalid octal escape")
        if c == "e":
            return "\\x1b"
        if c == "c":
            if i + 1 >= len(p):
                raise _TranslateError("\\c at end of pattern")
            self.i = i + 2
            return _char_escape(ord(p[i + 1].upper()) ^ 0x40, self.utf8)
        if c == "h":
            return "[%s]" % _hspace(self.utf8) if not in_class else _hspace(self.utf8)
        if c == "H":
            if in_class:
                raise _TranslateError("\\H in a character class is not supported")
            return "[^%s]" % _hspace(self.utf8)
        if c == "v":
            return "[%s]" % _vspace(self.utf8) if not in_class else _vspace(self.utf8)
        if c == "V":
            if in_class:
                raise _TranslateError("\\V in a character class is not supported")
            return "[^%s]" % _vspace(self.utf8)
        if c == "R":
            if in_class:
                raise _TranslateError("\\R in a character class")
            return "(?>\\r\\n|[%s])" % _vspace(self.utf8)
        if c == "N":
            if in_class or (i + 1 < len(p) and p[i + 1] == "{"):
                raise _TranslateError("\\N is not supported here")
            return "[^\\n]"
        if c == "z":
            return "\\Z"
        if c == "Z":
            return "(?=\\n?\\Z)"
        if c == "E":
            return ""
        if c == "Q":
            j = p.find("\\E", i + 1)
            if j < 0:
                j = len(p)
                self.i = j
            else:
                self.i = j + 2
            return "".join(_literal(ch) for ch in p[i + 1:j])
        if c in "gk" and not in_class:
            return self.backref(c)
        if c in "pP":
            # \pL or \p{...}
            if i + 1 < len(p) and p[i + 1] == "{":
                j = p.find("}", i + 2)
                if j < 0:
                    raise _TranslateError("malformed \\p")
                self.i = j + 1
                return "\\" + c + p[i + 1:j + 1]
            if i + 1 >= len(p):
                raise _TranslateError("malformed \\p")
            self.i = i + 2
            return "\\" + c + p[i + 1]
        if c.isdigit():
            if c == "0":
                j = i + 1
                while j < len(p) and j < i + 3 and p[j] in "01234567":
                    j += 1
                self.i = j
                return _char_escape(int(p[i:j], 8), self.utf8)
            j = i
            while j < len(p) and p[j].isdigit():
                j += 1
            digits = p[i:j]
            if not in_class and ((len(digits) == 1 and c < "8")
                                or int(digits) <= self.ngroups_total()):
                self.i = j
                return "(?:\\%s)" % digits
            k = i
            while k < len(p) and k < i + 3 and p[k] in "01234567":
                k += 1
            if k == i:                                 # \8 or \9: the digit itself
                return _literal(c)
            self.i = k
            return _char_escape(int(p[i:k], 8), self.utf8)
        if c in _PASS_ESCAPES:
            if in_class and c in "bBAGKX":
                if c == "b":
                    return "\\x08"
                raise _TranslateError(f"\\{c} is not allowed in a character class")
            return "\\" + c
        if c in _UNSUPPORTED_ESCAPES:
            raise _TranslateError(f"PCRE does not support \\{c}")
        if c.isalpha() and c.isascii():
            if c in _UNKNOWN_LETTER_ESCAPES or c in "gko":
                if self.extra:
                    raise _TranslateError(f"unrecognized character follows \\ (\\{c})")
                return _literal(c)
            return "\\" + c
        return _literal(c)

    def ngroups_total(self) -> int:
        """Number of capturing groups in the whole pattern (textual count)."""
        if self._total is None:
            n = 0
            p = self.p
            k = 0
            while k < len(p):
                ch = p[k]
                if ch == "\\":
                    k += 2
                    continue
                if ch == "(":
                    nxt = p[k + 1:k + 2]
                    if nxt not in ("?", "*"):
                        n += 1
                    elif nxt == "?" and (p[k + 2:k + 3] == "'" or p[k + 2:k + 4] == "P<"
                                         or (p[k + 2:k + 3] == "<"
                                             and p[k + 3:k + 4] not in ("=", "!"))):
                        n += 1
                k += 1
            self._total = n
        return self._total

    def backref(self, c: str) -> str:
        p = self.p
        i = self.i
        if i >= len(p):
            raise _TranslateError(f"\\{c} at end of pattern")
        op = p[i]
        close = {"{": "}", "<": ">", "'": "'"}.get(op)
        if close is None:
            if c == "g" and (op.isdigit() or op == "-"):
                j = i + 1
                while j < len(p) and p[j].isdigit():
                    j += 1
                self.i = j
                return self._numref(p[i:j])
            if self.extra:
                raise _TranslateError(f"\\{c} is not followed by a group reference")
            return _literal(c)
        j = p.find(close, i + 1)
        if j < 0:
            raise _TranslateError(f"malformed \\{c} reference")
        name = p[i + 1:j]
        self.i = j + 1
        if c == "g" and op in "<'":
            # Oniguruma-style subroutine call
            if name.lstrip("-+").isdigit():
                n = int(name)
                if name[0] in "-+":
                    n = self.ngroups + 1 + n if name[0] == "-" else self.ngroups + n
                return "(?%d)" % n
            return "(?&%s)" % name
        if name.lstrip("-").isdigit():
            return self._numref(name)
        return "(?P=%s)" % name

    def _numref(self, s: str) -> str:
        try:
            n = int(s)
        except ValueError:
            raise _TranslateError("invalid group reference")
        if n < 0:
            n = self.ngroups + 1 + n
        if n <= 0:
            raise _TranslateError("invalid group reference")
        return "(?:\\%d)" % n

    def char_class(self) -> str:
        p = self.p
        i = self.i  # after '['
        out = ["["]
        if i < len(p) and p[i] == "^":
            out.append("^")
            i += 1
        first = True
        while True:
            if i >= len(p):
                raise _TranslateError("missing terminating ] for character class")
            ch = p[i]
            if ch == "]" and not first:
                out.append("]")
                i += 1
                break
            first = False
            if ch == "\\":
                self.i = i + 1
                out.append(self.escape(in_class=True))
                i = self.i
                continue
            if ch == "[":
                if p.startswith("[:", i) or p.startswith("[=", i) or p.startswith("[.", i):
                    j = p.find(":]", i + 2) if p[i + 1] == ":" else -1
                    if j >= 0:
                        out.append(p[i:j + 2])
                        i = j + 2
                        continue
                out.append("\\[")
                i += 1
                continue
            if ch in "&~|-" and i + 1 < len(p) and p[i + 1] == ch:
                # set operators of `regex` V1 must stay literal
                out.append("\\" + ch)
                i += 1
                continue
            if ch == "]":
                out.append("\\]")
            elif ch == "\n":
                out.append("\\n")
            else:
                out.append(ch)
            i += 1
        self.i = i
        return "".join(out)

    def quantifier_suffix(self) -> str:
        """After a quantifier: apply U (swap laziness), keep possessive."""
        p = self.p
        i = self.i
        nxt = p[i] if i < len(p) else ""
        if nxt == "+":
            self.i = i + 1
            return "+"
        if nxt == "?":
            self.i = i + 1
            return "" if self.ungreedy else "?"
        return "?" if self.ungreedy else ""

    def translate(self) -> str:
        p = self.p
        out = self.out
        n = len(p)
        while self.i < n:
            i = self.i
            ch = p[i]
            if ch == "\\":
                self.i = i + 1
                out.append(self.escape(in_class=False))
            elif ch == "[":
                self.i = i + 1
                out.append(self.char_class())
            elif ch == "(":
                self.group_open()
            elif ch in "*+?":
                self.i = i + 1
                out.append(ch + self.quantifier_suffix())
            elif ch == "{":
                j = i + 1
                while j < n and p[j].isdigit():
                    j += 1
                lo = p[i + 1:j]
                if j < n and p[j] == "}" and lo:
                    self.i = j + 1
                    out.append(p[i:j + 1] + self.quantifier_suffix())
                elif j < n and p[j] == "," and lo:
                    k = j + 1
                    while k < n and p[k].isdigit():
                        k += 1
                    if k < n and p[k] == "}":
                        self.i = k + 1
                        out.append(p[i:k + 1] + self.quantifier_suffix())
                    else:
                        self.i = i + 1
                        out.append("\\{")
                else:
                    self.i = i + 1
                    out.append("\\{")
            elif ch == "}":
                self.i = i + 1
                out.append("\\}")
            elif ch == "^" and self.multiline:
                self.i = i + 1
                out.append("(?:^(?!(?<=\\n)\\Z))")
            elif ch == "#" and self.extended:
                j = p.find("\n", i)
                self.i = n if j < 0 else j + 1
            else:
                self.i = i + 1
                out.append(ch)
        return "".join(out)

    def _copy_to(self, i: int, close: str) -> None:
        j = self.p.find(close, i)
        if j < 0:
            raise _TranslateError("missing %s" % close)
        self.out.append(self.p[self.i:j + 1])
        self.i = j + 1

    def group_open(self) -> None:
        p = self.p
        i = self.i
        out = self.out
        nxt = p[i + 1:i + 2]
        if nxt == "*":
            j = p.find(")", i)
            if j < 0:
                raise _TranslateError("missing )")
            verb = p[i + 2:j]
            self.i = j + 1
            if verb not in ("UTF8", "UTF", "UCP", "NO_START_OPT", "NO_AUTO_POSSESS"):
                out.append(p[i:j + 1])
            return
        if nxt != "?":
            self.ngroups += 1
            self.i = i + 1
            out.append("(")
            return
        c = p[i + 2:i + 3]
        c2 = p[i + 3:i + 4]
        if c == "#":
            j = p.find(")", i)
            if j < 0:
                raise _TranslateError("missing ) after comment")
            self.i = j + 1
            return
        if c == "'":
            j = p.find("'", i + 3)
            if j < 0:
                raise _TranslateError("malformed named group")
            self.ngroups += 1
            out.append("(?P<%s>" % p[i + 3:j])
            self.i = j + 1
            return
        if c == "<" and c2 not in ("=", "!"):
            self.ngroups += 1
            self._copy_to(i, ">")
            return
        if c == "P":
            if c2 == "<":
                self.ngroups += 1
                self._copy_to(i, ">")
            else:
                self._copy_to(i, ")")
            return
        if c == "&" or c == "R" or c.isdigit() or (c in "+-" and c2.isdigit()):
            self._copy_to(i, ")")
            return
        if c == "(":
            if c2 == "?" or c2 == "*":
                self.i = i + 2
                out.append("(?")
                return
            j = p.find(")", i + 3)
            if j < 0:
                raise _TranslateError("malformed conditional group")
            cond = p[i + 3:j]
            if cond[:1] in ("<", "'") and cond[-1:] in (">", "'"):
                cond = cond[1:-1]
            out.append("(?(%s)" % cond)
            self.i = j + 1
            return
        if c == "<":                                   # (?<= (?<!
            out.append(p[i:i + 4])
            self.i = i + 4
            return
        # inline option setting; U, X and J are handled here (or ignored)
        j = i + 2
        while j < len(p) and p[j] in "imsxXUJn-":
            j += 1
        if j > i + 2 and j < len(p) and p[j] in "):":
            opts = p[i + 2:j]
            on, _, off = opts.partition("-")
            if p[j] == ")":
                if "U" in on:
                    self.ungreedy = True
                if "U" in off:
                    self.ungreedy = False
                if "x" in on:
                    self.extended = True
                if "x" in off:
                    self.extended = False
            on = on.replace("U", "").replace("X", "").replace("J", "")
            off = off.replace("U", "").replace("X", "").replace("J", "")
            kept = on + ("-" + off if off else "")
            self.i = j + 1
            if p[j] == ")":
                if kept:
                    out.append("(?%s)" % kept)
            else:
                out.append("(?%s:" % kept)
            return
        # (?: (?= (?! (?> (?| and anything regex itself should judge
        out.append(p[i:i + 3])
        self.i = i + 3


class Utf8Match:
    """A match in `u` mode: the `regex` match on the decoded text, reported in bytes."""

    __slots__ = ("m", "_offs", "re", "string")

    def __init__(self, m, offs, pattern, string: bytes):
        self.m = m
        self._offs = offs
        self.re = pattern
        self.string = string

    def _b(self, ci: int) -> int:
        if ci < 0:
            return -1
        return ci if self._offs is None else self._offs[ci]

    def group(self, *gs):
        if len(gs) > 1:
            return tuple(self.group(g) for g in gs)
        s = self.m.group(*gs)
        return None if s is None else s.encode("utf-8", "surrogateescape")

    def __getitem__(self, g):
        return self.group(g)

    def groups(self, default=None):
        return tuple(default if s is None else s.encode("utf-8", "surrogateescape")
                     for s in self.m.groups())

    def groupdict(self, default=None):
        return {k: (default if s is None else s.encode("utf-8", "surrogateescape"))
                for k, s in self.m.groupdict().items()}

    def start(self, g=0) -> int:
        return self._b(self.m.start(g))

    def end(self, g=0) -> int:
        return self._b(self.m.end(g))

    def span(self, g=0):
        return (self.start(g), self.end(g))

    @property
    def lastindex(self):
        return self.m.lastindex

    @property
    def lastgroup(self):
        return self.m.lastgroup


class Pattern:
    """A compiled HSL pattern."""

    __slots__ = ("source", "flags", "regex", "utf8", "groups", "groupindex")

    def __init__(self, source: bytes, flags: str, compiled, utf8: bool):
        self.source = source
        self.flags = flags
        self.regex = compiled
        self.utf8 = utf8
        self.groups = compiled.groups
        self.groupindex = dict(compiled.groupindex)

    def _decode(self, subject: bytes):
        text = subject.decode("utf-8", "surrogateescape")
        if subject.isascii():
            return text, None
        offs = [0]
        offs.extend(accumulate(len(ch.encode("utf-8", "surrogateescape")) if ord(ch) > 127
                               else 1 for ch in text))
        return text, offs

    def _char_pos(self, subject: bytes, pos: int) -> int:
        return len(subject[:pos].decode("utf-8", "surrogateescape"))

    def _target(self, subject: bytes, pos: int):
        """(what the regex matches, the characters' byte offsets or None, start)."""
        if not self.utf8:
            return subject, None, pos
        text, offs = self._decode(subject)
        return text, offs, (pos if offs is None or pos == 0 else self._char_pos(subject, pos))

    def search(self, subject: bytes, pos: int = 0):
        """The first match at or after byte offset `pos`, or None."""
        text, offs, pos = self._target(subject, pos)
        try:
            m = self.regex.search(text, pos, **_limits())
        except TimeoutError:
            _out_of_time()
        if m is None or not self.utf8:
            return m
        return Utf8Match(m, offs, self, subject)

    def finditer(self, subject: bytes, pos: int = 0):
        """All non-overlapping matches (empty matches as in PCRE/Perl global matching)."""
        text, offs, pos = self._target(subject, pos)
        matches = self.regex.finditer(text, pos, **_limits())
        try:
            for m in matches:
                yield Utf8Match(m, offs, self, subject) if self.utf8 else m
        except TimeoutError:
            _out_of_time()

    def __repr__(self):
        return f"Pattern({self.source!r}, {self.flags!r})"


def _pattern_text(pattern: bytes) -> str:
    return pattern.decode("utf-8", "replace")


@functools.lru_cache(maxsize=1024)
def _compile(pattern: bytes, flags: str) -> Pattern:
    for f in flags:
        if f not in FLAG_LETTERS:
            raise ScriptError(f"invalid regular expression /{_pattern_text(pattern)}/{flags}: "
                              f"unknown modifier {f!r}")
    utf8 = "u" in flags
    src = pattern
    # leading (*UTF8) / (*UTF) / (*UCP) verbs switch UTF-8 mode on
    while True:
        for verb in (b"(*UTF8)", b"(*UTF)", b"(*UCP)"):
            if src.startswith(verb):
                src = src[len(verb):]
                utf8 = True
                break
        else:
            break
    if utf8:
        text = src.decode("utf-8", "surrogateescape")
    else:
        text = src.decode("latin-1")
    reflags = 0
    if "i" in flags:
        reflags |= _regex.IGNORECASE
    if "m" in flags:
        reflags |= _regex.MULTILINE
    if "s" in flags:
        reflags |= _regex.DOTALL
    if "x" in flags:
        reflags |= _regex.VERBOSE
    try:
        tr = _Translator(text, utf8, "U" in flags, "x" in flags, "X" in flags, "m" in flags)
        translated = tr.translate()
        if utf8:
            compiled = _regex.compile(translated, reflags | _regex.V0)
        else:
            compiled = _regex.compile(translated.encode("latin-1"), reflags | _regex.V0)
    except (_TranslateError, _regex.error, UnicodeEncodeError, OverflowError,
            ValueError, RecursionError) as e:
        raise ScriptError(f"invalid regular expression /{_pattern_text(pattern)}/{flags}: {e}")
    return Pattern(pattern, flags, compiled, utf8)



def compile_pattern(pattern: bytes, flags: str = "") -> Pattern:
    """Compile (cached) `pattern` with modifier letters `flags`."""
    try:
        return _compile(pattern, flags)
    except TypeError:
        raise ScriptError("a regular expression pattern must be a string (type error)")


_FLAGSET = frozenset(FLAG_LETTERS.encode("ascii"))


def split_delimited(p: bytes):
    """(body, flags) when `p` has the `/body/flags` form of 5.9.4, else None."""
    if len(p) >= 2 and p[0] == 47:
        j = p.rfind(b"/")
        if j > 0 and all(c in _FLAGSET for c in p[j + 1:]):
            return p[1:j], p[j + 1:].decode("ascii")
    return None


def parse_pattern_value(p) -> Pattern:
    """The compiled pattern for an HSL pattern value: an HRegex, a `/body/flags` string or
    a bare pattern string."""
    if type(p) is bytes:
        parts = split_delimited(p)
        if parts is not None:
            return compile_pattern(parts[0], parts[1])
        return compile_pattern(p, "")
    compiled = getattr(p, "compiled", None)
    if isinstance(compiled, Pattern):
        return compiled
    from .values import type_name
    raise ScriptError(f"a pattern must be a string or a Regex, got {type_name(p)} (type error)")


def _subject(s) -> bytes:
    if type(s) is bytes:
        return s
    from .values import to_str
    return to_str(s)


def regex_search(subject, pattern) -> bool:
    """`subject =~ pattern`."""
    compiled = getattr(pattern, "compiled", None)
    if type(compiled) is not Pattern:
        compiled = parse_pattern_value(pattern)
    s = subject if type(subject) is bytes else _subject(subject)
    return compiled.search(s) is not None


def search(subject, pattern, pos: int = 0):
    """The first match of `pattern` (any pattern value) in `subject`, or None."""
    return parse_pattern_value(pattern).search(_subject(subject), pos)


def finditer(subject, pattern):
    """All matches of `pattern` (any pattern value) in `subject`."""
    return parse_pattern_value(pattern).finditer(_subject(subject))
