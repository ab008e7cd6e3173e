//===- InitAll.h - register qforge with an MLIR context --------*- C++ -*-===//
//
// Entry points for tools that embed qforge (qforge-opt, or a downstream
// compiler such as an IREE or torch-mlir style stack):
//
//   mlir::DialectRegistry registry;
//   qforge::registerAllDialects(registry);   // qforge + what its passes use
//   qforge::registerAllPasses();             // qforge-* passes and pipelines
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_INITALL_H
#define QFORGE_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace qforge {

/// Registers the qforge dialect and the upstream dialects its ops and passes
/// create (quant, arith, tensor, linalg, func).
void registerAllDialects(mlir::DialectRegistry &registry);

/// Registers every qforge pass and pass pipeline with the global registry.
/// Safe to call more than once.
void registerAllPasses();

/// What the cuda target's code generation needs besides dialects: LLVM IR
/// translations of the builtin, LLVM, GPU and NVVM dialects and the NVVM
/// target's serialization (gpu-module-to-binary). Tools that run
/// `qforge-to-nvvm` call it on their registry.
void registerCodegenInterfaces(mlir::DialectRegistry &registry);

} // namespace qforge

#endif // QFORGE_INITALL_H
