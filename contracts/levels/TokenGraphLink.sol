// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ILinkVerifier, Link} from "../interfaces/ILinkVerifier.sol";
import {AnchorMismatch, GraphLengthMismatch, InputCountMismatch, InputSlotNotEmpty} from "./LevelsErrors.sol";
import {LevelsLib} from "./LevelsLib.sol";
import {CacheCountMismatch, LlmGraph, LlmLevelsLib} from "./LlmLevelsLib.sol";
import {VmMemoryTree} from "../VmMemoryTree.sol";

/// @notice Opens the graph level of decode step `index` of a generation (docs/levels.md "Generation requests").
/// From the agreed token state S_index (its preimage in the proof) and the request (the anchor's preimage, the
/// level's context) it derives the step graph's S_0: the constants tree with the token (the prompt's token at
/// `index` while there is one, else the state's last token), the position `index`, the sampling words (seed and
/// temperature of the request) and the state's caches placed in their slots, each slot empty before. The claimed
/// graph end must hold the claimed next token and cache outputs, and those must give the claimed S_{index+1}
/// (the token appended to the generated chain from step P − 1 on). The graph level's context is the one
/// GraphTileLink reopens.
contract TokenGraphLink is ILinkVerifier {
    struct Proof {
        LlmGraph graph;
        bytes32 constantsRoot;
        bytes32 kernelSetRoot;
        bytes input;
        uint256 lastToken;
        bytes32[] caches;
        bytes32 generated;
        bytes32[][] inputSiblings;
        uint256 nextToken;
        bytes32[] nextCaches;
        bytes32[] nextTokenSiblings;
        bytes32[][] cacheOutSiblings;
    }

    /// @notice The opened token transition is past the request's last decode step.
    error StepOutOfRange(uint256 index, uint256 steps);
    /// @notice The proof's token state does not hash to the agreed token root S_index.
    error TokenStateMismatch(bytes32 expected, bytes32 got);
    /// @notice The step graph's outputs do not give the claimed next token state S_{index+1}.
    error NextStateMismatch(bytes32 expected, bytes32 got);

    /// @inheritdoc ILinkVerifier
    function verifyLink(Link calldata link, bytes calldata proof)
        external pure returns (bytes32 subStart, bytes32 subContext)
    {
        Proof memory p = abi.decode(proof, (Proof));
        bytes32 anchor = LlmLevelsLib.anchorOf(p.graph, p.constantsRoot, p.kernelSetRoot, p.input);
        if (anchor != link.context) revert AnchorMismatch(link.context, anchor);
        (uint256 promptLength, uint256 newTokens) = LlmLevelsLib.shapeOf(p.input);
        uint256 steps = promptLength + newTokens - 1;
        uint256 t = link.index;
        if (t >= steps) revert StepOutOfRange(t, steps);
        _checkCacheCounts(p);
        bytes32 pre = LlmLevelsLib.tokenState(t, p.lastToken, p.caches, p.generated);
        if (pre != link.agreedPre) revert TokenStateMismatch(link.agreedPre, pre);
        if (link.subLength != p.graph.nodeCount) revert GraphLengthMismatch(p.graph.nodeCount, link.subLength);
        uint256 token = t < promptLength ? LlmLevelsLib.u32At(p.input, LlmLevelsLib.HEADER_BYTES + 4 * t) : p.lastToken;
        subStart = _start(p, token, t);
        _checkEnd(p, link.subEnd);
        bytes32 generated = t + 1 >= promptLength ? LlmLevelsLib.appendToken(p.generated, p.nextToken) : p.generated;
        bytes32 post = LlmLevelsLib.tokenState(t + 1, p.nextToken, p.nextCaches, generated);
        if (post != link.claimedPost) revert NextStateMismatch(link.claimedPost, post);
        subContext = keccak256(abi.encode(p.graph.nodesRoot, p.graph.nodeCount, p.graph.slotDepth, p.kernelSetRoot));
    }

    function _checkCacheCounts(Proof memory p) private pure {
        uint256 n = p.graph.cacheSlots.length;
        if (p.graph.cacheOutSlots.length != n) revert CacheCountMismatch(n, p.graph.cacheOutSlots.length);
        if (p.caches.length != n) revert CacheCountMismatch(n, p.caches.length);
        if (p.nextCaches.length != n) revert CacheCountMismatch(n, p.nextCaches.length);
    }

    /// @notice The step graph's S_0: the step's inputs placed into the constants tree one by one.
    function _start(Proof memory p, uint256 token, uint256 step) private pure returns (bytes32 root) {
        LlmGraph memory g = p.graph;
        uint256 count = 3 + g.cacheSlots.length;
        if (p.inputSiblings.length != count) revert InputCountMismatch(count, p.inputSiblings.length);
        bytes32 empty = VmMemoryTree.zeroHashes()[VmMemoryTree.TENSOR_LEVEL];
        root = p.constantsRoot;
        for (uint256 i = 0; i < count; i++) {
            (uint256 slot, bytes32 value) = _input(p, i, token, step);
            bytes32[] memory siblings = p.inputSiblings[i];
            LevelsLib.checkSlotProof(slot, g.slotDepth, siblings);
            if (VmMemoryTree.fold(empty, slot, siblings) != root) revert InputSlotNotEmpty(slot);
            root = VmMemoryTree.fold(value, slot, siblings);
        }
    }

    /// @notice Input `i` of the step in placing order: token, position, sampling, then the caches.
    function _input(Proof memory p, uint256 i, uint256 token, uint256 step)
        private
        pure
        returns (uint256 slot, bytes32 value)
    {
        if (i == 0) return (p.graph.tokenSlot, LlmLevelsLib.wordTensor(token));
        if (i == 1) return (p.graph.positionSlot, LlmLevelsLib.wordTensor(step));
        if (i == 2) return (p.graph.samplingSlot, LlmLevelsLib.tensorOf(LlmLevelsLib.samplingBytes(p.input)));
        return (p.graph.cacheSlots[i - 3], p.caches[i - 3]);
    }

    /// @notice The claimed next token is not a u32.
    error TokenOutOfRange(uint256 token);
    /// @notice The claimed next token's tensor is not in the `next_token` slot of the graph trace's end state.
    error NextTokenNotInEndState(uint256 token);
    /// @notice Cache output `position` is not in its slot of the graph trace's end state.
    error CacheNotInEndState(uint256 position, uint256 slot);

    /// @notice The claimed next token and cache outputs are in their slots of the claimed graph end.
    function _checkEnd(Proof memory p, bytes32 subEnd) private pure {
        LlmGraph memory g = p.graph;
        if (p.nextToken >> 32 != 0) revert TokenOutOfRange(p.nextToken);
        LevelsLib.checkSlotProof(g.nextTokenSlot, g.slotDepth, p.nextTokenSiblings);
        if (VmMemoryTree.fold(LlmLevelsLib.wordTensor(p.nextToken), g.nextTokenSlot, p.nextTokenSiblings) != subEnd) {
            revert NextTokenNotInEndState(p.nextToken);
        }
        uint256 n = g.cacheOutSlots.length;
        if (p.cacheOutSiblings.length != n) revert CacheCountMismatch(n, p.cacheOutSiblings.length);
        for (uint256 i = 0; i < n; i++) {
            LevelsLib.checkSlotProof(g.cacheOutSlots[i], g.slotDepth, p.cacheOutSiblings[i]);
            if (VmMemoryTree.fold(p.nextCaches[i], g.cacheOutSlots[i], p.cacheOutSiblings[i]) != subEnd) {
                revert CacheNotInEndState(i, g.cacheOutSlots[i]);
            }
        }
    }
}
