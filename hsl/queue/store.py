"""The queue over the spool: each committed copy (hsl/queue/spool.py) is a queue entry,
and what the queue learns about it (attempts, the next one, hold, metadata, a new
transport) lives beside it in `N.state`.

The message (`N.eml`, perhaps a hard link shared by copies) and the envelope (`N.json`)
are never changed.  `N.state` is one JSON object, replaced atomically (written to
`.N.state.tmp` in the batch directory, fsync'ed, renamed over, the directory fsync'ed),
so a crash at any moment leaves the old state or the new one, never a torn one:

| key | type | what |
|---|---|---|
| `retry` | integer >= 0 | attempts that failed and were retried (`$arguments["retry"]`) |
| `next` | number | Unix time of the next attempt (absent: received + the envelope's `delay`) |
| `hold` | boolean | in the hold queue: never due until released |
| `metadata` | object of string -> string | replaces the envelope's (`SetMetaData()`) |
| `transportid` | string | replaces the envelope's (`Queue(["transportid" => ...])`) |
| `bounce` | boolean | an operator asked for a bounce (`hsl queue bounce`) |
| `last` | string | the last outcome, for `hsl queue list/show` |

An entry leaves the queue by `spool.remove` (its envelope is unlinked first: from then
on no reader sees it), and only after a delivery, a delete, or a bounce whose DSN is
committed.  A DSN is a new spool batch whose envelope has `dsn_of`: the id of the copy it
reports on.  The original is removed after it; when a crash comes in between, opening
the queue finishes the job (an original named by a live entry's `dsn_of` is removed), so
a bounce is never lost and never sent twice.

One process owns a spool at a time: `Queue.open(lock=True)` takes an exclusive
`flock` on `SPOOL/.lock` (it holds the owner's pid) and fails with `QueueLocked` when
another process has it.  Reading (`hsl queue list`, `show`) needs no lock.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from . import spool

LOCK_FILE = ".lock"
STATE_KEYS = {"retry", "next", "hold", "metadata", "transportid", "bounce", "last"}


class QueueError(Exception):
    """A queue operation that cannot be done; the text names the spool, entry or file."""


class QueueLocked(QueueError):
    pass


def _state_path(entry: spool.Entry) -> str:
    return entry.envelope_path[:-len("json")] + "state"


def _state_error(state) -> Optional[str]:
    if not isinstance(state, dict):
        return "not a queue state (not a JSON object)"
    for key, value in state.items():
        if key == "retry" and not (type(value) is int and value >= 0):
            return "retry must be a whole number >= 0"
        if key == "next" and not (type(value) in (int, float) and value == value):
            return "next must be a number"
        if key in ("hold", "bounce") and type(value) is not bool:
            return f"{key} must be true or false"
        if key == "metadata" and not (isinstance(value, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
            return "metadata must map strings to strings"
        if key in ("transportid", "last") and not isinstance(value, str):
            return f"{key} must be a string"
    return None


def read_state(entry: spool.Entry) -> dict:
    """The entry's queue state ({} when it has none yet).  QueueError for a corrupt one."""
    path = _state_path(entry)
    try:
        with open(path, "rb") as f:
            data = f.read(spool.MAX_ENVELOPE + 1)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise QueueError(f"{path}: cannot read the queue state: {e.strerror}") from None
    try:
        state = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise QueueError(f"{path}: not a queue state ({e})") from None
    problem = _state_error(state)
    if problem:
        raise QueueError(f"{path}: {problem}")
    return state


def write_state(entry: spool.Entry, state: dict) -> None:
    """Replace the entry's state atomically and durably."""
    problem = _state_error(state)
    if problem:
        raise ValueError(problem)
    path = _state_path(entry)
    batch = os.path.dirname(path)
    tmp = os.path.join(batch, "." + os.path.basename(path) + ".tmp")
    data = json.dumps(state, ensure_ascii=True, sort_keys=True).encode()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, spool.FILE_MODE)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        spool._fsync_dir(batch)
    except OSError as e:
        raise QueueError(f"{path}: cannot write the queue state: {e.strerror}") from None


@dataclass
class QueueEntry:
    """A queued copy: the spool entry and its queue state."""
    entry: spool.Entry
    state: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def envelope(self) -> dict:
        return self.entry.envelope

    @property
    def sender(self) -> str:
        return self.envelope["sender"]

    @property
    def recipient(self) -> str:
        return self.envelope["recipient"]

    @property
    def transportid(self) -> str:
        return self.state.get("transportid", self.envelope["transportid"])

    @property
    def metadata(self) -> dict:
        return self.state.get("metadata", self.envelope["metadata"])

    @property
    def retry(self) -> int:
        return self.state.get("retry", 0)

    @property
    def hold(self) -> bool:
        return self.state.get("hold", self.envelope["hold"])

    @property
    def next(self) -> float:
        return self.state.get("next", self.envelope["ts"] + self.envelope["delay"])

    @property
    def size(self) -> int:
        return self.envelope["size"]

    def message_bytes(self) -> bytes:
        return self.entry.read_message()

    def due(self, now: float) -> bool:
        return not self.hold and (self.state.get("bounce", False) or self.next <= now)

    def to_json(self) -> dict:
        e = self.envelope
        out = {"id": self.id, "transaction": e["transaction"], "sender": self.sender,
               "recipient": self.recipient, "transportid": self.transportid,
               "size": self.size, "received": e["ts"], "retry": self.retry,
               "next": self.next, "state": "held" if self.hold else "queued",
               "metadata": self.metadata, "jobid": e.get("jobid")}
        for key in ("bounce", "last"):
            if key in self.state:
                out[key] = self.state[key]
        if "dsn_of" in e:
            out["dsn_of"] = e["dsn_of"]
        return out


