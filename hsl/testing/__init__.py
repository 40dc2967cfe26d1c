"""hsl test: run policy tests (test files of cases with their expected decisions;
docs/testing.md).

    hsl test [PATH...] [--run REGEX] [--fail-on-empty] [--format text|json|junit] [--trace]
             [--coverage [--coverage-format text|json|lcov|html] [--coverage-output PATH]
              [--threshold N]] [--update] [--watch]

The stages, one module each: discover.py finds the test files under the PATHs,
testfile.py loads and checks them (every error is FILE:LINE:COL of the YAML node at
fault), runner.py runs the cases (each from a fresh state, or a scenario's in order; a queue
case's hooks and the queue's next step: queue.py), expect.py compares what they did with their expect:, report.py writes the report;
mocks.py gives each case its mocks; update.py rewrites expect: (--update), watch.py
reruns on changes (--watch); --coverage is hsl/coverage.py's.  Exit status: 0 every case passed, 1 a case failed
or was in error (or none was found, with --fail-on-empty), 2 a usage error or an
invalid test file.

`hsl` imports this package at every start (to build its parser), so everything else is
imported where it is used ("deferred: startup time").
"""
from __future__ import annotations

import os
import sys

HELP = "run policy tests: test files of cases and the decisions they must get"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
COVERAGE_FORMATS = ("text", "json", "lcov", "html")     # (hsl.coverage.FORMATS)
COVERAGE_FILES = {"json": "coverage.json", "lcov": "coverage.lcov",
                  "html": "coverage.html"}


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="test files (*.test.yaml) and folders to search for them "
                        "(default: the current directory)")
    p.add_argument("--run", metavar="REGEX",
                   help="run only the cases whose id (FILE::[SCENARIO::]NAME) matches "
                        "(Python regex, searched)")
    p.add_argument("--fail-on-empty", action="store_true",
                   help="exit 1 when no case was found (or none matched --run)")
    p.add_argument("--format", choices=("text", "json", "junit"), default="text",
                   help="the report: text (default), json, or JUnit XML")
    p.add_argument("--trace", action="store_true",
                   help="trace every case (conditions tested, the call that decided), "
                        "not only the failing ones")
    p.add_argument("--update", action="store_true",
                   help="rewrite the expect: of failing cases to what they did (only the "
                        "failing values; comments and formatting stay)")
    p.add_argument("--watch", action="store_true",
                   help="keep running: rerun a test file when it, a script it tests or "
                        "a file those include or import changes (Ctrl-C stops)")
    p.add_argument("--coverage", action="store_true",
                   help="report the lines and branches of the scripts under test (and "
                        "every file they include or import) that the cases ran")
    p.add_argument("--coverage-format", choices=COVERAGE_FORMATS,
                   help="the coverage report: text (default, after the test report), "
                        "json, lcov or html (a file: --coverage-output)")
    p.add_argument("--coverage-output", metavar="PATH",
                   help="write the coverage report to PATH (default for json, lcov, "
                        "html: " + ", ".join(COVERAGE_FILES.values()) + ")")
    p.add_argument("--threshold", type=float, metavar="N",
                   help="exit 1 when the coverage (lines and branches together) is "
                        "below N%% (this, --coverage-format and --coverage-output imply "
                        "--coverage)")


def main(args) -> int:
    import re
    from ..cli import print_error  # deferred: startup time
    selected = None
    if args.run is not None:
        try:
            selected = re.compile(args.run)
        except re.error as e:
            print_error(f"--run {args.run!r}: not a valid regex: {e}")
            return EXIT_USAGE
    if args.threshold is not None and not 0 <= args.threshold <= 100:
        print_error(f"--threshold {args.threshold:g}: a percentage, 0 to 100")
        return EXIT_USAGE
    if args.watch:
        from .watch import watch  # deferred: startup time
        return watch(lambda paths, depends: run_once(args, selected, paths, depends),
                     args.paths or ["."])
    return run_once(args, selected, args.paths or ["."])


