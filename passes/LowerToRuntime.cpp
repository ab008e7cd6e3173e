//===- LowerToRuntime.cpp - qforge-lower-to-runtime -----------------------===//
//
// qforge ops -> calls of the runtime's compiled-model entry points on
// buffers, with quantized types replaced by their storage types. Runs as one
// dialect conversion: the type converter strips !quant.uniform, one pattern
// per qforge op builds the call, and upstream patterns retype function
// signatures, calls and returns.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/QForgeOps.h"

#include "mlir/Dialect/Func/Transforms/FuncConversions.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/DialectConversion.h"
#include "passes/Activation.h"

#include <limits>

namespace qforge {
#define GEN_PASS_DEF_LOWERTORUNTIME
#include "passes/Passes.h.inc"
} // namespace qforge

using namespace mlir;
using namespace qforge;

namespace {

// Runtime dtype codes (qforge_dtype in qforge_rt.h).
enum RuntimeDType : int32_t { F32 = 0, F16 = 1, BF16 = 2, I8 = 3, I32 = 4 };

/// The runtime dtype of a (storage or float) element type, or -1.
int32_t runtimeDType(Type type) {
  if (type.isF32())
    return F32;
  if (type.isF16())
    return F16;
  if (type.isBF16())
    return BF16;
  if (type.isSignlessInteger(8))
    return I8;
  if (type.isSignlessInteger(32))
    return I32;
  return -1;
}

int64_t byteWidth(Type type) { return (type.getIntOrFloatBitWidth() + 7) / 8; }

/// quant types -> storage types, in tensors and alone.
class StorageTypeConverter : public TypeConverter {
public:
  StorageTypeConverter() {
    addConversion([](Type type) { return type; });
    addConversion([](quant::QuantizedType type) -> Type {
      return type.getStorageType();
    });
    addConversion([](RankedTensorType type) -> Type {
      if (auto q = dyn_cast<quant::QuantizedType>(type.getElementType()))
        return RankedTensorType::get(type.getShape(), q.getStorageType());
      return type;
    });
  }
};

/// Builds the IR around one runtime call.
class CallBuilder {
public:
  CallBuilder(OpBuilder &rewriter, Operation *op)
      : b(rewriter), loc(op->getLoc()),
        module(op->getParentOfType<ModuleOp>()) {}

  Value i32(int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(int32_t(v)));
  }
  Value i64(int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v));
  }
  Value f32(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(float(v)));
  }

  /// Size of dimension `d` of a ranked tensor, as i64.
  Value dim(Value tensor, int64_t d) {
    auto type = cast<RankedTensorType>(tensor.getType());
    if (!type.isDynamicDim(d))
      return i64(type.getDimSize(d));
    Value size = tensor::DimOp::create(b, loc, tensor, d);
    return arith::IndexCastOp::create(b, loc, b.getI64Type(), size);
  }
  /// Product of dimensions [begin, end) as i64.
  Value product(Value tensor, int64_t begin, int64_t end) {
    Value result = i64(1);
    for (int64_t d = begin; d < end; ++d)
      result = arith::MulIOp::create(b, loc, result, dim(tensor, d));
    return result;
  }
  /// The [outer, channels, inner] view of a tensor around `axis`.
  SmallVector<Value> axisView(Value tensor, int64_t axis) {
    int64_t rank = cast<RankedTensorType>(tensor.getType()).getRank();
    return {product(tensor, 0, axis), dim(tensor, axis),
            product(tensor, axis + 1, rank)};
  }
  Value numElements(Value tensor) {
    return product(tensor, 0,
                   cast<RankedTensorType>(tensor.getType()).getRank());
  }

  /// The address (i64) of the first element of `tensor`'s buffer.
  Value address(Value tensor) {
    auto type = cast<RankedTensorType>(tensor.getType());
    auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
    Value buffer = bufferization::ToBufferOp::create(b, loc, memrefType, tensor,
                                                     /*read_only=*/true);
    return addressOfBuffer(buffer);
  }
  Value addressOfBuffer(Value buffer) {
    auto metadata = memref::ExtractStridedMetadataOp::create(b, loc, buffer);
    Value aligned =
        memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer);
    Value offsetBytes = arith::MulIOp::create(
        b, loc, metadata.getOffset(),
        arith::ConstantIndexOp::create(
            b, loc,
            byteWidth(cast<MemRefType>(buffer.getType()).getElementType())));
    Value addressIndex = arith::AddIOp::create(b, loc, aligned, offsetBytes);
    return arith::IndexCastOp::create(b, loc, b.getI64Type(), addressIndex);
  }

  /// A new buffer shaped like `shapeSource` with element type `element`.
  Value allocLike(Value shapeSource, Type element) {
    auto type = cast<RankedTensorType>(shapeSource.getType());
    SmallVector<Value> dynamicSizes;
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.isDynamicDim(d))
        dynamicSizes.push_back(tensor::DimOp::create(b, loc, shapeSource, d));
    return alloc(type.getShape(), element, dynamicSizes);
  }
  /// The buffer of a GEMM's result: batch dims and M sized like lhs, N like
  /// rhs (its last dim, or the one before when it is stored transposed).
  Value allocGemmResult(RankedTensorType resultType, Type element, Value lhs,
                        Value rhs, bool transposed) {
    int64_t rhsRank = cast<RankedTensorType>(rhs.getType()).getRank();
    SmallVector<Value> dynamicSizes;
    for (int64_t d = 0; d < resultType.getRank(); ++d) {
      if (!resultType.isDynamicDim(d))
        continue;
      bool isN = d + 1 == resultType.getRank();
      dynamicSizes.push_back(tensor::DimOp::create(
          b, loc, isN ? rhs : lhs,
          isN ? (transposed ? rhsRank - 2 : rhsRank - 1) : d));
    }
    return alloc(resultType.getShape(), element, dynamicSizes);
  }
  Value alloc(ArrayRef<int64_t> shape, Type element, ValueRange dynamicSizes) {
    return memref::AllocOp::create(b, loc, MemRefType::get(shape, element),
                                   dynamicSizes);
  }
  /// The tensor view of a buffer the call just filled.
  Value toTensor(Value buffer) {
    auto memrefType = cast<MemRefType>(buffer.getType());
    auto tensorType = RankedTensorType::get(memrefType.getShape(),
                                            memrefType.getElementType());
    return bufferization::ToTensorOp::create(b, loc, tensorType, buffer,
                                             /*restrict=*/true,
                                             /*writable=*/true);
  }

  /// A constant vector of f32 or i32 values, by address.
  Value constantAddress(ArrayRef<float> values) {
    auto type = RankedTensorType::get({int64_t(values.size())}, b.getF32Type());
    Value c =
        arith::ConstantOp::create(b, loc, DenseElementsAttr::get(type, values));
    return address(c);
  }
  Value constantAddress(ArrayRef<int32_t> values) {
    auto type = RankedTensorType::get({int64_t(values.size())}, b.getI32Type());
    Value c =
        arith::ConstantOp::create(b, loc, DenseElementsAttr::get(type, values));
    return address(c);
  }

  /// The address of a private constant global holding `text`'s bytes.
  Value stringAddress(StringRef text, StringRef symbolPrefix) {
    auto bytesType = MemRefType::get({int64_t(text.size())}, b.getI8Type());
    std::string symbol;
    for (int n = 0; symbol.empty() || module.lookupSymbol(symbol); ++n)
      symbol = (symbolPrefix + Twine(n)).str();
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(module.getBody());
      SmallVector<int8_t> bytes(text.begin(), text.end());
      auto initial = DenseElementsAttr::get(
          RankedTensorType::get(bytesType.getShape(), b.getI8Type()),
          ArrayRef<int8_t>(bytes));
      memref::GlobalOp::create(b, loc, symbol, b.getStringAttr("private"),
                               bytesType, initial, /*constant=*/true,
                               /*alignment=*/IntegerAttr());
    }
    Value buffer = memref::GetGlobalOp::create(b, loc, bytesType, symbol);
    return addressOfBuffer(buffer);
  }

  /// A run-time check that dimension `d` of `tensor` equals `expected`
  /// (dimension `expectedDim` of `expectedTensor`), emitted only where one
  /// side is dynamic: the verifier has checked the static cases, and a
  /// mismatch the runtime cannot see would read past a buffer.
  void checkSize(Operation *op, Value tensor, int64_t d, Value expectedTensor,
                 int64_t expectedDim, StringRef what) {
    auto type = cast<RankedTensorType>(tensor.getType());
    auto expectedType = cast<RankedTensorType>(expectedTensor.getType());
    if (!type.isDynamicDim(d) && !expectedType.isDynamicDim(expectedDim))
      return;
    emitCheck(op, dim(tensor, d), dim(expectedTensor, expectedDim), what);
  }
  void checkSize(Operation *op, Value tensor, int64_t d, int64_t expected,
                 StringRef what) {
    if (!cast<RankedTensorType>(tensor.getType()).isDynamicDim(d))
      return;
    emitCheck(op, dim(tensor, d), i64(expected), what);
  }

  /// Calls `name`, declaring it (private, C ABI) on first use.
  void call(StringRef name, ValueRange args) {
    auto fnType = b.getFunctionType(TypeRange(args), {});
    if (!module.lookupSymbol<func::FuncOp>(name)) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(module.getBody());
      auto decl = func::FuncOp::create(b, loc, name, fnType);
      decl.setPrivate();
    }
    func::CallOp::create(b, loc, name, TypeRange{}, args);
  }

  OpBuilder &b;
  Location loc;
  ModuleOp module;

