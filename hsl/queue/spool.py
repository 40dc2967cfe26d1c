"""The spool: where the copies that an EOD hook queued and committed (`queue()`, then
`Accept()`) are kept until the queue delivers them.

A message that got a 250 is never lost: `write_copies` returns only once every copy of the
transaction is on disk (written, fsync'ed, committed, the directory fsync'ed), so the
server sends the 250 after it; when it raises `SpoolError` nothing of the transaction is
visible and the server answers 451 instead.

Layout (one directory, created 0700 when missing; every file 0600):

    SPOOL/
      20250102T030405.123456789Z-9f3a61c2d4e5b708/     one committed transaction (a batch)
        0.eml  0.json                                  its first copy: message, envelope
        1.eml  1.json                                  ...
      .tmp-20250102T030405.223456789Z-.../             a batch being written (ignored)

A batch is written into a temporary directory of the spool (`.tmp-` + its id: every file
written and fsync'ed, then the directory), then renamed to its id and the spool directory
fsync'ed.  That one rename commits all the copies of the transaction together: a reader
sees all of them or none, and a writer that fails or dies leaves only a `.tmp-` directory,
which readers ignore and `sweep` removes.  Inside a batch the envelope is the commit
marker of its copy: `remove` deletes the `.json` first, and a reader ignores an `.eml`
without its `.json`.

Copies of a batch with the same bytes share one file (`1.eml` a hard link to `0.eml`,
where the file system can link): one message written and synced instead of one per
recipient.  So a message file is never changed in place; a copy that needs other bytes is
written anew.

Batch ids are the UTC time of the write to the nanosecond plus 64 random bits: unique
across threads, processes and restarts, safe as file names, and in time order when sorted
as text (strictly increasing within one process).  A copy's id is its batch id, `-`, and
its position in the batch (`...b708-0`).  Readers yield copies in commit order: batches in
id order, copies in batch order (batch ids are in the order the writers started: across
processes, and across the threads of one, a batch may be committed after one with a later
id, so a reader that lists the spool again must look at every name it has not seen).

The envelope (`N.json`), one JSON object (UTF-8, ASCII-escaped):

| key | type | what |
|---|---|---|
| `spool` | 1 | the format version |
| `transaction` | string | `$transaction["id"]` of the SMTP transaction |
| `queue` | integer >= 0 | the queue number `queue()` returned (default: the position) |
| `ts` | number | when the message was received (Unix time, `$transaction["ts"]`) |
| `sender` | string | envelope sender, `""` for `<>` |
| `recipient` | string | envelope recipient |
| `transportid` | string | the transport to deliver with |
| `metadata` | object of string -> string | `queue()`'s `metadata` (`GetMetaData()` later) |
| `hold` | boolean | `queue()`'s `hold`: put in the hold queue |
| `jobid` | string or null | `queue()`'s `jobid` |
| `delay` | number >= 0 | `queue()`'s `delay`, seconds before the first attempt |
| `quotas` | list of strings | `queue()`'s `quotas` |
| `size` | integer >= 0 | the length of `N.eml` in bytes (a reader checks it) |

Other keys are kept and passed on (later additions to format 1; a writer gives them as
`Copy.extra`, such as the queue's `dsn_of`).  HSL strings are bytes:
a text field given as bytes is stored as its UTF-8 reading with `surrogateescape`, so
`value.encode("utf-8", "surrogateescape")` gives the bytes back exactly.  The message
(`N.eml`) is the copy's bytes exactly as given (line endings, 8-bit data and all).

The queue keeps two more files beside a copy (hsl/queue/state.py): `N.state.json`, its
mutable queue state (retries, next attempt, hold), and `N.done`, the marker that the copy
was delivered, bounced or deleted and only has to be removed.  Readers accept them and
names starting with "." in a batch (their temporary files); `remove` deletes them after
the envelope; `sweep` deletes them when their envelope is gone.
"""
from __future__ import annotations

import concurrent.futures
import errno
import json
import math
import os
import platform
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

