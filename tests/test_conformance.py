"""Spec conformance tests: chunked `.hsl` files with inline expectations.

Every `tests/conformance/<area>.hsl` file (top level only; helper files live in
sub-directories such as `modules/` and `include/`) covers one area of the language
specification.  The format, in the style of starlark-go's chunked files and Crafting
Interpreters' test suite:

* A file holds **chunks** separated by a line that is exactly `---`.  Each chunk is an
  independent program, compiled with `hsl.compile(source, filename=<the .hsl file's real
  path>)` so relative `import`/`include` paths resolve next to the file.  The chunk's source
  is padded with leading newlines so that line N of the chunk is line N of the file:
  diagnostics report real file positions.
* `// expect: TEXT` (to the end of the line) gives, in file order, the next expected line of
  standard output of the chunk.  One space after the colon is dropped; the rest, trailing
  spaces included, is the line.  `// expect:` alone expects an empty line.  Output is
  compared as text: an `echo` of a value containing a line feed yields several lines.
* `// error: FRAGMENT` on a line means the chunk must fail with an error (compile time or
  run time, either is accepted) located on **that** line whose message contains FRAGMENT,
  compared case-insensitively.  Several required fragments can be given separated by
  ` && `.  An empty FRAGMENT accepts any message (used where the spec fixes the error but
  not its wording).  Output produced before a runtime error must still match the expects;
  a compile error means nothing ran, so such chunks have no expects.  At most one
  `// error:` per chunk.
* `// error-col: N` on the same line as `// error:` also checks the 1-based column.
* Errors located in another file (an imported module, an included file) are accepted when
  the message matches, or when a stack frame of a runtime error is on the marked line.
* A chunk may start with `// option: NAME` lines, reserved for future flags; no option is
  defined yet and an unknown one fails the chunk.
* `(uncertain)` in a comment marks a chunk whose expectation pins a behaviour the spec marks
  UNSPECIFIED (it follows the spec's SHOULD).

One pytest test per chunk, with ids like `arrays_keys.hsl:42` (the chunk's first line).

The runner also runs every `examples/*.hsl` script as a smoke test: it must run without
error, and its output must equal `examples/<name>.out` when that file exists.  Hook
policies (a line `// hook: NAME`) are left to their own fixture tests.

Expected outputs are written from the specification, not from the implementation.
"""
from __future__ import annotations

import dataclasses
import os
import re
import signal
from pathlib import Path
from typing import Optional

import pytest

HERE = Path(__file__).resolve().parent
CONFORMANCE = HERE / "conformance"
EXAMPLES = HERE.parent / "examples"

KNOWN_OPTIONS: set[str] = set()

# Chunks where the implementation is known to disagree with the spec, run as non-strict
# xfail so that the disagreement stays visible (XFAIL/XPASS in the summary) without
# failing CI.  Keyed by chunk id; remove an entry once the implementation is fixed.
KNOWN_FAILURES: dict[str, str] = {
}
CHUNK_TIMEOUT = 20  # seconds; a hung chunk fails instead of stalling CI

EXPECT_RE = re.compile(r"//\s*expect:(.*)$")
ERROR_RE = re.compile(r"//\s*error:(.*?)(?://\s*error-col:\s*(\d+)\s*)?$")
ERROR_COL_RE = re.compile(r"//\s*error-col:\s*(\d+)")
OPTION_RE = re.compile(r"^\s*//\s*option:\s*(\S+)\s*$")


@dataclasses.dataclass
class ExpectedError:
    line: int
    fragments: list[str]
    column: Optional[int]


@dataclasses.dataclass
class Chunk:
    path: Path
    first_line: int            # 1-based file line of the chunk's first line
    source: str                # padded so that chunk lines are file lines
    expects: list[str]
    error: Optional[ExpectedError]
    options: list[str]
    problems: list[str]        # malformed markers, reported as failures

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.first_line}"


def parse_chunks(path: Path, text: Optional[str] = None) -> list[Chunk]:
    """Split a conformance file into chunks and read their markers."""
    if text is None:
        text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    chunks: list[Chunk] = []
    start = 0
    for i in range(len(lines) + 1):
        if i == len(lines) or lines[i].rstrip("\r") == "---":
            body = lines[start:i]
            if any(l.strip() for l in body):
                chunks.append(_make_chunk(path, start + 1, body))
            start = i + 1
    return chunks


