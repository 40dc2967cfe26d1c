"""editors/vscode packages into a .vsix with `npm ci && npx vsce package` (as .ci/run
does), in a copy of the folder: the package holds the compiled client and contributes
the language id `hsl` and the settings the docs name.  Needs npm and the npm registry."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EXT = os.path.join(os.path.dirname(HERE), "editors", "vscode")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")]


def test_the_extension_packages(tmp_path):
    work = tmp_path / "vscode"
    shutil.copytree(EXT, work, ignore=shutil.ignore_patterns("node_modules", "out", "*.vsix"))
    env = {**os.environ, "npm_config_update_notifier": "false"}
    for cmd in (["npm", "ci", "--no-audit", "--no-fund"], ["npx", "vsce", "package"]):
        run = subprocess.run(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, (cmd, run.stdout[-3000:], run.stderr[-3000:])
    with open(work / "package.json") as f:
        manifest = json.load(f)
    vsix = work / f"{manifest['name']}-{manifest['version']}.vsix"
    with zipfile.ZipFile(vsix) as z:
        names = set(z.namelist())
        assert "extension/out/extension.js" in names
        assert "extension/node_modules/vscode-languageclient/package.json" in names
        assert not any(n.startswith("extension/src/") for n in names)
        packed = json.loads(z.read("extension/package.json"))
        js = z.read("extension/out/extension.js").decode()
    assert [lang["id"] for lang in packed["contributes"]["languages"]] == ["hsl"]
    assert set(packed["contributes"]["configuration"]["properties"]) == {
        "hsl.path", "hsl.args", "hsl.trace.server"}
    assert '"lsp"' in js and "vscode-languageclient/node" in js
