"""Queue cases of `hsl test` (issue 17; hsl/testing/queue.py, docs/testing.md "Queue
cases"): one queue hook on a queued copy (`entry:`, inline or a file, a YAML fixture or
a spool envelope) or a whole pickup (`pickup:`), with expectations on each hook's
decision and options and on what the queue does next (action, retry counter, next retry,
transport, metadata, the DSN the queue would send, read from the report it builds); the
schedule of the file's or the project's transport groups; failures in hsl test's style;
malformed cases at their YAML node."""
from __future__ import annotations

import json
import os
import textwrap

import pytest

from hsl_test_helpers import clean_memory, hsl_test, working_folder  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PRE = """\
$domain = $message["recipientaddress"]["domain"];
echo "pre $domain retry " . $arguments["retry"];
if ($domain == "held.example") Queue(["hold" => true, "delay" => 7200]);
if ($domain == "gone.example") Bounce(["dsn" => ["subject" => "Gone", "headers" => ["X-Why" => "gone"]]]);
if ($domain == "trap.example") Delete();
if ($domain == "broken.example") throw "no route";
$context["route"] = $domain == "relay.example" ? "relay" : "mx";
SetMetaData(GetMetaData() + ["route" => $context["route"]]);
if ($context["route"] == "relay") Try(["host" => "10.0.0.7", "tls" => "require"]);
Try();
"""

POST = """\
echo "post " . ($arguments["action"] ?? "delivered") . " " . (isset($context) ? $context["route"] : "-");
if (!isset($arguments["action"])) Default();
$result = $arguments["attempt"]["result"] ?? [];
if (($result["code"] ?? 0) == 421) Queue(["transportid" => "backup", "delay" => 30]);
if (($result["code"] ?? 0) == 599) $x = [] < 1;
Default();
"""

GROUPS = """\
transportgroups:
  - id: default
    retry: {count: 4, intervals: [{interval: 100}, {interval: 200, notify: true}]}
    dsn: {transport: bounces}
    transports: [{id: mx}]
"""


@pytest.fixture
def work(tmp_path, monkeypatch):
    return working_folder(tmp_path, monkeypatch, {"pre.hsl": PRE, "post.hsl": POST})


def write(folder, name: str, text: str):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def queue_file(folder, cases: str, head: str = GROUPS, name: str = "q.test.yaml"):
    return write(folder, name, "hooks: {predelivery: pre.hsl, postdelivery: post.hsl}\n"
                 + head + "cases:\n" + textwrap.indent(textwrap.dedent(cases), "  "))


def passes(capsys, path, n):
    code, out, err = hsl_test(capsys, path)
    assert code == 0, out + err
    assert out.rstrip().splitlines()[-1].startswith(f"{n} passed, 0 failed"), out
    return out


# ------------------------------------------------------------------- one hook

def test_predelivery_alone_decisions_options_context_and_what_follows(work, capsys):
    queue_file(work, """\
        - name: try through the relay
          hook: predelivery
          entry: {sender: a@example.com, recipient: b@relay.example, metadata: {t: "1"}}
          expect:
            decision: try
            options: {host: 10.0.0.7, tls: require}
            output: pre relay.example retry 0
            context: {route: relay}
            metadata: {t: "1", route: relay}
            action: try
            retry: 0
            next_retry: null
            dsn: false
        - name: held for two hours
          hook: predelivery
          entry: {sender: a@example.com, recipient: b@held.example, retry: 2}
          expect: {decision: queue, options: {hold: true, delay: 7200}, action: hold,
                   retry: 3, next_retry: 7200, transportid: mx}
        - name: a bounce from predelivery sends its DSN
          hook: predelivery
          entry: {sender: a@example.com, recipient: b@gone.example}
          expect:
            decision: bounce
            action: bounce
            dsn: {action: failed, status: 5.4.4, to: a@example.com, subject: Gone,
                  transportid: bounces, diagnostic: null}
        - name: deleted
          hook: predelivery
          entry: {sender: a@example.com, recipient: b@trap.example}
          expect: {decision: delete, options: {}, action: delete, dsn: false}
        - name: a script error is Queue() for 5 minutes, the retry not counted
          hook: predelivery
          entry: {sender: a@example.com, recipient: b@broken.example, retry: 1}
          expect:
            error: "uncaught exception: no route"
            decision: queue
            options: {delay: 300, increment_retry: false}
            action: queue
            retry: 1
            next_retry: 300
        """)
    passes(capsys, "q.test.yaml", 5)


