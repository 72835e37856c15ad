"""The Anvil process manager and the shared chain fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from opml.chain.anvil import CHAIN_ID, DEV_PRIVATE_KEYS, Anvil, AnvilError, evm_snapshot
from opml.chain.contracts import deploy


def test_start_answers_and_stop_frees_the_port() -> None:
    node = Anvil().start()
    try:
        w3 = node.web3()
        assert w3.is_connected() and w3.eth.chain_id == CHAIN_ID
        process = node._process
    finally:
        node.stop()
    assert process is not None and process.poll() is not None
    assert not node.running
    node.stop()  # idempotent


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AnvilError, match="make bootstrap"):
        Anvil(binary=tmp_path / "anvil").start()


def test_bad_arguments_report_anvil_output() -> None:
    with pytest.raises(AnvilError, match="exited during startup"):
        Anvil(extra_args=("--no-such-flag",), start_attempts=1).start()


def test_dev_keys_are_the_nodes_accounts(w3: Web3) -> None:
    addresses = [Account.from_key(key).address for key in DEV_PRIVATE_KEYS]
    assert addresses == w3.eth.accounts[: len(addresses)]


def test_snapshot_reverts_transactions(isolated_chain: Web3) -> None:
    w3 = isolated_chain
    sender = w3.eth.accounts[1]
    nonce, block = w3.eth.get_transaction_count(sender), w3.eth.block_number
    with evm_snapshot(w3):
        address = deploy(w3, "MIPS", sender=sender).address
        assert w3.eth.get_transaction_count(sender) == nonce + 1 and w3.eth.get_code(address)
    assert w3.eth.get_transaction_count(sender) == nonce and w3.eth.block_number == block
    assert not w3.eth.get_code(address)


def test_session_deployment_survives_isolation(isolated_chain: Web3, mips) -> None:
    assert isolated_chain.eth.get_code(mips.address)


def test_no_old_state_is_written_to_disk(tmp_path: Path) -> None:
    """Left to itself, Anvil persists every state that leaves its in-memory window (200 files after 600 blocks
    with a transaction each, gigabytes on a busy chain) and a killed Anvil leaves them behind."""
    with Anvil(extra_args=("--cache-path", str(tmp_path))) as node:
        w3 = node.web3()
        sender = w3.eth.accounts[0]
        for _ in range(600):
            w3.eth.send_transaction({"from": sender, "to": "0x000000000000000000000000000000000000dEaD", "value": 1})
        assert w3.eth.block_number == 600
        assert w3.eth.get_balance("0x000000000000000000000000000000000000dEaD", 599) == 599  # recent history stays
        assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
