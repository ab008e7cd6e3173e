//===- Passes.h - qforge passes --------------------------------*- C++ -*-===//

#ifndef QFORGE_PASSES_PASSES_H
#define QFORGE_PASSES_PASSES_H

#include "dialect/QForgeDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
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

/// Per-token dynamic quantizations of rows longer than this run in the
/// runtime's kernel (a block per row), not as generated linalg (a warp per
/// row keeps too few loads in flight: 68 us vs ~40 for 2048 rows of 16384
/// f16 on the H100; 57 us vs 51 with GELU for 8192 rows of 4096).
/// qforge-lower-to-runtime decides by it, and qforge-fuse-qdq moves a
/// matmul's GELU into such a quantization, on every target alike so that
/// cpu and cuda builds compute the same function.
constexpr int64_t kMaxQuantizeKernelRow = 2048;

/// Whether a per-token quantization of `type` (the input's) quantizes in
/// the runtime's kernel: its rows are longer than kMaxQuantizeKernelRow or
/// of unknown length.
inline bool quantizesInRuntimeKernel(mlir::RankedTensorType type) {
  int64_t row = type.getRank() ? type.getShape().back() : 1;
  return mlir::ShapedType::isDynamic(row) || row > kMaxQuantizeKernelRow;
}

} // namespace qforge

#endif // QFORGE_PASSES_PASSES_H
