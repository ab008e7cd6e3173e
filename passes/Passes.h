//===- Passes.h - qforge passes --------------------------------*- C++ -*-===//

#ifndef QFORGE_PASSES_PASSES_H
#define QFORGE_PASSES_PASSES_H

#include "dialect/QForgeDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace qforge {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

/// Registers the `qforge-to-llvm` pipeline: qforge-lower-to-runtime, one-shot
/// bufferization, buffer deallocation and upstream lowering to the LLVM
/// dialect.
/// and `qforge-to-nvvm`: the same for the cuda target, with the model's
/// tensors in device memory and every other op a generated GPU kernel.
void registerQForgePipelines();

} // namespace qforge

#endif // QFORGE_PASSES_PASSES_H
