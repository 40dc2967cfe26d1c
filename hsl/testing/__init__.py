"""hsl test: run policy tests (test files of cases with their expected decisions;
docs/testing.md).

    hsl test [PATH...] [--run REGEX] [--fail-on-empty] [--format text|json|junit] [--trace]

The stages, one module each: discover.py finds the test files under the PATHs,
testfile.py loads and checks them (every error is FILE:LINE:COL of the YAML node at
fault), runner.py runs the cases (each from a fresh state, or a scenario's in order),
expect.py compares what they did with their expect:, report.py writes the report;
mocks.py gives each case its mocks.  Exit status: 0 every case passed, 1 a case failed
or was in error (or none was found, with --fail-on-empty), 2 a usage error or an
invalid test file.

`hsl` imports this package at every start (to build its parser), so everything else is
imported where it is used ("deferred: startup time").
"""
from __future__ import annotations

import sys

HELP = "run policy tests: test files of cases and the decisions they must get"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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
    suites, status = load_suites(args.paths or ["."])
    if status is not None:
        return status
    from ..runtime.execution import start_script_thread  # deferred: startup time
    outcome: list = []

    def target():
        try:
            outcome.append(run_suites(suites, selected, args.trace))
        except BaseException as e:      # never let a Python traceback reach the user
            outcome.append(e)

    try:
        start_script_thread(target).join()
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
    if not results:
        if args.fail_on_empty:
            print_error("no test cases found" + (" matching --run" if selected else "")
                        + " (--fail-on-empty)")
            return EXIT_FAILED
        return EXIT_OK
    return EXIT_OK if all(r.status == "PASS" for r in results) else EXIT_FAILED


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
               compile_options=None) -> list:
    """The CaseResults of every case of `suites` (whose id `selected`, a compiled regex,
    matches), in order."""
    from .runner import Runner  # deferred: startup time
    runner = Runner(trace=trace, compile_options=compile_options)
    results = []
    for suite in suites:
        results += runner.run(suite, (lambda c: selected.search(c.id) is not None)
                              if selected is not None else (lambda c: True))
    return results
