"""spf_query: RFC 7208 check_host() on hsl.net.dns, asked of a table backend only.

The cases are written from the RFC's rules (sections 2-7) and its Appendix B examples,
grouped as the OpenSPF test suite groups them: initial processing, record selection,
record syntax, each mechanism, include/redirect/exp, macros, processing limits, DNS
errors and time.  Then the builtin's own decisions (arguments, result keys), and runs
through HSL itself (compiled programs, `hsl run --dns-table`, speculative runs).
No test asks a real DNS server: each one installs a MockBackend, and the fixture below
puts the process-wide backend back afterwards."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

import hsl
from hsl.net import dns as resolver
from hsl.builtins import FUNCTIONS, load_all
from hsl.builtins import spf as spf_module
from hsl.errors import ScriptError
from hsl.runtime.execution import Preempted
from hsl.runtime.values import to_python

load_all()

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ERRORS = ("NXDOMAIN", "SERVFAIL", "TRY_AGAIN", "REFUSED")


@pytest.fixture(autouse=True)
def restore_backend():
    saved = resolver.backend()
    yield
    resolver.configure(saved)


def use(zone: dict) -> resolver.MockBackend:
    """Install a table backend for `zone` ({name: entry}): a str entry is the name's only
    TXT record (or, when it is an error name, the error every query of it gets)."""
    table = {}
    for name, entry in zone.items():
        if isinstance(entry, str) and entry not in ERRORS:
            entry = {"txt": [entry]}
        table[name] = entry
    backend = resolver.MockBackend(table)
    resolver.configure(backend)
    return backend


def spf_query(ip, helo, sender):
    return to_python(FUNCTIONS["spf_query"].fn(ip.encode(), helo.encode(),
                                               sender.encode()))


def check(zone, ip="192.0.2.10", sender="user@example.com", helo="mail.example.com"):
    """spf_query's whole answer for `sender` at `ip`, with `zone` as the DNS."""
    use(zone)
    return spf_query(ip, helo, sender)


def result(zone, ip="192.0.2.10", sender="user@example.com", helo="mail.example.com"):
    return check(zone, ip, sender, helo)["result"]


def asked(backend) -> list:
    return [name for name, _ in backend.queries]


# ============================================================ initial processing

def test_the_senders_domain_is_checked():
    zone = {"example.com": "v=spf1 ip4:192.0.2.10 -all",
            "mail.example.com": "v=spf1 -all"}
    assert check(zone) == {"result": "pass", "reason": "'ip4:192.0.2.10' matched in the "
                                                       "SPF record of example.com"}
    assert result(zone, ip="192.0.2.11") == "fail"


def test_an_empty_sender_checks_the_helo_identity():
    zone = {"example.com": "v=spf1 -all",
            "mail.example.com": "v=spf1 ip4:192.0.2.10 -all exp=why.example.com",
            "why.example.com": "%{s} %{l} %{o} %{d} %{h}"}
    got = check(zone, ip="192.0.2.99", sender="", helo="mail.example.com")
    assert got["result"] == "fail"
    assert got["explanation"] == ("postmaster@mail.example.com postmaster mail.example.com "
                                  "mail.example.com mail.example.com")
    assert result(zone, sender="", helo="mail.example.com") == "pass"


@pytest.mark.parametrize("sender", ["@example.com", "example.com"])
def test_a_sender_without_local_part_is_postmaster(sender):
    zone = {"example.com": "v=spf1 -all exp=why.example.com",
            "why.example.com": "%{s} %{l}"}
    got = check(zone, sender=sender)
    assert got["explanation"] == "postmaster@example.com postmaster"


def test_the_domain_is_after_the_last_at_sign_and_the_local_part_may_have_spaces():
    zone = {"example.com": "v=spf1 -all exp=why.example.com",
            "why.example.com": "%{l} in implementation"}
    got = check(zone, sender='"a@b"@example.com')
    assert got["explanation"] == '"a@b" in implementation'
    got = check(zone, sender="Macro Error@example.com")
    assert got["explanation"] == "Macro Error in implementation"


@pytest.mark.parametrize("sender,helo", [
    ("user@a123456789012345678901234567890123456789012345678901234567890123.example.com",
     "mail.example.com"),                                   # a label of 64 characters
    ("user@a...example.com", "mail.example.com"),           # empty labels
    ("user@" + "a." * 127 + "com", "mail.example.com"),     # 257 characters
    ("", "A2345678"),                                       # not multi-label
    ("", "[192.0.2.10]"),                                   # a domain literal
    ("", "192.0.2.10"),                                     # an address
    ("user@[192.0.2.10]", "mail.example.com"),
    ("user@example.123", "mail.example.com"),               # a numeric top label
    ("user@", "mail.example.com"),
])
def test_a_malformed_domain_is_none_without_a_lookup(sender, helo):
    backend = use({"example.com": "v=spf1 +all", "mail.example.com": "v=spf1 +all"})
    got = spf_query("192.0.2.10", helo, sender)
    assert got["result"] == "none"
    assert "not a valid domain name" in got["reason"]
    assert backend.queries == []


def test_a_label_of_63_characters_is_fine():
    name = "a12345678901234567890123456789012345678901234567890123456789012.example.com"
    assert result({name: "v=spf1 -all"}, sender="user@" + name) == "fail"


def test_no_identity_at_all_is_none():
    got = check({}, sender="", helo="")
    assert got["result"] == "none" and "both empty" in got["reason"]


def test_a_final_dot_and_case_do_not_matter():
    zone = {"example.com": "v=spf1 ip4:192.0.2.10 -all"}
    assert result(zone, sender="user@EXAMPLE.Com.") == "pass"


def test_a_unicode_domain_is_checked_in_its_idna_form():
    backend = use({"xn--bcher-kva.example": "v=spf1 ip4:192.0.2.10 -all"})
    assert spf_query("192.0.2.10", "mail.example.com", "user@bücher.example")["result"] \
        == "pass"
    assert asked(backend) == ["xn--bcher-kva.example"]


# ============================================================ record selection

def test_no_record_nxdomain_and_nodata_are_none():
    assert check({}) == {"result": "none", "reason": "example.com does not exist"}
    assert check({"example.com": {"a": ["192.0.2.1"]}}) == \
        {"result": "none", "reason": "example.com has no SPF record"}
    assert result({"example.com": "some verification token"}) == "none"


@pytest.mark.parametrize("records,want", [
    (["v=spf1 -all", "v=spf1 +all"], "permerror"),
    (["v=spf1 -all", "V=sPf1 +all"], "permerror"),            # any case is a record
    (["v=spf1 -all", "v=spf1 -all"], "permerror"),            # even the same one twice
    (["v=spf10 +all", "v=spf1 -all"], "fail"),                # not a v=spf1 record
    (["v=spf1mx", "spf1 +all"], "none"),                      # no space after v=spf1
    (["V=SpF1 ~all"], "softfail"),
    (["v=spf1"], "neutral"),                                  # an empty record
    (["v=spf1 -all", "\udc96 not utf-8", "other"], "fail"),   # other TXT: not ours
    ([" v=spf1 -all"], "none"),                               # must begin the record
])
def test_record_selection(records, want):
    assert result({"example.com": {"txt": records}}) == want


def test_several_records_say_how_many():
    got = check({"example.com": {"txt": ["v=spf1 -all", "v=spf1 +all"]}})
    assert got == {"result": "permerror", "reason": "example.com has 2 SPF records"}


@pytest.mark.parametrize("error", ["SERVFAIL", "TRY_AGAIN", "REFUSED"])
def test_a_dns_error_on_the_record_is_temperror(error):
    got = check({"example.com": error})
    assert got["result"] == "temperror"
    assert got["reason"] == f"DNS error {error} looking up the TXT records of example.com"


# ============================================================ record syntax

