"""The MIME builder: a new part or message, written out on demand (builtins.md "MIME").

Output of `Builder.entity(top)`: the fields added with addHeader (in the order they were
added; ones added with `add_field_top` before them), then the generated ones a field of
the same name added by the script replaces:

* (top only) `Date:` of setDate(), else of the time the builder was made, and
  `MIME-Version: 1.0`;
* `Content-Type:`: the type of setType() (default text/plain; text/* gets
  `charset=utf-8` unless it names a charset; a `name` parameter with the file name);
  with parts, a multipart (the type set if it is multipart/*, else multipart/mixed) with
  `boundary="..."` (setBoundary(), else a UUID from hsl.mail.source, chosen when the
  builder is made);
* `Content-Transfer-Encoding:` for a body: 7bit, quoted-printable or base64, whichever
  reads best (none when the script added its own: then the body is encoded as that
  field says when it says base64 or quoted-printable, and goes out as given
  otherwise);
* `Content-Disposition:` once a file name or a disposition is set (`attachment` when
  only the file name is).

Then an empty line and the body; with parts, the body set (if any) is the preamble, then
each part between delimiters, then the close delimiter.  Parts are copied when they are
appended (a MIME's own output as a part has no Date and no MIME-Version).  Every line
the builder writes ends in CRLF.
"""
from __future__ import annotations

import copy
from typing import Optional

from . import body as _body
from . import source
from .headers import format_param, new_field, parse_params


class Builder:
    def __init__(self):
        self.fields: list = []               # (lowercase name, field bytes)
        self.body: Optional[bytes] = None
        self.type: Optional[bytes] = None
        self.boundary: bytes = source.boundary()
        self.date: float = source.now()
        self.filename: Optional[bytes] = None
        self.disposition: Optional[bytes] = None
        self.parts: list = []                # entities (bytes)

    def copy(self) -> "Builder":
        c = copy.copy(self)
        c.fields, c.parts = list(self.fields), list(self.parts)
        return c

    def add_header(self, name: bytes, value: bytes, encode: bool = True) -> None:
        self.fields.append((name.lower(), new_field(name, value, encode)))

    def add_field_top(self, field: bytes) -> None:
        """Put a whole field (name, colon, value, CRLF) first, byte for byte (a DKIM
        signature goes in this way)."""
        self.fields.insert(0, (field.split(b":", 1)[0].strip().lower(), field))

    def entity(self, top: bool = True) -> bytes:
        have = {name for name, _ in self.fields}
        out = [text for _, text in self.fields]

        def generated(name: bytes, value: bytes):
            if name.lower() not in have:
                out.append(new_field(name, value))

        if top:
            generated(b"Date", source.format_date(self.date))
            generated(b"MIME-Version", b"1.0")
        main, params = parse_params(self.type or b"text/plain")
        if self.parts:
            boundary = self.boundary
            if b"content-type" in have:          # the script's own: use its boundary
                own = next(t for n, t in self.fields if n == b"content-type")
                boundary = parse_params(own.split(b":", 1)[1])[1].get(b"boundary",
                                                                    boundary)
            ctype = self.type if main.startswith(b"multipart/") else b"multipart/mixed"
            generated(b"Content-Type", ctype + b'; boundary="' + boundary + b'"')
        else:
            ctype = self.type or b"text/plain"
            if main.startswith(b"text/") and b"charset" not in params:
                ctype += b"; charset=utf-8"
            if self.filename is not None and b"name" not in params:
                ctype += format_param(b"name", self.filename)
            generated(b"Content-Type", ctype)
        data = self.body
        if not self.parts and data is not None and b"content-transfer-encoding" not in have:
            cte = _body.choose(data, main)
            data = _body.encode(data, cte)
            if cte != b"7bit":
                generated(b"Content-Transfer-Encoding", cte)
        elif not self.parts and data is not None:
            # Halon's S/MIME modules add "Content-Transfer-Encoding: base64" and set the
            # DER signature as the body: it is encoded as the field says.
            own = next(t for n, t in self.fields if n == b"content-transfer-encoding")
            cte = own.split(b":", 1)[1].strip().lower()
            if cte in (b"base64", b"quoted-printable"):
                data = _body.encode(data, cte)
        if self.filename is not None or self.disposition is not None:
            value = self.disposition or b"attachment"
            if self.filename is not None:
                value += format_param(b"filename", self.filename)
            generated(b"Content-Disposition", value)
        out.append(b"\r\n")
        if not self.parts:
            out.append(data or b"")
            return b"".join(out)
        if data:
            out += [_body.crlf(data), b"" if data.endswith(b"\n") else b"\r\n"]
        for entity in self.parts:
            out += [b"--", boundary, b"\r\n", entity, b"\r\n"]
        out += [b"--", boundary, b"--\r\n"]
        return b"".join(out)