private:
  void emitCheck(Operation *op, Value actual, Value expected, StringRef what) {
    std::string located;
    llvm::raw_string_ostream os(located);
    os << op->getName();
    // file:line:col of the op, the form a user can open.
    op->getLoc()->walk([&](Location l) {
      if (auto file = dyn_cast<FileLineColLoc>(l)) {
        os << " at " << file.getFilename().getValue() << ":" << file.getLine()
           << ":" << file.getColumn();
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    os << ": " << what;
    Value text = stringAddress(located, "__qforge_check_");
    call("qforge_rt_m_check_size",
         {actual, expected, text, i64(int64_t(located.size()))});
  }
};

/// Per-tensor parameters, or per-axis ones, of a quantized type.
struct QuantParams {
  bool perAxis = false;
  double scale = 1;
  int64_t zeroPoint = 0;
  int32_t axis = 0;
  SmallVector<float> scales;
  SmallVector<int32_t> zeroPoints;
  int64_t qmin = -128, qmax = 127;
};

FailureOr<QuantParams> quantParams(Operation *op, Type elementType) {
  QuantParams p;
  auto q = cast<quant::QuantizedType>(elementType);
  if (q.getStorageTypeIntegralWidth() != 8 || !q.isSigned())
    return op->emitOpError() << "cannot be lowered to the runtime: only i8 "
                                "storage is supported, got "
                             << q.getStorageType();
  p.qmin = q.getStorageTypeMin();
  p.qmax = q.getStorageTypeMax();
  if (auto uniform = dyn_cast<quant::UniformQuantizedType>(q)) {
    p.scale = uniform.getScale();
    p.zeroPoint = uniform.getZeroPoint();
    return p;
  }
  if (auto perAxis = dyn_cast<quant::UniformQuantizedPerAxisType>(q)) {
    p.perAxis = true;
    p.axis = perAxis.getQuantizedDimension();
    for (double s : perAxis.getScales())
      p.scales.push_back(float(s));
    for (int64_t z : perAxis.getZeroPoints())
      p.zeroPoints.push_back(int32_t(z));
    return p;
  }
  return op->emitOpError() << "cannot be lowered to the runtime: sub-channel "
                              "quantized types are not supported yet";
}

/// The body of a per-tensor quantization: the runtime's quantizeValue
/// (runtime/src/numerics.h) op for op, so that results are bit-identical:
/// q = clamp(roundeven(x / scale), qmin - zp, qmax - zp) + zp in f32, a
/// NaN input giving the zero point.
Value quantizeScalar(OpBuilder &b, Location loc, Value x,
                     const QuantParams &p) {
  Type f32 = b.getF32Type();
  if (x.getType() != f32)
    x = arith::ExtFOp::create(b, loc, f32, x);
  auto f = [&](float v) {
    return arith::ConstantOp::create(b, loc, f32, b.getF32FloatAttr(v));
  };
  Value q = math::RoundEvenOp::create(
      b, loc, arith::DivFOp::create(b, loc, x, f(p.scale)));
  Value lo = f(float(p.qmin - p.zeroPoint)),
        hi = f(float(p.qmax - p.zeroPoint));
  using P = arith::CmpFPredicate;
  // q >= lo ? q : (q < lo ? lo : 0), then q <= hi ? q : hi (as numerics.h).
  Value below = arith::SelectOp::create(
      b, loc, arith::CmpFOp::create(b, loc, P::OLT, q, lo), lo, f(0.0f));
  q = arith::SelectOp::create(
      b, loc, arith::CmpFOp::create(b, loc, P::OGE, q, lo), q, below);
  q = arith::SelectOp::create(
      b, loc, arith::CmpFOp::create(b, loc, P::OLE, q, hi), q, hi);
  Type i32 = b.getI32Type();
  Value zp =
      arith::ConstantOp::create(b, loc, i32, b.getI32IntegerAttr(p.zeroPoint));
  Value code = arith::AddIOp::create(
      b, loc, arith::FPToSIOp::create(b, loc, i32, q), zp);
  Value nan = arith::CmpFOp::create(b, loc, P::UNO, x, x);
  code = arith::SelectOp::create(b, loc, nan, zp, code);
  return arith::TruncIOp::create(b, loc, b.getI8Type(), code);
}

/// A per-tensor quantize as an elementwise linalg.generic (quantize-kernels).
Value quantizeAsGeneric(OpBuilder &b, Location loc, Value input,
                        const QuantParams &p) {
  auto type = cast<RankedTensorType>(input.getType());
  Value init = tensor::EmptyOp::create(
      b, loc, tensor::getMixedSizes(b, loc, input), b.getI8Type());
  AffineMap id = b.getMultiDimIdentityMap(type.getRank());
  SmallVector<utils::IteratorType> parallel(type.getRank(),
                                            utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{input}, ValueRange{init},
      ArrayRef<AffineMap>{id, id}, parallel,
      [&](OpBuilder &body, Location at, ValueRange args) {
        linalg::YieldOp::create(body, at, quantizeScalar(body, at, args[0], p));
      });
  return generic.getResult(0);
}

struct QuantizeLowering : OpConversionPattern<QuantizeOp> {
  QuantizeLowering(const TypeConverter &converter, MLIRContext *context,
                   bool asKernel)
      : OpConversionPattern(converter, context), asKernel(asKernel) {}
  LogicalResult
  matchAndRewrite(QuantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    FailureOr<QuantParams> p =
        quantParams(op, op.getResult().getType().getElementType());
    if (failed(p))
      return failure();
    Value input = adaptor.getInput();
    if (asKernel && !p->perAxis) {
      rewriter.replaceOp(op,
                         quantizeAsGeneric(rewriter, op.getLoc(), input, *p));
      return success();
    }
    CallBuilder cb(rewriter, op);
    auto inType = cast<RankedTensorType>(input.getType());
    Value out = cb.allocLike(input, rewriter.getI8Type());
    Value dtype = cb.i32(runtimeDType(inType.getElementType()));
    if (!p->perAxis) {
      cb.call("qforge_rt_m_quantize",
              {cb.address(input), dtype, cb.numElements(input),
               cb.f32(p->scale), cb.i32(p->zeroPoint), cb.i32(p->qmin),
               cb.i32(p->qmax), cb.addressOfBuffer(out)});
    } else {
      cb.checkSize(op, input, p->axis, int64_t(p->scales.size()),
                   "the per-axis channel count");
      SmallVector<Value> view = cb.axisView(input, p->axis);
      cb.call("qforge_rt_m_quantize_per_axis",
              {cb.address(input), dtype, view[0], view[1], view[2],
               cb.constantAddress(p->scales), cb.constantAddress(p->zeroPoints),
               cb.i32(p->qmin), cb.i32(p->qmax), cb.addressOfBuffer(out)});
    }
    rewriter.replaceOp(op, cb.toTensor(out));
    return success();
  }
  bool asKernel;
};

struct DequantizeLowering : OpConversionPattern<DequantizeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(DequantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    FailureOr<QuantParams> p =
        quantParams(op, op.getInput().getType().getElementType());
    if (failed(p))
      return failure();
    CallBuilder cb(rewriter, op);
    Value input = adaptor.getInput();
    Type outElement = op.getResult().getType().getElementType();
    Value out = cb.allocLike(input, outElement);
    Value dtype = cb.i32(runtimeDType(outElement));
    if (!p->perAxis) {
      cb.call("qforge_rt_m_dequantize",
              {cb.address(input), cb.numElements(input), cb.f32(p->scale),
               cb.i32(p->zeroPoint), dtype, cb.addressOfBuffer(out)});
    } else {
      cb.checkSize(op, input, p->axis, int64_t(p->scales.size()),
                   "the per-axis channel count");
      SmallVector<Value> view = cb.axisView(input, p->axis);
      cb.call("qforge_rt_m_dequantize_per_axis",
              {cb.address(input), view[0], view[1], view[2],
               cb.constantAddress(p->scales), cb.constantAddress(p->zeroPoints),
               dtype, cb.addressOfBuffer(out)});
    }
    rewriter.replaceOp(op, cb.toTensor(out));
    return success();
  }
};

struct RequantizeLowering : OpConversionPattern<RequantizeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(RequantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto inQ = dyn_cast<quant::UniformQuantizedType>(
        op.getInput().getType().getElementType());
    FailureOr<QuantParams> out =
        quantParams(op, op.getResult().getType().getElementType());
    if (failed(out))
      return failure();
    if (!inQ || out->perAxis)
      return op.emitOpError("cannot be lowered to the runtime: only per-tensor "
                            "requantization is supported");
    int32_t inType = runtimeDType(inQ.getStorageType());
    if (inType != I8 && inType != I32)
      return op.emitOpError() << "cannot be lowered to the runtime: input "
                                 "storage must be i8 or i32, got "
                              << inQ.getStorageType();
    CallBuilder cb(rewriter, op);
    Value input = adaptor.getInput();
    Value result = cb.allocLike(input, rewriter.getI8Type());
    cb.call("qforge_rt_m_requantize",
            {cb.address(input), cb.i32(inType), cb.numElements(input),
             cb.f32(inQ.getScale()), cb.i32(inQ.getZeroPoint()),
             cb.f32(out->scale), cb.i32(out->zeroPoint), cb.i32(out->qmin),
             cb.i32(out->qmax), cb.addressOfBuffer(result)});
    rewriter.replaceOp(op, cb.toTensor(result));
    return success();
  }
};

