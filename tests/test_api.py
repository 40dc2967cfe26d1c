"""The Python API: compile once, run many times (also concurrently), errors with positions."""
import threading

import pytest

import hsl
from hsl import HSLRuntimeError, HSLSyntaxError


def run(source, **kw):
    lines = []
    hsl.compile(source).run(output=lines.append, **kw)
    return lines


def test_compile_once_run_many_with_fresh_globals():
    prog = hsl.compile('$n = ($n ?? 0) + 1; echo $n;')
    for _ in range(3):
        out = []
        prog.run(output=out.append)
        assert out == ["1"]


def test_variables_are_predefined_and_converted():
    out = run('echo $who . " " . $n . " " . $list[1];',
              variables={"who": "policy", "n": 3, "list": ["a", "b"]})
    assert out == ["policy 3 b"]


def test_undefined_global_without_predefinition_is_a_runtime_error():
    prog = hsl.compile('echo "x"; echo $nowhere;')
    out = []
    with pytest.raises(HSLRuntimeError) as ei:
        prog.run(output=out.append)
    assert out == ["x"]
    e = ei.value
    assert "undefined variable" in e.message and "$nowhere" in e.message
    assert (e.line, e.column) == (1, 16)


def test_undefined_global_is_a_compile_error_when_predefined_names_are_known():
    with pytest.raises(HSLSyntaxError) as ei:
        hsl.compile('echo 1;\necho $nowhere;', predefined=set())
    assert ei.value.line == 2 and "$nowhere" in ei.value.message


def test_runtime_error_carries_the_hsl_call_stack():
    src = ("function inner($x) {\n"
           "  return -$x;\n"
           "}\n"
           "function outer() { return inner([1]); }\n"
           "outer();\n")
    with pytest.raises(HSLRuntimeError) as ei:
        hsl.compile(src, "stack.hsl").run(output=lambda s: None)
    e = ei.value
    assert e.filename == "stack.hsl" and e.line == 2
    assert [(f.function, f.line) for f in e.stack] == [("<main>", 5), ("outer", 4), ("inner", 2)]
    text = e.render()
    assert "stack.hsl:2:" in text and "^" in text and "Traceback" not in text


def test_uncaught_throw_reports_the_value():
    with pytest.raises(HSLRuntimeError) as ei:
        run('throw "boom";')
    assert "uncaught" in ei.value.message and "boom" in ei.value.message


def test_step_budget_stops_an_endless_loop_cleanly():
    with pytest.raises(HSLRuntimeError) as ei:
        run("forever { $i = 1; }", max_steps=10_000)
    assert "budget" in ei.value.message
    assert ei.value.line == 1


def test_time_budget_stops_an_endless_loop_cleanly():
    with pytest.raises(HSLRuntimeError) as ei:
        run("while (true) { }", max_time=0.2)
    assert "time limit" in ei.value.message


def test_call_depth_limit_is_a_clean_error():
    with pytest.raises(HSLRuntimeError) as ei:
        run("function f($n) { return f($n + 1); } f(0);", max_depth=200)
    assert "call depth" in ei.value.message
    assert ei.value.line == 1


def test_budget_errors_are_not_catchable():
    with pytest.raises(HSLRuntimeError):
        run('try { forever { } } catch ($e) { echo "caught"; }', max_steps=1000)


def test_program_runs_in_parallel_threads():
    prog = hsl.compile("""
        function fib($n) { if ($n < 2) return $n; return fib($n - 1) + fib($n - 2); }
        $acc = [];
        for ($i = 0; $i < 50; $i++) $acc[] = $i;
        echo fib(15) . ":" . $seed . ":" . $acc[49];
    """)
    results, errors = {}, []

    def worker(seed):
        try:
            out = []
            prog.run(variables={"seed": seed}, output=out.append)
            results[seed] = out
        except Exception as e:      # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == {i: [f"610:{i}:49"] for i in range(8)}


def test_keep_globals_returns_the_final_global_values():
    prog = hsl.compile('$context = ["seen" => ($context["seen"] ?? 0) + 1];')
    r = prog.run(variables={"context": None}, output=lambda s: None, keep_globals=True)
    assert hsl.runtime.values.to_python(r.globals["context"]) == {"seen": 1}


def test_parse_returns_an_ast_with_positions():
    tree = hsl.parse('echo 1;\n$a = 2;', "f.hsl")
    assert len(tree.body) == 2
    assert (tree.body[1].line, tree.body[1].col) == (2, 1)


def test_syntax_error_has_position_and_human_words():
    with pytest.raises(HSLSyntaxError) as ei:
        hsl.compile('echo 1\necho 2;', "bad.hsl")
    e = ei.value
    assert e.filename == "bad.hsl" and "syntax error" in e.message
    assert "__ANON" not in e.message and "RPAR" not in e.message


