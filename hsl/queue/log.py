"""One log line per pickup of a queue entry, for `hsl queue run` (on stdout) and
`hsl serve --queue` (in the server's log on stderr), in hsl/serve/log.py's two forms:

    2026-12-02T13:50:01 hsl queue: attempt id=20261202T135000.1Z-9f3a-0 rcpt=bob@example.org dest=127.0.0.1:2526 outcome=deferred code=451 enhanced=4.3.0 reason="try later" retry=1 next=2026-12-02T13:51:01Z
    2026-12-02T13:50:01 hsl queue: echo id=20261202T135000.1Z-9f3a-0 text="a hook's echo"

`outcome` is what became of the entry (runner.RESULTS: delivered, deferred, held, bounced,
deleted); `next` the time of the next attempt, or `done`, `held`, `bounced`, `deleted`.
With --json (`--log-format json`) each pickup is one object: these fields, and the whole
runner.Outcome (its `attempt`, the hooks' `output`, `next` as a number when there is
one, ...).  `--log-json FILE` appends the
JSON object to FILE as well, in either form.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Optional

from .state import QueueError



def _when(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def fields(outcome) -> dict:
    """The line's fields of a runner.Outcome, in their order."""
    out: dict = {"id": outcome.id, "rcpt": outcome.recipient, "dest": outcome.destination}
    attempt = outcome.attempt or {}
    remotemx = (attempt.get("connection") or {}).get("remotemx")
    if remotemx and outcome.destination.startswith("mx:"):   # which MX host
        out["mx"] = remotemx
    out["outcome"] = outcome.result
    result, error = attempt.get("result") or {}, attempt.get("error") or {}
    if result.get("code"):
        out["code"] = result["code"]
        if result.get("enhanced"):
            out["enhanced"] = ".".join(str(n) for n in result["enhanced"])
        out["reason"] = " ".join(result.get("reason") or [])
    elif error:
        out["error"] = f"{error.get('type')}: {error.get('message', '')}"
    elif outcome.attempt is None and outcome.action != "delivered":
        out["attempt"] = "none"             # a hook decided without one
    out["retry"] = outcome.retry
    if outcome.action == "queue" and outcome.next is not None:
        out["next"] = _when(outcome.next)
    else:
        out["next"] = {"delivered": "done", "hold": "held", "bounce": "bounced",
                       "delete": "deleted"}.get(outcome.action, "-")
    if outcome.dsn:
        out["dsn"] = outcome.dsn
    if outcome.error:
        out["hook_error"] = outcome.error
    return out


class AttemptLog:
    """Writes each pickup's line to a hsl.serve.log.Logger (and with `json_path`, its
    JSON object to that file); `attempt` is the runner's on_outcome callback.  While it
    is open, the runner's own warnings and errors (a pickup that failed inside hsl, an
    undeclared delivery plugin) are lines of `errors` (default: the same log), without a
    Python traceback.  QueueError when `json_path` cannot be opened."""

    def __init__(self, logger, json_path: Optional[str] = None, errors=None):
        self.logger = logger
        try:
            self._file = open(json_path, "a") if json_path else None   # noqa: SIM115
        except OSError as e:
            raise QueueError(f"--log-json {json_path}: {e.strerror or e}") from None
        self._lock = threading.Lock()       # pickups finish on several threads
        self._handler = _ToLogger(errors if errors is not None else logger)
        runner_log = logging.getLogger("hsl.queue")
        runner_log.addHandler(self._handler)
        runner_log.propagate = False        # (not to Python's last-resort stderr)

    def attempt(self, outcome) -> None:
        summary = fields(outcome)
        # JSON: `next` only as a number (deferred, held), the outcome says the rest
        record = {**{k: v for k, v in summary.items() if k != "next"},
                  **outcome.to_json()}
        if self.logger.fmt == "json":
            self.logger.log("attempt", **record)
        else:
            self.logger.log("attempt", **summary)
            for line in outcome.output:         # the hooks' echo
                self.logger.log("echo", id=outcome.id, text=line)
        if self._file is not None:
            with self._lock:
                self._file.write(json.dumps({"ts": round(time.time(), 6),
                                             "event": "attempt", **record},
                                            default=str) + "\n")
                self._file.flush()

    def close(self) -> None:
        logging.getLogger("hsl.queue").removeHandler(self._handler)
        logging.getLogger("hsl.queue").propagate = True
        if self._file is not None:
            self._file.close()
            self._file = None


class _ToLogger(logging.Handler):
    """The runner's warnings and errors (Python logging) as lines of the Logger."""

    def __init__(self, logger):
        super().__init__(logging.WARNING)
        self.logger = logger

    def emit(self, record) -> None:
        self.logger.log("error" if record.levelno >= logging.ERROR else "warning",
                        record.getMessage())
