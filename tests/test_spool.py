"""The spool of committed copies (hsl/queue/spool.py, issue 15): message bytes and envelopes
round-trip exactly, copies come back in commit order, concurrent writers (threads and
processes) never clash, a failure at any step of a write leaves nothing visible and says
why, files are private, and the reader skips what is not committed and reports (never
drops, never raises on) what is corrupt or foreign."""
from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hsl.queue import spool
from hsl.queue.spool import Copy, SpoolError, read_spool, remove, sweep, write_copies

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TX = "5f0c8a52-3b1d-4c7e-9a60-2d4e6f8a0b1c"


def copy(message=b"Subject: hi\r\n\r\nbody\r\n", recipient="b@example.org", **kw):
    return Copy(message, kw.pop("transaction", TX), kw.pop("sender", "a@example.com"),
                recipient, kw.pop("transportid", "mx"), **kw)


def scratch():
    """A temporary directory for the many examples of a hypothesis test: in memory when
    the system has /dev/shm (fsync costs nothing there, the code path is the same)."""
    return tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None)


def only_entries(d):
    """The entries of spool `d`, asserting it has no problems."""
    listing = read_spool(d)
    assert listing.problems == []
    return listing.entries


# ---------------------------------------------------------------------------------------
# Round trips

MESSAGES = {
    "crlf": b"From: a@example.com\r\nSubject: x\r\n\r\nline 1\r\nline 2\r\n",
    "lf": b"From: a@example.com\nSubject: x\n\nline 1\nline 2\n",
    "mixed and no final newline": b"A: 1\r\nB: 2\n\r\nbody\rmore",
    "8-bit": "Subject: caf\u00e9\r\n\r\nr\u00e9sum\u00e9 \u2603\r\n".encode()
             + b"latin-1 \xe9\xff\r\n",
    "binary": bytes(range(256)) * 4,
    "empty": b"",
    "dot lines": b"Subject: x\r\n\r\n.\r\n..\r\n.\r\n",
}


@pytest.mark.parametrize("name", MESSAGES)
def test_message_bytes_round_trip_exactly(tmp_path, name):
    d = str(tmp_path / "spool")
    [qid] = write_copies(d, [copy(MESSAGES[name])])
    [entry] = only_entries(d)
    assert entry.id == qid
    assert entry.read_message() == MESSAGES[name]
    assert entry.envelope["size"] == len(MESSAGES[name])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=3000), min_size=1, max_size=4))
def test_any_bytes_round_trip(messages):
    with scratch() as d:
        ids = write_copies(d, [copy(m, recipient=f"r{i}@x") for i, m in enumerate(messages)])
        entries = only_entries(d)
        assert [e.id for e in entries] == ids
        assert [e.read_message() for e in entries] == messages


def test_envelope_fields(tmp_path):
    d = str(tmp_path)
    before = time.time()
    write_copies(d, [
        copy(sender="", recipient="postmaster@example.org", transportid="inbound",
             queue=7, metadata={"tenant": "acme", "score": "1.5"}, hold=True,
             jobid="campaign-42", delay=300, quotas=("per-domain", "global"),
             received=1700000000.25),
        copy(),
    ])
    first, second = only_entries(d)
    assert first.envelope == {
        "spool": 1, "transaction": TX, "queue": 7, "ts": 1700000000.25, "sender": "",
        "recipient": "postmaster@example.org", "transportid": "inbound",
        "metadata": {"tenant": "acme", "score": "1.5"}, "hold": True,
        "jobid": "campaign-42", "delay": 300, "quotas": ["per-domain", "global"],
        "size": len(copy().message)}
    # the defaults: queue number = position, received = the time of the write
    env = second.envelope
    assert (env["queue"], env["metadata"], env["hold"], env["jobid"], env["delay"],
            env["quotas"]) == (1, {}, False, None, 0, [])
    assert before <= env["ts"] <= time.time()
    # the envelope on disk is the same JSON object
    with open(second.envelope_path, "rb") as f:
        assert json.loads(f.read()) == env


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=40), st.binary(min_size=1, max_size=40),
       st.dictionaries(st.binary(max_size=10), st.binary(max_size=10), max_size=3))
