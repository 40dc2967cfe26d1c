"""Distribution: the README's Quick start (two commands that make their own virtual
environment; the second is what .ci/run runs), the packaging metadata, the wheel installed
into a fresh virtual environment, the LICENSE and the CHANGELOG."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:                 # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "hsl-halon"


def quick_start() -> list[str]:
    """The commands of the README's Quick start: its ```sh blocks."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    section = section.split("\n### ", 1)[0]
    return [b.strip() for b in re.findall(r"^```sh\n(.*?)^```", section, re.S | re.M)]


def example_args() -> list[str]:
    """The `hsl ...` arguments of the Quick start's first command."""
    last = quick_start()[0].split("&&")[-1].strip()
    words = shlex.split(last)
    assert words[0] == ".venv/bin/hsl"
    return words[1:]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_quick_start_is_two_commands_that_make_their_own_virtual_environment():
    commands = quick_start()
    assert len(commands) == 2 and all("\n" not in c for c in commands), commands
    for command in commands:
        steps = [s.strip() for s in command.split("&&")]
        # python3 exists on Debian, Ubuntu and macOS (`python` does not), and pip installs
        # only into the virtual environment (PEP 668 refuses the system Python).
        assert steps[0] == "python3 -m venv .venv", command
        assert steps[1].startswith(".venv/bin/python -m pip install "), command
        assert all(s.split()[0].startswith(".venv/bin/") for s in steps[1:]), command
    assert commands[0].split("&&")[-1].strip().startswith(".venv/bin/hsl run ")
    assert commands[1].endswith(".venv/bin/python -m pytest")


def test_ci_runs_the_quick_start_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert quick_start()[1] in ci.splitlines()
    assert "python3-venv" in ci and "swaks" in ci and "opendkim-tools" in ci


def test_the_test_command_installs_what_the_suite_needs():
    extras = pyproject()["project"]["optional-dependencies"]
    command = quick_start()[1]
    assert "'.[test,docs]'" in command
    assert {"pytest", "hypothesis", "pexpect"} <= set(extras["test"])
    assert any(d.startswith("mkdocs-material") for d in extras["docs"])


def test_distribution_metadata():
    project = pyproject()["project"]
    assert project["name"] == DISTRIBUTION
    assert project["scripts"] == {"hsl": "hsl.cli:main"}
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert any(d.startswith("shtab") for d in project["dependencies"])
    from hsl import __version__
    assert project["version"] == __version__


def test_every_subpackage_of_hsl_is_packaged():
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "hsl").rglob("__init__.py")}
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages"


def test_license_is_mit():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) " in text and "the hsl authors" in text
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in text


def test_changelog_keeps_a_changelog_with_an_unreleased_section():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "keepachangelog.com" in text
    headings = re.findall(r"^## (.*)$", text, re.M)
    assert headings and headings[0] == "[Unreleased]", headings
    assert re.search(r"^### Added$", text, re.M)


def _clean_env(tmp_path: Path) -> dict:
    """The environment without what points Python at the checkout or another venv, and
    with a cache directory of the test's own."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return env


def _venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    return path / "bin"


def _expected_example_output() -> str:
    r = subprocess.run([sys.executable, "-m", "hsl", *example_args()], capture_output=True,
                       text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('reject 554 "You are not me: ') and \
        r.stdout.endswith(" and disconnect\n"), r.stdout
    return r.stdout


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_venv_and_runs_the_quick_start_example(tmp_path):
    """The wheel holds the package with its data (grammar, stdlib, public suffix list) and
    the LICENSE; installed into a new virtual environment, its `hsl` runs the Quick start's
    example from outside the checkout."""
    # Built from a copy: setuptools leaves build/ and *.egg-info in the tree it builds.
    tree = tmp_path / "tree"
    _tracked_copy(tree)
    env = _clean_env(tmp_path)
    dist = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(tree), "--no-deps",
                        "-w", str(dist), "-q"], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    wheels = list(dist.glob("*.whl"))
    assert [w.name for w in wheels] == ["hsl_halon-0.1.0-py3-none-any.whl"]
    with zipfile.ZipFile(wheels[0]) as z:
        names = set(z.namelist())
        metadata = z.read("hsl_halon-0.1.0.dist-info/METADATA").decode()
        entry_points = z.read("hsl_halon-0.1.0.dist-info/entry_points.txt").decode()
    for name in ("hsl/__init__.py", "hsl/cli.py", "hsl/shell_completion.py",
                 "hsl/grammar/hsl.lark", "hsl/stdlib/helo.hsl", "hsl/data/public_suffix_list.dat",
                 "hsl/mail/model.py",
                 "hsl_halon-0.1.0.dist-info/licenses/LICENSE"):
        assert name in names, name
    assert not any(n.startswith(("tests/", "docs/", "examples/")) for n in names)
    assert "Name: hsl-halon\n" in metadata and "License-Expression: MIT\n" in metadata
    assert "hsl = hsl.cli:main" in entry_points

    bin_dir = _venv(tmp_path / "venv")
    r = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheels[0])],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    # From an empty directory, with the example given by its absolute path: nothing of the
    # checkout is on sys.path, so hsl and its data come from the installed wheel.
    work = tmp_path / "work"
    work.mkdir()
    args = [str(ROOT / a) if a.startswith("examples/") else a for a in example_args()]
    r = subprocess.run([str(bin_dir / "hsl"), *args], capture_output=True, text=True,
                       cwd=work, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == _expected_example_output()
    r = subprocess.run([str(bin_dir / "python"), "-c", "import hsl, sys; print(hsl.__file__)"],
                       capture_output=True, text=True, cwd=work, env=env, timeout=60)
    assert r.stdout.startswith(str(tmp_path / "venv")), r.stdout
    r = subprocess.run([str(bin_dir / "hsl"), "completion", "bash"], capture_output=True,
                       text=True, cwd=work, env=env, timeout=60)
    assert r.returncode == 0 and "complete " in r.stdout, r.stderr


def _tracked_copy(dest: Path) -> None:
    """The checkout's files as a fresh clone has them (what git tracks, as they are in the
    working tree), without a virtual environment or build leftovers."""
    r = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                       cwd=ROOT, capture_output=True, timeout=60)
    if r.returncode != 0:
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "site", "*.egg-info", "__pycache__"))
        return
    for rel in filter(None, r.stdout.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("python3") is None, reason="no python3 command")
def test_the_quick_start_example_command_works_as_written(tmp_path):
    """The Quick start's first command, run by a shell in a copy of the checkout."""
    tree = tmp_path / "hsl"
    _tracked_copy(tree)
    assert not (tree / ".venv").exists()
    env = _clean_env(tmp_path)
    r = subprocess.run(["sh", "-c", quick_start()[0]], capture_output=True, text=True,
                       cwd=tree, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines()[-1] + "\n" == _expected_example_output()
