"""stdlib/helo.hsl (`extras://helo.hsl`): HELO policy building blocks, run as HSL.

Each case calls one function of the module from an HSL program compiled with
`hsl.compile(..., filename=<a path in tests/>)` and compares `json_encode()` of the result.
The programs are compiled once per function and arity; the arguments are passed as
pre-defined variables `$a0`, `$a1`, ... (Python str -> HSL string, None -> none).
"""
from __future__ import annotations

import functools
import json
import os

import pytest

import hsl
from hsl import HSLSyntaxError

HERE = os.path.dirname(os.path.abspath(__file__))
FILENAME = os.path.join(HERE, "stdlib_helo_snippet.hsl")     # never read: names the snippet

FUNCTIONS = ["helo_is_fqdn", "helo_address_literal", "helo_literal_matches_ip",
             "helo_claims_to_be_us", "helo_matches_ptr", "helo_rfc5321_valid",
             "helo_normalize_name", "helo_ip_key"]


def run(source: str, **variables) -> list:
    out: list = []
    hsl.compile(source, filename=FILENAME).run(variables=variables or None, output=out.append)
    return out


@functools.lru_cache(maxsize=None)
def _program(fn: str, arity: int):
    args = ", ".join(f"$a{i}" for i in range(arity))
    src = (f'import {{ {fn} }} from "extras://helo.hsl";\n'
           f'echo json_encode({fn}({args}));\n')
    return hsl.compile(src, filename=FILENAME, predefined={f"a{i}" for i in range(arity)})


def call(fn: str, *args):
    out: list = []
    _program(fn, len(args)).run(variables={f"a{i}": a for i, a in enumerate(args)},
                                output=out.append)
    assert len(out) == 1
    return json.loads(out[0])


# ------------------------------------------------------------------ the module itself

def test_named_import_from_extras_resolves():
    out = run('import { ' + ", ".join(FUNCTIONS) + ' } from "extras://helo.hsl";\n'
              'echo helo_is_fqdn("mail.example.com") ? "yes" : "no";')
    assert out == ["yes"]


def test_wildcard_import_and_renaming():
    out = run('import * as helo from "extras://helo.hsl";\n'
              'import { helo_matches_ptr as same } from "extras://helo.hsl";\n'
              'echo helo::helo_rfc5321_valid("[IPv6:::1]");\n'
              'echo same("A.example", "a.example.");')
    assert out == ["true", "true"]


def test_unknown_extras_module_is_a_compile_error():
    with pytest.raises(HSLSyntaxError) as ei:
        hsl.compile('import { x } from "extras://no_such_module.hsl";', filename=FILENAME)
    assert "not found" in ei.value.message


def test_module_ships_with_the_package():
    import importlib.resources
    text = importlib.resources.files("hsl.stdlib").joinpath("helo.hsl").read_text()
    for fn in FUNCTIONS:
        assert f"function {fn}(" in text
        # every public function is documented in a comment right above it
        before = text.split(f"function {fn}(")[0].rstrip().splitlines()[-1]
        assert before.startswith("//"), fn


def test_usable_in_the_helo_hook():
    from hsl.hooks.helo import HeloSession, compile_helo, run_helo
    prog = compile_helo('import { helo_is_fqdn } from "extras://helo.hsl";\n'
                        'if (!helo_is_fqdn($arguments["host"])) Reject("need an FQDN");',
                        os.path.join(HERE, "policy.hsl"))
    assert run_helo(prog, HeloSession(host="localhost")).decision == "reject"
    assert run_helo(prog, HeloSession(host="mail.example.org")).decision == "accept"


# ------------------------------------------------------------------------ helo_is_fqdn

L63, L64 = "a" * 63, "a" * 64
NAME_253 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
NAME_254 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 62])
assert len(NAME_253) == 253 and len(NAME_254) == 254


@pytest.mark.parametrize("host,expected", [
    ("mail.example.com", True),
    ("MAIL.Example.COM", True),
    ("a.b", True),
    ("mail.example.com.", True),                  # one trailing dot (the root) is fine
    ("mail.example.com..", False),
    (".", False),
    ("", False),
    ("localhost", False),                         # a single label
    ("localhost.", False),
    ("xn--bcher-kva.example", True),              # IDN in punycode
    ("mail.xn--p1ai", True),                      # punycode TLD
    ("xn--80ak6aa92e.xn--p1ai", True),
    ("bücher.example", False),                    # raw UTF-8 label
    ("1.example.com", True),                      # numeric labels other than the TLD
    ("123.456.example", True),
    ("192.0.2.1", False),                         # numeric TLD
    ("mail.example.123", False),
    ("mail.example.c0m", True),
    ("mail.example.1a", True),                    # only an all-digit TLD is numeric
    ("a-b.c-d.example", True),
    ("a--b.example", True),
    ("-mail.example.com", False),
    ("mail-.example.com", False),
    ("mail.example.com-", False),
    ("mail.-example.com", False),
    ("mail..example.com", False),
    (".example.com", False),
    ("mail_1.example.com", False),
    ("mail example.com", False),
    ("mail.example.com\n", False),                # "$" would match before the newline
    ("mail.example.com ", False),
    ("[192.0.2.1]", False),
    ("[IPv6:2001:db8::1]", False),
    (L63 + ".example", True),
    (L64 + ".example", False),
    ("mail." + L63, True),
    ("mail." + L64, False),
    (NAME_253, True),
    (NAME_253 + ".", True),                       # the trailing dot is not counted
    (NAME_254, False),
    (None, False),
    (42, False),
    (["mail.example.com"], False),
])
def test_helo_is_fqdn(host, expected):
    assert call("helo_is_fqdn", host) is expected


