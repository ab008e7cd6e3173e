//===- FuseAttention.cpp - qforge-fuse-attention --------------------------===//
//
// Raises the attention of a transformer, written out as torch-mlir emits it,
//
//   scores = batch_matmul(Q, K^T)                       [B, S, Skv]
//   [x = scores * c]                                     optional pre-scale
//   [x = x + causal mask]                                optional, constant
//   m = row max of x,  e = exp((x - m) [* c'])           softmax, in linalg
//   s = row sum of e,  p = e / s                         (or linalg.softmax)
//   out = batch_matmul(p, V)                             [B, S, D]
//
// into one qforge.attention with scale c * c' (and `causal` for the mask). The
// runtime computes it as flash attention: the [B, S, Skv] scores never reach
// memory, which is what the unfused chain spends its time on at 2048 tokens and
// more (three passes over the scores in the softmax, one write and one read
// around each matmul).
//
// The match is exact about the chain: every intermediate value has only the
// users the chain gives it (a model that returns the probabilities keeps
// them), the reductions start from -inf / 0, and the softmax divides by the
// row sum. The rewrite changes rounding (the scores stay in f32, the
// probabilities are rounded once, to the float type, for the second
// product): it runs for f16 and bf16, whose rounding of the stored scores
// and probabilities it improves, and for the head dims the runtime's CUDA
// kernel takes (option head-dims).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/QForgeOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <cmath>

namespace qforge {
#define GEN_PASS_DEF_FUSEATTENTION
#include "passes/Passes.h.inc"
} // namespace qforge

using namespace mlir;

namespace {

/// The constant a linalg.fill writes, if `init` is one.
std::optional<APFloat> filledConstant(Value init) {
  auto fill = init.getDefiningOp<linalg::FillOp>();
  FloatAttr value;
  if (!fill || !matchPattern(fill.getInputs()[0], m_Constant(&value)))
    return std::nullopt;
  return value.getValue();
}

/// A float constant, inside a linalg body or captured from outside it.
std::optional<double> constantValue(Value v) {
  FloatAttr value;
  if (!matchPattern(v, m_Constant(&value)))
    return std::nullopt;
  return value.getValue().convertToDouble();
}

/// Ops of `generic`'s body other than constants and the yield.
size_t computeOpCount(linalg::GenericOp generic) {
  return llvm::count_if(
      generic.getRegion().front().without_terminator(),
      [](Operation &op) { return !isa<arith::ConstantOp>(op); });
}

/// The op whose result `generic` yields, if the body computes nothing else
/// (`ops` ops, constants aside).
Operation *yieldedOp(linalg::GenericOp generic, size_t ops) {
  if (computeOpCount(generic) != ops)
    return nullptr;
  Block &body = generic.getRegion().front();
  return body.getTerminator()->getOperand(0).getDefiningOp();
}

/// (b, i, j) -> (b, i): a row's value in a rank-3 loop nest.
AffineMap rowMap(MLIRContext *ctx) {
  return AffineMap::get(
      3, 0, {getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx)}, ctx);
}

/// Whether `generic` is all-parallel over rank-3 tensors with the identity
/// map for every operand but input `rowInput`, which is read at (b, i).
bool isRowBroadcastMap(linalg::GenericOp generic, int rowInput) {
  if (generic.getNumLoops() != 3 ||
      generic.getNumParallelLoops() != generic.getNumLoops() ||
      generic.getNumDpsInits() != 1)
    return false;
  MLIRContext *ctx = generic.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(3, ctx);
  AffineMap row = rowMap(ctx);
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  for (auto [index, map] : llvm::enumerate(maps))
    if (map != (int(index) == rowInput ? row : id))
      return false;
  return true;
}

