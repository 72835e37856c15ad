/* Add of two int8 tensors with rescale (docs/ops.md):
 *   out = clamp(RDBPOT(sat32(MBQM(a * 2^L, Ma, sa) + MBQM(b * 2^L, Mb, sb)), L), relu ? 0 : -128, 127)
 * a: input0 int8, b: input1 int8 (same shape); out: int8. Computes the flat output elements [first_out, end_out). */
#include "opml/runtime.h"
#include "opml/ct.h"

typedef struct {
    opml_tile_t tile;
    uint32_t count;
    uint32_t left_shift;
    int32_t a_multiplier, a_shift;
    int32_t b_multiplier, b_shift;
    uint32_t relu;
} add_params_t;

static int shift_ok(int32_t shift)
{
    return shift >= -31 && shift <= 31;
}

int main(void)
{
    const add_params_t *p = OPML_PARAMS(add_params_t);
    if (p->count == 0 || p->left_shift > 24 || !shift_ok(p->a_shift) || !shift_ok(p->b_shift) || p->relu > 1 ||
        p->a_multiplier < 0 || p->b_multiplier < 0)
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, p->count))
        return OPML_EXIT_BAD_TILE;
    const int8_t *a = OPML_INPUT_I8(0);
    const int8_t *b = OPML_INPUT_I8(1);
    int32_t low = p->relu ? 0 : -128;
    for (uint32_t i = p->tile.first_out; i < p->tile.end_out; i++) {
        int32_t sa = ct_mbqm((int32_t)a[i] << p->left_shift, p->a_multiplier, p->a_shift);
        int32_t sb = ct_mbqm((int32_t)b[i] << p->left_shift, p->b_multiplier, p->b_shift);
        OPML_OUTPUT_I8[i] = (int8_t)ct_clamp(ct_rdbpot(ct_sat_add(sa, sb), p->left_shift), low, 127);
    }
    return OPML_EXIT_OK;
}
