// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Executes one transition of the last level on chain (the MIPS contract implements it as is).
interface IStepVerifier {
    /// @notice The post-state hash of one step from `preStateHash`, whose preimage and proofs are the witness;
    /// reverts when the witness does not match `preStateHash`.
    function stepFrom(bytes32 preStateHash, bytes calldata stateData, bytes calldata proofData)
        external
        returns (bytes32 postStateHash);
}
