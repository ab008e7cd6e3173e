//===- FuseQDQ.cpp - qforge-fuse-qdq --------------------------------------===//
//
// QDQ matmuls -> integer qforge.matmul. The activation's quantize stays (it
// is the one quantization the integer op needs); the weight's int8 constant
// is used directly; both scales become the matmul's epilogue vectors.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/QForgeOps.h"
#include "passes/Activation.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"

#include <cmath>

namespace qforge {
#define GEN_PASS_DEF_FUSEQDQ
#include "passes/Passes.h.inc"
} // namespace qforge

using namespace mlir;
using namespace qforge;

namespace {

/// The int8 weight behind a matmul's rhs, in [N, K] (`transposed`) or
/// [K, N] layout, with its per-output-channel (or per-tensor) scales.
struct IntWeight {
  Value codes;
  bool transposed = false;
  SmallVector<float> scales;
};

/// Why a matmul stays float (for remarks), or success.
using Reason = std::string;

/// The float types the runtime's GEMM epilogue writes (and per-token
/// quantization reads): f32, f16, bf16.
bool isRuntimeFloat(Type type) {
  return type.isF32() || type.isF16() || type.isBF16();
}

/// Whether `vector` can be an f32 epilogue vector: an f32 value, or a
/// constant of f16 / bf16 (asF32Vector converts it).
bool convertibleToF32(Value vector) {
  Type element = cast<RankedTensorType>(vector.getType()).getElementType();
  return element.isF32() ||
         (isRuntimeFloat(element) && matchPattern(vector, m_Constant()));
}

/// `vector` (convertibleToF32) as f32: itself, or its constant values
/// converted (exactly) into a new f32 constant.
Value asF32Vector(OpBuilder &b, Location loc, Value vector) {
  auto type = cast<RankedTensorType>(vector.getType());
  if (type.getElementType().isF32())
    return vector;
  DenseElementsAttr values;
  matchPattern(vector, m_Constant(&values));
  SmallVector<float> converted;
  for (const APFloat &v : values.getValues<APFloat>())
    converted.push_back(v.convertToFloat());
  auto f32 = RankedTensorType::get(type.getShape(), b.getF32Type());
  return arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(f32, ArrayRef(converted)));
}

bool isZeroFill(Value init) {
  auto fill = init.getDefiningOp<linalg::FillOp>();
  if (!fill)
    return false;
  return matchPattern(fill.getInputs()[0], m_AnyZeroFloat());
}

/// Per-axis scales of `q` along `axis`, or its one per-tensor scale; fails
/// for non-zero zero points or another axis.
FailureOr<SmallVector<float>> symmetricScales(quant::QuantizedType q,
                                              int64_t axis) {
  SmallVector<float> scales;
  if (auto u = dyn_cast<quant::UniformQuantizedType>(q)) {
    if (u.getZeroPoint() != 0)
      return failure();
    scales.push_back(float(u.getScale()));
    return scales;
  }
  auto perAxis = dyn_cast<quant::UniformQuantizedPerAxisType>(q);
  if (!perAxis || perAxis.getQuantizedDimension() != axis ||
      llvm::any_of(perAxis.getZeroPoints(), [](int64_t z) { return z != 0; }))
    return failure();
  for (double s : perAxis.getScales())
    scales.push_back(float(s));
  return scales;
}

/// The constant int8 codes behind `dequantize(quant.scast(constant))` and
/// their symmetric scales along `axis` (one when per tensor), into
/// `weight.codes` and `weight.scales`; failure with the reason otherwise.
LogicalResult constantInt8Codes(Value dequantized, int64_t axis,
                                IntWeight &weight, Reason &why) {
  auto dq = dequantized.getDefiningOp<DequantizeOp>();
  if (!dq) {
    why =
        "the weight is not dequantized from int8 (run qforge-quantize-weights)";
    return failure();
  }
  auto storageCast = dq.getInput().getDefiningOp<quant::StorageCastOp>();
  if (!storageCast || !matchPattern(storageCast.getInput(), m_Constant())) {
    why = "the weight's int8 codes are not a constant";
    return failure();
  }
  auto q = cast<quant::QuantizedType>(dq.getInput().getType().getElementType());
  if (q.getStorageTypeIntegralWidth() != 8 || !q.isSigned() ||
      !isRuntimeFloat(q.getExpressedType())) {
    why = "the weight is not signed int8 with an f32, f16 or bf16 expressed "
          "type";
    return failure();
  }
  FailureOr<SmallVector<float>> scales = symmetricScales(q, axis);
  if (failed(scales)) {
    why = "the weight is not symmetric per-tensor or per-output-channel";
    return failure();
  }
  weight.codes = storageCast.getInput();
  weight.scales = *scales;
  return success();
}

/// Follows rhs (the [K, N] operand of the default maps, or [N, K] with a
/// transposed-B map) back to an int8 constant.
FailureOr<IntWeight> intWeight(Value rhs, bool rhsIsNK, Reason &why) {
  bool transposed = rhsIsNK;
  if (auto t = rhs.getDefiningOp<linalg::TransposeOp>()) {
    if (t.getPermutation() != ArrayRef<int64_t>{1, 0}) {
      why = "the weight's transpose is not a 2-D [1, 0] permutation";
      return failure();
    }
    rhs = t.getInput();
    transposed = !transposed;
  }
  // Output channel N: axis 0 of an [N, K] weight, axis 1 of [K, N].
  IntWeight weight;
  weight.transposed = transposed;
  if (failed(constantInt8Codes(rhs, transposed ? 0 : 1, weight, why)))
    return failure();
  return weight;
}

struct FuseQDQPass : public qforge::impl::FuseQDQBase<FuseQDQPass> {
  using FuseQDQBase::FuseQDQBase;

