"""Mail and URL parsing builtins (builtins.md "Mail and URL parsing").

Vectors: RFC 3986 section 1.1.2 URIs, RFC 5321 / RFC 3696 section 3 envelope addresses,
RFC 5322 appendix A address lists, RFC 6376 tag=value lists (section 3.2, appendix A.2,
section 3.6.1 key records)."""
import pytest

from hsl.builtins import FUNCTIONS, load_all
from hsl.errors import ScriptError
from hsl.runtime.values import from_python as P, to_python

load_all()


def call(name, *args):
    return FUNCTIONS[name].fn(*args)


def py(v):
    return to_python(v)


NAMES = ["url_parse", "envelope_address_parse", "envelope_localpart_escape",
         "header_addresslist_compile", "header_addresslist_extract", "header_dkim_decode"]


def test_registered():
    for n in NAMES:
        assert FUNCTIONS[n].area == "mail"
    assert (FUNCTIONS["url_parse"].min_args, FUNCTIONS["url_parse"].max_args) == (1, 2)
    assert (FUNCTIONS["envelope_address_parse"].max_args) == 1


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [None, 1.0, True])
def test_type_errors(name, bad):
    with pytest.raises(ScriptError) as e:
        call(name, bad)
    assert name in e.value.message and "type" in e.value.message


def test_type_error_string_first():
    for name in NAMES:
        if name != "header_addresslist_compile":
            with pytest.raises(ScriptError, match="type"):
                call(name, P(["x"]))
    with pytest.raises(ScriptError, match="type"):
        call("header_addresslist_compile", b"a@b")


# -- url_parse (RFC 3986) --------------------------------------------------------------

RFC3986_1_1_2 = [
    (b"ftp://ftp.is.co.za/rfc/rfc1808.txt",
     {"schema": "ftp", "hostname": "ftp.is.co.za", "path": "/rfc/rfc1808.txt"}),
    (b"http://www.ietf.org/rfc/rfc2396.txt",
     {"schema": "http", "hostname": "www.ietf.org", "path": "/rfc/rfc2396.txt"}),
    (b"ldap://[2001:db8::7]/c=GB?objectClass?one",
     {"schema": "ldap", "hostname": "[2001:db8::7]", "path": "/c=GB",
      "query": "objectClass?one"}),
    (b"mailto:John.Doe@example.com", {"schema": "mailto", "path": "John.Doe@example.com"}),
    (b"news:comp.infosystems.www.servers.unix",
     {"schema": "news", "path": "comp.infosystems.www.servers.unix"}),
    (b"tel:+1-816-555-1212", {"schema": "tel", "path": "+1-816-555-1212"}),
    (b"telnet://192.0.2.16:80/",
     {"schema": "telnet", "hostname": "192.0.2.16", "port": 80, "path": "/"}),
    (b"urn:oasis:names:specification:docbook:dtd:xml:4.1.2",
     {"schema": "urn", "path": "oasis:names:specification:docbook:dtd:xml:4.1.2"}),
    # RFC 3986 section 3 example
    (b"foo://example.com:8042/over/there?name=ferret#nose",
     {"schema": "foo", "hostname": "example.com", "port": 8042, "path": "/over/there",
      "query": "name=ferret", "fragment": "nose"}),
]


@pytest.mark.parametrize("url, parts", RFC3986_1_1_2)
def test_url_parse_rfc3986_examples(url, parts):
    r = call("url_parse", url)
    assert py(r) == parts
    if "port" in parts:
        assert type(r.d[b"port"]) is float


def test_url_parse_userinfo():
    r = call("url_parse", b"https://user:pa%3Ass@mail.example.com:8443/a/b?x=1&y=2#top")
    assert py(r) == {"schema": "https", "username": "user", "password": "pa%3Ass",
                     "hostname": "mail.example.com", "port": 8443, "path": "/a/b",
                     "query": "x=1&y=2", "fragment": "top"}
    assert py(call("url_parse", b"ftp://anon@h")) == {"schema": "ftp", "username": "anon",
                                                     "hostname": "h"}
    assert py(call("url_parse", b"http://[::1]:25")) == {"schema": "http",
                                                         "hostname": "[::1]", "port": 25}
    assert py(call("url_parse", b"http://h?")) == {"schema": "http", "hostname": "h",
                                                  "query": ""}


