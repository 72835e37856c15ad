"""Deploying built contracts and reading their custom-error reverts."""

from __future__ import annotations

from typing import Any

from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from opml.chain.build import load_artifact


class DeploymentError(Exception):
    """A contract creation transaction failed."""


def deploy(w3: Web3, artifact_name: str, *args: Any, sender: str | None = None, gas: int | None = None) -> Contract:
    """Deploy the built contract `artifact_name` with constructor `args` from `sender` (an unlocked account,
    default the node's first); returns the bound web3 contract."""
    artifact = load_artifact(artifact_name)
    sender = sender or w3.eth.accounts[0]
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx: dict[str, Any] = {"from": sender}
    if gas is not None:
        tx["gas"] = gas
    tx_hash = factory.constructor(*args).transact(tx)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1 or not receipt["contractAddress"]:
        raise DeploymentError(f"deploying {artifact_name} failed (tx {tx_hash.hex()})")
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


def error_selectors(abi: list[dict[str, Any]]) -> dict[bytes, str]:
    """4-byte selector → name for every custom error declared in `abi`."""
    selectors = {}
    for item in abi:
        if item.get("type") == "error":
            signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            selectors[keccak(text=signature)[:4]] = item["name"]
    return selectors


def revert_data(exc: ContractLogicError) -> bytes:
    """The raw revert data carried by a web3 contract error."""
    data = exc.data
    if isinstance(data, dict):
        data = data.get("data", "")
    return bytes.fromhex(str(data or "").removeprefix("0x"))


def revert_error_name(abi: list[dict[str, Any]], exc: ContractLogicError) -> str:
    """Name of the custom error a call reverted with (e.g. `InvalidMemoryProof`), or `unknown:<hex>`."""
    data = revert_data(exc)
    return error_selectors(abi).get(data[:4], f"unknown:{data.hex()}")
