"""The `hsl` command line."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from .errors import (HSLRuntimeError, HSLSyntaxError, escape_controls, shown_source,
                     source_lines)
from .runtime.execution import MAX_DEPTH, OutputClosed, start_script_thread
from .hooks.session import (SessionError, add_arguments, build_session, load_session_file,
                            settings_from_args)
from .syntax.sourcefile import read_source_text
from .version import __version__

EXIT_OK, EXIT_SCRIPT_ERROR, EXIT_USAGE = 0, 1, 2


def print_error(message) -> None:
    """`hsl: error: MESSAGE` on standard error, control characters escaped: messages carry
    file names and parts of the files hsl was given."""
    print(f"hsl: error: {escape_controls(str(message))}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"hsl: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="hsl", description="Run, check and explore Halon (HSL) scripts.")
    p.add_argument("--version", action="version", version=f"hsl {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    run = sub.add_parser("run", help="run a script")
    # (one of them is required, except with a whole session's --session FILE: see main)
    src = run.add_mutually_exclusive_group()
    src.add_argument("file", nargs="?", help="the .hsl file to run")
    src.add_argument("-e", dest="code", metavar="CODE", help="run CODE instead of a file")
    src.add_argument("--project", metavar="DIR",
                     help="with --hook PHASE: run that phase's hook of a Halon project tree "
                          "(the server of --serverid; docs/projects.md)")
    src.add_argument("--config", dest="halon_config", metavar="SMTPD-APP.YAML",
                     help="with --hook PHASE: the same, from a packed configuration")
    run.add_argument("--max-steps", type=int, default=None, metavar="N",
                     help="stop the script after N steps (loop iterations and calls)")
    run.add_argument("--max-time", type=float, default=None, metavar="SECONDS",
                     help="stop the script after SECONDS of wall time")
    run.add_argument("--max-depth", type=max_depth_arg, default=1000, metavar="N",
                     help="maximum call depth (default 1000, at most 50000)")
    run.add_argument("--max-memory", type=size_arg, default=None, metavar="SIZE",
                     help="stop the script when its values take more than SIZE (bytes, "
                          "or a number with K, M or G)")
    add_include_argument(run)
    add_dns_arguments(run)
    add_arguments(run)
    for name, module in _subcommands().items():
        module.add_arguments(sub.add_parser(name, help=module.HELP,
                                            description=module.__doc__))
    return p


def max_depth_arg(value: str) -> int:
    """--max-depth: a call depth the script thread's stack holds (execution.MAX_DEPTH)."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {value!r}") from None
    if not 1 <= n <= MAX_DEPTH:
        raise argparse.ArgumentTypeError(f"{n} is not between 1 and {MAX_DEPTH} (deeper "
                                         "calls would overflow the stack)")
    return n


