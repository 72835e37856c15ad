/* int8 matrix multiply: C[M,N] (int32) = A[M,K] (int8) x B[K,N] (int8), exact (int32 accumulation).
 *
 * A: input0, B: input1, C: output, all row major. Computes the flat output elements [first_out, end_out) of C.
 * Exit codes: OPML_EXIT_OK, OPML_EXIT_BAD_TILE, OPML_EXIT_BAD_SHAPE (a zero or too large dimension). */
#include "opml/runtime.h"

typedef struct {
    opml_tile_t tile;
    uint32_t m;
    uint32_t k;
    uint32_t n;
} matmul_params_t;

/* Dimensions whose products stay within a 256 MiB region and a u32 element count. */
#define MAX_DIM 0x10000u

static int32_t dot(const int8_t *a_row, const int8_t *b_col, uint32_t k, uint32_t n)
{
    int32_t acc = 0;
    for (uint32_t i = 0; i < k; i++)
        acc += (int32_t)a_row[i] * (int32_t)b_col[i * n];
    return acc;
}

int main(void)
{
    const matmul_params_t *p = OPML_PARAMS(matmul_params_t);
    uint32_t m = p->m, k = p->k, n = p->n;
    if (m == 0 || k == 0 || n == 0 || m > MAX_DIM || k > MAX_DIM || n > MAX_DIM)
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, m * n))
        return OPML_EXIT_BAD_TILE;

    const int8_t *a = OPML_INPUT_I8(0);
    const int8_t *b = OPML_INPUT_I8(1);
    int32_t *c = OPML_OUTPUT_I32;
    uint32_t row = p->tile.first_out / n;
    uint32_t col = p->tile.first_out % n;
    for (uint32_t out = p->tile.first_out; out < p->tile.end_out; out++) {
        c[out] = dot(a + row * k, b + col, k, n);
        if (++col == n) {
            col = 0;
            row++;
        }
    }
    return OPML_EXIT_OK;
}
