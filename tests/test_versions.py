"""The libraries whose internals hsl uses (hsl/pins.py): the installed versions must
be ones hsl is tested with, pyproject.toml pins the same ranges, and an untested version
is a clear error where hsl would use it (the parser-table builder, hsl serve), never a
traceback."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hsl import pins as versions

try:
    import tomllib
except ImportError:                 # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(versions.TESTED))
def test_the_installed_version_is_a_tested_one(name):
    why = versions.problem(name)
    if why is not None:
        pytest.fail(f"untested dependency: {why} (see hsl/pins.py before widening "
                    f"the range)", pytrace=False)


@pytest.mark.parametrize("name", sorted(versions.TESTED))
def test_pyproject_pins_the_tested_range(name):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = [d.replace(" ", "") for d in project["project"]["dependencies"]
            if re.match(rf"{re.escape(name)}\b", d)]
    assert pins == [versions.spec(name)]


@pytest.mark.parametrize("name, found", [("lark", "9.0.1"), ("lark", "1.2.2"),
                                         ("aiosmtpd", "1.5.0"), ("aiosmtpd", None)])
def test_an_untested_version_is_refused_with_a_clear_message(monkeypatch, name, found):
    monkeypatch.setattr(versions, "installed", lambda n: found if n == name else "?")
    with pytest.raises(versions.UnsupportedVersion) as info:
        versions.require(name)
    message = str(info.value)
    low, high, _ = versions.TESTED[name]
    assert name in message and f">={low},<{high}" in message
    assert (found if found else "not installed") in message


def test_a_tested_version_is_accepted(monkeypatch):
    monkeypatch.setattr(versions, "installed", lambda n: versions.TESTED[n][0] + ".7")
    for name in versions.TESTED:
        versions.require(name)


FAKE = "import sys, hsl.pins as v; v.installed = lambda n: '9.0'; " \
       "from hsl.cli import main; sys.exit(main(sys.argv[1:]))"


def hsl_with_untested_libraries(tmp_path, *args):
    """`hsl ARGS` in a process that sees version 9.0 of every library, with an empty
    parser-table cache (so that the tables are built)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path / "cache"))
    return subprocess.run([sys.executable, "-c", FAKE, *args], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=60)


@pytest.mark.parametrize("args", [["run", "t.hsl"], ["run", "-e", "echo 1;"],
                                  ["check", "t.hsl"]])
def test_building_the_parser_tables_with_an_untested_lark_is_an_error(tmp_path, args):
    (tmp_path / "t.hsl").write_text('echo 1;\n')
    proc = hsl_with_untested_libraries(tmp_path, *args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(r"hsl: error: lark 9\.0 is installed, but .* tested with lark "
                     r">=1\.\d+,<1\.\d+ only", proc.stderr), proc.stderr


def test_hsl_serve_with_an_untested_aiosmtpd_is_an_error(tmp_path):
    (tmp_path / "helo.hsl").write_text('Accept();\n')
    proc = hsl_with_untested_libraries(tmp_path, "serve", "--helo", "helo.hsl")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(r"hsl: error: aiosmtpd 9\.0 is installed, but hsl serve .* tested "
                     r"with aiosmtpd >=1\.\d+,<1\.\d+ only", proc.stderr), proc.stderr
