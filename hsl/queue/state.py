"""The queue's mutable state of a spooled copy, kept beside its batch (the batch file is
never changed; hsl/queue/spool.py):

    SPOOL/<batch>.N.state.json     retries, next attempt, hold, metadata, ... (this table)
    SPOOL/<batch>.N.done           copy N is finished (delivered, bounced, deleted):
                                   it is never attempted again, only removed

Both are written atomically and durably: a temporary file in the spool directory (its
name starts with "." so spool readers skip it), written, fsync'ed, renamed over the old
file, the directory fsync'ed.  A crash at any moment leaves the old state or the new one,
never a mix; what it may leave is a temporary file, which the queue's owner removes.

A copy without a state file has its initial state: no retries, due at `ts + delay`, held
when its envelope says `hold`, the envelope's metadata and transport.

`N.state.json`, one JSON object (written with every key; a key absent or null reads as
the initial state's):

| key | type | what |
|---|---|---|
| `retry` | integer >= 0 | the attempts counted so far |
| `next` | number or null | Unix time of the next attempt (absent: `ts + delay`) |
| `hold` | boolean | in the hold queue: not attempted until released |
| `metadata` | object of strings | `GetMetaData()`; `SetMetaData()` replaces it |
| `transportid` | string or null | the transport to use instead of the envelope's |
| `last` | object or null | the last attempt: `time` (number), `outcome` (string) |
| `bounce` | boolean | an operator asked for a bounce: the runner bounces it next |
| `delayed` | integer >= 0 | delayed DSNs sent so far |

`N.done`: `{"time": T, "why": "delivered: 250 2.0.0 Ok"}` (the why is for people).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, replace
from typing import Optional

from .spool import (DONE_SUFFIX, FILE_MODE, MAX_ENVELOPE, STATE_SUFFIX, Entry, _fsync_dir,
                    _is_count, _is_number, _is_text_map, _unlink_quietly)


class QueueError(Exception):
    """What the queue cannot do; `str()` says what and where (no traceback for users)."""


class StateError(QueueError):
    """A state file that cannot be read or written; `str()` names the file and why."""

    def __init__(self, path: str, reason: str, *, writing: bool = False):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason
        self.writing = writing          # the disk refused a write (else: a bad file)


def _is_last(v) -> bool:
    return isinstance(v, dict) and set(v) == {"time", "outcome"} and \
        _is_number(v["time"]) and isinstance(v["outcome"], str)


# key -> (check, what the value must be); the fields of State, in this order
FIELDS = {
    "retry": (_is_count, "an integer >= 0"),
    "next": (lambda v: v is None or _is_number(v), "a number"),
    "hold": (lambda v: isinstance(v, bool), "a boolean"),
    "metadata": (_is_text_map, "an object of strings"),
    "transportid": (lambda v: v is None or isinstance(v, str), "a string"),
    "last": (lambda v: v is None or _is_last(v),
             "an object with \"time\" (a number) and \"outcome\" (a string)"),
    "bounce": (lambda v: isinstance(v, bool), "a boolean"),
    "delayed": (_is_count, "an integer >= 0"),
}


@dataclass(frozen=True)
class State:
    """One copy's queue state; None in `next`, `transportid`, `last`: not set."""
    retry: int = 0
    next: Optional[float] = None
    hold: bool = False
    metadata: dict = field(default_factory=dict)
    transportid: Optional[str] = None
    last: Optional[dict] = None
    bounce: bool = False
    delayed: int = 0

    @classmethod
    def initial(cls, envelope: dict) -> "State":
        """The state of a copy the queue has not touched yet."""
        return cls(hold=envelope["hold"], metadata=dict(envelope["metadata"]))

    def changed(self, **values) -> "State":
        """A copy with `values` set; ValueError naming the field that is unknown or of the
        wrong kind (a caller's mistake, found before anything is written)."""
        for key, value in values.items():
            problem = field_error(key, value)
            if problem:
                raise ValueError(problem)
        return replace(self, **values)

    def to_json(self) -> dict:
        """The JSON object of the state file: every field (a field left out would read
        back as the envelope's, as `hold` and `metadata` do, not as this state's)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def field_error(key: str, value) -> Optional[str]:
    """Why `value` cannot be the state's `key`, or None."""
    if key not in FIELDS:
        return f"no queue state field \"{key}\" (fields: {', '.join(FIELDS)})"
    check, what = FIELDS[key]
    if not check(value):
        return f"\"{key}\" must be {what}, not {json.dumps(value, default=repr)[:60]}"
    return None


def state_path(entry: Entry) -> str:
    """`BATCH.N.state.json` of the spool copy `entry`."""
    return entry.stem + STATE_SUFFIX


def done_path(entry: Entry) -> str:
    """`BATCH.N.done` of the spool copy `entry`."""
    return entry.stem + DONE_SUFFIX


def read_state(path: str, envelope: dict) -> State:
    """The state in file `path` (a missing file: the initial state of `envelope`);
    StateError naming the file for one that is not a valid state."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_ENVELOPE + 1)
    except FileNotFoundError:
        return State.initial(envelope)
    except OSError as e:
        raise StateError(path, f"cannot read the queue state: {e.strerror or e}") from None
    if len(data) > MAX_ENVELOPE:
        raise StateError(path, f"not a queue state (over {MAX_ENVELOPE} bytes)")
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise StateError(path, f"not a queue state (not UTF-8: {e.reason} at byte "
                               f"{e.start})") from None
    except ValueError as e:
        raise StateError(path, f"not a queue state (not JSON: {e})") from None
    except RecursionError:
        raise StateError(path, "not a queue state (nested too deeply)") from None
    if not isinstance(value, dict):
        raise StateError(path, "not a queue state (not a JSON object)")
    base = State.initial(envelope)
    for key, v in value.items():
        problem = field_error(key, v)
        if problem:
            raise StateError(path, problem)
    return replace(base, **value)


def write_state(path: str, state: State) -> None:
    """Replace the state file `path` atomically and durably; StateError when the disk
    refuses (the old state stays)."""
    _write_atomically(path, json.dumps(state.to_json(), allow_nan=False, sort_keys=True))


def write_done(path: str, when: float, why: str) -> None:
    """Write the done marker `path`, durably, before the copy is removed.  Its existence
    is what counts (read_done), so one fsync of the directory makes it durable; its text
    is for people and may be lost in a crash.  StateError when the disk refuses: then
    there is no marker (the copy stays queued)."""
    try:
        _write_file(path, json.dumps({"time": when, "why": why}, allow_nan=False),
                    fsync=False)
        _fsync_dir(os.path.dirname(path))
    except OSError as e:
        _unlink_quietly(path)
        raise StateError(path, f"cannot write the done marker: {e.strerror or e}",
                         writing=True) from None


def read_done(path: str) -> Optional[dict]:
    """The done marker's object; None when there is none.  A marker that cannot be
    parsed still marks the copy done (its existence is what counts): {}."""
    try:
        with open(path, "rb") as f:
            data = f.read(65536)
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def temporary_name(path: str) -> str:
    """The temporary file a write of `path` goes through (a dot name: readers skip it)."""
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.tmp-{os.getpid()}")


def _write_file(path: str, text: str, fsync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    try:
        view = memoryview((text + "\n").encode("ascii"))
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: str, text: str) -> None:
    temp = temporary_name(path)
    try:
        _write_file(temp, text, fsync=True)
        os.rename(temp, path)
        _fsync_dir(os.path.dirname(path))
    except OSError as e:
        _unlink_quietly(temp)
        raise StateError(path, f"cannot write the queue state: {e.strerror or e}",
                         writing=True) from None
