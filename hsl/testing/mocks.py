"""The mocks of a test file: what a case's scripts see of the world outside hsl.

THE SEAM (another part of issue 16 replaces this module; keep these names):

    mocks = mocks_for(file_node, case_node, base_dir)   # when the test file is loaded
    with mocks.installed():                            # around each run of the case
        ...

`file_node` is the Node (hsl/testing/node.py) of the whole test file's mapping and
`case_node` that of the case's mapping (None for a case without one, e.g. the legacy
session-folder layout).  Each may have `mocks:` (a mapping of mock kinds) and `network:`
(`allow`: the case may use the real network); a case's mocks are added on top of the
file's.  mocks_for raises node.InvalidTestFile ("FILE:LINE:COL: ...") for anything it
cannot use, so that a bad mock is a bad test file (exit 2), never a failure at run time.
`base_dir` is the test file's directory (paths in mocks are relative to it).

`Mocks.network` says whether the case may reach the network; the runner keeps DNS
offline (an empty table: every name is NXDOMAIN) unless it is true or a table is given.
`Mocks.installed()` puts the mocks in place for the duration of one run of the case and
takes them back after, whatever happens inside.

This version knows `dns:` only (the DNS table format of `--dns-table`, checked by
hsl.builtins.dnslookup.check_table; a case's names replace the file's).  The other kinds
the issue names are refused with "not supported yet".
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Optional

from .node import Node

# The mock kinds of the format; all but dns are still to come.
KINDS = ("dns", "http", "time", "memory", "random", "smtp", "plugins")
SUPPORTED = ("dns",)


@dataclass
class Mocks:
    dns: Optional[dict] = None          # a checked DNS table (check_table's), or None
    network: bool = False               # network: allow

    @contextlib.contextmanager
    def installed(self):
        """The mocks in place for one run (the DNS table as the resolver's backend)."""
        if self.dns is None:
            yield self
            return
        from ..net import dns as resolver  # deferred: only for a case with a dns: mock
        previous = resolver.backend()
        resolver.configure(resolver.MockBackend(self.dns))
        try:
            yield self
        finally:
            resolver.configure(previous)


def mocks_for(file_node: Optional[Node], case_node: Optional[Node], base_dir: str) -> Mocks:
    """The Mocks of a case: the file's `mocks:` with the case's on top, and `network:`."""
    mocks = Mocks()
    for owner in (file_node, case_node):
        if owner is None or not isinstance(owner.value, dict):
            continue
        network = owner.get("network")
        if network is not None:
            if network.value not in ("allow", "deny"):
                network.fail("network is allow or deny (the default: a test never "
                             f"touches the network), not {network.value!r}")
            mocks.network = network.value == "allow"
        node = owner.get("mocks")
        if node is None or node.value is None:
            continue
        if not isinstance(node.value, dict):
            node.fail("mocks is a mapping of mock kinds (" + ", ".join(KINDS) + ")")
        for kind in node.value:
            if kind not in KINDS:
                node.fail(f"{kind!r} is not a mock kind; the kinds are: " + ", ".join(KINDS),
                          kind, key=True)
            if kind not in SUPPORTED:
                node.fail(f"mocks: {kind}: not supported yet (this hsl mocks only: "
                          + ", ".join(SUPPORTED) + ")", kind, key=True)
        if "dns" in node.value:
            table = _dns(node.child("dns"))
            mocks.dns = {**(mocks.dns or {}), **table}
    return mocks


def _dns(node: Node) -> dict:
    # deferred: the dns builtins only for a dns: mock
    from ..builtins.dnslookup import TableError, check_table
    try:
        return check_table(node.value)
    except TableError as e:
        node.fail(f"dns: {e}", *e.path)
