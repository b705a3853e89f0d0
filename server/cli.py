"""`switchboard serve`: start the HTTP server on a langgraph.json's graphs."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from actors import ActorSystem, Settings
from actors.graphs import GraphConfigError

from .app import create_app

log = logging.getLogger("switchboard")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description="A LangGraph Platform API server built on actors.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the graphs of a langgraph.json over HTTP")
    serve.add_argument("--config", default="langgraph.json", help="path to langgraph.json (default: %(default)s)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8123, help="port to listen on (default: %(default)s)")
    serve.add_argument("--idle-timeout", type=float, default=30.0, help="seconds before an idle thread actor is passivated")
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    return parser


def serve(args: argparse.Namespace) -> int:
    settings = Settings(config_path=args.config, host=args.host, port=args.port, idle_timeout=args.idle_timeout)
    try:
        system = ActorSystem(settings=settings)
    except GraphConfigError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    app = create_app(system)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=args.log_level, access_log=False)
    server = AnnouncingServer(config, f"switchboard ready on http://{settings.host}:{settings.port} (graphs: {', '.join(system.graph_ids)})")
    server.run()
    return 0


class AnnouncingServer(uvicorn.Server):
    """uvicorn, plus one line with the URL once the socket is listening."""

    def __init__(self, config: uvicorn.Config, announcement: str) -> None:
        super().__init__(config)
        self.announcement = announcement

    async def startup(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
        await super().startup(sockets=sockets)
        if self.started:
            print(self.announcement, flush=True)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
