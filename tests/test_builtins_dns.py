"""dns_query on real backends: the dnspython backend against a local DNS server
(tests/dns_server.py: every record type, errors, timeouts, TCP fallback), the table
backend, options and their errors, IDNA hosts, the execution deadline, speculative runs,
and the command line (--dns-server, --dns-table, session files' dns: key, hsl serve).
No test asks a real DNS server: each one configures its backend, and the fixture below
puts the process-wide backend back afterwards."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

import hsl
from hsl.net import dns as resolver
from hsl.builtins import FUNCTIONS, load_all
from hsl.errors import ScriptError
from hsl.runtime.execution import Preempted
from hsl.runtime.values import from_python, to_python

from dns_server import DnsServer

load_all()

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TLSA = "3 1 1 " + "0123456789abcdef" * 4

ZONE = {
    "example.test": {
        "a": ["192.0.2.1", "192.0.2.2"],
        "aaaa": ["2001:db8::1"],
        "mx": ["10 mx.example.test.", "20 mx2.example.test."],
        "txt": ['"v=spf1 ip4:192.0.2.0/24" " -all"', '"second record"'],
        "ns": ["ns1.example.test."],
        "soa": ["ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 "
                "1209600 300"],
        "caa": ['0 issue "letsencrypt.org"'],
    },
    "_sip._tcp.example.test": {"srv": ["10 60 5060 sip.example.test."]},
    "_25._tcp.mx.example.test": {"tlsa": [TLSA]},
    "1.2.0.192.in-addr.arpa": {"ptr": ["example.test."]},
    "alias.example.test": {"cname": ["example.test."]},
    "signed.test": {"a": ["192.0.2.7"], "ad": True},
    "gone.test": {"rcode": "NXDOMAIN", "ad": True},
    "xn--bcher-kva.test": {"a": ["192.0.2.9"]},
    "big.test": {"txt": ['"%s"' % (f"record {i:02} " * 16) for i in range(20)]},
    "servfail.test": "SERVFAIL",
    "refused.test": "REFUSED",
    "drop.test": "DROP",
}


@pytest.fixture(scope="module")
def server():
    with DnsServer(ZONE) as srv:
        yield srv


@pytest.fixture(autouse=True)
def restore_backend():
    saved = resolver.backend()
    yield
    resolver.configure(saved)


@pytest.fixture
def real(server):
    """The dnspython backend asking the test server."""
    resolver.configure(resolver.DnsPythonBackend([server.address]))
    return server


def dns_query(host, **options):
    """dns_query(host, options) as Python values (records sorted: DNS has no order)."""
    host = host.encode() if isinstance(host, str) else host
    args = (host, from_python(options)) if options else (host,)
    result = to_python(FUNCTIONS["dns_query"].fn(*args))
    if isinstance(result.get("result"), list):
        result["result"] = sorted(result["result"])
    return result


def run(source, **kw):
    out = []
    hsl.compile(source).run(output=out.append, **kw)
    return out


def ok(*records, dnssec=False):
    return {"result": sorted(records), "dnssec": dnssec}


def error(name, dnssec=False):
    return {"error": name, "dnssec": dnssec}


# ------------------------------------------------------- records, real backend

@pytest.mark.parametrize("host,rdtype,want", [
    ("example.test", None, ["192.0.2.1", "192.0.2.2"]),
    ("example.test", "a", ["192.0.2.1", "192.0.2.2"]),
    ("example.test", "aaaa", ["2001:db8::1"]),
    ("example.test", "mx", ["10 mx.example.test", "20 mx2.example.test"]),
    ("example.test", "txt", ["second record", "v=spf1 ip4:192.0.2.0/24 -all"]),
    ("example.test", "ns", ["ns1.example.test"]),
    ("example.test", "soa", ["ns1.example.test hostmaster.example.test 2024010101 7200 "
                             "3600 1209600 300"]),
    ("example.test", "caa", ['0 issue "letsencrypt.org"']),
    ("_sip._tcp.example.test", "srv", ["10 60 5060 sip.example.test"]),
    ("_25._tcp.mx.example.test", "tlsa", [TLSA]),
    ("1.2.0.192.in-addr.arpa", "ptr", ["example.test"]),
    ("alias.example.test", "cname", ["example.test"]),
    ("alias.example.test", "a", ["192.0.2.1", "192.0.2.2"]),      # CNAME followed
    ("EXAMPLE.Test.", "A", ["192.0.2.1", "192.0.2.2"]),           # any case, final dot
])
def test_record_types_through_dnspython(real, host, rdtype, want):
    options = {} if rdtype is None else {"type": rdtype}
    assert dns_query(host, **options) == ok(*want)


def test_nodata_is_an_empty_result(real):
    assert dns_query("example.test", type="srv") == ok()


def test_a_large_answer_comes_over_tcp(real):
    got = dns_query("big.test", type="txt")
    assert len(got["result"]) == 20 and got["result"][0].startswith("record 00 ")
    assert ("big.test", "txt", "udp") in real.queries
    assert ("big.test", "txt", "tcp") in real.queries


def test_dnssec_is_the_ad_flag(real):
    assert dns_query("signed.test") == ok("192.0.2.7", dnssec=True)
    assert dns_query("example.test")["dnssec"] is False
    assert dns_query("gone.test") == error("NXDOMAIN", dnssec=True)


@pytest.mark.parametrize("host,name", [
    ("nothing.test", "NXDOMAIN"),
    ("servfail.test", "SERVFAIL"),
    ("refused.test", "REFUSED"),
])
def test_errors(real, host, name):
    assert dns_query(host) == error(name)


def test_a_script_sees_the_corpus_shapes(real):
    out = run('''
        $r = dns_query("example.test", ["type" => "txt"]);
        foreach ($r["result"] as $txt)
            if ($txt[0:6] == "v=spf1") echo $txt;
        $r = dns_query("nothing.test");
        if (isset($r["error"]) and $r["error"] == "NXDOMAIN") echo "none";
        echo isset($r["result"]) ? "result" : "no result";
        echo dns_query("servfail.test");
    ''')
    assert out == ["v=spf1 ip4:192.0.2.0/24 -all", "none", "no result",
                   '["error"=>"SERVFAIL","dnssec"=>false]']


# ------------------------------------------------------------------- timeouts

def test_a_timeout_is_try_again(real):
    started = time.monotonic()
    assert dns_query("drop.test", timeout=0.3) == error("TRY_AGAIN")
    assert 0.25 < time.monotonic() - started < 2.0


def test_an_unreachable_server_is_try_again(real):
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                            # nothing listens there any more
    assert dns_query("example.test", servers=[f"127.0.0.1:{port}"],
                     timeout=0.3) == error("TRY_AGAIN")


def test_the_execution_deadline_stops_a_lookup(real):
    started = time.monotonic()
    with pytest.raises(hsl.HSLRuntimeError, match="execution time limit exceeded"):
        run('echo "before"; dns_query("drop.test", ["timeout" => 5]); echo "after";',
            max_time=0.3)
    assert time.monotonic() - started < 1.5


def test_a_timeout_shorter_than_the_time_left_is_a_result(real):
    out = run('echo dns_query("drop.test", ["timeout" => 0.2])["error"];', max_time=3)
    assert out == ["TRY_AGAIN"]


def test_no_lookup_once_the_time_is_up(real):
    from hsl.runtime import execution, ops as runtime
    expired = runtime.Execution(None, None, None, 0.01, 100)
    time.sleep(0.02)
    before = len(real.queries)
    execution._current.execution = expired
    try:
        with pytest.raises(runtime.LimitExceeded, match="execution time limit exceeded"):
            FUNCTIONS["dns_query"].fn(b"example.test")
    finally:
        execution._current.execution = None
    assert len(real.queries) == before


# -------------------------------------------------------------------- servers

def test_the_servers_option_replaces_the_configured_ones(server):
    resolver.configure(resolver.DnsPythonBackend(["127.0.0.1:1"]))   # nothing there
    assert dns_query("example.test", servers=[server.address]) == \
        ok("192.0.2.1", "192.0.2.2")
    # An empty list means the configured servers.
    assert dns_query("example.test", servers=[], timeout=0.3) == error("TRY_AGAIN")


def test_servers_are_tried_in_turn(server):
    with DnsServer({"example.test": "SERVFAIL"}) as failing:
        resolver.configure(resolver.DnsPythonBackend())
        assert dns_query("example.test", type="aaaa",
                         servers=[failing.address, server.address]) == ok("2001:db8::1")
        assert failing.queries == [("example.test", "aaaa", "udp")]
        assert ("example.test", "aaaa", "udp") in server.queries
        # When every server fails the same way, that is the error.
        assert dns_query("example.test", servers=[failing.address]) == error("SERVFAIL")


def test_an_ipv6_server(server):
    try:
        v6 = DnsServer({"example.test": {"a": ["192.0.2.61"]}}, host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with v6:
        assert v6.address.startswith("[::1]:")
        resolver.configure(resolver.DnsPythonBackend())     # the servers option's backend
        assert dns_query("example.test", servers=[v6.address]) == ok("192.0.2.61")
        resolver.configure(resolver.DnsPythonBackend([v6.address]))
        assert dns_query("example.test") == ok("192.0.2.61")


# -------------------------------------------------------------------- options

@pytest.mark.parametrize("options,message", [
    ({"type": "any"}, r"dns_query\(\) option 'type': unsupported record type 'any'"),
    ({"type": "spf"}, r"dns_query\(\) option 'type': unsupported record type"),
    ({"type": 1}, r"dns_query\(\) option 'type' must be a string"),
    ({"timeout": "5"}, r"dns_query\(\) option 'timeout' must be a number"),
    ({"timeout": 0}, r"dns_query\(\) option 'timeout' must be greater than 0"),
    ({"timeout": -1}, r"dns_query\(\) option 'timeout' must be greater than 0"),
    ({"servers": "192.0.2.53"}, r"dns_query\(\) option 'servers' must be an array"),
    ({"servers": [53]}, r"dns_query\(\) option 'servers' must hold strings"),
    ({"servers": ["dns.example"]}, r"dns_query\(\) option 'servers': not an IP address"),
    ({"servers": ["192.0.2.53:x"]}, r"dns_query\(\) option 'servers': "),
    ({"servers": ["192.0.2.53:70000"]}, r"dns_query\(\) option 'servers': bad port"),
    ({"servers": ["[2001:db8::1"]}, r"dns_query\(\) option 'servers': "),
    ({"extended_result": 1}, r"dns_query\(\) option 'extended_result' must be a boolean"),
])
def test_option_errors(options, message):
    resolver.configure(resolver.MockBackend({}))
    with pytest.raises(ScriptError, match=message):
        dns_query("example.test", **options)


def test_argument_types():
    with pytest.raises(ScriptError, match=r"dns_query\(\) expects a string as argument 1"):
        FUNCTIONS["dns_query"].fn(1.0)
    with pytest.raises(ScriptError, match=r"dns_query\(\) expects an array as argument 2"):
        FUNCTIONS["dns_query"].fn(b"x", b"txt")
    b = FUNCTIONS["dns_query"]
    assert (b.min_args, b.max_args) == (1, 2)


def test_option_errors_are_catchable_in_a_script():
    resolver.configure(resolver.MockBackend({}))
    out = run('try { dns_query("x", ["type" => "bogus"]); } '
              'catch ($e) { echo "caught"; }')
    assert out == ["caught"]


def test_unknown_options_and_extended_result_are_accepted(real):
    assert dns_query("example.test", extended_result=True, whatever="x") == \
        ok("192.0.2.1", "192.0.2.2")


def test_type_is_case_insensitive_and_none_options_are_absent():
    table = resolver.MockBackend({"example.test": {"mx": ["10 mx.example.test"]}})
    resolver.configure(table)
    assert dns_query("example.test", type="MX", timeout=None) == ok("10 mx.example.test")
    assert table.queries == [("example.test", "mx")]


# ----------------------------------------------------------------------- IDNA

def test_a_unicode_host_is_looked_up_in_its_idna_form(real):
    assert dns_query("bücher.test") == ok("192.0.2.9")
    assert ("xn--bcher-kva.test", "a", "udp") in real.queries


def test_hosts_that_are_no_dns_name_are_formerr(real):
    before = len(real.queries)
    assert dns_query("a☃b.test") == error("FORMERR")          # no IDNA form
    assert dns_query("") == error("FORMERR")
    assert dns_query("a..b.test") == error("FORMERR")
    assert dns_query("x" * 64 + ".test") == error("FORMERR")
    assert len(real.queries) == before


# -------------------------------------------------------------- table backend

def test_the_table_backend():
    table = resolver.MockBackend({
        "example.test": {"txt": ["v=DMARC1; p=reject"], "a": ["192.0.2.1"]},
        "xn--bcher-kva.test": {"a": ["192.0.2.9"]},
        "broken.test": "servfail",
    })
    resolver.configure(table)
    assert run('echo dns_query("Example.Test", ["type" => "txt"]);') == \
        ['["result"=>[0=>"v=DMARC1; p=reject"],"dnssec"=>false]']
    assert dns_query("example.test", type="mx") == ok()
    assert dns_query("nothing.test") == error("NXDOMAIN")
    assert dns_query("broken.test") == error("SERVFAIL")
    assert dns_query("bücher.test") == ok("192.0.2.9")
    assert table.queries[-1] == ("xn--bcher-kva.test", "a")


# -------------------------------------------------------------- speculative runs

def test_a_speculative_run_leaves_the_lookup_to_a_worker(real):
    before = len(real.queries)
    program = hsl.compile('echo dns_query("example.test");')
    with pytest.raises(Preempted) as ei:
        program.run(output=lambda s: None, max_time=0.5, speculative=True)
    assert ei.value.why == "dns"
    assert len(real.queries) == before               # nothing was asked
    out = []
    program.run(output=out.append, max_time=5)       # the worker's run
    assert len(out) == 1 and '"192.0.2.1"' in out[0]


def test_a_speculative_run_with_bad_options_fails_as_a_normal_run(real):
    program = hsl.compile('dns_query("example.test", ["type" => "bogus"]);')
    with pytest.raises(hsl.HSLRuntimeError, match="unsupported record type"):
        program.run(output=lambda s: None, max_time=0.5, speculative=True)


# ---------------------------------------------------------------- command line

def hsl_cmd(*args, stdin=None, cwd=None):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "hsl", *args], input=stdin, cwd=cwd,
                          capture_output=True, text=True, timeout=30, env=env)


def clean_error(proc, *fragments):
    """A usage error: exit code 2, one clean message, no Python traceback."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


