// RUN: qforge-opt %s --qforge-decompose-aggregates | FileCheck %s

// linalg.softmax becomes the reductions and elementwise ops it stands for.
// CHECK-LABEL: func.func @softmax
// CHECK-NOT: linalg.softmax
// CHECK: linalg.fill
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: arith.maxnumf
// CHECK: math.exp
// CHECK: arith.divf
func.func @softmax(%x: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %e = tensor.empty() : tensor<1x2x4xf32>
  %p = linalg.softmax dimension(2) ins(%x : tensor<1x2x4xf32>) outs(%e : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  return %p : tensor<1x2x4xf32>
}
