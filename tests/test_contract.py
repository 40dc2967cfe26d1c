"""The compiler-runtime contract (hsl.runtime.helpers): generated code uses only the helpers of
`HELPERS`, the names the compiler binds itself, and a few Python builtins.

Every conformance chunk and example is compiled as `hsl run` does, with a hook context,
with `--trace`, with coverage, and without a known set of pre-defined variables; a few REPL
inputs too.
(`hsl check` generates code only to throw it away.)  Each global name the generated code
loads must be one of them: a helper missing from the table fails here, not in the one
script that reaches it.
"""
from __future__ import annotations

import dis
import re
import types

import pytest
from test_conformance import ALL_CHUNKS, EXAMPLES

import hsl
from hsl.syntax import ast as A
from hsl.compiler import codegen as compiler
from hsl.runtime import ops as RT
from hsl.runtime.helpers import HELPERS
from hsl.hooks.helo import compile_helo
from hsl.program import ProgramBuilder

# Python builtins the compiler emits (`locals()` for soft reads, type tests for fast paths,
# `next` for coverage counters).
PYTHON_BUILTINS = {"type", "locals", "len", "bytes", "float", "NameError", "next"}
# Names the compiler binds itself: K (constants), M<n> (module functions), D_<name>
# (factories of top-level functions), B_<name> / C_<name> (builtin functions / classes),
# COV (the coverage counters of a program compiled with coverage).
COMPILER_NAMES = re.compile(r"K|M\d+|D_\w+|[BC]_\w+|COV")
GLOBAL_OPS = {"LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL", "DELETE_NAME"}


def global_names(program) -> set:
    """The global names the generated code of `program` loads or writes."""
    names = set()
    stack = [compile(program.python_source, "<generated>", "exec")]
    while stack:
        code = stack.pop()
        names.update(i.argval for i in dis.get_instructions(code) if i.opname in GLOBAL_OPS)
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return names


def check_program(program) -> None:
    bound = set(program.namespace) - set(HELPERS) - {"__name__", "__builtins__"}
    assert not {n for n in bound if not COMPILER_NAMES.fullmatch(n)}, \
        "the namespace holds names that are neither helpers nor the compiler's"
    unknown = global_names(program) - set(program.namespace) - PYTHON_BUILTINS
    assert not unknown, f"generated code uses names that nothing defines: {sorted(unknown)}"


MODES = {
    "run": lambda src, path: hsl.compile(src, filename=path, predefined=set()),
    "no-predefined": lambda src, path: hsl.compile(src, filename=path),
    "trace": lambda src, path: hsl.compile(src, filename=path, predefined=set(), trace=True),
    "coverage": lambda src, path: hsl.compile(src, filename=path, predefined=set(),
                                              coverage=True),
    "helo": lambda src, path: compile_helo(src, path),
}


def compiled(source: str, path: str):
    """The programs of `source` in every mode that compiles it."""
    for make in MODES.values():
        try:
            yield make(source, path)
        except hsl.HSLSyntaxError:
            pass        # (a chunk that expects a compile error, or not valid in that mode)


@pytest.mark.parametrize("path", sorted({c.path for c in ALL_CHUNKS}), ids=lambda p: p.name)
def test_conformance_code_uses_only_the_table(path):
    for chunk in (c for c in ALL_CHUNKS if c.path == path):
        for program in compiled(chunk.source, str(chunk.path)):
            check_program(program)


def test_example_code_uses_only_the_table():
    examples = sorted(EXAMPLES.glob("*.hsl"))
    assert examples
    for path in examples:
        for program in compiled(path.read_text(encoding="utf-8"), str(path)):
            check_program(program)


def test_repl_code_uses_only_the_table():
    from hsl.repl.engine import Engine
    engine = Engine(write=lambda text: None)
    for text in ["$x = 1;", "$x + 1", "isset($y) ? 1 : $y ?? $x",
                 "function f($a = 1) { return $a + ($x ?? 0); }", "f()",
                 "class P { $v = 1; function get() { return $this->v; } }", "P()->get()"]:
        check_program(engine.prepare(text).program)
        assert engine.execute(text)


def test_the_compiler_names_only_helpers_of_the_table():
    """Each helper constant of the compiler (checked by helper() as it is imported)."""
    named = {v for k, v in vars(compiler).items() if k.isupper() and isinstance(v, str)
             and v.startswith("_")}
    for table in (compiler.BINARY_HELPERS, compiler.UNARY_HELPERS, compiler.INCDEC_HELPERS,
                  compiler.COMPOUND):
        named |= set(table.values())
    assert named <= set(HELPERS)
    assert "_soft_global" in named


def test_the_table_is_all_a_program_runs_with():
    program = hsl.compile("echo 1;")
    assert {n: program.namespace[n] for n in HELPERS} == HELPERS
    with pytest.raises(ImportError, match="_no_such_helper"):
        compiler.helper("_no_such_helper")


def test_a_soft_read_at_top_level_without_a_binding_reads_the_run_variables():
    """`isset($x)` / `$x ?? ...` at a module's top level for a variable the compiler made
    no binding for (Compiler.soft_expr's fallback): only the run's pre-defined variables
    (the module function's `V`) can hold it."""
    builder = ProgramBuilder("", "<test>")
    module = compiler.ModuleInfo(0, "<test>", A.Program(A.NOSPAN, []), "M0", is_main=True)
    code = compiler.Compiler(builder).soft_expr(compiler.Scope("module", module),
                                                A.Var(A.NOSPAN, "x"))
    assert eval(code, dict(HELPERS), {"V": {"x": b"set"}}) == b"set"
    assert eval(code, dict(HELPERS), {"V": {}}) is RT._UNSET
