// An int8 GEMM with GELU whose output is quantized per token for the next
// layer, rows of 4104 (> 4096): qforge-fuse-qdq moves the GELU from the
// GEMM's epilogue into the quantization (gemm-gelu-quantize.test).
func.func @up_projection(%a: tensor<4x32xi8>, %w: tensor<4104x32xi8>, %sa: tensor<4xf32>,
                         %sw: tensor<4104xf32>) -> (tensor<4x4104xi8>, tensor<4xf32>) {
  %y = qforge.matmul %a, %w rhs_transposed lhs_scale(%sa : tensor<4xf32>) rhs_scale(%sw : tensor<4104xf32>)
         activation(gelu) : tensor<4x32xi8>, tensor<4104x32xi8> -> tensor<4x4104xf32>
  %q, %s = qforge.dynamic_quantize per_token %y : tensor<4x4104xf32> -> tensor<4x4104xi8>, tensor<4xf32>
  return %q, %s : tensor<4x4104xi8>, tensor<4xf32>
}