def test_postdelivery_alone_the_action_from_the_attempt_and_the_schedule(work, capsys):
    queue_file(work, """\
        - name: a 4xx is QUEUE, on the schedule's first interval
          hook: postdelivery
          entry:
            sender: a@example.com
            recipient: b@example.net
            attempt: {result: {code: 451, enhanced: [4, 3, 0], reason: [later], state: RCPT}}
          expect: {decision: default, output: "post QUEUE -", action: queue, retry: 1,
                   next_retry: 100, dsn: false}
        - name: the second interval notifies the sender
          hook: postdelivery
          entry:
            sender: a@example.com
            recipient: b@example.net
            retry: 1
            attempt: {result: {code: 451, enhanced: [4, 3, 0], reason: [later], state: RCPT}}
          expect:
            action: queue
            retry: 2
            next_retry: 200
            dsn: {action: delayed, status: 4.3.0, subject: "Delayed Mail (still being retried)",
                  diagnostic: 451 later, transportid: bounces}
        - name: the count used up, a temporary failure bounces as expired
          hook: postdelivery
          entry:
            sender: a@example.com
            recipient: b@example.net
            retry: 3
            attempt: {error: {temporary: true, message: timed out, type: network}}
          expect: {action: bounce, dsn: {action: failed, status: 5.4.7}}
        - name: a 5xx bounces; with NOTIFY=NEVER it is deleted instead
          hook: postdelivery
          entry:
            sender: a@example.com
            recipient: b@example.net
            dsn: {notify: NEVER}
            attempt: {result: {code: 550, enhanced: [5, 1, 1], reason: [no user], state: RCPT}}
          expect: {output: "post DELETE -", action: delete, dsn: false}
        - name: delivered, and the context given
          hook: postdelivery
          entry:
            sender: a@example.com
            recipient: b@example.net
            context: {route: relay}
            attempt: {result: {code: 250, reason: [ok], state: DATA}}
          expect: {output: "post delivered relay", action: delivered, retry: 0}
        - name: an action given is the one postdelivery sees
          hook: postdelivery
          entry: {sender: a@example.com, recipient: b@example.net, action: DELETE}
          expect: {output: "post DELETE -", action: delete}
        - name: postdelivery overrides
          hook: postdelivery
          entry:
            sender: a@example.com
            recipient: b@example.net
            attempt: {result: {code: 421, state: CONNECT}}
          expect: {decision: queue, options: {transportid: backup, delay: 30},
                   action: queue, transportid: backup, next_retry: 30, retry: 1}
        """)
    passes(capsys, "q.test.yaml", 7)


def test_an_entry_file_a_spool_copy_and_the_default_hook(work, capsys):
    from hsl.queue import spool
    write(work, "entries/busy.yaml", """\
        sender: a@example.com
        recipient: b@example.net
        retry: 1
        message: ../mail.eml
        attempt: {result: {code: 452, enhanced: [4, 2, 2], reason: [full], state: RCPT}}
        """)
    (work / "mail.eml").write_bytes(b"Subject: s\r\n\r\nbody\r\n")
    (cid,) = spool.write_copies(str(work / "spool"), [spool.Copy(
        b"Subject: t\r\n\r\nx\r\n", "tx9", "c@example.com", "d@relay.example", "mx",
        metadata={"k": "v"})])
    envelope = os.path.join("spool", cid)       # a spool copy: SPOOL/BATCH-N
    write(work, "post-only.test.yaml", f"""\
        hooks: {{postdelivery: post.hsl}}
        cases:
          - entry: entries/busy.yaml
            expect: {{action: queue, retry: 2, next_retry: 300}}
          - name: a spool copy (no attempt in it, so delivered)
            entry: {envelope}
            expect: {{output: post delivered -, action: delivered, metadata: {{k: v}}}}
          - name: a pickup of it tries (no predelivery hook), so it needs an attempt
            pickup: {envelope}
        """)
    code, out, err = hsl_test(capsys, "post-only.test.yaml")
    assert code == 1 and "2 passed, 0 failed, 1 error" in out, out + err
    assert "ERROR post-only.test.yaml::a pickup of it tries" in out
    queue_file(work, f"""\
        - hook: predelivery
          entry: {envelope}
          expect: {{metadata: {{k: v, route: relay}}, options: {{host: 10.0.0.7, tls: require}}}}
        """)
    passes(capsys, "q.test.yaml", 1)


