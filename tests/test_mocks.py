"""hsl test's mocks (hsl/testing/mocks.py, issue 16): every kind as scripts and hook runs
see it, a case's mocks over the file's, the state put back after a run, errors with the
position of the YAML node, and the network off unless a test allows it."""
from __future__ import annotations

import re
import textwrap
import threading
import time

import pytest
import yaml

import hsl
from hsl.hooks.engine import HookSession, compile_hook, run_hook
from hsl.inputs import Positions
from hsl.net import dns, offline
from hsl.runtime import sources, store
from hsl.testing.mocks import Located, MockError, Mocks, mocks_for

JAN_2026 = 1767225600.0                 # 2026-01-01T00:00:00Z


def mocks(text: str, case: str = "", base: str = ".") -> Mocks:
    """The Mocks of a test file's `mocks:` (YAML text) and a case's, with positions."""
    file_text = "mocks:\n" + textwrap.indent(textwrap.dedent(text), "  ")
    if case:
        file_text += "cases:\n  - mocks:\n" + textwrap.indent(textwrap.dedent(case), "      ")
    data = yaml.safe_load(file_text)
    pos = Positions("t.test.yaml", file_text)
    case_node = Located(data["cases"][0]["mocks"], pos, ("cases", 0, "mocks")) if case \
        else None
    return mocks_for(Located(data["mocks"], pos, ("mocks",)), case_node, base)


def run(source: str, m: Mocks = None) -> list:
    out: list = []
    program = hsl.compile(textwrap.dedent(source),
                          plugins=m.plugins if m is not None else None)
    if m is None:
        program.run(output=out.append)
    else:
        with m.installed():
            program.run(output=out.append)
    return out


def error(text: str, case: str = "") -> str:
    with pytest.raises(MockError) as e:
        mocks(text, case)
    return str(e.value)


@pytest.fixture(autouse=True)
def clean_memory():
    with store.MEMORY_LOCK:
        saved = dict(store.MEMORY)
        store.MEMORY.clear()
    yield
    with store.MEMORY_LOCK:
        store.MEMORY.clear()
        store.MEMORY.update(saved)


# ------------------------------------------------------------------ time

def test_a_frozen_clock_is_what_time_strftime_and_strptime_read():
    m = mocks('time: {frozen: "2026-01-01T00:00:00Z"}\n')
    assert run('''
        echo time(); echo time();
        echo strftime("%Y-%m-%d %H:%M", none, ["local" => false]);
        echo strftime("%Y-%m-%d", strptime("12:30", "%H:%M", ["local" => false]),
                      ["local" => false]);
    ''', m) == ["1767225600", "1767225600", "2026-01-01 00:00", "2026-01-01"]


def test_a_stepping_clock_moves_on_at_each_reading():
    m = mocks("time: {start: 1000, step: 2.5}\n")
    assert run("echo time(); echo time(); echo time();", m) == ["1000", "1002.5", "1005"]
    # each installation starts the clock again
    assert run("echo time();", m) == ["1000"]


@pytest.mark.parametrize("value", ["1767225600", "2026-01-01T00:00:00Z", "2026-01-01",
                                   "'2026-01-01T01:00:00+01:00'", "2026-01-01 00:00:00"])
def test_a_time_is_a_unix_time_or_an_iso_8601_date(value):
    assert mocks(f"time: {{frozen: {value}}}\n").clock == (JAN_2026, 0.0)


def test_the_mail_classes_date_and_dkim_timestamps_read_the_clock():
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    m = mocks("time: {frozen: 2026-01-01T00:00:00Z}\n")
    out = run(f'''
        $mime = MIME(); $mime->setBody("hi");
        $m = MailMessage::String($mime->toString());
        echo $m->getHeader("date");
        $m->signDKIM("s1", "example.com", "{pem.strip()}",
                     ["algorithm" => "ed25519-sha256", "timestamp" => true]);
        echo $m->toString();
    ''', m)
    assert out[0] == "Thu, 01 Jan 2026 00:00:00 +0000"
    assert re.search(r"\bt=1767225600;", out[1])


