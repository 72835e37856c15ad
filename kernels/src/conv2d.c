/* Conv2D, NCHW: out[b, f, y, x] (int32) = bias[f] + sum over ci < C/groups, i < kh, j < kw of
 *   in[b, g*C/groups + ci, y*sh - pt + i*dh, x*sw - pl + j*dw] * w[f, ci, i, j]   (g = f / (O/groups)),
 * positions outside the input count as 0; int32 sums wrap mod 2^32 (docs/ops.md).
 *
 * in: input0 int8 [n, c, h, w]; w: input1 int8 [o, c/groups, kh, kw]; bias: input2 int32 [o];
 * out: int32 [n, o, oh, ow]. Computes the flat output elements [first_out, end_out). */
#include "opml/runtime.h"

typedef struct {
    opml_tile_t tile;
    uint32_t n, c, h, w;
    uint32_t o, kh, kw;
    uint32_t sh, sw;
    uint32_t pt, pl, pb, pr;
    uint32_t dh, dw;
    uint32_t groups;
} conv_params_t;

#define MAX_DIM 0x10000u

typedef struct {
    uint32_t oh, ow, cg, og;
} conv_dims_t;

static int check(const conv_params_t *p, conv_dims_t *d)
{
    uint32_t dims[] = {p->n, p->c, p->h, p->w, p->o, p->kh, p->kw, p->sh, p->sw, p->dh, p->dw, p->groups};
    for (uint32_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i] == 0 || dims[i] > MAX_DIM)
            return 0;
    if (p->pt > MAX_DIM || p->pl > MAX_DIM || p->pb > MAX_DIM || p->pr > MAX_DIM)
        return 0;
    if (p->c % p->groups || p->o % p->groups)
        return 0;
    uint32_t span_h = p->dh * (p->kh - 1) + 1, span_w = p->dw * (p->kw - 1) + 1;
    if (p->h + p->pt + p->pb < span_h || p->w + p->pl + p->pr < span_w)
        return 0;
    d->oh = (p->h + p->pt + p->pb - span_h) / p->sh + 1;
    d->ow = (p->w + p->pl + p->pr - span_w) / p->sw + 1;
    d->cg = p->c / p->groups;
    d->og = p->o / p->groups;
    return (uint64_t)p->n * p->o * d->oh * d->ow <= 0xFFFFFFFFu;
}

/* The k in [0, n) with 0 <= start + k*step < size, as [*lo, *hi) (empty when none). */
static void valid_range(int32_t start, uint32_t step, uint32_t n, uint32_t size, uint32_t *lo, uint32_t *hi)
{
    int32_t room = (int32_t)size - start; /* positions left from start to the end of the input */
    uint32_t first = start >= 0 ? 0u : ((uint32_t)(-start) + step - 1u) / step;
    uint32_t last = room <= 0 ? 0u : ((uint32_t)room + step - 1u) / step;
    *hi = last < n ? last : n;
    *lo = first < *hi ? first : *hi;
}

/* One output element at batch b, filter f, position (y, x); only in-bounds window taps are visited. */
static int32_t conv_at(const conv_params_t *p, const conv_dims_t *d, uint32_t b, uint32_t f, uint32_t y, uint32_t x)
{
    int32_t top = (int32_t)(y * p->sh) - (int32_t)p->pt, left = (int32_t)(x * p->sw) - (int32_t)p->pl;
    uint32_t i0, i1, j0, j1;
    valid_range(top, p->dh, p->kh, p->h, &i0, &i1);
    valid_range(left, p->dw, p->kw, p->w, &j0, &j1);
    const int8_t *wt = OPML_INPUT_I8(1) + f * d->cg * p->kh * p->kw;
    const int8_t *in = OPML_INPUT_I8(0) + (b * p->c + (f / d->og) * d->cg) * p->h * p->w;
    uint32_t acc = (uint32_t)OPML_INPUT_I32(2)[f];
    for (uint32_t ci = 0; ci < d->cg; ci++) {
        const int8_t *plane = in + ci * p->h * p->w;
        for (uint32_t i = i0; i < i1; i++) {
            const int8_t *line = plane + (uint32_t)(top + (int32_t)(i * p->dh)) * p->w + left;
            const int8_t *wline = wt + (ci * p->kh + i) * p->kw;
            for (uint32_t j = j0; j < j1; j++)
                acc += (uint32_t)((int32_t)line[j * p->dw] * (int32_t)wline[j]);
        }
    }
    return (int32_t)acc;
}

int main(void)
{
    const conv_params_t *p = OPML_PARAMS(conv_params_t);
    conv_dims_t d;
    if (!check(p, &d))
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, p->n * p->o * d.oh * d.ow))
        return OPML_EXIT_BAD_TILE;

    int32_t *out = OPML_OUTPUT_I32;
    uint32_t i = p->tile.first_out;
    uint32_t x = i % d.ow, y = (i / d.ow) % d.oh, f = (i / (d.ow * d.oh)) % p->o, b = i / (d.ow * d.oh * p->o);
    for (; i < p->tile.end_out; i++) {
        out[i] = conv_at(p, &d, b, f, y, x);
        if (++x < d.ow)
            continue;
        x = 0;
        if (++y < d.oh)
            continue;
        y = 0;
        if (++f < p->o)
            continue;
        f = 0;
        b++;
    }
    return OPML_EXIT_OK;
}
