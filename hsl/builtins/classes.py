"""Builtin classes: Map, Set, Iconv and File (builtins.md "Builtin classes").

(Exception lives in exception.py; X509 and the other classes belong to other areas.)

Choices where builtins.md leaves things open:

* Map key types: "string", "number", "boolean"; value types: "any", "string", "number",
  "boolean", "array", "function", "object" (objects and resources).  A key or value of
  the wrong type is a runtime type error.  Insertion order is kept (the spec allows any).
* Iterators: `Map->entries()` iterates key => value (its value form is `[key, value]`);
  `Set->values()` iterates key => key (value form: the key).  Iteration walks a snapshot
  taken when the foreach starts.
* Iconv: charset names are looked up with Python's codecs (iconv's common names such as
  UTF-8, ISO-8859-1, WINDOWS-1252, UTF-16LE, ASCII resolve the same way).  `//IGNORE`
  drops unconvertible characters; `//TRANSLIT` replaces them by an approximation (the
  character's compatibility decomposition without accents, a few common symbols such as
  the euro sign and typographic quotes, else "?").  On failure `convert()` returns none and
  `errno()` gives EILSEQ (invalid or unconvertible sequence) or EINVAL (incomplete sequence
  at the end); after `close()` it returns none with EBADF.  An unknown charset is an error
  when the object is created.
* File: `File::String(data)` is an in-memory file; `File::read(name)` reads a whole file
  (none on error).  `File(resource)` takes a FileResource (created by an embedding
  application, see `FileResource`) or another File (reopened at position 0).
  `toFFIValue()` is unavailable (no FFI).
"""
from __future__ import annotations

import codecs
import errno as _errno
import io
import unicodedata

from ..runtime import execution as _execution
from ..errors import ScriptError
from ..runtime.values import (MAX_STRING, BuiltinObject, HArray, HFunction, HObject, HResource,
                              add, share, type_name)
from ._args import type_error
from ._limits import (ACCOUNT, CHUNK, MANY, WORK, Pieces, check_deadline, paced,
                      reserve_elements)
from .registry import builtin_class, method

# ----------------------------------------------------------------- iterators


class MapIterator(BuiltinObject):
    """What Map->entries() returns: foreach binds key => value."""
    __slots__ = ()
    class_name = "Iterator"

    def __init__(self, source):
        self.source = source

    def hsl_iter_items(self):
        return [(k, share(v)) for k, v in _snapshot(self.source.items())]

    def hsl_iter_values(self):
        return [HArray.from_list([k, share(v)]) for k, v in _snapshot(self.source.items())]


class SetIterator(BuiltinObject):
    """What Set->values() returns: foreach binds key => key (value: the key)."""
    __slots__ = ()
    class_name = "Iterator"

    def __init__(self, source):
        self.source = source

    def hsl_iter_items(self):
        return [(k, k) for k in _snapshot(self.source)]

    def hsl_iter_values(self):
        return list(_snapshot(self.source))


def _snapshot(entries):
    """What a foreach over a Map or Set walks: a copy of its entries, announced (and
    walked with looks at the clock) when there are many."""
    if len(entries) < MANY:
        return list(entries)
    reserve_elements(len(entries))
    return paced(list(entries))


# ---------------------------------------------------------------------- Map

_KEY_TYPES = {b"string": bytes, b"number": float, b"boolean": bool}


def _is_object(v):
    return isinstance(v, HObject)


_VALUE_CHECKS = {
    b"any": None,
    b"string": lambda v: type(v) is bytes,
    b"number": lambda v: type(v) is float,
    b"boolean": lambda v: type(v) is bool,
    b"array": lambda v: type(v) is HArray,
    b"function": lambda v: type(v) is HFunction,
    b"object": _is_object,
}


def _type_arg(cls, pos, v, table):
    if type(v) is not bytes:
        raise type_error(cls, pos, "a string", v)
    t = v.lower()
    if t not in table:
        names = ", ".join(n.decode() for n in table)
        raise ScriptError(f"{cls}() type must be one of {names}, got {v.decode('utf-8', 'replace')!r}")
    return t


