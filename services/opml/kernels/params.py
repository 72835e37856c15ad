"""The params region layout shared by all kernels (kernels/include/opml/params.h):

offset 0: u32 first_out, offset 4: u32 end_out (the tile: flat output elements [first_out, end_out)),
offset 8: the op's attributes as little-endian 32-bit words.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

TILE_HEADER = struct.Struct("<II")
ATTRS_OFFSET = TILE_HEADER.size

# Exit codes common to every kernel (opml/params.h).
EXIT_OK = 0
EXIT_BAD_TILE = 1
EXIT_BAD_SHAPE = 2


class ParamsError(ValueError):
    """Params that cannot be encoded (a word out of the 32-bit range)."""


def pack_params(first_out: int, end_out: int, attrs: Sequence[int] = ()) -> bytes:
    """Bytes of the params region: the tile header then `attrs`, each a signed or unsigned 32-bit word."""
    words = []
    for i, value in enumerate((first_out, end_out, *attrs)):
        if not -(1 << 31) <= value < (1 << 32):
            raise ParamsError(f"params word {i} = {value} does not fit in 32 bits")
        words.append(value & 0xFFFFFFFF)
    return struct.pack(f"<{len(words)}I", *words)


def pack_matmul_params(m: int, k: int, n: int, first_out: int = 0, end_out: int | None = None) -> bytes:
    """Params of `matmul_i8` (C[m,n] = A[m,k] x B[k,n]); the tile defaults to the whole output."""
    return pack_params(first_out, m * n if end_out is None else end_out, (m, k, n))
