/* Shared by max_pool.c and avg_pool.c: the pooling params and the output-index walk (NCHW, docs/ops.md). */
#ifndef OPML_POOL_H
#define OPML_POOL_H

#include "opml/runtime.h"

typedef struct {
    opml_tile_t tile;
    uint32_t n, c, h, w;
    uint32_t kh, kw;
    uint32_t sh, sw;
    uint32_t pt, pl, pb, pr;
    uint32_t count_include_pad; /* avg_pool only */
} pool_params_t;

typedef struct {
    uint32_t oh, ow;
} pool_dims_t;

#define POOL_MAX_DIM 0x10000u
#define POOL_MAX_WINDOW 0x10000u

/* Validates the params (pads below the kernel, window <= 2^16 elements) and computes the output size. */
static inline int pool_check(const pool_params_t *p, pool_dims_t *d)
{
    uint32_t dims[] = {p->n, p->c, p->h, p->w, p->kh, p->kw, p->sh, p->sw};
    for (uint32_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i] == 0 || dims[i] > POOL_MAX_DIM)
            return 0;
    if (p->pt >= p->kh || p->pb >= p->kh || p->pl >= p->kw || p->pr >= p->kw || p->kh * p->kw > POOL_MAX_WINDOW)
        return 0;
    if (p->h + p->pt + p->pb < p->kh || p->w + p->pl + p->pr < p->kw)
        return 0;
    d->oh = (p->h + p->pt + p->pb - p->kh) / p->sh + 1;
    d->ow = (p->w + p->pl + p->pr - p->kw) / p->sw + 1;
    return (uint64_t)p->n * p->c * d->oh * d->ow <= 0xFFFFFFFFu;
}

/* The window of output (y, x) clipped to the input: rows [y0, y1), columns [x0, x1). */
typedef struct {
    uint32_t y0, y1, x0, x1;
} window_t;

static inline window_t pool_window(const pool_params_t *p, uint32_t y, uint32_t x)
{
    int32_t top = (int32_t)(y * p->sh) - (int32_t)p->pt;
    int32_t left = (int32_t)(x * p->sw) - (int32_t)p->pl;
    int32_t bottom = top + (int32_t)p->kh, right = left + (int32_t)p->kw;
    window_t win;
    win.y0 = top < 0 ? 0u : (uint32_t)top;
    win.x0 = left < 0 ? 0u : (uint32_t)left;
    win.y1 = bottom > (int32_t)p->h ? p->h : (uint32_t)bottom;
    win.x1 = right > (int32_t)p->w ? p->w : (uint32_t)right;
    return win;
}

#endif
