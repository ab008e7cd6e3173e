// RUN: not qforge-opt %s --qforge-insert-calibration="ops=matmul,softmax" 2>&1 | FileCheck %s --check-prefix=KIND
// RUN: not qforge-opt %s --qforge-insert-calibration="exclude=(" 2>&1 | FileCheck %s --check-prefix=REGEX

// KIND: error: qforge-insert-calibration: unknown op kind 'softmax' in ops=; expected matmul, batch_matmul or conv
// REGEX: error: qforge-insert-calibration: bad exclude regex '('

func.func @f(%x: tensor<2x2xf32>, %y: tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>) {
  %w = arith.constant dense<1.0> : tensor<2x2xf32>
  %e = tensor.empty() : tensor<2x2xf32>
  %a = linalg.matmul ins(%x, %w : tensor<2x2xf32>, tensor<2x2xf32>) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32> loc("fc")
  %b = linalg.matmul ins(%y, %w : tensor<2x2xf32>, tensor<2x2xf32>) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32> loc("fc")
  return %a, %b : tensor<2x2xf32>, tensor<2x2xf32>
}