# ---------------------------------------------------------------- helo_address_literal

@pytest.mark.parametrize("host,expected", [
    ("[192.0.2.1]", "192.0.2.1"),
    ("[0.0.0.0]", "0.0.0.0"),
    ("[255.255.255.255]", "255.255.255.255"),
    ("[192.000.002.001]", "192.0.2.1"),           # Snum: 1-3 digits, decimal
    ("[256.1.1.1]", None),
    ("[1.2.3]", None),
    ("[1.2.3.4.5]", None),
    ("[1.2.3.1000]", None),
    ("[1.2.3.-4]", None),
    ("192.0.2.1", None),                          # no brackets
    ("[ 192.0.2.1]", None),
    ("[192.0.2.1] ", None),
    ("[192.0.2.1]\n", None),
    ("[192.0.2.1", None),
    ("[IPv6:2001:db8::1]", "2001:db8::1"),
    ("[IPv6:2001:DB8::1]", "2001:db8::1"),
    ("[ipv6:2001:db8::1]", "2001:db8::1"),        # the tag is case-insensitive
    ("[IPV6:2001:db8::1]", "2001:db8::1"),
    ("[IPv6:2001:0db8:0000:0000:0000:0000:0000:0001]", "2001:db8::1"),
    ("[IPv6:2001:db8:0:0:1:0:0:1]", "2001:db8::1:0:0:1"),
    ("[IPv6:::1]", "::1"),
    ("[IPv6:::]", "::"),
    ("[IPv6:1:2:3:4:5:6:7:8]", "1:2:3:4:5:6:7:8"),
    ("[IPv6:1:2:3:4:5:6::]", "1:2:3:4:5:6::"),
    ("[IPv6:1:2:3:4:5:6:7::]", None),            # "::" must stand for >= 2 groups (RFC 5321)
    ("[IPv6:1:2:3:4:5:6:7:8:9]", None),
    ("[IPv6:1:2:3:4:5:6:7]", None),
    ("[IPv6:::ffff:192.0.2.1]", "::ffff:192.0.2.1"),
    ("[IPv6:1:2:3:4:5:6:192.0.2.1]", "1:2:3:4:5:6:c000:201"),
    ("[IPv6:::ffff:192.0.2.256]", None),
    ("[IPv6:2001:db8::1%eth0]", None),            # zone ids are not address literals
    ("[IPv6:12345::1]", None),
    ("[IPv6:1::2::3]", None),
    ("[IPv6:1:::2]", None),
    ("[IPv6:2001:db8::g]", None),
    ("[IPv6:192.0.2.1]", None),
    ("[IPv6:]", None),
    ("[2001:db8::1]", None),                      # IPv6 needs the tag
    ("[::1]", None),
    ("[x400:c=us]", None),                        # general literals carry no IP
    ("[]", None),
    ("", None),
    ("mail.example.com", None),
    (None, None),
    (12, None),
])
def test_helo_address_literal(host, expected):
    assert call("helo_address_literal", host) == expected


# ------------------------------------------------------------- helo_literal_matches_ip

@pytest.mark.parametrize("host,ip,expected", [
    ("[192.0.2.1]", "192.0.2.1", True),
    ("[192.000.002.001]", "192.0.2.1", True),
    ("[192.0.2.1]", "192.0.2.2", False),
    ("[IPv6:2001:db8::1]", "2001:db8::1", True),
    ("[IPv6:2001:db8::1]", "2001:DB8:0:0:0:0:0:1", True),
    ("[IPv6:2001:0DB8:0000::0001]", "2001:db8::1", True),
    ("[IPv6:2001:db8:0:0:0:0:0:1]", "2001:db8::0:1", True),
    ("[IPv6:2001:db8::1]", "2001:db8::2", False),
    ("[IPv6:::ffff:192.0.2.1]", "192.0.2.1", True),   # IPv4-mapped equals plain IPv4
    ("[192.0.2.1]", "::ffff:192.0.2.1", True),
    ("[192.0.2.1]", "::ffff:c000:201", True),
    ("[IPv6:::1]", "127.0.0.1", False),
    ("[IPv6:::1]", "::1", True),
    ("[127.0.0.1]", "::1", False),
    ("192.0.2.1", "192.0.2.1", False),            # not a literal
    ("[2001:db8::1]", "2001:db8::1", False),      # not a valid literal
    ("[192.0.2.1]", "bogus", False),
    ("[192.0.2.1]", "", False),
    ("[192.0.2.1]", None, False),
    (None, "192.0.2.1", False),
])
def test_helo_literal_matches_ip(host, ip, expected):
    assert call("helo_literal_matches_ip", host, ip) is expected


