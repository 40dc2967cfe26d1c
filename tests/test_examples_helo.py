"""The bundled examples pass their own tests: a thin wrapper over `hsl test examples/`
(hsl/testing; the format and the layouts are docs/testing.md).

Every case `hsl test examples/` finds is one pytest case here (a scenario is one, run
whole): the test files (`examples/**/*.test.yaml`) and the older fixture layout of the
HELO examples, `examples/sessions/<policy>/` (`<case>.yaml` one command with its
`expect:`, `<scenario>/NN-<step>.yaml` steps that share the memory store and `$context`
per connection id).

The TLS client-certificate example (examples/helo_tls_clientcert.hsl) has no committed
tests: its certificates are generated at test time with tests/certs.py, and a test file
for them is written next to them in a temporary directory and run by `hsl test`.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hsl.runtime import store as shared
from hsl.hooks.helo import compile_helo, run_helo
from hsl.hooks.session import load_session_file
from hsl.testing import load_suites, run_suites
from hsl.testing.report import details
from hsl.testing.runner import Runner

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SESSIONS = EXAMPLES / "sessions"
GENERATED_FIXTURES = {"helo_tls_clientcert"}     # tests written at test time


def hook_examples() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*.hsl")
                  if re.search(r"(?m)^// hook: helo\b", p.read_text(encoding="utf-8")))


def _suites(paths) -> list:
    suites, status = load_suites([str(p) for p in paths])
    assert status is None, f"hsl test cannot load {paths} (exit {status})"
    return suites


def _assert_passed(results: list) -> None:
    for r in results:
        assert r.status == "PASS", "\n".join([f"{r.status} {r.case.id}"] + details(r))


def run_test_file(path: Path, **run) -> list:
    """The CaseResults of `hsl test PATH`, each asserted to pass."""
    suites = _suites([path])
    try:
        results = run_suites(suites, **run)
    finally:
        for suite in suites:
            suite.close()
    assert results, f"{path}: no cases"
    _assert_passed(results)
    return results


# ------------------------------------------------------- hsl test examples/

_EXAMPLE_SUITES = _suites([EXAMPLES])


def _units() -> list:
    """(suite, [cases]) for each isolated case and each scenario."""
    units: list = []
    for suite in _EXAMPLE_SUITES:
        for case in suite.cases:
            if case.group is not None and units and units[-1][1][0].group == case.group \
                    and units[-1][0] is suite:
                units[-1][1].append(case)
            else:
                units.append((suite, [case]))
    return units


_UNITS = _units()


@pytest.mark.parametrize("suite,cases", _UNITS, ids=[
    (cases[0].id.rsplit("::", 1)[0] if cases[0].group else cases[0].id).replace(" ", "_")
    for _, cases in _UNITS])
def test_example(suite, cases):
    """One case (or one scenario, whole) of `hsl test examples/`."""
    results = Runner().run(suite, lambda c: c in cases)
    assert len(results) == len(cases)
    _assert_passed(results)


def test_hsl_test_examples_with_the_cli():
    """`hsl test examples/` passes as a command, with its summary line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "hsl", "test", "examples/", "--fail-on-empty"],
                       capture_output=True, env=env, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    lines = r.stdout.decode().splitlines()
    total = sum(len(s.cases) for s in _EXAMPLE_SUITES)
    assert total >= 60
    assert lines[-1].startswith(f"{total} passed, 0 failed")
    assert all(line.startswith("PASS ") for line in lines[:-1])


def test_every_example_has_tests():
    """Every example script is tested: by a test file that names it, or by its
    examples/sessions/<policy>/ fixtures (the TLS example: below, generated)."""
    tested = set()
    for suite in _EXAMPLE_SUITES:
        assert suite.cases, f"{suite.shown}: no cases"
        scripts = list(suite.scripts.hooks.values()) + [suite.scripts.plain]
        tested |= {Path(p).resolve() for p in scripts if isinstance(p, str)}
    for policy in sorted(EXAMPLES.rglob("*.hsl")):
        if "stubs" in policy.parts or policy.stem in GENERATED_FIXTURES:
            continue
        assert policy.resolve() in tested, f"no tests for {policy.relative_to(ROOT)}"
    names = {p.stem for p in hook_examples()}
    assert {"helo_antispoof", "helo_ratelimit", "helo_tls_clientcert", "helo_dnsbl"} <= names
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
    assert seen["helo_dnsbl"] == {"accept", "reject", "defer"}


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

_programs: dict = {}


def program(policy: Path):
    if policy not in _programs:
        _programs[policy] = compile_helo(policy.read_text(encoding="utf-8"), str(policy))
    return _programs[policy]


@pytest.fixture
def fresh_memory():
    shared.reset()
    yield
    shared.reset()


def test_ratelimit_window_expires(fresh_memory):
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


# ------------------------------------------------- TLS client certificates (generated)

