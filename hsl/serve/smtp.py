"""The SMTP protocol of `hsl serve`: aiosmtpd's SMTP transport handling with our own
command loop, which drives one hsl.hooks.conversation.Conversation per connection: the
greeting, HELO/EHLO, AUTH, MAIL, RCPT, DATA, RSET, NOOP, HELP and QUIT are the
conversation's (its protocol rules, and every configured hook through Policy.run), the
driver does the I/O its events ask for (a 334 prompt, reading DATA, committing the queued
copies to the spool before the 250).  Around it: a strict command reader (line length,
NUL, bare CR/LF, invalid UTF-8 and binary junk are refused with a reply and the session
goes on), the proxy hook's look at each command line, STARTTLS through `tls.StartTLS`,
VRFY answered 252 (RFC 5321 3.5.3: we cannot verify, we will try) and EXPN 502 (no
mailing lists here), `421 4.4.2` on idle timeout and `421 4.7.0` beyond
--max-connections.

The end of a connection.  Whatever ends it (QUIT, the client closing or resetting it at
any point, a failed TLS handshake, the idle timeout, an error in any handler), the command
loop ends, the transport is closed (aborted when its last replies cannot be written within
CLOSE_GRACE seconds) and connection_lost() frees the connection's slot, its `$context` and
its socket, and starts the disconnect hook (once, as a task of its own that closing does
not wait for): `close` is "local" when the server ended the connection (after QUIT's 221,
a decision that disconnects, the idle timeout, too many errors), "remote" when the client
did; `error` says when a socket or TLS failure ended it.  The end of the input is not the
end of the session: the commands read before it are answered (aiosmtpd would cancel the
command loop and lose their replies)."""
from __future__ import annotations

import asyncio
import re
import random
import socket
import time
from typing import Optional

import aiosmtpd
from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import login_always_fail as _login_always_fail

from ..builtins.network import inet_reverse
from ..builtins.server import connection_close, connection_open
from ..hooks.conversation import (Conversation, Prompt, ReadMessage, Reply,
                                  RunHook)
from ..net import dns as resolver
from ..queue.spool import SpoolError
from .dataread import read_message
from .maildir import deliver
from .tls import StartTLS

MAX_COMMAND = 512            # octets, CRLF included (RFC 5321 4.5.3.1.4)
MAX_MAIL_COMMAND = 512 + 26  # MAIL with the SIZE parameter (RFC 1870)
IDENT = "ESMTP hsl"
_FAST_INIT = aiosmtpd.__version__.startswith("1.4.")
MAX_ERRORS = 20              # syntax errors in a row before the connection is closed
CLOSE_GRACE = 10.0           # seconds the last replies may take before the socket is aborted
_JUNK = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


_random = random.Random()


