"""PCRE regular expressions on byte strings (language spec 2.7.5, 5.9.4, 5.9.6).

Patterns are compiled and matched by PCRE2 itself: the `pcre2` package bundles the library
with its JIT compiler.  Every pattern PCRE2 accepts works with PCRE2's semantics
(backtracking verbs, callouts, newline conventions, start-of-pattern options...), and every
pattern it rejects is an error with PCRE2's own message and offset.  hsl calls the
package's low-level module `pcre2._cy`: its high-level API always sets PCRE2_ALT_BSUX (which
reads `\\x{41}` as the text "x{41}") and, with UTF, PCRE2_UCP, and it cannot pass
PCRE2_UNGREEDY or match options.

This module works on byte strings and knows nothing of HSL values (hsl.runtime.values builds
HRegex values with it); hsl.runtime.regex is the API on HSL values, and re-exports this one:

* ``compile_pattern(pattern: bytes, flags: str) -> Pattern`` (LRU cached, thread-safe);
  raises PatternError (a ScriptError) for an invalid pattern or an unknown flag.
* ``split_delimited(p)``: the (body, flags) of a ``/body/flags`` string (5.9.4).
* ``Pattern.search(subject, pos=0)`` -> Match or None; ``Pattern.finditer(subject)``;
  ``Pattern.groups`` (number of groups), ``Pattern.groupindex`` (name -> number).
  ``Match`` has ``group(g=0)`` (bytes, None when the group did not take part),
  ``groups(default)``, ``groupdict(default)``, ``start(g)``, ``end(g)``, ``span(g)``
  (byte offsets, -1 when the group did not take part).

Flags are PCRE2's compile options: ``i`` CASELESS, ``m`` MULTILINE, ``s`` DOTALL, ``x``
EXTENDED, ``U`` UNGREEDY, ``u`` UTF: as PCRE's UTF-8 option, without UCP, so ``.`` and
caseless matching work on characters while ``\\w \\d \\s \\b`` and POSIX classes stay
ASCII (a pattern that starts with ``(*UCP)`` makes them Unicode's).  ``X`` is PCRE1's
PCRE_EXTRA, the PCRE1 rule language.md 5.9.6 keeps: an unknown escape is an error with
``X``, and the character itself without it.  PCRE2 always rejects one, so without ``X``
the backslash of every escape PCRE2 rejects as unknown (``\\q``; ``\\F``, unknown to
PCRE1; ``\\B \\R \\X \\A \\z`` ... in a class) is dropped and the pattern compiled again.
Elsewhere hsl is PCRE2, also where PCRE1 differed: ``\\8`` is a back-reference, ``\\K`` is
not allowed in lookarounds, and this build of the library locks ``\\C`` out.

Limits: a match that backtracks without end stops at PCRE2's match limit (10,000,000:
about 0.03 s with the JIT, 0.1 s without) with the runtime error "match limit exceeded";
the interpreter's backtracking memory stops at 128 MiB ("heap limit exceeded").  Every
match is first tried with a match limit of 100,000 (under a millisecond): past it, a
speculative run (hsl serve's event loop) is preempted, and a normal run looks at its
deadline and matches again with the full limit.  The JIT's stack is 32 KiB (the package
cannot give it more): a match that needs more runs again in the interpreter.  pcre2 holds
the interpreter lock while it matches; these limits bound how long.

With UTF the subject must be valid UTF-8 (else "UTF-8 error: ..."), as in PCRE; it is
checked once a call (finditer's later matches pass PCRE2_NO_UTF_CHECK).
"""
from __future__ import annotations

import functools

from pcre2 import LibraryError as _LibraryError
from pcre2 import PatternError as _CompileFailed
from pcre2 import _cy

from . import execution as _ex
from ..errors import ScriptError

__all__ = ["Match", "Pattern", "PatternError", "compile_pattern", "split_delimited",
           "FLAG_LETTERS"]

FLAG_LETTERS = "imsxuUX"

# Option and error values of pcre2.h.
_OPTIONS = {"i": 0x00000008, "m": 0x00000400, "s": 0x00000020, "x": 0x00000080,
            "u": 0x00080000, "U": 0x00040000, "X": 0}
