// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Memory-tree arithmetic of docs/vm.md for the fixed memory map of services/opml/vm/layout.py, shared by
/// the single-kernel VM stack (VmCommitment, VmLinkVerifier) and the ML levels (contracts/levels): hash pairs, zero
/// subtrees, region roots of byte strings, Merkle folds, the initial memory root of a kernel run from its region
/// roots and the initial state the ELF loader leaves. The Python twin is `opml.kernels.vmstart`.
library VmMemoryTree {
    uint256 internal constant TREE_DEPTH = 27; // levels above the 32-byte leaves
    uint256 internal constant CODE_BASE = 0x00100000; // CODE: 2^20 bytes; the ELF entry point is its base
    uint256 internal constant PARAMS_LOG2 = 20; // PARAMS at 0x00200000
    uint256 internal constant SMALL_LEVEL = 15; // CODE and PARAMS are level-15 nodes inside the level-23 node 0
    uint256 internal constant TENSOR_LOG2 = 28; // INPUTS[i] at 0x10000000 * (i + 1), OUTPUT at 0x80000000
    uint256 internal constant TENSOR_LEVEL = 23; // a tensor region's root is a level-23 node
    uint256 internal constant INPUT_COUNT = 6;
    uint256 internal constant OUTPUT_INDEX = 8; // OUTPUT.base >> TENSOR_LOG2
    uint256 internal constant OUTPUT_PROOF_DEPTH = 4; // siblings of the OUTPUT region at levels 23..26
    uint32 internal constant STACK_TOP = 0xEFFFFFF0; // STACK.end - 16: the loader's $sp
    uint256 internal constant STATE_SIZE = 186;

    /// @notice keccak256(a ‖ b), hashed in the scratch space.
    function hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, a)
            mstore(0x20, b)
            h := keccak256(0x00, 0x40)
        }
    }

    /// @notice Z[h] = root of an all-zero subtree at level h, for h = 0..27.
    function zeroHashes() internal pure returns (bytes32[28] memory z) {
        for (uint256 h = 1; h <= TREE_DEPTH; h++) {
            z[h] = hashPair(z[h - 1], z[h - 1]);
        }
    }

    /// @notice Root of an aligned 2^log2Size-byte region holding `data` at its base, zero padded
    /// (6 <= log2Size <= 32, data no longer than the region; callers check the length).
    function regionRoot(bytes memory data, uint256 log2Size, bytes32[28] memory z) internal pure returns (bytes32) {
        if (data.length == 0) return z[log2Size - 5];
        bytes memory padded = new bytes((data.length + 63) / 64 * 64); // zero filled
        assembly ("memory-safe") {
            mcopy(add(padded, 0x20), add(data, 0x20), mload(data))
        }
        return _rootOfPadded(padded, log2Size - 5, z);
    }

    /// @notice `regionRoot` of calldata bytes (copied once, straight into the padded buffer).
    function regionRootCalldata(bytes calldata data, uint256 log2Size, bytes32[28] memory z)
        internal
        pure
        returns (bytes32)
    {
        if (data.length == 0) return z[log2Size - 5];
        bytes memory padded = new bytes((data.length + 63) / 64 * 64); // zero filled
        assembly ("memory-safe") {
            calldatacopy(add(padded, 0x20), data.offset, data.length)
        }
        return _rootOfPadded(padded, log2Size - 5, z);
    }

    /// @dev Root at level `top` of the subtree whose first leaves are `padded` (a multiple of 64 bytes, non-empty),
    /// the rest zero.
    function _rootOfPadded(bytes memory padded, uint256 top, bytes32[28] memory z) private pure returns (bytes32) {
        uint256 count = padded.length / 64;
        bytes32[] memory nodes = new bytes32[](count);
        assembly ("memory-safe") {
            let base := add(padded, 0x20)
            let out := add(nodes, 0x20)
            for { let i := 0 } lt(i, count) { i := add(i, 1) } {
                mstore(add(out, mul(i, 0x20)), keccak256(add(base, mul(i, 0x40)), 0x40))
            }
        }
        for (uint256 level = 1; level < top; level++) {
            uint256 next = (count + 1) / 2;
            for (uint256 j = 0; j < next; j++) {
                bytes32 right = 2 * j + 1 < count ? nodes[2 * j + 1] : z[level];
                nodes[j] = hashPair(nodes[2 * j], right);
            }
            count = next;
        }
        return nodes[0];
    }

    /// @notice The root that `leaf` at `index` hashes to with these bottom-up siblings.
    function fold(bytes32 leaf, uint256 index, bytes32[] memory siblings) internal pure returns (bytes32 node) {
        node = leaf;
        for (uint256 h = 0; h < siblings.length; h++) {
            node = (index >> h) & 1 == 1 ? hashPair(siblings[h], node) : hashPair(node, siblings[h]);
        }
    }

    /// @notice Memory root of a kernel run's initial state from its region roots: CODE, PARAMS, INPUTS[0..n) and
    /// OUTPUT at their places, every other region (scratch, stack, unused inputs) empty. A single-kernel request
    /// starts with an empty OUTPUT (`z[TENSOR_LEVEL]`); a tile run with the agreed tile state there.
    function initialMemoryRoot(
        bytes32 codeRoot,
        bytes32 paramsRoot,
        bytes32[] memory inputRoots,
        bytes32 outputRoot,
        bytes32[28] memory z
    ) internal pure returns (bytes32) {
        // Level 15 (1 MiB nodes) inside the first 256 MiB: [empty, CODE, PARAMS, empty, empty...].
        bytes32 low = hashPair(hashPair(z[SMALL_LEVEL], codeRoot), hashPair(paramsRoot, z[SMALL_LEVEL]));
        for (uint256 h = SMALL_LEVEL + 2; h < TENSOR_LEVEL; h++) {
            low = hashPair(low, z[h]);
        }
        // Level 23 (256 MiB nodes): [low, INPUTS 0..5, empty, OUTPUT, empty, SCRATCH, ..., STACK, empty].
        bytes32[16] memory nodes;
        nodes[0] = low;
        for (uint256 i = 1; i < 16; i++) {
            nodes[i] = i <= inputRoots.length ? inputRoots[i - 1] : z[TENSOR_LEVEL];
        }
        nodes[OUTPUT_INDEX] = outputRoot;
        for (uint256 width = 8; width >= 1; width /= 2) {
            for (uint256 j = 0; j < width; j++) {
                nodes[j] = hashPair(nodes[2 * j], nodes[2 * j + 1]);
            }
        }
        return nodes[0];
    }

    /// @notice keccak256 of the packed state the ELF loader leaves: memRoot, pc = CODE_BASE, nextPC = pc + 4,
    /// $sp = STACK_TOP, every other field and register zero (docs/vm.md "Packed encoding").
    function initialStateHash(bytes32 memRoot) internal pure returns (bytes32) {
        // lo, hi, step, status, exitCode (18 bytes) and regs[0..28] (116 bytes) are zero; then $sp, $fp, $ra.
        return keccak256(
            abi.encodePacked(
                memRoot, uint32(CODE_BASE), uint32(CODE_BASE + 4), new bytes(134), STACK_TOP, bytes8(0)
            )
        );
    }

    /// @notice The memory root of a packed 186-byte state (its first word).
    function memoryRootOf(bytes memory state) internal pure returns (bytes32 memRoot) {
        assembly ("memory-safe") {
            memRoot := mload(add(state, 0x20))
        }
    }

    /// @notice (status, exitCode) of a packed 186-byte state.
    function exitOf(bytes memory state) internal pure returns (uint8 status, uint8 exitCode) {
        return (uint8(state[56]), uint8(state[57]));
    }
}