def test_byte_strings_come_back_exactly(sender, transaction, metadata):
    """HSL strings are bytes: a text field given as bytes reads back as a str that encodes
    (utf-8, surrogateescape) to the same bytes."""
    def back(s):
        return s.encode("utf-8", "surrogateescape")
    with scratch() as d:
        write_copies(d, [Copy(b"x", transaction, sender, b"r\xff@x", b"mx", metadata=metadata)])
        [entry] = only_entries(d)
        env = entry.envelope
        assert back(env["sender"]) == sender
        assert back(env["transaction"]) == transaction
        assert back(env["recipient"]) == b"r\xff@x"
        assert {back(k): back(v) for k, v in env["metadata"].items()} == metadata
        with open(entry.envelope_path, "rb") as f:
            f.read().decode("ascii")        # escaped: the file is plain ASCII


@pytest.mark.parametrize("bad, kind", [
    (dict(message="text"), TypeError),
    (dict(sender=5), TypeError),
    (dict(metadata={"k": 1}), TypeError),
    (dict(metadata=[("k", "v")]), TypeError),
    (dict(quotas="one"), TypeError),
    (dict(transaction=""), ValueError),
    (dict(queue=-1), ValueError),
    (dict(queue=True), ValueError),
    (dict(hold="yes"), ValueError),
    (dict(delay=-5), ValueError),
    (dict(delay=float("nan")), ValueError),
    (dict(received=float("inf")), ValueError),
])
def test_a_malformed_copy_is_refused_before_any_write(tmp_path, bad, kind):
    d = str(tmp_path / "spool")
    with pytest.raises(kind):
        write_copies(d, [copy(), copy(**bad)])
    assert not os.path.exists(d)


def test_no_copies_writes_nothing(tmp_path):
    assert write_copies(str(tmp_path / "spool"), []) == []
    assert not os.path.exists(tmp_path / "spool")


# ---------------------------------------------------------------------------------------
# Order and ids

def test_commit_order(tmp_path):
    d = str(tmp_path)
    expected = []
    for t in range(5):
        batch = [copy(recipient=f"t{t}-r{i}@x") for i in range(12)]   # 10, 11 after 9
        expected += write_copies(d, batch)
    entries = only_entries(d)
    assert [e.id for e in entries] == expected
    assert [e.envelope["recipient"] for e in entries] == [
        f"t{t}-r{i}@x" for t in range(5) for i in range(12)]


def test_batch_ids_increase_when_the_clock_stands_still_or_steps_back(monkeypatch):
    clock = iter([2_000_000_000_000_000_000] * 3 + [1_000_000_000_000_000_000] * 3)
    monkeypatch.setattr(spool.time, "time_ns", lambda: next(clock))
    ids = [spool.new_batch_id() for _ in range(6)]
    assert ids == sorted(ids) and len(set(ids)) == 6
    assert all(spool.BATCH_ID.match(i) for i in ids)
    assert ids[0].startswith("20330518T033320.")        # UTC, to the nanosecond


def test_batch_ids_differ_across_processes_with_the_same_clock(monkeypatch):
    """Another process (or this one after a restart) has its own idea of the last time:
    the random part keeps their ids apart."""
    monkeypatch.setattr(spool.time, "time_ns", lambda: 1_000_000_000_000_000_000)
    ids = set()
    for _ in range(50):
        monkeypatch.setattr(spool, "_last_ns", 0)       # a fresh process
        ids.add(spool.new_batch_id())
    assert len(ids) == 50


def test_threads_never_clash(tmp_path):
    d = str(tmp_path)
    ids, errors = [], []

    def writer(n):
        try:
            for i in range(20):
                ids.extend(write_copies(d, [copy(recipient=f"{n}-{i}-a@x"),
                                            copy(recipient=f"{n}-{i}-b@x")]))
        except Exception as e:      # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(ids) == len(set(ids)) == 8 * 20 * 2
    entries = only_entries(d)
    assert sorted(e.id for e in entries) == sorted(ids)
    # each thread's own transactions come back in the order it wrote them
    for n in range(8):
        mine = [e.envelope["recipient"] for e in entries
                if e.envelope["recipient"].startswith(f"{n}-")]
        assert mine == [f"{n}-{i}-{x}@x" for i in range(20) for x in "ab"]