_NOT_OPTIONS = 0x00000002 | 0x00020000          # ALT_BSUX, UCP: _cy.compile adds them
_NOTEMPTY_ATSTART = 0x00000008
_NO_JIT = 0x00002000
_NO_UTF_CHECK = 0x40000000
_JIT_STACKLIMIT = -46
_MATCHLIMIT = -47
_UNKNOWN_ESCAPE = 103
_ESCAPE_INVALID_IN_CLASS = 107
_UNSUPPORTED_ESCAPE = 137

# Start-of-pattern limits (a pattern can only lower the library's): the interpreter's
# backtracking memory, in KiB; the first try's match limit.
_FULL = b"(*LIMIT_HEAP=131072)"
_FIRST_TRY = _FULL + b"(*LIMIT_MATCH=100000)"

_CONTEXT = _cy.create_match_context()           # no callout function: callouts pass


class PatternError(ScriptError):
    """An invalid pattern: PCRE2's message (`reason`) and the byte offset in the pattern at
    which PCRE2 found the error (`offset`; None for an unknown flag)."""

    def __init__(self, pattern: bytes, flags: str, reason: str, offset=None):
        at = "" if offset is None else f" at offset {offset}"
        super().__init__(f"invalid regular expression /{_text(pattern)}/{flags}: "
                         f"{reason}{at}")
        self.reason = reason
        self.offset = offset


def _text(pattern: bytes) -> str:
    return pattern.decode("utf-8", "replace")


def _jit(code) -> None:
    try:
        _cy.jit_compile(code)
    except _LibraryError:       # no JIT for this machine or pattern: the interpreter matches
        pass


_span = _cy.match_substring_span_bynumber
_substring = _cy.match_substring_bynumber


class Match:
    """One match of a Pattern in `string`, from byte offset `start` to `stop`."""

    __slots__ = ("_md", "string", "re", "_start", "_stop")

    def __init__(self, md, string: bytes, pattern: "Pattern", start: int, stop: int):
        self._md = md
        self.string = string
        self.re = pattern
        self._start = start
        self._stop = stop

    def group(self, g: int = 0):
        if g == 0:
            return self.string[self._start:self._stop]
        return _substring(self._md, self.string, g)

    def __getitem__(self, g: int):
        return self.group(g)

    def groups(self, default=None) -> tuple:
        md, s = self._md, self.string
        values = [_substring(md, s, g) for g in range(1, self.re.groups + 1)]
        if default is not None and None in values:
            values = [default if v is None else v for v in values]
        return tuple(values)

    def groupdict(self, default=None) -> dict:
        return {name: default if v is None else v
                for name, v in ((name, self.group(g)) for name, g in self.re.groupindex.items())}

    def span(self, g: int = 0) -> tuple:
        if g == 0:
            return self._start, self._stop
        return _span(self._md, self.string, g)

    def start(self, g: int = 0) -> int:
        return self.span(g)[0]

    def end(self, g: int = 0) -> int:
        return self.span(g)[1]


