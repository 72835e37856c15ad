"""`opml submitter|challenger|request|result|devnet|register-model`: the node's commands.

    opml submitter --config config/submitter.toml
    opml challenger --config config/challenger.toml
    opml request --model 1 --input '"hello"' --wait
    opml request --model 1 --input models/mnist_data.npz:test_x --index 11 --wait    # an ML model, a real digit
    opml request --model 1 --prompt "Once upon a time" --max-tokens 32 --wait        # an LLM: prints the text
    opml result 1
    opml devnet up [--model models/mnist_cnn.opml] | down
    opml register-model models/mnist_mlp.opml --deployment deploy/local.json --rpc-url … --key …
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
from web3.exceptions import Web3Exception

from opml.chain.anvil import CHAIN_ID, DEV_PRIVATE_KEYS
from opml.chain.tx import TxError
from opml.logs import configure

from .backends import BackendError
from .cache import CacheError
from .config import ConfigError, load_config
from .deployment import Deployment, DeploymentError, load_deployment
from .devnet import DEPLOY_DIR, DevnetError
from .inputs import ModelInput
from .inputs import parse_input as parse_input


def register(subparsers) -> None:  # type: ignore[no-untyped-def]
    for role in ("submitter", "challenger"):
        parser = subparsers.add_parser(role, help=f"run the {role} daemon")
        parser.add_argument("--config", type=Path, help="TOML config file (OPML_* variables override it)")
        parser.set_defaults(func=run_daemon, role=role)

    request = subparsers.add_parser("request", help="request an inference (--input) or a generation (--prompt)")
    request.add_argument("--model", type=int, required=True, help="model id")
    what = request.add_mutually_exclusive_group(required=True)
    what.add_argument("--input",
                      help="a file (its bytes), a JSON value (its UTF-8 text), an array (PATH.npy or "
                           "PATH.npz:KEY): int8 as is, other dtypes quantized by the ML model's file")
    what.add_argument("--prompt", help="an LLM's prompt text, tokenized by the model's own tokenizer (BOS first)")
    llm = request.add_argument_group("a generation (--prompt)")
    llm.add_argument("--max-tokens", type=int, default=32, help="tokens to generate (default 32)")
    llm.add_argument("--temperature", type=float, default=0.0, help="0: greedy (default); > 0: seeded sampling")
    llm.add_argument("--salt", type=int, default=0, help="the requester's u64 salt: another salt, another sample")
    llm.add_argument("--llm", type=Path, default=None,
                     help="the model's LLM file (its tokenizer; default: the deployment's model_file)")
    request.add_argument("--index", type=int, help="take entry INDEX of the --input array (e.g. one digit)")
    request.add_argument("--model-dir", type=Path, default=None,
                         help="where the deployment's model files are (ML, or the LLM's for --prompt; default: the "
                              "repository root)")
    request.add_argument("--wait", action="store_true", help="wait until the result is final and print it")
    request.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits")
    _chain_args(request)
    request.set_defaults(func=request_command)

    result = subparsers.add_parser("result", help="show a request's result")
    result.add_argument("request_id", type=int)
    _chain_args(result)
    result.set_defaults(func=result_command)

    devnet = subparsers.add_parser("devnet", help="local Anvil + broker + a toy or ML deployment")
    devnet.add_argument("action", choices=("up", "down", "deploy"),
                        help="up: start Anvil + broker and deploy; down: stop them; deploy: onto --rpc-url")
    devnet.add_argument("--model", type=Path, action="append", default=[], dest="models", metavar="PATH.opml",
                        help="deploy the ML stack (the LLM stack for LLM files) and register this model file "
                             "(repeatable); default: the toy")
    devnet.add_argument("--port", type=int, default=8545, help="Anvil's port (up)")
    devnet.add_argument("--broker-port", type=int, default=1883, help="mosquitto's port (up)")
    devnet.add_argument("--block-time", type=int, default=0, metavar="SECONDS",
                        help="a block every SECONDS after the deployment (up; default 0: a block per transaction)")
    devnet.add_argument("--rpc-url", default="http://127.0.0.1:8545", help="the chain to deploy onto (deploy)")
    devnet.add_argument("--addresses", type=Path, default=DEPLOY_DIR / "local.json",
                        help="where the addresses file is written (deploy)")
    devnet.set_defaults(func=devnet_command)

    register_model = subparsers.add_parser("register-model",
                                           help="register an ML model file (or an LLM file, on an LLM stack) on a "
                                                "deployment (any chain)")
    register_model.add_argument("model_file", type=Path, metavar="PATH.opml")
    register_model.add_argument("--fee", type=int, default=10**16, help="the request fee in wei (default 0.01 ETH)")
    register_model.add_argument("--uri", help="metadata URI (default opml://<model name>)")
    _chain_args(register_model, "model owner's private key (default: OPML_PRIVATE_KEY; on the devnet, Anvil's "
                                "account 0)")
    register_model.set_defaults(func=register_model_command)


def _chain_args(parser: argparse.ArgumentParser,
                key_help: str = "requester private key (default: OPML_PRIVATE_KEY; on the devnet, Anvil's account 1)",
                ) -> None:
    parser.add_argument("--rpc-url", default=os.environ.get("OPML_RPC_URL", "http://127.0.0.1:8545"))
    parser.add_argument("--deployment", type=Path,
                        default=Path(os.environ.get("OPML_DEPLOYMENT", DEPLOY_DIR / "local.json")))
    parser.add_argument("--key", default=os.environ.get("OPML_PRIVATE_KEY"), help=key_help)


def _fail(command: str, message: str) -> int:
    print(f"opml {command}: {message}", file=sys.stderr)
    return 2


# -- daemons -------------------------------------------------------------------------------------------------
def run_daemon(args: argparse.Namespace) -> int:
    """Validate the config (one clear error), then run the daemon until interrupted (SIGUSR1 prints every
    thread's stack to stderr, for a node that seems stuck)."""
    import faulthandler

    try:
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    except (OSError, ValueError, AttributeError):  # stderr is no real file (captured): no stack dumps then
        pass
    try:
        config = load_config(args.config)
        configure(config.log_format, config.log_level)
        daemon = _daemon_class(args.role)(config)
    except (ConfigError, DeploymentError, BackendError, CacheError) as exc:
        return _fail(args.role, str(exc))
    except (OSError, RequestsConnectionError) as exc:
        return _fail(args.role, f"cannot reach the chain at {config.rpc_url}: {exc}")
    except Web3Exception as exc:  # the coordinator's getters reverted: something else lives at that address
        return _fail(args.role, f"{config.deployment}: {exc.__class__.__name__} reading the coordinator: it is not "
                                f"the deployment's coordinator (check the deployment file)")
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
def _requester(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from .sdk import Requester

    configure("console", "warning", sys.stderr)  # stdout carries only the JSON answer
    deployment = load_deployment(args.deployment)
    requester = Requester.connect(args.rpc_url, _key(args.key, deployment, 1), deployment)
    _check_deployment(requester)
    return requester


def _check_deployment(requester) -> None:  # type: ignore[no-untyped-def]
    """ConfigError unless the RPC endpoint is the deployment's chain and its coordinator is one."""
    from web3.exceptions import Web3Exception

    deployment, w3 = requester.deployment, requester.w3
    try:
        chain_id = w3.eth.chain_id
    except (OSError, RequestsConnectionError, Web3Exception) as exc:
        raise ConfigError(f"cannot reach the chain at {w3.provider.endpoint_uri}: {exc}") from None
    if chain_id != deployment.chain_id:
        raise ConfigError(f"{w3.provider.endpoint_uri} is chain {chain_id}, the deployment is for chain "
                          f"{deployment.chain_id}")
    try:
        registry = requester.coordinator.contract.functions.registry().call()
    except (Web3Exception, ValueError):
        registry = None
    if registry is None or registry != deployment.registry:
        raise ConfigError(f"{deployment.coordinator} is not the deployment's coordinator (no coordinator code "
                          f"there, or one using another registry): check the deployment file")


def _key(key: str | None, deployment: Deployment, dev_account: int) -> str:
    """`key`, or on the devnet chain Anvil's public dev key `dev_account`; ConfigError elsewhere."""
    if key is not None:
        return key
    if deployment.chain_id != CHAIN_ID:
        raise ConfigError("no key: pass --key or set OPML_PRIVATE_KEY")
    return DEV_PRIVATE_KEYS[dev_account]


def _model_input(deployment: Deployment, model_id: int, model_dir: Path | None) -> ModelInput | None:
    """For an ML model of the deployment whose file is at hand: its input (shape, quantization); None for other
    kinds."""
    spec = deployment.models.get(model_id)
    if spec is None or spec.kind != "ml" or not isinstance(spec.param("model_file"), str):
        return None
    from opml.ml.accuracy import as_float_input
    from opml.paths import REPO_ROOT

    from .registration import ModelFileError, load_quantized

    try:
        quantized = load_quantized((model_dir or REPO_ROOT) / spec.param("model_file"))
    except ModelFileError as exc:
        raise ValueError(f"cannot read model {model_id}'s file to check the input: {exc}") from None
    shape = tuple(quantized.model.tensors[quantized.model.inputs[0]].shape)

    def quantize(array):  # type: ignore[no-untyped-def]
        try:
            return quantized.quantize_input(as_float_input(array))
        except ValueError as exc:
            raise ValueError(f"cannot quantize the input for model {model_id}: {exc}") from None

    return ModelInput(model_id, shape, quantize)


def _check_request(requester, model_id: int, data: bytes) -> int:  # type: ignore[no-untyped-def]
    """The model's fee, once the request is known to be acceptable and payable (ValueError otherwise): the model
    is registered, the input fits the coordinator's limit, and the key can pay fee and gas."""
    from web3.exceptions import ContractLogicError

    try:
        fee = requester.fee(model_id)
    except ContractLogicError as exc:
        from opml.chain.tx import revert_data

        payload = revert_data(exc)
        name = requester.sender.errors.decode(payload).name if payload is not None else "reverted"
        raise ValueError(f"{name}: model {model_id} is not registered at {requester.deployment.registry}") from None
    limit = int(requester.coordinator.contract.functions.maxInputBytes().call())
    if len(data) > limit:
        raise ValueError(f"InputTooLarge: the input is {len(data)} bytes, the coordinator takes at most {limit}")
    gas = 150_000 + 40 * len(data)  # calldata, storage of the input commitment, the event
    needed = fee + gas * requester.w3.eth.gas_price
    balance = requester.w3.eth.get_balance(requester.sender.address)
    if balance < needed:
        raise ValueError(f"account {requester.sender.address} holds {balance} wei; the request needs about {needed} "
                         f"(fee {fee} + gas): fund it first")
    return fee


def request_command(args: argparse.Namespace) -> int:
    llm = None
    try:
        requester = _requester(args)
        if args.prompt is not None:
            llm, data = _generation(requester, args)
        else:
            model = _model_input(requester.deployment, args.model, args.model_dir)
            data = parse_input(args.input, args.index, model)
        fee = _check_request(requester, args.model, data)
        request_id = requester.request(args.model, data, fee=fee)
    except (ValueError, ConfigError, DeploymentError, TxError) as exc:
        return _fail("request", str(exc))
    print(json.dumps({"request_id": request_id}), flush=True)
    if not args.wait:
        return 0
    from .sdk import RequestError

    try:
        output = requester.wait_final(request_id, args.timeout)
    except RequestError as exc:
        return _fail("request", str(exc))
    answer = {"request_id": request_id, "status": "finalized", "output": "0x" + output.hex()}
    if llm is not None:
        from .llm_requests import generated_text, generated_tokens

        answer |= {"tokens": generated_tokens(llm, output), "text": generated_text(llm, output)}
    print(json.dumps(answer, ensure_ascii=False))
    return 0


def _generation(requester, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """(the LLM, the request's input bytes) for `--prompt`: the LLM file is `--llm` or the deployment's, and must
    be the one registered for the model (its tokenizer makes the request); ValueError (one line) otherwise."""
    from web3.exceptions import ContractLogicError

    from opml.chain.bindings import ModelRegistryContract
    from opml.hashing import keccak

    from .llm_requests import BadGeneration, generation_request, llm_file, load_llm

    path = args.llm or llm_file(requester.deployment, args.model, args.model_dir)
    llm = load_llm(path)
    try:
        registered, _ = ModelRegistryContract(requester.w3, requester.deployment.registry).model_file(args.model)
    except ContractLogicError:  # an unknown model: `_check_request` says so
        registered = bytes(32)
    if any(registered) and keccak(path.read_bytes()) != registered:
        raise BadGeneration(f"{path} is not model {args.model}'s registered file (keccak256 "
                            f"0x{bytes(registered).hex()}): its tokenizer would make another request")
    return llm, generation_request(llm, args.prompt, args.max_tokens, args.temperature, args.salt).encode()


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
            state = devnet.up(args.port, args.broker_port, models=args.models, block_time=args.block_time)
            print(json.dumps(state, indent=2))
        elif args.action == "deploy":
            deployment = devnet.deploy_to(args.rpc_url, args.addresses, models=args.models)
            print(json.dumps(deployment.model_dump(mode="json"), indent=2))
        else:
            print(json.dumps({"stopped": devnet.down()}))
    except DevnetError as exc:
        return _fail("devnet", str(exc))
    return 0


# -- models --------------------------------------------------------------------------------------------------
def register_model_command(args: argparse.Namespace) -> int:
    """Register an ML model file on the deployment's registry and add it to the deployment file."""
    from web3 import Web3

    from opml.chain.bindings import ModelRegistryContract
    from opml.chain.build import load_artifact
    from opml.chain.tx import ErrorDecoder, TxSender

    from opml.llm.llmfile import is_llm_file

    from .registration import ModelFileError, register_model

    configure("console", "warning", sys.stderr)
    try:
        deployment = load_deployment(args.deployment)
        w3 = Web3(Web3.HTTPProvider(args.rpc_url, request_kwargs={"timeout": 30}))
        if w3.eth.chain_id != deployment.chain_id:
            raise ConfigError(f"{args.rpc_url} is chain {w3.eth.chain_id}, the deployment is for chain "
                              f"{deployment.chain_id}")
        sender = TxSender(w3, _key(args.key, deployment, 0), ErrorDecoder.from_abis(load_artifact("ModelRegistry").abi))
        _refuse_registered(w3, deployment, args.model_file)
        register = register_model
        if is_llm_file(args.model_file):
            from .llm_deploy import register_llm as register  # the LLM levels only for an LLM file
        model_id, updated = register(sender, deployment, args.model_file, args.fee, args.uri)
    except (ValueError, ConfigError, DeploymentError, ModelFileError, TxError) as exc:
        return _fail("register-model", str(exc))
    except (OSError, RequestsConnectionError) as exc:
        return _fail("register-model", f"cannot reach the chain at {args.rpc_url}: {exc}")
    updated.save(args.deployment)
    roots = ModelRegistryContract(w3, deployment.registry).model_roots(model_id)
    print(json.dumps({"model_id": model_id, "model_file": updated.models[model_id].param("model_file"),
                      "deployment": str(args.deployment), "owner": sender.address,
                      "roots": ["0x" + r.hex() for r in roots]}))
    return 0


def _refuse_registered(w3, deployment: Deployment, model_file: Path) -> None:  # type: ignore[no-untyped-def]
    """ValueError when the registry already holds a model with this file's roots (registering it again would
    only create a second id for the same model)."""
    from opml.chain.bindings import ModelRegistryContract
    from opml.llm.llmfile import is_llm_file

    from .registration import commit_model

    if is_llm_file(model_file):
        from .llm_deploy import commit_llm_file

        roots = tuple(commit_llm_file(model_file).roots)
    else:
        roots = tuple(commit_model(model_file).roots)
    registry = ModelRegistryContract(w3, deployment.registry)
    count = int(registry.contract.functions.modelCount().call())
    for model_id in range(1, count + 1):
        if tuple(registry.model_roots(model_id)) == roots:
            raise ValueError(f"{model_file} is already registered as model {model_id} at {deployment.registry}")
