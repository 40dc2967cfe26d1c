"""TLS for http() and the SMTP client: contexts, the handshake, certificate names.

* Contexts verify chains against the system trust store (OpenSSL's default paths, so
  SSL_CERT_FILE / SSL_CERT_DIR select it; hsl has no certificate store of its own) or
  not at all.  Host names are never checked by the ssl module: the builtins say which
  names a certificate must hold (`matches`), also when the chain is not verified.
* The handshake waits on a clock (hsl.net.clock): bounded by its deadlines, and a
  cancelled run stops in the middle of it.
* Certificate names (RFC 6125): an IP address must be among the IP subject alternative
  names; a host name must match a DNS one, where a `*` wildcard is only the whole
  leftmost label of a name of at least three labels; the subject CN counts only when
  there are no DNS names.  A wanted name that starts with "." (smtp's tls_verify_name)
  accepts any direct subdomain of it.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import tempfile
import threading
from typing import Optional

_CONTEXTS: dict = {}
_CONTEXTS_LOCK = threading.Lock()


def new_context(verify_peer: bool) -> ssl.SSLContext:
    """A client context of its own (to change further: versions, ciphers, a client
    certificate)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if verify_peer:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_default_certs()
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def context(verify_peer: bool) -> ssl.SSLContext:
    """A shared client context, made once per trust store (loading it takes time)."""
    key = (verify_peer, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    with _CONTEXTS_LOCK:
        ctx = _CONTEXTS.get(key)
    if ctx is None:
        ctx = new_context(verify_peer)
        with _CONTEXTS_LOCK:
            _CONTEXTS[key] = ctx
    return ctx


def load_client_cert(ctx: ssl.SSLContext, pem: bytes) -> None:
    """Add a client certificate (PEM: certificate, chain, key).  ssl loads them from files
    only: use an anonymous memory file where there is one, else a private temporary file
    removed at once."""
    if hasattr(os, "memfd_create"):
        try:
            fd = os.memfd_create("hsl-client-cert")
        except OSError:
            fd = None
        if fd is not None:
            try:
                os.write(fd, pem)
                path = f"/proc/self/fd/{fd}"
                if os.path.exists(path):
                    ctx.load_cert_chain(path)
                    return
            finally:
                os.close(fd)
    fd, path = tempfile.mkstemp(prefix="hsl-client-cert-")
    try:
        os.write(fd, pem)
        os.close(fd)
        fd = None
        ctx.load_cert_chain(path)
    finally:
        if fd is not None:
            os.close(fd)
        os.unlink(path)


def handshake(sock: socket.socket, ctx: ssl.SSLContext, server_hostname: Optional[str],
              clock, timeout: Optional[float] = None) -> ssl.SSLSocket:
    """The TLS connection over connected `sock` (which it takes over), sending
    `server_hostname` as SNI (None: none; an IP address is never sent).  Waits as the
    clock says (socket.timeout after `timeout` seconds); ssl.SSLError or OSError when
    the handshake fails."""
    end = clock.deadline(timeout)
    tls = ctx.wrap_socket(sock, server_hostname=server_hostname,
                          do_handshake_on_connect=False)
    try:
        while True:
            tls.settimeout(clock.slice(end))
            try:
                tls.do_handshake()      # goes on where a timed-out slice stopped
                return tls
            except socket.timeout:
                continue
    except BaseException:
        tls.close()
        raise


# ---------------------------------------------------------------- certificate names

def peer_names(der: Optional[bytes]) -> tuple:
    """(DNS names, IP addresses) a certificate (DER) is valid for, by the rules above."""
    if not der:
        return [], []
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:                  # a certificate that cannot be read names nothing
        return [], []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    names = san.get_values_for_type(x509.DNSName) if san is not None else []
    ips = san.get_values_for_type(x509.IPAddress) if san is not None else []
    if not names:
        names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
                 if isinstance(a.value, str)]
    return names, ips


def _direct_child(name: str, base: str) -> bool:
    label, dot, rest = name.partition(".")
    return bool(label and dot) and rest == base


def name_matches(cert_name: str, wanted: str) -> bool:
    """One DNS name of a certificate against a wanted host name (lowercase, no final
    dot; a leading "." accepts direct subdomains)."""
    cert_name = cert_name.lower().rstrip(".")
    if wanted.startswith("."):
        base = wanted[1:]
        if cert_name.startswith("*."):
            return cert_name[2:] == base
        return _direct_child(cert_name, base)
    if cert_name.startswith("*."):
        base = cert_name[2:]
        return "." in base and "*" not in base and _direct_child(wanted, base)
    return "*" not in cert_name and cert_name == wanted


def matches(der: Optional[bytes], wanted: list) -> bool:
    """Whether the certificate (DER) is valid for any of `wanted` (IP addresses or host
    names, see name_matches)."""
    names, ips = peer_names(der)
    for host in wanted:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            host = host.lower().rstrip(".")
            if any(name_matches(n, host) for n in names):
                return True
        else:
            if ip in ips:
                return True
    return False
