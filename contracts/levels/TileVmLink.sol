// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ILinkVerifier, Link} from "../interfaces/ILinkVerifier.sol";
import {ContextMismatch, InputCountMismatch, VmLengthMismatch} from "./LevelsErrors.sol";
import {VmMemoryTree} from "../VmMemoryTree.sol";
import {LevelsLib} from "./LevelsLib.sol";

/// @notice Opens the VM level of tile `index` (docs/levels.md): the VM's initial state hash is computed from the
/// kernel code root, the tile's params, the node's input roots and the agreed tile state (the OUTPUT region);
/// the claimed final state (packed, in the proof) hashes to the sub-end, has exited with code 0, and its OUTPUT
/// region root (proved by the siblings at levels 23..26) is the claimed next tile state.
contract TileVmLink is ILinkVerifier {
    struct Proof {
        bytes32 codeRoot;
        bytes attrs;
        bytes32[] inputRoots;
        uint256 tileElems;
        uint256 outElems;
        uint256 vmDepth;
        bytes finalState;
        bytes32[] outputSiblings;
    }

    /// @inheritdoc ILinkVerifier
    function verifyLink(Link calldata link, bytes calldata proof)
        external pure returns (bytes32 subStart, bytes32 subContext)
    {
        Proof memory p = abi.decode(proof, (Proof));
        bytes32 expected =
            keccak256(abi.encode(p.codeRoot, keccak256(p.attrs), p.inputRoots, p.tileElems, p.outElems, p.vmDepth));
        if (expected != link.context) revert ContextMismatch(link.context, expected);
        (uint256 first, uint256 end) = _tileRange(p, link.index);
        if (p.vmDepth >= 64 || link.subLength != uint256(1) << p.vmDepth) {
            revert VmLengthMismatch(p.vmDepth >= 64 ? 0 : uint256(1) << p.vmDepth, link.subLength);
        }
        if (p.inputRoots.length > VmMemoryTree.INPUT_COUNT) revert InputCountMismatch(VmMemoryTree.INPUT_COUNT, p.inputRoots.length);
        bytes32 memRoot = VmMemoryTree.initialMemoryRoot(
            p.codeRoot, LevelsLib.tileParamsRoot(p.attrs, first, end), p.inputRoots, link.agreedPre, VmMemoryTree.zeroHashes()
        );
        subStart = VmMemoryTree.initialStateHash(memRoot);
        LevelsLib.checkFinalState(p.finalState, link.subEnd, link.claimedPost, p.outputSiblings);
        subContext = keccak256(abi.encode(link.context, link.index));
    }

    /// @notice The opened tile transition is past the node's last tile.
    error TileIndexOutOfRange(uint256 index, uint256 tileCount);

    /// @notice The output elements [first, end) that tile `index` computes.
    function _tileRange(Proof memory p, uint256 index) private pure returns (uint256 first, uint256 end) {
        uint256 tiles = p.tileElems == 0 ? 0 : (p.outElems + p.tileElems - 1) / p.tileElems;
        if (index >= tiles) revert TileIndexOutOfRange(index, tiles);
        first = index * p.tileElems;
        end = first + p.tileElems < p.outElems ? first + p.tileElems : p.outElems;
    }
}
