"""The resolver (hsl/compiler/resolve.py) and the generic AST walk (hsl/syntax/ast.py
walk, Visitor): the order and pruning of walks, what a scope's facts hold, and that each
scope is resolved once for the compiler and `hsl check` together."""
from __future__ import annotations

import pytest

from hsl.syntax import ast as A
from hsl.compiler import resolve as R
from hsl.check.checker import check_source
from hsl.syntax.parser import parse
from hsl.program import ProgramBuilder


def kinds(nodes) -> list:
    return [type(n).__name__ for n in nodes]


# ------------------------------------------------------------------ walk and Visitor

def test_walk_is_source_order_each_node_before_its_children():
    prog = parse('$a = 1; if ($a) { echo "x$b"; } else echo 2;')
    assert kinds(A.walk(prog.body)) == [
        "ExprStmt", "Assign", "Var", "Number",
        "If", "Var", "Block", "Echo", "Interp", "Var", "Echo", "Number"]
    # A node as the root: it comes first.
    assert kinds(A.walk(prog))[0] == "Program"


def test_walk_enter_false_leaves_out_the_children():
    prog = parse("function f($x) { return $x; } $y = function () { return 1; }; echo $z;")
    nodes = list(A.walk(prog.body, lambda n: type(n) not in (A.FunctionDecl, A.FuncExpr)))
    assert "Return" not in kinds(nodes)
    assert [n.name for n in nodes if type(n) is A.Var] == ["y", "z"]
    assert kinds(nodes).count("FunctionDecl") == kinds(nodes).count("FuncExpr") == 1


def test_walk_goes_into_each_inclusion_once_only_when_asked():
    inner = parse("$x = 1;")
    inc = A.Inclusion(inner.span, "inc.hsl", 1, inner.body)
    body = [A.Included(A.NOSPAN, inc), A.Included(A.NOSPAN, inc)]
    assert kinds(A.walk(body)) == ["Included", "Included"]
    assert kinds(A.walk(body, includes=True)) == [
        "Included", "ExprStmt", "Assign", "Var", "Number", "Included"]
    # Not a child: one Inclusion is shared by all its sites.
    assert A.iter_child_nodes(body[0]) == []
    # An Inclusion is a node of its own, with a position, whose children are its statements.
    assert isinstance(inc, A.Node) and inc.span == inner.span
    assert A.iter_child_nodes(inc) == inner.body


def test_walk_of_a_deep_tree_does_not_recurse():
    e = A.Var(A.NOSPAN, "x")
    for _ in range(50_000):
        e = A.Unary(A.NOSPAN, "-", e)
    assert sum(1 for _ in A.walk(e)) == 50_001


def test_visitor_calls_the_methods_of_the_classes_it_has_and_prunes_on_false():
    class Names(A.Visitor):
        def __init__(self):
            self.seen = []

        def visit_Var(self, n):
            self.seen.append(n.name)

        def visit_FuncExpr(self, n):
            self.seen.append("closure")
            return False

    v = Names()
    v.visit(parse("$a = $b; $f = function () { return $c; }; echo $d;").body)
    assert v.seen == ["a", "b", "f", "closure", "d"]


# ------------------------------------------------------------------ scope facts

def test_scope_facts_say_which_node_binds_what():
    prog = parse("""
        $a = 1;
        $b[] = 2;
        foreach ($list as $k => $v) { [$d, ...$rest] = $v; }
        try { $x = 1; } catch ($err) {}
        $f = function () closure ($cap) { $inner = 1; };
        unset($gone);
        $obj->method();
        function g() { global $a; }
    """)
    facts = R.Resolution().scope(prog)
    assert facts.assigned == {"a", "b", "k", "v", "d", "rest", "x", "err", "f", "cap"}
    assert "list" in facts.mentioned and "inner" not in facts.mentioned
    assert [(name, type(n).__name__) for name, n in facts.writes][:3] == [
        ("a", "Assign"), ("b", "Assign"), ("v", "Foreach")]
    assert facts.captured == {"cap", "gone"}
    assert kinds(facts.nested) == ["FuncExpr", "FunctionDecl"]
    assert [c.callee.name for c in facts.calls] == ["method"]
    assert facts.globals == [] and not facts.includes
    g = R.Resolution().scope(facts.nested[1])
    assert [n.names for n in g.globals] == [["a"]] and g.assigned == {"a"}


def test_imported_variables_are_written_but_bound_by_the_import():
    facts = R.Resolution().scope(parse('import { $x, f } from "m.hsl"; $y = 1;'))
    assert [name for name, _ in facts.writes] == ["x", "y"]
    assert facts.assigned == {"y"}


def test_first_writes_by_position_with_or_without_foreach():
    prog = parse("foreach ($l as $v) {} $v = 1; $w++; $w = 2;")
    facts = R.Resolution().scope(prog)
    first = facts.first_writes()
    assert type(first["v"]) is A.Foreach and type(first["w"]) is A.IncDec
    assert type(facts.first_writes(foreach=False)["v"]) is A.Assign


def test_file_scopes_in_source_order_with_their_class():
    prog = parse("""
        class C {
            function m($p) { $f = function ($q) {}; function h() { $g = function () {}; } }
        }
        function top($a) {}
    """)
    found = [(type(n).__name__, sorted(entry), cls)
             for n, _, entry, cls in R.Resolution().file_scopes(prog)]
    assert found == [
        ("Program", [], None),
        ("ClassMethod", ["p", "this"], "C"),
        ("FuncExpr", ["q"], "C"),
        ("FunctionDecl", [], None),
        ("FuncExpr", [], "C"),          # (its code is still the class's)
        ("FunctionDecl", ["a"], None),
    ]


# ------------------------------------------------------------------ resolved once

@pytest.fixture
def walks(monkeypatch):
    """The scope nodes (and inclusions) Resolution.scope walks, one entry per walk."""
    walked = []
    original = R.Resolution.scope

    def scope(self, node):
        if node not in self._own:
            walked.append(node)
        return original(self, node)

    monkeypatch.setattr(R.Resolution, "scope", scope)
    return walked


def test_each_scope_is_resolved_once_per_build(tmp_path, walks):
    (tmp_path / "inc.hsl").write_text("function shared() { $s = 1; return $s; }\n$i = 2;\n")
    main = tmp_path / "main.hsl"
    main.write_text('include "inc.hsl";\nfunction f() { include "inc.hsl"; return 1; }\n'
                    'echo f() + shared();\n')
    program = ProgramBuilder(main.read_text(), str(main)).build()
    program.run(output=lambda s: None)
    assert len(walks) == len(set(walks))
    # The main file, the one inclusion both includes share, f, and shared() -- which is
    # compiled in both scopes that include it, from one resolution.
    assert kinds(walks) == ["Program", "Inclusion", "FunctionDecl", "FunctionDecl"]
    assert program.python_source.count("def f_shared_") == 2


def test_hsl_check_resolves_the_file_once_for_flow_methods_and_compiler(walks):
    source = """
        class K { function m() { return 1; } }
        function f($a) { $k = K(); $k->m(); if ($a) { $b = 1; } return $b; }
        $x = f(1);
        echo $y;
        $y = 2;
    """
    diags = check_source(source, "t.hsl")
    assert {d.code for d in diags} >= {"HSL601"}
    assert len(walks) == len(set(walks))
    assert kinds(walks).count("Program") == 1
    assert kinds(walks).count("FunctionDecl") == 1