@pytest.mark.parametrize("url", [b"", b"example.com/path", b"/relative", b"1http://x",
                                 b"http://exa mple.com/", b"http://h:port/",
                                 b"http://h:70000/", b"http://[::1/", b"http://h\n/",
                                 b"://x"])
def test_url_parse_invalid_is_none(url):
    assert call("url_parse", url) is None


# -- envelope addresses (RFC 5321 4.1.2, RFC 3696 section 3) ---------------------------

@pytest.mark.parametrize("addr, local, domain", [
    (b"user@example.com", b"user", b"example.com"),
    (b"first.last@sub.example.org", b"first.last", b"sub.example.org"),
    (b"customer/department=shipping@example.com", b"customer/department=shipping",
     b"example.com"),
    (b"$A12345@example.com", b"$A12345", b"example.com"),
    (b"!def!xyz%abc@example.com", b"!def!xyz%abc", b"example.com"),
    (b"_somename@example.com", b"_somename", b"example.com"),
    (b'"Abc@def"@example.com', b"Abc@def", b"example.com"),
    (b'"Fred Bloggs"@example.com', b"Fred Bloggs", b"example.com"),
    (b'"Joe\\\\Blow"@example.com', b"Joe\\Blow", b"example.com"),
    (b'"a\\"b"@example.com', b'a"b', b"example.com"),
    (b'""@example.com', b"", b"example.com"),
    (b"postmaster@[192.0.2.1]", b"postmaster", b"[192.0.2.1]"),
    (b"user@[IPv6:2001:db8::1]", b"user", b"[IPv6:2001:db8::1]"),
    ("jörg@bücher.example".encode(), "jörg".encode(), "bücher.example".encode()),
])
def test_envelope_address_parse_valid(addr, local, domain):
    r = call("envelope_address_parse", addr)
    assert list(r.d.items()) == [(b"localpart", local), (b"domain", domain)]


@pytest.mark.parametrize("addr", [
    b"", b"user", b"@example.com", b"user@", b"john..doe@example.com", b".john@example.com",
    b"john.@example.com", b"john doe@example.com", b"Abc\\@def@example.com",
    b'"unterminated@example.com', b"user@exa mple.com", b"user@-example.com",
    b"user@example..com", b"user@example.com.", b"<user@example.com>", b"a@b@",
    b"user@[unterminated", b'"a"b@example.com'])
def test_envelope_address_parse_invalid(addr):
    assert call("envelope_address_parse", addr) is None


@pytest.mark.parametrize("local, escaped", [
    (b"john doe", b'"john doe"'),
    (b"john.doe", b"john.doe"),
    (b"!#$%&'*+-/=?^_`{|}~", b"!#$%&'*+-/=?^_`{|}~"),
    (b"a..b", b'"a..b"'),
    (b".a", b'".a"'),
    (b'say "hi"', b'"say \\"hi\\""'),
    (b"back\\slash", b'"back\\\\slash"'),
    (b"a@b", b'"a@b"'),
    (b"", b'""'),
    ("jörg".encode(), "jörg".encode()),
])
def test_envelope_localpart_escape(local, escaped):
    assert call("envelope_localpart_escape", local) == escaped
    # what escape produces parses back to the same local part
    r = call("envelope_address_parse", escaped + b"@example.com")
    assert r.d[b"localpart"] == local


# -- address lists (RFC 5322 appendix A) -----------------------------------------------

def extract(value, **opts):
    return py(call("header_addresslist_extract", value, P(opts) if opts else None))


def test_extract_a_1_1():
    assert extract(b"John Doe <jdoe@machine.example>") == ["jdoe@machine.example"]
    assert extract(b"Mary Smith <mary@example.net>", name=True) == \
        [{"name": "Mary Smith", "address": "mary@example.net"}]


