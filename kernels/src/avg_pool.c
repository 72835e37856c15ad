/* AvgPool, NCHW int8: out = rounded_mean(sum of the window's input elements, count), where count is kh*kw
 * (count_include_pad) or the number of window elements inside the input; ties away from zero (docs/ops.md).
 * in: input0 int8 [n, c, h, w]; out: int8 [n, c, oh, ow]. Computes the flat output elements [first_out, end_out). */
#include "pool.h"
#include "opml/ct.h"

int main(void)
{
    const pool_params_t *p = OPML_PARAMS(pool_params_t);
    pool_dims_t d;
    if (!pool_check(p, &d) || p->count_include_pad > 1)
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, p->n * p->c * d.oh * d.ow))
        return OPML_EXIT_BAD_TILE;
    const int8_t *in = OPML_INPUT_I8(0);
    for (uint32_t i = p->tile.first_out; i < p->tile.end_out; i++) {
        uint32_t x = i % d.ow, y = (i / d.ow) % d.oh, plane = i / (d.ow * d.oh);
        window_t win = pool_window(p, y, x);
        const int8_t *base = in + plane * p->h * p->w;
        int32_t total = 0;
        for (uint32_t r = win.y0; r < win.y1; r++)
            for (uint32_t s = win.x0; s < win.x1; s++)
                total += base[r * p->w + s];
        uint32_t count = p->count_include_pad ? p->kh * p->kw : (win.y1 - win.y0) * (win.x1 - win.x0);
        OPML_OUTPUT_I8[i] = (int8_t)ct_rounded_mean(total, count);
    }
    return OPML_EXIT_OK;
}
