"""Random module graphs and hostile files never crash hsl (issue 11).

Graphs: a handful of files that `include`, `include_once` and `import` each other at
random, cycles and missing files included, each file declaring functions and variables
that others use.  `hsl check` gives clean diagnostics (a code, a position, never HSL999),
`hsl.compile` either builds the program or raises HSLSyntaxError naming a file of the
graph, and a program that compiles runs or fails with a clean HSLRuntimeError.

Hostile files: a symlink to /dev/zero, a FIFO, a directory and binary junk, given to
`hsl check` and `hsl run` and included by a script: a clean error, never a hang or a
traceback.  (A directory tree deeper than the recursion limit: tests/test_compile_limits.py.)"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import hsl
from hsl.check.checker import Options, check_source
from hsl.check.codes import CODES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = ["a.hsl", "b.hsl", "c.hsl", "d.hsl"]
SETTINGS = settings(max_examples=120, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))

edge = st.tuples(st.sampled_from(["include", "include_once", "import_fn", "import_var",
                                  "import_all"]),
                 st.sampled_from(NAMES + ["missing.hsl"]))
graph = st.lists(st.lists(edge, max_size=3), min_size=len(NAMES), max_size=len(NAMES))


def file_text(index: int, edges: list) -> str:
    """File `index` of a graph: its includes and imports, then declarations that use what
    they bring in (names are per file, so clashes come only from the graph)."""
    me = NAMES[index][0]
    lines = []
    for n, (kind, target) in enumerate(edges):
        other = target[0]
        if kind == "include":
            lines.append(f'include "{target}";')
        elif kind == "include_once":
            lines.append(f'include_once "{target}";')
        elif kind == "import_fn":
            lines.append(f'import {{ f_{other} as g_{me}{n} }} from "{target}";')
        elif kind == "import_var":
            lines.append(f'import {{ $v_{other} as $w_{me}{n} }} from "{target}";')
        else:
            lines.append(f'import * as ns_{me}{n} from "{target}";')
    lines.append(f"$v_{me} = {index};")
    lines.append(f"function f_{me}($x) {{ return $x + {index}; }}")
    for n, (kind, _target) in enumerate(edges):
        if kind == "import_fn":
            lines.append(f"echo g_{me}{n}(1);")
        elif kind == "import_var":
            lines.append(f"echo $w_{me}{n};")
    lines.append(f"echo f_{me}($v_{me});")
    return "\n".join(lines) + "\n"


def write_graph(folder, edges_per_file) -> str:
    for i, name in enumerate(NAMES):
        (folder / name).write_text(file_text(i, edges_per_file[i]))
    return str(folder / NAMES[0])


@SETTINGS
@given(graph)
def test_random_module_graphs_check_cleanly(tmp_path_factory, edges_per_file):
    folder = tmp_path_factory.mktemp("graph")
    main = write_graph(folder, edges_per_file)
    source = open(main).read()
    for d in check_source(source, main, Options()):
        assert d.code in CODES and d.code != "HSL999", (d.code, d.message)
        assert d.line >= 1 and d.column >= 1, d
        assert os.path.dirname(os.path.abspath(d.filename)) == str(folder), d


@SETTINGS
@given(graph)
def test_random_module_graphs_compile_or_fail_cleanly(tmp_path_factory, edges_per_file):
    folder = tmp_path_factory.mktemp("graph")
    main = write_graph(folder, edges_per_file)
    try:
        program = hsl.compile(open(main).read(), main, predefined=set())
    except hsl.HSLSyntaxError as e:
        for d in e.diagnostics:
            assert "internal error" not in d.message, d.message
            assert os.path.dirname(os.path.abspath(d.filename)) == str(folder), d
            assert d.line >= 1, d
        return
    try:
        program.run(output=lambda _: None, max_time=5)
    except hsl.HSLRuntimeError as e:
        assert "internal error" not in e.message, e.message


def test_an_import_cycle_is_reported_with_its_chain(tmp_path):
    (tmp_path / "a.hsl").write_text('import { f } from "b.hsl";\necho f();\n')
    (tmp_path / "b.hsl").write_text('import { g } from "a.hsl";\nfunction f() { return 1; }\n')
    main = str(tmp_path / "a.hsl")
    found = check_source(open(main).read(), main, Options())
    cycles = [d for d in found if "cycle" in d.message]
    assert cycles and all(d.code != "HSL999" for d in found), [(d.code, d.message) for d in found]
    assert "a.hsl" in cycles[0].message and "b.hsl" in cycles[0].message


# ------------------------------------------------------------------ hostile files

def hsl_cli(*args, timeout=30):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "hsl", *args], capture_output=True,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def hostile_files(folder) -> dict:
    files = {}
    zero = folder / "zero.hsl"
    zero.symlink_to("/dev/zero")
    files["symlink to /dev/zero"] = zero
    fifo = folder / "fifo.hsl"
    os.mkfifo(fifo)
    files["fifo"] = fifo
    d = folder / "dir.hsl"
    d.mkdir()
    files["directory"] = d
    junk = folder / "junk.hsl"
    junk.write_bytes(bytes(range(256)) * 64)
    files["binary junk"] = junk
    return files


@pytest.mark.parametrize("command", ["run", "check"])
def test_hostile_files_are_clean_errors(tmp_path, command):
    for what, path in hostile_files(tmp_path).items():
        if what == "directory" and command == "check":
            continue            # hsl check searches a directory for .hsl files
        r = hsl_cli(command, str(path))
        assert r.returncode in (1, 2), (what, r.returncode, r.stderr[-500:])
        assert b"Traceback" not in r.stderr and b"internal error" not in r.stderr, what


@pytest.mark.parametrize("command", ["run", "check"])
def test_including_hostile_files_is_a_clean_error(tmp_path, command):
    for what, path in hostile_files(tmp_path).items():
        main = tmp_path / "main.hsl"
        main.write_text(f'include "{path.name}";\necho 1;\n')
        r = hsl_cli(command, str(main))
        assert r.returncode in (1, 2), (what, r.returncode, r.stderr[-500:])
        assert b"Traceback" not in r.stderr and b"internal error" not in r.stderr, what
