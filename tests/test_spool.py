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


def first_line(path):
    with open(path, "rb") as f:
        return f.readline()


def header_of(path):
    """The JSON object on the first line of a batch file."""
    return json.loads(first_line(path))


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
        "transaction": TX, "queue": 7, "ts": 1700000000.25, "sender": "",
        "recipient": "postmaster@example.org", "transportid": "inbound",
        "metadata": {"tenant": "acme", "score": "1.5"}, "hold": True,
        "jobid": "campaign-42", "delay": 300, "quotas": ["per-domain", "global"],
        "offset": 0, "size": len(copy().message)}
    # the defaults: queue number = position, received = the time of the write
    env = second.envelope
    assert (env["queue"], env["metadata"], env["hold"], env["jobid"], env["delay"],
            env["quotas"]) == (1, {}, False, None, 0, [])
    assert before <= env["ts"] <= time.time()
    # (the two copies have the same bytes: stored once)
    assert env["offset"] == 0 and env["size"] == len(copy().message)
    # the envelopes on disk are the same JSON objects, on the batch's first line
    assert first.path == second.path and (first.position, second.position) == (0, 1)
    assert first.copies == second.copies == 2
    assert header_of(second.path) == {"spool": 2, "copies": [first.envelope, env]}


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
        first_line(entry.path).decode("ascii")     # escaped: the first line is ASCII


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
    ("fsync", errno.EIO), ("writev", errno.ENOSPC), ("open", errno.EACCES),
    ("rename", errno.EXDEV)])
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


def test_a_spool_that_cannot_be_created_leaves_nothing(tmp_path, monkeypatch):
    d = str(tmp_path / "var" / "spool")
    with monkeypatch.context() as mp:
        counter = Fail(mp, "mkdir")
        write_copies(str(tmp_path / "count" / "spool"), [copy()])
    assert counter.calls == 2                       # var/spool's parent, then the spool
    for at in range(counter.calls):
        with monkeypatch.context() as mp:
            Fail(mp, "mkdir", at, errno.EDQUOT)
            with pytest.raises(SpoolError, match=f"spool directory {d}: cannot create "
                                                 f"it: {os.strerror(errno.EDQUOT)}"):
                write_copies(d, two_copies())
        assert not os.path.exists(d)
        assert read_spool(d).entries == []


def same_bytes_copies():
    message = b"Subject: same\r\n\r\nfor both\r\n" * 100
    return [copy(message, recipient="r1@x"), copy(b"other\r\n", recipient="r2@x"),
            copy(bytes(message), recipient="r3@x"), copy(message[:-2], recipient="r4@x")]


def test_copies_with_the_same_bytes_share_one_stretch_of_the_file(tmp_path):
    d = str(tmp_path)
    given = same_bytes_copies()
    write_copies(d, given)
    entries = only_entries(d)
    same, other, same_again, prefix = entries
    assert len({e.path for e in entries}) == 1
    # the same bytes (r1, r3; not the same object) are stored once; different ones
    # (another message, or a prefix of the same) get their own stretch, in copy order
    assert [(e.envelope["offset"], e.envelope["size"]) for e in entries] == [
        (0, 2700), (2700, 7), (0, 2700), (2707, 2698)]
    with open(same.path, "rb") as f:
        assert f.read() == first_line(same.path) + given[0].message + b"other\r\n" + \
            given[3].message
    assert same.offset == same_again.offset == len(first_line(same.path))
    # each copy reads its exact bytes
    assert [e.read_message() for e in entries] == [c.message for c in given]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names fds through /proc")
