"""Types and data builtins (builtins.md "Types and data"; language.md 4.1-4.3)."""
import math

import pytest

from hsl.builtins import FUNCTIONS, load_all
from hsl.runtime.values import HFunction, HRegex, HResource, from_python as P

load_all()


def call(name, *args):
    return FUNCTIONS[name].fn(*args)


def test_registered_with_arity():
    for name in ["length", "boolean", "number", "string", "is_array", "is_boolean",
                 "is_function", "is_number", "is_object", "is_string"]:
        b = FUNCTIONS[name]
        assert (b.min_args, b.max_args, b.area) == (1, 1, "types"), name
    # language constructs, not functions
    for name in ["array", "isset", "unset"]:
        assert name not in FUNCTIONS or FUNCTIONS[name].area != "types"


@pytest.mark.parametrize("value, expected", [
    (b"", 0.0), (b"abc", 3.0), ("é".encode(), 2.0), (b"\x00\x00", 2.0),
    (P([]), 0.0), (P([1, 2]), 2.0), (P({"a": 1, "b": [1, 2, 3]}), 2.0),
    (None, None), (1.0, None), (True, None), (HFunction("f", lambda: None, 0, 0), None),
])
def test_length(value, expected):
    r = call("length", value)
    assert r == expected and type(r) is type(expected)


@pytest.mark.parametrize("value, expected", [
    (b"0", True), (b"false", True), (b"", False), (P([]), False), (P([0]), True),
    (None, False), (0.0, False), (-0.0, False), (2.0, True), (math.nan, True),
    (True, True), (False, False), (HFunction("f", lambda: None, 0, 0), True),
])
def test_boolean(value, expected):
    assert call("boolean", value) is expected


@pytest.mark.parametrize("value, expected", [
    (b"12", 12.0), (b"-3.5", -3.5), (b"0x1f", 31.0), (b"12abc", 0.0), (b"abc", 0.0),
    (b"", 0.0), (b" 7 ", 7.0), (b"1e3", 1000.0), (b"inf", 0.0), (b"0b11", 0.0),
    (True, 1.0), (False, 0.0), (None, 0.0), (P([1]), 0.0), (4.5, 4.5),
])
def test_number(value, expected):
    r = call("number", value)
    assert r == expected and type(r) is float


@pytest.mark.parametrize("value, expected", [
    (2.5, b"2.5"), (1.0, b"1"), (-0.0, b"0"), (1e15, b"1000000000000000"),
    (0.1 + 0.2, b"0.30000000000000004"), (1e21, b"1e+21"), (1e-7, b"1e-7"),
    (math.inf, b"inf"), (-math.inf, b"-inf"), (math.nan, b"nan"),
    (True, b"true"), (False, b"false"), (None, b"none"), (b"x\x00y", b"x\x00y"),
    (P([1, 2]), b"[0=>1,1=>2]"), (P({"a": "x", "b": [True]}), b'["a"=>"x","b"=>[0=>true]]'),
    (P([]), b"[]"), (HFunction("f", lambda: None, 0, 0), b"function"),
])
def test_string(value, expected):
    assert call("string", value) == expected


class _Res(HResource):
    pass


def _values():
    from hsl.builtins.exception import ExceptionObject
    exc = ExceptionObject(b"m")
    return {
        "none": None, "true": True, "zero": 0.0, "one_str": b"1", "empty_str": b"",
        "array": P([1]), "function": HFunction("f", lambda: None, 0, 0), "object": exc,
        "resource": _Res(), "regex": HRegex(b"a"),
    }


@pytest.mark.parametrize("fname, truthy", [
    ("is_array", {"array"}),
    ("is_boolean", {"true"}),
    ("is_function", {"function"}),
    ("is_number", {"zero"}),
    ("is_object", {"object"}),
    ("is_string", {"one_str", "empty_str"}),
])
def test_predicates(fname, truthy):
    for name, v in _values().items():
        assert call(fname, v) is (name in truthy), (fname, name)


def test_is_boolean_not_for_numbers():
    assert call("is_boolean", 1.0) is False and call("is_boolean", False) is True


def test_string_of_number_is_not_a_number():
    assert call("is_number", b"12") is False
    assert call("is_string", 12.0) is False
