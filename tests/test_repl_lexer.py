"""The Pygments lexer for HSL (hsl/repl/lexer.py) stays in step with the grammar: every
conformance file and example lexes without Error tokens (except the conformance chunks
that are meant to be syntax errors), and it is found through the entry point."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from pygments.token import Error, Name, String

from hsl.repl.lexer import HSLLexer

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "tests" / "conformance").glob("*.hsl")) + sorted((ROOT / "examples").glob("*.hsl"))


def _chunks(text: str):
    """Conformance chunks (separated by `---` lines), with their first line number."""
    line = 1
    for chunk in re.split(r"(?m)^---\n", text):
        yield line, chunk
        line += chunk.count("\n") + 1


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_files_lex_without_error_tokens(path):
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    lexer = HSLLexer()
    bad = []
    for first, chunk in _chunks(text):
        # Chunks that must fail with a syntax error may hold characters HSL has no token for.
        if re.search(r"// error:.*syntax", chunk):
            continue
        for index, token, value in lexer.get_tokens_unprocessed(chunk):
            if token is Error:
                bad.append((first + chunk.count("\n", 0, index), value))
    assert not bad, f"{path.name}: Error tokens at (line, text) {bad[:10]}"


def test_token_kinds():
    text = 'echo "a $x ${y}\\n" . str_lower(\'x\'raw\'x\') =~ #/a+/i; // c\n'
    tokens = [(t, v) for t, v in HSLLexer().get_tokens(text) if v.strip()]
    assert (String.Interpol, "$x") in tokens
    assert (String.Interpol, "${y}") in tokens
    assert (String.Escape, "\\n") in tokens
    assert (Name.Builtin, "str_lower") in tokens
    assert (String.Single, "'x'raw'x'") in tokens
    assert (String.Regex, "#/a+/i") in tokens
    assert not any(t is Error for t, _ in tokens)


def test_error_token_for_invalid_character():
    assert any(t is Error for t, _ in HSLLexer().get_tokens("echo @$x;"))


def test_registered_as_pygments_plugin():
    from importlib.metadata import entry_points
    eps = entry_points(group="pygments.lexers")
    assert any(ep.value == "hsl.repl.lexer:HSLLexer" for ep in eps), \
        "reinstall hsl (pip install -e .) to register the entry point"
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
    assert type(get_lexer_by_name("hsl")).__name__ == "HSLLexer"
    assert type(get_lexer_for_filename("policy.hsl")).__name__ == "HSLLexer"