def test_transaction_ts_of_a_hook_reads_the_clock():
    m = mocks("time: {frozen: 1700000000}\n")
    program = compile_hook("eod", 'echo $transaction["ts"];')
    with m.installed():
        r = run_hook(program, HookSession(message=b"Subject: x\r\n\r\nbody\r\n"))
    assert r.output == ["1700000000"]


# ------------------------------------------------------------------ random

SOURCES = '''
    echo uuid(); echo random_number(1, 1000000); echo random_number();
    echo random_bytes(8); echo array_shuffle([1, 2, 3, 4, 5, 6, 7, 8]);
    echo array_random(["a", "b", "c", "d"]);
    $m = MIME(); $m->appendPart(MIME()); $m->appendPart(MIME()); echo $m->toString();
'''


def test_a_seed_makes_every_random_source_repeat():
    m = mocks("random: {seed: 42}\ntime: {frozen: 0}\n")     # (MIME writes a Date:)
    first, second = run(SOURCES, m), run(SOURCES, m)
    assert first == second
    assert run(SOURCES, mocks("random: {seed: 43}\ntime: {frozen: 0}\n")) != first
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                        r"[0-9a-f]{12}", first[0])


def test_the_mocks_win_over_a_fixed_mail_source():
    from hsl.mail import source
    source.fix(time=0.0, seed="fixed")
    try:
        fixed = source.boundary()
        with mocks("random: {seed: 1}\ntime: {frozen: 86400}\n").installed():
            assert source.now() == 86400.0
            mocked = source.boundary()
        with mocks("random: {seed: 1}\n").installed():
            assert source.now() == 0.0
            assert source.boundary() == mocked
        assert mocked != fixed
        assert source.now() == 0.0
        source.fix(time=0.0, seed="fixed")
        assert source.boundary() == fixed
    finally:
        source.fix()


def test_hook_ids_follow_the_seed():
    m = mocks("random: {seed: x}\n")
    program = compile_hook("helo", 'echo $connection["id"];')
    ids = []
    for _ in range(2):
        with m.installed():
            ids.append(run_hook(program, HookSession(host="a.example")).output)
    assert ids[0] == ids[1]


# ------------------------------------------------------------------ restore

def test_after_a_run_the_real_clock_random_and_dns_are_back():
    before = (sources.now, sources.rng, sources.random_bytes, sources.uuid4)
    backend = dns._backend
    m = mocks("time: {frozen: 0}\nrandom: {seed: 1}\ndns: {a.example: {a: [192.0.2.1]}}\n")
    assert run("echo time();", m) == ["0"]
    assert (sources.now, sources.rng, sources.random_bytes, sources.uuid4) == before
    assert dns._backend is backend
    assert (offline.http, offline.smtp, offline.denied) == (None, None, None)
    now = float(run("echo time();")[0])
    assert abs(now - time.time()) < 60
    assert run("echo uuid();") != run("echo uuid();")


def test_the_state_is_back_when_the_run_fails():
    m = mocks("time: {frozen: 0}\n")
    with pytest.raises(hsl.HSLRuntimeError):
        run("echo time(); echo 1 / [];", m)
    assert sources.now is time.time


def test_installations_take_turns_across_threads():
    a, b = mocks("time: {frozen: 1}\n"), mocks("time: {frozen: 2}\n")
    program = hsl.compile("echo time(); sleep(0.05); echo time();")
    seen = {}

    def case(name, m):
        out: list = []
        with m.installed():
            program.run(output=out.append)
        seen[name] = out
    threads = [threading.Thread(target=case, args=(n, m)) for n, m in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"a": ["1", "1"], "b": ["2", "2"]}


def test_a_hook_run_on_its_script_thread_sees_the_mocks():
    m = mocks('time: {frozen: 5}\nhttp: {"https://api.example/": "ok"}\n')
    program = compile_hook("helo", 'echo time(); echo http("https://api.example/");')
    with m.installed():
        r = run_hook(program, HookSession(host="a.example"))
    assert r.output == ["5", "ok"]


# ------------------------------------------------------------------ memory

