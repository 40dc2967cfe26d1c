"""The interactive REPL on prompt_toolkit, and the line-by-line mode for a stdin that is
not a terminal."""
from __future__ import annotations

import os
import select
import sys
import threading
from typing import Callable, Optional

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.keys import Keys
from prompt_toolkit.lexers import PygmentsLexer

from ..runtime.execution import start_script_thread
from .commands import Quit
from .completion import HSLCompleter
from .engine import Engine
from .lexer import HSLLexer



def history_path() -> str:
    base = os.environ.get("XDG_STATE_HOME") or \
        os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "hsl", "history")


def _history():
    path = history_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "ab"):
            pass
        return FileHistory(path)
    except OSError:
        return InMemoryHistory()


def run_in_thread(fn: Callable[[], None]) -> threading.Thread:
    """Start fn in a daemon thread with a large stack."""
    return start_script_thread(fn, name="hsl-repl-statement")


def _key_bindings(engine: Engine) -> KeyBindings:
    kb = KeyBindings()

    @Condition
    def completion_selected() -> bool:
        from prompt_toolkit.application.current import get_app
        state = get_app().current_buffer.complete_state
        return bool(state and state.current_completion)

    @kb.add("enter", filter=completion_selected)
    def _(event):
        # The selected completion is already in the text: Enter closes the menu (as in
        # ptpython); the next Enter runs the input.
        event.current_buffer.complete_state = None

    @kb.add("enter", filter=~completion_selected)
    def _(event):
        buf = event.current_buffer
        text = buf.text
        at_end = not buf.document.text_after_cursor.strip()
        if engine.is_complete(text) and (at_end or "\n" not in text):
            buf.validate_and_handle()
            return
        _newline(buf)

    @kb.add("}")
    def _(event):
        # A closing brace on a line of its own goes back one indentation level.
        buf = event.current_buffer
        line = buf.document.current_line_before_cursor
        if line and not line.strip() and line.endswith("    "):
            buf.delete_before_cursor(4)
        buf.insert_text("}")

    @kb.add("escape", "enter")
    def _(event):
        _newline(event.current_buffer)

    return kb


def _newline(buf) -> None:
    """A newline keeping the current indentation, one more level after an opening brace."""
    line = buf.document.current_line_before_cursor
    indent = line[:len(line) - len(line.lstrip())]
    if line.rstrip().endswith(("{", "(", "[")):
        indent += "    "
    buf.insert_text("\n" + indent)


