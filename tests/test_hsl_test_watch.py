"""hsl test --watch (hsl/testing/watch.py): started as a command, it runs the tests,
and after a script is edited it reruns the test file that tests it (and only that)."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 60.0                         # seconds for each thing awaited (a slow machine)


def _lines(proc) -> "queue.Queue":
    q: queue.Queue = queue.Queue()

    def read():
        for line in proc.stdout:
            q.put(line.rstrip("\n"))
        q.put(None)
    threading.Thread(target=read, daemon=True).start()
    return q


def _until(q, test) -> list:
    """The lines read up to the first one `test` accepts (AssertionError past DEADLINE)."""
    seen, end = [], time.monotonic() + DEADLINE
    while True:
        try:
            line = q.get(timeout=max(0.0, end - time.monotonic()))
        except queue.Empty:
            raise AssertionError("timed out; read so far:\n" + "\n".join(seen)) from None
        if line is None:
            raise AssertionError("hsl test --watch ended:\n" + "\n".join(seen))
        seen.append(line)
        if test(line):
            return seen


def test_watch_reruns_the_test_file_of_an_edited_script(tmp_path):
    (tmp_path / "lib.hsl").write_text('function verdict() { return "accept"; }\n')
    (tmp_path / "a.hsl").write_text('include "lib.hsl";\n'
                                    'if (verdict() == "accept") Accept();\nReject();\n')
    (tmp_path / "b.hsl").write_text("Reject();\n")
    for name in ("a", "b"):
        (tmp_path / f"{name}.test.yaml").write_text(
            f"script: {name}.hsl\nhook: helo\ncases:\n"
            f"  - {{name: {name}, run: {{helo: x.example}}, expect: {{decision: "
            f"{'accept' if name == 'a' else 'reject'}}}}}\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "hsl", "test", "--watch", "."],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        q = _lines(proc)
        first = _until(q, lambda line: line.startswith("--- watching"))
        assert any(line.startswith("2 passed, 0 failed") for line in first), first
        time.sleep(0.05)                # (a new modification time, whatever its grain)
        (tmp_path / "lib.hsl").write_text('function verdict() { return "reject"; }\n')
        rerun = _until(q, lambda line: line.startswith("--- watching"))
        assert "--- lib.hsl changed: rerunning a.test.yaml" in rerun, rerun
        assert any(line.startswith("FAIL  a.test.yaml::a") for line in rerun), rerun
        assert any(line.startswith("0 passed, 1 failed") for line in rerun), rerun
        assert not any("b.test.yaml" in line for line in rerun), rerun
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1         # the last run's status
