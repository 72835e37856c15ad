"""Sending transactions: local signing, a local nonce, gas estimation with a margin, retries on transient RPC
failures, and reverts decoded to the contract's custom error name and arguments. The calls made per transaction
(estimate, broadcast, receipt) go to the provider as they are (`jsonrpc`); an error reply is asked again through
web3, so it raises what web3 raises.

    sender = TxSender(w3, private_key, ErrorDecoder.from_abis(game_abi, coordinator_abi))
    mined = sender.send(contract.functions.challenge(request_id), value=bond)   # -> Mined, or ContractRevert
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, dataclass
from typing import Any

import structlog
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector
from requests.exceptions import ConnectionError as HTTPConnectionError
from requests.exceptions import Timeout as HTTPTimeout
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    RequestTimedOut,
    TooManyRequests,
    TransactionNotFound,
    Web3RPCError,
)

from . import jsonrpc
from .signing import Signer, is_plain_1559
from .views import calldata

log = structlog.get_logger(__name__)

ETHER = 10**18  # wei in one ether: amounts on chain are in wei

_PANIC_CODES = {
    0x01: "assert failed",
    0x11: "arithmetic overflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x22: "bad storage byte array",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to zero-initialized function",
}
_NONCE_ERRORS = ("nonce too low", "already known", "replacement transaction underpriced", "nonce too high")
_TRANSIENT = (HTTPConnectionError, HTTPTimeout, ProviderConnectionError, RequestTimedOut, TooManyRequests,
              ConnectionError, TimeoutError)


class TxError(Exception):
    """A transaction could not be sent or mined (not a contract revert)."""


@dataclass(eq=False)
class ContractRevert(TxError):
    """The contract rejected the call: `name` is the custom error (or `Error`/`Panic`), `arguments` its decoded
    arguments in declaration order, `data` the raw revert data.

    `tx_hash`, `gas_used` and `fee_wei` are set when the revert happened in a mined transaction (gas was spent).
    """

    name: str
    arguments: tuple[Any, ...]
    data: bytes
    _: KW_ONLY
    tx_hash: bytes | None = None
    gas_used: int = 0
    fee_wei: int = 0

    def __str__(self) -> str:
        return f"reverted: {self.name}{self.arguments!r}" if self.arguments else f"reverted: {self.name}"


@dataclass(frozen=True)
class ErrorSpec:
    """One ABI error: its name and argument types."""

    name: str
    types: tuple[str, ...]

    @property
    def selector(self) -> bytes:
        return function_signature_to_4byte_selector(f"{self.name}({','.join(self.types)})")


def _abi_type(param: dict[str, Any]) -> str:
    """Canonical type string of an ABI parameter (tuples expanded)."""
    kind = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple'):]}"
    return kind


class ErrorDecoder:
    """Maps revert data to (error name, args) using the custom errors declared in a set of ABIs."""

    def __init__(self, specs: Iterable[ErrorSpec] = ()) -> None:
        self._by_selector: dict[bytes, ErrorSpec] = {}
        for spec in (ErrorSpec("Error", ("string",)), ErrorSpec("Panic", ("uint256",)), *specs):
            self._by_selector[spec.selector] = spec

    @classmethod
    def from_abis(cls, *abis: list[dict[str, Any]]) -> ErrorDecoder:
        """Every `type: error` entry of the given ABIs."""
        specs = [
            ErrorSpec(entry["name"], tuple(_abi_type(p) for p in entry.get("inputs", [])))
            for abi in abis for entry in abi if entry.get("type") == "error"
        ]
        return cls(specs)

    def decode(self, data: bytes) -> ContractRevert:
        """A ContractRevert for `data`; unknown selectors and empty data get descriptive names."""
        if len(data) < 4:
            return ContractRevert("EmptyRevert", (), data)
        spec = self._by_selector.get(data[:4])
        if spec is None:
            return ContractRevert(f"UnknownError_0x{data[:4].hex()}", (data[4:],), data)
        try:
            args = tuple(abi_decode(list(spec.types), data[4:]))
        except Exception:  # malformed payload: keep the name, expose raw bytes
            return ContractRevert(spec.name, (data[4:],), data)
        if spec.name == "Panic":
            args = (args[0], _PANIC_CODES.get(args[0], "unknown panic"))
        return ContractRevert(spec.name, args, data)


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert payload carried by a web3 exception, or None when it carries none."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(exc, Web3RPCError) and exc.rpc_response:
        payload = exc.rpc_response.get("error", {}).get("data")
        if isinstance(payload, str) and payload.startswith("0x"):
            return bytes.fromhex(payload[2:])
    return None


@dataclass(frozen=True)
class Mined:
    """A successfully mined transaction."""

    tx_hash: bytes
    block_number: int
    gas_used: int
    fee_wei: int
    receipt: Any

    @property
    def logs(self) -> list[Any]:
        return list(self.receipt["logs"])


FEES_MAX_AGE_S = 1.0  # how long the fee fields read from the latest block are used for new transactions
STILL_KNOWN_S = 1.0  # a transaction waited for is checked to be still in the node's pool (or mined) this often


class _Heads:
    """The chain's head number as the sender's waiting threads see it: one thread at a time asks the node (and
    waits `poll_s` when nothing changed), the others wait for its answer. So however many transactions are in
    flight, the node is asked for the head once per `poll_s`, and for each receipt once per new head."""

    def __init__(self, read: Callable[[], int], poll_s: float, sleep: Callable[[float], None]) -> None:
        self._read = read
        self._poll_s = poll_s
        self._sleep = sleep
        self._changed = threading.Condition()
        self._number = -1
        self._polling = False

    @property
    def number(self) -> int:
        """The last head number read (-1 before the first)."""
        return self._number

    def after(self, seen: int, timeout: float) -> int:
        """The head number once it differs from `seen` (the caller's last answer), or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                while self._polling and self._number == seen and time.monotonic() < deadline:
                    self._changed.wait(deadline - time.monotonic())
                if self._number != seen or time.monotonic() >= deadline:
                    return self._number
                self._polling = True
            head = None
            try:
                try:
                    head = self._read()
                except _TRANSIENT:
                    pass  # no answer this time: the next poll asks again
                if head is None or head == seen:
                    self._sleep(self._poll_s)  # still the poller: the others keep waiting meanwhile
            finally:
                with self._changed:
                    self._polling = False
                    if head is not None:
                        self._number = head
                    self._changed.notify_all()


class TxSender:
    """Signs and sends transactions from one key, one at a time per nonce (thread-safe)."""

    def __init__(
        self,
        w3: Web3,
        private_key: bytes | str,
        errors: ErrorDecoder | None = None,
        *,
        gas_margin: float = 1.25,
        retries: int = 5,
        backoff_s: float = 0.1,
        receipt_timeout_s: float = 120.0,
        poll_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.w3 = w3
        self._account = Account.from_key(private_key)
        self._signer = Signer(private_key)
        self.errors = errors or ErrorDecoder()
        self.gas_margin = gas_margin
        self.retries = retries
        self.backoff_s = backoff_s
        self.receipt_timeout_s = receipt_timeout_s
        self.poll_s = poll_s
        self._sleep = sleep
        self._heads = _Heads(self._block_number, poll_s, sleep)
        self._fees_read: tuple[float, dict[str, int]] | None = None  # (when, fee fields)
        self._lock = threading.Lock()
        self._nonce: int | None = None
        self._chain_id: int | None = None
        self.log = log.bind(sender=self._account.address)

    @property
    def address(self) -> str:
        return self._account.address

    # -- public ---------------------------------------------------------------------------------------------
    def send(self, call: Any, *, value: int = 0, gas: int | None = None, label: str | None = None,
             before_broadcast: Callable[[int, bytes], None] | None = None) -> Mined:
        """Send a bound contract call (`contract.functions.f(args)`); see `send_raw`."""
        data = calldata(call)
        return self.send_raw(call.address, data, value=value, gas=gas, label=label or call.fn_name,
                             before_broadcast=before_broadcast)

    def send_raw(self, to: str, data: bytes | str, *, value: int = 0, gas: int | None = None,
                 label: str = "tx", before_broadcast: Callable[[int, bytes], None] | None = None) -> Mined:
        """Estimate (unless `gas` is given), sign, send, and wait for the receipt. `before_broadcast(nonce,
        tx_hash)` runs after signing and before each broadcast (a journal records the intent there). Several
        threads may send at once: nonces are handed out locally, receipts awaited in parallel.

        Raises ContractRevert when the estimate or the mined transaction reverts, TxError when the node keeps
        failing after `retries` attempts or the receipt does not arrive in time.
        """
        data = bytes.fromhex(data[2:]) if isinstance(data, str) else data
        tx: dict[str, Any] = {"from": self.address, "to": jsonrpc.checksum(to), "data": data, "value": value}
        if gas is None:
            gas = self._estimate(tx, label)
        head = self._heads.number  # no block up to this one holds the transaction (short of a reorganization)
        with self._lock:
            tx_hash, nonce = self._sign_and_send({**tx, "gas": gas}, label, before_broadcast)
        self.log.info("tx_sent", fn=label, tx=tx_hash.hex(), nonce=nonce, gas=gas, value=value)
        return self._await(tx_hash, tx, label, nonce, head)

    def call(self, call: Any, *, value: int = 0) -> Any:
        """eth_call a bound contract function from this sender; reverts raise ContractRevert."""
        try:
            return call.call({"from": self.address, "value": value})
        except ContractLogicError as exc:
            raise self._revert(exc) from exc

    def resync_nonce(self) -> int:
        """Reload the next nonce from the node's pending count."""
        self._nonce = self._retrying(lambda: self.w3.eth.get_transaction_count(self.address, "pending"),
                                     "get_nonce")
        return self._nonce

    def fill_nonce_gap(self, below: int) -> int:
        """Send a zero-value transfer to this account at every nonce from the node's pending count up to `below`
        - 1, so that a transaction of ours queued at nonce `below` behind a gap (a reorg or revert took the ones
        before it off the chain) can be mined as it stands, not sent again beside itself. Returns how many
        fillers were sent (waits for none); a nonce someone else fills meanwhile is passed over."""
        filler = {"from": self.address, "to": self.address, "value": 0, "data": b"", "gas": 21_000}
        with self._lock:
            start = self.resync_nonce()
            for nonce in range(start, below):
                raw, _ = self._sign({**filler, **self._fees(), "nonce": nonce, "chainId": self._chain()})
                try:
                    self._retrying(lambda: self._broadcast(raw), "fill_nonce")
                except Web3RPCError as exc:
                    if not _is_nonce_error(exc):
                        raise TxError(f"fill_nonce: node rejected the filler at nonce {nonce}: {exc.message}") from exc
            self._nonce = None  # the transactions queued behind the gap now count: ask the node again
        if below > start:
            self.log.warning("nonce_gap_filled", nonces=f"{start}..{below - 1}")
        return max(0, below - start)

    def forget_nonce(self) -> None:
        """Ask the node for the next nonce before the next send (the chain reorganized or was replaced)."""
        self._nonce = None

    # -- steps ----------------------------------------------------------------------------------------------
    def _estimate(self, tx: dict[str, Any], label: str) -> int:
        params = [{"from": tx["from"], "to": tx["to"], "data": jsonrpc.hex_data(tx["data"]),
                   "value": hex(tx["value"])}, "latest"]
        try:
            estimate = self._retrying(lambda: jsonrpc.ask(self.w3, "eth_estimateGas", params,
                                                          lambda: self.w3.eth.estimate_gas(tx), jsonrpc.quantity),
                                      label)
        except ContractLogicError as exc:
            revert = self._revert(exc)
            self.log.info("tx_reverted", fn=label, stage="estimate", error=revert.name, args=_printable(revert))
            raise revert from exc
        return int(estimate * self.gas_margin) + 10_000

    def _sign_and_send(self, tx: dict[str, Any], label: str,
                       before_broadcast: Callable[[int, bytes], None] | None = None) -> tuple[bytes, int]:
        """Sign with the local nonce and broadcast; a stale nonce is resynced and the transaction re-signed.

        A broadcast whose reply was lost may still have reached the node: before re-signing, the sender checks
        whether its own transaction is known, so a retry never sends the same intent twice.
        """
        for attempt in range(self.retries + 1):
            if self._nonce is None:
                self.resync_nonce()
            nonce = self._nonce
            raw, tx_hash = self._sign({**tx, **self._fees(), "nonce": nonce, "chainId": self._chain()})
            if before_broadcast is not None:
                before_broadcast(nonce, tx_hash)
            try:
                self._retrying(lambda: self._broadcast(raw), label)
            except Web3RPCError as exc:
                if self._known(tx_hash):
                    self.log.info("tx_already_known", fn=label, tx=tx_hash.hex())
                elif not _is_nonce_error(exc) or attempt == self.retries:
                    raise TxError(f"{label}: node rejected the transaction: {exc.message}") from exc
                else:
                    self.log.warning("nonce_resync", fn=label, stale=nonce, reason=exc.message)
                    self._nonce = None
                    continue
            self._nonce = nonce + 1
            return tx_hash, nonce
        raise TxError(f"{label}: could not find a usable nonce")  # unreachable: the loop raises first

    def _sign(self, tx: dict[str, Any]) -> tuple[bytes, bytes]:
        """(raw transaction, hash): a plain EIP-1559 call by `Signer`, anything else (a chain without a base fee:
        a legacy gas price) by eth_account."""
        if is_plain_1559(tx):
            return self._signer.sign(tx)
        signed = self._account.sign_transaction(tx)
        return bytes(signed.raw_transaction), bytes(signed.hash)

    def _broadcast(self, raw: bytes) -> None:
        jsonrpc.ask(self.w3, "eth_sendRawTransaction", [jsonrpc.hex_data(raw)],
                    lambda: self.w3.eth.send_raw_transaction(raw))

    def _known(self, tx_hash: bytes) -> bool:
        try:
            found = self._retrying(lambda: jsonrpc.ask(
                self.w3, "eth_getTransactionByHash", [jsonrpc.hex_data(tx_hash)],
                lambda: self.w3.eth.get_transaction(tx_hash)), "get_transaction")
        except TransactionNotFound:
            return False
        return found is not None

    def _receipt(self, tx_hash: bytes) -> Any:
        """The receipt as web3 gives it; TransactionNotFound while there is none."""
        receipt = jsonrpc.ask(self.w3, "eth_getTransactionReceipt", [jsonrpc.hex_data(tx_hash)],
                              lambda: self.w3.eth.get_transaction_receipt(tx_hash),
                              lambda raw: None if raw is None else jsonrpc.format_receipt(raw))
        if receipt is None:
            raise TransactionNotFound(f"no receipt for {tx_hash.hex()} yet")
        return receipt

    def _block_number(self) -> int:
        return jsonrpc.ask(self.w3, "eth_blockNumber", [], lambda: self.w3.eth.block_number, jsonrpc.quantity)

    def _await(self, tx_hash: bytes, tx: dict[str, Any], label: str, nonce: int | None = None,
               head: int = -1) -> Mined:
        receipt = self._wait_receipt(tx_hash, label, nonce, head)
        fee = int(receipt["gasUsed"]) * int(receipt.get("effectiveGasPrice", 0))
        if receipt["status"] == 1:
            self.log.info("tx_mined", fn=label, tx=tx_hash.hex(), block=receipt["blockNumber"],
                          gas_used=receipt["gasUsed"])
            return Mined(tx_hash, int(receipt["blockNumber"]), int(receipt["gasUsed"]), fee, receipt)
        revert = self._replay(tx, int(receipt["blockNumber"]))
        revert.tx_hash, revert.gas_used, revert.fee_wei = tx_hash, int(receipt["gasUsed"]), fee
        self.log.info("tx_reverted", fn=label, stage="mined", tx=tx_hash.hex(), error=revert.name,
                      args=_printable(revert), gas_used=revert.gas_used)
        raise revert

    def _wait_receipt(self, tx_hash: bytes, label: str, nonce: int | None = None, head: int = -1) -> Any:
        """The receipt; TxError after `receipt_timeout_s`, or as soon as the node no longer knows the transaction
        or holds it behind a nonce gap (the chain was reorganized or reset under it: the caller decides again).
        It is asked for once per new head (`_Heads`), and at least every `STILL_KNOWN_S` seconds, when the
        transaction's presence in the pool is checked too; not before the head moves past `head` (the head known
        when it was broadcast, if any), or `STILL_KNOWN_S` passed."""
        now = time.monotonic()
        deadline, check_at = now + self.receipt_timeout_s, now + STILL_KNOWN_S
        if head >= 0:
            head = self._heads.after(head, STILL_KNOWN_S)
        while True:
            try:
                return self._receipt(tx_hash)
            except TransactionNotFound:
                if time.monotonic() >= check_at:
                    check_at = time.monotonic() + STILL_KNOWN_S
                    if not self._known(tx_hash):
                        self._nonce = None
                        raise TxError(f"{label}: {tx_hash.hex()} left the node's pool unmined") from None
                    if nonce is not None and self.w3.eth.get_transaction_count(self.address, "pending") < nonce:
                        self._nonce = None  # the chain's nonce went back under it: it can never be mined as is
                        raise TxError(f"{label}: {tx_hash.hex()} waits behind a nonce gap (nonce {nonce})") from None
            except _TRANSIENT as exc:
                self.log.warning("rpc_retry", fn=label, op="receipt", error=repr(exc))
            if time.monotonic() > deadline:
                self._nonce = None
                raise TxError(f"{label}: no receipt for {tx_hash.hex()} after {self.receipt_timeout_s} s")
            head = self._heads.after(head, max(self.poll_s, min(check_at, deadline) - time.monotonic()))

    def _replay(self, tx: dict[str, Any], block: int) -> ContractRevert:
        """Re-run a reverted transaction as a call on its parent block to recover the revert data."""
        try:
            self.w3.eth.call(tx, block - 1)
        except ContractLogicError as exc:
            return self._revert(exc)
        return ContractRevert("RevertedWithoutReason", (), b"")

    # -- helpers --------------------------------------------------------------------------------------------
    def _revert(self, exc: ContractLogicError) -> ContractRevert:
        data = revert_data(exc)
        return self.errors.decode(data) if data is not None else ContractRevert("EmptyRevert", (), b"")

    def _fees(self) -> dict[str, int]:
        """The fee fields of the next transaction: twice the latest base fee plus a 1 gwei tip, read again once
        they are `FEES_MAX_AGE_S` old (a base fee rises by at most 12.5 % a block, so the doubled one stays enough
        for several blocks; a burst of sends does not read a block each)."""
        now = time.monotonic()
        if self._fees_read is not None and now - self._fees_read[0] < FEES_MAX_AGE_S:
            return self._fees_read[1]
        block = self._retrying(lambda: self.w3.eth.get_block("latest"), "get_block")
        base = block.get("baseFeePerGas")
        if base is None:
            fees = {"gasPrice": self._retrying(lambda: self.w3.eth.gas_price, "gas_price")}
        else:
            tip = 1_000_000_000 if base > 0 else 0
            fees = {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}
        self._fees_read = (now, fees)
        return fees

    def _chain(self) -> int:
        if self._chain_id is None:
            self._chain_id = self._retrying(lambda: self.w3.eth.chain_id, "chain_id")
        return self._chain_id

    def _retrying(self, op: Callable[[], Any], label: str) -> Any:
        """Run `op`, retrying transient connection failures with exponential backoff."""
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                return op()
            except _TRANSIENT as exc:
                if attempt == self.retries:
                    raise TxError(f"{label}: node unreachable after {self.retries + 1} attempts: {exc!r}") from exc
                self.log.warning("rpc_retry", fn=label, attempt=attempt + 1, error=repr(exc), delay_s=delay)
                self._sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")


def _is_nonce_error(exc: Web3RPCError) -> bool:
    return any(marker in str(exc.message).lower() for marker in _NONCE_ERRORS)


def _printable(revert: ContractRevert) -> list[Any]:
    return [a.hex() if isinstance(a, bytes) else a for a in revert.arguments]
