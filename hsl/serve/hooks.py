"""The hooks of one `hsl serve` server: every phase's compiled script, and the rcptto
scripts per recipient domain, built from file names by one function, `load_hooks()`,
whatever names them (`--hook PHASE=FILE`, `--helo FILE`, `--rcptto-domain DOMAIN=FILE`, or
a Halon project).

    hooks = load_hooks({"helo": "helo.hsl", "eod": "eod.hsl"},
                       {"example.com": "rcpt-example.hsl"},
                       include_paths=["lib"], plugins=None)

It compiles every file and returns a HookSet, or raises ScriptLoadError naming every file
that failed with its diagnostics (file:line:col): a server starts, or reloads, with all of
its hooks or none.  A HookSet is the conversation's HookTable (hsl/hooks/conversation.py)
whose programs are Hook objects: the compiled program, its file, its phase and the gate
that decides whether its next run is tried on the event loop (hsl/serve/policy.py).
`files()` lists every file the hooks read (the scripts and what they include), for
--watch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from ..errors import HSLSyntaxError
from ..hooks.conversation import HookTable
from ..hooks.engine import compile_hook
from ..hooks.phases import SMTP_PHASES
from ..syntax.sourcefile import read_source_text



class ScriptLoadError(Exception):
    """One or more hook files could not be read or compiled; str() says which and why."""


class InlineGate:
    """Whether to try a hook's next run on the event loop: yes while most tries finish
    there.  When most are preempted (the script sleeps, reads files, or is slow) runs go
    straight to a worker, with one try every PROBE_EVERY runs to notice when that changes.
    A try that finished but overran the slice by far (a long builtin call, which the slice
    cannot interrupt) sends runs to workers at once."""

    PROBE_EVERY = 32
    WEIGHT = 0.2

    def __init__(self):
        self.preempted_rate = 0.0        # moving average over recent tries
        self.skipped = 0

    def should_try(self) -> bool:
        if self.preempted_rate < 0.5:
            return True
        self.skipped += 1
        if self.skipped >= self.PROBE_EVERY:
            self.skipped = 0
            return True
        return False

    def record(self, preempted: bool) -> None:
        self.preempted_rate += (float(preempted) - self.preempted_rate) * self.WEIGHT

    def overran(self) -> None:
        self.preempted_rate = 1.0


@dataclass
class Hook:
    """One compiled hook script."""
    phase: str
    path: str
    program: object
    gate: InlineGate = field(default_factory=InlineGate)


class HookSet(HookTable):
    """The hooks of a server: phase -> Hook, and rcptto's Hook per recipient domain."""

    def __init__(self, programs: Optional[dict] = None,
                 rcptto_domains: Optional[dict] = None):
        super().__init__(programs, rcptto_domains)

    def hooks(self) -> list:
        return list(self.programs.values()) + list(self.rcptto_domains.values())

    def files(self) -> list:
        """Every file the hooks read: the scripts, then what they include and import."""
        out: list = []
        for hook in self.hooks():
            for name in [hook.path, *(getattr(hook.program, "sources", None) or {})]:
                if name not in out and os.path.exists(name):
                    out.append(name)
        return out

    def describe(self) -> str:
        """The phases served, for the log ("helo eod rcptto[example.com]")."""
        names = list(self.programs)
        names += [f"rcptto[{d}]" for d in self.rcptto_domains]
        return " ".join(names) or "none"


def compile_file(path: str, phase: str = "helo", include_paths=(), plugins=None,
                 roots=None):
    """The program of the hook script at `path` for `phase`; ScriptLoadError when it
    cannot be read or does not compile."""
    try:
        source = read_source_text(path)
    except OSError as e:
        raise ScriptLoadError(f"cannot read {path}: {e.strerror}") from None
    try:
        return compile_hook(phase, source, path, include_paths=include_paths,
                            roots=list(roots) if roots is not None else [os.getcwd()],
                            plugins=plugins)
    except HSLSyntaxError as e:
        raise ScriptLoadError(e.render()) from None


