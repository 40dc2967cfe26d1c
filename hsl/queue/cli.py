"""hsl queue: look at and act on the queue of a spool (the copies hsl serve and hsl run
--hook eod --spool commit; docs/queue.md).

    hsl queue list [--json] [--spool DIR]
    hsl queue show ID [--json] [--spool DIR]
    hsl queue hold ID | release ID | delete ID | bounce ID [--spool DIR]

list and show only read; the others take the spool's lock, or, while a running queue
(hsl queue run, hsl serve --queue) owns the spool, ask that process through its control
channel (hsl/queue/control.py); with no owner answering they fail (exit 1).  Exit
status: 0 done, 1 the spool is owned by another process or refused a change, 2 a usage
error, an unknown id, a missing spool or a file of it that cannot be read (named in the
message).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

from ..cli import add_include_argument, load_plugin_arguments, print_error
from ..errors import escape_controls
from . import control, spool
from .control import ControlServer
from .state import QueueError, StateError
from .store import Queue, QueueLocked

HELP = "list, show, hold, release, delete or bounce the entries of the queue"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_SPOOL = "./hsl-spool"           # as hsl serve


def _add_spool(p) -> None:
    p.add_argument("--spool", metavar="DIR", default=DEFAULT_SPOOL,
                   help=f"the spool directory (default {DEFAULT_SPOOL}, as hsl serve)")


def _add_list(p) -> None:
    p.add_argument("--json", action="store_true", help="print the entries as JSON")
    _add_spool(p)


def _add_show(p) -> None:
    p.add_argument("id", metavar="ID", help="the entry's id (hsl queue list shows them)")
    p.add_argument("--json", action="store_true", help="print the entry as JSON")
    _add_spool(p)


def _add_id(p) -> None:
    p.add_argument("id", metavar="ID", help="the entry's id (hsl queue list shows them)")
    _add_spool(p)


def add_arguments(p) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter    # keep the synopsis
    p.set_defaults(queue_command=None)
    sub = p.add_subparsers(dest="queue_command", metavar="ACTION",
                           parser_class=type(p))
    for name, (help_text, add, _) in ACTIONS.items():
        add(sub.add_parser(name, help=help_text, description=help_text))


def main(args) -> int:
    if args.queue_command is None:
        print_error("hsl queue needs an action: " + ", ".join(ACTIONS))
        return EXIT_USAGE
    try:
        return ACTIONS[args.queue_command][2](args)
    except QueueLocked as e:
        print_error(e)
        return EXIT_FAILED
    except (spool.SpoolError, StateError) as e:
        print_error(e)
        return EXIT_FAILED if isinstance(e, spool.SpoolError) or e.writing else EXIT_USAGE
    except QueueError as e:
        print_error(e)
        return EXIT_USAGE


# ---------------------------------------------------------------------------------------
# The actions

def _open(args, *, lock: bool):
    return Queue.open(args.spool, clock=time.time, lock=lock)


def _report_problems(queue) -> int:
    """Each file of the spool that is not a valid entry, as an error; the exit status."""
    for problem in queue.problems:
        print_error(problem)
    return EXIT_USAGE if queue.problems else EXIT_OK


def cmd_list(args) -> int:
    q = _open(args, lock=False)
    entries = q.entries()
    if args.json:
        print(json.dumps({"spool": args.spool, "entries": [e.to_json() for e in entries],
                          "problems": [{"path": p.path, "reason": p.reason}
                                       for p in q.problems]}, indent=2))
        return _report_problems(q)
    if not entries:
        print(escape_controls(f"no entries in spool {args.spool}"))
        return _report_problems(q)
    rows = [("ID", "STATE", "RETRY", "NEXT", "TRANSPORT", "SENDER", "RECIPIENT")]
    for e in entries:
        state = "bounce" if e.bounce and not e.done else e.state
        rows.append((e.id, state, str(e.retry), _when(e.next), e.transportid,
                     e.sender or "<>", e.recipient))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        line = "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1]
        print(escape_controls(line))
    counts = {}
    for e in entries:
        counts[e.state] = counts.get(e.state, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    print(f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'}: {summary}")
    return _report_problems(q)


def cmd_show(args) -> int:
    e = _open(args, lock=False).get(args.id)
    if args.json:
        print(json.dumps(e.to_json(), indent=2))
        return EXIT_OK
    last = e.last
    fields = [
        ("id", e.id), ("state", e.state),
        ("sender", e.sender or "<>"), ("recipient", e.recipient),
        ("transport", e.transportid), ("transaction", e.envelope["transaction"]),
        ("received", _when(e.ts)), ("size", f"{e.size} bytes"),
        ("retry", str(e.retry)), ("next", _when(e.next)),
        ("hold", _yes(e.hold)), ("bounce", "asked for" if e.bounce else "no"),
        ("jobid", e.jobid if e.jobid is not None else "-"),
        ("metadata", ", ".join(f"{k}={v}" for k, v in e.metadata.items()) or "-"),
        ("last", f"{_when(last['time'])} {last['outcome']}" if last else "-"),
        ("batch", f"{e.spool_entry.path} (its message: {e.size} bytes at byte "
                  f"{e.spool_entry.offset})"),
    ]
    if e.dsn_of is not None:
        fields.insert(4, ("dsn of", e.dsn_of))
    width = max(len(k) for k, _ in fields)
    for key, value in fields:
        print(escape_controls(f"{key.ljust(width)}  {value}"))
    return EXIT_OK


def _change(verb: str, change, action: str, message: str = ""):
    """An action that changes an entry: on the queue itself, or (when a running queue
    owns the spool) through that process's control channel (hsl/queue/control.py)."""
    def command(args) -> int:
        try:
            with _open(args, lock=True) as q:
                change(q, args.id)
        except QueueLocked as locked:
            try:
                reply = control.request(args.spool, action, args.id)
            except control.ControlUnavailable:
                raise locked from None
            if not reply["ok"]:
                print_error(str(reply.get("error", "refused")))
                return EXIT_USAGE if reply.get("usage") else EXIT_FAILED
        print(escape_controls(f"{verb} {args.id}{message}"))
        return EXIT_OK
    return command


