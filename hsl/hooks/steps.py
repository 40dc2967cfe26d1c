"""A whole SMTP session from a session file: the connection's facts, the hooks of the
server, and the client's steps in order, run through one Conversation
(hsl/hooks/conversation.py) exactly as `hsl serve` runs a real client's commands.
`hsl run --session FILE` prints the results; `hsl test` and the REPL reuse them.

    remoteip: 203.0.113.5           # the connection's facts, as in a one-command file
    server_hostname: mx.example.net
    maxsize: 100000                 # DATA's limit (also announced as SIZE)
    auth_plaintext: true            # AUTH without TLS (otherwise only after STARTTLS)
    hooks:                          # phase: script, relative to the session file
      mailfrom: mailfrom.hsl
      rcptto: rcptto.hsl
      eod: eod.hsl
    rcptto_domains: {example.com: rcptto-example.hsl}
    steps:
      - connect                     # (the first step when the file does not name it)
      - ehlo: client.example        # or helo: HOST
      - starttls: {protocol: TLSv1.3, sni: mx.example.net}   # $connection["tls"]
      - auth: {mechanism: PLAIN, username: alice, password: secret}
      - mail: "<alice@client.example> SIZE=2048"
      - rcpt: [bob@example.com, carol@example.org]            # one RCPT each
      - data: message.eml           # or {file: ...}, {text: ...}; bare: a test message
      - rset                        # also noop, help, quit (with an optional argument)
      - command: "VRFY bob"         # any other line, as the client sends it
      - close: remote               # the client goes away (or local: the server closes)

Each step is a name (`- rset`) or a one-key mapping (`- ehlo: HOST`) with an optional
`expect:` (kept for `hsl test`, ignored here).  Every client command goes through the
proxy hook first when there is one.  A step after the connection closed (a refusal with
disconnect, QUIT, a connect refused) is not run; the disconnect hook runs once, when the
connection closes (`close` is "local" when the server closed it, else "remote").

`load(path)` reads and checks a file into a SessionFile (SessionError, with the file's
line and column, for anything wrong); `compile_hooks()` compiles its hooks into a
HookTable; `run()` runs the steps and returns one StepResult per step.
"""
from __future__ import annotations

import base64
import difflib
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..runtime import values as V
from .conversation import (TOO_BIG, Commit, Conversation, HookTable, Prompt, ReadMessage,
                           Reply, RunHook, drive)
from ..syntax.sourcefile import read_source_text
from .engine import compile_hook, copy_summary, run_hook
from .session import SessionError, build_session

# The phases a session runs (the queue's phases run later, in the queue).
SMTP_PHASES = ("connect", "helo", "auth", "mailfrom", "rcptto", "eod", "disconnect",
               "proxy")

# The settings of a whole session file besides `steps`: the connection's facts.
SESSION_KEYS = ("steps", "hooks", "rcptto_domains", "expect", "remoteip", "remoteport",
                "remoteptr", "remoteuid", "localip", "localport", "serverid",
                "server_hostname", "connection_id", "priority", "transportid", "extensions",
                "tls", "context", "dns", "maxsize", "starttls", "auth_plaintext",
                "auth_mechanisms", "ts")

# Facts that build_session already knows how to check: session key -> Conversation option.
_CHECKED_FACTS = {"remoteip": "remoteip", "remoteport": "remoteport",
                  "remoteptr": "remoteptr", "remoteuid": "remoteuid", "localip": "localip",
                  "localport": "localport", "serverid": "serverid",
                  "server_hostname": "hostname", "connection_id": "connection_id",
                  "priority": "priority", "transportid": "transportid",
                  "extensions": "extensions"}

# The command settings of a one-command file, and the step that says it in a whole session.
_AS_STEP = {"verb": "ehlo: HOST", "host": "ehlo: HOST", "helo": "helo: HOST",
            "ehlo": "ehlo: HOST", "auth": "auth: {...}", "mail_from": "mail: ADDR",
            "rcpt_to": "rcpt: ADDR", "message": "data: FILE", "command": "command: LINE",
            "close": "close: remote"}

AUTH_STEP_KEYS = ("mechanism", "username", "password", "authzid", "initial", "responses")
DEFAULT_CLOSE = "remote"


