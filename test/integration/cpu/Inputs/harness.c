/* Calls the models of models.mlir through their C interfaces and prints the
 * results, checking the quantized linear layer against its float version. */
#include "qforge_rt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
  float *allocated, *aligned;
  int64_t offset, sizes[2], strides[2];
} Memref2D;

void _mlir_ciface_qdq(Memref2D *result, Memref2D *x);
void _mlir_ciface_mlp(Memref2D *result, Memref2D *x);
void _mlir_ciface_qlinear(Memref2D *result, Memref2D *x);

static Memref2D view(float *data, int64_t rows, int64_t cols) {
  Memref2D m = {data, data, 0, {rows, cols}, {cols, 1}};
  return m;
}

static int check(const char *what) {
  if (qforge_rt_model_status() != QFORGE_OK) {
    fprintf(stderr, "%s: runtime error: %s\n", what, qforge_rt_last_error());
    return 1;
  }
  return 0;
}

/* Results are allocated by the model and owned by the caller. */
static void release(Memref2D *m) { free(m->allocated); }

static void print(const char *name, const Memref2D *m) {
  printf("%s:", name);
  for (int64_t i = 0; i < m->sizes[0]; ++i)
    for (int64_t j = 0; j < m->sizes[1]; ++j)
      printf(" %.4f", m->aligned[m->offset + i * m->strides[0] + j * m->strides[1]]);
  printf("\n");
}

int main(void) {
  qforge_context *ctx = NULL;
  if (qforge_rt_create(QFORGE_BACKEND_CPU, &ctx) != QFORGE_OK) {
    fprintf(stderr, "%s\n", qforge_rt_last_error());
    return 1;
  }
  qforge_rt_set_current(ctx);

  float qdqIn[8] = {0.25f, 0.35f, -0.05f, 0.15f, 20.0f, -20.0f, 0.04f, -0.06f};
  Memref2D in = view(qdqIn, 2, 4), out;
  _mlir_ciface_qdq(&out, &in);
  if (check("qdq"))
    return 1;
  print("qdq", &out);
  release(&out);

  float mlpIn[6] = {1.0f, 2.0f, 3.0f, -1.0f, 0.5f, 0.25f};
  in = view(mlpIn, 2, 3);
  _mlir_ciface_mlp(&out, &in);
  if (check("mlp"))
    return 1;
  print("mlp", &out);
  release(&out);

  float x[12] = {0.3f, -1.2f, 0.8f, 1.0f, 1.0f, 1.0f,
                 -0.5f, 0.25f, 2.0f, 0.0f, 0.0f, 0.0f};
  in = view(x, 4, 3);
  _mlir_ciface_qlinear(&out, &in);
  if (check("qlinear"))
    return 1;
  print("qlinear", &out);
  /* The float layer with the dequantized weights. */
  const float w[2][3] = {{1.00f, 0.50f, -1.27f}, {-1.28f, 2.54f, 0.0f}};
  const float b[2] = {0.5f, -0.25f};
  double worst = 0;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j) {
      double y = b[j];
      for (int k = 0; k < 3; ++k)
        y += (double)x[i * 3 + k] * w[j][k];
      y = y > 0 ? y : 0;
      double e = fabs(y - out.aligned[out.offset + i * 2 + j]);
      worst = e > worst ? e : worst;
    }
  printf("qlinear max abs error vs float: %s\n", worst < 0.03 ? "< 0.03" : "TOO LARGE");
  release(&out);

  /* Without a current context, the model records a failure. */
  qforge_rt_set_current(NULL);
  _mlir_ciface_qdq(&out, &in);
  printf("no context: %s\n", qforge_rt_model_status() == QFORGE_ERR_INVALID_ARGUMENT
                               ? "error recorded" : "NOT DETECTED");
  release(&out);
  qforge_rt_destroy(ctx);
  return 0;
}
