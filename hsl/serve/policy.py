"""The hooks of `hsl serve` at run time: compiled once at start (hsl/serve/hooks.py),
recompiled on SIGHUP or --watch (all of them; when one has errors the previous set keeps
serving), and run for any phase with a per-run deadline and memory limit.

Where a run happens: handing every run to a worker thread costs more than a typical hook
takes to run (a thread switch each way), so a run is first tried on the event loop
itself as a *speculative* run (runtime.SpeculativeExecution): it gets a short time slice
(--inline-slice, default 2 ms), a low call depth, and may not block (sleep, files,
syslog, barriers, a busy memory store, network I/O) or build very large values.
Reaching any of these preempts it: its echo output is dropped, and it is run again from
the start on a worker thread, where only the deadline and the step budget stop it; that
worker first takes back the try's memory_*, metrics_* and cache writes (taking them
back may wait for the memory store's lock, which the event loop must never do).  So the event loop is never held longer than about one slice
by a script, and a run that moves costs at most one slice of wasted work.  A hook whose
tries are mostly preempted goes straight to a worker (see hooks.InlineGate; each hook has
its own).  Every phase runs this way, and every decision is counted and logged once with
its phase."""
from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Callable, Optional, Union

from ..hooks.engine import HookResult, HookSession, run_hook, script_error_result
from ..runtime.execution import Preempted, start_script_thread
from .hooks import HookSet, InlineGate, ScriptLoadError, compile_file, load_hooks

__all__ = ["Policy", "ScriptRunner", "InlineGate", "ScriptLoadError", "compile_file"]

GRACE = 0.5      # seconds past the deadline before a blocked run is given up


def _log_fields(phase: str, session: HookSession, result: HookResult) -> dict:
    """What a decision's log line says of the command it answered, per phase (never a
    password, nor a proxy command line, which may carry AUTH credentials)."""
    if phase == "helo":
        return {"verb": session.verb, "host": session.host}
    if phase == "auth":
        auth = session.auth or {}
        return {"mechanism": auth.get("mechanism"), "username": auth.get("username")}
    if phase == "mailfrom":
        return {"sender": session.sender()[0]}
    if phase == "rcptto":
        return {"recipient": session.recipients()[-1][0]}
    if phase == "eod":
        return {"size": len(session.message or b""), "queued": len(result.queued)}
    if phase == "disconnect":
        return {"close": session.close}
    if phase == "proxy":
        return {"command": session.command.split(" ", 1)[0].upper()}
    return {}


