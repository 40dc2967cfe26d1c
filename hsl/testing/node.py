"""A part of a loaded test file and where it is, for messages that name the YAML node at
fault ("x.test.yaml:12:9: ...").  Every stage of `hsl test` reports a bad test file
through InvalidTestFile, never a traceback."""
from __future__ import annotations


class InvalidTestFile(ValueError):
    """A test file that cannot be used; the message starts with FILE:LINE:COL (or FILE).
    `hsl test` exits 2 for it."""


class Node:
    """`value`, a part of a YAML (or JSON) file loaded with inputs.read_located, at `path`
    (mapping keys as text and list indexes) in that file; `pos` is the file's Positions
    (anything with its `at(path, key=)`)."""

    __slots__ = ("value", "pos", "path")

    def __init__(self, value, pos, path: tuple = ()):
        self.value, self.pos, self.path = value, pos, tuple(path)

    def at(self, *sub, key: bool = False) -> str:
        """"FILE:LINE:COL" of this node, or of the part `sub` below it (of its key with
        key=True)."""
        return self.pos.at(self.path + tuple(_part(s) for s in sub), key=key)

    def child(self, *sub) -> "Node":
        """The node of the part `sub` below this one (it must exist)."""
        value, path = self.value, self.path
        for s in sub:
            # (Positions names mapping keys by their text, list items by their index.)
            path += (str(s) if isinstance(value, dict) else s,)
            value = value[s]
        return Node(value, self.pos, path)

    def get(self, key) -> "Node | None":
        """The node under mapping key `key`, or None when there is none."""
        if isinstance(self.value, dict) and key in self.value:
            return self.child(key)
        return None

    def fail(self, message: str, *sub, key: bool = False):
        raise InvalidTestFile(f"{self.at(*sub, key=key)}: {message}")


def _part(s):
    # Positions names mapping keys by their text and list items by their index.
    return s if type(s) is int else str(s)
