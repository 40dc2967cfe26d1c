"""Array functions (builtins.md "Arrays").

Every function returns a new HArray and never modifies its arguments; values taken from an
input array are passed through share() before being stored elsewhere or handed to a
callback (copy-on-write, language 3.8).
"""
from __future__ import annotations

import math
from itertools import islice
from operator import itemgetter

from ..errors import ScriptError
from ..runtime import sources as _sources
from ..runtime.values import HArray, HFunction, lt, normalize_key, share, strict_eq, to_bool, to_str
from ._args import opt_bool, type_error
from ._limits import (ACCOUNT, CHUNK, MANY, check_deadline, list_array, paced_map, pieces,
                      ranges, reserve_elements, reserve_string, sort_paced, work)
from .registry import builtin

AREA = "arrays"

_MISSING = object()          # "optional argument not passed" (none is a valid value)
_MAX_ENTRIES = 2147483647    # keys are 32-bit; more entries than that cannot be keyed


def _wrap(d: dict) -> HArray:
    return HArray.from_dict_normalized(d)


def _renumber(pairs) -> dict:
    """Entries in the given order with integer keys renumbered 0, 1, ... and string keys
    kept (array_reverse, array_shuffle)."""
    out = {}
    i = 0
    for part in pieces(pairs):
        for k, v in part:
            if type(v) is HArray:
                v = v.share()
            if type(k) is int:
                out[i] = v
                i += 1
            else:
                out[k] = v
    return out


@builtin(area=AREA)
def array_combine(keys, values, default_value=None):
    """An array keyed by the values of `keys` holding the values of `values` at the same
    positions; missing values get `default_value`, surplus values are ignored."""
    if type(keys) is not HArray:
        raise type_error("array_combine", 1, "an array", keys)
    if type(values) is not HArray:
        raise type_error("array_combine", 2, "an array", values)
    vals = list(values.d.values())
    n = len(vals)
    if len(keys.d) >= MANY:
        reserve_elements(len(keys.d))
    out = {}
    i = 0
    for part in pieces(list(keys.d.values())):
        for k in part:
            v = vals[i] if i < n else default_value
            out[normalize_key(k)] = v.share() if type(v) is HArray else v
            i += 1
    return _wrap(out)


@builtin(area=AREA)
def array_every(callback, array):
    """True if callback(value) is truthy for every value (stops at the first falsy)."""
    if type(callback) is not HFunction:
        raise type_error("array_every", 1, "a function", callback)
    if type(array) is not HArray:
        raise type_error("array_every", 2, "an array", array)
    for part in pieces(list(array.d.values())):
        for v in part:
            r = callback(v.share() if type(v) is HArray else v)
            if not (r if type(r) is bool else to_bool(r)):
                return False
    return True


@builtin(area=AREA)
def array_filter(callback, array):
    """The entries for which callback(value) is truthy, keys kept."""
    if type(callback) is not HFunction:
        raise type_error("array_filter", 1, "a function", callback)
    if type(array) is not HArray:
        raise type_error("array_filter", 2, "an array", array)
    if len(array.d) >= MANY:
        reserve_elements(len(array.d))          # at most all of them
    out = {}
    for part in pieces(list(array.d.items())):
        for k, v in part:
            if type(v) is HArray:
                r = callback(v.share())
                if r if type(r) is bool else to_bool(r):
                    out[k] = v.share()
            else:
                r = callback(v)
                if r if type(r) is bool else to_bool(r):
                    out[k] = v
    return _wrap(out)


@builtin(area=AREA)
def array_find(callback, array):
    """The first value for which callback(value) is truthy, or none."""
    if type(callback) is not HFunction:
        raise type_error("array_find", 1, "a function", callback)
    if type(array) is not HArray:
        raise type_error("array_find", 2, "an array", array)
    for part in pieces(list(array.d.values())):
        for v in part:
            if type(v) is HArray:
                v = v.share()
            r = callback(v)
            if r if type(r) is bool else to_bool(r):
                return v
    return None


@builtin(area=AREA)
def array_includes(needle, array):
    """True if some value is strictly equal to `needle`, or, when `needle` is a function,
    if needle(value) is truthy for some value."""
    if type(array) is not HArray:
        raise type_error("array_includes", 2, "an array", array)
    d = array.d
    if len(d) <= CHUNK and type(needle) is not HFunction:
        return _includes(needle, d.values())
    return any(_includes(needle, part) for part in pieces(list(d.values())))


def _includes(needle, values) -> bool:
    t = type(needle)
    if t is bytes or t is float:
        for v in values:
            if v == needle and type(v) is t:
                return True
        return False
    if needle is None:
        for v in values:
            if v is None:
                return True
        return False
    if t is bool:
        for v in values:
            if v is needle:
                return True
        return False
    if t is HFunction:
        for v in values:
            r = needle(v.share() if type(v) is HArray else v)
            if r if type(r) is bool else to_bool(r):
                return True
        return False
    for v in values:
        if strict_eq(v, needle):
            return True
    return False


