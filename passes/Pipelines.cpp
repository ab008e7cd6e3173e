//===- Pipelines.cpp - qforge pass pipelines ------------------------------===//

#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

namespace {
// The CPU recipe of docs/DESIGN.md §8, after qforge's own lowering.
constexpr const char *kToLLVM =
    "qforge-lower-to-runtime,"
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "buffer-deallocation-pipeline,"
    "convert-linalg-to-loops,"
    "convert-scf-to-cf,"
    "expand-strided-metadata,"
    "lower-affine,"
    "finalize-memref-to-llvm,"
    "convert-math-to-llvm,"
    "convert-arith-to-llvm,"
    "convert-index-to-llvm,"
    "convert-cf-to-llvm,"
    "convert-func-to-llvm,"
    "reconcile-unrealized-casts";
} // namespace

void qforge::registerQForgePipelines() {
  PassPipelineRegistration<>(
      "qforge-to-llvm",
      "Lower a module with qforge ops to the LLVM dialect: runtime calls for "
      "qforge ops, one-shot bufferization, loops for the rest",
      [](OpPassManager &pm) {
        if (failed(parsePassPipeline(kToLLVM, pm)))
          llvm::report_fatal_error("qforge-to-llvm: bad pipeline text");
      });
}
