"""Log lines of `hsl serve` on stderr: `text` (key=value, strings quoted so that client
data can never forge a line) or `json` (one object per line).

Lines logged on the event loop thread are written once per loop iteration (one write for
all of them); lines from other threads are written at once."""
from __future__ import annotations

import json
import re
import sys
import threading
import time

_PLAIN = re.compile(r"[A-Za-z0-9._\-:/@\[\]]+")


def _quote(value) -> str:
    if type(value) is str:
        if _PLAIN.fullmatch(value):
            return value
        return json.dumps(value, ensure_ascii=True)
    if type(value) is float:
        return f"{value:.3f}"
    if value is None:
        return "-"
    return str(value)


class Logger:
    def __init__(self, fmt: str = "text", stream=None, name: str = "hsl serve"):
        self.fmt = fmt
        self.name = name + ":"          # the text lines' tag (hsl queue run: "hsl queue")
        self.stream = stream if stream is not None else sys.stderr
        self.lock = threading.Lock()
        self.loop = None
        self.loop_thread = None
        self.pending: list = []
        self._stamp_second = -1
        self._stamp = ""

    def attach(self, loop) -> None:
        """Buffer the event loop thread's lines until the end of each loop iteration."""
        self.loop = loop
        self.loop_thread = threading.get_ident()

    def _timestamp(self, now: float) -> str:
        second = int(now)
        if second != self._stamp_second:
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(second))
            self._stamp_second = second
        return self._stamp

    def format(self, event: str, message: str, fields: dict) -> str:
        now = time.time()
        if self.fmt == "json":
            record = {"ts": round(now, 6), "event": event}
            if message:
                record["message"] = message
            record.update(fields)
            return json.dumps(record, ensure_ascii=True, default=str)
        parts = [self._timestamp(now), self.name, event]
        if message:
            # Multi-line messages (compiler diagnostics) stay readable but indented, so
            # that no line can pass for a log record of its own.
            parts.append(message.replace("\n", "\n    "))
        parts.extend(f"{k}={_quote(v)}" for k, v in fields.items())
        return " ".join(parts)

    def log(self, event: str, message: str = "", **fields) -> None:
        line = self.format(event, message, fields)
        if self.loop is not None and threading.get_ident() == self.loop_thread:
            if not self.pending:
                try:
                    self.loop.call_soon(self.flush)
                except RuntimeError:           # the loop is closed
                    self.pending.append(line)
                    self.flush()
                    return
            self.pending.append(line)
            return
        self._write(line + "\n")

    def flush(self) -> None:
        if self.pending:
            text = "\n".join(self.pending) + "\n"
            self.pending = []
            self._write(text)

    def _write(self, text: str) -> None:
        with self.lock:
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                pass

    def info(self, message: str, **fields) -> None:
        self.log("info", message, **fields)

    def error(self, message: str, **fields) -> None:
        self.log("error", message, **fields)
