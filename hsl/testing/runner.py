"""Running the cases of a Suite (hsl/testing/testfile.py) and judging them
(hsl/testing/expect.py): one CaseResult per case, PASS, FAIL or ERROR.

Every script is compiled once per suite (Programs); a case is a run of compiled programs
against a fresh state.  Isolation: each case starts as a new server process would, with
an empty memory store and cache, metrics without values, the mail clock and boundary
seed as the environment sets them, an empty spool of its own (a temporary directory,
made when a copy is committed) and, unless its mocks allow the network, an offline DNS
(its table, or none: every name NXDOMAIN).  The cases of a scenario (`scenario: true`,
or a `scenario:` group) share that state in order instead: the memory store, the spool,
and `$context` per connection id (a case that names a `connection_id` and sets no
`context` starts with the `$context` the scenario's last case on that connection ended
with).

A case that fails is run again (its scenario from the start, in a fresh state) with
traced programs, for the trace its report shows; `trace=True` traces every case from the
start instead.  `compile_options` go to every compile (the seam for `--coverage`:
`coverage=` of hsl.coverage).
"""
from __future__ import annotations

import copy
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..builtins.server import metrics_zero
from ..errors import HSLRuntimeError, HSLSyntaxError
from ..hooks import steps
from ..hooks.conversation import HookTable
from ..hooks.engine import compile_hook, run_hook
from ..hooks.phases import QUEUE_PHASES
from ..mail import source as mail_source
from ..runtime import sources, store
from ..syntax.sourcefile import read_source_text
from . import expect as E

PASS, FAIL, ERROR = "PASS", "FAIL", "ERROR"


@dataclass
class CaseResult:
    case: object                        # testfile.Case
    status: str                         # PASS, FAIL, ERROR
    seconds: float
    mismatches: list = field(default_factory=list)      # expect.Mismatch
    message: Optional[str] = None       # ERROR: why the case could not run
    trace: list = field(default_factory=list)           # trace lines
    actual: object = None               # what the case did (JSON-able)


SEED = 0    # the random source every isolated case and scenario starts from


def fresh_state() -> None:
    """The state every isolated case (and every scenario) starts from."""
    store.reset()
    metrics_zero()
    mail_source.fix()


class Programs:
    """The compiled scripts of a suite, each compiled once (and once more with tracing
    when a trace is wanted).  HSLSyntaxError from get() for one that does not compile."""

    def __init__(self, scripts, compile_options: Optional[dict] = None):
        self.scripts = scripts
        self.options = dict(include_paths=scripts.include_paths, roots=[os.getcwd()],
                            plugins=scripts.plugins, **(compile_options or {}))
        self._compiled: dict = {}

    def get(self, phase: Optional[str], script, traced: bool):
        """The program of `script` (a path, or a project.Hook) as `phase`'s hook (None:
        a plain script)."""
        key = (phase, script if isinstance(script, str) else script.path, traced)
        program = self._compiled.get(key)
        if program is None:
            if isinstance(script, str):
                source, filename = read_source_text(script), _shown(script)
            else:
                source, filename = script.source, script.path
            if phase is None:
                from ..program import compile_program  # deferred: as compile_hook's
                program = compile_program(source, filename, predefined=set(),
                                          trace=traced, **self.options)
            else:
                program = compile_hook(phase, source, filename, trace=traced,
                                       **self.options)
            self._compiled[key] = program
        return program

    def warm(self, traced: bool) -> None:
        """Compile the file's scripts now; one that does not compile is left for the
        cases that run it to report."""
        scripts = [(None, self.scripts.plain)] if self.scripts.plain else []
        scripts += list(self.scripts.hooks.items())
        scripts += [("rcptto", s) for s in self.scripts.rcptto_domains.values()]
        for phase, script in scripts:
            try:
                self.get(phase, script, traced)
            except (HSLSyntaxError, OSError, UnicodeDecodeError):
                pass

    def hook_table(self, session, traced: bool) -> HookTable:
        """The hooks of a session case: the file's, and the session file's own for the
        phases the file has none of."""
        hooks = dict(session.hooks)
        hooks.update(self.scripts.smtp_hooks())     # (a session runs no queue hook)
        domains = dict(session.rcptto_domains)
        domains.update(self.scripts.rcptto_domains)

        def program(phase, script):
            return self.get(phase, script.path if isinstance(script, steps.HookSource)
                            else script, traced)
        return HookTable({p: program(p, s) for p, s in hooks.items()},
                         {d: program("rcptto", s) for d, s in domains.items()})


