"""Mathematics (builtins.md "Mathematics"): abs ceil floor log pow round sqrt.
Arguments must be numbers; results are always floats (IEEE semantics: no exceptions for
infinities, NaN, logarithms of non-positive numbers or square roots of negative ones)."""
from __future__ import annotations

import math as _m

from ..runtime.values import power as _power
from ._args import integer, type_error
from .registry import builtin

AREA = "math"

_INF = float("inf")
_NAN = float("nan")
_isfinite = _m.isfinite


@builtin(area=AREA)
def abs_(number):
    """Absolute value."""
    if type(number) is not float:
        raise type_error("abs", 1, "a number", number)
    return abs(number)


@builtin(area=AREA)
def ceil(number):
    """Smallest integral value not less than the argument."""
    if type(number) is not float:
        raise type_error("ceil", 1, "a number", number)
    if _isfinite(number):
        return float(_m.ceil(number))
    return number


@builtin(area=AREA)
def floor(number):
    """Largest integral value not greater than the argument."""
    if type(number) is not float:
        raise type_error("floor", 1, "a number", number)
    if _isfinite(number):
        return float(_m.floor(number))
    return number


def _ln(x: float) -> float:
    if x > 0.0:
        return _m.log(x)           # inf for inf
    if x == 0.0:
        return -_INF
    return _NAN                    # negative or NaN


def _ieee_div(a: float, b: float) -> float:
    if b != 0.0:
        return a / b
    if a != a or a == 0.0:
        return _NAN
    return _m.copysign(_INF, a) * _m.copysign(1.0, b)


@builtin(area=AREA)
def log(number, base=None):
    """Logarithm of `number` to `base` (default e); log(0) is -inf, negative input nan."""
    if type(number) is not float:
        raise type_error("log", 1, "a number", number)
    if base is None:
        return _ln(number)
    if type(base) is not float:
        raise type_error("log", 2, "a number", base)
    if number > 0.0 and number != _INF:
        if base == 10.0:
            return _m.log10(number)
        if base == 2.0:
            return _m.log2(number)
    return _ieee_div(_ln(number), _ln(base))


@builtin(area=AREA)
def pow_(base, exponent):
    """`base` raised to `exponent` (same as `**`)."""
    if type(base) is not float:
        raise type_error("pow", 1, "a number", base)
    if type(exponent) is not float:
        raise type_error("pow", 2, "a number", exponent)
    return _power(base, exponent)


def _cround(x: float) -> float:
    """C round(): to the nearest integer, halves away from zero (x finite)."""
    t = float(int(x))
    if abs(x - t) >= 0.5:
        t += 1.0 if x > 0 else -1.0
    return t if t != 0.0 else _m.copysign(0.0, x)


@builtin(area=AREA)
def round_(number, decimals=0.0):
    """Rounds to `decimals` decimal places, halves away from zero; for decimals != 0
    computed as round(x * 10^d) / 10^d (negative decimals round to tens, hundreds, ...)."""
    if type(number) is not float:
        raise type_error("round", 1, "a number", number)
    if type(decimals) is not float:
        raise type_error("round", 2, "a number", decimals)
    if not _isfinite(number):
        return number
    if decimals == 0.0:
        return _cround(number)
    d = integer("round", 2, decimals) if not -400.0 < decimals < 400.0 else int(decimals)
    if d == 0:
        return _cround(number)
    if d > 0:
        if d > 330:
            return number
        f = 10.0 ** d
        scaled = number * f
        if not _isfinite(scaled):
            return number
        return _cround(scaled) / f
    if d < -330:
        return _m.copysign(0.0, number)
    f = 10.0 ** -d
    return _cround(number / f) * f


@builtin(area=AREA)
def sqrt(number):
    """Square root; negative input gives nan."""
    if type(number) is not float:
        raise type_error("sqrt", 1, "a number", number)
    if number >= 0.0:
        return _m.sqrt(number)
    return _NAN
