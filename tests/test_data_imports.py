"""Data imports of certificates and keys (`import $ca from "ca.crt";`, `import $cert from
"a.crt" with ["resource" => true];`, `import $key from "a.key";`), as Halon's own modules
use them: the PEM text, or resources with option resource."""
from __future__ import annotations

import hsl

from certs import new_key, pki, to_pem


def run_file(tmp_path, source: str) -> list:
    main = tmp_path / "main.hsl"
    main.write_text(source)
    out = []
    hsl.compile(source, str(main), predefined=set()).run(output=out.append)
    return out


def test_certificates_and_keys(tmp_path):
    p = pki()
    (tmp_path / "chain.crt").write_bytes(to_pem(p.leaf) + to_pem(p.intermediate))
    key = new_key("rsa")
    (tmp_path / "signer.key").write_bytes(to_pem(key))
    out = run_file(tmp_path, '''
        import $text from "chain.crt";
        import $chain from "chain.crt" with ["resource" => true];
        import $pem from "signer.key";
        import $key from "signer.key" with ["resource" => true];
        echo str_find($text, "-----BEGIN CERTIFICATE-----") == 0;
        echo length($chain);
        echo X509($chain[0])->subject() == X509::String($text)->subject();
        echo is_string($pem) and is_rsa_privatekey($key);
        echo is_rsa_privatekey(rsa_privatekey($pem));
    ''')
    assert out == ["true", "2", "true", "true", "true"]


def test_a_file_that_is_no_certificate_is_a_compile_error(tmp_path):
    (tmp_path / "bad.crt").write_text("not a certificate\n")
    main = tmp_path / "main.hsl"
    source = 'import $c from "bad.crt" with ["resource" => true];\n'
    main.write_text(source)
    try:
        hsl.compile(source, str(main), predefined=set())
    except hsl.HSLSyntaxError as e:
        assert "no certificate in the file" in e.message and e.line == 1
    else:
        raise AssertionError("compiled")
