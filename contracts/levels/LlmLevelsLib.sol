// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {VmMemoryTree} from "../VmMemoryTree.sol";

/// @notice What an LLM's graph root commits (docs/levels.md "Generation requests"): the decode-step graph's node
/// tree and slot tree depth, its named input and output slots (the caches layer by layer, K before V) and the
/// model's context and vocabulary. graphRoot = keccak256(abi.encode(graph)).
struct LlmGraph {
    bytes32 nodesRoot;
    uint256 nodeCount;
    uint256 slotDepth;
    uint256 tokenSlot;
    uint256 positionSlot;
    uint256 samplingSlot;
    uint256 nextTokenSlot;
    uint256[] cacheSlots;
    uint256[] cacheOutSlots;
    uint256 ctx;
    uint256 vocab;
}

/// @notice A list of cache commitments, slots or paths is not as long as the LLM graph's cache list.
error CacheCountMismatch(uint256 expected, uint256 got);

/// @notice The encodings of a generation's levels, exactly as `opml.levels.llm_commitment` computes them: the
/// request input's layout, the token state hash, the generated-token chain and the tensor commitment of a word.
library LlmLevelsLib {
    uint256 internal constant HEADER_BYTES = 16;

    /// @notice A generation request's input bytes are shorter than a header and one prompt token or not whole u32
    /// words (GenerationCommitment rejects such requests, so no anchor has them).
    error MalformedGeneration(uint256 length);

    /// @notice The prompt length P and the number of new tokens N of a generation request's input bytes (a header
    /// of HEADER_BYTES whose first u32 is N, then the P prompt tokens as u32 words).
    function shapeOf(bytes memory input) internal pure returns (uint256 promptLength, uint256 newTokens) {
        if (input.length < HEADER_BYTES + 4 || input.length % 4 != 0) revert MalformedGeneration(input.length);
        return ((input.length - HEADER_BYTES) / 4, u32At(input, 0));
    }

    /// @notice The anchor of a generation request: the ML anchor with keccak256(input) as the input commitment.
    function anchorOf(LlmGraph memory graph, bytes32 constantsRoot, bytes32 kernelSetRoot, bytes memory input)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(keccak256(abi.encode(graph)), constantsRoot, kernelSetRoot, keccak256(input)));
    }

    /// @notice S_t = keccak256(abi.encode(t, lastToken, keccak256(abi.encode(caches)), generated)).
    function tokenState(uint256 step, uint256 lastToken, bytes32[] memory caches, bytes32 generated)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(step, lastToken, keccak256(abi.encode(caches)), generated));
    }

    /// @notice The generated-token chain with `token` appended.
    function appendToken(bytes32 generated, uint256 token) internal pure returns (bytes32) {
        return keccak256(abi.encode(generated, token));
    }

    /// @notice The little-endian u32 at byte `offset` of `data`.
    function u32At(bytes memory data, uint256 offset) internal pure returns (uint256 v) {
        for (uint256 i = 0; i < 4; i++) {
            v |= uint256(uint8(data[offset + i])) << (8 * i);
        }
    }

    /// @notice The tensor commitment of the little-endian bytes of one u32 (a token, a position).
    function wordTensor(uint256 value) internal pure returns (bytes32) {
        return tensorOf(abi.encodePacked(le32(value)));
    }

    /// @notice The tensor commitment (2^28-byte region root) of `data`.
    function tensorOf(bytes memory data) internal pure returns (bytes32) {
        return VmMemoryTree.regionRoot(data, VmMemoryTree.TENSOR_LOG2, VmMemoryTree.zeroHashes());
    }

    /// @notice The decode step's `sampling` input bytes: keccak256(input)[0:8] (the seed, LE) ‖ input[4:8] (the
    /// temperature) ‖ four zero bytes.
    function samplingBytes(bytes memory input) internal pure returns (bytes memory) {
        bytes32 h = keccak256(input);
        return abi.encodePacked(bytes8(h), input[4], input[5], input[6], input[7], bytes4(0));
    }

    function le32(uint256 v) internal pure returns (bytes4) {
        uint32 x = uint32(v);
        return bytes4((x >> 24) | ((x >> 8) & 0xFF00) | ((x << 8) & 0xFF0000) | (x << 24));
    }
}
