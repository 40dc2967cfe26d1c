"""hsl test --coverage (hsl/testing/__init__.py over hsl/coverage.py): the scripts under
test and the files they include or import, on scripts whose covered lines and branches
are known by construction; each report format; --threshold's exit status; the bundled
examples at 100% line coverage with their own tests."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hsl_test_helpers import clean_memory, hsl_test, working_folder  # noqa: F401


ROOT = Path(__file__).resolve().parent.parent

# p.hsl: lines 1-4 and 6 are statements; the test's case runs 1-4 (the `if` takes
# `then`), never 6 (`else`).  lib.hsl: lines 2-4; pick(2) runs 2 and 3, not 4.
# So 6 of 8 lines, 2 of 4 branches (each `if`'s then, not its else): 8/12 = 66.7%.
LIB = """\
function pick($n) {
    if ($n > 1)
        return "many";
    return "one";
}
"""
POLICY = """\
include "lib.hsl";
$x = 1;
if ($x) {
    echo pick(2);
} else {
    echo "never";
}
"""
TEST_FILE = """\
script: p.hsl
cases:
  - name: runs
    run: {}
    expect: {output: [many]}
"""


@pytest.fixture
def work(tmp_path, monkeypatch):
    return working_folder(tmp_path, monkeypatch,
                          {"lib.hsl": LIB, "p.hsl": POLICY, "p.test.yaml": TEST_FILE})



def test_text_report_follows_the_test_report(work, capsys):
    code, out, err = hsl_test(capsys, "--coverage")
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].startswith("PASS  p.test.yaml::runs")
    assert lines[1].startswith("1 passed, 0 failed")
    assert lines[2] == ""
    table = {line.split()[0]: line.split()[1:] for line in lines[3:]
             if line and line.split()[0] in ("lib.hsl", "p.hsl", "TOTAL")}
    #                   lines miss cover branches miss cover
    assert table["lib.hsl"] == ["3", "1", "67%", "2", "1", "50%"]
    assert table["p.hsl"] == ["5", "1", "80%", "2", "1", "50%"]
    assert table["TOTAL"] == ["8", "2", "75%", "4", "2", "50%"]
    assert "total 66.7% (lines and branches)" in lines
    assert "lib.hsl: lines not run: 4" in lines
    assert "p.hsl: lines not run: 6" in lines
    assert "lib.hsl:2:5 if else" in lines and "p.hsl:3:1 if else" in lines


def test_json_report(work, capsys):
    code, out, err = hsl_test(capsys, "--coverage-format", "json")
    assert code == 0, out + err
    assert "coverage: 66.7% (lines and branches), json report in coverage.json" in out
    data = json.loads((work / "coverage.json").read_text())
    assert data["totals"]["lines"] == {"covered": 6, "total": 8, "percent": 75.0}
    assert data["totals"]["branches"] == {"covered": 2, "total": 4, "percent": 50.0}
    assert data["totals"]["percent"] == 66.67
    files = {Path(f["path"]).name: f for f in data["files"]}
    assert set(files) == {"lib.hsl", "p.hsl"}
    assert files["p.hsl"]["lines"]["hits"] == {"1": 1, "2": 1, "3": 1, "4": 1, "6": 0}
    assert files["lib.hsl"]["lines"]["missing"] == [4]
    assert files["lib.hsl"]["functions"]["items"][0]["name"] == "pick"


def test_json_test_report_stays_parseable(work, capsys):
    """With --format json the test report alone is on stdout; coverage's text on stderr."""
    code, out, err = hsl_test(capsys, "--format", "json", "--coverage")
    assert code == 0, out + err
    assert json.loads(out)
    assert "total 66.7% (lines and branches)" in err


def test_lcov_report(work, capsys):
    code, out, err = hsl_test(capsys, "--coverage-format", "lcov", "--coverage-output",
                              "cov.info")
    assert code == 0, out + err
    records = (work / "cov.info").read_text().split("end_of_record\n")
    by_file = {}
    for record in filter(None, records):
        fields = record.splitlines()
        sf = next(f for f in fields if f.startswith("SF:"))[3:]
        by_file[Path(sf).name] = fields
    assert sorted(by_file) == ["lib.hsl", "p.hsl"]
    lib = by_file["lib.hsl"]
    assert ["DA:2,1", "DA:3,1", "DA:4,0", "LF:3", "LH:2"] == \
        [f for f in lib if f[:3] in ("DA:", "LF:", "LH:")]
    assert "BRDA:2,0,0,1" in lib and "BRDA:2,0,1,0" in lib
    assert "FNDA:1,pick" in lib
    assert "DA:6,0" in by_file["p.hsl"]


