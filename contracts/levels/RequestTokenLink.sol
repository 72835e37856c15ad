// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ILinkVerifier, Link} from "../interfaces/ILinkVerifier.sol";
import {AnchorMismatch, OutputNotInEndState} from "./LevelsErrors.sol";
import {CacheCountMismatch, LlmGraph, LlmLevelsLib} from "./LlmLevelsLib.sol";
import {VmMemoryTree} from "../VmMemoryTree.sol";

/// @notice Opens the token level of a generation request (docs/levels.md "Generation requests"): the proof
/// reopens the anchor (the LLM graph, constants and kernel set roots and the request's input bytes); the token
/// trace has P + N − 1 transitions (one per decode step); S_0 is the empty token state (step 0, last token 0,
/// every cache the empty tensor, nothing generated); the claimed end state, given its last token and caches, has
/// the output commitment as its generated chain. The level's context stays the anchor.
contract RequestTokenLink is ILinkVerifier {
    struct Proof {
        LlmGraph graph;
        bytes32 constantsRoot;
        bytes32 kernelSetRoot;
        bytes input;
        uint256 endLastToken;
        bytes32[] endCaches;
    }

    /// @notice The token trace's claimed length is not the request's P + N − 1 decode steps.
    error TokenLengthMismatch(uint256 expected, uint256 got);

    /// @inheritdoc ILinkVerifier
    function verifyLink(Link calldata link, bytes calldata proof)
        external pure returns (bytes32 subStart, bytes32 subContext)
    {
        Proof memory p = abi.decode(proof, (Proof));
        if (link.agreedPre != link.context) revert AnchorMismatch(link.context, link.agreedPre);
        bytes32 anchor = LlmLevelsLib.anchorOf(p.graph, p.constantsRoot, p.kernelSetRoot, p.input);
        if (anchor != link.agreedPre) revert AnchorMismatch(link.agreedPre, anchor);
        (uint256 promptLength, uint256 newTokens) = LlmLevelsLib.shapeOf(p.input);
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
}
