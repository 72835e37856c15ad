// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ICommitment} from "./interfaces/ICommitment.sol";
import {ILinkVerifier} from "./interfaces/ILinkVerifier.sol";

/// @notice Memory-tree arithmetic of docs/vm.md for the fixed memory map of services/opml/vm/layout.py:
/// region roots of byte strings, the initial VM state of a kernel run, and the output region's path to the root.
library VmMemoryTree {
    uint256 internal constant TREE_DEPTH = 27; // levels above the 32-byte leaves
    uint256 internal constant CODE_BASE = 0x00100000; // CODE: 2^20 bytes; the ELF entry point is its base
    uint256 internal constant PARAMS_LOG2 = 20; // PARAMS at 0x00200000
    uint256 internal constant TENSOR_LOG2 = 28; // INPUTS[i] at 0x10000000 * (i + 1), OUTPUT at 0x80000000
    uint256 internal constant INPUT_COUNT = 6;
    uint256 internal constant OUTPUT_INDEX = 8; // OUTPUT.base >> TENSOR_LOG2
    uint32 internal constant STACK_TOP = 0xEFFFFFF0; // STACK.end - 16: the loader's $sp
    uint256 internal constant STATE_SIZE = 186;

    /// @notice keccak256(a ‖ b), hashed in the scratch space.
    function hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, a)
            mstore(0x20, b)
            h := keccak256(0x00, 0x40)
        }
    }

    /// @notice Z[h] = root of an all-zero subtree at level h, for h = 0..27.
    function zeroHashes() internal pure returns (bytes32[28] memory z) {
        for (uint256 h = 1; h <= TREE_DEPTH; h++) {
            z[h] = hashPair(z[h - 1], z[h - 1]);
        }
    }

    /// @notice Root of an aligned 2^log2Size-byte region holding `data` at its base, zero padded
    /// (5 < log2Size, data no longer than the region; callers check the length).
    function regionRoot(bytes calldata data, uint256 log2Size, bytes32[28] memory z) internal pure returns (bytes32) {
        uint256 top = log2Size - 5;
        if (data.length == 0) return z[top];
        uint256 pairs = (data.length + 63) / 64;
        bytes memory padded = new bytes(pairs * 64); // zero-filled
        bytes32[] memory nodes = new bytes32[](pairs + 1); // one spare slot for an odd level's zero sibling
        assembly ("memory-safe") {
            let base := add(padded, 32)
            calldatacopy(base, data.offset, data.length)
            let out := add(nodes, 32)
            for { let i := 0 } lt(i, pairs) { i := add(i, 1) } {
                mstore(add(out, mul(i, 32)), keccak256(add(base, mul(i, 64)), 64))
            }
        }
        return foldUp(nodes, pairs, 1, top, z);
    }

    /// @notice Root at level `top` of a subtree whose first `count` nodes at `level` are `nodes[0..count)` and
    /// whose other nodes at that level are zero subtrees. Overwrites `nodes` (needs count + 1 slots).
    function foldUp(bytes32[] memory nodes, uint256 count, uint256 level, uint256 top, bytes32[28] memory z)
        internal
        pure
        returns (bytes32)
    {
        for (; level < top; level++) {
            if (count % 2 == 1) nodes[count++] = z[level];
            count /= 2;
            for (uint256 j = 0; j < count; j++) {
                nodes[j] = hashPair(nodes[2 * j], nodes[2 * j + 1]);
            }
        }
        return nodes[0];
    }

    /// @notice Memory root of a kernel's initial state: code region root, params and input region roots at
    /// their places, every other region (output, scratch, stack) empty.
    function initialMemoryRoot(bytes32 codeRoot, bytes32 paramsRoot, bytes32[] memory inputRoots, bytes32[28] memory z)
        internal
        pure
        returns (bytes32)
    {
        // Level 15 (1 MiB nodes) inside the first 256 MiB: [empty, CODE, PARAMS, empty...].
        bytes32[] memory low = new bytes32[](4);
        (low[0], low[1], low[2]) = (z[PARAMS_LOG2 - 5], codeRoot, paramsRoot);
        // Level 23 (256 MiB nodes): [low, INPUTS 0..5, empty, OUTPUT, empty, SCRATCH, ..., STACK, empty].
        bytes32[] memory tensors = new bytes32[](16);
        tensors[0] = foldUp(low, 3, PARAMS_LOG2 - 5, TENSOR_LOG2 - 5, z);
        for (uint256 i = 1; i < 16; i++) {
            tensors[i] = i <= inputRoots.length ? inputRoots[i - 1] : z[TENSOR_LOG2 - 5];
        }
        return foldUp(tensors, 16, TENSOR_LOG2 - 5, TREE_DEPTH, z);
    }

    /// @notice keccak256 of the packed state the ELF loader leaves: memRoot, pc = CODE_BASE, nextPC = pc + 4,
    /// $sp = STACK_TOP, every other field and register zero (docs/vm.md "Packed encoding").
    function initialStateHash(bytes32 memRoot) internal pure returns (bytes32) {
        // lo, hi, step, status, exitCode (18 bytes) and regs[0..28] (116 bytes) are zero; then $sp, $fp, $ra.
        return keccak256(
            abi.encodePacked(
                memRoot, uint32(CODE_BASE), uint32(CODE_BASE + 4), new bytes(134), STACK_TOP, bytes8(0)
            )
        );
    }

    /// @notice The memory root from the output region root and its four siblings at levels 23..26.
    function rootFromOutput(bytes32 outputRoot, bytes32[4] memory siblings) internal pure returns (bytes32 node) {
        node = outputRoot;
        uint256 index = OUTPUT_INDEX;
        for (uint256 j = 0; j < 4; j++) {
            node = (index >> j) & 1 == 0 ? hashPair(node, siblings[j]) : hashPair(siblings[j], node);
        }
    }
}

