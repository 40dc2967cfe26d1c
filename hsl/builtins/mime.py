"""The mail classes MIME, MailMessage and MIMEPart (builtins.md "Builtin classes", with
hooks.md §3, which wins where they differ).  The work is done by hsl.mail: parse.py
(the tree of parts), model.py (the modifications), headers.py, body.py, builder.py
(MIME), send.py; this module checks arguments and options and converts values.

Choices where the documentation is silent (UNSPECIFIED there):

* `MailMessage::String(data)` parses any string (broken input is recorded in
  getErrors()); `MailMessage::File(file)` reads a File (or FileResource) from its start
  and returns none only when it cannot be read.  MIMEPart and MailMessage objects are
  not made by calling the class.
* getHeader(..., ["decode" => false]) is the value unfolded but not decoded; `field` is
  the field as received (its line break included; CRLF added to a last line that had
  none) and ignores `decode`.  An `index` may be negative (from the bottom).  Undeclared
  8-bit text: UTF-8 when it is valid UTF-8, else the part's charset, else what
  charset-normalizer detects among the usual mail charsets, else as is.
* setHeader returns how many fields it replaced, 1 when it added the field; with an
  `index` that matches no field (while the name exists) it changes nothing and returns 0.
  An `index` counts the fields as received (getHeaders()' numbering); without one, the
  edits see the fields earlier edits added.
* getType() of a part without a (valid) Content-Type is the RFC 2045 default:
  text/plain (message/rfc822 inside multipart/digest).  getFileName(): the
  Content-Disposition `filename`, else the Content-Type `name`, RFC 2231 and RFC 2047
  decoded; none without one.  getErrors(): the error kinds of the part and the parts
  below it, each once (`bad_header`, `unclosed_boundary`, and hsl's `too_many_headers`,
  `too_many_parts`).  message/rfc822 parts are leaves (getBody() is the message).
* getParts() of a part that is not a multipart is []; getPreamble(), getEpilogue(),
  setPreamble() and setEpilogue() return none on one.  getByID(id) looks at the part and
  all parts below it.
* setBody(data [, ["encoding" => ...]]): `quoted-printable`, `base64`, `7bit`, `8bit`
  or `binary` (the last three write the data as given, line breaks made CRLF for 7bit).
* remove() on the message itself does nothing.  Modifying methods other than the
  counting ones return none.  appendPart/prependPart/replacePart copy the part given (a
  MIME's output, or a MIMEPart's or MailMessage's bytes with their modifications).
* setDateLater(): when the message is written out (toString(), toFile(), send(),
  queue()) and has no Date field, one with the time of writing is added on top.
* snapshot() ids are lengths of the modification list: restore(id) is true for 0 up to
  the current length.  modifyContent(start, count, data) returns none.
* queue() is only available in the eod hook: elsewhere it is a runtime error (and an
  HSL302 of hsl check on a variable known to hold a MIME or MailMessage).  The eod
  hook's message is an EODMailMessage (made by the hook, like MailMessage not by
  calling the class); hsl/hooks/engine.py keeps what queue() records.
* signDKIM() and verifyDKIM(): hsl/mail/dkim.py (and arc.py for ARC) on the bytes.
"""
from __future__ import annotations

from ..runtime import execution as _execution
from ..errors import ScriptError
from ..runtime.regex import compile_pattern
from ..runtime.values import (BuiltinObject, HArray, HFunction, HRegex, reserve_elements,
                              reserve_string)
from ._args import opt_array, opt_bool, opt_number, opt_str, string, type_error
from .classes import FileObject, FileResource
from .registry import builtin_class, method

_ENCODINGS = (b"quoted-printable", b"base64", b"7bit", b"8bit", b"binary")


_MODULES = None


def _mail():
    """hsl.mail's modules (body, headers, model, send, source), imported on first use."""
    global _MODULES
    if _MODULES is None:
        # deferred: the mail machinery only once a message is used
        from ..mail import body, headers, model, send, source
        _MODULES = body, headers, model, send, source
    return _MODULES


