"""`hsl serve --project DIR` / `--config FILE`: every server of a Halon project with its
hooks, per-recipient-domain rcptto hooks, data.maxsize and default transport, on its
listeners, through real SMTP clients (the projects are hsl's own, tests/data/projects)."""
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys

import pytest

from hsl.queue.spool import read_spool
from serve_helpers import ROOT, Server

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "projects")
TREE = os.path.join(DATA, "tree")
PACKED = os.path.join(DATA, "packed", "smtpd-app.yaml")
MESSAGE = b"From: alice@example.net\r\nSubject: hi\r\n\r\nhello\r\n"


def test_project_server_hooks_domains_maxsize_transport():
    srv = Server(None, "--project", TREE, "--serverid", "inbound")
    try:
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
            code, text = c.ehlo("client.example.net")
            assert code == 250 and b"SIZE 1048576" in text          # data.maxsize
            assert c.mail("alice@example.net") == (250, b"2.1.0 Sender OK")
            assert c.rcpt("user@example.org") == (250, b"2.1.5 vip recipient")
            assert c.rcpt("user@example.com") == (250, b"2.1.5 ordinary recipient")
            code, text = c.data(MESSAGE)
            assert code == 250, text
            # greylisting: an unknown sender is deferred by the eod hook's module
            c.mail("stranger@example.net")
            c.rcpt("user@example.com")
            code, text = c.data(MESSAGE)
            assert (code, text) == (421, b"4.7.1 try again later (greylisted)")
            # the helo hook (through a file-area include) refuses a name without a dot
            assert c.ehlo("localhost")[0] == 554
        entries = sorted((e.envelope["recipient"], e.envelope["transportid"])
                         for e in read_spool(srv.spool).entries)
        assert entries == [("user@example.com", "mx"), ("user@example.org", "relay")]
        srv.wait_for(r"serverid=inbound")
    finally:
        srv.stop()


def test_packed_config_serves():
    """The packed configuration's hooks (and their files, from its scripting.files) run:
    its eod hook queues to every recipient, its maxsize (4096) is announced."""
    srv = Server(None, "--config", PACKED)
    try:
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
            code, text = c.ehlo("client.example.net")
            assert code == 250 and b"SIZE 4096" in text
            c.mail("someone@example.net")
            c.rcpt("user@example.com")
            assert c.data(MESSAGE) == (250, b"2.0.0 Message accepted")
        [entry] = read_spool(srv.spool).entries
        assert (entry.envelope["sender"], entry.envelope["recipient"],
                entry.envelope["transportid"]) == ("someone@example.net", "user@example.com",
                                                   "mx")
        srv.wait_for(r'echo .*text="iVBORw0KGgoA//4="')
    finally:
        srv.stop()


def _free_ports(n: int) -> list:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _start(args, cwd):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "hsl", "serve", *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cwd, env=env, text=True)


def test_every_server_on_its_own_listeners(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(TREE, tree)
    startup = tree / "src" / "config" / "smtpd.yaml"
    free = iter(_free_ports(3))
    startup.write_text(re.sub(r"port: \d+", lambda m: f"port: {next(free)}",
                              startup.read_text()).replace("address: ::1", "address: 127.0.0.1"))
    proc = _start(["--project", str(tree), "--spool", str(tmp_path / "spool")], str(tmp_path))
    try:
        ports: dict = {}
        while sum(len(v) for v in ports.values()) < 3:
            line = proc.stderr.readline()
            assert line, "hsl serve exited"
            m = re.search(r"listening on 127\.0\.0\.1:(\d+).*serverid=(\w+)", line)
            if m:
                ports.setdefault(m.group(2), []).append(int(m.group(1)))
        assert sorted(ports) == ["inbound", "submission"]
        assert len(ports["inbound"]) == 2       # its two listeners, both on loopback
        with smtplib.SMTP("127.0.0.1", ports["submission"][0], timeout=10) as c:
            c.ehlo("client.example.net")
            c.mail("a@example.net")
            c.rcpt("b@example.com")
            assert c.data(MESSAGE) == (250, b"2.0.0 relayed")   # submission's eod hook
        with smtplib.SMTP("127.0.0.1", ports["inbound"][1], timeout=10) as c:
            assert c.ehlo("localhost")[0] == 554                 # inbound's helo hook
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("args, message", [
    (["--project", TREE, "--helo", "x.hsl"], "do not go with them"),
    (["--project", TREE, "--serverid", "nosuch"], "no server nosuch (servers: inbound, "
                                                  "submission)"),
    (["--project", TREE, "--listen", "127.0.0.1:0"], "--listen with several servers"),
    (["--project", os.path.join(DATA, "nosuch")], "nosuch"),
])
def test_usage_errors(args, message):
    proc = _start(args, ROOT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert message in err and "Traceback" not in err


def test_reload_rereads_the_project_all_or_none(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(TREE, tree)
    hooks = tree / "src" / "hooks"
    srv = Server(None, "--project", str(tree), "--serverid", "inbound")

    def rcpt_replies():
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
            c.ehlo("client.example.net")
            c.mail("alice@example.net")
            return c.rcpt("u@example.org")[1], c.rcpt("u@example.com")[1]

    try:
        assert rcpt_replies() == (b"2.1.5 vip recipient", b"2.1.5 ordinary recipient")
        (hooks / "rcptto" / "vip.hsl").write_text('Accept(["reason" => "vip two"]);\n')
        (hooks / "rcptto" / "default.hsl").write_text('Accept(["reason" => "broken"]\n')
        n = len(srv.lines)
        srv.hup()
        srv.wait_for(r"reload failed", start=n)
        srv.wait_for(r"default\.hsl:\d+:\d+", start=n)
        assert rcpt_replies() == (b"2.1.5 vip recipient", b"2.1.5 ordinary recipient")
        (hooks / "rcptto" / "default.hsl").write_text('Accept(["reason" => "two"]);\n')
        n = len(srv.lines)
        srv.hup()
        srv.wait_for(r"script reloaded", start=n)
        assert rcpt_replies() == (b"2.1.5 vip two", b"2.1.5 two")
    finally:
        srv.stop()