@pytest.mark.parametrize("record", [
    "v=spf1 ip4:192.0.2.10 -all moo",                # after a matching term too
    "v=spf1 -all:foobar", "v=spf1 -all/8", "v=spf1 -all.", "v=spf1 ++all",
    "v=spf1 =all", "v=spf1 1up=foo", "v=spf1 foo", "v=spf1 -foo:bar.example.com",
    "v=spf1 redirect:other.example.com",             # redirect is a modifier
    "v=spf1 moo.cow/far_out=man:dog/cat -all",
    "v=spf1 moo.cow:far_out=man:dog/cat -all",
    # domain-specs end in a macro or "." toplabel
    "v=spf1 a:museum", "v=spf1 a:museum.", "v=spf1 a:abc.123", "v=spf1 a:111.222.33.44",
    "v=spf1 a:example.-com", "v=spf1 a:example.com-", "v=spf1 a:example.com:8080",
    "v=spf1 mx:abc.123", "v=spf1 mx:example.com:8080", "v=spf1 a:foo.com..",
    "v=spf1 a:%{d}com", "v=spf1 a:%{d}. -all",       # "." must come before a toplabel
    # empty domain-specs
    "v=spf1 a:", "v=spf1 mx: -all", "v=spf1 ptr:", "v=spf1 include:", "v=spf1 exists:",
    "v=spf1 include", "v=spf1 include +all", "v=spf1 exists",
    # cidr-lengths
    "v=spf1 a/33", "v=spf1 a//129", "v=spf1 a/24/64", "v=spf1 a/032", "v=spf1 a/",
    "v=spf1 mx/33 -all", "v=spf1 mx//129 -all", "v=spf1 mx/-1", "v=spf1 a:foo.com//",
    "v=spf1 ptr/0 -all", "v=spf1 include:example.net/24 -all",
    "v=spf1 exists:mail.example.com/24", "v=spf1 ip4:192.0.2.10/33",
    "v=spf1 ip4:192.0.2.10/032", "v=spf1 ip4:192.0.2.10//32", "v=spf1 ip6:::1.1.1.1/129",
    "v=spf1 ip6:::1.1.1.1//33", "v=spf1 ip6:2001:db8::/064",
    # addresses
    "v=spf1 ip4", "v=spf1 ip4:", "v=spf1 ip4:192.0.2", "v=spf1 ip4:192.0.2.10:8080",
    "v=spf1 ip4:192.0.2.010", "v=spf1 ip4:192.0.2.256", "v=spf1 ip4:2001:db8::1",
    "v=spf1 -all ip6", "v=spf1 ip6::CAFE::BABE", "v=spf1 ip6:192.0.2.10",
    "v=spf1 ip6:fe80::1%eth0", "v=spf1 ip4/24",
    # modifiers
    "v=spf1 exp= -all", "v=spf1 exp=-all", "v=spf1 redirect=", "v=spf1 ?all redirect=",
    "v=spf1 redirect=-all ?all",
    "v=spf1 redirect=a.example.com -all redirect=a.example.com",
    "v=spf1 exp=a.example.com -all exp=b.example.com",
    "v=spf1 -all foo=%abc", "v=spf1 -all foo=%", "v=spf1 -all foo=%{x}",
    # macros
    "v=spf1 a:%{a}.example.com -all", "v=spf1 a:%{d0}.example.com",
    "v=spf1 -exists:%(ir).sbl.example.com ?all", "v=spf1 exists:foo%(ir).sbl.example.com",
    "v=spf1 exists:foo%.sbl.example.com ?all", "v=spf1 a:example.com%",
    "v=spf1 a:%{d.example.com", "v=spf1 a:%{dx}.example.com", "v=spf1 a:%{d1r2}.x.com",
    "v=spf1 a:%{c}.example.com", "v=spf1 exists:%{r}.example.com",
    "v=spf1 a:%{t}.example.com", "v=spf1 -all exp=%{r}.example.com",
    # characters outside visible ASCII
    "v=spf1 \udc80a:example.net -all", "v=spf1 a:example.net \udc96all",
    "v=spf1 a:\udcef\udcbb\udcbfgarbage.example.net -all", "v=spf1 a:bücher.example",
    "v=spf1 a:foo\tbar.example.com", "v=spf1 ip4:192.0.2.10\t-all",
])
def test_syntax_errors_are_permerror(record):
    got = check({"example.com": record, "a.example.com": "v=spf1 -all"})
    assert got["result"] == "permerror", got
    assert got["reason"].startswith("syntax error in the SPF record of example.com: ")


@pytest.mark.parametrize("record,want", [
    ("v=spf1 moo.cow-far_out=man:dog/cat ip4:192.0.2.10 -all", "pass"),
    ("v=spf1 default=+", "neutral"),                   # unknown modifiers are ignored
    ("v=spf1 default=pass", "neutral"),
    ("v=spf1 -all foo=%{c}%{r}%{t}%%%_%-", "fail"),   # with valid macro syntax
    ("v=spf1 ip4:192.0.2.10 foo=bar.example.com -all", "pass"),
    ("V=SPF1 IP4:192.0.2.10 -ALL", "pass"),
    ("v=spf1   ip4:192.0.2.10     -all   ", "pass"),    # spaces between and after
    ("v=spf1 a:foo:bar/baz.example.com -all", "pass"),  # ':' and '/' in a domain-spec
    ("v=spf1 a:foo.example.xn--zckzah -all", "pass"),   # a dash in a top label
    ("v=spf1 a:foo.example.com. -all", "pass"),         # a final dot
    ("v=spf1 a:foo%%.example.com -all", "fail"),
    ("v=spf1 a:%{d}%% -all", "fail"),                   # ends in a macro-expand
    ("v=spf1 REDIRECT=foo.example.com", "pass"),
    ("v=spf1 ip4:192.0.2.10/32 ip6:::/0 ip4:0.0.0.0/0", "pass"),
    ("v=spf1 a/0 a//0 a/0//0 mx/24//64 -all", "pass"),
])
def test_valid_syntax(record, want):
    zone = {"example.com": {"txt": [record], "a": ["198.51.100.1"], "mx": ["0 ."]},
            "foo.example.com": {"txt": ["v=spf1 ip4:192.0.2.10 -all"],
                                "a": ["192.0.2.10"]},
            "foo:bar/baz.example.com": {"a": ["192.0.2.10"]},
            "foo.example.xn--zckzah": {"a": ["192.0.2.10"]}}
    assert result(zone) == want


def test_the_whole_record_is_checked_before_anything_is_looked_up():
    backend = use({"example.com": "v=spf1 include:other.example.com a ip4:bad -all",
                   "other.example.com": "v=spf1 +all"})
    assert spf_query("192.0.2.10", "mail.example.com", "u@example.com")["result"] \
        == "permerror"
    assert asked(backend) == ["example.com"]


def test_an_included_records_syntax_error_is_a_permerror_naming_it():
    got = check({"example.com": "v=spf1 include:other.example.com -all",
                 "other.example.com": "v=spf1 ip4:192.0.2.300"})
    assert got == {"result": "permerror", "reason":
                   "syntax error in the SPF record of other.example.com: "
                   "invalid address in 'ip4:192.0.2.300'"}


# ============================================================ all and qualifiers

@pytest.mark.parametrize("record,want", [
    ("v=spf1 all", "pass"), ("v=spf1 +all", "pass"), ("v=spf1 -all", "fail"),
    ("v=spf1 ~all", "softfail"), ("v=spf1 ?all", "neutral"),
    ("v=spf1 all -all", "pass"),                        # the first match decides
    ("v=spf1 -ip4:192.0.2.10 +all", "fail"), ("v=spf1 ~ip4:192.0.2.10 +all", "softfail"),
    ("v=spf1 ?ip4:192.0.2.10 -all", "neutral"), ("v=spf1 +ip4:192.0.2.10 -all", "pass"),
    ("v=spf1 ip4:192.0.2.99", "neutral"),               # no match: neutral
])
def test_qualifiers_and_all(record, want):
    assert result({"example.com": record}) == want


def test_the_default_result_says_nothing_matched():
    assert check({"example.com": "v=spf1 ip4:192.0.2.99"}) == {
        "result": "neutral", "reason": "no mechanism matched in the SPF record of "
                                       "example.com"}


def test_mechanisms_after_all_are_not_evaluated():
    backend = use({"example.com": "v=spf1 ~all a:x.example.com include:y.example.com"})
    assert spf_query("192.0.2.10", "h.example.com", "u@example.com")["result"] == \
        "softfail"
    assert asked(backend) == ["example.com"]


# ============================================================ ip4 and ip6