def _index(fname: str, opts: HArray):
    v = opt_number(fname, opts, b"index")
    if v is None:
        return None
    if v != v or v in (float("inf"), float("-inf")):
        raise ScriptError(f"{fname}() option 'index' must be a finite number")
    return int(v)


def _word_encoding(fname: str, opts: HArray) -> bool:
    """True for base64 (B) encoded words, False for quoted-printable (Q)."""
    enc = opt_str(fname, opts, b"encoding", b"quoted-printable").lower()
    if enc not in (b"quoted-printable", b"base64"):
        raise ScriptError(f"{fname}() option 'encoding' must be quoted-printable or base64")
    return enc == b"base64"


def _pattern_matcher(fname: str, pattern):
    """A predicate on bytes: a Regex searches; a string is a case-insensitive regex
    searched anywhere (taken literally when it is not a valid regex)."""
    if type(pattern) is HRegex:
        return lambda s: pattern.compiled.search(s) is not None
    if type(pattern) is not bytes:
        raise type_error(fname, 1, "a string or a regex", pattern)
    try:
        compiled = compile_pattern(pattern, "i")
        return lambda s: compiled.search(s) is not None
    except ScriptError:
        needle = pattern.lower()
        return lambda s: needle in s.lower()


def _entity(fname: str, part) -> bytes:
    """The bytes of what appendPart/prependPart/replacePart take."""
    if isinstance(part, MIMEObject):
        return part.builder.entity(top=False)
    if isinstance(part, MIMEPartObject):
        return part.owner.msg.serialize(part.part)
    raise type_error(fname, 1, "a MIME, MIMEPart or MailMessage", part)


# ---------------------------------------------------------------------------------------

