"""Diagnostics: the error types hsl raises and their `file:line:col` rendering.

What a rendering prints is safe for a terminal and shows no more than source text:

* every control character (C0 but tab, DEL, C1) and every lone surrogate (a byte that was
  not UTF-8) in file names, messages and source lines is escaped (`\\x1b`, `\\n`), so a
  script cannot clear the screen or set the clipboard (OSC 52) of whoever reads its
  diagnostics;
* source lines are shown only of text that `shown_source` accepts: HSL source (valid
  UTF-8, no NUL, at most MAX_SHOWN_SOURCE characters) and, for a file, a regular one
  outside /proc, /sys and /dev (`include "/proc/self/environ";` must not print the
  environment);
* lines are counted as the lexer counts them: only LF ends a line (a CR before it is
  dropped; CR alone is a character of the line, shown escaped).
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from typing import Optional

from .syntax.sourcefile import MAX_SOURCE_BYTES


SHOW = 100     # characters of a source line shown under a diagnostic
STACK_SHOWN = 20    # lines shown at each end of a long HSL call stack (repeats folded)
MAX_SHOWN_SOURCE = MAX_SOURCE_BYTES      # characters of a source whose lines can be shown

_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def _escape(m) -> str:
    c = m.group()
    o = ord(c)
    if c in _NAMED:
        return _NAMED[c]
    if 0xDC80 <= o <= 0xDCFF:           # a byte that was not UTF-8 (surrogateescape)
        return "\\x%02x" % (o - 0xDC00)
    return "\\x%02x" % o if o < 0x100 else "\\u%04x" % o


def escape_controls(text: str) -> str:
    """`text` with its control characters and lone surrogates escaped (see above)."""
    return _CONTROL.sub(_escape, text)


_NOT_SOURCE = re.compile("[\x00\ud800-\udfff]")
_SPECIAL_TREES = ("/proc/", "/sys/", "/dev/")


def shown_source(filename: str, text: Optional[str]) -> Optional[str]:
    """`text` (the source of `filename`) if its lines may be shown under a diagnostic,
    else None (see above).  A `filename` that names no file (`<command line>`) is
    judged by its text alone."""
    if text is None or len(text) > MAX_SHOWN_SOURCE or _NOT_SOURCE.search(text):
        return None
    try:
        st = os.stat(filename)
    except (OSError, ValueError):
        return text
    if not stat.S_ISREG(st.st_mode) or os.path.realpath(filename).startswith(_SPECIAL_TREES):
        return None
    return text


def source_lines(text: str) -> list:
    """The lines of `text` as the lexer counts them (see above)."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


@dataclass(frozen=True)
class Related:
    """Another place of the same file that a diagnostic refers to (where the unclosed
    `{` was opened)."""
    line: int
    column: int
    label: str


@dataclass
class Diagnostic:
    """One located message. Columns are 1-based character columns.  `code`, `hint` and
    `related` are set where the error is found; renderers only read them."""
    filename: str
    line: int
    column: int
    message: str
    severity: str = "error"
    end_line: int = 0
    end_column: int = 0
    code: str = ""         # stable identifier of the check (hsl/check/codes.py: "HSL101")
    hint: str = ""         # a suggestion shown under the message ("did you mean ...?")
    related: list = field(default_factory=list)     # Related places, in the same file

    def header(self) -> str:
        if self.line <= 0:          # no position known (a run that ended late, say)
            return escape_controls(f"{self.filename}: {self.severity}: {self.message}")
        return escape_controls(
            f"{self.filename}:{self.line}:{self.column}: {self.severity}: {self.message}")

    def render(self, source: Optional[str] = None) -> str:
        """The header line, then the source line and a caret under the column.  `source`
        is shown as given: pass it through `shown_source` first."""
        out = [self.header()]
        lines = source_lines(source) if source is not None and self.line > 0 else []
        if self.line <= len(lines):
            text = lines[self.line - 1].replace("\t", " ")
            col = max(self.column - 1, 0)
            width = 1
            if self.end_line == self.line and self.end_column > self.column:
                width = self.end_column - self.column
            # Show a window of a long line around the column.
            start = max(0, col - SHOW // 2) if len(text) > SHOW else 0
            shown = text[start:start + SHOW]
            prefix = "..." if start > 0 else ""
            suffix = "..." if start + SHOW < len(text) else ""
            width = max(1, min(width, len(shown) - (col - start)))
            # The caret goes under the escaped text: count the columns it takes.
            before = escape_controls(shown[:col - start])
            marked = escape_controls(shown[col - start:col - start + width]) or " "
            indent = len(prefix) + len(before) + max(0, col - start - len(shown))
            out.append("  " + prefix + escape_controls(shown) + suffix)
            out.append("  " + " " * indent + "^" + "~" * (len(marked) - 1))
        return "\n".join(out)


class HSLError(Exception):
    """Base class of every error hsl reports to its users."""


class HSLSyntaxError(HSLError):
    """A compile-time error (syntax or static check). `diagnostics` holds every error found;
    `line`, `column`, `message` and `filename` describe the first."""

    def __init__(self, diagnostics: list[Diagnostic], source: Optional[str] = None):
        self.diagnostics = list(diagnostics)
        self.source = source
        first = self.diagnostics[0]
        self.filename = first.filename
        self.line = first.line
        self.column = first.column
        self.message = first.message
        super().__init__(first.header())

    def render(self, sources: Optional[dict] = None) -> str:
        """All diagnostics, each with its source line and caret.

        `sources` maps filename -> text; `self.source` is used for the first file."""
        sources = dict(sources or {})
        if self.source is not None:
            sources.setdefault(self.filename, self.source)
        shown = {name: shown_source(name, text) for name, text in sources.items()}
        return "\n".join(d.render(shown.get(d.filename)) for d in self.diagnostics)


@dataclass
class Frame:
    """One entry of an HSL call stack."""
    function: str
    filename: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}:{self.column}: in {self.function}"