# ----------------------------------------------------------------- helo_claims_to_be_us

OUR_NAMES = ["mx.example.net", "Example.NET."]
OUR_IPS = ["192.0.2.1", "2001:db8::25"]


@pytest.mark.parametrize("host,expected", [
    ("mx.example.net", True),
    ("MX.EXAMPLE.NET", True),
    ("mx.example.net.", True),
    ("example.net", True),                        # our name given with a trailing dot
    ("EXAMPLE.net.", True),
    ("mx2.example.net", False),
    ("mx.example.net.evil.example", False),
    ("client.example.org", False),
    ("[192.0.2.1]", True),
    ("[192.000.002.001]", True),
    ("192.0.2.1", True),                          # bare IP: not valid syntax, still a claim
    ("[192.0.2.2]", False),
    ("[IPv6:2001:db8::25]", True),
    ("[IPv6:2001:DB8:0:0::25]", True),
    ("2001:db8::25", True),
    ("[IPv6:::ffff:192.0.2.1]", True),
    ("[IPv6:2001:db8::26]", False),
    ("[2001:db8::25]", False),                   # not a name of ours, literal or bare IP
    ("", False),
])
def test_helo_claims_to_be_us(host, expected):
    assert call("helo_claims_to_be_us", host, OUR_NAMES, OUR_IPS) is expected


@pytest.mark.parametrize("names,ips,host,expected", [
    ("mx.example.net", "192.0.2.1", "MX.example.net", True),     # single strings
    ("mx.example.net", "192.0.2.1", "[192.0.2.1]", True),
    (None, None, "mx.example.net", False),                       # none: empty lists
    ([], [], "[192.0.2.1]", False),
    (["", None, 5], ["nonsense", None], "", False),              # junk entries are skipped
    (["", None, 5], ["nonsense", None], "x.example", False),
    (["mx.example.net"], [], "[192.0.2.1]", False),
    ([], ["192.0.2.1"], "mx.example.net", False),
])
def test_helo_claims_to_be_us_argument_forms(names, ips, host, expected):
    assert call("helo_claims_to_be_us", host, names, ips) is expected


# --------------------------------------------------------------------- helo_matches_ptr

@pytest.mark.parametrize("host,ptr,expected", [
    ("mail.example.org", "mail.example.org", True),
    ("Mail.Example.ORG", "mail.example.org", True),
    ("mail.example.org", "MAIL.EXAMPLE.ORG.", True),
    ("mail.example.org.", "mail.example.org", True),
    ("mail.example.org.", "mail.example.org.", True),
    ("mail.example.org..", "mail.example.org.", False),
    ("mail.example.org", "mail2.example.org", False),
    ("mail.example.org", "example.org", False),
    ("mail.example.org", None, False),             # no verified PTR
    ("", "", False),
    (".", "", False),
    ("[192.0.2.1]", "mail.example.org", False),
    (None, "mail.example.org", False),
    ("xn--bcher-kva.example", "XN--BCHER-KVA.example", True),
])
def test_helo_matches_ptr(host, ptr, expected):
    assert call("helo_matches_ptr", host, ptr) is expected


# ------------------------------------------------------------------- helo_rfc5321_valid

