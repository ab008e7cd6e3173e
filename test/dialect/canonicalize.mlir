// RUN: qforge-opt %s --canonicalize --cse | FileCheck %s

// The rounding of a quantize/dequantize pair is the program: canonicalize must
// keep both ops (upstream quant.dcast(quant.qcast(x)) would fold to x).
// CHECK-LABEL: func.func @qdq_is_kept
// CHECK: %[[Q:.*]] = qforge.quantize
// CHECK: %[[D:.*]] = qforge.dequantize %[[Q]]
// CHECK: return %[[D]]
func.func @qdq_is_kept(%x: tensor<4xf32>) -> tensor<4xf32> {
  %q = qforge.quantize %x : tensor<4xf32> to tensor<4x!quant.uniform<i8:f32, 0.1>>
  %d = qforge.dequantize %q : tensor<4x!quant.uniform<i8:f32, 0.1>> to tensor<4xf32>
  return %d : tensor<4xf32>
}

// A requantize to the same type is the identity.
// CHECK-LABEL: func.func @requantize_same_type
// CHECK-NOT: qforge.requantize
// CHECK: return %arg0
func.func @requantize_same_type(%q: tensor<4x!quant.uniform<i8:f32, 0.1>>) -> tensor<4x!quant.uniform<i8:f32, 0.1>> {
  %r = qforge.requantize %q : tensor<4x!quant.uniform<i8:f32, 0.1>> to tensor<4x!quant.uniform<i8:f32, 0.1>>
  return %r : tensor<4x!quant.uniform<i8:f32, 0.1>>
}

// Two requantizations are not merged: each rounds.
// CHECK-LABEL: func.func @requantize_chain_kept
// CHECK-COUNT-2: qforge.requantize
func.func @requantize_chain_kept(%q: tensor<4x!quant.uniform<i8:f32, 0.1>>) -> tensor<4x!quant.uniform<i8:f32, 0.3>> {
  %a = qforge.requantize %q : tensor<4x!quant.uniform<i8:f32, 0.1>> to tensor<4x!quant.uniform<i8:f32, 0.2>>
  %b = qforge.requantize %a : tensor<4x!quant.uniform<i8:f32, 0.2>> to tensor<4x!quant.uniform<i8:f32, 0.3>>
  return %b : tensor<4x!quant.uniform<i8:f32, 0.3>>
}

// Observers record statistics: an unused one survives, and two observers of
// the same value are not merged.
// CHECK-LABEL: func.func @observers_kept
// CHECK: qforge.observe %arg0 {id = "a"}
// CHECK: qforge.observe %arg0 {id = "a"}
// CHECK: qforge.observe %arg0 {id = "unused"}
func.func @observers_kept(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %a = qforge.observe %x {id = "a"} : tensor<4xf32>
  %b = qforge.observe %x {id = "a"} : tensor<4xf32>
  %c = qforge.observe %x {id = "unused"} : tensor<4xf32>
  return %a, %b : tensor<4xf32>, tensor<4xf32>
}

// Pure ops with no users are erased, and identical ones are merged.
// CHECK-LABEL: func.func @pure_ops_cse
// CHECK: qforge.matmul
// CHECK-NOT: qforge.matmul
// CHECK-NOT: qforge.dynamic_quantize
func.func @pure_ops_cse(%a: tensor<4x8xi8>, %b: tensor<8x2xi8>, %x: tensor<4x8xf32>) -> (tensor<4x2xi32>, tensor<4x2xi32>) {
  %0 = qforge.matmul %a, %b : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x2xi32>
  %1 = qforge.matmul %a, %b : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x2xi32>
  %q, %s = qforge.dynamic_quantize per_token %x : tensor<4x8xf32> -> tensor<4x8xi8>, tensor<4xf32>
  return %0, %1 : tensor<4x2xi32>, tensor<4x2xi32>
}
