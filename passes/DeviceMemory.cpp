//===- DeviceMemory.cpp - qforge-device-memory ----------------------------===//
//
// Moves a bufferized model's buffers to the device (see Passes.td): host
// allocations, frees and copies become their gpu dialect forms, and the
// constants the model reads become the device copies the runtime keeps.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/PatternMatch.h"

namespace qforge {
#define GEN_PASS_DEF_DEVICEMEMORY
#include "passes/Passes.h.inc"
} // namespace qforge

using namespace mlir;

namespace {

constexpr const char *kDeviceConstant = "qforge_rt_m_device_constant";

/// Declares `memref<?xi8> qforge_rt_m_device_constant(i64 host, i64 bytes)`
/// with a C interface (the runtime fills the result descriptor).
void declareDeviceConstant(ModuleOp module) {
  if (module.lookupSymbol<func::FuncOp>(kDeviceConstant))
    return;
  OpBuilder b(module.getContext());
  b.setInsertionPointToStart(module.getBody());
  auto bytes = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  auto decl = func::FuncOp::create(
      b, module.getLoc(), kDeviceConstant,
      b.getFunctionType({b.getI64Type(), b.getI64Type()}, {bytes}));
  decl.setPrivate();
  decl->setAttr("llvm.emit_c_interface", b.getUnitAttr());
}

int64_t byteWidth(Type element) {
  return (element.getIntOrFloatBitWidth() + 7) / 8;
}

/// memref.get_global of a model constant -> its device copy, viewed with
/// the global's type.
LogicalResult replaceGlobal(memref::GetGlobalOp get) {
  auto type = cast<MemRefType>(get.getType());
  if (!type.hasStaticShape() || !type.getLayout().isIdentity() ||
      !type.getElementType().isIntOrFloat())
    return get.emitError("qforge-device-memory: cannot move constant global "
                         "of type ")
           << type << " to the device";
  OpBuilder b(get);
  b.setInsertionPointAfter(get);
  Location loc = get.getLoc();
  int64_t bytes = type.getNumElements() * byteWidth(type.getElementType());
  Value address = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, get);
  Value host = arith::IndexCastOp::create(b, loc, b.getI64Type(), address);
  Value size = arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(bytes));
  auto bytesType = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  Value device =
      func::CallOp::create(b, loc, kDeviceConstant, TypeRange{bytesType},
                           ValueRange{host, size})
          .getResult(0);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value view = memref::ViewOp::create(b, loc, type, device, zero, ValueRange{});
  get.getResult().replaceAllUsesExcept(view, address.getDefiningOp());
  return success();
}

struct DeviceMemoryPass
    : public qforge::impl::DeviceMemoryBase<DeviceMemoryPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> work;
    for (auto func : module.getOps<func::FuncOp>())
      if (!func.isExternal())
        func.walk([&](Operation *op) {
          if (isa<memref::AllocOp, memref::DeallocOp, memref::CopyOp>(op))
            work.push_back(op);
          else if (auto get = dyn_cast<memref::GetGlobalOp>(op))
            if (!get.getName().starts_with("__qforge_"))
              work.push_back(op);
        });
    if (llvm::any_of(
            work, [](Operation *op) { return isa<memref::GetGlobalOp>(op); }))
      declareDeviceConstant(module);

    for (Operation *op : work) {
      OpBuilder b(op);
      Location loc = op->getLoc();
      if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
        auto gpuAlloc = gpu::AllocOp::create(
            b, loc, alloc.getType(), /*asyncToken=*/Type(), ValueRange{},
            alloc.getDynamicSizes(), alloc.getSymbolOperands(),
            /*hostShared=*/false);
        alloc.replaceAllUsesWith(gpuAlloc.getMemref());
        alloc.erase();
      } else if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
        gpu::DeallocOp::create(b, loc, /*asyncToken=*/Type(), ValueRange{},
                               dealloc.getMemref());
        dealloc.erase();
      } else if (auto copy = dyn_cast<memref::CopyOp>(op)) {
        gpu::MemcpyOp::create(b, loc, /*asyncToken=*/Type(), ValueRange{},
                              copy.getTarget(), copy.getSource());
        copy.erase();
      } else if (failed(replaceGlobal(cast<memref::GetGlobalOp>(op)))) {
        return signalPassFailure();
      }
    }
  }
};

} // namespace
