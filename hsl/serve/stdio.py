"""`hsl serve --stdio`: one SMTP session on stdin/stdout (as `exim -bh` does), so that
`swaks --pipe 'hsl serve --stdio --helo x.hsl'` works without a socket.

The session runs on one end of a socket pair (the very same protocol code as on a real
listener, STARTTLS included); two threads copy stdin to the pair and the pair to stdout.
The end of stdin is the end of the client's input, not of the session: every command read
is answered, and the process exits once all the replies are written to stdout."""
from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading


def _pump_in(fd: int, sock: socket.socket) -> None:
    try:
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            sock.sendall(data)
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _pump_out(sock: socket.socket, fd: int) -> None:
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
    except OSError:                 # stdout is closed: no reply can reach the client
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


async def serve_stdio(app) -> int:
    loop = app.loop = asyncio.get_running_loop()
    app.logger.attach(loop)
    ours, theirs = socket.socketpair()
    done = loop.create_future()

    def lost(_proto) -> None:
        if not done.done():
            done.set_result(None)

    app.on_connection_lost = lost
    remote = (app.args.remoteip, 0)
    await loop.connect_accepted_socket(lambda: app.protocol(peer=remote), ours)
    stdin_fd, stdout_fd = sys.stdin.fileno(), sys.stdout.fileno()
    sys.stdout.flush()
    t_in = threading.Thread(target=_pump_in, args=(stdin_fd, theirs), daemon=True)
    t_out = threading.Thread(target=_pump_out, args=(theirs, stdout_fd), daemon=True)
    t_in.start()
    t_out.start()
    await done
    # Everything the server wrote is in the pair: the output thread writes it all (it
    # ends at the pair's end, or when stdout is closed).
    await loop.run_in_executor(None, t_out.join)
    theirs.close()
    app.logger.flush()
    return 0