def test_the_batch_is_written_and_synced_before_the_commit_and_the_spool_after(tmp_path,
                                                                               monkeypatch):
    d = str(tmp_path)
    write_copies(d, [copy()])
    events = []
    real_fsync, real_rename, real_writev = os.fsync, os.rename, os.writev

    def name(fd):
        return os.path.relpath(os.readlink(f"/proc/self/fd/{fd}"), d)

    def writev(fd, buffers):
        events.append(("writev", name(fd)))
        return real_writev(fd, buffers)

    def fsync(fd):
        events.append(("fsync", name(fd)))
        real_fsync(fd)

    def rename(a, b):
        events.append(("rename", os.path.relpath(a, d), os.path.relpath(b, d)))
        real_rename(a, b)
    monkeypatch.setattr(os, "writev", writev)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    [qid, _] = write_copies(d, two_copies())
    batch = qid.rsplit("-", 1)[0]
    temp = spool.TEMP_PREFIX + batch
    writes = [e for e in events if e[0] == "writev"]
    assert writes and set(writes) == {("writev", temp)}
    assert events[len(writes):] == [("fsync", temp), ("rename", temp, batch),
                                    ("fsync", ".")]


def test_the_steps_are_named(tmp_path, monkeypatch):
    d = str(tmp_path)
    steps = {}
    for name in ("writev", "fsync", "rename"):
        with monkeypatch.context() as mp:
            Fail(mp, name, 0, errno.ENOSPC)
            with pytest.raises(SpoolError) as info:
                write_copies(d, [copy()])
        steps[name] = str(info.value)
    full = f"spool directory {d}: cannot "
    assert steps == {
        "writev": full + "write the message: No space left on device",
        "fsync": full + "sync the message: No space left on device",
        "rename": full + "commit the message: No space left on device"}


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
    [batch] = d.iterdir()                   # one file for the transaction
    assert batch.is_file() and spool.BATCH_ID.match(batch.name)
    assert stat.S_IMODE(batch.stat().st_mode) == 0o600


def test_an_existing_spool_keeps_its_mode(tmp_path):
    d = tmp_path / "spool"
    d.mkdir(mode=0o750)
    os.chmod(d, 0o750)
    write_copies(str(d), [copy()])
    assert stat.S_IMODE(d.stat().st_mode) == 0o750


# ---------------------------------------------------------------------------------------
# The reader: skips what is not committed, reports what is not ours

def mark_done(entry):
    """The queue's done marker of `entry` (hsl/queue/state.py writes it so)."""
    with open(entry.stem + spool.DONE_SUFFIX, "w") as f:
        f.write('{"time": 0, "why": "delivered"}')


def test_temporaries_companions_and_finished_copies_are_skipped(tmp_path):
    d = str(tmp_path)
    [a] = write_copies(d, [copy(recipient="a@x")])
    # a writer died mid-batch: its temporary file, its first line whole
    temp = os.path.join(d, spool.TEMP_PREFIX + spool.new_batch_id())
    with open(os.path.join(d, a.rsplit("-", 1)[0]), "rb") as f, open(temp, "wb") as t:
        t.write(f.read()[:-3])
    b, c = write_copies(d, [copy(recipient="b@x"), copy(recipient="c@x")])
    eb = only_entries(d)[1]
    # the queue's files: a state (and its temporary), a copy finished before its batch
    with open(eb.stem + spool.STATE_SUFFIX, "w") as f:
        f.write('{"retry": 1}')
    with open(os.path.join(d, f".{os.path.basename(eb.stem)}.state.json.tmp-99"), "w") as f:
        f.write('{"retry"')
    mark_done(eb)
    # and the companions of a batch whose removal was interrupted (the batch gone)
    gone = spool.new_batch_id()
    for name in (f"{gone}.0.state.json", f"{gone}.0.done"):
        open(os.path.join(d, name), "w").close()
    assert [e.id for e in only_entries(d)] == [a, c]


def test_names_with_other_digits_are_foreign(tmp_path):
    """Ids and positions are ASCII digits: a name spelt with other digits is a foreign
    file, reported, and never swept as a companion."""
    d = str(tmp_path)
    [a] = write_copies(d, [copy()])
    batch = a.rsplit("-", 1)[0]
    names = [batch.replace("2", "\u0662"), f"{batch}.1\u0661.done", f"{batch}.01.done"]
    for name in names:
        open(os.path.join(d, name), "w").close()
    listing = read_spool(d)
    assert [e.id for e in listing.entries] == [a]
    assert sorted(p.path for p in listing.problems) == sorted(os.path.join(d, n)
                                                              for n in names)
    os.unlink(os.path.join(d, batch))
    assert sweep(d, min_age=0) == []


