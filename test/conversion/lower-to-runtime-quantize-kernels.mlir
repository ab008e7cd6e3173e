// RUN: qforge-opt %s -split-input-file --qforge-lower-to-runtime=quantize-kernels=true | FileCheck %s

// A per-tensor quantize becomes the runtime's formula as a linalg.generic:
// x / scale in f32, round half to even, clamp to [qmin - zp, qmax - zp],
// plus the zero point, NaN to the zero point.
// CHECK-LABEL: func.func @per_tensor
// CHECK-NOT: call @qforge_rt_m_quantize
// CHECK: linalg.generic {{.*}} ins(%arg0 : tensor<4x?xf16>) outs(%{{.*}} : tensor<4x?xi8>)
// CHECK: ^bb0(%[[X:.*]]: f16, %{{.*}}: i8):
// CHECK: %[[XF:.*]] = arith.extf %[[X]] : f16 to f32
// CHECK: %[[D:.*]] = arith.divf %[[XF]], %{{.*}} : f32
// CHECK: math.roundeven %[[D]] : f32
// CHECK: arith.fptosi
// CHECK: arith.addi
// CHECK: arith.cmpf uno, %[[XF]], %[[XF]]
// CHECK: arith.trunci {{.*}} : i32 to i8
func.func @per_tensor(%x: tensor<4x?xf16>) -> tensor<4x?x!quant.uniform<i8:f16, 0.05:3>> {
  %q = qforge.quantize %x : tensor<4x?xf16> to tensor<4x?x!quant.uniform<i8:f16, 0.05:3>>
  return %q : tensor<4x?x!quant.uniform<i8:f16, 0.05:3>>
}

// -----

// Per-axis quantization stays a runtime call.
// CHECK-LABEL: func.func @per_axis
// CHECK: call @qforge_rt_m_quantize_per_axis
// CHECK-NOT: linalg.generic
func.func @per_axis(%x: tensor<4x2xf32>) -> tensor<4x2x!quant.uniform<i8:f32:1, {0.1, 0.2}>> {
  %q = qforge.quantize %x : tensor<4x2xf32> to tensor<4x2x!quant.uniform<i8:f32:1, {0.1, 0.2}>>
  return %q : tensor<4x2x!quant.uniform<i8:f32:1, {0.1, 0.2}>>
}

// -----

// Per-token dynamic quantization of short rows: the runtime kernel's
// formula as linalg (max of the finite |x| per row, then the codes, then
// the scales), no runtime call.
// CHECK-LABEL: func.func @per_token_short_rows
// CHECK-NOT: call @qforge_rt_m_dynamic_quantize
// CHECK: %[[ZERO:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<16xf32>)
// CHECK: %[[MAX:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]} ins(%arg0 : tensor<16x64xf16>) outs(%[[ZERO]] : tensor<16xf32>)
// CHECK: math.absf
// CHECK: arith.cmpf olt
// CHECK: arith.maximumf
// CHECK: %[[Q:.*]] = linalg.generic {{.*}} ins(%arg0, %[[MAX]] : tensor<16x64xf16>, tensor<16xf32>) outs(%{{.*}} : tensor<16x64xi8>)
// CHECK: math.roundeven
// CHECK: arith.fptosi %{{.*}} : f32 to i8
// CHECK: %[[S:.*]] = linalg.generic {{.*}} ins(%[[MAX]] : tensor<16xf32>) outs(%{{.*}} : tensor<16xf32>)
// CHECK: return %[[Q]], %[[S]]
func.func @per_token_short_rows(%x: tensor<16x64xf16>) -> (tensor<16x64xi8>, tensor<16xf32>) {
  %q, %s = qforge.dynamic_quantize per_token %x : tensor<16x64xf16> -> tensor<16x64xi8>, tensor<16xf32>
  return %q, %s : tensor<16x64xi8>, tensor<16xf32>
}

// -----

// Rows of 16384 from outside linalg (a GEMM's output): a warp per row
// would be slower than the runtime's kernel, which stays.
// CHECK-LABEL: func.func @per_token_long_rows
// CHECK: call @qforge_rt_m_dynamic_quantize
// CHECK-NOT: linalg.generic
func.func @per_token_long_rows(%x: tensor<8x16384xf16>) -> (tensor<8x16384xi8>, tensor<8xf32>) {
  %q, %s = qforge.dynamic_quantize per_token %x : tensor<8x16384xf16> -> tensor<8x16384xi8>, tensor<8xf32>
  return %q, %s : tensor<8x16384xi8>, tensor<8xf32>
}

// -----

// Long rows made by a linalg op (a layernorm, here a scaling): linalg, so
// that the quantization joins that op's kernel.
// CHECK-LABEL: func.func @per_token_long_rows_of_linalg
// CHECK-NOT: call @qforge_rt_m_dynamic_quantize
// CHECK: math.roundeven
func.func @per_token_long_rows_of_linalg(%x: tensor<8x16384xf16>) -> (tensor<8x16384xi8>, tensor<8xf32>) {
  %e = tensor.empty() : tensor<8x16384xf16>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<8x16384xf16>) outs(%e : tensor<8x16384xf16>) {
  ^bb0(%v: f16, %o: f16):
    %d = arith.addf %v, %v : f16
    linalg.yield %d : f16
  } -> tensor<8x16384xf16>
  %q, %s = qforge.dynamic_quantize per_token %y : tensor<8x16384xf16> -> tensor<8x16384xi8>, tensor<8xf32>
  return %q, %s : tensor<8x16384xi8>, tensor<8xf32>
}

// -----

// Short rows with an activation still go to the runtime (its kernel applies
// GELU as its epilogues do); none of the per-token generics are emitted.
// CHECK-LABEL: func.func @per_token_short_rows_of_gelu
// CHECK-NOT: linalg.generic
// CHECK: call @qforge_rt_m_dynamic_quantize_act
func.func @per_token_short_rows_of_gelu(%x: tensor<16x64xf16>) -> (tensor<16x64xi8>, tensor<16xf32>) {
  %q, %s = qforge.dynamic_quantize per_token %x activation(gelu) : tensor<16x64xf16> -> tensor<16x64xi8>, tensor<16xf32>
  return %q, %s : tensor<16x64xi8>, tensor<16xf32>
}