/// A reduction of the last dimension of a rank-3 tensor, `acc = op(x, acc)`
/// from a filled init; returns the filled value.
template <typename CombineOp>
std::optional<APFloat> rowReductionInit(linalg::GenericOp generic) {
  MLIRContext *ctx = generic.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(3, ctx);
  AffineMap row = rowMap(ctx);
  if (generic.getNumLoops() != 3 || generic.getNumReductionLoops() != 1 ||
      generic.getIteratorTypesArray()[2] != utils::IteratorType::reduction ||
      generic.getNumDpsInputs() != 1 || generic.getNumDpsInits() != 1 ||
      generic.getIndexingMapsArray() != SmallVector<AffineMap>{id, row})
    return std::nullopt;
  auto combine = dyn_cast_or_null<CombineOp>(yieldedOp(generic, 1));
  Block &body = generic.getRegion().front();
  if (!combine || !((combine.getLhs() == body.getArgument(0) &&
                     combine.getRhs() == body.getArgument(1)) ||
                    (combine.getLhs() == body.getArgument(1) &&
                     combine.getRhs() == body.getArgument(0))))
    return std::nullopt;
  return filledConstant(generic.getDpsInits()[0]);
}

/// `operand` scaled by a constant in `op` (mulf by c either side, or divf by
/// c): the factor, else nullopt.
std::optional<double> scaleFactor(Operation *op, Value operand) {
  if (auto mul = dyn_cast_or_null<arith::MulFOp>(op)) {
    if (mul.getLhs() == operand)
      return constantValue(mul.getRhs());
    if (mul.getRhs() == operand)
      return constantValue(mul.getLhs());
  }
  if (auto div = dyn_cast_or_null<arith::DivFOp>(op))
    if (div.getLhs() == operand)
      if (std::optional<double> c = constantValue(div.getRhs()); c && *c != 0)
        return 1.0 / *c;
  return std::nullopt;
}

/// e = exp((x - m[b, i]) [* c]): returns c (1 when absent).
std::optional<double> shiftedExpScale(linalg::GenericOp generic) {
  if (generic.getNumDpsInputs() != 2 || !isRowBroadcastMap(generic, 1))
    return std::nullopt;
  Block &body = generic.getRegion().front();
  auto isShift = [&](Value v) {
    auto sub = v.getDefiningOp<arith::SubFOp>();
    return sub && sub.getLhs() == body.getArgument(0) &&
           sub.getRhs() == body.getArgument(1);
  };
  auto exp = dyn_cast_or_null<math::ExpOp>(
      body.getTerminator()->getOperand(0).getDefiningOp());
  if (!exp)
    return std::nullopt;
  Value arg = exp.getOperand();
  if (isShift(arg))
    return computeOpCount(generic) == 2 ? std::optional<double>(1.0)
                                        : std::nullopt;
  Operation *scaling = arg.getDefiningOp();
  if (!scaling || computeOpCount(generic) != 3)
    return std::nullopt;
  for (Value operand : scaling->getOperands())
    if (isShift(operand))
      return scaleFactor(scaling, operand);
  return std::nullopt;
}

/// p = e / s[b, i].
bool isRowNormalize(linalg::GenericOp generic) {
  if (generic.getNumDpsInputs() != 2 || !isRowBroadcastMap(generic, 1))
    return false;
  Block &body = generic.getRegion().front();
  auto div = dyn_cast_or_null<arith::DivFOp>(yieldedOp(generic, 1));
  return div && div.getLhs() == body.getArgument(0) &&
         div.getRhs() == body.getArgument(1);
}

/// x = scores * c (or / c), elementwise: returns c.
std::optional<double> preScale(linalg::GenericOp generic) {
  if (generic.getNumDpsInputs() != 1 || !isRowBroadcastMap(generic, -1))
    return std::nullopt;
  return scaleFactor(yieldedOp(generic, 1),
                     generic.getRegion().front().getArgument(0));
}

/// Whether `map` reads a [..., S, Skv] mask at (i, j) of the loops (b, i,
/// j): its last two results are i and j, any before them b or 0.
bool readsRowColumn(AffineMap map) {
  unsigned n = map.getNumResults();
  if (map.getNumDims() != 3 || n < 2 ||
      map.getResult(n - 2) != getAffineDimExpr(1, map.getContext()) ||
      map.getResult(n - 1) != getAffineDimExpr(2, map.getContext()))
    return false;
  for (unsigned r = 0; r + 2 < n; ++r) {
    AffineExpr e = map.getResult(r);
    auto constant = dyn_cast<AffineConstantExpr>(e);
    if (e != getAffineDimExpr(0, map.getContext()) &&
        !(constant && constant.getValue() == 0))
      return false;
  }
  return true;
}

