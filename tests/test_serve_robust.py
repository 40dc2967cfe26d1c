"""`hsl serve` robustness: malformed commands, pipelining, idle timeout, connection cap,
slow and blocking scripts, many concurrent clients."""
from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest

from serve_helpers import Raw, Server

POLICY = r"""
$host = $arguments["host"];
if ($host == "loop.example") { while (true) {} }
if ($host == "sleep.example") { sleep(30); }
Accept(["reason" => "Hello " . $host]);
"""


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve_robust") / "policy.hsl"
    path.write_text(POLICY)
    return str(path)


@pytest.fixture(scope="module")
def server(policy_file):
    with Server(policy_file, "--script-timeout", "1", "--max-steps", "0") as srv:
        yield srv


def session(port):
    c = Raw(port)
    assert c.reply()[0].startswith(b"220 mx.test.example")
    return c


def test_long_line_500_and_session_survives(server):
    with session(server.port) as c:
        assert c.cmd(b"EHLO " + b"a" * 600 + b"\r\n")[0].startswith(b"500 ")
        assert c.cmd(b"NOOP " + b"x" * 5000 + b"\r\n")[0].startswith(b"500 ")
        assert c.cmd(b"EHLO ok.example\r\n")[0] == b"250-Hello ok.example"
        # 512 octets exactly (CRLF included) is still a command
        host = b"h" * (512 - len(b"EHLO \r\n"))
        first = c.cmd(b"EHLO " + host + b"\r\n")[0]
        # accepted; the reply line itself is cut to fit 512 octets with its CRLF
        assert first.startswith(b"250-Hello hhhh") and len(first) == 510


@pytest.mark.parametrize("junk", [
    b"EHLO a\x00b.example\r\n",          # NUL
    b"EHLO a\rb.example\r\n",            # bare CR
    b"EHLO bare-lf.example\n",           # bare LF
    b"EHLO \xff\xfe.example\r\n",        # invalid UTF-8
    b"\x16\x03\x01\x02\x00\x01\x00\r\n",  # binary junk (a TLS hello)
    b"\x1b[31mEHLO x\r\n",               # control characters
    b"\r\n",                             # empty line
])
def test_junk_gets_syntax_error_and_session_survives(server, junk):
    with session(server.port) as c:
        reply = c.cmd(junk)
        assert len(reply) == 1 and reply[0].startswith(b"500 5.5.2 "), reply
        assert c.cmd(b"EHLO ok.example\r\n")[0] == b"250-Hello ok.example"
        assert c.cmd(b"QUIT\r\n") == [b"221 2.0.0 Bye"]


def test_unknown_command(server):
    with session(server.port) as c:
        assert c.cmd(b"FROB x\r\n")[0].startswith(b"500 ")
        assert c.cmd(b"NOOP\r\n") == [b"250 2.0.0 OK"]


def test_too_many_errors_closes(server):
    with session(server.port) as c:
        for _ in range(19):
            assert c.cmd(b"\x00\r\n")[0].startswith(b"500 ")
        assert c.cmd(b"\x00\r\n")[0].startswith(b"421 ")
        assert c.closed()


@pytest.mark.parametrize("verb", [b"HELO", b"EHLO"])
def test_hello_without_argument_501(server, verb):
    with session(server.port) as c:
        assert c.cmd(verb + b"\r\n")[0].startswith(b"501 ")
        assert c.cmd(verb + b"   \r\n")[0].startswith(b"501 ")
        assert c.cmd(b"HELO ok.example\r\n") == [b"250 Hello ok.example"]


def test_pipelined_commands_answered_in_order(server):
    with session(server.port) as c:
        c.send(b"EHLO one.example\r\nNOOP\r\n\x00\r\nHELO two.example\r\n"
               b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRSET\r\n"
               b"EHLO three.example\r\nQUIT\r\n")
        replies = [c.reply() for _ in range(9)]
        assert replies[0][0] == b"250-Hello one.example"
        assert replies[1] == [b"250 2.0.0 OK"]
        assert replies[2][0].startswith(b"500 ")
        assert replies[3] == [b"250 Hello two.example"]
        assert replies[4][0].startswith(b"250")
        assert replies[5][0].startswith(b"250")
        assert replies[6][0].startswith(b"250")
        assert replies[7][0] == b"250-Hello three.example"
        assert replies[8] == [b"221 2.0.0 Bye"]
        assert c.closed()


def test_pipelined_full_transaction(server):
    with session(server.port) as c:
        c.send(b"EHLO p.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
               b"DATA\r\n")
        assert c.reply()[0] == b"250-Hello p.example"
        assert c.reply()[0].startswith(b"250")
        assert c.reply()[0].startswith(b"250")
        assert c.reply()[0].startswith(b"354")
        assert c.cmd(b"Subject: x\r\n\r\nhi\r\n.\r\n")[0].startswith(b"250 2.0.0")


def test_idle_timeout_421(policy_file):
    with Server(policy_file, "--timeout", "0.5") as srv:
        with session(srv.port) as c:
            assert c.cmd(b"EHLO ok.example\r\n")[0] == b"250-Hello ok.example"
            start = time.monotonic()
            assert c.reply()[0].startswith(b"421 4.4.2 ")
            assert c.closed()
            assert 0.3 < time.monotonic() - start < 3


