"""Sessions per second of `hsl serve` next to bare aiosmtpd, same run.

    python bench/serve.py [--duration S] [--rounds N] [--concurrency 1,20,100] [--json]

A session is: connect, read the banner, EHLO, read the reply, QUIT, read 221, close.
"bare" is aiosmtpd's SMTP with a trivial handler (a given hostname, so no DNS per
connection); "hsl" is `hsl serve` running a 30-line HELO policy (POLICY below: regexes,
network lists, memory_* counters, $context, a metrics counter) with its decision logging on
(to a file).  Each server runs in its own process; the load generator is a third process
(asyncio protocols, no SMTP library) keeping CONCURRENCY sessions in flight.  Servers are
measured alternately, `--rounds` times per concurrency, and the best round of each is kept.
EHLO latency is the time from sending EHLO to the last reply line, per session.

Bar (issue 5): hsl >= 0.9x bare at every concurrency, zero failed sessions, hsl's
p99 EHLO latency < 20 ms at concurrency 100.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

CLIENT_PROCESSES = 1
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

POLICY = r"""// bench policy: 30 lines of typical HELO checks
$host = $arguments["host"];
$ip = $connection["remoteip"];
$trusted = ["127.0.0.0/8", "10.0.0.0/8", "192.168.0.0/16", "::1"];
$blocked_hosts = ["localhost", "localhost.localdomain", "example.invalid"];
function is_trusted($ip) {
    global $trusted;
    foreach ($trusted as $net)
        if (inet_includes($ip, $net)) return true;
    return false;
}
if (array_includes(str_lower($host), $blocked_hosts))
    Reject("You are not " . $host, ["reply_codes" => ["code" => 550, "enhanced" => [5, 7, 1]]]);