/// Whether every element of the constant mask `values` (shape [..., S,
/// Skv]) is what `visible(i, j)` or `hidden(i, j)` wants at its (i, j):
/// the causal pattern, key j visible to query i iff j <= i.
template <typename Visible, typename Hidden>
bool followsCausalPattern(DenseElementsAttr values, Visible visible,
                          Hidden hidden) {
  ArrayRef<int64_t> shape = cast<ShapedType>(values.getType()).getShape();
  if (shape.size() < 2)
    return false;
  int64_t cols = shape.back(), rows = shape[shape.size() - 2];
  int64_t index = 0;
  for (Attribute element : values.getValues<Attribute>()) {
    int64_t j = index % cols, i = index / cols % rows;
    ++index;
    if (j <= i ? !visible(element) : !hidden(element))
      return false;
  }
  return true;
}

/// A value large and negative enough that exp(x + value) is 0 to any float
/// type's precision (masks use -inf, -1e4, -65504 or the f32 minimum).
bool isMaskingValue(const APFloat &v) {
  return v.isNegative() && (v.isInfinity() || v.convertToDouble() <= -1e4);
}

/// If `generic` applies a causal mask to the scores it reads, the index of
/// that input: `x + mask[i, j]` with mask 0 where j <= i and a masking
/// value above the diagonal, or `select(mask[i, j], x, c)` with mask true
/// where j <= i and c a masking value (either way round). The mask is a
/// constant read at (i, j), its leading dims broadcast or per batch.
std::optional<unsigned> causallyMaskedInput(linalg::GenericOp generic) {
  if (generic.getNumDpsInputs() != 2 || generic.getNumDpsInits() != 1 ||
      generic.getNumLoops() != 3 ||
      generic.getNumParallelLoops() != generic.getNumLoops())
    return std::nullopt;
  MLIRContext *ctx = generic.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(3, ctx);
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  auto scoresType = cast<RankedTensorType>(generic.getResult(0).getType());
  if (maps[2] != id || !scoresType.hasStaticShape())
    return std::nullopt;
  Block &body = generic.getRegion().front();
  Operation *yielded = yieldedOp(generic, 1);
  for (unsigned scoresIndex : {0u, 1u}) {
    unsigned maskIndex = 1 - scoresIndex;
    DenseElementsAttr mask;
    if (maps[scoresIndex] != id || !readsRowColumn(maps[maskIndex]) ||
        !matchPattern(generic.getDpsInputs()[maskIndex], m_Constant(&mask)))
      continue;
    ArrayRef<int64_t> maskShape = cast<ShapedType>(mask.getType()).getShape();
    if (maskShape.size() < 2 ||
        maskShape[maskShape.size() - 2] != scoresType.getDimSize(1) ||
        maskShape.back() != scoresType.getDimSize(2))
      continue;
    Value x = body.getArgument(scoresIndex), m = body.getArgument(maskIndex);
    auto zero = [](Attribute a) {
      auto f = dyn_cast<FloatAttr>(a);
      return f && f.getValue().isZero();
    };
    auto masking = [](Attribute a) {
      auto f = dyn_cast<FloatAttr>(a);
      return f && isMaskingValue(f.getValue());
    };
    auto isTrue = [](Attribute a) {
      auto b = dyn_cast<IntegerAttr>(a);
      return b && b.getValue().isOne();
    };
    auto isFalse = [](Attribute a) {
      auto b = dyn_cast<IntegerAttr>(a);
      return b && b.getValue().isZero();
    };
    if (auto add = dyn_cast_or_null<arith::AddFOp>(yielded)) {
      bool operands = (add.getLhs() == x && add.getRhs() == m) ||
                      (add.getLhs() == m && add.getRhs() == x);
      if (operands && followsCausalPattern(mask, zero, masking))
        return scoresIndex;
    }
    if (auto select = dyn_cast_or_null<arith::SelectOp>(yielded)) {
      if (select.getCondition() != m)
        continue;
      FloatAttr c;
      if (select.getTrueValue() == x &&
          matchPattern(select.getFalseValue(), m_Constant(&c)) &&
          isMaskingValue(c.getValue()) &&
          followsCausalPattern(mask, isTrue, isFalse))
        return scoresIndex;
      if (select.getFalseValue() == x &&
          matchPattern(select.getTrueValue(), m_Constant(&c)) &&
          isMaskingValue(c.getValue()) &&
          followsCausalPattern(mask, isFalse, isTrue))
        return scoresIndex;
    }
  }
  return std::nullopt;
}

