//===- VectorAccess.cpp - vector loads and stores in generated kernels ----===//

#include "passes/VectorAccess.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <numeric>

using namespace mlir;

namespace qforge {
namespace {

/// Start alignment of device buffers the runtime allocates: cudaMalloc and
/// stream-ordered pool allocations are 256-byte aligned.
constexpr int64_t kDeviceAllocationAlignment = 256;

/// knownStartAlignment, and the function argument `memref` is a view of
/// (into `argument`) when it is one.
int64_t startAlignment(Value memref, BlockArgument *argument) {
  int64_t viewAlignment = 0; // gcd of the byte shifts of views on the way
  auto within = [&](int64_t alignment) {
    return viewAlignment == 0 ? alignment : std::gcd(alignment, viewAlignment);
  };
  while (true) {
    if (auto arg = dyn_cast<BlockArgument>(memref)) {
      Block *block = arg.getOwner();
      if (!block->isEntryBlock() || !isa<func::FuncOp>(block->getParentOp()))
        return 0;
      if (argument)
        *argument = arg;
      return within(kArgumentAlignment);
    }
    Operation *def = memref.getDefiningOp();
    if (!def)
      return 0;
    if (isa<gpu::AllocOp>(def))
      return within(kDeviceAllocationAlignment);
    if (auto call = dyn_cast<func::CallOp>(def))
      return call.getCallee() == "qforge_rt_m_device_constant"
                 ? within(kDeviceAllocationAlignment)
                 : 0;
    if (auto view = dyn_cast<memref::ViewOp>(def)) {
      std::optional<int64_t> shift = getConstantIntValue(view.getByteShift());
      if (!shift || *shift < 0)
        return 0;
      if (*shift != 0)
        viewAlignment = std::gcd(viewAlignment, *shift);
      memref = view.getSource();
      continue;
    }
    // Same start as their source (an identity layout has offset 0).
    if (isa<memref::ExpandShapeOp, memref::CollapseShapeOp, memref::CastOp>(
            def)) {
      memref = def->getOperand(0);
      continue;
    }
    return 0;
  }
}

/// The memref and indices of a memref.load / memref.store, or none.
std::optional<std::pair<Value, OperandRange>> accessOf(Operation *op) {
  if (auto load = dyn_cast<memref::LoadOp>(op))
    return std::make_pair(load.getMemref(), load.getIndices());
  if (auto store = dyn_cast<memref::StoreOp>(op))
    return std::make_pair(store.getMemref(), store.getIndices());
  return std::nullopt;
}

int64_t elementBytes(Value memref) {
  Type element = cast<MemRefType>(memref.getType()).getElementType();
  if (!element.isIntOrFloat() || element.getIntOrFloatBitWidth() % 8 != 0)
    return 0;
  return element.getIntOrFloatBitWidth() / 8;
}

/// Whether an access of `body` at `indices` of `memref` walks contiguous
/// memory along `iv`, with leading indices known before the body.
bool walksContiguously(Block &body, Value iv, Value memref,
                       OperandRange indices) {
  auto type = dyn_cast<MemRefType>(memref.getType());
  if (!type || type.getRank() == 0 || !type.hasStaticShape() ||
      !type.getLayout().isIdentity() || elementBytes(memref) == 0 ||
      indices.back() != iv)
    return false;
  return llvm::all_of(indices.drop_back(), [&](Value index) {
    return index != iv &&
           (index.getParentBlock() != &body || isa<BlockArgument>(index));
  });
}

} // namespace

int64_t knownStartAlignment(Value memref) {
  return startAlignment(memref, nullptr);
}

VectorLoadCache::Key VectorLoadCache::keyOf(Value memref, ValueRange leading,
                                            int64_t width, int64_t offset) {
  std::vector<const void *> indices;
  for (Value index : leading)
    indices.push_back(index.getAsOpaquePointer());
  return Key(memref.getAsOpaquePointer(), std::move(indices), width, offset);
}

Value VectorLoadCache::lookup(Value memref, ValueRange leading, int64_t width,
                              int64_t offset) const {
  auto found = loads.find(keyOf(memref, leading, width, offset));
  return found == loads.end() ? Value() : found->second;
}

void VectorLoadCache::insert(Value memref, ValueRange leading, int64_t width,
                             int64_t offset, Value vector) {
  loads[keyOf(memref, leading, width, offset)] = vector;
}

VectorAccesses::VectorAccesses(Block &body, Value iv) : body(&body), iv(iv) {
  SmallVector<Operation *> candidates;
  int64_t widestBytes = 0;
  for (Operation &op : body.without_terminator()) {
    if (op.getNumRegions() != 0)
      return; // clones of nested regions are not ours to split
    auto access = accessOf(&op);
    if (!access || !walksContiguously(body, iv, access->first, access->second))
      continue;
    candidates.push_back(&op);
    widestBytes = std::max(widestBytes, elementBytes(access->first));
  }
  if (candidates.empty())
    return;
  for (int64_t width = kVectorBytes / widestBytes; width >= 2; width /= 2) {
    for (Operation *op : candidates) {
      Value memref = accessOf(op)->first;
      BlockArgument argument;
      int64_t alignment = startAlignment(memref, &argument);
      if (cast<MemRefType>(memref.getType()).getShape().back() % width != 0 ||
          alignment % (width * elementBytes(memref)) != 0)
        continue; // stays a scalar access
      taken.insert(op);
      if (argument)
        assumed.insert(argument);
    }
    if (!taken.empty()) {
      vectorWidth = width;
      return;
    }
  }
}

SmallVector<IRMapping> VectorAccesses::emit(OpBuilder &b, Location loc,
                                            ArrayRef<Value> bases,
                                            const IRMapping &outer,
                                            CloneFn cloneOne,
                                            const SharedLoads *shared) const {
  auto vectorType = [&](Value memref) {
    return VectorType::get({vectorWidth},
                           cast<MemRefType>(memref.getType()).getElementType());
  };
  auto alignment = [&](Value memref) {
    return llvm::MaybeAlign(vectorWidth * elementBytes(memref));
  };
  auto indicesAt = [&](OperandRange indices, Value base) {
    SmallVector<Value> at;
    for (Value index : indices.drop_back())
      at.push_back(outer.lookupOrDefault(index));
    at.push_back(base);
    return at;
  };

  // Every load of every base first: they do not depend on each other.
  SmallVector<DenseMap<Operation *, Value>> loaded(bases.size());
  for (auto [u, base] : llvm::enumerate(bases))
    for (Operation *op : taken)
      if (auto load = dyn_cast<memref::LoadOp>(op)) {
        Value memref = outer.lookupOrDefault(load.getMemref());
        SmallVector<Value> at = indicesAt(load.getIndices(), base);
        ValueRange leading = ValueRange(at).drop_back();
        bool reuse = shared && shared->reusable(memref);
        if (reuse)
          if (Value known = shared->cache.lookup(memref, leading, vectorWidth,
                                                 shared->offsets[u])) {
            loaded[u][op] = known;
            continue;
          }
        Value vector =
            vector::LoadOp::create(b, loc, vectorType(memref), memref, at,
                                   /*nontemporal=*/false, alignment(memref));
        if (reuse)
          shared->cache.insert(memref, leading, vectorWidth, shared->offsets[u],
                               vector);
        loaded[u][op] = vector;
      }

  SmallVector<IRMapping> clones;
  for (auto [u, base] : llvm::enumerate(bases)) {
    DenseMap<Operation *, SmallVector<Value>> toStore;
    for (int64_t k = 0; k < vectorWidth; ++k) {
      IRMapping map = outer;
      map.map(iv, k == 0 ? base
                         : arith::AddIOp::create(
                               b, loc, base,
                               arith::ConstantIndexOp::create(b, loc, k))
                               .getResult());
      for (Operation &op : body->without_terminator()) {
        if (!taken.contains(&op)) {
          cloneOne(b, op, map);
        } else if (auto load = dyn_cast<memref::LoadOp>(op)) {
          map.map(
              load.getResult(),
              vector::ExtractOp::create(b, loc, loaded[u][&op], k).getResult());
        } else {
          auto store = cast<memref::StoreOp>(op);
          toStore[&op].push_back(map.lookupOrDefault(store.getValueToStore()));
        }
      }
      clones.push_back(std::move(map));
    }
    for (Operation *op : taken)
      if (auto store = dyn_cast<memref::StoreOp>(op)) {
        Value memref = outer.lookupOrDefault(store.getMemref());
        Value vector = vector::FromElementsOp::create(
            b, loc, vectorType(memref), toStore[op]);
        vector::StoreOp::create(b, loc, vector, memref,
                                indicesAt(store.getIndices(), base),
                                /*nontemporal=*/false, alignment(memref));
      }
  }
  return clones;
}

} // namespace qforge
