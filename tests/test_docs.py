"""The documentation (docs/, built with mkdocs.yml): its HSL examples compile and print what
the page says, its session files load, the generated reference pages are current, and the
site builds with `mkdocs build --strict`."""
from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# A fenced block: ```lang [attributes] ... ```, at the start of a line.
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```\s*$", re.S | re.M)


def blocks(page: str):
    """(language, attributes, text, following block or None) for each fenced block."""
    text = (DOCS / page).read_text(encoding="utf-8")
    found = [(m.group(1), m.group(2).strip(), m.group(3), m.start(), m.end())
             for m in FENCE.finditer(text)]
    for i, (lang, attrs, body, _, end) in enumerate(found):
        nxt = found[i + 1] if i + 1 < len(found) else None
        # An output block belongs to the code block right before it (blank lines between).
        if nxt is not None and text[end:nxt[3]].strip() == "":
            nxt = nxt[:3]
        else:
            nxt = None
        yield lang, attrs, body, nxt


def hsl_examples(page: str):
    """(source, expected output or None, is_helo_hook) of a page's ```hsl blocks."""
    for lang, _, body, nxt in blocks(page):
        if lang != "hsl":
            continue
        expected = None
        if nxt is not None and nxt[0] == "text" and 'title="output"' in nxt[1]:
            expected = nxt[2]
        hook = re.search(r"^\s*//\s*hook:\s*(\w+)", body, re.M)
        yield body, expected, hook.group(1) if hook else None


PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
EXAMPLES = [pytest.param(page, i, src, out, hook, id=f"{page}:{i}")
            for page in PAGES
            for i, (src, out, hook) in enumerate(hsl_examples(page), 1)]


def test_the_guide_pages_have_examples_with_output():
    pages = {e.values[0] for e in EXAMPLES if e.values[3] is not None}
    assert {"language.md", "hooks.md"} <= pages


@pytest.mark.parametrize("page, index, source, expected, hook", EXAMPLES)
def test_hsl_examples_compile_and_print_what_the_page_says(page, index, source, expected,
                                                           hook, tmp_path, fresh_store):
    import hsl
    name = str(DOCS / page) + f"#{index}"
    if hook:
        from hsl.hooks.engine import compile_hook
        compile_hook(hook, source, name)
        if expected is None:
            return
        script = tmp_path / "example.hsl"
        script.write_text(source, encoding="utf-8")
        args = re.search(rf"^//\s*hsl run --hook {hook} (?:\S+) (.*)$", source, re.M)
        assert args, "a hook example with output names its session in a comment: " \
                     f"// hsl run --hook {hook} example.hsl OPTIONS"
        r = subprocess.run([sys.executable, "-m", "hsl", "run", "--hook", hook,
                            str(script), *shlex.split(args.group(1))],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout == expected
        return
    program = hsl.compile(source, name)
    if expected is None:
        return
    lines = []
    program.run(output=lambda value: lines.append(value))
    assert "".join(f"{line}\n" for line in lines) == expected


def test_session_file_examples_load(tmp_path):
    from hsl.hooks.session import build_session, load_session_file
    examples = [body for lang, _, body, _ in blocks("sessions.md") if lang == "yaml"]
    assert examples
    for i, body in enumerate(examples):
        path = tmp_path / f"session{i}.yaml"
        path.write_text(body, encoding="utf-8")
        settings = load_session_file(str(path))
        session = build_session(settings)
        assert session.verb in ("HELO", "EHLO")


def transcripts():
    """(page, command, expected output) of each `$ hsl run ...` line of ```console blocks."""
    for page in PAGES:
        for lang, _, body, _ in blocks(page):
            if lang != "console":
                continue
            for part in re.split(r"^(?=\$ )", body, flags=re.M):
                command, _, output = part.partition("\n")
                if command.startswith("$ hsl run "):
                    yield pytest.param(page, command[2:], output, id=f"{page}:{command[2:40]}")


@pytest.mark.parametrize("page, command, expected", list(transcripts()))
def test_console_transcripts_print_what_the_page_says(page, command, expected):
    args = shlex.split(command)[1:]
    r = subprocess.run([sys.executable, "-m", "hsl", *args], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert r.stdout == expected, r.stderr


def _generator():
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_reference_pages_are_current():
    stale = _generator().stale_pages()
    assert not stale, f"stale: {stale}; run `python docs/gen_reference.py` and commit the result"


def test_builtin_reference_lists_every_builtin_with_its_signature():
    from hsl.builtins import CLASSES, FUNCTIONS, load_all
    load_all()
    page = (DOCS / "reference" / "builtins.md").read_text(encoding="utf-8")
    for name, b in FUNCTIONS.items():
        assert f"\n### {name}\n\n`{b.signature()}`\n" in page, name
        if b.doc:
            first = " ".join(b.doc.split("\n\n")[0].split())
            assert _generator()._escape(first) in page, name
    for name, c in CLASSES.items():
        assert f"\n### {name}\n\n`{name}(" in page, name
        for method in c.cls.hsl_methods:
            assert f"* `->{method}(" in page, (name, method)
        for static in c.cls.hsl_statics:
            assert f"* `{name}::{static}(" in page, (name, static)


def test_check_codes_page_lists_every_code():
    from hsl.check.codes import CODES
    page = (DOCS / "reference" / "check-codes.md").read_text(encoding="utf-8")
    for code, (severity, _) in CODES.items():
        assert f"| {code} | {severity} |" in page


def test_site_builds_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or \
            importlib.util.find_spec("material") is None:
        if os.environ.get("CI"):
            pytest.fail("mkdocs and mkdocs-material are not installed (pip install -e '.[docs]')")
        pytest.skip("mkdocs and mkdocs-material are not installed (pip install -e '.[docs]')")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                        str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, NO_MKDOCS_2_WARNING="1"), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for page in ("index.html", "language/index.html", "hooks/index.html",
                 "sessions/index.html", "reference/builtins/index.html",
                 "reference/check-codes/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    assert "dns_query" in (tmp_path / "site" / "reference/builtins/index.html").read_text()
