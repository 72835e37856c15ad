// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IStepVerifier} from "./interfaces/IStepVerifier.sol";

/// @title MIPS — one step of the opml fraud-proof VM, exactly as docs/vm.md specifies.
/// @notice `step(state, proofs)` executes the instruction at `pc` of the packed pre-state and returns
///         keccak256 of the packed post-state. Faults are states, never reverts; reverts mean malformed input.
/// @dev The packed state (186 bytes, big-endian integers) is copied to memory and edited in place; memory
///      proofs are read straight from calldata. Little-endian MIPS words are byte-swapped on the way in and out.
contract MIPS is IStepVerifier {
    /// stateData is not 186 bytes.
    error InvalidStateLength();
    /// status > 2, regs[0] != 0, or a running state with a non-zero exitCode.
    error InvalidState();
    /// proofData is shorter or longer than the proofs this step needs.
    error InvalidProofLength();
    /// A memory proof does not verify against memRoot (or sets mask bits 27..31).
    error InvalidMemoryProof();
    /// keccak256(stateData) differs from the pre-state hash it was claimed to be.
    error PreStateMismatch();

    // Packed state layout: byte offsets.
    uint256 private constant STATE_SIZE = 186;
    uint256 private constant OFF_MEM_ROOT = 0;
    uint256 private constant OFF_PC = 32;
    uint256 private constant OFF_NEXT_PC = 36;
    uint256 private constant OFF_LO = 40;
    uint256 private constant OFF_HI = 44;
    uint256 private constant OFF_STEP = 48;
    uint256 private constant OFF_STATUS = 56;
    uint256 private constant OFF_EXIT_CODE = 57;
    uint256 private constant OFF_REGS = 58;

    uint256 private constant STATUS_RUNNING = 0;
    uint256 private constant STATUS_EXITED = 1;
    uint256 private constant STATUS_FAULTED = 2;

    // Fault codes (exitCode of a faulted state).
    uint256 private constant FAULT_INVALID_INSTRUCTION = 1;
    uint256 private constant FAULT_UNALIGNED_FETCH = 2;
    uint256 private constant FAULT_UNALIGNED_ACCESS = 3;
    uint256 private constant FAULT_BRANCH_IN_DELAY_SLOT = 4;
    uint256 private constant FAULT_OVERFLOW = 5;
    uint256 private constant FAULT_DIVISION_BY_ZERO = 6;
    uint256 private constant FAULT_TRAP = 7;
    uint256 private constant FAULT_BAD_SYSCALL = 8;

    uint256 private constant SYS_EXIT = 4001;
    uint256 private constant SYS_EXIT_GROUP = 4246;

    uint256 private constant TREE_DEPTH = 27;
    uint256 private constant PROOF_HEADER = 36; // leaf (32) + mask (4)
    uint256 private constant U32 = 0xFFFFFFFF;
    uint256 private constant U64 = 0xFFFFFFFFFFFFFFFF;

    /// Z[h]: root of an all-zero subtree at level h (Z[0] = 0, Z[h+1] = keccak(Z[h] ‖ Z[h])), h = 0..26.
    bytes private constant ZERO_HASHES =
        hex"0000000000000000000000000000000000000000000000000000000000000000" // Z[0]
        hex"ad3228b676f7d3cd4284a5443f17f1962b36e491b30a40b2405849e597ba5fb5" // Z[1]
        hex"b4c11951957c6f8f642c4af61cd6b24640fec6dc7fc607ee8206a99e92410d30" // Z[2]
        hex"21ddb9a356815c3fac1026b6dec5df3124afbadb485c9ba5a3e3398a04b7ba85" // Z[3]
        hex"e58769b32a1beaf1ea27375a44095a0d1fb664ce2dd358e7fcbfb78c26a19344" // Z[4]
        hex"0eb01ebfc9ed27500cd4dfc979272d1f0913cc9f66540d7e8005811109e1cf2d" // Z[5]
        hex"887c22bd8750d34016ac3c66b5ff102dacdd73f6b014e710b51e8022af9a1968" // Z[6]
        hex"ffd70157e48063fc33c97a050f7f640233bf646cc98d9524c6b92bcf3ab56f83" // Z[7]
        hex"9867cc5f7f196b93bae1e27e6320742445d290f2263827498b54fec539f756af" // Z[8]
        hex"cefad4e508c098b9a7e1d8feb19955fb02ba9675585078710969d3440f5054e0" // Z[9]
        hex"f9dc3e7fe016e050eff260334f18a5d4fe391d82092319f5964f2e2eb7c1c3a5" // Z[10]
        hex"f8b13a49e282f609c317a833fb8d976d11517c571d1221a265d25af778ecf892" // Z[11]
        hex"3490c6ceeb450aecdc82e28293031d10c7d73bf85e57bf041a97360aa2c5d99c" // Z[12]
        hex"c1df82d9c4b87413eae2ef048f94b4d3554cea73d92b0f7af96e0271c691e2bb" // Z[13]
        hex"5c67add7c6caf302256adedf7ab114da0acfe870d449a3a489f781d659e8becc" // Z[14]
        hex"da7bce9f4e8618b6bd2f4132ce798cdc7a60e7e1460a7299e3c6342a579626d2" // Z[15]
        hex"2733e50f526ec2fa19a22b31e8ed50f23cd1fdf94c9154ed3a7609a2f1ff981f" // Z[16]
        hex"e1d3b5c807b281e4683cc6d6315cf95b9ade8641defcb32372f1c126e398ef7a" // Z[17]
        hex"5a2dce0a8a7f68bb74560f8f71837c2c2ebbcbf7fffb42ae1896f13f7c7479a0" // Z[18]
        hex"b46a28b6f55540f89444f63de0378e3d121be09e06cc9ded1c20e65876d36aa0" // Z[19]
        hex"c65e9645644786b620e2dd2ad648ddfcbf4a7e5b1a3a4ecfe7f64667a3f0b7e2" // Z[20]
        hex"f4418588ed35a2458cffeb39b93d26f18d2ab13bdce6aee58e7b99359ec2dfd9" // Z[21]
        hex"5a9c16dc00d6ef18b7933a6f8dc65ccb55667138776f7dea101070dc8796e377" // Z[22]
        hex"4df84f40ae0c8229d0d6069e5c8f39a7c299677a09d367fc7b05e3bc380ee652" // Z[23]
        hex"cdc72595f74c7b1043d0e1ffbab734648c838dfb0527d971b602bc216c9619ef" // Z[24]
        hex"0abf5ac974a1ed57f4050aa510dd9c74f508277b39d7973bb2dfccc5eeb0618d" // Z[25]
        hex"b8cd74046ff337f0a7bf2c8e03e10f642c1886798d71806ab1e888d9e5ee87d0"; // Z[26]

    /// Everything one step works on: the state in memory, the zero-hash table, the proof cursor in calldata.
    struct Ctx {
        uint256 s; // memory pointer to the packed state
        uint256 zeros; // memory pointer to Z[0..26]
        uint256 cursor; // calldata offset of the next unread proof byte
        uint256 end; // calldata offset just past proofData
        uint256 pc;
        uint256 nextPC;
    }

    // -----------------------------------------------------------------------------------------------------
    // Entry points

    /// @notice keccak256 of the post-state of one step from the packed pre-state `stateData`.
    function step(bytes calldata stateData, bytes calldata proofData) external pure returns (bytes32) {
        uint256 s = _loadState(stateData);
        _step(s, proofData);
        return _hashState(s);
    }

    /// @notice As `step`, after checking that keccak256(stateData) == preStateHash (else `PreStateMismatch`).
    function stepFrom(bytes32 preStateHash, bytes calldata stateData, bytes calldata proofData)
        external
        pure
        returns (bytes32)
    {
        uint256 s = _loadState(stateData);
        if (_hashState(s) != preStateHash) revert PreStateMismatch();
        _step(s, proofData);
        return _hashState(s);
    }

    /// @notice The packed post-state itself (for off-chain diagnostics; `step` returns its hash).
    function stepState(bytes calldata stateData, bytes calldata proofData)
        external
        pure
        returns (bytes memory postState)
    {
        uint256 s = _loadState(stateData);
        _step(s, proofData);
        postState = new bytes(STATE_SIZE);
        assembly ("memory-safe") {
            mcopy(add(postState, 32), s, 186)
        }
    }

    /// Executes one step on the packed state at `s` in place (docs/vm.md "One step").
    function _step(uint256 s, bytes calldata proofData) private pure {
        if (_byteAt(s, OFF_STATUS) != STATUS_RUNNING) {
            // Exited and faulted states are fixed points: no proofs, nothing changes.
            if (proofData.length != 0) revert InvalidProofLength();
            return;
        }
        Ctx memory c = Ctx({
            s: s,
            zeros: _zeroHashes(),
            cursor: _offset(proofData),
            end: _offset(proofData) + proofData.length,
            pc: _u32(s, OFF_PC),
            nextPC: _u32(s, OFF_NEXT_PC)
        });
        if (c.pc & 3 != 0) {
            _fault(c, FAULT_UNALIGNED_FETCH);
        } else {
            _execute(c, _fetch(c));
        }
        if (c.cursor != c.end) revert InvalidProofLength();
        _setUintAt(s, OFF_STEP, 8, (_uintAt(s, OFF_STEP, 8) + 1) & U64);
    }

    // -----------------------------------------------------------------------------------------------------
    // State in memory

    /// Copies and validates the packed state; returns its memory pointer (32 spare bytes follow it, so
    /// read-modify-write of the last field stays inside the allocation).
    function _loadState(bytes calldata stateData) private pure returns (uint256 s) {
        if (stateData.length != STATE_SIZE) revert InvalidStateLength();
        assembly ("memory-safe") {
            s := mload(0x40)
            mstore(0x40, add(s, 224))
            calldatacopy(s, stateData.offset, 186)
        }
        uint256 status = _byteAt(s, OFF_STATUS);
        if (status > STATUS_FAULTED || _reg(s, 0) != 0) revert InvalidState();
        if (status == STATUS_RUNNING && _byteAt(s, OFF_EXIT_CODE) != 0) revert InvalidState();
    }

    function _hashState(uint256 s) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            h := keccak256(s, 186)
        }
    }

    function _offset(bytes calldata data) private pure returns (uint256 o) {
        assembly {
            o := data.offset
        }
    }

    function _byteAt(uint256 s, uint256 off) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := byte(0, mload(add(s, off)))
        }
    }

    function _setByte(uint256 s, uint256 off, uint256 v) private pure {
        assembly ("memory-safe") {
            mstore8(add(s, off), v)
        }
    }

    /// The big-endian unsigned integer of `size` bytes (1..32) at byte `off` of the state.
    function _uintAt(uint256 s, uint256 off, uint256 size) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := shr(sub(256, shl(3, size)), mload(add(s, off)))
        }
    }

    /// Writes `v` (less than 2^(8·size)) as the big-endian integer of `size` bytes at byte `off`; the bytes after
    /// it keep their values.
    function _setUintAt(uint256 s, uint256 off, uint256 size, uint256 v) private pure {
        assembly ("memory-safe") {
            let p := add(s, off)
            let bits := shl(3, size)
            mstore(p, or(shr(bits, shl(bits, mload(p))), shl(sub(256, bits), v)))
        }
    }

    function _u32(uint256 s, uint256 off) private pure returns (uint256) {
        return _uintAt(s, off, 4);
    }

    function _setU32(uint256 s, uint256 off, uint256 v) private pure {
        _setUintAt(s, off, 4, v);
    }

    function _reg(uint256 s, uint256 r) private pure returns (uint256) {
        return _u32(s, OFF_REGS + 4 * r);
    }

    /// Writes to register 0 are discarded.
    function _setReg(Ctx memory c, uint256 r, uint256 v) private pure {
        if (r != 0) _setU32(c.s, OFF_REGS + 4 * r, v & U32);
    }

    function _rs(Ctx memory c, uint256 insn) private pure returns (uint256) {
        return _reg(c.s, (insn >> 21) & 31);
    }

    function _rt(Ctx memory c, uint256 insn) private pure returns (uint256) {
        return _reg(c.s, (insn >> 16) & 31);
    }

    /// pc ← nextPC; nextPC ← nextPC + 4.
    function _advance(Ctx memory c) private pure {
        _setU32(c.s, OFF_PC, c.nextPC);
        _setU32(c.s, OFF_NEXT_PC, (c.nextPC + 4) & U32);
    }

    /// status ← faulted, exitCode ← code; everything else keeps its pre-step value (step is bumped by _step).
    function _fault(Ctx memory c, uint256 code) private pure {
        _setByte(c.s, OFF_STATUS, STATUS_FAULTED);
        _setByte(c.s, OFF_EXIT_CODE, code);
    }

    // -----------------------------------------------------------------------------------------------------
    // Memory proofs

    function _zeroHashes() private pure returns (uint256 p) {
        bytes memory z = ZERO_HASHES;
        assembly ("memory-safe") {
            p := add(z, 32)
        }
    }

    /// Reads the next proof (for the chunk holding `addr`) at the cursor, checks it against memRoot and
    /// advances the cursor past it. Returns the leaf and where the proof starts (to recompute the root).
    function _readProof(Ctx memory c, uint256 addr) private pure returns (uint256 leaf, uint256 proof) {
        proof = c.cursor;
        (bytes32 root, uint256 next) = _proofRoot(c, proof, addr, _proofLeaf(proof));
        if (next > c.end) revert InvalidProofLength();
        if (_proofMask(proof) >> TREE_DEPTH != 0 || root != bytes32(_memRoot(c))) revert InvalidMemoryProof();
        c.cursor = next;
        leaf = _proofLeaf(proof);
    }

    function _proofLeaf(uint256 proof) private pure returns (uint256 leaf) {
        assembly {
            leaf := calldataload(proof)
        }
    }

    function _proofMask(uint256 proof) private pure returns (uint256 mask) {
        assembly {
            mask := shr(224, calldataload(add(proof, 32)))
        }
    }

    function _memRoot(Ctx memory c) private pure returns (uint256 root) {
        uint256 s = c.s;
        assembly ("memory-safe") {
            root := mload(s) // memRoot is at offset 0
        }
    }

    /// Root of the tree with `leaf` at the chunk of `addr` and the siblings of the proof at calldata offset
    /// `proof` (a clear mask bit h means Z[h]); also returns the offset just past the proof's siblings.
    function _proofRoot(Ctx memory c, uint256 proof, uint256 addr, uint256 leaf)
        private
        pure
        returns (bytes32 node, uint256 next)
    {
        uint256 zeros = c.zeros;
        assembly ("memory-safe") {
            let mask := shr(224, calldataload(add(proof, 32)))
            let index := shr(5, addr)
            next := add(proof, 36)
            node := leaf
            // One level per iteration: mask and index are shifted right, `zeros` walks Z[0..26].
            for { let last := add(zeros, 832) } 1 { zeros := add(zeros, 32) } { // last: &Z[26] (26 * 32)
                // Branch-free: the sibling is the next calldata word when the mask bit is set, else Z[h].
                let present := and(mask, 1)
                let zero := mload(zeros)
                let sibling := xor(zero, mul(present, xor(calldataload(next), zero)))
                next := add(next, shl(5, present))
                let at := shl(5, and(index, 1)) // 32: our node is the right child
                mstore(at, node)
                mstore(xor(at, 32), sibling)
                node := keccak256(0, 64)
                if eq(zeros, last) { break }
                mask := shr(1, mask)
                index := shr(1, index)
            }
        }
    }

    /// The little-endian word at aligned address `addr & ~3` inside its chunk's leaf.
    function _wordOf(uint256 leaf, uint256 addr) private pure returns (uint256) {
        return _bswap32((leaf >> (224 - 8 * (addr & 28))) & U32);
    }

    /// `leaf` with the word at `addr & ~3` replaced by the little-endian `word`.
    function _withWord(uint256 leaf, uint256 addr, uint256 word) private pure returns (uint256) {
        uint256 shift = 224 - 8 * (addr & 28);
        return (leaf & ~(U32 << shift)) | (_bswap32(word) << shift);
    }

    function _bswap32(uint256 x) private pure returns (uint256) {
        return ((x & 0xFF) << 24) | ((x & 0xFF00) << 8) | ((x >> 8) & 0xFF00) | (x >> 24);
    }

    /// The instruction word at pc (fetch proof).
    function _fetch(Ctx memory c) private pure returns (uint256) {
        (uint256 leaf,) = _readProof(c, c.pc);
        return _wordOf(leaf, c.pc);
    }

    // -----------------------------------------------------------------------------------------------------
    // Decode

    function _execute(Ctx memory c, uint256 insn) private pure {
        uint256 op = insn >> 26;
        if (op == 0) {
            _special(c, insn);
        } else if (op >= 0x20 && op <= 0x38) {
            _loadStore(c, insn, op);
        } else if (op >= 0x08 && op <= 0x0F) {
            _aluImmediate(c, insn, op);
        } else if ((op >= 0x04 && op <= 0x07) || (op >= 0x14 && op <= 0x17)) {
            _branch(c, insn, op);
        } else if (op == 0x01) {
            _regimm(c, insn);
        } else if (op == 0x02 || op == 0x03) {
            _jump(c, insn, op);
        } else if (op == 0x1C) {
            _special2(c, insn);
        } else {
            _fault(c, FAULT_INVALID_INSTRUCTION);
        }
    }

    /// op 0: shifts, register ALU, jr/jalr, moves, hi/lo, multiply/divide, syscall/break/traps.
    function _special(Ctx memory c, uint256 insn) private pure {
        uint256 funct = insn & 63;
        if (funct == 0x08 || funct == 0x09) return _jumpRegister(c, insn, funct);
        if (funct == 0x0C) return _syscall(c);
        if (funct == 0x0D) return _fault(c, FAULT_TRAP); // break
        if (funct >= 0x30 && funct <= 0x36) return _trap(c, funct, _rs(c, insn), _rt(c, insn));
        if (funct >= 0x10 && funct <= 0x1B) return _hiLo(c, insn, funct);
        if (funct == 0x0A || funct == 0x0B) return _conditionalMove(c, insn, funct);
        if (funct == 0x0F) return _advance(c); // sync
        _aluRegister(c, insn, funct);
    }

    /// Register-register ALU (shifts included): rd ← f(rs, rt, sa).
    function _aluRegister(Ctx memory c, uint256 insn, uint256 funct) private pure {
        uint256 rs = _rs(c, insn);
        uint256 rt = _rt(c, insn);
        uint256 sa = (insn >> 6) & 31;
        uint256 v;
        if (funct == 0x00) v = rt << sa; // sll
        else if (funct == 0x02) v = rt >> sa; // srl
        else if (funct == 0x03) v = _sra(rt, sa); // sra
        else if (funct == 0x04) v = rt << (rs & 31); // sllv
        else if (funct == 0x06) v = rt >> (rs & 31); // srlv
        else if (funct == 0x07) v = _sra(rt, rs & 31); // srav
        else if (funct == 0x20 || funct == 0x21) v = rs + rt; // add, addu
        else if (funct == 0x22 || funct == 0x23) v = rs + (U32 + 1) - rt; // sub, subu
        else if (funct == 0x24) v = rs & rt;
        else if (funct == 0x25) v = rs | rt;
        else if (funct == 0x26) v = rs ^ rt;
        else if (funct == 0x27) v = ~(rs | rt);
        else if (funct == 0x2A) v = _signed(rs) < _signed(rt) ? 1 : 0; // slt
        else if (funct == 0x2B) v = rs < rt ? 1 : 0; // sltu
        else return _fault(c, FAULT_INVALID_INSTRUCTION);
        if (funct == 0x20 && _addOverflows(rs, rt, v)) return _fault(c, FAULT_OVERFLOW);
        if (funct == 0x22 && _subOverflows(rs, rt, v)) return _fault(c, FAULT_OVERFLOW);
        _setReg(c, (insn >> 11) & 31, v);
        _advance(c);
    }

    /// movz / movn: rd ← rs when rt is zero / non-zero.
    function _conditionalMove(Ctx memory c, uint256 insn, uint256 funct) private pure {
        bool isZero = _rt(c, insn) == 0;
        if (isZero == (funct == 0x0A)) _setReg(c, (insn >> 11) & 31, _rs(c, insn));
        _advance(c);
    }

    /// mfhi, mthi, mflo, mtlo, mult, multu, div, divu.
    function _hiLo(Ctx memory c, uint256 insn, uint256 funct) private pure {
        uint256 rs = _rs(c, insn);
        uint256 rt = _rt(c, insn);
        uint256 rd = (insn >> 11) & 31;
        if (funct == 0x10) {
            _setReg(c, rd, _u32(c.s, OFF_HI));
        } else if (funct == 0x11) {
            _setU32(c.s, OFF_HI, rs);
        } else if (funct == 0x12) {
            _setReg(c, rd, _u32(c.s, OFF_LO));
        } else if (funct == 0x13) {
            _setU32(c.s, OFF_LO, rs);
        } else if (funct == 0x18) {
            _setHiLo(c, uint256(int256(_signed(rs)) * int256(_signed(rt))));
        } else if (funct == 0x19) {
            _setHiLo(c, rs * rt);
        } else if (funct == 0x1A || funct == 0x1B) {
            if (rt == 0) return _fault(c, FAULT_DIVISION_BY_ZERO);
            _divide(c, rs, rt, funct == 0x1A);
        } else {
            return _fault(c, FAULT_INVALID_INSTRUCTION);
        }
        _advance(c);
    }

    /// div (signed, truncating toward zero; remainder has the dividend's sign) and divu.
    function _divide(Ctx memory c, uint256 rs, uint256 rt, bool signed_) private pure {
        if (signed_) {
            int256 a = _signed(rs);
            int256 b = _signed(rt);
            int256 q = a / b; // 0x80000000 / -1 = 2^31, which wraps to 0x80000000 as the spec says
            _setU32(c.s, OFF_LO, uint256(q) & U32);
            _setU32(c.s, OFF_HI, uint256(a - q * b) & U32);
        } else {
            _setU32(c.s, OFF_LO, rs / rt);
            _setU32(c.s, OFF_HI, rs % rt);
        }
    }

    /// hi:lo ← the low 64 bits of `product` (two's complement for negative values).
    function _setHiLo(Ctx memory c, uint256 product) private pure {
        _setU32(c.s, OFF_HI, (product >> 32) & U32);
        _setU32(c.s, OFF_LO, product & U32);
    }

    function _setHiLoAndAdvance(Ctx memory c, uint256 product) private pure {
        _setHiLo(c, product);
        _advance(c);
    }

    function _hiLoValue(Ctx memory c) private pure returns (uint256) {
        return (_u32(c.s, OFF_HI) << 32) | _u32(c.s, OFF_LO);
    }

    /// op 0x1C: madd, maddu, mul, msub, msubu, clz, clo.
    function _special2(Ctx memory c, uint256 insn) private pure {
        uint256 funct = insn & 63;
        uint256 rs = _rs(c, insn);
        uint256 rt = _rt(c, insn);
        uint256 rd = (insn >> 11) & 31;
        // Products and accumulations wrap mod 2^256, which is consistent mod 2^64: _setHiLo keeps 64 bits.
        uint256 signedProduct = uint256(int256(_signed(rs)) * int256(_signed(rt)));
        uint256 acc = _hiLoValue(c);
        unchecked {
            if (funct == 0x00) return _setHiLoAndAdvance(c, acc + signedProduct); // madd
            if (funct == 0x01) return _setHiLoAndAdvance(c, acc + rs * rt); // maddu
            if (funct == 0x04) return _setHiLoAndAdvance(c, acc - signedProduct); // msub
            if (funct == 0x05) return _setHiLoAndAdvance(c, acc - rs * rt); // msubu
        }
        if (funct == 0x02) _setReg(c, rd, rs * rt); // mul
        else if (funct == 0x20) _setReg(c, rd, _clz32(rs));
        else if (funct == 0x21) _setReg(c, rd, _clz32(~rs & U32));
        else return _fault(c, FAULT_INVALID_INSTRUCTION);
        _advance(c);
    }

    /// Leading zeros of a 32-bit value (32 for 0): a marker bit below it caps the 256-bit count at 32.
    function _clz32(uint256 x) private pure returns (uint256 n) {
        assembly {
            n := clz(or(shl(224, x), shl(223, 1)))
        }
    }

    /// op 0x08..0x0F: addi, addiu, slti, sltiu, andi, ori, xori, lui.
    function _aluImmediate(Ctx memory c, uint256 insn, uint256 op) private pure {
        uint256 rs = _rs(c, insn);
        uint256 imm = insn & 0xFFFF;
        uint256 simm = _sext(imm, 16);
        uint256 v;
        if (op == 0x08 || op == 0x09) v = rs + simm; // addi, addiu
        else if (op == 0x0A) v = _signed(rs) < _signed(simm) ? 1 : 0; // slti
        else if (op == 0x0B) v = rs < simm ? 1 : 0; // sltiu
        else if (op == 0x0C) v = rs & imm;
        else if (op == 0x0D) v = rs | imm;
        else if (op == 0x0E) v = rs ^ imm;
        else v = imm << 16; // lui
        if (op == 0x08 && _addOverflows(rs, simm, v)) return _fault(c, FAULT_OVERFLOW);
        _setReg(c, (insn >> 16) & 31, v);
        _advance(c);
    }

    /// Conditional traps (teq … tne, rs vs rt; REGIMM tgei … tnei, rs vs simm): fault TRAP when true.
    /// `cond` is the SPECIAL funct 0x30..0x36 (REGIMM rt codes 0x08..0x0E map onto it).
    function _trap(Ctx memory c, uint256 cond, uint256 a, uint256 b) private pure {
        bool hit;
        if (cond == 0x30) hit = _signed(a) >= _signed(b); // tge
        else if (cond == 0x31) hit = a >= b; // tgeu
        else if (cond == 0x32) hit = _signed(a) < _signed(b); // tlt
        else if (cond == 0x33) hit = a < b; // tltu
        else if (cond == 0x34) hit = a == b; // teq
        else if (cond == 0x36) hit = a != b; // tne
        else return _fault(c, FAULT_INVALID_INSTRUCTION);
        if (hit) return _fault(c, FAULT_TRAP);
        _advance(c);
    }

    /// v0 = 4001 (exit) or 4246 (exit_group): exited with code a0 & 0xFF; any other v0: fault BAD_SYSCALL.
    function _syscall(Ctx memory c) private pure {
        uint256 v0 = _reg(c.s, 2);
        if (v0 != SYS_EXIT && v0 != SYS_EXIT_GROUP) return _fault(c, FAULT_BAD_SYSCALL);
        _setByte(c.s, OFF_STATUS, STATUS_EXITED);
        _setByte(c.s, OFF_EXIT_CODE, _reg(c.s, 4) & 0xFF);
        _advance(c);
    }

    // -----------------------------------------------------------------------------------------------------
    // Branches and jumps

    /// The common tail of every branch and jump: delay-slot check, link, then the new pc/nextPC.
    /// Not-taken branch-likely instructions skip their delay slot.
    function _transfer(Ctx memory c, bool taken, uint256 target, bool likely, uint256 linkReg) private pure {
        if (c.nextPC != ((c.pc + 4) & U32)) return _fault(c, FAULT_BRANCH_IN_DELAY_SLOT);
        _setReg(c, linkReg, c.pc + 8);
        if (taken) {
            _setU32(c.s, OFF_PC, c.nextPC);
            _setU32(c.s, OFF_NEXT_PC, target & U32);
        } else if (likely) {
            _setU32(c.s, OFF_PC, (c.nextPC + 4) & U32);
            _setU32(c.s, OFF_NEXT_PC, (c.nextPC + 8) & U32);
        } else {
            _advance(c);
        }
    }

    function _branchTarget(Ctx memory c, uint256 insn) private pure returns (uint256) {
        return c.pc + 4 + (_sext(insn & 0xFFFF, 16) << 2);
    }

    /// beq, bne, blez, bgtz and their -likely forms (op 0x04..0x07, 0x14..0x17).
    function _branch(Ctx memory c, uint256 insn, uint256 op) private pure {
        uint256 rs = _rs(c, insn);
        uint256 kind = op & 3;
        bool taken;
        if (kind == 0) taken = rs == _rt(c, insn); // beq
        else if (kind == 1) taken = rs != _rt(c, insn); // bne
        else if (kind == 2) taken = _signed(rs) <= 0; // blez
        else taken = _signed(rs) > 0; // bgtz
        _transfer(c, taken, _branchTarget(c, insn), op >= 0x14, 0);
    }

    /// op 1, by rt: bltz, bgez (+likely, +al forms) and the immediate traps.
    function _regimm(Ctx memory c, uint256 insn) private pure {
        uint256 code = (insn >> 16) & 31;
        uint256 rs = _rs(c, insn);
        if (code >= 0x08 && code <= 0x0E) return _trap(c, code + 0x28, rs, _sext(insn & 0xFFFF, 16));
        if (code & 0x0C != 0) return _fault(c, FAULT_INVALID_INSTRUCTION); // branches: 0x00-0x03, 0x10-0x13
        bool taken = (code & 1 == 0) ? _signed(rs) < 0 : _signed(rs) >= 0;
        _transfer(c, taken, _branchTarget(c, insn), code & 2 != 0, code >= 0x10 ? 31 : 0);
    }

    /// j, jal: T = ((pc + 4) & 0xF0000000) | (target << 2).
    function _jump(Ctx memory c, uint256 insn, uint256 op) private pure {
        uint256 target = ((c.pc + 4) & 0xF0000000) | ((insn & 0x3FFFFFF) << 2);
        _transfer(c, true, target, false, op == 0x03 ? 31 : 0);
    }

    /// jr rs; jalr rd, rs (the target is read before the link is written).
    function _jumpRegister(Ctx memory c, uint256 insn, uint256 funct) private pure {
        _transfer(c, true, _rs(c, insn), false, funct == 0x09 ? (insn >> 11) & 31 : 0);
    }

    // -----------------------------------------------------------------------------------------------------
    // Loads and stores

    /// op 0x20..0x38: lb lh lwl lw lbu lhu lwr sb sh swl sw swr ll sc, and pref (no memory access).
    function _loadStore(Ctx memory c, uint256 insn, uint256 op) private pure {
        if (op == 0x33) return _advance(c); // pref
        if (!_isLoad(op) && !_isStore(op)) return _fault(c, FAULT_INVALID_INSTRUCTION);
        uint256 addr = (_rs(c, insn) + _sext(insn & 0xFFFF, 16)) & U32;
        if (_misaligned(op, addr)) return _fault(c, FAULT_UNALIGNED_ACCESS);
        (uint256 leaf, uint256 proof) = _readProof(c, addr);
        uint256 word = _wordOf(leaf, addr);
        uint256 rtIndex = (insn >> 16) & 31;
        uint256 rt = _reg(c.s, rtIndex);
        if (_isLoad(op)) {
            _setReg(c, rtIndex, _loadValue(op, word, addr & 3, rt));
        } else {
            uint256 newLeaf = _withWord(leaf, addr, _storeValue(op, word, addr & 3, rt));
            (bytes32 root,) = _proofRoot(c, proof, addr, newLeaf);
            _setMemRoot(c, root);
            if (op == 0x38) _setReg(c, rtIndex, 1); // sc always succeeds
        }
        _advance(c);
    }

    function _isLoad(uint256 op) private pure returns (bool) {
        return (op >= 0x20 && op <= 0x26) || op == 0x30;
    }

    function _isStore(uint256 op) private pure returns (bool) {
        return (op >= 0x28 && op <= 0x2B) || op == 0x2E || op == 0x38;
    }

    /// lh/lhu/sh need even addresses; lw/sw/ll/sc word-aligned ones; the rest accept any address.
    function _misaligned(uint256 op, uint256 addr) private pure returns (bool) {
        if (op == 0x21 || op == 0x25 || op == 0x29) return addr & 1 != 0;
        if (op == 0x23 || op == 0x2B || op == 0x30 || op == 0x38) return addr & 3 != 0;
        return false;
    }

    /// New value of rt for a load of byte offset `b` in the aligned little-endian `word`; `rt` is its old value.
    function _loadValue(uint256 op, uint256 word, uint256 b, uint256 rt) private pure returns (uint256) {
        if (op == 0x20) return _sext((word >> (8 * b)) & 0xFF, 8); // lb
        if (op == 0x24) return (word >> (8 * b)) & 0xFF; // lbu
        if (op == 0x21) return _sext((word >> (8 * b)) & 0xFFFF, 16); // lh
        if (op == 0x25) return (word >> (8 * b)) & 0xFFFF; // lhu
        if (op == 0x22) {
            uint256 n = 8 * (3 - b); // lwl
            return ((word << n) | (rt & ((1 << n) - 1))) & U32;
        }
        if (op == 0x26) return (word >> (8 * b)) | (rt & ~(U32 >> (8 * b)) & U32); // lwr
        return word; // lw, ll
    }

    /// New aligned word for a store at byte offset `b` of `rt` into the old little-endian `word`.
    function _storeValue(uint256 op, uint256 word, uint256 b, uint256 rt) private pure returns (uint256) {
        if (op == 0x28) return (word & ~(0xFF << (8 * b)) & U32) | ((rt & 0xFF) << (8 * b)); // sb
        if (op == 0x29) return (word & ~(0xFFFF << (8 * b)) & U32) | ((rt & 0xFFFF) << (8 * b)); // sh
        if (op == 0x2A) {
            uint256 n = 8 * (3 - b); // swl
            return (word & ~(U32 >> n) & U32) | (rt >> n);
        }
        if (op == 0x2E) return (word & ((1 << (8 * b)) - 1)) | ((rt << (8 * b)) & U32); // swr
        return rt; // sw, sc
    }

    function _setMemRoot(Ctx memory c, bytes32 root) private pure {
        uint256 s = c.s;
        assembly ("memory-safe") {
            mstore(s, root)
        }
    }

    // -----------------------------------------------------------------------------------------------------
    // Arithmetic helpers (values are u32 held in uint256)

    /// The u32 `x` read as a signed 32-bit integer.
    function _signed(uint256 x) private pure returns (int256) {
        return int256(int32(uint32(x)));
    }

    /// Sign-extends the low `bits` bits of `x` to 32 bits.
    function _sext(uint256 x, uint256 bits) private pure returns (uint256) {
        uint256 sign = 1 << (bits - 1);
        return x & sign != 0 ? (x | (U32 ^ ((1 << bits) - 1))) : x;
    }

    /// Signed overflow of the 32-bit a + b (`sum` its wrapped result): equal operand signs, other result sign.
    function _addOverflows(uint256 a, uint256 b, uint256 sum) private pure returns (bool) {
        return ((a ^ sum) & (b ^ sum) & 0x80000000) != 0;
    }

    /// Signed overflow of the 32-bit a - b (`diff` its wrapped result): operand signs differ, result sign is b's.
    function _subOverflows(uint256 a, uint256 b, uint256 diff) private pure returns (bool) {
        return ((a ^ b) & (a ^ diff) & 0x80000000) != 0;
    }

    /// Arithmetic shift right of the u32 `x` by `n` < 32.
    function _sra(uint256 x, uint256 n) private pure returns (uint256) {
        return uint256(_signed(x) >> n) & U32;
    }
}