@pytest.mark.parametrize("record,ip,want", [
    ("v=spf1 ip4:192.0.2.10 -all", "192.0.2.10", "pass"),
    ("v=spf1 ip4:192.0.2.10 -all", "192.0.2.11", "fail"),          # /32 by default
    ("v=spf1 ip4:192.0.2.0/24 -all", "192.0.2.255", "pass"),
    ("v=spf1 ip4:192.0.2.77/24 -all", "192.0.2.1", "pass"),        # host bits ignored
    ("v=spf1 ip4:192.0.2.0/24 -all", "192.0.3.0", "fail"),
    ("v=spf1 ip4:192.0.2.128/25 -all", "192.0.2.127", "fail"),
    ("v=spf1 ip4:1.1.1.1/0 -all", "203.0.113.9", "pass"),
    ("v=spf1 ip4:1.1.1.1/0 -all", "2001:db8::1", "fail"),          # not for IPv6
    ("v=spf1 ip6:2001:db8::1 -all", "2001:db8::1", "pass"),
    ("v=spf1 ip6:2001:db8::1 -all", "2001:db8::2", "fail"),        # /128 by default
    ("v=spf1 ip6:CAFE:BABE:8000::/33 -all", "cafe:babe:8000::", "pass"),
    ("v=spf1 ip6:CAFE:BABE:8000::/33 -all", "cafe:babe:7fff::", "fail"),
    ("v=spf1 ip6:::1.1.1.1/0", "deaf:babe::cab:fee", "pass"),
    ("v=spf1 ip6:::1.1.1.1/0", "192.0.2.10", "neutral"),           # not for IPv4
    ("v=spf1 ip6:CAFE:BABE:8000::/33", "192.0.2.10", "neutral"),
    # An IPv4-mapped IPv6 client is an IPv4 client.
    ("v=spf1 -ip4:192.0.2.10 ip6:::FFFF:192.0.2.10", "::ffff:192.0.2.10", "fail"),
    ("v=spf1 ip6:::/0", "::FFFF:192.0.2.10", "neutral"),
    ("v=spf1 ip4:192.0.2.0/24 -all", "::ffff:c000:020a", "pass"),
])
def test_ip4_and_ip6(record, ip, want):
    assert result({"example.com": record}, ip=ip) == want


# ============================================================ a

A_ZONE = {
    "foo.example.com": {"a": ["198.51.100.1", "192.0.2.10"]},
    "v6.example.com": {"a": ["198.51.100.1"], "aaaa": ["2001:db8::1"]},
    "dual.example.com": {"a": ["192.0.2.5"], "aaaa": ["2001:db8:1234::dead:beef"]},
    "v4only.example.com": {"a": ["192.0.2.10"]},
    "v6only.example.com": {"aaaa": ["2001:db8::10"]},
    "broken.example.com": "SERVFAIL",
    "many.example.com": {"a": [f"192.0.2.{i}" for i in range(20, 33)]},
}


@pytest.mark.parametrize("record,ip,want", [
    ("v=spf1 a -all", "192.0.2.10", "pass"),                        # the current domain
    ("v=spf1 a -all", "192.0.2.11", "fail"),
    ("v=spf1 a:foo.example.com -all", "192.0.2.10", "pass"),        # any returned address
    ("v=spf1 a:foo.example.com -all", "198.51.100.1", "pass"),
    ("v=spf1 a:FOO.Example.COM -all", "198.51.100.1", "pass"),
    ("v=spf1 a:foo.example.com/24 -all", "192.0.2.99", "pass"),
    ("v=spf1 a:foo.example.com -all", "192.0.2.99", "fail"),
    ("v=spf1 a:v6.example.com -all", "2001:db8::1", "pass"),        # AAAA for IPv6
    ("v=spf1 a:v6.example.com -all", "198.51.100.1", "pass"),
    ("v=spf1 a:v6.example.com/0 -all", "2001:db8::2", "fail"),      # cidr4 is not for v6
    ("v=spf1 a:v6.example.com//64 -all", "2001:db8::2", "pass"),
    ("v=spf1 a:dual.example.com/24//64 -all", "192.0.2.200", "pass"),
    ("v=spf1 a:dual.example.com/24//64 -all", "2001:db8:1234::cafe:babe", "pass"),
    ("v=spf1 a:dual.example.com//64 -all", "192.0.2.200", "fail"),  # /32 for IPv4
    ("v=spf1 a:dual.example.com/24 -all", "2001:db8:1234::cafe:babe", "fail"),
    ("v=spf1 a:v4only.example.com/0 -all", "2001:db8::1", "fail"),  # no AAAA, even /0
    ("v=spf1 a:v4only.example.com//0 -all", "2001:db8::1", "fail"),
    ("v=spf1 a:v6only.example.com/0 -all", "192.0.2.1", "fail"),    # no A, even /0
    ("v=spf1 a:v6only.example.com//0 -all", "2001:db8:ffff::1", "pass"),
    ("v=spf1 a:v6only.example.com//0 -all", "::ffff:192.0.2.1", "fail"),  # mapped: v4
    ("v=spf1 a:nowhere.example.com/0 -all", "192.0.2.1", "fail"),   # NXDOMAIN: no match
    ("v=spf1 a:many.example.com -all", "192.0.2.32", "pass"),       # no limit on A RRs
    ("v=spf1 a:broken.example.com -all", "192.0.2.10", "temperror"),
])
def test_a(record, ip, want):
    zone = dict(A_ZONE, **{"example.com": {"txt": [record], "a": ["192.0.2.10"]}})
    assert result(zone, ip=ip) == want


def test_a_dns_error_in_a_says_which_lookup():
    got = check(dict(A_ZONE, **{"example.com": "v=spf1 a:broken.example.com -all"}))
    assert got == {"result": "temperror", "reason": "DNS error SERVFAIL looking up the A "
                                                    "records of broken.example.com"}


# ============================================================ mx

MX_ZONE = {
    "mx1.example.com": {"a": ["192.0.2.129"], "aaaa": ["2001:db8::129"]},
    "mx2.example.com": {"a": ["192.0.2.130"]},
    "v6mx.example.com": {"aaaa": ["2001:db8::25"]},
    "other.example": {"mx": ["10 mx2.example.com."]},
    "a-only.example": {"a": ["192.0.2.10"]},                  # no MX
    "null.example": {"mx": ["0 ."], "a": ["192.0.2.10"]},
    "lame.example": {"mx": ["10 broken.example.com"]},
    "broken.example.com": "SERVFAIL",
    "mxfail.example": "TRY_AGAIN",
    "v6.example": {"mx": ["10 v6mx.example.com"]},
    "ten.example": {"mx": [f"{i} mx{i}.ten.example" for i in range(9)]
                          + ["9 mx2.example.com"]},
    "eleven.example": {"mx": [f"{i} mx2.example.com" for i in range(11)]},
}


@pytest.mark.parametrize("record,ip,want", [
    ("v=spf1 mx -all", "192.0.2.129", "pass"),
    ("v=spf1 mx -all", "192.0.2.130", "pass"),
    ("v=spf1 mx -all", "192.0.2.131", "fail"),
    ("v=spf1 mx/30 -all", "192.0.2.131", "pass"),
    ("v=spf1 mx/31 -all", "192.0.2.132", "fail"),
    ("v=spf1 mx -all", "2001:db8::129", "pass"),
    ("v=spf1 mx//120 -all", "2001:db8::1ab", "pass"),
    ("v=spf1 mx/0 -all", "2001:db8:ffff::1", "fail"),
    ("v=spf1 mx:other.example -all", "192.0.2.130", "pass"),
    ("v=spf1 mx:other.example -all", "192.0.2.129", "fail"),
    ("v=spf1 mx:a-only.example -all", "192.0.2.10", "fail"),     # no implicit MX
    ("v=spf1 mx:a-only.example/0 -all", "192.0.2.10", "fail"),
    ("v=spf1 mx:null.example/0 -all", "192.0.2.10", "fail"),     # a null MX
    ("v=spf1 mx:nowhere.example/0 -all", "192.0.2.10", "fail"),
    ("v=spf1 mx:v6.example -all", "2001:db8::25", "pass"),
    ("v=spf1 mx:v6.example//0 -all", "::ffff:192.0.2.10", "fail"),
    ("v=spf1 mx:ten.example -all", "192.0.2.130", "pass"),       # 10 MX are fine
    ("v=spf1 mx:eleven.example -all", "192.0.2.130", "permerror"),   # 11 are not
    ("v=spf1 mx:lame.example -all", "192.0.2.10", "temperror"),
    ("v=spf1 mx:mxfail.example -all", "192.0.2.10", "temperror"),
])
def test_mx(record, ip, want):
    zone = dict(MX_ZONE, **{"example.com": {
        "txt": [record], "mx": ["10 mx1.example.com", "20 mx2.example.com"]}})
    assert result(zone, ip=ip) == want


def test_more_than_ten_mx_records_say_so():
    got = check(dict(MX_ZONE, **{"example.com": "v=spf1 mx:eleven.example -all"}))
    assert got["reason"] == ("eleven.example has more than 10 MX records "
                             "('mx:eleven.example' in the SPF record of example.com)")