/// A batch_matmul on tensors with its default maps and a zero-filled init.
bool isPlainBatchMatmul(Operation *op) {
  auto matmul = dyn_cast_or_null<linalg::BatchMatmulOp>(op);
  if (!matmul || !matmul.hasPureTensorSemantics())
    return false;
  MLIRContext *ctx = op->getContext();
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  SmallVector<AffineMap> expected = {
      AffineMap::get(4, 0, {d(0), d(1), d(3)}, ctx),
      AffineMap::get(4, 0, {d(0), d(3), d(2)}, ctx),
      AffineMap::get(4, 0, {d(0), d(1), d(2)}, ctx)};
  std::optional<APFloat> init = filledConstant(matmul.getDpsInits()[0]);
  return matmul.getIndexingMapsArray() == expected && init && init->isZero();
}

bool hasUsers(Value value, ArrayRef<Operation *> users) {
  SmallVector<Operation *> actual(value.getUsers());
  if (actual.size() != users.size())
    return false;
  return llvm::all_of(
      users, [&](Operation *u) { return llvm::is_contained(actual, u); });
}

linalg::GenericOp definingGeneric(Value v) {
  return v.getDefiningOp<linalg::GenericOp>();
}

/// Erases `op` and then whatever only fed it (fills, empties, constants).
void eraseWithDeadProducers(Operation *op) {
  SmallVector<Value> operands(op->getOperands());
  op->erase();
  for (Value operand : operands) {
    Operation *def = operand.getDefiningOp();
    if (def && def->use_empty() &&
        isa<linalg::FillOp, tensor::EmptyOp, arith::ConstantOp>(def))
      eraseWithDeadProducers(def);
  }
}

/// What one match found: the ops it replaces (consumers first) and the
/// qforge.attention operands.
struct AttentionChain {
  Value query, keyTransposed, value, result;
  double scale = 1.0;
  bool causal = false; // a causal mask sat between scores and softmax
  SmallVector<Operation *> replaced;
};

/// The ops between the scores and the softmax's input `x`: at most one
/// pre-scale and one causal mask, in either order; then the first matmul.
/// Completes `chain` (whose scale so far is the one inside the softmax).
std::optional<AttentionChain> matchScores(AttentionChain chain, Value x,
                                          linalg::BatchMatmulOp pv);

/// `linalg.softmax` over the last dim of the scores, as some frontends
/// emit it (IREE's torch input), instead of the written-out reductions.
std::optional<AttentionChain> matchNamedSoftmax(linalg::BatchMatmulOp pv) {
  auto softmax = pv.getDpsInputs()[0].getDefiningOp<linalg::SoftmaxOp>();
  if (!softmax || softmax.getDimension() != 2 ||
      !softmax.hasPureTensorSemantics() ||
      !hasUsers(softmax->getResult(0), {pv}))
    return std::nullopt;
  Value x = softmax.getInput();
  if (!hasUsers(x, {softmax}))
    return std::nullopt;
  AttentionChain chain;
  chain.replaced = {pv, softmax};
  return matchScores(chain, x, pv);
}

