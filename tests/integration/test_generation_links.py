"""A generation's contracts on Anvil against their Python twins, on the small llama: GenerationCommitment's input
checks and output chain, RequestTokenLink and TokenGraphLink. Honest links give the sub-start and context Python
computes (so the token states, the step graph's S_0 and the graph context are the same bytes on both sides);
every forged link is rejected with its named error, and the Python verifier names the same error."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from link_verdicts import both, link_args
from llm_small import TEXT, write_small_llama
from web3 import Web3
from web3.exceptions import ContractLogicError

from opml.chain.tx import ErrorDecoder, revert_data
from opml.hashing import keccak
from opml.levels.commitments import EMPTY_TENSOR
from opml.levels.faults import FaultError
from opml.levels.generation_lies import ForgeTokenLink, generation_party
from opml.levels.llm_commitment import LlmCommitment, commit_llm, input_commitment, output_commitment
from opml.levels.token_level import GenerationParty
from opml.llm.generation import GenerationRequest
from opml.llm.importer import import_gguf
from opml.ml.errors import InputError
from opml.stacks.llm import LlmStack, deploy_llm_stack, llm_file_hash

BAD = keccak(b"not this root")
REQUEST = GenerationRequest((1, 5, 9), 4, 0, 7)


@pytest.fixture(scope="module")
def commitment(tmp_path_factory: pytest.TempPathFactory) -> LlmCommitment:
    path: Path = write_small_llama(tmp_path_factory.mktemp("llm"), seed=3)
    return commit_llm(import_gguf(path, TEXT))


@pytest.fixture(scope="module")
def stack(w3: Web3, contracts_built: None, commitment: LlmCommitment) -> Iterator[tuple[LlmStack, int]]:
    stack = deploy_llm_stack(w3)
    yield stack, stack.register(commitment)


@pytest.fixture(scope="module")
def errors(stack: tuple[LlmStack, int]) -> ErrorDecoder:
    s, _ = stack
    return ErrorDecoder.from_abis(*(c.abi for c in s.links), s.commitment.abi)


@pytest.fixture(scope="module")
def party(commitment: LlmCommitment) -> GenerationParty:
    return generation_party(commitment, REQUEST.encode())


def _commit_error(fn, errors: ErrorDecoder, *args) -> str:  # noqa: ANN001
    try:
        fn(*args).call()
    except ContractLogicError as exc:
        return errors.decode(revert_data(exc) or b"").name
    raise AssertionError("the call did not revert")


def test_commitments_match_python(stack, party: GenerationParty) -> None:
    s, model_id = stack
    output, _ = party.submission()
    assert bytes(s.commitment.functions.commitInput(model_id, party.input_bytes).call()) == \
        input_commitment(party.input_bytes)
    assert bytes(s.commitment.functions.commitOutput(model_id, output).call()) == output_commitment(output) == \
        party.root_at(1)
    assert output_commitment(output) != output_commitment(output + bytes(4))  # the chain binds the length
    ctx, vocab = s.commitment.functions.shapeOf(model_id).call()
    assert (ctx, vocab) == (party.commitment.config.ctx, party.commitment.config.vocab)


@pytest.mark.parametrize("make_input, error", [
    (lambda ctx, vocab: REQUEST.encode()[:19], "GenerationInputTooShort"),
    (lambda ctx, vocab: REQUEST.encode() + b"\x01", "GenerationInputRagged"),
    (lambda ctx, vocab: bytes(4) + REQUEST.encode()[4:], "NoNewTokens"),
    (lambda ctx, vocab: GenerationRequest((1,) * 3, ctx - 1, 0, 7).encode(), "ContextExceeded"),
    (lambda ctx, vocab: GenerationRequest((1, vocab, 2), 4, 0, 7).encode(), "TokenOutOfVocab"),
])
def test_bad_generation_inputs_are_refused_on_chain(stack, errors, party, make_input, error: str) -> None:
    s, model_id = stack
    cfg = party.commitment.config
    assert _commit_error(s.commitment.functions.commitInput, errors, model_id, make_input(cfg.ctx, cfg.vocab)) == error


def test_output_and_binding_errors(stack, errors, party) -> None:
    s, model_id = stack
    f = s.commitment.functions
    assert _commit_error(f.commitOutput, errors, model_id, b"") == "GenerationOutputRagged"
    assert _commit_error(f.commitOutput, errors, model_id, b"\x01\x02\x03") == "GenerationOutputRagged"
    assert _commit_error(f.commitInput, errors, model_id + 1000, party.input_bytes) == "ModelNotBound"
    other = replace(party.commitment.graph, vocab=party.commitment.graph.vocab + 1)
    with pytest.raises(ContractLogicError) as caught:
        f.bindModel(model_id, other.as_tuple()).call()
    assert errors.decode(revert_data(caught.value) or b"").name == "GraphRootMismatch"


# -- request → token ------------------------------------------------------------------------------------------
def _request_args(p: GenerationParty) -> tuple:
    return link_args(p.root_at(0), p, 0, p.tokens_level)


def test_request_token_link_accepts_the_honest_opening(stack, errors, party) -> None:
    s, _ = stack
    level = party.tokens_level
    assert level.length == REQUEST.steps
    verdicts = both(s.links[0], errors, party.link_proof(0), _request_args(party))
    assert verdicts[0] == verdicts[1] == (level.root_at(0), party.root_at(0))


def _forged_request_token(p: GenerationParty, forgery: str) -> tuple:
    """The request → token opening with `forgery` applied: (proof, verifyLink's arguments)."""
    proof, args = p.link_proof(0), list(_request_args(p))
    match forgery:
        case "constants_root":
            proof = replace(proof, constants_root=BAD)
        case "input":
            proof = replace(proof, input=REQUEST.encode()[:-4])
        case "context":
            args[0] = BAD
        case "sub_length":
            args[5] += 1
        case "end_caches":
            proof = replace(proof, end_caches=proof.end_caches[:-1])
        case "end_last_token":
            proof = replace(proof, end_last_token=proof.end_last_token + 1)
        case "claimed_output":
            args[3] = output_commitment(bytes(16))
        case "token_end":
            args[4] = p.tokens_level.root_at(p.tokens_level.length - 1)
    return proof, tuple(args)


# -- token → graph --------------------------------------------------------------------------------------------
def _token_args(p: GenerationParty, t: int) -> tuple:
    return link_args(p.root_at(0), p.tokens_level, t, p.tokens_level.graph_level(t))


def test_token_graph_link_accepts_every_honest_step(stack, errors, party) -> None:
    s, _ = stack
    level = party.tokens_level
    for t in range(level.length):
        verdicts = both(s.links[1], errors, level.link_proof(t), _token_args(party, t))
        assert verdicts[0] == verdicts[1] == (level.graph_level(t).root_at(0), party.commitment.graph_context), t


def _forged_token_graph(p: GenerationParty, forgery: str) -> tuple:
    """The token → graph opening of a generating step with `forgery` applied: (proof, verifyLink's arguments)."""
    t = len(REQUEST.prompt)  # a generating step: its token is the state's last one
    level = p.tokens_level
    proof, args = level.link_proof(t), list(_token_args(p, t))
    match forgery:
        case "kernels_root":
            proof = replace(proof, kernels_root=BAD)
        case "index":
            args[1] = level.length
        case "state_caches":
            proof = replace(proof, state=replace(proof.state, caches=proof.state.caches[1:]))
        case "last_token":
            proof = replace(proof, state=replace(proof.state, last_token=proof.state.last_token + 1))
        case "sub_length":
            args[5] -= 1
        case "input_count":
            proof = replace(proof, input_siblings=proof.input_siblings[:-1])
        case "short_input_path":
            proof = replace(proof, input_siblings=(proof.input_siblings[0][1:], *proof.input_siblings[1:]))
        case "input_path":
            proof = replace(proof, input_siblings=((BAD, *proof.input_siblings[0][1:]), *proof.input_siblings[1:]))
        case "huge_token":
            proof = replace(proof, next_token=proof.next_token + (1 << 32))
        case "next_token":
            proof = replace(proof, next_token=proof.next_token + 1)
        case "cache_paths":
            proof = replace(proof, cache_out_siblings=proof.cache_out_siblings[1:])
        case "next_cache":
            proof = replace(proof, next_caches=(EMPTY_TENSOR, *proof.next_caches[1:]))
        case "claimed_post":
            args[3] = level.root_at(t + 2)
    return proof, tuple(args)


# -- forged links ---------------------------------------------------------------------------------------------
FORGED = (_forged_request_token, _forged_token_graph)  # by link: s.links[0] is request → token, [1] token → graph


@pytest.mark.parametrize("link, forgery, error", [
    (0, "constants_root", "AnchorMismatch"),
    (0, "input", "AnchorMismatch"),
    (0, "context", "AnchorMismatch"),
    (0, "sub_length", "TokenLengthMismatch"),
    (0, "end_caches", "CacheCountMismatch"),
    (0, "end_last_token", "OutputNotInEndState"),
    (0, "claimed_output", "OutputNotInEndState"),
    (0, "token_end", "OutputNotInEndState"),
    (1, "kernels_root", "AnchorMismatch"),
    (1, "index", "StepOutOfRange"),
    (1, "state_caches", "CacheCountMismatch"),
    (1, "last_token", "TokenStateMismatch"),
    (1, "sub_length", "GraphLengthMismatch"),
    (1, "input_count", "InputCountMismatch"),
    (1, "short_input_path", "ProofLength"),
    (1, "input_path", "InputSlotNotEmpty"),
    (1, "huge_token", "TokenOutOfRange"),
    (1, "next_token", "NextTokenNotInEndState"),
    (1, "cache_paths", "CacheCountMismatch"),
    (1, "next_cache", "CacheNotInEndState"),
    (1, "claimed_post", "NextStateMismatch"),
])
def test_forged_links_are_rejected(stack, errors, party, link: int, forgery: str, error: str) -> None:
    s, _ = stack
    assert both(s.links[link], errors, *FORGED[link](party, forgery)) == (error, error)


# -- registration and parties ---------------------------------------------------------------------------------
def test_an_llm_is_registered_without_sizes_and_with_its_file_hash(stack, errors, commitment) -> None:
    s, model_id = stack
    assert s.registry.functions.modelSizes(model_id).call() == [0, 0]
    file_hash, uri = s.registry.functions.modelFile(model_id).call()
    assert (bytes(file_hash), uri) == (llm_file_hash(commitment), f"opml://{commitment.llm.name}")
    register = s.registry.functions.registerUnsizedModelFile
    assert _commit_error(register, ErrorDecoder.from_abis(s.registry.abi), *commitment.roots, "x", 0, bytes(32)) == \
        "ZeroFileHash"


def test_faults_outside_the_generation_and_bad_requests_are_one_line_errors(commitment) -> None:
    with pytest.raises(FaultError, match="decode step outside 0..5"):
        generation_party(commitment, REQUEST.encode(), {ForgeTokenLink(REQUEST.steps)})
    with pytest.raises(InputError) as caught:
        generation_party(commitment, REQUEST.encode()[:18])
    assert "\n" not in str(caught.value)
