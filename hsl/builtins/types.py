"""Types and data: length, the conversion functions and the is_* predicates
(builtins.md "Types and data").  `array`, `isset` and `unset` are language constructs
handled by the compiler, not functions."""
from __future__ import annotations

from ..runtime.values import HArray, HFunction, HObject, HResource, to_bool, to_number, to_str
from .registry import builtin

AREA = "types"


@builtin(area=AREA)
def length(value):
    """Number of entries of an array or number of bytes of a string; none otherwise."""
    t = type(value)
    if t is bytes:
        return float(len(value))
    if t is HArray:
        return float(len(value.d))
    return None


@builtin(area=AREA)
def boolean(value):
    """Truthiness (language 4.1)."""
    return to_bool(value)


@builtin(area=AREA)
def number(value):
    """Conversion to a number (language 4.2); never fails."""
    return value if type(value) is float else to_number(value)


@builtin(area=AREA)
def string(value):
    """The string form (language 4.3)."""
    return value if type(value) is bytes else to_str(value)


@builtin(area=AREA)
def is_array(value):
    return type(value) is HArray


@builtin(area=AREA)
def is_boolean(value):
    return type(value) is bool


@builtin(area=AREA)
def is_function(value):
    """True for every function value (anonymous functions, closures, named function
    pointers, class references, bound methods, builtin callables)."""
    return type(value) is HFunction


@builtin(area=AREA)
def is_number(value):
    return type(value) is float


@builtin(area=AREA)
def is_object(value):
    """True for instances of user and builtin classes; false for resources (HResource,
    which iterators also are) and Regex values (builtins.md: UNSPECIFIED, SHOULD be false)."""
    return isinstance(value, HObject) and not isinstance(value, HResource)


@builtin(area=AREA)
def is_string(value):
    return type(value) is bytes