def test_cache_memoises_static_and_plain_function_calls():
    out = run("""
        class K { static function twice($x) { echo "computed"; return $x * 2; } }
        function sq($x) { echo "squared"; return $x * $x; }
        echo cache ["namespace" => "api-test"] K::twice(21);
        echo cache ["namespace" => "api-test"] K::twice(21);
        echo cache ["namespace" => "api-test"] sq(5);
        echo cache ["namespace" => "api-test"] sq(5);
    """)
    assert out == ["computed", "42", "42", "squared", "25", "25"]


def test_cache_ttl_function_none_keeps_the_entry_and_zero_does_not_store():
    out = run("""
        function look($x) { echo "looked"; return $x; }
        function keep($x) {
            return cache ["namespace" => "api-ttl", "ttl_function" => function ($v) {
                return none; }] look($x);
        }
        function skip($x) {
            return cache ["namespace" => "api-ttl0", "ttl_function" => function ($v) {
                return 0; }] look($x);
        }
        echo keep("a");
        echo keep("a");
        echo skip("b");
        echo skip("b");
    """)
    assert out == ["looked", "a", "a", "looked", "b", "looked", "b"]


def test_include_paths_fall_back_to_the_main_script_directory(tmp_path):
    (tmp_path / "lib.hsl").write_text('function helper() { return "found"; }\n')
    sub = tmp_path / "tests"
    sub.mkdir()
    (sub / "inner.hsl").write_text('include "file://lib.hsl";\n')
    main = tmp_path / "main.hsl"
    main.write_text('include "tests/inner.hsl";\necho helper();\n')
    out = []
    hsl.compile(main.read_text(), str(main)).run(output=out.append)
    assert out == ["found"]


def test_long_and_deep_input_compiles_or_fails_cleanly():
    assert run("echo " + " . ".join(['"a"'] * 5000) + ";") == ["a" * 5000]
    assert run("echo " + "(" * 500 + "7" + ")" * 500 + ";") == ["7"]
    with pytest.raises(HSLSyntaxError) as ei:
        hsl.compile("$a = " + "[" * 500 + "]" * 500 + ";")
    assert "nested too deeply" in ei.value.message
    with pytest.raises(HSLSyntaxError) as ei:
        hsl.compile("echo " + " + ".join(["1"] * 5000) + ";")
    assert "nested too deeply" in ei.value.message


def test_diagnostic_shows_a_window_of_long_lines():
    with pytest.raises(HSLSyntaxError) as ei:
        hsl.compile("$x = 1;" * 100 + " echo 1 +;")
    text = ei.value.render()
    source_line = text.splitlines()[1]
    assert len(source_line) < 120 and source_line.strip().startswith("...")
    caret_line = text.splitlines()[2]
    assert source_line[caret_line.index("^")] == ";"


def test_a_run_can_be_cancelled_from_another_thread():
    prog = hsl.compile("forever { $x = 1; }")
    stop = threading.Event()
    timer = threading.Timer(0.2, stop.set)
    timer.start()
    with pytest.raises(HSLRuntimeError) as ei:
        prog.run(output=lambda s: None, cancel=stop)
    assert "interrupted" in ei.value.message


def test_unavailable_builtins_compile_and_fail_cleanly_when_called():
    prog = hsl.compile('echo "before"; echo FFIFunction("libc.so.6", "getpid");')
    out = []
    with pytest.raises(HSLRuntimeError) as ei:
        prog.run(output=out.append)
    assert out == ["before"]
    assert "FFIFunction() is not available" in ei.value.message


def test_compiled_programs_can_be_freed():
    import gc
    import weakref
    prog = hsl.compile("echo 1;")
    ref = weakref.ref(prog)
    del prog
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("code", [
    '$s = "x"; for ($i = 0; $i < 40; $i++) $s = $s . $s;',
    '$s = "x"; for ($i = 0; $i < 40; $i++) $s .= $s;',
    '$s = "xy" * 1000000000000;',
    'echo "%999999999999s" % ["x"];',
    '$a = [1, 2, 3] * 100000000;',
])
def test_runaway_growth_is_a_clean_error_not_an_exhausted_machine(code):
    with pytest.raises(HSLRuntimeError) as ei:
        run(code)
    assert "too large" in ei.value.message


def test_time_limit_also_stops_a_builtin_that_would_never_finish():
    # 2**100 shared sub-arrays: json_encode alone would run forever.
    with pytest.raises(HSLRuntimeError) as ei:
        run('$a = []; for ($i = 0; $i < 100; $i++) $a = [$a, $a]; echo json_encode($a);',
            max_time=0.5)
    assert "time limit" in ei.value.message
