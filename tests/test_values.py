"""Unit tests for hsl.runtime.values: representation, conversions and operator semantics
(language spec sections 3, 4 and 5)."""
import math

import pytest
from hypothesis import given, settings, strategies as st

from hsl.errors import ScriptError
from hsl.runtime.values import (HArray, HFunction, HObject, BuiltinObject, HResource, HRegex,
                                normalize_key, key_value, share, to_bool, to_number, to_str,
                                to_int32, format_number, array_text, type_name, loose_eq,
                                strict_eq, lt, le, gt, ge, add, sub, mul, div, mod, power, neg,
                                pos, bit_and, bit_or, bit_xor, bit_not, shl, shr, ushr, concat,
                                concat_many, format_op, index_get, index_set, index_append,
                                write_container, slice_get, slice_set, slice_delete, spread_values,
                                array_spread, from_python, to_python)

INF = float("inf")
NAN = float("nan")


def A(*values):
    return HArray.from_list([from_python(v) for v in values])


def P(obj):
    return from_python(obj)


def text(v):
    return to_str(v).decode()


class Obj(HObject):
    __slots__ = ("props",)
    class_name = "Obj"

    def __init__(self):
        self.props = {}

    def hsl_getprop(self, name):
        return self.props.get(name)

    def hsl_setprop(self, name, value):
        self.props[name] = value


# ---------------------------------------------------------------- keys

class TestKeys:
    @pytest.mark.parametrize("k, want", [
        (1.0, 1), (1.7, 1), (-1.9, -1), (-0.0, 0), (True, 1), (False, 0),
        (b"1", 1), (b"-3", -3), (b"0", 0), (b"01", b"01"), (b"1.0", b"1.0"), (b" 1", b" 1"),
        (b"1.9", b"1.9"), (b"+1", b"+1"), (b"-0", b"-0"), (b"", b""), (b"abc", b"abc"),
        (b"2147483647", 2147483647), (b"2147483648", b"2147483648"),
        (b"-2147483648", -2147483648), (b"-2147483649", b"-2147483649"),
        (b"1 ", b"1 "), (b"-", b"-"), (b"12345678901", b"12345678901"),
    ])
    def test_normalize(self, k, want):
        got = normalize_key(k)
        assert got == want and type(got) is type(want)

    def test_32_bit_wrap(self):
        assert normalize_key(2147483648.0) == -2147483648
        assert normalize_key(4294967296.0) == 0
        assert normalize_key(4294967297.9) == 1
        assert normalize_key(-2147483649.0) == 2147483647

    @pytest.mark.parametrize("k", [None, NAN, INF, -INF, HArray(), HFunction("f", len)])
    def test_invalid(self, k):
        with pytest.raises(ScriptError, match="invalid array key"):
            normalize_key(k)

    def test_same_key_spellings(self):
        for k in (1.0, b"1", 1.7, True):
            a = HArray.from_pairs([(k, b"a")])
            assert list(a.d) == [1]
        assert list(HArray.from_pairs([(b"1.7", b"a")]).d) == [b"1.7"]

    def test_key_value(self):
        assert key_value(3) == 3.0 and type(key_value(3)) is float
        assert key_value(b"x") == b"x"


# ---------------------------------------------------------------- arrays