def test_max_connections_421(policy_file):
    with Server(policy_file, "--max-connections", "2") as srv:
        a, b = session(srv.port), session(srv.port)
        with Raw(srv.port) as c:
            assert c.reply()[0].startswith(b"421 4.7.0 ")
            assert c.closed()
        a.close()
        time.sleep(0.2)
        with session(srv.port) as d:               # room again
            assert d.cmd(b"EHLO ok.example\r\n")[0] == b"250-Hello ok.example"
        b.close()


@pytest.mark.parametrize("host", [b"loop.example", b"sleep.example"])
def test_slow_script_does_not_stall_others_and_stops_at_deadline(server, host):
    """A forever loop (stopped by the script's time limit) and a blocking builtin call
    (given up on by the server's deadline) both answer 451 4.3.0 after about the
    per-run deadline (1 s here), while other connections are served at once."""
    slow = session(server.port)
    results = {}

    def run_slow():
        t = time.monotonic()
        results["reply"] = slow.cmd(b"EHLO " + host + b"\r\n")
        results["time"] = time.monotonic() - t

    t = threading.Thread(target=run_slow)
    t.start()
    time.sleep(0.1)
    for i in range(5):                      # others are answered meanwhile
        start = time.monotonic()
        with session(server.port) as c:
            assert c.cmd(b"EHLO fast%d.example\r\n" % i)[0] == b"250-Hello fast%d.example" % i
        assert time.monotonic() - start < 0.5
    t.join(10)
    assert results["reply"] == [b"451 4.3.0 Temporary local problem, try again later"]
    assert 0.8 < results["time"] < 3
    assert slow.cmd(b"EHLO after.example\r\n")[0] == b"250-Hello after.example"
    slow.close()
    line = server.wait_for(r"host=%s decision=error" % host.decode().replace(".", r"\."))
    assert "error=" in line


async def _one_client(port, i):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        banner = await reader.readline()
        assert banner.startswith(b"220 ")
        writer.write(b"EHLO c%d.example\r\n" % i)
        lines = []
        while True:
            line = await reader.readline()
            lines.append(line)
            if line[3:4] != b"-":
                break
        assert lines[0] == b"250-Hello c%d.example\r\n" % i
        writer.write(b"QUIT\r\n")
        assert (await reader.readline()).startswith(b"221")
        return True
    finally:
        writer.close()


def test_200_concurrent_clients(server):
    async def main():
        return await asyncio.gather(*(_one_client(server.port, i) for i in range(200)),
                                    return_exceptions=True)
    results = asyncio.run(main())
    failures = [r for r in results if r is not True]
    assert not failures, failures[:3]


MIXED_POLICY = r"""
$host = $arguments["host"];
$n = memory_inc("mixed:" . $host);
metrics_increment("mixed_total", []);
if ($host =~ #/^slow/) {                 // longer than the inline slice: moves to a worker
    $t = executiontime();
    while (executiontime() - $t < 0.03) { }
}
if ($host =~ #/^dns/)                    // I/O: moves to a worker before the lookup
    $n = $n . " " . dns_query("a.example")["result"][0];
Accept(["reason" => "n=" . $n]);
"""


@pytest.mark.slow
def test_mixed_load_every_effect_happens_once(tmp_path):
    """600 sessions, 200 at a time, of quick, slow and DNS-using runs: every one answered,
    each run counted once (its memory_inc and its metric), however often it was tried on
    the event loop before moving to a worker."""
    script = tmp_path / "mixed.hsl"
    script.write_text(MIXED_POLICY)
    table = tmp_path / "dns.yaml"
    table.write_text("a.example: {a: [192.0.2.7]}\n")
    kinds = ["quick", "slow", "dns"]

    async def one(port, i):
        host = b"%s%d.example" % (kinds[i % 3].encode(), i)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await reader.readline()
            replies = []
            for _ in range(2):               # the second EHLO counts the host again
                writer.write(b"EHLO " + host + b"\r\n")
                first = await reader.readline()
                while (await reader.readline())[3:4] == b"-":
                    pass
                replies.append(first)
            writer.write(b"QUIT\r\n")
            await reader.readline()
            return host, replies
        finally:
            writer.close()

    async def main(port):
        sem = asyncio.Semaphore(200)

        async def limited(i):
            async with sem:
                return await one(port, i)
        return await asyncio.gather(*(limited(i) for i in range(600)), return_exceptions=True)

    with Server(str(script), "--dns-table", str(table), "--metrics", "127.0.0.1:0",
                "--define-metric", "mixed_total:counter", "--max-connections", "0") as srv:
        results = asyncio.run(main(srv.port))
        import urllib.request
        metrics = urllib.request.urlopen(
            f"http://127.0.0.1:{srv.metrics_port}/metrics", timeout=10).read().decode()
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures[:3]
    for host, (first, second) in results:
        suffix = b" 192.0.2.7" if host.startswith(b"dns") else b""
        assert first == b"250-n=1" + suffix + b"\r\n", (host, first)
        assert second == b"250-n=2" + suffix + b"\r\n", (host, second)
    assert "\nmixed_total 1200\n" in metrics
    runs = {m.group(1): int(m.group(2)) for m in
            re.finditer(r'\nhsl_script_runs_total\{thread="(\w+)"\} (\d+)', metrics)}
    assert runs["loop"] + runs["worker"] == 1200 and runs["loop"] > 0
    preempted = int(re.search(r"\nhsl_script_preempted_total (\d+)", metrics).group(1))
    assert preempted > 0
