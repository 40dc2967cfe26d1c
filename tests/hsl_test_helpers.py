"""What the tests of `hsl test` share: running it in-process, a clean memory store around
each test, and a working folder holding the scripts under test."""
from __future__ import annotations

import pytest

from hsl import cli
from hsl.runtime import store


def hsl_test(capsys, *args):
    """`hsl test ARGS...` in this process: (exit status, stdout, stderr)."""
    code = cli.main(["test", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def clean_memory():
    store.reset()
    yield
    store.reset()


def working_folder(tmp_path, monkeypatch, files: dict):
    """`tmp_path` with `files` (name -> text) written in it, as the working directory."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path