WRITER = """
import sys
from hsl.queue.spool import Copy, write_copies
for i in range(60):
    ids = write_copies(sys.argv[1], [Copy(b"m", "t", "s", sys.argv[2] + str(i), "mx")])
    print(ids[0])
"""


def test_two_processes_never_clash(tmp_path):
    d = str(tmp_path / "spool")
    env = dict(os.environ, PYTHONPATH=ROOT)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, d, name], env=env,
                              stdout=subprocess.PIPE, text=True) for name in ("p", "q")]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    ids = outs[0] + outs[1]
    assert len(ids) == len(set(ids)) == 120
    entries = only_entries(d)
    assert sorted(e.id for e in entries) == sorted(ids)
    for name, out in zip("pq", outs):
        assert [e.id for e in entries if e.envelope["recipient"].startswith(name)] == out


# ---------------------------------------------------------------------------------------
# Failures: nothing half-written is visible, and the error says where and why

class Fail:
    """Wraps os.NAME so that its `at`-th call (0-based) raises OSError(code); counts
    calls when `at` is None."""

    def __init__(self, monkeypatch, name, at=None, code=errno.EIO):
        self.real, self.at, self.code, self.calls = getattr(os, name), at, code, 0
        monkeypatch.setattr(os, name, self)

    def __call__(self, *a, **kw):
        self.calls += 1
        if self.calls - 1 == self.at:
            raise OSError(self.code, os.strerror(self.code))
        return self.real(*a, **kw)


def two_copies():
    return [copy(b"one\r\n" * 1000, recipient="r1@x"), copy(b"two\r\n", recipient="r2@x")]


def calls_in_a_write(name):
    with tempfile.TemporaryDirectory() as d, pytest.MonkeyPatch.context() as mp:
        write_copies(d, [copy()])               # the spool exists already
        counter = Fail(mp, name)
        write_copies(d, two_copies())
        return counter.calls


@pytest.mark.parametrize("name, code", [
    ("fsync", errno.EIO), ("write", errno.ENOSPC), ("open", errno.EACCES),
    ("rename", errno.EXDEV), ("mkdir", errno.EDQUOT)])
def test_a_failure_at_any_step_leaves_nothing_visible(tmp_path, monkeypatch, name, code):
    n = calls_in_a_write(name)
    assert n >= 1
    for at in range(n):
        d = str(tmp_path / f"{name}{at}")
        [kept] = write_copies(d, [copy(b"committed before\r\n")])
        with monkeypatch.context() as mp:
            Fail(mp, name, at, code)
            with pytest.raises(SpoolError) as info:
                write_copies(d, two_copies())
        e = info.value
        assert str(e).startswith(f"spool directory {d}: cannot ")
        assert str(e).endswith(": " + os.strerror(code))
        assert (e.directory, e.reason) == (d, os.strerror(code))
        # only the transaction committed before is there, whole, and no temporary left
        assert [x.id for x in only_entries(d)] == [kept]
        assert os.listdir(d) == [kept.rsplit("-", 1)[0]]


def same_bytes_copies():
    message = b"Subject: same\r\n\r\nfor both\r\n" * 100
    return [copy(message, recipient="r1@x"), copy(bytes(message), recipient="r2@x"),
            copy(b"other\r\n", recipient="r3@x")]


def test_copies_with_the_same_bytes_share_one_file(tmp_path):
    d = str(tmp_path)
    write_copies(d, same_bytes_copies())
    first, second, third = only_entries(d)
    assert os.stat(first.message_path).st_ino == os.stat(second.message_path).st_ino
    assert os.stat(third.message_path).st_ino != os.stat(first.message_path).st_ino
    remove(first)
    [left, _] = only_entries(d)
    with open(left.message_path, "rb") as f:
        assert f.read() == same_bytes_copies()[1].message


@pytest.mark.parametrize("code", [errno.EPERM, errno.EMLINK, errno.ENOTSUP])
def test_a_file_system_that_cannot_link_gets_a_copy(tmp_path, monkeypatch, code):
    d = str(tmp_path)
    Fail(monkeypatch, "link", 0, code)
    write_copies(d, same_bytes_copies())
    first, second, _ = only_entries(d)
    assert os.stat(first.message_path).st_ino != os.stat(second.message_path).st_ino
    with open(second.message_path, "rb") as f:
        assert f.read() == same_bytes_copies()[1].message


