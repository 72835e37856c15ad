"""The daemons on the LLM stack (request → token → graph → tile → VM, decided by one on-chain MIPS step), with the
shipped Moby-Dick llama: a generation asked with `opml request --prompt` through the honest submitter is final,
delivered to the GenerationConsumer as the reference tokens and printed as text; a submitter that changes one
generated token is disputed by the honest challenger down to one MIPS step and slashed; a generation no node could
run is refused by `opml request` in one line, nothing sent; `opml register-model` registers an LLM file on a bare
LLM stack (bound in its GenerationCommitment) and refuses it twice. Short prompts and few tokens keep it fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_node import LlmNet, assert_one_line_failure, nothing_sent, opml

from opml.chain.anvil import DEV_PRIVATE_KEYS
from opml.chain.bindings import RequestStatus, SubmissionStatus
from opml.chain.build import load_artifact
from opml.hashing import keccak
from opml.llm.generation import encode_output, generate_tokens
from opml.node.deployment import Deployment, load_deployment
from opml.node.llm_requests import generated_text, generation_request
from opml.node.sdk import Requester
from opml.paths import REPO_ROOT
from opml.stacks.llm import deploy_llm_stack

pytestmark = pytest.mark.net(kind=LlmNet)

PROMPT = "The whale"
TOKENS = 4
WINDOW = 600


def chain_args(net: LlmNet) -> list[str]:
    return ["--rpc-url", net.rpc_url, "--deployment", str(net.addresses)]


def test_a_generation_is_served_end_to_end_and_delivered_as_text(net: LlmNet) -> None:
    submitter = net.daemon("submitter")
    challenger = net.daemon("challenger")
    request = generation_request(net.llm, PROMPT, TOKENS)
    honest = generate_tokens(net.llm, request)
    asked = subprocess.Popen([sys.executable, "-m", "opml.cli", "request", "--model", str(net.model_id), "--prompt",
                              PROMPT, "--max-tokens", str(TOKENS), "--wait", "--timeout", "240", *chain_args(net)],
                             cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        (submitted,) = submitter.wait_for("result_submitted", timeout=240)
        challenger.wait_for("result_agreed", lambda e: e["request"] == submitted["request"], timeout=240)
        net.warp(WINDOW + 1)
        out, err = asked.communicate(timeout=240)
    finally:
        asked.kill()
    assert asked.returncode == 0, err
    first, final = (json.loads(line) for line in out.strip().splitlines())
    request_id = first["request_id"]
    assert final["request_id"] == request_id and final["status"] == "finalized"
    assert bytes.fromhex(final["output"][2:]) == encode_output(honest)  # exactly the reference tokens
    assert final["text"] == generated_text(net.llm, encode_output(honest))
    assert net.coordinator.get_request(request_id).status is RequestStatus.FINALIZED

    # Through the consumer contract (the SDK's generate): final, called back, the tokens before EOS.
    requester = Requester.connect(net.rpc_url, DEV_PRIVATE_KEYS[1], net.addresses)
    consumer = net.w3.eth.contract(address=net.deployment.consumer, abi=load_artifact("GenerationConsumer").abi)
    asked_id = requester.generate(net.model_id, net.llm, PROMPT, TOKENS, consumer=net.deployment.consumer)
    submitter.wait_for("result_submitted", lambda e: e["request"] == asked_id, timeout=240)
    net.warp(WINDOW + 1)
    submitter.wait_for("request_finalized", lambda e: e["request"] == asked_id, timeout=120)
    assert requester.delivered(net.deployment.consumer, asked_id) == encode_output(honest)
    eos = net.llm.tokenizer.eos_id
    expected = honest[:honest.index(eos)] if eos in honest else honest
    assert consumer.functions.tokensOf(asked_id).call() == expected
    assert requester.wait_text(asked_id, net.llm, timeout_s=5) == final["text"]


def test_a_submitter_changing_one_token_is_slashed_down_to_one_mips_step(net: LlmNet) -> None:
    request = generation_request(net.llm, PROMPT, TOKENS)
    lie_step = len(request.prompt) - 1 + TOKENS // 2  # the decode step that samples generated token 2
    submitter = net.daemon("submitter", faults=[f"wrong-token:{lie_step}"])
    challenger = net.daemon("challenger")
    net.request(request.encode())
    (game,) = challenger.wait_for("challenged", timeout=240)
    (over,) = challenger.wait_for("game_over", lambda e: e["game"] == game["game"], timeout=480)
    assert over["won"] and over["phase"] == "CHALLENGER_WON"
    steps = [e for e in challenger.events("move_sent") + submitter.events("move_sent") if e["action"] == "Step"]
    assert len(steps) == 1 and steps[0]["depth"] == 4  # token, graph, tile and VM levels opened: one MIPS step
    assert net.coordinator.get_submission(game["submission"]).status is SubmissionStatus.SLASHED
    game_contract = net.w3.eth.contract(address=net.deployment.game, abi=load_artifact("DisputeGame").abi)
    opened = game_contract.events.LevelOpened.get_logs(from_block=net.deployment.start_block)
    (graph_level,) = [e["args"] for e in opened if e["args"]["level"] == 1]
    assert graph_level["parentIndex"] == lie_step  # the dispute went down into the decode step that lied


def test_a_generation_no_node_could_run_is_refused_before_paying(net: LlmNet) -> None:
    before = nothing_sent(net.w3, net.deployment)
    for args, needle in ((["--max-tokens", "0"], "--max-tokens must be at least 1"),
                         (["--max-tokens", str(net.llm.config.ctx)], f"holds {net.llm.config.ctx}"),
                         (["--temperature", "-1"], "temperature"),
                         (["--model", "9"], "model 9 is not in the deployment's models")):
        model = [] if "--model" in args else ["--model", str(net.model_id)]
        result = opml("request", *model, "--prompt", PROMPT, *args, *chain_args(net))
        assert_one_line_failure(result, needle)
    unknown = opml("request", "--model", "9", "--prompt", PROMPT, "--llm", "models/llm/moby.opml", *chain_args(net))
    assert_one_line_failure(unknown, "UnknownModel")
    assert nothing_sent(net.w3, net.deployment) == before


def test_an_llm_file_is_registered_on_an_llm_stack_by_the_cli(net: LlmNet, tmp_path: Path) -> None:
    start = net.w3.eth.block_number + 1
    stack = deploy_llm_stack(net.w3)
    bare = Deployment(network="bare", chain_id=net.w3.eth.chain_id, start_block=start,
                      coordinator=stack.bindings.coordinator.address, game=stack.bindings.game.address,
                      registry=stack.registry.address)
    addresses = tmp_path / "bare.json"
    bare.save(addresses)
    common = ["--rpc-url", net.rpc_url, "--deployment", str(addresses)]
    registered = opml("register-model", "models/llm/moby.opml", "--fee", "12345", *common)
    assert registered.returncode == 0, registered.stderr
    answer = json.loads(registered.stdout)
    assert answer["model_id"] == 1 and answer["model_file"] == "models/llm/moby.opml"
    spec = load_deployment(addresses).models[1]
    assert (spec.kind, spec.param("model_file")) == ("llm", "models/llm/moby.opml")
    registry = net.w3.eth.contract(address=stack.registry.address, abi=load_artifact("ModelRegistry").abi)
    file_hash, _ = registry.functions.modelFile(1).call()
    assert file_hash == keccak((REPO_ROOT / "models" / "llm" / "moby.opml").read_bytes())
    assert registry.functions.modelRoots(1).call()[3] == 12345
    assert stack.commitment.functions.shapeOf(1).call() == [net.llm.config.ctx, net.llm.config.vocab]
    assert_one_line_failure(opml("register-model", "models/llm/moby.opml", *common), "already registered as model 1")
    mixed = opml("devnet", "deploy", "--model", "models/mnist_cnn.opml", "--model", "models/llm/moby.opml",
                 "--rpc-url", net.rpc_url, "--addresses", str(tmp_path / "mixed.json"))
    assert_one_line_failure(mixed, "cannot share a deployment")
