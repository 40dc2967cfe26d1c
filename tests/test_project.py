"""Halon projects (issue 15, hooks.md §4 and §5): a project tree and a packed
smtpd-app.yaml read by hsl/project.py, `hsl check --project/--config`, `hsl run
--project/--config --hook PHASE`, and the import rules of a file area (glob data imports,
a directory's main.hsl, bare paths from the area's root).  The projects under
tests/data/projects/ are hsl's own (docs/projects.md)."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from hsl import cli
from hsl.errors import HSLSyntaxError
from hsl.hooks.engine import compile_hook
from hsl.program import compile_program
from hsl.project import ProjectError, load_packed, load_project

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "projects")
TREE = os.path.join(DATA, "tree")
PACKED = os.path.join(DATA, "packed", "smtpd-app.yaml")


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tree(tmp_path):
    """A copy of the tree, to break."""
    target = tmp_path / "tree"
    shutil.copytree(TREE, target)
    return target


def app_yaml(tree) -> str:
    return str(tree / "src" / "config" / "smtpd-app.yaml")


def replace_in(path, old: str, new: str) -> None:
    with open(path) as f:
        text = f.read()
    assert old in text
    with open(path, "w") as f:
        f.write(text.replace(old, new))


# ------------------------------------------------------------------ the tree

def test_tree_servers_listeners_hooks_and_settings():
    p = load_project(TREE)
    assert not p.packed and p.files_dir == os.path.join(TREE, "src", "files")
    assert p.include_paths == [p.files_dir]
    inbound, submission = p.servers["inbound"], p.servers["submission"]
    assert inbound.listeners == [("127.0.0.1", 2525), (None, 2526)]
    assert submission.listeners == [("::1", 2587)]
    assert sorted(inbound.hooks) == ["connect", "eod", "helo", "mailfrom", "rcptto"]
    eod = inbound.hooks["eod"]
    assert (eod.phase, eod.id) == ("eod", "inbound")
    assert eod.path == eod.filename == os.path.join(TREE, "src", "hooks", "eod", "inbound.hsl")
    assert eod.source.startswith('import { seen_before } from "modules/greylist";')
    assert eod.where.startswith(os.path.join(TREE, "src", "config", "smtpd-app.yaml") + ":")
    assert inbound.hooks["rcptto"].id == "default"
    assert {d: h.id for d, h in inbound.rcptto_domains.items()} == {"example.org": "vip"}
    assert (inbound.maxsize, inbound.transport) == (1048576, "mx")
    assert (submission.maxsize, submission.transport) == (None, "relay")
    assert list(submission.hooks) == ["eod"] and submission.hooks["eod"].id == "relay"
    assert list(p.queue_hooks) == ["predelivery"]
    assert p.queue_hooks["predelivery"].source == "Try();\n"
    group = p.transportgroups[0]
    assert group["retry"]["intervals"][1] == {"interval": 600, "notify": True}
    assert group["dsn"]["transport"] == "mx"
    assert p.warnings == []
    assert len(p.hooks()) == 8      # 7 SMTP hooks of two servers, and predelivery


def test_tree_file_area_files():
    p = load_project(TREE)
    rel = [os.path.relpath(f, p.files_dir) for f in p.area_files()]
    assert rel == ["lib/decide.hsl", "lib/dots.hsl", "lib/names.hsl",
                   "modules/greylist/known.hsl", "modules/greylist/main.hsl"]
    assert [os.path.basename(f) for f in p.area_files(".key")] == \
        ["example.com.key", "example.org.key"]


def test_tree_hooks_compile_with_the_file_area():
    """Include and import rules of a file area (hooks.md §4): a directory's main.hsl,
    "./x.hsl" relative to the including file, a bare path from the area's root (also
    from a subfolder of it), file:// paths, a glob data import keyed by file id."""
    p = load_project(TREE)
    for hook in p.hooks():
        if hook.phase in ("predelivery", "postdelivery"):
            continue
        program = compile_hook(hook.phase, hook.source, hook.path,
                               include_paths=p.include_paths)
        assert program.files[0] == hook.path
    eod = p.servers["inbound"].hooks["eod"]
    program = compile_hook("eod", eod.source, eod.path, include_paths=p.include_paths)
    names = {os.path.relpath(f, p.files_dir) for f in program.files[1:]}
    assert {"modules/greylist/main.hsl", "modules/greylist/known.hsl",
            "lib/decide.hsl"} <= names
    helo = p.servers["inbound"].hooks["helo"]
    assert helo.source.startswith('include "file://lib/names.hsl";')
    program = compile_hook("helo", helo.source, helo.path, include_paths=p.include_paths)
    assert {os.path.relpath(f, p.files_dir) for f in program.files[1:]} == \
        {"lib/names.hsl", "lib/dots.hsl"}