/// Per-token dynamic quantization as linalg (quantize-kernels, where the
/// input comes from a linalg op or its rows are short: worthKernels): the
/// runtime's per-token kernel op for op (runtime/src/numerics.h), so the
/// bits are the same (a maximum does not depend on its order):
///   absMax[r] = max over the row of |x| where |x| is finite (from 0),
///   q = NaN ? 0 : clamp(roundeven(x * inverse(absMax)), -127, 127),
///   scale[r] = absMax >= 1e-30 ? absMax / 127 : 1,
/// inverse = absMax >= 1e-30 ? 127 / absMax : 1. Emitted as the row
/// reduction, then the quantizing op over the rows' elements, then the
/// scales: qforge-fuse-elementwise pulls a layernorm's normalization into
/// the first two, and qforge-parallel-to-gpu runs layernorm and
/// quantization as one row kernel; the f16 activation is never stored.
struct PerTokenGenerics {
  Value quantized, scales;
};
PerTokenGenerics dynamicQuantizeAsGenerics(OpBuilder &b, Location loc,
                                           Value input) {
  auto type = cast<RankedTensorType>(input.getType());
  int64_t rank = type.getRank();
  Type f32 = b.getF32Type();
  auto f = [&](OpBuilder &at, Location l, float v) {
    return arith::ConstantOp::create(at, l, f32, at.getF32FloatAttr(v))
        .getResult();
  };
  using P = arith::CmpFPredicate;
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, input);
  SmallVector<OpFoldResult> rowSizes(sizes.begin(), sizes.end() - 1);
  AffineMap id = b.getMultiDimIdentityMap(rank);
  AffineMap rowOf = id.getMajorSubMap(rank - 1);
  AffineMap rowId = b.getMultiDimIdentityMap(rank - 1);
  SmallVector<utils::IteratorType> parallel(rank,
                                            utils::IteratorType::parallel);
  SmallVector<utils::IteratorType> rowReduction(parallel);
  rowReduction.back() = utils::IteratorType::reduction;
  auto widen = [&](OpBuilder &at, Location l, Value x) {
    return x.getType() == f32 ? x : arith::ExtFOp::create(at, l, f32, x);
  };
  // What numerics.h compares max|x| with before dividing by it.
  auto usable = [&](OpBuilder &at, Location l, Value absMax) {
    return arith::CmpFOp::create(at, l, P::OGE, absMax, f(at, l, 1e-30f));
  };

  Value rowsInit = tensor::EmptyOp::create(b, loc, rowSizes, f32);
  Value zero =
      linalg::FillOp::create(b, loc, f(b, loc, 0.0f), rowsInit).getResult(0);
  Value absMax =
      linalg::GenericOp::create(
          b, loc, rowsInit.getType(), ValueRange{input}, ValueRange{zero},
          ArrayRef<AffineMap>{id, rowOf}, rowReduction,
          [&](OpBuilder &at, Location l, ValueRange args) {
            Value magnitude =
                math::AbsFOp::create(at, l, widen(at, l, args[0]));
            // NaN and +-Inf are left out (ordered < inf is false for both);
            // 0 leaves the running maximum as it is.
            Value finite = arith::CmpFOp::create(
                at, l, P::OLT, magnitude,
                f(at, l, std::numeric_limits<float>::infinity()));
            Value element =
                arith::SelectOp::create(at, l, finite, magnitude, f(at, l, 0));
            linalg::YieldOp::create(
                at, l,
                arith::MaximumFOp::create(at, l, args[1], element).getResult());
          })
          .getResult(0);

  Value quantizedInit = tensor::EmptyOp::create(b, loc, sizes, b.getI8Type());
  Value quantized =
      linalg::GenericOp::create(
          b, loc, quantizedInit.getType(), ValueRange{input, absMax},
          ValueRange{quantizedInit}, ArrayRef<AffineMap>{id, rowOf, id},
          parallel,
          [&](OpBuilder &at, Location l, ValueRange args) {
            Value x = widen(at, l, args[0]);
            Value inverse = arith::SelectOp::create(
                at, l, usable(at, l, args[1]),
                arith::DivFOp::create(at, l, f(at, l, 127.0f), args[1]),
                f(at, l, 1.0f));
            Value q = math::RoundEvenOp::create(
                at, l, arith::MulFOp::create(at, l, x, inverse));
            q = arith::SelectOp::create(
                at, l, arith::CmpFOp::create(at, l, P::OLT, q, f(at, l, -127)),
                f(at, l, -127),
                arith::SelectOp::create(
                    at, l,
                    arith::CmpFOp::create(at, l, P::OGT, q, f(at, l, 127)),
                    f(at, l, 127), q));
            Value code = arith::FPToSIOp::create(at, l, at.getI8Type(), q);
            Value nan = arith::CmpFOp::create(at, l, P::UNO, x, x);
            Value zeroCode = arith::ConstantOp::create(at, l, at.getI8Type(),
                                                       at.getI8IntegerAttr(0));
            linalg::YieldOp::create(
                at, l,
                arith::SelectOp::create(at, l, nan, zeroCode, code)
                    .getResult());
          })
          .getResult(0);

  SmallVector<utils::IteratorType> rowParallel(rank - 1,
                                               utils::IteratorType::parallel);
  Value scales =
      linalg::GenericOp::create(
          b, loc, rowsInit.getType(), ValueRange{absMax}, ValueRange{rowsInit},
          ArrayRef<AffineMap>{rowId, rowId}, rowParallel,
          [&](OpBuilder &at, Location l, ValueRange args) {
            linalg::YieldOp::create(
                at, l,
                arith::SelectOp::create(
                    at, l, usable(at, l, args[0]),
                    arith::DivFOp::create(at, l, args[0], f(at, l, 127.0f)),
                    f(at, l, 1.0f))
                    .getResult());
          })
          .getResult(0);
  return {quantized, scales};
}

