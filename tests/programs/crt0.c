/* Entry point: the loader sets $sp; run main and exit with its result. Also the memory routines gcc may call. */
#include "vmrt.h"

__attribute__((noreturn, used, section(".text.start"))) void _start(void)
{
    vm_exit((uint32_t)main());
}

void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}

void *memset(void *dst, int value, size_t n)
{
    uint8_t *d = dst;
    while (n--)
        *d++ = (uint8_t)value;
    return dst;
}
