// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ICommitment} from "../interfaces/ICommitment.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {LlmGraph, LlmLevelsLib} from "./LlmLevelsLib.sol";

/// @notice Commitments of generation requests and results (docs/levels.md "Generation requests"). A request's
/// input is `u32 maxNewTokens ‖ u32 temperatureQ16 ‖ u64 salt ‖ u32 prompt[P]` (little-endian), checked here
/// against the model's context and vocabulary and committed as keccak256(input); a result is N u32 token ids,
/// committed as the chain G = 0, G ← keccak256(abi.encode(G, token)), which binds its length. A model is usable
/// once its LlmGraph (the preimage of its registered graph root) has been bound here by anyone (`bindModel`).
contract GenerationCommitment is ICommitment {
    /// @notice The model has no bound LlmGraph: `bindModel` it first.
    error ModelNotBound(uint256 modelId);
    /// @notice The LlmGraph does not hash to the model's registered graph root.
    error GraphRootMismatch(bytes32 registered, bytes32 got);
    /// @notice The LlmGraph's context or vocabulary is zero.
    error BadShape(uint256 ctx, uint256 vocab);
    /// @notice The input is shorter than the 16-byte header and one prompt token.
    error GenerationInputTooShort(uint256 length);
    /// @notice The input's prompt is not a whole number of u32 token ids.
    error GenerationInputRagged(uint256 length);
    /// @notice maxNewTokens is zero.
    error NoNewTokens();
    /// @notice The generation needs more positions (P + N − 1) than the model's context holds.
    error ContextExceeded(uint256 positions, uint256 ctx);
    /// @notice Prompt token `index` is not in the model's vocabulary.
    error TokenOutOfVocab(uint256 index, uint256 token, uint256 vocab);
    /// @notice The output is empty or not a whole number of u32 token ids.
    error GenerationOutputRagged(uint256 length);

    event ModelBound(uint256 indexed modelId, uint256 ctx, uint256 vocab);

    struct Shape {
        uint32 ctx;
        uint32 vocab;
    }

    IModelRegistry public immutable registry;
    mapping(uint256 modelId => Shape) private _shapes;

    constructor(IModelRegistry registry_) {
        registry = registry_;
    }

    /// @notice Binds model `modelId` to its LlmGraph (checked against the registered graph root), making its
    /// context and vocabulary known to `commitInput`. Anyone may call it; binding again changes nothing.
    function bindModel(uint256 modelId, LlmGraph calldata graph) external {
        (bytes32 graphRoot,,,) = registry.modelRoots(modelId);
        bytes32 got = keccak256(abi.encode(graph));
        if (got != graphRoot) revert GraphRootMismatch(graphRoot, got);
        if (graph.ctx == 0 || graph.vocab == 0 || graph.ctx > type(uint32).max || graph.vocab > type(uint32).max) {
            revert BadShape(graph.ctx, graph.vocab);
        }
        _shapes[modelId] = Shape(uint32(graph.ctx), uint32(graph.vocab));
        emit ModelBound(modelId, graph.ctx, graph.vocab);
    }

    /// @notice (ctx, vocab) of a bound model, (0, 0) otherwise.
    function shapeOf(uint256 modelId) external view returns (uint256 ctx, uint256 vocab) {
        Shape memory s = _shapes[modelId];
        return (s.ctx, s.vocab);
    }

    /// @inheritdoc ICommitment
    function commitInput(uint256 modelId, bytes calldata input) external view returns (bytes32) {
        Shape memory s = _shapes[modelId];
        if (s.ctx == 0) revert ModelNotBound(modelId);
        if (input.length < LlmLevelsLib.HEADER_BYTES + 4) revert GenerationInputTooShort(input.length);
        if (input.length % 4 != 0) revert GenerationInputRagged(input.length);
        bytes memory data = input;
        uint256 n = LlmLevelsLib.u32At(data, 0);
        if (n == 0) revert NoNewTokens();
        uint256 p = (input.length - LlmLevelsLib.HEADER_BYTES) / 4;
        if (p + n - 1 > s.ctx) revert ContextExceeded(p + n - 1, s.ctx);
        for (uint256 i = 0; i < p; i++) {
            uint256 token = LlmLevelsLib.u32At(data, LlmLevelsLib.HEADER_BYTES + 4 * i);
            if (token >= s.vocab) revert TokenOutOfVocab(i, token, s.vocab);
        }
        return keccak256(input);
    }

    /// @inheritdoc ICommitment
    function commitOutput(uint256, bytes calldata output) external pure returns (bytes32 chain) {
        if (output.length == 0 || output.length % 4 != 0) revert GenerationOutputRagged(output.length);
        bytes memory data = output;
        for (uint256 i = 0; i < data.length; i += 4) {
            chain = LlmLevelsLib.appendToken(chain, LlmLevelsLib.u32At(data, i));
        }
    }
}