struct DynamicQuantizeLowering : OpConversionPattern<DynamicQuantizeOp> {
  DynamicQuantizeLowering(const TypeConverter &converter, MLIRContext *context,
                          bool asKernel)
      : OpConversionPattern(converter, context), asKernel(asKernel) {}
  LogicalResult
  matchAndRewrite(DynamicQuantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value input = adaptor.getInput();
    auto inType = cast<RankedTensorType>(input.getType());
    // (An activation goes to the runtime's kernel, which applies GELU as
    // the runtime's epilogues do; qforge-fuse-qdq only adds one to
    // quantizations that run there anyway.)
    if (asKernel && op.getGranularity() == Granularity::per_token &&
        op.getActivation() == Activation::none && inType.getRank() >= 2 &&
        isa<FloatType>(inType.getElementType()) &&
        worthKernels(input, inType)) {
      PerTokenGenerics g =
          dynamicQuantizeAsGenerics(rewriter, op.getLoc(), input);
      rewriter.replaceOp(op, {g.quantized, g.scales});
      return success();
    }
    CallBuilder cb(rewriter, op);
    int64_t rank = inType.getRank();
    Value out = cb.allocLike(input, rewriter.getI8Type());
    auto scalesType = op.getScales().getType();
    SmallVector<Value> scaleSizes;
    for (int64_t d = 0; d < scalesType.getRank(); ++d)
      if (scalesType.isDynamicDim(d))
        scaleSizes.push_back(
            tensor::DimOp::create(rewriter, op.getLoc(), input, d));
    Value scales =
        cb.alloc(scalesType.getShape(), rewriter.getF32Type(), scaleSizes);
    SmallVector<Value> args = {
        cb.address(input), cb.i32(runtimeDType(inType.getElementType())),
        cb.product(input, 0, rank - 1), cb.dim(input, rank - 1),
        cb.i32(int32_t(op.getGranularity()))};
    if (op.getActivation() != Activation::none)
      args.push_back(cb.i32(int32_t(op.getActivation()))); // QFORGE_ACT_*
    args.push_back(cb.addressOfBuffer(out));
    args.push_back(cb.addressOfBuffer(scales));
    cb.call(op.getActivation() == Activation::none
                ? "qforge_rt_m_dynamic_quantize"
                : "qforge_rt_m_dynamic_quantize_act",
            args);
    rewriter.replaceOp(op, {cb.toTensor(out), cb.toTensor(scales)});
    return success();
  }
  bool asKernel;

private:
  /// Generics where they pay: the input comes from a linalg op, whose
  /// kernel the quantization joins (a layernorm), or its rows are short
  /// (kMaxQuantizeKernelRow).
  static bool worthKernels(Value input, RankedTensorType type) {
    if (isa_and_nonnull<linalg::LinalgOp>(input.getDefiningOp()))
      return true;
    return !quantizesInRuntimeKernel(type);
  }
};

