"""Array builtins (builtins.md "Arrays"; keys per language.md 3.5, equality 5.9.2,
ordering 5.9.3)."""
import math

import pytest

from hsl.builtins import FUNCTIONS, load_all
from hsl.errors import ScriptError
from hsl.runtime.values import HArray, HFunction, array_text, from_python as P, lt

load_all()


def call(name, *args):
    return FUNCTIONS[name].fn(*args)


def fn(pyfn, n=1):
    return HFunction("cb", pyfn, n, n)


def items(a):
    assert type(a) is HArray
    return a.items()


def text(a):
    return array_text(a).decode()


IS_NUMBER = fn(FUNCTIONS["is_number"].fn)
LESS = fn(lambda a, b: lt(a, b), 2)


def arr(*pairs):
    return HArray.from_pairs(pairs)


# ------------------------------------------------------------------ type errors

@pytest.mark.parametrize("name, args, pos", [
    ("array_combine", (b"x", P([])), 1), ("array_combine", (P([]), None), 2),
    ("array_every", (P([]), P([])), 1), ("array_every", (IS_NUMBER, b"x"), 2),
    ("array_filter", (None, P([])), 1), ("array_filter", (IS_NUMBER, 1.0), 2),
    ("array_find", (b"f", P([])), 1), ("array_find", (IS_NUMBER, None), 2),
    ("array_includes", (1.0, b"1"), 2),
    ("array_join", (b"a", b","), 1), ("array_join", (P([1]), 1.0), 2),
    ("array_keys", (None,), 1), ("array_map", (P([]), P([])), 1),
    ("array_map", (IS_NUMBER, b""), 2), ("array_random", (b"",), 1),
    ("array_range", (b"0", 4.0), 1), ("array_range", (0.0, None), 2),
    ("array_range", (0.0, 4.0, b"1"), 3), ("array_reduce", (None, P([1])), 1),
    ("array_reduce", (LESS, b"x"), 2), ("array_reverse", (b"abc",), 1),
    ("array_sort", (b"f", P([])), 1), ("array_sort", (LESS, b"x"), 2),
    ("array_sort", (LESS, P([]), b"keys"), 3), ("array_shuffle", (1.0,), 1),
    ("array_unique", (None,), 1),
])
def test_type_errors(name, args, pos):
    with pytest.raises(ScriptError) as e:
        call(name, *args)
    msg = str(e.value.message if hasattr(e.value, "message") else e.value)
    assert name + "()" in msg and "type" in msg and f"argument {pos}" in msg


# ------------------------------------------------------------------ array_combine

def test_combine_basic():
    r = call("array_combine", P(["a", "b"]), P([1, 2]))
    assert items(r) == [(b"a", 1.0), (b"b", 2.0)]


def test_combine_duplicate_key_keeps_first_position_later_value():
    r = call("array_combine", P(["a", "b", "a"]), P([1, 2, 3]))
    assert items(r) == [(b"a", 3.0), (b"b", 2.0)]


def test_combine_keys_are_normalised():
    r = call("array_combine", P(["1", 1.7, True, "01", "-3"]), P([1, 2, 3, 4, 5]))
    assert items(r) == [(1.0, 3.0), (b"01", 4.0), (-3.0, 5.0)]


def test_combine_short_values_get_default():
    assert items(call("array_combine", P(["a", "b", "c"]), P([1]))) == \
        [(b"a", 1.0), (b"b", None), (b"c", None)]
    assert items(call("array_combine", P(["a", "b"]), P([1]), 0.0)) == \
        [(b"a", 1.0), (b"b", 0.0)]


def test_combine_surplus_values_ignored_and_empty():
    assert items(call("array_combine", P(["a"]), P([1, 2, 3]))) == [(b"a", 1.0)]
    assert items(call("array_combine", P([]), P([]))) == []


def test_combine_invalid_key():
    with pytest.raises(ScriptError, match="key"):
        call("array_combine", P([[1]]), P([1]))


# ------------------------------------------------------------------ every / filter / find

def test_every():
    assert call("array_every", IS_NUMBER, P([1, 2.5, -3])) is True
    assert call("array_every", IS_NUMBER, P([1, "2"])) is False
    assert call("array_every", IS_NUMBER, P([])) is True


def test_every_stops_at_first_falsy_and_tests_truthiness():
    seen = []

    def cb(v):
        seen.append(v)
        return v
    assert call("array_every", fn(cb), P(["0", "false", 1, 0, 5])) is False
    assert seen == [b"0", b"false", 1.0, 0.0]