class Pattern:
    """A compiled HSL pattern."""

    __slots__ = ("source", "flags", "groups", "groupindex", "utf8", "_code", "_full",
                 "_text", "_options")

    def __init__(self, source: bytes, flags: str, code, text: bytes, options: int):
        self.source = source
        self.flags = flags
        _jit(code)
        self._code = code                   # with the first try's match limit
        self._full = None                   # with PCRE2's, compiled when a match needs it
        self._text = text                   # the pattern PCRE2 accepted
        self._options = options
        self.groups = _cy.pattern_capture_count(code)
        names = _cy.pattern_name_dict(code)     # PCRE2's name table is in name order
        self.groupindex = dict(sorted(names.items(), key=lambda kv: kv[1]))
        self.utf8 = _cy.pattern_is_utf(code)    # the u flag or a (*UTF) in the pattern

    def _full_limits(self):
        if self._full is None:
            code = _cy.compile(_FULL + self._text, self._options, _NOT_OPTIONS)
            _jit(code)
            self._full = code
        return self._full

    def _match(self, subject: bytes, pos: int, options: int):
        """PCRE2's match data of the first match at or after byte offset `pos`, or None."""
        try:
            return _cy.match(self._code, subject, len(subject), pos, _CONTEXT, options)[0]
        except _LibraryError as e:
            return self._again(e, subject, pos, options)

    def _again(self, error, subject: bytes, pos: int, options: int):
        """_match after the first try ended with PCRE2's `error`."""
        code = self._code
        while True:
            if error.code == _JIT_STACKLIMIT and not options & _NO_JIT:
                options |= _NO_JIT          # the interpreter backtracks on the heap
            elif error.code == _MATCHLIMIT and code is self._code:
                ex = _ex.current()
                if ex is not None and ex.speculative:
                    ex.out_of_time()        # preempted: a worker matches with the full limit
                _ex.check_deadline()
                code = self._full_limits()
            else:
                raise ScriptError(f"regular expression /{_text(self.source)}/{self.flags}: "
                                  f"{error}")
            try:
                return _cy.match(code, subject, len(subject), pos, _CONTEXT, options)[0]
            except _LibraryError as e:
                error = e

    def search(self, subject: bytes, pos: int = 0):
        """The first match at or after byte offset `pos`, or None."""
        _ex.check_deadline()        # a loop of slow matches takes few steps
        md = self._match(subject, pos, 0)
        if md is None:
            return None
        start, stop = _span(md, subject, 0)
        return Match(md, subject, self, start, stop)

    def finditer(self, subject: bytes, pos: int = 0):
        """All non-overlapping matches, as Perl's //g finds them: after an empty match, the
        next one may not be empty at the same offset."""
        length = len(subject)
        utf = _NO_UTF_CHECK if self.utf8 else 0     # once the first match checked it
        options = 0
        n = 0
        match, code = _cy.match, self._code
        while True:
            if not n & 63:
                _ex.check_deadline()
            n += 1
            try:
                md = match(code, subject, length, pos, _CONTEXT, options)[0]
            except _LibraryError as e:
                md = self._again(e, subject, pos, options)
            if md is None:
                return
            start, pos = _span(md, subject, 0)
            yield Match(md, subject, self, start, pos)
            if start == pos:
                if pos >= length:
                    return
                options = _NOTEMPTY_ATSTART | utf
            else:
                options = utf

    def __repr__(self):
        return f"Pattern({self.source!r}, {self.flags!r})"


def _unknown_escape(code: int, text: bytes, at: int) -> bool:
    """Whether PCRE2's compile error `code` at offset `at` (just after the escape) rejects
    an escape that PCRE1 without PCRE_EXTRA reads as the character itself."""
    if at < 2 or text[at - 2:at - 1] != b"\\":
        return False
    return (code in (_UNKNOWN_ESCAPE, _ESCAPE_INVALID_IN_CLASS)
            or (code == _UNSUPPORTED_ESCAPE and text[at - 1:at] == b"F"))


@functools.lru_cache(maxsize=1024)
def _compile(pattern: bytes, flags: str) -> Pattern:
    options = 0
    for f in flags:
        if f not in _OPTIONS:
            raise PatternError(pattern, flags, f"unknown modifier {f!r}")
        options |= _OPTIONS[f]
    text = pattern
    dropped = []                    # offsets of the backslashes dropped, in order
    while True:
        try:
            code = _cy.compile(_FIRST_TRY + text, options, _NOT_OPTIONS)
            return Pattern(pattern, flags, code, text, options)
        except _CompileFailed as e:
            at = max(e.pos - len(_FIRST_TRY), 0)
            if "X" in flags or not _unknown_escape(e.code, text, at):
                for d in reversed(dropped):
                    at += at >= d
                raise PatternError(pattern, flags, _LibraryError(e.code).msg, at) from None
        text = text[:at - 2] + text[at - 1:]
        dropped.append(at - 2)
        _ex.check_deadline()        # one compile per unknown escape


def compile_pattern(pattern: bytes, flags: str = "") -> Pattern:
    """Compile (cached) `pattern` with modifier letters `flags`."""
    try:
        return _compile(pattern, flags)
    except TypeError:
        raise ScriptError("a regular expression pattern must be a string (type error)") from None


_FLAGSET = frozenset(FLAG_LETTERS.encode("ascii"))


def split_delimited(p: bytes):
    """(body, flags) when `p` has the `/body/flags` form of 5.9.4, else None."""
    if len(p) >= 2 and p[0] == 47:
        j = p.rfind(b"/")
        if j > 0 and all(c in _FLAGSET for c in p[j + 1:]):
            return p[1:j], p[j + 1:].decode("ascii")
    return None
