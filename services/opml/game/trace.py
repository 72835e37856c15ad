"""The one interface every level of the dispute game implements (request, graph, tile, VM, and toy levels).

A level's trace is a sequence of state roots S_0..S_length, `length` any number >= 1 (the bisection takes any
length; a level may pad its trace, as the VM level does to a power of two with its halted state, but the game does
not ask it to). Transition k takes S_k to S_{k+1} (0 <= k < length). At a level with a level below it, transition
k expands into a sub-trace (`open_next(k)`, checked on chain by that level's link verifier); at the last level,
transition k is executed on chain by the step verifier from `step_witness(k)`. Providers do no I/O beyond local
computation.

The root provider a party plays with is the *request level*: one transition from the request's anchor (S_0) to
its claimed output commitment (S_1), which `open_next(0)` expands into the game's level 0 (docs/game.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")


class TraceError(Exception):
    """A provider was asked for something outside its trace."""


class NotLastLevel(TraceError):
    """`step_witness` asked of a level that opens a level below instead."""


class LastLevel(TraceError):
    """`open_next` asked of the last level, whose transitions are proven by one step."""


@dataclass(frozen=True)
class StepWitness:
    """The arguments of `IStepVerifier.stepFrom` after the pre-state hash."""

    state_data: bytes
    proof_data: bytes


@runtime_checkable
class TraceProvider(Protocol):
    """A party's view of one level's trace (what it would claim, honest or not). A provider declares the protocol
    by subclassing it; `length` and `is_last_level` may be attributes or read-only properties."""

    length: int  # number of transitions, >= 1 (any number: the game's bisection does not need a power of two)
    is_last_level: bool  # True when transitions are proven by `step_witness`, False when they open a sub-level

    def root_at(self, i: int) -> bytes:
        """S_i, 32 bytes, for 0 <= i <= length."""
        ...

    def open_next(self, k: int) -> tuple[TraceProvider, bytes]:
        """The sub-trace that expands transition k, and the link proof tying it to S_k and S_{k+1}.

        The sub-provider's S_0 is what the next level's link verifier derives from S_k; its S_length is the
        claimed sub-end that must project onto S_{k+1}.
        """
        ...

    def step_witness(self, k: int) -> StepWitness:
        """The witness the on-chain step verifier needs to execute transition k from S_k."""
        ...


class RequestTopLevel(TraceProvider):
    """A request's top level: one transition (S_0 the request's anchor, S_1 its output commitment) that opens
    `level_below` with the proof `link_proof(0)`. Subclasses give `root_at`, `level_below` and `link_proof`."""

    length = 1
    is_last_level = False

    @property
    def level_below(self) -> TraceProvider:
        """The level the request's one transition opens."""
        raise NotImplementedError

    def link_proof(self, k: int) -> Any:
        """The link proof (with `encode() -> bytes`) that opens `level_below`; TraceError unless k == 0."""
        raise NotImplementedError

    def open_next(self, k: int) -> tuple[TraceProvider, bytes]:
        return self.level_below, self.link_proof(k).encode()

    def step_witness(self, k: int) -> StepWitness:
        raise NotLastLevel(f"the request level opens the level below ({type(self.level_below).__name__})")


def check_root_index(length: int, i: int) -> None:
    """Raise TraceError unless 0 <= i <= length (a root index)."""
    if not 0 <= i <= length:
        raise TraceError(f"root index {i} outside 0..{length}")


def check_transition(length: int, k: int) -> None:
    """Raise TraceError unless 0 <= k < length (a transition index)."""
    if not 0 <= k < length:
        raise TraceError(f"transition {k} outside 0..{length - 1}")


def opened_once(cache: dict[int, T], length: int, k: int, make: Callable[[int], T]) -> T:
    """The sub-level opened at transition k of a level of `length` transitions: `make(k)`, built the first time
    and kept in `cache`; TraceError unless 0 <= k < length."""
    check_transition(length, k)
    if k not in cache:
        cache[k] = make(k)
    return cache[k]


def is_power_of_two(n: int) -> bool:
    """True for 1, 2, 4, …"""
    return n > 0 and n & (n - 1) == 0