  void runOnOperation() override {
    sinkDequantizes();
    SmallVector<linalg::MatmulOp> matmuls;
    getOperation().walk([&](linalg::MatmulOp op) { matmuls.push_back(op); });
    for (linalg::MatmulOp op : matmuls) {
      Reason why;
      if (failed(fuse(op, why)) && remarks && !why.empty())
        op.emitRemark() << "not fused into qforge.matmul: " << why;
    }
    SmallVector<linalg::Conv2DNhwcHwcfOp> convs;
    getOperation().walk(
        [&](linalg::Conv2DNhwcHwcfOp op) { convs.push_back(op); });
    for (linalg::Conv2DNhwcHwcfOp op : convs) {
      Reason why;
      if (failed(fuseConv(op, why)) && remarks && !why.empty())
        op.emitRemark() << "not fused into qforge.matmul: " << why;
    }
    SmallVector<linalg::BatchMatmulOp> batched;
    getOperation().walk(
        [&](linalg::BatchMatmulOp op) { batched.push_back(op); });
    for (linalg::BatchMatmulOp op : batched) {
      Reason why;
      if (failed(fuseBatched(op, why)) && remarks && !why.empty())
        op.emitRemark() << "not fused into qforge.matmul: " << why;
    }
    removeRedundantPairs();
    fuseRequantizedOutputs();
    getOperation().walk(
        [&](DynamicQuantizeOp op) { moveGeluIntoQuantize(op); });
  }

private:
  /// The quantized value and per-tensor scale behind `dequantize(q)` of a
  /// symmetric int8 activation, or failure.
  static FailureOr<std::pair<Value, float>> staticActivation(Value v) {
    auto dq = v.getDefiningOp<DequantizeOp>();
    if (!dq)
      return failure();
    auto q = dyn_cast<quant::UniformQuantizedType>(
        dq.getInput().getType().getElementType());
    if (!q || q.getStorageTypeIntegralWidth() != 8 || !q.isSigned() ||
        q.getZeroPoint() != 0 || !isRuntimeFloat(q.getExpressedType()))
      return failure();
    return std::make_pair(Value(dq.getInput()), float(q.getScale()));
  }

  /// `quantized` (a !quant.uniform tensor) reinterpreted as its i8 codes.
  static Value codesOf(OpBuilder &b, Location loc, Value quantized) {
    auto type = cast<RankedTensorType>(quantized.getType());
    return quant::StorageCastOp::create(
        b, loc, RankedTensorType::get(type.getShape(), b.getI8Type()),
        quantized);
  }

  /// batch_matmul [B,M,K] x [B,K,N] with a static symmetric int8 lhs and an
  /// rhs that is either a static int8 activation (attention's products) or
  /// an int8 constant weight (per-tensor, or per output channel on axis 2).
  LogicalResult fuseBatched(linalg::BatchMatmulOp op, Reason &why) {
    if (!op.getDpsInputs()[0].getDefiningOp<DequantizeOp>())
      return failure();
    MLIRContext *ctx = op.getContext();
    AffineExpr bd, m, n, k;
    bindDims(ctx, bd, m, n, k);
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    if (maps[0] != AffineMap::get(4, 0, {bd, m, k}, ctx) ||
        maps[1] != AffineMap::get(4, 0, {bd, k, n}, ctx) ||
        maps[2] != AffineMap::get(4, 0, {bd, m, n}, ctx)) {
      why = "unsupported indexing maps";
      return failure();
    }
    auto resultType = cast<RankedTensorType>(op.getResult(0).getType());
    if (!resultType.getElementType().isF32() ||
        !isZeroFill(op.getDpsInits()[0])) {
      why = "the result is not f32 or the init is not a zero fill";
      return failure();
    }
    FailureOr<std::pair<Value, float>> lhs =
        staticActivation(op.getDpsInputs()[0]);
    if (failed(lhs)) {
      why = "the activation is not symmetric per-tensor int8";
      return failure();
    }
    Value rhsQuantized, rhsCodes;
    SmallVector<float> scales;
    Value rhs = op.getDpsInputs()[1];
    if (FailureOr<std::pair<Value, float>> act = staticActivation(rhs);
        succeeded(act)) {
      rhsQuantized = act->first;
      scales.push_back(act->second);
    } else {
      auto dq = rhs.getDefiningOp<DequantizeOp>();
      auto storageCast =
          dq ? dq.getInput().getDefiningOp<quant::StorageCastOp>() : nullptr;
      FailureOr<SmallVector<float>> weightScales = failure();
      if (storageCast)
        weightScales =
            symmetricScales(cast<quant::QuantizedType>(
                                dq.getInput().getType().getElementType()),
                            2);
      if (!storageCast || !matchPattern(storageCast.getInput(), m_Constant()) ||
          failed(weightScales)) {
        why = "the rhs is neither a static int8 activation nor an int8 "
              "weight with per-tensor or per-output-channel scales";
        return failure();
      }
      rhsCodes = storageCast.getInput();
      scales = *weightScales;
    }
    for (float &scale : scales)
      scale *= lhs->second; // fold the static lhs scale
    OpBuilder b(op);
    auto type = RankedTensorType::get({int64_t(scales.size())}, b.getF32Type());
    Value rhsScale = arith::ConstantOp::create(
        b, op.getLoc(), DenseElementsAttr::get(type, ArrayRef(scales)));
    if (rhsQuantized)
      rhsCodes = codesOf(b, op.getLoc(), rhsQuantized);
    Value lhsCodes = codesOf(b, op.getLoc(), lhs->first);
    auto fused = MatmulOp::create(b, op.getLoc(), resultType, lhsCodes,
                                  rhsCodes, Value(), rhsScale, Value(),
                                  /*rhs_transposed=*/false, Activation::none);
    op.getResult(0).replaceAllUsesWith(fused.getResult());
    op.erase();
    return success();
  }