def test_unused_hook_file_is_a_warning(tree):
    (tree / "src" / "hooks" / "eod" / "old.hsl").write_text("Accept();\n")
    p = load_project(str(tree))
    assert p.warnings == [f"{tree}/src/hooks/eod/old.hsl: no server's phases.eod.hook "
                          "names old: not used"]


def test_server_without_listeners_is_a_warning(tree):
    os.remove(tree / "src" / "config" / "smtpd.yaml")
    p = load_project(str(tree))
    assert p.startup is None and p.servers["inbound"].listeners == []
    assert p.warnings == [f"{app_yaml(tree)}: server inbound has no listeners (no smtpd.yaml)",
                          f"{app_yaml(tree)}: server submission has no listeners "
                          "(no smtpd.yaml)"]


# ------------------------------------------------------------------ errors

def test_missing_configuration(tmp_path):
    with pytest.raises(ProjectError) as e:
        load_project(str(tmp_path))
    assert str(e.value) == (f"{tmp_path}/src/config/smtpd-app.yaml: no such file (a Halon "
                            "project tree has src/config/smtpd-app.yaml)")
    with pytest.raises(ProjectError, match="not a directory"):
        load_project(str(tmp_path / "nothing"))
    with pytest.raises(ProjectError, match="no such file"):
        load_packed(str(tmp_path / "smtpd-app.yaml"))


def test_hook_id_without_its_file_names_the_yaml_node(tree):
    os.remove(tree / "src" / "hooks" / "rcptto" / "vip.hsl")
    with pytest.raises(ProjectError) as e:
        load_project(str(tree))
    assert str(e.value) == (
        f"{app_yaml(tree)}:16:26: servers[0].phases.rcptto.hook.recipientdomains."
        f"Example.ORG: the rcptto hook vip: {tree}/src/hooks/rcptto/vip.hsl does not exist")


@pytest.mark.parametrize("old, new, message", [
    ("    transport: mx\n    phases:", "    transport: [mx]\n    phases:",
     ":4:16: servers[0].transport: must be a non-empty string"),
    ("      helo:\n", "      ehlo:\n",
     ":8:7: servers[0].phases.ehlo: unknown phase (known: connect, proxy, helo, auth, "
     "mailfrom, rcptto, eod, disconnect, data)"),
    ("maxsize: 1048576", "maxsize: lots",
     ":18:18: servers[0].phases.data.maxsize: must be a whole number of at least 0"),
    ("        hook: relay", "        hook: ../relay",
     ":26:15: servers[1].phases.eod.hook: must be a hook id (a file name, without / or \\)"),
    ("  - id: submission\n", "  - id: inbound\n",
     ":22:9: servers[1].id: server inbound is already defined"),
    ("      count: 5", "      count: -5",
     ":30:14: transportgroups[0].retry.count: must be a whole number of at least 0"),
    ("        - interval: 60\n", "        - notify: true\n",
     ":32:11: transportgroups[0].retry.intervals[0]: needs an interval (seconds)"),
    ("          port: 2525", "          port: 99999",
     ":42:17: transportgroups[0].transports[1].connection.port: must be a whole number "
     "of at least 1 and at most 65535"),
    ("servers:\n", "servers: 3\nold_servers:\n", ":2:10: servers: must be a list"),
])
def test_wrong_values_name_file_line_and_what(tree, old, new, message):
    replace_in(app_yaml(tree), old, new)
    with pytest.raises(ProjectError) as e:
        load_project(str(tree))
    assert str(e.value) == app_yaml(tree) + message


