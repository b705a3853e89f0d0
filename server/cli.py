"""`switchboard serve`: start the HTTP server on a langgraph.json's graphs."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
from pathlib import Path
from types import FrameType

import uvicorn

from actors import ActorSystem, Settings
from actors.config.graphs import GraphConfigError
from actors.storage import StorageUnavailable

from .app import create_app
from .limits import Limits
from .serving import uvicorn_options

log = logging.getLogger("switchboard")


def parse_size(text: str) -> int:
    """`10M`, `512K`, `1G` or a plain number of bytes."""
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    scale = units.get(text[-1:].upper(), 1)
    number = text[:-1] if scale > 1 else text
    try:
        size = int(float(number) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (use e.g. 10M, 512K or bytes)") from None
    if size <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be > 0")
    return size


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description="A LangGraph Platform API server built on actors.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the graphs of a langgraph.json over HTTP")
    serve.add_argument("--config", default="langgraph.json", help="path to langgraph.json (default: %(default)s)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8123, help="port to listen on (default: %(default)s)")
    serve.add_argument("--idle-timeout", type=float, default=30.0, help="seconds before an idle thread actor is passivated")
    serve.add_argument(
        "--storage-patience", type=float, default=5.0,
        help="seconds a thread actor waits for an unavailable database before it repairs the thread later",
    )
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--storage", choices=["sqlite", "memory", "postgres"], default=None,
        help="where state is kept (default: postgres with --database-url, else sqlite in --data-dir)",
    )
    serve.add_argument("--data-dir", default=".switchboard", help="SQLite data directory (default: %(default)s)")
    serve.add_argument("--database-url", default=None, help="postgresql://... for the PostgreSQL backend")
    serve.add_argument(
        "--shutdown-grace", type=float, default=30.0,
        help="on SIGTERM/Ctrl-C, seconds running runs get to finish before they are interrupted (default: %(default)s)",
    )
    serve.add_argument(
        "--run-timeout", type=float, default=float(os.environ.get("BG_JOB_TIMEOUT_SECS", 86400)),
        help="seconds a run may execute before it ends `timeout` (default: $BG_JOB_TIMEOUT_SECS or %(default)s)",
    )
    serve.add_argument(
        "--protocol-buffer-events", type=int, default=10_000,
        help="protocol v2: events a thread's replay buffer keeps at most (default: %(default)s)",
    )
    serve.add_argument(
        "--protocol-buffer-seconds", type=float, default=600.0,
        help="protocol v2: seconds a thread's replay buffer keeps an event (default: %(default)s)",
    )
    cluster = serve.add_argument_group("cluster mode (with --database-url; docs/architecture.md)")
    cluster.add_argument(
        "--redis-url", default=None,
        help="redis://...: run as one of several processes on the same PostgreSQL database (cluster mode)",
    )
    cluster.add_argument(
        "--lease-seconds", type=float, default=10.0,
        help="how long a process that stopped heartbeating still owns its threads (default: %(default)s)",
    )
    cluster.add_argument(
        "--advertise-url", default=None,
        help="how peers reach this process's internal listener (default: http://{internal host}:{internal port})",
    )
    cluster.add_argument("--internal-host", default=None, help="address of the listener for peers (default: --host)")
    cluster.add_argument(
        "--internal-port", type=int, default=0, help="port of the listener for peers (default: any free port)"
    )
    defaults = Limits()
    serve.add_argument(
        "--max-body-size", type=parse_size, metavar="BYTES",
        default=parse_size(os.environ.get("HTTP_MAX_REQUEST_BODY_BYTES", str(defaults.max_body_bytes))),
        help="largest request body accepted, e.g. 10M or 512K; larger is a 413 "
        "(default: $HTTP_MAX_REQUEST_BODY_BYTES, as the reference server reads it, or 10M)",
    )
    serve.add_argument(
        "--max-header-size", type=parse_size, default=defaults.max_header_bytes, metavar="BYTES",
        help="largest request line + headers accepted; larger is a 431 (default: 64K)",
    )
    serve.add_argument(
        "--header-timeout", type=float, default=defaults.header_timeout, metavar="SECONDS",
        help="seconds a connection gets to send a request's headers; then 408 and closed (default: %(default)s)",
    )
    serve.add_argument(
        "--keep-alive-timeout", type=float, default=defaults.keep_alive_timeout, metavar="SECONDS",
        help="seconds an idle keep-alive connection is kept open (default: %(default)s)",
    )
    serve.add_argument(
        "--workers", type=int, default=1,
        help="start this many processes on one port (SO_REUSEPORT), a cluster: needs --database-url and --redis-url",
    )
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # set by --workers for each worker
    import loadtest.cli  # the load-test tool's options; the harness itself loads only when it runs

    loadtest.cli.add_parser(commands)
    migrate = commands.add_parser(
        "migrate", help="copy all data (records, checkpoints, store) from one storage into another, empty one"
    )
    source = migrate.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-data-dir", help="the SQLite data directory to copy from")
    source.add_argument("--from-database-url", help="the PostgreSQL database to copy from")
    target = migrate.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-database-url", help="the PostgreSQL database to copy into (empty)")
    target.add_argument("--to-data-dir", help="the SQLite data directory to copy into (empty)")
    return parser


def migrate(args: argparse.Namespace) -> int:
    """Both storages are opened as a server would (so neither may be in use by one), the copy runs on
    one graph loop, and the destination is refused unless it is empty."""
    from actors.kernel.runtime import GraphLoop
    from actors.storage import open_storage
    from actors.storage.copy import NotEmpty, copy_storage

    def settings(data_dir: str | None, url: str | None) -> Settings:
        if url:
            return Settings(storage="postgres", database_url=url)
        return Settings(storage="sqlite", data_dir=data_dir or ".switchboard")

    if args.from_data_dir and not Path(args.from_data_dir).is_dir():
        print(f"switchboard migrate: no data directory {args.from_data_dir}", file=sys.stderr)
        return 2
    runtime = GraphLoop(4)
    opened = []
    try:
        source = open_storage(settings(args.from_data_dir, args.from_database_url), runtime)
        opened.append(source)
        destination = open_storage(settings(args.to_data_dir, args.to_database_url), runtime)
        opened.append(destination)
        report = runtime.call(copy_storage(source, destination), timeout=None)
    except (StorageUnavailable, NotEmpty, ValueError) as exc:
        print(f"switchboard migrate: {exc}", file=sys.stderr)
        return 2
    finally:
        for storage in opened:
            runtime.call(storage.aclose())
            storage.close()
        runtime.stop()
    records = ", ".join(f"{n} {k}" for k, n in report.records.items())
    print(f"copied {records}; {report.checkpoints} checkpoints ({report.writes} pending writes); {report.store_items} store items")
    return 0


def serve(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from .workers import Supervisor, refusal, reuse_port_socket

    if (why := refusal(args)) is not None:
        print(f"switchboard: {why}", file=sys.stderr)
        return 2
    if args.workers > 1:
        serve_argv = list(argv if argv is not None else sys.argv[1:])
        return Supervisor(args.workers, serve_argv[serve_argv.index("serve") + 1:]).run()
    if args.run_timeout <= 0:
        print("switchboard: --run-timeout must be a positive number of seconds", file=sys.stderr)
        return 2
    storage = args.storage or ("postgres" if args.database_url else "sqlite")
    if storage == "postgres" and not args.database_url:
        print("switchboard: --storage postgres needs --database-url postgresql://...", file=sys.stderr)
        return 2
    if args.redis_url and storage != "postgres":
        print("switchboard: --redis-url (cluster mode) needs PostgreSQL storage (--database-url)", file=sys.stderr)
        return 2
    if args.lease_seconds <= 0:
        print("switchboard: --lease-seconds must be a positive number of seconds", file=sys.stderr)
        return 2
    internal = None
    if args.redis_url:  # cluster mode: a second listener, for requests peers forward here
        internal = bind_internal(args.internal_host or args.host, args.internal_port)
    settings = Settings(
        redis_url=args.redis_url, lease_seconds=args.lease_seconds,
        internal_host=args.internal_host, internal_port=internal.getsockname()[1] if internal else args.internal_port,
        advertise_url=args.advertise_url,
        config_path=args.config, host=args.host, port=args.port, idle_timeout=args.idle_timeout,
        storage=storage, data_dir=args.data_dir, database_url=args.database_url, shutdown_grace=args.shutdown_grace,
        run_timeout=args.run_timeout,
        storage_patience=args.storage_patience,
        protocol_buffer_events=args.protocol_buffer_events, protocol_buffer_seconds=args.protocol_buffer_seconds,
    )
    try:  # a worker of `--workers N` binds the shared public port before anything starts
        sockets = [reuse_port_socket(settings.host, settings.port)] if args.reuse_port else None
    except OSError as exc:
        print(f"switchboard: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 2
    try:
        system = ActorSystem(settings=settings)
    except (GraphConfigError, StorageUnavailable) as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    limits = Limits(
        max_body_bytes=args.max_body_size, max_header_bytes=args.max_header_size,
        header_timeout=args.header_timeout, keep_alive_timeout=args.keep_alive_timeout,
    )
    try:
        app = create_app(system, limits=limits)
    except GraphConfigError as exc:  # e.g. a bad `http.cors`, `http.app` or `auth` section
        system.shutdown()
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=args.log_level, access_log=False,
        timeout_graceful_shutdown=5, **uvicorn_options(limits),
    )
    where = {"sqlite": f" in {settings.data_dir}", "postgres": "", "memory": " (nothing is kept)"}[storage]
    if system.ctx.cluster is not None:
        where += f"; cluster member {system.ctx.cluster.process_id} at {system.ctx.cluster.membership.advertise_url}"
    server = DrainingServer(
        config,
        f"switchboard ready on http://{settings.host}:{settings.port} (graphs: {', '.join(system.graph_ids)}; "
        f"storage: {storage}{where})",
        system,
    )
    if internal is not None:
        server.internal = InternalListener(app, internal, args.log_level, limits)
    server.run(sockets=sockets)
    return 0


def bind_internal(host: str, port: int) -> socket.socket:
    """The internal listener's socket, bound before the system starts: its port is in the advertise URL."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so (proto 0 kept Nagle
    # on, and every forwarded response waited ~40 ms for a delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class InternalListener:
    """Cluster mode: the same app on a second socket, for requests peers forward to this process.
    Started and stopped with the public server, on its loop; the public server owns the lifespan."""

    def __init__(self, app: object, sock: socket.socket, log_level: str, limits: Limits) -> None:
        config = uvicorn.Config(
            app, log_level=log_level, access_log=False, lifespan="off", timeout_graceful_shutdown=5,
            **uvicorn_options(limits),
        )
        self.server = uvicorn.Server(config)
        self.sock = sock

    async def start(self) -> None:
        config = self.server.config
        if not config.loaded:
            config.load()
        self.server.lifespan = config.lifespan_class(config)  # "off": the public server runs the app's
        await self.server.startup(sockets=[self.sock])

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.server.shutdown(sockets=[self.sock])


