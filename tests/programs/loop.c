/* A loop-heavy program for speed figures: an xorshift generator folded n times (PARAMS: u32 n).
 * OUTPUT: the final u32 state. Exit code: its low byte. */
#include "vmrt.h"

int main(void)
{
    uint32_t n = *(const volatile uint32_t *)PARAMS;
    uint32_t x = 2463534242u, acc = 0;
    for (uint32_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        acc += x & 0xFF;
    }
    *(volatile uint32_t *)OUTPUT = x + acc;
    return (int)((x + acc) & 0xFF);
}
