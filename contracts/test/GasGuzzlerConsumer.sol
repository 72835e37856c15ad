// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IOpmlConsumer} from "../interfaces/IOpmlConsumer.sol";
import {AskingConsumer} from "./AskingConsumer.sol";

/// @notice A callback that burns all the gas it is given (finalization must still go through).
contract GasGuzzlerConsumer is IOpmlConsumer, AskingConsumer {
    uint256 public sink;

    function onOpmlResult(uint256, bytes calldata) external {
        while (true) {
            sink += 1;
        }
    }
}
