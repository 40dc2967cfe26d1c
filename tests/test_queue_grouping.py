"""Queue groupings (smtpd-app.yaml queues.grouping, hsl/queue/grouping.py): read from a
project with errors that name the YAML node, the grouping of a copy by its MX host or
address, postdelivery's $arguments["grouping"] in a real run, and a suspension by
grouping."""
import os
import shutil

import pytest

from hsl.hooks.engine import compile_hook
from hsl.project import ProjectError, load_project
from hsl.queue import policy, spool
from hsl.queue.clock import VirtualClock
from hsl.queue.grouping import Grouping
from hsl.queue.runner import QueueHooks, QueueRunner
from hsl.queue.schedule import Routing
from hsl.queue.store import Queue
from test_builtins_smtpclient import Server
from test_mail_send import Inbox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TREE = os.path.join(ROOT, "tests", "data", "projects", "tree")
MESSAGE = b"From: a@example.com\r\nSubject: g\r\n\r\nhi\r\n"
T0 = 2_000_000_000
GROUPING = """
queues:
  grouping:
    default: recipientdomain
    groupings:
      - id: google
        remotemx: ["*.google.com", "mx.googlemail.com"]
      - id: local
        remoteip: ["127.0.0.0/8", "::1"]
"""


def test_grouping_of_a_copy():
    g = Grouping.from_config({"default": "recipientdomain", "groupings": [
        {"id": "google", "remotemx": ["*.google.com", "mx.googlemail.com"]},
        {"id": "local", "remoteip": ["127.0.0.0/8"]}]})
    assert g.of("gmail.com", "alt1.gmail-smtp-in.l.google.com", "192.0.2.1") == "&google"
    assert g.of("x.example", "MX.GoogleMail.com.", None) == "&google"
    assert g.of("x.example", "google.com", None) == "x.example"    # *. is below only
    assert g.of("x.example", "mx.x.example", "127.0.0.1") == "&local"
    assert g.of("x.example", None, None) == "x.example"             # the default
    assert Grouping.from_config({"default": "remotemx"}).of("d.example", "mx.d.example") \
        == "mx.d.example"
    assert Grouping().of("d.example", "mx.d.example", "127.0.0.1") is None


@pytest.fixture
def tree(tmp_path):
    target = tmp_path / "tree"
    shutil.copytree(TREE, target)
    return target


def test_a_project_gives_its_grouping(tree):
    app = tree / "src" / "config" / "smtpd-app.yaml"
    app.write_text(app.read_text() + GROUPING)
    project = load_project(str(tree))
    assert project.queue_grouping["default"] == "recipientdomain"
    assert [g["id"] for g in project.queue_grouping["groupings"]] == ["google", "local"]


@pytest.mark.parametrize("old, new, message", [
    ("default: recipientdomain", "default: sender",
     "queues.grouping.default: must be recipientdomain or remotemx"),
    ('remoteip: ["127.0.0.0/8", "::1"]', 'remoteip: ["127.0.0.0/8", "nowhere"]',
     "queues.grouping.groupings[1].remoteip[1]: must be an IP address or network"),
    ("- id: google", "- id: ''", "queues.grouping.groupings[0].id: must be a non-empty string"),
])
def test_a_wrong_grouping_names_its_node(tree, old, new, message):
    app = tree / "src" / "config" / "smtpd-app.yaml"
    app.write_text(app.read_text() + GROUPING.replace(old, new))
    with pytest.raises(ProjectError) as e:
        load_project(str(tree))
    assert str(e.value).startswith(str(app) + ":") and str(e.value).endswith(message)


@pytest.fixture
def sink():
    inbox = Inbox()
    server = Server(inbox, auth_require_tls=False)
    server.start()
    yield server, inbox
    server.stop()


def run_queue(d, routing, *, pre=None, post=None, concurrency=1, table=None, once=False):
    """Run the queue of spool `d` on a virtual clock from T0 with these hooks; (the
    outcomes, [(seconds after T0, entry id, echo output)] in the order they ended)."""
    clock = VirtualClock(T0)
    hooks = QueueHooks(pre and compile_hook("predelivery", pre, "pre.hsl"),
                       post and compile_hook("postdelivery", post, "post.hsl"))
    with Queue.open(d, clock=clock.now) as queue:
        r = QueueRunner(queue, routing, hooks, clock=clock, concurrency=concurrency,
                        policies=table if table is not None else policy.PolicyTable())
        seen = []
        r.on_outcome = lambda o: seen.append((clock.now() - T0, o.id, o.output))
        return r.run(once=once), seen


