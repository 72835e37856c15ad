"""`GameBindings.read_game` reads a game in several calls that may straddle a block: a game that slashed its
submission in between is read as over (lost), never as moot (made moot by another game)."""

from __future__ import annotations

from opml.chain.bindings import Challenge, GameBindings, GameState, Submission, SubmissionStatus
from opml.game.types import Phase


class Game:
    """A DisputeGame whose phase moves on by one entry at each read."""

    def __init__(self, *phases: Phase) -> None:
        self.phases = list(phases)
        self.reads = 0

    def num_levels(self) -> int:
        return 3

    def checkpoint_count(self) -> int:
        return 3

    def get_game(self, game_id: int) -> GameState:
        phase = self.phases[min(self.reads, len(self.phases) - 1)]
        self.reads += 1
        return GameState(1, 1, "0xS", "0xC", phase, 0, 0, 8, b"", b"", b"", b"", 100, 100, 0)


class Coordinator:
    def get_submission(self, submission_id: int) -> Submission:
        return Submission(1, "0xS", b"", b"", 0, 0, SubmissionStatus.SLASHED, b"")

    def get_challenge(self, game_id: int) -> Challenge:
        return Challenge(1, "0xC", True)


def test_a_step_between_the_reads_is_read_as_the_games_end() -> None:
    view = GameBindings(Game(Phase.STEP, Phase.CHALLENGER_WON), Coordinator()).read_game(1)  # type: ignore[arg-type]
    assert (view.phase, view.moot, view.settled) == (Phase.CHALLENGER_WON, False, True)


def test_a_submission_slashed_by_another_game_makes_this_one_moot() -> None:
    game = Game(Phase.BISECT)
    view = GameBindings(game, Coordinator()).read_game(1)  # type: ignore[arg-type]
    assert (view.phase, view.moot) == (Phase.BISECT, True)
    assert game.reads == 2  # read again after the slash, still open
