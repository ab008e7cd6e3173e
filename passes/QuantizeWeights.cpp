//===- QuantizeWeights.cpp - qforge-quantize-weights ----------------------===//
//
// Finds the constant weight of each quantizable linalg op, follows it back
// through layout ops to its arith.constant while mapping the output-channel
// (and, per group, the reduction) axis into the constant's coordinates, and
// replaces the constant's use on that path by
//   arith.constant (iN) -> quant.scast -> qforge.dequantize
// followed by clones of the layout ops. The weight math is in
// lib/WeightQuantizer.cpp.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/QForgeOps.h"
#include "qforge/Support/WeightQuantizer.h"

#include "numerics.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Transforms/RegionUtils.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SetVector.h"

namespace qforge {
#define GEN_PASS_DEF_QUANTIZEWEIGHTS
#include "passes/Passes.h.inc"
} // namespace qforge

using namespace mlir;
using namespace qforge;

namespace {

/// Where a weight operand comes from: its constant, the layout ops between
/// (constant first), and the quantization axes in the constant's coordinates.
struct WeightSource {
  arith::ConstantOp constant;
  SmallVector<Operation *> layoutOps;
  int64_t channelAxis = -1;
  int64_t groupAxis = -1;
};

/// The loop dimension `expr` is, if it is a plain dimension.
std::optional<unsigned> dimOf(AffineExpr expr) {
  if (auto dim = dyn_cast<AffineDimExpr>(expr))
    return dim.getPosition();
  return std::nullopt;
}

/// Position of loop dimension `dim` among the results of `map`, if plain.
std::optional<int64_t> resultPosition(AffineMap map, unsigned dim) {
  for (auto [i, expr] : llvm::enumerate(map.getResults()))
    if (dimOf(expr) == dim)
      return int64_t(i);
  return std::nullopt;
}

/// The weight's output-channel axis and reduction axis (the one that also
/// indexes the activation plainly: K of a matmul, C of a convolution), read
/// off the indexing maps, so any layout of the named ops is handled alike.
LogicalResult weightAxes(linalg::LinalgOp op, int64_t &channelAxis,
                         int64_t &reductionAxis) {
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  AffineMap lhs = maps[0], rhs = maps[1], out = maps[2];
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  std::optional<int64_t> channel, reduction;
  for (AffineExpr expr : rhs.getResults()) {
    std::optional<unsigned> dim = dimOf(expr);
    if (!dim)
      continue;
    bool inLhs = resultPosition(lhs, *dim).has_value();
    bool inOut = resultPosition(out, *dim).has_value();
    if (inOut && !inLhs)
      channel = resultPosition(rhs, *dim);
    if (inLhs && !inOut && iterators[*dim] == utils::IteratorType::reduction &&
        !reduction)
      reduction = resultPosition(rhs, *dim);
  }
  if (!channel || !reduction)
    return failure();
  channelAxis = *channel;
  reductionAxis = *reduction;
  return success();
}

/// Maps `axis` of a reshape's result to the source dimension holding the same
/// elements with the same stride, if one does.
std::optional<int64_t> mapReshapeAxis(ArrayRef<int64_t> source,
                                      ArrayRef<int64_t> result, int64_t axis) {
  if (ShapedType::isDynamicShape(source) || ShapedType::isDynamicShape(result))
    return std::nullopt;
  int64_t prefix = 1;
  for (int64_t d = 0; d < axis; ++d)
    prefix *= result[d];
  int64_t sourcePrefix = 1;
  for (int64_t s = 0; s < int64_t(source.size()); ++s) {
    if (sourcePrefix == prefix && source[s] == result[axis])
      return s;
    sourcePrefix *= source[s];
  }
  return std::nullopt;
}

/// Maps an axis of a layout op's result to its input; returns the input, or
/// null when `op` is not a layout op qforge looks through.
Value mapThroughLayoutOp(Operation *op, SmallVectorImpl<int64_t *> &axes,
                         bool &representable) {
  representable = true;
  auto mapAll = [&](auto fn) {
    for (int64_t *axis : axes) {
      if (*axis < 0)
        continue;
      std::optional<int64_t> mapped = fn(*axis);
      if (!mapped)
        representable = false;
      else
        *axis = *mapped;
    }
  };
  if (auto transpose = dyn_cast<linalg::TransposeOp>(op)) {
    ArrayRef<int64_t> permutation = transpose.getPermutation();
    mapAll([&](int64_t a) -> std::optional<int64_t> { return permutation[a]; });
    return transpose.getInput();
  }
  if (auto generic = dyn_cast<linalg::GenericOp>(op)) {
    // A pure permutation: one input, identity output map, body yields the
    // input element.
    if (generic.getNumDpsInputs() != 1 || generic.getNumDpsInits() != 1 ||
        !generic.getIndexingMapsArray()[1].isIdentity() ||
        !generic.getIndexingMapsArray()[0].isPermutation())
      return nullptr;
    Block &body = generic.getRegion().front();
    auto yield = dyn_cast<linalg::YieldOp>(body.getTerminator());
    if (!yield || body.getOperations().size() != 1 ||
        yield.getOperand(0) != body.getArgument(0))
      return nullptr;
    AffineMap inputMap = generic.getIndexingMapsArray()[0];
    mapAll([&](int64_t a) { return resultPosition(inputMap, unsigned(a)); });
    return generic.getDpsInputs()[0];
  }
  auto reshape = [&](Value source, Value result) {
    auto sourceShape = cast<ShapedType>(source.getType()).getShape();
    auto resultShape = cast<ShapedType>(result.getType()).getShape();
    mapAll(
        [&](int64_t a) { return mapReshapeAxis(sourceShape, resultShape, a); });
    return source;
  };
  if (auto cast = dyn_cast<tensor::CastOp>(op))
    return cast.getSource();
  if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(op))
    return reshape(collapse.getSrc(), collapse.getResult());
  if (auto expand = dyn_cast<tensor::ExpandShapeOp>(op))
    return reshape(expand.getSrc(), expand.getResult());
  if (auto generalReshape = dyn_cast<tensor::ReshapeOp>(op))
    return reshape(generalReshape.getSource(), generalReshape.getResult());
  return nullptr;
}

