"""A message as its received bytes plus an ordered list of modifications (hooks.md §3).

`Message(data)` parses `data` (parse.py) and never changes it: every read (`get*`) reads
the original.  An edit is recorded as one entry of `Message.mods` and applied to a derived
`State` (per part: its header fields after the edits, a new body, parts added, removed or
replaced...).  `serialize()` writes the message with the edits: the original bytes where
nothing changed, new bytes where something did, in one pass (linear in the size of the
message).  `snapshot()` is the length of the list, `restore(n)` cuts it back and derives
the state again, `reset()` empties it.

How edits combine:

* Header edits without an `index` act on the header block as the earlier edits left it:
  `setHeader` after `addHeader` (or `setHeader`) of the same name replaces the added
  field, `delHeader` removes an added field, but not a value `setHeader` wrote: Halon's
  S/MIME and PGP/MIME modules copy the decrypted part's fields with setHeader and then
  delete Content-Type, Content-Transfer-Encoding and Content-Disposition, and mean the
  copies to stay.  An `index` counts the fields as received, the numbering
  getHeaders() shows, whatever earlier edits did to them (so a script can delete the
  fields it found, in any order).  Added fields go on top, the latest topmost.  An edit
  that changes nothing (returns 0) is not recorded.
* Structure edits win over edits inside what they replace: a removed or replaced part,
  or a body replaced by `setBody`, takes the edits made below it along.
* Appending or prepending to a part that is not a multipart, or to a multipart of
  another type than the one given (a multipart/alternative message being signed into
  a multipart/signed), wraps it into a new
  multipart (of the given type, with a new boundary): the content fields (`Content-*`;
  for a part inside a multipart, all its fields) move into the first inner part with the
  body, the new part goes before or after it; later appends and prepends to the same
  part go into the same new multipart.  Replacing the message itself (the top part)
  keeps its other fields and replaces the content fields and the body.
* `modify_content(start, count, data)` splices the original bytes: it applies where
  those bytes are still in the output (not replaced by another edit); of overlapping
  splices the later wins.

Everything an edit writes ends its lines in CRLF; untouched bytes stay as they came.
"""
from __future__ import annotations

from typing import Optional

from ..runtime import execution as _execution
from ..errors import ScriptError
from ..runtime.values import reserve_string
from . import source
from .headers import new_field, valid_name
from .parse import Part, parse

_CONTENT = b"content-"


class Entry:
    """A header field after the edits: an original `field` (None for an added one), its
    `text` (None: the original bytes, unchanged), whether it was deleted (a deleted
    original stays in the list, so that indexes keep counting the received fields) and
    whether setHeader wrote it (then only a delHeader with an index removes it)."""
    __slots__ = ("name", "field", "text", "deleted", "set")

    def __init__(self, name: bytes, field=None, text: Optional[bytes] = None):
        self.name, self.field, self.text, self.deleted = name, field, text, False
        self.set = False


class PartEdit:
    """What the edits made of one part."""
    __slots__ = ("entries", "body", "replaced", "removed", "prepend", "append", "wrap",
                 "preamble", "epilogue", "date_later")

    def __init__(self):
        self.entries: Optional[list] = None
        self.body: Optional[bytes] = None
        self.replaced: Optional[bytes] = None
        self.removed = False
        self.prepend: list = []
        self.append: list = []
        self.wrap: Optional[tuple] = None        # (content type value, boundary)
        self.preamble: Optional[bytes] = None
        self.epilogue: Optional[bytes] = None
        self.date_later = False


class State:
    def __init__(self):
        self.parts: dict = {}           # Part -> PartEdit
        self.dirty: set = set()         # parts with an edit at or below them
        self.raw: list = []             # (start, end, data) splices, in order

    def edit(self, part: Part) -> PartEdit:
        e = self.parts.get(part)
        if e is None:
            e = self.parts[part] = PartEdit()
        p = part
        while p is not None and p not in self.dirty:
            self.dirty.add(p)
            p = p.parent
        return e

    def entries(self, part: Part) -> list:
        e = self.edit(part)
        if e.entries is None:
            e.entries = [Entry(f.name, f) for f in part.fields]
        return e.entries


