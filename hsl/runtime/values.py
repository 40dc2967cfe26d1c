"""HSL values and the semantics of every HSL operation on them.

Representation (fixed; the compiler, runtime and builtins all rely on it):

=========  =====================================================================
HSL type   Python representation
=========  =====================================================================
none       ``None``
boolean    ``bool``
number     ``float`` -- always, never ``int``
string     ``bytes`` (HSL strings are byte strings)
array      :class:`HArray` (ordered map, copy-on-write)
function   :class:`HFunction`
object     instances of :class:`HObject` subclasses (:class:`BuiltinObject` for builtin
           classes, :class:`HResource` for opaque resources)
Regex      :class:`HRegex`
=========  =====================================================================

Copy-on-write protocol (language spec 3.8).  An :class:`HArray` object is a *handle*; it
is held by exactly one holder (a variable, an array slot, a constant table, an argument).
Handles may share their dict.  Whenever a value is transferred from one holder to another
(assignment from a variable or element, argument passing, return of a stored value,
storing into an array, foreach), the transferring code calls :func:`share` on it, which for
arrays returns a *new* handle on the same dict and marks both handles shared.  Every
mutating method first un-shares its handle (copies the dict, giving every nested array a
new handle of its own).  Builtins must never mutate an array they were given, and when they
put values taken from an input array into a new array they must :func:`share` them.

All helpers raise :class:`hsl.errors.ScriptError` for HSL runtime errors; messages for bad
operand types contain the word "type" (spec 13.2).
"""
from __future__ import annotations

import math
import re
from typing import Optional

from .pcre import compile_pattern
from ..errors import ScriptError
from .execution import check_deadline, reserve, work

__all__ = [
    "HArray", "HFunction", "HObject", "BuiltinObject", "HResource", "HRegex",
    "normalize_key", "key_value", "share",
    "to_bool", "to_number", "to_str", "to_int32", "format_number", "array_text", "type_name",
    "loose_eq", "strict_eq", "lt", "le", "gt", "ge",
    "add", "sub", "mul", "div", "mod", "power", "neg", "pos",
    "bit_and", "bit_or", "bit_xor", "bit_not", "shl", "shr", "ushr",
    "concat", "concat_many", "format_op",
    "index_get", "index_set", "index_append", "write_container", "slice_get", "slice_set",
    "slice_delete", "spread_values", "array_spread",
    "from_python", "to_python",
]

_INF = float("inf")
_NAN = float("nan")
_NOINT = -(1 << 62)          # HArray.maxkey value meaning "no integer key"
_I32_MIN = -2147483648
_I32_MAX = 2147483647
# The largest string (bytes) or array repeat the language builds: past it a runaway script
# gets a clean error instead of exhausting the machine's memory (in `hsl serve` too).
MAX_STRING = 1 << 30
MAX_ARRAY = 1 << 26          # elements of an array a builtin or operator builds at once
# Building a value larger than this (bytes or elements) in one operation is work that a
# speculative run (runtime.SpeculativeExecution) leaves to a worker thread.
LARGE = 1 << 20
# Arrays of more elements than this take long enough to go through (copy, compare, print)
# that the work is announced first (execution.work; about 50 units of work per element).
BIG_ARRAY = 1 << 14
# Values from this size up (bytes) are announced to the run's memory budget before they
# are built (execution.reserve); smaller ones are caught by the process-growth check.
ACCOUNT = 1 << 12


class _Unset:
    """The value of a variable, element or property that is not set, where reading one is
    no error (`??`, isset(), soft reads in generated code; a barrier variable unset)."""

    __slots__ = ()

    def __repr__(self):
        return "<unset>"

    def __bool__(self):
        return False


UNSET = _Unset()


# ---------------------------------------------------------------------------------------
# Array keys

def _invalid_key(k):
    return ScriptError(f"invalid array key (type {type_name(k)})")


def _norm_bytes_key(k: bytes):
    """A string key: the int it spells canonically (3.5), else the string itself."""
    if k.isdigit():                              # ASCII digits only, non-empty
        if (k[0] == 48 and len(k) > 1) or len(k) > 10:
            return k
        n = int(k)
        return n if n <= _I32_MAX else k
    if len(k) > 1 and k[0] == 45 and k[1] != 48 and len(k) <= 11:
        rest = k[1:]
        if rest.isdigit():
            n = -int(rest)
            return n if n >= _I32_MIN else k
    return k


def normalize_key(k):
    """The normalised form (Python int or bytes) of the HSL value `k` used as an array key."""
    t = type(k)
    if t is float:
        if -2147483649.0 < k < 2147483648.0:
            return int(k)
        if k != k or k == _INF or k == -_INF:
            raise ScriptError("invalid array key (number %s)" % format_number(k).decode())
        return ((int(k) + 2147483648) % 4294967296) - 2147483648
    if t is bytes:
        if k and k[0] > 57:             # not a digit nor "-": itself (the usual key)
            return k
        return _norm_bytes_key(k)
    if t is bool:
        return 1 if k else 0
    if t is int:                                 # tolerated for Python callers
        if _I32_MIN <= k <= _I32_MAX:
            return k
        return ((k + 2147483648) % 4294967296) - 2147483648
    raise _invalid_key(k)


def key_value(k):
    """The HSL value of a normalised key (int -> float)."""
    return float(k) if type(k) is int else k


# ---------------------------------------------------------------------------------------
# HArray

def _big_array_work(n: int) -> None:
    work(n * 50)
    reserve_elements(n)


