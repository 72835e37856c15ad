// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice The named errors of the link verifiers: the ML levels (docs/levels.md "Link checks"), a generation's
/// request → token and token → graph links (docs/levels.md "Generation requests") and the single-kernel
/// VmLinkVerifier (docs/game.md).
abstract contract LevelsErrors {
    /// @notice The proof's data does not hash to the level's context (the graph roots at level 1, the node's tile
    /// data at level 2).
    error ContextMismatch(bytes32 expected, bytes32 got);
    /// @notice The model roots and input commitment in the proof do not hash to the request's anchor (`agreedPre`,
    /// `context`).
    error AnchorMismatch(bytes32 expected, bytes32 got);
    /// @notice The graph trace's claimed length is not the model's node count.
    error GraphLengthMismatch(uint256 expected, uint256 got);
    /// @notice A sibling list has the wrong number of entries for its tree.
    error ProofLength(uint256 expected, uint256 got);
    /// @notice A tensor slot does not fit the slot tree of depth `slotDepth`.
    error SlotOutOfRange(uint256 slot, uint256 slotDepth);
    /// @notice The model's input slot already holds a tensor in the constants tree.
    error InputSlotNotEmpty(uint256 slot);
    /// @notice The submitted output commitment is not in the output slot of the graph trace's end state.
    error OutputNotInEndState(bytes32 outputCommitment, bytes32 endRoot);
    /// @notice The opened graph transition is past the last node.
    error NodeIndexOutOfRange(uint256 index, uint256 nodeCount);
    /// @notice The node leaf is not at its index in the graph's node tree.
    error NodeNotInGraph(uint256 index);
    /// @notice The kernel code root is not the leaf `opId` of the model's kernel set.
    error KernelNotInSet(uint256 opId);
    /// @notice The proof gives a different number of input roots than the node has inputs.
    error InputCountMismatch(uint256 expected, uint256 got);
    /// @notice An input root of the node is not in its slot of the agreed graph state.
    error InputNotInState(uint256 position, uint256 slot);
    /// @notice The node's output slot is not empty in the agreed graph state before the node runs.
    error OutputSlotNotEmpty(uint256 slot);
    /// @notice The tile trace's end, put in the node's output slot, does not give the claimed graph state.
    error TileEndMismatch(bytes32 expected, bytes32 got);
    /// @notice The node's tile size is zero, so its output cannot be tiled.
    error BadTiling(uint256 tileElems, uint256 outElems);
    /// @notice The tile trace's claimed length is not the node's tile count.
    error TileCountMismatch(uint256 expected, uint256 got);
    /// @notice The opened tile transition is past the node's last tile.
    error TileIndexOutOfRange(uint256 index, uint256 tileCount);
    /// @notice The VM trace's claimed length is not the node's 2^vmDepth.
    error VmLengthMismatch(uint256 expected, uint256 got);
    /// @notice The packed final VM state is not 186 bytes.
    error BadFinalState(uint256 length);
    /// @notice The packed final VM state does not hash to the VM trace's claimed end.
    error FinalStateMismatch(bytes32 expected, bytes32 got);
    /// @notice The final VM state has not exited with code 0 (still running, faulted or a non-zero exit).
    error VmDidNotExit(uint8 status, uint8 exitCode);
    /// @notice The claimed tile state, as the OUTPUT region root, does not fold to the final state's memory root.
    error OutputRootMismatch(bytes32 expected, bytes32 got);
    /// @notice A generation request's input bytes (reopened from the anchor) are shorter than a header and one
    /// prompt token or not whole u32 words (GenerationCommitment rejects such requests, so no anchor has them).
    error MalformedGeneration(uint256 length);
    /// @notice The token trace's claimed length is not the request's P + N − 1 decode steps.
    error TokenLengthMismatch(uint256 expected, uint256 got);
    /// @notice A list of cache commitments, slots or paths is not as long as the LLM graph's cache list.
    error CacheCountMismatch(uint256 expected, uint256 got);
    /// @notice The opened token transition is past the request's last decode step.
    error StepOutOfRange(uint256 index, uint256 steps);
    /// @notice The proof's token state does not hash to the agreed token root S_index.
    error TokenStateMismatch(bytes32 expected, bytes32 got);
    /// @notice The claimed next token is not a u32.
    error TokenOutOfRange(uint256 token);
    /// @notice The claimed next token's tensor is not in the `next_token` slot of the graph trace's end state.
    error NextTokenNotInEndState(uint256 token);
    /// @notice Cache output `position` is not in its slot of the graph trace's end state.
    error CacheNotInEndState(uint256 position, uint256 slot);
    /// @notice The step graph's outputs do not give the claimed next token state S_{index+1}.
    error NextStateMismatch(bytes32 expected, bytes32 got);
}
