/*===- qforge_capi_test.c - the qforge C API, from C ----------------------===*\
|*                                                                            *|
|* Registers qforge through its C API into a context made by MLIR's C API,   *|
|* parses a float linear layer, runs qforge-ptq (dynamic mode) through       *|
|* mlirParsePassPipeline and checks the integer matmul it produces. Also     *|
|* checks the dialect handle's namespace and that a bad pipeline is an      *|
|* error. Exit status 0 on success; every failure says what failed.          *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "qforge-c/QForge.h"

#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"
#include "mlir-c/Support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kLinear =
    "func.func @linear(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {\n"
    "  %w = arith.constant dense<[[0.5, -1.0], [0.25, 2.0], [1.0, 0.5]]> : "
    "tensor<3x2xf32>\n"
    "  %zero = arith.constant 0.0 : f32\n"
    "  %e = tensor.empty() : tensor<4x2xf32>\n"
    "  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> "
    "tensor<4x2xf32>\n"
    "  %y = linalg.matmul ins(%x, %w : tensor<4x3xf32>, tensor<3x2xf32>) "
    "outs(%init : tensor<4x2xf32>) -> tensor<4x2xf32>\n"
    "  return %y : tensor<4x2xf32>\n"
    "}\n";

typedef struct {
  char *data;
  size_t size;
} Text;

static void appendText(MlirStringRef chunk, void *userData) {
  Text *text = (Text *)userData;
  text->data = (char *)realloc(text->data, text->size + chunk.length + 1);
  memcpy(text->data + text->size, chunk.data, chunk.length);
  text->size += chunk.length;
  text->data[text->size] = '\0';
}

static int fail(const char *what) {
  fprintf(stderr, "qforge_capi_test: %s\n", what);
  return 1;
}

int main(void) {
  MlirDialectHandle handle = mlirGetDialectHandle__qforge__();
  MlirStringRef ns = mlirDialectHandleGetNamespace(handle);
  if (ns.length != 6 || strncmp(ns.data, "qforge", 6) != 0)
    return fail("the dialect handle's namespace is not 'qforge'");

  MlirDialectRegistry registry = mlirDialectRegistryCreate();
  qforgeRegisterDialects(registry);
  MlirContext ctx = mlirContextCreateWithRegistry(registry, false);
  mlirDialectRegistryDestroy(registry);
  mlirDialectHandleLoadDialect(handle, ctx);
  qforgeRegisterPasses();
  qforgeRegisterPasses(); /* idempotent */

  MlirModule module =
      mlirModuleCreateParse(ctx, mlirStringRefCreateFromCString(kLinear));
  if (mlirModuleIsNull(module))
    return fail("the linear layer did not parse");

  MlirPassManager pm = mlirPassManagerCreate(ctx);
  MlirOpPassManager opm = mlirPassManagerGetAsOpPassManager(pm);
  Text errors = {NULL, 0};
  MlirLogicalResult parsed = mlirParsePassPipeline(
      opm,
      mlirStringRefCreateFromCString(
          "builtin.module(qforge-ptq{mode=dynamic})"),
      appendText, &errors);
  if (mlirLogicalResultIsFailure(parsed))
    return fail(errors.data ? errors.data : "qforge-ptq did not parse");
  if (mlirLogicalResultIsFailure(
          mlirPassManagerRunOnOp(pm, mlirModuleGetOperation(module))))
    return fail("qforge-ptq failed");

  Text printed = {NULL, 0};
  mlirOperationPrint(mlirModuleGetOperation(module), appendText, &printed);
  if (!printed.data || !strstr(printed.data, "qforge.dynamic_quantize") ||
      !strstr(printed.data, "qforge.matmul") ||
      strstr(printed.data, "linalg.matmul"))
    return fail("qforge-ptq did not produce an integer matmul");
  printf("%s", printed.data);

  /* An unknown pass is an error when the pipeline is parsed; a bad option
   * value of qforge-ptq (checked by the pipeline) when it runs. */
  MlirPassManager bad = mlirPassManagerCreate(ctx);
  Text badErrors = {NULL, 0};
  if (mlirLogicalResultIsSuccess(mlirParsePassPipeline(
          mlirPassManagerGetAsOpPassManager(bad),
          mlirStringRefCreateFromCString("builtin.module(qforge-nope)"),
          appendText, &badErrors)))
    return fail("an unknown pass was accepted");
  printf("unknown pass: %s\n", badErrors.data ? badErrors.data : "(no text)");
  MlirPassManager qat = mlirPassManagerCreate(ctx);
  if (mlirLogicalResultIsFailure(mlirParsePassPipeline(
          mlirPassManagerGetAsOpPassManager(qat),
          mlirStringRefCreateFromCString(
              "builtin.module(qforge-ptq{mode=qat})"),
          appendText, &badErrors)) ||
      mlirLogicalResultIsSuccess(
          mlirPassManagerRunOnOp(qat, mlirModuleGetOperation(module))))
    return fail("qforge-ptq{mode=qat} did not fail when run");
  mlirPassManagerDestroy(qat);
  printf("qforge %s: C API OK\n", qforgeVersion());

  free(printed.data);
  free(errors.data);
  free(badErrors.data);
  mlirPassManagerDestroy(bad);
  mlirPassManagerDestroy(pm);
  mlirModuleDestroy(module);
  mlirContextDestroy(ctx);
  return 0;
}
