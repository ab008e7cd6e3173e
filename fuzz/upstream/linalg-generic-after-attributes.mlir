// Three small models compiled yb the integration tests (see run-models.test).

!q = !quant.uniform<i8:f32, 0.1>
!qw = !quant.uniform<i8<-127:127>:f32:0, {0.01, 0.02}>

// Quantize then dequantize: the rounding the runtime applies, observable.
func.func @qdq(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %q = qforge.quantize %x : tensor<2x4xf32> to tensor<2x4x!q>
  %d = qforge.dequantize %q : tensor<2x4x!q> to tensor<2x4xf32>
  return %d : tensor<2x4xf32>
}

// A float MLP: relu(x W1) W2, plain linalg (no qforge op).
func.func @mlp(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
  %w1 = arith.constant dense<[[1.0, -1.0, 0.5, 2.0], [0.0, 1.0, -2.0, 1.0], [1.0, 1.0, 1.0, -1.0]]> : tensor<3x4xf32>
  %w2 = arith.constant dense<[[1.0, 0.0], [0.5, 1.0], [-1.0, 2.0], [0.25, -0.5]]> : tensor<4x2xf32>
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<2x4xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<2x4xf32>) -> tensor<2x4xf32>
  %h = linalg.matmul ins(%x, %w1 : tensor<2x3xf32>, tensor<3x4xf32>) outs(%f1 : tensor<2x4xf32>) -> tensor<2x4xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, 2)>],
                       iterator_types = ["parallel", "parallel"]}
  <[[1.0, 0.0], [0.5, 1.0], [-1.0, 2.0], [0.25, -0.5]]> : tensor<4x2xf32>
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<2x4xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<2x4xf32>) -> tensor<2x4xf32>
  %h = linalg.matmul ins(%x, %w1 : tensor<2x3xf32>, tensor<3x4xf32>) outs(%f1 : tensor<2x4xf32>) -> tensor<2x4xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, 2)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%h : tensor<2x4xf32>) outs(%e1 : tensor<2x4xf32>) {
  ^bb0(%v: f32, %o: f32):
    %m = arith.maximumf %v, %zero : f32
    linalg.yield %m : f32
  } -> tensor<2x4xf32>
  %e2 = tensor.empty() : tensor<2x2xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = linalg.matmul ins(%r, %w2 : tensor<2x4xf32>, tensor<4x2xf32>) outs(%f2 : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// A quantized li     ins(%h : tensor<2x4xf32>) outs(%e1 : tensor<2x4xf32>) {
  ^bb0(%v: f32, %o: f32):
    %m = arith.maximumf %v, %zero : f32
    linalg.yield %m : f32
  } -> tensor<2x4xf32>
  %e2 = tensor.empty() : tensor<2x2xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = linalg.matmul ins(%r, %w2 : tensor<2x4xf32>, tensor<4x2xf32>) outs(%f2 : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// A quantized linear layer written by hand: per-token dynamic activations,
// int8 weight [N=2, K=3] with per-channel scales, f32 bias, relu, one int8
// GEMM with its epilogue. The harness checks it against the float layer.
func.func @qlinear(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[100, 50, -127], [-64, 127, 0]]> : tensor<2x3xi8>
  %sw = arith.constant dense<[0.01, 0.02]> : tensor<2xf32>
  %b = arith.constant dense<[0.5, -0.25]> : tensor<2xf32>
  %q, %sx = qforge.dynamic_quantize per_token %x : tensor<4x3xf32> -> tensor<4x3xi8>, tensor<4xf32>
  %y = qforge.matmul %q, %w rhs_transposed lhs_scale(%sx : tensor<4xf32>)
       rhs_scale(%sw : tensor<2xf32>) bias(%b : tensor<2xf32>) activation(relu)
       : tensor<4x3xi8>, tensor<2x3xi8> -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}