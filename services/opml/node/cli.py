"""`opml submitter|challenger|request|result|devnet`: the node's commands.

    opml submitter --config config/submitter.toml
    opml challenger --config config/challenger.toml
    opml request --model 1 --input '"hello"' --wait
    opml result 1
    opml devnet up | down
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import structlog
from requests.exceptions import ConnectionError as RequestsConnectionError

from opml.chain.anvil import CHAIN_ID, DEV_PRIVATE_KEYS
from opml.chain.tx import TxError

from .backends import BackendError
from .cache import CacheError
from .config import ConfigError, load_config
from .deployment import DeploymentError, load_deployment
from .devnet import DEPLOY_DIR, DevnetError
from .logging import configure


def register(subparsers) -> None:  # type: ignore[no-untyped-def]
    for role in ("submitter", "challenger"):
        parser = subparsers.add_parser(role, help=f"run the {role} daemon")
        parser.add_argument("--config", type=Path, help="TOML config file (OPML_* variables override it)")
        parser.set_defaults(func=run_daemon, role=role)

    request = subparsers.add_parser("request", help="request an inference")
    request.add_argument("--model", type=int, required=True, help="model id")
    request.add_argument("--input", required=True, help="a file (its bytes) or a JSON value (its UTF-8 text)")
    request.add_argument("--wait", action="store_true", help="wait until the result is final and print it")
    request.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits")
    _chain_args(request)
    request.set_defaults(func=request_command)

    result = subparsers.add_parser("result", help="show a request's result")
    result.add_argument("request_id", type=int)
    _chain_args(result)
    result.set_defaults(func=result_command)

    devnet = subparsers.add_parser("devnet", help="local Anvil + broker + toy deployment")
    devnet.add_argument("action", choices=("up", "down", "deploy"),
                        help="up: start Anvil + broker and deploy; down: stop them; deploy: onto --rpc-url")
    devnet.add_argument("--port", type=int, default=8545, help="Anvil's port (up)")
    devnet.add_argument("--broker-port", type=int, default=1883, help="mosquitto's port (up)")
    devnet.add_argument("--rpc-url", default="http://127.0.0.1:8545", help="the chain to deploy onto (deploy)")
    devnet.add_argument("--addresses", type=Path, default=DEPLOY_DIR / "local.json",
                        help="where the addresses file is written (deploy)")
    devnet.set_defaults(func=devnet_command)


def _chain_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rpc-url", default=os.environ.get("OPML_RPC_URL", "http://127.0.0.1:8545"))
    parser.add_argument("--deployment", type=Path,
                        default=Path(os.environ.get("OPML_DEPLOYMENT", DEPLOY_DIR / "local.json")))
    parser.add_argument("--key", default=os.environ.get("OPML_PRIVATE_KEY"),
                        help="requester private key (default: OPML_PRIVATE_KEY; on the devnet, Anvil's account 1)")


def _fail(command: str, message: str) -> int:
    print(f"opml {command}: {message}", file=sys.stderr)
    return 2


# -- daemons -------------------------------------------------------------------------------------------------
def run_daemon(args: argparse.Namespace) -> int:
    """Validate the config (one clear error), then run the daemon until interrupted."""
    try:
        config = load_config(args.config)
        configure(config.log_format, config.log_level)
        daemon = _daemon_class(args.role)(config)
    except (ConfigError, DeploymentError, BackendError, CacheError) as exc:
        return _fail(args.role, str(exc))
    except (OSError, RequestsConnectionError) as exc:
        return _fail(args.role, f"cannot reach the chain at {config.rpc_url}: {exc}")
    try:
        asyncio.run(_until_signalled(daemon.run()))
    except ConfigError as exc:
        return _fail(args.role, str(exc))
    return 0


async def _until_signalled(main) -> None:  # type: ignore[no-untyped-def]
    """Run `main` until it ends or SIGTERM/SIGINT arrives (then cancel it: a clean stop)."""
    task = asyncio.ensure_future(main)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        structlog.get_logger("opml.node").info("daemon_stopped")


def _daemon_class(role: str):  # type: ignore[no-untyped-def]
    if role == "submitter":
        from .submitter import Submitter

        return Submitter
    from .challenger import Challenger

    return Challenger


# -- requester -----------------------------------------------------------------------------------------------
def parse_input(text: str) -> bytes:
    """A file's bytes when `text` names a file, else the compact UTF-8 JSON of the value `text` parses to."""
    path = Path(text)
    if path.is_file():
        return path.read_bytes()
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"--input {text!r} is neither a file nor JSON") from None
    return value.encode() if isinstance(value, str) else json.dumps(value, separators=(",", ":")).encode()


def _requester(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from .sdk import Requester

    configure("console", "warning", sys.stderr)  # stdout carries only the JSON answer
    deployment = load_deployment(args.deployment)
    key = args.key
    if key is None:
        if deployment.chain_id != CHAIN_ID:
            raise ConfigError("no key: pass --key or set OPML_PRIVATE_KEY")
        key = DEV_PRIVATE_KEYS[1]
    return Requester.connect(args.rpc_url, key, deployment)


def request_command(args: argparse.Namespace) -> int:
    try:
        data = parse_input(args.input)
        requester = _requester(args)
        request_id = requester.request(args.model, data)
    except (ValueError, ConfigError, DeploymentError, TxError) as exc:
        return _fail("request", str(exc))
    print(json.dumps({"request_id": request_id}))
    if not args.wait:
        return 0
    from .sdk import RequestError

    try:
        output = requester.wait_final(request_id, args.timeout)
    except RequestError as exc:
        return _fail("request", str(exc))
    print(json.dumps({"request_id": request_id, "status": "finalized", "output": "0x" + output.hex()}))
    return 0


def result_command(args: argparse.Namespace) -> int:
    from .sdk import RequestError

    try:
        result = _requester(args).result(args.request_id)
    except (ConfigError, DeploymentError, RequestError, TxError) as exc:
        return _fail("result", str(exc))
    print(json.dumps({"request_id": result.request_id, "model_id": result.model_id, "status": result.status,
                      "output": None if result.output is None else "0x" + result.output.hex(),
                      "submitter": result.submitter, "window_end": result.window_end,
                      "callback_failed": result.callback_failed}))
    return 0


# -- devnet --------------------------------------------------------------------------------------------------
def devnet_command(args: argparse.Namespace) -> int:
    from . import devnet

    configure("console", "warning", sys.stderr)
    try:
        if args.action == "up":
            state = devnet.up(args.port, args.broker_port)
            print(json.dumps(state, indent=2))
        elif args.action == "deploy":
            deployment = devnet.deploy_to(args.rpc_url, args.addresses)
            print(json.dumps(deployment.model_dump(mode="json"), indent=2))
        else:
            print(json.dumps({"stopped": devnet.down()}))
    except DevnetError as exc:
        return _fail("devnet", str(exc))
    return 0
