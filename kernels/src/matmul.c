/* Batched matmul of two int8 activations: out[i, m, n] = Σ_k a[i, m, k] · b[i, k, n] (b[i, n, k] with
 * transpose_b), int32, exact (docs/ops.md). a: input0 [B, M, K]; b: input1; out: int32 [B, M, N].
 * Computes the flat output elements [first_out, end_out); steps depend on the tile and shapes only. */
#include "opml/runtime.h"

typedef struct {
    opml_tile_t tile;
    uint32_t batch;
    uint32_t m;
    uint32_t k;
    uint32_t n;
    uint32_t transpose_b;
} matmul_params_t;

#define MAX_DIM 0x10000u

int main(void)
{
    const matmul_params_t *p = OPML_PARAMS(matmul_params_t);
    uint32_t batch = p->batch, m = p->m, k = p->k, n = p->n;
    if (batch == 0 || m == 0 || k == 0 || n == 0 || batch > MAX_DIM || m > MAX_DIM || k > MAX_DIM || n > MAX_DIM
        || p->transpose_b > 1 || (uint64_t)batch * m * n > 0xFFFFFFFFu)
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, batch * m * n))
        return OPML_EXIT_BAD_TILE;
    const int8_t *a = OPML_INPUT_I8(0);
    const int8_t *b = OPML_INPUT_I8(1);
    /* b[i, kk, col] sits at b_base + kk * step_k + col * step_n */
    uint32_t step_k = p->transpose_b ? 1u : n, step_n = p->transpose_b ? k : 1u;
    uint32_t out = p->tile.first_out;
    uint32_t col = out % n, row = (out / n) % m, i = out / (n * m);
    for (; out < p->tile.end_out; out++) {
        const int8_t *a_row = a + (i * m + row) * k;
        const int8_t *b_col = b + i * k * n + col * step_n;
        uint32_t acc = 0;
        for (uint32_t kk = 0; kk < k; kk++)
            acc += (uint32_t)((int32_t)a_row[kk] * (int32_t)b_col[kk * step_k]);
        OPML_OUTPUT_I32[out] = (int32_t)acc;
        if (++col == n) {
            col = 0;
            if (++row == m) {
                row = 0;
                i++;
            }
        }
    }
    return OPML_EXIT_OK;
}
