"""The toy ("alphabet") trace: a multi-level trace of keccak chains matching `contracts/test/ToyLinkVerifier`
and `ToyStepVerifier` (docs/game.md, "Toy verifiers"), with fault injection for lying parties.

Honest trace of a level with context `ctx` starting at `s`:
  last level:  S_0 = s, S_{i+1} = step(S_i) = keccak(abi.encode("toy.step", S_i))
  upper level: transition i opens the next level at sub_start(ctx, i, S_i) with context sub_context(ctx, i), and
               S_{i+1} = project(subEnd, subLength) = keccak(abi.encode("toy.proj", subEnd, subLength))
The request level is an upper level of length 1 with ctx = S_0 = anchor; its S_1 is the output commitment.

Faults (each names a level by its `path`: the transitions opened from the request level to reach it, so
`()` is the request level, `(0,)` is level 0, `(0, k)` the level-1 sub-trace of level-0 transition k, …):
  Lie(path, i)        S_i is wrong (1 <= i <= length). At the last level the party corrupts S_i and computes on
                      from it; at an upper level the lie is a sub-trace whose end is corrupted (so the link holds
                      and the lie continues one level down, ending at some last-level step).
  ForgeLink(path, i)  at an upper level, S_i is corrupted with no sub-trace behind it: opening transition i-1
                      posts the honest sub-trace, whose projection does not match (`how="projection"`), or a
                      sub-trace of a length other than the level's (`how="length"`).
  WrongStart(path)    the party derives the level's S_0 wrongly (a broken link derivation).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from opml.hashing import keccak

from .trace import LastLevel, NotLastLevel, StepWitness, TraceError, TraceProvider, check_root_index, \
    check_transition, is_power_of_two

Path = tuple[int, ...]


# -- the toy hash formulas (the contracts' own) --------------------------------------------------------------
def _word(value: int | bytes) -> bytes:
    if isinstance(value, int):
        return value.to_bytes(32, "big")
    if len(value) != 32:
        raise TraceError(f"expected a 32-byte root, got {len(value)} bytes")
    return value


def tagged_encoding(tag: str, *words: int | bytes) -> bytes:
    """abi.encode(string tag, w1, …, wn) for static 32-byte words (bytes32 or uint256)."""
    raw = tag.encode()
    padded = raw + b"\0" * (-len(raw) % 32)
    head = (32 * (1 + len(words))).to_bytes(32, "big") + b"".join(_word(w) for w in words)
    return head + len(raw).to_bytes(32, "big") + padded


def _tagged_hasher(tag: str, arity: int):
    """A fast keccak(abi.encode(tag, w1..wn)) for fixed arity: the tag's head and tail bytes are precomputed."""
    template = tagged_encoding(tag, *([b"\0" * 32] * arity))
    prefix, suffix = template[:32], template[32 + 32 * arity:]

    def hasher(*words: int | bytes) -> bytes:
        return keccak(prefix + b"".join(_word(w) for w in words) + suffix)

    return hasher


step = _tagged_hasher("toy.step", 1)  # step(pre) -> post
_sub = _tagged_hasher("toy.sub", 3)
_ctx = _tagged_hasher("toy.ctx", 2)
_proj = _tagged_hasher("toy.proj", 2)


def sub_start(context: bytes, index: int, pre: bytes) -> bytes:
    """The next level's S_0 derived from the agreed S_index."""
    return _sub(context, index, pre)


def sub_context(context: bytes, index: int) -> bytes:
    """The next level's context for parent transition `index`."""
    return _ctx(context, index)


def project(sub_end: bytes, sub_length: int) -> bytes:
    """The parent root a sub-trace ending at `sub_end` after `sub_length` transitions stands for."""
    return _proj(sub_end, sub_length)


def corrupt(root: bytes) -> bytes:
    """A liar's replacement for `root` (off chain only): keccak("toy.lie" ‖ root)."""
    return keccak(b"toy.lie" + root)


# -- faults -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lie:
    """S_index of the level at `path` is wrong (1 <= index <= length); see the module docstring."""

    path: Path
    index: int


@dataclass(frozen=True)
class ForgeLink(Lie):
    """A lie at an upper level with no honest sub-trace behind it: opening transition index-1 fails the projection
    check (`how="projection"`) or posts a sub-trace of another length (`how="length"`). Faults compare by class,
    so a ForgeLink never matches the plain `Lie` at the same place."""

    how: Literal["projection", "length"] = "projection"

    def __post_init__(self) -> None:
        if self.how not in ("projection", "length"):
            raise TraceError(f"unknown link forgery {self.how!r}; use 'projection' or 'length'")


