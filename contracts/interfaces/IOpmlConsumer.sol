// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Implemented by contracts that request inferences with a callback.
interface IOpmlConsumer {
    /// @notice Called by the Coordinator, with bounded gas, once the result of `requestId` is final.
    function onOpmlResult(uint256 requestId, bytes calldata output) external;
}