class HArray:
    """An HSL array: an ordered map with copy-on-write value semantics.

    `d` maps normalised keys (int or bytes) to HSL values in HSL order.  `shared` is true
    when `d` may also be used by another handle.  `maxkey` caches the highest int key
    (`_NOINT` if none, None if unknown).  Read `d` directly for speed, never write it."""

    __slots__ = ("d", "shared", "maxkey")

    def __init__(self):
        self.d = {}
        self.shared = False
        self.maxkey = _NOINT

    # -- construction ---------------------------------------------------------------
    @classmethod
    def from_list(cls, values) -> "HArray":
        """A list array (keys 0..n-1) of `values`, taken as given (share them first if
        they are held elsewhere)."""
        a = cls.__new__(cls)
        a.d = dict(enumerate(values))
        a.shared = False
        a.maxkey = len(a.d) - 1 if a.d else _NOINT
        return a

    @classmethod
    def from_pairs(cls, pairs) -> "HArray":
        """An array of (key, value) pairs; keys are normalised, a repeated key overwrites the
        earlier value in its position.  Values are taken as given."""
        a = cls()
        d = a.d
        for k, v in pairs:
            d[normalize_key(k)] = v
        a.maxkey = None
        return a

    @classmethod
    def from_dict_normalized(cls, d: dict) -> "HArray":
        """Wrap a dict whose keys are already normalised (int or bytes); it is not copied."""
        a = cls.__new__(cls)
        a.d = d
        a.shared = False
        a.maxkey = None
        return a

    def _copy(self) -> "HArray":
        """A new unshared handle on a copy of the dict (nested arrays re-shared)."""
        if len(self.d) > BIG_ARRAY:
            _big_array_work(len(self.d))
        a = HArray.__new__(HArray)
        d = self.d.copy()
        for k, v in d.items():
            if type(v) is HArray:
                d[k] = v.share()
        a.d = d
        a.shared = False
        a.maxkey = self.maxkey
        return a

    # -- sharing --------------------------------------------------------------------
    def share(self) -> "HArray":
        """A new handle on the same dict; both handles become copy-on-write."""
        a = HArray.__new__(HArray)
        a.d = self.d
        a.shared = True
        a.maxkey = self.maxkey
        self.shared = True
        return a

    def _own(self) -> None:
        if len(self.d) > BIG_ARRAY:
            _big_array_work(len(self.d))
        d = self.d.copy()
        for k, v in d.items():
            if type(v) is HArray:
                d[k] = v.share()
        self.d = d
        self.shared = False

    # -- readers --------------------------------------------------------------------
    def get(self, key):
        """The value at HSL key `key`, or None when absent."""
        t = type(key)
        if t is bytes and key and key[0] > 57:      # a name: its own normal form
            return self.d.get(key)
        if t is float and -2147483649.0 < key < 2147483648.0:
            return self.d.get(int(key))
        return self.d.get(normalize_key(key))

    def __len__(self) -> int:
        return len(self.d)

    def __contains__(self, key) -> bool:
        if type(key) is float and -2147483649.0 < key < 2147483648.0:
            return int(key) in self.d
        return normalize_key(key) in self.d

    def keys(self) -> list:
        """The keys as HSL values (int keys as floats), in order."""
        return [float(k) if type(k) is int else k for k in self.d]

    def values(self) -> list:
        """The values in order (a snapshot list; share() them before storing elsewhere)."""
        return list(self.d.values())

    def items(self) -> list:
        """(HSL key, value) pairs in order, as a snapshot list."""
        return [(float(k) if type(k) is int else k, v) for k, v in self.d.items()]

    def next_key(self) -> int:
        """The automatic key the next append would use (normalised int)."""
        m = self.maxkey
        if m is None:
            m = _NOINT
            for k in self.d:
                if type(k) is int and k > m:
                    m = k
            self.maxkey = m
        return 0 if m == _NOINT else m + 1

    def is_list(self) -> bool:
        """True when the keys are exactly 0..n-1 in order."""
        i = 0
        for k in self.d:
            if k != i or type(k) is not int:
                return False
            i += 1
        return True

    # -- mutators -------------------------------------------------------------------
    def set(self, key, value) -> None:
        """Store `value` (already shared by the caller if needed) at HSL key `key`."""
        if self.shared:
            self._own()
        if type(key) is float and -2147483649.0 < key < 2147483648.0:
            k = int(key)
        else:
            k = normalize_key(key)
        self.d[k] = value
        if type(k) is int:
            m = self.maxkey
            if m is not None and k > m:
                self.maxkey = k

    def append(self, value) -> None:
        """Store `value` under the next automatic key."""
        if self.shared:
            self._own()
        m = self.maxkey
        if m is None:
            k = self.next_key()
        else:
            k = 0 if m == _NOINT else m + 1
        if k > _I32_MAX:
            raise ScriptError("array automatic key overflows the 32-bit key range")
        self.d[k] = value
        self.maxkey = k

    def delete(self, key) -> bool:
        """Remove the entry at `key`; True if it existed."""
        k = normalize_key(key)
        if k not in self.d:
            return False
        if self.shared:
            self._own()
        del self.d[k]
        if k == self.maxkey and type(k) is int:
            self.maxkey = None
        return True

    def child_for_write(self, key):
        """The container stored at `key`, ready for a nested write (`$a[k][...] = v`).

        An array is un-shared in place and returned; a missing key or a none/number/boolean
        value is replaced by a new empty array; an object is returned as is (the caller
        writes a property); a string (or function, regex) raises ScriptError."""
        if self.shared:
            self._own()
        if type(key) is float and -2147483649.0 < key < 2147483648.0:
            k = int(key)
        else:
            k = normalize_key(key)
        d = self.d
        v = d.get(k)
        t = type(v)
        if t is HArray:
            if v.shared:
                v._own()
            return v
        if v is None or t is float or t is bool:
            v = HArray()
            d[k] = v
            if type(k) is int:
                m = self.maxkey
                if m is not None and k > m:
                    self.maxkey = k
            return v
        if isinstance(v, HObject) and not isinstance(v, HRegex):
            return v
        raise ScriptError(f"cannot write an element into {a_type_name(v)} (type error)")

    def merge_from(self, other: "HArray") -> None:
        """Merge `other` into this array (5.14 / spread): string keys overwrite or are added,
        int-keyed values are appended under fresh automatic keys.  Values are shared."""
        if len(other.d) > 64:
            reserve_elements(len(other.d) + (len(self.d) if self.shared else 0))
        if self.shared:
            self._own()
        d = self.d
        m = self.maxkey
        if m is None:
            self.next_key()
            m = self.maxkey
        for k, v in other.d.items():
            if type(v) is HArray:
                v = v.share()
            if type(k) is int:
                m = 0 if m == _NOINT else m + 1
                d[m] = v
            else:
                d[k] = v
        if m != _NOINT and m > _I32_MAX:
            raise ScriptError("array automatic key overflows the 32-bit key range")
        self.maxkey = m

    def __repr__(self) -> str:
        return "HArray(%s)" % array_text(self).decode("utf-8", "replace")

    __hash__ = object.__hash__


