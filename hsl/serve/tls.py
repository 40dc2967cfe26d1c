"""STARTTLS of `hsl serve`, with pyOpenSSL.

Why not Python's ssl module: with `--tls-ca` the server asks for a client certificate, and
a certificate that does not verify must not end the handshake: Halon completes it and tells
the script OpenSSL's verify result (`$connection["tls"]["peercert"]["error"]`), so that a
policy can answer with its own reply.  The ssl module cannot do that (CERT_OPTIONAL aborts
the handshake on a certificate that does not verify, and there is no verify callback on
the server side); pyOpenSSL has one.

`server_context()` makes the context: TLS 1.2 and later, the ciphers Python's ssl module
enables, no session resumption (a resumed session would skip the verification whose result
the script reads), no renegotiation.  With a CA file the verify callback records the last
error OpenSSL's verification reports (what SSL_get_verify_result returns when a callback
lets verification go on, as `openssl s_client` shows it: 20 then 21 for a certificate
sent without its intermediate, 18 self-signed, 10 expired...) and lets the handshake go
on.

`StartTLS` is the TLS layer of one connection: the protocol of its plain transport and the
transport of the SMTP protocol above it, with the TLS state in memory BIOs.  However the
connection ends (a failed handshake too, where asyncio's own SSL layer tells the
application nothing), the SMTP protocol's connection_lost() is called."""
from __future__ import annotations

import asyncio
import os
from typing import Callable, Optional

from OpenSSL import SSL

# Python's ssl module's default cipher string (TLS 1.2; TLS 1.3 suites are OpenSSL's).
_CIPHERS = (b"@SECLEVEL=2:ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES:DHE+AES:!aNULL:!eNULL:"
            b"!aDSS:!SHA1:!AESCCM")
_READ = 65536


class _VerifyResult:
    """The verify result of one handshake (the connection's app data: no reference back
    to the layer, so no cycle)."""
    __slots__ = ("error",)

    def __init__(self):
        self.error = 0


def _record_verify_result(conn, _cert, errno, _depth, ok) -> bool:
    # Recorded here: when the callback returns true, pyOpenSSL resets the verification's
    # error to X509_V_OK, so SSL_get_verify_result would always say 0.
    if not ok:
        result = conn.get_app_data()
        if result is not None:
            result.error = errno
    return True     # go on: the script decides what a certificate that does not verify means


def server_context(cert: str, key: str, ca: Optional[str] = None) -> SSL.Context:
    """The TLS context of the listeners; ValueError (naming the file) when a file does not
    load."""
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE
                    | SSL.OP_SINGLE_DH_USE | SSL.OP_SINGLE_ECDH_USE
                    | SSL.OP_NO_RENEGOTIATION | SSL.OP_NO_TICKET
                    # the end of the TCP connection ends the input (SMTP has QUIT and
                    # the final "." of DATA), with or without close_notify
                    | SSL.OP_IGNORE_UNEXPECTED_EOF)
    ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    ctx.set_cipher_list(_CIPHERS)
    _load(ctx.use_certificate_chain_file, cert)
    _load(ctx.use_privatekey_file, key)
    try:
        ctx.check_privatekey()
    except SSL.Error as e:
        raise ValueError(f"{key}: {reason(e)}") from None
    if ca:
        _load(ctx.load_verify_locations, ca)
        ctx.set_verify(SSL.VERIFY_PEER, _record_verify_result)
    return ctx


def _load(method, path: str) -> None:
    try:
        with open(path, "rb"):
            pass
        method(path)
    except OSError as e:
        raise ValueError(f"{path}: {e.strerror}") from None
    except SSL.Error as e:
        raise ValueError(f"{path}: {reason(e)}") from None


def reason(error: BaseException) -> str:
    """The text of a pyOpenSSL (or socket) error, e.g. "wrong version number"."""
    if isinstance(error, SSL.SysCallError):
        code = error.args[0] if error.args else -1
        if isinstance(code, int) and code > 0:
            return os.strerror(code)
        return "connection closed"
    if isinstance(error, SSL.ZeroReturnError):
        return "connection closed"
    if isinstance(error, SSL.Error):
        stack = error.args[0] if error.args else None
        if isinstance(stack, list):
            texts = [entry[2] for entry in stack
                     if isinstance(entry, tuple) and len(entry) == 3 and entry[2]]
            if texts:
                return "; ".join(dict.fromkeys(texts))
        return "TLS error"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


