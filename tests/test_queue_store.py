"""The queue over the spool (hsl/queue/store.py, hsl/queue/state.py, issue 17): the state of
a copy starts from its envelope and survives reopening, `due` follows the injected clock,
a finished copy leaves the spool with every file of it, a crash at any step (SIGKILL in a
child process) leaves each state old or new and each copy queued or finished with exactly
one DSN, recovery finishes what a crash interrupted, and one process owns a spool."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest

from hsl.queue import spool, state
from hsl.queue.spool import Copy, SpoolWriter, write_copies
from hsl.queue.store import (DSN_OF, Queue, QueueError, QueueLocked, StateError,
                             UnknownEntry)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESSAGE = b"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
T0 = 1_700_000_000.0


def copy(recipient="b@example.org", **kw):
    return Copy(kw.pop("message", MESSAGE), "tx-1", kw.pop("sender", "a@example.com"),
                recipient, kw.pop("transportid", "mx"), received=kw.pop("received", T0),
                **kw)


class Clock:
    """A virtual clock: the test moves it."""

    def __init__(self, t=T0):
        self.t = t

    def __call__(self):
        return self.t


def spool_with(tmp_path, *copies):
    d = str(tmp_path / "spool")
    ids = write_copies(d, copies or [copy()])
    return d, ids


def files_of(d):
    return sorted(os.path.relpath(os.path.join(root, f), d)
                  for root, _, names in os.walk(d) for f in names)


# ---------------------------------------------------------------------------------------
# State

def test_an_untouched_copy_has_its_envelopes_state(tmp_path):
    d, [a, b] = spool_with(tmp_path, copy("a@x", metadata={"k": "v"}, delay=30),
                           copy("b@x", hold=True, transportid="relay", jobid="j1"))
    with Queue.open(d, clock=Clock()) as q:
        ea, eb = q.entries()
        assert (ea.id, eb.id) == (a, b)
        assert (ea.retry, ea.next, ea.hold, ea.metadata, ea.state) == \
            (0, T0 + 30, False, {"k": "v"}, "queued")
        assert (eb.hold, eb.state, eb.transportid, eb.jobid) == (True, "held", "relay", "j1")
        assert ea.message_bytes() == MESSAGE and ea.size == len(MESSAGE)
        assert ea.sender == "a@example.com" and ea.recipient == "a@x" and ea.ts == T0
        assert ea.last is None and not ea.bounce and ea.dsn_of is None
    assert not any(f.endswith(".state.json") for f in files_of(d))   # reading writes nothing


def test_updates_are_kept_across_reopening(tmp_path):
    d, [a] = spool_with(tmp_path, copy(metadata={"k": "v"}))
    with Queue.open(d, clock=Clock()) as q:
        e = q.get(a)
        assert q.update(e, retry=3, next=T0 + 600, metadata={"x": "y"}, transportid="relay",
                        last={"time": T0, "outcome": "451 4.7.1 try later"}) is e
        assert (e.retry, e.next, e.metadata, e.transportid) == (3, T0 + 600, {"x": "y"},
                                                                 "relay")
    with Queue.open(d, clock=Clock()) as q:
        e = q.get(a)
        assert (e.retry, e.next, e.metadata, e.transportid, e.last) == \
            (3, T0 + 600, {"x": "y"}, "relay", {"time": T0, "outcome": "451 4.7.1 try later"})
        assert e.envelope["metadata"] == {"k": "v"}                  # the envelope stays
    with open(state.state_path(e.spool_entry)) as f:
        assert json.load(f)["retry"] == 3


@pytest.mark.parametrize("values, message", [
    ({"retries": 1}, 'no queue state field "retries"'),
    ({"retry": -1}, '"retry" must be an integer >= 0'),
    ({"retry": True}, '"retry" must be an integer >= 0'),
    ({"next": float("nan")}, '"next" must be a number'),
    ({"metadata": {"k": 1}}, '"metadata" must be an object of strings'),
    ({"last": {"time": 1}}, '"last" must be an object'),
    ({"hold": "yes"}, '"hold" must be a boolean'),
])
def test_a_wrong_update_is_refused_before_anything_is_written(tmp_path, values, message):
    d, [a] = spool_with(tmp_path)
    with Queue.open(d, clock=Clock()) as q:
        e = q.get(a)
        with pytest.raises(ValueError, match=message):
            q.update(e, **values)
        assert e.retry == 0
    assert not any(f.endswith(".state.json") for f in files_of(d))


def test_a_state_write_the_disk_refuses_keeps_the_old_state(tmp_path, monkeypatch):
    d, [a] = spool_with(tmp_path)
    with Queue.open(d, clock=Clock()) as q:
        e = q.update(q.get(a), retry=1)
        monkeypatch.setattr(os, "rename", _fail(28))       # ENOSPC
        with pytest.raises(StateError, match=r"0\.state\.json: cannot write the queue "
                                             r"state: No space left on device"):
            q.update(e, retry=2)
        monkeypatch.undo()
        assert e.retry == 1
    with Queue.open(d, clock=Clock()) as q:
        assert q.get(a).retry == 1
    assert [f for f in files_of(d) if os.path.basename(f).startswith(".")] == [".lock"]


def _fail(code):
    def fail(*a, **k):
        raise OSError(code, os.strerror(code))
    return fail


# ---------------------------------------------------------------------------------------
# Due entries and the clock

def test_due_follows_the_injected_clock(tmp_path):
    d, [a, b, c, h] = spool_with(tmp_path, copy("a@x"), copy("b@x", delay=60),
                                 copy("c@x"), copy("h@x", hold=True))
    clock = Clock()
    with Queue.open(d, clock=clock) as q:
        assert [e.id for e in q.due()] == [a, c]
        q.update(q.get(a), next=T0 + 120)
        assert [e.id for e in q.due()] == [c]
        clock.t = T0 + 60
        assert [e.id for e in q.due()] == [c, b]           # c is due since T0, b since +60
        assert [e.id for e in q.due(T0 + 1000)] == [c, b, a]
        q.request_bounce(h)                                # a bounce is due, held or not
        assert h in [e.id for e in q.due()]
        q.release(h)
        assert q.get(h).state == "queued"


def test_hold_release_and_their_state(tmp_path):
    d, [a] = spool_with(tmp_path)
    with Queue.open(d, clock=Clock()) as q:
        assert q.hold(a).state == "held" and q.due() == []
        assert q.release(a).state == "queued" and [e.id for e in q.due()] == [a]
    with Queue.open(d, clock=Clock(), lock=False) as q:
        assert q.get(a).hold is False


def test_a_state_that_undoes_the_envelope_is_kept(tmp_path):
    """Released from the envelope's hold, metadata emptied: read back as set, not as the
    envelope says."""
    d, [a] = spool_with(tmp_path, copy(hold=True, metadata={"k": "v"}))
    with Queue.open(d, clock=Clock()) as q:
        q.update(q.release(a), metadata={})
    with Queue.open(d, clock=Clock()) as q:
        e = q.get(a)
        assert (e.hold, e.metadata, e.state) == (False, {}, "queued")


def test_new_batches_are_found_by_refresh(tmp_path):
    d, [a] = spool_with(tmp_path)
    with Queue.open(d, clock=Clock()) as q:
        [b] = write_copies(d, [copy("later@x")])
        assert [e.id for e in q.entries()] == [a]
        assert [e.id for e in q.refresh()] == [b]
        assert q.refresh() == []
        assert [e.id for e in q.entries()] == [a, b]


def test_unknown_ids(tmp_path):
    d, _ = spool_with(tmp_path)
    with Queue.open(d, clock=Clock()) as q:
        for bad in ("nope", "", "../x", "20250102T030405.123456789Z-9f3a61c2d4e5b708-0"):
            with pytest.raises(UnknownEntry, match=f"no queue entry {bad} in spool "
                                                   f"directory {d}"):
                q.get(bad)
            with pytest.raises(UnknownEntry):
                q.hold(bad)


def test_a_missing_spool(tmp_path):
    d = str(tmp_path / "none")
    with pytest.raises(QueueError, match=f"spool directory {d} does not exist"):
        Queue.open(d, clock=Clock())
    with pytest.raises(QueueError, match=f"spool directory {d} does not exist"):
        Queue.open(d, clock=Clock(), lock=False)
    with Queue.open(d, clock=Clock(), create=True) as q:
        assert q.entries() == [] and os.path.isdir(d)
    (tmp_path / "file").write_text("x")
    with pytest.raises(QueueError, match="is not a directory"):
        Queue.open(str(tmp_path / "file"), clock=Clock())


# ---------------------------------------------------------------------------------------
# Finishing: done markers, DSNs, recovery

def test_a_finished_copy_leaves_with_all_its_files(tmp_path):
    d, [a, b] = spool_with(tmp_path, copy("a@x"), copy("b@x"))   # one batch, one message
    batch = b.rsplit("-", 1)[0]
    with Queue.open(d, clock=Clock()) as q:
        q.update(q.get(a), retry=2)
        q.update(q.get(b), retry=1)
        assert q.mark_done(q.get(a), "delivered: 250 ok") is None
        assert [e.id for e in q.entries()] == [b]
        with pytest.raises(UnknownEntry):
            q.get(a)
        assert q.get(b).message_bytes() == MESSAGE                # the batch stays
        assert files_of(d) == [".lock", batch, f"{batch}.0.done", f"{batch}.0.state.json",
                               f"{batch}.1.state.json"]
    # a reader (hsl queue list) does not show a as "done" while b keeps their batch
    with Queue.open(d, clock=Clock(), lock=False) as q:
        assert [(e.id, e.state) for e in q.entries()] == [(b, "queued")]
    with Queue.open(d, clock=Clock()) as q:                # a's marker keeps it finished
        assert [e.id for e in q.entries()] == [b] and q.get(b).retry == 1
        q.delete(b)                                        # the last copy: all of it goes
        assert files_of(d) == [".lock"] and q.entries() == []


def test_a_group_file_stays_until_every_transaction_in_it_is_finished(tmp_path):
    """hsl serve's SpoolWriter puts the transactions it commits together in one file: the
    queue finishes them one by one and removes the file with the last copy of any."""
    d = str(tmp_path / "spool")
    writer = SpoolWriter(d)
    with writer._cond:                          # (held: the two form one group)
        first = writer.submit([copy("a@x"), copy("b@x")])
        second = writer.submit([replace(copy("c@x"), transaction="tx-2")])
    [a, b], [c] = first.result(10), second.result(10)
    writer.close()
    batch = a.rsplit("-", 1)[0]
    assert c == f"{batch}-2"
    with Queue.open(d, clock=Clock()) as q:
        q.mark_done(q.get(a), "delivered")
        q.mark_done(q.get(b), "delivered")      # tx-1 is finished; tx-2 keeps the file
        assert files_of(d) == [".lock", batch, f"{batch}.0.done", f"{batch}.1.done"]
        assert [e.id for e in q.entries()] == [c]
        assert q.get(c).message_bytes() == MESSAGE
    with Queue.open(d, clock=Clock()) as q:
        assert [e.id for e in q.entries()] == [c]
        q.mark_done(q.get(c), "delivered")
        assert files_of(d) == [".lock"]


def test_a_finished_entry_cannot_be_changed(tmp_path):
    d, [a] = spool_with(tmp_path)
    with Queue.open(d, clock=Clock()) as q:
        e = q.get(a)
        q.mark_done(e, "delivered")
        with pytest.raises(QueueError, match="is finished"):
            q.update(e, retry=1)
        with pytest.raises(QueueError, match="already finished"):
            q.mark_done(e, "again")


def test_a_bounce_queues_its_dsn_with_dsn_of_then_finishes(tmp_path):
    d, [a] = spool_with(tmp_path)
    with Queue.open(d, clock=Clock()) as q:
        dsn = Copy(b"Subject: failed\r\n\r\nreport\r\n", "dsn", "", "a@example.com", "mx")
        dsn_id = q.mark_done(q.get(a), "bounced: 550 5.1.1", dsn=dsn)
        assert [e.id for e in q.entries()] == []           # not seen before refresh
        [d_entry] = q.refresh()
        assert d_entry.id == dsn_id and d_entry.dsn_of == a and d_entry.sender == ""
        assert d_entry.message_bytes() == b"Subject: failed\r\n\r\nreport\r\n"
    assert [e.id for e in spool.read_spool(d).entries] == [dsn_id]


def test_recovery_removes_a_copy_with_its_done_marker(tmp_path):
    """A crash after the marker, before the removal."""
    d, [a, b] = spool_with(tmp_path, copy("a@x"), copy("b@x"))
    with Queue.open(d, clock=Clock()) as q:
        e = q.get(a)
    state.write_done(state.done_path(e.spool_entry), T0, "delivered")
    with Queue.open(d, clock=Clock(), lock=False) as q:        # a reader skips it
        assert [(x.id, x.state) for x in q.entries()] == [(b, "queued")]
        assert [x.id for x in q.due()] == [b]
        with pytest.raises(UnknownEntry):
            q.get(a)
    with Queue.open(d, clock=Clock()) as q:
        assert [x.id for x in q.entries()] == [b]
    assert [x.id for x in spool.read_spool(d).entries] == [b]
    assert os.path.exists(state.done_path(e.spool_entry))     # until b finishes too


def test_recovery_removes_a_batch_whose_last_copy_was_marked(tmp_path):
    """A crash between the last copy's done marker and the unlink of its batch."""
    d, [a, b] = spool_with(tmp_path, copy("a@x"), copy("b@x"))
    [c] = write_copies(d, [copy("c@x")])
    with Queue.open(d, clock=Clock()) as q:
        q.update(q.get(a), retry=1)
        ea, eb = q.get(a).spool_entry, q.get(b).spool_entry
    for e in (ea, eb):
        state.write_done(state.done_path(e), T0, "delivered")
    with Queue.open(d, clock=Clock(), lock=False) as q:        # a reader changes nothing
        assert [(x.id, x.state) for x in q.entries()] == [(c, "queued")]
    assert os.path.exists(ea.path) and os.path.exists(state.state_path(ea))
    with Queue.open(d, clock=Clock()) as q:
        assert [x.id for x in q.entries()] == [c] and q.problems == []
    assert files_of(d) == [".lock", c.rsplit("-", 1)[0]]      # the batch, its companions


