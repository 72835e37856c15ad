/* Program entry: the VM starts here with $sp at the top of the stack region and all else zero. */
#include "opml/runtime.h"

__attribute__((noreturn, used, section(".text.start"))) void _start(void)
{
    opml_exit((uint32_t)main());
}