def test_sweep(tmp_path):
    d = str(tmp_path)
    hour_ago = time.time() - 7200

    def made(name, old):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write("{")
        if old:
            os.utime(path, (hour_ago, hour_ago))
        return path
    old_temp = made(spool.TEMP_PREFIX + spool.new_batch_id(), True)
    young_temp = made(spool.TEMP_PREFIX + spool.new_batch_id(), False)
    [b, c] = write_copies(d, [copy(recipient="b@x"), copy(recipient="c@x")])
    eb, ec = only_entries(d)
    stem = os.path.basename(eb.stem)
    old_state_temp = made(f".{stem}.state.json.tmp-1234", True)
    young_state_temp = made(f".{stem}.state.json.tmp-1235", False)
    kept = [made(f"{stem}.state.json", True), made(f"{stem}.done", True)]   # its batch is here
    gone = spool.new_batch_id()                     # an interrupted remove's leftovers
    leftovers = [made(f"{gone}.0.state.json", False), made(f"{gone}.1.done", False)]
    format_1 = os.path.join(d, spool.new_batch_id())
    os.mkdir(format_1)
    open(os.path.join(format_1, "0.json"), "w").close()
    os.utime(format_1, (hour_ago, hour_ago))
    foreign = made("README", True)
    removed = sweep(d)
    assert sorted(removed) == sorted([old_temp, old_state_temp] + leftovers)
    assert sorted(os.listdir(d)) == sorted(os.path.basename(p) for p in [
        young_temp, young_state_temp, eb.path, format_1, foreign] + kept)
    assert os.listdir(format_1) == ["0.json"]       # format 1: left alone
    assert sweep(d) == []
    assert [e.id for e in read_spool(d).entries] == [c]


def corrupt(d, how):
    """Write two good transactions, then break the second (or the spool) as `how` says;
    the path the problem must name."""
    write_copies(d, [copy(recipient="good@x")])
    write_copies(d, [copy(b"12345", recipient="first@x"), copy(recipient="second@x")])
    first = read_spool(d).entries[1]
    messages = open(first.path, "rb").read()[first.offset - first.envelope["offset"]:]

    def batch(value, rest=messages):
        """The batch with `value` (bytes or a JSON value) as its first line."""
        line = value if isinstance(value, bytes) else json.dumps(value).encode()
        with open(first.path, "wb") as f:
            f.write(line + b"\n" + rest)
        return first.path

    good = header_of(first.path)
    envelope = dict(good["copies"][0])
    if how == "no first line":
        with open(first.path, "wb") as f:
            f.write(b"{\"spool\": 2, \"copies\": []")
        return first.path
    if how == "not json":
        return batch(b"{\"spool\": 2, ")
    if how == "not utf-8":
        return batch(b"{\"spool\": 2, \"copies\": [{\"sender\": \"\xff\"}]}")
    if how == "not an object":
        return batch([1, 2])
    if how == "foreign json":
        return batch({"name": "some other program"})
    if how == "older version":
        return batch(dict(good, spool=1))
    if how == "newer version":
        return batch(dict(good, spool=3))
    if how == "no copies":
        return batch({"spool": 2})
    if how == "copies not a list":
        return batch(dict(good, copies=envelope))
    if how == "missing key":
        del envelope["recipient"]
        return batch(dict(good, copies=[envelope, good["copies"][1]]))
    if how == "wrong type":
        return batch(dict(good, copies=[dict(envelope, hold="no"), good["copies"][1]]))
    if how == "metadata not strings":
        return batch(dict(good, copies=[good["copies"][0],
                                        dict(envelope, metadata={"k": 1})]))
    if how == "offset not a count":
        return batch(dict(good, copies=[dict(envelope, offset=-1), good["copies"][1]]))
    if how == "deeply nested":
        return batch(b"[" * 100_000 + b"]" * 100_000)
    if how == "truncated messages":
        return batch(json.dumps(good).encode(), messages[:-1])
    if how == "foreign file in the spool":
        path = os.path.join(d, "README")
    elif how == "a file named like a batch":
        path = os.path.join(d, spool.new_batch_id())
    elif how == "a format-1 batch directory":
        path = os.path.join(d, spool.new_batch_id())
        os.mkdir(path)
        with open(os.path.join(path, "0.json"), "w") as f:
            f.write(json.dumps(dict(envelope, spool=1)))
        return path
    with open(path, "w") as f:
        f.write("hello")
    return path


