"""`hsl queue list|show|hold|release|delete|bounce` (hsl/queue/cli.py, issue 17) on real
spools: what they print, what they change on disk, and the errors (an unknown id, a
missing spool, a corrupt state file: exit 2 naming it; a spool another process owns:
exit 1 naming its pid), never a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from hsl.cli import main
from hsl.queue import state
from hsl.queue.spool import Copy, read_spool, write_copies
from hsl.queue.store import Queue

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESSAGE = b"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
T0 = 1_735_787_045.0                     # 2025-01-02T03:04:05Z


@pytest.fixture
def spool_dir(tmp_path):
    d = str(tmp_path / "spool")
    ids = write_copies(d, [
        Copy(MESSAGE, "tx-1", "alice@example.com", "bob@example.org", "mx",
             metadata={"tenant": "acme"}, received=T0),
        Copy(MESSAGE, "tx-1", "", "carol@example.org", "relay", hold=True, received=T0,
             delay=60, jobid="job-7"),
    ])
    return d, ids


def hsl(capsys, *argv):
    """(exit status, stdout, stderr) of `hsl ARGV` run in this process."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_list(spool_dir, capsys):
    d, (a, b) = spool_dir
    status, out, err = hsl(capsys, "queue", "list", "--spool", d)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "STATE", "RETRY", "NEXT", "TRANSPORT", "SENDER",
                                "RECIPIENT"]
    assert lines[1].split() == [a, "queued", "0", "2025-01-02T03:04:05Z", "mx",
                                "alice@example.com", "bob@example.org"]
    assert lines[2].split() == [b, "held", "0", "2025-01-02T03:05:05Z", "relay", "<>",
                                "carol@example.org"]
    assert lines[3] == "2 entries: 1 queued, 1 held"
    assert len(lines) == 4


def test_list_json(spool_dir, capsys):
    d, (a, b) = spool_dir
    status, out, err = hsl(capsys, "queue", "list", "--json", "--spool", d)
    assert (status, err) == (0, "")
    doc = json.loads(out)
    assert doc["spool"] == d and doc["problems"] == []
    first, second = doc["entries"]
    assert first == {
        "id": a, "state": "queued", "transaction": "tx-1", "queue": 0,
        "sender": "alice@example.com", "recipient": "bob@example.org",
        "transportid": "mx", "ts": T0, "size": len(MESSAGE), "jobid": None, "quotas": [],
        "retry": 0, "next": T0, "hold": False, "bounce": False, "delayed": 0,
        "metadata": {"tenant": "acme"}, "last": None,
        "batch": os.path.join(d, a.rsplit("-", 1)[0])}
    assert (second["id"], second["state"], second["next"], second["jobid"]) == \
        (b, "held", T0 + 60, "job-7")


def test_an_empty_spool(tmp_path, capsys):
    d = str(tmp_path / "empty")
    os.mkdir(d)
    assert hsl(capsys, "queue", "list", "--spool", d) == (0, f"no entries in spool {d}\n", "")
    status, out, _ = hsl(capsys, "queue", "list", "--json", "--spool", d)
    assert status == 0 and json.loads(out)["entries"] == []


def test_show(spool_dir, capsys):
    d, (a, b) = spool_dir
    status, out, err = hsl(capsys, "queue", "show", a, "--spool", d)
    assert (status, err) == (0, "")
    fields = dict(line.split(None, 1) for line in out.splitlines())
    batch = os.path.join(d, a.rsplit("-", 1)[0])
    with open(batch, "rb") as f:
        start = len(f.readline())           # the messages follow the first line
    assert fields == {
        "id": a, "state": "queued", "sender": "alice@example.com",
        "recipient": "bob@example.org", "transport": "mx", "transaction": "tx-1",
        "received": "2025-01-02T03:04:05Z", "size": f"{len(MESSAGE)} bytes",
        "retry": "0", "next": "2025-01-02T03:04:05Z", "hold": "no", "bounce": "no",
        "jobid": "-", "metadata": "tenant=acme", "last": "-",
        "batch": f"{batch} (its message: {len(MESSAGE)} bytes at byte {start})"}
    with open(batch, "rb") as f:            # where the message is, as it says
        assert f.read()[start:] == MESSAGE  # (both copies' bytes, stored once)
    status, out, _ = hsl(capsys, "queue", "show", b, "--json", "--spool", d)
    assert status == 0 and json.loads(out)["sender"] == "" and json.loads(out)["hold"]


