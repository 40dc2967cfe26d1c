"""Mathematics builtins (builtins.md "Mathematics"; C math library semantics)."""
import math

import pytest

from hsl.builtins import FUNCTIONS, load_all
from hsl.errors import ScriptError

load_all()
INF = math.inf
NAN = math.nan


def call(name, *args):
    return FUNCTIONS[name].fn(*args)


def same(a, b):
    assert type(a) is float
    if math.isnan(b):
        return math.isnan(a)
    return a == b


@pytest.mark.parametrize("name, args, pos", [
    ("abs", (b"-1",), 1), ("ceil", (None,), 1), ("floor", (True,), 1), ("log", (b"1",), 1),
    ("log", (8.0, b"2"), 2), ("pow", (b"2", 2.0), 1), ("pow", (2.0, None), 2),
    ("round", (b"1.5",), 1), ("round", (1.5, b"1"), 2), ("sqrt", (b"4",), 1),
])
def test_type_errors(name, args, pos):
    with pytest.raises(ScriptError) as e:
        call(name, *args)
    assert name + "()" in e.value.message and "type" in e.value.message \
        and f"argument {pos}" in e.value.message


@pytest.mark.parametrize("name, args, expected", [
    ("abs", (-3.0,), 3.0), ("abs", (3.5,), 3.5), ("abs", (-0.0,), 0.0), ("abs", (-INF,), INF),
    ("abs", (NAN,), NAN),
    ("ceil", (1.2,), 2.0), ("ceil", (-1.2,), -1.0), ("ceil", (2.0,), 2.0), ("ceil", (INF,), INF),
    ("ceil", (-INF,), -INF), ("ceil", (NAN,), NAN), ("ceil", (1e300,), 1e300),
    ("floor", (-1.5,), -2.0), ("floor", (1.5,), 1.0), ("floor", (-2.0,), -2.0),
    ("floor", (INF,), INF), ("floor", (NAN,), NAN), ("floor", (0.9999999999999999,), 0.0),
    ("log", (math.e,), 1.0), ("log", (1.0,), 0.0), ("log", (8.0, 2.0), 3.0),
    ("log", (1000.0, 10.0), 3.0), ("log", (1e-3, 10.0), -3.0), ("log", (81.0, 3.0), 4.0),
    ("log", (0.0,), -INF), ("log", (-1.0,), NAN), ("log", (INF,), INF), ("log", (NAN,), NAN),
    ("log", (0.0, 10.0), -INF), ("log", (-1.0, 10.0), NAN), ("log", (2.0, 1.0), INF),
    ("log", (1.0, 1.0), NAN),
    ("pow", (2.0, 10.0), 1024.0), ("pow", (2.0, -1.0), 0.5), ("pow", (2.0, 0.5), math.sqrt(2)),
    ("pow", (0.0, 0.0), 1.0), ("pow", (0.0, -1.0), INF), ("pow", (-8.0, 1.0 / 3.0), NAN),
    ("pow", (10.0, 400.0), INF), ("pow", (-2.0, 3.0), -8.0), ("pow", (NAN, 0.0), 1.0),
    ("sqrt", (16.0,), 4.0), ("sqrt", (2.0,), 1.4142135623730951), ("sqrt", (0.0,), 0.0),
    ("sqrt", (-1.0,), NAN), ("sqrt", (INF,), INF), ("sqrt", (NAN,), NAN),
])
def test_values(name, args, expected):
    assert same(call(name, *args), expected), (name, args)


@pytest.mark.parametrize("args, expected", [
    # C round(): halves away from zero
    ((2.5,), 3.0), ((-2.5,), -3.0), ((0.5,), 1.0), ((-0.5,), -1.0), ((1.4999999,), 1.0),
    ((0.49999999999999994,), 0.0), ((4503599627370497.0,), 4503599627370497.0),
    ((1.5,), 2.0), ((3.0,), 3.0), ((INF,), INF), ((NAN,), NAN),
    # decimals: round(x * 10^d) / 10^d
    ((1.2345, 2.0), 1.23), ((1.235, 1.0), 1.2), ((1.25, 1.0), 1.3), ((-1.25, 1.0), -1.3),
    ((2.5, 0.0), 3.0), ((1234.5, -2.0), 1200.0), ((1250.0, -2.0), 1300.0),
    ((-1250.0, -2.0), -1300.0), ((1.5, 2.9), 1.5), ((1e300, 20.0), 1e300),
    ((123.0, -5.0), 0.0),
])
def test_round(args, expected):
    assert same(call("round", *args), expected), args


def test_results_are_floats():
    for name, args in [("ceil", (1.5,)), ("floor", (1.5,)), ("round", (1.5,)),
                       ("abs", (-1.0,)), ("pow", (2.0, 2.0))]:
        assert type(call(name, *args)) is float


def test_pow_same_as_operator():
    from hsl.runtime.values import power
    for a, b in [(2.0, 3.0), (-2.0, 0.5), (0.0, -2.0), (-0.0, -3.0), (1.0, NAN)]:
        assert same(call("pow", a, b), power(a, b))