@builtin(area=AREA)
def array_join(array, separator=b""):
    """The string forms of the values joined by `separator` (default "")."""
    if type(array) is not HArray:
        raise type_error("array_join", 1, "an array", array)
    if type(separator) is not bytes:
        raise type_error("array_join", 2, "a string", separator)
    d = array.d
    if len(d) <= CHUNK:
        strings = [v if type(v) is bytes else to_str(v) for v in d.values()]
    else:
        strings = paced_map(_string_form, list(d.values()))
    size = sum(map(len, strings)) + len(separator) * (len(strings) - 1)
    if size >= ACCOUNT:
        reserve_string(size)
    return separator.join(strings)


def _string_form(v) -> bytes:
    return v if type(v) is bytes else to_str(v)


@builtin(area=AREA)
def array_keys(array):
    """The keys as a list (integer keys as numbers, string keys as strings)."""
    if type(array) is not HArray:
        raise type_error("array_keys", 1, "an array", array)
    d = array.d
    if len(d) < MANY:
        return HArray.from_list([float(k) if type(k) is int else k for k in d])
    reserve_elements(len(d))
    keys = []
    for part in pieces(list(d)):
        keys.extend([float(k) if type(k) is int else k for k in part])
    return list_array(keys)


@builtin(area=AREA)
def array_map(callback, array):
    """Same keys, each value replaced by callback(value)."""
    if type(callback) is not HFunction:
        raise type_error("array_map", 1, "a function", callback)
    if type(array) is not HArray:
        raise type_error("array_map", 2, "an array", array)
    if len(array.d) >= MANY:
        reserve_elements(len(array.d))
    out = {}
    for part in pieces(list(array.d.items())):
        for k, v in part:
            out[k] = callback(v.share() if type(v) is HArray else v)
    return _wrap(out)


@builtin(area=AREA)
def array_random(array):
    """A random entry as [key, value], or none for an empty array."""
    if type(array) is not HArray:
        raise type_error("array_random", 1, "an array", array)
    d = array.d
    if not d:
        return None
    i = _sources.rng.randrange(len(d))
    if i > ACCOUNT:
        work(i)
    k = next(islice(d, i, None))
    v = d[k]
    return HArray.from_list([float(k) if type(k) is int else k,
                             v.share() if type(v) is HArray else v])


@builtin(area=AREA)
def array_range(start, stop, step=1.0):
    """The numbers from `start` (inclusive) to `stop` (exclusive) in steps of `step`."""
    if type(start) is not float:
        raise type_error("array_range", 1, "a number", start)
    if type(stop) is not float:
        raise type_error("array_range", 2, "a number", stop)
    if type(step) is not float:
        raise type_error("array_range", 3, "a number", step)
    if step == 0.0:
        raise ScriptError("array_range() step cannot be zero")
    if start.is_integer() and stop.is_integer() and step.is_integer():
        r = range(int(start), int(stop), int(step))
        try:
            size = len(r)
        except OverflowError:               # more than sys.maxsize numbers
            size = _MAX_ENTRIES + 1
        if size > _MAX_ENTRIES:
            raise ScriptError("array_range() range too large")
        if size < MANY:
            return HArray.from_list(list(map(float, r)))
        reserve_elements(size)
        values = []
        for part in ranges(r.start, r.stop, r.step):
            values.extend(map(float, part))
        return list_array(values)
    span = (stop - start) / step
    if span != span:
        raise ScriptError("array_range() expects finite numbers")
    if span <= 0:
        return HArray()
    if span > _MAX_ENTRIES:
        raise ScriptError("array_range() range too large")
    n = math.ceil(span)
    if n >= MANY:
        reserve_elements(n)
    values = []
    for part in ranges(0, n):
        values.extend([start + i * step for i in part])
    return list_array(values)


@builtin(area=AREA)
def array_reduce(callback, array, initial=_MISSING):
    """Left fold: carry = callback(carry, value), starting with `initial` or, without it,
    with the first value (an empty array without `initial` is an error)."""
    if type(callback) is not HFunction:
        raise type_error("array_reduce", 1, "a function", callback)
    if type(array) is not HArray:
        raise type_error("array_reduce", 2, "an array", array)
    vals = list(array.d.values())
    if initial is _MISSING:
        if not vals:
            raise ScriptError("array_reduce() of an empty array with no initial value")
        carry = vals[0]
        if type(carry) is HArray:
            carry = carry.share()
        vals = vals[1:]
    else:
        carry = initial
    for part in pieces(vals):
        for v in part:
            carry = callback(carry, v.share() if type(v) is HArray else v)
    return carry


