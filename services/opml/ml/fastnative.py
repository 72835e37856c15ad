"""The fast native executor: numba kernels for the hot ops, the numpy references for the rest; same bits.

`NativePlan(model).run(x)` returns the same `Trace` as `executor.run(model, x)` — every node output bit-identical
(tests/differential/test_fastnative.py holds them to it) — with the per-node work prepared once per model:

- Conv2D, FullyConnected: products of int8 values summed in float32, which is exact while every partial sum
  stays below 2^24 in magnitude: |a·b| <= 2^14 per term, so K = (C/groups)·kh·kw < 2^10 terms suffice, in any
  summation order. Larger K falls back to the reference (int64 / float64 exact paths). Bias added in int64,
  the sum wrapped to int32 like the reference.
- Requantize: gemmlowp's SRDHM and RoundingDivideByPOT in closed form on int64 (docs/ops.md):
  SRDHM(x, M0) = (x·M0 + 2^30) >> 31 (M0 >= 0, so the INT32_MIN² case cannot occur) and
  RDBPOT(v, s) = (v + 2^(s−1) − [v < 0]) >> s for s >= 1, with arithmetic shifts.
- MaxPool: the max over the window's real elements (pads < kernel guarantees one; equals padding with −128).
- Anything else (and the cases above outside their exactness bound) runs the numpy reference.
"""

from __future__ import annotations

import weakref

import numpy as np
from numba import njit

from . import attrs as A
from .executor import Trace, _normalize_inputs
from .model import Model
from .ops import OPS, OpType

FLOAT32_EXACT_TERMS = 1 << 10  # K·2^14 < 2^24


@njit(cache=True)
def _conv2d_unit_stride(plane, w, b, dh, dw, groups, wp, span, acc, out):
    """Stride 1: acc[j, oy·wp + ox] over the row-padded plane (columns >= ow are computed, never read), four
    filters at a time so that each input element loaded feeds four accumulators. A kernel row of width 3 is one
    fused pass (each accumulator loaded and stored once per three multiply-adds); other widths take a pass a tap."""
    filters, cg, kh, kw = w.shape
    og = filters // groups
    taps = np.zeros((4, kw), dtype=np.float32)  # rows >= block keep stale values: their sums are never stored
    for g in range(groups):
        for o0 in range(g * og, (g + 1) * og, 4):
            block = min(4, (g + 1) * og - o0)
            acc[:] = 0
            a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
            for ci in range(cg):
                src = plane[g * cg + ci]
                for ky in range(kh):
                    for j in range(block):
                        for kx in range(kw):
                            taps[j, kx] = np.float32(w[o0 + j, ci, ky, kx])
                    base = ky * dh * wp
                    if kw == 3:
                        t00, t01, t02 = taps[0, 0], taps[0, 1], taps[0, 2]
                        t10, t11, t12 = taps[1, 0], taps[1, 1], taps[1, 2]
                        t20, t21, t22 = taps[2, 0], taps[2, 1], taps[2, 2]
                        t30, t31, t32 = taps[3, 0], taps[3, 1], taps[3, 2]
                        left = src[base:base + span]  # views: indices from 0 let LLVM vectorize
                        middle = src[base + dw:base + dw + span]
                        right = src[base + 2 * dw:base + 2 * dw + span]
                        for p in range(span):
                            u, v, t = left[p], middle[p], right[p]
                            a0[p] += t00 * u + t01 * v + t02 * t
                            a1[p] += t10 * u + t11 * v + t12 * t
                            a2[p] += t20 * u + t21 * v + t22 * t
                            a3[p] += t30 * u + t31 * v + t32 * t
                        continue
                    for kx in range(kw):
                        w0, w1, w2, w3 = taps[0, kx], taps[1, kx], taps[2, kx], taps[3, kx]
                        window = src[base + kx * dw:base + kx * dw + span]
                        for p in range(span):
                            v = window[p]
                            a0[p] += w0 * v
                            a1[p] += w1 * v
                            a2[p] += w2 * v
                            a3[p] += w3 * v
            _store_sums(acc, b, o0, block, wp, out)


@njit(cache=True)
def _store_sums(acc, b, o0, block, wp, out):
    """out[o0 + j, oy, ox] = wrap32(acc[j, oy·wp + ox] + b[o0 + j]) (acc holds exact integers)."""
    oh, ow = out.shape[1], out.shape[2]
    for j in range(block):
        bias = np.int64(b[o0 + j])
        sums = acc[j]
        for oy in range(oh):
            dst = out[o0 + j, oy]
            row = sums[oy * wp:oy * wp + ow]
            for ox in range(ow):
                dst[ox] = np.int32(np.int64(row[ox]) + bias)


