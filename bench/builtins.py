"""Per-call cost of the most used builtins next to the bare Python doing the same work.

    python bench/builtins.py [--quick]

For each builtin, "hsl" is the registered implementation called the way compiled HSL calls
it (a plain Python call of `FUNCTIONS[name].fn` with HSL values), and "bare" is a Python
function doing the same operation on the same values with no argument checks and no HSL
conversions.  Both are called through one Python function call, so the ratio shows what the
builtin adds (type checks, option handling, building HArray results), not the cost of a
call as such.  Callbacks are the same HFunction in both columns.  Ratios above 2x are
flagged.  Builtins of areas that are not registered are skipped with a note.
"""
from __future__ import annotations

import json
import os
import sys
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hsl.builtins import FUNCTIONS, load_all  # noqa: E402
from hsl.runtime.values import HArray, HFunction, from_python, lt, to_python, to_str  # noqa: E402

LIMIT = 2.0

TEXT = b"The quick brown fox jumps over the lazy dog, " * 2          # 90 bytes
CSV = b"alpha,beta,gamma,delta,epsilon,zeta,eta,theta"
LIST = from_python(list(range(20)))
WORDS = from_python(["w%d" % i for i in range(20)])
JSON_VALUE = from_python({"id": 7, "name": "mail", "tags": ["a", "b", "c"], "ok": True})
JSON_TEXT = json.dumps(to_python(JSON_VALUE)).encode()
JSON_PY = to_python(JSON_VALUE)
DOUBLE = HFunction("double", lambda v: v * 2.0, 1, 1)
ODD = HFunction("odd", lambda v: v % 2.0 == 1.0, 1, 1)
LESS = HFunction("less", lambda a, b: lt(a, b), 2, 2)


class _Key:
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    def __lt__(self, other):
        return bool(LESS(self.v, other.v))


def _bare_pcre():
    from hsl.runtime import regex as pcre
    pat = pcre.compile_pattern(rb"(\w+)@(\w+)\.com", "")
    subject = b"mail to someone@example.com today"

    def bare(s=subject):
        m = pat.search(s)
        return [m.group(0)] + list(m.groups(b""))
    return bare, (rb"/(\w+)@(\w+)\.com/", subject)


def cases():
    """(name, args for the builtin, bare function taking the same args)."""
    out = [
        ("length", (TEXT,), lambda s: float(len(s))),
        ("str_lower", (TEXT,), lambda s: s.lower()),
        ("str_upper", (TEXT,), lambda s: s.upper()),
        ("str_find", (TEXT, b"lazy"), lambda s, sub: float(s.find(sub))),
        ("str_replace", (b"fox", b"cat", TEXT), lambda a, b, s: s.replace(a, b)),
        ("str_split", (CSV, b","), lambda s, d: HArray.from_list(s.split(d))),
        ("str_slice", (TEXT, 4.0, 5.0), lambda s, o, n: s[int(o):int(o) + int(n)]),
        ("str_strip", (b"  padded value \r\n",), lambda s: s.strip(b" \t\r\n")),
        ("str_repeat", (b"ab", 10.0), lambda s, n: s * int(n)),
        ("array_join", (WORDS, b","),
         lambda a, sep: sep.join([v if type(v) is bytes else to_str(v) for v in a.d.values()])),
        ("array_keys", (LIST,), lambda a: HArray.from_list([float(k) for k in a.d])),
        ("array_includes", (19.0, LIST), lambda n, a: n in a.d.values()),
        ("array_map", (DOUBLE, LIST),
         lambda f, a: HArray.from_dict_normalized({k: f(v) for k, v in a.d.items()})),
        ("array_filter", (ODD, LIST),
         lambda f, a: HArray.from_dict_normalized({k: v for k, v in a.d.items() if f(v)})),
        ("array_sort", (LESS, from_python(list(range(20, 0, -1)))),
         lambda f, a: HArray.from_dict_normalized(dict(sorted(a.d.items(),
                                                              key=lambda kv: _Key(kv[1]))))),
        ("array_reverse", (LIST,), lambda a: HArray.from_list(list(a.d.values())[::-1])),
        ("array_range", (0.0, 20.0), lambda a, b: HArray.from_list(
            [float(i) for i in range(int(a), int(b))])),
    ]
    if "pcre_match" in FUNCTIONS:
        bare, args = _bare_pcre()
        out.append(("pcre_match", args, lambda p, s: bare(s)))
    else:
        out.append(("pcre_match", None, "regex area not registered"))
    if "json_encode" in FUNCTIONS:
        out.append(("json_encode", (JSON_VALUE,), lambda v: json.dumps(JSON_PY).encode()))
    else:
        out.append(("json_encode", None, "encodings area not registered"))
    if "json_decode" in FUNCTIONS:
        out.append(("json_decode", (JSON_TEXT,), lambda s: json.loads(s)))
    else:
        out.append(("json_decode", None, "encodings area not registered"))
    return out


def per_call(fn, args, quick: bool) -> float:
    """Best seconds per call over several repeats of `fn(*args)`."""
    t = timeit.Timer("f(*a)", globals={"f": fn, "a": args})
    number, total = t.autorange()          # at least 0.2 s
    number = max(1, int(number * (0.05 if quick else 0.1) / total))
    return min(t.repeat(repeat=3 if quick else 5, number=number)) / number


def main(argv) -> int:
    quick = "--quick" in argv
    load_all()
    print(f"{'builtin':<16}{'hsl calls/s':>14}{'bare calls/s':>14}{'overhead':>10}")
    flagged = []
    for name, args, bare in cases():
        if args is None:
            print(f"{name:<16}  skipped: {bare}")
            continue
        fn = FUNCTIONS[name].fn
        fn(*args)                 # warm up (and make sure it runs)
        bare(*args)
        h = per_call(fn, args, quick)
        b = per_call(bare, args, quick)
        ratio = h / b
        flag = "  <-- above %.0fx" % LIMIT if ratio > LIMIT else ""
        if flag:
            flagged.append(name)
        print(f"{name:<16}{1 / h:>14,.0f}{1 / b:>14,.0f}{ratio:>9.2f}x{flag}")
    print()
    if flagged:
        print(f"above {LIMIT:.0f}x: {', '.join(flagged)}")
    else:
        print(f"every builtin is within {LIMIT:.0f}x of the bare Python operation")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