def test_filter_keeps_keys():
    r = call("array_filter", IS_NUMBER, P([1, "a", 2]))
    assert text(r) == "[0=>1,2=>2]"
    r = call("array_filter", fn(lambda v: v), P({"x": 0, "y": "a", "z": []}))
    assert items(r) == [(b"y", b"a")]
    assert items(call("array_filter", IS_NUMBER, P([]))) == []


def test_find():
    assert call("array_find", fn(lambda v: v > 1.0), P([1, 2, 3])) == 2.0
    assert call("array_find", fn(lambda v: False), P([1, 2, 3])) is None
    assert call("array_find", IS_NUMBER, P([])) is None
    found = call("array_find", fn(lambda v: type(v) is HArray), P([1, [7]]))
    assert text(found) == "[0=>7]"


# ------------------------------------------------------------------ includes

@pytest.mark.parametrize("needle, values, expected", [
    (b"1", [1], False), (False, [0, None, ""], False), (1.0, [1], True),
    (1.0, ["1", True], False), (True, [1, True], True), (None, [0, None], True),
    (None, [0, False, ""], False), (b"", [None, 0], False), (b"b", ["a", "b"], True),
    (math.nan, [math.nan], False), (0.0, [-0.0], True), (1.0, [], False),
])
def test_includes_strict(needle, values, expected):
    assert call("array_includes", needle, P(values)) is expected


def test_includes_arrays_compare_strictly():
    assert call("array_includes", P([1]), P([[1]])) is True
    assert call("array_includes", P([1]), P([["1"]])) is False
    assert call("array_includes", P({"a": 1, "b": 2}), P([{"b": 2, "a": 1}])) is False


def test_includes_function_needle():
    seen = []

    def cb(v):
        seen.append(v)
        return v == 2.0
    assert call("array_includes", fn(cb), P([1, 2, 3])) is True
    assert seen == [1.0, 2.0]
    assert call("array_includes", IS_NUMBER, P(["a"])) is False


# ------------------------------------------------------------------ join / keys / map

def test_join():
    assert call("array_join", P(["a", "b", "c"]), b", ") == b"a, b, c"
    assert call("array_join", P(["a", "b"])) == b"ab"
    assert call("array_join", P([])) == b""
    assert call("array_join", P([1, 2.5, True, None, "x", [1]]), b"|") == \
        b"1|2.5|true|none|x|[0=>1]"
    assert call("array_join", P(["é", "\x00"]), b"") == "é\x00".encode()


def test_join_is_inverse_of_split():
    parts = call("str_split", b"a,,b", b",")
    assert call("array_join", parts, b",") == b"a,,b"


def test_keys():
    a = HArray.from_list([b"x"])
    a.set(3.0, b"y")
    a.append(b"z")
    assert items(call("array_keys", a)) == [(0.0, 0.0), (1.0, 3.0), (2.0, 4.0)]
    r = call("array_keys", P({"a": 1, "1": 2, "1.5": 3}))
    assert r.values() == [b"a", 1.0, b"1.5"]
    assert call("array_keys", P([])).values() == []


def test_map_keeps_keys_and_order():
    r = call("array_map", fn(lambda v: v * 2.0), P({"b": 1, "a": 2, "5": 3}))
    assert items(r) == [(b"b", 2.0), (b"a", 4.0), (5.0, 6.0)]
    assert items(call("array_map", IS_NUMBER, P([1, "1"]))) == [(0.0, True), (1.0, False)]


# ------------------------------------------------------------------ random / shuffle

def test_random():
    assert call("array_random", P([])) is None
    a = P({"a": 1, "b": 2, "c": 3})
    seen = set()
    for _ in range(300):
        r = call("array_random", a)
        assert r.is_list() and len(r) == 2
        k, v = r.values()
        assert a.get(k) == v
        seen.add(k)
    assert seen == {b"a", b"b", b"c"}
    assert call("array_random", P([5])).values() == [0.0, 5.0]


def test_shuffle():
    a = HArray.from_pairs([(5, b"x"), (b"k", b"y"), (9, b"z"), (1, b"w")])
    orders = set()
    for _ in range(200):
        r = call("array_shuffle", a)
        ks = [k for k in r.d]
        assert sorted(r.d.values()) == [b"w", b"x", b"y", b"z"]
        assert b"k" in r.d and r.d[b"k"] == b"y"
        assert sorted(k for k in ks if type(k) is int) == [0, 1, 2]
        orders.add(tuple(r.d.values()))
    assert len(orders) > 1
    assert items(call("array_shuffle", P([]))) == []


