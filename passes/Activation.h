//===- Activation.h - recognising activations by what they compute -*- C++
//-*-===//
//
// Frontends spell an activation with different op sequences (torch-mlir's
// GELU is `x * 0.5 * (1 + erf((x - 0) / (1 * sqrt 2)))`); qforge recognises
// one by evaluating the body at sample points instead of matching ops. Used
// by qforge-fuse-qdq (int8 epilogues) and qforge-lower-to-runtime (float
// GEMM epilogues).
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_PASSES_ACTIVATION_H
#define QFORGE_PASSES_ACTIVATION_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Block.h"
#include "mlir/IR/Value.h"

namespace qforge {

/// Whether a scalar linalg body computes GELU in its exact erf form of
/// `input` (its first argument by default, or a value computed in the body,
/// such as x + bias: the ops up to it are then skipped).
bool computesGelu(mlir::Block &body, mlir::Value input = nullptr);

/// The `x + bias` at the head of an epilogue body whose arguments are
/// (x, bias, ...): an arith.addf of the first two arguments, each used
/// only there; null otherwise.
mlir::arith::AddFOp biasAdd(mlir::Block &body);

} // namespace qforge

#endif // QFORGE_PASSES_ACTIVATION_H
