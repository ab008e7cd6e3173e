// A TOSA model (tosa.matmul with a constant weight), as a TOSA frontend emits it.
func.func @dense(%x: tensor<1x4x8xf32>) -> tensor<1x4x3xf32> {
  %w = "tosa.const"() <{values = dense<[[[0.5, -1.0, 0.25], [1.0, 0.75, -0.5], [-0.25, 0.5, 1.0], [0.1, -0.2, 0.3],
                                         [0.4, 0.6, -0.8], [-1.0, 0.2, 0.9], [0.3, -0.7, 0.5], [0.8, 0.1, -0.6]]]> : tensor<1x8x3xf32>}> : () -> tensor<1x8x3xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x4x8xf32>, tensor<1x8x3xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x3xf32>
  return %y : tensor<1x4x3xf32>
}