/// Walks from the second matmul (`pv`) back to the first.
std::optional<AttentionChain> matchChain(linalg::BatchMatmulOp pv) {
  if (!isPlainBatchMatmul(pv))
    return std::nullopt;
  if (std::optional<AttentionChain> named = matchNamedSoftmax(pv))
    return named;
  auto normalize = definingGeneric(pv.getDpsInputs()[0]);
  if (!normalize || !isRowNormalize(normalize) ||
      !hasUsers(normalize.getResult(0), {pv}))
    return std::nullopt;
  auto exp = definingGeneric(normalize.getDpsInputs()[0]);
  auto sum = definingGeneric(normalize.getDpsInputs()[1]);
  if (!exp || !sum || !hasUsers(sum.getResult(0), {normalize}))
    return std::nullopt;
  std::optional<APFloat> sumInit = rowReductionInit<arith::AddFOp>(sum);
  if (!sumInit || !sumInit->isZero() ||
      sum.getDpsInputs()[0] != exp.getResult(0))
    return std::nullopt;
  std::optional<double> expScale = shiftedExpScale(exp);
  if (!expScale || !hasUsers(exp.getResult(0), {sum, normalize}))
    return std::nullopt;
  auto max = definingGeneric(exp.getDpsInputs()[1]);
  if (!max || !hasUsers(max.getResult(0), {exp}))
    return std::nullopt;
  // The max starts from -inf; with maxnumf also from NaN, which maxnumf
  // ignores (linalg.softmax's own decomposition writes that).
  std::optional<APFloat> maxInit = rowReductionInit<arith::MaximumFOp>(max);
  bool nanIgnored = false;
  if (!maxInit) {
    maxInit = rowReductionInit<arith::MaxNumFOp>(max);
    nanIgnored = true;
  }
  if (!maxInit || !((maxInit->isInfinity() && maxInit->isNegative()) ||
                    (nanIgnored && maxInit->isNaN())))
    return std::nullopt;
  Value x = exp.getDpsInputs()[0];
  if (max.getDpsInputs()[0] != x || !hasUsers(x, {max, exp}))
    return std::nullopt;

  AttentionChain chain;
  chain.scale = *expScale;
  chain.replaced = {pv, normalize, sum, exp, max};
  return matchScores(chain, x, pv);
}

std::optional<AttentionChain> matchScores(AttentionChain chain, Value x,
                                          linalg::BatchMatmulOp pv) {
  bool scaled = false;
  bool positiveScales = chain.scale > 0;
  while (linalg::GenericOp g = definingGeneric(x)) {
    Value in;
    if (std::optional<unsigned> masked;
        !chain.causal && (masked = causallyMaskedInput(g))) {
      chain.causal = true;
      in = g.getDpsInputs()[*masked];
    } else if (std::optional<double> c; !scaled && (c = preScale(g))) {
      scaled = true;
      positiveScales &= *c > 0;
      chain.scale *= *c;
      in = g.getDpsInputs()[0];
    } else {
      break;
    }
    if (!hasUsers(in, {g}))
      return std::nullopt;
    chain.replaced.push_back(g);
    x = in;
  }
  // A negative factor after the mask would turn its -inf into +inf.
  if (chain.causal && !positiveScales)
    return std::nullopt;
  Operation *qk = x.getDefiningOp();
  if (!isPlainBatchMatmul(qk))
    return std::nullopt;
  chain.replaced.push_back(qk);
  chain.query = qk->getOperand(0);
  chain.keyTransposed = qk->getOperand(1);
  chain.value = pv.getDpsInputs()[1];
  chain.result = pv.getResult(0);
  return chain;
}

/// K [B, Skv, D] from K^T [B, D, Skv]: the source of a transpose that
/// produced K^T, transposed once (or not at all) instead of twice.
Value keyFromTransposed(OpBuilder &b, Location loc, Value keyTransposed) {
  Value source = keyTransposed;
  SmallVector<int64_t> perm = {0, 2, 1};
  if (auto t = keyTransposed.getDefiningOp<linalg::TransposeOp>()) {
    ArrayRef<int64_t> inner = t.getPermutation();
    // K = transpose(K^T, [0, 2, 1]) and K^T = transpose(src, inner).
    perm = {inner[0], inner[2], inner[1]};
    source = t.getInput();
  }
  if (perm == SmallVector<int64_t>{0, 1, 2})
    return source;
  // Sizes as values where dynamic: tensor.dim of the source.
  SmallVector<OpFoldResult> sourceSizes = tensor::getMixedSizes(b, loc, source);
  SmallVector<OpFoldResult> sizes;
  for (int64_t p : perm)
    sizes.push_back(sourceSizes[p]);
  Value init = tensor::EmptyOp::create(
      b, loc, sizes, cast<RankedTensorType>(source.getType()).getElementType());
  return linalg::TransposeOp::create(b, loc, source, init, perm)->getResult(0);
}

