"""hsl test --update (hsl/testing/update.py): a wrong expect: fails with a diff, --update
rewrites the failing values in the file's own text (comments, order and the rest of its
formatting stay), and the next run passes."""
from __future__ import annotations

import textwrap

import pytest

from hsl_test_helpers import clean_memory, hsl_test, working_folder  # noqa: F401


HELO = """\
if ($arguments["host"] == "mail.example.com") Accept();
if ($arguments["host"] == "broken.example") { $x = none; $x->foo(); }
Reject("Go away " . $arguments["host"]);
"""

# Every case but "right" is wrong; "a step" cannot be rewritten (a step's expect:).
TEST_FILE = """\
# tests of the HELO policy (this comment stays)
script: helo.hsl
hook: helo
cases:
  # a block mapping, a block list
  - name: block
    run: {ehlo: mail.example.com}
    expect:
      decision: reject      # this comment stays
      code: 250             # right: untouched
      output:
        - wrong
        - lines
      # a comment after the list stays
  - name: flow
    run: {helo: bad.example}
    expect: {decision: accept, code: 550, reply: nope}   # and this one
  - name: unexpected error
    run: {helo: broken.example}
    expect:
      decision: defer
  - name: right
    run: {helo: other.example}
    expect: {code: 554, reply: Go away other.example}
"""

UPDATED = """\
# tests of the HELO policy (this comment stays)
script: helo.hsl
hook: helo
cases:
  # a block mapping, a block list
  - name: block
    run: {ehlo: mail.example.com}
    expect:
      decision: accept      # this comment stays
      code: 250             # right: untouched
      output: []
      # a comment after the list stays
  - name: flow
    run: {helo: bad.example}
    expect: {decision: reject, code: 554, reply: Go away bad.example}   # and this one
  - name: unexpected error
    run: {helo: broken.example}
    expect:
      decision: defer
      error: cannot call method foo() on a none (type error)
  - name: right
    run: {helo: other.example}
    expect: {code: 554, reply: Go away other.example}
"""


@pytest.fixture
def work(tmp_path, monkeypatch):
    return working_folder(tmp_path, monkeypatch, {"helo.hsl": HELO})



def test_update_rewrites_the_failing_values_and_keeps_the_rest(work, capsys):
    path = work / "t.test.yaml"
    path.write_text(TEST_FILE)
    code, out, err = hsl_test(capsys, "t.test.yaml")
    assert code == 1
    assert "FAIL  t.test.yaml::block" in out
    assert '      decision\n        expected: "reject"\n        actual:   "accept"' in out
    assert path.read_text() == TEST_FILE            # (only --update writes)

    code, out, err = hsl_test(capsys, "t.test.yaml", "--update")
    assert code == 0, out + err
    assert "updated t.test.yaml: 3 case(s): block, flow, unexpected error" in err
    assert path.read_text() == UPDATED

    code, out, err = hsl_test(capsys, "t.test.yaml")
    assert code == 0, out + err
    assert out.splitlines()[-1].startswith("4 passed, 0 failed")


def test_a_block_list_stays_a_block_list(work, capsys):
    path = work / "t.test.yaml"
    path.write_text(textwrap.dedent("""\
        script: helo.hsl
        hook: helo
        cases:
          - run: {helo: bad.example}
            expect:
              reply:
                - wrong
              code: 550
        """))
    code, out, err = hsl_test(capsys, "--update")
    assert code == 0, out + err
    assert path.read_text().endswith(
        "    expect:\n      reply:\n        - Go away bad.example\n      code: 554\n")
    assert hsl_test(capsys)[0] == 0


def test_a_steps_expect_is_rewritten_where_it_is_written(work, capsys):
    (work / "mailfrom.hsl").write_text('Reject("not you");\n')
    path = work / "t.test.yaml"
    text = textwrap.dedent("""\
        hooks: {helo: helo.hsl, mailfrom: mailfrom.hsl}
        cases:
          - name: steps
            session:
              - {command: "EHLO mail.example.com", expect: {code: 554}}   # on the step
              - mail: a@b.example
            expect:
              steps: {1: {code: 250}}     # under the case
        """)
    path.write_text(text)
    code, out, err = hsl_test(capsys, "--update")
    assert code == 0, out + err
    assert path.read_text() == text.replace("expect: {code: 554}}", "expect: {code: 250}}") \
        .replace("{1: {code: 250}}", "{1: {code: 554}}")
    assert hsl_test(capsys)[0] == 0


def test_what_cannot_be_rewritten_is_said_and_fails(work, capsys):
    (work / "mailfrom.hsl").write_text("Accept();\n")
    path = work / "t.test.yaml"
    session = ("    session:\n"
               "      - ehlo: mail.example.com\n"
               "      - mail: a@b.example\n"
               "      - rcpt: c@d.example\n"
               "      - data: {text: \"Subject: x\\n\\nhi\\n\"}\n")
    text = ("hooks: {helo: helo.hsl, mailfrom: mailfrom.hsl}\ncases:\n"
            "  - name: count\n" + session + "    expect: {queued: 2}\n"
            "  - name: recipients\n" + session
            + "    expect: {queued: {count: 3, recipients: [x@y.example]}}\n"
            "  - name: headers\n" + session + "    expect: {queued: {headers: {X-Tag: true}}}\n"
            "  - name: fixed\n    hook: helo\n    run: {helo: x.example}\n"
            "    expect: {code: 250}\n")
    path.write_text(text)
    code, out, err = hsl_test(capsys, "--update")
    assert code == 1
    assert "not updated t.test.yaml::headers: header X-Tag: the expectations of " \
        "each queued copy (headers, metadata, copies:) are not rewritten" in err
    assert "updated t.test.yaml: 3 case(s): count, recipients, fixed" in err
    assert path.read_text() == text.replace("{code: 250}", "{code: 554}") \
        .replace("{queued: 2}", "{queued: 1}") \
        .replace("{count: 3, recipients: [x@y.example]}", "{count: 1, recipients: [c@d.example]}")
