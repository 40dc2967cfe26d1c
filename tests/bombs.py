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
import re
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
    ("str_repeat over the cap", 'str_repeat("x", 2000000000);', "too large"),
    ("str_repeat under the cap", '$a = str_repeat("x", 900000000);', MEMORY),
    ("str_replace growth",
     '$s = str_repeat("a", 1000000); $t = str_replace("a", str_repeat("b", 1000), $s);', MEMORY),
    ("pcre_replace growth",
     '$s = str_repeat("a", 1000000); $t = pcre_replace("a", str_repeat("b", 1000), $s);', MEMORY),
    ("pcre_replace backreferences",
     '$s = str_repeat("ab", 500000); $t = pcre_replace("(a)", str_repeat("$1", 1000), $s);',
     (MEMORY, TIME)),
    ("pack repeat count", '$p = pack("a900000000", "x");', MEMORY),
    ("pack many fields", '$p = pack("N*", ...array_range(0, 30000000));', MEMORY),
    ("strftime width", '$t = strftime("%900000000Y", 0);', ANY),
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
    ("array_range with no end", '$a = array_range(0, 1000000000000000);', "too large"),
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
     '$a = pcre_match_all("x", str_repeat("x", 20000000));', (MEMORY, TIME)),
    # time
    ("endless loop", 'while (true) { }', TIME),
    ("crypt rounds", '$c = crypt("secret", "\\$5\\$rounds=999999999\\$salt");', TIME),
    ("crypt long key", '$c = crypt(str_repeat("k", 50000000), "\\$6\\$rounds=5000\\$salt");',
     ANY),
    # PCRE's own limits stop a match (before the time limit), the run's deadline a loop
    ("catastrophic regex", '$m = pcre_match("^(a|a)*$", str_repeat("a", 40) . "!");',
     "match limit exceeded"),
    ("regex backtracking memory", '$m = pcre_match("^(?:a|b)*$", str_repeat("ab", 5000000));',
     "heap limit exceeded"),
    ("slow regex matches", '$m = pcre_match_all("(a|a)*c|b", str_repeat("aaaaaaaaaaaaaaaab", 1000000));',
     TIME),
    ("slow regex replacements",
     '$m = pcre_replace("(a|a)*c|b", "x", str_repeat("aaaaaaaaaaaaaaaab", 1000000));', TIME),
    ("array_sort of a big array",
     '$a = array_range(0, 1500000); while (true) $a = array_sort(function ($x, $y) { return $x > $y; }, $a);',
     (TIME, MEMORY)),
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