FORMAT = 1
TEMP_PREFIX = ".tmp-"
BATCH_ID = re.compile(r"\d{8}T\d{6}\.\d{9}Z-[0-9a-f]{16}\Z")
COPY_FILE = re.compile(r"(0|[1-9]\d*)\.(eml|json|state\.json|done)\Z")
COMPANIONS = ("eml", "state.json", "done")     # removed after a copy's envelope (.json)
MAX_ENVELOPE = 16 << 20     # bytes: a bigger .json is not one of ours
FILE_MODE = 0o600
DIR_MODE = 0o700


class SpoolError(Exception):
    """The spool could not take a transaction (or a removal): nothing of it is visible.
    `str()` names the directory, the step and the reason (the server's 451 text)."""

    def __init__(self, directory: str, step: str, reason: str):
        super().__init__(f"spool directory {directory}: cannot {step}: {reason}")
        self.directory, self.step, self.reason = directory, step, reason


@dataclass(frozen=True)
class Copy:
    """One queued copy: the message bytes (with the modifications made so far) and its
    envelope.  Text fields take str or bytes (see the module docstring)."""
    message: bytes
    transaction: str
    sender: str
    recipient: str
    transportid: str
    queue: Optional[int] = None         # None: the copy's position in the batch
    metadata: dict = field(default_factory=dict)
    hold: bool = False
    jobid: Optional[str] = None
    delay: float = 0
    quotas: tuple = ()
    received: Optional[float] = None    # Unix time; None: the time of the write
    extra: dict = field(default_factory=dict)   # other envelope keys (JSON values)


@dataclass(frozen=True)
class Entry:
    """A committed copy as a reader finds it: its id, the validated envelope (the JSON
    object) and where its message and envelope are."""
    id: str
    envelope: dict
    message_path: str
    envelope_path: str

    def read_message(self) -> bytes:
        with open(self.message_path, "rb") as f:
            return f.read()


@dataclass(frozen=True)
class Problem:
    """A file of the spool that is not a valid entry: its path and why."""
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Listing:
    entries: list
    problems: list


# ---------------------------------------------------------------------------------------
# The envelope: one table for the writer and the reader.

def _is_text(v) -> bool:
    return isinstance(v, str)


def _is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_text_map(v) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str)
                                       for k, x in v.items())


