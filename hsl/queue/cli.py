"""hsl queue: look at and act on the queue in a spool directory (the copies that
`hsl serve` and `hsl run --hook eod --spool DIR` committed).

    hsl queue list [--json]        every entry: id, recipient, transport, retry, next, state
    hsl queue show ID              one entry: its envelope, queue state and message size
    hsl queue hold ID              into the hold queue (never picked up until released)
    hsl queue release ID           out of the hold queue, due now
    hsl queue delete ID            out of the queue, no DSN
    hsl queue bounce ID            bounced by the queue runner at its next pass
    hsl queue run [--once]         deliver: predelivery, one attempt, postdelivery, apply

`--spool DIR` (default ./hsl-spool, as hsl serve).  Changes take the spool's lock, so they
fail clearly while another process owns the spool.
"""
from __future__ import annotations

import json
import sys
import threading
import time

from ..cli import print_error
from .store import Queue, QueueError

HELP = "list and act on the queue of a spool directory"
EXIT_USAGE = 2

ACTIONS = ("hold", "release", "delete", "bounce")


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="queue_command", metavar="ACTION")
    sub.required = True
    lst = sub.add_parser("list", help="list the queued entries")
    lst.add_argument("--json", action="store_true", help="one JSON object per entry")
    show = sub.add_parser("show", help="show one entry")
    show.add_argument("id", help="the entry id (hsl queue list)")
    for name, text in (("hold", "put an entry in the hold queue"),
                       ("release", "release a held entry, due now"),
                       ("delete", "remove an entry without a DSN"),
                       ("bounce", "have the queue runner bounce an entry")):
        a = sub.add_parser(name, help=text)
        a.add_argument("id", help="the entry id (hsl queue list)")
    run = sub.add_parser("run", help="deliver the due entries (predelivery, attempt, "
                                     "postdelivery), retrying on the schedule")
    run.add_argument("--once", action="store_true",
                     help="pick up every entry due now once, then exit")
    src = run.add_mutually_exclusive_group()
    src.add_argument("--project", metavar="DIR",
                     help="a Halon project: its queue hooks and transportgroups")
    src.add_argument("--config", dest="halon_config", metavar="SMTPD-APP.YAML",
                     help="the same, from a packed configuration")
    run.add_argument("--predelivery", metavar="FILE", help="the predelivery hook")
    run.add_argument("--postdelivery", metavar="FILE", help="the postdelivery hook")
    run.add_argument("--transport", action="append", default=[], metavar="ID=HOST:PORT",
                     help="deliver transport ID to HOST:PORT (lmtp://HOST:PORT for LMTP); "
                          "repeatable")
    run.add_argument("--concurrency", type=int, default=10, metavar="N",
                     help="attempts at once (default 10)")
    run.add_argument("--per-destination", type=int, default=None, metavar="N",
                     help="attempts at once to one destination (default: --concurrency)")
    run.add_argument("--clock", choices=("wall", "virtual"), default="wall",
                     help="virtual: waiting jumps to the next due entry, and the run ends "
                          "when only held entries are left (tests)")
    run.add_argument("--hostname", default=None,
                     help="the name DSNs are reported by (default: this host's name)")
    run.add_argument("--json", action="store_true", help="one JSON object per attempt")
    run.add_argument("--log-json", metavar="FILE",
                     help="also append one JSON object per attempt to FILE")
    for a in sub.choices.values():
        a.add_argument("--spool", default="hsl-spool", metavar="DIR",
                       help="the spool directory (default: ./hsl-spool)")


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _line(e: dict) -> str:
    state = e["state"] + (", bounce asked" if e.get("bounce") else "")
    sender = e["sender"] or "<>"
    return (f"{e['id']}  {sender} -> {e['recipient']}  transport {e['transportid']}  "
            f"{e['size']} bytes  retry {e['retry']}  next {_when(e['next'])}  {state}")


def main(args) -> int:
    try:
        return _main(args)
    except QueueError as e:
        print_error(e)
        return EXIT_USAGE


