/* Integer Softmax over the last axis (docs/ops.md): for a row x[0..len),
 *   e[j] = T[max(x) - x[j]],  S = sum e,  out[j] = (127 * e[j] + S / 2) / S   (unsigned, truncating)
 * x: input0 int8 [rows, len]; T: input1 int32 [256] with 0 <= T[d] <= 2^16 and T[0] > 0; out: int8 [rows, len].
 * Computes the flat output elements [first_out, end_out). Exit code 16: the table is out of range. */
#include "opml/runtime.h"

typedef struct {
    opml_tile_t tile;
    uint32_t rows;
    uint32_t len;
} softmax_params_t;

#define MAX_LEN 0x8000u
#define TABLE_MAX 0x10000
#define EXIT_BAD_TABLE 16

static int table_ok(const int32_t *table)
{
    if (table[0] <= 0)
        return 0;
    for (uint32_t d = 0; d < 256; d++)
        if (table[d] < 0 || table[d] > TABLE_MAX)
            return 0;
    return 1;
}

/* Row statistics: its maximum and the sum of its table values. */
static void row_stats(const int8_t *x, uint32_t len, const int32_t *table, int32_t *max, uint32_t *sum)
{
    int32_t m = x[0];
    for (uint32_t j = 1; j < len; j++)
        if (x[j] > m)
            m = x[j];
    uint32_t s = 0;
    for (uint32_t j = 0; j < len; j++)
        s += (uint32_t)table[m - x[j]];
    *max = m;
    *sum = s;
}

int main(void)
{
    const softmax_params_t *p = OPML_PARAMS(softmax_params_t);
    if (p->rows == 0 || p->len == 0 || p->len > MAX_LEN || (uint64_t)p->rows * p->len > 0xFFFFFFFFu)
        return OPML_EXIT_BAD_SHAPE;
    if (!opml_tile_ok(&p->tile, p->rows * p->len))
        return OPML_EXIT_BAD_TILE;
    const int32_t *table = OPML_INPUT_I32(1);
    if (!table_ok(table))
        return EXIT_BAD_TABLE;
    const int8_t *x = OPML_INPUT_I8(0);
    uint32_t i = p->tile.first_out;
    while (i < p->tile.end_out) {
        uint32_t row = i / p->len, row_start = row * p->len;
        uint32_t stop = row_start + p->len < p->tile.end_out ? row_start + p->len : p->tile.end_out;
        int32_t max;
        uint32_t sum;
        row_stats(x + row_start, p->len, table, &max, &sum);
        for (; i < stop; i++)
            OPML_OUTPUT_I8[i] = (int8_t)((127u * (uint32_t)table[max - x[i]] + sum / 2u) / sum);
    }
    return OPML_EXIT_OK;
}