def _make_chunk(path: Path, first_line: int, body: list[str]) -> Chunk:
    expects: list[str] = []
    error: Optional[ExpectedError] = None
    options: list[str] = []
    problems: list[str] = []
    in_header = True
    for offset, raw in enumerate(body):
        line = raw.rstrip("\r")
        lineno = first_line + offset
        m = OPTION_RE.match(line)
        if m and in_header:
            options.append(m.group(1))
            continue
        if line.strip():
            in_header = False
        m = EXPECT_RE.search(line)
        if m:
            value = m.group(1)
            expects.append(value[1:] if value.startswith(" ") else value)
        m = ERROR_RE.search(line)
        if m and not EXPECT_RE.search(line):
            if error is not None:
                problems.append(f"line {lineno}: more than one // error: in a chunk")
            frag_text = m.group(1).strip()
            fragments = [f.strip() for f in frag_text.split(" && ")] if frag_text else []
            col = ERROR_COL_RE.search(line)
            error = ExpectedError(lineno, fragments, int(col.group(1)) if col else None)
        elif ERROR_COL_RE.search(line) and not m:
            problems.append(f"line {lineno}: // error-col: without // error:")
    source = "\n" * (first_line - 1) + "\n".join(l.rstrip("\r") for l in body) + "\n"
    return Chunk(path, first_line, source, expects, error, options, problems)


def _collect() -> list[Chunk]:
    chunks: list[Chunk] = []
    for path in sorted(CONFORMANCE.glob("*.hsl")):
        chunks.extend(parse_chunks(path))
    return chunks


ALL_CHUNKS = _collect()


def _import_hsl():
    try:
        import hsl  # noqa: F401
        hsl.compile  # noqa: B018 -- the API this runner needs
        hsl.HSLSyntaxError, hsl.HSLRuntimeError  # noqa: B018
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"the hsl package is not importable or lacks compile/HSLSyntaxError/"
                    f"HSLRuntimeError ({exc}); install it with: python -m pip install -e '.[test]'",
                    pytrace=False)
    return hsl


class _Timeout(Exception):
    pass