/// @notice The commitments of a single-kernel "model" (one MIPS kernel run is the whole computation): the input
/// commitment is the kernel's initial VM state hash, derived on chain from the request's bytes, so the VM trace
/// of every dispute on the request starts at a state both parties are bound to. The output commitment is the
/// root of the output region holding the output bytes (the VM's output tensor commitment, DESIGN.md §3).
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
        return VmMemoryTree.regionRoot(output, VmMemoryTree.TENSOR_LOG2, VmMemoryTree.zeroHashes());
    }

    /// @notice The initial VM state hash of the kernel with code root `codeRoot` given an encoded request input.
    function initialState(bytes32 codeRoot, bytes calldata input) public pure returns (bytes32) {
        bytes32[28] memory z = VmMemoryTree.zeroHashes();
        (bytes calldata params, uint256 offset) = _field(input, 0, VmMemoryTree.PARAMS_LOG2);
        bytes32 paramsRoot = VmMemoryTree.regionRoot(params, VmMemoryTree.PARAMS_LOG2, z);
        bytes32[] memory inputRoots = new bytes32[](VmMemoryTree.INPUT_COUNT);
        uint256 count = 0;
        while (offset < input.length) {
            if (count == VmMemoryTree.INPUT_COUNT) revert TooManyInputs(VmMemoryTree.INPUT_COUNT);
            bytes calldata tensor;
            (tensor, offset) = _field(input, offset, VmMemoryTree.TENSOR_LOG2);
            inputRoots[count++] = VmMemoryTree.regionRoot(tensor, VmMemoryTree.TENSOR_LOG2, z);
        }
        assembly ("memory-safe") {
            mstore(inputRoots, count)
        }
        return VmMemoryTree.initialStateHash(VmMemoryTree.initialMemoryRoot(codeRoot, paramsRoot, inputRoots, z));
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
/// region at levels 23..26.
contract VmLinkVerifier is ILinkVerifier {
    error VmLengthMismatch(uint256 expected, uint256 got);
    error VmAnchorMismatch(bytes32 expected, bytes32 got);
    error VmEndStateMismatch(bytes32 expected, bytes32 got);
    error VmEndStateLength(uint256 length);
    error VmNotExited(uint8 status, uint8 exitCode);
    error VmOutputMismatch(bytes32 memRoot, bytes32 computed);

    uint256 public immutable traceLength;

    constructor(uint256 traceLength_) {
        traceLength = traceLength_;
    }

    /// @inheritdoc ILinkVerifier
    function verifyLink(
        bytes32 context,
        uint256,
        bytes32 agreedPre,
        bytes32 claimedPost,
        bytes32 subEnd,
        uint256 subLength,
        bytes calldata proof
    ) external view returns (bytes32 subStart, bytes32 subContext) {
        if (subLength != traceLength) revert VmLengthMismatch(traceLength, subLength);
        (bytes32 g, bytes32 c, bytes32 k, bytes32 start, bytes memory endState, bytes32[4] memory siblings) =
            abi.decode(proof, (bytes32, bytes32, bytes32, bytes32, bytes, bytes32[4]));
        bytes32 anchor = keccak256(abi.encode(g, c, k, start));
        if (anchor != agreedPre) revert VmAnchorMismatch(agreedPre, anchor);
        _checkEnd(endState, subEnd, claimedPost, siblings);
        return (start, context);
    }

    function _checkEnd(bytes memory endState, bytes32 subEnd, bytes32 claimedPost, bytes32[4] memory siblings)
        private
        pure
    {
        if (endState.length != VmMemoryTree.STATE_SIZE) revert VmEndStateLength(endState.length);
        bytes32 endHash = keccak256(endState);
        if (endHash != subEnd) revert VmEndStateMismatch(subEnd, endHash);
        (uint8 status, uint8 exitCode) = (uint8(endState[56]), uint8(endState[57]));
        if (status != 1 || exitCode != 0) revert VmNotExited(status, exitCode);
        bytes32 memRoot;
        assembly ("memory-safe") {
            memRoot := mload(add(endState, 32))
        }
        bytes32 computed = VmMemoryTree.rootFromOutput(claimedPost, siblings);
        if (computed != memRoot) revert VmOutputMismatch(memRoot, computed);
    }
}
