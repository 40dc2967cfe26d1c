"""HTTP(S) requests: http() (builtins.md "DNS and network"), on the standard library.

`http(url [, options [, get [, post]]])` makes one HTTP/1.1 request over its own
connection (socket, ssl; http.client parses the response) and returns:

* without `extended_result`: the body (a string) for a 2xx response, none for any other
  status and on every failure (DNS, connect, TLS, timeout, a malformed response,
  `max_file_size` exceeded, too many redirects, an unusable proxy or URL);
* with `extended_result`: `["status" => number, "content" => string, "headers" =>
  [["name" => name, "value" => value], ...]]` for any response, none on failures.
  `headers` lists the final response's header fields in the order received, one entry
  per field line (a repeated field gives several entries), names lowercased, values as
  sent (surrounding whitespace removed).  The entries are keyed arrays so that both
  `[$name, $value] = $h` (positional destructuring) and `$h["value"]` work, as real
  scripts use them (halon-extras f-secure);
* with `response_headers` (and no `extended_result`): the status line, the header lines
  and the body as one string, for any status (the older documented meaning);
* with `background`: true once the request is queued (none if the URL is unusable); see
  below.

Arguments.  `get` values (strings or numbers, in array order) replace `$1`, `$2`, ... in
the URL, percent-encoded as url_encode() does; `$N` with no N-th value is left as is.
`post`: an array is sent form-encoded (`key=value&...`, percent-encoded, numbers in their
string form), a string as the raw body, a function is called with the maximum length
(65536) and returns body chunks until it returns "" or none (the whole body is collected
before sending, so the request carries a Content-Length; a longer chunk is sent whole).
A body makes the request a POST unless `method` says otherwise; bodies get
`Content-Type: application/x-www-form-urlencoded` unless a header sets one (as curl does).

Options (`ssl_*` are accepted as aliases of the `tls_*` names; a `tls_*` one wins):

* `method` (string), `headers` (list of "Name: value"; as with curl, "Name:" with no value
  removes a header hsl would send, "Name;" sends it empty; a header replaces hsl's own
  of the same name: Host, Accept, Content-Type, Content-Length, Connection, Authorization);
  a Transfer-Encoding: chunked header makes hsl send the body chunked.
* `timeout` (seconds, the whole request including redirects; none, 0 or less: no limit),
  `connect_timeout` (seconds, default 10: TCP connect, proxy CONNECT and TLS handshake;
  0 or less: 300 as curl), `max_file_size` (bytes; a longer body fails the request).
  Every wait (name resolution, connecting, the TLS handshake, data) is a wait of
  hsl.net: bounded by the execution's time limit too, and when that runs out during a
  request the run stops with "execution time limit exceeded" (it does not return none);
  a cancelled run (hsl serve's `cancel`) stops with "interrupted" within a quarter of a
  second.
* `redirects` (default 0: a 3xx response is returned as it is; N: follow up to N
  Location redirects of 301, 302, 303, 307, 308, more fails the request; -1 means
  unlimited and, like any number above 50, counts as 50).  301/302 turn a POST into a
  GET and 303 any method but HEAD, as curl; Authorization and Cookie headers are not sent
  to another host.
* `tls_verify_peer` (default true): the certificate chain must verify against the system
  trust store (OpenSSL's default paths, so SSL_CERT_FILE / SSL_CERT_DIR select it;
  hsl.net.tls, as for the SMTP client).
  `tls_verify_host` (default true here; the old documentation said false, curl and the
  http-background plugin say true): the certificate must name the URL's host (an IP
  address among its IP subject alternative names, a host name among its DNS ones, with a
  `*.` wildcard as the whole leftmost label; the subject CN only when it has no DNS
  names); this is checked even when `tls_verify_peer` is false.
  `tls_default_ca` is accepted and changes nothing: the system trust store is always
  loaded.  `tls_client_cert`: an array `["x509" => X509 object or resource, "privatekey"
  => a private key resource (rsa_privatekey/ec_privatekey/ed25519_privatekey) or PEM
  text, "chain" => [X509, ...]]`, or PEM text holding the certificate, its chain and the
  key (as pkcs7_sign takes); a `pki:` style id names a certificate of the Halon server
  and is an error here.  A certificate that cannot be used fails the request (none).
* `sourceip` (string: the local address to bind); `sourceipid` names a server
  address and is an error here.  `proxy` (string, "[http://][user:pass@]host[:port]",
  port 1080 by default; "" for none): http URLs are requested through it, https ones
  tunnelled with CONNECT.  Without the option the environment's proxy settings apply
  (http_proxy, https_proxy, all_proxy, no_proxy), as curl does.  Other proxy kinds fail.
* `background` (boolean): hsl collects the body, queues the request and returns true at
  once; a worker thread performs it with the same options.  `background_hash` (number)
  picks one of 8 queues (modulo), each served in order by its own thread;
  `background_retry_count` (default 0) and `background_retry_delay` (seconds, default 0)
  retry a request that failed or got a non-2xx status.  Results are discarded.  When the
  process exits, hsl waits up to 60 seconds for queued background requests.
* `extended_result`, `response_headers` (booleans), as above.  Unknown options are ignored.

A URL without "://" is taken as http (curl does the same: `host:port/path`); other
schemes fail, as do control characters.  Non-ASCII host names are IDNA-encoded; bytes
not allowed in a request target (space, non-ASCII, `"<>\\^`{|}`) are percent-encoded; a
user:password in the URL becomes Basic authorization.  hsl sends `Host`, `Accept: */*`,
`Connection: close` and no User-Agent (as libcurl by default); responses are not
decompressed (nothing asks for compression).

Wrong argument or option types are errors naming http().  Before any request (and before
a post function is called) http() calls runtime.blocking("http"), so a speculative run
(hsl serve's event loop) moves to a worker thread instead of doing network I/O.
"""
from __future__ import annotations

