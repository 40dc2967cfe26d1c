"""The queue over the spool: every committed copy (hsl/queue/spool.py) with its queue state
(hsl/queue/state.py), and the only code that changes that state or takes a copy out.

    q = Queue.open("hsl-spool", clock=time.time)     # owns the spool until q.close()
    for entry in q.due():
        ...                                           # attempt it (the runner)
        q.update(entry, retry=entry.retry + 1, next=q.now() + 600)
        q.mark_done(entry, "delivered: 250 2.0.0 Ok")

**One owner.**  `Queue.open` takes an exclusive `flock` on `SPOOL/.lock` (and writes its
pid there): a second owner gets `QueueLocked`, naming the spool and the pid holding it.
Writers of new batches (`hsl serve`, `hsl run --hook eod --spool`) need no lock.  A queue
opened with `lock=False` only reads (`hsl queue list`, `show`): it changes nothing, skips
a copy with its done marker (as the spool's readers do: its batch may stay for days, for
its other copies), and shows a copy that recovery would finish as "done".

**Nothing lost, nothing twice.**  A copy leaves the spool only through `mark_done`: its
DSN, if any, is committed first (a new copy whose envelope says `"dsn_of": "<id>"`), then
the marker `BATCH.N.done` is written durably, then the copy is removed.  A crash between
any two of these steps is finished by the next owner's recovery, on open:
- a copy with its done marker is removed (it was delivered, bounced or deleted: never
  attempted again);
- a copy named by a live copy's `dsn_of` is marked done and removed (its bounce was
  queued: it is not bounced again);
- a copy named by a live delayed DSN's `dsn_delayed_of` counts that DSN in `delayed`;
- temporary files of interrupted state writes are removed, and `spool.sweep` removes
  batches that writers left half-written (over an hour old) and the queue's files of
  batches already gone.

The clock is the caller's (`clock()` -> Unix time): a runner on a virtual clock walks a
copy through its retries without waiting.  A Queue is safe to use from several threads.
"""
from __future__ import annotations

import fcntl
import os
import threading
import time
from dataclasses import replace
from typing import Callable, Optional

from . import spool
from .state import (QueueError, State, StateError, done_path, read_done, read_state,
                    state_path, write_done, write_state)

LOCK_FILE = ".lock"
DSN_OF = "dsn_of"                       # envelope key of a bounce: the copy it reports on
DSN_DELAYED_OF = "dsn_delayed_of"       # ... of a delayed DSN, and its number:
DSN_NOTICE = "dsn_notice"

__all__ = ["Queue", "QueueEntry", "QueueError", "QueueLocked", "UnknownEntry",
           "StateError", "DSN_OF", "DSN_DELAYED_OF", "DSN_NOTICE"]


class QueueLocked(QueueError):
    """Another process owns the spool."""

    def __init__(self, spool_dir: str, pid: Optional[int]):
        holder = f"process {pid}" if pid else "another process"
        super().__init__(f"spool directory {spool_dir} is in use by {holder} (a running "
                         "hsl queue run or hsl serve --queue): one process owns a spool "
                         "at a time")
        self.spool_dir, self.pid = spool_dir, pid


class UnknownEntry(QueueError):
    def __init__(self, spool_dir: str, entry_id: str):
        super().__init__(f"no queue entry {entry_id} in spool directory {spool_dir} "
                         "(hsl queue list shows the ids)")
        self.spool_dir, self.id = spool_dir, entry_id


