// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice What the graph root commits about one node (docs/levels.md "Commitments"); leaf = keccak256(abi.encode(node)).
struct NodeDef {
    uint256 opId;
    uint256[] inputs;
    uint256 output;
    bytes32 attrsHash;
    uint256 tileElems;
    uint256 outElems;
    uint256 vmDepth;
}

/// @notice Merkle folds, region roots and the VM's initial state from region roots, exactly as
/// `opml.levels.{merkle,commitments,vmstart}` compute them (docs/vm.md memory tree, docs/levels.md).
library LevelsLib {
    uint256 internal constant TREE_DEPTH = 27;
    uint256 internal constant TENSOR_LOG2 = 28;
    uint256 internal constant TENSOR_LEVEL = 23;
    uint256 internal constant SMALL_LEVEL = 15; // CODE and PARAMS: 2^20-byte regions
    uint256 internal constant PARAMS_LOG2 = 20;
    uint256 internal constant OUTPUT_INDEX = 8; // 0x8000_0000 >> 28
    uint32 internal constant CODE_BASE = 0x0010_0000;
    uint32 internal constant STACK_TOP = 0xEFFF_FFF0;
    uint256 internal constant STATE_SIZE = 186;

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

    /// @notice The root `leaf` at `index` hashes to with these bottom-up siblings.
    function fold(bytes32 leaf, uint256 index, bytes32[] memory siblings) internal pure returns (bytes32 node) {
        node = leaf;
        for (uint256 h = 0; h < siblings.length; h++) {
            node = (index >> h) & 1 == 1 ? hashPair(siblings[h], node) : hashPair(node, siblings[h]);
        }
    }

    /// @notice Root of an aligned 2^log2Size-byte region holding `data` at its base, zero padded (6 <= log2Size <= 32).
    function regionRoot(bytes memory data, uint256 log2Size, bytes32[28] memory z) internal pure returns (bytes32) {
        uint256 top = log2Size - 5;
        if (data.length == 0) return z[top];
        uint256 count = (data.length + 63) / 64;
        bytes memory padded = new bytes(count * 64);
        for (uint256 i = 0; i < data.length; i++) {
            padded[i] = data[i];
        }
        bytes32[] memory nodes = new bytes32[](count);
        for (uint256 i = 0; i < count; i++) {
            bytes32 h;
            assembly ("memory-safe") {
                h := keccak256(add(add(padded, 0x20), mul(i, 0x40)), 0x40)
            }
            nodes[i] = h;
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

    /// @notice The tensor commitment: the 2^28-byte region root of the tensor's bytes.
    function tensorCommitment(bytes memory data) internal pure returns (bytes32) {
        return regionRoot(data, TENSOR_LOG2, zeroHashes());
    }

    /// @notice Root of [0, 2^28): CODE at level-15 index 1, PARAMS at index 2, the rest zero.
    function lowRegionRoot(bytes32 codeRoot, bytes32 paramsRoot, bytes32[28] memory z) internal pure returns (bytes32 node) {
        node = hashPair(hashPair(z[SMALL_LEVEL], codeRoot), hashPair(paramsRoot, z[SMALL_LEVEL]));
        for (uint256 h = SMALL_LEVEL + 2; h < TENSOR_LEVEL; h++) {
            node = hashPair(node, z[h]);
        }
    }

    /// @notice The memory root of a kernel run's initial state from its region roots (opml.levels.vmstart).
    function initialMemoryRoot(bytes32 codeRoot, bytes32 paramsRoot, bytes32[] memory inputRoots, bytes32 outputRoot)
        internal pure returns (bytes32)
    {
        bytes32[28] memory z = zeroHashes();
        bytes32[] memory nodes = new bytes32[](16);
        for (uint256 i = 0; i < 16; i++) {
            nodes[i] = z[TENSOR_LEVEL];
        }
        nodes[0] = lowRegionRoot(codeRoot, paramsRoot, z);
        for (uint256 i = 0; i < inputRoots.length; i++) {
            nodes[i + 1] = inputRoots[i];
        }
        nodes[OUTPUT_INDEX] = outputRoot;
        for (uint256 width = 8; width >= 1; width /= 2) {
            for (uint256 j = 0; j < width; j++) {
                nodes[j] = hashPair(nodes[2 * j], nodes[2 * j + 1]);
            }
        }
        return nodes[0];
    }

    /// @notice keccak256 of the packed initial state: memRoot, pc = CODE_BASE, nextPC = pc + 4, $sp = STACK_TOP.
    function initialStateHash(bytes32 memRoot) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(
            memRoot, CODE_BASE, CODE_BASE + 4, uint64(0), uint64(0), uint16(0), new bytes(116), STACK_TOP, uint64(0)
        ));
    }

    /// @notice The PARAMS region root of one tile: header words first, end (little-endian) then the attributes.
    function tileParamsRoot(bytes memory attrs, uint256 first, uint256 end) internal pure returns (bytes32) {
        bytes memory params = abi.encodePacked(le32(first), le32(end), attrs);
        return regionRoot(params, PARAMS_LOG2, zeroHashes());
    }

    function le32(uint256 v) internal pure returns (bytes4) {
        uint32 x = uint32(v);
        return bytes4((x >> 24) | ((x >> 8) & 0xFF00) | ((x << 8) & 0xFF0000) | (x << 24));
    }
}
