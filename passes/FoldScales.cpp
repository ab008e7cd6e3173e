//===- FoldScales.cpp - qforge-fold-scales --------------------------------===//
//
// Calibration table -> concrete activation quantization: each observer
// becomes a quantize/dequantize pair (QDQ) with the scale and zero point the
// calibration method chooses from that observer's statistics.
//
// Consecutive requantizations are merged here too. Folding scale products
// into epilogue vectors, i32 biases and affine folds act on the integer ops
// qforge-fuse-qdq creates, and live there (docs/DESIGN.md).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/QForgeOps.h"
#include "qforge/Support/Calibration.h"

#include "mlir/Pass/PassManager.h"

#include "llvm/Support/Regex.h"

#include <cmath>

namespace qforge {
#define GEN_PASS_DEF_FOLDSCALES
#include "passes/Passes.h.inc"
} // namespace qforge

using namespace mlir;
using namespace qforge;

namespace {

/// The int8 type of a calibrated range: symmetric [-127, 127] with scale
/// t / 127, or asymmetric [-128, 127] with a zero point. A zero range (all
/// zeros seen) gets scale 1.
quant::UniformQuantizedType activationType(QuantRange range, bool symmetric,
                                           Type expressed) {
  MLIRContext *context = expressed.getContext();
  auto storage = IntegerType::get(context, 8);
  unsigned flags = quant::QuantizationFlags::Signed;
  if (symmetric) {
    double scale = range.hi > 0 ? double(float(range.hi / 127.0)) : 1.0;
    return quant::UniformQuantizedType::get(flags, storage, expressed, scale, 0,
                                            -127, 127);
  }
  double width = range.hi - range.lo;
  double scale = width > 0 ? double(float(width / 255.0)) : 1.0;
  int64_t zeroPoint = int64_t(std::nearbyint(-128.0 - range.lo / scale));
  zeroPoint = std::clamp<int64_t>(zeroPoint, -128, 127);
  return quant::UniformQuantizedType::get(flags, storage, expressed, scale,
                                          zeroPoint, -128, 127);
}

struct FoldScalesPass : public qforge::impl::FoldScalesBase<FoldScalesPass> {
  using FoldScalesBase::FoldScalesBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (calibration.empty()) {
      module.emitError("qforge-fold-scales: no calibration table given "
                       "(calibration=FILE)");
      return signalPassFailure();
    }
    llvm::Expected<CalibrationMethod> chosen = parseCalibrationMethod(method);
    if (!chosen) {
      module.emitError() << "qforge-fold-scales: "
                         << llvm::toString(chosen.takeError());
      return signalPassFailure();
    }
    llvm::Expected<CalibrationTable> table = loadCalibrationTable(calibration);
    if (!table) {
      module.emitError() << "qforge-fold-scales: "
                         << llvm::toString(table.takeError());
      return signalPassFailure();
    }
    if (failed(ensureObservers(module)))
      return signalPassFailure();
    std::string hash = formatModuleHash(calibrationHash(module));
    if (hash != table->modelHash) {
      module.emitError() << "qforge-fold-scales: stale calibration table "
                         << calibration << ": it was made for model "
                         << table->modelHash << ", this module's calibration "
                         << "points hash to " << hash
                         << " (recalibrate after changing the model or the "
                            "observers)";
      return signalPassFailure();
    }
    RangeOptions options;
    options.symmetric = symmetric;
    options.percentile = percentile;
    std::optional<llvm::Regex> excluded;
    if (!exclude.empty()) {
      excluded.emplace(exclude);
      std::string error;
      if (!excluded->isValid(error)) {
        module.emitError() << "qforge-fold-scales: bad exclude regex '"
                           << exclude << "': " << error;
        return signalPassFailure();
      }
    }
    SmallVector<ObserveOp> observers;
    module.walk([&](ObserveOp op) { observers.push_back(op); });
    for (ObserveOp op : observers) {
      if (excluded && excluded->match(op.getId())) {
        op.replaceAllUsesWith(op.getInput());
        op.erase();
        continue;
      }
      if (failed(replaceObserver(op, *table, *chosen, options)))
        return signalPassFailure();
    }
    mergeRequantizations(module);
  }

private:
  /// requantize(requantize(x, T1), T2) -> requantize(x, T2) when the inner
  /// result has no other use: one rounding instead of two (the intermediate
  /// type only loses information).
  void mergeRequantizations(ModuleOp module) {
    SmallVector<RequantizeOp> requantizes;
    module.walk([&](RequantizeOp op) { requantizes.push_back(op); });
    for (RequantizeOp op : requantizes) {
      auto inner = op.getInput().getDefiningOp<RequantizeOp>();
      if (!inner || !inner.getResult().hasOneUse())
        continue;
      op.getInputMutable().assign(inner.getInput());
      inner.erase();
    }
  }

  /// Inserts the observers, as qforge-insert-calibration does, on a module
  /// that has none.
  LogicalResult ensureObservers(ModuleOp module) {
    bool any = false;
    module.walk([&](ObserveOp) { any = true; });
    if (any)
      return success();
    OpPassManager pm(ModuleOp::getOperationName());
    pm.addPass(createInsertCalibration());
    return runPipeline(pm, module);
  }

  LogicalResult replaceObserver(ObserveOp op, const CalibrationTable &table,
                                CalibrationMethod chosen,
                                const RangeOptions &options) {
    auto found = table.observers.find(op.getId().str());
    if (found == table.observers.end())
      return op.emitError() << "qforge-fold-scales: the calibration table "
                            << calibration << " has no statistics for '"
                            << op.getId() << "' (incomplete table)";
    llvm::Expected<QuantRange> range =
        computeRange(found->second, chosen, options);
    if (!range)
      return op.emitError() << "qforge-fold-scales: '" << op.getId()
                            << "': " << llvm::toString(range.takeError());
    RankedTensorType type = op.getInput().getType();
    quant::UniformQuantizedType qtype =
        activationType(*range, options.symmetric, type.getElementType());
    OpBuilder builder(op);
    auto quantized = QuantizeOp::create(
        builder, op.getLoc(), RankedTensorType::get(type.getShape(), qtype),
        op.getInput());
    auto dequantized =
        DequantizeOp::create(builder, op.getLoc(), type, quantized.getResult());
    op.replaceAllUsesWith(dequantized.getResult());
    op.erase();
    return success();
  }
};

} // namespace
