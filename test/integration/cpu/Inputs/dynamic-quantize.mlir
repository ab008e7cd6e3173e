// Per-token dynamic quantization alone: the int8 codes and the scales.
func.func @quantize(%x: tensor<4x8xf32>) -> (tensor<4x8xi8>, tensor<4xf32>) {
  %q, %s = qforge.dynamic_quantize per_token %x : tensor<4x8xf32> -> tensor<4x8xi8>, tensor<4xf32>
  return %q, %s : tensor<4x8xi8>, tensor<4xf32>
}