# --------------------------------------------------------------------- the file

@dataclass
class Step:
    """One step of the client.  `line` is the command line it sends (None for connect
    and close); the rest is what it answers when the server asks."""
    name: str                       # connect, ehlo, ..., command (as in the file)
    line: Optional[str]
    where: str                      # "FILE:LINE:COL" of the step in the session file
    index: int = 0                  # its position in steps: (the RCPTs of a list share it)
    expect: object = None           # the step's expect: (for hsl test)
    answers: tuple = ()             # AUTH: the lines that answer the 334 prompts, in order
    message: Optional[bytes] = None     # data: the message; None: a small test message
    tls: Optional[dict] = None      # starttls: $connection["tls"] afterwards
    close: str = DEFAULT_CLOSE      # close: who closed the connection
    implicit: bool = False          # not in the file (the first connect, the last close)


@dataclass
class HookSource:
    path: str                       # the script file
    where: str                      # where the session file names it


@dataclass
class SessionFile:
    """A whole session as a file describes it, checked."""
    path: str
    steps: list                     # Step
    hooks: dict                     # phase -> HookSource
    rcptto_domains: dict            # domain -> HookSource
    options: dict                   # Conversation keyword arguments (the connection's facts)
    tls: Optional[dict] = None      # TLS from the start (implicit TLS, port 465)
    dns: Optional[dict] = None      # the checked dns: table
    expect: object = None

    def conversation(self, hooks: HookTable) -> Conversation:
        conv = Conversation(hooks, **self.options)
        if self.tls is not None:
            conv.tls = dict(self.tls)
        return conv


def is_whole_session(settings: dict) -> bool:
    """Whether loaded session settings (session.load_session_file) are a whole session."""
    return "steps" in settings


def load(path: str) -> SessionFile:
    """Read and check a whole-session file.  SessionError names the file and, for YAML,
    the line and column of what is wrong."""
    # deferred: YAML only for a session file
    from ..inputs import read_located
    try:
        value, pos = read_located(path, "session file")
    except ValueError as e:
        raise SessionError(str(e)) from None
    if not isinstance(value, dict) or "steps" not in value:
        raise SessionError(f"{path}: a whole session file is a mapping with steps: (a list)")
    return from_value(value, pos, os.path.dirname(os.path.abspath(path)), path)


def from_value(value: dict, pos, base: str, path: str) -> SessionFile:
    """Check a whole session given as a loaded mapping (with steps:) into a SessionFile:
    `pos` tells where its parts are (inputs.Positions, or anything with its `at`), `base`
    is the directory its paths are relative to and `path` names it.  (load() reads a
    file into this; `hsl test` gives the sessions written inside a test file.)"""
    unknown = [k for k in value if k not in SESSION_KEYS]
    if unknown:
        key = unknown[0]
        hint = f" (a step here: - {_AS_STEP[key]})" if key in _AS_STEP else ""
        raise SessionError(f"{pos.at((key,), key=True)}: {key!r} is not a setting of a "
                           f"whole session{hint}; the settings are: " + ", ".join(SESSION_KEYS))
    options = _options(value, pos, base)
    tls = None
    if value.get("tls") is not None:
        tls = _checked(pos, ("tls",), {"tls": value["tls"]}, base).tls
    dns = None
    if "dns" in value:
        # deferred: the dns builtins only for a dns: table
        from ..builtins.dnslookup import TableError, check_table
        try:
            dns = check_table(value["dns"])
        except TableError as e:
            raise SessionError(f"{pos.at(('dns', *e.path))}: dns: {e}") from None
    steps_value = value["steps"]
    if not isinstance(steps_value, list):
        raise SessionError(f"{pos.at(('steps',))}: steps must be a list of steps")
    steps: list = []
    for i, item in enumerate(steps_value):
        steps += _steps(item, i, pos, base)
    for i, step in enumerate(steps):
        if step.name == "connect" and i > 0:
            raise SessionError(f"{step.where}: connect is the first step (the connection "
                               "opens once)")
    if "starttls" not in value:         # a session with a STARTTLS step offers it
        options["starttls"] = any(s.line and s.line.upper().startswith("STARTTLS")
                                  for s in steps)
    return SessionFile(path, steps, _hook_sources(value, pos, base, "hooks"),
                       _hook_sources(value, pos, base, "rcptto_domains"), options, tls, dns,
                       value.get("expect"))


