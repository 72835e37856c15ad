"""The addresses file `deploy/<network>.json`: where the contracts are and which models they serve.

    {"network": "local", "chain_id": 31337, "start_block": 1,
     "coordinator": "0x…", "game": "0x…", "registry": "0x…", "consumer": "0x…",
     "models": {"1": {"kind": "toy", "level_lengths": [8, 4, 16]}}}

`start_block` is the deployment block (no contract event is older); `models` tells a node which level stack
(`backends`) plays each registered model id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from web3 import Web3


class DeploymentError(Exception):
    """The addresses file is missing, unreadable or malformed."""


class ModelSpec(BaseModel):
    """How a node plays one model: `kind` picks the backend; the rest is that backend's parameters."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str

    def param(self, name: str, default: Any = None) -> Any:
        return (self.model_extra or {}).get(name, default)


class Deployment(BaseModel):
    """A deployed opML stack."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    network: str
    chain_id: int
    start_block: int = Field(ge=0)
    coordinator: str
    game: str
    registry: str
    consumer: str | None = None
    models: dict[int, ModelSpec] = Field(default_factory=dict)

    @field_validator("coordinator", "game", "registry", "consumer")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not Web3.is_address(value):
            raise ValueError(f"{value!r} is not an address")
        return Web3.to_checksum_address(value)

    def save(self, path: Path) -> None:
        """Write atomically (a reader never sees half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.model_dump(mode="json"), indent=2) + "\n")
        tmp.replace(path)


def load_deployment(path: Path) -> Deployment:
    """The deployment described by `path`; DeploymentError with the reason otherwise."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DeploymentError(f"addresses file {path} does not exist (run `opml devnet up` or deploy first)") from None
    except json.JSONDecodeError as exc:
        raise DeploymentError(f"addresses file {path} is not JSON: {exc}") from None
    try:
        return Deployment.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise DeploymentError(f"addresses file {path} is malformed: {problems}") from None
