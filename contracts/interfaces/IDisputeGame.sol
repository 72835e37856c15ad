// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice What a game is opened on: one submission of a request, its two parties, the request's anchor (the
/// agreed start) and the submission's output and trace commitments (the disputed claims).
struct GameSpec {
    uint256 requestId;
    uint256 submissionId;
    address submitter;
    address challenger;
    bytes32 anchor;
    bytes32 outputCommitment;
    bytes32 traceCommitment;
}

/// @notice No game has id `gameId` (raised by the DisputeGame for a move, by the Coordinator for a release).
error UnknownGame(uint256 gameId);

/// @notice The part of the DisputeGame the Coordinator drives.
interface IDisputeGame {
    /// @notice Opens a game between `spec.submitter` and `spec.challenger` on one submission; returns its id (from 1).
    function createGame(GameSpec calldata spec) external returns (uint256 gameId);

    /// @notice Ends a still-running game without a winner (its submission was slashed by another game).
    function cancelGame(uint256 gameId) external;

    /// @notice True while the game accepts moves or a timeout claim.
    function isActive(uint256 gameId) external view returns (bool);
}
