// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ICommitment} from "../interfaces/ICommitment.sol";

/// @notice The placeholder commitment: keccak256 of the bytes (the ML levels replace it with tensor roots).
contract KeccakCommitment is ICommitment {
    function commitInput(uint256, bytes calldata input) external pure returns (bytes32) {
        return keccak256(input);
    }

    function commitOutput(uint256, bytes calldata output) external pure returns (bytes32) {
        return keccak256(output);
    }
}