# ---------------------------------------------------------------------------------------
# Functions, objects, regexes

class HFunction:
    """An HSL function value.  `fn(*args)` implements it, or `fn(bound, *args)` for a bound
    method / closure-with-self (`bound` not None).  `max_args` None means variadic."""

    __slots__ = ("name", "fn", "min_args", "max_args", "bound")

    def __init__(self, name: str, fn, min_args: int = 0, max_args: Optional[int] = None,
                 bound=None):
        self.name = name
        self.fn = fn
        self.min_args = min_args
        self.max_args = max_args
        self.bound = bound

    def __call__(self, *args):
        n = len(args)
        if n < self.min_args or (self.max_args is not None and n > self.max_args):
            raise ScriptError(arity_message(self.name, self.min_args, self.max_args, n))
        if self.bound is None:
            return self.fn(*args)
        return self.fn(self.bound, *args)

    def __eq__(self, other):
        return (type(other) is HFunction and self.fn is other.fn
                and self.bound is other.bound)

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash((id(self.fn), id(self.bound)))

    def __repr__(self):
        return f"HFunction({self.name!r})"


def arity_message(name: str, lo: int, hi: Optional[int], given: int) -> str:
    if hi is None:
        want = f"at least {lo}"
    elif lo == hi:
        want = f"{lo}"
    else:
        want = f"{lo} to {hi}"
    return f"wrong number of arguments for {name}(): expected {want}, got {given}"


class HObject:
    """Base class of every HSL object (user class instances, builtin class instances,
    resources).  Subclasses override the property protocol; names are Python str."""

    __slots__ = ()
    class_name = "object"

    def hsl_getprop(self, name: str):
        raise ScriptError(f"{self.class_name} has no property {name!r}")

    def hsl_setprop(self, name: str, value) -> None:
        raise ScriptError(f"cannot set property {name!r} of {self.class_name}")

    def hsl_delprop(self, name: str) -> bool:
        raise ScriptError(f"cannot unset property {name!r} of {self.class_name}")

    def hsl_str(self) -> bytes:
        """The string form (4.3)."""
        return b"object"


class BuiltinObject(HObject):
    """Base class for builtin classes (see hsl.builtins.registry.builtin_class).  Reading a
    property yields the bound method registered with @method; nothing else is readable."""

    __slots__ = ("__weakref__", "__dict__")
    hsl_methods: dict = {}
    hsl_statics: dict = {}

    def hsl_getprop(self, name: str):
        entry = type(self).hsl_methods.get(name)
        if entry is None:
            raise ScriptError(f"{self.class_name} has no property or method {name!r}")
        fn, lo, hi = entry
        return HFunction(f"{self.class_name}->{name}", fn, lo, hi, self)

    def hsl_snapshot(self):
        """A function that puts the object's state back as it is now: methods that change
        the object call execution.will_mutate(self) first, so that a speculative run can be
        taken back.  This copies the attributes, and dicts, lists and sets one level deep
        (values in them are HSL values, shared copy-on-write); override it for more."""
        saved = {}
        for k, v in self.__dict__.items():
            t = type(v)
            if t is dict:
                v = {key: share(x) for key, x in v.items()}
            elif t is list:
                v = [share(x) for x in v]
            elif t is set:
                v = set(v)
            saved[k] = v

        def restore():
            self.__dict__.clear()
            self.__dict__.update(saved)
        return restore


class HResource(BuiltinObject):
    """Base class of opaque handles returned by builtins (type "resource")."""

    __slots__ = ()

    def hsl_str(self) -> bytes:
        return b"resource"


class HRegex:
    """A compiled regular expression value (`#/pattern/flags`, pcre_compile())."""

    __slots__ = ("pattern", "flags", "compiled")

    def __init__(self, pattern: bytes, flags: str = ""):
        self.pattern = pattern
        self.flags = flags
        self.compiled = compile_pattern(pattern, flags)

    def text(self) -> bytes:
        return b"#/" + self.pattern + b"/" + self.flags.encode("ascii")

    def __eq__(self, other):
        return (type(other) is HRegex and self.pattern == other.pattern
                and self.flags == other.flags)

    def __hash__(self):
        return hash((self.pattern, self.flags))

    def __repr__(self):
        return f"HRegex({self.pattern!r}, {self.flags!r})"