@builtin_class("MIMEPart")
class MIMEPartObject(BuiltinObject):
    """One part of a parsed message (MailMessage is the top one). `get*` methods read the
    message as received; the other methods record modifications, which toString(),
    toFile(), send() and queue() of the message apply."""
    __slots__ = ()

    def __init__(self, *args):
        raise ScriptError(f"{self.class_name} objects are not made directly: they come "
                          f"from MailMessage::String() or MailMessage::File()")

    @classmethod
    def _of(cls, owner: "MailMessageObject", part) -> "MIMEPartObject":
        obj = owner.wrappers.get(part)
        if obj is None:
            obj = MIMEPartObject.__new__(MIMEPartObject)
            obj.owner, obj.part = owner, part
            owner.wrappers[part] = obj
        return obj

    def _name(self, m: str) -> str:
        return f"{self.class_name}->{m}"

    def _msg(self):
        """The message, about to be modified."""
        _execution.will_mutate(self.owner)
        return self.owner.msg

    # -- reading -------------------------------------------------------------------------
    @method()
    def getID(self):
        """An opaque id of the part, stable for it (compare ids for equality only)."""
        return self.part.path().encode("ascii")

    @method()
    def getSize(self):
        """The part's size in bytes as received (fields and body)."""
        return float(self.part.end - self.part.start)

    @method()
    def getType(self):
        """The Content-Type type/subtype, lowercase (the RFC 2045 default without one)."""
        return self.part.ctype

    @method()
    def getTypeParameter(self, name):
        """A Content-Type parameter (RFC 2231 decoded), or none."""
        name = string(self._name("getTypeParameter"), 1, name)
        return self.part.params.get(name.lower())

    @method()
    def getFileName(self):
        """The file name (Content-Disposition filename, else Content-Type name), or none."""
        _, headers, _, _, _ = _mail()
        part = self.part
        raw = part.header(b"content-disposition")
        name = headers.parse_params(raw)[1].get(b"filename") if raw is not None else None
        if name is None:
            name = part.params.get(b"name")
        if name is None:
            return None
        return headers.decode_words(headers.to_utf8(name, None, self._guess))

    def _guess(self):
        """The character set detected for the part's undeclared 8-bit header text."""
        cache = self.owner.guesses
        if self.part not in cache:
            _, headers, _, _, _ = _mail()
            part = self.part
            sample = b"\n".join(v for v in (part.value(f) for f in part.fields)
                                if not v.isascii())
            cache[self.part] = headers.detect(sample) if sample else None
        return cache[self.part]

    def _values(self, fname: str, name, options, index_option: bool):
        name = string(fname, 1, name)
        opts = opt_array(fname, 2, options)
        field = opt_bool(fname, opts, b"field", False)
        decode = opt_bool(fname, opts, b"decode", True)
        index = _index(fname, opts) if index_option else None
        fields = self.part.find(name.lower())
        if index_option:
            i = 0 if index is None else index
            fields = [fields[i]] if -len(fields) <= i < len(fields) else []
        _, headers, _, _, _ = _mail()
        data = self.part.doc.data
        out = []
        for f in fields:
            if field:
                raw = data[f.start:f.end]
                out.append(raw if raw.endswith(b"\n") else raw + b"\r\n")
            elif decode:
                out.append(headers.decode_value(self.part.value(f),
                                                self.part.params.get(b"charset"),
                                                self._guess))
            else:
                out.append(headers.unfold(self.part.value(f)))
        return out

    @method()
    def getHeader(self, name, options=None):
        """The first field `name` (case-insensitive; option `index`), decoded (option
        `decode`, default true) or whole (option `field`); none if absent."""
        values = self._values(self._name("getHeader"), name, options, True)
        return values[0] if values else None

    @method()
    def getHeaders(self, name, options=None):
        """Every field `name`, top first (options `decode`, `field`)."""
        values = self._values(self._name("getHeaders"), name, options, False)
        reserve_elements(len(values))
        return HArray.from_list(values)

    @method()
    def getHeaderNames(self):
        """The names of all fields, lowercase, top first."""
        fields = self.part.fields
        reserve_elements(len(fields))
        return HArray.from_list([f.name for f in fields])

    @method()
    def getBody(self, options=None):
        """The body; with `["decode" => false]` as received, else without its transfer
        encoding (no charset conversion)."""
        fname = self._name("getBody")
        opts = opt_array(fname, 1, options)
        part = self.part
        data = part.doc.data
        reserve_string(part.end - part.body)
        if not opt_bool(fname, opts, b"decode", True) or part.is_multipart:
            return data[part.body:part.end]
        body, _, _, _, _ = _mail()
        cte = part.header(b"content-transfer-encoding")
        return body.decode(data, part.body, part.end, (cte or b"").lower())

    @method()
    def getPreamble(self):
        """The text before the first part of a multipart; none on other parts."""
        if not self.part.is_multipart:
            return None
        a, b = self.part.preamble
        return self.part.doc.data[a:b]

    @method()
    def getEpilogue(self):
        """The text after the end of a multipart; none on other parts."""
        if not self.part.is_multipart:
            return None
        span = self.part.epilogue
        return b"" if span is None else self.part.doc.data[span[0]:span[1]]

    @method()
    def getParts(self):
        """The parts of a multipart ([] for other parts)."""
        kids = self.part.children
        reserve_elements(len(kids))
        return HArray.from_list([MIMEPartObject._of(self.owner, p) for p in kids])

    @method()
    def getByID(self, id):
        """The part (this one or one below it) with getID() `id`, or none."""
        want = string(self._name("getByID"), 1, id).decode("ascii", "replace")
        mine = self.part.path()
        if want == mine:
            return self
        if not want.startswith(mine + "."):
            return None
        part = self.part
        for step in want[len(mine) + 1:].split("."):
            if not step.isdigit() or not 1 <= int(step) <= len(part.children):
                return None
            part = part.children[int(step) - 1]
        return MIMEPartObject._of(self.owner, part)

    def _find(self, fname: str, pattern, key):
        matches = _pattern_matcher(fname, pattern)
        found = []
        for p in self.part.walk():
            _execution.check_deadline()
            value = key(p)
            if value is not None and matches(value):
                found.append(MIMEPartObject._of(self.owner, p))
        reserve_elements(len(found))
        return HArray.from_list(found)

    @method()
    def findByType(self, pattern):
        """The parts below this one whose type matches `pattern` (a regex, or a string
        matched case-insensitively anywhere)."""
        return self._find(self._name("findByType"), pattern, lambda p: p.ctype)

    @method()
    def findByFileName(self, pattern):
        """The parts below this one whose file name matches `pattern` (as findByType)."""
        return self._find(self._name("findByFileName"), pattern,
                          lambda p: MIMEPartObject._of(self.owner, p).getFileName())

    @method()
    def getErrors(self):
        """What was wrong with the part and the parts below it: `bad_header`,
        `unclosed_boundary` (each once)."""
        kinds: list = []
        for p in [self.part, *self.part.walk()]:
            p.fields  # noqa: B018 -- parses the header block and the children now, which
            p.children  # noqa: B018 -- records their errors
            kinds += [k for k in p.errors if k not in kinds]
        return HArray.from_list([k.encode("ascii") for k in kinds])

    # -- modifying ------------------------------------------------------------------------
    def _header_args(self, m: str, name, value, options):
        fname = self._name(m)
        name = string(fname, 1, name)
        value = string(fname, 2, value)
        opts = opt_array(fname, 3, options)
        return fname, name, value, opts

    @method()
    def setHeader(self, name, value, options=None):
        """Replace the fields `name` (option `index`: only that one) with `value`, or add
        it on top when there is none; returns how many changed.  Options `encode`
        (default true: RFC 2047 words and folding where needed), `encoding`
        (quoted-printable or base64 words)."""
        fname, name, value, opts = self._header_args("setHeader", name, value, options)
        return float(self._msg().set_header(
            self.part, name, value, _index(fname, opts), opt_bool(fname, opts, b"encode",
                                                                  True),
            _word_encoding(fname, opts)))

    @method()
    def addHeader(self, name, value, options=None):
        """Add a field on top of the part's fields (options `encode`, `encoding`; with
        `["encode" => false]` the value goes in as given)."""
        fname, name, value, opts = self._header_args("addHeader", name, value, options)
        self._msg().add_header(self.part, name, value, opt_bool(fname, opts, b"encode", True),
                               _word_encoding(fname, opts))
        return None

    @method()
    def delHeader(self, name, options=None):
        """Remove the fields `name` (option `index`: only that one); returns how many."""
        fname = self._name("delHeader")
        name = string(fname, 1, name)
        opts = opt_array(fname, 2, options)
        return float(self._msg().del_header(self.part, name, _index(fname, opts)))

    @method()
    def renameHeader(self, name, newname, options=None):
        """Rename the fields `name` to `newname` (option `index`); returns how many."""
        fname = self._name("renameHeader")
        name = string(fname, 1, name)
        newname = string(fname, 2, newname)
        opts = opt_array(fname, 3, options)
        return float(self._msg().rename_header(self.part, name, newname,
                                               _index(fname, opts)))

    @method()
    def setBody(self, data, options=None):
        """Replace the body with `data`, transfer-encoded as reads best (7bit,
        quoted-printable or base64) or as option `encoding` says (7bit, 8bit or binary
        given as the option: `data` goes in as it is)."""
        fname = self._name("setBody")
        data = string(fname, 1, data)
        opts = opt_array(fname, 2, options)
        body, _, _, _, _ = _mail()
        cte = opt_str(fname, opts, b"encoding")
        if cte is None:
            cte = body.choose(data, self.part.ctype)
            data = body.encode(data, cte)
        elif cte.lower() not in _ENCODINGS:
            raise ScriptError(f"{fname}() option 'encoding' must be one of "
                              f"{', '.join(e.decode() for e in _ENCODINGS)}")
        elif cte.lower() in (b"quoted-printable", b"base64"):
            data = body.encode(data, cte.lower())
        # (an identity encoding the script names keeps the line endings it gave: Halon's
        # S/MIME module puts an LF message back with "7bit" and expects it byte for byte)
        cte = cte.lower()
        reserve_string(len(data) * 2)
        self._msg().set_body(self.part, data, cte)
        return None

    def _multipart_text(self, m: str, data, setter):
        data = string(self._name(m), 1, data)
        if not self.part.is_multipart:
            return None
        setter(self._msg(), data)
        return None

    @method()
    def setPreamble(self, data):
        """Replace the preamble of a multipart (none on other parts)."""
        return self._multipart_text("setPreamble", data,
                                    lambda msg, d: msg.set_preamble(self.part, d))

    @method()
    def setEpilogue(self, data):
        """Replace the epilogue of a multipart (none on other parts)."""
        return self._multipart_text("setEpilogue", data,
                                    lambda msg, d: msg.set_epilogue(self.part, d))

    def _insert(self, m: str, part, options, at_end: bool):
        fname = self._name(m)
        entity = _entity(fname, part)
        opts = opt_array(fname, 2, options)
        given = opt_str(fname, opts, b"type")
        ctype = b"multipart/mixed" if given is None else given
        if not ctype.lower().startswith(b"multipart/") or b"\n" in ctype or b"\r" in ctype:
            raise ScriptError(f"{fname}() option 'type' must be a multipart type")
        # A multipart of another type is wrapped too: Halon's S/MIME module signs a
        # multipart/alternative message with ["type" => "multipart/signed; ..."].
        other = given is not None and \
            given.split(b";")[0].strip().lower() != self.part.ctype
        self._msg().insert(self.part, entity, at_end, ctype, other)
        return None

    @method()
    def appendPart(self, part, options=None):
        """Add a part (MIME, MIMEPart or MailMessage) last; a part that is not a
        multipart, or a multipart of another type than option `type` names, is wrapped
        into a new one of that type first (default multipart/mixed)."""
        return self._insert("appendPart", part, options, True)

    @method()
    def prependPart(self, part, options=None):
        """Add a part first (as appendPart)."""
        return self._insert("prependPart", part, options, False)

    @method()
    def replacePart(self, part):
        """Replace this part with another (MIME, MIMEPart or MailMessage); on the message
        itself, its content fields and body."""
        entity = _entity(self._name("replacePart"), part)
        self._msg().replace(self.part, entity)
        return None

    @method()
    def remove(self):
        """Remove the part from its multipart."""
        if self.part.parent is not None:
            self._msg().remove(self.part)
        return None

    @method()
    def setDateLater(self):
        """Have a Date field added when the message is written out, if it has none."""
        self._msg().set_date_later(self.owner.msg.root)
        return None