def _hold(q, entry_id):
    q.hold(entry_id)


def _release(q, entry_id):
    q.release(entry_id)


def _delete(q, entry_id):
    q.delete(entry_id)


def _bounce(q, entry_id):
    q.request_bounce(entry_id)


# action -> (help, add its arguments, run it).
ACTIONS = {
    "list": ("list the entries of the queue", _add_list, cmd_list),
    "show": ("show one entry: its envelope and queue state", _add_show, cmd_show),
    "hold": ("put an entry in the hold queue (not attempted until released)", _add_id,
             _change("held", _hold, "hold")),
    "release": ("take an entry out of the hold queue", _add_id,
                _change("released", _release, "release")),
    "delete": ("take an entry out of the queue, without a DSN", _add_id,
               _change("deleted", _delete, "delete")),
    "bounce": ("bounce an entry: a DSN to its sender, when the queue runs next", _add_id,
               _change("bounce requested for", _bounce, "bounce",
                       " (hsl queue run bounces it next)")),
    "run": ("deliver the due entries (predelivery, one attempt, postdelivery), retrying "
            "on the schedule", lambda p: _add_run(p), lambda a: _run(a)),
}


def _when(t: float) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    except (OverflowError, OSError, ValueError):
        return repr(t)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _route(value: str) -> tuple:
    """ID=HOST:PORT of --transport: (id, settings)."""
    from .schedule import RoutingError, parse_transport_option  # deferred: only for run
    try:
        return parse_transport_option(value)
    except RoutingError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _at_least_one(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _metrics_address(value: str):
    from ..serve.config import parse_hostport  # deferred: only for --metrics
    return parse_hostport(value, default_port=9090)


# The queue runner's options, shared by `hsl queue run` and `hsl serve --queue` (the
# hooks, the next hops, concurrency, the attempt log): flag -> argparse keywords.
# --project/--config, --hostname, --spool, --metrics, DNS and plugins are options of
# both commands already, with the same meaning.
RUNNER_OPTIONS = {
    "--predelivery": dict(metavar="FILE", help="the predelivery hook (default: the "
                          "project's; without one: Try())"),
    "--postdelivery": dict(metavar="FILE", help="the postdelivery hook (default: the "
                           "project's; without one: Default())"),
    "--transport": dict(dest="routes", action="append", type=_route, default=[],
                        metavar="ID=HOST:PORT",
                        help="deliver transport ID to HOST:PORT (lmtp://HOST:PORT for "
                             "LMTP) instead of its configured next hop or MX; repeatable"),
    "--concurrency": dict(type=_at_least_one, default=10, metavar="N",
                          help="delivery attempts at once (default 10)"),
    "--per-destination": dict(type=_at_least_one, default=None, metavar="N",
                              help="attempts at once to one destination (default: "
                                   "--concurrency)"),
    "--log-json": dict(metavar="FILE",
                       help="also append one JSON object per delivery attempt to FILE"),
}


def add_runner_options(group, skip=()) -> None:
    """RUNNER_OPTIONS on an argparse parser or group, but those in `skip`."""
    for flag, keywords in RUNNER_OPTIONS.items():
        if flag not in skip:
            group.add_argument(flag, **keywords)


def _add_run(p) -> None:
    from ..cli import add_dns_arguments  # deferred: the DNS options only for run
    p.add_argument("--once", action="store_true",
                   help="pick up every entry due now once, then exit")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--project", metavar="DIR",
                     help="a Halon project: its queue hooks and transportgroups")
    src.add_argument("--config", dest="halon_config", metavar="SMTPD-APP.YAML",
                     help="the same, from a packed configuration")
    add_runner_options(p)
    p.add_argument("--clock", choices=("wall", "virtual"), default="wall",
                   help="virtual: waiting jumps to the next due entry, and the run ends "
                        "when only held entries are left (tests)")
    p.add_argument("--hostname", default=None,
                   help="the name DSNs are reported by (default: this host's name)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per attempt (default: one text line)")
    p.add_argument("--metrics", type=_metrics_address, metavar="HOST:PORT",
                   help="serve the queue's Prometheus metrics over HTTP at this address")
    add_include_argument(p)         # -I, --plugins (also delivery plugins), --extras
    add_dns_arguments(p)
    _add_spool(p)