def test_listener_errors_name_smtpd_yaml(tree):
    startup = str(tree / "src" / "config" / "smtpd.yaml")
    replace_in(startup, "port: 2587", "port: submission")
    with pytest.raises(ProjectError) as e:
        load_project(str(tree))
    assert str(e.value) == (f"{startup}:12:15: servers[1].listeners[0].port: must be a "
                            "whole number of at least 1 and at most 65535")


def test_yaml_that_does_not_parse(tree):
    replace_in(app_yaml(tree), "servers:\n", "servers: [\n")
    with pytest.raises(ProjectError, match=r"smtpd-app\.yaml:\d+:\d+: not valid YAML"):
        load_project(str(tree))
    with open(app_yaml(tree), "w") as f:
        f.write("- just\n- a list\n")
    with pytest.raises(ProjectError, match=r"smtpd-app\.yaml:1:1: must be a mapping"):
        load_project(str(tree))


# ------------------------------------------------------------------ packed

def test_packed_configuration():
    with load_packed(PACKED) as p:
        private = os.path.dirname(os.path.dirname(p.files_dir))
        assert p.packed and p.startup == os.path.join(DATA, "packed", "smtpd.yaml")
        assert oct(os.stat(private).st_mode & 0o777) == "0o700"
        server = p.servers["default"]
        assert server.listeners == [("127.0.0.1", 2525)]
        assert (server.maxsize, server.transport) == (4096, "mx")
        eod = server.hooks["eod"]
        assert eod.filename == f"{PACKED}#hooks/eod/main.hsl"
        assert eod.source.startswith('import $logo from "txt!images/logo.bin";')
        assert eod.path.startswith(private) and open(eod.path).read() == eod.source
        assert p.shown(eod.path) == eod.filename
        assert p.queue_hooks["predelivery"].source == "Try();\n"
        # a binary file, byte for byte
        with open(os.path.join(p.files_dir, "images", "logo.bin"), "rb") as f:
            assert f.read() == b"\x89PNG\r\n\x1a\n\x00\xff\xfe"
        assert [p.shown(f) for f in p.area_files()] == [f"{PACKED}#files/lists/blocked.hsl"]
        program = compile_hook("eod", eod.source, eod.path, include_paths=p.include_paths)
        assert program is not None
    assert not os.path.exists(private)      # close() removed the private directory


@pytest.mark.parametrize("old, new, message", [
    ("      data: iVBORw0KGgoA//4=", "      data: not*base64",
     ":51:13: scripting.files[3].data: binary: true, but not valid base64"),
    ("    - id: images/logo.bin", "    - id: ../logo.bin",
     ":50:11: scripting.files[3].id: a file id is a relative path without '.' or '..' "
     "parts"),
    ("        hook: main", "        hook: other",
     ":10:15: servers[0].phases.eod.hook: the eod hook other is not in scripting.hooks.eod"),
    ("    predelivery: |", "    delivery: |",
     ":36:5: scripting.hooks.delivery: unknown hook phase (known: connect, proxy, helo, "
     "auth, mailfrom, rcptto, eod, disconnect, predelivery, postdelivery)"),
])
def test_packed_errors(tmp_path, old, new, message):
    target = tmp_path / "smtpd-app.yaml"
    shutil.copy(PACKED, target)
    replace_in(target, old, new)
    with pytest.raises(ProjectError) as e:
        load_packed(str(target))
    assert str(e.value) == str(target) + message
    assert not [d for d in os.listdir(tmp_path) if d != "smtpd-app.yaml"]


