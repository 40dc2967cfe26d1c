"""Include and import paths resolve the same way in hsl check, hsl run, hsl serve and
the REPL (program.search_dirs): the -I directories, a Halon project's file area
(src/files/) and the parent directories of the script up to the working directory
(issue 12 item 5)."""
from __future__ import annotations

import os
import subprocess
import sys

from serve_helpers import ROOT, Raw, Server


def hsl(*args, cwd):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "hsl", *args], capture_output=True,
                          env=env, cwd=cwd, timeout=60, stdin=subprocess.DEVNULL)


def project(tmp_path):
    """A Halon project whose HELO hook includes a file of the file area, one of an -I
    directory and one of a parent directory."""
    hooks = tmp_path / "proj" / "src" / "hooks" / "helo"
    hooks.mkdir(parents=True)
    files = tmp_path / "proj" / "src" / "files"
    files.mkdir()
    (files / "area.hsl").write_text('function from_area() { return "area"; }\n')
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "extra.hsl").write_text('function from_extra() { return "extra"; }\n')
    (tmp_path / "proj" / "src" / "up.hsl").write_text('function from_up() { return "up"; }\n')
    script = hooks / "main.hsl"
    script.write_text('include "area.hsl";\ninclude "extra.hsl";\ninclude "up.hsl";\n'
                      'Accept(["reason" => from_area() . " " . from_extra() . " " . from_up()]);\n')
    return script, shared


def test_check_run_serve_and_repl_resolve_alike(tmp_path):
    script, shared = project(tmp_path)
    r = hsl("check", "-I", str(shared), ".", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    r = hsl("run", "--hook", "helo", "-I", str(shared), str(script), cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith(b'accept 250 "area extra up"'), r.stderr
    r = hsl("run", "--hook", "helo", str(script), cwd=tmp_path)       # no -I: not found
    assert r.returncode == 1 and b'file not found: "extra.hsl"' in r.stderr
    with Server(str(script), "-I", str(shared), cwd=str(tmp_path)) as srv, \
            Raw(srv.port) as c:
        c.reply()
        assert c.cmd(b"EHLO x.example\r\n")[0] == b"250-area extra up"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "hsl", "repl", "-I", str(shared), "--hook",
                        "helo", str(script)], input=b"from_extra() . from_area()\n",
                       capture_output=True, env=env, cwd=tmp_path, timeout=60)
    assert r.stdout.decode().strip().splitlines()[-1] == '"extraarea"', r.stdout + r.stderr