struct FuseAttentionPass
    : public qforge::impl::FuseAttentionBase<FuseAttentionPass> {
  using FuseAttentionBase::FuseAttentionBase;

  void runOnOperation() override {
    SmallVector<linalg::BatchMatmulOp> candidates;
    getOperation().walk(
        [&](linalg::BatchMatmulOp op) { candidates.push_back(op); });
    for (linalg::BatchMatmulOp pv : candidates) {
      std::optional<AttentionChain> chain = matchChain(pv);
      if (!chain)
        continue;
      // An attention the kernel cannot take says why it stays a chain (as
      // qforge-fuse-qdq reports what stays float).
      if (std::optional<std::string> why = whyNotFused(*chain))
        pv.emitRemark() << "attention not fused: " << *why;
      else
        rewrite(pv, *chain);
    }
  }

  /// Why the runtime's fused attention does not take `chain`, if it does
  /// not.
  std::optional<std::string> whyNotFused(const AttentionChain &chain) {
    auto queryType = cast<RankedTensorType>(chain.query.getType());
    Type element = queryType.getElementType();
    std::string why;
    llvm::raw_string_ostream os(why);
    if (!element.isF16() && !element.isBF16()) {
      os << element << " (the fused kernel is f16 / bf16; an f32 model keeps "
         << "its exact chain)";
      return why;
    }
    for (Value v : {chain.keyTransposed, chain.value, chain.result})
      if (cast<RankedTensorType>(v.getType()).getElementType() != element) {
        os << "mixed element types";
        return why;
      }
    int64_t headDim = queryType.getDimSize(2);
    SmallVector<int64_t> dims(headDims.begin(), headDims.end());
    if (dims.empty())
      dims = {32, 64, 128};
    if (!llvm::is_contained(dims, headDim)) {
      os << "head dim ";
      if (ShapedType::isDynamic(headDim))
        os << "?";
      else
        os << headDim;
      os << " is not one of head-dims (";
      llvm::interleaveComma(dims, os);
      os << ")";
      return why;
    }
    if (!std::isfinite(float(chain.scale))) {
      os << "scale " << chain.scale << " is not a finite f32";
      return why;
    }
    return std::nullopt;
  }

  /// int8 for this chain: asked for, and enough keys when a minimum is set
  /// (the int8 kernel's quantizing pass costs more than it saves on short
  /// sequences; below head dim 128 the products it speeds up are a smaller
  /// share, so a narrow head may need more keys).
  bool takesInt8(const AttentionChain &chain) {
    if (!int8)
      return false;
    auto value = cast<ShapedType>(chain.value.getType());
    int64_t headDim = value.getDimSize(2);
    int64_t minKeys = int8MinKeysNarrow > 0 &&
                              !ShapedType::isDynamic(headDim) && headDim < 128
                          ? int64_t(int8MinKeysNarrow)
                          : int64_t(int8MinKeys);
    if (minKeys <= 0)
      return true;
    int64_t keys = value.getDimSize(1);
    return !ShapedType::isDynamic(keys) && keys >= minKeys;
  }

  void rewrite(linalg::BatchMatmulOp pv, const AttentionChain &chain) {
    OpBuilder b(pv);
    Location loc = pv.getLoc();
    Value key = keyFromTransposed(b, loc, chain.keyTransposed);
    auto attention = qforge::AttentionOp::create(
        b, loc, pv.getResult(0).getType(), chain.query, key, chain.value,
        b.getF32FloatAttr(float(chain.scale)),
        chain.causal ? b.getUnitAttr() : UnitAttr(),
        takesInt8(chain) ? b.getUnitAttr() : UnitAttr());
    pv.getResult(0).replaceAllUsesWith(attention.getResult());
    // Consumers first: each op's users are gone when it is erased.
    for (Operation *op : chain.replaced)
      eraseWithDeadProducers(op);
    if (Operation *t = chain.keyTransposed.getDefiningOp();
        t && t->use_empty() && isa<linalg::TransposeOp>(t))
      eraseWithDeadProducers(t);
  }
};

} // namespace
