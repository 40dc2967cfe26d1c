"""http() (builtins.md "DNS and network"; decisions in hsl/builtins/httpclient.py) against
local HTTP and HTTPS servers on 127.0.0.1 (ephemeral ports, threads).  No test reaches
beyond this machine."""
import http.server
import os
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

import hsl
from hsl.builtins import FUNCTIONS, load_all
from hsl.builtins import httpclient
from hsl.errors import HSLRuntimeError, ScriptError
from hsl.net import tls
from hsl.runtime.execution import Preempted
from hsl.runtime.values import HArray, HFunction, from_python, to_python

import certs

load_all()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY",
              "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


# ------------------------------------------------------------------ servers

class Handler(http.server.BaseHTTPRequestHandler):
    """Routes by path; every request is recorded in `server.log`."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status, body=b"", headers=(), length=True):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        body = self.body()
        peer = None
        if isinstance(self.connection, ssl.SSLSocket):
            cert = self.connection.getpeercert()
            if cert:
                peer = dict(x[0] for x in cert["subject"])["commonName"]
        self.server.log.append({"method": self.command, "path": self.path,
                                "headers": self.headers, "body": body, "peer": peer})
        parts = urlsplit(self.path).path.strip("/").split("/")    # also an absolute URL
        route, args = parts[0], parts[1:]
        port = self.server.server_address[1]
        if route == "echo":
            self.reply(200, body or self.path.encode(),
                       [("X-Method", self.command), ("X-Multi", "one"), ("X-Multi", "two")])
        elif route == "status":
            self.reply(int(args[0]), b"status " + args[0].encode())
        elif route == "redirect":           # /redirect/N: N hops, then /echo
            n = int(args[0])
            target = f"/redirect/{n - 1}" if n > 1 else "/echo"
            self.reply(int(args[1]) if len(args) > 1 else 302, b"moved",
                       [("Location", target)])
        elif route == "elsewhere":          # the same server under another name
            self.reply(302, b"", [("Location", f"http://localhost:{port}/echo")])
        elif route == "big":
            self.reply(200, b"x" * int(args[0]))
        elif route == "chunked":            # no Content-Length: chunked
            n = int(args[0])
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, n, 1000):
                piece = b"y" * min(1000, n - i)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif route == "slow":
            time.sleep(float(args[0]))
            self.reply(200, b"late")
        elif route == "retry":              # fails until the Nth request to it
            n = sum(1 for r in self.server.log if r["path"].startswith("/retry"))
            self.reply(200 if n >= int(args[0]) else 503, b"attempt %d" % n)
        else:
            self.reply(404, b"no such route")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls=None):
        self.log = []
        self.tls = tls
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    def finish_request(self, request, client_address):
        if self.tls is not None:
            try:
                request.settimeout(5)
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    @property
    def port(self):
        return self.server_address[1]

    def url(self, path="/echo", scheme=None):
        scheme = scheme or ("https" if self.tls else "http")
        return f"{scheme}://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    paths = certs.write_pki(d)
    p = certs.pki()
    local_key = certs.new_key()
    local = certs.build_cert("127.0.0.1", local_key, p.intermediate, p.intermediate_key,
                             san_ip=["127.0.0.1"], san_dns=["localhost"],
                             eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    paths["local-chain.pem"] = certs.write_pem(d / "local-chain.pem", local, p.intermediate)
    paths["local.key"] = certs.write_pem(d / "local.key", local_key)
    (d / "empty").mkdir()
    paths["empty-dir"] = str(d / "empty")
    return paths


def server_context(chain, key, client_ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    return ctx


@pytest.fixture(scope="module")
def web():
    s = Server()
    yield s
    s.shutdown()


@pytest.fixture(scope="module")
def tls_mail(pki):
    """HTTPS with the shared leaf: valid chain, but named mail.example.com, not 127.0.0.1."""
    s = Server(server_context(pki["leaf-chain.pem"], pki["leaf.key"]))
    yield s
    s.shutdown()


@pytest.fixture(scope="module")
def tls_local(pki):
    """HTTPS with a certificate for 127.0.0.1."""
    s = Server(server_context(pki["local-chain.pem"], pki["local.key"]))
    yield s
    s.shutdown()


@pytest.fixture(scope="module")
def tls_mutual(pki):
    """HTTPS that requires a client certificate issued under the test CA."""
    s = Server(server_context(pki["local-chain.pem"], pki["local.key"],
                              client_ca=pki["ca-bundle.pem"]))
    yield s
    s.shutdown()


@pytest.fixture(scope="module")
def silent():
    """A listener that accepts connections (the kernel does) but never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield f"http://127.0.0.1:{s.getsockname()[1]}/"
    s.close()