def test_tree_with_scripting_in_its_configuration(tree):
    """A tree's smtpd-app.yaml may carry scripts itself (Halon's tooling keeps them):
    files that src/files lacks, and hooks that src/hooks lacks."""
    with open(app_yaml(tree), "a") as f:
        f.write("scripting:\n  hooks:\n    postdelivery: |\n      Default();\n"
                "  files:\n    - id: lib/extra.hsl\n      data: 'function extra() {}'\n"
                "    - id: lib/dots.hsl\n      data: 'not this one'\n")
    with load_project(str(tree)) as p:
        assert p.queue_hooks["postdelivery"].source == "Default();\n"
        assert p.queue_hooks["postdelivery"].filename.endswith(
            "smtpd-app.yaml#hooks/queue/postdelivery.hsl")
        overlay = p.include_paths[1]
        assert os.listdir(os.path.join(overlay, "lib")) == ["extra.hsl"]
    assert not os.path.exists(overlay)


# ------------------------------------------------------------------ glob data imports

def test_glob_data_import_keys_are_file_ids(tmp_path, capsys):
    area = tmp_path / "src" / "files"
    (area / "dkim" / "sub").mkdir(parents=True)
    (area / "dkim" / "example.com.key").write_text("one")
    (area / "dkim" / "example.org.key").write_text("two")
    (area / "dkim" / "sub" / "deep.key").write_text("three")
    (area / "dkim" / "notes.txt").write_text("not a key")
    (area / "conf").mkdir()
    (area / "conf" / "a.json").write_text('{"x": 1}')
    (area / "conf" / "b.yaml").write_text("y: 2\n")
    main = area / "main.hsl"
    main.write_text('import $keys from "txt!dkim/*.key";\n'
                    'import $all from "txt!dkim/**/*.key";\n'
                    'import $conf from "conf/*";\n'
                    'echo $keys; echo array_keys($all); echo $conf;\n')
    compile_program(main.read_text(), str(main)).run()
    out = capsys.readouterr().out.splitlines()
    assert out == ['["dkim/example.com.key"=>"one","dkim/example.org.key"=>"two"]',
                   '[0=>"dkim/example.com.key",1=>"dkim/example.org.key",'
                   '2=>"dkim/sub/deep.key"]',
                   '["conf/a.json"=>["x"=>1],"conf/b.yaml"=>["y"=>2]]']


def test_glob_data_import_from_a_hook_resolves_in_the_file_area(capsys):
    code, out, err = run_cli(capsys, "run", "--project", TREE, "--hook", "eod",
                             "--serverid", "inbound", "--mail-from", "alice@example.net",
                             "--rcpt-to", "bob@example.org")
    assert code == 0, err
    assert out.splitlines()[:2] == ["keys: dkim/example.com.key,dkim/example.org.key",
                                    'accept 250 2.0.0 "Message accepted"']


def test_glob_that_matches_nothing_is_an_empty_array(tmp_path, capsys):
    """(A project without its DKIM keys yet still runs; hsl check warns, below.)"""
    main = tmp_path / "x.hsl"
    main.write_text('import $k from "txt!nothing/*.key"; echo $k; echo length($k);')
    compile_program(main.read_text(), str(main)).run()
    assert capsys.readouterr().out == "[]\n0\n"


def test_glob_file_that_does_not_load_names_it(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "good.json").write_text("[1]")
    (tmp_path / "d" / "bad.json").write_text("[1,")
    with pytest.raises(HSLSyntaxError) as e:
        compile_program('import $k from "d/*.json";', str(tmp_path / "x.hsl"))
    assert e.value.diagnostics[0].message == \
        'cannot import "d/*.json": d/bad.json: invalid JSON'