def test_postdelivery_gets_the_grouping_and_suspensions_match_it(sink, tmp_path):
    server, inbox = sink
    d = str(tmp_path / "sp")
    first, second = (spool.write_copies(d, [spool.Copy(MESSAGE, "tx", "a@example.com",
                                                       r, "mx")])[0]
                     for r in ("one@example.org", "two@example.org"))
    grouping = Grouping.from_config({"default": "recipientdomain",
                                     "groupings": [{"id": "local",
                                                    "remoteip": ["127.0.0.0/8"]}]})
    routing = Routing(None, {"mx": {"host": "127.0.0.1", "port": server.port}}, grouping)
    post = '''
        echo $arguments["grouping"];
        queue_suspend(["grouping" => $arguments["grouping"]], 600);
    '''
    _, seen = run_queue(d, routing, post=post)
    # the first is delivered to 127.0.0.1: grouping &local, which it then suspends, so
    # the second waits for the suspension's end
    assert seen == [(0, first, ["&local"]), (600, second, ["&local"])]
    assert len(inbox.messages) == 2


def test_hsl_queue_run_takes_the_projects_grouping(tree):
    import argparse
    from hsl.queue.cli import load_runner_config
    app = tree / "src" / "config" / "smtpd-app.yaml"
    app.write_text(app.read_text() + GROUPING)
    args = argparse.Namespace(predelivery=None, postdelivery=None, include=[], routes=[])
    routing, _ = load_runner_config(args, load_project(str(tree)), None)
    assert routing.grouping.of("gmail.com", "aspmx.l.google.com") == "&google"
    assert routing.grouping.of("example.net", "mx.example.net") == "example.net"


# ------------------------------------------------------------------ static policies

POLICY_YAML = """
policies:
  - fields: [grouping]
    conditions:
      - if:
          grouping: "&local"
        then:
          concurrency: 1
          rate: 2/100
          tag: slow
          properties:
            backoff-ttl: 3600
    default:
      concurrency: 5
"""


def test_a_project_gives_its_static_policies(tree):
    (tree / "src" / "config" / "smtpd-policy.yaml").write_text(POLICY_YAML)
    project = load_project(str(tree))
    assert project.queue_policies[0]["fields"] == ["grouping"]


@pytest.mark.parametrize("old, new, message", [
    ("fields: [grouping]", "fields: [sender]",
     ":3:14: policies[0].fields[0]: must be one of transportid, localip, remoteip, "
     "remotemx, recipientdomain, jobid, grouping, tenantid"),
    ("rate: 2/100", "rate: fast", ':9:17: policies[0].conditions[0].then.rate: must be '
                                  '"MESSAGES/SECONDS" (as "30/60")'),
    ("concurrency: 5", "concurrency: 0",
     ":14:20: policies[0].default.concurrency: must be a whole number of at least 1"),
    ('grouping: "&local"', 'remotemx: "x"',
     ":6:11: policies[0].conditions[0].if.remotemx: is not one of the policy's fields"),
])
def test_a_wrong_policy_names_its_node(tree, old, new, message):
    path = tree / "src" / "config" / "smtpd-policy.yaml"
    path.write_text(POLICY_YAML.replace(old, new))
    with pytest.raises(ProjectError) as e:
        load_project(str(tree))
    assert str(e.value) == str(path) + message


def test_static_policies_limit_pickups_and_reach_postdelivery(sink, tmp_path):
    # rate 2/100 for the &local grouping: two copies at once, the next 100 s later;
    # postdelivery sees the policy applied with its properties and tag, and the dynamic
    # policy a hook added on the same fields.
    import json
    server, inbox = sink
    d = str(tmp_path / "sp")
    ids = [spool.write_copies(d, [spool.Copy(MESSAGE, "tx", "a@example.com", r, "mx")])[0]
           for r in ("p1@example.org", "p2@example.org", "p3@example.org")]
    import yaml
    static = yaml.safe_load(POLICY_YAML)["policies"]
    grouping = Grouping.from_config({"groupings": [{"id": "local",
                                                    "remoteip": ["127.0.0.0/8"]}]})
    routing = Routing(None, {"mx": {"host": "127.0.0.1", "port": server.port}}, grouping,
                      static)
    post = '''
        queue_policy(["grouping"], ["grouping" => "&local"], ["concurrency" => 3, "tag" => "backoff"], 10000);
        echo json_encode($arguments["policy"]);
    '''
    _, ended = run_queue(d, routing, post=post, concurrency=3)
    seen = [(t, i, json.loads(out[0])) for t, i, out in ended]
    assert sorted(t for t, _, _ in seen) == [0, 0, 100]
    assert {i for _, i, _ in seen} == set(ids) and len(inbox.messages) == 3
    last = max(seen, key=lambda s: s[0])[2]
    assert last == {"tags": ["slow", "backoff"], "policies": [{
        "fields": ["grouping"], "properties": {"backoff-ttl": "3600"},
        "dynamic": [{"id": last["policies"][0]["dynamic"][0]["id"], "tag": "backoff"}],
        "tags": ["slow", "backoff"]}]}