def test_mx_looks_up_the_hosts_and_not_the_domain():
    backend = use(dict(MX_ZONE, **{"example.com": "v=spf1 mx:other.example -all"}))
    spf_query("192.0.2.10", "h.example.com", "u@example.com")
    assert backend.queries == [("example.com", "txt"), ("other.example", "mx"),
                               ("mx2.example.com", "a")]


# ============================================================ ptr

# RFC 7208 Appendix B.1's zone.
B1 = {
    "example.com": {"mx": ["10 mail-a.example.com", "20 mail-b.example.com"],
                    "a": ["192.0.2.10", "192.0.2.11"]},
    "amy.example.com": {"a": ["192.0.2.65"]},
    "bob.example.com": {"a": ["192.0.2.66"]},
    "mail-a.example.com": {"a": ["192.0.2.129"]},
    "mail-b.example.com": {"a": ["192.0.2.130"]},
    "www.example.com": {"cname": ["example.com"]},
    "example.org": {"mx": ["10 mail-c.example.org"]},
    "mail-c.example.org": {"a": ["192.0.2.140"]},
    "10.2.0.192.in-addr.arpa": {"ptr": ["example.com"]},
    "11.2.0.192.in-addr.arpa": {"ptr": ["example.com"]},
    "65.2.0.192.in-addr.arpa": {"ptr": ["amy.example.com"]},
    "66.2.0.192.in-addr.arpa": {"ptr": ["bob.example.com"]},
    "129.2.0.192.in-addr.arpa": {"ptr": ["mail-a.example.com"]},
    "130.2.0.192.in-addr.arpa": {"ptr": ["mail-b.example.com"]},
    "140.2.0.192.in-addr.arpa": {"ptr": ["mail-c.example.org"]},
    "4.0.0.10.in-addr.arpa": {"ptr": ["bob.example.com"]},
}


def b1(record):
    return dict(B1, **{"example.com": dict(B1["example.com"], txt=[record])})


@pytest.mark.parametrize("record,passing,failing", [
    ("v=spf1 +all", ["192.0.2.10", "198.51.100.1", "2001:db8::1"], []),
    ("v=spf1 a -all", ["192.0.2.10", "192.0.2.11"], ["192.0.2.65", "192.0.2.129"]),
    ("v=spf1 a:example.org -all", [], ["192.0.2.140", "192.0.2.10"]),
    ("v=spf1 mx -all", ["192.0.2.129", "192.0.2.130"], ["192.0.2.10", "192.0.2.140"]),
    ("v=spf1 mx:example.org -all", ["192.0.2.140"], ["192.0.2.129"]),
    ("v=spf1 mx mx:example.org -all", ["192.0.2.129", "192.0.2.130", "192.0.2.140"],
     ["192.0.2.10"]),
    ("v=spf1 mx/30 mx:example.org/30 -all",
     ["192.0.2.128", "192.0.2.131", "192.0.2.140", "192.0.2.143"],
     ["192.0.2.132", "192.0.2.139", "192.0.2.144"]),
    ("v=spf1 ptr -all",
     ["192.0.2.10", "192.0.2.11", "192.0.2.65", "192.0.2.66", "192.0.2.129",
      "192.0.2.130"],
     ["192.0.2.140", "10.0.0.4", "192.0.2.1"]),
    ("v=spf1 ip4:192.0.2.128/28 -all", ["192.0.2.128", "192.0.2.143"],
     ["192.0.2.127", "192.0.2.144", "192.0.2.65"]),
])
def test_appendix_b1_simple_examples(record, passing, failing):
    zone = b1(record)
    for ip in passing:
        assert result(zone, ip=ip) == "pass", ip
    for ip in failing:
        assert result(zone, ip=ip) == "fail", ip


def test_appendix_b4_multiple_requirements():
    # Only hosts in 192.0.2.0/24 whose name validates in example.com may send.
    zone = dict(b1("v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all"), **{
        "ip4._spf.example.com": "v=spf1 -ip4:192.0.2.0/24 +all",
        "ptr._spf.example.com": "v=spf1 -ptr:example.com +all"})
    for ip in ["192.0.2.10", "192.0.2.65", "192.0.2.130"]:
        assert result(zone, ip=ip) == "pass", ip
    for ip in ["192.0.2.140", "10.0.0.4", "192.0.2.1", "198.51.100.1"]:
        assert result(zone, ip=ip) == "fail", ip


PTR_ZONE = {
    "4.3.2.1.in-addr.arpa": {"ptr": ["e3.example.com", "e4.example.com",
                                     "mail.example.com"]},
    "e3.example.com": {"a": ["1.2.3.4"], "aaaa": ["cafe:babe::1"]},
    "mail.example.com": {"a": ["1.2.3.4"]},
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.e.b.a.b.e.f.a.c.ip6.arpa": {
        "ptr": ["e3.example.com"]},
    "5.3.2.1.in-addr.arpa": {"ptr": ["unrelated.example.net", "v5.example.com"]},
    "v5.example.com": {"a": ["1.2.3.5"]},
    "6.3.2.1.in-addr.arpa": "SERVFAIL",
    "7.3.2.1.in-addr.arpa": {"ptr": ["broken.example.com", "ok.example.com"]},
    "broken.example.com": "SERVFAIL",
    "ok.example.com": {"a": ["1.2.3.7"]},
    "8.3.2.1.in-addr.arpa": {"ptr": [f"h{i}.example.com" for i in range(10)]
                                    + ["ok8.example.com"]},
    "ok8.example.com": {"a": ["1.2.3.8"]},
    "9.3.2.1.in-addr.arpa": {"ptr": ["e3.example.com."]},
    "e9.example.com": {"a": ["1.2.3.9"]},
}


@pytest.mark.parametrize("record,ip,want", [
    ("v=spf1 ptr -all", "1.2.3.4", "fail"),            # e4 does not validate
    ("v=spf1 ptr:e3.example.com -all", "1.2.3.4", "pass"),
    ("v=spf1 ptr:example.com -all", "1.2.3.4", "pass"),  # a subdomain of the target
    ("v=spf1 ptr:EXAMPLE.com -all", "1.2.3.4", "pass"),
    ("v=spf1 ptr:ample.com -all", "1.2.3.4", "fail"),    # label-wise
    ("v=spf1 ptr:e4.example.com -all", "1.2.3.4", "fail"),
    ("v=spf1 ptr:example.com -all", "cafe:babe::1", "pass"),    # ip6.arpa, AAAA
    ("v=spf1 ptr:example.com -all", "1.2.3.5", "pass"),
    ("v=spf1 ptr:example.net -all", "1.2.3.5", "fail"),  # the name does not validate
    ("v=spf1 ptr:example.com -all", "1.2.3.6", "fail"),  # PTR error: no match
    ("v=spf1 ptr:example.com -all", "1.2.3.7", "pass"),  # an A error skips that name
    ("v=spf1 ptr:example.com -all", "1.2.3.8", "fail"),  # the 11th PTR is not used
    ("v=spf1 ptr:example.com -all", "1.2.3.99", "fail"),  # no PTR at all
    ("v=spf1 ptr:example.com -all", "1.2.3.9", "fail"),
])
def test_ptr(record, ip, want):
    zone = dict(PTR_ZONE, **{"e4.example.com": record, "example.com": record})
    assert result(zone, ip=ip, sender="u@e4.example.com") == want


def test_ptr_uses_the_current_domain_by_default():
    zone = dict(PTR_ZONE, **{"e3.example.com": dict(PTR_ZONE["e3.example.com"],
                                                    txt=["v=spf1 ptr -all"])})
    assert result(zone, ip="1.2.3.4", sender="u@e3.example.com") == "pass"
    assert result(zone, ip="cafe:babe::1", sender="u@e3.example.com") == "pass"


# ============================================================ exists

EXISTS_ZONE = {
    "mail.example.com": {"a": ["192.0.2.1"]},
    "mail6.example.com": {"aaaa": ["cafe:babe::4"]},
    "err.example.com": "TRY_AGAIN",
    "10.2.0.192.bl.example.net": {"a": ["127.0.0.2"]},
}


