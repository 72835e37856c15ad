// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice The requester's side of the Coordinator (what a consumer contract needs).
interface ICoordinator {
    /// @notice Requests an inference of model `modelId` on `input`; `msg.value` is the fee (≥ the model's fee).
    /// Once final, `callback.onOpmlResult(requestId, output)` is called with `callbackGasLimit` gas
    /// (no callback when `callback` is address(0)).
    function request(uint256 modelId, bytes calldata input, address callback, uint64 callbackGasLimit)
        external
        payable
        returns (uint256 requestId);

    /// @notice Cancels request `requestId` (only its requester) once it is Open — no result pending — and
    /// `requestTimeout` seconds have passed since it was made; the fee is credited back to the requester.
    function cancelRequest(uint256 requestId) external;

    /// @notice Pays out the sender's credit (a refunded fee, a payout).
    function withdraw() external;

    /// @notice The credit `account` can withdraw.
    function balanceOf(address account) external view returns (uint256);
}