@builtin(area=AREA)
def array_reverse(array):
    """The entries in reverse order; integer keys renumbered 0, 1, ..., string keys kept."""
    if type(array) is not HArray:
        raise type_error("array_reverse", 1, "an array", array)
    d = array.d
    if len(d) >= MANY:
        reserve_elements(len(d))
    if bytes not in set(map(type, d)):          # integer keys only: a renumbered list
        vals = list(d.values())
        vals.reverse()
        if HArray in set(map(type, vals)):
            vals = paced_map(share, vals)
        return list_array(vals)
    items = list(d.items())
    items.reverse()
    return _wrap(_renumber(items))


class _ByCallback:
    """Sort key whose `<` calls the HSL less-than predicate (list.sort uses only `<`)."""
    __slots__ = ("v", "cb")

    def __init__(self, v, cb):
        self.v = v
        self.cb = cb

    def __lt__(self, other):
        r = self.cb(self.v, other.v)
        return r if type(r) is bool else to_bool(r)


class _Default:
    """Sort key ordering by the language's `<` (5.9.3)."""
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    def __lt__(self, other):
        return lt(self.v, other.v)


@builtin(area=AREA)
def array_sort(callback, array, options=None):
    """A sorted copy keeping each value's key.  `callback(a, b)` returns truthy when `a`
    sorts before `b`; none uses the language's `<` (5.9.3).  Option `keys` (boolean):
    order by key (the callback receives keys).  The sort is stable (merge sort), which the
    specification allows but does not promise."""
    if callback is not None and type(callback) is not HFunction:
        raise type_error("array_sort", 1, "a function", callback)
    if type(array) is not HArray:
        raise type_error("array_sort", 2, "an array", array)
    by_keys = False
    if options is not None:
        if type(options) is not HArray:
            raise type_error("array_sort", 3, "an array", options)
        by_keys = opt_bool("array_sort", options, b"keys", False)
    if len(array.d) >= MANY:
        # The (key, value) pairs, their sort keys and the result: about three arrays' worth.
        reserve_elements(3 * len(array.d))
    items = list(array.d.items())
    if len(items) > 1:
        if by_keys:
            if callback is None:
                key = lambda kv: _Default(float(kv[0]) if type(kv[0]) is int else kv[0])
            else:
                key = lambda kv: _ByCallback(float(kv[0]) if type(kv[0]) is int else kv[0],
                                             callback)
        elif callback is None:
            types = set(map(type, array.d.values()))
            if types == {bytes} or (types == {float} and
                                    not any(map(math.isnan, array.d.values()))):
                key = _SECOND                   # same order as lt, much faster
            else:
                key = lambda kv: _Default(kv[1])
        else:
            key = lambda kv: _ByCallback(kv[1].share() if type(kv[1]) is HArray else kv[1],
                                         callback)
        items = sort_paced(items, key)
    out = {}
    for part in pieces(items):
        for k, v in part:
            out[k] = v.share() if type(v) is HArray else v
    return _wrap(out)


_SECOND = itemgetter(1)


@builtin(area=AREA)
def array_shuffle(array):
    """The entries in random order; integer keys renumbered, string keys kept."""
    if type(array) is not HArray:
        raise type_error("array_shuffle", 1, "an array", array)
    items = list(array.d.items())
    if len(items) >= MANY:
        reserve_elements(len(items))
    randbelow = _sources.rng._randbelow
    for r in ranges(len(items) - 1, 0, -1):     # Fisher-Yates, as random.shuffle
        for i in r:
            j = randbelow(i + 1)
            items[i], items[j] = items[j], items[i]
    return _wrap(_renumber(items))


@builtin(area=AREA)
def array_unique(array):
    """The entries whose value is not strictly equal (===) to an earlier value; the first
    occurrence keeps its key."""
    if type(array) is not HArray:
        raise type_error("array_unique", 1, "an array", array)
    if len(array.d) >= MANY:
        reserve_elements(len(array.d))          # at most all of them
    seen = set()
    others = []               # arrays, objects, functions kept so far
    compared = 0              # comparisons with `others` since the last look at the clock
    out = {}
    for part in pieces(list(array.d.items())):
        for k, v in part:
            t = type(v)
            if t is float or t is bytes or t is bool or v is None:
                if v != v:        # NaN is never === anything
                    out[k] = v
                    continue
                tag = (t, v)
                if tag in seen:
                    continue
                seen.add(tag)
                out[k] = v
            else:
                compared += len(others)
                if compared > CHUNK:
                    check_deadline()
                    compared = 0
                for o in others:
                    if strict_eq(o, v):
                        break
                else:
                    others.append(v)
                    out[k] = v.share() if t is HArray else v
    return _wrap(out)