@pytest.mark.parametrize("record,ip,want", [
    ("v=spf1 exists:mail.example.com -all", "192.0.2.10", "pass"),
    ("v=spf1 exists:mail.example.com -all", "cafe:babe::3", "pass"),  # A also for v6
    ("v=spf1 exists:mail6.example.com -all", "cafe:babe::3", "fail"),
    ("v=spf1 exists:nowhere.example.com -all", "192.0.2.10", "fail"),
    ("v=spf1 exists:err.example.com -all", "cafe:babe::3", "temperror"),
    ("v=spf1 -exists:%{ir}.bl.example.net mx ?all", "192.0.2.10", "fail"),  # DNSBL style
    ("v=spf1 -exists:%{ir}.bl.example.net ?all", "192.0.2.11", "neutral"),
])
def test_exists(record, ip, want):
    assert result(dict(EXISTS_ZONE, **{"example.com": record}), ip=ip) == want


# ============================================================ include

INCLUDE_ZONE = {
    "pass.example.net": "v=spf1 ip4:192.0.2.10 -all",
    "fail.example.net": "v=spf1 -ip4:192.0.2.10 +all",
    "softfail.example.net": "v=spf1 ~all",
    "neutral.example.net": "v=spf1 ?all",
    "default.example.net": "v=spf1 ip4:198.51.100.1",
    "norecord.example.net": {"txt": ["v=spfl am not an SPF record"]},
    "servfail.example.net": "SERVFAIL",
    "timeout.example.net": "TRY_AGAIN",
    "broken.example.net": "v=spf1 include:servfail.example.net -all",
    "syntax.example.net": "v=spf1 include +all",
    "perm.example.net": "v=spf1 include:syntax.example.net",
    "two.example.net": {"txt": ["v=spf1 +all", "v=spf1 -all"]},
}


@pytest.mark.parametrize("target,want", [
    ("pass.example.net", "pass"),           # pass: the include matches
    ("fail.example.net", "softfail"),       # fail, softfail, neutral: no match
    ("softfail.example.net", "softfail"),
    ("neutral.example.net", "softfail"),
    ("default.example.net", "softfail"),
    ("norecord.example.net", "permerror"),  # none: permerror
    ("nowhere.example.net", "permerror"),
    ("servfail.example.net", "temperror"),  # temperror and permerror go on
    ("timeout.example.net", "temperror"),
    ("broken.example.net", "temperror"),
    ("syntax.example.net", "permerror"),
    ("perm.example.net", "permerror"),
    ("two.example.net", "permerror"),
    ("%{h}", "permerror"),                  # not a domain name: none, so permerror
])
def test_include_results(target, want):
    zone = dict(INCLUDE_ZONE, **{"example.com": f"v=spf1 include:{target} ~all"})
    assert result(zone, helo="OEMCOMPUTER") == want


def test_an_include_of_no_record_says_so():
    got = check(dict(INCLUDE_ZONE, **{"example.com":
                                      "v=spf1 include:norecord.example.net ~all"}))
    assert got == {"result": "permerror", "reason": "'include:norecord.example.net' in "
                   "the SPF record of example.com: norecord.example.net has no SPF record"}


def test_an_included_record_sees_its_own_domain_and_the_senders():
    zone = {"example.com": "v=spf1 include:_spf.example.com -all",
            "_spf.example.com": "v=spf1 exists:%{d}.%{o}.%{l}.x.example.com",
            "_spf.example.com.example.com.user.x.example.com": {"a": ["127.0.0.2"]}}
    assert result(zone) == "pass"


def test_include_qualifiers_apply_to_the_match():
    zone = dict(INCLUDE_ZONE, **{"example.com": "v=spf1 -include:pass.example.net +all"})
    assert result(zone) == "fail"
    assert result(zone, ip="192.0.2.11") == "pass"


# ============================================================ redirect

REDIRECT_ZONE = {
    "target.example.net": "v=spf1 ip4:192.0.2.10 -all",
    "norecord.example.net": {"a": ["192.0.2.10"]},
    "servfail.example.net": "SERVFAIL",
}


@pytest.mark.parametrize("record,ip,want", [
    ("v=spf1 redirect=target.example.net", "192.0.2.10", "pass"),
    ("v=spf1 redirect=target.example.net", "192.0.2.11", "fail"),
    # redirect comes after all the mechanisms, wherever it is written
    ("v=spf1 redirect=target.example.net ip4:192.0.2.11", "192.0.2.11", "pass"),
    ("v=spf1 ip4:192.0.2.11 redirect=target.example.net", "192.0.2.12", "fail"),
    # a record with all never redirects, even past the lookup limit
    ("v=spf1 redirect=example.com ~all", "192.0.2.10", "softfail"),
    ("v=spf1 redirect=norecord.example.net", "192.0.2.10", "permerror"),
    ("v=spf1 redirect=nowhere.example.net", "192.0.2.10", "permerror"),
    ("v=spf1 redirect=servfail.example.net", "192.0.2.10", "temperror"),
    ("v=spf1 redirect=%{h}", "192.0.2.10", "permerror"),         # HELO: not a domain
    ("v=spf1 redirect=example.com", "192.0.2.10", "permerror"),  # a loop: the limit
    ("v=spf1 redirect=%{d}.d.spf.example.com.", "192.0.2.10", "pass"),
])
def test_redirect(record, ip, want):
    zone = dict(REDIRECT_ZONE, **{
        "example.com": record,
        "example.com.d.spf.example.com": "v=spf1 redirect=a.spf.example.com",
        "a.spf.example.com": "v=spf1 include:o.spf.example.com. ~all",
        "o.spf.example.com": "v=spf1 ip4:192.0.2.10"})
    assert result(zone, ip=ip, helo="OEMCOMPUTER") == want


def test_redirect_to_no_record_says_so():
    got = check(dict(REDIRECT_ZONE, **{"example.com":
                                       "v=spf1 redirect=norecord.example.net"}))
    assert got == {"result": "permerror",
                   "reason": "redirect= of example.com: norecord.example.net has no SPF "
                             "record"}


# ============================================================ exp

EXP_ZONE = {
    "exp.example.com": "%{i} is not one of %{d}'s designated mail servers.",
    "exp1.example.com": "No-see-um",
    "exp2.example.com": "See me.",
    "exp3.example.com": "Correct!",
    "twoexp.example.com": {"txt": ["one", "two"]},
    "badexp.example.com": {"txt": ["\udcef\udcbb\udcbfExplanation"]},
    "syntaxexp.example.com": "The %{x}-files.",
    "tabexp.example.com": "a\tb",
    "timeout.example.com": "TRY_AGAIN",
    "noexp.example.com": {"a": ["192.0.2.1"]},
    "trailing.example.com": "This is a test.",
    "e1.example.com": "v=spf1 exp=exp1.example.com redirect=e2.example.com",
    "e2.example.com": "v=spf1 -all",
    "e3.example.com": "v=spf1 exp=exp1.example.com redirect=e4.example.com",
    "e4.example.com": "v=spf1 -all exp=exp2.example.com",
}


@pytest.mark.parametrize("record,explanation", [
    ("v=spf1 -all exp=exp.example.com",
     "192.0.2.10 is not one of example.com's designated mail servers."),
    ("v=spf1 exp=exp.example.com -all",
     "192.0.2.10 is not one of example.com's designated mail servers."),
    ("v=spf1 -all exp=trailing.example.com.", "This is a test."),
    ("v=spf1 -all exp=twoexp.example.com", None),        # several TXT: ignored
    ("v=spf1 -all exp=badexp.example.com", None),        # not US-ASCII
    ("v=spf1 -all exp=syntaxexp.example.com", None),     # a syntax error in the text
    ("v=spf1 -all exp=tabexp.example.com", None),
    ("v=spf1 -all exp=timeout.example.com", None),       # a DNS error
    ("v=spf1 -all exp=noexp.example.com", None),         # no TXT record
    ("v=spf1 -all exp=nowhere.example.com", None),       # NXDOMAIN
    ("v=spf1 -all exp=%{l}x.example.com", None),         # no such name
    ("v=spf1 -all", None),                               # OUR DECISION: no default
])
def test_exp(record, explanation):
    got = check(dict(EXP_ZONE, **{"example.com": record}))
    assert got["result"] == "fail"
    assert got.get("explanation") == explanation


@pytest.mark.parametrize("record", ["v=spf1 ~all exp=exp1.example.com",
                                    "v=spf1 ?all exp=exp1.example.com",
                                    "v=spf1 +all exp=exp1.example.com"])
def test_only_a_fail_has_an_explanation(record):
    backend = use(dict(EXP_ZONE, **{"example.com": record}))
    assert "explanation" not in spf_query("192.0.2.10", "h.example.com", "u@example.com")
    assert asked(backend) == ["example.com"]