struct MatmulLowering : OpConversionPattern<MatmulOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(MatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    CallBuilder cb(rewriter, op);
    Value lhs = adaptor.getLhs(), rhs = adaptor.getRhs();
    auto lhsType = cast<RankedTensorType>(lhs.getType());
    auto rhsType = cast<RankedTensorType>(rhs.getType());
    int64_t lhsRank = lhsType.getRank(), rhsRank = rhsType.getRank();
    bool transposed = op.getRhsTransposed();
    bool shared = rhsRank == 2 && lhsRank > 2;
    Type resultElement = op.getResult().getType().getElementType();
    int32_t outType = runtimeDType(resultElement);
    double outScale = 1;
    int64_t outZeroPoint = 0, outQmin = 0, outQmax = 0;
    if (auto q = dyn_cast<quant::UniformQuantizedType>(resultElement)) {
      outType = I8;
      outScale = q.getScale();
      outZeroPoint = q.getZeroPoint();
      outQmin = q.getStorageTypeMin();
      outQmax = q.getStorageTypeMax();
    }
    Type storage = outType == I8 ? Type(rewriter.getI8Type()) : resultElement;
    auto resultType = cast<RankedTensorType>(
        getTypeConverter()->convertType(op.getResult().getType()));
    Value out = cb.allocGemmResult(resultType, storage, lhs, rhs, transposed);
    auto optionalAddress = [&](Value v) {
      return v ? cb.address(v) : cb.i64(0);
    };
    auto optionalCount = [&](Value v) {
      return v ? cb.numElements(v) : cb.i64(0);
    };
    // Sizes the runtime takes on trust: checked at run time where dynamic.
    int64_t rhsK = transposed ? rhsRank - 1 : rhsRank - 2;
    int64_t rhsN = transposed ? rhsRank - 2 : rhsRank - 1;
    cb.checkSize(op, rhs, rhsK, lhs, lhsRank - 1, "the rhs contraction size");
    if (!shared)
      for (int64_t d = 0; d + 2 < lhsRank; ++d)
        cb.checkSize(op, rhs, d, lhs, d,
                     ("rhs batch dimension " + Twine(d)).str());
    Value bias = adaptor.getBias();
    if (bias)
      cb.checkSize(op, bias, 0, rhs, rhsN, "the bias length");
    int32_t biasType =
        bias ? runtimeDType(
                   cast<RankedTensorType>(bias.getType()).getElementType())
             : F32;
    cb.call("qforge_rt_m_gemm",
            {cb.product(lhs, 0, lhsRank - 2),
             cb.dim(lhs, lhsRank - 2),
             cb.dim(rhs, transposed ? rhsRank - 2 : rhsRank - 1),
             cb.dim(lhs, lhsRank - 1),
             cb.i32(transposed),
             cb.i32(shared),
             cb.address(lhs),
             cb.address(rhs),
             optionalAddress(adaptor.getLhsScale()),
             optionalCount(adaptor.getLhsScale()),
             optionalAddress(adaptor.getRhsScale()),
             optionalCount(adaptor.getRhsScale()),
             optionalAddress(bias),
             cb.i32(biasType),
             cb.i32(int32_t(op.getActivation())),
             cb.i32(outType),
             cb.f32(outScale),
             cb.i32(outZeroPoint),
             cb.i32(outQmin),
             cb.i32(outQmax),
             cb.addressOfBuffer(out)});
    rewriter.replaceOp(op, cb.toTensor(out));
    return success();
  }
};

/// qforge.observe: the runtime records statistics under the op's id (the id
/// travels as a constant global of its bytes); the value passes through.
struct ObserveLowering : OpConversionPattern<ObserveOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ObserveOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    CallBuilder cb(rewriter, op);
    StringRef id = op.getId();
    Value idAddress = cb.stringAddress(id, "__qforge_observer_id_");
    Value input = adaptor.getInput();
    auto inType = cast<RankedTensorType>(input.getType());
    cb.call("qforge_rt_m_observe",
            {idAddress, cb.i64(int64_t(id.size())), cb.address(input),
             cb.i32(runtimeDType(inType.getElementType())),
             cb.numElements(input)});
    rewriter.replaceOp(op, input);
    return success();
  }
};

/// quant.scast is a reinterpretation: with storage types it is the identity.
struct StorageCastLowering : OpConversionPattern<quant::StorageCastOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(quant::StorageCastOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, adaptor.getInput());
    return success();
  }
};

/// Emits the precise error for a qforge op this lowering cannot handle, so
/// the conversion itself never fails half-way with a generic message.
LogicalResult checkLowerable(Operation *op) {
  if (auto quantize = dyn_cast<QuantizeOp>(op))
    return quantParams(op, quantize.getResult().getType().getElementType());
  if (auto dequantize = dyn_cast<DequantizeOp>(op))
    return quantParams(op, dequantize.getInput().getType().getElementType());
  if (auto requantize = dyn_cast<RequantizeOp>(op)) {
    auto in = dyn_cast<quant::UniformQuantizedType>(
        requantize.getInput().getType().getElementType());
    if (!in || !isa<quant::UniformQuantizedType>(
                   requantize.getResult().getType().getElementType()))
      return op->emitOpError("cannot be lowered to the runtime: only "
                             "per-tensor requantization is supported");
    if (failed(
            quantParams(op, requantize.getResult().getType().getElementType())))
      return failure();
    int32_t inType = runtimeDType(in.getStorageType());
    if (inType != I8 && inType != I32)
      return op->emitOpError() << "cannot be lowered to the runtime: input "
                                  "storage must be i8 or i32, got "
                               << in.getStorageType();
  }
  return success();
}

