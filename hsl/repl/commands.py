"""The REPL's dot-commands, and how the REPL shows a value."""
from __future__ import annotations

import os
import shlex

from ..runtime import values as V
from ..builtins import index
from ..errors import HSLRuntimeError, HSLSyntaxError, escape_controls
from ..hooks.engine import compile_hook, run_hook
from ..hooks import delivery
from ..hooks.phases import PHASES, QUEUE_PHASES, RUNNABLE
from ..hooks.session import SessionError, build_session, load_session_file
from ..net import dns as resolver
from ..syntax.parser import parse
from ..program import compile_program
from ..syntax.sourcefile import read_source_text

COMMANDS = {
    ".help": ("[NAME]", "this help, or the signature and description of a function"),
    ".load": ("FILE", "load a script's functions, classes and imports; .run runs it"),
    ".hook": ("PHASE|none", "evaluate in a hook's context ($arguments, $connection, ...); "
                            "phases: " + ", ".join(RUNNABLE)),
    ".session": ("FILE", "session settings from a YAML/JSON file (implies .hook helo)"),
    ".entry": ("FILE", "the queued copy of the queue hooks: a spool copy (SPOOL/BATCH-N) "
                       "or a YAML fixture, as hsl run --entry (implies .hook predelivery)"),
    ".ehlo": ("HOST", "simulate EHLO HOST (implies .hook helo)"),
    ".remoteip": ("IP", "the client's IP address (implies .hook helo)"),
    ".run": ("", "run the loaded script (with a hook: show its decision)"),
    ".vars": ("", "list the variables"),
    ".reset": ("", "forget variables, functions, classes and imports"),
    ".quit": ("", "leave (also Ctrl-D)"),
}


class Quit(Exception):
    """`.quit`"""


class ReplError(Exception):
    """An error to report to the user as is (bad dot-command argument, missing file)."""


# ------------------------------------------------------------------ values

def quote(s: bytes) -> str:
    return V._quote(s).decode("utf-8", "backslashreplace")


def show(value) -> str:
    """A value in HSL notation: strings quoted, arrays in the array text form."""
    if type(value) is bytes:
        return quote(value)
    if type(value) is V.HArray:
        return V.array_text(value).decode("utf-8", "backslashreplace")
    try:
        text = V.to_str(value).decode("utf-8", "backslashreplace")
    except Exception:
        return f"<{V.type_name(value)}>"
    cls = getattr(value, "cls", None)
    if text == "object" and cls is not None and getattr(cls, "name", None):
        return f"object {cls.name}"
    return text


def help_text() -> str:
    lines = ["Type HSL statements; an expression shows its value (the final ; is optional).",
             "Enter runs the input when it is complete; Escape Enter inserts a newline.",
             "Tab completes; Ctrl-C interrupts a running statement; Ctrl-D leaves.", ""]
    for name, (args, text) in COMMANDS.items():
        lines.append(f"  {(name + ' ' + args).strip():<20} {text}")
    return "\n".join(lines)


def run_command(engine, text: str, cancel=None) -> bool:
    parts = text.split(None, 1)
    name, arg = parts[0], (parts[1].strip() if len(parts) > 1 else "")
    matches = [c for c in COMMANDS if c.startswith(name)]
    if name in COMMANDS:
        matches = [name]
    if len(matches) != 1:
        engine.write_err(f"unknown command {name} (.help lists the commands)" if not matches
                         else f"ambiguous command {name}: {', '.join(matches)}")
        return False
    fn = globals()["cmd_" + matches[0][1:]]
    try:
        return fn(engine, _unquote(arg), cancel) is not False
    except ReplError as e:
        engine.write_err(escape_controls(f"error: {e}"))
        return False


def _unquote(arg: str) -> str:
    if arg[:1] in ("'", '"'):
        try:
            return " ".join(shlex.split(arg))
        except ValueError:
            pass
    return os.path.expanduser(arg) if arg.startswith("~") else arg


