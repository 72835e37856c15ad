/* Reshape / Flatten: the output's bytes are the input's bytes (C order is unchanged); docs/ops.md.
 * in: input0; out: `count` elements of `elem_size` (1 or 4) bytes. Copies the flat elements [first_out, end_out). */
#include "opml/runtime.h"

typedef struct {
    opml_tile_t tile;
    uint32_t count;
    uint32_t elem_size;
} reshape_params_t;

int main(void)
{
    const reshape_params_t *p = OPML_PARAMS(reshape_params_t);
    if (p->count == 0 || (p->elem_size != 1 && p->elem_size != 4))
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, p->count))
        return OPML_EXIT_BAD_TILE;
    if (p->elem_size == 1) {
        const int8_t *in = OPML_INPUT_I8(0);
        for (uint32_t i = p->tile.first_out; i < p->tile.end_out; i++)
            OPML_OUTPUT_I8[i] = in[i];
    } else {
        const int32_t *in = OPML_INPUT_I32(0);
        for (uint32_t i = p->tile.first_out; i < p->tile.end_out; i++)
            OPML_OUTPUT_I32[i] = in[i];
    }
    return OPML_EXIT_OK;
}
