"""Hook conformance files: `tests/hooks/<phase>.hsl`, chunks of hook scripts with their
session (for the queue's phases: their queued copy), echo output and decision inline
(tests/hooks/README.md has the format).  One test per chunk, with ids like `eod.hsl:12`."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hsl import HSLSyntaxError
from hsl.hooks import delivery
from hsl.hooks.engine import compile_hook, run_hook
from hsl.hooks.phases import QUEUE_PHASES
from hsl.hooks.session import build_session
from hsl.runtime.values import from_python

HOOKS = Path(__file__).resolve().parent / "hooks"

SESSION_RE = re.compile(r"//\s*session:\s*(\{.*\})\s*$")
EXPECT_RE = re.compile(r"//\s*expect:(.*)$")
DECISION_RE = re.compile(r"//\s*decision:(.*)$")
ERROR_RE = re.compile(r"//\s*error:(.*)$")
ENTRY_RE = re.compile(r"//\s*entry:\s*(\{.*\})\s*$")
PRE_RE = re.compile(r"//\s*predelivery:(.*)$")

# The queued copy of a queue chunk, under what its `// entry:` lines give.
ENTRY = {"transaction": "T1", "queue": 0, "sender": "alice@example.com",
         "recipient": "bob@example.org", "transportid": "mx", "serverid": "inbound",
         "ts": 1767225600, "message_text": "Subject: hi\r\n\r\nhello\r\n"}


def _chunks():
    for path in sorted(HOOKS.glob("*.hsl")):
        lines = path.read_text().split("\n")
        start = 0
        for i, line in enumerate(lines + ["---"]):
            if line == "---":
                yield pytest.param(path, start, lines[start:i], id=f"{path.name}:{start + 1}")
                start = i + 1


def _text(m) -> str:
    text = m.group(1)
    return text[1:] if text.startswith(" ") else text


@pytest.mark.parametrize("path,first,lines", list(_chunks()))
def test_hook_chunk(path, first, lines):
    settings, expect, decision, error, fixture, before = {}, [], [], None, dict(ENTRY), []
    for n, line in enumerate(lines, first + 1):
        if m := SESSION_RE.search(line):
            settings.update(json.loads(m.group(1)))
        elif m := ENTRY_RE.search(line):
            fixture.update(json.loads(m.group(1)))
        elif m := PRE_RE.search(line):
            before.append(_text(m))
        elif m := EXPECT_RE.search(line):
            expect.append(_text(m))
        elif m := DECISION_RE.search(line):
            decision.append(_text(m))
        elif m := ERROR_RE.search(line):
            error = (n, _text(m))
    assert decision, "a chunk states its decision"
    source = "\n" * first + "\n".join(lines) + "\n"     # line N of the chunk is line N
    try:
        program = compile_hook(path.stem, source, str(path))
    except HSLSyntaxError as e:
        pytest.fail(f"does not compile: {e.message}")
    if path.stem in QUEUE_PHASES:
        return _queue_chunk(path, program, fixture, before, expect, decision, error)
    result = run_hook(program, build_session(settings))
    assert result.output == expect
    assert result.human_lines() == decision
    if error is None:
        assert result.error is None, result.error
    else:
        line, fragment = error
        assert result.error is not None and result.where[1] == line, result.error
        assert fragment.lower() in result.error.lower()


def _queue_chunk(path, program, fixture, before, expect, decision, error):
    """A chunk of predelivery.hsl or postdelivery.hsl on its queued copy; a postdelivery
    chunk's `// predelivery:` lines run first as that hook, on the same copy, as a pickup
    runs them: their $context and SetMetaData() go on to the chunk."""
    view, facts = delivery.entry_from_fixture(fixture, lambda *a, **k: "<entry>", ".")
    if path.stem == "predelivery":
        d = delivery.run_predelivery(program, view)
    else:
        context = from_python(facts["context"]) if facts["context"] is not None else None
        if before:
            pre = delivery.run_predelivery(
                compile_hook("predelivery", "\n".join(before), "pre.hsl"), view)
            assert pre.error is None, pre.error
            context = pre.context
            if pre.metadata is not None:
                view.metadata = dict(pre.metadata)
        attempt = facts["attempt"]
        d = delivery.run_postdelivery(program, view,
                                      from_python(attempt) if attempt else None,
                                      action=facts["action"], expired=facts["expired"],
                                      context=context)
    assert d.output == expect
    assert delivery.decision_lines(path.stem, d) == decision
    if error is None:
        assert d.error is None, d.error
    else:
        line, fragment = error
        assert d.error is not None and d.where[1] == line, d.error
        assert fragment.lower() in d.error.lower()
