// RUN: qforge-opt %s -split-input-file -verify-diagnostics

// One case per verifier message of the qforge dialect, plus parser errors.

func.func @observe_empty_id(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'qforge.observe' op id must not be empty}}
  %0 = qforge.observe %x {id = ""} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @observe_integer(%x: tensor<4xi32>) -> tensor<4xi32> {
  // expected-error @+1 {{'qforge.observe' op observes float activations only; input element type is 'i32'}}
  %0 = qforge.observe %x {id = "a"} : tensor<4xi32>
  return %0 : tensor<4xi32>
}

// -----

func.func @observe_missing_id(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{requires attribute 'id'}}
  %0 = qforge.observe %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @quantize_to_float(%x: tensor<4xf32>) -> tensor<4xf16> {
  // expected-error @+1 {{'qforge.quantize' op result must have a !quant.uniform element type, got 'f16'}}
  %0 = qforge.quantize %x : tensor<4xf32> to tensor<4xf16>
  return %0 : tensor<4xf16>
}

// -----

func.func @quantize_from_integer(%x: tensor<4xi32>) -> tensor<4x!quant.uniform<i8:f32, 0.1>> {
  // expected-error @+1 {{'qforge.quantize' op input element type must be f32, f16 or bf16, got 'i32'}}
  %0 = qforge.quantize %x : tensor<4xi32> to tensor<4x!quant.uniform<i8:f32, 0.1>>
  return %0 : tensor<4x!quant.uniform<i8:f32, 0.1>>
}

// -----

func.func @quantize_expressed_mismatch(%x: tensor<4xf16>) -> tensor<4x!quant.uniform<i8:f32, 0.1>> {
  // expected-error @+1 {{'qforge.quantize' op expressed type 'f32' of the result does not match the input element type 'f16'}}
  %0 = qforge.quantize %x : tensor<4xf16> to tensor<4x!quant.uniform<i8:f32, 0.1>>
  return %0 : tensor<4x!quant.uniform<i8:f32, 0.1>>
}

// -----

func.func @quantize_shape_mismatch(%x: tensor<4xf32>) -> tensor<5x!quant.uniform<i8:f32, 0.1>> {
  // expected-error @+1 {{'qforge.quantize' op input shape 'tensor<4xf32>' and result shape 'tensor<5x!quant.uniform<i8:f32, 1.000000e-01>>' must match}}
  %0 = qforge.quantize %x : tensor<4xf32> to tensor<5x!quant.uniform<i8:f32, 0.1>>
  return %0 : tensor<5x!quant.uniform<i8:f32, 0.1>>
}

// -----

func.func @quantize_axis_out_of_range(%x: tensor<4xf32>) -> tensor<4x!quant.uniform<i8:f32:1, {0.1, 0.2}>> {
  // expected-error @+1 {{'qforge.quantize' op per-axis quantized dimension 1 of the result is out of range for rank 1}}
  %0 = qforge.quantize %x : tensor<4xf32> to tensor<4x!quant.uniform<i8:f32:1, {0.1, 0.2}>>
  return %0 : tensor<4x!quant.uniform<i8:f32:1, {0.1, 0.2}>>
}

// -----

func.func @quantize_axis_scale_count(%x: tensor<2x3xf32>) -> tensor<2x3x!quant.uniform<i8:f32:1, {0.1, 0.2}>> {
  // expected-error @+1 {{'qforge.quantize' op per-axis quantization of the result has 2 scales but dimension 1 has size 3}}
  %0 = qforge.quantize %x : tensor<2x3xf32> to tensor<2x3x!quant.uniform<i8:f32:1, {0.1, 0.2}>>
  return %0 : tensor<2x3x!quant.uniform<i8:f32:1, {0.1, 0.2}>>
}

// -----

!sub = !quant.uniform<i8:f32:{0:2}, {1.0, 2.0}>
func.func @quantize_sub_channel_rank(%x: tensor<4x8xf32>) -> tensor<4x8x!sub> {
  // expected-error @+1 {{'qforge.quantize' op sub-channel scales of the result have rank 1 but the tensor has rank 2}}
  %0 = qforge.quantize %x : tensor<4x8xf32> to tensor<4x8x!sub>
  return %0 : tensor<4x8x!sub>
}