@pytest.fixture(scope="module")
def unconnectable():
    """A listener whose accept queue is full: further connects hang (SYNs are dropped)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(0)
    filler = socket.create_connection(s.getsockname())
    probe = socket.socket()
    probe.settimeout(0.2)
    try:
        probe.connect(s.getsockname())
        pytest.skip("this kernel does not drop connections to a full accept queue")
    except OSError:
        pass
    finally:
        probe.close()
    yield f"http://127.0.0.1:{s.getsockname()[1]}/"
    filler.close()
    s.close()


NAMES = {}          # extra host names the test resolver knows (name -> address)
_real_getaddrinfo = socket.getaddrinfo


def local_getaddrinfo(host, port, *args, **kwargs):
    """The resolver during these tests: addresses, localhost and NAMES only, so that no
    test sends a DNS query off this machine."""
    if isinstance(host, bytes):
        host = host.decode("ascii")
    if host in NAMES:
        host = NAMES[host]
    elif host not in (None, "localhost"):
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        except OSError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
    return _real_getaddrinfo(host, port, *args, **kwargs)


@pytest.fixture(autouse=True)
def environment(monkeypatch, pki):
    """No proxy from the environment; the system trust store is the test root CA; names
    resolve locally only."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", pki["ca.pem"])
    monkeypatch.setenv("SSL_CERT_DIR", pki["empty-dir"])
    monkeypatch.setattr(socket, "getaddrinfo", local_getaddrinfo)
    NAMES.clear()
    from hsl.net import dns as resolver             # the system's resolution (the patched one above)
    saved = resolver.backend()
    resolver.configure(resolver.DnsPythonBackend())
    yield
    resolver.configure(saved)


# ------------------------------------------------------------------ helpers

def call(url, options=None, get=None, post=None):
    """http() called directly, with Python values converted."""
    args = [url.encode() if isinstance(url, str) else url]
    for v in (options, get, post):
        args.append(v if v is None or isinstance(v, (HArray, HFunction)) else from_python(v))
    while len(args) > 1 and args[-1] is None:
        args.pop()
    return FUNCTIONS["http"].fn(*args)


def run(source, max_time=None, **variables):
    """Run HSL source; its echo lines."""
    out = []
    hsl.compile(source).run(variables=variables, output=out.append, max_time=max_time)
    return out


def ext(url, options=None, *rest):
    """http() with extended_result, as Python values."""
    return to_python(call(url, {**(options or {}), "extended_result": True}, *rest))


# --------------------------------------------------------------- GET, POST

def test_get_returns_the_body_of_a_2xx_response(web):
    assert call(web.url("/echo")) == b"/echo"
    assert web.log[-1]["method"] == "GET" and web.log[-1]["body"] == b""


def test_non_2xx_is_none_without_extended_result(web):
    assert call(web.url("/status/404")) is None
    assert call(web.url("/status/500")) is None
    assert call(web.url("/status/204")) == b""
    assert call(web.url("/status/299")) == b"status 299"


def test_get_values_replace_numbered_placeholders_url_encoded(web):
    got = call(web.url("/echo/$1/$2?q=$3&keep=$4&$12"), get=["a b/c", "ü&=", 7])
    assert got == b"/echo/a%20b%2Fc/%C3%BC%26%3D?q=7&keep=$4&$12"


def test_get_values_keep_array_order_whatever_the_keys(web):
    assert call(web.url("/echo/$1-$2"), get={"z": "first", "a": "second"}) == \
        b"/echo/first-second"


