"""A request's input as people know it: an image input (an MNIST digit) as a picture, readable text as text,
anything else as short hex. Pure: bytes and the model's input shape in, a JSON-ready description out.

A model whose requests carry token ids (an LLM) will add a "text" view through its tokenizer: `describe` takes
the model's `kind` so such a kind slots in here.
"""

from __future__ import annotations

import math

import numpy as np

from opml.ml.png import encode_png

HEX_SHOWN = 24  # bytes of a hex input shown before "…"
MIN_IMAGE_SIDE = 8


def image_side(data: bytes, shape: tuple[int, ...] | None) -> tuple[int, int] | None:
    """(height, width) when `data` is one int8 greyscale image: the model input's last two dims hold every byte
    (N = C = 1), or, with no shape known, a square of at least 8×8 bytes."""
    if shape is not None and len(shape) >= 2:
        h, w = shape[-2], shape[-1]
        if h >= MIN_IMAGE_SIDE and w >= MIN_IMAGE_SIDE and h * w == len(data) == math.prod(shape):
            return h, w
        return None
    side = math.isqrt(len(data))
    return (side, side) if side >= MIN_IMAGE_SIDE and side * side == len(data) else None


def image_png(data: bytes, side: tuple[int, int]) -> bytes:
    """The int8 image as a greyscale PNG: ≤ 0 black, the largest value white (ink is positive in MNIST)."""
    pixels = np.frombuffer(data, np.int8).reshape(side).astype(np.int32).clip(0, None)
    top = max(1, int(pixels.max()))
    return encode_png((pixels * 255 // top).astype(np.uint8))


def describe(data: bytes, shape: tuple[int, ...] | None, kind: str | None = None) -> dict:
    """{"kind": "image", "height", "width"} | {"kind": "text", "text"} | {"kind": "hex", "hex", "bytes"}."""
    side = image_side(data, shape) if kind != "toy" else None
    if side is not None:
        return {"kind": "image", "height": side[0], "width": side[1], "bytes": len(data)}
    text = _readable(data)
    if text is not None:
        return {"kind": "text", "text": text, "bytes": len(data)}
    shown = data[:HEX_SHOWN].hex()
    return {"kind": "hex", "hex": "0x" + shown + ("…" if len(data) > HEX_SHOWN else ""), "bytes": len(data)}


def _readable(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text and all(c.isprintable() or c in "\n\t" for c in text) else None
