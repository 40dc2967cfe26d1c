"""Hover: over a function or class name, its signature and documentation (a builtin's from
the registry, a user function's doc comment, a hook function's options and reply); over
the key of `$arguments["..."]` (and `$connection`, `$transaction`, `$message`), that key's
type and meaning in the document's phase; over a pre-defined variable, what it is."""
from __future__ import annotations

import re
from typing import Optional

from lsprotocol import types as T

from ..hooks import phases as P
from .names import Names

_WORD = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*")
_KEY = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)\s*\[\s*\"([^\"]*)\"\s*\]")
_VARIABLES = {
    "arguments": "the arguments of this hook (read-only)",
    "connection": "the SMTP connection (read-only)",
    "transaction": "the SMTP transaction (read-only)",
    "message": "the queued message (read-only)",
    "context": "data of your own, kept for the connection (SMTP) or the delivery attempt "
               "(queue)",
}


def hover_at(documents, uri: str, pos: T.Position, a=None) -> Optional[T.Hover]:
    text = documents.text(uri)
    if text is None:
        return None
    lines = documents.lines(uri, text)
    offset = lines.offset(pos)
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line = text[line_start:line_end if line_end >= 0 else len(text)]
    col = offset - line_start
    names = Names(a, documents)
    for m in _KEY.finditer(line):
        if m.start(2) <= col <= m.end(2) and m.group(1) in _VARIABLES:
            key = next((k for k in P.variable_keys(names.phase, m.group(1))
                        if k.name == m.group(2)), None)
            if key is None:
                return None
            where = f" in the {names.phase} hook" if names.phase else ""
            value = (f"`${m.group(1)}[\"{key.name}\"]`: {key.type}"
                     + (" (optional)" if key.optional else "") + f"{where}\n\n{key.meaning}")
            return _hover(value, lines, line_start + m.start(2), line_start + m.end(2))
    for m in _WORD.finditer(line):
        if m.start() <= col <= m.end():
            word = m.group()
            break
    else:
        return None
    start, end = line_start + m.start(), line_start + m.end()
    if word.startswith("$"):
        meaning = _VARIABLES.get(word[1:])
        if meaning is None or word[1:] not in names.variables():
            return None
        return _hover(f"`{word}`: {meaning}", lines, start, end)
    got = names.callable_signature(word)
    if got is None:
        return None
    sig, _params, doc = got
    value = f"```hsl\n{sig}\n```" + (f"\n\n{doc}" if doc else "")
    return _hover(value, lines, start, end)


def _hover(value: str, lines, start: int, end: int) -> T.Hover:
    return T.Hover(contents=T.MarkupContent(T.MarkupKind.Markdown, value),
                   range=T.Range(lines.at(start), lines.at(end)))


def register(server) -> None:
    docs = server.hsl_documents

    @server.feature(T.TEXT_DOCUMENT_HOVER)
    async def hover(ls, params: T.HoverParams):
        return await server.hsl_answer(params.text_document.uri,
                                       lambda a: hover_at(docs, params.text_document.uri,
                                                          params.position, a), None)
