// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

// The named errors that several link verifiers raise (docs/levels.md "Link checks"). An error only one verifier
// raises is declared in that verifier, next to its check; those of a shared check are declared with the check in
// `LevelsLib` or `LlmLevelsLib`.

/// @notice The proof's data does not hash to the level's context (the graph roots at level 1, the node's tile data
/// at level 2).
error ContextMismatch(bytes32 expected, bytes32 got);

/// @notice The model roots and input commitment in the proof do not hash to the request's anchor (`agreedPre`,
/// `context`).
error AnchorMismatch(bytes32 expected, bytes32 got);

/// @notice The graph trace's claimed length is not the model's node count.
error GraphLengthMismatch(uint256 expected, uint256 got);

/// @notice A slot that a verifier places a tensor into already holds one in the tree before.
error InputSlotNotEmpty(uint256 slot);

/// @notice The submitted output commitment is not in the output slot of the graph trace's end state.
error OutputNotInEndState(bytes32 outputCommitment, bytes32 endRoot);

/// @notice The proof gives a different number of input roots or paths than the node or step has inputs (or more
/// than the VM's input regions).
error InputCountMismatch(uint256 expected, uint256 got);

/// @notice The VM trace's claimed length is not its fixed length (2^vmDepth for a tile, `traceLength` for a
/// single-kernel model).
error VmLengthMismatch(uint256 expected, uint256 got);