class TestHArray:
    def test_auto_keys(self):
        a = HArray()
        a.append(b"x")
        a.set(3.0, b"y")
        a.append(b"z")
        assert list(a.d) == [0, 3, 4]

    def test_next_key_after_delete_lowers(self):
        a = A(1, 2, 3)
        assert a.delete(2.0)
        assert a.next_key() == 2
        a.append(9.0)
        assert list(a.d) == [0, 1, 2]

    def test_next_key_negative(self):
        a = HArray.from_pairs([(-5.0, 1.0)])
        assert a.next_key() == -4
        a = HArray.from_pairs([(b"x", 1.0)])
        assert a.next_key() == 0
        assert HArray().next_key() == 0

    def test_next_key_after_delete_middle(self):
        a = A(1, 2, 3)
        a.delete(0.0)
        assert a.next_key() == 3

    def test_delete(self):
        a = P({"a": 1})
        assert a.delete(b"a") is True
        assert a.delete(b"a") is False
        assert len(a) == 0

    def test_overwrite_keeps_position(self):
        a = P({"a": 1, "b": 2})
        a.set(b"a", 3.0)
        assert a.items() == [(b"a", 3.0), (b"b", 2.0)]

    def test_get_and_contains(self):
        a = P({"k": 1, "5": 2})
        assert a.get(b"k") == 1.0
        assert a.get(5.0) == 2.0 and a.get(5.9) == 2.0 and a.get(b"5") == 2.0
        assert a.get(b"missing") is None
        assert 5.0 in a and b"5" in a and b"k" in a and b"z" not in a
        with pytest.raises(ScriptError):
            a.get(None)

    def test_keys_are_hsl_values(self):
        a = P({"x": 1, "2": 2})
        assert a.keys() == [b"x", 2.0]
        assert all(type(k) in (float, bytes) for k in a.keys())
        assert a.values() == [1.0, 2.0]

    def test_from_pairs_duplicate(self):
        a = HArray.from_pairs([(b"a", 1.0), (b"b", 2.0), (b"a", 3.0)])
        assert a.items() == [(b"a", 3.0), (b"b", 2.0)]
        a.append(4.0)
        assert a.keys()[-1] == 0.0

    def test_share_independence(self):
        a = A(1, 2)
        b = a.share()
        b.append(3.0)
        assert len(a) == 2 and len(b) == 3
        a.set(0.0, 9.0)
        assert b.get(0.0) == 1.0

    def test_nested_cow(self):
        # $a = ["n" => [1]];  $b = $a;  $b["n"][] = 2;
        a = HArray()
        a.set(b"n", A(1))
        b = share(a)
        b.child_for_write(b"n").append(2.0)
        assert text(a) == '["n"=>[0=>1]]'
        assert text(b) == '["n"=>[0=>1,1=>2]]'

    def test_nested_cow_other_direction(self):
        a = HArray()
        a.set(b"n", A(1))
        b = share(a)
        a.child_for_write(b"n").append(2.0)
        assert text(b) == '["n"=>[0=>1]]'
        assert text(a) == '["n"=>[0=>1,1=>2]]'

    def test_element_read_then_write(self):
        a = HArray()
        a.set(b"n", A(1))
        x = share(a.get(b"n"))      # $x = $a["n"]
        a.child_for_write(b"n").append(2.0)
        assert text(x) == "[0=>1]"
        x.append(5.0)
        assert text(a) == '["n"=>[0=>1,1=>2]]'

    def test_deep_nested_cow(self):
        a = P({"x": {"y": [1]}})
        b = share(a)
        b.child_for_write(b"x").child_for_write(b"y").append(2.0)
        assert to_python(a) == {"x": {"y": [1]}}
        assert to_python(b) == {"x": {"y": [1, 2]}}

    def test_child_for_write_creates(self):
        a = HArray()
        c = a.child_for_write(b"x")
        c.append(1.0)
        assert text(a) == '["x"=>[0=>1]]'
        a.set(b"n", 5.0)
        a.child_for_write(b"n").set(b"k", True)
        assert text(a) == '["x"=>[0=>1],"n"=>["k"=>true]]'
        a.child_for_write(7.0)
        assert a.next_key() == 8

    def test_child_for_write_string_is_error(self):
        a = P({"s": "abc"})
        with pytest.raises(ScriptError, match="type"):
            a.child_for_write(b"s")

    def test_child_for_write_object(self):
        o = Obj()
        a = HArray()
        a.set(b"o", o)
        assert a.child_for_write(b"o") is o

    def test_share_of_share(self):
        a = A(1)
        b = a.share()
        c = b.share()
        c.append(2.0)
        b.append(3.0)
        assert to_python(a) == [1] and to_python(b) == [1, 3] and to_python(c) == [1, 2]

    def test_from_list(self):
        a = HArray.from_list([1.0, 2.0])
        assert list(a.d) == [0, 1]
        a.append(3.0)
        assert list(a.d) == [0, 1, 2]
        assert HArray.from_list([]).next_key() == 0

    def test_from_dict_normalized(self):
        a = HArray.from_dict_normalized({5: 1.0, b"x": 2.0})
        assert a.next_key() == 6

    def test_append_overflow(self):
        a = HArray.from_pairs([(2147483647.0, 1.0)])
        with pytest.raises(ScriptError):
            a.append(2.0)

    def test_is_list(self):
        assert A(1, 2).is_list()
        assert not P({"1": 1}).is_list()
        assert HArray().is_list()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(-5, 5), st.text(max_size=3),
                          st.lists(st.integers(0, 3), max_size=3)), max_size=6),
       st.lists(st.tuples(st.sampled_from(["append", "set", "delete", "nested"]),
                          st.integers(-2, 6)), max_size=8))
def test_share_independence_property(initial, ops):
    a = from_python(initial)
    before = to_python(a)
    b = share(a)
    for op, k in ops:
        key = float(k)
        if op == "append":
            b.append(float(k))
        elif op == "set":
            b.set(key, from_python([k]))
        elif op == "delete":
            b.delete(key)
        else:
            c = b.get(key)
            if type(c) is HArray or c is None or type(c) is float:
                b.child_for_write(key).append(1.0)
    assert to_python(a) == before


