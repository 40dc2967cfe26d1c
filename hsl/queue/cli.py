"""hsl queue: look at and act on the queue in a spool directory (the copies that
`hsl serve` and `hsl run --hook eod --spool DIR` committed).

    hsl queue list [--json]        every entry: id, recipient, transport, retry, next, state
    hsl queue show ID              one entry: its envelope, queue state and message size
    hsl queue hold ID              into the hold queue (never picked up until released)
    hsl queue release ID           out of the hold queue, due now
    hsl queue delete ID            out of the queue, no DSN
    hsl queue bounce ID            bounced by the queue runner at its next pass

`--spool DIR` (default ./hsl-spool, as hsl serve).  Changes take the spool's lock, so they
fail clearly while another process owns the spool.
"""
from __future__ import annotations

import json
import sys
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