def _main(args) -> int:
    action = args.queue_command
    if action == "run":
        return _run(args)
    if action in ("list", "show"):
        queue = Queue.open(args.spool, lock=False)
        entries = queue.entries()
        for problem in queue.problems:
            print_error(f"skipped {problem}")
        if action == "list":
            for entry in entries:
                e = entry.to_json()
                print(json.dumps(e, sort_keys=True) if args.json else _line(e))
            if not args.json:
                held = sum(1 for e in entries if e.hold)
                print(f"{len(entries)} queued ({held} held)", file=sys.stderr)
            return 0
        entry = queue.get(args.id)
        print(json.dumps({**entry.to_json(), "envelope": entry.envelope},
                         indent=2, sort_keys=True))
        return 0
    with Queue.open(args.spool) as queue:
        entry = getattr(queue, "request_bounce" if action == "bounce" else action)(args.id)
    done = {"hold": "held", "release": "released", "delete": "deleted",
            "bounce": "will be bounced at the queue's next pass"}[action]
    print(f"{entry.id}: {done}")
    return 0


def _outcome_line(o) -> str:
    text = f"{o.id}  {o.recipient}  {o.action}"
    if o.next is not None:
        text += f" (retry {o.retry}, next {_when(o.next)})"
    if o.attempt is not None:
        result, error = o.attempt.get("result") or {}, o.attempt.get("error") or {}
        if result.get("code"):
            text += f"  {result['code']} " + " ".join(result.get("reason") or [])
        elif error:
            text += "  " + error.get("message", "")
    if o.dsn:
        text += f"  ({o.dsn} DSN queued)"
    if o.error:
        text += f"  [hook error: {o.error}]"
    return text


def _run(args) -> int:
    import socket
    from ..serve.hooks import ScriptLoadError, compile_file  # deferred: not for list/show
    from .clock import VirtualClock, WallClock  # deferred: as above
    from .runner import QueueHooks, QueueRunner  # deferred: as above
    from .schedule import Routing, RoutingError, parse_transport_option  # deferred: as above
    groups: list = []
    paths = {"predelivery": args.predelivery, "postdelivery": args.postdelivery}
    include_paths: list = []
    if args.project or args.halon_config:
        from ..project import ProjectError, load_packed, load_project  # deferred: YAML
        try:
            project = load_project(args.project) if args.project else \
                load_packed(args.halon_config)
        except ProjectError as e:
            raise QueueError(str(e)) from None
        groups = project.transportgroups
        include_paths = project.include_paths
        for name, hook in project.queue_hooks.items():
            paths[name] = paths[name] or hook.path
    try:
        overrides = dict(parse_transport_option(t) for t in args.transport)
    except RoutingError as e:
        raise QueueError(str(e)) from None
    if args.concurrency < 1 or (args.per_destination is not None and
                                args.per_destination < 1):
        raise QueueError("--concurrency and --per-destination must be at least 1")
    programs = {}
    for phase, path in paths.items():
        if path:
            try:
                programs[phase] = compile_file(path, phase, include_paths)
            except ScriptLoadError as e:
                raise QueueError(str(e)) from None
    clock = VirtualClock() if args.clock == "virtual" else WallClock()
    log = open(args.log_json, "a") if args.log_json else None
    lock = threading.Lock()         # pickups finish on several threads

    def report(outcome):
        with lock:
            _report(outcome)

    def _report(outcome):
        record = {"event": "attempt", **outcome.to_json()}
        if args.json:
            print(json.dumps(record, default=str), flush=True)
        else:
            print(_outcome_line(outcome), flush=True)
            for line in outcome.output:         # the hooks' echo
                print(f"    {line}", flush=True)
        if log is not None:
            log.write(json.dumps(record, default=str) + "\n")

    try:
        with Queue.open(args.spool, clock=clock.now, create=True) as queue:
            runner = QueueRunner(queue, Routing(groups, overrides),
                                 QueueHooks(programs.get("predelivery"),
                                            programs.get("postdelivery")),
                                 clock=clock, concurrency=args.concurrency,
                                 per_destination=args.per_destination,
                                 hostname=args.hostname or socket.getfqdn(),
                                 on_outcome=report)
            try:
                runner.run(once=args.once)
            except KeyboardInterrupt:
                runner.stop.set()
    finally:
        if log is not None:
            log.close()
    return 0