def _file_data(file):
    """The whole content of a File or FileResource, or None when it cannot be read."""
    if isinstance(file, FileObject):
        if file.fh is None:
            return None
        data, path = file.data, file.path
    elif isinstance(file, FileResource):
        data, path = file.data, file.path
    else:
        raise type_error("MailMessage::File", 1, "a File", file)
    if data is not None:
        return data
    _execution.blocking("reading a file")
    try:
        with open(path, "rb") as f:
            return f.read()
    except (OSError, ValueError, TypeError):
        return None


def _send(fname: str, data: bytes, sender, recipients, server):
    _, _, _, send, _ = _mail()
    return send.send(fname, data, sender, recipients, server)


def _queue(fname: str, data_fn, sender, recipient, transportid, options):
    _, _, _, send, _ = _mail()
    opt_array(fname, 4, options)
    return send.queue(fname, data_fn(), sender, recipient, transportid, options)


def _eod_only(fn):
    """Mark a method as existing in the eod hook only (read by hsl check)."""
    fn.hsl_context = "eod"
    return fn


def _dkim_sign(fname: str, message: bytes, selector, domain, key, options):
    """(field, options) of signDKIM on `message`: the whole DKIM-Signature (or, with
    option arc, ARC-Message-Signature) field, ending in CRLF; (None, options) when the
    signature cannot be made (signDKIM then returns none).  hsl.mail.dkim does the work."""
    # deferred: DKIM (and its crypto) only for signDKIM/verifyDKIM
    from ..mail import dkim
    selector = string(fname, 1, selector)
    domain = string(fname, 2, domain)
    opts = dkim.SignOptions.from_hsl(fname, options)
    try:
        return dkim.sign(message, selector, domain, key, opts), opts
    except dkim.DKIMError:
        return None, opts


