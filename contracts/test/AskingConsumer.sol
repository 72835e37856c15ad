// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ICoordinator} from "../interfaces/ICoordinator.sol";

/// @notice A test consumer's way to ask: the Coordinator calls back only the contract that made the request.
abstract contract AskingConsumer {
    function ask(ICoordinator coordinator, uint256 modelId, bytes calldata input, uint64 callbackGasLimit)
        external
        payable
        returns (uint256 requestId)
    {
        requestId = coordinator.request{value: msg.value}(modelId, input, address(this), callbackGasLimit);
    }
}
