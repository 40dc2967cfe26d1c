"""Signature help while arguments are typed: the innermost call open before the cursor
(found by scanning back over brackets and strings, so half-typed code works), its
function's signature (a user function, a hook function of the phase, a builtin, a
method of a class whose class is known) and the parameter the cursor is in."""
from __future__ import annotations

import re
from typing import Optional

from lsprotocol import types as T

from .completion import class_of, members
from .names import Names

#: How far back (characters) the open call is looked for.
LOOK_BACK = 4000
_CALLEE = re.compile(r"(?:\$([A-Za-z_][A-Za-z0-9_]*)->|\b([A-Za-z_][A-Za-z0-9_]*)::)?"
                     r"([A-Za-z_][A-Za-z0-9_]*)\s*$")
_CLOSE = {")": "(", "]": "[", "}": "{"}


def open_call(text: str, offset: int) -> Optional[tuple]:
    """(offset of the `(` of the innermost call open at `offset`, index of the argument
    the cursor is in), or None."""
    depth = []
    commas = 0
    i = offset - 1
    stop = max(0, offset - LOOK_BACK)
    while i >= stop:
        ch = text[i]
        if ch in "\"'":
            j = text.rfind(ch, stop, i)        # (the string's opening quote, roughly)
            while j > stop and text[j - 1] == "\\":
                j = text.rfind(ch, stop, j - 1)
            if j < 0:
                return None
            i = j - 1
            continue
        if ch in _CLOSE:
            depth.append(_CLOSE[ch])
        elif ch in "([{":
            if depth:
                if depth.pop() != ch:
                    return None
            elif ch == "(":
                return i, commas
            else:
                return None             # inside an array or a block, not a call
        elif ch == "," and not depth:
            commas += 1
        elif ch == ";" and not depth:
            return None
        i -= 1
    return None


def help_at(documents, uri: str, pos: T.Position, a=None) -> Optional[T.SignatureHelp]:
    text = documents.text(uri)
    if text is None:
        return None
    offset = documents.lines(uri, text).offset(pos)
    found = open_call(text, offset)
    if found is None:
        return None
    paren, index = found
    m = _CALLEE.search(text, max(0, paren - 200), paren)
    if m is None or m.end() != paren:
        return None
    var, scope, name = m.groups()
    names = Names(a, documents)
    if var is not None or scope is not None:
        cls = scope if scope is not None else class_of(names, var, text[:offset], pos)
        if cls is None:
            return None
        sig = members(names, cls, static=scope is not None).get(name)
        if sig is None:
            return None
        inner = sig[sig.index("(") + 1:-1]
        params, doc = ([p.strip() for p in inner.split(",")] if inner else []), ""
    else:
        got = names.callable_signature(name)
        if got is None:
            return None
        sig, params, doc = got
    info = T.SignatureInformation(
        label=sig, documentation=T.MarkupContent(T.MarkupKind.Markdown, doc) if doc else None,
        parameters=[T.ParameterInformation(label=p) for p in params])
    active = index
    if params and params[-1].startswith(("...", "[...")) and index >= len(params):
        active = len(params) - 1
    return T.SignatureHelp(signatures=[info], active_signature=0,
                           active_parameter=min(active, max(len(params) - 1, 0)) if params else 0)


def register(server) -> None:
    docs = server.hsl_documents

    @server.feature(T.TEXT_DOCUMENT_SIGNATURE_HELP,
                    T.SignatureHelpOptions(trigger_characters=["(", ","],
                                           retrigger_characters=[","]))
    async def signature_help(ls, params: T.SignatureHelpParams):
        return await server.hsl_answer(params.text_document.uri,
                                       lambda a: help_at(docs, params.text_document.uri,
                                                         params.position, a), None)
