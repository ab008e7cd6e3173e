// RUN: qforge-opt %s -split-input-file --qforge-insert-calibration | FileCheck %s
// RUN: qforge-opt %s -split-input-file --qforge-insert-calibration="ops=conv" | FileCheck %s --check-prefix=CONV
// RUN: qforge-opt %s -split-input-file --qforge-insert-calibration="exclude=matmul_0" | FileCheck %s --check-prefix=EXCL
// RUN: qforge-opt %s -split-input-file --qforge-insert-calibration="observe-results=true" | FileCheck %s --check-prefix=RESULTS
// Running the pass twice changes nothing the second time.
// RUN: qforge-opt %s -split-input-file --qforge-insert-calibration --qforge-insert-calibration | FileCheck %s

// The activation of each matmul is observed, the constant weight is not; ids
// count the matmuls of the function in order.
// CHECK-LABEL: func.func @mlp
// CHECK: %[[O0:.*]] = qforge.observe %arg0 {id = "mlp.matmul_0.lhs"}
// CHECK: linalg.matmul ins(%[[O0]], %{{.*}} :
// CHECK: %[[O1:.*]] = qforge.observe %{{.*}} {id = "mlp.matmul_1.lhs"}
// CHECK: linalg.matmul ins(%[[O1]], %{{.*}} :
// CHECK-NOT: qforge.observe
// CONV-LABEL: func.func @mlp
// CONV-NOT: qforge.observe
// An excluded op keeps its number: the second matmul is still matmul_1.
// EXCL-LABEL: func.func @mlp
// EXCL-NOT: matmul_0
// EXCL: qforge.observe %{{.*}} {id = "mlp.matmul_1.lhs"}
// With observe-results, the first matmul's result is observed once (its
// observer also serves as the second matmul's input) and the last one's too.
// RESULTS-LABEL: func.func @mlp
// RESULTS: qforge.observe %arg0 {id = "mlp.matmul_0.lhs"}
// RESULTS: %[[H:.*]] = linalg.matmul
// RESULTS: %[[OH:.*]] = qforge.observe %[[H]] {id = "mlp.matmul_0.out"}
// RESULTS: linalg.matmul ins(%[[OH]],
// RESULTS: qforge.observe %{{.*}} {id = "mlp.matmul_1.out"}
// RESULTS-NOT: qforge.observe
func.func @mlp(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
  %w1 = arith.constant dense<1.0> : tensor<3x4xf32>
  %w2 = arith.constant dense<1.0> : tensor<4x2xf32>
  %e1 = tensor.empty() : tensor<2x4xf32>
  %h = linalg.matmul ins(%x, %w1 : tensor<2x3xf32>, tensor<3x4xf32>) outs(%e1 : tensor<2x4xf32>) -> tensor<2x4xf32>
  %e2 = tensor.empty() : tensor<2x2xf32>
  %y = linalg.matmul ins(%h, %w2 : tensor<2x4xf32>, tensor<4x2xf32>) outs(%e2 : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// Activation x activation (attention scores): both inputs observed. The
// same activation feeding two ops is observed once.
// RESULTS-LABEL: func.func @attention
// CHECK-LABEL: func.func @attention
// CHECK: %[[Q:.*]] = qforge.observe %arg0 {id = "attention.batch_matmul_0.lhs"}
// CHECK: %[[K:.*]] = qforge.observe %arg1 {id = "attention.batch_matmul_0.rhs"}
// CHECK: linalg.batch_matmul ins(%[[Q]], %[[K]] :
// CHECK: linalg.batch_matmul ins(%[[Q]], %{{.*}} :
// CHECK-NOT: qforge.observe
func.func @attention(%q: tensor<2x4x8xf32>, %k: tensor<2x8x4xf32>) -> (tensor<2x4x4xf32>, tensor<2x4x4xf32>) {
  %e = tensor.empty() : tensor<2x4x4xf32>
  %s = linalg.batch_matmul ins(%q, %k : tensor<2x4x8xf32>, tensor<2x8x4xf32>) outs(%e : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  %w = arith.constant dense<0.5> : tensor<2x8x4xf32>
  %t = linalg.batch_matmul ins(%q, %w : tensor<2x4x8xf32>, tensor<2x8x4xf32>) outs(%e : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  return %s, %t : tensor<2x4x4xf32>, tensor<2x4x4xf32>
}

// -----

// A named location (as torch-mlir emits) names the observer; a weight in
// QDQ form (after qforge-quantize-weights) counts as a constant.
// CHECK-LABEL: func.func @named
// CHECK: qforge.observe %arg0 {id = "named.fc1.lhs"}
// CHECK-NOT: qforge.observe
// CONV-LABEL: func.func @named
// CONV-NOT: qforge.observe
func.func @named(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
  %c = arith.constant dense<1> : tensor<3x2xi8>
  %s = quant.scast %c : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f32, 0.1>>
  %w = qforge.dequantize %s : tensor<3x2x!quant.uniform<i8:f32, 0.1>> to tensor<3x2xf32>
  %e = tensor.empty() : tensor<2x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x3xf32>, tensor<3x2xf32>) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32> loc("fc1")
  return %y : tensor<2x2xf32>
}

// -----

// Convolutions: the input image is observed.
// CHECK-LABEL: func.func @conv
// CHECK: qforge.observe %arg0 {id = "conv.conv_0.lhs"}
// CONV-LABEL: func.func @conv
// CONV: qforge.observe %arg0 {id = "conv.conv_0.lhs"}
func.func @conv(%x: tensor<1x8x8x2xf32>) -> tensor<1x6x6x4xf32> {
  %w = arith.constant dense<0.5> : tensor<3x3x2x4xf32>
  %init = tensor.empty() : tensor<1x6x6x4xf32>
  %0 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
       ins(%x, %w : tensor<1x8x8x2xf32>, tensor<3x3x2x4xf32>) outs(%init : tensor<1x6x6x4xf32>) -> tensor<1x6x6x4xf32>
  return %0 : tensor<1x6x6x4xf32>
}

// -----

// Ops sharing a name location (repeated layers) get _1, _2, ... in order.
// CHECK-LABEL: func.func @repeated
// CHECK: qforge.observe %arg0 {id = "repeated.fc.lhs"}
// CHECK: qforge.observe %arg1 {id = "repeated.fc_1.lhs"}
func.func @repeated(%x: tensor<2x2xf32>, %y: tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>) {
  %w = arith.constant dense<1.0> : tensor<2x2xf32>
  %e = tensor.empty() : tensor<2x2xf32>
  %a = linalg.matmul ins(%x, %w : tensor<2x2xf32>, tensor<2x2xf32>) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32> loc("fc")
  %b = linalg.matmul ins(%y, %w : tensor<2x2xf32>, tensor<2x2xf32>) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32> loc("fc")
  return %a, %b : tensor<2x2xf32>, tensor<2x2xf32>
}
