"""`hsl repl`: the evaluation engine, the real prompt_toolkit application driven through a
pipe input with a dummy output, a real pseudo-terminal, and a stdin that is not a tty."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from hsl.repl.app import Repl, history_path
from hsl.repl.completion import HSLCompleter
from hsl.repl.engine import Engine, is_complete

ROOT = Path(__file__).resolve().parent.parent
HELO_SCRIPT = """\
function classify($host) {
    if ($host =~ #/^[0-9.]+$/) return "ip";
    return "name";
}
if (classify($arguments["host"]) == "ip")
    Reject("numeric HELO not welcome");
Accept();
"""


@pytest.fixture(autouse=True)
def state_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


class Captured:
    def __init__(self):
        self.lines: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, text: str) -> None:
        with self.lock:
            self.lines.extend(text.split("\n"))

    @property
    def text(self) -> str:
        with self.lock:
            return "\n".join(self.lines)


def engine() -> tuple[Engine, Captured]:
    out = Captured()
    return Engine(out, out), out


# ------------------------------------------------------------------ engine

def test_state_persists_and_values_show_in_hsl_notation(tmp_path, monkeypatch):
    (tmp_path / "mod.hsl").write_text('function twice($x) { return $x * 2; }\n')
    monkeypatch.chdir(tmp_path)
    e, out = engine()
    for text in ['$x = [1, "a" => "b"];', 'function f($a, $b = 2) { return $a + $b; }',
                 'class C { constructor($v) { $this->v = $v; } function get() { return $this->v; } }',
                 'import {twice} from "mod.hsl";', '$x', 'f(1)', 'C(7)->get()', 'twice(21)',
                 '"quoted \\"s\\""', 'echo "plain";', '$x[] = 3;', '$x', 'true', '1 + 1']:
        assert e.execute(text), out.text
    assert out.lines == ['[0=>1,"a"=>"b"]', "3", "7", "42", '"quoted \\"s\\""', "plain",
                         '[0=>1,"a"=>"b",1=>3]', "true", "2"]


def test_reimported_module_output_shown_once(tmp_path, monkeypatch):
    (tmp_path / "noisy.hsl").write_text('function one() { return 1; }\necho "loading";\n')
    monkeypatch.chdir(tmp_path)
    e, out = engine()
    e.execute('import {one} from "noisy.hsl";')
    e.execute("one()")
    e.execute('echo "two";')
    assert out.lines == ["loading", "1", "two"]


def test_assignments_and_none_show_nothing():
    e, out = engine()
    assert e.execute("$y = 5") and e.execute("none;") and e.execute("function g() {}")
    assert e.execute("g()")
    assert out.lines == []
    assert e.globals["y"] == 5.0


def test_failed_input_leaves_state_unchanged():
    e, out = engine()
    e.execute('$a = [1];')
    assert not e.execute('$a[] = 2; $b = 1; throw "no";')
    assert "uncaught exception: no" in out.text
    e.execute("$a")
    assert out.lines[-1] == "[0=>1]"
    assert "b" not in e.globals


def test_errors_in_earlier_declarations_point_at_their_input():
    e, out = engine()
    e.execute("function h() {\n  throw \"boom\";\n}")
    e.execute("$z = 1;")
    assert not e.execute("h();")
    assert "<repl:1>:2:3: error: uncaught exception: boom" in out.text
    assert "in h" in out.text


def test_redefinition_replaces():
    e, out = engine()
    e.execute("function f() { return 1; }")
    e.execute("function f() { return 2; }")
    e.execute("f()")
    assert out.lines == ["2"]


def test_completeness():
    assert not is_complete("function f() {")
    assert not is_complete('echo "abc')
    assert not is_complete("echo 'x'abc")
    assert not is_complete("/* comment")
    assert is_complete('echo "{";')
    assert is_complete("f(1)")          # the missing ; is added when run
    assert is_complete("echo )")        # an error, shown on Enter


def test_completion_results():
    e, _ = engine()
    e.execute('$conf = ["alpha" => 1, "beta" => ["gamma" => 2]];')
    e.execute("function my_func($a, $b = 1) { return $a; }")
    e.execute("class Counter { constructor() { $this->n = 0; } function inc($by) { return 1; } "
              "static function make() { return Counter(); } }")
    e.execute("$c = Counter();")
    c = HSLCompleter(e)

    def complete(text):
        return {x.text: x.display_meta_text for x in c.get_completions(Document(text), None)}

    got = complete("str_low")
    assert got["str_lower"] == "str_lower($string)"
    assert complete("my_")["my_func"] == "my_func($a, [$b])"
    assert "$conf" in complete("$co")
    assert set(complete('$conf["')) == {'alpha"]', 'beta"]'}
    assert set(complete('$conf["beta"]["g')) == {'gamma"]'}
    assert "inc" in complete("$c->")
    assert complete("$c->i")["inc"] == "inc($by)"
    assert "make" in complete("Counter::")
    # a variable not set yet: its class from the text typed so far
    in_function = "function f() {\n  $m = Map(\"string\", \"any\");\n  $m->"
    assert {"set", "get", "has"} <= set(complete(in_function))
    assert complete("function g() { $k = Counter(); $k->i")["inc"] == "inc($by)"
    assert "subject" in complete("function h($p) { $x = X509::String($p); $x->su")
    assert complete("function z() { $q = 5; $q->") == {}
    assert ".help" in complete(".he") and ".hook" in complete(".h")
    assert "str_lower" in complete(".help str_l")
    e.execute(".hook helo")
    assert "host\"]" in complete('$arguments["')
    assert "remoteip\"]" in complete('$connection["remote')
    assert "id\"]" in complete('$transaction["')
    assert complete("Rej")["Reject"].startswith("Reject(")


def test_help_and_vars():
    e, out = engine()
    e.execute(".help str_lower")
    assert out.lines[0] == "str_lower($string)" and len(out.lines) > 1
    e.execute("$v = 1;")
    e.execute(".vars")
    assert "$v = 1" in out.lines
    e.execute(".reset")
    assert e.globals == {}


def test_load_of_a_script_that_does_not_compile_loads_nothing_and_run_never_runs_another(
        tmp_path):
    good = tmp_path / "good.hsl"
    good.write_text('function greet() { return "hi"; }\necho "good ran";\n')
    bad = tmp_path / "bad.hsl"
    bad.write_text('function other() { return 1; }\necho str_lowr("X");\n')
    e, out = engine()
    assert e.execute(f".load {good}")
    assert out.lines[-1].startswith(f"loaded {good}")
    assert not e.execute(f".load {bad}")
    assert any("undefined function str_lowr()" in line for line in out.lines)
    assert out.lines[-1] == f"{bad} not loaded: it does not compile"
    assert not e.execute("other()")                  # nothing of bad.hsl came in
    e.execute("greet()")
    assert out.lines[-1] == '"hi"'                   # what was loaded before stays
    before = len(out.lines)
    assert not e.execute(".run")                     # runs bad.hsl again: its errors
    assert "good ran" not in out.lines[before:]
    assert any("undefined function str_lowr()" in line for line in out.lines[before:])


def test_hook_run_shows_decision(tmp_path):
    script = tmp_path / "helo.hsl"
    script.write_text(HELO_SCRIPT)
    session = tmp_path / "s.yaml"
    session.write_text("verb: EHLO\nhost: 203.0.113.9\nremoteip: 203.0.113.9\n")
    e, out = engine()
    assert e.execute(f".load {script}")
    assert e.execute(".hook helo")
    assert e.execute(".run")
    assert out.lines[-1] == 'accept 250 "mx.hsl.invalid" (+4 more lines)'
    assert e.execute(f".session {session}")
    e.execute(".run")
    assert out.lines[-1] == 'reject 554 "numeric HELO not welcome"'
    e.execute(".ehlo mail.example.org")
    e.execute(".remoteip 198.51.100.7")
    e.execute(".run")
    assert out.lines[-1].startswith("accept 250")
    # The loaded functions and the HELO context are usable at the prompt.
    e.execute('classify("10.0.0.1")')
    e.execute('$connection["remoteip"]')
    assert out.lines[-2:] == ['"ip"', '"198.51.100.7"']
    # Same decision text as `hsl run --hook helo`.
    cli = subprocess.run([sys.executable, "-m", "hsl", "run", "--hook", "helo", "--session",
                          str(session), str(script)], capture_output=True, text=True)
    assert cli.stdout.strip() == 'reject 554 "numeric HELO not welcome"'


def test_queue_hooks_at_the_prompt_with_the_default_entry():
    e, out = engine()
    assert e.execute(".hook predelivery")
    assert out.lines[-1] == ("hook predelivery: bob@example.org from <alice@client.example> "
                             "via mx, retry 0")
    assert e.execute('$message["recipientaddress"]["domain"] . " " . $arguments["retry"]')
    assert out.lines[-1] == '"example.org 0"'
    assert not e.execute('$message["x"] = 1;') and "$message is read-only" in out.text
    assert not e.execute("Default();") and "undefined function Default()" in out.text
    assert e.execute('$context["route"] = "a";')
    assert e.execute('SetMetaData(["tenant" => "t1"]);')
    assert e.execute("GetMetaData()") and out.lines[-1] == '["tenant"=>"t1"]'
    assert e.execute('Try(["host" => "10.0.0.1", "tls" => "require"]);')
    assert out.lines[-1] == 'predelivery: Try() {"host": "10.0.0.1", "tls": "require"}'
    assert not e.execute('Try(["tls" => "sometimes"]);')
    assert "Try() option tls must be one of" in out.text
    # postdelivery of the same pickup: predelivery's $context, read-only; the 451
    assert e.execute(".hook postdelivery")
    assert out.lines[-1].endswith("via mx, retry 0, after 451 (QUEUE)")
    assert e.execute('$context["route"] . " " . $arguments["action"] . " " . '
                     '$arguments["attempt"]["result"]["code"]')
    assert out.lines[-1] == '"a QUEUE 451"'
    assert not e.execute("$context = 1;") and "$context is read-only" in out.lines[-3]
    assert e.execute("GetMetaData()") and out.lines[-1] == '["tenant"=>"t1"]'
    assert e.execute('Queue(["delay" => 60, "transportid" => "slow"]);')
    assert out.lines[-1] == 'postdelivery: Queue() {"delay": 60, "transportid": "slow"}'
    assert e.execute("Default();") and out.lines[-1] == "postdelivery: Default()"
    assert not e.execute("Try();")
    assert e.execute(".hook helo") and e.execute('$connection["remoteip"]')
    assert out.lines[-1] == '"192.0.2.10"'


def test_queue_hooks_complete_message_and_arguments_keys():
    e, _ = engine()
    c = HSLCompleter(e)

    def complete(text):
        return {x.text: x.display_meta_text for x in c.get_completions(Document(text), None)}

    assert {"predelivery", "postdelivery"} <= set(complete(".hook "))
    e.execute(".hook predelivery")
    keys = set(complete('$message["'))
    assert {'recipient"]', 'senderaddress"]', 'transportid"]', 'file"]', 'size"]',
            'id"]'} <= keys
    assert set(complete('$message["id"]["')) == {'transaction"]', 'queue"]'}
    assert set(complete('$arguments["')) == {'retry"]'}
    assert complete("Tr")["Try"] == "Try([$options])"
    assert "Default" not in complete("Defa")
    e.execute(".hook postdelivery")
    assert set(complete('$arguments["')) == {'retry"]', 'expired"]', 'action"]', 'attempt"]'}
    assert set(complete('$arguments["attempt"]["result"]["')) == {
        'code"]', 'enhanced"]', 'reason"]', 'state"]'}
    assert "Default" in complete("Defa") and "Try" not in complete("Tr")


def test_queue_hook_entry_file_and_run(tmp_path):
    (tmp_path / "entry.yaml").write_text(
        "sender: carol@example.com\nrecipient: dan@example.net\ntransportid: out\n"
        "retry: 4\nmetadata: {tenant: t9}\nattempt:\n  error: {temporary: true, "
        "message: connection refused, type: network}\naction: QUEUE\n")
    (tmp_path / "pre.hsl").write_text(
        'echo GetMetaData()["tenant"];\n$context = ["seen" => $arguments["retry"]];\n'
        'if ($arguments["retry"] > 3) Queue(["delay" => 3600]);\n')
    (tmp_path / "post.hsl").write_text(
        'echo $context["seen"] . " " . $arguments["attempt"]["error"]["type"];\n'
        'Bounce();\n')
    e, out = engine()
    assert e.execute(f".entry {tmp_path / 'entry.yaml'}")
    assert out.lines[-1] == ("hook predelivery: dan@example.net from <carol@example.com> via "
                             "out, retry 4")
    assert e.execute(f".load {tmp_path / 'pre.hsl'}") and e.execute(".run")
    assert out.lines[-2:] == ["t9", 'predelivery: Queue() {"delay": 3600}']
    assert e.execute(".hook postdelivery")
    assert out.lines[-1].endswith("after connection refused (QUEUE)")
    assert e.execute(f".run {tmp_path / 'post.hsl'}")
    assert out.lines[-2:] == ["4 network", "postdelivery: Bounce()"]
    # Same decision text as `hsl run --hook postdelivery --entry`.
    (tmp_path / "ctx.yaml").write_text((tmp_path / "entry.yaml").read_text()
                                       + "context: {seen: 4}\n")
    cli = subprocess.run([sys.executable, "-m", "hsl", "run", "--hook", "postdelivery",
                          "--entry", str(tmp_path / "ctx.yaml"), str(tmp_path / "post.hsl")],
                         capture_output=True, text=True)
    assert cli.stdout.splitlines() == ["4 network", "postdelivery: Bounce()"]
    # A bad entry file names the node; the entry in use stays.
    (tmp_path / "bad.yaml").write_text("sender: a\nrecipient: b\nretry: many\n")
    assert not e.execute(f".entry {tmp_path / 'bad.yaml'}")
    assert out.lines[-1] == f"error: {tmp_path / 'bad.yaml'}:3:8: retry: must be a number >= 0"
    assert e.queue_entry()[0].recipient == "dan@example.net"
    # A spool copy, by its id in its spool (SPOOL/BATCH-N).
    from hsl.queue import spool
    ids = spool.write_copies(str(tmp_path / "sp"), [
        spool.Copy(b"x", "tx", "erin@example.com", f"{r}@example.net", "mx")
        for r in ("frank", "grace")])
    assert e.execute(f".entry {tmp_path / 'sp' / ids[1]}")
    assert e.queue_entry()[0].recipient == "grace@example.net"
    batch = tmp_path / "sp" / ids[0].rsplit("-", 1)[0]
    assert not e.execute(f".entry {batch}")         # two copies: which?
    assert out.lines[-1].startswith(f"error: {batch}: the batch has 2 copies: name one")


# ------------------------------------------------------------------ the application

class Driver:
    """The real REPL application on a pipe input, its loop in a thread."""

    def __init__(self):
        self.out = Captured()
        self._pipe = create_pipe_input()
        self.input = self._pipe.__enter__()
        self.repl = Repl(input=self.input, output=DummyOutput(), write=self.out)
        self.result: dict = {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.result["rc"] = self.repl.loop()

    @property
    def buffer(self):
        return self.repl.session.default_buffer

    def send(self, text: str) -> None:
        self.input.send_text(text)

    def wait(self, predicate, timeout: float = 10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out; output so far: {self.out.lines!r}, "
                             f"buffer {self.buffer.text!r}")

    def wait_output(self, line: str, timeout: float = 10.0):
        self.wait(lambda: line in self.out.lines, timeout)

    def wait_prompt(self):
        """Until the prompt is waiting for input again, with an empty buffer."""
        self.wait(lambda: self.repl.running is None and self.repl.session.app.is_running
                  and self.buffer.text == "")

    def close(self):
        if self.thread.is_alive():
            self.send("\x03\x04")
            self.thread.join(5)
        self._pipe.__exit__(None, None, None)


@pytest.fixture
def driver():
    d = Driver()
    yield d
    d.close()


def test_app_multiline_entry(driver):
    driver.send("function f($a) {\r")
    driver.wait(lambda: driver.buffer.text == "function f($a) {\n    ")
    driver.send("return $a * 2;\r}")
    driver.wait(lambda: driver.buffer.text.endswith("\n}"))
    assert driver.buffer.text == "function f($a) {\n    return $a * 2;\n}"
    driver.send("\r")
    driver.wait_prompt()
    driver.send('echo "a\r')                       # unterminated string: a newline
    driver.wait(lambda: driver.buffer.text == 'echo "a\n')
    driver.send('b";\r')
    driver.wait_output("b")
    driver.send("f(21)\r")
    driver.wait_output("42")
    assert driver.out.lines == ["a", "b", "42"]


def test_app_errors_show_under_the_input_which_comes_back_with_the_cursor_on_them(driver):
    driver.send("$x = 1 + ;\r")
    driver.wait(lambda: any("expected expression" in line for line in driver.out.lines))
    # Under the input, as a run's output: the message, the line and a caret.
    assert driver.out.lines == ["<repl>:1:10: error: syntax error: unexpected ';', expected "
                                "expression", "  $x = 1 + ;", "           ^"]
    # The next prompt offers the input again, the cursor on the error: fix it in place.
    driver.wait(lambda: driver.buffer.text == "$x = 1 + ;")
    driver.wait(lambda: driver.buffer.cursor_position == 9)     # column 10, the ';'
    driver.send("\x7f2;\r")                              # backspace over ' ', then '2;'
    driver.wait(lambda: driver.repl.engine.globals.get("x") == 3.0)
    driver.wait_prompt()
    assert driver.buffer.text == ""                     # a good input is not offered again
    driver.send("$undefined_var\r")                    # a compile error, not a syntax error
    driver.wait(lambda: any("undefined variable $undefined_var" in line
                            for line in driver.out.lines))
    driver.wait(lambda: driver.buffer.text == "$undefined_var"
                and driver.buffer.cursor_position == 0)


def test_app_completion(driver):
    driver.send("$numbers = [1, 2];\r")
    driver.wait(lambda: "numbers" in driver.repl.engine.globals)
    driver.wait_prompt()
    driver.send("str_lowe")
    driver.wait(lambda: driver.buffer.text == "str_lowe")
    driver.send("\t")
    driver.wait(lambda: driver.buffer.text == "str_lower")
    driver.send('("ABC")\r')
    driver.wait_output('"abc"')
    driver.wait_prompt()
    driver.send("$numb")
    driver.wait(lambda: driver.buffer.text == "$numb")
    driver.send("\t")
    driver.wait(lambda: driver.buffer.text == "$numbers")
    # Enter on a selected completion closes the menu; the next one runs the input.
    driver.send("\r")
    driver.wait(lambda: driver.buffer.complete_state is None)
    driver.send("\r")
    driver.wait_output("[0=>1,1=>2]")


def test_app_hook_and_run(driver, tmp_path):
    script = tmp_path / "helo.hsl"
    script.write_text(HELO_SCRIPT)
    driver.send(f".load {script}\r")
    driver.wait(lambda: any(line.startswith("loaded") for line in driver.out.lines))
    driver.send(".hook helo\r")
    driver.wait_output("hook helo: EHLO client.example from 192.0.2.10")
    driver.send(".ehlo 192.0.2.55\r")
    driver.wait_output("hook helo: EHLO 192.0.2.55 from 192.0.2.10")
    driver.send(".run\r")
    driver.wait_output('reject 554 "numeric HELO not welcome"')
    driver.send('$arguments["host"]\r')
    driver.wait_output('"192.0.2.55"')


def test_app_ctrl_c_interrupts_runaway_loop(driver):
    driver.send("$kept = 41;\r")
    driver.wait(lambda: "kept" in driver.repl.engine.globals)
    driver.send("forever {}\r")
    driver.wait(lambda: driver.repl.running is not None)
    time.sleep(0.3)
    assert driver.repl.running is not None               # still looping
    driver.send("\x03")
    driver.wait(lambda: any("interrupted" in line for line in driver.out.lines))
    driver.wait_prompt()
    driver.send("$kept + 1\r")
    driver.wait_output("42")


def test_app_history_file_written_and_ctrl_d_exits(driver, state_home):
    driver.send("1 + 2\r")
    driver.wait_output("3")
    driver.send("\x04")
    driver.thread.join(5)
    assert driver.result.get("rc") == 0
    path = Path(history_path())
    assert path == state_home / "hsl" / "history"
    assert "+1 + 2" in path.read_text()


def test_app_quit(driver):
    driver.send(".quit\r")
    driver.thread.join(5)
    assert driver.result.get("rc") == 0


# ------------------------------------------------------------------ processes

def _env(state_home):
    env = dict(os.environ, XDG_STATE_HOME=str(state_home), PYTHONPATH=str(ROOT),
               TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1")
    env.pop("HSL_DEBUG", None)
    return env


def test_pipe_stdin(state_home):
    run = subprocess.run([sys.executable, "-m", "hsl", "repl"], input="echo 1+1;\n",
                         capture_output=True, text=True, env=_env(state_home), timeout=30)
    assert (run.returncode, run.stdout, run.stderr) == (0, "2\n", "")
    script = "function f($a) {\n  return $a * 3;\n}\nf(5)\n$nope;\n.vars\n"
    run = subprocess.run([sys.executable, "-m", "hsl", "repl"], input=script,
                         capture_output=True, text=True, env=_env(state_home), timeout=30)
    assert run.stdout == "15\nfunctions: f\n"
    assert "undefined variable $nope" in run.stderr
    assert run.returncode == 1


# A line the REPL printed: after the echoed input's newline, or after the escape sequence
# with which prompt_toolkit leaves the prompt (bracketed paste off).
OUTPUT_LINE = r"(?:\n|\x1b\[\?2004l)%s\r\n"


def test_real_terminal(state_home):
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(sys.executable, ["-m", "hsl", "repl"], env=_env(state_home),
                          encoding="utf-8", timeout=20, dimensions=(24, 100))
    try:
        child.expect("hsl>")
        child.send("1 + 41\r")
        child.expect(OUTPUT_LINE % "42")
        child.expect("hsl>")
        child.send("function sq($n) {\r")
        child.send("return $n * $n;\r")
        child.send("}\r")
        child.expect("hsl>")
        child.send("sq(12)\r")
        child.expect(OUTPUT_LINE % "144")
        child.expect("hsl>")
        child.send("forever {}\r")
        time.sleep(0.5)
        child.sendcontrol("c")
        child.expect("interrupted")
        child.expect("hsl>")
        child.send("sq(3)\r")
        child.expect(OUTPUT_LINE % "9")
        child.expect("hsl>")
        time.sleep(0.2)       # a Ctrl-D before the prompt reads it would be a tty EOF
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert "sq(12)" in (state_home / "hsl" / "history").read_text()
