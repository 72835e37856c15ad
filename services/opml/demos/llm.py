"""`opml demo --llm`: the opML network on a fresh local devnet continuing stories with an LLM, with real daemons.

The LLM stack (request → token → graph → tile → VM levels) is deployed with the trained Moby-Dick llama
(`models/llm/moby.opml`) registered and a GenerationConsumer; Alice (honest submitter), Mallory (a submitter whose
generation changes one token) and Bob (honest challenger) run as their own processes. The consumer asks for a
continuation of two prompts (tokenized by the model's own tokenizer, through the SDK). Alice answers the first;
Mallory answers the second with one generated token changed (and every token after it generated on from her
lie); Bob disputes it decode step → graph node → tile → one MIPS instruction executed on chain; Mallory is
slashed, Alice answers the reopened request, and after the challenge window both honest continuations are final,
delivered to the consumer as token ids and printed as text.

Everything else (the devnet, the daemons, the narrative from chain events, the summary, the cleanup) is the MNIST
demo's (`network.DaemonDemo`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opml.chain.build import load_artifact
from opml.chain.contracts import deploy
from opml.hashing import keccak
from opml.levels.generation_lies import generation_party
from opml.levels.llm_commitment import commit_llm
from opml.llm.generation import GenerationRequest, encode_output, generate_tokens
from opml.llm.llmfile import load
from opml.node.deployment import Deployment, ModelSpec
from opml.node.devnet import LLM_CALLBACK_GAS
from opml.node.llm_requests import generated_text, generation_request
from opml.node.sdk import Requester
from opml.paths import REPO_ROOT
from opml.stacks.llm import LlmStackConfig, deploy_llm_stack

from .network import DaemonDemo, DemoOptions, instruction_at
from .story import LLM_LEVELS, Story

MODEL_FILE = "models/llm/moby.opml"
WINDOW_S = 300


@dataclass(frozen=True)
class LlmDemoOptions(DemoOptions):
    """What the LLM demo asks: two prompts (Mallory lies on the second), the tokens each asks for, the sampling."""

    prompts: tuple[str, str] = ("Call me Ishmael.", "The white whale")
    max_tokens: int = 16
    temperature: float = 0.6
    salt: int = 7
    timeout_s: float = 300.0


@dataclass(frozen=True)
class Continuations:
    """The LLM demo's subject: request id → its prompt and honest tokens; the decode steps' fed tokens."""

    llm: Any
    requests: dict[int, GenerationRequest]
    prompts: dict[int, str]
    honest: dict[int, list[int]]
    node_names: list[str]

    def text(self, tokens: list[int]) -> str:
        return generated_text(self.llm, encode_output(tokens))

    def quoted(self, request_id: int, tokens: list[int]) -> str:
        """The prompt and its continuation on one line (line breaks shown as spaces), in quotes."""
        return quoted(self.prompts.get(request_id, "") + self.text(tokens))

    def asked(self, request_id: int) -> str:
        request = self.requests.get(request_id)
        if request is None:
            return "a generation"
        return (f"the Moby-Dick llama to continue “{self.prompts[request_id]}” ({len(request.prompt)} prompt tokens, "
                f"{request.max_new_tokens} new)")

    def answered(self, request_id: int, output: bytes) -> str:
        tokens = [int.from_bytes(output[i:i + 4], "little") for i in range(0, len(output), 4)]
        text = self.quoted(request_id, tokens)
        honest = self.honest.get(request_id)
        if honest is None or tokens == honest:
            return f"{text} — the honest continuation"
        first = next((k for k, (a, b) in enumerate(zip(tokens, honest)) if a != b), len(honest))
        return f"{text} — wrong from token {first} on (the honest continuation: {self.quoted(request_id, honest)})"

    def about(self, level: str, index: int) -> str:
        if level == "graph":
            return f" ({self.node_names[index] if 0 <= index < len(self.node_names) else '?'})"
        return ""


def quoted(text: str) -> str:
    """`text` on one line (every run of white space one space), in quotes: a narrative line stays one line."""
    return "“" + " ".join(text.split()) + "”"


class LlmDemo(DaemonDemo):
    """One run of `opml demo --llm` (module docstring)."""

    TITLE = ("opML demo — an LLM continues stories on a local devnet: an honest and a faulty submitter, an honest "
             "challenger")
    CONSUMER = "GenerationConsumer"

    options: LlmDemoOptions

    def prepare(self) -> None:
        self.llm = load(REPO_ROOT / MODEL_FILE)
        self.commitment = commit_llm(self.llm)
        self.deployment = self._deploy_llm()
        self.requests = [generation_request(self.llm, prompt, self.options.max_tokens, self.options.temperature,
                                            self.options.salt) for prompt in self.options.prompts]
        self.inputs = [request.encode() for request in self.requests]
        self.honest = [generate_tokens(self.llm, request) for request in self.requests]
        lied = self.requests[self.MALLORY_ANSWERS - 1]
        self.lie_at = lied.max_new_tokens // 2  # the generated token Mallory changes
        self.fault = f"wrong-token:{len(lied.prompt) - 1 + self.lie_at}"

    def _deploy_llm(self) -> Deployment:
        start = self.w3.eth.block_number + 1
        self.config = LlmStackConfig(challenge_window=WINDOW_S)
        stack = deploy_llm_stack(self.w3, self.config)
        path = REPO_ROOT / MODEL_FILE
        model_id = stack.register(self.commitment, path.as_uri(), keccak(path.read_bytes()))
        consumer = deploy(self.w3, "GenerationConsumer", stack.bindings.coordinator.address, model_id,
                          LLM_CALLBACK_GAS, self.llm.tokenizer.eos_id)
        self.stack, self.model_id, self.consumer = stack, model_id, consumer.address
        registry = stack.bindings.coordinator.contract.functions.registry().call()
        deployment = Deployment(network="demo-llm", chain_id=self.w3.eth.chain_id, start_block=start,
                                coordinator=stack.bindings.coordinator.address, game=stack.bindings.game.address,
                                registry=registry, consumer=consumer.address,
                                models={model_id: ModelSpec(kind="llm", model_file=MODEL_FILE)})
        deployment.save(self.workdir / "demo.json")
        cfg = self.llm.config
        self.say(f"contracts: Coordinator {deployment.coordinator}, DisputeGame {deployment.game} (token → graph → "
                 f"tile → VM levels)")
        self.say(f"model #{model_id}: the Moby-Dick llama ({cfg.n_layers} layers, dim {cfg.dim}, context {cfg.ctx}, "
                 f"{cfg.vocab} tokens; {len(self.commitment.model.nodes)} graph nodes per decode step), registered by "
                 f"its roots and file hash; GenerationConsumer at {consumer.address}")
        return deployment

    def fault_line(self) -> str:
        return f"submitter whose generation changes token {self.lie_at} of request #{self.MALLORY_ANSWERS}"

    def new_story(self, cast: dict[str, str]) -> Story:
        ids = range(1, len(self.requests) + 1)
        subject = Continuations(self.llm, dict(zip(ids, self.requests)), dict(zip(ids, self.options.prompts)),
                                dict(zip(ids, self.honest)), [node.op.value for node in self.commitment.model.nodes])
        return Story(self.say, cast, subject, self._decisive,
                     (self.config.submitter_bond, self.config.challenger_bond, self.config.burn_bps), LLM_LEVELS)

    def post(self, requester: Requester) -> list[int]:
        return [requester.generate(self.model_id, self.llm, prompt, self.options.max_tokens, self.options.temperature,
                                   self.options.salt, consumer=self.consumer) for prompt in self.options.prompts]

    def _decisive(self, request_id: int, parents: tuple[int, ...], lo: int) -> str:
        """The instruction at VM step `lo` of the honest run of the disputed tile of the disputed node of the
        disputed decode step (`parents`) of the request."""
        step, node, tile = parents
        party = generation_party(self.commitment, self.inputs[request_id - 1])
        return instruction_at(party.tokens_level.graph_level(step).tile_level(node).vm_level(tile), lo)

    def delivered(self, requester: Requester) -> dict[int, Any]:
        tally = self.story.tally
        consumer = self.w3.eth.contract(address=self.consumer, abi=load_artifact("GenerationConsumer").abi)
        self.say("what the consumer contract holds (GenerationConsumer.tokensOf: the token ids before EOS), as text:")
        delivered = {}
        for request_id, prompt in zip(self.request_ids, self.options.prompts):
            answered = consumer.functions.answered(request_id).call()
            tokens = [int(t) for t in consumer.functions.tokensOf(request_id).call()] if answered else None
            delivered[request_id] = None if tokens is None else self.llm.tokenizer.decode(tokens)
            self.say(f"request #{request_id}: {quoted(prompt + (delivered[request_id] or ''))} — answered by "
                     f"{tally.finalized.get(request_id)}", indent=4)
        return delivered

    def facts(self) -> dict[str, Any]:
        honest = {str(r): generated_text(self.llm, encode_output(t)) for r, t in zip(self.request_ids, self.honest)}
        return {"prompts": {str(r): p for r, p in zip(self.request_ids, self.options.prompts)}, "honest": honest,
                "lie_at_token": self.lie_at}

    def outcome_line(self, delivered: dict[int, Any]) -> str:
        honest = sum(1 for r, text in delivered.items() if text == self.facts()["honest"][str(r)])
        return f"{honest} honest continuations"
