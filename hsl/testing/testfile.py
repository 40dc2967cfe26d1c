"""Loading a test file of `hsl test` (docs/testing.md has the format) into a Suite: the
scripts under test, and the cases, each checked (its settings, its session, its
expectations, its mocks) so that running it cannot find the file wrong.  Anything wrong
is an InvalidTestFile whose message starts with FILE:LINE:COL of the YAML node at
fault.

    script: policy.hsl          # the script under test: one hook (hook: PHASE) or a plain
    hook: helo                  #   script (no hook:); or hooks: {phase: file}; or
                                #   project: DIR (+ serverid: ID)
    settings: {remoteip: 203.0.113.5, dns: {...}, plugins: plugins.yaml}
    mocks: {dns: {...}}         # per file, and per case (hsl/testing/mocks.py)
    scenario: false             # true: the cases share state, in order
    cases:
      - name: rejects a literal
        run: {ehlo: "[192.0.2.1]"}          # one run of the hook (or: a session file)
        expect: {decision: reject, code: 554}
      - session: [ehlo: x.example, {mail: a@b.example, expect: {code: 250}}]
      - eod: {message: message.eml, mail_from: a@b.example, rcpt_to: [c@d.example]}
      - entry: {sender: a@b.example, recipient: c@d.example, attempt: {...}}
        hook: postdelivery                  # one queue hook on a queued copy
      - pickup: entry.yaml                  # predelivery, the attempt, postdelivery
      - scenario: rate limit    # a group of cases that share state, in order
        cases: [...]

`legacy_suite` reads the older fixture layout, `examples/sessions/<policy>/`, as a Suite
(hsl/testing/discover.py finds it).
"""
from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from typing import Optional

from ..hooks import delivery
from ..hooks import session as one_command
from ..hooks import steps
from ..hooks.phases import QUEUE_PHASES
from ..inputs import read_located
from ..queue.spool import copy_batch
from . import expect as E
from .mocks import Mocks, mocks_for, mocks_of
from .node import InvalidTestFile, Node

FILE_KEYS = ("script", "hook", "hooks", "project", "serverid", "settings", "mocks",
             "network", "scenario", "transportgroups", "cases")
CASE_KINDS = ("run", "session", "eod", "entry", "pickup")
QUEUE_KINDS = ("entry", "pickup")
# The hooks hsl test runs: a session's (SMTP) and a queued copy's.
TEST_PHASES = steps.SMTP_PHASES + QUEUE_PHASES
CASE_KEYS = ("name",) + CASE_KINDS + ("hook", "expect", "mocks", "network")
GROUP_KEYS = ("scenario", "cases", "mocks", "network")
# What the scripts compile with, besides the connection facts of settings:.
COMPILE_SETTINGS = ("plugins", "include")
# The connection facts of a one-command run (session.KEYS) and of a whole session
# (steps.SESSION_KEYS); settings: may give any of them, each case takes what it uses.
RUN_SETTINGS = tuple(sorted(one_command.KEYS - {"expect"}))
SESSION_SETTINGS = tuple(k for k in steps.SESSION_KEYS
                         if k not in ("steps", "hooks", "rcptto_domains", "expect"))
SETTINGS_KEYS = tuple(sorted(set(RUN_SETTINGS) | set(SESSION_SETTINGS))) + COMPILE_SETTINGS
_HOOK_LINE = re.compile(r"(?m)^// hook: ([a-z]+)\b")


@dataclass
class Scripts:
    """What a test file tests: hooks by phase (phase -> script path; with a project,
    project.Hook), or one plain script."""
    hooks: dict = field(default_factory=dict)
    rcptto_domains: dict = field(default_factory=dict)
    plain: Optional[str] = None
    include_paths: list = field(default_factory=list)
    plugins: object = None              # hsl.plugins.Plugins
    project: object = None              # hsl.project.Project, to close
    defaults: dict = field(default_factory=dict)    # facts a project's server sets
    transportgroups: list = field(default_factory=list)    # the queue cases' routing

    def default_phase(self, queue: bool = False) -> Optional[str]:
        """The only hook of the kind a case runs (SMTP, or with `queue` the queue's)."""
        found = [p for p in self.hooks if (p in QUEUE_PHASES) == queue]
        return found[0] if len(found) == 1 else None

    def smtp_hooks(self) -> dict:
        return {p: h for p, h in self.hooks.items() if p not in QUEUE_PHASES}

    def routing(self):
        from ..queue.schedule import Routing  # deferred: only for queue cases
        return Routing(self.transportgroups)


