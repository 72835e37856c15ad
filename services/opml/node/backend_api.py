"""What a model backend is, for the daemons and every backend kind: the request it answers (`RequestInput`), the
answer (`Claim`: output, commitments, trace provider), the `ModelBackend` protocol and `BackendError`. The kinds
and their registry are in `backends.py`.
"""

from __future__ import annotations

from collections.abc import Callable

from dataclasses import dataclass
from typing import Protocol

from opml.game.trace import TraceProvider


class BackendError(Exception):
    """A model cannot be served: unknown kind, bad parameters, or a fault spec that does not parse."""


@dataclass(frozen=True)
class RequestInput:
    """What a request asks: the model, the input bytes, and the anchor the coordinator derived from them."""

    request_id: int
    model_id: int
    input: bytes
    anchor: bytes


@dataclass(frozen=True)
class Claim:
    """A node's answer to a request: the output it would submit, the commitments the contracts compute from it,
    and the request-level trace provider it plays disputes with (`runs_vm`: its last level runs the MIPS VM, whose
    time the daemon reports as `opml_vm_seconds`; `refusal()`: why an honest submitter must not submit it, e.g.
    tiles whose VM run would not halt within the committed trace length — it could not open them; None when it
    may; computed only when called, by the submitter)."""

    output: bytes
    output_commitment: bytes
    trace_commitment: bytes
    provider: TraceProvider
    runs_vm: bool = False
    refusal: Callable[[], str | None] = lambda: None


class ModelBackend(Protocol):
    def claim(self, request: RequestInput) -> Claim:
        """The node's result for `request` (deterministic: the same request always gives the same claim)."""
        ...

    def model_roots(self) -> tuple[bytes, bytes, bytes] | None:
        """(graphRoot, constantsRoot, kernelSetRoot) of the local model, to check against the registry before
        serving it; None where the backend commits to nothing off chain (the toy stack)."""
        ...
