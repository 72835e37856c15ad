/* Lut: out[i] = table[x[i] + 128] (docs/ops.md). x: input0 int8; table: input1 int8 [256]; out: int8.
 * Computes the flat output elements [first_out, end_out); steps depend on the tile only. */
#include "opml/runtime.h"

typedef struct {
    opml_tile_t tile;
    uint32_t count;
} lut_params_t;

int main(void)
{
    const lut_params_t *p = OPML_PARAMS(lut_params_t);
    if (p->count == 0)
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, p->count))
        return OPML_EXIT_BAD_TILE;
    const int8_t *x = OPML_INPUT_I8(0);
    const int8_t *table = OPML_INPUT_I8(1);
    for (uint32_t i = p->tile.first_out; i < p->tile.end_out; i++)
        OPML_OUTPUT_I8[i] = table[(int32_t)x[i] + 128];
    return OPML_EXIT_OK;
}