@dataclass
class Case:
    """One case of a test file, checked.  kind "run": one run of the hook `phase` (None:
    the plain script) with `hook_session`; kind "session": the whole `session`."""
    name: str
    where: str
    kind: str
    expect: dict                        # checked case expectations
    mocks: object                       # mocks.Mocks
    dns: Optional[dict] = None          # a settings/session dns: table
    phase: Optional[str] = None
    hook_session: object = None         # engine.HookSession (kind run)
    session: object = None              # steps.SessionFile (kind session)
    step_expects: dict = field(default_factory=dict)    # index -> checked (session)
    connection_id: Optional[str] = None     # as given (a scenario keys $context by it)
    has_context: bool = False           # the case sets $context itself
    group: Optional[str] = None         # the scenario it belongs to (None: isolated)
    suite: "Suite" = None
    expect_path: Optional[tuple] = None     # its own expect: in the test file (--update)
    # session: step index -> the path of the expect: that step is checked against, when
    # it is a mapping written in the test file itself (--update)
    step_expect_paths: dict = field(default_factory=dict)
    entry: object = None                # delivery.EntryView (kinds entry, pickup)
    entry_facts: dict = field(default_factory=dict)     # its attempt, action, context...
    inputs: list = field(default_factory=list)  # files it reads (an entry file; --watch)

    @property
    def id(self) -> str:
        """The name reports and --run use: FILE::[SCENARIO::]NAME."""
        parts = [self.suite.shown if self.suite else "?"]
        if self.group:
            parts.append(self.group)
        return "::".join(parts + [self.name])


@dataclass
class Suite:
    """A loaded test file (or a legacy session folder)."""
    path: str
    shown: str                          # its name in reports
    scripts: Scripts
    cases: list = field(default_factory=list)

    def close(self) -> None:
        if self.scripts.project is not None:
            self.scripts.project.close()


# --------------------------------------------------------------------- files

def load(path: str) -> Suite:
    """Read and check a test file.  InvalidTestFile for anything wrong in it."""
    try:
        value, pos = read_located(path, "test file")
    except ValueError as e:
        raise InvalidTestFile(str(e)) from None
    root = Node(value, pos)
    if value is None:
        raise InvalidTestFile(f"{path}:1:1: the test file is empty: give the script(s) "
                              "under test and cases:")
    if not isinstance(value, dict):
        root.fail("a test file is a mapping with the script(s) under test and cases:")
    for key in value:
        if key not in FILE_KEYS:
            root.fail(_unknown(key, FILE_KEYS, "a test file"), key, key=True)
    base = os.path.dirname(os.path.abspath(path))
    suite = Suite(path, _shown(path), Scripts())
    try:
        settings = _settings(root.get("settings"), base)
        suite.scripts = _scripts(root, base, settings)
        if "transportgroups" in value:
            if suite.scripts.project is not None:
                root.fail("transportgroups: a project: has its own (in its smtpd-app.yaml)",
                          "transportgroups", key=True)
            suite.scripts.transportgroups = _transportgroups(root.child("transportgroups"))
        file_mocks = mocks_for(root, None, base)    # (checked even when no case uses them)
        if file_mocks.plugins is not None:  # plugins are known when the scripts compile
            if suite.scripts.plugins is not None:
                root.child("mocks").fail("plugins: give them in settings: or in mocks:, "
                                         "not both", "plugins", key=True)
            suite.scripts.plugins = file_mocks.plugins
        loader = _Loader(suite, root, base, settings)
        cases = root.get("cases")
        if cases is None or not isinstance(cases.value, list):
            (cases or root).fail("cases: is a list of cases (run:, session: or eod:, "
                                 "with expect:)", *(() if cases else ("cases",)))
        scenario = root.get("scenario")
        if scenario is not None and type(scenario.value) is not bool:
            scenario.fail("scenario is true (the cases share state, in order) or false")
        whole = "" if scenario is not None and scenario.value else None
        for i in range(len(cases.value)):
            loader.entry(cases.child(i), whole)
        _unique(suite.cases)
    except BaseException:
        suite.close()
        raise
    return suite