@pytest.mark.parametrize("name, error", [
    ("{batch}-2", "the batch has 2 copies (0 to 1)"),
    ("{batch}", "the batch has 2 copies: name one, {batch}-0 to {batch}-1"),
    ("20250102T030405.123456789Z-9f3a61c2d4e5b708-0", "no such queue entry file spool/"),
])
def test_an_entry_that_names_no_spool_copy(work, capsys, name, error):
    from hsl.queue import spool
    ids = spool.write_copies(str(work / "spool"), [
        spool.Copy(b"x", "tx9", "c@example.com", f"{r}@relay.example", "mx")
        for r in "de"])
    batch = ids[0].rsplit("-", 1)[0]
    queue_file(work, f"""\
        - hook: postdelivery
          entry: spool/{name.format(batch=batch)}
        """)
    code, out, err = hsl_test(capsys, "q.test.yaml")
    assert code == 2 and err.startswith("hsl: error: "), err
    assert error.format(batch=batch) in err and "Traceback" not in err


# ------------------------------------------------------------------- pickups

def test_a_whole_pickup(work, capsys):
    queue_file(work, """\
        - name: "through the relay, which says 421: the backup next"
          pickup:
            sender: a@example.com
            recipient: b@relay.example
            attempt: {result: {code: 421, reason: [busy], state: CONNECT}}
          expect:
            predelivery: {decision: try, options: {host: 10.0.0.7, tls: require},
                          context: {route: relay}, metadata: {route: relay}}
            postdelivery: {decision: queue, output: post QUEUE relay}
            output: [pre relay.example retry 0, post QUEUE relay]
            action: queue
            transportid: backup
            next_retry: 30
            metadata: {route: relay}
        - name: delivered
          pickup:
            sender: a@example.com
            recipient: b@example.net
            attempt: {result: {code: 250, state: DATA}}
          expect: {postdelivery: {decision: default, output: post delivered mx},
                   action: delivered, dsn: false}
        - name: predelivery's Queue() makes no attempt, postdelivery sees QUEUE
          pickup: {sender: a@example.com, recipient: b@held.example}
          expect:         # (predelivery ran: its $context, empty, goes on)
            postdelivery: {output: "post QUEUE none"}
            action: hold
            next_retry: 7200
        - name: a bounce decided before the attempt
          pickup: {sender: a@example.com, recipient: b@gone.example}
          expect:
            postdelivery: {output: "post BOUNCE none"}
            dsn: {action: failed, subject: Gone}
        - name: a script error in postdelivery, expected there
          pickup:
            sender: a@example.com
            recipient: b@example.net
            attempt: {result: {code: 599, state: DATA}}
          expect:
            postdelivery: {error: true, decision: default}
            action: bounce
        """)
    passes(capsys, "q.test.yaml", 5)


def test_a_pickup_that_tries_needs_the_attempts_outcome(work, capsys):
    queue_file(work, """\
        - pickup: {sender: a@example.com, recipient: b@example.net}
          expect: {action: delivered}
        """)
    code, out, _ = hsl_test(capsys, "q.test.yaml")
    assert code == 1
    assert "ERROR q.test.yaml::case 1" in out
    assert "predelivery tried: give the attempt's outcome" in out
    assert "(case at q.test.yaml:" in out


# ------------------------------------------------------------------- failures