SCRIPT = '''
echo dns_query("example.test", ["type" => "mx"]);
echo dns_query("nothing.test");
'''
TABLE_YAML = '''\
example.test:
  mx: ["10 mx.example.test"]
  a: 192.0.2.1             # one record may stand alone
broken.test: servfail
bücher.test: {a: [192.0.2.9]}
'''


def test_hsl_run_dns_server(server):
    with DnsServer({"example.test": "SERVFAIL"}) as failing:
        p = hsl_cmd("run", "--dns-server", failing.address, "--dns-server", server.address,
                    "-e", 'echo array_sort(function ($a, $b) { return $a < $b; }, '
                          'dns_query("example.test", ["type" => "mx"])["result"])[:];')
    assert p.returncode == 0, p.stderr
    assert p.stdout == '[0=>"10 mx.example.test",1=>"20 mx2.example.test"]\n'


def test_hsl_run_dns_table(tmp_path):
    (tmp_path / "dns.yaml").write_text(TABLE_YAML, encoding="utf-8")
    (tmp_path / "dns.json").write_text(json.dumps({"example.test": {"mx": ["5 json.test"]}}))
    p = hsl_cmd("run", "--dns-table", str(tmp_path / "dns.yaml"), "-e", SCRIPT +
                'echo dns_query("broken.test")["error"]; echo dns_query("bücher.test");'
                'echo dns_query("example.test")["result"];')
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        '["result"=>[0=>"10 mx.example.test"],"dnssec"=>false]',
        '["error"=>"NXDOMAIN","dnssec"=>false]',
        "SERVFAIL",
        '["result"=>[0=>"192.0.2.9"],"dnssec"=>false]',
        '[0=>"192.0.2.1"]']
    p = hsl_cmd("run", "--dns-table", str(tmp_path / "dns.json"), "-e", SCRIPT)
    assert p.stdout.splitlines()[0] == '["result"=>[0=>"5 json.test"],"dnssec"=>false]'


