"""hsl's cache directory (hsl/cache.py) and what is read back from it: the builtin index
(hsl/builtins/index.py) and the parser tables (hsl/syntax/_lalr.py).  A cache file is never
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


def test_temp_fallback_is_a_private_directory_per_user(tmp_path):
    # No usable home (a service user with HOME=/nonexistent): the cache goes to the temp
    # dir, as hsl-<uid>, 0700.
    proc = hsl_run(SCRIPT, tmp=tmp_path)
    assert proc.returncode == 0 and proc.stdout == "3\n", proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == [f"hsl-{UID}"]
    d = tmp_path / f"hsl-{UID}"
    assert stat.S_IMODE(d.lstat().st_mode) == 0o700
    names = sorted(p.name for p in d.iterdir())
    assert [n for n in names if n.startswith("builtins-")] == [builtins_cache_name()]
    assert [n for n in names if n.startswith("hsl-parser-")]
    for p in d.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, p.name


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


def test_no_usable_cache_directory_still_works(tmp_path):
    # No home, no XDG_CACHE_HOME, and hsl-<uid> in the temp dir is not a directory.
    (tmp_path / f"hsl-{UID}").write_text("")
    proc = hsl_run(SCRIPT, xdg="/dev/null/x", tmp=tmp_path)
    assert proc.returncode == 0 and proc.stdout == "3\n", proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"hsl-{UID}"]


# ------------------------------------------------------------------ parser tables

def tampered_tables() -> tuple:
    """(file name, tables) as hsl caches them, but whose lexer no longer knows `echo`."""
    import marshal
    from hsl.syntax import _lalr
    from hsl.syntax.parser import _get_runtime, _grammar_text
    name, key = _lalr.cache_key(_grammar_text())
    data = marshal.loads(marshal.dumps(_get_runtime()[0].data))
    assert data["key"] == key
    del data["lexer"]["keywords"]["echo"]
    return name, data


def test_parser_tables_in_the_old_shared_temp_dir_are_not_used(tmp_path):
    # What a local user could plant for the code before the fix: marshal data under a
    # computable name in <temp dir>/hsl-cache-<uid>, a directory any user could make.
    import marshal
    name, data = tampered_tables()
    d = tmp_path / f"hsl-cache-{UID}"
    d.mkdir(mode=0o777)
    d.chmod(0o777)
    (d / name).write_bytes(marshal.dumps(data))
    proc = hsl_run("echo 1;", tmp=tmp_path)
    assert proc.returncode == 0 and proc.stdout == "1\n", proc.stderr


def test_parser_tables_in_a_temp_dir_not_ours_are_not_used(tmp_path):
    from hsl.syntax import _lalr
    name, data = tampered_tables()
    d = tmp_path / f"hsl-{UID}"
    d.mkdir()
    d.chmod(0o777)
    (d / name).write_bytes(_lalr._pack(data))
    proc = hsl_run("echo 1;", tmp=tmp_path)
    assert proc.returncode == 0 and proc.stdout == "1\n", proc.stderr
    assert (d / name).read_bytes() == _lalr._pack(data)          # not even rewritten


def test_parser_tables_whose_hash_does_not_match_are_rebuilt(tmp_path):
    from hsl.syntax import _lalr
    from hsl.syntax.parser import _grammar_text
    name, data = tampered_tables()
    packed = _lalr._pack(data)
    head = len(_lalr._MAGIC)
    planted = packed[:head] + bytes(32) + packed[head + 32:]     # another hash
    d = tmp_path / "xdg" / "hsl"
    d.mkdir(parents=True)
    (d / name).write_bytes(planted)
    proc = hsl_run("echo 1;", xdg=tmp_path / "xdg")
    assert proc.returncode == 0 and proc.stdout == "1\n", proc.stderr
    stored = (d / name).read_bytes()                             # rebuilt and stored
    assert stored != planted
    assert _lalr._unpack(stored, _lalr.cache_key(_grammar_text())[1]) is not None


@pytest.mark.parametrize("spoil", [
    lambda t: t["actions"][0].update(x=10 ** 6),                 # a state that is not there
    lambda t: t["actions"][0].update(x="1"),
    lambda t: t.update(start=-1),
    lambda t: t.update(key="another grammar"),
    lambda t: t["rules"].__setitem__(0, t["rules"][0][:2] + ("__class__",) + t["rules"][0][3:]),
    lambda t: t["rules"].__setitem__(0, t["rules"][0][:4] + ((t["rules"][0][1],),)),
    lambda t: t["terminals"].update(X=("py", "x")),
    lambda t: t["lexer"].update(pattern=None),
    lambda t: t["lexer"]["keywords"].update(echo=1),
    lambda t: t["lexer"].update(ignore="WS"),
])
def test_parser_table_values_are_checked(spoil):
    import marshal
    from hsl.syntax import _lalr
    from hsl.syntax.parser import _get_runtime, _grammar_text
    _, key = _lalr.cache_key(_grammar_text())
    data = marshal.loads(marshal.dumps(_get_runtime()[0].data))
    assert _lalr._unpack(_lalr._pack(data), key) == data
    spoil(data)
    assert _lalr._unpack(_lalr._pack(data), key) is None
