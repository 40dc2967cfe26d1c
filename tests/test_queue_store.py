"""The queue over the spool (hsl/queue/store.py) and `hsl queue` (hsl/queue/cli.py)."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from hsl.queue import spool
from hsl.queue.store import Queue, QueueError, QueueLocked, read_state

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESSAGE = b"From: a@example.com\r\nSubject: t\r\n\r\nbody\r\n"


def commit(spool_dir, *recipients, **kw):
    return spool.write_copies(spool_dir, [spool.Copy(MESSAGE, "tx", "a@example.com", r,
                                                     "mx", **kw) for r in recipients])


def hsl(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-m", "hsl", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=60)


def test_entries_carry_envelope_and_state(tmp_path):
    d = str(tmp_path / "sp")
    ids = commit(d, "b@example.org", "c@example.org", metadata={"k": "v"})
    with Queue.open(d) as q:
        entries = q.entries()
        assert [e.id for e in entries] == ids
        e = entries[0]
        assert (e.recipient, e.transportid, e.retry, e.hold) == ("b@example.org", "mx", 0,
                                                                 False)
        assert e.metadata == {"k": "v"} and e.next == e.envelope["ts"]
        q.update(e, retry=3, next=e.next + 60, transportid="other", metadata={"x": "y"})
        again = q.get(e.id)
        assert (again.retry, again.transportid, again.metadata) == (3, "other", {"x": "y"})
        assert again.next == e.envelope["ts"] + 60
        # the envelope and the message are never rewritten
        assert json.load(open(e.entry.envelope_path))["transportid"] == "mx"
        assert e.message_bytes() == MESSAGE


def test_due_hold_release_and_next_due(tmp_path):
    d = str(tmp_path / "sp")
    first, second = commit(d, "b@example.org", "c@example.org")
    now = [time.time() + 10]
    with Queue.open(d, clock=lambda: now[0]) as q:
        q.update(q.get(second), next=now[0] + 100)
        assert [e.id for e in q.due()] == [first]
        q.hold(first)
        assert q.due() == [] and q.next_due() == now[0] + 100
        q.release(first)
        assert [e.id for e in q.due()] == [first]
        q.request_bounce(second)
        assert {e.id for e in q.due()} == {first, second}


def test_delay_and_hold_of_the_envelope_count(tmp_path):
    d = str(tmp_path / "sp")
    (late,) = commit(d, "b@example.org", delay=300)
    (held,) = commit(d, "c@example.org", hold=True)
    q = Queue.open(d, lock=False)
    assert q.due(time.time() + 10) == []
    assert [e.id for e in q.due(time.time() + 400)] == [late]
    assert q.get(held).hold


def test_delete_removes_message_envelope_and_state(tmp_path):
    d = str(tmp_path / "sp")
    (only,) = commit(d, "b@example.org")
    with Queue.open(d) as q:
        q.hold(only)
        q.delete(only)
        assert q.entries() == []
    assert [n for n in os.listdir(d) if not n.startswith(".")] == []


def test_unknown_id_and_missing_spool_are_clear_errors(tmp_path):
    with pytest.raises(QueueError, match="no such directory"):
        Queue.open(str(tmp_path / "nope"))
    d = str(tmp_path / "sp")
    commit(d, "b@example.org")
    with Queue.open(d) as q, pytest.raises(QueueError, match="no queued entry 'x-0'"):
        q.hold("x-0")


def test_a_corrupt_state_file_is_named_and_skipped(tmp_path):
    d = str(tmp_path / "sp")
    good, bad = commit(d, "b@example.org", "c@example.org")
    q = Queue.open(d, lock=False)
    path = q.get(bad).entry.envelope_path[:-4] + "state"
    with open(path, "w") as f:
        f.write('{"retry": -1}')
    assert [e.id for e in q.entries()] == [good]
    assert [str(p) for p in q.problems] == [f"{path}: retry must be a whole number >= 0"]
    r = hsl("queue", "list", "--spool", d)
    assert r.returncode == 0 and good in r.stdout and bad not in r.stdout
    assert f"skipped {path}: retry must be a whole number >= 0" in r.stderr


def test_recovery_removes_an_original_whose_dsn_is_committed(tmp_path):
    d = str(tmp_path / "sp")
    (original,) = commit(d, "b@example.org")
    (other,) = commit(d, "c@example.org")
    # a crash right after the DSN was committed, before the original was removed
    (dsn,) = spool.write_copies(d, [spool.Copy(b"report", "tx", "", "a@example.com", "mx",
                                               extra={"dsn_of": original})])
    with Queue.open(d) as q:
        assert [e.id for e in q.entries()] == [other, dsn]
        assert q.get(dsn).to_json()["dsn_of"] == original


def test_extra_keys_cannot_replace_format_keys(tmp_path):
    with pytest.raises(ValueError, match="format keys"):
        spool.write_copies(str(tmp_path), [spool.Copy(b"x", "t", "", "r", "mx",
                                                      extra={"size": 1})])


LOCKER = """
import sys, time
from hsl.queue.store import Queue
q = Queue.open(sys.argv[1])
print("locked", flush=True)
time.sleep(30)
"""


def test_one_process_owns_a_spool(tmp_path):
    d = str(tmp_path / "sp")
    commit(d, "b@example.org")
    env = {**os.environ, "PYTHONPATH": ROOT}
    p = subprocess.Popen([sys.executable, "-c", LOCKER, d], stdout=subprocess.PIPE,
                         text=True, env=env)
    try:
        assert p.stdout.readline().strip() == "locked"
        with pytest.raises(QueueLocked, match=rf"another process owns it \(pid {p.pid}\)"):
            Queue.open(d)
        r = hsl("queue", "hold", q_id(d), "--spool", d)
        assert r.returncode == 2 and "another process owns it" in r.stderr
        assert hsl("queue", "list", "--spool", d).returncode == 0   # reading needs no lock
    finally:
        p.kill()
        p.wait()
    with Queue.open(d):         # a dead owner's lock is gone with it
        pass


def q_id(d):
    return Queue(d).entries()[0].id


WRITER = """
import sys
from hsl.queue.store import Queue
q = Queue.open(sys.argv[1])
e = q.entries()[0]
n = 0
print("go", flush=True)
while True:
    n += 1
    q.update(e, retry=n, metadata={"n": str(n) * 200}, last="x" * (n % 5000))