def test_a_link_that_fails_otherwise_leaves_nothing_visible(tmp_path, monkeypatch):
    d = str(tmp_path)
    [kept] = write_copies(d, [copy()])
    Fail(monkeypatch, "link", 0, errno.EIO)
    with pytest.raises(SpoolError, match="cannot write a message: Input/output error"):
        write_copies(d, same_bytes_copies())
    assert [x.id for x in only_entries(d)] == [kept]
    assert os.listdir(d) == [kept.rsplit("-", 1)[0]]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names fds through /proc")
def test_everything_is_synced_before_the_commit_and_the_commit_after(tmp_path, monkeypatch):
    d = str(tmp_path)
    write_copies(d, [copy()])
    events = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd):
        events.append(("fsync", os.path.relpath(os.readlink(f"/proc/self/fd/{fd}"), d)))
        real_fsync(fd)

    def rename(a, b):
        events.append(("rename", os.path.relpath(a, d), os.path.relpath(b, d)))
        real_rename(a, b)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    [qid, _] = write_copies(d, two_copies())
    batch = qid.rsplit("-", 1)[0]
    temp = spool.TEMP_PREFIX + batch
    assert events == [("fsync", f"{temp}/0.eml"), ("fsync", f"{temp}/0.json"),
                      ("fsync", f"{temp}/1.eml"), ("fsync", f"{temp}/1.json"),
                      ("fsync", temp), ("rename", temp, batch), ("fsync", ".")]


def test_the_steps_are_named(tmp_path, monkeypatch):
    d = str(tmp_path)
    steps = {}
    for name in ("write", "rename"):
        with monkeypatch.context() as mp:
            Fail(mp, name, 0, errno.ENOSPC)
            with pytest.raises(SpoolError) as info:
                write_copies(d, [copy()])
        steps[name] = str(info.value)
    assert steps == {
        "write": f"spool directory {d}: cannot write a message: No space left on device",
        "rename": f"spool directory {d}: cannot commit the batch: No space left on device"}


def test_a_failed_final_sync_takes_the_batch_back(tmp_path, monkeypatch):
    """The rename happened, the spool directory's fsync failed: the batch is renamed back
    and removed, so the client's retry after the 451 does not make a second copy."""
    d = str(tmp_path)
    n = calls_in_a_write("fsync")
    with monkeypatch.context() as mp:
        Fail(mp, "fsync", n - 1)
        with pytest.raises(SpoolError, match="cannot sync the spool directory"):
            write_copies(d, two_copies())
    assert os.listdir(d) == []


def test_when_even_the_rollback_fails_nothing_is_visible(tmp_path, monkeypatch):
    d = str(tmp_path)
    real_fsync, real_rename = os.fsync, os.rename
    state = {"renames": 0}

    def rename(a, b):
        state["renames"] += 1
        if state["renames"] > 1:            # the rename back fails
            raise OSError(errno.EIO, "rename back")
        real_rename(a, b)

    def fsync(fd):
        if state["renames"]:                # the sync after the commit fails
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(SpoolError):
        write_copies(d, two_copies())
    monkeypatch.undo()
    assert read_spool(d).entries == [] and read_spool(d).problems == []


def test_an_interrupt_cleans_up_and_goes_on(tmp_path, monkeypatch):
    d = str(tmp_path)

    def interrupted(fd):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_copies(d, two_copies())
    monkeypatch.undo()
    assert os.listdir(d) == []


def test_a_spool_path_that_is_a_file(tmp_path):
    f = tmp_path / "spool"
    f.write_text("not a directory")
    with pytest.raises(SpoolError, match=f"spool directory {f}: cannot create it: "):
        write_copies(str(f), [copy()])
    listing = read_spool(str(f))
    assert listing.entries == [] and [p.path for p in listing.problems] == [str(f)]


# ---------------------------------------------------------------------------------------
# Permissions

def test_files_are_private_and_the_spool_is_created_0700(tmp_path):
    d = tmp_path / "var" / "spool" / "hsl"
    old = os.umask(0o022)
    try:
        write_copies(str(d), [copy(), copy()])
    finally:
        os.umask(old)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    [batch] = d.iterdir()
    assert stat.S_IMODE(batch.stat().st_mode) == 0o700
    files = sorted(p.name for p in batch.iterdir())
    assert files == ["0.eml", "0.json", "1.eml", "1.json"]
    assert {stat.S_IMODE((batch / f).stat().st_mode) for f in files} == {0o600}