def test_post_array_is_form_encoded(web):
    got = call(web.url("/echo"), post={"a": "b c", "n": 1.5, 7: "x&y"})
    assert got == b"a=b%20c&n=1.5&7=x%26y"
    req = web.log[-1]
    assert req["method"] == "POST"
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert req["headers"]["Content-Length"] == str(len(got))


def test_post_string_is_the_raw_body(web):
    assert call(web.url("/echo"), {"headers": ["Content-Type: application/json"]},
                [], '{"a": 1}') == b'{"a": 1}'
    assert web.log[-1]["method"] == "POST"
    assert web.log[-1]["headers"]["Content-Type"] == "application/json"


def test_post_function_is_called_with_a_maximum_length_until_empty(web):
    out = run('''
        $sizes = [];
        $data = ["part one, ", "part two"];
        $r = http($url, [], [], function ($max) closure ($data, $sizes) {
            $sizes[] = $max;
            if (!length($data)) return "";
            $x = $data[0]; $data = $data[1:]; return $x;
        });
        echo $r; echo $sizes;
    ''', url=web.url("/echo"))
    assert out == ["part one, part two", "[0=>65536,1=>65536,2=>65536]"]
    assert web.log[-1]["headers"]["Content-Length"] == "18"


def test_post_function_may_end_with_none_and_stream_like_file_read(web):
    # the halon-extras sophos/kaspersky shape: return $fp->read($maxread) until it is empty
    out = run('''
        $chunks = ["abc", "def"];
        echo http($url, ["headers" => ["Content-Type: application/octet-stream"]], [],
                  function ($max) closure ($chunks) {
                      if (!length($chunks)) return none;
                      $x = $chunks[0]; $chunks = $chunks[1:]; return $x;
                  });
    ''', url=web.url("/echo"))
    assert out == ["abcdef"]


def test_post_function_returning_a_non_string_is_an_error(web):
    with pytest.raises(HSLRuntimeError, match=r"http\(\) post function must return a string"):
        run('http($url, [], [], function ($max) { return 5; });', url=web.url("/echo"))


def test_method_option(web):
    assert call(web.url("/echo"), {"method": "PUT"}, [], "data") == b"data"
    assert web.log[-1]["method"] == "PUT"
    assert call(web.url("/echo"), {"method": "DELETE"}) == b"/echo"
    assert web.log[-1]["method"] == "DELETE"
    r = ext(web.url("/echo"), {"method": "HEAD"})
    assert (r["status"], r["content"]) == (200, "")
    assert web.log[-1]["method"] == "HEAD"


def test_request_headers_are_sent_and_replace_or_remove_defaults(web):
    call(web.url("/echo"), {"headers": ["X-One: 1", "Accept: application/json",
                                        "X-Empty;", "Connection:"]})
    h = web.log[-1]["headers"]
    assert h["X-One"] == "1" and h["Accept"] == "application/json"
    assert h["X-Empty"] == "" and "Connection" not in h
    assert h["Host"] == f"127.0.0.1:{web.port}"
    assert "User-Agent" not in h


def test_host_header_can_be_overridden(web):
    call(web.url("/echo"), {"headers": ["Host: example.com"]})
    assert web.log[-1]["headers"].get_all("Host") == ["example.com"]


def test_user_content_length_and_removed_transfer_encoding_as_antivirus_scripts_send(web):
    # halon-extras sophos: "Transfer-Encoding: ", "Content-Length:" . $length
    out = run('''
        $data = ["12345"];
        echo http($url, ["headers" => ["Transfer-Encoding: ", "Content-Length:" . 5]], [],
                  function ($max) closure ($data) {
                      if (!length($data)) return "";
                      $x = $data[0]; $data = []; return $x;
                  });
    ''', url=web.url("/echo"))
    assert out == ["12345"]
    assert web.log[-1]["headers"].get_all("Content-Length") == ["5"]


def test_chunked_transfer_encoding_header_sends_the_body_chunked(web):
    assert call(web.url("/echo"), {"headers": ["Transfer-Encoding: chunked"]}, [],
                "chunky") == b"chunky"
    h = web.log[-1]["headers"]
    assert h["Transfer-Encoding"] == "chunked" and "Content-Length" not in h


def test_url_without_scheme_is_http(web):
    assert call(f"127.0.0.1:{web.port}/echo/plain") == b"/echo/plain"


