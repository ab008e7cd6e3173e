// A QDQ linear layer with a bias and a torch-mlir style exact GELU.
func.func @bias_gelu(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<[[100, -64], [50, 127], [-127, 0]]> : tensor<3x2xi8>
  %s = quant.scast %c : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f32, 0.1>>
  %w = qforge.dequantize %s : tensor<3x2x!quant.uniform<i8:f32, 0.1>> to tensor<3x2xf32>
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!quant.uniform<i8:f32, 0.02>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f32, 0.02>> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %m = linalg.matmul ins(%d, %w : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  %b = arith.constant dense<[0.5, -0.25]> : tensor<2xf32>
  %biased = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                            iterator_types = ["parallel", "parallel"]}
       ins(%m, %b : tensor<4x2xf32>, tensor<2xf32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %a = arith.addf %v, %bias : f32
    linalg.yield %a : f32
  } -> tensor<4x2xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%biased : tensor<4x2xf32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%v: f32, %o: f32):
    %c0 = arith.constant 0.0 : f32
    %c1 = arith.constant 1.0 : f32
    %c2 = arith.constant 2.0 : f32
    %half = arith.constant 0.5 : f32
    %centered = arith.subf %v, %c0 : f32
    %sqrt2 = math.sqrt %c2 : f32
    %denominator = arith.mulf %c1, %sqrt2 : f32
    %arg = arith.divf %centered, %denominator : f32
    %erf = math.erf %arg : f32
    %onePlus = arith.addf %c1, %erf : f32
    %cdf = arith.mulf %half, %onePlus : f32
    %g = arith.mulf %v, %cdf : f32
    linalg.yield %g : f32
  } -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
