"""`hsl test` itself (issue 16; hsl/testing, docs/testing.md): test files that pass,
fail (each kind of expectation, with its expected-versus-actual diff and the trace),
error (a script that does not compile) and are malformed (each error with FILE:LINE:COL
and exit 2); scenarios that share memory and `$context`; isolation between cases; the
JSON and JUnit reports; --run, --fail-on-empty and the exit codes."""
from __future__ import annotations

import json
import os
import textwrap
import xml.etree.ElementTree as ET

import pytest

from hsl_test_helpers import clean_memory, hsl_test, working_folder  # noqa: F401


HELO = """\
$host = $arguments["host"];
echo "checking $host";
if ($host == "boom.example") throw Exception("it went boom");
$n = memory_inc("hits");
$context["seen"] = ($context["seen"] ?? 0) + 1;
$context["hits"] = $n;
if ($host == "bad.example")
    Reject("Go away $host", ["disconnect" => true,
                             "reply_codes" => ["code" => 550, "enhanced" => [5, 7, 1]]]);
if ($host == "dns.example") {
    $r = dns_query("mx.dns.example");
    echo "dns: " . json_encode($r);
}
Accept();
"""

EOD = """\
$mail = $arguments["mail"];
if ($mail->getHeader("subject") == none) Reject("No Subject");
$mail->addHeader("X-Checked", "yes");
foreach ($transaction["recipients"] as $r)
    $mail->queue($transaction["senderaddress"], $r["address"], $r["transportid"],
                 ["metadata" => ["rcpt" => $r["recipient"]]]);
Accept();
"""