@pytest.mark.parametrize("sender,explanation", [
    ("u@e1.example.com", None),          # redirect: the original's exp is not used
    ("u@e3.example.com", "See me."),     # but the target's is
    ("u@e7.example.com", "Correct!"),    # include: the included exp= is not used
])
def test_exp_through_redirect_and_include(sender, explanation):
    zone = dict(EXP_ZONE, **{
        "e7.example.com": "v=spf1 include:e3.example.com -all exp=exp3.example.com"})
    got = check(zone, sender=sender)
    assert got["result"] == "fail"
    assert got.get("explanation") == explanation


def test_exp_lookups_count_against_no_limit():
    # Ten DNS terms and two void lookups, then a fail with an exp= at a void name and
    # one at a real one: neither the 11th lookup nor the 3rd void lookup.
    record = ("v=spf1 a:nx1.example.com a:nx2.example.com" + " a" * 8
              + " -all exp=%{d}.msg.example.com")
    zone = {"example.com": {"txt": [record], "a": ["198.51.100.1"]},
            "example.com.msg.example.com": "Rejected: %{i}"}
    got = check(zone)
    assert got == {"result": "fail", "reason": "'-all' matched in the SPF record of "
                   "example.com", "explanation": "Rejected: 192.0.2.10"}
    zone["example.com"]["txt"] = [record.replace("%{d}.msg", "nxmsg")]
    assert check(zone)["result"] == "fail"


# ============================================================ macros

# RFC 7208 section 7.4's examples.
MACRO_SENDER = "strong-bad@email.example.com"
MACRO_CASES = [
    ("%{s}", "strong-bad@email.example.com"),
    ("%{o}", "email.example.com"),
    ("%{d}", "email.example.com"),
    ("%{d4}", "email.example.com"),
    ("%{d3}", "email.example.com"),
    ("%{d2}", "example.com"),
    ("%{d1}", "com"),
    ("%{dr}", "com.example.email"),
    ("%{d2r}", "example.email"),
    ("%{l}", "strong-bad"),
    ("%{l-}", "strong.bad"),
    ("%{lr}", "strong-bad"),
    ("%{lr-}", "bad.strong"),
    ("%{l1r-}", "strong"),
    ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
    ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
    ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
    ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
    ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
    # more of the same
    ("%{i}", "192.0.2.3"),
    ("%{c}", "192.0.2.3"),
    ("%{v}", "in-addr"),
    ("%{h}", "mail.example.org"),
    ("%{d99}", "email.example.com"),
    ("%{d2r-}", "email.example.com"),          # no "-" in it: one part
    ("%{D}", "email.example.com"),
    ("%{S}", "strong-bad%40email.example.com"),  # uppercase: URL-escaped
    ("%{L-}", "strong.bad"),
    ("%%%_%-", "% %20"),
    ("a  b", "a  b"),                            # spaces are kept in an explanation
    ("100%% %{l}.", "100% strong-bad."),         # and so is a final dot
]


@pytest.mark.parametrize("text,expansion", MACRO_CASES)
def test_macro_expansion_in_an_explanation(text, expansion):
    zone = {"email.example.com": "v=spf1 -all exp=why.example.com",
            "why.example.com": text}
    got = check(zone, ip="192.0.2.3", sender=MACRO_SENDER, helo="mail.example.org")
    assert got["explanation"] == expansion


def test_the_ipv6_examples_of_section_7_4():
    backend = use({"email.example.com": "v=spf1 exists:%{ir}.%{v}._spf.%{d2} "
                                        "-all exp=why.example.com",
                   "why.example.com": "%{i} %{c} %{v}"})
    got = spf_query("2001:db8::cb01", "mail.example.org", MACRO_SENDER)
    assert got["explanation"] == ("2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"
                                  ".c.b.0.1 2001:db8::cb01 ip6")
    assert asked(backend)[1] == ("1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0."
                                 "1.0.0.2.ip6._spf.example.com")


def test_an_ipv4_mapped_client_expands_as_ipv4():
    zone = {"email.example.com": "v=spf1 -all exp=why.example.com",
            "why.example.com": "%{i} %{c} %{v} %{ir}"}
    got = check(zone, ip="::ffff:192.0.2.3", sender=MACRO_SENDER)
    assert got["explanation"] == "192.0.2.3 192.0.2.3 in-addr 3.2.0.192"


@pytest.mark.parametrize("delimiter", list(".-+,/_="))
def test_every_delimiter(delimiter):
    zone = {"example.com": "v=spf1 -all exp=why.example.com",
            "why.example.com": "%{l1r" + delimiter + "} %{l" + delimiter + "}"}
    got = check(zone, sender=f"first{delimiter}second{delimiter}third@example.com")
    assert got["explanation"] == "first first.second.third"


def test_several_delimiters_and_transformers():
    zone = {"example.com": "v=spf1 -all exp=why.example.com",
            "why.example.com": "%{l2r+-} %{lr+-} %{l1+-} %{l3} %{L2r+-}"}
    got = check(zone, sender="foo-bar+zip+quux@example.com")
    assert got["explanation"] == "bar.foo quux.zip.bar.foo quux foo-bar+zip+quux bar.foo"


def test_uppercase_macros_escape_all_but_unreserved_characters():
    zone = {"example.com": "v=spf1 -all exp=msg.%{D2}",
            "msg.example.com": "http://example.com/why.html?l=%{L}"}
    got = check(zone, sender="jack&jill=up~_.-x@example.com")
    assert got["explanation"] == "http://example.com/why.html?l=jack%26jill%3Dup~_.-x"


def test_macros_in_a_domain_spec_build_the_name_asked():
    backend = use({"example.com": "v=spf1 exists:%{i}.%{l2r-}.user.%{d2} -all",
                   "192.0.2.10.gladstone.philip.user.example.com": {"a": ["127.0.0.2"]}})
    assert spf_query("192.0.2.10", "h.example.com",
                     "philip-gladstone-test@example.com")["result"] == "pass"
    assert asked(backend)[1] == "192.0.2.10.gladstone.philip.user.example.com"


def test_percent_escapes_in_a_domain_spec():
    backend = use({"example.com": "v=spf1 a:macro%%percent%_%_space%-url-space.example"
                                  ".com -all",
                   "macro%percent  space%20url-space.example.com": {"a": ["192.0.2.10"]}})
    assert spf_query("192.0.2.10", "h.example.com", "u@example.com")["result"] == "pass"
    assert asked(backend)[1] == "macro%percent  space%20url-space.example.com"


@pytest.mark.parametrize("helo,asked_name", [
    ("mail.example.com", "mail.example.com"),
    ("[192.0.2.10]", "%5B192.0.2.10%5D"),                # a literal: no syntax error
    ("JUMPIN' JUPITER", "JUMPIN%27%20JUPITER"),
])
def test_the_helo_macro(helo, asked_name):
    backend = use({"example.com": "v=spf1 a:%{H} -all",
                   "mail.example.com": {"a": ["192.0.2.10"]}})
    got = spf_query("192.0.2.10", helo, "u@example.com")
    assert got["result"] == ("pass" if helo == "mail.example.com" else "fail")
    assert asked(backend)[1].lower() == asked_name.lower()


def test_requiring_a_valid_helo():
    zone = {"example.com": "v=spf1 -include:_spfh.%{d2} ip4:192.0.2.0/24 -all",
            "_spfh.example.com": "v=spf1 -a:%{h} +all",
            "mail.example.com": {"a": ["192.0.2.10"]}}
    assert result(zone, helo="mail.example.com") == "pass"
    assert result(zone, helo="OEMCOMPUTER") == "fail"


def test_exp_only_letters_in_an_explanation():
    zone = {"example.com": "v=spf1 -all exp=why.example.com",
            "why.example.com": "%{c} %{r} %{t}"}
    before = int(time.time())
    got = check(zone, ip="2001:DB8:0:0:1:0:0:1")
    after = int(time.time())
    c, r, t = got["explanation"].split(" ")
    assert c == "2001:db8::1:0:0:1"                      # RFC 5952
    assert r == (socket.gethostname() or "unknown")
    assert before <= int(t) <= after


