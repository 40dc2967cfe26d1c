"""Plugins a Halon host would have (issue 15): `--plugins FILE` declares plugin functions
and classes (canned results, or HSL modules that implement them), `--extras DIR` holds
extras:// packages; hsl run, check, repl and serve all take them, and a program that uses
undeclared plugins gets one error naming every one (hsl/plugins.py, docs/plugins.md)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from hsl.plugins import load_plugins
from hsl.program import compile_program
from hsl.errors import HSLRuntimeError, HSLSyntaxError
from serve_helpers import ROOT, Raw, Server

PLUGINS = """\
functions:
  ip_list_lookup:
    params: [list, ip]
    results:
      - args: [blocklist, 192.0.2.1]
        result: true
      - args: [blocklist, 192.0.2.2]
        result: {listed: yes, ttl: 60}
    result: false
  http_bulk:
    min_args: 1
    max_args: 3
    result: {status: 200, tags: [a, b], nothing: null, ratio: 0.5}
  anything: {}
  dlp_scan:
    module: stubs/dlp.hsl
    function: scan
  dlp_count:
    module: stubs/dlp.hsl
classes:
  LDAP:
    params: [uri, "[options]"]
    methods:
      search: {params: [base, "[filter]"], result: [{cn: alice}]}
      bind:
        params: [dn, password]
        results: [{args: [admin, secret], result: true}]
        result: false
  Redis:
    module: stubs/redis.hsl
