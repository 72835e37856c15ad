/* Fused attention with integer softmax (docs/ops.md). For each row (b, s, h), kv head g = h / (H / H_kv):
 *   visible(t) = key_mask[b, t] != 0 and (not causal or t <= positions[b, s])
 *   score[t] = Σ_i q[b, s, h, i]·k[b, t, g, i];  m = max over visible t;  u = MBQM(m − score[t], Ms)
 *   e[t] = visible ? exp2[u & 255] >> min(u >> 8, 31) : 0;  E = Σ e;  prob[t] = (e·2^15 + E/2) / E
 *   out[b, s, h, j] = sat8(MBQM(Σ_t prob[t]·v[b, t, g, j], Mo))
 * q: input0 int8 [B, S, H, d]; k, v: input1, input2 int8 [B, T, H_kv, d]; positions: input3 int32 [B, S];
 * key_mask: input4 int32 [B, T]; exp2: input5 int32 [256] (entries in [0, 2^16], exp2[0] > 0, else exit 16).
 * Computes the flat output elements [first_out, end_out), recomputing the probabilities of each row it touches
 * (kept in SCRATCH). Steps depend on the tile and shapes only: maxima and masks are branch-free. */
#include "opml/runtime.h"
#include "opml/ct.h"
#include "opml/exp2.h"

typedef struct {
    opml_tile_t tile;
    uint32_t batch;
    uint32_t seq;
    uint32_t heads;
    uint32_t dim;
    uint32_t keys;
    uint32_t kv_heads;
    int32_t score_m0;
    int32_t score_shift;
    int32_t out_m0;
    int32_t out_shift;
    uint32_t causal;
} attention_params_t;

#define MAX_DIM 0x400u
#define MAX_KEYS 0x8000u
#define PROB_BITS 15

/* prob[t] of row (b, s, h) into SCRATCH. */
static void row_probabilities(const attention_params_t *p, uint32_t b, uint32_t s, uint32_t h, uint32_t *prob)
{
    uint32_t d = p->dim, g = h / (p->heads / p->kv_heads);
    const int8_t *q = OPML_INPUT_I8(0) + ((b * p->seq + s) * p->heads + h) * d;
    const int8_t *k = OPML_INPUT_I8(1) + (b * p->keys * p->kv_heads + g) * d;
    const int32_t *mask = OPML_INPUT_I32(4) + b * p->keys;
    const int32_t *table = OPML_INPUT_I32(5);
    int32_t pos = OPML_INPUT_I32(3)[b * p->seq + s];
    uint32_t not_causal = p->causal ^ 1u;
    int32_t *score = (int32_t *)prob;
    int32_t top = OPML_INT32_MIN;
    for (uint32_t t = 0; t < p->keys; t++) {
        const int8_t *kt = k + t * p->kv_heads * d;
        uint32_t acc = 0;
        for (uint32_t i = 0; i < d; i++)
            acc += (uint32_t)((int32_t)q[i] * kt[i]);
        score[t] = (int32_t)acc;
        uint32_t visible = (ct_eq((uint32_t)mask[t], 0u) ^ 1u) & (not_causal | (ct_lt(pos, (int32_t)t) ^ 1u));
        top = ct_select(visible & ct_lt(top, (int32_t)acc), (int32_t)acc, top);
    }
    uint32_t total = 0;
    for (uint32_t t = 0; t < p->keys; t++) {
        uint32_t visible = (ct_eq((uint32_t)mask[t], 0u) ^ 1u) & (not_causal | (ct_lt(pos, (int32_t)t) ^ 1u));
        int32_t u = ct_mbqm((int32_t)((uint32_t)top - (uint32_t)score[t]), p->score_m0, p->score_shift);
        uint32_t steps = (uint32_t)u >> 8;
        steps = (uint32_t)ct_select(ct_ltu(31u, steps), 31, (int32_t)steps);
        uint32_t e = ((uint32_t)table[(uint32_t)u & 255u] >> steps) & ct_mask(visible);
        prob[t] = e;
        total += e;
    }
    uint32_t divisor = total | ct_eq(total, 0u);
    for (uint32_t t = 0; t < p->keys; t++)
        prob[t] = ((prob[t] << PROB_BITS) + total / 2u) / divisor;
}

int main(void)
{
    const attention_params_t *p = OPML_PARAMS(attention_params_t);
    uint32_t d = p->dim;
    if (p->batch == 0 || p->seq == 0 || p->heads == 0 || d == 0 || d > MAX_DIM || p->keys == 0
        || p->keys > MAX_KEYS || p->kv_heads == 0 || p->heads % p->kv_heads || p->causal > 1
        || p->score_m0 < 0 || p->out_m0 < 0 || p->score_shift < -31 || p->score_shift > 31
        || p->out_shift < -31 || p->out_shift > 31
        || (uint64_t)p->batch * p->seq * p->heads * d > 0x10000000u
        || (uint64_t)p->batch * p->keys * p->kv_heads * d > 0x10000000u)
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, p->batch * p->seq * p->heads * d))
        return OPML_EXIT_BAD_TILE;
    if (opml_exp2_table_bad(OPML_INPUT_I32(5)))
        return OPML_EXIT_BAD_TABLE;
    uint32_t *prob = (uint32_t *)OPML_SCRATCH;
    uint32_t i = p->tile.first_out;
    while (i < p->tile.end_out) {
        uint32_t row = i / d, row_start = row * d;
        uint32_t stop = row_start + d < p->tile.end_out ? row_start + d : p->tile.end_out;
        uint32_t h = row % p->heads, s = (row / p->heads) % p->seq, b = row / (p->heads * p->seq);
        row_probabilities(p, b, s, h, prob);
        uint32_t g = h / (p->heads / p->kv_heads);
        const int8_t *v = OPML_INPUT_I8(2) + (b * p->keys * p->kv_heads + g) * d;
        for (; i < stop; i++) {
            const int8_t *vj = v + (i - row_start);
            uint32_t acc = 0;
            for (uint32_t t = 0; t < p->keys; t++)
                acc += prob[t] * (uint32_t)(int32_t)vj[t * p->kv_heads * d];
            OPML_OUTPUT_I8[i] = (int8_t)ct_clamp(ct_mbqm((int32_t)acc, p->out_m0, p->out_shift), -128, 127);
        }
    }
    return OPML_EXIT_OK;
}
