/* Requantization primitives (gemmlowp), bit-identical to services/opml/ml/quant.py; formulas in docs/ops.md.
 * Only 32-bit division, 64-bit multiply/add and constant 64-bit shifts: no libgcc helpers. */
#ifndef OPML_QUANT_H
#define OPML_QUANT_H

#include <stdint.h>

#define OPML_INT32_MIN (-2147483647 - 1)
#define OPML_INT32_MAX 2147483647

/* floor((a*b + 2^30) / 2^31) via gemmlowp's nudge (exact ties go toward +inf); INT32_MIN*INT32_MIN -> INT32_MAX. */
static inline int32_t opml_srdhm(int32_t a, int32_t b)
{
    if (a == b && a == OPML_INT32_MIN)
        return OPML_INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t v = ab + (ab >= 0 ? (int64_t)(1 << 30) : (int64_t)(1 - (1 << 30)));
    return (int32_t)(v >= 0 ? (v >> 31) : -((-v) >> 31)); /* C division by 2^31: toward zero */
}

/* x / 2^e rounded to nearest, ties away from zero (0 <= e <= 31). */
static inline int32_t opml_rdbpot(int32_t x, uint32_t e)
{
    int32_t mask = (int32_t)((1u << e) - 1u);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (remainder > threshold ? 1 : 0);
}

/* x * 2^n saturated to int32 (0 <= n <= 31). */
static inline int32_t opml_sat_shl(int32_t x, uint32_t n)
{
    if (n == 0)
        return x;
    if (x > (OPML_INT32_MAX >> n))
        return OPML_INT32_MAX;
    if (x < (OPML_INT32_MIN >> n))
        return OPML_INT32_MIN;
    return (int32_t)((uint32_t)x << n);
}

/* x * M0 * 2^(-31-shift): saturating left shift by -shift (shift < 0), SRDHM, rounding right shift (shift > 0). */
static inline int32_t opml_mbqm(int32_t x, int32_t m0, int32_t shift)
{
    uint32_t left = shift < 0 ? (uint32_t)(-shift) : 0u;
    uint32_t right = shift > 0 ? (uint32_t)shift : 0u;
    return opml_rdbpot(opml_srdhm(opml_sat_shl(x, left), m0), right);
}

static inline int32_t opml_clamp(int32_t x, int32_t low, int32_t high)
{
    return x < low ? low : (x > high ? high : x);
}

/* |t| / c rounded to nearest, ties away from zero, sign of t (c >= 1, 2|t| + c < 2^32). */
static inline int32_t opml_rounded_mean(int32_t total, uint32_t count)
{
    uint32_t magnitude = total < 0 ? (uint32_t)0 - (uint32_t)total : (uint32_t)total;
    uint32_t q = (2u * magnitude + count) / (2u * count);
    return total < 0 ? -(int32_t)q : (int32_t)q;
}

#endif