TLS_POLICY = EXAMPLES / "helo_tls_clientcert.hsl"
PLAIN_EXTENSIONS = ["PIPELINING", "SIZE 10240000", "8BITMIME", "STARTTLS"]


def _tls_cases(sha256: dict) -> dict:
    """Session settings and expectations of the TLS example, by case name. Certificate
    files named here are written by `tls_dir`; `sha256` maps the generated certificates'
    names to their fingerprints."""
    greet = "Hello {}, client certificate verified"
    tls = {"protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "keysize": 256}

    def peer(cert, chain=("intermediate.pem",)):
        return dict(tls, peercert=cert, peerchain=list(chain))

    return {
        "plain_ehlo_offers_starttls_only": (
            {"verb": "EHLO", "host": "relay1.partner.example", "extensions": PLAIN_EXTENSIONS},
            {"decision": "accept", "code": 250, "extensions": ["PIPELINING", "STARTTLS"]}),
        "plain_helo_deferred": (
            {"verb": "HELO", "host": "relay1.partner.example"},
            {"decision": "defer", "code": 450,
             "reply": ["TLS required: use EHLO and STARTTLS"], "disconnect": False}),
        "plain_ehlo_without_starttls_offer": (
            {"verb": "EHLO", "host": "relay1.partner.example",
             "extensions": ["PIPELINING", "8BITMIME"]},
            {"decision": "defer", "code": 421, "disconnect": True}),
        "tls_without_client_certificate": (
            {"verb": "EHLO", "host": "relay1.partner.example", "tls": dict(tls)},
            {"decision": "reject", "code": 554, "disconnect": True,
             "reply": ["A TLS client certificate is required"]}),
        "allowed_by_cn": (
            {"verb": "EHLO", "host": "relay1.partner.example", "tls": peer("relay1.pem"),
             "extensions": ["PIPELINING", "8BITMIME"], "context": {"connect": "ok"}},
            {"decision": "accept", "code": 250,
             "reply": [greet.format("relay1.partner.example"), "PIPELINING", "8BITMIME"],
             "context": {"connect": "ok", "tls_client": {
                 "name": "relay1.partner.example", "serial": "5EED01",
                 "sha256": sha256.get("relay1")}}}),
        "allowed_by_san": (
            {"verb": "EHLO", "host": "relay2.partner.example", "tls": peer("relay2.pem"),
             "extensions": ["PIPELINING", "8BITMIME"]},
            {"decision": "accept",
             "reply": [greet.format("relay2.partner.example"), "PIPELINING", "8BITMIME"]}),
        "allowed_case_insensitive": (
            {"verb": "HELO", "host": "mx.other-partner.example", "tls": peer("other.pem")},
            {"decision": "accept", "reply": [greet.format("mx.other-partner.example")]}),
        "verified_but_not_allowed": (
            {"verb": "EHLO", "host": "client.example.net", "tls": peer("client.pem")},
            {"decision": "reject", "code": 554, "disconnect": True,
             "reply": ["Certificate for client.example.net is not authorised here"]}),
        "expired": (
            {"verb": "EHLO", "host": "expired.example.com", "tls": peer("expired.pem")},
            {"decision": "reject", "code": 554, "disconnect": True,
             "reply": ["Client certificate not accepted: certificate has expired"]}),
        "not_yet_valid": (
            {"verb": "EHLO", "host": "notyet.example.com", "tls": peer("notyet.pem")},
            {"decision": "reject",
             "reply": ["Client certificate not accepted: certificate is not yet valid"]}),
        "self_signed": (
            {"verb": "EHLO", "host": "relay1.partner.example", "tls": peer("forged.pem", [])},
            {"decision": "reject", "code": 554,
             "reply": ["Client certificate not accepted: self-signed certificate"]}),
        "missing_intermediate": (
            {"verb": "EHLO", "host": "relay1.partner.example", "tls": peer("relay1.pem", [])},
            {"decision": "reject",
             "reply": ["Client certificate not accepted: unable to get local issuer certificate"]}),
        "bad_signature": (
            {"verb": "EHLO", "host": "badsig.example.com", "tls": peer("badsig.pem")},
            {"decision": "reject",
             "reply": ["Client certificate not accepted: certificate signature failure"]}),
    }


def _fingerprint(cert) -> str:
    import hashlib
    from cryptography.hazmat.primitives import serialization
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory):
    """A copy of the TLS example next to tls/ca.pem and the client certificates, and one
    session file per case (with its expect: mapping) in sessions/."""
    certs = pytest.importorskip("certs")          # tests/certs.py
    import yaml
    from cryptography.x509.oid import NameOID
    base = tmp_path_factory.mktemp("helo_tls")
    p = certs.pki()
    inter, inter_key = p.intermediate, p.intermediate_key
    made = {
        "relay1": certs.build_cert("relay1.partner.example", certs.new_key(), inter, inter_key,
                                   serial=0x5EED01),
        "relay2": certs.build_cert(certs.name("Partner Relay 2",
                                              (NameOID.ORGANIZATION_NAME, "Partner")),
                                   certs.new_key(), inter, inter_key,
                                   san_dns=["relay2.partner.example"]),
        "other": certs.build_cert("Other Partner", certs.new_key(), inter, inter_key,
                                  san_dns=["smtp.other-partner.example",
                                           "MX.Other-Partner.Example"]),
        # Same name as an allowed partner, but not issued by our CA:
        "forged": certs.build_cert("relay1.partner.example", certs.new_key()),
    }
    (base / "tls").mkdir()
    certs.write_pem(base / "tls" / "ca.pem", p.root)
    for fname, cert in [("intermediate.pem", inter), ("client.pem", p.client),
                        ("expired.pem", p.expired), ("notyet.pem", p.notyet),
                        ("badsig.pem", p.badsig)] + [(f"{k}.pem", v) for k, v in made.items()]:
        certs.write_pem(base / "tls" / fname, cert)
    (base / TLS_POLICY.name).write_text(TLS_POLICY.read_text(encoding="utf-8"),
                                         encoding="utf-8")
    sessions = base / "sessions"
    sessions.mkdir()
    fingerprints = {k: _fingerprint(v) for k, v in made.items()}
    for case, (settings, expect) in _tls_cases(fingerprints).items():
        settings = dict(settings, expect=expect)
        if "tls" in settings:
            tls = dict(settings["tls"])
            if "peercert" in tls:
                tls["peercert"] = "../tls/" + tls["peercert"]
                tls["peerchain"] = ["../tls/" + c for c in tls["peerchain"]]
            settings["tls"] = tls
        (sessions / f"{case}.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    _write_test_file(base / "helo_tls_clientcert.test.yaml",
                     {case: f"sessions/{case}.yaml" for case in _tls_cases({})})
    return base


