/* Recursion on the stack (jal, jr, stack frames): quicksort of signed words and a recursive Fibonacci.
 * PARAMS: u32 n, u32 k, then n i32. OUTPUT: the n values sorted ascending, then fib(k) at word n.
 * Exit code: fib(k) & 0xFF. */
#include "vmrt.h"

static void quicksort(int32_t *a, int lo, int hi)
{
    if (lo >= hi)
        return;
    int32_t pivot = a[(lo + hi) / 2];
    int i = lo, j = hi;
    while (i <= j) {
        while (a[i] < pivot)
            i++;
        while (a[j] > pivot)
            j--;
        if (i <= j) {
            int32_t t = a[i];
            a[i] = a[j];
            a[j] = t;
            i++;
            j--;
        }
    }
    quicksort(a, lo, j);
    quicksort(a, i, hi);
}

__attribute__((noinline)) static uint32_t fib(uint32_t k)
{
    return k < 2 ? k : fib(k - 1) + fib(k - 2);
}

int main(void)
{
    const volatile uint32_t *in = (const volatile uint32_t *)PARAMS;
    int32_t *out = (int32_t *)OUTPUT;
    uint32_t n = in[0], k = in[1];
    for (uint32_t i = 0; i < n; i++)
        out[i] = (int32_t)in[2 + i];
    quicksort(out, 0, (int)n - 1);
    uint32_t f = fib(k);
    out[n] = (int32_t)f;
    return (int)(f & 0xFF);
}
