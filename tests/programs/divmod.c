/* Signed and unsigned division, remainder and 64-bit products (div, divu, mult, multu, mfhi, mflo).
 * PARAMS: u32 n, then n pairs (a, b) with b != 0. OUTPUT: per pair 8 words:
 * a/b, a%b, (u)a/(u)b, (u)a%(u)b, lo and hi of (s64)a*b, lo and hi of (u64)a*b. Exit code: n. */
#include "vmrt.h"

int main(void)
{
    const volatile uint32_t *in = (const volatile uint32_t *)PARAMS;
    volatile uint32_t *out = (volatile uint32_t *)OUTPUT;
    uint32_t n = in[0];
    for (uint32_t i = 0; i < n; i++) {
        int32_t a = (int32_t)in[1 + 2 * i], b = (int32_t)in[2 + 2 * i];
        uint32_t ua = (uint32_t)a, ub = (uint32_t)b;
        int64_t sp = (int64_t)a * b;
        uint64_t up = (uint64_t)ua * ub;
        out[8 * i + 0] = (uint32_t)(a / b);
        out[8 * i + 1] = (uint32_t)(a % b);
        out[8 * i + 2] = ua / ub;
        out[8 * i + 3] = ua % ub;
        out[8 * i + 4] = (uint32_t)sp;
        out[8 * i + 5] = (uint32_t)((uint64_t)sp >> 32);
        out[8 * i + 6] = (uint32_t)up;
        out[8 * i + 7] = (uint32_t)(up >> 32);
    }
    return (int)n;
}
