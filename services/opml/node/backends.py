"""The one plug-in point for models: model id → a backend that runs the model natively and builds the party's
trace providers; its interface is `backend_api.py`. The toy ("alphabet") stack is the first backend, the ML level stack
(`ml_backend`) the second, LLM generation (`llm_backend`) the third; another kind registers the same way:

    register_backend("llm", _llm_backend)

A backend is pure computation (no chain, no network); the daemons run `claim` in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable

from opml.game.toy import Fault, ForgeLink, Lie, ToyTrace, WrongStart

from .backend_api import BackendError, Claim, ModelBackend, RequestInput
from .config import NodeConfig
from .deployment import Deployment, ModelSpec

BackendFactory = Callable[[ModelSpec, NodeConfig], ModelBackend]
_FACTORIES: dict[str, BackendFactory] = {}


def register_backend(kind: str, factory: BackendFactory) -> None:
    """Make models of `kind` (the deployment file's `models.<id>.kind`) playable."""
    _FACTORIES[kind] = factory


def build_backends(deployment: Deployment, config: NodeConfig) -> dict[int, ModelBackend]:
    """A backend for every model this node serves (`config.models`, or all of the deployment's)."""
    wanted = config.models or sorted(deployment.models)
    backends = {}
    for model_id in wanted:
        spec = deployment.models.get(model_id)
        if spec is None:
            raise BackendError(f"model {model_id} is not in the deployment's models ({sorted(deployment.models)})")
        factory = _FACTORIES.get(spec.kind)
        if factory is None:
            raise BackendError(f"model {model_id} has kind {spec.kind!r}; known kinds: {sorted(_FACTORIES)}")
        backends[model_id] = factory(spec, config)
    return backends


# -- toy -------------------------------------------------------------------------------------------------------
class ToyBackend:
    """The toy level stack: the "output" is the projection of the level-0 end root (docs/game.md, toy verifiers).

    `faults` makes a dishonest node for tests (see `parse_fault`)."""

    def __init__(self, level_lengths: tuple[int, ...], faults: frozenset[Fault] = frozenset()) -> None:
        self.level_lengths = level_lengths
        self.faults = faults

    def model_roots(self) -> None:
        return None  # toy traces are derived from the request anchor alone

    def claim(self, request: RequestInput) -> Claim:
        provider = ToyTrace.request(request.anchor, self.level_lengths, self.faults)
        level0, _ = provider.open_next(0)
        return Claim(
            output=provider.claim_preimage(1),
            output_commitment=provider.root_at(1),
            trace_commitment=level0.root_at(level0.length),
            provider=provider,
        )


def toy_backend(spec: ModelSpec, config: NodeConfig) -> ToyBackend:
    lengths = spec.param("level_lengths")
    if not isinstance(lengths, list) or not lengths or not all(isinstance(n, int) for n in lengths):
        raise BackendError(f"toy model needs level_lengths, a list of ints; got {lengths!r}")
    return ToyBackend(tuple(lengths), frozenset(parse_fault(text) for text in config.faults))


def parse_fault(text: str) -> Fault:
    """A toy fault from `kind:path[:index]`: path is dot-separated transitions from the request level (`-` is the
    request level itself), e.g. `lie:0.3:2` (Lie((0, 3), 2)), `forge:-:1`, `forge-length:0:3`, `wrongstart:0.6`."""
    parts = text.split(":")
    try:
        kind, path = parts[0], _path(parts[1])
        if kind == "wrongstart" and len(parts) == 2:
            return WrongStart(path)
        index = int(parts[2])
        if len(parts) == 3 and kind == "lie":
            return Lie(path, index)
        if len(parts) == 3 and kind in ("forge", "forge-length"):
            return ForgeLink(path, index, "length" if kind == "forge-length" else "projection")
    except (IndexError, ValueError):
        pass
    raise BackendError(f"fault {text!r} is not lie:PATH:I, forge:PATH:I, forge-length:PATH:I or wrongstart:PATH")


def _path(text: str) -> tuple[int, ...]:
    return () if text in ("", "-") else tuple(int(part) for part in text.split("."))


def _ml_backend(spec: ModelSpec, config: NodeConfig) -> ModelBackend:
    from .ml_backend import ml_backend  # the ML stack is imported only by nodes that serve ML models

    return ml_backend(spec, config)


def _llm_backend(spec: ModelSpec, config: NodeConfig) -> ModelBackend:
    from .llm_backend import llm_backend  # the LLM stack is imported only by nodes that serve LLMs

    return llm_backend(spec, config)


register_backend("toy", toy_backend)
register_backend("ml", _ml_backend)
register_backend("llm", _llm_backend)
