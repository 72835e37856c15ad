"""`opml explorer`: the web explorer over a deployment, until Ctrl-C.

    opml explorer --rpc-url http://127.0.0.1:8545 --deployment deploy/local.json --port 8700
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

DEFAULT_PORT = 8700


def register(subparsers) -> None:  # type: ignore[no-untyped-def]
    parser = subparsers.add_parser("explorer", help="web explorer: requests, dispute games, money (live)")
    parser.add_argument("--rpc-url", default="http://127.0.0.1:8545", help="the chain's JSON-RPC URL")
    parser.add_argument("--deployment", type=Path, default=Path("deploy/local.json"),
                        help="the addresses file (`opml devnet up` writes deploy/local.json)")
    parser.add_argument("--broker", default=None, help="MQTT broker URL (mqtt://host:port): wakes the explorer "
                        "sooner on every node message; the chain stays the source")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between chain polls")
    parser.add_argument("--model-dir", type=Path, default=None, help="where the deployment's model files are")
    parser.add_argument("--log-format", choices=("console", "json"), default="console")
    parser.set_defaults(func=explorer_command)


def explorer_command(args: argparse.Namespace) -> int:
    if args.broker is not None and not args.broker.startswith("mqtt://"):
        print(f"opml explorer: --broker must be an MQTT URL like mqtt://127.0.0.1:1883, got {args.broker!r}",
              file=sys.stderr)
        return 2
    if not 0 < args.port < 65536:
        print(f"opml explorer: --port must be in 1..65535, got {args.port}", file=sys.stderr)
        return 2
    import uvicorn  # the web stack is imported only when the explorer runs, not for every `opml` command

    from opml.logs import configure

    from .app import create_app
    from .follower import FollowerOptions

    configure(args.log_format, "info")
    options = FollowerOptions(rpc_url=args.rpc_url, deployment=args.deployment, broker_url=args.broker,
                              poll_interval_s=args.poll, model_dir=args.model_dir)
    print(f"opml explorer: http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)
    app = create_app(options)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=5)
    _server_class(uvicorn.Server)(config, on_exit=app.state.close_streams).run()
    return 0


def _server_class(base: type) -> type:
    """uvicorn's Server, ending the open event streams as soon as a shutdown signal arrives (they never end by
    themselves)."""

    class Server(base):  # type: ignore[misc, valid-type]
        def __init__(self, config: object, on_exit: Callable[[], None]) -> None:
            super().__init__(config)
            self._on_exit = on_exit
            self._loop: asyncio.AbstractEventLoop | None = None

        async def serve(self, sockets: list[socket.socket] | None = None) -> None:
            self._loop = asyncio.get_running_loop()
            await super().serve(sockets)

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._on_exit)
            super().handle_exit(sig, frame)

    return Server
