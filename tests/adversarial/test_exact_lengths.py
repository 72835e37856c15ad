"""Attacks on lengths: a result padded with zero bytes or cut short (the tensor commitment is a zero-padded region
root, so both have the honest output's commitment), an input one byte short (it has the commitment and anchor of
a valid digit, but no honest node can compute on it), a model registered without sizes on the ML stack.

All fail on chain with a named error; and the invariant that replaces them — every request the chain accepts can
be answered and disputed by an honest node — is checked on random inputs of every length."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fixtures_game import ML_STACK_CONFIG, GameStack, deploy_ml_game_stack, events, expect_revert, send
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.exceptions import ContractLogicError

from opml.chain.bindings import Submission, SubmissionStatus
from opml.paths import REPO_ROOT
from opml.chain.tx import revert_data
from opml.levels.commitments import ModelCommitment, tensor_commitment
from opml.node.backends import RequestInput
from opml.node.challenger import disagreement
from opml.node.ml_backend import MlBackend

pytestmark = pytest.mark.attack

MODEL_FILE = REPO_ROOT / "models" / "mnist_mlp.opml"
CONFIG = ML_STACK_CONFIG


@pytest.fixture(scope="module")
def backend() -> MlBackend:
    return MlBackend(MODEL_FILE)


@pytest.fixture(scope="module")
def commitment(backend: MlBackend) -> ModelCommitment:
    return backend.commitment


@pytest.fixture(scope="module")
def stack(w3: Web3, contracts_built: None, commitment: ModelCommitment) -> Iterator[GameStack]:
    yield deploy_ml_game_stack(w3, commitment, MODEL_FILE.as_uri(), CONFIG)


def _digit(seed: int, size: int = 784) -> bytes:
    return np.random.default_rng(seed).integers(-128, 128, size=size, dtype=np.int8).tobytes()


def _request(stack: GameStack, data: bytes) -> int:
    call = stack.coordinator.functions.request(stack.model_id, data, "0x" + "00" * 20, 0)
    (created,) = events(stack.coordinator.events.RequestCreated, send(stack, call, stack.requester, CONFIG.model_fee))
    return created["requestId"]


def _claim(backend: MlBackend, stack: GameStack, request_id: int, data: bytes):  # noqa: ANN202
    anchor = bytes(stack.coordinator.functions.getRequest(request_id).call()[5])
    return backend.claim(RequestInput(request_id, stack.model_id, data, anchor))


def test_the_registry_records_the_exact_sizes(stack: GameStack, commitment: ModelCommitment) -> None:
    assert commitment.io_bytes == (784, 10)
    assert tuple(stack.registry.functions.modelSizes(stack.model_id).call()) == (784, 10)


@pytest.mark.usefixtures("isolated_chain")
def test_padded_or_truncated_output_is_refused(stack: GameStack, backend: MlBackend) -> None:
    data = _digit(1)
    request_id = _request(stack, data)
    claim = _claim(backend, stack, request_id, data)
    padded = claim.output + bytes(2048)
    assert tensor_commitment(padded) == claim.output_commitment  # the attack's premise: the same commitment
    submit = stack.coordinator.functions.submit
    revert = expect_revert(stack, submit(request_id, padded, claim.trace_commitment), stack.submitter,
                           "OutputSizeMismatch", CONFIG.submitter_bond)
    assert revert.arguments == (10, 10 + 2048)
    cut = claim.output.rstrip(b"\0") if claim.output.endswith(b"\0") else claim.output[:-1]
    expect_revert(stack, submit(request_id, cut, claim.trace_commitment), stack.submitter, "OutputSizeMismatch",
                  CONFIG.submitter_bond)
    send(stack, submit(request_id, claim.output, claim.trace_commitment), stack.submitter, CONFIG.submitter_bond)


@pytest.mark.usefixtures("isolated_chain")
def test_input_of_the_wrong_length_is_refused(stack: GameStack) -> None:
    short = _digit(2)[:-1] if _digit(2)[-1] == 0 else _digit(2)[:-1]
    assert tensor_commitment(short) == tensor_commitment(short + b"\0")  # a valid digit's commitment and anchor
    request = stack.coordinator.functions.request
    for data in (short, _digit(2) + b"\0", b""):
        revert = expect_revert(stack, request(stack.model_id, data, "0x" + "00" * 20, 0), stack.requester,
                               "InputSizeMismatch", CONFIG.model_fee)
        assert revert.arguments == (784, len(data))


@pytest.mark.usefixtures("isolated_chain")
def test_model_without_sizes_cannot_be_requested_on_the_ml_stack(stack: GameStack,
                                                                commitment: ModelCommitment) -> None:
    receipt = send(stack, stack.registry.functions.registerModel(*commitment.roots, "opml://unsized", 0),
                   stack.other)
    (registered,) = events(stack.registry.events.ModelRegistered, receipt)
    call = stack.coordinator.functions.request(registered["modelId"], _digit(3), "0x" + "00" * 20, 0)
    expect_revert(stack, call, stack.requester, "UnsizedModel", CONFIG.model_fee)
    file_call = stack.registry.functions.registerModelFile(*commitment.roots, "", 0, 784, 0, b"\1" * 32)
    expect_revert(stack, file_call, stack.other, "ZeroSize")
    file_call = stack.registry.functions.registerModelFile(*commitment.roots, "", 0, 784, 10, b"\0" * 32)
    expect_revert(stack, file_call, stack.other, "ZeroFileHash")


def _accepts(stack: GameStack, data: bytes) -> bool:
    call = stack.coordinator.functions.request(stack.model_id, data, "0x" + "00" * 20, 0)
    try:
        call.call({"from": stack.requester, "value": CONFIG.model_fee})
    except ContractLogicError as exc:
        assert stack.errors.decode(revert_data(exc) or b"").name == "InputSizeMismatch"
        return False
    return True


@settings(max_examples=12, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.one_of(st.integers(0, 1600), st.sampled_from([783, 784, 785])), seed=st.integers(0, 2**32 - 1))
def test_every_accepted_request_can_be_answered_and_disputed(stack: GameStack, backend: MlBackend, size: int,
                                                             seed: int) -> None:
    """The invariant: the chain accepts an input iff an honest node can compute on it; for an accepted one the
    honest claim is the exact output size, within the VM step budget, and its commitments are the chain's."""
    data = _digit(seed, size)
    assert _accepts(stack, data) == (size == 784)
    if size != 784:
        return
    expected_anchor = backend.commitment.anchor(tensor_commitment(data))
    claim = backend.claim(RequestInput(0, stack.model_id, data, expected_anchor))
    assert claim.refusal() is None and len(claim.output) == 10
    on_chain = stack.commitment.functions.commitOutput(stack.model_id, claim.output).call()
    assert bytes(on_chain) == claim.output_commitment
    level0, _ = claim.provider.open_next(0)  # the dispute's first level opens from the chain's anchor
    assert claim.provider.root_at(0) == expected_anchor and level0.root_at(level0.length) == claim.trace_commitment


