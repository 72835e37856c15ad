// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Link, LinkVerifier} from "../LinkVerifier.sol";
import {LevelsErrors} from "./LevelsErrors.sol";
import {VmMemoryTree} from "../VmMemoryTree.sol";
import {LevelsLib} from "./LevelsLib.sol";

/// @notice Opens the graph level from a request (docs/levels.md): the proof reopens the anchor's roots; S_0 is the
/// constants slot tree with the input commitment placed in the input slot; the claimed graph end must hold the
/// output commitment in the output slot; the graph trace has one transition per node.
contract RequestGraphLink is LinkVerifier, LevelsErrors {
    struct Proof {
        bytes32 nodesRoot;
        uint256 nodeCount;
        uint256 slotDepth;
        uint256 inputSlot;
        uint256 outputSlot;
        bytes32 constantsRoot;
        bytes32 kernelSetRoot;
        bytes32 inputCommitment;
        bytes32[] inputSiblings;
        bytes32[] outputSiblings;
    }

    /// @dev The check behind `verifyLink` (see `ILinkVerifier`).
    function _verify(Link memory link, bytes calldata proof)
        internal pure override returns (bytes32 subStart, bytes32 subContext)
    {
        Proof memory p = abi.decode(proof, (Proof));
        bytes32 graphRoot =
            keccak256(abi.encode(p.nodesRoot, p.nodeCount, p.slotDepth, p.inputSlot, p.outputSlot));
        bytes32 anchor = keccak256(abi.encode(graphRoot, p.constantsRoot, p.kernelSetRoot, p.inputCommitment));
        if (anchor != link.agreedPre || anchor != link.context) revert AnchorMismatch(link.agreedPre, anchor);
        if (link.subLength != p.nodeCount) revert GraphLengthMismatch(p.nodeCount, link.subLength);
        _checkSlotProof(p.inputSlot, p.slotDepth, p.inputSiblings);
        _checkSlotProof(p.outputSlot, p.slotDepth, p.outputSiblings);
        bytes32 empty = VmMemoryTree.zeroHashes()[VmMemoryTree.TENSOR_LEVEL];
        if (VmMemoryTree.fold(empty, p.inputSlot, p.inputSiblings) != p.constantsRoot) {
            revert InputSlotNotEmpty(p.inputSlot);
        }
        if (VmMemoryTree.fold(link.claimedPost, p.outputSlot, p.outputSiblings) != link.subEnd) {
            revert OutputNotInEndState(link.claimedPost, link.subEnd);
        }
        subStart = VmMemoryTree.fold(p.inputCommitment, p.inputSlot, p.inputSiblings);
        subContext = keccak256(abi.encode(p.nodesRoot, p.nodeCount, p.slotDepth, p.kernelSetRoot));
    }

    function _checkSlotProof(uint256 slot, uint256 depth, bytes32[] memory siblings) private pure {
        if (siblings.length != depth) revert ProofLength(depth, siblings.length);
        if (depth < 256 && slot >> depth != 0) revert SlotOutOfRange(slot, depth);
    }
}
