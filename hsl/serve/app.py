"""`hsl serve`: wiring (listeners, TLS, signals, --watch, --metrics, --stdio)."""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import sys
import threading
from typing import Optional

from ..builtins.server import define_metric, define_server
from ..cli import configure_dns, load_plugin_arguments, print_error
from ..queue.spool import SpoolError, SpoolWriter, ensure_spool
from ..queue.state import QueueError
from ..queue.store import Queue, QueueLocked
from ..runtime.memory import set_total_cap
from .config import format_hostport
from .hooks import ScriptLoadError, ServerHooks, load_hooks, load_project_hooks
from .log import Logger
from .maildir import ensure
from .metrics import ServerMetrics, serve_metrics
from .policy import Policy
from .smtp import HSLSMTP, Connections, Handler
from .stdio import serve_stdio
from .tls import server_context

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
DEFAULT_SPOOL = "hsl-spool"         # without --spool: in the working directory


class ServerView:
    """One server of a Halon project, as its connections see it: its id, default
    transport, DATA size limit, connection accounting and hooks; everything else (TLS,
    logs, metrics, the policy that runs scripts) is the App's."""

    def __init__(self, app: "App", serverid: str, transportid: Optional[str],
                 max_size: Optional[int]):
        self._app = app
        self.serverid = serverid
        self.transportid = transportid or app.transportid
        self.max_size = max_size if max_size is not None else app.max_size
        self.connections = Connections(serverid, app.args.max_connections, app.metrics)

    def __getattr__(self, name):
        return getattr(self._app, name)

    def protocol(self, peer=None) -> HSLSMTP:
        return HSLSMTP(self, peer=peer)

    def server_hooks(self):
        return self._app.policy.hooks.server(self.serverid)


class App:
    def __init__(self, args, logger: Logger):
        self.args = args
        self.logger = logger
        self.metrics = ServerMetrics()
        self.hostname = args.hostname or socket.getfqdn() or "localhost"
        self.serverid = args.serverid or "inbound"
        self.timeout = args.timeout
        self.max_size = args.max_size or None
        self.rdns = args.rdns
        self.maildir = args.maildir
        self.spool = args.spool or DEFAULT_SPOOL
        self.transportid = args.transport
        self.auth_plaintext = args.auth_plaintext
        self.auth_mechanisms = args.auth_mechanisms
        self.connections = Connections(self.serverid, args.max_connections, self.metrics)
        self.handler = Handler()
        self.handle_hooks: dict = {}        # aiosmtpd's handler hooks: none, see smtp.py
        self.tasks: set = set()             # the disconnect hooks still running
        self.tls_context = self._tls_context(args) if args.tls_cert else None
        self.policy: Optional[Policy] = None
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.on_connection_lost = None
        self.on_queued = None               # called with the ids of each committed batch
        self.queue: Optional[QueueService] = None
        self._spool_writer: Optional[SpoolWriter] = None

    def spool_writer(self) -> SpoolWriter:
        """The writer that commits queued copies to the spool (started on first use: the
        default spool directory is made only once a message comes)."""
        if self._spool_writer is None:
            self._spool_writer = SpoolWriter(self.spool)
        return self._spool_writer

    def close_spool(self) -> None:
        """Commit what was submitted to the spool, and stop its writer."""
        if self._spool_writer is not None:
            self._spool_writer.close()

    # ------------------------------------------------------------------- TLS
    def _tls_context(self, args):
        return server_context(args.tls_cert, args.tls_key, args.tls_ca)

    def peer_certificate(self, der: bytes, chain: list, error: int) -> Optional[dict]:
        """{"x509": resource, "chain": [resources], "error": OpenSSL verify result} of a
        client certificate (`chain`: the certificates the client sent after its own)."""
        try:
            # deferred: cryptography.x509 only for client certificates
            from ..builtins.x509 import x509_resource_from_der
        except ImportError as e:
            self.logger.error("client certificate not available to scripts", error=str(e))
            return None
        try:
            cert = x509_resource_from_der(der)
        except ValueError as e:     # OpenSSL took it, cryptography does not
            self.logger.error("client certificate not readable", error=str(e))
            return None
        readable = []
        for data in chain:
            try:
                readable.append(x509_resource_from_der(data))
            except ValueError:
                pass
        return {"x509": cert, "chain": readable, "error": error}

    # -------------------------------------------------------------- protocol
    def protocol(self, peer=None) -> HSLSMTP:
        return HSLSMTP(self, peer=peer)

    def server_hooks(self):
        """The hooks a new connection to this server gets (the current ones: a reload
        leaves connections already open with theirs)."""
        hooks = self.policy.hooks
        return hooks.server(self.serverid) if isinstance(hooks, ServerHooks) else hooks

    def background(self, coroutine) -> None:
        """Run `coroutine` (a disconnect hook) on its own; nothing waits for it."""
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            self.logger.error("session error", error=f"{type(error).__name__}: {error}")


