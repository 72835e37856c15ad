// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IStepVerifier} from "../interfaces/IStepVerifier.sol";

/// @notice The "alphabet" step: post = keccak256(abi.encode("toy.step", pre)); the witness is the pre-root itself.
contract ToyStepVerifier is IStepVerifier {
    error ToyWitnessMismatch();

    /// @inheritdoc IStepVerifier
    function stepFrom(bytes32 preStateHash, bytes calldata stateData, bytes calldata proofData)
        external
        pure
        returns (bytes32)
    {
        if (stateData.length != 32 || bytes32(stateData) != preStateHash || proofData.length != 0) {
            revert ToyWitnessMismatch();
        }
        return keccak256(abi.encode("toy.step", preStateHash));
    }
}
