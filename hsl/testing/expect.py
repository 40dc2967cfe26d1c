"""The `expect:` of `hsl test`: checked when a test file is loaded (`checked`), compared
with what a case did (`compare_run`, `compare_session`), and every difference described
as a Mismatch that reads as expected-versus-actual.

What may be expected, and of which kind of expectation, is one table: EXPECT_KEYS.
Values compare exactly (numbers by value, true/false only with booleans), except:

* `{regex: PATTERN}` anywhere a text is expected: Python's `re.search` in that text (for
  a list of lines, in the lines joined with newlines);
* `reply` and `output` given as one string: the lines joined with newlines;
* `enhanced` as "5.7.1" or [5, 7, 1];
* `error`: true (some script error), false or none (none), a string (the error's
  message, with or without its "file:line:col: "), or a regex;
* `queued`: a number (how many copies), a list (the copies in order), or a mapping of
  count, recipients, senders, transportids, headers, metadata and copies; a copy's
  `headers` map a header name to true (present), false (absent), or its value (a string
  or regex that one of its occurrences matches).
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Optional

from .node import Node

# Which expectations may say what: a run of one hook (or of a plain script), a step of a
# session, a whole session; a queue hook on a queued copy (an entry: case), a whole
# pickup, and one hook of a pickup (its predelivery: or postdelivery:).
RUN, PLAIN, STEP, SESSION = "run", "plain", "step", "session"
QUEUE, PICKUP, QHOOK = "queue", "pickup", "queue hook"
_R, _RS, _RSS, _ALL = {RUN}, {RUN, STEP}, {RUN, STEP, SESSION}, {RUN, PLAIN, STEP, SESSION}
_QH, _QO, _QALL = {QUEUE, QHOOK}, {QUEUE, PICKUP}, {QUEUE, PICKUP, QHOOK}
EXPECT_KEYS = {
    "decision": _RS | _QH, "code": _RS, "enhanced": _RS, "reply": _RS, "disconnect": _RS,
    "context": _RSS | _QH, "output": _ALL | _QALL, "error": _ALL | _QALL, "queued": _RSS,
    "metadata": _RSS | _QALL,
    # a queue hook's decision, and what the queue does with the entry after it
    "options": _QH, "action": _QO, "retry": _QO, "next_retry": _QO, "dsn": _QO,
    "predelivery": {PICKUP}, "postdelivery": {PICKUP},
    # what a run's decision leaves for later phases (engine.HookResult.facts)
    "host": _R, "extensions": _R, "remoteip": _R, "remoteptr": _R, "username": _R,
    "sender": _R, "recipient": _R, "transportid": _R | _QO, "next": _R,
    "command": {RUN, STEP},         # proxy: the command passed on; a step: its verb
    # a step's own (steps.StepResult.to_json)
    "ran": {STEP}, "phase": {STEP}, "argument": {STEP}, "proxied": {STEP}, "prompts": {STEP},
    "steps": {SESSION},             # a session's steps by index: {0: {...}, 3: {...}}
}
QUEUED_KEYS = ("count", "recipients", "senders", "transportids", "headers", "metadata",
               "copies")
COPY_KEYS = ("sender", "recipient", "transportid", "headers", "metadata", "hold", "jobid",
             "delay", "quotas", "size")
QUEUE_ACTIONS = ("delivered", "try", "queue", "hold", "bounce", "delete")
DSN_KEYS = ("action", "status", "to", "subject", "diagnostic", "transportid")


class Regex:
    """`{regex: PATTERN}` of a test file, compiled."""

    __slots__ = ("pattern", "compiled")

    def __init__(self, pattern: str):
        self.pattern, self.compiled = pattern, re.compile(pattern)

    def search(self, text) -> bool:
        if isinstance(text, list) and all(isinstance(t, str) for t in text):
            text = "\n".join(text)
        return isinstance(text, str) and self.compiled.search(text) is not None

    def __repr__(self):
        return f"{{regex: {self.pattern}}}"


# ------------------------------------------------------------------ loading

def checked(node: Optional[Node], kind: str) -> dict:
    """The expectations of `node` (an expect: mapping, or None) for a `kind` of case,
    with regexes compiled and short forms made long; InvalidTestFile for a key that
    does not apply or a value of the wrong form."""
    if node is None or node.value is None:
        return {}
    if not isinstance(node.value, dict):
        node.fail("expect is a mapping of what to check (decision, code, reply, ...)")
    out = {}
    for key in node.value:
        kinds = EXPECT_KEYS.get(key)
        if kinds is None:
            near = difflib.get_close_matches(str(key), EXPECT_KEYS, 1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            node.fail(f"unknown expectation {key!r}{hint}; the expectations are: "
                      + ", ".join(k for k in EXPECT_KEYS if kind in EXPECT_KEYS[k]),
                      key, key=True)
        if kind not in kinds:
            node.fail(f"{key} is not an expectation of {_KIND_TEXT[kind]}"
                      + (_WHERE_INSTEAD.get((key, kind), "")), key, key=True)
        out[key] = _CHECKERS.get(key, _plain)(node.child(key))
    return out


_KIND_TEXT = {RUN: "a hook run", PLAIN: "a plain script (output, error)",
              STEP: "a session step", SESSION: "a whole session",
              QUEUE: "a queue hook's case (entry:)", PICKUP: "a whole pickup (expect it "
              "of one hook under predelivery: or postdelivery:)",
              QHOOK: "one hook of a pickup"}
_WHERE_INSTEAD = {(k, SESSION): " (expect it on a step: on the step itself, or under "
                  "expect: steps: {INDEX: ...})" for k in EXPECT_KEYS if STEP in EXPECT_KEYS[k]}


def _plain(node: Node):
    """Any value; {regex: ...} anywhere in it becomes a Regex."""
    value = node.value
    if isinstance(value, dict):
        if "regex" in value:
            if len(value) != 1 or not isinstance(value["regex"], str):
                node.fail("a regex is {regex: PATTERN} (a string), alone in its mapping")
            try:
                return Regex(value["regex"])
            except re.error as e:
                node.fail(f"not a valid regex: {e}", "regex")
        return {k: _plain(node.child(k)) for k in value}
    if isinstance(value, list):
        return [_plain(node.child(i)) for i in range(len(value))]
    return value


def _typed(test, what: str):
    def check(node: Node):
        value = _plain(node)
        if not test(value):
            node.fail(f"{node.path[-1]} must be {what}, not {node.value!r}")
        return value
    return check


def _is_text(v) -> bool:
    return isinstance(v, (str, Regex))


def _lines(node: Node):
    value = _plain(node)
    if not (_is_text(value) or (isinstance(value, list) and all(_is_text(x) for x in value))):
        node.fail(f"{node.path[-1]} must be the text (its lines joined with newlines), a "
                  "list of lines (strings or {regex: ...}), or {regex: ...}")
    return value


def _enhanced(node: Node):
    value = node.value
    if isinstance(value, str) and re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", value):
        return [int(x) for x in value.split(".")]
    if value is None or (isinstance(value, list) and len(value) == 3 and all(
            type(x) is int for x in value)):
        return value
    node.fail(f"enhanced must be a code like 5.7.1 or [5, 7, 1] (or none), not {value!r}")


def _error(node: Node):
    value = _plain(node)
    if value is None or isinstance(value, (bool, str, Regex)):
        return value
    node.fail("error is true (a script error), false (none), its message, or {regex: ...}")


def _headers(node: Node) -> dict:
    if not isinstance(node.value, dict):
        node.fail("headers map a header name to true (present), false (absent), or its "
                  "value (a string or {regex: ...})")
    out = {}
    for name in node.value:
        value = _plain(node.child(name))
        if not (value is None or isinstance(value, bool) or _is_text(value)):
            node.fail(f"header {name}: true, false, or its value (a string or "
                      "{regex: ...})", name)
        out[str(name).lower()] = (str(name), value)
    return out


def _metadata(node: Node) -> dict:
    if not isinstance(node.value, dict):
        node.fail("metadata maps each key to its value (a string or {regex: ...})")
    return {str(k): _typed(_is_text, "a string or {regex: ...}")(node.child(k))
            for k in node.value}


def _copy(node: Node) -> dict:
    if not isinstance(node.value, dict):
        node.fail("a queued copy is a mapping of " + ", ".join(COPY_KEYS))
    out = {}
    for key in node.value:
        if key not in COPY_KEYS:
            node.fail(f"{key!r} is not a part of a queued copy; the parts are: "
                      + ", ".join(COPY_KEYS), key, key=True)
        sub = node.child(key)
        out[key] = _headers(sub) if key == "headers" else \
            _metadata(sub) if key == "metadata" else _plain(sub)
    return out


def _queued(node: Node) -> dict:
    value = node.value
    if type(value) is int and value >= 0:
        return {"count": value}
    if isinstance(value, list):
        return {"copies": [_copy(node.child(i)) for i in range(len(value))]}
    if not isinstance(value, dict):
        node.fail("queued is a number of copies, a list of copies, or a mapping of "
                  + ", ".join(QUEUED_KEYS))
    out = {}
    for key in value:
        if key not in QUEUED_KEYS:
            node.fail(f"{key!r} is not an expectation of queued; they are: "
                      + ", ".join(QUEUED_KEYS), key, key=True)
        sub = node.child(key)
        if key == "count":
            if type(sub.value) is not int or sub.value < 0:
                sub.fail(f"count must be a number of copies, not {sub.value!r}")
            out[key] = sub.value
        elif key == "headers":
            out[key] = _headers(sub)
        elif key == "metadata":
            out[key] = _metadata(sub)
        elif key == "copies":
            if not isinstance(sub.value, list):
                sub.fail("copies is a list of copies, in the order they were queued")
            out[key] = [_copy(sub.child(i)) for i in range(len(sub.value))]
        else:
            if not isinstance(sub.value, list):
                sub.fail(f"{key} is a list, one per copy in the order they were queued")
            out[key] = _plain(sub)
    return out


def _steps(node: Node) -> dict:
    if not isinstance(node.value, dict) or not all(type(k) is int for k in node.value):
        node.fail("steps maps a step's index (0: the first step written) to its "
                  "expectations")
    return {k: step_expect(node.child(k)) for k in node.value}


def step_expect(node: Optional[Node]):
    """The expectations of a session step (a mapping), or one per RCPT of a step that
    lists several (a list of mappings)."""
    if node is not None and isinstance(node.value, list):
        return [checked(node.child(i), STEP) for i in range(len(node.value))]
    return checked(node, STEP)


def _options(node: Node):
    if not isinstance(node.value, dict):
        node.fail("options map each of the decision's options to its value (all of them: "
                  "{} for none)")
    return _plain(node)


def _dsn(node: Node):
    value = node.value
    if value in (None, False):
        return None
    if not isinstance(value, dict):
        node.fail("dsn is false (no DSN is sent) or a mapping of " + ", ".join(DSN_KEYS))
    for key in value:
        if key not in DSN_KEYS:
            node.fail(f"{key!r} is not a part of a DSN; the parts are: "
                      + ", ".join(DSN_KEYS), key, key=True)
    out = _plain(node)
    if "status" in out and isinstance(out["status"], str) and \
            not re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", out["status"]):
        node.fail(f"status must be an enhanced status code like 5.1.1, not {out['status']!r}",
                  "status")
    return out


_CHECKERS = {
    "options": _options, "dsn": _dsn,
    "action": _typed(lambda v: v in QUEUE_ACTIONS, "one of " + ", ".join(QUEUE_ACTIONS)),
    "retry": _typed(lambda v: type(v) is int and v >= 0, "the retry counter (0 or more)"),
    "next_retry": _typed(lambda v: v is None or (type(v) in (int, float) and v >= 0),
                         "the seconds to the next attempt (or none)"),
    "predelivery": lambda node: checked(node, QHOOK),
    "postdelivery": lambda node: checked(node, QHOOK),
    "decision": _typed(lambda v: isinstance(v, str), "a decision name (accept, reject, "
                       "defer, ...)"),
    "code": _typed(lambda v: v is None or (type(v) is int and 200 <= v <= 599),
                   "a reply code (200-599) or none"),
    "enhanced": _enhanced, "reply": _lines, "output": _lines, "error": _error,
    "disconnect": _typed(lambda v: type(v) is bool, "true or false"),
    "ran": _typed(lambda v: type(v) is bool, "true or false"),
    "queued": _queued, "metadata": _metadata, "steps": _steps,
}


# ---------------------------------------------------------------- comparing

@dataclass
class Mismatch:
    """One expectation not met: `label` says of what (a step, or the case), `key` the
    expectation."""
    label: str
    key: str
    expected: object
    actual: object
    note: str = ""
    step: Optional[int] = None      # the index of the session step it is of, if one

    def lines(self) -> list:
        """The expected and the actual value one under the other, or for larger values
        a diff of their JSON text."""
        head = f"{self.label}: {self.key}" if self.label else self.key
        if self.note:
            head += f" ({self.note})"
        want, got = _shown(self.expected), _shown(self.actual)
        if "\n" not in want + got and len(want) <= 70 and len(got) <= 70:
            return [head, f"  expected: {want}", f"  actual:   {got}"]
        diff = difflib.unified_diff(want.splitlines(), got.splitlines(), "expected",
                                    "actual", n=2, lineterm="")
        return [head] + ["  " + line for line in diff]

    def to_json(self) -> dict:
        return {"label": self.label, "key": self.key, "expected": _jsonable(self.expected),
                "actual": _jsonable(self.actual), "note": self.note}


def _jsonable(v):
    if isinstance(v, Regex):
        return {"regex": v.pattern}
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _shown(v) -> str:
    if isinstance(v, str) and v.startswith("<") and v.endswith(">"):
        return v                                    # a description: <no script error>
    text = json.dumps(_jsonable(v), ensure_ascii=False)
    if len(text) > 70 and isinstance(v, (dict, list)):
        return json.dumps(_jsonable(v), ensure_ascii=False, indent=2)
    return text


def matches(expected, actual) -> bool:
    """Whether `actual` (a plain Python value) is what `expected` (a checked
    expectation) says."""
    if isinstance(expected, Regex):
        return expected.search(actual)
    if isinstance(expected, dict):
        return isinstance(actual, dict) and set(map(str, expected)) == set(map(str, actual)) \
            and all(matches(expected[k], _get(actual, k)) for k in expected)
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            matches(e, a) for e, a in zip(expected, actual))
    if type(expected) is bool or type(actual) is bool:
        return type(expected) is type(actual) and expected == actual
    return expected == actual


def _get(mapping: dict, key):
    if key in mapping:
        return mapping[key]
    return next(v for k, v in mapping.items() if str(k) == str(key))


def _text_lines(expected, lines: list) -> bool:
    if isinstance(expected, str):
        return "\n".join(lines) == expected
    return matches(expected, lines)


_LOCATION = re.compile(r"^.*?:\d+:\d+: ")


def _error_matches(expected, error: Optional[str]) -> bool:
    if expected is True:
        return error is not None
    if expected in (None, False):
        return error is None
    if error is None:
        return False
    if isinstance(expected, str):
        return expected in (error, _LOCATION.sub("", error, count=1))
    return expected.search(error)


def compare_run(expect: dict, got: dict, copies: list, label: str = "",
                error_expected: bool = False) -> list:
    """The Mismatches of one hook run (`got`: HookResult.to_json(), or a step's
    StepResult.to_json(); `copies`: its queued spool.Copy list).  A script error is a
    mismatch unless `expect` (or, with `error_expected`, the session) names it."""
    out = []
    for key, want in expect.items():
        if key in ("queued", "metadata"):
            out += _compare_copies(key, want, copies, label)
            continue
        actual = got.get(key)
        if key in ("reply", "output"):
            ok = _text_lines(want, actual or [])
        elif key == "error":
            ok = _error_matches(want, actual)
        else:
            ok = matches(want, actual)
        if not ok:
            if key in ("reply", "output") and isinstance(want, str):
                actual = "\n".join(actual or [])    # (shown as it was expected)
            out.append(Mismatch(label, key, want, actual))
    if got.get("error") is not None and "error" not in expect and not error_expected:
        out.append(Mismatch(label, "error", "<no script error>", got["error"],
                            "expect error: to make it part of the test"))
    return out


def compare_session(expect: dict, step_expects: dict, results: list) -> list:
    """The Mismatches of a whole session: each step's (`step_expects`: index -> checked
    expectations, or a list of them for the RCPTs of one step) and the session's."""
    out = []
    written = [r for r in results if not r.step.implicit]
    by_index: dict = {}
    for r in written:
        by_index.setdefault(r.step.index, []).append(r)
    expected_error = "error" in expect
    for index, rs in by_index.items():
        want = step_expects.get(index, {})
        wants = want if isinstance(want, list) else [want] * len(rs)
        for i, r in enumerate(rs):
            w = wants[i] if i < len(wants) else {}
            label = step_label(r)
            if i >= len(wants):
                out.append(Mismatch(label, "steps", f"<{len(wants)} RCPT expectations>",
                                    f"<{len(rs)} recipients>"))
                continue
            found = compare_run(w, r.to_json(), r.queued, label, expected_error)
            if not isinstance(want, list):      # (one RCPT of a list: not rewritable)
                for m in found:
                    m.step = index
            out += found
    for r in results:                   # the implicit connect and close
        if r.step.implicit and r.errors and not expected_error:
            out.append(Mismatch(step_label(r), "error", "<no script error>", r.errors[-1],
                                "expect error: to make it part of the test"))
    last = results[-1] if results else None
    copies = [c for r in results for c in r.queued]
    for key, want in expect.items():
        if key == "steps":
            continue
        if key in ("queued", "metadata"):
            out += _compare_copies(key, want, copies, "session")
        elif key == "context":
            actual = last.context if last is not None else None
            if not matches(want, actual):
                out.append(Mismatch("session", key, want, actual, "after the last step"))
        elif key == "output":
            actual = [line for r in results for line in r.output]
            if not _text_lines(want, actual):
                out.append(Mismatch("session", key, want, actual, "every step's"))
        elif key == "error":
            errors = [e for r in results for e in r.errors]
            actual = "\n".join(errors) if errors else None
            if not _error_matches(want, actual):
                out.append(Mismatch("session", key, want, actual, "any step's"))
    return out


