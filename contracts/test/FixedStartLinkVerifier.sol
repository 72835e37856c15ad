// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ILinkVerifier, Link} from "../interfaces/ILinkVerifier.sol";

/// @notice A test link into a VM level: every sub-trace starts at one fixed VM state (set at deployment), and
/// its end projects onto the claimed post as in the toy: keccak256(abi.encode("toy.proj", subEnd, subLength)).
/// Lets tests play a real MIPS trace through the DisputeGame before the graph/tile links exist.
contract FixedStartLinkVerifier is ILinkVerifier {
    error FixedProjectionMismatch(bytes32 expected, bytes32 got);
    error FixedLengthMismatch(uint256 expected, uint256 got);

    bytes32 public immutable startState;
    uint256 public immutable expectedLength;

    constructor(bytes32 startState_, uint256 expectedLength_) {
        startState = startState_;
        expectedLength = expectedLength_;
    }

    /// @inheritdoc ILinkVerifier
    function verifyLink(Link calldata link, bytes calldata)
        external view returns (bytes32 subStart, bytes32 subContext)
    {
        if (link.subLength != expectedLength) revert FixedLengthMismatch(expectedLength, link.subLength);
        bytes32 projected = keccak256(abi.encode("toy.proj", link.subEnd, link.subLength));
        if (projected != link.claimedPost) revert FixedProjectionMismatch(link.claimedPost, projected);
        return (startState, link.context);
    }
}
