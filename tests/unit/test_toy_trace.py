"""The toy trace: its hash formulas are the toy verifiers' (docs/game.md), and its faults land where asked."""

from __future__ import annotations

import pytest
from eth_abi import encode

from opml.game.toy import (ForgeLink, Lie, ToyTrace, WrongStart, corrupt, project, step, sub_context, sub_start,
                           tagged_encoding)
from opml.game.trace import LastLevel, NotLastLevel, TraceError, TraceProvider
from opml.hashing import keccak

ANCHOR = keccak(b"toy anchor")
LEVELS = (8, 4, 16)


def _abi_hash(types: list[str], values: list[object]) -> bytes:
    return keccak(encode(types, values))


def test_formulas_match_abi_encode() -> None:
    a, b = keccak(b"a"), keccak(b"b")
    assert tagged_encoding("toy.proj", a, 16) == encode(["string", "bytes32", "uint256"], ["toy.proj", a, 16])
    assert step(a) == _abi_hash(["string", "bytes32"], ["toy.step", a])
    assert sub_start(a, 3, b) == _abi_hash(["string", "bytes32", "uint256", "bytes32"], ["toy.sub", a, 3, b])
    assert sub_context(a, 7) == _abi_hash(["string", "bytes32", "uint256"], ["toy.ctx", a, 7])
    assert project(b, 8) == _abi_hash(["string", "bytes32", "uint256"], ["toy.proj", b, 8])


def test_honest_trace_follows_the_definition() -> None:
    request = ToyTrace.request(ANCHOR, LEVELS)
    assert isinstance(request, TraceProvider)
    assert (request.length, request.root_at(0)) == (1, ANCHOR)
    level0, proof = request.open_next(0)
    assert proof == b""
    assert level0.length == 8
    assert level0.root_at(0) == sub_start(ANCHOR, 0, ANCHOR)
    assert request.root_at(1) == project(level0.root_at(8), 8)
    ctx0 = sub_context(ANCHOR, 0)
    level1, _ = level0.open_next(5)
    assert level1.root_at(0) == sub_start(ctx0, 5, level0.root_at(5))
    assert level0.root_at(6) == project(level1.root_at(4), 4)
    level2, _ = level1.open_next(2)
    assert level2.is_last_level and level2.length == 16
    assert level2.root_at(0) == sub_start(sub_context(ctx0, 5), 2, level1.root_at(2))
    for i in range(16):
        assert level2.root_at(i + 1) == step(level2.root_at(i))
    assert level1.root_at(3) == project(level2.root_at(16), 16)
    witness = level2.step_witness(9)
    assert (witness.state_data, witness.proof_data) == (level2.root_at(9), b"")


def test_output_preimage_hashes_to_the_output_commitment() -> None:
    for faults in (frozenset(), frozenset({ForgeLink((), 1)}), frozenset({Lie((0,), 3)})):
        request = ToyTrace.request(ANCHOR, LEVELS, faults)
        assert keccak(request.claim_preimage(1)) == request.root_at(1)


def test_last_level_lie_changes_exactly_the_roots_from_the_lie_on() -> None:
    path = (0, 2, 1)
    honest = _level(ToyTrace.request(ANCHOR, LEVELS), path)
    liar = _level(ToyTrace.request(ANCHOR, LEVELS, frozenset({Lie(path, 5)})), path)
    assert [honest.root_at(i) == liar.root_at(i) for i in range(17)] == [True] * 5 + [False] * 12
    assert liar.root_at(5) == corrupt(step(liar.root_at(4)))
    assert liar.root_at(6) == step(liar.root_at(5))


def test_upper_level_lie_descends_to_the_sub_trace_end() -> None:
    honest = ToyTrace.request(ANCHOR, LEVELS)
    liar = ToyTrace.request(ANCHOR, LEVELS, frozenset({Lie((0,), 3)}))
    h0, l0 = honest.open_next(0)[0], liar.open_next(0)[0]
    assert [h0.root_at(i) == l0.root_at(i) for i in range(9)] == [True] * 3 + [False] * 6
    h1, l1 = h0.open_next(2)[0], l0.open_next(2)[0]
    assert [h1.root_at(i) == l1.root_at(i) for i in range(5)] == [True] * 4 + [False]
    h2, l2 = h1.open_next(3)[0], l1.open_next(3)[0]
    assert [h2.root_at(i) == l2.root_at(i) for i in range(17)] == [True] * 16 + [False]
    assert l0.root_at(3) == project(l1.root_at(4), 4)  # the link still holds at every boundary
    assert honest.root_at(1) != liar.root_at(1)


def test_forged_link_breaks_the_projection_or_the_length() -> None:
    liar = _level(ToyTrace.request(ANCHOR, LEVELS, frozenset({ForgeLink((0,), 4)})), (0,))
    sub, _ = liar.open_next(3)
    assert project(sub.root_at(sub.length), sub.length) != liar.root_at(4)
    short = _level(ToyTrace.request(ANCHOR, LEVELS, frozenset({ForgeLink((0,), 4, "length")})), (0,))
    sub, _ = short.open_next(3)
    assert sub.length == 2
    assert project(sub.root_at(2), 2) == short.root_at(4)


def test_wrong_start_only_moves_that_level_start() -> None:
    honest = _level(ToyTrace.request(ANCHOR, LEVELS), (0, 1))
    liar = _level(ToyTrace.request(ANCHOR, LEVELS, frozenset({WrongStart((0, 1))})), (0, 1))
    assert liar.root_at(0) == corrupt(honest.root_at(0))
    assert all(liar.root_at(i) != honest.root_at(i) for i in range(5))


def test_bad_requests_raise_named_errors() -> None:
    request = ToyTrace.request(ANCHOR, LEVELS)
    with pytest.raises(TraceError):
        request.root_at(2)
    with pytest.raises(NotLastLevel):
        request.step_witness(0)
    last = _level(request, (0, 0, 0))
    with pytest.raises(LastLevel):
        last.open_next(0)
    with pytest.raises(TraceError):
        last.step_witness(16)
    with pytest.raises(TraceError):
        ToyTrace((3,), ANCHOR, ANCHOR)


def _level(request: ToyTrace, path: tuple[int, ...]) -> ToyTrace:
    provider = request
    for k in path:
        provider, _ = provider.open_next(k)
    return provider
