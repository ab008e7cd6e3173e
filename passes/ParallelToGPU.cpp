//===- ParallelToGPU.cpp - qforge-parallel-to-gpu -------------------------===//
//
// Outermost scf.parallel loops of host functions -> gpu.launch, one thread
// per iteration point (see Passes.td); then a check that no host operation
// is left touching device memory.
//
// The iteration space is flattened instead of mapping dimensions to grid
// axes: grid y and z are limited to 65535 and a model's dimensions (tokens,
// heads, batch) are not, and a flat index with the innermost dimension
// fastest gives coalesced accesses for the row-major buffers bufferization
// makes. Upstream's gpu-map-parallel-loops maps loop dimensions to block
// and thread axes one for one, which needs tiling first and a known rank.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace qforge {
#define GEN_PASS_DEF_PARALLELTOGPU
#include "passes/Passes.h.inc"
} // namespace qforge

using namespace mlir;

namespace {

/// ceil((ub - lb) / step) for index values.
Value tripCount(OpBuilder &b, Location loc, Value lb, Value ub, Value step) {
  Value span = arith::SubIOp::create(b, loc, ub, lb);
  return arith::CeilDivSIOp::create(b, loc, span, step);
}

/// Replaces `loop` by a launch of one thread per iteration point.
LogicalResult launchParallel(scf::ParallelOp loop, int64_t blockSize) {
  if (loop.getNumReductions() != 0)
    return loop.emitError("qforge-parallel-to-gpu: scf.parallel with "
                          "reductions is not supported");
  OpBuilder b(loop);
  Location loc = loop.getLoc();
  SmallVector<Value> trips;
  Value total = arith::ConstantIndexOp::create(b, loc, 1);
  for (auto [lb, ub, step] :
       llvm::zip(loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
    trips.push_back(tripCount(b, loc, lb, ub, step));
    total = arith::MulIOp::create(b, loc, total, trips.back());
  }
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value threads = arith::ConstantIndexOp::create(b, loc, blockSize);
  // At least one block: a launch of 0 blocks is an error, an empty loop is
  // not (every thread then fails the bound check).
  Value blocks = arith::MaxSIOp::create(
      b, loc, arith::CeilDivSIOp::create(b, loc, total, threads), one);
  auto launch =
      gpu::LaunchOp::create(b, loc, blocks, one, one, threads, one, one);

  OpBuilder body = OpBuilder::atBlockBegin(&launch.getBody().front());
  Value linear = arith::AddIOp::create(
      body, loc,
      arith::MulIOp::create(body, loc, launch.getBlockIds().x, threads),
      launch.getThreadIds().x);
  Value inRange = arith::CmpIOp::create(body, loc, arith::CmpIPredicate::slt,
                                        linear, total);
  auto guard = scf::IfOp::create(body, loc, inRange, /*withElse=*/false);
  gpu::TerminatorOp::create(body, loc);

  OpBuilder inner = guard.getThenBodyBuilder();
  IRMapping mapping;
  Value rest = linear;
  for (int64_t d = int64_t(trips.size()) - 1; d >= 0; --d) {
    Value index =
        d == 0 ? rest : arith::RemSIOp::create(inner, loc, rest, trips[d]);
    if (d > 0)
      rest = arith::DivSIOp::create(inner, loc, rest, trips[d]);
    Value iv = arith::AddIOp::create(
        inner, loc, loop.getLowerBound()[d],
        arith::MulIOp::create(inner, loc, index, loop.getStep()[d]));
    mapping.map(loop.getInductionVars()[d], iv);
  }
  for (Operation &op : loop.getBody()->without_terminator())
    inner.clone(op, mapping);
  loop.erase();
  return success();
}

/// Whether `value` is device memory: a function argument, a gpu.alloc, a
/// device constant, or a view of one of them.
bool isDeviceMemory(Value value) {
  while (true) {
    if (isa<BlockArgument>(value))
      return true;
    Operation *def = value.getDefiningOp();
    if (!def)
      return false;
    if (isa<gpu::AllocOp>(def))
      return true;
    if (auto call = dyn_cast<func::CallOp>(def))
      return call.getCallee() == "qforge_rt_m_device_constant";
    if (auto view = dyn_cast<ViewLikeOpInterface>(def)) {
      value = view.getViewSource();
      continue;
    }
    return false;
  }
}

struct ParallelToGPUPass
    : public qforge::impl::ParallelToGPUBase<ParallelToGPUPass> {
  using ParallelToGPUBase::ParallelToGPUBase;

  void runOnOperation() override {
    if (blockSize < 1 || blockSize > 1024) {
      getOperation().emitError()
          << "qforge-parallel-to-gpu: block-size must be in [1, 1024], got "
          << int64_t(blockSize);
      return signalPassFailure();
    }
    SmallVector<scf::ParallelOp> loops;
    for (auto func : getOperation().getOps<func::FuncOp>())
      func.walk([&](scf::ParallelOp loop) {
        if (!loop->getParentOfType<scf::ParallelOp>() &&
            !loop->getParentOfType<gpu::LaunchOp>())
          loops.push_back(loop);
      });
    for (scf::ParallelOp loop : loops)
      if (failed(launchParallel(loop, blockSize)))
        return signalPassFailure();

    // What is left on the host must not touch the tensors.
    bool hostAccess = false;
    for (auto func : getOperation().getOps<func::FuncOp>())
      func.walk([&](Operation *op) {
        if (op->getParentOfType<gpu::LaunchOp>())
          return;
        Value memory;
        if (auto load = dyn_cast<memref::LoadOp>(op))
          memory = load.getMemref();
        else if (auto store = dyn_cast<memref::StoreOp>(op))
          memory = store.getMemref();
        if (memory && isDeviceMemory(memory)) {
          op->emitError("the cuda target keeps tensors in device memory, but "
                        "this host operation accesses one; compile this "
                        "model with --target cpu");
          hostAccess = true;
        }
      });
    if (hostAccess)
      signalPassFailure();
  }
};

} // namespace
