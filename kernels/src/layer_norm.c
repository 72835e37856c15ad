/* LayerNorm over the last axis (docs/ops.md; shared code in norm.h): c = D·x − Σx, a = D·Σx² − (Σx)² + ε, bias. */
#include "norm.h"

int main(void)
{
    return norm_run(1, 1);
}
