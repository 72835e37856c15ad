// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ICommitment} from "./interfaces/ICommitment.sol";
import {ILinkVerifier, Link} from "./interfaces/ILinkVerifier.sol";
import {VmMemoryTree} from "./VmMemoryTree.sol";
import {AnchorMismatch, VmLengthMismatch} from "./levels/LevelsErrors.sol";
import {LevelsLib} from "./levels/LevelsLib.sol";

/// @notice The commitments of a single-kernel "model" (one MIPS kernel run is the whole computation): the input
/// commitment is the kernel's initial VM state hash, derived on chain from the request's bytes, so the VM trace
/// of every dispute on the request starts at a state both parties are bound to. The output commitment is the
/// root of the output region holding the output bytes (the VM's output tensor commitment, docs/design.md).
///
/// Request input (lengths big-endian u32): `len(params) ‖ params ‖ (len(input_i) ‖ input_i)` for up to six
/// input tensors, in order. The kernel's code root is the model's `kernelSetRoot` in the registry.
contract VmCommitment is ICommitment {
    error MalformedKernelInput(uint256 offset);
    error TooManyInputs(uint256 max);
    error RegionTooSmall(uint256 size, uint256 capacity);

    IModelRoots public immutable registry;

    constructor(address registry_) {
        registry = IModelRoots(registry_);
    }

    /// @inheritdoc ICommitment
    /// @dev The initial VM state hash of the model's kernel with the input's params and tensors loaded.
    function commitInput(uint256 modelId, bytes calldata input) external view returns (bytes32) {
        (,, bytes32 codeRoot,) = registry.modelRoots(modelId);
        return initialState(codeRoot, input);
    }

    /// @inheritdoc ICommitment
    /// @dev The root of the output region (2^28 bytes) holding `output` at its base, zero padded.
    function commitOutput(uint256, bytes calldata output) external pure returns (bytes32) {
        if (output.length > 1 << VmMemoryTree.TENSOR_LOG2) {
            revert RegionTooSmall(output.length, 1 << VmMemoryTree.TENSOR_LOG2);
        }
        return VmMemoryTree.regionRootCalldata(output, VmMemoryTree.TENSOR_LOG2, VmMemoryTree.zeroHashes());
    }

    /// @notice The initial VM state hash of the kernel with code root `codeRoot` given an encoded request input.
    function initialState(bytes32 codeRoot, bytes calldata input) public pure returns (bytes32) {
        bytes32[28] memory z = VmMemoryTree.zeroHashes();
        (bytes calldata params, uint256 offset) = _field(input, 0, VmMemoryTree.PARAMS_LOG2);
        bytes32 paramsRoot = VmMemoryTree.regionRootCalldata(params, VmMemoryTree.PARAMS_LOG2, z);
        bytes32[] memory inputRoots = new bytes32[](VmMemoryTree.INPUT_COUNT);
        uint256 count = 0;
        while (offset < input.length) {
            if (count == VmMemoryTree.INPUT_COUNT) revert TooManyInputs(VmMemoryTree.INPUT_COUNT);
            bytes calldata tensor;
            (tensor, offset) = _field(input, offset, VmMemoryTree.TENSOR_LOG2);
            inputRoots[count++] = VmMemoryTree.regionRootCalldata(tensor, VmMemoryTree.TENSOR_LOG2, z);
        }
        assembly ("memory-safe") {
            mstore(inputRoots, count)
        }
        bytes32 memRoot = VmMemoryTree.initialMemoryRoot(codeRoot, paramsRoot, inputRoots, z[VmMemoryTree.TENSOR_LEVEL], z);
        return VmMemoryTree.initialStateHash(memRoot);
    }

    /// @dev The length-prefixed field at `offset` and the offset after it.
    function _field(bytes calldata input, uint256 offset, uint256 log2Capacity)
        private
        pure
        returns (bytes calldata field, uint256 next)
    {
        if (input.length < offset + 4) revert MalformedKernelInput(offset);
        uint256 length = uint32(bytes4(input[offset:offset + 4]));
        if (length > 1 << log2Capacity) revert RegionTooSmall(length, 1 << log2Capacity);
        next = offset + 4 + length;
        if (input.length < next) revert MalformedKernelInput(offset);
        field = input[offset + 4:next];
    }
}

/// @notice The registry view VmCommitment reads (ModelRegistry implements it).
interface IModelRoots {
    function modelRoots(uint256 modelId)
        external
        view
        returns (bytes32 graphRoot, bytes32 constantsRoot, bytes32 kernelSetRoot, uint256 fee);
}

/// @notice The link from a request to the VM trace of its single kernel run (the game's level 0 when the model
/// is one kernel). The sub-trace starts at the input commitment inside the anchor (VmCommitment's initial VM
/// state), and its end must be an exited state (exit code 0) whose output region root is the claimed output
/// commitment. Every VM trace has the same length, `traceLength` (a power of two ≥ any run's halting step;
/// past the halt the exited state repeats).
///
/// proof = abi.encode(bytes32 graphRoot, bytes32 constantsRoot, bytes32 kernelSetRoot, bytes32 inputCommitment,
///                    bytes endState, bytes32[4] outputSiblings)
/// where endState is the 186-byte packed end state and outputSiblings the memory-tree siblings of the output
/// region at levels 23..26. Its errors and its end check (`LevelsLib.checkFinalState`) are the tile VM level's.
contract VmLinkVerifier is ILinkVerifier {
    uint256 public immutable traceLength;

    constructor(uint256 traceLength_) {
        traceLength = traceLength_;
    }

    /// @inheritdoc ILinkVerifier
    function verifyLink(Link calldata link, bytes calldata proof)
        external view returns (bytes32 subStart, bytes32 subContext)
    {
        if (link.subLength != traceLength) revert VmLengthMismatch(traceLength, link.subLength);
        (bytes32 g, bytes32 c, bytes32 k, bytes32 start, bytes memory endState, bytes32[4] memory siblings) =
            abi.decode(proof, (bytes32, bytes32, bytes32, bytes32, bytes, bytes32[4]));
        bytes32 anchor = keccak256(abi.encode(g, c, k, start));
        if (anchor != link.agreedPre) revert AnchorMismatch(link.agreedPre, anchor);
        bytes32[] memory path = new bytes32[](siblings.length);
        for (uint256 j = 0; j < path.length; j++) {
            path[j] = siblings[j];
        }
        LevelsLib.checkFinalState(endState, link.subEnd, link.claimedPost, path);
        return (start, link.context);
    }
}
