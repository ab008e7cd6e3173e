//===- FuseSiblingMatmuls.cpp - qforge-fuse-sibling-matmuls ---------------===//
//
// Horizontal fusion of matmuls that read the same activation with constant
// weights — a transformer's Q, K and V projections, a gated MLP's gate and
// up projections:
//
//   q = matmul(x, Wq) [+ bq]      k = matmul(x, Wk) [+ bk]      ...
//
// become one matmul over the weights concatenated along N (biases too),
// whose result each former matmul's users read as a column slice. One GEMM
// of N = 3 * 4096 keeps the tensor cores busy where three of N = 4096 each
// end in a partly filled wave and run their epilogue apart (2048 tokens on
// an H100: 0.176 vs 0.195 ms in int8, 0.315 vs 0.347 in f16; bench/
// RESULTS.md, session 10), and the activation is read once.
//
// Two forms, each fused only with its own kind:
//  * integer `qforge.matmul`s sharing lhs and lhs_scale (SSA values) with
//    the same activation, result type, weight layout and epilogue operand
//    types; weight scales and biases concatenate with the weights (a
//    per-tensor scale becomes N copies of itself);
//  * float `linalg.matmul`s into a zero fill, with a constant weight ([K,
//    N], or [N, K] behind a linalg.transpose, as torch-mlir writes
//    nn.Linear), and, when their only user is one, the elementwise op that
//    adds a constant bias along N (any activation after it) — the same
//    body in every sibling, so one op over the concatenated bias replaces
//    them (qforge-lower-to-runtime then folds it into the GEMM epilogue).
// Everything concatenates exactly, at compile time: results are
// bit-identical to the unfused model's.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/QForgeOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/Transforms/RegionUtils.h"

#include "llvm/ADT/SetVector.h"

namespace qforge {
#define GEN_PASS_DEF_FUSESIBLINGMATMULS
#include "passes/Passes.h.inc"
} // namespace qforge

using namespace mlir;
using namespace qforge;