def test_an_existing_spool_keeps_its_mode(tmp_path):
    d = tmp_path / "spool"
    d.mkdir(mode=0o750)
    os.chmod(d, 0o750)
    write_copies(str(d), [copy()])
    assert stat.S_IMODE(d.stat().st_mode) == 0o750


# ---------------------------------------------------------------------------------------
# The reader: skips what is not committed, reports what is not ours

def test_temporary_batches_and_orphan_messages_are_skipped(tmp_path):
    d = str(tmp_path)
    [a] = write_copies(d, [copy(recipient="a@x")])
    # a writer died mid-batch: its temporary directory, with a whole copy in it
    temp = os.path.join(d, spool.TEMP_PREFIX + spool.new_batch_id())
    os.mkdir(temp)
    for name, data in (("0.eml", b"x"), ("0.json", b"{}"), ("1.eml", b"half")):
        with open(os.path.join(temp, name), "wb") as f:
            f.write(data)
    # a remove was interrupted between the envelope and the message
    b, c = write_copies(d, [copy(recipient="b@x"), copy(recipient="c@x")])
    entries = only_entries(d)
    os.unlink(entries[1].envelope_path)
    assert [e.id for e in only_entries(d)] == [a, c]


def test_sweep(tmp_path):
    d = str(tmp_path)
    old_temp = os.path.join(d, spool.TEMP_PREFIX + spool.new_batch_id())
    young_temp = os.path.join(d, spool.TEMP_PREFIX + spool.new_batch_id())
    for t in (old_temp, young_temp):
        os.makedirs(t)
        open(os.path.join(t, "0.eml"), "wb").close()
    os.utime(old_temp, (time.time() - 7200, time.time() - 7200))
    write_copies(d, [copy(recipient="gone@x")])
    [gone] = only_entries(d)
    os.unlink(gone.envelope_path)                  # an interrupted remove
    write_copies(d, [copy(recipient="b@x"), copy(recipient="c@x")])
    b, c = only_entries(d)
    os.unlink(b.envelope_path)
    removed = sweep(d)
    assert sorted(removed) == sorted([old_temp, gone.message_path,
                                      os.path.dirname(gone.message_path), b.message_path])
    assert sorted(os.listdir(d)) == sorted([os.path.basename(young_temp),
                                            os.path.basename(os.path.dirname(c.message_path))])
    assert [e.id for e in only_entries(d)] == [c.id]


def corrupt(d, how):
    """Write one good transaction, then break its first copy (or the spool) as `how`
    says; the path the problem must name."""
    write_copies(d, [copy(b"12345", recipient="first@x"), copy(recipient="second@x")])
    first = read_spool(d).entries[0]
    batch = os.path.dirname(first.envelope_path)

    def envelope(value):
        with open(first.envelope_path, "wb") as f:
            f.write(value if isinstance(value, bytes) else json.dumps(value).encode())
        return first.envelope_path

    good = dict(first.envelope)
    if how == "not json":
        return envelope(b"{\"spool\": 1, ")
    if how == "not utf-8":
        return envelope(b"{\"spool\": 1, \"sender\": \"\xff\"}")
    if how == "not an object":
        return envelope([1, 2])
    if how == "foreign json":
        return envelope({"name": "some other program"})
    if how == "newer version":
        return envelope(dict(good, spool=2))
    if how == "missing key":
        del good["recipient"]
        return envelope(good)
    if how == "wrong type":
        return envelope(dict(good, hold="no"))
    if how == "metadata not strings":
        return envelope(dict(good, metadata={"k": 1}))
    if how == "deeply nested":
        return envelope(b"[" * 100_000 + b"]" * 100_000)
    if how == "truncated message":
        with open(first.message_path, "wb") as f:
            f.write(b"123")
        return first.message_path
    if how == "message missing":
        os.unlink(first.message_path)
        return first.envelope_path
    if how == "foreign file in the spool":
        path = os.path.join(d, "README")
    elif how == "foreign file in a batch":
        path = os.path.join(batch, "notes.txt")
    elif how == "a file named like a batch":
        path = os.path.join(d, spool.new_batch_id())
    with open(path, "w") as f:
        f.write("hello")
    return path


