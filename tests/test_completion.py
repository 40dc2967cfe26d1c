"""`hsl completion bash|zsh|fish`: the shell completion scripts (hsl/shell_completion.py)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBCOMMANDS = ("run", "check", "serve", "repl", "completion")


def completion(shell: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hsl", "completion", shell],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


@pytest.fixture(scope="module")
def scripts() -> dict:
    out = {}
    for shell in ("bash", "zsh", "fish"):
        r = completion(shell)
        assert r.returncode == 0, r.stderr
        out[shell] = r.stdout
    return out


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_a_script_naming_every_command(scripts, shell):
    script = scripts[shell]
    assert len(script.splitlines()) > 20
    for name in SUBCOMMANDS:
        assert name in script, (shell, name)
    for option in ("--hook", "--max-time", "--format", "--listen", "--session"):
        assert option in script, (shell, option)


def test_an_unknown_shell_is_a_usage_error():
    r = completion("tcsh")
    assert r.returncode == 2
    assert "invalid choice" in r.stderr and r.stdout == ""


def _bash_complete(script_file: Path, words: list, cwd: Path = ROOT) -> list:
    """COMPREPLY of the completion function for the command line `words` (the last word
    being completed)."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    program = (f"source '{script_file}'; COMP_WORDS=({quoted}); "
               f"COMP_CWORD={len(words) - 1}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; "
               "COMP_POINT=${#COMP_LINE}; "
               "$(complete -p hsl | sed -e 's/.*-F \\([^ ]*\\) .*/\\1/') hsl; "
               "printf '%s\\n' \"${COMPREPLY[@]}\"")
    r = subprocess.run(["bash", "--norc", "-c", program], capture_output=True, text=True,
                       cwd=cwd, timeout=60)
    assert r.returncode == 0, r.stderr
    return [line for line in r.stdout.splitlines() if line]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_registers_the_completion_and_completes_commands_options_and_files(
        scripts, tmp_path):
    script_file = tmp_path / "hsl.bash"
    script_file.write_text(scripts["bash"])
    r = subprocess.run(["bash", "--norc", "-c", f"source '{script_file}' && complete -p hsl"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(" hsl") and "-F " in r.stdout
    assert set(_bash_complete(script_file, ["hsl", ""])) >= set(SUBCOMMANDS)
    assert _bash_complete(script_file, ["hsl", "check", "--format", ""]) == \
        ["text", "json", "github"]
    assert "--max-steps" in _bash_complete(script_file, ["hsl", "run", "--max-s"])
    (tmp_path / "policy.hsl").write_text("echo 1;")
    assert _bash_complete(script_file, ["hsl", "run", "pol"], cwd=tmp_path) == ["policy.hsl"]


@pytest.mark.parametrize("shell, check", [("zsh", ["zsh", "-n"]),
                                          ("fish", ["fish", "--no-execute"])])
def test_zsh_and_fish_scripts_parse(scripts, shell, check, tmp_path):
    if shutil.which(check[0]) is None:
        pytest.skip(f"{shell} is not installed")
    script_file = tmp_path / f"hsl.{shell}"
    script_file.write_text(scripts[shell])
    r = subprocess.run([*check, str(script_file)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_commands_with_their_one_line_help(scripts, tmp_path):
    script_file = tmp_path / "hsl.fish"
    script_file.write_text(scripts["fish"])
    r = subprocess.run(["fish", "--no-config", "-c",
                        f"source '{script_file}'; complete -C 'hsl '"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    listed = dict(line.split("\t", 1) for line in r.stdout.splitlines() if "\t" in line)
    assert set(listed) >= set(SUBCOMMANDS)
    assert listed["run"] == "run a script"