def _checked(pos, path: tuple, settings: dict, base: str):
    """The HookSession of one-command `settings` (build_session checks them), or its
    SessionError with the position of `path` in front."""
    try:
        return build_session({**settings, "_base": base})
    except SessionError as e:
        raise SessionError(f"{pos.at(path)}: {e}") from None


def _options(value: dict, pos, base: str) -> dict:
    """The Conversation options of the connection's facts."""
    options: dict = {}
    for key, option in _CHECKED_FACTS.items():
        if value.get(key) is None:
            continue
        options[option] = getattr(_checked(pos, (key,), {key: value[key]}, base), key)
    if "context" in value:
        options["context"] = _checked(pos, ("context",), {"context": value["context"]},
                                      base).context
    if "maxsize" in value:
        size = value["maxsize"]
        if size is not None and (type(size) is not int or size < 0):
            raise SessionError(f"{pos.at(('maxsize',))}: maxsize must be a number of bytes "
                               f"(0 or none: no limit), not {size!r}")
        options["maxsize"] = size or None
    for key in ("starttls", "auth_plaintext"):
        if key in value:
            if type(value[key]) is not bool:
                raise SessionError(f"{pos.at((key,))}: {key} must be true or false, not "
                                   f"{value[key]!r}")
            options[key] = value[key]
    if "auth_mechanisms" in value:
        mechs = value["auth_mechanisms"]
        if not isinstance(mechs, list) or not all(isinstance(m, str) for m in mechs):
            raise SessionError(f"{pos.at(('auth_mechanisms',))}: auth_mechanisms must be a "
                               "list of mechanism names")
        options["auth_mechanisms"] = tuple(mechs)
    if value.get("ts") is not None:
        ts = value["ts"]
        if type(ts) not in (int, float):
            raise SessionError(f"{pos.at(('ts',))}: ts must be a number, not {ts!r}")
        options["clock"] = lambda: float(ts)
    return options


def _hook_sources(value: dict, pos, base: str, key: str) -> dict:
    table = value.get(key)
    if table is None:
        return {}
    what = "phase" if key == "hooks" else "recipient domain"
    if not isinstance(table, dict):
        raise SessionError(f"{pos.at((key,))}: {key} must map each {what} to a script file")
    out = {}
    for name, script in table.items():
        where = pos.at((key, name))
        if key == "hooks" and name not in SMTP_PHASES:
            raise SessionError(f"{pos.at((key, name), key=True)}: {name!r} is not a hook "
                               "phase of a session; the phases are: " + ", ".join(SMTP_PHASES))
        if not isinstance(script, str) or not script:
            raise SessionError(f"{where}: {key}: {name}: give the script file (a path "
                               "relative to the session file)")
        out[str(name)] = HookSource(os.path.join(base, script), where)
    return out


STEP_NAMES = ("connect", "ehlo", "helo", "starttls", "auth", "mail", "rcpt", "data", "rset",
              "noop", "help", "quit", "close", "command")