def share(v):
    """The value to store when `v` is transferred to another holder."""
    return v.share() if type(v) is HArray else v


# ---------------------------------------------------------------------------------------
# Conversions

def type_name(v) -> str:
    t = type(v)
    if v is None:
        return "none"
    if t is bool:
        return "boolean"
    if t is float or t is int:
        return "number"
    if t is bytes:
        return "string"
    if t is HArray:
        return "array"
    if t is HFunction:
        return "function"
    if t is HRegex:
        return "regex"
    if isinstance(v, HResource):
        return "resource"
    if isinstance(v, HObject):
        return "object"
    return t.__name__


def a_type_name(v) -> str:
    """type_name(v) with its article: "an array", "a string" (for error messages)."""
    name = type_name(v)
    return ("an " if name[:1] in "aeiou" else "a ") + name


def to_bool(v) -> bool:
    t = type(v)
    if t is bool:
        return v
    if t is float:
        return v != 0.0
    if t is bytes:
        return len(v) > 0
    if v is None:
        return False
    if t is HArray:
        return len(v.d) > 0
    return True


_NUM_RE = re.compile(
    rb"[ \t\n\r\f\v]*([-+]?)(?:0x([0-9a-fA-F]+)|"
    rb"((?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?))[ \t\n\r\f\v]*\Z")


def _str_to_number(s: bytes) -> float:
    if s.isdigit():
        return float(s)
    m = _NUM_RE.match(s)
    if m is None:
        return 0.0
    sign, hexd, dec = m.groups()
    if hexd is not None:
        try:
            x = float(int(hexd, 16))
        except OverflowError:
            x = _INF
    else:
        x = float(dec)
    return -x if sign == b"-" else x


def numeric(v) -> Optional[float]:
    """A number, or a string that reads as one by number()'s rules (4.2) as that number;
    None for anything else (for builtins that take "a number or a numeric string")."""
    if type(v) is float:
        return v
    if type(v) is bytes and (v.isdigit() or _NUM_RE.match(v)):
        return _str_to_number(v)
    return None


def to_number(v) -> float:
    """number(v) (4.2): never fails; arrays/objects/functions give 0."""
    t = type(v)
    if t is float:
        return v
    if t is bytes:
        return _str_to_number(v)
    if t is bool:
        return 1.0 if v else 0.0
    if t is int:
        return float(v)
    return 0.0


def _operand_number(v):
    """An arithmetic or ordering operand as a number (4.2), or None for the types that
    are a type error there (arrays, objects, functions)."""
    t = type(v)
    if t is float:
        return v
    if t is bytes:
        return _str_to_number(v)
    if t is bool:
        return 1.0 if v else 0.0
    if v is None:
        return 0.0
    if t is int:
        return float(v)
    return None


def _arith(v, op: str) -> float:
    """An arithmetic operand as a number; arrays/objects/functions are a type error."""
    n = _operand_number(v)
    if n is None:
        raise ScriptError(f"unsupported operand type {type_name(v)} for {op}")
    return n


def _type_error(op: str, a, b):
    return ScriptError(f"unsupported operand types for {op}: {type_name(a)} and {type_name(b)}")


def format_number(x: float) -> bytes:
    """The string form of a number (4.3), ECMAScript Number.prototype.toString style."""
    if x.is_integer() and -9007199254740992.0 <= x <= 9007199254740992.0:
        return b"%d" % x
    if x != x:
        return b"nan"
    if x == _INF:
        return b"inf"
    if x == -_INF:
        return b"-inf"
    r = repr(x)
    if "e" not in r:                 # 1e-4 <= |x| < 1e16: repr is already the shortest form
        return r.encode("ascii")
    neg = r.startswith("-")
    if neg:
        r = r[1:]
    # split repr into significant digits and decimal exponent n (value = 0.digits * 10**n)
    if "e" in r:
        mant, exp = r.split("e")
        e = int(exp)
    else:
        mant, e = r, 0
    if "." in mant:
        ip, fp = mant.split(".")
    else:
        ip, fp = mant, ""
    digits = (ip + fp).lstrip("0")
    n = len(ip) + e - (len(ip + fp) - len((ip + fp).lstrip("0")))
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        s = digits + "0" * (n - k)
    elif 0 < n <= 21:
        s = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        s = "0." + "0" * (-n) + digits
    else:
        ee = n - 1
        sign = "+" if ee >= 0 else "-"
        s = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + sign + str(abs(ee))
    return ("-" + s if neg else s).encode("ascii")


def _quote(s: bytes) -> bytes:
    if b"\\" in s:
        s = s.replace(b"\\", b"\\\\")
    if b'"' in s:
        s = s.replace(b'"', b'\\"')
    return b'"' + s + b'"'


class _TextOut(list):
    """The parts of an array's text form, with a running check of their size: nested
    arrays that share their data can spell out far more text than they hold."""

    __slots__ = ("size", "checked")

    def __init__(self):
        super().__init__()
        self.size = 0           # bytes in the parts up to `checked`
        self.checked = 0

    def check(self) -> None:
        if len(self) - self.checked > 4096:
            self.size += sum(map(len, self[self.checked:]))
            self.checked = len(self)
            reserve_string(self.size)
            check_deadline()


