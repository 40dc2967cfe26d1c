"""Interactive HSL shell: try expressions, load scripts, replay hook sessions.

Variables, functions, classes and imports persist across inputs; an expression shows its
value in HSL notation. Dot-commands (.help lists them) load scripts and set up a hook's
context (any phase; the queue's on a queued copy). With a stdin that is not a terminal, inputs are read line by line
(`echo 'echo 1+1;' | hsl repl`).
"""
from __future__ import annotations

from ..cli import add_dns_arguments, add_include_argument, configure_dns, load_plugin_arguments
from ..errors import escape_controls
from ..hooks.phases import RUNNABLE
from ..version import __version__

HELP = "interactive shell (REPL) with completion, history and HELO sessions"

# Keep this module light: `hsl` builds every sub-command's parser at startup, so
# prompt_toolkit and pygments are only imported when the REPL really starts.


def add_arguments(parser) -> None:
    parser.add_argument("file", nargs="?", metavar="FILE",
                        help="load this script first (as .load FILE)")
    parser.add_argument("--hook", choices=RUNNABLE, metavar="PHASE",
                        help="evaluate in this hook's context (" + ", ".join(RUNNABLE) + ")")
    parser.add_argument("--session", metavar="FILE",
                        help="session settings, YAML or JSON (implies --hook helo)")
    add_include_argument(parser)
    add_dns_arguments(parser)


def main(args) -> int:
    import sys
    # deferred: the REPL's modules load the compiler and prompt_toolkit
    from .engine import Engine
    from .commands import Quit, run_command  # deferred: as above

    def out(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def err(text: str) -> None:
        sys.stdout.flush()
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    engine = Engine(out, err)
    engine.include_paths = list(getattr(args, "include", []) or [])
    try:
        engine.plugins = load_plugin_arguments(args)
    except ValueError as e:
        err(f"hsl: error: {escape_controls(str(e))}")
        return 2
    setup = []
    if getattr(args, "hook", None):
        setup.append(f".hook {args.hook}")
    if getattr(args, "session", None):
        setup.append(f".session {args.session}")
    if getattr(args, "file", None):
        setup.append(f".load {args.file}")
    quiet = not interactive
    if quiet:
        # Scripted use: the setup commands' confirmations would pollute the output.
        engine.write = lambda text: None
    for command in setup:
        try:
            if not run_command(engine, command) and quiet:
                return 2
        except Quit:
            return 0
    # After --session (whose dns: table .session applies): the command line on top.
    try:
        configure_dns(args)
    except ValueError as e:
        err(f"hsl: error: {escape_controls(str(e))}")
        return 2
    if not interactive:
        from .app import run_lines  # deferred: prompt_toolkit
        engine.write = out
        return run_lines(engine, sys.stdin)
    from .app import Repl  # deferred: prompt_toolkit
    repl = Repl(engine, write=out, write_err=err)
    print(f"hsl {__version__} REPL: .help for help, Ctrl-D to leave")
    return repl.loop()
