"""The SMTP conversation shared by hsl serve and hsl run --session (hsl/hooks/conversation.py):
protocol rules, and the state each phase leaves for the next (hooks.md §1)."""
import base64

import pytest

from hsl.hooks.conversation import (TOO_BIG, Commit, Conversation, HookTable, Prompt,
                                    ReadMessage, RunHook, drive, parse_path_argument)
from hsl.hooks.engine import compile_hook, run_hook
from hsl.runtime import values as V


class Client:
    """Drives a Conversation as a client would: canned lines for prompts, a message for
    DATA, a list standing in for the spool."""

    def __init__(self, hooks=None, **options):
        programs = {phase: compile_hook(phase, src) for phase, src in (hooks or {}).items()}
        self.conv = Conversation(HookTable(programs), **options)
        self.lines = []                 # what the client answers to 334 prompts
        self.message = b"Subject: t\r\n\r\nbody\r\n"
        self.spool = []
        self.spool_error = None
        self.output = []
        self.prompts = []
        self.errors_expected = False

    def handle(self, event):
        if isinstance(event, RunHook):
            result = run_hook(event.program, event.session)
            self.output += result.output
            assert result.error is None or self.errors_expected, result.error
            return result
        if isinstance(event, Prompt):
            self.prompts.append(event.lines)
            return self.lines.pop(0) if self.lines else None
        if isinstance(event, ReadMessage):
            return self.message
        if isinstance(event, Commit):
            if self.spool_error:
                return self.spool_error
            first = len(self.spool)
            self.spool += event.copies
            return [f"id{first + i + 1}" for i in range(len(event.copies))]
        raise AssertionError(event)

    def __call__(self, method, *args):
        return drive(getattr(self.conv, method)(*args), self.handle)

    def code(self, method, *args):
        return self(method, *args).code


def greet(c, verb="EHLO"):
    assert c.code("connect") == 220
    assert c.code("hello", verb, "client.example") == 250


def test_a_session_without_hooks_queues_every_recipient():
    c = Client()
    greet(c)
    assert c.code("mail", "FROM:<Alice@Client.Example> SIZE=100") == 250
    assert c.code("rcpt", "TO:<bob@example.net>") == 250
    assert c.code("rcpt", "TO:<carol@example.net> NOTIFY=NEVER") == 250
    reply = c("data")
    assert reply.lines == [b"250 2.0.0 Message accepted"]
    assert reply.stored == ["id1", "id2"]
    assert [(x.sender, x.recipient, x.transportid) for x in c.spool] == [
        ("alice@client.example", "bob@example.net", "mx"),
        ("alice@client.example", "carol@example.net", "mx")]
    assert c.spool[0].message == c.message


@pytest.mark.parametrize("steps, expected", [
    ([("mail", "FROM:<a@b.example>")], 503),                    # before HELO
    ([("hello", "EHLO", "x"), ("rcpt", "TO:<a@b.example>")], 503),
    ([("hello", "EHLO", "x"), ("data",)], 503),
    ([("hello", "EHLO", "x"), ("mail", "FROM:<a@b.example>"), ("data",)], 503),
    ([("hello", "EHLO", "x"), ("mail", "FROM:<a@b.example>"),
      ("mail", "FROM:<a@b.example>")], 503),                    # nested MAIL
    ([("hello", "EHLO", "x"), ("mail", "FROM:a@b.example>")], 501),
    ([("hello", "EHLO", "x"), ("mail", "TO:<a@b.example>")], 501),
    ([("hello", "EHLO", "x"), ("mail", "FROM:<a@b.example> SIZE=99999999999")], 552),
    ([("hello", "EHLO", "x"), ("mail", "FROM:<a@b.example> SIZE=big")], 501),
    ([("hello", "EHLO", "x"), ("mail", "FROM:<>"), ("rcpt", "TO:<>")], 501),
    ([("hello", "EHLO", "")], 501),
    ([("rset", "x")], 501),
    ([("quit", "now")], 501),
])
def test_protocol_errors(steps, expected):
    c = Client()
    assert c.code("connect") == 220
    for step in steps:
        reply = c(*step)
    assert reply.code == expected


def test_null_sender_and_parameters():
    c = Client({"mailfrom": 'echo $arguments;'})
    greet(c)
    assert c.code("mail", "FROM:<> BODY=8BITMIME smtputf8") == 250
    assert c.output == ['["sender"=>"","address"=>["localpart"=>"","domain"=>""],'
                        '"params"=>["BODY"=>"8BITMIME","SMTPUTF8"=>""]]']


