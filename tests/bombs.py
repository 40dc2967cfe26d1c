"""Resource bombs: small HSL scripts that build huge values or run for hours.

Each must end with a clean error within twice its budgets (`hsl run --max-time 3
--max-memory 256M`): tests/test_limits.py runs them and bench/limits.py reports, for each,
the time to the error and the peak memory.  `expect` is a fragment of the error that
stops it (the limit that should be reached first), a tuple of fragments when either of
two limits may come first, or ANY when a result is as good as a clean error.

Scripts that need data too big or too binary for the command line build it with
`DATA("name")`: see DATA.
"""
from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MEMORY = "memory limit exceeded"
TIME = "execution time limit exceeded"
STRING = "string too large"
ARRAY = "array too large"
DEPTH = "maximum call depth"
ANY = None          # any clean end: a result, or a clean error


def _zlib_bomb() -> str:
    """1 GiB of zeros, compressed twice: a few KB of base64."""
    inner = zlib.compressobj(9)
    chunk = b"\0" * (1 << 20)
    once = b"".join([inner.compress(chunk) for _ in range(1024)] + [inner.flush()])
    return base64.b64encode(zlib.compress(once, 9)).decode()


DATA = {"zlib": _zlib_bomb}

BOMBS = [
    # strings built by operators
    ("interpolation doubling", '$s = "x"; while (true) $s = "$s$s";', MEMORY),
    ("concatenation doubling", '$s = "x"; while (true) $s = $s . $s;', MEMORY),
    ("append in a loop", '$s = str_repeat("x", 100000); while (true) $s .= $s;', MEMORY),
    ("string repeat operator", '$s = "abc" * 200000000;', MEMORY),
    ("format width", 'echo "%900000000s" % ["x"];', MEMORY),
    ("format fill width", 'echo "%\'x900000000s" % ["x"];', MEMORY),
    # strings built by builtins
    ("str_repeat over the cap", 'str_repeat("x", 2000000000);', STRING),
    ("str_repeat under the cap", '$a = str_repeat("x", 900000000);', MEMORY),
    ("str_replace growth",
     '$s = str_repeat("a", 1000000); $t = str_replace("a", str_repeat("b", 1000), $s);', MEMORY),
    ("pcre_replace growth",
     '$s = str_repeat("a", 1000000); $t = pcre_replace("a", str_repeat("b", 1000), $s);', MEMORY),
    ("pcre_replace backreferences",
     '$s = str_repeat("ab", 500000); $t = pcre_replace("(a)", str_repeat("$1", 1000), $s);',
     MEMORY),
    ("pack repeat count", '$p = pack("a900000000", "x");', MEMORY),
    ("pack many fields", '$p = pack("N*", ...array_range(0, 30000000));', MEMORY),
    ("strftime width", '$t = strftime("%900000000Y", 0);', MEMORY),
    ("base64 of a big string", '$b = base64_encode(str_repeat("x", 300000000));', MEMORY),
    ("url_decode of a big string", '$d = url_decode(str_repeat("%41", 200000000));', MEMORY),
    ("zlib bomb", '$z = zlib_uncompress(zlib_uncompress(base64_decode(DATA("zlib"))));',
     MEMORY),
    ("json_encode of shared arrays",
     '$a = [1]; for ($i = 0; $i < 40; $i++) $a = [$a, $a]; $j = json_encode($a);',
     (MEMORY, TIME)),
    ("text of shared arrays",
     '$a = [1]; for ($i = 0; $i < 40; $i++) $a = [$a, $a]; $t = "$a";', (MEMORY, TIME)),
    ("json_decode of a huge array",
     '$j = "[" . str_repeat("1,", 60000000) . "1]"; $a = json_decode($j);', MEMORY),
    ("json_decode of deep nesting",
     '$a = json_decode(str_repeat("[", 5000000) . str_repeat("]", 5000000));', ANY),
    # arrays
    ("array_range", '$a = array_range(0, 20000000);', MEMORY),
    ("array_range with no end", '$a = array_range(0, 1000000000000000);', ARRAY),
    ("array repeat operator", '$a = [1, 2, 3] * 30000000;', ARRAY),
    ("spread doubling", '$a = [1]; while (true) $a = [...$a, ...$a];', MEMORY),
    ("array merge doubling", '$a = [1]; while (true) $a = $a + $a;', MEMORY),
    ("append elements", '$a = []; while (true) $a[] = 1;', MEMORY),
    ("append strings", '$x = str_repeat("y", 3000); while (true) $a[] = $x . $x;', MEMORY),
    ("append arrays", '$a = []; while (true) $a[] = [1, 2, 3, 4, 5, 6, 7, 8];', MEMORY),
    ("string keys", '$i = 0; while (true) $a["key" . $i++ . str_repeat("k", 200)] = 1;',
     MEMORY),
    ("objects", 'class C { constructor() { $this->v = [1, 2, 3]; } } while (true) $a[] = C();',
     MEMORY),
    ("Map entries",
     '$m = Map("string", "string"); $i = 0; while (true) $m->set("k" . $i++, str_repeat("x", 1000));',
     MEMORY),
    ("str_split into single bytes", '$a = str_split(str_repeat(",", 50000000), ",");', MEMORY),
    ("str_chunk into single bytes", '$a = str_chunk(str_repeat("x", 20000000), 1);', MEMORY),
    ("pcre_match_all matches",
     '$a = pcre_match_all("x", str_repeat("x", 20000000));', MEMORY),
    # time
    ("endless loop", 'while (true) { }', TIME),
    ("crypt rounds", '$c = crypt("secret", "\\$5\\$rounds=999999999\\$salt");', TIME),
    ("crypt long key", '$c = crypt(str_repeat("k", 50000000), "\\$6\\$rounds=5000\\$salt");',
     ANY),
    ("catastrophic regex", '$m = pcre_match("^(a|a)*$", str_repeat("a", 40) . "!");', TIME),
    ("array_sort of a big array",
     '$a = array_range(0, 1500000); while (true) $a = array_sort(function ($x, $y) { return $x > $y; }, $a);',
     TIME),
    ("array_map over and over",
     '$a = array_range(0, 1000000); while (true) $a = array_map(function ($x) { return $x + 1; }, $a);',
     TIME),
    ("sha256 of big strings",
     '$s = str_repeat("x", 100000000); while (true) $h = sha2($s, 256);', TIME),
    # depth
    ("recursion", 'function f($n) { return f($n + 1); } f(0);', DEPTH),
    ("recursion through a callback",
     'function f($n) { return array_sort(function ($a, $b) closure ($n) { f($n + 1); return 0; }, [1, 2]); } f(0);',
     DEPTH),
]


