"""Helpers for the `hsl serve` tests: a server subprocess on an ephemeral port (its metrics
and open file descriptors readable) and a raw SMTP client that sends exact bytes."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Runs `hsl serve` after executing argv[1] (a test's prelude: faults to inject, probes).
_WITH_PRELUDE = ("import sys; exec(sys.argv.pop(1)); from hsl.cli import main; "
                 "sys.exit(main())")


class Server:
    """`hsl serve` in a subprocess; stderr is collected line by line.  `script_path` is
    its --helo script (None: the hooks are in `args`); its spool is a fresh temporary
    directory (`self.spool`) unless `args` name one.  `prelude` is Python code run in the
    server process before hsl starts (to inject faults)."""

    def __init__(self, script_path: str | None, *args: str, cwd: str | None = None,
                 prelude: str | None = None):
        self.script = script_path
        start = [sys.executable, "-m", "hsl"] if prelude is None else \
            [sys.executable, "-c", _WITH_PRELUDE, prelude]
        self._spool_dir = None
        if "--spool" in args:
            self.spool = args[list(args).index("--spool") + 1]
        else:
            self._spool_dir = tempfile.TemporaryDirectory(prefix="hsl-spool-")
            self.spool = os.path.join(self._spool_dir.name, "spool")
            args = (*args, "--spool", self.spool)
        helo = ["--helo", script_path] if script_path is not None else []
        cmd = [*start, "serve", *helo,
               "--listen", "127.0.0.1:0", "--hostname", "mx.test.example", *args]
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=cwd or ROOT, env=env)
        self.lines: list[str] = []
        self.reader_done = False
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        line = self.wait_for(r"listening on 127\.0\.0\.1:(\d+)", 30)
        self.port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", line).group(1))
        self.metrics_port = None
        if "--metrics" in args:
            line = self.wait_for(r"metrics on http://127\.0\.0\.1:(\d+)", 10)
            self.metrics_port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))

    def _read(self):
        for raw in self.proc.stderr:
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.reader_done = True
            self.cond.notify_all()

    def wait_for(self, pattern: str, timeout: float = 10, start: int = 0) -> str:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[start:]:
                    if regex.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and self.reader_done):
                    raise AssertionError(f"no log line matching {pattern!r} "
                                         f"(exit status {self.proc.poll()}); log:\n"
                                         + "\n".join(self.lines))
                self.cond.wait(min(left, 0.2))

    def log(self) -> str:
        with self.cond:
            return "\n".join(self.lines)

    def metric(self, name: str) -> float:
        """The value of an unlabelled metric from the --metrics endpoint."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                    timeout=10) as r:
            text = r.read().decode()
        match = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
        if match is None:
            raise AssertionError(f"no metric {name} in:\n{text}")
        return float(match.group(1))

    def fds(self) -> int:
        """How many file descriptors the server process has open."""
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        if self._spool_dir is not None:
            self._spool_dir.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Raw:
    """A raw SMTP client: send exact bytes, read whole replies."""

    def __init__(self, port: int, timeout: float = 10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self) -> list[bytes]:
        """One reply: its lines (with codes)."""
        lines = [self.line()]
        while lines[-1][3:4] == b"-":
            lines.append(self.line())
        return lines

    def send(self, data: bytes):
        self.sock.sendall(data)

    def cmd(self, data: bytes) -> list[bytes]:
        self.send(data)
        return self.reply()

    def closed(self, timeout: float = 5) -> bool:
        """Whether the server closed the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