def _field_value(field: bytes) -> bytes:
    """The value of a whole field as addHeader(name, value, ["encode" => false]) writes it
    back: after "Name: ", without the final CRLF (return_header gives this)."""
    value = field.split(b":", 1)[1]
    if value[:1] == b" ":
        value = value[1:]
    return value[:-2] if value.endswith(b"\r\n") else value


def _dkim_verify(fname: str, message: bytes, headerfield, options) -> HArray:
    """verifyDKIM: the one signature `headerfield` (the raw field, as getHeader(...,
    ["field" => true]) gives it) checked on `message`.  Options timeout (per DNS query,
    default 5) and dns_function (host -> ["result" => [txt...]] or ["error" => ...])."""
    # deferred: DKIM (and its crypto) only for signDKIM/verifyDKIM
    from ..mail import dkim
    headerfield = string(fname, 1, headerfield)
    opts = opt_array(fname, 2, options)
    fn = opts.d.get(b"dns_function")
    if fn is not None:
        if type(fn) is not HFunction:
            raise ScriptError(f"{fname}() option 'dns_function' must be a function "
                              "(type error)")
        lookup = dkim.function_lookup(fn, fname)
    else:
        timeout = opt_number(fname, opts, b"timeout", dkim.DEFAULT_TIMEOUT)
        lookup = dkim.resolver_lookup(timeout)
    return dkim.result_to_hsl(dkim.verify(message, headerfield, lookup))


