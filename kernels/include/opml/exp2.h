/* The exp2 table of Attention and Sample (docs/ops.md): int32[256], entries in [0, 2^16], entry 0 positive. */
#ifndef OPML_EXP2_H
#define OPML_EXP2_H

#include <stdint.h>
#include "opml/ct.h"

#define OPML_EXP2_MAX 0x10000
#define OPML_EXIT_BAD_TABLE 16

/* 1 when the table breaks its bounds; the same steps for every table. */
static inline uint32_t opml_exp2_table_bad(const int32_t *table)
{
    uint32_t bad = ct_lt(table[0], 1);
    for (uint32_t f = 0; f < 256; f++)
        bad |= ct_lt(table[f], 0) | ct_lt(OPML_EXP2_MAX, table[f]);
    return bad;
}

#endif