def test_honest_challenger_disputes_any_byte_difference(backend: MlBackend) -> None:
    data = _digit(4)
    claim = backend.claim(RequestInput(1, 1, data, backend.commitment.anchor(tensor_commitment(data))))

    def posted(output: bytes, trace: bytes | None = None) -> Submission:
        return Submission(1, "0x" + "11" * 20, tensor_commitment(output), trace or claim.trace_commitment, 0, 0,
                          SubmissionStatus.PENDING, output)

    assert disagreement(posted(claim.output), claim) is None
    assert disagreement(posted(claim.output + bytes(2048)), claim) == "output bytes differ"  # same commitment
    flipped = bytes([claim.output[0] ^ 1]) + claim.output[1:]
    assert disagreement(posted(flipped), claim) == "output bytes differ"
    assert disagreement(posted(claim.output, b"\7" * 32), claim) == "trace commitment differs"


@pytest.mark.usefixtures("isolated_chain")
def test_sdk_refuses_a_wrong_length_input_before_paying(stack: GameStack) -> None:
    from opml.chain.anvil import DEV_PRIVATE_KEYS
    from opml.node.deployment import Deployment
    from opml.node.sdk import BadRequestInput, Requester

    deployment = Deployment(network="anvil", chain_id=stack.w3.eth.chain_id, start_block=0,
                            coordinator=stack.coordinator.address, game=stack.game.address,
                            registry=stack.registry.address)
    requester = Requester(stack.w3, DEV_PRIVATE_KEYS[1], deployment)
    account = requester.sender.address
    nonce, balance = stack.w3.eth.get_transaction_count(account), stack.w3.eth.get_balance(account)
    with pytest.raises(BadRequestInput, match=f"input has 783 bytes; model {stack.model_id} takes exactly 784 bytes"):
        requester.request(stack.model_id, _digit(6)[:-1])
    with pytest.raises(BadRequestInput, match="is not the requester"):
        requester.request(stack.model_id, _digit(6), callback=stack.coordinator.address, callback_gas_limit=1)
    assert (stack.w3.eth.get_transaction_count(account), stack.w3.eth.get_balance(account)) == (nonce, balance)
    assert requester.request(stack.model_id, _digit(6)) >= 1  # the right length goes through


@pytest.mark.usefixtures("isolated_chain")
def test_cli_request_of_the_wrong_length_prints_one_line_and_sends_nothing(stack: GameStack, tmp_path, capsys) -> None:  # noqa: ANN001
    import json

    from opml.chain.anvil import DEV_PRIVATE_KEYS
    from opml.cli import main

    deployment = tmp_path / "deployment.json"
    deployment.write_text(json.dumps({
        "network": "anvil", "chain_id": stack.w3.eth.chain_id, "start_block": 0,
        "coordinator": stack.coordinator.address, "game": stack.game.address, "registry": stack.registry.address}))
    data = tmp_path / "digit.bin"
    data.write_bytes(_digit(8)[:-1])
    account = stack.w3.eth.account.from_key(DEV_PRIVATE_KEYS[1]).address
    nonce = stack.w3.eth.get_transaction_count(account)
    code = main(["request", "--model", str(stack.model_id), "--input", str(data), "--deployment", str(deployment),
                 "--rpc-url", stack.w3.provider.endpoint_uri, "--key", DEV_PRIVATE_KEYS[1]])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f"opml request: input has 783 bytes; model {stack.model_id} takes exactly 784 "
                                 f"bytes (nothing was sent)"], err
    assert stack.w3.eth.get_transaction_count(account) == nonce
