// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Link, LinkVerifier} from "../LinkVerifier.sol";
import {LevelsErrors} from "./LevelsErrors.sol";
import {VmMemoryTree} from "../VmMemoryTree.sol";
import {LevelsLib, NodeDef} from "./LevelsLib.sol";

/// @notice Opens the tile level of graph node `index` (docs/levels.md): the node is in the graph, its kernel in
/// the kernel set, its input roots in the agreed S_index and its output slot empty there; the tile trace starts
/// from the empty tensor and its claimed end, put in the output slot with the same path, gives the claimed
/// S_{index+1} (so every other slot is unchanged).
contract GraphTileLink is LinkVerifier, LevelsErrors {
    uint256 internal constant KERNEL_SET_DEPTH = 5;
    uint256 internal constant MAX_INPUTS = 6;

    struct Proof {
        bytes32 nodesRoot;
        uint256 nodeCount;
        uint256 slotDepth;
        bytes32 kernelSetRoot;
        NodeDef node;
        bytes32[] nodeSiblings;
        bytes32 codeRoot;
        bytes32[] kernelSiblings;
        bytes32[] inputRoots;
        bytes32[][] inputSiblings;
        bytes32[] outputSiblings;
    }

    /// @dev The check behind `verifyLink` (see `ILinkVerifier`).
    function _verify(Link memory link, bytes calldata proof)
        internal pure override returns (bytes32 subStart, bytes32 subContext)
    {
        Proof memory p = abi.decode(proof, (Proof));
        bytes32 expected = keccak256(abi.encode(p.nodesRoot, p.nodeCount, p.slotDepth, p.kernelSetRoot));
        if (expected != link.context) revert ContextMismatch(link.context, expected);
        _checkNode(p, link.index);
        _checkInputs(p, link.agreedPre);
        bytes32 empty = VmMemoryTree.zeroHashes()[VmMemoryTree.TENSOR_LEVEL];
        _checkSlotProof(p.node.output, p.slotDepth, p.outputSiblings);
        if (VmMemoryTree.fold(empty, p.node.output, p.outputSiblings) != link.agreedPre) {
            revert OutputSlotNotEmpty(p.node.output);
        }
        bytes32 post = VmMemoryTree.fold(link.subEnd, p.node.output, p.outputSiblings);
        if (post != link.claimedPost) revert TileEndMismatch(link.claimedPost, post);
        NodeDef memory node = p.node;
        if (node.tileElems == 0 || node.outElems == 0) revert BadTiling(node.tileElems, node.outElems);
        uint256 tiles = (node.outElems + node.tileElems - 1) / node.tileElems;
        if (link.subLength != tiles) revert TileCountMismatch(tiles, link.subLength);
        subStart = empty;
        subContext = keccak256(
            abi.encode(p.codeRoot, node.attrsHash, p.inputRoots, node.tileElems, node.outElems, node.vmDepth)
        );
    }

    function _checkNode(Proof memory p, uint256 index) private pure {
        if (index >= p.nodeCount) revert NodeIndexOutOfRange(index, p.nodeCount);
        uint256 depth = _depthFor(p.nodeCount);
        if (p.nodeSiblings.length != depth) revert ProofLength(depth, p.nodeSiblings.length);
        if (VmMemoryTree.fold(keccak256(abi.encode(p.node)), index, p.nodeSiblings) != p.nodesRoot) {
            revert NodeNotInGraph(index);
        }
        if (p.kernelSiblings.length != KERNEL_SET_DEPTH) revert ProofLength(KERNEL_SET_DEPTH, p.kernelSiblings.length);
        bool inSet = p.node.opId >> KERNEL_SET_DEPTH == 0
            && VmMemoryTree.fold(p.codeRoot, p.node.opId, p.kernelSiblings) == p.kernelSetRoot;
        if (!inSet) {
            revert KernelNotInSet(p.node.opId);
        }
    }

    function _checkInputs(Proof memory p, bytes32 agreedPre) private pure {
        uint256 count = p.node.inputs.length;
        if (count > MAX_INPUTS) revert InputCountMismatch(MAX_INPUTS, count);
        if (p.inputRoots.length != count) revert InputCountMismatch(count, p.inputRoots.length);
        if (p.inputSiblings.length != count) revert InputCountMismatch(count, p.inputSiblings.length);
        for (uint256 i = 0; i < count; i++) {
            uint256 slot = p.node.inputs[i];
            _checkSlotProof(slot, p.slotDepth, p.inputSiblings[i]);
            if (VmMemoryTree.fold(p.inputRoots[i], slot, p.inputSiblings[i]) != agreedPre) revert InputNotInState(i, slot);
        }
    }

    function _checkSlotProof(uint256 slot, uint256 depth, bytes32[] memory siblings) private pure {
        if (siblings.length != depth) revert ProofLength(depth, siblings.length);
        if (depth < 256 && slot >> depth != 0) revert SlotOutOfRange(slot, depth);
    }

    /// @notice The smallest depth whose tree holds `count` leaves.
    function _depthFor(uint256 count) private pure returns (uint256 depth) {
        while ((uint256(1) << depth) < count) depth++;
    }
}
