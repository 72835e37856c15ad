/* The VM memory map (must equal services/opml/vm/layout.py; tests/unit/test_kernels_layout.py checks it).
 * Every region is an aligned power-of-two subtree of the memory Merkle tree. */
#ifndef OPML_REGIONS_H
#define OPML_REGIONS_H

#include <stdint.h>

#define OPML_CODE_BASE      0x00100000u
#define OPML_PARAMS_BASE    0x00200000u
#define OPML_INPUT_BASE(i)  (0x10000000u * (uint32_t)((i) + 1))
#define OPML_INPUT_COUNT    6
#define OPML_OUTPUT_BASE    0x80000000u
#define OPML_SCRATCH_BASE   0xA0000000u
#define OPML_STACK_BASE     0xE0000000u

/* Typed views of the data regions. Inputs and params are read-only by convention. */
#define OPML_INPUT_I8(i)    ((const int8_t *)OPML_INPUT_BASE(i))
#define OPML_INPUT_I32(i)   ((const int32_t *)OPML_INPUT_BASE(i))
#define OPML_OUTPUT_I8      ((int8_t *)OPML_OUTPUT_BASE)
#define OPML_OUTPUT_I32     ((int32_t *)OPML_OUTPUT_BASE)
#define OPML_SCRATCH        ((uint8_t *)OPML_SCRATCH_BASE)

#endif
