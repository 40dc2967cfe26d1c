"""Parse a message into a tree of spans over its bytes (RFC 5322 header blocks, RFC 2046
multiparts).  Nothing is copied: a Part knows where its header fields, its body, its
delimiter lines, preamble and epilogue are in the original bytes, and parts below it are
found when first asked for.

Any bytes parse.  Lines end at LF (CRLF or LF, mixed as they come).  Broken input is
read the way most mail software reads it, and recorded in `Part.errors`:

* `bad_header`: a line in a header block that is neither a field (`name:`, name of
  printable ASCII) nor a continuation; it stays in the block as it is, and is not a
  field.  When the very first line of a part is such a line (other than an mbox `From `
  line) the part has no header block: everything is body.
* `unclosed_boundary`: a multipart without its close delimiter; its last part runs to
  the end of the body (a multipart without any delimiter has only a preamble).
* `too_many_headers` / `too_many_parts`: past MAX_FIELDS fields in one header block the
  lines are kept but not read as fields; past MAX_PARTS parts in a message, a multipart
  keeps the rest in its last part.  Multiparts nested deeper than MAX_DEPTH are read as
  leaves.  These bound the memory a hostile message can make a parse take.
"""
from __future__ import annotations

from typing import Optional

from ..runtime import execution as _execution
from .headers import FIELD_START, parse_params, unfold

MAX_FIELDS = 100_000
MAX_PARTS = 100_000
MAX_DEPTH = 200
# Header lines or delimiters read between two announcements of the work (execution.work:
# about 50 units for a Python step, more than execution.WORK in all, so the clock is read).
_STEPS = 32_768


class Field:
    """One header field: data[start:end] is the whole field with its folds and its line
    break; the name ends before `colon`; the value is data[colon + 1:vend]."""
    __slots__ = ("name", "start", "colon", "vend", "end")

    def __init__(self, name: bytes, start: int, colon: int, vend: int, end: int):
        self.name, self.start, self.colon, self.vend, self.end = name, start, colon, vend, end


class Delimiter:
    """A boundary delimiter line of a multipart: data[start:end] with the line break in
    front of it (RFC 2046 5.1.1: it belongs to the delimiter) and its own line break."""
    __slots__ = ("start", "line", "end", "close")

    def __init__(self, start: int, line: int, end: int, close: bool):
        self.start, self.line, self.end, self.close = start, line, end, close


class Doc:
    """What the parts of one message share: the bytes and the part budget."""
    __slots__ = ("data", "parts")

    def __init__(self, data: bytes):
        self.data = data
        self.parts = 1