def test_a_hook_puts_a_sub_queue_in_backoff_from_the_policy_properties(sink, tmp_path):
    # As halon-extras/backoff does (our own hook): the static policy's properties come as
    # text, and queue_policy() takes them as they are (a str_split() rate, a "3600" ttl);
    # the next attempt sees the dynamic policy on the same fields, with its tag.
    import json
    server, inbox = sink
    d = str(tmp_path / "sp")
    spool.write_copies(d, [spool.Copy(MESSAGE, "tx", "a@example.com", "later@example.org",
                                      "mx")])           # the sink says 450 to later*
    static = [{"fields": ["grouping"], "default": {"concurrency": 5, "properties": {
        "backoff-rate": "10/3600", "backoff-ttl": 3600, "backoff-concurrency": 2,
        "backoff-suspendable": True}}}]
    grouping = Grouping.from_config({"groupings": [{"id": "local",
                                                    "remoteip": ["127.0.0.0/8"]}]})
    routing = Routing(None, {"mx": {"host": "127.0.0.1", "port": server.port}}, grouping,
                      static)
    post = '''
        $p = $arguments["policy"]["policies"][0];
        echo json_encode([$p["properties"]["backoff-suspendable"], $p["dynamic"], $arguments["policy"]["tags"]]);
        if (!array_includes("backoff", $arguments["policy"]["tags"])) {
            $r = queue_policy($p["fields"], ["grouping" => $arguments["grouping"]],
                              ["rate" => str_split($p["properties"]["backoff-rate"], "/"),
                               "concurrency" => $p["properties"]["backoff-concurrency"],
                               "tag" => "backoff"],
                              $p["properties"]["backoff-ttl"]);
            echo $r ? "enabled" : "refused";
        }
        if ($arguments["retry"] >= 1) Delete();
    '''
    outcomes, _ = run_queue(d, routing, post=post)
    outputs = [o.output for o in outcomes]
    first, second = outputs
    assert json.loads(first[0]) == ["true", [], []] and first[1] == "enabled"
    props, dynamic, tags = json.loads(second[0])
    assert props == "true" and tags == ["backoff"]
    assert [d["tag"] for d in dynamic] == ["backoff"] and len(second) == 1


def test_tenantid_goes_from_queue_to_message_and_policy_facts(sink, tmp_path):
    # EOD's queue() takes tenantid (hsl run --hook eod --spool); the queue hooks see it as
    # $message["tenantid"], and a suspension by tenantid holds the copy.
    import subprocess
    import sys
    d = str(tmp_path / "sp")
    eod = tmp_path / "eod.hsl"
    eod.write_text('$arguments["mail"]->queue("a@example.com", "t@example.org", "mx", '
                   '["tenantid" => "acme"]);\nAccept();\n')
    r = subprocess.run([sys.executable, "-m", "hsl", "run", "--hook", "eod", "--spool", d,
                        str(eod)], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": ROOT}, timeout=60)
    assert r.returncode == 0, r.stderr
    (entry,) = spool.read_spool(d).entries
    assert entry.envelope["tenantid"] == "acme"
    server, inbox = sink
    pre = 'echo $message["tenantid"]; queue_suspend(["tenantid" => "acme"], 300); Try();'
    table = policy.PolicyTable()
    routing = Routing(None, {"mx": {"host": "127.0.0.1", "port": server.port}})
    (o,), _ = run_queue(d, routing, pre=pre, table=table, once=True)
    assert o.output == ["acme"] and o.action == "delivered"
    assert table.blocked({"tenantid": "acme"}) is not None
    assert table.blocked({"tenantid": "other"}) is None


def test_policy_conditions_match_hosts_as_groupings_do():
    table = policy.PolicyTable()
    table.load_static([{"fields": ["remotemx"], "conditions": [
        {"if": {"remotemx": ["*.example.com", "mx.other.test"]}, "then": {"concurrency": 1}}]}])
    (static,) = table._static
    assert static.limits({"remotemx": "MX1.Example.com"}).concurrency == 1
    assert static.limits({"remotemx": "mx.other.test"}).concurrency == 1
    assert static.limits({"remotemx": "example.com"}) is None     # below the domain only
    assert static.limits({}) is None