def step_label(r) -> str:
    if r.step.implicit:
        return f"{r.step.name} (implicit)"
    shown = r.step.line if r.step.line is not None else r.step.name
    return f"step {r.step.index} {shown}"


# ------------------------------------------------------------------- copies

def copy_facts(copy) -> dict:
    """What the expectations of a queued copy see of it (its envelope, the options
    queue() was given, its size; headers read on demand)."""
    return {"sender": copy.sender, "recipient": copy.recipient,
            "transportid": copy.transportid, "metadata": dict(copy.metadata),
            "hold": copy.hold, "jobid": copy.jobid, "delay": copy.delay,
            "quotas": list(copy.quotas), "size": len(copy.message)}


def headers_of(copy) -> dict:
    """lowercase name -> [values] of a copy's header (unfolded, stripped)."""
    head = copy.message.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    out: dict = {}
    name = None
    for raw in re.split(rb"\r?\n", head):
        line = raw.decode("utf-8", "surrogateescape")
        if line[:1] in (" ", "\t") and name is not None:
            out[name][-1] += " " + line.strip()
            continue
        field, colon, value = line.partition(":")
        if not colon:
            name = None
            continue
        name = field.strip().lower()
        out.setdefault(name, []).append(value.strip())
    return out


def _header_matches(want, values: list) -> bool:
    if want is True:
        return bool(values)
    if want in (False, None):
        return not values
    if isinstance(want, str):
        return want in values
    return any(want.search(v) for v in values)