def test_memory_is_seeded_before_the_run():
    m = mocks("memory:\n  count: 3\n  list: [a, b]\n  wrapped: {value: {x: 1}}\n")
    assert run('echo memory_fetch("count"); echo memory_fetch("list"); '
               'echo memory_fetch("wrapped"); echo memory_inc("count");', m) == \
        ["3", '[0=>"a",1=>"b"]', '["x"=>1]', "4"]


def test_memory_has_no_ttl():
    assert error("memory:\n  k: {value: 1, ttl: 60}\n") == \
        "t.test.yaml:3:19: mocks: memory: k: ttl: the memory store keeps a key until it is " \
        "deleted (memory_* have no TTL): give the value only"


# ------------------------------------------------------------------ dns

def test_dns_answers_from_the_table():
    m = mocks("dns:\n  example.com: {a: [192.0.2.1]}\n  bad.example: SERVFAIL\n")
    assert run('echo dns_query("example.com")["result"]; echo dns_query("bad.example");'
               'echo dns_query("other.example");', m) == \
        ['[0=>"192.0.2.1"]', '["error"=>"SERVFAIL","dnssec"=>false]',
         '["error"=>"NXDOMAIN","dnssec"=>false]']


def test_a_bad_dns_table_names_its_node():
    assert error("dns:\n  example.com: {a: [192.0.2.1]}\n  x.example: NOPE\n") == \
        "t.test.yaml:4:16: mocks: dns: x.example: 'NOPE' is not an error name (one of " \
        "NXDOMAIN, SERVFAIL, TRY_AGAIN, REFUSED, FORMERR, NOTIMP, YXDOMAIN); records go " \
        "under a type, e.g. {a: [192.0.2.1]}"


# ------------------------------------------------------------------ network

def test_the_network_is_off_by_default():
    m = mocks("time: {frozen: 0}\n")
    with pytest.raises(hsl.HSLRuntimeError) as e:
        run('dns_query("example.com");', m)
    assert "network disabled in tests (mocks: network: allow): DNS query example.com A" \
        in str(e.value)
    out = run('echo http("https://example.com/x");'
              'echo smtp_lookup_rcpt("mx.example.com", "", "a@example.com",'
              ' ["extended_result" => true])["error_message"];', m)
    assert out == ["none", "connection failed: mx.example.com: smtp mx.example.com port 25: "
                   "no mock answers it (network disabled in tests (mocks: network: allow))"]
    assert m.network_errors == [
        "http GET https://example.com/x: no mock answers it (network disabled in tests "
        "(mocks: network: allow))",
        "smtp mx.example.com port 25: no mock answers it (network disabled in tests "
        "(mocks: network: allow))"]


def test_a_connection_that_no_mock_catches_is_refused_too():
    from hsl.net import sockets
    from hsl.net.clock import Clock
    with mocks("time: {frozen: 0}\n").installed():
        with pytest.raises(offline.NetworkDisabled) as e:
            sockets.connect(("192.0.2.1", 25), Clock())
    assert str(e.value) == "network disabled in tests (mocks: network: allow): connect to " \
        "192.0.2.1 port 25"


def test_network_allow_lets_unanswered_requests_go_out(monkeypatch):
    m = mocks("network: allow\n")
    with m.installed():
        assert offline.denied is None
        assert m._http(b"GET", "https://example.com/", [], None, None) is None
        assert m._smtp("mx.example.com", 25) is None
    assert m.network_errors == []


def test_network_must_be_allow_or_deny():
    assert error("network: yes\n") == \
        "t.test.yaml:2:12: mocks: network: must be one of allow, deny"


# ------------------------------------------------------------------ http

def http_mocks() -> Mocks:
    return mocks('''
        http:
          - url: "https://api.example.com/v1/*"
            headers: {Content-Type: application/json, X-Count: 2}
            body: '{"ok": true}'
          - url: {regex: "https://api\\\\.example\\\\.com/post/[0-9]+"}
            method: POST
            status: 201
            body: created
          - url: https://api.example.com/down
            error: refused
          - url: https://api.example.com/slow
            delay: 0.3
            body: late
          - url: https://api.example.com
            body: root
          - url: http://old.example/
            status: 301
            headers: ["Location: https://api.example.com/v1/new"]
    ''')


