// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {GameSpec, IDisputeGame, UnknownGame} from "./interfaces/IDisputeGame.sol";
import {IGameResolver} from "./interfaces/IGameResolver.sol";
import {ILinkVerifier, Link} from "./interfaces/ILinkVerifier.sol";
import {IStepVerifier} from "./interfaces/IStepVerifier.sol";

/// @title DisputeGame
/// @notice All dispute games, by id: a multi-level k-ary bisection between a submitter and a challenger that
/// ends in one on-chain step (docs/game.md is the normative description of every move and error).
/// @dev Invariant of an active game: `rootLo` (at `lo`) is agreed by both parties, `rootHi` (at `hi`) is the
/// submitter's claim the challenger disputes. Level boundaries are checked by the level's link verifier.
contract DisputeGame is IDisputeGame {
    enum Phase {
        None,
        Open,
        Bisect,
        Pick,
        Step,
        SubmitterWon,
        ChallengerWon,
        Cancelled
    }

    struct Game {
        uint256 requestId;
        uint256 submissionId;
        address submitter;
        address challenger;
        Phase phase;
        uint8 depth;
        uint64 lo;
        uint64 hi;
        bytes32 rootLo;
        bytes32 rootHi;
        bytes32 context;
        bytes32 traceCommitment;
        uint64 submitterTimeLeft;
        uint64 challengerTimeLeft;
        uint64 lastMoveAt;
    }

    event GameCreated(
        uint256 indexed gameId,
        uint256 indexed requestId,
        uint256 submissionId,
        address indexed submitter,
        address challenger,
        bytes32 anchor,
        bytes32 outputCommitment,
        bytes32 traceCommitment
    );
    event LevelOpened(
        uint256 indexed gameId,
        uint8 level,
        uint256 parentIndex,
        bytes32 context,
        bytes32 subStart,
        bytes32 subEnd,
        uint256 subLength
    );
    event Bisected(uint256 indexed gameId, uint8 level, uint256 lo, uint256 hi, bytes32[] checkpoints);
    event Picked(
        uint256 indexed gameId, uint8 level, uint256 segment, uint256 lo, uint256 hi, bytes32 rootLo, bytes32 rootHi
    );
    event Stepped(uint256 indexed gameId, bytes32 preRoot, bytes32 claimedPost, bytes32 computedPost);
    event GameResolved(uint256 indexed gameId, address winner, bool submitterWon, bool byTimeout);
    event GameCancelled(uint256 indexed gameId);

    ILinkVerifier[] private _linkVerifiers;
    uint8[] private _maxDepths;
    IStepVerifier public immutable stepVerifier;
    uint256 public immutable checkpointCount;
    uint64 public immutable clockSeconds;
    address private immutable _deployer;

    address public coordinator;
    uint256 public gameCount;
    mapping(uint256 gameId => Game) private _games;
    mapping(uint256 gameId => bytes32[]) private _checkpoints;

    /// @notice The game was configured without levels.
    error NoLevels();
    /// @notice The game was configured with a different number of link verifiers and level depths.
    error LevelConfigMismatch(uint256 verifiers, uint256 depths);
    /// @notice Level `level`'s maximum depth is over 63.
    error BadMaxDepth(uint256 level, uint8 depth);
    /// @notice The checkpoints per bisection round are not within 1..255.
    error BadCheckpointCount(uint256 count);
    /// @notice The parties' clocks would start at zero seconds.
    error ZeroClock();

    /// @param linkVerifiers_ level l is opened through linkVerifiers_[l]
    /// @param maxDepths_ level l's traces have at most 2^maxDepths_[l] transitions (depth ≤ 63)
    /// @param checkpointCount_ N, the checkpoints the submitter posts per bisection round
    /// @param clockSeconds_ each party's total thinking time per game
    constructor(
        ILinkVerifier[] memory linkVerifiers_,
        uint8[] memory maxDepths_,
        IStepVerifier stepVerifier_,
        uint256 checkpointCount_,
        uint64 clockSeconds_
    ) {
        if (linkVerifiers_.length == 0) revert NoLevels();
        if (linkVerifiers_.length != maxDepths_.length) {
            revert LevelConfigMismatch(linkVerifiers_.length, maxDepths_.length);
        }
        for (uint256 l = 0; l < maxDepths_.length; l++) {
            if (maxDepths_[l] > 63) revert BadMaxDepth(l, maxDepths_[l]);
        }
        if (checkpointCount_ == 0 || checkpointCount_ > 255) revert BadCheckpointCount(checkpointCount_);
        if (clockSeconds_ == 0) revert ZeroClock();
        _linkVerifiers = linkVerifiers_;
        _maxDepths = maxDepths_;
        stepVerifier = stepVerifier_;
        checkpointCount = checkpointCount_;
        clockSeconds = clockSeconds_;
        _deployer = msg.sender;
    }

    /// @notice `bindCoordinator` was called by another account than the deployer.
    error NotDeployer(address caller);
    /// @notice The Coordinator is already set.
    error CoordinatorAlreadySet();

    /// @notice Sets the Coordinator, the only contract that creates and cancels games; once, by the deployer.
    function bindCoordinator(address coordinator_) external {
        if (msg.sender != _deployer) revert NotDeployer(msg.sender);
        if (coordinator != address(0)) revert CoordinatorAlreadySet();
        coordinator = coordinator_;
    }

    // ---------------------------------------------------------------------------------------------- coordinator

    /// @notice A game was created or cancelled by another account than the Coordinator.
    error NotCoordinator(address caller);

    /// @inheritdoc IDisputeGame
    function createGame(GameSpec calldata spec) external returns (uint256 gameId) {
        if (msg.sender != coordinator) revert NotCoordinator(msg.sender);
        gameId = ++gameCount;
        _games[gameId] = Game({
            requestId: spec.requestId,
            submissionId: spec.submissionId,
            submitter: spec.submitter,
            challenger: spec.challenger,
            phase: Phase.Open,
            depth: 0,
            lo: 0,
            hi: 1,
            rootLo: spec.anchor,
            rootHi: spec.outputCommitment,
            context: spec.anchor,
            traceCommitment: spec.traceCommitment,
            submitterTimeLeft: clockSeconds,
            challengerTimeLeft: clockSeconds,
            lastMoveAt: uint64(block.timestamp)
        });
        emit GameCreated(
            gameId,
            spec.requestId,
            spec.submissionId,
            spec.submitter,
            spec.challenger,
            spec.anchor,
            spec.outputCommitment,
            spec.traceCommitment
        );
    }

    /// @inheritdoc IDisputeGame
    function cancelGame(uint256 gameId) external {
        if (msg.sender != coordinator) revert NotCoordinator(msg.sender);
        Game storage g = _active(gameId);
        g.phase = Phase.Cancelled;
        emit GameCancelled(gameId);
    }

    // ---------------------------------------------------------------------------------------------------- moves

    /// @notice The opened sub-trace is empty or longer than the level's 2^maxDepth.
    error BadSubLength(uint256 subLength, uint256 max);
    /// @notice Level 0's claimed end is not the submission's trace commitment.
    error TraceCommitmentMismatch(bytes32 expected, bytes32 got);

    /// @notice Submitter, at a single disputed transition: opens the next level with the sub-trace's claimed end
    /// root and length, proved linked by the level's verifier; optionally posts the first bisection too.
    function openLevel(
        uint256 gameId,
        bytes32 subEnd,
        uint256 subLength,
        bytes calldata proof,
        bytes32[] calldata checkpoints
    ) external {
        Game storage g = _move(gameId, Phase.Open);
        uint8 level = g.depth;
        uint256 maxLength = uint256(1) << _maxDepths[level];
        if (subLength == 0 || subLength > maxLength) revert BadSubLength(subLength, maxLength);
        if (level == 0 && subEnd != g.traceCommitment) revert TraceCommitmentMismatch(g.traceCommitment, subEnd);
        (bytes32 subStart, bytes32 subContext) = _link(g, level, subEnd, subLength, proof);
        emit LevelOpened(gameId, level, g.lo, subContext, subStart, subEnd, subLength);
        g.depth = level + 1;
        g.lo = 0;
        g.hi = uint64(subLength);
        g.rootLo = subStart;
        g.rootHi = subEnd;
        g.context = subContext;
        if (checkpoints.length > 0) {
            _post(gameId, g, checkpoints);
        } else {
            _advance(g);
        }
    }

    /// @notice Submitter: posts the roots at the interval's `c = min(N, hi − lo − 1)` inner boundaries.
    function bisect(uint256 gameId, bytes32[] calldata checkpoints) external {
        Game storage g = _move(gameId, Phase.Bisect);
        _post(gameId, g, checkpoints);
    }

    /// @notice The picked segment is past the last one (there are `max + 1`).
    error BadSegment(uint256 segment, uint256 max);

    /// @notice Challenger: names the first segment it disputes (it agrees with the root at the segment's start).
    function pick(uint256 gameId, uint256 segment) external {
        Game storage g = _move(gameId, Phase.Pick);
        bytes32[] storage roots = _checkpoints[gameId];
        uint256 count = roots.length;
        if (segment > count) revert BadSegment(segment, count);
        uint256 lo = g.lo;
        uint256 length = g.hi - lo;
        g.lo = uint64(lo + (segment * length) / (count + 1));
        g.hi = uint64(lo + ((segment + 1) * length) / (count + 1));
        if (segment > 0) g.rootLo = roots[segment - 1];
        if (segment < count) g.rootHi = roots[segment];
        emit Picked(gameId, g.depth - 1, segment, g.lo, g.hi, g.rootLo, g.rootHi);
        _advance(g);
    }

    /// @notice The step verifier rejected the witness (its revert data is `reason`).
    error StepWitnessInvalid(bytes reason);

    /// @notice Anyone, at the last level's single transition: runs the step verifier from the agreed pre-root;
    /// the submitter wins iff the computed post-root is the one it claimed.
    function step(uint256 gameId, bytes calldata stateData, bytes calldata proofData) external {
        Game storage g = _active(gameId);
        if (g.phase != Phase.Step) revert WrongMove(g.phase);
        _charge(g);
        bytes32 post;
        try stepVerifier.stepFrom(g.rootLo, stateData, proofData) returns (bytes32 computed) {
            post = computed;
        } catch (bytes memory reason) {
            revert StepWitnessInvalid(reason);
        }
        emit Stepped(gameId, g.rootLo, g.rootHi, post);
        _resolve(gameId, g, post == g.rootHi, false);
    }

    /// @notice The party on the clock may still move until `deadline`.
    error ClockNotExpired(uint256 deadline);

    /// @notice Anyone: ends the game against the party on the clock once its time has run out.
    function claimTimeout(uint256 gameId) external {
        Game storage g = _active(gameId);
        uint256 due = _deadline(g);
        if (block.timestamp <= due) revert ClockNotExpired(due);
        _resolve(gameId, g, _onClock(g) == g.challenger, true);
    }

    // ---------------------------------------------------------------------------------------------------- views

    function getGame(uint256 gameId) external view returns (Game memory) {
        return _games[gameId];
    }

    /// @inheritdoc IDisputeGame
    function isActive(uint256 gameId) external view returns (bool) {
        Phase phase = _games[gameId].phase;
        return phase != Phase.None && phase < Phase.SubmitterWon;
    }

    /// @notice The submitter's last posted checkpoints (those of the current interval while in Pick).
    function checkpointsOf(uint256 gameId) external view returns (bytes32[] memory) {
        return _checkpoints[gameId];
    }

    /// @notice How many checkpoints a bisection of the game's current interval has.
    function expectedCheckpoints(uint256 gameId) external view returns (uint256) {
        Game storage g = _games[gameId];
        return _count(g.hi - g.lo);
    }

    /// @notice The boundaries p_0 = lo, …, p_{c+1} = hi of a bisection of [lo, hi] (hi > lo).
    function positions(uint256 lo, uint256 hi) external view returns (uint256[] memory bounds) {
        uint256 length = hi - lo;
        uint256 count = _count(length);
        bounds = new uint256[](count + 2);
        for (uint256 j = 0; j <= count + 1; j++) {
            bounds[j] = lo + (j * length) / (count + 1);
        }
    }

    /// @notice The last timestamp at which the party on the clock may still move.
    function deadline(uint256 gameId) external view returns (uint256) {
        return _deadline(_games[gameId]);
    }

    /// @notice The party on the clock (address(0) once the game is over).
    function toMove(uint256 gameId) external view returns (address) {
        Game storage g = _games[gameId];
        if (g.phase == Phase.None || g.phase >= Phase.SubmitterWon) return address(0);
        return _onClock(g);
    }

    function numLevels() external view returns (uint256) {
        return _linkVerifiers.length;
    }

    function maxDepth(uint256 level) external view returns (uint8) {
        return _maxDepths[level];
    }

    function linkVerifier(uint256 level) external view returns (ILinkVerifier) {
        return _linkVerifiers[level];
    }

    // ------------------------------------------------------------------------------------------------- internal

    /// @notice The game has ended (resolved or cancelled).
    error GameOver(uint256 gameId);

    /// @dev The game, if it exists and is still running.
    function _active(uint256 gameId) private view returns (Game storage g) {
        g = _games[gameId];
        if (g.phase == Phase.None) revert UnknownGame(gameId);
        if (g.phase >= Phase.SubmitterWon) revert GameOver(gameId);
    }

    /// @notice The sender is neither the game's submitter nor its challenger.
    error NotAParty(address caller);
    /// @notice The other party is on the clock.
    error NotYourTurn(address caller);
    /// @notice The move is not the one the game's phase expects.
    error WrongMove(Phase phase);

    /// @dev Checks that the sender may make a move of `phase` now and charges its clock.
    function _move(uint256 gameId, Phase phase) private returns (Game storage g) {
        g = _active(gameId);
        if (msg.sender != g.submitter && msg.sender != g.challenger) revert NotAParty(msg.sender);
        if (msg.sender != _onClock(g)) revert NotYourTurn(msg.sender);
        if (g.phase != phase) revert WrongMove(g.phase);
        _charge(g);
    }

    /// @notice The mover's clock ran out at `deadline`.
    error ClockExpired(uint256 deadline);

    /// @dev Charges the time since the last move to the party on the clock; reverts once it has run out.
    function _charge(Game storage g) private {
        uint256 due = _deadline(g);
        if (block.timestamp > due) revert ClockExpired(due);
        uint64 used = uint64(block.timestamp) - g.lastMoveAt;
        if (_onClock(g) == g.submitter) {
            g.submitterTimeLeft -= used;
        } else {
            g.challengerTimeLeft -= used;
        }
        g.lastMoveAt = uint64(block.timestamp);
    }

    function _onClock(Game storage g) private view returns (address) {
        return g.phase == Phase.Open || g.phase == Phase.Bisect ? g.submitter : g.challenger;
    }

    function _deadline(Game storage g) private view returns (uint256) {
        uint64 left = _onClock(g) == g.submitter ? g.submitterTimeLeft : g.challengerTimeLeft;
        return uint256(g.lastMoveAt) + left;
    }

    /// @dev c = min(N, L − 1) checkpoints split an interval of L transitions (none for L ≤ 1).
    function _count(uint256 length) private view returns (uint256) {
        if (length <= 1) return 0;
        return length - 1 < checkpointCount ? length - 1 : checkpointCount;
    }

    /// @notice A bisection has `expected` checkpoints (c = min(N, hi − lo − 1)).
    error WrongCheckpointCount(uint256 expected, uint256 got);

    function _post(uint256 gameId, Game storage g, bytes32[] calldata checkpoints) private {
        uint256 expected = _count(g.hi - g.lo);
        if (checkpoints.length != expected) revert WrongCheckpointCount(expected, checkpoints.length);
        _checkpoints[gameId] = checkpoints;
        g.phase = Phase.Pick;
        emit Bisected(gameId, g.depth - 1, g.lo, g.hi, checkpoints);
    }

    /// @dev The phase that follows once the interval [lo, hi] is settled.
    function _advance(Game storage g) private {
        if (g.hi - g.lo >= 2) {
            g.phase = Phase.Bisect;
        } else if (g.depth < _linkVerifiers.length) {
            g.phase = Phase.Open;
        } else {
            g.phase = Phase.Step;
        }
    }

    /// @notice The level's link verifier rejected the opening (its revert data is `reason`).
    error LinkProofInvalid(bytes reason);

    function _link(Game storage g, uint8 level, bytes32 subEnd, uint256 subLength, bytes calldata proof)
        private
        view
        returns (bytes32 subStart, bytes32 subContext)
    {
        Link memory link = Link(g.context, g.lo, g.rootLo, g.rootHi, subEnd, subLength);
        try _linkVerifiers[level].verifyLink(link, proof) returns (bytes32 start, bytes32 ctx) {
            return (start, ctx);
        } catch (bytes memory reason) {
            revert LinkProofInvalid(reason);
        }
    }

    function _resolve(uint256 gameId, Game storage g, bool submitterWon, bool byTimeout) private {
        g.phase = submitterWon ? Phase.SubmitterWon : Phase.ChallengerWon;
        emit GameResolved(gameId, submitterWon ? g.submitter : g.challenger, submitterWon, byTimeout);
        IGameResolver(coordinator).onGameResolved(gameId, submitterWon);
    }
}