def test_show_gives_the_queue_state(spool_dir, capsys):
    d, (a, _) = spool_dir
    with Queue.open(d) as q:
        q.update(q.get(a), retry=4, next=T0 + 3600, transportid="backup",
                 last={"time": T0 + 60, "outcome": "451 4.4.1 timed out"})
    status, out, _ = hsl(capsys, "queue", "show", a, "--spool", d)
    fields = dict(line.split(None, 1) for line in out.splitlines())
    assert (fields["retry"], fields["next"], fields["transport"], fields["last"]) == \
        ("4", "2025-01-02T04:04:05Z", "backup", "2025-01-02T03:05:05Z 451 4.4.1 timed out")


def test_hold_release_bounce_delete(spool_dir, capsys):
    d, (a, b) = spool_dir

    def entry(i):
        return json.loads(hsl(capsys, "queue", "show", i, "--json", "--spool", d)[1])

    assert hsl(capsys, "queue", "hold", a, "--spool", d) == (0, f"held {a}\n", "")
    assert entry(a)["state"] == "held"
    assert hsl(capsys, "queue", "release", b, "--spool", d) == (0, f"released {b}\n", "")
    assert entry(b)["state"] == "queued"
    assert hsl(capsys, "queue", "bounce", a, "--spool", d) == \
        (0, f"bounce requested for {a} (hsl queue run bounces it next)\n", "")
    assert entry(a)["bounce"] is True
    with Queue.open(d, lock=False) as q:
        assert [e.id for e in q.due(T0 + 1000)] == [a, b]   # held, but its bounce is due
    status, out, _ = hsl(capsys, "queue", "list", "--spool", d)
    assert out.splitlines()[1].split()[1] == "bounce"
    assert hsl(capsys, "queue", "delete", b, "--spool", d) == (0, f"deleted {b}\n", "")
    assert [e.id for e in read_spool(d).entries] == [a]
    assert os.path.exists(os.path.join(d, b.rsplit("-", 1)[0] + ".1.done"))
    assert [e.id for e in Queue.open(d, lock=False).entries()] == [a]
    assert hsl(capsys, "queue", "delete", a, "--spool", d) == (0, f"deleted {a}\n", "")
    assert [n for n in os.listdir(d) if not n.startswith(".")] == []    # the batch too


@pytest.mark.parametrize("action", ["show", "hold", "release", "delete", "bounce"])
def test_an_unknown_id(spool_dir, capsys, action):
    d, _ = spool_dir
    status, out, err = hsl(capsys, "queue", action, "no-such-id", "--spool", d)
    assert (status, out) == (2, "")
    assert err == f"hsl: error: no queue entry no-such-id in spool directory {d} " \
                  "(hsl queue list shows the ids)\n"
    assert len(read_spool(d).entries) == 2


@pytest.mark.parametrize("action", ["list", "show X", "hold X", "delete X"])
def test_a_missing_spool(tmp_path, capsys, monkeypatch, action):
    monkeypatch.chdir(tmp_path)                          # the default ./hsl-spool
    status, out, err = hsl(capsys, "queue", *action.split())
    assert (status, out) == (2, "")
    assert err.startswith("hsl: error: spool directory ./hsl-spool does not exist")
    assert not os.path.exists(tmp_path / "hsl-spool")    # not created by looking