def load_hooks(phases: dict, rcptto_domains: Optional[dict] = None, *,
               include_paths=(), plugins=None, roots=None) -> HookSet:
    """Compile every hook: `phases` maps an SMTP phase to its script's path,
    `rcptto_domains` a recipient domain to the path of its rcptto script (tried before the
    phase's own).  `include_paths` (-I) and `roots` (where includes may reach; default
    the working directory) and `plugins` (hsl.plugins.Plugins) are the compiler's.
    Raises ScriptLoadError with every failure (and ValueError for a phase that is not an
    SMTP one): all the hooks load, or none."""
    for phase in phases:
        if phase not in SMTP_PHASES:
            raise ValueError(f"{phase!r} is not an SMTP hook phase (one of "
                             f"{', '.join(SMTP_PHASES)})")
    wanted = [(phase, path, None) for phase, path in phases.items()]
    wanted += [("rcptto", path, domain.lower())
               for domain, path in (rcptto_domains or {}).items()]
    programs, domains, failures = {}, {}, []
    for phase, path, domain in wanted:
        try:
            program = compile_file(path, phase, include_paths, plugins, roots)
        except ScriptLoadError as e:
            failures.append(str(e))
            continue
        hook = Hook(phase, path, program)
        if domain is None:
            programs[phase] = hook
        else:
            domains[domain] = hook
    if failures:
        raise ScriptLoadError("\n".join(failures))
    return HookSet(programs, domains)



class ServerHooks:
    """The hooks of every server of a Halon project: server id -> HookSet, loaded (and
    reloaded) as one, so that a reload swaps every server's hooks or none."""

    def __init__(self, sets: dict, project=None):
        self.sets = sets
        self.project = project          # kept: a packed one's private file area lives on

    def server(self, serverid: str) -> HookSet:
        return self.sets[serverid]

    def program(self, phase: str):
        return None                     # (each connection asks its server's HookSet)

    def files(self) -> list:
        """The project's YAML files and every file the hooks read (a packed
        configuration's hooks are copies of it: the configuration is what changes)."""
        out: list = []
        if self.project is not None:
            out += [f for f in (self.project.config, self.project.startup)
                    if f and os.path.exists(f)]
            if self.project.packed:
                return out
        for hooks in self.sets.values():
            out += [f for f in hooks.files() if f not in out]
        return out

    def describe(self) -> str:
        return "; ".join(f"{sid}: {hooks.describe()}" for sid, hooks in self.sets.items())


def load_project_hooks(load, serverids, *, include_paths=(), plugins=None) -> ServerHooks:
    """Every SMTP hook of the servers `serverids` of the project `load()` reads (a
    hsl.project.Project; read again on every reload, so edits to its YAML are seen):
    ScriptLoadError when the project no longer loads or any hook fails."""
    # deferred: YAML and the project reader only for --project/--config
    from ..project import ProjectError
    try:
        project = load()
    except ProjectError as e:
        raise ScriptLoadError(str(e)) from None
    sets, failures = {}, []
    paths = list(include_paths) + project.include_paths
    roots = [project.root, os.getcwd()]
    for sid in serverids:
        server = project.servers.get(sid)
        if server is None:
            failures.append(f"{project.config}: server {sid} is gone")
            continue
        phases = {phase: hook.path for phase, hook in server.hooks.items()
                  if phase in SMTP_PHASES}
        domains = {domain: hook.path for domain, hook in server.rcptto_domains.items()}
        try:
            sets[sid] = load_hooks(phases, domains, include_paths=paths, plugins=plugins,
                                   roots=roots)
        except ScriptLoadError as e:
            failures.append(str(e))
    if failures:
        raise ScriptLoadError("\n".join(failures))
    return ServerHooks(sets, project)
