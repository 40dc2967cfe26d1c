"""hsl/lsp/tokens.py: the lexer that keeps comments, and semantic tokens classified with
the AST (keywords, variables and hook variables, builtin and user functions, classes,
methods, strings with interpolation, numbers, regexes, comments, operators)."""
from __future__ import annotations

import glob
import os

from lsprotocol import types as T
from pygls.uris import from_fs_path
from pygls.workspace import Workspace

from hsl.lsp import tokens as K

HERE = os.path.dirname(os.path.abspath(__file__))


def decode(data, text):
    """[(line, col, spelling, type, {modifiers})] of semantic-token data (UTF-16 columns
    equal characters for the BMP text used here)."""
    lines = text.split("\n")
    out, line, col = [], 0, 0
    for i in range(0, len(data), 5):
        dl, dc, n, t, m = data[i:i + 5]
        if dl:
            line, col = line + dl, dc
        else:
            col += dc
        mods = {name for k, name in enumerate(K.TOKEN_MODIFIERS) if m >> k & 1}
        out.append((line, col, lines[line][col:col + n], K.TOKEN_TYPES[t], mods))
    return out


def kinds(text, **kw):
    return [(s, t, m) for _, _, s, t, m in decode(K.semantic_tokens(text, **kw), text)]


SRC = """\
// hook: eod
function check($ip) {
    return is_number($ip) or in_list($ip);
}
class Counter { static $n = 0; function bump() { return $this; } }
$c = Counter();
$c->bump();
$hit = check($arguments["ip"]) ? #/^10\\./i : 4.5;
echo "ip $hit!" . Counter::$n;
"""


def test_classification():
    got = kinds(SRC)
    assert ("// hook: eod", "comment", set()) in got
    assert ("function", "keyword", set()) in got
    assert ("check", "function", {"declaration"}) in got
    assert ("$ip", "parameter", {"declaration"}) in got
    assert ("is_number", "function", {"defaultLibrary"}) in got
    assert ("or", "operator", set()) in got
    assert ("Counter", "class", {"declaration"}) in got
    assert ("$n", "property", {"declaration", "static"}) in got
    assert ("bump", "method", {"declaration"}) in got
    assert ("bump", "method", set()) in got               # $c->bump()
    assert ("Counter", "class", set()) in got             # Counter() and Counter::
    assert ("check", "function", set()) in got            # the call: a user function
    assert ("$arguments", "variable", {"readonly", "defaultLibrary"}) in got
    assert ("$hit", "variable", set()) in got
    assert ('"ip"', "string", set()) in got
    assert ("#/^10\\./i", "regexp", set()) in got
    assert ("4.5", "number", set()) in got
    assert ("=", "operator", set()) in got
    assert ("$n", "property", {"static"}) in got
    # the interpolated variable splits its string
    assert [k for k in got if k[0] in ('"ip ', "$hit", '!"')][-3:] == [
        ('"ip ', "string", set()), ("$hit", "variable", set()), ('!"', "string", set())]
    # brackets and separators get no token
    assert not any(s in ("(", ")", "{", "}", ";", ",", "[", "]") for s, _, _ in got)


def test_unknown_function_is_not_a_builtin_and_user_names_from_includes():
    got = kinds('helper(1); strlen("x");')
    assert ("helper", "function", set()) in got
    got = kinds('helper(1); Thing();', extra_funcs={"helper"}, extra_classes={"Thing"})
    assert ("helper", "function", set()) in got and ("Thing", "class", set()) in got


def test_user_function_overriding_a_builtin_is_a_user_function():
    got = kinds("function length($x) { return 1; }\necho length(2);\necho builtin length(3);")
    calls = [k for k in got if k[0] == "length"]
    assert calls == [("length", "function", {"declaration"}), ("length", "function", set()),
                     ("length", "function", {"defaultLibrary"})]


