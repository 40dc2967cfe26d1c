"""Hook sessions from the command line or from a session file (YAML or JSON), so that
sessions can be kept as test fixtures.  One file describes the connection and the command
a hook checks; each phase reads the settings it needs (hsl/hooks/engine.py says which).
(A file with `steps:` is a whole session instead: hsl/hooks/steps.py reads it.)

    verb: EHLO                 # or HELO
    host: mail.example.org     # the HELO/EHLO argument
    remoteip: 203.0.113.5
    remoteport: 41666
    remoteptr: mail.example.org
    localip: 192.0.2.1
    localport: 25
    serverid: inbound
    server_hostname: mx.example.net
    extensions: [PIPELINING, SIZE 10240000, STARTTLS]
    tls:
      protocol: TLSv1.3
      cipher: TLS_AES_256_GCM_SHA384
      keysize: 256
      sni: mx.example.net
      peercert: client.pem     # paths relative to the session file
      peerchain: [intermediate.pem]
      error: 0
    auth: {mechanism: PLAIN, username: alice}   # the client's AUTH; for the auth hook
    #                            also password, or state and response (other mechanisms)
    context: {seen: 1}         # $context before this command
    mail_from: "<alice@client.example> SIZE=2048"   # MAIL FROM (mailfrom, rcptto, eod)
    rcpt_to: [bob@example.net, "carol@example.net NOTIFY=NEVER"]   # RCPT TO, in order:
    #                            rcptto checks the last, the others are already accepted
    transportid: mx            # the server's default transport
    message: message.eml       # eod: the message (default: a small test message)
    ts: 1700000000             # eod: $transaction["ts"] (default: now)
    command: "MAIL FROM:<a@b>" # proxy: the command line
    close: remote              # disconnect: who closed the connection (local, remote)
    dns:                       # answer dns_query from this table, not from real DNS
      example.org: {a: [192.0.2.10], mx: ["10 mail.example.org"]}
      broken.example: SERVFAIL # an error name; names not in the table are NXDOMAIN
    expect: {...}              # ignored by hsl run (used by fixture tests)

`hsl run --dns-server`/`--dns-table` replace a session file's `dns` table.  Paths are
relative to the session file.
"""
from __future__ import annotations

import os

from ..syntax.sourcefile import read_source
from .phases import RUNNABLE

KEYS = {"verb", "helo", "ehlo", "host", "remoteip", "remoteport", "remoteptr", "remoteuid",
        "localip", "localport", "serverid", "server_hostname", "extensions", "tls", "auth",
        "context", "expect", "connection_id", "transaction_id", "priority", "dns",
        "mail_from", "rcpt_to", "transportid", "message", "ts", "command", "close"}
AUTH_KEYS = {"mechanism", "username", "password", "state", "response"}


class SessionError(Exception):
    """A session description that cannot be used (bad file, bad value)."""


def load_session_file(path: str) -> dict:
    # deferred: `hsl` imports this module at every start; datafile only for session files
    from ..inputs import read_yaml_or_json
    try:
        value, text = read_yaml_or_json(path, "session file")
    except ValueError as e:
        raise SessionError(str(e)) from None
    if not isinstance(value, dict):
        raise SessionError(f"{path}: a session file must hold a mapping of settings")
    if "steps" in value:        # a whole session: hsl/hooks/steps.py reads and checks it
        value["_base"] = os.path.dirname(os.path.abspath(path))
        return value
    unknown = set(value) - KEYS
    if unknown:
        raise SessionError(f"{path}: unknown session setting(s): {', '.join(sorted(unknown))}")
    if "dns" in value:
        value["dns"] = _dns_table(path, text, value["dns"], path.endswith(".json"))
    value["_base"] = os.path.dirname(os.path.abspath(path))
    return value


def _dns_table(path: str, text: str, table, is_json: bool) -> dict:
    """The checked `dns:` table of a session file (see builtins.dnslookup.check_table)."""
    # deferred: `hsl` imports this module at every start; the dns builtins only for a dns: table
    from ..builtins.dnslookup import TableError, check_table, yaml_line
    try:
        return check_table(table)
    except TableError as e:
        line = None if is_json else yaml_line(text, ["dns"] + e.path)
        raise SessionError(f"{path}:{line}: dns: {e}" if line else
                           f"{path}: dns: {e}") from None


def _load_cert(path: str, base: str):
    # deferred: cryptography only for a session with certificates
    from ..builtins.x509 import x509_resource_from_pem
    full = path if os.path.isabs(path) else os.path.join(base, path)
    try:
        data = read_source(full)
    except OSError as e:
        raise SessionError(f"cannot read certificate {path}: {e.strerror}") from None
    try:
        return x509_resource_from_pem(data)
    except Exception as e:
        raise SessionError(f"{path}: not a PEM certificate ({e})") from None


