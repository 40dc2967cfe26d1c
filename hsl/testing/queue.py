"""The queue cases of `hsl test`: one queue hook, or a whole pickup, on a fixture entry,
and what the queue would then do with the entry, without a spool or a network.

    run_queue_case(kind, programs, view, facts, routing, ...) -> dict (JSON-able)

`kind` is "predelivery" or "postdelivery" (that hook alone) or "pickup": predelivery
(without a hook: Try()), then, when it tries, the attempt's outcome the case gives (its
`attempt:`), then postdelivery (without a hook: Default()) with predelivery's $context
and metadata, as hsl/queue/runner.py runs a pickup.  The result has each hook's run
(`predelivery`, `postdelivery`: decision, options, output, error, context, metadata) and
the outcome, applied as the runner applies it:

    action       delivered, try (predelivery alone decided to try), queue, hold,
                 bounce, delete
    retry        the entry's retry counter after it
    next_retry   seconds from the pickup to the next attempt (queue, hold)
    transportid  the entry's transport after it
    metadata     the entry's metadata after it
    dsn          the DSN that would be queued to the sender (none: null), read from the
                 report hsl.queue.dsn builds: action (failed, delayed), status, to,
                 subject, diagnostic (its Diagnostic-Code), transportid
"""
from __future__ import annotations

import email
import email.policy
from typing import Optional

from ..hooks import delivery
from ..runtime import values as V


class NeedsAttempt(Exception):
    """A pickup whose predelivery tried, in a case that gives no attempt outcome."""


def _hook_json(d: delivery.QueueDecision, metadata: dict) -> dict:
    return {"decision": d.action, "options": d.options, "output": d.output,
            "error": d.error, "metadata": dict(metadata),
            "context": V.to_python(d.context) if d.context is not None else None}


def run_queue_case(kind: str, programs: dict, view: delivery.EntryView, facts: dict,
                   routing, *, limits, trace: bool = False) -> tuple:
    """(result, traces): the runs of `kind` on `view` and the outcome; `programs` maps
    predelivery/postdelivery to a compiled program (or None: no hook).  `traces`: the
    runs' trace lines' (QueueDecision, program) pairs."""
    transport = routing.transport(view.transportid)
    schedule = transport.schedule
    run_limits = {"max_time": limits.max_time or 10.0, "trace": trace}
    out: dict = {}
    ran: list = []
    metadata = dict(view.metadata)
    pre = None
    attempt = facts.get("attempt")
    expired = bool(facts.get("expired"))
    if kind in ("predelivery", "pickup"):
        program = programs.get("predelivery")
        if program is not None:
            pre = delivery.run_predelivery(program, view, **run_limits)
            ran.append((pre, program))
            if pre.metadata is not None:
                metadata = dict(pre.metadata)
            out["predelivery"] = _hook_json(pre, metadata)
        decided = pre.action if pre is not None else "try"
        options = dict(pre.options) if pre is not None else {}
        if kind == "predelivery":
            if decided == "try":        # (the attempt is the pickup's, not this case's)
                out.update(_outcome("TRY", view, options, metadata, transport))
                return out, ran
            action = decided.upper()
        elif decided == "try":
            if attempt is None:
                raise NeedsAttempt("predelivery tried: give the attempt's outcome "
                                   "(pickup: {attempt: {result: {code: ...}}})")
            action, expired = delivery.default_action(view, attempt, schedule)
            options = {}
        else:
            action, attempt = decided.upper(), None
        context = pre.context if pre is not None else None
    else:
        options = {}
        action = facts.get("action")
        if action is None and attempt:
            action, derived = delivery.default_action(view, attempt, schedule)
            expired = expired or derived
        context = V.from_python(facts["context"]) if facts.get("context") is not None \
            else None
    if kind in ("postdelivery", "pickup"):
        program = programs.get("postdelivery")
        if program is not None:
            view = _with_metadata(view, metadata)
            post = delivery.run_postdelivery(
                program, view, V.from_python(attempt) if attempt else None, action=action,
                expired=expired, context=context, **run_limits)
            ran.append((post, program))
            if post.metadata is not None:
                metadata = dict(post.metadata)
            out["postdelivery"] = _hook_json(post, metadata)
            if post.action != "default":
                action, options = post.action.upper(), dict(post.options)
    out.update(_outcome(action, view, options, metadata, transport, attempt, expired))
    return out, ran


def _with_metadata(view, metadata: dict):
    import copy
    view = copy.copy(view)
    view.metadata = dict(metadata)
    return view


def _outcome(action: Optional[str], view, options: dict, metadata: dict, transport,
             attempt: Optional[dict] = None, expired: bool = False) -> dict:
    """What the queue does with the entry after the decision (QueueRunner._apply)."""
    from ..queue import dsn as dsn_mod   # deferred: the queue's parts for queue cases
    envelope = {"transaction": view.transaction, "queue": view.queue,
                "sender": view.sender, "recipient": view.recipient, "ts": view.ts,
                "dsn": view.dsn}
    out = {"action": "delivered" if action is None else action.lower(), "retry": view.retry,
           "next_retry": None, "transportid": view.transportid, "metadata": dict(metadata),
           "dsn": None}
    schedule = transport.schedule
    if action == "QUEUE":
        retry, delay, notify = schedule.requeue(view.retry, options)
        out["next_retry"] = _whole(delay)
        out["retry"] = retry
        if options.get("hold"):
            out["action"] = "hold"
        if options.get("transportid"):
            out["transportid"] = options["transportid"]
        if notify and dsn_mod.dsn_due(envelope, "delayed"):
            out["dsn"] = _dsn(envelope, view.message, "delayed", attempt, {}, False,
                              transport)
    elif action == "BOUNCE" and dsn_mod.dsn_due(envelope, "failed"):
        out["dsn"] = _dsn(envelope, view.message, "failed", attempt,
                          options.get("dsn") or {}, expired, transport)
    return out


def _whole(x: float):
    return int(x) if float(x).is_integer() else x


def _dsn(envelope: dict, message: bytes, action: str, attempt, options: dict,
         expired: bool, transport) -> dict:
    """The facts of the DSN the queue would send, read back from the report itself."""
    from ..queue import dsn as dsn_mod   # deferred: as above
    try:
        report = dsn_mod.build_dsn(envelope, message, action=action, attempt=attempt,
                                   expired=expired, options=options, now=envelope["ts"])
    except ValueError as e:     # (Bounce()'s dsn options refused: no report)
        return {"error": str(e)}
    parsed = email.message_from_bytes(report, policy=email.policy.compat32)
    fields: dict = {}
    for part in parsed.walk():
        if part.get_content_type() == "message/delivery-status":
            for block in part.get_payload():
                for name, value in block.items():
                    fields.setdefault(name.lower(), value)
    diagnostic = fields.get("diagnostic-code")
    return {"action": fields.get("action"), "status": fields.get("status"),
            "to": envelope["sender"], "subject": str(parsed["Subject"]),
            "diagnostic": diagnostic.split(";", 1)[1].strip() if diagnostic else None,
            "transportid": transport.dsn_transport}
