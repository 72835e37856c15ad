// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Link, LinkVerifier} from "../LinkVerifier.sol";
import {LevelsErrors} from "./LevelsErrors.sol";
import {VmMemoryTree} from "../VmMemoryTree.sol";
import {LevelsLib} from "./LevelsLib.sol";

/// @notice Opens the VM level of tile `index` (docs/levels.md): the VM's initial state hash is computed from the
/// kernel code root, the tile's params, the node's input roots and the agreed tile state (the OUTPUT region);
/// the claimed final state (packed, in the proof) hashes to the sub-end, has exited with code 0, and its OUTPUT
/// region root (proved by the siblings at levels 23..26) is the claimed next tile state.
contract TileVmLink is LinkVerifier, LevelsErrors {

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

    /// @dev The check behind `verifyLink` (see `ILinkVerifier`).
    function _verify(Link memory link, bytes calldata proof)
        internal pure override returns (bytes32 subStart, bytes32 subContext)
    {
        Proof memory p = abi.decode(proof, (Proof));
        bytes32 expected =
            keccak256(abi.encode(p.codeRoot, keccak256(p.attrs), p.inputRoots, p.tileElems, p.outElems, p.vmDepth));
        if (expected != link.context) revert ContextMismatch(link.context, expected);
        uint256 tiles = p.tileElems == 0 ? 0 : (p.outElems + p.tileElems - 1) / p.tileElems;
        if (link.index >= tiles) revert TileIndexOutOfRange(link.index, tiles);
        if (p.vmDepth >= 64 || link.subLength != uint256(1) << p.vmDepth) {
            revert VmLengthMismatch(p.vmDepth >= 64 ? 0 : uint256(1) << p.vmDepth, link.subLength);
        }
        if (p.inputRoots.length > VmMemoryTree.INPUT_COUNT) revert InputCountMismatch(VmMemoryTree.INPUT_COUNT, p.inputRoots.length);
        uint256 first = link.index * p.tileElems;
        uint256 end = first + p.tileElems < p.outElems ? first + p.tileElems : p.outElems;
        bytes32 memRoot = VmMemoryTree.initialMemoryRoot(
            p.codeRoot, LevelsLib.tileParamsRoot(p.attrs, first, end), p.inputRoots, link.agreedPre, VmMemoryTree.zeroHashes()
        );
        subStart = VmMemoryTree.initialStateHash(memRoot);
        LevelsLib.checkFinalState(p.finalState, link.subEnd, link.claimedPost, p.outputSiblings);
        subContext = keccak256(abi.encode(link.context, link.index));
    }
}
