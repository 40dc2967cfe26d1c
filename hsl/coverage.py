"""Coverage of HSL scripts: the collector and its reports (text, JSON, lcov, HTML).

    cov = Coverage()
    program = compile_program(source, path, coverage=cov)   # or compile_hook(..., coverage=cov)
    program.run(...)                                         # any number of runs, any threads
    data = cov.data()
    print(data.text()); data.lcov(); data.html(); data.total_percent()

A program compiled with `coverage=` counts its probes (hsl.compiler.probes says what a
line, a function and a branch are) in counters of its own, exact whichever threads run
it; a Coverage reads them when asked for `data()`, so hits accumulate over every run of
every program it has, and probes of the same file seen by several programs add up.
Every probe of every file a program compiled is known, run or not; `add_file()` adds a
file no program compiled.  This is the engine `hsl test --coverage` uses
(docs/coverage.md).
"""
from __future__ import annotations

import html
import json
import os
import threading
from typing import Optional

from .compiler.probes import FUNCTION, LINE, Probe, file_probes
from .syntax.sourcefile import read_source_text

FORMATS = ("text", "json", "lcov", "html")


class Coverage:
    """The hits of the programs added (see the module docstring).  `include_stdlib`: also
    report hsl's own stdlib modules (extras://...), left out by default."""

    def __init__(self, *, include_stdlib: bool = False):
        self.include_stdlib = include_stdlib
        self._lock = threading.Lock()
        self._programs: list = []
        self._files: dict = {}          # path -> (source, [Probe]) of add_file()

    def add(self, program) -> None:
        """Collect the hits of a program compiled with coverage (its runs before too)."""
        if program.probes is None:
            raise ValueError("the program was not compiled with coverage")
        with self._lock:
            if not any(p is program for p in self._programs):
                self._programs.append(program)

    def add_file(self, path: str, source: Optional[str] = None) -> None:
        """Know the probes of a file that no program added may have compiled (a script
        no test ran): all uncovered unless a program counts them.  Raises HSLSyntaxError
        when it does not parse."""
        # deferred: the parser only for files added this way
        from .syntax.parser import parse
        if source is None:
            source = read_source_text(path)
        probes = file_probes(parse(source, path).body)
        with self._lock:
            self._files[path] = (source, probes)

    def reset(self) -> None:
        """Forget every hit so far (the programs and files stay)."""
        with self._lock:
            for program in self._programs:
                program.reset_coverage()

    def data(self) -> "CoverageData":
        """What was covered so far, merged by file."""
        with self._lock:
            programs, added = list(self._programs), dict(self._files)
        files: dict = {}

        def file(path: str, source: Optional[str]) -> FileCoverage:
            path = _key(path)
            fc = files.get(path)
            if fc is None:
                fc = files[path] = FileCoverage(path, source)
            elif fc.source is None:
                fc.source = source
            return fc

        for path, (source, probes) in added.items():
            fc = file(path, source)
            for probe in probes:
                fc.add(probe, 0)
        for program in programs:
            for (path, probe), hits in program.coverage_hits():
                file(path, program.sources.get(path)).add(probe, hits)
        if not self.include_stdlib:
            files = {p: fc for p, fc in files.items() if not _in_stdlib(p)}
        return CoverageData([files[p] for p in sorted(files)])


def _key(path: str) -> str:
    """One name per file: the main script's name may be relative, the others are not."""
    return path if path.startswith("<") else os.path.normpath(os.path.abspath(path))


def _in_stdlib(path: str) -> bool:
    # deferred: hsl.program (the compiler) is loaded by whoever compiled the programs
    from .program import _stdlib_dir
    if path.startswith("<"):
        return False
    root = os.path.realpath(_stdlib_dir())
    return os.path.realpath(path).startswith(root + os.sep)


