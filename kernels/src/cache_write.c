/* CacheWrite (KV-cache append): out = cache, then out[b, positions[b, s]] = new[b, s] for s = 0, 1, …
 * (docs/ops.md). cache: input0 [B, T, row]; new: input1 [B, S, row] (int8 or int32, elem_size);
 * positions: input2 int32 [B, S]; out: the cache's shape. Computes the flat output elements [first_out, end_out):
 * each takes the cache's value or the last new row written at its position. Exit code 16: a position outside
 * [0, T) (every position is checked, whatever the tile). Steps depend on the tile and shapes only. */
#include "opml/runtime.h"
#include "opml/ct.h"

typedef struct {
    opml_tile_t tile;
    uint32_t batch;
    uint32_t slots;
    uint32_t seq;
    uint32_t row;
    uint32_t elem_size;
} cache_write_params_t;

#define EXIT_BAD_POSITION 16

int main(void)
{
    const cache_write_params_t *p = OPML_PARAMS(cache_write_params_t);
    if (p->batch == 0 || p->slots == 0 || p->seq == 0 || p->row == 0 || (p->elem_size != 1 && p->elem_size != 4)
        || (uint64_t)p->batch * p->slots * p->row * p->elem_size > 0x10000000u
        || (uint64_t)p->batch * p->seq * p->row * p->elem_size > 0x10000000u)
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, p->batch * p->slots * p->row))
        return OPML_EXIT_BAD_TILE;
    const int32_t *positions = OPML_INPUT_I32(2);
    uint32_t bad = 0;
    for (uint32_t r = 0; r < p->batch * p->seq; r++)
        bad |= ct_ltu((uint32_t)positions[r], p->slots) ^ 1u;
    if (bad)
        return EXIT_BAD_POSITION;
    uint32_t i = p->tile.first_out;
    uint32_t col = i % p->row, slot = (i / p->row) % p->slots, b = i / (p->row * p->slots);
    for (; i < p->tile.end_out; i++) {
        const int32_t *pos = positions + b * p->seq;
        uint32_t new_base = b * p->seq * p->row + col;
        if (p->elem_size == 1) {
            int32_t value = OPML_INPUT_I8(0)[i];
            for (uint32_t s = 0; s < p->seq; s++)
                value = ct_select(ct_eq((uint32_t)pos[s], slot), OPML_INPUT_I8(1)[new_base + s * p->row], value);
            OPML_OUTPUT_I8[i] = (int8_t)value;
        } else {
            int32_t value = OPML_INPUT_I32(0)[i];
            for (uint32_t s = 0; s < p->seq; s++)
                value = ct_select(ct_eq((uint32_t)pos[s], slot), OPML_INPUT_I32(1)[new_base + s * p->row], value);
            OPML_OUTPUT_I32[i] = value;
        }
        if (++col == p->row) {
            col = 0;
            if (++slot == p->slots) {
                slot = 0;
                b++;
            }
        }
    }
    return OPML_EXIT_OK;
}
