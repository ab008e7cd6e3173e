//===- FuseSiblingMatmuls.cpp - qforge-fuse-sibling-matmuls ---------------===//
//
// Horizontal fusion of integer matmuls that read the same activation:
//
//   q = qforge.matmul %x, %wq ...      k = qforge.matmul %x, %wk ...
//
// (a transformer's Q, K and V projections; the gate and up projections of a
// gated MLP) become one qforge.matmul over the weights concatenated along N,
// whose result each former matmul's users read as a column slice. One GEMM
// of N = 3 * 4096 keeps the tensor cores busy where three of N = 4096 each
// end in a partly filled wave and run their epilogue three times at 2048
// tokens (bench/RESULTS.md, session 10), and the activation is read once.
//
// Only what concatenates exactly is fused, so the result is bit-identical:
// weights, weight scales and biases are constants (concatenated here, at
// compile time); the matmuls share lhs and lhs_scale (the same SSA values),
// activation, result type, rhs layout and bias type, and their weights are
// two-dimensional. A per-tensor weight scale becomes N copies of itself (the
// epilogue multiplies by the same float either way).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/QForgeOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include "llvm/ADT/SetVector.h"

namespace qforge {
#define GEN_PASS_DEF_FUSESIBLINGMATMULS
#include "passes/Passes.h.inc"
} // namespace qforge

using namespace mlir;
using namespace qforge;

namespace {

/// The elements of a constant, or null when `value` is not one.
DenseElementsAttr constantElements(Value value) {
  DenseElementsAttr elements;
  if (!value || !matchPattern(value, m_Constant(&elements)))
    return {};
  return elements;
}

/// What siblings must share beyond their lhs: everything but the weights,
/// the weight scales and the biases.
struct SiblingKey {
  Value lhs, lhsScale;
  bool transposed;
  Activation activation;
  Type result, rhs, rhsScale, bias;

