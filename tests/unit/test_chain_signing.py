"""The node's EIP-1559 signer gives eth_account's bytes and hash for every plain call (random fields, edge values),
and the sender hands anything else (a legacy gas price, an access list) to eth_account."""

from __future__ import annotations

import random

import pytest
from eth_account import Account
from web3 import Web3

from opml.chain.anvil import DEV_PRIVATE_KEYS
from opml.chain.signing import Signer, is_plain_1559

KEY = DEV_PRIVATE_KEYS[2]


def random_call(rng: random.Random) -> dict:
    big = rng.choice([0, 1, 2**64 - 1, 2**255, rng.randrange(2**96)])
    return {"from": Account.from_key(KEY).address, "to": Web3.to_checksum_address(rng.randbytes(20)),
            "data": rng.randbytes(rng.choice([0, 1, 4, 55, 56, 68, 1000, 70_000])), "value": big,
            "gas": rng.randrange(21_000, 30_000_000), "nonce": rng.choice([0, 1, 127, 128, rng.randrange(2**32)]),
            "chainId": rng.choice([1, 31337, 2**31 - 1]), "maxFeePerGas": rng.randrange(1, 2**80),
            "maxPriorityFeePerGas": rng.randrange(0, 2**40)}


@pytest.mark.parametrize("seed", range(40))
def test_signed_bytes_and_hash_are_eth_accounts(seed: int) -> None:
    tx = random_call(random.Random(seed))
    assert is_plain_1559(tx)
    theirs = Account.sign_transaction(tx, KEY)
    assert Signer(KEY).sign(tx) == (bytes(theirs.raw_transaction), bytes(theirs.hash))
    assert Signer(bytes.fromhex(KEY[2:])).sign(tx) == Signer(KEY).sign(tx)


def test_other_transactions_are_not_plain_1559() -> None:
    tx = random_call(random.Random(0))
    fees = {"maxFeePerGas", "maxPriorityFeePerGas"}
    assert not is_plain_1559({**{k: v for k, v in tx.items() if k not in fees}, "gasPrice": 10**9})
    assert not is_plain_1559({**tx, "accessList": []})
    assert not is_plain_1559({**tx, "to": ""})  # a contract creation
    assert not is_plain_1559({k: v for k, v in tx.items() if k != "nonce"})