@pytest.mark.parametrize("name,text,fragments", [
    ("syntax.yaml", "example.test:\n  a: [192.0.2.1\n",
     ["syntax.yaml:3:1: not valid YAML"]),
    ("type.yaml", "example.test:\n  a: [192.0.2.1]\n  spf: [v=spf1]\n",
     ["type.yaml:3: example.test: 'spf' is not a record type"]),
    ("record.yaml", "a.test: {a: [192.0.2.1]}\nb.test:\n  txt:\n    - ok\n    - {x: 1}\n",
     ["record.yaml:5: b.test: txt: records must be strings"]),
    ("errname.yaml", "a.test: NOSUCH\n", ["errname.yaml:1: a.test: 'NOSUCH' is not an error"]),
    ("list.yaml", "- a.test\n", ["list.yaml: a DNS table must be a mapping"]),
    ("bad.json", '{"a.test": {"a": ["192.0.2.1"]},}',
     ["bad.json:1:33: not valid JSON"]),
])
def test_bad_dns_tables_are_clean_errors(tmp_path, name, text, fragments):
    (tmp_path / name).write_text(text)
    p = hsl_cmd("run", "--dns-table", name, "-e", "echo 1;", cwd=tmp_path)
    clean_error(p, *fragments)
    assert p.stdout == ""


