"""Chain fixtures: one Anvil per pytest worker, a web3 client, per-test isolation by snapshot/revert, and the
deployed contracts that tests share.

Session fixtures deploy before any function-scoped snapshot is taken (pytest sets up wider scopes first), so a
test's revert never removes a shared deployment.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3
from web3.contract import Contract

from opml.chain.anvil import Anvil, evm_snapshot
from opml.chain.build import ensure_built
from opml.chain.contracts import deploy


@pytest.fixture(scope="session")
def contracts_built() -> None:
    """The project's contracts compiled into contracts/out (skipped when sources are unchanged)."""
    ensure_built()


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    """A running Anvil devnet (default hardfork, automine), private to this pytest worker."""
    with Anvil() as node:
        yield node


@pytest.fixture(scope="session")
def w3(anvil: Anvil) -> Web3:
    """web3 client of the worker's Anvil; accounts are Anvil's unlocked dev accounts."""
    return anvil.web3()


@pytest.fixture
def isolated_chain(w3: Web3) -> Iterator[Web3]:
    """The chain as the test found it is restored afterwards (evm_snapshot before, evm_revert after)."""
    with evm_snapshot(w3):
        yield w3


@pytest.fixture(scope="session")
def mips(w3: Web3, contracts_built: None) -> Contract:
    """The MIPS step contract, deployed once per session."""
    return deploy(w3, "MIPS")