CORRUPTIONS = ["no first line", "not json", "not utf-8", "not an object", "foreign json",
               "older version", "newer version", "no copies", "copies not a list",
               "missing key", "wrong type", "metadata not strings", "offset not a count",
               "deeply nested", "truncated messages", "foreign file in the spool",
               "a file named like a batch", "a format-1 batch directory"]


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_corrupt_and_foreign_files_are_reported_with_their_path(tmp_path, how):
    d = str(tmp_path)
    path = corrupt(d, how)
    listing = read_spool(d)
    assert [p.path for p in listing.problems] == [path]
    reason = listing.problems[0].reason
    assert reason and "Traceback" not in reason
    assert str(listing.problems[0]) == f"{path}: {reason}"
    # the good copies are still read (a broken batch loses its copies, not others')
    expected = ["good@x"] if "file" not in how and "directory" not in how \
        else ["good@x", "first@x", "second@x"]
    assert [e.envelope["recipient"] for e in listing.entries] == expected


def test_problem_texts(tmp_path):
    texts = {}
    for how in ("no first line", "not json", "not utf-8", "older version", "no copies",
                "wrong type", "truncated messages", "foreign file in the spool",
                "a format-1 batch directory"):
        d = str(tmp_path / how.replace(" ", "-"))
        corrupt(d, how)
        texts[how] = read_spool(d).problems[0].reason
    assert texts == {
        "no first line": f"not a spool batch (no first line of at most "
                         f"{spool.MAX_ENVELOPE} bytes)",
        "not json": "not a spool batch (not JSON: Expecting property name enclosed in "
                    "double quotes: line 1 column 14 (char 13))",
        "not utf-8": "not a spool batch (not UTF-8: invalid start byte at byte 36)",
        "older version": "a spool batch of format 1: this hsl reads format 2",
        "no copies": "\"copies\" must be a non-empty list of envelopes",
        "wrong type": "copy 0: \"hold\" must be a boolean, not \"no\"",
        "truncated messages": "copy 1's message ends at byte 26 of the messages, which "
                              "are 25 bytes",
        "foreign file in the spool": "not a spool entry (foreign file)",
        "a format-1 batch directory": "a spool batch of format 1 (a directory): this hsl "
                                      "reads format 2 (left as it is: deliver it with the "
                                      "hsl that wrote it)",
    }


VALUES = st.none() | st.booleans() | st.integers(-3, 40) | st.text() \
    | st.lists(st.text(max_size=3), max_size=2)


@settings(max_examples=80, deadline=None)
@given(st.one_of(
    st.binary(max_size=300),
    st.tuples(st.dictionaries(st.sampled_from(sorted(spool.ENVELOPE)), VALUES,
                              max_size=len(spool.ENVELOPE)),
              st.binary(max_size=40))
    .map(lambda e: json.dumps({"spool": 2, "copies": [e[0]]}).encode() + b"\n" + e[1])))