@builtin_class("MailMessage")
class MailMessageObject(MIMEPartObject):
    """A parsed message: the received bytes plus an ordered list of modifications. It is
    the top MIMEPart and has all MIMEPart methods. Made by MailMessage::String(data) or
    MailMessage::File(file)."""
    __slots__ = ()

    @classmethod
    def _new(cls, data: bytes) -> "MailMessageObject":
        """A message of `data` (a subclass, such as the EOD hook's, gets one of its own)."""
        _, _, model, _, _ = _mail()
        obj = cls.__new__(cls)
        obj.msg = model.Message(data)
        obj.data = data           # (so that the memory budget counts the message)
        obj.owner, obj.part = obj, obj.msg.root
        obj.wrappers = {obj.msg.root: obj}
        obj.guesses = {}
        return obj

    def hsl_snapshot(self):
        msg, mods = self.msg, list(self.msg.mods)

        def restore():
            msg.mods[:] = mods
            msg._state = None
        return restore

    @staticmethod
    @method("String", static=True)
    def String(data):
        """A MailMessage of any string (see getErrors() for what was wrong with it)."""
        data = string("MailMessage::String", 1, data)
        return MailMessageObject._new(data)

    @staticmethod
    @method("File", static=True)
    def File(file):
        """A MailMessage of the whole content of a File; none if it cannot be read."""
        data = _file_data(file)
        return None if data is None else MailMessageObject._new(data)

    @method()
    def snapshot(self):
        """An id of the modifications so far, for restore()."""
        return float(self.msg.snapshot())

    @method()
    def restore(self, id):
        """Go back to the modifications of snapshot() `id`; false for an unknown id."""
        if type(id) is not float:
            raise type_error(self._name("restore"), 1, "a number", id)
        if not (id == id and abs(id) < 2 ** 53 and id == int(id)):
            return False
        n = int(id)
        if not 0 <= n <= self.msg.snapshot():
            return False
        return self._msg().restore(n)

    @method()
    def reset(self):
        """Drop every modification; returns how many there were."""
        return float(self._msg().reset())

    @method()
    def modifyContent(self, start, count, data):
        """Replace `count` bytes of the message as received, from `start`, with `data`
        (applied when the message is written out, like the other modifications)."""
        fname = self._name("modifyContent")
        if type(start) is not float:
            raise type_error(fname, 1, "a number", start)
        if type(count) is not float:
            raise type_error(fname, 2, "a number", count)
        data = string(fname, 3, data)
        size = len(self.msg.data)
        if not (0 <= start <= size and 0 <= count and start + count <= size) \
                or start != int(start) or count != int(count):
            raise ScriptError(f"{fname}() range {start:g}+{count:g} is not inside the "
                              f"message ({size} bytes)")
        self._msg().modify_content(int(start), int(count), data)
        return None

    @method()
    def toString(self):
        """The message with its modifications."""
        return self.msg.serialize()

    @method()
    def toFile(self):
        """The message with its modifications, as a File."""
        return FileObject(FileResource(data=self.msg.serialize()))

    @method()
    def send(self, sender, recipients, server):
        """Send the message (with its modifications) over SMTP; a result array."""
        return _send("MailMessage->send", self.msg.serialize(), sender, recipients,
                     server)

    @method()
    @_eod_only
    def queue(self, sender, recipient, transportid, options=None):
        """Queue a copy of the message (only in the eod hook)."""
        return _queue("MailMessage->queue", self.msg.serialize, sender, recipient,
                      transportid, options)

    @method()
    def signDKIM(self, selector, domain, key, options=None):
        """Sign the message (with its modifications) with DKIM and add the signature at
        the top (a modification); with option return_header, return the field's value
        instead (add it with addHeader(name, value, ["encode" => false])).  Options as
        hooks.md §3; none when the signature cannot be made."""
        field, opts = _dkim_sign("MailMessage->signDKIM", self.msg.serialize(), selector,
                                 domain, key, options)
        if field is None:
            return None
        if opts.return_header:
            return _field_value(field)
        self._msg().add_field(self.msg.root, field)
        return self

    @method()
    def verifyDKIM(self, headerfield, options=None):
        """Verify one DKIM-Signature or ARC-Message-Signature field (name and value as
        received) on the message as received: ["result" => pass | permerror |
        temperror, "error" => why, "tags" => the parsed tags]."""
        return _dkim_verify("MailMessage->verifyDKIM", self.msg.data, headerfield, options)