class HSLRuntimeError(HSLError):
    """An uncaught HSL error or thrown value that ended an execution.

    `value` is the thrown HSL value (an Exception object for runtime errors);
    `stack` lists the HSL frames, outermost first."""

    def __init__(self, message: str, filename: str = "<string>", line: int = 0,
                 column: int = 0, stack: Optional[list[Frame]] = None, value=None,
                 source: Optional[str] = None):
        self.message = message
        self.filename = filename
        self.line = line
        self.column = column
        self.stack = list(stack or [])
        self.value = value
        self.source = source
        self.trace: list = []       # traced conditions, when the run was traced
        super().__init__(f"{filename}:{line}:{column}: error: {message}")

    def render(self, sources: Optional[dict] = None) -> str:
        diag = Diagnostic(self.filename, self.line, self.column, self.message)
        src = (sources or {}).get(self.filename, self.source)
        out = [diag.render(shown_source(self.filename, src))]
        if len(self.stack) > 1:
            out.append("HSL call stack (most recent call last):")
            lines = fold_repeats(["  " + escape_controls(str(f)) for f in self.stack])
            if len(lines) > 2 * STACK_SHOWN:        # still long: its two ends
                skipped = len(lines) - 2 * STACK_SHOWN
                lines = lines[:STACK_SHOWN] + [f"  ... {skipped} more lines ..."] + \
                    lines[-STACK_SHOWN:]
            out.extend(lines)
        return "\n".join(out)


def fold_repeats(lines: list, longest: int = 8) -> list:
    """`lines` with runs of a repeated group of up to `longest` lines (a recursion, or a
    recursion through a callback) shown once, as Python's tracebacks do: the group, then
    "[previous line repeated N more times]" or "[previous 2 lines repeated N more times]"."""
    out: list = []
    i, n = 0, len(lines)
    while i < n:
        best_period, best_count = 0, 1
        for period in range(1, min(longest, (n - i) // 2) + 1):
            count = 1
            while i + (count + 1) * period <= n and \
                    lines[i + count * period:i + (count + 1) * period] == lines[i:i + period]:
                count += 1
            if count > 2 and count * period > best_count * max(best_period, 1):
                best_period, best_count = period, count
        if best_period:
            out.extend(lines[i:i + best_period])
            what = "line" if best_period == 1 else f"{best_period} lines"
            out.append(f"  [previous {what} repeated {best_count - 1} more times]")
            i += best_period * best_count
        else:
            out.append(lines[i])
            i += 1
    return out


class ScriptError(Exception):
    """Raised by value helpers and builtins for an HSL runtime error.

    The runtime turns it into an HSL `Exception` object (catchable with try/catch) and
    attaches the file:line:col of the HSL code that was running.  The message should read
    well on its own, e.g. "str_lower() expects a string, got array"."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class ThrownValue(Exception):
    """An HSL `throw` in flight: `value` is the thrown HSL value (any type)."""

    def __init__(self, value):
        self.value = value
        super().__init__("thrown value")
