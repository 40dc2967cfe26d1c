"""Serve hook scripts on a real SMTP server: every command goes through the SMTP
conversation (hsl/hooks/conversation.py) and the hooks configured for its phase
(`--hook PHASE=FILE`, `--helo FILE`, `--rcptto-domain DOMAIN=FILE`); a phase without a
hook takes its implicit action, and eod without a hook queues the message to every
recipient.  Accepted messages are committed to the spool (--spool, default ./hsl-spool)
before the 250.  A script error (a runtime error, or the per-run deadline) answers
`451 4.3.0` and is logged server-side with its file:line:col.
"""
from __future__ import annotations

import argparse

from ..cli import add_dns_arguments, add_include_argument, size_arg

HELP = "run a real SMTP server in front of hook scripts"


def _listen(value: str):
    from .config import parse_hostport  # deferred: `hsl` imports this module at every start
    return parse_hostport(value, default_port=2525)


def _phase_file(value: str):
    """PHASE=FILE of --hook: an SMTP phase and a script."""
    import argparse
    from ..hooks.phases import SMTP_PHASES  # deferred: plain data, only for serve
    phase, sep, path = value.partition("=")
    phase = phase.strip().lower()
    if not sep or not path:
        raise argparse.ArgumentTypeError(f"expected PHASE=FILE, got {value!r}")
    if phase not in SMTP_PHASES:
        raise argparse.ArgumentTypeError(f"{phase!r} is not an SMTP hook phase (one of "
                                         f"{', '.join(SMTP_PHASES)})")
    return phase, path


def _domain_file(value: str):
    """DOMAIN=FILE of --rcptto-domain."""
    import argparse
    domain, sep, path = value.partition("=")
    domain = domain.strip().lower()
    if not sep or not domain or not path or "@" in domain:
        raise argparse.ArgumentTypeError(f"expected DOMAIN=FILE, got {value!r}")
    return domain, path


def _mechanisms(value: str) -> tuple:
    import argparse
    import re
    names = tuple(n.upper() for n in re.split(r"[\s,]+", value.strip()) if n)
    if not names or not all(re.fullmatch(r"[A-Z0-9_-]{1,20}", n) for n in names):
        raise argparse.ArgumentTypeError(f"not a list of SASL mechanisms: {value!r}")
    return names


