/* Sample the next token from int32 logits [1, V] (docs/ops.md "Sample"). sampling: input1 int32[4] = (seed lo,
 * seed hi, temperature Q16.16 τ, ignored); position: input2 int32[1, 1]; exp2: input3 int32[256] (entries in
 * [0, 2^16], exp2[0] > 0, else exit 16). Output int32[1]:
 *   τ = 0: the lowest j with x[j] = max x
 *   τ > 0: k = (C·2^16) / τ;  u[j] = min(((max x − x[j])·k) >> F, 17·256);  w[j] = exp2[u & 255] >> (u >> 8)
 *          z = SplitMix64 output of seed + (position + 1)·γ;  r = ((z >> 32)·Σw) >> 32
 *          out = #{ j : w[0] + … + w[j] <= r }
 * Steps depend on V and the tile only: both results are computed, maxima, weights and counts without branches,
 * 64-bit values shifted by the attribute F as 32-bit words. No 64-bit division. */
#include "opml/runtime.h"
#include "opml/ct.h"
#include "opml/exp2.h"

typedef struct {
    opml_tile_t tile;
    uint32_t vocab;
    uint32_t step_multiplier;
    uint32_t step_shift;
} sample_params_t;

#define MAX_VOCAB 0xFFFFu
#define MAX_MULTIPLIER 0xFFFFu
#define LAST_STEP (17u * 256u)

/* min((v >> n), LAST_STEP) for 0 <= n <= 31, shifting the two 32-bit words. */
static uint32_t steps_of(uint64_t v, uint32_t n)
{
    uint32_t lo = (uint32_t)v, hi = (uint32_t)(v >> 32);
    uint32_t out_lo = (lo >> n) | ((hi << 1) << (31u - n)), out_hi = hi >> n;
    uint32_t over = (ct_eq(out_hi, 0u) ^ 1u) | ct_ltu(LAST_STEP, out_lo);
    return (uint32_t)ct_select(over, (int32_t)LAST_STEP, (int32_t)out_lo);
}

static uint32_t weight(const int32_t *table, int32_t top, int32_t x, uint32_t k, uint32_t shift)
{
    uint32_t u = steps_of((uint64_t)((uint32_t)top - (uint32_t)x) * k, shift);
    return (uint32_t)table[u & 255u] >> (u >> 8);
}

static uint64_t splitmix_draw(uint64_t seed, uint32_t position)
{
    uint64_t z = seed + ((uint64_t)position + 1u) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int main(void)
{
    const sample_params_t *p = OPML_PARAMS(sample_params_t);
    uint32_t vocab = p->vocab;
    if (vocab == 0 || vocab > MAX_VOCAB || p->step_multiplier == 0 || p->step_multiplier > MAX_MULTIPLIER
        || p->step_shift > 31)
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, 1))
        return OPML_EXIT_BAD_TILE;
    const int32_t *table = OPML_INPUT_I32(3);
    if (opml_exp2_table_bad(table))
        return OPML_EXIT_BAD_TABLE;
    if (p->tile.first_out == p->tile.end_out)
        return OPML_EXIT_OK;
    const int32_t *x = OPML_INPUT_I32(0);
    const uint32_t *words = (const uint32_t *)OPML_INPUT_I32(1);
    uint32_t temperature = words[2];
    int32_t top = x[0];
    uint32_t best = 0;
    for (uint32_t j = 1; j < vocab; j++) {
        uint32_t above = ct_lt(top, x[j]);
        top = ct_select(above, x[j], top);
        best = (uint32_t)ct_select(above, (int32_t)j, (int32_t)best);
    }
    uint32_t greedy = ct_eq(temperature, 0u);
    uint32_t k = (p->step_multiplier << 16) / (temperature | greedy);
    uint32_t total = 0;
    for (uint32_t j = 0; j < vocab; j++)
        total += weight(table, top, x[j], k, p->step_shift);
    uint64_t seed = ((uint64_t)words[1] << 32) | words[0];
    uint64_t draw = splitmix_draw(seed, (uint32_t)OPML_INPUT_I32(2)[0]);
    uint32_t target = (uint32_t)(((draw >> 32) * total) >> 32);
    uint32_t cumulative = 0, picked = 0;
    for (uint32_t j = 0; j < vocab; j++) {
        cumulative += weight(table, top, x[j], k, p->step_shift);
        picked += ct_ltu(target, cumulative) ^ 1u;
    }
    OPML_OUTPUT_I32[0] = ct_select(greedy, (int32_t)best, (int32_t)picked);
    return OPML_EXIT_OK;
}
