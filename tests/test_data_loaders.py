"""Data imports of certificates and keys (hooks.md §4): `import $cert from "x.crt" with
["resource" => true]` gives the file's certificates as X509Resources (as X509 objects
without the option), `import $key from "x.key"` the private key, as Halon's S/MIME
modules import a signer's certificate, chain and key."""
import os
import sys

import pytest

import hsl
from hsl import HSLSyntaxError

sys.path.insert(0, os.path.dirname(__file__))
import certs  # noqa: E402


def run_file(path) -> list:
    out = []
    hsl.compile(path.read_text(), str(path)).run(output=out.append)
    return out


@pytest.fixture
def pki(tmp_path):
    (tmp_path / "chain.crt").write_bytes(certs.leaf_chain_pem())
    (tmp_path / "leaf.key").write_bytes(certs.leaf_key_pem())
    return tmp_path


def test_certificates_and_key(pki):
    script = pki / "main.hsl"
    script.write_text(
        'import $chain from "chain.crt" with ["resource" => true];\n'
        'import $objects from "file://chain.crt";\n'
        'import $key from "leaf.key";\n'
        'echo length($chain);\n'
        'echo X509($chain[0])->subject() == $objects[0]->subject();\n'
        'echo is_ec_privatekey($key);\n'
        '$signed = cms_sign("text", ["x509" => $chain[0], "privatekey" => $key, '
        '"chain" => $chain[1:]]);\n'
        'echo $signed["result"] and cms_type($signed["data"]) == "pkcs7-signedData";\n')
    assert run_file(script) == ["2", "true", "true", "true"]


def test_files_that_are_not_certificates_or_keys(pki):
    (pki / "bad.crt").write_text("not a certificate\n")
    (pki / "bad.key").write_bytes(certs.leaf_pem())
    for name in ("bad.crt", "bad.key"):
        script = pki / "main.hsl"
        script.write_text(f'import $x from "{name}";\necho $x;\n')
        with pytest.raises(HSLSyntaxError, match="invalid (certificate|private key) file"):
            run_file(script)


def test_assigning_a_data_import_changes_only_that_execution(tmp_path):
    """A script may assign its data import's variable (HalonPOCLab's disclaimer module
    does, through `global`); the next execution gets the imported value again."""
    (tmp_path / "cfg.json").write_text('{"users": ["alice"]}')
    script = tmp_path / "s.hsl"
    script.write_text('import $cfg from "cfg.json";\n'
                      'function pick() { global $cfg; $cfg = $cfg["users"]; }\n'
                      'echo json_encode($cfg); pick(); $cfg[] = "bob"; echo json_encode($cfg);\n')
    program = hsl.compile(script.read_text(), str(script))
    for _ in range(2):
        out = []
        program.run(output=out.append)
        assert out == ['{"users":["alice"]}', '["alice","bob"]']
