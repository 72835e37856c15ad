/* Branch-free integer helpers for kernels whose step count must not depend on the data (docs/ops.md
 * "Step counts"). Same results as opml/quant.h and services/opml/ml/quant.py; every data-dependent choice is a
 * mask or a compare-to-0/1 instead of a branch. 64-bit values are split into 32-bit words wherever a shift amount
 * is variable (MIPS32 has no 64-bit shifts and libgcc is not linked). */
#ifndef OPML_CT_H
#define OPML_CT_H

#include <stdint.h>
#include "opml/quant.h"

/* 0xFFFFFFFF when bit is 1, 0 when it is 0. */
static inline uint32_t ct_mask(uint32_t bit)
{
    return (uint32_t)0 - bit;
}

static inline int32_t ct_select(uint32_t bit, int32_t when_1, int32_t when_0)
{
    uint32_t m = ct_mask(bit);
    return (int32_t)(((uint32_t)when_1 & m) | ((uint32_t)when_0 & ~m));
}

static inline uint32_t ct_lt(int32_t a, int32_t b)
{
    return (uint32_t)(a < b);
}

static inline uint32_t ct_ltu(uint32_t a, uint32_t b)
{
    return (uint32_t)(a < b);
}

static inline uint32_t ct_eq(uint32_t a, uint32_t b)
{
    return ct_ltu(a ^ b, 1u);
}

static inline int32_t ct_clamp(int32_t x, int32_t low, int32_t high)
{
    x = ct_select(ct_lt(x, low), low, x);
    return ct_select(ct_lt(high, x), high, x);
}

static inline uint32_t ct_hi(int64_t v)
{
    return (uint32_t)((uint64_t)v >> 32);
}

static inline int64_t ct_join(uint32_t hi, uint32_t lo)
{
    return (int64_t)(((uint64_t)hi << 32) | lo);
}

/* a < b on unsigned 64-bit values, as 0/1. */
static inline uint32_t ct_lt64u(uint64_t a, uint64_t b)
{
    uint32_t ah = (uint32_t)(a >> 32), bh = (uint32_t)(b >> 32);
    return ct_ltu(ah, bh) | (ct_eq(ah, bh) & ct_ltu((uint32_t)a, (uint32_t)b));
}

/* v >> n (arithmetic) for 0 <= n <= 31. */
static inline int64_t ct_sra64(int64_t v, uint32_t n)
{
    uint32_t lo = (uint32_t)v, hi = ct_hi(v);
    uint32_t new_lo = (lo >> n) | ((hi << 1) << (31u - n));
    return ct_join((uint32_t)((int32_t)hi >> n), new_lo);
}

/* v << n for 0 <= n <= 63 (bits shifted out are lost). */
static inline uint64_t ct_shl64(uint64_t v, uint32_t n)
{
    uint32_t lo = (uint32_t)v, hi = (uint32_t)(v >> 32), m = n & 31u, big = ct_mask((n >> 5) & 1u);
    uint32_t small_hi = (hi << m) | ((lo >> 1) >> (31u - m)), small_lo = lo << m;
    uint32_t out_hi = ((lo << m) & big) | (small_hi & ~big);
    uint32_t out_lo = small_lo & ~big;
    return ((uint64_t)out_hi << 32) | out_lo;
}

/* RoundingDivideByPOT on int64: v / 2^e rounded to nearest, ties away from zero (0 <= e <= 31). */
static inline int64_t ct_rdbpot64(int64_t v, uint32_t e)
{
    uint32_t mask = (1u << e) - 1u;
    uint32_t remainder = (uint32_t)v & mask;
    uint32_t threshold = (mask >> 1) + (ct_hi(v) >> 31);
    return ct_sra64(v, e) + (int64_t)ct_ltu(threshold, remainder);
}

/* sat8 of an int64 value. */
static inline int32_t ct_sat8_64(int64_t v)
{
    uint32_t lo = (uint32_t)v, hi = ct_hi(v);
    uint32_t above = ct_lt(0, (int32_t)hi) | (ct_eq(hi, 0u) & ct_ltu(127u, lo));
    uint32_t below = ct_lt((int32_t)hi, -1) | (ct_eq(hi, 0xFFFFFFFFu) & ct_ltu(lo, 0xFFFFFF80u));
    int32_t r = ct_select(above, 127, (int32_t)lo);
    return ct_select(below, -128, r);
}

