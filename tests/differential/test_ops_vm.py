"""Every op: numpy reference == its MIPS kernel in the VM (whole node) == the tiles of a random split run in
sequence (fresh states, and one image rewound per tile), bit for bit, on random shapes, attributes and inputs
(docs/ops.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from opml.kernels import load_kernel
from opml.kernels.params import EXIT_BAD_TILE, pack_params
from opml.ml import ops, quant, vmrun
from opml.ml import transformer_consts as tc
from opml.ml.errors import OpError
from opml.ml.model import Node
from opml.ml.ops import OpType
from opml.ml.reference import SOFTMAX_TABLE_MAX, softmax_exp_table
from opml.vm.fast import run_fast
from opml.vm.state import Status

EXAMPLES = 60
I8 = st.integers(-128, 127)
I32 = st.integers(quant.INT32_MIN, quant.INT32_MAX)
M0 = st.one_of(st.just(0), st.integers(quant.M0_MIN, quant.M0_LIMIT - 1))
SHIFT = st.integers(quant.SHIFT_MIN, quant.SHIFT_MAX)
PAIR = st.tuples(st.integers(1, 3), st.integers(1, 3))


def i8_array(shape, elements=I8):
    return hnp.arrays(np.int8, shape, elements=elements)


def i32_array(shape, elements=I32):
    return hnp.arrays(np.int32, shape, elements=elements)


@st.composite
def tile_bounds(draw, size: int) -> list[int]:
    """0 = b0 <= b1 <= … <= size: a random split into up to 4 tiles (empty tiles included)."""
    cuts = draw(st.lists(st.integers(0, size), max_size=3))
    return [0, *sorted(cuts), size]


def check_node(data, node: Node, inputs: list[np.ndarray]) -> None:
    expected = ops.evaluate(node.op, inputs, node.attrs)
    whole = vmrun.run_node(node, inputs)
    assert whole.output.dtype == expected.dtype and whole.output.shape == expected.shape
    assert np.array_equal(whole.output, expected), f"{node.op.value}: VM != numpy\n{whole.output}\n{expected}"
    bounds = data.draw(tile_bounds(expected.size), label="tiles")
    tiled = vmrun.run_tiles(node, inputs, bounds)
    assert np.array_equal(tiled, expected), f"{node.op.value}: tiles {bounds} != numpy"
    _, rewound = vmrun.tile_steps(node, inputs, list(zip(bounds, bounds[1:])))  # one image, rewound per tile
    assert np.array_equal(rewound, expected), f"{node.op.value}: tiles {bounds} on one image != numpy"


def differential(test):
    return settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])(
        given(st.data())(test))


def shape(max_rank=3, max_side=5):
    return hnp.array_shapes(min_dims=1, max_dims=max_rank, min_side=1, max_side=max_side)


@differential
def test_fully_connected(data):
    n, k, o = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 40)), data.draw(st.integers(1, 8))
    inputs = [data.draw(i8_array((n, k))), data.draw(i8_array((o, k))), data.draw(i32_array((o,)))]
    check_node(data, Node.make(OpType.FULLY_CONNECTED, [0, 1, 2], 3), inputs)


@differential
def test_conv2d(data):
    groups = data.draw(st.integers(1, 3))
    cg, og = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2))
    kh, kw = data.draw(PAIR)
    attrs = {"strides": data.draw(PAIR), "dilations": data.draw(st.tuples(st.integers(1, 2), st.integers(1, 2))),
             "pads": data.draw(st.tuples(*[st.integers(0, 2)] * 4)), "groups": groups}
    h, w = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    top, left, bottom, right = attrs["pads"]
    assume(h + top + bottom > attrs["dilations"][0] * (kh - 1) and w + left + right > attrs["dilations"][1] * (kw - 1))
    x = data.draw(i8_array((data.draw(st.integers(1, 2)), cg * groups, h, w)))
    weights = data.draw(i8_array((og * groups, cg, kh, kw)))
    bias = data.draw(i32_array((og * groups,)))
    check_node(data, Node.make(OpType.CONV2D, [0, 1, 2], 3, attrs), [x, weights, bias])


@differential
def test_relu(data):
    dtype = data.draw(st.sampled_from([np.int8, np.int32]))
    x = data.draw(hnp.arrays(dtype, shape()))
    check_node(data, Node.make(OpType.RELU, [0], 1), [x])


@st.composite
def pool_case(draw):
    kernel = draw(PAIR)
    pads = tuple(draw(st.integers(0, kernel[i % 2] - 1)) for i in range(4))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    assume(h + pads[0] + pads[2] >= kernel[0] and w + pads[1] + pads[3] >= kernel[1])
    x = draw(i8_array((draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w)))
    return {"kernel": kernel, "strides": draw(PAIR), "pads": pads}, x


@differential
def test_max_pool(data):
    attrs, x = data.draw(pool_case())
    check_node(data, Node.make(OpType.MAX_POOL, [0], 1, attrs), [x])


@differential
def test_avg_pool(data):
    attrs, x = data.draw(pool_case())
    attrs["count_include_pad"] = data.draw(st.booleans())
    check_node(data, Node.make(OpType.AVG_POOL, [0], 1, attrs), [x])


@differential
def test_global_avg_pool(data):
    x = data.draw(i8_array(hnp.array_shapes(min_dims=4, max_dims=4, max_side=6)))
    check_node(data, Node.make(OpType.GLOBAL_AVG_POOL, [0], 1), [x])


@differential
def test_add(data):
    s = data.draw(shape())
    attrs = {"left_shift": data.draw(st.integers(0, 24)), "a_multiplier": data.draw(M0), "a_shift": data.draw(SHIFT),
             "b_multiplier": data.draw(M0), "b_shift": data.draw(SHIFT), "relu": data.draw(st.booleans())}
    check_node(data, Node.make(OpType.ADD, [0, 1], 2, attrs), [data.draw(i8_array(s)), data.draw(i8_array(s))])


@differential
def test_add_realistic_scales(data):
    s = data.draw(shape())
    (ma, sa), (mb, sb) = (quant.quantize_multiplier(data.draw(st.floats(0.05, 3.0))) for _ in range(2))
    attrs = {"a_multiplier": ma, "a_shift": sa, "b_multiplier": mb, "b_shift": sb}  # S_a/S_out, S_b/S_out
    check_node(data, Node.make(OpType.ADD, [0, 1], 2, attrs), [data.draw(i8_array(s)), data.draw(i8_array(s))])


@differential
def test_reshape(data):
    dtype = data.draw(st.sampled_from([np.int8, np.int32]))
    x = data.draw(hnp.arrays(dtype, shape()))
    target = data.draw(st.sampled_from([(x.size,), (1, x.size), tuple(reversed(x.shape)), (x.size, 1, 1)]))
    check_node(data, Node.make(OpType.RESHAPE, [0], 1, {"shape": target}), [x])


@differential
def test_requantize(data):
    x = data.draw(i32_array(shape(max_rank=4)))
    per_channel = data.draw(st.booleans())
    axis = data.draw(st.integers(0, x.ndim - 1)) if per_channel else 1
    channels = x.shape[axis] if per_channel else 1
    attrs = {"multipliers": tuple(data.draw(M0) for _ in range(channels)),
             "shifts": tuple(data.draw(SHIFT) for _ in range(channels)), "axis": axis, "relu": data.draw(st.booleans())}
    check_node(data, Node.make(OpType.REQUANTIZE, [0], 1, attrs), [x])


@differential
def test_requantize_small_accumulators(data):
    """Realistic accumulators (products land inside int8) exercise rounding rather than saturation."""
    x = data.draw(i32_array(shape(), elements=st.integers(-40_000, 40_000)))
    m0, shift = quant.quantize_multiplier(data.draw(st.floats(1e-4, 0.05)))
    check_node(data, Node.make(OpType.REQUANTIZE, [0], 1, {"multipliers": (m0,), "shifts": (shift,)}), [x])


@differential
def test_softmax(data):
    x = data.draw(i8_array(shape(max_side=12)))
    if data.draw(st.booleans()):
        table = softmax_exp_table(data.draw(st.floats(0.001, 2.0)))
    else:
        table = data.draw(i32_array((256,), elements=st.integers(0, SOFTMAX_TABLE_MAX)))
        table[0] = max(int(table[0]), 1)
    check_node(data, Node.make(OpType.SOFTMAX, [0, 1], 2), [x, table])


@differential
def test_argmax(data):
    dtype = data.draw(st.sampled_from([np.int8, np.int32]))
    elements = data.draw(st.sampled_from([st.integers(-2, 2), st.integers(-128, 127)]))  # small ranges: many ties
    x = data.draw(hnp.arrays(dtype, shape(max_side=8), elements=elements))
    check_node(data, Node.make(OpType.ARGMAX, [0], 1, {"keepdims": data.draw(st.booleans())}), [x])


def test_every_op_is_covered():
    covered = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert {ops.OPS[op].kernel for op in OpType} <= covered


@pytest.mark.parametrize("first, end", [(3, 2), (0, 10)])
def test_kernel_rejects_a_tile_outside_the_output(first, end):
    x = np.arange(-4, 5, dtype=np.int8)
    state = load_kernel("relu", params=pack_params(first, end, [x.size, 1]), inputs=[x.tobytes()])
    run_fast(state, 100_000)
    assert (state.status, state.exit_code) == (Status.EXITED, EXIT_BAD_TILE)


def test_vmrun_reports_bad_tiles_and_kernel_failures():
    node = Node.make(OpType.SOFTMAX, [0, 1], 2)
    x = np.zeros((2, 3), dtype=np.int8)
    with pytest.raises(vmrun.VMRunError, match="not inside"):
        vmrun.run_node(node, [x, softmax_exp_table(0.1)], 0, 7)
    bad_table = np.full(256, SOFTMAX_TABLE_MAX + 1, dtype=np.int32)
    with pytest.raises(vmrun.VMRunError, match="code 16"):
        vmrun.run_node(node, [x, bad_table])


def test_tile_leaves_the_rest_of_the_output_untouched():
    x = np.arange(-50, 50, dtype=np.int8).reshape(10, 10)
    before = np.full((10, 10), 99, dtype=np.int8)
    out = vmrun.run_node(Node.make(OpType.RELU, [0], 1), [x], 25, 61, output_before=before).output
    flat = out.ravel()
    assert (flat[:25] == 99).all() and (flat[61:] == 99).all()
    assert np.array_equal(flat[25:61], np.maximum(x.ravel()[25:61], 0))
    assert math.prod(out.shape) == 100


# --- transformer ops -------------------------------------------------------------------------------------------

EPSILON = st.one_of(st.integers(1, 100), st.integers(1, tc.EPSILON_MAX))


@differential
def test_gather(data):
    vocab, dim = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 5))
    dtype = data.draw(st.sampled_from([np.int8, np.int32]))
    table = data.draw(hnp.arrays(dtype, (vocab, dim)))
    ids = data.draw(i32_array(shape(max_rank=2, max_side=3), elements=st.integers(0, vocab - 1)))
    check_node(data, Node.make(OpType.GATHER, [0, 1], 2), [table, ids])


@st.composite
def norm_case(draw, with_bias: bool):
    x = draw(i8_array(shape(max_rank=3, max_side=9), elements=draw(st.sampled_from([I8, st.integers(-3, 3)]))))
    d = x.shape[-1]
    if draw(st.booleans()):  # realistic constants from float gains
        gamma = draw(hnp.arrays(np.float64, (d,), elements=st.floats(-4, 4)))
        beta = draw(hnp.arrays(np.float64, (d,), elements=st.floats(-2, 2))) if with_bias else None
        gain, bias, attrs = tc.norm_constants(gamma, beta, 1e-5, draw(st.floats(0.001, 1)), draw(st.floats(0.01, 1)))
    else:
        gain, bias = draw(i32_array((d,))), draw(i32_array((d,)))
        attrs = {"epsilon": draw(EPSILON), "multiplier": draw(M0), "shift": draw(SHIFT)}
    return x, gain, (bias if with_bias else None), attrs


@differential
def test_rms_norm(data):
    x, gain, _, attrs = data.draw(norm_case(False))
    check_node(data, Node.make(OpType.RMS_NORM, [0, 1], 2, attrs), [x, gain])


@differential
def test_layer_norm(data):
    x, gain, bias, attrs = data.draw(norm_case(True))
    check_node(data, Node.make(OpType.LAYER_NORM, [0, 1, 2], 3, attrs), [x, gain, bias])


@differential
def test_matmul(data):
    b, m, k, n = (data.draw(st.integers(1, 4)) for _ in range(4))
    transpose = data.draw(st.booleans())
    a, other = data.draw(i8_array((b, m, k))), data.draw(i8_array((b, n, k) if transpose else (b, k, n)))
    check_node(data, Node.make(OpType.MATMUL, [0, 1], 2, {"transpose_b": transpose}), [a, other])


@st.composite
def attention_case(draw):
    b, s, kv, group = (draw(st.integers(1, 2)) for _ in range(4))
    d, keys = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    q, k, v = draw(i8_array((b, s, kv * group, d))), draw(i8_array((b, keys, kv, d))), draw(i8_array((b, keys, kv, d)))
    positions = draw(i32_array((b, s), elements=st.integers(-1, keys)))
    mask = draw(i32_array((b, keys), elements=st.sampled_from([0, 1, 1, -7])))
    causal = draw(st.booleans())
    if draw(st.booleans()):
        scales = [draw(st.floats(0.002, 0.1)) for _ in range(4)]
        attrs = tc.attention_attrs(*scales, head_dim=d, causal=causal)
        table = tc.exp2_table()
    else:
        attrs = {"score_multiplier": draw(M0), "score_shift": draw(SHIFT), "out_multiplier": draw(M0),
                 "out_shift": draw(SHIFT), "causal": causal}
        table = draw(i32_array((256,), elements=st.integers(0, SOFTMAX_TABLE_MAX)))
        table[0] = max(int(table[0]), 1)
    return [q, k, v, positions, mask, table], attrs


@differential
def test_attention(data):
    inputs, attrs = data.draw(attention_case())
    check_node(data, Node.make(OpType.ATTENTION, [0, 1, 2, 3, 4, 5], 6, attrs), inputs)


@differential
def test_rope(data):
    b, s, h = (data.draw(st.integers(1, 2)) for _ in range(3))
    d, max_pos = 2 * data.draw(st.integers(1, 4)), data.draw(st.integers(1, 6))
    frac_bits = data.draw(st.integers(1, 30))
    if data.draw(st.booleans()):
        table = tc.rope_table(d, max_pos, data.draw(st.floats(2, 1e6)), min(frac_bits, 24))
    else:
        table = data.draw(i32_array((max_pos, d)))
    x = data.draw(i8_array((b, s, h, d)))
    positions = data.draw(i32_array((b, s), elements=st.integers(0, max_pos - 1)))
    attrs = {"frac_bits": frac_bits, "half_split": data.draw(st.booleans())}
    check_node(data, Node.make(OpType.ROPE, [0, 1, 2], 3, attrs), [x, positions, table])


@differential
def test_lut(data):
    check_node(data, Node.make(OpType.LUT, [0, 1], 2), [data.draw(i8_array(shape())), data.draw(i8_array((256,)))])


@differential
def test_mul(data):
    s = data.draw(shape())
    if data.draw(st.booleans()):
        attrs = tc.mul_attrs(*(data.draw(st.floats(0.001, 0.5)) for _ in range(3)))
    else:
        attrs = {"multiplier": data.draw(M0), "shift": data.draw(SHIFT)}
    check_node(data, Node.make(OpType.MUL, [0, 1], 2, attrs), [data.draw(i8_array(s)), data.draw(i8_array(s))])


@differential
def test_cache_write(data):
    b, slots, seq = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 5)), data.draw(st.integers(1, 3))
    rest = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    dtype = data.draw(st.sampled_from([np.int8, np.int32]))
    cache, new = data.draw(hnp.arrays(dtype, (b, slots, *rest))), data.draw(hnp.arrays(dtype, (b, seq, *rest)))
    positions = data.draw(i32_array((b, seq), elements=st.integers(0, slots - 1)))  # repeats included
    check_node(data, Node.make(OpType.CACHE_WRITE, [0, 1, 2], 3), [cache, new, positions])


@st.composite
def sample_case(draw):
    """Logits with many ties or the full int32 range, every kind of temperature, real or random constants."""
    vocab = draw(st.integers(1, 40))
    elements = draw(st.sampled_from([st.integers(-3, 3), st.integers(-3000, 3000), I32]))
    logits = draw(i32_array((1, vocab), elements=elements))
    temperature = draw(st.one_of(st.just(0), st.just(1), st.integers(1, 2**32 - 1), st.integers(2**14, 2**18)))
    words = np.array([draw(st.integers(0, 2**32 - 1)) for _ in range(2)] + [temperature, draw(st.integers(0, 9))],
                     dtype=np.uint32).view(np.int32)
    position = draw(i32_array((1, 1)))
    if draw(st.booleans()):
        attrs, table = tc.sample_attrs(draw(st.floats(1e-4, 10))), tc.exp2_table()
    else:
        attrs = {"step_multiplier": draw(st.integers(1, 2**16 - 1)), "step_shift": draw(st.integers(0, 31))}
        table = draw(i32_array((256,), elements=st.integers(0, SOFTMAX_TABLE_MAX)))
        table[0] = max(int(table[0]), 1)
    return [logits, words, position, table], attrs


@differential
def test_sample(data):
    inputs, attrs = data.draw(sample_case())
    check_node(data, Node.make(OpType.SAMPLE, [0, 1, 2, 3], 4, attrs), inputs)


def test_sample_step_count_does_not_depend_on_the_data():
    """Greedy or sampled, whatever the logits, seed and position: the same number of VM steps (docs/ops.md)."""
    rng = np.random.default_rng(8)
    node = Node.make(OpType.SAMPLE, [0, 1, 2, 3], 4, tc.sample_attrs(0.03))
    fills = [rng.integers(-(2**31), 2**31, (1, 50)), np.zeros((1, 50)), np.full((1, 50), -(2**31)),
             np.full((1, 50), 2**31 - 1), np.arange(50)[None, :], rng.integers(-5, 5, (1, 50))]
    steps = set()
    for logits in fills:
        for temperature in (0, 1, 65536, 2**32 - 1, int(rng.integers(1, 2**32))):
            words = np.array([*rng.integers(0, 2**32, 2), temperature, 0], dtype=np.uint32).view(np.int32)
            inputs = [logits.astype(np.int32), words, rng.integers(-9, 200, (1, 1), dtype=np.int32), tc.exp2_table()]
            run = vmrun.run_node(node, inputs)
            assert np.array_equal(run.output, ops.evaluate(node.op, inputs, node.attrs))
            steps.add(run.steps)
    assert len(steps) == 1, f"Sample: steps vary with the data: {steps}"


@pytest.mark.parametrize("op, inputs", [
    (OpType.GATHER, [np.zeros((4, 2), np.int8), np.array([1, 4], np.int32)]),
    (OpType.GATHER, [np.zeros((4, 2), np.int8), np.array([-1], np.int32)]),
    (OpType.ROPE, [np.zeros((1, 1, 1, 2), np.int8), np.array([[3]], np.int32), np.zeros((3, 2), np.int32)]),
    (OpType.CACHE_WRITE, [np.zeros((1, 3, 2), np.int8), np.zeros((1, 1, 2), np.int8), np.array([[3]], np.int32)]),
    (OpType.ATTENTION, [np.zeros((1, 1, 1, 2), np.int8), np.zeros((1, 2, 1, 2), np.int8),
                        np.zeros((1, 2, 1, 2), np.int8), np.zeros((1, 1), np.int32), np.ones((1, 2), np.int32),
                        np.zeros(256, np.int32)]),
    (OpType.SAMPLE, [np.zeros((1, 3), np.int32), np.zeros(4, np.int32), np.zeros((1, 1), np.int32),
                     np.full(256, SOFTMAX_TABLE_MAX + 1, np.int32)]),
], ids=["gather-high", "gather-negative", "rope", "cache_write", "attention-table", "sample-table"])
def test_out_of_range_ids_positions_and_tables_fail_both_ways(op, inputs):
    """The native path raises OpError and the kernel exits with code 16, for every tile."""
    attrs = {OpType.ATTENTION: {"score_multiplier": 0, "score_shift": 0, "out_multiplier": 0, "out_shift": 0},
             OpType.SAMPLE: tc.sample_attrs(0.1)}
    node = Node.make(op, list(range(len(inputs))), len(inputs), attrs.get(op, {}))
    with pytest.raises(OpError):
        ops.evaluate(node.op, inputs, node.attrs)
    with pytest.raises(vmrun.VMRunError, match="code 16"):
        vmrun.run_node(node, inputs, 0, 1)


def _random_inputs(op: OpType, rng: np.random.Generator, fill: str) -> tuple[Node, list[np.ndarray]]:
    """A fixed shape per op; the values are random, all zeros, all minimal or all maximal (`fill`)."""
    def i8(*s):
        if fill == "random":
            return rng.integers(-128, 128, s, dtype=np.int8)
        return np.full(s, {"zero": 0, "min": -128, "max": 127}[fill], dtype=np.int8)

    def i32(*s, low=quant.INT32_MIN, high=quant.INT32_MAX):
        return rng.integers(low, high, s, dtype=np.int32, endpoint=True)

    m0, shift = quant.quantize_multiplier(0.013)
    if op is OpType.GATHER:
        return Node.make(op, [0, 1], 2), [i8(7, 5), i32(4, low=0, high=6)]
    if op is OpType.RMS_NORM:
        return Node.make(op, [0, 1], 2, {"epsilon": 3, "multiplier": m0, "shift": shift}), [i8(3, 16), i32(16)]
    if op is OpType.LAYER_NORM:
        return (Node.make(op, [0, 1, 2], 3, {"epsilon": 3, "multiplier": m0, "shift": shift}),
                [i8(3, 16), i32(16), i32(16)])
    if op is OpType.MATMUL:
        return Node.make(op, [0, 1], 2, {"transpose_b": True}), [i8(2, 3, 7), i8(2, 4, 7)]
    if op is OpType.ATTENTION:
        attrs = tc.attention_attrs(0.02, 0.03, 0.05, 0.01, 8, causal=True)
        return (Node.make(op, [0, 1, 2, 3, 4, 5], 6, attrs),
                [i8(1, 2, 4, 8), i8(1, 6, 2, 8), i8(1, 6, 2, 8), i32(1, 2, low=-1, high=6),
                 i32(1, 6, low=0, high=1), tc.exp2_table()])
    if op is OpType.ROPE:
        return (Node.make(op, [0, 1, 2], 3, {"frac_bits": 12, "half_split": True}),
                [i8(1, 3, 2, 8), i32(1, 3, low=0, high=9), i32(10, 8)])
    if op is OpType.LUT:
        return Node.make(op, [0, 1], 2), [i8(5, 7), i8(256)]
    if op is OpType.MUL:
        return Node.make(op, [0, 1], 2, {"multiplier": m0, "shift": shift - 6}), [i8(5, 7), i8(5, 7)]
    if op is OpType.REQUANTIZE:  # per channel: a right shift, a saturating left shift; int32 extremes as data
        big, _ = quant.quantize_multiplier(3.7)
        wide = i8(2, 3, 5).astype(np.int32) * 16_777_216 + i8(2, 3, 5)
        return Node.make(op, [0], 1, {"multipliers": (m0, big, m0), "shifts": (shift, -2, 0), "relu": True}), [wide]
    if op is OpType.ADD:
        return (Node.make(op, [0, 1], 2, {"a_multiplier": m0, "a_shift": shift - 8, "b_multiplier": m0,
                                          "b_shift": -1}), [i8(5, 7), i8(5, 7)])
    if op is OpType.RELU:
        return Node.make(op, [0], 1), [i8(5, 7)]
    if op is OpType.FULLY_CONNECTED:
        return Node.make(op, [0, 1, 2], 3), [i8(2, 9), i8(3, 9), i32(3, low=-1000, high=1000)]
    if op is OpType.CONV2D:
        return (Node.make(op, [0, 1, 2], 3, {"pads": (1, 0, 1, 2), "strides": (2, 1), "groups": 2}),
                [i8(1, 4, 4, 3), i8(4, 2, 2, 2), i32(4, low=-99, high=99)])
    if op is OpType.MAX_POOL:
        return Node.make(op, [0], 1, {"kernel": (3, 2), "pads": (2, 1, 1, 0)}), [i8(1, 2, 4, 3)]
    if op is OpType.ARGMAX:
        return Node.make(op, [0], 1), [i8(9, 5)]
    if op is OpType.SOFTMAX:
        return Node.make(op, [0, 1], 2), [i8(2, 7), softmax_exp_table(0.07)]
    if op is OpType.RESHAPE:
        return Node.make(op, [0], 1, {"shape": (6, 2)}), [i8(3, 4)]
    if op is OpType.AVG_POOL:
        return Node.make(op, [0], 1, {"kernel": (2, 2), "pads": (1, 1, 1, 1)}), [i8(1, 2, 5, 5)]
    if op is OpType.GLOBAL_AVG_POOL:
        return Node.make(op, [0], 1), [i8(2, 3, 4, 4)]
    assert op is OpType.CACHE_WRITE
    return Node.make(op, [0, 1, 2], 3), [i8(1, 6, 2, 3), i8(1, 2, 2, 3), i32(1, 2, low=0, high=5)]


DRAWN_OPS = [OpType.GATHER, OpType.RMS_NORM, OpType.LAYER_NORM, OpType.MATMUL, OpType.ATTENTION, OpType.ROPE,
             OpType.LUT, OpType.MUL, OpType.CACHE_WRITE, OpType.REQUANTIZE, OpType.ADD, OpType.RELU, OpType.AVG_POOL,
             OpType.GLOBAL_AVG_POOL, OpType.FULLY_CONNECTED, OpType.CONV2D, OpType.MAX_POOL, OpType.ARGMAX,
             OpType.SOFTMAX, OpType.RESHAPE]


@pytest.mark.parametrize("op", DRAWN_OPS, ids=lambda op: op.value)
def test_step_count_does_not_depend_on_the_data(op):
    """Same shapes and attributes, different values (random draws and constant extremes): the whole node and a
    tile take the same number of VM steps each time (docs/ops.md "Step counts")."""
    rng = np.random.default_rng(5)
    whole, tile = set(), set()
    for fill in ["random"] * 4 + ["zero", "min", "max"]:
        node, inputs = _random_inputs(op, rng, fill)
        expected = ops.evaluate(node.op, inputs, node.attrs)
        run = vmrun.run_node(node, inputs)
        assert np.array_equal(run.output, expected)
        whole.add(run.steps)
        tile.add(vmrun.run_node(node, inputs, 3, expected.size - 2).steps)
    assert len(whole) == 1 and len(tile) == 1, f"{op.value}: steps vary with the data: {whole}, {tile}"


def _fixed_cases() -> dict[OpType, tuple[Node, list[np.ndarray]]]:
    rng = np.random.default_rng(11)

    def r8(*s):
        return rng.integers(-128, 128, s, dtype=np.int8)

    m0, shift = quant.quantize_multiplier(0.37)
    return {
        **{op: _random_inputs(op, rng, "random") for op in DRAWN_OPS},  # the explicit cases below take precedence
        OpType.FULLY_CONNECTED: (Node.make("FullyConnected", [0, 1, 2], 3),
                                 [r8(2, 9), r8(3, 9), rng.integers(-1000, 1000, 3, dtype=np.int32)]),
        OpType.CONV2D: (Node.make("Conv2D", [0, 1, 2], 3, {"pads": (1, 0, 1, 2), "strides": (2, 1), "groups": 2}),
                        [r8(1, 4, 4, 3), r8(4, 2, 2, 2), rng.integers(-99, 99, 4, dtype=np.int32)]),
        OpType.RELU: (Node.make("ReLU", [0], 1), [r8(3, 5)]),
        OpType.MAX_POOL: (Node.make("MaxPool", [0], 1, {"kernel": (3, 2), "pads": (2, 1, 1, 0)}), [r8(1, 2, 4, 3)]),
        OpType.AVG_POOL: (Node.make("AvgPool", [0], 1, {"kernel": (2, 2), "pads": (1, 1, 1, 1)}), [r8(1, 2, 3, 3)]),
        OpType.GLOBAL_AVG_POOL: (Node.make("GlobalAvgPool", [0], 1), [r8(2, 2, 3, 3)]),
        OpType.ADD: (Node.make("Add", [0, 1], 2, {"a_multiplier": m0, "a_shift": shift, "b_multiplier": m0,
                                                  "b_shift": shift - 1}), [r8(2, 6), r8(2, 6)]),
        OpType.RESHAPE: (Node.make("Reshape", [0], 1, {"shape": (6, 2)}), [r8(3, 4)]),
        OpType.REQUANTIZE: (Node.make("Requantize", [0], 1, {"multipliers": (m0, 1 << 30), "shifts": (4, -2)}),
                            [rng.integers(-5000, 5000, (2, 2, 3), dtype=np.int32)]),
        OpType.SOFTMAX: (Node.make("Softmax", [0, 1], 2), [r8(2, 7), softmax_exp_table(0.07)]),
        OpType.ARGMAX: (Node.make("ArgMax", [0], 1), [rng.integers(-3, 3, (4, 5), dtype=np.int8)]),
        OpType.SAMPLE: (Node.make("Sample", [0, 1, 2, 3], 4, tc.sample_attrs(0.05)),
                        [rng.integers(-400, 400, (1, 30), dtype=np.int32), np.array([5, 6, 50000, 0], np.int32),
                         np.array([[3]], np.int32), tc.exp2_table()]),
    }


@pytest.mark.parametrize("op", list(OpType), ids=lambda op: op.value)
def test_reference_interpreter_agrees(op):
    """The witness-producing interpreter reaches the same final state (hash included) as the fast executor."""
    from opml.vm import interp

    node, inputs = _fixed_cases()[op]
    slow, fast = vmrun.initial_state(node, inputs), vmrun.initial_state(node, inputs)
    interp.run(slow, 5_000_000)
    run_fast(fast, 5_000_000)
    assert (slow.status, slow.exit_code) == (Status.EXITED, 0)
    assert slow.hash() == fast.hash()
    out = vmrun.read_output(slow, vmrun.output_type(node, inputs))
    assert np.array_equal(out, ops.evaluate(node.op, inputs, node.attrs))
