//===- InsertCalibration.cpp - qforge-insert-calibration ------------------===//
//
// Puts a qforge.observe on every float activation of a quantizable op. Ids
// depend only on the function, the op's kind and its order among the
// quantizable ops of that kind (or its name location), so they are the same
// on the float module and on the instrumented one.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialect/QForgeOps.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Regex.h"

namespace qforge {
#define GEN_PASS_DEF_INSERTCALIBRATION
#include "passes/Passes.h.inc"
} // namespace qforge

using namespace mlir;
using namespace qforge;

namespace {

/// "matmul", "batch_matmul" or "conv" for a quantizable op, else "".
StringRef kindOf(Operation *op) {
  if (isa<linalg::MatmulOp>(op))
    return "matmul";
  if (isa<linalg::BatchMatmulOp>(op))
    return "batch_matmul";
  if (isa<linalg::Conv2DNhwcHwcfOp, linalg::Conv2DNchwFchwOp>(op))
    return "conv";
  return "";
}

/// Whether `value` is a constant, possibly behind layout ops (a weight).
bool isConstantWeight(Value value) {
  while (Operation *def = value.getDefiningOp()) {
    if (isa<arith::ConstantOp>(def) || def->hasTrait<OpTrait::ConstantLike>())
      return true;
    if (isa<DequantizeOp>(def))
      return isConstantWeight(def->getOperand(0));
    if (isa<quant::StorageCastOp, linalg::TransposeOp, tensor::CastOp,
            tensor::CollapseShapeOp, tensor::ExpandShapeOp, tensor::ReshapeOp>(
            def)) {
      value = def->getOperand(0);
      continue;
    }
    return false;
  }
  return false;
}

std::string nameOf(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().str();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location inner : fused.getLocations())
      if (std::string name = nameOf(inner); !name.empty())
        return name;
  return "";
}

/// The element types the runtime's observers read (qforge.observe's
/// verifier agrees). Other floats (f64, f8 ...) are left unobserved, with a
/// remark, rather than given an observer that cannot verify.
bool isObservable(Type element) {
  return element.isF32() || element.isF16() || element.isBF16();
}

void remarkUnobservable(Operation *op, StringRef id, Type element) {
  op->emitRemark() << "calibration point '" << id << "' not observed: "
                   << "element type " << element << " is not f32, f16 or bf16";
}

struct InsertCalibrationPass
    : public qforge::impl::InsertCalibrationBase<InsertCalibrationPass> {
  using InsertCalibrationBase::InsertCalibrationBase;

  /// Observes `op`'s result: every use then reads the observer's value.
  void observeResult(Operation *op, std::string id,
                     std::optional<llvm::Regex> &excluded,
                     llvm::StringSet<> &usedIds) {
    Value result = op->getResult(0);
    auto type = dyn_cast<RankedTensorType>(result.getType());
    if (type && isa<FloatType>(type.getElementType()) &&
        !isObservable(type.getElementType()) && !result.use_empty()) {
      remarkUnobservable(op, id, type.getElementType());
      return;
    }
    if (!type || !isObservable(type.getElementType()) || result.use_empty() ||
        llvm::any_of(result.getUsers(),
                     [](Operation *user) { return isa<ObserveOp>(user); }) ||
        (excluded && excluded->match(id)))
      return;
    if (!usedIds.insert(id).second)
      return;
    OpBuilder builder(op->getContext());
    builder.setInsertionPointAfter(op);
    auto observer = ObserveOp::create(builder, op->getLoc(), type, result,
                                      builder.getStringAttr(id));
    result.replaceAllUsesExcept(observer, observer);
  }

  void runOnOperation() override {
    llvm::StringSet<> kinds;
    for (StringRef kind : llvm::split(StringRef(ops), ','))
      if (!kind.trim().empty())
        kinds.insert(kind.trim());
    for (const auto &kind : kinds)
      if (kind.getKey() != "matmul" && kind.getKey() != "batch_matmul" &&
          kind.getKey() != "conv") {
        getOperation().emitError()
            << "qforge-insert-calibration: unknown op kind '" << kind.getKey()
            << "' in ops=; expected matmul, batch_matmul or conv";
        return signalPassFailure();
      }
    std::optional<llvm::Regex> excluded;
    if (!exclude.empty()) {
      excluded.emplace(exclude);
      std::string error;
      if (!excluded->isValid(error)) {
        getOperation().emitError()
            << "qforge-insert-calibration: bad exclude regex '" << exclude
            << "': " << error;
        return signalPassFailure();
      }
    }
    llvm::StringSet<> usedIds;
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      llvm::StringMap<int> counters;
      DenseMap<Value, Value> observed; // activation -> its observer
      WalkResult result = func.walk([&](Operation *op) -> WalkResult {
        StringRef kind = kindOf(op);
        if (kind.empty())
          return WalkResult::advance();
        int index = counters[kind]++; // counted even when not observed
        if (!kinds.contains(kind))
          return WalkResult::advance();
        std::string opName = nameOf(op->getLoc());
        if (opName.empty())
          opName = (kind + "_" + Twine(index)).str();
        std::string prefix = (func.getName() + "." + opName).str();
        const char *operandNames[] = {"lhs", "rhs"};
        for (unsigned i = 0; i < 2; ++i) {
          Value input = op->getOperand(i);
          auto type = dyn_cast<RankedTensorType>(input.getType());
          if (!type || !isa<FloatType>(type.getElementType()) ||
              isConstantWeight(input) || input.getDefiningOp<ObserveOp>())
            continue;
          std::string id = prefix + "." + operandNames[i];
          if (!isObservable(type.getElementType())) {
            remarkUnobservable(op, id, type.getElementType());
            continue;
          }
          if (excluded &&
              (excluded->match(id) || (!nameOf(op->getLoc()).empty() &&
                                       excluded->match(nameOf(op->getLoc())))))
            continue;
          auto found = observed.find(input);
          if (found != observed.end()) {
            op->setOperand(i, found->second);
            continue;
          }
          // Several ops may share a name location (repeated layers): the
          // later ones get _1, _2, ... in order, which stays deterministic.
          for (int n = 1; !usedIds.insert(id).second; ++n)
            id = prefix + "_" + std::to_string(n) + "." + operandNames[i];
          OpBuilder builder(op);
          Value observer = ObserveOp::create(builder, op->getLoc(), type, input,
                                             builder.getStringAttr(id));
          op->setOperand(i, observer);
          observed[input] = observer;
        }
        if (observeResults)
          observeResult(op, prefix + ".out", excluded, usedIds);
        return WalkResult::advance();
      });
      if (result.wasInterrupted())
        return signalPassFailure();
    }
  }
};

} // namespace