class QueueService:
    """`hsl serve --queue`: the queue runner (hsl/queue/runner.py) over the server's
    spool, on a thread of its own, so that delivery never holds the event loop.

    The runner is thread-based (a blocking SMTP client, hook runs on its pool's
    threads), so it runs as in `hsl queue run`: its loop on one thread, its attempts on
    `--concurrency` more.  The server tells it about each committed batch (`committed`,
    from smtp.py's commit): it scans the spool at once instead of at its next poll.
    Stopping: `shutdown()` asks the runner to start nothing more; `join()` waits for the
    attempts in flight (each bounded by its timeouts) to finish and be applied; the
    spool's lock is released last (`close()`)."""

    def __init__(self, queue, runner, attempt_log, metrics, control=None):
        self.queue, self.runner, self.log, self.metrics = queue, runner, attempt_log, metrics
        self.control = control          # hsl queue hold/release/... reach it through it
        self.thread: Optional[threading.Thread] = None
        self.error: Optional[BaseException] = None
        self.on_stopped = None          # called (on the runner's thread) when run() ends

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="hsl-queue-runner")
        self.thread.start()

    def _run(self) -> None:
        try:
            self.runner.run()
        except BaseException as e:      # (the spool went away): the server stops too
            self.error = e
        finally:
            if self.on_stopped is not None:
                self.on_stopped()

    def committed(self, ids) -> None:
        self.runner.notify()

    def shutdown(self) -> None:
        self.runner.shutdown()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
        self.log.close()
        self.queue.close()


def _queue_service(app: App, args, project, plugins) -> QueueService:
    """The QueueService of --queue, its spool opened and locked; QueueError (a usage
    error, or QueueLocked when another process owns the spool)."""
    from ..queue.cli import load_runner_config, start_control  # deferred: for --queue
    from ..queue.log import AttemptLog  # deferred: as above
    from ..queue.metrics import QueueMetrics  # deferred: as above
    from ..queue.runner import QueueRunner  # deferred: as above
    routing, hooks = load_runner_config(args, project, plugins)
    log = AttemptLog(app.logger, args.log_json)
    try:
        queue = Queue.open(app.spool, create=True)
    except QueueError:
        log.close()
        raise
    metrics = QueueMetrics(queue)
    runner = QueueRunner(queue, routing, hooks, concurrency=args.concurrency,
                         per_destination=args.per_destination, hostname=app.hostname,
                         serverid=app.serverid, on_outcome=log.attempt, metrics=metrics,
                         delivery_plugins=plugins.delivery if plugins else None)
    metrics.runner = runner
    control = start_control(queue, runner, app.logger.error)
    return QueueService(queue, runner, log, metrics, control)


def hook_files(args) -> tuple:
    """({phase: path}, {domain: path}) of --hook, --helo and --rcptto-domain; ValueError
    for a phase given twice."""
    phases: dict = {}
    given = list(args.hook) + ([("helo", args.helo)] if args.helo else [])
    for phase, path in given:
        if phase in phases:
            raise ValueError(f"two hooks for {phase}: {phases[phase]} and {path}")
        phases[phase] = path
    domains: dict = {}
    for domain, path in args.rcptto_domain:
        if domain in domains:
            raise ValueError(f"two rcptto hooks for {domain}: {domains[domain]} and {path}")
        domains[domain] = path
    return phases, domains


def _load_project(args):
    # deferred: YAML and the project reader only for --project/--config
    from ..project import ProjectError, load_packed, load_project
    try:
        return load_project(args.project) if args.project else load_packed(args.halon_config)
    except ProjectError as e:
        raise ValueError(str(e)) from None


def _project_reader(args, first):
    """The project for each (re)load: `first` at start, then read again from disk."""
    pending = [first]

    def read():
        return pending.pop() if pending else _load_project(args)
    return read