def add_arguments(p) -> None:
    h = p.add_argument_group("hooks (at least one)")
    h.add_argument("--hook", action="append", type=_phase_file, default=[],
                   metavar="PHASE=FILE",
                   help="the hook script of an SMTP phase: connect, proxy, helo, auth, "
                        "mailfrom, rcptto, eod or disconnect (repeatable, once per phase)")
    h.add_argument("--helo", metavar="SCRIPT", help="the same as --hook helo=SCRIPT")
    h.add_argument("--rcptto-domain", action="append", type=_domain_file, default=[],
                   metavar="DOMAIN=FILE",
                   help="the rcptto hook for recipients in DOMAIN, run instead of the "
                        "rcptto one (repeatable)")
    h.add_argument("--project", metavar="DIR",
                   help="serve a Halon project tree: every server of its smtpd-app.yaml "
                        "with its hooks, data.maxsize and default transport, on its "
                        "listeners' ports on loopback (docs/projects.md)")
    h.add_argument("--config", dest="halon_config", metavar="SMTPD-APP.YAML",
                   help="the same, from a packed configuration")
    h.add_argument("--bind-configured", action="store_true",
                   help="with --project/--config: listen on the addresses smtpd.yaml gives, "
                        "not on loopback")
    add_include_argument(p)
    p.add_argument("--listen", action="append", type=_listen, metavar="HOST:PORT",
                   help="address to listen on (repeatable; default 127.0.0.1:2525; "
                        "port 0 picks a free port, printed on stderr)")
    p.add_argument("--hostname", metavar="NAME",
                   help="the server's name in the banner and replies (default: the system's)")
    p.add_argument("--serverid", metavar="ID",
                   help="$connection[\"serverid\"] (default inbound); with --project or "
                        "--config: serve only this server of the project")
    p.add_argument("--stdio", action="store_true",
                   help="one SMTP session on stdin/stdout (swaks --pipe), no socket")
    p.add_argument("--remoteip", default="127.0.0.1", metavar="IP",
                   help="with --stdio: the client address the script sees (default 127.0.0.1)")
    t = p.add_argument_group("TLS (STARTTLS)")
    t.add_argument("--tls-cert", metavar="FILE", help="server certificate (PEM, with chain)")
    t.add_argument("--tls-key", metavar="FILE", help="server private key (PEM)")
    t.add_argument("--tls-ca", metavar="FILE",
                   help="CA certificates: request a client certificate and verify it; the "
                        "script reads it in $connection[\"tls\"][\"peercert\"], with "
                        "OpenSSL's verify result in \"error\" (0: verified)")
    lim = p.add_argument_group("limits")
    lim.add_argument("--max-connections", type=int, default=1000, metavar="N",
                     help="concurrent connections; beyond: 421 4.7.0 (default 1000, 0: no cap)")
    lim.add_argument("--timeout", type=float, default=300.0, metavar="S",
                     help="idle timeout in seconds: 421 4.4.2 then close (default 300)")
    lim.add_argument("--script-timeout", type=float, default=5.0, metavar="S",
                     help="per-run deadline of the script (default 5); past it: 451 4.3.0")
    lim.add_argument("--max-steps", type=int, default=10_000_000, metavar="N",
                     help="per-run step budget of the script (default 10000000; 0: none, "
                          "the deadline alone stops a long run)")
    lim.add_argument("--max-memory", type=size_arg, default="256M", metavar="SIZE",
                     help="per-run memory limit of the script: bytes, or with K, M, G "
                          "(default 256M; 0: none); past it: 451 4.3.0")
    lim.add_argument("--max-memory-total", type=size_arg, default="2G", metavar="SIZE",
                     help="memory limit of all runs at once (default 2G; 0: none)")
    lim.add_argument("--max-size", type=int, default=10_240_000, metavar="BYTES",
                     help="message size limit, announced as SIZE (default 10240000)")
    lim.add_argument("--workers", type=int, default=32, metavar="N",
                     help="threads running scripts off the event loop (default 32)")
    lim.add_argument("--inline-slice", type=_milliseconds, default=2.0, metavar="MS",
                     help="a run is first tried on the event loop for up to MS milliseconds "
                          "(it moves to a worker thread, its effects taken back, when it "
                          "runs longer, blocks or sleeps); 0: always on a worker (default 2)")
    a = p.add_argument_group("AUTH (announced only with an auth hook)")
    a.add_argument("--auth-mechanisms", type=_mechanisms, default=("PLAIN", "LOGIN"),
                   metavar="LIST",
                   help="the SASL mechanisms announced in EHLO (default \"PLAIN LOGIN\"); "
                        "PLAIN and LOGIN are decoded for the hook, others go to it with "
                        "334 challenges")
    a.add_argument("--auth-plaintext", action="store_true",
                   help="offer AUTH without TLS too (default: only after STARTTLS)")
    o = p.add_argument_group("operation")
    o.add_argument("--spool", metavar="DIR",
                   help="where accepted messages are committed, one file per "
                        "transaction (docs/spool.md); created at start (default "
                        "./hsl-spool, created with the first message)")
    o.add_argument("--transport", action=_TransportAction, default="mx",
                   metavar="ID | ID=HOST:PORT",
                   help="ID: the server's default transport ($arguments[\"transportid\"] "
                        "of rcptto; default mx); ID=HOST:PORT (with --queue): deliver "
                        "transport ID there, as hsl queue run --transport (repeatable)")
    o.add_argument("--maildir", metavar="DIR",
                   help="also write each accepted message to this Maildir (compatibility "
                        "with earlier versions; the spool is the store)")
    o.add_argument("--rdns", action="store_true",
                   help="look up the client's reverse DNS for $connection[\"remoteptr\"]")
    o.add_argument("--watch", action="store_true",
                   help="reload the hooks when one changes (SIGHUP always reloads): all "
                        "of them, or none when one has errors")
    o.add_argument("--log-format", choices=["text", "json"], default="text",
                   help="log lines on stderr (default text)")
    o.add_argument("--metrics", type=_metrics_addr, metavar="HOST:PORT",
                   help="serve Prometheus metrics over HTTP at this address")
    o.add_argument("--define-metric", action="append", default=[], metavar="NAME[:KIND]",
                   help="declare a metric the script may use with metrics_* "
                        "(KIND counter, gauge or histogram; default counter; repeatable)")
    q = p.add_argument_group("queue (--queue: deliver what is received, as hsl queue run "
                             "on the same --spool)")
    q.add_argument("--queue", action="store_true",
                   help="run the queue in this process: each copy the eod hook queues is "
                        "delivered through the predelivery and postdelivery hooks (the "
                        "project's, or these options'), retried on its schedule")
    # deferred: (hsl imports hsl.queue.cli at every start anyway)
    from ..queue.cli import add_runner_options
    add_runner_options(q, skip=("--transport",))   # (--transport above takes both)
    p.set_defaults(routes=[])
    add_dns_arguments(p)


class _TransportAction(argparse.Action):
    """--transport ID sets the default transport; --transport ID=HOST:PORT routes a
    transport for the queue (hsl queue run's option: its parser, its `routes`)."""

    def __call__(self, parser, namespace, value, option_string=None):
        if "=" not in value:
            setattr(namespace, self.dest, value)
            return
        from ..queue.cli import RUNNER_OPTIONS  # deferred: only for a route
        try:
            route = RUNNER_OPTIONS["--transport"]["type"](value)
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentError(self, str(e)) from None
        namespace.routes = [*namespace.routes, route]


def _milliseconds(value: str) -> float:
    import argparse
    try:
        ms = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of milliseconds: {value!r}") from None
    if not 0 <= ms <= 1000:
        raise argparse.ArgumentTypeError("must be between 0 and 1000 milliseconds")
    return ms


def _metrics_addr(value: str):
    from .config import parse_hostport  # deferred: as in _listen
    return parse_hostport(value, default_port=9090)


def main(args) -> int:
    # deferred: importlib.metadata, and the server (asyncio, aiosmtpd, the compiler), only
    # for `hsl serve`; cli reports an UnsupportedVersion
    from ..pins import require
    require("aiosmtpd")             # hsl/serve/smtp.py uses aiosmtpd 1.4's internals
    from .app import run
    return run(args)
