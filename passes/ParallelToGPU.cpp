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
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
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

/// The trip count of each dimension of `loop` (into `trips`) and their
/// product: the size of the flattened iteration space.
Value flatIterationSpace(OpBuilder &b, Location loc, scf::ParallelOp loop,
                         SmallVectorImpl<Value> &trips) {
  Value total = arith::ConstantIndexOp::create(b, loc, 1);
  for (auto [lb, ub, step] :
       llvm::zip(loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
    trips.push_back(tripCount(b, loc, lb, ub, step));
    total = arith::MulIOp::create(b, loc, total, trips.back());
  }
  return total;
}

/// Maps `loop`'s induction variables to the point with flat index `linear`
/// (innermost dimension fastest).
void mapInductionVars(OpBuilder &b, Location loc, scf::ParallelOp loop,
                      ArrayRef<Value> trips, Value linear, IRMapping &mapping) {
  Value rest = linear;
  for (int64_t d = int64_t(trips.size()) - 1; d >= 0; --d) {
    Value index =
        d == 0 ? rest : arith::RemSIOp::create(b, loc, rest, trips[d]);
    if (d > 0)
      rest = arith::DivSIOp::create(b, loc, rest, trips[d]);
    Value iv = arith::AddIOp::create(
        b, loc, loop.getLowerBound()[d],
        arith::MulIOp::create(b, loc, index, loop.getStep()[d]));
    mapping.map(loop.getInductionVars()[d], iv);
  }
}

/// Replaces `loop` by a launch of one thread per iteration point.
LogicalResult launchParallel(scf::ParallelOp loop, int64_t blockSize) {
  if (loop.getNumReductions() != 0)
    return loop.emitError("qforge-parallel-to-gpu: scf.parallel with "
                          "reductions is not supported");
  OpBuilder b(loop);
  Location loc = loop.getLoc();
  SmallVector<Value> trips;
  Value total = flatIterationSpace(b, loc, loop, trips);
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
  mapInductionVars(inner, loc, loop, trips, linear, mapping);
  for (Operation &op : loop.getBody()->without_terminator())
    inner.clone(op, mapping);
  loop.erase();
  return success();
}

/// A row reduction as convert-linalg-to-parallel-loops writes it: the
/// parallel loop's only op is an scf.for whose body loads the accumulator
/// out[ivs], combines it with a per-element value and stores it back.
struct RowReduction {
  scf::ForOp loop;
  memref::LoadOp accLoad;
  Operation *combiner;
  memref::StoreOp store;
  Value element; // the combiner's other operand
};

/// The combiner's identity, or null for a combiner we do not reduce
/// in parallel (it must be associative and commutative).
Value identityOf(OpBuilder &b, Location loc, Operation *combiner) {
  auto type = dyn_cast<FloatType>(combiner->getResult(0).getType());
  if (!type)
    return Value();
  const llvm::fltSemantics &sem = type.getFloatSemantics();
  llvm::APFloat value(sem);
  if (isa<arith::AddFOp>(combiner))
    value = llvm::APFloat::getZero(sem);
  else if (isa<arith::MulFOp>(combiner))
    value = llvm::APFloat::getOne(sem);
  else if (isa<arith::MaximumFOp, arith::MaxNumFOp>(combiner))
    value = llvm::APFloat::getInf(sem, /*Negative=*/true);
  else if (isa<arith::MinimumFOp, arith::MinNumFOp>(combiner))
    value = llvm::APFloat::getInf(sem, /*Negative=*/false);
  else
    return Value();
  return arith::ConstantOp::create(b, loc, type, b.getFloatAttr(type, value));
}

std::optional<RowReduction> matchRowReduction(scf::ParallelOp loop) {
  scf::ForOp inner;
  for (Operation &op : loop.getBody()->without_terminator()) {
    if (auto f = dyn_cast<scf::ForOp>(op); f && !inner)
      inner = f;
    else if (!isa<arith::ConstantOp>(op))
      return std::nullopt;
  }
  if (!inner || inner.getNumRegionIterArgs() != 0)
    return std::nullopt;
  for (Value bound :
       {inner.getLowerBound(), inner.getUpperBound(), inner.getStep()})
    if (loop->isAncestor(bound.getParentBlock()->getParentOp()) &&
        !bound.getDefiningOp<arith::ConstantOp>())
      return std::nullopt;
  RowReduction r;
  r.loop = inner;
  for (Operation &op : inner.getBody()->without_terminator()) {
    if (auto store = dyn_cast<memref::StoreOp>(op)) {
      if (r.store)
        return std::nullopt; // one store only
      r.store = store;
    } else if (!isMemoryEffectFree(&op) && !isa<memref::LoadOp>(op)) {
      return std::nullopt;
    }
  }
  if (!r.store)
    return std::nullopt;
  // The accumulator is indexed by the parallel IVs alone, not the loop's.
  for (Value index : r.store.getIndices())
    if (!llvm::is_contained(loop.getInductionVars(), index))
      return std::nullopt;
  r.combiner = r.store.getValueToStore().getDefiningOp();
  if (!r.combiner || r.combiner->getNumOperands() != 2 ||
      !r.combiner->hasOneUse() || r.combiner->getBlock() != inner.getBody())
    return std::nullopt;
  for (int i = 0; i < 2; ++i) {
    auto load = r.combiner->getOperand(i).getDefiningOp<memref::LoadOp>();
    if (load && load.getMemref() == r.store.getMemref() &&
        load.getIndices() == r.store.getIndices() && load->hasOneUse()) {
      r.accLoad = load;
      r.element = r.combiner->getOperand(1 - i);
    }
  }
  if (!r.accLoad)
    return std::nullopt;
  OpBuilder probe(loop);
  Value identity = identityOf(probe, loop.getLoc(), r.combiner);
  if (!identity)
    return std::nullopt;
  identity.getDefiningOp()->erase();
  return r;
}

/// Whether two parallel loops have the same bounds and steps.
bool sameIterationSpace(scf::ParallelOp a, scf::ParallelOp b) {
  auto same = [](OperandRange x, OperandRange y) {
    return x.size() == y.size() && llvm::all_of(llvm::zip(x, y), [](auto pair) {
             auto [u, v] = pair;
             std::optional<int64_t> cu = getConstantIntValue(u),
                                    cv = getConstantIntValue(v);
             return u == v || (cu && cv && *cu == *cv);
           });
  };
  return same(a.getLowerBound(), b.getLowerBound()) &&
         same(a.getUpperBound(), b.getUpperBound()) &&
         same(a.getStep(), b.getStep());
}

/// The fill of a row reduction's accumulator, when it is the last op before
/// the reduction that touches memory (allocations and pure ops may sit
/// between): a parallel loop over the same space storing one value,
/// defined outside it, at out[ivs]. The reduction kernel then starts from
/// that value and the fill needs no kernel of its own.
std::optional<std::pair<scf::ParallelOp, Value>>
precedingFill(scf::ParallelOp reduction, RowReduction r) {
  Operation *op = reduction->getPrevNode();
  while (op && (isMemoryEffectFree(op) ||
                isa<memref::AllocOp, gpu::AllocOp, ViewLikeOpInterface>(op)))
    op = op->getPrevNode();
  auto fill = dyn_cast_or_null<scf::ParallelOp>(op);
  if (!fill || fill.getNumReductions() != 0 ||
      !sameIterationSpace(fill, reduction))
    return std::nullopt;
  auto body = fill.getBody()->without_terminator();
  if (std::distance(body.begin(), body.end()) != 1)
    return std::nullopt;
  auto store = dyn_cast<memref::StoreOp>(*body.begin());
  if (!store || store.getMemref() != r.store.getMemref() ||
      store.getIndices() != ValueRange(fill.getInductionVars()) ||
      r.store.getIndices() != ValueRange(reduction.getInductionVars()) ||
      fill->isAncestor(store.getValueToStore().getParentBlock()->getParentOp()))
    return std::nullopt;
  return std::make_pair(fill, store.getValueToStore());
}

/// One warp per reduced row: lanes stride over the row, then combine with
/// a butterfly of shuffles; lane 0 folds the result into the accumulator
/// (which the preceding fill initialized), or into `init` when that fill
/// was folded into this kernel (precedingFill). The per-thread form reads 32
/// different rows per warp access; this one reads one row coalesced.
void launchRowReduction(scf::ParallelOp loop, RowReduction r, Value init,
                        int64_t blockSize) {
  constexpr int64_t kWarp = 32;
  OpBuilder b(loop);
  Location loc = loop.getLoc();
  SmallVector<Value> trips;
  Value total = flatIterationSpace(b, loc, loop, trips);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value threads = arith::ConstantIndexOp::create(b, loc, blockSize);
  Value warpsPerBlock =
      arith::ConstantIndexOp::create(b, loc, blockSize / kWarp);
  Value blocks = arith::MaxSIOp::create(
      b, loc, arith::CeilDivSIOp::create(b, loc, total, warpsPerBlock), one);
  auto launch =
      gpu::LaunchOp::create(b, loc, blocks, one, one, threads, one, one);

  OpBuilder body = OpBuilder::atBlockBegin(&launch.getBody().front());
  Value warpSize = arith::ConstantIndexOp::create(body, loc, kWarp);
  Value tid = launch.getThreadIds().x;
  Value lane = arith::RemUIOp::create(body, loc, tid, warpSize);
  Value warp = arith::AddIOp::create(
      body, loc,
      arith::MulIOp::create(body, loc, launch.getBlockIds().x, warpsPerBlock),
      arith::DivUIOp::create(body, loc, tid, warpSize));
  Value inRange =
      arith::CmpIOp::create(body, loc, arith::CmpIPredicate::slt, warp, total);
  auto guard = scf::IfOp::create(body, loc, inRange, /*withElse=*/false);
  gpu::TerminatorOp::create(body, loc);

  OpBuilder inner = guard.getThenBodyBuilder();
  IRMapping mapping;
  mapInductionVars(inner, loc, loop, trips, warp, mapping);
  for (Operation &op : loop.getBody()->without_terminator())
    if (isa<arith::ConstantOp>(op))
      inner.clone(op, mapping);
  auto combine = [&](OpBuilder &at, Value x, Value y) {
    OperationState state(loc, r.combiner->getName());
    state.addOperands({x, y});
    state.addTypes(r.combiner->getResultTypes());
    state.addAttributes(r.combiner->getAttrs());
    return at.create(state)->getResult(0);
  };
  // Per-lane partial over j = lb + lane * step, stride 32 * step.
  Value lb = mapping.lookupOrDefault(r.loop.getLowerBound());
  Value ub = mapping.lookupOrDefault(r.loop.getUpperBound());
  Value step = mapping.lookupOrDefault(r.loop.getStep());
  Value start = arith::AddIOp::create(
      inner, loc, lb, arith::MulIOp::create(inner, loc, lane, step));
  Value stride = arith::MulIOp::create(inner, loc, step, warpSize);
  Value identity = identityOf(inner, loc, r.combiner);
  auto partialLoop =
      scf::ForOp::create(inner, loc, start, ub, stride, ValueRange{identity});
  {
    OpBuilder lb2 = OpBuilder::atBlockBegin(partialLoop.getBody());
    IRMapping bodyMap = mapping;
    bodyMap.map(r.loop.getInductionVar(), partialLoop.getInductionVar());
    for (Operation &op : r.loop.getBody()->without_terminator()) {
      if (&op == r.accLoad.getOperation() || &op == r.combiner ||
          &op == r.store.getOperation())
        continue;
      lb2.clone(op, bodyMap);
    }
    Value element = bodyMap.lookupOrDefault(r.element);
    Value next = combine(lb2, partialLoop.getRegionIterArgs()[0], element);
    scf::YieldOp::create(lb2, loc, next);
  }
  Value partial = partialLoop.getResult(0);
  // Shuffles move 32-bit values: f16/bf16 partials travel as f32 (exact).
  Type partialType = partial.getType();
  bool widen = partialType.getIntOrFloatBitWidth() < 32;
  for (int32_t offset = kWarp / 2; offset >= 1; offset /= 2) {
    Value moved =
        widen ? arith::ExtFOp::create(inner, loc, inner.getF32Type(), partial)
                    .getResult()
              : partial;
    auto shuffle = gpu::ShuffleOp::create(
        inner, loc, moved, offset, int32_t(kWarp), gpu::ShuffleMode::XOR);
    Value other = shuffle.getShuffleResult();
    if (widen)
      other = arith::TruncFOp::create(inner, loc, partialType, other);
    partial = combine(inner, partial, other);
  }
  Value zero = arith::ConstantIndexOp::create(inner, loc, 0);
  Value isLeader =
      arith::CmpIOp::create(inner, loc, arith::CmpIPredicate::eq, lane, zero);
  auto write = scf::IfOp::create(inner, loc, isLeader, /*withElse=*/false);
  OpBuilder w = write.getThenBodyBuilder();
  SmallVector<Value> indices;
  for (Value index : r.store.getIndices())
    indices.push_back(mapping.lookup(index));
  Value acc = init
                  ? init
                  : memref::LoadOp::create(w, loc, r.store.getMemref(), indices)
                        .getResult();
  memref::StoreOp::create(w, loc, combine(w, acc, partial), r.store.getMemref(),
                          indices);
  loop.erase();
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
    // Row reductions first: the fills they fold in then get no kernel.
    DenseSet<Operation *> launched;
    if (rowReductions && blockSize % 32 == 0)
      for (scf::ParallelOp loop : loops) {
        std::optional<RowReduction> r = matchRowReduction(loop);
        if (!r)
          continue;
        Value init;
        if (auto fill = precedingFill(loop, *r)) {
          init = fill->second;
          launched.insert(fill->first);
          fill->first.erase();
        }
        launched.insert(loop);
        launchRowReduction(loop, *r, init, blockSize);
      }
    for (scf::ParallelOp loop : loops)
      if (!launched.contains(loop) && failed(launchParallel(loop, blockSize)))
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