def _text_parts(a: HArray, out: _TextOut) -> None:
    out.append(b"[")
    first = True
    for k, v in a.d.items():
        if first:
            first = False
        else:
            out.append(b",")
        out.append(b"%d" % k if type(k) is int else _quote(k))
        out.append(b"=>")
        t = type(v)
        if t is bytes:
            out.append(_quote(v))
        elif t is float:
            out.append(format_number(v))
        elif t is HArray:
            _text_parts(v, out)
            out.check()
        else:
            out.append(to_str(v))
    out.append(b"]")


def array_text(a: HArray) -> bytes:
    """The array text form `[0=>1,"k"=>"v"]` (4.3)."""
    out = _TextOut()
    _text_parts(a, out)
    if len(out) > 4096:
        reserve_string(sum(map(len, out)))
    return b"".join(out)


def to_str(v) -> bytes:
    """string(v) (4.3)."""
    t = type(v)
    if t is bytes:
        return v
    if t is float:
        return format_number(v)
    if t is bool:
        return b"true" if v else b"false"
    if v is None:
        return b"none"
    if t is HArray:
        return array_text(v)
    if t is HFunction:
        return b"function"
    if t is HRegex:
        return v.text()
    if t is int:
        return format_number(float(v))
    if isinstance(v, HObject):
        return v.hsl_str()
    raise ScriptError(f"cannot convert a value of type {type_name(v)} to a string")


def to_int32(x: float) -> int:
    """ECMAScript ToInt32 of a number."""
    if -2147483649.0 < x < 2147483648.0:
        return int(x)
    if x != x or x == _INF or x == -_INF:
        return 0
    return ((int(x) + 2147483648) % 4294967296) - 2147483648


# ---------------------------------------------------------------------------------------
# Comparison

def strict_eq(a, b) -> bool:
    """a === b (5.9.2)."""
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is float or ta is bytes or ta is bool or a is None:
        return a == b
    if ta is HArray:
        da, db = a.d, b.d
        if len(da) != len(db):
            return False
        if len(da) > BIG_ARRAY:
            work(len(da) * 50)
        for (ka, va), (kb, vb) in zip(da.items(), db.items()):
            if ka != kb or type(ka) is not type(kb):
                return False
            if va is vb and type(va) is not float:
                continue
            if not strict_eq(va, vb):
                return False
        return True
    if ta is HFunction or ta is HRegex:
        return a == b
    return a is b


def loose_eq(a, b) -> bool:
    """a == b, exactly per the table of 5.9.1."""
    ta = type(a)
    tb = type(b)
    if ta is tb:
        if ta is HArray:
            return strict_eq(a, b)
        if ta is float or ta is bytes or ta is bool or a is None:
            return a == b
        return strict_eq(a, b)
    if a is None or b is None:
        return False
    if ta is bool:
        if tb is float:
            return (1.0 if a else 0.0) == b
        return a is to_bool(b)                      # string, array, object, function
    if ta is float:
        if tb is bool:
            return a == (1.0 if b else 0.0)
        if tb is bytes:
            return a == _str_to_number(b)
        return a == (1.0 if to_bool(b) else 0.0)    # array, object, function
    if ta is bytes:
        if tb is bool:
            return (len(a) > 0) is b
        if tb is float:
            return _str_to_number(a) == b
        return False
    # a is an array, object, function, regex or resource
    if tb is bool:
        return to_bool(a) is b
    if tb is float:
        return (1.0 if to_bool(a) else 0.0) == b
    return False


def _ord_operand(v, op):
    n = _operand_number(v)
    if n is None:
        raise ScriptError(f"cannot compare a value of type {type_name(v)} with {op}")
    return n


def lt(a, b) -> bool:
    ta = type(a)
    if ta is float and type(b) is float:
        return a < b
    if ta is bytes and type(b) is bytes:
        return a < b
    return _ord_operand(a, "<") < _ord_operand(b, "<")


def le(a, b) -> bool:
    ta = type(a)
    if ta is float and type(b) is float:
        return a <= b
    if ta is bytes and type(b) is bytes:
        return a <= b
    return _ord_operand(a, "<=") <= _ord_operand(b, "<=")


def gt(a, b) -> bool:
    ta = type(a)
    if ta is float and type(b) is float:
        return a > b
    if ta is bytes and type(b) is bytes:
        return a > b
    return _ord_operand(a, ">") > _ord_operand(b, ">")


def ge(a, b) -> bool:
    ta = type(a)
    if ta is float and type(b) is float:
        return a >= b
    if ta is bytes and type(b) is bytes:
        return a >= b
    return _ord_operand(a, ">=") >= _ord_operand(b, ">=")


# ---------------------------------------------------------------------------------------
# Arithmetic

def add(a, b):
    if type(a) is float and type(b) is float:
        return a + b
    ta = type(a)
    tb = type(b)
    if ta is HArray:
        r = a._copy()
        if tb is HArray:
            r.merge_from(b)
        else:
            _check_storable(b, "+")
            r.append(b)
        return r
    if tb is HArray:
        _check_storable(a, "+")
        r = HArray.from_list([a])
        r.merge_from(b)
        return r
    return _arith(a, "+") + _arith(b, "+")


def _check_storable(v, op):
    if not (v is None or type(v) in (float, bytes, bool, HFunction, HRegex)
            or isinstance(v, HObject)):
        raise ScriptError(f"unsupported operand type {type_name(v)} for {op}")