def _compare_copy(want: dict, copy, label: str) -> list:
    out = []
    facts = copy_facts(copy)
    for key, value in want.items():
        if key == "headers":
            out += _compare_headers(value, copy, label)
        elif key == "metadata":
            out += _compare_metadata(value, copy, label)
        elif not matches(value, facts[key]):
            out.append(Mismatch(label, key, value, facts[key]))
    return out


def _compare_headers(want: dict, copy, label: str) -> list:
    headers = headers_of(copy)
    out = []
    for lower, (name, value) in want.items():
        values = headers.get(lower, [])
        if not _header_matches(value, values):
            shown = "<absent>" if value in (False, None) else \
                "<present>" if value is True else value
            out.append(Mismatch(label, f"header {name}", shown,
                                values if values else "<absent>"))
    return out


def _compare_metadata(want: dict, copy, label: str) -> list:
    out = []
    for key, value in want.items():
        actual = copy.metadata.get(key)
        if actual is None or not matches(value, actual):
            out.append(Mismatch(label, f"metadata {key}", value,
                                actual if actual is not None else "<absent>"))
    return out


def _compare_copies(key: str, want, copies: list, label: str) -> list:
    prefix = f"{label}: " if label else ""
    if key == "metadata":
        if not copies:
            return [Mismatch(label, "metadata", want, "<no queued copies>")]
        return [m for i, c in enumerate(copies)
                for m in _compare_metadata(want, c, f"{prefix}queued copy {i}")]
    out = []
    count = want.get("count")
    if "copies" in want and count is None:
        count = len(want["copies"])
    if count is not None and count != len(copies):
        out.append(Mismatch(label, "queued", f"<{count} copies>",
                            [f"{c.sender or '<>'} -> {c.recipient}" for c in copies]
                            or "<no copies>", "count"))
    for key, part in (("recipients", "recipient"), ("senders", "sender"),
                      ("transportids", "transportid")):
        if key in want:
            actual = [getattr(c, part) for c in copies]
            if not matches(want[key], actual):
                out.append(Mismatch(label, f"queued {key}", want[key], actual))
    for i, c in enumerate(copies):
        where = f"{prefix}queued copy {i}"
        if "headers" in want:
            out += _compare_headers(want["headers"], c, where)
        if "metadata" in want:
            out += _compare_metadata(want["metadata"], c, where)
        if i < len(want.get("copies", ())):
            out += _compare_copy(want["copies"][i], c, where)
    return out