def _received(entries: list, name: bytes) -> list:
    """The fields named `name` as received (the numbering of getHeaders())."""
    return [e for e in entries if e.field is not None and e.field.name == name]


def _matching(entries: list, name: bytes, index: Optional[int]) -> list:
    """Without `index`: the fields named `name` now (received ones not deleted, added
    ones).  With `index`: the index-th field of that name as received (negative: from
    the bottom), whatever earlier edits did to it."""
    if index is None:
        return [e for e in entries if e.name == name and not e.deleted]
    received = _received(entries, name)
    return [received[index]] if -len(received) <= index < len(received) else []


# ---------------------------------------------------------------------------------------
# The modifications: (kind, part, arguments); applying one returns the method's result

def _set(state, part, name, text, index):
    entries = state.entries(part)
    if index is not None and not _received(entries, name):
        index = None                     # not in the message: as without an index
    found = _matching(entries, name, index)
    for e in found:
        e.name, e.text, e.deleted, e.set = name, text, False, True
    if found or index is not None:
        return len(found)
    entries.insert(0, Entry(name, None, text))
    entries[0].set = True
    return 1


def _add(state, part, name, text):
    state.entries(part).insert(0, Entry(name, None, text))


def _delete(state, part, name, index):
    entries = state.entries(part)
    found = [e for e in _matching(entries, name, index)
             if not e.deleted and (index is not None or not e.set)]
    for e in found:
        e.deleted = True
    entries[:] = [e for e in entries if not (e.deleted and e.field is None)]
    return len(found)


def _rename(state, part, name, newname, index):
    found = [e for e in _matching(state.entries(part), name, index) if not e.deleted]
    data = part.doc.data
    for e in found:
        rest = e.text[e.text.index(b":"):] if e.text is not None \
            else data[e.field.colon:e.field.end]
        e.name, e.text = newname.lower(), newname + rest
    return len(found)


def _body(state, part, body, cte_text):
    state.edit(part).body = body
    if cte_text is not None:
        _set(state, part, b"content-transfer-encoding", cte_text, None)


def _replace(state, part, entity):
    if part.parent is not None:
        state.edit(part).replaced = entity
        return
    # The message itself: its own fields stay, the content fields and body are the new
    # part's.
    new = parse(entity)
    entries = state.entries(part)
    for e in entries:
        if e.name.startswith(_CONTENT):
            e.deleted = True
    entries[:] = [Entry(f.name, None, _crlf(entity[f.start:f.end])) for f in new.fields] \
        + [e for e in entries if not (e.deleted and e.field is None)]
    state.edit(part).body = entity[new.body:]


def _remove(state, part):
    if part.parent is not None:
        state.edit(part).removed = True


def _insert(state, part, entity, at_end, ctype, boundary):
    edit = state.edit(part)
    if boundary is not None and edit.wrap is None:
        edit.wrap = (ctype, boundary)
    (edit.append.append if at_end else edit.prepend.append)(entity)


def _preamble(state, part, text):
    state.edit(part).preamble = text


def _epilogue(state, part, text):
    state.edit(part).epilogue = text


def _date_later(state, part):
    state.edit(part).date_later = True


def _raw(state, part, start, end, text):
    state.raw.append((start, end, text))


_APPLY = {"set": _set, "add": _add, "delete": _delete, "rename": _rename, "body": _body,
          "replace": _replace, "remove": _remove, "insert": _insert,
          "preamble": _preamble, "epilogue": _epilogue, "date_later": _date_later,
          "raw": _raw}


def _crlf(field: bytes) -> bytes:
    """A field copied from elsewhere, ending in a line break."""
    return field if field.endswith(b"\n") else field + b"\r\n"


# ---------------------------------------------------------------------------------------

