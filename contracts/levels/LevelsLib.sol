// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {VmMemoryTree} from "../VmCommitment.sol";

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

/// @notice Merkle folds, region roots of memory bytes and the VM's initial memory root from region roots (with
/// the OUTPUT region holding a tile state), exactly as `opml.levels.{merkle,commitments,vmstart}` compute them
/// (docs/vm.md memory tree, docs/levels.md). The memory-tree primitives are VmMemoryTree's.
library LevelsLib {
    uint256 internal constant TENSOR_LOG2 = 28;
    uint256 internal constant TENSOR_LEVEL = 23;
    uint256 internal constant SMALL_LEVEL = 15; // CODE and PARAMS: 2^20-byte regions
    uint256 internal constant PARAMS_LOG2 = 20;
    uint256 internal constant OUTPUT_INDEX = 8; // 0x8000_0000 >> 28
    uint256 internal constant STATE_SIZE = 186;

    /// @notice The root `leaf` at `index` hashes to with these bottom-up siblings.
    function fold(bytes32 leaf, uint256 index, bytes32[] memory siblings) internal pure returns (bytes32 node) {
        node = leaf;
        for (uint256 h = 0; h < siblings.length; h++) {
            node = (index >> h) & 1 == 1 ? _pair(siblings[h], node) : _pair(node, siblings[h]);
        }
    }

    /// @notice Root of an aligned 2^log2Size-byte region holding `data` at its base, zero padded (6 <= log2Size <= 32).
    function regionRoot(bytes memory data, uint256 log2Size, bytes32[28] memory z) internal pure returns (bytes32) {
        uint256 top = log2Size - 5;
        if (data.length == 0) return z[top];
        uint256 count = (data.length + 63) / 64;
        bytes memory padded = new bytes(count * 64); // zero filled
        assembly ("memory-safe") {
            mcopy(add(padded, 0x20), add(data, 0x20), mload(data))
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
                nodes[j] = _pair(nodes[2 * j], right);
            }
            count = next;
        }
        return nodes[0];
    }

    /// @notice The tensor commitment: the 2^28-byte region root of the tensor's bytes.
    function tensorCommitment(bytes memory data) internal pure returns (bytes32) {
        return regionRoot(data, TENSOR_LOG2, VmMemoryTree.zeroHashes());
    }

    /// @notice Root of [0, 2^28): CODE at level-15 index 1, PARAMS at index 2, the rest zero.
    function lowRegionRoot(bytes32 codeRoot, bytes32 paramsRoot, bytes32[28] memory z)
        internal pure returns (bytes32 node)
    {
        node = _pair(_pair(z[SMALL_LEVEL], codeRoot), _pair(paramsRoot, z[SMALL_LEVEL]));
        for (uint256 h = SMALL_LEVEL + 2; h < TENSOR_LEVEL; h++) {
            node = _pair(node, z[h]);
        }
    }

    /// @notice The memory root of a kernel run's initial state from its region roots (opml.levels.vmstart).
    function initialMemoryRoot(bytes32 codeRoot, bytes32 paramsRoot, bytes32[] memory inputRoots, bytes32 outputRoot)
        internal pure returns (bytes32)
    {
        bytes32[28] memory z = VmMemoryTree.zeroHashes();
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
                nodes[j] = _pair(nodes[2 * j], nodes[2 * j + 1]);
            }
        }
        return nodes[0];
    }

    /// @notice The PARAMS region root of one tile: header words first, end (little-endian) then the attributes.
    function tileParamsRoot(bytes memory attrs, uint256 first, uint256 end) internal pure returns (bytes32) {
        bytes memory params = abi.encodePacked(le32(first), le32(end), attrs);
        return regionRoot(params, PARAMS_LOG2, VmMemoryTree.zeroHashes());
    }

    function _pair(bytes32 a, bytes32 b) private pure returns (bytes32) {
        return VmMemoryTree.hashPair(a, b);
    }

    function le32(uint256 v) internal pure returns (bytes4) {
        uint32 x = uint32(v);
        return bytes4((x >> 24) | ((x >> 8) & 0xFF00) | ((x << 8) & 0xFF0000) | (x << 24));
    }
}
