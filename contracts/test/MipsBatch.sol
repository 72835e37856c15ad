// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

interface IMipsStep {
    function step(bytes calldata stateData, bytes calldata proofData) external pure returns (bytes32);
}

/// @notice Test harness for VM ≡ contract fuzzing: many `MIPS.step` calls in one `eth_call`. A step that reverts
/// gives the zero hash (no valid post-state hashes to zero), so one bad witness does not hide the others.
contract MipsBatch {
    IMipsStep public immutable mips;

    constructor(IMipsStep mips_) {
        mips = mips_;
    }

    function stepMany(bytes[] calldata states, bytes[] calldata proofs) external view returns (bytes32[] memory posts) {
        posts = new bytes32[](states.length);
        for (uint256 i = 0; i < states.length; i++) {
            try mips.step(states[i], proofs[i]) returns (bytes32 post) {
                posts[i] = post;
            } catch {
                posts[i] = bytes32(0);
            }
        }
    }
}