class Message:
    """The received bytes (`data`, parsed into `root`) and the modifications."""

    def __init__(self, data: bytes):
        self.data = data
        self.root = parse(data)
        self.mods: list = []
        self._state: Optional[State] = None
        self._serialized = None     # (state, len(mods), bytes) of the last serialize()

    # -- the modification list -------------------------------------------------------------
    @property
    def state(self) -> State:
        if self._state is None:
            state = State()
            for kind, part, args in self.mods:
                _APPLY[kind](state, part, *args)
            self._state = state
        return self._state

    def modify(self, kind: str, part: Optional[Part], *args):
        """Record and apply one modification; returns what the edit method returns.  An
        edit that counts what it changed and changed nothing is not recorded (applying it
        left the state as it was)."""
        result = _APPLY[kind](self.state, part, *args)
        if result != 0:
            self.mods.append((kind, part, args))
        return result

    def snapshot(self) -> int:
        return len(self.mods)

    def restore(self, n: int) -> bool:
        if not 0 <= n <= len(self.mods):
            return False
        if n < len(self.mods):
            del self.mods[n:]
            self._state = None
        return True

    def reset(self) -> int:
        n = len(self.mods)
        self.mods.clear()
        self._state = None
        return n

    # -- edits (the mail classes' methods call these) ----------------------------------------
    def set_header(self, part, name: bytes, value: bytes, index=None, encode=True,
                   base64=False) -> int:
        text = new_field(_name(name), value, encode, base64)
        return self.modify("set", part, name.lower(), text, index)

    def add_header(self, part, name: bytes, value: bytes, encode=True, base64=False) -> None:
        self.add_field(part, new_field(_name(name), value, encode, base64))

    def add_field(self, part, field: bytes) -> None:
        """Put `field` (a whole field: name, colon, value, line break) on top of the
        part's header block, byte for byte (DKIM and ARC signatures go in this way)."""
        name = field.split(b":", 1)[0].strip().lower()
        self.modify("add", part, name, _crlf(field))

    def del_header(self, part, name: bytes, index=None) -> int:
        return self.modify("delete", part, name.lower(), index)

    def rename_header(self, part, name: bytes, newname: bytes, index=None) -> int:
        return self.modify("rename", part, name.lower(), _name(newname), index)

    def set_body(self, part, body: bytes, cte: Optional[bytes]) -> None:
        """Replace the body with `body` (already encoded) and, when `cte` is given, the
        Content-Transfer-Encoding field with it."""
        if cte == b"7bit" and not _matching(self._view(part), b"content-transfer-encoding",
                                            None):
            cte = None                      # 7bit is the default: no field needed
        text = new_field(b"Content-Transfer-Encoding", cte) if cte is not None else None
        self.modify("body", part, body, text)

    def replace(self, part, entity: bytes) -> None:
        self.modify("replace", part, entity)

    def remove(self, part) -> None:
        if part.parent is not None:
            self.modify("remove", part)

    def insert(self, part, entity: bytes, at_end: bool, ctype: bytes,
               wrap: bool = False) -> None:
        """Append (`at_end`) or prepend a part; a part that is not a multipart (or, with
        `wrap`, any part) becomes one of type `ctype` (with a new boundary) the first
        time."""
        boundary = None
        if (wrap or not part.is_multipart) and \
                self.state.parts.get(part, PartEdit()).wrap is None:
            boundary = source.boundary()
        self.modify("insert", part, entity, at_end, ctype, boundary)

    def set_preamble(self, part, text: bytes) -> None:
        self.modify("preamble", part, text)

    def set_epilogue(self, part, text: bytes) -> None:
        self.modify("epilogue", part, text)

    def set_date_later(self, part) -> None:
        self.modify("date_later", part)

    def modify_content(self, start: int, count: int, text: bytes) -> None:
        self.modify("raw", None, start, start + count, text)

    def _view(self, part) -> list:
        e = self.state.parts.get(part)
        if e is not None and e.entries is not None:
            return e.entries
        return [Entry(f.name, f) for f in part.fields]

    # -- output ------------------------------------------------------------------------------
    def serialize(self, part: Optional[Part] = None) -> bytes:
        """The message (or one of its parts) with the modifications applied."""
        part = part or self.root
        if not self.mods:
            return self.data if part is self.root else self.data[part.start:part.end]
        state = self.state
        # The whole message again, unchanged since (queue() of each recipient): the same
        # bytes.  The state only changes by modify(), which records the edit (mods grow),
        # or is dropped (a new state object).
        cached = self._serialized
        if part is self.root and cached is not None and cached[0] is state \
                and cached[1] == len(self.mods):
            return cached[2]
        pieces: list = []
        _Writer(self.data, state).part(part, pieces)
        if state.raw:
            pieces = _splice(pieces, state.raw)
        size = sum(len(p) if type(p) is bytes else p[1] - p[0] for p in pieces)
        reserve_string(size)
        _execution.work(size)
        view = memoryview(self.data)
        out = b"".join([p if type(p) is bytes else view[p[0]:p[1]] for p in pieces])
        if part is self.root:
            self._serialized = (state, len(self.mods), out)
        return out