class Queue:
    """The entries of one spool directory.  Entries are read fresh from the spool each
    time (`entries()`), so copies another process commits (hsl serve) show up."""

    def __init__(self, spool_dir: str, clock: Callable[[], float] = time.time):
        self.spool_dir = spool_dir
        self.clock = clock
        self.problems: list = []
        self._lock_fd: Optional[int] = None

    @classmethod
    def open(cls, spool_dir: str, *, clock: Callable[[], float] = time.time,
             lock: bool = True, create: bool = False) -> "Queue":
        if create:
            spool.ensure_spool(spool_dir)
        elif not os.path.isdir(spool_dir):
            raise QueueError(f"spool directory {spool_dir}: no such directory")
        queue = cls(spool_dir, clock)
        if lock:
            queue._take_lock()
            queue.recover()
        return queue

    def _take_lock(self) -> None:
        path = os.path.join(self.spool_dir, LOCK_FILE)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, spool.FILE_MODE)
        except OSError as e:
            raise QueueError(f"spool directory {self.spool_dir}: cannot open {LOCK_FILE}: "
                             f"{e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                who = f" (pid {holder})" if holder.isdigit() else ""
                raise QueueLocked(f"spool directory {self.spool_dir}: another process owns "
                                  f"it{who}; one queue runs a spool at a time") from None
            raise QueueError(f"spool directory {self.spool_dir}: cannot lock: "
                             f"{e.strerror}") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)         # releases the flock
            self._lock_fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- reading --------------------------------------------------------------------

    def entries(self) -> list:
        """Every queued entry in commit order.  Spool files that are not valid entries
        and corrupt state files are collected in `problems` and skipped."""
        self.problems = []
        out = []
        for entry in spool.iter_entries(self.spool_dir, self.problems.append):
            try:
                state = read_state(entry)
            except QueueError as e:
                self.problems.append(spool.Problem(_state_path(entry), str(e).split(": ", 1)[1]))
                continue
            out.append(QueueEntry(entry, state))
        return out

    def get(self, entry_id: str) -> QueueEntry:
        for entry in self.entries():
            if entry.id == entry_id:
                return entry
        raise QueueError(f"spool directory {self.spool_dir}: no queued entry {entry_id!r}")

    def due(self, now: Optional[float] = None) -> list:
        now = self.clock() if now is None else now
        return [e for e in self.entries() if e.due(now)]

    def next_due(self) -> Optional[float]:
        """When the next entry that is not held becomes due (None: there is none)."""
        times = [e.next for e in self.entries() if not e.hold]
        return min(times) if times else None

    # -- changing -------------------------------------------------------------------

    def update(self, entry: QueueEntry, **fields) -> QueueEntry:
        unknown = set(fields) - STATE_KEYS
        if unknown:
            raise TypeError(f"unknown queue state keys {sorted(unknown)}")
        state = {**entry.state, **fields}
        for key in [k for k, v in state.items() if v is None]:
            del state[key]
        write_state(entry.entry, state)
        entry.state = state
        return entry

    def remove(self, entry: QueueEntry) -> None:
        """The entry leaves the queue (delivered, deleted, or bounced with its DSN
        committed)."""
        try:
            spool.remove(entry.entry)
        except spool.SpoolError as e:
            raise QueueError(str(e)) from None

    def add(self, copies: list) -> list:
        """Commit new copies (DSNs) to the spool; their ids."""
        try:
            batch = spool.write_copies(self.spool_dir, copies)
        except spool.SpoolError as e:
            raise QueueError(str(e)) from None
        return batch

    def hold(self, entry_id: str) -> QueueEntry:
        return self.update(self.get(entry_id), hold=True)

    def release(self, entry_id: str) -> QueueEntry:
        """Out of the hold queue and due now."""
        return self.update(self.get(entry_id), hold=False, next=self.clock())

    def delete(self, entry_id: str) -> QueueEntry:
        entry = self.get(entry_id)
        self.remove(entry)
        return entry

    def request_bounce(self, entry_id: str) -> QueueEntry:
        """The runner bounces it at its next pass (held or not)."""
        return self.update(self.get(entry_id), bounce=True, hold=False)

    def recover(self) -> list:
        """Finish bounces a crash interrupted: remove every original whose DSN is
        committed.  The ids removed."""
        entries = self.entries()
        reported = {e.envelope.get("dsn_of") for e in entries} - {None}
        done = []
        for entry in entries:
            if entry.id in reported:
                self.remove(entry)
                done.append(entry.id)
        return done