def _shown(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _unknown(key, known, what: str) -> str:
    import difflib
    near = difflib.get_close_matches(str(key), known, 1)
    hint = f" (did you mean {near[0]}?)" if near else ""
    return f"{key!r} is not a key of {what}{hint}; the keys are: " + ", ".join(known)


def _unique(cases: list) -> None:
    seen: dict = {}
    for case in cases:
        if case.id in seen:
            raise InvalidTestFile(f"{case.where}: a second case named {case.name!r} "
                                  f"(the first: {seen[case.id]}); give each its own name:")
        seen[case.id] = case.where


@dataclass
class _Settings:
    node: Optional[Node]
    values: dict                        # the connection facts, paths made absolute
    dns: Optional[dict] = None
    plugins: object = None
    include: list = field(default_factory=list)


def _settings(node: Optional[Node], base: str) -> _Settings:
    if node is None or node.value is None:
        return _Settings(None, {})
    if not isinstance(node.value, dict):
        node.fail("settings is a mapping of connection facts (remoteip, ...), dns, "
                  "plugins and include")
    out = _Settings(node, {})
    for key in node.value:
        if key not in SETTINGS_KEYS:
            node.fail(_unknown(key, SETTINGS_KEYS, "settings"), key, key=True)
    if "plugins" in node.value:
        out.plugins = _plugins(node.child("plugins"), base)
    if "include" in node.value:
        out.include = [os.path.join(base, p) for p in
                       _paths(node.child("include"), "include")]
    facts = {k: v for k, v in node.value.items() if k not in COMPILE_SETTINGS}
    out.dns = _dns_table(node, facts.pop("dns")) if "dns" in facts else None
    out.values = _absolute(facts, base)
    # The facts only a whole session has: checked here, once (the others by each run).
    only_session = {k: v for k, v in out.values.items() if k not in RUN_SETTINGS}
    if only_session:
        _from_value({**only_session, "steps": []}, _Placed(node.pos, node.path, {}), base,
                    node.at())
    for key, value in out.values.items():
        if key in RUN_SETTINGS:
            _check_fact(node, key, value, base)
    return out


def _paths(node: Node, what: str) -> list:
    value = node.value
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(p, str) and p for p in items):
        node.fail(f"{what} is a path or a list of paths (relative to the test file)")
    return items


def _plugins(node: Node, base: str):
    from ..plugins import load_plugins  # deferred: the plugin reader only when named
    files = [os.path.join(base, p) for p in _paths(node, "plugins")]
    for f in files:
        if not os.path.isfile(f):
            node.fail(f"plugins: no such file {f}")
    try:
        return load_plugins(files)
    except ValueError as e:
        raise InvalidTestFile(str(e)) from None


def _dns_table(owner: Node, table) -> dict:
    # deferred: the dns builtins only for a dns: table
    from ..builtins.dnslookup import TableError, check_table
    try:
        return check_table(table)
    except TableError as e:
        owner.fail(f"dns: {e}", "dns", *e.path)


def _absolute(facts: dict, base: str) -> dict:
    """`facts` with the paths in them (a message, TLS certificates) made absolute, so
    that they mean the same merged with facts from another file."""
    out = dict(facts)
    if isinstance(out.get("message"), str):
        out["message"] = os.path.join(base, out["message"])
    tls = out.get("tls")
    if isinstance(tls, dict):
        tls = dict(tls)
        if isinstance(tls.get("peercert"), str):
            tls["peercert"] = os.path.join(base, tls["peercert"])
        if isinstance(tls.get("peerchain"), list):
            tls["peerchain"] = [os.path.join(base, p) if isinstance(p, str) else p
                                for p in tls["peerchain"]]
        out["tls"] = tls
    return out


def _check_fact(node: Node, key: str, value, base: str) -> None:
    try:
        one_command.build_session({key: value, "_base": base})
    except one_command.SessionError as e:
        node.fail(str(e), key)


# ------------------------------------------------------------------- scripts

def _scripts(root: Node, base: str, settings: _Settings) -> Scripts:
    given = [k for k in ("script", "hooks", "project") if k in root.value]
    if len(given) > 1:
        root.fail(f"give one of script:, hooks: and project:, not {' and '.join(given)}",
                  given[1], key=True)
    scripts = Scripts(plugins=settings.plugins, include_paths=list(settings.include))
    hook = root.get("hook")
    if hook is not None and "script" not in root.value:
        hook.fail("hook: goes with script: (it says which hook the script is)")
    if "serverid" in root.value and "project" not in root.value:
        root.fail("serverid: goes with project:", "serverid", key=True)
    if "script" in root.value:
        path = _script_path(root.child("script"), base)
        if hook is None:
            scripts.plain = path
        else:
            scripts.hooks[_phase(hook)] = path
    elif "hooks" in root.value:
        node = root.child("hooks")
        if not isinstance(node.value, dict) or not node.value:
            node.fail("hooks maps each phase to its script: {helo: helo.hsl, ...}")
        for phase in node.value:
            _phase(Node(phase, node.pos, node.path + (str(phase),)), key=True)
            scripts.hooks[phase] = _script_path(node.child(phase), base)
    elif "project" in root.value:
        _project(root, base, scripts)
    return scripts


