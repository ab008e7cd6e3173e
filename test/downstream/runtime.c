/* Downstream use of the installed runtime: quantize a vector on the CPU. */
#include "qforge_rt.h"

#include <stdio.h>

int main(void) {
  qforge_context *ctx = NULL;
  if (qforge_rt_create(QFORGE_BACKEND_CPU, &ctx) != QFORGE_OK)
    return 1;
  float x[4] = {0.25f, -1.0f, 2.0f, 100.0f};
  int8_t q[4];
  if (qforge_rt_quantize(ctx, QFORGE_F32, x, 4, 0.5f, 0, -128, 127, q) !=
      QFORGE_OK)
    return 1;
  printf("codes %d %d %d %d\n", q[0], q[1], q[2], q[3]);
  qforge_rt_destroy(ctx);
  /* 0.25/0.5 = 0.5 ties to even 0; 100/0.5 saturates. */
  if (q[0] != 0 || q[1] != -2 || q[2] != 4 || q[3] != 127)
    return 1;
  printf("downstream runtime OK\n");
  return 0;
}