  auto tie() const {
    return std::make_tuple(
        lhs.getAsOpaquePointer(), lhsScale.getAsOpaquePointer(), transposed,
        activation, result.getAsOpaquePointer(), rhs.getAsOpaquePointer(),
        rhsScale.getAsOpaquePointer(), bias.getAsOpaquePointer());
  }
  bool operator<(const SiblingKey &other) const { return tie() < other.tie(); }
};

Type elementTypeOrNull(Value value) {
  return value ? cast<RankedTensorType>(value.getType()).getElementType()
               : Type();
}

/// The key of a matmul this pass may fuse with others, or none.
std::optional<SiblingKey> siblingKey(MatmulOp op) {
  auto rhsType = cast<RankedTensorType>(op.getRhs().getType());
  auto resultType = cast<RankedTensorType>(op.getResult().getType());
  if (rhsType.getRank() != 2 || !rhsType.hasStaticShape() ||
      resultType.getElementType().isInteger(32) ||
      !constantElements(op.getRhs()) ||
      (op.getRhsScale() && !constantElements(op.getRhsScale())) ||
      (op.getBias() && !constantElements(op.getBias())))
    return std::nullopt;
  return SiblingKey{op.getLhs(),
                    op.getLhsScale(),
                    op.getRhsTransposed(),
                    op.getActivation(),
                    resultType.getElementType(),
                    rhsType.getElementType(),
                    elementTypeOrNull(op.getRhsScale()),
                    elementTypeOrNull(op.getBias())};
}

/// The bytes of `elements` as `rows` rows of a row-major buffer (a splat
/// expanded to its full shape first).
SmallVector<char> rowMajorBytes(DenseElementsAttr elements) {
  ArrayRef<char> raw = elements.getRawData();
  if (!elements.isSplat())
    return SmallVector<char>(raw);
  SmallVector<char> bytes;
  bytes.reserve(raw.size() * elements.getNumElements());
  for (int64_t i = 0, e = elements.getNumElements(); i < e; ++i)
    bytes.append(raw.begin(), raw.end());
  return bytes;
}

/// Concatenates constants of shape [rows, n_i] along their last dimension
/// (rows = 1 for vectors): row r of the result is row r of each in turn.
DenseElementsAttr concatColumns(ArrayRef<DenseElementsAttr> parts, int64_t rows,
                                RankedTensorType type) {
  SmallVector<SmallVector<char>> bytes;
  for (DenseElementsAttr part : parts)
    bytes.push_back(rowMajorBytes(part));
  SmallVector<char> result;
  for (int64_t r = 0; r < rows; ++r)
    for (const SmallVector<char> &part : bytes) {
      size_t rowBytes = part.size() / rows;
      result.append(part.begin() + r * rowBytes,
                    part.begin() + (r + 1) * rowBytes);
    }
  return DenseElementsAttr::getFromRawBuffer(type, result);
}

/// A weight scale of `n` entries: itself, or a per-tensor one repeated.
DenseElementsAttr perChannel(DenseElementsAttr scale, int64_t n) {
  if (scale.getNumElements() == n)
    return scale;
  auto type = RankedTensorType::get({n}, scale.getElementType());
  return DenseElementsAttr::get(type, *scale.getValues<Attribute>().begin());
}

/// Output channels of a matmul (N), from its weight's shape.
int64_t outputChannels(MatmulOp op) {
  auto rhsType = cast<RankedTensorType>(op.getRhs().getType());
  return rhsType.getDimSize(op.getRhsTransposed() ? 0 : 1);
}

Value constantOf(OpBuilder &b, Location loc, DenseElementsAttr elements) {
  return arith::ConstantOp::create(b, loc, elements);
}

/// Replaces `siblings` (in block order) with one matmul over their
/// concatenated weights, each result by its column slice.
void fuse(ArrayRef<MatmulOp> siblings) {
  MatmulOp first = siblings.front();
  OpBuilder b(first);
  Location loc = b.getFusedLoc(llvm::to_vector(
      llvm::map_range(siblings, [](MatmulOp op) { return op.getLoc(); })));
  int64_t total = 0;
  SmallVector<DenseElementsAttr> weights, scales, biases;
  for (MatmulOp op : siblings) {
    int64_t n = outputChannels(op);
    total += n;
    weights.push_back(constantElements(op.getRhs()));
    if (op.getRhsScale())
      scales.push_back(perChannel(constantElements(op.getRhsScale()), n));
    if (op.getBias())
      biases.push_back(constantElements(op.getBias()));
  }
  auto rhsType = cast<RankedTensorType>(first.getRhs().getType());
  bool transposed = first.getRhsTransposed();
  int64_t k = rhsType.getDimSize(transposed ? 1 : 0);
  // [N, K] weights concatenate as whole rows; [K, N] ones row by row.
  auto weightType = RankedTensorType::get(
      transposed ? ArrayRef<int64_t>{total, k} : ArrayRef<int64_t>{k, total},
      rhsType.getElementType());
  DenseElementsAttr weight = transposed ? concatColumns(weights, 1, weightType)
                                        : concatColumns(weights, k, weightType);
  auto vectorType = [&](DenseElementsAttr like) {
    return RankedTensorType::get({total}, like.getElementType());
  };
  Value scale =
      scales.empty()
          ? Value()
          : constantOf(b, loc, concatColumns(scales, 1, vectorType(scales[0])));
  Value bias =
      biases.empty()
          ? Value()
          : constantOf(b, loc, concatColumns(biases, 1, vectorType(biases[0])));
  auto firstType = cast<RankedTensorType>(first.getResult().getType());
  SmallVector<int64_t> shape(firstType.getShape());
  shape.back() = total;
  auto fusedType = RankedTensorType::get(shape, firstType.getElementType());
  auto fused = MatmulOp::create(b, loc, fusedType, first.getLhs(),
                                constantOf(b, loc, weight), first.getLhsScale(),
                                scale, bias, first.getRhsTransposedAttr(),
                                first.getActivationAttr());
  SmallVector<OpFoldResult> sizes =
      tensor::getMixedSizes(b, loc, fused.getResult());
  SmallVector<OpFoldResult> offsets(shape.size(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(shape.size(), b.getIndexAttr(1));
  // Every slice before any sibling goes: the builder inserts before the
  // first one.
  SmallVector<Value> slices;
  int64_t column = 0;
  for (MatmulOp op : siblings) {
    int64_t n = outputChannels(op);
    offsets.back() = b.getIndexAttr(column);
    sizes.back() = b.getIndexAttr(n);
    slices.push_back(tensor::ExtractSliceOp::create(
        b, op.getLoc(), cast<RankedTensorType>(op.getResult().getType()),
        fused.getResult(), offsets, sizes, strides));
    column += n;
  }
  // The siblings' own constants go with them unless something else reads
  // them (the weights would otherwise stay in the module twice).
  llvm::SetVector<Operation *> constants;
  for (auto [sibling, slice] : llvm::zip_equal(siblings, slices)) {
    MatmulOp op = sibling;
    for (Value operand : {op.getRhs(), op.getRhsScale(), op.getBias()})
      if (operand)
        constants.insert(operand.getDefiningOp());
    op.getResult().replaceAllUsesWith(slice);
    op.erase();
  }
  for (Operation *constant : constants)
    if (constant->use_empty())
      constant->erase();
}

struct FuseSiblingMatmulsPass
    : public qforge::impl::FuseSiblingMatmulsBase<FuseSiblingMatmulsPass> {
  using FuseSiblingMatmulsBase::FuseSiblingMatmulsBase;

  void runOnOperation() override {
    // Siblings are looked for within a block (their lhs dominates all of
    // them; the fused op goes where the first one was).
    SmallVector<Block *> blocks;
    getOperation()->walk([&](Block *block) { blocks.push_back(block); });
    for (Block *block : blocks) {
      std::map<SiblingKey, SmallVector<MatmulOp>> groups;
      for (Operation &op : *block)
        if (auto matmul = dyn_cast<MatmulOp>(op))
          if (std::optional<SiblingKey> key = siblingKey(matmul))
            groups[*key].push_back(matmul);
      for (auto &[key, siblings] : groups)
        if (siblings.size() > 1)
          fuse(siblings);
    }
  }
};

} // namespace