def _read_message(path: str, base: str) -> bytes:
    full = path if os.path.isabs(path) else os.path.join(base, path)
    try:
        with open(full, "rb") as f:
            return f.read()
    except OSError as e:
        raise SessionError(f"cannot read message {path}: {e.strerror}") from None


def build_session(settings: dict):
    """A HookSession from merged settings (session file first, command line on top)."""
    import ipaddress
    # deferred: the hook engine (and the compiler) only for a hook run
    from .engine import HookSession
    settings = dict(settings)
    for key in ("remoteip", "localip"):
        if settings.get(key) is not None:
            try:
                ipaddress.ip_address(str(settings[key]))
            except ValueError:
                raise SessionError(f"{key} must be an IP address, not {settings[key]!r}") from None
    base = settings.get("_base", os.getcwd())
    s = HookSession()
    verb = settings.get("verb")
    if settings.get("ehlo") is not None:
        verb, settings["host"] = "EHLO", settings["ehlo"]
    if settings.get("helo") is not None:
        verb, settings["host"] = "HELO", settings["helo"]
    if verb is not None:
        if str(verb).upper() not in ("HELO", "EHLO"):
            raise SessionError(f"verb must be HELO or EHLO, not {verb!r}")
        s.verb = str(verb).upper()
    for key in ("host", "remoteip", "remoteptr", "localip", "serverid", "server_hostname",
                "connection_id", "transaction_id", "mail_from", "transportid", "command"):
        if settings.get(key) is not None:
            setattr(s, key, str(settings[key]))
    for key in ("remoteport", "localport", "remoteuid", "priority"):
        if settings.get(key) is not None:
            try:
                setattr(s, key, int(settings[key]))
            except (TypeError, ValueError):
                raise SessionError(f"{key} must be a number, not {settings[key]!r}") from None
    if settings.get("extensions") is not None:
        exts = settings["extensions"]
        if not isinstance(exts, list):
            raise SessionError("extensions must be a list of strings")
        s.extensions = [str(e) for e in exts]
    tls = settings.get("tls")
    if tls is not None:
        if not isinstance(tls, dict):
            raise SessionError("tls must be a mapping")
        tls = dict(tls)
        if tls.get("peercert") is not None:
            peer = {"x509": _load_cert(str(tls["peercert"]), base),
                    "chain": [_load_cert(str(p), base) for p in tls.get("peerchain") or []],
                    "error": int(tls.get("error", 0) or 0)}
            tls["peercert"] = peer
        s.tls = tls
    auth = settings.get("auth")
    if auth is not None:
        if not isinstance(auth, dict):
            raise SessionError("auth must be a mapping")
        unknown = set(auth) - AUTH_KEYS
        if unknown:
            raise SessionError(f"unknown auth setting(s): {', '.join(sorted(unknown))}")
        if auth.get("state") is not None and not isinstance(auth["state"], int):
            raise SessionError(f"auth state must be a number, not {auth['state']!r}")
        s.auth = auth
    rcpt = settings.get("rcpt_to")
    if rcpt is not None:
        rcpt = [rcpt] if isinstance(rcpt, str) else rcpt
        if not isinstance(rcpt, list) or not all(isinstance(r, str) for r in rcpt):
            raise SessionError("rcpt_to must be an address or a list of addresses")
        s.rcpt_to = list(rcpt)
    if settings.get("ts") is not None:
        try:
            s.ts = float(settings["ts"])
        except (TypeError, ValueError):
            raise SessionError(f"ts must be a number, not {settings['ts']!r}") from None
    if settings.get("close") is not None:
        if settings["close"] not in ("local", "remote"):
            raise SessionError(f"close must be local or remote, not {settings['close']!r}")
        s.close = settings["close"]
    if settings.get("message") is not None:
        s.message = _read_message(str(settings["message"]), base)
    if "context" in settings:
        from ..runtime import values as V   # deferred: as the engine above
        try:
            s.context = V.from_python(settings["context"])
        except TypeError as e:          # (a YAML date, say)
            raise SessionError(f"context: {e}") from None
    return s


