// RUN: qforge-opt %s | FileCheck %s
// Round trip through the generic form must print the same custom form again.
// RUN: qforge-opt %s --mlir-print-op-generic | qforge-opt | FileCheck %s
// And the generic form itself names every op.
// RUN: qforge-opt %s --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

!qi8 = !quant.uniform<i8:f32, 0.05>
!qi8_zp = !quant.uniform<i8:f32, 0.1:-3>
!qaxis = !quant.uniform<i8<-127:127>:f32:1, {0.1, 0.2, 0.3, 0.4}>
!qf16 = !quant.uniform<i8:f16, 0.25>

// CHECK-LABEL: func.func @observe
// CHECK: qforge.observe %{{.*}} {id = "matmul_0.lhs"} : tensor<4x8xf32>
// GENERIC-LABEL: sym_name = "observe"
// GENERIC: "qforge.observe"(%{{.*}}) <{id = "matmul_0.lhs"}>
func.func @observe(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = qforge.observe %x {id = "matmul_0.lhs"} : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @observe_dynamic_bf16
// CHECK: qforge.observe %{{.*}} {id = "x"} : tensor<?x8xbf16>
func.func @observe_dynamic_bf16(%x: tensor<?x8xbf16>) -> tensor<?x8xbf16> {
  %0 = qforge.observe %x {id = "x"} : tensor<?x8xbf16>
  return %0 : tensor<?x8xbf16>
}

// CHECK-LABEL: func.func @quantize_per_tensor
// CHECK: %[[Q:.*]] = qforge.quantize %{{.*}} : tensor<4x8xf32> to tensor<4x8x!quant.uniform<i8:f32, 5.000000e-02>>
// CHECK: qforge.dequantize %[[Q]] : tensor<4x8x!quant.uniform<i8:f32, 5.000000e-02>> to tensor<4x8xf32>
// GENERIC-LABEL: sym_name = "quantize_per_tensor"
// GENERIC: "qforge.quantize"
// GENERIC: "qforge.dequantize"
func.func @quantize_per_tensor(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %q = qforge.quantize %x : tensor<4x8xf32> to tensor<4x8x!qi8>
  %d = qforge.dequantize %q : tensor<4x8x!qi8> to tensor<4x8xf32>
  return %d : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @quantize_zero_point_f16
// CHECK: qforge.quantize %{{.*}} : tensor<3xf16> to tensor<3x!quant.uniform<i8:f16, 2.500000e-01>>
func.func @quantize_zero_point_f16(%x: tensor<3xf16>) -> tensor<3x!qf16> {
  %q = qforge.quantize %x : tensor<3xf16> to tensor<3x!qf16>
  return %q : tensor<3x!qf16>
}

// CHECK-LABEL: func.func @quantize_per_axis
// CHECK: qforge.quantize %{{.*}} : tensor<2x4xf32> to tensor<2x4x!quant.uniform<i8<-127:127>:f32:1, {1.000000e-01,2.000000e-01,3.000000e-01,4.000000e-01}>>
func.func @quantize_per_axis(%x: tensor<2x4xf32>) -> tensor<2x4x!qaxis> {
  %q = qforge.quantize %x : tensor<2x4xf32> to tensor<2x4x!qaxis>
  return %q : tensor<2x4x!qaxis>
}

// CHECK-LABEL: func.func @quantize_dynamic_dim_per_axis
// CHECK: qforge.quantize %{{.*}} : tensor<?x4xf32> to tensor<?x4x!quant.uniform
func.func @quantize_dynamic_dim_per_axis(%x: tensor<?x4xf32>) -> tensor<?x4x!qaxis> {
  %q = qforge.quantize %x : tensor<?x4xf32> to tensor<?x4x!qaxis>
  return %q : tensor<?x4x!qaxis>
}

// CHECK-LABEL: func.func @quantize_sub_channel
// CHECK: qforge.quantize %{{.*}} : tensor<2x8xf32> to tensor<2x8x!quant.uniform<i8:f32:{1:4}
func.func @quantize_sub_channel(%x: tensor<2x8xf32>)
    -> tensor<2x8x!quant.uniform<i8:f32:{1:4}, {{1.0, 2.0}, {3.0, 4.0}}>> {
  %q = qforge.quantize %x : tensor<2x8xf32>
      to tensor<2x8x!quant.uniform<i8:f32:{1:4}, {{1.0, 2.0}, {3.0, 4.0}}>>
  return %q : tensor<2x8x!quant.uniform<i8:f32:{1:4}, {{1.0, 2.0}, {3.0, 4.0}}>>
}

// CHECK-LABEL: func.func @weight_from_storage
// CHECK: %[[W:.*]] = arith.constant dense<{{.*}}> : tensor<2x4xi8>
// CHECK: %[[S:.*]] = quant.scast %[[W]]
// CHECK: qforge.dequantize %[[S]]
func.func @weight_from_storage() -> tensor<2x4xf32> {
  %w = arith.constant dense<[[1, -2, 3, -4], [127, -127, 0, 5]]> : tensor<2x4xi8>
  %s = quant.scast %w : tensor<2x4xi8> to tensor<2x4x!qaxis>
  %d = qforge.dequantize %s : tensor<2x4x!qaxis> to tensor<2x4xf32>
  return %d : tensor<2x4xf32>
}

// CHECK-LABEL: func.func @requantize
// CHECK: qforge.requantize %{{.*}} : tensor<8x!quant.uniform<i32:f32, 1.000000e-03>> to tensor<8x!quant.uniform<i8:f32, 1.000000e-01:-3>>
func.func @requantize(%q: tensor<8x!quant.uniform<i32:f32, 0.001>>) -> tensor<8x!qi8_zp> {
  %r = qforge.requantize %q : tensor<8x!quant.uniform<i32:f32, 0.001>> to tensor<8x!qi8_zp>
  return %r : tensor<8x!qi8_zp>
}

// CHECK-LABEL: func.func @requantize_per_axis_to_tensor
// CHECK: qforge.requantize %{{.*}} : tensor<2x4x!quant.uniform<i8<-127:127>:f32:1
func.func @requantize_per_axis_to_tensor(%q: tensor<2x4x!qaxis>) -> tensor<2x4x!qi8> {
  %r = qforge.requantize %q : tensor<2x4x!qaxis> to tensor<2x4x!qi8>
  return %r : tensor<2x4x!qi8>
}

// CHECK-LABEL: func.func @dynamic_quantize_activation
// CHECK: qforge.dynamic_quantize per_token %{{.*}} activation(gelu) : tensor<4x8192xf16> -> tensor<4x8192xi8>, tensor<4xf32>
// CHECK: qforge.dynamic_quantize per_tensor %{{.*}} activation(relu) : tensor<4x8192xf16> -> tensor<4x8192xi8>, tensor<1xf32>
// CHECK: qforge.dynamic_quantize per_token %{{.*}} : tensor<4x8192xf16>
// GENERIC-LABEL: sym_name = "dynamic_quantize_activation"
// GENERIC: "qforge.dynamic_quantize"(%{{.*}}) <{activation = 2 : i32, granularity = 1 : i32}>
func.func @dynamic_quantize_activation(%x: tensor<4x8192xf16>)
    -> (tensor<4x8192xi8>, tensor<4xf32>, tensor<4x8192xi8>, tensor<1xf32>,
        tensor<4x8192xi8>, tensor<4xf32>) {
  %q, %s = qforge.dynamic_quantize per_token %x activation(gelu) : tensor<4x8192xf16> -> tensor<4x8192xi8>, tensor<4xf32>
  %q2, %s2 = qforge.dynamic_quantize per_tensor %x activation(relu) : tensor<4x8192xf16> -> tensor<4x8192xi8>, tensor<1xf32>
  // The default (none) is not printed.
  %q3, %s3 = qforge.dynamic_quantize per_token %x activation(none) : tensor<4x8192xf16> -> tensor<4x8192xi8>, tensor<4xf32>
  return %q, %s, %q2, %s2, %q3, %s3 : tensor<4x8192xi8>, tensor<4xf32>, tensor<4x8192xi8>, tensor<1xf32>,
      tensor<4x8192xi8>, tensor<4xf32>
}

// CHECK-LABEL: func.func @dynamic_quantize
// CHECK: qforge.dynamic_quantize per_token %{{.*}} : tensor<16x64xf16> -> tensor<16x64xi8>, tensor<16xf32>
// CHECK: qforge.dynamic_quantize per_tensor %{{.*}} : tensor<2x16x64xf32> -> tensor<2x16x64xi8>, tensor<1xf32>
// CHECK: qforge.dynamic_quantize per_token %{{.*}} : tensor<2x?x64xbf16> -> tensor<2x?x64xi8>, tensor<2x?xf32>
// GENERIC-LABEL: sym_name = "dynamic_quantize"
// GENERIC: "qforge.dynamic_quantize"(%{{.*}}) <{activation = 0 : i32, granularity = 1 : i32}>
func.func @dynamic_quantize(%x: tensor<16x64xf16>, %y: tensor<2x16x64xf32>, %z: tensor<2x?x64xbf16>)
    -> (tensor<16x64xi8>, tensor<16xf32>, tensor<2x16x64xi8>, tensor<1xf32>,
        tensor<2x?x64xi8>, tensor<2x?xf32>) {
  %q, %s = qforge.dynamic_quantize per_token %x : tensor<16x64xf16> -> tensor<16x64xi8>, tensor<16xf32>
  %q2, %s2 = qforge.dynamic_quantize per_tensor %y : tensor<2x16x64xf32> -> tensor<2x16x64xi8>, tensor<1xf32>
  %q3, %s3 = qforge.dynamic_quantize per_token %z : tensor<2x?x64xbf16> -> tensor<2x?x64xi8>, tensor<2x?xf32>
  return %q, %s, %q2, %s2, %q3, %s3 : tensor<16x64xi8>, tensor<16xf32>, tensor<2x16x64xi8>, tensor<1xf32>,
      tensor<2x?x64xi8>, tensor<2x?xf32>
}

// CHECK-LABEL: func.func @matmul_raw_accumulator
// CHECK: qforge.matmul %{{.*}}, %{{.*}} : tensor<16x64xi8>, tensor<64x32xi8> -> tensor<16x32xi32>
// GENERIC-LABEL: sym_name = "matmul_raw_accumulator"
// GENERIC: "qforge.matmul"(%{{.*}}, %{{.*}}) <{activation = 0 : i32, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0>}>
func.func @matmul_raw_accumulator(%a: tensor<16x64xi8>, %b: tensor<64x32xi8>) -> tensor<16x32xi32> {
  %0 = qforge.matmul %a, %b : tensor<16x64xi8>, tensor<64x32xi8> -> tensor<16x32xi32>
  return %0 : tensor<16x32xi32>
}

// CHECK-LABEL: func.func @matmul_full_epilogue
// CHECK: qforge.matmul %{{.*}}, %{{.*}} rhs_transposed lhs_scale(%{{.*}} : tensor<16xf32>) rhs_scale(%{{.*}} : tensor<32xf32>) bias(%{{.*}} : tensor<32xi32>) activation(relu) : tensor<16x64xi8>, tensor<32x64xi8> -> tensor<16x32xf16>
func.func @matmul_full_epilogue(%a: tensor<16x64xi8>, %w: tensor<32x64xi8>, %sa: tensor<16xf32>,
                                %sw: tensor<32xf32>, %bias: tensor<32xi32>) -> tensor<16x32xf16> {
  %0 = qforge.matmul %a, %w rhs_transposed lhs_scale(%sa : tensor<16xf32>) rhs_scale(%sw : tensor<32xf32>)
       bias(%bias : tensor<32xi32>) activation(relu)
       : tensor<16x64xi8>, tensor<32x64xi8> -> tensor<16x32xf16>
  return %0 : tensor<16x32xf16>
}

// CHECK-LABEL: func.func @matmul_requantized_gelu
// CHECK: qforge.matmul %{{.*}}, %{{.*}} lhs_scale(%{{.*}} : tensor<1xf32>) rhs_scale(%{{.*}} : tensor<1xf32>) bias(%{{.*}} : tensor<32xf32>) activation(gelu) : tensor<16x64xi8>, tensor<64x32xi8> -> tensor<16x32x!quant.uniform<i8:f32, 1.000000e-01:-3>>
func.func @matmul_requantized_gelu(%a: tensor<16x64xi8>, %w: tensor<64x32xi8>, %sa: tensor<1xf32>,
                                   %sw: tensor<1xf32>, %bias: tensor<32xf32>) -> tensor<16x32x!qi8_zp> {
  %0 = qforge.matmul %a, %w lhs_scale(%sa : tensor<1xf32>) rhs_scale(%sw : tensor<1xf32>)
       bias(%bias : tensor<32xf32>) activation(gelu)
       : tensor<16x64xi8>, tensor<64x32xi8> -> tensor<16x32x!qi8_zp>
  return %0 : tensor<16x32x!qi8_zp>
}

// CHECK-LABEL: func.func @matmul_batched_shared_weight
// CHECK: qforge.matmul %{{.*}}, %{{.*}} lhs_scale(%{{.*}} : tensor<2x16xf32>) rhs_scale(%{{.*}} : tensor<32xf32>) : tensor<2x16x64xi8>, tensor<64x32xi8> -> tensor<2x16x32xbf16>
func.func @matmul_batched_shared_weight(%a: tensor<2x16x64xi8>, %w: tensor<64x32xi8>,
                                        %sa: tensor<2x16xf32>, %sw: tensor<32xf32>) -> tensor<2x16x32xbf16> {
  %0 = qforge.matmul %a, %w lhs_scale(%sa : tensor<2x16xf32>) rhs_scale(%sw : tensor<32xf32>)
       : tensor<2x16x64xi8>, tensor<64x32xi8> -> tensor<2x16x32xbf16>
  return %0 : tensor<2x16x32xbf16>
}

// CHECK-LABEL: func.func @matmul_batched_both
// CHECK: qforge.matmul %{{.*}}, %{{.*}} rhs_scale(%{{.*}} : tensor<4x32xf32>) : tensor<4x?x64xi8>, tensor<4x64x32xi8> -> tensor<4x?x32xf32>
func.func @matmul_batched_both(%a: tensor<4x?x64xi8>, %b: tensor<4x64x32xi8>, %sb: tensor<4x32xf32>)
    -> tensor<4x?x32xf32> {
  %0 = qforge.matmul %a, %b rhs_scale(%sb : tensor<4x32xf32>)
       : tensor<4x?x64xi8>, tensor<4x64x32xi8> -> tensor<4x?x32xf32>
  return %0 : tensor<4x?x32xf32>
}

// The dynamic scales of a per-token quantization feed the epilogue directly.
// CHECK-LABEL: func.func @dynamic_linear
// CHECK: %[[Q:.*]], %[[S:.*]] = qforge.dynamic_quantize per_token
// CHECK: qforge.matmul %[[Q]], %{{.*}} rhs_transposed lhs_scale(%[[S]] : tensor<8xf32>)
func.func @dynamic_linear(%x: tensor<8x64xf16>, %w: tensor<32x64xi8>, %sw: tensor<32xf32>,
                          %bias: tensor<32xf32>) -> tensor<8x32xf16> {
  %q, %s = qforge.dynamic_quantize per_token %x : tensor<8x64xf16> -> tensor<8x64xi8>, tensor<8xf32>
  %y = qforge.matmul %q, %w rhs_transposed lhs_scale(%s : tensor<8xf32>) rhs_scale(%sw : tensor<32xf32>)
       bias(%bias : tensor<32xf32>) : tensor<8x64xi8>, tensor<32x64xi8> -> tensor<8x32xf16>
  return %y : tensor<8x32xf16>
}

// CHECK-LABEL: func.func @attention
// CHECK: qforge.attention %{{.*}}, %{{.*}}, %{{.*}} scale 1.250000e-01 : tensor<2x16x64xf16>, tensor<2x24x64xf16>, tensor<2x24x64xf16> -> tensor<2x16x64xf16>
func.func @attention(%q: tensor<2x16x64xf16>, %k: tensor<2x24x64xf16>, %v: tensor<2x24x64xf16>) -> tensor<2x16x64xf16> {
  %0 = qforge.attention %q, %k, %v scale 0.125 : tensor<2x16x64xf16>, tensor<2x24x64xf16>, tensor<2x24x64xf16> -> tensor<2x16x64xf16>
  return %0 : tensor<2x16x64xf16>
}

// CHECK-LABEL: func.func @attention_dynamic
// CHECK: qforge.attention {{.*}} : tensor<?x?x32xbf16>, tensor<?x?x32xbf16>, tensor<?x?x32xbf16> -> tensor<?x?x32xbf16>
func.func @attention_dynamic(%q: tensor<?x?x32xbf16>, %k: tensor<?x?x32xbf16>, %v: tensor<?x?x32xbf16>) -> tensor<?x?x32xbf16> {
  %0 = qforge.attention %q, %k, %v scale 1.0 : tensor<?x?x32xbf16>, tensor<?x?x32xbf16>, tensor<?x?x32xbf16> -> tensor<?x?x32xbf16>
  return %0 : tensor<?x?x32xbf16>
}

// CHECK-LABEL: func.func @attention_causal
// CHECK: qforge.attention %{{.*}}, %{{.*}}, %{{.*}} scale 1.000000e+00 causal : tensor<4x8x64xf16>
func.func @attention_causal(%q: tensor<4x8x64xf16>) -> tensor<4x8x64xf16> {
  %0 = qforge.attention %q, %q, %q scale 1.0 causal : tensor<4x8x64xf16>, tensor<4x8x64xf16>, tensor<4x8x64xf16> -> tensor<4x8x64xf16>
  return %0 : tensor<4x8x64xf16>
}

// CHECK-LABEL: func.func @attention_int8
// CHECK: qforge.attention %{{.*}}, %{{.*}}, %{{.*}} scale 1.250000e-01 causal int8 : tensor<4x8x64xbf16>
func.func @attention_int8(%q: tensor<4x8x64xbf16>) -> tensor<4x8x64xbf16> {
  %0 = qforge.attention %q, %q, %q scale 0.125 causal int8 : tensor<4x8x64xbf16>, tensor<4x8x64xbf16>, tensor<4x8x64xbf16> -> tensor<4x8x64xbf16>
  return %0 : tensor<4x8x64xbf16>
}
