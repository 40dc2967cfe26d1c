"""`hsl run` and `hsl --version` as a user runs them: exit codes, stdout, stderr."""
import os
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def hsl(*args, stdin=None):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "hsl", *args], capture_output=True,
                          env=env, input=stdin, timeout=60)


def test_version():
    r = hsl("--version")
    assert r.returncode == 0
    assert r.stdout.decode().startswith("hsl ")


def test_run_inline_code_prints_one_line_per_echo():
    r = hsl("run", "-e", 'echo 1 + 2; echo "a" . "b";')
    assert (r.returncode, r.stdout, r.stderr) == (0, b"3\nab\n", b"")


def test_run_file(tmp_path):
    f = tmp_path / "p.hsl"
    f.write_text('function greet($n) { return "hello $n"; }\necho greet("mx");\n')
    r = hsl("run", str(f))
    assert (r.returncode, r.stdout) == (0, b"hello mx\n")


def test_echo_writes_raw_bytes():
    r = hsl("run", "-e", r'echo "\xff\x00é";')
    assert r.stdout == b"\xff\x00\xc3\xa9\n"


def test_syntax_error_exit_1_with_location_source_line_and_caret(tmp_path):
    f = tmp_path / "bad.hsl"
    f.write_text('echo 1;\n$a = (1 + ;\n')
    r = hsl("run", str(f))
    err = r.stderr.decode()
    assert r.returncode == 1 and r.stdout == b""
    first = err.splitlines()[0]
    assert first.startswith(f"{f}:2:") and ": error: " in first and "syntax error" in first
    assert "$a = (1 + ;" in err and "^" in err
    assert "Traceback" not in err


def test_runtime_error_exit_1_keeps_earlier_output_and_shows_stack(tmp_path):
    f = tmp_path / "rt.hsl"
    f.write_text('echo "before";\nfunction f() { return -[1]; }\nf();\n')
    r = hsl("run", str(f))
    err = r.stderr.decode()
    assert r.returncode == 1
    assert r.stdout == b"before\n"
    assert err.startswith(f"{f}:2:") and "type" in err
    assert f"{f}:3:" in err          # the caller's frame
    assert "Traceback" not in err


def test_usage_errors_exit_2(tmp_path):
    assert hsl().returncode == 2
    assert hsl("run").returncode == 2
    assert hsl("frobnicate").returncode == 2
    r = hsl("run", str(tmp_path / "missing.hsl"))
    assert r.returncode == 2 and b"missing.hsl" in r.stderr


def test_step_limit_option():
    r = hsl("run", "--max-steps", "1000", "-e", "forever { }")
    assert r.returncode == 1 and b"budget" in r.stderr


def test_deep_recursion_is_a_clean_error():
    r = hsl("run", "-e", "function f($n) { return f($n + 1); } f(0);")
    assert r.returncode == 1
    assert b"call depth" in r.stderr and b"Traceback" not in r.stderr


def test_extras_packages_from_dash_i(tmp_path):
    """A halon-extras package (`import { dmarc } from "extras://dmarc";`): with
    `-I DIR`, extras://NAME is DIR/NAME/main.hsl (hooks.md §4: a directory loads its
    main.hsl), whose own imports resolve from there; hsl's own modules stay first."""
    pkg = tmp_path / "extras" / "greeting"
    pkg.mkdir(parents=True)
    (pkg / "main.hsl").write_text('import { greet } from "./greet.hsl";\n')
    (pkg / "greet.hsl").write_text('function greet($n) { return "hello $n"; }\n')
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "main.hsl").write_text('function two() { return 2; }\n')
    f = tmp_path / "p.hsl"
    f.write_text('import { greet } from "extras://greeting";\n'
                 'import { helo_is_fqdn } from "extras://helo.hsl";\n'
                 'import { two } from "lib";\n'
                 'echo greet("mx") . " " . two() . " " . helo_is_fqdn("mx.example.com");\n')
    r = hsl("run", "-I", str(tmp_path / "extras"), str(f))
    assert (r.returncode, r.stdout, r.stderr) == (0, b"hello mx 2 true\n", b"")
    r = hsl("run", str(f))
    assert r.returncode == 1 and b'file not found: "extras://greeting"' in r.stderr