class Repl:
    """The interactive REPL. `input`/`output` default to the terminal (tests pass a
    prompt_toolkit pipe input and DummyOutput); `write`/`write_err` receive every line the
    REPL prints."""

    def __init__(self, engine: Optional[Engine] = None, *, input=None, output=None,
                 write: Optional[Callable[[str], None]] = None,
                 write_err: Optional[Callable[[str], None]] = None):
        self.write = write or _stdout
        self.write_err = write_err or write or _stderr
        self.engine = engine or Engine(self.write, self.write_err)
        self.engine.write, self.engine.write_err = self.write, self.write_err
        self.session = PromptSession(
            message=self._message, multiline=True,
            prompt_continuation=lambda width, n, soft: "." * (width - 1) + " ",
            lexer=PygmentsLexer(HSLLexer), completer=HSLCompleter(self.engine),
            complete_while_typing=True, auto_suggest=AutoSuggestFromHistory(),
            history=_history(), key_bindings=_key_bindings(self.engine),
            enable_history_search=False, input=input, output=output)
        self.running: Optional[threading.Event] = None   # the cancel event of a statement

    def _message(self) -> str:
        return f"{self.engine.hook}> " if self.engine.hook else "hsl> "

    def loop(self) -> int:
        again = ""              # an input that did not compile, offered again for editing
        cursor = None           # where its first error is
        while True:
            try:
                text = self.session.prompt(default=again, pre_run=self._cursor_at(cursor))
            except KeyboardInterrupt:
                again, cursor = "", None
                continue
            except EOFError:
                return 0
            again, cursor = "", None
            if not text.strip():
                continue
            try:
                self.run_input(text)
            except Quit:
                return 0
            failed = self.engine.failed_input
            if failed is not None and failed[0] == text:
                # The error is printed under the input, with a caret; the input comes back
                # at the next prompt with the cursor on the error, to be fixed in place.
                again, cursor = failed

    def _cursor_at(self, position: Optional[int]):
        def move():
            self.session.default_buffer.cursor_position = position
        return move if position is not None else None

    def run_input(self, text: str) -> bool:
        """Run one input in a worker thread; Ctrl-C (a key read from the input, or SIGINT)
        sets its cancel event. Raises Quit for `.quit`."""
        cancel = threading.Event()
        box: dict = {}

        def target():
            try:
                box["ok"] = self.engine.execute(text, cancel)
            except BaseException as e:      # reported below, in the REPL's thread
                box["error"] = e

        self.running = cancel
        thread = None
        try:
            thread = run_in_thread(target)
            self._wait(thread, cancel)
        except KeyboardInterrupt:
            # SIGINT in the moment the terminal is between the prompt and raw mode.
            cancel.set()
            if thread is not None:
                thread.join()
        finally:
            self.running = None
        error = box.get("error")
        if isinstance(error, Quit):
            raise error
        if error is not None:
            self.write_err(f"internal error: {type(error).__name__}: {error}")
            if os.environ.get("HSL_DEBUG"):
                import traceback
                traceback.print_exception(error)
            return False
        return bool(box.get("ok"))

    def _wait(self, thread: threading.Thread, cancel: threading.Event) -> None:
        """Wait for the statement, reading the input meanwhile: Ctrl-C cancels, other keys
        are kept as typeahead for the next prompt."""
        from prompt_toolkit.input.typeahead import store_typeahead
        inp = self.session.input
        typeahead = []
        try:
            fd = inp.fileno()
        except Exception:
            fd = None
        try:
            with inp.raw_mode():      # Ctrl-C arrives as a key, not as SIGINT
                while thread.is_alive():
                    try:
                        if fd is None or getattr(inp, "closed", False):
                            thread.join(0.05)
                            continue
                        ready, _, _ = select.select([fd], [], [], 0.05)
                        if not ready:
                            continue
                        keys = inp.read_keys()
                        if not keys:
                            thread.join(0.05)
                        for key in keys:
                            if key.key == Keys.ControlC:
                                cancel.set()
                            else:
                                typeahead.append(key)
                    except KeyboardInterrupt:
                        cancel.set()
                    except (OSError, ValueError):
                        fd = None
        except KeyboardInterrupt:
            cancel.set()
            thread.join()
        if typeahead:
            store_typeahead(inp, typeahead)


def _stdout(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _stderr(text: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def run_lines(engine: Engine, stream) -> int:
    """Non-interactive mode (stdin is not a terminal): read inputs line by line, each
    complete input is run as at the prompt. Exit status 1 if any input failed."""
    status = 0
    buffer = ""
    for line in stream:
        buffer += line
        if not engine.is_complete(buffer.rstrip("\n")):
            continue
        text, buffer = buffer.rstrip("\n"), ""
        if not text.strip():
            continue
        ok = _run_blocking(engine, text)
        if ok is None:
            return 130 if status == 0 else status
        if ok == "quit":
            return status
        if not ok:
            status = 1
    if buffer.strip():
        ok = _run_blocking(engine, buffer.rstrip("\n"))
        if ok is None:
            return 130
        if ok is not True and ok != "quit":
            status = 1
    return status


def _run_blocking(engine: Engine, text: str):
    """Run one input in a big-stack thread; None when interrupted by SIGINT."""
    cancel = threading.Event()
    box: dict = {}

    def target():
        try:
            box["ok"] = engine.execute(text, cancel)
        except Quit:
            box["ok"] = "quit"
        except BaseException as e:
            box["error"] = e

    thread = run_in_thread(target)
    try:
        while thread.is_alive():
            thread.join(0.1)
    except KeyboardInterrupt:
        cancel.set()
        thread.join()
        return None
    if "error" in box:
        e = box["error"]
        engine.write_err(f"internal error: {type(e).__name__}: {e}")
        return False
    return box.get("ok")