"""

DLP = """\
$scans = 0;
function scan($text, $options = []) {
    global $scans;
    $scans += 1;
    return ["text" => $text, "listed" => ip_list_lookup("blocklist", "192.0.2.1")];
}
function dlp_count() { global $scans; return $scans; }
"""

REDIS = """\
class Redis {
    constructor($host) { $this->host = $host; $this->data = []; }
    function set($key, $value) { $this->data[$key] = $value; return true; }
    function get($key) { return $this->data[$key] ?? none; }
}
"""


@pytest.fixture
def plugin_dir(tmp_path):
    (tmp_path / "plugins.yaml").write_text(PLUGINS)
    (tmp_path / "stubs").mkdir()
    (tmp_path / "stubs" / "dlp.hsl").write_text(DLP)
    (tmp_path / "stubs" / "redis.hsl").write_text(REDIS)
    return tmp_path


def run(source: str, plugins, filename: str = "<string>") -> list:
    out = []
    compile_program(textwrap.dedent(source), filename, plugins=plugins).run(output=out.append)
    return out


def hsl(*args, cwd, stdin=b""):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "hsl", *args], capture_output=True,
                          env=env, cwd=cwd, timeout=60, input=stdin)


# ------------------------------------------------------------------ canned results

def test_canned_results_by_arguments_and_default(plugin_dir):
    plugins = load_plugins([str(plugin_dir / "plugins.yaml")])
    assert run("""
        echo ip_list_lookup("blocklist", "192.0.2.1");
        echo ip_list_lookup("blocklist", "192.0.2.2");
        echo ip_list_lookup("blocklist", "192.0.2.3");
        echo ip_list_lookup("other", "192.0.2.1");
        echo http_bulk("https://example.com/");
        echo anything();
        echo anything(1, 2, 3, 4);
    """, plugins) == ["true", '["listed"=>true,"ttl"=>60]', "false", "false",
                      '["status"=>200,"tags"=>[0=>"a",1=>"b"],"nothing"=>none,"ratio"=>0.5]',
                      "none", "none"]


def test_canned_arguments_match_strictly_and_results_are_values(plugin_dir):
    plugins = load_plugins([str(plugin_dir / "plugins.yaml")])
    # "192.0.2.1" the string is not the array ["192.0.2.1"]; a result changed by the
    # script does not change the next answer (arrays are values)
    assert run("""
        echo ip_list_lookup("blocklist", ["192.0.2.1"]);
        $r = http_bulk("x");
        $r["status"] = 500;
        echo http_bulk("x")["status"];
    """, plugins) == ["false", "200"]


def test_canned_class_constructor_and_methods(plugin_dir):
    plugins = load_plugins([str(plugin_dir / "plugins.yaml")])
    assert run("""
        $l = LDAP("ldap://ldap.example");
        echo $l->search("dc=example");
        echo $l->bind("admin", "secret");
        echo $l->bind("admin", "wrong");
        $make = LDAP;
        echo $make("ldap://x", [])->bind("admin", "secret");
    """, plugins) == ['[0=>["cn"=>"alice"]]', "true", "false", "true"]


def test_plugins_are_builtins_to_the_language(plugin_dir):
    """`builtin NAME` reaches a plugin past a user function that overrides it (what real
    projects do to wrap one), and a plugin is a function value like any builtin."""
    plugins = load_plugins([str(plugin_dir / "plugins.yaml")])
    assert run("""
        function ip_list_lookup($list, $ip) {
            return "wrapped " . (builtin ip_list_lookup($list, $ip) ? "listed" : "clean");
        }
        echo ip_list_lookup("blocklist", "192.0.2.1");
        $f = builtin ip_list_lookup;
        echo $f("blocklist", "192.0.2.1");
        echo array_map(function ($ip) { return builtin ip_list_lookup("blocklist", $ip); },
                       ["192.0.2.1", "192.0.2.9"]);
        echo cache ["ttl" => 60] http_bulk("y")["status"];
    """, plugins) == ["wrapped listed", "true", "[0=>true,1=>false]", "200"]


# ------------------------------------------------------------------ HSL implementations

def test_function_implemented_by_an_hsl_module(plugin_dir):
    plugins = load_plugins([str(plugin_dir / "plugins.yaml")])
    # The module is loaded once per run (its state persists within the run) and may
    # call other plugins.
    assert run("""
        echo dlp_scan("card 4111");
        echo dlp_scan("x", ["mode" => "strict"])["text"];
        echo dlp_count();
        echo builtin dlp_count();
    """, plugins) == ['["text"=>"card 4111","listed"=>true]', "x", "2", "2"]
    # a new run starts afresh
    assert run("echo dlp_count();", plugins) == ["0"]


def test_class_implemented_by_an_hsl_module(plugin_dir):
    plugins = load_plugins([str(plugin_dir / "plugins.yaml")])
    assert run("""
        $r = Redis("localhost");
        $r->set("greylist:192.0.2.1", 1);
        echo $r->get("greylist:192.0.2.1");
        echo $r->get("other");
        $make = Redis;
        echo $make("h")->host;
    """, plugins) == ["1", "none", "h"]


def test_a_module_that_does_not_have_the_member(tmp_path):
    (tmp_path / "m.hsl").write_text("function other() { return 1; }\n")
    (tmp_path / "p.yaml").write_text("functions:\n  dlp_scan: {module: m.hsl, function: scan}\n")
    plugins = load_plugins([str(tmp_path / "p.yaml")])
    with pytest.raises(HSLSyntaxError) as e:
        run("echo dlp_scan(1);", plugins)
    assert str(e.value).startswith(f"{tmp_path / 'p.yaml'}:2:3: error: plugin dlp_scan: ")
    assert "has no function scan" in str(e.value)
    # a program that never mentions the plugin does not load its module
    assert run("echo 1;", plugins) == ["1"]


# ------------------------------------------------------------------ arity

def test_arity_is_checked_at_compile_time(plugin_dir):
    plugins = load_plugins([str(plugin_dir / "plugins.yaml")])
    cases = {
        'ip_list_lookup("a");': "wrong number of arguments for ip_list_lookup(): "
                                "expected 2, got 1",
        'http_bulk(1, 2, 3, 4);': "wrong number of arguments for http_bulk(): "
                                  "expected 1 to 3, got 4",
        'dlp_scan();': "wrong number of arguments for dlp_scan(): expected 1 to 2, got 0",
        'LDAP();': "wrong number of arguments for LDAP(): expected 1 to 2, got 0",
        'Redis(1, 2);': "wrong number of arguments for Redis(): expected 1, got 2",
    }
    for code, message in cases.items():
        with pytest.raises(HSLSyntaxError) as e:
            run(code, plugins)
        assert message in str(e.value), code


def test_arity_is_checked_when_called_indirectly(plugin_dir):
    plugins = load_plugins([str(plugin_dir / "plugins.yaml")])
    cases = {
        '$a = ["x"]; ip_list_lookup(...$a);': "expected 2, got 1",
        '$l = LDAP("u"); $l->search();': "LDAP->search(): expected 1 to 2, got 0",
        '$f = LDAP; $f();': "LDAP(): expected 1 to 2, got 0",
    }
    for code, message in cases.items():
        with pytest.raises(HSLRuntimeError) as e:
            run(code, plugins)
        assert message in str(e.value), code


# ------------------------------------------------------------------ errors in the file

@pytest.mark.parametrize("text, where, message", [
    ("functions:\n  f:\n    colour: red\n", "3:5", "functions.f.colour: unknown key (known: "),
    ("functions:\n  f: {params: [a, 3]}\n", "2:19", "functions.f.params.1: a parameter is NAME"),
    ("functions:\n  f: {params: ['[a]', b]}\n", "2:23",
     "functions.f.params.1: a required parameter cannot follow an optional one"),
    ("functions:\n  f: {params: ['...a', b]}\n", "2:24", "functions.f.params.1: a parameter"),
    ("functions:\n  f: {min_args: 2, max_args: 1}\n", "2:30",
     "functions.f.max_args: is less than min_args (2)"),
    ("functions:\n  f: {min_args: -1}\n", "2:17", "functions.f.min_args: must be a whole number"),
    ("functions:\n  f: {params: [a], min_args: 1}\n", "2:20",
     "functions.f.min_args: give params or min_args/max_args, not both"),
    ("functions:\n  strlen: {}\n", "2:3", "functions.strlen: strlen is a builtin of hsl"),
    ("classes:\n  X509: {}\n", "2:3", "classes.X509: X509 is a builtin of hsl"),
    ("functions:\n  Accept: {}\n", "2:3", "functions.Accept: Accept is a builtin of hsl"),
    ("functions:\n  2fast: {}\n", "2:3", "functions.2fast: a plugin name is an identifier"),
    ("functions:\n  f:\n    result: 2024-01-02\n", "3:13",
     "functions.f.result: a date is not an HSL value (quote it to have a string)"),
    ("functions:\n  f:\n    results:\n      - {args: x}\n", "4:16",
     "functions.f.results.0.args: must be a list"),
    ("functions:\n  f: {module: nowhere.hsl}\n", "2:15",
     "functions.f.module: file not found: nowhere.hsl"),
    ("functions:\n  f: {function: g}\n", "2:7", "functions.f.function: only with module:"),
    ("functions:\n  f: {module: m.hsl, result: 1}\n", "2:22",
     "functions.f.result: a function implemented in HSL has its own parameters"),
    ("classes:\n  C: {methods: {get: {colour: 1}}}\n", "2:23",
     "classes.C.methods.get.colour: unknown key"),
    ("functions:\n  f: {}\nclasses:\n  f: {}\n", "4:3", "classes.f: f is already declared at "),
    ("functions: [a, b]\n", "1:12", "functions: must be a mapping"),
    ("funktions: {}\n", "1:1", "funktions: unknown key (known: functions, classes, delivery)"),
    ("", None, "a plugins file declares functions:, classes: and/or delivery:"),
    ("functions: {f: [}\n", "1:17", "not valid YAML"),
])
def test_errors_in_the_file_have_positions(tmp_path, text, where, message):
    (tmp_path / "m.hsl").write_text("function f() {}\n")
    path = tmp_path / "plugins.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        load_plugins([str(path)])
    prefix = f"{path}:{where}: " if where else f"{path}: "
    assert str(e.value).startswith(prefix), str(e.value)
    assert message in str(e.value), str(e.value)


def test_a_name_declared_in_two_files(tmp_path):
    (tmp_path / "a.yaml").write_text("functions:\n  f: {}\n")
    (tmp_path / "b.yaml").write_text("classes:\n  g: {}\n\nfunctions:\n  f: {result: 1}\n")
    with pytest.raises(ValueError) as e:
        load_plugins([str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")])
    assert str(e.value) == (f"{tmp_path / 'b.yaml'}:5:3: functions.f: f is already declared "
                            f"at {tmp_path / 'a.yaml'}:2:3")


def test_json_plugin_files(tmp_path):
    (tmp_path / "p.json").write_text('{"functions": {"f": {"params": ["a"], "result": 7}}}')
    assert run("echo f(1);", load_plugins([str(tmp_path / "p.json")])) == ["7"]


# ------------------------------------------------------------------ undeclared plugins

MISSING = """\
$a = http_bulk("https://example.com/");
$b = ip_list_lookup("blocklist", "192.0.2.1");
$c = http_bulk("again");
$d = builtin ScanRPD();
$e = LDAP::escape("x");
"""


def test_one_error_lists_every_undeclared_plugin(tmp_path):
    (tmp_path / "policy.hsl").write_text(MISSING)
    r = hsl("run", "policy.hsl", cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == b""
    first = r.stderr.decode().splitlines()[0]
    assert first == ("policy.hsl:1:6: error: undefined plugin functions: "
                     "http_bulk (policy.hsl:1:6), ip_list_lookup (policy.hsl:2:6), "
                     "ScanRPD (policy.hsl:4:6); undefined plugin class: LDAP "
                     "(policy.hsl:5:6); declare them with --plugins FILE")
    assert "Traceback" not in r.stderr.decode()
    # with a plugins file that lacks some: the same list, and where to add them
    (tmp_path / "p.yaml").write_text("functions:\n  http_bulk: {}\n  ScanRPD: {}\n")
    r = hsl("run", "--plugins", "p.yaml", "policy.hsl", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.decode().splitlines()[0] == (
        "policy.hsl:2:6: error: undefined plugin function: ip_list_lookup (policy.hsl:2:6); "
        "undefined plugin class: LDAP (policy.hsl:5:6); declare them in a --plugins file")


def test_names_in_included_and_imported_files_are_listed_too(tmp_path):
    (tmp_path / "inc.hsl").write_text('function f() { return http_bulk(1); }\n')
    (tmp_path / "mod.hsl").write_text('function g() { return ip_list_lookup(1, 2); }\n')
    (tmp_path / "main.hsl").write_text('import { g } from "mod.hsl";\ninclude "inc.hsl";\n'
                                       'echo f() . g() . str_lowr("A");\n')
    with pytest.raises(HSLSyntaxError) as e:
        compile_program((tmp_path / "main.hsl").read_text(), str(tmp_path / "main.hsl"))
    message = e.value.diagnostics[0].message
    for name, where in (("http_bulk", "inc.hsl:1:23"), ("ip_list_lookup", "mod.hsl:1:23"),
                        ("str_lowr", "main.hsl:3:18, did you mean str_lower?")):
        assert f"{name} (" in message and where in message, message


def test_one_undefined_function_without_plugins_keeps_its_error():
    with pytest.raises(HSLSyntaxError) as e:
        compile_program('echo 1;\necho str_lowr("A");\n', "x.hsl")
    assert str(e.value).splitlines()[0] == \
        "x.hsl:2:6: error: undefined function str_lowr() (did you mean str_lower?)"
    # ...also when it comes before another kind of error
    with pytest.raises(HSLSyntaxError) as e:
        compile_program('echo nosuch();\nbreak;\n', "x.hsl")
    assert str(e.value).splitlines()[0] == "x.hsl:1:6: error: undefined function nosuch()"


# ------------------------------------------------------------------ extras://

def test_extras_resolve_from_extras_dirs(tmp_path):
    extras = tmp_path / "vendor"
    (extras / "dmarc").mkdir(parents=True)
    (extras / "dmarc" / "main.hsl").write_text('function dmarc_check() { return "pkg"; }\n')
    (extras / "bimi.hsl").write_text('function bimi_check() { return "file"; }\n')
    (tmp_path / "policy.hsl").write_text(
        'import { dmarc_check } from "extras://dmarc";\n'
        'import { bimi_check } from "extras://bimi";\n'
        'echo dmarc_check() . " " . bimi_check();\n')
    r = hsl("run", "--extras", "vendor", "policy.hsl", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, b"pkg file\n"), r.stderr
    r = hsl("run", "policy.hsl", cwd=tmp_path)
    assert r.returncode == 1 and b'file not found: "extras://dmarc"' in r.stderr
    r = hsl("check", "policy.hsl", cwd=tmp_path)
    assert r.returncode == 1 and b"HSL104" in r.stdout
    r = hsl("check", "--extras", "vendor", "policy.hsl", cwd=tmp_path)
    assert r.returncode == 0, r.stdout
    # --extras is for extras:// only
    (tmp_path / "plain.hsl").write_text('include "bimi.hsl";\n')
    r = hsl("run", "--extras", "vendor", "plain.hsl", cwd=tmp_path)
    assert r.returncode == 1 and b'file not found: "bimi.hsl"' in r.stderr
    r = hsl("run", "--extras", "nowhere", "policy.hsl", cwd=tmp_path)
    assert (r.returncode, r.stderr) == (2, b"hsl: error: --extras nowhere: not a directory\n")


def test_declared_plugins_import_from_their_extras_module(plugin_dir):
    # halon-extras plugins (bounce-list, bounce-normalizer, ...) are imported from the
    # extras:// module they install: with no package on disk, the declared names serve
    (plugin_dir / "policy.hsl").write_text(
        'import { ip_list_lookup, LDAP } from "extras://ip-list";\n'
        'echo ip_list_lookup("blocklist", "192.0.2.1") . " " . '
        'LDAP("ldap://x")->bind("admin", "secret");\n')
    r = hsl("run", "--plugins", "plugins.yaml", "policy.hsl", cwd=plugin_dir)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"true true\n", b"")
    r = hsl("check", "--plugins", "plugins.yaml", "policy.hsl", cwd=plugin_dir)
    assert r.returncode == 0, r.stdout
    # a name that is not a declared plugin, or renamed, still needs the package
    for line in ('import { ip_list_lookup, nope } from "extras://ip-list";\n',
                 'import { ip_list_lookup as lookup } from "extras://ip-list";\n'):
        (plugin_dir / "policy.hsl").write_text(line)
        r = hsl("run", "--plugins", "plugins.yaml", "policy.hsl", cwd=plugin_dir)
        assert r.returncode == 1 and b'file not found: "extras://ip-list"' in r.stderr
    # a package on disk wins over the declaration
    (plugin_dir / "vendor").mkdir()
    (plugin_dir / "vendor" / "ip-list.hsl").write_text(
        'function ip_list_lookup($l, $ip) { return "package"; }\n')
    (plugin_dir / "policy.hsl").write_text(
        'import { ip_list_lookup } from "extras://ip-list";\n'
        'echo ip_list_lookup("blocklist", "192.0.2.1");\n')
    r = hsl("run", "--plugins", "plugins.yaml", "--extras", "vendor", "policy.hsl",
            cwd=plugin_dir)
    assert (r.returncode, r.stdout) == (0, b"package\n"), r.stderr


# ------------------------------------------------------------------ hsl check

BUILTIN_WRAPPERS = """\
function ScanRPD(...$args) {
    $score = builtin ScanRPD(["outbound" => false]);
    $x = $undefined_here + 1;
    return builtin ScanRPD(...$args);
}
echo ScanRPD();
"""


def test_check_builtin_plugin_name(tmp_path):
    (tmp_path / "eod.hsl").write_text(BUILTIN_WRAPPERS)
    r = hsl("check", "--format", "json", "eod.hsl", cwd=tmp_path)
    found = [(d["code"], d["line"]) for d in json.loads(r.stdout)]
    # both `builtin ScanRPD` are reported, and so is the rest of the function
    assert ("HSL101", 2) in found and ("HSL101", 4) in found and ("HSL103", 3) in found, \
        found
    r = hsl("check", "--allow-unknown-functions", "--no-warnings", "eod.hsl", cwd=tmp_path)
    assert b"HSL101" not in r.stdout, r.stdout
    (tmp_path / "p.yaml").write_text("functions:\n  ScanRPD: {params: ['[options]']}\n")
    r = hsl("check", "--plugins", "p.yaml", "--no-warnings", "eod.hsl", cwd=tmp_path)
    assert b"HSL101" not in r.stdout and b"HSL201" not in r.stdout, r.stdout
    (tmp_path / "two.hsl").write_text('echo builtin ScanRPD(1, 2);\n')
    r = hsl("check", "--plugins", "p.yaml", "two.hsl", cwd=tmp_path)
    assert r.returncode == 1 and b"[HSL201]" in r.stdout, r.stdout
    r = hsl("run", "--plugins", "p.yaml", "-e", "echo builtin ScanRPD() ?? \"none\";",
            cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, b"none\n"), r.stderr


def test_check_knows_declared_plugins(plugin_dir):
    (plugin_dir / "policy.hsl").write_text(
        'echo ip_list_lookup("blocklist", "192.0.2.1");\n'
        '$l = LDAP("ldap://x");\necho $l->search("dc=x");\necho $l->serch("dc=x");\n'
        'echo dlp_scan("x");\n$r = Redis("h");\necho $r->get("k");\n')
    r = hsl("check", "policy.hsl", cwd=plugin_dir)
    assert r.returncode == 1 and r.stdout.count(b"[HSL101]") == 4, r.stdout
    r = hsl("check", "--plugins", "plugins.yaml", "policy.hsl", cwd=plugin_dir)
    out = r.stdout.decode()
    assert r.returncode == 1 and "[HSL101]" not in out, out
    # the methods of a canned class are known as a builtin class's are
    assert "policy.hsl:4:6: error: LDAP has no method serch() [HSL105]" in out, out


def test_check_configuration_plugins_and_extras(plugin_dir):
    (plugin_dir / "vendor").mkdir()
    (plugin_dir / "vendor" / "tls.hsl").write_text('function tls_check() { return 1; }\n')
    (plugin_dir / "sub").mkdir()
    (plugin_dir / "sub" / "policy.hsl").write_text(
        'import { tls_check } from "extras://tls";\n'
        'echo tls_check() . http_bulk("x") . dlp("y");\n')
    (plugin_dir / ".hslcheck.toml").write_text(
        'plugins = ["plugins.yaml"]\nextras = ["vendor"]\nplugin-functions = ["dlp"]\n')
    r = hsl("check", "policy.hsl", cwd=plugin_dir / "sub")
    assert r.returncode == 0, r.stdout
    (plugin_dir / "sub" / "policy.hsl").write_text('echo http_bulk();\necho dlp(1, 2, 3);\n')
    r = hsl("check", "policy.hsl", cwd=plugin_dir / "sub")
    assert r.returncode == 1 and r.stdout.count(b"[HSL201]") == 1, r.stdout
    (plugin_dir / ".hslcheck.toml").write_text('plugins = ["missing.yaml"]\n')
    r = hsl("check", "policy.hsl", cwd=plugin_dir / "sub")
    assert r.returncode == 2 and b"cannot read plugins file" in r.stderr


def test_bad_plugins_file_is_a_usage_error_everywhere(tmp_path):
    (tmp_path / "p.yaml").write_text("functions:\n  f: {params: 1}\n")
    (tmp_path / "x.hsl").write_text("echo 1;\n")
    expected = b"hsl: error: p.yaml:2:15: functions.f.params: must be a list"
    for args in (["run"], ["run", "--hook", "helo"], ["check"], ["repl"]):
        r = hsl(*args, "--plugins", "p.yaml", "x.hsl", cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.startswith(expected), (args, r.stderr)
        assert b"Traceback" not in r.stderr
    r = hsl("serve", "--helo", "x.hsl", "--listen", "127.0.0.1:0", "--plugins", "p.yaml",
            cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith(expected), r.stderr


# ------------------------------------------------------------------ repl and serve

def test_repl_knows_plugins(plugin_dir):
    r = hsl("repl", "--plugins", "plugins.yaml", cwd=plugin_dir,
            stdin=b'ip_list_lookup("blocklist", "192.0.2.1")\n$r = Redis("h");\n'
                  b'$r->set("k", 5);\n$r->get("k")\ndlp_scan("z")["text"]\n')
    assert r.stdout.decode().split() == ["true", "true", "5", '"z"'], r.stdout + r.stderr


def test_repl_completes_plugin_names(plugin_dir):
    from hsl.repl.completion import HSLCompleter
    from hsl.repl.engine import Engine
    from prompt_toolkit.document import Document
    engine = Engine(lambda text: None)
    engine.plugins = load_plugins([str(plugin_dir / "plugins.yaml")])
    found = {c.text: c.display_meta_text for c in
             HSLCompleter(engine).get_completions(Document("ip_li"), None)}
    assert found == {"ip_list_lookup": "ip_list_lookup($list, $ip)"}
    found = [c.text for c in HSLCompleter(engine).get_completions(Document("LD"), None)]
    assert found == ["LDAP"]


HELO_HOOK = """\
$listed = ip_list_lookup("blocklist", $connection["remoteip"]);
if ($listed) Reject("listed");
$r = Redis("localhost");
Accept(["reason" => "clean " . http_bulk("x")["status"] . " " . dlp_scan("y")["text"]]);
"""


def test_run_helo_and_serve_answer_as_the_plugins_say(plugin_dir):
    (plugin_dir / "helo.hsl").write_text(HELO_HOOK)
    r = hsl("run", "--hook", "helo", "--plugins", "plugins.yaml", "helo.hsl", "--ehlo",
            "mx.example", "--remoteip", "192.0.2.1", cwd=plugin_dir)
    assert r.stdout.startswith(b'reject 554 "listed"'), r.stdout + r.stderr
    r = hsl("run", "--hook", "helo", "--plugins", "plugins.yaml", "helo.hsl", "--ehlo",
            "mx.example", "--remoteip", "127.0.0.1", cwd=plugin_dir)
    assert r.stdout.startswith(b'accept 250 "clean 200 y"'), r.stdout + r.stderr
    with Server(str(plugin_dir / "helo.hsl"), "--plugins", "plugins.yaml",
                cwd=str(plugin_dir)) as srv, Raw(srv.port) as c:
        c.reply()
        assert c.cmd(b"EHLO x.example\r\n")[0] == b"250-clean 200 y"


def test_serve_without_the_plugins_names_them(tmp_path):
    (tmp_path / "helo.hsl").write_text(HELO_HOOK)
    r = hsl("serve", "--helo", "helo.hsl", "--listen", "127.0.0.1:0", cwd=tmp_path)
    assert r.returncode != 0
    assert b"undefined plugin functions: ip_list_lookup (helo.hsl:1:11), " in r.stderr
    assert b"Traceback" not in r.stderr