def test_bad_dns_flags_are_clean_errors(tmp_path):
    clean_error(hsl_cmd("run", "--dns-table", "missing.yaml", "-e", "echo 1;", cwd=tmp_path),
                "cannot read DNS table missing.yaml")
    clean_error(hsl_cmd("run", "--dns-server", "dns.example", "-e", "echo 1;"),
                "--dns-server: not an IP address: 'dns.example'")
    clean_error(hsl_cmd("run", "--dns-server", "192.0.2.53:99999", "-e", "echo 1;"),
                "--dns-server: bad port")
    clean_error(hsl_cmd("run", "--dns-server", "192.0.2.53", "--dns-table", "t.yaml",
                        "-e", "echo 1;"), "not allowed with")


FCRDNS = '''
$ip = $connection["remoteip"];
$ptr = dns_query(inet_reverse($ip), ["type" => "ptr"]);
if (!isset($ptr["result"])) Reject("no PTR: " . $ptr["error"]);
$a = dns_query($ptr["result"][0]);
if (!array_includes($ip, $a["result"] ?? [])) Reject("forward mismatch");
Accept(["reason" => "hello " . $ptr["result"][0]]);
'''
SESSION = '''\
remoteip: 192.0.2.5
ehlo: client.example.test
dns:
  client.example.test: {a: [192.0.2.5]}
  5.2.0.192.in-addr.arpa: {ptr: [client.example.test]}
'''