PROJECT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "projects",
                       "tree")


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A folder with the scripts, as the working directory."""
    return working_folder(tmp_path, monkeypatch, {"helo.hsl": HELO, "eod.hsl": EOD})


def write(folder, name: str, text: str):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path



def helo_file(folder, cases: str, name: str = "t.test.yaml", head: str = ""):
    """A test file of helo.hsl with `cases` (YAML text of the list, indented 2)."""
    return write(folder, name, "script: helo.hsl\nhook: helo\n" + textwrap.dedent(head)
                 + "cases:\n" + textwrap.indent(textwrap.dedent(cases), "  "))


# ------------------------------------------------------------------- passing

def test_a_passing_file(work, capsys):
    helo_file(work, """\
        - name: accepted
          run: {ehlo: mail.example.com}
          expect:
            decision: accept
            code: 250
            reply: {regex: "^mx"}
            disconnect: false
            context: {seen: 1, hits: 1}
            output: [checking mail.example.com]
            host: mail.example.com
            error: false
        - name: refused
          run: {helo: bad.example}
          expect: {decision: reject, code: 550, enhanced: 5.7.1, disconnect: true,
                   reply: Go away bad.example, output: "checking bad.example"}
        """)
    code, out, err = hsl_test(capsys, "t.test.yaml")
    lines = out.splitlines()
    assert code == 0, out + err
    assert lines[0].startswith("PASS  t.test.yaml::accepted (")
    assert lines[1].startswith("PASS  t.test.yaml::refused (")
    assert lines[2].startswith("2 passed, 0 failed (")


def test_the_default_path_is_the_current_directory(work, capsys):
    helo_file(work, "- run: {ehlo: a.example}\n  expect: {decision: accept}\n",
              name="sub.test.yaml")
    code, out, _ = hsl_test(capsys)
    assert code == 0 and "PASS  sub.test.yaml::case 1" in out


# ------------------------------------------------------------------- failing

FAILURES = [
    ("decision: reject", "decision", '"reject"', '"accept"'),
    ("code: 421", "code", "421", "250"),
    ("enhanced: 2.0.0", "enhanced", "[2, 0, 0]", "null"),
    ("reply: Hello", "reply", '"Hello"', '"mx.hsl.invalid"'),
    ("reply: [Hello, there]", "reply", '["Hello", "there"]', '["mx.hsl.invalid"]'),
    ("reply: {regex: '^Hello'}", "reply", '{"regex": "^Hello"}', '["mx.hsl.invalid"]'),
    ("disconnect: true", "disconnect", "true", "false"),
    ("context: {seen: 2, hits: 1}", "context", '{"seen": 2, "hits": 1}',
     '{"seen": 1, "hits": 1}'),
    ("output: [checking x.example]", "output", '["checking x.example"]',
     '["checking a.example"]'),
    ("output: {regex: 'x\\.example'}", "output", '{"regex": "x\\\\.example"}',
     '["checking a.example"]'),
    ("error: true", "error", "true", "null"),
    ("host: b.example", "host", '"b.example"', '"a.example"'),
]


@pytest.mark.parametrize("expectation,key,want,got", FAILURES,
                         ids=[f[0] for f in FAILURES])
def test_each_kind_of_expectation_fails_with_a_diff(work, capsys, expectation, key, want,
                                                    got):
    helo_file(work, f"- name: wrong\n  run: {{helo: a.example}}\n  expect: {{{expectation}}}\n")
    code, out, _ = hsl_test(capsys, "t.test.yaml")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("FAIL  t.test.yaml::wrong (")
    at = lines.index(f"      {key}")
    assert lines[at + 1] == f"        expected: {want}"
    assert lines[at + 2].startswith(f"        actual:   {got}")
    assert lines[-1].startswith("0 passed, 1 failed")


def test_a_failure_shows_the_trace(work, capsys):
    helo_file(work, "- run: {ehlo: bad.example}\n  expect: {decision: accept}\n")
    code, out, _ = hsl_test(capsys, "t.test.yaml")
    assert code == 1
    assert "      trace:" in out
    assert 'helo.hsl:7:5: if ($host == "bad.example") -> true' in out
    assert "helo.hsl:8:5: decided: reject" in out
    assert "(case at t.test.yaml:4:5)" in out


def test_a_large_difference_is_a_unified_diff(work, capsys):
    helo_file(work, """\
        - run: {ehlo: a.example, context: {a: "some long value to make it wide",
                                            b: "and another long one"}}
          expect:
            context: {a: "some long value to make it wide", b: "and another long one",
                      seen: 2, hits: 1}
        """)
    code, out, _ = hsl_test(capsys, "t.test.yaml")
    assert code == 1
    assert "        --- expected" in out and "        +++ actual" in out
    assert '        -  "seen": 2,' in out and '        +  "seen": 1,' in out


def test_an_unexpected_script_error_fails_and_an_expected_one_passes(work, capsys):
    helo_file(work, """\
        - name: not expected
          run: {ehlo: boom.example}
          expect: {decision: defer}
        - name: expected
          run: {ehlo: boom.example}
          expect: {decision: defer, code: 450, error: {regex: "it went boom$"}}
        - name: by its message
          run: {ehlo: boom.example}
          expect: {error: "uncaught exception: it went boom"}
        - name: another message
          run: {ehlo: boom.example}
          expect: {error: "something else"}
        """)
    code, out, _ = hsl_test(capsys, "t.test.yaml")
    assert code == 1
    statuses = [line.split()[0] for line in out.splitlines()
                if line.startswith(("PASS", "FAIL"))]
    assert statuses == ["FAIL", "PASS", "PASS", "FAIL"]
    assert "        expected: <no script error>" in out
    assert "helo.hsl:3:30: uncaught exception: it went boom" in out


def test_queued_copies_headers_and_metadata(work, capsys):
    write(work, "m.eml", "From: a@x.example\nTo: b@y.example\nSubject: hi\n\nbody\n")
    cases = """\
        script: eod.hsl
        hook: eod
        cases:
          - name: right
            eod: {message: m.eml, mail_from: a@x.example, rcpt_to: [b@y.example, c@y.example]}
            expect:
              queued:
                count: 2
                recipients: [b@y.example, c@y.example]
                senders: [a@x.example, a@x.example]
                headers: {X-Checked: "yes", Subject: {regex: "^h"}, X-Other: false,
                          From: true}
                copies:
                  - {recipient: b@y.example, metadata: {rcpt: b@y.example}}
                  - {transportid: mx}
              metadata: {rcpt: {regex: "@y.example$"}}
          - name: wrong
            eod: {message: m.eml, mail_from: a@x.example, rcpt_to: [b@y.example]}
            expect:
              queued:
                count: 2
                recipients: [c@y.example]
                headers: {X-Checked: "no", X-Missing: true, Subject: false}
                copies: [{metadata: {rcpt: nobody}}]
          - name: none
            eod: {text: "From: a@x.example\\n\\nno subject\\n"}
            expect: {decision: reject, queued: 0}
    """
    write(work, "q.test.yaml", cases)
    code, out, _ = hsl_test(capsys, "q.test.yaml")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("PASS  q.test.yaml::right")
    assert lines[1].startswith("FAIL  q.test.yaml::wrong")
    text = "\n".join(lines)
    assert 'queued (count)\n        expected: <2 copies>\n        actual:   ' \
        '["a@x.example -> b@y.example"]' in text
    assert 'queued recipients\n        expected: ["c@y.example"]\n' \
        '        actual:   ["b@y.example"]' in text
    assert 'queued copy 0: header X-Checked\n        expected: "no"\n' \
        '        actual:   ["yes"]' in text
    assert "queued copy 0: header X-Missing\n        expected: <present>\n" \
        "        actual:   <absent>" in text
    assert 'queued copy 0: header Subject\n        expected: <absent>\n' \
        '        actual:   ["hi"]' in text
    assert 'queued copy 0: metadata rcpt\n        expected: "nobody"\n' \
        '        actual:   "b@y.example"' in text
    assert any(line.startswith("PASS  q.test.yaml::none") for line in lines)


def test_a_script_that_does_not_compile_is_an_error(work, capsys):
    write(work, "broken.hsl", "Accept(;\n")
    write(work, "b.test.yaml", "script: broken.hsl\nhook: helo\ncases:\n"
          "  - run: {}\n    expect: {decision: accept}\n")
    code, out, _ = hsl_test(capsys, "b.test.yaml")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("ERROR b.test.yaml::case 1")
    assert lines[1].startswith("      broken.hsl:1:8: error:")
    assert lines[-1].startswith("0 passed, 0 failed, 1 error")


# ----------------------------------------------------------------- malformed

MALFORMED = [
    ("script: helo.hsl\nhook: helo\ncases: []\nsetings: {}\n", "4:1",
     "'setings' is not a key of a test file (did you mean settings?)"),
    ("script: helo.hsl\nhook: helo\ncases:\n  - run: {}\n    expct: {}\n", "5:5",
     "'expct' is not a key of a case (did you mean expect?)"),
    ("script: helo.hsl\nhook: helo\ncases:\n  - run: {}\n    expect: {decison: accept}\n",
     "5:14", "unknown expectation 'decison' (did you mean decision?)"),
    ("script: helo.hsl\nhook: helo\ncases:\n  - run: {}\n    expect:\n"
     "      reply: {regex: '(unclosed'}\n", "6:22", "not a valid regex"),
    ("script: helo.hsl\nhook: helo\ncases:\n  - run: {}\n    expect: {code: '250'}\n",
     "5:20", "code must be a reply code (200-599) or none"),
    ("script: helo.hsl\nhooks: {helo: helo.hsl}\ncases: []\n", "2:1",
     "give one of script:, hooks: and project:, not script and hooks"),
    ("script: helo.hsl\nhook: helo\n", "1:1", "cases: is a list of cases"),
    ("script: helo.hsl\nhook: helo\ncases:\n  - run: {}\n    session: []\n", "4:5",
     "a case is one of run:"),
    ("script: helo.hsl\nhook: hello\ncases: []\n", "2:7",
     "'hello' is not a hook phase hsl test runs"),
    ("script: nothere.hsl\nhook: helo\ncases: []\n", "1:9", "no such script nothere.hsl"),
    ("script: helo.hsl\nhook: helo\ncases:\n  - session:\n      - ehlo: a.example\n"
     "      - mial: a@b.example\n", "6:9", "unknown step 'mial' (did you mean mail?)"),
    ("script: helo.hsl\nhook: helo\ncases:\n  - session: [ehlo: a.example]\n"
     "    expect: {steps: {3: {code: 250}}}\n", "5:25", "steps: 3: there is no such step"),
    ("script: helo.hsl\nhook: helo\nsettings:\n  dns:\n    a.example: {aa: [192.0.2.1]}\n"
     "cases: []\n", "5:21", "dns: a.example: 'aa' is not a record type"),
    ("script: helo.hsl\nhook: helo\nmocks:\n  http: {'https://x.example/': {status: 999}}\n"
     "cases: []\n", "4:41", "mocks: http: https://x.example/: status: must be an HTTP status"),
    ("script: helo.hsl\nhook: helo\nmocks:\n  htp: {}\ncases: []\n", "4:3",
     "'htp' is not a mock kind"),
    ("script: helo.hsl\nhook: helo\ncases:\n  - run: {ehlo: [a]\n", "5:1",
     "not valid YAML"),
    ("script: helo.hsl\nhook: helo\ncases:\n  - {name: a, run: {}}\n  - {name: a, run: {}}\n",
     "5:5", "a second case named 'a' (the first: t.test.yaml:4:5)"),
    ("script: helo.hsl\nhook: helo\ncases:\n  - session: [ehlo: a.example]\n"
     "    expect: {decision: accept}\n", "5:14",
     "decision is not an expectation of a whole session (expect it on a step"),
    ("script: helo.hsl\nhook: helo\ncases:\n  - run: {remoteip: not-an-ip}\n", "4:21",
     "remoteip must be an IP address"),
    ("script: helo.hsl\nhook: helo\ncases:\n  - run: {ehlo: a.example}\n"
     "    network: sometimes\n", "5:14", "network is allow or deny"),
    ("script: helo.hsl\nhook: helo\ncases:\n  - scenario: s\n    cases: [{scenario: t}]\n",
     "5:14", "a scenario does not nest"),
    ("script: helo.hsl\ncases:\n  - hook: eod\n    run: {}\n", "3:11",
     "the file has no eod hook to run"),
    ("script: helo.hsl\ncases:\n  - session: [ehlo: a.example]\n", "3:5",
     "a plain script (no hook:) runs run: cases only, not session:"),
    ("", "1:1", "the test file is empty"),
]


@pytest.mark.parametrize("text,position,message", MALFORMED,
                         ids=[m[2][:40] for m in MALFORMED])
def test_a_malformed_test_file_is_exit_2_at_its_node(work, capsys, text, position,
                                                      message):
    (work / "t.test.yaml").write_text(text)
    code, out, err = hsl_test(capsys, "t.test.yaml")
    assert code == 2, out + err
    assert out == ""
    assert err.startswith(f"hsl: error: t.test.yaml:{position}: "), err
    assert message in err, err
    assert "Traceback" not in err


def test_every_malformed_file_is_reported_and_none_runs(work, capsys):
    helo_file(work, "- run: {ehlo: a.example}\n", name="good.test.yaml")
    (work / "a.test.yaml").write_text("script: helo.hsl\nhook: helo\ncases: 3\n")
    (work / "b.test.yaml").write_text("- a list\n")
    code, out, err = hsl_test(capsys, ".")
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "hsl: error: a.test.yaml:3:8: cases: is a list of cases (run:, session: or eod:, "
        "with expect:)",
        "hsl: error: b.test.yaml:1:1: a test file is a mapping with the script(s) under "
        "test and cases:"]


# ------------------------------------------------------ sessions, scenarios

def test_a_session_case_checks_each_step(work, capsys):
    write(work, "s.test.yaml", """\
        hooks: {helo: helo.hsl, eod: eod.hsl}
        cases:
          - name: steps
            session:
              - ehlo: a.example
                expect: {decision: accept, context: {seen: 1, hits: 1}}
              - mail: a@x.example
              - rcpt: [b@y.example, c@y.example]
                expect: [{code: 250}, {code: 250, command: RCPT}]
              - data: {text: "Subject: s\\n\\nhi\\n"}
              - quit
            expect:
              steps: {3: {decision: accept, code: 250, enhanced: 2.0.0}}
              queued: {recipients: [b@y.example, c@y.example]}
              context: {seen: 1, hits: 1}
              output: [checking a.example]
          - name: wrong step
            session:
              - ehlo: bad.example
              - mail: a@x.example
                expect: {ran: true}
            expect: {steps: {0: {code: 250}}}
        """)
    code, out, _ = hsl_test(capsys, "s.test.yaml")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("PASS  s.test.yaml::steps")
    assert lines[1].startswith("FAIL  s.test.yaml::wrong step")
    assert lines[2:8] == [
        "      step 0 EHLO bad.example: code", "        expected: 250",
        "        actual:   550", "      step 1 MAIL FROM:<a@x.example>: ran",
        "        expected: true", "        actual:   false"]
    assert "      trace:" in out and "        step 0 EHLO bad.example:" in out


COUNTER = """\
$n = memory_inc("count");
$context["n"] = ($context["n"] ?? 0) + 1;
echo "count $n";
Accept();
"""


def test_a_scenario_shares_memory_and_context_per_connection(work, capsys):
    (work / "c.hsl").write_text(COUNTER)
    write(work, "c.test.yaml", """\
        script: c.hsl
        hook: helo
        cases:
          - scenario: one client
            cases:
              - {name: first, run: {connection_id: c1},
                 expect: {output: [count 1], context: {n: 1}}}
              - {name: second, run: {connection_id: c2},
                 expect: {output: [count 2], context: {n: 1}}}
              - {name: first again, run: {connection_id: c1},
                 expect: {output: [count 3], context: {n: 2}}}
              - {name: own context, run: {connection_id: c1, context: {n: 10}},
                 expect: {output: [count 4], context: {n: 11}}}
              - name: a session on c2
                session: {connection_id: c2, steps: [ehlo: x.example]}
                expect: {output: [count 5], context: {n: 2}}
          - name: alone
            run: {connection_id: c1}
            expect: {output: [count 1], context: {n: 1}}
        """)
    code, out, _ = hsl_test(capsys, "c.test.yaml")
    assert code == 0, out
    assert "PASS  c.test.yaml::one client::first again" in out
    assert out.splitlines()[-1].startswith("6 passed, 0 failed")


def test_a_whole_file_scenario(work, capsys):
    (work / "c.hsl").write_text(COUNTER)
    write(work, "c.test.yaml", """\
        script: c.hsl
        hook: helo
        scenario: true
        cases:
          - {run: {}, expect: {output: [count 1]}}
          - {run: {}, expect: {output: [count 2]}}
        """)
    code, out, _ = hsl_test(capsys, "c.test.yaml")
    assert code == 0, out


def test_cases_are_isolated(work, capsys):
    """A case that writes memory (or a metric, the cache) does not change the next."""
    (work / "c.hsl").write_text(COUNTER)
    write(work, "c.test.yaml", """\
        script: c.hsl
        hook: helo
        cases:
          - {name: one, run: {connection_id: c1}, expect: {output: [count 1]}}
          - {name: two, run: {connection_id: c1}, expect: {output: [count 1], context: {n: 1}}}
        """)
    code, out, _ = hsl_test(capsys, "c.test.yaml")
    assert code == 0, out


def test_dns_tables_and_no_network(work, capsys):
    helo_file(work, """\
        - name: the file's table
          run: {ehlo: dns.example}
          expect: {output: [checking dns.example, 'dns: {"result":["192.0.2.1"],"dnssec":false}']}
        - name: the case's mock
          run: {ehlo: dns.example}
          mocks: {dns: {mx.dns.example: SERVFAIL}}
          expect: {output: {regex: 'dns: {"error":"SERVFAIL"'}}
        - name: a run's own table
          run: {ehlo: dns.example, dns: {mx.dns.example: {a: 192.0.2.9}}}
          expect: {output: {regex: '192\\.0\\.2\\.9'}}
        """, head="settings:\n  dns: {mx.dns.example: {a: [192.0.2.1]}}\n")
    code, out, _ = hsl_test(capsys, "t.test.yaml")
    assert code == 0, out
    # A file's mocks answer before any dns: table of its settings or its runs.
    helo_file(work, """\
        - run: {ehlo: dns.example, dns: {mx.dns.example: {a: 192.0.2.9}}}
          expect: {output: {regex: '192\\.0\\.2\\.1"'}}
        """, name="m.test.yaml", head="mocks:\n  dns: {mx.dns.example: {a: [192.0.2.1]}}\n")
    code, out, _ = hsl_test(capsys, "m.test.yaml")
    assert code == 0, out
    helo_file(work, "- run: {ehlo: dns.example}\n"
              "  expect: {output: {regex: 'NXDOMAIN'}}\n", name="offline.test.yaml")
    code, out, _ = hsl_test(capsys, "offline.test.yaml")
    assert code == 0, out


def test_a_project_and_its_server(work, capsys):
    write(work, "p.test.yaml", f"""\
        project: {PROJECT}
        serverid: inbound
        cases:
          - name: a name
            hook: helo
            run: {{ehlo: mail.example.com}}
            expect: {{decision: accept}}
          - name: no name
            hook: helo
            run: {{ehlo: x}}
            expect: {{decision: reject, reply: say who you are}}
        """)
    code, out, _ = hsl_test(capsys, "p.test.yaml")
    assert code == 0, out


def test_a_plain_script_with_plugins(work, capsys):
    write(work, "plugins.yaml", "functions:\n  lookup: {params: [x], result: 42}\n")
    (work / "p.hsl").write_text('echo "got " . lookup("a");\n')
    write(work, "p.test.yaml", """\
        script: p.hsl
        settings: {plugins: plugins.yaml}
        cases:
          - {run: {}, expect: {output: [got 42]}}
          - {run: {}, expect: {output: [got 41]}}
        """)
    code, out, _ = hsl_test(capsys, "p.test.yaml")
    assert code == 1
    assert "PASS  p.test.yaml::case 1" in out and "FAIL  p.test.yaml::case 2" in out


def test_the_legacy_layout_and_a_test_file_that_replaces_it(work, capsys):
    (work / "pol.hsl").write_text("// hook: helo\n" + HELO)
    write(work, "sessions/pol/accept.yaml", "host: a.example\nexpect: {decision: accept}\n")
    write(work, "sessions/pol/scen/01.yaml", "host: a.example\nconnection_id: c\n"
          "expect: {context: {seen: 1, hits: 1}}\n")
    write(work, "sessions/pol/scen/02.yaml", "host: a.example\nconnection_id: c\n"
          "expect: {context: {seen: 2, hits: 2}}\n")
    code, out, _ = hsl_test(capsys, ".")
    assert code == 0, out
    assert [line.split(" (")[0] for line in out.splitlines()[:-1]] == [
        "PASS  sessions/pol::accept", "PASS  sessions/pol::scen::01",
        "PASS  sessions/pol::scen::02"]
    write(work, "pol.test.yaml", "script: pol.hsl\nhook: helo\ncases:\n"
          "  - run: sessions/pol/accept.yaml\n")
    code, out, _ = hsl_test(capsys, ".")
    assert code == 0
    assert out.splitlines()[0].startswith("PASS  pol.test.yaml::case 1")
    assert len(out.splitlines()) == 2


# ------------------------------------------------------------------ reports

def _mixed(work):
    write(work, "broken.hsl", "Accept(;\n")
    helo_file(work, """\
        - {name: good, run: {ehlo: a.example}, expect: {decision: accept}}
        - {name: bad <&>, run: {ehlo: a.example}, expect: {code: 421}}
        """)
    write(work, "u.test.yaml", "script: broken.hsl\nhook: helo\ncases: [{run: {}}]\n")


def test_the_json_report(work, capsys):
    _mixed(work)
    code, out, _ = hsl_test(capsys, "t.test.yaml", "u.test.yaml", "--format", "json")
    assert code == 1
    report = json.loads(out)
    assert report["summary"] | {"seconds": 0} == {"passed": 1, "failed": 1, "errors": 1,
                                                   "total": 3, "seconds": 0}
    good, bad, broken = report["cases"]
    assert (good["id"], good["status"], good["mismatches"]) == ("t.test.yaml::good", "PASS",
                                                                 [])
    assert good["actual"]["decision"] == "accept" and good["where"] == "t.test.yaml:4:5"
    assert bad["mismatches"] == [{"label": "", "key": "code", "expected": 421,
                                  "actual": 250, "note": ""}]
    assert bad["trace"] and bad["file"] == "t.test.yaml" and bad["scenario"] is None
    assert broken["status"] == "ERROR" and "broken.hsl:1:8" in broken["message"]


def _check_junit(text: str) -> ET.Element:
    """The JUnit fields CI dashboards read, strictly: <testsuites> of <testsuite>s of
    <testcase>s, the counts adding up, times as numbers, at most one failure or error
    child per case."""
    root = ET.fromstring(text)
    assert root.tag == "testsuites"
    total = {"tests": 0, "failures": 0, "errors": 0}
    for suite in root:
        assert suite.tag == "testsuite"
        assert set(suite.attrib) >= {"name", "tests", "failures", "errors", "skipped", "time"}
        float(suite.get("time"))
        cases = list(suite)
        assert all(c.tag == "testcase" for c in cases)
        assert int(suite.get("tests")) == len(cases)
        failures = sum(1 for c in cases if c.find("failure") is not None)
        errors = sum(1 for c in cases if c.find("error") is not None)
        assert (int(suite.get("failures")), int(suite.get("errors"))) == (failures, errors)
        for c in cases:
            assert set(c.attrib) >= {"name", "classname", "time"}
            float(c.get("time"))
            assert len([x for x in c if x.tag in ("failure", "error", "skipped")]) <= 1
        total["tests"] += len(cases)
        total["failures"] += failures
        total["errors"] += errors
    assert {k: int(root.get(k)) for k in total} == total
    return root


def test_the_junit_report(work, capsys):
    _mixed(work)
    code, out, _ = hsl_test(capsys, "t.test.yaml", "u.test.yaml", "--format", "junit")
    assert code == 1
    root = _check_junit(out)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["t.test.yaml", "u.test.yaml"]
    good, bad = suites[0].findall("testcase")
    assert good.get("name") == "good" and list(good) == []
    assert bad.get("name") == "bad <&>"
    failure = bad.find("failure")
    assert failure.get("message") == "1 expectation not met"
    assert "expected: 421" in failure.text and "actual:   250" in failure.text
    error = suites[1].find("testcase").find("error")
    assert error is not None and "broken.hsl:1:8" in error.text


def test_the_junit_report_reads_with_junitparser(work, capsys, tmp_path):
    junitparser = pytest.importorskip("junitparser")
    _mixed(work)
    _, out, _ = hsl_test(capsys, "t.test.yaml", "u.test.yaml", "--format", "junit")
    path = tmp_path / "report.xml"
    path.write_text(out)
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = list(xml)
    assert [s.name for s in suites] == ["t.test.yaml", "u.test.yaml"]
    assert (suites[0].tests, suites[0].failures, suites[1].errors) == (2, 1, 1)
    results = {case.name: [type(r).__name__ for r in case.result] for s in suites
               for case in s}
    assert results == {"good": [], "bad <&>": ["Failure"], "case 1": ["Error"]}


def test_control_characters_stay_valid_xml(work, capsys):
    helo_file(work, '- name: "bell \\a here"\n  run: {ehlo: a.example}\n'
              '  expect: {decision: reject}\n')
    _, out, _ = hsl_test(capsys, "t.test.yaml", "--format", "junit")
    root = _check_junit(out)
    assert root.find("testsuite/testcase").get("name") == "bell \\x07 here"


def test_trace_shows_every_case(work, capsys):
    helo_file(work, "- run: {ehlo: a.example}\n  expect: {decision: accept}\n")
    code, out, _ = hsl_test(capsys, "t.test.yaml", "--trace")
    assert code == 0
    assert "helo.hsl:14:1: decided: accept" in out


# -------------------------------------------------- selection, exit codes

def test_run_selects_cases_and_a_scenario_runs_up_to_them(work, capsys):
    (work / "c.hsl").write_text(COUNTER)
    write(work, "c.test.yaml", """\
        script: c.hsl
        hook: helo
        cases:
          - {name: alone, run: {}, expect: {output: [count 1]}}
          - scenario: s
            cases:
              - {name: one, run: {}, expect: {output: [count 1]}}
              - {name: two, run: {}, expect: {output: [count 2]}}
              - {name: three, run: {}, expect: {output: [count 3]}}
        """)
    code, out, _ = hsl_test(capsys, "c.test.yaml", "--run", "s::two$")
    assert code == 0, out
    assert [line.split(" (")[0] for line in out.splitlines()] == [
        "PASS  c.test.yaml::s::two", "1 passed, 0 failed"]
    code, out, _ = hsl_test(capsys, "c.test.yaml", "--run", "alone|three")
    assert code == 0 and out.count("PASS") == 2


def test_fail_on_empty(work, capsys):
    helo_file(work, "- run: {ehlo: a.example}\n")
    code, out, err = hsl_test(capsys, "t.test.yaml", "--run", "nothing")
    assert (code, out) == (0, "no test cases found\n")
    code, out, err = hsl_test(capsys, "t.test.yaml", "--run", "nothing", "--fail-on-empty")
    assert code == 1
    assert err == "hsl: error: no test cases found matching --run (--fail-on-empty)\n"
    (work / "empty").mkdir()
    code, _, err = hsl_test(capsys, "empty", "--fail-on-empty")
    assert code == 1 and "no test cases found (--fail-on-empty)" in err


def test_usage_errors_are_exit_2(work, capsys):
    code, _, err = hsl_test(capsys, "no/such/path")
    assert code == 2 and err == "hsl: error: no/such/path: no such file or directory\n"
    code, _, err = hsl_test(capsys, ".", "--run", "(")
    assert code == 2 and "--run '(': not a valid regex" in err
    with pytest.raises(SystemExit) as exit:
        hsl_test(capsys, ".", "--format", "xml")
    assert exit.value.code == 2 and "invalid choice: 'xml'" in capsys.readouterr().err


def test_the_command_line_exit_codes(work):
    """As a process: 0 passed, 1 failed, 2 invalid (no Python traceback anywhere)."""
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    helo_file(work, "- run: {ehlo: a.example}\n  expect: {decision: accept}\n",
              name="ok.test.yaml")
    helo_file(work, "- run: {ehlo: a.example}\n  expect: {decision: reject}\n",
              name="no.test.yaml")
    (work / "bad.test.yaml").write_text("cases: {}\n")
    for name, status in (("ok.test.yaml", 0), ("no.test.yaml", 1), ("bad.test.yaml", 2)):
        r = subprocess.run([sys.executable, "-m", "hsl", "test", name], capture_output=True,
                           env=env, cwd=work, timeout=60)
        assert r.returncode == status, r.stdout + r.stderr
        assert b"Traceback" not in r.stderr


# ------------------------------------------------------------------ the docs

def _doc_test_files():
    """(name, folder under examples/, text) of each test file docs/testing.md shows: a
    ```yaml block whose first line names it (`# NAME.test.yaml, beside examples/...` or
    `# NAME.test.yaml (examples/FOLDER/)`)."""
    import re
    page = os.path.join(os.path.dirname(PROJECT), "..", "..", "..", "docs", "testing.md")
    with open(page, encoding="utf-8") as f:
        text = f.read()
    for body in re.findall(r"^```yaml\n(.*?)^```", text, re.S | re.M):
        head = re.match(r"# (\S+\.test\.yaml)(?: \((examples/\S*)\))?", body)
        if head:
            folder = (head.group(2) or "examples/")[len("examples/"):]
            yield head.group(1), folder, body


DOC_FILES = list(_doc_test_files())


def test_the_docs_show_test_files():
    assert len(DOC_FILES) >= 3


@pytest.mark.parametrize("name,folder,text", DOC_FILES, ids=[d[0] for d in DOC_FILES])
def test_the_docs_test_files_pass(tmp_path, monkeypatch, capsys, name, folder, text):
    import shutil
    examples = os.path.join(os.path.dirname(PROJECT), "..", "..", "..", "examples")
    shutil.copytree(examples, tmp_path / "examples")
    monkeypatch.chdir(tmp_path / "examples" / folder)
    (tmp_path / "examples" / folder / name).write_text(text)
    code, out, err = hsl_test(capsys, name)
    assert code == 0, out + err


def test_mocks_of_every_kind_through_hsl_test(work, capsys):
    """A test file's http, time, random, memory and plugins mocks reach its scripts; a
    case's mocks replace the file's kind by kind."""
    (work / "p.hsl").write_text(
        'echo http("https://api.example/score?ip=" . $connection["remoteip"]);\n'
        'echo strftime("%Y-%m-%d", time());\n'
        'echo memory_fetch("seen") ?? "none";\n'
        'echo plugin_lookup("x");\n'
        'Accept();\n')
    (work / "t.test.yaml").write_text(
        "script: p.hsl\nhook: helo\n"
        "mocks:\n"
        "  http: {'https://api.example/score*': {body: '5'}}\n"
        "  time: {frozen: '2026-01-02T03:04:05Z'}\n"
        "  memory: {seen: 'yes'}\n"
        "  plugins: {functions: {plugin_lookup: {min_args: 1, max_args: 1, result: ok}}}\n"
        "cases:\n"
        "  - name: file mocks\n"
        "    run: {ehlo: a.example}\n"
        "    expect: {decision: accept, output: ['5', '2026-01-02', 'yes', ok]}\n"
        "  - name: the case's http\n"
        "    run: {ehlo: a.example}\n"
        "    mocks: {http: {'https://api.example/score*': {body: '9'}}}\n"
        "    expect: {output: ['9', '2026-01-02', 'yes', ok]}\n")
    code, out, err = hsl_test(capsys, "t.test.yaml")
    assert code == 0, out + err
    assert "2 passed" in out


def test_plugins_mocks_belong_to_the_file(work, capsys):
    (work / "t.test.yaml").write_text(
        "script: helo.hsl\nhook: helo\ncases:\n"
        "  - run: {ehlo: a.example}\n"
        "    mocks: {plugins: {functions: {f: {result: 1}}}}\n")
    code, out, err = hsl_test(capsys, "t.test.yaml")
    assert code == 2
    assert "t.test.yaml:5:13: plugins: mocks belong to the whole test file" in err


def test_every_case_starts_from_the_same_random_sequence(work, capsys):
    """The random source is part of a case's clean state: isolated cases draw the same
    values, a scenario's cases go on with one sequence, a random: mock reseeds."""
    import json
    (work / "r.hsl").write_text('echo uuid();\nAccept();\n')
    (work / "t.test.yaml").write_text(
        "script: r.hsl\nhook: helo\ncases:\n"
        "  - run: {ehlo: a.example}\n"
        "  - run: {ehlo: a.example}\n"
        "  - scenario: two in a row\n"
        "    cases:\n"
        "      - run: {ehlo: a.example}\n"
        "      - run: {ehlo: a.example}\n"
        "  - run: {ehlo: a.example}\n"
        "    mocks: {random: {seed: 7}}\n")
    code, out, err = hsl_test(capsys, "--format", "json", "t.test.yaml")
    assert code == 0, err
    got = [c["actual"]["output"][0] for c in json.loads(out)["cases"]]
    assert got[0] == got[1] == got[2]           # each from the start of the sequence
    assert got[3] != got[2]                     # the scenario's second draw
    assert got[4] not in got[:4]                # its own seed