def cmd_help(engine, arg, cancel):
    if not arg:
        engine.write(help_text())
        return
    name = arg.strip().rstrip("()")
    if name.startswith(".") and name in COMMANDS:
        args, text = COMMANDS[name]
        engine.write(f"{name} {args}".strip() + f"\n  {text}")
        return
    funcs = engine.functions()
    if name in funcs:
        d = funcs[name]
        engine.write(f"{d.signature}\n  user function, declared in {d.origin}:{d.line}")
        return
    classes = engine.classes()
    if name in classes:
        d = classes[name]
        lines = [f"class {d.signature}, declared in {d.origin}:{d.line}"]
        lines += [f"  ->{m}" for m in d.methods]
        lines += [f"  {name}::{m}" for m in d.static_methods]
        engine.write("\n".join(lines))
        return
    entry = _builtin_entry(engine, name, index.functions_for)
    if entry is not None:
        doc = entry.doc or "(no description)"
        where = f" (only in the {', '.join(entry.context)} hook" \
            f"{'s' if len(entry.context) > 1 else ''})" if entry.context else ""
        engine.write(f"{entry.signature()}{where}\n" +
                     "\n".join("  " + line for line in doc.splitlines()))
        return
    centry = _builtin_entry(engine, name, index.classes_for)
    if centry is not None:
        engine.write(f"class {name}\n" + "\n".join(
            "  " + line for line in (centry.doc or "(no description)").splitlines()))
        return
    engine.write_err(f"no help for {name}")
    return False


def _builtin_entry(engine, name: str, table):
    """A builtin function or class for .help: the current hook's, else any hook's."""
    for phase in (engine.hook,) + RUNNABLE:
        entry = table(phase).get(name)
        if entry is not None:
            return entry
    return None


def _read(path: str) -> str:
    try:
        return read_source_text(path)
    except OSError as e:
        raise ReplError(f"cannot read {path}: {e.strerror}") from None


def _load(engine, path: str):
    """Compile the script at path (as .run runs it) and, if it compiles, bring its
    declarations into the session: (declarations, program).  Else show its errors,
    change nothing and return None."""
    text = _read(path)
    try:
        tree = parse(text, path)
        program = _compile(engine, text, path)
    except HSLSyntaxError as e:
        engine.write_err(e.render({path: text}))
        return None
    decls = engine.extract_decls(tree, text, path, os.path.dirname(os.path.abspath(path)))
    engine.decls = engine._kept_decls(decls) + decls
    engine.sources[path] = text
    engine._prepared = None
    return decls, program


def _compile(engine, source: str, path: str):
    """The script compiled as .run runs it (raises HSLSyntaxError).  With no hook chosen
    yet, a script that compiles only as a hook script is taken as one: .load it, then
    `.hook PHASE` and `.run`."""
    where = _where(engine)
    if engine.hook:
        return compile_hook(engine.hook, source, path, **where)
    try:
        return compile_program(source, path, predefined=set(), **where)
    except HSLSyntaxError:
        if _hook_phase(source, path, where) is not None:
            return None         # a hook script: it compiles, but runs only in its hook
        raise


def _where(engine) -> dict:
    """How the REPL's scripts find their includes, imports and plugins."""
    return dict(include_paths=engine.include_paths, roots=[os.getcwd()],
                plugins=engine.plugins)


def _hook_phase(source: str, path: str, where: dict):
    """The first phase (HELO first) whose hook script `source` can be, or None."""
    for phase in sorted(RUNNABLE, key=lambda p: p != "helo"):
        try:
            compile_hook(phase, source, path, **where)
        except HSLSyntaxError:
            continue
        return phase
    return None


def cmd_load(engine, arg, cancel):
    if not arg:
        raise ReplError(".load needs a file name")
    # The file asked for is the loaded one even when it does not compile: .run then
    # reports its errors again, and never runs a script loaded before.
    engine.loaded = arg
    loaded = _load(engine, arg)
    if loaded is None:
        engine.write_err(f"{arg} not loaded: it does not compile")
        return False
    decls, program = loaded
    funcs = sorted(n[2:] for d in decls for n in d.names if n.startswith("f:") and d.kind != "import")
    classes = sorted(n[2:] for d in decls for n in d.names if n.startswith("c:") and d.kind == "class")
    what = []
    if funcs:
        what.append("functions " + ", ".join(funcs))
    if classes:
        what.append("classes " + ", ".join(classes))
    how = "; .run runs it"
    if program is None:
        phase = _hook_phase(_read(arg), arg, _where(engine))
        how = f"; it is a {_shown_phase(phase)} hook script: .hook {phase}, then .run runs it"
    engine.write(f"loaded {arg}" + (f" ({'; '.join(what)})" if what else "") + how)


