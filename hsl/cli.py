"""The `hsl` command line."""
from __future__ import annotations

import argparse
import os
import sys
import threading

EXIT_OK, EXIT_SCRIPT_ERROR, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"hsl: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    p = _Parser(prog="hsl", description="Run, check and explore Halon (HSL) scripts.")
    p.add_argument("--version", action="version", version=f"hsl {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    run = sub.add_parser("run", help="run a script")
    src = run.add_mutually_exclusive_group(required=True)
    src.add_argument("file", nargs="?", help="the .hsl file to run")
    src.add_argument("-e", dest="code", metavar="CODE", help="run CODE instead of a file")
    run.add_argument("--max-steps", type=int, default=None, metavar="N",
                     help="stop the script after N steps (loop iterations and calls)")
    run.add_argument("--max-time", type=float, default=None, metavar="SECONDS",
                     help="stop the script after SECONDS of wall time")
    run.add_argument("--max-depth", type=int, default=1000, metavar="N",
                     help="maximum call depth (default 1000)")
    add_dns_arguments(run)
    from .hooks.session import add_arguments
    add_arguments(run)
    for name, module in _subcommands().items():
        module.add_arguments(sub.add_parser(name, help=module.HELP,
                                            description=module.__doc__))
    return p


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
    from .builtins.dnslookup import parse_server
    try:
        return parse_server(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def configure_dns(args, table=None) -> None:
    """Point the process-wide DNS backend (hsl.resolver) at --dns-server or --dns-table,
    or else at `table` (a checked table, e.g. from a session file).  Without any of them
    the system's resolvers stay.  ValueError (its message names the file) for a table
    file that cannot be used."""
    from . import resolver
    if getattr(args, "dns_table", None):
        from .builtins.dnslookup import load_table_file
        resolver.configure(resolver.MockBackend(load_table_file(args.dns_table)))
    elif getattr(args, "dns_server", None):
        resolver.configure(resolver.DnsPythonBackend(args.dns_server))
    elif table is not None:
        resolver.configure(resolver.MockBackend(table))


# Other commands live in their own packages; each exposes HELP, add_arguments(parser) and
# main(args) -> exit code, and keeps its top-level imports light (startup time matters).
SUBCOMMANDS = {"check": "hsl.check", "serve": "hsl.serve", "repl": "hsl.repl"}


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
    from .sourcefile import read_source_text
    try:
        return read_source_text(args.file), args.file
    except OSError as e:
        print(f"hsl: error: cannot read {args.file}: {e.strerror}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def cmd_run(args, source: str, filename: str) -> int:
    from . import HSLRuntimeError, HSLSyntaxError
    from .program import compile_program
    from .runtime import OutputClosed
    try:
        program = compile_program(source, filename, predefined=set())
    except HSLSyntaxError as e:
        print(e.render(), file=sys.stderr)
        return EXIT_SCRIPT_ERROR
    out = sys.stdout.buffer

    def emit(data: bytes) -> None:
        out.write(data + b"\n")

    try:
        program.run(output=emit, raw_output=True, max_steps=args.max_steps,
                    max_time=args.max_time, max_depth=args.max_depth)
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


def cmd_run_helo(args, source: str, filename: str) -> int:
    """`hsl run --hook helo`: one simulated HELO/EHLO; the decision is the result."""
    import json
    from . import HSLSyntaxError
    from .hooks.helo import compile_helo, run_helo, syntax_error_result
    from .hooks.session import SessionError, build_session, settings_from_args
    try:
        settings = settings_from_args(args)
        session = build_session(settings)
        configure_dns(args, settings.get("dns"))
    except (SessionError, ValueError) as e:
        print(f"hsl: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    echo = None if args.json else (lambda line: print(line, flush=True))
    try:
        program = compile_helo(source, filename, trace=args.trace)
    except HSLSyntaxError as e:
        print(e.render(), file=sys.stderr)
        result = syntax_error_result(e, session)
    else:
        result = run_helo(program, session, trace=args.trace, echo=echo,
                          max_steps=args.max_steps or 10_000_000,
                          max_time=args.max_time or 10.0)
        if result.error and not args.json:
            print(f"{result.error}", file=sys.stderr)
    if args.trace:
        sources = {filename: source}
        for entry in result.trace:
            kind, file, line, col, value = entry
            shown = "true" if value else "false"
            text = _snippet(sources, file, line, col, getattr(entry, "end", None))
            label = "case" if kind == "case" else kind
            print(f"trace: {file}:{line}:{col}: {label} {text} -> {shown}", file=sys.stderr)
        if result.where:
            f, line, col = result.where
            print(f"trace: {f}:{line}:{col}: decided: {result.decision}", file=sys.stderr)
        else:
            print(f"trace: no termination function was called: {result.decision} "
                  "(the hook's default)", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        print(result.human())
    return EXIT_OK


def _snippet(sources: dict, file: str, line: int, col: int, end) -> str:
    """The source text of a traced condition, on one line and shortened."""
    text = sources.get(file)
    if text is None:
        from .sourcefile import display_source
        text = sources[file] = display_source(file)
        if text is None:
            return ""
    lines = text.splitlines()
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


def _in_big_stack(fn, *args):
    """Run fn in a thread with a large stack, so deep HSL recursion cannot overflow the
    C stack before the call-depth limit is reached."""
    result = []

    def target():
        try:
            result.append(fn(*args))
        except BaseException as e:    # never let a Python traceback reach the user
            print(f"hsl: internal error: {type(e).__name__}: {e}", file=sys.stderr)
            if os.environ.get("HSL_DEBUG"):
                import traceback
                traceback.print_exc()

    old = threading.stack_size()
    threading.stack_size(512 * 1024 * 1024)
    try:
        t = threading.Thread(target=target, daemon=True)
        t.start()
    finally:
        threading.stack_size(old)
    t.join()
    return result[0] if result else EXIT_SCRIPT_ERROR


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_usage(sys.stderr)
        return EXIT_USAGE
    if args.command in SUBCOMMANDS:
        try:
            return _subcommands()[args.command].main(args)
        except KeyboardInterrupt:
            return 130
    if args.command == "run":
        source, filename = _read_source(args)
        if args.hook != "helo":         # a HELO run also reads its session's dns: table
            try:
                configure_dns(args)
            except ValueError as e:
                print(f"hsl: error: {e}", file=sys.stderr)
                return EXIT_USAGE
        try:
            if args.hook == "helo":
                return _in_big_stack(cmd_run_helo, args, source, filename)
            return _in_big_stack(cmd_run, args, source, filename)
        except KeyboardInterrupt:
            return 130
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
