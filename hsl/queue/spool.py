"""The spool: where the copies that an EOD hook queued and committed (`queue()`, then
`Accept()`) are kept until the queue delivers them.

A message that got a 250 is never lost: `write_copies` returns only once every copy of the
transaction is on disk (written, fsync'ed, committed, the directory fsync'ed), so the
server sends the 250 after it; when it raises `SpoolError` nothing of the transaction is
visible and the server answers 451 instead.

Layout (format 2: one directory, created 0700 when missing; every file 0600):

    SPOOL/
      20250102T030405.123456789Z-9f3a61c2d4e5b708          a committed batch
      20250102T030405.123456789Z-9f3a61c2d4e5b708.1.done   the queue's files of its copies
      .tmp-20250102T030405.223456789Z-...                  a batch being written

One file (a *batch*) per transaction, or per group of transactions committed together
(SpoolWriter), as an MTA keeps one queue file per message: its first line is a JSON
object, `{"spool": 2, "copies": [ENVELOPE, ...]}`, and the rest is the copies' message
bytes, each copy's at its envelope's `offset` (from the end of that line) for `size`
bytes; copies of a transaction with the same bytes (one per recipient, as a rule) share
them.  A batch is written to `.tmp-` + its id, fsync'ed, renamed to its id, and the spool
directory fsync'ed: that rename commits every copy in it at once (a reader sees all of a
transaction's copies or none), and a writer that fails or dies leaves only a `.tmp-`
file, which readers ignore and `sweep` removes.  A batch file is never changed once
committed.  (One file is one inode to allocate and one file to sync for many copies: a
directory with a file per copy and an envelope per copy, format 1, cost four of each per
message, the larger part of a spool write.)

The queue keeps its own files of a copy beside its batch (hsl/queue/state.py):
`BATCH.N.state.json`, its mutable queue state, and `BATCH.N.done`, the marker that copy N
was delivered, bounced or deleted.  Readers skip a copy with a done marker; once every copy
of a batch has one, `remove` deletes the batch file (durably), then the queue's files.
Names starting with "." are temporary files (skipped by readers, removed by `sweep`); a
batch *directory* is format 1 (hsl before format 2), reported and left alone.

Batch ids are the UTC time of the write to the nanosecond plus 64 random bits: unique
across threads, processes and restarts, safe as file names, and in time order when sorted
as text (strictly increasing within one process).  A copy's id is its batch id, `-`, and
its position in the batch (`...b708-0`).  Readers yield copies in commit order: batches in
id order, copies in batch order (batch ids are in the order the writers started: across
processes, and across the threads of one, a batch may be committed after one with a later
id, so a reader that lists the spool again must look at every name it has not seen).

An envelope (each item of `copies`), one JSON object (UTF-8, ASCII-escaped):

| key | type | what |
|---|---|---|
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
| `offset` | integer >= 0 | where the copy's message starts, after the first line |
| `size` | integer >= 0 | the length of the copy's message in bytes |

Other keys are kept and passed on (later additions to format 2; a writer gives them as
`Copy.extra`, such as the queue's `dsn_of`).  HSL strings are bytes:
a text field given as bytes is stored as its UTF-8 reading with `surrogateescape`, so
`value.encode("utf-8", "surrogateescape")` gives the bytes back exactly.  The message is
the copy's bytes exactly as given (line endings, 8-bit data and all).
"""
from __future__ import annotations

import concurrent.futures
import errno
import json
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

FORMAT = 2
TEMP_PREFIX = ".tmp-"
_ID = r"[0-9]{8}T[0-9]{6}\.[0-9]{9}Z-[0-9a-f]{16}"     # (not \d: it takes any script's digits)
_POSITION = r"(0|[1-9][0-9]*)"                          # one spelling of each position
BATCH_ID = re.compile(_ID + r"\Z")
STATE_SUFFIX = ".state.json"    # the queue's files of copy N of a batch: BATCH.N + suffix
DONE_SUFFIX = ".done"
COMPANION = re.compile(rf"({_ID})\.{_POSITION}(\.state\.json|\.done)\Z")
# a state write in progress (hsl/queue/state.py's temporary_name): ".BATCH.N.state.json.tmp-PID"
STATE_TEMPORARY = re.compile(rf"\.{_ID}\.{_POSITION}\.state\.json\.tmp-[0-9]+\Z")
COPY_NAME = re.compile(rf"({_ID})(?:-{_POSITION})?\Z")
MAX_ENVELOPE = 16 << 20     # bytes: a bigger first line (or state file) is not one of ours
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
    object), its batch file and its place there."""
    id: str
    envelope: dict
    path: str           # the batch file
    position: int       # the copy's place in the batch (N of its id)
    offset: int         # where its message starts in the file
    copies: int         # how many copies the batch has

    @property
    def stem(self) -> str:
        """The start of the names of the queue's files of this copy: `BATCH.N`."""
        return f"{self.path}.{self.position}"

    def read_message(self) -> bytes:
        size = self.envelope["size"]
        with open(self.path, "rb") as f:
            data = os.pread(f.fileno(), size, self.offset)
        if len(data) != size:           # (a reader checked the size: changed since)
            raise OSError(errno.EIO, f"{self.path}: the batch is shorter than its copy "
                                     f"{self.position}'s message")
        return data


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
    "offset": (_is_count, "an integer >= 0"),
    "size": (_is_count, "an integer >= 0"),
}


