"""The HELO hook examples (`examples/*.hsl` with a `// hook: helo` line) against their
session fixtures.

Layout of the fixtures, `examples/sessions/<policy>/`:

* `<case>.yaml` — one HELO/EHLO command, a session file as `hsl run --hook helo --session`
  reads it (format: hsl/hooks/session.py), with an `expect:` mapping;
* `<scenario>/NN-<step>.yaml` — several commands run in file-name order against one memory
  store (the `memory_*` keys the policies use are cleared before each scenario). Steps with
  the same `connection_id` are commands on one connection: a step without a `context:`
  setting starts with the `$context` the previous step on that connection ended with.

`expect` names keys of `HeloResult.to_json()` (decision, code, enhanced, reply, disconnect,
host, extensions, context, output, error); each one given must be equal, the others are not
checked. An `expect` key that to_json() does not have fails the case.

The TLS client-certificate example (examples/helo_tls_clientcert.hsl) has no committed
fixtures: its certificates are generated at test time with tests/certs.py and its session
files are written next to them in a temporary directory.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hsl import shared
from hsl.hooks.helo import compile_helo, run_helo
from hsl.hooks.session import build_session, load_session_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SESSIONS = EXAMPLES / "sessions"
RESULT_KEYS = {"decision", "code", "enhanced", "reply", "disconnect", "host", "extensions",
               "context", "output", "error"}
MEMORY_PREFIXES = (b"helo-rate:",)
GENERATED_FIXTURES = {"helo_tls_clientcert"}     # sessions written at test time


def hook_examples() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*.hsl")
                  if re.search(r"(?m)^// hook: helo\b", p.read_text(encoding="utf-8")))


def clear_memory() -> None:
    with shared.MEMORY_LOCK:
        for key in [k for k in shared.MEMORY
                    if isinstance(k, bytes) and k.startswith(MEMORY_PREFIXES)]:
            del shared.MEMORY[key]


_programs: dict = {}


def program(policy: Path):
    if policy not in _programs:
        _programs[policy] = compile_helo(policy.read_text(encoding="utf-8"), str(policy))
    return _programs[policy]


def check(result, expect: dict, where: str) -> None:
    assert isinstance(expect, dict) and expect, f"{where}: no expect: mapping"
    unknown = set(expect) - RESULT_KEYS
    assert not unknown, f"{where}: unknown expect key(s) {sorted(unknown)}"
    got = result.to_json()
    assert got["error"] is None or "error" in expect, f"{where}: script error {got['error']}"
    for key, want in expect.items():
        assert got[key] == want, f"{where}: {key} is {got[key]!r}, expected {want!r}"


def run_case(policy: Path, path: Path, context_by_connection: dict | None = None):
    settings = load_session_file(str(path))
    expect = settings.get("expect")
    if context_by_connection is not None and "context" not in settings:
        conn = settings.get("connection_id")
        if conn in context_by_connection:
            settings["context"] = context_by_connection[conn]
    session = build_session(settings)
    result = run_helo(program(policy), session)
    if context_by_connection is not None:
        context_by_connection[settings.get("connection_id")] = result.context
    check(result, expect, str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path))
    return result


# ------------------------------------------------------------ committed fixtures

def _fixture_params():
    for policy in hook_examples():
        folder = SESSIONS / policy.stem
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if entry.is_dir() or entry.suffix in (".yaml", ".yml", ".json"):
                yield pytest.param(policy, entry, id=f"{policy.stem}/{entry.name}")


@pytest.fixture(autouse=True)
def _fresh_memory():
    clear_memory()
    yield
    clear_memory()


@pytest.mark.parametrize("policy,entry", list(_fixture_params()))
def test_fixture(policy: Path, entry: Path):
    if entry.is_dir():
        steps = sorted(p for p in entry.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
        assert steps, f"{entry}: empty scenario"
        contexts: dict = {}
        for step in steps:
            run_case(policy, step, contexts)
    else:
        run_case(policy, entry)


def test_every_hook_example_has_fixtures():
    examples = hook_examples()
    names = {p.stem for p in examples}
    assert {"helo_antispoof", "helo_ratelimit"} <= names
    for policy in examples:
        if policy.stem in GENERATED_FIXTURES:
            continue
        folder = SESSIONS / policy.stem
        assert folder.is_dir() and any(folder.iterdir()), f"no fixtures for {policy.name}"
    for folder in SESSIONS.iterdir():
        assert folder.name in names, f"fixtures for a missing example: {folder}"


def test_fixture_decisions_cover_accept_reject_and_defer():
    seen: dict = {}
    for policy in hook_examples():
        folder = SESSIONS / policy.stem
        if folder.is_dir():
            for path in folder.rglob("*.yaml"):
                expect = load_session_file(str(path))["expect"]
                seen.setdefault(policy.stem, set()).add(expect.get("decision"))
    assert seen["helo_antispoof"] == {"accept", "reject", "defer"}
    assert seen["helo_ratelimit"] == {"accept", "defer"}


def test_fixtures_run_with_the_cli():
    """A fixture is a session file: `hsl run --hook helo POLICY --session FILE --json`."""
    policy = EXAMPLES / "helo_antispoof.hsl"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for name in ("reject_literal_mismatch.yaml", "accept_ptr_mismatch_recorded.yaml"):
        path = SESSIONS / "helo_antispoof" / name
        r = subprocess.run([sys.executable, "-m", "hsl", "run", "--hook", "helo", str(policy),
                            "--session", str(path), "--json"],
                           capture_output=True, env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        for key, want in load_session_file(str(path))["expect"].items():
            assert got[key] == want


# ----------------------------------------------------------- rate limit: the window

def test_ratelimit_window_expires():
    """Past $window seconds the count starts again (the window start is in memory)."""
    import time
    from hsl.hooks.helo import HeloSession
    policy = EXAMPLES / "helo_ratelimit.hsl"
    ip = "203.0.113.77"
    with shared.MEMORY_LOCK:
        shared.MEMORY[f"helo-rate:{ip}:start".encode()] = time.time() - 3600.0
        shared.MEMORY[f"helo-rate:{ip}:count".encode()] = 500.0
    r = run_helo(program(policy), HeloSession(remoteip=ip, connection_id="late"))
    assert r.decision == "accept"
    assert r.to_json()["context"]["ratelimit"]["connections"] == 1
    with shared.MEMORY_LOCK:
        shared.MEMORY[f"helo-rate:{ip}:start".encode()] = time.time() - 10.0
        shared.MEMORY[f"helo-rate:{ip}:count".encode()] = 5.0
    r = run_helo(program(policy), HeloSession(remoteip=ip, connection_id="busy"))
    assert (r.decision, r.code, r.disconnect) == ("defer", 421, True)
