//===- InitAll.cpp - qforge registration entry points ---------------------===//

#include "qforge/InitAll.h"

#include "dialect/QForgeDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

void qforge::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<qforge::QForgeDialect, mlir::quant::QuantDialect,
                  mlir::arith::ArithDialect, mlir::func::FuncDialect,
                  mlir::linalg::LinalgDialect, mlir::tensor::TensorDialect>();
}

void qforge::registerAllPasses() {
  static bool registered = [] {
    qforge::registerQForgePasses();
    qforge::registerQForgePipelines();
    return true;
  }();
  (void)registered;
}

void qforge::registerCodegenInterfaces(mlir::DialectRegistry &registry) {
  mlir::registerAllToLLVMIRTranslations(registry);
  mlir::NVVM::registerNVVMTargetInterfaceExternalModels(registry);
}
