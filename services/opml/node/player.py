"""Player: reads one game through the bindings and asks the pure solver for this party's next move.

The chain's latest block time is the clock the solver judges by (the contracts judge moves by block time), and the
game's own step verifier, called read-only, tells the solver whom the final step favours (so only that party
sends it).
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3
from web3.exceptions import Web3Exception

from opml.chain.bindings import GameBindings
from opml.game.solver import next_action
from opml.game.trace import StepWitness, TraceProvider
from opml.game.types import Action, GameView, Phase, Role, Wait

STEP_FROM_ABI = [{"type": "function", "name": "stepFrom", "stateMutability": "view", "outputs": [
    {"name": "", "type": "bytes32"}], "inputs": [{"name": "preStateHash", "type": "bytes32"},
    {"name": "stateData", "type": "bytes"}, {"name": "proofData", "type": "bytes"}]}]


@dataclass(frozen=True)
class Turn:
    """The game as read, and the move the solver chose for this party (`Wait` when none)."""

    view: GameView
    action: Action

    @property
    def waits(self) -> bool:
        return isinstance(self.action, Wait)

    @property
    def fingerprint(self) -> str:
        """The chain state the move answers: a move is never sent twice for the same fingerprint."""
        v = self.view
        return f"{v.phase.name}:{v.depth}:{v.lo}:{v.hi}:{type(self.action).__name__}"


class Player:
    """One party (`address`) in games on `bindings`."""

    def __init__(self, bindings: GameBindings, address: str) -> None:
        self.bindings = bindings
        self.address = Web3.to_checksum_address(address)
        self._verifier = None

    def read(self, game_id: int) -> GameView:
        return self.bindings.read_game(game_id)

    def role_in(self, view: GameView) -> Role | None:
        """This party's side in the game, or None when it is not a party."""
        if Web3.to_checksum_address(view.submitter) == self.address:
            return Role.SUBMITTER
        if Web3.to_checksum_address(view.challenger) == self.address:
            return Role.CHALLENGER
        return None

    def turn(self, game_id: int, role: Role, provider: TraceProvider) -> Turn:
        """Read the game now and decide (synchronous: run it in a worker thread)."""
        view = self.read(game_id)
        now = int(self.bindings.game.contract.w3.eth.get_block("latest")["timestamp"])
        execute = self.execute_step if view.phase is Phase.STEP else None
        return Turn(view, next_action(view, role, provider, now, execute))

    def execute_step(self, pre: bytes, witness: StepWitness) -> bytes | None:
        """The post-state hash the game's step verifier computes from `pre` (a read-only call); None when the
        verifier rejects the witness."""
        if self._verifier is None:
            game = self.bindings.game.contract
            address = game.functions.stepVerifier().call()
            self._verifier = game.w3.eth.contract(address=address, abi=STEP_FROM_ABI)
        try:
            return bytes(self._verifier.functions.stepFrom(pre, witness.state_data, witness.proof_data).call())
        except Web3Exception:  # a reverting verifier: the solver falls back to the party's own trace
            return None
