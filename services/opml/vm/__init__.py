"""The fraud-proof VM (docs/vm.md): MIPS32 state, keccak-Merkleized memory, the reference interpreter, the fast
executor, step witnesses. Uses only the root modules.
"""
