/* Requantize int32 -> int8: out[i] = clamp(MBQM(in[i], M0[ch], shift[ch]), relu ? 0 : -128, 127), with
 * ch = (i / inner) % channels (channels = 1: one multiplier for the whole tensor); docs/ops.md.
 * in: input0 int32; out: int8 of the same shape. Params end with M0[channels] then shift[channels].
 * Computes the flat output elements [first_out, end_out). */
#include "opml/runtime.h"
#include "opml/ct.h"

typedef struct {
    opml_tile_t tile;
    uint32_t count;
    uint32_t channels;
    uint32_t inner;
    uint32_t relu;
    int32_t table[]; /* M0[channels], then shift[channels] */
} requant_params_t;

#define MAX_CHANNELS 0x10000u

int main(void)
{
    const requant_params_t *p = OPML_PARAMS(requant_params_t);
    if (p->count == 0 || p->channels == 0 || p->channels > MAX_CHANNELS || p->inner == 0 || p->relu > 1)
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, p->count))
        return OPML_EXIT_BAD_TILE;
    const int32_t *m0 = p->table;
    const int32_t *shift = p->table + p->channels;
    for (uint32_t c = 0; c < p->channels; c++)
        if (m0[c] < 0 || shift[c] < -31 || shift[c] > 31)
            return OPML_EXIT_BAD_SHAPE;
    const int32_t *in = OPML_INPUT_I32(0);
    int32_t low = p->relu ? 0 : -128;
    uint32_t i = p->tile.first_out;
    uint32_t within = i % p->inner, ch = (i / p->inner) % p->channels;
    for (; i < p->tile.end_out; i++) {
        OPML_OUTPUT_I8[i] = (int8_t)ct_clamp(ct_mbqm(in[i], m0[ch], shift[ch]), low, 127);
        if (++within == p->inner) {
            within = 0;
            if (++ch == p->channels)
                ch = 0;
        }
    }
    return OPML_EXIT_OK;
}