def helo_run(tmp_path, *args):
    (tmp_path / "helo.hsl").write_text(FCRDNS)
    p = hsl_cmd("run", "--hook", "helo", "--json", *args, "helo.hsl", cwd=tmp_path)
    return p, (json.loads(p.stdout) if p.returncode == 0 else None)


def test_session_file_dns_table(tmp_path):
    (tmp_path / "s.yaml").write_text(SESSION)
    p, result = helo_run(tmp_path, "--session", "s.yaml")
    assert p.returncode == 0, p.stderr
    assert (result["decision"], result["reply"][0]) == ("accept", "hello client.example.test")
    p, result = helo_run(tmp_path, "--session", "s.yaml", "--remoteip", "192.0.2.6")
    assert result["reply"] == ["no PTR: NXDOMAIN"]
    # The command line replaces the session's table.
    (tmp_path / "other.yaml").write_text("6.2.0.192.in-addr.arpa: SERVFAIL\n")
    p, result = helo_run(tmp_path, "--session", "s.yaml", "--remoteip", "192.0.2.6",
                         "--dns-table", "other.yaml")
    assert result["reply"] == ["no PTR: SERVFAIL"]
    (tmp_path / "s.json").write_text(json.dumps({
        "remoteip": "192.0.2.5",
        "dns": {"5.2.0.192.in-addr.arpa": {"ptr": ["json.example.test"]},
                "json.example.test": {"a": ["192.0.2.5"]}}}))
    p, result = helo_run(tmp_path, "--session", "s.json")
    assert result["reply"][0] == "hello json.example.test"


