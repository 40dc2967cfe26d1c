"""`hsl test --update`: rewrite the `expect:` of failing cases to what they did, in the
test file's own text.

Only the values of the expectations that failed are replaced (and an `error:` added
when a case failed on a script error it did not expect), each at its YAML node's
position, so comments, key order and the formatting of everything else stay as written.
A value keeps its style: a block list stays a block list at its indentation, a flow
value or a scalar is written in flow style on its line.  What cannot be rewritten this
way is reported, not guessed: an expectation of each queued copy (its headers,
metadata, `copies:`; the copies' count and their lists of recipients, senders and
transports are rewritten), one of a step that sends several RCPTs with a list of
expectations, or one that comes from a session file the case names.  A step's own
`expect:` (on the step, or under the case's `expect: {steps: {N: ...}}`) is rewritten
like a case's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from .expect import _LOCATION, EXPECT_KEYS, _jsonable

# The expectations a failure's actual value can replace (the others are descriptions
# of copies or steps: "<3 copies>").
UPDATABLE = tuple(k for k in EXPECT_KEYS if k not in ("queued", "metadata", "steps"))
# Of the queued copies' expectations: their count (`queued: N`, `queued: {count: N}`) and
# the lists of their recipients, senders and transports.
QUEUED = ("queued", "queued recipients", "queued senders", "queued transportids")


@dataclass
class Updated:
    """What --update did to one test file."""
    path: str
    cases: list = field(default_factory=list)       # names of the cases rewritten
    skipped: list = field(default_factory=list)     # (case id, why) not rewritten


def update(results: list) -> list:
    """Rewrite the test files of the failing `results` (runner.CaseResult); the Updated
    of each file touched or left alone."""
    by_file: dict = {}
    for r in results:
        if r.status == "FAIL":
            by_file.setdefault(r.case.suite.path, []).append(r)
    return [_update_file(path, failed) for path, failed in by_file.items()]


def _update_file(path: str, failed: list) -> Updated:
    done = Updated(path)
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    edits = []                          # (start, end, new text)
    for r in failed:
        case = r.case
        why = _why_not(r)
        targets: dict = {}              # expect path -> its mismatches
        if why is None:
            for m in r.mismatches:
                where = case.step_expect_paths.get(m.step) if m.step is not None \
                    else case.expect_path
                targets.setdefault(where, []).append(m)
            for where in targets:
                if not isinstance(_node_at(root, where), yaml.MappingNode):
                    why = "its expect: is not a mapping in the test file"
        if why is not None:
            done.skipped.append((case.id, why))
            continue
        mine = []                       # this case's edits: all of them, or none
        for where, mismatches in targets.items():
            expect = _node_at(root, where)
            keys = {k.value: (k, v) for k, v in expect.value}
            for m in mismatches:
                if m.key in QUEUED:
                    mine.append(_queued_edit(text, keys, m))
                    continue
                value = _jsonable(m.actual)
                if m.key == "error" and isinstance(value, str):    # (survives moved lines)
                    value = _LOCATION.sub("", value, count=1)
                if m.key in keys:
                    mine.append(_replaced(text, *keys[m.key], value))
                else:                   # (an unexpected script error: expect it)
                    mine.append(_added(text, expect, m.key, value))
        if None in mine:
            done.skipped.append((case.id, "queued: its copies' expectations are not written "
                                 "as a count or lists of recipients, senders or transports"))
            continue
        edits += mine
        done.cases.append(case.name)
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    if edits:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return done


def _why_not(r) -> "str | None":
    """Why a failing case cannot be rewritten, or None."""
    queue_case = r.case.kind in ("entry", "pickup")
    for m in r.mismatches:
        if m.key in QUEUED and (m.key != "queued" or m.note == "count"):
            pass
        elif queue_case and m.key.startswith("dsn "):
            return f"{m.key}: the parts of a DSN are not rewritten"
        elif queue_case and m.key == "metadata":
            pass                        # (the entry's metadata: one mapping, rewritable)
        elif m.key not in UPDATABLE:
            return (f"{m.key}: the expectations of each queued copy (headers, metadata, "
                    "copies:) are not rewritten")
        if m.step is not None:
            if m.step not in r.case.step_expect_paths:
                return (f"{m.label}: its expect: is not a mapping of its own in the test "
                        "file (a session file's, or one of a list of RCPTs')")
        elif m.label not in ("", "session"):
            return f"{m.label}: " + ("a pickup's hook expectations are not rewritten"
                                     if queue_case else
                                     "this step's expectations are not rewritten")
        elif r.case.expect_path is None:
            return "it has no expect: mapping of its own in the test file"
    return None


def _queued_edit(text: str, keys: dict, m):
    """The edit of a queued-copies expectation that failed: its count, or its list of
    recipients, senders or transports; None when the file does not say it that way."""
    if "queued" not in keys:
        return None
    key, node = keys["queued"]
    if m.key == "queued":
        count = len(m.actual) if isinstance(m.actual, list) else 0
        if isinstance(node, yaml.ScalarNode):
            return _replaced(text, key, node, count)
        target = "count"
        value = count
    else:
        target = m.key.split(" ", 1)[1]
        value = _jsonable(m.actual)
    if not isinstance(node, yaml.MappingNode):
        return None
    inner = {k.value: (k, v) for k, v in node.value}
    if target not in inner:
        return None
    return _replaced(text, *inner[target], value)


def _node_at(root, path: tuple):
    node = root
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if str(k.value) == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            return None
    return node


def _end(text: str, node) -> int:
    """Where the value of `node` ends: a block collection's end mark is past the
    comments that follow it, so it ends where its last item does."""
    while isinstance(node, (yaml.SequenceNode, yaml.MappingNode)) and not node.flow_style \
            and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    end = node.end_mark.index
    while end > node.start_mark.index and text[end - 1] in " \t\r\n":
        end -= 1
    return end


def _replaced(text: str, key, node, value) -> tuple:
    """The edit that puts `value` in the place of `node` (the value of `key`): block
    style where the node was a block collection (indented at its column), flow style
    otherwise (on the key's line)."""
    end = _end(text, node)
    block = isinstance(node, (yaml.SequenceNode, yaml.MappingNode)) and not node.flow_style
    if not block:
        return (node.start_mark.index, end, flow(value))
    if isinstance(value, (list, dict)) and value:
        dumped = yaml.safe_dump(value, default_flow_style=False, sort_keys=False,
                                allow_unicode=True, width=10 ** 9).rstrip("\n")
        indent = " " * node.start_mark.column
        newline = "\r\n" if "\r\n" in text else "\n"
        return (node.start_mark.index, end, (newline + indent).join(dumped.split("\n")))
    colon = text.index(":", key.end_mark.index) + 1     # (a scalar: on the key's line)
    return (colon, end, " " + flow(value))


def flow(value) -> str:
    """`value` on one line, in YAML flow style (a scalar as YAML writes it)."""
    dumped = yaml.safe_dump([value], default_flow_style=True, sort_keys=False,
                            allow_unicode=True, width=10 ** 9).strip()
    return dumped[1:-1]                 # ([value] so a scalar is written inline)


def _added(text: str, mapping, key: str, value) -> tuple:
    """The edit that adds `key: value` to `mapping` (flow: before its `}`; block: a line
    after its last entry, at its keys' column)."""
    if mapping.flow_style:
        end = mapping.end_mark.index - 1            # at the closing brace
        sep = ", " if mapping.value else ""
        return (end, end, f"{sep}{key}: {flow(value)}")
    last_key, last_value = mapping.value[-1]
    at = _end(text, last_value)
    indent = " " * last_key.start_mark.column
    newline = "\r\n" if "\r\n" in text else "\n"
    return (at, at, f"{newline}{indent}{key}: {flow(value)}")
