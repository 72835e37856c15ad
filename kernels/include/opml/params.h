/* The params region: every kernel's parameters start with the tile header, op attributes follow it.
 *
 *   offset 0  u32 first_out   first flat output element this run computes
 *   offset 4  u32 end_out     one past the last one (first_out <= end_out <= output element count)
 *   offset 8  op attributes   little-endian 32-bit words, op specific (see the kernel's own struct)
 *
 * A kernel writes exactly the output elements [first_out, end_out) at their flat positions in the output region
 * and leaves every other output byte as it found it, so tiles of one node compose by running them in sequence.
 * (services/opml/kernels/params.py packs the same layout.) */
#ifndef OPML_PARAMS_H
#define OPML_PARAMS_H

#include <stdint.h>
#include "opml/regions.h"

typedef struct {
    uint32_t first_out;
    uint32_t end_out;
} opml_tile_t;

/* The op's parameter struct, which must begin with an opml_tile_t, read from the params region. */
#define OPML_PARAMS(type) ((const type *)OPML_PARAMS_BASE)

/* Exit codes shared by all kernels (0 = success). Kernel-specific ones start at 16. */
#define OPML_EXIT_OK          0
#define OPML_EXIT_BAD_TILE    1   /* first_out > end_out or end_out > output element count */
#define OPML_EXIT_BAD_SHAPE   2   /* a dimension or attribute out of range */

/* 1 when the tile lies inside an output of `count` elements. */
static inline int opml_tile_ok(const opml_tile_t *tile, uint32_t count)
{
    return tile->first_out <= tile->end_out && tile->end_out <= count;
}

#endif
