"""`hsl lsp`: the language server that editors start (LSP over standard input and
output; --tcp for debugging the server): hsl check's diagnostics as you type,
completion, signature help and hover.  Editor setups: docs/lsp.md."""
# The server is built by hsl.lsp.server.make_server(); each feature area is a module of
# this package with a register(server).
from __future__ import annotations

HELP = "language server for editors (LSP over stdio)"


def add_arguments(p) -> None:
    p.add_argument("--stdio", action="store_true",
                   help="speak LSP on standard input and output (the default)")
    p.add_argument("--tcp", metavar="HOST:PORT",
                   help="listen on a TCP address instead (for debugging the server)")
    p.add_argument("--log", metavar="FILE", help="write the server's log to FILE")
    p.add_argument("-I", "--include-path", dest="include_paths", action="append",
                   default=[], metavar="DIR",
                   help="look for include/import files in DIR too (repeatable), as "
                        "hsl check -I")


def main(args) -> int:
    from ..cli import print_error      # deferred: hsl.cli imports this package
    host = port = None
    if args.tcp:
        host, _, port_text = args.tcp.rpartition(":")
        try:
            port = int(port_text)
        except ValueError:
            port = -1
        if not host or not 0 <= port <= 65535:
            print_error(f"--tcp wants HOST:PORT, not {args.tcp!r}")
            return 2
    import logging
    if args.log:
        try:
            logging.basicConfig(filename=args.log, level=logging.INFO)
        except OSError as e:
            print_error(f"cannot write {args.log}: {e.strerror}")
            return 2
    else:       # (stdout is the protocol: the log goes to stderr, warnings only)
        logging.basicConfig(level=logging.WARNING)
    from .server import make_server     # deferred: pygls only for `hsl lsp`
    server = make_server(args.include_paths)
    if host is not None:
        try:
            server.start_tcp(host, port)
        except OSError as e:
            print_error(f"cannot listen on {args.tcp}: {e.strerror}")
            return 2
    else:
        server.start_io()
    return 0