@dataclass(frozen=True)
class WrongStart:
    """The party derives S_0 of the level at `path` wrongly."""

    path: Path


Fault = Lie | ForgeLink | WrongStart


# -- the provider -----------------------------------------------------------------------------------------------
class ToyTrace(TraceProvider):
    """One level of a toy trace as one party computes it (honest when `faults` is empty).

    `lengths[0]` is this level's length, `lengths[1:]` those of the levels below (one per level).
    """

    def __init__(self, lengths: tuple[int, ...], start: bytes, context: bytes,
                 faults: frozenset[Fault] = frozenset(), path: Path = ()) -> None:
        if not lengths or not all(is_power_of_two(n) for n in lengths):
            raise TraceError(f"toy level lengths must be powers of two, got {lengths}")
        self.lengths = lengths
        self.context = context
        self.path = path
        self.faults = faults
        self.start = corrupt(start) if WrongStart(path) in faults else start
        self._subs: dict[int, ToyTrace] = {}

    @classmethod
    def request(cls, anchor: bytes, level_lengths: tuple[int, ...], faults: frozenset[Fault] = frozenset()) -> ToyTrace:
        """The request-level provider for a game with levels of `level_lengths` (level 0 first)."""
        return cls((1, *level_lengths), anchor, anchor, faults)

    @property
    def length(self) -> int:
        return self.lengths[0]

    @property
    def is_last_level(self) -> bool:
        return len(self.lengths) == 1

    def root_at(self, i: int) -> bytes:
        check_root_index(self.length, i)
        return bytes(self._roots[32 * i: 32 * i + 32])

    def open_next(self, k: int) -> tuple[ToyTrace, bytes]:
        if self.is_last_level:
            raise LastLevel(f"toy level {self.path} is the last level; transition {k} is proven by a step")
        check_transition(self.length, k)
        return self._sub(k), b""

    def step_witness(self, k: int) -> StepWitness:
        if not self.is_last_level:
            raise NotLastLevel(f"toy level {self.path} opens a sub-level at transition {k}")
        check_transition(self.length, k)
        return StepWitness(self.root_at(k), b"")

    def claim_preimage(self, i: int) -> bytes:
        """Bytes whose keccak is S_i at an upper level (the request level's S_1 is the output commitment)."""
        if self.is_last_level:
            raise TraceError("last-level toy roots are step hashes; only upper levels have projection preimages")
        check_root_index(self.length, i)
        if i == 0:
            raise TraceError("S_0 is derived, not projected")
        sub = self._sub(i - 1)
        encoded = tagged_encoding("toy.proj", sub.root_at(sub.length), sub.length)
        return b"toy.lie" + keccak(encoded) if ForgeLink(self.path, i, "projection") in self.faults else encoded

    # -- computation ------------------------------------------------------------------------------------------
    @cached_property
    def _roots(self) -> bytearray:
        """S_0..S_length packed 32 bytes each; upper levels build (and keep) each transition's sub-trace."""
        roots = bytearray(self.start)
        pre = self.start
        for k in range(self.length):
            post = self._last_level_post(k, pre) if self.is_last_level else self._upper_post(k, pre)
            roots += post
            pre = post
        return roots

    def _last_level_post(self, k: int, pre: bytes) -> bytes:
        post = step(pre)
        return corrupt(post) if Lie(self.path, k + 1) in self.faults else post

    def _upper_post(self, k: int, pre: bytes) -> bytes:
        sub = self._subs[k] = self._make_sub(k, pre)
        post = project(sub.root_at(sub.length), sub.length)
        return corrupt(post) if ForgeLink(self.path, k + 1, "projection") in self.faults else post

    def _sub(self, k: int) -> ToyTrace:
        self._roots  # noqa: B018 — computing the roots builds every sub-trace
        return self._subs[k]

    def _make_sub(self, k: int, pre: bytes) -> ToyTrace:
        path = (*self.path, k)
        lengths = self.lengths[1:]
        faults = self.faults
        if Lie(self.path, k + 1) in faults:  # an upper-level lie is a sub-trace with a corrupted end
            faults = faults | {Lie(path, lengths[0])}
        if ForgeLink(self.path, k + 1, "length") in faults:
            lengths = (_other_length(lengths[0]), *lengths[1:])
        return ToyTrace(lengths, sub_start(self.context, k, pre), sub_context(self.context, k), faults, path)


def _other_length(n: int) -> int:
    """A power of two other than n, no larger than n where possible (so only the link check rejects it)."""
    return n // 2 if n >= 2 else 2
