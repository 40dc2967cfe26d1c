"""`hsl run --hook eod --spool DIR`: the copies an Accept() commits land in the spool
(hsl/queue/spool.py) with their envelopes; a Reject commits nothing; a spool that cannot
take them is an error (exit 1), never a silent loss."""
from __future__ import annotations

import json
import subprocess
import sys

from hsl.queue import spool

MESSAGE = b"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
QUEUE_ALL = """
$mail = $arguments["mail"];
$mail->addHeader("X-Checked", "yes");
foreach ($transaction["recipients"] as $r)
    $mail->queue($transaction["senderaddress"], $r["address"], $r["transportid"],
                 ["metadata" => ["k" => "v"]]);
"""


def run_eod(tmp_path, script: str, *extra: str):
    (tmp_path / "eod.hsl").write_text(script)
    (tmp_path / "m.eml").write_bytes(MESSAGE)
    return subprocess.run(
        [sys.executable, "-m", "hsl", "run", "--hook", "eod", "--mail-from", "a@example.com",
         "--rcpt-to", "b@example.net", "--rcpt-to", "c@example.org",
         "--message", str(tmp_path / "m.eml"), *extra, str(tmp_path / "eod.hsl")],
        capture_output=True, text=True, timeout=60)


def test_accepted_copies_are_committed_to_the_spool(tmp_path):
    spool_dir = tmp_path / "spool"
    p = run_eod(tmp_path, QUEUE_ALL + "Accept();\n", "--spool", str(spool_dir), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["decision"] == "accept" and len(out["spooled"]) == 2
    listing = spool.read_spool(str(spool_dir))
    assert listing.problems == []
    entries = listing.entries
    assert [e.id for e in entries] == out["spooled"]
    assert [e.envelope["recipient"] for e in entries] == ["b@example.net", "c@example.org"]
    assert all(e.envelope["sender"] == "a@example.com" for e in entries)
    assert all(e.envelope["metadata"] == {"k": "v"} for e in entries)
    # the copy carries the modification made before queue(), and the original bytes
    assert entries[0].read_message() == b"X-Checked: yes\r\n" + MESSAGE


def test_text_output_names_each_spooled_copy(tmp_path):
    p = run_eod(tmp_path, QUEUE_ALL + "Accept();\n", "--spool", str(tmp_path / "s"))
    assert p.returncode == 0, p.stderr
    assert p.stdout.count(f"in {tmp_path / 's'}") == 2


def test_a_reject_commits_nothing(tmp_path):
    spool_dir = tmp_path / "spool"
    p = run_eod(tmp_path, QUEUE_ALL + 'Reject("no");\n', "--spool", str(spool_dir))
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("reject 550")
    assert spool.read_spool(str(spool_dir)).entries == []


def test_a_spool_that_cannot_take_the_copies_is_an_error(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    p = run_eod(tmp_path, QUEUE_ALL + "Accept();\n", "--spool", str(blocker))
    assert p.returncode == 1
    assert f"spool directory {blocker}" in p.stderr and "Traceback" not in p.stderr


def test_spool_is_only_for_the_eod_hook(tmp_path):
    (tmp_path / "h.hsl").write_text("Accept();\n")
    p = subprocess.run([sys.executable, "-m", "hsl", "run", "--hook", "helo", "--spool",
                        str(tmp_path / "s"), str(tmp_path / "h.hsl")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--spool is for --hook eod" in p.stderr
