// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {VmMemoryTree} from "../VmMemoryTree.sol";

/// @notice What the graph root commits about one node (docs/levels.md "Commitments").
/// Its leaf in the node tree is keccak256(abi.encode(node)).
struct NodeDef {
    uint256 opId;
    uint256[] inputs;
    uint256 output;
    bytes32 attrsHash;
    uint256 tileElems;
    uint256 outElems;
    uint256 vmDepth;
}

/// @notice The ML levels' own encodings on top of VmMemoryTree (docs/levels.md): the tensor commitment and the
/// PARAMS region root of one tile, exactly as `opml.levels.{commitments,vmstart}` compute them.
library LevelsLib {
    /// @notice The tensor commitment: the 2^28-byte region root of the tensor's bytes.
    function tensorCommitment(bytes calldata data) internal pure returns (bytes32) {
        return VmMemoryTree.regionRootCalldata(data, VmMemoryTree.TENSOR_LOG2, VmMemoryTree.zeroHashes());
    }

    /// @notice The PARAMS region root of one tile: header words first, end (little-endian) then the attributes.
    function tileParamsRoot(bytes memory attrs, uint256 first, uint256 end) internal pure returns (bytes32) {
        bytes memory params = abi.encodePacked(le32(first), le32(end), attrs);
        return VmMemoryTree.regionRoot(params, VmMemoryTree.PARAMS_LOG2, VmMemoryTree.zeroHashes());
    }

    /// @notice A sibling list has the wrong number of entries for its tree.
    error ProofLength(uint256 expected, uint256 got);
    /// @notice A tensor slot does not fit the slot tree of depth `slotDepth`.
    error SlotOutOfRange(uint256 slot, uint256 slotDepth);

    /// @notice Reverts unless `siblings` is a path of the slot tree of depth `depth` and `slot` one of its leaves.
    function checkSlotProof(uint256 slot, uint256 depth, bytes32[] memory siblings) internal pure {
        if (siblings.length != depth) revert ProofLength(depth, siblings.length);
        if (depth < 256 && slot >> depth != 0) revert SlotOutOfRange(slot, depth);
    }

    /// @notice The packed final VM state is not 186 bytes.
    error BadFinalState(uint256 length);
    /// @notice The packed final VM state does not hash to the VM trace's claimed end.
    error FinalStateMismatch(bytes32 expected, bytes32 got);
    /// @notice The final VM state has not exited with code 0 (still running, faulted or a non-zero exit).
    error VmDidNotExit(uint8 status, uint8 exitCode);
    /// @notice The claimed tile state, as the OUTPUT region root, does not fold to the final state's memory root.
    error OutputRootMismatch(bytes32 expected, bytes32 got);

    /// @notice Reverts unless `finalState` is a packed 186-byte VM state that hashes to `subEnd`, has exited with
    /// code 0, and whose OUTPUT region root is `outputRoot` (folded with `outputSiblings`, levels 23..26 bottom up,
    /// it gives the state's memory root). The end check of every VM level (docs/levels.md "Link checks").
    function checkFinalState(bytes memory finalState, bytes32 subEnd, bytes32 outputRoot, bytes32[] memory outputSiblings)
        internal
        pure
    {
        if (finalState.length != VmMemoryTree.STATE_SIZE) revert BadFinalState(finalState.length);
        bytes32 stateHash = keccak256(finalState);
        if (stateHash != subEnd) revert FinalStateMismatch(subEnd, stateHash);
        (uint8 status, uint8 exitCode) = VmMemoryTree.exitOf(finalState);
        if (status != 1 || exitCode != 0) revert VmDidNotExit(status, exitCode);
        bytes32 memRoot = VmMemoryTree.memoryRootOf(finalState);
        if (outputSiblings.length != VmMemoryTree.OUTPUT_PROOF_DEPTH) {
            revert ProofLength(VmMemoryTree.OUTPUT_PROOF_DEPTH, outputSiblings.length);
        }
        bytes32 folded = VmMemoryTree.fold(outputRoot, VmMemoryTree.OUTPUT_INDEX, outputSiblings);
        if (folded != memRoot) revert OutputRootMismatch(memRoot, folded);
    }

    function le32(uint256 v) internal pure returns (bytes4) {
        uint32 x = uint32(v);
        return bytes4((x >> 24) | ((x >> 8) & 0xFF00) | ((x << 8) & 0xFF0000) | (x << 24));
    }
}
