// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IOpmlConsumer} from "../interfaces/IOpmlConsumer.sol";
import {AskingConsumer} from "./AskingConsumer.sol";

/// @notice A callback that always reverts (finalization must still go through).
contract RevertingConsumer is IOpmlConsumer, AskingConsumer {
    error AlwaysReverts();

    function onOpmlResult(uint256, bytes calldata) external pure {
        revert AlwaysReverts();
    }
}