def envelope_error(envelope) -> Optional[str]:
    """Why `envelope` (a decoded JSON value) is not a valid envelope, or None."""
    if not isinstance(envelope, dict):
        return "not a spool envelope (not a JSON object)"
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


def _message(copy: Copy) -> memoryview:
    """The copy's message as bytes; TypeError when it is not bytes."""
    if not isinstance(copy.message, (bytes, bytearray, memoryview)):
        raise TypeError(f"the message must be bytes, not {type(copy.message).__name__}")
    return memoryview(copy.message).cast("B")


def _envelope(copy: Copy, position: int, now: float, offset: int, size: int) -> dict:
    """The JSON object of `copy`, whose message is `size` bytes at `offset`; TypeError or
    ValueError when a field is of the wrong kind (a caller's mistake, found before
    anything is written)."""
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
        "offset": offset,
        "size": size,
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


def _write_all(fd: int, parts: list) -> None:
    """Write every buffer of `parts` to `fd`, in as few system calls as it takes."""
    views = [v for v in parts if v.nbytes]
    while views:
        n = os.writev(fd, views[:1024])
        while n:
            if n >= views[0].nbytes:
                n -= views.pop(0).nbytes
            else:
                views[0], n = views[0][n:], 0


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
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


def _encode(header: dict) -> bytes:
    return json.dumps(header, allow_nan=False).encode("ascii") + b"\n"


class _Transaction:
    """One transaction's copies, checked before anything is written (TypeError or
    ValueError for a malformed one: a caller's mistake): their envelopes, each `offset`
    counted from the start of this transaction's messages, and the distinct messages
    (copies with the same bytes share one)."""

    def __init__(self, copies: list, now: float):
        self.bodies: list = []          # (bytes, offset) of each distinct message
        self.envelopes: list = []
        self.size = 0
        for i, c in enumerate(copies):
            message = _message(c)
            offset = next((o for body, o in self.bodies if body == message), None)
            if offset is None:
                offset = self.size
                self.bodies.append((message, offset))
                self.size += message.nbytes
            self.envelopes.append(_envelope(c, i, now, offset, message.nbytes))
            if c.extra:
                try:
                    json.dumps(c.extra, allow_nan=False)
                except (TypeError, ValueError) as e:     # an extra value that is not JSON
                    raise ValueError(f"the envelope cannot be written as JSON: {e}") \
                        from None


