// RUN: qforge-opt %s -split-input-file --qforge-insert-calibration="observe-results=true" -verify-diagnostics | FileCheck %s

// An f64 activation has no runtime observer: it is left unobserved with a
// remark (an observer there would not verify).
// CHECK-LABEL: func.func @f64_activation
// CHECK-NOT: qforge.observe
func.func @f64_activation(%x: tensor<2x4xf64>) -> tensor<2x2xf64> {
  %w = arith.constant dense<0.5> : tensor<4x2xf64>
  %init = tensor.empty() : tensor<2x2xf64>
  // expected-remark @+2 {{calibration point 'f64_activation.matmul_0.lhs' not observed: element type 'f64' is not f32, f16 or bf16}}
  // expected-remark @+1 {{calibration point 'f64_activation.matmul_0.out' not observed: element type 'f64' is not f32, f16 or bf16}}
  %0 = linalg.matmul ins(%x, %w : tensor<2x4xf64>, tensor<4x2xf64>) outs(%init : tensor<2x2xf64>) -> tensor<2x2xf64>
  %1 = arith.addf %0, %0 : tensor<2x2xf64>
  return %1 : tensor<2x2xf64>
}

// -----

// Integer matmuls are not calibration points at all: silently skipped.
// CHECK-LABEL: func.func @int_matmul
// CHECK-NOT: qforge.observe
func.func @int_matmul(%x: tensor<2x4xi32>) -> tensor<2x2xi32> {
  %w = arith.constant dense<3> : tensor<4x2xi32>
  %init = tensor.empty() : tensor<2x2xi32>
  %0 = linalg.matmul ins(%x, %w : tensor<2x4xi32>, tensor<4x2xi32>) outs(%init : tensor<2x2xi32>) -> tensor<2x2xi32>
  return %0 : tensor<2x2xi32>
}
