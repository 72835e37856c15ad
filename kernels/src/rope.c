/* RoPE (docs/ops.md): per pair (x1, x2) of a head with c = table[pos, 2i], s = table[pos, 2i + 1]:
 *   out_1 = sat8(RDBPOT64(x1·c − x2·s, F)),  out_2 = sat8(RDBPOT64(x1·s + x2·c, F))
 * pairs (2i, 2i + 1), or (i, i + d/2) with half_split. x: input0 int8 [B, S, H, d]; positions: input1 int32
 * [B, S]; table: input2 int32 [P, d]; out: int8 [B, S, H, d]. Computes the flat output elements
 * [first_out, end_out). Exit code 16: a position outside [0, P) (all are checked). Steps depend on the tile and
 * shapes only. */
#include "opml/runtime.h"
#include "opml/ct.h"

typedef struct {
    opml_tile_t tile;
    uint32_t batch;
    uint32_t seq;
    uint32_t heads;
    uint32_t dim;
    uint32_t max_pos;
    uint32_t frac_bits;
    uint32_t half_split;
} rope_params_t;

#define EXIT_BAD_POSITION 16

int main(void)
{
    const rope_params_t *p = OPML_PARAMS(rope_params_t);
    uint32_t d = p->dim, half = d / 2;
    if (p->batch == 0 || p->seq == 0 || p->heads == 0 || d == 0 || d % 2 || p->max_pos == 0
        || p->frac_bits == 0 || p->frac_bits > 30 || p->half_split > 1
        || (uint64_t)p->batch * p->seq * p->heads * d > 0x10000000u || (uint64_t)p->max_pos * d > 0x4000000u)
        return OPML_EXIT_BAD_SHAPE;
    uint32_t count = p->batch * p->seq * p->heads * d;
    if (!opml_tile_ok(&p->tile, count))
        return OPML_EXIT_BAD_TILE;
    const int8_t *x = OPML_INPUT_I8(0);
    const int32_t *positions = OPML_INPUT_I32(1);
    const int32_t *table = OPML_INPUT_I32(2);
    uint32_t bad = 0;
    for (uint32_t r = 0; r < p->batch * p->seq; r++)
        bad |= ct_ltu((uint32_t)positions[r], p->max_pos) ^ 1u;
    if (bad)
        return EXIT_BAD_POSITION;
    uint32_t i = p->tile.first_out;
    uint32_t j = i % d, token = i / (d * p->heads);
    for (; i < p->tile.end_out; i++) {
        uint32_t first, pair, partner;
        if (p->half_split) {
            first = j < half;
            pair = first ? j : j - half;
            partner = first ? i + half : i - half;
        } else {
            first = (j & 1u) ^ 1u;
            pair = j >> 1;
            partner = i ^ 1u;
        }
        const int32_t *cs = table + (uint32_t)positions[token] * d + 2u * pair;
        int32_t sign = 1 - 2 * (int32_t)first;
        int64_t v = (int64_t)x[i] * cs[0] + (int64_t)(sign * x[partner]) * cs[1];
        OPML_OUTPUT_I8[i] = (int8_t)ct_sat8_64(ct_rdbpot64(v, p->frac_bits));
        if (++j == d) {
            j = 0;
            if ((i + 1) % (d * p->heads) == 0)
                token++;
        }
    }
    return OPML_EXIT_OK;
}