# ---------------------------------------------------------------- conversions

class TestConversions:
    @pytest.mark.parametrize("v, want", [
        (None, False), (True, True), (False, False), (0.0, False), (-0.0, False), (1.0, True),
        (NAN, True), (b"", False), (b"0", True), (b"false", True), (HArray(), False),
        (A(0), True), (HFunction("f", len), True), (Obj(), True),
    ])
    def test_to_bool(self, v, want):
        assert to_bool(v) is want

    @pytest.mark.parametrize("s, want", [
        (b"12", 12.0), (b"-3.5", -3.5), (b"0x1f", 31.0), (b"0X1F", 0.0), (b"abc", 0.0),
        (b"", 0.0), (b"12abc", 0.0), (b" 7 ", 7.0), (b"\t7\n", 7.0), (b"1e3", 1000.0),
        (b"1E-2", 0.01), (b"1_000", 0.0), (b"0o7", 0.0), (b"0b1", 0.0), (b"inf", 0.0),
        (b"nan", 0.0), (b"+5", 5.0), (b".5", 0.5), (b"5.", 5.0), (b"-0x10", -16.0),
        (b"007", 7.0), (b"1 2", 0.0), (b"-", 0.0),
    ])
    def test_to_number_string(self, s, want):
        assert to_number(s) == want

    def test_to_number_other(self):
        assert to_number(None) == 0.0
        assert to_number(True) == 1.0 and to_number(False) == 0.0
        assert to_number(A(1)) == 0.0
        assert to_number(HFunction("f", len)) == 0.0
        assert to_number(Obj()) == 0.0
        assert type(to_number(b"3")) is float

    @pytest.mark.parametrize("x, want", [
        (1.0, "1"), (-0.0, "0"), (1e15, "1000000000000000"), (2.5, "2.5"), (0.1, "0.1"),
        (0.1 + 0.2, "0.30000000000000004"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
        (1e-7, "1e-7"), (1.5e-7, "1.5e-7"), (0.000001, "0.000001"), (0.000015, "0.000015"),
        (INF, "inf"), (-INF, "-inf"), (NAN, "nan"), (-2.5, "-2.5"), (123.456, "123.456"),
        (-1e21, "-1e+21"), (1.2345e22, "1.2345e+22"), (5e-324, "5e-324"), (42.0, "42"),
        (9007199254740993.0, "9007199254740992"),
    ])
    def test_format_number(self, x, want):
        assert format_number(x) == want.encode()

    @settings(max_examples=300, deadline=None)
    @given(st.floats(allow_nan=False, allow_infinity=False))
    def test_format_number_round_trip(self, x):
        assert to_number(format_number(x)) == x

    def test_to_str(self):
        assert to_str(b"raw") == b"raw"
        assert to_str(True) == b"true" and to_str(False) == b"false"
        assert to_str(None) == b"none"
        assert to_str(HFunction("f", len)) == b"function"
        assert to_str(Obj()) == b"object"
        assert to_str(HRegex(b"a+", "i")) == b"#/a+/i"

    def test_array_text(self):
        assert array_text(A(1, 2)) == b"[0=>1,1=>2]"
        a = HArray()
        a.set(b"a", b"x")
        a.set(b"b", A(True))
        assert array_text(a) == b'["a"=>"x","b"=>[0=>true]]'
        assert array_text(HArray()) == b"[]"
        assert array_text(A(None, False, 2.5)) == b"[0=>none,1=>false,2=>2.5]"
        assert array_text(A('a"b\\c')) == b'[0=>"a\\"b\\\\c"]'
        assert array_text(P({'k"': 1})) == b'["k\\""=>1]'
        b = HArray()
        b.append(HFunction("f", len))
        b.append(HRegex(b"x", ""))
        assert array_text(b) == b"[0=>function,1=>#/x/]"
        assert to_str(A(-1)) == b"[0=>-1]"

    def test_type_name(self):
        assert [type_name(v) for v in (None, True, 1.0, b"", HArray(), HFunction("f", len),
                                       Obj(), HRegex(b"a"), HResource())] == [
            "none", "boolean", "number", "string", "array", "function", "object", "regex",
            "resource"]

    def test_to_int32(self):
        assert to_int32(2147483648.0) == -2147483648
        assert to_int32(-1.9) == -1
        assert to_int32(NAN) == 0 and to_int32(INF) == 0
        assert to_int32(4294967295.0) == -1


# ---------------------------------------------------------------- comparison

F = HFunction("f", len)
O = Obj()


class TestLooseEq:
    @pytest.mark.parametrize("a, b, want", [
        (1.0, b"1", True), (b"abc", 0.0, True), (b"1.0", b"1", False), (5.0, True, False),
        (b"0", False, False), (None, False, False), (None, 0.0, False), (HArray(), 0.0, True),
        (A(1), A("1"), False), (None, None, True), (True, 1.0, True), (False, 0.0, True),
        (1.0, True, True), (True, b"x", True), (False, b"", True), (True, b"", False),
        (True, HArray(), False), (False, HArray(), True), (True, F, True), (True, O, True),
        (False, O, False), (1.0, A(5), True), (2.0, A(5), False), (0.0, HArray(), True),
        (1.0, O, True), (2.0, O, False), (b"1", 1.0, True), (b"", False, True),
        (b"x", A(), False), (b"x", O, False), (A(), False, True), (A(1), 1.0, True),
        (A(1), b"1", False), (A(1, 2), A(1, 2), True), (A(1, 2), A(2, 1), False),
        (O, O, True), (O, Obj(), False), (F, F, True), (F, HFunction("g", len), True),
        (F, HFunction("g", str), False), (O, F, False), (O, A(), False), (O, None, False),
        (NAN, NAN, False), (b"a", b"a", True), (b"1e3", 1000.0, True), (None, b"", False),
        (None, HArray(), False), (O, True, True), (A(), None, False), (0.0, b"", True),
        (HRegex(b"a"), HRegex(b"a"), True), (HRegex(b"a"), True, True),
    ])
    def test_table(self, a, b, want):
        assert loose_eq(a, b) is want

    def test_arrays_compare_strictly(self):
        assert loose_eq(P({"a": [1]}), P({"a": [1]}))
        assert not loose_eq(P({"a": [1]}), P({"a": [True]}))


class TestStrictEq:
    def test_basic(self):
        assert strict_eq(None, None)
        assert not strict_eq(1.0, True)
        assert not strict_eq(1.0, b"1")
        assert not strict_eq(NAN, NAN)
        assert strict_eq(b"x", b"x")

    def test_arrays_order_sensitive(self):
        a = P({"a": 1, "b": 2})
        b = P({"b": 2, "a": 1})
        assert not strict_eq(a, b)
        assert strict_eq(a, P({"a": 1, "b": 2}))
        assert not strict_eq(A(1), P({"0": 1, "1": 2}))
        assert strict_eq(P({"1": 1}), P({1: 1}))  # same normalised key

    def test_arrays_recursive(self):
        assert strict_eq(P([[1, [2]]]), P([[1, [2]]]))
        assert not strict_eq(P([[1, [2]]]), P([[1, [3]]]))
        n = A(NAN)
        assert not strict_eq(n, n.share())

    def test_functions_and_objects(self):
        def f():
            pass
        o = Obj()
        assert strict_eq(HFunction("f", f), HFunction("f", f))
        assert strict_eq(HFunction("m", f, bound=o), HFunction("m", f, bound=o))
        assert not strict_eq(HFunction("m", f, bound=o), HFunction("m", f, bound=Obj()))
        assert strict_eq(o, o) and not strict_eq(o, Obj())


class TestOrdering:
    def test_strings_bytewise(self):
        assert lt(b"a", b"b") and lt(b"B", b"a") and lt(b"10", b"9")
        assert le(b"a", b"a") and gt(b"b", b"a") and ge(b"\xff", b"a")

    def test_numeric(self):
        assert lt(b"10", 9.5) is False
        assert lt(b"9", 10.0)
        assert lt(None, 1.0) and lt(False, True)
        assert ge(True, 1.0) and le(None, 0.0)

    def test_nan(self):
        for f in (lt, le, gt, ge):
            assert f(NAN, 1.0) is False and f(1.0, NAN) is False

    def test_type_errors(self):
        for f in (lt, le, gt, ge):
            with pytest.raises(ScriptError, match="type"):
                f(A(1), 1.0)
            with pytest.raises(ScriptError, match="type"):
                f(1.0, Obj())


# ---------------------------------------------------------------- arithmetic

class TestArithmetic:
    def test_numbers(self):
        assert add(1.0, 2.0) == 3.0
        assert add(b"3", 4.0) == 7.0 and add(b"abc", 1.0) == 1.0
        assert add(True, True) == 2.0 and add(None, 1.0) == 1.0
        assert add(b"3", b"4") == 7.0
        assert sub(5.0, b"2") == 3.0
        assert mul(2.0, 3.0) == 6.0
        assert div(7.0, 2.0) == 3.5 and div(10.0, 5.0) == 2.0
        assert power(2.0, 10.0) == 1024.0 and power(2.0, -1.0) == 0.5
        assert type(add(True, 1.0)) is float

    def test_division_by_zero(self):
        assert div(1.0, 0.0) == INF and div(-1.0, 0.0) == -INF
        assert div(1.0, -0.0) == -INF
        assert math.isnan(div(0.0, 0.0))
        assert math.isnan(div(NAN, 0.0))
        assert div(b"1", None) == INF

    def test_modulo(self):
        assert mod(17.0, 5.0) == 2.0
        assert mod(-7.0, 3.0) == -1.0
        assert mod(5.5, 2.0) == 1.5
        assert mod(7.0, -3.0) == 1.0
        assert math.isnan(mod(1.0, 0.0))
        assert math.isnan(mod(INF, 2.0))
        assert mod(b"17", True) == 0.0

    def test_power_special(self):
        assert power(10.0, 400.0) == INF
        assert power(-10.0, 401.0) == -INF
        assert power(0.0, -1.0) == INF
        assert power(-0.0, -1.0) == -INF
        assert math.isnan(power(-8.0, 1 / 3))
        assert power(NAN, 0.0) == 1.0

    def test_unary(self):
        assert neg(2.0) == -2.0 and neg(b"3") == -3.0 and neg(True) == -1.0
        assert pos(b"4") == 4.0 and pos(None) == 0.0
        with pytest.raises(ScriptError, match="type"):
            neg(A(1))
        with pytest.raises(ScriptError, match="type"):
            pos(Obj())

    def test_type_errors(self):
        for op in (sub, mul, div, mod, power):
            with pytest.raises(ScriptError, match="type"):
                op(1.0, A(1)) if op is not mul else op(b"x", A(1))
        for op in (add, sub, mul, div, mod, power):
            with pytest.raises(ScriptError, match="type"):
                op(Obj(), 1.0)
            with pytest.raises(ScriptError, match="type"):
                op(1.0, HFunction("f", len))

    def test_string_repeat(self):
        assert mul(b"ab", 3.0) == b"ababab"
        assert mul(3.0, b"ab") == b"ababab"
        assert mul(b"2", 3.0) == b"222"
        assert mul(b"ab", 2.9) == b"abab"
        assert mul(b"ab", 0.0) == b"" and mul(b"ab", -1.0) == b""
        assert mul(b"ab", NAN) == b""
        assert mul(b"2", b"3") == 6.0

    def test_array_merge(self):
        assert text(add(A(1, 2), A(3))) == "[0=>1,1=>2,2=>3]"
        assert text(add(P({"a": 1}), P({"a": 2}))) == '["a"=>2]'
        assert text(add(P({"a": 1, 5: 2}), P({3: "x", "b": 0}))) == '["a"=>1,5=>2,6=>"x","b"=>0]'

    def test_array_append_prepend(self):
        a = A(1)
        r = add(a, b"x")
        assert text(r) == '[0=>1,1=>"x"]'
        assert text(a) == "[0=>1]"
        assert text(add(b"item", A(1, 2))) == '[0=>"item",1=>1,2=>2]'
        assert text(add(0.0, P({"k": 1}))) == '[0=>0,"k"=>1]'

    def test_array_merge_independence(self):
        inner = A(1)
        a = HArray()
        a.append(inner)
        r = add(a, A(2))
        r.child_for_write(0.0).append(5.0)
        assert text(a) == "[0=>[0=>1]]"
        b = add(A(0), a)
        b.child_for_write(1.0).append(6.0)
        assert text(a) == "[0=>[0=>1]]"

    def test_array_remove(self):
        assert text(sub(A("x", 1, "x", 2), b"x")) == "[1=>1,3=>2]"
        assert text(sub(A(1, 2, 3, "1"), A(1, 3))) == '[1=>2,3=>"1"]'
        assert text(sub(A(1, True), 1.0)) == "[1=>true]"
        assert text(sub(P([[1], [2]]), P([[1]]))) == "[1=>[0=>2]]"
        r = sub(A(1, 2), 1.0)
        r.append(3.0)
        assert list(r.d) == [1, 2]
        with pytest.raises(ScriptError, match="type"):
            sub(1.0, A(1))

    def test_array_repeat(self):
        assert text(mul(P({"a": 1, "b": 2}), 2.0)) == "[0=>1,1=>2,2=>1,3=>2]"
        assert text(mul(2.0, A(7))) == "[0=>7,1=>7]"
        assert text(mul(A(1), 0.0)) == "[]"
        r = mul(P([[1]]), 2.0)
        r.child_for_write(0.0).append(2.0)
        assert text(r) == "[0=>[0=>1,1=>2],1=>[0=>1]]"
        with pytest.raises(ScriptError, match="type"):
            mul(A(1), A(2))

    def test_format_via_mod(self):
        assert mod(b"%s=%s", A("k", 1)) == b"k=1"
        assert mod(b"5", 3.0) == 2.0
        with pytest.raises(ScriptError, match="type"):
            mod(A(1), 2.0)


class TestBitwise:
    def test_ops(self):
        assert bit_and(6.0, 3.0) == 2.0
        assert bit_or(6.0, 3.0) == 7.0
        assert bit_xor(6.0, 3.0) == 5.0
        assert bit_not(5.0) == -6.0
        assert shl(1.0, 31.0) == -2147483648.0
        assert ushr(-1.0, 28.0) == 15.0
        assert shr(-16.0, 2.0) == -4.0
        assert shl(1.0, 32.0) == 1.0 and shl(1.0, 33.0) == 2.0
        assert ushr(-1.0, 0.0) == 4294967295.0
        assert bit_or(4294967296.0 + 5, 0.0) == 5.0
        assert bit_and(b"12", True) == 0.0 and bit_or(None, 2.5) == 2.0
        assert bit_or(-1.9, 0.0) == -1.0
        assert bit_or(NAN, 0.0) == 0.0 and bit_or(INF, 1.0) == 1.0
        assert type(shl(1.0, 1.0)) is float

    def test_type_errors(self):
        with pytest.raises(ScriptError, match="type"):
            bit_and(A(1), 1.0)


class TestConcat:
    def test_concat(self):
        assert concat(b"a", b"b") == b"ab"
        assert concat(1.0, b"x") == b"1x"
        assert concat(None, True) == b"nonetrue"
        assert concat(b"", A(1)) == b"[0=>1]"
        assert concat_many([b"a", 2.5, None, b"z"]) == b"a2.5nonez"
        assert concat_many([]) == b""


# ---------------------------------------------------------------- format

class TestFormat:
    @pytest.mark.parametrize("tpl, vals, want", [
        ("%s=%s", ["k", 1], "k=1"),
        ("%'0>6s", ["42"], "000042"),
        ("%[1]s %[0]s", ["a", "b"], "b a"),
        ("%6.2f|", [2.5], "  2.50|"),
        ("%x/%b/%c", [255, 5, 65], "ff/101/A"),
        ("%.3s", ["abcdef"], "abc"),
        ("%%", [], "%"),
        ("100%% %s", ["x"], "100% x"),
        ("%5s|", [42], "42   |"),
        ("%5f|", [1], "1.000000|"),
        ("%10f|", [1], "  1.000000|"),
        ("%f", [b"2.5"], "2.500000"),
        ("%.0f", [2.5], "2"),
        ("%5x|", [255], "   ff|"),
        ("%<5x|", [255], "ff   |"),
        ("%^5s|", ["ab"], " ab  |"),
        ("%'*^6s|", ["ab"], "**ab**|"),
        ("%'0=8.2f", [-3.14159], "-0003.14"),
        ("%'0=5s", ["-12"], "-0012"),
        ("%'0>5s", ["-12"], "00-12"),
        ("%[1]s %s", ["a", "b", "c"], "b c"),
        ("%s", [[1, 2]], "[0=>1,1=>2]"),
        ("%s %s", [True, None], "true none"),
        ("%2s|", ["abcdef"], "abcdef|"),
        ("%b", [-5], "-101"),
        ("%c", [256 + 66], "B"),
        ("%x", [15.9], "f"),
        ("", [], ""),
        ("plain", ["unused"], "plain"),
        ("%'€>4s", ["a"], "€€€a"),
    ])
    def test_examples(self, tpl, vals, want):
        assert format_op(tpl.encode(), P(vals)) == want.encode()

    def test_values_in_iteration_order(self):
        assert format_op(b"%s%s", P({"b": 1, "a": 2})) == b"12"

    @pytest.mark.parametrize("tpl, vals", [
        ("%s %s", ["one"]), ("%q", [1]), ("abc%", []), ("%[x]s", [1]), ("%[5]s", [1]),
        ("%5", [1]),
    ])
    def test_errors(self, tpl, vals):
        with pytest.raises(ScriptError, match="format"):
            format_op(tpl.encode(), P(vals))

    def test_non_array(self):
        with pytest.raises(ScriptError, match="format"):
            format_op(b"%s", b"x")


# ---------------------------------------------------------------- subscripts

class TestSubscripts:
    def test_array(self):
        a = P({"k": 1, "0": 2})
        assert index_get(a, b"k") == 1.0
        assert index_get(a, 0.0) == 2.0 and index_get(a, b"0") == 2.0 and index_get(a, False) == 2.0
        assert index_get(a, b"missing") is None
        with pytest.raises(ScriptError, match="invalid array key"):
            index_get(a, None)

    def test_string(self):
        assert index_get(b"Halon", 1.0) == b"a"
        assert index_get(b"Halon", 1.9) == b"a"
        assert index_get(b"Halon", b"1") == b"a"
        assert index_get(b"Halon", 5.0) is None
        assert index_get(b"Halon", -1.0) is None
        assert index_get(b"Halon", b"x") is None
        assert index_get(b"Halon", None) is None

    def test_scalars(self):
        for c in (None, 1.0, True, HFunction("f", len)):
            assert index_get(c, 0.0) is None

    def test_object(self):
        o = Obj()
        o.props["x"] = 5.0
        assert index_get(o, b"x") == 5.0

    def test_index_set(self):
        a = index_set(None, b"k", 1.0)
        assert text(a) == '["k"=>1]'
        assert index_set(a, b"j", 2.0) is a
        assert text(index_set(5.0, 0.0, 1.0)) == "[0=>1]"
        with pytest.raises(ScriptError, match="type"):
            index_set(b"str", 0.0, b"x")
        o = Obj()
        assert index_set(o, b"p", 3.0) is o and o.props["p"] == 3.0
        a = index_append(None, 1.0)
        index_append(a, 2.0)
        assert text(a) == "[0=>1,1=>2]"
        with pytest.raises(ScriptError, match="type"):
            index_append(b"s", 1.0)

    def test_write_container(self):
        a = A(1)
        assert write_container(a) is a
        assert type(write_container(None)) is HArray
        assert type(write_container(False)) is HArray
        with pytest.raises(ScriptError, match="type"):
            write_container(b"x")


class TestSlices:
    @pytest.mark.parametrize("s, args, want", [
        (b"Mailbox", (0.0, 4.0, None), b"Mail"),
        (b"Mailbox", (-3.0, None, None), b"box"),
        (b"Mailbox", (None, None, 2.0), b"Mibx"),
        (b"ab", (5.0, 9.0, None), b""),
        (b"abc", (None, None, -1.0), b"cba"),
        (b"abcdef", (4.0, 1.0, -1.0), b"edc"),
        (b"abc", (2.0, 1.0, None), b""),
        (b"abc", (-100.0, 100.0, None), b"abc"),
        (b"abc", (1.9, None, None), b"bc"),
        (b"abc", (b"1", None, None), b"bc"),
    ])
    def test_string(self, s, args, want):
        assert slice_get(s, *args) == want

    def test_array(self):
        a = P({"a": 1, "b": 2, 7: 3})
        assert text(slice_get(a, None, None, None)) == "[0=>1,1=>2,2=>3]"
        assert text(slice_get(a, 1.0, None, None)) == "[0=>2,1=>3]"
        assert text(slice_get(a, None, None, -1.0)) == "[0=>3,1=>2,2=>1]"
        assert text(slice_get(A(1, 2, 3), None, -1.0, None)) == "[0=>1,1=>2]"

    def test_array_slice_independent(self):
        a = P([[1]])
        s = slice_get(a, None, None, None)
        s.child_for_write(0.0).append(2.0)
        assert text(a) == "[0=>[0=>1]]"

    def test_step_zero(self):
        with pytest.raises(ScriptError):
            slice_get(b"abc", None, None, 0.0)
        with pytest.raises(ScriptError):
            slice_get(A(1), None, None, 0.0)

    def test_other(self):
        assert slice_get(None, 0.0, 1.0, None) is None
        with pytest.raises(ScriptError, match="type"):
            slice_get(1.0, 0.0, 1.0, None)

    def test_slice_set(self):
        v = A(1, 2, 7, 5)
        r = slice_set(v, 2.0, 3.0, A(3, 4))
        assert r is v
        assert text(v) == "[0=>1,1=>2,2=>3,3=>4,4=>5]"
        v = P({"a": 1, "b": 2})
        slice_set(v, 0.0, 0.0, A(0))
        assert text(v) == "[0=>0,1=>1,2=>2]"
        assert v.next_key() == 3
        with pytest.raises(ScriptError, match="type"):
            slice_set(A(1), 0.0, 1.0, 5.0)

    def test_slice_set_cow(self):
        a = P([[1], 2])
        b = share(a)
        slice_set(b, 1.0, 2.0, A(3))
        b.child_for_write(0.0).append(9.0)
        assert text(a) == "[0=>[0=>1],1=>2]"
        assert text(b) == "[0=>[0=>1,1=>9],1=>3]"

    def test_slice_delete(self):
        a = A(0, 1, 2, 3, 4)
        b = share(a)
        assert slice_delete(b, 1.0, 3.0, None) is True
        assert text(b) == "[0=>0,3=>3,4=>4]"
        assert text(a) == "[0=>0,1=>1,2=>2,3=>3,4=>4]"
        assert slice_delete(b, 10.0, None, None) is False
        assert slice_delete(b, 1.0, None, None)
        assert b.next_key() == 1
        c = A(0, 1, 2, 3)
        assert slice_delete(c, None, None, 2.0)
        assert list(c.d) == [1, 3]

    def test_spread(self):
        a = P({"x": [1], "y": 2})
        vals = spread_values(a)
        assert vals[1] == 2.0
        vals[0].append(5.0)
        assert text(a) == '["x"=>[0=>1],"y"=>2]'
        with pytest.raises(ScriptError, match="type"):
            spread_values(b"abc")

    def test_array_spread(self):
        t = A("a")
        array_spread(t, P({"k": 1, 5: "x"}))
        assert text(t) == '[0=>"a","k"=>1,1=>"x"]'
        with pytest.raises(ScriptError):
            array_spread(t, 1.0)


# ---------------------------------------------------------------- functions and objects

class TestFunctions:
    def test_call_and_arity(self):
        f = HFunction("add2", lambda a, b=1.0: a + b, 1, 2)
        assert f(1.0) == 2.0 and f(1.0, 5.0) == 6.0
        with pytest.raises(ScriptError, match="arguments") as e:
            f()
        assert "add2" in str(e.value)
        with pytest.raises(ScriptError, match="arguments"):
            f(1.0, 2.0, 3.0)

    def test_variadic(self):
        f = HFunction("v", lambda *a: float(len(a)), 1, None)
        assert f(1.0, 2.0, 3.0) == 3.0
        with pytest.raises(ScriptError, match="arguments.*v\\(\\)|v\\(\\).*"):
            f()

    def test_bound(self):
        o = Obj()

        def m(self, x):
            return self is o and x

        f = HFunction("m", m, 1, 1, o)
        assert f(5.0) == 5.0

    def test_eq_hash(self):
        def fn():
            pass
        o = Obj()
        a, b = HFunction("a", fn), HFunction("b", fn)
        assert a == b and hash(a) == hash(b)
        assert HFunction("a", fn, bound=o) != HFunction("a", fn, bound=Obj())
        assert HFunction("a", fn) != HFunction("a", lambda: None)


class TestObjects:
    def test_default_protocol(self):
        class Plain(HObject):
            __slots__ = ()
        p = Plain()
        with pytest.raises(ScriptError):
            p.hsl_getprop("x")
        with pytest.raises(ScriptError):
            p.hsl_setprop("x", 1.0)
        with pytest.raises(ScriptError):
            p.hsl_delprop("x")

    def test_builtin_object_methods(self):
        from hsl.builtins.registry import builtin_class, method, CLASSES

        @builtin_class("ZzValuesTestCounter")
        class Counter(BuiltinObject):
            def __init__(self, start=0.0):
                self.n = start

            @method()
            def inc(self, by=1.0):
                self.n += by
                return self.n

        try:
            c = Counter(1.0)
            f = c.hsl_getprop("inc")
            assert type(f) is HFunction
            assert f() == 2.0 and f(3.0) == 5.0
            with pytest.raises(ScriptError, match="arguments"):
                f(1.0, 2.0)
            with pytest.raises(ScriptError):
                c.hsl_getprop("nope")
            assert type_name(c) == "object"
            assert c.class_name == "ZzValuesTestCounter"
        finally:
            CLASSES.pop("ZzValuesTestCounter", None)


# ---------------------------------------------------------------- interop

class TestInterop:
    def test_from_python(self):
        v = from_python({"a": [1, "x", None, True, 2.5], 3: {}, "4": ()})
        assert text(v) == '["a"=>[0=>1,1=>"x",2=>none,3=>true,4=>2.5],3=>[],4=>[]]'
        assert type(from_python(3)) is float
        assert from_python("é") == "é".encode()
        a = A(1)
        assert from_python(a) is a

    def test_to_python(self):
        assert to_python(P([1, 2.5, "x", None, True])) == [1, 2.5, "x", None, True]
        assert to_python(P({"a": 1, 2: [3]})) == {"a": 1, 2: [3]}
        assert to_python(b"\xff") == "\udcff"
        assert to_python(HFunction("f", len)) == "function"
        assert type(to_python(3.0)) is int

    def test_round_trip(self):
        data = {"k": [1, {"x": "y"}], "n": None}
        assert to_python(from_python(data)) == data


def test_regex_value():
    r = HRegex(b"a/b", "i")
    assert to_str(r) == b"#/a/b/i"
    assert r == HRegex(b"a/b", "i") and r != HRegex(b"a/b", "")
    assert to_bool(r)
    with pytest.raises(ScriptError):
        HRegex(b"(", "")