def _phase(node: Node, key: bool = False) -> str:
    if node.value not in TEST_PHASES:
        node.fail(f"{node.value!r} is not a hook phase hsl test runs; the phases are: "
                  + ", ".join(TEST_PHASES), key=key)
    return node.value


def _transportgroups(node: Node) -> list:
    """transportgroups: as a project's smtpd-app.yaml has them (hooks.md §5): the queue
    cases' retry schedules, DSN transports and transports."""
    def mapping(n: Node, what: str) -> dict:
        if not isinstance(n.value, dict):
            n.fail(f"{what} is a mapping")
        return n.value

    def number(n: Node) -> None:
        if isinstance(n.value, bool) or not isinstance(n.value, int) or n.value < 0:
            n.fail("must be a whole number of at least 0")

    if not isinstance(node.value, list):
        node.fail("transportgroups is a list of groups ({id, retry: {count, intervals}, "
                  "dsn: {transport}, transports: [{id}]})")
    for i in range(len(node.value)):
        group = node.child(i)
        mapping(group, "a transport group")
        for key in group.value:
            if key not in ("id", "retry", "dsn", "transports", "connection", "session"):
                group.fail(_unknown(key, ("id", "retry", "dsn", "transports", "connection",
                                          "session"), "a transport group"), key, key=True)
        if not isinstance(group.value.get("id"), str) or not group.value["id"]:
            group.fail("a transport group needs an id (a string)",
                       *(("id",) if "id" in group.value else ()))
        retry = group.get("retry")
        if retry is not None:
            mapping(retry, "retry")
            if "count" in retry.value:
                number(retry.child("count"))
            intervals = retry.get("intervals")
            if intervals is not None:
                if not isinstance(intervals.value, list):
                    intervals.fail("intervals is a list of {interval: SECONDS, notify: "
                                   "true|false}")
                for j in range(len(intervals.value)):
                    step = intervals.child(j)
                    mapping(step, "an interval")
                    if "interval" not in step.value:
                        step.fail("needs an interval (seconds)")
                    number(step.child("interval"))
                    if not isinstance(step.value.get("notify", False), bool):
                        step.fail("must be true or false", "notify")
        dsn = group.get("dsn")
        if dsn is not None and not isinstance(mapping(dsn, "dsn").get("transport", ""), str):
            dsn.fail("must be a transport id", "transport")
        transports = group.get("transports")
        if transports is not None:
            if not isinstance(transports.value, list):
                transports.fail("transports is a list of {id: ...}")
            for j in range(len(transports.value)):
                t = transports.child(j)
                if not isinstance(mapping(t, "a transport").get("id"), str):
                    t.fail("a transport needs an id (a string)")
    return node.value


def _script_path(node: Node, base: str) -> str:
    if not isinstance(node.value, str) or not node.value:
        node.fail("give the script file (a path relative to the test file)")
    path = os.path.join(base, node.value)
    if not os.path.isfile(path):
        node.fail(f"no such script {node.value} ({path})")
    return path


def _project(root: Node, base: str, scripts: Scripts) -> None:
    from ..project import ProjectError, load_project    # deferred: only for project:
    node = root.child("project")
    if not isinstance(node.value, str) or not node.value:
        node.fail("project: is the project's directory (relative to the test file)")
    try:
        project = load_project(os.path.join(base, node.value))
    except ProjectError as e:
        node.fail(str(e))
    scripts.project = project
    wanted = root.get("serverid")
    servers = project.servers
    if wanted is not None:
        if wanted.value not in servers:
            wanted.fail(f"no server {wanted.value!r} in the project (servers: "
                        f"{', '.join(servers) or 'none'})")
        server = servers[wanted.value]
    elif len(servers) == 1 or "default" in servers:
        server = servers["default"] if "default" in servers else next(iter(servers.values()))
    else:
        node.fail(f"the project has several servers ({', '.join(servers)}): choose one "
                  "with serverid:")
    scripts.hooks = {p: h for p, h in server.hooks.items() if p in steps.SMTP_PHASES}
    scripts.hooks.update(project.queue_hooks)       # (one global pair, every server's)
    scripts.transportgroups = list(project.transportgroups)
    scripts.rcptto_domains = dict(server.rcptto_domains)
    scripts.include_paths += project.include_paths
    scripts.defaults = {"serverid": server.id}
    if server.transport is not None:
        scripts.defaults["transportid"] = server.transport
    if server.maxsize is not None:
        scripts.defaults["maxsize"] = server.maxsize


# --------------------------------------------------------------------- cases