def _name(name: bytes) -> bytes:
    if not valid_name(name):
        raise ScriptError(f"invalid header field name {name.decode('utf-8', 'replace')!r}")
    return name


# ---------------------------------------------------------------------------------------
# Writing: a list of pieces, each an original span (a tuple) or new bytes

class _Writer:
    def __init__(self, data: bytes, state: State):
        self.data, self.state = data, state

    def part(self, part: Part, out: list) -> None:
        edit = self.state.parts.get(part)
        if part not in self.state.dirty:
            out.append((part.start, part.end))
            return
        if edit is not None and edit.replaced is not None:
            out.append(edit.replaced)
            return
        edit = edit or PartEdit()
        mark = len(out)
        moved = self.header(part, edit, out)
        wrapped = edit.wrap is not None
        body_changed = wrapped or edit.body is not None
        # (a part that had no header block gets an empty line under the fields it gets)
        has_fields = any(type(p) is bytes and p or type(p) is tuple and p[1] > p[0]
                         for p in out[mark:])
        if part.sep:
            out.append((part.hend, part.body))
        elif body_changed or (has_fields and part.body < part.end):
            if not self._ends_line(out):
                out.append(b"\r\n")
            out.append(b"\r\n")
        if wrapped:
            boundary = edit.wrap[1]
            for entity in edit.prepend:
                out += [b"--" + boundary + b"\r\n", entity, b"\r\n"]
            out.append(b"--" + boundary + b"\r\n")
            out += moved
            if not self._ends_line(moved):
                out.append(b"\r\n")
            out.append(b"\r\n")
            self.body(part, edit, out, inserts=False)      # (they go in the new one)
            for entity in edit.append:
                out += [b"\r\n--" + boundary + b"\r\n", entity]
            out.append(b"\r\n--" + boundary + b"--\r\n")
        else:
            self.body(part, edit, out)

    def _ends_line(self, out: list) -> bool:
        """Whether the pieces written so far end with a line break (or are empty)."""
        for p in reversed(out):
            if type(p) is bytes:
                if p:
                    return p.endswith(b"\n")
            elif p[1] > p[0]:
                return self.data[p[1] - 1] == 10
        return True

    def header(self, part: Part, edit: PartEdit, out: list) -> list:
        """Write the header block; returns the pieces of the fields that move into the
        inner part of a new multipart."""
        top: list = []                      # generated fields, on top of everything
        if edit.wrap is not None:
            top.append(new_field(b"Content-Type", edit.wrap[0] + b'; boundary="'
                                 + edit.wrap[1] + b'"'))
        entries = edit.entries
        if entries is None and not top and not edit.date_later:
            out.append((part.start, part.hend))
            return []
        if entries is None:
            entries = [Entry(f.name, f) for f in part.fields]
        entries = [e for e in entries if not e.deleted]
        names = {e.name for e in entries}
        if edit.wrap is not None and part.parent is None and b"mime-version" not in names:
            top.append(b"MIME-Version: 1.0\r\n")
        if edit.date_later and b"date" not in names:
            top.append(new_field(b"Date", source.format_date(source.now())))

        def moves(e):
            return edit.wrap is not None and (part.parent is not None
                                              or e.name.startswith(_CONTENT))

        moved = [self._entry(e) for e in entries if moves(e)]
        kept = {id(e.field): e for e in entries if e.field is not None and not moves(e)}
        out += top
        out += [e.text for e in entries if e.field is None and not moves(e)]
        pos = part.start
        for f in part.fields:
            if f.start > pos:
                out.append((pos, f.start))           # lines that are not fields stay
            e = kept.get(id(f))
            if e is not None:
                out.append(self._entry(e))
            pos = f.end
        if part.hend > pos:
            out.append((pos, part.hend))
        return moved

    @staticmethod
    def _entry(e: Entry):
        return e.text if e.text is not None else (e.field.start, e.field.end)

    def body(self, part: Part, edit: PartEdit, out: list, inserts: bool = True) -> None:
        """Write the body: a multipart with its parts as edited and, with `inserts`, the
        parts prepended and appended to it."""
        if edit.body is not None:
            out.append(edit.body)
            return
        prepend, append = (edit.prepend, edit.append) if inserts else ((), ())
        changed = prepend or append or edit.preamble is not None \
            or edit.epilogue is not None or any(c in self.state.dirty
                                                 for c in part.children)
        if not part.is_multipart or not changed:
            out.append((part.body, part.end))
            return
        delims = part.delims
        boundary = part.boundary
        pre_start, pre_end = part.preamble
        mark = len(out)
        if edit.preamble is not None:
            if edit.preamble:
                out.append(edit.preamble)
        elif pre_end > pre_start:
            out.append((pre_start, pre_end))
        for entity in prepend:
            out += [b"\r\n--" if len(out) > mark else b"--", boundary, b"\r\n", entity]
        children = part.children
        for n, child in enumerate(children):
            e = self.state.parts.get(child)
            if e is not None and e.removed:
                continue
            d = delims[n]
            if d.start == d.line and len(out) > mark:    # no line break in front of it
                out.append(b"\r\n")
            out.append((d.start, d.end))
            self.part(child, out)
        for entity in append:
            out += [b"\r\n--" if len(out) > mark else b"--", boundary, b"\r\n", entity]
        epilogue = part.epilogue
        if epilogue is not None:
            close = delims[-1]
            if close.start == close.line and len(out) > mark:
                out.append(b"\r\n")
            out.append((close.start, close.end))
            if edit.epilogue is not None:
                if close.end == part.end and not self.data[close.start:close.end].endswith(
                        b"\n"):
                    out.append(b"\r\n")
                out.append(edit.epilogue)
            else:
                out.append(epilogue)
        elif edit.epilogue is not None:             # unclosed: close it first
            out += [b"\r\n--", boundary, b"--\r\n", edit.epilogue]


def _splice(pieces: list, splices: list) -> list:
    """Apply raw splices (original coordinates): each where its bytes are all still in
    the output, in one run of original bytes; of overlapping splices the later wins."""
    merged: list = []
    for p in pieces:                     # adjacent original spans read as one run
        if type(p) is tuple and merged and type(merged[-1]) is tuple \
                and merged[-1][1] == p[0]:
            merged[-1] = (merged[-1][0], p[1])
        else:
            merged.append(p)
    kept: list = []
    for s, e, text in splices:
        kept = [k for k in kept if not (k[0] < e and s < k[1])]
        kept.append((s, e, text))
    for s, e, text in kept:
        for n, p in enumerate(merged):
            if type(p) is tuple and p[0] <= s and e <= p[1]:
                merged[n:n + 1] = [x for x in ((p[0], s), text, (e, p[1]))
                                   if type(x) is bytes or x[0] < x[1]]
                break
    return merged