if (is_ip_literal($host) === false and !pcre_match(#/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/i, $host))
    Defer("Bad HELO name", ["reply_codes" => ["code" => 450, "enhanced" => [4, 7, 1]]]);
$context["helos"] = ($context["helos"] ?? 0) + 1;
if ($context["helos"] > 5)
    Reject("Too many greetings", ["disconnect" => true]);
$count = memory_inc("helo:" . $ip);
metrics_increment("bench_helo_total", ["trusted" => is_trusted($ip) ? "yes" : "no"]);
$exts = [];
foreach ($arguments["extensions"] ?? [] as $e)
    if ($e != "CHUNKING") $exts[] = $e;
if (!is_trusted($ip) and $count > 1000000)
    Defer("Slow down", ["reply_codes" => ["code" => 421]]);
Accept(["reason" => "mx.bench Hello " . $host . " [" . $ip . "]", "extensions" => $exts]);

function is_ip_literal($h) {
    return $h[0] == "[";
}
"""

BARE = r"""
import asyncio, sys
from aiosmtpd.smtp import SMTP
class Handler:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(lambda: SMTP(Handler(), hostname="mx.bench"),
                                   "127.0.0.1", 0, backlog=1024)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""

CLIENT = r"""
import asyncio, json, sys, time
port, conc, duration = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])

class Session(asyncio.Protocol):
    def __init__(self, done):
        self.done, self.buf, self.state, self.t = done, b"", 0, 0.0
    def connection_made(self, tr):
        self.tr = tr
    def data_received(self, data):
        self.buf += data
        while b"\r\n" in self.buf:
            line, self.buf = self.buf.split(b"\r\n", 1)
            if line[3:4] == b"-":
                continue
            code = line[:3]
            if self.state == 0:
                if code != b"220": return self.fail()
                self.state = 1; self.t = time.perf_counter()
                self.tr.write(b"EHLO client.bench.example\r\n")
            elif self.state == 1:
                self.lat = time.perf_counter() - self.t
                if code != b"250": return self.fail()
                self.state = 2; self.tr.write(b"QUIT\r\n")
            elif self.state == 2:
                if code != b"221": return self.fail()
                self.state = 3; self.tr.close()
                if not self.done.done(): self.done.set_result(self.lat)
    def fail(self):
        self.tr.close()
        if not self.done.done(): self.done.set_result(None)
    def connection_lost(self, exc):
        if not self.done.done(): self.done.set_result(None)

async def worker(stop, out):
    loop = asyncio.get_running_loop()
    while time.perf_counter() < stop:
        done = loop.create_future()
        try:
            await loop.create_connection(lambda: Session(done), "127.0.0.1", port)
            lat = await asyncio.wait_for(done, 30)
        except (OSError, asyncio.TimeoutError):
            lat = None
        if lat is None: out["failed"] += 1
        else: out["lat"].append(lat)

async def main():
    out = {"failed": 0, "lat": []}
    start = time.perf_counter()
    await asyncio.gather(*(worker(start + duration, out) for _ in range(conc)))
    elapsed = time.perf_counter() - start
    print(json.dumps({"failed": out["failed"], "elapsed": elapsed, "lat": out["lat"]}))
asyncio.run(main())
"""


def start_bare():
    p = subprocess.Popen([sys.executable, "-c", BARE], stdout=subprocess.PIPE, text=True)
    return p, int(p.stdout.readline())


def start_hsl(tmp):
    script = os.path.join(tmp, "policy.hsl")
    with open(script, "w") as f:
        f.write(POLICY)
    log = open(os.path.join(tmp, "serve.log"), "w+")
    p = subprocess.Popen([sys.executable, "-m", "hsl", "serve", "--helo", script,
                          "--listen", "127.0.0.1:0", "--hostname", "mx.bench",
                          "--define-metric", "bench_helo_total:counter",
                          "--max-connections", "0"],
                         stderr=log, cwd=ROOT)
    deadline = time.time() + 30
    while time.time() < deadline:
        log.seek(0)
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read())
        if m:
            return p, int(m.group(1))
        if p.poll() is not None:
            log.seek(0)
            raise SystemExit("hsl serve did not start:\n" + log.read())
        time.sleep(0.05)
    raise SystemExit("hsl serve did not start in 30 s")


def load(port, conc, duration, processes=None):
    """Run the load with `conc` sessions in flight, spread over a few client processes
    (so that the clients' own event loops add little to the measured latency)."""
    processes = processes or min(conc, CLIENT_PROCESSES)
    shares = [conc // processes + (1 if i < conc % processes else 0) for i in range(processes)]
    procs = [subprocess.Popen([sys.executable, "-c", CLIENT, str(port), str(n), str(duration)],
                              stdout=subprocess.PIPE, text=True) for n in shares]
    lat, failed, elapsed = [], 0, 0.0
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise SystemExit("load generator failed")
        r = json.loads(out)
        lat.extend(r["lat"])
        failed += r["failed"]
        elapsed = max(elapsed, r["elapsed"])
    lat.sort()

    def pct(q):
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0.0
    return {"sessions": len(lat), "failed": failed, "elapsed": elapsed,
            "rate": len(lat) / elapsed, "p50": pct(0.50), "p99": pct(0.99)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    ap.add_argument("--rounds", type=int, default=3, help="measurements per server and level")
    ap.add_argument("--concurrency", default="1,20,100")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        bare, bare_port = start_bare()
        hsl, hsl_port = start_hsl(tmp)
        try:
            load(bare_port, 5, 0.5)       # warm up both
            load(hsl_port, 5, 0.5)
            results = []
            for conc in levels:
                best = {}
                for _ in range(args.rounds):
                    for name, port in (("bare", bare_port), ("hsl", hsl_port)):
                        r = load(port, conc, args.duration)
                        prev = best.get(name)
                        failed = r["failed"] + (prev["failed"] if prev else 0)
                        if prev is None or r["rate"] > prev["rate"]:
                            best[name] = r
                        best[name]["failed"] = failed
                results.append({"concurrency": conc, "bare": best["bare"], "hsl": best["hsl"],
                                "ratio": best["hsl"]["rate"] / best["bare"]["rate"]})
        finally:
            for p in (bare, hsl):
                p.terminate()
                p.wait()
    ok = all(r["ratio"] >= 0.9 and r["hsl"]["failed"] == 0 and r["bare"]["failed"] == 0
             for r in results)
    top = [r for r in results if r["concurrency"] == 100]
    ok = ok and all(r["hsl"]["p99"] < 20.0 for r in top)
    if args.json:
        print(json.dumps({"results": results, "pass": ok}, indent=2))
    else:
        print(f"{'conc':>5} {'bare sess/s':>12} {'hsl sess/s':>11} {'ratio':>6} "
              f"{'bare p50/p99 ms':>16} {'hsl p50/p99 ms':>15} {'failed':>7}")
        for r in results:
            b, h = r["bare"], r["hsl"]
            print(f"{r['concurrency']:>5} {b['rate']:>12.0f} {h['rate']:>11.0f} "
                  f"{r['ratio']:>5.2f}x {b['p50']:>7.2f}/{b['p99']:<8.2f} "
                  f"{h['p50']:>6.2f}/{h['p99']:<8.2f} {b['failed'] + h['failed']:>7}")
        print("bar (>= 0.9x, no failures, hsl p99 < 20 ms at 100):",
              "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