def _shown(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


class _Shared:
    """What the cases of one scenario share (or one isolated case has alone)."""

    def __init__(self):
        self.contexts: dict = {}        # connection id -> $context after its last case
        self.spool: Optional[str] = None

    def commit(self, copies) -> list:
        from ..queue import spool       # deferred: only a case that commits copies
        if self.spool is None:
            self.spool = tempfile.mkdtemp(prefix="hsl-test-spool-")
        try:
            return spool.write_copies(self.spool, copies)
        except spool.SpoolError as e:   # not committed: the client gets 451
            return str(e)

    def close(self) -> None:
        if self.spool is not None:
            shutil.rmtree(self.spool, ignore_errors=True)


class Runner:
    """Runs suites: `run(suite, selected)` -> [CaseResult] of the selected cases."""

    def __init__(self, *, trace: bool = False, compile_options: Optional[dict] = None,
                 limits: Optional[steps.Limits] = None):
        self.trace = trace
        self.compile_options = compile_options
        self.limits = limits or steps.Limits()
        self._programs: dict = {}           # id(suite) -> its Programs, compiled once

    def run(self, suite, selected: Callable = lambda case: True) -> list:
        programs = self._programs.get(id(suite))
        if programs is None or programs.scripts is not suite.scripts:
            programs = self._programs[id(suite)] = Programs(suite.scripts,
                                                            self.compile_options)
            programs.warm(self.trace)       # (compiling is not a case's time)
        results = []
        for group in _groups(suite.cases):
            chosen = [selected(c) for c in group]
            if not any(chosen):
                continue
            last = max(i for i, c in enumerate(chosen) if c)
            cases = group[:last + 1]        # (a scenario's earlier cases make its state)
            got = self._run_group(cases, programs, self.trace)
            if not self.trace and any(r.status == FAIL for r in got):
                again = self._run_group(cases, programs, True)
                for r, traced in zip(got, again):
                    if r.status == FAIL:
                        r.trace = focused_trace(traced.trace, r.mismatches)
            results += [r for r, c in zip(got, chosen) if c]
        return results

    def files(self, suite) -> set:
        """The files `suite`'s results depend on (absolute paths): the test file (a
        legacy layout: its folder's files), and every file its compiled programs read."""
        files = {os.path.abspath(suite.path)}
        if os.path.isdir(suite.path):
            for folder, _, names in os.walk(suite.path):
                files |= {os.path.abspath(os.path.join(folder, n)) for n in names}
        for case in suite.cases:
            files |= set(case.inputs)
        programs = self._programs.get(id(suite))
        for program in (programs._compiled.values() if programs else ()):
            files |= {os.path.abspath(p) for p in program.sources if not p.startswith("<")}
        return files

    def _run_group(self, cases: list, programs: Programs, traced: bool) -> list:
        """Run an isolated case, or a scenario's cases in order, from a fresh state."""
        shared = _Shared()
        # The same random sequence for every isolated case and scenario, and for the run
        # again with a trace (a `random:` mock reseeds its case on top).
        seeded = sources.use(None, SEED)
        try:
            fresh_state()
            return [self._run_case(case, programs, traced, shared) for case in cases]
        finally:
            sources.restore(seeded)
            shared.close()

    def _run_case(self, case, programs: Programs, traced: bool, shared: _Shared):
        start = time.perf_counter()
        try:
            with _installed(case):
                if case.kind == "session":
                    result = self._session(case, programs, traced, shared)
                elif case.kind in ("entry", "pickup"):
                    result = self._queue(case, programs, traced)
                elif case.phase is None:
                    result = self._plain(case, programs, traced)
                else:
                    result = self._hook_run(case, programs, traced, shared)
        except HSLSyntaxError as e:         # a script that does not compile: nothing ran
            result = CaseResult(case, ERROR, 0.0, message=e.render())
        except (OSError, UnicodeDecodeError) as e:
            result = CaseResult(case, ERROR, 0.0, message=f"cannot read a script: {e}")
        except Exception as e:              # never a traceback: the case is in error
            result = CaseResult(case, ERROR, 0.0,
                                message=f"internal error: {type(e).__name__}: {e}")
        result.seconds = time.perf_counter() - start
        return result

    def _hook_run(self, case, programs: Programs, traced: bool, shared: _Shared):
        session = copy.copy(case.hook_session)
        conn = case.connection_id
        if case.group is not None and conn is not None and not case.has_context \
                and conn in shared.contexts:
            session.context = shared.contexts[conn]
        program = programs.get(case.phase, programs.scripts.hooks[case.phase], traced)
        limits = self.limits
        result = run_hook(program, session, trace=traced, max_steps=limits.max_steps,
                          max_time=limits.max_time, max_depth=limits.max_depth,
                          max_memory=limits.max_memory)
        if conn is not None:
            shared.contexts[conn] = result.context
        got = result.to_json()
        if result.queued:
            got["stored"] = shared.commit(result.queued)
        mismatches = E.compare_run(case.expect, got, result.queued)
        trace = _trace_lines(result, program.sources) if traced else []
        return CaseResult(case, FAIL if mismatches else PASS, 0.0, mismatches, None,
                          trace, got)

    def _queue(self, case, programs: Programs, traced: bool):
        """An entry: or pickup: case (hsl/testing/queue.py)."""
        from . import queue as Q    # deferred: the queue's parts only for queue cases
        scripts = programs.scripts
        wanted = QUEUE_PHASES if case.phase == "pickup" else (case.phase,)
        compiled = {p: programs.get(p, scripts.hooks[p], traced)
                    for p in wanted if p in scripts.hooks}
        try:
            got, ran = Q.run_queue_case(case.phase, compiled, copy.copy(case.entry),
                                        case.entry_facts, scripts.routing(),
                                        limits=self.limits, trace=traced)
        except Q.NeedsAttempt as e:
            return CaseResult(case, ERROR, 0.0, message=str(e))
        mismatches = E.compare_queue(case.expect, got, case.phase)
        trace = []
        if traced:
            for d, program in ran:
                lines = _trace_lines(_Traced(d), program.sources)
                trace += lines if len(ran) == 1 else \
                    [f"{program.context}:"] + ["  " + line for line in lines]
        return CaseResult(case, FAIL if mismatches else PASS, 0.0, mismatches, None,
                          trace, got)

    def _plain(self, case, programs: Programs, traced: bool):
        program = programs.get(None, programs.scripts.plain, traced)
        output: list = []
        error = None
        limits = self.limits
        try:
            program.run(output=output.append, max_steps=limits.max_steps,
                        max_time=limits.max_time, max_depth=limits.max_depth,
                        max_memory=limits.max_memory, trace=traced)
        except HSLRuntimeError as e:
            error = f"{e.filename}:{e.line}:{e.column}: {e.message}"
        got = {"output": output, "error": error}
        mismatches = E.compare_run(case.expect, got, [])
        return CaseResult(case, FAIL if mismatches else PASS, 0.0, mismatches, None, [],
                          got)

    def _session(self, case, programs: Programs, traced: bool, shared: _Shared):
        hooks = programs.hook_table(case.session, traced)
        conn = case.connection_id
        context = None
        if case.group is not None and conn is not None and not case.has_context:
            context = shared.contexts.get(conn)
        results = steps.run(case.session, hooks, limits=self.limits, trace=traced,
                            commit=shared.commit, context=context)
        if conn is not None and results:
            shared.contexts[conn] = results[-1].context
        mismatches = E.compare_session(case.expect, case.step_expects, results)
        trace = _session_trace(results) if traced else []
        got = {"steps": [r.to_json() for r in results]}
        return CaseResult(case, FAIL if mismatches else PASS, 0.0, mismatches, None, trace,
                          got)


class _Traced:
    """A queue hook's decision as trace_lines reads a hook run's result."""

    def __init__(self, d):
        self.trace, self.where, self.decision = d.trace, d.where, d.action


def _session_trace(results: list) -> list:
    """The trace of a session: each step that ran a hook, then its hooks' traces."""
    out = []
    for r in results:
        lines = [line for run in r.runs
                 for line in _trace_lines(run.result, run.program.sources)]
        if lines:
            out += [E.step_label(r) + ":"] + ["  " + line for line in lines]
    return out


def focused_trace(trace: list, mismatches: list) -> list:
    """The part of a session's trace about the steps that failed (all of it when the
    session as a whole failed)."""
    labels = {m.label for m in mismatches}
    if not trace or "session" in labels or not trace[0].endswith(":"):
        return trace
    out, keep = [], False
    for line in trace:
        if not line.startswith("  "):
            keep = line[:-1] in labels
        if keep:
            out.append(line)
    return out or trace


def _trace_lines(result, sources) -> list:
    from ..cli import trace_lines       # (one rendering of a trace: hsl run --trace's)
    return trace_lines(result, sources)


def _installed(case):
    """The case's mocks in place for one run, with its DNS: a `dns:` mock, else the
    settings' table, else offline (an empty table: NXDOMAIN for every name) unless its
    mocks allow the network."""
    mocks = case.mocks
    if mocks.dns is None:
        if case.dns is not None:
            mocks.dns = case.dns
        elif not mocks.network:
            mocks.dns = {}
    return mocks.installed()


def _groups(cases: list) -> list:
    """The cases as they run: each isolated case alone, each scenario's together (in
    order)."""
    groups: list = []
    for case in cases:
        if case.group is not None and groups and groups[-1][0].group == case.group:
            groups[-1].append(case)
        else:
            groups.append([case])
    return groups