def _steps(item, i: int, pos, base: str) -> list:
    """The Step(s) of one entry of steps: (a list of RCPTs is one step per address)."""
    where = pos.at(("steps", i))
    expect = None
    if isinstance(item, str):
        name, value = item, None
    elif isinstance(item, dict):
        names = [k for k in item if k != "expect"]
        if len(names) != 1:
            raise SessionError(f"{where}: a step is one of {', '.join(STEP_NAMES)} (with "
                               "an optional expect:), not a mapping of "
                               + (", ".join(map(str, names)) or "nothing"))
        name, value, expect = names[0], item[names[0]], item.get("expect")
    else:
        raise SessionError(f"{where}: a step is a name (- rset) or a mapping (- ehlo: HOST),"
                           f" not {item!r}")
    if name not in STEP_NAMES:
        near = difflib.get_close_matches(str(name), STEP_NAMES, 1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        at = pos.at(("steps", i, name), key=True) if isinstance(item, dict) else where
        raise SessionError(f"{at}: unknown step {name!r}{hint}; the steps are: "
                           + ", ".join(STEP_NAMES))
    at = pos.at(("steps", i, name)) if isinstance(item, dict) else where

    def step(line, **more) -> Step:
        return Step(name, line, where, i, expect, **more)

    def fail(message: str):
        raise SessionError(f"{at}: {name}: {message}")

    if name == "connect":
        if value is not None:
            fail("takes no value")
        return [step(None)]
    if name in ("ehlo", "helo"):
        if value is not None and (isinstance(value, (bool, list, dict))):
            fail("give the host name the client sends")
        return [step(_command(name, value, fail))]
    if name == "starttls":
        if value is not None and not isinstance(value, dict):
            fail("give the TLS facts as a mapping (protocol, cipher, keysize, sni, "
                 "peercert, ...), or nothing")
        tls = _checked(pos, ("steps", i, name), {"tls": value or {}}, base).tls
        return [step("STARTTLS", tls=tls)]
    if name == "auth":
        line, answers = _auth(value, fail)
        return [step(line, answers=answers)]
    if name == "mail":
        if not isinstance(value, (str, type(None))):
            fail("give the sender: '<ADDR> [PARAM=VALUE...]' ('<>': the null sender)")
        return [step("MAIL FROM:" + _path(value or "<>"))]
    if name == "rcpt":
        addresses = value if isinstance(value, list) else [value]
        if not addresses or not all(isinstance(a, str) and a.strip() for a in addresses):
            fail("give a recipient '<ADDR> [PARAM=VALUE...]' or a list of them")
        return [step("RCPT TO:" + _path(a)) for a in addresses]
    if name == "data":
        return [step("DATA", message=_message(value, base, fail))]
    if name in ("rset", "noop", "help", "quit"):
        if value is not None and not isinstance(value, (str, int, float)):
            fail("takes nothing, or the argument the client sends")
        return [step(_command(name, value, fail))]
    if name == "close":
        if value not in (None, "remote", "local"):
            fail(f"say who closes the connection: remote (the client) or local, not {value!r}")
        return [step(None, close=value or DEFAULT_CLOSE)]
    # command: any line
    if not isinstance(value, str) or not value.strip():
        fail("give the command line the client sends")
    if "\r" in value or "\n" in value:
        fail("one line, without CR or LF")
    return [step(value)]


def _command(name: str, value, fail) -> str:
    if value is None:
        return name.upper()
    text = str(value)
    if "\r" in text or "\n" in text:
        fail("one line, without CR or LF")
    return f"{name.upper()} {text}"


def _path(text: str) -> str:
    """The path argument of MAIL FROM:/RCPT TO: from `ADDR [PARAMS]` (brackets optional)."""
    text = text.strip()
    address, _, params = text.partition(" ")
    if not address.startswith("<"):
        address = f"<{address}>"
    return f"{address} {params.strip()}" if params.strip() else address


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogateescape")).decode() or "="


def _auth(value, fail) -> tuple:
    """(the AUTH line, the answers to the 334 prompts) of an auth step, encoded as a
    client would."""
    if isinstance(value, str):
        return "AUTH " + value.strip(), ()
    if not isinstance(value, dict):
        fail("give {mechanism, username, password} (PLAIN, LOGIN), {mechanism, "
             "responses: [...]}, or the AUTH line's argument ('PLAIN base64')")
    unknown = [k for k in value if k not in AUTH_STEP_KEYS]
    if unknown:
        fail(f"unknown setting {unknown[0]!r}; the settings are: " + ", ".join(AUTH_STEP_KEYS))
    for key in ("mechanism", "username", "password", "authzid", "initial"):
        if value.get(key) is not None and not isinstance(value[key], (str, int, float)):
            fail(f"{key} must be a string")
    responses = value.get("responses") or []
    if not isinstance(responses, list) or not all(isinstance(r, (str, int, float))
                                                  for r in responses):
        fail("responses must be a list of strings (the client's answers to the "
             "334 challenges, in order; hsl encodes them in base64)")
    mechanism = str(value.get("mechanism") or "PLAIN").upper()
    user, password = str(value.get("username") or ""), str(value.get("password") or "")
    answers = [_b64(str(r)) for r in responses]
    if mechanism == "PLAIN":
        plain = f"{value.get('authzid') or ''}\0{user}\0{password}"
        return f"AUTH PLAIN {_b64(plain)}", tuple(answers)
    if mechanism == "LOGIN":
        return "AUTH LOGIN", (_b64(user), _b64(password), *answers)
    line = f"AUTH {mechanism}"
    if value.get("initial") is not None:
        line += " " + _b64(str(value["initial"]))
    return line, tuple(answers)


def _message(value, base: str, fail) -> Optional[bytes]:
    """The bytes of a data step: a file as it is, or inline text with CRLF line ends (as
    a client sends it)."""
    if value is None:
        return None
    if isinstance(value, dict):
        keys = set(value)
        if keys == {"text"} and isinstance(value["text"], str):
            text = value["text"]
            return re.sub(r"\r?\n", "\r\n", text).encode("utf-8", "surrogateescape")
        if keys == {"file"} and isinstance(value["file"], str):
            value = value["file"]
        else:
            fail("give the message file, {file: PATH} or {text: MESSAGE}")
    if not isinstance(value, str):
        fail("give the message file, {file: PATH} or {text: MESSAGE}")
    path = value if os.path.isabs(value) else os.path.join(base, value)
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        fail(f"cannot read message {value}: {e.strerror}")


# ------------------------------------------------------------------- the hooks

def compile_hooks(session: SessionFile, overrides: Optional[dict] = None,
                  **options) -> HookTable:
    """The HookTable of the session's hooks (`overrides`: phase -> program, e.g. the
    script of `hsl run --hook PHASE SCRIPT`, instead of the file's).  `options` are
    compile_hook's.  SessionError for a script that cannot be read; HSLSyntaxError
    (raised as compile_hook raises it) for one that does not compile."""
    def compiled(phase: str, source: HookSource):
        try:
            text = read_source_text(source.path)
        except OSError as e:
            raise SessionError(f"{source.where}: cannot read hook script {source.path}: "
                               f"{e.strerror}") from None
        return compile_hook(phase, text, _shown_path(source.path), **options)

    overrides = overrides or {}
    programs = {phase: compiled(phase, src) for phase, src in session.hooks.items()
                if phase not in overrides}
    programs.update(overrides)
    domains = {d: compiled("rcptto", src) for d, src in session.rcptto_domains.items()}
    return HookTable(programs, domains)


def _shown_path(path: str) -> str:
    """A script's name in diagnostics: relative to the working directory when inside it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


# --------------------------------------------------------------------- running

@dataclass
class Limits:
    """The limits of each hook run (engine.run_hook's)."""
    max_steps: Optional[int] = 10_000_000
    max_time: Optional[float] = 10.0
    max_depth: int = 1000
    max_memory: Optional[int] = None


@dataclass
class HookRun:
    """One run of a hook during a step (a step may run several: proxy, then its own
    phase; AUTH once per challenge)."""
    phase: str
    program: object
    result: object                  # engine.HookResult


_ENHANCED = re.compile(r"([245]\.\d{1,3}\.\d{1,3})(?: |$)")


@dataclass
class StepResult:
    """What one step did: the reply, the hooks it ran, and the state after it."""
    step: Step
    ran: bool = True
    reply: Optional[Reply] = None
    runs: list = field(default_factory=list)        # HookRun, in order
    prompts: list = field(default_factory=list)     # (334 line, the client's answer)
    context: object = None          # $context after the step (a Python value)
    rewritten: Optional[str] = None     # the line the proxy hook passed on instead
    spool_error: Optional[str] = None   # why the copies of a DATA could not be stored

    @property
    def command(self) -> str:
        """The SMTP verb (CONNECT and CLOSE for the connection's ends)."""
        if self.step.line is None:
            return "CLOSE" if self.step.name == "close" else "CONNECT"
        return (self.rewritten or self.step.line).split(" ", 1)[0].upper()

    @property
    def argument(self) -> Optional[str]:
        if self.step.line is None:
            return self.step.close if self.step.name == "close" else None
        arg = (self.rewritten or self.step.line).partition(" ")[2].strip()
        return arg or None

    @property
    def decided(self) -> Optional[HookRun]:
        """The hook run whose decision is the reply (None: the server's own reply, or a
        phase without a hook)."""
        result = self.reply.result if self.reply is not None else None
        return next((r for r in self.runs if r.result is result), None) if result else None

    @property
    def phase(self) -> Optional[str]:
        return self.decided.phase if self.decided else None

    @property
    def decision(self) -> Optional[str]:
        return self.decided.result.decision if self.decided else None

    @property
    def code(self) -> Optional[int]:
        return self.reply.code if self.reply is not None else None

    def reply_parts(self) -> tuple:
        """(enhanced code as [a, b, c] or None, text lines) of the reply."""
        texts = [ln[4:].decode("utf-8", "surrogateescape") for ln in
                 (self.reply.lines if self.reply is not None else [])]
        enhanced = _ENHANCED.match(texts[-1]) if texts else None
        if enhanced is None:
            return None, texts
        return ([int(x) for x in enhanced.group(1).split(".")],
                [t[len(enhanced.group(0)):] if t.startswith(enhanced.group(1)) else t
                 for t in texts])

    @property
    def disconnect(self) -> bool:
        return bool(self.reply is not None and self.reply.disconnect)

    @property
    def output(self) -> list:
        return [line for run in self.runs for line in run.result.output]

    @property
    def errors(self) -> list:
        return [run.result.error for run in self.runs if run.result.error]

    @property
    def queued(self) -> list:
        result = self.reply.result if self.reply is not None else None
        return list(result.queued) if result is not None and self.command == "DATA" else []

    @property
    def stored(self) -> list:
        return list(self.reply.stored) if self.reply is not None else []

    def to_json(self) -> dict:
        enhanced, texts = self.reply_parts()
        errors = self.errors
        out = {"step": self.step.name, "implicit": self.step.implicit, "command": self.command, "argument": self.argument,
               "ran": self.ran, "phase": self.phase, "decision": self.decision,
               "code": self.code, "enhanced": enhanced, "reply": texts,
               "disconnect": self.disconnect, "output": self.output,
               "error": errors[-1] if errors else None, "context": self.context}
        if self.rewritten is not None:
            out["proxied"] = self.rewritten
        if self.prompts:
            out["prompts"] = [{"prompt": p, "answer": a} for p, a in self.prompts]
        if self.command == "DATA":
            out["queued"] = [copy_summary(c) for c in self.queued]
            out["stored"] = self.stored
            if self.spool_error:
                out["spool_error"] = self.spool_error
        return out


def run(session: SessionFile, hooks: HookTable, *, limits: Optional[Limits] = None,
        trace: bool = False, commit: Optional[Callable] = None,
        context=None) -> list:
    """Run the session's steps; one StepResult per step (with the first connect and the
    disconnect when the file does not name them).  `commit(copies)` stores an accepted
    DATA's copies and returns their ids, or a str saying why it could not (the client
    then gets 451); without it the copies are only reported.  `context`, when given,
    is $context at the start instead of the file's."""
    conv = session.conversation(hooks)
    if context is not None:
        conv.base.context = V.from_python(context)
    runner = _Runner(conv, limits or Limits(), trace, commit)
    steps = list(session.steps)
    if not steps or steps[0].name != "connect":
        steps.insert(0, Step("connect", None, session.path, implicit=True))
    results = []
    for step in steps:
        if conv.closed:
            results.append(StepResult(step, ran=False, context=_py(conv.context)))
            continue
        results.append(runner.step(step))
        if conv.closed and not conv.disconnected:   # the server closed the connection
            results.append(runner.step(Step("close", None, session.path, close="local",
                                            implicit=True)))
    if not conv.disconnected:                       # the steps ran out: the client left
        results.append(runner.step(Step("close", None, session.path, implicit=True)))
    return results


def _py(value):
    return V.to_python(value)


class _Runner:
    """Answers one conversation's events for the step being run."""

    def __init__(self, conv: Conversation, limits: Limits, trace: bool, commit):
        self.conv = conv
        self.limits = limits
        self.trace = trace
        self.commit = commit
        self.current: Optional[StepResult] = None
        self.answered = 0

    def step(self, step: Step) -> StepResult:
        self.current = result = StepResult(step)
        self.answered = 0
        if step.name == "connect":
            work = self.conv.connect()
        elif step.name == "close":
            work = self.conv.disconnect(step.close)
        else:
            work = self._command(step)
        result.reply = drive(work, self.handle)
        result.context = _py(self.conv.context)
        return result

    def _command(self, step: Step):
        """A client command: through the proxy hook when there is one, then the verb's."""
        line = step.line
        if self.conv.hooks.has("proxy"):
            passed = yield from self.conv.proxy(line)
            if isinstance(passed, Reply):
                return passed
            if passed[1] != line:
                self.current.rewritten = line = passed[1]
        return (yield from dispatch(self.conv, line, step.tls))

    def handle(self, event):
        step = self.current.step
        if isinstance(event, RunHook):
            limits = self.limits
            result = run_hook(event.program, event.session, phase=event.phase,
                              trace=self.trace, max_steps=limits.max_steps,
                              max_time=limits.max_time, max_depth=limits.max_depth,
                              max_memory=limits.max_memory)
            self.current.runs.append(HookRun(event.phase, event.program, result))
            return result
        if isinstance(event, Prompt):
            # The client answers each 334 with its next line; with none left, it cancels.
            answer = step.answers[self.answered] if self.answered < len(step.answers) \
                else "*"
            self.answered += 1
            prompt = b" / ".join(event.lines).decode("utf-8", "surrogateescape")
            self.current.prompts.append((prompt, answer))
            return answer
        if isinstance(event, ReadMessage):
            message = step.message if step.message is not None else self._test_message()
            if self.conv.maxsize and len(message) > self.conv.maxsize:
                return TOO_BIG
            return message
        if isinstance(event, Commit):
            if self.commit is None:
                return []
            answer = self.commit(event.copies)
            if isinstance(answer, str):
                self.current.spool_error = answer
            return answer
        raise TypeError(f"unknown conversation event {event!r}")

    def _test_message(self) -> bytes:
        t = self.conv.transaction
        sender = t.sender[0] if t.sender else ""
        to = ", ".join(f"<{r[0]}>" for r in t.recipients)
        return (f"From: <{sender}>\r\nTo: {to}\r\nSubject: hsl test message\r\n"
                "\r\nThis is a test message.\r\n").encode()


def dispatch(conv: Conversation, line: str, tls: Optional[dict] = None):
    """One command line to the Conversation command it names (a generator step, like
    them); `tls`: the facts of a successful STARTTLS."""
    verb, _, arg = line.partition(" ")
    verb, arg = verb.upper(), (arg.strip(" \t") or None)
    if verb in ("HELO", "EHLO"):
        return (yield from conv.hello(verb, arg))
    if verb == "AUTH":
        return (yield from conv.auth_command(arg))
    if verb == "MAIL":
        return (yield from conv.mail(arg))
    if verb == "RCPT":
        return (yield from conv.rcpt(arg))
    if verb == "DATA":
        if arg:
            return conv._reply("DATA", [b"501 5.5.4 Syntax: DATA"])
        return (yield from conv.data())
    if verb == "STARTTLS":
        return _starttls(conv, arg, tls)
    if verb in ("RSET", "NOOP", "HELP", "QUIT"):
        return (yield from getattr(conv, verb.lower())(arg))
    # (what hsl serve answers a command it does not know)
    return conv._reply(verb, [b"500 5.5.2 Error: command not recognized"])


def _starttls(conv: Conversation, arg: Optional[str], tls: Optional[dict]) -> Reply:
    # The replies of hsl serve's STARTTLS (hsl/serve/smtp.py); a server that offers no
    # TLS does not know the command.
    if not conv.starttls_offered:
        return conv._reply("STARTTLS", [b"500 5.5.2 Error: command not recognized"])
    if arg:
        return conv._reply("STARTTLS", [b"501 5.5.4 Syntax: STARTTLS"])
    if conv.tls is not None:
        return conv._reply("STARTTLS", [b"503 5.5.1 Error: TLS already active"])
    reply = conv._reply("STARTTLS", [b"220 2.0.0 Ready to start TLS"])
    conv.tls_started(tls if tls is not None else
                     build_session({"tls": {}}).tls)
    return reply