def cmd_hook(engine, arg, cancel):
    if arg in ("", "none", "off"):
        if engine.hook:
            engine.globals.pop("context", None)
        engine.hook = None
        engine._prepared = None
        engine.write("no hook: plain scripts")
        return
    if arg not in RUNNABLE:
        raise ReplError(f"unknown hook {arg!r} (hooks: {', '.join(RUNNABLE)})")
    _enable(engine, arg)
    _show_hook(engine)


def _enable(engine, phase=None) -> None:
    """Evaluate in hook `phase` (default: the current hook, else helo).  $context is the
    connection's in the SMTP phases; in the queue it is one pickup's: predelivery starts
    a new one, which postdelivery then reads."""
    phase = phase or engine.hook or "helo"
    if engine.hook != phase:
        before = engine.hook
        if before == "predelivery" and phase == "postdelivery":
            engine.queue_context = engine.globals.get("context")
        if (before in QUEUE_PHASES) != (phase in QUEUE_PHASES) or phase == "predelivery":
            engine.globals.pop("context", None)
        engine.hook = phase
        engine._prepared = None
        if "context" in PHASES[phase].readonly:
            engine.globals.pop("context", None)
        else:
            engine.globals.setdefault("context", engine.context_variables()["context"])


def _shown_phase(phase: str) -> str:
    return "HELO" if phase == "helo" else phase


def _show_hook(engine) -> None:
    engine.write(f"hook {engine.hook}: {_describe(engine)}")


def _describe(engine) -> str:
    """What the hook's script is checking, in a few words."""
    phase = engine.hook
    if phase in QUEUE_PHASES:
        view, facts = engine.queue_entry()
        what = f"{view.recipient} from <{view.sender}> via {view.transportid}, retry " \
               f"{view.retry}"
        if phase == "postdelivery":
            result = (facts.get("attempt") or {}).get("result") or {}
            error = (facts.get("attempt") or {}).get("error") or {}
            outcome = f"{result['code']}" if result.get("code") else \
                error.get("message", "no attempt")
            what += ", after " + (f"{outcome} ({facts['action']})" if facts.get("action")
                                  else f"{outcome} (delivered)")
        return what
    s = engine.session()
    if phase == "helo":
        return f"{s.verb} {s.host} from {s.remoteip}"
    mechanism = str((s.auth or {}).get("mechanism", "PLAIN")).upper()
    what = {"connect": "connection", "auth": f"AUTH {mechanism}",
            "mailfrom": f"MAIL FROM:<{s.sender()[0]}>",
            "rcptto": f"RCPT TO:<{s.recipients()[-1][0]}>",
            "eod": f"end of DATA for {len(s.recipients())} recipient(s)",
            "disconnect": f"disconnect ({s.close})", "proxy": s.command}[phase]
    return f"{what} from {s.remoteip}"


def _set(engine, key: str, value) -> None:
    settings = dict(engine.settings)
    settings[key] = value
    try:
        build_session(dict(settings))
    except SessionError as e:
        raise ReplError(str(e)) from None
    engine.settings = settings
    _enable(engine)
    _show_hook(engine)


def cmd_session(engine, arg, cancel):
    if not arg:
        raise ReplError(".session needs a file name")
    try:
        settings = load_session_file(arg)
        build_session(dict(settings))
    except SessionError as e:
        raise ReplError(str(e)) from None
    engine.settings = settings
    if settings.get("dns") is not None:
        resolver.configure(resolver.MockBackend(settings["dns"]))
    _enable(engine)
    if "context" in settings:
        engine.globals["context"] = engine.context_variables()["context"]
    _show_hook(engine)


def cmd_entry(engine, arg, cancel):
    if not arg:
        raise ReplError(".entry needs a file name")
    try:
        engine.entry = delivery.load_entry_file(arg)
    except delivery.EntryFileError as e:
        raise ReplError(str(e)) from None
    engine.queue_context = None
    engine._prepared = None
    _enable(engine, engine.hook if engine.hook in QUEUE_PHASES else "predelivery")
    _show_hook(engine)