// -----

!sub = !quant.uniform<i8:f32:{1:3}, {{1.0, 2.0}, {3.0, 4.0}}>
func.func @quantize_sub_channel_block(%x: tensor<2x8xf32>) -> tensor<2x8x!sub> {
  // expected-error @+1 {{'qforge.quantize' op sub-channel block size 3 does not divide dimension 1 of size 8 of the result}}
  %0 = qforge.quantize %x : tensor<2x8xf32> to tensor<2x8x!sub>
  return %0 : tensor<2x8x!sub>
}

// -----

!sub = !quant.uniform<i8:f32:{1:4}, {{1.0, 2.0}, {3.0, 4.0}}>
func.func @quantize_sub_channel_count(%x: tensor<2x12xf32>) -> tensor<2x12x!sub> {
  // expected-error @+1 {{'qforge.quantize' op sub-channel scales of the result have 2 entries along dimension 1, expected 3}}
  %0 = qforge.quantize %x : tensor<2x12xf32> to tensor<2x12x!sub>
  return %0 : tensor<2x12x!sub>
}

// -----

func.func @dequantize_from_integer(%q: tensor<4xi8>) -> tensor<4xf32> {
  // expected-error @+1 {{'qforge.dequantize' op input must have a !quant.uniform element type, got 'i8'}}
  %0 = qforge.dequantize %q : tensor<4xi8> to tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @dequantize_to_integer(%q: tensor<4x!quant.uniform<i8:f32, 0.1>>) -> tensor<4xi32> {
  // expected-error @+1 {{'qforge.dequantize' op result element type must be f32, f16 or bf16, got 'i32'}}
  %0 = qforge.dequantize %q : tensor<4x!quant.uniform<i8:f32, 0.1>> to tensor<4xi32>
  return %0 : tensor<4xi32>
}

// -----

func.func @dequantize_expressed_mismatch(%q: tensor<4x!quant.uniform<i8:f32, 0.1>>) -> tensor<4xbf16> {
  // expected-error @+1 {{'qforge.dequantize' op expressed type 'f32' of the input does not match the result element type 'bf16'}}
  %0 = qforge.dequantize %q : tensor<4x!quant.uniform<i8:f32, 0.1>> to tensor<4xbf16>
  return %0 : tensor<4xbf16>
}

// -----

func.func @dequantize_shape_mismatch(%q: tensor<4x2x!quant.uniform<i8:f32, 0.1>>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'qforge.dequantize' op input shape 'tensor<4x2x!quant.uniform<i8:f32, 1.000000e-01>>' and result shape 'tensor<2x4xf32>' must match}}
  %0 = qforge.dequantize %q : tensor<4x2x!quant.uniform<i8:f32, 0.1>> to tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @dequantize_axis_scale_count(%q: tensor<3x!quant.uniform<i8:f32:0, {0.1, 0.2}>>) -> tensor<3xf32> {
  // expected-error @+1 {{'qforge.dequantize' op per-axis quantization of the input has 2 scales but dimension 0 has size 3}}
  %0 = qforge.dequantize %q : tensor<3x!quant.uniform<i8:f32:0, {0.1, 0.2}>> to tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

func.func @requantize_from_float(%x: tensor<4xf32>) -> tensor<4x!quant.uniform<i8:f32, 0.1>> {
  // expected-error @+1 {{'qforge.requantize' op input must have a !quant.uniform element type, got 'f32'}}
  %0 = qforge.requantize %x : tensor<4xf32> to tensor<4x!quant.uniform<i8:f32, 0.1>>
  return %0 : tensor<4x!quant.uniform<i8:f32, 0.1>>
}

// -----

func.func @requantize_to_integer(%q: tensor<4x!quant.uniform<i8:f32, 0.1>>) -> tensor<4xi8> {
  // expected-error @+1 {{'qforge.requantize' op result must have a !quant.uniform element type, got 'i8'}}
  %0 = qforge.requantize %q : tensor<4x!quant.uniform<i8:f32, 0.1>> to tensor<4xi8>
  return %0 : tensor<4xi8>
}

// -----

func.func @requantize_expressed_mismatch(%q: tensor<4x!quant.uniform<i8:f32, 0.1>>) -> tensor<4x!quant.uniform<i8:f16, 0.1>> {
  // expected-error @+1 {{'qforge.requantize' op input expressed type 'f32' and result expressed type 'f16' must match}}
  %0 = qforge.requantize %q : tensor<4x!quant.uniform<i8:f32, 0.1>> to tensor<4x!quant.uniform<i8:f16, 0.1>>
  return %0 : tensor<4x!quant.uniform<i8:f16, 0.1>>
}

// -----

func.func @requantize_shape_mismatch(%q: tensor<4x!quant.uniform<i8:f32, 0.1>>) -> tensor<8x!quant.uniform<i8:f32, 0.2>> {
  // expected-error @+1 {{'qforge.requantize' op input shape}}
  %0 = qforge.requantize %q : tensor<4x!quant.uniform<i8:f32, 0.1>> to tensor<8x!quant.uniform<i8:f32, 0.2>>
  return %0 : tensor<8x!quant.uniform<i8:f32, 0.2>>
}

// -----

func.func @requantize_result_axis(%q: tensor<4x!quant.uniform<i8:f32, 0.1>>) -> tensor<4x!quant.uniform<i8:f32:2, {0.1}>> {
  // expected-error @+1 {{'qforge.requantize' op per-axis quantized dimension 2 of the result is out of range for rank 1}}
  %0 = qforge.requantize %q : tensor<4x!quant.uniform<i8:f32, 0.1>> to tensor<4x!quant.uniform<i8:f32:2, {0.1}>>
  return %0 : tensor<4x!quant.uniform<i8:f32:2, {0.1}>>
}

// -----

func.func @dynamic_quantize_integer(%x: tensor<4x8xi32>) -> (tensor<4x8xi8>, tensor<4xf32>) {
  // expected-error @+1 {{'qforge.dynamic_quantize' op input element type must be f32, f16 or bf16, got 'i32'}}
  %q, %s = qforge.dynamic_quantize per_token %x : tensor<4x8xi32> -> tensor<4x8xi8>, tensor<4xf32>
  return %q, %s : tensor<4x8xi8>, tensor<4xf32>
}

// -----

func.func @dynamic_quantize_scalar(%x: tensor<f32>) -> (tensor<i8>, tensor<1xf32>) {
  // expected-error @+1 {{'qforge.dynamic_quantize' op input must have rank >= 1}}
  %q, %s = qforge.dynamic_quantize per_tensor %x : tensor<f32> -> tensor<i8>, tensor<1xf32>
  return %q, %s : tensor<i8>, tensor<1xf32>
}

// -----

func.func @dynamic_quantize_result_type(%x: tensor<4x8xf32>) -> (tensor<4x8xi16>, tensor<4xf32>) {
  // expected-error @+1 {{'qforge.dynamic_quantize' op result element type must be i8, got 'i16'}}
  %q, %s = qforge.dynamic_quantize per_token %x : tensor<4x8xf32> -> tensor<4x8xi16>, tensor<4xf32>
  return %q, %s : tensor<4x8xi16>, tensor<4xf32>
}

// -----

func.func @dynamic_quantize_result_shape(%x: tensor<4x8xf32>) -> (tensor<8x4xi8>, tensor<4xf32>) {
  // expected-error @+1 {{'qforge.dynamic_quantize' op input shape 'tensor<4x8xf32>' and result shape 'tensor<8x4xi8>' must match}}
  %q, %s = qforge.dynamic_quantize per_token %x : tensor<4x8xf32> -> tensor<8x4xi8>, tensor<4xf32>
  return %q, %s : tensor<8x4xi8>, tensor<4xf32>
}

// -----

func.func @dynamic_quantize_scale_type(%x: tensor<4x8xf32>) -> (tensor<4x8xi8>, tensor<4xf16>) {
  // expected-error @+1 {{'qforge.dynamic_quantize' op scales element type must be f32, got 'f16'}}
  %q, %s = qforge.dynamic_quantize per_token %x : tensor<4x8xf32> -> tensor<4x8xi8>, tensor<4xf16>
  return %q, %s : tensor<4x8xi8>, tensor<4xf16>
}

// -----

func.func @dynamic_quantize_per_token_shape(%x: tensor<2x4x8xf32>) -> (tensor<2x4x8xi8>, tensor<8xf32>) {
  // expected-error @+1 {{'qforge.dynamic_quantize' op scales of a per_token quantization must have shape [2, 4], got 'tensor<8xf32>'}}
  %q, %s = qforge.dynamic_quantize per_token %x : tensor<2x4x8xf32> -> tensor<2x4x8xi8>, tensor<8xf32>
  return %q, %s : tensor<2x4x8xi8>, tensor<8xf32>
}

// -----

func.func @dynamic_quantize_per_tensor_shape(%x: tensor<4x8xf32>) -> (tensor<4x8xi8>, tensor<4xf32>) {
  // expected-error @+1 {{'qforge.dynamic_quantize' op scales of a per_tensor quantization must have shape [1], got 'tensor<4xf32>'}}
  %q, %s = qforge.dynamic_quantize per_tensor %x : tensor<4x8xf32> -> tensor<4x8xi8>, tensor<4xf32>
  return %q, %s : tensor<4x8xi8>, tensor<4xf32>
}

// -----

func.func @dynamic_quantize_bad_granularity(%x: tensor<4x8xf32>) -> (tensor<4x8xi8>, tensor<4xf32>) {
  // expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'granularity' [per_tensor, per_token]}}
  %q, %s = qforge.dynamic_quantize per_channel %x : tensor<4x8xf32> -> tensor<4x8xi8>, tensor<4xf32>
  return %q, %s : tensor<4x8xi8>, tensor<4xf32>
}

// -----

func.func @matmul_lhs_type(%a: tensor<4x8xf32>, %b: tensor<8x2xi8>) -> tensor<4x2xi32> {
  // expected-error @+1 {{'qforge.matmul' op lhs element type must be i8, got 'f32'}}
  %0 = qforge.matmul %a, %b : tensor<4x8xf32>, tensor<8x2xi8> -> tensor<4x2xi32>
  return %0 : tensor<4x2xi32>
}

// -----

func.func @matmul_rhs_type(%a: tensor<4x8xi8>, %b: tensor<8x2xui8>) -> tensor<4x2xi32> {
  // expected-error @+1 {{'qforge.matmul' op rhs element type must be i8, got 'ui8'}}
  %0 = qforge.matmul %a, %b : tensor<4x8xi8>, tensor<8x2xui8> -> tensor<4x2xi32>
  return %0 : tensor<4x2xi32>
}

// -----

func.func @matmul_lhs_rank(%a: tensor<8xi8>, %b: tensor<8x2xi8>) -> tensor<2xi32> {
  // expected-error @+1 {{'qforge.matmul' op lhs must have rank >= 2, got rank 1}}
  %0 = qforge.matmul %a, %b : tensor<8xi8>, tensor<8x2xi8> -> tensor<2xi32>
  return %0 : tensor<2xi32>
}

// -----

func.func @matmul_rhs_rank(%a: tensor<2x2x4x8xi8>, %b: tensor<2x8x2xi8>) -> tensor<2x2x4x2xi32> {
  // expected-error @+1 {{'qforge.matmul' op rhs must have rank 2 or the rank of lhs (4), got rank 3}}
  %0 = qforge.matmul %a, %b : tensor<2x2x4x8xi8>, tensor<2x8x2xi8> -> tensor<2x2x4x2xi32>
  return %0 : tensor<2x2x4x2xi32>
}

// -----

func.func @matmul_batch_mismatch(%a: tensor<3x4x8xi8>, %b: tensor<2x8x2xi8>) -> tensor<3x4x2xi32> {
  // expected-error @+1 {{'qforge.matmul' op batch dimension 0 of lhs (3) and rhs (2) must match}}
  %0 = qforge.matmul %a, %b : tensor<3x4x8xi8>, tensor<2x8x2xi8> -> tensor<3x4x2xi32>
  return %0 : tensor<3x4x2xi32>
}

// -----

func.func @matmul_k_mismatch(%a: tensor<4x8xi8>, %b: tensor<7x2xi8>) -> tensor<4x2xi32> {
  // expected-error @+1 {{'qforge.matmul' op contraction sizes differ: lhs has K = 8, rhs has K = 7}}
  %0 = qforge.matmul %a, %b : tensor<4x8xi8>, tensor<7x2xi8> -> tensor<4x2xi32>
  return %0 : tensor<4x2xi32>
}

// -----

func.func @matmul_k_mismatch_transposed(%a: tensor<4x8xi8>, %b: tensor<8x2xi8>) -> tensor<4x8xi32> {
  // expected-error @+1 {{'qforge.matmul' op contraction sizes differ: lhs has K = 8, rhs (transposed) has K = 2}}
  %0 = qforge.matmul %a, %b rhs_transposed : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x8xi32>
  return %0 : tensor<4x8xi32>
}

// -----

func.func @matmul_result_shape(%a: tensor<4x8xi8>, %b: tensor<8x2xi8>) -> tensor<4x3xi32> {
  // expected-error @+1 {{'qforge.matmul' op result shape [4, 3] does not match the expected [4, 2]}}
  %0 = qforge.matmul %a, %b : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x3xi32>
  return %0 : tensor<4x3xi32>
}

// -----

func.func @matmul_i32_with_epilogue(%a: tensor<4x8xi8>, %b: tensor<8x2xi8>) -> tensor<4x2xi32> {
  // expected-error @+1 {{'qforge.matmul' op an i32 result is the raw accumulator and takes no scales, bias or activation}}
  %0 = qforge.matmul %a, %b activation(relu) : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x2xi32>
  return %0 : tensor<4x2xi32>
}

// -----

func.func @matmul_quantized_i16(%a: tensor<4x8xi8>, %b: tensor<8x2xi8>) -> tensor<4x2x!quant.uniform<i16:f32, 0.1>> {
  // expected-error @+1 {{'qforge.matmul' op a quantized result must have 8-bit storage, got 'i16'}}
  %0 = qforge.matmul %a, %b : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x2x!quant.uniform<i16:f32, 0.1>>
  return %0 : tensor<4x2x!quant.uniform<i16:f32, 0.1>>
}

// -----

func.func @matmul_result_per_axis(%a: tensor<4x8xi8>, %b: tensor<8x2xi8>) -> tensor<4x2x!quant.uniform<i8:f32:1, {0.1, 0.2}>> {
  // expected-error @+1 {{'qforge.matmul' op result element type must be f32, f16, bf16, i32 or a per-tensor i8 !quant.uniform, got '!quant.uniform<i8:f32:1, {1.000000e-01,2.000000e-01}>'}}
  %0 = qforge.matmul %a, %b : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x2x!quant.uniform<i8:f32:1, {0.1, 0.2}>>
  return %0 : tensor<4x2x!quant.uniform<i8:f32:1, {0.1, 0.2}>>
}

// -----

func.func @matmul_result_f64(%a: tensor<4x8xi8>, %b: tensor<8x2xi8>) -> tensor<4x2xf64> {
  // expected-error @+1 {{'qforge.matmul' op result element type must be f32, f16, bf16, i32 or a per-tensor i8 !quant.uniform, got 'f64'}}
  %0 = qforge.matmul %a, %b : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x2xf64>
  return %0 : tensor<4x2xf64>
}

// -----

func.func @matmul_lhs_scale_type(%a: tensor<4x8xi8>, %b: tensor<8x2xi8>, %s: tensor<4xf16>) -> tensor<4x2xf32> {
  // expected-error @+1 {{'qforge.matmul' op lhs_scale element type must be f32, got 'f16'}}
  %0 = qforge.matmul %a, %b lhs_scale(%s : tensor<4xf16>) : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

func.func @matmul_lhs_scale_shape(%a: tensor<4x8xi8>, %b: tensor<8x2xi8>, %s: tensor<2xf32>) -> tensor<4x2xf32> {
  // expected-error @+1 {{'qforge.matmul' op lhs_scale must have shape [1] or [4] (per tensor or per row), got [2]}}
  %0 = qforge.matmul %a, %b lhs_scale(%s : tensor<2xf32>) : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

func.func @matmul_rhs_scale_type(%a: tensor<4x8xi8>, %b: tensor<8x2xi8>, %s: tensor<2xbf16>) -> tensor<4x2xf32> {
  // expected-error @+1 {{'qforge.matmul' op rhs_scale element type must be f32, got 'bf16'}}
  %0 = qforge.matmul %a, %b rhs_scale(%s : tensor<2xbf16>) : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

func.func @matmul_rhs_scale_shape(%a: tensor<4x8xi8>, %b: tensor<8x2xi8>, %s: tensor<4xf32>) -> tensor<4x2xf32> {
  // expected-error @+1 {{'qforge.matmul' op rhs_scale must have shape [1] or [2] (per tensor or per output channel), got [4]}}
  %0 = qforge.matmul %a, %b rhs_scale(%s : tensor<4xf32>) : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

func.func @matmul_rhs_scale_batched_shape(%a: tensor<3x4x8xi8>, %b: tensor<3x8x2xi8>, %s: tensor<2x2xf32>) -> tensor<3x4x2xf32> {
  // expected-error @+1 {{'qforge.matmul' op rhs_scale must have shape [1] or [2] or [3, 2] (per tensor or per output channel), got [2, 2]}}
  %0 = qforge.matmul %a, %b rhs_scale(%s : tensor<2x2xf32>) : tensor<3x4x8xi8>, tensor<3x8x2xi8> -> tensor<3x4x2xf32>
  return %0 : tensor<3x4x2xf32>
}

// -----

func.func @matmul_bias_type(%a: tensor<4x8xi8>, %b: tensor<8x2xi8>, %bias: tensor<2xf16>) -> tensor<4x2xf32> {
  // expected-error @+1 {{'qforge.matmul' op bias element type must be i32 (accumulator domain) or f32 (output domain), got 'f16'}}
  %0 = qforge.matmul %a, %b bias(%bias : tensor<2xf16>) : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

func.func @matmul_bias_shape(%a: tensor<4x8xi8>, %b: tensor<8x2xi8>, %bias: tensor<4xi32>) -> tensor<4x2xf32> {
  // expected-error @+1 {{'qforge.matmul' op bias must have shape [2] (one value per output column), got [4]}}
  %0 = qforge.matmul %a, %b bias(%bias : tensor<4xi32>) : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

func.func @matmul_bad_activation(%a: tensor<4x8xi8>, %b: tensor<8x2xi8>) -> tensor<4x2xf32> {
  // expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'activation' [none, relu, gelu]}}
  %0 = qforge.matmul %a, %b activation(silu) : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

func.func @matmul_unranked(%a: tensor<*xi8>, %b: tensor<8x2xi8>) -> tensor<4x2xf32> {
  // expected-error @+1 {{'qforge.matmul' op operand #0 must be ranked tensor of any type values, but got 'tensor<*xi8>'}}
  %0 = "qforge.matmul"(%a, %b) <{operandSegmentSizes = array<i32: 1, 1, 0, 0, 0>}> : (tensor<*xi8>, tensor<8x2xi8>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

func.func @attention_int(%q: tensor<2x4x8xi8>, %k: tensor<2x4x8xi8>, %v: tensor<2x4x8xi8>) -> tensor<2x4x8xi8> {
  // expected-error @+1 {{'qforge.attention' op query element type must be f32, f16 or bf16, got 'i8'}}
  %0 = qforge.attention %q, %k, %v scale 1.0 : tensor<2x4x8xi8>, tensor<2x4x8xi8>, tensor<2x4x8xi8> -> tensor<2x4x8xi8>
  return %0 : tensor<2x4x8xi8>
}

// -----

func.func @attention_mixed(%q: tensor<2x4x8xf16>, %k: tensor<2x4x8xf32>, %v: tensor<2x4x8xf16>) -> tensor<2x4x8xf16> {
  // expected-error @+1 {{'qforge.attention' op key element type 'f32' differs from the query's 'f16'}}
  %0 = qforge.attention %q, %k, %v scale 1.0 : tensor<2x4x8xf16>, tensor<2x4x8xf32>, tensor<2x4x8xf16> -> tensor<2x4x8xf16>
  return %0 : tensor<2x4x8xf16>
}

// -----

func.func @attention_rank(%q: tensor<4x8xf16>, %k: tensor<4x8xf16>, %v: tensor<4x8xf16>) -> tensor<4x8xf16> {
  // expected-error @+1 {{'qforge.attention' op query must have rank 3 ([batch, rows, head_dim]), got rank 2}}
  %0 = qforge.attention %q, %k, %v scale 1.0 : tensor<4x8xf16>, tensor<4x8xf16>, tensor<4x8xf16> -> tensor<4x8xf16>
  return %0 : tensor<4x8xf16>
}

// -----

func.func @attention_head_dim(%q: tensor<2x4x8xf16>, %k: tensor<2x4x16xf16>, %v: tensor<2x4x8xf16>) -> tensor<2x4x8xf16> {
  // expected-error @+1 {{'qforge.attention' op head dims differ: query 8, key 16, value 8}}
  %0 = qforge.attention %q, %k, %v scale 1.0 : tensor<2x4x8xf16>, tensor<2x4x16xf16>, tensor<2x4x8xf16> -> tensor<2x4x8xf16>
  return %0 : tensor<2x4x8xf16>
}

// -----

func.func @attention_value_rows(%q: tensor<2x4x8xf16>, %k: tensor<2x6x8xf16>, %v: tensor<2x5x8xf16>) -> tensor<2x4x8xf16> {
  // expected-error @+1 {{'qforge.attention' op key has 6 rows but value has 5}}
  %0 = qforge.attention %q, %k, %v scale 1.0 : tensor<2x4x8xf16>, tensor<2x6x8xf16>, tensor<2x5x8xf16> -> tensor<2x4x8xf16>
  return %0 : tensor<2x4x8xf16>
}

// -----

func.func @attention_result(%q: tensor<2x4x8xf16>, %k: tensor<2x6x8xf16>, %v: tensor<2x6x8xf16>) -> tensor<2x6x8xf16> {
  // expected-error @+1 {{'qforge.attention' op result shape must equal the query's}}
  %0 = qforge.attention %q, %k, %v scale 1.0 : tensor<2x4x8xf16>, tensor<2x6x8xf16>, tensor<2x6x8xf16> -> tensor<2x6x8xf16>
  return %0 : tensor<2x6x8xf16>
}

// -----

func.func @attention_scale(%q: tensor<2x4x8xf16>, %k: tensor<2x4x8xf16>, %v: tensor<2x4x8xf16>) -> tensor<2x4x8xf16> {
  // expected-error @+1 {{'qforge.attention' op scale must be finite, got INF}}
  %0 = qforge.attention %q, %k, %v scale 0x7F800000 : tensor<2x4x8xf16>, tensor<2x4x8xf16>, tensor<2x4x8xf16> -> tensor<2x4x8xf16>
  return %0 : tensor<2x4x8xf16>
}

// -----

func.func @attention_batch(%q: tensor<2x4x8xf16>, %k: tensor<3x4x8xf16>, %v: tensor<3x4x8xf16>) -> tensor<2x4x8xf16> {
  // expected-error @+1 {{'qforge.attention' op batch sizes differ: query 2, key 3, value 3}}
  %0 = qforge.attention %q, %k, %v scale 1.0 : tensor<2x4x8xf16>, tensor<3x4x8xf16>, tensor<3x4x8xf16> -> tensor<2x4x8xf16>
  return %0 : tensor<2x4x8xf16>
}

// -----

func.func @attention_int8_f32(%q: tensor<2x4x8xf32>) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{'qforge.attention' op int8 attention takes f16 or bf16 tensors, got 'f32'}}
  %0 = qforge.attention %q, %q, %q scale 1.0 int8 : tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32> -> tensor<2x4x8xf32>
  return %0 : tensor<2x4x8xf32>
}

// -----

func.func @dynamic_quantize_bad_activation(%x: tensor<4x8xf32>) -> (tensor<4x8xi8>, tensor<4xf32>) {
  // expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'activation' [none, relu, gelu]}}
  %q, %s = qforge.dynamic_quantize per_token %x activation(tanh) : tensor<4x8xf32> -> tensor<4x8xi8>, tensor<4xf32>
  return %q, %s : tensor<4x8xi8>, tensor<4xf32>
}
