// Bad pass options are errors with a clear message and a non-zero exit.
// RUN: not qforge-opt %s --qforge-quantize-weights="granularity=per-row" 2>&1 | FileCheck %s --check-prefix=GRAN
// RUN: not qforge-opt %s --qforge-quantize-weights="bits=4" 2>&1 | FileCheck %s --check-prefix=BITS4
// RUN: not qforge-opt %s --qforge-quantize-weights="bits=3" 2>&1 | FileCheck %s --check-prefix=BITS3
// RUN: not qforge-opt %s --qforge-quantize-weights="granularity=per-group group-size=0" 2>&1 | FileCheck %s --check-prefix=GSIZE
// RUN: not qforge-opt %s --qforge-quantize-weights="granularity=per-group group-size=3" 2>&1 | FileCheck %s --check-prefix=GDIV

// GRAN: error: qforge-quantize-weights: unknown granularity 'per-row'; expected per-channel, per-tensor or per-group
// BITS4: error: qforge-quantize-weights: bits=4 needs granularity=per-group
// BITS3: error: qforge-quantize-weights: bits must be 8 or 4, got 3
// GSIZE: error: qforge-quantize-weights: group-size must be positive, got 0
// GDIV: error: cannot quantize the weight of 'linalg.matmul': group-size 3 does not divide the reduction dimension of size 4

func.func @f(%x: tensor<2x4xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<0.5> : tensor<4x2xf32>
  %init = tensor.empty() : tensor<2x2xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x2xf32>) outs(%init : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}