class Part:
    """A MIME entity spanning data[start:end]: header block [start:hend), then (when
    `sep`) an empty line, then the body [body:end)."""
    __slots__ = ("doc", "parent", "index", "depth", "start", "end", "_fields", "hend",
                 "body", "sep", "open_end", "errors", "_ctype", "_children", "delims",
                 "__weakref__")

    def __init__(self, doc: Doc, start: int, end: int, parent: Optional["Part"] = None,
                 index: int = 0):
        self.doc = doc
        self.parent = parent
        self.index = index
        self.depth = 0 if parent is None else parent.depth + 1
        self.start, self.end = start, end
        self._fields = None
        self._ctype = None
        self._children = None
        self.delims: list = []
        self.errors: list = []

    def __getattr__(self, name):
        # hend, body, sep and open_end exist once the header block is read
        if name in ("hend", "body", "sep", "open_end") and self._fields is None:
            self._parse_header()
            return getattr(self, name)
        raise AttributeError(name)

    # -- the header block ----------------------------------------------------------------
    @property
    def fields(self) -> list:
        if self._fields is None:
            self._parse_header()
        return self._fields

    def _parse_header(self) -> None:
        data, pos, end = self.doc.data, self.start, self.end
        fields: list = []
        lines = 0
        self.sep = False
        self.open_end = False
        first = True
        last = None                  # the field a continuation line belongs to
        while pos < end:
            nl = data.find(b"\n", pos, end)
            line_end = end if nl < 0 else nl + 1
            text_end = line_end if nl < 0 else (nl - 1 if nl > pos and data[nl - 1] == 13
                                                else nl)
            if text_end == pos:                          # the empty line
                self.sep = True
                self.hend, self.body = pos, line_end
                self._fields = fields
                return
            c = data[pos]
            # (a name is short: RFC 5322 lines have 998 characters at most)
            m = None if c == 32 or c == 9 else FIELD_START.match(data, pos,
                                                                 min(text_end, pos + 1024))
            if first and m is None and not data.startswith(b"From ", pos):
                self._error("bad_header")              # not a header block: all body
                self.hend = self.body = self.start
                self.open_end = False
                self._fields = []
                return
            if c == 32 or c == 9:
                if last is not None:
                    last.vend, last.end = text_end, line_end
                else:
                    self._error("bad_header")
            else:
                if m is None:
                    self._error("bad_header")
                    last = None
                elif len(fields) >= MAX_FIELDS:
                    self._error("too_many_headers")
                    last = None
                else:
                    colon = m.end() - 1
                    last = Field(data[pos:colon].rstrip(b" \t").lower(), pos, colon,
                                 text_end, line_end)
                    fields.append(last)
            first = False
            pos = line_end
            lines += 1
            if lines % _STEPS == 0:
                _execution.work(_STEPS * 50)
                if len(fields) >= MAX_FIELDS:    # no more fields: find the end at once
                    pos = _blank_line(data, pos, end)
        self.open_end = end > self.start and data[end - 1] != 10
        self.hend = self.body = end
        self._fields = fields

    def _error(self, kind: str) -> None:
        if kind not in self.errors:
            self.errors.append(kind)

    def find(self, name: bytes) -> list:
        """The fields named `name` (lowercase), top first."""
        return [f for f in self.fields if f.name == name]

    def value(self, f: Field) -> bytes:
        return self.doc.data[f.colon + 1:f.vend]

    def header(self, name: bytes) -> Optional[bytes]:
        """The unfolded value of the first field `name`, or None."""
        for f in self.fields:
            if f.name == name:
                return unfold(self.value(f))
        return None

    # -- Content-Type --------------------------------------------------------------------
    def _content_type(self):
        if self._ctype is None:
            raw = self.header(b"content-type")
            main, params = parse_params(raw) if raw is not None else (b"", {})
            if main.count(b"/") != 1 or not all(main.split(b"/")):
                # RFC 2045 5.2: absent or invalid means the default
                digest = self.parent is not None and \
                    self.parent.ctype == b"multipart/digest"
                main = b"message/rfc822" if digest else b"text/plain"
            self._ctype = (main, params)
        return self._ctype

    @property
    def ctype(self) -> bytes:
        return self._content_type()[0]

    @property
    def params(self) -> dict:
        return self._content_type()[1]

    @property
    def boundary(self) -> Optional[bytes]:
        """The boundary of a multipart (None: not a multipart, or read as a leaf)."""
        if not self.ctype.startswith(b"multipart/") or self.depth >= MAX_DEPTH:
            return None
        b = self.params.get(b"boundary")
        return b if b else None

    @property
    def is_multipart(self) -> bool:
        return self.boundary is not None

    # -- the parts below -----------------------------------------------------------------
    @property
    def children(self) -> list:
        if self._children is None:
            self._children = []
            if self.is_multipart:
                self._split()
        return self._children

    def _split(self) -> None:
        data, body, end = self.doc.data, self.body, self.end
        _execution.work(end - body)
        first = b"--" + self.boundary
        marker = b"\n" + first              # a delimiter starts a line
        i = body if data.startswith(first, body, end) else -1
        after = body                        # where to look for the next one
        delims = self.delims
        while True:
            if i < 0:
                i = data.find(marker, after, end)
                if i < 0:
                    break
                i += 1
            j = i + len(first)
            close = data.startswith(b"--", j, end)
            k = j + 2 if close else j
            while k < end and data[k] in b" \t":            # transport padding
                k += 1
            if k < end and data[k] == 13 and k + 1 < end and data[k + 1] == 10:
                k += 2
            elif k < end and data[k] == 10:
                k += 1
            elif k < end:
                after, i = i, -1                            # more text: not a delimiter
                continue
            start = i
            if i > body:
                start = i - 2 if i - 1 > body and data[i - 2] == 13 else i - 1
            if not close and self.doc.parts >= MAX_PARTS:
                self._error("too_many_parts")
                break
            delims.append(Delimiter(start, i, k, close))
            if close:
                break
            self.doc.parts += 1
            after, i = k - 1, -1
            if len(delims) % _STEPS == 0:
                _execution.work(_STEPS * 50)
        if not delims or not delims[-1].close:
            self._error("unclosed_boundary")
        kids = self._children
        for n, d in enumerate(delims):
            if d.close:
                break
            stop = delims[n + 1].start if n + 1 < len(delims) else end
            kids.append(Part(self.doc, d.end, stop, self, n))

    @property
    def preamble(self) -> tuple[int, int]:
        """The preamble's span (the whole body when no delimiter was found)."""
        self.children  # noqa: B018 -- finds the delimiters (lazily parsed)
        return self.body, (self.delims[0].start if self.delims else self.end)

    @property
    def epilogue(self) -> Optional[tuple[int, int]]:
        """The epilogue's span, None when the multipart is not closed."""
        self.children  # noqa: B018 -- finds the delimiters (lazily parsed)
        if self.delims and self.delims[-1].close:
            return self.delims[-1].end, self.end
        return None

    def path(self) -> str:
        """A stable name of the part in its message: "1" for the message, "1.2.1" for
        the first part of its second part."""
        names = []
        p = self
        while p is not None:
            names.append(str(p.index + 1))
            p = p.parent
        return ".".join(reversed(names))

    def walk(self):
        """The descendants, depth first, top first (iterative: nesting can be deep)."""
        stack = list(reversed(self.children))
        while stack:
            p = stack.pop()
            yield p
            stack.extend(reversed(p.children))


def _blank_line(data: bytes, start: int, end: int) -> int:
    """Where the first empty line of data[start:end] starts (`start` itself when it is
    one), or `end`."""
    if data.startswith(b"\n", start, end) or data.startswith(b"\r\n", start, end):
        return start
    hits = [i + 1 for i in (data.find(b"\n\n", start, end), data.find(b"\n\r\n", start, end))
            if i >= 0]
    return min(hits) if hits else end


def parse(data: bytes) -> Part:
    """The message as a tree of parts (its header block is read now, the rest on use)."""
    root = Part(Doc(data), 0, len(data))
    root.fields  # noqa: B018 -- reads the header block now
    return root