@pytest.mark.parametrize("host,expected", [
    # Domain
    ("mail.example.com", True),
    ("MAIL.Example.Com", True),
    ("localhost", True),                          # the grammar allows one label
    ("a", True),
    ("1.2.3.4", True),                            # and all-digit labels
    ("a-b.example", True),
    ("xn--bcher-kva.example", True),
    (L63 + ".example", True),
    (L64 + ".example", False),
    (".".join([L63] * 4), True),                  # 255 octets
    (".".join([L63] * 4) + "a", False),           # 256: longer than 255 (and a 64 label)
    (".".join(["a" * 50] * 5) + ".abcd", False),  # 259 > 255 octets, labels fine
    ("mail.example.com.", False),                 # no trailing dot in the grammar
    ("-mail.example.com", False),
    ("mail-.example.com", False),
    ("mail..example.com", False),
    (".mail.example.com", False),
    ("mail_x.example.com", False),
    ("mail example.com", False),
    ("bücher.example", False),
    ("mail.example.com\n", False),
    ("", False),
    # IPv4-address-literal
    ("[192.0.2.1]", True),
    ("[0.0.0.0]", True),
    ("[192.000.002.001]", True),
    ("[1.2.3.256]", False),
    ("[1.2.3]", False),
    ("[1.2.3.4.5]", False),
    ("[1.2.3.0004]", False),
    ("[ 1.2.3.4]", False),
    ("[1.2.3.4", False),
    ("1.2.3.4]", False),
    # IPv6-address-literal: full, comp, v4full, v4comp
    ("[IPv6:2001:db8:0:0:0:0:0:1]", True),
    ("[IPv6:2001:db8::1]", True),
    ("[ipv6:2001:DB8::1]", True),
    ("[IPv6:::]", True),
    ("[IPv6:::1]", True),
    ("[IPv6:1::]", True),
    ("[IPv6:1:2:3:4:5:6::]", True),
    ("[IPv6:1:2:3::4:5:6]", True),
    ("[IPv6:1:2:3:4::5:6:7]", False),            # 7 groups besides "::"
    ("[IPv6:1:2:3:4:5:6:7::]", False),
    ("[IPv6:::1:2:3:4:5:6:7]", False),
    ("[IPv6:1:2:3:4:5:6:7:8]", True),
    ("[IPv6:1:2:3:4:5:6:7]", False),
    ("[IPv6:1:2:3:4:5:6:7:8:9]", False),
    ("[IPv6:12345::]", False),
    ("[IPv6:1::2::3]", False),
    ("[IPv6:1:2:3:4:5:6:192.0.2.1]", True),      # IPv6v4-full
    ("[IPv6:1:2:3:4:5:192.0.2.1]", False),
    ("[IPv6:::192.0.2.1]", True),                # IPv6v4-comp
    ("[IPv6:::ffff:192.0.2.1]", True),
    ("[IPv6:1:2:3:4::192.0.2.1]", True),
    ("[IPv6:1:2:3:4:5::192.0.2.1]", False),      # at most 4 groups besides "::" and IPv4
    ("[IPv6:::ffff:192.0.2.300]", False),
    ("[IPv6:junk]", False),                       # the IPv6 tag is reserved
    ("[IPv6:]", False),
    ("[2001:db8::1]", False),                     # untagged IPv6
    ("[::1]", False),
    # General-address-literal
    ("[x400:c=us;a=;p=example]", True),
    ("[tag:content]", True),
    ("[Tag-9:a!\"#$%&'()*+,-./0123456789:;<=>?@AZ^_`az{|}~]", True),
    ("[tag-:x]", False),                          # the tag ends with a letter or digit
    ("[tag:]", False),                            # 1*dcontent
    ("[tag:a b]", False),
    ("[tag:a[b]", False),
    ("[tag:a]b]", False),
    ("[tag:a\\b]", False),
    ("[tag:\x7f]", False),
    ("[ta_g:x]", False),
    ("[:x]", False),
    ("[]", False),
    (None, False),
    (7, False),
])
def test_helo_rfc5321_valid(host, expected):
    assert call("helo_rfc5321_valid", host) is expected


@pytest.mark.parametrize("host,verb,expected", [
    ("mail.example.com", "HELO", True),
    ("mail.example.com", "helo", True),
    ("[192.0.2.1]", "HELO", False),               # helo = "HELO" SP Domain CRLF
    ("[192.0.2.1]", "EHLO", True),
    ("[IPv6:::1]", "HELO", False),
    ("[IPv6:::1]", "EHLO", True),
    ("[192.0.2.1]", None, True),
])
def test_helo_rfc5321_valid_by_verb(host, verb, expected):
    assert call("helo_rfc5321_valid", host, verb) is expected


# ------------------------------------------------------------------------------ helpers

@pytest.mark.parametrize("host,expected", [
    ("MX.Example.NET.", "mx.example.net"),
    ("mx.example.net", "mx.example.net"),
    ("a..", "a."),
    ("", ""),
    ("ÄB", "Äb"),                                 # ASCII letters only
    (None, None),
])
def test_helo_normalize_name(host, expected):
    assert call("helo_normalize_name", host) == expected


def test_helo_ip_key_compares_spellings():
    out = run('import { helo_ip_key } from "extras://helo.hsl";\n'
              'echo helo_ip_key("2001:DB8::1") === helo_ip_key("2001:db8:0:0:0:0:0:1");\n'
              'echo helo_ip_key("::ffff:192.0.2.1") === helo_ip_key("192.0.2.1");\n'
              'echo length(helo_ip_key("192.0.2.1")) . " " . length(helo_ip_key("::1"));\n'
              'echo helo_ip_key("bogus") === none and helo_ip_key(none) === none;')
    assert out == ["true", "true", "4 16", "true"]