class FileCoverage:
    """The probes of one file and their hits."""

    def __init__(self, path: str, source: Optional[str]):
        self.path = path
        self.source = source
        self.lines: dict = {}           # line -> hits
        self.functions: dict = {}       # Probe -> hits
        self.branches: dict = {}        # Probe -> hits, in probe order

    def add(self, probe: Probe, hits: int) -> None:
        if probe.kind == LINE:
            table, key = self.lines, probe.line
        elif probe.kind == FUNCTION:
            table, key = self.functions, probe
        else:
            table, key = self.branches, probe
        table[key] = table.get(key, 0) + hits

    # summaries ------------------------------------------------------------------
    @property
    def missing_lines(self) -> list:
        return sorted(n for n, hits in self.lines.items() if not hits)

    @property
    def missing_branches(self) -> list:
        return [p for p, hits in self.branches.items() if not hits]

    def counts(self) -> dict:
        """{"lines"|"branches"|"functions": (covered, total)}"""
        return {name: (sum(1 for h in table.values() if h), len(table))
                for name, table in (("lines", self.lines), ("branches", self.branches),
                                    ("functions", self.functions))}

    def branch_groups(self) -> list:
        """[(construct probe key (kind, span), [(arm Probe, hits)])] in probe order: one
        group per if, switch, loop, operator... (an lcov block)."""
        groups: dict = {}
        for probe, hits in self.branches.items():
            groups.setdefault((probe.kind, probe.span), []).append((probe, hits))
        return list(groups.items())


def percent(covered: int, total: int) -> float:
    """Covered of total as a percentage; nothing to cover is 100%."""
    return 100.0 * covered / total if total else 100.0


def where(path: str) -> str:
    """A file as reports name it: relative to the working directory when inside."""
    if path.startswith("<"):
        return path
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def describe(probe: Probe) -> str:
    """`kind arm` of a branch as reports list it: "if else", "switch case 2"..."""
    kind = {"cond": "?:", "coalesce": "??"}.get(probe.kind, probe.kind)
    return f"{kind} {probe.arm}"