class _TypedKeys(BuiltinObject):
    """What Map and Set share: a dict `d` of keys of one type, and the methods that only
    look at keys."""
    __slots__ = ()

    def _init_keys(self, cls: str, keytype):
        kt = _type_arg(cls, 1, keytype, _KEY_TYPES)
        self.keytype = _KEY_TYPES[kt]
        self.keyname = kt.decode()
        self.d = {}

    def _key(self, m, key):
        if type(key) is not self.keytype:
            raise ScriptError(f"{self.class_name}->{m}() expects a {self.keyname} key, got "
                              f"{type_name(key)} (type error)")
        return key

    @method()
    def has(self, key):
        return self._key("has", key) in self.d

    @method()
    def delete(self, key):
        k = self._key("delete", key)
        if k in self.d:
            _execution.will_mutate(self)
            del self.d[k]
            return True
        return False

    @method()
    def size(self):
        return float(len(self.d))

    @method()
    def clear(self):
        _execution.will_mutate(self)
        self.d.clear()
        return None


@builtin_class("Map")
class MapObject(_TypedKeys):
    """A typed hash map: Map(keytype, valuetype)."""
    __slots__ = ()

    def __init__(self, keytype, valuetype):
        self._init_keys("Map", keytype)
        vt = _type_arg("Map", 2, valuetype, _VALUE_CHECKS)
        self.valuename = vt.decode()
        self.check = _VALUE_CHECKS[vt]

    def _value(self, m, value):
        check = self.check
        if check is not None and not check(value):
            raise ScriptError(f"Map->{m}() expects a {self.valuename} value, got "
                              f"{type_name(value)} (type error)")
        return value

    @method("set")
    def set_(self, key, value):
        k, v = self._key("set", key), self._value("set", value)
        _execution.will_mutate(self)
        self.d[k] = share(v)
        return True

    @method()
    def get(self, key):
        return share(self.d.get(self._key("get", key)))

    @method()
    def merge(self, key, value):
        k = self._key("merge", key)
        if k in self.d:
            value = add(self.d[k], value)
        value = self._value("merge", value)
        _execution.will_mutate(self)
        self.d[k] = share(value)
        return True

    @method()
    def entries(self):
        return MapIterator(self.d)


# ---------------------------------------------------------------------- Set

@builtin_class("Set")
class SetObject(_TypedKeys):
    """A typed set of unique keys: Set(keytype)."""
    __slots__ = ()

    def __init__(self, keytype):
        self._init_keys("Set", keytype)

    @method()
    def add(self, key):
        k = self._key("add", key)
        if k in self.d:
            return False
        _execution.will_mutate(self)
        self.d[k] = None
        return True

    @method()
    def values(self):
        return SetIterator(self.d)


# -------------------------------------------------------------------- Iconv

_TRANSLIT = {
    "\u20ac": "EUR", "\u00df": "ss", "\u00e6": "ae", "\u00c6": "AE", "\u0153": "oe",
    "\u0152": "OE", "\u00f8": "o", "\u00d8": "O", "\u0142": "l", "\u0141": "L",
    "\u00f0": "d", "\u00d0": "D", "\u00fe": "th", "\u00de": "TH", "\u2018": "'",
    "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " ", "\u00ab": "<<",
    "\u00bb": ">>", "\u00a9": "(C)", "\u00ae": "(R)", "\u2122": "(TM)",
}


def _translit_char(ch: str, encoding: str) -> str:
    cand = _TRANSLIT.get(ch)
    if cand is None:
        cand = "".join(c for c in unicodedata.normalize("NFKD", ch)
                       if not unicodedata.combining(c))
    try:
        cand.encode(encoding)
        return cand or "?"
    except (UnicodeEncodeError, LookupError):
        return "?"


def _parse_charset(cls, pos, v):
    if type(v) is not bytes:
        raise type_error(cls, pos, "a string", v)
    text = v.decode("ascii", "replace")
    name, *flags = text.split("//")
    flags = {f.upper() for f in flags if f}
    import codecs
    # An empty name is the locale's character set, as iconv_open(3) has it: UTF-8 here.
    # (Real scripts build "$charset//TRANSLIT" with a charset that may be empty.)
    try:
        info = codecs.lookup(name.strip() or "utf-8")
    except (LookupError, ValueError):       # ValueError: a NUL in the name
        raise ScriptError(f"Iconv() unknown character set {name!r}") from None
    return info.name, flags