# ------------------------------------------------------------------ range

@pytest.mark.parametrize("args, expected", [
    ((0.0, 4.0), [0, 1, 2, 3]), ((0.0, 10.0, 3.0), [0, 3, 6, 9]),
    ((5.0, 0.0, -2.0), [5, 3, 1]), ((0.0, 0.0), []), ((3.0, 0.0), []),
    ((0.0, 5.0, -1.0), []), ((-3.0, 3.0, 2.0), [-3, -1, 1]), ((0.0, -3.0, -1.0), [0, -1, -2]),
    ((0.0, 1.0, 0.25), [0, 0.25, 0.5, 0.75]), ((1.5, 4.0), [1.5, 2.5, 3.5]),
    ((0.0, 1.0), [0]), ((10.0, 0.0, -5.0), [10, 5]),
])
def test_range(args, expected):
    r = call("array_range", *args)
    assert r.is_list()
    assert r.values() == [float(x) for x in expected]
    assert all(type(x) is float for x in r.values())


def test_range_step_zero_and_nan():
    with pytest.raises(ScriptError, match="step"):
        call("array_range", 0.0, 4.0, 0.0)
    with pytest.raises(ScriptError):
        call("array_range", 0.0, math.nan)
    with pytest.raises(ScriptError):
        call("array_range", 0.0, math.inf)
    assert call("array_range", 0.0, -math.inf).values() == []


# ------------------------------------------------------------------ reduce

def test_reduce():
    add = fn(lambda c, v: c + v, 2)
    assert call("array_reduce", add, P([1, 2, 3])) == 6.0
    assert call("array_reduce", add, P([1, 2, 3]), 10.0) == 16.0
    assert call("array_reduce", add, P([]), 7.0) == 7.0
    assert call("array_reduce", fn(lambda c, v: c + v, 2), P(["a", "b"]), b"") == b"ab"


def test_reduce_single_element_does_not_call():
    def boom(c, v):
        raise AssertionError("called")
    assert call("array_reduce", fn(boom, 2), P([42])) == 42.0


def test_reduce_empty_without_initial_is_error():
    with pytest.raises(ScriptError, match="empty"):
        call("array_reduce", fn(lambda c, v: c, 2), P([]))


def test_reduce_explicit_none_initial():
    seen = []

    def cb(c, v):
        seen.append(c)
        return v
    assert call("array_reduce", fn(cb, 2), P([1, 2]), None) == 2.0
    assert seen == [None, 1.0]


def test_reduce_is_left_fold():
    r = call("array_reduce", fn(lambda c, v: b"(" + c + v + b")", 2), P(["a", "b", "c"]))
    assert r == b"((ab)c)"


# ------------------------------------------------------------------ reverse

def test_reverse():
    assert text(call("array_reverse", P([1, 2, 3]))) == "[0=>3,1=>2,2=>1]"
    a = HArray.from_pairs([(b"a", 1.0), (5, 2.0), (b"b", 3.0), (7, 4.0)])
    assert items(call("array_reverse", a)) == [(0.0, 4.0), (b"b", 3.0), (1.0, 2.0), (b"a", 1.0)]
    assert items(call("array_reverse", P([]))) == []
    assert items(call("array_reverse", HArray.from_pairs([(-1, b"x"), (3, b"y")]))) == \
        [(0.0, b"y"), (1.0, b"x")]


# ------------------------------------------------------------------ sort

def test_sort_keeps_keys():
    r = call("array_sort", LESS, P([3, 1, 2]))
    assert text(r) == "[1=>1,2=>2,0=>3]"


def test_sort_descending_predicate():
    r = call("array_sort", fn(lambda a, b: a > b, 2), P([3, 1, 2]))
    assert r.values() == [3.0, 2.0, 1.0]


def test_sort_callback_result_truthiness():
    r = call("array_sort", fn(lambda a, b: 1.0 if a < b else 0.0, 2), P([2, 3, 1]))
    assert r.values() == [1.0, 2.0, 3.0]


def test_sort_by_keys():
    a = P({"b": 1, "a": 2, "c": 0})
    seen = []

    def cb(x, y):
        seen.append((x, y))
        return lt(x, y)
    r = call("array_sort", fn(cb, 2), a, P({"keys": True}))
    assert items(r) == [(b"a", 2.0), (b"b", 1.0), (b"c", 0.0)]
    assert all(type(x) is bytes for pair in seen for x in pair)