def test_http_answers_by_url_glob_regex_and_method():
    m = http_mocks()
    out = run('''
        echo http("https://api.example.com/v1/check?ip=1", ["extended_result" => true]);
        echo http("https://api.example.com/post/12", [], [], ["a" => "b"]);
        echo http("https://api.example.com/post/12");
        echo http("https://api.example.com/down");
        echo http("https://api.example.com/");
        echo http("http://old.example/", ["redirects" => 1]);
    ''', m)
    assert out == ['["status"=>200,"content"=>"{\\"ok\\": true}","headers"=>[0=>["name"=>'
                   '"content-type","value"=>"application/json"],1=>["name"=>"x-count",'
                   '"value"=>"2"]]]', "created", "none", "none", "root", '{"ok": true}']
    assert [(r.method, r.url) for r in m.http_requests] == [
        ("GET", "https://api.example.com/v1/check?ip=1"),
        ("POST", "https://api.example.com/post/12"),
        ("GET", "https://api.example.com/post/12"),
        ("GET", "https://api.example.com/down"),
        ("GET", "https://api.example.com/"),
        ("GET", "http://old.example/"),
        ("GET", "https://api.example.com/v1/new")]
    post = m.http_requests[1]
    assert post.body == b"a=b"
    assert ("Content-Type", "application/x-www-form-urlencoded") in post.headers
    assert m.network_errors == ["http GET https://api.example.com/post/12: no mock answers "
                                "it (network disabled in tests (mocks: network: allow))"]


def test_background_requests_are_answered_before_the_mocks_go():
    m = http_mocks()
    assert run('echo http("https://api.example.com/slow", ["background" => true]);', m) \
        == ["true"]
    assert [r.url for r in m.http_requests] == ["https://api.example.com/slow"]


def test_an_http_delay_meets_the_request_timeout():
    m = http_mocks()
    started = time.monotonic()
    out = run('echo http("https://api.example.com/slow", ["timeout" => 0.1]);'
              'echo http("https://api.example.com/slow");', m)
    assert out == ["none", "late"]
    assert time.monotonic() - started >= 0.35


def test_the_mapping_form_and_body_file(tmp_path):
    (tmp_path / "answer.json").write_bytes(b'{"score": 5}')
    m = mocks('http:\n  "https://x.example/*": {body_file: answer.json}\n'
              '  "https://y.example/": {error: timeout}\n', base=str(tmp_path))
    assert run('echo http("https://x.example/a"); echo http("https://y.example/");', m) \
        == ['{"score": 5}', "none"]


@pytest.mark.parametrize("text, message", [
    ("http: [{body: x}]\n", "t.test.yaml:2:10: mocks: http: give the url: of the requests "
     "it answers"),
    ('http:\n  "https://x/": {status: 700}\n', "t.test.yaml:3:28: mocks: http: https://x/: "
     "status: must be an HTTP status (100-599)"),
    ('http:\n  "https://x/": {error: boom}\n', "t.test.yaml:3:27: mocks: http: https://x/: "
     "error: must be one of timeout, refused, tls, dns"),
    ('http:\n  "https://x/": {stauts: 200}\n', "t.test.yaml:3:20: mocks: http: https://x/: "
     "stauts: 'stauts' is not a key here (known: method, status, headers, body, "
     "body_file, delay, error)"),
    ('http:\n  - url: {regex: "("}\n', "t.test.yaml:3:20: mocks: http: url: regex: not a "
     "valid regular expression: missing ), unterminated subpattern at position 0"),
    ('http:\n  "https://x/": {body_file: nope.txt}\n', "t.test.yaml:3:31: mocks: http: "
     "https://x/: body_file: cannot read nope.txt: No such file or directory"),
])
def test_http_errors_name_the_node(text, message):
    assert error(text) == message


# ------------------------------------------------------------------ smtp

