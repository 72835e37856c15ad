// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ICommitment} from "../interfaces/ICommitment.sol";
import {LevelsLib} from "./LevelsLib.sol";
import {VmMemoryTree} from "../VmMemoryTree.sol";

/// @notice Request inputs and results committed as tensors (docs/design.md): the root of the 2^28-byte VM region
/// holding the bytes, zero padded — the same root the graph state holds in the input and output slots.
contract TensorCommitment is ICommitment {
    error TensorTooLarge(uint256 size, uint256 max);

    function commitInput(uint256, bytes calldata input) external pure returns (bytes32) {
        return _commit(input);
    }

    function commitOutput(uint256, bytes calldata output) external pure returns (bytes32) {
        return _commit(output);
    }

    function _commit(bytes calldata data) private pure returns (bytes32) {
        uint256 max = uint256(1) << VmMemoryTree.TENSOR_LOG2;
        if (data.length > max) revert TensorTooLarge(data.length, max);
        return LevelsLib.tensorCommitment(data);
    }
}
