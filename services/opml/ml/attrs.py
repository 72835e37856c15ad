"""Per-op attribute models (pydantic, strict: unknown keys and out-of-range values are rejected).

Spatial ops are NCHW. Pairs are (height, width); pads are (top, left, bottom, right).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from .quant import M0_LIMIT, M0_MIN, SHIFT_MAX, SHIFT_MIN

Positive = Annotated[StrictInt, Field(ge=1, le=1 << 16)]
NonNegative = Annotated[StrictInt, Field(ge=0, le=1 << 16)]


def _check_m0(m0: int) -> int:
    if m0 != 0 and m0 < M0_MIN:
        raise ValueError(f"multiplier M0={m0} is neither 0 nor in [2^30, 2^31)")
    return m0


Multiplier = Annotated[StrictInt, Field(ge=0, lt=M0_LIMIT), AfterValidator(_check_m0)]
"""A fixed-point multiplier M0: 0 (the op outputs zeros) or normalized into [2^30, 2^31)."""
Shift = Annotated[StrictInt, Field(ge=SHIFT_MIN, le=SHIFT_MAX)]


class Attrs(BaseModel):
    """Base of every attribute model: immutable, no unknown keys, integers and booleans strict (no coercion)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoAttrs(Attrs):
    """Ops without attributes: FullyConnected, ReLU, GlobalAvgPool, Softmax, Gather, Lut, CacheWrite."""


class Conv2DAttrs(Attrs):
    strides: tuple[Positive, Positive] = (1, 1)
    pads: tuple[NonNegative, NonNegative, NonNegative, NonNegative] = (0, 0, 0, 0)
    dilations: tuple[Positive, Positive] = (1, 1)
    groups: Positive = 1


class PoolAttrs(Attrs):
    """MaxPool / AvgPool. Every pad must be smaller than the kernel along its axis (no all-padding window)."""

    kernel: tuple[Positive, Positive]
    strides: tuple[Positive, Positive] = (1, 1)
    pads: tuple[NonNegative, NonNegative, NonNegative, NonNegative] = (0, 0, 0, 0)

    @model_validator(mode="after")
    def _pads_below_kernel(self) -> "PoolAttrs":
        top, left, bottom, right = self.pads
        kh, kw = self.kernel
        if max(top, bottom) >= kh or max(left, right) >= kw:
            raise ValueError(f"pool pads {self.pads} must be smaller than the kernel {self.kernel}")
        return self


class AvgPoolAttrs(PoolAttrs):
    """count_include_pad: divide by kh·kw (True) or by the number of non-padding elements (False)."""

    count_include_pad: StrictBool = False


class AddAttrs(Attrs):
    """out = sat8(RDBPOT(sat32(MBQM(a·2^L, Ma) + MBQM(b·2^L, Mb)), L)); Ma ≈ S_a/S_out, Mb ≈ S_b/S_out."""

    left_shift: Annotated[StrictInt, Field(ge=0, le=24)] = 20
    a_multiplier: Multiplier
    a_shift: Shift
    b_multiplier: Multiplier
    b_shift: Shift
    relu: StrictBool = False


class ReshapeAttrs(Attrs):
    """The full output shape (no −1); the element count must match the input's."""

    shape: tuple[Annotated[StrictInt, Field(ge=1)], ...]


class RequantizeAttrs(Attrs):
    """One (M0, shift) per tensor (length 1) or per channel along `axis` (length = that dimension)."""

    multipliers: tuple[Multiplier, ...] = Field(min_length=1)
    shifts: tuple[Shift, ...] = Field(min_length=1)
    axis: Annotated[StrictInt, Field(ge=0, le=7)] = 1
    relu: StrictBool = False

    @model_validator(mode="after")
    def _lengths(self) -> "RequantizeAttrs":
        if len(self.multipliers) != len(self.shifts):
            raise ValueError(f"{len(self.multipliers)} multipliers but {len(self.shifts)} shifts")
        return self


class ArgMaxAttrs(Attrs):
    """ArgMax over the last axis; keepdims keeps it as a dimension of size 1."""

    keepdims: StrictBool = False


class NormAttrs(Attrs):
    """RMSNorm / LayerNorm: `epsilon` is added to the row's integer variance sum (docs/ops.md); the output
    multiplier (M0, shift) maps the normalized-times-gain value onto the int8 output scale."""

    epsilon: Annotated[StrictInt, Field(ge=1, le=1 << 44)] = 1
    multiplier: Multiplier
    shift: Shift


class MatMulAttrs(Attrs):
    """Batched int8 × int8 → int32 matmul of two activations; transpose_b: b is [B, N, K] instead of [B, K, N]."""

    transpose_b: StrictBool = False


class AttentionAttrs(Attrs):
    """Fused attention. score (M0, shift) ≈ S_q·S_k / (sqrt(head_dim) · ln 2) · 256 turns score differences into
    1/256 steps of log2; out (M0, shift) ≈ S_v / (2^15 · S_out). causal: key t is visible to a query at position
    p only when t <= p."""

    score_multiplier: Multiplier
    score_shift: Shift
    out_multiplier: Multiplier
    out_shift: Shift
    causal: StrictBool = False


class RoPEAttrs(Attrs):
    """Rotary position embedding. frac_bits: the cos/sin table's fixed-point fraction bits. half_split: rotate
    the pairs (i, i + head_dim/2) (NeoX / Hugging Face layout) instead of (2i, 2i + 1) (GGUF llama layout)."""

    frac_bits: Annotated[StrictInt, Field(ge=1, le=30)] = 14
    half_split: StrictBool = False


class MulAttrs(Attrs):
    """Elementwise product: out = sat8(MBQM(a·b, M0, shift)); M0, shift ≈ S_a·S_b / S_out."""

    multiplier: Multiplier
    shift: Shift


class SampleAttrs(Attrs):
    """Sampling the next token: at temperature 1 a logit difference d is ≈ d · step_multiplier / 2^step_shift
    1/256 steps of log2 (256 · logit_scale / ln 2, a model constant); the request's temperature divides it."""

    step_multiplier: Annotated[StrictInt, Field(ge=1, lt=1 << 16)]
    step_shift: Annotated[StrictInt, Field(ge=0, le=31)]
