//===- DecomposeAggregates.cpp - qforge-decompose-aggregates --------------===//
//
// Named linalg ops that stand for several steps (linalg.softmax; any op of
// upstream's AggregatedOpInterface) have no lowering to loops or GPU
// kernels of their own: a model holding one used to fail at translation
// with an unrealized cast. Both pipelines decompose them first into the
// generics and fills they stand for (max, exp(x - max), sum, divide for a
// softmax), which the rest of each pipeline lowers and fuses; the cuda
// pipeline runs qforge-fuse-attention before, so a softmax between two
// attention matmuls becomes flash attention instead.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

namespace qforge {
#define GEN_PASS_DEF_DECOMPOSEAGGREGATES
#include "passes/Passes.h.inc"
} // namespace qforge

using namespace mlir;

namespace {

struct DecomposeAggregatesPass
    : public qforge::impl::DecomposeAggregatesBase<DecomposeAggregatesPass> {
  void runOnOperation() override {
    SmallVector<linalg::AggregatedOpInterface> aggregates;
    getOperation().walk(
        [&](linalg::AggregatedOpInterface op) { aggregates.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (linalg::AggregatedOpInterface op : aggregates) {
      rewriter.setInsertionPoint(op);
      FailureOr<SmallVector<Value>> parts = op.decomposeOperation(rewriter);
      if (failed(parts) || parts->size() != op->getNumResults()) {
        op->emitOpError("cannot be decomposed into simpler linalg ops (on "
                        "buffers, or a form the op's decomposition does not "
                        "take)");
        return signalPassFailure();
      }
      rewriter.replaceOp(op, *parts);
    }
  }
};

} // namespace