"""


def test_state_survives_a_kill_at_any_moment(tmp_path):
    d = str(tmp_path / "sp")
    (only,) = commit(d, "b@example.org")
    env = {**os.environ, "PYTHONPATH": ROOT}
    rng = random.Random(7)
    last = 0
    for _ in range(8):
        p = subprocess.Popen([sys.executable, "-c", WRITER, d], stdout=subprocess.PIPE,
                             text=True, env=env)
        assert p.stdout.readline().strip() == "go"
        time.sleep(rng.uniform(0.01, 0.15))
        p.send_signal(signal.SIGKILL)
        p.wait()
        entry = Queue(d).get(only)
        state = read_state(entry.entry)        # never torn: parses and validates
        assert state["metadata"] == {"n": str(state["retry"]) * 200}
        assert state["retry"] >= 1
        last = state["retry"]
    assert last >= 1


def test_cli_list_show_hold_release_delete_bounce(tmp_path):
    d = str(tmp_path / "sp")
    a, b = commit(d, "b@example.org", "c@example.org")
    r = hsl("queue", "list", "--json", "--spool", d)
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(x["id"], x["recipient"], x["state"]) for x in rows] == [
        (a, "b@example.org", "queued"), (b, "c@example.org", "queued")]
    assert hsl("queue", "hold", a, "--spool", d).stdout == f"{a}: held\n"
    r = hsl("queue", "list", "--spool", d)
    assert f"{a}  a@example.com -> b@example.org  transport mx" in r.stdout
    assert r.stdout.splitlines()[0].endswith("held") and "2 queued (1 held)" in r.stderr
    shown = json.loads(hsl("queue", "show", a, "--spool", d).stdout)
    assert shown["state"] == "held" and shown["envelope"]["recipient"] == "b@example.org"
    assert hsl("queue", "release", a, "--spool", d).returncode == 0
    assert "will be bounced" in hsl("queue", "bounce", b, "--spool", d).stdout
    rows = [json.loads(x) for x in hsl("queue", "list", "--json", "--spool", d)
            .stdout.splitlines()]
    assert [(x["state"], x.get("bounce")) for x in rows] == [("queued", None),
                                                             ("queued", True)]
    assert hsl("queue", "delete", a, "--spool", d).returncode == 0
    r = hsl("queue", "show", a, "--spool", d)
    assert r.returncode == 2 and r.stderr == (f"hsl: error: spool directory {d}: no "
                                              f"queued entry {a!r}\n")
    r = hsl("queue", "list", "--spool", str(tmp_path / "none"))
    assert r.returncode == 2 and "no such directory" in r.stderr
    assert "Traceback" not in r.stderr
