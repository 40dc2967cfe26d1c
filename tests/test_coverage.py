"""Coverage (hsl/compiler/probes.py, hsl/coverage.py, docs/coverage.md): scripts whose
covered lines and branches are known by construction, the reports' formats, and that
coverage changes neither what a script does nor, when off, the code generated."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading

import pytest
from test_conformance import ALL_CHUNKS

import hsl
from hsl.compiler.probes import LINE, file_probes
from hsl.coverage import Coverage
from hsl.hooks.helo import HeloSession, compile_helo, run_helo
from hsl.syntax.parser import parse


def covered(tmp_path, main: str, runs=({},), files=None, **options):
    """Compile `main` (as main.hsl, next to `files`) with coverage, run it once per dict of
    variables in `runs`; the CoverageData and the echoed lines."""
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    path = tmp_path / "main.hsl"
    path.write_text(main)
    cov = Coverage()
    names = set().union(*[set(r) for r in runs])
    program = hsl.compile(main, filename=str(path), predefined=names, coverage=cov, **options)
    out = []
    for variables in runs:
        program.run(variables=variables, output=out.append)
    return cov.data(), out


def of(data, name: str):
    """The FileCoverage of the file called `name`."""
    found = [fc for fc in data.files if fc.path.endswith("/" + name)]
    assert len(found) == 1, [fc.path for fc in data.files]
    return found[0]


def arms(fc, kind: str) -> dict:
    """{arm: hits} of the branches of `kind` (one construct of that kind in the file)."""
    return {p.arm: hits for p, hits in fc.branches.items() if p.kind == kind}


# ----------------------------------------------------------- lines and branches

def test_an_if_taken_one_way(tmp_path):
    data, out = covered(tmp_path, 'if ($x) {\n  echo "yes";\n} else {\n  echo "no";\n}\n',
                        [{"x": True}])
    fc = of(data, "main.hsl")
    assert out == ["yes"]
    assert fc.lines == {1: 1, 2: 1, 4: 0}
    assert arms(fc, "if") == {"then": 1, "else": 0}
    assert fc.counts() == {"lines": (2, 3), "branches": (1, 2), "functions": (0, 0)}
    text = data.text()
    assert "main.hsl: lines not run: 4" in text
    assert re.search(r"main\.hsl:1:1 if else\n", text)


def test_an_if_without_else_has_its_not_taken_branch(tmp_path):
    src = 'if ($x)\n  echo "yes";\necho "end";\n'
    data, _ = covered(tmp_path, src, [{"x": True}, {"x": True}])
    assert arms(of(data, "main.hsl"), "if") == {"then": 2, "else": 0}
    data, _ = covered(tmp_path, src, [{"x": True}, {"x": False}])
    fc = of(data, "main.hsl")
    assert arms(fc, "if") == {"then": 1, "else": 1}
    assert fc.lines == {1: 2, 2: 1, 3: 2}


def test_an_else_if_chain_counts_each_if(tmp_path):
    src = ('if ($x == 1) echo "one";\nelse if ($x == 2) echo "two";\n'
           'else if ($x == 3) echo "three";\n')
    data, out = covered(tmp_path, src, [{"x": 2}, {"x": 5}])
    fc = of(data, "main.hsl")
    assert out == ["two"]
    by_line = {(p.line, p.arm): h for p, h in fc.branches.items()}
    assert by_line == {(1, "then"): 0, (1, "else"): 2, (2, "then"): 1, (2, "else"): 1,
                       (3, "then"): 0, (3, "else"): 1}
    # A line counts each statement that starts on it: line 2 its `if` twice, its echo once.
    assert fc.lines == {1: 2, 2: 3, 3: 1}


def test_a_switch_with_one_case_hit(tmp_path):
    src = ('switch ($x) {\n'
           '  case "a":\n    echo "a";\n    break;\n'
           '  case "b":\n    echo "b";\n'
           '  case "c":\n    echo "c";\n    break;\n'
           '}\n')
    data, out = covered(tmp_path, src, [{"x": "a"}])
    fc = of(data, "main.hsl")
    assert out == ["a"]
    assert arms(fc, "switch") == {"case 1": 1, "case 2": 0, "case 3": 0, "no case": 0,
                                  "fallthrough 3": 0}
    assert fc.missing_lines == [6, 8, 9]
    # Where each arm is written: its label.
    at = {p.arm: p.position for p in fc.branches}
    assert at["case 2"] == (5, 3) and at["fallthrough 3"] == (7, 3) and at["no case"] == (1, 1)
    # "b" falls through into "c"; no case for "z".
    data, out = covered(tmp_path, src, [{"x": "b"}, {"x": "z"}])
    assert out == ["b", "c"]
    assert arms(of(data, "main.hsl"), "switch") == {
        "case 1": 0, "case 2": 1, "case 3": 0, "no case": 1, "fallthrough 3": 1}


def test_a_switch_default_and_labels_that_share_statements(tmp_path):
    src = ('switch ($x) {\n  default:\n    echo "d";\n    break;\n'
           '  case 1:\n  case 2:\n    echo "12";\n}\n')
    data, out = covered(tmp_path, src, [{"x": 1}, {"x": 9}])
    assert out == ["12", "d"]
    # No "no case" with a default; labels 1 and 2 share their statements: no fallthrough.
    assert arms(of(data, "main.hsl"), "switch") == {"default": 1, "case 2": 1, "case 3": 0}


def test_coalesce_with_and_without_none(tmp_path):
    src = 'echo $a["k"] ?? "fallback";\n'
    data, out = covered(tmp_path, src, [{"a": {"k": "set"}}])
    assert out == ["set"]
    assert arms(of(data, "main.hsl"), "coalesce") == {"left": 1, "right": 0}
    assert "main.hsl:1:6 ?? right" in data.text()
    data, out = covered(tmp_path, src, [{"a": {"k": "set"}}, {"a": {}}, {"a": {"k": None}}])
    assert out == ["set", "fallback", "fallback"]
    assert arms(of(data, "main.hsl"), "coalesce") == {"left": 1, "right": 2}


def test_and_or_short_circuits(tmp_path):
    src = ('function t($s) { echo $s; return true; }\n'
           'echo $a and t("and-right");\n'
           'echo $a or t("or-right");\n')
    data, out = covered(tmp_path, src, [{"a": False}])
    assert out == ["false", "or-right", "true"]      # (the values are unchanged)
    fc = of(data, "main.hsl")
    assert arms(fc, "and") == {"short-circuit": 1, "both": 0}
    assert arms(fc, "or") == {"short-circuit": 0, "both": 1}
    data, out = covered(tmp_path, src, [{"a": True}])
    assert out == ["and-right", "true", "true"]
    fc = of(data, "main.hsl")
    assert arms(fc, "and") == {"short-circuit": 0, "both": 1}
    assert arms(fc, "or") == {"short-circuit": 1, "both": 0}


def test_conditional_and_elvis(tmp_path):
    data, out = covered(tmp_path, 'echo $x ? "t" : "f";\necho $x ?: "e";\n',
                        [{"x": 0}, {"x": 0}])
    assert out == ["f", "e", "f", "e"]
    fc = of(data, "main.hsl")
    assert {(p.line, p.arm): h for p, h in fc.branches.items()} == {
        (1, "then"): 0, (1, "else"): 2, (2, "then"): 0, (2, "else"): 2}


def test_match_arms(tmp_path):
    src = 'echo match ($x) {\n  1, 2 => "low",\n  3 => "three",\n  default => "other",\n};\n'
    data, out = covered(tmp_path, src, [{"x": 2}, {"x": 7}])
    assert out == ["low", "other"]
    fc = of(data, "main.hsl")
    assert arms(fc, "match") == {"arm 1": 1, "arm 2": 0, "default": 1}
    assert {p.arm: p.position for p in fc.branches}["arm 2"] == (3, 3)


def test_loops_entered_or_skipped(tmp_path):
    src = ('foreach ($list as $v) echo $v;\n'
           '$i = 0;\nwhile ($i < $n) $i++;\n'
           'for ($j = 0; $j < $n; $j++) {}\n'
           'while (true) break;\n'
           'forever { break; }\n')
    data, out = covered(tmp_path, src, [{"list": [1], "n": 0}, {"list": [2, 3], "n": 0}])
    assert out == ["1", "2", "3"]
    fc = of(data, "main.hsl")
    assert arms(fc, "foreach") == {"entered": 2, "skipped": 0}
    assert arms(fc, "while") == {"entered": 0, "skipped": 2}     # (not the `while (true)`)
    assert arms(fc, "for") == {"entered": 0, "skipped": 2}
    assert fc.lines[5] == 4 and fc.lines[6] == 4      # (the loop and its break, twice)


def test_a_function_never_called(tmp_path):
    src = ('function used($x) {\n  return $x + 1;\n}\n'
           'function unused() {\n  echo "never";\n  return 0;\n}\n'
           'echo used(1);\n')
    data, _ = covered(tmp_path, src)
    fc = of(data, "main.hsl")
    assert {p.name: h for p, h in fc.functions.items()} == {"used": 1, "unused": 0}
    assert fc.lines == {2: 1, 5: 0, 6: 0, 8: 1}     # (a declaration runs nothing where it is)


def test_methods_constructors_and_closures_are_functions(tmp_path):
    src = ('class P {\n  constructor() {}\n  function get() { return 1; }\n'
           '  static function make() { return P(); }\n}\n'
           '$f = function () { return 2; };\n'
           'echo P::make()->get();\n')
    data, _ = covered(tmp_path, src)
    assert {p.name: h for p, h in of(data, "main.hsl").functions.items()} == {
        "P->constructor": 1, "P->get": 1, "P::make": 1, "function@6:6": 0}


def test_an_included_file_partly_run(tmp_path):
    lib = ('function helper($x) {\n  if ($x > 1)\n    return "big";\n  return "small";\n}\n'
           'echo "lib";\n')
    data, out = covered(tmp_path, 'include "lib.hsl";\necho helper(5);\n', files={"lib.hsl": lib})
    assert out == ["lib", "big"]
    fc = of(data, "lib.hsl")
    assert fc.lines == {2: 1, 3: 1, 4: 0, 6: 1}
    assert arms(fc, "if") == {"then": 1, "else": 0}
    assert of(data, "main.hsl").lines == {1: 1, 2: 1}


def test_a_file_included_in_two_scopes_counts_into_one_set_of_probes(tmp_path):
    """Included statements are compiled once per including scope: every copy counts into
    the same probes."""
    data, out = covered(tmp_path, 'function f() { include "body.hsl"; }\n'
                                  'include "body.hsl";\nf();\nf();\n',
                        files={"body.hsl": 'echo "body";\n'})
    assert out == ["body"] * 3
    assert of(data, "body.hsl").lines == {1: 3}


def test_a_module_imported_whose_functions_are_not_run(tmp_path):
    mod = 'function a() {\n  return 1;\n}\nfunction b() {\n  return 2;\n}\n'
    data, out = covered(tmp_path, 'import { a } from "mod.hsl";\necho 1;\n',
                        files={"mod.hsl": mod})
    fc = of(data, "mod.hsl")
    assert fc.lines == {2: 0, 5: 0}
    assert {p.name: h for p, h in fc.functions.items()} == {"a": 0, "b": 0}
    assert fc.counts()["lines"] == (0, 2)


def test_a_file_no_program_compiled(tmp_path):
    (tmp_path / "never.hsl").write_text('if ($x) echo 1;\ninclude "other.hsl";\n')
    cov = Coverage()
    cov.add_file(str(tmp_path / "never.hsl"))
    fc = of(cov.data(), "never.hsl")
    assert fc.lines == {1: 0, 2: 0}
    assert arms(fc, "if") == {"then": 0, "else": 0}
    with pytest.raises(hsl.HSLSyntaxError):
        cov.add_file(str(tmp_path / "bad.hsl"), "if (")


def test_statements_before_a_switch_label_are_not_lines(tmp_path):
    data, _ = covered(tmp_path, 'switch (1) {\n  echo "never";\n  case 1:\n    echo 1;\n}\n')
    assert of(data, "main.hsl").lines == {1: 1, 4: 1}


def test_hits_add_up_over_programs_and_the_stdlib_is_left_out(tmp_path):
    (tmp_path / "shared.hsl").write_text('echo "s";\n')
    cov = Coverage()
    for n in range(2):
        hsl.compile(f'include "shared.hsl";\nimport {{ helo_is_fqdn }} from '
                    f'"extras://helo.hsl";\necho {n};\n',
                    filename=str(tmp_path / f"m{n}.hsl"), coverage=cov).run(output=list)
    data = cov.data()
    assert of(data, "shared.hsl").lines == {1: 2}
    assert not [fc for fc in data.files if "stdlib" in fc.path]
    with_stdlib = Coverage(include_stdlib=True)
    with_stdlib.add(hsl.compile('import { helo_is_fqdn } from "extras://helo.hsl";',
                                coverage=True))
    assert [fc for fc in with_stdlib.data().files if fc.path.endswith("helo.hsl")]


def test_a_hook_script_counts_up_to_its_decision(tmp_path):
    cov = Coverage()
    program = compile_helo('if ($arguments["host"] == "bad")\n  Reject("no");\nAccept();\n'
                           'echo "after";\n', str(tmp_path / "helo.hsl"), coverage=cov)
    assert run_helo(program, HeloSession(host="bad")).decision == "reject"
    assert run_helo(program, HeloSession(host="good")).decision == "accept"
    fc = of(cov.data(), "helo.hsl")
    assert fc.lines == {1: 2, 2: 1, 3: 1, 4: 0}
    assert arms(fc, "if") == {"then": 1, "else": 1}


def test_counts_are_exact_from_many_threads():
    program = hsl.compile('for ($i = 0; $i < 50; $i++) { $x = $i; }', coverage=True)

    def runs():
        for _ in range(40):
            program.run()

    threads = [threading.Thread(target=runs) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cov = Coverage()
    cov.add(program)
    assert cov.data().files[0].lines == {1: 160 * 51}     # (the loop, and its body 50 times)
    cov.reset()
    assert cov.data().files[0].lines == {1: 0}


def test_the_collector_wants_a_program_compiled_with_coverage():
    with pytest.raises(ValueError, match="not compiled with coverage"):
        Coverage().add(hsl.compile("echo 1;"))
    with pytest.raises(ValueError, match="unknown coverage format"):
        Coverage().data().report("xml")


def test_total_percent_and_threshold(tmp_path):
    data, _ = covered(tmp_path, 'if ($x) echo 1;\n', [{"x": True}])
    # Lines 1/1, branches 1/2: (1 + 1) / (1 + 2).
    assert data.total_percent() == pytest.approx(200 / 3)
    assert data.meets(66) and not data.meets(67)
    assert Coverage().data().total_percent() == 100.0     # (nothing to cover)


# -------------------------------------------------------------------- formats

SCRIPT = ('function f($x) {\n  return $x ?? 0;\n}\nfunction g() { return 1; }\n'
          'if ($a) echo f(1);\nswitch ($a) { case 1: echo 1; break; default: echo 2; }\n'
          'echo "<b>&amp;</b>";\n')


def parse_lcov(text: str) -> list:
    """The records of an lcov tracefile, read strictly by geninfo(1): each record TN, SF,
    FN*, FNDA*, FNF, FNH, BRDA*, BRF, BRH, DA*, LF, LH, end_of_record, in that order,
    with the summaries agreeing with the entries."""
    assert text.endswith("\n")
    records, lines = [], text.splitlines()
    order = ["TN", "SF", "FN", "FNDA", "FNF", "FNH", "BRDA", "BRF", "BRH", "DA", "LF", "LH",
             "end_of_record"]
    record, last = None, -1
    for line in lines:
        tag, _, value = line.partition(":")
        assert tag in order, line
        step = order.index(tag)
        if tag == "TN":
            assert record is None
            record, last = {t: [] for t in order}, -1
        assert step >= last and (step > last or tag in ("FN", "FNDA", "BRDA", "DA")), line
        last = step
        record[tag].append(value)
        if tag == "end_of_record":
            records.append(record)
            record = None
    assert record is None
    for r in records:
        fns = [v.split(",", 1) for v in r["FN"]]
        fnda = [v.split(",", 1) for v in r["FNDA"]]
        assert [name for _, name in fns] == [name for _, name in fnda]
        assert int(r["FNF"][0]) == len(fns)
        assert int(r["FNH"][0]) == sum(1 for hits, _ in fnda if int(hits))
        brda = [v.split(",") for v in r["BRDA"]]
        assert all(len(b) == 4 and (b[3] == "-" or b[3].isdigit()) for b in brda)
        assert int(r["BRF"][0]) == len(brda)
        assert int(r["BRH"][0]) == sum(1 for b in brda if b[3] not in ("-", "0"))
        da = [tuple(map(int, v.split(","))) for v in r["DA"]]
        assert int(r["LF"][0]) == len(da)
        assert int(r["LH"][0]) == sum(1 for _, hits in da if hits)
    return records


def test_lcov_tracefile(tmp_path):
    data, _ = covered(tmp_path, SCRIPT, [{"a": 1}])
    text = data.lcov()
    (record,) = parse_lcov(text)
    assert record["SF"] == [str(tmp_path / "main.hsl")]
    assert record["FN"] == ["1,f", "4,g"] and record["FNDA"] == ["1,f", "0,g"]
    assert record["DA"] == ["2,1", "4,0", "5,2", "6,3", "7,1"]     # (statements on a line)
    # coalesce at line 2 (block 0), if at line 5 (block 1), switch at line 6 (block 2).
    assert record["BRDA"] == ["2,0,0,1", "2,0,1,0", "5,1,0,1", "5,1,1,0",
                              "6,2,0,1", "6,2,1,0"]
    # A construct never reached: `-`.
    data, _ = covered(tmp_path, SCRIPT, [{"a": 0}])
    (record,) = parse_lcov(data.lcov("unit tests"))
    assert record["TN"] == ["unit tests"]
    assert record["BRDA"][:2] == ["2,0,0,-", "2,0,1,-"]


@pytest.mark.skipif(shutil.which("genhtml") is None, reason="lcov's genhtml is not installed")
def test_genhtml_reads_the_tracefile(tmp_path):
    data, _ = covered(tmp_path, SCRIPT, [{"a": 1}])
    (tmp_path / "cov.info").write_text(data.lcov())
    done = subprocess.run(["genhtml", "--branch-coverage", "-o", str(tmp_path / "out"),
                           str(tmp_path / "cov.info")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "lines......: 100.0% (5 of 5 lines)" not in done.stdout
    assert "lines......: 80.0% (4 of 5 lines)" in done.stdout
    assert "branches...: 50.0% (3 of 6 branches)" in done.stdout


def test_json_report(tmp_path):
    data, _ = covered(tmp_path, SCRIPT, [{"a": 1}])
    doc = json.loads(data.json())
    assert doc["format"] == "hsl-coverage" and doc["version"] == 1
    assert doc["totals"]["lines"] == {"covered": 4, "total": 5, "percent": 80.0}
    assert doc["totals"]["branches"] == {"covered": 3, "total": 6, "percent": 50.0}
    assert doc["totals"]["percent"] == round(700 / 11, 2)
    (f,) = doc["files"]
    assert f["path"] == str(tmp_path / "main.hsl")
    assert f["lines"]["hits"] == {"2": 1, "4": 0, "5": 2, "6": 3, "7": 1}
    assert f["lines"]["missing"] == [4]
    assert f["branches"]["items"][0] == {"kind": "coalesce", "line": 2, "col": 10,
                                         "arm": "left", "at": [2, 10], "hits": 1}
    assert {i["arm"]: i["at"] for i in f["branches"]["items"] if i["kind"] == "switch"} == {
        "case 1": [6, 15], "default": [6, 38]}
    assert f["functions"]["items"] == [{"name": "f", "line": 1, "col": 1, "hits": 1},
                                       {"name": "g", "line": 4, "col": 1, "hits": 0}]


def test_html_report_marks_the_source(tmp_path):
    data, _ = covered(tmp_path, SCRIPT, [{"a": 1}])
    page = data.html()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    rows = {int(n): cls for cls, n in re.findall(
        r"<tr class='(\w*)'[^>]*><td class=n>(\d+)</td>", page)}
    assert rows == {1: "", 2: "part", 3: "", 4: "miss", 5: "part", 6: "part", 7: "run"}
    assert "not taken: ?? right (2:10)" in page
    assert "&lt;b&gt;&amp;amp;&lt;/b&gt;" in page      # (the source, escaped)
    # Self-contained: no link, script or image to fetch.
    assert not re.search(r"<(link|script|img)\b|src=|href=['\"]?http", page)
    assert data.report("html") == page and data.report("text") == data.text()


def test_text_report(tmp_path):
    data, _ = covered(tmp_path, SCRIPT, [{"a": 1}])
    text = data.text()
    lines = text.splitlines()
    assert lines[0].split() == ["File", "Lines", "Miss", "Cover", "Branches", "Miss", "Cover"]
    assert lines[1].split()[1:] == ["5", "1", "80%", "6", "3", "50%"]
    assert lines[3].split() == ["TOTAL", "5", "1", "80%", "6", "3", "50%"]
    assert "total 63.6% (lines and branches)" in text
    name = lines[1].split()[0]          # (main.hsl, relative to the working directory)
    assert name.endswith("main.hsl")
    assert lines[-4:] == [f"{name}: lines not run: 4", f"{name}:2:10 ?? right",
                          f"{name}:5:1 if else", f"{name}:6:38 switch default"]


# ------------------------------------------ what the compiler does with and without

def test_without_coverage_the_generated_code_is_unchanged():
    """coverage=False compiles exactly what no option compiles (the code is byte-identical
    to that before coverage existed: bench and tests run the same code), with no counter."""
    for chunk in ALL_CHUNKS[::7]:
        try:
            plain = hsl.compile(chunk.source, filename=str(chunk.path), predefined=set())
        except hsl.HSLSyntaxError:
            continue
        off = hsl.compile(chunk.source, filename=str(chunk.path), predefined=set(),
                          coverage=False)
        assert off.python_source == plain.python_source
        assert "COV" not in plain.namespace and "COV[" not in plain.python_source
        assert plain.probes is None and plain.coverage_hits() == []


def _counted_indices(program) -> set:
    """The counters the generated code can advance: COV[i], and a switch's arms COV[base +
    start] (one per label, and "no case")."""
    found = set()
    for base, start in re.findall(r"COV\[(\d+)( \+ _t\d+)?\]", program.python_source):
        found.add(int(base))
        if start:
            fi, probe = program.probes.probes[int(base)]
            n = 0
            while int(base) + n < len(program.probes.probes):
                f2, p2 = program.probes.probes[int(base) + n]
                if f2 != fi or p2.kind != "switch" or p2.span != probe.span \
                        or p2.arm.startswith("fallthrough"):
                    break
                found.add(int(base) + n)
                n += 1
    return found


def test_every_probe_can_be_counted():
    """Each probe the walk lists is advanced somewhere in the generated code (so an
    uncovered probe is never an artifact), for every conformance chunk that compiles."""
    checked = 0
    for chunk in ALL_CHUNKS:
        try:
            program = hsl.compile(chunk.source, filename=str(chunk.path), predefined=set(),
                                  coverage=True)
        except hsl.HSLSyntaxError:
            continue
        missing = set(range(len(program.probes.probes))) - _counted_indices(program)
        assert not missing, (chunk.id, [program.probes.probes[i] for i in sorted(missing)])
        if "include" not in chunk.source:       # (one file: the walk of a fresh parse)
            mine = [p for fi, p in program.probes.probes if fi == 0]
            assert mine == file_probes(parse(chunk.source, str(chunk.path)).body), chunk.id
        checked += 1
    assert checked > 500


def _outcome(chunk, coverage: bool):
    out = []
    try:
        program = hsl.compile(chunk.source, filename=str(chunk.path), predefined=set(),
                              coverage=coverage)
        program.run(output=out.append, max_steps=5_000_000, max_time=10)
    except (hsl.HSLSyntaxError, hsl.HSLRuntimeError) as e:
        return out, str(e)
    return out, None


def test_coverage_changes_no_result():
    """Every conformance chunk prints the same and fails the same way with coverage (those
    of the process-wide memory store excepted: a second run finds the first one's keys)."""
    compared = 0
    for chunk in ALL_CHUNKS:
        if chunk.path.name == "builtins_server.hsl":
            continue
        assert _outcome(chunk, True) == _outcome(chunk, False), chunk.id
        compared += 1
    assert compared > 500


def test_line_probes_are_statement_lines():
    body = parse('$a = 1; $b = 2;\nfunction f() {}\nglobal $x;\n;\n{ echo 1; }\n').body
    assert [p.line for p in file_probes(body) if p.kind == LINE] == [1, 5]
