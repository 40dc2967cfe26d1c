"""Unit tests of the HSL parser (hsl/syntax/parser.py, grammar/hsl.lark)."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hsl.syntax import ast as A
from hsl.errors import HSLSyntaxError
from hsl.syntax.parser import MAX_BRACKET_NESTING, decode_string_literal, parse


# ------------------------------------------------------------------ helpers

def sx(n) -> str:
    """A compact S-expression of an expression tree (for shape/precedence tests)."""
    t = type(n)
    if t is A.Number:
        v = n.value
        return str(int(v)) if v == int(v) else repr(v)
    if t is A.String:
        return repr(n.value.decode("utf-8", "surrogateescape"))
    if t is A.Var:
        return "$" + n.name
    if t is A.Bool:
        return "true" if n.value else "false"
    if t is A.NoneLit:
        return "none"
    if t is A.NameRef:
        return ("builtin " if n.builtin else "") + n.name
    if t is A.Binary:
        return f"({n.op} {sx(n.left)} {sx(n.right)})"
    if t is A.Logical:
        return f"({n.op} {sx(n.left)} {sx(n.right)})"
    if t is A.Coalesce:
        return f"(?? {sx(n.left)} {sx(n.right)})"
    if t is A.Concat:
        return "(. " + " ".join(sx(p) for p in n.parts) + ")"
    if t is A.Unary:
        return f"({n.op}u {sx(n.operand)})"
    if t is A.Cond:
        mid = "_" if n.then is None else sx(n.then)
        return f"(? {sx(n.test)} {mid} {sx(n.other)})"
    if t is A.Assign:
        return f"({n.op} {sx(n.target)} {sx(n.value)})"
    if t is A.Paren:
        return f"[{sx(n.expr)}]"
    if t is A.Call:
        return f"(call {sx(n.callee)}" + "".join(" " + sx(a) for a in n.args) + ")"
    if t is A.Index:
        return f"(idx {sx(n.target)} {'_' if n.index is None else sx(n.index)})"
    if t is A.Slice:
        parts = ["_" if x is None else sx(x) for x in (n.start, n.stop, n.step)]
        return f"(slice {sx(n.target)} {' '.join(parts)})"
    if t is A.Prop:
        return f"(-> {sx(n.target)} {n.name})"
    if t is A.Static:
        return f"{n.scope}::{'$' if n.is_var else ''}{n.member}"
    if t is A.IncDec:
        return f"({'pre' if n.prefix else 'post'}{n.op} {sx(n.target)})"
    if t is A.Spread:
        return f"(... {sx(n.value)})"
    if t is A.ArrayLit:
        items = []
        for it in n.items:
            items.append(sx(it.value) if it.key is None else f"{sx(it.key)}=>{sx(it.value)}")
        return "[" + ", ".join(items) + "]"
    if t is A.Isset:
        return f"(isset {sx(n.target)})"
    if t is A.Unset:
        return f"(unset {sx(n.target)})"
    return type(n).__name__


def expr(src: str):
    prog = parse(src + ";")
    assert len(prog.body) == 1, prog.body
    st = prog.body[0]
    assert type(st) is A.ExprStmt
    return st.expr


def E(src: str) -> str:
    return sx(expr(src))


def stmt(src: str):
    prog = parse(src)
    assert len(prog.body) == 1, prog.body
    return prog.body[0]


def err(src: str) -> HSLSyntaxError:
    with pytest.raises(HSLSyntaxError) as info:
        parse(src, "t.hsl")
    e = info.value
    assert "syntax error" in e.message
    assert e.line >= 1 and e.column >= 1
    return e


def errat(src: str, line: int, col: int, *fragments: str) -> HSLSyntaxError:
    e = err(src)
    assert (e.line, e.column) == (line, col), (e.line, e.column, e.message)
    for f in fragments:
        assert f.lower() in e.message.lower(), e.message
    return e


# ------------------------------------------------------------------ literals

@pytest.mark.parametrize("src,value", [
    ("42", 42.0), ("1_000_000", 1e6), ("3.25", 3.25), ("0.5", 0.5), ("010", 10.0),
    ("0xfa", 250.0), ("0xFF_FF", 65535.0), ("0o372", 250.0), ("0b1111_1010", 250.0),
    ("1_0.2_5", 10.25),
])
def test_numbers(src, value):
    n = expr(src)
    assert type(n) is A.Number and n.value == value


@pytest.mark.parametrize("src,hint", [
    ("1e3", "exponent"), ("1__0", "_"), ("1_", "_"), ("0X1", "lowercase"), ("0x_1", "_"),
    ("1.2.3", "decimal point"), ("0b102", ""), ("0o8", ""), ("12abc", ""),
])
def test_bad_numbers(src, hint):
    e = errat("$x = " + src + ";", 1, 6, "number", hint)
    assert src in e.message


def test_number_dot_is_concat():
    assert E("5 . 6") == "(. 5 6)"
    assert E("1.0 . 2.5") == "(. 1 2.5)"
    assert E("$a.5") == "(. $a 5)"          # `.5` is not a number literal
    assert E("5.foo") == "(. 5 foo)"


def test_strings_plain_and_escapes():
    n = expr(r'"a\\b\"c\$d\n\r\t\x41\x7a"')
    assert type(n) is A.String
    assert n.value == b'a\\b"c$d\n\r\tAz'
    assert expr('""').value == b""
    assert expr('"h\u00e9"').value == "h\u00e9".encode()
    assert expr('"line1\nline2"').value == b"line1\nline2"
    assert expr('"$"').value == b"$"
    assert expr('"$5 ${ x"').value == b"$5 ${ x"


def test_string_interpolation():
    n = expr('"Hello $name, ${unit}s $a[0] $obj->x"')
    assert type(n) is A.Interp
    parts = n.parts
    assert parts[0] == b"Hello "
    assert type(parts[1]) is A.Var and parts[1].name == "name"
    assert parts[2] == b", "
    assert parts[3].name == "unit"
    assert parts[4] == b"s "
    assert parts[5].name == "a" and parts[6] == b"[0] "
    assert parts[7].name == "obj" and parts[8] == b"->x"
    # positions of interpolated variables
    assert parts[1].span == A.Span(1, 8, 1, 13)
    assert parts[3].span == A.Span(1, 15, 1, 22)
    n = expr('"\\$a $b"')
    assert n.parts == [b"$a ", n.parts[1]] and n.parts[1].name == "b"


def test_string_interpolation_multiline_positions():
    prog = parse('echo "a\nxx $v";')
    v = prog.body[0].expr.parts[1]
    assert v.span == A.Span(2, 4, 2, 6)


@pytest.mark.parametrize("src,line,col", [
    ('echo "abc\\q";', 1, 10),
    ('echo "ab\ncd\\e";', 2, 3),
    ('echo "\\0";', 1, 7),
    ('echo "\\x4";', 1, 7),
    ('echo "\\u0041";', 1, 7),
])
def test_invalid_escapes(src, line, col):
    errat(src, line, col, "escape")


def test_raw_strings():
    assert expr("''a\\d+b''").value == b"a\\d+b"
    assert expr("'EOT'it's 100% raw'EOT'").value == b"it's 100% raw"
    assert expr("'abc'x\ny'abc'").value == b"x\ny"
    assert expr("''$a \\n''").value == b"$a \\n"
    assert type(expr("''x''")) is A.String
    assert E("''a'' . ''b''") == "(. 'a' 'b')"


def test_regex_literals():
    n = expr("#/^a\\/b[0-9]+$/iu")
    assert type(n) is A.Regex and n.pattern == b"^a\\/b[0-9]+$" and n.flags == "iu"
    assert expr("#/x/").flags == ""
    errat("$a = #/x/q;", 1, 10, "flag")


def test_bool_none():
    assert E("true") == "true" and E("false") == "false" and E("none") == "none"
    # keywords are case-sensitive
    assert E("True") == "True" and E("NONE") == "NONE"


def test_array_literals():
    assert E("[]") == "[]"
    assert E("[1, 2, 3,]") == "[1, 2, 3]"
    assert E('["a" => 1, 2, ...$x]') == "['a'=>1, 2, (... $x)]"
    assert E("array()") == "[]"
    assert E('array("a" => [1], 2,)') == "['a'=>[1], 2]"
    n = expr('[1, "k" => 2]')
    assert n.items[0].key is None and type(n.items[1].key) is A.String
    assert n.items[1].span == A.Span(1, 5, 1, 13)
    assert E("[1, 2][0]") == "(idx [1, 2] 0)"
    assert E('"Halon"[1]') == "(idx 'Halon' 1)"


# ------------------------------------------------------------------ comments

def test_comments():
    prog = parse("// line\necho 1; /* block\n * more */ echo 2; /**/ echo /* in */ 3;")
    assert [sx(s.expr) for s in prog.body] == ["1", "2", "3"]
    assert len(parse("echo 1; // trailing").body) == 1
    errat("echo 1;\n  /* never closed\n", 2, 3, "unterminated comment")
    errat("echo 1; # not a comment", 1, 9, "'#'")


# ------------------------------------------------------------------ precedence

@pytest.mark.parametrize("src,tree", [
    ("1 + 2 * 3", "(+ 1 (* 2 3))"),
    ("1 - 2 - 3", "(- (- 1 2) 3)"),
    ("2 ** 3 ** 2", "(** 2 (** 3 2))"),
    ("-2 ** 2", "(-u (** 2 2))"),
    ("2 ** -1", "(** 2 (-u 1))"),
    ("!$a ** 2", "(!u (** $a 2))"),
    ('"x" . 1 + 2', "(. 'x' (+ 1 2))"),
    ('2 + 2 . "x"', "(. (+ 2 2) 'x')"),
    ('"a" . "b" == "ab"', "(== (. 'a' 'b') 'ab')"),
    ('"%s" % [1] . "!"', "(. (% '%s' [1]) '!')"),
    ("1 << 2 . 3", "(. (<< 1 2) 3)"),
    ("1 + 2 << 3", "(<< (+ 1 2) 3)"),
    ("$a < $b == $c", "(== (< $a $b) $c)"),
    ("$a < $b < $c", "(< (< $a $b) $c)"),
    ("$a & $b ^ $c | $d", "(| (^ (& $a $b) $c) $d)"),
    ("$a == $b & $c", "(& (== $a $b) $c)"),
    ("$a | $b and $c", "(and (| $a $b) $c)"),
    ("$a or $b and $c", "(or $a (and $b $c))"),
    ("$a and $b or $c", "(or (and $a $b) $c)"),
    ("$a ?? $b ?? $c", "(?? $a (?? $b $c))"),
    ("$a or $b ?? $c", "(?? (or $a $b) $c)"),
    ("$a ? $b : $c ? $d : $e", "(? $a $b (? $c $d $e))"),
    ("$a ?: $b", "(? $a _ $b)"),
    ("$a ? : $b", "(? $a _ $b)"),
    ("$a ?: $b ?: $c", "(? $a _ (? $b _ $c))"),
    ("$a ?? $b ? 1 : 2", "(? (?? $a $b) 1 2)"),
    ("$a ? $x = 1 : 2", "(? $a (= $x 1) 2)"),
    ("$a = $b = 1", "(= $a (= $b 1))"),
    ("$x = $p or $q", "(= $x (or $p $q))"),
    ("$x = $a ? 1 : 2", "(= $x (? $a 1 2))"),
    ("$t .= $a . $b", "(.= $t (. $a $b))"),
    ("!$line = $f($s)", "(!u (= $line (call $f $s)))"),
    ("not $a and $b", "(and (!u $a) $b)"),
    ("- - 1", "(-u (-u 1))"),
    ("+$a", "(+u $a)"),
    ("~5", "(~u 5)"),
    ("-$a++", "(-u (post++ $a))"),
    ("$a++ ** 2", "(** (post++ $a) 2)"),
    ("-$a ** -$b ** 2", "(-u (** $a (-u (** $b 2))))"),
    ("$c ? $a : $b = 1", "(? $c $a (= $b 1))"),
    ("$a + $b ? 1 : 2", "(? (+ $a $b) 1 2)"),
    ("$a ? 1 : 2 + 3", "(? $a 1 (+ 2 3))"),
    ("$a =~ #/x/ == true", "(== (=~ $a Regex) true)"),
    ("$a !~ $b", "(!~ $a $b)"),
    ("$a=~$b", "(=~ $a $b)"),
    ("1 - -1", "(- 1 (-u 1))"),
    ("$a >>> 2 >> 1", "(>> (>>> $a 2) 1)"),
    ("$a !== $b === $c", "(=== (!== $a $b) $c)"),
    ("$a <= $b >= $c", "(>= (<= $a $b) $c)"),
    ("10 / 4 % 3 * 2", "(* (% (/ 10 4) 3) 2)"),
    ("($a + $b) * $c", "(* [(+ $a $b)] $c)"),
])
def test_precedence(src, tree):
    assert E(src) == tree


def test_concat_is_flat():
    n = expr('$a . "b" . $c . 1 + 2 . $d')
    assert type(n) is A.Concat and len(n.parts) == 5
    assert sx(n) == "(. $a 'b' $c (+ 1 2) $d)"
    assert n.span == A.Span(1, 1, 1, 27)
    # a parenthesised concat stays a separate node
    assert E('$a . ($b . $c)') == "(. $a [(. $b $c)])"


@pytest.mark.parametrize("op", ["=", "+=", "-=", "*=", "/=", "%=", "**=", ".=", "??=",
                                "&=", "|=", "^=", "<<=", ">>=", ">>>="])
def test_compound_assignment(op):
    assert E(f"$a {op} 1") == f"({op} $a 1)"


def test_maximal_munch_of_not_match():
    # spec 2.8: `!~` is always the regex not-match operator, even where an operand is due
    errat("echo !~0;", 1, 6, "unexpected '!~'", "expected expression")
    errat("$a = !~$b;", 1, 6, "unexpected '!~'")
    errat("f(!~$x);", 1, 3, "unexpected '!~'")
    assert E("! ~0") == "(!u (~u 0))"
    assert E("!(~0)") == "(!u [(~u 0)])"
    assert E("$a!~$b") == "(!~ $a $b)"
    assert E("$a=~$b") == "(=~ $a $b)"
    assert E("!$a !~ $b") == "(!~ (!u $a) $b)"
    # other operators still split where the longer one cannot follow (slices: `[::2]`)
    assert E("$a[::2]") == "(slice $a _ _ 2)"
    assert E("$a[1::2]") == "(slice $a 1 _ 2)"
    assert E("A::b") == "A::b"


# ------------------------------------------------------------------ postfix

def test_postfix_chains():
    assert E("$a[0][1]") == "(idx (idx $a 0) 1)"
    assert E("$o->a->b(1)") == "(call (-> (-> $o a) b) 1)"
    assert E("$f(1)(2)") == "(call (call $f 1) 2)"
    assert E("f(1, ...$r, 2,)") == "(call f 1 (... $r) 2)"
    assert E("f()") == "(call f)"
    assert E("Foo::bar(1)") == "(call Foo::bar 1)"
    assert E("Foo::$x[1]") == "(idx Foo::$x 1)"
    assert E("static::f()") == "(call static::f)"
    assert E("static::$count") == "static::$count"
    assert E("File::String(\"x\")->toString()") == "(call (-> (call File::String 'x') toString))"
    assert E("function ($x) { return $x; }(21)") == "(call FuncExpr 21)"
    assert E("$a[1:2]") == "(slice $a 1 2 _)"
    assert E("$a[:]") == "(slice $a _ _ _)"
    assert E("$a[::-1]") == "(slice $a _ _ (-u 1))"
    assert E("$a[1:]") == "(slice $a 1 _ _)"
    assert E("$a[:2]") == "(slice $a _ 2 _)"
    assert E("$a[::2]") == "(slice $a _ _ 2)"
    assert E("$a[1:2:3]") == "(slice $a 1 2 3)"
    assert E("$a[1::3]") == "(slice $a 1 _ 3)"
    assert E('"abc"[::-1]') == "(slice 'abc' _ _ (-u 1))"
    assert E("$a++") == "(post++ $a)"
    assert E("$a--") == "(post-- $a)"
    assert E("++$a[0]") == "(pre++ (idx $a 0))"
    assert E("--$o->x") == "(pre-- (-> $o x))"
    assert E("Foo::$n++") == "(post++ Foo::$n)"
    assert E("$a[] = 1") == "(= (idx $a _) 1)"
    assert E('$a["x"][] = 1') == "(= (idx (idx $a 'x') _) 1)"
    assert E("$f()->x = 1") == "(= (-> (call $f) x) 1)"
    assert E("$a[1:3] = [1]") == "(= (slice $a 1 3 _) [1])"


def test_member_names_may_be_keywords():
    # published code does not do it, but a member name after -> is just a name
    assert E("$o->default") == "(-> $o default)"
    assert E("$o->match(1)") == "(call (-> $o match) 1)"


def test_name_refs_and_builtin():
    n = expr("str_lower")
    assert type(n) is A.NameRef and n.name == "str_lower" and not n.builtin
    n = expr("builtin str_lower")
    assert type(n) is A.NameRef and n.builtin and n.span == A.Span(1, 1, 1, 18)
    assert E("builtin f(1)") == "(call builtin f 1)"
    assert E("array_filter(is_number, $l)") == "(call array_filter is_number $l)"


def test_isset_unset():
    assert E("isset($a)") == "(isset $a)"
    assert E('isset($a["k"]["j"])') == "(isset (idx (idx $a 'k') 'j'))"
    assert E("isset($o->p)") == "(isset (-> $o p))"
    assert E("unset($a[1:3])") == "(unset (slice $a 1 3 _))"
    assert E("unset(Foo::$x)") == "(unset Foo::$x)"


def test_match():
    n = expr('match ($x) { 1, 2 => "a", "b" => "c", default => none, }')
    assert type(n) is A.Match and sx(n.subject) == "$x"
    assert [None if a.conditions is None else [sx(c) for c in a.conditions] for a in n.arms] \
        == [["1", "2"], ["'b'"], None]
    assert sx(n.arms[2].result) == "none"
    assert n.span == A.Span(1, 1, 1, 57)


def test_cache_call():
    n = expr('cache ["ttl" => 60] dns_query("x", 1)')
    assert type(n) is A.CacheCall and n.name == "dns_query" and not n.builtin
    assert [sx(a) for a in n.args] == ["'x'", "1"] and len(n.options.items) == 1
    assert n.scope is None
    n = expr("cache [] builtin http($u,)")
    assert n.builtin and n.name == "http" and len(n.args) == 1
    n = expr('cache ["size" => 1] KVP::store($k, none)')
    assert n.scope == "KVP" and n.name == "store" and len(n.args) == 2
    n = expr("cache [] static::f()")
    assert n.scope == "static" and n.name == "f" and n.args == []


def test_function_expressions():
    n = expr("function ($a, $b = 2, ...$r) closure ($x, $y) { return $a; }")
    assert type(n) is A.FuncExpr
    assert [(p.name, p.default is not None, p.variadic) for p in n.params] == \
        [("a", False, False), ("b", True, False), ("r", False, True)]
    assert n.captures == ["x", "y"]
    assert type(n.body[0]) is A.Return
    n = expr("function () {}")
    assert n.params == [] and n.captures == [] and n.body == []


def test_destructuring():
    n = expr("[$a, $b = 1, ...$r] = $v")
    assert type(n) is A.Destructure and not n.keyed and n.rest == "r"
    assert [(t.name, None if t.default is None else sx(t.default)) for t in n.targets] == \
        [("a", None), ("b", "1")]
    assert sx(n.value) == "$v"
    n = expr('["k" => $x, "j" => $y = "d"] = f()')
    assert n.keyed and n.rest is None
    assert [(sx(t.key), t.name, t.default) for t in n.targets][0] == ("'k'", "x", None)
    assert sx(n.targets[1].default) == "'d'"
    n = expr("[...$all] = $v")
    assert n.targets == [] and n.rest == "all"
    assert type(expr("$z = [$a, $b] = $v").value) is A.Destructure


@pytest.mark.parametrize("src,frag", [
    ("[$a, [$b]] = $x;", "nested"),
    ('["a" => $a, $b] = $x;', "mixed"),
    ("[...$r, $a] = $x;", "last"),
    ("[$a[0]] = $x;", "variable"),
    ("[1] = $x;", "variable"),
    ("[] = $x;", "empty"),
    ("[$a] += $x;", "'='"),
    ('["a" => ...$r] = $x;', "..."),
    ("[...f()] = $x;", "variable"),
])
def test_bad_destructuring(src, frag):
    e = err(src)
    assert frag in e.message


# ------------------------------------------------------------------ lvalues

@pytest.mark.parametrize("src,line,col,frag", [
    ("($a) = 1;", 1, 1, "parenthesised"),
    ("f() = 1;", 1, 1, "call"),
    ("$a + 1 = 2;", 1, 6, "assignable"),
    ("1 = 2;", 1, 1, "assignable"),
    ("Foo::bar = 1;", 1, 1, "not a variable"),
    ("$f()++;", 1, 1, "call"),
    ("++($a);", 1, 3, "parenthesised"),
    ("isset(f());", 1, 7, "isset"),
    ("isset($a[1:2]);", 1, 7, "slice"),
    ("unset(1);", 1, 7, "unset"),
    ("isset($a[]);", 1, 7, "[]"),
    ("echo $a[];", 1, 6, "[]"),
    ("$b = $a[];", 1, 6, "[]"),
    ("$a[] += 1;", 1, 1, "[]"),
    ("$a[]++;", 1, 1, "[]"),
])
def test_bad_lvalues(src, line, col, frag):
    errat(src, line, col, frag)


# ------------------------------------------------------------------ statements

def test_echo_and_expression_statements():
    s = stmt("echo 1 + 2;")
    assert type(s) is A.Echo and sx(s.expr) == "(+ 1 2)"
    assert s.span == A.Span(1, 1, 1, 12)
    s = stmt("$a = 1;")
    assert type(s) is A.ExprStmt and s.span == A.Span(1, 1, 1, 8)
    assert type(stmt(";")) is A.Empty
    assert parse("").body == [] and parse("  // nothing\n").body == []


def test_if_else_dangling():
    s = stmt("if ($a) if ($b) echo 1; else echo 2;")
    assert type(s) is A.If and s.other is None
    assert type(s.then) is A.If and type(s.then.other) is A.Echo
    s = stmt("if ($a) { echo 1; } else if ($b) { echo 2; } else echo 3;")
    assert type(s.other) is A.If and type(s.other.other) is A.Echo


def test_loops():
    s = stmt("for ($i = 0; $i < 10; $i++) echo $i;")
    assert type(s) is A.For and sx(s.init) == "(= $i 0)" and sx(s.step) == "(post++ $i)"
    s = stmt("for (;;) break;")
    assert s.init is None and s.test is None and s.step is None and type(s.body) is A.Break
    s = stmt("for (; $x;) {}")
    assert s.init is None and sx(s.test) == "$x" and s.step is None
    s = stmt("foreach ($a as $v) {}")
    assert type(s) is A.Foreach and s.key is None and s.value == "v"
    s = stmt("foreach (f() as $k => $v) continue;")
    assert s.key == "k" and s.value == "v" and type(s.body) is A.Continue
    s = stmt("while ($x = f()) {}")
    assert type(s) is A.While and sx(s.test) == "(= $x (call f))"
    s = stmt("forever { break; }")
    assert type(s) is A.Forever and type(s.body) is A.Block


def test_switch():
    s = stmt('switch ($x) { case 1: case 2: echo "a"; break; default: echo "d"; case 3: }')
    assert type(s) is A.Switch
    assert [None if c.test is None else sx(c.test) for c in s.cases] == ["1", "2", None, "3"]
    assert [len(c.body) for c in s.cases] == [0, 2, 1, 0]
    s = stmt("switch ($x) { }")
    assert s.cases == []
    s = stmt("switch ($x) { case 1: return 2 }")
    assert type(s.cases[0].body[0]) is A.Return
    assert s.unreachable == []
    errat("switch ($x) { default: break; default: }", 1, 31, "default")


def test_switch_statements_before_the_first_label():
    # spec 6.9: allowed; they never run, so they are kept apart from the cases
    s = stmt("switch ($x) { echo 1; $y = 2; case 1: echo 3; }")
    assert [type(x) for x in s.unreachable] == [A.Echo, A.ExprStmt]
    assert len(s.cases) == 1 and sx(s.cases[0].test) == "1"
    assert [type(x) for x in s.cases[0].body] == [A.Echo]
    assert (s.unreachable[0].line, s.unreachable[0].col) == (1, 15)
    s = stmt("switch ($x) { echo 1; }")
    assert s.cases == [] and len(s.unreachable) == 1
    s = stmt("switch ($x) { echo 1 }")          # the last `;` may be omitted before `}`
    assert len(s.unreachable) == 1
    assert A.Switch(A.NOSPAN, None, []).unreachable == []
    # the generic walker sees them (for checkers)
    s = stmt("switch ($x) { echo 1; default: }")
    assert any(type(n) is A.Echo for n in A.iter_child_nodes(s))


def test_function_declarations():
    s = stmt("function add($a, $b = 1, ...$rest) { return $a + $b; }")
    assert type(s) is A.FunctionDecl and s.name == "add"
    assert s.name_span == A.Span(1, 10, 1, 13)
    assert [p.name for p in s.params] == ["a", "b", "rest"] and s.params[2].variadic
    s = stmt("function f() { }")
    assert s.params == [] and s.body == []
    s = stmt("function f() { return $x * $y }")       # missing ';' before '}'
    assert type(s.body[0]) is A.Return
    s = stmt("function f($a = [1, 2], $b = 10 * 1024) {}")
    assert sx(s.params[1].default) == "(* 10 1024)"


@pytest.mark.parametrize("src,line,col,frag", [
    ("function if() {}", 1, 10, "keyword"),
    ("function object() {}", 1, 10, "keyword"),
    ("function yield() {}", 1, 10, "keyword"),
    ("function new() {}", 1, 10, "reserved"),
    ("class echo {}", 1, 7, "keyword"),
    ("class Foo { function while() {} }", 1, 22, "keyword"),
    ("function f($a = 1, $b) {}", 1, 20, "default"),
    ("function f(...$a, $b) {}", 1, 12, "last"),
    ("$f = function (...$a, $b) {};", 1, 16, "last"),
    ("$a = yield;", 1, 6, "yield"),
    ("$a = object;", 1, 6, "object"),
    ("echo if;", 1, 6, "keyword 'if'"),
])
def test_bad_names_and_params(src, line, col, frag):
    errat(src, line, col, frag)


def test_class_declaration():
    s = stmt("""class Meter {
    private $count = 0;
    readonly $unit = "msg";
    static $created = 0;
    private readonly $secret;
    constructor($start = 0) { $this->count = $start; Meter::$created += 1; }
    function add($n = 1) { $this->count += $n; return $this; }
    static private function make() { return Meter(); }
}""")
    assert type(s) is A.ClassDecl and s.name == "Meter" and s.name_span == A.Span(1, 7, 1, 12)
    m = s.members
    assert [type(x).__name__ for x in m] == ["ClassVar"] * 4 + ["Constructor", "ClassMethod",
                                                                 "ClassMethod"]
    assert (m[0].name, m[0].private, m[0].static, m[0].readonly) == ("count", True, False, False)
    assert (m[1].readonly, m[2].static) == (True, True)
    assert m[3].private and m[3].readonly and m[3].default is None
    assert [p.name for p in m[4].params] == ["start"]
    assert m[5].name == "add" and not m[5].static
    assert m[6].static and m[6].private
    assert stmt("class E {}").members == []
    errat("class A { private private $x; }", 1, 19, "duplicate")
    errat("class A { readonly function f() {} }", 1, 11, "readonly")


def test_other_statements():
    s = stmt("return;")
    assert type(s) is A.Return and s.value is None
    assert sx(stmt("return 1;").value) == "1"
    s = stmt("global $a, $b;")
    assert type(s) is A.Global and s.names == ["a", "b"]
    assert type(stmt('throw Exception("x");')) is A.Throw
    s = stmt("try { f(); } catch ($e) { echo $e; }")
    assert type(s) is A.Try and s.var == "e" and len(s.body) == 1 and len(s.handler) == 1
    s = stmt('barrier "name" { }')
    assert type(s) is A.Barrier and s.var is None and s.body == []
    s = stmt('barrier "n" . $x => $shared { $shared = 1; }')
    assert s.var == "shared" and type(s.name) is A.Concat
    s = stmt('include "file:a.hsl";')
    assert type(s) is A.Include and s.path == b"file:a.hsl" and not s.once
    s = stmt("include_once ''lib.hsl'';")
    assert s.once and s.path == b"lib.hsl"
    errat('include "a$b.hsl";', 1, 9, "constant")
    assert type(stmt("{ echo 1; echo 2; }")) is A.Block


def test_imports():
    s = stmt('import { f, g as h, $x, $y as $z, } from "extras://mod";')
    assert type(s) is A.ImportSymbols and s.path == b"extras://mod"
    assert [(i.name, i.alias, i.is_var) for i in s.items] == \
        [("f", None, False), ("g", "h", False), ("x", None, True), ("y", "z", True)]
    s = stmt('import * as ns from "lib.hsl";')
    assert type(s) is A.ImportAll and s.alias == "ns" and s.path == b"lib.hsl"
    s = stmt('import $data from "a.csv" with ["header" => false];')
    assert type(s) is A.ImportData and s.var == "data" and type(s.options) is A.ArrayLit
    assert stmt('import $t from "txt!m.eml";').options is None
    assert sx(expr("ns::f(1)")) == "(call ns::f 1)"


def test_missing_semicolon_before_brace():
    prog = parse("if ($a) { echo 1 } function f() { global $x }\n{ break }")
    assert type(prog.body[0].then.body[0]) is A.Echo
    assert type(prog.body[1].body[0]) is A.Global
    assert type(prog.body[2].body[0]) is A.Break
    prog = parse("{ if ($a) return 1 } { if ($a) { } else echo 2 } { foreach ($l as $v) echo $v }"
                 "{ while (1) if (2) break } function g() { for (;;) forever continue }")
    assert type(prog.body[0].body[0].then) is A.Return
    assert type(prog.body[1].body[0].other) is A.Echo
    assert type(prog.body[2].body[0].body) is A.Echo
    assert type(prog.body[3].body[0].body.then) is A.Break
    assert type(prog.body[4].body[0].body.body) is A.Continue
    errat("{ if ($a) echo 1 else echo 2; }", 1, 18, "expected ';'")
    errat("echo 1\necho 2;", 2, 1, "expected ';'")
    errat("echo 1", 1, 7, "end of file", "';'")


# ------------------------------------------------------------------ positions

def test_positions():
    src = "function f($a) {\n    return $a[1] + g($a, 2);\n}\n"
    prog = parse(src, "x.hsl")
    assert prog.filename == "x.hsl"
    f = prog.body[0]
    assert f.span == A.Span(1, 1, 3, 2)
    ret = f.body[0]
    assert ret.span == A.Span(2, 5, 2, 29)
    add = ret.value
    assert add.span == A.Span(2, 12, 2, 28)
    assert add.left.span == A.Span(2, 12, 2, 17)
    assert add.right.span == A.Span(2, 20, 2, 28)
    assert add.right.args[1].span == A.Span(2, 26, 2, 27)
    assert f.params[0].span == A.Span(1, 12, 1, 14)
    # tabs and non-ASCII count as one column each
    prog = parse('\t$s = "h\u00e9llo" . $b;')
    concat = prog.body[0].expr.value
    assert concat.parts[1].span == A.Span(1, 17, 1, 19)


def test_every_node_has_a_span():
    src = """
