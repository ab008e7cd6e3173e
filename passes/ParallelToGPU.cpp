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
#include "passes/VectorAccess.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace qforge {
#define GEN_PASS_DEF_PARALLELTOGPU
#include "passes/Passes.h.inc"
} // namespace qforge

using namespace mlir;
using qforge::kArgumentAlignment;
using qforge::kVectorBytes;
using qforge::SharedLoads;
using qforge::VectorAccesses;
using qforge::VectorLoadCache;

namespace {

/// ceil((ub - lb) / step) for index values.
/// Folded where the bounds are constants: the kernel then divides by a
/// constant (after gpu-launch-sink-index-computations), not by an argument.
Value tripCount(OpBuilder &b, Location loc, Value lb, Value ub, Value step) {
  Value span = b.createOrFold<arith::SubIOp>(loc, ub, lb);
  return b.createOrFold<arith::CeilDivSIOp>(loc, span, step);
}

/// The trip count of each dimension of `loop` (into `trips`) and their
/// product: the size of the flattened iteration space.
Value flatIterationSpace(OpBuilder &b, Location loc, scf::ParallelOp loop,
                         SmallVectorImpl<Value> &trips) {
  Value total = arith::ConstantIndexOp::create(b, loc, 1);
  for (auto [lb, ub, step] :
       llvm::zip(loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
    trips.push_back(tripCount(b, loc, lb, ub, step));
    total = b.createOrFold<arith::MulIOp>(loc, total, trips.back());
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

/// Whether the loop dimension (lb, step, trip count) runs over whole
/// vectors of `width` elements from an aligned start: step 1, lb and the
/// trip count multiples of `width`, all constants.
bool walksWholeVectors(Value lb, Value step, Value trips, int64_t width) {
  std::optional<int64_t> start = getConstantIntValue(lb),
                         stride = getConstantIntValue(step),
                         count = getConstantIntValue(trips);
  return width > 1 && start && stride && count && *stride == 1 &&
         *start % width == 0 && *count % width == 0;
}

/// Replaces `loop` by a launch of one thread per iteration point, or per
/// `width` consecutive points of the innermost dimension when its accesses
/// can be vectors (VectorAccesses): a thread then reads and writes 16
/// bytes at a time. Function arguments read as vectors go to `assumed`.
LogicalResult launchParallel(scf::ParallelOp loop, int64_t blockSize,
                             llvm::SetVector<BlockArgument> &assumed) {
  if (loop.getNumReductions() != 0)
    return loop.emitError("qforge-parallel-to-gpu: scf.parallel with "
                          "reductions is not supported");
  OpBuilder b(loop);
  Location loc = loop.getLoc();
  SmallVector<Value> trips;
  Value total = flatIterationSpace(b, loc, loop, trips);
  unsigned innermost = loop.getNumLoops() - 1;
  Value innerIV = loop.getInductionVars()[innermost];
  VectorAccesses vectors(*loop.getBody(), innerIV);
  int64_t width = vectors.width();
  if (!walksWholeVectors(loop.getLowerBound()[innermost],
                         loop.getStep()[innermost], trips[innermost], width))
    width = 1;
  Value threadCount =
      width == 1
          ? total
          : b.createOrFold<arith::DivUIOp>(
                loc, total, arith::ConstantIndexOp::create(b, loc, width));
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value threads = arith::ConstantIndexOp::create(b, loc, blockSize);
  // At least one block: a launch of 0 blocks is an error, an empty loop is
  // not (every thread then fails the bound check).
  Value blocks = arith::MaxSIOp::create(
      b, loc, b.createOrFold<arith::CeilDivSIOp>(loc, threadCount, threads),
      one);
  auto launch =
      gpu::LaunchOp::create(b, loc, blocks, one, one, threads, one, one);

  OpBuilder body = OpBuilder::atBlockBegin(&launch.getBody().front());
  Value linear = arith::AddIOp::create(
      body, loc,
      arith::MulIOp::create(body, loc, launch.getBlockIds().x, threads),
      launch.getThreadIds().x);
  Value inRange = arith::CmpIOp::create(body, loc, arith::CmpIPredicate::slt,
                                        linear, threadCount);
  auto guard = scf::IfOp::create(body, loc, inRange, /*withElse=*/false);
  gpu::TerminatorOp::create(body, loc);

  OpBuilder inner = guard.getThenBodyBuilder();
  IRMapping mapping;
  if (width == 1) {
    mapInductionVars(inner, loc, loop, trips, linear, mapping);
    for (Operation &op : loop.getBody()->without_terminator())
      inner.clone(op, mapping);
  } else {
    Value point = arith::MulIOp::create(
        inner, loc, linear, arith::ConstantIndexOp::create(inner, loc, width));
    mapInductionVars(inner, loc, loop, trips, point, mapping);
    vectors.emit(inner, loc, {mapping.lookup(innerIV)}, mapping,
                 [](OpBuilder &at, Operation &op, IRMapping &map) {
                   at.clone(op, map);
                 });
    assumed.insert_range(vectors.assumedArguments());
  }
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
/// Whether two index values are the same value or equal constants.
bool sameIndex(Value a, Value b) {
  std::optional<int64_t> ca = getConstantIntValue(a),
                         cb = getConstantIntValue(b);
  return a == b || (ca && cb && *ca == *cb);
}

bool sameIterationSpace(scf::ParallelOp a, scf::ParallelOp b) {
  auto same = [](OperandRange x, OperandRange y) {
    return x.size() == y.size() && llvm::all_of(llvm::zip(x, y), [](auto pair) {
             return sameIndex(std::get<0>(pair), std::get<1>(pair));
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

/// Whether only pure ops and allocations lie strictly between `from` and
/// `to` (same block, `from` first).
bool onlyPureOpsBetween(Operation *from, Operation *to) {
  if (from->getBlock() != to->getBlock() || !from->isBeforeInBlock(to))
    return false;
  for (Operation *op = from->getNextNode(); op != to; op = op->getNextNode())
    if (!isMemoryEffectFree(op) &&
        !isa<memref::AllocOp, gpu::AllocOp, ViewLikeOpInterface>(op))
      return false;
  return true;
}

/// Whether loops[index] is the fill that precedingFill finds for the row
/// reduction loops[index + 1].
bool isFillOfNextReduction(ArrayRef<scf::ParallelOp> loops, size_t index) {
  if (index + 1 >= loops.size())
    return false;
  std::optional<RowReduction> r = matchRowReduction(loops[index + 1]);
  if (!r)
    return false;
  auto fill = precedingFill(loops[index + 1], *r);
  return fill && fill->first == loops[index];
}

/// One step of a row kernel: a row reduction (with the value of the fill it
/// folds in, or null) or, last, an elementwise loop over the rows' elements
/// (its leading dimensions the rows, its last one the reduced dimension).
struct RowPhase {
  scf::ParallelOp loop;
  std::optional<RowReduction> reduction;
  Value init;
};

constexpr int64_t kWarp = 32;

/// The vector part of a lane loop over [lb, ub) (step 1): lane l takes the
/// vectors of `width` elements at lb + (l + 32 j) * width, `unroll` of them
/// per iteration (their loads issued together), up to `end`; the rest of
/// the range stays scalar.
struct LaneVectors {
  int64_t width, unroll, rounds, end;
  /// Whether one pass covers the row: then no loop is made, and the
  /// vectors a phase loads stay in registers for the later phases.
  bool straight() const { return unroll == rounds; }
};

/// Most vectors per lane loaded without a loop (16 x 16 bytes: a row of
/// 4096 f16 or 2048 f32 in 64 registers per lane).
constexpr int64_t kStraightRounds = 16;

std::optional<LaneVectors> laneVectors(Value lb, Value ub, Value step,
                                       int64_t width) {
  std::optional<int64_t> start = getConstantIntValue(lb),
                         stop = getConstantIntValue(ub),
                         stride = getConstantIntValue(step);
  if (width < 2 || !start || !stop || !stride || *stride != 1 ||
      *start % width != 0)
    return std::nullopt;
  int64_t perLaneRound = kWarp * width;
  int64_t rounds = (*stop - *start) / perLaneRound;
  if (rounds < 1)
    return std::nullopt;
  int64_t unroll = 1;
  if (rounds <= kStraightRounds)
    unroll = rounds;
  else
    for (int64_t u : {4, 3, 2})
      if (rounds % u == 0) {
        unroll = u;
        break;
      }
  return LaneVectors{width, unroll, rounds, *start + rounds * perLaneRound};
}

/// `combiner` (a reduction's add, mul, max or min) applied to x and y.
Value combineWith(OpBuilder &b, Location loc, Operation *combiner, Value x,
                  Value y) {
  OperationState state(loc, combiner->getName());
  state.addOperands({x, y});
  state.addTypes(combiner->getResultTypes());
  state.addAttributes(combiner->getAttrs());
  return b.create(state)->getResult(0);
}

/// One warp per row for a run of phases over the same rows (a softmax's
/// max, sum of exponentials and normalization; a layernorm's sums and
/// normalization), in one kernel instead of one each. In a reduction phase
/// the lanes stride over the row and a butterfly of xor shuffles leaves the
/// total in every lane; lane 0 stores it (folded into the accumulator, or
/// into `init` when the fill was folded: precedingFill). Later phases read
/// that total from registers instead of memory. An elementwise phase has
/// the lanes stride over the row's elements. The per-thread form would
/// read 32 different rows per warp access; this reads one row coalesced,
/// and a row read again by a later phase mostly comes from cache.
class RowKernel {
public:
  /// Creates the launch (one warp per row of the first phase's rows) and,
  /// inside its bound check, the row's indices and the lane.
  RowKernel(ArrayRef<RowPhase> phases, int64_t blockSize,
            llvm::SetVector<BlockArgument> &assumed)
      : RowKernel(phases, phases.front().loop, blockSize, assumed) {}

private:
  RowKernel(ArrayRef<RowPhase> phases, scf::ParallelOp rows, int64_t blockSize,
            llvm::SetVector<BlockArgument> &assumed)
      : loc(rows.getLoc()), rank(rows.getNumLoops()), inner(rows.getContext()),
        assumed(assumed) {
    for (RowPhase phase : phases)
      phase.loop.walk(
          [&](memref::StoreOp store) { written.insert(store.getMemref()); });
    // Everything a phase uses exists before the last one.
    OpBuilder b(phases.back().loop);
    SmallVector<Value> trips;
    Value total = flatIterationSpace(b, loc, rows, trips);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    Value threads = arith::ConstantIndexOp::create(b, loc, blockSize);
    Value warpsPerBlock =
        arith::ConstantIndexOp::create(b, loc, blockSize / kWarp);
    Value blocks = arith::MaxSIOp::create(
        b, loc, arith::CeilDivSIOp::create(b, loc, total, warpsPerBlock), one);
    auto launch =
        gpu::LaunchOp::create(b, loc, blocks, one, one, threads, one, one);

    OpBuilder body = OpBuilder::atBlockBegin(&launch.getBody().front());
    warpSize = arith::ConstantIndexOp::create(body, loc, kWarp);
    Value tid = launch.getThreadIds().x;
    lane = arith::RemUIOp::create(body, loc, tid, warpSize);
    Value warp = arith::AddIOp::create(
        body, loc,
        arith::MulIOp::create(body, loc, launch.getBlockIds().x, warpsPerBlock),
        arith::DivUIOp::create(body, loc, tid, warpSize));
    Value inRange = arith::CmpIOp::create(body, loc, arith::CmpIPredicate::slt,
                                          warp, total);
    auto guard = scf::IfOp::create(body, loc, inRange, /*withElse=*/false);
    gpu::TerminatorOp::create(body, loc);

    inner.setInsertionPoint(guard.thenBlock()->getTerminator());
    IRMapping rowMap; // the first phase's row IVs
    mapInductionVars(inner, loc, rows, trips, warp, rowMap);
    for (Value iv : rows.getInductionVars())
      rowIVs.push_back(rowMap.lookup(iv));
    Value zero = arith::ConstantIndexOp::create(inner, loc, 0);
    isLeader =
        arith::CmpIOp::create(inner, loc, arith::CmpIPredicate::eq, lane, zero);
  }

public:
  void emit(RowPhase phase) {
    scf::ParallelOp loop = phase.loop;
    IRMapping map;
    for (unsigned d = 0; d < rank; ++d)
      map.map(loop.getInductionVars()[d], rowIVs[d]);
    if (phase.reduction)
      emitReduction(phase, map);
    else if (loop.getNumLoops() == rank)
      emitRowsOnly(loop, map);
    else
      emitElementwise(loop, map);
  }

private:
  using LaneBody = llvm::function_ref<Value(OpBuilder &, ArrayRef<Value>,
                                            const SharedLoads *, Value)>;

  /// Over the rows alone: lane 0 computes it, from the row totals.
  void emitRowsOnly(scf::ParallelOp loop, IRMapping &map) {
    auto leaderOnly =
        scf::IfOp::create(inner, loc, isLeader, /*withElse=*/false);
    OpBuilder at = leaderOnly.getThenBodyBuilder();
    for (Operation &op : loop.getBody()->without_terminator())
      cloneOrReuse(at, op, map, loop);
  }

  /// Elementwise over the row: the last dimension strided over the lanes,
  /// in vectors where the accesses allow (VectorAccesses).
  void emitElementwise(scf::ParallelOp loop, IRMapping &map) {
    Value iv = loop.getInductionVars()[rank];
    Value lb = map.lookupOrDefault(loop.getLowerBound()[rank]);
    Value ub = map.lookupOrDefault(loop.getUpperBound()[rank]);
    Value step = map.lookupOrDefault(loop.getStep()[rank]);
    VectorAccesses vectors(*loop.getBody(), iv);
    if (auto lanes = laneVectors(lb, ub, step, vectors.width())) {
      overLaneVectors(lb, *lanes, Value(),
                      [&](OpBuilder &at, ArrayRef<Value> bases,
                          const SharedLoads *shared, Value) {
                        vectors.emit(
                            at, loc, bases, map,
                            [&](OpBuilder &to, Operation &op, IRMapping &m) {
                              cloneOrReuse(to, op, m, loop);
                            },
                            shared);
                        return Value();
                      });
      assumed.insert_range(vectors.assumedArguments());
      if (lanes->end == *getConstantIntValue(ub))
        return;
      lb = arith::ConstantIndexOp::create(inner, loc, lanes->end);
    }
    auto elementLoop = laneLoop(lb, ub, step, {});
    OpBuilder at = OpBuilder::atBlockBegin(elementLoop.getBody());
    map.map(iv, elementLoop.getInductionVar());
    for (Operation &op : loop.getBody()->without_terminator())
      cloneOrReuse(at, op, map, loop);
  }

  /// A row reduction: each lane's partial, the warp's total by shuffles,
  /// folded into the accumulator (or the fill's value) and stored by lane
  /// 0; later phases take the total from registers.
  void emitReduction(RowPhase phase, IRMapping &map) {
    RowReduction r = *phase.reduction;
    for (Operation &op : phase.loop.getBody()->without_terminator())
      if (isa<arith::ConstantOp>(op))
        inner.clone(op, map);
    Value partial = warpTotal(lanePartial(r, phase.loop, map), r.combiner);
    SmallVector<Value> indices;
    for (Value index : r.store.getIndices())
      indices.push_back(map.lookup(index));
    Value acc =
        phase.init
            ? phase.init
            : memref::LoadOp::create(inner, loc, r.store.getMemref(), indices)
                  .getResult();
    Value rowTotal = combineWith(inner, loc, r.combiner, acc, partial);
    auto write = scf::IfOp::create(inner, loc, isLeader, /*withElse=*/false);
    OpBuilder w = write.getThenBodyBuilder();
    memref::StoreOp::create(w, loc, rowTotal, r.store.getMemref(), indices);
    totals[r.store.getMemref()] = rowTotal;
  }

  /// This lane's elements of the row combined in order: vectors first,
  /// then the scalar rest of the row.
  Value lanePartial(RowReduction r, scf::ParallelOp loop, IRMapping &map) {
    // The body's ops but the accumulator's load, combine and store.
    auto cloneElementOp = [&](OpBuilder &at, Operation &op, IRMapping &m) {
      if (&op == r.accLoad.getOperation() || &op == r.combiner ||
          &op == r.store.getOperation())
        return;
      cloneOrReuse(at, op, m, loop);
    };
    Value lb = map.lookupOrDefault(r.loop.getLowerBound());
    Value ub = map.lookupOrDefault(r.loop.getUpperBound());
    Value step = map.lookupOrDefault(r.loop.getStep());
    Value partial = identityOf(inner, loc, r.combiner);
    VectorAccesses vectors(*r.loop.getBody(), r.loop.getInductionVar());
    auto lanes = laneVectors(lb, ub, step, vectors.width());
    if (lanes) {
      partial = overLaneVectors(
          lb, *lanes, partial,
          [&](OpBuilder &at, ArrayRef<Value> bases, const SharedLoads *shared,
              Value acc) {
            for (IRMapping &clone :
                 vectors.emit(at, loc, bases, map, cloneElementOp, shared))
              acc = combineWith(at, loc, r.combiner, acc,
                                clone.lookupOrDefault(r.element));
            return acc;
          });
      assumed.insert_range(vectors.assumedArguments());
      lb = arith::ConstantIndexOp::create(inner, loc, lanes->end);
    }
    if (lanes && lanes->end == *getConstantIntValue(ub))
      return partial;
    auto partialLoop = laneLoop(lb, ub, step, ValueRange{partial});
    OpBuilder at = OpBuilder::atBlockBegin(partialLoop.getBody());
    IRMapping bodyMap = map;
    bodyMap.map(r.loop.getInductionVar(), partialLoop.getInductionVar());
    for (Operation &op : r.loop.getBody()->without_terminator())
      cloneElementOp(at, op, bodyMap);
    Value element = bodyMap.lookupOrDefault(r.element);
    Value next = combineWith(at, loc, r.combiner,
                             partialLoop.getRegionIterArgs()[0], element);
    scf::YieldOp::create(at, loc, next);
    return partialLoop.getResult(0);
  }

  /// The xor butterfly: every lane ends with the warp's total. Shuffles
  /// move 32-bit values: f16/bf16 partials travel as f32 (exact).
  Value warpTotal(Value partial, Operation *combiner) {
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
      partial = combineWith(inner, loc, combiner, partial, other);
    }
    return partial;
  }

  /// Clones `op` into `at`, or maps a load of an earlier phase's total at
  /// the row (indices: the phase loop's row IVs) to that total.
  void cloneOrReuse(OpBuilder &at, Operation &op, IRMapping &map,
                    scf::ParallelOp loop) {
    if (auto load = dyn_cast<memref::LoadOp>(op))
      if (Value known = totals.lookup(load.getMemref()))
        if (load.getIndices() ==
            ValueRange(loop.getInductionVars()).take_front(rank)) {
          map.map(load.getResult(), known);
          return;
        }
    at.clone(op, map);
  }

  /// A loop strided over the lanes: lb + lane * step, stride 32 * step.
  scf::ForOp laneLoop(Value lb, Value ub, Value step, ValueRange iterArgs) {
    Value start = arith::AddIOp::create(
        inner, loc, lb, arith::MulIOp::create(inner, loc, lane, step));
    Value stride = arith::MulIOp::create(inner, loc, step, warpSize);
    return scf::ForOp::create(inner, loc, start, ub, stride, iterArgs);
  }

  /// Runs `bodyOf` over the lanes' vectors (a partial `acc` threaded
  /// through when `init` is set; bodyOf returns the next one): in a loop of
  /// `unroll` vectors per iteration, or straight in the kernel when one
  /// pass covers the row, where loads of memory the kernel does not write
  /// are shared with the other phases (`loads`): a layernorm reads its row
  /// from memory once.
  Value overLaneVectors(Value lb, LaneVectors lanes, Value init,
                        LaneBody bodyOf) {
    int64_t round = kWarp * lanes.width;
    Value start = arith::AddIOp::create(
        inner, loc, lb,
        arith::MulIOp::create(
            inner, loc, lane,
            arith::ConstantIndexOp::create(inner, loc, lanes.width)));
    auto basesFrom = [&](OpBuilder &at, Value first) {
      SmallVector<Value> bases{first};
      for (int64_t u = 1; u < lanes.unroll; ++u)
        bases.push_back(arith::AddIOp::create(
            at, loc, first,
            arith::ConstantIndexOp::create(at, loc, u * round)));
      return bases;
    };
    if (lanes.straight()) {
      int64_t first = *getConstantIntValue(lb);
      SmallVector<int64_t> offsets;
      for (int64_t u = 0; u < lanes.unroll; ++u)
        offsets.push_back(first + u * round);
      // (A named lambda: SharedLoads holds only a reference to it.)
      auto unwritten = [&](Value memref) { return !written.contains(memref); };
      SharedLoads shared{loads, offsets, unwritten};
      return bodyOf(inner, basesFrom(inner, start), &shared, init);
    }
    SmallVector<Value> iterArgs;
    if (init)
      iterArgs.push_back(init);
    auto loop = scf::ForOp::create(
        inner, loc, start,
        arith::ConstantIndexOp::create(inner, loc, lanes.end),
        arith::ConstantIndexOp::create(inner, loc, round * lanes.unroll),
        iterArgs);
    OpBuilder at = OpBuilder::atBlockBegin(loop.getBody());
    Value next = bodyOf(at, basesFrom(at, loop.getInductionVar()), nullptr,
                        init ? loop.getRegionIterArgs()[0] : Value());
    if (!init)
      return Value();
    scf::YieldOp::create(at, loc, next);
    return loop.getResult(0);
  }

  Location loc;
  unsigned rank;
  OpBuilder inner; // inside the row's bound check
  Value warpSize, lane, isLeader;
  SmallVector<Value> rowIVs;
  DenseMap<Value, Value> totals; // row totals of earlier phases, by buffer
  DenseSet<Value> written;       // memory the kernel's phases store to
  VectorLoadCache loads;         // vectors loaded outside lane loops
  llvm::SetVector<BlockArgument> &assumed;
};

void launchRowGroup(ArrayRef<RowPhase> phases, int64_t blockSize,
                    llvm::SetVector<BlockArgument> &assumed) {
  RowKernel kernel(phases, blockSize, assumed);
  for (RowPhase phase : phases)
    kernel.emit(phase);
  for (RowPhase phase : llvm::reverse(phases))
    phase.loop.erase();
}

/// Whether `phase` is elementwise over the group's rows alone (no reduced
/// dimension): a per-row epilogue such as a quantization's scale. (A row
/// reduction's loop has as many dimensions, but it is not one.)
bool isRowsOnly(ArrayRef<RowPhase> group, const RowPhase &phase) {
  scf::ParallelOp first = group.front().loop;
  scf::ParallelOp loop = phase.loop;
  return !phase.reduction && loop.getNumLoops() == first.getNumLoops();
}

/// Whether `loop` can follow `group` in one row kernel: a row reduction
/// over the same rows and the same reduced range, an elementwise loop
/// whose dimensions are the rows and then that range, or, last, loops over
/// the rows alone (lane 0 runs them). `next` is the phase. Memory written
/// by the group must be accessed at the row only (checked by rowLocal).
bool extendsRowGroup(ArrayRef<RowPhase> group, scf::ParallelOp loop,
                     RowPhase &next) {
  RowPhase first = group.front();
  scf::ForOp firstInner = first.reduction->loop;
  unsigned rank = first.loop.getNumLoops();
  bool rowsOnly = isRowsOnly(group, next);
  // After an elementwise or rows-only phase only rows-only phases follow.
  RowPhase last = group.back();
  if (!last.reduction && !rowsOnly)
    return false;
  if (next.reduction) {
    scf::ForOp inner = next.reduction->loop;
    return sameIterationSpace(loop, first.loop) &&
           sameIndex(inner.getLowerBound(), firstInner.getLowerBound()) &&
           sameIndex(inner.getUpperBound(), firstInner.getUpperBound()) &&
           sameIndex(inner.getStep(), firstInner.getStep());
  }
  if ((!rowsOnly && loop.getNumLoops() != rank + 1) ||
      loop.getNumReductions() != 0)
    return false;
  for (unsigned d = 0; d < rank; ++d)
    if (!sameIndex(loop.getLowerBound()[d], first.loop.getLowerBound()[d]) ||
        !sameIndex(loop.getUpperBound()[d], first.loop.getUpperBound()[d]) ||
        !sameIndex(loop.getStep()[d], first.loop.getStep()[d]))
      return false;
  if (rowsOnly)
    return true;
  return sameIndex(loop.getLowerBound()[rank], firstInner.getLowerBound()) &&
         sameIndex(loop.getUpperBound()[rank], firstInner.getUpperBound()) &&
         sameIndex(loop.getStep()[rank], firstInner.getStep());
}

/// Whether every access of the group to memory it writes is at its own row
/// (leading indices: the phase loop's row IVs): then rows are independent
/// and one warp may run all phases of a row in order. Nested regions other
/// than a reduction's loop are not taken.
bool rowLocal(ArrayRef<RowPhase> group) {
  scf::ParallelOp firstLoop = group.front().loop;
  unsigned rank = firstLoop.getNumLoops();
  DenseSet<Value> written, totals;
  for (RowPhase phase : group) {
    phase.loop.walk(
        [&](memref::StoreOp store) { written.insert(store.getMemref()); });
    if (phase.reduction)
      totals.insert(phase.reduction->store.getMemref());
  }
  bool local = true;
  for (RowPhase phase : group) {
    // Lane 0 runs a rows-only phase: it may read the row totals (every
    // lane has them) but not what other lanes wrote.
    if (isRowsOnly(group, phase))
      phase.loop.walk([&](memref::LoadOp load) {
        if (written.contains(load.getMemref()) &&
            !totals.contains(load.getMemref()))
          local = false;
      });
    // getInductionVars() returns a temporary vector: keep a copy.
    SmallVector<Value> ivs = phase.loop.getInductionVars();
    ivs.resize(rank);
    phase.loop.walk([&](Operation *op) {
      if (op != phase.loop && op->getNumRegions() != 0 &&
          !(phase.reduction && op == phase.reduction->loop))
        local = false;
      Value memory;
      ValueRange indices;
      if (auto load = dyn_cast<memref::LoadOp>(op)) {
        memory = load.getMemref();
        indices = load.getIndices();
      } else if (auto store = dyn_cast<memref::StoreOp>(op)) {
        memory = store.getMemref();
        indices = store.getIndices();
      } else if (!isMemoryEffectFree(op) &&
                 !isa<scf::ForOp, scf::ParallelOp>(op) &&
                 !op->hasTrait<OpTrait::IsTerminator>()) {
        local = false;
      }
      if (memory && written.contains(memory) &&
          (indices.size() < rank ||
           indices.take_front(rank) != ValueRange(ivs)))
        local = false;
    });
  }
  return local;
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

/// A run-time check on entry that a memref argument kernels access in
/// vectors starts kArgumentAlignment-aligned: a misaligned vector access
/// would fault on the device, so the model fails first with a message
/// (qforge_rt_m_check_size; the runtime then skips its kernels).
void checkAlignmentOnEntry(BlockArgument argument) {
  auto func = cast<func::FuncOp>(argument.getOwner()->getParentOp());
  auto module = func->getParentOfType<ModuleOp>();
  Location loc = func.getLoc();
  OpBuilder b = OpBuilder::atBlockBegin(&func.front());
  MLIRContext *ctx = b.getContext();
  Type i64 = b.getI64Type();
  StringRef checkName = "qforge_rt_m_check_size";
  if (!module.lookupSymbol<func::FuncOp>(checkName)) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    func::FuncOp::create(b, loc, checkName,
                         FunctionType::get(ctx, {i64, i64, i64, i64}, {}))
        .setPrivate();
  }
  std::string what =
      ("the device address of argument " + Twine(argument.getArgNumber()) +
       " of @" + func.getName() + " (generated kernels access it in " +
       Twine(kVectorBytes) + "-byte vectors) modulo " +
       Twine(kArgumentAlignment))
          .str();
  auto bytesType = MemRefType::get({int64_t(what.size())}, b.getI8Type());
  std::string symbol;
  for (int n = 0; symbol.empty() || module.lookupSymbol(symbol); ++n)
    symbol = ("__qforge_alignment_" + Twine(n)).str();
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    SmallVector<int8_t> bytes(what.begin(), what.end());
    memref::GlobalOp::create(
        b, loc, symbol, b.getStringAttr("private"), bytesType,
        DenseElementsAttr::get(
            RankedTensorType::get(bytesType.getShape(), b.getI8Type()),
            ArrayRef<int8_t>(bytes)),
        /*constant=*/true, /*alignment=*/IntegerAttr());
  }
  auto asI64 = [&](Value index) {
    return arith::IndexCastOp::create(b, loc, i64, index).getResult();
  };
  Value text = asI64(memref::ExtractAlignedPointerAsIndexOp::create(
      b, loc, memref::GetGlobalOp::create(b, loc, bytesType, symbol)));
  Value address =
      memref::ExtractAlignedPointerAsIndexOp::create(b, loc, argument);
  Value misalignment = arith::RemUIOp::create(
      b, loc, address,
      arith::ConstantIndexOp::create(b, loc, kArgumentAlignment));
  func::CallOp::create(
      b, loc, checkName, TypeRange{},
      ValueRange{
          asI64(misalignment), arith::ConstantIntOp::create(b, loc, i64, 0),
          text,
          arith::ConstantIntOp::create(b, loc, i64, int64_t(what.size()))});
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
    // Row kernels first: the fills they fold in then get no kernel, and
    // runs of phases over the same rows share one.
    DenseSet<Operation *> launched;
    llvm::SetVector<BlockArgument> assumed; // arguments read as vectors
    if (rowReductions && blockSize % 32 == 0)
      for (size_t i = 0; i < loops.size(); ++i) {
        if (launched.contains(loops[i]))
          continue;
        std::optional<RowReduction> r = matchRowReduction(loops[i]);
        if (!r)
          continue;
        SmallVector<RowPhase> group{{loops[i], r, Value()}};
        if (auto fill = precedingFill(loops[i], *r)) {
          group[0].init = fill->second;
          launched.insert(fill->first);
          fill->first.erase();
        }
        // Following loops join while only allocations and pure ops
        // separate them (fills of later reductions fold in too).
        size_t next = i + 1;
        for (; rowFusion && next < loops.size(); ++next) {
          scf::ParallelOp loop = loops[next];
          if (loop->getBlock() != loops[i]->getBlock())
            break;
          if (isFillOfNextReduction(loops, next))
            continue; // decided with that reduction
          RowPhase phase{loop, matchRowReduction(loop), Value()};
          std::optional<std::pair<scf::ParallelOp, Value>> fill;
          if (phase.reduction)
            fill = precedingFill(loop, *phase.reduction);
          Operation *previous =
              fill ? fill->first.getOperation() : loop.getOperation();
          if (!onlyPureOpsBetween(group.back().loop, previous) ||
              !extendsRowGroup(group, loop, phase))
            break;
          SmallVector<RowPhase> extended(group);
          extended.push_back(phase);
          if (!rowLocal(extended))
            break;
          if (fill) {
            phase.init = fill->second;
            launched.insert(fill->first);
            fill->first.erase();
          }
          group.push_back(phase);
        }
        for (RowPhase phase : group)
          launched.insert(phase.loop);
        launchRowGroup(group, blockSize, assumed);
      }
    for (scf::ParallelOp loop : loops)
      if (!launched.contains(loop) &&
          failed(launchParallel(loop, blockSize, assumed)))
        return signalPassFailure();

    for (BlockArgument argument : assumed)
      checkAlignmentOnEntry(argument);

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