def _is_text_list(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


# key -> (check, what the value must be)
ENVELOPE = {
    "spool": (lambda v: type(v) is int and v == FORMAT, f"the format version {FORMAT}"),
    "transaction": (lambda v: _is_text(v) and v != "", "a non-empty string"),
    "queue": (_is_count, "an integer >= 0"),
    "ts": (_is_number, "a number"),
    "sender": (_is_text, "a string"),
    "recipient": (_is_text, "a string"),
    "transportid": (_is_text, "a string"),
    "metadata": (_is_text_map, "an object of strings"),
    "hold": (lambda v: isinstance(v, bool), "a boolean"),
    "jobid": (lambda v: v is None or _is_text(v), "a string or null"),
    "delay": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "quotas": (_is_text_list, "a list of strings"),
    "size": (_is_count, "an integer >= 0"),
}


def envelope_error(envelope) -> Optional[str]:
    """Why `envelope` (a decoded JSON value) is not a valid envelope, or None."""
    if not isinstance(envelope, dict):
        return "not a spool envelope (not a JSON object)"
    if "spool" not in envelope:
        return "not a spool envelope (no \"spool\" key)"
    for key, (check, what) in ENVELOPE.items():
        if key not in envelope:
            return f"no \"{key}\""
        if not check(envelope[key]):
            return f"\"{key}\" must be {what}, not {json.dumps(envelope[key])[:60]}"
    return None


def _text(value, what: str) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    if isinstance(value, str):
        return value
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def _envelope(copy: Copy, position: int, now: float) -> dict:
    """The JSON object of `copy`; TypeError/ValueError when a field is of the wrong kind
    (a caller's mistake, found before anything is written)."""
    if not isinstance(copy.message, (bytes, bytearray, memoryview)):
        raise TypeError(f"the message must be bytes, not {type(copy.message).__name__}")
    if not isinstance(copy.metadata, dict):
        raise TypeError(f"metadata must be a dict, not {type(copy.metadata).__name__}")
    if not isinstance(copy.quotas, (list, tuple)):
        raise TypeError(f"quotas must be a list, not {type(copy.quotas).__name__}")
    if not isinstance(copy.extra, dict):
        raise TypeError(f"extra must be a dict, not {type(copy.extra).__name__}")
    clash = sorted(k for k in copy.extra if k in ENVELOPE)
    if clash:
        raise ValueError(f"copy {position}: extra key \"{clash[0]}\" is an envelope field")
    env = {
        "spool": FORMAT,
        "transaction": _text(copy.transaction, "transaction"),
        "queue": position if copy.queue is None else copy.queue,
        "ts": now if copy.received is None else copy.received,
        "sender": _text(copy.sender, "sender"),
        "recipient": _text(copy.recipient, "recipient"),
        "transportid": _text(copy.transportid, "transportid"),
        "metadata": {_text(k, "a metadata key"): _text(v, "a metadata value")
                     for k, v in copy.metadata.items()},
        "hold": copy.hold,
        "jobid": None if copy.jobid is None else _text(copy.jobid, "jobid"),
        "delay": copy.delay,
        "quotas": [_text(q, "a quota") for q in copy.quotas],
        "size": memoryview(copy.message).nbytes,
        **copy.extra,
    }
    problem = envelope_error(env)
    if problem:
        raise ValueError(f"copy {position}: {problem}")
    return env


# ---------------------------------------------------------------------------------------
# Writing

_id_lock = threading.Lock()
_last_ns = 0


def new_batch_id() -> str:
    """A batch id: UTC time to the nanosecond (strictly increasing in this process, even
    when the clock steps back) and 64 random bits."""
    global _last_ns
    with _id_lock:
        ns = _last_ns = max(time.time_ns(), _last_ns + 1)
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds))
    return f"{stamp}.{fraction:09d}Z-{os.urandom(8).hex()}"


