"""Hook conformance files: `tests/hooks/<phase>.hsl`, chunks of hook scripts with their
session, echo output and decision inline (tests/hooks/README.md has the format).  One
test per chunk, with ids like `eod.hsl:12`."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hsl import HSLSyntaxError
from hsl.hooks.engine import compile_hook, run_hook
from hsl.hooks.session import build_session

HOOKS = Path(__file__).resolve().parent / "hooks"

SESSION_RE = re.compile(r"//\s*session:\s*(\{.*\})\s*$")
EXPECT_RE = re.compile(r"//\s*expect:(.*)$")
DECISION_RE = re.compile(r"//\s*decision:(.*)$")
ERROR_RE = re.compile(r"//\s*error:(.*)$")


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
    settings, expect, decision, error = {}, [], [], None
    for n, line in enumerate(lines, first + 1):
        if m := SESSION_RE.search(line):
            settings.update(json.loads(m.group(1)))
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
    result = run_hook(program, build_session(settings))
    assert result.output == expect
    assert result.human_lines() == decision
    if error is None:
        assert result.error is None, result.error
    else:
        line, fragment = error
        assert result.error is not None and result.where[1] == line, result.error
        assert fragment.lower() in result.error.lower()