def test_sort_by_integer_keys_passes_numbers():
    a = HArray.from_pairs([(10, b"x"), (2, b"y"), (b"9", b"z")])
    r = call("array_sort", LESS, a, P({"keys": True}))
    assert [k for k, _ in items(r)] == [2.0, 9.0, 10.0]


def test_sort_options():
    a = P([2, 1])
    assert call("array_sort", LESS, a, P({"keys": False})).values() == [1.0, 2.0]
    assert call("array_sort", LESS, a, P({"unknown": 1})).values() == [1.0, 2.0]
    assert call("array_sort", LESS, a, None).values() == [1.0, 2.0]
    with pytest.raises(ScriptError, match="type"):
        call("array_sort", LESS, a, P({"keys": "yes"}))


def test_sort_is_stable():
    recs = P([{"n": "a", "k": 1}, {"n": "b", "k": 0}, {"n": "c", "k": 1}, {"n": "d", "k": 0},
              {"n": "e", "k": 1}])
    r = call("array_sort", fn(lambda x, y: x.get(b"k") < y.get(b"k"), 2), recs)
    assert [v.get(b"n") for v in r.values()] == [b"b", b"d", b"a", b"c", b"e"]
    assert [k for k in r.d] == [1, 3, 0, 2, 4]


def test_sort_default_ordering_is_language_less_than():
    # none as callback: the `<` of language 5.9.3
    assert call("array_sort", None, P(["b", "B", "a", "ab", ""])).values() == \
        [b"", b"B", b"a", b"ab", b"b"]
    assert call("array_sort", None, P([10, 9, 2.5, -1])).values() == [-1.0, 2.5, 9.0, 10.0]
    # a string and a number compare numerically
    assert call("array_sort", None, P(["10", 9, True])).values() == [True, 9.0, b"10"]
    with pytest.raises(ScriptError, match="type"):
        call("array_sort", None, P([[1], 2]))


def test_sort_bytes_compare_unsigned():
    r = call("array_sort", LESS, P([b"\xc3\xa9", b"z", b"\x00"]))
    assert r.values() == [b"\x00", b"z", b"\xc3\xa9"]


def test_sort_callback_error_propagates():
    def bad(a, b):
        raise ScriptError("boom")
    with pytest.raises(ScriptError, match="boom"):
        call("array_sort", fn(bad, 2), P([1, 2]))


# ------------------------------------------------------------------ unique

def test_unique_strict():
    r = call("array_unique", P([1, "1", 1, True, 1.0, None, None, False, 0]))
    assert items(r) == [(0.0, 1.0), (1.0, b"1"), (3.0, True), (5.0, None), (7.0, False),
                        (8.0, 0.0)]


def test_unique_arrays_and_keys():
    r = call("array_unique", P({"a": [1], "b": [1], "c": ["1"], "d": "x", "e": "x"}))
    assert [k for k, _ in items(r)] == [b"a", b"c", b"d"]


def test_unique_nan_never_equal():
    assert len(call("array_unique", P([math.nan, math.nan]))) == 2
    assert len(call("array_unique", P([0.0, -0.0]))) == 1


# ------------------------------------------------------------------ value semantics

def test_inputs_never_modified_and_results_independent():
    src = P({"x": [1], "y": [2], "3": "s"})
    before = text(src)
    results = [
        call("array_filter", fn(lambda v: True), src),
        call("array_map", fn(lambda v: v), src),
        call("array_reverse", src),
        call("array_sort", fn(lambda a, b: False, 2), src),
        call("array_shuffle", src),
        call("array_unique", src),
        call("array_combine", P(["k"]), src),
    ]
    for r in results:
        for k, v in list(r.d.items()):
            if type(v) is HArray:
                child = r.child_for_write(k if type(k) is bytes else float(k))
                child.append(99.0)
    assert text(src) == before


def test_results_are_new_lists_keyed_from_zero():
    for r in [call("array_keys", P({"a": 1})), call("array_range", 0.0, 3.0),
              call("array_reverse", P([1, 2]))]:
        assert r.is_list()


def test_reverse_list_of_arrays_is_independent():
    src = P([[1], [2]])
    r = call("array_reverse", src)
    r.child_for_write(0.0).append(9.0)
    assert text(src) == "[0=>[0=>1],1=>[0=>2]]"
    assert text(r) == "[0=>[0=>2,1=>9],1=>[0=>1]]"
