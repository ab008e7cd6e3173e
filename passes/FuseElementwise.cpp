//===- FuseElementwise.cpp - qforge-fuse-elementwise ----------------------===//
//
// Fewer, larger kernels for the cuda target (see Passes.td): every linalg
// op left after qforge-lower-to-runtime becomes one generated kernel and one
// round trip of its result through device memory, so chains of elementwise
// ops are fused into their consumer before code generation.
//
//  1. Named ops that only move or map elements (transpose, broadcast,
//     elementwise named ops, copy) become linalg.generic, which the fusion
//     patterns take; fills stay (they initialize reductions).
//  2. An elementwise generic with several users is cloned once per user when
//     recomputing it in each user reads less memory than writing its result
//     once and reading it back in each user (softmax's exp(x - max), read by
//     the sum and by the division; a layernorm's centred values). Upstream's
//     fusion keeps a multi-user producer's result as an extra output of the
//     fused op, which a row reduction cannot take.
//  3. Upstream producer -> consumer fusion of single-user producers, with
//     reshapes folded into generics by expansion so that a reshape between
//     two ops does not stop it, and dead operands dropped.
//  4. A fill with several users (reductions' accumulators) is cloned once
//     per user, next to it, so that each folds into its reduction's kernel.
//
// Recomputed values are computed by the same ops in the same order, so
// results do not change (the GPU backend may contract a multiply and an add
// that now meet in one kernel into an FMA, as within any kernel).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace qforge {
#define GEN_PASS_DEF_FUSEELEMENTWISE
#include "passes/Passes.h.inc"
} // namespace qforge

using namespace mlir;

namespace {

bool allParallel(linalg::LinalgOp op) {
  return op.getNumLoops() == op.getNumParallelLoops();
}

/// Named all-parallel ops on tensors -> linalg.generic.
void generalizeNamedElementwise(func::FuncOp func) {
  SmallVector<linalg::LinalgOp> named;
  func.walk([&](linalg::LinalgOp op) {
    if (!isa<linalg::GenericOp, linalg::FillOp>(op.getOperation()) &&
        op.hasPureTensorSemantics() && allParallel(op))
      named.push_back(op);
  });
  IRRewriter rewriter(func.getContext());
  for (linalg::LinalgOp op : named) {
    rewriter.setInsertionPoint(op);
    // An op the generalization does not take stays its own kernel.
    (void)linalg::generalizeNamedOp(rewriter, op);
  }
}

/// Bytes of a statically shaped tensor, or nullopt.
std::optional<int64_t> tensorBytes(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !tensor.hasStaticShape() ||
      !tensor.getElementType().isIntOrFloat())
    return std::nullopt;
  return tensor.getNumElements() *
         int64_t(llvm::divideCeil(tensor.getElementTypeBitWidth(), 8));
}

/// Whether each user of `producer`'s result could take it in by fusion and
/// recomputing it there moves fewer bytes than materializing it:
///   users * in <= in + out + users * out,
/// `in` counting the inputs read in full (not broadcast rows or columns,
/// which stay in cache).
bool worthCloningPerUser(linalg::GenericOp producer) {
  if (producer->getNumResults() != 1 || !allParallel(producer) ||
      !producer.hasPureTensorSemantics())
    return false;
  Value result = producer->getResult(0);
  int64_t users = 0;
  for (OpOperand &use : result.getUses()) {
    if (!isa<linalg::GenericOp>(use.getOwner()) ||
        !linalg::areElementwiseOpsFusable(&use))
      return false;
    ++users;
  }
  if (users < 2)
    return false;
  std::optional<int64_t> out = tensorBytes(result.getType());
  if (!out)
    return false;
  int64_t in = 0;
  unsigned loops = producer.getNumLoops();
  for (OpOperand *input : producer.getDpsInputOperands()) {
    if (producer.getMatchingIndexingMap(input).getNumResults() != loops)
      continue; // broadcast along some loop
    std::optional<int64_t> bytes = tensorBytes(input->get().getType());
    if (!bytes)
      return false;
    in += *bytes;
  }
  return users * in <= in + *out + users * *out;
}

/// Step 2: clone cheap multi-user producers once per user. Walks backwards
/// so that a producer is decided after its users were cloned (its user
/// count is then final).
void cloneCheapProducers(func::FuncOp func) {
  SmallVector<linalg::GenericOp> generics;
  func.walk([&](linalg::GenericOp op) { generics.push_back(op); });
  OpBuilder b(func.getContext());
  for (linalg::GenericOp producer : llvm::reverse(generics)) {
    if (!worthCloningPerUser(producer))
      continue;
    SmallVector<OpOperand *> uses;
    for (OpOperand &use : producer->getResult(0).getUses())
      uses.push_back(&use);
    b.setInsertionPoint(producer);
    for (OpOperand *use : llvm::drop_begin(uses))
      use->set(b.clone(*producer)->getResult(0));
  }
}

/// Step 4: a fill read by several ops (the accumulators of a layernorm's
/// two sums, once CSE merged them) is cloned once per user. Shared, it
/// becomes one buffer that bufferization copies for each reduction writing
/// into it (a kernel and a device copy per user); one fill per reduction
/// folds into that reduction's kernel instead (qforge-parallel-to-gpu).
void cloneSharedFills(func::FuncOp func) {
  SmallVector<linalg::FillOp> fills;
  func.walk([&](linalg::FillOp fill) {
    if (fill.hasPureTensorSemantics() && !fill->getResult(0).hasOneUse())
      fills.push_back(fill);
  });
  OpBuilder b(func.getContext());
  for (linalg::FillOp fill : fills) {
    SmallVector<OpOperand *> uses;
    for (OpOperand &use : fill->getResult(0).getUses())
      uses.push_back(&use);
    for (OpOperand *use : uses) {
      b.setInsertionPoint(use->getOwner());
      use->set(b.clone(*fill)->getResult(0));
    }
    fill->erase();
  }
}

struct FuseElementwisePass
    : public qforge::impl::FuseElementwiseBase<FuseElementwisePass> {
  using FuseElementwiseBase::FuseElementwiseBase;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    linalg::ControlFusionFn singleUser = [](OpOperand *operand) {
      Operation *producer = operand->get().getDefiningOp();
      return producer && producer->hasOneUse();
    };
    linalg::populateElementwiseOpsFusionPatterns(patterns, singleUser);
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, singleUser);
    linalg::populateEraseUnusedOperandsAndResultsPatterns(patterns);
    tensor::populateFoldTensorEmptyPatterns(patterns);
    FrozenRewritePatternSet frozen(std::move(patterns));
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      generalizeNamedElementwise(func);
      cloneCheapProducers(func);
      if (failed(applyPatternsGreedily(func, frozen)))
        return signalPassFailure();
      cloneSharedFills(func);
    }
  }
};

} // namespace
