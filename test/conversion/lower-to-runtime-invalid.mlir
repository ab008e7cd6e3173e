// RUN: qforge-opt %s -split-input-file --qforge-lower-to-runtime -verify-diagnostics

!sub = !quant.uniform<i8:f32:{1:2}, {{1.0, 2.0}}>
func.func @sub_channel(%x: tensor<1x4xf32>) -> tensor<1x4x!sub> {
  // expected-error @+1 {{'qforge.quantize' op cannot be lowered to the runtime: sub-channel quantized types are not supported yet}}
  %q = qforge.quantize %x : tensor<1x4xf32> to tensor<1x4x!sub>
  return %q : tensor<1x4x!sub>
}

// -----

func.func @wide_storage(%x: tensor<4xf32>) -> tensor<4x!quant.uniform<i16:f32, 0.1>> {
  // expected-error @+1 {{'qforge.quantize' op cannot be lowered to the runtime: only i8 storage is supported, got 'i16'}}
  %q = qforge.quantize %x : tensor<4xf32> to tensor<4x!quant.uniform<i16:f32, 0.1>>
  return %q : tensor<4x!quant.uniform<i16:f32, 0.1>>
}

// -----

func.func @requantize_per_axis(%q: tensor<2x!quant.uniform<i8:f32:0, {0.1, 0.2}>>) -> tensor<2x!quant.uniform<i8:f32, 0.1>> {
  // expected-error @+1 {{'qforge.requantize' op cannot be lowered to the runtime: only per-tensor requantization is supported}}
  %r = qforge.requantize %q : tensor<2x!quant.uniform<i8:f32:0, {0.1, 0.2}>> to tensor<2x!quant.uniform<i8:f32, 0.1>>
  return %r : tensor<2x!quant.uniform<i8:f32, 0.1>>
}