SMTP = '''
smtp:
  - recipient: "*@gone.example"
    code: 550
    enhanced: 5.1.1
    reason: no such user
  - username: alice
    code: 535
    enhanced: [5, 7, 8]
    reason: [bad credentials, try again]
  - host: busy.example
    at: connect
    code: 421
    reason: too busy
  - host: down.example
    error: refused
  - host: tls.example
    error: tls
  - host: picky.example
    at: eod
    code: 554
    reason: spam
'''


def test_smtp_lookups_get_the_canned_replies():
    m = mocks(SMTP)
    out = run('''
        function probe($host, $rcpt) {
            $r = smtp_lookup_rcpt($host, "s@example.org", $rcpt, ["extended_result" => true]);
            return [$r["result"], $r["error_code"], $r["error_message"], $r["state"]];
        }
        echo probe("mx.example", "a@gone.example");
        echo probe("mx.example", "a@here.example");
        echo probe("busy.example", "a@here.example");
        echo probe("down.example", "a@here.example");
        echo smtp_lookup_auth(["host" => "mx.example"], "alice", "pw");
        echo smtp_lookup_auth(["host" => "mx.example"], "bob", "pw");
        echo smtp_lookup_rcpt(["host" => "tls.example", "tls" => "require"], "", "a@b.example");
    ''', m)
    assert out == [
        '[0=>0,1=>550,2=>"5.1.1 no such user",3=>"RCPT"]',
        '[0=>1,1=>250,2=>"2.1.5 recipient ok",3=>"RCPT"]',
        '[0=>-1,1=>421,2=>"too busy",3=>"BANNER"]',
        '[0=>-1,1=>none,2=>"connection failed: down.example: Connection refused",'
        '3=>"CONNECT"]',
        "0", "1", "-1"]
    auth = [s for s in m.smtp_sessions if any(c.startswith("AUTH") for c in s.commands)]
    assert auth[0].commands[:3] == ["EHLO " + auth[0].commands[0][5:], "AUTH LOGIN",
                                    "YWxpY2U="]


def test_send_goes_to_the_stand_in_and_the_message_is_kept():
    m = mocks(SMTP)
    out = run('''
        $mime = MIME(); $mime->addHeader("Subject", "hi"); $mime->setBody(".dot line");
        $r = $mime->send("s@example.org", ["a@here.example", "b@gone.example"],
                         ["host" => "mx.example"]);
        echo [$r["result"]["code"], length($r["recipients"]), $r["recipients"][1]["code"]];
        $r = $mime->send("s@example.org", ["a@here.example"], ["host" => "picky.example"]);
        echo [$r["result"]["code"], $r["error"]["message"], $r["error"]["type"]];
    ''', m)
    assert out == ["[0=>250,1=>2,2=>550]", '[0=>554,1=>"spam",2=>"smtp"]']
    sent = m.smtp_sessions[0]
    assert sent.host == "mx.example"
    assert [c.split(":")[0] for c in sent.commands[1:]] == ["MAIL FROM", "RCPT TO",
                                                            "RCPT TO", "DATA", "QUIT"]
    assert sent.messages[0].endswith(b"\r\n\r\n.dot line\r\n")
    assert b"Subject: hi\r\n" in sent.messages[0]


def test_send_without_host_uses_the_recipient_domain():
    m = mocks("smtp:\n  - host: gone.example\n    error: dns\n")
    out = run('$r = MIME()->send("s@example.org", ["a@gone.example"], []);'
              'echo $r["error"]["type"]; echo $r["error"]["message"];', m)
    assert out == ["dns", "connection failed: gone.example: cannot resolve gone.example: "
                   "NXDOMAIN"]


