// A linear layer y = relu(x W^T + b) in the three forms qforge moves through.
// `scripts/run-example.sh` checks that qforge-opt parses, verifies and
// round-trips all of them.

!act = !quant.uniform<i8:f32, 0.0235>
!wt = !quant.uniform<i8<-127:127>:f32:0, {0.0102, 0.0087, 0.0120, 0.0099}>

// 1. Float, as a frontend emits it.
func.func @linear_float(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>) -> tensor<2x4xf32> {
  %init = tensor.empty() : tensor<2x4xf32>
  %zero = arith.constant 0.0 : f32
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<2x4xf32>) -> tensor<2x4xf32>
  %mm = linalg.matmul indexing_maps = [
          affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>,
          affine_map<(m, n, k) -> (m, n)>]
        ins(%x, %w : tensor<2x8xf32>, tensor<4x8xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(m, n) -> (m, n)>, affine_map<(m, n) -> (n)>,
                                        affine_map<(m, n) -> (m, n)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%mm, %b : tensor<2x4xf32>, tensor<4xf32>) outs(%init : tensor<2x4xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %s = arith.addf %v, %bias : f32
    %r = arith.maximumf %s, %zero : f32
    linalg.yield %r : f32
  } -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// 2. QDQ form: int8 weights with per-channel scales, the activation
// quantized with its calibrated scale, the matmul still float.
func.func @linear_qdq(%x: tensor<2x8xf32>, %b: tensor<4xf32>) -> tensor<2x8xf32> {
  %wi = arith.constant dense<[[12, -127, 40, 3, 0, 99, -8, 17], [127, 5, -6, 7, 8, -9, 10, 11],
                              [-1, 2, -3, 4, -5, 6, -7, 127], [50, 50, -50, -50, 1, 1, -1, -127]]> : tensor<4x8xi8>
  %wq = quant.scast %wi : tensor<4x8xi8> to tensor<4x8x!wt>
  %w = qforge.dequantize %wq : tensor<4x8x!wt> to tensor<4x8xf32>
  %xq = qforge.quantize %x : tensor<2x8xf32> to tensor<2x8x!act>
  %xd = qforge.dequantize %xq : tensor<2x8x!act> to tensor<2x8xf32>
  return %xd : tensor<2x8xf32>
}

// 3. Fused: one integer matmul whose epilogue applies sx * sw[n], the i32
// bias (b / (sx * sw[n])) and the relu.
func.func @linear_fused(%xq: tensor<2x8xi8>, %w: tensor<4x8xi8>, %sx: tensor<1xf32>,
                        %sw: tensor<4xf32>, %bias: tensor<4xi32>) -> tensor<2x4xf32> {
  %y = qforge.matmul %xq, %w rhs_transposed lhs_scale(%sx : tensor<1xf32>)
       rhs_scale(%sw : tensor<4xf32>) bias(%bias : tensor<4xi32>) activation(relu)
       : tensor<2x8xi8>, tensor<4x8xi8> -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