class CoverageData:
    """Coverage merged by file (Coverage.data()), and its reports."""

    def __init__(self, files: list):
        self.files = files

    def totals(self) -> dict:
        """{"lines"|"branches"|"functions": (covered, total)} over every file."""
        out = {"lines": (0, 0), "branches": (0, 0), "functions": (0, 0)}
        for fc in self.files:
            for name, (c, t) in fc.counts().items():
                oc, ot = out[name]
                out[name] = (oc + c, ot + t)
        return out

    def total_percent(self) -> float:
        """Lines and branches together, as coverage.py counts its total: the figure
        `--threshold N` compares with N."""
        t = self.totals()
        return percent(t["lines"][0] + t["branches"][0], t["lines"][1] + t["branches"][1])

    def meets(self, threshold: float) -> bool:
        return self.total_percent() >= threshold

    def report(self, fmt: str) -> str:
        """The report in one of FORMATS."""
        if fmt not in FORMATS:
            raise ValueError(f"unknown coverage format {fmt!r} (one of {', '.join(FORMATS)})")
        return getattr(self, fmt)()

    # text -----------------------------------------------------------------------
    def text(self) -> str:
        """A table (lines, branches per file, and the total), then what was not covered:
        each file's lines not run, and each branch not taken as `file:line:col kind arm`."""
        rows = [("File", "Lines", "Miss", "Cover", "Branches", "Miss", "Cover")]

        def row(name, counts):
            lc, lt = counts["lines"]
            bc, bt = counts["branches"]
            return (name, str(lt), str(lt - lc), _pct(lc, lt), str(bt), str(bt - bc),
                    _pct(bc, bt))

        for fc in self.files:
            rows.append(row(where(fc.path), fc.counts()))
        rows.append(row("TOTAL", self.totals()))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        out = []
        for i, r in enumerate(rows):
            if i == len(rows) - 1:
                out.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
            out.append("  ".join([r[0].ljust(widths[0])]
                                 + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]))
        out.append(f"total {self.total_percent():.1f}% (lines and branches)")
        for fc in self.files:
            name = where(fc.path)
            if fc.missing_lines:
                out.append(f"{name}: lines not run: {_ranges(fc.missing_lines)}")
            for probe in fc.missing_branches:
                line, col = probe.position
                out.append(f"{name}:{line}:{col} {describe(probe)}")
        return "\n".join(out) + "\n"

    # json -----------------------------------------------------------------------
    def to_json(self) -> dict:
        """The report as JSON data (docs/coverage.md shows its shape)."""
        def summary(counts: tuple) -> dict:
            covered, total = counts
            return {"covered": covered, "total": total,
                    "percent": round(percent(covered, total), 2)}

        files = []
        for fc in self.files:
            counts = fc.counts()
            files.append({
                "path": fc.path,
                "lines": dict(summary(counts["lines"]),
                              hits={str(n): h for n, h in sorted(fc.lines.items())},
                              missing=fc.missing_lines),
                "branches": dict(summary(counts["branches"]), items=[
                    {"kind": p.kind, "line": p.span[0], "col": p.span[1], "arm": p.arm,
                     "at": list(p.position), "hits": h} for p, h in fc.branches.items()]),
                "functions": dict(summary(counts["functions"]), items=[
                    {"name": p.name, "line": p.span[0], "col": p.span[1], "hits": h}
                    for p, h in fc.functions.items()]),
            })
        totals = self.totals()
        return {"format": "hsl-coverage", "version": 1,
                "totals": {"lines": summary(totals["lines"]),
                           "branches": summary(totals["branches"]),
                           "functions": summary(totals["functions"]),
                           "percent": round(self.total_percent(), 2)},
                "files": files}

    def json(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    # lcov -----------------------------------------------------------------------
    def lcov(self, test_name: str = "") -> str:
        """An lcov tracefile (geninfo(1)): one record per file, functions (FN, FNDA),
        branches (BRDA: the construct's line, one block per construct, the arm's number
        in it, `-` for a construct never reached), lines (DA)."""
        out = []
        for fc in self.files:
            out.append(f"TN:{_lcov_name(test_name)}")
            path = fc.path if fc.path.startswith("<") else os.path.abspath(fc.path)
            out.append(f"SF:{path}")
            names = {}
            for probe in fc.functions:          # (names unique within the record)
                name = _lcov_name(probe.name)
                names[probe] = name if name not in names.values() \
                    else f"{name}@{probe.span[0]}:{probe.span[1]}"
            for probe in fc.functions:
                out.append(f"FN:{probe.span[0]},{names[probe]}")
            for probe, hits in fc.functions.items():
                out.append(f"FNDA:{hits},{names[probe]}")
            counts = fc.counts()
            out.append("FNF:%d" % counts["functions"][1])
            out.append("FNH:%d" % counts["functions"][0])
            for block, ((_, span), arms) in enumerate(fc.branch_groups()):
                reached = any(hits for _, hits in arms)
                for n, (_, hits) in enumerate(arms):
                    out.append(f"BRDA:{span[0]},{block},{n},{hits if reached else '-'}")
            out.append("BRF:%d" % counts["branches"][1])
            out.append("BRH:%d" % counts["branches"][0])
            for line, hits in sorted(fc.lines.items()):
                out.append(f"DA:{line},{hits}")
            out.append("LF:%d" % counts["lines"][1])
            out.append("LH:%d" % counts["lines"][0])
            out.append("end_of_record")
        return "\n".join(out) + "\n" if out else ""

    # html -----------------------------------------------------------------------
    def html(self, title: str = "hsl coverage") -> str:
        """One self-contained page (no external assets): a summary table, then each
        file's source with its lines marked run (green), not run (red) or partly (a
        branch on it not taken: yellow, the branches listed beside)."""
        e = html.escape
        parts = [_HTML_HEAD.format(title=e(title))]
        totals = self.totals()
        parts.append(f"<h1>{e(title)}</h1><p>total <b>{self.total_percent():.1f}%</b> "
                     f"(lines {_pct(*totals['lines'])}, branches {_pct(*totals['branches'])},"
                     f" functions {_pct(*totals['functions'])})</p>")
        parts.append("<table class=sum><tr><th>File</th><th>Lines</th><th>Branches</th>"
                     "<th>Functions</th></tr>")
        for i, fc in enumerate(self.files):
            c = fc.counts()
            parts.append(f"<tr><td><a href='#f{i}'>{e(where(fc.path))}</a></td>"
                         + "".join(f"<td>{_pct(*c[k])} ({c[k][0]}/{c[k][1]})</td>"
                                   for k in ("lines", "branches", "functions")) + "</tr>")
        parts.append("</table>")
        for i, fc in enumerate(self.files):
            parts.append(self._html_file(i, fc))
        parts.append("</body></html>\n")
        return "".join(parts)

    def _html_file(self, index: int, fc: FileCoverage) -> str:
        e = html.escape
        c = fc.counts()
        out = [f"<h2 id='f{index}'>{e(where(fc.path))}</h2><p>lines {_pct(*c['lines'])}, "
               f"branches {_pct(*c['branches'])}, functions {_pct(*c['functions'])}</p>"]
        if fc.source is None:
            return "".join(out) + "<p>(source not available)</p>"
        by_line: dict = {}
        for probe, hits in fc.branches.items():
            by_line.setdefault(probe.line, []).append((probe, hits))
        out.append("<table class=src>")
        for n, text in enumerate(fc.source.splitlines(), 1):
            hits = fc.lines.get(n)
            arms = by_line.get(n, [])
            missed = [p for p, h in arms if not h]
            if hits is None:
                cls, mark = "", ""
            elif not hits:
                cls, mark = "miss", "not run"
            elif missed:
                cls, mark = "part", f"{hits}×"
            else:
                cls, mark = "run", f"{hits}×"
            note = ""
            if missed and hits:
                note = "not taken: " + ", ".join(
                    f"{describe(p)} ({p.position[0]}:{p.position[1]})" for p in missed)
            out.append(f"<tr class='{cls}' title='{e(note or mark)}'><td class=n>{n}</td>"
                       f"<td class=h>{e(mark)}</td><td class=c>{e(text) or ' '}</td>"
                       f"<td class=b>{e(note)}</td></tr>")
        out.append("</table>")
        return "".join(out)


def _pct(covered: int, total: int) -> str:
    return f"{percent(covered, total):.0f}%" if total else "-"


def _ranges(numbers: list) -> str:
    """1, 2, 3, 5 -> "1-3, 5"."""
    out, start, prev = [], None, None
    for n in numbers + [None]:
        if start is not None and (n is None or n != prev + 1):
            out.append(str(start) if start == prev else f"{start}-{prev}")
            start = None
        if start is None:
            start = n
        prev = n
    return ", ".join(out)


def _lcov_name(name: str) -> str:
    """A function or test name as one lcov field: no commas or line breaks."""
    return "".join("_" if ch in ",\n\r" else ch for ch in name)


_HTML_HEAD = """<!DOCTYPE html>
<html lang=en><head><meta charset=utf-8><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
table.sum td, table.sum th {{ padding: 2px 10px; text-align: left; }}
table.src {{ border-collapse: collapse; font: 13px/1.4 ui-monospace, monospace; width: 100%; }}
table.src td {{ padding: 0 6px; vertical-align: top; }}
td.n {{ color: #888; text-align: right; user-select: none; }}
td.h {{ color: #555; text-align: right; white-space: nowrap; }}
td.c {{ white-space: pre; }}
td.b {{ color: #7a5a00; font-family: system-ui, sans-serif; font-size: 12px; }}
tr.run td.c {{ background: #dcf5dc; }}
tr.miss td.c {{ background: #f8d4d4; }}
tr.part td.c {{ background: #fbefc0; }}
</style></head><body>
"""