def test_a_format_1_batch_is_a_problem_the_queue_leaves_alone(tmp_path):
    d, [a] = spool_with(tmp_path)
    old = os.path.join(d, spool.new_batch_id())
    os.mkdir(old)
    for name in ("0.eml", "0.json", "0.done"):
        with open(os.path.join(old, name), "w") as f:
            f.write("{}")
    for lock in (False, True):
        with Queue.open(d, clock=Clock(), lock=lock) as q:
            assert [p.path for p in q.problems] == [old]
            assert "format 1" in q.problems[0].reason
            assert [e.id for e in q.entries()] == [a]
            q.refresh()
    assert sorted(os.listdir(old)) == ["0.done", "0.eml", "0.json"]


def test_recovery_finishes_a_copy_whose_dsn_was_queued(tmp_path):
    """A crash after the DSN's commit, before the original's marker: not bounced twice."""
    d, [a, b] = spool_with(tmp_path, copy("a@x"), copy("b@x"))
    [dsn_id] = write_copies(d, [Copy(b"report", "dsn", "", "a@example.com", "mx",
                                     extra={DSN_OF: a})])
    with Queue.open(d, clock=Clock(), lock=False) as q:
        assert [(x.id, x.state) for x in q.entries()] == \
            [(a, "done"), (b, "queued"), (dsn_id, "queued")]
    with Queue.open(d, clock=Clock()) as q:
        assert [x.id for x in q.entries()] == [b, dsn_id]
        assert q.get(dsn_id).dsn_of == a
    assert [x.id for x in spool.read_spool(d).entries] == [b, dsn_id]


