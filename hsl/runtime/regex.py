"""Regular expressions on HSL values (language spec 2.7.5, 5.9.4, 5.9.6): what `=~`, the
pcre_* builtins and the mail classes use.  Patterns are compiled and matched by PCRE2 in
hsl/runtime/pcre.py (its docstring tells the flags, the limits and where hsl keeps PCRE1's
rules); an HRegex value (hsl.runtime.values) holds a compiled pattern.

* ``compile_pattern``, ``Pattern``, ``Match``, ``PatternError``, ``split_delimited``,
  ``FLAG_LETTERS``: hsl/runtime/pcre.py's, on byte strings.
* ``parse_pattern_value(p) -> Pattern``: an HRegex, a ``/body/flags`` string or a bare
  pattern string (5.9.4).
* ``regex_search(subject, pattern) -> bool`` for ``=~``.
* ``search(subject, pattern, pos=0)``, ``finditer(subject, pattern)``: on any pattern
  value and any subject value (converted to a string).
"""
from __future__ import annotations

from . import execution as _ex
from .pcre import FLAG_LETTERS, Match, Pattern, PatternError, compile_pattern, split_delimited
from ..errors import ScriptError
from .values import to_str, type_name

__all__ = ["Match", "Pattern", "PatternError", "compile_pattern", "parse_pattern_value",
           "regex_search", "search", "finditer", "split_delimited", "FLAG_LETTERS"]


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
    raise ScriptError(f"a pattern must be a string or a Regex, got {type_name(p)} (type error)")


def _subject(s) -> bytes:
    if type(s) is bytes:
        return s
    return to_str(s)


def regex_search(subject, pattern) -> bool:
    """`subject =~ pattern`."""
    compiled = getattr(pattern, "compiled", None)
    if type(compiled) is not Pattern:
        compiled = parse_pattern_value(pattern)
    s = subject if type(subject) is bytes else _subject(subject)
    _ex.check_deadline()
    return compiled._match(s, 0, 0) is not None


def search(subject, pattern, pos: int = 0):
    """The first match of `pattern` (any pattern value) in `subject`, or None."""
    return parse_pattern_value(pattern).search(_subject(subject), pos)


def finditer(subject, pattern):
    """All matches of `pattern` (any pattern value) in `subject`."""
    return parse_pattern_value(pattern).finditer(_subject(subject))
