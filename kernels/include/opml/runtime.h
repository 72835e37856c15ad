/* The kernel runtime: runtime/start.c defines `_start`, which calls the kernel's `main` and exits the VM with
 * main's return value as exit code (syscall 4001, docs/vm.md). Kernels are freestanding: no libc, no libgcc,
 * so no 64-bit division or modulo (64-bit multiply, add and shifts are fine), no floating point. */
#ifndef OPML_RUNTIME_H
#define OPML_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include "opml/regions.h"
#include "opml/params.h"

/* The kernel's entry point; its return value (low 8 bits) becomes the VM exit code. */
int main(void);

/* Halts the VM with status "exited" and the given exit code. */
__attribute__((noreturn)) static inline void opml_exit(uint32_t code)
{
    register uint32_t v0 __asm__("$2") = 4001;
    register uint32_t a0 __asm__("$4") = code;
    __asm__ volatile("syscall" : : "r"(v0), "r"(a0) : "memory");
    __builtin_unreachable();
}

/* gcc may emit calls to these for struct copies and large initializers; runtime/mem.c defines them. */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int value, size_t n);

#endif
