// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ICoordinator} from "./interfaces/ICoordinator.sol";
import {IOpmlConsumer} from "./interfaces/IOpmlConsumer.sol";

/// @title ExampleConsumer
/// @notice How a dapp uses opML: ask for an inference, receive the output once it is final.
contract ExampleConsumer is IOpmlConsumer {
    error NotCoordinator(address caller);
    error UnknownInference(uint256 requestId);
    error NotAsker(address caller);
    error RefundFailed(address asker, uint256 amount);

    event InferenceRequested(uint256 indexed requestId, address indexed asker, bytes input);
    event InferenceAnswered(uint256 indexed requestId, bytes output);
    event InferenceRefunded(uint256 indexed requestId, address indexed asker, uint256 amount);

    ICoordinator public immutable coordinator;
    uint256 public immutable modelId;
    uint64 public immutable callbackGasLimit;

    mapping(uint256 requestId => address asker) public askerOf;
    mapping(uint256 requestId => bool) public answered;
    mapping(uint256 requestId => bytes output) internal _outputs;

    constructor(ICoordinator coordinator_, uint256 modelId_, uint64 callbackGasLimit_) {
        coordinator = coordinator_;
        modelId = modelId_;
        callbackGasLimit = callbackGasLimit_;
    }

    /// @notice Requests an inference on `input`; `msg.value` pays the fee.
    function ask(bytes calldata input) external payable returns (uint256 requestId) {
        requestId = _ask(input);
    }

    /// @dev Sends the request (this contract is its requester and callback) and remembers who asked.
    function _ask(bytes memory input) internal returns (uint256 requestId) {
        requestId = coordinator.request{value: msg.value}(modelId, input, address(this), callbackGasLimit);
        askerOf[requestId] = msg.sender;
        emit InferenceRequested(requestId, msg.sender, input);
    }

    /// @inheritdoc IOpmlConsumer
    /// @dev Safe by construction: the Coordinator calls back only the contract that made the request
    /// (`CallbackNotRequester` otherwise), so a result from it is the final output of an input this contract sent.
    function onOpmlResult(uint256 requestId, bytes calldata output) external {
        if (msg.sender != address(coordinator)) revert NotCoordinator(msg.sender);
        if (askerOf[requestId] == address(0)) revert UnknownInference(requestId);
        answered[requestId] = true;
        _outputs[requestId] = output;
        emit InferenceAnswered(requestId, output);
    }

    /// @notice Gives up on `requestId` once the Coordinator lets its requester cancel it (no result pending, its
    /// deadline passed) and sends the refunded fee to whoever asked. Only that asker may call it.
    function refund(uint256 requestId) external {
        address asker = askerOf[requestId];
        if (asker == address(0)) revert UnknownInference(requestId);
        if (msg.sender != asker) revert NotAsker(msg.sender);
        delete askerOf[requestId];
        coordinator.cancelRequest(requestId);
        // This contract never submits or challenges, so its whole credit is this request's refunded fee.
        uint256 amount = coordinator.balanceOf(address(this));
        if (amount > 0) coordinator.withdraw();
        (bool sent,) = asker.call{value: amount}("");
        if (!sent) revert RefundFailed(asker, amount);
        emit InferenceRefunded(requestId, asker, amount);
    }

    /// @notice Receives refunds withdrawn from the Coordinator.
    receive() external payable {
        if (msg.sender != address(coordinator)) revert NotCoordinator(msg.sender);
    }

    /// @notice The final output of `requestId` (empty until answered).
    function outputOf(uint256 requestId) external view returns (bytes memory) {
        return _outputs[requestId];
    }
}
