// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ILinkVerifier, Link} from "../interfaces/ILinkVerifier.sol";
import {AnchorMismatch, GraphLengthMismatch, InputSlotNotEmpty, OutputNotInEndState} from "./LevelsErrors.sol";
import {VmMemoryTree} from "../VmMemoryTree.sol";
import {LevelsLib} from "./LevelsLib.sol";

/// @notice Opens the graph level from a request (docs/levels.md): the proof reopens the anchor's roots; S_0 is the
/// constants slot tree with the input commitment placed in the input slot; the claimed graph end must hold the
/// output commitment in the output slot; the graph trace has one transition per node.
contract RequestGraphLink is ILinkVerifier {
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

    /// @inheritdoc ILinkVerifier
    function verifyLink(Link calldata link, bytes calldata proof)
        external pure returns (bytes32 subStart, bytes32 subContext)
    {
        Proof memory p = abi.decode(proof, (Proof));
        bytes32 graphRoot =
            keccak256(abi.encode(p.nodesRoot, p.nodeCount, p.slotDepth, p.inputSlot, p.outputSlot));
        bytes32 anchor = keccak256(abi.encode(graphRoot, p.constantsRoot, p.kernelSetRoot, p.inputCommitment));
        if (anchor != link.agreedPre || anchor != link.context) revert AnchorMismatch(link.agreedPre, anchor);
        if (link.subLength != p.nodeCount) revert GraphLengthMismatch(p.nodeCount, link.subLength);
        LevelsLib.checkSlotProof(p.inputSlot, p.slotDepth, p.inputSiblings);
        LevelsLib.checkSlotProof(p.outputSlot, p.slotDepth, p.outputSiblings);
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
}