def test_a_marker_the_disk_refuses_after_the_dsn_still_finishes_the_copy(tmp_path,
                                                                          monkeypatch):
    d, [a] = spool_with(tmp_path)
    with Queue.open(d, clock=Clock()) as q:
        e = q.get(a)
        monkeypatch.setattr(state, "_write_atomically", _fail(5))
        import hsl.queue.store as store
        monkeypatch.setattr(store, "write_done", lambda *a: state._write_atomically(*a))
        with pytest.raises(OSError):
            q.mark_done(e, "bounced", dsn=Copy(b"r", "dsn", "", "a@example.com", "mx"))
        assert e.done and q.due() == []                    # never attempted again
    monkeypatch.undo()
    with Queue.open(d, clock=Clock()) as q:
        assert [x.dsn_of for x in q.entries()] == [a]      # only the DSN is left


def test_delayed_dsns_are_counted_once(tmp_path):
    d, [a] = spool_with(tmp_path)
    with Queue.open(d, clock=Clock()) as q:
        first = q.notify_delayed(q.get(a), Copy(b"delayed", "dsn", "", "a@x", "mx"))
        assert q.get(a).delayed == 1
        [dsn] = q.refresh()
        assert dsn.id == first and dsn.envelope["dsn_delayed_of"] == a
        assert dsn.envelope["dsn_notice"] == 1 and dsn.dsn_of is None
    # a crash after the second DSN's commit, before its count
    write_copies(d, [Copy(b"delayed", "dsn", "", "a@x", "mx",
                          extra={"dsn_delayed_of": a, "dsn_notice": 2})])
    with Queue.open(d, clock=Clock()) as q:
        assert q.get(a).delayed == 2 and q.get(a).state == "queued"


