//===- QForgeOps.cpp - qforge op verifiers and folders --------------------===//
//
// Every structural rule of the dialect is checked here, with a message that
// names the operand and the numbers involved. ODS constraints are kept loose
// (any ranked tensor) on purpose, so that the diagnostics come from this file.
//
//===----------------------------------------------------------------------===//

#include "dialect/QForgeOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>

using namespace mlir;
using namespace qforge;

#include "dialect/QForgeEnums.cpp.inc"

#define GET_OP_CLASSES
#include "dialect/QForgeOps.cpp.inc"

namespace {

bool isSupportedFloat(Type type) {
  return type.isF32() || type.isF16() || type.isBF16();
}

/// Checks that the per-axis or sub-channel parameters of `qtype` fit a tensor
/// of type `tensorType`. `what` names the tensor in the message.
LogicalResult verifyQuantizationFitsShape(Operation *op, StringRef what,
                                          quant::QuantizedType qtype,
                                          RankedTensorType tensorType) {
  int64_t rank = tensorType.getRank();
  if (auto perAxis = dyn_cast<quant::UniformQuantizedPerAxisType>(qtype)) {
    int64_t axis = perAxis.getQuantizedDimension();
    if (axis >= rank)
      return op->emitOpError()
             << "per-axis quantized dimension " << axis << " of the " << what
             << " is out of range for rank " << rank;
    int64_t dimSize = tensorType.getDimSize(axis);
    int64_t numScales = perAxis.getScales().size();
    if (!ShapedType::isDynamic(dimSize) && dimSize != numScales)
      return op->emitOpError()
             << "per-axis quantization of the " << what << " has " << numScales
             << " scales but dimension " << axis << " has size " << dimSize;
    return success();
  }
  if (auto subChannel =
          dyn_cast<quant::UniformQuantizedSubChannelType>(qtype)) {
    auto scalesType = cast<ShapedType>(subChannel.getScales().getType());
    if (scalesType.getRank() != rank)
      return op->emitOpError()
             << "sub-channel scales of the " << what << " have rank "
             << scalesType.getRank() << " but the tensor has rank " << rank;
    for (auto [dim, blockSize] : llvm::zip_equal(
             subChannel.getQuantizedDimensions(), subChannel.getBlockSizes())) {
      // The type itself guarantees dim < rank(scales), checked equal to rank.
      int64_t dimSize = tensorType.getDimSize(dim);
      if (ShapedType::isDynamic(dimSize))
        continue;
      if (blockSize <= 0 || dimSize % blockSize != 0)
        return op->emitOpError()
               << "sub-channel block size " << blockSize
               << " does not divide dimension " << dim << " of size " << dimSize
               << " of the " << what;
      if (scalesType.getDimSize(dim) != dimSize / blockSize)
        return op->emitOpError()
               << "sub-channel scales of the " << what << " have "
               << scalesType.getDimSize(dim) << " entries along dimension "
               << dim << ", expected " << dimSize / blockSize;
    }
    return success();
  }
  return success();
}

/// Returns the quantized element type of `type`, or emits `<what> must have a
/// !quant.uniform element type` and returns null.
quant::QuantizedType getUniformElementType(Operation *op, StringRef what,
                                           RankedTensorType type) {
  Type elementType = type.getElementType();
  if (isa<quant::UniformQuantizedType, quant::UniformQuantizedPerAxisType,
          quant::UniformQuantizedSubChannelType>(elementType))
    return cast<quant::QuantizedType>(elementType);
  op->emitOpError() << what << " must have a !quant.uniform element type, got "
                    << elementType;
  return {};
}

LogicalResult verifySameShape(Operation *op, RankedTensorType input,
                              RankedTensorType result) {
  if (failed(verifyCompatibleShape(input.getShape(), result.getShape())))
    return op->emitOpError() << "input shape " << input << " and result shape "
                             << result << " must match";
  return success();
}

/// Shared by quantize and dequantize: one side float, the other quantized,
/// with the quantized type's expressed type equal to the float type.
LogicalResult verifyFloatQuantPair(Operation *op, RankedTensorType floatSide,
                                   StringRef floatName,
                                   RankedTensorType quantSide,
                                   StringRef quantName) {
  quant::QuantizedType qtype = getUniformElementType(op, quantName, quantSide);
  if (!qtype)
    return failure();
  Type floatType = floatSide.getElementType();
  if (!isSupportedFloat(floatType))
    return op->emitOpError()
           << floatName << " element type must be f32, f16 or bf16, got "
           << floatType;
  if (qtype.getExpressedType() != floatType)
    return op->emitOpError()
           << "expressed type " << qtype.getExpressedType() << " of the "
           << quantName << " does not match the " << floatName
           << " element type " << floatType;
  if (failed(verifySameShape(op, quantName == "result" ? floatSide : quantSide,
                             quantName == "result" ? quantSide : floatSide)))
    return failure();
  return verifyQuantizationFitsShape(op, quantName, qtype, quantSide);
}

} // namespace