import atexit
import base64
from http import client as _hc     # (this module defines a function named http)
import math
import queue
import re
import socket
import ssl
import threading
import time
import urllib.request
from typing import Optional
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

from ..runtime import execution as _execution
from ..errors import ScriptError
from ..net import hosts, offline, sockets, tls
from ..net.clock import Clock
from ..runtime.values import HArray, HFunction, to_str, type_name
from ._args import opt_bool, opt_number, opt_str, type_error
from ._limits import Pieces
from .encodings import url_encode
from .registry import builtin

AREA = "network"
_F = "http"

POST_CHUNK = 65536              # the maximum length passed to a post function
DEFAULT_CONNECT_TIMEOUT = 10.0
CURL_CONNECT_TIMEOUT = 300.0    # connect_timeout 0 or less, as curl
MAX_UNLIMITED_REDIRECTS = 50
BACKGROUND_QUEUES = 8
BACKGROUND_EXIT_WAIT = 60.0
_MAX_HEAD = 65536               # a proxy's CONNECT response head


class _Failed(Exception):
    """The request failed in a way http() reports as none."""


_FAILURES = (OSError, ssl.SSLError, _hc.HTTPException, ValueError, UnicodeError,
             _Failed)


# ------------------------------------------------------------------- options

def _option_error(name: bytes, expected: str, got) -> ScriptError:
    return ScriptError(f"http() option {name.decode('latin-1')!r} must be {expected}, "
                       f"got {type_name(got)} (type error)")


def _written(opts: HArray, name: bytes) -> bytes:
    """Option `name` as the script wrote it: `tls_x`, or its older spelling `ssl_x`."""
    if name.startswith(b"tls_") and opts.d.get(name) is None \
            and opts.d.get(b"ssl_" + name[4:]) is not None:
        return b"ssl_" + name[4:]
    return name


def _bool(opts, name, default):
    return opt_bool("http", opts, _written(opts, name), default)


def _number(opts, name):
    return opt_number("http", opts, _written(opts, name))


def _string(opts, name):
    return opt_str("http", opts, _written(opts, name))


_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


