"""What is being typed at a cursor, from the text before it: the one place that tells the
REPL's tab completion (hsl/repl/completion.py) and the language server's completion
(hsl/lsp/completion.py) whether the user is typing a name, a `$variable`, an array key
after `$var["`, a method after `$var->` or a static member after `Class::`.

Plain text, no parse: it must work on half-typed code.  Also the keyword lists (the
REPL's highlighter reads them too)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

KEYWORDS = ("if", "else", "for", "foreach", "as", "while", "forever", "switch", "case",
            "default", "try", "catch", "barrier", "return", "break", "continue", "global",
            "throw", "include", "include_once", "import", "from", "with", "echo", "match",
            "cache", "builtin", "closure", "constructor", "private", "static", "readonly",
            "isset", "unset", "array")
CONSTANTS = ("true", "false", "none")
WORD_OPERATORS = ("and", "or", "not")
#: Every word completion offers as a keyword.
ALL_KEYWORDS = tuple(sorted(KEYWORDS + CONSTANTS + WORD_OPERATORS + ("function", "class")))

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?$")
_KEYS = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)((?:\[\s*(?:\"[^\"]*\"|[0-9]+)\s*\])*)"
                   r"\[\s*\"([^\"]*)$")
_ARROW = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)->([A-Za-z_][A-Za-z0-9_]*)?$")
_STATIC = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)::([A-Za-z_][A-Za-z0-9_]*)?$")
_INDEX = re.compile(r"\[\s*(?:\"([^\"]*)\"|([0-9]+))\s*\]")
BUFFER_VARS = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
BUFFER_FUNCS = re.compile(r"\bfunction\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(([^)]*)\)")
BUFFER_CLASSES = re.compile(r"\bclass\s+([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Typing:
    """What the cursor is in.  `kind`: "keys" (`$var["k"]["` + prefix: `var`, `path` the
    keys already given (strings, or numbers as floats)), "method" (`$var->` + prefix),
    "static" (`Class::` + prefix, the class in `var`), "variable" (`$` + prefix) or "name"
    (a bare word).  `prefix`: what is typed of the item."""
    kind: str
    prefix: str
    var: str = ""
    path: tuple = ()


def typing_at(before: str) -> Optional[Typing]:
    """What is typed at the end of `before` (the text before the cursor), or None."""
    m = _KEYS.search(before)
    if m:
        path = tuple(float(n) if n else k for k, n in _INDEX.findall(m.group(2)))
        return Typing("keys", m.group(3), m.group(1), path)
    m = _ARROW.search(before)
    if m:
        return Typing("method", m.group(2) or "", m.group(1))
    m = _STATIC.search(before)
    if m:
        return Typing("static", m.group(2) or "", m.group(1))
    m = _VAR.search(before)
    if m:
        return Typing("variable", m.group(1) or "")
    m = _WORD.search(before)
    if m and (m.start() == 0 or before[m.start() - 1] not in "$>:"):
        return Typing("name", m.group())
    return None


def assigned_class(var: str, text: str) -> Optional[str]:
    """The class of the last `$var = Name(...)` (or `Name::String(...)`) in `text`."""
    found = None
    for m in re.finditer(r"\$" + re.escape(var) + r"\s*=\s*([A-Za-z_][A-Za-z0-9_]*)"
                         r"(?:::String)?\s*\(", text):
        found = m.group(1)
    return found


def first_line(doc: str) -> str:
    return doc.strip().splitlines()[0] if doc and doc.strip() else ""