def _reason(e: OSError) -> str:
    return e.strerror or str(e)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_file(dir_fd: int, name: str, data) -> int:
    """Write a new file of the batch; its descriptor, to fsync once every file is written
    (one journal commit then makes most of them durable at once)."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE,
                 dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        raise
    return fd


def _link_file(dir_fd: int, source: str, name: str) -> bool:
    """`name` as a hard link to `source` in the batch (copies with the same bytes share
    them); False where the file system cannot link."""
    try:
        os.link(source, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return True
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP,
                       errno.EXDEV, errno.ENOSYS):
            return False
        raise


def _discard(path: str) -> None:
    """Remove a batch directory (temporary or renamed back), as far as possible: what
    stays is a `.tmp-` directory that readers ignore and `sweep` removes."""
    try:
        for name in os.listdir(path):
            try:
                os.unlink(os.path.join(path, name))
            except OSError:
                pass
        os.rmdir(path)
    except OSError:
        pass


def ensure_spool(spool_dir: str) -> None:
    """Create the spool directory (0700, with its parents) when it is missing, durably."""
    if os.path.isdir(spool_dir):
        return
    try:
        os.makedirs(spool_dir, DIR_MODE)
    except FileExistsError:
        if not os.path.isdir(spool_dir):
            raise SpoolError(spool_dir, "create it", "a file of that name exists") from None
        return
    except OSError as e:
        raise SpoolError(spool_dir, "create it", _reason(e)) from None
    try:
        _fsync_dir(os.path.dirname(os.path.abspath(spool_dir)))
    except OSError as e:
        raise SpoolError(spool_dir, "create it", _reason(e)) from None


def _encode(envelope: dict) -> bytes:
    try:
        return json.dumps(envelope, allow_nan=False).encode("ascii") + b"\n"
    except (TypeError, ValueError) as e:        # an extra value that is not JSON
        raise ValueError(f"the envelope cannot be written as JSON: {e}") from None


class _Batch:
    """One transaction's batch on its way into the spool: `write` (its temporary
    directory and files, not yet synced), `sync`, `close`, `commit` (the rename); `undo`
    after a failure at any step takes back what is visible.  `step` names the step under
    way (SpoolError's text)."""

    def __init__(self, spool_dir: str, copies: list):
        self.spool_dir, self.copies = spool_dir, copies
        now = time.time()
        self.envelopes = [_envelope(c, i, now) for i, c in enumerate(copies)]
        self.encoded = [_encode(env) for env in self.envelopes]    # refused before writing
        self.batch = ""
        self.temp = self.final = ""
        self.step = "create a batch directory"
        self.committed = False
        self.dir_fd = -1
        self.fds: list = []

    def ids(self) -> list:
        return [f"{self.batch}-{i}" for i in range(len(self.copies))]

    def write(self) -> None:
        self.batch = new_batch_id()
        self.temp = os.path.join(self.spool_dir, TEMP_PREFIX + self.batch)
        self.final = os.path.join(self.spool_dir, self.batch)
        self.step = "create a batch directory"
        os.mkdir(self.temp, DIR_MODE)
        self.dir_fd = dir_fd = os.open(self.temp, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        written: dict = {}          # message bytes -> the file that has them
        for i, (c, data) in enumerate(zip(self.copies, self.encoded)):
            self.step = "write a message"
            name = f"{i}.eml"
            first = written.get(c.message)
            if first is None or not _link_file(dir_fd, first, name):
                self.fds.append(_create_file(dir_fd, name, c.message))
                written.setdefault(c.message, name)
            self.step = "write an envelope"
            self.fds.append(_create_file(dir_fd, f"{i}.json", data))

    def sync(self) -> None:
        self.step = "sync the batch"
        for fd in self.fds:
            os.fsync(fd)
        os.fsync(self.dir_fd)

    def close(self) -> None:
        fds, self.fds = self.fds, []
        if self.dir_fd >= 0:
            fds.append(self.dir_fd)
            self.dir_fd = -1
        for fd in fds:
            os.close(fd)

    def commit(self) -> None:
        self.step = "commit the batch"
        os.rename(self.temp, self.final)
        self.committed = True

    def undo(self) -> None:
        """Nothing of the batch may stay visible: renamed back first (one atomic step),
        then removed."""
        try:
            self.close()
        except OSError:
            pass
        if not self.temp:
            return
        if self.committed:
            try:
                os.rename(self.final, self.temp)
            except OSError:
                _discard(self.final)
        _discard(self.temp)

    def error(self, e: BaseException) -> BaseException:
        return SpoolError(self.spool_dir, self.step, _reason(e)) if isinstance(e, OSError) \
            else e


def write_copies(spool_dir: str, copies) -> list:
    """Commit `copies` (one transaction's) to the spool, all or none; the list of their
    ids.  Returns once they are durable.  SpoolError (nothing visible) when the disk
    refuses; TypeError/ValueError, before any write, when a copy is malformed."""
    copies = list(copies)
    if not copies:
        return []
    batch = _Batch(spool_dir, copies)
    ensure_spool(spool_dir)
    try:
        try:
            batch.write()
            batch.sync()
        finally:
            batch.close()
        batch.commit()
        batch.step = "sync the spool directory"
        _fsync_dir(spool_dir)
    except BaseException as e:
        batch.undo()
        error = batch.error(e)
        if error is e:
            raise
        raise error from None
    return batch.ids()


def _syncfs_function():
    """libc's syncfs(2) where it reports write-back errors (Linux 5.8 and later), else
    None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        version = tuple(int(x) for x in platform.release().split("-")[0].split(".")[:2])
        if version < (5, 8):
            return None
        import ctypes
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (ValueError, OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


def _fsync_error(fd: int) -> Optional[BaseException]:
    try:
        os.fsync(fd)
    except BaseException as e:          # raised by the batch it belongs to
        return e
    return None


class SpoolWriter:
    """Group commit: `write_copies` for a server with many transactions in flight.  A
    writer thread takes every transaction waiting (up to MAX_GROUP) and commits them
    together (WRITERS threads: a group that comes while one is being synced starts at
    once, and its syncs join the next journal commit):
    each batch written in its temporary directory as `write_copies` does, then all the
    files and directories of the group made durable at once, then each batch whose
    files are durable renamed, then one fsync of the spool directory for all the
    renames.  Only then is each transaction's future resolved: the same durability,
    format and all-or-none as `write_copies`, and a failure fails only the batches it
    touched (a failed final sync takes back the whole group).

    Durable at once: a group of SYNCFS_GROUP batches or more by one syncfs(2) of the
    spool's file system where it reports write-back errors (Linux 5.8 on); a smaller
    one, or when syncfs is not to be had or fails, by fsyncs of every file and
    directory of the group at once on SYNC_THREADS threads (the journal makes
    concurrent fsyncs one commit).  syncfs costs the kernel a third of the CPU of the
    fsyncs (measured: 0.15-0.2 against 0.5-0.65 ms per two-copy message) and is faster
    while the file system is ours, but it writes out every other writer's dirty data
    too: slower (tens to hundreds of ms) when they write a lot, which a lone message
    (a quiet server) should not wait for, and a large group shares.  `syncfs=False`
    keeps to the fsyncs.

        writer = SpoolWriter(spool_dir)
        ids = await asyncio.wrap_future(writer.submit(copies))
        writer.close()                  # commits what was submitted, then stops"""

    MAX_GROUP = 64
    WRITERS = 2             # groups committed at once (a new one need not wait for the last)
    SYNC_THREADS = 8        # (more threads: more GIL handoffs that delay the event loop)
    SYNCFS_GROUP = 4        # smaller groups: fsyncs (a lone message waits for no one else's)

    def __init__(self, spool_dir: str, syncfs: Optional[bool] = None):
        """`syncfs`: None, syncfs(2) where it reports errors, else the fsyncs; False, the
        fsyncs; True, syncfs(2) (OSError where it is not to be had)."""
        self.spool_dir = spool_dir
        self.syncfs = _syncfs_function() if syncfs is not False else None
        if syncfs and self.syncfs is None:
            raise OSError(errno.ENOSYS, "syncfs(2) with error reporting is not available")
        self._sync_pool = concurrent.futures.ThreadPoolExecutor(
            self.SYNC_THREADS, thread_name_prefix="hsl-spool-sync")
        self.groups = 0                 # groups committed, and their batches (for tests)
        self.batches = 0
        self._cond = threading.Condition()
        self._pending: list = []
        self._closed = False
        self._threads = [threading.Thread(target=self._run, name=f"hsl-spool-writer-{i}",
                                          daemon=True) for i in range(self.WRITERS)]
        for t in self._threads:
            t.start()

    def submit(self, copies) -> "concurrent.futures.Future":
        """A future of the copies' ids, resolved once they are durable; its exception is
        SpoolError (nothing visible), or TypeError/ValueError for a malformed copy."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        copies = list(copies)
        if not copies:
            future.set_result([])
            return future
        with self._cond:
            if self._closed:
                raise RuntimeError("the spool writer is closed")
            self._pending.append((future, copies))
            self._cond.notify()
        return future

    def write(self, copies) -> list:
        """`write_copies` through the writer (blocking)."""
        return self.submit(copies).result()

    def close(self) -> None:
        """Commit what was submitted, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._threads:
            t.join()
        self._sync_pool.shutdown()

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._pending and not self._closed:
                    cond.wait()
                if not self._pending:
                    return
                group = self._pending[:self.MAX_GROUP]
                del self._pending[:self.MAX_GROUP]
            try:
                self._commit(group)
            except BaseException as e:          # a bug: no transaction may wait forever
                for future, _ in group:
                    if not future.done():
                        future.set_exception(e)

    def _commit(self, group: list) -> None:
        written = []
        for future, copies in group:
            if not future.set_running_or_notify_cancel():
                continue
            try:
                batch = _Batch(self.spool_dir, copies)
            except BaseException as e:              # a malformed copy: nothing written
                future.set_exception(e)
                continue
            try:
                ensure_spool(self.spool_dir)
                batch.write()
            except BaseException as e:
                batch.undo()
                future.set_exception(batch.error(e))
                continue
            written.append((future, batch))
        if not written:
            return
        fds = [fd for _, batch in written for fd in (*batch.fds, batch.dir_fd)]
        # syncfs reports a write-back error that came after its descriptor was opened:
        # the first batch's directory, opened before any file of the group was written.
        if self.syncfs is not None and len(written) >= self.SYNCFS_GROUP \
                and self.syncfs(written[0][1].dir_fd) == 0:
            failures = dict.fromkeys(fds)       # all of the file system is on disk
        else:                                   # (a failed syncfs: each fd says its own)
            failures = dict(zip(fds, self._sync_pool.map(_fsync_error, fds)))
        committed = []
        for future, batch in written:
            try:
                batch.step = "sync the batch"
                for fd in (*batch.fds, batch.dir_fd):
                    if failures[fd] is not None:
                        raise failures[fd]
                batch.close()
                batch.commit()
            except BaseException as e:
                batch.undo()
                future.set_exception(batch.error(e))
                continue
            committed.append((future, batch))
        if not committed:
            return
        try:
            _fsync_dir(self.spool_dir)
        except BaseException as e:
            for future, batch in committed:
                batch.step = "sync the spool directory"
                batch.undo()
                future.set_exception(batch.error(e))
            return
        self.groups += 1
        self.batches += len(committed)
        for future, batch in committed:
            future.set_result(batch.ids())


# ---------------------------------------------------------------------------------------
# Reading

def iter_entries(spool_dir: str, on_problem: Callable[[Problem], None]) -> Iterator[Entry]:
    """The committed copies of the spool in commit order.  Each file that is not part of
    a valid entry goes to `on_problem` (a corrupt envelope, a foreign file), and the
    reader goes on.  Ignored: names starting with "." (batches being written), an `.eml`
    without its `.json` (an interrupted `remove`), a file removed while reading."""
    try:
        names = sorted(os.listdir(spool_dir))
    except FileNotFoundError:
        return
    except OSError as e:
        on_problem(Problem(spool_dir, f"cannot list the spool: {_reason(e)}"))
        return
    for name in names:
        if name.startswith("."):
            continue
        if not BATCH_ID.match(name):
            on_problem(Problem(os.path.join(spool_dir, name),
                               "not a spool entry (foreign file)"))
            continue
        yield from iter_batch(spool_dir, name, on_problem)


def iter_batch(spool_dir: str, batch: str, on_problem: Callable[[Problem], None]
               ) -> Iterator[Entry]:
    """The committed copies of one batch (a name of the spool directory), in batch order;
    problems as for `iter_entries`.  A batch only loses copies once committed, so a
    reader that has read it need not read it again."""
    path = os.path.join(spool_dir, batch)
    try:
        files = os.listdir(path)
    except FileNotFoundError:
        return                                  # removed meanwhile
    except NotADirectoryError:
        on_problem(Problem(path, "not a spool entry (a file, not a batch directory)"))
        return
    except OSError as e:
        on_problem(Problem(path, f"cannot list the batch: {_reason(e)}"))
        return
    positions = []
    for f in files:
        if f.startswith("."):
            continue                            # a temporary file of the queue's state
        m = COPY_FILE.match(f)
        if m is None:
            on_problem(Problem(os.path.join(path, f), "not a spool file (foreign file)"))
        elif m.group(2) == "json":
            positions.append(int(m.group(1)))
    for i in sorted(positions):
        entry = _read_entry(path, batch, i, on_problem)
        if entry is not None:
            yield entry


def _read_entry(batch_path: str, batch: str, i: int, on_problem) -> Optional[Entry]:
    env_path = os.path.join(batch_path, f"{i}.json")
    eml_path = os.path.join(batch_path, f"{i}.eml")
    try:
        with open(env_path, "rb") as f:
            data = f.read(MAX_ENVELOPE + 1)
    except FileNotFoundError:
        return None                             # removed meanwhile
    except OSError as e:
        on_problem(Problem(env_path, f"cannot read the envelope: {_reason(e)}"))
        return None
    if len(data) > MAX_ENVELOPE:
        on_problem(Problem(env_path, f"not a spool envelope (over {MAX_ENVELOPE} bytes)"))
        return None
    try:
        envelope = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        on_problem(Problem(env_path, f"not a spool envelope (not UTF-8: {e.reason} at "
                                     f"byte {e.start})"))
        return None
    except ValueError as e:                     # json.JSONDecodeError
        on_problem(Problem(env_path, f"not a spool envelope (not JSON: {e})"))
        return None
    except RecursionError:
        on_problem(Problem(env_path, "not a spool envelope (nested too deeply)"))
        return None
    problem = envelope_error(envelope)
    if problem:
        on_problem(Problem(env_path, problem))
        return None
    try:
        size = os.stat(eml_path).st_size
    except FileNotFoundError:
        if os.path.exists(env_path):            # else: removed meanwhile
            on_problem(Problem(env_path, f"the envelope's message {i}.eml is missing"))
        return None
    except OSError as e:
        on_problem(Problem(eml_path, f"cannot read the message: {_reason(e)}"))
        return None
    if size != envelope["size"]:
        on_problem(Problem(eml_path, f"the message is {size} bytes, its envelope says "
                                     f"{envelope['size']}"))
        return None
    return Entry(f"{batch}-{i}", envelope, eml_path, env_path)


def read_spool(spool_dir: str) -> Listing:
    """Every committed copy (in commit order) and every problem, at once."""
    problems = []
    entries = list(iter_entries(spool_dir, problems.append))
    return Listing(entries, problems)


def remove(entry: Entry) -> None:
    """Take a delivered (or deleted) copy out of the spool, durably: its envelope first
    (after that no reader sees the copy), then its message and queue files, then the
    batch directory when it is empty.  Removing a copy already gone is not an error."""
    batch_path = os.path.dirname(entry.envelope_path)
    spool_dir = os.path.dirname(batch_path)
    try:
        try:
            os.unlink(entry.envelope_path)
        except FileNotFoundError:
            pass
        _fsync_dir(batch_path)
    except FileNotFoundError:
        return                                  # the batch is gone: so is the copy
    except OSError as e:
        raise SpoolError(spool_dir, f"remove {entry.id}", _reason(e)) from None
    stem = entry.envelope_path[:-len("json")]
    for suffix in COMPANIONS:
        try:
            os.unlink(stem + suffix)
        except OSError:
            pass                                # an orphan: ignored, swept
    try:
        os.rmdir(batch_path)
    except OSError:
        pass                                    # other copies remain (or it is gone)
    # (No fsync of the spool directory: an empty batch that comes back is harmless.)


def sweep(spool_dir: str, min_age: float = 3600) -> list:
    """Remove what failed or interrupted writers and removers left: `.tmp-` directories
    and temporary files in batches older than `min_age` seconds (younger ones may be
    being written), `.eml`, `.state.json` and `.done` files without their `.json`, empty
    batch directories.  The paths removed."""
    removed = []
    try:
        names = os.listdir(spool_dir)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        path = os.path.join(spool_dir, name)
        if name.startswith(TEMP_PREFIX) and BATCH_ID.match(name[len(TEMP_PREFIX):]):
            try:
                old = now - os.stat(path).st_mtime >= min_age
            except OSError:
                continue
            if old:
                _discard(path)
                if not os.path.exists(path):
                    removed.append(path)
        elif BATCH_ID.match(name) and os.path.isdir(path):
            try:
                files = set(os.listdir(path))
            except OSError:
                continue
            for f in sorted(files):
                m = COPY_FILE.match(f)
                orphan = m and m.group(2) != "json" and f"{m.group(1)}.json" not in files
                if f.startswith("."):
                    try:
                        orphan = now - os.stat(os.path.join(path, f)).st_mtime >= min_age
                    except OSError:
                        continue
                if orphan:
                    try:
                        os.unlink(os.path.join(path, f))
                        removed.append(os.path.join(path, f))
                    except OSError:
                        pass
            try:
                os.rmdir(path)
                removed.append(path)
            except OSError:
                pass
    return removed
