#!/usr/bin/env python3
"""`hsl lsp` benchmark through a real LSP client over stdio (pygls's client launching
`python -m hsl lsp`), on a Halon project with a 1,000-line eod hook that includes a file
of the file area:

* diagnostics: time from the last didChange to its publishDiagnostics, minus the
  debounce (hsl.lsp.diagnostics.DEBOUNCE), over --rounds edits (the bar: 100 ms);
* completion: time of a completion request (names, `$`, `$transaction["`, `$x->`) on the
  open file while the user types (the bar: 50 ms);
* memory: the server's RSS over --edits edits, each with a completion request and every
  tenth waited for its diagnostics (flat: the growth from the 100th edit on is reported).

    python bench/lsp.py [--rounds N] [--edits N] [--lines N]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lsprotocol import types as T  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402

from hsl.lsp.diagnostics import DEBOUNCE  # noqa: E402

LIB = '''\
// Whether a sender is on a list.
function listed($sender, $list = []) {
    return in_array($sender, $list);
}
'''


def hook_text(lines: int) -> str:
    out = ['include "lib.hsl";', '$blocked = ["spam@example.com"];']     # (no errors)
    i = 0
    while True:
        block = f'''function rule_{i}($sender, $size, $blocked) {{
    $score = 0;
    if (listed($sender, $blocked)) {{
        $score += 10;
    }}
    foreach (["a", "b", "c"] as $k => $v) {{
        if (str_find($sender, $v) >= 0) $score += {i % 7};
    }}
    $text = str_lower($sender) . ":" . round($size);
    return ["score" => $score, "text" => $text];
}}
$r{i} = rule_{i}($transaction["sender"], 100, $blocked);
if ($r{i}["score"] > 50) Reject("rule {i}");
'''.splitlines()
        if len(out) + len(block) > lines - 1:
            break
        out += block
        i += 1
    out += [f'echo "line {n}";' for n in range(len(out), lines - 1)] + ["Accept();"]
    return "\n".join(out) + "\n"


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(values: list, p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


async def main(args) -> int:
    folder = tempfile.mkdtemp(prefix="hsl-bench-lsp-")
    os.makedirs(os.path.join(folder, "src", "files"))
    os.makedirs(os.path.join(folder, "src", "hooks", "eod"))
    with open(os.path.join(folder, "src", "files", "lib.hsl"), "w") as f:
        f.write(LIB)
    hook = os.path.join(folder, "src", "hooks", "eod", "inbound.hsl")
    text = hook_text(args.lines)
    with open(hook, "w") as f:
        f.write(text)
    uri = from_fs_path(hook)

    client = LanguageClient("hsl-bench", "1")
    published: dict = {}
    arrived = asyncio.Event()

    @client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: T.PublishDiagnosticsParams):
        published[params.version] = (time.perf_counter(), params.diagnostics)
        arrived.set()

    async def diagnostics_of(version: int, timeout: float = 60.0):
        end = time.perf_counter() + timeout
        while version not in published:
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), max(end - time.perf_counter(), 0.01))
        return published[version]

    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    await client.start_io(sys.executable, "-m", "hsl", "lsp", env=env)
    pid = client._server.pid
    await client.initialize_async(T.InitializeParams(
        capabilities=T.ClientCapabilities(), root_uri=from_fs_path(folder),
        process_id=os.getpid()))
    client.initialized(T.InitializedParams())
    client.text_document_did_open(T.DidOpenTextDocumentParams(
        T.TextDocumentItem(uri, "hsl", 1, text)))
    _, first = await diagnostics_of(1)
    print(f"{args.lines}-line hook opened: {len(first)} diagnostics")

    version = 1
    lines = text.split("\n")
    middle = len(lines) // 2

    def edit(k: int) -> str:
        changed = list(lines)
        changed[middle] = f"$edit_{k} = str_lower(\"{k}\");"
        return "\n".join(changed)

    def change(new_text: str) -> float:
        nonlocal version
        version += 1
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(version=version, uri=uri),
            [T.TextDocumentContentChangeWholeDocument(text=new_text)]))
        return time.perf_counter()

    # -- diagnostics after the debounce
    latencies = []
    for k in range(args.rounds):
        sent = change(edit(k))
        got, _ = await diagnostics_of(version)
        latencies.append((got - sent - DEBOUNCE) * 1000)
    print(f"diagnostics after the debounce ({args.rounds} edits): min {min(latencies):.1f} ms, "
          f"median {statistics.median(latencies):.1f} ms, p95 {pct(latencies, 0.95):.1f} ms, "
          f"max {max(latencies):.1f} ms (bar 100 ms)")

    # -- completion while typing
    probes = [("str_lo", "name"), ("$", "variable"), ('$transaction["', "key"),
              ("$r0->", "method")]
    timings: dict = {kind: [] for _, kind in probes}
    for _k in range(args.rounds):
        for typed, kind in probes:
            changed = list(lines)
            changed[middle] = typed
            change("\n".join(changed))
            t0 = time.perf_counter()
            await client.text_document_completion_async(T.CompletionParams(
                T.TextDocumentIdentifier(uri), T.Position(middle, len(typed))))
            timings[kind].append((time.perf_counter() - t0) * 1000)
    every = [t for ts in timings.values() for t in ts]
    print(f"completion ({len(every)} requests): median {statistics.median(every):.1f} ms, "
          f"p95 {pct(every, 0.95):.1f} ms, max {max(every):.1f} ms (bar 50 ms); "
          + ", ".join(f"{kind} p95 {pct(ts, 0.95):.1f}" for kind, ts in timings.items()))

    # -- memory over many edits
    samples = []
    for k in range(args.edits):
        change(edit(100000 + k))
        await client.text_document_completion_async(T.CompletionParams(
            T.TextDocumentIdentifier(uri), T.Position(middle, 3)))
        if k % 10 == 9:
            await diagnostics_of(version)
        if k % 100 == 99:
            samples.append(rss_kb(pid))
    print("RSS every 100 edits (MB): " + " ".join(f"{s / 1024:.0f}" for s in samples))
    if len(samples) >= 2:
        print(f"RSS growth from edit 100 to {args.edits}: "
              f"{(samples[-1] - samples[0]) / 1024:+.1f} MB")

    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--edits", type=int, default=1000)
    p.add_argument("--lines", type=int, default=1000)
    sys.exit(asyncio.run(main(p.parse_args())))