def test_failures_show_expected_actual_trace_and_the_case(work, capsys):
    queue_file(work, """\
        - name: wrong
          hook: postdelivery
          entry:
            sender: a@example.com
            recipient: b@example.net
            retry: 1
            attempt: {result: {code: 451, enhanced: [4, 3, 0], state: RCPT}}
          expect: {next_retry: 100, dsn: {status: 4.4.1}, retry: 2}
        - name: wrong hook
          pickup:
            sender: a@example.com
            recipient: b@relay.example
            attempt: {result: {code: 421, state: CONNECT}}
          expect:
            predelivery: {options: {host: 10.0.0.8, tls: require}}
        - name: an unexpected script error
          hook: predelivery
          entry: {sender: a@example.com, recipient: b@broken.example}
          expect: {action: queue}
        """)
    code, out, _ = hsl_test(capsys, "q.test.yaml")
    assert code == 1
    lines = out.splitlines()
    start = lines.index(next(x for x in lines if x.startswith("FAIL  q.test.yaml::wrong ")))
    assert lines[start + 1:start + 8] == [
        "      next_retry", "        expected: 100", "        actual:   200",
        "      dsn status", '        expected: "4.4.1"', '        actual:   "4.3.0"',
        "      trace:"]
    assert "      (case at q.test.yaml:" in out
    hook = lines.index(next(x for x in lines if x.startswith("FAIL  q.test.yaml::wrong hook")))
    assert lines[hook + 1:hook + 4] == [
        "      predelivery: options",
        '        expected: {"host": "10.0.0.8", "tls": "require"}',
        '        actual:   {"host": "10.0.0.7", "tls": "require"}']
    assert "        predelivery:" in out and "pre.hsl:9:35: decided: try" in out
    err = lines.index(next(x for x in lines if "an unexpected script error" in x))
    assert lines[err + 1:err + 4] == [
        "      error (expect error: to make it part of the test)",
        "        expected: <no script error>",
        '        actual:   "pre.hsl:6:34: uncaught exception: no route"']
    where = [x.strip() for x in lines if x.strip().startswith("(case at ")]
    assert where == ["(case at q.test.yaml:8:5)", "(case at q.test.yaml:16:5)",
                     "(case at q.test.yaml:23:5)"]


def test_the_json_report_has_each_hook_and_the_outcome(work, capsys):
    queue_file(work, """\
        - pickup:
            sender: a@example.com
            recipient: b@relay.example
            attempt: {result: {code: 421, state: CONNECT}}
        """)
    code, out, _ = hsl_test(capsys, "q.test.yaml", "--format", "json")
    assert code == 0
    [case] = json.loads(out)["cases"]
    got = case["actual"]
    assert got["predelivery"]["decision"] == "try" and got["postdelivery"]["decision"] == "queue"
    assert {k: got[k] for k in ("action", "retry", "next_retry", "transportid", "dsn")} == \
        {"action": "queue", "retry": 1, "next_retry": 30, "transportid": "backup", "dsn": None}


def test_a_project_gives_its_queue_hooks_and_schedule(work, capsys):
    root = work / "proj"
    write(root, "src/config/smtpd-app.yaml", """\
        servers: [{id: default, transport: mx}]
        transportgroups:
          - id: default
            retry: {count: 9, intervals: [{interval: 45}]}
            transports: [{id: mx}]
        """)
    write(root, "src/hooks/queue/postdelivery.hsl", POST)
    write(work, "p.test.yaml", """\
        project: proj
        cases:
          - entry:
              sender: a@example.com
              recipient: b@example.net
              retry: 3
              attempt: {result: {code: 451, state: RCPT}}
            expect: {action: queue, retry: 4, next_retry: 45}
          - pickup:
              sender: a@example.com
              recipient: b@example.net
              attempt: {result: {code: 250, state: DATA}}
            expect: {postdelivery: {output: post delivered -}, action: delivered}
        """)
    passes(capsys, "p.test.yaml", 2)


def test_queue_hooks_and_smtp_hooks_in_one_file(work, capsys):
    write(work, "eod.hsl", 'foreach ($transaction["recipients"] as $r)\n'
          '  $arguments["mail"]->queue($transaction["sender"], $r["recipient"], "mx");\n'
          'Accept();\n')
    write(work, "both.test.yaml", """\
        hooks: {eod: eod.hsl, postdelivery: post.hsl}
        cases:
          - eod: {text: "Subject: x\\n\\nhi\\n", mail_from: a@example.com, rcpt_to: b@example.net}
            expect: {decision: accept, queued: 1}
          - session: [ehlo: c.example, mail: a@example.com, rcpt: b@example.net,
                      data: {text: "Subject: y\\n\\nhi\\n"}]
            expect: {queued: 1}
          - entry: {sender: a@example.com, recipient: b@example.net, action: QUEUE}
            expect: {action: queue}
        """)
    passes(capsys, "both.test.yaml", 3)