def sub(a, b):
    if type(a) is float and type(b) is float:
        return a - b
    ta = type(a)
    if ta is HArray:
        if type(b) is HArray:
            remove = list(b.d.values())
            keep = {k: v for k, v in a.d.items()
                    if not any(strict_eq(v, x) for x in remove)}
        else:
            keep = {k: v for k, v in a.d.items() if not strict_eq(v, b)}
        for k, v in keep.items():
            if type(v) is HArray:
                keep[k] = v.share()
        return HArray.from_dict_normalized(keep)
    if type(b) is HArray:
        raise _type_error("-", a, b)
    return _arith(a, "-") - _arith(b, "-")


def _repeat_count(n) -> int:
    x = n if type(n) is float else (1.0 if n else 0.0)
    if x != x or x <= 0:
        return 0
    if x > 1e12:
        raise ScriptError("repeat count too large")
    return int(x)


def _repeat_bytes(s: bytes, count: int) -> bytes:
    size = len(s) * count
    if size >= ACCOUNT:
        reserve_string(size)
    return s * count


def mul(a, b):
    if type(a) is float and type(b) is float:
        return a * b
    ta = type(a)
    tb = type(b)
    if ta is bytes and (tb is float or tb is bool):
        return _repeat_bytes(a, _repeat_count(b))
    if tb is bytes and (ta is float or ta is bool):
        return _repeat_bytes(b, _repeat_count(a))
    if ta is HArray and (tb is float or tb is bool):
        arr, n = a, b
    elif tb is HArray and (ta is float or ta is bool):
        arr, n = b, a
    else:
        if ta is HArray or tb is HArray:
            raise _type_error("*", a, b)
        return _arith(a, "*") * _arith(b, "*")
    count = _repeat_count(n)
    vals = list(arr.d.values())
    reserve_elements(count * len(vals))
    out = []
    for _ in range(count):
        out.extend(v.share() if type(v) is HArray else v for v in vals)
    return HArray.from_list(out)


def _div(x: float, y: float) -> float:
    if y == 0.0:
        if x == 0.0 or x != x:
            return _NAN
        return math.copysign(_INF, x) * math.copysign(1.0, y)
    return x / y


def div(a, b):
    if type(a) is float and type(b) is float:
        if b != 0.0:
            return a / b
        return _div(a, b)
    return _div(_arith(a, "/"), _arith(b, "/"))


def _fmod(x: float, y: float) -> float:
    try:
        return math.fmod(x, y)
    except ValueError:
        return _NAN


def mod(a, b):
    if type(a) is float and type(b) is float:
        return _fmod(a, b)
    if type(a) is bytes and type(b) is HArray:
        return format_op(a, b)
    if type(a) is HArray or type(b) is HArray:
        raise _type_error("%", a, b)
    return _fmod(_arith(a, "%"), _arith(b, "%"))


def _pow(x: float, y: float) -> float:
    try:
        return math.pow(x, y)
    except OverflowError:
        if x < 0 and y.is_integer() and y % 2 == 1:
            return -_INF
        return _INF
    except ValueError:
        if x == 0.0:            # 0 ** negative
            if y.is_integer() and y % 2 == 1:
                return math.copysign(_INF, x)
            return _INF
        return _NAN


def power(a, b):
    if type(a) is float and type(b) is float:
        return _pow(a, b)
    if type(a) is HArray or type(b) is HArray:
        raise _type_error("**", a, b)
    return _pow(_arith(a, "**"), _arith(b, "**"))


def neg(a):
    if type(a) is float:
        return -a
    return -_arith(a, "unary -")


def pos(a):
    if type(a) is float:
        return a
    return _arith(a, "unary +")


def _i32(v, op) -> int:
    if type(v) is float and -2147483649.0 < v < 2147483648.0:
        return int(v)
    return to_int32(_arith(v, op))


def _wrap32(n: int) -> float:
    n &= 0xFFFFFFFF
    return float(n - 4294967296 if n > 2147483647 else n)


def bit_and(a, b):
    return float(_i32(a, "&") & _i32(b, "&"))


def bit_or(a, b):
    return float(_i32(a, "|") | _i32(b, "|"))


def bit_xor(a, b):
    return float(_i32(a, "^") ^ _i32(b, "^"))


def bit_not(a):
    return float(~_i32(a, "~"))


def shl(a, b):
    return _wrap32(_i32(a, "<<") << (_i32(b, "<<") & 31))


def shr(a, b):
    return float(_i32(a, ">>") >> (_i32(b, ">>") & 31))


def ushr(a, b):
    return float((_i32(a, ">>>") & 0xFFFFFFFF) >> (_i32(b, ">>>") & 31))


def reserve_string(size: int) -> None:
    """Call before building a string of `size` bytes that may be large: past the string
    cap it is a (catchable) "string too large" error; from values.ACCOUNT up the size is
    announced to the run's budgets (execution.reserve), which may stop the run."""
    if size >= ACCOUNT:
        if size > MAX_STRING:
            raise _too_long(size)
        reserve(size + 33)


def reserve_elements(count: int, extra_bytes: int = 0) -> None:
    """Call before building an array of `count` elements (plus `extra_bytes` of new
    strings in it): past MAX_ARRAY elements it is an "array too large" error; a large
    one is announced to the run's budgets first."""
    if count > MAX_ARRAY:
        raise ScriptError(f"array too large ({count} elements; the limit is {MAX_ARRAY})")
    size = count * 100 + extra_bytes
    if size >= ACCOUNT:
        reserve(size)


def _too_long(n: int) -> ScriptError:
    return ScriptError(f"string too large ({n} bytes; the limit is {MAX_STRING})")


