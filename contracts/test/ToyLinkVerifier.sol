// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ILinkVerifier, Link} from "../interfaces/ILinkVerifier.sol";

/// @notice The "alphabet" link between two toy levels (docs/game.md): the sub-trace starts at
/// keccak256(abi.encode("toy.sub", context, index, agreedPre)) and its end must project onto the claimed post:
/// keccak256(abi.encode("toy.proj", subEnd, subLength)) == claimedPost.
contract ToyLinkVerifier is ILinkVerifier {
    error ToyProjectionMismatch(bytes32 expected, bytes32 got);
    error ToyProofNotEmpty();
    error ToyLengthMismatch(uint256 expected, uint256 got);

    /// @notice The only sub-trace length accepted (0: any).
    uint256 public immutable expectedLength;

    constructor(uint256 expectedLength_) {
        expectedLength = expectedLength_;
    }

    /// @inheritdoc ILinkVerifier
    function verifyLink(Link calldata link, bytes calldata proof)
        external view returns (bytes32 subStart, bytes32 subContext)
    {
        if (proof.length != 0) revert ToyProofNotEmpty();
        if (expectedLength != 0 && link.subLength != expectedLength) revert ToyLengthMismatch(expectedLength, link.subLength);
        bytes32 projected = keccak256(abi.encode("toy.proj", link.subEnd, link.subLength));
        if (projected != link.claimedPost) revert ToyProjectionMismatch(link.claimedPost, projected);
        subStart = keccak256(abi.encode("toy.sub", link.context, link.index, link.agreedPre));
        subContext = keccak256(abi.encode("toy.ctx", link.context, link.index));
    }
}
