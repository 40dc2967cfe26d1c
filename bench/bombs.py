"""Builtin calls whose work or result grows with their input ("bombs"), each run in a
fresh process under a time and a memory limit: how long it took, how much memory the
process took, and how it ended.

    python bench/bombs.py [--max-time S] [--max-memory MB] [--no-memory] [NAME...]

A bomb passes when it ends within twice the time limit, below twice the memory limit plus
100 MB, and without an internal error.  `--no-memory` runs without a memory budget (only
the time limit bounds the run).  Every child process is capped at 4 GB of address space,
so that a runaway bomb cannot take the machine (it then ends "out of memory").
"""
from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

# name -> HSL source.  Inputs stay below the default memory limit (256 MB), so that the
# builtin, not the building of its input, meets the limits.  KEEP(call) keeps every result
# (memory grows until the budget stops it); LOOP(call) calls it forever (only the time
# limit stops it).
KEEP = '$s = str_repeat("a", 5e7); $k = []; forever { $k[] = %s; }'
LOOP = '$s = str_repeat("a", 2e8); forever { %s; }'
BOMBS = {
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


def child(name: str, max_time: float, max_memory) -> None:
    """Run one bomb (in the child process) and print how it went as JSON."""
    sys.path.insert(0, ROOT)
    import hsl
    program = hsl.compile(_expand(BOMBS[name]))
    t0 = time.monotonic()
    try:
        program.run(output=lambda s: None, max_time=max_time, max_memory=max_memory)
        outcome = "finished"
    except hsl.HSLRuntimeError as e:
        outcome = e.message
    except BaseException as e:            # noqa: BLE001 -- report anything
        outcome = f"python {type(e).__name__}: {e}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"elapsed": time.monotonic() - t0, "outcome": outcome[:120],
                      "peak": peak}))


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def run_one(name: str, max_time: float, max_memory) -> dict:
    """{"elapsed", "outcome", "peak" (MB)} of one bomb in a fresh process."""
    t0 = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", name, str(max_time),
                               str(max_memory)], capture_output=True, text=True,
                              preexec_fn=_cap, timeout=max_time * 10 + 10)
        lines = proc.stdout.strip().splitlines()
        if lines:
            return json.loads(lines[-1])
        why = "crashed: " + proc.stderr.strip()[-100:]
    except subprocess.TimeoutExpired as e:
        why = "crashed: killed after %.0f s" % e.timeout
    return {"elapsed": time.monotonic() - t0, "outcome": why, "peak": float("nan")}


def main(argv) -> int:
    if argv[:1] == ["--child"]:
        child(argv[1], float(argv[2]), None if argv[3] == "None" else int(argv[3]))
        return 0
    max_time, max_memory = 3.0, 256 << 20
    names = []
    args = iter(argv)
    for a in args:
        if a == "--max-time":
            max_time = float(next(args))
        elif a == "--max-memory":
            max_memory = int(float(next(args)) * (1 << 20))
        elif a == "--no-memory":
            max_memory = None
        else:
            names.append(a)
    failed = []
    for name in names or BOMBS:
        r = run_one(name, max_time, max_memory)
        bad = (r["elapsed"] > 2 * max_time or "internal" in r["outcome"]
               or r["outcome"].startswith(("python", "crashed"))
               or (max_memory is not None and r["peak"] > 2 * max_memory / (1 << 20) + 100))
        if bad:
            failed.append(name)
        print(f"{name:<22}{r['elapsed']:7.2f}s {r['peak']:7.0f} MB  "
              f"{'FAIL ' if bad else ''}{r['outcome']}", flush=True)
    print(f"\n{len(failed)} of {len(names or BOMBS)} over the limits: {' '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