namespace {

/// The elements of a constant whose bytes this pass can read — a dense
/// attribute, or a dense_resource blob (as torch-mlir and
/// qforge-quantize-weights keep large weights) — of whole-byte elements;
/// null for anything else.
ElementsAttr constantElements(Value value) {
  ElementsAttr elements;
  if (!value || !matchPattern(value, m_Constant(&elements)))
    return {};
  Type element = elements.getElementType();
  if (!element.isIntOrFloat() || element.getIntOrFloatBitWidth() % 8 != 0)
    return {};
  if (isa<DenseElementsAttr>(elements))
    return elements;
  auto resource = dyn_cast<DenseResourceElementsAttr>(elements);
  AsmResourceBlob *blob =
      resource ? resource.getRawHandle().getBlob() : nullptr;
  size_t bytes =
      size_t(elements.getNumElements()) * (element.getIntOrFloatBitWidth() / 8);
  return blob && blob->getData().size() == bytes ? elements : ElementsAttr();
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

/// The bytes of `elements` (from constantElements) in row-major order, a
/// splat expanded to its full shape.
SmallVector<char> rowMajorBytes(ElementsAttr elements) {
  auto dense = dyn_cast<DenseElementsAttr>(elements);
  if (!dense)
    return SmallVector<char>(cast<DenseResourceElementsAttr>(elements)
                                 .getRawHandle()
                                 .getBlob()
                                 ->getData());
  ArrayRef<char> raw = dense.getRawData();
  if (!dense.isSplat())
    return SmallVector<char>(raw);
  SmallVector<char> bytes;
  bytes.reserve(raw.size() * dense.getNumElements());
  for (int64_t i = 0, e = dense.getNumElements(); i < e; ++i)
    bytes.append(raw.begin(), raw.end());
  return bytes;
}

/// `bytes` as the elements of `type`: a dense_resource blob (named after the
/// first of `parts` that is one) when any of the parts it was made from is
/// one, so that large weights stay out of the module's text; else a dense
/// attribute.
ElementsAttr elementsOf(RankedTensorType type, ArrayRef<char> bytes,
                        ArrayRef<ElementsAttr> parts) {
  for (ElementsAttr part : parts)
    if (auto resource = dyn_cast<DenseResourceElementsAttr>(part))
      return DenseResourceElementsAttr::get(
          type, (resource.getRawHandle().getKey() + "_fused").str(),
          HeapAsmResourceBlob::allocateAndCopyInferAlign(bytes));
  return DenseElementsAttr::getFromRawBuffer(type, bytes);
}

/// Concatenates constants of shape [rows, n_i] along their last dimension
/// (rows = 1 for vectors): row r of the result is row r of each in turn.
ElementsAttr concatColumns(ArrayRef<ElementsAttr> parts, int64_t rows,
                           RankedTensorType type) {
  SmallVector<SmallVector<char>> bytes;
  for (ElementsAttr part : parts)
    bytes.push_back(rowMajorBytes(part));
  SmallVector<char> result;
  for (int64_t r = 0; r < rows; ++r)
    for (const SmallVector<char> &part : bytes) {
      size_t rowBytes = part.size() / rows;
      result.append(part.begin() + r * rowBytes,
                    part.begin() + (r + 1) * rowBytes);
    }
  return elementsOf(type, result, parts);
}

/// Vectors of one element type end to end ([total]).
ElementsAttr concatVectors(ArrayRef<ElementsAttr> parts, int64_t total) {
  return concatColumns(
      parts, 1, RankedTensorType::get({total}, parts[0].getElementType()));
}

/// 2-D weights concatenated along N: [N, K] ones (`channelRows`) as whole
/// rows, [K, N] ones row by row.
ElementsAttr concatWeights(ArrayRef<ElementsAttr> parts, bool channelRows,
                           int64_t k, int64_t total) {
  Type element = parts[0].getElementType();
  if (channelRows)
    return concatColumns(parts, 1, RankedTensorType::get({total, k}, element));
  return concatColumns(parts, k, RankedTensorType::get({k, total}, element));
}

/// A weight scale of `n` entries: itself, or a per-tensor one repeated.
ElementsAttr perChannel(ElementsAttr scale, int64_t n) {
  if (scale.getNumElements() == n)
    return scale;
  SmallVector<char> one = rowMajorBytes(scale), bytes;
  for (int64_t i = 0; i < n; ++i)
    bytes.append(one.begin(), one.end());
  return elementsOf(RankedTensorType::get({n}, scale.getElementType()), bytes,
                    scale);
}

/// Output channels of a matmul (N), from its weight's shape.
int64_t outputChannels(MatmulOp op) {
  auto rhsType = cast<RankedTensorType>(op.getRhs().getType());
  return rhsType.getDimSize(op.getRhsTransposed() ? 0 : 1);
}

Value constantOf(OpBuilder &b, Location loc, ElementsAttr elements) {
  return arith::ConstantOp::create(b, loc, cast<TypedAttr>(elements));
}

/// Column slices of `fused` ([..., sum of widths]) shaped like `parts`, in
/// order, made at `b`'s insertion point.
SmallVector<Value> columnSlices(OpBuilder &b, Value fused,
                                ArrayRef<Value> parts) {
  Location loc = fused.getLoc();
  auto fusedType = cast<RankedTensorType>(fused.getType());
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, fused);
  SmallVector<OpFoldResult> offsets(fusedType.getRank(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(fusedType.getRank(), b.getIndexAttr(1));
  SmallVector<Value> slices;
  int64_t column = 0;
  for (Value part : parts) {
    auto type = cast<RankedTensorType>(part.getType());
    offsets.back() = b.getIndexAttr(column);
    sizes.back() = b.getIndexAttr(type.getShape().back());
    slices.push_back(tensor::ExtractSliceOp::create(
        b, part.getLoc(), type, fused, offsets, sizes, strides));
    column += type.getShape().back();
  }
  return slices;
}

/// Erases the ops of `ops` (null entries allowed) that nothing reads.
void eraseUnused(ArrayRef<Operation *> ops) {
  llvm::SetVector<Operation *> unique(ops.begin(), ops.end());
  for (Operation *op : unique)
    if (op && op->use_empty() && isPure(op))
      op->erase();
}

/// Replaces `siblings` (in block order) with one matmul over their
/// concatenated weights, each result by its column slice.
void fuse(ArrayRef<MatmulOp> siblings) {
  MatmulOp first = siblings.front();
  OpBuilder b(first);
  Location loc = b.getFusedLoc(llvm::to_vector(
      llvm::map_range(siblings, [](MatmulOp op) { return op.getLoc(); })));
  int64_t total = 0;
  SmallVector<ElementsAttr> weights, scales, biases;
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
  ElementsAttr weight = concatWeights(
      weights, transposed, rhsType.getDimSize(transposed ? 1 : 0), total);
  Value scale = scales.empty()
                    ? Value()
                    : constantOf(b, loc, concatVectors(scales, total));
  Value bias = biases.empty()
                   ? Value()
                   : constantOf(b, loc, concatVectors(biases, total));
  auto firstType = cast<RankedTensorType>(first.getResult().getType());
  SmallVector<int64_t> shape(firstType.getShape());
  shape.back() = total;
  auto fusedType = RankedTensorType::get(shape, firstType.getElementType());
  auto fused = MatmulOp::create(b, loc, fusedType, first.getLhs(),
                                constantOf(b, loc, weight), first.getLhsScale(),
                                scale, bias, first.getRhsTransposedAttr(),
                                first.getActivationAttr());
  SmallVector<Value> slices =
      columnSlices(b, fused.getResult(),
                   llvm::to_vector(llvm::map_range(siblings, [](MatmulOp op) {
                     return Value(op.getResult());
                   })));
  // The siblings' own constants go with them unless something else reads
  // them (the weights would otherwise stay in the module twice).
  SmallVector<Operation *> dead;
  for (auto [sibling, slice] : llvm::zip_equal(siblings, slices)) {
    MatmulOp op = sibling;
    for (Value operand : {op.getRhs(), op.getRhsScale(), op.getBias()})
      if (operand)
        dead.push_back(operand.getDefiningOp());
    op.getResult().replaceAllUsesWith(slice);
    op.erase();
  }
  eraseUnused(dead);
}

//===----------------------------------------------------------------------===//
// Float matmuls
//===----------------------------------------------------------------------===//

/// A float linalg.matmul this pass may fuse, with what goes with it.
/// (Op handles are mutable: their accessors are not const.)
struct FloatSibling {
  mutable linalg::MatmulOp matmul;
  mutable linalg::TransposeOp transpose; // [N, K] weight -> [K, N], or null
  ElementsAttr weight;                // as stored ([N, K] behind a transpose)
  mutable linalg::GenericOp epilogue; // x + bias[n] (then any activation)
  ElementsAttr bias;

  /// The value the siblings' users read.
  Value result() const {
    return epilogue ? epilogue.getResult(0) : matmul.getResult(0);
  }
  int64_t outputChannels() const {
    return cast<RankedTensorType>(matmul.getResult(0).getType()).getDimSize(1);
  }
};

/// Whether `value` is a linalg.fill of float zero into a tensor.empty, read
/// by nothing else.
bool isFreshZeroFill(Value value) {
  auto fill = value.getDefiningOp<linalg::FillOp>();
  return fill && value.hasOneUse() &&
         matchPattern(fill.getInputs()[0], m_AnyZeroFloat()) &&
         fill.getOutputs()[0].getDefiningOp<tensor::EmptyOp>();
}

/// The matmul result's only user when it is elementwise in the result and
/// a constant vector along N — `x + bias[n]`, then any activation, as a
/// linear's bias op is written. (Any such body concatenates exactly: it
/// sees each column with its own entry of the vector.)
linalg::GenericOp biasEpilogue(Value result, ElementsAttr &bias) {
  if (!result.hasOneUse())
    return {};
  auto generic = dyn_cast<linalg::GenericOp>(*result.getUsers().begin());
  if (!generic || generic.getNumDpsInputs() != 2 ||
      generic.getNumDpsInits() != 1 || generic.getDpsInputs()[0] != result ||
      generic.getResult(0).getType() != result.getType() ||
      !generic.getDpsInits()[0].getDefiningOp<tensor::EmptyOp>() ||
      llvm::any_of(generic.getIteratorTypesArray(),
                   [](auto t) { return t != utils::IteratorType::parallel; }))
    return {};
  MLIRContext *ctx = generic.getContext();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap alongN = AffineMap::get(2, 0, getAffineDimExpr(1, ctx));
  if (generic.getIndexingMapsArray() !=
      ArrayRef<AffineMap>{identity, alongN, identity})
    return {};
  bias = constantElements(generic.getDpsInputs()[1]);
  return bias ? generic : linalg::GenericOp();
}

std::optional<FloatSibling> floatSibling(linalg::MatmulOp op) {
  if (!op.hasPureTensorSemantics() || op.hasUserDefinedMaps() ||
      !isa<FloatType>(getElementTypeOrSelf(op.getResult(0).getType())) ||
      !isFreshZeroFill(op.getDpsInits()[0]))
    return std::nullopt;
  FloatSibling sibling{op, {}, {}, {}, {}};
  Value rhs = op.getDpsInputs()[1];
  if (auto t = rhs.getDefiningOp<linalg::TransposeOp>()) {
    if (!rhs.hasOneUse() || t.getPermutation() != ArrayRef<int64_t>{1, 0} ||
        !t.getInit().getDefiningOp<tensor::EmptyOp>())
      return std::nullopt;
    sibling.transpose = t;
    rhs = t.getInput();
  }
  sibling.weight = constantElements(rhs);
  if (!sibling.weight ||
      !cast<RankedTensorType>(rhs.getType()).hasStaticShape())
    return std::nullopt;
  sibling.epilogue = biasEpilogue(op.getResult(0), sibling.bias);
  // The fused epilogue goes where the first matmul is: what its body reads
  // from outside must exist there already.
  if (sibling.epilogue) {
    llvm::SetVector<Value> captured;
    getUsedValuesDefinedAbove(sibling.epilogue.getRegion(), captured);
    for (Value v : captured) {
      Operation *def = v.getDefiningOp();
      if (def && def->getBlock() == op->getBlock() && !def->isBeforeInBlock(op))
        sibling.epilogue = {};
    }
  }
  return sibling;
}

/// Whether two float siblings compute alike but for their constants.
bool alike(const FloatSibling &a, const FloatSibling &b) {
  auto type = [](Value v) { return v.getType(); };
  if (a.matmul.getDpsInputs()[0] != b.matmul.getDpsInputs()[0] ||
      getElementTypeOrSelf(type(a.result())) !=
          getElementTypeOrSelf(type(b.result())) ||
      bool(a.transpose) != bool(b.transpose) ||
      a.weight.getElementType() != b.weight.getElementType() ||
      bool(a.epilogue) != bool(b.epilogue))
    return false;
  if (!a.epilogue)
    return true;
  return a.bias.getElementType() == b.bias.getElementType() &&
         OperationEquivalence::isRegionEquivalentTo(
             &a.epilogue.getRegion(), &b.epilogue.getRegion(),
             OperationEquivalence::IgnoreLocations);
}

/// An empty [rows of `lhs`, n] tensor of `element`.
Value emptyLike(OpBuilder &b, Location loc, Value lhs, int64_t n,
                Type element) {
  auto lhsType = cast<RankedTensorType>(lhs.getType());
  SmallVector<Value> dynamic;
  if (lhsType.isDynamicDim(0))
    dynamic.push_back(tensor::DimOp::create(b, loc, lhs, 0));
  return tensor::EmptyOp::create(b, loc, {lhsType.getDimSize(0), n}, element,
                                 dynamic);
}

void fuseFloat(ArrayRef<FloatSibling> siblings) {
  const FloatSibling &first = siblings.front();
  OpBuilder b(first.matmul);
  Location loc = b.getFusedLoc(llvm::to_vector(llvm::map_range(
      siblings, [](const FloatSibling &s) { return s.matmul.getLoc(); })));
  int64_t total = 0;
  SmallVector<ElementsAttr> weights, biases;
  for (const FloatSibling &s : siblings) {
    total += s.outputChannels();
    weights.push_back(s.weight);
    if (s.epilogue)
      biases.push_back(s.bias);
  }
  Value lhs = first.matmul.getDpsInputs()[0];
  Type element = getElementTypeOrSelf(first.matmul.getResult(0).getType());
  auto storedType = cast<RankedTensorType>(first.weight.getType());
  bool transposed = bool(first.transpose); // [N, K] stored, then transposed
  int64_t k = storedType.getDimSize(transposed ? 1 : 0);
  Value rhs = constantOf(b, loc, concatWeights(weights, transposed, k, total));
  if (transposed) {
    Value init = tensor::EmptyOp::create(b, loc, {k, total},
                                         storedType.getElementType());
    rhs =
        linalg::TransposeOp::create(b, loc, rhs, init, ArrayRef<int64_t>{1, 0})
            .getResult()[0];
  }
  // The bias exists before the matmul: qforge-lower-to-runtime folds the
  // bias op into the GEMM's epilogue only then.
  Value bias;
  if (first.epilogue)
    bias = constantOf(b, loc, concatVectors(biases, total));
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(element));
  Value fill = linalg::FillOp::create(b, loc, zero,
                                      emptyLike(b, loc, lhs, total, element))
                   .getResult(0);
  Value fused =
      linalg::MatmulOp::create(b, loc, ValueRange{lhs, rhs}, ValueRange{fill})
          .getResult(0);
  if (first.epilogue) {
    Type resultElement = getElementTypeOrSelf(first.result().getType());
    auto generic = linalg::GenericOp::create(
        b, loc,
        TypeRange{cast<RankedTensorType>(fused.getType()).clone(resultElement)},
        ValueRange{fused, bias},
        ValueRange{emptyLike(b, loc, lhs, total, resultElement)},
        first.epilogue.getIndexingMapsArray(),
        first.epilogue.getIteratorTypesArray());
    IRMapping mapping;
    first.epilogue.getRegion().cloneInto(&generic.getRegion(), mapping);
    fused = generic.getResult(0);
  }
  SmallVector<Value> slices = columnSlices(
      b, fused,
      llvm::to_vector(llvm::map_range(
          siblings, [](const FloatSibling &s) { return s.result(); })));
  SmallVector<Operation *> dead;
  for (auto [sibling, slice] : llvm::zip_equal(siblings, slices)) {
    FloatSibling s = sibling;
    s.result().replaceAllUsesWith(slice);
    if (s.epilogue) {
      dead.push_back(s.epilogue.getDpsInputs()[1].getDefiningOp());
      dead.push_back(s.epilogue.getDpsInits()[0].getDefiningOp());
      s.epilogue.erase();
    }
    auto fillOp = s.matmul.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
    Value weightValue = s.matmul.getDpsInputs()[1];
    s.matmul.erase();
    dead.push_back(fillOp.getOutputs()[0].getDefiningOp());
    dead.push_back(fillOp.getInputs()[0].getDefiningOp());
    fillOp.erase();
    if (s.transpose) {
      weightValue = s.transpose.getInput();
      dead.push_back(s.transpose.getInit().getDefiningOp());
      s.transpose.erase();
    }
    dead.push_back(weightValue.getDefiningOp());
  }
  eraseUnused(dead);
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
      SmallVector<SmallVector<FloatSibling>> floatGroups;
      for (Operation &op : *block) {
        if (auto matmul = dyn_cast<MatmulOp>(op)) {
          if (std::optional<SiblingKey> key = siblingKey(matmul))
            groups[*key].push_back(matmul);
        } else if (auto matmul = dyn_cast<linalg::MatmulOp>(op)) {
          std::optional<FloatSibling> sibling = floatSibling(matmul);
          if (!sibling)
            continue;
          auto group = llvm::find_if(floatGroups, [&](const auto &g) {
            return alike(g.front(), *sibling);
          });
          if (group == floatGroups.end())
            floatGroups.push_back({*sibling});
          else
            group->push_back(*sibling);
        }
      }
      for (auto &[key, siblings] : groups)
        if (siblings.size() > 1)
          fuse(siblings);
      for (const SmallVector<FloatSibling> &siblings : floatGroups)
        if (siblings.size() > 1)
          fuseFloat(siblings);
    }
  }
};

} // namespace