def cmd_ehlo(engine, arg, cancel):
    if not arg:
        raise ReplError(".ehlo needs a host name")
    settings = dict(engine.settings)
    settings.pop("helo", None)
    engine.settings = settings
    _set(engine, "ehlo", arg)


def cmd_remoteip(engine, arg, cancel):
    import ipaddress
    try:
        ipaddress.ip_address(arg)
    except ValueError:
        raise ReplError(f"not an IP address: {arg!r}") from None
    _set(engine, "remoteip", arg)


def cmd_run(engine, arg, cancel):
    """Run the loaded script: with a hook as `hsl run --hook PHASE` does."""
    path = arg or engine.loaded
    if not path:
        raise ReplError("no script loaded (.load FILE first)")
    if arg:
        engine.loaded = arg
    loaded = _load(engine, path)            # picks up edits made since .load
    if loaded is None:
        return False
    program = loaded[1]
    if program is None:
        phase = _hook_phase(_read(path), path, _where(engine))
        raise ReplError(f"{path} is a {_shown_phase(phase)} hook script: .hook {phase} first")
    if engine.hook in QUEUE_PHASES:
        return _run_queue_hook(engine, _Cancellable(program, cancel))
    if engine.hook:
        result = run_hook(_Cancellable(program, cancel), engine.session(), echo=engine.write,
                          max_steps=None, max_time=None, phase=engine.hook)
        if result.error:
            if result.error.endswith(": interrupted"):
                engine.write_err("interrupted")
                return False
            if result.exception is not None:
                engine.write_err(result.exception.render(program.sources))
            else:
                engine.write_err(escape_controls(result.error))
        engine.write("\n".join(escape_controls(line) for line in result.human_lines()))
        return result.error is None
    try:
        result = program.run(output=engine.write, keep_globals=True, cancel=cancel)
    except HSLRuntimeError as e:
        if e.message == "interrupted":
            engine.write_err("interrupted")
        else:
            engine.write_err(e.render(program.sources))
        return False
    # The script's variables become the session's, to inspect them.
    engine.globals.update(result.globals or {})
    engine._prepared = None


def _run_queue_hook(engine, program) -> bool:
    """.run in a queue hook: the loaded script once on the entry, as hsl run --hook
    PHASE --entry does; predelivery's $context goes on to a later postdelivery .run."""
    view, facts = engine.queue_entry()
    if engine.hook == "predelivery":
        d = delivery.run_predelivery(program, view, max_time=None)
        if d.context is not None:       # (the pickup's $context, for postdelivery)
            engine.globals["context"] = d.context
    else:
        attempt = facts.get("attempt")
        d = delivery.run_postdelivery(
            program, view, V.from_python(attempt) if attempt else None,
            action=facts.get("action"), expired=facts.get("expired", False),
            context=engine.post_context(), max_time=None)
    for line in d.output:
        engine.write(escape_controls(line))
    if d.error:
        if d.error.endswith(": interrupted"):
            engine.write_err("interrupted")
            return False
        engine.write_err(escape_controls(d.error))
    if d.metadata is not None:
        view.metadata = dict(d.metadata)
    engine.write("\n".join(escape_controls(line)
                           for line in delivery.decision_lines(engine.hook, d)))
    return d.error is None


class _Cancellable:
    """A Program whose run() is interruptible (run_hook takes no cancel event)."""

    def __init__(self, program, cancel):
        self.program, self.cancel = program, cancel

    def run(self, *args, **kwargs):
        kwargs.setdefault("cancel", self.cancel)
        return self.program.run(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.program, name)


def cmd_vars(engine, arg, cancel):
    lines = []
    if engine.hook:
        for name, value in engine.context_variables().items():
            if name in PHASES[engine.hook].readonly:
                lines.append(f"${name} = {show(value)}   (read-only)")
    for name in sorted(engine.globals):
        lines.append(f"${name} = {show(engine.globals[name])}")
    funcs = sorted(engine.functions())
    if funcs:
        lines.append("functions: " + ", ".join(funcs))
    classes = sorted(engine.classes())
    if classes:
        lines.append("classes: " + ", ".join(classes))
    engine.write("\n".join(lines) if lines else "(no variables)")


def cmd_reset(engine, arg, cancel):
    engine.reset()
    engine.write("state cleared")


def cmd_quit(engine, arg, cancel):
    raise Quit()