def concat(a, b) -> bytes:
    if type(a) is not bytes:
        a = to_str(a)
    if type(b) is not bytes:
        b = to_str(b)
    size = len(a) + len(b)
    if size >= ACCOUNT:
        reserve_string(size)
    return a + b


def interpolate(parts: tuple) -> bytes:
    """A string with interpolations: the concatenation of `parts` (strings already)."""
    size = sum(map(len, parts))
    if size >= ACCOUNT:
        reserve_string(size)
    return b"".join(parts)


def concat_many(parts) -> bytes:
    """The concatenation of the string forms of `parts` (interpolation, `.` chains)."""
    strings = [p if type(p) is bytes else to_str(p) for p in parts]
    size = 0
    for p in strings:
        size += len(p)
    if size >= ACCOUNT:
        reserve_string(size)
    return b"".join(strings)


# ---------------------------------------------------------------------------------------
# String format operator (5.7)

def _fmt_error(msg):
    return ScriptError(f"format error: {msg}")


def format_op(template: bytes, values) -> bytes:
    """`template % values` (5.7)."""
    if type(values) is not HArray:
        raise ScriptError(f"format error: the values must be an array, got {type_name(values)}"
                          " (type error)")
    args = list(values.d.values())
    out = []
    n = len(template)
    i = 0
    nxt = 0
    while True:
        j = template.find(b"%", i)
        if j < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        i = j + 1
        if i >= n:
            raise _fmt_error("incomplete directive at end of template")
        c = template[i]
        if c == 37:                                    # %%
            out.append(b"%")
            i += 1
            continue
        # [index]
        if c == 91:
            k = template.find(b"]", i)
            idx = template[i + 1:k] if k > 0 else b""
            if k < 0 or not idx.isdigit():
                raise _fmt_error("invalid argument index")
            argi = int(idx)
            i = k + 1
        else:
            argi = nxt
        nxt = argi + 1
        fill = b" "
        if i < n and template[i] == 39:                # 'c
            if i + 1 >= n:
                raise _fmt_error("missing fill character")
            fl = _utf8_len(template[i + 1])
            fill = template[i + 1:i + 1 + fl]
            i += 1 + fl
        align = None
        if i < n and template[i] in b"<>^=":
            align = template[i]
            i += 1
        ws = i
        while i < n and 48 <= template[i] <= 57:
            i += 1
        width = int(template[ws:i]) if i > ws else 0
        if width >= ACCOUNT:                           # the padding is built below
            reserve_string(width * len(fill))
        prec = None
        if i < n and template[i] == 46:
            i += 1
            ps = i
            while i < n and 48 <= template[i] <= 57:
                i += 1
            prec = int(template[ps:i]) if i > ps else 0
        if i >= n:
            raise _fmt_error("incomplete directive at end of template")
        ty = template[i]
        i += 1
        if argi >= len(args):
            raise _fmt_error("not enough values for the template")
        v = args[argi]
        numeric = True
        if ty == 115:                                  # s
            text = to_str(v)
            if prec is not None:
                text = text[:prec]
            numeric = False
        elif ty == 102:                                # f
            text = b"%.*f" % (6 if prec is None else prec, to_number(v))
        elif ty == 120 or ty == 98:                    # x b
            x = to_number(v)
            if x != x or x in (_INF, -_INF):
                text = format_number(x)
            else:
                text = format(int(x), "x" if ty == 120 else "b").encode("ascii")
        elif ty == 99:                                 # c
            x = to_number(v)
            code = int(x) if x == x and x not in (_INF, -_INF) else 0
            text = bytes([code & 0xFF])
            numeric = False
        else:
            raise _fmt_error("unknown directive %%%s" % chr(ty))
        if width > len(text):
            pad = width - len(text)
            if align is None:
                align = 62 if numeric else 60
            if align == 60:                            # <
                text = text + fill * pad
            elif align == 62:                          # >
                text = fill * pad + text
            elif align == 94:                          # ^
                left = pad // 2
                text = fill * left + text + fill * (pad - left)
            else:                                      # =
                if text[:1] in (b"-", b"+"):
                    text = text[:1] + fill * pad + text[1:]
                else:
                    text = fill * pad + text
        out.append(text)
    return interpolate(out)


def _utf8_len(lead: int) -> int:
    if lead < 0xC0:
        return 1
    if lead < 0xE0:
        return 2
    if lead < 0xF0:
        return 3
    return 4


# ---------------------------------------------------------------------------------------
# Subscripts and slices

def index_get(container, key):
    """container[key] (5.3.2)."""
    t = type(container)
    if t is HArray:
        if type(key) is float and -2147483649.0 < key < 2147483648.0:
            return container.d.get(int(key))
        return container.d.get(normalize_key(key))
    if t is bytes:
        if type(key) is float and -2147483649.0 < key < 2147483648.0:
            i = int(key)
        else:
            try:
                i = normalize_key(key)
            except ScriptError:
                return None
            if type(i) is not int:
                return None
        if 0 <= i < len(container):
            return container[i:i + 1]
        return None
    if container is None or t is float or t is bool or t is HFunction or t is HRegex:
        return None
    if isinstance(container, HObject):
        return container.hsl_getprop(_prop_name(key))
    raise ScriptError(f"cannot subscript a value of type {type_name(container)}")


def _prop_name(key) -> str:
    return to_str(key).decode("utf-8", "surrogateescape")