def run_once(args, selected, paths: list, depends=None) -> int:
    """One `hsl test` run of the test files under `paths`, reported; its exit status.
    `depends` (a dict) gets each test file's path -> the files its results depend on."""
    from ..cli import print_error  # deferred: startup time
    suites, status = load_suites(paths)
    if status is not None:
        return status
    coverage = None
    if args.coverage or args.threshold is not None or args.coverage_format \
            or args.coverage_output:
        from ..coverage import Coverage  # deferred: startup time
        coverage = Coverage()
    from ..runtime.execution import start_script_thread  # deferred: startup time
    outcome: list = []

    def target():
        try:
            outcome.append(run_suites(suites, selected, args.trace,
                                      compile_options=coverage and {"coverage": coverage},
                                      depends=depends))
        except BaseException as e:      # never let a Python traceback reach the user
            outcome.append(e)

    try:
        start_script_thread(target).join()
        if coverage is not None and outcome and not isinstance(outcome[0], BaseException):
            for path in scripts_under_test(suites):
                try:                    # (a script no case compiled counts, uncovered)
                    coverage.add_file(path)
                except Exception:       # one that does not parse: its cases are ERROR
                    pass
    finally:
        for suite in suites:
            suite.close()
    if not outcome or isinstance(outcome[0], BaseException):
        e = outcome[0] if outcome else None
        print(f"hsl: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_FAILED
    results = outcome[0]
    from . import report  # deferred: startup time
    if args.format == "json":
        sys.stdout.write(report.to_json(results))
    elif args.format == "junit":
        sys.stdout.write(report.junit(results))
    else:
        from ..errors import escape_controls  # deferred: startup time
        for line in report.text(results, args.trace).splitlines():
            sys.stdout.write(escape_controls(line) + "\n")
    status = EXIT_OK if all(r.status == "PASS" for r in results) else EXIT_FAILED
    if args.update and status != EXIT_OK:
        status = update_files(results)
    if coverage is not None:
        covered = report_coverage(coverage, args)
        if covered is None:
            return EXIT_USAGE
        if args.threshold is not None and covered < args.threshold:
            print_error(f"coverage {covered:.1f}% (lines and branches) is below "
                        f"--threshold {args.threshold:g}%")
            status = EXIT_FAILED
    if not results and args.fail_on_empty:
        print_error("no test cases found" + (" matching --run" if selected else "")
                    + " (--fail-on-empty)")
        return EXIT_FAILED
    return status


def update_files(results: list) -> int:
    """--update: rewrite the failing cases' expect:, say what was rewritten (on stderr:
    stdout is the report); EXIT_OK when every case now has its actual results."""
    from .update import update  # deferred: startup time
    try:
        done = update(results)
    except Exception as e:              # never a traceback: the files stay as they were
        print(f"hsl: --update: cannot rewrite the test files ({type(e).__name__}: {e})",
              file=sys.stderr)
        return EXIT_FAILED
    left = any(r.status == "ERROR" for r in results)
    for d in done:
        if d.cases:
            print(f"updated {_shown(d.path)}: {len(d.cases)} case(s): "
                  + ", ".join(d.cases), file=sys.stderr)
        for case_id, why in d.skipped:
            print(f"not updated {case_id}: {why}", file=sys.stderr)
            left = True
    return EXIT_FAILED if left else EXIT_OK


def _shown(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def scripts_under_test(suites: list) -> list:
    """The paths of every script the suites test (hooks, per-domain rcptto hooks, the
    plain script, a session file's own hooks), once each."""
    paths: dict = {}
    for suite in suites:
        scripts = suite.scripts
        found = [scripts.plain] + list(scripts.hooks.values()) \
            + list(scripts.rcptto_domains.values())
        for case in suite.cases:
            if case.session is not None:
                found += list(case.session.hooks.values()) \
                    + list(case.session.rcptto_domains.values())
        for script in found:
            path = script if isinstance(script, str) or script is None \
                else getattr(script, "path", None)
            if path:
                paths[os.path.normpath(os.path.abspath(path))] = None
    return list(paths)


def report_coverage(coverage, args):
    """Write the coverage report as --coverage-format/--coverage-output say; the total
    percentage (lines and branches), or None when the report cannot be written."""
    from ..cli import print_error  # deferred: startup time
    data = coverage.data()
    fmt = args.coverage_format or "text"
    text = data.report(fmt)
    path = args.coverage_output or COVERAGE_FILES.get(fmt)
    if path is None:                # text, after the report (stderr beside json/junit)
        out = sys.stdout if args.format == "text" else sys.stderr
        out.write("\n" + text)
    else:
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            print_error(f"--coverage-output {path}: cannot write: {e.strerror}")
            return None
        out = sys.stdout if args.format == "text" else sys.stderr
        out.write(f"coverage: {data.total_percent():.1f}% (lines and branches), "
                  f"{fmt} report in {path}\n")
    return data.total_percent()


def load_suites(paths: list):
    """(the Suites of the test files under `paths`, None), or ([], exit status) after
    printing why they cannot run (every invalid test file is reported)."""
    from ..cli import print_error  # deferred: startup time
    from .discover import DiscoveryError, discover  # deferred: startup time
    from .node import InvalidTestFile  # deferred: startup time
    from .testfile import legacy_suite, load  # deferred: startup time
    try:
        found = discover(paths)
    except DiscoveryError as e:
        print_error(e)
        return [], EXIT_USAGE
    suites, bad = [], False
    for item in found:
        try:
            suites.append(load(item[1]) if item[0] == "file" else legacy_suite(*item[1:]))
        except InvalidTestFile as e:
            print_error(e)
            bad = True
        except Exception as e:          # never a traceback: the file is not usable
            print_error(f"{item[1]}: cannot load the tests ({type(e).__name__}: {e})")
            bad = True
    if bad:
        for suite in suites:
            suite.close()
        return [], EXIT_USAGE
    return suites, None


def run_suites(suites: list, selected=None, trace: bool = False,
               compile_options=None, depends=None) -> list:
    """The CaseResults of every case of `suites` (whose id `selected`, a compiled regex,
    matches), in order.  `depends` (a dict, for --watch) gets each suite's path -> the
    files it depends on: the test file, its scripts and what they include or import."""
    from .runner import Runner  # deferred: startup time
    runner = Runner(trace=trace, compile_options=compile_options)
    results = []
    for suite in suites:
        results += runner.run(suite, (lambda c: selected.search(c.id) is not None)
                              if selected is not None else (lambda c: True))
        if depends is not None:
            depends[suite.path] = runner.files(suite) | set(scripts_under_test([suite]))
    return results