/* sat32(a + b). */
static inline int32_t ct_sat_add(int32_t a, int32_t b)
{
    uint32_t r = (uint32_t)a + (uint32_t)b;
    uint32_t overflow = (((uint32_t)a ^ r) & ((uint32_t)b ^ r)) >> 31;
    int32_t saturated = (int32_t)(((uint32_t)((uint32_t)a >> 31) * 0xFFFFFFFFu) ^ (uint32_t)OPML_INT32_MAX);
    return ct_select(overflow, saturated, (int32_t)r);
}

/* SRDHM (opml_srdhm) without branches. */
static inline int32_t ct_srdhm(int32_t a, int32_t b)
{
    int64_t ab = (int64_t)a * (int64_t)b;
    uint32_t negative = ct_hi(ab) >> 31;
    int64_t v = ab + (int64_t)((1 << 30) - (int32_t)(negative * 0x7FFFFFFFu));
    uint32_t v_negative = ct_hi(v) >> 31;
    int32_t q = (int32_t)(uint32_t)((v + (int64_t)(v_negative * 0x7FFFFFFFu)) >> 31); /* trunc toward zero */
    uint32_t both_min = ct_eq((uint32_t)a, 0x80000000u) & ct_eq((uint32_t)b, 0x80000000u);
    return (int32_t)((uint32_t)q - both_min); /* 2^31 wrapped to INT32_MIN, minus 1: INT32_MAX */
}

/* RDBPOT (opml_rdbpot) without branches, 0 <= e <= 31. */
static inline int32_t ct_rdbpot(int32_t x, uint32_t e)
{
    int32_t mask = (int32_t)((1u << e) - 1u);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (int32_t)((uint32_t)x >> 31);
    return (x >> e) + (int32_t)ct_lt(threshold, remainder);
}

/* x * 2^n saturated to int32, 0 <= n <= 31. */
static inline int32_t ct_sat_shl(int32_t x, uint32_t n)
{
    int32_t r = (int32_t)((uint32_t)x << n);
    r = ct_select(ct_lt(OPML_INT32_MAX >> n, x), OPML_INT32_MAX, r);
    return ct_select(ct_lt(x, OPML_INT32_MIN >> n), OPML_INT32_MIN, r);
}

/* MBQM (opml_mbqm) without branches. */
static inline int32_t ct_mbqm(int32_t x, int32_t m0, int32_t shift)
{
    uint32_t negative = ct_mask((uint32_t)shift >> 31);
    uint32_t left = (uint32_t)(-shift) & negative, right = (uint32_t)shift & ~negative;
    return ct_rdbpot(ct_srdhm(ct_sat_shl(x, left), m0), right);
}

/* opml_rounded_mean without branches: |t| / c rounded to nearest, ties away from zero, sign of t (c >= 1,
 * 2|t| + c < 2^32). */
static inline int32_t ct_rounded_mean(int32_t total, uint32_t count)
{
    uint32_t negative = ct_mask((uint32_t)total >> 31);
    uint32_t magnitude = ((uint32_t)total ^ negative) - negative;
    uint32_t q = (2u * magnitude + count) / (2u * count);
    return (int32_t)((q ^ negative) - negative);
}

/* 1/sqrt(a) ≈ q · 2^(p − 61) for 1 <= a < 2^46 (docs/ops.md "Integer inverse square root"):
 * p = (62 − bitlen(a)) >> 1, r = isqrt(a · 4^p) in [2^30, 2^31), q = floor((2^61 − 1) / r). */
static inline uint32_t ct_inv_sqrt(uint64_t a, uint32_t *p_out)
{
    uint32_t p = 0;
    uint64_t limit = 1ull << 60;
    for (uint32_t k = 1; k <= 30; k++) { /* p = number of k in 1..30 with a < 2^(62 − 2k) */
        p += ct_lt64u(a, limit);
        limit >>= 2;
    }
    uint64_t s = ct_shl64(a, 2u * p);
    uint32_t r = 0;
    for (int32_t bit = 30; bit >= 0; bit--) { /* r = floor(sqrt(s)), built from the top bit down */
        uint32_t c = r | (1u << bit);
        uint64_t square = (uint64_t)c * c;
        r = (uint32_t)ct_select(ct_lt64u(s, square) ^ 1u, (int32_t)c, (int32_t)r);
    }
    uint32_t rem = 0, q = 0;
    for (uint32_t i = 0; i < 61; i++) { /* (2^61 − 1) / r by restoring division: 61 one-bits */
        rem = (rem << 1) | 1u;
        uint32_t ge = ct_ltu(rem, r) ^ 1u;
        rem -= r & ct_mask(ge);
        q = (q << 1) | ge;
    }
    *p_out = p;
    return q;
}

#endif
