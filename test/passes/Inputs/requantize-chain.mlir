// A model with a requantize chain (and the matmul of fold-scales-model.mlir,
// so that it has a calibration point).
func.func @chain(%x: tensor<2x3xf32>) -> (tensor<2x2xf32>, tensor<4x!quant.uniform<i8:f32, 0.1>>) {
  %w = arith.constant dense<[[1.0, -2.0], [0.5, 4.0], [-1.27, 0.0]]> : tensor<3x2xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x3xf32>, tensor<3x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
  %c = arith.constant dense<[100, -2000, 30000, 7]> : tensor<4xi32>
  %acc = quant.scast %c : tensor<4xi32> to tensor<4x!quant.uniform<i32:f32, 0.001>>
  %a = qforge.requantize %acc : tensor<4x!quant.uniform<i32:f32, 0.001>> to tensor<4x!quant.uniform<i8:f32, 0.05>>
  %b = qforge.requantize %a : tensor<4x!quant.uniform<i8:f32, 0.05>> to tensor<4x!quant.uniform<i8:f32, 0.1>>
  return %y, %b : tensor<2x2xf32>, tensor<4x!quant.uniform<i8:f32, 0.1>>
}
