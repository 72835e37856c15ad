/* RMSNorm over the last axis (docs/ops.md; shared code in norm.h): Σ = 0, a = D·Σx² + ε. */
#include "norm.h"

int main(void)
{
    return norm_run(0, 0);
}