def test_check_reports_a_glob_without_files(tmp_path, capsys):
    f = tmp_path / "x.hsl"
    f.write_text('import $k from "txt!nothing/*.key";\n')
    code, out, err = run_cli(capsys, "check", "--no-config", str(f))
    assert 'warning: no data file matches "txt!nothing/*.key" [HSL505]' in out


def test_eml_data_import_is_a_mail_message(tmp_path, capsys):
    (tmp_path / "m.eml").write_bytes(b"Subject: hi\r\nFrom: a@b.example\r\n\r\nbody\r\n")
    main = tmp_path / "x.hsl"
    main.write_text('import $m from "m.eml"; echo $m->getHeader("subject"); '
                    'echo length($m->toString());')
    compile_program(main.read_text(), str(main)).run()
    assert capsys.readouterr().out == "hi\n40\n"


# ------------------------------------------------------------------ hsl check

def test_check_project_checks_every_hook_and_file_area_file(capsys):
    code, out, err = run_cli(capsys, "check", "--no-config", "--project", TREE)
    assert (code, err) == (0, "")
    # 8 hooks (predelivery among them) and 5 .hsl files of the file area
    assert out == "no problems (13 files checked)\n"


def test_check_project_hook_functions_by_phase(tree, capsys):
    """A file-area file that a hook includes may call that hook's functions (Defer in
    an eod hook's include); a hook calling another phase's function is an error."""
    replace_in(tree / "src" / "hooks" / "helo" / "default.hsl", "Accept();", "Try();")
    code, out, err = run_cli(capsys, "check", "--no-config", "--project", str(tree))
    assert code == 1
    assert "hooks/helo/default.hsl:4:1: error: hook function Try() is not available in " \
           "the helo hook [HSL302]" in out
    assert "decide.hsl" not in out
    assert out.rstrip().endswith("1 error in 1 file (13 files checked)")


def test_check_packed_config_names_the_parts_of_the_configuration(tmp_path, capsys):
    target = tmp_path / "smtpd-app.yaml"
    shutil.copy(PACKED, target)
    replace_in(target, "            return array_includes($ip, $blocked);",
               "            return array_includes($ip, $blocked, 3);")
    replace_in(target, "          Accept();\n    eod:", "          Acept();\n    eod:")
    code, out, err = run_cli(capsys, "check", "--no-config", "--config", str(target))
    assert code == 1, err
    assert f"{target}#files/lists/blocked.hsl:4:12: error: wrong number of arguments for " \
           "array_includes(): expected 2, got 3 [HSL201]" in out
    assert f"{target}#hooks/connect/gate.hsl:4:1: error: undefined function Acept()" in out
    assert "\n      return array_includes($ip, $blocked, 3);\n" in out     # (its line)
    assert "hsl-project-" not in out


def test_check_project_errors_are_usage_errors(tmp_path, capsys):
    code, out, err = run_cli(capsys, "check", "--project", str(tmp_path))
    assert code == 2
    assert err == (f"hsl: error: {tmp_path}/src/config/smtpd-app.yaml: no such file (a "
                   "Halon project tree has src/config/smtpd-app.yaml)\n")
    code, out, err = run_cli(capsys, "check")
    assert code == 2 and "nothing to check" in err


# ------------------------------------------------------------------ hsl run

@pytest.mark.parametrize("argv, first", [
    (["--hook", "connect", "--remoteip", "192.0.2.66"], 'reject 521 "not from there" and '
                                                        'disconnect'),
    (["--hook", "helo", "--ehlo", "localhost"], 'reject 554 "say who you are"'),
    (["--hook", "rcptto", "--rcpt-to", "bob@example.org"], 'accept 250 2.1.5 "vip recipient"'),
    (["--hook", "rcptto", "--rcpt-to", "<bob@EXAMPLE.org> NOTIFY=NEVER"],
     'accept 250 2.1.5 "vip recipient"'),
    (["--hook", "rcptto", "--rcpt-to", "bob@example.com"],
     'accept 250 2.1.5 "ordinary recipient"'),
    (["--hook", "eod", "--serverid", "submission", "--rcpt-to", "x@example.com"],
     'accept 250 2.0.0 "relayed"'),
])
def test_run_project_hook(capsys, argv, first):
    code, out, err = run_cli(capsys, "run", "--project", TREE, *argv)
    assert code == 0, err
    assert out.splitlines()[0] == first


