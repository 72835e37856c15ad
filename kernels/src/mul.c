/* Mul (SwiGLU product): out[i] = sat8(MBQM(a[i] · b[i], M0, shift)) (docs/ops.md).
 * a: input0 int8, b: input1 int8 (same shape); out: int8. Computes the flat output elements
 * [first_out, end_out); steps depend on the tile only. */
#include "opml/runtime.h"
#include "opml/ct.h"

typedef struct {
    opml_tile_t tile;
    uint32_t count;
    int32_t m0;
    int32_t shift;
} mul_params_t;

int main(void)
{
    const mul_params_t *p = OPML_PARAMS(mul_params_t);
    if (p->count == 0 || p->m0 < 0 || p->shift < -31 || p->shift > 31)
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, p->count))
        return OPML_EXIT_BAD_TILE;
    const int8_t *a = OPML_INPUT_I8(0);
    const int8_t *b = OPML_INPUT_I8(1);
    for (uint32_t i = p->tile.first_out; i < p->tile.end_out; i++)
        OPML_OUTPUT_I8[i] = (int8_t)ct_clamp(ct_mbqm((int32_t)a[i] * b[i], p->m0, p->shift), -128, 127);
    return OPML_EXIT_OK;
}