def _with_timeout(fn, seconds: int):
    """Run fn() with a wall-clock limit (SIGALRM; no limit where unavailable)."""
    if not hasattr(signal, "setitimer") or os.name != "posix":
        return fn()

    def on_alarm(signum, frame):
        raise _Timeout(f"chunk did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _same_file(a, b: Path) -> bool:
    if a is None:
        return False
    try:
        return Path(str(a)).resolve() == b.resolve()
    except OSError:
        return False


def _located(err, chunk: Chunk, exp: ExpectedError) -> tuple[bool, str]:
    """Does the error (or one of its diagnostics / stack frames) sit on the marked line?"""
    candidates = []
    for d in getattr(err, "diagnostics", None) or [err]:
        candidates.append((d.filename, d.line, d.column, d.message))
    where = "; ".join(f"{f}:{l}:{c}: {m}" for f, l, c, m in candidates)
    for f, l, c, m in candidates:
        if not _msg_ok(m, exp):
            continue
        if _same_file(f, chunk.path):
            if l == exp.line and (exp.column is None or c == exp.column):
                return True, where
        else:
            return True, where   # reported in a helper file: the message must do
    for frame in getattr(err, "stack", None) or []:
        if _same_file(frame.filename, chunk.path) and frame.line == exp.line \
                and _msg_ok(err.message, exp):
            return True, where
    return False, where


def _msg_ok(message: str, exp: ExpectedError) -> bool:
    low = (message or "").lower()
    return all(f.lower() in low for f in exp.fragments)


def _as_lines(outputs: list[str]) -> list[str]:
    text = "".join(str(s) + "\n" for s in outputs)
    return text.split("\n")[:-1]


def _compare(got: list[str], expected: list[str], what: str) -> None:
    if got == expected:
        return
    import difflib
    diff = "\n".join(difflib.unified_diff(expected, got, "expected", "got", lineterm=""))
    pytest.fail(f"{what}\n{diff}", pytrace=False)


def run_chunk(chunk: Chunk) -> None:
    hsl = _import_hsl()
    if chunk.problems:
        pytest.fail("malformed chunk: " + "; ".join(chunk.problems), pytrace=False)
    unknown = [o for o in chunk.options if o not in KNOWN_OPTIONS]
    if unknown:
        pytest.fail(f"unknown option(s) {unknown}", pytrace=False)

    outputs: list[str] = []
    err = None

    def go():
        # As `hsl run` does: no pre-defined variables, so a global read that is assigned
        # nowhere is a compile error.
        prog = hsl.compile(chunk.source, filename=str(chunk.path), predefined=set())
        prog.run(output=outputs.append)

    try:
        _with_timeout(go, CHUNK_TIMEOUT)
    except (hsl.HSLSyntaxError, hsl.HSLRuntimeError) as e:
        err = e
    got = _as_lines(outputs)

    if chunk.error is None:
        if err is not None:
            pytest.fail(f"unexpected {type(err).__name__}: {err}\n"
                        f"output so far: {got!r}", pytrace=False)
        _compare(got, chunk.expects, "stdout differs from the // expect: lines")
        return

    exp = chunk.error
    if err is None:
        pytest.fail(f"expected an error on line {exp.line} containing {exp.fragments!r}, "
                    f"but the chunk ran successfully; output: {got!r}", pytrace=False)
    ok, where = _located(err, chunk, exp)
    col = f", column {exp.column}" if exp.column else ""
    if not ok:
        pytest.fail(f"expected an error on line {exp.line}{col} containing {exp.fragments!r}; "
                    f"got {type(err).__name__}: {where}", pytrace=False)
    _compare(got, chunk.expects, f"stdout before the error differs from the // expect: lines "
                                 f"(error: {type(err).__name__}: {err})")


def _params():
    for c in ALL_CHUNKS:
        marks = []
        if c.id in KNOWN_FAILURES:
            marks.append(pytest.mark.xfail(reason=KNOWN_FAILURES[c.id], strict=False))
        yield pytest.param(c, id=c.id, marks=marks)


@pytest.mark.parametrize("chunk", list(_params()))
def test_conformance(chunk: Chunk) -> None:
    run_chunk(chunk)


def _is_hook_example(path: Path) -> bool:
    """Hook policies (a `// hook: NAME` line) need their hook context; they are run with
    session fixtures by tests/test_examples_helo.py instead."""
    return re.search(r"(?m)^// hook: \w+", path.read_text(encoding="utf-8")) is not None


EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*.hsl") if not _is_hook_example(p))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.name for p in EXAMPLE_FILES])
def test_example(path: Path) -> None:
    hsl = _import_hsl()
    outputs: list[str] = []
    prog = hsl.compile(path.read_text(encoding="utf-8"), filename=str(path), predefined=set())
    _with_timeout(lambda: prog.run(output=outputs.append), CHUNK_TIMEOUT)
    got = _as_lines(outputs)
    assert got, "an example should print something"
    expected = path.with_suffix(".out")
    if expected.exists():
        assert got == expected.read_text(encoding="utf-8").split("\n")[:-1]


# ---------------------------------------------------------------- the runner itself

def test_chunk_format() -> None:
    text = "\n".join([
        "echo 1; // expect: 1",            # 1
        "echo \"\"; // expect:",            # 2
        "---",                              # 3
        "// option: future",                # 4
        "echo 2; // expect:  two spaces ",  # 5
        "nosuch(); // error: undefined function && nosuch // error-col: 1",  # 6
        "---",
        "",
    ])
    a, b = parse_chunks(Path("x.hsl"), text)
    assert (a.first_line, a.expects, a.error) == (1, ["1", ""], None)
    assert a.source == "echo 1; // expect: 1\necho \"\"; // expect:\n"
    assert b.first_line == 4 and b.options == ["future"]
    assert b.expects == [" two spaces "]
    assert b.error == ExpectedError(6, ["undefined function", "nosuch"], 1)
    assert b.source.startswith("\n\n\n// option: future\n")
    assert b.source.count("\n") == 6


def test_known_failures_exist() -> None:
    ids = {c.id for c in ALL_CHUNKS}
    assert set(KNOWN_FAILURES) <= ids, set(KNOWN_FAILURES) - ids


def test_every_area_has_chunks() -> None:
    areas = {p.stem for p in CONFORMANCE.glob("*.hsl")}
    assert len(ALL_CHUNKS) >= 300, len(ALL_CHUNKS)
    assert {"literals", "errors_compile", "errors_runtime", "copy_on_write"} <= areas