def _write_test_file(path: Path, sessions: dict) -> None:
    """A test file of the TLS example: one run case per session file (its expect:)."""
    import yaml
    path.write_text(yaml.safe_dump({
        "script": TLS_POLICY.name, "hook": "helo",
        "cases": [{"name": name, "run": session} for name, session in sessions.items()]},
        sort_keys=False))


TLS_CASES = list(_tls_cases({}))


@pytest.mark.parametrize("case", TLS_CASES)
def test_tls_clientcert(tls_dir, case):
    results = run_test_file(tls_dir / "helo_tls_clientcert.test.yaml",
                            selected=re.compile(f"::{re.escape(case)}$"))
    assert [r.case.name for r in results] == [case]


def test_tls_clientcert_with_the_cli(tls_dir):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    session = tls_dir / "sessions" / "allowed_by_cn.yaml"
    r = subprocess.run([sys.executable, "-m", "hsl", "run", "--hook", "helo",
                        str(tls_dir / TLS_POLICY.name), "--session", str(session)],
                       capture_output=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == [
        'accept 250 "Hello relay1.partner.example, client certificate verified" (+2 more lines)']
    # --peercert on the command line instead of the session file:
    r = subprocess.run([sys.executable, "-m", "hsl", "run", "--hook", "helo",
                        str(tls_dir / TLS_POLICY.name), "--ehlo", "x.example",
                        "--tls-protocol", "TLSv1.3", "--peercert", str(tls_dir / "tls" / "expired.pem"),
                        "--peerchain", str(tls_dir / "tls" / "intermediate.pem")],
                       capture_output=True, env=env, timeout=60)
    assert r.stdout.decode().splitlines() == [
        'reject 554 "Client certificate not accepted: certificate has expired" and disconnect']


def test_make_test_certs_demo(tmp_path):
    """examples/make_test_certs.py (the README demo) writes certificates and session files
    whose expect: mappings the TLS example meets."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_test_certs",
                                                  EXAMPLES / "make_test_certs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sessions = mod.make(str(tmp_path / "tls"))
    assert (tmp_path / "tls" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert not list((tmp_path / "tls").glob("*.key"))          # no private keys
    (tmp_path / TLS_POLICY.name).write_text(TLS_POLICY.read_text(encoding="utf-8"),
                                            encoding="utf-8")
    assert len(sessions) == 6
    _write_test_file(tmp_path / "demo.test.yaml",
                     {Path(p).stem: os.path.relpath(p, tmp_path) for p in sessions})
    assert len(run_test_file(tmp_path / "demo.test.yaml")) == 6


def test_tls_clientcert_line_coverage(tls_dir):
    """The TLS example's generated tests run every line of it (hsl test --coverage; the
    other examples: tests/test_hsl_test_coverage.py)."""
    from hsl.coverage import Coverage
    cov = Coverage()
    run_test_file(tls_dir / "helo_tls_clientcert.test.yaml",
                  compile_options={"coverage": cov})
    files = cov.data().files
    assert [Path(f.path).name for f in files] == [TLS_POLICY.name]
    assert files[0].missing_lines == []
