//===- quantize_weights_bench.cpp - qforge-quantize-weights at scale ------===//
//
// Builds a module whose linalg.matmul has a constant weight of N x K f32
// elements (random, as a dense_resource blob, as a large exported model
// carries it), runs qforge-quantize-weights on it and prints the wall time.
//
// usage: quantize_weights_bench [N K]   (default 10000 x 10000 = 100M)
//===----------------------------------------------------------------------===//

#include "qforge/InitAll.h"

#include "dialect/QForgeOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

using namespace mlir;

int main(int argc, char **argv) {
  int64_t n = 10000, k = 10000, m = 8;
  if (argc == 3) {
    n = std::atoll(argv[1]);
    k = std::atoll(argv[2]);
  }
  DialectRegistry registry;
  qforge::registerAllDialects(registry);
  qforge::registerAllPasses();
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  auto start = std::chrono::steady_clock::now();
  std::vector<float> weights(size_t(n * k));
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (float &w : weights)
    w = normal(rng);

  OpBuilder builder(&context);
  Location loc = builder.getUnknownLoc();
  auto module = ModuleOp::create(loc);
  builder.setInsertionPointToEnd(module.getBody());
  auto f32 = builder.getF32Type();
  auto xType = RankedTensorType::get({m, k}, f32);
  auto wType = RankedTensorType::get({k, n}, f32);
  auto yType = RankedTensorType::get({m, n}, f32);
  auto func = func::FuncOp::create(builder, loc, "linear",
                                   builder.getFunctionType({xType}, {yType}));
  builder.setInsertionPointToEnd(func.addEntryBlock());
  auto blob = HeapAsmResourceBlob::allocateAndCopyInferAlign<float>(weights);
  weights.clear();
  weights.shrink_to_fit();
  auto attr =
      DenseF32ResourceElementsAttr::get(wType, "weight", std::move(blob));
  Value w =
      arith::ConstantOp::create(builder, loc, cast<TypedAttr>(Attribute(attr)));
  Value init = tensor::EmptyOp::create(builder, loc, yType.getShape(), f32);
  Value y =
      linalg::MatmulOp::create(builder, loc, ValueRange{func.getArgument(0), w},
                               ValueRange{init})
          .getResult(0);
  func::ReturnOp::create(builder, loc, y);
  double buildSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();

  PassManager pm(&context);
  pm.addPass(qforge::createQuantizeWeights());
  start = std::chrono::steady_clock::now();
  if (failed(pm.run(module))) {
    std::fprintf(stderr, "qforge-quantize-weights failed\n");
    return 1;
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::printf("qforge-quantize-weights: %lld x %lld = %.1fM f32 weights in "
              "%.2f s (%.0f M elements/s); module built in %.2f s\n",
              (long long)k, (long long)n, double(n * k) / 1e6, seconds,
              double(n * k) / 1e6 / seconds, buildSeconds);
  // Check the pass did its job: the float weight must be gone.
  bool quantized = false;
  module.walk([&](qforge::DequantizeOp) { quantized = true; });
  if (!quantized) {
    std::fprintf(stderr, "error: the weight was not quantized\n");
    module.print(llvm::errs());
    return 1;
  }
  module->erase();
  return 0;
}
