// A syntax error inside a qforge op is reported with its location.
// RUN: not qforge-opt %s 2>&1 | FileCheck %s

func.func @bad(%a: tensor<4x8xi8>, %b: tensor<8x2xi8>) -> tensor<4x2xi32> {
  // CHECK: parse-error.mlir:[[@LINE+1]]:{{[0-9]+}}: error: expected ':'
  %0 = qforge.matmul %a, %b -> tensor<4x2xi32>
  return %0 : tensor<4x2xi32>
}
