// RUN: qforge-opt %s -split-input-file --qforge-lower-to-runtime | FileCheck %s

// Static sizes were checked by the verifier: no run-time check.
// CHECK-LABEL: func.func @static_k
// CHECK-NOT: qforge_rt_m_check_size
// CHECK: call @qforge_rt_m_gemm
func.func @static_k(%x: tensor<2x4xi8>, %w: tensor<4x3xi8>) -> tensor<2x3xi32> {
  %y = qforge.matmul %x, %w : tensor<2x4xi8>, tensor<4x3xi8> -> tensor<2x3xi32>
  return %y : tensor<2x3xi32>
}

// -----

// A dynamic contraction size: rhs K is compared with lhs K before the GEMM.
// CHECK: memref.global "private" constant @__qforge_check_0
// CHECK-LABEL: func.func @dynamic_k
// CHECK: %[[RK:.*]] = arith.index_cast {{.*}} : index to i64
// CHECK: call @qforge_rt_m_check_size(%[[RK]], %c4_i64
// CHECK: call @qforge_rt_m_gemm
func.func @dynamic_k(%x: tensor<2x4xi8>, %w: tensor<?x3xi8>) -> tensor<2x3xi32> {
  %y = qforge.matmul %x, %w : tensor<2x4xi8>, tensor<?x3xi8> -> tensor<2x3xi32>
  return %y : tensor<2x3xi32>
}

// -----

// Batched (unshared) rhs with a dynamic batch size, and a transposed rhs.
// CHECK-LABEL: func.func @dynamic_batch
// CHECK-COUNT-2: call @qforge_rt_m_check_size
// CHECK: call @qforge_rt_m_gemm
func.func @dynamic_batch(%x: tensor<?x2x4xi8>, %w: tensor<?x3x?xi8>) -> tensor<?x2x3xi32> {
  %y = qforge.matmul %x, %w rhs_transposed : tensor<?x2x4xi8>, tensor<?x3x?xi8> -> tensor<?x2x3xi32>
  return %y : tensor<?x2x3xi32>
}

// -----

// A dynamic M is what dynamic batching needs: nothing to check.
// CHECK-LABEL: func.func @dynamic_m
// CHECK-NOT: qforge_rt_m_check_size
// CHECK: call @qforge_rt_m_gemm
func.func @dynamic_m(%x: tensor<?x4xi8>, %w: tensor<4x3xi8>) -> tensor<?x3xi32> {
  %y = qforge.matmul %x, %w : tensor<?x4xi8>, tensor<4x3xi8> -> tensor<?x3xi32>
  return %y : tensor<?x3xi32>
}

// -----

// Per-axis quantization over a dynamic channel dimension.
// CHECK-LABEL: func.func @dynamic_axis
// CHECK: call @qforge_rt_m_check_size({{.*}}, %c2_i64
// CHECK: call @qforge_rt_m_quantize_per_axis
func.func @dynamic_axis(%x: tensor<?x3xf32>) -> tensor<?x3x!quant.uniform<i8:f32:0, {0.5, 0.25}>> {
  %q = qforge.quantize %x : tensor<?x3xf32> to tensor<?x3x!quant.uniform<i8:f32:0, {0.5, 0.25}>>
  return %q : tensor<?x3x!quant.uniform<i8:f32:0, {0.5, 0.25}>>
}