/// Whether `value` is a linalg.fill of zero (the init a runtime GEMM, which
/// has no accumulator operand, can replace).
bool isZeroFill(Value value) {
  auto fill = value.getDefiningOp<linalg::FillOp>();
  if (!fill)
    return false;
  return matchPattern(fill.getInputs()[0], m_AnyZeroFloat());
}

/// What a float GEMM's epilogue can take from the elementwise op after it.
struct FloatEpilogue {
  linalg::GenericOp generic;
  Value bias;             // f32 vector along N, or null
  int32_t activation = 0; // QFORGE_ACT_* (none, relu, gelu)
};

/// The matmul result's only user, if it computes act(x [+ bias[n]]) with
/// act one of none / relu / erf-GELU (recognised by what it computes) and
/// an f32 bias (what the runtime's epilogue takes), a constant f16 / bf16
/// one (widened by widenedBias) or no bias.
std::optional<FloatEpilogue> floatEpilogue(Value result) {
  if (!result.hasOneUse())
    return std::nullopt;
  auto generic = dyn_cast<linalg::GenericOp>(*result.getUsers().begin());
  if (!generic || generic.getNumDpsInits() != 1 ||
      generic.getNumDpsInputs() > 2 || generic.getDpsInputs()[0] != result ||
      generic.getResult(0).getType() != result.getType() ||
      llvm::any_of(generic.getIteratorTypesArray(),
                   [](auto t) { return t != utils::IteratorType::parallel; }))
    return std::nullopt;
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  unsigned rank = cast<RankedTensorType>(result.getType()).getRank();
  unsigned inputs = generic.getNumDpsInputs();
  if (!maps[0].isIdentity() || !maps[inputs].isIdentity())
    return std::nullopt;
  Block &body = generic.getRegion().front();
  FloatEpilogue e{generic, Value(), 0};
  Value x = body.getArgument(0);
  Value sum = x;
  if (inputs == 2) {
    AffineMap alongN = AffineMap::get(
        rank, 0, {getAffineDimExpr(rank - 1, generic.getContext())},
        generic.getContext());
    Value bias = generic.getDpsInputs()[1];
    arith::AddFOp add = qforge::biasAdd(body);
    Type biasElement = cast<RankedTensorType>(bias.getType()).getElementType();
    // f16 / bf16 biases (--float-precision) are widened to f32 when they
    // are constants (exactly); others stay in their own op.
    bool widenable = (biasElement.isF16() || biasElement.isBF16()) &&
                     matchPattern(bias, m_Constant<DenseElementsAttr>(nullptr));
    if (maps[1] != alongN || !(biasElement.isF32() || widenable) || !add)
      return std::nullopt;
    e.bias = bias;
    sum = add.getResult();
  }
  Value yielded = body.getTerminator()->getOperand(0);
  if (yielded == sum && e.bias)
    return e;
  if (auto max = yielded.getDefiningOp<arith::MaximumFOp>()) {
    Value other = max.getLhs() == sum ? max.getRhs() : max.getLhs();
    if ((max.getLhs() == sum || max.getRhs() == sum) &&
        matchPattern(other, m_AnyZeroFloat()) &&
        body.getOperations().size() == (e.bias ? 3u : 2u)) {
      e.activation = 1;
      return e;
    }
  }
  if (qforge::computesGelu(body, sum)) {
    e.activation = 2;
    return e;
  }
  return std::nullopt;
}

/// `bias` as f32: itself, or an f32 copy of an f16 / bf16 constant made at
/// `b`'s insertion point (every f16 / bf16 value is exact in f32).
Value widenedBias(OpBuilder &b, Value bias) {
  auto type = cast<RankedTensorType>(bias.getType());
  if (type.getElementType().isF32())
    return bias;
  DenseElementsAttr values;
  bool constant = matchPattern(bias, m_Constant(&values));
  assert(constant && "floatEpilogue takes only constant narrow biases");
  (void)constant;
  SmallVector<float> wide;
  for (const APFloat &v : values.getValues<APFloat>())
    wide.push_back(v.convertToFloat());
  auto wideType = RankedTensorType::get(type.getShape(), b.getF32Type());
  return arith::ConstantOp::create(
      b, bias.getLoc(), DenseElementsAttr::get(wideType, ArrayRef(wide)));
}