# ------------------------------------------------------------------ the queue

_HOOK_KEYS = ("decision", "options", "context", "output", "error", "metadata")


def compare_queue(expect: dict, got: dict, phase: str) -> list:
    """The Mismatches of a queue case (`got`: hsl.testing.queue.run_queue_case's
    result; `phase`: the hook of an entry: case, or "pickup").  A script error of either
    hook is a mismatch unless the expectations (the case's, or that hook's) name it."""
    out = []
    hooks = [p for p in ("predelivery", "postdelivery") if p in got]
    for key, want in expect.items():
        if key in ("predelivery", "postdelivery"):
            if key not in got:
                out.append(Mismatch(key, "ran", "<the hook ran>", "<not run>"))
                continue
            out += _compare_hook(want, got[key], key, "error" in expect)
        elif phase != "pickup" and key in _HOOK_KEYS and key != "metadata":
            out += _compare_hook({key: want}, got[phase], "", True)
        elif key == "output":
            actual = [line for p in hooks for line in got[p]["output"]]
            if not _text_lines(want, actual):
                out.append(Mismatch("", key, want, actual, "both hooks'"))
        elif key == "error":
            errors = [got[p]["error"] for p in hooks if got[p]["error"]]
            actual = "\n".join(errors) if errors else None
            if not _error_matches(want, actual):
                out.append(Mismatch("", key, want, actual, "either hook's"))
        elif key == "dsn":
            out += _compare_dsn(want, got.get("dsn"))
        elif not matches(want, got.get(key)):
            out.append(Mismatch("", key, want, got.get(key)))
    for p in hooks:
        sub = expect.get(p, {}) if phase == "pickup" else expect
        if got[p]["error"] is not None and "error" not in expect and "error" not in sub:
            out.append(Mismatch(p if phase == "pickup" else "", "error",
                                "<no script error>", got[p]["error"],
                                "expect error: to make it part of the test"))
    return out


def _compare_hook(want: dict, got: dict, label: str, error_expected: bool) -> list:
    out = []
    for key, value in want.items():
        actual = got.get(key)
        if key == "output":
            ok = _text_lines(value, actual or [])
            if not ok and isinstance(value, str):
                actual = "\n".join(actual or [])
        elif key == "error":
            ok = _error_matches(value, actual)
        else:
            ok = matches(value, actual)
        if not ok:
            out.append(Mismatch(label, key, value, actual))
    return out


def _compare_dsn(want, actual) -> list:
    if want is None:
        return [] if actual is None else [Mismatch("", "dsn", "<no DSN>", actual)]
    if actual is None:
        return [Mismatch("", "dsn", want, "<no DSN>")]
    return [Mismatch("", f"dsn {key}", value, actual.get(key))
            for key, value in want.items() if not matches(value, actual.get(key))]