@pytest.mark.parametrize("text, message", [
    ("smtp: {code: 550}\n", "t.test.yaml:2:9: mocks: smtp: must be a list of canned "
     "replies (code:, or error:)"),
    ("smtp:\n  - recipient: a@b\n", "t.test.yaml:3:7: mocks: smtp: give the reply's code: "
     "(or an error:)"),
    ("smtp:\n  - {code: 99}\n", "t.test.yaml:3:14: mocks: smtp: code: must be an SMTP "
     "reply code (200-599)"),
    ("smtp:\n  - {code: 550, enhanced: 5.1}\n", "t.test.yaml:3:29: mocks: smtp: enhanced: "
     "must be an enhanced code such as 5.1.1"),
    ("smtp:\n  - {recipient: a@b, error: refused}\n", "t.test.yaml:3:8: mocks: smtp: "
     "recipient: an error is the connection's (by host:), with no reply"),
    ("smtp:\n  - {username: a, at: rcpt, code: 535}\n", "t.test.yaml:3:8: mocks: smtp: "
     "username: a user name is matched at auth"),
    ("smtp:\n  - {code: 250, at: quit}\n", "t.test.yaml:3:23: mocks: smtp: at: must be one "
     "of connect, ehlo, auth, mail, rcpt, data, eod"),
])
def test_smtp_errors_name_the_node(text, message):
    assert error(text) == message


# ------------------------------------------------------------------ plugins

def test_inline_plugins_are_compiled_in(tmp_path):
    (tmp_path / "stub.hsl").write_text('function scan($x) { return "clean " . $x; }\n')
    m = mocks('''
        plugins:
          functions:
            ip_list_lookup:
              params: [list, ip]
              results:
                - {args: [block, 192.0.2.1], result: true}
              result: false
            dlp_scan: {module: stub.hsl, function: scan}
    ''', base=str(tmp_path))
    assert run('echo ip_list_lookup("block", "192.0.2.1"); echo ip_list_lookup("b", "x");'
               'echo dlp_scan("msg");', m) == ["true", "false", "clean msg"]


def test_a_plugins_file_may_be_named(tmp_path):
    (tmp_path / "plugins.yaml").write_text("functions:\n  tenant: {result: acme}\n")
    m = mocks("plugins: plugins.yaml\n", base=str(tmp_path))
    assert run("echo tenant();", m) == ["acme"]


def test_inline_plugin_errors_name_the_node():
    assert error("plugins:\n  functions:\n    strlen: {result: 1}\n") == \
        "t.test.yaml:4:7: functions.strlen: strlen is a builtin of hsl, not a plugin"


# ------------------------------------------------------------------ the nodes

def test_a_case_replaces_the_files_mocks_kind_by_kind():
    m = mocks("time: {frozen: 1}\nrandom: {seed: 1}\nmemory: {a: 1}\n",
              case="time: {frozen: 2}\nnetwork: allow\n")
    assert (m.clock, m.seed, m.network) == ((2.0, 0.0), 1, True)
    assert list(m.memory) == [b"a"]
    assert run("echo time();", m) == ["2"]


def test_an_error_in_a_case_names_the_case():
    assert error("time: {frozen: 1}\n", case="time: {frozen: soon}\n") == \
        "t.test.yaml:5:22: mocks: time: frozen: 'soon' is not a Unix time or an ISO 8601 " \
        "date and time"


@pytest.mark.parametrize("text, message", [
    ("clock: {frozen: 1}\n", "t.test.yaml:2:3: mocks: clock: 'clock' is not a mock kind "
     "(known: dns, http, smtp, time, random, memory, plugins, network)"),
    ("time: {frozen: 1, step: 2}\n", "t.test.yaml:2:9: mocks: time: frozen: or start: "
     "(with step:), not both"),
    ("time: {step: 2}\n", "t.test.yaml:2:9: mocks: time: give frozen: TIME, or start: TIME "
     "and step: SECONDS"),
    ("random: {seed: 1.5}\n", "t.test.yaml:2:18: mocks: random: seed: must be a number "
     "or a text"),
    ("memory: [a]\n", "t.test.yaml:2:11: mocks: memory: must be a mapping"),
])
def test_other_errors_name_the_node(text, message):
    assert error(text) == message


def test_plain_mappings_without_positions():
    m = mocks_for({"time": {"frozen": 3}}, None, ".")
    assert run("echo time();", m) == ["3"]
    with pytest.raises(MockError) as e:
        mocks_for({"time": {"frozen": "x"}}, None, ".")
    assert str(e.value).startswith("mocks: time: frozen: 'x' is not")
    assert mocks_for(None, None, ".").network is False