@builtin_class("Iconv")
class IconvObject(BuiltinObject):
    """Character-set conversion: Iconv(fromcharset, tocharset)."""
    __slots__ = ()

    def __init__(self, fromcharset, tocharset):
        self.src, _ = _parse_charset("Iconv", 1, fromcharset)
        self.dst, flags = _parse_charset("Iconv", 2, tocharset)
        self.ignore = "IGNORE" in flags
        self.translit = "TRANSLIT" in flags
        self.err = 0
        self.closed = False

    @method()
    def convert(self, text):
        if type(text) is not bytes:
            raise type_error("Iconv->convert", 1, "a string", text)
        if self.closed:
            self.err = _errno.EBADF
            return None
        errors = "ignore" if self.ignore else "strict"
        if len(text) < ACCOUNT:
            try:
                u = text.decode(self.src, errors)
            except UnicodeDecodeError as e:
                return self._bad_input(e, len(text))
            out = self._encode(u, lambda u, errors: u.encode(self.dst, errors))
        else:
            out = self._convert_long(text, errors)
        if out is not None:
            self.err = 0
        return out

    def _convert_long(self, text: bytes, errors: str):
        """convert() of a long text a slice at a time (the result announced as it grows,
        with a look at the clock): the incremental codecs carry partial characters and
        byte order marks over from one slice to the next."""
        decoder = codecs.getincrementaldecoder(self.src)(errors)
        encoder = codecs.getincrementalencoder(self.dst)("strict")

        def encode(u, errors):
            encoder.errors = errors
            return encoder.encode(u)

        out = Pieces()
        step = 4 * CHUNK
        for start in range(0, len(text), step):
            part = text[start:start + step]
            last = start + step >= len(text)
            try:
                u = decoder.decode(part, last)
            except UnicodeDecodeError as e:
                return self._bad_input(e, len(part) if last else -1)
            piece = self._encode(u, encode)
            if piece is None:
                return None
            out.add(piece)
            check_deadline()
        encoder.errors = "strict"
        out.add(encoder.encode("", True))
        return out.join()

    def _bad_input(self, e: UnicodeDecodeError, length: int) -> None:
        """An invalid sequence (EILSEQ), or one cut short at the end of the text
        (EINVAL; `length`: where the text ends in what was decoded, -1 if it does not)."""
        self.err = _errno.EINVAL if e.end >= length >= 0 and "end" in e.reason \
            else _errno.EILSEQ
        return None

    def _encode(self, u: str, encode):
        """u in the target charset, by encode(u, errors), with //TRANSLIT and //IGNORE;
        None (and EILSEQ) when a character cannot be converted."""
        try:
            return encode(u, "strict")
        except UnicodeEncodeError:
            if self.translit:
                return encode("".join(ch if _encodable(ch, self.dst) else
                                      _translit_char(ch, self.dst) for ch in u), "replace")
            if self.ignore:
                return encode(u, "ignore")
            self.err = _errno.EILSEQ
            return None

    @method("errno")
    def errno_(self):
        return float(self.err)

    @method()
    def close(self):
        self.closed = True
        return None


def _encodable(ch, enc):
    try:
        ch.encode(enc)
        return True
    except UnicodeEncodeError:
        return False


# --------------------------------------------------------------------- File

class FileResource(HResource):
    """A file handle given to scripts by an embedding application: in-memory `data`
    (bytes) or a `path` on disk."""
    __slots__ = ()
    class_name = "FileResource"

    def __init__(self, data=None, path=None):
        self.data = data
        self.path = path


_WHENCE = {b"SEEK_SET": 0, b"SEEK_CUR": 1, b"SEEK_END": 2}