def test_a_corrupt_state_file(spool_dir, capsys):
    d, (a, b) = spool_dir
    [first, _] = read_spool(d).entries
    path = state.state_path(first)
    with open(path, "w") as f:
        f.write('{"retry": "many"}')
    status, out, err = hsl(capsys, "queue", "list", "--spool", d)
    assert status == 2
    assert [line.split()[0] for line in out.splitlines()[1:-1]] == [b]    # the others
    assert err == f"hsl: error: {path}: \"retry\" must be an integer >= 0, not \"many\"\n"
    status, out, _ = hsl(capsys, "queue", "list", "--json", "--spool", d)
    assert status == 2 and json.loads(out)["problems"][0]["path"] == path
    for action in ("show", "hold", "bounce"):
        status, out, err = hsl(capsys, "queue", action, a, "--spool", d)
        assert (status, out) == (2, "") and err.startswith(f"hsl: error: {path}: ")
    assert hsl(capsys, "queue", "delete", a, "--spool", d) == (0, f"deleted {a}\n", "")
    assert hsl(capsys, "queue", "list", "--spool", d)[0] == 0


def test_no_action_is_a_usage_error(capsys):
    status, out, err = hsl(capsys, "queue")
    assert (status, out) == (2, "")
    assert err == "hsl: error: hsl queue needs an action: list, show, hold, release, " \
                  "delete, bounce, run\n"
    with pytest.raises(SystemExit) as info:
        main(["queue", "frobnicate"])
    assert info.value.code == 2


LOCK_HOLDER = textwrap.dedent("""
    import sys
    from hsl.queue.store import Queue
    q = Queue.open(sys.argv[1])
    print("owner", flush=True)
    sys.stdin.readline()
""")


def test_changes_need_the_lock_and_reads_do_not(spool_dir):
    d, (a, _) = spool_dir
    env = dict(os.environ, PYTHONPATH=ROOT)
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, d], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline() == "owner\n"

        def run(*argv):
            return subprocess.run([sys.executable, "-m", "hsl", "queue", *argv, "--spool", d],
                                  capture_output=True, text=True, env=env, cwd=ROOT,
                                  timeout=60)
        r = run("hold", a)
        assert (r.returncode, r.stdout) == (1, "")
        assert r.stderr == f"hsl: error: spool directory {d} is in use by process " \
                           f"{holder.pid} (a running hsl queue run or hsl serve --queue): " \
                           "one process owns a spool at a time\n"
        r = run("list")
        assert r.returncode == 0 and a in r.stdout and r.stderr == ""
    finally:
        holder.kill()
        holder.wait()
    with Queue.open(d, lock=False) as q:
        assert q.get(a).hold is False