class AnnouncingServer(uvicorn.Server):
    """uvicorn, plus one line with the URL once the socket is listening."""

    def __init__(self, config: uvicorn.Config, announcement: str) -> None:
        super().__init__(config)
        self.announcement = announcement

    async def startup(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
        await super().startup(sockets=sockets)
        if self.started:
            print(self.announcement, flush=True)


class DrainingServer(AnnouncingServer):
    """uvicorn that drains the actor system on the first SIGTERM/SIGINT: it keeps serving (new runs
    get 503 + Retry-After) while running runs finish, then exits. A second signal exits at once."""

    def __init__(self, config: uvicorn.Config, announcement: str, system: ActorSystem) -> None:
        super().__init__(config, announcement)
        self.system = system
        self.drainer: threading.Thread | None = None
        self.internal: InternalListener | None = None

    async def startup(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
        if self.internal is not None:
            await self.internal.start()
        await super().startup(sockets=sockets)

    async def shutdown(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
        await super().shutdown(sockets=sockets)
        if self.internal is not None:
            await self.internal.stop()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drainer is not None:
            super().handle_exit(sig, frame)
            return
        log.info("signal %d: draining (grace %.1fs); send it again to stop at once", sig, self.system.settings.shutdown_grace)
        self.drainer = threading.Thread(target=self._drain, name="switchboard-drain", daemon=True)
        self.drainer.start()

    def _drain(self) -> None:
        try:
            self.system.drain()
        except Exception:  # noqa: BLE001 - whatever happens, the server must still exit
            log.exception("draining failed")
        finally:
            self.should_exit = True


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args, argv)
    if args.command == "loadtest":
        import loadtest.cli

        return loadtest.cli.run(args)
    if args.command == "migrate":
        return migrate(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