def test_the_owner_removes_temporary_state_files_and_readers_skip_them(tmp_path):
    d, [a] = spool_with(tmp_path)
    with Queue.open(d, clock=Clock()) as q:
        path = state.state_path(q.get(a).spool_entry)
    temp = state.temporary_name(path)
    with open(temp, "w") as f:
        f.write('{"retry": 9')                             # a write a crash cut short
    with Queue.open(d, clock=Clock(), lock=False) as q:
        assert q.problems == [] and q.get(a).retry == 0
    assert spool.read_spool(d).problems == []
    with Queue.open(d, clock=Clock()) as q:
        assert q.get(a).retry == 0
    assert not os.path.exists(temp)


@pytest.mark.parametrize("content, reason", [
    (b"{\"retry\": ", "not a queue state (not JSON"),
    (b"[1]", "not a queue state (not a JSON object)"),
    (b"{\"retry\": \"3\"}", '"retry" must be an integer >= 0'),
    (b"{\"colour\": 1}", 'no queue state field "colour"'),
    (b"\xff", "not a queue state (not UTF-8"),
])
def test_a_corrupt_state_file_is_a_problem_naming_it(tmp_path, content, reason):
    d, [a, b] = spool_with(tmp_path, copy("a@x"), copy("b@x"))
    with Queue.open(d, clock=Clock()) as q:
        path = state.state_path(q.get(a).spool_entry)
    with open(path, "wb") as f:
        f.write(content)
    for lock in (False, True):
        with Queue.open(d, clock=Clock(), lock=lock) as q:
            assert [(p.path, p.reason[:len(reason)]) for p in q.problems] == [(path, reason)]
            assert [e.id for e in q.entries()] == [b] and [e.id for e in q.due()] == [b]
            with pytest.raises(StateError) as info:
                q.get(a)
            assert str(info.value).startswith(f"{path}: {reason}")
    with Queue.open(d, clock=Clock()) as q:                # the way out: delete it
        q.delete(a)
    for lock in (False, True):      # its state stays beside the batch, no problem now
        with Queue.open(d, clock=Clock(), lock=lock) as q:
            assert q.problems == [] and [e.id for e in q.entries()] == [b]
            with pytest.raises(UnknownEntry):
                q.get(a)
    assert os.path.exists(path)
    with Queue.open(d, clock=Clock()) as q:                # gone with its batch
        q.delete(b)
    assert not os.path.exists(path) and files_of(d) == [".lock"]


