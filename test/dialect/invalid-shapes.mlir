// RUN: qforge-opt %s -split-input-file -verify-diagnostics

// Unranked tensors: every qforge op needs a rank (the runtime views tensors
// as rows and columns, per-axis types need an axis).

func.func @observe_unranked(%x: tensor<*xf32>) {
  // expected-error @+1 {{invalid kind of type specified: expected builtin.tensor, but found 'tensor<*xf32>'}}
  %o = qforge.observe %x {id = "u"} : tensor<*xf32>
  return
}

// -----

func.func @dequantize_unranked(%x: tensor<*x!quant.uniform<i8:f32, 0.1>>) {
  // expected-error @+1 {{invalid kind of type specified: expected builtin.tensor, but found 'tensor<*x!quant.uniform<i8:f32, 1.000000e-01>>'}}
  %d = qforge.dequantize %x : tensor<*x!quant.uniform<i8:f32, 0.1>> to tensor<*xf32>
  return
}

// -----

func.func @dynamic_quantize_unranked(%x: tensor<*xf32>) {
  // expected-error @+1 {{invalid kind of type specified: expected builtin.tensor, but found 'tensor<*xf32>'}}
  %q, %s = qforge.dynamic_quantize per_token %x : tensor<*xf32> -> tensor<*xi8>, tensor<?xf32>
  return
}

// -----

func.func @requantize_unranked(%x: tensor<*x!quant.uniform<i8:f32, 0.1>>) {
  // expected-error @+1 {{invalid kind of type specified: expected builtin.tensor, but found 'tensor<*x!quant.uniform<i8:f32, 1.000000e-01>>'}}
  %r = qforge.requantize %x : tensor<*x!quant.uniform<i8:f32, 0.1>> to tensor<*x!quant.uniform<i8:f32, 0.2>>
  return
}

// -----

// Dynamic sizes: where both sides are static they must agree; dynamic ones
// are checked at run time by the lowering (lower-to-runtime-shape-checks).

func.func @static_k_mismatch_with_dynamic_m(%x: tensor<?x8xi8>, %w: tensor<7x4xi8>) {
  // expected-error @+1 {{'qforge.matmul' op contraction sizes differ: lhs has K = 8, rhs has K = 7}}
  %y = qforge.matmul %x, %w : tensor<?x8xi8>, tensor<7x4xi8> -> tensor<?x4xf32>
  return
}

// -----

func.func @dynamic_result_rank(%x: tensor<?x8xi8>, %w: tensor<8x4xi8>) {
  // expected-error @+1 {{'qforge.matmul' op result shape}}
  %y = qforge.matmul %x, %w : tensor<?x8xi8>, tensor<8x4xi8> -> tensor<?x?x4xf32>
  return
}

// -----

func.func @per_axis_static_mismatch_beside_dynamic(%x: tensor<?x3xf32>) {
  // expected-error @+1 {{'qforge.quantize' op per-axis quantization of the result has 2 scales but dimension 1 has size 3}}
  %q = qforge.quantize %x : tensor<?x3xf32> to tensor<?x3x!quant.uniform<i8:f32:1, {0.5, 0.25}>>
  return
}

// -----

func.func @dynamic_quantize_scales_shape(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'qforge.dynamic_quantize' op scales of a per_token quantization must have shape}}
  %q, %s = qforge.dynamic_quantize per_token %x : tensor<?x8xf32> -> tensor<?x8xi8>, tensor<?x2xf32>
  return
}

// -----

// Unsupported element types.

func.func @quantize_f64(%x: tensor<4xf64>) {
  // expected-error @+1 {{'qforge.quantize' op input element type must be f32, f16 or bf16, got 'f64'}}
  %q = qforge.quantize %x : tensor<4xf64> to tensor<4x!quant.uniform<i8:f64, 0.1>>
  return
}

// -----

func.func @observe_f64(%x: tensor<4xf64>) {
  // expected-error @+1 {{'qforge.observe' op observes float activations only; input element type is 'f64'}}
  %o = qforge.observe %x {id = "x"} : tensor<4xf64>
  return
}

// -----

func.func @dequantize_to_f64(%x: tensor<4x!quant.uniform<i8:f32, 0.1>>) {
  // expected-error @+1 {{'qforge.dequantize' op result element type must be f32, f16 or bf16, got 'f64'}}
  %d = qforge.dequantize %x : tensor<4x!quant.uniform<i8:f32, 0.1>> to tensor<4xf64>
  return
}
