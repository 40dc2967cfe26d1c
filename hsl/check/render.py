"""Output formats of `hsl check`: text (for people), json (for editors and tools) and github
(workflow commands that GitHub Actions shows as annotations on the pull request).

Control characters never reach the output raw: text and github escape them
(hsl.errors.escape_controls; github also escapes `%`, and joins lines with `%0A`), json by
itself."""
from __future__ import annotations

import json
from typing import Callable, Optional

from ..errors import escape_controls


def text(d, source: Optional[str]) -> str:
    lines = d.render(source).split("\n")
    lines[0] += f" [{d.code}]" if d.code else ""
    if d.hint:
        lines.append(f"  hint: {escape_controls(d.hint)}")
    return "\n".join(lines)


def as_dict(d) -> dict:
    return {"file": d.filename, "line": d.line, "column": d.column,
            "end_line": d.end_line or d.line,
            "end_column": d.end_column or d.column,
            "severity": d.severity, "code": d.code, "message": d.message,
            "hint": d.hint or None}


def _gh_data(s: str) -> str:
    # (escaped, the text has no CR or LF left for the %0D/%0A of workflow commands)
    return escape_controls(s).replace("%", "%25")


def _gh_prop(s: str) -> str:
    return _gh_data(s).replace(":", "%3A").replace(",", "%2C")


def github(d) -> str:
    kind = "error" if d.severity == "error" else "warning"
    message = _gh_data(d.message) + (f"%0Ahint: {_gh_data(d.hint)}" if d.hint else "")
    return (f"::{kind} file={_gh_prop(d.filename)},line={d.line},col={d.column},"
            f"title={_gh_prop(d.code)}::{message}")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(diags: list, files_checked: int) -> str:
    errors = sum(1 for d in diags if d.severity == "error")
    warnings = len(diags) - errors
    files = len({d.filename for d in diags})
    checked = f"{_plural(files_checked, 'file')} checked"
    if not diags:
        return f"no problems ({checked})"
    parts = [_plural(errors, "error")] if errors else []
    if warnings:
        parts.append(_plural(warnings, "warning"))
    return f"{' and '.join(parts)} in {_plural(files, 'file')} ({checked})"


def write(fmt: str, diags: list, files_checked: int, source_of: Callable, out, err) -> None:
    if fmt == "json":
        out.write(json.dumps([as_dict(d) for d in diags], indent=2) + "\n")
        err.write(summary(diags, files_checked) + "\n")
        return
    for d in diags:
        out.write((github(d) if fmt == "github" else text(d, source_of(d.filename))) + "\n")
    out.write(summary(diags, files_checked) + "\n")