@njit(cache=True)
def _conv2d_strided(plane, w, b, sh, sw, dh, dw, groups, wp, out):
    """Any stride: one float32 dot product per output element."""
    filters, cg, kh, kw = w.shape
    oh, ow = out.shape[1], out.shape[2]
    og = filters // groups
    for o in range(filters):
        g = o // og
        for oy in range(oh):
            for ox in range(ow):
                total = np.float32(0)
                for ci in range(cg):
                    src = plane[g * cg + ci]
                    for ky in range(kh):
                        base = (oy * sh + ky * dh) * wp + ox * sw
                        for kx in range(kw):
                            total += np.float32(w[o, ci, ky, kx]) * src[base + kx * dw]
                out[o, oy, ox] = np.int32(np.int64(total) + np.int64(b[o]))


@njit(cache=True)
def _conv2d_kernel(x, w, b, sh, sw, pt, pl, pb, pr, dh, dw, groups, out):
    """out = wrap32(conv(x, w) + b) for every image: zero-padded float32 planes, then a unit-stride or a strided
    accumulation (exact: see the module docstring)."""
    n_batch, channels, height, width = x.shape
    kw = w.shape[3]
    oh = out.shape[2]
    hp, wp = height + pt + pb, width + pl + pr
    span = oh * wp
    plane = np.zeros((channels, hp * wp + (kw - 1) * dw + 1), dtype=np.float32)
    acc = np.empty((4, span), dtype=np.float32)
    for n in range(n_batch):
        for c in range(channels):
            for y in range(height):
                src = x[n, c, y]
                dst = plane[c, (y + pt) * wp + pl:(y + pt) * wp + pl + width]
                for xx in range(width):
                    dst[xx] = np.float32(src[xx])
        if sh == 1 and sw == 1:
            _conv2d_unit_stride(plane, w, b, dh, dw, groups, wp, span, acc, out[n])
        else:
            _conv2d_strided(plane, w, b, sh, sw, dh, dw, groups, wp, out[n])


@njit(cache=True, fastmath={"reassoc", "contract"})
def _fully_connected_kernel(x, wt, b, out):
    """out[m, j] = wrap32(sum_k x[m, k]·wt[k, j] + b[j]); wt is the float32 transposed weight matrix."""
    rows, k = x.shape
    n = wt.shape[1]
    acc = np.empty(n, dtype=np.float32)
    for m in range(rows):
        acc[:] = 0
        for kk in range(k):
            xv = np.float32(x[m, kk])
            if xv != 0:
                for j in range(n):
                    acc[j] += xv * wt[kk, j]
        for j in range(n):
            out[m, j] = np.int32(np.int64(acc[j]) + np.int64(b[j]))


@njit(cache=True)
def _requantize_kernel(x, m0, shift, low, out):
    """x, out: [outer, channels, inner] views; m0/shift: one per channel."""
    outer, channels, inner = x.shape
    for c in range(channels):
        m = np.int64(m0[c])
        s = np.int64(shift[c])
        left = -s if s < 0 else 0
        right = s if s > 0 else 0
        half = (np.int64(1) << (right - 1)) if right > 0 else np.int64(0)
        for o in range(outer):
            for i in range(inner):
                v = np.int64(x[o, c, i])
                if left > 0:
                    v = v << left
                    if v > 2147483647:
                        v = 2147483647
                    elif v < -2147483648:
                        v = -2147483648
                v = (v * m + (np.int64(1) << 30)) >> 31
                if right > 0:
                    v = (v + half - (1 if v < 0 else 0)) >> right
                if v > 127:
                    v = 127
                elif v < low:
                    v = low
                out[o, c, i] = v