def test_context_and_connection_id_are_shared_by_every_phase():
    count = '$context["n"] = ($context["n"] ?? 0) + 1; echo $connection["id"];'
    c = Client({p: count for p in ("connect", "helo", "mailfrom", "rcptto", "eod")}
               | {"disconnect": 'echo $context["n"];'})
    greet(c)
    c("mail", "FROM:<a@b.example>")
    c("rcpt", "TO:<c@d.example>")
    c("data")
    c("quit")
    c("disconnect")
    ids = set(c.output[:-1])
    assert len(ids) == 1 and c.conv.base.connection_id in ids
    assert c.output[-1] == "5"


def test_connection_gains_helo_tls_auth():
    show = 'echo json_encode(["helo" => $connection["helo"] ?? none, ' \
           '"tls" => isset($connection["tls"]), "auth" => $connection["auth"] ?? none]);'
    c = Client({"mailfrom": show, "auth": 'Accept(["username" => "Alice-Renamed"]);'},
               starttls=True)
    greet(c)
    c.conv.tls_started({"protocol": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256"})
    assert c.code("mail", "FROM:<a@b.example>") == 503          # HELO forgotten (RFC 3207)
    greet_again = c("hello", "EHLO", "again.example")
    assert b"250-AUTH PLAIN LOGIN" in greet_again.lines
    assert b"250-STARTTLS" not in greet_again.lines
    plain = base64.b64encode(b"\0alice\0secret").decode()
    assert c("auth_command", "PLAIN " + plain).lines == [b"235 2.7.0 Authentication successful"]
    assert c.code("mail", "FROM:<a@b.example>") == 250
    assert c.output == ['{"helo":{"verb":"EHLO","host":"again.example"},"tls":true,'
                        '"auth":{"mechanism":"PLAIN","username":"Alice-Renamed"}}']


def test_transaction_ids_change_after_rset_and_data():
    c = Client({"mailfrom": 'echo $transaction["id"];', "eod": 'echo $transaction["id"]; '
                'Accept();'})
    greet(c)
    c("mail", "FROM:<a@b.example>")
    c("rset")
    c("mail", "FROM:<a@b.example>")
    c("rcpt", "TO:<c@d.example>")
    c("data")
    c("mail", "FROM:<a@b.example>")
    first, second, at_eod, third = c.output
    assert first != second and second == at_eod and third != second


def test_rejected_recipients_are_not_in_the_transaction_and_rewrites_apply():
    c = Client({
        "mailfrom": 'Accept(["sender" => ["localpart" => "bounce", "domain" => "b.example"]]);',
        "rcptto": 'if ($arguments["recipient"] == "no@d.example") Reject("unknown user");'
                  'if ($arguments["recipient"] == "alias@d.example") '
                  'Accept(["recipient" => "Real@D.example", "transportid" => "lmtp"]);',
        "eod": 'foreach ($transaction["recipients"] as $r) echo $r["recipient"]." ".'
               '$r["transportid"]; echo $transaction["sender"]; Accept();'})
    greet(c)
    c("mail", "FROM:<a@b.example>")
    assert c("rcpt", "TO:<no@d.example>").lines == [b"554 5.7.1 unknown user"]
    assert c.code("rcpt", "TO:<alias@d.example>") == 250
    assert c.code("rcpt", "TO:<x@d.example>") == 250
    assert c.code("data") == 250
    assert c.output == ["real@d.example lmtp", "x@d.example mx", "bounce@b.example"]
    assert c.spool == []          # an eod hook queues only what it queue()s


def test_per_domain_rcptto_hooks():
    programs = {"rcptto": compile_hook("rcptto", 'Reject("default hook");')}
    domains = {"Example.COM": compile_hook("rcptto", 'Accept(["reason" => "domain hook"]);')}
    conv = Conversation(HookTable(programs, domains))
    handle = lambda e: run_hook(e.program, e.session)
    drive(conv.connect(), handle)
    drive(conv.hello("EHLO", "x"), handle)
    drive(conv.mail("FROM:<a@b.example>"), handle)
    assert drive(conv.rcpt("TO:<u@example.com>"), handle).lines == [b"250 2.1.5 domain hook"]
    assert drive(conv.rcpt("TO:<u@example.org>"), handle).lines == [b"554 5.7.1 default hook"]


def test_connect_rewrites_remote_address_for_later_phases():
    c = Client({"connect": 'Accept(["remoteip" => "198.51.100.7", "remoteptr" => "p.example"]);',
                "helo": 'echo $connection["remoteip"]." ".$connection["remoteptr"];'})
    greet(c)
    assert c.output == ["198.51.100.7 p.example"]


def test_connect_refusal_closes():
    c = Client({"connect": 'Reject("go away");'})
    reply = c("connect")
    assert reply.lines == [b"521 go away"] and reply.disconnect


def test_eod_reject_queues_nothing_and_spool_failure_is_451():
    c = Client({"eod": '$arguments["mail"]->queue("", "x@y.example", "mx"); Reject();'})
    greet(c)
    c("mail", "FROM:<a@b.example>")
    c("rcpt", "TO:<c@d.example>")
    assert c.code("data") == 550 and c.spool == []
    c2 = Client()
    c2.spool_error = "disk full"
    greet(c2)
    c2("mail", "FROM:<a@b.example>")
    c2("rcpt", "TO:<c@d.example>")
    reply = c2("data")
    assert reply.code == 451 and reply.stored == [] and reply.result.queued == []


def test_too_big_and_client_gone_during_data():
    c = Client()
    greet(c)
    c("mail", "FROM:<a@b.example>")
    c("rcpt", "TO:<c@d.example>")
    c.message = TOO_BIG
    assert c("data").lines == [b"552 5.3.4 Error: message too big"]
    assert c.code("rcpt", "TO:<c@d.example>") == 503           # the transaction is over
    c("mail", "FROM:<a@b.example>")
    c("rcpt", "TO:<c@d.example>")
    c.message = None
    reply = c("data")
    assert reply.lines == [] and reply.disconnect and c.spool == []


AUTH_SHOW = 'echo json_encode($arguments); '


@pytest.mark.parametrize("arg, lines, expected", [
    ("PLAIN " + base64.b64encode(b"\0alice\0pw").decode(), [], ("alice", "pw")),
    ("PLAIN", [base64.b64encode(b"authz\0bob\0pw2").decode()], ("bob", "pw2")),
    ("LOGIN", [base64.b64encode(b"carol").decode(), base64.b64encode(b"pw3").decode()],
     ("carol", "pw3")),
    ("LOGIN " + base64.b64encode(b"dave").decode(), [base64.b64encode(b"pw4").decode()],
     ("dave", "pw4")),
])
def test_auth_plain_and_login_are_decoded(arg, lines, expected):
    c = Client({"auth": AUTH_SHOW + 'Accept();'}, auth_plaintext=True)
    greet(c)
    c.lines = list(lines)
    assert c.code("auth_command", arg) == 235
    assert c.output == ['{"mechanism":"%s","username":"%s","password":"%s"}'
                        % (arg.split()[0], *expected)]
    assert c.conv.auth == {"mechanism": arg.split()[0], "username": expected[0]}
    assert c.code("auth_command", arg) == 503                   # already authenticated


def test_auth_custom_mechanism_with_challenges():
    hook = AUTH_SHOW + '''
        if ($arguments["state"] == 0) Reply("first challenge");
        if ($arguments["state"] == 1 and $arguments["response"] == "answer") Accept(["username" => "eve"]);
        Reject();'''
    c = Client({"auth": hook}, auth_plaintext=True)
    greet(c)
    c.lines = [base64.b64encode(b"answer").decode()]
    assert c.code("auth_command", "X-TOKEN") == 235
    assert c.prompts == [[b"334 " + base64.b64encode(b"first challenge")]]
    assert c.output == ['{"mechanism":"X-TOKEN","state":0,"response":null}',
                        '{"mechanism":"X-TOKEN","state":1,"response":"answer"}']
    assert c.conv.auth["username"] == "eve"


@pytest.mark.parametrize("setup, arg, lines, expected", [
    ({}, "PLAIN", [], 538),                                     # no TLS, no plaintext
    ({"auth_plaintext": True}, "PLAIN", ["*"], 501),
    ({"auth_plaintext": True}, "PLAIN", ["!!notbase64"], 501),
    ({"auth_plaintext": True}, "PLAIN " + base64.b64encode(b"nozeros").decode(), [], 501),
    ({"auth_plaintext": True}, "", [], 501),
    ({"auth_plaintext": True}, "PLAIN", [], None),              # the client went away
])
def test_auth_errors(setup, arg, lines, expected):
    c = Client({"auth": 'Accept();'}, **setup)
    greet(c)
    c.lines = list(lines)
    reply = c("auth_command", arg)
    assert reply.code == expected
    assert c.conv.auth is None


def test_auth_without_hook_is_not_offered():
    c = Client(auth_plaintext=True)
    assert c.code("connect") == 220
    ehlo = c("hello", "EHLO", "x")
    assert not any(b"AUTH" in ln for ln in ehlo.lines)
    assert c.code("auth_command", "PLAIN") == 502
    assert b"AUTH" not in c("help").lines[0]


def test_auth_before_tls_is_not_announced():
    c = Client({"auth": 'Accept();'}, starttls=True)
    assert c.code("connect") == 220
    ehlo = c("hello", "EHLO", "x")
    assert b"250-STARTTLS" in ehlo.lines and not any(b"AUTH" in ln for ln in ehlo.lines)


def test_disconnect_gets_the_last_reply_and_runs_once():
    c = Client({"mailfrom": 'Reject("no thanks", ["reply_codes" => ["code" => 550, '
                            '"enhanced" => [5, 7, 26]]]);',
                "disconnect": 'echo json_encode($arguments);'})
    greet(c)
    c("mail", "FROM:<a@b.example>")
    c("disconnect", "local", {"reason": "timeout", "type": "socket"})
    c("disconnect")
    assert c.output == ['{"close":"local","reply":{"code":550,"enhanced":[5,7,26],'
                        '"reason":["no thanks"],"state":"MAIL"},'
                        '"error":{"reason":"timeout","type":"socket"}}']


def test_proxy_passes_rewrites_or_replies():
    c = Client({"proxy": 'if ($arguments["command"] == "VRFY x") Reply("nope", '
                         '["reply_codes" => ["code" => 502]]); Pass(["command" => "NOOP"]);'})
    assert drive(c.conv.proxy("HELP"), c.handle) == ("pass", "NOOP")
    reply = drive(c.conv.proxy("VRFY x"), c.handle)
    assert reply.lines == [b"502 nope"]


def test_script_errors_keep_context_and_get_the_servers_temporary_failure():
    c = Client({"helo": '$context["x"] = 1; Accept();',
                "mailfrom": 'echo "before"; $context["x"] = 2; $y = "a"; $y->foo();',
                "connect": '$y = "a"; $y->foo();'})
    c.errors_expected = True
    assert c("connect").lines == [b"421 Temporary local problem, try again later"]
    c("hello", "EHLO", "client.example")
    reply = c("mail", "FROM:<a@b.example>")
    assert reply.lines == [b"451 4.3.0 Temporary local problem, try again later"]
    assert reply.result.decision == "defer" and reply.result.output == ["before"]
    assert reply.result.error.startswith("<string>:1:")
    assert V.to_python(c.conv.context) == {"x": 1}
    assert c.code("rcpt", "TO:<c@d.example>") == 503         # no transaction


@pytest.mark.parametrize("arg, verb, expected", [
    ("FROM:<A@B.example>", "MAIL", ("a@b.example", {})),
    ("from: <a@b.example> size=10 BODY=8BITMIME", "MAIL", ("a@b.example",
                                                          {"SIZE": "10", "BODY": "8BITMIME"})),
    ("FROM:<>", "MAIL", ("", {})),
    ("TO:<c@d.example> NOTIFY=SUCCESS,FAILURE", "RCPT", ("c@d.example",
                                                       {"NOTIFY": "SUCCESS,FAILURE"})),
    ("TO:c@d.example", "RCPT", ("c@d.example", {})),
    ("TO:<c@d.example", "RCPT", None),
    ("FROM:<a@b> =x", "MAIL", None),
    ("TO:", "RCPT", None),
    (None, "MAIL", None),
])
def test_parse_path_argument(arg, verb, expected):
    assert parse_path_argument(arg, verb) == expected


def test_no_helo_in_connection_before_an_accepted_helo():
    show = 'echo isset($connection["helo"]) ? $connection["helo"]["host"] : "no helo";'
    c = Client({"helo": 'if ($arguments["host"] == "bad") Reject();', "disconnect": show})
    assert c.code("connect") == 220
    assert c.code("hello", "EHLO", "bad") == 554
    c("disconnect")
    c2 = Client({"disconnect": show})
    greet(c2)
    c2("disconnect")
    assert c.output + c2.output == ["no helo", "client.example"]
