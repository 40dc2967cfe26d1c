"""hsl queue: look at and act on the queue of a spool (the copies hsl serve and hsl run
--hook eod --spool commit; docs/queue.md).

    hsl queue list [--json] [--spool DIR]
    hsl queue show ID [--json] [--spool DIR]
    hsl queue hold ID | release ID | delete ID | bounce ID [--spool DIR]

list and show only read; the others take the spool's lock, so they fail (exit 1) while
another process owns the spool.  Exit status: 0 done, 1 the spool is owned by another
process or refused a change, 2 a usage error, an unknown id, a missing spool or a file of
it that cannot be read (named in the message).
"""
from __future__ import annotations

import argparse
import json
import time

from ..cli import print_error
from ..errors import escape_controls
from . import spool
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
        ("message", e.spool_entry.message_path),
    ]
    if e.dsn_of is not None:
        fields.insert(4, ("dsn of", e.dsn_of))
    width = max(len(k) for k, _ in fields)
    for key, value in fields:
        print(escape_controls(f"{key.ljust(width)}  {value}"))
    return EXIT_OK


def _change(verb: str, change):
    def command(args) -> int:
        with _open(args, lock=True) as q:
            message = change(q, args.id)
        print(escape_controls(f"{verb} {args.id}{message or ''}"))
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
    return " (hsl queue run bounces it next)"


# action -> (help, add its arguments, run it); `hsl queue run` joins this table.
ACTIONS = {
    "list": ("list the entries of the queue", _add_list, cmd_list),
    "show": ("show one entry: its envelope and queue state", _add_show, cmd_show),
    "hold": ("put an entry in the hold queue (not attempted until released)", _add_id,
             _change("held", _hold)),
    "release": ("take an entry out of the hold queue", _add_id,
                _change("released", _release)),
    "delete": ("take an entry out of the queue, without a DSN", _add_id,
               _change("deleted", _delete)),
    "bounce": ("bounce an entry: a DSN to its sender, when the queue runs next", _add_id,
               _change("bounce requested for", _bounce)),
}


def _when(t: float) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    except (OverflowError, OSError, ValueError):
        return repr(t)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