def test_any_batch_file_is_an_entry_or_a_problem(data):
    with scratch() as d:
        write_copies(d, [copy(b"")])
        [entry] = only_entries(d)
        with open(entry.path, "wb") as f:
            f.write(data)
        listing = read_spool(d)
        assert len(listing.entries) + len(listing.problems) == 1
        for e in listing.entries:               # within the file: its bytes are there
            assert len(e.read_message()) == e.envelope["size"]


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

def companions(d):
    return sorted(n for n in os.listdir(d) if spool.COMPANION.match(n))


def test_remove(tmp_path):
    d = str(tmp_path)
    write_copies(d, [copy(recipient="a@x")])
    [later] = write_copies(d, [copy(recipient="b@x")])
    a, b = only_entries(d)
    with open(a.stem + spool.STATE_SUFFIX, "w") as f:
        f.write('{"retry": 1}')
    mark_done(a)
    assert [e.id for e in only_entries(d)] == [later]      # done: skipped at once
    assert remove(a) is True
    assert not os.path.exists(a.path) and companions(d) == []
    assert [e.id for e in only_entries(d)] == [later]
    remove(a)                                  # already gone: harmless
    mark_done(b)
    assert remove(b) is True
    assert os.listdir(d) == []
    remove(b)
    assert os.listdir(d) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names fds through /proc")
def test_a_batch_whose_copies_finish_one_at_a_time(tmp_path, monkeypatch):
    """The batch file stays until the last copy's done marker; then it goes, durably
    (the spool directory synced before anything else goes), then every companion."""
    d = str(tmp_path)
    ids = write_copies(d, [copy(recipient=f"r{i}@x") for i in range(3)])
    entries = only_entries(d)
    for e in entries:
        with open(e.stem + spool.STATE_SUFFIX, "w") as f:
            f.write('{"retry": 1}')
    for e, left in ((entries[0], ids[1:]), (entries[2], ids[1:2])):
        mark_done(e)
        assert remove(e) is False
        assert os.path.isfile(e.path) and os.path.exists(e.stem + spool.DONE_SUFFIX)
        assert [x.id for x in only_entries(d)] == left
    assert len(companions(d)) == 5             # three states, two done markers
    assert [x.read_message() for x in only_entries(d)] == [copy().message]
    events = []
    real_unlink, real_fsync = os.unlink, os.fsync

    def unlink(path):
        events.append(("unlink", os.path.basename(path)))
        real_unlink(path)

    def fsync(fd):
        events.append(("fsync", os.path.relpath(os.readlink(f"/proc/self/fd/{fd}"), d)))
        real_fsync(fd)
    monkeypatch.setattr(os, "unlink", unlink)
    monkeypatch.setattr(os, "fsync", fsync)
    mark_done(entries[1])
    assert remove(entries[1]) is True
    monkeypatch.undo()
    batch = os.path.basename(entries[1].path)
    assert events[:2] == [("unlink", batch), ("fsync", ".")]
    assert sorted(events[2:]) == sorted(("unlink", f"{batch}.{i}{suffix}") for i in range(3)
                                        for suffix in (spool.STATE_SUFFIX, spool.DONE_SUFFIX))
    assert os.listdir(d) == []


def test_a_removal_the_disk_refuses_keeps_the_done_markers(tmp_path, monkeypatch):
    d = str(tmp_path)
    write_copies(d, [copy()])
    [a] = only_entries(d)
    mark_done(a)
    with monkeypatch.context() as mp:
        Fail(mp, "fsync", 0, errno.EIO)
        with pytest.raises(SpoolError, match=f"spool directory {d}: cannot remove {a.id}: "
                                             "Input/output error"):
            remove(a)
    assert os.path.exists(a.stem + spool.DONE_SUFFIX)      # a retry knows it is done
    assert remove(a) is True and os.listdir(d) == []


def format_1_batch(d):
    """A batch directory as hsl before format 2 wrote them."""
    path = os.path.join(d, spool.new_batch_id())
    os.makedirs(path)
    for name, data in (("0.eml", b"Subject: old\r\n\r\n"), ("0.json", b"{\"spool\": 1}")):
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)
    hour_ago = time.time() - 7200
    for name in ("0.eml", "0.json", "."):
        os.utime(os.path.join(path, name), (hour_ago, hour_ago))
    return path


