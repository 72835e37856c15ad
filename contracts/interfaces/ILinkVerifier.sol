// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice The boundary claim a link verifier checks: on the parent level (context `context`), transition `index`
/// goes from the agreed root `agreedPre` to the claimed root `claimedPost`, and the sub-trace refining it ends at
/// the claimed `subEnd` after `subLength` transitions.
struct Link {
    bytes32 context;
    uint256 index;
    bytes32 agreedPre;
    bytes32 claimedPost;
    bytes32 subEnd;
    uint256 subLength;
}

/// @notice Checks the boundary between a level and the next one (docs/game.md).
interface ILinkVerifier {
    /// @notice Derives the sub-trace's start root from the agreed pre-root and checks that the claimed sub-trace
    /// end projects onto the claimed post-root; reverts with a named error when the link does not hold.
    /// @param link the claim; `link.context` is the parent level's context (the request anchor at level 0) and
    /// `link.index` the disputed transition of the parent level (from root `index` to `index + 1`)
    /// @return subStart the sub-trace's start root
    /// @return subContext the next level's context
    function verifyLink(Link calldata link, bytes calldata proof)
        external
        view
        returns (bytes32 subStart, bytes32 subContext);
}
