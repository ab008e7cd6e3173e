//===- FloatPrecision.cpp - qforge-float-precision ------------------------===//
//
// Retypes the f32 computation of a model's public functions to f16 or bf16
// (see Passes.td), keeping f32 at the function boundary and where the
// runtime takes f32 (matmul scale and bias vectors, dynamic scales).
//
// Types are changed in place, value by value: every op a model's float
// parts are made of (linalg on tensors, arith, math, tensor, the qforge
// ops) is generic in its float type, and the verifier runs afterwards to
// catch one that is not.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/QForgeOps.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Verifier.h"

namespace qforge {
#define GEN_PASS_DEF_FLOATPRECISION
#include "passes/Passes.h.inc"
} // namespace qforge

using namespace mlir;
using namespace qforge;

namespace {

/// `type` with f32 (as element, scalar or quantized expressed type)
/// replaced by `narrow`; other types unchanged.
Type narrowType(Type type, FloatType narrow) {
  if (type.isF32())
    return narrow;
  if (auto q = dyn_cast<quant::UniformQuantizedType>(type)) {
    if (!q.getExpressedType().isF32())
      return type;
    return quant::UniformQuantizedType::get(
        q.getFlags(), q.getStorageType(), narrow, q.getScale(),
        q.getZeroPoint(), q.getStorageTypeMin(), q.getStorageTypeMax());
  }
  if (auto q = dyn_cast<quant::UniformQuantizedPerAxisType>(type)) {
    if (!q.getExpressedType().isF32())
      return type;
    return quant::UniformQuantizedPerAxisType::get(
        q.getFlags(), q.getStorageType(), narrow, q.getScales(),
        q.getZeroPoints(), q.getQuantizedDimension(), q.getStorageTypeMin(),
        q.getStorageTypeMax());
  }
  if (auto tensor = dyn_cast<RankedTensorType>(type)) {
    Type element = narrowType(tensor.getElementType(), narrow);
    return element == tensor.getElementType()
               ? type
               : RankedTensorType::get(tensor.getShape(), element);
  }
  return type;
}

/// The values that must stay f32: operands the runtime reads as f32.
llvm::DenseSet<Value> keepF32(func::FuncOp func) {
  llvm::DenseSet<Value> keep;
  func.walk([&](Operation *op) {
    if (auto matmul = dyn_cast<MatmulOp>(op)) {
      for (Value v :
           {matmul.getLhsScale(), matmul.getRhsScale(), matmul.getBias()})
        if (v)
          keep.insert(v);
    } else if (auto dyn = dyn_cast<DynamicQuantizeOp>(op)) {
      keep.insert(dyn.getScales());
    }
  });
  return keep;
}

/// An f32 constant's attribute in the narrow type (values rounded).
Attribute narrowAttr(Attribute attr, FloatType narrow) {
  auto convert = [&](const APFloat &value) {
    APFloat copy = value;
    bool lost = false;
    copy.convert(narrow.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                 &lost);
    return copy;
  };
  if (auto f = dyn_cast<FloatAttr>(attr); f && f.getType().isF32())
    return FloatAttr::get(narrow, convert(f.getValue()));
  if (auto dense = dyn_cast<DenseElementsAttr>(attr);
      dense && dense.getElementType().isF32()) {
    auto type = cast<ShapedType>(narrowType(dense.getType(), narrow));
    if (dense.isSplat())
      return DenseElementsAttr::get(type,
                                    convert(dense.getSplatValue<APFloat>()));
    SmallVector<APFloat> values;
    for (const APFloat &v : dense.getValues<APFloat>())
      values.push_back(convert(v));
    return DenseElementsAttr::get(type, values);
  }
  return Attribute();
}

/// Elementwise conversion of a ranked tensor to `to` (extf or truncf).
Value convertTensor(OpBuilder &b, Location loc, Value value, Type to) {
  auto type = cast<RankedTensorType>(value.getType());
  auto target = RankedTensorType::get(type.getShape(), to);
  SmallVector<Value> sizes;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      sizes.push_back(tensor::DimOp::create(b, loc, value, d));
  Value init = tensor::EmptyOp::create(b, loc, type.getShape(), to, sizes);
  AffineMap id = b.getMultiDimIdentityMap(type.getRank());
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, target, value, init, ArrayRef<AffineMap>{id, id}, iterators,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value out =
            to.getIntOrFloatBitWidth() < type.getElementTypeBitWidth()
                ? arith::TruncFOp::create(nb, nl, to, args[0]).getResult()
                : arith::ExtFOp::create(nb, nl, to, args[0]).getResult();
        linalg::YieldOp::create(nb, nl, out);
      });
  return generic.getResult(0);
}

struct FloatPrecisionPass
    : public qforge::impl::FloatPrecisionBase<FloatPrecisionPass> {
  using FloatPrecisionBase::FloatPrecisionBase;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    FloatType narrow;
    if (type == "f16")
      narrow = Float16Type::get(ctx);
    else if (type == "bf16")
      narrow = BFloat16Type::get(ctx);
    else {
      getOperation().emitError()
          << "qforge-float-precision: type must be f16 or bf16, got '" << type
          << "'";
      return signalPassFailure();
    }
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (func.isPublic() && !func.isExternal())
        convertFunction(func, narrow);
    if (failed(verify(getOperation()))) {
      getOperation().emitError()
          << "qforge-float-precision: the model does not verify in " << type
          << " (an op above needs f32)";
      signalPassFailure();
    }
  }

  void convertFunction(func::FuncOp func, FloatType narrow) {
    llvm::DenseSet<Value> keep = keepF32(func);
    Block &entry = func.getBody().front();
    // Retype everything inside; the arguments keep f32 (converted below).
    func.walk([&](Operation *op) {
      if (isa<func::FuncOp, func::ReturnOp>(op))
        return;
      for (Region &region : op->getRegions())
        for (Block &block : region)
          for (BlockArgument arg : block.getArguments())
            arg.setType(narrowType(arg.getType(), narrow));
      for (Value result : op->getResults())
        if (!keep.contains(result))
          result.setType(narrowType(result.getType(), narrow));
      if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
        if (keep.contains(constant.getResult()))
          return;
        if (Attribute value = narrowAttr(constant.getValue(), narrow))
          constant.setValueAttr(cast<TypedAttr>(value));
      }
    });
    OpBuilder b(ctx());
    b.setInsertionPointToStart(&entry);
    for (BlockArgument arg : entry.getArguments()) {
      auto tensor = dyn_cast<RankedTensorType>(arg.getType());
      if (!tensor || !tensor.getElementType().isF32())
        continue;
      Value narrowed = convertTensor(b, func.getLoc(), arg, narrow);
      arg.replaceAllUsesExcept(narrowed, narrowed.getDefiningOp());
    }
    func.walk([&](func::ReturnOp ret) {
      OpBuilder rb(ret);
      auto results = func.getFunctionType().getResults();
      for (auto [i, operand] : llvm::enumerate(ret.getOperands())) {
        auto want = dyn_cast<RankedTensorType>(results[i]);
        if (want && want.getElementType().isF32() && operand.getType() != want)
          ret.setOperand(i, convertTensor(rb, ret.getLoc(), operand,
                                          want.getElementType()));
      }
    });
  }

  MLIRContext *ctx() { return &getContext(); }
};

} // namespace