class QueueEntry:
    """One queued copy: its spool entry (envelope, message file) and its queue state.
    The queue replaces `saved` when it writes a new state; read the rest as properties."""

    def __init__(self, entry: spool.Entry, saved: State, done: bool = False):
        self.spool_entry = entry
        self.saved = saved
        self.done = done                # finished: waiting only to be removed
        # Held while this entry's files are written, so that the queue's own mutex
        # (its index of entries) is not held across fsyncs: pickups of different
        # entries then write and fsync at the same time.
        self.lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<QueueEntry {self.id} {self.state} {self.recipient!r}>"

    @property
    def id(self) -> str:
        return self.spool_entry.id

    @property
    def envelope(self) -> dict:
        return self.spool_entry.envelope

    @property
    def sender(self) -> str:
        return self.envelope["sender"]

    @property
    def recipient(self) -> str:
        return self.envelope["recipient"]

    @property
    def transportid(self) -> str:
        """The transport to deliver with: the state's override, else the envelope's."""
        return self.saved.transportid if self.saved.transportid is not None \
            else self.envelope["transportid"]

    @property
    def metadata(self) -> dict:
        return self.saved.metadata

    @property
    def retry(self) -> int:
        return self.saved.retry

    @property
    def next(self) -> float:
        """When the next attempt is due: the state's `next`, else `ts + delay`."""
        return self.saved.next if self.saved.next is not None \
            else self.envelope["ts"] + self.envelope["delay"]

    @property
    def hold(self) -> bool:
        return self.saved.hold

    @property
    def bounce(self) -> bool:
        return self.saved.bounce

    @property
    def delayed(self) -> int:
        return self.saved.delayed

    @property
    def last(self) -> Optional[dict]:
        return self.saved.last

    @property
    def ts(self) -> float:
        return self.envelope["ts"]

    @property
    def size(self) -> int:
        return self.envelope["size"]

    @property
    def jobid(self) -> Optional[str]:
        return self.envelope["jobid"]

    @property
    def dsn_of(self) -> Optional[str]:
        """The id of the copy this one is the bounce of (None: not a bounce)."""
        value = self.envelope.get(DSN_OF)
        return value if isinstance(value, str) else None

    @property
    def state(self) -> str:
        """queued, held or done."""
        return "done" if self.done else "held" if self.hold else "queued"

    def message_bytes(self) -> bytes:
        return self.spool_entry.read_message()

    def is_due(self, now: float) -> bool:
        """Whether an attempt (or the bounce asked for) is due at `now`."""
        return not self.done and (self.bounce or (not self.hold and self.next <= now))

    def to_json(self) -> dict:
        """The entry as `hsl queue list --json` shows it."""
        env = self.envelope
        out = {"id": self.id, "state": self.state, "transaction": env["transaction"],
               "queue": env["queue"], "sender": self.sender, "recipient": self.recipient,
               "transportid": self.transportid, "ts": self.ts, "size": self.size,
               "jobid": self.jobid, "quotas": list(env["quotas"]), "retry": self.retry,
               "next": self.next, "hold": self.hold, "bounce": self.bounce,
               "delayed": self.delayed, "metadata": dict(self.metadata), "last": self.last,
               "batch": self.spool_entry.path}
        if self.dsn_of is not None:
            out["dsn_of"] = self.dsn_of
        return out


def _order(entry_id: str):
    batch, _, position = entry_id.rpartition("-")
    return batch, int(position)