def test_multiline_tokens_are_split_per_line():
    text = '/* one\n   two */\n$a = "x\ny";\n'
    got = decode(K.semantic_tokens(text), text)
    assert (0, 0, "/* one", "comment", set()) in got
    assert (1, 0, "   two */", "comment", set()) in got
    assert (2, 5, '"x', "string", set()) in got and (3, 0, 'y"', "string", set()) in got


def test_range_request_covers_only_its_lines():
    got = decode(K.semantic_tokens(SRC, line_range=(5, 6)), SRC)
    assert {line for line, *_ in got} == {5, 6}


def test_positions_are_utf16():
    text = '$a = "😀"; $b = 1;'
    data = K.semantic_tokens(text)
    # $b starts at character 11 in UTF-16 (the emoji is two code units)
    col = 0
    starts = []
    for i in range(0, len(data), 5):
        col = col + data[i + 1] if data[i] == 0 else data[i + 1]
        starts.append(col)
    assert starts[-3:] == [11, 14, 16]         # $b, =, 1


def test_syntax_errors_still_give_tokens():
    text = "function f( {\n  $x = 1\n"
    got = kinds(text)
    assert ("function", "keyword", set()) in got and ("$x", "variable", set()) in got
    for bad in ["\x00\x01", "'unterminated raw", '"open', "#/", "$", "}}}"]:
        K.semantic_tokens(bad)


def test_lexer_covers_every_character_of_real_files():
    # every character that is not whitespace is inside a token (nothing skipped), in
    # every chunk of the conformance files and examples that parses
    from hsl.syntax.parser import parse_partial
    files = glob.glob(os.path.join(HERE, "conformance", "*.hsl")) + \
        glob.glob(os.path.join(HERE, "..", "examples", "*.hsl"))
    chunks = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            chunks += [(path, c) for c in f.read().split("\n---\n")]
    chunks = [(p, c) for p, c in chunks if not parse_partial(c)[1]]
    assert len(chunks) > 200
    for path, text in chunks:
        covered = bytearray(len(text))
        for t in K.lex(text):
            covered[t.start:t.end] = b"\x01" * (t.end - t.start)
            assert text[t.start:t.end] == t.text
        missing = [i for i, ch in enumerate(text) if not covered[i] and not ch.isspace()]
        assert missing == [], (path, missing[:5])


def test_through_a_workspace_document(tmp_path):
    lib = tmp_path / "lib.hsl"
    lib.write_text("function helper() {}\nclass Thing {}\n")
    main = tmp_path / "main.hsl"
    text = ('include "lib.hsl";\nhelper(); Thing(); length("");\n'
            'function f() { return $arguments; }\necho $arguments;\n')
    main.write_text(text)
    ws = Workspace(from_fs_path(str(tmp_path)))
    uri = from_fs_path(str(main))
    ws.put_text_document(T.TextDocumentItem(uri=uri, language_id="hsl", version=1, text=text))
    doc = ws.get_text_document(uri)
    got = decode(K.full(ws, doc, T.SemanticTokensParams(T.TextDocumentIdentifier(uri))).data,
                 text)
    assert (1, 0, "helper", "function", set()) in got
    assert (1, 10, "Thing", "class", set()) in got
    assert (1, 19, "length", "function", {"defaultLibrary"}) in got
    # a function's own $arguments is not the hook's (it sees no globals)
    assert (2, 22, "$arguments", "variable", set()) in got
    assert (3, 5, "$arguments", "variable", {"readonly", "defaultLibrary"}) in got


def test_a_range_of_the_kept_full_tokens_equals_a_range_request():
    # the server keeps the full tokens of a text and cuts ranges out of them
    src = SRC * 3
    full = K.semantic_tokens(src)
    for r in [(0, 3), (5, 9), (2, 2), (100, 200), (0, 10 ** 6), (12, 30)]:
        assert K._lines_only(full, r) == K.semantic_tokens(src, line_range=r), r