def test_html_report(work, capsys):
    code, out, err = hsl_test(capsys, "--coverage-format", "html", "--coverage-output",
                              "report.html")
    assert code == 0, out + err
    page = (work / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<tr class='miss' title='not run'><td class=n>6</td>" in page
    assert "echo &quot;never&quot;;" in page
    assert "lib.hsl" in page


def test_an_unwritable_output_is_exit_2(work, capsys):
    code, out, err = hsl_test(capsys, "--coverage-output", work / "missing" / "c.txt")
    assert code == 2
    assert "--coverage-output" in err and "cannot write" in err


@pytest.mark.parametrize("threshold,status", [("66", 0), ("66.6", 0), ("66.7", 1),
                                              ("100", 1), ("0", 0)])
def test_threshold_exit_status(work, capsys, threshold, status):
    code, out, err = hsl_test(capsys, "--threshold", threshold)
    assert code == status, out + err
    line = f"hsl: error: coverage 66.7% (lines and branches) is below --threshold " \
           f"{float(threshold):g}%"
    assert (line in err) == bool(status)


def test_threshold_and_a_failing_case_exit_1(work, capsys):
    (work / "p.test.yaml").write_text(TEST_FILE.replace("[many]", "[one]"))
    code, out, err = hsl_test(capsys, "--threshold", "10")
    assert code == 1
    assert "FAIL  p.test.yaml::runs" in out and "below --threshold" not in err


def test_a_threshold_outside_0_to_100_is_a_usage_error(work, capsys):
    code, out, err = hsl_test(capsys, "--threshold", "101")
    assert code == 2 and "--threshold 101: a percentage, 0 to 100" in err


def test_a_hook_no_case_runs_counts_uncovered_and_stdlib_is_left_out(tmp_path,
                                                                     monkeypatch, capsys):
    """Every script under test is in the report, run or not; hsl's stdlib is not."""
    (tmp_path / "helo.hsl").write_text(textwrap.dedent("""\
        import { helo_is_fqdn } from "extras://helo.hsl";
        if (helo_is_fqdn($arguments["host"])) Accept();
        Reject();
        """))
    (tmp_path / "mailfrom.hsl").write_text("Reject();\n")
    (tmp_path / "t.test.yaml").write_text(textwrap.dedent("""\
        hooks: {helo: helo.hsl, mailfrom: mailfrom.hsl}
        cases:
          - {name: helo, hook: helo, run: {helo: x.example}, expect: {decision: accept}}
        """))
    monkeypatch.chdir(tmp_path)
    code, out, err = hsl_test(capsys, "--coverage")
    assert code == 0, out + err
    lines = out.splitlines()
    assert "mailfrom.hsl: lines not run: 1" in lines
    assert "helo.hsl: lines not run: 3" in lines
    assert not any("stdlib" in line or "extras" in line for line in lines)


def test_the_examples_reach_100_percent_line_coverage(tmp_path):
    """`hsl test examples/ --coverage --threshold 90`: every example script, and every
    file it includes or imports (not hsl's stdlib), has each line run by its own tests.
    --threshold is on lines and branches together (coverage.py's total); some branches
    cannot be taken (a `foreach` over a literal list is never skipped), so the examples
    are held at 100% of lines and 90% of the total."""
    report = tmp_path / "coverage.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "hsl", "test", "examples/", "--fail-on-empty",
                        "--coverage-format", "json", "--coverage-output", str(report),
                        "--threshold", "90"],
                       capture_output=True, env=env, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    data = json.loads(report.read_text())
    files = {Path(f["path"]).relative_to(ROOT).as_posix(): f for f in data["files"]}
    scripts = {p.relative_to(ROOT).as_posix() for p in (ROOT / "examples").rglob("*.hsl")
               if p.stem != "helo_tls_clientcert"}     # (tests/test_examples_helo.py)
    assert scripts <= set(files)
    assert not [name for name in files if not name.startswith("examples/")]
    for name, f in files.items():
        assert f["lines"]["missing"] == [], f"{name}: lines not run by its tests"