PTR_MACRO_ZONE = {
    "example.com": "v=spf1 -all exp=why.example.com",
    "why.example.com": "connect from %{p}",
    "41.218.168.192.in-addr.arpa": {"ptr": ["mx.example.com"]},
    "42.218.168.192.in-addr.arpa": {"ptr": ["other.example.net", "mx.example.com",
                                            "example.com"]},
    "43.218.168.192.in-addr.arpa": {"ptr": ["other.example.net", "mx.example.com"]},
    "44.218.168.192.in-addr.arpa": {"ptr": ["other.example.net"]},
    "45.218.168.192.in-addr.arpa": "SERVFAIL",
    "46.218.168.192.in-addr.arpa": {"ptr": [f"h{i}.example.com" for i in range(10)]
                                           + ["other.example.net"]},
    "3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.e.b.a.b.e.f.a.c.ip6.arpa": {
        "ptr": ["mx.example.com"]},
    "mx.example.com": {"a": ["192.168.218.41", "192.168.218.42", "192.168.218.43"],
                       "aaaa": ["cafe:babe::3"]},
    "example.com.": {"txt": ["v=spf1 -all exp=why.example.com"],
                     "a": ["192.168.218.42"]},
    "other.example.net": {"a": ["192.168.218.42", "192.168.218.43", "192.168.218.44",
                                "192.168.218.46"]},
}


@pytest.mark.parametrize("ip,name", [
    ("192.168.218.41", "mx.example.com"),
    ("192.168.218.42", "example.com"),           # the domain itself first
    ("192.168.218.43", "mx.example.com"),        # then a subdomain
    ("192.168.218.44", "other.example.net"),     # then any validated name
    ("192.168.218.45", "unknown"),               # a DNS error
    ("192.168.218.46", "unknown"),               # only the first 10 PTR names
    ("192.168.218.40", "unknown"),               # no PTR
    ("cafe:babe::3", "mx.example.com"),
    ("cafe:babe::1", "unknown"),
])
def test_the_p_macro(ip, name):
    got = check(PTR_MACRO_ZONE, ip=ip)
    assert got["explanation"] == f"connect from {name}"


def test_p_in_a_mechanism():
    record = "v=spf1 exists:%{p}.should.example.com ~exists:%{p}.ok.example.com"
    zone = {"example.com": record, "e7.example.com": record,
            "42.218.168.192.in-addr.arpa": {"ptr": ["mx.example.com", "mx.e7.example.com"]},
            "mx.example.com": {"a": ["192.168.218.42"]},
            "mx.e7.example.com": {"a": ["192.168.218.42"]},
            "mx.example.com.ok.example.com": {"a": ["127.0.0.2"]},
            "mx.e7.example.com.should.example.com": {"a": ["127.0.0.2"]}}
    assert result(zone, ip="192.168.218.42", sender="u@example.com") == "softfail"
    assert result(zone, ip="192.168.218.42", sender="u@e7.example.com") == "pass"


def test_a_long_expansion_loses_labels_on_the_left():
    sender_domain = "somewhat.long.exp.example.com"
    record = "v=spf1 -all exp=foobar" + ".%{o}" * 8 + ".example.com"
    name = ".".join([sender_domain] * 8) + ".example.com"      # 245 characters
    backend = use({sender_domain: record, name: "Congratulations!  That was tricky."})
    got = spf_query("192.0.2.10", "h.example.com", "test@" + sender_domain)
    assert got["explanation"] == "Congratulations!  That was tricky."
    assert asked(backend)[-1] == name


@pytest.mark.parametrize("record", [
    "v=spf1 a:a123456789012345678901234567890123456789012345678901234567890123"
    ".example.com -all",                                     # a label of 64
    "v=spf1 a:mail.example...com -all",                      # empty labels
    "v=spf1 a:%{l}.example.com -all",                        # not ASCII
])
def test_a_target_that_is_no_dns_name_does_not_match(record):
    backend = use({"example.com": record})
    got = spf_query("192.0.2.10", "h.example.com", "caf\u00e9@example.com")
    assert got["result"] == "fail"
    assert asked(backend) == ["example.com"]


# ============================================================ processing limits

LIMITS_ZONE = {
    "mail.example.com": {"a": ["192.0.2.4"]},
    "inc.example.com": {"txt": ["v=spf1 a a a a a a a a"], "a": ["192.0.2.100"]},
    "loop1.example.com": {"txt": ["v=spf1 include:loop2.example.com"],
                          "a": ["192.0.2.7"]},
    "loop2.example.com": {"txt": ["v=spf1 include:loop1.example.com"],
                          "a": ["192.0.2.8"]},
}


@pytest.mark.parametrize("record,want", [
    # ten DNS terms, then a match: pass; an eleventh: permerror
    ("v=spf1 a mx a mx a mx a mx a ptr ip4:192.0.2.4 -all", "pass"),
    ("v=spf1 a mx a mx a mx a mx a ptr a ip4:192.0.2.4 -all", "permerror"),
    ("v=spf1 a include:inc.example.com ip4:192.0.2.4 mx -all", "pass"),
    ("v=spf1 a include:inc.example.com a ip4:192.0.2.4 -all", "permerror"),
    ("v=spf1" + " a:inc.example.com" * 10 + " ip4:192.0.2.4", "pass"),
    ("v=spf1" + " a:inc.example.com" * 11 + " ip4:192.0.2.4", "permerror"),
    ("v=spf1 include:loop1.example.com -all", "permerror"),     # include loops end
    # ip4, ip6 and all do not count
    ("v=spf1" + " ip4:192.0.2.99" * 20 + " a" * 10 + " ip6:::1 ip4:192.0.2.4", "pass"),
])
def test_the_ten_dns_terms_limit(record, want):
    zone = dict(LIMITS_ZONE, **{"example.com": {"txt": [record], "a": ["192.0.2.8"],
                                                "mx": ["10 example.com"]}})
    assert result(zone, ip="192.0.2.4") == want


def test_the_eleventh_term_is_not_looked_up():
    record = "v=spf1" + "".join(f" a:h{i}.example.com" for i in range(12))
    zone = {"example.com": record}
    zone.update({f"h{i}.example.com": {"a": ["198.51.100.1"]} for i in range(12)})
    backend = use(zone)
    got = spf_query("192.0.2.4", "h.example.com", "u@example.com")
    assert got["result"] == "permerror"
    assert got["reason"] == ("more than 10 mechanisms and modifiers that cause DNS "
                             "lookups (at 'a:h10.example.com')")
    assert asked(backend)[-1] == "h9.example.com"


def test_redirect_counts():
    zone = {"example.com": "v=spf1 ip4:192.0.2.1 redirect=example.com"}
    got = check(zone, ip="192.0.2.4")
    assert got["result"] == "permerror" and "at 'redirect='" in got["reason"]


@pytest.mark.parametrize("record,want", [
    ("v=spf1 a:err.example.com a:err1.example.com ?all", "neutral"),   # two: fine
    ("v=spf1 a:err.example.com a:err1.example.com a:err2.example.com ?all",
     "permerror"),
    ("v=spf1 a:nodata.example.com mx:nodata.example.com exists:err.example.com ?all",
     "permerror"),                              # NODATA is void too, for every term
    ("v=spf1 a:nodata.example.com exists:err.example.com a:mail.example.com ?all",
     "neutral"),
    ("v=spf1 a:err.example.com a:err1.example.com ip4:192.0.2.4 a:err2.example.com",
     "pass"),                                   # counted when evaluated
    # the address lookups of MX hosts and the lookups of ptr are not void lookups
    ("v=spf1 mx:v6mx.example.com ptr ptr:x.example.com ?all", "neutral"),
])
def test_the_two_void_lookups_limit(record, want):
    zone = {"example.com": record, "nodata.example.com": {"txt": ["v=spf1 -all"]},
            "mail.example.com": {"a": ["192.0.2.1"]},
            "v6mx.example.com": {"mx": ["1 m1.example.com", "2 m2.example.com",
                                        "3 m3.example.com", "4 m4.example.com"]},
            "m1.example.com": {"aaaa": ["2001:db8::1"]},
            "m2.example.com": {"aaaa": ["2001:db8::2"]}}
    assert result(zone, ip="192.0.2.4") == want


def test_the_void_lookup_error_names_the_lookup():
    got = check({"example.com": "v=spf1 a:err.example.com a:err1.example.com "
                                "exists:err2.example.com ?all"})
    assert got == {"result": "permerror", "reason": "more than 2 void DNS lookups (the "
                                                    "last: A of err2.example.com)"}


# ============================================================ DNS errors and time

class Recorder(resolver.MockBackend):
    """A table backend that also records the timeout of every query."""

    def __init__(self, table):
        super().__init__(table)
        self.timeouts = []

    def query(self, name, rdtype, timeout, servers=None):
        self.timeouts.append(timeout)
        return super().query(name, rdtype, timeout, servers)


