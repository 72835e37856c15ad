/* FullyConnected: out[r, c] (int32) = bias[c] + sum_k x[r, k] * w[c, k], wrapping mod 2^32 (docs/ops.md).
 *
 * x: input0 int8 [n, k]; w: input1 int8 [o, k]; bias: input2 int32 [o]; out: int32 [n, o].
 * Computes the flat output elements [first_out, end_out). */
#include "opml/runtime.h"

typedef struct {
    opml_tile_t tile;
    uint32_t n;
    uint32_t k;
    uint32_t o;
} fc_params_t;

#define MAX_DIM 0x1000000u

static uint32_t dot(const int8_t *x, const int8_t *w, uint32_t k)
{
    uint32_t acc = 0;
    for (uint32_t i = 0; i < k; i++)
        acc += (uint32_t)((int32_t)x[i] * (int32_t)w[i]);
    return acc;
}

int main(void)
{
    const fc_params_t *p = OPML_PARAMS(fc_params_t);
    uint32_t n = p->n, k = p->k, o = p->o;
    if (n == 0 || k == 0 || o == 0 || n > MAX_DIM || k > MAX_DIM || o > MAX_DIM)
        return OPML_EXIT_BAD_SHAPE;
    if ((uint64_t)n * o > 0xFFFFFFFFu || !opml_tile_ok(&p->tile, n * o))
        return OPML_EXIT_BAD_TILE;

    const int8_t *x = OPML_INPUT_I8(0);
    const int8_t *w = OPML_INPUT_I8(1);
    const int32_t *bias = OPML_INPUT_I32(2);
    int32_t *out = OPML_OUTPUT_I32;
    uint32_t row = p->tile.first_out / o;
    uint32_t col = p->tile.first_out % o;
    for (uint32_t i = p->tile.first_out; i < p->tile.end_out; i++) {
        out[i] = (int32_t)((uint32_t)bias[col] + dot(x + row * k, w + col * k, k));
        if (++col == o) {
            col = 0;
            row++;
        }
    }
    return OPML_EXIT_OK;
}