import { f } from "m";
function g($a, ...$r) { global $x; return [$a => 1, ...$r]; }
class C { static $n = 1; constructor() {} function m() { return static::$n; } }
$v = match ($a) { 1 => "$x y", default => ''raw'' };
[$p, $q = 1] = cache [] g(1, 2);
foreach ($l as $k => $e) { if (isset($e[0])) continue; else unset($e[1:2]); }
switch ($v) { case 1: break; default: echo -$v ** 2 ?: none; }
try { throw #/x/i; } catch ($err) { $z = $a ?? $b ? $c : $d; }
barrier "b" => $s { $s[] = $v->x[1]++; }
$h = function () closure ($v) { return builtin strlen; };
while (false) { for (;;) { forever break; } }
"""
    prog = parse(src)
    stack = [prog]
    count = 0
    while stack:
        n = stack.pop()
        count += 1
        s = n.span
        assert s.line >= 1 and s.col >= 1, n
        assert (s.end_line, s.end_col) > (s.line, s.col), n
        stack.extend(A.iter_child_nodes(n))
        if type(n) is A.Interp:
            stack.extend(p for p in n.parts if isinstance(p, A.Node))
    assert count > 100


# ------------------------------------------------------------------ errors

def test_error_messages_use_words():
    errat("echo 1 echo 2;", 1, 8, "unexpected keyword 'echo'", "expected ';'")
    errat("$a = ;", 1, 6, "unexpected ';'", "expected expression")
    errat("foo(1 2);", 1, 7, "unexpected number '2'", "')'")
    errat("if $a {}", 1, 4, "unexpected variable '$a'", "expected '('")
    errat("function 1() {}", 1, 10, "identifier")
    errat("$a = [1, 2;", 1, 11, "unexpected ';'", "']'")
    errat("try {} catch {}", 1, 14, "expected '('")
    errat("$x = 1 2;", 1, 8, "unexpected number")
    for src in ["echo 1 echo 2;", "}", "foo(1 2);", "a b c", "$a = [1, 2;", ")", "f(,)",
                "echo 'x'y'x' 'y';", "class { }", "function f( {}"]:
        m = err(src).message
        assert "__ANON" not in m and "RPAR" not in m and "SEMICOLON" not in m \
            and "LSQB" not in m and "$END" not in m, m


def test_eof_errors_name_the_open_bracket():
    errat("function f() {\n  echo 1;\n", 3, 1, "end of file", "'}'", "block opened at 1:14")
    errat("echo f(1,\n2", 2, 2, "end of file", "')'", "1:7")
    errat("$a = [1, [2,\n", 2, 1, "end of file", "']'", "1:10")
    errat("if ($a) { while (1) { echo 1; }", 1, 32, "end of file", "'}'", "1:9")
    # a bracket closed on the parser's stack (not yet reduced) is not named
    e = errat("echo [1, 2] ", 1, 13, "end of file", "expected ';' after expression")
    assert "missing" not in e.message
    e = errat("if ($a) { echo f(1) ", 1, 21, "missing '}'", "1:9")


def test_unterminated_literals_at_opening_position():
    errat('echo 1;\necho "abc;\n', 2, 6, "unterminated string")
    errat("echo ''abc;", 1, 6, "unterminated raw string")
    errat("echo 'EOT'abc'EO';", 1, 6, "unterminated raw string")
    errat("/* x", 1, 1, "unterminated comment")


def test_specific_character_messages():
    errat("echo \u201chello\u201d;", 1, 6, "typographic quote")
    errat("echo\u00a01;", 1, 5, "no-break space")
    errat("$a = 1 @ 2;", 1, 8, "unexpected character '@'")
    errat("$a = 1; `ls`;", 1, 9, "unexpected character")
    # inside strings and comments they are fine
    assert parse('echo "\u201cq\u201d\u00a0"; // \u201c\u00a0').body


def positions(src: str) -> list:
    return [(d.line, d.column) for d in err(src).diagnostics]


@pytest.mark.parametrize("src,expected", [
    # after a syntax error the statement is skipped to a `;` at its bracket depth...
    ("$a = ;\necho 1;\n$b = 1 +;", [(1, 6), (3, 9)]),
    ("foo(1 2);\necho 1;\n$x = 1 + ;", [(1, 7), (3, 10)]),
    ("$a = [1, 2;\necho 3;\n$b = (;", [(1, 11), (3, 7)]),
    ("echo \u201chello\u201d;\n$x = ;", [(1, 6), (2, 6)]),
    # ... or to the `}` of its block, or past a statement that ends with a block
    ("function f() {\n if ($a == 1 {\n echo 1;\n }\n}\n$y = 1 +;", [(2, 14), (6, 9)]),
    ("if ($a == 1 { echo 1; }\necho 2;\n$x = f() + ;", [(1, 13), (3, 12)]),
    ("for ($i = 0; $i < ; $i++) { echo 1; }\n$x = foo(1) + ;", [(1, 19), (2, 15)]),
    ("if ($x +) { echo 1; } else { echo 2; }\n$y = 1 + ;", [(1, 9), (2, 10)]),
    ("while ($x { echo 1; }\necho 2 + ;", [(1, 11), (2, 10)]),
    ("$f = function( { return 1; };\n$z = ;", [(1, 16), (2, 6)]),
    ("switch ($x) { case 1: $a = ; break; case 2: $b = ; }", [(1, 28), (1, 50)]),
    # class members
    ("class C { private $x = ; function m() { $y = ; } }", [(1, 24), (1, 46)]),
    ("class C {\n  function m( { return 1; }\n  function n() { $q = ; }\n}", [(2, 15), (3, 23)]),
    # a top-level declaration at column 1 is a safe place to go on
    ("function f( {\n echo 1;\n}\nfunction g() { $x = ; }", [(1, 13), (4, 21)]),
    # errors found by the builder do not disturb the parse
    ("echo 1e3; echo 0X1; $a = 1 +;", [(1, 6), (1, 16), (1, 29)]),
    ("function echo() {}\nfunction f() { $x = ; }", [(1, 10), (2, 21)]),
    # ... unless the statement is broken anyway: one error
    ("try {\n  $a = 1;\n  catch ($e) { echo 1; }\n$x = 2;", [(3, 3)]),
    # a missing `{` is inserted; a missing `}` is found where the structure breaks
    ("function f()\n    echo 1;\n}\n$x = ;", [(2, 5), (4, 6)]),
    ("class A {\n    function f() {\n        return 1;\n    }\n\nif ($x) {}\n$y = 1;", [(6, 1)]),
    ("function f() {\n    if ($x) {\n        return 1;\n\n}\n$y = 1;", [(6, 8)]),
    # one typo, one error: the rest of a block that an extra `}` closed is skipped
    ("class C {\n    private $a = 1;}\n    function f() { return 1; }\n}\n$x = 1;", [(4, 1)]),
    ("class C {\n    private $a = 1;}\n    private $b = 2;\n}\n$x = 1;", [(3, 13)]),
    ("function f() {\n    $a = 1;}\n    return $a;\n}\necho f();", [(4, 1)]),
    ("try {\n    $a = 1;}\n    $b = 2;\n} catch ($e) {}\n$x = 1;", [(3, 5)]),
    # an end-of-file error after another error is not reported if it names a bracket
    ("$a = ;\nfunction f() {\n echo 1;\n", [(1, 6)]),
    ("$a = ;\necho 1", [(1, 6), (2, 7)]),
    # lexical errors that make the rest unreliable end the list
    ("$a = ;\necho 1;\necho \"abc;\n$b = ;", [(1, 6), (3, 6)]),
    # an append outside an assignment is reported with the other errors
    ("$a = ;\necho 1;\necho 2;\n$b[];", [(1, 6), (4, 1)]),
])
def test_error_recovery(src, expected):
    assert positions(src) == expected


def test_error_recovery_reports_at_most_max_errors():
    from hsl.syntax.parser import MAX_ERRORS
    src = "".join("function f%d() {\n    $x = ;\n    echo 1;\n}\n" % i for i in range(25))
    e = err(src)
    assert [(d.line, d.column) for d in e.diagnostics] == [(2 + 4 * i, 10)
                                                           for i in range(MAX_ERRORS)]


def test_error_recovery_on_garbage_is_bounded():
    import time
    t = time.perf_counter()
    e = err(") ] } ; " * 5000 + "\n" + "$x = ;\n" * 5000)
    assert 1 <= len(e.diagnostics) <= 10
    assert time.perf_counter() - t < 10


def test_multiple_errors_without_cascades():
    src = ("function a() { echo 1 echo 2; }\n"
           "function b() { return 1; }\n"
           "function c() { $x = ; }\n")
    e = err(src)
    assert [(d.line, d.column) for d in e.diagnostics] == [(1, 23), (3, 21)]
    assert all("syntax error" in d.message for d in e.diagnostics)
    # lexical errors are reported alone
    e = err('echo "abc;\nfunction f() { $x = ; }\n')
    assert len(e.diagnostics) == 1


def test_break_with_level_is_an_error():
    errat("while (1) { break 2; }", 1, 19, "unexpected number")


def test_other_syntax_errors():
    for src in ["echo 1,2;", "elseif ($a) {}", "$a = new Foo();", "$a && $b;", "$a || $b;",
                "$a?->b;", "echo 1 <=> 2;", "do { } while (1);", "catch ($e) {}",
                "try {} catch () {}", "function () {}", "$a->$b;", "f(...);", "$a = 1 +;",
                "class A extends B {}", "match ($a) {}", "$a[1:2:3:4];", "static $x = 1;",
                "foreach ($a as f()) {}", "global $a[0];", "import f from \"x\";",
                "echo (1;", "echo [1;", "echo 1);", "{", "}", "echo $;", "$ a = 1;",
                "isset();", "unset($a, $b);", "$x = cache foo();", "cache [] $f();"]:
        err(src)


def test_non_string_source_is_decoded():
    prog = parse(b'echo "\xc3\xa9";')
    assert prog.body[0].expr.value == "\u00e9".encode()


# ------------------------------------------------------------------ long / deep input

def test_long_concat_chain():
    src = "echo " + " . ".join(f'"x{i}"' for i in range(5000)) + ";"
    n = parse(src).body[0].expr
    assert type(n) is A.Concat and len(n.parts) == 5000


@pytest.mark.parametrize("kind", ["paren", "array", "block", "call", "if", "index", "func"])
def test_deep_nesting_500(kind):
    d = 500
    src = {
        "paren": "echo " + "(" * d + "1" + ")" * d + ";",
        "array": "echo " + "[" * d + "1" + "]" * d + ";",
        "block": "{" * d + "echo 1;" + "}" * d,
        "call": "echo " + "f(" * d + "1" + ")" * d + ";",
        "if": "if (1) " * d + "echo 1;",
        "index": "echo $a" + "[$a" * d + "]" * d + ";",
        "func": "$f = " + "function () { return " * d + "1" + "; }" * d + ";",
    }[kind]
    prog = parse(src)
    assert prog.body


def test_long_chains_of_other_operators():
    parse("echo " + " + ".join(["1"] * 5000) + ";")
    parse("echo " + "- " * 3000 + "1;")
    parse("echo " + "1 ? 2 : " * 3000 + "3;")
    parse("$a = " * 3000 + "1;")
    parse("echo " + "$a ?? " * 3000 + "1;")
    parse("echo " + "2 ** " * 3000 + "1;")
    parse("echo 1;\n" * 20000)


def test_nesting_limit_is_a_clean_error():
    d = MAX_BRACKET_NESTING + 1
    e = err("echo " + "(" * d + "1" + ")" * d + ";")
    assert "nested too deeply" in e.message
    assert (e.line, e.column) == (1, 6 + MAX_BRACKET_NESTING)
    # brackets inside strings/comments do not count
    parse('echo "' + "(" * (MAX_BRACKET_NESTING + 5) + '"; // ' + "[" * (MAX_BRACKET_NESTING + 5))


def test_decode_string_literal_helper():
    from lark import Token
    tok = Token("STRING", '"a\\tb$c"', 0, 1, 1, 1, 9, 9)
    n = decode_string_literal(tok)
    assert type(n) is A.Interp and n.parts[0] == b"a\tb" and n.parts[1].name == "c"


# ------------------------------------------------------------------ tables, cache, threads

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, cache=None, **env) -> str:
    """Run `code` in a fresh interpreter; `cache`: a directory to use as the only places
    where cached tables can be (XDG_CACHE_HOME, HOME and TMPDIR)."""
    full = dict(os.environ)
    if cache is not None:
        full.update(XDG_CACHE_HOME=str(cache), HOME=str(cache), TMPDIR=str(cache))
    full.update(env)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_warm_start_does_not_import_lark(tmp_path):
    code = ("import sys, hsl.syntax.parser as P; P.parse('echo 1;'); "
            "print('lark' in sys.modules, sorted(m for m in sys.modules if 'lalr' in m))")
    cold = run_python(code, cache=tmp_path)          # builds and caches
    assert cold.split()[0] == "True"
    assert [p.name for p in (tmp_path / "hsl").iterdir()
            if p.name.startswith("hsl-parser-")]
    warm = run_python(code, cache=tmp_path)
    assert warm.strip() == "False ['hsl.syntax._lalr']"     # no Lark, no recovery module


def test_stale_or_broken_cache_is_rebuilt(tmp_path):
    code = "import hsl.syntax.parser as P; print(len(P.parse('echo 1; echo 2;').body))"
    assert run_python(code, cache=tmp_path).strip() == "2"
    d = tmp_path / "hsl"
    [cache] = [p for p in d.iterdir() if p.name.startswith("hsl-parser-")]
    cache.write_bytes(b"\x00garbage")
    (d / "hsl-parser-0000000000000000.marshal").write_bytes(b"old grammar")
    (d / "hsl-grammar-0123.lark.cache").write_bytes(b"previous parser")
    assert run_python(code, cache=tmp_path).strip() == "2"
    names = sorted(p.name for p in d.iterdir())
    assert names == [cache.name]                     # rebuilt; other versions removed
    assert cache.read_bytes() != b"\x00garbage"


def test_unwritable_cache_falls_back_to_building_in_memory():
    code = ("import hsl.cache as C; C.directory = lambda: None; "
            "import hsl.syntax.parser as P; print(len(P.parse('echo 1;').body)); "
            "from hsl.errors import HSLSyntaxError\n"
            "try:\n    P.parse('echo !~0;')\n"
            "except HSLSyntaxError as e:\n    print(e.line, e.column)")
    assert run_python(code).split() == ["1", "1", "6"]


def test_tables_match_a_fresh_build():
    # (Lark numbers the states differently from one process to another)
    from hsl.syntax import _lalr
    from hsl.syntax._lalr_build import build_tables
    from hsl.syntax.parser import _get_runtime, _grammar_text
    tables, _ = _get_runtime()
    fresh = build_tables(_grammar_text())
    for k in ("terminals", "lexer"):
        assert tables.data[k] == fresh[k], k
    assert len(tables.data["actions"]) == len(fresh["actions"])
    assert sorted(tables.data["rules"]) == sorted(fresh["rules"])
    assert fresh["format"] == _lalr.FORMAT


def test_parse_in_threads():
    srcs = ["echo %d; $a%d = [%d, 2] . f();" % (i, i, i) for i in range(8)]
    expected = [repr(parse(s)) for s in srcs]
    results = {}

    def work(k):
        for _ in range(30):
            results.setdefault(k, set()).add(repr(parse(srcs[k])))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[k] == {expected[k]} for k in range(8))


def test_a_long_parse_does_not_block_other_threads():
    big = "function f() { $x = [1, 2, 3] . \"a $b c\"; return $x; }\n" * 40000
    started = threading.Event()
    done = {}

    def long_parse():
        started.set()
        parse(big)
        done["long"] = True

    t = threading.Thread(target=long_parse)
    t.start()
    started.wait()
    import time
    time.sleep(0.05)
    parse("echo 1;")
    assert t.is_alive() and "long" not in done      # finished while the long parse runs
    t.join()