@builtin_class("File")
class FileObject(BuiltinObject):
    """A readable file: File(FileResource), File::String(data), File::read(filename)."""
    __slots__ = ()

    def __init__(self, fileresource):
        if isinstance(fileresource, FileObject):
            self._open(fileresource.data, fileresource.path)
        elif isinstance(fileresource, FileResource):
            self._open(fileresource.data, fileresource.path)
        else:
            raise type_error("File", 1, "a FileResource", fileresource)

    def _open(self, data, path):
        self.data = data
        self.path = path
        if data is not None:
            self.fh = io.BytesIO(data)
        else:
            _execution.blocking("opening a file")
            try:
                self.fh = open(path, "rb")
            except OSError as e:
                raise ScriptError(f"File(): cannot open {path}: {e.strerror}") from None

    @staticmethod
    @method("String", static=True)
    def String(data):
        if type(data) is not bytes:
            raise type_error("File::String", 1, "a string", data)
        return FileObject(FileResource(data=data))

    @staticmethod
    @method("read", static=True)
    def read_file(filename):
        if type(filename) is not bytes:
            raise type_error("File::read", 1, "a string", filename)
        _execution.blocking("reading a file")
        try:
            with open(filename, "rb") as f:
                return _read(f, -1)
        except (OSError, ValueError):
            return None

    @method("read")
    def read(self, length=None):
        if self.fh is None:
            return None
        if length is None:
            return _read(self.fh, -1)
        if type(length) is not float:
            raise type_error("File->read", 1, "a number", length)
        if not length >= 0.0:              # negative or NaN
            return None
        # -1 reads everything: also for lengths beyond any string hsl can hold
        n = int(length) if length < MAX_STRING else -1
        try:
            return _read(self.fh, n)
        except OSError:
            return None

    @method()
    def readline(self):
        if self.fh is None:
            return None
        try:
            line = _read(self.fh, -1, line=True)
        except OSError:
            return None
        if not line:
            return False
        if line.endswith(b"\n"):
            line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        return line

    @method()
    def seek(self, offset, whence=b"SEEK_SET"):
        if type(offset) is not float:
            raise type_error("File->seek", 1, "a number", offset)
        if type(whence) is not bytes:
            raise type_error("File->seek", 2, "a string", whence)
        w = _WHENCE.get(whence.upper())
        if w is None:
            raise ScriptError("File->seek() whence must be SEEK_SET, SEEK_CUR or SEEK_END")
        if self.fh is None or offset - offset != 0.0:     # NaN or an infinity
            return None
        base = {0: 0, 1: self.fh.tell(), 2: None}[w]
        if base is None:
            cur = self.fh.tell()
            base = self.fh.seek(0, 2)
            self.fh.seek(cur)
        target = base + int(offset)
        if target < 0:
            return None
        try:
            return float(self.fh.seek(target))
        except (OSError, ValueError, OverflowError):
            return None

    @method()
    def tell(self):
        if self.fh is None:
            return None
        return float(self.fh.tell())

    @method()
    def getPath(self):
        if self.path is None:
            return None
        return self.path if type(self.path) is bytes else str(self.path).encode(
            "utf-8", "surrogateescape")

    @method()
    def close(self):
        if self.fh is not None:
            self.fh.close()
            self.fh = None
        return None

    @method()
    def toFFIValue(self):
        raise ScriptError("File->toFFIValue() is not available in hsl: FFI is not "
                          "implemented")

    def __del__(self):
        fh = getattr(self, "fh", None)
        if fh is not None:
            try:
                fh.close()
            except Exception:
                pass


def _read(fh, n: int, line: bool = False) -> bytes:
    """fh.read(n) (-1: to the end), or fh.readline() with `line`, a slice at a time for a
    long one: announced as it grows (a file can be endless, /dev/zero), with a look at
    the clock."""
    if not line and 0 <= n < ACCOUNT:
        return fh.read(n)
    out = Pieces()
    while n:
        size = WORK if n < 0 else min(n, WORK)
        part = fh.readline(size) if line else fh.read(size)
        out.add(part)
        if len(part) < size or (line and part.endswith(b"\n")):
            break
        if n > 0:
            n -= len(part)
    return out.join()
