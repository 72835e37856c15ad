// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice The named errors of the ML link verifiers (docs/levels.md "Link checks").
abstract contract LevelsErrors {
    error ContextMismatch(bytes32 expected, bytes32 got);
    error AnchorMismatch(bytes32 expected, bytes32 got);
    error GraphLengthMismatch(uint256 expected, uint256 got);
    error ProofLength(uint256 expected, uint256 got);
    error SlotOutOfRange(uint256 slot, uint256 slotDepth);
    error InputSlotNotEmpty(uint256 slot);
    error OutputNotInEndState(bytes32 outputCommitment, bytes32 endRoot);
    error NodeIndexOutOfRange(uint256 index, uint256 nodeCount);
    error NodeNotInGraph(uint256 index);
    error KernelNotInSet(uint256 opId);
    error InputCountMismatch(uint256 expected, uint256 got);
    error InputNotInState(uint256 position, uint256 slot);
    error OutputSlotNotEmpty(uint256 slot);
    error TileEndMismatch(bytes32 expected, bytes32 got);
    error BadTiling(uint256 tileElems, uint256 outElems);
    error TileCountMismatch(uint256 expected, uint256 got);
    error TileIndexOutOfRange(uint256 index, uint256 tileCount);
    error VmLengthMismatch(uint256 expected, uint256 got);
    error BadFinalState(uint256 length);
    error FinalStateMismatch(bytes32 expected, bytes32 got);
    error VmDidNotExit(uint8 status, uint8 exitCode);
    error OutputRootMismatch(bytes32 expected, bytes32 got);
}
