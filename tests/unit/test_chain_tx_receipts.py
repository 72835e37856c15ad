"""How often the sender asks for a receipt: not before the head has moved past the one it knew at the broadcast,
so a transaction mined in the next block costs one receipt call. A fake node mines what it holds when asked for
the head."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from opml.chain.anvil import DEV_PRIVATE_KEYS
from opml.chain.tx import TxSender
from opml.hashing import keccak

TO = "0x" + "22" * 20


class FakeNode:
    def __init__(self) -> None:
        self.head = 10
        self.pool: list[bytes] = []
        self.receipts: dict[str, dict] = {}
        self.calls: list[str] = []
        self.eth = SimpleNamespace(chain_id=31337, get_block=lambda _: {"baseFeePerGas": 1},
                                   get_transaction_count=lambda *_: 0)
        self.provider = SimpleNamespace(make_request=self.make_request)

    def make_request(self, method: str, params: list[Any]) -> dict:
        self.calls.append(method)
        if method == "eth_sendRawTransaction":
            self.pool.append(keccak(bytes.fromhex(params[0][2:])))
            return {"result": "0x" + self.pool[-1].hex()}
        if method == "eth_blockNumber":  # each poll of the head finds the pool mined in a block of its own
            for tx_hash in self.pool:
                self.head += 1
                self.receipts["0x" + tx_hash.hex()] = {
                    "transactionHash": "0x" + tx_hash.hex(), "blockNumber": hex(self.head),
                    "blockHash": "0x" + keccak(self.head.to_bytes(8, "big")).hex(), "status": "0x1",
                    "gasUsed": "0x5208", "effectiveGasPrice": "0x1", "logs": []}
            self.pool.clear()
            return {"result": hex(self.head)}
        if method == "eth_getTransactionReceipt":
            return {"result": self.receipts.get(params[0])}
        raise AssertionError(f"unexpected call {method}")


def test_a_receipt_is_asked_for_once_the_head_moved_past_the_broadcast() -> None:
    node = FakeNode()
    sender = TxSender(node, DEV_PRIVATE_KEYS[2], poll_s=0.001)  # type: ignore[arg-type]
    first = sender.send_raw(TO, b"\x01", gas=50_000)
    assert first.block_number == 11
    assert node.calls.count("eth_getTransactionReceipt") == 2  # no head known yet: asked at once, then once mined
    node.calls.clear()
    second = sender.send_raw(TO, b"\x02", gas=50_000)
    assert second.block_number == 12 and second.receipt["status"] == 1
    assert node.calls == ["eth_sendRawTransaction", "eth_blockNumber", "eth_getTransactionReceipt"]
