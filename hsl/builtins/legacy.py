"""Functions of older HSL generations that real HSL still runs.

builtins.md says `count`, `in_array`, `strlen`, `substr`, `strtolower` and `explode` do not
exist any more, but Halon's own current modules call them and their tests run them:
halon-extras/dmarc (June 2026: `count`, `in_array`, exercised by its tests/
dnswalkdomains.hsl), halon-extras/tracking (`substr`, `strlen`, `strtolower`),
halon-extras/bimi (`count`, `strlen`) and halon-extras/mta-sts (`explode`).  So hsl runs
them too, with the meaning those calls rely on (PHP's), each as the current function that
does the same; `hsl check` warns about every call (HSL702) and names that function.  The
other names of hsl.check.legacy have no such evidence and stay undefined (HSL701).
"""
from __future__ import annotations

from . import arrays, strings
from ._args import type_error
from .registry import builtin
from ..runtime.values import HArray

AREA = "legacy"


@builtin(area=AREA)
def count(array):
    """The number of elements of `array` (older HSL; now length())."""
    if type(array) is not HArray:
        raise type_error("count", 1, "an array", array)
    return float(len(array))


@builtin(area=AREA)
def in_array(needle, array):
    """Whether `array` holds a value strictly equal to `needle` (older HSL; now
    array_includes())."""
    if type(array) is not HArray:
        raise type_error("in_array", 2, "an array", array)
    return arrays.array_includes(needle, array)


@builtin(area=AREA)
def strlen(string):
    """The length of `string` in bytes (older HSL; now length())."""
    if type(string) is not bytes:
        raise type_error("strlen", 1, "a string", string)
    return float(len(string))


@builtin(area=AREA)
def substr(string, offset, length=None):
    """The part of `string` from `offset`, `length` bytes long, with PHP's rules for
    negative numbers (older HSL; now str_slice())."""
    return strings.str_slice(string, offset, length)


@builtin(area=AREA)
def strtolower(string):
    """`string` in lower case, as str_lower() makes it (older HSL; now str_lower())."""
    return strings.str_lower(string)


@builtin(area=AREA)
def explode(delimiter, string, limit=0.0):
    """The pieces of `string` between occurrences of `delimiter`, PHP's argument order
    (older HSL; now str_split($string, $delimiter, $limit))."""
    return strings.str_split(string, delimiter, limit)
