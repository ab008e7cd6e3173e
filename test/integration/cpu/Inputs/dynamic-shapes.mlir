// Models whose runtime-trusted sizes are dynamic: qforge-lower-to-runtime
// checks them at run time (shape-checks.test).

// The contraction size K is dynamic on both operands.
func.func @dyn_k(%x: tensor<2x?xi8>, %w: tensor<?x3xi8>) -> tensor<2x3xi32> {
  %y = qforge.matmul %x, %w : tensor<2x?xi8>, tensor<?x3xi8> -> tensor<2x3xi32>
  return %y : tensor<2x3xi32>
}

// A per-axis dequantization over a dynamic channel dimension (2 scales).
func.func @dyn_axis(%q: tensor<?x3x!quant.uniform<i8:f32:0, {0.5, 0.25}>>) -> tensor<?x3xf32> {
  %d = qforge.dequantize %q : tensor<?x3x!quant.uniform<i8:f32:0, {0.5, 0.25}>> to tensor<?x3xf32>
  return %d : tensor<?x3xf32>
}

// A bias of dynamic length against N = 3.
func.func @dyn_bias(%x: tensor<2x4xi8>, %w: tensor<4x3xi8>, %b: tensor<?xf32>) -> tensor<2x3xf32> {
  %y = qforge.matmul %x, %w bias(%b : tensor<?xf32>) : tensor<2x4xi8>, tensor<4x3xi8> -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}