def test_extract_a_1_2():
    assert extract(b'"Joe Q. Public" <john.q.public@example.com>', name=True) == \
        [{"name": "Joe Q. Public", "address": "john.q.public@example.com"}]
    assert extract(b"Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
                   name=True) == [{"name": "Mary Smith", "address": "mary@x.test"},
                                  {"name": "", "address": "jdoe@example.org"},
                                  {"name": "Who?", "address": "one@y.test"}]
    assert extract(b'<boss@nil.test>, "Giant; \\"Big\\" Box" <sysservices@example.net>',
                   name=True) == [{"name": "", "address": "boss@nil.test"},
                                  {"name": 'Giant; "Big" Box',
                                   "address": "sysservices@example.net"}]


def test_extract_a_1_3_groups():
    assert extract(b"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;") == \
        ["c@a.test", "joe@where.test", "jdoe@one.test"]
    assert extract(b"Undisclosed recipients:;") == []
    assert extract(b"a@b.test, G: c@d.test;, e@f.test") == ["a@b.test", "c@d.test", "e@f.test"]


def test_extract_a_5_comments():
    value = (b"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>, "
             b"A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
             b"         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); "
             b"(the end of the group)")
    assert extract(value, name=True) == [
        {"name": "Pete", "address": "pete@silly.test"},
        {"name": "Chris Jones", "address": "c@public.example"},
        {"name": "", "address": "joe@example.org"},
        {"name": "John", "address": "jdoe@one.test"}]


def test_extract_field_and_encoded_names():
    line = b"To: =?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>"
    assert extract(line, field=True, name=True) == \
        [{"name": "Keld Jørn Simonsen", "address": "keld@dkuug.dk"}]
    assert extract(b"From: a@b.test", field=True) == ["a@b.test"]
    assert call("header_addresslist_extract", b"no colon here", P({"field": True})) is None


def test_extract_semicolon_separated_as_halon_documents():
    # Halon's own example: "Charlie <charlie@example.org>; James <james@example.com>" has
    # two addresses.  Outside a group ";" separates as "," does; it still ends a group.
    assert extract(b"Charlie <charlie@example.org>; James <james@example.com>") == \
        ["charlie@example.org", "james@example.com"]
    assert extract(b"x; y") == extract(b"x, y") == ["x", "y"]
    assert extract(b"G: a@b.test, c@d.test; e@f.test") == ["a@b.test", "c@d.test", "e@f.test"]


def test_extract_obsolete_forms():
    # obs-route and empty list elements (RFC 5322 4.4)
    assert extract(b"<@route.test,@other.test:user@example.com>") == ["user@example.com"]
    assert extract(b"a@b.test,,  , c@d.test") == ["a@b.test", "c@d.test"]
    assert extract(b"user@example.com (Old Style Name)", name=True) == \
        [{"name": "Old Style Name", "address": "user@example.com"}]
    assert extract(b'"quoted local"@example.com') == ['"quoted local"@example.com']
    assert extract(b"") == []


@pytest.mark.parametrize("value", [
    b"Name <unterminated@example.com", b'"unterminated <a@b>', b"a@b (open comment",
    b"a@b>", b"Group: a@b", b"<a@b> trailing", b"<<a@b>>", b"G: H: a@b;;",
    b"a@[unterminated", b"a\x00b@c"])
def test_extract_errors_are_none(value):
    assert call("header_addresslist_extract", value) is None


def test_compile():
    addrs = P([{"name": "Mary Smith", "address": "mary@x.test"},
               {"address": "jdoe@example.org"},
               {"name": "Joe Q. Public", "address": "john.q.public@example.com"},
               {"name": 'Giant; "Big" Box', "address": "sysservices@example.net"},
               {"name": "", "address": "boss@nil.test"}])
    assert call("header_addresslist_compile", addrs) == (
        b'Mary Smith <mary@x.test>, jdoe@example.org, '
        b'"Joe Q. Public" <john.q.public@example.com>, '
        b'"Giant; \\"Big\\" Box" <sysservices@example.net>, boss@nil.test')
    assert call("header_addresslist_compile", P([])) == b""