def test_the_example_passes_with_its_lines_covered(capsys):
    code, out, err = hsl_test(capsys, os.path.join(ROOT, "examples", "queue"),
                              "--coverage")
    assert code == 0, out + err
    assert "12 passed, 0 failed" in out
    for name in ("predelivery.hsl", "postdelivery.hsl"):
        [row] = [x for x in (out + err).splitlines()
                 if x.split()[:1] and x.split()[0].endswith(f"queue/{name}") and "%" in x]
        assert row.split()[3] == "100%", row       # (every line run)


# ------------------------------------------------------------------- malformed

MALFORMED = [
    ("- hook: postdelivery\n  entry: {sender: a@example.com}\n", "4:12",
     "recipient is required"),
    ("- hook: postdelivery\n  entry: {sender: a, recipient: b, action: RETRY}\n", "4:46",
     "action: must be QUEUE, BOUNCE or DELETE"),
    ("- hook: postdelivery\n  entry:\n    sender: a\n    recipient: b\n"
     "    attempt: {result: {code: 250}}\n    action: QUEUE\n", "8:15",
     "action: the attempt delivered the copy (a 2xx reply)"),
    ("- hook: predelivery\n  entry: {sender: a, recipient: b, attempt: {error: {}}}\n", "4:38",
     "attempt: is for postdelivery (predelivery runs before the attempt)"),
    ("- pickup: {sender: a, recipient: b, action: QUEUE}\n", "3:39",
     "action: is the queue's own in a pickup"),
    ("- entry: {sender: a, recipient: b}\n", "3:5",
     "say which queue hook this case runs (hook: predelivery or postdelivery): the file "
     "has both"),
    ("- hook: eod\n  entry: {sender: a, recipient: b}\n", "3:11",
     "an entry: case runs a queue hook (predelivery, postdelivery), not eod"),
    ("- hook: predelivery\n  run: {}\n", "3:11",
     "the predelivery hook runs on a queued copy: make the case entry:"),
    ("- pickup: {sender: a, recipient: b}\n  hook: predelivery\n", "4:11",
     "a pickup: runs both queue hooks"),
    ("- run: {ehlo: a.example}\n", "3:5",
     "the file's hooks (predelivery, postdelivery) run on a queued copy: make the case "
     "entry:"),
    ("- eod: {text: x}\n", "3:5", "the file has no eod hook to run"),
    ("- session: [ehlo: a.example]\n  expect: {action: queue}\n", "4:14",
     "action is not an expectation of a whole session"),
    ("- hook: postdelivery\n  entry: nope.yaml\n", "4:12", "no such queue entry file nope.yaml"),
    ("- hook: postdelivery\n  entry: [a]\n", "4:12", "the queued copy: a mapping"),
    ("- hook: postdelivery\n  entry: {sender: a, recipient: b}\n  expect: {code: 250}\n",
     "5:14", "code is not an expectation of a queue hook's case (entry:)"),
    ("- pickup: {sender: a, recipient: b}\n  expect: {decision: try}\n", "4:14",
     "decision is not an expectation of a whole pickup"),
    ("- hook: postdelivery\n  entry: {sender: a, recipient: b}\n  expect: {action: retry}\n",
     "5:22", "action must be one of delivered, try, queue, hold, bounce, delete"),
    ("- hook: postdelivery\n  entry: {sender: a, recipient: b}\n"
     "  expect: {dsn: {stauts: 5.1.1}}\n", "5:20", "'stauts' is not a part of a DSN"),
    ("- hook: postdelivery\n  entry: {sender: a, recipient: b}\n"
     "  expect: {dsn: {status: failed}}\n", "5:28", "status must be an enhanced status code"),
    ("- pickup: {sender: a, recipient: b}\n  expect: {predelivery: {action: queue}}\n",
     "4:28", "action is not an expectation of one hook of a pickup"),
]