def test_url_credentials_become_basic_authorization(web):
    call(f"http://user:p%40ss@127.0.0.1:{web.port}/echo")
    assert web.log[-1]["headers"]["Authorization"] == "Basic dXNlcjpwQHNz"


def test_spaces_and_non_ascii_in_the_path_are_percent_encoded(web):
    assert call(web.url("/echo/a b/é")) == b"/echo/a%20b/%C3%A9"


def test_bad_urls_and_other_schemes_are_none(web):
    for url in ["ftp://127.0.0.1/", "http://", "http://127.0.0.1:99999/",
                "http://[::1/", "http://127.0.0.1/\r\nX: y", "file:///etc/passwd"]:
        assert call(url) is None, url


def test_connection_refused_is_none_even_with_extended_result():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    assert call(f"http://127.0.0.1:{port}/") is None
    assert call(f"http://127.0.0.1:{port}/", {"extended_result": True}) is None


def test_unresolvable_host_is_none():
    assert call("http://no-such-host.invalid/") is None


def test_non_ascii_host_names_are_idna_encoded(web):
    NAMES["xn--bcher-kva.example"] = "127.0.0.1"
    assert call(f"http://Bücher.example:{web.port}/echo/idna") == b"/echo/idna"
    assert web.log[-1]["headers"]["Host"] == f"xn--bcher-kva.example:{web.port}"


# ---------------------------------------------------------- extended result

def test_extended_result_shape_for_any_status(web):
    r = ext(web.url("/status/404"))
    assert set(r) == {"status", "content", "headers"}
    assert (r["status"], r["content"]) == (404, "status 404")
    r = ext(web.url("/echo"))
    assert r["status"] == 200 and r["content"] == "/echo"
    assert all(set(h) == {"name", "value"} for h in r["headers"])
    names = [h["name"] for h in r["headers"]]
    assert names == [n.lower() for n in names]
    assert [h["value"] for h in r["headers"] if h["name"] == "x-multi"] == ["one", "two"]
    assert {"name": "x-method", "value": "GET"} in r["headers"]
    assert {"name": "content-length", "value": "5"} in r["headers"]


def test_extended_result_headers_as_real_scripts_read_them(web):
    # halon-extras f-secure: [$name, $value] = $h; ... $found["value"]
    out = run('''
        $r = http($url, ["response_headers" => true, "extended_result" => true]);
        $m = array_find(function ($h) { [$name, $value] = $h; return $name == "x-method"; },
                        $r["headers"]);
        echo $m["value"];
        if ($r["status"] != 200) echo "bad";
    ''', url=web.url("/echo"))
    assert out == ["GET"]


def test_response_headers_without_extended_result_returns_head_and_body(web):
    got = call(web.url("/status/404"), {"response_headers": True})
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 ") and b"\r\nContent-Length: 10" in head
    assert body == b"status 404"


# --------------------------------------------------------------- redirects

def test_redirects_are_not_followed_by_default(web):
    assert call(web.url("/redirect/1")) is None
    r = ext(web.url("/redirect/1"))
    assert r["status"] == 302 and r["content"] == "moved"
    assert {"name": "location", "value": "/echo"} in r["headers"]


def test_redirects_are_followed_up_to_the_limit(web):
    assert call(web.url("/redirect/3"), {"redirects": 3}) == b"/echo"
    assert [r["path"] for r in web.log[-4:]] == ["/redirect/3", "/redirect/2", "/redirect/1",
                                                 "/echo"]
    n = len(web.log)
    assert call(web.url("/redirect/3"), {"redirects": 2}) is None
    assert call(web.url("/redirect/3"), {"redirects": 2, "extended_result": True}) is None
    assert len(web.log) == n + 6            # two tries of three requests each
    assert call(web.url("/redirect/5"), {"redirects": -1}) == b"/echo"


def test_redirect_method_rules(web):
    assert call(web.url("/redirect/1/302"), {"redirects": 1}, [], "body") == b"/echo"
    assert (web.log[-1]["method"], web.log[-1]["body"]) == ("GET", b"")
    assert call(web.url("/redirect/1/307"), {"redirects": 1}, [], "body") == b"body"
    assert (web.log[-1]["method"], web.log[-1]["body"]) == ("POST", b"body")
    assert call(web.url("/redirect/1/303"), {"redirects": 1, "method": "PUT"}, [], "b") \
        == b"/echo"
    assert web.log[-1]["method"] == "GET"