def _headers(opts) -> list:
    """The `headers` option as [(name, value or None for "remove")]."""
    v = opts.d.get(b"headers")
    if v is None:
        return []
    if type(v) is not HArray:
        raise _option_error(b"headers", "an array of strings", v)
    out = []
    for line in v.d.values():
        if type(line) is not bytes:
            raise _option_error(b"headers", "an array of strings", line)
        if any(c in line for c in b"\r\n\0"):
            raise ScriptError("http() option 'headers': a header must not contain line "
                              "breaks or NUL bytes")
        colon = line.find(b":")
        if colon < 0 and line.endswith(b";"):
            name, value = line[:-1].strip(), b""
        elif colon < 0:
            raise ScriptError(f"http() option 'headers': {line.decode('latin-1')!r} is not "
                              f"\"Name: value\"")
        else:
            name, value = line[:colon].strip(), line[colon + 1:].strip(b" \t")
            if value == b"":
                value = None
        if not _TOKEN.match(name):
            raise ScriptError(f"http() option 'headers': {name.decode('latin-1')!r} is not "
                              f"a valid header name")
        out.append((name, value))
    return out


def _seconds(value: Optional[float]) -> Optional[float]:
    """A timeout option: positive and finite, else no limit."""
    if value is None or not value > 0 or not math.isfinite(value):
        return None
    return value


class _Settings:
    """Everything a request needs, checked, in plain Python values (no HSL values, so a
    background thread can use it)."""

    __slots__ = ("method", "headers", "timeout", "connect_timeout", "max_file_size",
                 "redirects", "verify_peer", "verify_host", "client_cert", "sourceip",
                 "proxy", "extended", "response_headers", "background", "queue",
                 "retry_count", "retry_delay")

    def __init__(self, opts: HArray):
        method = _string(opts, b"method")
        if method is not None and not _TOKEN.match(method):
            raise ScriptError(f"http() option 'method': {method.decode('latin-1')!r} is not "
                              "a valid request method")
        self.method = method
        self.headers = _headers(opts)
        self.timeout = _seconds(_number(opts, b"timeout"))
        ct = _number(opts, b"connect_timeout")
        if ct is None:
            self.connect_timeout = DEFAULT_CONNECT_TIMEOUT
        else:
            self.connect_timeout = _seconds(ct) or CURL_CONNECT_TIMEOUT
        mfs = _number(opts, b"max_file_size")
        self.max_file_size = int(mfs) if mfs is not None and 1 <= mfs < math.inf else None
        r = _number(opts, b"redirects")
        if r is None or r != r:
            self.redirects = 0
        elif r < 0 or r > MAX_UNLIMITED_REDIRECTS:
            self.redirects = MAX_UNLIMITED_REDIRECTS
        else:
            self.redirects = int(r)
        self.verify_peer = _bool(opts, b"tls_verify_peer", True)
        self.verify_host = _bool(opts, b"tls_verify_host", True)
        _bool(opts, b"tls_default_ca", False)
        shown = _written(opts, b"tls_client_cert")
        cert = opts.d.get(shown)
        self.client_cert = None if cert is None else _client_cert_pem(shown, cert)
        src = _string(opts, b"sourceip")
        self.sourceip = src.decode("latin-1") if src is not None else None
        if opts.d.get(b"sourceipid") is not None:
            raise ScriptError("http() option 'sourceipid' names an address configured in "
                              "the Halon server, which hsl does not have; use 'sourceip'")
        self.proxy = _string(opts, b"proxy")
        self.extended = _bool(opts, b"extended_result", False)
        self.response_headers = _bool(opts, b"response_headers", False)
        self.background = _bool(opts, b"background", False)
        h = _number(opts, b"background_hash")
        self.queue = int(abs(h)) % BACKGROUND_QUEUES if h is not None and math.isfinite(h) \
            else 0
        rc = _number(opts, b"background_retry_count")
        self.retry_count = int(min(rc, 1e6)) if rc is not None and rc >= 1 else 0
        rd = _number(opts, b"background_retry_delay")
        self.retry_delay = min(rd, 86400.0) if rd is not None and rd > 0 else 0.0


# ------------------------------------------------------------ client certificates

