// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Checks the boundary between a level and the next one (docs/game.md).
interface ILinkVerifier {
    /// @notice Derives the sub-trace's start root from the agreed pre-root and checks that the claimed sub-trace
    /// end projects onto the claimed post-root; reverts with a named error when the link does not hold.
    /// @param context the parent level's context (the request anchor at level 0)
    /// @param index the disputed transition of the parent level (from root `index` to `index + 1`)
    function verifyLink(
        bytes32 context,
        uint256 index,
        bytes32 agreedPre,
        bytes32 claimedPost,
        bytes32 subEnd,
        uint256 subLength,
        bytes calldata proof
    ) external view returns (bytes32 subStart, bytes32 subContext);
}