//===----------------------------------------------------------------------===//
// ObserveOp
//===----------------------------------------------------------------------===//

LogicalResult ObserveOp::verify() {
  if (getId().empty())
    return emitOpError("id must not be empty");
  Type elementType = getInput().getType().getElementType();
  if (!isSupportedFloat(elementType))
    return emitOpError()
           << "observes float activations only; input element type is "
           << elementType;
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizeOp / DequantizeOp / RequantizeOp
//===----------------------------------------------------------------------===//

LogicalResult QuantizeOp::verify() {
  return verifyFloatQuantPair(*this, getInput().getType(), "input",
                              getResult().getType(), "result");
}

LogicalResult DequantizeOp::verify() {
  return verifyFloatQuantPair(*this, getResult().getType(), "result",
                              getInput().getType(), "input");
}

LogicalResult RequantizeOp::verify() {
  RankedTensorType inputType = getInput().getType();
  RankedTensorType resultType = getResult().getType();
  quant::QuantizedType inputQ =
      getUniformElementType(*this, "input", inputType);
  if (!inputQ)
    return failure();
  quant::QuantizedType resultQ =
      getUniformElementType(*this, "result", resultType);
  if (!resultQ)
    return failure();
  if (inputQ.getExpressedType() != resultQ.getExpressedType())
    return emitOpError() << "input expressed type " << inputQ.getExpressedType()
                         << " and result expressed type "
                         << resultQ.getExpressedType() << " must match";
  if (failed(verifySameShape(*this, inputType, resultType)) ||
      failed(verifyQuantizationFitsShape(*this, "input", inputQ, inputType)))
    return failure();
  return verifyQuantizationFitsShape(*this, "result", resultQ, resultType);
}

OpFoldResult RequantizeOp::fold(FoldAdaptor) {
  // Re-expressing a value in its own type changes nothing.
  if (getInput().getType() == getResult().getType())
    return getInput();
  return {};
}

//===----------------------------------------------------------------------===//
// DynamicQuantizeOp
//===----------------------------------------------------------------------===//

LogicalResult DynamicQuantizeOp::verify() {
  RankedTensorType inputType = getInput().getType();
  RankedTensorType resultType = getResult().getType();
  RankedTensorType scalesType = getScales().getType();
  if (!isSupportedFloat(inputType.getElementType()))
    return emitOpError() << "input element type must be f32, f16 or bf16, got "
                         << inputType.getElementType();
  if (inputType.getRank() < 1)
    return emitOpError("input must have rank >= 1");
  if (!resultType.getElementType().isSignlessInteger(8))
    return emitOpError() << "result element type must be i8, got "
                         << resultType.getElementType();
  if (failed(verifySameShape(*this, inputType, resultType)))
    return failure();
  if (!scalesType.getElementType().isF32())
    return emitOpError() << "scales element type must be f32, got "
                         << scalesType.getElementType();

  SmallVector<int64_t> expectedScales;
  if (getGranularity() == Granularity::per_tensor)
    expectedScales.push_back(1);
  else
    expectedScales.assign(inputType.getShape().begin(),
                          inputType.getShape().end() - 1);
  if (failed(verifyCompatibleShape(scalesType.getShape(), expectedScales))) {
    auto diag = emitOpError()
                << "scales of a " << stringifyGranularity(getGranularity())
                << " quantization must have shape [";
    llvm::interleaveComma(expectedScales, diag, [&](int64_t d) {
      if (ShapedType::isDynamic(d))
        diag << "?";
      else
        diag << d;
    });
    return diag << "], got " << scalesType;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// MatmulOp
//===----------------------------------------------------------------------===//

namespace {

/// Returns true when `actual` (of length 1) or the tensor shape `actual` is
/// shape-compatible with any of `allowed`.
bool matchesAnyShape(ArrayRef<int64_t> actual,
                     ArrayRef<SmallVector<int64_t>> allowed) {
  return llvm::any_of(allowed, [&](const SmallVector<int64_t> &shape) {
    return succeeded(verifyCompatibleShape(actual, shape));
  });
}

std::string formatShape(ArrayRef<int64_t> shape) {
  std::string text = "[";
  llvm::raw_string_ostream os(text);
  llvm::interleaveComma(shape, os, [&](int64_t d) {
    if (ShapedType::isDynamic(d))
      os << "?";
    else
      os << d;
  });
  os << "]";
  return text;
}

std::string formatShapes(ArrayRef<SmallVector<int64_t>> shapes) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::interleave(
      shapes, os, [&](const SmallVector<int64_t> &s) { os << formatShape(s); },
      " or ");
  return text;
}

bool dimsCompatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

} // namespace

LogicalResult MatmulOp::verify() {
  RankedTensorType lhsType = getLhs().getType();
  RankedTensorType rhsType = getRhs().getType();
  RankedTensorType resultType = getResult().getType();

  if (!lhsType.getElementType().isSignlessInteger(8))
    return emitOpError() << "lhs element type must be i8, got "
                         << lhsType.getElementType();
  if (!rhsType.getElementType().isSignlessInteger(8))
    return emitOpError() << "rhs element type must be i8, got "
                         << rhsType.getElementType();
  int64_t lhsRank = lhsType.getRank();
  int64_t rhsRank = rhsType.getRank();
  if (lhsRank < 2)
    return emitOpError() << "lhs must have rank >= 2, got rank " << lhsRank;
  if (rhsRank != 2 && rhsRank != lhsRank)
    return emitOpError() << "rhs must have rank 2 or the rank of lhs ("
                         << lhsRank << "), got rank " << rhsRank;

  int64_t numBatch = lhsRank - 2;
  ArrayRef<int64_t> lhsShape = lhsType.getShape();
  ArrayRef<int64_t> rhsShape = rhsType.getShape();
  for (int64_t i = 0; rhsRank == lhsRank && i < numBatch; ++i)
    if (!dimsCompatible(lhsShape[i], rhsShape[i]))
      return emitOpError() << "batch dimension " << i << " of lhs ("
                           << lhsShape[i] << ") and rhs (" << rhsShape[i]
                           << ") must match";

  int64_t m = lhsShape[lhsRank - 2];
  int64_t k = lhsShape[lhsRank - 1];
  bool transposed = getRhsTransposed();
  int64_t rhsK = rhsShape[rhsRank - (transposed ? 1 : 2)];
  int64_t n = rhsShape[rhsRank - (transposed ? 2 : 1)];
  if (!dimsCompatible(k, rhsK))
    return emitOpError() << "contraction sizes differ: lhs has K = " << k
                         << ", rhs" << (transposed ? " (transposed)" : "")
                         << " has K = " << rhsK;

  SmallVector<int64_t> expectedResult(lhsShape.begin(), lhsShape.end() - 2);
  expectedResult.append({m, n});
  if (failed(verifyCompatibleShape(resultType.getShape(), expectedResult)))
    return emitOpError() << "result shape "
                         << formatShape(resultType.getShape())
                         << " does not match the expected "
                         << formatShape(expectedResult);

  // Result element type decides which epilogue is possible.
  Type resultElement = resultType.getElementType();
  bool hasEpilogue = getLhsScale() || getRhsScale() || getBias() ||
                     getActivation() != Activation::none;
  if (resultElement.isSignlessInteger(32)) {
    if (hasEpilogue)
      return emitOpError(
          "an i32 result is the raw accumulator and takes no scales, "
          "bias or activation");
  } else if (auto qtype =
                 dyn_cast<quant::UniformQuantizedType>(resultElement)) {
    if (qtype.getStorageTypeIntegralWidth() != 8)
      return emitOpError() << "a quantized result must have 8-bit storage, got "
                           << qtype.getStorageType();
  } else if (!isSupportedFloat(resultElement)) {
    return emitOpError()
           << "result element type must be f32, f16, bf16, i32 or a "
              "per-tensor i8 !quant.uniform, got "
           << resultElement;
  }

  if (Value lhsScale = getLhsScale()) {
    auto type = cast<RankedTensorType>(lhsScale.getType());
    if (!type.getElementType().isF32())
      return emitOpError() << "lhs_scale element type must be f32, got "
                           << type.getElementType();
    SmallVector<SmallVector<int64_t>> allowed = {
        {1}, SmallVector<int64_t>(lhsShape.begin(), lhsShape.end() - 1)};
    if (!matchesAnyShape(type.getShape(), allowed))
      return emitOpError() << "lhs_scale must have shape "
                           << formatShapes(allowed)
                           << " (per tensor or per row), got "
                           << formatShape(type.getShape());
  }
  if (Value rhsScale = getRhsScale()) {
    auto type = cast<RankedTensorType>(rhsScale.getType());
    if (!type.getElementType().isF32())
      return emitOpError() << "rhs_scale element type must be f32, got "
                           << type.getElementType();
    SmallVector<SmallVector<int64_t>> allowed = {{1}, {n}};
    if (rhsRank > 2) {
      SmallVector<int64_t> batched(rhsShape.begin(), rhsShape.end() - 2);
      batched.push_back(n);
      allowed.push_back(batched);
    }
    if (!matchesAnyShape(type.getShape(), allowed))
      return emitOpError() << "rhs_scale must have shape "
                           << formatShapes(allowed)
                           << " (per tensor or per output channel), got "
                           << formatShape(type.getShape());
  }
  if (Value bias = getBias()) {
    auto type = cast<RankedTensorType>(bias.getType());
    Type element = type.getElementType();
    if (!element.isSignlessInteger(32) && !element.isF32())
      return emitOpError()
             << "bias element type must be i32 (accumulator domain) or "
                "f32 (output domain), got "
             << element;
    if (failed(verifyCompatibleShape(type.getShape(), ArrayRef<int64_t>{n})))
      return emitOpError() << "bias must have shape ["
                           << (ShapedType::isDynamic(n) ? "?"
                                                        : std::to_string(n))
                           << "] (one value per output column), got "
                           << formatShape(type.getShape());
  }
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::verify() {
  RankedTensorType queryType = getQuery().getType();
  RankedTensorType keyType = getKey().getType();
  RankedTensorType valueType = getValue().getType();
  RankedTensorType resultType = getResult().getType();
  Type element = queryType.getElementType();
  if (!isSupportedFloat(element))
    return emitOpError() << "query element type must be f32, f16 or bf16, got "
                         << element;
  if (getInt8() && !element.isF16() && !element.isBF16())
    return emitOpError() << "int8 attention takes f16 or bf16 tensors, got "
                         << element;
  for (auto [what, type] :
       {std::pair<StringRef, RankedTensorType>{"key", keyType},
        {"value", valueType},
        {"result", resultType}})
    if (type.getElementType() != element)
      return emitOpError() << what << " element type " << type.getElementType()
                           << " differs from the query's " << element;
  for (auto [what, type] :
       {std::pair<StringRef, RankedTensorType>{"query", queryType},
        {"key", keyType},
        {"value", valueType},
        {"result", resultType}})
    if (type.getRank() != 3)
      return emitOpError() << what << " must have rank 3 ([batch, rows, "
                           << "head_dim]), got rank " << type.getRank();
  auto mismatch = [](int64_t got, int64_t expected) {
    return !ShapedType::isDynamic(got) && !ShapedType::isDynamic(expected) &&
           got != expected;
  };
  ArrayRef<int64_t> q = queryType.getShape(), k = keyType.getShape(),
                    v = valueType.getShape(), r = resultType.getShape();
  if (mismatch(k[0], q[0]) || mismatch(v[0], q[0]))
    return emitOpError() << "batch sizes differ: query " << q[0] << ", key "
                         << k[0] << ", value " << v[0];
  if (mismatch(k[2], q[2]) || mismatch(v[2], q[2]))
    return emitOpError() << "head dims differ: query " << q[2] << ", key "
                         << k[2] << ", value " << v[2];
  if (mismatch(v[1], k[1]))
    return emitOpError() << "key has " << k[1] << " rows but value has "
                         << v[1];
  if (failed(verifyCompatibleShape(r, q)))
    return emitOpError() << "result shape must equal the query's";
  float scale = getScale().convertToFloat();
  if (!std::isfinite(scale))
    return emitOpError() << "scale must be finite, got " << scale;
  return success();
}