def _client_cert_pem(shown: bytes, value) -> bytes:
    """PEM text (certificate, chain, key) for the `tls_client_cert` option."""
    what = f"http() option {shown.decode('latin-1')!r}"
    if type(value) is bytes:
        if b"-----BEGIN" not in value:
            raise ScriptError(f"{what}: certificate ids name certificates configured in the "
                              "Halon server, which hsl does not have; pass PEM text or an "
                              "array with x509 and privatekey")
        return value
    if type(value) is not HArray:
        raise _option_error(shown, "an array or a string", value)
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    def cert_pem(v, where):
        to_crypto = getattr(v, "to_cryptography", None)
        cert = to_crypto() if to_crypto is not None else None
        if not isinstance(cert, x509.Certificate):
            raise ScriptError(f"{what}: {where} must be an X509 object or resource, got "
                              f"{type_name(v)} (type error)")
        return cert.public_bytes(serialization.Encoding.PEM)

    out = [cert_pem(value.d.get(b"x509"), "'x509'")]
    chain = value.d.get(b"chain")
    if chain is not None:
        if type(chain) is not HArray:
            raise ScriptError(f"{what}: 'chain' must be an array of X509 objects, got "
                              f"{type_name(chain)} (type error)")
        out += [cert_pem(c, "each 'chain' entry") for c in chain.d.values()]
    key = value.d.get(b"privatekey")
    if type(key) is bytes:
        out.append(key)
    elif isinstance(getattr(key, "key", None), (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey,
                                               ed25519.Ed25519PrivateKey)):
        out.append(key.key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    else:
        raise ScriptError(f"{what}: 'privatekey' must be a private key resource or PEM "
                          f"text, got {type_name(key)} (type error)")
    return b"".join(p if p.endswith(b"\n") else p + b"\n" for p in out)


# --------------------------------------------------------------------- TLS

def _context(verify_peer: bool, client_cert: Optional[bytes]) -> ssl.SSLContext:
    """A TLS context; host names are checked separately (tls.matches)."""
    if client_cert is None:
        return tls.context(verify_peer)
    ctx = tls.new_context(verify_peer)
    tls.load_client_cert(ctx, client_cert)
    return ctx


# -------------------------------------------------------------------- URLs

class _URL:
    __slots__ = ("scheme", "host", "port", "target", "userinfo", "text")

    def __init__(self, text: str):
        if "://" not in text:
            text = "http://" + text
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            raise _Failed("malformed URL")
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise _Failed("unsupported protocol")
        parts.port  # noqa: B018 -- ValueError for a bad port
        hostport = parts.netloc.rpartition("@")[2]
        if hostport.startswith("["):
            host = hostport[1:].partition("]")[0]
        else:
            host = hostport.partition(":")[0]
        if not host:
            raise _Failed("no host in URL")
        if host.isascii():
            host = host.lower()
        else:                           # the URL's bytes were decoded as latin-1
            from .network import idna_to_ascii
            host = idna_to_ascii(host.encode("latin-1").decode("utf-8"))
            if host is None:
                raise _Failed("bad host name")
        port = parts.port if parts.port is not None else (443 if scheme == "https" else 80)
        target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        self.scheme = scheme
        self.host = host
        self.port = port
        self.target = _encode_target(target.encode("latin-1"))
        self.userinfo = None
        if parts.username is not None:
            self.userinfo = (unquote_to_bytes(parts.username) + b":"
                             + unquote_to_bytes(parts.password or ""))
        self.text = text

    def hostport(self, always_port: bool = False) -> bytes:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        if always_port or self.port != default:
            host += f":{self.port}"
        return host.encode("ascii")

    def absolute(self) -> bytes:
        return self.scheme.encode() + b"://" + self.hostport() + self.target


_TARGET_OK = frozenset(b"!$&'()*+,-./0123456789:;=?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]_"
                       b"abcdefghijklmnopqrstuvwxyz~%")


def _encode_target(target: bytes) -> bytes:
    if all(c in _TARGET_OK for c in target):
        return target
    return b"".join(bytes([c]) if c in _TARGET_OK else b"%%%02X" % c for c in target)


_PLACEHOLDER = re.compile(rb"\$([0-9]{1,9})(?![0-9])")


def _substitute(url: bytes, get) -> bytes:
    if get is None or not get.d:
        return url
    values = []
    for v in get.d.values():
        if type(v) is bytes:
            values.append(v)
        elif type(v) is float:
            values.append(to_str(v))
        else:
            raise ScriptError(f"http() expects strings or numbers in the get array "
                              f"(argument 3), got {type_name(v)} (type error)")

    def replace(m):
        i = int(m.group(1))
        if 1 <= i <= len(values):
            return url_encode(values[i - 1])
        return m.group(0)
    return _PLACEHOLDER.sub(replace, url)


def _form(post: HArray) -> bytes:
    fields = []
    for k, v in post.d.items():
        key = k if type(k) is bytes else str(k).encode("ascii")
        if type(v) is float:
            v = to_str(v)
        elif type(v) is not bytes:
            raise ScriptError(f"http() expects strings or numbers as the values of a post "
                              f"array (argument 4), got {type_name(v)} (type error)")
        fields.append(url_encode(key) + b"=" + url_encode(v))
    return b"&".join(fields)


def _collect(fn: HFunction) -> bytes:
    """Call a post function until it returns "" or none; the body it gives."""
    parts = Pieces()
    while True:
        chunk = fn(float(POST_CHUNK))
        if chunk is None or chunk == b"":
            return parts.join()
        if type(chunk) is not bytes:
            raise ScriptError(f"http() post function must return a string or none, got "
                              f"{type_name(chunk)} (type error)")
        parts.add(chunk)
        _execution.check_deadline()


# ----------------------------------------------------------------- proxies

class _Proxy:
    __slots__ = ("host", "port", "auth")

    def __init__(self, text: str):
        if "://" not in text:
            text = "http://" + text
        parts = urlsplit(text)
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise _Failed("unsupported proxy")
        self.host = parts.hostname
        self.port = parts.port or 1080
        self.auth = None
        if parts.username is not None:
            self.auth = b"Basic " + base64.b64encode(
                unquote_to_bytes(parts.username) + b":" + unquote_to_bytes(parts.password or ""))


def _proxy_for(url: _URL, setting: Optional[bytes]) -> Optional[_Proxy]:
    if setting is None:
        proxies = urllib.request.getproxies_environment()
        text = proxies.get(url.scheme) or proxies.get("all")
        if not text or urllib.request.proxy_bypass_environment(url.host, proxies):
            return None
        return _Proxy(text)
    if setting == b"":
        return None
    return _Proxy(setting.decode("latin-1"))


# ---------------------------------------------------------------- requests

class _Response:
    __slots__ = ("status", "reason", "version", "headers", "body", "location")

    def head(self) -> bytes:
        version = b"HTTP/1.0" if self.version == 10 else b"HTTP/1.1"
        lines = [b"%s %d %s" % (version, self.status, self.reason)]
        lines += [name + b": " + value for name, value in self.headers]
        return b"\r\n".join(lines) + b"\r\n\r\n"


def _request_head(method: bytes, target: bytes, url: _URL, user: list, body: Optional[bytes],
                  proxy_auth: Optional[bytes]) -> tuple:
    """The request head and whether to send the body chunked."""
    own = [(b"Host", url.hostport())]
    if url.userinfo is not None:
        own.append((b"Authorization", b"Basic " + base64.b64encode(url.userinfo)))
    if proxy_auth is not None:
        own.append((b"Proxy-Authorization", proxy_auth))
    own.append((b"Accept", b"*/*"))
    if body is not None:
        own.append((b"Content-Length", b"%d" % len(body)))
        own.append((b"Content-Type", b"application/x-www-form-urlencoded"))
    own.append((b"Connection", b"close"))
    replaced = {name.lower() for name, _ in user}
    chunked = any(n.lower() == b"transfer-encoding" and v is not None
                  and b"chunked" in v.lower() for n, v in user)
    if chunked:
        replaced.add(b"content-length")
    lines = [method + b" " + target + b" HTTP/1.1"]
    lines += [n + b": " + v for n, v in own if n.lower() not in replaced]
    lines += [n + b": " + v for n, v in user if v is not None]
    return b"\r\n".join(lines) + b"\r\n\r\n", chunked


def _connect(host: str, port: int, settings: _Settings, clock: Clock) -> socket.socket:
    """A TCP connection to the first address of `host` that accepts one in time."""
    error: Optional[OSError] = None
    for _, address in hosts.addresses(host, port, clock):
        try:
            return sockets.connect(address, clock, source=settings.sourceip)
        except OSError as e:
            error = e
            if isinstance(e, socket.timeout):
                break
    raise error if error is not None else _Failed("no address")


def _tunnel(conn: sockets.Conn, url: _URL, proxy: _Proxy) -> None:
    hp = url.hostport(always_port=True)
    head = b"CONNECT " + hp + b" HTTP/1.1\r\nHost: " + hp + b"\r\n"
    if proxy.auth is not None:
        head += b"Proxy-Authorization: " + proxy.auth + b"\r\n"
    conn.sendall(head + b"\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk or len(data) > _MAX_HEAD:
            raise _Failed("proxy CONNECT failed")
        data += chunk
    m = re.match(rb"HTTP/\d(?:\.\d)? +(\d{3})", data)
    if not m or not 200 <= int(m.group(1)) < 300:
        raise _Failed("proxy CONNECT refused")


def _exchange(url: _URL, method: bytes, body: Optional[bytes], user: list,
              settings: _Settings, clock: Clock, follow: bool) -> _Response:
    """One request and its response (the body is skipped for a redirect to follow)."""
    if offline.http is not None:
        answered = _stand_in_exchange(url, method, body, user, settings, clock)
        if answered is not None:
            return answered
    proxy = _proxy_for(url, settings.proxy)
    clock.phase = time.monotonic() + settings.connect_timeout
    if proxy is not None:
        raw = _connect(proxy.host, proxy.port, settings, clock)
    else:
        raw = _connect(url.host, url.port, settings, clock)
    conn = sockets.Conn(raw, clock)
    try:
        target = url.target
        if url.scheme == "https":
            if proxy is not None:
                _tunnel(conn, url, proxy)
            ctx = _context(settings.verify_peer, settings.client_cert)
            secure = tls.handshake(raw, ctx, url.host, clock)
            conn = sockets.Conn(secure, clock)
            if settings.verify_host and not tls.matches(
                    secure.getpeercert(binary_form=True), [url.host]):
                raise _Failed("certificate does not match the host")
        elif proxy is not None:
            target = url.absolute()
        clock.phase = None
        head, chunked = _request_head(method, target, url, user, body,
                                      proxy.auth if proxy is not None and
                                      url.scheme == "http" else None)
        if body is not None and chunked:
            body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
        conn.sendall(head + (body or b""))
        resp = _hc.HTTPResponse(conn, method=method.decode("latin-1"))
        try:
            resp.begin()
            out = _Response()
            out.status = resp.status
            out.reason = resp.reason.encode("latin-1", "replace")
            out.version = resp.version
            out.headers = [(n.encode("latin-1", "replace"), v.strip().encode("latin-1", "replace"))
                           for n, v in resp.getheaders()]
            out.location = resp.getheader("Location")
            out.body = b""
            if follow and out.status in (301, 302, 303, 307, 308) and out.location:
                return out
            limit = settings.max_file_size
            if limit is not None and resp.length is not None and resp.length > limit:
                raise _Failed("max_file_size exceeded")
            body = Pieces()         # announced as it comes: a body can be endless
            while True:
                data = resp.read(65536)
                if not data:
                    break
                if limit is not None and body.size + len(data) > limit:
                    raise _Failed("max_file_size exceeded")
                body.add(data)
            out.body = body.join()
            return out
        finally:
            resp.close()
    finally:
        conn.close()


def _stand_in_exchange(url: _URL, method: bytes, body: Optional[bytes], user: list,
                       settings: _Settings, clock: Clock) -> Optional[_Response]:
    """The exchange with hsl test's stand-in (hsl.net.offline.http) instead of the
    server: the request as it would be sent (no proxy), the response as if received;
    None when the stand-in lets the request go to the server."""
    head, _ = _request_head(method, url.target, url, user, body, None)
    headers = [tuple(line.split(b": ", 1)) for line in head.split(b"\r\n")[1:] if line]
    answer = offline.http(method, url.absolute().decode("latin-1"), headers, body, clock)
    if answer is None:
        return None
    status, fields, content = answer
    limit = settings.max_file_size
    if limit is not None and len(content) > limit:
        raise _Failed("max_file_size exceeded")
    out = _Response()
    out.status = status
    out.reason = _hc.responses.get(status, "").encode("latin-1")
    out.version = 11
    out.headers = list(fields)
    out.location = next((v.decode("latin-1") for n, v in fields
                         if n.lower() == b"location"), None)
    out.body = content
    return out


def _perform(url: _URL, body: Optional[bytes], settings: _Settings,
             clock: Clock) -> _Response:
    """The request with its redirects; raises one of _FAILURES when it fails."""
    method = settings.method or (b"POST" if body is not None else b"GET")
    user = list(settings.headers)
    hops = 0
    while True:
        resp = _exchange(url, method, body, user, settings, clock,
                         follow=settings.redirects != 0)
        if settings.redirects == 0 or resp.status not in (301, 302, 303, 307, 308) \
                or not resp.location:
            return resp
        if hops >= settings.redirects:
            raise _Failed("too many redirects")
        hops += 1
        nxt = _URL(urljoin(url.text, resp.location))
        if (resp.status == 303 and method != b"HEAD") or \
                (resp.status in (301, 302) and method == b"POST"):
            method, body = b"GET", None
        if (nxt.host, nxt.port) != (url.host, url.port):
            user = [(n, v) for n, v in user if n.lower() not in (b"authorization", b"cookie")]
        url = nxt


# -------------------------------------------------------------- background

_BG_LOCK = threading.Condition()
_BG_QUEUES: dict = {}
_BG_PENDING = [0]


def _bg_worker(q: "queue.Queue") -> None:
    while True:
        job = q.get()
        try:
            job()
        except BaseException:       # a background request has nobody to report to
            pass
        finally:
            with _BG_LOCK:
                _BG_PENDING[0] -= 1
                _BG_LOCK.notify_all()


def _bg_submit(index: int, job) -> None:
    with _BG_LOCK:
        q = _BG_QUEUES.get(index)
        if q is None:
            if not _BG_QUEUES:
                atexit.register(_bg_drain, BACKGROUND_EXIT_WAIT)
            q = _BG_QUEUES[index] = queue.Queue()
            threading.Thread(target=_bg_worker, args=(q,), daemon=True,
                             name=f"hsl-http-background-{index}").start()
        _BG_PENDING[0] += 1
        q.put(job)


def _bg_drain(limit: Optional[float] = None) -> bool:
    """Wait until no background request is queued or running (at most `limit` seconds);
    whether that happened."""
    end = None if limit is None else time.monotonic() + limit
    with _BG_LOCK:
        while _BG_PENDING[0]:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return False
            _BG_LOCK.wait(left)
    return True


def _background(url: _URL, body: Optional[bytes], settings: _Settings) -> None:
    def job():
        for attempt in range(settings.retry_count + 1):
            if attempt and settings.retry_delay:
                time.sleep(settings.retry_delay)
            try:
                resp = _perform(url, body, settings, Clock(settings.timeout))
            except _FAILURES:
                continue
            if 200 <= resp.status < 300:
                return
    _bg_submit(settings.queue, job)


# ----------------------------------------------------------------- http()

@builtin(area=AREA)
def http(url, options=None, get=None, post=None):
    """HTTP(S) request: the body of a 2xx response, else none; with extended_result
    ["status", "content", "headers"] for any response (none on network errors)."""
    if type(url) is not bytes:
        raise type_error(_F, 1, "a string", url)
    if options is None:
        options = HArray()
    elif type(options) is not HArray:
        raise type_error(_F, 2, "an array", options)
    if get is not None and type(get) is not HArray:
        raise type_error(_F, 3, "an array", get)
    if post is not None and type(post) not in (HArray, bytes, HFunction):
        raise type_error(_F, 4, "an array, a string or a function", post)
    settings = _Settings(options)
    url = _substitute(url, get)
    body = _form(post) if type(post) is HArray else post if type(post) is bytes else None
    _execution.blocking("http")
    if type(post) is HFunction:
        body = _collect(post)
    try:
        parsed = _URL(url.decode("latin-1"))
    except _FAILURES:
        return None
    if settings.background:
        _background(parsed, body, settings)
        return True
    try:
        resp = _perform(parsed, body, settings, Clock(settings.timeout))
    except _FAILURES:               # (the run's time limit stops the run in the wait)
        return None
    if settings.extended:
        headers = HArray.from_list([
            HArray.from_pairs([(b"name", n.lower()), (b"value", v)])
            for n, v in resp.headers])
        return HArray.from_pairs([(b"status", float(resp.status)),
                                  (b"content", resp.body), (b"headers", headers)])
    if settings.response_headers:
        return resp.head() + resp.body
    return resp.body if 200 <= resp.status < 300 else None