class _Placed:
    """The positions of a mapping put together from parts of files: each top-level key
    is where the part that gave it has it; the others are under `path` of `pos`."""

    def __init__(self, pos, path: tuple, owners: dict):
        self.pos, self.path, self.owners = pos, tuple(path), owners

    def at(self, path, key: bool = False) -> str:
        path = tuple(path)
        if path and str(path[0]) in self.owners:
            pos, at = self.owners[str(path[0])]
            return pos.at(at + path[1:], key=key)
        return self.pos.at(self.path + path, key=key)


def _from_value(value: dict, pos, base: str, name: str):
    try:
        return steps.from_value(value, pos, base, name)
    except one_command.SessionError as e:
        raise InvalidTestFile(str(e)) from None


class _Loader:
    def __init__(self, suite: Suite, root: Optional[Node], base: str, settings: _Settings):
        self.suite, self.root, self.base, self.settings = suite, root, base, settings

    def entry(self, node: Node, group: Optional[str], group_node: Optional[Node] = None):
        """A case, or a scenario group of them."""
        if isinstance(node.value, dict) and "scenario" in node.value:
            if group is not None:
                node.fail("a scenario does not nest: its cases are cases "
                          "(run:, session: or eod:)", "scenario", key=True)
            for key in node.value:
                if key not in GROUP_KEYS:
                    node.fail(_unknown(key, GROUP_KEYS, "a scenario"), key, key=True)
            name = node.value["scenario"]
            if not isinstance(name, str) or not name:
                node.fail("scenario: names the group of cases that share state", "scenario")
            cases = node.get("cases")
            if cases is None or not isinstance(cases.value, list) or not cases.value:
                node.fail("a scenario has cases: (a list, run in order)",
                          *(("cases",) if cases else ()))
            for i in range(len(cases.value)):
                self.entry(cases.child(i), name, node)
            return
        self.suite.cases.append(self.case(node, group, group_node))

    def case(self, node: Node, group: Optional[str], group_node: Optional[Node]) -> Case:
        if not isinstance(node.value, dict):
            node.fail("a case is a mapping with one of run:, session:, eod:, entry:, "
                      "pickup: (and name:, expect:)")
        for key in node.value:
            if key not in CASE_KEYS:
                node.fail(_unknown(key, CASE_KEYS, "a case"), key, key=True)
        kinds = [k for k in CASE_KINDS if k in node.value]
        if len(kinds) != 1:
            node.fail("a case is one of run: (one run of the hook), session: (the steps "
                      "of a whole session), eod: (a message), entry: (a queue hook on a "
                      "queued copy) or pickup: (predelivery, the attempt, postdelivery)"
                      + (f", not {' and '.join(kinds)}" if kinds else ""))
        kind = kinds[0]
        if self.suite.scripts.plain is not None and kind != "run":
            node.fail(f"a plain script (no hook:) runs run: cases only, not {kind}:", kind,
                      key=True)
        name = node.value.get("name")
        if name is None:
            name = f"case {len(self.suite.cases) + 1}"
        elif not isinstance(name, (str, int, float)) or isinstance(name, bool):
            node.fail("name is the case's name (text)", "name")
        mocks = self._mocks(node, group_node)
        for owner in (group_node, node):    # scripts compile once per file, with its plugins
            m = owner.get("mocks") if owner is not None else None
            if m is not None and isinstance(m.value, dict) and "plugins" in m.value:
                m.fail("plugins: mocks belong to the whole test file (its scripts are "
                       "compiled once, with them)", "plugins", key=True)
        expect = node.get("expect")
        if kind == "session":
            if "hook" in node.value:
                node.fail("hook: is for a run: case (a session runs every hook)", "hook",
                          key=True)
            case = self.session_case(node.child("session"), expect)
        elif kind in QUEUE_KINDS:
            case = self.queue_case(node, kind, expect)
        else:
            case = self.run_case(node, kind, expect)
        case.name, case.where, case.mocks, case.group = str(name), node.at(), mocks, group
        case.suite = self.suite
        if expect is not None and isinstance(expect.value, dict):
            case.expect_path = expect.path
        return case

    def _mocks(self, node: Node, group_node: Optional[Node]):
        # the file's, a scenario's on top, the case's on top of both (kind by kind)
        return mocks_of([self.root, group_node, node], self.base)

    # ------------------------------------------------------------ one run

    def run_case(self, node: Node, kind: str, expect: Optional[Node]) -> Case:
        scripts = self.suite.scripts
        hook = node.get("hook")
        if kind == "eod":
            if hook is not None:
                hook.fail("an eod: case runs the eod hook; hook: is for run: cases")
            phase = "eod"
        elif hook is not None:
            phase = _phase(hook)
            if phase in QUEUE_PHASES:
                hook.fail(f"the {phase} hook runs on a queued copy: make the case entry: "
                          "(the copy) or pickup: (a whole pickup)")
        else:
            phase = scripts.default_phase()
            if phase is None and scripts.plain is None and scripts.hooks and \
                    not scripts.smtp_hooks():
                node.fail(f"the file's hooks ({', '.join(scripts.hooks)}) run on a queued "
                          "copy: make the case entry: (one hook) or pickup: (a whole "
                          "pickup)")
            if phase is None and scripts.plain is None:
                node.fail("say which hook this case runs (hook: PHASE): the file has "
                          + (f"several ({', '.join(scripts.hooks)})" if scripts.hooks
                             else "none"))
        if phase is not None and phase not in scripts.hooks:
            (hook or node).fail(f"the file has no {phase} hook to run (its hooks: "
                                f"{', '.join(scripts.hooks) or 'none'})")
        source = node.child(kind)
        return self.one_run(source, phase, expect, kind == "eod")

    def one_run(self, source: Node, phase: Optional[str], expect: Optional[Node],
                eod: bool = False) -> Case:
        """A run case from `source`: the mapping of its settings, or the name of a
        one-command session file (whose expect: the case's adds to)."""
        base = self.base
        file_expect = None
        if isinstance(source.value, str):
            if eod:                         # eod: FILE is the message
                source = Node({"message": source.value}, _Fixed(source.at()))
            else:
                source, base = self._referenced(source)
                if "steps" in source.value:
                    source.fail("this is a whole session (steps:): make the case "
                                "session: FILE")
                file_expect = source.get("expect")
        if phase is None:                   # a plain script: nothing to set
            if source.value not in (None, {}) and not (file_expect is not None and set(
                    source.value) == {"expect"}):
                source.fail("a plain script (no hook:) runs with nothing to set: run: {}")
            return Case("", "", "run", _expectations(file_expect, expect, E.PLAIN),
                        None, phase=None)
        value = source.value if source.value is not None else {}
        if not isinstance(value, dict):
            source.fail("give the run's settings as a mapping (verb, host, remoteip, "
                        "mail_from, ...) or a session file")
        allowed = one_command.KEYS - {"expect"} | ({"text"} if eod else set())
        for key in value:
            if key not in allowed and not (key == "expect" and file_expect is not None):
                source.fail(_unknown(key, sorted(allowed), "a run's settings"), key, key=True)
        settings = {k: v for k, v in {**self.suite.scripts.defaults,
                                      **self.settings.values}.items() if k in RUN_SETTINGS}
        own = _absolute({k: v for k, v in value.items() if k not in ("expect", "dns", "text")},
                        base)
        for key, v in own.items():
            _check_fact(source, key, v, base)
        settings.update(own)
        if eod and "text" in value:
            text = value["text"]
            if not isinstance(text, str):
                source.fail("text is the message, as text (lines end in CRLF when sent)",
                            "text")
            if "message" in value:
                source.fail("give message: (a file) or text:, not both", "text", key=True)
        dns = self.settings.dns
        if "dns" in value:
            dns = {**(dns or {}), **_dns_table(source, value["dns"])}
        try:
            hook_session = one_command.build_session({**settings, "_base": base})
        except one_command.SessionError as e:
            source.fail(str(e))
        if eod and "text" in value:
            hook_session.message = re.sub(r"\r?\n", "\r\n", value["text"]).encode(
                "utf-8", "surrogateescape")
        case = Case("", "", "run", _expectations(file_expect, expect, E.RUN), None,
                    dns=dns, phase=phase, hook_session=hook_session,
                    connection_id=settings.get("connection_id"),
                    has_context="context" in own)
        if case.connection_id is not None:
            case.connection_id = str(case.connection_id)
        return case

    # ------------------------------------------------------------ a queued copy

    def queue_case(self, node: Node, kind: str, expect: Optional[Node]) -> Case:
        """entry: (one queue hook, hook: which) or pickup: (predelivery, the attempt,
        postdelivery) on a queued copy: a fixture mapping or a file (a YAML fixture or a
        spool copy, as hsl run --entry takes them)."""
        scripts = self.suite.scripts
        hook = node.get("hook")
        queue_hooks = [p for p in scripts.hooks if p in QUEUE_PHASES]
        if kind == "pickup":
            if hook is not None:
                hook.fail("a pickup: runs both queue hooks; hook: is for an entry: case")
            if not queue_hooks:
                node.fail("the file has no predelivery or postdelivery hook to run")
            phase = "pickup"
        elif hook is not None:
            phase = _phase(hook)
            if phase not in QUEUE_PHASES:
                hook.fail(f"an entry: case runs a queue hook (predelivery, postdelivery), "
                          f"not {phase}")
            if phase not in scripts.hooks:
                hook.fail(f"the file has no {phase} hook to run (its hooks: "
                          f"{', '.join(scripts.hooks) or 'none'})")
        else:
            phase = scripts.default_phase(queue=True)
            if phase is None:
                node.fail("say which queue hook this case runs (hook: predelivery or "
                          "postdelivery): the file has "
                          + ("both" if queue_hooks else "none"))
        source = node.child(kind)
        view, facts = self._entry(source)
        inputs, fixture, base = [], source.value, self.base
        if isinstance(source.value, str):
            path = os.path.abspath(os.path.join(self.base, source.value))
            batch = copy_batch(path)
            inputs = [batch or path]
            fixture, base = None, os.path.dirname(path)
            if batch is None:
                try:
                    fixture = read_located(path, "queue entry")[0]
                except ValueError:
                    pass
        if isinstance(fixture, dict) and isinstance(fixture.get("message"), str):
            inputs.append(os.path.abspath(os.path.join(base, fixture["message"])))
        not_here = {"predelivery": ("attempt", "action", "expired", "context"),
                    "pickup": ("action", "expired", "context")}.get(phase, ())
        for key in not_here:
            if key in facts["given"]:
                where = source if isinstance(source.value, dict) else None
                message = (f"{key}: is the queue's own in a pickup (predelivery, then "
                           "the attempt's outcome, decide it)" if phase == "pickup" else
                           f"{key}: is for postdelivery (predelivery runs before the "
                           "attempt)")
                if where is not None:
                    where.fail(message, key, key=True)
                source.fail(message)
        checked = _expectations(None, expect, E.QUEUE if phase != "pickup" else E.PICKUP)
        return Case("", "", kind, checked, None, phase=phase, entry=view, entry_facts=facts,
                    inputs=inputs)

    def _entry(self, source: Node) -> tuple:
        if isinstance(source.value, str) and source.value:
            path = os.path.join(self.base, source.value)
            if not os.path.isfile(copy_batch(path) or path):   # (a copy: its batch file)
                source.fail(f"no such queue entry file {source.value} ({path})")
            try:
                return delivery.load_entry_file(path)
            except delivery.EntryFileError as e:
                raise InvalidTestFile(str(e)) from None
        if not isinstance(source.value, dict):
            source.fail("the queued copy: a mapping (sender, recipient, ...; docs/queue.md) "
                        "or the name of an entry file")
        try:
            return delivery.entry_from_fixture(
                source.value, lambda *sub, key=False: source.at(*sub, key=key), self.base)
        except delivery.EntryFileError as e:
            raise InvalidTestFile(str(e)) from None

    def _referenced(self, node: Node):
        """(the Node of a session file a case names, its directory)."""
        path = os.path.join(self.base, node.value)
        if not os.path.isfile(path):
            node.fail(f"no such session file {node.value} ({path})")
        try:
            value, pos = read_located(path, "session file")
        except ValueError as e:
            node.fail(str(e))
        ref = Node(value, pos)
        if not isinstance(value, dict):
            ref.fail("a session file is a mapping of settings")
        return ref, os.path.dirname(os.path.abspath(path))

    # ------------------------------------------------------------ a session

    def session_case(self, source: Node, expect: Optional[Node]) -> Case:
        """A session case: the steps (a list), a mapping with steps: and the facts, or
        the name of a whole-session file; the file's settings: under it."""
        base, owners = self.base, {}
        if isinstance(source.value, str):
            source, base = self._referenced(source)
            if "steps" not in source.value:
                source.fail("this is a one-command session file: make the case run: FILE "
                            "(or list its steps:)")
            value, placed_path = dict(source.value), ()
        elif isinstance(source.value, list):
            value = {"steps": source.value}
            owners["steps"] = (source.pos, source.path)
            placed_path = source.path
        elif isinstance(source.value, dict) and "steps" in source.value:
            value, placed_path = dict(source.value), source.path
        else:
            source.fail("session is the list of steps, a mapping with steps: (and the "
                        "connection's facts), or a whole-session file")
        merged = {}
        settings = self.settings
        for key, v in settings.values.items():
            if key in SESSION_SETTINGS and key not in value:
                merged[key] = v
                owners[key] = (settings.node.pos, settings.node.path + (key,))
        for key, v in self.suite.scripts.defaults.items():
            if key not in value and key not in merged:
                merged[key] = v
        merged.update(value)
        if settings.dns is not None:        # the file's table, the session's on top
            own = value.get("dns")
            if own is None:
                merged["dns"] = settings.dns
                owners["dns"] = (settings.node.pos, settings.node.path + ("dns",))
            elif isinstance(own, dict):
                merged["dns"] = {**settings.dns, **own}
        placed = _Placed(source.pos, placed_path, owners)
        session = _from_value(merged, placed, base, source.at())
        written = len(value["steps"]) if isinstance(value["steps"], list) else 0
        step_expects, step_paths = {}, {}
        in_file = not isinstance(source.value, str)     # (not a referenced session file)
        steps_path = source.path if isinstance(source.value, list) else \
            source.path + ("steps",)
        for step in session.steps:
            if step.expect is not None and step.index not in step_expects:
                step_expects[step.index] = E.step_expect(
                    Node(step.expect, placed, ("steps", step.index, "expect")))
                if in_file and isinstance(step.expect, dict):
                    step_paths[step.index] = steps_path + (step.index, "expect")
        file_expect = Node(value["expect"], placed, ("expect",)) if "expect" in value \
            else None
        checked = _expectations(file_expect, expect, E.SESSION)
        for index, want in checked.get("steps", {}).items():
            if not 0 <= index < written:
                (expect or file_expect).fail(f"steps: {index}: there is no such step (the "
                                             f"session has {written}: 0 to {written - 1})",
                                             "steps", str(index))
            step_expects[index] = want
            step_paths.pop(index, None)
            if expect is not None and isinstance(want, dict):
                step_paths[index] = expect.path + ("steps", str(index))
        return Case("", "", "session", checked, None, dns=session.dns, session=session,
                    step_expects=step_expects, step_expect_paths=step_paths,
                    connection_id=session.options.get("connection_id"),
                    has_context="context" in session.options)