def test_errors_from_the_command_line_have_no_traceback(tmp_path):
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / "README").write_text("not ours")
    r = subprocess.run([sys.executable, "-m", "hsl", "queue", "show", "x", "--spool",
                        str(tmp_path / "nowhere")], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"hsl: error: spool directory {tmp_path / 'nowhere'} ")
    r = subprocess.run([sys.executable, "-m", "hsl", "queue", "list", "--spool",
                        str(tmp_path / "spool")], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr == f"hsl: error: {tmp_path / 'spool' / 'README'}: not a spool entry " \
                       "(foreign file)\n"


def test_control_characters_are_escaped(tmp_path, capsys):
    d = str(tmp_path / "spool")
    [a] = write_copies(d, [Copy(MESSAGE, "tx", "evil\x1b[2J@x", "b@x", "mx")])
    status, out, _ = hsl(capsys, "queue", "list", "--spool", d)
    assert status == 0 and "\x1b" not in out and "evil" in out


def test_the_shell_completion_knows_the_actions():
    from hsl.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    queue = sub.choices["queue"]
    actions = next(a for a in queue._actions if a.dest == "queue_command")
    assert list(actions.choices) == ["list", "show", "hold", "release", "delete", "bounce", "run"]
    for name, p in actions.choices.items():
        spool = next(a for a in p._actions if a.dest == "spool")
        assert spool.default == "./hsl-spool" and spool.metavar == "DIR", name


def test_a_change_the_disk_refuses_exits_1(spool_dir, capsys, monkeypatch):
    d, (a, _) = spool_dir

    def full(*args, **kw):
        raise OSError(28, os.strerror(28))
    monkeypatch.setattr(os, "rename", full)
    status, out, err = hsl(capsys, "queue", "hold", a, "--spool", d)
    assert (status, out) == (1, "")
    assert err.startswith("hsl: error: ") and \
        err.endswith("0.state.json: cannot write the queue state: No space left on device\n")
    monkeypatch.undo()
    with Queue.open(d, lock=False) as q:
        assert q.get(a).hold is False


# ------------------------------------------------------------------ the control channel

def test_actions_reach_a_running_queue_through_its_control_channel(tmp_path):
    # `hsl queue run` owns the spool; hold, release, bounce and delete go to it over
    # SPOOL/.control and it changes its own queue.  Entries are due in an hour, so the
    # runner only waits (no SMTP server is needed).
    import signal
    import time
    d = str(tmp_path / "spool")
    a, b = write_copies(d, [Copy(MESSAGE, "tx", "alice@example.com", f"{r}@example.org",
                                 "mx", delay=3600) for r in ("one", "two")])
    env = dict(os.environ, PYTHONPATH=ROOT)
    runner = subprocess.Popen([sys.executable, "-m", "hsl", "queue", "run", "--spool", d],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, cwd=ROOT)
    try:
        for _ in range(300):
            if os.path.exists(os.path.join(d, ".control")):
                break
            time.sleep(0.05)
        assert os.path.exists(os.path.join(d, ".control")), runner.stderr.read()

        def run(*argv):
            return subprocess.run([sys.executable, "-m", "hsl", "queue", *argv, "--spool", d],
                                  capture_output=True, text=True, env=env, cwd=ROOT,
                                  timeout=60)
        r = run("hold", a)
        assert (r.returncode, r.stdout, r.stderr) == (0, f"held {a}\n", "")
        assert Queue.open(d, lock=False).get(a).hold is True
        r = run("release", a)
        assert (r.returncode, r.stdout) == (0, f"released {a}\n")
        assert Queue.open(d, lock=False).get(a).hold is False
        r = run("delete", b)
        assert (r.returncode, r.stdout) == (0, f"deleted {b}\n")
        assert [e.id for e in Queue.open(d, lock=False).entries()] == [a]
        r = run("hold", "no-such-id")
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr == f"hsl: error: no queue entry no-such-id in spool directory {d} " \
                           "(hsl queue list shows the ids)\n"
    finally:
        runner.send_signal(signal.SIGTERM)
        out, err = runner.communicate(timeout=60)
    assert runner.returncode == 0, err
    assert "Traceback" not in err
    assert not os.path.exists(os.path.join(d, ".control"))     # removed when it stops


def test_the_control_server_refuses_what_it_should(spool_dir):
    from hsl.queue.control import ControlServer, request
    d, (a, b) = spool_dir
    with Queue.open(d) as q, ControlServer(q, busy=lambda entry_id: entry_id == a).start():
        # an entry being attempted can be held, not deleted or bounced
        assert request(d, "hold", a) == {"ok": True}
        for action in ("delete", "bounce"):
            reply = request(d, action, a)
            assert reply == {"ok": False, "usage": False,
                             "error": f"queue entry {a} is being attempted right now: "
                                      "try again when the attempt is over"}
        assert request(d, "run", b) == {"ok": False, "usage": True,
                                        "error": "unknown control action 'run'"}
        assert request(d, "delete", b) == {"ok": True}
        assert request(d, "delete", b)["usage"] is True         # gone now
        assert q.get(a).hold is True
        server = ControlServer(q)
        for line in (b"not json", b"[1, 2]", b'{"action": "hold"}', b"\xff"):
            assert server.answer(line)["ok"] is False


def test_without_an_owner_answering_the_lock_error_stays(spool_dir, capsys):
    # A socket file left behind by a killed owner: nobody answers, so the action takes
    # the lock itself (free now) and works.
    import socket as socket_mod
    d, (a, _) = spool_dir
    stale = socket_mod.socket(socket_mod.AF_UNIX)
    stale.bind(os.path.join(d, ".control"))
    stale.close()
    status, out, err = hsl(capsys, "queue", "hold", a, "--spool", d)
    assert (status, out, err) == (0, f"held {a}\n", "")
