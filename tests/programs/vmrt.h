/* Runtime of the VM test programs: fixed-width types, the data regions, exit. */
#ifndef VMRT_H
#define VMRT_H

typedef unsigned char uint8_t;
typedef signed char int8_t;
typedef unsigned short uint16_t;
typedef short int16_t;
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned long long uint64_t;
typedef long long int64_t;
typedef unsigned int size_t;

/* The test writes inputs to PARAMS and reads results from OUTPUT (opml.vm.layout). */
#define PARAMS ((volatile uint8_t *)0x00200000)
#define OUTPUT ((volatile uint8_t *)0x80000000)

int main(void);

static inline __attribute__((noreturn)) void vm_exit(uint32_t code)
{
    register uint32_t v0 __asm__("$2") = 4001;
    register uint32_t a0 __asm__("$4") = code;
    __asm__ volatile("syscall" : : "r"(v0), "r"(a0) : "memory");
    __builtin_unreachable();
}

#endif
