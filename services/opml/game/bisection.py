"""k-ary bisection arithmetic, identical to the DisputeGame contract's (docs/game.md, "Bisection arithmetic").

For [lo, hi] with L = hi - lo >= 2 the submitter posts c = min(N, L - 1) roots at p_j = lo + floor(j*L/(c+1)),
j = 1..c; with p_0 = lo and p_{c+1} = hi the challenger names the segment s in [0, c] whose end it disputes
first, and the interval becomes [p_s, p_{s+1}].
"""

from __future__ import annotations


class BisectionError(ValueError):
    """An interval or segment index that the game would reject."""


def checkpoint_count(lo: int, hi: int, n: int) -> int:
    """c: how many roots the submitter posts for [lo, hi]."""
    width = hi - lo
    if width < 2:
        raise BisectionError(f"interval [{lo}, {hi}] has no inner point to bisect")
    return min(n, width - 1)


def boundaries(lo: int, hi: int, n: int) -> list[int]:
    """p_0..p_{c+1}: the interval's ends and the checkpoint positions between them."""
    width, c = hi - lo, checkpoint_count(lo, hi, n)
    return [lo + (j * width) // (c + 1) for j in range(c + 2)]


def checkpoint_positions(lo: int, hi: int, n: int) -> list[int]:
    """p_1..p_c: the trace indices whose roots the submitter posts for [lo, hi]."""
    return boundaries(lo, hi, n)[1:-1]


def segment(lo: int, hi: int, n: int, index: int) -> tuple[int, int]:
    """The interval the game moves to when the challenger picks segment `index` of [lo, hi]."""
    points = boundaries(lo, hi, n)
    if not 0 <= index < len(points) - 1:
        raise BisectionError(f"segment {index} outside 0..{len(points) - 2} of [{lo}, {hi}]")
    return points[index], points[index + 1]


def rounds(length: int, n: int) -> int:
    """Bisection rounds that narrow [0, length] to one transition when the fault is in the worst segment."""
    count, width = 0, length
    while width > 1:
        points = boundaries(0, width, n)
        width = max(b - a for a, b in zip(points, points[1:]))
        count += 1
    return count
