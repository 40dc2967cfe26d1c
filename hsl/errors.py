"""Diagnostics: the error types hsl raises and their `file:line:col` rendering."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


SHOW = 100     # characters of a source line shown under a diagnostic
STACK_SHOWN = 20    # calls shown at each end of a long HSL call stack


@dataclass
class Diagnostic:
    """One located message. Columns are 1-based character columns."""
    filename: str
    line: int
    column: int
    message: str
    severity: str = "error"
    end_line: int = 0
    end_column: int = 0
    code: str = ""         # stable identifier of the check (`hsl check`: "HSL101")
    hint: str = ""         # a suggestion shown under the message ("did you mean ...?")

    def header(self) -> str:
        if self.line <= 0:          # no position known (a run that ended late, say)
            return f"{self.filename}: {self.severity}: {self.message}"
        return f"{self.filename}:{self.line}:{self.column}: {self.severity}: {self.message}"

    def render(self, source: Optional[str] = None) -> str:
        """The header line, then the source line and a caret under the column."""
        out = [self.header()]
        if source is not None and self.line > 0:
            lines = source.splitlines()
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
                out.append("  " + prefix + shown + suffix)
                out.append("  " + " " * (len(prefix) + col - start) + "^" + "~" * (width - 1))
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
        return "\n".join(d.render(sources.get(d.filename)) for d in self.diagnostics)


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
        out = [diag.render(src)]
        if len(self.stack) > 1:
            out.append("HSL call stack (most recent call last):")
            stack = self.stack
            if len(stack) > 2 * STACK_SHOWN:        # deep recursion: its two ends
                out.extend("  " + str(f) for f in stack[:STACK_SHOWN])
                out.append(f"  ... {len(stack) - 2 * STACK_SHOWN} more calls ...")
                stack = stack[-STACK_SHOWN:]
            out.extend("  " + str(f) for f in stack)
        return "\n".join(out)


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