class _Batch:
    """A batch file on its way into the spool, with the copies of one transaction or
    more (a SpoolWriter group): `write` (its temporary file, not yet synced), `sync`,
    `close`, `commit` (the rename); `undo` after a failure at any step takes back what
    is visible.  `step` names the step under way (SpoolError's text)."""

    def __init__(self, spool_dir: str, transactions: list):
        self.spool_dir, self.transactions = spool_dir, transactions
        envelopes, self.bodies, base = [], [], 0
        for t in transactions:
            for env in t.envelopes:
                envelopes.append(dict(env, offset=base + env["offset"]))
            self.bodies += [body for body, _ in t.bodies]
            base += t.size
        self.header = _encode({"spool": FORMAT, "copies": envelopes})
        self.batch = ""
        self.temp = self.final = ""
        self.step = "write the message"
        self.committed = False
        self.fd = -1

    def ids(self) -> list:
        """The ids of each transaction's copies (a list per transaction)."""
        out, first = [], 0
        for t in self.transactions:
            out.append([f"{self.batch}-{first + i}" for i in range(len(t.envelopes))])
            first += len(t.envelopes)
        return out

    def write(self) -> None:
        self.batch = new_batch_id()
        self.temp = os.path.join(self.spool_dir, TEMP_PREFIX + self.batch)
        self.final = os.path.join(self.spool_dir, self.batch)
        self.step = "write the message"
        self.fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                          FILE_MODE)
        _write_all(self.fd, [memoryview(self.header)] + self.bodies)

    def sync(self) -> None:
        self.step = "sync the message"
        os.fsync(self.fd)

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def commit(self) -> None:
        self.step = "commit the message"
        os.rename(self.temp, self.final)
        self.committed = True

    def store(self) -> None:
        """Every step: the batch is durable and visible when it returns; nothing of it
        is visible when it raises (SpoolError for what the disk refused)."""
        if len(self.header) > MAX_ENVELOPE:     # readers would not take it
            copies = sum(len(t.envelopes) for t in self.transactions)
            raise SpoolError(self.spool_dir, "write the message",
                             f"the envelopes of its {copies} copies take "
                             f"{len(self.header)} bytes, more than a batch holds "
                             f"({MAX_ENVELOPE})")
        try:
            ensure_spool(self.spool_dir)
            try:
                self.write()
                self.sync()
            finally:
                self.close()
            self.commit()
            self.step = "sync the spool directory"
            _fsync_dir(self.spool_dir)
        except BaseException as e:
            self.undo()
            error = self.error(e)
            if error is e:
                raise
            raise error from None

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
                _unlink_quietly(self.final)
        _unlink_quietly(self.temp)

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
    batch = _Batch(spool_dir, [_Transaction(copies, time.time())])
    batch.store()
    return batch.ids()[0]