  LogicalResult fuse(linalg::MatmulOp op, Reason &why) {
    auto lhsDq = op.getDpsInputs()[0].getDefiningOp<DequantizeOp>();
    if (!lhsDq && !dynamic)
      return failure(); // a float matmul: nothing to say
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    MLIRContext *ctx = op.getContext();
    AffineExpr m, n, k;
    bindDims(ctx, m, n, k);
    auto map = [&](ArrayRef<AffineExpr> results) {
      return AffineMap::get(3, 0, results, ctx);
    };
    if (maps[0] != map({m, k}) || maps[2] != map({m, n}) ||
        (maps[1] != map({k, n}) && maps[1] != map({n, k}))) {
      why = "unsupported indexing maps";
      return failure();
    }
    bool rhsIsNK = maps[1] == map({n, k});
    auto resultType = cast<RankedTensorType>(op.getResult(0).getType());
    if (!isRuntimeFloat(resultType.getElementType())) {
      why = "the result is not f32, f16 or bf16";
      return failure();
    }
    if (!isZeroFill(op.getDpsInits()[0])) {
      why = "the matmul accumulates into a non-zero (or unknown) init";
      return failure();
    }
    quant::UniformQuantizedType xq;
    if (lhsDq) {
      xq = dyn_cast<quant::UniformQuantizedType>(
          lhsDq.getInput().getType().getElementType());
      if (!xq || xq.getStorageTypeIntegralWidth() != 8 || !xq.isSigned()) {
        why = "the activation is not per-tensor signed int8";
        return failure();
      }
      if (xq.getZeroPoint() != 0 && dynamic) {
        why = "the activation is asymmetric in a dynamic fusion";
        return failure();
      }
    } else if (!isRuntimeFloat(
                   cast<RankedTensorType>(op.getDpsInputs()[0].getType())
                       .getElementType())) {
      why = "the activation is not f32, f16 or bf16";
      return failure();
    }
    FailureOr<IntWeight> weight = intWeight(op.getDpsInputs()[1], rhsIsNK, why);
    if (failed(weight))
      return failure();

    OpBuilder b(op);
    Location loc = op.getLoc();
    auto vector = [&](ArrayRef<float> values) -> Value {
      auto type =
          RankedTensorType::get({int64_t(values.size())}, b.getF32Type());
      return arith::ConstantOp::create(b, loc,
                                       DenseElementsAttr::get(type, values));
    };
    Value lhs, lhsScale;
    if (lhsDq) {
      // Static: the calibrated quantize feeds the integer op.
      auto lhsType = cast<RankedTensorType>(lhsDq.getInput().getType());
      lhs = quant::StorageCastOp::create(
          b, loc, RankedTensorType::get(lhsType.getShape(), b.getI8Type()),
          lhsDq.getInput());
      // The static activation scale is a constant: fold sx * sw[c] into
      // one per-channel vector (computed in f32, as the runtime's epilogue
      // would multiply them) and drop the lhs scale.
      float sx = float(xq.getScale());
      for (float &scale : weight->scales)
        scale = sx * scale;
    } else {
      // Dynamic: per-token scales computed at run time.
      Value x = op.getDpsInputs()[0];
      auto xType = cast<RankedTensorType>(x.getType());
      auto quantized = DynamicQuantizeOp::create(
          b, loc, RankedTensorType::get(xType.getShape(), b.getI8Type()),
          RankedTensorType::get({xType.getDimSize(0)}, b.getF32Type()), x,
          Granularity::per_token);
      lhs = quantized.getResult();
      lhsScale = quantized.getScales();
    }
    Value rhsScale = vector(weight->scales);
    // An asymmetric activation x = sx (q - zx): the GEMM sums q * w, so the
    // accumulator is off by zx * sum_k w[k, c]; an i32 bias takes it back.
    Value bias;
    if (lhsDq && xq.getZeroPoint() != 0) {
      FailureOr<Value> correction =
          zeroPointCorrection(b, loc, *weight, xq.getZeroPoint(), why);
      if (failed(correction))
        return failure();
      bias = *correction;
    }
    auto fused =
        MatmulOp::create(b, loc, resultType, lhs, weight->codes, lhsScale,
                         rhsScale, bias, weight->transposed, Activation::none);
    op.getResult(0).replaceAllUsesWith(fused.getResult());
    op.erase();
    splitBiasPrologue(fused.getResult());
    fuseGelu(fuseEpilogue(fused));
    return success();
  }