@pytest.mark.parametrize("cases,position,message", MALFORMED,
                         ids=[m[2][:40] for m in MALFORMED])
def test_a_malformed_queue_case_is_exit_2_at_its_node(work, capsys, cases, position,
                                                      message):
    queue_file(work, cases, head="")
    code, out, err = hsl_test(capsys, "q.test.yaml")
    assert code == 2, out + err
    assert err.startswith(f"hsl: error: q.test.yaml:{position}: "), err
    assert message in err and "Traceback" not in err


def test_malformed_transportgroups_and_entry_files(work, capsys):
    queue_file(work, "- hook: postdelivery\n  entry: {sender: a, recipient: b}\n",
               head="transportgroups:\n  - id: default\n    retry: {count: -1}\n")
    code, _, err = hsl_test(capsys, "q.test.yaml")
    assert code == 2 and err.startswith("hsl: error: q.test.yaml:4:20: "), err
    assert "must be a whole number of at least 0" in err
    write(work, "bad.yaml", "sender: a\nrecipient: b\nattempt:\n  result: {code: 45}\n")
    queue_file(work, "- hook: postdelivery\n  entry: bad.yaml\n", head="")
    code, _, err = hsl_test(capsys, "q.test.yaml")
    assert code == 2 and err.startswith("hsl: error: "), err
    assert "bad.yaml:4:18: attempt.result.code: must be a reply code (200-599)" in err


def test_watch_knows_the_entry_files_a_case_reads(work):
    from hsl.queue import spool
    from hsl.testing import testfile
    from hsl.testing.runner import Runner
    write(work, "entries/e.yaml", "sender: a@example.com\nrecipient: b@example.net\n"
                                  "message: ../m.eml\n")
    (work / "m.eml").write_bytes(b"Subject: s\r\n\r\nx\r\n")
    (work / "inline.eml").write_bytes(b"Subject: i\r\n\r\nx\r\n")
    (cid,) = spool.write_copies(str(work / "spool"), [spool.Copy(
        b"Subject: t\r\n\r\nx\r\n", "tx9", "c@example.com", "d@relay.example", "mx")])
    path = queue_file(work, f"""\
        - hook: postdelivery
          entry: entries/e.yaml
        - hook: predelivery
          entry: {{sender: a@example.com, recipient: b@example.net, message: inline.eml}}
        - hook: postdelivery
          entry: spool/{cid}
        """)
    suite = testfile.load(str(path))
    try:
        runner = Runner()
        runner.run(suite)
        files = runner.files(suite)
    finally:
        suite.close()
    assert {str(work / "entries" / "e.yaml"), str(work / "m.eml"), str(work / "inline.eml"),
            str(work / "pre.hsl"), str(work / "post.hsl"),
            str(work / "spool" / cid.rsplit("-", 1)[0])} <= files    # its batch file


def test_update_rewrites_a_queue_cases_own_keys(work, capsys):
    path = queue_file(work, """\
        - name: rewritten
          hook: predelivery
          entry: {sender: a@example.com, recipient: b@relay.example}
          expect:
            options: {host: 10.0.0.1}   # the old relay
            metadata: {}
            action: try
        - name: left alone
          hook: postdelivery
          entry:
            sender: a@example.com
            recipient: b@example.net
            retry: 1
            attempt: {result: {code: 451, enhanced: [4, 3, 0], state: RCPT}}
          expect: {dsn: {status: 4.4.1}}
        """)
    code, out, err = hsl_test(capsys, "q.test.yaml", "--update")
    assert code == 1
    assert "updated q.test.yaml: 1 case(s): rewritten" in out + err
    assert "not updated q.test.yaml::left alone: dsn status: the parts of a DSN are not " \
        "rewritten" in out + err
    text = path.read_text()
    assert "options: {host: 10.0.0.7, tls: require}   # the old relay" in text
    assert "metadata: {route: relay}" in text and "dsn: {status: 4.4.1}" in text
    code, out, _ = hsl_test(capsys, "q.test.yaml", "--run", "rewritten")
    assert code == 0, out