def _project_servers(app: App, args) -> tuple:
    """(project, server views, endpoints) of `hsl serve --project/--config`: every server
    of the project (or --serverid's), each on its listeners' ports on loopback (their
    addresses with --bind-configured); --listen gives the one server's addresses instead.
    ValueError for what cannot be served."""
    project = _load_project(args)
    if args.serverid is not None:
        if args.serverid not in project.servers:
            raise ValueError(f"{project.config}: no server {args.serverid} (servers: "
                             f"{', '.join(project.servers) or 'none'})")
        chosen = [project.servers[args.serverid]]
    else:
        chosen = list(project.servers.values())
    if not chosen:
        raise ValueError(f"{project.config}: no servers to serve")
    if args.listen and len(chosen) > 1:
        raise ValueError(f"--listen with several servers ({', '.join(s.id for s in chosen)})"
                         ": choose one with --serverid ID")
    views, endpoints = [], []
    for server in chosen:
        view = ServerView(app, server.id, server.transport, server.maxsize)
        views.append(view)
        if args.listen:
            listeners = args.listen
        elif server.listeners:
            listeners = [((address or "0.0.0.0") if args.bind_configured else "127.0.0.1",
                          port) for address, port in server.listeners]
        elif len(chosen) == 1:
            listeners = [("127.0.0.1", 2525)]
        else:
            raise ValueError(f"{project.startup or project.config}: server {server.id} has no "
                             "listeners: give them in smtpd.yaml, or serve it alone "
                             "(--serverid) with --listen")
        endpoints += [(view, host, port) for host, port in listeners]
    return project, views, endpoints


def _define_metrics(specs, logger) -> bool:
    for spec in specs:
        name, _, kind = spec.partition(":")
        try:
            define_metric(name, kind or "counter")
        except ValueError as e:
            logger.error(f"--define-metric {spec}: {e}")
            return False
    return True


def run(args) -> int:
    logger = Logger(args.log_format)
    if bool(args.tls_cert) != bool(args.tls_key):
        print("hsl: error: --tls-cert and --tls-key go together", file=sys.stderr)
        return EXIT_USAGE
    if args.tls_ca and not args.tls_cert:
        print("hsl: error: --tls-ca needs --tls-cert and --tls-key", file=sys.stderr)
        return EXIT_USAGE
    # aiosmtpd logs every connection at INFO and client mistakes at WARNING: we log our own.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    try:
        app = App(args, logger)
    except ValueError as e:                     # a TLS file that does not load
        print_error(f"TLS: {e}")
        return EXIT_USAGE
    if not _define_metrics(args.define_metric, logger):
        return EXIT_USAGE
    try:
        configure_dns(args)
        plugins = load_plugin_arguments(args)
    except ValueError as e:
        print_error(e)
        return EXIT_USAGE
    try:
        phases, domains = hook_files(args)
    except ValueError as e:
        print_error(e)
        return EXIT_USAGE
    if not args.queue:
        given = [flag for flag, value in (("--predelivery", args.predelivery),
                                          ("--postdelivery", args.postdelivery),
                                          ("--transport ID=HOST:PORT", args.routes),
                                          ("--log-json", args.log_json)) if value]
        if given:
            print_error(f"{', '.join(given)}: options of the queue, which runs with --queue")
            return EXIT_USAGE
    elif args.stdio:
        print_error("--queue does not go with --stdio (one session, no queue to run)")
        return EXIT_USAGE
    project = None
    if args.project or args.halon_config:
        if phases or domains:
            print_error("--project/--config serve the project's hooks: --hook, --helo and "
                        "--rcptto-domain do not go with them")
            return EXIT_USAGE
        try:
            project, views, endpoints = _project_servers(app, args)
        except ValueError as e:
            print_error(e)
            return EXIT_USAGE
        for w in project.warnings:
            logger.info(f"warning: {w}")
    elif not phases and not domains:
        print_error("no hook to serve: give --hook PHASE=FILE (or --helo FILE), or "
                    "--project DIR")
        return EXIT_USAGE
    else:
        endpoints = [(app, host, port) for host, port in args.listen or [("127.0.0.1", 2525)]]
    if args.spool:                  # (the default one only once a message comes)
        try:
            ensure_spool(args.spool)
        except SpoolError as e:
            print_error(f"--spool: {e}")
            return EXIT_USAGE
    if app.maildir:
        try:
            ensure(app.maildir)
        except OSError as e:
            print_error(f"--maildir {app.maildir}: {e.strerror}")
            return EXIT_USAGE
    def reload_dns(why: str) -> None:
        try:
            configure_dns(args)
        except ValueError as e:
            logger.error(f"DNS table not reloaded, keeping the previous one: {e}",
                         trigger=why)

    try:
        set_total_cap(args.max_memory_total)
        if project is not None:
            reader, serverids = _project_reader(args, project), [v.serverid for v in views]

            def hooks():
                return load_project_hooks(reader, serverids, include_paths=args.include,
                                          plugins=plugins)
        else:
            def hooks():
                return load_hooks(phases, domains, include_paths=args.include,
                                  plugins=plugins)

        app.policy = Policy(hooks, logger, app.metrics, deadline=args.script_timeout,
                            max_steps=args.max_steps, workers=args.workers,
                            max_memory=args.max_memory,
                            inline_slice=args.inline_slice / 1000,
                            data_files=[args.dns_table] if args.dns_table else [],
                            on_reload=reload_dns if args.dns_table else None)
    except ScriptLoadError as e:
        print(str(e), file=sys.stderr)
        return EXIT_ERROR
    for view in {id(v): v for v, _, _ in endpoints}.values():
        define_server(view.serverid)
    if args.queue:
        try:
            app.queue = _queue_service(app, args, project, plugins)
        except QueueError as e:
            app.policy.close()
            print_error(e)
            return EXIT_ERROR if isinstance(e, QueueLocked) else EXIT_USAGE
        app.on_queued = app.queue.committed
    try:
        if args.stdio:
            return asyncio.run(serve_stdio(endpoints[0][0]))
        return asyncio.run(_serve(app, endpoints))
    except KeyboardInterrupt:
        return 130
    finally:
        if app.queue is not None:       # (stopped already, unless the loop failed)
            app.queue.shutdown()
            app.queue.join()
            app.queue.close()
        app.policy.close()
        app.close_spool()


