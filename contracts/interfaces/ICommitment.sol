// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice The tensor commitments of a request's input and a result's output (docs/design.md).
interface ICommitment {
    /// @notice Commitment of the input bytes a requester sent for model `modelId`.
    function commitInput(uint256 modelId, bytes calldata input) external view returns (bytes32);

    /// @notice Commitment of the output bytes a submitter posted for model `modelId`.
    function commitOutput(uint256 modelId, bytes calldata output) external view returns (bytes32);
}
