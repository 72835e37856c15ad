/* GlobalAvgPool, NCHW int8: out[b, ch, 0, 0] = rounded_mean(sum of the h*w plane, h*w), ties away from zero.
 * in: input0 int8 [n, c, h, w] (h*w <= 2^22); out: int8 [n, c, 1, 1].
 * Computes the flat output elements [first_out, end_out). */
#include "opml/runtime.h"
#include "opml/ct.h"

typedef struct {
    opml_tile_t tile;
    uint32_t n, c, h, w;
} gap_params_t;

#define MAX_PLANE 0x400000u

int main(void)
{
    const gap_params_t *p = OPML_PARAMS(gap_params_t);
    if (p->n == 0 || p->c == 0 || p->h == 0 || p->w == 0 || p->h > MAX_PLANE || p->w > MAX_PLANE ||
        (uint64_t)p->h * p->w > MAX_PLANE || (uint64_t)p->n * p->c > 0xFFFFFFFFu)
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, p->n * p->c))
        return OPML_EXIT_BAD_TILE;
    uint32_t plane = p->h * p->w;
    for (uint32_t i = p->tile.first_out; i < p->tile.end_out; i++) {
        const int8_t *in = OPML_INPUT_I8(0) + i * plane;
        int32_t total = 0;
        for (uint32_t j = 0; j < plane; j++)
            total += in[j];
        OPML_OUTPUT_I8[i] = (int8_t)ct_rounded_mean(total, plane);
    }
    return OPML_EXIT_OK;
}