def test_run_project_uses_the_servers_transport(capsys):
    code, out, err = run_cli(capsys, "run", "--project", TREE, "--hook", "rcptto",
                             "--rcpt-to", "bob@example.com")
    assert "transportid: mx" in out
    code, out, err = run_cli(capsys, "run", "--project", TREE, "--hook", "eod", "--serverid",
                             "submission", "--rcpt-to", "x@example.com")
    assert " via relay " in out


@pytest.mark.parametrize("argv, message", [
    (["--hook", "eod"], "several servers have eod hooks (inbound, submission): choose one "
                        "with --serverid ID"),
    (["--hook", "auth"], "no server has a hook for auth"),
    (["--hook", "helo", "--serverid", "submission"], "server submission has no helo hook "
                                                     "(servers[].phases.helo.hook)"),
    (["--hook", "helo", "--serverid", "outbound"], "no server outbound (servers: inbound, "
                                                   "submission)"),
])
def test_run_project_that_cannot_run(capsys, argv, message):
    code, out, err = run_cli(capsys, "run", "--project", TREE, *argv)
    assert code == 2
    assert err == f"hsl: error: {TREE}/src/config/smtpd-app.yaml: {message}\n"


def test_run_project_needs_a_hook(capsys):
    code, out, err = run_cli(capsys, "run", "--project", TREE)
    assert (code, err) == (2, "hsl: error: --project runs a hook: give --hook PHASE\n")


def test_run_packed_config(capsys):
    code, out, err = run_cli(capsys, "run", "--config", PACKED, "--hook", "eod",
                             "--rcpt-to", "x@example.com")
    assert code == 0, err
    assert out.splitlines()[:3] == [
        "iVBORw0KGgoA//4=",
        '{"lists/allowed.json":["192.0.2.1"],"lists/blocked.json":["192.0.2.66"]}',
        'accept 250 2.0.0 "Message accepted"']
    code, out, err = run_cli(capsys, "run", "--config", PACKED, "--hook", "connect",
                             "--remoteip", "192.0.2.66")
    assert out.splitlines()[0] == 'reject 521 "blocked" and disconnect'


def test_run_whole_session_against_a_project_server(capsys):
    """hsl run --project DIR --session FILE: the steps go through every SMTP hook of the
    server, with its per-domain rcptto hooks and its maxsize."""
    session = os.path.join(os.path.dirname(TREE), "tree_session.yaml")
    code, out, err = run_cli(capsys, "run", "--project", TREE, "--session", session,
                             "--serverid", "inbound", "--json")
    assert code == 0, err
    result = json.loads(out)
    by_command = [(s["command"], s.get("phase"), s["code"]) for s in result["steps"]]
    assert by_command[:6] == [("CONNECT", "connect", 220), ("EHLO", "helo", 250),
                              ("MAIL", "mailfrom", 250), ("RCPT", "rcptto", 250),
                              ("RCPT", "rcptto", 250), ("DATA", "eod", 421)]
    rcpts = [s["reply"] for s in result["steps"] if s["command"] == "RCPT"]
    assert rcpts == [["vip recipient"], ["ordinary recipient"]]
    ehlo = next(s for s in result["steps"] if s["command"] == "EHLO")
    assert "SIZE 1048576" in ehlo["reply"]


def test_run_whole_session_needs_a_server_when_there_are_several(capsys):
    session = os.path.join(os.path.dirname(TREE), "tree_session.yaml")
    code, out, err = run_cli(capsys, "run", "--project", TREE, "--session", session)
    assert code == 2
    assert "several servers (inbound, submission): choose one with --serverid ID" in err
