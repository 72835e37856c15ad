/* Gather (embeddings): out[i, :] = table[ids[i], :] (docs/ops.md).
 * table: input0 int8 or int32 [V, D]; ids: input1 int32 [count]; out: [count, D] of the table's dtype.
 * Computes the flat output elements [first_out, end_out). Exit code 16: an id outside [0, V) (every id is
 * checked, whatever the tile). Steps depend on the tile and shapes only. */
#include "opml/runtime.h"
#include "opml/ct.h"

typedef struct {
    opml_tile_t tile;
    uint32_t count;
    uint32_t vocab;
    uint32_t dim;
    uint32_t elem_size;
} gather_params_t;

#define EXIT_BAD_ID 16

int main(void)
{
    const gather_params_t *p = OPML_PARAMS(gather_params_t);
    if (p->count == 0 || p->vocab == 0 || p->dim == 0 || (p->elem_size != 1 && p->elem_size != 4)
        || (uint64_t)p->count * p->dim > 0xFFFFFFFFu || (uint64_t)p->vocab * p->dim * p->elem_size > 0x10000000u)
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, p->count * p->dim))
        return OPML_EXIT_BAD_TILE;
    const int32_t *ids = OPML_INPUT_I32(1);
    uint32_t bad = 0;
    for (uint32_t r = 0; r < p->count; r++)
        bad |= ct_ltu((uint32_t)ids[r], p->vocab) ^ 1u;
    if (bad)
        return EXIT_BAD_ID;
    uint32_t i = p->tile.first_out, row = i / p->dim, col = i % p->dim;
    for (; i < p->tile.end_out; i++) {
        uint32_t src = (uint32_t)ids[row] * p->dim + col;
        if (p->elem_size == 1)
            OPML_OUTPUT_I8[i] = OPML_INPUT_I8(0)[src];
        else
            OPML_OUTPUT_I32[i] = OPML_INPUT_I32(0)[src];
        if (++col == p->dim) {
            col = 0;
            row++;
        }
    }
    return OPML_EXIT_OK;
}
