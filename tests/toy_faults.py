"""The single faults a toy game is played against in the tests (pure: the solver's unit tests and the on-chain
game tests share them).

    one_lie_per_place((8, 4, 16), (0, 5, 2))   # {"level 0, first root": Lie((0,), 1), …}
"""

from __future__ import annotations

from opml.game.toy import Fault, Lie, Path, WrongStart


def one_lie_per_place(levels: tuple[int, ...], path: Path) -> dict[str, Fault]:
    """A wrong root at the first, a middle and the last position of every level along `path` (the transitions
    opened to reach the last level, `path[:d + 1]` naming level d), and a wrong start of every level; labelled."""
    faults: dict[str, Fault] = {}
    for depth, length in enumerate(levels):
        name = "last level" if depth == len(levels) - 1 else f"level {depth}"
        for where, index in (("first", 1), ("middle", length // 2 + 1), ("last", length)):
            faults[f"{name}, {where} root"] = Lie(path[:depth + 1], index)
    for depth in range(len(levels)):
        faults[f"wrong start of level {depth}"] = WrongStart(path[:depth + 1])
    return faults