def load_runner_config(args, project=None, plugins=None) -> tuple:
    """(Routing, QueueHooks) of the runner options in `args` and the project's
    transportgroups and queue hooks (`project`: a loaded hsl.project.Project, or None).
    QueueError (naming the file) for a hook that does not load."""
    from ..serve.hooks import ScriptLoadError, compile_file  # deferred: the compiler
    from .runner import QueueHooks  # deferred: as above
    from .schedule import Routing  # deferred: as above
    from .grouping import Grouping  # deferred: as above
    groups: list = []
    grouping = Grouping()
    static_policies: list = []
    paths = {"predelivery": args.predelivery, "postdelivery": args.postdelivery}
    include_paths = list(getattr(args, "include", None) or ())
    if project is not None:
        groups = project.transportgroups
        grouping = Grouping.from_config(project.queue_grouping)
        static_policies = project.queue_policies
        include_paths += project.include_paths
        for name, hook in project.queue_hooks.items():
            paths[name] = paths[name] or hook.path
    programs = {}
    for phase, path in paths.items():
        if path:
            try:
                programs[phase] = compile_file(path, phase, include_paths, plugins=plugins)
            except ScriptLoadError as e:
                raise QueueError(str(e)) from None
    return (Routing(groups, dict(args.routes), grouping, static_policies),
            QueueHooks(programs.get("predelivery"), programs.get("postdelivery")))


def _run(args) -> int:
    import socket
    from ..cli import configure_dns  # deferred: not for list/show
    from .log import AttemptLog  # deferred: as above
    from .clock import VirtualClock, WallClock  # deferred: as above
    from .runner import QueueRunner  # deferred: as above
    project = None
    if args.project or args.halon_config:
        from ..project import ProjectError, load_packed, load_project  # deferred: YAML
        try:
            project = load_project(args.project) if args.project else \
                load_packed(args.halon_config)
        except ProjectError as e:
            raise QueueError(str(e)) from None
    try:
        configure_dns(args)
        plugins = load_plugin_arguments(args)
    except ValueError as e:
        raise QueueError(str(e)) from None
    routing, hooks = load_runner_config(args, project, plugins)
    clock = VirtualClock() if args.clock == "virtual" else WallClock()
    from ..serve.log import Logger  # deferred: as above
    form = "json" if args.json else "text"
    # attempts on stdout (one line or object each), the runner's own errors on stderr
    log = AttemptLog(Logger(form, sys.stdout, name="hsl queue"), args.log_json,
                     errors=Logger(form, sys.stderr, name="hsl queue"))
    with Queue.open(args.spool, clock=clock.now, create=True) as queue:
        from .metrics import QueueMetrics  # deferred: as above
        metrics = QueueMetrics(queue)
        runner = QueueRunner(queue, routing, hooks, clock=clock,
                             concurrency=args.concurrency,
                             per_destination=args.per_destination,
                             hostname=args.hostname or socket.getfqdn(),
                             on_outcome=log.attempt, metrics=metrics,
                             delivery_plugins=plugins.delivery if plugins else None)
        metrics.runner = runner
        control = start_control(queue, runner, print_error)
        endpoint = None
        previous = _stop_on_signals(runner)
        try:
            if args.metrics:
                from .metrics import serve_in_thread  # deferred: as above
                try:
                    endpoint = serve_in_thread(*args.metrics, metrics)
                except OSError as e:
                    raise QueueError(f"--metrics: cannot listen on "
                                     f"{args.metrics[0]}:{args.metrics[1]}: "
                                     f"{e.strerror or e}") from None
                print(f"metrics on http://{endpoint.address}/metrics", file=sys.stderr,
                      flush=True)
            runner.run(once=args.once)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if endpoint is not None:
                endpoint.close()
            if control is not None:
                control.close()
            log.close()
    return 0


def start_control(queue, runner, report):
    """The control channel of a running queue (hsl/queue/control.py): hsl queue hold,
    release, delete and bounce reach this process through it, and a change wakes the
    runner.  None (said through `report`) when it cannot listen."""
    try:
        return ControlServer(queue, busy=runner.busy, on_change=runner.notify).start()
    except OSError as e:
        report(f"no control channel in {queue.spool_dir} ({e.strerror or e}): hsl queue "
               "hold, release, delete and bounce cannot reach this run")
        return None


def _stop_on_signals(runner) -> dict:
    """SIGTERM and SIGINT stop the runner after the attempts in flight (their outcomes
    applied); a second one while attempts are in flight exits at once (they keep their
    last state on disk, as hsl serve --queue).  The handlers they had before."""
    def stop(signum, frame):
        if runner.stop.is_set() and runner.in_flight:
            print(f"hsl queue: stopped with {len(runner.in_flight)} delivery attempts in "
                  "flight: they stay queued", file=sys.stderr, flush=True)
            os._exit(EXIT_FAILED)
        runner.shutdown()
    return {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