# Builtins one by one: calls whose work or result grows with their input.  Any clean end
# passes (a result, or the budget's error), within twice the budgets.
# name -> HSL source.  Inputs stay below the default memory limit (256 MB), so that the
# builtin, not the building of its input, meets the limits.  KEEP(call) keeps every result
# (memory grows until the budget stops it); LOOP(call) calls it forever (only the time
# limit stops it).
KEEP = '$s = str_repeat("a", 5e7); $k = []; forever { $k[] = %s; }'
LOOP = '$s = str_repeat("a", 2e8); forever { %s; }'
_BUILTIN_CALLS = {
    # strings
    "str_repeat": 'str_repeat("ab", 4e8);',
    "str_replace": 'str_replace("a", str_repeat("b", 1000), str_repeat("a", 1e6));',
    "str_replace_cap": 'str_replace("a", str_repeat("b", 3000), str_repeat("a", 1e6));',
    "str_replace_loop": LOOP % 'str_replace("a", "b", $s)',
    "str_split_empty": 'str_split(str_repeat("a", 6e7), "");',
    "str_split_delim": 'str_split(str_repeat(",", 6e7), ",");',
    "str_chunk": 'str_chunk(str_repeat("a", 6e7), 1);',
    "str_lower_keep": KEEP % 'str_lower($s)',
    "str_slice_keep": KEEP % 'str_slice($s, 1)',
    "str_strip_keep": KEEP % 'str_strip(" $s")',
    "str_find_loop": LOOP % 'str_find($s, "b")',
    "format_width": 'echo length("%900000000s" % [""]);',
    "format_many": 'echo length("%500000000s%500000000s%500000000s" % ["", "", ""]);',
    # arrays
    "array_range": 'array_range(0, 3e7);',
    "array_range_huge": 'array_range(0, 1e9);',
    "array_range_float": 'array_range(0.5, 3e7);',
    "array_range_keep": '$k = []; forever { $k[] = array_range(0, 1e6); }',
    "array_join": 'array_join(array_range(0, 1e6), str_repeat("x", 2000));',
    "array_keys_keep": '$a = array_range(0, 1e6); $k = []; forever { $k[] = array_keys($a); }',
    "array_reverse_keep": '$a = array_range(0, 1e6); $k = []; forever { $k[] = array_reverse($a); }',
    "array_includes_loop": '$a = array_range(0, 5e6); forever { array_includes(-1, $a); }',
    "array_map_builtin": '$a = array_range(0, 5e6); forever { array_map(is_number, $a); }',
    "array_sort": '$a = array_range(5e6, 0, -1); array_sort(none, $a);',
    "array_sort_mixed": '$a = array_range(0, 2e6); $a[] = "x"; array_sort(none, $a);',
    "array_shuffle": '$a = array_range(0, 5e6); array_shuffle($a);',
    "array_unique_arrays": '$a = []; for ($i = 0; $i < 30000; $i++) $a[] = [$i]; array_unique($a);',
    # regex
    "pcre_replace": 'pcre_replace("a", str_repeat("b", 1000), str_repeat("a", 1e6));',
    "pcre_replace_backref": 'pcre_replace("(a+)", "$1$1$1$1$1$1$1$1", str_repeat("a", 5e7));',
    "pcre_match_all": 'pcre_match_all("a", str_repeat("a", 5e7));',
    "pcre_quote": 'pcre_quote(str_repeat(".", 1e8));',
    "pcre_match_loop": LOOP % 'pcre_match("b", $s)',
    # encodings
    "pack_a": 'pack("a1000000000", "x");',
    "pack_x": 'pack("x900000000");',
    "pack_repeat": 'pack("a900000000a900000000", "x", "y");',
    "pack_numbers": 'pack("N*", ...array_range(0, 5e6));',
    "unpack_C": 'unpack("C*", str_repeat("a", 5e7));',
    "unpack_H": 'unpack("H*", str_repeat("a", 1e8));',
    "url_decode_keep": KEEP % 'url_decode("%41$s")',
    "url_encode": 'url_encode(str_repeat("\\x01", 8e7));',
    "base64_encode": 'base64_encode(str_repeat("a", 1.5e8));',
    "base64_decode_keep": KEEP % 'base64_decode($s)',
    "base32_encode": 'base32_encode(str_repeat("a", 1e8));',
    "xtext_encode": 'xtext_encode(str_repeat("\\x01", 8e7));',
    "xtext_decode_keep": KEEP % 'xtext_decode("+41$s")',
    "mimeword_encode": 'mimeword_encode(str_repeat("\\x01", 5e7));',
    "mimeword_decode": 'mimeword_decode(str_repeat("=?utf-8?Q?a?= ", 1e7));',
    "json_decode": 'json_decode("[" . str_repeat("0,", 3e7) . "0]");',
    "json_decode_str": 'json_decode("\\"" . str_repeat("\\\\u0041", 2e7) . "\\"");',
    "json_encode_loop": '$a = array_range(0, 1e6); forever { json_encode($a); }',
    "json_encode_shared": '$a = [str_repeat("a", 1e6)]; for ($i = 0; $i < 12; $i++) $a = [$a, $a]; json_encode($a);',
    "csv_decode": 'csv_decode(str_repeat("a,", 3e7));',
    "csv_decode_field": 'csv_decode(str_repeat("a", 1e8));',
    "csv_encode": 'csv_encode(array_range(0, 5e6));',
    "zlib_bomb": '$z = zlib_compress(str_repeat("a", 1e8)); $z = zlib_compress($z . $z . $z . $z . $z . $z . $z . $z . $z . $z, 9, -15); echo length($z); zlib_uncompress(zlib_uncompress($z, -15));',
    "zlib_bomb1": '$z = zlib_compress(str_repeat("a", 1e9)); echo length($z); zlib_uncompress($z);',
    "zlib_compress_loop": LOOP % 'zlib_compress($s, 9)',
    "yaml_decode": 'yaml_decode(str_repeat("- a\\n", 3e6));',
    # crypto
    "crypt_rounds": 'crypt("x", "\\$6\\$rounds=999999999\\$salt");',
    "crypt_key": 'crypt(str_repeat("k", 1e5), "\\$6\\$salt");',
    "crypt_md5_key": 'crypt(str_repeat("k", 1e7), "\\$1\\$salt");',
    "md5_loop": LOOP % 'md5($s)',
    "sha2_loop": LOOP % 'sha2($s, 512)',
    "hmac_loop": LOOP % 'hmac_sha2("k", $s, 256)',
    "hash_loop": LOOP % 'hash($s)',
    "aes_encrypt_keep": KEEP % 'aes_encrypt($s, str_repeat("k", 16), "ecb")',
    # time
    "strftime_width": 'strftime("%1000000000Y");',
    "strftime_many": 'strftime(str_repeat("%Y", 5e7));',
    "strptime": 'strptime(str_repeat("1", 1e7), str_repeat("%Y", 5e6));',
    # mail / network
    "addresslist": 'header_addresslist_extract(str_repeat("a@b, ", 1e7));',
    "addresslist_quoted": 'header_addresslist_extract("\\"" . str_repeat("a", 1e8) . "\\" <a@b>");',
    "dkim_decode": 'header_dkim_decode(str_repeat("a=b;", 2e7));',
    "addresslist_compile": '$a = []; for ($i = 0; $i < 10; $i++) $a[] = ["name" => str_repeat("\\xc3\\xa9", 1e7), "address" => "a@b"]; header_addresslist_compile($a);',
    "idna_encode": 'idna_encode(str_repeat("\\xc3\\xa9", 1e6));',
    "idna_decode": 'idna_decode("xn--" . str_repeat("a", 1e7));',
    "url_parse_keep": KEEP % 'url_parse("http://$s")',
    "envelope_parse_keep": KEEP % 'envelope_address_parse("\\"$s\\"@b")',
    # classes
    "iconv_keep": '$i = Iconv("UTF-8", "UTF-16"); ' + KEEP % '$i->convert($s)',
    "iconv_translit": '$i = Iconv("UTF-8", "ASCII//TRANSLIT"); $i->convert(str_repeat("\\xc3\\xa9", 5e7));',
    "file_read_zero": 'File::read("/dev/zero");',
    "file_method_zero": '$f = File(File::read("/dev/zero")); $f->read();',
    "file_read_keep": '$f = File::String(str_repeat("a", 5e7)); $k = []; forever { $k[] = $f->read(); $f->seek(0); }',
    "file_readline": '$f = File::String(str_repeat("a", 1e8)); $f->readline();',
    "map_entries": '$m = Map("number", "any"); foreach (array_range(0, 1e6) as $i) $m->set($i, $i); forever { foreach ($m->entries() as $k => $v) break; }',
    "x509": 'X509::String(str_repeat("-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n", 2e6));',
}


def _expand(src: str) -> str:
    """1e6-style numbers (HSL has no exponent syntax) as integer literals."""
    return re.sub(r"\b\d+(?:\.\d+)?e\d+\b", lambda m: "%d" % float(m.group()), src)


BUILTIN_BOMBS = [(name, _expand(code), ANY) for name, code in _BUILTIN_CALLS.items()]


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
        "def cap():\n"         # a runaway bomb must not take the machine: 4 GB at most
        "    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
        "t = time.monotonic()\n"
        "p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,\n"
        "                     preexec_fn=cap)\n"
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