def test_authorization_is_not_sent_to_another_host_on_redirect(web):
    call(web.url("/elsewhere"), {"redirects": 1, "headers": ["Authorization: Bearer t",
                                                               "X-Keep: 1"]})
    last = web.log[-1]
    assert last["headers"]["Host"] == f"localhost:{web.port}"
    assert "Authorization" not in last["headers"] and last["headers"]["X-Keep"] == "1"


# ---------------------------------------------------------- size and time

def test_max_file_size(web):
    assert call(web.url("/big/1000"), {"max_file_size": 1000}) == b"x" * 1000
    assert call(web.url("/big/1001"), {"max_file_size": 1000}) is None
    assert call(web.url("/big/1001"), {"max_file_size": 1000, "extended_result": True}) \
        is None
    assert call(web.url("/chunked/5000"), {"max_file_size": 5000}) == b"y" * 5000
    assert call(web.url("/chunked/5001"), {"max_file_size": 5000}) is None
    assert call(web.url("/chunked/5001"), {"max_file_size": 0}) == b"y" * 5001


def test_timeout_bounds_the_whole_request(web, silent):
    started = time.monotonic()
    assert call(silent, {"timeout": 0.3}) is None
    assert 0.25 < time.monotonic() - started < 1.5
    started = time.monotonic()
    assert call(web.url("/slow/1"), {"timeout": 0.3, "extended_result": True}) is None
    assert time.monotonic() - started < 0.9
    assert call(web.url("/slow/0.05"), {"timeout": 2}) == b"late"


def test_connect_timeout(unconnectable):
    started = time.monotonic()
    assert call(unconnectable, {"connect_timeout": 0.3, "timeout": 5}) is None
    assert 0.25 < time.monotonic() - started < 1.5


