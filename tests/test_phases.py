"""The phase engine (hsl/hooks/phases.py, functions.py, engine.py): every SMTP phase's
variables, decisions and replies, script errors and implicit ends, hook functions as
ordinary builtins, EOD's queue() committed only by Accept(), `hsl check` and the REPL on the
same table, and `hsl run --hook PHASE`."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from hsl import HSLSyntaxError
from hsl.builtins import index
from hsl.builtins import FUNCTIONS, load_all
from hsl.check.checker import Options, check_source
from hsl.hooks.engine import HookSession, compile_hook, run_hook
from hsl.hooks.delivery import EntryView, run_postdelivery, run_predelivery
from hsl.hooks.phases import PHASES, QUEUE_PHASES, RUNNABLE, SMTP_PHASES
from hsl.queue import spool
from hsl.queue.spool import Copy
from hsl.runtime.values import to_python

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESSAGE = b"Subject: hello\r\nFrom: <a@client.example>\r\n\r\nHi there.\r\n"


def hook(phase, source, **session):
    return run_hook(compile_hook(phase, source, "hook.hsl"), HookSession(**session))


def queue_hook(phase, source, context=None):
    """One run of a queue hook on a queued copy (postdelivery: after a 451)."""
    program = compile_hook(phase, source, "hook.hsl")
    view = EntryView("t-1", 0, "s@example.org", "a@example.net", "mx", MESSAGE)
    if phase == "predelivery":
        return run_predelivery(program, view)
    return run_postdelivery(program, view, None, action="QUEUE", context=context)


def test_every_phase_is_runnable_smtp_and_queue():
    assert set(RUNNABLE) == set(PHASES) == set(SMTP_PHASES) | set(QUEUE_PHASES)
    assert QUEUE_PHASES == ("predelivery", "postdelivery")
    assert not set(SMTP_PHASES) & set(QUEUE_PHASES)


# ---------------------------------------------------------------------- the table

def test_every_runnable_phase_has_its_hook_functions_as_builtins():
    load_all()
    for phase in RUNNABLE:
        visible = index.functions_for(phase)
        for name, spec in PHASES[phase].functions.items():
            b = FUNCTIONS[name]
            assert phase in b.context and name in visible
            assert (b.min_args, b.max_args) == (spec.min_args, spec.max_args), name
    assert "Accept" not in index.functions_for(None)
    assert "Pass" not in index.functions_for("helo")
    assert "Reply" not in index.functions_for("mailfrom")


def test_the_checker_reads_the_same_table():
    # A hook function of another phase is HSL302 with the phases that have it.
    [d] = check_source("Pass();\n", "t.hsl", Options(hook="mailfrom"))
    assert d.code == "HSL302" and "disconnect, proxy" in d.hint
    assert check_source("Pass();\n", "t.hsl", Options(hook="proxy")) == []
    assert check_source("Reply(\"x\");\n", "t.hsl", Options(hook="auth")) == []
    # The queue phases are table entries too (checked, not run).
    assert check_source("Try();\n", "t.hsl", Options(hook="predelivery")) == []
    assert [d.code for d in check_source("Try();\n", "t.hsl",
                                         Options(hook="eod"))] == ["HSL302"]


# ---------------------------------------------------------------------- variables

def test_connect_sees_the_client_in_arguments_and_only_ids_in_connection():
    r = hook("connect", 'echo array_keys($arguments); echo array_keys($connection);'
             'echo length($transaction["id"]) > 0;', remoteptr="ptr.example")
    assert r.output == ['[0=>"remoteip",1=>"remoteport",2=>"remoteptr",3=>"localip",'
                        '4=>"localport",5=>"serverid"]', '[0=>"id",1=>"priority"]', "true"]


def test_helo_and_tls_and_auth_appear_in_connection_after_helo():
    src = 'echo $connection["helo"]["verb"] . " " . $connection["helo"]["host"];' \
          'echo $connection["tls"]["protocol"]; echo isset($connection["auth"]);'
    r = hook("mailfrom", src, verb="HELO", host="c.example", tls={"protocol": "TLSv1.2"},
             auth={"mechanism": "plain", "username": "u"})
    assert r.output == ["HELO c.example", "TLSv1.2", "true"]
    # The auth hook runs before authentication: no $connection["auth"] there.
    r = hook("auth", src, verb="HELO", host="c.example", tls={"protocol": "TLSv1.2"},
             auth={"mechanism": "plain", "username": "u"})
    assert r.output == ["HELO c.example", "TLSv1.2", "false"]
    # HELO itself is the command that sets it.
    r = hook("helo", 'echo isset($connection["helo"]);')
    assert r.output == ["false"]


def test_auth_arguments_plain_login_and_other_mechanisms():
    src = 'echo $arguments;'
    r = hook("auth", src, auth={"mechanism": "login", "username": "alice", "password": "pw"})
    assert r.output == ['["mechanism"=>"LOGIN","username"=>"alice","password"=>"pw"]']
    r = hook("auth", src, auth={"mechanism": "cram-md5", "state": 1, "response": "abc"})
    assert r.output == ['["mechanism"=>"CRAM-MD5","state"=>1,"response"=>"abc"]']
    r = hook("auth", src, auth={"mechanism": "X-OTHER"})
    assert r.output == ['["mechanism"=>"X-OTHER","state"=>0,"response"=>none]']


def test_mailfrom_arguments_lowercase_sender_address_and_params():
    r = hook("mailfrom", 'echo $arguments;', mail_from="<Alice@Example.ORG> size=2048 BODY=8BITMIME")
    assert r.output == ['["sender"=>"alice@example.org","address"=>["localpart"=>"alice",'
                        '"domain"=>"example.org"],"params"=>["SIZE"=>"2048","BODY"=>"8BITMIME"]]']
    r = hook("mailfrom", 'echo $arguments["sender"] == "";', mail_from="<>")
    assert r.output == ["true"]


def test_rcptto_checks_the_last_recipient_and_sees_the_earlier_ones():
    r = hook("rcptto", 'echo $arguments; echo $transaction["sender"];'
             'echo $transaction["recipients"];',
             mail_from="s@example.org", rcpt_to=["a@example.net NOTIFY=NEVER", "b@example.net"],
             transportid="inbound-mx")
    assert r.output == [
        '["recipient"=>"b@example.net","address"=>["localpart"=>"b","domain"=>"example.net"],'
        '"params"=>[],"transportid"=>"inbound-mx"]',
        "s@example.org",
        '[0=>["recipient"=>"a@example.net","address"=>["localpart"=>"a","domain"=>"example.net"],'
        '"params"=>["NOTIFY"=>"NEVER"],"transportid"=>"inbound-mx"]]']


def test_eod_sees_the_message_the_envelope_and_ts():
    r = hook("eod", 'echo $arguments["mail"]->getHeader("subject");'
             'echo is_object($arguments["mail"]); echo $transaction["ts"];'
             'echo length($transaction["recipients"]); echo $transaction["sender"];',
             message=MESSAGE, ts=1700000000, mail_from="s@example.org",
             rcpt_to=["a@example.net", "b@example.net"])
    assert r.output == ["hello", "true", "1700000000", "2", "s@example.org"]


def test_disconnect_and_proxy_arguments():
    r = hook("disconnect", 'echo $arguments; echo $transaction;', close="local")
    assert r.output == ['["close"=>"local"]', "[]"]
    r = hook("proxy", 'echo $arguments["command"]; echo isset($transaction["sender"]);',
             command="RSET")
    assert r.output == ["RSET", "false"]
    r = hook("proxy", 'echo $transaction["sender"];', command="DATA", mail_from="s@x.example")
    assert r.output == ["s@x.example"]


READ_ONLY = [(phase, stmt % name) for phase in RUNNABLE for name in PHASES[phase].readonly
             for stmt in ('$%s["x"] = 1;', '$%s = [];', 'unset($%s["id"]);')]


@pytest.mark.parametrize("phase,stmt", READ_ONLY)
def test_context_arrays_are_read_only_at_compile_time_in_every_phase(phase, stmt):
    with pytest.raises(HSLSyntaxError) as ei:
        compile_hook(phase, stmt)
    assert "read-only" in ei.value.message
    assert "HSL301" in [d.code for d in check_source(stmt, "t.hsl", Options(hook=phase))]


def test_each_phase_has_its_own_read_only_arrays():
    for phase in SMTP_PHASES:
        assert PHASES[phase].readonly == ("arguments", "connection", "transaction")
    assert PHASES["predelivery"].readonly == ("arguments", "message")
    assert PHASES["postdelivery"].readonly == ("arguments", "message", "context")
    # $connection is no variable of the queue: assigning it is a plain variable there.
    for phase in QUEUE_PHASES:
        assert check_source("$connection = [];", "t.hsl", Options(hook=phase)) == []


@pytest.mark.parametrize("phase", [p for p in RUNNABLE if "context" not in
                                   PHASES[p].readonly])
def test_context_is_writable_and_kept_in_every_phase(phase):
    src = '$context = ["n" => ($context["n"] ?? 0) + 1];'
    if phase in QUEUE_PHASES:
        d = queue_hook(phase, src)      # predelivery: a fresh $context for each pickup
        assert d.error is None and to_python(d.context) == {"n": 1}
        # ... which postdelivery of the same pickup reads (and cannot write)
        post = queue_hook("postdelivery", 'echo $context["n"];', context=d.context)
        assert post.output == ["1"] and post.error is None
        return
    r = hook(phase, src, context={"n": 1})
    assert to_python(r.context) == {"n": 2}


def _decided(phase, source):
    """(output, decision, error, where) of one run of any phase."""
    if phase in QUEUE_PHASES:
        d = queue_hook(phase, source)
        return d.output, d.action, d.error, d.where
    r = hook(phase, source)
    return r.output, r.decision, r.error, r.where


# ---------------------------------------------------------------------- decisions

# (phase, script, wire lines of the reply, decision, disconnect)
REPLIES = [
    ("connect", "Accept();", [b"220 mx.hsl.invalid ESMTP"], "accept", False),
    ("connect", 'Accept(["reason" => ["Hello", "there"]]);', [b"220-Hello", b"220 there"],
     "accept", False),
    ("connect", "Reject();", [b"521 Rejected"], "reject", True),
    ("connect", 'Defer("busy");', [b"421 busy"], "defer", True),
    ("helo", 'Reject("no");', [b"554 no"], "reject", False),
    ("auth", "Accept();", [b"235 2.7.0 Authentication successful"], "accept", False),
    ("auth", "Reject();", [b"535 5.7.8 Authentication failed"], "reject", False),
    ("auth", 'Defer("later", ["disconnect" => true]);', [b"454 4.7.0 later"], "defer", True),
    ("auth", 'Reply("Username:");', [b"334 VXNlcm5hbWU6"], "reply", False),
    ("mailfrom", "Accept();", [b"250 2.1.0 Sender OK"], "accept", False),
    ("mailfrom", "Reject();", [b"554 5.7.1 Rejected"], "reject", False),
    ("mailfrom", 'Defer("one\\ntwo");', [b"450-4.7.1 one", b"450 4.7.1 two"], "defer", False),
    ("rcptto", "Accept();", [b"250 2.1.5 Recipient OK"], "accept", False),
    ("rcptto", 'Reject("unknown user", ["reply_codes" => ["code" => 550, "enhanced" => [5, 1, 1]]]);',
     [b"550 5.1.1 unknown user"], "reject", False),
    ("rcptto", 'Defer(["a", "b"]);', [b"450-4.7.1 a", b"450 4.7.1 b"], "defer", False),
    ("eod", "Accept();", [b"250 2.0.0 Message accepted"], "accept", False),
    ("eod", 'Accept(["reason" => "queued as 1"]);', [b"250 2.0.0 queued as 1"], "accept", False),
    ("eod", "Reject();", [b"550 5.7.1 Rejected"], "reject", False),
    ("eod", "Defer();", [b"421 4.7.1 Deferred"], "defer", False),
    ("disconnect", "Pass();", [], "pass", False),
    ("proxy", "Pass();", [], "pass", False),
    ("proxy", "Reply();", [b"250 OK"], "reply", False),
    ("proxy", 'Reply("not here", ["disconnect" => true, "reply_codes" => ["code" => 502, '
              '"enhanced" => [5, 5, 1]]]);', [b"502 5.5.1 not here"], "reply", True),
]


@pytest.mark.parametrize("phase,source,wire,decision,disconnect", REPLIES)
def test_each_decision_and_its_reply(phase, source, wire, decision, disconnect):
    r = hook(phase, source)
    assert r.error is None, r.error
    assert (r.decision, r.wire_lines(), r.disconnect) == (decision, wire, disconnect)


# (phase, decision and reply of a script error, of an implicit end)
ENDINGS = [
    ("connect", ("defer", [b"421 Deferred"]), ("accept", [b"220 mx.hsl.invalid ESMTP"])),
    ("helo", ("defer", [b"450 Deferred"]), ("accept", None)),
    ("auth", ("defer", [b"454 4.7.0 Temporary authentication failure"]),
     ("reject", [b"535 5.7.8 Authentication failed"])),
    ("mailfrom", ("defer", [b"450 4.7.1 Deferred"]), ("accept", [b"250 2.1.0 Sender OK"])),
    ("rcptto", ("defer", [b"450 4.7.1 Deferred"]), ("accept", [b"250 2.1.5 Recipient OK"])),
    ("eod", ("defer", [b"421 4.7.1 Deferred"]), ("defer", [b"421 4.7.1 Deferred"])),
    ("disconnect", ("pass", []), ("pass", [])),
    ("proxy", ("reply", [b"421 Service not available"]), ("pass", [])),
]


@pytest.mark.parametrize("phase,error,end", ENDINGS)
def test_script_error_and_implicit_end(phase, error, end):
    r = hook(phase, 'echo "a";\n$x = [] < 1;\n')
    assert r.error.startswith("hook.hsl:2:") and r.output == ["a"]
    assert (r.decision, r.wire_lines()) == error
    r = hook(phase, "$x = 1;")
    assert r.error is None and r.where is None
    assert r.decision == end[0]
    if end[1] is not None:
        assert r.wire_lines() == end[1]


@pytest.mark.parametrize("phase,source,message", [
    ("mailfrom", 'Accept(["reply_codes" => ["code" => 550]]);', "reply code 550 is outside 200-299"),
    ("rcptto", 'Reject("x", ["reply_codes" => ["code" => 450]]);', "outside 500-599"),
    ("eod", 'Defer("x", ["reply_codes" => ["enhanced" => [5, 0, 0]]]);',
     "enhanced code class 5 does not match a 4xx reply"),
    ("auth", 'Reply("x", ["reply_codes" => ["code" => 250]]);', "outside 300-399"),
    ("proxy", 'Reply("x", ["reply_codes" => ["code" => 250, "enhanced" => [4, 0, 0]]]);',
     "does not match a 2xx reply"),
    ("connect", 'Accept(["remoteip" => "not an ip"]);', "must be an IP address"),
    ("mailfrom", 'Accept(["sender" => 1]);', "sender must be a string or an array"),
    ("proxy", 'Pass(["next" => "yes"]);', "'next' must be a boolean"),
    ("eod", 'Defer("x", ["reply_codes" => ["enhanced" => ["4", "2", "x"]]]);',
     "enhanced must be [class, subject, detail] numbers"),
    ("eod", 'Defer("x", ["reply_codes" => ["enhanced" => [4, 2]]]);',
     "enhanced must be [class, subject, detail] numbers"),
])
def test_bad_options_are_script_errors(phase, source, message):
    r = hook(phase, source)
    assert r.error is not None and message in r.error
    assert r.decision == PHASES[phase].on_error.lower()


def test_enhanced_code_parts_may_be_digit_strings():
    # tuck1s/halon-sink builds them with str_split("4.2.2", ".")
    r = hook("eod", 'Defer("mailbox full", ["reply_codes" => ["code" => 452, '
                    '"enhanced" => str_split("4.2.2", ".")]]);')
    assert r.error is None and r.wire_lines() == [b"452 4.2.2 mailbox full"]


def test_no_cr_lf_injection_in_any_phase():
    for phase in ("mailfrom", "rcptto", "eod", "auth"):
        r = hook(phase, 'Reject("bad\\r\\n250 OK");')
        assert all(b"\r" not in line and b"\n" not in line for line in r.wire_lines())
        assert len(r.wire_lines()) == 2 and r.wire_lines()[1].endswith(b" 250 OK")


def test_accept_options_become_facts_for_later_phases():
    r = hook("connect", 'Accept(["remoteip" => "203.0.113.9", "remoteptr" => "p.example"]);')
    assert (r.remoteip, r.remoteptr) == ("203.0.113.9", "p.example")
    r = hook("auth", 'Accept(["username" => "bob"]);', auth={"username": "alice"})
    assert r.username == "bob"
    r = hook("mailfrom", 'Accept(["sender" => ["localpart" => "x", "domain" => "y.example"]]);')
    assert r.sender == "x@y.example"
    r = hook("rcptto", 'Accept(["recipient" => "z@y.example", "transportid" => "lmtp"]);')
    assert (r.recipient, r.transportid) == ("z@y.example", "lmtp")
    r = hook("proxy", 'Pass(["command" => "RSET", "next" => true]);', command="NOOP")
    assert (r.command, r.next) == ("RSET", True)
    r = hook("mailfrom", "Reject();", mail_from="m@x.example")
    assert r.sender == "m@x.example"          # unchanged


@pytest.mark.parametrize("phase", RUNNABLE)
def test_a_user_function_overrides_a_hook_function_and_reaches_it_with_builtin(phase):
    name = next(iter(PHASES[phase].functions))
    src = (f'function {name}(...$a) {{ echo "mine"; builtin {name}(...$a); }}\n'
           f'{name}();\necho "not reached";\n')
    output, decision, error, where = _decided(phase, src)
    assert output == ["mine"] and error is None
    assert decision == name.lower() and where == ("hook.hsl", 1, 33 + len(name))


def test_decisions_cannot_be_caught_in_any_phase():
    for phase in RUNNABLE:
        for name, spec in PHASES[phase].functions.items():
            if not spec.terminates or spec.min_args:
                continue
            output, decision, error, _ = _decided(
                phase, f'try {{ {name}(); }} catch ($e) {{ echo "caught"; }}')
            assert (output, decision, error) == ([], name.lower(), None), (phase, name)


# ---------------------------------------------------------------------- eod queue()

QUEUE = '''
$m = $arguments["mail"];
$m->addHeader("X-First", "1");
$r = $m->queue($transaction["sender"], "a@example.net", "mx",
               ["metadata" => ["k" => "v"], "hold" => true, "jobid" => "j1", "delay" => 60,
                "quotas" => ["q1"]]);
echo $r["queue"];
$m->addHeader("X-Second", "2");
$m->queue(["localpart" => "s", "domain" => "x.example"], "b@example.net", "other");
'''


def test_queue_records_each_copy_as_it_was_and_accept_commits_them(tmp_path):
    r = hook("eod", QUEUE + "Accept();", message=MESSAGE, mail_from="s@example.org",
             transaction_id="t-1", ts=1700000000)
    assert r.output == ["0"] and r.decision == "accept"
    first, second = r.queued
    assert first.message == b"X-First: 1\r\n" + MESSAGE
    assert second.message == b"X-Second: 2\r\nX-First: 1\r\n" + MESSAGE
    assert first == Copy(first.message, "t-1", "s@example.org", "a@example.net", "mx", 0,
                         {"k": "v"}, True, "j1", 60.0, ("q1",), 1700000000.0)
    assert second == Copy(second.message, "t-1", "s@x.example", "b@example.net", "other", 1,
                          received=1700000000.0)
    [line1, line2] = r.to_json()["queued"]
    assert line1 == {"transaction": "t-1", "queue": 0, "sender": "s@example.org",
                     "recipient": "a@example.net", "transportid": "mx",
                     "options": {"metadata": {"k": "v"}, "hold": True, "jobid": "j1",
                                 "delay": 60.0, "quotas": ["q1"]},
                     "size": len(first.message)}
    assert line2["options"] == {}
    # What the spool stores, as it is.
    spool.write_copies(str(tmp_path), r.queued)
    listing = spool.read_spool(str(tmp_path))
    assert listing.problems == []
    a, b = listing.entries
    assert (a.read_message(), a.envelope["metadata"], a.envelope["ts"]) == \
        (first.message, {"k": "v"}, 1700000000.0)
    assert (b.envelope["recipient"], b.envelope["queue"]) == ("b@example.net", 1)


@pytest.mark.parametrize("ending", ['Reject();', 'Defer();', 'throw "boom";', '$x = 1;'])
def test_nothing_is_queued_without_accept(ending):
    r = hook("eod", QUEUE + ending, message=MESSAGE)
    assert r.output == ["0"] and r.queued == [] and r.decision != "accept"
    assert r.to_json()["queued"] == []


def test_queue_works_on_any_message_in_eod_and_checks_its_arguments():
    r = hook("eod", 'MailMessage::String("Subject: x\\r\\n\\r\\n")->queue("a@b", "c@d", "mx");'
             'Accept();')
    assert [c.message for c in r.queued] == [b"Subject: x\r\n\r\n"]
    for bad, message in [('queue(1, "c@d", "mx")', "argument 1 must be a string"),
                         ('queue("a@b", "c@d", "mx", ["hold" => 1])', "hold must be a boolean"),
                         ('queue("a@b", "c@d", "mx", ["delay" => -1])', "delay must be"),
                         ('queue("a@b", "c@d", "mx", ["metadata" => ["k" => 1]])',
                          "metadata must map strings to strings")]:
        r = hook("eod", f'$arguments["mail"]->{bad}; Accept();')
        assert r.error is not None and message in r.error and r.queued == []


@pytest.mark.parametrize("phase", [p for p in RUNNABLE if p != "eod"])
def test_queue_outside_eod_is_hsl302_at_compile_time(phase):
    src = textwrap.dedent('''\
        $m = MailMessage::String("Subject: x\\r\\n\\r\\n");
        $m->queue("a@example.org", "b@example.org", "mx");
        ''')
    assert [(d.code, d.line) for d in check_source(src, "t.hsl", Options(hook=phase))] == \
        [("HSL302", 2)]
    assert check_source(src, "t.hsl", Options(hook="eod")) == []
    error = _decided(phase, src)[2]
    assert "only available in the eod hook" in error


# ---------------------------------------------------------------------- the REPL

def test_repl_runs_any_phase():
    from hsl.repl.engine import Engine
    out = []
    e = Engine(out.append, out.append)
    assert e.execute(".hook mailfrom")
    assert out[-1] == "hook mailfrom: MAIL FROM:<alice@client.example> from 192.0.2.10"
    assert e.execute('$arguments["sender"]')
    assert out[-1] == '"alice@client.example"'
    assert not e.execute('$arguments = 1;')          # read-only here too
    assert e.execute('Accept(["sender" => "x@y.example"]);')
    assert out[-1] == 'accept 250 2.1.0 "Sender OK"\nsender: x@y.example'
    assert e.execute(".hook eod")
    assert e.execute('$arguments["mail"]->queue("a@b", "c@d", "mx"); Accept();')
    assert out[-1].startswith('accept 250 2.0.0 "Message accepted"\nqueued ')
    assert not e.execute(".hook nosuch")


# ---------------------------------------------------------------------- hsl run

def cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "hsl", "run", *args], capture_output=True,
                          env=env, timeout=60, cwd=cwd)


# (phase, script, options, text output, what the JSON has)
RUNS = [
    ("connect", 'echo $arguments["remoteip"]; Accept(["remoteptr" => "p.example"]);',
     ["--remoteip", "198.51.100.7"],
     ["198.51.100.7", 'accept 220 "mx.hsl.invalid ESMTP"', "remoteip: 198.51.100.7",
      "remoteptr: p.example"],
     {"decision": "accept", "code": 220, "remoteip": "198.51.100.7", "remoteptr": "p.example"}),
    ("auth", 'if ($arguments["password"] != "pw") Reject(); Accept();',
     ["--auth-mechanism", "login", "--auth-user", "alice", "--auth-password", "pw"],
     ['accept 235 2.7.0 "Authentication successful"', "username: alice"],
     {"decision": "accept", "enhanced": [2, 7, 0], "username": "alice"}),
    ("mailfrom", 'echo $arguments["params"]["SIZE"]; Accept();',
     ["--mail-from", "<Alice@Client.Example> SIZE=100"],
     ["100", 'accept 250 2.1.0 "Sender OK"', "sender: alice@client.example"],
     {"decision": "accept", "sender": "alice@client.example"}),
    ("rcptto", 'echo length($transaction["recipients"]); Reject("no such user");',
     ["--mail-from", "s@x.example", "--rcpt-to", "a@example.net", "--rcpt-to", "b@example.net"],
     ["1", 'reject 554 5.7.1 "no such user"'],
     {"decision": "reject", "code": 554, "reply": ["no such user"],
      "recipient": "b@example.net", "transportid": "mx"}),
    ("disconnect", 'echo $arguments["close"];', ["--close", "local"], ["local", "pass"],
     {"decision": "pass", "code": None, "reply": []}),
    ("proxy", 'Pass(["command" => str_upper($arguments["command"])]);',
     ["--command", "rset"], ["pass", "command: RSET"],
     {"decision": "pass", "command": "RSET", "next": False}),
    ("helo", 'Accept();', ["--helo", "c.example"], ['accept 250 "mx.hsl.invalid"'],
     {"decision": "accept", "host": "c.example", "extensions": []}),
]


@pytest.mark.parametrize("phase,source,options,text,facts", RUNS,
                         ids=[r[0] for r in RUNS])
def test_cli_runs_each_phase_text_and_json(tmp_path, phase, source, options, text, facts):
    f = tmp_path / "h.hsl"
    f.write_text(source)
    r = cli("--hook", phase, str(f), *options)
    assert (r.returncode, r.stderr) == (0, b"")
    assert r.stdout.decode().splitlines() == text
    r = cli("--hook", phase, str(f), *options, "--json")
    data = json.loads(r.stdout)
    assert {k: data[k] for k in facts} == facts
    assert data["output"] == text[:len(data["output"])] and data["error"] is None


def test_cli_eod_reports_the_committed_copies(tmp_path):
    f = tmp_path / "eod.hsl"
    f.write_text('foreach ($transaction["recipients"] as $r)\n'
                 '    $arguments["mail"]->queue($transaction["sender"], $r["recipient"], '
                 '$r["transportid"], ["hold" => true]);\n'
                 'if ($transaction["sender"] == "spam@x.example") Reject();\nAccept();\n')
    m = tmp_path / "m.eml"
    m.write_bytes(MESSAGE)
    common = ["--hook", "eod", str(f), "--message", str(m), "--rcpt-to", "a@example.net",
              "--rcpt-to", "b@example.net"]
    r = cli(*common, "--mail-from", "s@x.example")
    lines = r.stdout.decode().splitlines()
    assert lines[0] == 'accept 250 2.0.0 "Message accepted"' and len(lines) == 3
    assert lines[1].endswith(f": s@x.example -> a@example.net via mx ({len(MESSAGE)} bytes) "
                             "hold=true")
    r = cli(*common, "--mail-from", "s@x.example", "--json")
    queued = json.loads(r.stdout)["queued"]
    assert [(q["recipient"], q["options"], q["size"]) for q in queued] == \
        [("a@example.net", {"hold": True}, len(MESSAGE)),
         ("b@example.net", {"hold": True}, len(MESSAGE))]
    r = cli(*common, "--mail-from", "spam@x.example", "--json")
    data = json.loads(r.stdout)
    assert (data["decision"], data["queued"]) == ("reject", [])


def test_cli_session_file_with_the_new_settings(tmp_path):
    (tmp_path / "m.eml").write_bytes(MESSAGE)
    s = tmp_path / "s.yaml"
    s.write_text("mail_from: s@x.example\nrcpt_to: [a@example.net, b@example.net]\n"
                 "message: m.eml\nts: 1700000000\ntransportid: lmtp\n"
                 "auth: {mechanism: PLAIN, username: alice}\n")
    f = tmp_path / "eod.hsl"
    f.write_text('echo $transaction["ts"] . " " . $transaction["recipients"][1]["transportid"];'
                 'echo $connection["auth"]["username"];'
                 'echo $arguments["mail"]->getHeader("subject");')
    r = cli("--hook", "eod", str(f), "--session", str(s))
    assert r.stdout.decode().splitlines() == ["1700000000 lmtp", "alice", "hello",
                                              'defer 421 4.7.1 "Deferred"']
    # The command line wins over the file.
    r = cli("--hook", "rcptto", "-e", 'echo $arguments["recipient"];', "--session", str(s),
            "--rcpt-to", "c@example.net")
    assert r.stdout.decode().splitlines()[0] == "c@example.net"
    s.write_text("close: nowhere\n")
    r = cli("--hook", "disconnect", "-e", "Pass();", "--session", str(s))
    assert r.returncode == 2 and b"close must be local or remote" in r.stderr
    s.write_text("message: missing.eml\n")
    r = cli("--hook", "eod", "-e", "Accept();", "--session", str(s))
    assert r.returncode == 2 and b"cannot read message missing.eml" in r.stderr


def test_cli_trace_works_in_every_phase(tmp_path):
    f = tmp_path / "h.hsl"
    f.write_text('if ($arguments["sender"] == "") Reject();\n')
    r = cli("--hook", "mailfrom", str(f), "--mail-from", "<>", "--trace")
    err = r.stderr.decode()
    assert f'{f}:1:5: if ($arguments["sender"] == "") -> true' in err
    assert f"{f}:1:33: decided: reject" in err
    r = cli("--hook", "eod", str(f), "--trace")
    assert "no termination function was called: defer (the hook's default)" in \
        r.stderr.decode()