def settings_from_args(args) -> dict:
    """Session settings from `hsl run --hook PHASE` options, on top of --session."""
    settings: dict = {}
    if args.session:
        settings = load_session_file(args.session)
    for key in ("helo", "ehlo", "remoteip", "remoteport", "remoteptr", "localip", "localport",
                "serverid", "mail_from", "rcpt_to", "transportid", "transaction_id", "close"):
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    if getattr(args, "proxy_command", None) is not None:
        settings["command"] = args.proxy_command
    if args.context is not None:
        from ..inputs import parse_yaml_or_json   # deferred: as in load_session_file
        try:
            settings["context"] = parse_yaml_or_json(args.context, "--context", True)
        except ValueError as e:
            raise SessionError(str(e)) from None
    tls_opts = {"protocol": args.tls_protocol, "cipher": args.tls_cipher, "sni": args.sni}
    if any(v is not None for v in tls_opts.values()) or args.peercert:
        tls = dict(settings.get("tls") or {})
        tls.update({k: v for k, v in tls_opts.items() if v is not None})
        if args.peercert:
            tls["peercert"] = os.path.abspath(args.peercert)
            tls["peerchain"] = [os.path.abspath(p) for p in args.peerchain or []]
        settings["tls"] = tls
    auth_opts = {"mechanism": args.auth_mechanism, "username": args.auth_user,
                 "password": args.auth_password}
    if any(v is not None for v in auth_opts.values()):
        auth = dict(settings.get("auth") or {"mechanism": "PLAIN"})
        auth.update({k: v for k, v in auth_opts.items() if v is not None})
        settings["auth"] = auth
    if args.message is not None:
        settings["message"] = os.path.abspath(args.message)
    return settings


def add_arguments(run) -> None:
    g = run.add_argument_group("hook session (with --hook PHASE)")
    g.add_argument("--hook", choices=RUNNABLE, metavar="PHASE",
                   help="run the script as this hook (" + ", ".join(RUNNABLE) + ")")
    g.add_argument("--entry", metavar="FILE",
                   help="with --hook predelivery/postdelivery: the queue entry (a spool "
                        "copy, SPOOL/BATCH-N, or a YAML fixture; docs/queue.md)")
    g.add_argument("--session", metavar="FILE", help="session settings (YAML or JSON)")
    g.add_argument("--ehlo", metavar="HOST", help="simulate EHLO HOST (default)")
    g.add_argument("--helo", metavar="HOST", help="simulate HELO HOST")
    g.add_argument("--remoteip", metavar="IP")
    g.add_argument("--remoteport", type=int, metavar="PORT")
    g.add_argument("--remoteptr", metavar="NAME", help="verified reverse DNS of the client")
    g.add_argument("--localip", metavar="IP")
    g.add_argument("--localport", type=int, metavar="PORT")
    g.add_argument("--serverid", metavar="ID")
    g.add_argument("--tls-protocol", metavar="PROTO", help="e.g. TLSv1.3 (implies TLS)")
    g.add_argument("--tls-cipher", metavar="CIPHER")
    g.add_argument("--sni", metavar="NAME")
    g.add_argument("--peercert", metavar="CERT.pem", help="the client's TLS certificate")
    g.add_argument("--peerchain", metavar="CERT.pem", nargs="+",
                   help="certificates the client sent after its own")
    g.add_argument("--auth-user", metavar="USER",
                   help="authenticated user name (for --hook auth: the AUTH command's)")
    g.add_argument("--auth-mechanism", metavar="NAME", help="AUTH mechanism (default PLAIN)")
    g.add_argument("--auth-password", metavar="PASSWORD", help="the AUTH command's password")
    g.add_argument("--mail-from", metavar="ADDR",
                   help="MAIL FROM: '<ADDR> [PARAM=VALUE...]' ('' or '<>': null sender)")
    g.add_argument("--rcpt-to", metavar="ADDR", action="append",
                   help="RCPT TO, repeatable: rcptto checks the last, the earlier ones "
                        "are the accepted recipients")
    g.add_argument("--transportid", metavar="ID", help="the default transport (mx)")
    g.add_argument("--transaction-id", metavar="ID", help="$transaction[\"id\"] (default: "
                   "a new UUID)")
    g.add_argument("--message", metavar="FILE.eml", help="the message of --hook eod")
    g.add_argument("--spool", metavar="DIR",
                   help="--hook eod: commit the copies an Accept() keeps to this spool "
                        "directory (without it they are only reported)")
    g.add_argument("--command", dest="proxy_command", metavar="LINE",   # (`command`: hsl's)
                   help="the command line of --hook proxy")
    g.add_argument("--close", choices=["local", "remote"],
                   help="who closed the connection (--hook disconnect)")
    g.add_argument("--context", metavar="JSON", help="$context before this command")
    g.add_argument("--json", action="store_true", help="print the result as one JSON object")
    g.add_argument("--trace", action="store_true",
                   help="show each condition tested and the call that decided")
