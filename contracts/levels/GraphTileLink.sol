// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ILinkVerifier, Link} from "../interfaces/ILinkVerifier.sol";
import {ContextMismatch, InputCountMismatch} from "./LevelsErrors.sol";
import {VmMemoryTree} from "../VmMemoryTree.sol";
import {LevelsLib, NodeDef} from "./LevelsLib.sol";

/// @notice Opens the tile level of graph node `index` (docs/levels.md): the node is in the graph, its kernel in
/// the kernel set, its input roots in the agreed S_index and its output slot empty there; the tile trace starts
/// from the empty tensor and its claimed end, put in the output slot with the same path, gives the claimed
/// S_{index+1} (so every other slot is unchanged).
contract GraphTileLink is ILinkVerifier {
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

    /// @inheritdoc ILinkVerifier
    function verifyLink(Link calldata link, bytes calldata proof)
        external pure returns (bytes32 subStart, bytes32 subContext)
    {
        Proof memory p = abi.decode(proof, (Proof));
        bytes32 expected = keccak256(abi.encode(p.nodesRoot, p.nodeCount, p.slotDepth, p.kernelSetRoot));
        if (expected != link.context) revert ContextMismatch(link.context, expected);
        _checkNode(p, link.index);
        _checkInputs(p, link.agreedPre);
        bytes32 empty = VmMemoryTree.zeroHashes()[VmMemoryTree.TENSOR_LEVEL];
        _checkOutput(p, link, empty);
        NodeDef memory node = p.node;
        uint256 tiles = _tileCount(node);
        if (link.subLength != tiles) revert TileCountMismatch(tiles, link.subLength);
        subStart = empty;
        subContext = keccak256(
            abi.encode(p.codeRoot, node.attrsHash, p.inputRoots, node.tileElems, node.outElems, node.vmDepth)
        );
    }

    /// @notice The opened graph transition is past the last node.
    error NodeIndexOutOfRange(uint256 index, uint256 nodeCount);
    /// @notice The node leaf is not at its index in the graph's node tree.
    error NodeNotInGraph(uint256 index);
    /// @notice The kernel code root is not the leaf `opId` of the model's kernel set.
    error KernelNotInSet(uint256 opId);

    function _checkNode(Proof memory p, uint256 index) private pure {
        if (index >= p.nodeCount) revert NodeIndexOutOfRange(index, p.nodeCount);
        uint256 depth = _depthFor(p.nodeCount);
        if (p.nodeSiblings.length != depth) revert LevelsLib.ProofLength(depth, p.nodeSiblings.length);
        if (VmMemoryTree.fold(keccak256(abi.encode(p.node)), index, p.nodeSiblings) != p.nodesRoot) {
            revert NodeNotInGraph(index);
        }
        if (p.kernelSiblings.length != KERNEL_SET_DEPTH) revert LevelsLib.ProofLength(KERNEL_SET_DEPTH, p.kernelSiblings.length);
        bool inSet = p.node.opId >> KERNEL_SET_DEPTH == 0
            && VmMemoryTree.fold(p.codeRoot, p.node.opId, p.kernelSiblings) == p.kernelSetRoot;
        if (!inSet) {
            revert KernelNotInSet(p.node.opId);
        }
    }

    /// @notice An input root of the node is not in its slot of the agreed graph state.
    error InputNotInState(uint256 position, uint256 slot);

    function _checkInputs(Proof memory p, bytes32 agreedPre) private pure {
        uint256 count = p.node.inputs.length;
        if (count > MAX_INPUTS) revert InputCountMismatch(MAX_INPUTS, count);
        if (p.inputRoots.length != count) revert InputCountMismatch(count, p.inputRoots.length);
        if (p.inputSiblings.length != count) revert InputCountMismatch(count, p.inputSiblings.length);
        for (uint256 i = 0; i < count; i++) {
            uint256 slot = p.node.inputs[i];
            LevelsLib.checkSlotProof(slot, p.slotDepth, p.inputSiblings[i]);
            if (VmMemoryTree.fold(p.inputRoots[i], slot, p.inputSiblings[i]) != agreedPre) revert InputNotInState(i, slot);
        }
    }

    /// @notice The node's output slot is not empty in the agreed graph state before the node runs.
    error OutputSlotNotEmpty(uint256 slot);
    /// @notice The tile trace's end, put in the node's output slot, does not give the claimed graph state.
    error TileEndMismatch(bytes32 expected, bytes32 got);

    /// @notice The node's output slot is empty (`empty`) in the agreed S_index, and the tile trace's claimed end put
    /// there (same path) gives the claimed S_{index+1}.
    function _checkOutput(Proof memory p, Link calldata link, bytes32 empty) private pure {
        LevelsLib.checkSlotProof(p.node.output, p.slotDepth, p.outputSiblings);
        if (VmMemoryTree.fold(empty, p.node.output, p.outputSiblings) != link.agreedPre) {
            revert OutputSlotNotEmpty(p.node.output);
        }
        bytes32 post = VmMemoryTree.fold(link.subEnd, p.node.output, p.outputSiblings);
        if (post != link.claimedPost) revert TileEndMismatch(link.claimedPost, post);
    }

    /// @notice The node's tile size is zero, so its output cannot be tiled.
    error BadTiling(uint256 tileElems, uint256 outElems);
    /// @notice The tile trace's claimed length is not the node's tile count.
    error TileCountMismatch(uint256 expected, uint256 got);

    /// @notice The number of tiles of the node's output: ceil(outElems / tileElems), the tile trace's length.
    function _tileCount(NodeDef memory node) private pure returns (uint256) {
        if (node.tileElems == 0 || node.outElems == 0) revert BadTiling(node.tileElems, node.outElems);
        return (node.outElems + node.tileElems - 1) / node.tileElems;
    }

    /// @notice The smallest depth whose tree holds `count` leaves.
    function _depthFor(uint256 count) private pure returns (uint256 depth) {
        while ((uint256(1) << depth) < count) depth++;
    }
}
