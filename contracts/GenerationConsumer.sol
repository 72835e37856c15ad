// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ICoordinator} from "./interfaces/ICoordinator.sol";
import {ExampleConsumer} from "./ExampleConsumer.sol";

/// @title GenerationConsumer
/// @notice How a dapp asks an LLM for a continuation: it encodes the generation request on chain (the prompt's
/// token ids, how many tokens to generate, the temperature, a salt), and receives the generated token ids once the
/// result is final. Turning ids into text is the tokenizer's job, off chain (docs/dapps.md).
/// @dev The request's input bytes, all little-endian: u32 maxNewTokens N, u32 temperature (Q16.16 fixed point,
/// 0 = greedy), u64 salt, then the prompt's u32 token ids (BOS first). The output is exactly N u32 token ids;
/// generation never stops early, so the text ends at the first `eosToken`.
contract GenerationConsumer is ExampleConsumer {
    error EmptyPrompt();
    error NoNewTokens();

    /// @notice The model's end-of-sequence token: the generated text ends before its first occurrence.
    uint32 public immutable eosToken;

    constructor(ICoordinator coordinator_, uint256 modelId_, uint64 callbackGasLimit_, uint32 eosToken_)
        ExampleConsumer(coordinator_, modelId_, callbackGasLimit_)
    {
        eosToken = eosToken_;
    }

    /// @notice Asks for `maxNewTokens` tokens after `prompt` (token ids, BOS first); `msg.value` pays the fee.
    function generate(uint32[] calldata prompt, uint32 maxNewTokens, uint32 temperatureQ16, uint64 salt)
        external
        payable
        returns (uint256 requestId)
    {
        requestId = _ask(encodeGeneration(prompt, maxNewTokens, temperatureQ16, salt));
    }

    /// @notice The input bytes of a generation request (the layout of this contract's notice).
    function encodeGeneration(uint32[] calldata prompt, uint32 maxNewTokens, uint32 temperatureQ16, uint64 salt)
        public
        pure
        returns (bytes memory input)
    {
        if (prompt.length == 0) revert EmptyPrompt();
        if (maxNewTokens == 0) revert NoNewTokens();
        input = new bytes(16 + 4 * prompt.length);
        _putLE(input, 0, maxNewTokens, 4);
        _putLE(input, 4, temperatureQ16, 4);
        _putLE(input, 8, salt, 8);
        for (uint256 i = 0; i < prompt.length; i++) {
            _putLE(input, 16 + 4 * i, prompt[i], 4);
        }
    }

    /// @notice The generated token ids of `requestId` before the first `eosToken` (empty until answered).
    function tokensOf(uint256 requestId) external view returns (uint32[] memory) {
        return tokensBeforeEos(_outputs[requestId], eosToken);
    }

    /// @notice The u32 little-endian token ids of a generation's `output` before the first `eos`.
    function tokensBeforeEos(bytes memory output, uint32 eos) public pure returns (uint32[] memory tokens) {
        uint256 count = output.length / 4;
        tokens = new uint32[](count);
        uint256 kept = 0;
        for (; kept < count; kept++) {
            uint32 token = uint32(_getLE(output, 4 * kept, 4));
            if (token == eos) break;
            tokens[kept] = token;
        }
        assembly {
            mstore(tokens, kept) // shorten the array to the tokens before EOS
        }
    }

    function _putLE(bytes memory data, uint256 offset, uint256 value, uint256 width) private pure {
        for (uint256 i = 0; i < width; i++) {
            data[offset + i] = bytes1(uint8(value >> (8 * i)));
        }
    }

    function _getLE(bytes memory data, uint256 offset, uint256 width) private pure returns (uint256 value) {
        for (uint256 i = 0; i < width; i++) {
            value |= uint256(uint8(data[offset + i])) << (8 * i);
        }
    }
}