class Silent:
    """A backend whose server never answers: every query takes its whole timeout."""

    def __init__(self):
        self.timeouts = []

    def query(self, name, rdtype, timeout, servers=None):
        self.timeouts.append(timeout)
        time.sleep(timeout)
        return resolver.Answer(error="TRY_AGAIN")


def test_each_lookup_gets_the_default_timeout_without_a_time_limit():
    backend = Recorder({"example.com": {"txt": ["v=spf1 a -all"]}})
    resolver.configure(backend)
    spf_query("192.0.2.10", "h.example.com", "u@example.com")
    assert backend.timeouts == [resolver.DEFAULT_TIMEOUT] * 2


def test_a_lookup_never_outlasts_the_executions_time_limit():
    backend = Recorder({"example.com": {"txt": ["v=spf1 a -all"]}})
    resolver.configure(backend)
    out = []
    hsl.compile('echo spf_query("192.0.2.10", "h", "u@example.com")["result"];').run(
        output=out.append, max_time=2)
    assert out == ["fail"]
    assert len(backend.timeouts) == 2 and all(0 < t <= 2 for t in backend.timeouts)


def test_the_execution_deadline_stops_the_evaluation():
    resolver.configure(Silent())
    started = time.monotonic()
    with pytest.raises(hsl.HSLRuntimeError, match="execution time limit exceeded"):
        hsl.compile('echo "before"; spf_query("192.0.2.10", "h", "u@example.com"); '
                    'echo "after";').run(output=lambda s: None, max_time=0.3)
    assert time.monotonic() - started < 1.5


def test_the_whole_evaluation_has_a_time_limit(monkeypatch):
    monkeypatch.setattr(spf_module, "TIME_LIMIT", 0.3)
    backend = Silent()
    resolver.configure(backend)
    started = time.monotonic()
    got = spf_query("192.0.2.10", "h.example.com", "u@example.com")
    assert time.monotonic() - started < 1.0
    assert got == {"result": "temperror", "reason": "the SPF evaluation took longer "
                                                    "than 0.3 seconds"}
    assert len(backend.timeouts) == 1 and backend.timeouts[0] <= 0.3


def test_the_time_limit_also_ends_lookups_that_would_not_fail_a_mechanism(monkeypatch):
    # ptr ignores DNS errors, but not running out of time.
    monkeypatch.setattr(spf_module, "TIME_LIMIT", 0.3)

    class SlowPtr(resolver.MockBackend):
        def query(self, name, rdtype, timeout, servers=None):
            if rdtype == "ptr":
                time.sleep(timeout)
                return resolver.Answer(error="TRY_AGAIN")
            return super().query(name, rdtype, timeout, servers)

    resolver.configure(SlowPtr({"example.com": {"txt": ["v=spf1 ptr ip4:192.0.2.10"]}}))
    assert spf_query("192.0.2.10", "h.example.com", "u@example.com")["result"] == \
        "temperror"


def test_answers_are_asked_once_per_evaluation():
    backend = use({"example.com": {"txt": ["v=spf1 a a/24 a//64 -all"],
                                   "a": ["198.51.100.1"]}})
    assert spf_query("192.0.2.10", "h.example.com", "u@example.com")["result"] == "fail"
    assert backend.queries == [("example.com", "txt"), ("example.com", "a")]
    spf_query("192.0.2.10", "h.example.com", "u@example.com")
    assert len(backend.queries) == 4                        # not across evaluations


# ============================================================ arguments

@pytest.mark.parametrize("args,pos", [
    ((None, b"h", b"s"), 1), ((1.0, b"h", b"s"), 1), ((b"192.0.2.1", None, b"s"), 2),
    ((b"192.0.2.1", b"h", 5.0), 3),
])
def test_arguments_must_be_strings(args, pos):
    with pytest.raises(ScriptError, match=rf"spf_query\(\) expects a string as argument "
                                          rf"{pos}.*type error"):
        FUNCTIONS["spf_query"].fn(*args)


@pytest.mark.parametrize("ip", [b"", b"x", b"192.0.2", b"192.0.2.1 ", b"192.0.2.01",
                                b"[2001:db8::1]", b"fe80::1%eth0", b"192.0.2.1/32",
                                b"\xff"])
def test_an_invalid_ip_is_an_error(ip):
    use({})
    with pytest.raises(ScriptError, match=r"spf_query\(\) expects an IP address as "
                                          r"argument 1"):
        FUNCTIONS["spf_query"].fn(ip, b"h.example.com", b"u@example.com")


def test_the_result_is_an_array_of_strings():
    from hsl.runtime.values import HArray
    use({"example.com": "v=spf1 -all exp=why.example.com", "why.example.com": "no"})
    got = FUNCTIONS["spf_query"].fn(b"192.0.2.1", b"h", b"u@example.com")
    assert type(got) is HArray
    assert list(got.d.items()) == [
        (b"result", b"fail"),
        (b"reason", b"'-all' matched in the SPF record of example.com"),
        (b"explanation", b"no")]


# ============================================================ through HSL

def run(source, **kw):
    out = []
    hsl.compile(source).run(output=out.append, **kw)
    return out


def test_spf_query_in_a_script():
    use({"example.com": "v=spf1 ip4:192.0.2.0/24 -all exp=why.example.com",
         "why.example.com": "%{i} may not send for %{d}"})
    out = run('''
        foreach (["192.0.2.1", "198.51.100.1", "::ffff:192.0.2.7"] as $ip) {
            $spf = spf_query($ip, "mail.example.org", "user@example.com");
            echo $ip . " " . $spf["result"] . " " . ($spf["explanation"] ?? "-");
        }
        $f = spf_query;          // as the dmarc module passes it around
        echo $f("192.0.2.1", "", "example.com")["reason"];
    ''')
    assert out == ["192.0.2.1 pass -",
                   "198.51.100.1 fail 198.51.100.1 may not send for example.com",
                   "::ffff:192.0.2.7 pass -",
                   "'ip4:192.0.2.0/24' matched in the SPF record of example.com"]


def test_errors_in_a_script_are_catchable_hsl_errors():
    use({})
    out = run('''
        try { spf_query("not an ip", "h", "u@example.com"); }
        catch ($e) { echo $e->message(); }
        try { spf_query("192.0.2.1", none, "u@example.com"); }
        catch ($e) { echo $e->message(); }
    ''')
    assert out == ["spf_query() expects an IP address as argument 1, got 'not an ip'",
                   "spf_query() expects a string as argument 2, got none (type error)"]


def test_a_speculative_run_leaves_the_evaluation_to_a_worker():
    backend = use({"example.com": "v=spf1 +all"})
    program = hsl.compile('echo spf_query("192.0.2.1", "h", "u@example.com")["result"];')
    with pytest.raises(Preempted) as ei:
        program.run(output=lambda s: None, max_time=0.5, speculative=True)
    assert ei.value.why == "spf"
    assert backend.queries == []                     # nothing was asked
    out = []
    program.run(output=out.append, max_time=5)       # the worker's run
    assert out == ["pass"]


def test_a_speculative_run_needing_no_lookup_finishes():
    backend = use({})
    out = []
    hsl.compile('echo spf_query("192.0.2.1", "[192.0.2.1]", "")["result"];').run(
        output=out.append, max_time=0.5, speculative=True)
    assert out == ["none"] and backend.queries == []


def hsl_cmd(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "hsl", *args], capture_output=True,
                          text=True, timeout=30, env=env)


def test_hsl_run_with_a_dns_table(tmp_path):
    table = tmp_path / "dns.json"
    table.write_text(json.dumps({
        "example.com": {"txt": ["v=spf1 include:_spf.example.net ~all"]},
        "_spf.example.net": {"txt": ["v=spf1 ip4:192.0.2.0/24 -all"]}}))
    proc = hsl_cmd("run", "--dns-table", str(table), "-e", '''
        echo spf_query("192.0.2.5", "mail.example.com", "a@example.com")["result"];
        echo spf_query("203.0.113.5", "mail.example.com", "a@example.com")["result"];
        echo spf_query("192.0.2.5", "mail.example.com", "a@example.org")["result"];
        spf_query("192.0.2", "mail.example.com", "a@example.com");
    ''')
    assert proc.stdout.splitlines() == ["pass", "softfail", "none"]
    assert proc.returncode == 1
    assert "spf_query() expects an IP address as argument 1" in proc.stderr
    assert "Traceback" not in proc.stderr