def test_compile_encodes_non_ascii_names():
    out = call("header_addresslist_compile",
               P([{"name": "Keld Jørn Simonsen", "address": "keld@dkuug.dk"}]))
    assert out == b"=?utf-8?Q?Keld_J=C3=B8rn_Simonsen?= <keld@dkuug.dk>"
    assert extract(out, name=True) == [{"name": "Keld Jørn Simonsen",
                                        "address": "keld@dkuug.dk"}]


def test_compile_extract_roundtrip():
    entries = [{"name": n, "address": "x%d@example.com" % i} for i, n in enumerate(
        ["Plain", "With, comma", 'Quote " and \\', "Ünïcode", "Tab\there", "a.b"])]
    out = call("header_addresslist_compile", P(entries))
    assert extract(out, name=True) == entries


def test_compile_type_errors():
    for bad in [P([1]), P([{"name": "x"}]), P([{"address": 1}]),
                P([{"address": "a@b", "name": 1}])]:
        with pytest.raises(ScriptError, match="type"):
            call("header_addresslist_compile", bad)


# -- DKIM tag lists (RFC 6376) ---------------------------------------------------------

RFC6376_A2 = (b"DKIM-Signature: v=1; a=rsa-sha256; s=brisbane; d=example.com;\r\n"
              b"      c=simple/simple; q=dns/txt; i=joe@football.example.com;\r\n"
              b"      h=Received : From : To : Subject : Date : Message-ID;\r\n"
              b"      bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
              b"      b=AuUoFEfDxTDkHlLXSZEpZj79LICEps6eda7W3deTVFOk4yAUoqOB\r\n"
              b"        4nujc7YopdG5dWLSdNg6xNAZpOPr+kHxt1IrE+NahM6L/LbvaHut\r\n"
              b"        KVdkLLkpVaVVQPzeRDI009SO2Il5Lu7rDNH6mZckBdrIx0orEtZV\r\n"
              b"        4bmp/YzhwvcubU4=;")


def test_dkim_signature_appendix_a2():
    r = call("header_dkim_decode", RFC6376_A2, P({"field": True}))
    assert py(r) == {
        "v": "1", "a": "rsa-sha256", "s": "brisbane", "d": "example.com",
        "c": "simple/simple", "q": "dns/txt", "i": "joe@football.example.com",
        "h": "Received:From:To:Subject:Date:Message-ID",
        "bh": "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=",
        "b": "AuUoFEfDxTDkHlLXSZEpZj79LICEps6eda7W3deTVFOk4yAUoqOB"
             "4nujc7YopdG5dWLSdNg6xNAZpOPr+kHxt1IrE+NahM6L/LbvaHut"
             "KVdkLLkpVaVVQPzeRDI009SO2Il5Lu7rDNH6mZckBdrIx0orEtZV4bmp/YzhwvcubU4="}
    # sorted by tag name, as Halon gives it (its DMARC tests compare records read with
    # it to arrays in that order)
    assert list(r.d) == sorted(r.d)
    # without the field option the value part alone
    value = RFC6376_A2.split(b":", 1)[1]
    assert py(call("header_dkim_decode", value)) == py(r)


def test_dkim_key_record_and_tag_list_grammar():
    # RFC 6376 section 3.6.1 style key record
    assert py(call("header_dkim_decode", b"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQ")) == \
        {"v": "DKIM1", "k": "rsa", "p": "MIGfMA0GCSqGSIb3DQ"}
    # section 3.2: FWS around = and ;, optional final ;, empty values, case-sensitive names
    assert py(call("header_dkim_decode", b" a = 1 ;\r\n\tb=;  B=x y ; ")) == \
        {"a": "1", "b": "", "B": "xy"}
    assert py(call("header_dkim_decode", b"t=1_a")) == {"t": "1_a"}


@pytest.mark.parametrize("value", [
    b"", b";", b"a=1;;b=2", b"a", b"=1", b"1a=2", b"a-b=1", b"a=1; a=2",
    b"a=1; v=1", b"a=\x01", b"a b=1"])
def test_dkim_invalid_is_none(value):
    assert call("header_dkim_decode", value) is None


def test_dkim_field_option():
    assert call("header_dkim_decode", b"v=1", P({"field": True})) is None   # no field name
    assert py(call("header_dkim_decode", b"X-Test:v=1", P({"field": True}))) == {"v": "1"}