def size_arg(value: str) -> int:
    """A memory size option: bytes, or a number with K, M or G (powers of 1024)."""
    from .runtime.memory import parse_size  # deferred: hsl.memory imports the runtime
    try:
        return parse_size(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_include_argument(parser) -> None:
    """-I DIR, --plugins FILE and --extras DIR, for every command that compiles scripts
    (run, check, serve, repl): they all resolve include and import paths the same way
    (program.search_dirs), and know the same plugins (hsl.plugins)."""
    parser.add_argument("-I", dest="include", action="append", default=[], metavar="DIR",
                        help="also resolve include/import paths, and extras:// packages "
                             "(DIR/NAME/main.hsl), from DIR (repeatable)")
    parser.add_argument("--plugins", action="append", default=[], metavar="FILE",
                        help="declare the functions and classes of Halon plugins the "
                             "scripts use: a YAML file of canned results or HSL modules "
                             "(docs/plugins.md; repeatable)")
    parser.add_argument("--extras", action="append", default=[], metavar="DIR",
                        help="also resolve extras://NAME packages (DIR/NAME.hsl, "
                             "DIR/NAME/main.hsl) from DIR (repeatable)")


def load_plugin_arguments(args):
    """The hsl.plugins.Plugins of --plugins and --extras, or None without them.
    ValueError (its message names the file and position) for one that cannot be used."""
    files, extras = getattr(args, "plugins", None), getattr(args, "extras", None)
    if not files and not extras:
        return None
    from .plugins import load_plugins  # deferred: YAML and the registry only for plugins
    return load_plugins(files or (), extras or ())


def add_dns_arguments(parser) -> None:
    """--dns-server / --dns-table, for the commands that run scripts (run, serve, repl)."""
    g = parser.add_argument_group("DNS for scripts (dns_query)")
    x = g.add_mutually_exclusive_group()
    x.add_argument("--dns-server", action="append", type=_dns_server, metavar="ADDR",
                   help="ask this resolver instead of the system's: IP, IP:PORT or "
                        "[IPv6]:PORT (repeatable: asked in turn)")
    x.add_argument("--dns-table", metavar="FILE",
                   help="answer DNS queries from this YAML or JSON table "
                        "(name: {type: [records]} or name: ERRORNAME) instead of asking "
                        "real DNS; names not in it are NXDOMAIN")


def _dns_server(value: str) -> str:
    # deferred: the dns builtins only for --dns-server
    from .builtins.dnslookup import parse_server
    try:
        return parse_server(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def configure_dns(args, table=None) -> None:
    """Point the process-wide DNS backend (hsl.net.dns) at --dns-server or --dns-table,
    or else at `table` (a checked table, e.g. from a session file).  Without any of them
    the system's resolvers stay.  ValueError (its message names the file) for a table
    file that cannot be used."""
    if not (getattr(args, "dns_table", None) or getattr(args, "dns_server", None)
            or table is not None):
        return                          # (the default backend: nothing to import now)
    from .net import dns as resolver  # deferred: only runs given a DNS table or server
    if getattr(args, "dns_table", None):
        # deferred: the dns builtins (and YAML) only for --dns-table
        from .builtins.dnslookup import load_table_file
        resolver.configure(resolver.MockBackend(load_table_file(args.dns_table)))
    elif getattr(args, "dns_server", None):
        resolver.configure(resolver.DnsPythonBackend(args.dns_server))
    elif table is not None:
        resolver.configure(resolver.MockBackend(table))


# Other commands live in their own packages; each exposes HELP, add_arguments(parser) and
# main(args) -> exit code, and keeps its top-level imports light (startup time matters).
SUBCOMMANDS = {"check": "hsl.check", "serve": "hsl.serve", "repl": "hsl.repl",
               "test": "hsl.testing", "completion": "hsl.shell_completion",
               "queue": "hsl.queue.cli", "lsp": "hsl.lsp"}


def _subcommands() -> dict:
    import importlib
    found = {}
    for name, modname in SUBCOMMANDS.items():
        try:
            found[name] = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name != modname:
                raise
    return found


def _read_source(args) -> tuple[str, str]:
    if args.code is not None:
        return args.code, "<command line>"
    try:
        return read_source_text(args.file), args.file
    except OSError as e:
        print_error(f"cannot read {args.file}: {e.strerror}")
        raise SystemExit(EXIT_USAGE) from None


def cmd_run(args, source: str, filename: str) -> int:
    from .program import compile_program  # deferred: the compiler only for `hsl run`
    try:
        program = compile_program(source, filename, predefined=set(),
                                  include_paths=args.include, roots=[os.getcwd()],
                                  plugins=args.loaded_plugins)
    except HSLSyntaxError as e:
        print(e.render(), file=sys.stderr)
        return EXIT_SCRIPT_ERROR
    out = sys.stdout.buffer

    def emit(data: bytes) -> None:
        out.write(data + b"\n")

    try:
        program.run(output=emit, raw_output=True, max_steps=args.max_steps,
                    max_time=args.max_time, max_depth=args.max_depth,
                    max_memory=args.max_memory)
    except (BrokenPipeError, OutputClosed):
        # The reader went away (`hsl run x.hsl | head`): stop quietly, like other tools.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return EXIT_SCRIPT_ERROR
    except HSLRuntimeError as e:
        out.flush()
        print(e.render(program.sources), file=sys.stderr)
        return EXIT_SCRIPT_ERROR
    try:
        out.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_SCRIPT_ERROR
    return EXIT_OK


def cmd_run_hook(args, source: str, filename: str) -> int:
    """`hsl run --hook PHASE`: one simulated command (or event) of that phase; the
    decision is the result."""
    import json
    from .hooks.engine import compile_hook, run_hook  # deferred: the compiler only for `hsl run`
    if getattr(args, "spool", None) and args.hook != "eod":
        print_error("--spool is for --hook eod (the copies an Accept() commits)")
        return EXIT_USAGE
    try:
        settings = settings_from_args(args)
        session = build_session(settings)
        configure_dns(args, settings.get("dns"))
    except (SessionError, ValueError) as e:
        print_error(e)
        return EXIT_USAGE
    echo = None if args.json else (lambda line: print(line, flush=True))
    try:
        program = compile_hook(args.hook, source, filename, trace=args.trace,
                               include_paths=args.include, roots=[os.getcwd()],
                               plugins=args.loaded_plugins)
    except HSLSyntaxError as e:         # nothing ran: no decision to print
        print(e.render(), file=sys.stderr)
        return EXIT_SCRIPT_ERROR
    result = run_hook(program, session, trace=args.trace, echo=echo,
                      max_steps=args.max_steps or 10_000_000,
                      max_time=args.max_time or 10.0, max_depth=args.max_depth,
                      max_memory=args.max_memory)
    if result.exception is not None:    # as plain `hsl run` shows it; the decision follows
        print(result.exception.render(program.sources), file=sys.stderr)
    elif result.error:
        print(escape_controls(result.error), file=sys.stderr)
    if args.trace:
        for line in trace_lines(result, program.sources):
            print(escape_controls(f"trace: {line}"), file=sys.stderr)
    status, spooled = EXIT_OK, []
    if getattr(args, "spool", None) and result.queued:
        from .queue import spool        # deferred: only a run that commits copies
        try:
            spooled = spool.write_copies(args.spool, result.queued)
        except spool.SpoolError as e:    # the copies are not committed: say so, exit 1
            print_error(e)
            status = EXIT_SCRIPT_ERROR
    if args.json:
        out = result.to_json()
        if getattr(args, "spool", None):
            out["spooled"] = spooled
        print(json.dumps(out, ensure_ascii=False))
    else:
        for line in result.human_lines():
            print(escape_controls(line))
        for copy_id in spooled:
            print(escape_controls(f"spooled {copy_id} in {args.spool}"))
    return status


def cmd_run_queue_hook(args, source: str, filename: str) -> int:
    """`hsl run --hook predelivery|postdelivery --entry FILE`: the hook once on one queue
    entry; its decision is the result."""
    import json
    from types import SimpleNamespace
    from .hooks import delivery  # deferred: the compiler only for `hsl run`
    from .hooks.engine import compile_hook  # deferred: as above
    if not args.entry:
        print_error(f"--hook {args.hook} needs --entry FILE (a spool copy, SPOOL/BATCH-N, "
                    "or a YAML fixture of the queue entry)")
        return EXIT_USAGE
    try:
        view, facts = delivery.load_entry_file(args.entry)
        configure_dns(args)     # (not done for hook runs: a session may bring its own)
    except (delivery.EntryFileError, ValueError) as e:
        print_error(e)
        return EXIT_USAGE
    try:
        program = compile_hook(args.hook, source, filename, trace=args.trace,
                               include_paths=args.include, roots=[os.getcwd()],
                               plugins=args.loaded_plugins)
    except HSLSyntaxError as e:
        print(e.render(), file=sys.stderr)
        return EXIT_SCRIPT_ERROR
    limits = {"max_time": args.max_time or 10.0, "trace": args.trace}
    if args.hook == "predelivery":
        d = delivery.run_predelivery(program, view, **limits)
    else:
        from .runtime.values import from_python  # deferred: as above
        action, expired = facts["action"], facts["expired"]
        if action is None and facts["attempt"]:     # (the queue's own decision)
            action, derived = delivery.default_action(view, facts["attempt"],
                                                      _queue_schedule(args, view))
            expired = expired or derived
        d = delivery.run_postdelivery(
            program, view, from_python(facts["attempt"]) if facts["attempt"] else None,
            action=action, expired=expired,
            context=from_python(facts["context"]) if facts["context"] is not None
            else None, grouping=facts["grouping"],
            dsn=delivery.dsn_arguments(facts["attempt"], action, expired), **limits)
    if args.json:
        print(json.dumps(delivery.decision_json(d), ensure_ascii=False, default=str))
        return EXIT_OK
    for line in d.output:
        print(escape_controls(line))
    if d.error:
        print(escape_controls(d.error), file=sys.stderr)
    if args.trace:          # (as hsl run --hook PHASE --trace shows an SMTP hook's)
        shown = SimpleNamespace(trace=d.trace, where=d.where, decision=d.action)
        for line in trace_lines(shown, program.sources):
            print(escape_controls(f"trace: {line}"), file=sys.stderr)
    for line in delivery.decision_lines(args.hook, d):
        print(escape_controls(line))
    return EXIT_OK


def _queue_schedule(args, view):
    """The retry schedule of the entry's transport: the project's transport groups
    (--project, --config), else the built-in one."""
    from .queue.schedule import Routing  # deferred: only for a derived action
    project = getattr(args, "loaded_project", None)
    groups = project.transportgroups if project is not None else None
    return Routing(groups).transport(view.transportid).schedule


# The options of a one-command hook run: a whole session's steps say these instead.
ONE_COMMAND_OPTIONS = (("--ehlo", "ehlo"), ("--helo", "helo"), ("--mail-from", "mail_from"),
                       ("--rcpt-to", "rcpt_to"), ("--message", "message"),
                       ("--command", "proxy_command"), ("--close", "close"),
                       ("--tls-protocol", "tls_protocol"), ("--tls-cipher", "tls_cipher"),
                       ("--sni", "sni"), ("--peercert", "peercert"),
                       ("--auth-user", "auth_user"), ("--auth-mechanism", "auth_mechanism"),
                       ("--auth-password", "auth_password"),
                       ("--transaction-id", "transaction_id"))
# Connection facts the command line may change in a whole session: option -> Conversation's.
SESSION_FACT_OPTIONS = {"remoteip": "remoteip", "remoteport": "remoteport",
                        "remoteptr": "remoteptr", "localip": "localip",
                        "localport": "localport", "serverid": "serverid",
                        "transportid": "transportid"}


def cmd_run_session(args, source, filename) -> int:
    """`hsl run --session FILE` with a whole session (steps:): every step through every
    hook, one line per step (hsl/hooks/steps.py).  `source`: the script of
    `--hook PHASE SCRIPT`, that phase's hook instead of the file's."""
    # deferred: the hook engine (and the compiler) only for a hook run
    from .hooks import steps
    from .hooks.engine import compile_hook  # deferred: as above
    given = [opt for opt, dest in ONE_COMMAND_OPTIONS if getattr(args, dest, None)]
    if given:
        print_error(f"{given[0]} is for a one-command session (--hook PHASE); in a whole "
                    "session the steps say it")
        return EXIT_USAGE
    server = getattr(args, "project_server", None)
    try:
        session = steps.load(args.session)
        if server is not None and server.maxsize is not None:
            session.options.setdefault("maxsize", server.maxsize)
        for option, fact in SESSION_FACT_OPTIONS.items():
            if getattr(args, option, None) is not None:
                checked = build_session({option: getattr(args, option)})
                session.options[fact] = getattr(checked, option)
        context = None
        if args.context is not None:
            from .inputs import parse_yaml_or_json   # deferred: YAML only for --context
            context = parse_yaml_or_json(args.context, "--context", True)
        configure_dns(args, session.dns)
    except (SessionError, ValueError) as e:
        print_error(e)
        return EXIT_USAGE
    options = dict(trace=args.trace, include_paths=args.include, roots=[os.getcwd()],
                   plugins=args.loaded_plugins)
    try:
        overrides, domains = {}, None
        if server is not None:          # --project/--config: the server's hooks, all of them
            overrides = {phase: compile_hook(phase, hook.source, hook.path, **options)
                         for phase, hook in server.hooks.items() if phase in steps.SMTP_PHASES}
            domains = {domain: compile_hook("rcptto", hook.source, hook.path, **options)
                       for domain, hook in server.rcptto_domains.items()}
        if source is not None:
            overrides[args.hook] = compile_hook(args.hook, source, filename, **options)
        hooks = steps.compile_hooks(session, overrides, **options)
        if domains is not None:
            hooks.rcptto_domains = domains
    except SessionError as e:
        print_error(e)
        return EXIT_USAGE
    except HSLSyntaxError as e:         # nothing ran: no step to print
        print(e.render(), file=sys.stderr)
        return EXIT_SCRIPT_ERROR
    commit = None
    if args.spool:
        from .queue import spool        # deferred: only a run that commits copies

        def commit(copies):
            try:
                return spool.write_copies(args.spool, copies)
            except spool.SpoolError as e:   # not committed: the client gets 451
                return str(e)

    limits = steps.Limits(args.max_steps or 10_000_000, args.max_time or 10.0,
                          args.max_depth, args.max_memory)
    results = steps.run(session, hooks, limits=limits, trace=args.trace, commit=commit,
                        context=context)
    try:
        return _print_session(args, results)
    except BrokenPipeError:     # the reader went away (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_SCRIPT_ERROR


def _print_session(args, results) -> int:
    import json
    from .hooks.engine import copy_line, copy_summary   # deferred: as in cmd_run_session
    status = EXIT_OK
    for r in results:
        for run in r.runs:              # the diagnostics, as `hsl run` shows them
            if run.result.exception is not None:
                print(run.result.exception.render(run.program.sources), file=sys.stderr)
        if r.spool_error:               # the copies are not committed: say so, exit 1
            print_error(r.spool_error)
            status = EXIT_SCRIPT_ERROR
    queued = [c for r in results for c in r.queued]
    stored = [i for r in results for i in r.stored]
    if args.json:
        out = []
        for r in results:
            step = r.to_json()
            if args.trace:
                step["trace"] = [line for run in r.runs
                                 for line in trace_lines(run.result, run.program.sources)]
            out.append(step)
        print(json.dumps({"steps": out, "queued": [copy_summary(c) for c in queued],
                          "stored": stored}, ensure_ascii=False))
        return status
    for r in results:
        print(escape_controls(step_line(r)))
        for line in step_details(r, args.trace):
            print(escape_controls("    " + line))
    for copy in queued:
        print(escape_controls(copy_line(copy)))
    for copy_id in stored:
        print(escape_controls(f"spooled {copy_id} in {args.spool}"))
    return status


def step_line(r) -> str:
    """One step of a whole session on one line: what the client sent, the reply, and the
    hook that decided it."""
    if r.step.name == "connect":
        label = "connect"
    elif r.step.name == "close":
        label = f"close {r.step.close}"
    else:
        label = r.step.line
    if not r.ran:
        return f"not run: {label} (the connection is closed)"
    text = label
    enhanced, texts = r.reply_parts()
    if r.code is not None:
        text += f": {r.code}"
        if enhanced:
            text += " " + ".".join(str(x) for x in enhanced)
        text += f' "{texts[0] if texts else ""}"'
        if len(texts) > 1:
            text += f" (+{len(texts) - 1} more line{'s' if len(texts) > 2 else ''})"
    if r.decided is not None:
        text += f"{'' if r.code is not None else ':'} [{r.phase}: {r.decision}]"
    if r.disconnect and r.step.name != "close":
        text += " and disconnect"
    return text


def step_details(r, trace: bool) -> list:
    """The lines under a step: the AUTH exchange, the proxy's rewrite, the hooks' echo
    output, their errors and (with --trace) their traces."""
    lines = [f"{prompt} -> {answer}" for prompt, answer in r.prompts]
    if r.rewritten is not None:
        lines.append(f"proxy: passed on as {r.rewritten}")
    lines += r.output
    lines += [f"error: {e}" for e in r.errors]
    if trace:
        lines += [f"trace: {line}" for run in r.runs
                  for line in trace_lines(run.result, run.program.sources)]
    if r.spool_error:
        lines.append(f"not stored: {r.spool_error}")
    return lines


def trace_lines(result, sources) -> list:
    """A hook run's trace: each condition tested, then the call that decided."""
    sources = dict(sources)
    lines = []
    for entry in result.trace:
        kind, file, line, col, value = entry
        shown = "true" if value else "false"
        text = _snippet(sources, file, line, col, getattr(entry, "end", None))
        lines.append(f"{file}:{line}:{col}: {kind} {text} -> {shown}")
    if result.where:
        f, line, col = result.where
        lines.append(f"{f}:{line}:{col}: decided: {result.decision}")
    else:
        lines.append(f"no termination function was called: {result.decision} "
                     "(the hook's default)")
    return lines


def _snippet(sources: dict, file: str, line: int, col: int, end) -> str:
    """The source text of a traced condition, on one line and shortened."""
    text = shown_source(file, sources.get(file))
    if text is None:
        return ""
    lines = source_lines(text)
    if not end or line > len(lines):
        return ""
    end_line, end_col = end
    if end_line == line:
        piece = lines[line - 1][col - 1:end_col - 1]
    else:
        piece = " ".join([lines[line - 1][col - 1:]] + lines[line:end_line - 1]
                         + [lines[end_line - 1][:end_col - 1]] if end_line <= len(lines) else [])
    piece = " ".join(piece.split())
    return "(" + (piece if len(piece) <= 70 else piece[:67] + "...") + ")"


def _unsupported(error: BaseException) -> bool:
    """Whether `error` is a library hsl is not tested with (hsl.pins); then it is
    reported as an error, not as a crash."""
    from .pins import UnsupportedVersion     # here, not at the top: startup time
    if isinstance(error, UnsupportedVersion):
        print_error(error)
        return True
    return False


def _in_big_stack(fn, *args):
    """Run fn in a thread with a large stack, so deep HSL recursion cannot overflow the
    C stack before the call-depth limit is reached."""
    result = []

    def target():
        try:
            result.append(fn(*args))
        except BaseException as e:    # never let a Python traceback reach the user
            if _unsupported(e):
                result.append(EXIT_USAGE)
                return
            print(f"hsl: internal error: {type(e).__name__}: {e}", file=sys.stderr)
            if os.environ.get("HSL_DEBUG"):
                import traceback
                traceback.print_exc()

    start_script_thread(target).join()
    return result[0] if result else EXIT_SCRIPT_ERROR


def _is_whole_session(path: str) -> bool:
    """Whether session file `path` describes a whole session (steps:).  A file that cannot
    be read is not: the run that reads it reports why."""
    from .hooks.steps import is_whole_session   # deferred: only for --session
    try:
        return is_whole_session(load_session_file(path))
    except SessionError:
        return False


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        build_parser().print_usage(sys.stderr)
        return EXIT_USAGE
    if args.command in SUBCOMMANDS:
        try:
            return _subcommands()[args.command].main(args)
        except KeyboardInterrupt:
            return 130
        except BaseException as e:
            if _unsupported(e):
                return EXIT_USAGE
            raise
    if args.command == "run":
        whole = False
        if (args.project or args.halon_config) and args.session and \
                _is_whole_session(args.session):
            try:
                _project_session(args)
            except ValueError as e:
                print_error(e)
                return EXIT_USAGE
            whole, source, filename = True, None, None
        elif args.project or args.halon_config:
            try:
                source, filename = _project_hook(args)
            except ValueError as e:
                print_error(e)
                return EXIT_USAGE
        elif args.file is None and args.code is None:
            whole = bool(args.session) and _is_whole_session(args.session)
            if not args.session:
                parser.error("one of the arguments file -e is required")
            if not whole:
                try:
                    load_session_file(args.session)
                except SessionError as e:
                    print_error(e)
                    return EXIT_USAGE
                print_error(f"{args.session} is a one-command session: give the script "
                            "(hsl run --hook PHASE SCRIPT --session FILE), or list the "
                            "session's steps: and hooks: in the file (docs/sessions.md)")
                return EXIT_USAGE
            source = filename = None
        else:
            whole = bool(args.session) and _is_whole_session(args.session)
            source, filename = _read_source(args)
            if whole and not args.hook:
                print_error(f"{args.session} is a whole session: say which hook the script "
                            "is with --hook PHASE (or name it under hooks: in the file)")
                return EXIT_USAGE
        try:
            args.loaded_plugins = load_plugin_arguments(args)
        except ValueError as e:
            print_error(e)
            return EXIT_USAGE
        if not args.hook and not whole:     # a hook run also reads its session's dns:
            try:
                configure_dns(args)
            except ValueError as e:
                print_error(e)
                return EXIT_USAGE
        try:
            if whole:
                return _in_big_stack(cmd_run_session, args, source, filename)
            if args.hook in ("predelivery", "postdelivery"):
                return _in_big_stack(cmd_run_queue_hook, args, source, filename)
            if args.hook:
                return _in_big_stack(cmd_run_hook, args, source, filename)
            return _in_big_stack(cmd_run, args, source, filename)
        except KeyboardInterrupt:
            return 130
    return EXIT_USAGE


def _project_hook(args):
    """(source, filename) of the hook `hsl run --project/--config --hook PHASE` runs:
    that phase's hook of the --serverid server (or of the only one, or of "default");
    for rcptto, the hook of the last --rcpt-to's domain when the server has
    one.  The server's id and default transport become the session's, unless given.
    The file area joins the -I directories; the project stays loaded (its private
    directory, for a packed one) until hsl exits.  ValueError for what cannot be run."""
    if not args.hook:
        raise ValueError(f"{'--project' if args.project else '--config'} runs a hook: "
                         "give --hook PHASE")
    project = _open_project(args)
    if args.hook in ("predelivery", "postdelivery"):
        return _project_queue_hook(args, project)
    try:
        server = _project_server(project, args.serverid, args.hook)
        hook = server.hooks.get(args.hook)
        if args.hook == "rcptto" and args.rcpt_to and server.rcptto_domains:
            address = args.rcpt_to[-1].split()[0].strip("<>") if args.rcpt_to[-1].split() \
                else ""
            domain = address.rpartition("@")[2].lower()
            hook = server.rcptto_domains.get(domain, hook)
        if hook is None:
            raise ValueError(f"{project.config}: server {server.id} has no {args.hook} hook "
                             f"(servers[].phases.{args.hook}.hook)")
    except BaseException:
        project.close()
        raise
    _adopt_server(args, project, server)
    return hook.source, hook.path


def _project_queue_hook(args, project):
    """(source, filename) of the project's queue hook `args.hook` (one global pair, not a
    server's); the file area joins the -I directories."""
    hook = project.queue_hooks.get(args.hook)
    if hook is None:
        project.close()
        where = f"scripting.hooks.{args.hook}" if project.packed else \
            f"src/hooks/queue/{args.hook}.hsl"
        raise ValueError(f"{project.config}: the project has no {args.hook} hook ({where})")
    args.include = list(args.include) + project.include_paths
    args.loaded_project = project
    return hook.source, hook.path


def _open_project(args):
    """The project of --project/--config, its warnings printed; ValueError when it cannot
    be read."""
    from .project import ProjectError, load_packed, load_project  # deferred: YAML
    try:
        project = load_project(args.project) if args.project else \
            load_packed(args.halon_config)
    except ProjectError as e:
        raise ValueError(str(e)) from None
    for w in project.warnings:
        print(f"hsl: warning: {escape_controls(w)}", file=sys.stderr)
    return project


def _adopt_server(args, project, server) -> None:
    """The run takes `server`'s id and default transport (unless given) and the project's
    file area; the project stays loaded (its private directory, for a packed one)."""
    args.serverid = server.id
    if getattr(args, "transportid", None) is None and server.transport is not None:
        args.transportid = server.transport
    args.include = list(args.include) + project.include_paths
    args.loaded_project = project


def _project_session(args) -> None:
    """`hsl run --project DIR --session FILE` with a whole session: the steps run against
    every SMTP hook of the project's server (--serverid, or the only one, or "default"),
    in place of the file's hooks:.  ValueError for what cannot be run."""
    project = _open_project(args)
    try:
        server = _project_server(project, args.serverid, None)
    except BaseException:
        project.close()
        raise
    _adopt_server(args, project, server)
    args.project_server = server


def _project_server(project, wanted, phase: Optional[str]):
    """The server `wanted` (--serverid); else the only one with a hook of `phase`, or
    the only one, or "default"."""
    if wanted is not None:
        if wanted not in project.servers:
            raise ValueError(f"{project.config}: no server {wanted} (servers: "
                             f"{', '.join(project.servers) or 'none'})")
        return project.servers[wanted]
    servers = list(project.servers.values())
    hooked = [s for s in servers if phase is not None and (
        phase in s.hooks or (phase == "rcptto" and s.rcptto_domains))]
    for choice in (hooked, servers):
        if len(choice) == 1:
            return choice[0]
    if "default" in project.servers:
        return project.servers["default"]
    if phase is None:
        raise ValueError(f"{project.config}: several servers ({', '.join(project.servers)}): "
                         "choose one with --serverid ID")
    raise ValueError(f"{project.config}: several servers have {phase} hooks "
                     f"({', '.join(s.id for s in hooked)}): choose one with --serverid ID"
                     if hooked else f"{project.config}: no server has a hook for {phase}")


if __name__ == "__main__":
    sys.exit(main())
