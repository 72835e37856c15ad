// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ILinkVerifier} from "./interfaces/ILinkVerifier.sol";

/// @notice The boundary claim a link verifier checks: the arguments of `ILinkVerifier.verifyLink` but the proof.
struct Link {
    bytes32 context;
    uint256 index;
    bytes32 agreedPre;
    bytes32 claimedPost;
    bytes32 subEnd;
    uint256 subLength;
}

/// @notice The base of every link verifier: `verifyLink` hands its arguments, as one `Link`, to `_verify`, the
/// verifier's own check (so the interface's parameter list is written once, here).
abstract contract LinkVerifier is ILinkVerifier {
    /// @inheritdoc ILinkVerifier
    function verifyLink(
        bytes32 context,
        uint256 index,
        bytes32 agreedPre,
        bytes32 claimedPost,
        bytes32 subEnd,
        uint256 subLength,
        bytes calldata proof
    ) external view returns (bytes32 subStart, bytes32 subContext) {
        return _verify(Link(context, index, agreedPre, claimedPost, subEnd, subLength), proof);
    }

    /// @dev `verifyLink`'s contract: the sub-trace's start and context, or a revert with a named error.
    function _verify(Link memory link, bytes calldata proof)
        internal
        view
        virtual
        returns (bytes32 subStart, bytes32 subContext);
}
