/* Unaligned loads and stores through packed structs (lwl, lwr, swl, swr, and byte/half accesses).
 * PARAMS: u32 n, then n packed records {u8 tag; u32 value; i16 half; i32 sval} (11 bytes each) at offset 4.
 * OUTPUT: n packed records {u8 tag; u32 value*3 + tag; i16 -half; i32 sval ^ value} at offset 1 (so
 * misaligned), then at 0x10000 the u32 sum of every value and sval. Exit code: the sum's low byte. */
#include "vmrt.h"

struct __attribute__((packed)) record {
    uint8_t tag;
    uint32_t value;
    int16_t half;
    int32_t sval;
};

int main(void)
{
    uint32_t n = *(const volatile uint32_t *)PARAMS;
    const struct record *in = (const struct record *)(PARAMS + 4);
    struct record *out = (struct record *)(OUTPUT + 1);
    uint32_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct record r = in[i];
        out[i].tag = r.tag;
        out[i].value = r.value * 3 + r.tag;
        out[i].half = (int16_t)-r.half;
        out[i].sval = r.sval ^ (int32_t)r.value;
        sum += r.value + (uint32_t)r.sval;
    }
    *(volatile uint32_t *)(OUTPUT + 0x10000) = sum;
    return (int)(sum & 0xFF);
}