async def _serve(app: App, endpoints: list) -> int:
    """Listen on every (server, host, port) of `endpoints` until SIGTERM/SIGINT."""
    args = app.args
    loop = app.loop = asyncio.get_running_loop()
    logger = app.logger
    logger.attach(loop)
    servers = []
    for view, host, port in endpoints:
        try:
            server = await loop.create_server(view.protocol, host, port,
                                              reuse_address=True, backlog=1024)
        except OSError as e:
            logger.error(f"cannot listen on {format_hostport(host, port)}: {e.strerror}")
            for s in servers:
                s.close()
            return EXIT_ERROR
        servers.append(server)
        for sock in server.sockets:
            h, p = sock.getsockname()[:2]
            hooks = view.server_hooks().describe()
            logger.info(f"listening on {format_hostport(h, p)}", hooks=hooks,
                        hostname=app.hostname, **({"serverid": view.serverid}
                                                  if view is not app else {}))
    if args.metrics:
        host, port = args.metrics
        try:
            msrv = await serve_metrics(host, port, app.metrics,
                                       [app.queue.metrics] if app.queue else [])
        except OSError as e:
            logger.error(f"cannot listen on {format_hostport(host, port)}: {e.strerror}")
            return EXIT_ERROR
        servers.append(msrv)
        for sock in msrv.sockets:
            h, p = sock.getsockname()[:2]
            logger.info(f"metrics on http://{format_hostport(h, p)}/metrics")

    stop = asyncio.Event()
    tasks = []
    service = app.queue
    if service is not None:
        service.on_stopped = lambda: loop.call_soon_threadsafe(stop.set)
        service.start()
        logger.info("queue running", spool=app.spool, concurrency=args.concurrency)

    def hup():
        tasks.append(loop.create_task(app.policy.reload("SIGHUP")))

    for sig, cb in ((signal.SIGHUP, hup), (signal.SIGTERM, stop.set), (signal.SIGINT, stop.set)):
        try:
            loop.add_signal_handler(sig, cb)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    if args.watch:
        tasks.append(loop.create_task(app.policy.watch()))
    # Everything loaded so far (modules, the compiled script) lives as long as the server:
    # leave it out of the cyclic garbage collector's full passes, which would otherwise
    # walk all of it every few seconds and hold every connection for tens of milliseconds.
    gc.collect()
    gc.freeze()
    await stop.wait()
    logger.info("shutting down")
    for s in servers:
        s.close()
    for t in tasks:
        t.cancel()
    status = EXIT_OK
    if service is not None:
        status = await _stop_queue(app, loop)
    logger.flush()
    return status


async def _stop_queue(app: App, loop) -> int:
    """Stop the runner after its attempts in flight (a second SIGTERM/SIGINT exits at
    once: the entries in flight keep their last state on disk and are attempted again
    by the next run).  The exit status: EXIT_ERROR when the runner had failed."""
    service, logger = app.queue, app.logger
    service.shutdown()
    if service.runner.in_flight:
        logger.info("waiting for the delivery attempts in flight",
                    attempts=len(service.runner.in_flight))

    def now():
        if not service.runner.in_flight:
            return                  # (about to stop anyway: a signal twice is one)
        logger.info("stopped with delivery attempts in flight: they stay queued",
                    attempts=len(service.runner.in_flight))
        logger.flush()
        os._exit(EXIT_ERROR)       # (the state on disk is whole: the store's writes)
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, now)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    await loop.run_in_executor(None, service.join)
    service.close()
    app.queue = None
    if service.error is not None:
        logger.error("the queue stopped", error=f"{type(service.error).__name__}: "
                                               f"{service.error}")
        return EXIT_ERROR
    logger.info("queue stopped", spool=app.spool)
    return EXIT_OK
