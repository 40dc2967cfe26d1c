"""The import graph of hsl/ (issue 13 item 4): no cycles, the core in layers, and no import
of an hsl module hidden inside a function without a comment saying why.

Every import is read with `ast`, also those inside functions (a cycle dodged by importing
late is still a cycle).  The one cycle allowed is the LALR trio (hsl/syntax/_lalr.py says why).
"""
from __future__ import annotations

import ast
import io
import os
import tokenize

import pytest

HSL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "hsl")

# The one import cycle on purpose: the table builder and the error recovery are parts of
# the parser driver, split off so that a warm start loads neither.
ALLOWED_CYCLE = {"hsl.syntax._lalr", "hsl.syntax._lalr_build", "hsl.syntax._lalr_recover"}

# Packages of data, not code (pyproject.toml maps them from the top-level grammar/ and
# stdlib/ folders): importing them imports no hsl module.
DATA_PACKAGES = {"hsl.grammar", "hsl.stdlib"}

# The core, lowest first: each module imports only modules before it in this list.
CORE = ["hsl.syntax.sourcefile", "hsl.errors", "hsl.runtime.execution", "hsl.runtime.pcre",
        "hsl.runtime.values", "hsl.runtime.regex", "hsl.runtime.store", "hsl.runtime.ops",
        "hsl.runtime.memory"]
# ...and these, below the core: the builtin Exception class a runtime error becomes.
CORE_EXTRA = {"hsl.runtime.ops": {"hsl.builtins", "hsl.builtins.exception",
                                   "hsl.builtins.registry"}}


def _modules() -> dict:
    """module name -> (path relative to hsl/, is a package)"""
    out = {}
    for folder, dirs, files in os.walk(HSL):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, f), HSL)
                parts = ["hsl"] + rel[:-3].split(os.sep)
                package = parts[-1] == "__init__"
                if package:
                    parts.pop()
                out[".".join(parts)] = (rel, package)
    return out


MODULES = _modules()


def _targets(module: str, package: bool, node) -> list:
    """The hsl modules an import statement imports (a name imported from a package may be
    a submodule or an attribute of the package)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".")
            if not package:
                base.pop()
            base = base[:len(base) - node.level + 1]
            base = ".".join(base + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES
                 or f"{base}.{a.name}" in DATA_PACKAGES else base for a in node.names]
    out = []
    for name in names:
        if name in DATA_PACKAGES or not (name == "hsl" or name.startswith("hsl.")):
            continue
        while name and name not in MODULES:     # hsl.x.y.name where name is an attribute
            name = name.rpartition(".")[0]
        if name and name != module:
            out.append(name)
    return out


def _parse(rel: str):
    with open(os.path.join(HSL, rel), encoding="utf-8") as f:
        text = f.read()
    return text, ast.parse(text, rel)


def _graph() -> dict:
    graph = {}
    for module, (rel, package) in MODULES.items():
        _, tree = _parse(rel)
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges.update(_targets(module, package, node))
        graph[module] = edges
    return graph


def _cycles(graph: dict) -> list:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read():
    graph = _graph()
    assert "hsl.runtime.ops" in graph["hsl.program"]
    assert "hsl.builtins.exception" in graph["hsl.runtime.ops"]
    # (imported in functions)
    assert {"hsl.syntax._lalr_build", "hsl.syntax._lalr_recover"} <= graph["hsl.syntax._lalr"]
    assert "hsl.builtins.index" in graph["hsl.repl.commands"]              # from .. import x


def test_no_import_cycles():
    cycles = [sorted(c) for c in _cycles(_graph()) if c != ALLOWED_CYCLE]
    assert not cycles, f"import cycles in hsl/: {cycles}"


def test_a_cycle_is_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_the_core_imports_downward():
    graph = _graph()
    for i, module in enumerate(CORE):
        allowed = set(CORE[:i]) | CORE_EXTRA.get(module, set())
        upward = graph[module] - allowed
        assert not upward, f"{module} imports {sorted(upward)}: only {CORE[:i]} are below it"


def _comment_lines(text: str) -> set:
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            lines.add(tok.start[0])
    return lines


def _function_level_imports():
    """(file, line, module imported, has a comment) of every import of an hsl module made
    inside a function."""
    for module, (rel, package) in sorted(MODULES.items()):
        text, tree = _parse(rel)
        comments = _comment_lines(text)
        seen = set()
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and node not in seen:
                    seen.add(node)
                    span = range(node.lineno - 1, node.end_lineno + 1)
                    commented = any(n in comments for n in span)
                    for target in _targets(module, package, node):
                        yield rel.replace(os.sep, "/"), node.lineno, target, commented


def test_function_level_imports_say_why():
    """An hsl module imported inside a function is there for startup time (or is the
    deliberate LALR cycle): a comment on the line or the line above says so."""
    silent = [f"hsl/{rel}:{line}: {target}"
              for rel, line, target, commented in _function_level_imports()
              if not commented]
    assert not silent, "function-level imports without a comment saying why:\n" + \
        "\n".join(silent)



@pytest.mark.parametrize("source, found", [
    ("def f():\n    from . import values\n", [("values", False)]),
    ("def f():\n    from . import values  # deferred: startup\n", [("values", True)]),
    ("def f():\n    # deferred: startup\n    from .values import x\n", [("values", True)]),
    ("def f():\n    import json\n", []),
    ("from . import values\n", []),
])
def test_function_level_imports_are_found(tmp_path, monkeypatch, source, found):
    (tmp_path / "probe.py").write_text(source)
    (tmp_path / "values.py").write_text("")
    monkeypatch.setitem(globals(), "HSL", str(tmp_path))
    monkeypatch.setitem(globals(), "MODULES", {"hsl.probe": ("probe.py", False),
                                               "hsl.values": ("values.py", False)})
    got = [(target.split(".")[-1], commented)
           for rel, _, target, commented in _function_level_imports() if rel == "probe.py"]
    assert got == found