@njit(cache=True)
def _max_pool_kernel(x, kh, kw, sh, sw, pt, pl, out):
    """Tap by tap: out = max over taps (ky, kx) of the input rows/columns that tap reads inside the image."""
    n_batch, channels, height, width = x.shape
    oh, ow = out.shape[2], out.shape[3]
    out[:] = -128
    for n in range(n_batch):
        for c in range(channels):
            src = x[n, c]
            dst = out[n, c]
            for ky in range(kh):
                oy_lo = max(0, (pt - ky + sh - 1) // sh)
                oy_hi = min(oh, (height - 1 + pt - ky) // sh + 1)
                for kx in range(kw):
                    ox_lo = max(0, (pl - kx + sw - 1) // sw)
                    ox_hi = min(ow, (width - 1 + pl - kx) // sw + 1)
                    base = kx - pl
                    for oy in range(oy_lo, oy_hi):
                        src_row = src[oy * sh + ky - pt]
                        dst_row = dst[oy]
                        for ox in range(ox_lo, ox_hi):
                            v = src_row[ox * sw + base]
                            if v > dst_row[ox]:
                                dst_row[ox] = v


@njit(cache=True)
def _max_pool_2x2_kernel(x, out):
    """The common case kernel = stride = 2×2 without padding (every window inside the image)."""
    n_batch, channels = x.shape[0], x.shape[1]
    oh, ow = out.shape[2], out.shape[3]
    for n in range(n_batch):
        for c in range(channels):
            src = x[n, c]
            dst = out[n, c]
            for oy in range(oh):
                top, bottom, row = src[2 * oy], src[2 * oy + 1], dst[oy]
                for ox in range(ow):
                    row[ox] = max(max(top[2 * ox], top[2 * ox + 1]), max(bottom[2 * ox], bottom[2 * ox + 1]))


# -- per-node steps: prepared once, called per inference ------------------------------------------------------


def _conv2d_step(node, model: Model):
    w = model.constants.get(node.inputs[1])
    if w is None or w.shape[1] * w.shape[2] * w.shape[3] >= FLOAT32_EXACT_TERMS:
        return None
    a: A.Conv2DAttrs = node.attrs
    out_shape = model.tensors[node.output].shape
    args = (*a.strides, *a.pads, *a.dilations, a.groups)

    def step(ins):
        out = np.empty(out_shape, dtype=np.int32)
        _conv2d_kernel(ins[0], ins[1], ins[2], *args, out)
        return out

    return step


def _fully_connected_step(node, model: Model):
    w = model.constants.get(node.inputs[1])
    if w is None or w.shape[1] >= FLOAT32_EXACT_TERMS:
        return None
    wt = np.ascontiguousarray(w.T, dtype=np.float32)
    out_shape = model.tensors[node.output].shape

    def step(ins):
        out = np.empty(out_shape, dtype=np.int32)
        _fully_connected_kernel(ins[0], wt, ins[2], out)
        return out

    return step


def _requantize_step(node, model: Model):
    a: A.RequantizeAttrs = node.attrs
    shape = model.tensors[node.output].shape
    channels = len(a.multipliers)
    if channels > 1:
        view = (int(np.prod(shape[: a.axis])), channels, int(np.prod(shape[a.axis + 1:])))
    else:
        view = (1, 1, int(np.prod(shape)))
    m0 = np.asarray(a.multipliers, dtype=np.int64)
    shift = np.asarray(a.shifts, dtype=np.int64)
    low = 0 if a.relu else -128

    def step(ins):
        out = np.empty(shape, dtype=np.int8)
        _requantize_kernel(ins[0].reshape(view), m0, shift, low, out.reshape(view))
        return out

    return step


def _max_pool_step(node, model: Model):
    a: A.PoolAttrs = node.attrs
    out_shape = model.tensors[node.output].shape
    args = (*a.kernel, *a.strides, a.pads[0], a.pads[1])
    if a.kernel == (2, 2) and a.strides == (2, 2) and a.pads == (0, 0, 0, 0):

        def step_2x2(ins):
            out = np.empty(out_shape, dtype=np.int8)
            _max_pool_2x2_kernel(ins[0], out)
            return out

        return step_2x2

    def step(ins):
        out = np.empty(out_shape, dtype=np.int8)
        _max_pool_kernel(ins[0], *args, out)
        return out

    return step


FAST_STEPS = {
    OpType.CONV2D: _conv2d_step,
    OpType.FULLY_CONNECTED: _fully_connected_step,
    OpType.REQUANTIZE: _requantize_step,
    OpType.MAX_POOL: _max_pool_step,
}


def _reference_step(node):
    reference, attrs = OPS[node.op].reference, node.attrs
    return lambda ins: reference(ins, attrs)


class NativePlan:
    """A model prepared for fast native runs: one step function per node (numba kernel or numpy reference)."""

    def __init__(self, model: Model):
        self.model = model
        self.steps = []
        self.fast: list[bool] = []  # per node: True where a numba kernel runs it
        for node in model.nodes:
            make = FAST_STEPS.get(node.op)
            step = make(node, model) if make else None
            self.fast.append(step is not None)
            self.steps.append((step or _reference_step(node), node.inputs, node.output))

    def run(self, inputs) -> Trace:
        """Same contract as `executor.run` (InputError on bad inputs); the same bits."""
        trace = Trace(self.model)
        values = trace.values
        values.update(_normalize_inputs(self.model, inputs))
        values.update(self.model.constants)
        for step, slots, output in self.steps:
            values[output] = trace.outputs[output] = step([values[s] for s in slots])
        return trace


_PLANS: dict[int, tuple[weakref.ref, NativePlan]] = {}


def run(model: Model, inputs) -> Trace:
    """`NativePlan(model).run(inputs)`, with the plan cached for as long as `model` lives."""
    entry = _PLANS.get(id(model))
    if entry is None or entry[0]() is not model:
        entry = (weakref.ref(model, lambda _, key=id(model), plans=_PLANS: plans.pop(key, None)), NativePlan(model))
        _PLANS[id(model)] = entry
    return entry[1].run(inputs)
