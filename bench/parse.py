#!/usr/bin/env python3
"""Parser throughput benchmark.

Generates a realistic HSL program (functions, classes, loops, string building,
arrays, regexes, match/switch, try/catch, comments) of at least --lines lines
(default 6000), parses it several times and reports lines per second.

Usage: python bench/parse.py [--lines N] [--repeat R] [--cold]

--cold also times importing the parser and parsing `echo 1;` in a fresh process (a warm
start: the parse tables come from the user's cache directory, Lark is not imported).
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

TEMPLATES = [
    '''// Look up the sender in the {n} list
function check_sender_{n}($sender, $options = []) {{
    $domain = str_lower(explode("@", $sender)[1] ?? "");
    if ($domain == "" or !isset($options["lists"])) {{
        return none;
    }}
    foreach ($options["lists"] as $name => $list) {{
        if (in_array($domain, $list)) {{
            echo "sender $sender found in ${{name}}s ($domain)";
            return ["list" => $name, "domain" => $domain, "score" => {n} * 1.5];
        }}
    }}
    return false;
}}
''',
    '''class Counter{n} {{
    private $count = 0;
    readonly $unit = "msg";
    static $created = 0;
    constructor($start = 0) {{
        $this->count = $start;
        Counter{n}::$created += 1;
    }}
    function add($n = 1) {{ $this->count += $n; return $this; }}
    function total() {{ return $this->count; }}
    private function reset() {{ $this->count = 0; }}
}}
''',
    '''$result = http("https://api.example.com/v{n}/check?id=" . $transaction["id"], [
    "timeout" => 10,
    "headers" => ["Content-Type: application/json", "X-Id: " . uuid()],
    "method" => "POST",
], [], json_encode(["rcpt" => $recipients, "size" => $message->getSize()]));
if ($result === none or !is_array($result)) {{
    Defer("API temporarily unavailable ({n})", ["reason" => $result["error"] ?? "unknown"]);
}}
''',
    '''$headers = $message->getHeaders("Received");
for ($i = 0; $i < length($headers); $i++) {{
    if (pcre_match(#/from\\s+(\\S+)\\s+\\(([^)]*)\\)/i, $headers[$i])) {{
        $hops[] = ["index" => $i, "raw" => $headers[$i][0:80]];
    }} else if ($headers[$i] =~ ''^by localhost'') {{
        continue;
    }}
}}
''',
    '''$score = match ($verdict["class"] ?? "none") {{
    "spam", "bulk" => 10 + {n} % 7,
    "virus" => 100,
    "suspect" => $threshold > 5 ? 5 : $threshold,
    default => 0,
}};
switch ($action) {{
    case "reject":
        Reject("rejected by policy {n}");
        break;
    case "defer":
    case "retry":
        $retries = ($retries ?? 0) + 1;
        break;
    default:
        $log .= "accepted $action\\n";
}}
''',
    '''try {{
    $socket = Socket(Socket::AF($ip), "SOCK_STREAM");
    if (!$socket->connect($ip, 7800 + {n})) throw Exception("connect failed");
    $socket->send("PING\\r\\n");
    while ($line = $socket->recv(8192)) {{
        $buffer .= $line;
        if (str_find($buffer, "\\r\\n") >= 0) break;
    }}
}} catch ($e) {{
    echo "error: " . $e->getMessage() . " at line " . $e->line();
}}
''',
    '''$items = array_map(function ($x) closure ($factor) {{
    return $x["value"] * $factor + {n};
}}, array_filter(function ($x) {{ return $x["enabled"] and $x["value"] > 0; }}, $config["items"]));
[$first, $second = 0, ...$rest] = $items;
$total = array_reduce(function ($carry, $x) {{ return $carry + $x; }}, $items, 0);
$mask = ($flags & 0xff_00) >> 8 | 0b1010 ^ ~$bits << 2;
$cached = cache ["ttl" => 3600, "size" => 1024] dns_query("example{n}.com", ["type" => "mx"]);
''',
    '''/*
 * Rate limiting for tenant {n}
 */
$key = "rate:" . $connection["remoteip"] . ":" . $transaction["senderaddress"]["domain"];
$count = rate($key, 100, 60, ["sync" => false]);
if ($count > 100 and !in_array($connection["remoteip"], $allowlist)) {{
    $reason = "too many messages (%d) from %s" % [$count, $connection["remoteip"]];
    Reject($reason, ["code" => 421, "enhanced" => [4, 7, 0]]);
}}
barrier "counter-{n}" => $state {{
    $state = ($state ?? 0) + 1;
}}
''',
]


def generate(min_lines: int, seed: int = 7) -> str:
    rnd = random.Random(seed)
    head = ('import { dns_query_cached } from "extras://dns";\n'
            'include_once "file:helpers.hsl";\n'
            '$threshold = 5; $log = ""; $hops = []; $factor = 2; $bits = 3; $flags = 0;\n')
    out = [head]
    lines = head.count("\n")
    n = 0
    while lines < min_lines:
        t = TEMPLATES[rnd.randrange(len(TEMPLATES))].format(n=n)
        out.append(t)
        lines += t.count("\n")
        n += 1
    return "".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=6000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cold", action="store_true",
                    help="also measure import + first parse of 'echo 1;' in a fresh process")
    args = ap.parse_args()

    t0 = time.perf_counter()
    from hsl.syntax.parser import parse
    parse("echo 1;")
    t_first = time.perf_counter() - t0

    src = generate(args.lines)
    nlines = src.count("\n")
    best = float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        parse(src, "<bench>")
        best = min(best, time.perf_counter() - t)
    print(f"import + first parse: {t_first * 1000:.1f} ms")
    print(f"{nlines} lines, {len(src)} chars: best {best * 1000:.1f} ms "
          f"= {nlines / best:,.0f} lines/s")
    if args.cold:
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
        code = ("import sys, time; t=time.perf_counter(); from hsl.syntax.parser import parse; "
                "parse('echo 1;'); print(round((time.perf_counter()-t)*1000, 1), "
                "'lark' in sys.modules)")
        ms, lark = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                                  text=True, check=True).stdout.split()
        print(f"fresh process: import hsl.syntax.parser + parse('echo 1;'): {ms} ms"
              + ("  (Lark was imported: the parse tables were not cached)" if lark == "True"
                 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