/// Reads a float constant's elements as f32 (exact for f16 and bf16).
std::optional<std::vector<float>> readFloats(ElementsAttr attr) {
  Type elementType = attr.getElementType();
  int64_t count = attr.getNumElements();
  ArrayRef<char> raw;
  bool splat = false;
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    raw = dense.getRawData();
    splat = dense.isSplat();
  } else if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return std::nullopt;
    raw = blob->getData();
  } else {
    return std::nullopt;
  }
  size_t width = elementType.isF32() ? 4 : 2;
  if (!splat && raw.size() != size_t(count) * width)
    return std::nullopt;
  std::vector<float> values(static_cast<size_t>(count));
  auto element = [&](int64_t i) -> float {
    const char *p = raw.data() + (splat ? 0 : size_t(i) * width);
    if (elementType.isF32()) {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    uint16_t bits;
    std::memcpy(&bits, p, 2);
    return elementType.isF16() ? rt::halfToFloat(bits) : rt::bf16ToFloat(bits);
  };
  if (elementType.isF32() && !splat) {
    std::memcpy(values.data(), raw.data(), raw.size());
  } else {
    for (int64_t i = 0; i < count; ++i)
      values[size_t(i)] = element(i);
  }
  return values;
}

struct QuantizeWeightsPass
    : public qforge::impl::QuantizeWeightsBase<QuantizeWeightsPass> {
  using QuantizeWeightsBase::QuantizeWeightsBase;

  void runOnOperation() override {
    if (failed(parseOptions()))
      return signalPassFailure();
    SmallVector<linalg::LinalgOp> targets;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (isa<linalg::MatmulOp, linalg::BatchMatmulOp, linalg::Conv2DNhwcHwcfOp,
              linalg::Conv2DNchwFchwOp>(op.getOperation()))
        targets.push_back(op);
    });
    for (linalg::LinalgOp op : targets)
      if (failed(quantizeWeightOf(op)))
        return signalPassFailure();
    eraseDeadLayoutChains();
  }