class StartTLS(asyncio.Protocol, asyncio.Transport):
    """The TLS layer of one connection after STARTTLS.  Made with the connection's plain
    transport, whose protocol it becomes; the SMTP protocol's connection_made() is called
    with the layer as its transport once the handshake is done, and `handshake` (a future)
    is then None, or the reason the handshake failed (`on_failure` is called with it too)."""

    def __init__(self, context: SSL.Context, app, raw, on_failure: Callable[[str], None]):
        super().__init__()
        self._app = app
        self._raw = raw
        self._on_failure = on_failure
        self._verify = _VerifyResult()
        self._conn = SSL.Connection(context, None)
        self._conn.set_accept_state()
        self._conn.set_app_data(self._verify)
        self.handshake = asyncio.get_running_loop().create_future()
        self.established = False
        self._closing = False
        self._eof = False
        raw.set_protocol(self)

    # ------------------------------------------------------------------ what it is
    def summary(self) -> dict:
        """protocol, cipher, keysize and (when the client sent one) sni."""
        conn = self._conn
        info = {"protocol": conn.get_protocol_version_name() or "",
                "cipher": conn.get_cipher_name() or "", "keysize": conn.get_cipher_bits() or 0}
        sni = conn.get_servername()
        if sni is not None:
            info["sni"] = sni.decode("utf-8", "replace")
        return info

    def peer(self) -> Optional[tuple]:
        """(DER of the client's certificate, DERs of the certificates it sent after it,
        OpenSSL verify result) or None when the client sent none."""
        from cryptography.hazmat.primitives.serialization import Encoding
        cert = self._conn.get_peer_certificate(as_cryptography=True)
        if cert is None:
            return None
        chain = self._conn.get_peer_cert_chain(as_cryptography=True) or []
        return (cert.public_bytes(Encoding.DER), [c.public_bytes(Encoding.DER) for c in chain],
                self._verify.error)

    # ---------------------------------------------- protocol of the plain transport
    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._conn.bio_write(data)
        if not self.established and not self._do_handshake():
            return
        self._read()

    def eof_received(self) -> bool:
        self._conn.bio_shutdown()
        if not self.established:
            self._fail("connection closed during the handshake")
            return True
        self._read()
        if not self._eof:               # the TCP connection ended without close_notify
            self._app_eof()
        return True

    def connection_lost(self, exc) -> None:
        self._closing = True
        self._conn.set_app_data(None)
        if not self.handshake.done():
            self._failed(reason(exc) if exc is not None
                         else "connection closed during the handshake")
        self._on_failure = None
        app, self._app = self._app, None
        if app is not None:
            app.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._app is not None:
            self._app.pause_writing()

    def resume_writing(self) -> None:
        if self._app is not None:
            self._app.resume_writing()

    def _do_handshake(self) -> bool:
        try:
            self._conn.do_handshake()
        except SSL.WantReadError:
            self._flush()
            return False
        except SSL.Error as e:
            self._fail(reason(e))
            return False
        self._flush()
        self._conn.set_app_data(None)   # no renegotiation: the verify result is final
        self._on_failure = None
        self.established = True
        self.handshake.set_result(None)
        self._app.connection_made(self)
        return True

    def _read(self) -> None:
        while not self._eof and not self._closing:
            try:
                data = self._conn.recv(_READ)
            except SSL.WantReadError:
                break
            except (SSL.ZeroReturnError, SSL.SysCallError):    # the end of the input
                self._flush()
                self._app_eof()
                return
            except SSL.Error:               # a broken record: nothing more can be read
                self._flush()
                self.abort()
                return
            self._app.data_received(data)
        self._flush()

    def _app_eof(self) -> None:
        self._eof = True
        if self._app is not None and not self._app.eof_received():
            self.close()

    def _fail(self, why: str) -> None:
        self._flush()                   # the alert, if OpenSSL made one
        self._failed(why)
        self._closing = True
        self._raw.close()

    def _failed(self, why: str) -> None:
        self._conn.set_app_data(None)
        on_failure, self._on_failure = self._on_failure, None
        if not self.handshake.done():
            self.handshake.set_result(why)
        if on_failure is not None:
            on_failure(why)

    def _flush(self) -> None:
        while True:
            try:
                data = self._conn.bio_read(_READ)
            except SSL.WantReadError:
                return
            if data and not self._raw.is_closing():
                self._raw.write(data)

    # ---------------------------------------------- transport of the SMTP protocol
    def write(self, data) -> None:
        if self._closing or not self.established or not data:
            return
        try:
            self._conn.sendall(bytes(data))
        except SSL.Error:
            self.abort()
            return
        self._flush()

    def writelines(self, list_of_data) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("TLS cannot half-close")

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self.established:
            try:
                self._conn.shutdown()       # close_notify
            except SSL.Error:
                pass
            self._flush()
        self._raw.close()

    def abort(self) -> None:
        self._closing = True
        self._raw.abort()

    def is_closing(self) -> bool:
        return self._closing or self._raw.is_closing()

    def get_extra_info(self, name, default=None):
        if name == "ssl_object":
            return self._conn
        return self._raw.get_extra_info(name, default)

    def set_protocol(self, protocol) -> None:
        self._app = protocol

    def get_protocol(self):
        return self._app

    def pause_reading(self) -> None:
        self._raw.pause_reading()

    def resume_reading(self) -> None:
        self._raw.resume_reading()

    def is_reading(self) -> bool:
        return self._raw.is_reading()

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        self._raw.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._raw.get_write_buffer_size()

    def get_write_buffer_limits(self):
        return self._raw.get_write_buffer_limits()
