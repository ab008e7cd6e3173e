// linalg.softmax in a model (softmax.test).
func.func @softmax(%x: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %e = tensor.empty() : tensor<1x2x4xf32>
  %p = linalg.softmax dimension(2) ins(%x : tensor<1x2x4xf32>) outs(%e : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  return %p : tensor<1x2x4xf32>
}