_V4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))      # uuid.UUID(version=4)'s bits
_V4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_id() -> str:
    """A random (version 4) UUID, without a system call per id (nor a UUID object)."""
    h = "%032x" % ((_random.getrandbits(128) & _V4_CLEAR) | _V4_SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _MethodTable:
    """`self._smtp_methods` of aiosmtpd without building a dict per connection: the
    command names are computed once per class, methods are bound on lookup."""
    __slots__ = ("proto",)
    _names: dict = {}

    def __init__(self, proto):
        self.proto = proto

    def get(self, command, default=None):
        cls = type(self.proto)
        names = self._names.get(cls)
        if names is None:
            names = self._names[cls] = frozenset(
                m[5:] for m in dir(cls) if m.startswith("smtp_"))
        if command in names:
            return getattr(self.proto, "smtp_" + command)
        return default

    def items(self):
        self.get("")
        return [(n, getattr(self.proto, "smtp_" + n)) for n in
                sorted(self._names[type(self.proto)])]

    def __contains__(self, command):
        return self.get(command) is not None

    def __getitem__(self, command):
        method = self.get(command)
        if method is None:
            raise KeyError(command)
        return method


class Connections:
    """Connection accounting shared by the listeners (event loop thread only)."""

    def __init__(self, serverid: str, limit: int, metrics):
        self.serverid = serverid
        self.limit = limit
        self.metrics = metrics
        self.active = 0

    def open(self, ip: str) -> bool:
        if self.limit and self.active >= self.limit:
            self.metrics.connections_refused += 1
            return False
        self.active += 1
        self.metrics.connections_total += 1
        self.metrics.connections_active = self.active
        connection_open(self.serverid, ip)
        return True

    def close(self, ip: str) -> None:
        self.active -= 1
        self.metrics.connections_active = self.active
        connection_close(self.serverid, ip)


class HSLSMTP(SMTP):
    """One SMTP connection."""

    def __init__(self, app, *, peer: Optional[tuple] = None):
        self.app = app
        if _FAST_INIT:
            self._fast_init(app)
        else:                                   # another aiosmtpd: its own constructor
            super().__init__(app.handler, hostname=app.hostname, ident=IDENT,
                             timeout=app.timeout, data_size_limit=app.max_size,
                             enable_SMTPUTF8=False, decode_data=False,
                             auth_require_tls=True, loop=app.loop)
            self.tls_context = app.tls_context  # a pyOpenSSL context (see smtp_STARTTLS)
            self._auth_methods = {}
        self.conn_id = new_id()
        self.conv: Optional[Conversation] = None    # the protocol and the hooks' state
        self.peer_override = peer           # --stdio: (ip, port) the script sees
        self.remote = ("0.0.0.0", 0)
        self.local = ("0.0.0.0", 0)
        self.remoteptr: Optional[str] = None
        self.counted = False
        self.refused = False
        self.in_script = False
        self.ended = False                  # the command loop is to stop (QUIT, failed TLS)
        self.command = None                 # the command being answered (enhanced codes)
        self.tls_pending = False            # TLS is up: tell the conversation first thing
        self.close_by: Optional[str] = None     # "local" once the server ends the session
        self.failure: Optional[dict] = None     # a TLS failure ($arguments["error"])
        self.stored_as: Optional[str] = None    # --maildir: the file of the last message
        self._last_activity = 0.0

    def _fast_init(self, app) -> None:
        """aiosmtpd 1.4's SMTP.__init__ without its per-connection introspection
        (inspect.getmembers and dir() of the protocol and the handler, ~0.2 ms per
        connection): the same attributes, with the command table built once per class.
        AUTH is not offered (no mechanisms)."""
        loop = app.loop
        self.__ident__ = IDENT
        self.loop = loop
        asyncio.StreamReaderProtocol.__init__(
            self, asyncio.StreamReader(loop=loop, limit=self.line_length_limit),
            client_connected_cb=self._cb_client_connected, loop=loop)
        self.event_handler = app.handler
        self.data_size_limit = app.max_size
        self.enable_SMTPUTF8 = False
        self._decode_data = False
        self.hostname = app.hostname
        self.tls_context = app.tls_context
        self.require_starttls = False
        self._timeout_duration = app.timeout
        self._timeout_handle = None
        self._tls_handshake_okay = True
        self._tls_protocol = None
        self._original_transport = None
        self.session = None
        self.envelope = None
        self.transport = None
        self._handler_coroutine = None
        self._auth_require_tls = True
        self._proxy_timeout = None
        self._authenticator = None
        self._auth_callback = _login_always_fail
        self._auth_required = False
        self._auth_methods = {}
        self._handle_hooks = app.handle_hooks
        self._ehlo_hook_ver = None
        self._enforce_call_limit = False

    # A table made on use, not stored: stored, it would tie the connection into a
    # reference cycle (see smtp_QUIT).
    @property
    def _smtp_methods(self):
        return self.__dict__.get("_methods_dict") or _MethodTable(self)

    @_smtp_methods.setter
    def _smtp_methods(self, table):         # aiosmtpd's own constructor sets a dict
        self.__dict__["_methods_dict"] = table

    # ------------------------------------------------------------ connection
    def connection_made(self, transport) -> None:
        first = self.transport is None and self._original_transport is None
        super().connection_made(transport)
        if not first:
            return
        peer = self.peer_override or _addr(transport.get_extra_info("peername"))
        self.remote = peer or ("0.0.0.0", 0)
        self.local = _addr(transport.get_extra_info("sockname")) or ("0.0.0.0", 0)
        if self.peer_override:
            self.local = ("127.0.0.1", 0)
        if self.app.connections.open(self.remote[0]):
            self.counted = True
            self.conv = self._conversation()
        else:
            self.refused = True
        if self._handler_coroutine is not None:
            self._handler_coroutine.add_done_callback(self._handler_done)

    def _conversation(self) -> Conversation:
        app = self.app
        return Conversation(
            app.server_hooks(), remoteip=self.remote[0], remoteport=self.remote[1],
            localip=self.local[0], localport=self.local[1], serverid=app.serverid,
            hostname=self.hostname, connection_id=self.conn_id,
            transportid=app.transportid, maxsize=app.max_size,
            starttls=app.tls_context is not None, auth_plaintext=app.auth_plaintext,
            auth_mechanisms=app.auth_mechanisms, new_id=new_id,
            banner=f"220 {self.hostname} {self.__ident__}".encode())

    def connection_lost(self, error) -> None:
        if self.counted:
            self.counted = False
            self.app.connections.close(self.remote[0])
        conv, self.conv = self.conv, None
        if conv is not None and conv.hooks.has("disconnect") and not conv.disconnected:
            self.app.background(_disconnect(self.app.policy, conv,
                                            self.close_by or "remote",
                                            self.failure or _socket_error(error)))
        if self._timeout_handle is None:      # lost before connection_made finished
            self._reset_timeout()
        super().connection_lost(error)
        lost = getattr(self.app, "on_connection_lost", None)
        if lost is not None:
            lost(self)
        if self._handler_coroutine is None or self._handler_coroutine.done():
            self._break_cycles()

    def eof_received(self) -> bool:
        # The client sends no more; what it sent is still answered (aiosmtpd cancels the
        # command loop here, losing those replies): the loop ends at the end of the input.
        asyncio.StreamReaderProtocol.eof_received(self)
        return True                 # the transport stays open for the replies

    def _handler_done(self, task) -> None:
        if self.transport is None:              # the connection is gone too
            self._break_cycles()

    def _break_cycles(self) -> None:
        """Drop the references that tie a finished connection into cycles (the stream
        callbacks, the reader and writer, the command loop's task and, when it was
        cancelled, its traceback), so that it is freed at once by reference counting:
        cyclic garbage waits for the collector's full passes, which grow long and hold
        every other connection while they run."""
        self._client_connected_cb = None
        self._reader = self._writer = None
        self._handler_coroutine = None

    def _reset_timeout(self, duration: Optional[float] = None) -> None:
        # One timer per connection that re-arms itself, instead of aiosmtpd's cancel and
        # call_later on every command.
        now = self.loop.time()
        self._last_activity = now
        if self._timeout_handle is None or self._timeout_handle.cancelled():
            self._timeout_handle = self.loop.call_at(
                now + (duration or self._timeout_duration), self._timeout_check)

    def _timeout_check(self) -> None:
        remaining = self._last_activity + self._timeout_duration - self.loop.time()
        if remaining > 0 or self.in_script:   # active, or a script is running
            self._timeout_handle = self.loop.call_later(max(remaining, 0.05),
                                                        self._timeout_check)
            return
        self._timeout_cb()

    def _timeout_cb(self) -> None:
        self.close_by = "local"
        if self.transport is not None and not self.transport.is_closing():
            try:
                self.transport.write(f"421 4.4.2 {self.hostname} Error: timeout exceeded, "
                                     "closing connection\r\n".encode())
            except Exception:
                pass
        self._close()

    async def _write(self, lines: list) -> None:
        self._writer.write(b"".join(line + b"\r\n" for line in lines))
        await self._writer.drain()

    def _close(self) -> None:
        """Close the connection, and abort it if its last replies are not written within
        CLOSE_GRACE seconds (or the idle timeout); connection_lost() follows."""
        transport = self.transport
        if transport is None:
            return
        if not transport.is_closing():
            transport.close()
        raw = self._original_transport or transport
        if not raw.is_closing() or raw.get_write_buffer_size():
            self.loop.call_later(min(CLOSE_GRACE, self._timeout_duration), _abort, raw)

    # --------------------------------------------------------- command loop
    async def _handle_client(self) -> None:
        try:
            await self._session()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass                        # the client went away (in the middle of DATA...)
        except Exception as error:      # in the greeting, or a reply that cannot be written
            self._log_error(error)
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(f"421 4.3.0 {self.hostname} Internal error, "
                                     "closing connection\r\n".encode())
        finally:
            # However the session ended (cancelled by connection_lost too): close.
            self._close()

    def _log_error(self, error: BaseException) -> None:
        # Never send Python text to the client, nor a traceback to the log.
        self.app.logger.error("session error", conn=self.conn_id,
                              error=f"{type(error).__name__}: {error}")

    async def _session(self) -> None:
        if self.refused:
            self.close_by = "local"
            await self._write([f"421 4.7.0 {self.hostname} Too many connections, "
                               "try again later".encode()])
            return
        conv = self.conv
        if self.app.rdns:
            await self._lookup_ptr()
            conv.base.remoteptr = self.remoteptr
        reply = await self._drive(conv.connect())
        await self._write(reply.lines)
        if reply.disconnect:
            self.close_by = "local"
            return
        proxy = conv.hooks.has("proxy")
        errors = 0
        reader = self._reader
        while self.transport is not None and not self.ended:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.LimitOverrunError as e:
                await reader.read(e.consumed)
                while True:
                    try:
                        await reader.readuntil(b"\n")
                        break
                    except asyncio.LimitOverrunError as e2:
                        await reader.read(e2.consumed)
                line = None
            problem, command, arg, text = self._parse(line)
            if proxy and problem is None:
                self._reset_timeout()
                try:
                    text = await self._proxy(text)
                except (ConnectionError, asyncio.IncompleteReadError):
                    raise
                except Exception as error:
                    self._log_error(error)
                    await self._write([b"451 4.3.0 Internal error, try again later"])
                    continue
                if text is None:                # the proxy hook answered
                    continue
                problem, command, arg, text = self._parse(text.encode() + b"\r\n")
            method = None if problem is not None else self._smtp_methods.get(command)
            if method is None:
                errors += 1
                if errors >= MAX_ERRORS:
                    self.close_by = "local"
                    await self._write([b"421 4.7.0 " + self.hostname.encode()
                                       + b" Too many errors, closing connection"])
                    return
                await self._write([problem or b"500 5.5.2 Error: command not recognized"])
                continue
            errors = 0
            self._reset_timeout()
            self.command = command
            try:
                if self.tls_pending:
                    self.tls_pending = False
                    conv.tls_started(self._tls_info() or {})
                await method(arg)
            except (ConnectionError, asyncio.IncompleteReadError):
                raise
            except Exception as error:
                self._log_error(error)
                await self._write([b"451 4.3.0 Internal error, try again later"])

    def _parse(self, line: Optional[bytes]):
        """(error reply or None, COMMAND, argument or None, the line's text) for one raw
        command line."""
        if line is None:
            return b"500 5.5.2 Error: line too long", None, None, None
        if not line.endswith(b"\r\n"):
            return (b"500 5.5.2 Error: bare LF in command (lines end with CRLF)", None, None,
                    None)
        body = line[:-2]
        command_bytes = body.split(b" ", 1)[0].upper()
        limit = MAX_MAIL_COMMAND if command_bytes == b"MAIL" else MAX_COMMAND
        if len(line) > limit:
            return b"500 5.5.2 Error: line too long", None, None, None
        if b"\r" in body:
            return b"500 5.5.2 Error: bare CR in command", None, None, None
        if b"\x00" in body:
            return b"500 5.5.2 Error: NUL in command", None, None, None
        if _JUNK.search(body):
            return b"500 5.5.2 Error: control characters in command", None, None, None
        if not body.strip():
            return b"500 5.5.2 Error: bad syntax", None, None, None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return b"500 5.5.2 Error: invalid UTF-8 in command", None, None, None
        command, _, arg = text.partition(" ")
        if not command.isascii() or not command.isalpha():
            return b"500 5.5.2 Error: bad syntax", None, None, None
        arg = arg.strip(" \t")
        return None, command.upper(), (arg or None), text

    # ------------------------------------------------- driving the conversation
    async def _drive(self, step):
        """Run one conversation step to its Reply, doing the I/O its events ask for."""
        try:
            event = next(step)
            while True:
                kind = type(event)
                if kind is RunHook:
                    answer = await self._run_hook(event)
                elif kind is Prompt:
                    answer = await self._prompt(event.lines)
                elif kind is ReadMessage:
                    answer = await self._read_message(event.lines)
                else:
                    answer = await self._commit(event.copies)
                event = step.send(answer)
        except StopIteration as done:
            return done.value

    async def _run_hook(self, event: RunHook):
        self.in_script = True
        try:
            return await self.app.policy.run(event.session, event.program)
        finally:
            self.in_script = False
            self._reset_timeout()

    async def _prompt(self, lines: list) -> Optional[str]:
        """Send a 334 prompt, read the client's answer (None: the client is gone)."""
        await self._write(lines)
        reader = self._reader
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError as e:      # not a SASL response: skip it
            await reader.read(e.consumed)
            await _skip_line(reader)
            return "!"
        self._reset_timeout()
        return line.rstrip(b"\r\n").decode("ascii", "replace")

    async def _read_message(self, lines: list):
        """Send the 354, read the message up to the lone dot: its bytes as received
        (dot-unstuffed), TOO_BIG past --max-size (read to the end, not kept), None when the
        client is gone before the end."""
        await self._write(lines)
        return await read_message(self._reader, self.app.max_size, self._touch)

    def _touch(self) -> None:
        self._last_activity = self.loop.time()

    async def _commit(self, copies: list):
        """Write the transaction's copies to the spool (the spool writer's thread commits
        them with the other transactions waiting, see spool.SpoolWriter), and with
        --maildir the message to the Maildir too: their ids, or why not (a str)."""
        app = self.app
        try:
            ids = await asyncio.wrap_future(app.spool_writer().submit(copies))
        except SpoolError as e:
            app.metrics.spool_errors += 1
            app.metrics.messages["failed"] += 1
            app.logger.error("could not store a message", conn=self.conn_id, error=str(e))
            return str(e)
        app.metrics.queued_copies += len(ids)
        app.metrics.messages["queued"] += 1
        if app.on_queued is not None:       # hsl serve --queue: deliver them now
            app.on_queued(ids)
        app.logger.log("queued", conn=self.conn_id, ids=" ".join(ids),
                       size=len(copies[0].message))
        if app.maildir is not None:
            conv = self.conv
            helo = conv.helo[1] if conv is not None and conv.helo else None
            try:
                self.stored_as = await self.loop.run_in_executor(
                    None, deliver, app.maildir, copies, helo, self.remote[0], self.hostname,
                    self.conn_id, time.time())
            except OSError as e:        # queued all the same: the spool is the store
                app.logger.error("could not write the Maildir copy", conn=self.conn_id,
                                 error=str(e))
            else:
                app.logger.log("message", conn=self.conn_id, stored=self.stored_as,
                               size=len(copies[0].message))
        return ids

    async def _answer(self, step) -> Reply:
        """Drive a command's step, send its reply; the session ends when it says so."""
        reply = await self._drive(step)
        if reply.lines:
            await self._write(reply.lines)
        if reply.disconnect:
            self.ended = True
            if reply.lines:
                self.close_by = "local"
        return reply

    async def _proxy(self, text: str) -> Optional[str]:
        """The proxy hook's look at a command line: the line to run (perhaps rewritten),
        or None when the hook answered it."""
        got = await self._drive(self.conv.proxy(text))
        if isinstance(got, Reply):
            if got.lines:
                await self._write(got.lines)
            if got.disconnect:
                self.ended = True
                self.close_by = "local"
            return None
        return got[1]

    # ------------------------------------------------------------- commands
    async def smtp_HELO(self, arg: Optional[str]):
        await self._answer(self.conv.hello("HELO", arg))

    async def smtp_EHLO(self, arg: Optional[str]):
        await self._answer(self.conv.hello("EHLO", arg))

    async def smtp_AUTH(self, arg: Optional[str]):
        await self._answer(self.conv.auth_command(arg))

    async def smtp_MAIL(self, arg: Optional[str]):
        await self._answer(self.conv.mail(arg))

    async def smtp_RCPT(self, arg: Optional[str]):
        await self._answer(self.conv.rcpt(arg))

    async def smtp_DATA(self, arg: Optional[str]):
        if arg:
            await self._write([b"501 5.5.4 Syntax: DATA"])
            return
        self.stored_as = None
        conv = self.conv
        reply = await self._drive(conv.data())
        lines = reply.lines
        if self.stored_as is not None and not conv.hooks.has("eod") and reply.code == 250:
            lines = [f"250 2.0.0 OK: stored as {self.stored_as}".encode()]   # --maildir
        if lines:
            await self._write(lines)
        if reply.disconnect:
            self.ended = True
            if lines:
                self.close_by = "local"

    async def smtp_RSET(self, arg: Optional[str]):
        await self._answer(self.conv.rset(arg))

    async def smtp_NOOP(self, arg: Optional[str]):
        await self._answer(self.conv.noop(arg))

    async def smtp_HELP(self, arg: Optional[str]):
        await self._answer(self.conv.help(arg))

    async def smtp_QUIT(self, arg: Optional[str]):
        # aiosmtpd cancels the command loop's task here; ending it normally instead spares
        # the cyclic garbage a cancelled task leaves (its CancelledError's traceback holds
        # the whole connection), which the collector would free in long full passes.
        await self._answer(self.conv.quit(arg))

    async def smtp_VRFY(self, arg: Optional[str]):
        if not arg:
            await self._write([b"501 5.5.4 Syntax: VRFY <address>"])
            return
        await self._write([b"252 2.0.0 Cannot VRFY user, but will accept message and "
                           b"attempt delivery"])

    async def smtp_EXPN(self, arg: Optional[str]):
        await self._write([b"502 5.5.1 Error: command not implemented"])

    # ------------------------------------------------------------------- TLS
    async def smtp_STARTTLS(self, arg: Optional[str]):
        if arg:
            await self._write([b"501 5.5.4 Syntax: STARTTLS"])
            return
        if self.tls_context is None:
            await self._write([b"454 4.7.0 TLS not available"])
            return
        if self._tls_protocol is not None:
            await self._write([b"503 5.5.1 Error: TLS already active"])
            return
        # Written before the layer takes the transport over, with nothing awaited in
        # between: every byte the client sends after this reply is TLS.
        self._writer.write(b"220 2.0.0 Ready to start TLS\r\n")
        self._original_transport = self.transport
        self._tls_protocol = self.transport = StartTLS(
            self.tls_context, self, self._original_transport, self._tls_failed)
        # The layer calls connection_made() once the handshake is done: aiosmtpd's
        # starts a new session there (RFC 3207 4.2) and drops unencrypted input.
        if await self._tls_protocol.handshake is not None:
            self.ended = True               # logged by _tls_failed; the layer closes
        else:                               # the conversation learns it before the next
            self.tls_pending = True         # command (RFC 3207 4.2: a fresh start)

    def _tls_failed(self, reason: str) -> None:
        self.failure = {"type": "tls", "reason": reason}
        self.app.logger.error(f"TLS handshake failed: {reason}", conn=self.conn_id,
                              remoteip=self.remote[0])

    def _tls_info(self) -> Optional[dict]:
        layer = self._tls_protocol
        if layer is None or not layer.established or self.transport is None:
            return None
        info = layer.summary()
        peer = layer.peer()
        if peer is not None:
            cert = self.app.peer_certificate(*peer)
            if cert is not None:
                info["peercert"] = cert
        return info

    # ------------------------------------------------------------ rDNS
    async def _lookup_ptr(self) -> None:
        ip = self.remote[0]
        if not resolver.is_system():        # --dns-table / --dns-server answer this too
            name = inet_reverse(ip.encode())
            if name is not None:
                name = name.decode()
                answer = await self.loop.run_in_executor(None, resolver.query, name, "ptr",
                                                         5.0)
                if answer.records:
                    self.remoteptr = answer.records[0]
            return
        try:
            name, _ = await asyncio.wait_for(
                self.loop.getnameinfo((ip, 0), socket.NI_NAMEREQD | socket.NI_NUMERICSERV),
                5.0)
        except (OSError, asyncio.TimeoutError, ValueError):
            return
        if name and name != ip:
            self.remoteptr = name

    # ---------------------------------------------------------------- misc
    async def push(self, status) -> None:
        # aiosmtpd's own replies (MAIL, RCPT, DATA, ...) go out here.
        if isinstance(status, str):
            status = status.encode("utf-8", "replace")
        await self._write([with_enhanced_code(status, self.command)])


# RFC 2034: the server announces ENHANCEDSTATUSCODES, so every reply but the greeting and
# the HELO/EHLO reply carries an enhanced status code (RFC 3463).  aiosmtpd's own replies
# have none: they get the one that fits the command, or the one that fits the code.
_HAS_ENHANCED = re.compile(rb"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}(?: |$)")
_BY_COMMAND = {("MAIL", b"2"): b"2.1.0", ("RCPT", b"2"): b"2.1.5"}
_BY_CODE = {b"500": b"5.5.2", b"501": b"5.5.4", b"502": b"5.5.1", b"503": b"5.5.1",
            b"504": b"5.5.4", b"552": b"5.3.4", b"553": b"5.1.3", b"555": b"5.5.4",
            b"421": b"4.3.0", b"451": b"4.3.0", b"452": b"4.3.1", b"454": b"4.7.0",
            b"530": b"5.7.0", b"535": b"5.7.8", b"538": b"5.7.11"}


def with_enhanced_code(reply: bytes, command: Optional[str]) -> bytes:
    """`reply` ("CODE text" or "CODE-text") with an enhanced status code after the code
    when it has none; 3xx replies (354) and replies without text stay as they are."""
    if len(reply) < 4 or reply[:1] not in b"245" or not reply[:3].isdigit() \
            or reply[3:4] not in (b" ", b"-") or _HAS_ENHANCED.match(reply):
        return reply
    code = reply[:3]
    enhanced = _BY_COMMAND.get((command, code[:1])) or _BY_CODE.get(code) \
        or code[:1] + b".0.0"
    return code + reply[3:4] + enhanced + b" " + reply[4:]


def _abort(transport) -> None:
    if not transport.is_closing() or transport.get_write_buffer_size():
        transport.abort()


def _addr(value) -> Optional[tuple]:
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None


def _socket_error(error) -> Optional[dict]:
    """$arguments["error"] of the disconnect hook for what connection_lost() was given."""
    if error is None:
        return None
    out = {"type": "socket", "reason": getattr(error, "strerror", None) or str(error)
           or type(error).__name__}
    if getattr(error, "errno", None) is not None:
        out["code"] = error.errno
    return out


async def _skip_line(reader) -> None:
    while True:
        try:
            await reader.readuntil(b"\n")
            return
        except asyncio.LimitOverrunError as e:
            await reader.read(e.consumed)


async def _disconnect(policy, conv: Conversation, close: str, error: Optional[dict]):
    """The disconnect hook of a closed connection (its step only runs hooks)."""
    step = conv.disconnect(close, error)
    try:
        event = next(step)
        while True:
            event = step.send(await policy.run(event.session, event.program))
    except StopIteration:
        pass


class Handler:
    """aiosmtpd wants an event handler; every command is the conversation's."""
