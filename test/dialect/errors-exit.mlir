// Malformed qforge IR is an error with a location and a non-zero exit,
// never a crash. `not` fails the test if qforge-opt exits 0 (or crashes: a
// signal is not a plain failure to `not`).
// RUN: not qforge-opt %s 2>&1 | FileCheck %s

// CHECK: errors-exit.mlir:[[@LINE+2]]:8: error: 'qforge.quantize' op result must have a !quant.uniform element type, got 'f32'
func.func @bad(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = qforge.quantize %x : tensor<4xf32> to tensor<4xf32>
  return %0 : tensor<4xf32>
}
