// Attention scores Q K^T in QDQ form (static int8 on both operands).
!qa = !quant.uniform<i8:f32, 0.02>
!qb = !quant.uniform<i8:f32, 0.05>
func.func @attention_scores(%q: tensor<2x4x8xf32>, %k: tensor<2x8x4xf32>) -> tensor<2x4x4xf32> {
  %qq = qforge.quantize %q : tensor<2x4x8xf32> to tensor<2x4x8x!qa>
  %qd = qforge.dequantize %qq : tensor<2x4x8x!qa> to tensor<2x4x8xf32>
  %kq = qforge.quantize %k : tensor<2x8x4xf32> to tensor<2x8x4x!qb>
  %kd = qforge.dequantize %kq : tensor<2x8x4x!qb> to tensor<2x8x4xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  %s = linalg.batch_matmul ins(%qd, %kd : tensor<2x4x8xf32>, tensor<2x8x4xf32>) outs(%f : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  return %s : tensor<2x4x4xf32>
}