def test_session_file_with_a_bad_dns_table(tmp_path):
    (tmp_path / "bad.yaml").write_text(SESSION + "  broken.test: [192.0.2.1]\n")
    p, _ = helo_run(tmp_path, "--session", "bad.yaml")
    clean_error(p, "bad.yaml:6: dns: broken.test: must be a mapping of record types")
    (tmp_path / "bad.json").write_text('{"dns": ["x"]}')
    p, _ = helo_run(tmp_path, "--session", "bad.json")
    clean_error(p, "bad.json: dns: a DNS table must be a mapping")


def test_repl_dns_table(tmp_path):
    (tmp_path / "dns.yaml").write_text(TABLE_YAML, encoding="utf-8")
    p = hsl_cmd("repl", "--dns-table", "dns.yaml", cwd=tmp_path,
                stdin='echo dns_query("example.test", ["type" => "mx"])["result"][0];\n')
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "10 mx.example.test"


def test_hsl_serve_with_a_dns_table(tmp_path):
    import smtplib
    from serve_helpers import Server
    (tmp_path / "helo.hsl").write_text('''
        $r = dns_query($arguments["host"], ["type" => "txt"]);
        if (isset($r["error"])) Reject("dns " . $r["error"]);
        Accept(["reason" => "txt " . array_join($r["result"], ",")]);
    ''')
    (tmp_path / "dns.yaml").write_text("known.test: {txt: [hello world]}\n"
                                       "broken.test: SERVFAIL\n")
    replies = []
    with Server(str(tmp_path / "helo.hsl"), "--dns-table", str(tmp_path / "dns.yaml")) as srv:
        for host in ("known.test", "broken.test", "nothing.test"):
            with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as s:
                code, text = s.ehlo(host)
                replies.append((code, text.decode().split("\n")[0]))
    assert replies == [(250, "txt hello world"), (554, "dns SERVFAIL"),
                       (554, "dns NXDOMAIN")]


def test_hsl_serve_bad_dns_table(tmp_path):
    (tmp_path / "helo.hsl").write_text("Accept();")
    (tmp_path / "dns.yaml").write_text("a.test: {bogus: [x]}\n")
    p = hsl_cmd("serve", "--helo", "helo.hsl", "--listen", "127.0.0.1:0",
                "--dns-table", "dns.yaml", cwd=tmp_path)
    clean_error(p, "dns.yaml:1: a.test: 'bogus' is not a record type")
