"""Reading the YAML or JSON that users hand to hsl (session files, DNS tables, --context,
plugin files):
one reader, so that every such input reports its errors the same way, with file:line:col.

Inputs are bounded before they are turned into values: lists and mappings nest at most
MAX_DEPTH levels, and YAML aliases expand to at most MAX_ALIAS_VALUES values (a "billion
laughs" file is a few hundred bytes that alias its way to gigabytes; a recursive alias
would never end).  Beyond either bound the input is refused like one that does not parse.
"""
from __future__ import annotations

import re

from .syntax.sourcefile import read_source

MAX_DEPTH = 100
MAX_ALIAS_VALUES = 100_000


def read_yaml_or_json(path: str, what: str):
    """(value, text) of a YAML file, or a JSON one when the name ends in .json.
    ValueError with a message naming the file (and the position, when the parser gives
    one) when it cannot be read or parsed; `what` names the file in it ("DNS table")."""
    try:
        data = read_source(path)
    except OSError as e:
        raise ValueError(f"cannot read {what} {path}: {e.strerror}") from None
    text = data.decode("utf-8", "replace")
    return parse_yaml_or_json(text, path, path.endswith(".json")), text


def read_located(path: str, what: str):
    """(value, positions) of a YAML or JSON file as read_yaml_or_json reads it, where
    `positions` tells where each part of the value is (Positions.at), for errors about
    the content: "plugins.yaml:4:16: ...".  JSON files have no positions."""
    value, text = read_yaml_or_json(path, what)
    return value, Positions(path, None if path.endswith(".json") else text)


class Positions:
    """Where the parts of a YAML value are.  A part is named by its path from the top:
    mapping keys (as written) and list indexes, e.g. ("functions", "http_bulk", "result")."""

    def __init__(self, where: str, text):
        self.where = where
        self.values: dict = {}          # path -> (line, col) of the value
        self.keys: dict = {}            # path -> (line, col) of its key in the mapping
        if text:
            import yaml
            try:
                self._walk(yaml.compose(text, Loader=yaml.SafeLoader), (), yaml)
            except Exception:           # (parsed once already: no positions, then)
                pass

    def _walk(self, node, path: tuple, yaml) -> None:
        stack = [(node, path)]
        while stack:
            node, path = stack.pop()
            if node is None:
                continue
            self.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    sub = path + (str(k.value),)
                    self.keys[sub] = (k.start_mark.line + 1, k.start_mark.column + 1)
                    stack.append((v, sub))
            elif isinstance(node, yaml.SequenceNode):
                stack.extend((v, path + (i,)) for i, v in enumerate(node.value))

    def find(self, path, key: bool = False):
        """(line, col) of the part at `path` (of its key with key=True), or of the nearest
        enclosing part; None when nothing is known."""
        path = tuple(p if type(p) is int else str(p) for p in path)
        if key and path in self.keys:
            return self.keys[path]
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path)

    def at(self, path, key: bool = False) -> str:
        """The position "FILE:LINE:COL" of the part at `path` (see find); "FILE" when
        nothing is known."""
        found = self.find(path, key)
        return f"{self.where}:{found[0]}:{found[1]}" if found else self.where


def parse_yaml_or_json(text: str, where: str, is_json: bool):
    """The value of YAML or JSON `text`; ValueError with a message that starts with
    `where` (a file name, or an option such as "--context") when it does not parse or
    is beyond the bounds."""
    try:
        if is_json:
            import json
            _check_json(text)
            return json.loads(text)
        import yaml
        _check_yaml(text, yaml)
        return yaml.safe_load(text)
    except _TooBig as e:
        line = text.count("\n", 0, e.pos) + 1
        col = e.pos - text.rfind("\n", 0, e.pos)
        raise ValueError(f"{where}:{line}:{col}: {e.message}") from None
    except Exception as e:      # json.JSONDecodeError, yaml.YAMLError
        raise ValueError(_parse_error(where, e, is_json)) from None


class _TooBig(Exception):
    def __init__(self, message: str, pos: int):
        self.message, self.pos = message, pos


_DEEP = f"lists and mappings nested deeper than {MAX_DEPTH} levels"
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]')


def _check_json(text: str) -> None:
    depth = 0
    for m in _JSON_TOKENS.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise _TooBig(_DEEP, m.start())
        elif c in "]}":
            depth -= 1


def _check_yaml(text: str, yaml) -> None:
    """Nesting and alias expansion, from the parser's events (before any value exists)."""
    open_anchors: list = []     # (anchor, values before it) of each open list or mapping
    sizes: dict = {}            # anchor -> values it stands for
    total = aliased = 0
    for ev in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(ev, yaml.CollectionStartEvent):
            open_anchors.append((ev.anchor, total))
            total += 1
            if len(open_anchors) > MAX_DEPTH:
                raise _TooBig(_DEEP, ev.start_mark.index)
        elif isinstance(ev, yaml.CollectionEndEvent):
            anchor, before = open_anchors.pop()
            if anchor is not None:
                sizes[anchor] = total - before
        elif isinstance(ev, yaml.ScalarEvent):
            total += 1
            if ev.anchor is not None:
                sizes[ev.anchor] = 1
        elif isinstance(ev, yaml.AliasEvent):
            if any(a == ev.anchor for a, _ in open_anchors):
                raise _TooBig(f"alias *{ev.anchor} refers to a value that contains it",
                              ev.start_mark.index)
            n = sizes.get(ev.anchor, 1)     # (an unknown anchor: the loader reports it)
            total += n
            aliased += n
            if aliased > MAX_ALIAS_VALUES:
                raise _TooBig(f"aliases expand to more than {MAX_ALIAS_VALUES} values",
                              ev.start_mark.index)


def _parse_error(path: str, e: Exception, is_json: bool) -> str:
    if is_json:
        line, col = getattr(e, "lineno", None), getattr(e, "colno", None)
        msg = getattr(e, "msg", str(e))
        return f"{path}:{line}:{col}: not valid JSON: {msg}" if line else \
            f"{path}: not valid JSON: {msg}"
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    if mark is not None:
        return f"{path}:{mark.line + 1}:{mark.column + 1}: not valid YAML: {problem}"
    return f"{path}: not valid YAML: {problem}"