def test_a_format_1_batch_is_reported_and_never_removed(tmp_path):
    d = str(tmp_path)
    old = format_1_batch(d)
    [new] = write_copies(d, [copy()])
    listing = read_spool(d)
    assert [e.id for e in listing.entries] == [new]
    assert [p.path for p in listing.problems] == [old]
    assert "format 1" in listing.problems[0].reason
    assert sweep(d, min_age=0) == []
    assert sorted(os.listdir(old)) == ["0.eml", "0.json"]


# ---------------------------------------------------------------------------------------
# A copy by its name (hsl run --entry SPOOL/BATCH-N)

def test_open_copy(tmp_path):
    d = str(tmp_path)
    [one] = write_copies(d, [copy(b"one\r\n", recipient="one@x")])
    several = write_copies(d, [copy(b"a\r\n", recipient="a@x"),
                               copy(b"b\r\n", recipient="b@x")])
    batch = several[0].rsplit("-", 1)[0]
    by_id = os.path.join(d, several[1])
    e = spool.open_copy(by_id)
    assert (e.id, e.position, e.copies, e.path) == (several[1], 1, 2,
                                                    os.path.join(d, batch))
    assert e.envelope["recipient"] == "b@x" and e.read_message() == b"b\r\n"
    assert e == only_entries(d)[2]
    assert spool.copy_batch(by_id) == os.path.join(d, batch)
    # a batch of one copy by its batch id
    lone = spool.open_copy(os.path.join(d, one.rsplit("-", 1)[0]))
    assert lone.id == one and lone.read_message() == b"one\r\n"
    # a finished copy is still a copy (a hook can be run on it)
    mark_done(e)
    assert spool.open_copy(by_id).id == several[1]


def test_open_copy_refuses(tmp_path):
    d = str(tmp_path)
    ids = write_copies(d, [copy(recipient="a@x"), copy(recipient="b@x")])
    batch = os.path.join(d, ids[0].rsplit("-", 1)[0])
    name = os.path.basename(batch)
    with pytest.raises(ValueError) as info:
        spool.open_copy(batch)
    assert str(info.value) == (f"{batch}: the batch has 2 copies: name one, {name}-0 to "
                               f"{name}-1")
    with pytest.raises(ValueError, match=r"the batch has 2 copies \(0 to 1\)"):
        spool.open_copy(batch + "-2")
    # one spelling of a copy's id: not "-01", not another script's digits
    for path in (os.path.join(d, "entry.yaml"), os.path.join(d, "0.json"), batch + "-x",
                 batch + "-", batch + "-01", batch + "-\u00b2", batch + "-\u0661",
                 os.path.join(d, name.replace("2", "\u0662")) + "-0"):
        assert spool.copy_batch(path) is None
        with pytest.raises(ValueError, match="not a spool copy"):
            spool.open_copy(path)
    missing = os.path.join(d, spool.new_batch_id())
    with pytest.raises(ValueError, match="no such spool batch"):
        spool.open_copy(missing + "-0")
    with open(batch, "wb") as f:                    # a broken batch: its problem
        f.write(b"hello")
    with pytest.raises(ValueError, match=f"{batch}: not a spool batch"):
        spool.open_copy(batch + "-0")


def test_the_documentation_example_runs(capsys, monkeypatch, tmp_path):
    """docs/spool.md's Python example does what the page says."""
    import re
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    page = open(os.path.join(ROOT, "docs", "spool.md"), encoding="utf-8").read()
    [example] = re.findall(r"^```python\n(.*?)^```", page, re.S | re.M)
    exec(compile(example, "docs/spool.md", "exec"), {})
    [line] = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"\S+-0 bob@example.org b'Subject: hi\\r\\n\\r\\nHello\\r\\n'", line)
