"""The reports of `hsl test`: text (one line per case, then for each failure its
expected-versus-actual differences and its trace, then a summary), JSON (one object),
and JUnit XML (the format CI dashboards read: one <testsuite> per test file, one
<testcase> per case, <failure> with the differences and trace, <error> with why it
could not run)."""
from __future__ import annotations

import json
import re
from typing import Optional

from .runner import ERROR, FAIL, PASS

FORMATS = ("text", "json", "junit")


def summary(results: list) -> dict:
    counts = {PASS: 0, FAIL: 0, ERROR: 0}
    for r in results:
        counts[r.status] += 1
    return {"passed": counts[PASS], "failed": counts[FAIL], "errors": counts[ERROR],
            "total": len(results), "seconds": round(sum(r.seconds for r in results), 6)}


def summary_line(results: list) -> str:
    s = summary(results)
    line = f"{s['passed']} passed, {s['failed']} failed"
    if s["errors"]:
        line += f", {s['errors']} error{'s' if s['errors'] != 1 else ''}"
    return line + f" ({s['seconds']:.2f} s)"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def details(r) -> list:
    """The lines under a case that did not pass: its differences or its error, then its
    trace."""
    lines = []
    if r.status == ERROR:
        lines += (r.message or "").splitlines()
    for m in r.mismatches:
        lines += m.lines()
    if r.trace:
        lines.append("trace:")
        lines += ["  " + t for t in r.trace]
    return lines


def text(results: list, trace: bool = False) -> str:
    """The text report; with `trace`, the trace of every case (passing ones too)."""
    out = []
    for r in results:
        out.append(f"{r.status:<5} {r.case.id} ({_ms(r.seconds)})")
        if r.status != PASS or (trace and r.trace):
            out += ["      " + line for line in details(r)]
            if r.status != PASS:
                out.append(f"      (case at {r.case.where})")
    out.append(summary_line(results) if results else "no test cases found")
    return "\n".join(out) + "\n"


def to_json(results: list) -> str:
    cases = []
    for r in results:
        cases.append({"id": r.case.id, "file": r.case.suite.shown,
                      "scenario": r.case.group, "name": r.case.name,
                      "where": r.case.where, "status": r.status,
                      "seconds": round(r.seconds, 6),
                      "mismatches": [m.to_json() for m in r.mismatches],
                      "message": r.message, "trace": r.trace, "actual": r.actual})
    return json.dumps({"cases": cases, "summary": summary(results)}, ensure_ascii=False,
                      default=str) + "\n"


# XML 1.0 cannot hold most control characters, even escaped: they are shown as \xNN.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(s: Optional[str]) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", s or "")


def junit(results: list) -> str:
    import xml.etree.ElementTree as ET
    s = summary(results)
    root = ET.Element("testsuites", name="hsl test", tests=str(s["total"]),
                      failures=str(s["failed"]), errors=str(s["errors"]), skipped="0",
                      time=f"{s['seconds']:.6f}")
    suites: dict = {}
    for r in results:
        file = r.case.suite.shown
        if file not in suites:
            suites[file] = (ET.SubElement(root, "testsuite", name=_xml_text(file)), [])
        suites[file][1].append(r)
    for element, rs in suites.values():
        part = summary(rs)
        element.set("tests", str(part["total"]))
        element.set("failures", str(part["failed"]))
        element.set("errors", str(part["errors"]))
        element.set("skipped", "0")
        element.set("time", f"{part['seconds']:.6f}")
        for r in rs:
            name = f"{r.case.group}::{r.case.name}" if r.case.group else r.case.name
            tc = ET.SubElement(element, "testcase", name=_xml_text(name),
                               classname=_xml_text(r.case.suite.shown),
                               time=f"{r.seconds:.6f}", file=_xml_text(r.case.suite.shown))
            body = _xml_text("\n".join(details(r)))
            if r.status == FAIL:
                n = len(r.mismatches)
                failure = ET.SubElement(tc, "failure", type="expectation",
                                        message=f"{n} expectation{'s' if n != 1 else ''} "
                                                "not met")
                failure.text = body
            elif r.status == ERROR:
                first = (r.message or "error").splitlines()[0] if r.message else "error"
                error = ET.SubElement(tc, "error", type="error", message=_xml_text(first))
                error.text = body
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(
        root, encoding="unicode") + "\n"