def test_slow_name_resolution_is_bounded_too(monkeypatch):
    def slow(host, *args, **kwargs):
        if host == "slow.example":
            time.sleep(1.5)
        return local_getaddrinfo(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", slow)
    started = time.monotonic()
    assert call("http://slow.example/", {"connect_timeout": 0.3}) is None
    assert time.monotonic() - started < 1.0
    started = time.monotonic()
    with pytest.raises(HSLRuntimeError, match="execution time limit exceeded"):
        run('http("http://slow.example/");', max_time=0.3)
    assert time.monotonic() - started < 1.0


def test_execution_time_limit_stops_the_run_instead_of_returning_none(silent):
    started = time.monotonic()
    with pytest.raises(HSLRuntimeError, match="execution time limit exceeded"):
        run('$r = http($url); echo "not reached";', max_time=0.4, url=silent)
    assert 0.35 < time.monotonic() - started < 1.5


def test_a_shorter_timeout_than_the_time_limit_returns_none(silent):
    out = run('echo http($url, ["timeout" => 0.2]) ?? "none";', max_time=5, url=silent)
    assert out == ["none"]


def test_cancelling_the_run_interrupts_a_waiting_request(silent):
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(HSLRuntimeError, match="interrupted"):
        hsl.compile('http($url);').run(variables={"url": silent}, output=lambda s: None,
                                       cancel=cancel)
    assert time.monotonic() - started < 1.5


# --------------------------------------------------------------------- TLS

def test_https_with_a_valid_certificate(tls_local):
    assert call(tls_local.url("/echo")) == b"/echo"
    assert call(tls_local.url("/echo"), {"tls_verify_host": True,
                                         "tls_default_ca": True}) == b"/echo"


def test_wrong_host_name_fails_unless_host_verification_is_off(tls_mail):
    assert call(tls_mail.url("/echo")) is None
    assert call(tls_mail.url("/echo"), {"extended_result": True}) is None
    assert call(tls_mail.url("/echo"), {"tls_verify_host": False}) == b"/echo"
    assert call(tls_mail.url("/echo"), {"ssl_verify_host": False}) == b"/echo"


def test_host_is_checked_even_without_peer_verification(tls_mail, tls_local):
    assert call(tls_mail.url("/echo"), {"tls_verify_peer": False}) is None
    assert call(tls_local.url("/echo"), {"tls_verify_peer": False}) == b"/echo"


def test_host_names_are_matched_against_dns_names(tls_local, tls_mail):
    # the local certificate names "localhost" (and 127.0.0.1), the shared leaf does not
    assert call(f"https://localhost:{tls_local.port}/echo") == b"/echo"
    assert call(f"https://localhost:{tls_mail.port}/echo") is None
    assert call(f"https://localhost:{tls_mail.port}/echo", {"tls_verify_peer": False}) is None


@pytest.mark.parametrize("pattern, host, ok", [
    ("mail.example.com", "mail.example.com", True),
    ("MAIL.Example.COM.", "mail.example.com", True),
    ("*.example.com", "a.example.com", True),
    ("*.example.com", "example.com", False),
    ("*.example.com", "a.b.example.com", False),
    ("*.com", "example.com", False),
    ("a*.example.com", "ab.example.com", False),
    ("mail.example.com", "mx.example.com", False),
])
def test_wildcard_rules(pattern, host, ok):
    assert tls.name_matches(pattern, host) is ok


def test_untrusted_chain_fails_unless_peer_verification_is_off(tls_local, pki, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", pki["selfsigned.pem"])
    assert call(tls_local.url("/echo")) is None
    assert call(tls_local.url("/echo"), {"tls_verify_peer": False}) == b"/echo"
    assert call(tls_local.url("/echo"), {"ssl_verify_peer": False}) == b"/echo"
    assert call(tls_local.url("/echo"), {"ssl_verify_peer": False,
                                         "tls_verify_peer": True}) is None


def test_plain_http_to_a_tls_server_and_tls_to_a_plain_server_fail(web, tls_local):
    assert call(tls_local.url("/echo", scheme="http"), {"timeout": 2}) is None
    assert call(web.url("/echo", scheme="https"), {"timeout": 2}) is None


def test_client_certificate_as_x509_and_private_key(tls_mutual):
    assert call(tls_mutual.url("/echo"), {"timeout": 2}) is None
    out = run('''
        echo http($url, ["tls_client_cert" => [
            "x509" => X509::String($cert),
            "privatekey" => ec_privatekey($key),
            "chain" => [X509::String($inter)]]]);
    ''', url=tls_mutual.url("/echo"), cert=certs.client_pem(), key=certs.client_key_pem(),
        inter=certs.intermediate_pem())
    assert out == ["/echo"]
    assert tls_mutual.log[-1]["peer"] == "client.example.net"


def test_client_certificate_as_pem_text(tls_mutual):
    pem = certs.client_pem() + certs.intermediate_pem() + certs.client_key_pem()
    assert call(tls_mutual.url("/echo"), {"tls_client_cert": pem}) == b"/echo"
    assert tls_mutual.log[-1]["peer"] == "client.example.net"
    # a key that does not belong to the certificate: the request fails
    bad = certs.client_pem() + certs.leaf_key_pem()
    assert call(tls_mutual.url("/echo"), {"tls_client_cert": bad}) is None


def test_client_certificate_option_errors(tls_mutual):
    with pytest.raises(ScriptError, match="certificate ids"):
        call(tls_mutual.url("/echo"), {"tls_client_cert": "pki:client"})
    with pytest.raises(ScriptError, match="'x509' must be an X509"):
        call(tls_mutual.url("/echo"), {"tls_client_cert": {"x509": "nope",
                                                             "privatekey": "k"}})
    with pytest.raises(ScriptError, match="type error"):
        call(tls_mutual.url("/echo"), {"tls_client_cert": 1})


# ------------------------------------------------------------ other options

def test_sourceip(web):
    assert call(web.url("/echo"), {"sourceip": "127.0.0.1"}) == b"/echo"
    assert call(web.url("/echo"), {"sourceip": "192.0.2.1"}) is None   # not ours to bind
    with pytest.raises(ScriptError, match="sourceipid"):
        call(web.url("/echo"), {"sourceipid": "out1"})


def test_http_proxy_gets_the_absolute_url(web):
    got = call("http://example.invalid/echo/through", {"proxy": f"127.0.0.1:{web.port}"})
    assert got == b"http://example.invalid/echo/through"
    assert web.log[-1]["headers"]["Host"] == "example.invalid"


def test_proxy_from_the_environment_and_empty_proxy_option(web, monkeypatch):
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{web.port}")
    assert call("http://example.invalid/echo/env") == b"http://example.invalid/echo/env"
    assert call("http://example.invalid/echo/env", {"proxy": "", "timeout": 2}) is None
    monkeypatch.setenv("no_proxy", "example.invalid")
    assert call("http://example.invalid/echo/env", {"timeout": 2}) is None


def test_unsupported_proxy_is_none(web):
    assert call(web.url("/echo"), {"proxy": "socks5://127.0.0.1:1"}) is None


def test_https_through_a_connect_proxy(tls_local):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    seen = []

    def proxy():
        client, _ = listener.accept()
        head = b""
        while b"\r\n\r\n" not in head:
            head += client.recv(4096)
        seen.append(head.split(b"\r\n")[0])
        host, port = head.split(b" ")[1].rsplit(b":", 1)
        upstream = socket.create_connection((host.decode(), int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        pair = {client: upstream, upstream: client}
        while True:
            ready, _, _ = select.select(list(pair), [], [], 5)
            if not ready:
                break
            data = ready[0].recv(65536)
            if not data:
                break
            pair[ready[0]].sendall(data)
        client.close()
        upstream.close()

    t = threading.Thread(target=proxy, daemon=True)
    t.start()
    proxy_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    assert call(tls_local.url("/echo/tunnel"), {"proxy": proxy_url}) == b"/echo/tunnel"
    assert seen == [f"CONNECT 127.0.0.1:{tls_local.port} HTTP/1.1".encode()]
    t.join(5)
    listener.close()


# --------------------------------------------------------------- background

def test_background_returns_true_at_once_and_the_request_happens(web):
    n = len(web.log)
    started = time.monotonic()
    assert call(web.url("/slow/0.3"), {"background": True}) is True
    assert time.monotonic() - started < 0.2
    assert httpclient._bg_drain(5)
    assert len(web.log) == n + 1 and web.log[-1]["path"] == "/slow/0.3"


def test_background_retries_failures(web):
    before = sum(1 for r in web.log if r["path"].startswith("/retry"))
    assert call(web.url("/retry/%d" % (before + 3)),
                {"background": True, "background_retry_count": 5,
                 "background_retry_delay": 0.01, "background_hash": 3}) is True
    assert httpclient._bg_drain(5)
    after = sum(1 for r in web.log if r["path"].startswith("/retry"))
    assert after - before == 3          # two 503s, then a 200 ends the retries


def test_background_with_an_unusable_url_is_none():
    assert call("ftp://127.0.0.1/", {"background": True}) is None


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("args, pos, expected", [
    ((1.0,), 1, "a string"),
    ((b"http://x/", b"opts"), 2, "an array"),
    ((b"http://x/", HArray(), b"get"), 3, "an array"),
    ((b"http://x/", HArray(), HArray(), 1.0), 4, "an array, a string or a function"),
])
def test_argument_type_errors(args, pos, expected):
    with pytest.raises(ScriptError) as e:
        FUNCTIONS["http"].fn(*args)
    assert e.value.message.startswith(f"http() expects {expected} as argument {pos}")
    assert "type error" in e.value.message


@pytest.mark.parametrize("options, words", [
    ({"timeout": "5"}, "'timeout' must be a number"),
    ({"connect_timeout": True}, "'connect_timeout' must be a number"),
    ({"max_file_size": "1"}, "'max_file_size' must be a number"),
    ({"redirects": True}, "'redirects' must be a number"),
    ({"extended_result": 1}, "'extended_result' must be a boolean"),
    ({"tls_verify_peer": "no"}, "'tls_verify_peer' must be a boolean"),
    ({"ssl_verify_host": 0}, "'ssl_verify_host' must be a boolean"),
    ({"method": 1}, "'method' must be a string"),
    ({"method": "GET /x"}, "not a valid request method"),
    ({"headers": "X-A: 1"}, "'headers' must be an array of strings"),
    ({"headers": [1]}, "'headers' must be an array of strings"),
    ({"headers": ["no colon"]}, "is not \"Name: value\""),
    ({"headers": ["X-A: 1\r\nX-B: 2"]}, "line breaks"),
    ({"headers": ["Bad Name: 1"]}, "not a valid header name"),
    ({"proxy": 1}, "'proxy' must be a string"),
    ({"sourceip": 1}, "'sourceip' must be a string"),
    ({"background": "yes"}, "'background' must be a boolean"),
    ({"background_retry_count": "1"}, "'background_retry_count' must be a number"),
])
def test_option_errors_name_the_function_and_option(options, words, web):
    n = len(web.log)
    with pytest.raises(ScriptError) as e:
        call(web.url("/echo"), options)
    assert e.value.message.startswith("http() ") and words in e.value.message
    assert len(web.log) == n                # nothing was sent


def test_get_and_post_value_type_errors(web):
    with pytest.raises(ScriptError, match=r"http\(\) .*get array.*type error"):
        call(web.url("/$1"), get=[[1]])
    with pytest.raises(ScriptError, match=r"http\(\) .*post array.*type error"):
        call(web.url("/echo"), post={"a": True})


def test_unknown_options_are_ignored(web):
    assert call(web.url("/echo"), {"no_such_option": [1, 2]}) == b"/echo"


def test_errors_are_catchable_in_hsl(web):
    out = run('try { http($url, ["timeout" => "x"]); } catch ($e) { echo "caught"; }',
              url=web.url("/echo"))
    assert out == ["caught"]


# ------------------------------------------------------------- speculative

def test_a_speculative_run_is_preempted_before_the_request(web):
    n = len(web.log)
    calls = []
    program = hsl.compile('memory_inc("http-test"); $r = http($url, [], [], $body);')
    body = HFunction("body", lambda size: calls.append(size) or None, 1, 1)
    with pytest.raises(Preempted) as e:
        program.run(variables={"url": web.url("/echo"), "body": body}, max_time=0.005,
                    speculative=True, output=lambda s: None)
    assert e.value.why == "http"
    assert len(web.log) == n and calls == []
    out = []
    program.run(variables={"url": web.url("/echo"), "body": body}, output=out.append)
    assert len(web.log) == n + 1 and calls == [65536.0]


# --------------------------------------------------------------- end to end

def test_hsl_run_end_to_end(web):
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    code = f'''
        $r = http("{web.url('/echo/$1')}", ["extended_result" => true], ["a b"]);
        echo $r["status"] . " " . $r["content"];
        echo http("{web.url('/status/500')}") ?? "none";
        echo http("{web.url('/echo')}", ["timeout" => "x"]);
    '''
    r = subprocess.run([sys.executable, "-m", "hsl", "run", "-e", code],
                       capture_output=True, env=env, timeout=60)
    assert r.stdout == b"200 /echo/a%20b\nnone\n"
    assert r.returncode == 1
    assert b"http() option 'timeout' must be a number" in r.stderr
    assert b"Traceback" not in r.stderr


def test_hsl_run_waits_for_background_requests_before_exiting(web):
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    url = web.url("/slow/0.3?bg")
    code = f'echo http("{url}", ["background" => true]);'
    r = subprocess.run([sys.executable, "-m", "hsl", "run", "-e", code],
                       capture_output=True, env=env, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"true\n", b"")
    assert web.log[-1]["path"] == "/slow/0.3?bg"     # made (and answered) before exit


def test_host_names_come_from_the_dns_table_when_one_is_configured(web):
    from hsl.net import dns as resolver
    saved = resolver.backend()
    resolver.configure(resolver.MockBackend({
        "web.table.test": {"a": ["127.0.0.1"]},
        "down.table.test": "SERVFAIL",
    }))
    try:
        got = call(f"http://web.table.test:{web.port}/echo", {"extended_result": True})
        assert got is not None and got.get(b"status") == 200.0
        assert call(f"http://down.table.test:{web.port}/echo") is None
        assert call(f"http://missing.table.test:{web.port}/echo") is None
    finally:
        resolver.configure(saved)
