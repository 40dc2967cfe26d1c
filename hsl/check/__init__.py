"""Check HSL scripts without running them: syntax, the compiler's static checks (every
error, not just the first), hook rules, functions of older HSL generations, and warnings
for unreachable code and variables read before any assignment.

Exit status: 0 when no errors were found, 1 when any error was found, 2 on a usage error
or an unreadable file. Diagnostic codes (HSLnnn) are stable; see the README."""
from __future__ import annotations

import os
import sys

from ..cli import add_include_argument, print_error
from ..errors import escape_controls, shown_source
from ..syntax.sourcefile import display_source, read_source_text
from ..hooks.phases import PHASES

HELP = "check scripts for errors without running them"

FORMATS = ("text", "json", "github")
EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files and directories (directories are searched for *.hsl)")
    p.add_argument("--project", action="append", default=[], metavar="DIR",
                   help="check a Halon project tree (DIR/src/...): every hook with its "
                        "phase, every file of src/files (docs/projects.md; repeatable)")
    p.add_argument("--hook", choices=PHASES, metavar="PHASE",
                   help="hook phase of the scripts (" + ", ".join(PHASES) + "); default: "
                        "from a hooks/<phase>/ folder in the path, else none")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="output format: text (default), json or github")
    add_include_argument(p)
    p.add_argument("--allow-unknown-functions", action="store_true", default=None,
                   help="accept unknown functions, classes and extras:// modules (those "
                        "of Halon plugins or the server)")
    p.add_argument("--no-warnings", action="store_true", default=None,
                   help="do not report warnings")
    p.add_argument("--error-on-warning", action="store_true", default=None,
                   help="report warnings as errors (exit 1)")
    p.add_argument("--config", metavar="FILE",
                   help="configuration file (default: .hslcheck.toml, or [tool.hsl-check] "
                        "in pyproject.toml, in this directory or a parent); a file not "
                        "ending in .toml is a packed Halon configuration (smtpd-app.yaml), "
                        "checked like --project")
    p.add_argument("--no-config", action="store_true", help="ignore configuration files")


def _files(path: str, exclude: list, base: str) -> list:
    import fnmatch

    def excluded(p: str) -> bool:
        rel = os.path.relpath(os.path.abspath(p), base).replace(os.sep, "/")
        return any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(os.path.basename(p), pat)
                   for pat in exclude)

    if not os.path.isdir(path):
        return [path]
    # Iterative (a deep tree cannot exhaust the Python stack); symbolic links to
    # directories are not followed (no loops); unreadable directories are skipped.
    found = []
    stack = [path]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for e in entries:
            if e.is_dir():
                if not e.is_symlink() and e.name not in _SKIPPED_DIRS:
                    subdirs.append(e.path)
            elif e.name.endswith(".hsl") and not excluded(e.path):
                found.append(e.path)
        stack.extend(reversed(subdirs))
    return found


_SKIPPED_DIRS = (".git", ".hg", ".svn", "node_modules", "__pycache__")