def test_a_reader_cannot_change_anything(tmp_path):
    d, [a] = spool_with(tmp_path)
    with Queue.open(d, clock=Clock(), lock=False) as q:
        assert not q.owner
        for act in (q.hold, q.release, q.delete, q.request_bounce):
            with pytest.raises(QueueError, match="opened read-only"):
                act(a)
    assert files_of(d) == [a.rsplit("-", 1)[0]]


def test_spool_remove_and_sweep_know_the_queue_files(tmp_path):
    d, [a, b] = spool_with(tmp_path, copy("a@x"), copy("b@x"))
    ea, eb = spool.read_spool(d).entries
    for e in (ea, eb):
        state.write_state(state.state_path(e), state.State(retry=1))
    state.write_done(state.done_path(ea), T0, "delivered")
    assert spool.read_spool(d).problems == []
    assert [e.id for e in spool.read_spool(d).entries] == [b]
    assert spool.remove(ea) is False                       # b is not finished
    assert spool.sweep(d, min_age=0) == []                 # nothing is left over yet
    state.write_done(state.done_path(eb), T0, "delivered")
    os.unlink(eb.path)                                     # a remove cut short
    removed = spool.sweep(d)
    assert sorted(removed) == sorted([state.state_path(ea), state.done_path(ea),
                                      state.state_path(eb), state.done_path(eb)])
    assert os.listdir(d) == []