CORRUPTIONS = ["not json", "not utf-8", "not an object", "foreign json", "newer version",
               "missing key", "wrong type", "metadata not strings", "deeply nested",
               "truncated message", "message missing", "foreign file in the spool",
               "foreign file in a batch", "a file named like a batch"]


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_corrupt_and_foreign_files_are_reported_with_their_path(tmp_path, how):
    d = str(tmp_path)
    path = corrupt(d, how)
    listing = read_spool(d)
    assert [p.path for p in listing.problems] == [path]
    reason = listing.problems[0].reason
    assert reason and "Traceback" not in reason
    assert str(listing.problems[0]) == f"{path}: {reason}"
    # the good copies are still read
    expected = ["second@x"] if "file" not in how else ["first@x", "second@x"]
    assert [e.envelope["recipient"] for e in listing.entries] == expected


def test_problem_texts(tmp_path):
    texts = {}
    for how in ("not json", "newer version", "wrong type", "truncated message",
                "message missing", "foreign file in the spool"):
        d = str(tmp_path / how.replace(" ", "-"))
        corrupt(d, how)
        texts[how] = read_spool(d).problems[0].reason
    assert texts == {
        "not json": "not a spool envelope (not JSON: Expecting property name enclosed in "
                    "double quotes: line 1 column 14 (char 13))",
        "newer version": "\"spool\" must be the format version 1, not 2",
        "wrong type": "\"hold\" must be a boolean, not \"no\"",
        "truncated message": "the message is 3 bytes, its envelope says 5",
        "message missing": "the envelope's message 0.eml is missing",
        "foreign file in the spool": "not a spool entry (foreign file)",
    }


@settings(max_examples=80, deadline=None)
@given(st.one_of(st.binary(max_size=300),
                 st.dictionaries(st.sampled_from(sorted(spool.ENVELOPE)),
                                 st.none() | st.booleans() | st.integers() | st.text()
                                 | st.lists(st.text(max_size=3), max_size=2),
                                 max_size=len(spool.ENVELOPE))
                 .map(lambda e: json.dumps(e).encode())))
def test_any_envelope_file_is_an_entry_or_a_problem(data):
    with scratch() as d:
        write_copies(d, [copy(b"")])
        [entry] = only_entries(d)
        with open(entry.envelope_path, "wb") as f:
            f.write(data)
        listing = read_spool(d)
        assert len(listing.entries) + len(listing.problems) == 1


def test_a_missing_spool_is_empty(tmp_path):
    listing = read_spool(str(tmp_path / "nothing here"))
    assert listing.entries == [] and listing.problems == []


def test_iter_entries_streams(tmp_path):
    d = str(tmp_path)
    ids = write_copies(d, [copy(), copy()])
    problems = []
    it = spool.iter_entries(d, problems.append)
    assert next(it).id == ids[0]
    assert [e.id for e in it] == ids[1:] and problems == []


# ---------------------------------------------------------------------------------------
# Removing

def test_remove(tmp_path):
    d = str(tmp_path)
    write_copies(d, [copy(recipient="a@x"), copy(recipient="b@x")])
    [later] = write_copies(d, [copy(recipient="c@x")])
    a, b, c = only_entries(d)
    remove(a)
    assert [e.id for e in only_entries(d)] == [b.id, c.id]
    assert not os.path.exists(a.message_path)
    remove(a)                                  # already gone: fine
    remove(b)
    assert not os.path.exists(os.path.dirname(b.envelope_path))   # the empty batch too
    assert [e.id for e in only_entries(d)] == [later]
    remove(c)
    assert os.listdir(d) == []
    remove(c)


def test_the_documentation_example_runs(capsys, monkeypatch, tmp_path):
    """docs/spool.md's Python example does what the page says."""
    import re
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    page = open(os.path.join(ROOT, "docs", "spool.md"), encoding="utf-8").read()
    [example] = re.findall(r"^```python\n(.*?)^```", page, re.S | re.M)
    exec(compile(example, "docs/spool.md", "exec"), {})
    [line] = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"\S+-0 bob@example.org b'Subject: hi\\r\\n\\r\\nHello\\r\\n'", line)
