// RUN: qforge-opt %s --inline | FileCheck %s

// qforge ops are legal to inline: a callee holding them is inlined into its
// caller (before the dialect registered an inliner interface, the call stayed,
// and a cuda-target model's buffers then needed host-side bookkeeping).
// CHECK-LABEL: func.func @caller
// CHECK-NOT: call @qdq
// CHECK: %[[Q:.*]] = qforge.quantize %{{.*}} : tensor<4x8xf32> to tensor<4x8x!quant.uniform<i8:f32, 5.000000e-02>>
// CHECK: qforge.dequantize %[[Q]]
// CHECK-NOT: call @qdq
func.func private @qdq(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %q = qforge.quantize %x : tensor<4x8xf32> to tensor<4x8x!quant.uniform<i8:f32, 0.05>>
  %d = qforge.dequantize %q : tensor<4x8x!quant.uniform<i8:f32, 0.05>> to tensor<4x8xf32>
  return %d : tensor<4x8xf32>
}

func.func @caller(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = call @qdq(%x) : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}
