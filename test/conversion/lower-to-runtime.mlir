// RUN: qforge-opt %s -split-input-file --qforge-lower-to-runtime --canonicalize | FileCheck %s

// Per-tensor quantize: the quantized result becomes i8, the call gets the
// input and output addresses, the element count and the parameters.
// CHECK-LABEL: func.func @quantize(%{{.*}}: tensor<2x4xf32>) -> tensor<2x4xi8> attributes {llvm.emit_c_interface}
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 1.000000e-01 : f32
// CHECK-DAG: %[[ZP:.*]] = arith.constant -3 : i32
// CHECK-DAG: %[[N:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[OUT:.*]] = memref.alloc() : memref<2x4xi8>
// CHECK: call @qforge_rt_m_quantize(%{{.*}}, %{{.*}}, %[[N]], %[[SCALE]], %[[ZP]], %{{.*}}, %{{.*}}, %{{.*}}) : (i64, i32, i64, f32, i32, i32, i32, i64) -> ()
// CHECK: %[[T:.*]] = bufferization.to_tensor %[[OUT]] restrict writable
// CHECK: return %[[T]] : tensor<2x4xi8>
func.func @quantize(%x: tensor<2x4xf32>) -> tensor<2x4x!quant.uniform<i8:f32, 0.1:-3>> {
  %q = qforge.quantize %x : tensor<2x4xf32> to tensor<2x4x!quant.uniform<i8:f32, 0.1:-3>>
  return %q : tensor<2x4x!quant.uniform<i8:f32, 0.1:-3>>
}

// -----

// quant.scast disappears; a per-axis dequantize passes its scales and zero
// points as constant vectors, and the tensor as [outer, channels, inner].
// CHECK-LABEL: func.func @dequantize_per_axis
// CHECK-NOT: quant.scast
// CHECK-DAG: arith.constant dense<[1.000000e-01, 2.000000e-01]> : tensor<2xf32>
// CHECK-DAG: arith.constant dense<0> : tensor<2xi32>
// CHECK: call @qforge_rt_m_dequantize_per_axis
func.func @dequantize_per_axis() -> tensor<3x2xf32> {
  %c = arith.constant dense<[[1, 2], [3, 4], [5, 6]]> : tensor<3x2xi8>
  %s = quant.scast %c : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f32:1, {0.1, 0.2}>>
  %d = qforge.dequantize %s : tensor<3x2x!quant.uniform<i8:f32:1, {0.1, 0.2}>> to tensor<3x2xf32>
  return %d : tensor<3x2xf32>
}

// -----

// Dynamic shapes: sizes come from tensor.dim at run time.
// CHECK-LABEL: func.func @dynamic_rows
// CHECK: tensor.dim
// CHECK: memref.alloc(%{{.*}}) : memref<?x64xi8>
// CHECK: memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK: call @qforge_rt_m_dynamic_quantize
func.func @dynamic_rows(%x: tensor<?x64xf16>) -> (tensor<?x64xi8>, tensor<?xf32>) {
  %q, %s = qforge.dynamic_quantize per_token %x : tensor<?x64xf16> -> tensor<?x64xi8>, tensor<?xf32>
  return %q, %s : tensor<?x64xi8>, tensor<?xf32>
}

// -----

// A quantization of GELU(x): the runtime's variant with the activation
// (QFORGE_ACT_GELU = 2) after the granularity (per_token = 1).
// CHECK-LABEL: func.func @quantize_of_gelu
// CHECK-NOT: call @qforge_rt_m_dynamic_quantize(
// CHECK: %[[GELU:.*]] = arith.constant 2 : i32
// CHECK: call @qforge_rt_m_dynamic_quantize_act(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[GELU]], %{{.*}}, %{{.*}}) : (i64, i32, i64, i64, i32, i32, i64, i64) -> ()
func.func @quantize_of_gelu(%x: tensor<4x8192xf16>) -> (tensor<4x8192xi8>, tensor<4xf32>) {
  %q, %s = qforge.dynamic_quantize per_token %x activation(gelu) : tensor<4x8192xf16> -> tensor<4x8192xi8>, tensor<4xf32>
  return %q, %s : tensor<4x8192xi8>, tensor<4xf32>
}

// -----

// A matmul with a requantized result: out dtype i8 (3) with its scale.
// CHECK-LABEL: func.func @matmul_requantized
// CHECK-DAG: %[[OUTSCALE:.*]] = arith.constant 5.000000e-01 : f32
// The storage range goes with it: [-128, 127] here.
// CHECK-DAG: %[[QMIN:.*]] = arith.constant -128 : i32
// CHECK-DAG: %[[QMAX:.*]] = arith.constant 127 : i32
// CHECK: call @qforge_rt_m_gemm({{.*}}, %[[OUTSCALE]], %{{.*}}, %[[QMIN]], %[[QMAX]], %{{.*}}) : (i64, i64, i64, i64, i32, i32, i64, i64, i64, i64, i64, i64, i64, i32, i32, i32, f32, i32, i32, i32, i64) -> ()
// CHECK: return %{{.*}} : tensor<2x16x4xi8>
func.func @matmul_requantized(%a: tensor<2x16x8xi8>, %w: tensor<4x8xi8>, %sw: tensor<4xf32>)
    -> tensor<2x16x4x!quant.uniform<i8:f32, 0.5>> {
  %y = qforge.matmul %a, %w rhs_transposed rhs_scale(%sw : tensor<4xf32>) activation(gelu)
       : tensor<2x16x8xi8>, tensor<4x8xi8> -> tensor<2x16x4x!quant.uniform<i8:f32, 0.5>>
  return %y : tensor<2x16x4x!quant.uniform<i8:f32, 0.5>>
}

// -----

// A call of a function with quantized types is retyped too.
// CHECK-LABEL: func.func @callee(%{{.*}}: tensor<4xi8>) -> tensor<4xi8>
// CHECK-LABEL: func.func @caller
// CHECK: call @callee(%{{.*}}) : (tensor<4xi8>) -> tensor<4xi8>
func.func @callee(%q: tensor<4x!quant.uniform<i8:f32, 0.1>>) -> tensor<4x!quant.uniform<i8:f32, 0.1>> {
  return %q : tensor<4x!quant.uniform<i8:f32, 0.1>>
}
func.func @caller(%q: tensor<4x!quant.uniform<i8:f32, 0.1>>) -> tensor<4x!quant.uniform<i8:f32, 0.1>> {
  %r = func.call @callee(%q) : (tensor<4x!quant.uniform<i8:f32, 0.1>>) -> tensor<4x!quant.uniform<i8:f32, 0.1>>
  return %r : tensor<4x!quant.uniform<i8:f32, 0.1>>
}

// -----

// An observer becomes a runtime call with its id's bytes in a global; the
// value itself passes through.
// CHECK: memref.global "private" constant @__qforge_observer_id_0 : memref<5xi8> = dense<[109, 46, 108, 104, 115]>
// CHECK-LABEL: func.func @observe(
// CHECK-SAME: %[[X:.*]]: tensor<4xf32>)
// CHECK: %[[ID:.*]] = memref.get_global @__qforge_observer_id_0
// CHECK: call @qforge_rt_m_observe(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (i64, i64, i64, i32, i64) -> ()
// CHECK: return %[[X]]
func.func @observe(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = qforge.observe %x {id = "m.lhs"} : tensor<4xf32>
  return %0 : tensor<4xf32>
}
