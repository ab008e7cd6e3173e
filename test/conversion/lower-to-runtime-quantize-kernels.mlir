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