def test_the_owner_sweeps_what_crashed_writers_and_removals_left(tmp_path):
    d, [a] = spool_with(tmp_path)
    old = os.path.join(d, spool.TEMP_PREFIX + spool.new_batch_id())    # a writer died
    young = os.path.join(d, spool.TEMP_PREFIX + spool.new_batch_id())  # one writing now
    gone = spool.new_batch_id()
    orphans = [os.path.join(d, f"{gone}.0.done"), os.path.join(d, f"{gone}.0.state.json")]
    for path in [old, young, *orphans]:
        with open(path, "wb") as f:
            f.write(b"x")
    os.utime(old, (T0, T0))
    with Queue.open(d, clock=Clock(), lock=False):
        assert all(os.path.exists(p) for p in [old, young, *orphans])  # a reader: nothing
    with Queue.open(d, clock=Clock()) as q:
        assert [e.id for e in q.entries()] == [a]
    assert not any(os.path.exists(p) for p in [old, *orphans])
    assert os.path.exists(young)


def test_extra_envelope_keys(tmp_path):
    d = str(tmp_path)
    [a] = write_copies(d, [copy(extra={"dsn_of": "x-0", "n": [1]})])
    [e] = spool.read_spool(d).entries
    assert e.envelope["dsn_of"] == "x-0" and e.envelope["n"] == [1]
    with pytest.raises(ValueError, match='extra key "sender" is an envelope field'):
        write_copies(d, [copy(extra={"sender": "x"})])
    with pytest.raises(ValueError, match="cannot be written as JSON"):
        write_copies(d, [copy(extra={"x": object()})])
    assert [x.id for x in spool.read_spool(d).entries] == [a]


# ---------------------------------------------------------------------------------------
# One owner

HOLDER = textwrap.dedent("""
    import sys, time
    from hsl.queue.store import Queue, QueueLocked
    try:
        q = Queue.open(sys.argv[1], clock=time.time)
    except QueueLocked as e:
        print("locked", e.pid, e, flush=True)
        sys.exit(3)
    print("owner", flush=True)
    sys.stdin.readline()
    q.close()
    print("closed", flush=True)
    sys.stdin.readline()
""")


def _holder(d):
    return subprocess.Popen([sys.executable, "-c", HOLDER, d], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=ROOT))


def test_one_process_owns_a_spool(tmp_path):
    d, [a] = spool_with(tmp_path)
    child = _holder(d)
    try:
        assert child.stdout.readline() == "owner\n"
        with pytest.raises(QueueLocked) as info:
            Queue.open(d, clock=Clock())
        assert info.value.pid == child.pid
        assert str(info.value).startswith(f"spool directory {d} is in use by process "
                                          f"{child.pid}")
        with Queue.open(d, clock=Clock(), lock=False) as reader:   # readers need no lock
            assert [e.id for e in reader.entries()] == [a]
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline() == "closed\n"
        with Queue.open(d, clock=Clock()) as q:            # free again, while it lives
            assert q.owner
            other = _holder(d)
            out, _ = other.communicate(timeout=60)
            assert other.returncode == 3
            assert out.startswith(f"locked {os.getpid()} spool directory {d} is in use")
    finally:
        child.kill()
        child.wait()


def test_a_killed_owner_frees_the_spool(tmp_path):
    d, _ = spool_with(tmp_path)
    child = _holder(d)
    assert child.stdout.readline() == "owner\n"
    child.send_signal(signal.SIGKILL)
    child.wait()
    with Queue.open(d, clock=Clock()) as q:
        assert q.owner


def test_two_queues_in_one_process_exclude_each_other_too(tmp_path):
    d, _ = spool_with(tmp_path)
    with Queue.open(d, clock=Clock()):
        with pytest.raises(QueueLocked):
            Queue.open(d, clock=Clock())