class SpoolWriter:
    """Group commit: `write_copies` for a server with many transactions in flight.  A
    writer thread takes every transaction waiting (up to MAX_GROUP) and commits them as
    one batch file: written, fsync'ed, renamed, the spool directory fsync'ed, as
    `write_copies` does for one.  Only then is each transaction's future resolved: the
    same durability and format, all or none for each transaction (and for its group: a
    disk that refuses the file fails every transaction of it; a malformed copy fails
    only its own, before anything is written).  WRITERS threads: a group that comes
    while one is being synced starts at once.  So under load a file and a sync serve
    many messages, where one per message would make the file system's costs the
    server's limit (making a file costs about a millisecond of kernel CPU on ext4
    without a journal, more while many were made in the last seconds).

        writer = SpoolWriter(spool_dir)
        ids = await asyncio.wrap_future(writer.submit(copies))
        writer.close()                  # commits what was submitted, then stops"""

    MAX_GROUP = 64
    GROUP_HEADER = 1 << 20  # bytes: a group whose envelopes take more is split in two files
    WRITERS = 2             # groups committed at once (a new one need not wait for the last)

    def __init__(self, spool_dir: str):
        self.spool_dir = spool_dir
        self.groups = 0                 # groups committed, and their transactions (for tests)
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
        """Commit what was submitted, then stop the threads."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._threads:
            t.join()

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
        now, waiting = time.time(), []
        for future, copies in group:
            if not future.set_running_or_notify_cancel():
                continue
            try:
                waiting.append((future, _Transaction(copies, now)))
            except BaseException as e:              # a malformed copy: nothing written
                future.set_exception(e)
        if waiting:
            self._store(waiting)

    def _store(self, waiting: list) -> None:
        batch = _Batch(self.spool_dir, [t for _, t in waiting])
        if len(batch.header) > min(self.GROUP_HEADER, MAX_ENVELOPE) and len(waiting) > 1:
            half = len(waiting) // 2        # (many recipients, or much metadata)
            self._store(waiting[:half])
            self._store(waiting[half:])
            return
        try:
            batch.store()
        except BaseException as e:
            for future, _ in waiting:
                future.set_exception(e)
            return
        self.groups += 1
        self.batches += len(waiting)
        for (future, _), ids in zip(waiting, batch.ids()):
            future.set_result(ids)


# ---------------------------------------------------------------------------------------
# Reading

def iter_entries(spool_dir: str, on_problem: Callable[[Problem], None]) -> Iterator[Entry]:
    """The committed copies of the spool not yet finished, in commit order.  Each file
    that is not part of a valid entry goes to `on_problem` (a corrupt batch, a foreign
    file, a format-1 batch directory), and the reader goes on.  Skipped: names starting
    with "." (batches being written, temporary files), the queue's files of the copies,
    a copy with a done marker (finished, waiting for the rest of its batch), a batch
    removed while reading."""
    try:
        names = sorted(os.listdir(spool_dir))
    except FileNotFoundError:
        return
    except OSError as e:
        on_problem(Problem(spool_dir, f"cannot list the spool: {_reason(e)}"))
        return
    listed = set(names)
    for name in names:
        if name.startswith(".") or COMPANION.match(name):
            continue
        if not BATCH_ID.match(name):
            on_problem(Problem(os.path.join(spool_dir, name),
                               "not a spool entry (foreign file)"))
            continue
        yield from iter_batch(spool_dir, name, on_problem,
                              finished=lambda i, name=name: f"{name}.{i}{DONE_SUFFIX}" in listed)


def _is_finished(path: str, position: int) -> bool:
    return os.path.exists(f"{path}.{position}{DONE_SUFFIX}")


def iter_batch(spool_dir: str, batch: str, on_problem: Callable[[Problem], None], *,
               finished: Optional[Callable[[int], bool]] = None,
               include_done: bool = False) -> Iterator[Entry]:
    """The copies of one batch (a name of the spool directory), in batch order, but those
    with a done marker (`finished(position)` says which; by default, whether its marker
    exists), unless `include_done`; problems as for `iter_entries`.  A batch never
    changes once committed, so a reader that has read it need not read it again."""
    path = os.path.join(spool_dir, batch)
    read = read_batch(path, on_problem)
    if read is None:
        return
    envelopes, start = read
    if finished is None:
        finished = lambda i: _is_finished(path, i)      # noqa: E731
    for i, env in enumerate(envelopes):
        if include_done or not finished(i):
            yield Entry(f"{batch}-{i}", env, path, i, start + env["offset"], len(envelopes))


def read_batch(path: str, on_problem: Callable[[Problem], None]) -> Optional[tuple]:
    """(envelopes, where the messages start) of the batch file `path`, validated: its
    first line, and every copy's message within the file; None, after telling
    `on_problem`, when it is not a valid batch (None alone when it is gone)."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return None                             # removed meanwhile
    except IsADirectoryError:
        on_problem(Problem(path, f"a spool batch of format 1 (a directory): this hsl "
                                 f"reads format {FORMAT} (left as it is: deliver it with "
                                 "the hsl that wrote it)"))
        return None
    except OSError as e:
        on_problem(Problem(path, f"cannot read the batch: {_reason(e)}"))
        return None
    with f:
        try:
            head = f.read(1 << 16)
            end = head.find(b"\n")
            while end < 0 and len(head) <= MAX_ENVELOPE:
                more = f.read(1 << 20)
                if not more:
                    break
                head += more
                end = head.find(b"\n")
            size = os.fstat(f.fileno()).st_size
        except OSError as e:
            on_problem(Problem(path, f"cannot read the batch: {_reason(e)}"))
            return None
    if end < 0 or end > MAX_ENVELOPE:
        on_problem(Problem(path, "not a spool batch (no first line of at most "
                                 f"{MAX_ENVELOPE} bytes)"))
        return None
    problem, envelopes = _header(head[:end])
    if problem:
        on_problem(Problem(path, problem))
        return None
    body = size - (end + 1)
    for i, env in enumerate(envelopes):
        if env["offset"] + env["size"] > body:
            on_problem(Problem(path, f"copy {i}'s message ends at byte "
                                     f"{env['offset'] + env['size']} of the messages, "
                                     f"which are {body} bytes"))
            return None
    return envelopes, end + 1


def _header(line: bytes) -> tuple:
    """(problem, envelopes) of a batch's first line: the problem is None or why it is not
    a valid one."""
    try:
        header = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as e:
        return f"not a spool batch (not UTF-8: {e.reason} at byte {e.start})", None
    except ValueError as e:                     # json.JSONDecodeError
        return f"not a spool batch (not JSON: {e})", None
    except RecursionError:
        return "not a spool batch (nested too deeply)", None
    if not isinstance(header, dict) or "spool" not in header:
        return "not a spool batch (no {\"spool\": ...} first line)", None
    if header["spool"] != FORMAT or type(header["spool"]) is not int:
        return (f"a spool batch of format {json.dumps(header['spool'])[:20]}: this hsl "
                f"reads format {FORMAT}"), None
    copies = header.get("copies")
    if not isinstance(copies, list) or not copies:
        return "\"copies\" must be a non-empty list of envelopes", None
    for i, env in enumerate(copies):
        problem = envelope_error(env)
        if problem:
            return f"copy {i}: {problem}", None
    return None, copies