def main(args) -> int:
    from . import config as cfg     # deferred: `hsl` imports this module at every start
    packed = []
    if args.config is not None and not args.config.endswith(".toml"):
        packed, args.config = [args.config], None       # (a Halon configuration)
    if not (args.paths or args.project or packed):
        print_error("nothing to check: give files or directories, --project DIR or "
                    "--config smtpd-app.yaml")
        return EXIT_USAGE
    settings = {}
    if not args.no_config:
        path = args.config or cfg.find()
        if path is not None:
            try:
                settings = cfg.load(path)
            except cfg.ConfigError as e:
                print_error(e)
                return EXIT_USAGE
        elif args.config:
            print_error(f"cannot read {args.config}")
            return EXIT_USAGE
    # deferred: the checker loads the compiler
    from .checker import Options, check_source, finish
    from . import render  # deferred: json, only for `hsl check`

    def pick(name, key, default):
        value = getattr(args, name)
        return value if value is not None else settings.get(key, default)

    from ..plugins import load_plugins  # deferred: as above
    try:        # the configuration's plugins and extras, then the command line's
        plugins = load_plugins(settings.get("plugins", []) + args.plugins,
                               settings.get("extras", []) + args.extras)
    except ValueError as e:
        print_error(e)
        return EXIT_USAGE
    fmt = pick("format", "format", "text")
    hook = pick("hook", "hook", None)
    if fmt not in FORMATS or (hook is not None and hook not in PHASES):
        print("hsl: error: invalid format or hook in the configuration", file=sys.stderr)
        return EXIT_USAGE
    options = Options(
        hook=hook,
        include_paths=[os.path.abspath(d) for d in args.include] + settings.get("include", []),
        allow_unknown_functions=bool(pick("allow_unknown_functions",
                                          "allow-unknown-functions", False)),
        no_warnings=bool(pick("no_warnings", "no-warnings", False)),
        error_on_warning=bool(pick("error_on_warning", "error-on-warning", False)),
        roots=[p if os.path.isdir(p) else os.path.dirname(os.path.abspath(p))
               for p in args.paths] + [os.getcwd()],
        plugin_functions=frozenset(settings.get("plugin-functions", [])),
        plugins=plugins,
    )
    exclude = settings.get("exclude", [])
    base = settings.get("_base", os.getcwd())

    status = EXIT_OK
    files = []
    for p in args.paths:
        if not os.path.exists(p):
            print_error(f"cannot read {p}: No such file or directory")
            status = EXIT_USAGE
            continue
        found = _files(p, exclude, base)
        if not found:           # a path that names nothing to check is a mistake in CI
            print_error(f"no .hsl files in {p}" + (" (all excluded by the configuration)"
                                                   if _files(p, [], base) else ""))
            status = EXIT_USAGE
        files.extend(found)
    # (file, options) of each file to check: the named paths', then the projects'
    work = [(f, options) for f in dict.fromkeys(files)]
    projects = _load_projects(args.project, packed)
    if projects is None:
        return EXIT_USAGE
    for project in projects:
        work += _project_work(project, options)
    sources: dict = {}
    diags = []
    checked = 0
    done = set()
    for f, opts in work:
        if (f, opts.hook) in done:
            continue
        done.add((f, opts.hook))
        try:
            text = read_source_text(f)
        except OSError as e:
            print_error(f"cannot read {f}: {e.strerror}")
            status = EXIT_USAGE
            continue
        found = check_source(text, f, opts)
        checked += 1
        sources[f] = text
        diags.extend(found)
    diags = finish(diags, options)
    # Source lines are shown only of files in the trees named on the command line: a
    # script under check may include any readable file, and a CI's secrets must not be
    # printed (`include "/proc/self/environ";`, `include "../../.ssh/config";`).
    trees = [os.path.realpath(p if os.path.isdir(p) else os.path.dirname(os.path.abspath(p)))
             for p in args.paths] + [os.path.realpath(d) for d in args.include] + \
        [os.path.realpath(d) for project in projects for d in _project_trees(project)]
    real_names = {}         # the name a diagnostic shows -> the file (a packed one's copy)
    for project in projects:
        for d in diags:
            name = project.shown(d.filename)
            if name != d.filename:
                real_names[name] = d.filename
                d.filename = name
    shown: dict = {}

    def source_of(name):
        if name not in shown:
            text = None
            real = real_names.get(name, name)
            if _in_trees(real, trees):
                text = sources[real] if real in sources else display_source(real)
            shown[name] = shown_source(name, text)
        return shown[name]

    try:
        render.write(fmt, diags, checked, source_of, sys.stdout, sys.stderr)
        sys.stdout.flush()
    except BrokenPipeError:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
    for project in projects:
        project.close()
    if status == EXIT_OK and any(d.severity == "error" for d in diags):
        status = EXIT_ERRORS
    return status


def _load_projects(trees: list, packed: list):
    """The projects of --project and of a packed --config, their warnings printed; None
    (the error printed) when one cannot be loaded."""
    from ..project import ProjectError, load_packed, load_project  # deferred: YAML
    projects = []
    try:
        for path in trees:
            projects.append(load_project(path))
        for path in packed:
            projects.append(load_packed(path))
    except ProjectError as e:
        for project in projects:
            project.close()
        print_error(e)
        return None
    for project in projects:
        for w in project.warnings:
            print(f"hsl: warning: {escape_controls(w)}", file=sys.stderr)
    return projects


def _project_work(project, options) -> list:
    """(file, options) for each .hsl file of a project's file area (code that any hook
    may include), each hook with its phase, and each .hsl file of its hooks folder that
    no server names (phase from the folder)."""
    from dataclasses import replace
    extra = dict(include_paths=options.include_paths + project.include_paths,
                 roots=options.roots + [project.root])
    # (the file area first: a file both checked and included is reported by its name
    # in the tree, not by the path an include resolved)
    work = [(f, replace(options, hook=None, **extra)) for f in project.area_files()]
    work += [(h.path, replace(options, hook=h.phase, **extra)) for h in project.hooks()]
    if not project.packed:
        named = {os.path.abspath(h.path) for h in project.hooks()}
        hooks = os.path.join(project.root, "src", "hooks")
        if os.path.isdir(hooks):
            work += [(f, replace(options, hook=None, **extra))
                     for f in _files(hooks, [], os.getcwd()) if os.path.abspath(f) not in named]
    return work


def _project_trees(project) -> list:
    """The directories of a project whose files' lines may be shown."""
    return [project.root] + project.include_paths + [os.path.dirname(h.path)
                                                     for h in project.hooks()]


def _in_trees(path: str, trees: list) -> bool:
    real = os.path.realpath(path)          # (a symlink in the tree may point anywhere)
    return any(os.path.commonpath([real, t]) == t for t in trees)