def script(code: str) -> str:
    """The script of a bomb, with its data inlined."""
    for name, make in DATA.items():
        marker = f'DATA("{name}")'
        if marker in code:
            code = code.replace(marker, f'"{make()}"')
    return code


def run_isolated(code: str, max_time: float, max_memory: str, timeout: float):
    """(exit code or None when killed at `timeout`, stderr, seconds, peak RSS in bytes)
    of `hsl run` on one bomb.  It runs under a helper process of its own, so that the
    peak RSS (RUSAGE_CHILDREN, the largest child ever waited for) is this bomb's alone."""
    helper = (
        "import os, resource, subprocess, sys, time\n"
        "cmd = sys.argv[2:]\n"
        "t = time.monotonic()\n"
        "p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "try:\n"
        "    err = p.communicate(timeout=float(sys.argv[1]))[1]; rc = p.returncode\n"
        "except subprocess.TimeoutExpired:\n"
        "    p.kill(); err = p.communicate()[1]; rc = 'killed'\n"
        "el = time.monotonic() - t\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "peak *= 1 if sys.platform == 'darwin' else 1024\n"
        "sys.stdout.write(f'{rc} {el} {peak}\\n'); sys.stdout.flush()\n"
        "sys.stdout.buffer.write(err)\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".hsl", delete=False) as f:
        f.write(script(code))
        path = f.name
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        out = subprocess.run([sys.executable, "-c", helper, str(timeout), sys.executable, "-m",
                              "hsl", "run", "--max-time", str(max_time), "--max-memory",
                              max_memory, path], capture_output=True, env=env).stdout
    finally:
        os.unlink(path)
    head, _, err = out.partition(b"\n")
    rc, elapsed, peak = head.split()
    return (None if rc == b"killed" else int(rc)), err.decode("utf-8", "replace"), \
        float(elapsed), int(peak)


def clean(rc, err: str, expect) -> bool:
    """Whether a bomb ended as it should: with the error `expect` names (exit code 1), or,
    for ANY, with a result or any clean error; never an internal error."""
    if rc is None or "internal error" in err or "Traceback" in err:
        return False
    if expect is None:
        return rc in (0, 1)
    if isinstance(expect, str):
        expect = (expect,)
    return rc == 1 and any(e in err for e in expect)