private:
  LogicalResult parseOptions() {
    if (granularity == "per-channel")
      mode = WeightGranularity::PerChannel;
    else if (granularity == "per-tensor")
      mode = WeightGranularity::PerTensor;
    else if (granularity == "per-group")
      mode = WeightGranularity::PerGroup;
    else
      return getOperation().emitError()
             << "qforge-quantize-weights: unknown granularity '" << granularity
             << "'; expected per-channel, per-tensor or per-group";
    if (bits != 8 && bits != 4)
      return getOperation().emitError()
             << "qforge-quantize-weights: bits must be 8 or 4, got "
             << int(bits);
    if (bits == 4 && mode != WeightGranularity::PerGroup)
      return getOperation().emitError()
             << "qforge-quantize-weights: bits=4 needs granularity=per-group";
    if (mode == WeightGranularity::PerGroup && groupSize <= 0)
      return getOperation().emitError()
             << "qforge-quantize-weights: group-size must be positive, got "
             << int64_t(groupSize);
    return success();
  }

  /// Follows the weight operand to its constant. Returns failure (and emits
  /// a remark) only when a constant was found that cannot be quantized as
  /// asked; a non-constant weight is left alone silently.
  std::optional<WeightSource>
  traceWeight(linalg::LinalgOp op, int64_t channelAxis, int64_t groupAxis) {
    WeightSource source;
    source.channelAxis = channelAxis;
    source.groupAxis = groupAxis;
    Value value = op.getDpsInputs()[1];
    // The first layout op that cannot carry the axis: reported only if the
    // chain does end at a constant (an activation is no weight to remark on).
    Operation *splitting = nullptr;
    while (true) {
      Operation *def = value.getDefiningOp();
      if (!def)
        return std::nullopt;
      if (auto constant = dyn_cast<arith::ConstantOp>(def)) {
        if (!isa<ElementsAttr>(constant.getValue()))
          return std::nullopt;
        if (splitting) {
          op->emitRemark() << "weight left in float: the layout op '"
                           << splitting->getName()
                           << "' splits or merges the quantization axis";
          return std::nullopt;
        }
        source.constant = constant;
        std::reverse(source.layoutOps.begin(), source.layoutOps.end());
        return source;
      }
      SmallVector<int64_t *> axes = {&source.channelAxis, &source.groupAxis};
      bool representable = true;
      Value input = mapThroughLayoutOp(def, axes, representable);
      if (!input)
        return std::nullopt;
      if (!representable && !splitting)
        splitting = def;
      source.layoutOps.push_back(def);
      value = input;
    }
  }

  LogicalResult quantizeWeightOf(linalg::LinalgOp op) {
    int64_t channelAxis = -1, reductionAxis = -1;
    if (failed(weightAxes(op, channelAxis, reductionAxis)))
      return success();
    if (mode == WeightGranularity::PerTensor)
      channelAxis = -1;
    int64_t groupAxis =
        mode == WeightGranularity::PerGroup ? reductionAxis : -1;
    std::optional<WeightSource> source =
        traceWeight(op, channelAxis, groupAxis);
    if (!source)
      return success();
    auto constantType = cast<RankedTensorType>(source->constant.getType());
    Type elementType = constantType.getElementType();
    if (!elementType.isF32() && !elementType.isF16() && !elementType.isBF16()) {
      op->emitRemark() << "weight left in float: element type " << elementType
                       << " is not f32, f16 or bf16";
      return success();
    }
    FailureOr<Value> dequantized = dequantizedConstant(op, *source);
    if (failed(dequantized))
      return failure();
    if (!*dequantized) // left in float, with a remark saying why
      return success();

    // Re-create the layout path from the dequantized weight to this op; the
    // float path stays for any other user and is erased if none is left.
    OpBuilder builder(op);
    Value current = *dequantized;
    for (Operation *layoutOp : source->layoutOps) {
      IRMapping mapping;
      mapping.map(layoutOp->getOperand(0), current);
      Operation *clone = builder.clone(*layoutOp, mapping);
      current = clone->getResult(0);
      touched.insert(layoutOp);
    }
    op->setOperand(1, current);
    touched.insert(source->constant);
    return success();
  }

  /// The dequantized form of a constant for the given axes, created once;
  /// a null value when the weight stays float (remarked), failure on error.
  FailureOr<Value> dequantizedConstant(linalg::LinalgOp op,
                                       WeightSource source) {
    auto key = std::make_tuple(source.constant.getOperation(),
                               source.channelAxis, source.groupAxis);
    auto found = cache.find(key);
    if (found != cache.end())
      return found->second;

    auto constantType = cast<RankedTensorType>(source.constant.getType());
    auto attr = cast<ElementsAttr>(source.constant.getValue());
    std::optional<std::vector<float>> values = readFloats(attr);
    if (!values) {
      op->emitRemark() << "weight left in float: its constant's data cannot "
                          "be read";
      return Value();
    }
    WeightQuantSpec spec;
    spec.granularity = mode;
    spec.channelAxis = source.channelAxis;
    spec.groupAxis = source.groupAxis;
    spec.groupSize = groupSize;
    spec.bits = bits;
    llvm::Expected<QuantizedWeight> quantized =
        quantizeWeight(*values, constantType.getShape(), spec);
    if (!quantized) {
      InFlightDiagnostic diag =
          op->emitError() << "cannot quantize the weight of '" << op->getName()
                          << "': " << llvm::toString(quantized.takeError());
      diag.attachNote(source.constant.getLoc())
          << "weight constant defined here";
      return failure();
    }

    MLIRContext *context = op->getContext();
    Type expressed = constantType.getElementType();
    auto storage = IntegerType::get(context, unsigned(bits));
    quant::QuantizedType qtype =
        quantizedType(*quantized, source, storage, expressed);
    OpBuilder builder(context);
    builder.setInsertionPointAfter(source.constant);
    Location loc = source.constant.getLoc();
    auto storageTensor =
        RankedTensorType::get(constantType.getShape(), storage);
    Attribute codes = codesAttr(attr, storageTensor, quantized->codes);
    Value integers = arith::ConstantOp::create(builder, loc, storageTensor,
                                               cast<TypedAttr>(codes));
    auto quantTensor = RankedTensorType::get(constantType.getShape(), qtype);
    Value cast =
        quant::StorageCastOp::create(builder, loc, quantTensor, integers);
    Value dequantized =
        DequantizeOp::create(builder, loc, constantType, cast).getResult();
    cache[key] = dequantized;
    return dequantized;
  }

  quant::QuantizedType quantizedType(const QuantizedWeight &q,
                                     const WeightSource &source, Type storage,
                                     Type expressed) {
    unsigned flags = quant::QuantizationFlags::Signed;
    if (mode == WeightGranularity::PerTensor)
      return quant::UniformQuantizedType::get(flags, storage, expressed,
                                              q.scales[0], 0, -q.qmax, q.qmax);
    if (mode == WeightGranularity::PerChannel) {
      SmallVector<double> scales(q.scales.begin(), q.scales.end());
      SmallVector<int64_t> zeros(scales.size(), 0);
      return quant::UniformQuantizedPerAxisType::get(
          flags, storage, expressed, scales, zeros, int32_t(source.channelAxis),
          -q.qmax, q.qmax);
    }
    // Per group: block 1 along the channel axis, group-size along the
    // reduction axis, with the scales as a tensor of the same rank.
    auto scalesType = RankedTensorType::get(q.scalesShape, expressed);
    SmallVector<APFloat> scaleValues;
    for (float s : q.scales) {
      APFloat value(s);
      bool lost;
      value.convert(cast<FloatType>(expressed).getFloatSemantics(),
                    APFloat::rmNearestTiesToEven, &lost);
      scaleValues.push_back(value);
    }
    auto scales = DenseElementsAttr::get(scalesType, scaleValues);
    auto zeroType = RankedTensorType::get(q.scalesShape, storage);
    auto zeros = DenseElementsAttr::get(
        zeroType, APInt(storage.getIntOrFloatBitWidth(), 0));
    SmallVector<int32_t> dims = {int32_t(source.channelAxis),
                                 int32_t(source.groupAxis)};
    SmallVector<int64_t> blocks = {1, groupSize};
    return quant::UniformQuantizedSubChannelType::get(flags, storage, expressed,
                                                      scales, zeros, dims,
                                                      blocks, -q.qmax, q.qmax);
  }

  /// The integer codes as an attribute of the same kind as the float one: a
  /// dense_resource blob stays a blob (named after the original with an
  /// `_i8` / `_i4` suffix), anything else becomes a dense attribute.
  Attribute codesAttr(ElementsAttr original, RankedTensorType type,
                      ArrayRef<int8_t> codes) {
    if (auto resource = dyn_cast<DenseResourceElementsAttr>(original);
        resource && bits == 8) {
      std::string name =
          (resource.getRawHandle().getKey() + "_i" + Twine(bits)).str();
      return DenseI8ResourceElementsAttr::get(
          type, name, HeapAsmResourceBlob::allocateAndCopyInferAlign(codes));
    }
    if (bits == 8)
      return DenseElementsAttr::get(type, codes);
    SmallVector<APInt> values;
    values.reserve(codes.size());
    for (int8_t c : codes)
      values.push_back(APInt(unsigned(bits), uint64_t(int64_t(c)), true));
    return DenseElementsAttr::get(type, values);
  }

  /// Erases the float constants and layout ops no user is left for, users
  /// before producers (repeated until nothing more goes).
  void eraseDeadLayoutChains() {
    bool erased = true;
    while (erased) {
      erased = false;
      for (Operation *op : touched.takeVector()) {
        if (isOpTriviallyDead(op)) {
          op->erase();
          erased = true;
        } else {
          touched.insert(op);
        }
      }
    }
  }

  WeightGranularity mode = WeightGranularity::PerChannel;
  std::map<std::tuple<Operation *, int64_t, int64_t>, Value> cache;
  llvm::SetVector<Operation *> touched; // float ops that may now be dead
};

} // namespace