/// Float linalg.matmul / batch_matmul -> qforge_rt_m_gemm_float (see the
/// float-gemms option), with a following bias / relu / GELU in its
/// epilogue. Anything else is left alone.
void lowerFloatMatmul(linalg::LinalgOp op) {
  bool batched = isa<linalg::BatchMatmulOp>(op.getOperation());
  if (!isa<linalg::MatmulOp, linalg::BatchMatmulOp>(op.getOperation()) ||
      !op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
      !isZeroFill(op.getDpsInits()[0]))
    return;
  // Default maps only (a matmul with user maps transposes implicitly).
  auto named = cast<linalg::LinalgOp>(op.getOperation());
  SmallVector<AffineMap> maps = named.getIndexingMapsArray();
  MLIRContext *ctx = op->getContext();
  int rank = batched ? 4 : 3; // loop dims
  auto dim = [&](unsigned d) { return getAffineDimExpr(d, ctx); };
  unsigned b0 = batched ? 1 : 0;
  SmallVector<AffineExpr> batchDims;
  if (batched)
    batchDims.push_back(dim(0));
  auto mapOf = [&](AffineExpr x, AffineExpr y) {
    SmallVector<AffineExpr> exprs(batchDims);
    exprs.push_back(x);
    exprs.push_back(y);
    return AffineMap::get(rank, 0, exprs, ctx);
  };
  if (maps[0] != mapOf(dim(b0), dim(b0 + 2)) ||
      maps[1] != mapOf(dim(b0 + 2), dim(b0 + 1)) ||
      maps[2] != mapOf(dim(b0), dim(b0 + 1)))
    return;
  Value lhs = op.getDpsInputs()[0], rhs = op.getDpsInputs()[1];
  auto lhsType = cast<RankedTensorType>(lhs.getType());
  auto outType = cast<RankedTensorType>(op->getResult(0).getType());
  Type element = lhsType.getElementType();
  if (!(element.isF32() || element.isF16() || element.isBF16()) ||
      cast<RankedTensorType>(rhs.getType()).getElementType() != element ||
      outType.getElementType() != element)
    return;
  // An rhs that is a transpose of its last two dimensions is read stored.
  bool transposed = false;
  if (auto t = rhs.getDefiningOp<linalg::TransposeOp>()) {
    ArrayRef<int64_t> perm = t.getPermutation();
    bool swapsLast = perm.size() == (batched ? 3u : 2u) &&
                     perm[perm.size() - 1] == int64_t(perm.size()) - 2 &&
                     perm[perm.size() - 2] == int64_t(perm.size()) - 1 &&
                     (!batched || perm[0] == 0);
    if (swapsLast) {
      rhs = t.getInput();
      transposed = true;
    }
  }
  OpBuilder b(op);
  CallBuilder cb(b, op);
  Value out = cb.allocGemmResult(outType, element, lhs, rhs, transposed);
  int64_t rhsRank = cast<RankedTensorType>(rhs.getType()).getRank();
  int64_t lhsRank = lhsType.getRank();
  std::optional<FloatEpilogue> epilogue = floatEpilogue(op->getResult(0));
  // The call sits where the matmul is: the bias must already exist there.
  if (epilogue && epilogue->bias)
    if (Operation *def = epilogue->bias.getDefiningOp())
      if (def->getBlock() != op->getBlock() || !def->isBeforeInBlock(op))
        epilogue.reset();
  if (epilogue && epilogue->bias)
    epilogue->bias = widenedBias(b, epilogue->bias);
  int32_t dtype = element.isF32() ? 0 : element.isF16() ? 1 : 2;
  cb.call("qforge_rt_m_gemm_float",
          {batched ? cb.dim(lhs, 0) : cb.i64(1), cb.dim(lhs, lhsRank - 2),
           cb.dim(rhs, transposed ? rhsRank - 2 : rhsRank - 1),
           cb.dim(lhs, lhsRank - 1), cb.i32(transposed), cb.i32(0),
           cb.i32(dtype), cb.address(lhs), cb.address(rhs),
           epilogue && epilogue->bias ? cb.address(epilogue->bias) : cb.i64(0),
           cb.i32(epilogue ? epilogue->activation : 0),
           cb.addressOfBuffer(out)});
  Value result = cb.toTensor(out);
  if (epilogue) {
    epilogue->generic.getResult(0).replaceAllUsesWith(result);
    epilogue->generic.erase();
  }
  Operation *transposeOp =
      transposed ? op.getDpsInputs()[1].getDefiningOp() : nullptr;
  op->getResult(0).replaceAllUsesWith(result);
  op->erase();
  if (transposeOp && transposeOp->use_empty())
    transposeOp->erase();
}

/// One operand of the attention call: the tensor whose buffer is read and
/// the element strides between batches and rows of its [batch, rows, D]
/// view. Every size comes from `base`, which outlives the transposes the
/// lowering erases. The call reads `source` (base itself, or the wider
/// tensor base is a column slice of) from element `column` of its rows.
struct StridedView {
  Value base;
  bool headsInside = false; // base is [rows, batch, D]: heads split in place
  Value batchStride, rowStride;
  Value source;
  int64_t column = 0;

  /// The dimension of `base` that is dimension `d` of the view.
  int64_t baseDim(int64_t d) const { return headsInside && d < 2 ? 1 - d : d; }
  Value size(CallBuilder &cb, int64_t d) const {
    return cb.dim(base, baseDim(d));
  }
  Value indexSize(CallBuilder &cb, int64_t d) const {
    return tensor::DimOp::create(cb.b, cb.loc, base, baseDim(d));
  }
  /// The address of the view's first element.
  Value address(CallBuilder &cb) const {
    Value start = cb.address(source);
    if (column == 0)
      return start;
    Type element = cast<RankedTensorType>(source.getType()).getElementType();
    return arith::AddIOp::create(cb.b, cb.loc, start,
                                 cb.i64(column * byteWidth(element)));
  }
};

/// The [rows, N] tensor and first column of which `expanded` ([rows, heads,
/// D], split from a [rows, heads * D] tensor) is a whole-rows column slice:
/// a sibling of qforge-fuse-sibling-matmuls (the Q, K and V projections as
/// one GEMM), read in place with N as its row stride instead of copied.
std::optional<std::pair<Value, int64_t>> columnSliceSource(Value expanded) {
  // Only the columns split (into heads and D); a split of the rows would
  // make the view's row stride a multiple of N.
  auto expand = expanded.getDefiningOp<tensor::ExpandShapeOp>();
  if (!expand || expand.getReassociationIndices() !=
                     SmallVector<ReassociationIndices>{{0}, {1, 2}})
    return std::nullopt;
  auto slice = expand.getSrc().getDefiningOp<tensor::ExtractSliceOp>();
  if (!slice || slice.getSourceType().getRank() != 2 ||
      !slice.hasUnitStride() || slice.getStaticOffsets()[0] != 0 ||
      ShapedType::isDynamic(slice.getStaticOffsets()[1]))
    return std::nullopt;
  // Whole rows: the slice's row count is the source's.
  OpFoldResult rows = slice.getMixedSizes()[0];
  std::optional<int64_t> staticRows = getConstantIntValue(rows);
  int64_t sourceStaticRows = slice.getSourceType().getDimSize(0);
  bool wholeRows = staticRows ? *staticRows == sourceStaticRows : [&] {
    auto dim = cast<Value>(rows).getDefiningOp<tensor::DimOp>();
    return dim && dim.getSource() == slice.getSource() &&
           getConstantIntValue(dim.getIndex()) == 0;
  }();
  if (!wholeRows)
    return std::nullopt;
  return std::make_pair(slice.getSource(), slice.getStaticOffsets()[1]);
}

/// Whether `t` is linalg.transpose [1, 0, 2] (a [rows, batch, D] tensor
/// seen as [batch, rows, D]: heads split out of a [seq, hidden] tensor).
linalg::TransposeOp headTranspose(Operation *op) {
  auto t = dyn_cast_or_null<linalg::TransposeOp>(op);
  if (!t || !t.hasPureTensorSemantics() ||
      t.getPermutation() != ArrayRef<int64_t>{1, 0, 2})
    return {};
  return t;
}

Value mul(CallBuilder &cb, Value x, Value y) {
  return arith::MulIOp::create(cb.b, cb.loc, x, y);
}

