// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Link, LinkVerifier} from "../LinkVerifier.sol";
import {LevelsErrors} from "./LevelsErrors.sol";
import {LlmGraph, LlmLevelsLib} from "./LlmLevelsLib.sol";
import {VmMemoryTree} from "../VmMemoryTree.sol";

/// @notice Opens the token level of a generation request (docs/levels.md "Generation requests"): the proof
/// reopens the anchor (the LLM graph, constants and kernel set roots and the request's input bytes); the token
/// trace has P + N − 1 transitions (one per decode step); S_0 is the empty token state (step 0, last token 0,
/// every cache the empty tensor, nothing generated); the claimed end state, given its last token and caches, has
/// the output commitment as its generated chain. The level's context stays the anchor.
contract RequestTokenLink is LinkVerifier, LevelsErrors {
    struct Proof {
        LlmGraph graph;
        bytes32 constantsRoot;
        bytes32 kernelSetRoot;
        bytes input;
        uint256 endLastToken;
        bytes32[] endCaches;
    }

    /// @dev The check behind `verifyLink` (see `ILinkVerifier`).
    function _verify(Link memory link, bytes calldata proof)
        internal pure override returns (bytes32 subStart, bytes32 subContext)
    {
        Proof memory p = abi.decode(proof, (Proof));
        if (link.agreedPre != link.context) revert AnchorMismatch(link.context, link.agreedPre);
        bytes32 anchor = LlmLevelsLib.anchorOf(p.graph, p.constantsRoot, p.kernelSetRoot, p.input);
        if (anchor != link.agreedPre) revert AnchorMismatch(link.agreedPre, anchor);
        (uint256 promptLength, uint256 newTokens) = _shape(p.input);
        uint256 steps = promptLength + newTokens - 1;
        if (link.subLength != steps) revert TokenLengthMismatch(steps, link.subLength);
        uint256 caches = p.graph.cacheSlots.length;
        if (p.graph.cacheOutSlots.length != caches) revert CacheCountMismatch(caches, p.graph.cacheOutSlots.length);
        if (p.endCaches.length != caches) revert CacheCountMismatch(caches, p.endCaches.length);
        bytes32 end = LlmLevelsLib.tokenState(steps, p.endLastToken, p.endCaches, link.claimedPost);
        if (end != link.subEnd) revert OutputNotInEndState(link.claimedPost, link.subEnd);
        bytes32[] memory empty = new bytes32[](caches);
        bytes32 zero = VmMemoryTree.zeroHashes()[VmMemoryTree.TENSOR_LEVEL];
        for (uint256 i = 0; i < caches; i++) {
            empty[i] = zero;
        }
        subStart = LlmLevelsLib.tokenState(0, 0, empty, bytes32(0));
        subContext = link.context;
    }

    function _shape(bytes memory input) private pure returns (uint256 promptLength, uint256 newTokens) {
        if (input.length < LlmLevelsLib.HEADER_BYTES + 4 || input.length % 4 != 0) {
            revert MalformedGeneration(input.length);
        }
        return ((input.length - LlmLevelsLib.HEADER_BYTES) / 4, LlmLevelsLib.u32At(input, 0));
    }
}
