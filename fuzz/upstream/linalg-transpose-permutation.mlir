
!qx = !quant.uniform<i8<-127:127>:f32, 0.02>
!qw = !quant.uniform<i8<-127:127>:f32:0, {0.01, 0.03}>

// nn.Linear after quantize-weights and fold-scales: [N, K] weight behind a
// transpose, a symmetric activation, a zero-filled init.
// The static scales fold into one vector: sx * sw[c] = 0.02 * {0.01, 0.03}.
func.func @linear(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<[[100, 50, -127], [-64, 127, 0]]> : tensor<2x3xi8>
  %s = quant.scast %c : tensor<2x3xi8> to tensor<2x3x!qw>
  %w = qforge.dequantize %s : tensor<2x3x!qw> to tensor<2x3xf32>
  %et = tensor.empty() : tensor<3x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%et : tensor<3x2xf32>) permutation = [1, .]
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!qx>
  %d = qforge.dequantize %q : tensor<4x3x!qx> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%d, %wt : tensor<4x3xf32>, tensor<ind a
// transpose, a symmetric activation, a zero-filled init.
// The static scales fold into one vector: sx * sw[c] = 0.02 * {0.01, 0.03}.
func.func @linear(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<[[100, 50, -127], [-64, 127, 0]]> : tensor<2x3xi8>
  %s = quant.scast %c : tensor<2x3xi8> to tensor<2x3x!qw>
  %w = qforge.dequantize %s : tensor<2x3x!qw> to tensor<2x3xf32>
  %et = tensor.empty() : tensor<3x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%et : tensor<3x2xf32>) permutation = [1, 0]
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!qx>
  %d = qforge.dequantize %q : tensor<4x3x!qx> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e 3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