/// `tensor` as a strided view, reading through a head transpose (and a
/// column slice under it) in place.
StridedView attentionOperand(CallBuilder &cb, Value tensor) {
  StridedView view{tensor};
  if (linalg::TransposeOp t = headTranspose(tensor.getDefiningOp())) {
    view.base = t.getInput(); // [rows, batch, D]
    view.headsInside = true;
    view.batchStride = view.size(cb, 2);
    if (auto slice = columnSliceSource(view.base)) {
      std::tie(view.source, view.column) = *slice;
      view.rowStride = cb.dim(view.source, 1);
    } else {
      view.rowStride = mul(cb, view.size(cb, 0), view.size(cb, 2));
    }
  } else {
    view.batchStride = mul(cb, view.size(cb, 1), view.size(cb, 2));
    view.rowStride = view.size(cb, 2);
  }
  if (!view.source)
    view.source = view.base;
  return view;
}

/// qforge.attention -> qforge_rt_m_attention. Head transposes around it
/// (of q, k, v, and the result's only user) become strides of the call, so
/// that heads are read from, and written into, the [seq, heads * D]
/// activations in place.
void lowerAttention(AttentionOp op) {
  OpBuilder b(op);
  CallBuilder cb(b, op);
  Value query = op.getQuery(), key = op.getKey(), value = op.getValue();
  auto type = op.getResult().getType();
  StridedView q = attentionOperand(cb, query);
  StridedView k = attentionOperand(cb, key);
  StridedView v = attentionOperand(cb, value);
  // Sizes the verifier could not compare (dynamic) are checked at run time:
  // the kernel reads k and v over q's batches and head dim, v over k's rows.
  auto check = [&](const StridedView &x, int64_t d, const StridedView &y,
                   StringRef what) {
    cb.checkSize(op, x.base, x.baseDim(d), y.base, y.baseDim(d), what);
  };
  check(k, 0, q, "attention key batches");
  check(v, 0, q, "attention value batches");
  check(k, 2, q, "attention key head dim");
  check(v, 2, q, "attention value head dim");
  check(v, 1, k, "attention value rows");
  linalg::TransposeOp merge =
      op->hasOneUse() ? headTranspose(*op->getUsers().begin()) : nullptr;
  // The result's buffer, sized like the query: [rows, batch, D] when it is
  // written through the merging transpose, [batch, rows, D] otherwise.
  SmallVector<int64_t> viewDims =
      merge ? SmallVector<int64_t>{1, 0, 2} : SmallVector<int64_t>{0, 1, 2};
  SmallVector<int64_t> shape;
  SmallVector<Value> dynamicSizes;
  for (int64_t d : viewDims) {
    shape.push_back(type.getDimSize(d));
    if (type.isDynamicDim(d))
      dynamicSizes.push_back(q.indexSize(cb, d));
  }
  Value out = cb.alloc(shape, type.getElementType(), dynamicSizes);
  Value headDim = q.size(cb, 2);
  Value outBatchStride = merge ? headDim : mul(cb, q.size(cb, 1), headDim);
  Value outRowStride = merge ? mul(cb, q.size(cb, 0), headDim) : headDim;
  cb.call("qforge_rt_m_attention", {q.size(cb, 0),
                                    q.size(cb, 1),
                                    k.size(cb, 1),
                                    headDim,
                                    cb.i32(runtimeDType(type.getElementType())),
                                    cb.f32(op.getScale().convertToDouble()),
                                    cb.i32(op.getCausal() ? 1 : 0),
                                    cb.i32(op.getInt8() ? 1 : 0),
                                    q.address(cb),
                                    q.batchStride,
                                    q.rowStride,
                                    k.address(cb),
                                    k.batchStride,
                                    k.rowStride,
                                    v.address(cb),
                                    v.batchStride,
                                    v.rowStride,
                                    cb.addressOfBuffer(out),
                                    outBatchStride,
                                    outRowStride});
  Value result = cb.toTensor(out);
  llvm::SetVector<Operation *> operandTransposes;
  for (Value operand : {query, key, value})
    if (Operation *def = operand.getDefiningOp(); headTranspose(def))
      operandTransposes.insert(def);
  if (merge) {
    merge.getResult()[0].replaceAllUsesWith(result);
    merge.erase();
  } else {
    op.getResult().replaceAllUsesWith(result);
  }
  op.erase();
  for (Operation *t : operandTransposes)
    if (t->use_empty())
      t->erase();
}

struct LowerToRuntimePass
    : public qforge::impl::LowerToRuntimeBase<LowerToRuntimePass> {
  using LowerToRuntimeBase::LowerToRuntimeBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (floatGemms) {
      SmallVector<linalg::LinalgOp> matmuls;
      module.walk([&](linalg::LinalgOp op) { matmuls.push_back(op); });
      for (linalg::LinalgOp op : matmuls)
        lowerFloatMatmul(op);
    }
    SmallVector<AttentionOp> attentions;
    module.walk([&](AttentionOp op) { attentions.push_back(op); });
    for (AttentionOp op : attentions)
      lowerAttention(op);
    WalkResult checked = module.walk([](Operation *op) {
      if (isa<QForgeDialect>(op->getDialect()) && failed(checkLowerable(op)))
        return WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (checked.wasInterrupted())
      return signalPassFailure();
    MLIRContext *context = &getContext();
    StorageTypeConverter converter;
    ConversionTarget target(*context);
    target.addIllegalDialect<QForgeDialect>();
    target.addIllegalOp<quant::StorageCastOp>();
    target.addLegalOp<ModuleOp>();
    target.addDynamicallyLegalOp<func::FuncOp>([&](func::FuncOp f) {
      return converter.isSignatureLegal(f.getFunctionType()) &&
             converter.isLegal(&f.getBody());
    });
    target.markUnknownOpDynamicallyLegal(
        [&](Operation *op) { return converter.isLegal(op); });

    RewritePatternSet patterns(context);
    patterns.add<DequantizeLowering, RequantizeLowering, MatmulLowering,
                 ObserveLowering, StorageCastLowering>(converter, context);
    patterns.add<QuantizeLowering, DynamicQuantizeLowering>(converter, context,
                                                            quantizeKernels);
    populateFunctionOpInterfaceTypeConversionPattern<func::FuncOp>(patterns,
                                                                   converter);
    populateCallOpTypeConversionPattern(patterns, converter);
    populateReturnOpTypeConversionPattern(patterns, converter);
    if (failed(applyPartialConversion(module, target, std::move(patterns))))
      return signalPassFailure();

    // Public functions are the model's entry points: export C wrappers.
    for (auto f : module.getOps<func::FuncOp>())
      if (f.isPublic() && !f.isExternal())
        f->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                   UnitAttr::get(context));
  }
};

} // namespace