# ---------------------------------------------------------------------------------------
# Crash safety: the child SIGKILLs itself at its k-th file system call

CRASHER = textwrap.dedent("""
    import os, signal, sys, time
    from hsl.queue import spool
    from hsl.queue.store import Queue
    d, k = sys.argv[1], int(sys.argv[2])
    q = Queue.open(d, clock=time.time)
    calls = [0]
    def counted(real):
        def call(*a, **kw):
            calls[0] += 1
            if calls[0] == k:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*a, **kw)
        return call
    for name in ("open", "write", "writev", "fsync", "rename", "unlink", "mkdir"):
        setattr(os, name, counted(getattr(os, name)))
    for e in [e for e in q.entries() if e.dsn_of is None]:
        for i in range(1, 4):
            # the pad makes each state big; retry and pad must agree in any state read
            q.update(e, retry=e.retry + 1, metadata={"pad": str(e.retry + 1) * 5000})
            print("updated", e.id, e.retry, flush=True)
        dsn = spool.Copy(b"report for " + e.id.encode(), "dsn", "", "a@x", "mx")
        q.mark_done(e, "bounced", dsn=dsn)
        print("bounced", e.id, flush=True)
    print("end", calls[0], flush=True)
""")


def _crash_run(d, k):
    r = subprocess.run([sys.executable, "-c", CRASHER, d, str(k)], capture_output=True,
                       text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                       timeout=60)
    return r


def _check_spool(d, originals, acknowledged):
    """Every original is queued (its state whole, at least what was acknowledged) or
    bounced with exactly one DSN, never both, never neither."""
    with Queue.open(d, clock=Clock()) as q:
        assert q.problems == []
        live = {e.id: e for e in q.entries()}
        dsns = {}
        for e in live.values():
            if e.dsn_of is not None:
                assert e.message_bytes() == b"report for " + e.dsn_of.encode()
                dsns.setdefault(e.dsn_of, []).append(e.id)
        for o in originals:
            assert (o in live) != (o in dsns), o
            assert len(dsns.get(o, [])) <= 1, o
            if o in live:
                e = live[o]
                pad = e.metadata.get("pad", "")
                assert pad == ("" if e.retry == 0 else str(e.retry) * 5000)   # not torn
                assert e.retry >= acknowledged.get(o, 0)
        return {o for o in originals if o in dsns}


def test_a_kill_at_any_step_leaves_old_or_new_never_torn(tmp_path):
    rng = random.Random(17)
    # how many file system calls a whole run makes
    d, _ = spool_with(tmp_path / "count", copy("a@x"), copy("b@x"))
    full = _crash_run(d, 10 ** 9)
    assert full.returncode == 0, full.stderr
    steps = int(full.stdout.splitlines()[-1].split()[1])
    assert steps > 40                                      # the calls are counted
    points = [1, 2, steps] + sorted(rng.sample(range(3, steps), 21))
    for n, k in enumerate(points):
        d, originals = spool_with(tmp_path / f"run{n}", copy("a@x"), copy("b@x"))
        r = _crash_run(d, k)
        assert r.returncode in (0, -signal.SIGKILL), r.stderr
        acknowledged, bounced = {}, set()
        for line in r.stdout.splitlines():
            word, *rest = line.split()
            if word == "updated":
                acknowledged[rest[0]] = int(rest[1])
            elif word == "bounced":
                bounced.add(rest[0])
        finished = _check_spool(d, originals, acknowledged)
        assert bounced <= finished
        # and the next owner goes on from there, to the end
        r = _crash_run(d, 10 ** 9)
        assert r.returncode == 0, r.stderr
        assert _check_spool(d, originals, {}) == set(originals)


def test_an_entry_of_another_queue_is_refused(tmp_path):
    d, [a] = spool_with(tmp_path)
    with Queue.open(d, clock=Clock()) as q:
        stale = q.get(a)
    with Queue.open(d, clock=Clock()) as q:
        for act in (lambda: q.update(stale, retry=1), lambda: q.mark_done(stale, "x")):
            with pytest.raises(QueueError, match="not one this queue read"):
                act()
        assert q.get(a).retry == 0
