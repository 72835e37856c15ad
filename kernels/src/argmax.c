/* ArgMax over the last axis: out[r] (int32) = the lowest j with x[r, j] = max_j x[r, j] (docs/ops.md).
 * x: input0 int8 (elem_size 1) or int32 (elem_size 4) [rows, len]; out: int32 [rows].
 * Computes the flat output elements [first_out, end_out). */
#include "opml/runtime.h"

typedef struct {
    opml_tile_t tile;
    uint32_t rows;
    uint32_t len;
    uint32_t elem_size;
} argmax_params_t;

static int32_t value(const argmax_params_t *p, uint32_t index)
{
    return p->elem_size == 1 ? (int32_t)OPML_INPUT_I8(0)[index] : OPML_INPUT_I32(0)[index];
}

int main(void)
{
    const argmax_params_t *p = OPML_PARAMS(argmax_params_t);
    if (p->rows == 0 || p->len == 0 || (p->elem_size != 1 && p->elem_size != 4) ||
        (uint64_t)p->rows * p->len > 0xFFFFFFFFu)
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, p->rows))
        return OPML_EXIT_BAD_TILE;
    for (uint32_t r = p->tile.first_out; r < p->tile.end_out; r++) {
        uint32_t base = r * p->len, best = 0;
        int32_t best_value = value(p, base);
        for (uint32_t j = 1; j < p->len; j++) {
            int32_t v = value(p, base + j);
            if (v > best_value) {
                best_value = v;
                best = j;
            }
        }
        OPML_OUTPUT_I32[r] = (int32_t)best;
    }
    return OPML_EXIT_OK;
}