class Queue:
    """The queue of one spool directory; `Queue.open` makes one."""

    def __init__(self, spool_dir: str, clock: Callable[[], float], lock_fd: Optional[int]):
        self.spool_dir = spool_dir
        self.now = clock
        self.problems: list = []        # spool.Problem: files that are not valid entries
        self._lock_fd = lock_fd
        self._mutex = threading.RLock()
        self._entries: dict = {}        # id -> QueueEntry (live or done-not-yet-removed)
        self._broken: dict = {}         # id -> (spool.Entry, StateError): unreadable state
        # batch file -> the positions of its copies not finished (with no done marker): a
        # batch goes once none is left (so a removal need not look at every sibling)
        self._unfinished: dict = {}
        self._seen: set = set()         # names of the spool directory already read

    # -- opening and closing ---------------------------------------------------------

    @classmethod
    def open(cls, spool_dir: str, *, clock: Callable[[], float] = time.time,
             lock: bool = True, create: bool = False) -> "Queue":
        """The queue of `spool_dir`, read and (with `lock`) owned and recovered.
        QueueError when the directory is missing (unless `create`) or not a directory;
        QueueLocked when another process owns it."""
        if create and lock:
            try:
                spool.ensure_spool(spool_dir)
            except spool.SpoolError as e:
                raise QueueError(str(e)) from None
        if not os.path.exists(spool_dir):
            raise QueueError(f"spool directory {spool_dir} does not exist (hsl serve and "
                             "hsl run --hook eod --spool DIR create it; --spool DIR "
                             "chooses another)")
        if not os.path.isdir(spool_dir):
            raise QueueError(f"spool directory {spool_dir} is not a directory")
        fd = _take_lock(spool_dir) if lock else None
        q = cls(spool_dir, clock, fd)
        try:
            q.refresh()
            if lock:
                q._recover()
        except BaseException:
            q.close()
            raise
        return q

    def close(self) -> None:
        """Give up the ownership (the lock); the Queue is not to be used after."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)                # closing the descriptor releases the flock

    def __enter__(self) -> "Queue":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def owner(self) -> bool:
        """Whether this queue holds the spool's lock (and may change it)."""
        return self._lock_fd is not None

    # -- reading ---------------------------------------------------------------------

    def refresh(self) -> list:
        """Read the batches committed since the last read (a committed batch only loses
        copies, so known ones are not read again); the new entries.  An owner also
        retries removing finished copies whose removal failed."""
        with self._mutex:
            try:
                names = sorted(os.listdir(self.spool_dir))
            except OSError as e:
                raise QueueError(f"spool directory {self.spool_dir}: cannot list it: "
                                 f"{e.strerror or e}") from None
            new = []
            for name in names:
                if name.startswith(".") or name in self._seen:
                    continue
                self._seen.add(name)
                if spool.COMPANION.match(name):
                    continue                # a copy's state or done marker (read below)
                if not spool.BATCH_ID.match(name):
                    self.problems.append(spool.Problem(os.path.join(self.spool_dir, name),
                                                       "not a spool entry (foreign file)"))
                    continue
                for entry in spool.iter_batch(self.spool_dir, name, self.problems.append,
                                              include_done=True):
                    qe = self._load(entry)
                    if qe is not None:
                        new.append(qe)
            self._seen &= set(names)    # forget batches gone
            if self.owner:
                for qe in [e for e in self._entries.values() if e.done]:
                    self._remove(qe)
            else:                       # a reader shows what recovery would finish
                bounced = self._bounced()
                for qe in self._entries.values():
                    qe.done = qe.done or qe.id in bounced
            return new

    def _bounced(self) -> set:
        """The ids of the copies whose bounce is queued (a live copy's `dsn_of`)."""
        return {e.dsn_of for e in self._entries.values()
                if not e.done and e.dsn_of is not None}

    def _load(self, entry: spool.Entry) -> Optional[QueueEntry]:
        done = read_done(done_path(entry)) is not None
        if done and not self.owner:
            return None     # finished (its batch stays for its other copies): as gone
        if not done:
            self._unfinished.setdefault(entry.path, set()).add(entry.position)
        try:
            saved = read_state(state_path(entry), entry.envelope)
        except StateError as e:
            if not done:
                self._broken[entry.id] = (entry, e)
                self.problems.append(spool.Problem(e.path, e.reason))
                return None
            # a broken copy deleted: its state stays until its batch goes, never read
            saved = State.initial(entry.envelope)
        qe = QueueEntry(entry, saved, done)
        self._entries[entry.id] = qe
        return qe

    def entries(self) -> list:
        """Every entry read (queued, held, and for a reader, done), in commit order."""
        with self._mutex:
            return sorted(self._entries.values(), key=lambda e: _order(e.id))

    def get(self, entry_id: str) -> QueueEntry:
        """The entry `entry_id`; UnknownEntry when there is none, StateError (naming the
        file) when its state file is not valid."""
        with self._mutex:
            if entry_id in self._broken:
                raise self._broken[entry_id][1]
            try:
                return self._entries[entry_id]
            except KeyError:
                raise UnknownEntry(self.spool_dir, entry_id) from None

    def due(self, now: Optional[float] = None) -> list:
        """The entries to attempt at `now` (default: the clock): not done, not held, their
        next attempt at or before `now` (or a bounce asked for, held or not); the
        earliest due first, then in commit order."""
        now = self.now() if now is None else now
        with self._mutex:
            due = [e for e in self._entries.values() if e.is_due(now)]
        return sorted(due, key=lambda e: (min(e.next, now), _order(e.id)))

    # -- changing --------------------------------------------------------------------

    def _owned(self, what: str) -> None:
        if not self.owner:
            raise QueueError(f"spool directory {self.spool_dir}: cannot {what}: opened "
                             "read-only (without the lock)")

    def _mine(self, entry: QueueEntry) -> None:
        if self._entries.get(entry.id) is not entry:
            raise QueueError(f"queue entry {entry.id} is not one this queue read (get it "
                             "again with get())")

    def update(self, entry: QueueEntry, **values) -> QueueEntry:
        """Set state fields of `entry` (state.FIELDS: retry, next, hold, metadata,
        transportid, last, bounce, delayed) durably; the entry, updated.  ValueError for
        an unknown field or a wrong value, StateError when the disk refuses (the state on
        disk and in `entry` stay the old one), QueueError for a finished entry."""
        finished = QueueError(f"queue entry {entry.id} is finished (delivered, bounced "
                              "or deleted)")
        with self._mutex:
            self._owned(f"change {entry.id}")
            if entry.done:
                raise finished
            self._mine(entry)
        with entry.lock:
            if entry.done:
                raise finished
            new = entry.saved.changed(**values)
            write_state(state_path(entry.spool_entry), new)
            entry.saved = new
            return entry

    def mark_done(self, entry: QueueEntry, why: str, *,
                  dsn: Optional[spool.Copy] = None, remove: bool = True) -> Optional[str]:
        """Finish `entry` (delivered, bounced or deleted; `why` is kept in its marker for
        people): commit its bounce `dsn` first, if given (its envelope gets `dsn_of`),
        then write the marker, then remove the copy (with `remove` false: later, by
        `remove_finished` or the next refresh).  The DSN's id, or None.  After the
        marker (or the DSN) is on disk the entry is never attempted again, even if the
        removal fails (then recovery, or the next refresh, removes it).  SpoolError or
        StateError when the DSN or the marker could not be written: then nothing
        changed, unless the DSN was committed, which finishes the entry all the same."""
        finished = QueueError(f"queue entry {entry.id} is already finished")
        with self._mutex:
            self._owned(f"finish {entry.id}")
            if entry.done:
                raise finished
            self._mine(entry)
        with entry.lock:
            if entry.done:
                raise finished
            dsn_id = None
            if dsn is not None:
                extra = dict(dsn.extra, **{DSN_OF: entry.id})
                [dsn_id] = spool.write_copies(self.spool_dir, [_with_extra(dsn, extra)])
                entry.done = True       # its bounce is queued: recovery finishes it
            write_done(done_path(entry.spool_entry), self.now(), why)
            entry.done = True
        if remove:
            self._remove(entry)
        return dsn_id

    def remove_finished(self, entry: QueueEntry) -> None:
        """Take the files of a finished entry out of the spool (see mark_done)."""
        if not entry.done:
            raise QueueError(f"queue entry {entry.id} is not finished")
        self._remove(entry)

    def notify_delayed(self, entry: QueueEntry, dsn: spool.Copy) -> str:
        """Queue a delayed DSN for `entry` and count it in `delayed`; the DSN's id.  The
        DSN's envelope names the entry and the notice's number, so a crash between the
        two steps is finished by recovery (counted, not sent again)."""
        with self._mutex:
            self._owned(f"notify the sender of {entry.id}")
            self._mine(entry)
        notice = entry.delayed + 1
        extra = dict(dsn.extra, **{DSN_DELAYED_OF: entry.id, DSN_NOTICE: notice})
        [dsn_id] = spool.write_copies(self.spool_dir, [_with_extra(dsn, extra)])
        self.update(entry, delayed=notice)
        return dsn_id

    def hold(self, entry_id: str) -> QueueEntry:
        """Put the entry in the hold queue: not attempted until released."""
        return self.update(self.get(entry_id), hold=True)

    def release(self, entry_id: str) -> QueueEntry:
        """Take the entry out of the hold queue: attempted at its next retry time (at
        once when that has passed)."""
        return self.update(self.get(entry_id), hold=False)

    def request_bounce(self, entry_id: str) -> QueueEntry:
        """Ask for a bounce: the runner bounces the entry next (held or not)."""
        return self.update(self.get(entry_id), bounce=True)

    def delete(self, entry_id: str) -> None:
        """Take the entry out of the queue without a DSN.  An entry whose state file is
        not valid can be deleted too (the way out for an operator)."""
        with self._mutex:
            self._owned(f"delete {entry_id}")
            if entry_id in self._broken:
                entry, _ = self._broken.pop(entry_id)
                write_done(done_path(entry), self.now(), "deleted")
                self._remove_copy(entry)
                return
            self.mark_done(self.get(entry_id), "deleted")

    # -- recovery and removal -----------------------------------------------------------

    def _remove(self, entry: QueueEntry) -> None:
        if self._remove_copy(entry.spool_entry):
            with self._mutex:
                self._entries.pop(entry.id, None)

    def _remove_copy(self, entry: spool.Entry) -> bool:
        """Take a finished copy (its done marker written) out of the spool: its batch
        goes with the last of its copies.  False when the disk refused (the copy stays
        done: removed on a later try)."""
        with self._mutex:
            left = self._unfinished.get(entry.path, set())
            left.discard(entry.position)
            if left:
                return True             # the batch stays for its other copies
            self._unfinished.pop(entry.path, None)
        try:
            spool.remove_batch(entry)
        except spool.SpoolError:
            return False
        return True

    def _recover(self) -> None:
        """Finish what a crash interrupted (see the module docstring)."""
        with self._mutex:
            self._remove_temporary_files()
            # what writers that died left (.tmp- batches over an hour old) and the queue's
            # files of batches already gone (a removal cut short)
            spool.sweep(self.spool_dir)
            live = [e for e in self._entries.values() if not e.done]
            bounced = self._bounced()
            for entry_id in bounced & set(self._broken):
                self.delete(entry_id)
            notices: dict = {}
            for e in live:
                of, n = e.envelope.get(DSN_DELAYED_OF), e.envelope.get(DSN_NOTICE)
                if isinstance(of, str) and isinstance(n, int) and not isinstance(n, bool):
                    notices[of] = max(notices.get(of, 0), n)
            for e in live:
                if e.id in bounced:
                    self.mark_done(e, "bounced (recovered: its DSN was queued)")
                elif notices.get(e.id, 0) > e.delayed:
                    self.update(e, delayed=notices[e.id])
            for e in [e for e in self._entries.values() if e.done]:
                self._remove(e)

    def _remove_temporary_files(self) -> None:
        """Temporary files of state writes a crash interrupted (only the owner writes
        them, and this process is the owner now)."""
        try:
            names = os.listdir(self.spool_dir)
        except OSError:
            return
        for name in names:
            if spool.STATE_TEMPORARY.match(name):
                try:
                    os.unlink(os.path.join(self.spool_dir, name))
                except OSError:
                    pass


def _with_extra(copy: spool.Copy, extra: dict) -> spool.Copy:
    return replace(copy, extra=extra)


def _take_lock(spool_dir: str) -> int:
    """An exclusive flock on SPOOL/.lock, with this process's pid written in it; the
    descriptor.  QueueLocked when another process has it."""
    path = os.path.join(spool_dir, LOCK_FILE)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, spool.FILE_MODE)
    except OSError as e:
        raise QueueError(f"spool directory {spool_dir}: cannot open its lock file "
                         f"{LOCK_FILE}: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        try:
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        except OSError:
            text = ""
        os.close(fd)
        if isinstance(e, BlockingIOError):
            raise QueueLocked(spool_dir, int(text) if text.isdigit() else None) from None
        raise QueueError(f"spool directory {spool_dir}: cannot lock {LOCK_FILE}: "
                         f"{e.strerror or e}") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    except OSError:
        pass                            # the pid is only for the message of a second owner
    return fd