def _expectations(file_expect: Optional[Node], case_expect: Optional[Node],
                  kind: str) -> dict:
    """The checked expectations of a case: those of the session file it names, with the
    case's own on top."""
    out = E.checked(file_expect, kind)
    out.update(E.checked(case_expect, kind))
    return out


# --------------------------------------------------------------- old layout

def legacy_suite(script: str, folder: str) -> Suite:
    """The fixtures of `examples/sessions/<policy>/` as a Suite: the script is
    `<policy>.hsl` beside `sessions/`, its hook the `// hook: PHASE` line in it
    (default helo); each `<case>.yaml` is a case (a one-command session file, or a whole
    session) named after the file, and each folder `<scenario>/` a scenario of its files
    in name order."""
    with open(script, encoding="utf-8", errors="replace") as f:
        found = _HOOK_LINE.search(f.read())
    phase = found.group(1) if found and found.group(1) in steps.SMTP_PHASES else "helo"
    suite = Suite(folder, _shown(folder), Scripts(hooks={phase: script}))
    loader = _Loader(suite, None, folder, _Settings(None, {}))
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        if os.path.isdir(path):
            files = [f for f in sorted(os.listdir(path)) if _is_session_file(f)]
            if not files:
                raise InvalidTestFile(f"{path}: an empty scenario (no session files)")
            for name in files:
                suite.cases.append(_legacy_case(loader, os.path.join(path, name), phase,
                                                entry))
        elif _is_session_file(entry):
            suite.cases.append(_legacy_case(loader, path, phase, None))
    return suite


def _is_session_file(name: str) -> bool:
    return name.endswith((".yaml", ".yml", ".json")) and not name.startswith(".")


def _legacy_case(loader: _Loader, path: str, phase: str, group: Optional[str]) -> Case:
    folder = os.path.dirname(path)
    sub = _Loader(loader.suite, None, folder, loader.settings)
    ref = Node(os.path.basename(path), _Fixed(path))
    ref_node, _ = sub._referenced(ref)
    if "steps" in ref_node.value:
        case = sub.session_case(ref, None)
    else:
        case = sub.one_run(ref, phase, None)
    case.name = os.path.splitext(os.path.basename(path))[0]
    case.where, case.group, case.suite = path, group, loader.suite
    case.mocks = Mocks()
    return case


class _Fixed:
    """Positions that are all one place (a file without positions, a value made up)."""

    def __init__(self, where: str):
        self.where = where

    def at(self, path, key: bool = False) -> str:
        return self.where


def copy_session(case: Case):
    """A fresh HookSession for one run of a run case (runs never share one)."""
    return copy.copy(case.hook_session)