@builtin_class("EODMailMessage", context="eod")
class EODMailMessageObject(MailMessageObject):
    """The message of the eod hook, `$arguments["mail"]`: a MailMessage whose queue()
    records a copy of the message as it is at that moment (its modifications so far);
    the copies are queued only when the script ends with Accept()."""
    __slots__ = ()


@builtin_class("MIME")
class MIMEObject(BuiltinObject):
    """A builder of new MIME parts and messages: MIME(). Setters return the object."""
    __slots__ = ()

    def __init__(self):
        # deferred: the MIME builder only for MIME()
        from ..mail.builder import Builder
        self.builder = Builder()

    def hsl_snapshot(self):
        saved = self.builder.copy()

        def restore():
            self.builder = saved
        return restore

    def _set(self, attr: str, value):
        _execution.will_mutate(self)
        setattr(self.builder, attr, value)
        return self

    @method()
    def addHeader(self, name, value, options=None):
        """Add a field (option `encode`, default true: RFC 2047 words and folding where
        needed)."""
        fname = "MIME->addHeader"
        name = string(fname, 1, name)
        value = string(fname, 2, value)
        opts = opt_array(fname, 3, options)
        _, headers, _, _, _ = _mail()
        if not headers.valid_name(name):
            raise ScriptError(f"{fname}() invalid header field name "
                              f"{name.decode('utf-8', 'replace')!r}")
        _execution.will_mutate(self)
        self.builder.add_header(name, value, opt_bool(fname, opts, b"encode", True))
        return self

    @method()
    def appendPart(self, part, options=None):
        """Add a part (MIME, MIMEPart or MailMessage); the MIME becomes a multipart
        (option `type` when no type is set; default multipart/mixed)."""
        fname = "MIME->appendPart"
        if part is self:
            raise ScriptError(f"{fname}() cannot append a MIME to itself")
        entity = _entity(fname, part)
        opts = opt_array(fname, 2, options)
        ctype = opt_str(fname, opts, b"type")
        _execution.will_mutate(self)
        if ctype is not None and self.builder.type is None:
            self.builder.type = ctype
        self.builder.parts.append(entity)
        return self

    @method()
    def setBody(self, body):
        """The body (transfer-encoded as reads best unless a Content-Transfer-Encoding
        field was added)."""
        return self._set("body", string("MIME->setBody", 1, body))

    def _line(self, m: str, what: str, value) -> bytes:
        value = string(f"MIME->{m}", 1, value)
        if b"\r" in value or b"\n" in value:
            raise ScriptError(f"MIME->{m}() {what} must be one line")
        return value

    @method()
    def setType(self, type):
        """The Content-Type (default text/plain; text/* gets charset=utf-8)."""
        return self._set("type", self._line("setType", "type", type))

    @method()
    def setBoundary(self, boundary):
        """The multipart boundary (default a UUID)."""
        value = string("MIME->setBoundary", 1, boundary)
        if not value or len(value) > 70 or any(c < 32 or c > 126 for c in value) \
                or b'"' in value:
            raise ScriptError("MIME->setBoundary() boundary must be 1 to 70 printable "
                              "characters (RFC 2046), without quotes")
        return self._set("boundary", value)

    @method()
    def setDate(self, timestamp=None):
        """The Date field's time (default: now)."""
        _, _, _, _, source = _mail()
        if timestamp is None:
            timestamp = source.now()
        elif type(timestamp) is not float:
            raise type_error("MIME->setDate", 1, "a number", timestamp)
        elif timestamp != timestamp or abs(timestamp) > 253402300799:
            raise ScriptError("MIME->setDate() timestamp is out of range")
        return self._set("date", timestamp)

    @method()
    def setFileName(self, filename):
        """The file name (Content-Disposition, attachment by default)."""
        value = string("MIME->setFileName", 1, filename)
        return self._set("filename", value.replace(b"\r", b"").replace(b"\n", b""))

    @method()
    def setDisposition(self, disposition):
        """The Content-Disposition (default attachment once a file name is set)."""
        return self._set("disposition", self._line("setDisposition", "disposition",
                                                   disposition))

    @method()
    def toString(self):
        """The message."""
        return self.builder.entity(top=True)

    @method()
    def toFile(self):
        """The message, as a File."""
        return FileObject(FileResource(data=self.builder.entity(top=True)))

    @method()
    def send(self, sender, recipients, server):
        """Send the message over SMTP; a result array."""
        return _send("MIME->send", self.builder.entity(top=True), sender, recipients,
                     server)

    @method()
    @_eod_only
    def queue(self, sender, recipient, transportid, options=None):
        """Queue the message (only in the eod hook)."""
        return _queue("MIME->queue", lambda: self.builder.entity(top=True), sender,
                      recipient, transportid, options)

    @method()
    def signDKIM(self, selector, domain, key, options=None):
        """Sign the message as it is now with DKIM and add the signature at the top (or
        return the field's value with option return_header); none when the signature
        cannot be made."""
        field, opts = _dkim_sign("MIME->signDKIM", self.builder.entity(top=True), selector,
                                 domain, key, options)
        if field is None:
            return None
        if opts.return_header:
            return _field_value(field)
        _execution.will_mutate(self)
        self.builder.add_field_top(field)
        return self
