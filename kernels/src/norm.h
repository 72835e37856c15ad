/* RMSNorm and LayerNorm (docs/ops.md), shared by rms_norm.c and layer_norm.c.
 * x: input0 int8 [rows, D]; gain: input1 int32 [D]; bias (LayerNorm): input2 int32 [D]; out: int8 [rows, D].
 * Per row: c[j] = D·x[j] − Σ (Σ = Σx for LayerNorm, 0 for RMSNorm), a = D·Σx² − Σ² + ε, (q, p) = inverse square
 * root of a, n = RDBPOT64(c·q, 39 − p), y = SRDHM(n, gain) (+ bias, sat32), out = sat8(MBQM(y, M0, shift)).
 * Computes the flat output elements [first_out, end_out); steps depend on the tile and shapes only. */
#ifndef OPML_NORM_H
#define OPML_NORM_H

#include "opml/runtime.h"
#include "opml/ct.h"

typedef struct {
    opml_tile_t tile;
    uint32_t rows;
    uint32_t dim;
    uint32_t eps_lo;
    uint32_t eps_hi;
    int32_t m0;
    int32_t shift;
} norm_params_t;

#define MAX_DIM 0x8000u
#define NORM_FRAC_BITS 22

static inline int norm_run(int centered, int with_bias)
{
    const norm_params_t *p = OPML_PARAMS(norm_params_t);
    uint64_t eps = ((uint64_t)p->eps_hi << 32) | p->eps_lo;
    if (p->rows == 0 || p->dim == 0 || p->dim > MAX_DIM || (uint64_t)p->rows * p->dim > 0xFFFFFFFFu
        || eps == 0 || eps > (1ull << 44) || p->m0 < 0 || p->shift < -31 || p->shift > 31)
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, p->rows * p->dim))
        return OPML_EXIT_BAD_TILE;
    const int8_t *x = OPML_INPUT_I8(0);
    const int32_t *gain = OPML_INPUT_I32(1);
    const int32_t *bias = OPML_INPUT_I32(2);
    uint32_t d = p->dim, i = p->tile.first_out;
    while (i < p->tile.end_out) {
        uint32_t row_start = (i / d) * d;
        uint32_t stop = row_start + d < p->tile.end_out ? row_start + d : p->tile.end_out;
        const int8_t *xr = x + row_start;
        int32_t total = 0;
        uint32_t squares = 0;
        for (uint32_t j = 0; j < d; j++) {
            total += xr[j];
            squares += (uint32_t)((int32_t)xr[j] * xr[j]);
        }
        if (!centered)
            total = 0;
        uint64_t a = (uint64_t)d * squares - (uint64_t)((int64_t)total * total) + eps;
        uint32_t shift_p;
        uint32_t q = ct_inv_sqrt(a, &shift_p);
        for (; i < stop; i++) {
            uint32_t j = i - row_start;
            int32_t c = (int32_t)d * xr[j] - total;
            int32_t n = (int32_t)(uint32_t)ct_rdbpot64((int64_t)c * (int64_t)q, 61u - NORM_FRAC_BITS - shift_p);
            int32_t y = ct_srdhm(n, gain[j]);
            if (with_bias)
                y = ct_sat_add(y, bias[j]);
            OPML_OUTPUT_I8[i] = (int8_t)ct_clamp(ct_mbqm(y, p->m0, p->shift), -128, 127);
        }
    }
    return OPML_EXIT_OK;
}

#endif
