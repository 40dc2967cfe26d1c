"""The spool's group commit (hsl/queue/spool.py SpoolWriter, what `hsl serve` writes with):
the transactions waiting are committed together, as one batch file (one file to make and
sync for all of them), yet each keeps what `write_copies` promises: the file durable
before its rename, the spool directory synced before its future resolves, all or none of
its copies, a failure that names the step and leaves nothing of it visible (a disk that
refuses the file fails every transaction of the group; a malformed copy only its own)."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from hsl.queue import spool
from hsl.queue.spool import Copy, SpoolError, SpoolWriter, read_spool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def copy(n, message=b"Subject: hi\r\n\r\nbody\r\n", **kw):
    return Copy(message, f"tx{n}", "a@example.com", f"r{n}@example.org", "mx", **kw)


def transaction(n):
    """Two copies with the same bytes (stored once) and a third with others."""
    return [copy(n), copy(n), copy(n, b"other\r\n")]


def group(writer, transactions):
    """Submit every transaction while the writer is held, so that they form one group;
    their futures."""
    with writer._cond:
        return [writer.submit(t) for t in transactions]


def entries(d):
    listing = read_spool(d)
    assert listing.problems == []
    return listing.entries


def batch_of(copy_id):
    return copy_id.rsplit("-", 1)[0]


def test_a_group_commits_every_transaction_in_submission_order_in_one_file(tmp_path):
    d = str(tmp_path / "spool")
    writer = SpoolWriter(d)
    try:
        writer.write([copy(0)])                 # the spool exists; one group of one
        futures = group(writer, [transaction(n) for n in range(1, 11)])
        ids = [f.result(10) for f in futures]
    finally:
        writer.close()
    assert (writer.groups, writer.batches) == (2, 11)
    assert len({batch_of(i) for t in ids for i in t}) == 1       # one file for the group
    assert len(os.listdir(d)) == 2
    got = entries(d)
    assert [e.id for e in got[1:]] == [i for t in ids for i in t]
    assert [e.envelope["transaction"] for e in got] == ["tx0"] + [
        f"tx{n}" for n in range(1, 11) for _ in range(3)]
    # each transaction's copies keep their queue numbers, and each its own bytes
    assert [e.envelope["queue"] for e in got[1:4]] == [0, 1, 2]
    assert all(e.read_message() == b"Subject: hi\r\n\r\nbody\r\n" for e in got[1::3])
    assert all(e.read_message() == b"other\r\n" for e in got[3::3])
    # the same bytes are stored once per transaction, not once per copy
    assert got[1].offset == got[2].offset != got[3].offset
    assert len({e.offset for e in got[1:]}) == 20


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names fds through /proc")
def test_the_group_file_is_durable_before_its_rename_and_the_spool_after(tmp_path,
                                                                         monkeypatch):
    d = str(tmp_path)
    writer = SpoolWriter(d)
    writer.write([copy(0)])
    events = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd):
        path = os.path.relpath(os.readlink(f"/proc/self/fd/{fd}"), d)
        real_fsync(fd)
        events.append(("fsync", path))

    def rename(a, b):
        events.append(("rename", os.path.relpath(a, d), os.path.relpath(b, d)))
        real_rename(a, b)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    try:
        a, b = [f.result(10) for f in group(writer, [[copy(1), copy(1, b"x")],
                                                     [copy(2)]])]
    finally:
        writer.close()
    batch = batch_of(a[0])
    assert batch_of(b[0]) == batch
    temp = spool.TEMP_PREFIX + batch
    assert events == [("fsync", temp), ("rename", temp, batch), ("fsync", ".")]


class Fail:
    """os.NAME whose `at`-th call (0-based) raises OSError(code); counts calls."""

    def __init__(self, monkeypatch, name, at=None, code=errno.EIO):
        self.real, self.at, self.code, self.calls = getattr(os, name), at, code, 0
        self.lock = threading.Lock()        # the group's fsyncs run on several threads
        monkeypatch.setattr(os, name, self)

    def __call__(self, *a, **kw):
        with self.lock:
            self.calls += 1
            this = self.calls - 1
        if this == self.at:
            raise OSError(self.code, os.strerror(self.code))
        return self.real(*a, **kw)


def three_transactions():
    return [[copy(1), copy(1, b"x" * 5000)], [copy(2)], [copy(3), copy(3)]]


def calls_in_a_group(tmp_path, name):
    d = str(tmp_path / "count")
    writer = SpoolWriter(d)
    writer.write([copy(0)])
    with pytest.MonkeyPatch.context() as mp:
        counter = Fail(mp, name)
        for f in group(writer, three_transactions()):
            f.result(10)
    writer.close()
    return counter.calls


@pytest.mark.parametrize("name, code", [
    ("fsync", errno.EIO), ("writev", errno.ENOSPC), ("open", errno.EACCES),
    ("rename", errno.EXDEV)])
def test_a_disk_that_refuses_the_group_file_fails_its_transactions_and_leaves_nothing(
        tmp_path, monkeypatch, name, code):
    n = calls_in_a_group(tmp_path, name)
    assert n >= 1
    for at in range(n):
        d = str(tmp_path / f"{name}{at}")
        writer = SpoolWriter(d)
        [kept] = writer.write([copy(0)])
        with monkeypatch.context() as mp:
            Fail(mp, name, at, code)
            futures = group(writer, three_transactions())
            outcomes = [f.exception(10) or f.result() for f in futures]
        try:
            [later] = writer.write([copy(4)])           # the writer goes on
        finally:
            writer.close()
        assert len(outcomes) == 3
        for e in outcomes:
            assert isinstance(e, SpoolError)
            assert str(e).startswith(f"spool directory {d}: cannot ")
            assert str(e).endswith(": " + os.strerror(code))
        # nothing of the group, no temporary left; what was committed before and after is
        assert [e.id for e in entries(d)] == [kept, later]
        assert sorted(os.listdir(d)) == sorted({batch_of(kept), batch_of(later)})


def test_a_spool_that_cannot_be_created_fails_the_group_and_the_writer_goes_on(
        tmp_path, monkeypatch):
    d = str(tmp_path / "spool")
    writer = SpoolWriter(d)
    try:
        with monkeypatch.context() as mp:
            Fail(mp, "mkdir", 0, errno.EDQUOT)
            outcomes = [f.exception(10) for f in group(writer, three_transactions())]
        for e in outcomes:
            assert isinstance(e, SpoolError)
            assert str(e) == (f"spool directory {d}: cannot create it: "
                              f"{os.strerror(errno.EDQUOT)}")
        [later] = writer.write([copy(4)])       # the next one makes it
    finally:
        writer.close()
    assert [e.id for e in entries(d)] == [later]


def test_a_group_whose_envelopes_are_large_is_split_in_files(tmp_path):
    d = str(tmp_path)
    writer = SpoolWriter(d)
    writer.GROUP_HEADER = 1         # every transaction in a file of its own
    try:
        ids = [f.result(10) for f in group(writer, three_transactions())]
    finally:
        writer.close()
    assert len({batch_of(t[0]) for t in ids}) == 3
    assert all(len({batch_of(i) for i in t}) == 1 for t in ids)     # never a transaction
    assert [e.id for e in entries(d)] == [i for t in ids for i in t]
    assert (writer.groups, writer.batches) == (3, 3)


def test_envelopes_past_what_a_reader_takes_are_refused_before_the_250(tmp_path,
                                                                       monkeypatch):
    d = str(tmp_path)
    monkeypatch.setattr(spool, "MAX_ENVELOPE", 600)
    many = [copy(1, metadata={"k": "v" * 100}) for _ in range(4)]
    with pytest.raises(SpoolError, match=r"cannot write the message: the envelopes of "
                                         r"its 4 copies take \d+ bytes, more than a batch "
                                         r"holds \(600\)"):
        spool.write_copies(d, many)
    writer = SpoolWriter(d)
    try:
        big, small = group(writer, [many, [copy(2)]])
        assert isinstance(big.exception(10), SpoolError)
        [kept] = small.result(10)          # (split from it: committed alone)
    finally:
        writer.close()
    assert [e.id for e in entries(d)] == [kept]
    assert os.listdir(d) == [batch_of(kept)]


def test_an_interrupted_sync_fails_its_batch_and_the_writer_goes_on(tmp_path, monkeypatch):
    d = str(tmp_path)
    writer = SpoolWriter(d)
    [kept] = writer.write([copy(0)])

    def interrupted(fd):
        raise KeyboardInterrupt
    with monkeypatch.context() as mp:
        mp.setattr(os, "fsync", interrupted)
        with pytest.raises(KeyboardInterrupt):
            writer.write([copy(1)])
    try:
        [later] = writer.write([copy(2)])
    finally:
        writer.close()
    assert [e.id for e in entries(d)] == [kept, later]
    assert sorted(os.listdir(d)) == sorted(i.rsplit("-", 1)[0] for i in (kept, later))


def test_a_malformed_copy_fails_alone_before_any_write(tmp_path):
    d = str(tmp_path)
    writer = SpoolWriter(d)
    try:
        good, bad = group(writer, [[copy(1)], [copy(2, metadata=["not", "a", "dict"])]])
        assert isinstance(bad.exception(10), TypeError)
        ids = good.result(10)
    finally:
        writer.close()
    assert [e.id for e in entries(d)] == ids


def test_close_commits_what_was_submitted(tmp_path):
    d = str(tmp_path)
    writer = SpoolWriter(d)
    futures = group(writer, [[copy(n)] for n in range(20)])
    writer.close()
    assert all(f.done() for f in futures)
    assert len(entries(d)) == 20
    with pytest.raises(RuntimeError):
        writer.submit([copy(21)])


KILLED = """
import sys
from hsl.queue.spool import Copy, SpoolWriter
w = SpoolWriter(sys.argv[1])
n = 0
while True:
    fs = [w.submit([Copy(b"m" * 3000, "t%d" % (n + i), "s", "r@x", "mx"),
                    Copy(b"other", "t%d" % (n + i), "s", "q@x", "mx")]) for i in range(8)]
    for f in fs:
        print(f.result()[0], flush=True)
    n += 8
"""


def test_a_writer_killed_at_any_moment_leaves_whole_transactions(tmp_path):
    d = str(tmp_path / "spool")
    p = subprocess.Popen([sys.executable, "-c", KILLED, d], stdout=subprocess.PIPE,
                         env=dict(os.environ, PYTHONPATH=ROOT), text=True)
    try:
        reported = []
        deadline = time.monotonic() + 60
        while len(reported) < 40 and time.monotonic() < deadline:
            reported.append(p.stdout.readline().strip())
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.wait()
        rest = p.stdout.read().split()
        p.stdout.close()
    got = entries(d)
    by_tx: dict = {}
    for e in got:
        by_tx.setdefault(e.envelope["transaction"], []).append(e.envelope["recipient"])
    assert all(r == ["r@x", "q@x"] for r in by_tx.values())      # all or none
    ids = {e.id for e in got}
    assert {i for i in reported + rest if i} <= ids               # every reported id is there