class Policy:
    """Runs the server's hooks.  `hooks` is the function that (re)builds them (raising
    ScriptLoadError), or the path of a HELO script (`--helo FILE` alone)."""

    def __init__(self, hooks: Union[str, Callable[[], HookSet]], logger, metrics, *,
                 deadline: float = 5.0, max_steps: Optional[int] = 10_000_000,
                 workers: int = 32, inline_slice: float = 0.002, data_files: tuple = (),
                 on_reload=None, max_memory: Optional[int] = 256 << 20,
                 include_paths=(), plugins=None):
        if isinstance(hooks, str):
            path = hooks

            def hooks():
                return load_hooks({"helo": path}, include_paths=include_paths,
                                  plugins=plugins)
        self.load = hooks
        # Other files the server reads (a --dns-table), watched and re-read with the
        # hooks: on_reload() re-reads them, logging and keeping the old data on errors.
        self.data_files = list(data_files)
        self.on_reload = on_reload
        self.logger = logger
        self.metrics = metrics
        self.deadline = deadline
        self.max_steps = max_steps or None        # 0: no step budget (the deadline only)
        self.max_memory = max_memory or None      # 0: no per-run memory limit
        self.inline_slice = inline_slice          # 0: every run on a worker thread
        self.hooks: HookSet = self.load()         # raises ScriptLoadError
        self.stamp = self._stamp()
        self.runner = ScriptRunner(max_workers=workers, deadline=deadline + GRACE)
        self._reloading = False

    # ------------------------------------------------------------------ reload
    def _files(self) -> list:
        files = self.hooks.files()
        return files + [f for f in self.data_files if f not in files]

    def _stamp(self):
        out = []
        for name in self._files():
            try:
                st = os.stat(name)
                out.append((name, st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((name, None, None))
        return tuple(out)

    def changed(self) -> bool:
        return self._stamp() != self.stamp

    async def reload(self, why: str) -> bool:
        """Recompile every hook (off the event loop) and swap them all at once; keep the
        old ones, all of them, if any fails.  Connections already open keep the hooks they
        started with (one version per connection); new ones get the new set."""
        if self._reloading:
            return False
        self._reloading = True
        try:
            loop = asyncio.get_running_loop()
            stamp = self._stamp()
            if self.on_reload is not None:
                self.on_reload(why)
            try:
                hooks = await loop.run_in_executor(None, self.load)
            except (ScriptLoadError, ValueError) as e:
                self.stamp = stamp          # do not retry the same broken version
                self.metrics.reloads["failed"] += 1
                self.logger.error(f"reload failed, keeping the previous version:\n{e}",
                                  trigger=why)
                return False
            self.hooks = hooks
            self.stamp = self._stamp()
            self.metrics.reloads["ok"] += 1
            self.logger.info("script reloaded", hooks=hooks.describe(), trigger=why)
            return True
        finally:
            self._reloading = False

    async def watch(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            if self.changed():
                await self.reload("watch")

    # --------------------------------------------------------------------- run
    def _run(self, hook, session: HookSession, echo, rollback) -> HookResult:
        if rollback is not None:        # a preempted try's effects go before the run
            rollback()
        return run_hook(hook.program, session, max_steps=self.max_steps,
                        max_time=self.deadline, echo=echo, max_memory=self.max_memory,
                        phase=hook.phase)

    def _try_inline(self, hook, session: HookSession):
        """(result, None) of a speculative run on the event loop; (None, rollback) when it
        was preempted (rollback takes back its effects: call it off the loop); (None,
        None) when not tried."""
        gate = hook.gate
        if self.inline_slice <= 0 or not gate.should_try():
            return None, None
        start = time.perf_counter()
        try:
            result = run_hook(hook.program, session, max_steps=self.max_steps,
                              max_time=self.inline_slice, speculative=True,
                              time_limit=self.deadline, max_memory=self.max_memory,
                              phase=hook.phase)
        except Preempted as p:
            gate.record(True)
            self.metrics.script_preempted += 1
            return None, p.rollback
        except Exception as e:      # an internal error must not reach the client
            return script_error_result(hook.phase, session, f"{hook.path}: internal error: "
                                       f"{type(e).__name__}: {e}"), None
        if time.perf_counter() - start > 5 * self.inline_slice:
            gate.overran()
        else:
            gate.record(False)
        for line in result.output:      # echo lines are logged once the run counts
            self.logger.log("echo", conn=session.connection_id, text=line)
        return result, None

    async def run(self, session: HookSession, hook=None) -> HookResult:
        """Run `hook` (a hooks.Hook; default: the HELO hook) for one command.  Never
        raises: errors become 451 4.3.0 (421 for connect)."""
        if hook is None:
            hook = self.hooks.program("helo")
        start = time.perf_counter()
        result, rollback = self._try_inline(hook, session)
        if result is not None:
            self.metrics.script_runs["loop"] += 1
        else:
            result = await self._run_on_worker(hook, session, rollback)
            self.metrics.script_runs["worker"] += 1
        return self._answer(hook, session, result, time.perf_counter() - start)

    async def _run_on_worker(self, hook, session: HookSession,
                             rollback=None) -> HookResult:
        loop = asyncio.get_running_loop()
        conn = session.connection_id
        logger = self.logger

        def echo(line: str) -> None:
            logger.log("echo", conn=conn, text=line)

        try:
            got = self.runner.run(loop, self._run, hook, session, echo, rollback)
            if type(got) is _Job:               # finished during the short wait
                if not got.ok:
                    raise got.value
                result = got.value
            else:
                result = await got
        except RunTimeout:
            if rollback is not None:        # in case the run never started (idempotent)
                loop.run_in_executor(None, rollback)
            self.metrics.script_timeouts += 1
            result = script_error_result(
                hook.phase, session, f"{hook.path}: the script did not finish within "
                f"{self.deadline:g}s (blocked in a builtin call?)")
        except Exception as e:          # an internal error must not reach the client
            result = script_error_result(hook.phase, session, f"{hook.path}: internal error: "
                                         f"{type(e).__name__}: {e}")
        return result

    def _answer(self, hook, session: HookSession, result: HookResult,
                elapsed: float) -> HookResult:
        """Count and log one decision; a script error becomes 451 4.3.0."""
        phase = hook.phase
        if result.error is not None:
            self.metrics.script_errors += 1
            if "time limit" in result.error:
                self.metrics.script_timeouts += 1
            result = script_error_result(phase, session, result.error, result)
        decision = result.decision if result.error is None else "error"
        self.metrics.decision(phase, session.verb, decision, result.code, elapsed)
        fields = {"conn": session.connection_id, "remoteip": session.remoteip,
                  "phase": phase, **_log_fields(phase, session, result),
                  "decision": decision, "code": result.code,
                  "ms": round(elapsed * 1000, 3)}
        if result.disconnect:
            fields["disconnect"] = True
        if result.error is not None:
            fields["error"] = result.error
        self.logger.log(phase, **fields)
        return result

    def close(self) -> None:
        self.runner.close()


class RunTimeout(Exception):
    pass


class _Job:
    __slots__ = ("fn", "args", "future", "loop", "submitted", "started", "waiting",
                 "finished", "ok", "value")

    def __init__(self, loop, future, fn, args, now):
        self.loop, self.future, self.fn, self.args = loop, future, fn, args
        self.submitted = now
        self.started = None
        self.waiting = False        # the event loop thread is waiting for it (briefly)
        self.finished = False
        self.ok = True
        self.value = None


def _deliver(future, ok, value) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class ScriptRunner:
    """Runs scripts off the event loop with as few threads as the load needs.

    * Worker threads take jobs in order; one is enough while scripts are quick (no thread
      switch per job beyond that worker's).
    * While runs are quick (a moving average under SYNC_AVERAGE) and a worker is idle, the
      event loop thread waits for the run at most SYNC_WAIT (1 ms), so a quick script is
      answered in the same loop iteration (as a handler on the loop would be) while still
      running on its worker; a run that takes longer is awaited asynchronously. The loop
      is never held longer than SYNC_WAIT by a script, and not at all once runs are slow.
    * A watchdog on the event loop looks at the jobs every few milliseconds while any is
      pending: when jobs are queued and every worker is busy with one job for more than
      SPAWN_AFTER (a slow or blocked script), one more worker is started, up to
      max_workers; a job not finished `deadline` seconds after it was submitted is
      answered with RunTimeout (its thread goes on until the script's own time limit
      stops it, or the blocking call returns).  Extra workers leave when idle."""

    SYNC_WAIT = float(os.environ.get("HSL_SERVE_SYNC_WAIT", "0.001"))
    SYNC_AVERAGE = 0.0003
    SPAWN_AFTER = 0.02
    CHECK_EVERY = 0.005
    IDLE_EXIT = 10.0
    STACK = 256 * 1024 * 1024     # scripts may recurse deeply (virtual memory only)

    def __init__(self, max_workers: int = 32, deadline: float = 5.5):
        import collections
        self.max_workers = max(1, max_workers)
        self.deadline = deadline
        self.queue = collections.deque()
        self.running: set = set()
        lock = threading.Lock()
        self.cond = threading.Condition(lock)        # workers wait for jobs
        self.done = threading.Condition(lock)        # the loop waits for a quick job
        self.workers = 0
        self.idle = 0
        self.closed = False
        self.watchdog = None
        self.average = 0.0                           # moving average of run times
        self._spawn()

    def _spawn(self) -> None:
        self.workers += 1
        start_script_thread(self._work, name=f"hsl-script-{self.workers - 1}",
                            stack_size=self.STACK)

    def _work(self) -> None:
        cond = self.cond
        perf = time.perf_counter
        while True:
            with cond:
                self.idle += 1
                while not self.queue and not self.closed:
                    if not cond.wait(self.IDLE_EXIT) and not self.queue and self.workers > 1:
                        self.idle -= 1
                        self.workers -= 1
                        return
                self.idle -= 1
                if self.closed:
                    self.workers -= 1
                    return
                job = self.queue.popleft()
                if job.future.done():           # given up on before it started
                    continue
                job.started = time.monotonic()
                self.running.add(job)
            t0 = perf()
            try:
                value, ok = job.fn(*job.args), True
            except BaseException as e:           # never lose a job's answer
                value, ok = e, False
            self.average += (perf() - t0 - self.average) * 0.1
            with cond:
                self.running.discard(job)
                if job.waiting:
                    job.finished, job.ok, job.value = True, ok, value
                    self.done.notify_all()
                    continue
            try:
                job.loop.call_soon_threadsafe(_deliver, job.future, ok, value)
            except RuntimeError:                 # the loop is closed
                pass

    def run(self, loop, fn, *args):
        """The finished _Job (when it ended within the short wait) or a future."""
        future = loop.create_future()
        job = _Job(loop, future, fn, args, time.monotonic())
        with self.cond:
            self.queue.append(job)
            if self.idle:
                self.cond.notify()
                if self.average < self.SYNC_AVERAGE and len(self.queue) == 1:
                    job.waiting = True
                    self.done.wait_for(lambda: job.finished, self.SYNC_WAIT)
                    job.waiting = False
                    if job.finished:
                        return job
        if self.watchdog is None:
            self.watchdog = loop.call_later(self.CHECK_EVERY, self._check, loop)
        return future

    def _check(self, loop) -> None:
        self.watchdog = None
        now = time.monotonic()
        expired = []
        with self.cond:
            if self.queue and self.running and self.idle == 0 and \
                    self.workers < self.max_workers and all(now - job.started > self.SPAWN_AFTER for job in self.running):
                self._spawn()
            for job in list(self.running) + list(self.queue):
                if now - job.submitted > self.deadline:
                    expired.append(job)
            busy = bool(self.queue or self.running)
        for job in expired:
            _deliver(job.future, False, RunTimeout())
        if busy and not self.closed:
            self.watchdog = loop.call_later(self.CHECK_EVERY, self._check, loop)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        if self.watchdog is not None:
            self.watchdog.cancel()
