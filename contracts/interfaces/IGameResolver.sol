// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice What the DisputeGame tells the Coordinator when a game ends.
interface IGameResolver {
    /// @notice Game `gameId` ended; `submitterWon` says who won (by step or by timeout).
    function onGameResolved(uint256 gameId, bool submitterWon) external;
}