def write_container(v):
    """The container to write an element into when a variable holds `v` (5.15): an array
    (unchanged; its mutators un-share it), a new empty array for none/number/boolean, an
    object as is; a string or other value is a type error."""
    t = type(v)
    if t is HArray:
        return v
    if v is None or t is float or t is bool:
        return HArray()
    if isinstance(v, HObject):
        return v
    raise ScriptError(f"cannot write an element into {a_type_name(v)} (type error)")


def index_set(container, key, value):
    """`container[key] = value`; returns the container to store back into the variable
    (a new array when it was none/number/boolean).  `value` must already be shared."""
    t = type(container)
    if t is not HArray:
        container = write_container(container)
        if type(container) is not HArray:
            container.hsl_setprop(_prop_name(key), value)
            return container
    container.set(key, value)
    return container


def index_append(container, value):
    """`container[] = value`; returns the container (see index_set)."""
    if type(container) is not HArray:
        container = write_container(container)
        if type(container) is not HArray:
            raise ScriptError(f"cannot append to {a_type_name(container)} (type error)")
    container.append(value)
    return container


def _slice_bound(v) -> Optional[int]:
    if v is None:
        return None
    x = v if type(v) is float else _arith(v, "slice")
    if x != x:
        return 0
    if x >= 9.2e18:
        return 1 << 62
    if x <= -9.2e18:
        return -(1 << 62)
    return int(x)


def _slice(start, stop, step) -> slice:
    st = _slice_bound(step)
    if st == 0:
        raise ScriptError("slice step cannot be zero")
    return slice(_slice_bound(start), _slice_bound(stop), st)


def slice_get(container, start=None, stop=None, step=None):
    """container[start:stop:step] (5.3.3); omitted bounds are None."""
    sl = _slice(start, stop, step)
    t = type(container)
    if t is bytes:
        return container[sl]
    if t is HArray:
        return HArray.from_list([v.share() if type(v) is HArray else v
                                 for v in list(container.d.values())[sl]])
    if container is None:
        return None
    raise ScriptError(f"cannot slice a value of type {type_name(container)}")


def slice_set(arr, start, stop, values):
    """`arr[start:stop] = values` (5.15): replaces the selected positions by the values of
    the array `values`; the result is renumbered as a list.  Mutates `arr` (an HArray) and
    returns it; a none `arr` gives a new array."""
    if arr is None:
        arr = HArray()
    elif type(arr) is not HArray:
        raise ScriptError(f"cannot assign a slice of {a_type_name(arr)} (type error)")
    if type(values) is not HArray:
        raise ScriptError(f"slice assignment needs an array value, got {type_name(values)}"
                          " (type error)")
    sl = _slice(start, stop, None)
    new = [v.share() if type(v) is HArray else v for v in values.d.values()]
    if arr.shared:
        arr._own()
    lst = list(arr.d.values())
    lst[sl] = new
    arr.d = dict(enumerate(lst))
    arr.maxkey = len(lst) - 1 if lst else _NOINT
    return arr


def slice_delete(arr, start=None, stop=None, step=None) -> bool:
    """`unset(arr[start:stop:step])`: removes the selected entries without renumbering."""
    if type(arr) is not HArray:
        return False
    sl = _slice(start, stop, step)
    keys = list(arr.d)[sl]
    if not keys:
        return False
    if arr.shared:
        arr._own()
    d = arr.d
    for k in keys:
        del d[k]
    arr.maxkey = None
    return True


def spread_values(v) -> list:
    """The values of array `v` for `...v` in calls (shared, ready to transfer)."""
    if type(v) is not HArray:
        raise ScriptError(f"cannot spread a value of type {type_name(v)} (type error)")
    if len(v.d) > 64:
        reserve_elements(len(v.d))
    return [x.share() if type(x) is HArray else x for x in v.d.values()]


def array_spread(target: HArray, v) -> None:
    """`[..., ...v]` in an array literal: merge `v` into `target` (5.2.4)."""
    if type(v) is not HArray:
        raise ScriptError(f"cannot spread a value of type {type_name(v)} (type error)")
    target.merge_from(v)


# ---------------------------------------------------------------------------------------
# Python interop

def from_python(obj):
    """Convert a plain Python value to an HSL value (recursively)."""
    t = type(obj)
    if obj is None or t is bool or t is float or t is bytes:
        return obj
    if t is str:
        return obj.encode("utf-8", "surrogateescape")
    if t is int:
        return float(obj)
    if t is list or t is tuple:
        return HArray.from_list([from_python(x) for x in obj])
    if t is dict:
        a = HArray()
        for k, v in obj.items():
            a.set(from_python(k), from_python(v))
        return a
    if t is HArray or t is HFunction or t is HRegex or isinstance(obj, HObject):
        return obj
    if isinstance(obj, (bytearray, memoryview)):
        return bytes(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, int):
        return float(obj)
    if isinstance(obj, str):
        return str(obj).encode("utf-8", "surrogateescape")
    raise TypeError(f"cannot convert {t.__name__} to an HSL value")


def to_python(v):
    """Convert an HSL value to plain Python (for tests, JSON-ish uses)."""
    t = type(v)
    if t is bytes:
        return v.decode("utf-8", "surrogateescape")
    if t is float:
        return int(v) if v.is_integer() else v
    if v is None or t is bool:
        return v
    if t is HArray:
        if v.is_list():
            return [to_python(x) for x in v.d.values()]
        return {(k if type(k) is int else k.decode("utf-8", "surrogateescape")): to_python(x)
                for k, x in v.d.items()}
    return to_str(v).decode("utf-8", "surrogateescape")