  /// -zx * sum_k w[k, c] per output channel c, as an i32 vector: the
  /// accumulator-domain correction of an asymmetric activation.
  static FailureOr<Value> zeroPointCorrection(OpBuilder &b, Location loc,
                                              const IntWeight &weight,
                                              int64_t zeroPoint, Reason &why) {
    ElementsAttr codes;
    if (!matchPattern(weight.codes, m_Constant(&codes))) {
      why = "the weight's codes cannot be read (asymmetric activation)";
      return failure();
    }
    auto values = codes.tryGetValues<int8_t>();
    if (!values) {
      why = "the weight's codes cannot be read (asymmetric activation)";
      return failure();
    }
    auto shape = cast<ShapedType>(codes.getType()).getShape();
    // [N, K] when transposed, [K, N] otherwise.
    int64_t n = weight.transposed ? shape[0] : shape[1];
    int64_t k = weight.transposed ? shape[1] : shape[0];
    SmallVector<int64_t> sums(static_cast<size_t>(n), 0);
    int64_t index = 0;
    for (int8_t code : *values) {
      int64_t row = index / shape[1], col = index % shape[1];
      sums[size_t(weight.transposed ? row : col)] += code;
      ++index;
    }
    SmallVector<int32_t> correction;
    for (int64_t sum : sums) {
      int64_t value = -zeroPoint * sum;
      // |acc| <= K * 128 * 128; the sum must stay an i32.
      if (std::llabs(value) > 2147483647LL - k * 128 * 128) {
        why = "the zero-point correction would overflow the i32 accumulator";
        return failure();
      }
      correction.push_back(int32_t(value));
    }
    auto type = RankedTensorType::get({n}, b.getI32Type());
    return Value(arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(type, ArrayRef(correction))));
  }

  /// conv_2d_nhwc_hwcf on the int8 GEMM: the activation's codes (static) or
  /// values (dynamic) are unfolded into [N*OH*OW, KH*KW*C] patches (im2col,
  /// one linalg.generic reading x[n, oh*sh + kh*dh, ow*sw + kw*dw, c]), the
  /// [KH, KW, C, F] weight is viewed as [KH*KW*C, F], one qforge.matmul with
  /// the per-F scales computes [N*OH*OW, F], and an expand_shape gives the
  /// NHWF result back. Static shapes; symmetric per-tensor activations.
  LogicalResult fuseConv(linalg::Conv2DNhwcHwcfOp op, Reason &why) {
    auto lhsDq = op.getInputs()[0].getDefiningOp<DequantizeOp>();
    if (!lhsDq && !dynamic)
      return failure();
    auto inType = cast<RankedTensorType>(op.getInputs()[0].getType());
    auto resultType = cast<RankedTensorType>(op.getResult(0).getType());
    auto filterType = cast<RankedTensorType>(op.getInputs()[1].getType());
    if (!inType.hasStaticShape() || !resultType.hasStaticShape() ||
        !filterType.hasStaticShape()) {
      why = "the convolution has dynamic shapes";
      return failure();
    }
    if (!resultType.getElementType().isF32() ||
        !isZeroFill(op.getOutputs()[0])) {
      why = "the result is not f32 or the init is not a zero fill";
      return failure();
    }
    // The filter: int8 codes, per-tensor or per-F (axis 3) scales.
    IntWeight filterCodes;
    if (failed(constantInt8Codes(op.getInputs()[1], 3, filterCodes, why)))
      return failure();
    float sx = 1.0f;
    if (lhsDq) {
      auto xq = dyn_cast<quant::UniformQuantizedType>(
          lhsDq.getInput().getType().getElementType());
      if (!xq || xq.getStorageTypeIntegralWidth() != 8 || !xq.isSigned() ||
          xq.getZeroPoint() != 0) {
        why = "the activation is not symmetric per-tensor int8";
        return failure();
      }
      sx = float(xq.getScale());
    }
    SmallVector<int64_t> strides(op.getStrides().getValues<int64_t>());
    SmallVector<int64_t> dilations(op.getDilations().getValues<int64_t>());
    ArrayRef<int64_t> in = inType.getShape(), out = resultType.getShape(),
                      filter = filterType.getShape();
    int64_t n = in[0], c = in[3], oh = out[1], ow = out[2], kh = filter[0],
            kw = filter[1], f = filter[3];
    int64_t rows = n * oh * ow, depth = kh * kw * c;

    OpBuilder b(op);
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    // Patches of the codes (static) or of the float input (dynamic).
    Value source = lhsDq ? quant::StorageCastOp::create(
                               b, loc, RankedTensorType::get(in, b.getI8Type()),
                               lhsDq.getInput())
                               .getResult()
                         : op.getInputs()[0];
    Type element = cast<RankedTensorType>(source.getType()).getElementType();
    SmallVector<int64_t> patchShape = {n, oh, ow, kh, kw, c};
    Value patchInit = tensor::EmptyOp::create(b, loc, patchShape, element);
    AffineExpr dn, doh, dow, dkh, dkw, dc;
    bindDims(ctx, dn, doh, dow, dkh, dkw, dc);
    AffineMap read = AffineMap::get(6, 0,
                                    {dn, doh * strides[0] + dkh * dilations[0],
                                     dow * strides[1] + dkw * dilations[1], dc},
                                    ctx);
    AffineMap write = AffineMap::getMultiDimIdentityMap(6, ctx);
    SmallVector<utils::IteratorType> parallel(6, utils::IteratorType::parallel);
    auto patches = linalg::GenericOp::create(
        b, loc, patchInit.getType(), source, patchInit,
        ArrayRef<AffineMap>{read, write}, parallel,
        [](OpBuilder &nb, Location nl, ValueRange args) {
          linalg::YieldOp::create(nb, nl, args[0]);
        });
    SmallVector<ReassociationIndices> rowsCols = {{0, 1, 2}, {3, 4, 5}};
    Value lhs = tensor::CollapseShapeOp::create(
        b, loc, RankedTensorType::get({rows, depth}, element),
        patches.getResult(0), rowsCols);
    Value lhsScale;
    if (!lhsDq) {
      auto quantized = DynamicQuantizeOp::create(
          b, loc, RankedTensorType::get({rows, depth}, b.getI8Type()),
          RankedTensorType::get({rows}, b.getF32Type()), lhs,
          Granularity::per_token);
      lhs = quantized.getResult();
      lhsScale = quantized.getScales();
    }
    SmallVector<ReassociationIndices> depthF = {{0, 1, 2}, {3}};
    Value rhs = tensor::CollapseShapeOp::create(
        b, loc, RankedTensorType::get({depth, f}, b.getI8Type()),
        filterCodes.codes, depthF);
    SmallVector<float> rhsScales;
    for (float s : filterCodes.scales)
      rhsScales.push_back(sx * s);
    auto scaleType =
        RankedTensorType::get({int64_t(rhsScales.size())}, b.getF32Type());
    Value rhsScale = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(scaleType, ArrayRef(rhsScales)));
    auto matmul = MatmulOp::create(
        b, loc, RankedTensorType::get({rows, f}, b.getF32Type()), lhs, rhs,
        lhsScale, rhsScale, /*bias=*/Value(), /*rhsTransposed=*/false,
        Activation::none);
    // A per-channel epilogue after the conv (bias along F, relu, scale):
    // the same elementwise op on the [N*OH*OW, F] product folds into the
    // GEMM's epilogue like a linear layer's.
    if (auto epilogue = channelEpilogue(op.getResult(0))) {
      OpBuilder gb(epilogue);
      MatmulOp fused =
          fuseEpilogue(flatEpilogue(gb, epilogue, matmul, rows, f));
      Value result = tensor::ExpandShapeOp::create(
          gb, epilogue.getLoc(), resultType, fused.getResult(), depthF);
      epilogue.getResult(0).replaceAllUsesWith(result);
      epilogue.erase();
      op.erase();
      return success();
    }
    Value result = tensor::ExpandShapeOp::create(b, loc, resultType,
                                                 matmul.getResult(), depthF);
    op.getResult(0).replaceAllUsesWith(result);
    op.erase();
    return success();
  }

  /// The conv result's only user, if it is an elementwise generic over the
  /// NHWF result with 1-D inputs along F (what a bias / relu / per-channel
  /// scale after a conv is).
  static linalg::GenericOp channelEpilogue(Value convResult) {
    if (!convResult.hasOneUse())
      return nullptr;
    auto generic = dyn_cast<linalg::GenericOp>(*convResult.getUsers().begin());
    if (!generic || generic.getNumDpsInits() != 1 ||
        generic.getDpsInputs().empty() ||
        generic.getDpsInputs()[0] != convResult ||
        generic.getResult(0).getType() != convResult.getType() ||
        llvm::any_of(generic.getIteratorTypesArray(),
                     [](auto t) { return t != utils::IteratorType::parallel; }))
      return nullptr;
    MLIRContext *ctx = generic.getContext();
    AffineMap alongF = AffineMap::get(4, 0, {getAffineDimExpr(3, ctx)}, ctx);
    SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
    unsigned inputs = generic.getNumDpsInputs();
    if (!maps[0].isIdentity() || !maps[inputs].isIdentity())
      return nullptr;
    for (unsigned i = 1; i < inputs; ++i)
      if (maps[i] != alongF)
        return nullptr;
    return generic;
  }

  /// `epilogue` (NHWF) rewritten over the [rows, f] product of `matmul`,
  /// the same body; returns the matmul for fuseEpilogue to fold it into.
  static MatmulOp flatEpilogue(OpBuilder &b, linalg::GenericOp epilogue,
                               MatmulOp matmul, int64_t rows, int64_t f) {
    Location loc = epilogue.getLoc();
    MLIRContext *ctx = epilogue.getContext();
    auto flatType = RankedTensorType::get({rows, f}, b.getF32Type());
    Value init = tensor::EmptyOp::create(b, loc, flatType.getShape(),
                                         flatType.getElementType());
    SmallVector<Value> inputs = {matmul.getResult()};
    SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(2, ctx)};
    SmallVector<Value> epilogueInputs = epilogue.getDpsInputs();
    for (Value v : ArrayRef<Value>(epilogueInputs).drop_front()) {
      inputs.push_back(v);
      maps.push_back(AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx));
    }
    maps.push_back(AffineMap::getMultiDimIdentityMap(2, ctx));
    auto flat = linalg::GenericOp::create(
        b, loc, TypeRange{flatType}, inputs, ValueRange{init}, maps,
        SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel));
    IRMapping mapping;
    epilogue.getRegion().cloneInto(&flat.getRegion(), mapping);
    return matmul;
  }

  /// A generic after `value` computing gelu(x + bias[n]) in one body (a
  /// bias add fused with the activation, as some frontends and fusion
  /// passes write it) is split in two: x + bias[n], then GELU on the sum;
  /// the epilogue folds can then take both. Nothing else is changed.
  void splitBiasPrologue(Value value) {
    if (!value.hasOneUse())
      return;
    auto generic = dyn_cast<linalg::GenericOp>(*value.getUsers().begin());
    if (!generic || generic.getNumDpsInputs() != 2 ||
        generic.getNumDpsInits() != 1 || generic.getDpsInputs()[0] != value ||
        generic.getResult(0).getType() != value.getType())
      return;
    MLIRContext *ctx = generic.getContext();
    SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
    AffineMap alongN = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
    if (!maps[0].isIdentity() || maps[1] != alongN || !maps[2].isIdentity())
      return;
    Block &body = generic.getRegion().front();
    arith::AddFOp add = biasAdd(body);
    if (!add || !body.getArgument(2).use_empty())
      return;
    auto yield = cast<linalg::YieldOp>(body.getTerminator());
    if (yield.getOperand(0) == add.getResult())
      return; // already a plain bias add
    OpBuilder b(generic);
    Location loc = generic.getLoc();
    auto type = cast<RankedTensorType>(value.getType());
    SmallVector<Value> sizes;
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.isDynamicDim(d))
        sizes.push_back(tensor::DimOp::create(b, loc, value, d));
    auto emptyLike = [&]() -> Value {
      return tensor::EmptyOp::create(b, loc, type.getShape(),
                                     type.getElementType(), sizes);
    };
    SmallVector<utils::IteratorType> parallel(2, utils::IteratorType::parallel);
    auto biased = linalg::GenericOp::create(
        b, loc, TypeRange{type}, ValueRange{value, generic.getDpsInputs()[1]},
        ValueRange{emptyLike()}, ArrayRef<AffineMap>{maps[0], alongN, maps[2]},
        parallel, [](OpBuilder &nb, Location nl, ValueRange args) {
          linalg::YieldOp::create(
              nb, nl,
              arith::AddFOp::create(nb, nl, args[0], args[1]).getResult());
        });
    // The rest of the body, on the sum.
    auto rest = linalg::GenericOp::create(
        b, loc, TypeRange{type}, ValueRange{biased.getResult(0)},
        ValueRange{emptyLike()}, ArrayRef<AffineMap>{maps[0], maps[2]},
        parallel);
    Block *restBody = b.createBlock(
        &rest.getRegion(), {}, {type.getElementType(), type.getElementType()},
        {loc, loc});
    IRMapping mapping;
    mapping.map(add.getResult(), restBody->getArgument(0));
    b.setInsertionPointToStart(restBody);
    for (Operation &op : body.getOperations())
      if (&op != add.getOperation())
        b.clone(op, mapping);
    // Only a GELU is worth the split (fuseGelu takes it); bias + relu and
    // the like already fold as one generic.
    if (!computesGelu(*restBody)) {
      rest.erase();
      biased.erase();
      return;
    }
    generic.getResult(0).replaceAllUsesWith(rest.getResult(0));
    generic.erase();
  }

  /// Folds a following elementwise GELU (erf form, recognised by what it
  /// computes) into the matmul's activation, after any bias was folded.
  void fuseGelu(MatmulOp matmul) {
    Value result = matmul.getResult();
    if (matmul.getActivation() != Activation::none || !result.hasOneUse())
      return;
    auto generic = dyn_cast<linalg::GenericOp>(*result.getUsers().begin());
    if (!generic || generic.getNumDpsInputs() != 1 ||
        generic.getNumDpsInits() != 1 || generic.getDpsInputs()[0] != result ||
        generic.getResult(0).getType() != result.getType() ||
        !llvm::all_of(generic.getIndexingMapsArray(),
                      [](AffineMap m) { return m.isIdentity(); }) ||
        !computesGelu(generic.getRegion().front()))
      return;
    OpBuilder b(generic);
    auto fused = MatmulOp::create(
        b, generic.getLoc(), result.getType(), matmul.getLhs(), matmul.getRhs(),
        matmul.getLhsScale(), matmul.getRhsScale(), matmul.getBias(),
        matmul.getRhsTransposed(), Activation::gelu);
    generic.getResult(0).replaceAllUsesWith(fused.getResult());
    generic.erase();
    matmul.erase();
  }

  /// A GELU matmul whose only user is a per-token dynamic quantization of
  /// long rows (quantizesInRuntimeKernel) leaves its GELU to the
  /// quantization: in the int8 GEMM's epilogue the erf keeps the tensor
  /// cores waiting (a quarter of the up projection on the H100: 0.320 vs
  /// 0.256 ms at 2048 x 16384 x 4096); in the runtime's quantization
  /// kernel it costs about as much arithmetic (47 -> ~90 us) but no
  /// tensor-core time. The GELU then acts on the matmul's stored (possibly f16)
  /// value instead of the f32 one: the same function up to one rounding, on
  /// every target alike.
  void moveGeluIntoQuantize(DynamicQuantizeOp quantize) {
    auto matmul = quantize.getInput().getDefiningOp<MatmulOp>();
    if (!matmul || matmul.getActivation() != Activation::gelu ||
        !matmul->hasOneUse() ||
        quantize.getGranularity() != Granularity::per_token ||
        quantize.getActivation() != Activation::none ||
        !quantizesInRuntimeKernel(matmul.getResult().getType()))
      return;
    matmul.setActivation(Activation::none);
    quantize.setActivation(Activation::gelu);
  }

  /// Returns the matmul that now stands for `matmul` (a new one when the
  /// epilogue was folded).
  /// Folds a following `linalg.generic` computing, per element,
  ///   [max(] [x * gamma[n]] [+ bias[n]] [, 0)]
  /// over the matmul's result into its epilogue: a constant per-channel
  /// multiplier (a batch-norm style affine, a folded constant scale) goes
  /// into the rhs scale vector, the bias becomes the f32 (or i32) bias and
  /// the max the relu. The generic must be the result's only user, with the
  /// vectors indexed along N and an f32 result of the same shape.
  MatmulOp fuseEpilogue(MatmulOp matmul) {
    Value result = matmul.getResult();
    if (!result.hasOneUse())
      return matmul;
    auto generic = dyn_cast<linalg::GenericOp>(*result.getUsers().begin());
    if (!generic || generic.getNumDpsInputs() < 2 ||
        generic.getNumDpsInputs() > 3 || generic.getNumDpsInits() != 1 ||
        generic.getDpsInputs()[0] != result ||
        generic.getResult(0).getType() != result.getType())
      return matmul;
    SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
    MLIRContext *ctx = generic.getContext();
    AffineMap alongN = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
    unsigned numInputs = generic.getNumDpsInputs();
    if (!maps[0].isIdentity() || !maps[numInputs].isIdentity() ||
        llvm::any_of(generic.getIteratorTypesArray(),
                     [](auto t) { return t != utils::IteratorType::parallel; }))
      return matmul;
    for (unsigned i = 1; i < numInputs; ++i)
      if (maps[i] != alongN)
        return matmul;
    Block &body = generic.getRegion().front();
    // The block argument of a vector input, if `v` is one: its input index.
    auto vectorInput = [&](Value v) -> std::optional<unsigned> {
      auto arg = dyn_cast<BlockArgument>(v);
      if (!arg || arg.getOwner() != &body || arg.getArgNumber() == 0 ||
          arg.getArgNumber() >= numInputs)
        return std::nullopt;
      return arg.getArgNumber();
    };
    // Peels one binary op `T(rest, vector)` (either order) off `v`.
    auto peel = [&](auto tag, Value &v, std::optional<unsigned> &vector) {
      using T = decltype(tag);
      auto op = v.getDefiningOp<T>();
      if (!op || op->getBlock() != &body)
        return;
      if ((vector = vectorInput(op.getRhs())))
        v = op.getLhs();
      else if ((vector = vectorInput(op.getLhs())))
        v = op.getRhs();
    };
    Value v = cast<linalg::YieldOp>(body.getTerminator()).getOperand(0);
    size_t ops = 1; // the yield
    Activation activation = Activation::none;
    if (auto max = v.getDefiningOp<arith::MaximumFOp>()) {
      Value other = max.getLhs(), zeroSide = max.getRhs();
      if (!matchPattern(zeroSide, m_AnyZeroFloat()))
        std::swap(other, zeroSide);
      if (!matchPattern(zeroSide, m_AnyZeroFloat()))
        return matmul;
      activation = Activation::relu;
      v = other;
      ++ops;
    }
    std::optional<unsigned> biasInput, gammaInput;
    peel(arith::AddFOp(), v, biasInput);
    ops += biasInput.has_value();
    peel(arith::MulFOp(), v, gammaInput);
    ops += gammaInput.has_value();
    if (v != body.getArgument(0) || body.getOperations().size() != ops ||
        (!biasInput && !gammaInput) ||
        size_t(biasInput.has_value() + gammaInput.has_value()) != numInputs - 1)
      return matmul;
    // Both vectors must be able to become f32 epilogue vectors; nothing is
    // created before every check has passed.
    for (std::optional<unsigned> input : {biasInput, gammaInput})
      if (input && !convertibleToF32(generic.getDpsInputs()[*input]))
        return matmul;

    OpBuilder b(generic);
    Value rhsScale = matmul.getRhsScale();
    if (gammaInput) {
      // y = (acc * s[c]) * g[c] + ...: fold g into the scale vector (an
      // f16 / bf16 g read exactly as f32).
      DenseElementsAttr gamma, scales;
      if (!matchPattern(generic.getDpsInputs()[*gammaInput],
                        m_Constant(&gamma)) ||
          !rhsScale || !matchPattern(rhsScale, m_Constant(&scales)))
        return matmul;
      SmallVector<float> scale(scales.getValues<float>());
      SmallVector<float> product;
      int64_t c = 0;
      for (const APFloat &g : gamma.getValues<APFloat>())
        product.push_back((scale.size() == 1 ? scale[0] : scale[size_t(c++)]) *
                          g.convertToFloat());
      auto type =
          RankedTensorType::get({int64_t(product.size())}, b.getF32Type());
      rhsScale = arith::ConstantOp::create(
          b, generic.getLoc(), DenseElementsAttr::get(type, ArrayRef(product)));
    }
    // The vectors are f32 (an f16 model's bias converted exactly; the
    // epilogue then rounds once, to the result type, where the float graph
    // rounded after each op).
    Value bias = biasInput ? asF32Vector(b, generic.getLoc(),
                                         generic.getDpsInputs()[*biasInput])
                           : Value();
    if (Value correction = matmul.getBias()) {
      // The zero-point correction (i32) is already there: add the float
      // bias to it in the accumulator domain when it fits, otherwise carry
      // the correction into a float bias (b + corr * s).
      bias = bias ? combineBiases(b, matmul, rhsScale, correction, bias)
                  : correction;
      if (!bias)
        return matmul;
    } else if (bias && intBias) {
      bias = integerBias(b, matmul, rhsScale, bias);
    }
    auto fused =
        MatmulOp::create(b, generic.getLoc(), matmul.getResult().getType(),
                         matmul.getLhs(), matmul.getRhs(), matmul.getLhsScale(),
                         rhsScale, bias, matmul.getRhsTransposed(), activation);
    generic.getResult(0).replaceAllUsesWith(fused.getResult());
    generic.erase();
    matmul.erase();
    return fused;
  }

  /// correction (i32, accumulator domain) + a float bias: f32
  /// b[c] + corr[c] * s[c], or with int-bias=true one i32 vector when the
  /// float bias converts (integerBias). Null when the values are not
  /// constants.
  Value combineBiases(OpBuilder &b, MatmulOp matmul, Value rhsScale,
                      Value correction, Value floatBias) {
    DenseElementsAttr corrValues, scaleValues, biasValues;
    if (!matchPattern(correction, m_Constant(&corrValues)) || !rhsScale ||
        !matchPattern(rhsScale, m_Constant(&scaleValues)) ||
        !matchPattern(floatBias, m_Constant(&biasValues)))
      return Value();
    SmallVector<int32_t> corr(corrValues.getValues<int32_t>());
    // i32 only when asked (int-bias=true): rounding b / s to the accumulator
    // grid costs accuracy the f32 form (b + corr * s, one rounding) keeps.
    Value asInt =
        intBias ? integerBias(b, matmul, rhsScale, floatBias) : floatBias;
    DenseElementsAttr intValues;
    if (asInt != floatBias && matchPattern(asInt, m_Constant(&intValues))) {
      SmallVector<int32_t> sum;
      int64_t c = 0;
      for (int32_t v : intValues.getValues<int32_t>())
        sum.push_back(v + corr[size_t(c++)]);
      auto type = RankedTensorType::get({int64_t(sum.size())}, b.getI32Type());
      return arith::ConstantOp::create(
          b, matmul.getLoc(), DenseElementsAttr::get(type, ArrayRef(sum)));
    }
    SmallVector<float> scales(scaleValues.getValues<float>());
    SmallVector<float> sum;
    int64_t c = 0;
    for (float v : biasValues.getValues<float>()) {
      float s = scales.size() == 1 ? scales[0] : scales[size_t(c)];
      sum.push_back(v + float(corr[size_t(c)]) * s);
      ++c;
    }
    auto type = RankedTensorType::get({int64_t(sum.size())}, b.getF32Type());
    return arith::ConstantOp::create(
        b, matmul.getLoc(), DenseElementsAttr::get(type, ArrayRef(sum)));
  }

  /// The bias in the accumulator domain: rne(b[c] / s[c]) as i32 with
  /// s[c] = sx * sw[c] (the folded static scales), as TensorRT and ONNX
  /// Runtime store it. Kept in f32, with a remark, when the scales are not
  /// static constants or when acc + bias could overflow i32 (|bias| must stay
  /// below 2^31 - 1 - K * 128 * 128).
  Value integerBias(OpBuilder &b, MatmulOp matmul, Value rhsScale,
                    Value floatBias) {
    DenseElementsAttr biasValues, scaleValues;
    if (matmul.getLhsScale() || !rhsScale ||
        !matchPattern(floatBias, m_Constant(&biasValues)) ||
        !matchPattern(rhsScale, m_Constant(&scaleValues))) {
      matmul.emitRemark("bias kept in float: the scales are not static "
                        "constants (dynamic activations)");
      return floatBias;
    }
    auto lhsType = cast<RankedTensorType>(matmul.getLhs().getType());
    double k = double(lhsType.getDimSize(lhsType.getRank() - 1));
    double limit = 2147483647.0 - k * 128.0 * 128.0;
    SmallVector<float> scales(scaleValues.getValues<float>());
    SmallVector<int32_t> quantized;
    int64_t index = 0;
    for (float value : biasValues.getValues<float>()) {
      float scale = scales.size() == 1 ? scales[0] : scales[size_t(index)];
      double q = std::nearbyint(double(value) / double(scale));
      if (!(std::fabs(q) <= limit)) {
        matmul.emitRemark()
            << "bias kept in float: bias[" << index << "] = " << value
            << " at scale " << scale << " would overflow the i32 accumulator";
        return floatBias;
      }
      quantized.push_back(int32_t(q));
      ++index;
    }
    auto type =
        RankedTensorType::get({int64_t(quantized.size())}, b.getI32Type());
    return arith::ConstantOp::create(
        b, matmul.getLoc(), DenseElementsAttr::get(type, ArrayRef(quantized)));
  }

  /// layout(dequantize(q)) -> dequantize(layout'(q)) for a per-tensor q
  /// and the layout ops that only move elements (tensor.collapse_shape,
  /// expand_shape, linalg.transpose): dequantizing commutes with them, and
  /// the dequantize then sits right at the matmul it feeds, where it fuses
  /// (a QDQ model from another tool may dequantize before reshaping). The
  /// layout op runs on the int8 codes (through quant.scast), which also
  /// moves a quarter of the bytes. Repeated until no pair is left.
  void sinkDequantizes() {
    bool changed = true;
    while (changed) {
      changed = false;
      SmallVector<Operation *> layouts;
      getOperation().walk([&](Operation *op) {
        if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp,
                linalg::TransposeOp>(op))
          layouts.push_back(op);
      });
      for (Operation *layout : layouts)
        changed |= sinkDequantize(layout);
    }
  }

  bool sinkDequantize(Operation *layout) {
    Value input = layout->getOperand(0);
    auto dq = input.getDefiningOp<DequantizeOp>();
    if (!dq || !dq->hasOneUse())
      return false;
    // Weights keep their layout op after the dequantize: the matmul
    // fusion reads the transpose of a dequantized constant as the stored
    // layout (rhs_transposed).
    if (auto cast = dq.getInput().getDefiningOp<quant::StorageCastOp>())
      if (matchPattern(cast.getInput(), m_Constant()))
        return false;
    auto qType = dq.getInput().getType();
    auto q = dyn_cast<quant::UniformQuantizedType>(qType.getElementType());
    if (!q)
      return false; // per-axis: the axis would have to move as well
    OpBuilder b(layout);
    Location loc = layout->getLoc();
    Type storage = q.getStorageType();
    Value codes = quant::StorageCastOp::create(
        b, loc, RankedTensorType::get(qType.getShape(), storage),
        dq.getInput());
    auto result = cast<RankedTensorType>(layout->getResult(0).getType());
    Value moved;
    if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(layout)) {
      moved = tensor::CollapseShapeOp::create(
          b, loc, RankedTensorType::get(result.getShape(), storage), codes,
          collapse.getReassociationIndices());
    } else if (auto expand = dyn_cast<tensor::ExpandShapeOp>(layout)) {
      moved = tensor::ExpandShapeOp::create(
          b, loc, RankedTensorType::get(result.getShape(), storage), codes,
          expand.getReassociationIndices(), expand.getMixedOutputShape());
    } else {
      auto transpose = cast<linalg::TransposeOp>(layout);
      Value init = tensor::EmptyOp::create(b, loc, result.getShape(), storage);
      moved = linalg::TransposeOp::create(b, loc, codes, init,
                                          transpose.getPermutation())
                  .getResult()[0];
    }
    Value requantized = quant::StorageCastOp::create(
        b, loc, RankedTensorType::get(result.getShape(), q), moved);
    Value dequantized =
        DequantizeOp::create(b, loc, result, requantized).getResult();
    layout->getResult(0).replaceAllUsesWith(dequantized);
    layout->erase();
    dq.erase();
    return true;
  }

  /// qforge.matmul (float result) whose only user quantizes it to a
  /// per-tensor int8 type: the GEMM's epilogue writes the int8 codes itself
  /// (what the next layer reads), with the quantize's exact formula and
  /// storage range (numerics.h quantizeValue), so the f32 intermediate and
  /// the separate quantize kernel disappear and the result is bit-identical.
  void fuseRequantizedOutputs() {
    SmallVector<QuantizeOp> quantizes;
    getOperation().walk([&](QuantizeOp op) { quantizes.push_back(op); });
    for (QuantizeOp quantize : quantizes) {
      auto matmul = quantize.getInput().getDefiningOp<MatmulOp>();
      if (!matmul || !matmul->hasOneUse())
        continue;
      auto resultType = cast<RankedTensorType>(matmul.getResult().getType());
      auto qtype = dyn_cast<quant::UniformQuantizedType>(
          quantize.getResult().getType().getElementType());
      if (!resultType.getElementType().isF32() || !qtype ||
          qtype.getStorageTypeIntegralWidth() != 8 || !qtype.isSigned())
        continue;
      OpBuilder b(matmul);
      Operation *fused = b.clone(*matmul);
      fused->getResult(0).setType(quantize.getResult().getType());
      quantize.getResult().replaceAllUsesWith(fused->getResult(0));
      quantize.erase();
      matmul.erase();
    }
  }

  /// quantize(dequantize(q)) to q's own type is q.
  void removeRedundantPairs() {
    SmallVector<QuantizeOp> quantizes;
    getOperation().walk([&](QuantizeOp op) { quantizes.push_back(op); });
    for (QuantizeOp op : quantizes) {
      auto dq = op.getInput().getDefiningOp<DequantizeOp>();
      if (dq && dq.getInput().getType() == op.getResult().getType()) {
        op.getResult().replaceAllUsesWith(dq.getInput());
        op.erase();
      }
    }
  }
};

} // namespace
