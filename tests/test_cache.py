"""hsl's cache directory (hsl/cache.py) and what is read back from it: the builtin index
(hsl/builtins/index.py) and the parser tables (hsl/_lalr.py).  A cache file is never
trusted: it must be in a directory of the current user's only, and its contents must be
well formed, else hsl builds what it needs in memory and works the same.

Each test runs hsl in a fresh interpreter whose cache locations (XDG_CACHE_HOME, HOME,
TMPDIR) are directories of the test."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UID = os.getuid()

# Passing a builtin as a value makes the compiler emit its arity into the generated code.
SCRIPT = "$f = length; echo $f([1, 2, 3]);"


def hsl_run(code: str, *, xdg=None, home="/dev/null/home", tmp=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOME=str(home))
    env.pop("XDG_CACHE_HOME", None)
    if xdg is not None:
        env["XDG_CACHE_HOME"] = str(xdg)
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    return subprocess.run([sys.executable, "-m", "hsl", "run", "-e", code], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def builtins_cache_name() -> str:
    from hsl.builtins import index
    return f"builtins-{index._sources_key()}.json"


def poisoned_index(marker: Path) -> str:
    """A builtin index whose arity for `length` is Python code creating `marker`."""
    from hsl.builtins import index
    data = index._build()
    data["functions"]["length"][1] = f"__import__('pathlib').Path({str(marker)!r}).touch() or 1"
    return json.dumps(data)


@pytest.mark.parametrize("kind", ["world-writable", "symlink", "other owner"])
def test_a_temp_dir_that_is_not_ours_is_not_used(tmp_path, kind):
    # Another local user made the directories first and planted a poisoned index there.
    marker = tmp_path / "PWNED"
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / builtins_cache_name()).write_text(poisoned_index(marker))
    for name in (f"hsl-{UID}", "hsl-cache"):         # (the old shared name too)
        d = tmp_path / name
        if kind == "symlink":
            d.symlink_to(planted)
        else:
            d.mkdir()
            (d / builtins_cache_name()).write_text(poisoned_index(marker))
            if kind == "world-writable":
                d.chmod(0o777)
            elif UID == 0:
                os.chown(d, 4242, 4242)
            else:
                pytest.skip("needs root to make a directory owned by another user")
    proc = hsl_run(SCRIPT, tmp=tmp_path)
    assert proc.returncode == 0 and proc.stdout == "3\n", proc.stderr
    assert not marker.exists()
    assert sorted(p.name for p in planted.iterdir()) == [builtins_cache_name()]


def test_a_poisoned_index_in_our_own_cache_is_rejected(tmp_path):
    # Even in the user's own directory, an index value that is not an arity is never code.
    marker = tmp_path / "PWNED"
    d = tmp_path / "xdg" / "hsl"
    d.mkdir(parents=True)
    (d / builtins_cache_name()).write_text(poisoned_index(marker))
    proc = hsl_run(SCRIPT, xdg=tmp_path / "xdg")
    assert proc.returncode == 0 and proc.stdout == "3\n", proc.stderr
    assert not marker.exists()
    from hsl.builtins import index
    assert index._valid(json.loads((d / builtins_cache_name()).read_text()))   # rebuilt


@pytest.mark.parametrize("change", [
    ("functions", "length", 1, -1),                      # arity out of range
    ("functions", "length", 2, "2"),                     # not an integer
    ("functions", "length", 1, True),                    # a bool is not an arity
    ("functions", "length", 6, "os"),                    # a module hsl would import
    ("functions", "length", 0, ["x y"]),                 # a parameter that is no name
    ("classes", "Map", 5, "subprocess"),
])
def test_index_values_are_checked(change):
    from hsl.builtins import index
    data = json.loads(json.dumps(index._build()))
    assert index._valid(data)
    table, name, i, value = change
    data[table][name][i] = value
    assert not index._valid(data)
    assert not index._valid({"functions": [], "classes": {}})
    data = json.loads(json.dumps(index._build()))
    data["functions"]["bad name()"] = data["functions"].pop("length")
    assert not index._valid(data)
