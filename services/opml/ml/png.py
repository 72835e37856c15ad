"""A minimal PNG reader for model inputs: 8-bit, non-interlaced greyscale / greyscale+alpha / RGB / RGBA.

`read_png(path) -> uint8[H, W]` (colour images become grey as the rounded mean of R, G, B; alpha is dropped).
Anything else (16-bit, palette, interlaced, a corrupted stream) raises PngError naming what is unsupported.
`encode_png(uint8[H, W]) -> bytes` writes the greyscale kind (the explorer shows image inputs with it).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import MLError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 4: 2, 2: 3, 6: 4}  # colour type -> samples per pixel


class PngError(MLError, ValueError):
    """A PNG file this reader does not support, or a corrupted one."""


def _chunks(blob: bytes):
    offset = len(SIGNATURE)
    while offset + 8 <= len(blob):
        length, kind = struct.unpack_from(">I4s", blob, offset)
        data = blob[offset + 8 : offset + 8 + length]
        if len(data) != length:
            raise PngError(f"truncated {kind!r} chunk")
        yield kind, data
        offset += 12 + length


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _unfilter(raw: bytes, height: int, stride: int, bpp: int) -> np.ndarray:
    """Undo the per-row filters (PNG spec §9) on the decompressed scanlines."""
    if len(raw) != height * (stride + 1):
        raise PngError(f"image data has {len(raw)} bytes, expected {height * (stride + 1)}")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.int32)
    previous = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind in (0, 2):
            current = (line + (previous if kind == 2 else 0)) & 0xFF
        elif kind in (1, 3, 4):
            current = np.zeros(stride, dtype=np.int32)
            for x in range(stride):  # depends on the already decoded left neighbour
                left = current[x - bpp] if x >= bpp else 0
                up_left = previous[x - bpp] if x >= bpp else 0
                if kind == 1:
                    predictor = left
                elif kind == 3:
                    predictor = (left + previous[x]) // 2
                else:
                    predictor = _paeth(int(left), int(previous[x]), int(up_left))
                current[x] = (line[x] + predictor) & 0xFF
        else:
            raise PngError(f"row {y}: unknown filter type {kind}")
        out[y], previous = current, current
    return out.astype(np.uint8)


def read_png(path: str | Path) -> np.ndarray:
    """The image as grey uint8 [height, width]; every PngError names the file."""
    blob = Path(path).read_bytes()
    try:
        return _decode(blob)
    except PngError as exc:
        raise PngError(f"{path}: {exc}") from None


def _decode(blob: bytes) -> np.ndarray:
    if not blob.startswith(SIGNATURE):
        raise PngError("not a PNG file")
    chunks = list(_chunks(blob))
    if not chunks or chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise PngError("missing IHDR header")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or colour not in CHANNELS or interlace != 0:
        raise PngError("only 8-bit non-interlaced grey/RGB(A) PNGs are supported "
                       f"(bit depth {depth}, colour type {colour}, interlace {interlace})")
    try:
        raw = zlib.decompress(b"".join(data for kind, data in chunks if kind == b"IDAT"))
    except zlib.error as exc:
        raise PngError(f"corrupted image data ({exc})") from None
    channels = CHANNELS[colour]
    pixels = _unfilter(raw, height, width * channels, channels).reshape(height, width, channels)
    if channels <= 2:
        return pixels[:, :, 0].copy()
    rgb = pixels[:, :, :3].astype(np.int32)
    return ((rgb.sum(axis=2) + 1) // 3).astype(np.uint8)


def encode_png(grey: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG of `grey` (uint8[H, W]); `_decode` reads it back to the same array."""
    if grey.ndim != 2 or grey.dtype != np.uint8 or 0 in grey.shape:
        raise PngError(f"encode_png takes a non-empty uint8[H, W] array, got {grey.dtype}{list(grey.shape)}")
    height, width = grey.shape
    raw = b"".join(b"\x00" + row.tobytes() for row in grey)  # filter type 0 on every row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
