// Stock mlir-opt from LLVM 22 runs qforge through the plugin: the dialect
// parses and verifies, and the passes and pipelines are available.
// (The system mlir-opt is not instrumented: it cannot load an ASan plugin.)
// UNSUPPORTED: asan
// RUN: mlir-opt %s --load-dialect-plugin=%qforge_plugin --load-pass-plugin=%qforge_plugin --pass-pipeline='builtin.module(qforge-quantize-weights,qforge-fuse-qdq{dynamic=true},canonicalize)' | FileCheck %s
// RUN: not mlir-opt %s --load-dialect-plugin=%qforge_plugin --load-pass-plugin=%qforge_plugin --pass-pipeline='builtin.module(qforge-fuse-qdq{bogus=1})' 2>&1 | FileCheck %s --check-prefix=BADOPT

// CHECK-LABEL: func.func @linear
// CHECK: qforge.dynamic_quantize per_token
// CHECK: qforge.matmul {{.*}} rhs_transposed
// BADOPT: error: <Pass-Options-Parser>: no such option bogus
func.func @linear(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[1.0, 0.5, -1.27], [-2.0, 4.0, 0.0]]> : tensor<2x3xf32>
  %et = tensor.empty() : tensor<3x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%et : tensor<3x2xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