def read_spool(spool_dir: str) -> Listing:
    """Every committed copy not yet finished (in commit order) and every problem, at
    once."""
    problems = []
    entries = list(iter_entries(spool_dir, problems.append))
    return Listing(entries, problems)


def _copy_name(path: str) -> Optional[tuple]:
    """(batch file, position or None) of a path naming a spool copy, else None."""
    directory, name = os.path.split(path)
    named = COPY_NAME.match(name)
    if named is None:
        return None
    return os.path.join(directory, named.group(1)), named.group(2)


def copy_batch(path: str) -> Optional[str]:
    """The batch file of the spool copy `path` names (`SPOOL/BATCH-N`, or `SPOOL/BATCH`),
    None when it does not name one (a fixture, say)."""
    named = _copy_name(path)
    return named[0] if named else None


def open_copy(path: str) -> Entry:
    """The copy a path names, for `hsl run --entry`: `SPOOL/BATCH-N` (a copy id in its
    spool), or `SPOOL/BATCH`, a batch of one copy.  ValueError saying why not."""
    problems: list = []
    named = _copy_name(path)
    if named is None:
        raise ValueError(f"{path}: not a spool copy (SPOOL/BATCH-N, or SPOOL/BATCH)")
    batch_path, position = named
    directory, batch = os.path.split(batch_path)
    name = os.path.basename(path)
    read = read_batch(batch_path, problems.append)
    if read is None:
        raise ValueError(str(problems[0]) if problems else f"{path}: no such spool batch")
    envelopes, start = read
    if position is None:
        if len(envelopes) != 1:
            raise ValueError(f"{path}: the batch has {len(envelopes)} copies: name one, "
                             f"{name}-0 to {name}-{len(envelopes) - 1}")
        position = "0"
    i = int(position)
    if i >= len(envelopes):
        raise ValueError(f"{path}: the batch has {len(envelopes)} copies (0 to "
                         f"{len(envelopes) - 1})")
    env = envelopes[i]
    return Entry(f"{batch}-{i}", env, os.path.join(directory, batch), i,
                 start + env["offset"], len(envelopes))


def remove(entry: Entry) -> bool:
    """Take a finished copy (its done marker written, hsl/queue/state.py) out of the
    spool: nothing while another copy of its batch has no done marker; once none is
    left, `remove_batch`.  True when this call removed the batch (False while a sibling
    is not finished, and once the batch and its markers are gone).  Removing twice is
    harmless."""
    if not all(i == entry.position or _is_finished(entry.path, i)
               for i in range(entry.copies)):
        return False
    remove_batch(entry)
    return True


def remove_batch(entry: Entry) -> None:
    """Delete the batch of `entry`, every copy of it finished (the caller knows): the
    file, durably (after that no reader sees any of them), then the queue's files of
    every copy.  SpoolError when the disk refuses."""
    spool_dir = os.path.dirname(entry.path)
    try:
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            pass
        _fsync_dir(spool_dir)       # else a crash could bring the batch back unmarked
    except OSError as e:
        raise SpoolError(spool_dir, f"remove {entry.id}", _reason(e)) from None
    for i in range(entry.copies):
        for suffix in (STATE_SUFFIX, DONE_SUFFIX):
            _unlink_quietly(f"{entry.path}.{i}{suffix}")


def sweep(spool_dir: str, min_age: float = 3600) -> list:
    """Remove what failed or interrupted writers and removers left: `.tmp-` batches and
    temporary state files older than `min_age` seconds (younger ones may be being
    written), the queue's files of a batch that is gone.  The paths removed.  (A
    format-1 batch directory is left alone.)"""
    removed = []
    try:
        names = os.listdir(spool_dir)
    except OSError:
        return removed
    listed, now = set(names), time.time()
    for name in names:
        path = os.path.join(spool_dir, name)
        companion = COMPANION.match(name)
        if companion:
            gone = companion.group(1) not in listed
        elif (name.startswith(TEMP_PREFIX) and BATCH_ID.match(name[len(TEMP_PREFIX):])) \
                or STATE_TEMPORARY.match(name):
            try:
                gone = now - os.stat(path).st_mtime >= min_age and os.path.isfile(path)
            except OSError:
                continue
        else:
            continue
        if gone:
            try:
                os.unlink(path)
                removed.append(path)
            except OSError:
                pass
    return removed
