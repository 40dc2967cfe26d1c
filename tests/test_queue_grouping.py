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
    clock = VirtualClock(2_000_000_000)
    table = policy.PolicyTable()
    queue = Queue.open(d, clock=clock.now)
    r = QueueRunner(queue, routing, QueueHooks(None, compile_hook("postdelivery", post,
                                                                   "post.hsl")),
                    clock=clock, concurrency=1, policies=table)
    seen = []
    r.on_outcome = lambda o: seen.append((clock.now() - 2_000_000_000, o.id, o.output))
    r.run()
    queue.close()
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
