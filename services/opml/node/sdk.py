"""The requester SDK: ask for an inference, then read or wait for its final output.

    requester = Requester.connect("http://127.0.0.1:8545", key, Path("deploy/local.json"))
    request_id = requester.request(model_id=1, input=b"hello")
    output = requester.wait_final(request_id, timeout_s=600)

    request_id = requester.ask(consumer_address, digit_bytes)   # through a consumer contract, called back
    requester.delivered(consumer_address, request_id)           # the output it was called back with (or None)

    llm = load_llm(Path("models/llm/moby.opml"))                # an LLM: its own tokenizer makes the request
    request_id = requester.generate(1, llm, "Once upon a time", max_tokens=32)
    text = requester.wait_text(request_id, llm, timeout_s=600)  # the continuation, cut at the first EOS
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from web3 import Web3

from opml.chain.bindings import CoordinatorContract, ModelRegistryContract, RequestStatus, SubmissionStatus
from opml.chain.build import load_artifact
from opml.chain.tx import ErrorDecoder, TxSender

from .deployment import Deployment, load_deployment

if TYPE_CHECKING:
    from opml.llm.llmfile import LLMModel


class RequestError(Exception):
    """A request could not be made or read (unknown request, not final in time, …)."""


class BadRequestInput(RequestError, ValueError):
    """A request the Coordinator would refuse, caught before paying: an input of another length than the model's
    registered input size, or a callback that is not the requester itself."""


@dataclass(frozen=True)
class RequestResult:
    """Where a request stands: `status` (open, submitted, finalized), and the active result when there is one."""

    request_id: int
    model_id: int
    status: str
    output: bytes | None
    submitter: str | None
    window_end: int | None
    callback_failed: bool

    @property
    def final(self) -> bool:
        return self.status == "finalized"


class Requester:
    """One requester account on one deployment."""

    def __init__(self, w3: Web3, private_key: str, deployment: Deployment) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.coordinator = CoordinatorContract(w3, deployment.coordinator)
        errors = ErrorDecoder.from_abis(self.coordinator.contract.abi, load_artifact("ModelRegistry").abi)
        self.sender = TxSender(w3, private_key, errors)
        self.registry = w3.eth.contract(address=deployment.registry, abi=load_artifact("ModelRegistry").abi)

    @classmethod
    def connect(cls, rpc_url: str, private_key: str, deployment: Path | Deployment) -> Requester:
        dep = deployment if isinstance(deployment, Deployment) else load_deployment(deployment)
        return cls(Web3(Web3.HTTPProvider(rpc_url)), private_key, dep)

    def fee(self, model_id: int) -> int:
        """The model's current fee in wei."""
        return int(self.registry.functions.modelRoots(model_id).call()[3])

    def request(self, model_id: int, input: bytes, callback: str | None = None, callback_gas_limit: int = 0,
                fee: int | None = None) -> int:
        """Send a request (paying the model's fee unless `fee` is given); returns its id. Reverts raise
        `ContractRevert` (e.g. `UnknownModel`, `InputTooLarge`); an input of the wrong length or a callback other
        than the sender raises `BadRequestInput` before anything is sent."""
        self.check_input(model_id, input)
        if callback is not None and int(callback, 16) and \
                Web3.to_checksum_address(callback) != self.sender.address:
            raise BadRequestInput(f"callback {callback} is not the requester {self.sender.address}: the coordinator "
                                  f"calls back only the contract that asked (request through it)")
        value = self.fee(model_id) if fee is None else fee
        mined = self.sender.send(self.coordinator.request(model_id, input, callback, callback_gas_limit),
                                 value=value, label="request")
        return int(self.coordinator.events("RequestCreated", mined.receipt)[0]["requestId"])

    def check_input(self, model_id: int, input: bytes) -> None:
        """`BadRequestInput` unless `input` has the model's registered input size (any size if none is)."""
        expected, _ = ModelRegistryContract(self.w3, self.deployment.registry).model_sizes(model_id)
        if expected and len(input) != expected:
            raise BadRequestInput(f"input has {len(input)} bytes; model {model_id} takes exactly {expected} bytes "
                                  f"(nothing was sent)")

    def generate(self, model_id: int, llm: LLMModel, prompt: str, max_tokens: int, temperature: float = 0.0,
                 salt: int = 0, consumer: str | None = None) -> int:
        """Ask LLM `model_id` (whose file is `llm`) for `max_tokens` tokens after `prompt`, tokenized by the model's
        own tokenizer (BOS first), at `temperature` (0 = greedy) with the requester's `salt`; through `consumer`
        (a GenerationConsumer, called back with the tokens) when given. Returns the request id; a generation the
        model cannot run raises `BadGeneration` (a ValueError) before anything is sent."""
        from .llm_requests import generation_request

        data = generation_request(llm, prompt, max_tokens, temperature, salt).encode()
        return self.request(model_id, data) if consumer is None else self.ask(consumer, data)

    def wait_text(self, request_id: int, llm: LLMModel, timeout_s: float = 600.0, poll_s: float = 1.0) -> str:
        """Block until generation `request_id` is final; its text (the tokens before the first EOS, decoded by
        `llm`'s tokenizer)."""
        from .llm_requests import generated_text

        return generated_text(llm, self.wait_final(request_id, timeout_s, poll_s))

    def ask(self, consumer: str, input: bytes) -> int:
        """Ask through a consumer contract in the style of `ExampleConsumer.ask(input)` (paying its model's fee):
        the coordinator calls the consumer back with the output once it is final. Returns the request id."""
        contract = self._consumer(consumer)
        model_id = int(contract.functions.modelId().call())
        self.check_input(model_id, input)
        fee = self.fee(model_id)
        mined = self.sender.send(contract.functions.ask(input), value=fee, label="ask")
        return int(self.coordinator.events("RequestCreated", mined.receipt)[0]["requestId"])

    def delivered(self, consumer: str, request_id: int) -> bytes | None:
        """The output `consumer` was called back with for `request_id`, or None while it was not."""
        contract = self._consumer(consumer)
        if not contract.functions.answered(request_id).call():
            return None
        return bytes(contract.functions.outputOf(request_id).call())

    def _consumer(self, address: str):  # noqa: ANN202
        return self.w3.eth.contract(address=Web3.to_checksum_address(address),
                                    abi=load_artifact("ExampleConsumer").abi)

    def result(self, request_id: int) -> RequestResult:
        """The request's state now."""
        if not 1 <= request_id <= self.coordinator.contract.functions.requestCount().call():
            raise RequestError(f"no request {request_id} on coordinator {self.coordinator.address}")
        request = self.coordinator.get_request(request_id)
        output = submitter = window_end = None
        if request.active_submission:
            submission = self.coordinator.get_submission(request.active_submission)
            if submission.status in (SubmissionStatus.PENDING, SubmissionStatus.FINALIZED):
                output, submitter, window_end = submission.output, submission.submitter, submission.window_end
        return RequestResult(request_id, request.model_id, RequestStatus(request.status).name.lower(), output,
                             submitter, window_end, request.callback_failed)

    def wait_final(self, request_id: int, timeout_s: float = 600.0, poll_s: float = 1.0,
                   on_update: Callable[[RequestResult], None] | None = None) -> bytes:
        """Block until the request is finalized and return its output; RequestError after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        last = None
        while True:
            result = self.result(request_id)
            if on_update is not None and result.status != last:
                on_update(result)
                last = result.status
            if result.final:
                return result.output or b""
            if result.status == "cancelled":
                raise RequestError(f"request {request_id} was cancelled by its requester (fee refunded)")
            if time.monotonic() > deadline:
                raise RequestError(f"request {request_id} not final after {timeout_s} s (status {result.status})")
            time.sleep(poll_s)
