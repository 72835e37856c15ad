/* ReLU: out[i] = max(in[i], 0) on int8 (elem_size 1) or int32 (elem_size 4) tensors (docs/ops.md).
 * in: input0; out: same dtype and shape. Computes the flat output elements [first_out, end_out). */
#include "opml/runtime.h"
#include "opml/ct.h"

typedef struct {
    opml_tile_t tile;
    uint32_t count;
    uint32_t elem_size;
} relu_params_t;

int main(void)
{
    const relu_params_t *p = OPML_PARAMS(relu_params_t);
    if (p->count == 0 || (p->elem_size != 1 && p->elem_size != 4))
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, p->count))
        return OPML_EXIT_BAD_TILE;
    if (p->elem_size == 1) {
        const int8_t *in = OPML_INPUT_I8(0);
        for (uint32_t i = p->tile.first_out; i < p->tile.end_out; i++)
            OPML_OUTPUT_I8[i] = (int8_t)ct_select(ct_lt(0, in[i]), in[i], 0);
    } else {
        const int32_t *in = OPML_INPUT_I32(0);
        for (uint32_t i = p->tile.first_out; i < p->tile.end_out; i++)
            OPML_OUTPUT_I32[i] = ct_select(ct_lt(0, in[i]), in[i], 0);
    }
    return OPML_EXIT_OK;
}
